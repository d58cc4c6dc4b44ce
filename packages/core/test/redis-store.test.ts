import type { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type IssueInput, RedisStore } from '@sms-otp/core';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RedisClusterHandle,
  type RedisServer,
  startRedis,
  startRedisCluster,
} from '../../../test/support/redis.js';

/** The socket writes a client makes: one entry per system-call-level write, with how many commands it held. */
function watchWrites(client: Redis): { writes: number[]; socket: Socket } {
  const socket = (client as unknown as { stream: Socket }).stream;
  return { writes: watchSocket(socket), socket };
}

function watchSocket(socket: Socket): number[] {
  const writes: number[] = [];
  const raw = socket as unknown as {
    _write: (...args: unknown[]) => void;
    _writev: (chunks: unknown[], ...rest: unknown[]) => void;
  };
  const write = raw._write.bind(socket);
  const writev = raw._writev.bind(socket);
  raw._write = (...args) => {
    writes.push(1);
    write(...args);
  };
  raw._writev = (chunks, ...rest) => {
    writes.push(chunks.length);
    writev(chunks, ...rest);
  };
  return writes;
}

const issueInput = (phone: string): IssueInput => ({
  phone,
  purpose: 'login',
  now: 1_000,
  secret: `secret-${phone}`,
  distinctSecret: true,
  ttlMs: 300_000,
  cooldownsMs: [60_000],
  hourLimit: 5,
  dayLimit: 10,
  failLimit: 10,
  hardFailLimit: 10,
  failWindowMs: 3_600_000,
  binding: '',
  captchaPastLimits: false,
  captchaSolved: false,
});

/** A redis-server of its own for one describe block (started before its tests, stopped after). */
function redisServer(): { client(): Redis } {
  let started: RedisServer | undefined;
  beforeAll(async () => {
    started = await startRedis();
  });
  afterAll(async () => {
    await started?.stop();
  });
  return { client: () => started!.client() };
}

describe('RedisStore key lifetimes', () => {
  const server = redisServer();

  it("keeps a phone's hash while its hour window runs, also past the end of its day window", async () => {
    const client = server.client();
    const store = new RedisStore({ client, prefix: 'life:' });
    const phone = '+8613800138777';
    const t0 = Date.UTC(2026, 0, 1);
    expect(await store.issue({ ...issueInput(phone), now: t0 })).toMatchObject({ ok: true });
    // 100 s before the day window ends a new hour window starts: its count must outlive the day window.
    // (Redis's clock did not move with the engine's: the key is given the 100 s it would have left.)
    await client.pexpire(`life:{${phone}}`, 100_000);
    const late = t0 + 86_400_000 - 100_000;
    expect(await store.issue({ ...issueInput(phone), now: late, secret: 'second' })).toMatchObject({
      ok: true,
    });
    expect(await client.pttl(`life:{${phone}}`)).toBeGreaterThan(3_600_000 - 5_000);
    client.disconnect();
  });
});

describe('RedisStore scripts run twice (ioredis re-sends a command whose reply a dropped connection lost)', () => {
  const server = redisServer();

  it('an issue run again answers as the first run did and counts nothing twice', async () => {
    const client = server.client();
    const store = new RedisStore({ client, prefix: 'twice1:' });
    const phone = '+8613800138801';
    const input = { ...issueInput(phone), hourLimit: 2 };
    const first = await store.issue(input);
    expect(first).toMatchObject({ ok: true, cooldownMs: 60_000 });
    expect(await store.issue(input)).toEqual(first);
    // The hour holds two sends: the one above (once) and the next.
    expect(await store.issue({ ...input, now: 62_000, secret: 'b' })).toMatchObject({ ok: true });
    expect(await store.issue({ ...input, now: 123_000, secret: 'c' })).toMatchObject({
      ok: false,
      reason: 'phone_hour',
    });
    client.disconnect();
  });

  it('an admitted issue run again admits nothing twice', async () => {
    const client = server.client();
    const store = new RedisStore({ client, prefix: 'twice2:' });
    const admission = (now: number) => ({
      now,
      buckets: [{ id: 'ip:203.0.113.50', limit: 2, windowMs: 3_600_000 }],
      breakers: [],
      captchaSolved: false,
    });
    const input = issueInput('+8613800138802');
    const first = await store.admitAndIssue(admission(1_000), input);
    expect([first.admit.ok, first.issue?.ok]).toEqual([true, true]);
    const again = await store.admitAndIssue(admission(1_000), input);
    expect([again.admit.ok, again.issue]).toEqual([true, first.issue]);
    const other = await store.admitAndIssue(admission(1_000), issueInput('+8613800138803'));
    expect(other.issue?.ok).toBe(true);
    const full = await store.admitAndIssue(admission(1_000), issueInput('+8613800138804'));
    expect(full.admit).toMatchObject({ ok: false, reason: 'limit' });
    client.disconnect();
  });

  it('a settle run again answers ok again; any other settle finds the code used', async () => {
    const client = server.client() as Redis & { smsOtpSettle(...args: unknown[]): Promise<string> };
    const store = new RedisStore({ client, prefix: 'twice4:' });
    const phone = '+8613800138806';
    await store.issue({ ...issueInput(phone), secret: 'r:msg-1' });
    const keys = [2, 'twice4:{+8613800138806}', 'twice4:{+8613800138806}:t:j'];
    const call = [...keys, 'login', 1_000, 'r:msg-1', '1', 'call-1', 600_000];
    expect(await client.smsOtpSettle(...call)).toBe('ok');
    expect(await client.smsOtpSettle(...call)).toBe('ok');
    expect(await client.smsOtpSettle(...[...keys, 'login', 1_000, 'r:msg-1', '1', 'call-2', 600_000])).toBe(
      'expired',
    );
    const token = { jti: 'j2', ttlMs: 600_000 };
    expect(
      await store.settle({ phone, purpose: 'login', now: 1_000, ref: 'r:msg-1', ok: true, token }),
    ).toEqual({
      status: 'expired',
    });
    client.disconnect();
  });

  it('a right verify run again answers ok again; any other verify finds the code used', async () => {
    const client = server.client() as Redis & { smsOtpVerify(...args: unknown[]): Promise<unknown[]> };
    const store = new RedisStore({ client, prefix: 'twice3:' });
    const phone = '+8613800138805';
    await store.issue({ ...issueInput(phone), secret: 'right' });
    const keys = [2, 'twice3:{+8613800138805}', 'twice3:{+8613800138805}:t:j'];
    const args = ['login', 1_000, 'right', 5, 10, 3_600_000, 'v', 'call-1', '', 10, '0', 600_000];
    expect(await client.smsOtpVerify(...keys, ...args)).toEqual(['ok']);
    expect(await client.smsOtpVerify(...keys, ...args)).toEqual(['ok']);
    const verify = { phone, purpose: 'login', now: 1_000, candidate: 'right', maxAttempts: 5, failLimit: 10 };
    const rest = { hardFailLimit: 10, binding: '', captchaSolved: false, token: { jti: 'j2', ttlMs: 1000 } };
    expect(await store.verify({ ...verify, ...rest, failWindowMs: 3_600_000 })).toEqual({
      status: 'expired',
    });
    client.disconnect();
  });
});

describe('RedisStore options', () => {
  it.each(['app{}:', '{}', 'tenant{a}:'])(
    "refuses the prefix %s (it would replace the keys' hash tags)",
    (prefix) => {
      const client = { defineCommand: () => {} } as unknown as Redis;
      expect(() => new RedisStore({ client, prefix })).toThrow(/prefix/);
    },
  );
});

describe('RedisStore reads maxmemory-policy once', () => {
  const server = redisServer();

  it('warns once when Redis may evict keys, naming the policy and the fix', async () => {
    const admin = server.client();
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const warnings: string[] = [];
    const client = server.client();
    const store = new RedisStore({ client, prefix: 'evict:', logger: { warn: (m) => warnings.push(m) } });
    expect(await store.evictionPolicy()).toBe('allkeys-lru');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/allkeys-lru.*noeviction/);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    client.disconnect();
    admin.disconnect();
  });

  it('says nothing when the policy is noeviction', async () => {
    const warnings: string[] = [];
    const client = server.client();
    await client.ping();
    const store = new RedisStore({ client, prefix: 'keep:', logger: { warn: (m) => warnings.push(m) } });
    expect(await store.evictionPolicy()).toBe('noeviction');
    expect(warnings).toEqual([]);
    client.disconnect();
  });
});

describe('RedisStore write coalescing', () => {
  const server = redisServer();

  async function readyClient(): Promise<Redis> {
    const client = server.client();
    await client.ping();
    return client;
  }

  it('sends the commands of one event-loop turn together, at most 16 per write, each answered', async () => {
    const client = await readyClient();
    try {
      const store = new RedisStore({ client, prefix: 'co1:' });
      await store.evictionPolicy();
      const { writes, socket } = watchWrites(client);
      const phones = Array.from({ length: 40 }, (_, i) => `+86138000${String(i).padStart(5, '0')}`);
      const pending = phones.map((phone) => store.issue(issueInput(phone)));
      // Held until the end of the turn (the first 32 went in two full batches already).
      expect(socket.writableCorked).toBe(1);
      const results = await Promise.all(pending);
      expect(results.every((r) => r.ok)).toBe(true);
      expect(writes).toEqual([16, 16, 8]);
      expect(socket.writableCorked).toBe(0);
      // Each phone got its own record, in the order written: a second issue meets each one's cooldown.
      const again = await Promise.all(
        phones.map((phone) => store.issue({ ...issueInput(phone), secret: 'another' })),
      );
      expect(again.map((r) => (r.ok ? 'ok' : r.reason))).toEqual(phones.map(() => 'cooldown'));
    } finally {
      client.disconnect();
    }
  });

  it('a command alone in its turn goes out at the end of that turn', async () => {
    const client = await readyClient();
    try {
      const store = new RedisStore({ client, prefix: 'co2:' });
      await store.evictionPolicy();
      const { writes, socket } = watchWrites(client);
      const result = store.issue(issueInput('+8613800138000'));
      expect(writes).toEqual([]);
      await nextTurn();
      expect(writes).toEqual([1]);
      expect(socket.writableCorked).toBe(0);
      expect((await result).ok).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('a client disconnected in the same turn still settles every held command, and what succeeded is stored', async () => {
    const client = await readyClient();
    const admin = await readyClient();
    try {
      const store = new RedisStore({ client, prefix: 'co4:' });
      const phones = ['+8613800138004', '+8613800138005'];
      const pending = phones.map((phone) => store.issue(issueInput(phone)));
      client.disconnect();
      // Disconnecting ends the socket, which sends what was held first: both are answered.
      const settled = await Promise.allSettled(pending);
      expect(settled.map((s) => s.status === 'fulfilled' && s.value.ok)).toEqual([true, true]);
      for (const phone of phones) expect(await admin.exists(`co4:{${phone}}`)).toBe(1);
    } finally {
      admin.disconnect();
    }
  });

  it('coalesceWrites: false writes each command at once', async () => {
    const client = await readyClient();
    try {
      const store = new RedisStore({ client, prefix: 'co3:', coalesceWrites: false });
      const { writes, socket } = watchWrites(client);
      const pending = ['+8613800138001', '+8613800138002', '+8613800138003'].map((phone) =>
        store.issue(issueInput(phone)),
      );
      expect(socket.writableCorked).toBe(0);
      expect(writes).toEqual([1, 1, 1]);
      expect((await Promise.all(pending)).every((r) => r.ok)).toBe(true);
    } finally {
      client.disconnect();
    }
  });
});

describe('RedisStore write coalescing on Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("holds every master's connection for the turn: at most 16 commands per write, each answered", async () => {
    const client = cluster.client() as Cluster;
    const store = new RedisStore({ client, prefix: 'cc:' });
    const phones = (from: number) =>
      Array.from({ length: 40 }, (_, i) => `+86139000${String(from + i).padStart(5, '0')}`);
    // Warm-up: every master's connection is made and ready (ioredis connects to a node on first use).
    expect((await Promise.all(phones(0).map((p) => store.issue(issueInput(p))))).every((r) => r.ok)).toBe(
      true,
    );
    await store.evictionPolicy();
    const masters = client.nodes('master');
    expect(masters.every((node) => node.status === 'ready')).toBe(true);
    const sockets = masters.map((node) => (node as unknown as { stream: Socket }).stream);
    const writes = sockets.map(watchSocket);
    const pending = phones(100).map((phone) => store.issue(issueInput(phone)));
    expect(sockets.map((socket) => socket.writableCorked)).toEqual([1, 1, 1]);
    const results = await Promise.all(pending);
    expect(results.every((r) => r.ok)).toBe(true);
    const all = writes.flat();
    expect(all.reduce((sum, n) => sum + n, 0)).toBe(40);
    expect(Math.max(...all)).toBeLessThanOrEqual(16);
    // Three flushes (16, 16, 8 commands) over three masters: at most 9 writes instead of 40.
    expect(all.length).toBeLessThanOrEqual(9);
    expect(sockets.map((socket) => socket.writableCorked)).toEqual([0, 0, 0]);
  });

  it('releases the shared windows when the issue step fails (they run in turn on a Cluster)', async () => {
    const client = cluster.client() as Cluster;
    const store = new RedisStore({ client, prefix: 'cr:' });
    const phone = '+8613900012345';
    const admission = {
      now: 1_000,
      buckets: [{ id: 'ip:198.51.100.7', limit: 1, windowMs: 3_600_000 }],
      breakers: [],
      captchaSolved: false,
    };
    // Something else's string where the phone's hash goes: the issue step fails with WRONGTYPE.
    await client.set(`cr:{${phone}}`, 'not a hash');
    await expect(store.admitAndIssue(admission, issueInput(phone))).rejects.toThrow(/WRONGTYPE/);
    await client.del(`cr:{${phone}}`);
    // The one send the IP window allows was not used up by the failed one.
    const next = await store.admitAndIssue(admission, issueInput(phone));
    expect([next.admit.ok, next.issue?.ok]).toEqual([true, true]);
  });
});
