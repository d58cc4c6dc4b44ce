/**
 * Refusal-to-error mapping: what a store's or a vendor's "no" becomes for the client (code, status, details).
 * Pure functions; the engine throws what they return.
 */
import type { Admission } from '../admission.js';
import { causeOf, isSmsOtpError, SmsOtpError, tooMany } from '../errors.js';
import type { AdmitResult, Bucket, IssueResult, StoreVerifyResult } from '../stores/types.js';
import { vendorText } from '../vendors/http.js';

/** A store's answer to a verify (or a provider check's reservation) that is not a success. */
export type VerifyRefusal = Exclude<StoreVerifyResult, { status: 'ok' }>;

/**
 * Maps a verify the store refused to the error a client sees. A verify naming another send (`mismatch`)
 * is `CODE_INVALID` with every attempt left: the same answer whether or not a code is pending, and nothing
 * about the pending code's attempts.
 */
export function verifyRefused(
  result: VerifyRefusal,
  limits: { maxAttempts: number },
  failWindow: Bucket | undefined,
): SmsOtpError {
  switch (result.status) {
    case 'invalid':
      return new SmsOtpError('CODE_INVALID', { attemptsLeft: result.attemptsLeft });
    case 'mismatch':
      return new SmsOtpError('CODE_INVALID', { attemptsLeft: limits.maxAttempts });
    case 'captcha':
      return new SmsOtpError('CAPTCHA_REQUIRED', { scope: 'phone' });
    case 'ip_limit':
      return tooMany('RATE_LIMITED', result.retryAfterMs, {
        scope: 'ip',
        ...(failWindow ? { limit: failWindow.limit, window: failWindow.windowMs / 1000 } : {}),
      });
    case 'dead':
      return tooMany('TOO_MANY_ATTEMPTS', result.retryAfterMs, { scope: 'code' });
    case 'locked':
      return tooMany('TOO_MANY_ATTEMPTS', result.retryAfterMs, { scope: 'phone' });
    default:
      return new SmsOtpError('CODE_EXPIRED');
  }
}

/** Maps a shared window or breaker that refused a send (or a captcha image) to the error a client sees. */
export function admitRefused(result: Exclude<AdmitResult, { ok: true }>, admission: Admission): SmsOtpError {
  const [kind] = result.id.split(':');
  if (result.reason === 'captcha') {
    return new SmsOtpError('CAPTCHA_REQUIRED', { scope: result.id.startsWith('ip:') ? 'ip' : 'breaker' });
  }
  if (result.reason === 'blocked')
    return tooMany('RATE_LIMITED', result.retryAfterMs, { scope: kind, reason: 'breaker' });
  const bucket = admission.buckets.find((b) => b.id === result.id);
  const details = bucket ? { limit: bucket.limit, window: bucket.windowMs / 1000 } : {};
  return tooMany('RATE_LIMITED', result.retryAfterMs, { scope: kind, ...details });
}

/** Maps a phone's record that refused a send (cooldown, windows, lock, captcha) to the error a client sees. */
export function issueRefused(
  result: Exclude<IssueResult, { ok: true }>,
  limits: { hourLimit: number; dayLimit: number },
): SmsOtpError {
  switch (result.reason) {
    case 'cooldown':
      return tooMany('RESEND_TOO_SOON', result.retryAfterMs, {
        scope: 'phone',
        limit: 1,
        window: (result.cooldownMs ?? result.retryAfterMs) / 1000,
      });
    case 'locked':
      return tooMany('TOO_MANY_ATTEMPTS', result.retryAfterMs, { scope: 'phone' });
    case 'captcha':
      return new SmsOtpError('CAPTCHA_REQUIRED', { scope: 'phone' });
    case 'phone_hour':
      return tooMany('RATE_LIMITED', result.retryAfterMs, {
        scope: 'phone',
        limit: limits.hourLimit,
        window: 3600,
      });
    default:
      return tooMany('RATE_LIMITED', result.retryAfterMs, {
        scope: 'phone',
        limit: limits.dayLimit,
        window: 86_400,
      });
  }
}

/** A store call's failure as a client sees it: `STORE_UNAVAILABLE`, the cause cut to what is safe to log. */
export function storeError(error: unknown): SmsOtpError {
  if (isSmsOtpError(error)) return error;
  return new SmsOtpError('STORE_UNAVAILABLE', { reason: 'error' }, undefined, { cause: causeOf(error) });
}

/** The errors a vendor (or captcha service) may answer with that reach the client as they are. */
const VENDOR_CODES = new Set([
  'SEND_FAILED',
  'RATE_LIMITED',
  'INVALID_PHONE',
  'CODE_INVALID',
  'CODE_EXPIRED',
  'CAPTCHA_INVALID',
  'CAPTCHA_REQUIRED',
]);

/**
 * A vendor call's failure as a client sees it: one of `VENDOR_CODES`, or `SEND_FAILED` naming the vendor with
 * `reason: 'error'` (a host sender or captcha verifier that threw an error of its own; one of the library's
 * that is no vendor answer keeps its reason). A foreign error's text is redacted as vendors' messages are
 * (`vendorText`: digit runs and long tokens removed, 200 characters at most) before it is kept as `cause`: a
 * host's HTTP client may put the URL (phone, code, API key) in its message.
 */
export function vendorError(error: unknown, who: Record<string, string>): SmsOtpError {
  if (isSmsOtpError(error) && VENDOR_CODES.has(error.code)) return error;
  const reason =
    isSmsOtpError(error) && typeof error.details.reason === 'string' ? error.details.reason : 'error';
  return new SmsOtpError('SEND_FAILED', { ...who, reason }, undefined, {
    cause: causeOf(error, vendorText),
  });
}
