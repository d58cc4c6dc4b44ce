/**
 * Send: check the request, resolve the addressee, solve its captcha, make the code, then the store step
 * (`issue-step.ts`) and the vendor step (`dispatch.ts`).
 */
import { generateCode, hashCode, randomId } from '../code.js';
import { isSmsOtpError, SmsOtpError } from '../errors.js';
import { maskPhone, type NormalizedPhone } from '../phone.js';
import type { Channel } from '../vendors/types.js';
import type { Captchas } from './captcha.js';
import type { EngineContext } from './context.js';
import type { dispatcher } from './dispatch.js';
import type { issueStep } from './issue-step.js';
import { reportError } from './reports.js';
import type { SendInput, SendResult } from './types.js';
import type { addresseeResolver } from './user-ids.js';

/**
 * Refusals that concern the addressee alone (its cooldown, windows, failures and captcha; its country's cap
 * or breaker), not the client (its IP, the captcha policy, the global budget): for a send by user id, these
 * answer as a sent code.
 */
function answersAsSent(error: unknown): boolean {
  if (!isSmsOtpError(error)) return false;
  const scope = error.details.scope;
  switch (error.code) {
    case 'RESEND_TOO_SOON':
    case 'TOO_MANY_ATTEMPTS':
      return true;
    case 'RATE_LIMITED':
      return scope === 'phone' || scope === 'country' || scope === 'breaker';
    case 'CAPTCHA_REQUIRED':
      // Not the phone's own captcha (past its failure ceiling or a full send window): answered as sent, a real
      // user signing in by user id could never solve it and would wait out the window, which decision 2 rules
      // out. It tells a client who already knows the number that the user has it (see the README).
      return scope === 'breaker';
    default:
      return false;
  }
}

export interface SendSteps {
  addresseeOf: ReturnType<typeof addresseeResolver>;
  captchas: Captchas;
  issue: ReturnType<typeof issueStep>;
  dispatch: ReturnType<typeof dispatcher>;
  /** Waits as long as a delivery takes (`DeliveryTime.standIn`), for an answer that sends nothing. */
  standIn: () => Promise<void>;
}

export function sender(ctx: EngineContext, steps: SendSteps): (input: SendInput) => Promise<SendResult> {
  const { options, vendor, keys, events, channels, now } = ctx;
  const { addresseeOf, captchas, issue, dispatch, standIn } = steps;
  const firstCooldown = Array.isArray(options.resendCooldown)
    ? options.resendCooldown[0]!
    : options.resendCooldown;

  async function send(input: SendInput): Promise<SendResult> {
    let phoneForEvents: string | undefined;
    let purpose: string | undefined;
    try {
      purpose = ctx.purposeOf(input.purpose);
      const channel = input.channel ?? 'sms';
      if (channel !== 'sms' && channel !== 'voice') {
        throw new SmsOtpError('INVALID_REQUEST', {
          issues: [{ path: 'channel', message: 'must be "sms" or "voice"' }],
        });
      }
      if (!channels.has(channel)) {
        throw new SmsOtpError('INVALID_REQUEST', {
          issues: [{ path: 'channel', message: `${channel} is not supported by ${vendor.name}` }],
        });
      }
      const addressee = addresseeOf(input, channel);
      const { key, phone, refused } = addressee instanceof Promise ? await addressee : addressee;
      // A known user's number the rules refused: reported to the host, answered as an unknown user's.
      if (refused) reportError(events, 'send', refused, undefined, purpose);
      phoneForEvents = phone?.e164;
      const captchaSolved = input.captcha === undefined ? false : await captchas.solve(input);
      if (options.captcha.policy === 'always' && !captchaSolved)
        throw new SmsOtpError('CAPTCHA_REQUIRED', { scope: 'policy' });
      const byUserId = input.phone === undefined && input.userId !== undefined && !!options.resolvePhone;
      try {
        return await deliver(input, channel, purpose, key, phone, captchaSolved);
      } catch (error) {
        if (!(byUserId && answersAsSent(error))) throw error;
        // A limit of the addressee (a known user's number: its cooldown and windows, its country's cap, a
        // breaker; an unknown one's stand-in: its cooldown and windows) refused the send: answered as a sent
        // code, after as long as a delivery takes, so that neither the answer nor its timing tells a known
        // user from an unknown one, or that the user was active (decision 8). The store counted nothing.
        reportError(events, 'send', error, phone?.e164, purpose);
        await standIn();
        return { expiresIn: options.ttl, resendIn: firstCooldown, requestId: randomId() };
      }
    } catch (error) {
      throw reportError(events, 'send', error, phoneForEvents, purpose);
    }
  }

  async function deliver(
    input: SendInput,
    channel: Channel,
    purpose: string,
    key: string,
    phone: NormalizedPhone | undefined,
    captchaSolved: boolean,
  ): Promise<SendResult> {
    const requestId = randomId();
    const at = now();

    const fixed = ctx.testCode(phone?.e164);
    const makesCode = vendor.kind === 'sender' || fixed !== undefined;
    const code = fixed ?? (makesCode ? generateCode(options.codeLength) : '');
    const bound = options.requireRequestId ? requestId : '';
    const binding = ctx.requestBinding(bound);
    const storedCode = !phone
      ? `x:${requestId}`
      : makesCode
        ? hashCode(keys.code, purpose, key, code, bound)
        : `p:${requestId}`;
    const test = fixed !== undefined;
    const ip = input.ip;
    const issued = await issue({
      key,
      purpose,
      phone,
      ip,
      captchaSolved,
      at,
      storedCode,
      binding,
      distinct: !test,
    });
    const delivery = await dispatch({
      input,
      channel,
      purpose,
      key,
      phone,
      code,
      test,
      requestId,
      storedCode,
      issued,
    });

    const result: SendResult = { expiresIn: options.ttl, resendIn: issued.cooldownMs / 1000, requestId };
    if (options.exposeCode && phone && code) result.devCode = code;
    if (phone && events.has('sent')) {
      events.emit('sent', {
        phone: maskPhone(phone.e164),
        purpose,
        channel,
        vendor: delivery.vendor,
        requestId,
        ...(delivery.messageId ? { messageId: delivery.messageId } : {}),
        ...(phone.country ? { country: phone.country } : {}),
        test,
      });
    }
    return result;
  }

  return send;
}
