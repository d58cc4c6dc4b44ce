/**
 * Verify: a code a client typed against the store's hash of it (one store round trip), or against the code
 * provider that made it. Every wrong guess of an attack runs this path, so it is written for CPU: one
 * promise chain (`then`, not `async` layers), no `await` for a phone that needs no lookup, events built
 * only when listened to.
 */
import { hashCode } from '../code.js';
import { isSmsOtpError, SmsOtpError } from '../errors.js';
import { maskPhone } from '../phone.js';
import { constantTimeEqual } from '../stores/memory-store.js';
import type { CodeProvider } from '../vendors/types.js';
import type { EngineContext } from './context.js';
import type { ConversionBuffer } from './conversions.js';
import { verifyRefused } from './refusals.js';
import { reportError } from './reports.js';
import type { Tokens } from './tokens.js';
import type { VerifyInput, VerifyResult } from './types.js';
import type { Addressee, addresseeResolver } from './user-ids.js';

const CODE_FORMAT = /^[0-9]{1,20}$/;
const WHITESPACE = /\s/;

/** The code a client typed, spaces removed; `INVALID_REQUEST` unless it is 1 to 20 digits. */
function codeOf(value: unknown): string {
  let code = typeof value === 'string' ? value : '';
  if (WHITESPACE.test(code)) code = code.replace(/\s+/g, '');
  if (!CODE_FORMAT.test(code)) {
    throw new SmsOtpError('INVALID_REQUEST', {
      issues: [{ path: 'code', message: 'must be a string of digits' }],
    });
  }
  return code;
}

export function verifier(
  ctx: EngineContext,
  addresseeOf: ReturnType<typeof addresseeResolver>,
  tokens: Tokens,
  conversions: ConversionBuffer,
): (input: VerifyInput) => Promise<VerifyResult> {
  const { options, store, vendor, keys, events, planner, attemptLimits, now, withinStoreTimeout } = ctx;

  function verify(input: VerifyInput): Promise<VerifyResult> {
    let purpose: string | undefined;
    try {
      purpose = ctx.purposeOf(input.purpose);
      const code = codeOf(input.code);
      if (options.requireRequestId && typeof input.requestId !== 'string') {
        throw new SmsOtpError('INVALID_REQUEST', {
          issues: [{ path: 'requestId', message: 'requestId is required' }],
        });
      }
      const binding = options.requireRequestId ? (input.requestId as string) : '';
      const addressee = addresseeOf(input);
      if (addressee instanceof Promise) {
        const checked = purpose;
        return addressee.then(
          (resolved) => verifyFor(resolved, checked, code, binding),
          (error: unknown) => {
            throw reportError(events, 'verify', error, undefined, checked);
          },
        );
      }
      return verifyFor(addressee, purpose, code, binding);
    } catch (error) {
      return Promise.reject(reportError(events, 'verify', error, undefined, purpose));
    }
  }

  /** Checks the code of a known addressee, then reports (events, conversions) what came of it. */
  function verifyFor({ key, phone }: Addressee, purpose: string, code: string, binding: string) {
    return checkCode(key, purpose, code, binding).then(
      (result) => {
        if (events.has('verified')) events.emit('verified', { phone: maskPhone(key), purpose });
        if (phone) for (const spec of planner.forVerify(phone)) conversions.add(spec);
        return result;
      },
      (error: unknown) => {
        throw reportError(events, 'verify', error, phone?.e164, purpose);
      },
    );
  }

  /** Checks a code against the store, or hands it to the code provider that made it. */
  function checkCode(key: string, purpose: string, code: string, binding: string): Promise<VerifyResult> {
    if (vendor.kind !== 'sender' && ctx.testCode(key) === undefined)
      return checkWithProvider(key, purpose, code, binding);
    // Spelled out rather than spread: this object is built on every verify.
    const input = {
      phone: key,
      purpose,
      failLimit: attemptLimits.failLimit,
      failWindowMs: attemptLimits.failWindowMs,
      maxAttempts: attemptLimits.maxAttempts,
      now: now(),
      candidate: hashCode(keys.code, purpose, key, code, binding),
    };
    return withinStoreTimeout(() => store.verify(input)).then((result) => {
      if (result.status !== 'ok') throw verifyRefused(result);
      return tokens.issue(key, purpose);
    });
  }

  async function checkWithProvider(
    key: string,
    purpose: string,
    code: string,
    binding: string,
  ): Promise<VerifyResult> {
    const record = { phone: key, purpose };
    const reserved = await withinStoreTimeout(() =>
      store.reserve({ ...record, ...attemptLimits, now: now() }),
    );
    if (reserved.status !== 'reserved') throw verifyRefused(reserved);
    // The reservation already counts as a wrong guess: a placeholder (the vendor call still running) or
    // another send's requestId ends here, and the vendor is not asked.
    const bound = `r:${ctx.requestBinding(binding)}`;
    if (!constantTimeEqual(reserved.ref.slice(0, bound.length), bound))
      throw new SmsOtpError('CODE_INVALID', { attemptsLeft: reserved.attemptsLeft });
    const ref = reserved.ref.slice(bound.length);
    let right: boolean;
    try {
      const deadline = Date.now() + options.sendTimeout;
      right = await ctx.withinSendTimeout(() =>
        (vendor as CodeProvider).check({ ...record, code, ref, deadline }),
      );
    } catch (error) {
      if (isSmsOtpError(error) && error.code === 'CODE_INVALID') right = false;
      else throw error;
    }
    if (!right) throw new SmsOtpError('CODE_INVALID', { attemptsLeft: reserved.attemptsLeft });
    const settled = await withinStoreTimeout(() =>
      store.settle({ ...record, now: now(), ref: reserved.ref, ok: true }),
    );
    if (settled.status !== 'ok') throw new SmsOtpError('CODE_EXPIRED');
    return tokens.issue(key, purpose);
  }

  return verify;
}
