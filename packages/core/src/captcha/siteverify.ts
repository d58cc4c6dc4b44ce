import { SmsOtpError } from '../errors.js';
import { sendFailed, type VendorResponse, vendorFetch } from '../vendors/http.js';

/**
 * One siteverify call: POST `fields` to `url`, form-encoded or as JSON. Every transport problem rejects
 * with `SEND_FAILED` and `details: { captchaVerifier, reason, … }` (reasons as in `vendors/http.ts`:
 * `timeout`, `network`, `http_error`); nothing is logged and neither the URL nor a field is ever copied into
 * an error (the fields hold the secret).
 *
 * JSON goes through the shared `vendorFetch`. `vendorFetch` always `JSON.stringify`s its body, so the
 * form-encoded calls (hCaptcha and reCAPTCHA accept nothing else) use {@link postForm} below, which keeps
 * `vendorFetch`'s semantics.
 *
 * @example
 * const res = await siteverify('hcaptcha', url, { secret, response: token }, 5000, 'form');
 */
export async function siteverify(
  verifier: string,
  url: string,
  fields: Record<string, string>,
  timeout: number,
  encoding: 'form' | 'json',
): Promise<VendorResponse> {
  try {
    if (encoding === 'json') {
      return await vendorFetch({
        vendor: verifier,
        url,
        headers: { 'Content-Type': 'application/json' },
        body: fields,
        timeout,
      });
    }
    return await postForm(verifier, url, fields, timeout);
  } catch (error) {
    throw asVerifierError(verifier, error);
  }
}

/** Re-labels a `SEND_FAILED` from `vendorFetch` (`details.vendor`) as a captcha verifier's. */
function asVerifierError(verifier: string, error: unknown): unknown {
  if (!(error instanceof SmsOtpError) || error.code !== 'SEND_FAILED') return error;
  const details: Record<string, unknown> = { captchaVerifier: verifier };
  for (const [key, value] of Object.entries(error.details)) if (key !== 'vendor') details[key] = value;
  return new SmsOtpError('SEND_FAILED', details);
}

/**
 * The smallest form-encoded twin of `vendorFetch`: same timeout, `redirect: 'manual'`, same errors (3xx and
 * 5xx → `http_error` with `httpStatus`), same `{status, json, notJson}` answer.
 */
async function postForm(
  verifier: string,
  url: string,
  fields: Record<string, string>,
  timeout: number,
): Promise<VendorResponse> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeout),
    });
    text = await response.text();
  } catch (error) {
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
      throw sendFailed(verifier, 'timeout', { timeoutMs: timeout });
    }
    const errno = findErrno(error);
    throw sendFailed(verifier, 'network', errno ? { errno } : {});
  }
  const status = response.status;
  if (status >= 500 || (status >= 300 && status < 400)) {
    throw sendFailed(verifier, 'http_error', { httpStatus: status });
  }
  let json: unknown;
  let notJson = false;
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      notJson = true;
    }
  }
  return { status, json, notJson };
}

/** A system error code (`ECONNREFUSED` …) on an error or its causes, without keeping any message. */
function findErrno(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
