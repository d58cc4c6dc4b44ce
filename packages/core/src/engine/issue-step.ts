/**
 * A send's store step: the shared windows and breakers (per IP, country, budget; conversion breakers) and
 * the phone's record (cooldown, hour and day windows, lock, captcha), in one call and one round trip on a
 * standalone Redis. The conversions verifies counted ride along.
 */
import type { NormalizedPhone } from '../phone.js';
import type { AdmitIssueResult, IssueResult } from '../stores/types.js';
import type { EngineContext } from './context.js';
import type { ConversionBuffer } from './conversions.js';
import { admitRefused, issueRefused } from './refusals.js';
import { reportTransitions } from './reports.js';

export interface IssueRequest {
  /** The addressee's key (E.164, or an unknown user id's stand-in key). */
  key: string;
  purpose: string;
  /** The number, `undefined` for an unknown user id. */
  phone: NormalizedPhone | undefined;
  ip: string | undefined;
  captchaSolved: boolean;
  /** The engine's time of this send. */
  at: number;
  /** What the store keeps for this code (its hash, or a marker: `x:` stand-in, `p:` provider placeholder). */
  storedCode: string;
  /** What binds the code to this send (`EngineContext.requestBinding`), `''` when codes are not bound. */
  binding: string;
  /** No other send stores the same `storedCode` (false for the fixed codes of test numbers). */
  distinct: boolean;
}

export interface Issued {
  /** Opaque snapshot of what the send replaced, for `rollback`. */
  undo: string;
  /** The cooldown this send started. */
  cooldownMs: number;
  /** Takes back the shared windows' counts (never rejects). */
  release: () => Promise<unknown> | undefined;
}

export function issueStep(
  ctx: EngineContext,
  conversions: ConversionBuffer,
): (request: IssueRequest) => Promise<Issued> {
  const { options, store, events, planner, issueLimits, now, withinStoreTimeout } = ctx;
  const ttlMs = options.ttl * 1000;
  const cooldownsMs = (
    Array.isArray(options.resendCooldown) ? options.resendCooldown : [options.resendCooldown]
  ).map((seconds) => seconds * 1000);
  const captchaAfter = options.captcha.policy === 'adaptive' ? options.captcha.afterSendsPerPhone : undefined;

  return async function issue(request: IssueRequest): Promise<Issued> {
    const { key, purpose, captchaSolved, at, storedCode } = request;
    const admission = planner.forSend(request.phone, request.ip);
    const counted = admission.buckets.length + admission.breakers.length > 0;
    const release = () =>
      counted ? withinStoreTimeout(() => store.release(admission)).catch(() => {}) : undefined;
    // Spelled out rather than spread: this object is built on every send.
    const issueInput = {
      phone: key,
      purpose,
      hourLimit: issueLimits.hourLimit,
      dayLimit: issueLimits.dayLimit,
      failLimit: issueLimits.failLimit,
      hardFailLimit: issueLimits.hardFailLimit,
      failWindowMs: issueLimits.failWindowMs,
      now: at,
      secret: storedCode,
      binding: request.binding,
      ttlMs,
      cooldownsMs,
      captchaPastLimits: options.captchaPastSendLimits,
      captchaSolved,
      captchaAfter,
      distinctSecret: request.distinct,
    };
    const undoLate = (late: IssueResult | undefined) =>
      late?.ok && store.rollback({ phone: key, purpose, now: now(), secret: storedCode, undo: late.undo });

    let issued: IssueResult;
    if (counted) {
      const carried = conversions.take();
      let result: AdmitIssueResult;
      try {
        result = await withinStoreTimeout(
          () =>
            store.admitAndIssue({ now: at, ...admission, captchaSolved, conversions: carried }, issueInput),
          async (late) => {
            if (!late.issue?.ok) return;
            await undoLate(late.issue);
            await store.release(admission);
          },
        );
      } catch (error) {
        conversions.restore(carried);
        throw error;
      }
      reportTransitions(events, result.admit.transitions);
      if (!result.admit.ok) throw admitRefused(result.admit, admission);
      issued = result.issue!;
    } else {
      issued = await withinStoreTimeout(() => store.issue(issueInput), undoLate);
    }
    if (!issued.ok) throw issueRefused(issued, issueLimits);
    return { undo: issued.undo, cooldownMs: issued.cooldownMs, release };
  };
}
