/**
 * Send: check the request, resolve the addressee, solve its captcha, make the code, then the store step
 * (`issue-step.ts`) and the vendor step (`dispatch.ts`).
 */
import { generateCode, hashCode, randomId } from '../code.js';
import { SmsOtpError } from '../errors.js';
import { maskPhone, type NormalizedPhone } from '../phone.js';
import type { Channel } from '../vendors/types.js';
import type { Captchas } from './captcha.js';
import type { EngineContext } from './context.js';
import type { dispatcher } from './dispatch.js';
import type { issueStep } from './issue-step.js';
import { reportError } from './reports.js';
import type { SendInput, SendResult } from './types.js';
import type { addresseeResolver } from './user-ids.js';

export interface SendSteps {
  addresseeOf: ReturnType<typeof addresseeResolver>;
  captchas: Captchas;
  issue: ReturnType<typeof issueStep>;
  dispatch: ReturnType<typeof dispatcher>;
}

export function sender(ctx: EngineContext, steps: SendSteps): (input: SendInput) => Promise<SendResult> {
  const { options, vendor, keys, events, channels, now } = ctx;
  const { addresseeOf, captchas, issue, dispatch } = steps;

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
      const addressee = addresseeOf(input);
      const { key, phone } = addressee instanceof Promise ? await addressee : addressee;
      phoneForEvents = phone?.e164;
      return await deliver(input, channel, purpose, key, phone);
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
  ): Promise<SendResult> {
    const requestId = randomId();
    const captchaSolved = input.captcha === undefined ? false : await captchas.solve(input);
    if (options.captcha.policy === 'always' && !captchaSolved)
      throw new SmsOtpError('CAPTCHA_REQUIRED', { scope: 'policy' });
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
