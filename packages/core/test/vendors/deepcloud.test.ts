import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmsOtpConfigError } from '../../src/errors.js';
import { deepcloudCodes } from '../../src/vendors/deepcloud.js';
import type { CodeProvider } from '../../src/vendors/types.js';
import { DEEPCLOUD_TOKEN, type DeepcloudFake, startDeepcloudFake } from './fakes/deepcloud.js';
import { closedPortUrl } from './fakes/server.js';
import { expectNoSecrets, rejection } from './helpers.js';

const PREFIX = '/api/ucenter-service-provider/api/sms/code';
const request = (overrides: Partial<Record<string, unknown>> = {}) => ({
  phone: '+8618100000000',
  purpose: 'login',
  channel: 'sms' as const,
  ttl: 300,
  requestId: 'r1',
  ...overrides,
});
const check = (code: string) => ({ phone: '+8618100000000', purpose: 'login', code, ref: '' });

let fake: DeepcloudFake;
let provider: CodeProvider;
beforeEach(async () => {
  fake = await startDeepcloudFake();
  provider = deepcloudCodes({ accessToken: DEEPCLOUD_TOKEN, baseUrl: `${fake.url}/` });
});
afterEach(async () => {
  expect(fake.mismatches).toEqual([]);
  await fake.close();
});

describe('deepcloudCodes', () => {
  it('sends a plain code and verifies it', async () => {
    expect(await provider.start(request())).toEqual({ ref: '', vendor: 'deepcloud' });
    expect(fake.requests[0]!.path).toBe(`${PREFIX}/send`);
    expect(fake.requests[0]!.headers['x-deepcloud-from']).toBe('client');
    expect(fake.requests[0]!.headers.authorization).toBe(DEEPCLOUD_TOKEN);
    expect(fake.requests[0]!.json).toEqual({ mobile_no: '18100000000' });
    expect(await provider.check(check('000000'))).toBe(false);
    expect(await provider.check(check('267540'))).toBe(true);
    expect(fake.requests[2]!.path).toBe(`${PREFIX}/verify`);
    expect(fake.requests[2]!.json).toEqual({ mobile_no: '18100000000', code: '267540' });
  });

  it('uses the captcha send when the request carries captchaKey + captcha', async () => {
    await provider.start(request({ captchaKey: '2ecd1fc5-f7c1-4e25-aa96-24b881ac5bfd', captcha: 'cnxdg' }));
    expect(fake.requests[0]!.path).toBe(`${PREFIX}/captcha/send`);
    expect(fake.requests[0]!.json).toEqual({
      mobile_no: '18100000000',
      key: '2ecd1fc5-f7c1-4e25-aa96-24b881ac5bfd',
      captcha: 'cnxdg',
    });
    expect(fake.codes.get('18100000000')).toBe('267540');
  });

  it('maps a wrong captcha (envelope 400 on the captcha send) to CAPTCHA_INVALID', async () => {
    const error = await rejection(
      provider.start(request({ captchaKey: '2ecd1fc5-f7c1-4e25-aa96-24b881ac5bfd', captcha: 'wrong' })),
    );
    expect(error.code).toBe('CAPTCHA_INVALID');
    expect(error.details).toEqual({
      vendor: 'deepcloud',
      vendorCode: '400',
      vendorMessage: '图形验证码错误',
    });
  });

  it('refuses half a captcha without calling DeepCloud', async () => {
    const error = await rejection(provider.start(request({ captchaKey: 'k' })));
    expect(error.code).toBe('CAPTCHA_REQUIRED');
    expect(fake.requests).toHaveLength(0);
  });

  it('sends by guid when the request carries userId', async () => {
    await provider.start(request({ userId: '18111111111111111' }));
    expect(fake.requests[0]!.path).toBe(`${PREFIX}/guid/send`);
    expect(fake.requests[0]!.json).toEqual({ guid: '18111111111111111' });
  });

  it('maps envelope 400 on a guid send (unknown user) to SEND_FAILED reason rejected', async () => {
    const error = await rejection(provider.start(request({ userId: 'nobody' })));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toMatchObject({
      reason: 'rejected',
      vendorCode: '400',
      vendorMessage: '用户不存在',
    });
  });

  it.each([
    [{ code: 429, message: 'Too Many Requests' }, 'RATE_LIMITED', undefined],
    [{ code: 400, message: '短信发送过于频繁' }, 'RATE_LIMITED', undefined],
    [{ code: 401, message: 'invalid access token' }, 'SEND_FAILED', 'auth'],
    [{ code: 403, message: 'forbidden' }, 'SEND_FAILED', 'auth'],
    [{ code: 500, message: '系统异常' }, 'SEND_FAILED', 'vendor_error'],
  ])('maps envelope %j', async (envelope, code, reason) => {
    fake.envelope = envelope;
    const error = await rejection(provider.start(request()));
    expect(error.code).toBe(code);
    expect(error.details).toMatchObject({
      vendorCode: String(envelope.code),
      vendorMessage: envelope.message,
    });
    expect(error.details.reason).toBe(reason);
    expectNoSecrets(error, [DEEPCLOUD_TOKEN]);
  });

  it('calls an accessToken function before each request', async () => {
    let calls = 0;
    const dynamic = deepcloudCodes({
      accessToken: async () => {
        calls += 1;
        return DEEPCLOUD_TOKEN;
      },
      baseUrl: fake.url,
    });
    await dynamic.start(request());
    await dynamic.check(check('267540'));
    expect(calls).toBe(2);
  });

  it('turns a failing accessToken function into SEND_FAILED reason auth, without its message', async () => {
    const broken = deepcloudCodes({
      accessToken: () => {
        throw new Error(`cannot refresh ${DEEPCLOUD_TOKEN}`);
      },
      baseUrl: fake.url,
    });
    const error = await rejection(broken.start(request()));
    expect(error.details).toEqual({ vendor: 'deepcloud', reason: 'auth', tokenError: true });
    expectNoSecrets(error, [DEEPCLOUD_TOKEN]);
    expect(fake.requests).toHaveLength(0);
  });

  describe('transport failures → SEND_FAILED with a reason', () => {
    it('timeout', async () => {
      fake.misbehave = 'hang';
      const quick = deepcloudCodes({ accessToken: DEEPCLOUD_TOKEN, baseUrl: fake.url, timeout: 50 });
      const error = await rejection(quick.check(check('267540')));
      expect(error.details).toEqual({ vendor: 'deepcloud', reason: 'timeout', timeoutMs: 50 });
    });

    it('HTTP 5xx', async () => {
      fake.misbehave = 'status500';
      const error = await rejection(provider.start(request()));
      expect(error.details).toEqual({ vendor: 'deepcloud', reason: 'http_error', httpStatus: 500 });
    });

    it('HTML instead of JSON', async () => {
      fake.misbehave = 'html';
      const error = await rejection(provider.start(request()));
      expect(error.details).toEqual({ vendor: 'deepcloud', reason: 'bad_response', httpStatus: 200 });
    });

    it('connection refused', async () => {
      const refused = deepcloudCodes({ accessToken: DEEPCLOUD_TOKEN, baseUrl: await closedPortUrl() });
      const error = await rejection(refused.start(request()));
      expect(error.details).toEqual({ vendor: 'deepcloud', reason: 'network', errno: 'ECONNREFUSED' });
      expectNoSecrets(error, [DEEPCLOUD_TOKEN]);
    });
  });
});

describe('deepcloudCodes options', () => {
  it.each([
    [{ accessToken: DEEPCLOUD_TOKEN }, 'deepcloud.baseUrl'],
    [{ baseUrl: 'https://uc.example.com' }, 'deepcloud.accessToken'],
    [{ accessToken: 42, baseUrl: 'https://uc.example.com' }, 'deepcloud.accessToken'],
    [{ accessToken: DEEPCLOUD_TOKEN, baseUrl: 'ftp://uc.example.com' }, 'deepcloud.baseUrl'],
  ])('throws SmsOtpConfigError naming the option (%#)', (options, path) => {
    let thrown: unknown;
    try {
      deepcloudCodes(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SmsOtpConfigError);
    expect((thrown as SmsOtpConfigError).path).toBe(path);
    expect((thrown as Error).message).not.toContain(DEEPCLOUD_TOKEN);
  });
});
