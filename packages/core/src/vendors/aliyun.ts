import { createHash, createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { type ErrorCode, SmsOtpError } from '../errors.js';
import {
  chinaMobile,
  clockSchema,
  functionSchema,
  parseAdapterOptions,
  timeoutSchema,
  tokenSchema,
  ttlMinutes,
  unsupportedChannel,
  urlSchema,
  vendorRateLimited,
} from './common.js';
import { type FailureReason, sendFailed, stringField, vendorFetch, vendorText } from './http.js';
import { perPurposeSchema, purposeTemplates, templateFor } from './templates.js';
import type { CodeMessage, Sender, SendReceipt } from './types.js';

/**
 * Default host of Alibaba Cloud SMS (Dysmsapi 2017-05-25): the same for every mainland region.
 *
 * @example
 * aliyunSender({ …, endpoint: 'dysmsapi.ap-southeast-1.aliyuncs.com' }); // Singapore instead
 */
export const ALIYUN_ENDPOINT = 'dysmsapi.aliyuncs.com';

const SHA256_OF_NOTHING = createHash('sha256').update('').digest('hex');

/**
 * Alibaba's `Code` values (SendSms business codes and the gateway's own) → the error the adapter throws;
 * `reason` is `details.reason` of a `SEND_FAILED`. Codes not listed: `Throttling*` and `SignatureNonceUsed` →
 * `vendor_error`, `Forbidden*` → `auth`, other `Missing*` / `Invalid*` → `bad_request`, the rest →
 * `vendor_error`.
 *
 * @example
 * ALIYUN_ERRORS['isv.AMOUNT_NOT_ENOUGH']; // { code: 'SEND_FAILED', reason: 'balance' }
 */
export const ALIYUN_ERRORS: Readonly<Record<string, { code: ErrorCode; reason?: FailureReason }>> = {
  'isv.BUSINESS_LIMIT_CONTROL': { code: 'RATE_LIMITED' },
  'isv.MOBILE_NUMBER_ILLEGAL': { code: 'INVALID_PHONE' },
  'isv.CUSTOMER_REFUSED': { code: 'INVALID_PHONE' },
  'isv.AMOUNT_NOT_ENOUGH': { code: 'SEND_FAILED', reason: 'balance' },
  'isv.OUT_OF_SERVICE': { code: 'SEND_FAILED', reason: 'arrears' },
  ...Object.fromEntries(
    [
      'isv.DAY_LIMIT_CONTROL',
      'isv.MONTH_LIMIT_CONTROL',
      'isv.DOMESTIC_NUMBER_NOT_SUPPORTED',
      'isv.SMS_TEST_NUMBER_LIMIT',
      'isv.SMS_TEST_SIGN_TEMPLATE_LIMIT',
      'isv.EXTEND_CODE_ERROR',
      'isv.PRODUCT_UN_SUBSCRIPT',
      'isv.PRODUCT_UNSUBSCRIBE',
      'isv.SECURITY_FROZEN_ACCOUNT',
      'isv.DENY_IP_RANGE',
      'InvalidApi.NotFound',
      'InvalidAction.NotFound',
      'InvalidVersion',
    ].map((code) => [code, { code: 'SEND_FAILED', reason: 'config' }]),
  ),
  ...Object.fromEntries(
    [
      'isv.SMS_TEST_TEMPLATE_PARAMS_ILLEGAL',
      'isv.SMS_TEMPLATE_ILLEGAL',
      'isv.TEMPLATE_MISSING_PARAMETERS',
      'isv.TEMPLATE_PARAMS_ILLEGAL',
      'template_parameter_count_illegal',
      'isv.PARAM_LENGTH_LIMIT',
      'isv.PARAM_NOT_SUPPORT_URL',
      'isv.BLACK_KEY_CONTROL_LIMIT',
      'isv.SMS_CONTENT_ILLEGAL',
    ].map((code) => [code, { code: 'SEND_FAILED', reason: 'template' }]),
  ),
  ...Object.fromEntries(
    [
      'isv.SMS_SIGNATURE_ILLEGAL',
      'isv.SMS_SIGN_ILLEGAL',
      'isv.SIGN_STATE_ILLEGAL',
      'isv.SMS_SIGNATURE_SCENE_ILLEGAL',
    ].map((code) => [code, { code: 'SEND_FAILED', reason: 'signature' }]),
  ),
  ...Object.fromEntries(
    [
      'isv.MOBILE_COUNT_OVER_LIMIT',
      'isv.INVALID_JSON_PARAM',
      'isv.INVALID_PARAMETERS',
      'PARAMS_ILLEGAL',
      'InvalidParameter',
    ].map((code) => [code, { code: 'SEND_FAILED', reason: 'bad_request' }]),
  ),
  ...Object.fromEntries(
    [
      'isv.ACCOUNT_NOT_EXISTS',
      'isv.ACCOUNT_ABNORMAL',
      'isp.RAM_PERMISSION_DENY',
      'SignatureDoesNotMatch',
      'IncompleteSignature',
      'InvalidAccessKeyId.NotFound',
      'InvalidAccessKeyId.Inactive',
      'InvalidTimeStamp.Format',
      'InvalidTimeStamp.Expired',
      'Forbidden.RAM',
      'Forbidden',
    ].map((code) => [code, { code: 'SEND_FAILED', reason: 'auth' }]),
  ),
  ...Object.fromEntries(
    ['isp.SYSTEM_ERROR', 'isp.GATEWAY_ERROR', 'IS_CLOSE', 'SignatureNonceUsed'].map((code) => [
      code,
      { code: 'SEND_FAILED', reason: 'vendor_error' },
    ]),
  ),
};

/**
 * RFC 3986 percent-encoding as Alibaba signs it: `A–Z a–z 0–9 - _ . ~` kept, everything else `%XY`
 * (space → `%20`, `*` → `%2A`).
 *
 * @example
 * aliyunEncode('{"code":"1"}'); // '%7B%22code%22%3A%221%22%7D'
 */
export function aliyunEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The query string Alibaba signs (and the adapter sends): encoded names and values, sorted by name. */
export function aliyunCanonicalQuery(query: Readonly<Record<string, string>>): string {
  return Object.entries(query)
    .map(([name, value]) => [aliyunEncode(name), aliyunEncode(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** What {@link aliyunAcs3Signature} signs. */
export interface AliyunSignedRequest {
  method: string;
  /** `/` for RPC APIs such as SendSms. */
  pathname: string;
  query: Readonly<Record<string, string>>;
  /** Name/value pairs (names may repeat in any case); only `host`, `content-type` and `x-acs-*` are signed. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** Hex SHA-256 of the body (`x-acs-content-sha256`). */
  payloadHash: string;
  accessKeyId: string;
  accessKeySecret: string;
}

/**
 * ACS3-HMAC-SHA256 (Alibaba Cloud signature V3): canonical request → hex SHA-256 → hex HMAC-SHA256 keyed with
 * the AccessKey secret. Returns the `Authorization` header and the pieces, for tests.
 *
 * @example
 * aliyunAcs3Signature({ method: 'POST', pathname: '/', query, headers, payloadHash, accessKeyId, accessKeySecret })
 *   .authorization; // 'ACS3-HMAC-SHA256 Credential=…,SignedHeaders=host;x-acs-action;…,Signature=…'
 */
export function aliyunAcs3Signature(request: AliyunSignedRequest) {
  const byName = new Map<string, string[]>();
  for (const [rawName, value] of request.headers) {
    const name = rawName.toLowerCase();
    if (!(name.startsWith('x-acs-') || name === 'host' || name === 'content-type')) continue;
    byName.set(name, [...(byName.get(name) ?? []), value.trim()]);
  }
  const names = [...byName.keys()].sort();
  const canonicalHeaders = names.map((name) => `${name}:${byName.get(name)!.sort().join(',')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    request.method,
    request.pathname,
    aliyunCanonicalQuery(request.query),
    canonicalHeaders,
    signedHeaders,
    request.payloadHash,
  ].join('\n');
  const hashedCanonicalRequest = createHash('sha256').update(canonicalRequest, 'utf8').digest('hex');
  const signature = createHmac('sha256', request.accessKeySecret)
    .update(`ACS3-HMAC-SHA256\n${hashedCanonicalRequest}`, 'utf8')
    .digest('hex');
  const authorization = `ACS3-HMAC-SHA256 Credential=${request.accessKeyId},SignedHeaders=${signedHeaders},Signature=${signature}`;
  return { authorization, signature, signedHeaders, canonicalRequest, hashedCanonicalRequest };
}

const aliyunOptionsSchema = z.strictObject({
  /** AccessKey ID (RAM user with `dysms:SendSms`). */
  accessKeyId: tokenSchema,
  /** AccessKey secret. Secret: never logged, never in an error. */
  accessKeySecret: tokenSchema,
  /** Approved signature name (the text shown in 【】). */
  signName: z.string().trim().min(1, 'must be a non-empty string'),
  /** Approved template code (`SMS_…`), or one per purpose (`{ login: 'SMS_1', 'reset-password': 'SMS_2' }`). */
  templateCode: perPurposeSchema(tokenSchema),
  /** `TemplateParam` of a code message; default `(code) => ({ code })`. Values are sent as strings. */
  templateParam: functionSchema<
    (code: string, minutes: number, purpose: string) => Record<string, string | number>
  >('(code, minutes, purpose) => Record<string, string>').default(() => (code: string) => ({ code })),
  /** Send to numbers outside mainland China too (the account must allow international SMS). Default false. */
  international: z.boolean().default(false),
  /** API host; default `dysmsapi.aliyuncs.com`. */
  endpoint: z
    .string()
    .regex(/^[a-z0-9.-]+(:\d+)?$/i, 'must be a host name')
    .default(ALIYUN_ENDPOINT),
  /** Full base URL (overrides `endpoint`, e.g. a fake server in tests); default `https://{endpoint}`. */
  baseUrl: urlSchema.optional(),
  /** Milliseconds to wait for an answer; default 5000. */
  timeout: timeoutSchema,
  /** Epoch milliseconds, for `x-acs-date`; default `Date.now`. */
  clock: clockSchema,
  /** Adapter name in receipts, errors and `failover`; default `aliyun`. */
  name: z.string().min(1).default('aliyun'),
});

/**
 * Options of {@link aliyunSender}.
 *
 * @example
 * const options: AliyunSenderOptions = { accessKeyId, accessKeySecret, signName: '阿里云短信测试', templateCode: 'SMS_1' };
 */
export type AliyunSenderOptions = z.input<typeof aliyunOptionsSchema>;

/**
 * Alibaba Cloud SMS (阿里云短信, Dysmsapi `SendSms` 2017-05-25) sender, signed with ACS3-HMAC-SHA256: the core
 * makes the code, Alibaba delivers it in an approved template (`TemplateParam`, default `{"code":"…"}`).
 * Mainland numbers go as 11 digits; others (with `international: true`) as country code + number, no `+`.
 * The receipt's `messageId` is `BizId`; the engine's request id goes as `OutId`.
 *
 * Errors follow {@link ALIYUN_ERRORS}: `isv.BUSINESS_LIMIT_CONTROL` → `RATE_LIMITED`,
 * `isv.MOBILE_NUMBER_ILLEGAL` → `INVALID_PHONE`, `isv.AMOUNT_NOT_ENOUGH` → `SEND_FAILED` `balance` …
 *
 * @example
 * const sender = aliyunSender({
 *   accessKeyId: process.env.ALIYUN_ACCESS_KEY_ID!, accessKeySecret: process.env.ALIYUN_ACCESS_KEY_SECRET!,
 *   signName: '阿里云短信测试', templateCode: { login: 'SMS_154950909', 'reset-password': 'SMS_154950910' },
 * });
 * const otp = createSmsOtp({ secret, sender, purposes: ['login', 'reset-password'] });
 */
export function aliyunSender(options: AliyunSenderOptions): Sender {
  const config = parseAdapterOptions('aliyun', aliyunOptionsSchema, options);
  const vendor = config.name;
  const templates = purposeTemplates(config.templateCode, (v): v is string => typeof v === 'string');
  const base = new URL(config.baseUrl ?? `https://${config.endpoint}`);
  const pathname = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;

  const sender: Sender = {
    kind: 'sender',
    name: vendor,
    channels: ['sms'],
    async send(message: CodeMessage): Promise<SendReceipt> {
      if (message.channel !== 'sms') throw unsupportedChannel(vendor, message.channel);
      const templateCode = templateFor(vendor, templates, message.purpose);
      const params = config.templateParam(message.code, ttlMinutes(message.ttl), message.purpose);
      const query = {
        PhoneNumbers: aliyunPhone(vendor, message.phone, config.international),
        SignName: config.signName,
        TemplateCode: templateCode,
        TemplateParam: JSON.stringify(
          Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
        ),
        OutId: message.requestId,
      };
      const acs: Array<[string, string]> = [
        ['x-acs-action', 'SendSms'],
        ['x-acs-version', '2017-05-25'],
        ['x-acs-date', new Date(config.clock()).toISOString().replace(/\.\d{3}Z$/, 'Z')],
        ['x-acs-signature-nonce', randomBytes(16).toString('hex')],
        ['x-acs-content-sha256', SHA256_OF_NOTHING],
      ];
      const { authorization } = aliyunAcs3Signature({
        method: 'POST',
        pathname,
        query,
        headers: [['host', base.host], ...acs],
        payloadHash: SHA256_OF_NOTHING,
        accessKeyId: config.accessKeyId,
        accessKeySecret: config.accessKeySecret,
      });
      const response = await vendorFetch({
        vendor,
        url: `${base.origin}${pathname}?${aliyunCanonicalQuery(query)}`,
        headers: { ...Object.fromEntries(acs), accept: 'application/json', Authorization: authorization },
        timeout: config.timeout,
        deadline: message.deadline,
        describe: describeAliyun,
      });
      const json = response.json as Record<string, unknown> | undefined;
      const code = stringField(json, 'Code');
      if (code === undefined) throw sendFailed(vendor, 'bad_response', { httpStatus: response.status });
      if (code !== 'OK') throw aliyunError(vendor, json!, response.status);
      const receipt: SendReceipt = { vendor };
      const bizId = stringField(json, 'BizId');
      if (bizId) receipt.messageId = bizId;
      return receipt;
    },
  };
  return templates.purposes ? { ...sender, purposes: templates.purposes } : sender;
}

/** Mainland numbers as 11 digits; others (when allowed) as country code + number without `+`. */
function aliyunPhone(vendor: string, phone: string, international: boolean): string {
  const compact = phone.replace(/[\s-]/g, '');
  if (compact.startsWith('+86') || !international) return chinaMobile(vendor, compact);
  if (!/^\+[1-9]\d{6,14}$/.test(compact))
    throw new SmsOtpError('INVALID_PHONE', { vendor, reason: 'malformed' });
  return compact.slice(1);
}

function describeAliyun(json: unknown) {
  const vendorCode = stringField(json, 'Code');
  if (vendorCode === undefined) return undefined;
  return { vendorCode, vendorMessage: vendorText(stringField(json, 'Message')) };
}

function aliyunError(vendor: string, json: Record<string, unknown>, httpStatus: number): SmsOtpError {
  const info: Record<string, unknown> = describeAliyun(json) ?? {};
  if (httpStatus !== 200) info.httpStatus = httpStatus;
  const code = String(info.vendorCode);
  const mapped =
    ALIYUN_ERRORS[code] ??
    (/^Forbidden/.test(code)
      ? { code: 'SEND_FAILED', reason: 'auth' as const }
      : /^(Missing|Invalid)/.test(code)
        ? { code: 'SEND_FAILED', reason: 'bad_request' as const }
        : { code: 'SEND_FAILED', reason: 'vendor_error' as const });
  if (mapped.code === 'RATE_LIMITED') return vendorRateLimited(vendor, info);
  if (mapped.code === 'SEND_FAILED') return sendFailed(vendor, mapped.reason ?? 'vendor_error', info);
  return new SmsOtpError(mapped.code, { vendor, ...info });
}
