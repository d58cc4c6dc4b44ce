/**
 * Error codes a client can see, with their HTTP status. The table is part of the public contract
 * (DESIGN.md): codes and statuses never change.
 */
export const ERROR_STATUS = {
  INVALID_REQUEST: 400,
  INVALID_PHONE: 400,
  COUNTRY_NOT_ALLOWED: 403,
  UNKNOWN_PURPOSE: 400,
  CAPTCHA_REQUIRED: 400,
  CAPTCHA_INVALID: 400,
  RESEND_TOO_SOON: 429,
  RATE_LIMITED: 429,
  CODE_INVALID: 400,
  CODE_EXPIRED: 400,
  TOO_MANY_ATTEMPTS: 429,
  SEND_FAILED: 502,
  STORE_UNAVAILABLE: 503,
  NOT_VERIFIED: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_USED: 401,
  PURPOSE_MISMATCH: 403,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Extra, JSON-serialisable facts about an error (`attemptsLeft`, `retryAfter`, `issues`, vendor codes …). */
export type ErrorDetails = Record<string, unknown>;

/** One thing wrong with a request: where (`'phone'`, `'code'`, a body field; `''` for the whole body) and what. */
export interface RequestIssue {
  path: string;
  message: string;
}

/** What a 429 says: when to come back, and which limit refused. */
export interface RetryDetails {
  /** Whole seconds to wait, at least 1 (also the `Retry-After` header). */
  retryAfter: number;
  /** Which limit: `'phone'`, `'code'`, `'ip'`, `'country'`, `'global'`, `'prefix'` … */
  scope?: string;
  /** The window's limit, where one window refused. */
  limit?: number;
  /** The window's length in seconds, where one window refused. */
  window?: number;
  /** `'breaker'` when an open conversion breaker (action `'block'`) refused. */
  reason?: string;
}

/** What a vendor's (or captcha service's) refusal keeps: never credentials, never the code. */
export interface VendorDetails {
  /** The adapter's name (`'ronglian'`, `'jpush'` …). */
  vendor?: string;
  /** Why, in a word: `'timeout'`, `'network'`, `'balance'`, `'unsupported_country'` … */
  reason?: string;
  /** The vendor's own error code. */
  vendorCode?: string;
  /** The vendor's own message, redacted and cut short. */
  vendorMessage?: string;
  /** The vendor's HTTP status. */
  httpStatus?: number;
  /** The captcha service, for a failed captcha check. */
  captchaVerifier?: string;
}

/** Codes that carry no details of their own. */
export type NoDetails = Record<never, never>;

/**
 * The `details` each error code carries, by code (each may carry more: `details` stays an open record, so
 * `error.details.anything` reads as `unknown`). Narrow on `code` to read them typed:
 *
 * @example
 * if (isSmsOtpError(e) && e.code === 'CODE_INVALID') showAttemptsLeft(e.details.attemptsLeft);
 */
export interface ErrorDetailsByCode {
  INVALID_REQUEST: { issues?: RequestIssue[] } & VendorDetails;
  INVALID_PHONE: VendorDetails;
  COUNTRY_NOT_ALLOWED: { country?: string };
  UNKNOWN_PURPOSE: { purposes?: string[] };
  /** `scope`: `'policy'`, `'phone'`, `'ip'` or `'breaker'`. */
  CAPTCHA_REQUIRED: { scope?: string } & VendorDetails;
  CAPTCHA_INVALID: VendorDetails;
  RESEND_TOO_SOON: RetryDetails;
  RATE_LIMITED: RetryDetails & VendorDetails;
  /** `attemptsLeft` is set on every `CODE_INVALID` that `verify` throws (a vendor's own may lack it). */
  CODE_INVALID: { attemptsLeft?: number } & VendorDetails;
  CODE_EXPIRED: VendorDetails;
  TOO_MANY_ATTEMPTS: RetryDetails;
  SEND_FAILED: VendorDetails;
  /** `reason`: `'timeout'`, `'error'`, `'disconnected'` or `'memory_store_full'`. */
  STORE_UNAVAILABLE: { reason?: string };
  NOT_VERIFIED: NoDetails;
  TOKEN_INVALID: NoDetails;
  TOKEN_EXPIRED: NoDetails;
  TOKEN_USED: NoDetails;
  PURPOSE_MISMATCH: { expected?: string };
}

/** The details of an error of code `C`: its typed fields, and any others as `unknown`. */
export type ErrorDetailsOf<C extends ErrorCode> = ErrorDetailsByCode[C] & ErrorDetails;

/** An `SmsOtpError` of any one code: narrowing on `code` narrows `details`. */
export type AnySmsOtpError = { [C in ErrorCode]: SmsOtpError<C> }[ErrorCode];

/** English messages, one per code. */
export const MESSAGES_EN: Record<ErrorCode, string> = {
  INVALID_REQUEST: 'The request is malformed.',
  INVALID_PHONE: 'This is not a valid phone number.',
  COUNTRY_NOT_ALLOWED: 'Phone numbers from this country are not accepted.',
  UNKNOWN_PURPOSE: 'Unknown verification purpose.',
  CAPTCHA_REQUIRED: 'Please solve the captcha first.',
  CAPTCHA_INVALID: 'The captcha answer is wrong.',
  RESEND_TOO_SOON: 'A code was sent recently. Please wait before asking for another.',
  RATE_LIMITED: 'Too many codes were requested. Please try again later.',
  CODE_INVALID: 'The code is wrong.',
  CODE_EXPIRED: 'The code has expired or was never sent. Please ask for a new one.',
  TOO_MANY_ATTEMPTS: 'Too many wrong codes. Please try again later.',
  SEND_FAILED: 'The code could not be sent. Please try again.',
  STORE_UNAVAILABLE: 'The service is temporarily unavailable. Please try again.',
  NOT_VERIFIED: 'Phone verification is required.',
  TOKEN_INVALID: 'The verification token is invalid.',
  TOKEN_EXPIRED: 'The verification token has expired.',
  TOKEN_USED: 'The verification token was already used.',
  PURPOSE_MISMATCH: 'The verification was made for another purpose.',
};

/** Simplified Chinese messages, one per code. */
export const MESSAGES_ZH_CN: Record<ErrorCode, string> = {
  INVALID_REQUEST: '请求格式错误。',
  INVALID_PHONE: '手机号码无效。',
  COUNTRY_NOT_ALLOWED: '不支持该国家或地区的手机号码。',
  UNKNOWN_PURPOSE: '未知的验证用途。',
  CAPTCHA_REQUIRED: '请先完成图形验证码。',
  CAPTCHA_INVALID: '图形验证码错误。',
  RESEND_TOO_SOON: '验证码已发送，请稍后再试。',
  RATE_LIMITED: '短信发送过于频繁，请稍后再试。',
  CODE_INVALID: '验证码错误。',
  CODE_EXPIRED: '验证码已过期或未发送，请重新获取。',
  TOO_MANY_ATTEMPTS: '验证码错误次数过多，请稍后再试。',
  SEND_FAILED: '短信发送失败，请重试。',
  STORE_UNAVAILABLE: '服务暂时不可用，请稍后再试。',
  NOT_VERIFIED: '请先完成手机验证。',
  TOKEN_INVALID: '验证凭证无效。',
  TOKEN_EXPIRED: '验证凭证已过期。',
  TOKEN_USED: '验证凭证已被使用。',
  PURPOSE_MISMATCH: '验证用途不匹配。',
};

/** Built-in message sets, by locale. */
export const MESSAGES = { en: MESSAGES_EN, 'zh-CN': MESSAGES_ZH_CN } as const;

/** The brand an `SmsOtpError` carries, shared by every copy of the package loaded in a process. */
const SMS_OTP_ERROR: unique symbol = Symbol.for('sms-otp.error') as never;

/**
 * Whether `error` is an `SmsOtpError` of any copy of `@sms-otp/core` (two copies can be installed side by
 * side, and `instanceof` then fails for the other copy's errors). Use it instead of `instanceof`.
 *
 * @example
 * catch (e) { if (isSmsOtpError(e) && e.code === 'CODE_INVALID') console.log(e.details.attemptsLeft) }
 */
export function isSmsOtpError(error: unknown): error is AnySmsOtpError {
  return (
    typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[SMS_OTP_ERROR] === true
  );
}

/** An `SmsOtpError` of code `C` (see `SmsOtpError`, the constructor). */
export interface SmsOtpError<C extends ErrorCode = ErrorCode> extends Error {
  readonly [SMS_OTP_ERROR]: true;
  readonly code: C;
  /** The HTTP status of DESIGN.md's table. */
  readonly status: number;
  /** Serialised next to `code` and `message` in the error body (vendor facts stay on the server). */
  readonly details: ErrorDetailsOf<C>;
  /** Seconds a client should wait, for 429s; `undefined` otherwise. */
  readonly retryAfter: number | undefined;
}

/**
 * `SmsOtpError`'s constructor. Its `prototype` is typed as an error of any one code, so that after
 * `e instanceof SmsOtpError` (or `isSmsOtpError(e)`) a check of `e.code` narrows `e.details`.
 */
export interface SmsOtpErrorConstructor {
  new <C extends ErrorCode>(
    code: C,
    details?: ErrorDetailsOf<C>,
    message?: string,
    options?: ErrorOptions,
  ): SmsOtpError<C>;
  readonly prototype: AnySmsOtpError;
}

class SmsOtpErrorClass<C extends ErrorCode> extends Error {
  /** Marks errors of every copy of this package (see `isSmsOtpError`). */
  readonly [SMS_OTP_ERROR] = true;
  readonly code: C;
  readonly status: number;
  readonly details: ErrorDetailsOf<C>;

  constructor(
    code: C,
    details: ErrorDetailsOf<C> = {} as ErrorDetailsOf<C>,
    message: string = MESSAGES_EN[code],
    options?: ErrorOptions,
  ) {
    // A 4xx is an expected answer to a client (a wrong code, a limit), made thousands of times a second under
    // attack; its stack says nothing, and not capturing it saves a fifth of a wrong-code verify's CPU
    // (BENCHMARKS.md, "Hand-tuned code in the core"). 5xx keep it.
    const limit = Error.stackTraceLimit;
    if (ERROR_STATUS[code] < 500) Error.stackTraceLimit = 0;
    try {
      super(message, options);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'SmsOtpError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = details;
  }

  /** Seconds a client should wait, for 429s; `undefined` otherwise. */
  get retryAfter(): number | undefined {
    const value = this.details.retryAfter;
    return typeof value === 'number' ? value : undefined;
  }
}

/**
 * What clients see when an operation is refused. `status` is the HTTP status of DESIGN.md's table;
 * `details` is serialised next to `code` and `message` in the error body.
 *
 * @example
 * try { await otp.verify({ phone, code }) }
 * catch (e) { if (isSmsOtpError(e) && e.code === 'CODE_INVALID') console.log(e.details.attemptsLeft) }
 */
// Named as users see it (stack traces, `constructor.name`).
Object.defineProperty(SmsOtpErrorClass, 'name', { value: 'SmsOtpError' });
export const SmsOtpError = SmsOtpErrorClass as unknown as SmsOtpErrorConstructor;

/** The longest message a kept cause carries. */
const CAUSE_MESSAGE_MAX = 300;

/** `text` cut to `max` characters, with `…` where it was cut. */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * What of a foreign error (a store client's, a host sender's) an SmsOtpError keeps as its `cause`: its name,
 * its message (cut to 300 characters), a system error code such as `ECONNREFUSED` and its stack frames —
 * nothing else (an SmsOtpError, the library's own, is kept whole). `redact` rewrites the message first (host
 * senders' and captcha verifiers' errors go through `vendorText`, as vendors' messages do). A host
 * logs errors whole; ioredis errors carry the command's arguments (phone keys, client IPs, code hashes) and
 * HTTP-client errors the request's body and headers (the code, API keys), none of which may reach a log.
 *
 * @example
 * new SmsOtpError('STORE_UNAVAILABLE', { reason: 'error' }, undefined, { cause: causeOf(error) });
 */
export function causeOf(error: unknown, redact?: (text: string) => string): Error {
  // The library's own errors carry only what it put there (vendor messages redacted: vendors/http.ts).
  if (isSmsOtpError(error)) return error;
  const source = error instanceof Error ? error : undefined;
  const message = source ? source.message : typeof error === 'string' ? error : typeof error;
  const cause = new Error(clip(redact ? redact(message) : message, CAUSE_MESSAGE_MAX));
  cause.name = source?.name ?? 'Error';
  const code = (source as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code))
    (cause as { code?: string }).code = code;
  if (source?.stack)
    cause.stack = `${cause.name}: ${cause.message}\n${source.stack
      .split('\n')
      .filter((line) => /^\s+at /.test(line))
      .join('\n')}`;
  return cause;
}

/** A mistake in the options given to `createSmsOtp` or an adapter: names the option and how to fix it. */
export class SmsOtpConfigError extends Error {
  readonly path: string;

  constructor(path: string, message: string) {
    super(`sms-otp: invalid option "${path}": ${message}`);
    this.name = 'SmsOtpConfigError';
    this.path = path;
  }
}

/** Builds a 429 error with whole seconds to wait (at least 1). */
export function tooMany<C extends 'RESEND_TOO_SOON' | 'RATE_LIMITED' | 'TOO_MANY_ATTEMPTS'>(
  code: C,
  retryAfterMs: number,
  details: Omit<RetryDetails, 'retryAfter'> = {},
): SmsOtpError<C> {
  const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new SmsOtpError(code, { ...details, retryAfter } as ErrorDetailsOf<C>);
}
