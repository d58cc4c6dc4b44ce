import { createSmsOtp, deepcloudCodes, jpushCodes, minappCodes, type SmsOtpOptions } from '@sms-otp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, errorOf } from './support/outcomes.js';
import { ALL_KITS } from './support/store-kits.js';
import { DEEPCLOUD_TOKEN, type DeepcloudFake, startDeepcloudFake } from './vendors/fakes/deepcloud.js';
import { JPUSH, type JpushFake, startJpushFake } from './vendors/fakes/jpush.js';
import { MINAPP_TOKEN, type MinappFake, startMinappFake } from './vendors/fakes/minapp.js';

// The fake JPush answers every SMS code start with code 352353 and every voice code with 7788.
const SMS_CODE = '352353';
let seq = 0;
const nextPhone = () => `+86137${String(20_000_000 + (process.pid % 1000) * 1000 + ++seq).slice(-8)}`;

describe.each(ALL_KITS.map((make) => [make().name, make] as const))(
  'vendor-checked codes through the engine on %s',
  (_name, makeKit) => {
    const kit = makeKit();
    let jpush: JpushFake;
    let deepcloud: DeepcloudFake;
    let minapp: MinappFake;
    beforeAll(async () => {
      await kit.setup();
      jpush = await startJpushFake();
      deepcloud = await startDeepcloudFake();
      minapp = await startMinappFake();
    }, 60_000);
    afterAll(async () => {
      await jpush.close();
      await deepcloud.close();
      await minapp.close();
      await kit.teardown();
    });

    const engine = (overrides: Partial<SmsOtpOptions> = {}) =>
      createSmsOtp({
        secret: 'provider-flow-secret-provider-flow-secret-0123456789ABCDEF',
        store: kit.instance(),
        sender: jpushCodes({ ...JPUSH, templateId: 1, baseUrl: jpush.url }),
        breaker: false,
        ...overrides,
      });
    const validChecks = () => jpush.requests.filter((r) => r.path.endsWith('/valid')).length;

    it('50 parallel right verifies through two app instances: exactly one succeeds', async () => {
      const a = engine();
      const b = engine();
      const phone = nextPhone();
      const { requestId } = await a.send({ phone });
      const checksBefore = validChecks();
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          codeOf((i % 2 ? a : b).verify({ phone, code: SMS_CODE, requestId })),
        ),
      );
      expect(results.filter((r) => r === 'OK')).toHaveLength(1);
      // Each vendor check in flight holds one of the code's maxAttempts reservations: requests beyond them
      // are refused without asking JPush (TOO_MANY_ATTEMPTS); those that were reserved find the code used.
      expect(
        results.filter((r) => r !== 'OK').every((r) => r === 'CODE_EXPIRED' || r === 'TOO_MANY_ATTEMPTS'),
      ).toBe(true);
      expect(validChecks() - checksBefore).toBeLessThanOrEqual(5);
      expect(jpush.mismatches).toEqual([]);
    });

    it('200 parallel wrong guesses: JPush is asked at most maxAttempts times, then the right code is dead too', async () => {
      const a = engine();
      const b = engine();
      const phone = nextPhone();
      const { requestId } = await a.send({ phone });
      const before = validChecks();
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          codeOf((i % 2 ? a : b).verify({ phone, code: '000000', requestId })),
        ),
      );
      expect(results.filter((r) => r === 'CODE_INVALID')).toHaveLength(5);
      expect(results.filter((r) => r === 'TOO_MANY_ATTEMPTS')).toHaveLength(195);
      expect(validChecks() - before).toBe(5);
      expect(await codeOf(a.verify({ phone, code: SMS_CODE, requestId }))).toBe('TOO_MANY_ATTEMPTS');
      expect(jpush.mismatches).toEqual([]);
    });

    it('voice codes go to /v1/voice_codes and verify', async () => {
      const otp = engine();
      const phone = nextPhone();
      const { requestId } = await otp.send({ phone, channel: 'voice' });
      expect(jpush.requests.at(-1)!.path).toBe('/v1/voice_codes');
      expect(await codeOf(otp.verify({ phone, code: '7788', requestId }))).toBe('OK');
    });

    it('a vendor refusal passes through and rolls everything back', async () => {
      const otp = engine();
      const phone = nextPhone();
      jpush.sendError = '50009';
      try {
        expect(await codeOf(otp.send({ phone }))).toBe('RATE_LIMITED');
        jpush.sendError = '50014';
        expect(await codeOf(otp.send({ phone }))).toBe('SEND_FAILED');
      } finally {
        jpush.sendError = undefined;
      }
      const { requestId } = await otp.send({ phone });
      expect(await codeOf(otp.verify({ phone, code: SMS_CODE, requestId }))).toBe('OK');
    });

    it("requireRequestId (the default): only the send's requestId reaches the vendor check, another costs nothing", async () => {
      const otp = engine();
      const phone = nextPhone();
      const { requestId } = await otp.send({ phone });
      const before = validChecks();
      expect(await codeOf(otp.verify({ phone, code: SMS_CODE }))).toBe('INVALID_REQUEST');
      for (let i = 0; i < 6; i++) {
        const other = await errorOf(otp.verify({ phone, code: SMS_CODE, requestId: `${requestId}x` }));
        expect([other.code, other.details.attemptsLeft]).toEqual(['CODE_INVALID', 5]);
      }
      expect(validChecks()).toBe(before);
      // The code still has all its attempts: the first wrong guess of the owner leaves four.
      const wrong = await errorOf(otp.verify({ phone, code: '000000', requestId }));
      expect([wrong.code, wrong.details.attemptsLeft]).toEqual(['CODE_INVALID', 4]);
      expect(await codeOf(otp.verify({ phone, code: SMS_CODE, requestId }))).toBe('OK');
      expect(validChecks()).toBe(before + 2);
    });

    it('requireRequestId: false checks phone and code alone with the vendor', async () => {
      const otp = engine({ requireRequestId: false });
      const phone = nextPhone();
      await otp.send({ phone });
      const before = validChecks();
      const wrong = await errorOf(otp.verify({ phone, code: '000000' }));
      expect([wrong.code, wrong.details.attemptsLeft]).toEqual(['CODE_INVALID', 4]);
      expect(await codeOf(otp.verify({ phone, code: SMS_CODE }))).toBe('OK');
      expect(validChecks()).toBe(before + 2);
    });

    it('MinApp: a code sent by user id verifies by phone, for that same user_id', async () => {
      const phone = nextPhone();
      const otp = engine({
        sender: minappCodes({
          token: MINAPP_TOKEN,
          baseUrl: minapp.url,
          // A different user than the one the host sends for: the verify must not use it.
          resolveUserId: () => 999,
        }),
        resolvePhone: (userId) => (userId === '4242' ? phone : undefined),
      });
      const { requestId } = await otp.send({ userId: '4242' });
      expect(minapp.requests.at(-1)!.json).toMatchObject({ user_id: 4242 });
      expect(await codeOf(otp.verify({ phone, code: '000000', requestId }))).toBe('CODE_INVALID');
      expect(await codeOf(otp.verify({ phone, code: '352353', requestId }))).toBe('OK');
      expect(minapp.requests.at(-1)!.json).toMatchObject({ code: '352353', user_id: 4242 });
      expect(minapp.mismatches).toEqual([]);
    });

    it("DeepCloud checks its own captcha when captcha.verifier is 'vendor'", async () => {
      const otp = engine({
        sender: deepcloudCodes({ accessToken: DEEPCLOUD_TOKEN, baseUrl: `${deepcloud.url}/` }),
        captcha: { policy: 'always', verifier: 'vendor' },
      });
      const phone = '+8618100000001';
      const key = '2ecd1fc5-f7c1-4e25-aa96-24b881ac5bfd';
      expect(await codeOf(otp.send({ phone }))).toBe('CAPTCHA_REQUIRED');
      expect(await codeOf(otp.send({ phone, captchaKey: key, captcha: 'wrong' }))).toMatch(
        /CAPTCHA_INVALID|SEND_FAILED/,
      );
      const { requestId } = await otp.send({ phone, captchaKey: key, captcha: 'cnxdg' });
      expect(deepcloud.requests.at(-1)!.path).toMatch(/\/captcha\/send$/);
      expect(await codeOf(otp.verify({ phone, code: '267540', requestId }))).toBe('OK');
      expect(deepcloud.mismatches).toEqual([]);
    });
  },
);
