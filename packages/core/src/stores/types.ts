/**
 * The storage contract behind the engine. Each method is ONE atomic step: a Redis store runs it as one
 * Lua script on one hash slot, the memory store as one synchronous block. Times are epoch milliseconds
 * from the engine's clock; durations are milliseconds.
 *
 * State per phone (one record, so that per-phone windows and the failure ceiling hold across purposes):
 * - per purpose: the code's secret (an HMAC, or a vendor reference), its expiry, wrong attempts on it,
 *   and the resend cooldown;
 * - per phone: the hour and day send windows and the failure window (failed verifies across codes).
 */
export interface OtpStore {
  /** Checks cooldown, failure ceiling and phone windows; when all pass, stores the new code. */
  issue(input: IssueInput): Promise<IssueResult>;
  /** Undoes an `issue` whose delivery failed: restores the previous code and cooldown, uncounts the send. */
  rollback(input: RollbackInput): Promise<void>;
  /** Compares a candidate against the live code, counting a wrong guess or consuming a right one. */
  verify(input: VerifyInput): Promise<VerifyResult>;
  /**
   * For codes a vendor checks: takes one attempt off the live code (counted as a failure until settled)
   * and returns the vendor reference to check against.
   */
  reserve(input: ReserveInput): Promise<ReserveResult>;
  /**
   * For codes a vendor makes: swaps the placeholder secret an `issue` stored for the vendor's reference,
   * once the vendor accepted the send. Does nothing when the code was replaced meanwhile.
   */
  rekey(input: PhonePurpose & { from: string; to: string }): Promise<void>;
  /**
   * Settles a reserved attempt: `ok` consumes the code (once) and takes back the failure the reservation
   * counted (a success never clears the phone's earlier failures).
   */
  settle(input: SettleInput): Promise<SettleResult>;
  /**
   * Admits one send through the shared windows (per IP, per country, the global budget) and the conversion
   * breakers, counting it in all of them, or refuses it without counting anything.
   */
  admit(input: AdmitInput): Promise<AdmitResult>;
  /**
   * `admit` and then, when admitted, `issue`, as one step: when the issue is refused, the admission is
   * released in the same step. Stores whose two records can share one atomic step (a standalone Redis, memory)
   * save a round trip; others may run the two in turn.
   */
  admitAndIssue(admit: AdmitInput, issue: IssueInput): Promise<AdmitIssueResult>;
  /** Uncounts an admitted send that did not happen. */
  release(input: ReleaseInput): Promise<void>;
  /** Counts successful verifies in the conversion breakers (the engine batches them). */
  convert(input: { now: number; conversions: Conversion[] }): Promise<void>;
  /** Keeps a captcha answer's hash for `ttlMs` from `now`. */
  putCaptcha(input: { key: string; answer: string; ttlMs: number; now: number }): Promise<void>;
  /** Returns and deletes a captcha answer's hash (single use). */
  takeCaptcha(input: { key: string; now: number }): Promise<string | undefined>;
  /**
   * Looks up a verification token id. With `consume`, marks it used (kept for `ttlMs` from `now`).
   * Resolves `true` when the token had not been used before this call.
   */
  useToken(input: { jti: string; ttlMs: number; consume: boolean; now: number }): Promise<boolean>;
  /**
   * Forgets that a token was used: called only after a `useToken` with `consume` that marked it (answered
   * `true`) landed after the engine had stopped waiting, so that the request it was for was answered
   * `STORE_UNAVAILABLE` and served nobody. Optional: without it such a token stays used (fail closed).
   */
  releaseToken?(input: { jti: string; now: number }): Promise<void>;
  /** Releases timers and connections the store owns (never a client the host passed in). */
  close?(): Promise<void>;
}

export interface PhonePurpose {
  /** E.164 phone number. */
  phone: string;
  purpose: string;
}

export interface Limits {
  /** Send windows per phone. */
  hourLimit: number;
  dayLimit: number;
  /** Failed verifies per phone within `failWindowMs`, across codes and purposes. */
  failLimit: number;
  failWindowMs: number;
}

export interface IssueInput extends PhonePurpose, Limits {
  now: number;
  /** What identifies the code: an HMAC (base64url), or `r:` + a vendor reference. Never the code itself. */
  secret: string;
  ttlMs: number;
  /** Cooldown after the 1st, 2nd, … send of the phone's hour window (the last repeats). */
  cooldownsMs: number[];
  /** Sends of the phone's hour window after which a solved captcha is required (adaptive policy). */
  captchaAfter?: number;
  captchaSolved: boolean;
  /**
   * No other send has this `secret` (a random code's HMAC, a request id): a store that may run the same call
   * twice (RedisStore, when ioredis re-sends after a dropped connection) can tell the second run by it. False
   * for the fixed codes of test numbers.
   */
  distinctSecret?: boolean;
}

export type IssueResult =
  | {
      ok: true;
      /** Opaque snapshot of what the send replaced, for `rollback`. */
      undo: string;
      /** The cooldown this send started. */
      cooldownMs: number;
    }
  | {
      ok: false;
      reason: 'cooldown' | 'phone_hour' | 'phone_day' | 'locked' | 'captcha';
      retryAfterMs: number;
      /** For `cooldown`: the length of the cooldown in force. */
      cooldownMs?: number;
    };

export interface RollbackInput extends PhonePurpose {
  now: number;
  secret: string;
  undo: string;
  /**
   * Undo the code and its cooldown but leave the phone's hour and day counts: the message may have been
   * delivered (and paid for) although the vendor call failed.
   */
  keepCounts?: boolean;
}

export interface VerifyInput extends PhonePurpose, Omit<Limits, 'hourLimit' | 'dayLimit'> {
  now: number;
  /** The HMAC of the candidate code. */
  candidate: string;
  maxAttempts: number;
}

export type VerifyResult =
  | { status: 'ok' }
  | { status: 'invalid'; attemptsLeft: number }
  | { status: 'expired' }
  /** The code took too many wrong guesses; a new one may be asked for after `retryAfterMs`. */
  | { status: 'dead'; retryAfterMs: number }
  | { status: 'locked'; retryAfterMs: number };

export type ReserveInput = Omit<VerifyInput, 'candidate'>;

export type ReserveResult =
  | { status: 'reserved'; ref: string; attemptsLeft: number }
  | Exclude<VerifyResult, { status: 'ok' } | { status: 'invalid' }>;

export interface SettleInput extends PhonePurpose {
  now: number;
  ref: string;
  ok: boolean;
}

export type SettleResult = { status: 'ok' } | { status: 'expired' };

/** A fixed window counted on every admitted send. */
export interface Bucket {
  /** e.g. `ip:203.0.113.9`, `country:CN`, `global`. */
  id: string;
  limit: number;
  windowMs: number;
  /** Sends in the window after which a solved captcha is required (adaptive policy). */
  captchaAfter?: number;
}

/**
 * A conversion breaker: sends and successful verifies over a sliding window (two fixed halves, weighted).
 * When verified ÷ sent falls below `threshold` with at least `minVolume` sends, it opens for `coolOffMs`.
 */
export interface BreakerSpec {
  /** e.g. `breaker:country:CN`, `breaker:prefix:+861380013` (never the same as a bucket's id). */
  id: string;
  windowMs: number;
  minVolume: number;
  threshold: number;
  coolOffMs: number;
  /** While open: refuse sends (`true`) or ask for a captcha (`false`). */
  block: boolean;
}

/** Successful verifies to count in one breaker. */
export interface Conversion {
  spec: BreakerSpec;
  count: number;
}

export interface AdmitInput {
  now: number;
  buckets: Bucket[];
  breakers: BreakerSpec[];
  captchaSolved: boolean;
  /** Verifies the engine buffered since its last call: counted first, in the same atomic step. */
  conversions?: Conversion[];
}

/** A breaker that opened or closed during the call. */
export interface BreakerTransition {
  id: string;
  state: 'open' | 'closed';
  /** Estimated sends and verifies in the window when it changed. */
  sent: number;
  verified: number;
}

export type AdmitResult = { transitions: BreakerTransition[] } & (
  | { ok: true }
  | { ok: false; reason: 'limit'; id: string; retryAfterMs: number }
  | { ok: false; reason: 'captcha' | 'blocked'; id: string; retryAfterMs: number }
);

/** What `admitAndIssue` did: `issue` is absent when the admission was refused. */
export interface AdmitIssueResult {
  admit: AdmitResult;
  issue?: IssueResult;
}

export interface ReleaseInput {
  buckets: Bucket[];
  breakers: BreakerSpec[];
}
