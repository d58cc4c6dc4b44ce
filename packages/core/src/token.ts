import { errors, jwtVerify, SignJWT } from 'jose';
import { SmsOtpError } from './errors.js';

const TYP = 'sms-otp+jwt';

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

/** Signs a short-lived HS256 token (jose) for a verified phone and purpose. */
export function signToken(
  key: Uint8Array,
  claims: { phone: string; purpose: string; jti: string },
  now: number,
  ttl: number,
): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({ pur: claims.purpose })
    .setProtectedHeader({ alg: 'HS256', typ: TYP })
    .setSubject(claims.phone)
    .setJti(claims.jti)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .sign(key);
}

/** Checks signature, type and expiry; throws `TOKEN_INVALID` or `TOKEN_EXPIRED`. */
export async function readToken(key: Uint8Array, token: string, now: number): Promise<TokenClaims> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      typ: TYP,
      currentDate: new Date(now),
      requiredClaims: ['sub', 'jti', 'exp', 'iat'],
    });
    const { sub, jti, exp, iat, pur } = payload;
    if (typeof sub !== 'string' || typeof jti !== 'string' || typeof pur !== 'string' || !exp || !iat) {
      throw new SmsOtpError('TOKEN_INVALID');
    }
    return { phone: sub, purpose: pur, jti, exp, verifiedAt: new Date(iat * 1000) };
  } catch (error) {
    if (error instanceof SmsOtpError) throw error;
    if (error instanceof errors.JWTExpired) throw new SmsOtpError('TOKEN_EXPIRED');
    throw new SmsOtpError('TOKEN_INVALID');
  }
}
