/**
 * Verify: a code a client typed against the store's hash of it (one store round trip), or against the code
 * provider that made it. Every wrong guess of an attack runs this path, so it is written for CPU: one
 * promise chain (`then`, not `async` layers), no `await` for a phone that needs no lookup, events built
 * only when listened to.
 */
import { hashCode } from '../code.js';
import { isSmsOtpError, SmsOtpError } from '../errors.js';
import { maskPhone } from '../phone.js';
import type { Bucket, StoreVerifyInput } from '../stores/types.js';
import type { CodeProvider } from '../vendors/types.js';
import type { Captchas } from './captcha.js';
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
  captchas: Captchas,
): (input: VerifyInput) => Promise<VerifyResult> {
  const { options, store, vendor, keys, events, planner, attemptLimits, now, withinStoreTimeout } = ctx;

  /** What a verify asks of the store beyond the code: its send's binding, a solved captcha, the IP window. */
  interface Check {
    /** The requestId presented (`''` when codes are not bound). */
    bound: string;
    captchaSolved: boolean;
    failWindow: Bucket | undefined;
  }

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
      const bound = options.requireRequestId ? (input.requestId as string) : '';
      const failWindow = planner.verifyWindow(input.ip);
      const addressee = addresseeOf(input);
      // A captcha (asked for past the phone's failure ceiling) costs a store round trip: only when sent.
      if (addressee instanceof Promise || input.captcha !== undefined) {
        const checked = purpose;
        return Promise.all([addressee, captchas.solve(input, 'verify')]).then(
          ([resolved, captchaSolved]) =>
            verifyFor(resolved, checked, code, { bound, captchaSolved, failWindow }),
          (error: unknown) => {
            throw reportError(events, 'verify', error, undefined, checked);
          },
        );
      }
      return verifyFor(addressee, purpose, code, { bound, captchaSolved: false, failWindow });
    } catch (error) {
      return Promise.reject(reportError(events, 'verify', error, undefined, purpose));
    }
  }

  /** Checks the code of a known addressee, then reports (events, conversions) what came of it. */
  function verifyFor({ key, phone }: Addressee, purpose: string, code: string, check: Check) {
    return checkCode(key, purpose, code, check).then(
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
  function checkCode(key: string, purpose: string, code: string, check: Check): Promise<VerifyResult> {
    if (vendor.kind !== 'sender' && ctx.testCode(key) === undefined)
      return checkWithProvider(key, purpose, code, check);
    const token = tokens.record();
    // Spelled out rather than spread: this object is built on every verify.
    const input: StoreVerifyInput = {
      phone: key,
      purpose,
      failLimit: attemptLimits.failLimit,
      hardFailLimit: attemptLimits.hardFailLimit,
      failWindowMs: attemptLimits.failWindowMs,
      maxAttempts: attemptLimits.maxAttempts,
      now: now(),
      candidate: hashCode(keys.code, purpose, key, code, check.bound),
      binding: ctx.requestBinding(check.bound),
      captchaSolved: check.captchaSolved,
      token,
    };
    if (check.failWindow) input.failWindow = check.failWindow;
    return withinStoreTimeout(() => store.verify(input)).then((result) => {
      if (result.status !== 'ok') throw verifyRefused(result, attemptLimits, check.failWindow);
      return tokens.issue(key, purpose, token);
    });
  }

  async function checkWithProvider(
    key: string,
    purpose: string,
    code: string,
    check: Check,
  ): Promise<VerifyResult> {
    const record = { phone: key, purpose };
    const window = check.failWindow ? { failWindow: check.failWindow } : {};
    const reserved = await withinStoreTimeout(() =>
      store.reserve({
        ...record,
        ...attemptLimits,
        now: now(),
        binding: ctx.requestBinding(check.bound),
        captchaSolved: check.captchaSolved,
        ...window,
      }),
    );
    if (reserved.status !== 'reserved') throw verifyRefused(reserved, attemptLimits, check.failWindow);
    const token = tokens.record();
    // The reservation already counts as a wrong guess: a placeholder (the vendor call still running) ends
    // here, and the vendor is not asked (another send's requestId never got this far: the store refused it).
    if (!reserved.ref.startsWith('r:')) {
      await withinStoreTimeout(() =>
        store.settle({ ...record, now: now(), ref: reserved.ref, ok: false, token, ...window }),
      );
      throw new SmsOtpError('CODE_INVALID', { attemptsLeft: reserved.attemptsLeft });
    }
    const ref = reserved.ref.slice(2);
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
    const settled = await withinStoreTimeout(() =>
      store.settle({ ...record, now: now(), ref: reserved.ref, ok: right, token, ...window }),
    );
    if (!right) throw new SmsOtpError('CODE_INVALID', { attemptsLeft: reserved.attemptsLeft });
    if (settled.status !== 'ok') throw new SmsOtpError('CODE_EXPIRED');
    return tokens.issue(key, purpose, token);
  }

  return verify;
}
