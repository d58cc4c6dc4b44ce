/**
 * Memory per pending code:
 * - Redis: `INFO memory` used_memory delta for 1,000,000 pending codes written with `store.issue` (the very
 *   script and arguments the engine's send runs, pipelined in batches; the full engine would spend minutes
 *   parsing a million phone numbers), plus the keys a full `otp.send` adds (IP window, breaker buckets),
 *   measured with 50,000 real sends;
 * - MemoryStore: heap per pending code, in a child process with `--expose-gc`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createSmsOtp, type IssueInput, RedisStore } from '@sms-otp/core';
import type { Redis } from 'ioredis';
import { startRedis } from '../test/support/redis.js';
import { benchEngineOptions, cnPhone, fmt, infoNumber } from './support.js';

const CODES = 1_000_000;
const BATCH = 10_000;
const FULL_SENDS = 50_000;
const HEADS = ['130', '135', '138', '139', '150', '158', '176', '186', '188', '199'];

export function issueInput(phone: string, now: number): IssueInput {
  return {
    phone,
    purpose: 'login',
    now,
    // A 96-bit HMAC in base64url, as hashCode makes it.
    secret: randomBytes(12).toString('base64url'),
    // A 96-bit MAC of the send's requestId, as the engine binds codes by default.
    binding: randomBytes(12).toString('base64url'),
    captchaPastLimits: true,
    hardFailLimit: 100,
    ttlMs: 300_000,
    cooldownsMs: [60_000],
    captchaSolved: false,
    hourLimit: 5,
    dayLimit: 10,
    failLimit: 20,
    failWindowMs: 86_400_000,
  };
}

async function usedMemory(client: Redis): Promise<number> {
  return infoNumber(client, 'memory', 'used_memory');
}

/** 1,000 client IPs, 50 sends each (a busy carrier NAT sends many more from one address). */
const ipOf = (n: number) => `198.51.${Math.floor((n % 1_000) / 250)}.${n % 250}`;

async function countKeys(client: Redis, pattern: string): Promise<number> {
  let count = 0;
  let cursor = '0';
  for (let round = 0; round < 10_000; round += 1) {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 10_000);
    count += batch.length;
    cursor = next;
    if (cursor === '0') break;
  }
  return count;
}

async function sampleUsage(client: Redis, pattern: string): Promise<number> {
  const [, keys] = await client.scan('0', 'MATCH', pattern, 'COUNT', 10_000);
  if (keys.length === 0) return 0;
  return Number(await client.call('MEMORY', 'USAGE', keys[0]!, 'SAMPLES', '0'));
}

/** A random mainland mobile number (random prefixes, as real traffic has). */
function randomPhone(): string {
  const head = HEADS[randomBytes(1)[0]! % HEADS.length]!;
  return `+86${head}${String(randomBytes(4).readUInt32BE() % 100_000_000).padStart(8, '0')}`;
}

/** Returns the bytes of Redis memory per pending code (the phone hash alone). */
export async function benchRedisMemory(log: (line: string) => void): Promise<number> {
  const redis = await startRedis();
  const client = redis.client();
  try {
    // 1. Full sends: which keys does a send create, and what do they cost per pending code?
    await client.flushall();
    const otp = createSmsOtp({
      ...benchEngineOptions(),
      store: new RedisStore({ client }),
      breaker: { threshold: 0 },
    });
    const before = await usedMemory(client);
    let sent = 0;
    for (let start = 0; start < FULL_SENDS; start += 1_000) {
      const results = await Promise.allSettled(
        Array.from({ length: 1_000 }, (_, i) => otp.send({ phone: randomPhone(), ip: ipOf(start + i) })),
      );
      sent += results.filter((r) => r.status === 'fulfilled').length;
    }
    const afterSends = await usedMemory(client);
    const keys = await client.dbsize();
    const ipKeys = await countKeys(client, 'sms-otp:{g}:ip:*');
    const breakerKeys = await countKeys(client, 'sms-otp:{g}:breaker:*');
    log(
      `  Redis, ${fmt(sent)} full otp.send (random CN mobiles, 1,000 client IPs, conversion breaker on): ` +
        `${fmt((afterSends - before) / sent, 1)} B per pending code, every key counted`,
    );
    log(
      `    keys: ${fmt(keys - ipKeys - breakerKeys)} phone hashes, ${fmt(breakerKeys)} breaker buckets ` +
        `(MEMORY USAGE ${await sampleUsage(client, 'sms-otp:{g}:breaker:prefix:*')} B each, one per number prefix), ` +
        `${fmt(ipKeys)} IP windows (${await sampleUsage(client, 'sms-otp:{g}:ip:*')} B each)`,
    );

    // 2. One million pending codes: the phone hash alone.
    await client.flushall();
    const store = new RedisStore({ client });
    const empty = await usedMemory(client);
    const now = Date.now();
    const t0 = performance.now();
    for (let start = 0; start < CODES; start += BATCH) {
      await Promise.all(
        Array.from({ length: Math.min(BATCH, CODES - start) }, (_, i) =>
          store.issue(issueInput(cnPhone('138', start + i), now)),
        ),
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    const full = await usedMemory(client);
    const perCode = (full - empty) / CODES;
    const sampleKey = `sms-otp:{${cnPhone('138', 123_456)}}`;
    const usage = Number(await client.call('MEMORY', 'USAGE', sampleKey, 'SAMPLES', '0'));
    const encoding = await client.object('ENCODING', sampleKey);
    const fields = await client.hgetall(sampleKey);
    const fieldBytes = Object.entries(fields)
      .map(([name, value]) => `${name}=${value.length + name.length} B`)
      .join(', ');
    log(
      `  Redis, ${fmt(CODES)} pending codes via store.issue (${fmt(CODES / seconds)} issues/s pipelined): ` +
        `${fmt(perCode, 1)} B per pending code (target <= 200: ${perCode <= 200 ? 'met' : `missed by ${fmt(perCode - 200, 1)} B`})`,
    );
    log(
      `    one key: "${sampleKey}" (${sampleKey.length} B name), ${encoding} hash, MEMORY USAGE ${usage} B; ` +
        `fields: ${fieldBytes}; plus the expires entry (TTL) and the dict entry`,
    );
    return perCode;
  } finally {
    await redis.stop();
  }
}

export async function benchMemoryStoreHeap(log: (line: string) => void): Promise<void> {
  const child = fileURLToPath(new URL('./memory-store-heap.ts', import.meta.url));
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--max-old-space-size=4096', '--import', 'tsx', child, String(CODES)],
      { timeout: 120_000, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
  const result = JSON.parse(output.trim().split('\n').at(-1)!) as {
    codes: number;
    bytes: number;
    ms: number;
  };
  log(
    `  MemoryStore, ${fmt(result.codes)} pending codes: ${fmt(result.bytes / result.codes, 1)} B of heap per pending code ` +
      `(${fmt((result.codes / result.ms) * 1000)} issues/s)`,
  );
}
