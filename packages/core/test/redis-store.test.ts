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
  ttlMs: 300_000,
  cooldownsMs: [60_000],
  hourLimit: 5,
  dayLimit: 10,
  failLimit: 10,
  failWindowMs: 3_600_000,
  captchaSolved: false,
});

describe('RedisStore write coalescing', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function readyClient(): Promise<Redis> {
    const client = server.client();
    await client.ping();
    return client;
  }

  it('sends the commands of one event-loop turn together, at most 16 per write, each answered', async () => {
    const client = await readyClient();
    try {
      const store = new RedisStore({ client, prefix: 'co1:' });
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
      const again = await Promise.all(phones.map((phone) => store.issue(issueInput(phone))));
      expect(again.map((r) => (r.ok ? 'ok' : r.reason))).toEqual(phones.map(() => 'cooldown'));
    } finally {
      client.disconnect();
    }
  });

  it('a command alone in its turn goes out at the end of that turn', async () => {
    const client = await readyClient();
    try {
      const store = new RedisStore({ client, prefix: 'co2:' });
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
});
