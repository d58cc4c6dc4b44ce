import { z } from 'zod';
import { describeConfigIssue } from '../config-issue.js';
import { isSmsOtpError, SmsOtpConfigError, SmsOtpError } from '../errors.js';
import type { SendReceipt } from './types.js';

/**
 * Default milliseconds an adapter waits for a vendor's answer.
 *
 * @example
 * ronglianSender({ …, timeout: DEFAULT_TIMEOUT_MS * 2 });
 */
export const DEFAULT_TIMEOUT_MS = 5000;

/**
 * `timeout` option shared by all adapters: 1 ms – 60 s, default 5000.
 *
 * @example
 * z.object({ timeout: timeoutSchema });
 */
export const timeoutSchema = z.number().int().min(1).max(60_000).default(DEFAULT_TIMEOUT_MS);

/**
 * A non-empty string without whitespace or control characters (credentials, ids).
 *
 * @example
 * z.object({ authToken: tokenSchema });
 */
export const tokenSchema = z
  .string()
  .min(1, 'must be a non-empty string')
  .regex(/^[^\s\p{Cc}]+$/u, 'must not contain whitespace or control characters');

/**
 * An http(s) URL; a trailing slash is dropped (DeepCloud's `baseUrl`, which has no default).
 *
 * @example
 * z.object({ baseUrl: urlSchema });
 */
export const urlSchema = z
  .string()
  .refine((value) => /^https?:\/\/[^\s/]+/i.test(value) && URL.canParse(value), 'must be an http(s) URL')
  .transform((value) => value.replace(/\/+$/, ''));

/**
 * `baseUrl` option with the vendor's production URL as default.
 *
 * @example
 * z.object({ baseUrl: baseUrlSchema('https://api.sms.jpush.cn') });
 */
export function baseUrlSchema(defaultUrl: string) {
  return urlSchema.default(defaultUrl);
}

/**
 * `clock` option: returns epoch milliseconds; default `Date.now`.
 *
 * @example
 * z.object({ clock: clockSchema });
 */
export const clockSchema = z
  .custom<() => number>((value) => typeof value === 'function', 'must be a function returning epoch ms')
  .default(() => Date.now);

/**
 * A function-valued option (zod only checks that it is callable).
 *
 * @example
 * z.object({ onEvent: functionSchema<(e: FailoverEvent) => void>('(event) => void').optional() });
 */
export function functionSchema<T extends (...args: never[]) => unknown>(what: string) {
  return z.custom<T>((value) => typeof value === 'function', `must be a function ${what}`);
}

/**
 * Parses adapter options once, at construction. The first problem becomes a `SmsOtpConfigError` naming the
 * option (e.g. `ronglian.authToken`); the offending value is never echoed (it may be a secret).
 *
 * @example
 * const config = parseAdapterOptions('jpush', jpushOptionsSchema, options);
 */
export function parseAdapterOptions<S extends z.ZodType>(
  adapter: string,
  schema: S,
  options: unknown,
): z.output<S> {
  const result = schema.safeParse(options ?? {});
  if (result.success) return result.data;
  const first = result.error.issues[0];
  const issue = first && describeConfigIssue(schema, first);
  const path = issue?.path.length ? issue.path.map(String).join('.') : '(options)';
  const missing = first?.code === 'invalid_type' && valueAt(options, first.path) === undefined;
  const message = missing ? 'is required' : (issue?.message ?? 'is invalid');
  throw new SmsOtpConfigError(`${adapter}.${path}`, message);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * Converts an E.164 number to the 11-digit national mobile number Chinese vendors expect
 * (`+8613800138000` → `13800138000`). Numbers outside mainland China are refused with `INVALID_PHONE`
 * and `details.reason: 'unsupported_country'` (the vendor cannot reach them; `failover` moves on to the
 * next member for this reason only); malformed +86 numbers with `details.reason: 'not_mobile'`.
 *
 * @example
 * chinaMobile('ronglian', '+8613800138000'); // '13800138000'
 */
export function chinaMobile(vendor: string, phone: string): string {
  const compact = phone.replace(/[\s-]/g, '');
  if (!compact.startsWith('+86')) {
    throw new SmsOtpError('INVALID_PHONE', { vendor, reason: 'unsupported_country' });
  }
  const national = compact.slice(3);
  if (!/^1[3-9]\d{9}$/.test(national)) {
    throw new SmsOtpError('INVALID_PHONE', { vendor, reason: 'not_mobile' });
  }
  return national;
}

/**
 * Whole minutes a code of `ttlSeconds` stays valid, at least 1 (for "valid for {2} minutes" templates).
 *
 * @example
 * ttlMinutes(90); // 2
 */
export function ttlMinutes(ttlSeconds: number): number {
  return Math.max(1, Math.ceil(ttlSeconds / 60));
}

/**
 * Seconds a client is told to wait when a vendor refuses for frequency and gives no time of its own.
 *
 * @example
 * vendorRateLimited('jpush', info).details.retryAfter === VENDOR_RETRY_AFTER_SECONDS; // true
 */
export const VENDOR_RETRY_AFTER_SECONDS = 60;

/**
 * Builds the `RATE_LIMITED` error for a vendor's frequency refusal, with `retryAfter` (the vendor gives
 * none, so one minute, the usual per-number interval of Chinese SMS vendors) and the vendor's raw code.
 *
 * @example
 * throw vendorRateLimited('ronglian', { vendorCode: '160038', vendorMessage: '…' });
 */
export function vendorRateLimited(vendor: string, info: Record<string, unknown>): SmsOtpError {
  return new SmsOtpError('RATE_LIMITED', { vendor, ...info, retryAfter: VENDOR_RETRY_AFTER_SECONDS });
}

/**
 * Refuses a channel the adapter cannot deliver (e.g. `voice` on an SMS-only vendor) with `SEND_FAILED`,
 * `reason: 'unsupported_channel'`, so that `failover` moves on to a member that can.
 *
 * @example
 * if (message.channel !== 'sms') throw unsupportedChannel('ronglian', message.channel);
 */
export function unsupportedChannel(vendor: string, channel: string): SmsOtpError {
  return new SmsOtpError('SEND_FAILED', { vendor, reason: 'unsupported_channel', channel });
}

/**
 * Converts every number of a template send with {@link chinaMobile}; a refusal names the number's
 * position in `details.index`. Nothing is sent when one number is refused.
 *
 * @example
 * const numbers = chinaMobiles('jpush', message.phones);
 */
export function chinaMobiles(vendor: string, phones: readonly string[]): string[] {
  if (phones.length === 0) {
    throw new SmsOtpError('INVALID_REQUEST', { vendor, field: 'phones', reason: 'no phone numbers' });
  }
  return phones.map((phone, index) => {
    try {
      return chinaMobile(vendor, phone);
    } catch (error) {
      if (isSmsOtpError(error)) throw new SmsOtpError(error.code, { ...error.details, index });
      throw error;
    }
  });
}

/**
 * Sends template batches one after another and returns one receipt per request. When a batch fails after
 * others went out, the error says so (`details.partial: true`, `failedBatch`, `batches`, `receipts`), so
 * that nobody — `failover` included — resends the whole list.
 *
 * @example
 * return sendBatches(batches, (batch) => templateSms(batch));
 */
export async function sendBatches<T>(
  batches: readonly T[],
  send: (batch: T) => Promise<SendReceipt>,
): Promise<SendReceipt[]> {
  const receipts: SendReceipt[] = [];
  for (const [index, batch] of batches.entries()) {
    try {
      receipts.push(await send(batch));
    } catch (error) {
      if (!isSmsOtpError(error) || receipts.length === 0) throw error;
      throw new SmsOtpError(error.code, {
        ...error.details,
        partial: true,
        failedBatch: index,
        batches: batches.length,
        receipts,
      });
    }
  }
  return receipts;
}
