/**
 * Runs every benchmark and prints ratios against the baselines (`npx -y pnpm@10 bench`).
 *
 *   tsx --conditions=source bench/run.ts [core] [commands] [memory] [http]   (default: all)
 *
 * Starts its own redis-server processes on free 127.0.0.1 ports (test/support/redis.ts) and stops them at the
 * end. Every section is bounded in count and time; the whole run takes about 3 minutes on 2 cores.
 */

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { findRedisServer, startRedis } from '../test/support/redis.js';
import { benchCommandCounts, benchCoreThroughput } from './core.js';
import { benchHttp } from './http.js';
import { benchMemoryStoreHeap, benchRedisMemory } from './memory.js';

const SECTIONS = ['core', 'commands', 'memory', 'http'] as const;
type Section = (typeof SECTIONS)[number];

const requested = process.argv
  .slice(2)
  .filter((a): a is Section => (SECTIONS as readonly string[]).includes(a));
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
  try {
    if (sections.includes('core')) {
      log('\n## core alone: ops/s against the raw replay of its own EVALSHA calls (ratio, target >= 0.70)');
      await benchCoreThroughput(redis.port, log);
    }
    if (sections.includes('commands')) {
      log('\n## Redis commands per operation (INFO commandstats deltas, 2000 operations each)');
      await benchCommandCounts(redis.port, log);
    }
  } finally {
    await redis.stop();
  }
  if (sections.includes('memory')) {
    log('\n## memory per pending code');
    await benchRedisMemory(log);
    await benchMemoryStoreHeap(log);
  }
  if (sections.includes('http')) {
    log(
      '\n## HTTP: requests/s and p99 against a route replaying the same EVALSHA calls (ratio, target >= 0.90)',
    );
    await benchHttp(log);
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
