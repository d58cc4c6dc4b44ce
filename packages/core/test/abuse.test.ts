import {
  type CaptchaVerifier,
  createSmsOtp,
  memorySender,
  SmsOtpError,
  type SmsOtpEvents,
  type SmsOtpOptions,
} from '@sms-otp/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf, errorOf } from './support/outcomes.js';
import { ALL_KITS } from './support/store-kits.js';

// The built-in captcha's answer is random; tests read it from here instead of from the image.
const captchaAnswers: string[] = [];
vi.mock('../src/captcha/image.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/captcha/image.js')>();
  return {
    ...original,
    captchaText: (length?: number) => {
      const text = original.captchaText(length);
      captchaAnswers.push(text);
      return text;
    },
  };
});

const SECRET = 'abuse-secret-abuse-secret-abuse-secret-0123456789ABCDEF';
let seq = 0;
/** Fresh numbers per test; `block` picks a prefix of their own (all but the last 4 digits). */
const nextBlock = () => `+86139${String(((process.pid % 900) * 10 + ++seq) % 10_000).padStart(4, '0')}`;

describe.each(ALL_KITS.map((make) => [make().name, make] as const))(
  'abuse defences on %s',
  (_name, makeKit) => {
    const kit = makeKit();
    const clock = { now: Date.UTC(2026, 1, 1) };
    beforeAll(() => kit.setup(), 60_000);
    afterAll(() => kit.teardown());
    const advance = (seconds: number) => {
      clock.now += seconds * 1000;
    };

    function engine(overrides: Partial<SmsOtpOptions> = {}) {
      const sender = memorySender();
      const otp = createSmsOtp({
        secret: SECRET,
        store: kit.instance(),
        sender,
        defaultCountry: 'CN',
        clock: () => clock.now,
        breaker: false,
        ...overrides,
      });
      const events: Array<{ name: keyof SmsOtpEvents; event: unknown }> = [];
      for (const name of ['sent', 'verified', 'failed', 'blocked', 'breaker'] as const) {
        otp.on(name, (event) => events.push({ name, event }));
      }
      return { otp, sender, events };
    }

    describe('captcha', () => {
      it('built-in: required by policy, single use, case-insensitive, expires', async () => {
        const { otp } = engine({ captcha: { policy: 'always', ttl: 30 } });
        const phone = `${nextBlock()}0001`;
        expect((await errorOf(otp.send({ phone }))).code).toBe('CAPTCHA_REQUIRED');

        const first = await otp.createCaptcha();
        expect(first.image).toMatch(/^data:image\/png;base64,/);
        expect(
          (await errorOf(otp.send({ phone, captchaKey: first.captchaKey, captcha: 'WRONG' }))).code,
        ).toBe('CAPTCHA_INVALID');
        // The wrong answer used it up: the right one no longer works.
        const answer = captchaAnswers.at(-1)!;
        expect((await errorOf(otp.send({ phone, captchaKey: first.captchaKey, captcha: answer }))).code).toBe(
          'CAPTCHA_INVALID',
        );

        const second = await otp.createCaptcha();
        await otp.send({
          phone,
          captchaKey: second.captchaKey,
          captcha: captchaAnswers.at(-1)!.toLowerCase(),
        });
        expect(
          (
            await errorOf(
              otp.send({
                phone: `${nextBlock()}0002`,
                captchaKey: second.captchaKey,
                captcha: captchaAnswers.at(-1)!,
              }),
            )
          ).code,
        ).toBe('CAPTCHA_INVALID');

        const third = await otp.createCaptcha();
        advance(31);
        expect(
          (
            await errorOf(
              otp.send({
                phone: `${nextBlock()}0003`,
                captchaKey: third.captchaKey,
                captcha: captchaAnswers.at(-1)!,
              }),
            )
          ).code,
        ).toBe('CAPTCHA_INVALID');
      });

      it('adaptive: after N sends per IP, or per phone, within the hour', async () => {
        const { otp } = engine({
          captcha: { policy: 'adaptive', afterSendsPerIp: 2, afterSendsPerPhone: 1 },
        });
        const block = nextBlock();
        const ip = `198.18.0.${seq}`;
        await otp.send({ phone: `${block}0001`, ip });
        await otp.send({ phone: `${block}0002`, ip });
        const byIp = await errorOf(otp.send({ phone: `${block}0003`, ip }));
        expect([byIp.code, byIp.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'ip']);
        const { captchaKey } = await otp.createCaptcha({ ip });
        await otp.send({ phone: `${block}0003`, ip, captchaKey, captcha: captchaAnswers.at(-1)! });

        advance(61);
        const byPhone = await errorOf(otp.send({ phone: `${block}0001`, ip: `${ip}9` }));
        expect([byPhone.code, byPhone.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'phone']);
        advance(3600);
        await otp.send({ phone: `${block}0001`, ip: `${ip}9` });
      });

      it('a pluggable verifier decides; its outage is SEND_FAILED and counts nothing', async () => {
        let down = false;
        const verifier: CaptchaVerifier = {
          name: 'fake-turnstile',
          async verify({ token }) {
            if (down)
              throw new SmsOtpError('SEND_FAILED', { captchaVerifier: 'fake-turnstile', reason: 'timeout' });
            return token === 'good-token';
          },
        };
        const { otp, sender } = engine({
          captcha: { policy: 'always', verifier },
          sendLimits: { perIpHour: 1 },
        });
        const phone = `${nextBlock()}0001`;
        const ip = `198.18.1.${seq}`;
        expect((await errorOf(otp.send({ phone, ip, captcha: 'bad-token' }))).code).toBe('CAPTCHA_INVALID');
        down = true;
        expect((await errorOf(otp.send({ phone, ip, captcha: 'good-token' }))).code).toBe('SEND_FAILED');
        down = false;
        await otp.send({ phone, ip, captcha: 'good-token' });
        expect(sender.outbox.last(phone)).toBeDefined();
      });
    });

    describe('pumping defence', () => {
      it('blocked countries and per-country daily caps', async () => {
        const { otp } = engine({ blockedCountries: ['KH'], countryDailyLimits: { CN: 2, '*': 1 } });
        expect((await errorOf(otp.send({ phone: '+85512345678' }))).code).toBe('COUNTRY_NOT_ALLOWED');
        const block = nextBlock();
        await otp.send({ phone: `${block}0001` });
        await otp.send({ phone: `${block}0002` });
        const cn = await errorOf(otp.send({ phone: `${block}0003` }));
        expect([cn.code, cn.details.scope, cn.details.limit, cn.details.window]).toEqual([
          'RATE_LIMITED',
          'country',
          2,
          86_400,
        ]);
        await otp.send({ phone: '+12015550123' });
        const us = await errorOf(otp.send({ phone: '+12015550124' }));
        expect([us.code, us.details.scope, us.details.limit]).toEqual(['RATE_LIMITED', 'country', 1]);
        advance(86_400);
        await otp.send({ phone: `${block}0003` });
        advance(86_400);
      });

      it("numbers of no country (+881, +882 …) are region '001': capped by '*', blockable, allowed only by name", async () => {
        // Satellite numbers (+881) are refused as a number type by default; these tests are about '001'.
        const satellite = {
          numberTypes: { sms: ['MOBILE' as const, 'VOIP' as const, 'SATELLITE' as const] },
        };
        const closed = engine(satellite);
        expect(await codeOf(closed.otp.send({ phone: '+8823456789011' }))).toBe('COUNTRY_NOT_ALLOWED');
        const capped = engine({
          ...satellite,
          allowNonGeographic: true,
          countryDailyLimits: { CN: 100, '*': 2 },
        });
        await capped.otp.send({ phone: '+8823456789012' });
        await capped.otp.send({ phone: '+881612345678' });
        const third = await errorOf(capped.otp.send({ phone: '+8823456789013' }));
        expect([third.code, third.details.scope, third.details.limit]).toEqual([
          'RATE_LIMITED',
          'country',
          2,
        ]);
        const blocked = engine({ ...satellite, allowNonGeographic: true, blockedCountries: ['001'] });
        const refused = await errorOf(blocked.otp.send({ phone: '+881612345679' }));
        expect([refused.code, refused.details.country]).toEqual(['COUNTRY_NOT_ALLOWED', '001']);
        expect(await codeOf(blocked.otp.send({ phone: `${nextBlock()}0001` }))).toBe('OK');
        const onlyCn = engine({ ...satellite, allowNonGeographic: true, allowedCountries: ['CN'] });
        expect(await codeOf(onlyCn.otp.send({ phone: '+883510012345' }))).toBe('COUNTRY_NOT_ALLOWED');
        const withNonGeographic = engine({ ...satellite, allowedCountries: ['CN', '001'] });
        expect(await codeOf(withNonGeographic.otp.send({ phone: '+883510012346' }))).toBe('OK');
        advance(86_400);
      });

      it('per-IP windows count an IPv6 subscriber by its /56 (ipv6Subnet), an IPv4-mapped address as IPv4', async () => {
        const { otp } = engine({ sendLimits: { perIpHour: 2 } });
        const net = `2001:db8:${(seq % 0xffff).toString(16)}`;
        await otp.send({ phone: `${nextBlock()}0001`, ip: `${net}:aa00::1` });
        await otp.send({ phone: `${nextBlock()}0001`, ip: `${net}:aaff:1234::9` });
        const third = await errorOf(
          otp.send({ phone: `${nextBlock()}0001`, ip: `${net}:aa42:ffff:ffff:ffff:ffff` }),
        );
        expect([third.code, third.details.scope]).toEqual(['RATE_LIMITED', 'ip']);
        // Another /56 of the same /48 is another subscriber.
        expect(await codeOf(otp.send({ phone: `${nextBlock()}0001`, ip: `${net}:ab00::1` }))).toBe('OK');
        const v4 = `198.18.7.${seq % 250}`;
        await otp.send({ phone: `${nextBlock()}0001`, ip: v4 });
        await otp.send({ phone: `${nextBlock()}0001`, ip: `::ffff:${v4}` });
        expect((await errorOf(otp.send({ phone: `${nextBlock()}0001`, ip: v4 }))).details.scope).toBe('ip');
        const per64 = engine({ sendLimits: { perIpHour: 1 }, ipv6Subnet: 64 });
        await per64.otp.send({ phone: `${nextBlock()}0001`, ip: `${net}:cc00::1` });
        expect(await codeOf(per64.otp.send({ phone: `${nextBlock()}0001`, ip: `${net}:cc01::1` }))).toBe(
          'OK',
        );
        advance(3_600);
      });

      it('the global daily budget', async () => {
        const { otp } = engine({ dailyBudget: 3 });
        const block = nextBlock();
        for (let i = 1; i <= 3; i++) await otp.send({ phone: `${block}000${i}` });
        const budget = await errorOf(otp.send({ phone: '+12015550126' }));
        expect([budget.code, budget.details.scope, budget.details.limit]).toEqual([
          'RATE_LIMITED',
          'global',
          3,
        ]);
        advance(86_400);
        await otp.send({ phone: '+12015550126' });
        advance(86_400);
      });

      it('drill: sequential numbers from rotating IPs with no verifies open the breaker; verifies close it', async () => {
        const { otp, sender, events } = engine({
          breaker: { minVolume: 20, threshold: 0.2, window: 3600, coolOff: 600 },
          sendLimits: { perIpHour: 3 },
        });
        const block = nextBlock();
        // Addresses in 20 different /24s: more than breaker.minSubnets (5).
        for (let i = 0; i < 20; i++) {
          await otp.send({ phone: `${block}${String(i).padStart(4, '0')}`, ip: `100.64.${i}.${seq % 250}` });
        }
        const refused = await errorOf(otp.send({ phone: `${block}0020`, ip: `100.64.200.${seq % 250}` }));
        expect([refused.code, refused.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'breaker']);
        const opened = events.filter((e) => e.name === 'breaker').map((e) => e.event);
        expect(opened).toContainEqual(
          expect.objectContaining({ scope: 'prefix', key: block, state: 'open', sent: 20, verified: 0 }),
        );
        expect(opened).toContainEqual(
          expect.objectContaining({ scope: 'country', key: 'CN', state: 'open' }),
        );
        // Another country is not affected.
        await otp.send({ phone: '+85512345001' });

        // Real users solve the captcha and verify their codes: conversion recovers.
        for (let i = 21; i < 29; i++) {
          const phone = `${block}${String(i).padStart(4, '0')}`;
          const { captchaKey } = await otp.createCaptcha();
          const { requestId } = await otp.send({ phone, captchaKey, captcha: captchaAnswers.at(-1)! });
          await otp.verify({ phone, code: sender.outbox.last(phone)!.code, requestId });
        }
        advance(601);
        await otp.send({ phone: `${block}0030` });
        const closed = events.filter(
          (e) => e.name === 'breaker' && (e.event as { state: string }).state === 'closed',
        );
        expect(closed.map((e) => (e.event as { scope: string }).scope).sort()).toEqual(['country', 'prefix']);
        advance(7200);
      });

      it('with the breaker on, a send is one store call, a verify one; its conversion rides on the next send', async () => {
        const calls: string[] = [];
        const real = kit.instance();
        const counting = new Proxy(real, {
          get: (target, prop) => {
            const value = Reflect.get(target, prop);
            return typeof value === 'function'
              ? (...args: unknown[]) => {
                  calls.push(String(prop));
                  return value.apply(target, args);
                }
              : value;
          },
        });
        const sender = memorySender();
        const otp = createSmsOtp({ secret: SECRET, store: counting, sender, clock: () => clock.now });
        const block = nextBlock();
        const { requestId } = await otp.send({ phone: `${block}0001`, ip: '192.0.2.77' });
        expect(calls).toEqual(['admitAndIssue']);
        calls.length = 0;
        await otp.verify({
          phone: `${block}0001`,
          code: sender.outbox.last(`${block}0001`)!.code,
          requestId,
        });
        expect(calls).toEqual(['verify']);
        calls.length = 0;
        const admit = vi.spyOn(real, 'admitAndIssue');
        await otp.send({ phone: `${block}0002` });
        expect(calls).toEqual(['admitAndIssue']);
        expect(admit.mock.calls[0]![0].conversions!.map((c) => [c.spec.id, c.count])).toEqual([
          ['breaker:country:CN', 1],
          [`breaker:prefix:${block}`, 1],
        ]);
        await otp.close();
        advance(7200);
      });

      it('bursts timed at the ends of the breaker’s half-windows are all counted', async () => {
        const { otp } = engine({
          breaker: { minVolume: 20, threshold: 0.2, window: 3600, coolOff: 600, action: 'block' },
        });
        const block = nextBlock();
        let n = 0;
        let passed = 0;
        const burst = async (count: number) => {
          for (let i = 0; i < count; i++, n++) {
            // Each send from a /24 of its own: the breaker's minSubnets is met from the fifth on.
            const ip = `100.65.${n}.${seq % 250}`;
            if ((await codeOf(otp.send({ phone: `${block}${String(n).padStart(4, '0')}`, ip }))) === 'OK')
              passed++;
          }
        };
        // 19 in the first half-window (one at its start, 18 at its end), 19 more at the end of the second: a
        // previous half weighted down by its age let all 38 through in half an hour, with minVolume 20.
        await burst(1);
        advance(1799);
        await burst(18);
        advance(1800);
        await burst(19);
        expect(passed).toBe(20);
        advance(7200);
      });

      it("with action 'block' an open breaker refuses sends outright", async () => {
        const { otp } = engine({ breaker: { minVolume: 5, threshold: 0.5, coolOff: 60, action: 'block' } });
        const block = nextBlock();
        // From five /24s: breaker.minSubnets (5) is met.
        for (let i = 0; i < 5; i++)
          await otp.send({ phone: `${block}000${i}`, ip: `100.66.${i}.${seq % 250}` });
        const refused = await errorOf(otp.send({ phone: `${block}0009`, ip: `100.66.9.${seq % 250}` }));
        expect([refused.code, refused.details.reason]).toEqual(['RATE_LIMITED', 'breaker']);
        expect(refused.retryAfter).toBe(60);
        advance(7200);
      });

      it('escalating cooldown per phone', async () => {
        const { otp } = engine({ resendCooldown: [60, 120, 300] });
        const phone = `${nextBlock()}0001`;
        expect((await otp.send({ phone })).resendIn).toBe(60);
        advance(61);
        expect((await otp.send({ phone })).resendIn).toBe(120);
        advance(61);
        const early = await errorOf(otp.send({ phone }));
        expect([early.code, early.retryAfter, early.details.window]).toEqual(['RESEND_TOO_SOON', 59, 120]);
        advance(60);
        expect((await otp.send({ phone })).resendIn).toBe(300);
        advance(301);
        expect((await otp.send({ phone })).resendIn).toBe(300);
        advance(3600);
      });

      it('request binding: verify must present the requestId of the send', async () => {
        // The default (requireRequestId: true).
        const { otp, sender } = engine();
        const phone = `${nextBlock()}0001`;
        const { requestId } = await otp.send({ phone });
        const code = sender.outbox.last(phone)!.code;
        expect((await errorOf(otp.verify({ phone, code }))).code).toBe('INVALID_REQUEST');
        // Another requestId, even with the right code: CODE_INVALID with every attempt left, at no cost.
        for (let i = 0; i < 7; i++) {
          const foreign = await errorOf(otp.verify({ phone, code, requestId: 'A'.repeat(22) }));
          expect([foreign.code, foreign.details.attemptsLeft]).toEqual(['CODE_INVALID', 5]);
        }
        await expect(otp.verify({ phone, code, requestId })).resolves.toMatchObject({ phone });
      });
    });

    it('sends by user id answer alike whether or not the user exists, and send nothing for an unknown one', async () => {
      const phone = `${nextBlock()}0001`;
      const { otp, sender } = engine({ resolvePhone: (id) => (id === 'alice' ? phone : null) });
      const known = await otp.send({ userId: 'alice' });
      const unknown = await otp.send({ userId: 'mallory' });
      expect(Object.keys(unknown).sort()).toEqual(Object.keys(known).sort());
      expect([unknown.expiresIn, unknown.resendIn]).toEqual([known.expiresIn, known.resendIn]);
      expect(sender.outbox.all().map((m) => m.phone)).toEqual([phone]);
      // Within the cooldown, both answer as sent (no cooldown shows, nothing is sent); the same wrong-code
      // answer: nothing tells them apart.
      const again = [await otp.send({ userId: 'alice' }), await otp.send({ userId: 'mallory' })];
      expect(again.map(({ requestId: _, ...rest }) => rest)).toEqual([
        { expiresIn: known.expiresIn, resendIn: known.resendIn },
        { expiresIn: known.expiresIn, resendIn: known.resendIn },
      ]);
      expect(sender.outbox.size).toBe(1);
      const code = sender.outbox.last(phone)!.code;
      const wrong = code === '000000' ? '111111' : '000000';
      const wrongKnown = await errorOf(
        otp.verify({ userId: 'alice', code: wrong, requestId: known.requestId }),
      );
      const wrongUnknown = await errorOf(
        otp.verify({ userId: 'mallory', code: wrong, requestId: unknown.requestId }),
      );
      expect([wrongUnknown.code, wrongUnknown.details]).toEqual([wrongKnown.code, wrongKnown.details]);
      expect(wrongKnown.details.attemptsLeft).toBe(4);
      // Nor does another send's requestId.
      const foreignKnown = await errorOf(otp.verify({ userId: 'alice', code, requestId: unknown.requestId }));
      const foreignUnknown = await errorOf(
        otp.verify({ userId: 'mallory', code, requestId: known.requestId }),
      );
      expect([foreignUnknown.code, foreignUnknown.details]).toEqual([
        foreignKnown.code,
        foreignKnown.details,
      ]);
      await expect(otp.verify({ userId: 'alice', code, requestId: known.requestId })).resolves.toMatchObject({
        phone,
      });
    });

    it('test numbers: fixed code, nothing sent, limits still count; off after testNumbersValidUntil', async () => {
      const phone = `${nextBlock()}0001`;
      const { otp, sender, events } = engine({
        testNumbers: { [phone]: '123456' },
        testNumbersValidUntil: new Date(clock.now + 3_600_000),
      });
      const { requestId } = await otp.send({ phone });
      expect(sender.outbox.size).toBe(0);
      expect(events).toContainEqual({
        name: 'sent',
        event: expect.objectContaining({ test: true, vendor: 'test-number' }),
      });
      expect((await errorOf(otp.send({ phone }))).code).toBe('RESEND_TOO_SOON');
      await expect(otp.verify({ phone, code: '123456', requestId })).resolves.toMatchObject({ phone });
      advance(3601);
      await otp.send({ phone });
      expect(sender.outbox.last(phone)?.code).toMatch(/^\d{6}$/);
    });

    it('events report sends, verifies, failures and refusals with masked phones and never a code', async () => {
      const { otp, sender, events } = engine();
      const phone = `${nextBlock()}0001`;
      const { requestId } = await otp.send({ phone, ip: '192.0.2.55' });
      const code = sender.outbox.last(phone)!.code;
      await errorOf(otp.verify({ phone, code: code === '000000' ? '111111' : '000000', requestId }));
      await errorOf(otp.send({ phone }));
      await otp.verify({ phone, code, requestId });
      await errorOf(otp.send({ phone: '12' }));
      expect(events.map((e) => e.name)).toEqual(['sent', 'failed', 'blocked', 'verified', 'failed']);
      expect(events[1]!.event).toMatchObject({ operation: 'verify', code: 'CODE_INVALID' });
      expect(events[2]!.event).toMatchObject({ operation: 'send', code: 'RESEND_TOO_SOON', scope: 'phone' });
      const text = JSON.stringify(events);
      expect(text).not.toContain(code);
      expect(text).not.toContain(phone);
      expect(text).toContain(`${phone.slice(0, 3)}`);
    });
  },
);
