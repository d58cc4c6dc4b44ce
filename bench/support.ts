/**
 * Shared pieces of the benchmarks: a bounded load loop, the EVALSHA recorder and replayer, the trivial
 * script, INFO parsing and a no-op sender. Every loop here is bounded in count and in time; everything
 * talks to 127.0.0.1 only.
 */
import { createHash } from 'node:crypto';
import type { Sender, SmsOtpOptions } from '@sms-otp/core';
import type { Redis } from 'ioredis';

/**
 * The trivial script (runs A–D's baseline, still printed): one EVALSHA on one hash key (HINCRBY + PEXPIRE),
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

/**
 * Records the EVALSHA calls a client sends (SHA, key count, keys and arguments, as ioredis built them), so
 * that a baseline can replay exactly the same Redis work with raw `evalsha` calls and nothing else.
 * Recording keeps a reference to each call's argument array: no copy, nothing measurable on the engine's side.
 */
export interface ScriptRecorder {
  /** The calls recorded since the last `take()` (or since recording started). */
  take(): unknown[][];
  stop(): void;
}

export function recordScripts(client: Redis): ScriptRecorder {
  let calls: unknown[][] = [];
  const target = client as unknown as {
    sendCommand: (command: { name: string; args: unknown[] }) => unknown;
  };
  const original = target.sendCommand;
  const own = Object.hasOwn(target, 'sendCommand');
  target.sendCommand = function (this: unknown, command, ...rest: unknown[]) {
    if (command.name === 'evalsha') calls.push(command.args);
    return (original as (...args: unknown[]) => unknown).call(this, command, ...rest);
  };
  return {
    take() {
      const taken = calls;
      calls = [];
      return taken;
    },
    stop() {
      if (own) target.sendCommand = original;
      else delete (target as { sendCommand?: unknown }).sendCommand;
    },
  };
}

/**
 * Recorded calls as EVALSHA arguments: ioredis sends a script's first call on a connection as EVAL, with the
 * source where the SHA goes (in the very array that was recorded).
 */
export function bySha(recorded: unknown[][]): unknown[][] {
  return recorded.map(([first, ...rest]) =>
    typeof first === 'string' && first.length !== 40
      ? [createHash('sha1').update(first).digest('hex'), ...rest]
      : [first, ...rest],
  );
}

/** Replays recorded EVALSHA calls in order, `concurrency` in flight, on `client` (a clean database). */
export function replay(
  client: Redis,
  recorded: unknown[][],
  { concurrency, redis }: { concurrency: number; redis?: Redis },
): Promise<Measured> {
  const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>;
  const calls = bySha(recorded);
  return measure((i) => evalsha(...calls[i]!), {
    concurrency,
    durationMs: 120_000,
    maxOps: calls.length,
    ...(redis ? { redis } : {}),
  });
}

/**
 * The engine options every benchmark shares: a fixed secret, a no-op sender, codes handed back
 * (`exposeCode`), and limits raised so that a load of wrong and right codes meets those answers, not 429s.
 */
export function benchEngineOptions(): SmsOtpOptions {
  return {
    secret: 'bench-secret-bench-secret-bench-secret-0123-0123456789ABCDEF',
    sender: noopSender(),
    // The benches send to Chinese numbers: the home country, uncapped (any other gets 100 a day by default).
    defaultCountry: 'CN',
    exposeCode: true,
    maxAttempts: 10,
    maxFailuresPerPhone: 100,
    resendCooldown: 1,
    sendLimits: { perPhoneHour: 1_000, perPhoneDay: 10_000, perIpHour: 1_000_000 },
  };
}

/** A sender that delivers nothing and answers at once. */
export function noopSender(): Sender {
  return {
    kind: 'sender',
    name: 'noop',
    // Delivers to no one: codes may go back in responses (`exposeCode`), which the benchmarks read.
    development: true,
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
      } catch (error) {
        if (process.env.BENCH_DEBUG && errors === 0) console.error(error);
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

/** Several runs of one operation as one: counts and times summed, CPU per operation weighted by count. */
export function combine(runs: Measured[]): Measured {
  const ops = runs.reduce((sum, r) => sum + r.ops, 0);
  const ms = runs.reduce((sum, r) => sum + r.ms, 0);
  const weighted = (value: (r: Measured) => number | undefined) =>
    runs.reduce((sum, r) => sum + (value(r) ?? 0) * r.ops, 0) / Math.max(1, ops);
  const combined: Measured = {
    ops,
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    ms,
    perSec: (ops / ms) * 1000,
    nodeCpuUs: weighted((r) => r.nodeCpuUs),
  };
  if (runs.every((r) => r.redisCpuUs !== undefined)) combined.redisCpuUs = weighted((r) => r.redisCpuUs);
  return combined;
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

/**
 * `BENCH_COALESCE=0` runs the core and HTTP benchmarks with RedisStore's `coalesceWrites: false`, for the A/B
 * that BENCHMARKS.md reports; by default the store coalesces, as it does for users.
 */
export const COALESCE_WRITES = process.env.BENCH_COALESCE !== '0';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A ratio with two decimals, cut rather than rounded: one printed as 0.90 is at least 0.90. */
export function ratioText(ratio: number): string {
  return (Math.floor(ratio * 100) / 100).toFixed(2);
}
