import type {
  AdmitInput,
  AdmitIssueResult,
  AdmitResult,
  BreakerSpec,
  BreakerTransition,
  Conversion,
  IssueInput,
  IssueResult,
  OtpStore,
  ReleaseInput,
  ReserveInput,
  ReserveResult,
  RollbackInput,
  SettleInput,
  SettleResult,
  StoreVerifyInput,
  StoreVerifyResult,
} from '../stores/types.js';
import { DAY_MS, HOUR_MS } from '../time.js';

/**
 * The store contract (`stores/types.ts`) written as plainly as it can be: no size bound, no sweeping, no
 * encoding, every record looked at only through the time it is given. It is the reference the differential
 * fuzz holds MemoryStore, RedisStore and a custom store to; it is not meant to serve an app.
 */
export class ReferenceStore implements OtpStore {
  readonly #codes = new Map<string, RefCode>();
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
    const code = this.#codes.get(codeKey(input));
    const phone = this.#phone(input.phone);
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
    if (phone.failCount >= input.failLimit && now < phone.failStart + input.failWindowMs) {
      return { ok: false, reason: 'locked', retryAfterMs: phone.failStart + input.failWindowMs - now };
    }
    if (now >= phone.hourStart + HOUR_MS) Object.assign(phone, { hourStart: now, hourCount: 0 });
    if (now >= phone.dayStart + DAY_MS) Object.assign(phone, { dayStart: now, dayCount: 0 });
    if (phone.hourCount >= input.hourLimit) {
      return { ok: false, reason: 'phone_hour', retryAfterMs: phone.hourStart + HOUR_MS - now };
    }
    if (phone.dayCount >= input.dayLimit) {
      return { ok: false, reason: 'phone_day', retryAfterMs: phone.dayStart + DAY_MS - now };
    }
    if (input.captchaAfter !== undefined && phone.hourCount >= input.captchaAfter && !input.captchaSolved) {
      return { ok: false, reason: 'captcha', retryAfterMs: 0 };
    }
    const cooldownMs = input.cooldownsMs[Math.min(phone.hourCount, input.cooldownsMs.length - 1)]!;
    const undo = JSON.stringify({ code: code ?? null, hourStart: phone.hourStart, dayStart: phone.dayStart });
    phone.hourCount += 1;
    phone.dayCount += 1;
    this.#codes.set(codeKey(input), {
      secret: input.secret,
      expiresAt: now + input.ttlMs,
      attempts: 0,
      cooldownUntil: now + cooldownMs,
    });
    return { ok: true, undo, cooldownMs };
  }

  async rollback(input: RollbackInput): Promise<void> {
    const undo = JSON.parse(input.undo) as { code: RefCode | null; hourStart: number; dayStart: number };
    const code = this.#codes.get(codeKey(input));
    if (code?.secret === input.secret) {
      if (undo.code) this.#codes.set(codeKey(input), undo.code);
      else this.#codes.delete(codeKey(input));
    }
    if (input.keepCounts) return;
    const phone = this.#phone(input.phone);
    if (phone.hourStart === undo.hourStart && phone.hourCount > 0) phone.hourCount -= 1;
    if (phone.dayStart === undo.dayStart && phone.dayCount > 0) phone.dayCount -= 1;
  }

  async verify(input: StoreVerifyInput): Promise<StoreVerifyResult> {
    const live = this.#live(input);
    if ('status' in live) return live;
    if (live.code.secret === input.candidate) {
      live.code.secret = '';
      return { status: 'ok' };
    }
    return { status: 'invalid', attemptsLeft: this.#countFailure(live.code, input) };
  }

  async reserve(input: ReserveInput): Promise<ReserveResult> {
    const live = this.#live(input);
    if ('status' in live) return live;
    const ref = live.code.secret;
    return { status: 'reserved', ref, attemptsLeft: this.#countFailure(live.code, input) };
  }

  async rekey(input: { phone: string; purpose: string; from: string; to: string }): Promise<void> {
    const code = this.#codes.get(codeKey(input));
    if (code?.secret === input.from) code.secret = input.to;
  }

  async settle(input: SettleInput): Promise<SettleResult> {
    const code = this.#codes.get(codeKey(input));
    if (!code || code.secret === '' || code.secret !== input.ref || input.now >= code.expiresAt) {
      return { status: 'expired' };
    }
    if (input.ok) {
      code.secret = '';
      const phone = this.#phone(input.phone);
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
    const buckets = input.buckets.map((spec) => {
      const held = this.#buckets.get(spec.id);
      const bucket =
        held && now < held.start + held.windowMs ? held : { start: now, count: 0, windowMs: spec.windowMs };
      return { spec, bucket };
    });
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
      if (now >= state.openUntil) {
        if (sent >= spec.minVolume && verified < spec.threshold * sent) {
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
    for (const { state } of breakers) state.sends += 1;
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

  async useToken(input: { jti: string; ttlMs: number; consume: boolean; now: number }): Promise<boolean> {
    const usedUntil = this.#tokens.get(input.jti);
    if (usedUntil !== undefined && input.now < usedUntil) return false;
    if (input.consume) this.#tokens.set(input.jti, input.now + input.ttlMs);
    return true;
  }

  async releaseToken(input: { jti: string; now: number }): Promise<void> {
    this.#tokens.delete(input.jti);
  }

  /** The live code a verify or reserve works on, or the answer that ends it first. */
  #live(input: ReserveInput): { code: RefCode } | Exclude<StoreVerifyResult, { status: 'ok' | 'invalid' }> {
    const { now } = input;
    const phone = this.#phone(input.phone);
    if (phone.failCount >= input.failLimit && now < phone.failStart + input.failWindowMs) {
      return { status: 'locked', retryAfterMs: phone.failStart + input.failWindowMs - now };
    }
    const code = this.#codes.get(codeKey(input));
    if (!code || code.secret === '' || now >= code.expiresAt) return { status: 'expired' };
    if (code.attempts >= input.maxAttempts) {
      return { status: 'dead', retryAfterMs: Math.max(0, code.cooldownUntil - now) };
    }
    return { code };
  }

  /** One wrong guess on the code, one failure for the phone; the guesses left. */
  #countFailure(code: RefCode, input: ReserveInput): number {
    const phone = this.#phone(input.phone);
    code.attempts += 1;
    if (phone.failCount === 0 || input.now >= phone.failStart + input.failWindowMs) {
      phone.failStart = input.now;
      phone.failCount = 0;
    }
    phone.failCount += 1;
    return Math.max(0, Math.min(input.maxAttempts - code.attempts, input.failLimit - phone.failCount));
  }

  #phone(phone: string): RefPhone {
    let record = this.#phones.get(phone);
    if (!record) {
      record = { hourStart: 0, hourCount: 0, dayStart: 0, dayCount: 0, failStart: 0, failCount: 0 };
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
      state = { start: now, sends: 0, verifies: 0, prevSends: 0, prevVerifies: 0, openUntil: 0, open: false };
      this.#breakers.set(spec.id, state);
    }
    if (now >= state.start + 2 * half) {
      Object.assign(state, { start: now, sends: 0, verifies: 0, prevSends: 0, prevVerifies: 0 });
    } else if (now >= state.start + half) {
      Object.assign(state, {
        start: state.start + half,
        prevSends: state.sends,
        prevVerifies: state.verifies,
        sends: 0,
        verifies: 0,
      });
    }
    return state;
  }
}

/** When a breaker's record may be forgotten (the rule every store keeps). */
export function breakerExpiry(state: { start: number; openUntil: number; open: boolean }, windowMs: number) {
  return Math.max(state.start + windowMs, state.open ? state.openUntil + windowMs : state.openUntil);
}

interface RefCode {
  /** `''` once used. */
  secret: string;
  expiresAt: number;
  attempts: number;
  cooldownUntil: number;
}

interface RefPhone {
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
  openUntil: number;
  open: boolean;
}

const codeKey = (input: { phone: string; purpose: string }) => `${input.phone}\u0000${input.purpose}`;
