import { captchas } from './engine/captcha.js';
import { createContext } from './engine/context.js';
import { ConversionBuffer } from './engine/conversions.js';
import { dispatcher } from './engine/dispatch.js';
import { issueStep } from './engine/issue-step.js';
import { sender } from './engine/send.js';
import { tokens } from './engine/tokens.js';
import type { SmsOtp } from './engine/types.js';
import { addresseeResolver, DeliveryTime } from './engine/user-ids.js';
import { verifier } from './engine/verify.js';
import { attachEvents } from './events.js';
import { parseOptions, type SmsOtpOptions } from './options.js';
import { MemoryStore } from './stores/memory-store.js';

export type {
  Captcha,
  CheckTokenOptions,
  Recipient,
  SendInput,
  SendResult,
  SmsOtp,
  VerifyInput,
  VerifyResult,
} from './engine/types.js';

/**
 * Creates the engine. Options are checked once, here: a bad one throws `SmsOtpConfigError` naming it.
 *
 * The engine's parts live in `engine/`, one concern a file: `context.ts` (what they share: options, store,
 * vendor, keys, clock, events, time limits), `send.ts` over `issue-step.ts` (the store step) and
 * `dispatch.ts` (the vendor step), `verify.ts`, `tokens.ts`, `captcha.ts`, `user-ids.ts` (recipients and
 * unknown users' stand-ins), `refusals.ts` (store and vendor answers → client errors), `reports.ts`
 * (events of refusals and breakers) and `conversions.ts` (verifies waiting to be counted in breakers).
 *
 * @example
 * const otp = createSmsOtp({
 *   secret: process.env.SMS_OTP_SECRET,
 *   store: new RedisStore({ client: new Redis(process.env.REDIS_URL) }),
 *   sender: consoleSender(),
 *   purposes: ['login', 'reset-password'],
 *   defaultCountry: 'CN',
 * });
 * const { requestId } = await otp.send({ phone: '13800138000', purpose: 'login', ip: req.ip });
 * const { token } = await otp.verify({ phone: '13800138000', purpose: 'login', code: '123456' });
 */
export function createSmsOtp(input: SmsOtpOptions = {}): SmsOtp {
  const options = parseOptions(input, process.env.NODE_ENV, (store) => store instanceof MemoryStore);
  const ctx = createContext(options);
  const { store, events, now, withinStoreTimeout } = ctx;
  const conversions = new ConversionBuffer((list) =>
    withinStoreTimeout(() => store.convert({ now: now(), conversions: list })),
  );
  const addresseeOf = addresseeResolver(ctx);
  const captcha = captchas(ctx);
  const token = tokens(ctx);
  const deliveryTime = new DeliveryTime();
  const send = sender(ctx, {
    addresseeOf,
    captchas: captcha,
    issue: issueStep(ctx, conversions),
    dispatch: dispatcher(ctx, deliveryTime),
    standIn: () => deliveryTime.standIn(),
  });

  return attachEvents(events, {
    options: Object.freeze({ ...options, secret: options.secret ? '[redacted]' : undefined }),
    send,
    verify: verifier(ctx, addresseeOf, token, conversions, captcha),
    checkToken: token.check,
    createCaptcha: captcha.create,
    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
    async close() {
      await conversions.flush();
      conversions.stop();
      if (ctx.ownStore) await store.close?.();
    },
  });
}
