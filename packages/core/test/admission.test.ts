import { describe, expect, it } from 'vitest';
import { ipWindowKey } from '../src/admission.js';

describe('ipWindowKey', () => {
  it.each([
    ['203.0.113.9', 56, '203.0.113.9'],
    ['::ffff:203.0.113.9', 56, '203.0.113.9'],
    ['::ffff:cb00:7109', 56, '203.0.113.9'],
    ['2001:db8:1:2:3:4:5:6', 56, '2001:db8:1::/56'],
    ['2001:DB8:1:2ff:ffff::1', 56, '2001:db8:1:200::/56'],
    ['2001:db8:1:2:3:4:5:6', 64, '2001:db8:1:2::/64'],
    ['2001:db8:1:2:3:4:5:6', 128, '2001:db8:1:2:3:4:5:6/128'],
    ['fe80::1%eth0', 64, 'fe80::/64'],
    ['2001:db8::1.2.3.4', 120, '2001:db8::102:300/120'],
    ['unknown', 56, 'unknown'],
    ['', 56, ''],
  ])('%s /%i → %s', (ip, subnet, key) => {
    expect(ipWindowKey(ip, subnet)).toBe(key);
  });
});
