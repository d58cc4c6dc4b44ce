import {
  type CaptchaVerifier,
  type CodeProvider,
  createSmsOtp,
  MemoryStore,
  memorySender,
  type OtpStore,
  SmsOtpError,
  type SmsOtpOptions,
} from '@sms-otp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, errorOf } from './support/outcomes.js';
import { ALL_KITS } from './support/store-kits.js';

const SECRET = 'test-secret-test-secret-test-secret!-0123456789ABCDEF';
let phoneSeq = 0;
/** A fresh valid Chinese mobile number for each test, so tests never share state. */
const nextPhone = () => `+86138${String(10_000_000 + process.pid * 1000 + ++phoneSeq).slice(-8)}`;

/** A store's member for a Proxy around it: methods bound to the store (they use its private fields). */
const bound = (target: OtpStore, prop: string | symbol) => {
  const value = Reflect.get(target, prop);
  return typeof value === 'function' ? value.bind(target) : value;
};

/** A captcha service that takes `'solved'` as the solved answer (the built-in one's answer is random). */
const captchaService: CaptchaVerifier = {
  name: 'test-captcha',
  async verify({ token }) {
    return token === 'solved';
  },
};

/** A code guaranteed to differ from `code`. */
const wrong = (code: string) => code.replace(/^./, (d) => String((Number(d) + 1) % 10));

describe.each(ALL_KITS.map((make) => [make().name, make] as const))('engine on %s', (_name, makeKit) => {
  const kit = makeKit();
  const clock = { now: Date.UTC(2026, 0, 1) };
  beforeAll(() => kit.setup(), 60_000);
  afterAll(() => kit.teardown());

  function engine(overrides: Partial<SmsOtpOptions> = {}, store: OtpStore = kit.instance()) {
    const sender = memorySender();
    const otp = createSmsOtp({
      secret: SECRET,
      store,
      sender,
      purposes: ['login', 'reset-password'],
      defaultCountry: 'CN',
      clock: () => clock.now,
      // These tests send many codes into one prefix without verifying them: the pumping breaker (tested in
      // abuse.test.ts) would rightly ask for a captcha.
      breaker: false,
      ...overrides,
    });
    return { otp, sender };
  }
  const advance = (seconds: number) => {
    clock.now += seconds * 1000;
  };

  it('sends a code and verifies it once, returning a token for the phone and purpose', async () => {
    const { otp, sender } = engine();
    const phone = nextPhone();
    const sent = await otp.send({ phone, purpose: 'login' });
    expect(sent).toEqual({ expiresIn: 300, resendIn: 60, requestId: expect.stringMatching(/^[\w-]{22}$/) });
    const { requestId } = sent;
    const message = sender.outbox.last(phone)!;
    expect(message.code).toMatch(/^\d{6}$/);
    const verified = await otp.verify({ phone, purpose: 'login', code: message.code, requestId });
    expect(verified).toMatchObject({ expiresIn: 600, phone, purpose: 'login' });
    expect(await otp.checkToken(verified.token, { purpose: 'login' })).toMatchObject({
      phone,
      purpose: 'login',
    });
    expect(await codeOf(otp.verify({ phone, purpose: 'login', code: message.code, requestId }))).toBe(
      'CODE_EXPIRED',
    );
  });

  it('reads national numbers with defaultCountry and country given as ISO code or calling code', async () => {
    const { otp, sender } = engine();
    await otp.send({ phone: '139 0000 1111' });
    expect(sender.outbox.last('+8613900001111')).toBeDefined();
    await otp.send({ phone: '012345678', country: 'KH' });
    expect(sender.outbox.last('+85512345678')).toBeDefined();
    await otp.send({ phone: '012345679', country: '+855' });
    expect(sender.outbox.last('+85512345679')).toBeDefined();
    expect(await codeOf(otp.send({ phone: '12345' }))).toBe('INVALID_PHONE');
    expect(await codeOf(otp.send({ phone: '012345678', country: 'ZZ' }))).toBe('INVALID_PHONE');
    // Calling codes of no numbering plan: the library throws a plain Error for these, which was a 500.
    for (const country of ['2', '+2', '999', '+0']) {
      expect(await codeOf(otp.send({ phone: '012345678', country }))).toBe('INVALID_PHONE');
    }
    expect(await codeOf(otp.send({ phone: nextPhone(), purpose: 'signup' }))).toBe('UNKNOWN_PURPOSE');
    const onlyCn = engine({ allowedCountries: ['CN'] }).otp;
    expect(await codeOf(onlyCn.send({ phone: '+85512345670' }))).toBe('COUNTRY_NOT_ALLOWED');
    expect(await codeOf(onlyCn.send({ phone: nextPhone() }))).toBe('OK');
  });

  it('exposes the code as devCode only with exposeCode', async () => {
    const { otp, sender } = engine({ exposeCode: true });
    const phone = nextPhone();
    const sent = await otp.send({ phone });
    expect(sent.devCode).toBe(sender.outbox.last(phone)!.code);
  });

  if (kit.dump) {
    it('never stores the code in clear', async () => {
      const { otp, sender } = engine({ codeLength: 10 });
      const phone = nextPhone();
      await otp.send({ phone, purpose: 'login', ip: '198.51.100.7' });
      const code = sender.outbox.last(phone)!.code;
      const everything = (await kit.dump!()).join('\n');
      expect(everything).toContain(phone);
      expect(everything).not.toContain(code);
    });
  }

  it('50 parallel verifies of the right code through two app instances: exactly one succeeds', async () => {
    const a = engine();
    const b = engine();
    const phone = nextPhone();
    const { requestId } = await a.otp.send({ phone });
    const code = a.sender.outbox.last(phone)!.code;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => codeOf((i % 2 ? a : b).otp.verify({ phone, code, requestId }))),
    );
    expect(results.filter((r) => r === 'OK')).toHaveLength(1);
    expect(results.filter((r) => r === 'CODE_EXPIRED')).toHaveLength(49);
  });

  it('200 parallel wrong guesses: at most maxAttempts are evaluated, then the right code is dead too', async () => {
    const a = engine();
    const b = engine();
    const phone = nextPhone();
    const { requestId } = await a.otp.send({ phone });
    const code = a.sender.outbox.last(phone)!.code;
    const errors = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        errorOf((i % 2 ? a : b).otp.verify({ phone, code: wrong(code), requestId })),
      ),
    );
    const evaluated = errors.filter((e) => e.code === 'CODE_INVALID');
    expect(evaluated).toHaveLength(5);
    expect(evaluated.map((e) => e.details.attemptsLeft).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(errors.filter((e) => e.code === 'TOO_MANY_ATTEMPTS')).toHaveLength(195);
    expect(await codeOf(a.otp.verify({ phone, code, requestId }))).toBe('TOO_MANY_ATTEMPTS');
  });

  it('50 parallel sends to one phone: the sender is called once', async () => {
    const a = engine();
    const b = engine({ sender: a.sender });
    const phone = nextPhone();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => codeOf((i % 2 ? a : b).otp.send({ phone }))),
    );
    expect(results.filter((r) => r === 'OK')).toHaveLength(1);
    expect(results.filter((r) => r === 'RESEND_TOO_SOON')).toHaveLength(49);
    expect(a.sender.outbox.all().filter((m) => m.phone === phone)).toHaveLength(1);
  });

  it('a resend does not reset the failure ceiling across codes: a captcha past it, then the hard stop', async () => {
    const { otp, sender } = engine({
      maxAttempts: 5,
      maxFailuresPerPhone: 7,
      lockAfterFailures: 8,
      captcha: { verifier: captchaService },
    });
    const phone = nextPhone();
    let { requestId } = await otp.send({ phone });
    let code = sender.outbox.last(phone)!.code;
    for (let i = 0; i < 5; i++) await codeOf(otp.verify({ phone, code: wrong(code), requestId }));
    expect((await errorOf(otp.verify({ phone, code, requestId }))).details.scope).toBe('code');
    advance(61);
    ({ requestId } = await otp.send({ phone }));
    code = sender.outbox.last(phone)!.code;
    const left = [];
    for (let i = 0; i < 2; i++)
      left.push((await errorOf(otp.verify({ phone, code: wrong(code), requestId }))).details.attemptsLeft);
    expect(left).toEqual([2, 1]);
    // Seven failures across the two codes: the phone's sends and verifies need a solved captcha.
    const asked = await errorOf(otp.verify({ phone, code, requestId }));
    expect([asked.code, asked.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'phone']);
    expect(await codeOf(otp.verify({ phone, code, requestId, captcha: 'wrong' }))).toBe('CAPTCHA_INVALID');
    const last = await errorOf(otp.verify({ phone, code: wrong(code), requestId, captcha: 'solved' }));
    expect([last.code, last.details.attemptsLeft]).toEqual(['CODE_INVALID', 0]);
    // The eighth failure is the hard stop: a solved captcha no longer helps, the right code neither.
    const locked = await errorOf(otp.verify({ phone, code, requestId, captcha: 'solved' }));
    expect(locked.code).toBe('TOO_MANY_ATTEMPTS');
    expect(locked.details.scope).toBe('phone');
    advance(61);
    expect(await codeOf(otp.send({ phone, captcha: 'solved' }))).toBe('TOO_MANY_ATTEMPTS');
    expect(await codeOf(otp.send({ phone, purpose: 'reset-password' }))).toBe('TOO_MANY_ATTEMPTS');
    advance(86_400);
    ({ requestId } = await otp.send({ phone }));
    expect(await codeOf(otp.verify({ phone, code: sender.outbox.last(phone)!.code, requestId }))).toBe('OK');
  });

  it('past maxFailuresPerPhone the phone sends and verifies with a solved captcha, every purpose', async () => {
    const { otp, sender } = engine({
      maxAttempts: 5,
      maxFailuresPerPhone: 3,
      captcha: { verifier: captchaService },
    });
    const phone = nextPhone();
    const { requestId } = await otp.send({ phone });
    const code = sender.outbox.last(phone)!.code;
    for (let i = 0; i < 3; i++)
      expect(await codeOf(otp.verify({ phone, code: wrong(code), requestId }))).toBe('CODE_INVALID');
    const verify = await errorOf(otp.verify({ phone, code, requestId }));
    expect([verify.code, verify.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'phone']);
    const send = await errorOf(otp.send({ phone, purpose: 'reset-password' }));
    expect([send.code, send.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'phone']);
    // The captcha asked for cost the code nothing: with it solved, the right code still works.
    expect(await codeOf(otp.verify({ phone, code, requestId, captcha: 'solved' }))).toBe('OK');
    const reset = await otp.send({ phone, purpose: 'reset-password', captcha: 'solved' });
    const resetCode = sender.outbox.last(phone)!.code;
    expect(
      await codeOf(
        otp.verify({ phone, purpose: 'reset-password', code: resetCode, requestId: reset.requestId }),
      ),
    ).toBe('CAPTCHA_REQUIRED');
    expect(
      await codeOf(
        otp.verify({
          phone,
          purpose: 'reset-password',
          code: resetCode,
          requestId: reset.requestId,
          captcha: 'solved',
        }),
      ),
    ).toBe('OK');
    // The failure window ends: no captcha any more.
    advance(86_400);
    const again = await otp.send({ phone });
    expect(
      await codeOf(otp.verify({ phone, code: sender.outbox.last(phone)!.code, requestId: again.requestId })),
    ).toBe('OK');
  });

  it('a success does not reset the failure ceiling either (DESIGN: at most N failed verifies per phone per window)', async () => {
    // The hard stop right at the ceiling (no captcha step in between): this test counts failures.
    const { otp, sender } = engine({ maxAttempts: 5, maxFailuresPerPhone: 5, lockAfterFailures: 5 });
    const phone = nextPhone();
    for (let round = 0; round < 2; round++) {
      const { requestId } = await otp.send({ phone });
      const code = sender.outbox.last(phone)!.code;
      expect(await codeOf(otp.verify({ phone, code: wrong(code), requestId }))).toBe('CODE_INVALID');
      expect(await codeOf(otp.verify({ phone, code: wrong(code), requestId }))).toBe('CODE_INVALID');
      expect(await codeOf(otp.verify({ phone, code, requestId }))).toBe('OK');
      advance(61);
    }
    // Four failures in the window, two successes between them: one more reaches the ceiling.
    const { requestId } = await otp.send({ phone });
    const code = sender.outbox.last(phone)!.code;
    expect((await errorOf(otp.verify({ phone, code: wrong(code), requestId }))).details.attemptsLeft).toBe(0);
    const locked = await errorOf(otp.verify({ phone, code, requestId }));
    expect(locked.code).toBe('TOO_MANY_ATTEMPTS');
    expect(locked.details.scope).toBe('phone');
  });

  it('vendor-checked codes: a right code takes back only its own reserved failure', async () => {
    const codes = new Map<string, string>();
    const provider: CodeProvider = {
      kind: 'provider',
      name: 'fake-vendor',
      async start(request) {
        const ref = `msg-${codes.size + 1}`;
        codes.set(ref, request.phone.slice(-6));
        return { ref, vendor: 'fake-vendor' };
      },
      async check(request) {
        return codes.get(request.ref) === request.code;
      },
    };
    // The hard stop right at the ceiling (no captcha step in between): this test counts failures.
    const { otp } = engine({
      sender: provider,
      maxAttempts: 5,
      maxFailuresPerPhone: 4,
      lockAfterFailures: 4,
    });
    const phone = nextPhone();
    const code = phone.slice(-6);
    const first = await otp.send({ phone });
    const left = [];
    for (let i = 0; i < 3; i++)
      left.push(
        (await errorOf(otp.verify({ phone, code: wrong(code), requestId: first.requestId }))).details
          .attemptsLeft,
      );
    expect(left).toEqual([3, 2, 1]);
    expect(await codeOf(otp.verify({ phone, code, requestId: first.requestId }))).toBe('OK');
    advance(61);
    const { requestId } = await otp.send({ phone });
    // Three failures still count: one more reaches the ceiling.
    expect((await errorOf(otp.verify({ phone, code: wrong(code), requestId }))).details.attemptsLeft).toBe(0);
    const locked = await errorOf(otp.verify({ phone, code, requestId }));
    expect(locked.code).toBe('TOO_MANY_ATTEMPTS');
    expect(locked.details.scope).toBe('phone');
  });

  it('a code expires after its ttl', async () => {
    const { otp, sender } = engine({ ttl: 30 });
    const phone = nextPhone();
    const { requestId } = await otp.send({ phone });
    advance(31);
    expect(await codeOf(otp.verify({ phone, code: sender.outbox.last(phone)!.code, requestId }))).toBe(
      'CODE_EXPIRED',
    );
  });

  it('a code is bound to its purpose, its phone and its send; a newer send replaces the older code', async () => {
    const { otp, sender } = engine();
    const phone = nextPhone();
    const other = nextPhone();
    const sent = await otp.send({ phone, purpose: 'login' });
    const first = sender.outbox.last(phone)!.code;
    // Another purpose has no code of this send: the answer a foreign send gets, at no cost.
    const purposeWrong = await errorOf(
      otp.verify({ phone, purpose: 'reset-password', code: first, requestId: sent.requestId }),
    );
    expect([purposeWrong.code, purposeWrong.details.attemptsLeft]).toEqual(['CODE_INVALID', 5]);
    const otherSent = await otp.send({ phone: other, purpose: 'login' });
    expect(
      await codeOf(
        otp.verify({ phone: other, purpose: 'login', code: first, requestId: otherSent.requestId }),
      ),
    ).toMatch(/OK|CODE_INVALID/);
    // This phone's code, under the other phone's send: not this phone's live send.
    expect(await codeOf(otp.verify({ phone, code: first, requestId: otherSent.requestId }))).toBe(
      'CODE_INVALID',
    );
    advance(61);
    const resent = await otp.send({ phone, purpose: 'login' });
    const second = sender.outbox.last(phone)!.code;
    // The first send's requestId no longer names the live code, whatever code comes with it.
    expect(await codeOf(otp.verify({ phone, code: second, requestId: sent.requestId }))).toBe('CODE_INVALID');
    if (second !== first)
      expect(await codeOf(otp.verify({ phone, code: first, requestId: resent.requestId }))).toBe(
        'CODE_INVALID',
      );
    expect(await codeOf(otp.verify({ phone, code: second, requestId: resent.requestId }))).toBe('OK');
  });

  it('a code for one phone fails for another', async () => {
    const { otp, sender } = engine();
    const a = nextPhone();
    const b = nextPhone();
    const sentA = await otp.send({ phone: a });
    const sentB = await otp.send({ phone: b });
    const codeA = sender.outbox.last(a)!.code;
    const codeB = sender.outbox.last(b)!.code;
    if (codeA !== codeB)
      expect(await codeOf(otp.verify({ phone: b, code: codeA, requestId: sentB.requestId }))).toBe(
        'CODE_INVALID',
      );
    expect(await codeOf(otp.verify({ phone: a, code: codeA, requestId: sentA.requestId }))).toBe('OK');
  });

  it('unbound mode (requireRequestId: false): phone and code alone verify, a requestId is not needed', async () => {
    const { otp, sender } = engine({ requireRequestId: false });
    const phone = nextPhone();
    const { requestId } = await otp.send({ phone });
    expect(requestId).toMatch(/^[\w-]{22}$/);
    const code = sender.outbox.last(phone)!.code;
    // Every guess by phone alone costs the code an attempt, as before.
    const guess = await errorOf(otp.verify({ phone, code: wrong(code) }));
    expect([guess.code, guess.details.attemptsLeft]).toEqual(['CODE_INVALID', 4]);
    const verified = await otp.verify({ phone, code });
    expect(verified).toMatchObject({ phone, purpose: 'login' });
    expect(await codeOf(otp.checkToken(verified.token))).toBe('OK');
    expect(await codeOf(otp.verify({ phone, code }))).toBe('CODE_EXPIRED');
    // A bound engine on the same store does not take an unbound code, and the reverse.
    advance(61);
    const boundEngine = engine();
    const boundSend = await boundEngine.otp.send({ phone });
    const boundCode = boundEngine.sender.outbox.last(phone)!.code;
    expect(await codeOf(otp.verify({ phone, code: boundCode }))).toBe('CODE_INVALID');
    expect(await codeOf(boundEngine.otp.verify({ phone, code: boundCode }))).toBe('INVALID_REQUEST');
    expect(
      await codeOf(boundEngine.otp.verify({ phone, code: boundCode, requestId: boundSend.requestId })),
    ).toBe('OK');
  });

  it('a sender failure rolls back the code, the cooldown and the window counts', async () => {
    let failing = false;
    const sender = memorySender({ fail: () => (failing ? new Error('vendor down') : undefined) });
    // A full phone window refuses outright here (no captcha step): this test counts what is in the windows.
    const { otp } = engine({
      sender,
      sendLimits: { perPhoneHour: 2, perPhoneDay: 10, perIpHour: 2 },
      captchaPastSendLimits: false,
    });
    const phone = nextPhone();
    const ip = `203.0.113.${phoneSeq % 250}`;
    const { requestId } = await otp.send({ phone, ip });
    const first = sender.outbox.last(phone)!.code;
    advance(61);
    failing = true;
    for (let i = 0; i < 3; i++) expect(await codeOf(otp.send({ phone, ip }))).toBe('SEND_FAILED');
    failing = false;
    expect(await codeOf(otp.verify({ phone, code: first, requestId }))).toBe('OK');
    expect(await codeOf(otp.send({ phone, ip }))).toBe('OK');
    advance(61);
    // Both windows hold exactly the two sends that were delivered, none of the three that failed.
    const byPhone = await errorOf(otp.send({ phone, ip: `${ip}9` }));
    expect([byPhone.code, byPhone.details.scope]).toEqual(['RATE_LIMITED', 'phone']);
    const byIp = await errorOf(otp.send({ phone: nextPhone(), ip }));
    expect([byIp.code, byIp.details.scope]).toEqual(['RATE_LIMITED', 'ip']);
  });

  it('a send that may have been delivered undoes the code and cooldown but keeps the window counts', async () => {
    const unknown = [
      new SmsOtpError('SEND_FAILED', { vendor: 'memory', reason: 'timeout' }),
      new SmsOtpError('SEND_FAILED', { vendor: 'memory', reason: 'http_error', httpStatus: 504 }),
    ];
    let failing = 0;
    const sender = memorySender({ fail: () => (failing > 0 ? unknown[--failing] : undefined) });
    // A full phone window refuses outright here (no captcha step): this test counts what is in the windows.
    const { otp } = engine({
      sender,
      sendLimits: { perPhoneHour: 3, perPhoneDay: 10, perIpHour: 3 },
      captchaPastSendLimits: false,
    });
    const phone = nextPhone();
    const ip = `198.51.100.${phoneSeq % 250}`;
    const { requestId } = await otp.send({ phone, ip });
    const first = sender.outbox.last(phone)!.code;
    advance(61);
    failing = 2;
    // No cooldown was left behind: the second try is not RESEND_TOO_SOON.
    for (let i = 0; i < 2; i++) expect(await codeOf(otp.send({ phone, ip }))).toBe('SEND_FAILED');
    // Nor a code: the one delivered before still works.
    expect(await codeOf(otp.verify({ phone, code: first, requestId }))).toBe('OK');
    // Both windows count the two sends that may have gone out.
    const byPhone = await errorOf(otp.send({ phone, ip: `${ip}9` }));
    expect([byPhone.code, byPhone.details.scope]).toEqual(['RATE_LIMITED', 'phone']);
    const byIp = await errorOf(otp.send({ phone: nextPhone(), ip }));
    expect([byIp.code, byIp.details.scope]).toEqual(['RATE_LIMITED', 'ip']);
  });

  it("a vendor slower than sendTimeout gets the engine's deadline and counts as maybe delivered", async () => {
    const messages: Array<{ deadline?: number }> = [];
    const hanging = {
      kind: 'sender' as const,
      name: 'hanging',
      send: (message: { deadline?: number }) => {
        messages.push(message);
        return new Promise<never>(() => {});
      },
    };
    const { otp } = engine({
      sender: hanging,
      sendTimeout: 100,
      sendLimits: { perPhoneHour: 1 },
      captchaPastSendLimits: false,
    });
    const phone = nextPhone();
    const before = Date.now();
    const error = await errorOf(otp.send({ phone }));
    expect([error.code, error.details.reason]).toEqual(['SEND_FAILED', 'timeout']);
    expect(messages[0]!.deadline).toBeGreaterThanOrEqual(before + 100);
    expect(messages[0]!.deadline).toBeLessThanOrEqual(Date.now());
    expect(await codeOf(otp.send({ phone }))).toBe('RATE_LIMITED');
  });

  it('per-phone hour and day windows: full, a captcha up to twice their size, then RATE_LIMITED; the per-IP window', async () => {
    const { otp } = engine({
      sendLimits: { perPhoneHour: 2, perPhoneDay: 3, perIpHour: 3 },
      captcha: { verifier: captchaService },
    });
    const phone = nextPhone();
    await otp.send({ phone });
    advance(61);
    await otp.send({ phone, purpose: 'reset-password' });
    advance(61);
    // The hour window is full: the owner (or anyone) goes on with a solved captcha, never waits.
    const full = await errorOf(otp.send({ phone }));
    expect([full.code, full.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'phone']);
    expect(await codeOf(otp.send({ phone, captcha: 'wrong' }))).toBe('CAPTCHA_INVALID');
    expect(await codeOf(otp.send({ phone, captcha: 'solved' }))).toBe('OK');
    advance(61);
    expect(await codeOf(otp.send({ phone }))).toBe('CAPTCHA_REQUIRED');
    expect(await codeOf(otp.send({ phone, captcha: 'solved' }))).toBe('OK');
    advance(61);
    // Twice the hour's limit: refused, captcha or not, until the hour ends.
    const hour = await errorOf(otp.send({ phone, captcha: 'solved' }));
    expect([hour.code, hour.details.scope, hour.details.limit, hour.details.window]).toEqual([
      'RATE_LIMITED',
      'phone',
      2,
      3600,
    ]);
    expect(hour.retryAfter).toBeGreaterThan(0);
    advance(3600);
    // A new hour; the day window holds 4 of its 3: a captcha until it holds 6.
    const dayFull = await errorOf(otp.send({ phone }));
    expect([dayFull.code, dayFull.details.scope]).toEqual(['CAPTCHA_REQUIRED', 'phone']);
    expect(await codeOf(otp.send({ phone, captcha: 'solved' }))).toBe('OK');
    advance(61);
    expect(await codeOf(otp.send({ phone, captcha: 'solved' }))).toBe('OK');
    advance(61);
    const day = await errorOf(otp.send({ phone, captcha: 'solved' }));
    expect([day.code, day.details.scope, day.details.limit, day.details.window]).toEqual([
      'RATE_LIMITED',
      'phone',
      3,
      86_400,
    ]);
    advance(86_400);
    expect(await codeOf(otp.send({ phone }))).toBe('OK');

    const ip = `192.0.2.${phoneSeq % 250}`;
    for (let i = 0; i < 3; i++) await otp.send({ phone: nextPhone(), ip });
    const byIp = await errorOf(otp.send({ phone: nextPhone(), ip }));
    expect([byIp.code, byIp.details.scope]).toEqual(['RATE_LIMITED', 'ip']);
    expect(await codeOf(otp.send({ phone: nextPhone(), ip: `${ip}0` }))).toBe('OK');
  });

  it('captchaPastSendLimits: false refuses at the limit, as before', async () => {
    const { otp } = engine({
      sendLimits: { perPhoneHour: 1 },
      captchaPastSendLimits: false,
      captcha: { verifier: captchaService },
    });
    const phone = nextPhone();
    await otp.send({ phone });
    advance(61);
    const hour = await errorOf(otp.send({ phone, captcha: 'solved' }));
    expect([hour.code, hour.details.scope, hour.details.window]).toEqual(['RATE_LIMITED', 'phone', 3600]);
    advance(3600);
  });

  it('checks tokens: purpose, single use across instances, expiry, tampering, absence', async () => {
    const a = engine();
    const b = engine();
    const phone = nextPhone();
    const { requestId } = await a.otp.send({ phone });
    const { token } = await a.otp.verify({ phone, code: a.sender.outbox.last(phone)!.code, requestId });
    expect(await codeOf(a.otp.checkToken(token, { purpose: 'reset-password' }))).toBe('PURPOSE_MISMATCH');
    expect(await codeOf(a.otp.checkToken(token, { purpose: 'login', consume: false }))).toBe('OK');
    expect(await codeOf(a.otp.checkToken(token, { purpose: 'login' }))).toBe('OK');
    expect(await codeOf(b.otp.checkToken(token, { purpose: 'login' }))).toBe('TOKEN_USED');
    expect(await codeOf(b.otp.checkToken(token, { purpose: 'login', consume: false }))).toBe('TOKEN_USED');
    expect(await codeOf(a.otp.checkToken(undefined))).toBe('NOT_VERIFIED');
    expect(await codeOf(a.otp.checkToken(`${token.slice(0, -2)}xx`))).toBe('TOKEN_INVALID');
    const stranger = engine({ secret: 'another-secret-another-secret-another-0123456789ABCDEF' });
    expect(await codeOf(stranger.otp.checkToken(token))).toBe('TOKEN_INVALID');

    advance(61);
    const resent = await a.otp.send({ phone });
    const second = await a.otp.verify({
      phone,
      code: a.sender.outbox.last(phone)!.code,
      requestId: resent.requestId,
    });
    advance(601);
    expect(await codeOf(a.otp.checkToken(second.token, { purpose: 'login' }))).toBe('TOKEN_EXPIRED');
  });

  it('a token used late in its life stays used until it expires, whatever runs in between', async () => {
    const { otp, sender } = engine();
    const phone = nextPhone();
    const { requestId } = await otp.send({ phone });
    const { token } = await otp.verify({ phone, code: sender.outbox.last(phone)!.code, requestId });
    advance(300);
    expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('OK');
    // Other traffic moves time on for the store; the token has ~290 s of life left.
    for (const step of [10, 100, 180]) {
      advance(step);
      await otp.send({ phone: nextPhone() });
      expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('TOKEN_USED');
    }
    advance(10);
    expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('TOKEN_EXPIRED');
  });

  it('a used token is refused at once by every instance, also one whose clock runs behind', async () => {
    const { otp, sender } = engine({ tokenTtl: 30 });
    const behind = engine({ tokenTtl: 30, clock: () => clock.now - 5_000 });
    const phone = nextPhone();
    const { requestId } = await otp.send({ phone });
    const { token } = await otp.verify({ phone, code: sender.outbox.last(phone)!.code, requestId });
    clock.now += 29_000;
    expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('OK');
    // The use deleted the token's record: no instance takes it, whatever its clock says of the token's life.
    expect(await codeOf(behind.otp.checkToken(token, { purpose: 'login', consume: false }))).toBe(
      'TOKEN_USED',
    );
    clock.now += 2_000;
    expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('TOKEN_EXPIRED');
    // Past its end on the user's clock, still live on the clock 5 s behind: refused there as used.
    expect(await codeOf(behind.otp.checkToken(token, { purpose: 'login' }))).toBe('TOKEN_USED');
  });

  it('a token whose record the store does not have is refused, though its signature and life are fine', async () => {
    const { otp, sender } = engine();
    const phone = nextPhone();
    const { requestId } = await otp.send({ phone });
    const { token } = await otp.verify({ phone, code: sender.outbox.last(phone)!.code, requestId });
    // The same secret over a store that lost its data (a restarted MemoryStore): the record is gone.
    const restarted = engine({}, new MemoryStore());
    expect(await codeOf(restarted.otp.checkToken(token, { purpose: 'login', consume: false }))).toBe(
      'TOKEN_USED',
    );
    expect(await codeOf(restarted.otp.checkToken(token, { purpose: 'login' }))).toBe('TOKEN_USED');
    // The store that kept it still has it, once.
    expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('OK');
    expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('TOKEN_USED');
  });

  it('a token of a purpose this engine does not configure is not its own (same secret)', async () => {
    const other = engine({ purposes: ['login', 'admin-stepup'] });
    const { otp } = engine();
    const phone = nextPhone();
    const { requestId } = await other.otp.send({ phone, purpose: 'admin-stepup' });
    const { token } = await other.otp.verify({
      phone,
      purpose: 'admin-stepup',
      code: other.sender.outbox.last(phone)!.code,
      requestId,
    });
    expect(await codeOf(otp.checkToken(token))).toBe('TOKEN_INVALID');
    expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('PURPOSE_MISMATCH');
    expect(await codeOf(other.otp.checkToken(token))).toBe('OK');
  });

  it('a token use that lands after STORE_UNAVAILABLE is taken back: the token works on retry', async () => {
    const real = kit.instance();
    let delay = 0;
    const slow = new Proxy(real, {
      get: (target, prop) =>
        prop === 'useToken'
          ? async (input: Parameters<OtpStore['useToken']>[0]) => {
              const result = await target.useToken(input);
              if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
              return result;
            }
          : bound(target, prop),
    });
    const { otp, sender } = engine({ storeTimeout: 100 }, slow);
    const phone = nextPhone();
    const { requestId } = await otp.send({ phone });
    const { token } = await otp.verify({ phone, code: sender.outbox.last(phone)!.code, requestId });
    delay = 300;
    expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('STORE_UNAVAILABLE');
    await new Promise((resolve) => setTimeout(resolve, 400));
    delay = 0;
    expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('OK');
    expect(await codeOf(otp.checkToken(token, { purpose: 'login' }))).toBe('TOKEN_USED');
  });

  it('a store that does not answer gives STORE_UNAVAILABLE and sends nothing', async () => {
    const real = kit.instance();
    const hanging = new Proxy(real, {
      get: (target, prop) =>
        prop === 'issue' || prop === 'verify' ? () => new Promise(() => {}) : Reflect.get(target, prop),
    });
    const { otp, sender } = engine({ storeTimeout: 100 }, hanging);
    const phone = nextPhone();
    const error = await errorOf(otp.send({ phone }));
    expect([error.code, error.status, error.details.reason]).toEqual(['STORE_UNAVAILABLE', 503, 'timeout']);
    // The send failed, so the client has no requestId of it: any string passes the request's check.
    expect(await codeOf(otp.verify({ phone, code: '123456', requestId: 'A'.repeat(22) }))).toBe(
      'STORE_UNAVAILABLE',
    );
    expect(sender.outbox.size).toBe(0);
  });

  it('a user lookup (resolvePhone) that hangs or throws is STORE_UNAVAILABLE, never a hung request or a 500', async () => {
    const hung = engine({ storeTimeout: 100, resolvePhone: () => new Promise<string>(() => {}) });
    const late = await errorOf(hung.otp.send({ userId: 'alice' }));
    expect([late.code, late.status, late.details.reason]).toEqual(['STORE_UNAVAILABLE', 503, 'timeout']);
    expect(
      await codeOf(hung.otp.verify({ userId: 'alice', code: '123456', requestId: 'A'.repeat(22) })),
    ).toBe('STORE_UNAVAILABLE');
    const broken = engine({
      resolvePhone: () => {
        throw new Error('users database down');
      },
    });
    const error = await errorOf(broken.otp.send({ userId: 'bob' }));
    expect([error.code, error.details.reason, (error.cause as Error).message]).toEqual([
      'STORE_UNAVAILABLE',
      'error',
      'users database down',
    ]);
    expect(hung.sender.outbox.size + broken.sender.outbox.size).toBe(0);
  });

  it('vendor-checked codes: limits and single use hold, the vendor sees at most maxAttempts checks', async () => {
    const codes = new Map<string, string>();
    let checks = 0;
    let failStart = false;
    const provider: CodeProvider = {
      kind: 'provider',
      name: 'fake-vendor',
      async start(request) {
        if (failStart) throw new SmsOtpError('SEND_FAILED', { vendor: 'fake-vendor' });
        const ref = `msg-${codes.size + 1}`;
        codes.set(ref, request.phone.slice(-6));
        return { ref, vendor: 'fake-vendor' };
      },
      async check(request) {
        checks += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return codes.get(request.ref) === request.code;
      },
    };
    const a = engine({ sender: provider });
    const b = engine({ sender: provider });
    const phone = nextPhone();
    const { requestId } = await a.otp.send({ phone });
    const code = phone.slice(-6);
    const wrongs = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        codeOf((i % 2 ? a : b).otp.verify({ phone, code: wrong(code), requestId })),
      ),
    );
    expect(wrongs.filter((r) => r === 'CODE_INVALID')).toHaveLength(5);
    expect(checks).toBe(5);

    const other = nextPhone();
    const otherSent = await a.otp.send({ phone: other });
    const rights = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        codeOf(
          (i % 2 ? a : b).otp.verify({ phone: other, code: other.slice(-6), requestId: otherSent.requestId }),
        ),
      ),
    );
    expect(rights.filter((r) => r === 'OK')).toHaveLength(1);

    const third = nextPhone();
    failStart = true;
    expect(await codeOf(a.otp.send({ phone: third }))).toBe('SEND_FAILED');
    failStart = false;
    expect(await codeOf(a.otp.send({ phone: third }))).toBe('OK');
  });

  if (kit.server) {
    it('redis-server down: STORE_UNAVAILABLE and nothing sent; back up: works without re-creating anything', async () => {
      const { otp, sender } = engine({ storeTimeout: 500 });
      const phone = nextPhone();
      const { requestId } = await otp.send({ phone });
      const code = sender.outbox.last(phone)!.code;
      await kit.server!().kill();
      advance(61);
      const down = await Promise.all(
        [otp.send({ phone }), otp.verify({ phone, code, requestId }), otp.send({ phone: nextPhone() })].map(
          codeOf,
        ),
      );
      expect(down).toEqual(['STORE_UNAVAILABLE', 'STORE_UNAVAILABLE', 'STORE_UNAVAILABLE']);
      expect(sender.outbox.all().filter((m) => m.phone === phone)).toHaveLength(1);
      await kit.server!().restart();
      let result = '';
      for (let i = 0; i < 100 && result !== 'OK'; i++) {
        result = await codeOf(otp.send({ phone: nextPhone() }));
        if (result !== 'OK') await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(result).toBe('OK');
    });
  }
});
