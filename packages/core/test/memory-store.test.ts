import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryStore, SmsOtpError } from '@sms-otp/core';
import { describe, expect, it } from 'vitest';

const limits = { hourLimit: 5, dayLimit: 10, failLimit: 20, failWindowMs: 86_400_000 };
const issue = (store: MemoryStore, phone: string, now: number) =>
  store.issue({
    phone,
    purpose: 'login',
    now,
    secret: 'h:x',
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
