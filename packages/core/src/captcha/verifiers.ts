import { z } from 'zod';
import { SmsOtpError } from '../errors.js';
import { baseUrlSchema, parseAdapterOptions, timeoutSchema, tokenSchema } from '../vendors/common.js';
import type { FailureReason, VendorResponse } from '../vendors/http.js';
import { siteverify } from './siteverify.js';

/**
 * A server-side check of a captcha token (or answer) a browser sent along with `POST /sms/send`.
 *
 * `verify` resolves `true` when the token is good, `false` when it is wrong, expired, reused, for another
 * hostname/action, or scored too low: the user's fault, answered with `CAPTCHA_INVALID`. It rejects with
 * `SmsOtpError('SEND_FAILED', { captchaVerifier, reason, … })` when the provider cannot answer (timeout,
 * network, 5xx, a body that is not its JSON) or refuses our own request (bad secret or sitekey): not the
 * user's fault, so the engine answers 502 and counts nothing.
 *
 * @example
 * const mine: CaptchaVerifier = {
 *   name: 'always-yes',
 *   async verify({ token }) { return token === 'test-token'; },
 * };
 */
export interface CaptchaVerifier {
  readonly name: string;
  verify(input: { token: string; ip?: string }): Promise<boolean>;
}

/**
 * Production base URL of Cloudflare Turnstile's siteverify API.
 *
 * @example
 * turnstileVerifier({ secret, baseUrl: TURNSTILE_BASE_URL });
 */
export const TURNSTILE_BASE_URL = 'https://challenges.cloudflare.com';
/**
 * Production base URL of hCaptcha's siteverify API.
 *
 * @example
 * hcaptchaVerifier({ secret, baseUrl: HCAPTCHA_BASE_URL });
 */
export const HCAPTCHA_BASE_URL = 'https://api.hcaptcha.com';
/**
 * Production base URL of Google reCAPTCHA's siteverify API.
 *
 * @example
 * recaptchaVerifier({ secret, baseUrl: RECAPTCHA_BASE_URL });
 */
export const RECAPTCHA_BASE_URL = 'https://www.google.com';

/** Turnstile tokens are at most 2048 characters (Cloudflare's documentation); longer ones are forged. */
const TURNSTILE_MAX_TOKEN = 2048;
/** A bound for hCaptcha and reCAPTCHA tokens, far above real ones: nothing larger is sent anywhere. */
const MAX_TOKEN = 10_000;

/**
 * `error-codes` that mean our request is wrong, not the user's token: the provider refused the secret or
 * sitekey (`config`), could not read the request (`bad_request`), or failed itself (`vendor_error`).
 * Any other code (`invalid-input-response`, `timeout-or-duplicate`, `missing-input-response`,
 * `expired-input-response`, `already-seen-response` …) is the user's and makes `verify` resolve `false`.
 */
const OUR_FAULT: ReadonlyMap<string, FailureReason> = new Map([
  ['missing-input-secret', 'config'],
  ['invalid-input-secret', 'config'],
  ['sitekey-secret-mismatch', 'config'],
  ['invalid-sitekey', 'config'],
  ['missing-remoteip', 'bad_request'],
  ['invalid-remoteip', 'bad_request'],
  ['bad-request', 'bad_request'],
  ['internal-error', 'vendor_error'],
]);

const label = z.string().min(1, 'must be a non-empty string').max(253);
const hostnames = z
  .union([label, z.array(label).min(1, 'must list at least one hostname')])
  .transform((value) => (typeof value === 'string' ? [value] : value).map((host) => host.toLowerCase()))
  .optional();

const turnstileSchema = z.strictObject({
  /** Secret key of the widget (Cloudflare dashboard). Sent in the body only; never in an error. */
  secret: tokenSchema,
  /** Default `https://challenges.cloudflare.com`. */
  baseUrl: baseUrlSchema(TURNSTILE_BASE_URL),
  /** Milliseconds to wait for an answer; default 5000. */
  timeout: timeoutSchema,
  /** Hostname(s) the challenge must have been solved on (response `hostname`). Checked when given. */
  expectedHostname: hostnames,
  /** The widget's `action` (response `action`). Checked when given. */
  expectedAction: label.optional(),
});

const hcaptchaSchema = z.strictObject({
  /** Account secret (`0x…`). Sent in the body only; never in an error. */
  secret: tokenSchema,
  /** Your sitekey: hCaptcha then also checks the token was issued for it (`sitekey-secret-mismatch`). */
  sitekey: tokenSchema.optional(),
  /** Default `https://api.hcaptcha.com`. */
  baseUrl: baseUrlSchema(HCAPTCHA_BASE_URL),
  /** Milliseconds to wait for an answer; default 5000. */
  timeout: timeoutSchema,
  /** Hostname(s) the challenge must have been solved on (response `hostname`). Checked when given. */
  expectedHostname: hostnames,
});

const recaptchaSchema = z.strictObject({
  /** Secret key (legacy key pair). Sent in the body only; never in an error. */
  secret: tokenSchema,
  /** Default `https://www.google.com`. */
  baseUrl: baseUrlSchema(RECAPTCHA_BASE_URL),
  /** Lowest acceptable v3 `score` (0.0 bot – 1.0 human), 0–1; default 0.5. v2 answers carry no score. */
  minScore: z.number().min(0, 'must be from 0 to 1').max(1, 'must be from 0 to 1').default(0.5),
  /** The v3 `action` the token must carry. Checked when given (a v2 answer, with no action, then fails). */
  expectedAction: label.optional(),
  /** Hostname(s) the challenge must have been solved on (response `hostname`). Checked when given. */
  expectedHostname: hostnames,
  /** Milliseconds to wait for an answer; default 5000. */
  timeout: timeoutSchema,
});

/**
 * Options of {@link turnstileVerifier}.
 *
 * @example
 * const options: TurnstileVerifierOptions = { secret: process.env.TURNSTILE_SECRET!, expectedAction: 'sms' };
 */
export type TurnstileVerifierOptions = z.input<typeof turnstileSchema>;
/**
 * Options of {@link hcaptchaVerifier}.
 *
 * @example
 * const options: HcaptchaVerifierOptions = { secret: process.env.HCAPTCHA_SECRET!, sitekey };
 */
export type HcaptchaVerifierOptions = z.input<typeof hcaptchaSchema>;
/**
 * Options of {@link recaptchaVerifier}.
 *
 * @example
 * const options: RecaptchaVerifierOptions = { secret: process.env.RECAPTCHA_SECRET!, minScore: 0.7 };
 */
export type RecaptchaVerifierOptions = z.input<typeof recaptchaSchema>;

/**
 * Cloudflare Turnstile: POST `{baseUrl}/turnstile/v0/siteverify` with a JSON body `{secret, response,
 * remoteip?}` (Cloudflare accepts JSON or a form). Good when `success` is `true` and, when configured,
 * `hostname` and `action` match. Options are checked at once (`SmsOtpConfigError` naming e.g.
 * `turnstile.secret`).
 *
 * @example
 * const captcha = turnstileVerifier({
 *   secret: process.env.TURNSTILE_SECRET!,
 *   expectedHostname: 'example.com',
 *   expectedAction: 'sms-login',
 * });
 * if (!(await captcha.verify({ token: body['cf-turnstile-response'], ip: req.ip }))) reject();
 */
export function turnstileVerifier(options: TurnstileVerifierOptions): CaptchaVerifier {
  const config = parseAdapterOptions('turnstile', turnstileSchema, options);
  const name = 'turnstile';
  const url = `${config.baseUrl}/turnstile/v0/siteverify`;
  return {
    name,
    async verify({ token, ip }) {
      if (!usableToken(token, TURNSTILE_MAX_TOKEN)) return false;
      const fields = withIp({ secret: config.secret, response: token }, ip);
      const answer = readAnswer(name, await siteverify(name, url, fields, config.timeout, 'json'));
      if (!answer.success) return false;
      return hostnameMatches(answer, config.expectedHostname) && actionMatches(answer, config.expectedAction);
    },
  };
}

/**
 * hCaptcha: POST `{baseUrl}/siteverify` form-encoded with `secret`, `response`, `remoteip?` and
 * `sitekey?`. Good when `success` is `true` and, when configured, `hostname` matches.
 *
 * @example
 * const captcha = hcaptchaVerifier({ secret: process.env.HCAPTCHA_SECRET!, sitekey: HCAPTCHA_SITEKEY });
 * const human = await captcha.verify({ token: body['h-captcha-response'], ip: req.ip });
 */
export function hcaptchaVerifier(options: HcaptchaVerifierOptions): CaptchaVerifier {
  const config = parseAdapterOptions('hcaptcha', hcaptchaSchema, options);
  const name = 'hcaptcha';
  const url = `${config.baseUrl}/siteverify`;
  return {
    name,
    async verify({ token, ip }) {
      if (!usableToken(token, MAX_TOKEN)) return false;
      const fields = withIp({ secret: config.secret, response: token }, ip);
      if (config.sitekey !== undefined) fields.sitekey = config.sitekey;
      const answer = readAnswer(name, await siteverify(name, url, fields, config.timeout, 'form'));
      return answer.success && hostnameMatches(answer, config.expectedHostname);
    },
  };
}

/**
 * Google reCAPTCHA (v2 and v3, legacy siteverify): POST `{baseUrl}/recaptcha/api/siteverify`
 * form-encoded with `secret`, `response` and `remoteip?`. Good when `success` is `true`, the v3 `score`
 * (when present) is at least `minScore`, and, when configured, `action` and `hostname` match.
 *
 * @example
 * const captcha = recaptchaVerifier({
 *   secret: process.env.RECAPTCHA_SECRET!,
 *   minScore: 0.7,
 *   expectedAction: 'send_sms',
 * });
 * const human = await captcha.verify({ token: body['g-recaptcha-response'], ip: req.ip });
 */
export function recaptchaVerifier(options: RecaptchaVerifierOptions): CaptchaVerifier {
  const config = parseAdapterOptions('recaptcha', recaptchaSchema, options);
  const name = 'recaptcha';
  const url = `${config.baseUrl}/recaptcha/api/siteverify`;
  return {
    name,
    async verify({ token, ip }) {
      if (!usableToken(token, MAX_TOKEN)) return false;
      const fields = withIp({ secret: config.secret, response: token }, ip);
      const answer = readAnswer(name, await siteverify(name, url, fields, config.timeout, 'form'));
      if (!answer.success) return false;
      if (answer.score !== undefined && answer.score < config.minScore) return false;
      return actionMatches(answer, config.expectedAction) && hostnameMatches(answer, config.expectedHostname);
    },
  };
}

/** The fields of a siteverify answer the verifiers read. */
interface Answer {
  success: boolean;
  hostname?: string;
  action?: string;
  score?: number;
}

function usableToken(token: unknown, maxLength: number): token is string {
  return typeof token === 'string' && token.length > 0 && token.length <= maxLength;
}

function withIp(fields: Record<string, string>, ip: string | undefined): Record<string, string> {
  if (typeof ip === 'string' && ip !== '') fields.remoteip = ip;
  return fields;
}

/**
 * Reads `{success, 'error-codes', hostname, action, score}`. A body that is not that JSON (an HTML page, a
 * 4xx without it) → `SEND_FAILED` `bad_response`; an error code of {@link OUR_FAULT} → `SEND_FAILED` with
 * its reason and the codes in `vendorCode`.
 */
function readAnswer(name: string, response: VendorResponse): Answer {
  const { json, status } = response;
  const body =
    json !== null && typeof json === 'object' && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : undefined;
  if (!body || typeof body.success !== 'boolean') {
    throw verifierFailed(name, 'bad_response', { httpStatus: status });
  }
  const rawCodes = body['error-codes'];
  const codes = Array.isArray(rawCodes) ? rawCodes.filter((c): c is string => typeof c === 'string') : [];
  const ours = codes.map((code) => OUR_FAULT.get(code)).find((reason) => reason !== undefined);
  if (ours) {
    throw verifierFailed(name, ours, { httpStatus: status, vendorCode: codes.join(',') });
  }
  const score = body.score;
  if (score !== undefined && (typeof score !== 'number' || !Number.isFinite(score))) {
    throw verifierFailed(name, 'bad_response', { httpStatus: status });
  }
  return {
    success: body.success,
    ...(typeof body.hostname === 'string' ? { hostname: body.hostname } : {}),
    ...(typeof body.action === 'string' ? { action: body.action } : {}),
    ...(typeof score === 'number' ? { score } : {}),
  };
}

function verifierFailed(name: string, reason: FailureReason, extra: Record<string, unknown>): SmsOtpError {
  return new SmsOtpError('SEND_FAILED', { captchaVerifier: name, reason, ...extra });
}

function hostnameMatches(answer: Answer, expected: readonly string[] | undefined): boolean {
  if (!expected) return true;
  return answer.hostname !== undefined && expected.includes(answer.hostname.toLowerCase());
}

function actionMatches(answer: Answer, expected: string | undefined): boolean {
  return expected === undefined || answer.action === expected;
}
