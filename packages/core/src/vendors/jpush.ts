import { z } from 'zod';
import { type ErrorCode, SmsOtpError } from '../errors.js';
import {
  baseUrlSchema,
  chinaMobile,
  chinaMobiles,
  functionSchema,
  parseAdapterOptions,
  sendBatches,
  timeoutSchema,
  tokenSchema,
  ttlMinutes,
  unsupportedChannel,
  vendorRateLimited,
} from './common.js';
import {
  expectJsonObject,
  type FailureReason,
  sendFailed,
  stringField,
  type VendorResponse,
  vendorFetch,
  vendorText,
} from './http.js';
import { type PurposeTemplates, perPurposeSchema, purposeTemplates, templateFor } from './templates.js';
import type {
  CodeCheck,
  CodeMessage,
  CodeProvider,
  CodeRequest,
  Sender,
  SendReceipt,
  TemplateMessage,
} from './types.js';

/**
 * Production base URL of JPush SMS (极光短信) API v1, from the vendor document.
 *
 * @example
 * jpushCodes({ appKey, masterSecret, templateId: 1, baseUrl: JPUSH_BASE_URL });
 */
export const JPUSH_BASE_URL = 'https://api.sms.jpush.cn';

/**
 * JPush's error table (codes 50001–50023 of the document) → the error the adapter throws. `reason` is
 * `details.reason` of a `SEND_FAILED`. Codes not listed (and 50019 "server error") → `SEND_FAILED`
 * with `reason: 'vendor_error'`. In `check`, `CODE_INVALID` answers resolve `false`.
 *
 * @example
 * JPUSH_ERRORS['50014']; // { code: 'SEND_FAILED', reason: 'balance' }
 */
export const JPUSH_ERRORS: Readonly<Record<string, { code: ErrorCode; reason?: FailureReason }>> = {
  '50001': { code: 'SEND_FAILED', reason: 'auth' }, // missing auth
  '50002': { code: 'SEND_FAILED', reason: 'auth' }, // auth failed
  '50003': { code: 'SEND_FAILED', reason: 'bad_request' }, // missing body
  '50004': { code: 'SEND_FAILED', reason: 'bad_request' }, // missing mobile (the request was built wrong)
  '50005': { code: 'SEND_FAILED', reason: 'config' }, // missing temp_id
  '50006': { code: 'INVALID_PHONE' }, // invalid mobile
  '50007': { code: 'SEND_FAILED', reason: 'bad_request' }, // invalid body
  '50008': { code: 'SEND_FAILED', reason: 'config' }, // no sms code auth (account lacks the permission)
  '50009': { code: 'RATE_LIMITED' }, // out of freq
  '50010': { code: 'CODE_INVALID' }, // invalid code
  '50011': { code: 'CODE_EXPIRED' }, // expired code
  '50012': { code: 'CODE_EXPIRED' }, // verified code (already used)
  '50013': { code: 'SEND_FAILED', reason: 'config' }, // invalid temp_id
  '50014': { code: 'SEND_FAILED', reason: 'balance' }, // no money
  '50015': { code: 'CODE_INVALID' }, // missing code
  '50016': { code: 'SEND_FAILED', reason: 'bad_request' }, // api not found
  '50017': { code: 'SEND_FAILED', reason: 'bad_request' }, // media not supported
  '50018': { code: 'SEND_FAILED', reason: 'bad_request' }, // request method not supported
  '50019': { code: 'SEND_FAILED', reason: 'vendor_error' }, // server error
  '50020': { code: 'SEND_FAILED', reason: 'template' }, // template being audited
  '50021': { code: 'SEND_FAILED', reason: 'template' }, // template not passed
  '50022': { code: 'SEND_FAILED', reason: 'template' }, // parameters not all replaced
  '50023': { code: 'SEND_FAILED', reason: 'template' }, // parameters empty
};

/**
 * The `Authorization` header of every JPush call: HTTP Basic with `appKey:masterSecret`.
 *
 * @example
 * jpushAuthorization('7d431e42dfa6a6d693ac2d04', '5e987ac6d2e04d95a9d8f0d1');
 * // 'Basic N2Q0MzFlNDJkZmE2YTZkNjkzYWMyZDA0OjVlOTg3YWM2ZDJlMDRkOTVhOWQ4ZjBkMQ=='
 */
export function jpushAuthorization(appKey: string, masterSecret: string): string {
  return `Basic ${Buffer.from(`${appKey}:${masterSecret}`, 'utf8').toString('base64')}`;
}

/** `temp_id` / `sign_id`: positive integers (digit strings are accepted and converted). */
const idSchema = z
  .union([z.number().int().positive(), z.string().regex(/^\d+$/, 'must be a positive integer')])
  .transform(Number);

const commonShape = {
  /** AppKey of the JPush application. */
  appKey: tokenSchema,
  /** Master Secret of the application. Secret: never logged, never in an error. */
  masterSecret: tokenSchema,
  /** `temp_id`: the template of the code message, or one per purpose (`{ login: 1, register: 2 }`). */
  templateId: perPurposeSchema(idSchema),
  /** `sign_id`: the SMS signature to use; the account's default when absent. */
  signId: idSchema.optional(),
  /** Default `https://api.sms.jpush.cn`. */
  baseUrl: baseUrlSchema(JPUSH_BASE_URL),
  /** Milliseconds to wait for an answer; default 5000. */
  timeout: timeoutSchema,
};

const jpushSenderSchema = z.strictObject({
  ...commonShape,
  /** `temp_para` of a code message; default `(code) => ({ code })`. */
  params: functionSchema<(code: string, minutes: number) => Record<string, string>>(
    '(code, minutes) => Record<string, string>',
  ).default(() => (code: string) => ({ code })),
  /** Adapter name in receipts, errors and `failover`; default `jpush`. */
  name: z.string().min(1).default('jpush'),
});

const jpushCodesSchema = z.strictObject({
  ...commonShape,
  /** `ttl` (seconds) of voice codes; default: the engine's code ttl. */
  voiceTtl: z.number().int().min(1).max(3600).optional(),
  /** Adapter name in receipts, errors and `failover`; default `jpush`. */
  name: z.string().min(1).default('jpush'),
});

/**
 * Options of {@link jpushSender}.
 *
 * @example
 * const options: JpushSenderOptions = { appKey, masterSecret, templateId: 1 };
 */
export type JpushSenderOptions = z.input<typeof jpushSenderSchema>;
/**
 * Options of {@link jpushCodes}.
 *
 * @example
 * const options: JpushCodesOptions = { appKey, masterSecret, templateId: 1, voiceTtl: 120 };
 */
export type JpushCodesOptions = z.input<typeof jpushCodesSchema>;

interface JpushClient {
  post(
    path: string,
    body: Record<string, unknown>,
    deadline?: number,
  ): Promise<{ json: Record<string, unknown>; status: number }>;
}

function jpushClient(
  vendor: string,
  config: { appKey: string; masterSecret: string; baseUrl: string; timeout: number },
): JpushClient {
  const authorization = jpushAuthorization(config.appKey, config.masterSecret);
  return {
    async post(path, body, deadline) {
      const response: VendorResponse = await vendorFetch({
        vendor,
        url: config.baseUrl + path,
        headers: { 'Content-Type': 'application/json', Authorization: authorization },
        body,
        timeout: config.timeout,
        deadline,
        describe: describeJpush,
      });
      return { json: expectJsonObject(vendor, response), status: response.status };
    },
  };
}

function describeJpush(json: unknown) {
  const error = (json as { error?: unknown } | null)?.error;
  const vendorCode = stringField(error, 'code');
  if (vendorCode === undefined) return undefined;
  return { vendorCode, vendorMessage: vendorText(stringField(error, 'message')) };
}

/** Turns a JPush `{ error: { code, message } }` answer into the mapped `SmsOtpError`. */
function jpushError(vendor: string, json: Record<string, unknown>, httpStatus: number): SmsOtpError {
  const info = describeJpush(json);
  if (info === undefined) return sendFailed(vendor, 'bad_response', { httpStatus });
  const mapped = JPUSH_ERRORS[info.vendorCode];
  if (mapped === undefined) return sendFailed(vendor, 'vendor_error', info);
  if (mapped.code === 'RATE_LIMITED') return vendorRateLimited(vendor, info);
  if (mapped.code === 'SEND_FAILED') return sendFailed(vendor, mapped.reason ?? 'vendor_error', info);
  return new SmsOtpError(mapped.code, { vendor, ...info });
}

/** Reads `msg_id` (a string for codes, a number for template messages) from a success answer. */
function messageId(vendor: string, json: Record<string, unknown>, httpStatus: number): string {
  const id = stringField(json, 'msg_id');
  if (id !== undefined && id !== '') return id;
  if (json.error !== undefined) throw jpushError(vendor, json, httpStatus);
  throw sendFailed(vendor, 'bad_response', { httpStatus });
}

/**
 * JPush (极光短信) template-message sender: the core makes the code, JPush delivers it with
 * `POST /v1/messages` (`temp_para`, default `{ code }`). Mainland-China mobile numbers only.
 * `sendTemplate` sends one request per number (the document has no batch endpoint).
 *
 * Errors follow {@link JPUSH_ERRORS}: 50009 → `RATE_LIMITED`, 50006 → `INVALID_PHONE`, 50014 →
 * `SEND_FAILED` (`reason: 'balance'`) …; the raw code and message stay in `details`.
 *
 * @example
 * const sender = jpushSender({
 *   appKey: process.env.JPUSH_APP_KEY!, masterSecret: process.env.JPUSH_MASTER_SECRET!,
 *   templateId: 1, params: (code, minutes) => ({ code, minutes: String(minutes) }),
 * });
 * const otp = createSmsOtp({ secret, sender });
 */
export function jpushSender(options: JpushSenderOptions): Sender {
  const config = parseAdapterOptions('jpush', jpushSenderSchema, options);
  const vendor = config.name;
  const client = jpushClient(vendor, config);
  const templates = tempIds(config.templateId);

  async function message(
    mobile: string,
    tempId: number,
    tempPara: Record<string, string>,
    deadline?: number,
  ) {
    const body: Record<string, unknown> = { mobile, temp_id: tempId, temp_para: tempPara };
    if (config.signId !== undefined) body.sign_id = config.signId;
    const { json, status } = await client.post('/v1/messages', body, deadline);
    const receipt: SendReceipt = { vendor, messageId: messageId(vendor, json, status) };
    return receipt;
  }

  const sender: Sender = {
    kind: 'sender',
    name: vendor,
    channels: ['sms'],
    async send(code: CodeMessage): Promise<SendReceipt> {
      if (code.channel !== 'sms') throw unsupportedChannel(vendor, code.channel);
      const tempId = templateFor(vendor, templates, code.purpose);
      const mobile = chinaMobile(vendor, code.phone);
      const params = stringRecord(config.params(code.code, ttlMinutes(code.ttl)));
      return message(mobile, tempId, params, code.deadline);
    },
    async sendTemplate(template: TemplateMessage): Promise<SendReceipt[]> {
      if (Array.isArray(template.params)) {
        throw new SmsOtpError('INVALID_REQUEST', {
          vendor,
          field: 'params',
          reason: 'JPush template parameters are named (temp_para): pass params as an object',
        });
      }
      if (!/^\d+$/.test(String(template.templateId))) {
        throw new SmsOtpError('INVALID_REQUEST', {
          vendor,
          field: 'templateId',
          reason: 'not a JPush temp_id',
        });
      }
      const numbers = chinaMobiles(vendor, template.phones);
      const tempPara = stringRecord(template.params);
      return sendBatches(numbers, (mobile) => message(mobile, Number(template.templateId), tempPara));
    },
  };
  return withPurposes(sender, templates);
}

/**
 * JPush (极光短信) code provider: JPush makes the code (`POST /v1/codes`, or `POST /v1/voice_codes` for
 * `channel: 'voice'`) and checks it (`POST /v1/codes/{msg_id}/valid`). `start` returns the `msg_id` as
 * `ref`. Mainland-China mobile numbers only.
 *
 * `check` resolves `true` for `is_valid: true`, `false` for a wrong code (50010, 50015), and rejects with
 * `CODE_EXPIRED` for an expired (50011) or already verified (50012) code. Other errors follow
 * {@link JPUSH_ERRORS}.
 *
 * @example
 * const sender = jpushCodes({
 *   appKey: process.env.JPUSH_APP_KEY!, masterSecret: process.env.JPUSH_MASTER_SECRET!,
 *   templateId: 1, voiceTtl: 120,
 * });
 * const otp = createSmsOtp({ secret, sender });
 */
export function jpushCodes(options: JpushCodesOptions): CodeProvider {
  const config = parseAdapterOptions('jpush', jpushCodesSchema, options);
  const vendor = config.name;
  const client = jpushClient(vendor, config);
  const templates = tempIds(config.templateId);

  const provider: CodeProvider = {
    kind: 'provider',
    name: vendor,
    channels: ['sms', 'voice'],
    async start(request: CodeRequest) {
      const mobile = chinaMobile(vendor, request.phone);
      let path: string;
      let body: Record<string, unknown>;
      if (request.channel === 'voice') {
        path = '/v1/voice_codes';
        body = { mobile, ttl: config.voiceTtl ?? Math.min(3600, Math.max(1, Math.round(request.ttl))) };
      } else if (request.channel === 'sms') {
        path = '/v1/codes';
        body = { mobile, temp_id: templateFor(vendor, templates, request.purpose) };
        if (config.signId !== undefined) body.sign_id = config.signId;
      } else {
        throw unsupportedChannel(vendor, request.channel);
      }
      const { json, status } = await client.post(path, body, request.deadline);
      const id = messageId(vendor, json, status);
      return { ref: id, vendor, messageId: id };
    },
    async check(request: CodeCheck): Promise<boolean> {
      if (request.ref === '') throw new SmsOtpError('CODE_EXPIRED', { vendor, reason: 'no_ref' });
      const { json, status } = await client.post(
        `/v1/codes/${encodeURIComponent(request.ref)}/valid`,
        { code: request.code },
        request.deadline,
      );
      if (json.is_valid === true) return true;
      if (json.error === undefined) {
        if (json.is_valid === false) return false;
        throw sendFailed(vendor, 'bad_response', { httpStatus: status });
      }
      const error = jpushError(vendor, json, status);
      if (error.code === 'CODE_INVALID') return false;
      throw error;
    },
  };
  return withPurposes(provider, templates);
}

/** `templateId` once parsed: one `temp_id`, or one per purpose. */
function tempIds(option: number | Readonly<Record<string, number>>): PurposeTemplates<number> {
  return purposeTemplates(option, (v): v is number => typeof v === 'number');
}

/** The adapter, with `purposes` when its templates are given per purpose. */
function withPurposes<T extends Sender | CodeProvider>(adapter: T, templates: PurposeTemplates<number>): T {
  return templates.purposes ? { ...adapter, purposes: templates.purposes } : adapter;
}

function stringRecord(params: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([key, value]) => [key, String(value)]));
}
