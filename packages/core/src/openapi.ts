import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode, MESSAGES_EN } from './errors.js';
import { sendBodySchema, TOKEN_COOKIE, verifyBodySchema } from './http.js';
import type { ReceiptOptions, ReceiptVendor } from './receipts.js';

/** A JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1). */
export type JsonSchema = Record<string, unknown>;

/** One response of an operation. */
export interface OpenApiResponse {
  description: string;
  headers?: Record<string, { description: string; schema: JsonSchema }>;
  content?: Record<
    string,
    { schema: JsonSchema; examples?: Record<string, { summary?: string; value: unknown }> }
  >;
  /** Operations that take values from this answer (OpenAPI Link Objects, runtime expressions). */
  links?: Record<string, OpenApiLink>;
}

/** A link from an answer to the next operation: what a stateful tool fills in from this exchange. */
export interface OpenApiLink {
  operationId: string;
  description: string;
  /** By parameter name (`header.X-Sms-Token`): a runtime expression such as `$response.body#/token`. */
  parameters?: Record<string, string>;
  /** The next request's body, each field a runtime expression (`$request.body#/phone`). */
  requestBody?: Record<string, string>;
}

/** An entry of the document's `servers`. */
export interface OpenApiServer {
  url: string;
  description?: string;
}

/** One operation (`post`, `get` …) of a path. */
export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{
    name: string;
    in: 'path' | 'header';
    required: boolean;
    description: string;
    schema: JsonSchema;
  }>;
  requestBody?: {
    required: boolean;
    content: Record<
      string,
      { schema: JsonSchema; examples?: Record<string, { summary?: string; value: unknown }> }
    >;
  };
  responses: Record<string, OpenApiResponse>;
}

/** The document `openApiDocument` returns: plain JSON, ready for `JSON.stringify`. */
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: OpenApiServer[];
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes: Record<
      string,
      { type: 'apiKey'; in: 'header' | 'cookie'; name: string; description: string }
    >;
  };
}

/** A host route behind `requireSmsVerified`, to be listed with the token security scheme. */
export interface GuardedRoute {
  /** HTTP method, e.g. `'post'`. */
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** The route's path, e.g. `'/login'`. */
  path: string;
  /** The purpose the guard asks for. */
  purpose: string;
  /** One line about what the route does. */
  summary?: string;
}

export interface OpenApiOptions {
  /** Where the routes are mounted. Default `'/sms'`. */
  prefix?: string;
  /** `info.title`. Default `'SMS one-time codes'`. */
  title?: string;
  /** `info.version`. Default `'1.0.0'`. */
  version?: string;
  /** Host routes behind the guard, listed with the `X-Sms-Token` scheme and the guard's errors. */
  guarded?: GuardedRoute[];
  /**
   * The routes' cookie mode, as given to them (`cookie` route option): verify's `Set-Cookie` and the cookie
   * scheme of guarded routes are listed only with it (without it the guard takes no cookie). Default `false`.
   */
  cookie?: boolean | { name?: string };
  /**
   * The receipts route, when the routes were mounted with `receipts`: the same options, or the vendors' names.
   * Listed only then; secret paths appear as a `{secretPath}` parameter, never their value. Default: none.
   */
  receipts?: ReceiptOptions | readonly ReceiptVendor[];
  /**
   * The document's `servers`: where the paths (which include `prefix`) are served. Default `[{ url: '/' }]`,
   * the host that serves the document.
   */
  servers?: readonly OpenApiServer[];
  /**
   * Whether the engine resolves user ids to phones (`resolvePhone`): only then do the request bodies list
   * `userId` (as an alternative to `phone`). Default `false`: `phone` is required.
   */
  userIds?: boolean;
  /** The engine's `purposes`: `purpose` is then one of them. Default: any string (the server answers UNKNOWN_PURPOSE). */
  purposes?: readonly string[];
  /** The channels the sender supports (`sender.channels`): `channel` is then one of them. Default `['sms', 'voice']`. */
  channels?: readonly ('sms' | 'voice')[];
  /**
   * Digits in a code: the engine's `codeLength`, or a range when a code provider makes codes of its own
   * length. Default `{ min: 4, max: 10 }` (the range `codeLength` takes).
   */
  codeLength?: number | { min: number; max: number };
  /**
   * The engine runs with `exposeCode: true` (development only): the send→verify link then also carries the
   * send's `devCode` as `code`, so a tool can walk send → verify → guarded route alone. Default `false`.
   */
  exposeCode?: boolean;
}

/**
 * Error codes each route can answer, by route (DESIGN.md's table): a send also meets the phone's failure
 * ceiling (TOO_MANY_ATTEMPTS); a verify past the phone's `maxFailuresPerPhone` asks for a captcha
 * (CAPTCHA_REQUIRED, CAPTCHA_INVALID), and meets the per-IP window of failed verifies and, with a code
 * provider, the vendor's own limit (RATE_LIMITED).
 */
export const ROUTE_ERRORS = {
  send: [
    'INVALID_REQUEST',
    'INVALID_PHONE',
    'COUNTRY_NOT_ALLOWED',
    'UNKNOWN_PURPOSE',
    'CAPTCHA_REQUIRED',
    'CAPTCHA_INVALID',
    'RESEND_TOO_SOON',
    'RATE_LIMITED',
    'TOO_MANY_ATTEMPTS',
    'SEND_FAILED',
    'STORE_UNAVAILABLE',
  ],
  verify: [
    'INVALID_REQUEST',
    'INVALID_PHONE',
    'COUNTRY_NOT_ALLOWED',
    'UNKNOWN_PURPOSE',
    'CAPTCHA_REQUIRED',
    'CAPTCHA_INVALID',
    'CODE_INVALID',
    'CODE_EXPIRED',
    'TOO_MANY_ATTEMPTS',
    'RATE_LIMITED',
    'SEND_FAILED',
    'STORE_UNAVAILABLE',
  ],
  captcha: ['RATE_LIMITED', 'STORE_UNAVAILABLE'],
  guard: [
    'NOT_VERIFIED',
    'TOKEN_INVALID',
    'TOKEN_EXPIRED',
    'TOKEN_USED',
    'PURPOSE_MISMATCH',
    'STORE_UNAVAILABLE',
  ],
} as const satisfies Record<string, readonly ErrorCode[]>;

const errorCodes = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];
const seconds = (what: string) => z.number().int().min(0).describe(what);

const sendResultSchema = z
  .object({
    sent: z.literal(true),
    expiresIn: seconds('Seconds the code stays valid.').meta({ example: 300 }),
    resendIn: seconds('Seconds before another code may be sent to this phone for this purpose.').meta({
      example: 60,
    }),
    requestId: z.string().describe('Random id of this send.'),
    devCode: z
      .string()
      .describe('The code itself; only when the server runs with `exposeCode: true` (never in production).')
      .optional(),
  })
  .describe('The code was sent.');

const captchaResultSchema = z
  .object({
    captchaKey: z
      .string()
      .describe('Send it back with the answer as `captchaKey` (with `captcha`) to the send route.'),
    image: z.string().describe('The challenge: a `data:image/png;base64,…` URI for an `<img>`.'),
    expiresIn: seconds('Seconds the captcha can be answered.').meta({ example: 120 }),
  })
  .describe('A single-use image captcha.');

const verifyResultSchema = z
  .object({
    verified: z.literal(true),
    token: z
      .string()
      .describe(
        'Proof of the verification: send it as `X-Sms-Token` to a guarded route. Absent in cookie mode, where it travels only in the cookie.',
      )
      .optional(),
    expiresIn: seconds('Seconds the token is good for.').meta({ example: 600 }),
  })
  .describe('The code was right.');

const errorBodySchema = z
  .object({
    error: z
      .object({
        code: z.enum(errorCodes).describe('Stable, machine-readable error code.'),
        message: z
          .string()
          .describe('Human-readable message (English by default; see the `messages` option).'),
        attemptsLeft: seconds('CODE_INVALID: wrong guesses left before the code is dead.').optional(),
        retryAfter: seconds('429s: seconds to wait (also in the `Retry-After` header).').optional(),
        issues: z
          .array(z.object({ path: z.string(), message: z.string() }))
          .describe('INVALID_REQUEST: what is wrong, by field path.')
          .optional(),
        scope: z.string().describe('429s: which window is full (`phone`, `ip`, `code` …).').optional(),
        limit: z.number().int().describe('RATE_LIMITED: the size of the full window.').optional(),
        window: z.number().int().describe('RATE_LIMITED: the window, in seconds.').optional(),
        expected: z.string().describe('PURPOSE_MISMATCH: the purpose the route asks for.').optional(),
      })
      .loose(),
  })
  .describe('Every error: `{ error: { code, message, …details } }`.');

/** Converts a zod schema to a bare JSON Schema (no `$schema`: OpenAPI 3.1 sets the dialect). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return stripSafeIntegerBounds(rest) as JsonSchema;
}

/** zod writes `maximum: 2^53 - 1` for every int; it says nothing, so it goes. */
function stripSafeIntegerBounds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSafeIntegerBounds);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (
      (key === 'maximum' && item === Number.MAX_SAFE_INTEGER) ||
      (key === 'minimum' && item === Number.MIN_SAFE_INTEGER)
    )
      continue;
    out[key] = stripSafeIntegerBounds(item);
  }
  return out;
}

/** What the request fields mean (the body schemas in http.ts carry only their types). */
const FIELD_DESCRIPTIONS: Record<string, string> = {
  phone:
    "E.164 (`+8613800138000`), or a national number read with `country` or the server's `defaultCountry`.",
  userId: 'Instead of `phone`: the server resolves user ids to phones (`resolvePhone`).',
  country: 'How to read a national `phone`: an ISO code (`"KH"`) or a calling code (`"+855"`).',
  purpose: 'One of the purposes the server configured. Default: the first one (`"login"`).',
  channel: '`"sms"` (default) or `"voice"` where the vendor supports it.',
  captchaKey: 'Captcha challenge id, when the captcha policy asks for one.',
  captcha: 'Captcha answer, when the captcha policy asks for one.',
  code: 'The code the user received: its digits (blanks are ignored).',
  requestId: 'The `requestId` the send answered: binds the check to that send.',
};

const IGNORED_USER_ID =
  'Ignored: this server resolves no user ids (no `resolvePhone`), so `phone` is required. Still checked as a string.';

/** What the request schemas are narrowed by (the server's configuration, as far as the document knows it). */
interface RequestShape {
  userIds: boolean;
  purposes: readonly string[] | undefined;
  channels: readonly string[] | undefined;
  code: { min: number; max: number };
}

/**
 * A request body schema, from the zod schema the route parses bodies with: unknown fields are ignored;
 * `phone` is required, or `phone` or `userId` when the server resolves user ids (without, `userId` stays
 * listed, as ignored: the server still refuses one that is not a string). `code` is what the engine
 * accepts (digits, blanks ignored, as many as a code has) and `purpose` one of the configured ones, when known.
 */
function requestSchema(schema: z.ZodType, description: string, shape: RequestShape): JsonSchema {
  const base = jsonSchema(schema, 'input');
  const properties: Record<string, JsonSchema> = {};
  for (const [name, property] of Object.entries((base.properties ?? {}) as Record<string, JsonSchema>)) {
    // Without `resolvePhone` the server ignores `userId` (after checking its type): listed as such, not as a recipient.
    const text = name === 'userId' && !shape.userIds ? IGNORED_USER_ID : FIELD_DESCRIPTIONS[name];
    properties[name] = text ? { description: text, ...property } : property;
  }
  if (properties.code) {
    const { min, max } = shape.code;
    properties.code = {
      ...properties.code,
      minLength: min,
      // Blanks between digits are ignored, so a typed code may be longer than its digits (up to the body's bound).
      pattern: `^\\s*(?:[0-9]\\s*){${min},${max}}$`,
    };
  }
  if (properties.purpose && shape.purposes)
    properties.purpose = { ...properties.purpose, enum: [...shape.purposes] };
  if (properties.channel && shape.channels)
    properties.channel = { ...properties.channel, enum: [...shape.channels] };
  const required = [...((base.required as string[] | undefined) ?? [])];
  const { required: _required, ...rest } = base;
  return {
    ...rest,
    description,
    properties,
    ...(shape.userIds
      ? {
          ...(required.length > 0 ? { required } : {}),
          anyOf: [{ required: ['phone'] }, { required: ['userId'] }],
        }
      : { required: ['phone', ...required.filter((name) => name !== 'phone')] }),
  };
}

/** Every answer of the sms-otp routes carries it. */
const NO_STORE = {
  'Cache-Control': { description: 'Always `no-store`.', schema: { type: 'string', const: 'no-store' } },
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function example(code: ErrorCode): unknown {
  const details: Record<string, unknown> = {};
  if (code === 'CODE_INVALID') details.attemptsLeft = 4;
  if (ERROR_STATUS[code] === 429) details.retryAfter = 42;
  if (code === 'INVALID_REQUEST')
    details.issues = [{ path: 'phone', message: 'phone or userId is required' }];
  if (code === 'PURPOSE_MISMATCH') details.expected = 'login';
  return { error: { code, message: MESSAGES_EN[code], ...details } };
}

/** The error responses of a route: one per status, the codes of that status narrowed in the schema. */
function errorResponses(codes: readonly ErrorCode[]): Record<string, OpenApiResponse> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, OpenApiResponse> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const response: OpenApiResponse = {
      description: list.join(', '),
      content: {
        'application/json': {
          schema: {
            allOf: [
              ref('SmsOtpError'),
              // Narrows `code` and nothing else (`additionalProperties: true` says so to strict validators).
              {
                properties: {
                  error: { properties: { code: { type: 'string', enum: list } }, additionalProperties: true },
                },
              },
            ],
          },
          examples: Object.fromEntries(
            list.map((code) => [code, { summary: MESSAGES_EN[code], value: example(code) }]),
          ),
        },
      },
    };
    response.headers = { ...NO_STORE };
    if (status === 429) {
      response.headers['Retry-After'] = {
        description: 'Seconds to wait before trying again.',
        schema: { type: 'integer' },
      };
      response.headers['RateLimit-Policy'] = {
        description: 'RATE_LIMITED by a counted window: `<limit>;w=<window seconds>`.',
        schema: { type: 'string' },
      };
      response.headers.RateLimit = {
        description: 'RATE_LIMITED by a counted window: `limit=<limit>, remaining=0, reset=<seconds>`.',
        schema: { type: 'string' },
      };
    }
    responses[String(status)] = response;
  }
  return responses;
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  if (trimmed === '') return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/**
 * An OpenAPI 3.1 document of `POST {prefix}/send`, `POST {prefix}/verify` and `GET {prefix}/captcha`, generated from the same zod
 * schemas the routes parse bodies with, with every error code and status of the contract, and the
 * `X-Sms-Token` security scheme for routes behind `requireSmsVerified`. Bodies are the default ones: a
 * `formatResponse` envelope is not reflected.
 *
 * @example
 * app.get('/openapi.json', (_req, res) => {
 *   res.json(openApiDocument({ prefix: '/sms', guarded: [{ method: 'post', path: '/login', purpose: 'login' }] }));
 * });
 */
export function openApiDocument(options: OpenApiOptions = {}): OpenApiDocument {
  const prefix = normalizePrefix(options.prefix ?? '/sms');
  const json = (schema: JsonSchema) => ({ 'application/json': { schema } });

  const cookie = options.cookie
    ? { name: (typeof options.cookie === 'object' && options.cookie.name) || TOKEN_COOKIE }
    : undefined;
  const shape = requestShape(options);
  const guarded = options.guarded ?? [];
  const examples = requestExamples(shape);
  /** One of the sms-otp routes: public (`security: []`), its body, its 200 answer (every answer carries `Cache-Control`), its errors. */
  const route = (
    operationId: string,
    summary: string,
    description: string,
    request: { schema: string; examples: Record<string, { summary: string; value: unknown }> } | undefined,
    result: {
      description: string;
      schema: string;
      headers?: OpenApiResponse['headers'];
      links?: Record<string, OpenApiLink>;
    },
    errors: readonly ErrorCode[],
  ): OpenApiOperation => ({
    operationId,
    summary,
    description,
    tags: ['sms-otp'],
    security: [],
    ...(request
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref(request.schema), examples: request.examples } },
          },
        }
      : {}),
    responses: {
      '200': {
        description: result.description,
        headers: { ...NO_STORE, ...result.headers },
        content: json(ref(result.schema)),
        ...(result.links && Object.keys(result.links).length > 0 ? { links: result.links } : {}),
      },
      ...errorResponses(errors),
    },
  });

  // send → verify: the same recipient and purpose, the send's requestId (and, in development, its devCode).
  const fromSend = (field: string) => `$request.body#/${field}`;
  const verifyLink: OpenApiLink = {
    operationId: 'smsOtpVerify',
    description:
      'Check the code of this send: the same recipient and purpose, and its `requestId`' +
      (options.exposeCode
        ? '; `code` is the `devCode` (development servers only).'
        : '; `code` is what the user received.'),
    requestBody: {
      phone: fromSend('phone'),
      ...(shape.userIds ? { userId: fromSend('userId') } : {}),
      country: fromSend('country'),
      purpose: fromSend('purpose'),
      requestId: '$response.body#/requestId',
      ...(options.exposeCode ? { code: '$response.body#/devCode' } : {}),
    },
  };
  // verify → each guarded route: the token as X-Sms-Token.
  const guardLinks = Object.fromEntries(
    guarded.map((route) => [
      guardedOperationId(route),
      {
        operationId: guardedOperationId(route),
        description: `Use the token on \`${route.method.toUpperCase()} ${route.path}\` (when the verify was for purpose \`${route.purpose}\`).`,
        parameters: { 'header.X-Sms-Token': '$response.body#/token' },
      },
    ]),
  );

  const paths: OpenApiDocument['paths'] = {
    [`${prefix}/send`]: {
      post: route(
        'smsOtpSend',
        'Send a one-time code',
        'Sends a code to `phone` (or to the phone of `userId`) for `purpose`. A newer send replaces the older code. ' +
          'Sends are limited by a resend cooldown and per-phone and per-IP windows.',
        { schema: 'SendRequest', examples: examples.send },
        { description: 'The code was sent.', schema: 'SendResult', links: { smsOtpVerify: verifyLink } },
        ROUTE_ERRORS.send,
      ),
    },
    [`${prefix}/verify`]: {
      post: route(
        'smsOtpVerify',
        'Check a one-time code',
        'Checks `code` for `phone` and `purpose`. A code verifies at most once and dies after too many wrong ' +
          'guesses. The token it returns proves the verification to a guarded route (`X-Sms-Token`).',
        { schema: 'VerifyRequest', examples: examples.verify },
        {
          description: 'The code was right.',
          schema: 'VerifyResult',
          links: guardLinks,
          ...(cookie
            ? {
                headers: {
                  'Set-Cookie': {
                    description: `The token as \`${cookie.name}\` (HttpOnly, SameSite=Strict, Secure unless plain HTTP to a loopback host): cookie mode, where the body carries no token.`,
                    schema: { type: 'string' },
                  },
                },
              }
            : {}),
        },
        ROUTE_ERRORS.verify,
      ),
    },
    [`${prefix}/captcha`]: {
      get: route(
        'smsOtpCaptcha',
        'Make an image captcha',
        'A single-use image captcha for a send that answers CAPTCHA_REQUIRED: show `image`, then send ' +
          '`captchaKey` and the typed answer as `captcha`. Limited per IP and hour.',
        undefined,
        { description: 'A new captcha.', schema: 'CaptchaResult' },
        ROUTE_ERRORS.captcha,
      ),
    },
  };

  Object.assign(paths, receiptPaths(prefix, options.receipts));

  for (const route of guarded) {
    paths[route.path] = { ...paths[route.path], [route.method]: guardedOperation(route, prefix, cookie) };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: options.title ?? 'SMS one-time codes',
      version: options.version ?? '1.0.0',
      description:
        'Send a one-time code by SMS and check it. Every error is `{ "error": { "code", "message", …details } }`; ' +
        '429 responses carry `Retry-After`.',
    },
    servers: options.servers ? options.servers.map((server) => ({ ...server })) : [{ url: '/' }],
    tags: [{ name: 'sms-otp', description: 'One-time codes by SMS' }],
    paths,
    components: components(cookie, shape),
  };
}

function guardedOperationId(route: GuardedRoute): string {
  return `${route.method}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`;
}

/** The options that narrow the request schemas. */
function requestShape(options: OpenApiOptions): RequestShape {
  const length = options.codeLength ?? { min: 4, max: 10 };
  const code =
    typeof length === 'number' ? { min: length, max: length } : { min: length.min, max: length.max };
  if (!Number.isInteger(code.min) || !Number.isInteger(code.max) || code.min < 1 || code.max < code.min)
    throw new TypeError(
      `openApiDocument: codeLength must be a positive integer or { min, max } with min ≤ max`,
    );
  return { userIds: options.userIds === true, purposes: options.purposes, channels: options.channels, code };
}

/** Request examples that the document's own schemas accept. */
function requestExamples(shape: RequestShape) {
  const purpose = shape.purposes?.[0] ?? 'login';
  const digits = Math.min(Math.max(6, shape.code.min), shape.code.max);
  const code = '1234567890'.repeat(2).slice(0, digits);
  const send: Record<string, { summary: string; value: unknown }> = {
    e164: { summary: 'An E.164 phone number', value: { phone: '+8613800138000', purpose } },
    national: {
      summary: 'A national number and its country',
      value: { phone: '13800138000', country: 'CN', purpose },
    },
  };
  if (shape.userIds)
    send.userId = { summary: 'A user id the server resolves', value: { userId: 'user-42', purpose } };
  const verify = {
    code: {
      summary: 'The code of a send',
      value: { phone: '+8613800138000', purpose, requestId: 'q7bY2m0cSxW3lH8aT1vN9w', code },
    },
  };
  return { send, verify };
}

/** The operation of a host route behind the guard: it needs a token of `route.purpose`. */
function guardedOperation(
  route: NonNullable<OpenApiOptions['guarded']>[number],
  prefix: string,
  cookie: { name: string } | undefined,
): OpenApiOperation {
  return {
    operationId: guardedOperationId(route),
    summary: route.summary ?? `${route.method.toUpperCase()} ${route.path}`,
    description: `Needs a verification token for purpose \`${route.purpose}\` (from \`${prefix}/verify\`).`,
    security: cookie ? [{ smsToken: [] }, { smsTokenCookie: [] }] : [{ smsToken: [] }],
    // The scheme's header again as a parameter, so that the verify → route link can fill it in.
    parameters: [
      {
        name: 'X-Sms-Token',
        in: 'header',
        required: false,
        description: `The \`token\` of a verify for purpose \`${route.purpose}\`${cookie ? ' (or the cookie)' : ''}.`,
        schema: { type: 'string', minLength: 1 },
      },
    ],
    responses: { '200': { description: "The route's own answer." }, ...errorResponses(ROUTE_ERRORS.guard) },
  };
}

/** The document's schemas and security schemes (the cookie one in cookie mode). */
function components(
  cookie: { name: string } | undefined,
  shape: RequestShape,
): OpenApiDocument['components'] {
  const recipient = shape.userIds ? '`phone` or `userId` is required' : '`phone` is required';
  return {
    schemas: {
      SendRequest: requestSchema(sendBodySchema, `Body of the send route: ${recipient}.`, shape),
      VerifyRequest: requestSchema(verifyBodySchema, `Body of the verify route: ${recipient}.`, shape),
      SendResult: jsonSchema(sendResultSchema, 'output'),
      VerifyResult: jsonSchema(verifyResultSchema, 'output'),
      CaptchaResult: jsonSchema(captchaResultSchema, 'output'),
      SmsOtpError: jsonSchema(errorBodySchema, 'output'),
    },
    securitySchemes: {
      smsToken: {
        type: 'apiKey',
        in: 'header',
        name: 'X-Sms-Token',
        description: 'The `token` of a successful verify, for routes behind `requireSmsVerified`.',
      },
      ...(cookie
        ? {
            smsTokenCookie: {
              type: 'apiKey' as const,
              in: 'cookie' as const,
              name: cookie.name,
              description: 'The same token as a cookie (cookie mode).',
            },
          }
        : {}),
    },
  };
}

/** The receipts route's operations, one per vendor the routes take receipts from. */
function receiptPaths(
  prefix: string,
  receipts: OpenApiOptions['receipts'],
): Record<string, Record<string, OpenApiOperation>> {
  if (!receipts) return {};
  const vendors = Array.isArray(receipts)
    ? (receipts as readonly ReceiptVendor[])
    : (['twilio', 'aliyun', 'tencent'] as const).filter((v) => (receipts as ReceiptOptions)[v] !== undefined);
  const refusal = (description: string): OpenApiResponse => ({ description, headers: NO_STORE });
  const paths: Record<string, Record<string, OpenApiOperation>> = {};
  for (const vendor of vendors) {
    const twilio = vendor === 'twilio';
    const path = twilio ? `${prefix}/receipts/twilio` : `${prefix}/receipts/${vendor}/{secretPath}`;
    const body: JsonSchema = twilio
      ? {
          type: 'object',
          required: ['MessageSid', 'MessageStatus'],
          properties: {
            MessageSid: { type: 'string' },
            MessageStatus: { type: 'string' },
            ErrorCode: { type: 'string' },
            To: { type: 'string' },
          },
        }
      : { type: 'array', minItems: 1, items: { type: 'object' } };
    paths[path] = {
      post: {
        operationId: `smsOtpReceipt${vendor[0]!.toUpperCase()}${vendor.slice(1)}`,
        summary: `Delivery receipt from ${vendor === 'aliyun' ? 'Aliyun' : twilio ? 'Twilio' : 'Tencent Cloud'}`,
        description: twilio
          ? 'Twilio status callback, authenticated by `X-Twilio-Signature`. Emits `delivered` / `undelivered`.'
          : "The vendor's delivery report (JSON array), authenticated by the secret path. Emits `delivered` / `undelivered`.",
        tags: ['sms-otp'],
        // Authenticated by the vendor's signature or the secret path, not by a scheme of the document.
        security: [],
        parameters: [
          twilio
            ? {
                name: 'X-Twilio-Signature',
                in: 'header',
                required: true,
                description: 'HMAC-SHA1 of the URL and the sorted form fields, keyed with the auth token.',
                schema: { type: 'string' },
              }
            : {
                name: 'secretPath',
                in: 'path',
                required: true,
                description: 'The secret path segment the route was mounted with.',
                schema: { type: 'string' },
              },
        ],
        requestBody: {
          required: true,
          content: { [twilio ? 'application/x-www-form-urlencoded' : 'application/json']: { schema: body } },
        },
        responses: {
          '200': { description: 'Received (the body the vendor expects).', headers: NO_STORE },
          '400': refusal('A malformed receipt.'),
          ...(twilio ? { '403': refusal('The signature does not match.') } : {}),
          '404': refusal(twilio ? 'Receipts from this vendor are not enabled.' : 'Wrong secret path.'),
        },
      },
    };
  }
  return paths;
}
