/**
 * Shared pieces of the benchmarks: a bounded load loop, the trivial baseline script, INFO parsing and a
 * no-op sender. Every loop here is bounded in count and in time; everything talks to 127.0.0.1 only.
 */
import type { Redis } from 'ioredis';
import type { Sender } from '../packages/core/src/index.js';

/**
 * The baseline: one EVALSHA of a comparable, trivial script on one hash key (one HINCRBY + one PEXPIRE),
 * registered with `defineCommand` like RedisStore's scripts.
 */
export const BASELINE_LUA = `
redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

export type BaselineClient = Redis & { benchHit(key: string, ttlMs: number): Promise<number> };

export function withBaseline(client: Redis): BaselineClient {
  if (typeof (client as unknown as Partial<BaselineClient>).benchHit !== 'function') {
    client.defineCommand('benchHit', { numberOfKeys: 1, lua: BASELINE_LUA });
  }
  return client as unknown as BaselineClient;
}

/** A sender that delivers nothing and answers at once. */
export function noopSender(): Sender {
  return {
    kind: 'sender',
    name: 'noop',
    channels: ['sms'],
    async send() {
      return { vendor: 'noop' };
    },
  };
}

export interface Measured {
  ops: number;
  errors: number;
  ms: number;
  perSec: number;
  /** CPU time of this Node process per operation, in µs (user + system). */
  nodeCpuUs: number;
  /** CPU time of redis-server per operation, in µs, when a client to read `INFO cpu` was given. */
  redisCpuUs?: number;
}

async function redisCpuSeconds(client: Redis): Promise<number> {
  const text = await client.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/**
 * Runs `op(i)` with `concurrency` calls in flight until `durationMs` passed or `maxOps` were started.
 * Rejections are counted, not thrown.
 */
export async function measure(
  op: (i: number) => Promise<unknown>,
  {
    concurrency,
    durationMs,
    maxOps,
    redis,
  }: { concurrency: number; durationMs: number; maxOps: number; redis?: Redis },
): Promise<Measured> {
  const redisCpu0 = redis ? await redisCpuSeconds(redis) : 0;
  const cpu0 = process.cpuUsage();
  let started = 0;
  let done = 0;
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  async function lane() {
    while (started < maxOps && performance.now() < deadline) {
      const i = started++;
      try {
        await op(i);
      } catch {
        errors += 1;
      }
      done += 1;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const measured: Measured = {
    ops: done,
    errors,
    ms,
    perSec: (done / ms) * 1000,
    nodeCpuUs: (cpu.user + cpu.system) / Math.max(1, done),
  };
  if (redis) measured.redisCpuUs = (((await redisCpuSeconds(redis)) - redisCpu0) * 1e6) / Math.max(1, done);
  return measured;
}

/** `INFO commandstats` as calls per command name (lower case). */
export async function commandCalls(client: Redis): Promise<Record<string, number>> {
  const text = await client.info('commandstats');
  const calls: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2]);
  return calls;
}

/** One field of `INFO <section>` as a number. */
export async function infoNumber(client: Redis, section: string, field: string): Promise<number> {
  const text = await client.info(section);
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(text);
  if (!match) throw new Error(`INFO ${section} has no ${field}`);
  return Number(match[1]);
}

/** A valid mainland-China mobile number, distinct for each `n` below 10^8 within a `head`. */
export function cnPhone(head: '137' | '138' | '139' | '150' | '186', n: number): string {
  return `+86${head}${String(n % 100_000_000).padStart(8, '0')}`;
}

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
