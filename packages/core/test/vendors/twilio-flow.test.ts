import { createSmsOtp, type SmsOtpOptions, twilioSender, twilioVerify } from '@sms-otp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from '../support/outcomes.js';
import { memoryKit, redisKit } from '../support/store-kits.js';
import { startTwilioFake, TWILIO, TWILIO_FROM, TWILIO_SERVICE_SID, type TwilioFake } from './fakes/twilio.js';

let seq = 0;
const nextPhone = () => `+1415${String(2_000_000 + (process.pid % 1000) * 1000 + ++seq).slice(-7)}`;

describe.each([memoryKit, redisKit].map((make) => [make().name, make] as const))(
  'Twilio adapters through the engine on %s',
  (_name, makeKit) => {
    const kit = makeKit();
    let fake: TwilioFake;
    beforeAll(async () => {
      await kit.setup();
      fake = await startTwilioFake();
    }, 60_000);
    afterAll(async () => {
      expect(fake.mismatches).toEqual([]);
      await fake.close();
      await kit.teardown();
    });

    const engine = (overrides: Partial<SmsOtpOptions> = {}) =>
      createSmsOtp({
        secret: 'twilio-flow-secret-twilio-flow-secret-!!-0123456789ABCDEF',
        store: kit.instance(),
        breaker: false,
        ...overrides,
      });
    const wrongOf = (code: string) => (code === '000000' ? '111111' : '000000');

    it('twilioSender: send, wrong code, right code', async () => {
      const otp = engine({ sender: twilioSender({ ...TWILIO, from: TWILIO_FROM, baseUrl: fake.url }) });
      const phone = nextPhone();
      const { requestId } = await otp.send({ phone });
      const body = fake.messages.find((m) => m.To === phone)!.Body!;
      const code = /\d{6}/.exec(body)![0];
      expect(await codeOf(otp.verify({ phone, code: wrongOf(code), requestId }))).toBe('CODE_INVALID');
      const { phone: verified } = await otp.verify({ phone, code, requestId });
      expect(verified).toBe(phone);
      await otp.close();
    });

    it('twilioVerify as provider: send, wrong code, right code; the code is single use', async () => {
      const otp = engine({
        sender: twilioVerify({ ...TWILIO, serviceSid: TWILIO_SERVICE_SID, baseUrl: fake.url }),
      });
      const phone = nextPhone();
      const { requestId } = await otp.send({ phone });
      const code = fake.codeFor(phone)!;
      expect(await codeOf(otp.verify({ phone, code: wrongOf(code), requestId }))).toBe('CODE_INVALID');
      expect(await codeOf(otp.verify({ phone, code, requestId }))).toBe('OK');
      expect(await codeOf(otp.verify({ phone, code, requestId }))).not.toBe('OK');
      await otp.close();
    });

    it("twilioVerify: the engine's cooldown and attempts hold before Twilio is asked", async () => {
      const otp = engine({
        sender: twilioVerify({ ...TWILIO, serviceSid: TWILIO_SERVICE_SID, baseUrl: fake.url }),
        maxAttempts: 3,
        resendCooldown: 60,
      });
      const phone = nextPhone();
      const { requestId } = await otp.send({ phone });
      const starts = () => fake.requests.filter((r) => r.path.endsWith('/Verifications')).length;
      const checks = () => fake.requests.filter((r) => r.path.endsWith('/VerificationCheck')).length;
      const startsBefore = starts();
      expect(await codeOf(otp.send({ phone }))).toBe('RESEND_TOO_SOON');
      expect(starts()).toBe(startsBefore);

      const code = fake.codeFor(phone)!;
      const checksBefore = checks();
      for (let i = 0; i < 3; i++)
        expect(await codeOf(otp.verify({ phone, code: wrongOf(code), requestId }))).toBe('CODE_INVALID');
      // Twilio would allow five checks: the engine's maxAttempts (3) stops the fourth, right code or not.
      expect(await codeOf(otp.verify({ phone, code, requestId }))).toBe('TOO_MANY_ATTEMPTS');
      expect(checks() - checksBefore).toBe(3);
      await otp.close();
    });
  },
);
