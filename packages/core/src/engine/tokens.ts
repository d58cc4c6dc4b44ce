/** Verification tokens: signed when a code is verified, checked (and used up) by the guard. */
import { randomId } from '../code.js';
import { SmsOtpError } from '../errors.js';
import { readToken, signToken, type VerifiedPhone } from '../token.js';
import type { EngineContext } from './context.js';
import type { CheckTokenOptions, VerifyResult } from './types.js';

/** The least a used token's mark outlives the token by (clock differences between instances). */
const USED_TOKEN_MARGIN_MS = 5 * 60_000;

export interface Tokens {
  /** The answer to a verified code: a token for `key` and `purpose`. */
  issue(key: string, purpose: string): VerifyResult;
  check(token: string | undefined, options?: CheckTokenOptions): Promise<VerifiedPhone>;
}

export function tokens(ctx: EngineContext): Tokens {
  const { options, store, keys, now, withinStoreTimeout } = ctx;
  const purposes = new Set(options.purposes);
  const tokenTtl = options.tokenTtl;
  /** How much longer than a token a used token's mark is kept (clock differences between instances). */
  const usedTokenMarginMs = Math.max(tokenTtl * 1000, USED_TOKEN_MARGIN_MS);

  function issue(key: string, purpose: string): VerifyResult {
    const token = signToken(keys.token, { phone: key, purpose, jti: randomId() }, now(), tokenTtl);
    return { token, expiresIn: tokenTtl, phone: key, purpose };
  }

  async function check(token: string | undefined, wanted: CheckTokenOptions = {}): Promise<VerifiedPhone> {
    if (typeof token !== 'string' || token.length === 0) throw new SmsOtpError('NOT_VERIFIED');
    if (token.length > 4096) throw new SmsOtpError('TOKEN_INVALID');
    const at = now();
    const claims = readToken(keys.token, token, at);
    if (wanted.purpose !== undefined && claims.purpose !== wanted.purpose) {
      throw new SmsOtpError('PURPOSE_MISMATCH', { expected: wanted.purpose });
    }
    // A token of a purpose this engine does not have (another engine's, under the same secret) is not its own.
    if (!purposes.has(claims.purpose)) throw new SmsOtpError('TOKEN_INVALID');
    const consume = wanted.consume ?? true;
    const fresh = await withinStoreTimeout(
      () =>
        store.useToken({
          jti: claims.jti,
          // Until the token's expiry on this clock, and as long again (at least 5 minutes more): an instance
          // whose clock runs behind still takes the token as live then, and must still find it used.
          ttlMs: Math.max(0, claims.exp * 1000 - at) + usedTokenMarginMs,
          consume,
          now: at,
        }),
      // A use that lands after the request was answered STORE_UNAVAILABLE served nobody: take it back.
      (late) => (late && consume ? store.releaseToken?.({ jti: claims.jti, now: now() }) : undefined),
    );
    if (!fresh) throw new SmsOtpError('TOKEN_USED');
    return { phone: claims.phone, purpose: claims.purpose, verifiedAt: claims.verifiedAt };
  }

  return { issue, check };
}
