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
  /** Settles a reserved attempt: `ok` consumes the code (once) and clears the failure count. */
  settle(input: SettleInput): Promise<SettleResult>;
  /** Counts one send in a fixed window for `bucket` (e.g. an IP address). */
  hit(input: HitInput): Promise<HitResult>;
  /** Uncounts a `hit` (the send it counted did not happen). */
  unhit(input: { bucket: string; windowMs: number }): Promise<void>;
  /**
   * Looks up a verification token id. With `consume`, marks it used (kept for `ttlMs`).
   * Resolves `true` when the token had not been used before this call.
   */
  useToken(input: { jti: string; ttlMs: number; consume: boolean }): Promise<boolean>;
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
  /** What identifies the code: `h:` + HMAC, or `r:` + a vendor reference. Never the code itself. */
  secret: string;
  ttlMs: number;
  cooldownMs: number;
}

export type IssueResult =
  | {
      ok: true;
      /** Opaque snapshot of what the send replaced, for `rollback`. */
      undo: string;
    }
  | {
      ok: false;
      reason: 'cooldown' | 'phone_hour' | 'phone_day' | 'locked';
      retryAfterMs: number;
    };

export interface RollbackInput extends PhonePurpose {
  now: number;
  secret: string;
  undo: string;
}

export interface VerifyInput extends PhonePurpose, Omit<Limits, 'hourLimit' | 'dayLimit'> {
  now: number;
  /** `h:` + HMAC of the candidate code. */
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

export interface HitInput {
  bucket: string;
  now: number;
  limit: number;
  windowMs: number;
}

export type HitResult = { ok: true } | { ok: false; retryAfterMs: number };
