import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  findRedisServer,
  type RedisClusterHandle,
  type RedisServer,
  startRedis,
  startRedisCluster,
} from './redis.js';

const WAIT = { timeout: 10_000, interval: 50 };

/** Port of the node that owns `slot` according to a cluster client's slot cache. */
function ownerPort(slots: string[][], slot: number): number {
  const owner = slots[slot]?.[0];
  if (!owner) throw new Error(`slot ${slot} has no owner in the client's slot cache`);
  return Number(owner.split(':').pop());
}

describe('findRedisServer', () => {
  it('finds a redis-server binary', () => {
    expect(findRedisServer()).toMatch(/redis-server$/);
  });
});

describe('startRedis (standalone)', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('starts on a free localhost port and serves SET/GET', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    expect(server.port).not.toBe(6379);
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const client = server.client();
    await client.set('otp:+15550001', '123456', 'EX', 60);
    expect(await client.get('otp:+15550001')).toBe('123456');
    client.disconnect(); // (the next test kills the server)
  });

  it('kill makes commands fail; restart on the same port serves new and old clients with no data', async () => {
    // The old client reconnects by itself (quick retry) and rejects commands while disconnected.
    const old = server.client({
      retryStrategy: () => 100,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    old.on('error', () => {}); // connection errors are expected while the server is down
    await vi.waitFor(() => expect(old.status).toBe('ready'), WAIT);
    await old.set('before-kill', '1');
    expect(await old.get('before-kill')).toBe('1');
    const port = server.port;

    await server.kill();
    await vi.waitFor(() => expect(old.status).not.toBe('ready'), WAIT);
    await expect(old.ping()).rejects.toThrow();
    const probe = server.client({ lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    await expect(probe.connect()).rejects.toThrow();

    await server.restart();
    expect(server.port).toBe(port);

    const fresh = server.client();
    expect(await fresh.ping()).toBe('PONG');
    expect(await fresh.get('before-kill')).toBeNull();
    await fresh.set('after-restart', 'yes');

    await vi.waitFor(async () => expect(await old.ping()).toBe('PONG'), WAIT);
    expect(await old.get('after-restart')).toBe('yes');
  });
});

describe('startRedisCluster (3 masters)', () => {
  let cluster: RedisClusterHandle;

  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('has 3 masters and exposes them as startup nodes', () => {
    expect(cluster.nodes).toHaveLength(3);
    expect(cluster.nodes.every((n) => n.role === 'master')).toBe(true);
    expect(cluster.startupNodes.map((n) => n.port)).toEqual(cluster.nodes.map((n) => n.port));
  });

  it('routes keys with different hash tags to different nodes', async () => {
    const client = cluster.client();
    const tags = Array.from({ length: 24 }, (_, i) => `user:${i}`);
    const owners = new Map<number, string>();
    for (const tag of tags) {
      const key = `{${tag}}:otp`;
      await client.set(key, tag);
      const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
      const port = ownerPort(client.slots, slot);
      if (!owners.has(port)) owners.set(port, key);
    }
    expect(new Set(owners.keys())).toEqual(new Set(cluster.nodes.map((n) => n.port)));

    // The key is really stored on the owning node, and other nodes redirect.
    for (const [port, key] of owners) {
      const direct = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
      try {
        expect(await direct.get(key)).toBe(key.slice(1, key.indexOf('}')));
      } finally {
        direct.disconnect();
      }
      const otherPort = cluster.nodes.find((n) => n.port !== port)!.port;
      const other = new Redis({ host: '127.0.0.1', port: otherPort, maxRetriesPerRequest: 1 });
      try {
        await expect(other.get(key)).rejects.toThrow(/MOVED/);
      } finally {
        other.disconnect();
      }
    }
  });

  it('runs EVAL of a single-key script through the Cluster client', async () => {
    const client = cluster.client();
    const script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[1])";
    expect(await client.eval(script, 1, '{+15550002}:attempts', '41')).toBe(42);
    expect(await client.get('{+15550002}:attempts')).toBe('42');
  });
});

describe('startRedisCluster (3 masters + 3 replicas)', () => {
  let cluster: RedisClusterHandle;

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('keeps a key readable after failover()', async () => {
    expect(cluster.nodes.filter((n) => n.role === 'master')).toHaveLength(3);
    expect(cluster.nodes.filter((n) => n.role === 'replica')).toHaveLength(3);

    const client = cluster.client();
    const key = '{+15550003}:otp';
    await client.set(key, '654321');
    const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
    const masterPort = ownerPort(client.slots, slot);

    await cluster.failover(masterPort);

    expect(cluster.nodes.find((n) => n.port === masterPort)?.role).toBe('replica');
    expect(cluster.nodes.filter((n) => n.role === 'master')).toHaveLength(3);
    // The existing client follows the MOVED redirection; a fresh client sees the new topology.
    expect(await client.get(key)).toBe('654321');
    const fresh = cluster.client();
    expect(await fresh.get(key)).toBe('654321');
    expect(ownerPort(fresh.slots, slot)).not.toBe(masterPort);
  });
});
