import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryStore, SmsOtpError } from '@sms-otp/core';
import { describe, expect, it } from 'vitest';

const limits = { hourLimit: 5, dayLimit: 10, failLimit: 20, hardFailLimit: 100, failWindowMs: 86_400_000 };
const issue = (store: MemoryStore, phone: string, now: number) =>
  store.issue({
    phone,
    purpose: 'login',
    now,
    secret: 'h:x',
    binding: '',
    captchaPastLimits: true,
    ttlMs: 1000,
    cooldownsMs: [1000],
    captchaSolved: false,
    ...limits,
  });

describe('MemoryStore', () => {
  it('refuses new records when full, after sweeping expired ones first', async () => {
    const store = new MemoryStore({ maxEntries: 3 });
    const t0 = Date.UTC(2026, 0, 1);
    for (const phone of ['+1', '+2', '+3']) await issue(store, phone, t0);
    expect(store.size).toBe(3);
    const full = await issue(store, '+4', t0).catch((error: unknown) => error);
    expect(full).toBeInstanceOf(SmsOtpError);
    expect((full as SmsOtpError).code).toBe('STORE_UNAVAILABLE');
    // A day later every record has expired: the next write sweeps them and succeeds.
    expect(await issue(store, '+4', t0 + 86_400_001)).toMatchObject({ ok: true });
    expect(store.size).toBe(1);
    await store.close();
  });

  it('times token records and captchas from the time of the call, not from the last send', async () => {
    const store = new MemoryStore();
    const t0 = Date.UTC(2026, 0, 1);
    await issue(store, '+1', t0);
    // Nothing ran for an hour; a token is released with 100 s of life left, a captcha made for 120 s.
    const t1 = t0 + 3_600_000;
    await store.releaseToken({ phone: '+1', jti: 'j', ttlMs: 100_000, now: t1 });
    await store.putCaptcha({ key: 'k', answer: 'h.1', ttlMs: 120_000, now: t1 });
    await issue(store, '+2', t1 + 60_000);
    expect(await store.useToken({ phone: '+1', jti: 'j', consume: false, now: t1 + 60_000 })).toBe(true);
    expect(await store.takeCaptcha({ key: 'k', now: t1 + 60_000 })).toBe('h.1');
    expect(await store.useToken({ phone: '+1', jti: 'j', consume: false, now: t1 + 100_000 })).toBe(false);
    await store.close();
  });

  it('rejects a bad maxEntries', () => {
    expect(() => new MemoryStore({ maxEntries: 0 })).toThrow(/maxEntries/);
  });

  it('never keeps a process alive (its sweep timer is unref-ed)', () => {
    const entry = fileURLToPath(new URL('../src/stores/memory-store.ts', import.meta.url));
    const script = `import { MemoryStore } from ${JSON.stringify(entry)}; new MemoryStore({ sweepIntervalMs: 1000 }); console.log('made');`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.stdout).toContain('made');
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
  });
});
