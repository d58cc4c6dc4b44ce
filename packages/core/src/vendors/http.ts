import { clip, SmsOtpError } from '../errors.js';

/**
 * Why a vendor call failed, in `details.reason` of a `SEND_FAILED` error.
 * - `timeout`: no answer within the adapter's `timeout` (the vendor may still deliver the message).
 * - `network`: connection refused, DNS failure, TLS error … (`details.errno` holds the system code).
 * - `http_error`: HTTP 5xx (or an unexpected 3xx) from the vendor.
 * - `bad_response`: the body was not the JSON the vendor documents (an HTML error page, a proxy page …).
 * - `auth`, `config`, `balance`, `arrears`, `template`, `signature`, `bad_request`, `rejected`,
 *   `vendor_error`, `unsupported_channel`: the vendor answered and refused; see VENDORS.md per adapter.
 *
 * @example
 * if (error.code === 'SEND_FAILED' && error.details.reason === 'balance') pageTheOnCallPerson();
 */
export type FailureReason =
  | 'timeout'
  | 'network'
  | 'http_error'
  | 'bad_response'
  | 'auth'
  | 'config'
  | 'balance'
  | 'arrears'
  | 'template'
  | 'signature'
  | 'bad_request'
  | 'rejected'
  | 'vendor_error'
  | 'unsupported_channel';

/**
 * Raw facts about a vendor's refusal, kept in an error's `details` (never credentials).
 *
 * @example
 * const info: VendorErrorInfo = { vendorCode: '50009', vendorMessage: 'out of freq' };
 */
export interface VendorErrorInfo {
  vendorCode?: string;
  vendorMessage?: string;
}

/**
 * One JSON call to a vendor.
 *
 * @example
 * const request: VendorRequest = { vendor: 'jpush', url, headers, body: { mobile }, timeout: 5000 };
 */
export interface VendorRequest {
  /** Adapter name, copied into every error's `details.vendor`. */
  vendor: string;
  url: string;
  method?: 'POST' | 'GET';
  headers: Record<string, string>;
  /** Serialised with `JSON.stringify` when present. */
  body?: unknown;
  /** Sent form-encoded (`application/x-www-form-urlencoded`) instead of a JSON `body`. */
  form?: Record<string, string>;
  /** Milliseconds before the call is abandoned with reason `timeout`. */
  timeout: number;
  /** Epoch milliseconds after which the engine no longer waits (`CodeMessage.deadline`): the timeout ends there at the latest. */
  deadline?: number | undefined;
  /** Picks the vendor's own error code and message out of a JSON body (used for 5xx answers). */
  describe?: (json: unknown) => VendorErrorInfo | undefined;
}

/**
 * A vendor's answer with a status below 300 or in 4xx (5xx, timeouts and network errors throw).
 *
 * @example
 * const { status, json } = await vendorFetch(request);
 */
export interface VendorResponse {
  status: number;
  /** The parsed JSON body, or `undefined` when the body was empty or not JSON. */
  json: unknown;
  /** True when the body was present but could not be parsed as JSON. */
  notJson: boolean;
}

/**
 * Builds the `SEND_FAILED` error every adapter throws for a failed vendor call. `details` must never hold a
 * credential; the message is the generic one from `errors.ts`.
 *
 * @example
 * throw sendFailed('jpush', 'balance', { vendorCode: '50014', vendorMessage: 'no money' });
 */
export function sendFailed(
  vendor: string,
  reason: FailureReason,
  extra: Record<string, unknown> = {},
): SmsOtpError {
  return new SmsOtpError('SEND_FAILED', { vendor, reason, ...extra });
}

/**
 * Sends one JSON (or form-encoded) request with a timeout and turns every transport problem into a clean `SEND_FAILED`:
 * timeout → `reason: 'timeout'`, connection refused / DNS / TLS → `'network'` (with `errno`), HTTP 3xx/5xx →
 * `'http_error'` (with `httpStatus`). It never logs, and never puts the URL, headers or the underlying error
 * into the thrown error (a URL or header may carry a signature or credential).
 *
 * @example
 * const res = await vendorFetch({ vendor: 'jpush', url, headers: { Authorization: auth }, body, timeout: 5000 });
 * if (res.notJson) throw sendFailed('jpush', 'bad_response', { httpStatus: res.status });
 */
export async function vendorFetch(request: VendorRequest): Promise<VendorResponse> {
  const { vendor, deadline } = request;
  const left = deadline === undefined ? request.timeout : Math.ceil(deadline - Date.now());
  // Past the engine's deadline nothing is sent: the engine has already answered and undone the send.
  if (left <= 0) throw sendFailed(vendor, 'timeout', { timeoutMs: 0 });
  const timeout = Math.min(request.timeout, left);
  const headers: Record<string, string> = { ...request.headers };
  const init: RequestInit = {
    method: request.method ?? 'POST',
    headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeout),
  };
  if (request.form !== undefined) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(request.form).toString();
  } else if (request.body !== undefined) {
    init.body = JSON.stringify(request.body);
  }

  let response: Response;
  let text: string | undefined;
  try {
    response = await fetch(request.url, init);
    text = await readText(response);
  } catch (error) {
    throw transportError(vendor, timeout, error);
  }

  const status = response.status;
  const failed = status >= 500 || (status >= 300 && status < 400);
  // An answer too large to read: an HTTP failure is one still; anything else is no answer of the vendor's.
  if (text === undefined && !failed) {
    throw sendFailed(vendor, 'bad_response', { httpStatus: status, bodyTooLarge: true });
  }
  let json: unknown;
  let notJson = false;
  if (text !== undefined && text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      notJson = true;
    }
  }

  if (failed) {
    const described = json === undefined ? undefined : safeDescribe(request.describe, json);
    throw sendFailed(vendor, 'http_error', { httpStatus: status, ...described });
  }
  return { status, json, notJson };
}

/** The largest answer read from a vendor; theirs are a few hundred bytes. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * The body as UTF-8 text, or `undefined` when it is larger than MAX_ANSWER_BYTES (the rest is not read: an
 * endless or huge answer must not fill the process's memory).
 */
async function readText(response: Response): Promise<string | undefined> {
  const body = response.body;
  if (body === null) return '';
  if (Number(response.headers.get('content-length')) > MAX_ANSWER_BYTES) {
    await body.cancel();
    return undefined;
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  // As `response.text()` decodes: UTF-8, a leading byte-order mark dropped.
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** System errors raised before a request could reach the vendor: resolving, connecting, the TLS handshake. */
const BEFORE_SENDING =
  /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|EADDRNOTAVAIL|UND_ERR_CONNECT_TIMEOUT|ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_)/;

/**
 * Whether a failed vendor call may still deliver its message: the vendor may have taken the request, but
 * its answer does not say so. `failover` does not hand such a send to the next vendor (unless
 * `failoverOnUnknownOutcome`), as the user could get two messages. True for:
 * - `timeout`;
 * - `network` errors other than those before the request went out (refused, DNS, TLS …: the connection
 *   was lost with the request sent, or the cause is unknown);
 * - `http_error` 500, 502 and 504 (a server or gateway that failed after the request reached it);
 * - `bad_response` to a 2xx: the vendor (or something on the way) accepted the request and answered
 *   something other than its documented JSON;
 * - an error with `details.maybeDelivered` (`failover` with `failoverOnUnknownOutcome`, when a member
 *   before the last failed that way).
 * Explicit refusals (4xx, a vendor error code, 503) and everything not `SEND_FAILED` are not.
 *
 * @example
 * if (error instanceof SmsOtpError && mayHaveDelivered(error)) log('outcome unknown; not resent');
 */
export function mayHaveDelivered(error: SmsOtpError): boolean {
  if (error.code !== 'SEND_FAILED') return false;
  if (error.details.maybeDelivered === true) return true;
  const { reason, httpStatus, errno } = error.details;
  switch (reason) {
    case 'timeout':
      return true;
    case 'network':
      return typeof errno !== 'string' || !BEFORE_SENDING.test(errno);
    case 'http_error':
      return httpStatus === 500 || httpStatus === 502 || httpStatus === 504;
    case 'bad_response':
      return typeof httpStatus !== 'number' || (httpStatus >= 200 && httpStatus < 300);
    default:
      return false;
  }
}

/**
 * Throws `SEND_FAILED` with `reason: 'bad_response'` unless the answer is a JSON object; returns that object.
 *
 * @example
 * const body = expectJsonObject('ronglian', await vendorFetch(request));
 */
export function expectJsonObject(vendor: string, response: VendorResponse): Record<string, unknown> {
  const { json } = response;
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw sendFailed(vendor, 'bad_response', { httpStatus: response.status });
  }
  return json as Record<string, unknown>;
}

/** The longest vendor message kept in `details.vendorMessage`. */
const VENDOR_MESSAGE_MAX = 200;

/**
 * A vendor's own error text as `details.vendorMessage` keeps it: runs of four or more digits (a code, a phone
 * number, an account id) and long opaque tokens with digits in them (ids, signatures, keys) become `…`, and the
 * text is cut to 200 characters. Vendors' messages are words ("模板不存在", "out of freq"), but one that
 * echoes the request would otherwise carry the code or a credential into every log of the error.
 *
 * @example
 * vendorText('invalid code 123456 for 13800138000'); // 'invalid code … for …'
 */
export function vendorText(text: string | undefined): string {
  if (!text) return '';
  const cleaned = text
    .replace(/[\w+/=-]{16,}/g, (token) => (/\d/.test(token) ? '…' : token))
    .replace(/\d{4,}/g, '…');
  return clip(cleaned, VENDOR_MESSAGE_MAX);
}

/**
 * Reads a string (or number, as a string) field of a JSON object; `undefined` otherwise.
 *
 * @example
 * stringField({ msg_id: 124680 }, 'msg_id'); // '124680'
 */
export function stringField(object: unknown, key: string): string | undefined {
  if (object === null || typeof object !== 'object') return undefined;
  const value = (object as Record<string, unknown>)[key];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function safeDescribe(describe: VendorRequest['describe'], json: unknown): VendorErrorInfo | undefined {
  if (!describe) return undefined;
  try {
    return describe(json);
  } catch {
    return undefined;
  }
}

function transportError(vendor: string, timeout: number, error: unknown): SmsOtpError {
  if (isAbort(error)) return sendFailed(vendor, 'timeout', { timeoutMs: timeout });
  const errno = findErrno(error);
  return sendFailed(vendor, 'network', errno ? { errno } : {});
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/** Finds a system error code (`ECONNREFUSED` …) on an error or its causes, without keeping any message. */
function findErrno(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
