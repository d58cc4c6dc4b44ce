/**
 * `@sms-otp/core/testing`: the store contract as tests a store's author runs with vitest.
 *
 * @example
 * import { describeStoreConformance, describeStoreFuzz } from '@sms-otp/core/testing';
 * const subject = { name: 'MyStore', create: () => new MyStore() };
 * describeStoreConformance(subject);
 * describeStoreFuzz(subject);
 */
import { describe, expect, it } from 'vitest';
import { type FuzzOptions, firstDifference, fuzzSequence } from './fuzz.js';
import { ReferenceStore } from './reference-store.js';
import type { StoreSubject } from './subject.js';

export { describeStoreConformance } from './conformance.js';
export {
  type FuzzOp,
  type FuzzOptions,
  firstDifference,
  fuzzSequence,
  runFuzzSequence,
  seededRandom,
} from './fuzz.js';
export { breakerExpiry, ReferenceStore } from './reference-store.js';
export { Clocked, type StoreSubject, T0 } from './subject.js';

/** `ReferenceStore` as a subject: the contract written as plain code. */
export const referenceSubject: StoreSubject = { name: 'ReferenceStore', create: () => new ReferenceStore() };

/**
 * The differential fuzz: `seeds` seeded random sequences of store calls (sends through windows and
 * breakers, verifies, captchas, vendor checks, rollbacks, releases, conversions, clock jumps across windows
 * and TTLs, over hundreds of phones) run on `ReferenceStore` and on each subject; every answer must agree.
 * A failure names the seed and the first call that differs.
 */
export function describeStoreFuzz(
  subjects: StoreSubject | readonly StoreSubject[],
  options: FuzzOptions & { seeds?: readonly number[] } = {},
): void {
  const list = Array.isArray(subjects) ? subjects : [subjects as StoreSubject];
  const seeds = options.seeds ?? Array.from({ length: 12 }, (_, i) => 1 + i * 7919);
  describe(`store fuzz against ReferenceStore: ${list.map((s) => s.name).join(', ')}`, () => {
    it.each(seeds.map((seed) => [seed]))('seed %i: every answer agrees', async (seed) => {
      const ops = fuzzSequence(seed, options);
      const difference = await firstDifference([referenceSubject, ...list], ops);
      expect(difference, `seed ${seed}`).toBeUndefined();
    });
  });
}
