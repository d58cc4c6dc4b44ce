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
  type ResolvedHttpOptions,
  type ResolvedReceipts,
  rememberRouteOptions,
  resolveHttpOptions,
  resolveReceipts,
  type SmsOtp,
  type VerifiedPhone,
} from '@sms-otp/core';
import express, {
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';

declare global {
  namespace Express {
    interface Request {
      /** Set by `requireSmsVerified`: the phone the request proved, its purpose and when. */
      smsVerified?: VerifiedPhone;
    }
  }
}

/** Options of `smsOtp()`: the route prefix plus the core's route options. */
export interface SmsOtpRouterOptions extends HttpOptions {
  /** Where `POST /send`, `POST /verify` and `GET /captcha` live. Default `'/sms'`. */
  prefix?: string;
  /**
   * Mounts `POST {prefix}/receipts/:vendor` for vendors' delivery receipts (off by default), e.g.
   * `{ twilio: { authToken } , aliyun: { secretPath } }`. See VENDORS.md, "Delivery receipts".
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

type Handler = (otp: SmsOtp, request: HttpRequest, options: ResolvedHttpOptions) => Promise<HttpResponse>;

/**
 * An Express router with `POST {prefix}/send`, `POST {prefix}/verify` and `GET {prefix}/captcha`. It parses
 * JSON itself (16 KB), or uses the body a host parser already set; the client IP is `req.ip` (Express's
 * `trust proxy`).
 *
 * @example
 * app.use(smsOtp(otp, { prefix: '/sms' }));
 */
export function smsOtp(engine: SmsOtp, options?: SmsOtpRouterOptions): Router {
  const { otp, prefix, receipts, http } = checkRouteOptions(
    engine,
    options,
    "smsOtp(otp, { prefix: '/sms' })",
  );
  const resolved = resolveHttpOptions(otp, http);
  const receiptRoutes = receipts === undefined ? undefined : resolveReceipts(otp, receipts);
  rememberRouteOptions(otp, http);
  // Paths as Koa and Fastify match them: exact case, no trailing slash.
  const router = express.Router({ caseSensitive: true, strict: true });
  // Not strict: a JSON `null`, number or string reaches the core, which answers it as Koa's and Fastify's do.
  const json = express.json({ limit: MAX_BODY_BYTES, strict: false });
  const answer = (handler: Handler, request: HttpRequest, res: Response, next: (error: unknown) => void) =>
    void handler(otp, request, resolved).then((response) => write(res, response), next);
  const route =
    (handler: Handler): RequestHandler =>
    (req, res, next) =>
      answer(handler, toHttpRequest(req), res, next);
  // A body the parser refused (not JSON, too large, bad charset): the core answers INVALID_REQUEST.
  const refused =
    (handler: Handler): ErrorRequestHandler =>
    (error: { status?: number; type?: string }, _req, res, next) => {
      if (typeof error?.status !== 'number' || error.status >= 500) return next(error);
      answer(handler, { bodyError: error.type === 'entity.too.large' ? 'too-large' : 'not-json' }, res, next);
    };
  router.post(`${prefix}/send`, json, route(handleSend), refused(handleSend));
  router.post(`${prefix}/verify`, json, route(handleVerify), refused(handleVerify));
  // GET only: Express would answer HEAD with the GET handler, minting a captcha nobody sees.
  const captcha = route(handleCaptcha);
  router.get(`${prefix}/captcha`, (req, res, next) =>
    req.method === 'HEAD' ? next() : captcha(req, res, next),
  );
  if (receiptRoutes) mountReceipts(router, otp, prefix, receiptRoutes);
  return router;
}

/**
 * Middleware that lets a request through only with a valid verification token (`X-Sms-Token` header, or the
 * token cookie in cookie mode) for `purpose`; sets `req.smsVerified`. Otherwise answers 401/403 with the error
 * body. Route options (`cookie`, `messages`, `formatResponse`) are the guard's own, else those `smsOtp()` was
 * mounted with for the same engine, else the engine's.
 *
 * @example
 * app.post('/login', requireSmsVerified(otp, { purpose: 'login' }), (req, res) => {
 *   res.json({ phone: req.smsVerified!.phone });
 * });
 */
export function requireSmsVerified(engine: SmsOtp, options: RequireSmsVerifiedOptions): RequestHandler {
  const usage = 'requireSmsVerified(otp, { purpose: {purpose} })';
  const { otp, check, http } = checkGuardOptions(engine, options, usage);
  const routeOptions = guardRouteOptions(otp, http);
  return function smsVerifiedGuard(req, res, next) {
    handleGuard(otp, toHttpRequest(req), check, routeOptions()).then((result) => {
      if (!result.ok) return write(res, result.response);
      req.smsVerified = result.verified;
      next();
    }, next);
  };
}

/**
 * `POST {prefix}/receipts/:vendor` (Twilio) and `…/:vendor/:secret` (Aliyun, Tencent). The body is read as
 * text (16 KB) unless a host parser already read it; the core parses and authenticates it.
 */
function mountReceipts(router: Router, otp: SmsOtp, prefix: string, receipts: ResolvedReceipts): void {
  const text = express.text({ type: () => true, limit: MAX_BODY_BYTES });
  const receive: RequestHandler = (req, res, next) => {
    const request: ReceiptRequest = {
      vendor: String(req.params.vendor),
      headers: req.headers,
      url: `${req.protocol}://${req.get('host')}${req.originalUrl}`,
    };
    if (req.params.secret !== undefined) request.secret = String(req.params.secret);
    if (typeof req.body === 'string') request.rawBody = req.body;
    else if (req.body !== undefined && req.body !== null) request.body = req.body;
    void handleReceipt(otp, receipts, request).then((response) => write(res, response), next);
  };
  const refused: ErrorRequestHandler = (error: { status?: number; type?: string }, req, res, next) => {
    if (typeof error?.status !== 'number' || error.status >= 500) return next(error);
    const request: ReceiptRequest = {
      vendor: String(req.params.vendor),
      bodyError: error.type === 'entity.too.large' ? 'too-large' : 'not-json',
    };
    if (req.params.secret !== undefined) request.secret = String(req.params.secret);
    void handleReceipt(otp, receipts, request).then((response) => write(res, response), next);
  };
  router.post(`${prefix}/receipts/:vendor`, text, receive, refused);
  router.post(`${prefix}/receipts/:vendor/:secret`, text, receive, refused);
}

function toHttpRequest(req: Request): HttpRequest {
  // Only a JSON body counts: a form or text body a host parser read is not this API's input.
  const json = isPlainJsonType(req.headers['content-type']) || req.is('application/json');
  const request: HttpRequest = { body: json ? req.body : undefined, headers: req.headers };
  if (req.ip) request.ip = req.ip;
  return request;
}

function write(res: Response, response: HttpResponse): void {
  for (const [name, value] of Object.entries(response.headers)) {
    if (name === 'set-cookie') res.append(name, value);
    else res.set(name, value);
  }
  res.status(response.status).json(response.body);
}
