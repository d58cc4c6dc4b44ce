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
  sendBodySchema,
  type VerifiedPhone,
  verifyBodySchema,
} from '@sms-otp/core';
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
} from 'fastify';
import fp from 'fastify-plugin';

/** Options of `smsOtpPlugin`: the engine, the route prefix and the core's route options. */
export interface SmsOtpPluginOptions extends HttpOptions {
  otp: SmsOtp;
  /** Where `POST /send`, `POST /verify` and `GET /captcha` live. Default `'/sms'`. */
  prefix?: string;
  /**
   * Adds `POST {prefix}/receipts/:vendor` for vendors' delivery receipts (off by default), e.g.
   * `{ twilio: { authToken }, aliyun: { secretPath } }`. See VENDORS.md, "Delivery receipts".
   */
  receipts?: ReceiptOptions;
}

/** Options of `app.requireSmsVerified()`. Unset route options are those the plugin was registered with. */
export interface RequireSmsVerifiedOptions extends HttpOptions {
  /** The purpose the token must have been made for, e.g. `'login'`. */
  purpose: string;
  /** Makes the token good for this one request. Default `true`. */
  consume?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** A preHandler that lets a request through only with a valid verification token for `purpose`. */
    requireSmsVerified(options: RequireSmsVerifiedOptions): preHandlerAsyncHookHandler;
  }
  interface FastifyRequest {
    /** Set by `requireSmsVerified`: the phone the request proved, its purpose and when. */
    smsVerified?: VerifiedPhone;
  }
}

type Handler = (otp: SmsOtp, request: HttpRequest, options: ResolvedHttpOptions) => Promise<HttpResponse>;

const plugin: FastifyPluginAsync<SmsOtpPluginOptions> = async (app, options) => {
  // Fastify's own register options travel in the same object; the rest must be the engine and route options.
  const {
    otp: engine,
    logLevel: _logLevel,
    logSerializers: _logSerializers,
    ...routeOptions
  } = (options ?? {}) as Partial<SmsOtpPluginOptions> & { logLevel?: unknown; logSerializers?: unknown };
  const usage = "app.register(smsOtpPlugin, { otp, prefix: '/sms' })";
  const { otp, prefix, receipts, http } = checkRouteOptions(engine, routeOptions, usage);
  const resolved = resolveHttpOptions(otp, http);
  const receiptRoutes = receipts === undefined ? undefined : resolveReceipts(otp, receipts);
  rememberRouteOptions(otp, http);

  if (!app.hasRequestDecorator('smsVerified')) app.decorateRequest('smsVerified', undefined);
  if (!app.hasDecorator('requireSmsVerified')) {
    app.decorate('requireSmsVerified', (guard: RequireSmsVerifiedOptions) => {
      const usage = 'app.requireSmsVerified({ purpose: {purpose} })';
      const { check, http: own } = checkGuardOptions(otp, guard, usage);
      const routeOptions = guardRouteOptions(otp, own);
      return async function smsVerifiedGuard(request: FastifyRequest, reply: FastifyReply) {
        const result = await handleGuard(otp, toHttpRequest(request), check, routeOptions());
        if (!result.ok) return write(reply, result.response);
        request.smsVerified = result.verified;
      };
    });
  }

  const answer = async (handler: Handler, request: HttpRequest, reply: FastifyReply) =>
    write(reply, await handler(otp, request, resolved));
  const route = (path: string, schema: typeof sendBodySchema | typeof verifyBodySchema, handler: Handler) =>
    app.post(
      path,
      {
        bodyLimit: MAX_BODY_BYTES,
        // Generated from the core's zod schema for documentation (e.g. @fastify/swagger). The core
        // validates the body itself, so Fastify's validator (which would coerce types) is bypassed.
        schema: { body: schema.toJSONSchema({ io: 'input', target: 'draft-07' }) },
        validatorCompiler: () => (value: unknown) => ({ value }),
        // A body Fastify's parser refused (not JSON, too large, wrong content type, `__proto__` keys): the
        // core answers INVALID_REQUEST. Other errors (a host hook's 429, say) go on to the host's handler.
        errorHandler: async (error: { code?: string }, _request, reply) => {
          if (!error.code?.startsWith('FST_ERR_CTP_')) throw error;
          const tooLarge = error.code === 'FST_ERR_CTP_BODY_TOO_LARGE';
          return answer(handler, { bodyError: tooLarge ? 'too-large' : 'not-json' }, reply);
        },
      },
      async (request, reply) => answer(handler, toHttpRequest(request), reply),
    );
  route(`${prefix}/send`, sendBodySchema, handleSend);
  route(`${prefix}/verify`, verifyBodySchema, handleVerify);
  // GET only: a HEAD route would mint a captcha nobody sees.
  app.get(`${prefix}/captcha`, { exposeHeadRoute: false }, async (request, reply) =>
    answer(handleCaptcha, toHttpRequest(request), reply),
  );
  // In a context of its own, so that the form parser it adds stays out of the host's routes.
  if (receiptRoutes) await app.register(async (scope) => mountReceipts(scope, otp, prefix, receiptRoutes));
};

const FORM = 'application/x-www-form-urlencoded';

/** `POST {prefix}/receipts/:vendor` (Twilio) and `…/:vendor/:secret` (Aliyun, Tencent). */
function mountReceipts(app: FastifyInstance, otp: SmsOtp, prefix: string, receipts: ResolvedReceipts): void {
  // Twilio posts a form: read as text for the core, unless the host registered a form parser (@fastify/formbody).
  if (!app.hasContentTypeParser(FORM)) {
    app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_request, body, done) =>
      done(null, body),
    );
  }
  const answer = async (request: ReceiptRequest, reply: FastifyReply) =>
    write(reply, await handleReceipt(otp, receipts, request));
  const route = {
    bodyLimit: MAX_BODY_BYTES,
    errorHandler: async (error: { code?: string }, request: FastifyRequest, reply: FastifyReply) => {
      if (!error.code?.startsWith('FST_ERR_CTP_')) throw error;
      const { vendor, secret } = request.params as { vendor: string; secret?: string };
      const bodyError = error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'too-large' : 'not-json';
      return answer({ vendor, ...(secret === undefined ? {} : { secret }), bodyError }, reply);
    },
  };
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const { vendor, secret } = request.params as { vendor: string; secret?: string };
    const http: ReceiptRequest = {
      vendor,
      headers: request.headers,
      url: `${request.protocol}://${request.host}${request.url}`,
    };
    if (secret !== undefined) http.secret = secret;
    if (typeof request.body === 'string') http.rawBody = request.body;
    else if (request.body !== undefined && request.body !== null) http.body = request.body;
    return answer(http, reply);
  };
  app.post(`${prefix}/receipts/:vendor`, route, handler);
  app.post(`${prefix}/receipts/:vendor/:secret`, route, handler);
}

/**
 * Fastify plugin: `POST {prefix}/send`, `POST {prefix}/verify`, `GET {prefix}/captcha`, and the
 * `app.requireSmsVerified({ purpose })` preHandler, which sets `request.smsVerified`. The client IP is
 * `request.ip` (Fastify's `trustProxy`).
 *
 * @example
 * await app.register(smsOtpPlugin, { otp, prefix: '/sms' });
 * app.post('/login', { preHandler: app.requireSmsVerified({ purpose: 'login' }) }, async (request) => ({
 *   phone: request.smsVerified!.phone,
 * }));
 */
export const smsOtpPlugin = fp(plugin, { fastify: '5.x', name: '@sms-otp/fastify' });
export default smsOtpPlugin;

/** `application/json`, with or without parameters: the only body this API reads (Fastify also parses text). */
const JSON_TYPE = /^application\/json\s*(;|$)/i;

function toHttpRequest(request: FastifyRequest): HttpRequest {
  const type = request.headers['content-type'];
  const json = isPlainJsonType(type) || (type !== undefined && JSON_TYPE.test(type));
  const http: HttpRequest = { body: json ? request.body : undefined, headers: request.headers };
  if (request.ip) http.ip = request.ip;
  return http;
}

function write(reply: FastifyReply, response: HttpResponse): FastifyReply {
  return reply
    .code(response.status)
    .headers(response.headers)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(response.body));
}
