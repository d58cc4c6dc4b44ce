import { createHash, createHmac } from 'node:crypto';
import { z } from 'zod';
import { type ErrorCode, SmsOtpError } from '../errors.js';
import {
  baseUrlSchema,
  chinaMobile,
  clockSchema,
  functionSchema,
  parseAdapterOptions,
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
  vendorFetch,
  vendorText,
} from './http.js';
import { perPurposeSchema, purposeTemplates, templateFor } from './templates.js';
import type { CodeMessage, Sender, SendReceipt } from './types.js';

/**
 * Production base URL of Tencent Cloud SMS API 3.0 (nearest region).
 *
 * @example
 * tencentSender({ …, baseUrl: 'https://sms.ap-guangzhou.tencentcloudapi.com' });
 */
export const TENCENT_BASE_URL = 'https://sms.tencentcloudapi.com';

type Mapped = { code: ErrorCode; reason?: FailureReason; maybeDelivered?: true };
const all = (codes: string[], mapped: Mapped) => Object.fromEntries(codes.map((code) => [code, mapped]));

/**
 * Tencent SendSms error codes (`Response.Error.Code` or a number's `SendStatusSet[].Code`) → the error the
 * adapter throws. Codes the SDK and the documents spell differently are listed both ways. Codes not listed:
 * `LimitExceeded.*` → `RATE_LIMITED`; `AuthFailure.*`, `UnauthorizedOperation.*` → `auth`;
 * `InvalidParameter*`, `MissingParameter.*`, `UnknownParameter.*` → `bad_request`; the rest → `vendor_error`.
 *
 * @example
 * TENCENT_ERRORS['LimitExceeded.PhoneNumberDailyLimit']; // { code: 'RATE_LIMITED' }
 */
export const TENCENT_ERRORS: Readonly<Record<string, Mapped>> = {
  ...all(
    [
      'LimitExceeded.PhoneNumberThirtySecondLimit',
      'LimitExceeded.PhoneNumberOneHourLimit',
      'LimitExceeded.PhoneNumberDailyLimit',
      'LimitExceeded.PhoneNumberSameContentDailyLimit',
      'LimitExceeded.DeliveryFrequencyLimit',
    ],
    { code: 'RATE_LIMITED' },
  ),
  ...all(
    [
      'InvalidParameterValue.IncorrectPhoneNumber',
      'FailedOperation.PhoneNumberParseFail',
      'FailedOperation.PhoneNumberInBlacklist',
    ],
    { code: 'INVALID_PHONE' },
  ),
  ...all(
    [
      'LimitExceeded.AppDailyLimit',
      'LimitExceeded.AppMainlandChinaDailyLimit',
      'LimitExceeded.AppGlobalDailyLimit',
      'LimitExceeded.DailyLimit',
      'UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone',
      'UnsupportedOperation.GlobalTemplateToChineseMainlandPhone',
      'UnauthorizedOperation.SmsSdkAppIdVerifyFail',
      'UnauthorizedOperation.SdkAppIdIsDisabled',
      'InvalidParameterValue.SdkAppIdNotExist',
      'UnauthorizedOperation.IndividualUserMarketingSmsPermissionDeny',
      'UnauthorizedOperation.RequestIpNotInWhitelist',
      'FailedOperation.MarketingSendTimeConstraint',
      'InvalidAction',
      'NoSuchVersion',
      'NoSuchProduct',
      'UnsupportedRegion',
      'UnsupportedProtocol',
    ],
    { code: 'SEND_FAILED', reason: 'config' },
  ),
  ...all(
    [
      'LimitExceeded.PhoneNumberCountLimit',
      'MissingParameter.EmptyPhoneNumberSet',
      'UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber',
      'FailedOperation.FailResolvePacket',
      'FailedOperation.JsonParseFail',
      'InternalError.JsonParseFail',
      'RequestSizeLimitExceeded',
    ],
    { code: 'SEND_FAILED', reason: 'bad_request' },
  ),
  ...all(['FailedOperation.SignatureIncorrectOrUnapproved'], { code: 'SEND_FAILED', reason: 'signature' }),
  ...all(
    [
      'FailedOperation.TemplateIncorrectOrUnapproved',
      'FailedOperation.TemplateUnapprovedOrNotExist',
      'FailedOperation.TemplateParamSetNotMatchApprovedTemplate',
      'InvalidParameterValue.TemplateParameterFormatError',
      'InvalidParameterValue.TemplateParameterLengthLimit',
      'InvalidParameterValue.ProhibitedUseUrlInTemplateParameter',
      'InvalidParameterValue.ContentLengthLimit',
      'FailedOperation.ContainSensitiveWord',
    ],
    { code: 'SEND_FAILED', reason: 'template' },
  ),
  'FailedOperation.InsufficientBalanceInSmsPackage': { code: 'SEND_FAILED', reason: 'balance' },
  ...all(
    ['UnauthorizedOperation.SerivceSuspendDueToArrears', 'UnauthorizedOperation.ServiceSuspendDueToArrears'],
    { code: 'SEND_FAILED', reason: 'arrears' },
  ),
  ...all(['InternalError.RequestTimeException', 'IpInBlacklist', 'IpNotInWhitelist'], {
    code: 'SEND_FAILED',
    reason: 'auth',
  }),
  ...all(['InternalError.Timeout', 'InternalError.SendAndRecvFail'], {
    code: 'SEND_FAILED',
    reason: 'vendor_error',
    maybeDelivered: true,
  }),
};

/** Codes for a number's country that the app cannot reach (`INVALID_PHONE`, `reason: 'unsupported_country'`). */
const COUNTRY_CODES = new Set([
  'LimitExceeded.AppCountryOrRegionDailyLimit',
  'LimitExceeded.AppCountryOrRegionInBlacklist',
  'UnsupportedOperation.UnsuportedRegion',
  'UnsupportedOperation.UnsupportedRegion',
]);

/** What {@link tencentTc3Signature} signs. */
export interface TencentSignedRequest {
  secretId: string;
  secretKey: string;
  /** `sms` for SMS. */
  service: string;
  /** Unix seconds (`X-TC-Timestamp`); the credential scope's date is its UTC date. */
  timestamp: number;
  /** The signed headers (at least `content-type` and `host`); names and values are lower-cased and trimmed. */
  headers: Readonly<Record<string, string>>;
  /** The exact body bytes. */
  payload: string;
  method?: string;
  pathname?: string;
  query?: string;
}

/**
 * TC3-HMAC-SHA256 (Tencent Cloud signature v3). Returns the `Authorization` header and the pieces, for tests.
 *
 * @example
 * tencentTc3Signature({ secretId, secretKey, service: 'sms', timestamp: 1704067200,
 *   headers: { 'content-type': 'application/json; charset=utf-8', host: 'sms.tencentcloudapi.com' }, payload })
 *   .authorization; // 'TC3-HMAC-SHA256 Credential=AKID…/2024-01-01/sms/tc3_request, SignedHeaders=content-type;host, Signature=…'
 */
export function tencentTc3Signature(request: TencentSignedRequest) {
  const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
  const hmac = (key: string | Buffer, text: string) =>
    createHmac('sha256', key).update(text, 'utf8').digest();
  const headers = Object.entries(request.headers)
    .map(([name, value]) => [name.toLowerCase().trim(), value.toLowerCase().trim()] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedHeaders = headers.map(([name]) => name).join(';');
  const canonicalRequest = [
    request.method ?? 'POST',
    request.pathname ?? '/',
    request.query ?? '',
    headers.map(([name, value]) => `${name}:${value}\n`).join(''),
    signedHeaders,
    sha256(request.payload),
  ].join('\n');
  const date = new Date(request.timestamp * 1000).toISOString().slice(0, 10);
  const scope = `${date}/${request.service}/tc3_request`;
  const stringToSign = `TC3-HMAC-SHA256\n${request.timestamp}\n${scope}\n${sha256(canonicalRequest)}`;
  const signing = hmac(hmac(hmac(`TC3${request.secretKey}`, date), request.service), 'tc3_request');
  const signature = createHmac('sha256', signing).update(stringToSign, 'utf8').digest('hex');
  const authorization = `TC3-HMAC-SHA256 Credential=${request.secretId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { authorization, signature, canonicalRequest, stringToSign };
}

const tencentOptionsSchema = z.strictObject({
  /** SecretId of the API key. */
  secretId: tokenSchema,
  /** SecretKey of the API key. Secret: never logged, never in an error. */
  secretKey: tokenSchema,
  /** SMS application id (`SmsSdkAppId`, e.g. `1400006666`). */
  smsSdkAppId: z.union([tokenSchema, z.number().int().positive()]).transform(String),
  /** Approved signature content (`SignName`, not its id). */
  signName: z.string().trim().min(1, 'must be a non-empty string'),
  /** Approved template id, or one per purpose (`{ login: '1110', 'reset-password': '1111' }`). */
  templateId: perPurposeSchema(z.union([tokenSchema, z.number().int().nonnegative()]).transform(String)),
  /** `TemplateParamSet` of a code message; default `(code, minutes) => [code, String(minutes)]`. */
  templateParams: functionSchema<(code: string, minutes: number, purpose: string) => Array<string | number>>(
    '(code, minutes, purpose) => string[]',
  ).default(() => (code: string, minutes: number) => [code, String(minutes)]),
  /** Send to numbers outside mainland China too (needs an international template). Default false. */
  international: z.boolean().default(false),
  /** `X-TC-Region`; default `ap-guangzhou`. */
  region: z
    .string()
    .regex(/^[a-z]+(-[a-z]+)+(-\d+)?$/, 'must be a region such as ap-guangzhou')
    .default('ap-guangzhou'),
  /** Default `https://sms.tencentcloudapi.com`. */
  baseUrl: baseUrlSchema(TENCENT_BASE_URL),
  /** Milliseconds to wait for an answer; default 5000. */
  timeout: timeoutSchema,
  /** Epoch milliseconds, for `X-TC-Timestamp`; default `Date.now`. */
  clock: clockSchema,
  /** Adapter name in receipts, errors and `failover`; default `tencent`. */
  name: z.string().min(1).default('tencent'),
});

/**
 * Options of {@link tencentSender}.
 *
 * @example
 * const options: TencentSenderOptions = { secretId, secretKey, smsSdkAppId: '1400006666', signName: '腾讯云', templateId: '1110' };
 */
export type TencentSenderOptions = z.input<typeof tencentOptionsSchema>;

/**
 * Tencent Cloud SMS (腾讯云短信, API 3.0 `SendSms` 2021-01-11) sender, signed with TC3-HMAC-SHA256: the core
 * makes the code, Tencent delivers it in an approved template (`TemplateParamSet`, default `[code, minutes]`).
 * Success only when there is no `Response.Error` and every `SendStatusSet[].Code` is `Ok`; the receipt's
 * `messageId` is the `SerialNo`, and the engine's request id goes as `SessionContext`.
 *
 * Errors follow {@link TENCENT_ERRORS}: `LimitExceeded.PhoneNumber…` → `RATE_LIMITED`,
 * `InvalidParameterValue.IncorrectPhoneNumber` → `INVALID_PHONE`, …
 *
 * @example
 * const sender = tencentSender({
 *   secretId: process.env.TENCENT_SECRET_ID!, secretKey: process.env.TENCENT_SECRET_KEY!,
 *   smsSdkAppId: '1400006666', signName: '腾讯云', templateId: { login: '1110', 'reset-password': '1111' },
 * });
 * const otp = createSmsOtp({ secret, sender, purposes: ['login', 'reset-password'] });
 */
export function tencentSender(options: TencentSenderOptions): Sender {
  const config = parseAdapterOptions('tencent', tencentOptionsSchema, options);
  const vendor = config.name;
  const templates = purposeTemplates(config.templateId, (v): v is string => typeof v === 'string');
  const host = new URL(config.baseUrl).host;

  const sender: Sender = {
    kind: 'sender',
    name: vendor,
    channels: ['sms'],
    async send(message: CodeMessage): Promise<SendReceipt> {
      if (message.channel !== 'sms') throw unsupportedChannel(vendor, message.channel);
      const templateId = templateFor(vendor, templates, message.purpose);
      const params = config.templateParams(message.code, ttlMinutes(message.ttl), message.purpose);
      const body = {
        PhoneNumberSet: [tencentPhone(vendor, message.phone, config.international)],
        SmsSdkAppId: config.smsSdkAppId,
        SignName: config.signName,
        TemplateId: templateId,
        TemplateParamSet: params.map(String),
        SessionContext: message.requestId,
      };
      const timestamp = Math.floor(config.clock() / 1000);
      const contentType = 'application/json; charset=utf-8';
      const { authorization } = tencentTc3Signature({
        secretId: config.secretId,
        secretKey: config.secretKey,
        service: 'sms',
        timestamp,
        headers: { 'content-type': contentType, host },
        payload: JSON.stringify(body),
      });
      const response = await vendorFetch({
        vendor,
        url: `${config.baseUrl}/`,
        headers: {
          'Content-Type': contentType,
          'X-TC-Action': 'SendSms',
          'X-TC-Version': '2021-01-11',
          'X-TC-Timestamp': String(timestamp),
          'X-TC-Region': config.region,
          Authorization: authorization,
        },
        body,
        timeout: config.timeout,
        deadline: message.deadline,
      });
      const answer = expectJsonObject(vendor, response).Response as Record<string, unknown> | undefined;
      const bad = () => sendFailed(vendor, 'bad_response', { httpStatus: response.status });
      if (answer === null || typeof answer !== 'object') throw bad();
      if (answer.Error !== undefined) {
        const code = stringField(answer.Error, 'Code');
        if (code === undefined) throw bad();
        throw tencentError(vendor, code, stringField(answer.Error, 'Message'));
      }
      const statuses = answer.SendStatusSet;
      if (!Array.isArray(statuses) || statuses.length === 0) throw bad();
      for (const status of statuses) {
        const code = stringField(status, 'Code');
        if (code === undefined) throw bad();
        if (code !== 'Ok') throw tencentError(vendor, code, stringField(status, 'Message'));
      }
      const receipt: SendReceipt = { vendor };
      const serialNo = stringField(statuses[0], 'SerialNo');
      if (serialNo) receipt.messageId = serialNo;
      return receipt;
    },
  };
  return templates.purposes ? { ...sender, purposes: templates.purposes } : sender;
}

/** E.164 with `+`: mainland numbers checked as 11-digit mobiles; others only when allowed. */
function tencentPhone(vendor: string, phone: string, international: boolean): string {
  const compact = phone.replace(/[\s-]/g, '');
  if (compact.startsWith('+86') || !international) return `+86${chinaMobile(vendor, compact)}`;
  if (!/^\+[1-9]\d{6,14}$/.test(compact))
    throw new SmsOtpError('INVALID_PHONE', { vendor, reason: 'malformed' });
  return compact;
}

function tencentError(vendor: string, vendorCode: string, message: string | undefined): SmsOtpError {
  const info = { vendorCode, vendorMessage: vendorText(message) };
  if (COUNTRY_CODES.has(vendorCode)) {
    return new SmsOtpError('INVALID_PHONE', { vendor, ...info, reason: 'unsupported_country' });
  }
  const prefix = vendorCode.split('.')[0]!;
  const mapped: Mapped =
    TENCENT_ERRORS[vendorCode] ??
    (prefix === 'LimitExceeded'
      ? { code: 'RATE_LIMITED' }
      : prefix === 'AuthFailure' || prefix === 'UnauthorizedOperation'
        ? { code: 'SEND_FAILED', reason: 'auth' }
        : ['InvalidParameter', 'InvalidParameterValue', 'MissingParameter', 'UnknownParameter'].includes(
              prefix,
            )
          ? { code: 'SEND_FAILED', reason: 'bad_request' }
          : { code: 'SEND_FAILED', reason: 'vendor_error' });
  if (mapped.code === 'RATE_LIMITED') return vendorRateLimited(vendor, info);
  if (mapped.code === 'SEND_FAILED') {
    return sendFailed(vendor, mapped.reason ?? 'vendor_error', {
      ...info,
      ...(mapped.maybeDelivered ? { maybeDelivered: true } : {}),
    });
  }
  return new SmsOtpError(mapped.code, { vendor, ...info });
}
