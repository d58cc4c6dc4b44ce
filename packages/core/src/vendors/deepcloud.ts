import { z } from 'zod';
import { isSmsOtpError, SmsOtpError } from '../errors.js';
import {
  chinaMobile,
  parseAdapterOptions,
  timeoutSchema,
  tokenSchema,
  unsupportedChannel,
  urlSchema,
  vendorRateLimited,
} from './common.js';
import { sendFailed, stringField, vendorFetch, vendorText } from './http.js';
import type { CodeCheck, CodeProvider, CodeRequest } from './types.js';

/**
 * Paths of the DeepCloud user-center SMS API, below the deployment's entry point (`baseUrl`).
 *
 * @example
 * `${baseUrl}${DEEPCLOUD_PATHS.verify}` // …/api/ucenter-service-provider/api/sms/code/verify
 */
export const DEEPCLOUD_PATHS = {
  send: '/api/ucenter-service-provider/api/sms/code/send',
  captchaSend: '/api/ucenter-service-provider/api/sms/code/captcha/send',
  guidSend: '/api/ucenter-service-provider/api/sms/code/guid/send',
  verify: '/api/ucenter-service-provider/api/sms/code/verify',
} as const;

const deepcloudOptionsSchema = z.strictObject({
  /**
   * The application's access token, sent as-is in `Authorization` (no `Bearer`). A function is called
   * before every request, for tokens that expire. Secret: never in an error.
   */
  accessToken: z.union([
    tokenSchema,
    z.custom<() => string | Promise<string>>(
      (v) => typeof v === 'function',
      'must be a string or a function',
    ),
  ]),
  /** The deployment's entry point (调用入口); required, the document names no public host. */
  baseUrl: urlSchema,
  /** Milliseconds to wait for an answer; default 5000. */
  timeout: timeoutSchema,
  /** Adapter name in receipts, errors and `failover`; default `deepcloud`. */
  name: z.string().min(1).default('deepcloud'),
});

/**
 * Options of {@link deepcloudCodes}.
 *
 * @example
 * const options: DeepcloudCodesOptions = { baseUrl: 'https://uc.example.com', accessToken: token };
 */
export type DeepcloudCodesOptions = z.input<typeof deepcloudOptionsSchema>;

type Endpoint = keyof typeof DEEPCLOUD_PATHS;

/**
 * DeepCloud user-center code provider: DeepCloud makes, sends and checks the code (keyed by number, so
 * `ref` is `''`). The endpoint follows the request: `captchaKey` + `captcha` → captcha send (`key`,
 * `captcha`); else `userId` → send by `guid`; else plain send (`mobile_no`). Verify sends `mobile_no` and
 * `code`. Mainland-China mobile numbers only, SMS only.
 *
 * The document shows only the success envelope `{code: 200, message: "OK", data: null}`. Assumed, because
 * the envelope's success code is the HTTP one: other envelope codes follow HTTP meaning — 429 or a message
 * about frequency (频繁) → `RATE_LIMITED`; 400 on the captcha send → `CAPTCHA_INVALID`; 400 on verify →
 * `false` (wrong or expired code); 401/403 → `SEND_FAILED` `reason: 'auth'`; other 400s →
 * `SEND_FAILED` `reason: 'rejected'`; anything else → `SEND_FAILED` `reason: 'vendor_error'`.
 *
 * @example
 * const sender = deepcloudCodes({
 *   baseUrl: 'https://ucenter.example.com',
 *   accessToken: () => tokens.current(),
 * });
 * const otp = createSmsOtp({ secret, sender });
 */
export function deepcloudCodes(options: DeepcloudCodesOptions): CodeProvider {
  const config = parseAdapterOptions('deepcloud', deepcloudOptionsSchema, options);
  const vendor = config.name;

  async function token(): Promise<string> {
    if (typeof config.accessToken === 'string') return config.accessToken;
    let value: unknown;
    try {
      value = await config.accessToken();
    } catch {
      throw sendFailed(vendor, 'auth', { tokenError: true });
    }
    if (typeof value !== 'string' || value === '' || /[\s\p{Cc}]/u.test(value)) {
      throw sendFailed(vendor, 'auth', { tokenError: true });
    }
    return value;
  }

  /** Calls one endpoint; resolves when the envelope says 200, else throws the mapped error. */
  async function call(endpoint: Endpoint, body: Record<string, unknown>, deadline?: number): Promise<void> {
    const response = await vendorFetch({
      vendor,
      url: config.baseUrl + DEEPCLOUD_PATHS[endpoint],
      headers: {
        'x-deepcloud-from': 'client',
        Authorization: await token(),
        'Content-Type': 'application/json',
      },
      body,
      timeout: config.timeout,
      deadline,
      describe: (json) => {
        const code = stringField(json, 'code');
        return code === undefined
          ? undefined
          : { vendorCode: code, vendorMessage: vendorText(stringField(json, 'message')) };
      },
    });
    const envelopeCode = stringField(response.json, 'code');
    if (envelopeCode === undefined || !/^\d+$/.test(envelopeCode)) {
      throw sendFailed(vendor, 'bad_response', { httpStatus: response.status });
    }
    if (envelopeCode === '200' && response.status < 300) return;
    throw deepcloudError(vendor, endpoint, envelopeCode, stringField(response.json, 'message') ?? '');
  }

  return {
    kind: 'provider',
    name: vendor,
    checksCaptcha: true,
    channels: ['sms'],
    async start(request: CodeRequest) {
      if (request.channel !== 'sms') throw unsupportedChannel(vendor, request.channel);
      const hasKey = request.captchaKey !== undefined && request.captchaKey !== '';
      const hasCaptcha = request.captcha !== undefined && request.captcha !== '';
      if (hasKey !== hasCaptcha) {
        throw new SmsOtpError('CAPTCHA_REQUIRED', { vendor, reason: 'captchaKey and captcha go together' });
      }
      if (hasKey && hasCaptcha) {
        await call(
          'captchaSend',
          {
            mobile_no: chinaMobile(vendor, request.phone),
            key: request.captchaKey,
            captcha: request.captcha,
          },
          request.deadline,
        );
      } else if (request.userId !== undefined && request.userId !== '') {
        await call('guidSend', { guid: request.userId }, request.deadline);
      } else {
        await call('send', { mobile_no: chinaMobile(vendor, request.phone) }, request.deadline);
      }
      return { ref: '', vendor };
    },
    async check(request: CodeCheck): Promise<boolean> {
      try {
        const body = { mobile_no: chinaMobile(vendor, request.phone), code: request.code };
        await call('verify', body, request.deadline);
        return true;
      } catch (error) {
        if (isSmsOtpError(error) && error.code === 'CODE_INVALID') return false;
        throw error;
      }
    },
  };
}

function deepcloudError(
  vendor: string,
  endpoint: Endpoint,
  vendorCode: string,
  message: string,
): SmsOtpError {
  const vendorMessage = vendorText(message);
  const info = { vendorCode, vendorMessage };
  if (vendorCode === '429' || /频繁|频率|too many|too frequent/i.test(vendorMessage)) {
    return vendorRateLimited(vendor, info);
  }
  if (vendorCode === '401' || vendorCode === '403') return sendFailed(vendor, 'auth', info);
  if (vendorCode === '400') {
    if (endpoint === 'verify') return new SmsOtpError('CODE_INVALID', { vendor, ...info });
    if (endpoint === 'captchaSend') return new SmsOtpError('CAPTCHA_INVALID', { vendor, ...info });
    return sendFailed(vendor, 'rejected', info);
  }
  return sendFailed(vendor, 'vendor_error', info);
}
