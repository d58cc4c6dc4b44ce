import {
  consoleSender,
  createSmsOtp,
  MemoryStore,
  memorySender,
  SmsOtpConfigError,
  type SmsOtpOptions,
} from '@sms-otp/core';
import { afterEach, describe, expect, it, vi } from 'vitest';

const secret = 'ssssssssssssssssssssssssssssssss-0123456789ABCDEF';

function configError(options: unknown): SmsOtpConfigError {
  try {
    createSmsOtp(options as SmsOtpOptions);
  } catch (error) {
    if (error instanceof SmsOtpConfigError) return error;
    throw error;
  }
  throw new Error('expected createSmsOtp to throw');
}

describe('createSmsOtp options', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('applies the documented defaults', () => {
    const otp = createSmsOtp({ secret });
    expect(otp.options).toMatchObject({
      purposes: ['login'],
      codeLength: 6,
      ttl: 300,
      allowLongTtl: false,
      resendCooldown: 60,
      maxAttempts: 5,
      requireRequestId: true,
      maxFailuresPerPhone: 20,
      lockAfterFailures: 100,
      failureWindow: 86_400,
      allowShortCodes: false,
      allowNonGeographic: false,
      numberTypes: {
        sms: ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'VOIP'],
        voice: ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'FIXED_LINE', 'VOIP'],
      },
      captchaPastSendLimits: true,
      verifyLimits: { perIpHour: 60 },
      breaker: { minSubnets: 5, action: 'captcha' },
      sendLimits: { perPhoneHour: 5, perPhoneDay: 10, perIpHour: 20, perIpv6_48Hour: 200 },
      tokenTtl: 600,
      exposeCode: false,
      storeTimeout: 2000,
      sendTimeout: 10_000,
    });
    expect(otp.options.secret).toBe('[redacted]');
  });

  // Each row: the options, the path the error must name, and words the message must contain.
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['short secret', { secret: 'short' }, 'secret', /at least 32 bytes/],
    ['secret of wrong type', { secret: 42 }, 'secret', /string/],
    ['store without methods', { store: {} }, 'store', /MemoryStore|RedisStore/],
    ['sender without send', { sender: { kind: 'sender' } }, 'sender', /sender/],
    ['provider without check', { sender: { kind: 'provider', start() {} } }, 'sender', /provider/],
    ['empty purposes', { purposes: [] }, 'purposes', /at least one/],
    ['upper-case purpose', { purposes: ['Login'] }, 'purposes.0', /lower-case/],
    ['repeated purpose', { purposes: ['login', 'login'] }, 'purposes', /repeat/],
    ['purposes not an array', { purposes: 'login' }, 'purposes', /array/],
    ['unknown defaultCountry', { defaultCountry: 'XX' }, 'defaultCountry', /ISO 3166/],
    ['unknown allowed country', { allowedCountries: ['CN', 'ZZ'] }, 'allowedCountries.1', /ISO 3166/],
    ['codeLength too small', { codeLength: 3 }, 'codeLength', /integer from 4 to 10/],
    ['codeLength too large', { codeLength: 11 }, 'codeLength', /integer from 4 to 10/],
    ['codeLength not an integer', { codeLength: 6.5 }, 'codeLength', /integer from 4 to 10/],
    [
      'codeLength 4 without allowShortCodes',
      { codeLength: 4 },
      'codeLength',
      /at least 6 unless allowShortCodes/,
    ],
    ['codeLength 5 without allowShortCodes', { codeLength: 5 }, 'codeLength', /allowShortCodes: true/],
    ['allowShortCodes not boolean', { allowShortCodes: 1 }, 'allowShortCodes', /true or false/],
    ['allowNonGeographic not boolean', { allowNonGeographic: 'yes' }, 'allowNonGeographic', /true or false/],
    ['numberTypes not an object', { numberTypes: ['MOBILE'] }, 'numberTypes', /object/],
    ['an unknown number type', { numberTypes: { sms: ['CELL'] } }, 'numberTypes.sms.0', /MOBILE/],
    ['an empty list of number types', { numberTypes: { voice: [] } }, 'numberTypes.voice', /at least one/],
    ['a number type channel that is none', { numberTypes: { fax: ['MOBILE'] } }, 'numberTypes.fax', /.+/],
    [
      'perIpv6_48Hour zero',
      { sendLimits: { perIpv6_48Hour: 0 } },
      'sendLimits.perIpv6_48Hour',
      /integer from 1 to 1000000/,
    ],
    ['ttl too small', { ttl: 10 }, 'ttl', /integer from 30 to 86400/],
    ['ttl above 600 without allowLongTtl', { ttl: 900 }, 'ttl', /at most 600 seconds unless allowLongTtl/],
    ['allowLongTtl not boolean', { allowLongTtl: 'yes' }, 'allowLongTtl', /true or false/],
    ['resendCooldown zero', { resendCooldown: 0 }, 'resendCooldown', /integer from 1 to 3600/],
    ['maxAttempts too large', { maxAttempts: 11 }, 'maxAttempts', /integer from 1 to 10/],
    [
      'maxFailuresPerPhone above 1000',
      { maxFailuresPerPhone: 1001 },
      'maxFailuresPerPhone',
      /integer from 1 to 1000/,
    ],
    [
      'lockAfterFailures below maxFailuresPerPhone',
      { maxFailuresPerPhone: 30, lockAfterFailures: 29 },
      'lockAfterFailures',
      /at least maxFailuresPerPhone/,
    ],
    [
      'lockAfterFailures above 1000',
      { lockAfterFailures: 1001 },
      'lockAfterFailures',
      /integer from 1 to 1000/,
    ],
    [
      'captchaPastSendLimits not boolean',
      { captchaPastSendLimits: 'no' },
      'captchaPastSendLimits',
      /true or false/,
    ],
    ['requireRequestId not boolean', { requireRequestId: 0 }, 'requireRequestId', /true or false/],
    ['verifyLimits not an object', { verifyLimits: 60 }, 'verifyLimits', /object/],
    [
      'verifyLimits.perIpHour zero',
      { verifyLimits: { perIpHour: 0 } },
      'verifyLimits.perIpHour',
      /integer from 1 to 1000000/,
    ],
    [
      'breaker.minSubnets negative',
      { breaker: { minSubnets: -1 } },
      'breaker.minSubnets',
      /integer from 0 to 1000/,
    ],
    ['failureWindow too short', { failureWindow: 10 }, 'failureWindow', /integer from 60 to 604800/],
    ['sendLimits not an object', { sendLimits: 5 }, 'sendLimits', /object/],
    [
      'perPhoneHour zero',
      { sendLimits: { perPhoneHour: 0 } },
      'sendLimits.perPhoneHour',
      /integer from 1 to 1000/,
    ],
    [
      'perPhoneDay below perPhoneHour',
      { sendLimits: { perPhoneHour: 5, perPhoneDay: 3 } },
      'sendLimits.perPhoneDay',
      /at least/,
    ],
    ['perIpHour negative', { sendLimits: { perIpHour: -1 } }, 'sendLimits.perIpHour', /integer from 1/],
    ['tokenTtl too long', { tokenTtl: 7200 }, 'tokenTtl', /integer from 30 to 3600/],
    ['exposeCode not boolean', { exposeCode: 1 }, 'exposeCode', /true or false/],
    ['storeTimeout too small', { storeTimeout: 1 }, 'storeTimeout', /integer from 50 to 30000/],
    ['sendTimeout too large', { sendTimeout: 120_000 }, 'sendTimeout', /integer from 100 to 60000/],
    ['resolvePhone not a function', { resolvePhone: 'x' }, 'resolvePhone', /function/],
    ['logger without warn', { logger: {} }, 'logger', /warn/],
    ['clock not a function', { clock: 5 }, 'clock', /function/],
    ['unknown message set', { messages: 'fr' }, 'messages', /zh-CN/],
    ['formatResponse not a function', { formatResponse: {} }, 'formatResponse', /function/],
    ['cookie of wrong type', { cookie: 'yes' }, 'cookie', /.+/],
    ['cookie name with spaces', { cookie: { name: 'a b' } }, 'cookie.name', /letters/],
    [
      'resendCooldown list with a zero',
      { resendCooldown: [60, 0] },
      'resendCooldown.1',
      /integer from 1 to 3600/,
    ],
    ['resendCooldown of wrong type', { resendCooldown: '60' }, 'resendCooldown', /integer from 1 to 3600/],
    ['unknown blocked country', { blockedCountries: ['XX'] }, 'blockedCountries.0', /ISO 3166/],
    [
      'countryDailyLimits with a bad key',
      { countryDailyLimits: { Mars: 5 } },
      'countryDailyLimits.Mars',
      /ISO country codes, "001" \(non-geographic numbers\) or "\*"/,
    ],
    [
      'countryDailyLimits with a zero',
      { countryDailyLimits: { CN: 0 } },
      'countryDailyLimits.CN',
      /integer from 1/,
    ],
    ['dailyBudget zero', { dailyBudget: 0 }, 'dailyBudget', /integer from 1/],
    ['breaker of wrong type', { breaker: true }, 'breaker', /false or an object/],
    ['breaker threshold above 1', { breaker: { threshold: 1.5 } }, 'breaker.threshold', /number from 0 to 1/],
    ['breaker minVolume zero', { breaker: { minVolume: 0 } }, 'breaker.minVolume', /integer from 1/],
    ['breaker window too short', { breaker: { window: 10 } }, 'breaker.window', /integer from 60 to 86400/],
    ['breaker coolOff too short', { breaker: { coolOff: 1 } }, 'breaker.coolOff', /integer from 10 to 86400/],
    [
      'breaker prefixDigits too small',
      { breaker: { prefixDigits: 2 } },
      'breaker.prefixDigits',
      /integer from 3 to 14/,
    ],
    ['breaker action unknown', { breaker: { action: 'ban' } }, 'breaker.action', /"captcha" or "block"/],
    ['captcha of wrong type', { captcha: 'always' }, 'captcha', /object/],
    [
      'captcha policy unknown',
      { captcha: { policy: 'sometimes' } },
      'captcha.policy',
      /"never", "always" or "adaptive"/,
    ],
    [
      'captcha afterSendsPerIp negative',
      { captcha: { afterSendsPerIp: -1 } },
      'captcha.afterSendsPerIp',
      /integer from 0/,
    ],
    [
      'captcha afterSendsPerPhone too large',
      { captcha: { afterSendsPerPhone: 5000 } },
      'captcha.afterSendsPerPhone',
      /integer from 0 to 1000/,
    ],
    [
      'captcha verifier without verify',
      { captcha: { verifier: { name: 'x' } } },
      'captcha.verifier',
      /verifier/,
    ],
    [
      "captcha verifier 'vendor' with a sender (nobody would check the answers)",
      { captcha: { policy: 'always', verifier: 'vendor' }, sender: memorySender() },
      'captcha.verifier',
      /provider that checks captchas/,
    ],
    [
      "captcha verifier 'vendor' with a provider that does not check captchas",
      {
        captcha: { verifier: 'vendor' },
        sender: {
          kind: 'provider',
          name: 'p',
          start: async () => ({ ref: '', vendor: 'p' }),
          check: async () => true,
        },
      },
      'captcha.verifier',
      /p does not/,
    ],
    ['captcha ttl too long', { captcha: { ttl: 3600 } }, 'captcha.ttl', /integer from 30 to 600/],
    ['ipv6Subnet too short', { ipv6Subnet: 16 }, 'ipv6Subnet', /integer from 32 to 128/],
    [
      'a mistyped option',
      { maxAttempt: 3 },
      'maxAttempt',
      /is not an option \(did you mean "maxAttempts"\?\)/,
    ],
    ['an unknown option', { colour: 'red' }, 'colour', /is not an option$/],
    [
      'a mistyped nested option',
      { sendLimits: { perIpHours: 5 } },
      'sendLimits.perIpHours',
      /did you mean "perIpHour"/,
    ],
    [
      'a mistyped breaker option',
      { breaker: { treshold: 0.5 } },
      'breaker.treshold',
      /did you mean "threshold"/,
    ],
    ['a route option in the wrong case', { Cookie: true }, 'Cookie', /did you mean "cookie"/],
    ['a blocked country that is no country', { blockedCountries: ['002'] }, 'blockedCountries.0', /"001"/],
    ['captcha perIpHour zero', { captcha: { perIpHour: 0 } }, 'captcha.perIpHour', /integer from 1/],
    ['requireRequestId not boolean', { requireRequestId: 'yes' }, 'requireRequestId', /true or false/],
    [
      'testNumbers key not E.164',
      { testNumbers: { '13800000000': '123456' } },
      'testNumbers.13800000000',
      /E\.164/,
    ],
    [
      'testNumbers code not digits',
      { testNumbers: { '+8613800000000': 'abcdef' } },
      'testNumbers.+8613800000000',
      /4 to 10 digits/,
    ],
    [
      'testNumbers code of another length',
      { testNumbers: { '+8613800000000': '1234' } },
      'testNumbers.+8613800000000',
      /codeLength \(6\)/,
    ],
    ['testNumbersValidUntil not a date', { testNumbersValidUntil: 'soon' }, 'testNumbersValidUntil', /date/],
  ];

  it.each(cases)('rejects %s, naming the option', (_label, options, path, message) => {
    const error = configError({ secret, ...options });
    expect(error.path).toBe(path);
    expect(error.message).toContain(`"${path}"`);
    expect(error.message).toMatch(message);
  });

  it('requires a secret and a sender, and refuses exposeCode and open-ended test numbers, in production', () => {
    vi.stubEnv('NODE_ENV', 'production');
    expect(configError({}).path).toBe('secret');
    expect(configError({ secret }).path).toBe('sender');
    const sender = memorySender();
    expect(configError({ secret, sender, exposeCode: true }).path).toBe('exposeCode');
    expect(configError({ secret, sender, testNumbers: { '+8613800000000': '123456' } }).path).toBe(
      'testNumbersValidUntil',
    );
    expect(() =>
      createSmsOtp({
        secret,
        sender: memorySender(),
        testNumbers: { '+8613800000000': '123456' },
        testNumbersValidUntil: '2026-12-31T00:00:00Z',
      }),
    ).not.toThrow();
    expect(() => createSmsOtp({ secret, sender: consoleSender() })).not.toThrow();
  });

  it('makes a random secret outside production, with one warning per process', async () => {
    const warn = vi.fn();
    const a = createSmsOtp({ logger: { warn }, sender: memorySender() });
    const b = createSmsOtp({ logger: { warn }, sender: memorySender() });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/SMS_OTP_SECRET/);
    // Two processes (engines) with different random secrets do not accept each other's tokens.
    const store = new MemoryStore();
    const sender = memorySender();
    const c = createSmsOtp({ store, sender });
    const { requestId } = await c.send({ phone: '+8613800138000' });
    const { token } = await c.verify({
      phone: '+8613800138000',
      code: sender.outbox.last('+8613800138000')!.code,
      requestId,
    });
    await expect(a.checkToken(token)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    await expect(b.checkToken(token)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    await store.close();
  });

  it('warns when exposeCode is on with a sender that delivers, and only then', () => {
    const warnings: string[] = [];
    const logger = { warn: (message: string) => warnings.push(message) };
    const delivering = { kind: 'sender' as const, name: 'sms-co', send: async () => ({ vendor: 'sms-co' }) };
    createSmsOtp({ secret, logger, exposeCode: true, sender: delivering });
    expect(warnings).toEqual([expect.stringMatching(/exposeCode is on with sms-co/)]);
    createSmsOtp({ secret, logger, exposeCode: true, sender: memorySender() });
    createSmsOtp({ secret, logger, exposeCode: false, sender: delivering });
    expect(warnings).toHaveLength(1);
  });

  it('accepts 4- and 5-digit codes with allowShortCodes', () => {
    expect(createSmsOtp({ secret, codeLength: 4, allowShortCodes: true }).options.codeLength).toBe(4);
    expect(createSmsOtp({ secret, codeLength: 5, allowShortCodes: true }).options.codeLength).toBe(5);
  });

  it('accepts a long ttl with allowLongTtl', () => {
    expect(createSmsOtp({ secret, ttl: 900, allowLongTtl: true }).options.ttl).toBe(900);
  });
});
