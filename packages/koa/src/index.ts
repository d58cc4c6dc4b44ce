import {
  type HttpOptions,
  type HttpRequest,
  type HttpResponse,
  handleGuard,
  handleSend,
  handleVerify,
  MAX_BODY_BYTES,
  resolveHttpOptions,
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
  /** Where `POST /send` and `POST /verify` live. Default `'/sms'`. */
  prefix?: string;
}

/** Options of `requireSmsVerified()`. Route options (`cookie`, `messages`, `formatResponse`) apply to its errors. */
export interface RequireSmsVerifiedOptions extends HttpOptions {
  /** The purpose the token must have been made for, e.g. `'login'`. */
  purpose: string;
  /** Makes the token good for this one request. Default `true`. */
  consume?: boolean;
}

/**
 * Koa middleware answering `POST {prefix}/send` and `POST {prefix}/verify`; everything else goes to `next`.
 * Uses `ctx.request.body` when a host body parser set it, else reads the JSON body itself (16 KB).
 * The client IP is `ctx.ip` (Koa's `app.proxy`).
 *
 * @example
 * app.use(smsOtp(otp, { prefix: '/sms' }));
 */
export function smsOtp(otp: SmsOtp, options: SmsOtpMiddlewareOptions = {}): Middleware {
  const { prefix = '/sms', ...http } = options;
  const resolved = resolveHttpOptions(otp, http);
  const routes = new Map([
    [`${prefix}/send`, handleSend],
    [`${prefix}/verify`, handleVerify],
  ]);
  return async function smsOtpMiddleware(ctx, next) {
    const handler = ctx.method === 'POST' ? routes.get(ctx.path) : undefined;
    if (!handler) return next();
    write(ctx, await handler(otp, await toHttpRequest(ctx, true), resolved));
  };
}

/**
 * Middleware that lets a request through only with a valid verification token (`X-Sms-Token` header or
 * `sms_token` cookie) for `purpose`; sets `ctx.state.smsVerified`. Otherwise answers 401/403.
 *
 * @example
 * router.post('/login', requireSmsVerified(otp, { purpose: 'login' }), (ctx) => {
 *   ctx.body = { phone: ctx.state.smsVerified!.phone };
 * });
 */
export function requireSmsVerified(otp: SmsOtp, options: RequireSmsVerifiedOptions): Middleware {
  const { purpose, consume = true, ...http } = options;
  const resolved = resolveHttpOptions(otp, http);
  return async function smsVerifiedGuard(ctx, next) {
    const result = await handleGuard(otp, await toHttpRequest(ctx, false), { purpose, consume }, resolved);
    if (!result.ok) return write(ctx, result.response);
    ctx.state.smsVerified = result.verified;
    return next();
  };
}

async function toHttpRequest(ctx: Context, withBody: boolean): Promise<HttpRequest> {
  const request: HttpRequest = { headers: ctx.headers, ...(ctx.ip ? { ip: ctx.ip } : {}) };
  // Only a JSON body counts: a form or text body a host parser read is not this API's input.
  if (!withBody || !ctx.is('application/json')) return request;
  const parsed = (ctx.request as { body?: unknown }).body;
  if (parsed !== undefined) return { ...request, body: parsed };
  return { ...request, rawBody: await readBody(ctx) };
}

/** Reads the body as UTF-8, keeping at most one byte over the limit (the core then refuses it). */
function readBody(ctx: Context): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    ctx.req.on('data', (chunk: Buffer) => {
      if (size > MAX_BODY_BYTES) return; // drained, not kept
      size += chunk.length;
      chunks.push(
        size > MAX_BODY_BYTES ? chunk.subarray(0, chunk.length - (size - MAX_BODY_BYTES - 1)) : chunk,
      );
    });
    ctx.req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    ctx.req.on('error', reject);
    ctx.req.on('close', () => ctx.req.complete || reject(new Error('request aborted')));
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
