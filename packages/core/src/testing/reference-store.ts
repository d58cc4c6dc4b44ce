import type {
  AdmitInput,
  AdmitIssueResult,
  AdmitResult,
  BreakerSpec,
  BreakerTransition,
  Bucket,
  Conversion,
  IssueInput,
  IssueResult,
  OtpStore,
  ReleaseInput,
  ReleaseTokenInput,
  ReserveInput,
  ReserveResult,
  RollbackInput,
  SettleInput,
  SettleResult,
  StoreVerifyInput,
  StoreVerifyResult,
  UseTokenInput,
} from '../stores/types.js';
import { DAY_MS, HOUR_MS } from '../time.js';

/**
 * The store contract (`stores/types.ts`) written as plainly as it can be: no size bound, no sweeping, no
 * encoding, every record looked at only through the time it is given. It is the reference the differential
 * fuzz holds MemoryStore, RedisStore and a custom store to; it is not meant to serve an app.
 */
export class ReferenceStore implements OtpStore {
  readonly #phones = new Map<string, RefPhone>();
  readonly #buckets = new Map<string, { start: number; count: number; windowMs: number }>();
  readonly #breakers = new Map<string, RefBreaker>();
  readonly #captchas = new Map<string, { answer: string; expiresAt: number }>();
  readonly #tokens = new Map<string, number>();

  async issue(input: IssueInput): Promise<IssueResult> {
    return this.#issue(input);
  }

  #issue(input: IssueInput): IssueResult {
    const { now } = input;
    const phone = this.#phone(input.phone, now);
    const code = phone.codes.get(input.purpose);
    // The same call run again (a client re-sending after a lost reply) answers as the first run did.
    if (input.distinctSecret && code?.secret === input.secret && code.expiresAt === now + input.ttlMs) {
      const undo = JSON.stringify({ code: null, hourStart: phone.hourStart, dayStart: phone.dayStart });
      return { ok: true, undo, cooldownMs: code.cooldownUntil - now };
    }
    if (code && now < code.cooldownUntil) {
      const sends = Math.min(Math.max(phone.hourCount, 1), input.cooldownsMs.length);
      return {
        ok: false,
        reason: 'cooldown',
        retryAfterMs: code.cooldownUntil - now,
        cooldownMs: input.cooldownsMs[sends - 1]!,
      };
    }
    const failures = failuresOf(phone, input);
    if (failures === 'locked') {
      return { ok: false, reason: 'locked', retryAfterMs: phone.failStart + input.failWindowMs - now };
    }
    if (failures === 'captcha') return { ok: false, reason: 'captcha', retryAfterMs: 0 };
    if (now >= phone.hourStart + HOUR_MS) Object.assign(phone, { hourStart: now, hourCount: 0 });
    if (now >= phone.dayStart + DAY_MS) Object.assign(phone, { dayStart: now, dayCount: 0 });
    const windows = [
      {
        count: phone.hourCount,
        limit: input.hourLimit,
        reason: 'phone_hour',
        end: phone.hourStart + HOUR_MS,
      },
      { count: phone.dayCount, limit: input.dayLimit, reason: 'phone_day', end: phone.dayStart + DAY_MS },
    ] as const;
    for (const { count, limit, reason, end } of windows) {
      if (count < limit) continue;
      if (!input.captchaPastLimits || count >= 2 * limit)
        return { ok: false, reason, retryAfterMs: end - now };
      if (!input.captchaSolved) return { ok: false, reason: 'captcha', retryAfterMs: 0 };
    }
    if (input.captchaAfter !== undefined && phone.hourCount >= input.captchaAfter && !input.captchaSolved) {
      return { ok: false, reason: 'captcha', retryAfterMs: 0 };
    }
    const cooldownMs = input.cooldownsMs[Math.min(phone.hourCount, input.cooldownsMs.length - 1)]!;
    const undo = JSON.stringify({ code: code ?? null, hourStart: phone.hourStart, dayStart: phone.dayStart });
    phone.hourCount += 1;
    phone.dayCount += 1;
    phone.codes.set(input.purpose, {
      secret: input.secret,
      binding: input.binding,
      expiresAt: now + input.ttlMs,
      attempts: 0,
      cooldownUntil: now + cooldownMs,
    });
    // The phone's record (codes, windows, failures) is kept while anything in it still counts.
    keep(phone, now + input.ttlMs, now + cooldownMs, phone.hourStart + HOUR_MS, phone.dayStart + DAY_MS);
    if (phone.failCount > 0) keep(phone, phone.failStart + input.failWindowMs);
    return { ok: true, undo, cooldownMs };
  }

  async rollback(input: RollbackInput): Promise<void> {
    const undo = JSON.parse(input.undo) as { code: RefCode | null; hourStart: number; dayStart: number };
    const phone = this.#phone(input.phone, input.now);
    const code = phone.codes.get(input.purpose);
    if (code?.secret === input.secret) {
      if (undo.code) phone.codes.set(input.purpose, undo.code);
      else phone.codes.delete(input.purpose);
    }
    if (input.keepCounts) return;
    if (phone.hourStart === undo.hourStart && phone.hourCount > 0) phone.hourCount -= 1;
    if (phone.dayStart === undo.dayStart && phone.dayCount > 0) phone.dayCount -= 1;
  }

  async verify(input: StoreVerifyInput): Promise<StoreVerifyResult> {
    const result = this.#verify(input);
    this.#countClientFailure(input, result.status);
    return result;
  }

  #verify(input: StoreVerifyInput): StoreVerifyResult {
    const live = this.#live(input);
    if ('status' in live) return live;
    if (live.code.secret === input.candidate) {
      live.code.secret = '';
      this.#tokens.set(tokenKey(input.phone, input.token.jti), input.now + input.token.ttlMs);
      return { status: 'ok' };
    }
    return { status: 'invalid', attemptsLeft: this.#countFailure(live.code, input) };
  }

  async reserve(input: ReserveInput): Promise<ReserveResult> {
    const live = this.#live(input);
    if ('status' in live) {
      this.#countClientFailure(input, live.status);
      return live;
    }
    const ref = live.code.secret;
    return { status: 'reserved', ref, attemptsLeft: this.#countFailure(live.code, input) };
  }

  /** Every answer but a success and the window's own refusal counts in the client's failed-verify window. */
  #countClientFailure(input: ReserveInput, status: string): void {
    if (!input.failWindow || status === 'ok' || status === 'ip_limit') return;
    this.#bucket(input.failWindow, input.now).count += 1;
  }

  async rekey(input: { phone: string; purpose: string; from: string; to: string }): Promise<void> {
    const code = this.#phones.get(input.phone)?.codes.get(input.purpose);
    if (code?.secret === input.from) code.secret = input.to;
  }

  async settle(input: SettleInput): Promise<SettleResult> {
    const phone = this.#phone(input.phone, input.now);
    const code = phone.codes.get(input.purpose);
    if (!code || code.secret === '' || code.secret !== input.ref || input.now >= code.expiresAt) {
      return { status: 'expired' };
    }
    if (!input.ok && input.failWindow) this.#bucket(input.failWindow, input.now).count += 1;
    if (input.ok) {
      code.secret = '';
      this.#tokens.set(tokenKey(input.phone, input.token.jti), input.now + input.token.ttlMs);
      if (phone.failCount > 0) phone.failCount -= 1;
    }
    return { status: 'ok' };
  }

  async admit(input: AdmitInput): Promise<AdmitResult> {
    return this.#admit(input);
  }

  #admit(input: AdmitInput): AdmitResult {
    const { now } = input;
    if (input.conversions?.length) this.#convert({ now, conversions: input.conversions });
    const transitions: BreakerTransition[] = [];
    const buckets = input.buckets.map((spec) => ({ spec, bucket: this.#peekBucket(spec, now) }));
    for (const { spec, bucket } of buckets) {
      if (bucket.count >= spec.limit) {
        const retryAfterMs = bucket.start + bucket.windowMs - now;
        return { ok: false, reason: 'limit', id: spec.id, retryAfterMs, transitions };
      }
    }
    const breakers = input.breakers.map((spec) => {
      const state = this.#breaker(spec, now);
      const sent = state.prevSends + state.sends;
      const verified = state.prevVerifies + state.verifies;
      const subnets = new Set([...state.prevSubnets, ...state.subnets]).size;
      if (now >= state.openUntil) {
        if (sent >= spec.minVolume && subnets >= spec.minSubnets && verified < spec.threshold * sent) {
          state.openUntil = now + spec.coolOffMs;
          if (!state.open) transitions.push({ id: spec.id, state: 'open', sent, verified });
          state.open = true;
        } else if (state.open) {
          state.open = false;
          transitions.push({ id: spec.id, state: 'closed', sent, verified });
        }
      }
      return { spec, state };
    });
    for (const { spec, state } of breakers) {
      if (now < state.openUntil && (spec.block || !input.captchaSolved)) {
        const reason = spec.block ? 'blocked' : 'captcha';
        return { ok: false, reason, id: spec.id, retryAfterMs: state.openUntil - now, transitions };
      }
    }
    for (const { spec, bucket } of buckets) {
      if (spec.captchaAfter !== undefined && bucket.count >= spec.captchaAfter && !input.captchaSolved) {
        return { ok: false, reason: 'captcha', id: spec.id, retryAfterMs: 0, transitions };
      }
    }
    for (const { spec, bucket } of buckets) {
      bucket.count += 1;
      this.#buckets.set(spec.id, bucket);
    }
    for (const { spec, state } of breakers) {
      state.sends += 1;
      const { subnet } = input;
      if (subnet !== undefined && !state.subnets.includes(subnet) && state.subnets.length < spec.minSubnets) {
        state.subnets.push(subnet);
      }
    }
    return { ok: true, transitions };
  }

  async admitAndIssue(admit: AdmitInput, issue: IssueInput): Promise<AdmitIssueResult> {
    const admitted = this.#admit(admit);
    if (!admitted.ok) return { admit: admitted };
    const issued = this.#issue(issue);
    if (!issued.ok) this.#release(admit);
    return { admit: admitted, issue: issued };
  }

  async release(input: ReleaseInput): Promise<void> {
    this.#release(input);
  }

  #release(input: ReleaseInput): void {
    for (const spec of input.buckets) {
      const bucket = this.#buckets.get(spec.id);
      if (bucket && bucket.count > 0) bucket.count -= 1;
    }
    for (const spec of input.breakers) {
      const state = this.#breakers.get(spec.id);
      if (state && state.sends > 0) state.sends -= 1;
    }
  }

  async convert(input: { now: number; conversions: Conversion[] }): Promise<void> {
    this.#convert(input);
  }

  #convert(input: { now: number; conversions: Conversion[] }): void {
    for (const { spec, count } of input.conversions) this.#breaker(spec, input.now).verifies += count;
  }

  async putCaptcha(input: { key: string; answer: string; ttlMs: number; now: number }): Promise<void> {
    this.#captchas.set(input.key, { answer: input.answer, expiresAt: input.now + input.ttlMs });
  }

  async takeCaptcha(input: { key: string; now: number }): Promise<string | undefined> {
    const entry = this.#captchas.get(input.key);
    this.#captchas.delete(input.key);
    return entry && input.now < entry.expiresAt ? entry.answer : undefined;
  }

  async useToken(input: UseTokenInput): Promise<boolean> {
    const until = this.#tokens.get(tokenKey(input.phone, input.jti));
    if (until === undefined || input.now >= until) return false;
    if (input.consume) this.#tokens.delete(tokenKey(input.phone, input.jti));
    return true;
  }

  async releaseToken(input: ReleaseTokenInput): Promise<void> {
    this.#tokens.set(tokenKey(input.phone, input.jti), input.now + input.ttlMs);
  }

  /** The live code a verify or reserve works on, or the answer that ends it first. */
  #live(input: ReserveInput): { code: RefCode } | Exclude<StoreVerifyResult, { status: 'ok' | 'invalid' }> {
    const { now } = input;
    if (input.failWindow) {
      const window = this.#peekBucket(input.failWindow, now);
      if (window.count >= input.failWindow.limit) {
        return { status: 'ip_limit', retryAfterMs: window.start + window.windowMs - now };
      }
    }
    const phone = this.#phone(input.phone, now);
    const failures = failuresOf(phone, input);
    if (failures === 'locked')
      return { status: 'locked', retryAfterMs: phone.failStart + input.failWindowMs - now };
    if (failures === 'captcha') return { status: 'captcha' };
    const code = phone.codes.get(input.purpose);
    if ((code?.binding ?? '') !== input.binding) return { status: 'mismatch' };
    if (!code || code.secret === '' || now >= code.expiresAt) return { status: 'expired' };
    if (code.attempts >= input.maxAttempts) {
      return { status: 'dead', retryAfterMs: Math.max(0, code.cooldownUntil - now) };
    }
    return { code };
  }

  /** One wrong guess on the code, one failure for the phone; the guesses left. */
  #countFailure(code: RefCode, input: ReserveInput): number {
    const phone = this.#phone(input.phone, input.now);
    code.attempts += 1;
    if (phone.failCount === 0 || input.now >= phone.failStart + input.failWindowMs) {
      phone.failStart = input.now;
      phone.failCount = 0;
    }
    phone.failCount += 1;
    keep(phone, phone.failStart + input.failWindowMs);
    return Math.max(0, Math.min(input.maxAttempts - code.attempts, input.hardFailLimit - phone.failCount));
  }

  /** A bucket's window at `now` (a new one when the last has ended), kept. */
  #bucket(spec: Bucket, now: number): { start: number; count: number; windowMs: number } {
    const bucket = this.#peekBucket(spec, now);
    this.#buckets.set(spec.id, bucket);
    return bucket;
  }

  /** A bucket's window at `now`, not kept if new. */
  #peekBucket(spec: Bucket, now: number): { start: number; count: number; windowMs: number } {
    const held = this.#buckets.get(spec.id);
    return held && now < held.start + held.windowMs
      ? held
      : { start: now, count: 0, windowMs: spec.windowMs };
  }

  /** The phone's record at `now`: forgotten whole (codes, windows, failures) once nothing in it counts. */
  #phone(phone: string, now: number): RefPhone {
    let record = this.#phones.get(phone);
    if (!record || now >= record.expiresAt) {
      record = {
        codes: new Map(),
        hourStart: 0,
        hourCount: 0,
        dayStart: 0,
        dayCount: 0,
        failStart: 0,
        failCount: 0,
        expiresAt: 0,
      };
      this.#phones.set(phone, record);
    }
    return record;
  }

  /** A breaker moved forward to `now`: a whole window passed starts it afresh, half a window shifts it. */
  #breaker(spec: BreakerSpec, now: number): RefBreaker {
    const half = spec.windowMs / 2;
    let state = this.#breakers.get(spec.id);
    // Kept while its window runs, and while open until a window after its cool-off; then forgotten (an open
    // breaker forgotten so closes without a transition).
    if (state && now >= breakerExpiry(state, spec.windowMs)) state = undefined;
    if (!state) {
      state = {
        start: now,
        sends: 0,
        verifies: 0,
        prevSends: 0,
        prevVerifies: 0,
        subnets: [],
        prevSubnets: [],
        openUntil: 0,
        open: false,
      };
      this.#breakers.set(spec.id, state);
    }
    if (now >= state.start + 2 * half) {
      Object.assign(state, {
        start: now,
        sends: 0,
        verifies: 0,
        prevSends: 0,
        prevVerifies: 0,
        subnets: [],
        prevSubnets: [],
      });
    } else if (now >= state.start + half) {
      Object.assign(state, {
        start: state.start + half,
        prevSends: state.sends,
        prevVerifies: state.verifies,
        prevSubnets: state.subnets,
        sends: 0,
        verifies: 0,
        subnets: [],
      });
    }
    return state;
  }
}

/** When a breaker's record may be forgotten (the rule every store keeps). */
export function breakerExpiry(state: { start: number; openUntil: number; open: boolean }, windowMs: number) {
  return Math.max(state.start + windowMs, state.open ? state.openUntil + windowMs : state.openUntil);
}

/** Where the phone stands against its failure ceilings. */
function failuresOf(
  phone: RefPhone,
  input: {
    now: number;
    failLimit: number;
    hardFailLimit: number;
    failWindowMs: number;
    captchaSolved: boolean;
  },
): 'locked' | 'captcha' | undefined {
  if (input.now >= phone.failStart + input.failWindowMs) return undefined;
  if (phone.failCount >= input.hardFailLimit) return 'locked';
  if (phone.failCount >= input.failLimit && !input.captchaSolved) return 'captcha';
  return undefined;
}

interface RefCode {
  /** `''` once used. */
  secret: string;
  binding: string;
  expiresAt: number;
  attempts: number;
  cooldownUntil: number;
}

interface RefPhone {
  codes: Map<string, RefCode>;
  /** When the record is forgotten: the latest time anything kept in it was still to count. */
  expiresAt: number;
  hourStart: number;
  hourCount: number;
  dayStart: number;
  dayCount: number;
  failStart: number;
  failCount: number;
}

interface RefBreaker {
  start: number;
  sends: number;
  verifies: number;
  prevSends: number;
  prevVerifies: number;
  subnets: string[];
  prevSubnets: string[];
  openUntil: number;
  open: boolean;
}

/** Keeps the phone's record at least until each of `times`. */
function keep(phone: RefPhone, ...times: number[]): void {
  phone.expiresAt = Math.max(phone.expiresAt, ...times);
}

/** A token's record is the phone's: RedisStore keeps it under the phone's hash tag. */
const tokenKey = (phone: string, jti: string) => `${phone}\u0000${jti}`;
