/**
 * Captchas on the send path: the built-in image captcha (made by `createCaptcha`, answered once) and the
 * check of a client's answer by whichever verifier the options name.
 */
import { captchaPngDataUri, captchaText, renderCaptchaPng } from '../captcha/image.js';
import { randomId } from '../code.js';
import { SmsOtpError } from '../errors.js';
import { hmacSha256 } from '../hmac.js';
import { constantTimeEqual } from '../stores/memory-store.js';
import type { EngineContext } from './context.js';
import { admitRefused } from './refusals.js';
import type { Captcha, SendInput } from './types.js';

export interface Captchas {
  /**
   * Checks the captcha a client sent; `false` when it sent none. A wrong answer is `CAPTCHA_INVALID`. On a
   * verify (`for: 'verify'`) a `'vendor'` verifier's place is taken by the built-in captcha: no vendor sees
   * a verify's captcha.
   */
  solve(input: SendInput, step?: 'send' | 'verify'): Promise<boolean>;
  /** Makes a built-in image captcha, counted in the per-IP captcha window. */
  create(input?: { ip?: string }): Promise<Captcha>;
}

export function captchas(ctx: EngineContext): Captchas {
  const { store, keys, planner, now, withinStoreTimeout } = ctx;
  const policy = ctx.options.captcha;

  /** What the store keeps of a built-in captcha's answer: a MAC of its key and the answer (case-folded). */
  const answerHash = (key: string, answer: string) =>
    hmacSha256(keys.code, `captcha\u0000${key}\u0000${answer.trim().toUpperCase()}`);

  async function solve(input: SendInput, step: 'send' | 'verify' = 'send'): Promise<boolean> {
    if (input.captcha === undefined) return false;
    const verifier = step === 'verify' && policy.verifier === 'vendor' ? 'builtin' : policy.verifier;
    if (verifier === 'vendor') return true;
    if (verifier === 'builtin') {
      if (!input.captchaKey) throw new SmsOtpError('CAPTCHA_INVALID', { reason: 'no_key' });
      const key = input.captchaKey;
      const stored = await withinStoreTimeout(() => store.takeCaptcha({ key, now: now() }));
      const [hash = '', until = '0'] = stored?.split('.') ?? [];
      if (now() >= Number(until) || !constantTimeEqual(hash, answerHash(key, input.captcha))) {
        throw new SmsOtpError('CAPTCHA_INVALID');
      }
      return true;
    }
    const token = input.captcha;
    const ok = await ctx.withinSendTimeout(
      () => verifier.verify({ token, ...(input.ip ? { ip: input.ip } : {}) }),
      { captchaVerifier: verifier.name },
    );
    if (!ok) throw new SmsOtpError('CAPTCHA_INVALID');
    return true;
  }

  async function create(input: { ip?: string } = {}): Promise<Captcha> {
    const admission = planner.forCaptcha(input.ip);
    if (admission.buckets.length > 0) {
      const admitted = await withinStoreTimeout(() =>
        store.admit({ now: now(), ...admission, captchaSolved: false }),
      );
      if (!admitted.ok) throw admitRefused(admitted, admission);
    }
    const captchaKey = randomId();
    const text = captchaText();
    // The deadline travels with the hash, so expiry follows the engine's clock on every store.
    const ttlMs = policy.ttl * 1000;
    const answer = `${answerHash(captchaKey, text)}.${now() + ttlMs}`;
    await withinStoreTimeout(() => store.putCaptcha({ key: captchaKey, answer, ttlMs, now: now() }));
    return { captchaKey, image: captchaPngDataUri(renderCaptchaPng(text)), expiresIn: policy.ttl };
  }

  return { solve, create };
}
