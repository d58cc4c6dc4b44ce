import { z } from 'zod';
import { type ErrorCode, SmsOtpError } from '../errors.js';
import {
  baseUrlSchema,
  functionSchema,
  parseAdapterOptions,
  timeoutSchema,
  tokenSchema,
  ttlMinutes,
  unsupportedChannel,
  urlSchema,
  vendorRateLimited,
} from './common.js';
import {
  expectJsonObject,
  type FailureReason,
  sendFailed,
  stringField,
  type VendorErrorInfo,
  vendorFetch,
  vendorText,
} from './http.js';
import { type PerPurpose, perPurposeSchema, purposeTemplates } from './templates.js';
import type { CodeCheck, CodeMessage, CodeProvider, CodeRequest, Sender, SendReceipt } from './types.js';

/**
 * Production base URL of Twilio's REST API (Programmable Messaging).
 *
 * @example
 * twilioSender({ accountSid, authToken, from: '+15005550006', baseUrl: TWILIO_BASE_URL });
 */
export const TWILIO_BASE_URL = 'https://api.twilio.com';

/**
 * Production base URL of Twilio Verify v2.
 *
 * @example
 * twilioVerify({ accountSid, authToken, serviceSid, baseUrl: TWILIO_VERIFY_BASE_URL });
 */
export const TWILIO_VERIFY_BASE_URL = 'https://verify.twilio.com';

/**
 * The query parameter `twilioSender` adds to its `statusCallback` URL: the send's `requestId`, so that a
 * status callback (signed over the whole URL) names the send it reports on, whichever instance receives it.
 *
 * @example
 * new URL(callbackUrl).searchParams.get(TWILIO_REQUEST_ID_PARAM);
 */
export const TWILIO_REQUEST_ID_PARAM = 'smsOtpRequestId';

/**
 * Twilio error codes (Messages API and Verify v2) → the error the adapters throw; `reason` is
 * `details.reason`. Codes not listed → `SEND_FAILED` with `reason: 'vendor_error'` (`'auth'` for an
 * HTTP 401/403). In `twilioVerify`'s `check`, 20404 and 60202 are `CODE_EXPIRED`.
 *
 * @example
 * TWILIO_ERRORS['21211']; // { code: 'INVALID_PHONE' }
 */
export const TWILIO_ERRORS: Readonly<Record<string, { code: ErrorCode; reason?: string }>> = {
  '20003': { code: 'SEND_FAILED', reason: 'auth' }, // authentication failed
  '20005': { code: 'SEND_FAILED', reason: 'auth' }, // account not active
  '20008': { code: 'SEND_FAILED', reason: 'auth' }, // test credentials cannot reach this resource
  '20404': { code: 'SEND_FAILED', reason: 'config' }, // resource (service) not found
  '20429': { code: 'RATE_LIMITED' }, // too many concurrent requests
  '14107': { code: 'RATE_LIMITED' }, // SMS send rate limit exceeded
  '21211': { code: 'INVALID_PHONE' }, // invalid To number
  '21614': { code: 'INVALID_PHONE', reason: 'not_mobile' }, // To is not a mobile number
  '21635': { code: 'INVALID_PHONE', reason: 'not_mobile' }, // To is a landline
  '21408': { code: 'INVALID_PHONE', reason: 'unsupported_country' }, // region not enabled (Geo permissions)
  '21612': { code: 'INVALID_PHONE', reason: 'unsupported_country' }, // To/From cannot be routed
  '21610': { code: 'INVALID_PHONE', reason: 'unsubscribed' }, // the recipient replied STOP
  '21608': { code: 'SEND_FAILED', reason: 'config' }, // trial account, unverified recipient
  '21606': { code: 'SEND_FAILED', reason: 'config' }, // From is not a message-capable number of the account
  '21602': { code: 'SEND_FAILED', reason: 'bad_request' }, // Body required
  '21617': { code: 'SEND_FAILED', reason: 'template' }, // Body too long
  '60200': { code: 'SEND_FAILED', reason: 'bad_request' }, // invalid parameter (To → INVALID_PHONE)
  '60202': { code: 'RATE_LIMITED' }, // max check attempts (check → CODE_EXPIRED)
  '60203': { code: 'RATE_LIMITED' }, // max send attempts
  '60205': { code: 'INVALID_PHONE', reason: 'not_mobile' }, // SMS not supported by landline
  '60212': { code: 'RATE_LIMITED' }, // too many concurrent verifications for the number
  '60223': { code: 'SEND_FAILED', reason: 'unsupported_channel' }, // channel disabled in the service
  '60238': { code: 'SEND_FAILED', reason: 'rejected' }, // verification creation blocked
  '60410': { code: 'SEND_FAILED', reason: 'rejected' }, // Fraud Guard blocked the prefix
};

/** Default message of `twilioSender`. */
export const TWILIO_DEFAULT_BODY = 'Your verification code is {code}. It expires in {minutes} minutes.';

type BodyFunction = (code: string, minutes: number) => string;
type Body = string | BodyFunction;

const bodyValueSchema = z.union([
  z
    .string()
    .min(1)
    .max(1600)
    .refine((text) => text.includes('{code}'), 'must contain {code}'),
  functionSchema<BodyFunction>('(code, minutes) => string'),
]);

const credentials = {
  /** Account SID (`AC…`), the Basic auth user name. */
  accountSid: tokenSchema,
  /** Auth token (or an API key secret with `accountSid` as the key's account). Secret: never in an error. */
  authToken: tokenSchema,
  /** Milliseconds to wait for an answer; default 5000. */
  timeout: timeoutSchema,
};

const twilioSenderSchema = z
  .strictObject({
    ...credentials,
    /** Sender: a Twilio number (E.164), an alphanumeric sender id or a short code. */
    from: z.string().min(1).max(32).optional(),
    /** A Messaging Service (`MG…`) instead of `from`. */
    messagingServiceSid: tokenSchema.optional(),
    /** The message: `{code}` / `{minutes}` template or function, or a map of them by purpose. */
    body: perPurposeSchema(bodyValueSchema).default(TWILIO_DEFAULT_BODY),
    /** Public URL of the receipts route (`…/receipts/twilio`), sent as `StatusCallback` with the requestId. */
    statusCallback: urlSchema.optional(),
    /** Default `https://api.twilio.com`. */
    baseUrl: baseUrlSchema(TWILIO_BASE_URL),
    /** Adapter name in receipts, errors and `failover`; default `twilio`. */
    name: z.string().min(1).default('twilio'),
  })
  .refine((o) => (o.from === undefined) !== (o.messagingServiceSid === undefined), {
    message: 'give exactly one of from and messagingServiceSid',
    path: ['from'],
  });

const twilioVerifySchema = z.strictObject({
  ...credentials,
  /** Verify Service SID (`VA…`). */
  serviceSid: tokenSchema,
  /** `Locale` of the message (`en`, `zh` …); Twilio picks one from the number when absent. */
  locale: z
    .string()
    .regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/, 'must be a locale such as en or pt-BR')
    .optional(),
  /** Default `https://verify.twilio.com`. */
  baseUrl: baseUrlSchema(TWILIO_VERIFY_BASE_URL),
  /** Adapter name in receipts, errors and `failover`; default `twilio-verify`. */
  name: z.string().min(1).default('twilio-verify'),
});

/**
 * Options of {@link twilioSender}.
 *
 * @example
 * const options: TwilioSenderOptions = { accountSid, authToken, from: '+15005550006' };
 */
export type TwilioSenderOptions = Omit<z.input<typeof twilioSenderSchema>, 'body'> & {
  body?: PerPurpose<Body>;
};

/**
 * Options of {@link twilioVerify}.
 *
 * @example
 * const options: TwilioVerifyOptions = { accountSid, authToken, serviceSid: 'VA…' };
 */
export type TwilioVerifyOptions = z.input<typeof twilioVerifySchema>;

/**
 * The `Authorization` header of every Twilio call: HTTP Basic with `accountSid:authToken`.
 *
 * @example
 * twilioAuthorization('ACxxxxxxxx', 'token'); // 'Basic QUN4eHh4eHh4eDp0b2tlbg=='
 */
export function twilioAuthorization(accountSid: string, authToken: string): string {
  return `Basic ${Buffer.from(`${accountSid}:${authToken}`, 'utf8').toString('base64')}`;
}

/** One form POST to Twilio; answers below 300 and 4xx come back, 5xx and transport failures throw. */
async function twilioPost(
  vendor: string,
  config: { accountSid: string; authToken: string; timeout: number },
  url: string,
  form: Record<string, string>,
  deadline: number | undefined,
) {
  const response = await vendorFetch({
    vendor,
    url,
    headers: {
      Accept: 'application/json',
      Authorization: twilioAuthorization(config.accountSid, config.authToken),
    },
    form,
    timeout: config.timeout,
    deadline,
    describe: describeTwilio,
  });
  return { json: expectJsonObject(vendor, response), status: response.status };
}

function describeTwilio(json: unknown): VendorErrorInfo | undefined {
  const vendorCode = stringField(json, 'code');
  if (vendorCode === undefined) return undefined;
  return { vendorCode, vendorMessage: vendorText(stringField(json, 'message')) };
}

/** Turns a Twilio error answer (`{ code, message, more_info, status }`) into the mapped `SmsOtpError`. */
function twilioError(vendor: string, json: Record<string, unknown>, httpStatus: number): SmsOtpError {
  const info = describeTwilio(json);
  if (info === undefined) return sendFailed(vendor, 'bad_response', { httpStatus });
  const extra = { ...info, httpStatus };
  if (info.vendorCode === '60200' && /\bTo\b/.test(stringField(json, 'message') ?? '')) {
    return new SmsOtpError('INVALID_PHONE', { vendor, ...extra });
  }
  const mapped = TWILIO_ERRORS[info.vendorCode ?? ''];
  if (mapped === undefined) {
    return sendFailed(vendor, httpStatus === 401 || httpStatus === 403 ? 'auth' : 'vendor_error', extra);
  }
  if (mapped.code === 'RATE_LIMITED') return vendorRateLimited(vendor, extra);
  if (mapped.code === 'SEND_FAILED')
    return sendFailed(vendor, (mapped.reason ?? 'vendor_error') as FailureReason, extra);
  return new SmsOtpError(mapped.code, {
    vendor,
    ...extra,
    ...(mapped.reason ? { reason: mapped.reason } : {}),
  });
}

/** E.164 as Twilio takes it (`+` and 8–15 digits); anything else is `INVALID_PHONE` before any request. */
function e164(vendor: string, phone: string): string {
  const compact = phone.replace(/[\s-]/g, '');
  if (!/^\+[1-9]\d{6,14}$/.test(compact)) throw new SmsOtpError('INVALID_PHONE', { vendor });
  return compact;
}

function fillBody(body: Body, code: string, minutes: number): string {
  if (typeof body === 'function') return String(body(code, minutes));
  return body.replaceAll('{code}', code).replaceAll('{minutes}', String(minutes));
}

/**
 * Twilio Programmable Messaging sender: the core makes the code, Twilio delivers it as a plain SMS with
 * `POST {baseUrl}/2010-04-01/Accounts/{accountSid}/Messages.json` (form body `To`, `From` or
 * `MessagingServiceSid`, `Body`, optional `StatusCallback`), HTTP Basic `accountSid:authToken`. Any country.
 *
 * `body` is a template (`{code}`, `{minutes}`) or `(code, minutes) => string`, or a map of them by purpose.
 * With `statusCallback` (the public URL of the receipts route), Twilio reports delivery there, with the
 * send's requestId in the URL's `smsOtpRequestId` parameter.
 *
 * Errors follow {@link TWILIO_ERRORS}: 21211/21614 → `INVALID_PHONE`, 21408 → `INVALID_PHONE`
 * (`reason: 'unsupported_country'`, so `failover` moves on), 21610 → `INVALID_PHONE`
 * (`reason: 'unsubscribed'`), 20429/14107 → `RATE_LIMITED`, 20003 → `SEND_FAILED` (`reason: 'auth'`).
 *
 * @example
 * const sender = twilioSender({
 *   accountSid: process.env.TWILIO_ACCOUNT_SID!, authToken: process.env.TWILIO_AUTH_TOKEN!,
 *   from: '+15005550006', body: { login: 'Your login code: {code}', 'reset-password': 'Reset code: {code}' },
 * });
 * const otp = createSmsOtp({ secret, sender, purposes: ['login', 'reset-password'] });
 */
export function twilioSender(options: TwilioSenderOptions): Sender {
  const config = parseAdapterOptions('twilio', twilioSenderSchema, options);
  const vendor = config.name;
  const bodies = purposeTemplates<Body>(
    config.body as PerPurpose<Body>,
    (value): value is Body => typeof value === 'string' || typeof value === 'function',
  );
  const url = `${config.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(config.accountSid)}/Messages.json`;

  return {
    kind: 'sender',
    name: vendor,
    channels: ['sms'],
    ...(bodies.purposes ? { purposes: bodies.purposes } : {}),
    async send(message: CodeMessage): Promise<SendReceipt> {
      if (message.channel !== 'sms') throw unsupportedChannel(vendor, message.channel);
      const to = e164(vendor, message.phone);
      const body = bodies.get(message.purpose);
      if (body === undefined) {
        throw sendFailed(vendor, 'template', { purpose: message.purpose });
      }
      const form: Record<string, string> = {
        To: to,
        Body: fillBody(body, message.code, ttlMinutes(message.ttl)),
      };
      if (config.from !== undefined) form.From = config.from;
      else form.MessagingServiceSid = config.messagingServiceSid!;
      if (config.statusCallback !== undefined) {
        const callback = new URL(config.statusCallback);
        callback.searchParams.set(TWILIO_REQUEST_ID_PARAM, message.requestId);
        form.StatusCallback = callback.href;
      }
      const { json, status } = await twilioPost(vendor, config, url, form, message.deadline);
      if (status >= 300) throw twilioError(vendor, json, status);
      const sid = stringField(json, 'sid');
      if (!sid) throw sendFailed(vendor, 'bad_response', { httpStatus: status });
      return { vendor, messageId: sid };
    },
  };
}

/** Verification statuses after which the code can no longer be approved. */
const DEAD_STATUSES = new Set(['canceled', 'expired', 'max_attempts_reached', 'failed', 'deleted']);

/**
 * Twilio Verify v2 code provider: Twilio makes, delivers and checks the code
 * (`POST {baseUrl}/v2/Services/{serviceSid}/Verifications` with `To` and `Channel` `sms` or `call`, then
 * `…/VerificationCheck` with `VerificationSid` and `Code`). `start` returns the verification sid (`VE…`) as
 * `ref`. Any country. The engine's own limits (cooldowns, windows, attempts, single use) still apply.
 *
 * `check` resolves `true` for `status: "approved"`, `false` for `pending` (a wrong code), and rejects with
 * `CODE_EXPIRED` for a verification that is gone (20404: expired, approved or canceled; 60202: too many
 * checks). 60203 (too many sends) → `RATE_LIMITED`; 60200 on `To` → `INVALID_PHONE`.
 *
 * @example
 * const sender = twilioVerify({
 *   accountSid: process.env.TWILIO_ACCOUNT_SID!, authToken: process.env.TWILIO_AUTH_TOKEN!,
 *   serviceSid: process.env.TWILIO_VERIFY_SERVICE_SID!,
 * });
 * const otp = createSmsOtp({ secret, sender });
 */
export function twilioVerify(options: TwilioVerifyOptions): CodeProvider {
  const config = parseAdapterOptions('twilioVerify', twilioVerifySchema, options);
  const vendor = config.name;
  const service = `${config.baseUrl}/v2/Services/${encodeURIComponent(config.serviceSid)}`;

  return {
    kind: 'provider',
    name: vendor,
    channels: ['sms', 'voice'],
    async start(request: CodeRequest) {
      if (request.channel !== 'sms' && request.channel !== 'voice') {
        throw unsupportedChannel(vendor, request.channel);
      }
      const form: Record<string, string> = {
        To: e164(vendor, request.phone),
        Channel: request.channel === 'voice' ? 'call' : 'sms',
      };
      if (config.locale !== undefined) form.Locale = config.locale;
      const { json, status } = await twilioPost(
        vendor,
        config,
        `${service}/Verifications`,
        form,
        request.deadline,
      );
      if (status >= 300) throw twilioError(vendor, json, status);
      const sid = stringField(json, 'sid');
      if (!sid) throw sendFailed(vendor, 'bad_response', { httpStatus: status });
      return { ref: sid, vendor, messageId: sid };
    },
    async check(request: CodeCheck): Promise<boolean> {
      const form: Record<string, string> = { Code: request.code };
      if (request.ref !== '') form.VerificationSid = request.ref;
      else form.To = e164(vendor, request.phone);
      const { json, status } = await twilioPost(
        vendor,
        config,
        `${service}/VerificationCheck`,
        form,
        request.deadline,
      );
      if (status < 300) {
        const state = stringField(json, 'status');
        if (state === 'approved') return true;
        if (state === 'pending') return false;
        if (state !== undefined && DEAD_STATUSES.has(state)) {
          throw new SmsOtpError('CODE_EXPIRED', { vendor, reason: state });
        }
        throw sendFailed(vendor, 'bad_response', { httpStatus: status });
      }
      const code = stringField(json, 'code');
      if (code === '20404' || code === '60202') {
        throw new SmsOtpError('CODE_EXPIRED', { vendor, ...describeTwilio(json), httpStatus: status });
      }
      // A code Twilio finds malformed (60200 "Invalid parameter: Code") is a wrong code.
      if (code === '60200' && /\bCode\b/.test(stringField(json, 'message') ?? '')) return false;
      throw twilioError(vendor, json, status);
    },
  };
}
