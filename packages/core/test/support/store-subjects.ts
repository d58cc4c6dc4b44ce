import { MemoryStore, type OtpStore, RedisStore } from '@sms-otp/core';
import type { StoreSubject } from '@sms-otp/core/testing';
import { Redis } from 'ioredis';
import {
  type RedisClusterHandle,
  type RedisServer,
  startRedis,
  startRedisCluster,
} from '../../../../test/support/redis.js';

/**
 * Lets `ms` pass for the keys under `prefix` on one Redis node: every TTL is shortened by `ms`, and a key
 * whose TTL runs out is deleted, as Redis would have done had that time passed (the engine's clock jumps in
 * the suites; Redis's own does not).
 */
async function elapseOn(client: Redis, prefix: string, ms: number): Promise<void> {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length === 0) return;
  const ttls = (await client.pipeline(keys.map((key) => ['pttl', key])).exec()) ?? [];
  const moves = client.pipeline();
  keys.forEach((key, i) => {
    const ttl = Number(ttls[i]?.[1]);
    if (ttl < 0) return;
    if (ttl <= ms) moves.del(key);
    else moves.pexpire(key, ttl - ms);
  });
  await moves.exec();
}

/** Stores made by one subject, with the prefix each was given. */
const prefixes = new WeakMap<OtpStore, string>();
let serial = 0;

export const memorySubject: StoreSubject = {
  name: 'MemoryStore',
  create: () => new MemoryStore(),
  dispose: async (store) => store.close?.(),
};

/** RedisStore on one redis-server started by `setup`; each store gets a key prefix of its own. */
export function redisSubject(): StoreSubject & { setup(): Promise<void>; teardown(): Promise<void> } {
  let server: RedisServer;
  let client: Redis;
  return {
    name: 'RedisStore',
    async setup() {
      server = await startRedis();
      client = server.client();
    },
    async teardown() {
      await server?.stop();
    },
    create() {
      serial += 1;
      const prefix = `t${serial}:`;
      const store = new RedisStore({ client, prefix });
      prefixes.set(store, prefix);
      return store;
    },
    elapse: (store, ms) => elapseOn(client, prefixes.get(store)!, ms),
  };
}

/** RedisStore on a 3-master Redis Cluster started by `setup`. */
export function clusterSubject(): StoreSubject & { setup(): Promise<void>; teardown(): Promise<void> } {
  let cluster: RedisClusterHandle;
  let nodes: Redis[] = [];
  let client: ReturnType<RedisClusterHandle['client']>;
  return {
    name: 'RedisStore on Redis Cluster',
    async setup() {
      cluster = await startRedisCluster({ masters: 3 });
      client = cluster.client();
      nodes = cluster.startupNodes.map((node) => new Redis(node.port, node.host));
    },
    async teardown() {
      for (const node of nodes) node.disconnect();
      await cluster?.stop();
    },
    create() {
      serial += 1;
      const prefix = `t${serial}:`;
      const store = new RedisStore({ client, prefix });
      prefixes.set(store, prefix);
      return store;
    },
    async elapse(store, ms) {
      for (const node of nodes) await elapseOn(node, prefixes.get(store)!, ms);
    },
  };
}
