import { randomBytes } from 'node:crypto';
import { type Admission, admissionPlanner, regionOf } from './admission.js';
import { captchaPngDataUri, captchaText, renderCaptchaPng } from './captcha/image.js';
import { deriveKeys, generateCode, hashCode, mac96, randomId } from './code.js';
import { Deadlines } from './deadlines.js';
import { consoleSender } from './dev-senders.js';
import { causeOf, type ErrorDetails, SmsOtpConfigError, SmsOtpError, tooMany } from './errors.js';
import { attachEvents, BLOCKING_CODES, Events, type SmsOtpEventName, type SmsOtpListener } from './events.js';
import { hmacSha256 } from './hmac.js';
import { parseOptions, type ResolvedOptions, type SmsOtpOptions } from './options.js';
import { maskPhone, type NormalizedPhone, PhoneParser } from './phone.js';
import { constantTimeEqual, MemoryStore } from './stores/memory-store.js';
import type {
  AdmitIssueResult,
  AdmitResult,
  BreakerSpec,
  BreakerTransition,
  Conversion,
  IssueResult,
  OtpStore,
} from './stores/types.js';
import { readToken, signToken, type VerifiedPhone } from './token.js';
import { mayHaveDelivered } from './vendors/http.js';
import { checkVendorPurposes } from './vendors/templates.js';
import type { Channel, CodeProvider, Sender, Vendor } from './vendors/types.js';

/** Who a send or verify is for: a phone number, or a user id the host resolves (`resolvePhone`). */
export interface Recipient {
  /** E.164, or national with `defaultCountry` / `country`. */
  phone?: string;
  /** A user id, when the host configured `resolvePhone`. */
  userId?: string;
  /** How to read a national `phone`: `"KH"` or `"+855"`. */
  country?: string;
  /** One of the configured purposes. Default: the first one (`'login'`). */
  purpose?: string;
}

export interface SendInput extends Recipient {
  /** Default `'sms'`; `'voice'` where the vendor supports it. */
  channel?: Channel;
  /** The client's IP, for the per-IP window. Without it that window is not applied. */
  ip?: string;
  /** The built-in captcha's key (`GET {prefix}/captcha`), or the key a vendor's captcha was made with. */
  captchaKey?: string;
  /** The captcha answer, or a Turnstile / hCaptcha / reCAPTCHA token. */
  captcha?: string;
}

export interface SendResult {
  /** Seconds the code stays valid. */
  expiresIn: number;
  /** Seconds before another code may be sent to this phone for this purpose. */
  resendIn: number;
  /** 128-bit random id of this send. */
  requestId: string;
  /** The code itself, only with `exposeCode: true` (never in production). */
  devCode?: string;
}

export interface VerifyInput extends Recipient {
  code: string;
  /** The `requestId` the send returned; required with `requireRequestId: true`. */
  requestId?: string;
}

export interface VerifyResult {
  /** Proof of the verification for the guard (`X-Sms-Token`). */
  token: string;
  /** Seconds the token is good for. */
  expiresIn: number;
  phone: string;
  purpose: string;
}

export interface CheckTokenOptions {
  /**
   * The purpose the token must have been made for. Without it any configured purpose passes (a token of a
   * purpose this engine does not configure is `TOKEN_INVALID`).
   */
  purpose?: string;
  /** Makes the token good for this one check. Default `true`. */
  consume?: boolean;
}

/** A built-in image captcha: show `image`, send back `captchaKey` and the answer with `/send`. */
export interface Captcha {
  captchaKey: string;
  /** `data:image/png;base64,…` */
  image: string;
  /** Seconds the captcha can be answered. */
  expiresIn: number;
}

/** The engine `createSmsOtp` returns. */
export interface SmsOtp {
  /** The options after defaults (read-only; the secret is redacted). */
  readonly options: Readonly<ResolvedOptions>;
  send(input: SendInput): Promise<SendResult>;
  verify(input: VerifyInput): Promise<VerifyResult>;
  checkToken(token: string | undefined, options?: CheckTokenOptions): Promise<VerifiedPhone>;
  /** Makes a built-in image captcha (single use, answer case-insensitive). */
  createCaptcha(input?: { ip?: string }): Promise<Captcha>;
  /** Subscribes to `sent`, `verified`, `failed`, `blocked` or `breaker`; returns the unsubscribe function. */
  on<E extends SmsOtpEventName>(event: E, listener: SmsOtpListener<E>): () => void;
  off<E extends SmsOtpEventName>(event: E, listener: SmsOtpListener<E>): void;
  /** Stops timers of a store the engine made itself (the default MemoryStore). */
  close(): Promise<void>;
}

/** A recipient the engine can key: its E.164 number, or a stand-in key for an unknown user id. */
interface Target {
  key: string;
  phone: NormalizedPhone | undefined;
}

const CODE_FORMAT = /^[0-9]{1,20}$/;
const WHITESPACE = /\s/;
let warnedRandomSecret = false;

/**
 * Creates the engine. Options are checked once, here: a bad one throws `SmsOtpConfigError` naming it.
 *
 * @example
 * const otp = createSmsOtp({
 *   secret: process.env.SMS_OTP_SECRET,
 *   store: new RedisStore({ client: new Redis(process.env.REDIS_URL) }),
 *   sender: consoleSender(),
 *   purposes: ['login', 'reset-password'],
 *   defaultCountry: 'CN',
 * });
 * const { requestId } = await otp.send({ phone: '13800138000', purpose: 'login', ip: req.ip });
 * const { token } = await otp.verify({ phone: '13800138000', purpose: 'login', code: '123456' });
 */
export function createSmsOtp(input: SmsOtpOptions = {}): SmsOtp {
  const options = parseOptions(input);
  const logger = options.logger ?? console;
  let secret = options.secret;
  if (!secret) {
    secret = randomBytes(32).toString('base64url');
    if (!warnedRandomSecret) {
      warnedRandomSecret = true;
      logger.warn(
        'sms-otp: no `secret` given; using a random one for this process. Codes and tokens will not survive a restart or work across instances. Set SMS_OTP_SECRET (32+ bytes) before production.',
      );
    }
  }
  const ownStore = !options.store;
  const store: OtpStore = options.store ?? new MemoryStore();
  const vendor: Vendor = options.sender ?? consoleSender();
  const channels = new Set<Channel>(vendor.channels ?? ['sms']);
  if (options.exposeCode && !(vendor.kind === 'sender' && vendor.development === true)) {
    // Refused only under NODE_ENV=production (the contract); anywhere else it is said out loud, since a
    // deployment without NODE_ENV would hand every code out.
    logger.warn(
      `sms-otp: exposeCode is on with ${vendor.name}, a sender that delivers: every send response carries the code it sends. Use it with consoleSender or memorySender only.`,
    );
  }
  if (options.captcha.verifier === 'vendor' && !(vendor.kind === 'provider' && vendor.checksCaptcha)) {
    // Answers would be taken as right without anyone checking them: every captcha policy bypassed.
    throw new SmsOtpConfigError(
      'captcha.verifier',
      `'vendor' needs a code provider that checks captchas itself (deepcloudCodes); ${vendor.name} does not`,
    );
  }
  checkVendorPurposes(vendor, options.purposes);
  const keys = deriveKeys(secret);
  const phones = new PhoneParser(options.defaultCountry);
  const allowed = options.allowedCountries ? new Set<string>(options.allowedCountries) : undefined;
  const blocked = new Set<string>(options.blockedCountries ?? []);
  const purposes = new Set(options.purposes);
  const clock = options.clock ?? Date.now;
  /** The engine's time in whole seconds (as ms): every limit is in seconds, and all stores see the same. */
  const now = () => Math.floor(clock() / 1000) * 1000;
  const ttlMs = options.ttl * 1000;
  const cooldownsMs = (
    Array.isArray(options.resendCooldown) ? options.resendCooldown : [options.resendCooldown]
  ).map((seconds) => seconds * 1000);
  const limits = {
    hourLimit: options.sendLimits.perPhoneHour,
    dayLimit: options.sendLimits.perPhoneDay,
    failLimit: options.maxFailuresPerPhone,
    failWindowMs: options.failureWindow * 1000,
  };
  const checkLimits = {
    failLimit: limits.failLimit,
    failWindowMs: limits.failWindowMs,
    maxAttempts: options.maxAttempts,
  };
  const planner = admissionPlanner(options);
  const captchaPolicy = options.captcha;
  const captchaAfter = captchaPolicy.policy === 'adaptive' ? captchaPolicy.afterSendsPerPhone : undefined;
  const testNumbers = new Map(Object.entries(options.testNumbers ?? {}));
  const events = new Events();
  /**
   * Successful verifies still to be counted in the conversion breakers. They ride on the next send's
   * admission step (same hash tag, same round trip), so a verify stays one store round trip; an idle
   * instance flushes them within a second.
   */
  const conversions = new ConversionBuffer((list) =>
    guard(() => store.convert({ now: now(), conversions: list })),
  );
  /** How long real deliveries take (moving average), so that sends to unknown user ids take as long. */
  let deliveryMs = 0;

  /** How much longer than a token a used token's mark is kept (clock differences between instances). */
  const usedTokenMarginMs = Math.max(options.tokenTtl * 1000, USED_TOKEN_MARGIN_MS);

  const deadlines = new Deadlines(options.storeTimeout);
  const vendorDeadlines = new Deadlines(options.sendTimeout);

  /** Runs a store call within `storeTimeout`; a late answer is handed to `late` to be undone. */
  function guard<T>(call: () => Promise<T>, late?: (value: T) => unknown): Promise<T> {
    let promise: Promise<T>;
    try {
      promise = call();
    } catch (error) {
      return Promise.reject(storeError(error));
    }
    return deadlines.race(
      promise,
      () => new SmsOtpError('STORE_UNAVAILABLE', { reason: 'timeout' }),
      storeError,
      late,
    );
  }

  /** Runs a vendor (or captcha service) call within `sendTimeout`. */
  function vendorCall<T>(
    call: () => Promise<T>,
    who: Record<string, string> = { vendor: vendor.name },
  ): Promise<T> {
    return vendorDeadlines.race(
      Promise.resolve().then(call),
      () => new SmsOtpError('SEND_FAILED', { ...who, reason: 'timeout' }),
      (error) => vendorError(error, who),
    );
  }

  function purposeOf(purpose: string | undefined): string {
    const value = purpose ?? options.purposes[0]!;
    if (!purposes.has(value)) throw new SmsOtpError('UNKNOWN_PURPOSE', { purposes: options.purposes });
    return value;
  }

  /**
   * The E.164 phone of a recipient. An unknown user id gets a stand-in key of its own (an HMAC of the id),
   * so that its sends meet the same store steps, limits and answers as a real user's, and nothing is sent.
   */
  function phoneOf(recipient: Recipient): Target | Promise<Target> {
    if (recipient.phone === undefined && recipient.userId !== undefined && options.resolvePhone) {
      return resolveUser(recipient.userId);
    }
    return numberOf(recipient.phone, recipient.country);
  }

  async function resolveUser(userId: string): Promise<Target> {
    // The host's lookup (a database, usually) is bounded like a store call: one that hangs or fails is
    // STORE_UNAVAILABLE (the cause's name and message kept on the error), not a request that never ends or a 500.
    const resolved = await guard(async () => options.resolvePhone!(userId));
    if (!resolved) {
      return { key: `u:${mac96(keys.code, `user\u0000${userId}`)}`, phone: undefined };
    }
    // A number the host resolved is read with `defaultCountry`, never with the client's `country`.
    return numberOf(resolved, undefined);
  }

  function numberOf(phone: string | undefined, country: string | undefined): Target {
    if (typeof phone !== 'string' || phone.length === 0) {
      throw new SmsOtpError('INVALID_REQUEST', {
        issues: [{ path: 'phone', message: 'phone (or userId) is required' }],
      });
    }
    const parsed = phones.parse({ phone, country });
    // Numbers of no country count as region `001` (allowed, blocked and capped under that name).
    const region = regionOf(parsed);
    if ((allowed && !allowed.has(region)) || blocked.has(region)) {
      throw new SmsOtpError('COUNTRY_NOT_ALLOWED', { country: region });
    }
    return { key: parsed.e164, phone: parsed };
  }

  /** Checks a captcha the client sent; `false` when it sent none. A wrong answer is `CAPTCHA_INVALID`. */
  async function solveCaptcha(input: SendInput): Promise<boolean> {
    if (input.captcha === undefined) return false;
    const verifier = captchaPolicy.verifier;
    if (verifier === 'vendor') return true;
    if (verifier === 'builtin') {
      if (!input.captchaKey) throw new SmsOtpError('CAPTCHA_INVALID', { reason: 'no_key' });
      const key = input.captchaKey;
      const stored = await guard(() => store.takeCaptcha({ key, now: now() }));
      const [hash = '', until = '0'] = stored?.split('.') ?? [];
      if (now() >= Number(until) || !constantTimeEqual(hash, captchaHash(key, input.captcha))) {
        throw new SmsOtpError('CAPTCHA_INVALID');
      }
      return true;
    }
    const token = input.captcha;
    const ok = await vendorCall(() => verifier.verify({ token, ...(input.ip ? { ip: input.ip } : {}) }), {
      captchaVerifier: verifier.name,
    });
    if (!ok) throw new SmsOtpError('CAPTCHA_INVALID');
    return true;
  }

  function captchaHash(key: string, answer: string): string {
    return hmacSha256(keys.code, `captcha\u0000${key}\u0000${answer.trim().toUpperCase()}`);
  }

  function reportTransitions(transitions: BreakerTransition[]): void {
    for (const t of transitions) {
      const [, scope, key] = t.id.split(/^breaker:(country|prefix):/) as [
        string,
        'country' | 'prefix',
        string,
      ];
      events.emit('breaker', { scope, key, state: t.state, sent: t.sent, verified: t.verified });
    }
  }

  function admitRefused(result: Exclude<AdmitResult, { ok: true }>, admission: Admission): SmsOtpError {
    const [kind] = result.id.split(':');
    if (result.reason === 'captcha') {
      return new SmsOtpError('CAPTCHA_REQUIRED', { scope: result.id.startsWith('ip:') ? 'ip' : 'breaker' });
    }
    if (result.reason === 'blocked')
      return tooMany('RATE_LIMITED', result.retryAfterMs, { scope: kind, reason: 'breaker' });
    const bucket = admission.buckets.find((b) => b.id === result.id);
    const details = bucket ? { limit: bucket.limit, window: bucket.windowMs / 1000 } : {};
    return tooMany('RATE_LIMITED', result.retryAfterMs, { scope: kind, ...details });
  }

  function issueRefused(result: Exclude<IssueResult, { ok: true }>): SmsOtpError {
    switch (result.reason) {
      case 'cooldown':
        return tooMany('RESEND_TOO_SOON', result.retryAfterMs, {
          scope: 'phone',
          limit: 1,
          window: (result.cooldownMs ?? result.retryAfterMs) / 1000,
        });
      case 'locked':
        return tooMany('TOO_MANY_ATTEMPTS', result.retryAfterMs, { scope: 'phone' });
      case 'captcha':
        return new SmsOtpError('CAPTCHA_REQUIRED', { scope: 'phone' });
      case 'phone_hour':
        return tooMany('RATE_LIMITED', result.retryAfterMs, {
          scope: 'phone',
          limit: limits.hourLimit,
          window: 3600,
        });
      default:
        return tooMany('RATE_LIMITED', result.retryAfterMs, {
          scope: 'phone',
          limit: limits.dayLimit,
          window: 86_400,
        });
    }
  }

  /** Reports a refused or failed operation as an event; returns the error, for the caller to throw. */
  function report(
    operation: 'send' | 'verify',
    error: unknown,
    phone: string | undefined,
    purpose: string | undefined,
  ): unknown {
    const name = error instanceof SmsOtpError && (BLOCKING_CODES.has(error.code) ? 'blocked' : 'failed');
    if (name && events.has(name) && error instanceof SmsOtpError) {
      const base = {
        operation,
        ...(phone ? { phone: maskPhone(phone) } : {}),
        ...(purpose ? { purpose } : {}),
        code: error.code,
      };
      if (BLOCKING_CODES.has(error.code)) {
        const scope = error.details.scope;
        events.emit('blocked', { ...base, ...(typeof scope === 'string' ? { scope } : {}) });
      } else {
        const reason = error.details.reason;
        events.emit('failed', { ...base, ...(typeof reason === 'string' ? { reason } : {}) });
      }
    }
    return error;
  }

  function testCode(e164: string | undefined): string | undefined {
    if (!e164 || testNumbers.size === 0) return undefined;
    if (options.testNumbersValidUntil && now() >= options.testNumbersValidUntil.getTime()) return undefined;
    return testNumbers.get(e164);
  }

  async function send(input: SendInput): Promise<SendResult> {
    let phoneForEvents: string | undefined;
    let purpose: string | undefined;
    try {
      purpose = purposeOf(input.purpose);
      const channel = input.channel ?? 'sms';
      if (channel !== 'sms' && channel !== 'voice') {
        throw new SmsOtpError('INVALID_REQUEST', {
          issues: [{ path: 'channel', message: 'must be "sms" or "voice"' }],
        });
      }
      if (!channels.has(channel)) {
        throw new SmsOtpError('INVALID_REQUEST', {
          issues: [{ path: 'channel', message: `${channel} is not supported by ${vendor.name}` }],
        });
      }
      const target = phoneOf(input);
      const { key, phone } = target instanceof Promise ? await target : target;
      phoneForEvents = phone?.e164;
      return await deliver(input, channel, purpose, key, phone);
    } catch (error) {
      throw report('send', error, phoneForEvents, purpose);
    }
  }

  async function deliver(
    input: SendInput,
    channel: Channel,
    purpose: string,
    key: string,
    phone: NormalizedPhone | undefined,
  ): Promise<SendResult> {
    const requestId = randomId();
    const captchaSolved = input.captcha === undefined ? false : await solveCaptcha(input);
    if (captchaPolicy.policy === 'always' && !captchaSolved)
      throw new SmsOtpError('CAPTCHA_REQUIRED', { scope: 'policy' });
    const at = now();

    const admission = planner.forSend(phone, input.ip);
    const counted = admission.buckets.length + admission.breakers.length > 0;
    const release = () => (counted ? guard(() => store.release(admission)).catch(() => {}) : undefined);

    const fixed = testCode(phone?.e164);
    const makesCode = vendor.kind === 'sender' || fixed !== undefined;
    const code = fixed ?? (makesCode ? generateCode(options.codeLength) : '');
    const binding = options.requireRequestId ? requestId : '';
    const secret = !phone
      ? `x:${requestId}`
      : makesCode
        ? hashCode(keys.code, purpose, key, code, binding)
        : `p:${requestId}`;
    const target = { phone: key, purpose };
    // Spelled out rather than spread: this object is built on every send.
    const issueInput = {
      phone: key,
      purpose,
      hourLimit: limits.hourLimit,
      dayLimit: limits.dayLimit,
      failLimit: limits.failLimit,
      failWindowMs: limits.failWindowMs,
      now: at,
      secret,
      ttlMs,
      cooldownsMs,
      captchaSolved,
      captchaAfter,
      distinctSecret: fixed === undefined,
    };
    const undoLate = (late: IssueResult | undefined) =>
      late?.ok && store.rollback({ ...target, now: now(), secret, undo: late.undo });

    // The shared windows and the phone's record: one store step (one round trip on a standalone Redis).
    let issued: IssueResult;
    if (counted) {
      const carried = conversions.take();
      let result: AdmitIssueResult;
      try {
        result = await guard(
          () =>
            store.admitAndIssue({ now: at, ...admission, captchaSolved, conversions: carried }, issueInput),
          async (late) => {
            if (!late.issue?.ok) return;
            await undoLate(late.issue);
            await store.release(admission);
          },
        );
      } catch (error) {
        conversions.restore(carried);
        throw error;
      }
      reportTransitions(result.admit.transitions);
      if (!result.admit.ok) throw admitRefused(result.admit, admission);
      issued = result.issue!;
    } else {
      issued = await guard(() => store.issue(issueInput), undoLate);
    }
    if (!issued.ok) throw issueRefused(issued);
    const undo = issued.undo;

    const started = Date.now();
    // When the engine stops waiting (`sendTimeout`): vendors start nothing after it (failover, adapters).
    const deadline = started + options.sendTimeout;
    let vendorName = vendor.name;
    let messageId: string | undefined;
    let delivered = false;
    try {
      if (!phone) {
        // An unknown user id: take about as long as a real delivery, send nothing.
        await new Promise((resolve) => setTimeout(resolve, deliveryMs * (0.8 + Math.random() * 0.4)));
      } else if (fixed !== undefined) {
        vendorName = 'test-number';
      } else if (vendor.kind === 'sender') {
        const receipt = await vendorCall(() =>
          (vendor as Sender).send({
            phone: key,
            code,
            purpose,
            channel,
            ttl: options.ttl,
            requestId,
            deadline,
          }),
        );
        delivered = true;
        vendorName = receipt.vendor;
        messageId = receipt.messageId;
      } else {
        const result = await vendorCall(() =>
          (vendor as CodeProvider).start({
            phone: key,
            purpose,
            channel,
            ttl: options.ttl,
            requestId,
            deadline,
            ...(input.userId !== undefined && input.phone === undefined ? { userId: input.userId } : {}),
            ...(captchaPolicy.verifier === 'vendor' && input.captcha !== undefined
              ? { captcha: input.captcha, ...(input.captchaKey ? { captchaKey: input.captchaKey } : {}) }
              : {}),
          }),
        );
        delivered = true;
        vendorName = result.vendor;
        messageId = result.messageId;
        const to = `r:${requestBinding(binding)}${result.ref}`;
        await guard(() => store.rekey({ ...target, from: secret, to }));
      }
    } catch (error) {
      // The send failed: the code and its cooldown are undone, so that the user can ask again at once. The
      // counts (phone, IP, country, budget) are undone only when nothing went out: a message that may have
      // been delivered was paid for, and uncounting it would let a slow vendor deliver any number of them.
      const keepCounts = delivered || (error instanceof SmsOtpError && mayHaveDelivered(error));
      await guard(() => store.rollback({ ...target, now: now(), secret, undo, keepCounts })).catch(() => {});
      if (!keepCounts) await release();
      throw error;
    }
    if (phone && fixed === undefined)
      deliveryMs = deliveryMs === 0 ? Date.now() - started : deliveryMs * 0.9 + (Date.now() - started) * 0.1;

    const result: SendResult = { expiresIn: options.ttl, resendIn: issued.cooldownMs / 1000, requestId };
    if (options.exposeCode && phone && code) result.devCode = code;
    if (phone && events.has('sent')) {
      events.emit('sent', {
        phone: maskPhone(phone.e164),
        purpose,
        channel,
        vendor: vendorName,
        requestId,
        ...(messageId ? { messageId } : {}),
        ...(phone.country ? { country: phone.country } : {}),
        test: fixed !== undefined,
      });
    }
    return result;
  }

  function verify(input: VerifyInput): Promise<VerifyResult> {
    let purpose: string | undefined;
    try {
      purpose = purposeOf(input.purpose);
      const code = codeOf(input.code);
      if (options.requireRequestId && typeof input.requestId !== 'string') {
        throw new SmsOtpError('INVALID_REQUEST', {
          issues: [{ path: 'requestId', message: 'requestId is required' }],
        });
      }
      const binding = options.requireRequestId ? (input.requestId as string) : '';
      const target = phoneOf(input);
      if (target instanceof Promise) {
        const checked = purpose;
        return target.then(
          (resolved) => checkTarget(resolved, checked, code, binding),
          (error: unknown) => {
            throw report('verify', error, undefined, checked);
          },
        );
      }
      return checkTarget(target, purpose, code, binding);
    } catch (error) {
      return Promise.reject(report('verify', error, undefined, purpose));
    }
  }

  /** The code a client typed, spaces removed; `INVALID_REQUEST` unless it is 1 to 20 digits. */
  function codeOf(value: unknown): string {
    let code = typeof value === 'string' ? value : '';
    if (WHITESPACE.test(code)) code = code.replace(/\s+/g, '');
    if (!CODE_FORMAT.test(code)) {
      throw new SmsOtpError('INVALID_REQUEST', {
        issues: [{ path: 'code', message: 'must be a string of digits' }],
      });
    }
    return code;
  }

  function checkTarget({ key, phone }: Target, purpose: string, code: string, binding: string) {
    return check(key, purpose, code, binding).then(
      (result) => {
        if (events.has('verified')) events.emit('verified', { phone: maskPhone(key), purpose });
        if (phone) for (const spec of planner.forVerify(phone)) conversions.add(spec);
        return result;
      },
      (error: unknown) => {
        throw report('verify', error, phone?.e164, purpose);
      },
    );
  }

  /**
   * Checks a code against the store (or the code provider). One store round trip for a stored code; the
   * chain is written with `then` rather than `async` layers because every wrong guess of an attack runs it.
   */
  function check(key: string, purpose: string, code: string, binding: string): Promise<VerifyResult> {
    if (vendor.kind !== 'sender' && testCode(key) === undefined)
      return checkWithProvider(key, purpose, code, binding);
    // Spelled out rather than spread: this object is built on every verify.
    const input = {
      phone: key,
      purpose,
      failLimit: checkLimits.failLimit,
      failWindowMs: checkLimits.failWindowMs,
      maxAttempts: checkLimits.maxAttempts,
      now: now(),
      candidate: hashCode(keys.code, purpose, key, code, binding),
    };
    return guard(() => store.verify(input)).then((result) => {
      if (result.status !== 'ok') throw checkFailed(result);
      return verified(key, purpose);
    });
  }

  /**
   * With `requireRequestId`, what a provider's reference is stored behind: a MAC of the send's requestId, so
   * that only a verify presenting that requestId reaches the vendor (16 characters and a `:`).
   */
  function requestBinding(requestId: string): string {
    return requestId === '' ? '' : `${mac96(keys.code, `request\u0000${requestId}`)}:`;
  }

  async function checkWithProvider(
    key: string,
    purpose: string,
    code: string,
    binding: string,
  ): Promise<VerifyResult> {
    const target = { phone: key, purpose };
    const reserved = await guard(() => store.reserve({ ...target, ...checkLimits, now: now() }));
    if (reserved.status !== 'reserved') throw checkFailed(reserved);
    // The reservation already counts as a wrong guess: a placeholder (the vendor call still running) or
    // another send's requestId ends here, and the vendor is not asked.
    const bound = `r:${requestBinding(binding)}`;
    if (!constantTimeEqual(reserved.ref.slice(0, bound.length), bound))
      throw new SmsOtpError('CODE_INVALID', { attemptsLeft: reserved.attemptsLeft });
    const ref = reserved.ref.slice(bound.length);
    let right: boolean;
    try {
      const deadline = Date.now() + options.sendTimeout;
      right = await vendorCall(() => (vendor as CodeProvider).check({ ...target, code, ref, deadline }));
    } catch (error) {
      if (error instanceof SmsOtpError && error.code === 'CODE_INVALID') right = false;
      else throw error;
    }
    if (!right) throw new SmsOtpError('CODE_INVALID', { attemptsLeft: reserved.attemptsLeft });
    const settled = await guard(() => store.settle({ ...target, now: now(), ref: reserved.ref, ok: true }));
    if (settled.status !== 'ok') throw new SmsOtpError('CODE_EXPIRED');
    return verified(key, purpose);
  }

  function verified(key: string, purpose: string): VerifyResult {
    const token = signToken(keys.token, { phone: key, purpose, jti: randomId() }, now(), options.tokenTtl);
    return { token, expiresIn: options.tokenTtl, phone: key, purpose };
  }

  async function checkToken(
    token: string | undefined,
    check: CheckTokenOptions = {},
  ): Promise<VerifiedPhone> {
    if (typeof token !== 'string' || token.length === 0) throw new SmsOtpError('NOT_VERIFIED');
    if (token.length > 4096) throw new SmsOtpError('TOKEN_INVALID');
    const at = now();
    const claims = readToken(keys.token, token, at);
    if (check.purpose !== undefined && claims.purpose !== check.purpose) {
      throw new SmsOtpError('PURPOSE_MISMATCH', { expected: check.purpose });
    }
    // A token of a purpose this engine does not have (another engine's, under the same secret) is not its own.
    if (!purposes.has(claims.purpose)) throw new SmsOtpError('TOKEN_INVALID');
    const consume = check.consume ?? true;
    const fresh = await guard(
      () =>
        store.useToken({
          jti: claims.jti,
          // Until the token's expiry on this clock, and as long again (at least 5 minutes more): an instance whose
          // clock runs behind still takes the token as live then, and must still find it used.
          ttlMs: Math.max(0, claims.exp * 1000 - at) + usedTokenMarginMs,
          consume,
          now: at,
        }),
      // A use that lands after the request was answered STORE_UNAVAILABLE served nobody: take it back.
      (late) => (late && consume ? store.releaseToken?.({ jti: claims.jti, now: now() }) : undefined),
    );
    if (!fresh) throw new SmsOtpError('TOKEN_USED');
    return { phone: claims.phone, purpose: claims.purpose, verifiedAt: claims.verifiedAt };
  }

  async function createCaptcha(input: { ip?: string } = {}): Promise<Captcha> {
    const admission = planner.forCaptcha(input.ip);
    if (admission.buckets.length > 0) {
      const admitted = await guard(() => store.admit({ now: now(), ...admission, captchaSolved: false }));
      if (!admitted.ok) throw admitRefused(admitted, admission);
    }
    const captchaKey = randomId();
    const text = captchaText();
    // The deadline travels with the hash, so expiry follows the engine's clock on every store.
    const ttlMs = captchaPolicy.ttl * 1000;
    const answer = `${captchaHash(captchaKey, text)}.${now() + ttlMs}`;
    await guard(() => store.putCaptcha({ key: captchaKey, answer, ttlMs, now: now() }));
    return { captchaKey, image: captchaPngDataUri(renderCaptchaPng(text)), expiresIn: captchaPolicy.ttl };
  }

  return attachEvents(events, {
    options: Object.freeze({ ...options, secret: options.secret ? '[redacted]' : undefined }),
    send,
    verify,
    checkToken,
    createCaptcha,
    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
    async close() {
      await conversions.flush();
      conversions.stop();
      if (ownStore) await store.close?.();
    },
  });
}

/** Verifies counted per breaker until they are handed to the store. */
class ConversionBuffer {
  readonly #pending = new Map<string, Conversion>();
  readonly #write: (list: Conversion[]) => Promise<unknown>;
  #timer: NodeJS.Timeout | undefined;

  constructor(write: (list: Conversion[]) => Promise<unknown>) {
    this.#write = write;
  }

  add(spec: BreakerSpec, count = 1): void {
    const entry = this.#pending.get(spec.id);
    if (entry) entry.count += count;
    else this.#pending.set(spec.id, { spec, count });
    if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), 1000);
      this.#timer.unref();
    }
  }

  /** Everything pending, now owned by the caller (give it back with `restore` if the store failed). */
  take(): Conversion[] {
    if (this.#pending.size === 0) return [];
    const list = [...this.#pending.values()];
    this.#pending.clear();
    return list;
  }

  restore(list: Conversion[]): void {
    for (const { spec, count } of list) this.add(spec, count);
  }

  async flush(): Promise<void> {
    this.stop();
    const list = this.take();
    if (list.length === 0) return;
    try {
      await this.#write(list);
    } catch {
      this.restore(list);
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** The least a used token's mark outlives the token by (clock differences between instances). */
const USED_TOKEN_MARGIN_MS = 5 * 60_000;

/** Maps a store result that is not a success to the error a client sees. */
function checkFailed(
  result:
    | { status: 'invalid'; attemptsLeft: number }
    | { status: 'expired' }
    | { status: 'dead'; retryAfterMs: number }
    | { status: 'locked'; retryAfterMs: number },
): SmsOtpError {
  switch (result.status) {
    case 'invalid':
      return new SmsOtpError('CODE_INVALID', { attemptsLeft: result.attemptsLeft });
    case 'dead':
      return tooMany('TOO_MANY_ATTEMPTS', result.retryAfterMs, { scope: 'code' });
    case 'locked':
      return tooMany('TOO_MANY_ATTEMPTS', result.retryAfterMs, { scope: 'phone' });
    default:
      return new SmsOtpError('CODE_EXPIRED');
  }
}

function storeError(error: unknown): SmsOtpError {
  if (error instanceof SmsOtpError) return error;
  return new SmsOtpError('STORE_UNAVAILABLE', { reason: 'error' }, undefined, { cause: causeOf(error) });
}

const VENDOR_CODES = new Set([
  'SEND_FAILED',
  'RATE_LIMITED',
  'INVALID_PHONE',
  'CODE_INVALID',
  'CODE_EXPIRED',
  'CAPTCHA_INVALID',
  'CAPTCHA_REQUIRED',
]);

function vendorError(error: unknown, who: Record<string, string>): SmsOtpError {
  if (error instanceof SmsOtpError && VENDOR_CODES.has(error.code)) return error;
  const details: ErrorDetails = { ...who };
  return new SmsOtpError('SEND_FAILED', details, undefined, { cause: causeOf(error) });
}
