/**
 * Core alone: `otp.send` and `otp.verify` operations per second on RedisStore against the raw replay of the
 * very EVALSHA calls they made (and, for reference, a trivial script) on the same redis-server, as ratios;
 * and Redis commands per operation from `INFO commandstats` deltas (top-level EVALSHA/EVAL calls and the
 * commands run inside them).
 */

import { createSmsOtp, RedisStore, type SmsOtp, type SmsOtpOptions } from '@sms-otp/core';
import { Redis } from 'ioredis';
import {
  benchEngineOptions,
  COALESCE_WRITES,
  cnPhone,
  combine,
  commandCalls,
  fmt,
  type Measured,
  measure,
  median,
  ratioText,
  recordScripts,
  replay,
  withBaseline,
} from './support.js';

const CONCURRENCY = 32;
const DURATION_MS = 3_000;
/**
 * Engine and replay alternate this many times per operation; the reported ratio is the median round's (a
 * round hit by one of this shared machine's swings does not move it).
 */
const ROUNDS = 5;

export interface CoreConfig {
  name: string;
  /** The engine options that differ between the runs. */
  options: Partial<SmsOtpOptions>;
}

/** Conversion breaker off, and on with the default accounting but a threshold that never trips. */
export const CORE_CONFIGS: CoreConfig[] = [
  { name: 'breaker off', options: { breaker: false } },
  { name: 'breaker on (default accounting, threshold 0)', options: { breaker: { threshold: 0 } } },
];

function engine(client: Redis, prefix: string, options: Partial<SmsOtpOptions>): SmsOtp {
  return createSmsOtp({
    ...benchEngineOptions(),
    store: new RedisStore({ client, prefix, coalesceWrites: COALESCE_WRITES }),
    ...options,
  });
}

const wrongOf = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

/** One engine operation beside the replay of the exact EVALSHA calls it made. */
export interface Paired {
  engine: Measured;
  replay: Measured;
  /** engine ops/s ÷ replay ops/s, the median round's: the target (≥ 0.70). */
  ratio: number;
  /** Each round's engine ops/s ÷ replay ops/s. */
  rounds: number[];
  /** engine ops/s ÷ the trivial script's ops/s. */
  trivialRatio: number;
}

export interface CoreResult {
  config: string;
  /** Ops/s of the trivial script (mean of before and after). */
  trivial: number;
  send: Paired;
  sendIp: Paired;
  verify: Paired;
}

/**
 * Ops/s of send (no IP), send (with IP) and verify (2 wrong + 1 right per phone), each against
 *  - the replay: every EVALSHA the engine sent during that measurement, recorded and replayed in the same
 *    order with raw ioredis calls on a clean database (the same Redis work, none of the engine's); and
 *  - the trivial script (HINCRBY + PEXPIRE), as in the first runs.
 */
export async function benchCoreThroughput(port: number, log: (line: string) => void): Promise<CoreResult[]> {
  const client = withBaseline(new Redis({ host: '127.0.0.1', port }));
  const admin = new Redis({ host: '127.0.0.1', port });
  const replayer = new Redis({ host: '127.0.0.1', port, db: 1 });
  const results: CoreResult[] = [];
  let phoneBase = 0;
  const bounds = { concurrency: CONCURRENCY, durationMs: DURATION_MS, redis: admin };
  const trivial = () =>
    measure((i) => client.benchHit(`bench:{${cnPhone('186', i)}}`, 300_000), {
      ...bounds,
      maxOps: 1_000_000,
    });
  try {
    await client.flushall();
    // Warm up: scripts loaded (EVALSHA after the first NOSCRIPT), JIT warm.
    const warm = engine(client, 'warm:', { breaker: false });
    await measure((i) => warm.send({ phone: cnPhone('150', i), ip: '10.0.0.1' }), {
      concurrency: CONCURRENCY,
      durationMs: 800,
      maxOps: 20_000,
    });
    await trivial();

    for (const config of CORE_CONFIGS) {
      const otp = engine(client, `core${results.length}:`, config.options);
      const before = await trivial();
      const recorder = recordScripts(client);
      // The engine runs in ROUNDS slices, each followed at once by the replay of the calls it made (nearby in
      // time on a shared machine, so drift hits both alike), on a database emptied before the first: the
      // same calls in the same order meet the same keys, states and answers.
      await replayer.flushdb();
      const alternate = async (op: (i: number) => Promise<unknown>, maxOps: number) => {
        const engineRuns: Measured[] = [];
        const replayRuns: Measured[] = [];
        let offset = 0;
        for (let round = 0; round < ROUNDS && offset < maxOps; round++) {
          const start = offset;
          const run = await measure((i) => op(start + i), {
            ...bounds,
            durationMs: DURATION_MS / ROUNDS,
            maxOps: maxOps - start,
          });
          offset += run.ops;
          engineRuns.push(run);
          replayRuns.push(
            await replay(replayer, recorder.take(), { concurrency: CONCURRENCY, redis: admin }),
          );
        }
        const rounds = engineRuns.map((run, i) => run.perSec / replayRuns[i]!.perSec);
        return { engine: combine(engineRuns), replay: combine(replayRuns), rounds };
      };
      const seeded: Array<{ phone: string; code: string }> = [];
      const send = await alternate(async (i) => {
        const phone = cnPhone('138', phoneBase + i);
        const { devCode } = await otp.send({ phone });
        seeded.push({ phone, code: devCode! });
      }, 2_000_000);
      phoneBase += send.engine.ops + 1;
      const sendIp = await alternate(
        (i) => otp.send({ phone: cnPhone('139', phoneBase + i), ip: '10.1.2.3' }),
        2_000_000,
      );
      phoneBase += sendIp.engine.ops + 1;
      // Per phone: two wrong guesses, then the right code; spread over every seeded phone.
      const verify = await alternate((i) => {
        const target = seeded[Math.floor(i / 3) % seeded.length]!;
        const code = i % 3 === 2 ? target.code : wrongOf(target.code);
        return otp.verify({ phone: target.phone, code });
      }, 3 * seeded.length);
      recorder.stop();
      await replayer.flushdb();
      const after = await trivial();
      const base = (before.perSec + after.perSec) / 2;
      const pair = ({ engine: m, replay: r, rounds }: Awaited<ReturnType<typeof alternate>>): Paired => ({
        engine: m,
        replay: r,
        ratio: median(rounds),
        rounds,
        trivialRatio: m.perSec / base,
      });
      const result: CoreResult = {
        config: config.name,
        trivial: base,
        send: pair(send),
        sendIp: pair(sendIp),
        verify: pair(verify),
      };
      results.push(result);
      const cpu = (m: Measured) => `node ${fmt(m.nodeCpuUs, 1)} µs, redis ${fmt(m.redisCpuUs ?? 0, 1)} µs`;
      log(`  ${config.name}: trivial script ${fmt(base)} ops/s (${cpu(before)})`);
      for (const [name, p] of [
        ['send', result.send],
        ['send+ip', result.sendIp],
        ['verify', result.verify],
      ] as const) {
        log(
          `    ${name.padEnd(8)} ${fmt(p.engine.perSec).padStart(7)} ops/s vs replay ${fmt(p.replay.perSec).padStart(7)}: ` +
            `ratio ${ratioText(p.ratio)} (rounds ${p.rounds.map(ratioText).join(' ')}; vs trivial ` +
            `${ratioText(p.trivialRatio)})  CPU per op: engine ${cpu(p.engine)}; ` +
            `replay ${cpu(p.replay)}${p.engine.errors + p.replay.errors > 0 ? `  ERRORS ${p.engine.errors}/${p.replay.errors}` : ''}`,
        );
      }
    }
  } finally {
    client.disconnect();
    admin.disconnect();
    replayer.disconnect();
  }
  return results;
}

export interface CommandCount {
  config: string;
  operation: string;
  /** EVALSHA + EVAL calls per operation. */
  topLevel: number;
  /** Commands run inside the scripts, per operation, by name. */
  inScript: Record<string, number>;
  inScriptTotal: number;
}

const TOP_LEVEL = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro']);

/** Redis commands per operation from INFO commandstats deltas, N operations of each kind. */
export async function benchCommandCounts(port: number, log: (line: string) => void): Promise<CommandCount[]> {
  const N = 2_000;
  const client = new Redis({ host: '127.0.0.1', port });
  const admin = new Redis({ host: '127.0.0.1', port });
  const counts: CommandCount[] = [];
  try {
    for (const [index, config] of CORE_CONFIGS.entries()) {
      const otp = engine(client, `cmd${index}:`, config.options);
      // Load the scripts first so that no NOSCRIPT retry is counted.
      await otp.send({ phone: cnPhone('137', 99_999_999), ip: '10.9.9.9' });
      await otp.verify({ phone: cnPhone('137', 99_999_999), code: '000000' }).catch(() => {});
      const seeded: Array<{ phone: string; code: string }> = [];
      const operations: Array<[string, (i: number) => Promise<unknown>]> = [
        [
          'send',
          async (i) => {
            const phone = cnPhone('137', index * 10_000_000 + i);
            seeded.push({ phone, code: (await otp.send({ phone })).devCode! });
          },
        ],
        [
          'send with IP',
          (i) => otp.send({ phone: cnPhone('137', index * 10_000_000 + N + i), ip: '10.4.5.6' }),
        ],
        [
          'verify (wrong code)',
          (i) => otp.verify({ phone: seeded[i]!.phone, code: wrongOf(seeded[i]!.code) }),
        ],
        ['verify (right code)', (i) => otp.verify({ phone: seeded[i]!.phone, code: seeded[i]!.code })],
      ];
      for (const [operation, op] of operations) {
        await admin.config('RESETSTAT');
        await measure(op, { concurrency: 8, durationMs: 60_000, maxOps: N });
        // Fire-and-forget calls (e.g. the breaker's convert after a success) land shortly after.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const calls = await commandCalls(admin);
        let topLevel = 0;
        const inScript: Record<string, number> = {};
        let inScriptTotal = 0;
        for (const [name, n] of Object.entries(calls)) {
          if (TOP_LEVEL.has(name)) topLevel += n;
          else if (!name.startsWith('config') && !name.startsWith('info')) {
            inScript[name] = n / N;
            inScriptTotal += n / N;
          }
        }
        counts.push({ config: config.name, operation, topLevel: topLevel / N, inScript, inScriptTotal });
        log(
          `  ${config.name}, ${operation}: ${(topLevel / N).toFixed(2)} top-level EVALSHA/EVAL, ` +
            `${inScriptTotal.toFixed(2)} in-script (${Object.entries(inScript)
              .map(([name, n]) => `${name} ${n.toFixed(2)}`)
              .join(', ')})`,
        );
      }
    }
  } finally {
    client.disconnect();
    admin.disconnect();
  }
  return counts;
}
