/**
 * The storage contract behind the engine: what every store (MemoryStore, RedisStore, a custom one) means by
 * each method. The conformance suite (`@sms-otp/core/testing`) checks it case by case, and its differential
 * fuzz holds a store to `ReferenceStore`, this contract written as plain code.
 *
 * General rules:
 * - Each method is ONE atomic step: no other call sees it half done (a Redis store runs it as one Lua script
 *   on one hash slot, the memory store as one synchronous block).
 * - Times are epoch milliseconds from the engine's clock (`now`, whole seconds); durations are milliseconds.
 *   Every decision is taken by comparing the `now` given with times the store kept; a store's own expiry
 *   (Redis TTLs, sweeps) only drops records that no later call could tell from absent. The one record whose
 *   dropping is visible is an open breaker's (see `admit`), and it is dropped at the same time by every store.
 * - Nothing is counted twice when the same call runs twice (a client re-sending a command whose reply a
 *   dropped connection lost): see `issue` and `verify`.
 * - A purpose name (`[a-z0-9_-]{1,32}`) never collides with anything else a store keeps for a phone.
 *
 * State per phone (one record, so that per-phone windows and the failure ceiling hold across purposes):
 * - per purpose: the code (its secret: an HMAC or a vendor reference, `''` once used), its expiry, wrong
 *   attempts on it, and the end of its resend cooldown;
 * - per phone: the hour and day send windows (fixed windows starting at the first send after the last one
 *   ended) and the failure window (failed verifies across codes and purposes, starting at the first failure
 *   after the last window ended; a success never clears it).
 */
export interface OtpStore {
  /**
   * Stores a new code for (phone, purpose) unless refused. Checks, in this order, and answers the first that
   * refuses, changing nothing:
   * 1. `cooldown` — the purpose's last code's cooldown has not ended (`retryAfterMs` to its end; `cooldownMs`
   *    the cooldown of the send that started it: `cooldownsMs[min(max(hourCount, 1), length) - 1]`);
   * 2. `locked` — `hardFailLimit` failures are counted in a failure window still running (to its end);
   * 3. `captcha` — `failLimit` failures are counted in a running failure window, captcha not solved;
   * 4. `phone_hour` / `phone_day` — the hour or day window (rolled forward first) holds `hourLimit` /
   *    `dayLimit` sends (to the window's end). With `captchaPastLimits`, a full window instead answers
   *    `captcha` (`retryAfterMs` 0) unless the captcha was solved, until it holds twice its limit;
   * 5. `captcha` — `captchaAfter` is set, the hour window holds at least that many sends, and the captcha
   *    was not solved (`retryAfterMs` 0).
   * Then counts the send in both windows, replaces the purpose's code (its secret and binding, attempts 0,
   * expiry `now + ttlMs`, cooldown `now + cooldownsMs[min(sends before this one in the hour, length - 1)]`)
   * and answers `undo` (what `rollback` needs) and the cooldown started.
   * Run again with the same `distinctSecret` secret at the same `now`: answers `ok` again, counting nothing.
   */
  issue(input: IssueInput): Promise<IssueResult>;
  /**
   * Undoes an `issue` whose delivery failed: puts back the code it replaced (only while the code stored is
   * still the one that issue stored, `secret`), and uncounts the send from the hour and day windows it was
   * counted in (unless a window started afresh since, or `keepCounts`). The cooldown goes with the code.
   */
  rollback(input: RollbackInput): Promise<void>;
  /**
   * Checks a candidate against the live code. In this order, the first that applies:
   * 1. `ip_limit` — `failWindow` (rolled forward) holds its limit of failed verifies (to its end); nothing
   *    is counted;
   * 2. `locked` / `captcha` — the phone's failures reach `hardFailLimit`, or reach `failLimit` and the
   *    captcha was not solved (as in `issue`);
   * 3. `mismatch` — `binding` is not the binding of the purpose's code (none stored counts as `''`);
   * 4. `expired` — no code, used, or `now` at or past its expiry;
   * 5. `dead` — `maxAttempts` wrong guesses on it (`retryAfterMs` to the end of its cooldown, at least 0);
   * 6. `ok` — the candidate is the secret (compared in constant time): the code is used up and the token's
   *    record is kept for `token.ttlMs` (see `useToken`);
   * 7. `invalid` — one wrong attempt on the code and one failure for the phone (a failure window starts here
   *    when none runs); `attemptsLeft = max(0, min(maxAttempts - attempts, hardFailLimit - failures))`.
   * Every answer but `ok` and `ip_limit` counts one failed verify in `failWindow` (a window starts at the
   * first). A right verify run again (the same call re-sent) answers `ok` again; any other call then finds
   * the code used.
   */
  verify(input: StoreVerifyInput): Promise<StoreVerifyResult>;
  /**
   * For codes a vendor checks: as `verify` up to step 5 (those answers count in `failWindow`), then counts
   * the attempt as a wrong one (a failure, settled by `settle`) and answers `reserved` with the stored
   * reference and the attempts left (not counted in `failWindow`: `settle` counts a wrong code there).
   */
  reserve(input: ReserveInput): Promise<ReserveResult>;
  /**
   * For codes a vendor makes: swaps the placeholder secret an `issue` stored (`from`) for the vendor's
   * reference (`to`), once the vendor accepted the send. Does nothing when the code was replaced meanwhile.
   */
  rekey(input: PhonePurpose & { from: string; to: string }): Promise<void>;
  /**
   * Settles a reserved attempt: `expired` when no live, unused code with secret `ref` is stored; else `ok`,
   * and with `ok: true` uses the code up, takes back the one failure the reservation counted (a success
   * never clears the phone's earlier failures) and keeps the token's record; with `ok: false` counts one
   * failed verify in `failWindow`. A settle run again answers `ok` again.
   */
  settle(input: SettleInput): Promise<SettleResult>;
  /**
   * Admits one send through the shared windows (per IP, per country, the global budget) and the conversion
   * breakers, counting it in all of them, or refuses it counting nothing. In this order:
   * 0. the buffered `conversions` are counted (always, also when the send is then refused);
   * 1. `limit` — the first bucket (in the order given) whose window (rolled forward) is full;
   * 2. each breaker, rolled forward (a whole window past its start starts it afresh, half a window makes
   *    the current half the previous one), is evaluated unless still in its cool-off: with at least
   *    `minVolume` sends over both halves, from at least `minSubnets` distinct subnets, and verifies below
   *    `threshold` × sends it opens (again) for `coolOffMs`, reporting `open` if it was closed; otherwise an
   *    open breaker closes, reporting `closed`. Then the first breaker in its cool-off refuses: `blocked` if
   *    `block`, else `captcha` unless solved;
   * 3. `captcha` — a bucket with `captchaAfter` holding at least that many sends, captcha not solved.
   * An admitted send counts in every bucket and breaker, and its `subnet` among each breaker's current
   * half's subnets (a store may keep no more than `minSubnets` of them per half).
   * A breaker's record is kept until `max(start + windowMs, open ? openUntil + windowMs : openUntil)`; past
   * that it is forgotten, so an open breaker with no send for a window after its cool-off closes silently.
   */
  admit(input: AdmitInput): Promise<AdmitResult>;
  /**
   * `admit` and then, when admitted, `issue`, as one step: when the issue is refused, the admission is
   * released in the same step (conversions stay counted). Stores whose two records can share one atomic
   * step (a standalone Redis, memory) save a round trip; others may run the two in turn. A store that runs
   * it as one command a client may re-send (RedisStore on a standalone Redis) answers a second run as the
   * first and admits nothing twice; run in turn, each command is re-sent on its own.
   */
  admitAndIssue(admit: AdmitInput, issue: IssueInput): Promise<AdmitIssueResult>;
  /**
   * Uncounts an admitted send that did not happen: one send off each bucket and off each breaker's current
   * half, never below zero; a window that is gone stays gone (subnets stay counted).
   */
  release(input: ReleaseInput): Promise<void>;
  /** Counts successful verifies in the conversion breakers (rolled forward first; the engine batches them). */
  convert(input: { now: number; conversions: Conversion[] }): Promise<void>;
  /** Keeps a captcha answer's hash until `now + ttlMs`. */
  putCaptcha(input: { key: string; answer: string; ttlMs: number; now: number }): Promise<void>;
  /** Returns a captcha answer's hash if it is still kept at `now`, and forgets it (single use). */
  takeCaptcha(input: { key: string; now: number }): Promise<string | undefined>;
  /**
   * Whether the token's record (kept by the verify or settle that made the token) is there at `now`; with
   * `consume`, the record is deleted in the same step (of two concurrent consumers one gets `true`). A token
   * whose record is gone — used, past its lifetime, or lost with the store's data — is refused: a used token
   * never comes back, whatever the store forgets.
   */
  useToken(input: UseTokenInput): Promise<boolean>;
  /**
   * Puts a token's record back: called only after a `useToken` with `consume` that answered `true` landed
   * after the engine had stopped waiting, so that the request it was for was answered `STORE_UNAVAILABLE`
   * and served nobody. Optional: without it such a token stays used (fail closed).
   */
  releaseToken?(input: ReleaseTokenInput): Promise<void>;
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
  /**
   * Failed verifies per phone within `failWindowMs`, across codes and purposes, past which sends and
   * verifies need a solved captcha.
   */
  failLimit: number;
  /** Failed verifies per phone within `failWindowMs` at which sends and verifies are refused. */
  hardFailLimit: number;
  failWindowMs: number;
}

export interface IssueInput extends PhonePurpose, Limits {
  now: number;
  /** What identifies the code: an HMAC (base64url), or a vendor's placeholder. Never the code itself. */
  secret: string;
  /**
   * What binds the code to its send: a MAC of the send's `requestId` (`''` when codes are not bound). A
   * verify presenting another binding is answered `mismatch` and counts nothing against the code.
   */
  binding: string;
  ttlMs: number;
  /** Cooldown after the 1st, 2nd, … send of the phone's hour window (the last repeats). */
  cooldownsMs: number[];
  /** Sends of the phone's hour window after which a solved captcha is required (adaptive policy). */
  captchaAfter?: number;
  /**
   * A full hour or day window asks for a solved captcha (`captcha`) rather than refusing, until it holds
   * twice its limit; only then `phone_hour` / `phone_day`.
   */
  captchaPastLimits: boolean;
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

/** A verification token's record, made by the verify that succeeds (see `useToken`). */
export interface TokenRecord {
  /** The token's id. */
  jti: string;
  /** How long the record is kept: the token's lifetime. */
  ttlMs: number;
}

export interface StoreVerifyInput extends PhonePurpose, Omit<Limits, 'hourLimit' | 'dayLimit'> {
  now: number;
  /** The HMAC of the candidate code. */
  candidate: string;
  /** The binding of the send the client names (`''` when codes are not bound). */
  binding: string;
  maxAttempts: number;
  captchaSolved: boolean;
  /** The token to record when the code is right. */
  token: TokenRecord;
  /**
   * The client's window of failed verifies (per IP): refuses when full, and counts every answer but `ok`.
   * Absent when the client has no address.
   */
  failWindow?: Bucket;
}

export type StoreVerifyResult =
  | { status: 'ok' }
  | { status: 'invalid'; attemptsLeft: number }
  | { status: 'expired' }
  /** The binding is not the live code's (another send's, or none pending): nothing was counted. */
  | { status: 'mismatch' }
  /** The code took too many wrong guesses; a new one may be asked for after `retryAfterMs`. */
  | { status: 'dead'; retryAfterMs: number }
  /** `hardFailLimit` failures: refused until the failure window ends. */
  | { status: 'locked'; retryAfterMs: number }
  /** `failLimit` failures: a solved captcha is needed. */
  | { status: 'captcha' }
  /** The client's failed-verify window is full. */
  | { status: 'ip_limit'; retryAfterMs: number };

export type ReserveInput = Omit<StoreVerifyInput, 'candidate' | 'token'>;

export type ReserveResult =
  | { status: 'reserved'; ref: string; attemptsLeft: number }
  | Exclude<StoreVerifyResult, { status: 'ok' } | { status: 'invalid' }>;

export interface SettleInput extends PhonePurpose {
  now: number;
  ref: string;
  ok: boolean;
  /** The token to record when `ok`. */
  token: TokenRecord;
  /** As `StoreVerifyInput.failWindow`: a settle of a wrong code (`ok: false`) counts one failed verify in it. */
  failWindow?: Bucket;
}

export type SettleResult = { status: 'ok' } | { status: 'expired' };

export interface UseTokenInput {
  /** The phone the token was made for (its record lives beside the phone's). */
  phone: string;
  jti: string;
  /** Use the token up (its record is deleted). */
  consume: boolean;
  now: number;
}

export interface ReleaseTokenInput extends TokenRecord {
  phone: string;
  now: number;
}

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
  /**
   * Distinct client subnets (see `AdmitInput.subnet`) the window's sends must come from before the breaker
   * may open, so that one client cannot trip it against everybody else. 0: no such condition.
   */
  minSubnets: number;
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
  /**
   * The client's subnet (an IPv4 /24, an IPv6 /48), counted among the breakers' distinct subnets; absent
   * when the client has no address.
   */
  subnet?: string;
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
