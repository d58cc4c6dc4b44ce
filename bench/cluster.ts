/**
 * Redis Cluster (on request: `pnpm bench cluster`): `otp.send` and `otp.verify` through RedisStore on a
 * 3-master cluster with write coalescing on (the default) against the same engine with `coalesceWrites:
 * false`, alternating in rounds. Not a target of the issue; it backs the README's word on Cluster.
 */
import { createSmsOtp, RedisStore, type SmsOtp } from '@sms-otp/core';
import { startRedisCluster } from '../test/support/redis.js';
import { benchEngineOptions, cnPhone, measure, median, ratioText } from './support.js';

const ROUNDS = 5;
const ROUND_MS = 600;
const CONCURRENCY = 32;

export async function benchCluster(log: (line: string) => void): Promise<void> {
  const cluster = await startRedisCluster({ masters: 3 });
  try {
    const engine = (coalesceWrites: boolean): SmsOtp =>
      createSmsOtp({
        ...benchEngineOptions(),
        store: new RedisStore({
          client: cluster.client(),
          coalesceWrites,
          prefix: `c${Number(coalesceWrites)}:`,
        }),
        breaker: false,
      });
    const engines = [
      { name: 'on', otp: engine(true), seeded: [] as Array<{ phone: string; code: string }> },
      { name: 'off', otp: engine(false), seeded: [] as Array<{ phone: string; code: string }> },
    ];
    const bounds = { concurrency: CONCURRENCY, durationMs: ROUND_MS, maxOps: 1_000_000 };
    let base = 0;
    const send = (e: (typeof engines)[number]) => {
      const start = base;
      base += 1_000_000;
      return measure(async (i) => {
        const phone = cnPhone('138', start + i);
        const { devCode } = await e.otp.send({ phone });
        e.seeded.push({ phone, code: devCode! });
      }, bounds);
    };
    // Per phone two wrong codes, then the right one, over the 3 000 phones sent to last.
    const verify = (e: (typeof engines)[number]) => {
      const from = Math.max(0, e.seeded.length - 3_000);
      return measure((i) => {
        const target = e.seeded[from + (Math.floor(i / 3) % (e.seeded.length - from))]!;
        return e.otp
          .verify({ phone: target.phone, code: i % 3 === 2 ? target.code : '000000' })
          .catch(() => {});
      }, bounds);
    };
    for (const e of engines) await send(e); // warm-up: connections to every master, scripts loaded
    const ratios = { send: [] as number[], verify: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which engine goes first, so that neither always follows the other.
      const order = round % 2 ? [engines[1]!, engines[0]!] : [engines[0]!, engines[1]!];
      const rate = new Map<string, number>();
      for (const e of order) rate.set(`send ${e.name}`, (await send(e)).perSec);
      for (const e of order) rate.set(`verify ${e.name}`, (await verify(e)).perSec);
      ratios.send.push(rate.get('send on')! / rate.get('send off')!);
      ratios.verify.push(rate.get('verify on')! / rate.get('verify off')!);
    }
    for (const op of ['send', 'verify'] as const) {
      log(
        `  ${op.padEnd(6)} coalescing on ÷ off: ${ratioText(median(ratios[op]))} ` +
          `(rounds ${ratios[op].map(ratioText).join(' ')})`,
      );
    }
  } finally {
    await cluster.stop();
  }
}
