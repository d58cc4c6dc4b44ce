/**
 * The options of `createSmsOtp` and of the framework packages' routes, written out for readers and editors
 * (an editor shows these comments on hover). `options.ts` checks them with a zod schema; a type test
 * (`test/options-types.test.ts`) keeps the two the same.
 */
import type { CaptchaVerifier } from './captcha/verifiers.js';
import type { ErrorCode } from './errors.js';
import type { OtpStore } from './stores/types.js';
import type { Vendor } from './vendors/types.js';

/** Where log lines go. Codes and secrets are never passed to it. */
export interface Logger {
  warn(message: string): void;
}

/** What `formatResponse` is told about the body it wraps. */
export interface ResponseContext {
  status: number;
  ok: boolean;
  /** The error code, for error bodies. */
  code?: ErrorCode;
}

/** A table of error messages by code (any subset), or the name of a shipped set. */
export type Messages = 'en' | 'zh-CN' | Partial<Record<ErrorCode, string>>;

/** Options shared by `createSmsOtp` and the framework packages' routes. */
export interface HttpOptions {
  /**
   * Message set or overrides for error bodies: `'en'`, `'zh-CN'`, or messages by error code.
   * @default 'en'
   */
  messages?: Messages;
  /** Wraps every body (success and error) in the host's own envelope. */
  formatResponse?: (body: unknown, context: ResponseContext) => unknown;
  /**
   * `true` (or options) makes `/verify` also set an `sms_token` cookie: HttpOnly, SameSite=Strict, Path=/,
   * Secure when NODE_ENV=production.
   * @default false
   */
  cookie?:
    | boolean
    | {
        /** The cookie's name: letters, digits, `_` or `-`, 1 to 64. @default 'sms_token' */
        name?: string;
        /** Must start with `/`. @default '/' */
        path?: string;
        domain?: string;
        /** @default true when NODE_ENV=production */
        secure?: boolean;
      };
}

/** The conversion breaker against SMS pumping (see `SmsOtpOptions.breaker`). */
export interface BreakerOptions {
  /** Lowest healthy verified ÷ sent, 0–1. @default 0.2 */
  threshold?: number;
  /** Sends in the window before the ratio counts, 1–1 000 000. @default 50 */
  minVolume?: number;
  /** Seconds of the window (counted as two halves, the previous one whole), 60–86 400. @default 3600 */
  window?: number;
  /** Seconds the breaker stays open, 10–86 400. @default 900 */
  coolOff?: number;
  /** Leading digits of the E.164 number (after `+`) that form a prefix, 3–14. @default all but the last 4 */
  prefixDigits?: number;
  /** What an open breaker does: require a captcha, or refuse (`RATE_LIMITED`). @default 'captcha' */
  action?: 'captcha' | 'block';
  /**
   * Distinct client subnets (IPv4 /24, IPv6 /48) the window's sends must come from before the breaker may
   * open, so that one attacker cannot trip it against everybody else in a prefix or country, 0–1000 (0: no
   * such condition).
   * @default 5
   */
  minSubnets?: number;
}

/** Limits on verifies (see `SmsOtpOptions.verifyLimits`). */
export interface VerifyLimitOptions {
  /**
   * Failed verifies (anything but a success) per client IP (IPv4 address, IPv6 `ipv6Subnet`) per hour,
   * 1–1 000 000; then `RATE_LIMITED` (`scope: 'ip'`) until the hour ends.
   * @default 60
   */
  perIpHour?: number;
}

/** When a send needs a solved captcha, and who checks it (see `SmsOtpOptions.captcha`). */
export interface CaptchaOptions {
  /** `'never'` (except while a breaker is open), `'always'`, or `'adaptive'`. @default 'never' */
  policy?: 'never' | 'always' | 'adaptive';
  /** Adaptive: sends per IP per hour before a captcha is required, 0–1 000 000. @default 5 */
  afterSendsPerIp?: number;
  /** Adaptive: sends per phone per hour before a captcha is required, 0–1000. @default 2 */
  afterSendsPerPhone?: number;
  /**
   * Who checks answers: `'builtin'` (the image captcha of `GET {prefix}/captcha`), `'vendor'` (the code
   * provider checks `captchaKey` + `captcha` itself, e.g. DeepCloud), or a `CaptchaVerifier` (Turnstile,
   * hCaptcha, reCAPTCHA).
   * @default 'builtin'
   */
  verifier?: 'builtin' | 'vendor' | CaptchaVerifier;
  /** Seconds a built-in captcha stays answerable, 30–600. @default 120 */
  ttl?: number;
  /** Built-in captchas an IP may ask for per hour, 1–1 000 000. @default 60 */
  perIpHour?: number;
  /**
   * Built-in captchas this process may be making at once, 1–100 000. Renders run one per event-loop turn, so
   * sends and verifies keep their turns under a flood; beyond the bound `GET {prefix}/captcha` is
   * `RATE_LIMITED` (429, `scope: 'captcha'`, `Retry-After: 1`), which bounds the captcha route's memory and
   * wait. A small bound is not better: a refusal is cheaper than a render, so a flood that retries at once
   * only comes back faster (BENCHMARKS.md, "Overload").
   * @default 64 × the CPUs (`os.availableParallelism()`)
   */
  maxPending?: number;
}

/** Send windows per phone and per IP (see `SmsOtpOptions.sendLimits`). */
export interface SendLimitOptions {
  /** Sends per phone per hour, across purposes, 1–1000. @default 5 */
  perPhoneHour?: number;
  /** Sends per phone per day, across purposes, 1–10 000, at least `perPhoneHour`. @default 10 */
  perPhoneDay?: number;
  /** Sends per client IP per hour (an IPv4 address, or an IPv6 `/ipv6Subnet`), 1–1 000 000. @default 20 */
  perIpHour?: number;
  /**
   * Sends per IPv6 /48 per hour, 1–1 000 000: one site's allocation holds 256 /56s, each with its own
   * `perIpHour`. Not applied when `ipv6Subnet` is 48 or less.
   * @default 200
   */
  perIpv6_48Hour?: number;
}

/** A kind of number, as libphonenumber-js (full metadata) types it; see `SmsOtpOptions.numberTypes`. */
export type NumberType =
  | 'MOBILE'
  | 'FIXED_LINE_OR_MOBILE'
  | 'FIXED_LINE'
  | 'VOIP'
  | 'PREMIUM_RATE'
  | 'TOLL_FREE'
  | 'SHARED_COST'
  | 'UAN'
  | 'PAGER'
  | 'PERSONAL_NUMBER'
  | 'VOICEMAIL'
  /** +870, +881 and Thuraya's +882 16 (libphonenumber calls them mobile or VoIP). */
  | 'SATELLITE'
  /** A number the full metadata gives no type. */
  | 'UNKNOWN';

/** The kinds of number each channel goes to (see `SmsOtpOptions.numberTypes`); a list replaces the default. */
export interface NumberTypeOptions {
  /** @default ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'VOIP'] */
  sms?: NumberType[];
  /** @default ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'FIXED_LINE', 'VOIP'] */
  voice?: NumberType[];
}

/**
 * What `createSmsOtp` accepts. Every option is checked once, at start-up: a bad one throws
 * `SmsOtpConfigError` naming it and saying how to fix it (unknown keys too, with a "did you mean").
 *
 * @example
 * const options: SmsOtpOptions = { secret: process.env.SMS_OTP_SECRET, purposes: ['login'], defaultCountry: 'CN' };
 */
export interface SmsOtpOptions extends HttpOptions {
  /**
   * HMAC key for stored codes and signing tokens, at least 32 bytes with at least 16 distinct bytes (e.g.
   * `openssl rand -base64 48`; one character repeated is refused). Required in production (see `mode`) and,
   * in every mode, with a store other than a `MemoryStore` (`RedisStore`, a custom store).
   * @default a random key per process (codes and tokens die with it; a warning says so)
   */
  secret?: string;
  /**
   * Forces the production rules (`secret` and `sender` required, `exposeCode` refused) with `'production'`.
   * Without it, production is `NODE_ENV` set to anything but `development` or `test`, in any case (`prod`,
   * `Production`, `staging` …); an unset `NODE_ENV` is development, with a start-up warning unless `mode`
   * is given. `'development'` says so (silencing that warning) but does not override a production `NODE_ENV`.
   * @default from NODE_ENV
   */
  mode?: 'production' | 'development';
  /**
   * Where codes and limits live. A `MemoryStore` serves one process only: in production a start-up warning
   * says so.
   * @default new MemoryStore() (one process only)
   */
  store?: OtpStore;
  /**
   * Who delivers (or makes and checks) codes: a sender or a code provider. Required in production (see
   * `mode`).
   * @default consoleSender()
   */
  sender?: Vendor;
  /** What codes may be asked for: 1 to 32 names of lower-case letters, digits, `_` or `-`. @default ['login'] */
  purposes?: string[];
  /** How national numbers are read (ISO code, e.g. `'CN'`). @default none: only E.164 numbers are accepted */
  defaultCountry?: string;
  /**
   * Only numbers of these countries (ISO codes, `'001'` for non-geographic) are accepted. Numbers of no
   * country (`'001'`: +800, +808, +870, +881, +882, +883, +888, +979) are accepted only when named here or with
   * `allowNonGeographic`.
   * @default all countries, without `'001'`
   */
  allowedCountries?: string[];
  /**
   * Accepts numbers of no country (region `'001'`: international networks, satellite, UIFN) without listing
   * every country in `allowedCountries`. `numberTypes` still applies.
   * @default false
   */
  allowNonGeographic?: boolean;
  /**
   * The kinds of number each channel goes to; a number of another kind is `INVALID_PHONE` with
   * `reason: 'number_type'` and nothing is sent. A list replaces that channel's default, e.g.
   * `{ sms: ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'VOIP', 'FIXED_LINE'] }` for landlines that take SMS.
   * @default { sms: ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'VOIP'], voice: ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'FIXED_LINE', 'VOIP'] }
   */
  numberTypes?: NumberTypeOptions;
  /** Numbers of these countries (ISO codes, `'001'` for non-geographic) get `COUNTRY_NOT_ALLOWED`. @default none */
  blockedCountries?: string[];
  /** Digits per code, 6–10 (4 or 5 only with `allowShortCodes`). @default 6 */
  codeLength?: number;
  /** Allows `codeLength` 4 and 5, which are guessed 100 and 10 times more easily than 6 digits. @default false */
  allowShortCodes?: boolean;
  /** Seconds a code stays valid, 30–600 (up to 86 400 with `allowLongTtl`). @default 300 */
  ttl?: number;
  /** Allows `ttl` above 600 seconds. @default false */
  allowLongTtl?: boolean;
  /**
   * Seconds before the same phone and purpose may be sent another code, 1–3600. A list (up to 20) makes it
   * escalate with each send of the phone's hour (e.g. `[60, 120, 300, 900]`; the last one repeats).
   * @default 60
   */
  resendCooldown?: number | number[];
  /**
   * Sends per country per day, 1–10^9 (`{ CN: 50000, '*': 1000 }`; `'*'` for every country not named,
   * `'001'` for non-geographic numbers). The home country (`defaultCountry`) is uncapped unless named here.
   * `{ '*': 1e9 }` is, in effect, no cap.
   * @default { '*': 100 } (the home country, if `defaultCountry` is set, uncapped)
   */
  countryDailyLimits?: Record<string, number>;
  /** Sends per day across all phones (the SMS bill's ceiling), 1–10^9. @default no budget */
  dailyBudget?: number;
  /**
   * Conversion breaker against SMS pumping, per country and per number prefix: when verified ÷ sent over
   * `window` falls below `threshold` with at least `minVolume` sends, sends there need a captcha (or are
   * refused, `action: 'block'`) for `coolOff`. `false` turns it off.
   * @default {} (on, with the defaults of `BreakerOptions`)
   */
  breaker?: false | BreakerOptions;
  /** When a send needs a solved captcha. @default {} (policy `'never'`, built-in verifier) */
  captcha?: CaptchaOptions;
  /**
   * Verify must present the `requestId` its send returned: a verify naming another send (or none pending)
   * is `CODE_INVALID` without costing the code or the phone an attempt, and answers alike whether or not a
   * code is pending, so nobody who knows only the number can guess at, kill or watch for its codes.
   * `false` checks phone + code alone.
   * @default true
   */
  requireRequestId?: boolean;
  /**
   * Fixed codes (of `codeLength` digits) for test numbers (`{ '+8613800000000': '123456' }`): nothing is
   * sent; limits still count.
   * @default none
   */
  testNumbers?: Record<string, string>;
  /** Test numbers work until then (a Date, or what `new Date()` reads). Required with `testNumbers` in production. */
  testNumbersValidUntil?: Date | string | number;
  /** Wrong guesses that kill a code, 1–10. @default 5 */
  maxAttempts?: number;
  /**
   * Failed verifies per phone within `failureWindow`, across codes and purposes (a resend does not reset it),
   * 1–1000, past which that phone's sends and verifies need a solved captcha (`CAPTCHA_REQUIRED`,
   * `scope: 'phone'`): a stranger can make the owner solve a captcha, not wait a day.
   * @default 20
   */
  maxFailuresPerPhone?: number;
  /**
   * Failed verifies per phone within `failureWindow` at which its sends and verifies are refused
   * (`TOO_MANY_ATTEMPTS`) until the window passes, at least `maxFailuresPerPhone`, up to 1000 (NIST SP
   * 800-63B rev. 4's ceiling is 100).
   * @default 100
   */
  lockAfterFailures?: number;
  /**
   * A full per-phone send window (`sendLimits.perPhoneHour`, `perPhoneDay`) asks for a solved captcha
   * (`CAPTCHA_REQUIRED`, `scope: 'phone'`) instead of refusing, until it holds twice its size; only then
   * `RATE_LIMITED`. `false` refuses at the limit.
   * @default true
   */
  captchaPastSendLimits?: boolean;
  /** Limits on verifies. @default {} (60 failed verifies per IP-hour) */
  verifyLimits?: VerifyLimitOptions;
  /** Seconds the phone's failure count is kept, 60–604 800. @default 86400 */
  failureWindow?: number;
  /**
   * Send windows per phone and per IP.
   * @default {} (5 per phone-hour, 10 per phone-day, 20 per IP-hour, 200 per IPv6 /48-hour)
   */
  sendLimits?: SendLimitOptions;
  /**
   * Leading bits of an IPv6 address that the per-IP windows count together, 32–128 (one subscriber's usual
   * allocation is a /56 or a /64; counting single addresses would give them 2^64 windows).
   * @default 56
   */
  ipv6Subnet?: number;
  /** Seconds a verification token is good for, 30–3600. @default 600 */
  tokenTtl?: number;
  /** Puts the code in send responses as `devCode`, for development and e2e tests. Refused in production (see `mode`). @default false */
  exposeCode?: boolean;
  /** Milliseconds a store call may take before `STORE_UNAVAILABLE`, 50–30 000. @default 2000 */
  storeTimeout?: number;
  /** Milliseconds a vendor may take before `SEND_FAILED`, 100–60 000. @default 10000 */
  sendTimeout?: number;
  /**
   * Looks up the phone of a user id, for sends by `userId`; `null` for an unknown user (a stand-in answers).
   * A send by user id answers as a sent code also when the known user's number is refused (its kind, its
   * country) or its own limits refuse the send: only the client's limits (IP windows, captcha policy,
   * `dailyBudget`) show.
   */
  resolvePhone?: (userId: string) => Promise<string | null | undefined> | string | null | undefined;
  /**
   * Where the one-time set-up warnings go: no `secret`, `exposeCode` with a delivering sender, the daily SMS
   * ceiling (in production), and the HTTP routes' client-IP warnings (no client IP; `X-Forwarded-For` not
   * trusted), each once.
   * @default console
   */
  logger?: Logger;
  /** Milliseconds since the epoch; for tests. @default Date.now */
  clock?: () => number;
}
