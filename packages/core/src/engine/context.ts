/**
 * What the engine's parts share: the resolved options, the store and vendor, the keys, the clock, the events,
 * and the two time limits (store calls, vendor calls). Built once per engine by `createContext`.
 */
import { randomBytes } from 'node:crypto';
import { admissionPlanner, ceilingWarning } from '../admission.js';
import { deriveKeys, type Keys, mac96 } from '../code.js';
import { Deadlines } from '../deadlines.js';
import { consoleSender } from '../dev-senders.js';
import { SmsOtpConfigError, SmsOtpError } from '../errors.js';
import { Events } from '../events.js';
import { isProduction, type Logger, type ResolvedOptions } from '../options.js';
import { MemoryStore } from '../stores/memory-store.js';
import type { OtpStore } from '../stores/types.js';
import { checkVendorPurposes } from '../vendors/templates.js';
import type { Channel, Vendor } from '../vendors/types.js';
import { storeError, vendorError } from './refusals.js';

export interface EngineContext {
  readonly options: ResolvedOptions;
  /** Production rules apply (`mode: 'production'`, or NODE_ENV other than development or test). */
  readonly production: boolean;
  /** Where set-up warnings and failures that need a human go (`options.logger`, else `console`). */
  readonly logger: Logger;
  readonly store: OtpStore;
  /** The engine made `store` itself (the default MemoryStore) and closes it. */
  readonly ownStore: boolean;
  readonly vendor: Vendor;
  /** The channels `vendor` delivers on. */
  readonly channels: ReadonlySet<Channel>;
  readonly keys: Keys;
  readonly events: Events;
  readonly planner: ReturnType<typeof admissionPlanner>;
  /** The limits a send's store step applies to the phone's record. */
  readonly issueLimits: {
    hourLimit: number;
    dayLimit: number;
    failLimit: number;
    hardFailLimit: number;
    failWindowMs: number;
  };
  /** The limits a verify's store step applies to the code and the phone. */
  readonly attemptLimits: {
    failLimit: number;
    hardFailLimit: number;
    failWindowMs: number;
    maxAttempts: number;
  };
  /** The engine's time in whole seconds (as ms): every limit is in seconds, and all stores see the same. */
  now(): number;
  /** Runs a store call within `storeTimeout`; a late answer is handed to `late` to be undone. */
  withinStoreTimeout<T>(call: () => Promise<T>, late?: (value: T) => unknown): Promise<T>;
  /** Runs a vendor (or captcha service) call within `sendTimeout`; `who` names it in `SEND_FAILED`. */
  withinSendTimeout<T>(call: () => Promise<T>, who?: Record<string, string>): Promise<T>;
  /** A configured purpose (the first one by default); `UNKNOWN_PURPOSE` otherwise. */
  purposeOf(purpose: string | undefined): string;
  /** The fixed code of a test number (while `testNumbersValidUntil` allows), or `undefined`. */
  testCode(e164: string | undefined): string | undefined;
  /**
   * What binds a code to its send (`requireRequestId`): a MAC of the send's requestId (16 characters), kept
   * beside the code; a verify presenting another is refused without costing an attempt. `''` without.
   */
  requestBinding(requestId: string): string;
}

let warnedRandomSecret = false;
let warnedNoNodeEnv = false;

/** The context of one engine; checks what options alone could not (vendor against captcha and purposes). */
export function createContext(options: ResolvedOptions): EngineContext {
  const logger: Logger = options.logger ?? console;
  const production = isProduction(options.mode, process.env.NODE_ENV);
  warnMode(options, production, logger);
  const secret = options.secret ?? randomSecret(logger);
  const store: OtpStore = options.store ?? new MemoryStore();
  if (production && store instanceof MemoryStore) {
    logger.warn(
      'sms-otp: MemoryStore in production: codes, limits and tokens live in this process only. Behind a load balancer a code sent through one instance is CODE_EXPIRED on another, and a restart forgets every limit. Use RedisStore when more than one process serves the routes.',
    );
  }
  const vendor: Vendor = options.sender ?? consoleSender();
  checkVendor(options, vendor, logger);
  // In production, one line naming the most SMS a day the options allow: the bill's ceiling, made visible.
  if (production) logger.warn(ceilingWarning(options));
  const keys = deriveKeys(secret);
  const purposes = new Set(options.purposes);
  const clock = options.clock ?? Date.now;
  const now = () => Math.floor(clock() / 1000) * 1000;
  const testNumbers = new Map(Object.entries(options.testNumbers ?? {}));
  const storeDeadlines = new Deadlines(options.storeTimeout);
  const sendDeadlines = new Deadlines(options.sendTimeout);
  const failLimit = options.maxFailuresPerPhone;
  const hardFailLimit = options.lockAfterFailures;
  const failWindowMs = options.failureWindow * 1000;
  const alerts = new HumanAlerts(logger);

  return {
    options,
    production,
    logger,
    store,
    ownStore: !options.store,
    vendor,
    channels: new Set<Channel>(vendor.channels ?? ['sms']),
    keys,
    events: new Events(),
    planner: admissionPlanner(options),
    issueLimits: {
      hourLimit: options.sendLimits.perPhoneHour,
      dayLimit: options.sendLimits.perPhoneDay,
      failLimit,
      hardFailLimit,
      failWindowMs,
    },
    attemptLimits: { failLimit, hardFailLimit, failWindowMs, maxAttempts: options.maxAttempts },
    now,
    withinStoreTimeout<T>(call: () => Promise<T>, late?: (value: T) => unknown): Promise<T> {
      let promise: Promise<T>;
      try {
        promise = call();
      } catch (error) {
        return Promise.reject(storeError(error));
      }
      return storeDeadlines.race(
        promise,
        () => new SmsOtpError('STORE_UNAVAILABLE', { reason: 'timeout' }),
        storeError,
        late,
      );
    },
    withinSendTimeout<T>(call: () => Promise<T>, who: Record<string, string> = { vendor: vendor.name }) {
      return sendDeadlines.race(
        Promise.resolve().then(call),
        () => new SmsOtpError('SEND_FAILED', { ...who, reason: 'timeout' }),
        (error) => alerts.check(vendorError(error, who)),
      );
    },
    purposeOf(purpose) {
      const value = purpose ?? options.purposes[0]!;
      if (!purposes.has(value)) throw new SmsOtpError('UNKNOWN_PURPOSE', { purposes: options.purposes });
      return value;
    },
    testCode(e164) {
      if (!e164 || testNumbers.size === 0) return undefined;
      if (options.testNumbersValidUntil && now() >= options.testNumbersValidUntil.getTime()) return undefined;
      return testNumbers.get(e164);
    },
    requestBinding(requestId) {
      return requestId === '' ? '' : mac96(keys.code, `request\u0000${requestId}`);
    },
  };
}

/** `SEND_FAILED` reasons that no retry mends: a person must fix credentials, settings, balance or templates. */
export const NEEDS_A_HUMAN = new Set(['auth', 'config', 'balance', 'template', 'signature']);

/** At most one warning per vendor and reason in this many milliseconds. */
const ALERT_INTERVAL_MS = 60_000;

/**
 * Says through `logger` when a vendor (or captcha service) refused for a reason only a person can fix
 * (`NEEDS_A_HUMAN`): a wrong credential would otherwise show only as 502s. Rate-limited per vendor and
 * reason; names the vendor, the reason and the vendor's code, never its message or anything of the request.
 */
class HumanAlerts {
  private readonly last = new Map<string, number>();

  constructor(private readonly logger: Logger) {}

  check(error: SmsOtpError): SmsOtpError {
    if (error.code !== 'SEND_FAILED') return error;
    const { details } = error;
    const failures = Array.isArray(details.failures) ? (details.failures as Record<string, unknown>[]) : [];
    for (const facts of [details as Record<string, unknown>, ...failures]) {
      const reason = facts.reason;
      if (typeof reason !== 'string' || !NEEDS_A_HUMAN.has(reason)) continue;
      const who = String(facts.vendor ?? facts.captchaVerifier ?? details.vendor ?? 'vendor');
      const key = `${who}\u0000${reason}`;
      const now = Date.now();
      if (now - (this.last.get(key) ?? -Infinity) < ALERT_INTERVAL_MS) continue;
      if (this.last.size > 1000) this.last.clear();
      this.last.set(key, now);
      const code = typeof facts.vendorCode === 'string' ? `, vendor code ${facts.vendorCode}` : '';
      this.logger.warn(
        `sms-otp: ${who} refused a send (SEND_FAILED, reason ${reason}${code}): sends fail until someone fixes its ${reason === 'balance' ? 'account balance' : reason === 'auth' ? 'credentials' : reason} (see VENDORS.md). At most one such warning a minute.`,
      );
    }
    return error;
  }
}

/** An unset NODE_ENV is development (decision 11), said out loud once unless `mode` says which it is. */
function warnMode(options: ResolvedOptions, production: boolean, logger: Logger): void {
  if (production || options.mode !== undefined || warnedNoNodeEnv) return;
  if ((process.env.NODE_ENV?.trim() ?? '') !== '') return;
  warnedNoNodeEnv = true;
  logger.warn(
    "sms-otp: NODE_ENV is not set, so the production rules are off (a secret and a sender are not required, exposeCode is allowed). Set NODE_ENV=production (or mode: 'production') in production, or mode: 'development' to silence this.",
  );
}

/** A random secret for this process, said out loud once: codes and tokens die with the process. */
function randomSecret(logger: Logger): string {
  if (!warnedRandomSecret) {
    warnedRandomSecret = true;
    logger.warn(
      'sms-otp: no `secret` given; using a random one for this process. Codes and tokens will not survive a restart or work across instances. Set SMS_OTP_SECRET (32+ bytes) before production.',
    );
  }
  return randomBytes(32).toString('base64url');
}

/** What the options schema cannot see: the vendor against `exposeCode`, the captcha verifier and purposes. */
function checkVendor(options: ResolvedOptions, vendor: Vendor, logger: Logger): void {
  if (options.exposeCode && !(vendor.kind === 'sender' && vendor.development === true)) {
    // Refused in production (options.ts); anywhere else it is said out loud, since a deployment without
    // NODE_ENV would hand every code out.
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
}
