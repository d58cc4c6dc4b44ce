import { SmsOtpError } from '../errors.js';
import { DAY_MS, HOUR_MS } from '../time.js';
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
} from './types.js';

/** One purpose's code: secret (`''` once used), its send's binding, expiry, wrong attempts, cooldown end. */
interface CodeRecord {
  secret: string;
  binding: string;
  expiresAt: number;
  attempts: number;
  cooldownUntil: number;
}

/** Everything kept for one phone. */
interface PhoneRecord {
  codes: Map<string, CodeRecord>;
  hourStart: number;
  hourCount: number;
  dayStart: number;
  dayCount: number;
  failStart: number;
  failCount: number;
  expiresAt: number;
}

/** The kinds of record a MemoryStore keeps, each under a quota of its own. */
export type MemoryStoreKind = 'phones' | 'standIns' | 'windows' | 'breakers' | 'captchas' | 'tokens';

/** Records of each kind kept at once, by default. */
export const MEMORY_STORE_QUOTAS: Readonly<Record<MemoryStoreKind, number>> = {
  phones: 50_000,
  standIns: 10_000,
  windows: 25_000,
  breakers: 5_000,
  captchas: 10_000,
  tokens: 20_000,
};

export interface MemoryStoreOptions {
  /**
   * Records of each kind kept at once: `phones` (a real number's codes and windows), `standIns` (the same
   * for unknown user ids, which receive nothing), `windows` (per-IP, per-country and budget windows),
   * `breakers`, `captchas` (built-in captcha answers) and `tokens` (verification tokens' records). When a
   * kind is full, stand-ins and captchas give way (the oldest is dropped: it costs a fake user's limits or
   * one captcha to solve again); the others are swept of expired records (at most once a second) and then
   * refused with `STORE_UNAVAILABLE` (fail closed: evicting live records would reset somebody's limits or
   * lose a token). A flood of one kind never takes another kind's room.
   * @default MEMORY_STORE_QUOTAS (115 000 records in all)
   */
  quotas?: Partial<Record<MemoryStoreKind, number>>;
  /** All quotas at once, in proportion to the defaults (kept for older set-ups). */
  maxEntries?: number;
  /** How often expired records are swept, in ms. The timer is `unref`'d. Default 60 000. */
  sweepIntervalMs?: number;
}

/**
 * Keeps codes and limits in this process's memory. For one process only (development, tests, a single
 * instance): several app instances need a shared store such as `RedisStore`.
 *
 * @example
 * const otp = createSmsOtp({ secret, store: new MemoryStore({ maxEntries: 10_000 }) });
 */
export class MemoryStore implements OtpStore {
  readonly #phones = new Map<string, PhoneRecord>();
  /** The records of unknown user ids' stand-in keys (anything that is not an E.164 number). */
  readonly #standIns = new Map<string, PhoneRecord>();
  readonly #buckets = new Map<string, { start: number; count: number; windowMs: number }>();
  readonly #tokens = new Map<string, number>();
  readonly #breakers = new Map<string, BreakerState>();
  readonly #captchas = new Map<string, { answer: string; expiresAt: number }>();
  readonly #quotas: Record<MemoryStoreKind, number>;
  /** When each kind was last swept because it was full (real time: the sweep is rate-limited, not decided). */
  readonly #swept = new Map<MemoryStoreKind, number>();
  readonly #timer: NodeJS.Timeout;
  /** Latest time any operation was given: the sweep uses the engine's clock, not its own. */
  #now = 0;

  constructor(options: MemoryStoreOptions = {}) {
    const { maxEntries, quotas = {}, sweepIntervalMs = 60_000 } = options;
    if (maxEntries !== undefined && (!Number.isInteger(maxEntries) || maxEntries < 1)) {
      throw new TypeError('sms-otp: MemoryStore option "maxEntries" must be a positive integer');
    }
    const total = Object.values(MEMORY_STORE_QUOTAS).reduce((a, b) => a + b, 0);
    this.#quotas = { ...MEMORY_STORE_QUOTAS };
    for (const kind of Object.keys(MEMORY_STORE_QUOTAS) as MemoryStoreKind[]) {
      if (maxEntries !== undefined) {
        this.#quotas[kind] = Math.max(1, Math.floor((MEMORY_STORE_QUOTAS[kind] * maxEntries) / total));
      }
      const quota = quotas[kind];
      if (quota === undefined) continue;
      if (!Number.isInteger(quota) || quota < 1) {
        throw new TypeError(`sms-otp: MemoryStore option "quotas.${kind}" must be a positive integer`);
      }
      this.#quotas[kind] = quota;
    }
    for (const kind of Object.keys(quotas)) {
      if (!(kind in MEMORY_STORE_QUOTAS)) {
        throw new TypeError(
          `sms-otp: MemoryStore option "quotas.${kind}" is not a kind of record (${Object.keys(MEMORY_STORE_QUOTAS).join(', ')})`,
        );
      }
    }
    this.#timer = setInterval(() => this.sweep(), sweepIntervalMs);
    this.#timer.unref();
  }

  /** Number of records held, of every kind. */
  get size(): number {
    let size = 0;
    for (const kind of Object.keys(MEMORY_STORE_QUOTAS) as MemoryStoreKind[]) size += this.#map(kind).size;
    return size;
  }

  /** Records held of one kind. */
  sizeOf(kind: MemoryStoreKind): number {
    return this.#map(kind).size;
  }

  /** Drops every expired record now. */
  sweep(): void {
    for (const kind of Object.keys(MEMORY_STORE_QUOTAS) as MemoryStoreKind[]) this.#sweepKind(kind);
  }

  #sweepKind(kind: MemoryStoreKind): void {
    const now = this.#now;
    const map = this.#map(kind) as Map<string, unknown>;
    for (const [key, value] of map) if (expiryOf(kind, value) <= now) map.delete(key);
  }

  #map(kind: MemoryStoreKind): Map<string, unknown> {
    switch (kind) {
      case 'phones':
        return this.#phones;
      case 'standIns':
        return this.#standIns;
      case 'windows':
        return this.#buckets;
      case 'breakers':
        return this.#breakers;
      case 'captchas':
        return this.#captchas;
      default:
        return this.#tokens;
    }
  }

  async issue(input: IssueInput): Promise<IssueResult> {
    return this.#issue(input);
  }

  #issue(input: IssueInput): IssueResult {
    const { now } = this.#tick(input.now);
    const record = this.#phone(input.phone, now, true);
    const code = record.codes.get(input.purpose);
    if (isRerun(code, input)) {
      const undo = JSON.stringify({ code: null, hourStart: record.hourStart, dayStart: record.dayStart });
      return { ok: true, undo, cooldownMs: code!.cooldownUntil - now };
    }
    if (code && now < code.cooldownUntil) {
      const cooldownMs =
        input.cooldownsMs[Math.min(Math.max(record.hourCount, 1), input.cooldownsMs.length) - 1]!;
      return { ok: false, reason: 'cooldown', retryAfterMs: code.cooldownUntil - now, cooldownMs };
    }
    const failures = failuresOf(record, input);
    if (failures > 0) return { ok: false, reason: 'locked', retryAfterMs: failures };
    if (failures < 0) return { ok: false, reason: 'captcha', retryAfterMs: 0 };
    if (now >= record.hourStart + HOUR_MS) Object.assign(record, { hourStart: now, hourCount: 0 });
    if (now >= record.dayStart + DAY_MS) Object.assign(record, { dayStart: now, dayCount: 0 });
    const hour = windowFull(record.hourCount, input.hourLimit, input);
    if (hour === 'refuse') {
      return { ok: false, reason: 'phone_hour', retryAfterMs: record.hourStart + HOUR_MS - now };
    }
    if (hour === 'captcha') return { ok: false, reason: 'captcha', retryAfterMs: 0 };
    const day = windowFull(record.dayCount, input.dayLimit, input);
    if (day === 'refuse')
      return { ok: false, reason: 'phone_day', retryAfterMs: record.dayStart + DAY_MS - now };
    if (day === 'captcha') return { ok: false, reason: 'captcha', retryAfterMs: 0 };
    if (input.captchaAfter !== undefined && record.hourCount >= input.captchaAfter && !input.captchaSolved) {
      return { ok: false, reason: 'captcha', retryAfterMs: 0 };
    }
    const cooldownMs = input.cooldownsMs[Math.min(record.hourCount, input.cooldownsMs.length - 1)]!;
    record.hourCount += 1;
    record.dayCount += 1;
    const undo = JSON.stringify({
      code: code ?? null,
      hourStart: record.hourStart,
      dayStart: record.dayStart,
    });
    record.codes.set(input.purpose, {
      secret: input.secret,
      binding: input.binding,
      expiresAt: now + input.ttlMs,
      attempts: 0,
      cooldownUntil: now + cooldownMs,
    });
    this.#touch(input.phone, record, input.failWindowMs);
    return { ok: true, undo, cooldownMs };
  }

  async rollback(input: RollbackInput): Promise<void> {
    const { now } = this.#tick(input.now);
    const record = this.#phone(input.phone, now, false);
    if (!record) return;
    const undo = JSON.parse(input.undo) as { code: CodeRecord | null; hourStart: number; dayStart: number };
    const current = record.codes.get(input.purpose);
    if (current?.secret === input.secret) {
      if (undo.code) record.codes.set(input.purpose, undo.code);
      else record.codes.delete(input.purpose);
    }
    if (!input.keepCounts) {
      if (record.hourStart === undo.hourStart && record.hourCount > 0) record.hourCount -= 1;
      if (record.dayStart === undo.dayStart && record.dayCount > 0) record.dayCount -= 1;
    }
    this.#touch(input.phone, record, 0);
  }

  async verify(input: StoreVerifyInput): Promise<StoreVerifyResult> {
    const checked = this.#check(input);
    if ('status' in checked) {
      this.#countClientFailure(input, checked.status);
      return checked;
    }
    const { record, code, now } = checked;
    if (constantTimeEqual(code.secret, input.candidate)) {
      const token = tokenKey(input.phone, input.token.jti);
      // Room for the token's record first: a full store refuses before the code is used up.
      this.#room('tokens', token);
      consume(code);
      this.#touch(input.phone, record, input.failWindowMs);
      this.#tokens.set(token, now + input.token.ttlMs);
      return { status: 'ok' };
    }
    const attemptsLeft = countFailure(record, code, now, input);
    this.#touch(input.phone, record, input.failWindowMs);
    this.#countClientFailure(input, 'invalid');
    return { status: 'invalid', attemptsLeft };
  }

  async reserve(input: ReserveInput): Promise<ReserveResult> {
    const checked = this.#check(input);
    if ('status' in checked) {
      this.#countClientFailure(input, checked.status);
      return checked;
    }
    const { record, code, now } = checked;
    const attemptsLeft = countFailure(record, code, now, input);
    this.#touch(input.phone, record, input.failWindowMs);
    return { status: 'reserved', ref: code.secret, attemptsLeft };
  }

  async rekey(input: { phone: string; purpose: string; from: string; to: string }): Promise<void> {
    const code = this.#phoneMap(input.phone).get(input.phone)?.codes.get(input.purpose);
    if (code?.secret === input.from) code.secret = input.to;
  }

  async settle(input: SettleInput): Promise<SettleResult> {
    const { now } = this.#tick(input.now);
    const record = this.#phone(input.phone, now, false);
    const code = record?.codes.get(input.purpose);
    if (!record || !code || code.secret !== input.ref || now >= code.expiresAt) return { status: 'expired' };
    if (input.ok) {
      const token = tokenKey(input.phone, input.token.jti);
      this.#room('tokens', token);
      consume(code);
      // The reservation counted this attempt as a failure; the vendor found the code right.
      if (record.failCount > 0) record.failCount -= 1;
      this.#tokens.set(token, now + input.token.ttlMs);
    } else if (input.failWindow) {
      this.#bucket(input.failWindow, now).count += 1;
    }
    return { status: 'ok' };
  }

  async admit(input: AdmitInput): Promise<AdmitResult> {
    return this.#admit(input);
  }

  #admit(input: AdmitInput): AdmitResult {
    const { now } = this.#tick(input.now);
    // Room first for every record the step may add: a full store refuses before anything is counted.
    this.#rooms(
      'windows',
      input.buckets.map((spec) => spec.id),
    );
    this.#rooms(
      'breakers',
      [...input.breakers, ...(input.conversions ?? []).map((c) => c.spec)].map((b) => b.id),
    );
    if (input.conversions?.length) this.#convert({ now, conversions: input.conversions });
    const transitions: BreakerTransition[] = [];
    const buckets = input.buckets.map((spec) => ({ spec, bucket: this.#peekBucket(spec, now) }));
    for (const { spec, bucket } of buckets) {
      if (bucket.count >= spec.limit) {
        return {
          ok: false,
          reason: 'limit',
          id: spec.id,
          retryAfterMs: bucket.start + bucket.windowMs - now,
          transitions,
        };
      }
    }
    const breakers = input.breakers.map((spec) => {
      const state = rollBreaker(this.#breakers.get(spec.id), spec, now);
      const change = evaluateBreaker(state, spec, now);
      if (change) transitions.push({ id: spec.id, ...change });
      this.#store('breakers', spec.id, state);
      return { spec, state };
    });
    for (const { spec, state } of breakers) {
      if (now < state.openUntil && (spec.block || !input.captchaSolved)) {
        return {
          ok: false,
          reason: spec.block ? 'blocked' : 'captcha',
          id: spec.id,
          retryAfterMs: state.openUntil - now,
          transitions,
        };
      }
    }
    for (const { spec, bucket } of buckets) {
      if (spec.captchaAfter !== undefined && bucket.count >= spec.captchaAfter && !input.captchaSolved) {
        return { ok: false, reason: 'captcha', id: spec.id, retryAfterMs: 0, transitions };
      }
    }
    for (const { spec, bucket } of buckets) {
      bucket.count += 1;
      this.#store('windows', spec.id, bucket);
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

  /** One synchronous step, as atomic as every other method here. */
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
    const { now } = this.#tick(input.now);
    this.#rooms(
      'breakers',
      input.conversions.map((c) => c.spec.id),
    );
    for (const { spec, count } of input.conversions) {
      const state = rollBreaker(this.#breakers.get(spec.id), spec, now);
      state.verifies += count;
      this.#store('breakers', spec.id, state);
    }
  }

  // Each call takes the engine's time: the store's own (the latest it was given) may be long past when
  // nothing else ran, and a used token marked from there would be usable again before it expires.
  async putCaptcha(input: { key: string; answer: string; ttlMs: number; now: number }): Promise<void> {
    const { now } = this.#tick(input.now);
    this.#store('captchas', input.key, { answer: input.answer, expiresAt: now + input.ttlMs });
  }

  async takeCaptcha(input: { key: string; now: number }): Promise<string | undefined> {
    const { now } = this.#tick(input.now);
    const entry = this.#captchas.get(input.key);
    this.#captchas.delete(input.key);
    return entry && entry.expiresAt > now ? entry.answer : undefined;
  }

  async useToken(input: UseTokenInput): Promise<boolean> {
    const { now } = this.#tick(input.now);
    const until = this.#tokens.get(tokenKey(input.phone, input.jti));
    if (until === undefined || now >= until) return false;
    if (input.consume) this.#tokens.delete(tokenKey(input.phone, input.jti));
    return true;
  }

  async releaseToken(input: ReleaseTokenInput): Promise<void> {
    const { now } = this.#tick(input.now);
    this.#store('tokens', tokenKey(input.phone, input.jti), now + input.ttlMs);
  }

  /** Every answer but a success and the window's own refusal counts in the client's failed-verify window. */
  #countClientFailure(input: ReserveInput, status: string): void {
    if (!input.failWindow || status === 'ok' || status === 'ip_limit') return;
    this.#bucket(input.failWindow, input.now).count += 1;
  }

  /** A bucket's window at `now` (a new one when the last has ended), kept. */
  #bucket(spec: Bucket, now: number): { start: number; count: number; windowMs: number } {
    const bucket = this.#peekBucket(spec, now);
    this.#store('windows', spec.id, bucket);
    return bucket;
  }

  /** A bucket's window at `now`, not kept if new. */
  #peekBucket(spec: Bucket, now: number): { start: number; count: number; windowMs: number } {
    const held = this.#buckets.get(spec.id);
    return held && now < held.start + held.windowMs
      ? held
      : { start: now, count: 0, windowMs: spec.windowMs };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
  }

  /** Sets a record, making room for it first when it is new. */
  #store<V>(kind: MemoryStoreKind, key: string, value: V): void {
    this.#room(kind, key);
    (this.#map(kind) as Map<string, V>).set(key, value);
  }

  /**
   * Makes room for a new record of `kind` under `key` (nothing to do when it is there already). Stand-ins and
   * captchas give way (the oldest goes); other kinds are swept of expired records, at most once a second,
   * and refused with `STORE_UNAVAILABLE` if still full. Nothing is changed before this: a refusal leaves no
   * half-done step.
   */
  #room(kind: MemoryStoreKind, key: string): void {
    const map = this.#map(kind);
    if (map.size < this.#quotas[kind] || map.has(key)) return;
    if (kind === 'standIns' || kind === 'captchas') {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
      return;
    }
    if (this.#dropExpiredOldest(kind)) return;
    this.#sweepOrRefuse(kind, 1);
  }

  /** Drops the oldest record of `kind` if it has expired (the cheap first try, before a sweep). */
  #dropExpiredOldest(kind: MemoryStoreKind): boolean {
    const map = this.#map(kind);
    const oldest = map.entries().next().value;
    if (!oldest || expiryOf(kind, oldest[1]) > this.#now) return false;
    map.delete(oldest[0]);
    return true;
  }

  /** `#room` for several new records of one kind at once, before any of them is set. */
  #rooms(kind: MemoryStoreKind, keys: readonly string[]): void {
    const map = this.#map(kind);
    const needed = keys.filter((key) => !map.has(key)).length;
    if (needed === 0 || map.size + needed <= this.#quotas[kind]) return;
    this.#sweepOrRefuse(kind, needed);
  }

  /**
   * For a full `kind` that needs `needed` more records: sweeps it of expired ones (at most once a second, so
   * a full store is never swept per request) and refuses with `STORE_UNAVAILABLE` if that made too little room.
   */
  #sweepOrRefuse(kind: MemoryStoreKind, needed: number): void {
    const at = Date.now();
    if (at - (this.#swept.get(kind) ?? 0) >= 1000) {
      this.#swept.set(kind, at);
      this.#sweepKind(kind);
    }
    if (this.#map(kind).size + needed > this.#quotas[kind]) {
      throw new SmsOtpError('STORE_UNAVAILABLE', { reason: 'memory_store_full', kind });
    }
  }

  /** Which map a phone key's record lives in: E.164 numbers, or unknown user ids' stand-ins. */
  #phoneMap(phone: string): Map<string, PhoneRecord> {
    return phone.startsWith('+') ? this.#phones : this.#standIns;
  }

  #tick(now: number): { now: number } {
    if (now > this.#now) this.#now = now;
    return { now };
  }

  /** The live code for a verify or reserve, or the result that ends it early. */
  #check(
    input: ReserveInput,
  ):
    | { record: PhoneRecord; code: CodeRecord; now: number }
    | Exclude<StoreVerifyResult, { status: 'ok' } | { status: 'invalid' }> {
    const { now } = this.#tick(input.now);
    if (input.failWindow) {
      // Room for the client's failed-verify window before anything is counted.
      this.#room('windows', input.failWindow.id);
      const window = this.#peekBucket(input.failWindow, now);
      if (window.count >= input.failWindow.limit) {
        return { status: 'ip_limit', retryAfterMs: window.start + window.windowMs - now };
      }
    }
    const record = this.#phone(input.phone, now, false);
    if (record) {
      const failures = failuresOf(record, input);
      if (failures > 0) return { status: 'locked', retryAfterMs: failures };
      if (failures < 0) return { status: 'captcha' };
    }
    const code = record?.codes.get(input.purpose);
    // A binding that is not the live code's (none pending counts as '') costs nothing and tells nothing.
    if (!constantTimeEqual(code?.binding ?? '', input.binding)) return { status: 'mismatch' };
    if (!record || !code || code.secret === '' || now >= code.expiresAt) return { status: 'expired' };
    if (code.attempts >= input.maxAttempts)
      return { status: 'dead', retryAfterMs: Math.max(0, code.cooldownUntil - now) };
    return { record, code, now };
  }

  #phone(phone: string, now: number, create: true): PhoneRecord;
  #phone(phone: string, now: number, create: false): PhoneRecord | undefined;
  #phone(phone: string, now: number, create: boolean): PhoneRecord | undefined {
    const map = this.#phoneMap(phone);
    let record = map.get(phone);
    if (record && record.expiresAt <= now) {
      map.delete(phone);
      record = undefined;
    }
    if (!record && create) {
      this.#room(map === this.#phones ? 'phones' : 'standIns', phone);
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
      map.set(phone, record);
    }
    return record;
  }

  /** Recomputes when a phone's record may be dropped: when nothing in it matters any more. */
  #touch(phone: string, record: PhoneRecord, failWindowMs: number): void {
    let expiresAt = 0;
    for (const code of record.codes.values())
      expiresAt = Math.max(expiresAt, code.expiresAt, code.cooldownUntil);
    if (record.hourCount > 0) expiresAt = Math.max(expiresAt, record.hourStart + HOUR_MS);
    if (record.dayCount > 0) expiresAt = Math.max(expiresAt, record.dayStart + DAY_MS);
    if (record.failCount > 0) expiresAt = Math.max(expiresAt, record.failStart + failWindowMs);
    record.expiresAt = Math.max(expiresAt, record.expiresAt);
    if (record.expiresAt <= this.#now) this.#phoneMap(phone).delete(phone);
  }
}

/** A conversion breaker's counters: the current half-window, the previous one, and the open state. */
interface BreakerState {
  start: number;
  sends: number;
  verifies: number;
  prevSends: number;
  prevVerifies: number;
  /** Distinct client subnets of the half's sends (at most `minSubnets`). */
  subnets: string[];
  prevSubnets: string[];
  openUntil: number;
  open: boolean;
  expiresAt: number;
}

/**
 * Moves the breaker's window forward to `now` (windowMs is split in two halves). A record past its keeping
 * time (stores/types.ts, `admit`) is forgotten first, as every store forgets it.
 */
export function rollBreaker(state: BreakerState | undefined, spec: BreakerSpec, now: number): BreakerState {
  const half = spec.windowMs / 2;
  const s =
    state && now < state.expiresAt ? state : { ...emptyWindow(now), openUntil: 0, open: false, expiresAt: 0 };
  if (now >= s.start + 2 * half) Object.assign(s, emptyWindow(now));
  else if (now >= s.start + half)
    Object.assign(s, {
      start: s.start + half,
      prevSends: s.sends,
      prevVerifies: s.verifies,
      prevSubnets: s.subnets,
      sends: 0,
      verifies: 0,
      subnets: [],
    });
  keepBreaker(s, spec.windowMs);
  return s;
}

/** A breaker window starting at `now` with nothing counted. */
function emptyWindow(now: number) {
  return { start: now, sends: 0, verifies: 0, prevSends: 0, prevVerifies: 0, subnets: [], prevSubnets: [] };
}

/** Kept while its window runs, and while open until a window after its cool-off. */
function keepBreaker(s: BreakerState, windowMs: number): void {
  s.expiresAt = Math.max(s.start + windowMs, s.open ? s.openUntil + windowMs : s.openUntil);
}

/** Opens or closes the breaker by the estimated conversion; returns the change, if any. */
function evaluateBreaker(
  s: BreakerState,
  spec: BreakerSpec,
  now: number,
): Omit<BreakerTransition, 'id'> | undefined {
  // The previous half counts whole (so between half a window and a whole one is counted): a weight fading
  // with time let bursts timed at the halves' ends pass twice `minVolume` in an hour unnoticed.
  const sent = s.prevSends + s.sends;
  const verified = s.prevVerifies + s.verifies;
  if (now < s.openUntil) return undefined;
  const subnets = new Set([...s.prevSubnets, ...s.subnets]).size;
  if (sent >= spec.minVolume && subnets >= spec.minSubnets && verified < spec.threshold * sent) {
    s.openUntil = now + spec.coolOffMs;
    const wasOpen = s.open;
    s.open = true;
    keepBreaker(s, spec.windowMs);
    if (wasOpen) return undefined;
    return { state: 'open', sent: Math.round(sent), verified: Math.round(verified) };
  }
  if (!s.open) return undefined;
  s.open = false;
  keepBreaker(s, spec.windowMs);
  return { state: 'closed', sent: Math.round(sent), verified: Math.round(verified) };
}

/** The same issue run again: its distinct secret is stored, with the expiry it set. */
function isRerun(code: CodeRecord | undefined, input: IssueInput): boolean {
  return (
    input.distinctSecret === true &&
    code?.secret === input.secret &&
    code.expiresAt === input.now + input.ttlMs
  );
}

/**
 * Where the phone stands against its failure ceilings: the ms until the window ends when `hardFailLimit` is
 * reached (refused), -1 when `failLimit` is reached and no captcha was solved, else 0.
 */
function failuresOf(
  record: PhoneRecord,
  input: {
    now: number;
    failLimit: number;
    hardFailLimit: number;
    failWindowMs: number;
    captchaSolved: boolean;
  },
): number {
  const end = record.failStart + input.failWindowMs;
  if (input.now >= end) return 0;
  if (record.failCount >= input.hardFailLimit) return end - input.now;
  return record.failCount >= input.failLimit && !input.captchaSolved ? -1 : 0;
}

/** A send window holding `count` sends of `limit`: room, a captcha first, or a refusal. */
function windowFull(
  count: number,
  limit: number,
  input: { captchaPastLimits: boolean; captchaSolved: boolean },
): 'room' | 'captcha' | 'refuse' {
  if (count < limit) return 'room';
  if (!input.captchaPastLimits || count >= 2 * limit) return 'refuse';
  return input.captchaSolved ? 'room' : 'captcha';
}

/** Counts one wrong guess on the code and one failure for the phone; returns the guesses left. */
function countFailure(record: PhoneRecord, code: CodeRecord, now: number, limits: ReserveInput): number {
  code.attempts += 1;
  // A failure window starts at the first failure when none is counted (none yet, or the last window ended).
  // A success does not clear it: the ceiling bounds the wrong guesses per phone per window, whatever comes between.
  if (record.failCount === 0 || now >= record.failStart + limits.failWindowMs) {
    record.failStart = now;
    record.failCount = 0;
  }
  record.failCount += 1;
  return Math.max(0, Math.min(limits.maxAttempts - code.attempts, limits.hardFailLimit - record.failCount));
}

function consume(code: CodeRecord): void {
  code.secret = '';
  code.attempts = 0;
}

/** Compares two strings without an early exit. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** A token's record is the phone's: RedisStore keeps it under the phone's hash tag. */
const tokenKey = (phone: string, jti: string) => `${phone}\u0000${jti}`;

/** When a record of `kind` may be dropped (the engine's time). */
function expiryOf(kind: MemoryStoreKind, value: unknown): number {
  switch (kind) {
    case 'windows': {
      const bucket = value as { start: number; windowMs: number };
      return bucket.start + bucket.windowMs;
    }
    case 'tokens':
      return value as number;
    default:
      return (value as { expiresAt: number }).expiresAt;
  }
}
