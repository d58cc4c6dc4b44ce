/**
 * The store contract (stores/types.ts) on every store: its cases, and the differential fuzz against
 * ReferenceStore. Both come from `@sms-otp/core/testing`, as a custom store's author would run them.
 */
import {
  describeStoreConformance,
  describeStoreFuzz,
  fuzzSequence,
  referenceSubject,
  runFuzzSequence,
} from '@sms-otp/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterSubject, memorySubject, redisSubject } from './support/store-subjects.js';

const SEEDS = Array.from({ length: 30 }, (_, i) => 1 + i * 7919);
const redis = redisSubject();
const cluster = clusterSubject();

beforeAll(async () => {
  await Promise.all([redis.setup(), cluster.setup()]);
});
afterAll(async () => {
  await Promise.all([redis.teardown(), cluster.teardown()]);
});

describe.each([memorySubject, redis, cluster].map((subject) => [subject.name, subject] as const))(
  '%s',
  (_name, subject) => {
    describeStoreConformance(subject);
  },
);

describeStoreFuzz([memorySubject, redis, cluster], {
  steps: 400,
  phones: 200,
  seeds: SEEDS,
});

describe('the differential fuzz reaches every kind of answer', () => {
  it('across its seeds: every refusal reason, lock, dead code, breaker opening and closing', async () => {
    const seen = new Set<string>();
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) {
        for (const item of value) walk(item);
        return;
      }
      if (!value || typeof value !== 'object') return;
      for (const [key, inner] of Object.entries(value)) {
        if (key === 'reason' || key === 'status' || key === 'state') seen.add(`${key}:${String(inner)}`);
        walk(inner);
      }
    };
    for (const seed of SEEDS) {
      walk(await runFuzzSequence(referenceSubject, fuzzSequence(seed, { steps: 400, phones: 200 })));
    }
    const kinds = [
      ...['cooldown', 'locked', 'phone_hour', 'phone_day', 'captcha', 'limit', 'blocked'].map(
        (r) => `reason:${r}`,
      ),
      ...['ok', 'invalid', 'expired', 'dead', 'locked', 'reserved', 'mismatch', 'captcha', 'ip_limit'].map(
        (s) => `status:${s}`,
      ),
      'state:open',
      'state:closed',
    ];
    expect(kinds.filter((kind) => !seen.has(kind))).toEqual([]);
  });
});
