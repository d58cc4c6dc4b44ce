import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmsOtpConfigError } from '../../src/errors.js';
import { jpushAuthorization, jpushCodes, jpushSender } from '../../src/vendors/jpush.js';
import type { CodeProvider, Sender } from '../../src/vendors/types.js';
import { JPUSH, JPUSH_TABLE, type JpushFake, startJpushFake } from './fakes/jpush.js';
import { closedPortUrl } from './fakes/server.js';
import { codeMessage, expectNoSecrets, rejection } from './helpers.js';

const BASIC = 'Basic N2Q0MzFlNDJkZmE2YTZkNjkzYWMyZDA0OjVlOTg3YWM2ZDJlMDRkOTVhOWQ4ZjBkMQ==';
const SECRETS = [JPUSH.masterSecret, BASIC.slice(6)];

/** What each documented error must become on a send: [code, reason]. */
const EXPECTED_SEND: Record<string, [string, string | undefined]> = {
  '50001': ['SEND_FAILED', 'auth'],
  '50002': ['SEND_FAILED', 'auth'],
  '50003': ['SEND_FAILED', 'bad_request'],
  '50004': ['SEND_FAILED', 'bad_request'],
  '50005': ['SEND_FAILED', 'config'],
  '50006': ['INVALID_PHONE', undefined],
  '50007': ['SEND_FAILED', 'bad_request'],
  '50008': ['SEND_FAILED', 'config'],
  '50009': ['RATE_LIMITED', undefined],
  '50013': ['SEND_FAILED', 'config'],
  '50014': ['SEND_FAILED', 'balance'],
  '50016': ['SEND_FAILED', 'bad_request'],
  '50017': ['SEND_FAILED', 'bad_request'],
  '50018': ['SEND_FAILED', 'bad_request'],
  '50020': ['SEND_FAILED', 'template'],
  '50021': ['SEND_FAILED', 'template'],
  '50022': ['SEND_FAILED', 'template'],
  '50023': ['SEND_FAILED', 'template'],
};

const request = (overrides: Partial<Record<string, unknown>> = {}) => ({
  phone: '+8613800138000',
  purpose: 'login',
  channel: 'sms' as const,
  ttl: 300,
  requestId: 'r1',
  ...overrides,
});

let fake: JpushFake;
beforeEach(async () => {
  fake = await startJpushFake();
});
afterEach(async () => {
  expect(fake.mismatches).toEqual([]);
  await fake.close();
});

it('builds HTTP Basic auth from appKey:masterSecret (known vector)', () => {
  expect(jpushAuthorization(JPUSH.appKey, JPUSH.masterSecret)).toBe(BASIC);
});

describe('jpushSender', () => {
  let sender: Sender;
  beforeEach(() => {
    sender = jpushSender({ ...JPUSH, templateId: 1, baseUrl: fake.url });
  });

  it('sends a code as a template message with temp_para { code }', async () => {
    const receipt = await sender.send(codeMessage());
    expect(receipt).toEqual({ vendor: 'jpush', messageId: '124681' });
    expect(fake.requests[0]!.path).toBe('/v1/messages');
    expect(fake.requests[0]!.headers.authorization).toBe(BASIC);
    expect(fake.requests[0]!.json).toEqual({
      mobile: '13800138000',
      temp_id: 1,
      temp_para: { code: '482913' },
    });
  });

  it('takes configurable temp_para and sign_id', async () => {
    const custom = jpushSender({
      ...JPUSH,
      templateId: '42',
      signId: 7,
      baseUrl: fake.url,
      params: (code, minutes) => ({ code, minutes: String(minutes) }),
    });
    await custom.send(codeMessage({ ttl: 600 }));
    expect(fake.messages[0]).toEqual({
      mobile: '13800138000',
      temp_id: 42,
      temp_para: { code: '482913', minutes: '10' },
      sign_id: 7,
    });
  });

  it('sends a template to several numbers, one request per number', async () => {
    const receipts = await sender.sendTemplate!({
      phones: ['+8613800138000', '+8613900139000', '+8615000150000'],
      templateId: '5',
      params: { order: 'A-42' },
    });
    expect(receipts.map((r) => r.messageId)).toEqual(['124681', '124682', '124683']);
    expect(fake.messages.map((m) => m.mobile)).toEqual(['13800138000', '13900139000', '15000150000']);
    expect(fake.messages.every((m) => m.temp_id === 5 && m.temp_para.order === 'A-42')).toBe(true);
  });

  it('refuses list params for a template (JPush takes named temp_para)', async () => {
    const error = await rejection(
      sender.sendTemplate!({ phones: ['+8613800138000'], templateId: '5', params: ['x'] }),
    );
    expect(error.code).toBe('INVALID_REQUEST');
    expect(fake.requests).toHaveLength(0);
  });

  it.each(Object.entries(EXPECTED_SEND))(
    'maps error %s as the table says',
    async (vendorCode, [code, reason]) => {
      fake.sendError = vendorCode;
      const error = await rejection(sender.send(codeMessage()));
      expect(error.code).toBe(code);
      expect(error.details).toMatchObject({
        vendor: 'jpush',
        vendorCode,
        vendorMessage: JPUSH_TABLE[vendorCode]![1],
      });
      expect(error.details.reason).toBe(reason);
      if (code === 'RATE_LIMITED') expect(error.details.retryAfter).toBe(60);
      expectNoSecrets(error, SECRETS);
    },
  );

  it('keeps the vendor code of a 500 answer (50019)', async () => {
    fake.sendError = '50019';
    const error = await rejection(sender.send(codeMessage()));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toEqual({
      vendor: 'jpush',
      reason: 'http_error',
      httpStatus: 500,
      vendorCode: '50019',
      vendorMessage: 'server error',
    });
  });

  it('refuses numbers outside mainland China before calling JPush', async () => {
    const error = await rejection(sender.send(codeMessage({ phone: '+14155550123' })));
    expect(error.code).toBe('INVALID_PHONE');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('jpushCodes', () => {
  let provider: CodeProvider;
  beforeEach(() => {
    provider = jpushCodes({ ...JPUSH, templateId: 1, baseUrl: fake.url });
  });

  it('starts an SMS code and checks it by msg_id', async () => {
    const started = await provider.start(request());
    expect(fake.requests[0]!.path).toBe('/v1/codes');
    expect(fake.requests[0]!.json).toEqual({ mobile: '13800138000', temp_id: 1 });
    expect(fake.codes.has(started.ref)).toBe(true);
    expect(started).toEqual({ ref: started.ref, vendor: 'jpush', messageId: started.ref });

    expect(
      await provider.check({ phone: '+8613800138000', purpose: 'login', code: '000000', ref: started.ref }),
    ).toBe(false);
    expect(
      await provider.check({ phone: '+8613800138000', purpose: 'login', code: '352353', ref: started.ref }),
    ).toBe(true);
    expect(fake.requests[1]!.path).toBe(`/v1/codes/${started.ref}/valid`);
    expect(fake.requests[1]!.json).toEqual({ code: '000000' });
    expect(fake.requests[1]!.headers.authorization).toBe(BASIC);
  });

  it('passes sign_id when configured', async () => {
    const signed = jpushCodes({ ...JPUSH, templateId: 1, signId: 3, baseUrl: fake.url });
    await signed.start(request());
    expect(fake.requests[0]!.json).toEqual({ mobile: '13800138000', temp_id: 1, sign_id: 3 });
  });

  it('starts a voice code with ttl (voiceTtl, else the code ttl)', async () => {
    expect(provider.channels).toEqual(['sms', 'voice']);
    await provider.start(request({ channel: 'voice', ttl: 180 }));
    expect(fake.requests[0]!.path).toBe('/v1/voice_codes');
    expect(fake.requests[0]!.json).toEqual({ mobile: '13800138000', ttl: 180 });
    const fixed = jpushCodes({ ...JPUSH, templateId: 1, voiceTtl: 60, baseUrl: fake.url });
    await fixed.start(request({ channel: 'voice' }));
    expect(fake.requests[1]!.json).toEqual({ mobile: '13800138000', ttl: 60 });
  });

  it('rejects an already verified code (50012) with CODE_EXPIRED', async () => {
    const { ref } = await provider.start(request());
    await provider.check({ phone: '+8613800138000', purpose: 'login', code: '352353', ref });
    const error = await rejection(
      provider.check({ phone: '+8613800138000', purpose: 'login', code: '352353', ref }),
    );
    expect(error.code).toBe('CODE_EXPIRED');
    expect(error.details).toMatchObject({ vendor: 'jpush', vendorCode: '50012' });
  });

  it('rejects an expired code (50011) with CODE_EXPIRED', async () => {
    const { ref } = await provider.start(request());
    fake.codes.get(ref)!.state = 'expired';
    const error = await rejection(
      provider.check({ phone: '+8613800138000', purpose: 'login', code: '352353', ref }),
    );
    expect(error.code).toBe('CODE_EXPIRED');
    expect(error.details).toMatchObject({ vendorCode: '50011', vendorMessage: 'expired code' });
  });

  it('resolves false for a missing code answer (50015)', async () => {
    const { ref } = await provider.start(request());
    fake.validError = '50015';
    expect(await provider.check({ phone: '+8613800138000', purpose: 'login', code: '1', ref })).toBe(false);
  });

  it('rejects an auth failure during check with SEND_FAILED, without secrets', async () => {
    const { ref } = await provider.start(request());
    fake.validError = '50002';
    const error = await rejection(
      provider.check({ phone: '+8613800138000', purpose: 'login', code: '1', ref }),
    );
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toMatchObject({ reason: 'auth', vendorCode: '50002' });
    expectNoSecrets(error, SECRETS);
  });

  it.each([
    ['50009', 'RATE_LIMITED', undefined],
    ['50006', 'INVALID_PHONE', undefined],
    ['50014', 'SEND_FAILED', 'balance'],
    ['50013', 'SEND_FAILED', 'config'],
  ])('maps start error %s', async (vendorCode, code, reason) => {
    fake.sendError = vendorCode;
    const error = await rejection(provider.start(request()));
    expect(error.code).toBe(code);
    expect(error.details.vendorCode).toBe(vendorCode);
    expect(error.details.reason).toBe(reason);
  });
});

describe('JPush transport failures → SEND_FAILED with a reason, and no secret', () => {
  it('timeout', async () => {
    fake.misbehave = 'hang';
    const provider = jpushCodes({ ...JPUSH, templateId: 1, baseUrl: fake.url, timeout: 50 });
    const error = await rejection(provider.start(request()));
    expect(error.details).toEqual({ vendor: 'jpush', reason: 'timeout', timeoutMs: 50 });
    expectNoSecrets(error, SECRETS);
  });

  it('HTTP 5xx', async () => {
    fake.misbehave = 'status500';
    const sender = jpushSender({ ...JPUSH, templateId: 1, baseUrl: fake.url });
    const error = await rejection(sender.send(codeMessage()));
    expect(error.details).toEqual({ vendor: 'jpush', reason: 'http_error', httpStatus: 500 });
  });

  it('HTML instead of JSON', async () => {
    fake.misbehave = 'html';
    const provider = jpushCodes({ ...JPUSH, templateId: 1, baseUrl: fake.url });
    const error = await rejection(provider.start(request()));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toEqual({ vendor: 'jpush', reason: 'bad_response', httpStatus: 200 });
  });

  it('connection refused', async () => {
    const sender = jpushSender({ ...JPUSH, templateId: 1, baseUrl: await closedPortUrl() });
    const error = await rejection(sender.send(codeMessage()));
    expect(error.details).toEqual({ vendor: 'jpush', reason: 'network', errno: 'ECONNREFUSED' });
    expectNoSecrets(error, SECRETS);
  });
});

describe('JPush options', () => {
  it.each([
    [() => jpushSender({ ...JPUSH, templateId: 0 }), 'jpush.templateId'],
    [() => jpushSender({ appKey: JPUSH.appKey, templateId: 1 } as never), 'jpush.masterSecret'],
    [() => jpushCodes({ ...JPUSH, templateId: 1, voiceTtl: -5 }), 'jpush.voiceTtl'],
    [() => jpushCodes({ ...JPUSH, templateId: 1, signId: 'abc' }), 'jpush.signId'],
  ])('throws SmsOtpConfigError naming the option (%#)', (make, path) => {
    expect(make).toThrow(SmsOtpConfigError);
    try {
      make();
    } catch (error) {
      expect((error as SmsOtpConfigError).path).toBe(path);
      expect((error as Error).message).not.toContain(JPUSH.masterSecret);
    }
  });
});
