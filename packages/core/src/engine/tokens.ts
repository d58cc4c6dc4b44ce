/** Verification tokens: signed when a code is verified, checked (and used up) by the guard. */
import { randomId } from '../code.js';
import { SmsOtpError } from '../errors.js';
import type { TokenRecord } from '../stores/types.js';
import { readToken, signToken, type VerifiedPhone } from '../token.js';
import type { EngineContext } from './context.js';
import type { CheckTokenOptions, VerifyResult } from './types.js';

export interface Tokens {
  /**
   * A new token's id and how long its record is kept (the token's lifetime): the verify that succeeds has
   * the store keep the record, in the same step; the guard uses it up.
   */
  record(): TokenRecord;
  /** The answer to a verified code: the token of `record` for `key` and `purpose`. */
  issue(key: string, purpose: string, record: TokenRecord): VerifyResult;
  check(token: string | undefined, options?: CheckTokenOptions): Promise<VerifiedPhone>;
}

export function tokens(ctx: EngineContext): Tokens {
  const { options, store, keys, now, withinStoreTimeout } = ctx;
  const purposes = new Set(options.purposes);
  const tokenTtl = options.tokenTtl;
  const ttlMs = tokenTtl * 1000;

  function record(): TokenRecord {
    return { jti: randomId(), ttlMs };
  }

  function issue(key: string, purpose: string, made: TokenRecord): VerifyResult {
    const token = signToken(keys.token, { phone: key, purpose, jti: made.jti }, now(), tokenTtl);
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
    const { phone, jti } = claims;
    // The token's record, kept by the verify that made it, is used up here: a token whose record is gone (used,
    // or lost with the store's data) is refused, so no data loss brings a used token back.
    const fresh = await withinStoreTimeout(
      () => store.useToken({ phone, jti, consume, now: at }),
      // A use that lands after the request was answered STORE_UNAVAILABLE served nobody: take it back.
      (late) =>
        late && consume
          ? store.releaseToken?.({ phone, jti, ttlMs: Math.max(1000, claims.exp * 1000 - now()), now: now() })
          : undefined,
    );
    if (!fresh) throw new SmsOtpError('TOKEN_USED');
    return { phone: claims.phone, purpose: claims.purpose, verifiedAt: claims.verifiedAt };
  }

  return { record, issue, check };
}
