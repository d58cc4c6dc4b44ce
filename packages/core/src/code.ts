import { createSecretKey, hkdfSync, type KeyObject, randomBytes, randomInt } from 'node:crypto';
import { hmacSha256 } from './hmac.js';

/** A uniformly random code of `length` decimal digits, from `crypto.randomInt`. */
export function generateCode(length: number): string {
  return randomInt(0, 10 ** length)
    .toString()
    .padStart(length, '0');
}

/** Random bytes drawn from the OS 4 KiB at a time: one `getrandom` call per 256 ids instead of one per id. */
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let offset = 0;

/** 128 random bits, base64url: request ids and token ids. */
export function randomId(): string {
  if (offset + 16 > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + 16);
  offset += 16;
  return id;
}

/** Independent keys derived from the one `secret`: one to hash codes, one to sign tokens. */
export interface Keys {
  code: KeyObject;
  token: KeyObject;
}

export function deriveKeys(secret: string): Keys {
  const derive = (info: string) => new Uint8Array(hkdfSync('sha256', secret, 'sms-otp', info, 32));
  return {
    code: createSecretKey(derive('sms-otp code hash v1')),
    token: createSecretKey(derive('sms-otp token v1')),
  };
}

/**
 * What the store keeps instead of a code: HMAC-SHA256(secret, purpose | phone | code [| requestId]),
 * truncated to 96 bits as HMAC-SHA-256-96 would be (a wrong code matches by chance with odds of 2^-96; the
 * secret key is what makes it unguessable), base64url: 16 characters, never a `:`, unlike the `r:`/`p:`/`x:`
 * markers of vendor references. Short, so that a pending code fits Redis's 64-byte listpack size class.
 * With `binding` (the send's requestId, when `requireRequestId` is on) only a verify that presents the same
 * requestId can match.
 */
export function hashCode(key: KeyObject, purpose: string, phone: string, code: string, binding = ''): string {
  return mac96(key, `${purpose}\u0000${phone}\u0000${code}\u0000${binding}`);
}

/** HMAC-SHA-256 of `text` truncated to 96 bits, base64url: 16 characters are exactly the first 12 bytes. */
export function mac96(key: KeyObject, text: string): string {
  return hmacSha256(key, text).slice(0, 16);
}
