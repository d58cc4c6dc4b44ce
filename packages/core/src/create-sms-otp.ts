import { randomBytes } from 'node:crypto';
import { deriveKeys, generateCode, hashCode, randomId } from './code.js';
import { consoleSender } from './dev-senders.js';
import { type ErrorDetails, SmsOtpError, tooMany } from './errors.js';
import { parseOptions, type ResolvedOptions, type SmsOtpOptions } from './options.js';
import { type NormalizedPhone, PhoneParser } from './phone.js';
import { MemoryStore } from './stores/memory-store.js';
import type { IssueResult, OtpStore, PhonePurpose } from './stores/types.js';
import { readToken, signToken, type VerifiedPhone } from './token.js';
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
  /** The purpose the token must have been made for. Without it any configured purpose passes. */
  purpose?: string;
  /** Makes the token good for this one check. Default `true`. */
  consume?: boolean;
}

/** The engine `createSmsOtp` returns. */
export interface SmsOtp {
  /** The options after defaults (read-only). */
  readonly options: Readonly<ResolvedOptions>;
  send(input: SendInput): Promise<SendResult>;
  verify(input: VerifyInput): Promise<VerifyResult>;
  checkToken(token: string | undefined, options?: CheckTokenOptions): Promise<VerifiedPhone>;
  /** Stops timers of a store the engine made itself (the default MemoryStore). */
  close(): Promise<void>;
}

const HOUR_MS = 3_600_000;
const CODE_FORMAT = /^[0-9]{1,20}$/;
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
  const keys = deriveKeys(secret);
  const phones = new PhoneParser(options.defaultCountry);
  const allowed = options.allowedCountries ? new Set<string>(options.allowedCountries) : undefined;
  const purposes = new Set(options.purposes);
  const now = options.clock ?? Date.now;
  const ttlMs = options.ttl * 1000;
  const limits = {
    hourLimit: options.sendLimits.perPhoneHour,
    dayLimit: options.sendLimits.perPhoneDay,
    failLimit: options.maxFailuresPerPhone,
    failWindowMs: options.failureWindow * 1000,
  };

  /** Runs a store call within `storeTimeout`; a late answer is handed to `late` to be undone. */
  function guard<T>(call: () => Promise<T>, late?: (value: T) => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(new SmsOtpError('STORE_UNAVAILABLE', { reason: 'timeout' }));
      }, options.storeTimeout);
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        if (!done) {
          done = true;
          fn();
        }
      };
      let promise: Promise<T>;
      try {
        promise = call();
      } catch (error) {
        promise = Promise.reject(error);
      }
      promise.then(
        (value) => {
          if (done) {
            Promise.resolve()
              .then(() => late?.(value))
              .catch(() => {});
            return;
          }
          settle(() => resolve(value));
        },
        (error: unknown) => settle(() => reject(storeError(error))),
      );
    });
  }

  /** Runs a vendor call within `sendTimeout`. */
  function vendorCall<T>(call: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new SmsOtpError('SEND_FAILED', { vendor: vendor.name, reason: 'timeout' })),
        options.sendTimeout,
      );
      Promise.resolve()
        .then(call)
        .then(
          (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          (error: unknown) => {
            clearTimeout(timer);
            reject(vendorError(error, vendor.name));
          },
        );
    });
  }

  function purposeOf(purpose: string | undefined): string {
    const value = purpose ?? options.purposes[0]!;
    if (!purposes.has(value)) throw new SmsOtpError('UNKNOWN_PURPOSE', { purposes: options.purposes });
    return value;
  }

  /** The E.164 phone of a recipient; `undefined` for a user id the host does not know. */
  async function phoneOf(recipient: Recipient): Promise<NormalizedPhone | undefined> {
    let phone = recipient.phone;
    if (phone === undefined && recipient.userId !== undefined && options.resolvePhone) {
      const resolved = await options.resolvePhone(recipient.userId);
      if (!resolved) return undefined;
      phone = resolved;
    }
    if (typeof phone !== 'string' || phone.length === 0) {
      throw new SmsOtpError('INVALID_REQUEST', {
        issues: [{ path: 'phone', message: 'phone (or userId) is required' }],
      });
    }
    const parsed = phones.parse({
      phone,
      country: recipient.phone === undefined ? undefined : recipient.country,
    });
    if (allowed && (!parsed.country || !allowed.has(parsed.country))) {
      throw new SmsOtpError('COUNTRY_NOT_ALLOWED', { country: parsed.country ?? null });
    }
    return parsed;
  }

  function refused(result: Exclude<IssueResult, { ok: true }>): SmsOtpError {
    switch (result.reason) {
      case 'cooldown':
        return tooMany('RESEND_TOO_SOON', result.retryAfterMs, {
          scope: 'phone',
          limit: 1,
          window: options.resendCooldown,
        });
      case 'locked':
        return tooMany('TOO_MANY_ATTEMPTS', result.retryAfterMs, { scope: 'phone' });
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

  async function send(input: SendInput): Promise<SendResult> {
    const purpose = purposeOf(input.purpose);
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
    const requestId = randomId();
    const result: SendResult = { expiresIn: options.ttl, resendIn: options.resendCooldown, requestId };
    const recipient = await phoneOf(input);
    // An unknown user id gets the same answer as a known one, and nothing is sent.
    if (!recipient) return result;
    const phone = recipient.e164;
    const at = now();

    const bucket = input.ip ? `ip:${input.ip}` : undefined;
    if (bucket) {
      const hit = { bucket, now: at, limit: options.sendLimits.perIpHour, windowMs: HOUR_MS };
      const counted = await guard(
        () => store.hit(hit),
        (late) => late.ok && store.unhit(hit),
      );
      if (!counted.ok)
        throw tooMany('RATE_LIMITED', counted.retryAfterMs, { scope: 'ip', limit: hit.limit, window: 3600 });
    }
    const uncountIp = () =>
      bucket ? guard(() => store.unhit({ bucket, windowMs: HOUR_MS })).catch(() => {}) : undefined;

    const code = vendor.kind === 'sender' ? generateCode(options.codeLength) : '';
    const secret = vendor.kind === 'sender' ? hashCode(keys.code, purpose, phone, code) : `p:${requestId}`;
    const key: PhonePurpose = { phone, purpose };
    let issued: IssueResult;
    try {
      issued = await guard(
        () =>
          store.issue({
            ...key,
            ...limits,
            now: at,
            secret,
            ttlMs,
            cooldownMs: options.resendCooldown * 1000,
          }),
        (late) => late.ok && store.rollback({ ...key, now: now(), secret, undo: late.undo }),
      );
    } catch (error) {
      await uncountIp();
      throw error;
    }
    if (!issued.ok) {
      await uncountIp();
      throw refused(issued);
    }
    const undo = issued.undo;

    try {
      if (vendor.kind === 'sender') {
        await vendorCall(() =>
          (vendor as Sender).send({ phone, code, purpose, channel, ttl: options.ttl, requestId }),
        );
      } else {
        const started = await vendorCall(() =>
          (vendor as CodeProvider).start({
            phone,
            purpose,
            channel,
            ttl: options.ttl,
            requestId,
            ...(input.userId !== undefined && input.phone === undefined ? { userId: input.userId } : {}),
          }),
        );
        await guard(() => store.rekey({ ...key, from: secret, to: `r:${started.ref}` }));
      }
    } catch (error) {
      // Nothing was delivered (or we cannot know it was): undo the code, the cooldown and the counts.
      await guard(() => store.rollback({ ...key, now: now(), secret, undo })).catch(() => {});
      await uncountIp();
      throw error;
    }
    if (options.exposeCode && code) result.devCode = code;
    return result;
  }

  async function verify(input: VerifyInput): Promise<VerifyResult> {
    const purpose = purposeOf(input.purpose);
    const code = typeof input.code === 'string' ? input.code.replace(/\s+/g, '') : '';
    if (!CODE_FORMAT.test(code)) {
      throw new SmsOtpError('INVALID_REQUEST', {
        issues: [{ path: 'code', message: 'must be a string of digits' }],
      });
    }
    const recipient = await phoneOf(input);
    if (!recipient) throw new SmsOtpError('CODE_EXPIRED');
    const phone = recipient.e164;
    const key = { phone, purpose };
    const checkLimits = {
      failLimit: limits.failLimit,
      failWindowMs: limits.failWindowMs,
      maxAttempts: options.maxAttempts,
    };

    if (vendor.kind === 'sender') {
      const result = await guard(() =>
        store.verify({
          ...key,
          ...checkLimits,
          now: now(),
          candidate: hashCode(keys.code, purpose, phone, code),
        }),
      );
      if (result.status !== 'ok') throw checkFailed(result);
    } else {
      const reserved = await guard(() => store.reserve({ ...key, ...checkLimits, now: now() }));
      if (reserved.status !== 'reserved') throw checkFailed(reserved);
      if (!reserved.ref.startsWith('r:')) throw new SmsOtpError('CODE_EXPIRED');
      let right: boolean;
      try {
        right = await vendorCall(() =>
          (vendor as CodeProvider).check({ ...key, code, ref: reserved.ref.slice(2) }),
        );
      } catch (error) {
        if (error instanceof SmsOtpError && error.code === 'CODE_INVALID') right = false;
        else throw error;
      }
      if (!right) throw new SmsOtpError('CODE_INVALID', { attemptsLeft: reserved.attemptsLeft });
      const settled = await guard(() => store.settle({ ...key, now: now(), ref: reserved.ref, ok: true }));
      if (settled.status !== 'ok') throw new SmsOtpError('CODE_EXPIRED');
    }
    const token = await signToken(keys.token, { phone, purpose, jti: randomId() }, now(), options.tokenTtl);
    return { token, expiresIn: options.tokenTtl, phone, purpose };
  }

  async function checkToken(
    token: string | undefined,
    check: CheckTokenOptions = {},
  ): Promise<VerifiedPhone> {
    if (typeof token !== 'string' || token.length === 0) throw new SmsOtpError('NOT_VERIFIED');
    if (token.length > 4096) throw new SmsOtpError('TOKEN_INVALID');
    const at = now();
    const claims = await readToken(keys.token, token, at);
    if (check.purpose !== undefined && claims.purpose !== check.purpose) {
      throw new SmsOtpError('PURPOSE_MISMATCH', { expected: check.purpose });
    }
    const fresh = await guard(() =>
      store.useToken({
        jti: claims.jti,
        ttlMs: claims.exp * 1000 - at + 1000,
        consume: check.consume ?? true,
      }),
    );
    if (!fresh) throw new SmsOtpError('TOKEN_USED');
    return { phone: claims.phone, purpose: claims.purpose, verifiedAt: claims.verifiedAt };
  }

  return {
    options: Object.freeze({ ...options, secret: options.secret ? '[redacted]' : undefined }),
    send,
    verify,
    checkToken,
    async close() {
      if (ownStore) await store.close?.();
    },
  };
}

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
  return new SmsOtpError('STORE_UNAVAILABLE', { reason: 'error' }, undefined, { cause: error });
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

function vendorError(error: unknown, vendor: string): SmsOtpError {
  if (error instanceof SmsOtpError && VENDOR_CODES.has(error.code)) return error;
  const details: ErrorDetails = { vendor };
  return new SmsOtpError('SEND_FAILED', details, undefined, { cause: error });
}
