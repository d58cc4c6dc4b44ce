import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SmsOtpError } from '../errors.js';
import {
  baseUrlSchema,
  chinaMobile,
  chinaMobiles,
  clockSchema,
  functionSchema,
  parseAdapterOptions,
  sendBatches,
  timeoutSchema,
  tokenSchema,
  ttlMinutes,
  unsupportedChannel,
  vendorRateLimited,
} from './common.js';
import { expectJsonObject, sendFailed, stringField, vendorFetch, vendorText } from './http.js';
import { perPurposeSchema, purposeTemplates, templateFor } from './templates.js';
import type { CodeMessage, Sender, SendReceipt, TemplateMessage } from './types.js';

/**
 * Production base URL of Ronglian (容联云, cloopen) REST API, from the vendor document.
 *
 * @example
 * ronglianSender({ accountSid, authToken, appId, templateId: '1', baseUrl: RONGLIAN_BASE_URL });
 */
export const RONGLIAN_BASE_URL = 'https://app.cloopen.com:8883';

/**
 * At most this many numbers go in one TemplateSMS request (`to`, comma-joined).
 *
 * @example
 * Math.ceil(450 / RONGLIAN_MAX_RECIPIENTS); // 3 requests
 */
export const RONGLIAN_MAX_RECIPIENTS = 200;

/**
 * Ronglian status codes refused for frequency (→ `RATE_LIMITED`).
 *
 * @example
 * RONGLIAN_RATE_LIMIT_CODES.has('160038'); // true
 */
export const RONGLIAN_RATE_LIMIT_CODES: ReadonlySet<string> = new Set([
  '160038',
  '160039',
  '160040',
  '112314',
]);

/**
 * Ronglian status codes for a number it cannot send to (→ `INVALID_PHONE`).
 *
 * @example
 * RONGLIAN_INVALID_PHONE_CODES.has('160042'); // true
 */
export const RONGLIAN_INVALID_PHONE_CODES: ReadonlySet<string> = new Set(['160042', '160013', '112316']);

const ronglianOptionsSchema = z.strictObject({
  /** Main account ACCOUNT SID (console). */
  accountSid: tokenSchema,
  /** Main account AUTH TOKEN (console). Secret: never logged, never in an error. */
  authToken: tokenSchema,
  /** Application id (console → application list). */
  appId: tokenSchema,
  /** Template id of the code message (the vendor's test template is `1`), or one per purpose (`{ login: '1', register: '2' }`). */
  templateId: perPurposeSchema(z.union([tokenSchema, z.number().int().nonnegative()]).transform(String)),
  /** Default `https://app.cloopen.com:8883`. */
  baseUrl: baseUrlSchema(RONGLIAN_BASE_URL),
  /** Milliseconds to wait for an answer; default 5000. */
  timeout: timeoutSchema,
  /** Template data of a code message; default `(code, minutes) => [code, String(minutes)]`. */
  datas: functionSchema<(code: string, minutes: number) => string[]>('(code, minutes) => string[]').default(
    () => (code: string, minutes: number) => [code, String(minutes)],
  ),
  /** Optional extension code `subAppend` (1–4 digits). */
  subAppend: z
    .string()
    .regex(/^\d{1,4}$/, 'must be 1–4 digits')
    .optional(),
  /** Epoch milliseconds, for the signature timestamp; default `Date.now`. */
  clock: clockSchema,
  /** Adapter name in receipts, errors and `failover`; default `ronglian`. */
  name: z.string().min(1).default('ronglian'),
});

/**
 * Options of {@link ronglianSender}.
 *
 * @example
 * const options: RonglianSenderOptions = { accountSid, authToken, appId, templateId: '1' };
 */
export type RonglianSenderOptions = z.input<typeof ronglianOptionsSchema>;

/**
 * The signature timestamp: `yyyyMMddHHmmss` in Beijing time (UTC+8, no daylight saving), whatever the
 * machine's time zone.
 *
 * @example
 * ronglianTimestamp(Date.UTC(2013, 1, 1, 7, 53, 6)); // '20130201155306'
 */
export function ronglianTimestamp(epochMs: number): string {
  const d = new Date(epochMs + 8 * 60 * 60 * 1000);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    pad(d.getUTCFullYear(), 4) +
    pad(d.getUTCMonth() + 1) +
    pad(d.getUTCDate()) +
    pad(d.getUTCHours()) +
    pad(d.getUTCMinutes()) +
    pad(d.getUTCSeconds())
  );
}

/**
 * The `sig` query parameter: upper-case hex MD5 of accountSid + authToken + timestamp.
 *
 * @example
 * ronglianSignature('aaf98fda422216d001422220824c0000', '73c4daa2578d4ddd88c52f7a314f2d8b', '20130201155306');
 * // '3A89C5C991B8B9CE9CA44D4376B03D08'
 */
export function ronglianSignature(accountSid: string, authToken: string, timestamp: string): string {
  return createHash('md5')
    .update(accountSid + authToken + timestamp, 'utf8')
    .digest('hex')
    .toUpperCase();
}

/**
 * The `Authorization` header: base64 of accountSid + ':' + timestamp (the same timestamp as the `sig`).
 *
 * @example
 * ronglianAuthorization('aaf98fda422216d001422220824c0000', '20130201155306');
 * // 'YWFmOThmZGE0MjIyMTZkMDAxNDIyMjIwODI0YzAwMDA6MjAxMzAyMDExNTUzMDY='
 */
export function ronglianAuthorization(accountSid: string, timestamp: string): string {
  return Buffer.from(`${accountSid}:${timestamp}`, 'utf8').toString('base64');
}

/**
 * Ronglian (容联云) TemplateSMS sender: the core makes the code, Ronglian delivers it in a template
 * (`datas` fills `{1}`, `{2}` …). Mainland-China mobile numbers only, sent as 11 national digits.
 *
 * Errors: `statusCode` 160038/160039/160040/112314 → `RATE_LIMITED`; 160042/160013/112316 →
 * `INVALID_PHONE`; any other non-`000000` code → `SEND_FAILED` (`reason: 'vendor_error'`); the raw code
 * and `statusMsg` stay in `details.vendorCode` / `details.vendorMessage`.
 *
 * @example
 * const sender = ronglianSender({
 *   accountSid: process.env.RL_SID!, authToken: process.env.RL_TOKEN!,
 *   appId: process.env.RL_APP!, templateId: '1',
 * });
 * const otp = createSmsOtp({ secret, sender });
 */
export function ronglianSender(options: RonglianSenderOptions): Sender {
  const config = parseAdapterOptions('ronglian', ronglianOptionsSchema, options);
  const vendor = config.name;
  const templates = purposeTemplates(config.templateId, (v): v is string => typeof v === 'string');

  async function templateSms(
    to: string[],
    templateId: string,
    datas: string[],
    reqId?: string,
    deadline?: number,
  ) {
    const timestamp = ronglianTimestamp(config.clock());
    const sig = ronglianSignature(config.accountSid, config.authToken, timestamp);
    const body: Record<string, unknown> = { to: to.join(','), appId: config.appId, templateId, datas };
    if (config.subAppend !== undefined) body.subAppend = config.subAppend;
    if (reqId !== undefined) body.reqId = reqId;
    const response = await vendorFetch({
      vendor,
      url: `${config.baseUrl}/2013-12-26/Accounts/${encodeURIComponent(config.accountSid)}/SMS/TemplateSMS?sig=${sig}`,
      headers: {
        Accept: 'application/json',
        'Content-Type': 'application/json;charset=utf-8',
        Authorization: ronglianAuthorization(config.accountSid, timestamp),
      },
      body,
      timeout: config.timeout,
      deadline,
      describe: describeRonglian,
    });
    const json = expectJsonObject(vendor, response);
    const statusCode = stringField(json, 'statusCode');
    if (statusCode === undefined) throw sendFailed(vendor, 'bad_response', { httpStatus: response.status });
    if (statusCode !== '000000') throw ronglianError(vendor, json);
    const messageId = stringField(json.templateSMS, 'smsMessageSid')?.trim();
    const receipt: SendReceipt = { vendor };
    if (messageId) receipt.messageId = messageId;
    return receipt;
  }

  const sender: Sender = {
    kind: 'sender',
    name: vendor,
    channels: ['sms'],
    async send(message: CodeMessage): Promise<SendReceipt> {
      if (message.channel !== 'sms') throw unsupportedChannel(vendor, message.channel);
      const templateId = templateFor(vendor, templates, message.purpose);
      const to = chinaMobile(vendor, message.phone);
      const datas = config.datas(message.code, ttlMinutes(message.ttl)).map(String);
      return templateSms([to], templateId, datas, ronglianReqId(message.requestId), message.deadline);
    },
    async sendTemplate(message: TemplateMessage): Promise<SendReceipt[]> {
      if (!Array.isArray(message.params)) {
        throw new SmsOtpError('INVALID_REQUEST', {
          vendor,
          field: 'params',
          reason: 'Ronglian template data is an ordered list (datas): pass params as string[]',
        });
      }
      const numbers = chinaMobiles(vendor, message.phones);
      const datas = message.params.map(String);
      const batches: string[][] = [];
      for (let i = 0; i < numbers.length; i += RONGLIAN_MAX_RECIPIENTS) {
        batches.push(numbers.slice(i, i + RONGLIAN_MAX_RECIPIENTS));
      }
      return sendBatches(batches, (batch) => templateSms(batch, String(message.templateId), datas));
    },
  };
  return templates.purposes ? { ...sender, purposes: templates.purposes } : sender;
}

/** `reqId` may hold at most 32 characters: the request id without dashes, or its MD5 when longer. */
function ronglianReqId(requestId: string): string | undefined {
  const compact = requestId.replace(/[^A-Za-z0-9]/g, '');
  if (compact === '') return undefined;
  return compact.length <= 32 ? compact : createHash('md5').update(requestId).digest('hex');
}

function describeRonglian(json: unknown) {
  const vendorCode = stringField(json, 'statusCode');
  if (vendorCode === undefined) return undefined;
  return { vendorCode, vendorMessage: vendorText(stringField(json, 'statusMsg')) };
}

function ronglianError(vendor: string, json: Record<string, unknown>): SmsOtpError {
  const vendorCode = stringField(json, 'statusCode') ?? '';
  const info = { vendorCode, vendorMessage: vendorText(stringField(json, 'statusMsg')) };
  if (RONGLIAN_RATE_LIMIT_CODES.has(vendorCode)) return vendorRateLimited(vendor, info);
  if (RONGLIAN_INVALID_PHONE_CODES.has(vendorCode))
    return new SmsOtpError('INVALID_PHONE', { vendor, ...info });
  return sendFailed(vendor, 'vendor_error', info);
}
