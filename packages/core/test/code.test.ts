import { createHmac, createSecretKey } from 'node:crypto';
import { generateCode, hashCode } from '@sms-otp/core';
import { describe, expect, it } from 'vitest';

describe('codes', () => {
  it.each([4, 6, 8, 10])('makes %i-digit codes, leading zeros included', (length) => {
    const codes = Array.from({ length: 2000 }, () => generateCode(length));
    for (const code of codes) expect(code).toMatch(new RegExp(`^[0-9]{${length}}$`));
    expect(codes.some((code) => code.startsWith('0'))).toBe(true);
    // Distinct codes expected from 2000 uniform draws out of 10^length: 10^length * (1 - e^(-2000 / 10^length)).
    const space = 10 ** length;
    expect(new Set(codes).size).toBeGreaterThan(0.97 * space * (1 - Math.exp(-2000 / space)));
  });

  it('spreads digits evenly (each first digit within 30% of its share over 20 000 codes)', () => {
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 20_000; i++) counts[Number(generateCode(6)[0])] += 1;
    for (const count of counts) expect(Math.abs(count - 2000)).toBeLessThan(600);
  });

  it('hashes bind the code to purpose, phone and key', () => {
    const key = createSecretKey(Buffer.alloc(32, 1));
    const other = createSecretKey(Buffer.alloc(32, 2));
    const h = hashCode(key, 'login', '+8613800138000', '123456');
    expect(h).toMatch(/^[\w-]{16}$/);
    expect(h).not.toContain('123456');
    expect(hashCode(key, 'login', '+8613800138000', '123456')).toBe(h);
    expect(hashCode(key, 'reset-password', '+8613800138000', '123456')).not.toBe(h);
    expect(hashCode(key, 'login', '+8613800138001', '123456')).not.toBe(h);
    expect(hashCode(key, 'login', '+8613800138000', '123457')).not.toBe(h);
    expect(hashCode(other, 'login', '+8613800138000', '123456')).not.toBe(h);
  });

  it('is HMAC-SHA-256 of purpose, phone, code and binding, truncated to 96 bits (stored values stay valid across versions)', () => {
    const key = createSecretKey(Buffer.alloc(32, 1));
    const expected = (message: string) =>
      createHmac('sha256', Buffer.alloc(32, 1))
        .update(message)
        .digest()
        .subarray(0, 12)
        .toString('base64url');
    expect(hashCode(key, 'login', '+8613800138000', '123456')).toBe(
      expected('login\u0000+8613800138000\u0000123456\u0000'),
    );
    expect(hashCode(key, 'login', '+8613800138000', '123456', 'req-1')).toBe(
      expected('login\u0000+8613800138000\u0000123456\u0000req-1'),
    );
  });
});

describe('SmsOtpError', () => {
  it('keeps no stack for answers to clients (4xx), and keeps it for 5xx', async () => {
    const { SmsOtpError } = await import('@sms-otp/core');
    const before = Error.stackTraceLimit;
    expect(new SmsOtpError('CODE_INVALID').stack).not.toMatch(/\n\s+at /);
    expect(new SmsOtpError('STORE_UNAVAILABLE').stack).toMatch(/\n\s+at /);
    expect(Error.stackTraceLimit).toBe(before);
  });
});

describe('PhoneParser cache', () => {
  it('keeps the most recently used numbers and answers them like fresh ones', async () => {
    const { PhoneParser } = await import('@sms-otp/core');
    const parser = new PhoneParser('CN');
    const first = parser.parse({ phone: '13800138000' });
    for (let i = 0; i < 10_050; i++) {
      parser.parse({ phone: `+86139${String(10_000_000 + i)}` });
      if (i % 100 === 0) expect(parser.parse({ phone: '13800138000' })).toBe(first);
    }
    expect(parser.parse({ phone: '13800138000' })).toBe(first);
    expect(parser.parse({ phone: '+8613910000000' })).toEqual({ e164: '+8613910000000', country: 'CN' });
  });

  it('is bounded: a number unused for 20 000 others is read again (same answer, new object)', async () => {
    const { PhoneParser } = await import('@sms-otp/core');
    const parser = new PhoneParser('CN');
    const first = parser.parse({ phone: '13800138000' });
    for (let i = 0; i < 20_000; i++) parser.parse({ phone: `+86139${String(10_000_000 + i)}` });
    const again = parser.parse({ phone: '13800138000' });
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    // The same text read with a country is another entry, not the cached one.
    expect(() => parser.parse({ phone: '13800138000', country: 'XX' })).toThrow(/valid phone/);
  });

  it('a number read with a country and a text spelling its cache key are different numbers', async () => {
    const { PhoneParser } = await import('@sms-otp/core');
    const parser = new PhoneParser('CN');
    expect(parser.parse({ phone: '012345678', country: 'KH' })).toEqual({
      e164: '+85512345678',
      country: 'KH',
    });
    // Its key is "KH", NUL, the number: as a phone of its own that text is not a number at all.
    expect(() => parser.parse({ phone: 'KH\u0000012345678' })).toThrow(/valid phone/);
    expect(() => parser.parse({ phone: '+8613800138000\u0000' })).toThrow(/valid phone/);
  });
});
