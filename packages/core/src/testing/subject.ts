import type { OtpStore } from '../stores/types.js';

/**
 * A store as the conformance suite and the differential fuzz see it.
 *
 * @example
 * const subject: StoreSubject = {
 *   name: 'MyStore',
 *   create: () => new MyStore({ url }),
 *   dispose: (store) => store.close?.() ?? Promise.resolve(),
 * };
 */
export interface StoreSubject {
  /** Shown in test names. */
  name: string;
  /** A store holding nothing yet (a new object, or a new key prefix on a shared server). */
  create(): OtpStore | Promise<OtpStore>;
  /**
   * Lets `ms` pass for what the store expires by itself rather than by the `now` it is given (Redis TTLs,
   * for one). Omit it for a store that decides by `now` alone, as MemoryStore does.
   */
  elapse?(store: OtpStore, ms: number): Promise<void>;
  /** Releases what `create` made. */
  dispose?(store: OtpStore): Promise<void>;
}

/**
 * A store under test with its own clock: `at(t)` moves the clock forward to `t` (letting the store's own
 * expiry catch up through `elapse`) and returns it, so that every call is made at a time the store has seen.
 */
export class Clocked {
  readonly store: OtpStore;
  readonly #subject: StoreSubject;
  #now: number;

  constructor(subject: StoreSubject, store: OtpStore, start: number) {
    this.#subject = subject;
    this.store = store;
    this.#now = start;
  }

  get now(): number {
    return this.#now;
  }

  /** Moves the clock to `t` (never back) and returns it. */
  async at(t: number): Promise<number> {
    if (t > this.#now) {
      await this.#subject.elapse?.(this.store, t - this.#now);
      this.#now = t;
    }
    return this.#now;
  }

  /** Moves the clock `ms` forward and returns the new time. */
  pass(ms: number): Promise<number> {
    return this.at(this.#now + ms);
  }
}

/** A whole-second start time far from any window's edge. */
export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
