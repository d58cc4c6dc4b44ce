import { type KeyObject, timingSafeEqual } from 'node:crypto';
import { SmsOtpError } from './errors.js';
import { hmacSha256 } from './hmac.js';

/** What a verification token proves. */
export interface VerifiedPhone {
  phone: string;
  purpose: string;
  /** When the code was verified. */
  verifiedAt: Date;
}

export interface TokenClaims extends VerifiedPhone {
  jti: string;
  /** Epoch seconds. */
  exp: number;
}

/**
 * Tokens are compact JWS (RFC 7515) / JWT (RFC 7519) with HS256 and `typ: sms-otp+jwt`, signed and checked
 * with `node:crypto` HMAC: standard enough that any JOSE library reads them (a test checks both directions
 * with jose), and much cheaper than WebCrypto's asynchronous HMAC on the verify and guard paths
 * (BENCHMARKS.md, "Hand-tuned code in the core").
 */
const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'sms-otp+jwt' })).toString('base64url');

/** The HS256 signature, base64url (canonical: no padding, the spare low bits zero). */
function mac(key: KeyObject, signingInput: string): string {
  return hmacSha256(key, signingInput);
}

/** Signs a short-lived token for a verified phone and purpose. */
export function signToken(
  key: KeyObject,
  claims: { phone: string; purpose: string; jti: string },
  now: number,
  ttl: number,
): string {
  const iat = Math.floor(now / 1000);
  const payload = { sub: claims.phone, pur: claims.purpose, jti: claims.jti, iat, exp: iat + ttl };
  const signingInput = `${HEADER}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${signingInput}.${mac(key, signingInput)}`;
}

/** Checks header, signature (in constant time), claims and expiry; throws `TOKEN_INVALID` or `TOKEN_EXPIRED`. */
export function readToken(key: KeyObject, token: string, now: number): TokenClaims {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== HEADER) throw new SmsOtpError('TOKEN_INVALID');
  const [header, body, signature] = parts as [string, string, string];
  // Compare the canonical text, not decoded bytes: base64url decoding ignores the spare low bits of the last
  // character, which would let other spellings of the same signature through.
  const expected = Buffer.from(mac(key, `${header}.${body}`));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new SmsOtpError('TOKEN_INVALID');
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw new SmsOtpError('TOKEN_INVALID');
  }
  const { sub, pur, jti, iat, exp } = payload ?? {};
  if (
    typeof sub !== 'string' ||
    typeof pur !== 'string' ||
    typeof jti !== 'string' ||
    !Number.isInteger(iat) ||
    !Number.isInteger(exp)
  ) {
    throw new SmsOtpError('TOKEN_INVALID');
  }
  if (Math.floor(now / 1000) >= (exp as number)) throw new SmsOtpError('TOKEN_EXPIRED');
  return { phone: sub, purpose: pur, jti, exp: exp as number, verifiedAt: new Date((iat as number) * 1000) };
}
