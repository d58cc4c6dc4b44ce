import { availableParallelism } from 'node:os';
import { type CountryCode, isSupportedCountry } from 'libphonenumber-js';
import { z } from 'zod';
import type { CaptchaVerifier } from './captcha/verifiers.js';
import { describeConfigIssue } from './config-issue.js';
import { ERROR_STATUS, type ErrorCode, SmsOtpConfigError } from './errors.js';
import type { Logger, ResponseContext, SmsOtpOptions } from './options-types.js';
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

/**
 * The kinds of number `numberTypes` names: libphonenumber's types, `SATELLITE` (+870, +881, Thuraya's +882 16:
 * libphonenumber calls them mobile or VoIP) and `UNKNOWN` (a number its full metadata gives no type).
 */
export const NUMBER_TYPES = [
  'MOBILE',
  'FIXED_LINE_OR_MOBILE',
  'FIXED_LINE',
  'VOIP',
  'PREMIUM_RATE',
  'TOLL_FREE',
  'SHARED_COST',
  'UAN',
  'PAGER',
  'PERSONAL_NUMBER',
  'VOICEMAIL',
  'SATELLITE',
  'UNKNOWN',
] as const;

/** What SMS and voice go to by default: mobiles (and VoIP); voice also calls fixed lines. */
export const DEFAULT_NUMBER_TYPES = {
  sms: ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'VOIP'],
  voice: ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'FIXED_LINE', 'VOIP'],
} as const satisfies Record<'sms' | 'voice', readonly (typeof NUMBER_TYPES)[number][]>;

const numberTypeList = (fallback: readonly (typeof NUMBER_TYPES)[number][]) =>
  z
    .array(z.enum(NUMBER_TYPES, { error: `must be one of ${NUMBER_TYPES.join(', ')}` }), {
      error: 'must be an array of number types such as "MOBILE"',
    })
    .min(1, { error: 'must name at least one number type' })
    .default([...fallback]);

/** Sends per day to each country not named in `countryDailyLimits` (and not the home country). */
export const DEFAULT_COUNTRY_DAILY_LIMIT = 100;

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

/**
 * A secret with fewer distinct bytes than this is refused as guessable (one character repeated, a word
 * repeated): a random 32-byte key in base64 has about 27.
 */
export const MIN_SECRET_DISTINCT_BYTES = 16;

const PURPOSE = /^[a-z][a-z0-9_-]{0,31}$/;
const errorCodes = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

const isVerifier = (value: unknown): value is CaptchaVerifier =>
  typeof (value as CaptchaVerifier | null)?.verify === 'function' &&
  typeof (value as CaptchaVerifier).name === 'string';

const messages = z.union([z.enum(['en', 'zh-CN']), z.partialRecord(z.enum(errorCodes), z.string())], {
  error: 'must be "en", "zh-CN" or an object of messages by error code',
});

/** Checks `HttpOptions` (options-types.ts, where each option is documented). */
export const httpOptionsSchema = z.strictObject({
  messages: messages.optional(),
  formatResponse: fn<(body: unknown, context: ResponseContext) => unknown>(
    'a function (body, context) => body',
  ).optional(),
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

/** Checks `SmsOtpOptions` (options-types.ts, where each option is documented, with its range and default). */
export const optionsSchema = z
  .strictObject({
    secret: z
      .string({ error: 'must be a string of at least 32 bytes' })
      .refine((value) => Buffer.byteLength(value) >= 32, {
        error: 'must be at least 32 bytes (e.g. `openssl rand -base64 48`)',
      })
      .refine((value) => new Set(Buffer.from(value)).size >= MIN_SECRET_DISTINCT_BYTES, {
        error: `looks guessable: it has fewer than ${MIN_SECRET_DISTINCT_BYTES} distinct bytes (use a random one, e.g. \`openssl rand -base64 48\`)`,
      })
      .optional(),
    mode: z
      .enum(['production', 'development'], { error: 'must be "production" or "development"' })
      .optional(),
    store: z
      .custom<OtpStore>(isStore, {
        error: 'must be a store: new MemoryStore() or new RedisStore({ client })',
      })
      .optional(),
    sender: z
      .custom<Vendor>(isVendor, {
        error:
          "must be a sender ({ kind: 'sender', send }) or a code provider ({ kind: 'provider', start, check })",
      })
      .optional(),
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
    defaultCountry: country.optional(),
    allowedCountries: z.array(region, { error: 'must be an array of ISO country codes' }).min(1).optional(),
    allowNonGeographic: z.boolean({ error: 'must be true or false' }).default(false),
    numberTypes: z
      .strictObject(
        { sms: numberTypeList(DEFAULT_NUMBER_TYPES.sms), voice: numberTypeList(DEFAULT_NUMBER_TYPES.voice) },
        { error: 'must be an object such as { sms: ["MOBILE", "FIXED_LINE_OR_MOBILE"] }' },
      )
      .prefault({}),
    codeLength: int(4, 10).default(6),
    allowShortCodes: z.boolean({ error: 'must be true or false' }).default(false),
    ttl: int(30, 86_400).default(300),
    allowLongTtl: z.boolean({ error: 'must be true or false' }).default(false),
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
    blockedCountries: z.array(region, { error: 'must be an array of ISO country codes' }).optional(),
    countryDailyLimits: z
      .record(
        z.string().refine((key) => key === '*' || key === '001' || isSupportedCountry(key), {
          error: 'keys must be ISO country codes, "001" (non-geographic numbers) or "*"',
        }),
        int(1, 1_000_000_000),
      )
      .optional(),
    dailyBudget: int(1, 1_000_000_000).optional(),
    breaker: z
      .union(
        [
          z.literal(false),
          z.strictObject({
            threshold: z
              .number({ error: 'must be a number from 0 to 1' })
              .min(0, { error: 'must be a number from 0 to 1' })
              .max(1, { error: 'must be a number from 0 to 1' })
              .default(0.2),
            minVolume: int(1, 1_000_000).default(50),
            window: int(60, 86_400).default(3_600),
            coolOff: int(10, 86_400).default(900),
            prefixDigits: int(3, 14).optional(),
            minSubnets: int(0, 1_000).default(5),
            action: z
              .enum(['captcha', 'block'], { error: 'must be "captcha" or "block"' })
              .default('captcha'),
          }),
        ],
        { error: 'must be false or an object' },
      )
      .prefault({}),
    captcha: z
      .strictObject(
        {
          policy: z
            .enum(['never', 'always', 'adaptive'], { error: 'must be "never", "always" or "adaptive"' })
            .default('never'),
          afterSendsPerIp: int(0, 1_000_000).default(5),
          afterSendsPerPhone: int(0, 1_000).default(2),
          verifier: z
            .union([z.enum(['builtin', 'vendor']), z.custom<CaptchaVerifier>(isVerifier)], {
              error: 'must be "builtin", "vendor" or a verifier ({ name, verify })',
            })
            .default('builtin'),
          ttl: int(30, 600).default(120),
          perIpHour: int(1, 1_000_000).default(60),
          maxPending: int(1, 100_000).default(() => 64 * availableParallelism()),
        },
        { error: 'must be an object' },
      )
      .prefault({}),
    requireRequestId: z.boolean({ error: 'must be true or false' }).default(true),
    testNumbers: z
      .record(
        z.string().regex(/^\+[1-9]\d{5,14}$/, { error: 'keys must be E.164 numbers' }),
        z.string().regex(/^\d{4,10}$/, { error: 'must be a code of 4 to 10 digits' }),
        {
          error: 'must be an object of codes by E.164 number',
        },
      )
      .optional(),
    testNumbersValidUntil: z.coerce.date<Date | string | number>({ error: 'must be a date' }).optional(),
    maxAttempts: int(1, 10).default(5),
    maxFailuresPerPhone: int(1, 1_000).default(20),
    lockAfterFailures: int(1, 1_000).default(100),
    failureWindow: int(60, 604_800).default(86_400),
    captchaPastSendLimits: z.boolean({ error: 'must be true or false' }).default(true),
    verifyLimits: z
      .strictObject({ perIpHour: int(1, 1_000_000).default(60) }, { error: 'must be an object' })
      .prefault({}),
    sendLimits: z
      .strictObject(
        {
          perPhoneHour: int(1, 1_000).default(5),
          perPhoneDay: int(1, 10_000).default(10),
          perIpHour: int(1, 1_000_000).default(20),
          perIpv6_48Hour: int(1, 1_000_000).default(200),
        },
        { error: 'must be an object' },
      )
      .prefault({}),
    ipv6Subnet: int(32, 128).default(56),
    tokenTtl: int(30, 3_600).default(600),
    exposeCode: z.boolean({ error: 'must be true or false' }).default(false),
    storeTimeout: int(50, 30_000).default(2_000),
    sendTimeout: int(100, 60_000).default(10_000),
    resolvePhone: fn<(userId: string) => Promise<string | null | undefined> | string | null | undefined>(
      'a function (userId) => phone | null',
    ).optional(),
    logger: z
      .custom<Logger>((value) => typeof (value as Logger | null)?.warn === 'function', {
        error: 'must have a warn(message) method',
      })
      .optional(),
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
    if (options.codeLength < 6 && !options.allowShortCodes) {
      ctx.addIssue({
        code: 'custom',
        path: ['codeLength'],
        message: 'must be at least 6 unless allowShortCodes: true (4 or 5 digits are guessed too easily)',
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
    if (options.lockAfterFailures < options.maxFailuresPerPhone) {
      ctx.addIssue({
        code: 'custom',
        path: ['lockAfterFailures'],
        message: 'must be at least maxFailuresPerPhone',
      });
    }
    if (options.sendLimits.perPhoneDay < options.sendLimits.perPhoneHour) {
      ctx.addIssue({
        code: 'custom',
        path: ['sendLimits', 'perPhoneDay'],
        message: 'must be at least sendLimits.perPhoneHour',
      });
    }
  });

export type {
  BreakerOptions,
  CaptchaOptions,
  HttpOptions,
  Logger,
  Messages,
  NumberType,
  NumberTypeOptions,
  ResponseContext,
  SendLimitOptions,
  SmsOtpOptions,
  VerifyLimitOptions,
} from './options-types.js';
/** Options after defaults, as the engine uses them. */
export type ResolvedOptions = z.output<typeof optionsSchema>;

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

/**
 * Whether an engine runs in production (decision 11): `mode: 'production'`, or `NODE_ENV` set to anything but
 * `development` or `test`, in any case (`production`, `prod`, `Production`, `staging` …). An unset (or empty)
 * `NODE_ENV` is not production by itself: `createSmsOtp` warns then, unless `mode` says which it is.
 * `mode: 'development'` does not turn a production `NODE_ENV` off (fail closed).
 *
 * @example
 * isProduction(undefined, 'Production'); // true
 * isProduction(undefined, undefined); // false (and createSmsOtp warns)
 */
export function isProduction(
  mode: 'production' | 'development' | undefined,
  env: string | undefined,
): boolean {
  if (mode === 'production') return true;
  const name = env?.trim().toLowerCase() ?? '';
  return name !== '' && name !== 'development' && name !== 'test';
}

/** What made an engine a production one, for refusals' messages. */
function productionWhy(mode: string | undefined, env: string | undefined): string {
  return mode === 'production' ? "with mode: 'production'" : `in production (NODE_ENV=${env})`;
}

/**
 * Parses `createSmsOtp` options and applies the fail-closed rules: in production (`isProduction`) a `secret`
 * and a `sender` are required and `exposeCode` is refused; in every mode a store other than a `MemoryStore`
 * (one shared by instances: `RedisStore`, a custom store) needs a `secret`.
 */
export function parseOptions(
  input: SmsOtpOptions,
  env: string | undefined = process.env.NODE_ENV,
  isLocalStore: (store: OtpStore) => boolean = () => false,
): ResolvedOptions {
  const options = parseWith(optionsSchema, input);
  if (!options.secret && options.store && !isLocalStore(options.store)) {
    // Each instance would make its own random secret: one instance's codes are CODE_INVALID on another,
    // counted as failures, and its tokens TOKEN_INVALID.
    throw new SmsOtpConfigError(
      'secret',
      'is required with a shared store (RedisStore or a custom store), in every mode: instances need the same secret (at least 32 bytes, e.g. `openssl rand -base64 48`)',
    );
  }
  if (isProduction(options.mode, env)) {
    const why = productionWhy(options.mode, env);
    if (!options.secret) throw new SmsOtpConfigError('secret', `is required ${why} (at least 32 bytes)`);
    if (!options.sender) {
      throw new SmsOtpConfigError(
        'sender',
        `is required ${why}: the default consoleSender() delivers nothing (pass it explicitly to keep it)`,
      );
    }
    if (options.exposeCode) throw new SmsOtpConfigError('exposeCode', `must not be true ${why}`);
    if (options.testNumbers && !options.testNumbersValidUntil) {
      throw new SmsOtpConfigError('testNumbersValidUntil', `is required with testNumbers ${why}`);
    }
  }
  return options;
}
