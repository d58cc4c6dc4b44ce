import { MemoryStore, type OtpStore, RedisStore } from '@sms-otp/core';
import type { Cluster, Redis } from 'ioredis';
import {
  type RedisClusterHandle,
  type RedisServer,
  startRedis,
  startRedisCluster,
} from '../../../../test/support/redis.js';

/**
 * One kind of store, as the shared suites see it: `instance()` gives the store of a new app instance
 * (a new client for Redis; the same object for memory, which is one process by nature).
 */
export interface StoreKit {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  instance(): OtpStore;
  /** Every key and value the store holds, as text (Redis only). */
  dump?(): Promise<string[]>;
  /** The raw server handle, for outage tests (standalone Redis only). */
  server?(): RedisServer;
  /** Loses every key the store holds (`FLUSHALL` on each master), as a restart without persistence would (Redis only). */
  flush?(): Promise<void>;
}

export function memoryKit(): StoreKit {
  let store: MemoryStore | undefined;
  return {
    name: 'MemoryStore',
    async setup() {},
    async teardown() {
      await store?.close();
    },
    instance() {
      store ??= new MemoryStore();
      return store;
    },
  };
}

async function dumpAll(client: Redis): Promise<string[]> {
  const out: string[] = [];
  for (const key of await client.keys('*')) {
    out.push(key);
    const type = await client.type(key);
    if (type === 'hash') out.push(...Object.entries(await client.hgetall(key)).flat());
    else if (type === 'string') out.push((await client.get(key)) ?? '');
  }
  return out;
}

export function redisKit(): StoreKit {
  let server: RedisServer;
  let admin: Redis;
  return {
    name: 'RedisStore',
    async setup() {
      server = await startRedis();
      admin = server.client();
    },
    async teardown() {
      await server?.stop();
    },
    instance() {
      const client = server.client({ maxRetriesPerRequest: 1 });
      // The outage test kills the server on purpose: its reconnect errors are expected, not news.
      client.on('error', () => {});
      return new RedisStore({ client });
    },
    dump: () => dumpAll(admin),
    server: () => server,
    async flush() {
      await server.client().flushall();
    },
  };
}

export function clusterKit(): StoreKit {
  let cluster: RedisClusterHandle;
  return {
    name: 'RedisStore on Redis Cluster',
    async setup() {
      cluster = await startRedisCluster({ masters: 3 });
    },
    async teardown() {
      await cluster?.stop();
    },
    instance() {
      return new RedisStore({ client: cluster.client() as Cluster });
    },
    async flush() {
      const client = cluster.client();
      // The first command waits for the slots map, so that every master is known.
      await client.ping();
      await Promise.all(client.nodes('master').map((node) => node.flushall()));
    },
    async dump() {
      const out: string[] = [];
      for (const node of cluster.startupNodes) {
        const { Redis } = await import('ioredis');
        const client = new Redis(node.port, node.host);
        try {
          out.push(...(await dumpAll(client)));
        } finally {
          client.disconnect();
        }
      }
      return out;
    },
  };
}

export const ALL_KITS = [memoryKit, redisKit, clusterKit];
