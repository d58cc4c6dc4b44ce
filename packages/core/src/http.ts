import { z } from 'zod';
import type { CheckTokenOptions, SendInput, SmsOtp, VerifyInput } from './create-sms-otp.js';
import { type ErrorCode, isSmsOtpError, MESSAGES, SmsOtpConfigError, SmsOtpError } from './errors.js';
import {
  type HttpOptions,
  httpOptionsSchema,
  type Logger,
  parseWith,
  type ResponseContext,
} from './options.js';
import type { ReceiptOptions } from './receipts.js';
import type { VerifiedPhone } from './token.js';

/** A request as a framework package hands it to the core. */
export interface HttpRequest {
  /** The body the framework already parsed, if it did. */
  body?: unknown;
  /** The raw body, when nothing parsed it (the core parses it as JSON). */
  rawBody?: string;
  /** The client IP as the framework sees it (its own trust-proxy rules). */
  ip?: string;
  /** Request headers, lower-case names. */
  headers?: Record<string, string | string[] | undefined>;
  /** Set when the framework's own body parser refused the body: answered as INVALID_REQUEST. */
  bodyError?: 'not-json' | 'too-large';
  /**
   * Whether the framework reads the client IP from `X-Forwarded-For` (Express `trust proxy`, Koa
   * `app.proxy`, Fastify `trustProxy`); unset when the package cannot tell. Only for the set-up warnings.
   */
  trustProxy?: boolean;
  /**
   * The request's protocol as the framework sees it (its trust-proxy rules: `X-Forwarded-Proto`), for the
   * token cookie's `Secure`. Unknown counts as HTTPS.
   */
  protocol?: string;
  /** The host the client addressed (the framework's hostname, else the `Host` header), for the same. */
  host?: string;
}

/** What a framework package writes back. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Route options after parsing. */
export interface ResolvedHttpOptions {
  messages: Record<ErrorCode, string>;
  formatResponse?: (body: unknown, context: ResponseContext) => unknown;
  /** `secure` unset: `Secure` unless the request is plain HTTP to a loopback host (`cookieIsSecure`). */
  cookie?: { name: string; path: string; domain?: string; secure?: boolean };
}

export const TOKEN_HEADER = 'x-sms-token';
export const TOKEN_COOKIE = 'sms_token';
/**
 * Bodies larger than this are refused (413, INVALID_REQUEST "body too large") as soon as the limit is passed:
 * the framework packages stop reading there, by the `Content-Length` or by counting what arrives.
 */
export const MAX_BODY_BYTES = 16 * 1024;

/** The status of a body over `MAX_BODY_BYTES` (Payload Too Large), alike on every framework. */
export const BODY_TOO_LARGE_STATUS = 413;

/**
 * A `Content-Type` that is JSON in one of its two usual spellings, known without parsing the header. The
 * framework packages ask this first and their framework's own check (`req.is`, `ctx.is`) for anything else,
 * so it decides nothing that check would decide differently.
 */
export function isPlainJsonType(contentType: string | undefined): boolean {
  return contentType === 'application/json' || contentType === 'application/json; charset=utf-8';
}

const text = (max: number) => z.string().min(1).max(max);
const recipient = {
  phone: text(32).optional(),
  userId: text(128).optional(),
  country: text(8).optional(),
  purpose: text(64).optional(),
};
const needsRecipient = (body: { phone?: string; userId?: string }) =>
  body.phone !== undefined || body.userId !== undefined;

/** JSON body of `POST {prefix}/send`. Unknown fields are ignored. */
export const sendBodySchema = z
  .object({
    ...recipient,
    channel: z.enum(['sms', 'voice']).optional(),
    captchaKey: text(128).optional(),
    // A built-in captcha answer is short; Turnstile, hCaptcha and reCAPTCHA tokens run to a few kB.
    captcha: text(4096).optional(),
  })
  .refine(needsRecipient, { message: 'phone or userId is required', path: ['phone'] });

/** JSON body of `POST {prefix}/verify`. Unknown fields are ignored. */
export const verifyBodySchema = z
  .object({
    ...recipient,
    code: text(32),
    requestId: text(64).optional(),
    // Past the phone's failure ceiling a verify needs a solved captcha, as a send does.
    captchaKey: text(128).optional(),
    captcha: text(4096).optional(),
  })
  .refine(needsRecipient, { message: 'phone or userId is required', path: ['phone'] });

/**
 * Resolves route options (messages, envelope, cookie) once, when a framework package mounts the routes.
 * Unset options fall back to those given to `createSmsOtp`.
 */
export function resolveHttpOptions(otp: SmsOtp, input: HttpOptions = {}): ResolvedHttpOptions {
  const own = parseWith(httpOptionsSchema, input);
  const messagesOption = own.messages ?? otp.options.messages ?? 'en';
  const messages =
    typeof messagesOption === 'string' ? MESSAGES[messagesOption] : { ...MESSAGES.en, ...messagesOption };
  const cookieOption = own.cookie ?? otp.options.cookie ?? false;
  const cookie =
    cookieOption === false
      ? undefined
      : { name: TOKEN_COOKIE, path: '/', ...(cookieOption === true ? {} : cookieOption) };
  const formatResponse = own.formatResponse ?? otp.options.formatResponse;
  return { messages, ...(formatResponse ? { formatResponse } : {}), ...(cookie ? { cookie } : {}) };
}

/** Whether `value` is an engine `createSmsOtp()` made (of any copy of the package). */
function isEngine(value: unknown): value is SmsOtp {
  const engine = value as Partial<Record<keyof SmsOtp, unknown>> | null;
  return (
    typeof engine === 'object' &&
    engine !== null &&
    typeof engine.send === 'function' &&
    typeof engine.verify === 'function' &&
    typeof engine.checkToken === 'function' &&
    typeof engine.options === 'object'
  );
}

/** Refuses anything but an engine, with the call as it should be written. */
function checkEngine(otp: unknown, usage: string): asserts otp is SmsOtp {
  if (isEngine(otp)) return;
  const holder = typeof otp === 'object' && otp !== null && isEngine((otp as { otp?: unknown }).otp);
  const what = holder ? ', not an object holding it' : '';
  throw new SmsOtpConfigError('otp', `must be the engine createSmsOtp() returns${what}: ${usage}`);
}

const PREFIX_RULE =
  'must start with "/" and not end with one, e.g. "/sms" ("" mounts the routes at the root)';
/** A framework package's route options: the core's and `prefix`. */
const routeOptionsSchema = httpOptionsSchema.extend({
  prefix: z
    .string({ error: PREFIX_RULE })
    .refine((prefix) => prefix === '' || (prefix.startsWith('/') && !prefix.endsWith('/')), PREFIX_RULE)
    .optional(),
  // Checked by resolveReceipts, with the receipts' own "did you mean".
  receipts: z.unknown().optional(),
});
/** A guard's options: the core's route options, `purpose` and `consume` (both checked by resolveGuardOptions). */
const guardOptionsSchema = httpOptionsSchema.extend({
  purpose: z.unknown().optional(),
  consume: z.unknown().optional(),
});

/**
 * Checks what a framework package's routes were given, when it builds them: the engine, then options with a
 * well-formed `prefix` (default `'/sms'`) and known route options ("did you mean" for a mistyped one). `usage`
 * is the call as it should be written, for the errors (e.g. `smsOtp(otp, { prefix: '/sms' })`). Returns the
 * prefix and the route options for `resolveHttpOptions`.
 *
 * @example
 * const { prefix, http } = checkRouteOptions(otp, options, "smsOtp(otp, { prefix: '/sms' })");
 */
export function checkRouteOptions(
  otp: unknown,
  options: unknown,
  usage: string,
): { otp: SmsOtp; prefix: string; receipts: ReceiptOptions | undefined; http: HttpOptions } {
  checkEngine(otp, usage);
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new SmsOtpConfigError('(options)', `must be an object: ${usage}`);
  }
  parseWith(routeOptionsSchema, options);
  const {
    prefix = '/sms',
    receipts,
    ...http
  } = (options ?? {}) as HttpOptions & { prefix?: string; receipts?: ReceiptOptions };
  return { otp, prefix, receipts, http };
}

/**
 * Checks what a framework package's guard was given, when it builds the guard: the engine, options with a
 * `purpose` (see `resolveGuardOptions`), known route options ("did you mean" for a mistyped one). `usage` is
 * the call as it should be written, with the engine's first purpose filled in for `{purpose}`.
 *
 * @example
 * const { check, http } = checkGuardOptions(otp, options, 'requireSmsVerified(otp, { purpose: {purpose} })');
 */
export function checkGuardOptions(
  otp: unknown,
  options: unknown,
  usage: string,
): { otp: SmsOtp; check: { purpose: string; consume: boolean }; http: HttpOptions } {
  const example = (engine: SmsOtp | undefined) =>
    usage.replace('{purpose}', `'${engine?.options.purposes?.[0] ?? 'login'}'`);
  checkEngine(otp, example(isEngine(otp) ? otp : undefined));
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new SmsOtpConfigError('purpose', `is required, in the options: ${example(otp)}`);
  }
  parseWith(guardOptionsSchema, options);
  const { purpose, consume, ...http } = options as HttpOptions & { purpose?: unknown; consume?: unknown };
  return { otp, check: resolveGuardOptions(otp, { purpose, consume }), http };
}

/** The route options each engine's routes were mounted with, for its guards. */
const mountedRoutes = new WeakMap<SmsOtp, HttpOptions>();

/**
 * Records the route options the framework package mounted an engine's routes with, so that the engine's guards
 * read the token cookie (and word their errors) as those routes set them, whichever framework. With several
 * mounts of one engine, the last one counts.
 */
export function rememberRouteOptions(otp: SmsOtp, options: HttpOptions): void {
  mountedRoutes.set(otp, options);
}

/**
 * A guard's route options: its own, over those its engine's routes were mounted with (`rememberRouteOptions`),
 * over the engine's. The guard's own are checked at once; the mount's are looked up when requests come, so a
 * guard built before the routes are mounted gets them too.
 *
 * @example
 * const options = guardRouteOptions(otp, { messages: 'zh-CN' });
 * await handleGuard(otp, request, check, options());
 */
export function guardRouteOptions(otp: SmsOtp, own: HttpOptions = {}): () => ResolvedHttpOptions {
  let resolved = resolveHttpOptions(otp, own);
  let seen: HttpOptions | undefined;
  return () => {
    const mounted = mountedRoutes.get(otp);
    if (mounted !== seen) {
      seen = mounted;
      resolved = resolveHttpOptions(otp, { ...mounted, ...own });
    }
    return resolved;
  };
}

/** Loggers already given each client-IP warning: each is said once per process (and logger). */
const warned = { noIp: new WeakSet<Logger>(), untrustedProxy: new WeakSet<Logger>() };

/**
 * Warns, through the engine's `logger`, the first time a request comes without a client IP (a server on a
 * Unix socket: the per-IP windows and the adaptive captcha cannot apply) and the first time one carries
 * `X-Forwarded-For` while the framework does not trust proxies (every client behind the proxy then shares
 * the proxy's per-IP window), as express-rate-limit's ERR_ERL_UNEXPECTED_X_FORWARDED_FOR does.
 */
export function checkClientIp(otp: SmsOtp, request: HttpRequest): void {
  const forwarded = request.trustProxy === false && request.headers?.['x-forwarded-for'] !== undefined;
  if (request.ip && !forwarded) return;
  const logger = otp.options.logger ?? console;
  if (!request.ip && !warned.noIp.has(logger)) {
    warned.noIp.add(logger);
    logger.warn(
      "sms-otp: a request reached the routes without a client IP (a server on a Unix socket?): the per-IP send windows and the adaptive captcha do not apply to such requests. Listen on TCP, or behind a proxy set the framework's trust proxy to its hop count (see the package README).",
    );
  }
  if (forwarded && !warned.untrustedProxy.has(logger)) {
    warned.untrustedProxy.add(logger);
    logger.warn(
      "sms-otp: a request carries X-Forwarded-For but the framework does not trust proxies, so the client IP is the proxy's and every client behind it shares one per-IP window. Set trust proxy to the number of proxies in front (Express: app.set('trust proxy', 1); Koa: app.proxy = true, app.maxIpsCount = 1; Fastify: Fastify({ trustProxy: 1 })).",
    );
  }
}

/** `POST {prefix}/send`. */
export async function handleSend(
  otp: SmsOtp,
  request: HttpRequest,
  options: ResolvedHttpOptions,
): Promise<HttpResponse> {
  checkClientIp(otp, request);
  try {
    // The parsed body is a fresh object of our own: the IP is added to it rather than spread into a copy.
    const input: SendInput = parseBody(sendBodySchema, request);
    if (request.ip) input.ip = request.ip;
    const result = await otp.send(input);
    return respond(options, 200, { sent: true, ...result });
  } catch (error) {
    return errorResponse(error, options);
  }
}

/** `POST {prefix}/verify`. Sets the token cookie when the routes were mounted with `cookie`. */
export async function handleVerify(
  otp: SmsOtp,
  request: HttpRequest,
  options: ResolvedHttpOptions,
): Promise<HttpResponse> {
  checkClientIp(otp, request);
  try {
    const body: VerifyInput = parseBody(verifyBodySchema, request);
    if (request.ip) body.ip = request.ip;
    const result = await otp.verify(body);
    // Cookie mode: the token travels only in the (HttpOnly) cookie, where page scripts cannot read it.
    if (options.cookie) {
      const response = respond(options, 200, { verified: true, expiresIn: result.expiresIn });
      const secure = options.cookie.secure ?? cookieIsSecure(request);
      response.headers['set-cookie'] = tokenCookie(options.cookie, result.token, result.expiresIn, secure);
      return response;
    }
    return respond(options, 200, { verified: true, token: result.token, expiresIn: result.expiresIn });
  } catch (error) {
    return errorResponse(error, options);
  }
}

/** `GET {prefix}/captcha`: a built-in image captcha `{ captchaKey, image, expiresIn }`. */
export async function handleCaptcha(
  otp: SmsOtp,
  request: HttpRequest,
  options: ResolvedHttpOptions,
): Promise<HttpResponse> {
  checkClientIp(otp, request);
  try {
    return respond(options, 200, await otp.createCaptcha(request.ip ? { ip: request.ip } : {}));
  } catch (error) {
    return errorResponse(error, options);
  }
}

/**
 * Checks a guard's options once, when the framework package builds the guard: `purpose` must be one of the
 * engine's purposes (a guard without one would let a token of any purpose through), `consume` a boolean.
 */
export function resolveGuardOptions(
  otp: SmsOtp,
  input: { purpose?: unknown; consume?: unknown },
): { purpose: string; consume: boolean } {
  const purposes = otp.options.purposes;
  if (typeof input?.purpose !== 'string' || !purposes.includes(input.purpose)) {
    throw new SmsOtpConfigError('purpose', `must be one of the configured purposes (${purposes.join(', ')})`);
  }
  if (input.consume !== undefined && typeof input.consume !== 'boolean') {
    throw new SmsOtpConfigError('consume', 'must be true or false');
  }
  return { purpose: input.purpose, consume: input.consume ?? true };
}

export type GuardResult = { ok: true; verified: VerifiedPhone } | { ok: false; response: HttpResponse };

/**
 * The guard's check: reads the token from `X-Sms-Token` (or, in cookie mode only, the token cookie) and checks
 * it. Framework packages turn `ok` into the framework's "next" and `response` into a reply.
 */
export async function handleGuard(
  otp: SmsOtp,
  request: HttpRequest,
  check: CheckTokenOptions,
  options: ResolvedHttpOptions,
): Promise<GuardResult> {
  try {
    const verified = await otp.checkToken(tokenOf(request, options.cookie?.name), check);
    return { ok: true, verified };
  } catch (error) {
    return { ok: false, response: errorResponse(error, options) };
  }
}

/** Turns an `SmsOtpError` into its response; rethrows anything else (a bug, for the framework's handler). */
export function errorResponse(error: unknown, options: ResolvedHttpOptions): HttpResponse {
  if (!isSmsOtpError(error)) throw error;
  const details = publicDetails(error);
  const headers: Record<string, string> = {};
  if (error.status === 429) {
    const retryAfter = typeof details.retryAfter === 'number' ? details.retryAfter : 60;
    details.retryAfter = retryAfter;
    headers['retry-after'] = String(retryAfter);
    if (typeof details.limit === 'number' && typeof details.window === 'number') {
      headers['ratelimit-policy'] = `${details.limit};w=${details.window}`;
      headers.ratelimit = `limit=${details.limit}, remaining=0, reset=${retryAfter}`;
    }
  }
  const body = { error: { code: error.code, message: options.messages[error.code], ...details } };
  const status = statusOf(error);
  // The rest of an oversized body is not read: the connection ends with the answer.
  if (status === BODY_TOO_LARGE_STATUS) headers.connection = 'close';
  return respond(options, status, body, error.code, headers);
}

/** An error's status; a body over `MAX_BODY_BYTES` is 413 (an INVALID_REQUEST all the same). */
function statusOf(error: SmsOtpError): number {
  if (error.code !== 'INVALID_REQUEST') return error.status;
  const issues = (error.details as { issues?: { message: string }[] }).issues;
  return issues?.length === 1 && issues[0]?.message === BODY_ERRORS['too-large']
    ? BODY_TOO_LARGE_STATUS
    : error.status;
}

/** Details a client may see. Vendor codes and messages stay on the server (in the error's `details`). */
const PUBLIC_DETAILS = new Set([
  'attemptsLeft',
  'retryAfter',
  'issues',
  'scope',
  'limit',
  'window',
  'purposes',
  'country',
  'expected',
]);

function publicDetails(error: SmsOtpError): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error.details)) if (PUBLIC_DETAILS.has(key)) out[key] = value;
  return out;
}

function respond(
  options: ResolvedHttpOptions,
  status: number,
  body: unknown,
  code?: ErrorCode,
  headers: Record<string, string> = {},
): HttpResponse {
  const formatted = options.formatResponse
    ? options.formatResponse(body, { status, ok: status < 400, ...(code ? { code } : {}) })
    : body;
  headers['cache-control'] = 'no-store';
  return { status, headers, body: formatted };
}

const BODY_ERRORS = { 'not-json': 'body is not JSON', 'too-large': 'body too large' } as const;

function parseBody<S extends z.ZodType>(schema: S, request: HttpRequest): z.output<S> {
  if (request.bodyError) {
    throw new SmsOtpError('INVALID_REQUEST', {
      issues: [{ path: '', message: BODY_ERRORS[request.bodyError] }],
    });
  }
  if (!plainUtf8(request)) {
    throw new SmsOtpError('INVALID_REQUEST', {
      issues: [{ path: '', message: 'body must be UTF-8 JSON without a Content-Encoding' }],
    });
  }
  let body = request.body;
  if (body === undefined && request.rawBody !== undefined) {
    if (Buffer.byteLength(request.rawBody) > MAX_BODY_BYTES) {
      throw new SmsOtpError('INVALID_REQUEST', { issues: [{ path: '', message: BODY_ERRORS['too-large'] }] });
    }
    try {
      body = JSON.parse(request.rawBody);
    } catch {
      throw new SmsOtpError('INVALID_REQUEST', { issues: [{ path: '', message: BODY_ERRORS['not-json'] }] });
    }
  }
  // No body the framework read as JSON (none, or another content type): what Fastify's parser says too.
  if (body === undefined) {
    throw new SmsOtpError('INVALID_REQUEST', { issues: [{ path: '', message: BODY_ERRORS['not-json'] }] });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SmsOtpError('INVALID_REQUEST', {
      issues: [{ path: '', message: 'body must be a JSON object' }],
    });
  }
  if (hasPrototypeKeys(body)) {
    throw new SmsOtpError('INVALID_REQUEST', {
      issues: [{ path: '', message: 'body holds a __proto__ or constructor.prototype key' }],
    });
  }
  const result = schema.safeParse(body);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.'),
      message: issue.message,
    }));
    throw new SmsOtpError('INVALID_REQUEST', { issues });
  }
  return result.data;
}

/**
 * Whether the body came as the API takes it: no Content-Encoding (or `identity`), and UTF-8 if a charset is
 * named. Express's parser would inflate and decode other bodies where Koa's and Fastify's read the bytes as
 * UTF-8; refusing them keeps one answer for one request on every framework.
 */
function plainUtf8(request: HttpRequest): boolean {
  const encoding = header(request, 'content-encoding');
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return false;
  const type = header(request, 'content-type');
  if (type === undefined || isPlainJsonType(type)) return true;
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(type)?.[1]?.toLowerCase();
  return charset === undefined || charset === 'utf-8' || charset === 'utf8';
}

/**
 * Whether a parsed body holds, at any depth, a `__proto__` key or a `constructor` key with a `prototype`: the
 * keys of prototype-poisoning attempts, which Fastify's parser refuses. Refused on every framework alike.
 */
function hasPrototypeKeys(body: object): boolean {
  const pending: object[] = [body];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (Object.hasOwn(node, '__proto__')) return true;
    const ctor = Object.hasOwn(node, 'constructor')
      ? (node as { constructor: unknown }).constructor
      : undefined;
    if (typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype')) return true;
    for (const value of Object.values(node)) {
      if (typeof value === 'object' && value !== null) pending.push(value);
    }
  }
  return false;
}

function header(request: HttpRequest, name: string): string | undefined {
  const value = request.headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The token of a guarded request: the header, else the cookie, but only in cookie mode (`cookieName` set). A
 * host that never set the cookie never accepts one: a cookie the browser sends by itself is a credential the
 * host did not ask for.
 */
function tokenOf(request: HttpRequest, cookieName: string | undefined): string | undefined {
  const fromHeader = header(request, TOKEN_HEADER);
  if (fromHeader) return fromHeader.trim();
  const cookies = cookieName === undefined ? undefined : header(request, 'cookie');
  if (!cookies) return undefined;
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === cookieName) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return 'malformed';
      }
    }
  }
  return undefined;
}

/** A loopback host: `localhost` (and its subdomains), 127.0.0.0/8, `::1`; with or without a port. */
function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[')
    ? host.slice(1, host.indexOf(']'))
    : host.includes(':') && host.indexOf(':') === host.lastIndexOf(':')
      ? host.slice(0, host.indexOf(':'))
      : host;
  const lower = name.toLowerCase().replace(/\.$/, '');
  if (lower === 'localhost' || lower.endsWith('.localhost') || lower === '::1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(lower);
}

/**
 * Whether the token cookie gets `Secure` (decision 12): always, unless the request is plain HTTP to a loopback
 * host (a developer's `http://localhost:3000`, where some browsers drop a Secure cookie and nothing crosses a
 * network). An unknown protocol, or plain HTTP to any other host, gets `Secure`.
 */
export function cookieIsSecure(request: Pick<HttpRequest, 'protocol' | 'host' | 'headers'>): boolean {
  if (request.protocol?.toLowerCase() !== 'http') return true;
  const host = request.host ?? header(request as HttpRequest, 'host');
  return host === undefined || !isLoopbackHost(host.trim());
}

function tokenCookie(
  cookie: NonNullable<ResolvedHttpOptions['cookie']>,
  token: string,
  maxAge: number,
  secure: boolean,
): string {
  const parts = [
    `${cookie.name}=${token}`,
    `Path=${cookie.path}`,
    `Max-Age=${maxAge}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (secure) parts.push('Secure');
  return parts.join('; ');
}
