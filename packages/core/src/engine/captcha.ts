/**
 * Captchas on the send path: the built-in image captcha (made by `createCaptcha`, answered once) and the
 * check of a client's answer by whichever verifier the options name.
 */
import { captchaPngDataUri, captchaText, renderCaptchaPng } from '../captcha/image.js';
import { randomId } from '../code.js';
import { SmsOtpError, tooMany } from '../errors.js';
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

/** What a captcha refused for overload tells the client to wait. */
const RENDER_RETRY_MS = 1000;

/**
 * The process's built-in captcha renders. Rendering is synchronous CPU work (~2 ms, tens under load), so
 * renders run one per turn of the event loop (`setImmediate`), letting every other request's I/O in between,
 * and at most `maxPending` may wait (in-flight captcha requests, counted from their start): a flood of
 * captcha requests beyond that is `RATE_LIMITED` at once instead of queueing up CPU work that would delay
 * real users' sends and verifies by seconds. Shared by every engine of the process.
 */
class RenderQueue {
  private pending = 0;
  private readonly jobs: (() => void)[] = [];
  private scheduled = false;

  /** Takes a place, unless `max` are taken. */
  reserve(max: number): boolean {
    if (this.pending >= max) return false;
    this.pending += 1;
    return true;
  }

  release(): void {
    this.pending -= 1;
  }

  /** Renders `text` on a later turn of the event loop, after those queued before it. */
  render(text: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.jobs.push(() => {
        try {
          resolve(renderCaptchaPng(text));
        } catch (error) {
          reject(error);
        }
      });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.jobs.shift()?.();
      if (this.jobs.length > 0) this.schedule();
    });
  }
}

const renders = new RenderQueue();

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
    // Overload: past `maxPending` renders waiting in this process, refused before any store call.
    if (!renders.reserve(policy.maxPending)) {
      // Answered after the wait it asks for, not at once: a flood whose connections each wait for their answer
      // (as load tools and most scripts do) would otherwise come straight back, and its cheap refusals would
      // take the event loop from real users' requests (BENCHMARKS.md, "Overload").
      await new Promise((resolve) => setTimeout(resolve, RENDER_RETRY_MS));
      throw tooMany('RATE_LIMITED', RENDER_RETRY_MS, { scope: 'captcha', limit: policy.maxPending });
    }
    try {
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
      return { captchaKey, image: captchaPngDataUri(await renders.render(text)), expiresIn: policy.ttl };
    } finally {
      renders.release();
    }
  }

  return { solve, create };
}
