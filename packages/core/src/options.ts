import { type CountryCode, isSupportedCountry } from 'libphonenumber-js';
import { z } from 'zod';
import type { CaptchaVerifier } from './captcha/verifiers.js';
import { describeConfigIssue } from './config-issue.js';
import { ERROR_STATUS, type ErrorCode, SmsOtpConfigError } from './errors.js';
import type { OtpStore } from './stores/types.js';
import type { Vendor } from './vendors/types.js';

const int = (min: number, max: number) => {
  const error = `must be an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

const country = z
  .string({ error: 'must be an ISO 3166 country code such as "CN"' })
  .refine((value) => isSupportedCountry(value), { error: 'must be an ISO 3166 country code such as "CN"' })
  .transform((value) => value as CountryCode);

/** An ISO country, or `001` for the numbers of no country (+800, +882 …; libphonenumber's name for them). */
const region = z
  .string({ error: 'must be an ISO 3166 country code such as "CN", or "001" for non-geographic numbers' })
  .refine((value) => value === '001' || isSupportedCountry(value), {
    error: 'must be an ISO 3166 country code such as "CN", or "001" for non-geographic numbers',
  });

const fn = <T>(what: string) =>
  z.custom<T>((value) => typeof value === 'function', { error: `must be ${what}` });

/** What a store must implement (see `OtpStore`). */
const STORE_METHODS = [
  'issue',
  'rollback',
  'verify',
  'reserve',
  'rekey',
  'settle',
  'admit',
  'admitAndIssue',
  'release',
  'convert',
  'putCaptcha',
  'takeCaptcha',
  'useToken',
];

const isStore = (value: unknown): value is OtpStore =>
  typeof value === 'object' &&
  value !== null &&
  STORE_METHODS.every((method) => typeof (value as Record<string, unknown>)[method] === 'function');

const isVendor = (value: unknown): value is Vendor => {
  if (typeof value !== 'object' || value === null) return false;
  const vendor = value as Record<string, unknown>;
  if (vendor.kind === 'sender') return typeof vendor.send === 'function';
  if (vendor.kind === 'provider')
    return typeof vendor.start === 'function' && typeof vendor.check === 'function';
  return false;
};

const PURPOSE = /^[a-z][a-z0-9_-]{0,31}$/;
const errorCodes = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

const isVerifier = (value: unknown): value is CaptchaVerifier =>
  typeof (value as CaptchaVerifier | null)?.verify === 'function' &&
  typeof (value as CaptchaVerifier).name === 'string';

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

const messages = z.union([z.enum(['en', 'zh-CN']), z.partialRecord(z.enum(errorCodes), z.string())], {
  error: 'must be "en", "zh-CN" or an object of messages by error code',
});

/** Options shared by `createSmsOtp` and the framework packages' routes. */
export const httpOptionsSchema = z.strictObject({
  /** Message set or overrides for error bodies. Default `'en'`. */
  messages: messages.optional(),
  /** Wraps every body (success and error) in the host's own envelope. */
  formatResponse: fn<(body: unknown, context: ResponseContext) => unknown>(
    'a function (body, context) => body',
  ).optional(),
  /**
   * `true` (or options) makes `/verify` also set an `sms_token` cookie: HttpOnly, SameSite=Strict, Path=/,
   * Secure when NODE_ENV=production. Default `false`.
   */
  cookie: z
    .union([
      z.boolean(),
      z.strictObject({
        name: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'must be letters, digits, _ or -' })
          .optional(),
        path: z.string().startsWith('/').optional(),
        domain: z.string().optional(),
        secure: z.boolean().optional(),
      }),
    ])
    .optional(),
});

/** Public options of `createSmsOtp`: the input of this schema. */
export const optionsSchema = z
  .strictObject({
    /** HMAC key for stored codes and signing tokens, at least 32 bytes. Required when NODE_ENV=production. */
    secret: z
      .string({ error: 'must be a string of at least 32 bytes' })
      .refine((value) => Buffer.byteLength(value) >= 32, {
        error: 'must be at least 32 bytes (e.g. `openssl rand -base64 48`)',
      })
      .optional(),
    /** Where codes and limits live. Default `new MemoryStore()` (one process only). */
    store: z
      .custom<OtpStore>(isStore, {
        error: 'must be a store: new MemoryStore() or new RedisStore({ client })',
      })
      .optional(),
    /** Who delivers (or makes and checks) codes. Default `consoleSender()`. */
    sender: z
      .custom<Vendor>(isVendor, {
        error:
          "must be a sender ({ kind: 'sender', send }) or a code provider ({ kind: 'provider', start, check })",
      })
      .optional(),
    /** What codes may be asked for. Default `['login']`. */
    purposes: z
      .array(
        z.string().regex(PURPOSE, { error: 'must be lower-case letters, digits, _ or -, 1 to 32 long' }),
        {
          error: 'must be an array of purpose names',
        },
      )
      .min(1, { error: 'must name at least one purpose' })
      .max(32, { error: 'must name at most 32 purposes' })
      .refine((list) => new Set(list).size === list.length, { error: 'must not repeat a purpose' })
      .default(['login']),
    /** How national numbers are read (ISO code, e.g. `'CN'`). Default: only E.164 numbers are accepted. */
    defaultCountry: country.optional(),
    /** Only numbers of these countries are accepted (`COUNTRY_NOT_ALLOWED` otherwise). Default: all. */
    allowedCountries: z.array(region, { error: 'must be an array of ISO country codes' }).min(1).optional(),
    /** Digits per code, 4–10. Default 6. */
    codeLength: int(4, 10).default(6),
    /** Seconds a code stays valid, 30–600 (up to 86 400 with `allowLongTtl`). Default 300. */
    ttl: int(30, 86_400).default(300),
    /** Allows `ttl` above 600 s. Default `false`. */
    allowLongTtl: z.boolean({ error: 'must be true or false' }).default(false),
    /**
     * Seconds before the same phone and purpose may be sent another code, 1–3600. Default 60. A list makes
     * it escalate with each send of the phone's hour (e.g. `[60, 120, 300, 900]`; the last one repeats).
     */
    resendCooldown: z
      .union(
        [
          int(1, 3_600),
          z
            .array(int(1, 3_600), { error: 'must be an integer from 1 to 3600 or a list of them' })
            .min(1)
            .max(20),
        ],
        {
          error: 'must be an integer from 1 to 3600 or a list of them',
        },
      )
      .default(60),
    /** Numbers of these countries get `COUNTRY_NOT_ALLOWED`. */
    blockedCountries: z.array(region, { error: 'must be an array of ISO country codes' }).optional(),
    /** Sends per country per day (`{ CN: 50000, '*': 1000 }`; `'*'` for the rest). Default: no cap. */
    countryDailyLimits: z
      .record(
        z.string().refine((key) => key === '*' || key === '001' || isSupportedCountry(key), {
          error: 'keys must be ISO country codes, "001" (non-geographic numbers) or "*"',
        }),
        int(1, 1_000_000_000),
      )
      .optional(),
    /** Sends per day across all phones (the SMS bill's ceiling). Default: no budget. */
    dailyBudget: int(1, 1_000_000_000).optional(),
    /**
     * Conversion breaker against SMS pumping, per country and per number prefix: when verified ÷ sent over
     * `window` falls below `threshold` with at least `minVolume` sends, sends there need a captcha (or are
     * refused, `action: 'block'`) for `coolOff`. `false` turns it off.
     */
    breaker: z
      .union(
        [
          z.literal(false),
          z.strictObject({
            /** Lowest healthy verified ÷ sent, 0–1. Default 0.2. */
            threshold: z
              .number({ error: 'must be a number from 0 to 1' })
              .min(0, { error: 'must be a number from 0 to 1' })
              .max(1, { error: 'must be a number from 0 to 1' })
              .default(0.2),
            /** Sends in the window before the ratio counts. Default 50. */
            minVolume: int(1, 1_000_000).default(50),
            /** Seconds of the window (counted as two halves, the previous one whole), 60–86 400. Default 3600. */
            window: int(60, 86_400).default(3_600),
            /** Seconds the breaker stays open, 10–86 400. Default 900. */
            coolOff: int(10, 86_400).default(900),
            /** Leading digits of the E.164 number that form a prefix. Default: all but the last 4. */
            prefixDigits: int(3, 14).optional(),
            /** What an open breaker does. Default `'captcha'`. */
            action: z
              .enum(['captcha', 'block'], { error: 'must be "captcha" or "block"' })
              .default('captcha'),
          }),
        ],
        { error: 'must be false or an object' },
      )
      .prefault({}),
    /** When a send needs a solved captcha. */
    captcha: z
      .strictObject(
        {
          /** `never` (except while a breaker is open), `always`, or `adaptive`. Default `'never'`. */
          policy: z
            .enum(['never', 'always', 'adaptive'], { error: 'must be "never", "always" or "adaptive"' })
            .default('never'),
          /** Adaptive: sends per IP per hour before a captcha is required. Default 5. */
          afterSendsPerIp: int(0, 1_000_000).default(5),
          /** Adaptive: sends per phone per hour before a captcha is required. Default 2. */
          afterSendsPerPhone: int(0, 1_000).default(2),
          /**
           * Who checks answers: `'builtin'` (the image captcha of `GET {prefix}/captcha`), `'vendor'` (the
           * code provider checks `captchaKey` + `captcha` itself, e.g. DeepCloud), or a `CaptchaVerifier`.
           */
          verifier: z
            .union([z.enum(['builtin', 'vendor']), z.custom<CaptchaVerifier>(isVerifier)], {
              error: 'must be "builtin", "vendor" or a verifier ({ name, verify })',
            })
            .default('builtin'),
          /** Seconds a built-in captcha stays answerable, 30–600. Default 120. */
          ttl: int(30, 600).default(120),
          /** Built-in captchas an IP may ask for per hour. Default 60. */
          perIpHour: int(1, 1_000_000).default(60),
        },
        { error: 'must be an object' },
      )
      .prefault({}),
    /** Verify must present the `requestId` its send returned, so nobody else can guess at a pending code. */
    requireRequestId: z.boolean({ error: 'must be true or false' }).default(false),
    /** Fixed codes for test numbers (`{ '+8613800000000': '123456' }`): nothing is sent; limits still count. */
    testNumbers: z
      .record(
        z.string().regex(/^\+[1-9]\d{5,14}$/, { error: 'keys must be E.164 numbers' }),
        z.string().regex(/^\d{4,10}$/, { error: 'must be a code of 4 to 10 digits' }),
        {
          error: 'must be an object of codes by E.164 number',
        },
      )
      .optional(),
    /** Test numbers work until then. Required in production. */
    testNumbersValidUntil: z.coerce.date({ error: 'must be a date' }).optional(),
    /** Wrong guesses that kill a code, 1–10. Default 5. */
    maxAttempts: int(1, 10).default(5),
    /** Failed verifies per phone in `failureWindow` across codes and purposes (a resend does not reset it), 1–100. Default 20. */
    maxFailuresPerPhone: int(1, 100).default(20),
    /** Seconds the phone's failure count is kept, 60–604 800. Default 86 400. */
    failureWindow: int(60, 604_800).default(86_400),
    /** Send windows. */
    sendLimits: z
      .strictObject(
        {
          /** Sends per phone per hour, across purposes. Default 5. */
          perPhoneHour: int(1, 1_000).default(5),
          /** Sends per phone per day, across purposes. Default 10. */
          perPhoneDay: int(1, 10_000).default(10),
          /** Sends per client IP per hour. Default 20. */
          perIpHour: int(1, 1_000_000).default(20),
        },
        { error: 'must be an object' },
      )
      .prefault({}),
    /**
     * Leading bits of an IPv6 address that the per-IP windows count together, 32–128. Default 56 (one
     * subscriber's usual allocation is a /56 or a /64; counting single addresses would give them 2^64 windows).
     */
    ipv6Subnet: int(32, 128).default(56),
    /** Seconds a verification token is good for, 30–3600. Default 600. */
    tokenTtl: int(30, 3_600).default(600),
    /** Puts the code in send responses as `devCode`, for development and e2e tests. Refused when NODE_ENV=production. */
    exposeCode: z.boolean({ error: 'must be true or false' }).default(false),
    /** Milliseconds a store call may take before `STORE_UNAVAILABLE`, 50–30 000. Default 2000. */
    storeTimeout: int(50, 30_000).default(2_000),
    /** Milliseconds a vendor may take before `SEND_FAILED`, 100–60 000. Default 10 000. */
    sendTimeout: int(100, 60_000).default(10_000),
    /** Looks up the phone of a user id, for sends by `userId`; `null` for an unknown user. */
    resolvePhone: fn<(userId: string) => Promise<string | null | undefined> | string | null | undefined>(
      'a function (userId) => phone | null',
    ).optional(),
    /** Where the one-time set-up warnings go. Default `console`. */
    logger: z
      .custom<Logger>((value) => typeof (value as Logger | null)?.warn === 'function', {
        error: 'must have a warn(message) method',
      })
      .optional(),
    /** Milliseconds since the epoch; for tests. Default `Date.now`. */
    clock: fn<() => number>('a function () => epoch milliseconds').optional(),
  })
  .extend(httpOptionsSchema.shape)
  .superRefine((options, ctx) => {
    if (options.ttl > 600 && !options.allowLongTtl) {
      ctx.addIssue({
        code: 'custom',
        path: ['ttl'],
        message: 'must be at most 600 seconds unless allowLongTtl: true',
      });
    }
    for (const [phone, code] of Object.entries(options.testNumbers ?? {})) {
      if (code.length !== options.codeLength) {
        ctx.addIssue({
          code: 'custom',
          path: ['testNumbers', phone],
          message: `must have codeLength (${options.codeLength}) digits`,
        });
      }
    }
    if (options.sendLimits.perPhoneDay < options.sendLimits.perPhoneHour) {
      ctx.addIssue({
        code: 'custom',
        path: ['sendLimits', 'perPhoneDay'],
        message: 'must be at least sendLimits.perPhoneHour',
      });
    }
  });

/** What `createSmsOtp` accepts. */
export type SmsOtpOptions = z.input<typeof optionsSchema>;
/** Options after defaults, as the engine uses them. */
export type ResolvedOptions = z.output<typeof optionsSchema>;
/** Route options shared by the framework packages. */
export type HttpOptions = z.input<typeof httpOptionsSchema>;

/** Throws `SmsOtpConfigError` naming the first bad option's path. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, pathPrefix = ''): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = describeConfigIssue(schema, deepest(result.error.issues[0]!));
  const path = [pathPrefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(options)';
  throw new SmsOtpConfigError(path, issue.message);
}

/**
 * The most specific complaint: for a value that matched no branch of a union (`breaker: false | {…}`), the
 * one of the branch that got furthest (`breaker.action: must be "captcha" or "block"`); for a bad record key,
 * the key's own check.
 */
function deepest(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  // A record key that failed its own check: say what the key's check said.
  if (issue.code === 'invalid_key' && issue.issues[0])
    return { ...issue.issues[0], path: issue.path } as z.core.$ZodIssue;
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue;
  let best: z.core.$ZodIssue = issue;
  for (const branch of issue.errors) {
    for (const inner of branch) {
      const candidate = deepest({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue);
      if (candidate.path.length > best.path.length) best = candidate;
    }
  }
  return best;
}

/** Parses `createSmsOtp` options and applies the production rules. */
export function parseOptions(
  input: SmsOtpOptions,
  env: string | undefined = process.env.NODE_ENV,
): ResolvedOptions {
  const options = parseWith(optionsSchema, input);
  if (env === 'production') {
    if (!options.secret)
      throw new SmsOtpConfigError('secret', 'is required when NODE_ENV=production (at least 32 bytes)');
    if (!options.sender) {
      throw new SmsOtpConfigError(
        'sender',
        'is required when NODE_ENV=production: the default consoleSender() delivers nothing (pass it explicitly to keep it)',
      );
    }
    if (options.exposeCode)
      throw new SmsOtpConfigError('exposeCode', 'must not be true when NODE_ENV=production');
    if (options.testNumbers && !options.testNumbersValidUntil) {
      throw new SmsOtpConfigError(
        'testNumbersValidUntil',
        'is required with testNumbers when NODE_ENV=production',
      );
    }
  }
  return options;
}
