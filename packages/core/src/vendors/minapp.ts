import { z } from 'zod';
import { SmsOtpError } from '../errors.js';
import {
  baseUrlSchema,
  chinaMobile,
  functionSchema,
  parseAdapterOptions,
  timeoutSchema,
  tokenSchema,
  unsupportedChannel,
  vendorRateLimited,
} from './common.js';
import {
  type FailureReason,
  sendFailed,
  stringField,
  type VendorResponse,
  vendorFetch,
  vendorText,
} from './http.js';
import type { CodeCheck, CodeProvider, CodeRequest } from './types.js';

/**
 * Production base URL of MinApp (知晓云) BaaS, from the vendor document.
 *
 * @example
 * minappCodes({ token, baseUrl: MINAPP_BASE_URL });
 */
export const MINAPP_BASE_URL = 'https://cloud.minapp.com';

/** Send path (API v2.1), as the document gives it. */
export const MINAPP_SEND_PATH = '/oserve/v2.1/sms-verification-code/';
/** Verify path (API v1.8), as the document gives it. */
export const MINAPP_VERIFY_PATH = '/oserve/v1.8/sms-verification-code/verify/';

const minappOptionsSchema = z.strictObject({
  /** Server-side access token, sent as `Authorization: Bearer <token>`. Secret: never in an error. */
  token: tokenSchema,
  /** Default `https://cloud.minapp.com`. */
  baseUrl: baseUrlSchema(MINAPP_BASE_URL),
  /** `signature_id`: the approved SMS signature to use; the newest approved one when absent. */
  signatureId: z.number().int().positive().optional(),
  /**
   * Finds the MinApp `user_id` (an integer, the `_userprofile` id) when a request carries no `userId`.
   * MinApp requires `user_id` on both send and verify.
   */
  resolveUserId:
    functionSchema<(phone: string) => number | string | Promise<number | string>>(
      '(phone) => user id',
    ).optional(),
  /** Milliseconds to wait for an answer; default 5000. */
  timeout: timeoutSchema,
  /** Adapter name in receipts, errors and `failover`; default `minapp`. */
  name: z.string().min(1).default('minapp'),
});

/**
 * Options of {@link minappCodes}.
 *
 * @example
 * const options: MinappCodesOptions = { token, signatureId: 1, resolveUserId: (phone) => lookup(phone) };
 */
export type MinappCodesOptions = z.input<typeof minappOptionsSchema>;

/**
 * MinApp (知晓云) code provider: MinApp makes, sends and checks the code, keyed by phone and `user_id`.
 * `ref` is the `user_id` the code was sent for, so that the check names the same user (the document
 * requires `user_id` on both calls, and a verify request carries only the phone). Mainland-China mobile
 * numbers only, SMS only.
 *
 * Status mapping (the document gives HTTP statuses only): send 200 + `{status: "ok"}` → sent; 400 → a
 * body mentioning the signature (签名 / signature) → `SEND_FAILED` `reason: 'signature'`, mentioning
 * frequency (频繁 / rate / limit …) → `RATE_LIMITED`, otherwise `SEND_FAILED` `reason: 'rejected'`;
 * 402 (account in arrears) → `SEND_FAILED` `reason: 'arrears'`; 401/403 → `reason: 'auth'`. Verify 200 →
 * `true`, 400 (wrong code / bad parameters) → `false`.
 *
 * @example
 * const sender = minappCodes({
 *   token: process.env.MINAPP_TOKEN!,
 *   signatureId: 1,
 *   resolveUserId: async (phone) => (await users.byPhone(phone)).minappId,
 * });
 * const otp = createSmsOtp({ secret, sender });
 */
export function minappCodes(options: MinappCodesOptions): CodeProvider {
  const config = parseAdapterOptions('minapp', minappOptionsSchema, options);
  const vendor = config.name;

  async function userIdFor(phone: string, userId: string | undefined): Promise<number> {
    let raw: unknown = userId;
    if (raw === undefined) {
      if (config.resolveUserId === undefined) {
        throw new SmsOtpError('INVALID_REQUEST', {
          vendor,
          field: 'userId',
          reason: 'MinApp needs a user_id: send by userId or set the resolveUserId option',
        });
      }
      raw = await config.resolveUserId(phone);
    }
    const id = typeof raw === 'number' ? raw : /^\d+$/.test(String(raw)) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(id) || id < 0) {
      throw new SmsOtpError('INVALID_REQUEST', {
        vendor,
        field: 'userId',
        reason: 'MinApp user_id is an integer',
      });
    }
    return id;
  }

  function post(path: string, body: Record<string, unknown>, deadline?: number): Promise<VendorResponse> {
    return vendorFetch({
      vendor,
      url: config.baseUrl + path,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${config.token}` },
      body,
      timeout: config.timeout,
      deadline,
    });
  }

  return {
    kind: 'provider',
    name: vendor,
    channels: ['sms'],
    async start(request: CodeRequest) {
      if (request.channel !== 'sms') throw unsupportedChannel(vendor, request.channel);
      const phone = chinaMobile(vendor, request.phone);
      const userId = await userIdFor(request.phone, request.userId);
      const body: Record<string, unknown> = { phone, user_id: userId };
      if (config.signatureId !== undefined) body.signature_id = config.signatureId;
      const response = await post(MINAPP_SEND_PATH, body, request.deadline);
      if (response.status === 200 || response.status === 201) {
        expectOk(vendor, response);
        return { ref: String(userId), vendor };
      }
      throw minappError(vendor, response, 'send');
    },
    async check(request: CodeCheck): Promise<boolean> {
      const phone = chinaMobile(vendor, request.phone);
      const body = {
        phone,
        code: request.code,
        // The user the code was sent for; a ref of '' (a code started before refs held it) asks again.
        user_id: await userIdFor(request.phone, request.ref === '' ? request.userId : request.ref),
      };
      const response = await post(MINAPP_VERIFY_PATH, body, request.deadline);
      if (response.status === 200 || response.status === 201) {
        expectOk(vendor, response);
        return true;
      }
      if (response.status === 400) return false;
      throw minappError(vendor, response, 'verify');
    },
  };
}

function expectOk(vendor: string, response: VendorResponse): void {
  if (stringField(response.json, 'status') !== 'ok') {
    throw sendFailed(vendor, 'bad_response', { httpStatus: response.status });
  }
}

/** The human-readable part of a MinApp error body, whatever field it sits in. */
function minappMessage(json: unknown): string {
  for (const key of ['error_msg', 'message', 'detail', 'error', 'msg']) {
    const value = stringField(json, key);
    if (value !== undefined) return value;
  }
  return '';
}

function minappError(vendor: string, response: VendorResponse, step: 'send' | 'verify'): SmsOtpError {
  const { status } = response;
  const info = {
    vendorCode: String(status),
    vendorMessage: vendorText(minappMessage(response.json)),
    httpStatus: status,
  };
  if (status === 400 && step === 'send') {
    if (/签名|signature/i.test(info.vendorMessage)) return sendFailed(vendor, 'signature', info);
    if (/频繁|频率|超限|上限|rate|limit|frequen|too many/i.test(info.vendorMessage)) {
      return vendorRateLimited(vendor, info);
    }
    return sendFailed(vendor, 'rejected', info);
  }
  const reason: FailureReason =
    status === 402 ? 'arrears' : status === 401 || status === 403 ? 'auth' : 'vendor_error';
  return sendFailed(vendor, reason, info);
}
