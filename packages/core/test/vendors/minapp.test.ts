import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmsOtpConfigError } from '../../src/errors.js';
import { minappCodes } from '../../src/vendors/minapp.js';
import type { CodeProvider } from '../../src/vendors/types.js';
import { MINAPP_TOKEN, type MinappFake, startMinappFake } from './fakes/minapp.js';
import { closedPortUrl } from './fakes/server.js';
import { expectNoSecrets, rejection } from './helpers.js';

const request = (overrides: Partial<Record<string, unknown>> = {}) => ({
  phone: '+8613800138000',
  purpose: 'login',
  channel: 'sms' as const,
  ttl: 300,
  requestId: 'r1',
  userId: '66879698',
  ...overrides,
});
const check = (code: string, overrides: Partial<Record<string, unknown>> = {}) => ({
  phone: '+8613800138000',
  purpose: 'login',
  code,
  ref: '',
  userId: '66879698',
  ...overrides,
});

let fake: MinappFake;
let provider: CodeProvider;
beforeEach(async () => {
  fake = await startMinappFake();
  provider = minappCodes({ token: MINAPP_TOKEN, baseUrl: fake.url });
});
afterEach(async () => {
  expect(fake.mismatches).toEqual([]);
  await fake.close();
});

describe('minappCodes', () => {
  it('sends a code and verifies it', async () => {
    expect(await provider.start(request())).toEqual({ ref: '66879698', vendor: 'minapp' });
    expect(fake.requests[0]!.path).toBe('/oserve/v2.1/sms-verification-code/');
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${MINAPP_TOKEN}`);
    expect(fake.requests[0]!.json).toEqual({ phone: '13800138000', user_id: 66879698 });
    expect(await provider.check(check('000000', { ref: '66879698', userId: undefined }))).toBe(false);
    expect(await provider.check(check('352353', { ref: '66879698', userId: undefined }))).toBe(true);
    expect(fake.requests[2]!.path).toBe('/oserve/v1.8/sms-verification-code/verify/');
    expect(fake.requests[2]!.json).toEqual({ phone: '13800138000', code: '352353', user_id: 66879698 });
  });

  it('passes signature_id and resolves user_id through resolveUserId', async () => {
    const seen: string[] = [];
    const custom = minappCodes({
      token: MINAPP_TOKEN,
      baseUrl: fake.url,
      signatureId: 1,
      resolveUserId: async (phone) => {
        seen.push(phone);
        return 42;
      },
    });
    await custom.start(request({ userId: undefined }));
    expect(fake.requests[0]!.json).toEqual({ phone: '13800138000', user_id: 42, signature_id: 1 });
    expect(seen).toEqual(['+8613800138000']);
  });

  it('verifies for the user_id the code was sent to (ref), not one looked up again', async () => {
    const lookups: string[] = [];
    const custom = minappCodes({
      token: MINAPP_TOKEN,
      baseUrl: fake.url,
      resolveUserId: (phone) => {
        lookups.push(phone);
        return 7;
      },
    });
    const { ref } = await custom.start(request({ userId: '123' }));
    expect(ref).toBe('123');
    expect(await custom.check(check('352353', { ref, userId: undefined }))).toBe(true);
    expect(fake.requests[1]!.json).toEqual({ phone: '13800138000', code: '352353', user_id: 123 });
    expect(lookups).toEqual([]);
  });

  it('refuses a request without user id when no resolveUserId is set', async () => {
    const error = await rejection(provider.start(request({ userId: undefined })));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.details.field).toBe('userId');
    expect(fake.requests).toHaveLength(0);
  });

  it('maps 400 about frequency to RATE_LIMITED', async () => {
    fake.sendReply = { status: 400, body: { error_msg: '发送过于频繁, rate limit exceeded' } };
    const error = await rejection(provider.start(request()));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.details).toMatchObject({ vendor: 'minapp', vendorCode: '400', httpStatus: 400 });
    expectNoSecrets(error, [MINAPP_TOKEN]);
  });

  it('maps 400 about the signature to SEND_FAILED reason signature', async () => {
    fake.sendReply = { status: 400, body: { error_msg: '短信签名未通过审核' } };
    const error = await rejection(provider.start(request()));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toMatchObject({ reason: 'signature', vendorMessage: '短信签名未通过审核' });
  });

  it('maps an unexplained 400 to SEND_FAILED reason rejected', async () => {
    fake.sendReply = { status: 400, text: '' };
    const error = await rejection(provider.start(request()));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toMatchObject({ reason: 'rejected', httpStatus: 400 });
  });

  it('maps 402 (arrears) to SEND_FAILED reason arrears, on send and on verify', async () => {
    fake.sendReply = { status: 402, body: { error_msg: 'payment required' } };
    const error = await rejection(provider.start(request()));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toMatchObject({ vendor: 'minapp', reason: 'arrears', vendorCode: '402' });
    fake.verifyReply = { status: 402, body: {} };
    const verifyError = await rejection(provider.check(check('1')));
    expect(verifyError.details.reason).toBe('arrears');
  });

  it('maps 401 to SEND_FAILED reason auth without leaking the token', async () => {
    fake.sendReply = { status: 401, body: { error_msg: 'unauthorized' } };
    const error = await rejection(provider.start(request()));
    expect(error.details.reason).toBe('auth');
    expectNoSecrets(error, [MINAPP_TOKEN]);
  });

  it('refuses voice and non-Chinese numbers without calling MinApp', async () => {
    expect((await rejection(provider.start(request({ channel: 'voice' })))).details.reason).toBe(
      'unsupported_channel',
    );
    expect((await rejection(provider.start(request({ phone: '+85512345678' })))).code).toBe('INVALID_PHONE');
    expect(fake.requests).toHaveLength(0);
  });

  describe('transport failures → SEND_FAILED with a reason', () => {
    it('timeout', async () => {
      fake.misbehave = 'hang';
      const quick = minappCodes({ token: MINAPP_TOKEN, baseUrl: fake.url, timeout: 50 });
      const error = await rejection(quick.start(request()));
      expect(error.details).toEqual({ vendor: 'minapp', reason: 'timeout', timeoutMs: 50 });
    });

    it('HTTP 5xx', async () => {
      fake.misbehave = 'status502-json';
      const error = await rejection(provider.check(check('352353')));
      expect(error.details).toEqual({ vendor: 'minapp', reason: 'http_error', httpStatus: 502 });
    });

    it('HTML instead of JSON', async () => {
      fake.misbehave = 'html';
      const error = await rejection(provider.start(request()));
      expect(error.details).toEqual({ vendor: 'minapp', reason: 'bad_response', httpStatus: 200 });
      expectNoSecrets(error, [MINAPP_TOKEN]);
    });

    it('connection refused', async () => {
      const refused = minappCodes({ token: MINAPP_TOKEN, baseUrl: await closedPortUrl() });
      const error = await rejection(refused.start(request()));
      expect(error.details).toEqual({ vendor: 'minapp', reason: 'network', errno: 'ECONNREFUSED' });
      expectNoSecrets(error, [MINAPP_TOKEN]);
    });
  });
});

describe('minappCodes options', () => {
  it.each([
    [{}, 'minapp.token'],
    [{ token: 'abc def' }, 'minapp.token'],
    [{ token: MINAPP_TOKEN, signatureId: 1.5 }, 'minapp.signatureId'],
    [{ token: MINAPP_TOKEN, resolveUserId: 5 }, 'minapp.resolveUserId'],
  ])('throws SmsOtpConfigError naming the option (%#)', (options, path) => {
    let thrown: unknown;
    try {
      minappCodes(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SmsOtpConfigError);
    expect((thrown as SmsOtpConfigError).path).toBe(path);
  });
});
