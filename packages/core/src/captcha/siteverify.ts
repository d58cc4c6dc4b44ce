import { isSmsOtpError, SmsOtpError } from '../errors.js';
import { type VendorResponse, vendorFetch } from '../vendors/http.js';

/**
 * One siteverify call: POST `fields` to `url`, form-encoded or as JSON, through the shared `vendorFetch`.
 * Every transport problem rejects with `SEND_FAILED` and `details: { captchaVerifier, reason, … }` (reasons
 * as in `vendors/http.ts`: `timeout`, `network`, `http_error`); nothing is logged and neither the URL nor a
 * field is ever copied into an error (the fields hold the secret).
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
    return await vendorFetch({
      vendor: verifier,
      url,
      headers: encoding === 'json' ? { 'Content-Type': 'application/json' } : {},
      ...(encoding === 'json' ? { body: fields } : { form: fields }),
      timeout,
    });
  } catch (error) {
    throw asVerifierError(verifier, error);
  }
}

/** Re-labels a `SEND_FAILED` from `vendorFetch` (`details.vendor`) as a captcha verifier's. */
function asVerifierError(verifier: string, error: unknown): unknown {
  if (!isSmsOtpError(error) || error.code !== 'SEND_FAILED') return error;
  const details: Record<string, unknown> = { captchaVerifier: verifier };
  for (const [key, value] of Object.entries(error.details)) if (key !== 'vendor') details[key] = value;
  return new SmsOtpError('SEND_FAILED', details);
}
