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
    distinctSecret: false,
    captchaPastLimits: true,
    ttlMs: 1000,
    cooldownsMs: [1000],
    captchaSolved: false,
    ...limits,
  });

describe('MemoryStore', () => {
  it('refuses a new phone when its kind is full, until expired records make room', async () => {
    const store = new MemoryStore({ quotas: { phones: 3 } });
    const t0 = Date.UTC(2026, 0, 1);
    for (const phone of ['+1', '+2', '+3']) await issue(store, phone, t0);
    expect(store.sizeOf('phones')).toBe(3);
    const full = await issue(store, '+4', t0).catch((error: unknown) => error);
    expect(full).toBeInstanceOf(SmsOtpError);
    expect((full as SmsOtpError).code).toBe('STORE_UNAVAILABLE');
    expect((full as SmsOtpError).details).toMatchObject({ reason: 'memory_store_full', kind: 'phones' });
    // A day later every record has expired: the next write drops them as it goes and succeeds.
    expect(await issue(store, '+4', t0 + 86_400_001)).toMatchObject({ ok: true });
    expect(await issue(store, '+5', t0 + 86_400_001)).toMatchObject({ ok: true });
    await store.close();
  });

  it('a flood of unknown user ids or captchas takes no room from real phones, tokens or windows', async () => {
    const store = new MemoryStore({ quotas: { phones: 2, standIns: 3, captchas: 3 } });
    const t0 = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 50; i += 1) {
      expect(await issue(store, `u:stand-in-${i}`, t0)).toMatchObject({ ok: true });
      await store.putCaptcha({ key: `k${i}`, answer: 'a', ttlMs: 120_000, now: t0 });
    }
    expect([store.sizeOf('standIns'), store.sizeOf('captchas')]).toEqual([3, 3]);
    // The newest captcha is still there; the oldest gave way.
    expect(await store.takeCaptcha({ key: 'k49', now: t0 })).toBe('a');
    expect(await store.takeCaptcha({ key: 'k0', now: t0 })).toBeUndefined();
    expect(await issue(store, '+1', t0)).toMatchObject({ ok: true });
    expect(await issue(store, '+2', t0)).toMatchObject({ ok: true });
    await store.close();
  });

  it('with no room for a token, a right verify is refused before the code is used up; the guard still works', async () => {
    const store = new MemoryStore({ quotas: { tokens: 1 } });
    const t0 = Date.UTC(2026, 0, 1);
    const verify = (phone: string, jti: string) =>
      store.verify({
        phone,
        purpose: 'login',
        now: t0,
        candidate: 'h:x',
        binding: '',
        maxAttempts: 5,
        captchaSolved: false,
        token: { jti, ttlMs: 600_000 },
        ...limits,
      });
    await issue(store, '+1', t0);
    await issue(store, '+2', t0);
    expect(await verify('+1', 'j1')).toEqual({ status: 'ok' });
    const full = await verify('+2', 'j2').catch((error: unknown) => error);
    expect((full as SmsOtpError).code).toBe('STORE_UNAVAILABLE');
    // The guard takes the first token (and frees its room); the second code was not used up.
    expect(await store.useToken({ phone: '+1', jti: 'j1', consume: true, now: t0 })).toBe(true);
    expect(await verify('+2', 'j2')).toEqual({ status: 'ok' });
    await store.close();
  });

  it('rejects bad quotas', () => {
    expect(() => new MemoryStore({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new MemoryStore({ quotas: { phones: 0 } })).toThrow(/quotas.phones/);
    expect(() => new MemoryStore({ quotas: { codes: 5 } as never })).toThrow(/not a kind of record/);
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
