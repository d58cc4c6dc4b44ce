/**
 * Issue 15's drills, at engine level on every store, with the engine's defaults (DESIGN.md, "Decisions of
 * 2026-12-04", items 1, 2, 3, 7 and 10): what a stranger who knows only a phone number, or who holds a few
 * addresses, can and cannot do to its owner and to the host.
 */
import {
  createSmsOtp,
  memorySender,
  type SmsOtp,
  type SmsOtpEvents,
  type SmsOtpOptions,
} from '@sms-otp/core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf, errorOf } from './support/outcomes.js';
import { ALL_KITS } from './support/store-kits.js';

// The built-in captcha's answer is random; the drills read it from here instead of from the image.
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

const SECRET = 'secure-defaults-0123456789-abcdefghijklmnopqrstuvwxyz';
let seq = 0;
/** Fresh numbers per test: `block` is a number prefix of their own (all but the last 4 digits). */
const nextBlock = () => `+86136${String(((process.pid % 900) * 10 + ++seq) % 10_000).padStart(4, '0')}`;
const nextPhone = () => `${nextBlock()}0001`;
/** A code guaranteed to differ from `code`. */
const wrong = (code: string) => code.replace(/^./, (d) => String((Number(d) + 1) % 10));
/** A requestId of no send of the phone (what an attacker who saw none can present). */
const FOREIGN = 'zZ9-attacker-guess-000';

/** A solved built-in captcha, as the user who reads the image types it. */
async function solved(otp: SmsOtp, ip?: string) {
  const { captchaKey } = await otp.createCaptcha(ip ? { ip } : undefined);
  return { captchaKey, captcha: captchaAnswers.at(-1)! };
}

describe.each(ALL_KITS.map((make) => [make().name, make] as const))(
  'secure defaults (issue 15 drills) on %s',
  (_name, makeKit) => {
    const kit = makeKit();
    const clock = { now: Date.UTC(2026, 2, 1) };
    beforeAll(() => kit.setup(), 60_000);
    afterAll(() => kit.teardown());
    const advance = (seconds: number) => {
      clock.now += seconds * 1000;
    };

    /** An app instance with the library's defaults (only the store, the clock and a memory sender given). */
    function engine(overrides: Partial<SmsOtpOptions> = {}) {
      // A second instance of the same app shares its sender: `overrides.sender`.
      const sender = (overrides.sender as ReturnType<typeof memorySender> | undefined) ?? memorySender();
      const otp = createSmsOtp({
        secret: SECRET,
        store: kit.instance(),
        sender,
        defaultCountry: 'CN',
        clock: () => clock.now,
        ...overrides,
      });
      const events: Array<{ name: keyof SmsOtpEvents; event: unknown }> = [];
      otp.on('breaker', (event) => events.push({ name: 'breaker', event }));
      return { otp, sender, events };
    }

    describe('lock-out', () => {
      it('4 sends and 20+ wrong guesses by an attacker: the owner then signs in, solving a captcha', async () => {
        const attacker = engine();
        const owner = engine({ sender: attacker.sender });
        const phone = nextPhone();
        const ip = `203.0.113.${seq % 250}`;
        for (let round = 0; round < 4; round++) {
          const { requestId } = await attacker.otp.send({ phone, ip });
          const code = attacker.sender.outbox.last(phone)!.code;
          // A foreign requestId costs nothing, whatever code comes with it, the right one included.
          for (const candidate of ['000000', code]) {
            const foreign = await errorOf(
              attacker.otp.verify({ phone, code: candidate, requestId: FOREIGN, ip }),
            );
            expect([foreign.code, foreign.details.attemptsLeft]).toEqual(['CODE_INVALID', 5]);
          }
          // The attacker's own send's requestId: five wrong guesses kill its code.
          for (let i = 0; i < 5; i++)
            expect(await codeOf(attacker.otp.verify({ phone, code: wrong(code), requestId, ip }))).toBe(
              'CODE_INVALID',
            );
          advance(61);
        }
        // Twenty failures: more guesses, with any requestId, need a captcha; none locks the phone.
        for (const requestId of [FOREIGN, 'another-foreign-id-0001']) {
          const asked = await errorOf(attacker.otp.verify({ phone, code: '123456', requestId, ip }));
          expect([asked.code, asked.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'phone']);
        }

        // Right after, the owner: a send (with the captcha asked for) and a verify with its own requestId.
        const ask = await errorOf(owner.otp.send({ phone }));
        expect([ask.code, ask.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'phone']);
        const { requestId } = await owner.otp.send({ phone, ...(await solved(owner.otp)) });
        const code = owner.sender.outbox.last(phone)!.code;
        expect(await codeOf(owner.otp.verify({ phone, code, requestId }))).toBe('CAPTCHA_REQUIRED');
        const verified = await owner.otp.verify({ phone, code, requestId, ...(await solved(owner.otp)) });
        expect(verified).toMatchObject({ phone, purpose: 'login' });
        expect(await codeOf(owner.otp.checkToken(verified.token))).toBe('OK');
      });

      it('a user who signs in by user id is asked for the phone’s captcha, not answered as sent and left waiting', async () => {
        const phone = nextPhone();
        const attacker = engine();
        const owner = engine({
          sender: attacker.sender,
          resolvePhone: (id) => (id === 'owner' ? phone : null),
        });
        // Twenty failures through the phone, as an attacker who knows the number makes them.
        for (let round = 0; round < 4; round++) {
          const { requestId } = await attacker.otp.send({ phone });
          const code = attacker.sender.outbox.last(phone)!.code;
          for (let i = 0; i < 5; i++)
            await errorOf(attacker.otp.verify({ phone, code: wrong(code), requestId }));
          advance(61);
        }
        const sent = attacker.sender.outbox.size;
        const asked = await errorOf(owner.otp.send({ userId: 'owner' }));
        expect([asked.code, asked.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'phone']);
        expect(attacker.sender.outbox.size).toBe(sent);
        const { requestId } = await owner.otp.send({ userId: 'owner', ...(await solved(owner.otp)) });
        expect(attacker.sender.outbox.size).toBe(sent + 1);
        const code = owner.sender.outbox.last(phone)!.code;
        const verified = await owner.otp.verify({
          userId: 'owner',
          code,
          requestId,
          ...(await solved(owner.otp)),
        });
        expect(verified).toMatchObject({ phone, purpose: 'login' });
      });

      it('30 guesses with a foreign requestId after 4 sends cost nothing: the owner needs no captcha', async () => {
        const attacker = engine();
        const owner = engine({ sender: attacker.sender });
        const phone = nextPhone();
        for (let round = 0; round < 4; round++) {
          await attacker.otp.send({ phone });
          advance(61);
        }
        const live = attacker.sender.outbox.last(phone)!.code;
        for (let i = 0; i < 30; i++) {
          const candidate = i % 3 === 0 ? live : String(100_000 + i * 7919).slice(0, 6);
          const error = await errorOf(attacker.otp.verify({ phone, code: candidate, requestId: FOREIGN }));
          expect([error.code, error.details.attemptsLeft]).toEqual(['CODE_INVALID', 5]);
        }
        const { requestId } = await owner.otp.send({ phone });
        const code = owner.sender.outbox.last(phone)!.code;
        await expect(owner.otp.verify({ phone, code, requestId })).resolves.toMatchObject({ phone });
      });

      it('only 100 failures lock the phone (TOO_MANY_ATTEMPTS), and the lock ends with the failure window', async () => {
        const { otp, sender } = engine();
        const phone = nextPhone();
        const captcha = () => solved(otp);
        const answers: string[] = [];
        let left: unknown;
        // 20 sends (the day window's 10, then up to twice it with a captcha), 5 wrong guesses each.
        for (let send = 0; send < 20; send++) {
          if (send === 10) advance(3600);
          const { requestId } = await otp.send({ phone, ...(await captcha()) });
          const code = sender.outbox.last(phone)!.code;
          for (let i = 0; i < 5; i++) {
            const guess = await errorOf(
              otp.verify({ phone, code: wrong(code), requestId, ...(await captcha()) }),
            );
            answers.push(guess.code);
            left = guess.details.attemptsLeft;
          }
          advance(61);
        }
        expect(answers).toEqual(Array.from({ length: 100 }, () => 'CODE_INVALID'));
        expect(left).toBe(0);
        // The hundredth failure: refused, captcha or not, sends and verifies alike.
        const locked = await errorOf(
          otp.verify({ phone, code: '123456', requestId: FOREIGN, ...(await captcha()) }),
        );
        expect([locked.code, locked.details.scope]).toEqual(['TOO_MANY_ATTEMPTS', 'phone']);
        const send = await errorOf(otp.send({ phone, ...(await captcha()) }));
        expect([send.code, send.details.scope]).toEqual(['TOO_MANY_ATTEMPTS', 'phone']);
        expect(send.retryAfter).toBeGreaterThan(80_000);
        expect(send.retryAfter).toBeLessThanOrEqual(86_400);
        // The failure window (24 h from the first failure) ends: the owner signs in, no captcha asked.
        advance(send.retryAfter!);
        const { requestId } = await otp.send({ phone });
        await expect(
          otp.verify({ phone, code: sender.outbox.last(phone)!.code, requestId }),
        ).resolves.toMatchObject({ phone });
      });

      it('a full send window asks for a captcha up to twice its size, then RATE_LIMITED', async () => {
        const { otp } = engine();
        const phone = nextPhone();
        for (let i = 0; i < 5; i++) {
          expect(await codeOf(otp.send({ phone }))).toBe('OK');
          advance(61);
        }
        for (let i = 0; i < 5; i++) {
          const asked = await errorOf(otp.send({ phone }));
          expect([asked.code, asked.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'phone']);
          expect(await codeOf(otp.send({ phone, ...(await solved(otp)) }))).toBe('OK');
          advance(61);
        }
        const hour = await errorOf(otp.send({ phone, ...(await solved(otp)) }));
        expect([hour.code, hour.details.scope, hour.details.limit, hour.details.window]).toEqual([
          'RATE_LIMITED',
          'phone',
          5,
          3600,
        ]);
        advance(86_400);
      });
    });

    describe('verify oracle', () => {
      it('polling with a foreign requestId answers the same before and after the owner asks for a code', async () => {
        const attacker = engine();
        const owner = engine({ sender: attacker.sender });
        const phone = nextPhone();
        const ip = `198.51.100.${seq % 250}`;
        const poll = async () => {
          const error = await errorOf(attacker.otp.verify({ phone, code: '482915', requestId: FOREIGN, ip }));
          return {
            code: error.code,
            status: error.status,
            details: error.details,
            retryAfter: error.retryAfter,
          };
        };
        const before = await poll();
        expect(before).toMatchObject({ code: 'CODE_INVALID', details: { attemptsLeft: 5 } });
        const { requestId } = await owner.otp.send({ phone });
        expect(await poll()).toEqual(before);
        // After the owner's code is used, and for a phone that never had one: the same again.
        const code = owner.sender.outbox.last(phone)!.code;
        await owner.otp.verify({ phone, code, requestId });
        expect(await poll()).toEqual(before);
        const never = await errorOf(
          attacker.otp.verify({ phone: nextPhone(), code: '482915', requestId: FOREIGN, ip }),
        );
        expect({
          code: never.code,
          status: never.status,
          details: never.details,
          retryAfter: never.retryAfter,
        }).toEqual(before);
      });

      it("50 foreign guesses cannot kill the owner's code", async () => {
        const attacker = engine();
        const owner = engine({ sender: attacker.sender });
        const phone = nextPhone();
        const ip = `198.51.100.${(seq % 250) + 1}`;
        const { requestId } = await owner.otp.send({ phone });
        const code = owner.sender.outbox.last(phone)!.code;
        const answers = [];
        for (let i = 0; i < 50; i++) {
          const candidate = i === 25 ? code : String(100_000 + i * 104_729).slice(-6);
          const error = await errorOf(
            attacker.otp.verify({ phone, code: candidate, requestId: FOREIGN, ip }),
          );
          answers.push([error.code, error.details.attemptsLeft]);
        }
        expect(answers).toEqual(Array.from({ length: 50 }, () => ['CODE_INVALID', 5]));
        await expect(owner.otp.verify({ phone, code, requestId })).resolves.toMatchObject({ phone });
      });

      it('the IP window: 60 failed verifies per hour, successes not counted, then RATE_LIMITED (scope ip)', async () => {
        // 70 sends into one country, most never verified: a drill of the verify window, not of the breaker.
        const { otp, sender } = engine({ breaker: false });
        const ip = `192.0.2.${seq % 250}`;
        const signIn = async () => {
          const phone = nextPhone();
          const { requestId } = await otp.send({ phone });
          return { phone, requestId, code: sender.outbox.last(phone)!.code };
        };
        for (let i = 0; i < 60; i++) {
          if (i % 10 === 0) {
            // Someone else behind the same address signs in: successes do not count.
            const user = await signIn();
            expect(await codeOf(otp.verify({ ...user, ip }))).toBe('OK');
          }
          // A wrong guess at a pending code of another number each time: no phone's own limits are met.
          const target = await signIn();
          expect(await codeOf(otp.verify({ ...target, code: wrong(target.code), ip }))).toBe('CODE_INVALID');
        }
        const last = await signIn();
        const refused = await errorOf(otp.verify({ ...last, code: wrong(last.code), ip }));
        expect([refused.code, refused.details.scope, refused.details.limit, refused.details.window]).toEqual([
          'RATE_LIMITED',
          'ip',
          60,
          3600,
        ]);
        expect(refused.retryAfter).toBeGreaterThan(0);
        expect(await codeOf(otp.verify({ ...last, requestId: FOREIGN, ip }))).toBe('RATE_LIMITED');
        // The window refuses before looking at the code, and counts nothing more; another address is not
        // affected; the hour ends and the address verifies again.
        const user = await signIn();
        expect(await codeOf(otp.verify({ ...user, ip }))).toBe('RATE_LIMITED');
        expect(await codeOf(otp.verify({ ...user, ip: `${ip}0` }))).toBe('OK');
        advance(3600);
        const later = await signIn();
        expect(await codeOf(otp.verify({ ...later, ip }))).toBe('OK');
      });
    });

    describe('breaker abuse', () => {
      // Let every breaker window (and cool-off) end before the next drill, whatever the last one left.
      afterEach(() => advance(10_000));
      /** 200 unverified sends to sequential numbers of one prefix from 10 addresses in `subnets` /24s. */
      async function pump(otp: SmsOtp, block: string, subnets: number) {
        const net = 100 + (seq % 100);
        const answers = new Map<string, number>();
        for (let n = 0; n < 200; n++) {
          const address = n % 10;
          const ip = `10.${net}.${address % subnets}.${10 + address}`;
          const answer = await codeOf(otp.send({ phone: `${block}${String(n).padStart(4, '0')}`, ip }));
          answers.set(answer, (answers.get(answer) ?? 0) + 1);
        }
        return answers;
      }

      it.each([1, 4])(
        '200 unverified sends in one prefix from %i subnet(s) do not open the breaker; a real user there needs no captcha',
        async (subnets) => {
          const { otp, sender, events } = engine();
          const block = nextBlock();
          expect(await pump(otp, block, subnets)).toEqual(new Map([['OK', 200]]));
          expect(events.filter((e) => (e.event as { state: string }).state === 'open')).toEqual([]);
          // A real user of that block, from another network, signs in without a captcha.
          const phone = `${block}9999`;
          const { requestId } = await otp.send({ phone, ip: '198.18.250.7' });
          await expect(
            otp.verify({ phone, code: sender.outbox.last(phone)!.code, requestId, ip: '198.18.250.7' }),
          ).resolves.toMatchObject({ phone });
        },
      );

      it('the same volume from 5 subnets opens the prefix breaker: the next send there asks for a captcha', async () => {
        const { otp, events } = engine();
        const block = nextBlock();
        const answers = await pump(otp, block, 5);
        // minVolume (50) sends pass, then the breaker asks for a captcha.
        expect(answers).toEqual(
          new Map([
            ['OK', 50],
            ['CAPTCHA_REQUIRED', 150],
          ]),
        );
        expect(events.map((e) => e.event)).toContainEqual(
          expect.objectContaining({ scope: 'prefix', key: block, state: 'open', sent: 50, verified: 0 }),
        );
        const refused = await errorOf(otp.send({ phone: `${block}9999`, ip: '198.18.251.7' }));
        expect([refused.code, refused.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'breaker']);
      });
    });

    if (kit.flush) {
      describe('tokens survive data loss', () => {
        it('a consumed token stays refused after FLUSHALL; a token never used whose record was lost is refused', async () => {
          const { otp, sender } = engine();
          const phone = nextPhone();
          const { requestId } = await otp.send({ phone });
          const { token: used } = await otp.verify({
            phone,
            code: sender.outbox.last(phone)!.code,
            requestId,
          });
          advance(61);
          const resent = await otp.send({ phone });
          const { token: unused } = await otp.verify({
            phone,
            code: sender.outbox.last(phone)!.code,
            requestId: resent.requestId,
          });
          expect(await codeOf(otp.checkToken(used))).toBe('OK');
          expect(await codeOf(otp.checkToken(used))).toBe('TOKEN_USED');
          await kit.flush!();
          expect(await codeOf(otp.checkToken(used))).toBe('TOKEN_USED');
          expect(await codeOf(otp.checkToken(unused, { consume: false }))).toBe('TOKEN_USED');
          expect(await codeOf(otp.checkToken(unused))).toBe('TOKEN_USED');
          // The store works on after the loss: a new sign-in gives a token that is used once.
          advance(61);
          const again = await otp.send({ phone });
          const { token } = await otp.verify({
            phone,
            code: sender.outbox.last(phone)!.code,
            requestId: again.requestId,
          });
          expect(await codeOf(otp.checkToken(token))).toBe('OK');
          expect(await codeOf(otp.checkToken(token))).toBe('TOKEN_USED');
        });
      });
    }
  },
);
