/**
 * Runs every benchmark and prints ratios against the baselines (`npx -y pnpm@10 bench`).
 *
 *   pnpm build && tsx bench/run.ts [core] [commands] [memory] [http] [overload] [cluster]   (default: all but cluster)
 *
 * Starts its own redis-server processes on free 127.0.0.1 ports (test/support/redis.ts) and stops them at the
 * end. Every section is bounded in count and time; the whole run takes 3.5–4 minutes on 2 cores.
 */

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { findRedisServer, startRedis } from '../test/support/redis.js';
import { benchCluster } from './cluster.js';
import { benchCommandCounts, benchCoreThroughput } from './core.js';
import { benchHttp } from './http.js';
import { benchMemoryStoreHeap, benchRedisMemory } from './memory.js';
import { benchOverload } from './overload.js';
import { ratioText } from './support.js';

const SECTIONS = ['core', 'commands', 'memory', 'http', 'overload'] as const;
/** Sections run only when asked for by name. */
const EXTRA = ['cluster'] as const;
type Section = (typeof SECTIONS)[number] | (typeof EXTRA)[number];

const requested = process.argv
  .slice(2)
  .filter((a): a is Section => ([...SECTIONS, ...EXTRA] as readonly string[]).includes(a));
const sections: readonly Section[] = requested.length > 0 ? requested : SECTIONS;
const log = (line: string) => console.log(line);
/** A last resort against anything hanging: the whole run is bounded. */
const HARD_LIMIT_MS = 8 * 60_000;

async function main() {
  const limit = setTimeout(() => {
    console.error(`bench: still running after ${HARD_LIMIT_MS / 60_000} min, giving up`);
    process.exit(2);
  }, HARD_LIMIT_MS);
  limit.unref();
  const t0 = Date.now();
  const redisVersion = execFileSync(findRedisServer(), ['--version']).toString().trim();
  log(`# sms-otp benchmarks`);
  log(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
      `Node ${process.version}, ${redisVersion}`,
  );

  const redis = await startRedis();
  const summary: string[] = [];
  const verdict = (ok: boolean) => (ok ? 'met' : 'missed');
  try {
    if (sections.includes('core')) {
      log('\n## core alone: ops/s against the raw replay of its own EVALSHA calls (ratio, target >= 0.70)');
      const core = await benchCoreThroughput(redis.port, log);
      const ratios = core.flatMap((r) =>
        (['send', 'sendIp', 'verify'] as const).map((op) => ({
          name: `${op} (${r.config.split(' (')[0]})`,
          ratio: r[op].ratio,
        })),
      );
      const met = ratios.filter((r) => r.ratio >= 0.7).length;
      summary.push(
        `core >= 0.70 of the replay: met in ${met} of ${ratios.length}: ` +
          ratios.map((r) => `${r.name} ${ratioText(r.ratio)}`).join(', '),
      );
    }
    if (sections.includes('commands')) {
      log('\n## Redis commands per operation (INFO commandstats deltas, 2000 operations each)');
      const counts = await benchCommandCounts(redis.port, log);
      const top = (operation: string) =>
        Math.max(...counts.filter((c) => c.operation === operation).map((c) => c.topLevel));
      const verify = Math.max(top('verify (wrong code)'), top('verify (right code)'));
      const [send, sendIp] = [top('send'), top('send with IP')];
      summary.push(
        `EVALSHA per verify = 1: ${verify.toFixed(2)}, ${verdict(verify === 1)}; per send = 1 (2 with the IP ` +
          `window): ${send.toFixed(2)} and ${sendIp.toFixed(2)}, ${verdict(send === 1 && sendIp <= 2)}`,
      );
    }
  } finally {
    await redis.stop();
  }
  if (sections.includes('memory')) {
    log('\n## memory per pending code');
    const perCode = await benchRedisMemory(log);
    await benchMemoryStoreHeap(log);
    summary.push(
      `Redis memory per pending code <= 200 B: ${perCode.toFixed(1)} B, ${verdict(perCode <= 200)}`,
    );
  }
  if (sections.includes('http')) {
    log(
      '\n## HTTP: requests/s and p99 against a route replaying the same EVALSHA calls (ratio, target >= 0.90)',
    );
    const http = await benchHttp(log);
    const ratios = http.flatMap((r) => [
      { name: `${r.framework} verify`, ratio: r.verifyRatio.median },
      { name: `${r.framework} send`, ratio: r.sendRatio.median },
    ]);
    const met = ratios.filter((r) => r.ratio >= 0.9).length;
    summary.push(
      `HTTP >= 0.90 of the replay route: met in ${met} of ${ratios.length}: ` +
        ratios.map((r) => `${r.name} ${ratioText(r.ratio)}`).join(', '),
    );
    summary.push(
      `HTTP send beside a hand-written send around the same calls (/floor; no target): ` +
        http
          .map(
            (r) =>
              `${r.framework} floor/replay ${ratioText(r.floorRatio.median)}, send/floor ${ratioText(r.sendToFloor.median)}`,
          )
          .join('; '),
    );
  }
  if (sections.includes('overload')) {
    log(
      "\n## overload: a real user's send + verify p99 under a flood of captcha requests (target p99 < 50 ms)",
    );
    const lines = await benchOverload(log);
    summary.push(`overload (no assertion): ${lines[0] ?? 'not run'}`);
    summary.push(`overload (no assertion): ${lines[1] ?? 'not run'}`);
  }
  if (sections.includes('cluster')) {
    log('\n## Redis Cluster (3 masters): ops/s with RedisStore write coalescing on against off (no target)');
    await benchCluster(log);
  }
  if (summary.length > 0) {
    log('\n## against the targets');
    for (const line of summary) log(`  ${line}`);
  }
  log(`\ndone in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
