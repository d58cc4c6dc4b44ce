import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { SmsOtp } from './create-sms-otp.js';
import { type DeliveryEvent, type Events, eventsOf } from './events.js';
import type { HttpRequest, HttpResponse } from './http.js';
import { MAX_BODY_BYTES } from './http.js';
import { parseWith } from './options.js';
import { maskPhone, PhoneParser } from './phone.js';
import { TWILIO_REQUEST_ID_PARAM } from './vendors/twilio.js';

/** A secret path segment: 16–128 URL-safe characters (e.g. `openssl rand -hex 16`). */
const secretPathSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{16,128}$/, { error: 'must be 16–128 characters of A-Z a-z 0-9 _ -' });

/** The `receipts` route option: which vendors may post receipts, and how each is authenticated. */
export const receiptOptionsSchema = z
  .strictObject({
    /** Twilio status callbacks, checked with `X-Twilio-Signature` (HMAC-SHA1 with the auth token). */
    twilio: z
      .strictObject({
        /** The auth token of the account that sends (the key of the signature). Secret. */
        authToken: z.string().min(1),
        /**
         * The route's public URL as Twilio calls it (`https://api.example.com/sms/receipts/twilio`), when a
         * proxy changes scheme, host or path; the request's query string is added to it. Default: the URL the
         * framework saw.
         */
        url: z.url({ protocol: /^https?$/ }).optional(),
      })
      .optional(),
    /** Aliyun SmsReport HTTP push to `{prefix}/receipts/aliyun/{secretPath}` (Aliyun signs nothing). */
    aliyun: z.strictObject({ secretPath: secretPathSchema }).optional(),
    /** Tencent Cloud status callback to `{prefix}/receipts/tencent/{secretPath}` (Tencent signs nothing). */
    tencent: z.strictObject({ secretPath: secretPathSchema }).optional(),
  })
  .refine((o) => Object.keys(o).length > 0, { error: 'name at least one vendor (twilio, aliyun, tencent)' });

/**
 * The `receipts` option of the framework packages' routes.
 *
 * @example
 * app.use(smsOtp(otp, { receipts: { twilio: { authToken }, aliyun: { secretPath: process.env.ALIYUN_RECEIPT_PATH! } } }));
 */
export type ReceiptOptions = z.input<typeof receiptOptionsSchema>;

/** The vendors the receipts route knows. */
export type ReceiptVendor = 'twilio' | 'aliyun' | 'tencent';

/**
 * The receipts route of one mount, once its options are checked (see {@link resolveReceipts}). Its secrets
 * are kept out of the object, so that logging or inspecting it shows none.
 */
export interface ResolvedReceipts {
  readonly vendors: readonly ReceiptVendor[];
}

interface ReceiptState {
  config: z.output<typeof receiptOptionsSchema>;
  tracker: SendTracker;
}

const states = new WeakMap<ResolvedReceipts, ReceiptState>();

/** A receipts request as a framework package hands it to the core. */
export interface ReceiptRequest extends HttpRequest {
  /** The `:vendor` path segment. */
  vendor: string;
  /** The path segment after the vendor (the secret path of Aliyun and Tencent), if any. */
  secret?: string;
  /** The full URL the framework saw (scheme, host, path and query), for Twilio's signature. */
  url?: string;
}

/** How many sends (message id → requestId) an engine remembers for receipts that do not name their send. */
export const RECEIPT_MEMORY = 10_000;

interface SendEntry {
  requestId: string;
  phone: string;
  country?: string;
  /** The last status reported, so that a re-pushed receipt is not counted twice. */
  reported?: string;
}

/** Remembers the last {@link RECEIPT_MEMORY} sends of an engine by the vendor's message id. */
class SendTracker {
  readonly #entries = new Map<string, SendEntry>();

  remember(messageId: string, entry: SendEntry): void {
    this.#entries.delete(messageId);
    this.#entries.set(messageId, entry);
    if (this.#entries.size > RECEIPT_MEMORY) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
  }

  get(messageId: string): SendEntry | undefined {
    return this.#entries.get(messageId);
  }
}

const trackers = new WeakMap<object, SendTracker>();

/**
 * Checks the `receipts` option once, when the routes are mounted, and starts remembering the engine's sends
 * (message id → requestId, from its `sent` events), so that a receipt can name the send it reports on.
 *
 * @example
 * const receipts = resolveReceipts(otp, { twilio: { authToken } });
 */
export function resolveReceipts(otp: SmsOtp, options: ReceiptOptions): ResolvedReceipts {
  const config = parseWith(receiptOptionsSchema, options, 'receipts');
  const events = eventsOf(otp);
  if (!events) throw new TypeError('resolveReceipts: not an engine made by createSmsOtp');
  let tracker = trackers.get(otp);
  if (!tracker) {
    const made = new SendTracker();
    tracker = made;
    trackers.set(otp, made);
    otp.on('sent', (event) => {
      if (!event.messageId || event.test) return;
      made.remember(event.messageId, {
        requestId: event.requestId,
        phone: event.phone,
        ...(event.country ? { country: event.country } : {}),
      });
    });
  }
  const vendors = (['twilio', 'aliyun', 'tencent'] as const).filter((v) => config[v] !== undefined);
  const receipts: ResolvedReceipts = Object.freeze({ vendors });
  states.set(receipts, { config, tracker });
  return receipts;
}

/**
 * `X-Twilio-Signature` of a request: Base64 HMAC-SHA1, keyed with the auth token, of the full URL followed
 * by each form field's name and value, sorted by name (a repeated field: its values de-duplicated, sorted).
 *
 * @example
 * twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', {
 *   CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212',
 * }); // '0/KCTR6DLpKmkAf8muzZqo1nDgQ='
 */
export function twilioSignature(
  authToken: string,
  url: string,
  params: Readonly<Record<string, string | readonly string[]>>,
): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name]!;
    const values = typeof value === 'string' ? [value] : [...new Set(value)].sort();
    for (const v of values) data += name + v;
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/**
 * Whether `signature` is Twilio's for this URL and form: compared in constant time, with the URL as given
 * and with its default port added or removed (as twilio-node accepts).
 *
 * @example
 * validTwilioSignature(authToken, req.headers['x-twilio-signature'], url, form); // true | false
 */
export function validTwilioSignature(
  authToken: string,
  signature: string | undefined,
  url: string,
  params: Readonly<Record<string, string | readonly string[]>>,
): boolean {
  if (!signature) return false;
  let ok = false;
  for (const candidate of urlVariants(url)) {
    ok = sameSecret(twilioSignature(authToken, candidate, params), signature) || ok;
  }
  return ok;
}

function urlVariants(url: string): string[] {
  const variants = [url];
  try {
    const parsed = new URL(url);
    const port = parsed.protocol === 'https:' ? '443' : parsed.protocol === 'http:' ? '80' : undefined;
    if (port && parsed.port === '') {
      variants.push(
        url.replace(`${parsed.protocol}//${parsed.host}`, `${parsed.protocol}//${parsed.host}:${port}`),
      );
    } else if (port && parsed.port === port) {
      // URL drops a default port; the text may still hold it.
      variants.push(url.replace(`:${port}`, ''));
    }
  } catch {
    // Not a URL: only the text as given.
  }
  return variants;
}

/** Equal strings, compared in constant time over their SHA-256 (so lengths leak nothing either). */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

const REPLIES: Record<ReceiptVendor, unknown> = {
  twilio: {},
  aliyun: { code: 0, msg: '接收成功' },
  tencent: { result: 0, errmsg: 'OK' },
};

function reply(status: number, body: unknown): HttpResponse {
  return { status, headers: { 'cache-control': 'no-store' }, body };
}
const notFound = () => reply(404, { error: { code: 'NOT_FOUND', message: 'No such receipts route.' } });
const malformed = (message: string) =>
  reply(400, {
    error: { code: 'INVALID_REQUEST', message: 'The receipt is malformed.', issues: [{ path: '', message }] },
  });
const refused = () =>
  reply(403, { error: { code: 'FORBIDDEN', message: 'The receipt is not authenticated.' } });

class Malformed extends Error {}

/** One receipt after parsing, before it is matched with a send. */
interface Report {
  messageId: string;
  delivered: boolean;
  /** A status that says nothing yet (Twilio `sent`, `queued` …): answered, not reported. */
  pending?: boolean;
  errorCode?: string;
  /** The number as the vendor gives it, E.164 when known. */
  phone?: string;
  /** A requestId the vendor echoed (Twilio callback URL, Aliyun `out_id`). */
  requestId?: string;
}

/**
 * `POST {prefix}/receipts/:vendor[/:secret]`: authenticates a vendor's delivery receipt (Twilio's signature,
 * the secret path of Aliyun and Tencent), then emits `delivered` / `undelivered` on the engine for each
 * report, with the send's requestId when the receipt names it or this instance remembers the send. A
 * malformed receipt is 400 and an unauthenticated one 403 (404 for a wrong secret path, as for a route that
 * does not exist); neither emits anything. The success body is the one each vendor expects.
 *
 * @example
 * const response = await handleReceipt(otp, receipts, { vendor: 'twilio', url, headers, rawBody });
 */
export async function handleReceipt(
  otp: SmsOtp,
  receipts: ResolvedReceipts,
  request: ReceiptRequest,
): Promise<HttpResponse> {
  const vendor = request.vendor as ReceiptVendor;
  const state = states.get(receipts);
  if (!state) throw new TypeError('handleReceipt: receipts must come from resolveReceipts');
  if (!receipts.vendors.includes(vendor)) return notFound();
  const { config, tracker } = state;
  if (
    vendor === 'twilio'
      ? request.secret !== undefined
      : !sameSecret(request.secret ?? '', config[vendor]!.secretPath)
  ) {
    return notFound();
  }
  if (request.bodyError)
    return malformed(request.bodyError === 'too-large' ? 'body too large' : 'body unreadable');
  if (request.rawBody !== undefined && Buffer.byteLength(request.rawBody) > MAX_BODY_BYTES) {
    return malformed('body too large');
  }
  let reports: Report[];
  try {
    if (vendor === 'twilio') {
      const params = formOf(request);
      const url = signedUrl(config.twilio!.url, request.url);
      const signature = headerOf(request, 'x-twilio-signature');
      if (url === undefined || !validTwilioSignature(config.twilio!.authToken, signature, url, params))
        return refused();
      reports = [twilioReport(params, url)];
    } else {
      const items = jsonArrayOf(request);
      reports = items.map(vendor === 'aliyun' ? aliyunReport : tencentReport);
    }
  } catch (error) {
    if (error instanceof Malformed) return malformed(error.message);
    throw error;
  }
  const events = eventsOf(otp);
  for (const report of reports) if (!report.pending && events) emitReport(events, tracker, vendor, report);
  return reply(200, REPLIES[vendor]);
}

function emitReport(events: Events, tracker: SendTracker, vendor: ReceiptVendor, report: Report): void {
  const entry = tracker.get(report.messageId);
  const status = report.delivered ? 'delivered' : `undelivered:${report.errorCode ?? ''}`;
  // A vendor re-pushes a receipt it got no 200 for: the same status for the same message counts once.
  if (entry) {
    if (entry.reported === status) return;
    entry.reported = status;
  }
  const event: DeliveryEvent = { vendor, messageId: report.messageId };
  const requestId = report.requestId ?? entry?.requestId;
  if (requestId) event.requestId = requestId;
  const number = numberOf(report.phone);
  const phone = entry?.phone ?? number?.phone;
  if (phone) event.phone = phone;
  const country = entry?.country ?? number?.country;
  if (country) event.country = country;
  if (report.delivered) events.emit('delivered', event);
  else events.emit('undelivered', report.errorCode ? { ...event, errorCode: report.errorCode } : event);
}

const phones = new PhoneParser();

function numberOf(phone: string | undefined): { phone: string; country?: string } | undefined {
  if (!phone) return undefined;
  try {
    const parsed = phones.parse({ phone });
    return { phone: maskPhone(parsed.e164), ...(parsed.country ? { country: parsed.country } : {}) };
  } catch {
    return undefined;
  }
}

function headerOf(request: HttpRequest, name: string): string | undefined {
  const value = request.headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

function contentType(request: HttpRequest): string {
  return (headerOf(request, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The URL Twilio signed: the configured public URL with the request's query, else the URL the framework saw. */
function signedUrl(publicUrl: string | undefined, seen: string | undefined): string | undefined {
  if (publicUrl === undefined) return seen;
  const query = seen === undefined ? '' : (/\?.*$/.exec(seen)?.[0] ?? '');
  return publicUrl.replace(/\?.*$/, '') + query;
}

function formOf(request: HttpRequest): Record<string, string | string[]> {
  if (contentType(request) !== 'application/x-www-form-urlencoded') {
    throw new Malformed('a Twilio status callback is application/x-www-form-urlencoded');
  }
  const out: Record<string, string | string[]> = Object.create(null);
  if (typeof request.rawBody === 'string') {
    for (const [name, value] of new URLSearchParams(request.rawBody)) {
      const had = out[name];
      out[name] = had === undefined ? value : [...(typeof had === 'string' ? [had] : had), value];
    }
    return out;
  }
  // A body a host form parser already read (express.urlencoded, @fastify/formbody …).
  const body = request.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Malformed('no form body');
  for (const [name, value] of Object.entries(body)) {
    if (typeof value === 'string') out[name] = value;
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out[name] = value as string[];
    else throw new Malformed(`form field ${name} is not text`);
  }
  return out;
}

const TWILIO_SID = /^(SM|MM)[0-9a-f]{32}$/;
const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;

function twilioReport(params: Record<string, string | string[]>, url: string): Report {
  const text = (name: string) => {
    const value = params[name];
    if (value !== undefined && typeof value !== 'string') throw new Malformed(`${name} given twice`);
    return value;
  };
  const messageId = text('MessageSid') ?? text('SmsSid');
  const status = text('MessageStatus') ?? text('SmsStatus');
  if (!messageId || !TWILIO_SID.test(messageId))
    throw new Malformed('MessageSid is missing or not a message sid');
  if (!status || !/^[a-z_]{1,32}$/.test(status)) throw new Malformed('MessageStatus is missing');
  const errorCode = text('ErrorCode');
  if (errorCode !== undefined && !/^\d{1,6}$/.test(errorCode))
    throw new Malformed('ErrorCode is not a number');
  const report: Report = { messageId, delivered: status === 'delivered' };
  if (status !== 'delivered' && status !== 'undelivered' && status !== 'failed') report.pending = true;
  if (errorCode && errorCode !== '0') report.errorCode = errorCode;
  const to = text('To');
  if (to) report.phone = to;
  const requestId = new URL(url).searchParams.get(TWILIO_REQUEST_ID_PARAM);
  if (requestId && REQUEST_ID.test(requestId)) report.requestId = requestId;
  return report;
}

function jsonArrayOf(request: HttpRequest): Record<string, unknown>[] {
  const type = contentType(request);
  if (type !== 'application/json') throw new Malformed('the receipt is application/json');
  let body = request.body;
  if (body === undefined && typeof request.rawBody === 'string') {
    try {
      body = JSON.parse(request.rawBody);
    } catch {
      throw new Malformed('body is not JSON');
    }
  }
  if (!Array.isArray(body) || body.length === 0) throw new Malformed('body must be a JSON array of reports');
  return body.map((item, index) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new Malformed(`report ${index} is not an object`);
    }
    return item as Record<string, unknown>;
  });
}

function field(
  item: Record<string, unknown>,
  name: string,
  pattern: RegExp,
  optional = false,
): string | undefined {
  const value = item[name];
  if (value === undefined || value === null || value === '') {
    if (optional) return undefined;
    throw new Malformed(`${name} is missing`);
  }
  if (typeof value !== 'string' || !pattern.test(value)) throw new Malformed(`${name} is malformed`);
  return value;
}

const ID = /^[\w^.:*-]{1,128}$/;
const CODE = /^[^\p{Cc}]{1,64}$/u;
/** A number as receipts give it; documented examples mask digits with `*` or `x`. */
const DIGITS = /^[\d*xX]{3,20}$/;

/** Aliyun SmsReport: `{ phone_number, success, err_code, biz_id, out_id, … }`. */
function aliyunReport(item: Record<string, unknown>): Report {
  const messageId = field(item, 'biz_id', ID)!;
  if (typeof item.success !== 'boolean') throw new Malformed('success is not a boolean');
  const errCode = field(item, 'err_code', CODE, true);
  const phoneNumber = field(item, 'phone_number', DIGITS, true);
  const outId = field(item, 'out_id', /^.{1,256}$/s, true);
  const report: Report = { messageId, delivered: item.success };
  if (!item.success && errCode) report.errorCode = errCode;
  // Mainland numbers come as 11 national digits; others with their country code, without `+`.
  if (phoneNumber && /^\d+$/.test(phoneNumber)) {
    report.phone = /^1\d{10}$/.test(phoneNumber) ? `+86${phoneNumber}` : `+${phoneNumber}`;
  }
  if (outId && REQUEST_ID.test(outId)) report.requestId = outId;
  return report;
}

/** Tencent callback: `{ nationcode, mobile, report_status, errmsg, sid, … }`. */
function tencentReport(item: Record<string, unknown>): Report {
  const messageId = field(item, 'sid', ID)!;
  const status = item.report_status;
  if (status !== 'SUCCESS' && status !== 'FAIL') throw new Malformed('report_status is not SUCCESS or FAIL');
  const errmsg = field(item, 'errmsg', CODE, true);
  const nationcode = field(item, 'nationcode', /^\d{1,4}$/, true);
  const mobile = field(item, 'mobile', DIGITS, true);
  const report: Report = { messageId, delivered: status === 'SUCCESS' };
  if (status === 'FAIL' && errmsg) report.errorCode = errmsg;
  if (nationcode && mobile && /^\d+$/.test(mobile)) report.phone = `+${nationcode}${mobile}`;
  return report;
}
