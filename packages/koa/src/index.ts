import {
  checkGuardOptions,
  checkRouteOptions,
  guardRouteOptions,
  type HttpOptions,
  type HttpRequest,
  type HttpResponse,
  handleCaptcha,
  handleGuard,
  handleReceipt,
  handleSend,
  handleVerify,
  isPlainJsonType,
  MAX_BODY_BYTES,
  type ReceiptOptions,
  type ReceiptRequest,
  rememberRouteOptions,
  resolveHttpOptions,
  resolveReceipts,
  type SmsOtp,
  type VerifiedPhone,
} from '@sms-otp/core';
import type { Context, Middleware } from 'koa';

declare module 'koa' {
  interface DefaultState {
    /** Set by `requireSmsVerified`: the phone the request proved, its purpose and when. */
    smsVerified?: VerifiedPhone;
  }
}

/** Options of `smsOtp()`: the route prefix plus the core's route options. */
export interface SmsOtpMiddlewareOptions extends HttpOptions {
  /** Where `POST /send`, `POST /verify` and `GET /captcha` live. Default `'/sms'`. */
  prefix?: string;
  /**
   * Answers `POST {prefix}/receipts/:vendor` for vendors' delivery receipts (off by default), e.g.
   * `{ twilio: { authToken }, aliyun: { secretPath } }`. See VENDORS.md, "Delivery receipts".
   */
  receipts?: ReceiptOptions;
}

/** Options of `requireSmsVerified()`. Route options (`cookie`, `messages`, `formatResponse`) apply to its errors. */
export interface RequireSmsVerifiedOptions extends HttpOptions {
  /** The purpose the token must have been made for, e.g. `'login'`. */
  purpose: string;
  /** Makes the token good for this one request. Default `true`. */
  consume?: boolean;
}

/**
 * Koa middleware answering `POST {prefix}/send`, `POST {prefix}/verify` and `GET {prefix}/captcha`;
 * everything else goes to `next`.
 * Uses `ctx.request.body` when a host body parser set it, else reads the JSON body itself (16 KB).
 * The client IP is `ctx.ip` (Koa's `app.proxy`).
 *
 * @example
 * app.use(smsOtp(otp, { prefix: '/sms' }));
 */
export function smsOtp(engine: SmsOtp, options?: SmsOtpMiddlewareOptions): Middleware {
  const { otp, prefix, receipts, http } = checkRouteOptions(
    engine,
    options,
    "smsOtp(otp, { prefix: '/sms' })",
  );
  const resolved = resolveHttpOptions(otp, http);
  const receiptRoutes = receipts === undefined ? undefined : resolveReceipts(otp, receipts);
  const receiptsPath = `${prefix}/receipts/`;
  rememberRouteOptions(otp, http);
  const routes = new Map([
    [`POST ${prefix}/send`, handleSend],
    [`POST ${prefix}/verify`, handleVerify],
    [`GET ${prefix}/captcha`, handleCaptcha],
  ]);
  return async function smsOtpMiddleware(ctx, next) {
    const handler = routes.get(`${ctx.method} ${ctx.path}`);
    if (!handler && receiptRoutes && ctx.method === 'POST' && ctx.path.startsWith(receiptsPath)) {
      // `:vendor` or `:vendor/:secret`, as Express and Fastify match them.
      const [vendor, secret, ...rest] = ctx.path.slice(receiptsPath.length).split('/');
      if (vendor && rest.length === 0 && secret !== '') {
        const request = await toReceiptRequest(ctx, vendor, secret);
        return write(ctx, await handleReceipt(otp, receiptRoutes, request));
      }
    }
    if (!handler) return next();
    write(ctx, await handler(otp, await toHttpRequest(ctx, ctx.method === 'POST'), resolved));
  };
}

/**
 * Middleware that lets a request through only with a valid verification token (`X-Sms-Token` header, or the
 * token cookie in cookie mode) for `purpose`; sets `ctx.state.smsVerified`. Otherwise answers 401/403. Route
 * options (`cookie`, `messages`, `formatResponse`) are the guard's own, else those `smsOtp()` was mounted with
 * for the same engine, else the engine's.
 *
 * @example
 * router.post('/login', requireSmsVerified(otp, { purpose: 'login' }), (ctx) => {
 *   ctx.body = { phone: ctx.state.smsVerified!.phone };
 * });
 */
export function requireSmsVerified(engine: SmsOtp, options: RequireSmsVerifiedOptions): Middleware {
  const usage = 'requireSmsVerified(otp, { purpose: {purpose} })';
  const { otp, check, http } = checkGuardOptions(engine, options, usage);
  const routeOptions = guardRouteOptions(otp, http);
  return async function smsVerifiedGuard(ctx, next) {
    const result = await handleGuard(otp, await toHttpRequest(ctx, false), check, routeOptions());
    if (!result.ok) return write(ctx, result.response);
    ctx.state.smsVerified = result.verified;
    return next();
  };
}

async function toHttpRequest(ctx: Context, withBody: boolean): Promise<HttpRequest> {
  const request: HttpRequest = { headers: ctx.headers };
  if (ctx.ip) request.ip = ctx.ip;
  // Only a JSON body counts: a form or text body a host parser read is not this API's input.
  if (!withBody || !(isPlainJsonType(ctx.headers['content-type']) || ctx.is('application/json'))) {
    return request;
  }
  const parsed = (ctx.request as { body?: unknown }).body;
  if (parsed !== undefined) {
    request.body = parsed;
    return request;
  }
  const body = await readBody(ctx);
  if (typeof body === 'string') request.rawBody = body;
  else request.bodyError = body.error;
  return request;
}

async function toReceiptRequest(
  ctx: Context,
  vendor: string,
  secret: string | undefined,
): Promise<ReceiptRequest> {
  const request: ReceiptRequest = { vendor, headers: ctx.headers, url: ctx.href };
  if (secret !== undefined) request.secret = secret;
  const parsed = (ctx.request as { body?: unknown }).body;
  if (parsed !== undefined) {
    request.body = parsed;
    return request;
  }
  const body = await readBody(ctx);
  if (typeof body === 'string') request.rawBody = body;
  else request.bodyError = body.error;
  return request;
}

/**
 * Reads the body as UTF-8: `too-large` when it is over the limit (the rest is drained, not kept), `not-json`
 * when the client broke off the upload (answered like any bad body: a 400 nobody reads, not an error for the
 * app's `error` handler to log).
 */
function readBody(ctx: Context): Promise<string | { error: 'too-large' | 'not-json' }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    ctx.req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    ctx.req.on('end', () =>
      resolve(size > MAX_BODY_BYTES ? { error: 'too-large' } : Buffer.concat(chunks).toString('utf8')),
    );
    ctx.req.on('error', () => resolve({ error: 'not-json' }));
    ctx.req.on('close', () => ctx.req.complete || resolve({ error: 'not-json' }));
  });
}

function write(ctx: Context, response: HttpResponse): void {
  for (const [name, value] of Object.entries(response.headers)) {
    if (name === 'set-cookie') ctx.append(name, value);
    else ctx.set(name, value);
  }
  ctx.status = response.status;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(response.body);
}
