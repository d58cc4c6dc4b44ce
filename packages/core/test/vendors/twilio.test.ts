import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSmsOtp } from '../../src/create-sms-otp.js';
import { SmsOtpConfigError } from '../../src/errors.js';
import { aliyunSender } from '../../src/vendors/aliyun.js';
import { failover } from '../../src/vendors/failover.js';
import { ronglianSender } from '../../src/vendors/ronglian.js';
import {
  TWILIO_REQUEST_ID_PARAM,
  twilioAuthorization,
  twilioSender,
  twilioVerify,
} from '../../src/vendors/twilio.js';
import { ALIYUN, startAliyunFake } from './fakes/aliyun.js';
import { RONGLIAN, startRonglianFake } from './fakes/ronglian.js';
import { closedPortUrl } from './fakes/server.js';
import {
  startTwilioFake,
  TWILIO,
  TWILIO_FROM,
  TWILIO_SERVICE_SID,
  TWILIO_TABLE,
  type TwilioFake,
} from './fakes/twilio.js';
import { codeMessage, expectNoSecrets, rejection } from './helpers.js';

const BASIC = twilioAuthorization(TWILIO.accountSid, TWILIO.authToken);
const SECRETS = [TWILIO.authToken, BASIC.slice(6)];

let fake: TwilioFake;
beforeEach(async () => {
  fake = await startTwilioFake();
});
afterEach(async () => {
  expect(fake.mismatches).toEqual([]);
  await fake.close();
});

const usMessage = (overrides: Partial<Record<string, unknown>> = {}) =>
  codeMessage({ phone: '+14155550100', ...overrides });

it('builds HTTP Basic auth from accountSid:authToken', () => {
  expect(twilioAuthorization('ACxxxxxxxx', 'token')).toBe('Basic QUN4eHh4eHh4eDp0b2tlbg==');
});

describe('twilioSender', () => {
  const sender = (extra: Record<string, unknown> = {}) =>
    twilioSender({ ...TWILIO, from: TWILIO_FROM, baseUrl: fake.url, ...extra });

  it('sends the code as a form POST with To, From and the default body; the sid is the message id', async () => {
    const receipt = await sender().send(usMessage());
    expect(receipt.vendor).toBe('twilio');
    expect(receipt.messageId).toMatch(/^SM[0-9a-f]{32}$/);
    expect(fake.messages).toEqual([
      {
        To: '+14155550100',
        From: TWILIO_FROM,
        Body: 'Your verification code is 482913. It expires in 5 minutes.',
      },
    ]);
  });

  it('any country: a +86 and a +44 number go out as E.164', async () => {
    await sender().send(codeMessage({ phone: '+8613800138000' }));
    await sender().send(codeMessage({ phone: '+447700900123' }));
    expect(fake.messages.map((m) => m.To)).toEqual(['+8613800138000', '+447700900123']);
  });

  it('sends through a Messaging Service instead of From', async () => {
    const sid = `MG${'0'.repeat(32)}`;
    await twilioSender({ ...TWILIO, messagingServiceSid: sid, baseUrl: fake.url }).send(usMessage());
    expect(fake.messages[0]).toEqual(expect.objectContaining({ MessagingServiceSid: sid }));
    expect(fake.messages[0]).not.toHaveProperty('From');
  });

  it('fills a body template or function, per purpose; a purpose without one is refused at start-up', async () => {
    const s = sender({
      body: {
        login: 'Login code {code} ({minutes} min)',
        'reset-password': (code: string, minutes: number) => `Reset: ${code}/${minutes}`,
      },
    });
    expect(s.purposes).toEqual(['login', 'reset-password']);
    await s.send(usMessage({ purpose: 'login', ttl: 90 }));
    await s.send(usMessage({ purpose: 'reset-password' }));
    expect(fake.messages.map((m) => m.Body)).toEqual(['Login code 482913 (2 min)', 'Reset: 482913/5']);
    expect(() =>
      createSmsOtp({
        secret: 'twilio-test-secret-twilio-test-secret-!!-0123456789ABCDEF',
        sender: sender({ body: { login: 'Code {code}' } }),
        purposes: ['login', 'reset-password'],
      }),
    ).toThrow(/no template for purpose "reset-password"/);
  });

  it('adds StatusCallback with the requestId when statusCallback is set', async () => {
    await sender({ statusCallback: 'https://example.com/sms/receipts/twilio' }).send(usMessage());
    const callback = new URL(fake.messages[0]!.StatusCallback!);
    expect(callback.origin + callback.pathname).toBe('https://example.com/sms/receipts/twilio');
    expect(callback.searchParams.get(TWILIO_REQUEST_ID_PARAM)).toBe(codeMessage().requestId);
  });

  it.each([
    ['+15005550001', 'INVALID_PHONE', undefined, '21211'],
    ['+15005550009', 'INVALID_PHONE', 'not_mobile', '21614'],
    ['+15005550003', 'INVALID_PHONE', 'unsupported_country', '21408'],
    ['+15005550004', 'INVALID_PHONE', 'unsubscribed', '21610'],
    ['+15005550002', 'INVALID_PHONE', 'unsupported_country', '21612'],
  ])('Twilio magic number %s → %s (%s), vendorCode %s', async (phone, code, reason, vendorCode) => {
    const error = await rejection(sender().send(usMessage({ phone })));
    expect(error.code).toBe(code);
    expect(error.details.reason).toBe(reason);
    expect(error.details.vendorCode).toBe(vendorCode);
    expectNoSecrets(error, SECRETS);
  });

  it.each([
    ['20429', 'RATE_LIMITED', undefined],
    ['14107', 'RATE_LIMITED', undefined],
    ['21608', 'SEND_FAILED', 'config'],
    ['21606', 'SEND_FAILED', 'config'],
  ])('documented error %s → %s (%s)', async (vendorCode, code, reason) => {
    fake.sendError = vendorCode;
    const error = await rejection(sender().send(usMessage()));
    expect(error.code).toBe(code);
    expect(error.details.reason).toBe(reason);
    expect(error.details.vendorCode).toBe(vendorCode);
    expect(error.details.httpStatus).toBe(TWILIO_TABLE[vendorCode]![0]);
    if (code === 'RATE_LIMITED') expect(error.details.retryAfter).toBe(60);
  });

  it('a wrong auth token is 20003 → SEND_FAILED reason auth, and the token is nowhere', async () => {
    const wrong = 'ffffffffffffffffffffffffffffffff';
    const error = await rejection(sender({ authToken: wrong }).send(usMessage()));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toMatchObject({ reason: 'auth', vendorCode: '20003', httpStatus: 401 });
    expectNoSecrets(error, [wrong, ...SECRETS]);
    expect(inspect(error, { depth: 5 })).not.toContain(wrong);
  });

  it('a body over 1600 characters is refused by Twilio (21617 → template)', async () => {
    const error = await rejection(sender({ body: () => 'x'.repeat(1601) }).send(usMessage()));
    expect(error.details).toMatchObject({ reason: 'template', vendorCode: '21617' });
  });

  it('refuses voice and a malformed number before any request', async () => {
    expect((await rejection(sender().send(usMessage({ channel: 'voice' })))).details.reason).toBe(
      'unsupported_channel',
    );
    expect((await rejection(sender().send(usMessage({ phone: '12345' })))).code).toBe('INVALID_PHONE');
    expect(fake.requests).toHaveLength(0);
  });

  it('transport failures: timeout, 5xx, HTML, connection refused', async () => {
    fake.misbehave = 'hang';
    expect((await rejection(sender({ timeout: 100 }).send(usMessage()))).details.reason).toBe('timeout');
    fake.misbehave = 'status503';
    expect((await rejection(sender().send(usMessage()))).details).toMatchObject({
      reason: 'http_error',
      httpStatus: 503,
    });
    fake.misbehave = 'html';
    expect((await rejection(sender().send(usMessage()))).details.reason).toBe('bad_response');
    fake.misbehave = undefined;
    const closed = await rejection(sender({ baseUrl: await closedPortUrl() }).send(usMessage()));
    expect(closed.details).toMatchObject({ reason: 'network', errno: 'ECONNREFUSED' });
  });

  it('checks its options at construction', () => {
    expect(() => twilioSender({ ...TWILIO })).toThrow(SmsOtpConfigError);
    expect(() =>
      twilioSender({ ...TWILIO, from: TWILIO_FROM, messagingServiceSid: `MG${'0'.repeat(32)}` }),
    ).toThrow(/"twilio.from": give exactly one of from and messagingServiceSid/);
    expect(() => twilioSender({ ...TWILIO, from: TWILIO_FROM, body: 'no placeholder' })).toThrow(
      /twilio\.body/,
    );
    const error = (() => {
      try {
        twilioSender({
          accountSid: TWILIO.accountSid,
          authToken: `${TWILIO.authToken} x`,
          from: TWILIO_FROM,
        });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SmsOtpConfigError);
    expect(inspect(error)).not.toContain(TWILIO.authToken);
  });
});

describe('twilioVerify', () => {
  const provider = (extra: Record<string, unknown> = {}) =>
    twilioVerify({ ...TWILIO, serviceSid: TWILIO_SERVICE_SID, baseUrl: fake.url, ...extra });
  const request = (overrides: Partial<Record<string, unknown>> = {}) => ({
    phone: '+14155550100',
    purpose: 'login',
    channel: 'sms' as const,
    ttl: 300,
    requestId: 'r1',
    ...overrides,
  });

  it('starts an SMS verification (ref = VE sid), a wrong code is false, the right one true', async () => {
    const p = provider();
    const { ref, vendor, messageId } = await p.start(request());
    expect(ref).toMatch(/^VE[0-9a-f]{32}$/);
    expect(vendor).toBe('twilio-verify');
    expect(messageId).toBe(ref);
    const code = fake.codeFor('+14155550100')!;
    const wrong = code === '000000' ? '111111' : '000000';
    expect(await p.check({ phone: '+14155550100', purpose: 'login', code: wrong, ref })).toBe(false);
    expect(await p.check({ phone: '+14155550100', purpose: 'login', code, ref })).toBe(true);
    // Approved is gone: 20404 → CODE_EXPIRED.
    const again = await rejection(p.check({ phone: '+14155550100', purpose: 'login', code, ref }));
    expect(again.code).toBe('CODE_EXPIRED');
  });

  it('voice is Channel=call; Locale is passed', async () => {
    await provider({ locale: 'zh-HK' }).start(request({ channel: 'voice' }));
    expect(new URLSearchParams(fake.requests[0]!.rawBody).get('Channel')).toBe('call');
    expect(new URLSearchParams(fake.requests[0]!.rawBody).get('Locale')).toBe('zh-HK');
  });

  it('checks by To when the ref is lost', async () => {
    const p = provider();
    await p.start(request());
    const code = fake.codeFor('+14155550100')!;
    expect(await p.check({ phone: '+14155550100', purpose: 'login', code, ref: '' })).toBe(true);
  });

  it('a malformed code (60200 on Code) is a wrong code; five checks then 60202 → CODE_EXPIRED', async () => {
    const p = provider();
    const { ref } = await p.start(request());
    expect(await p.check({ phone: '+14155550100', purpose: 'login', code: '12', ref })).toBe(false);
    const code = fake.codeFor('+14155550100')!;
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) {
      expect(await p.check({ phone: '+14155550100', purpose: 'login', code: wrong, ref })).toBe(false);
    }
    const error = await rejection(p.check({ phone: '+14155550100', purpose: 'login', code, ref }));
    expect(error.code).toBe('CODE_EXPIRED');
    expect(error.details.vendorCode).toBe('60202');
  });

  it.each([
    ['60203', 'RATE_LIMITED', undefined],
    ['60212', 'RATE_LIMITED', undefined],
    ['60410', 'SEND_FAILED', 'rejected'],
    ['20429', 'RATE_LIMITED', undefined],
  ])('start: documented error %s → %s (%s)', async (vendorCode, code, reason) => {
    fake.sendError = vendorCode;
    const error = await rejection(provider().start(request()));
    expect([error.code, error.details.reason, error.details.vendorCode]).toEqual([code, reason, vendorCode]);
  });

  it('the sixth start to a number with a pending verification is 60203 → RATE_LIMITED', async () => {
    const p = provider();
    for (let i = 0; i < 5; i++) await p.start(request());
    const error = await rejection(p.start(request()));
    expect([error.code, error.details.vendorCode]).toEqual(['RATE_LIMITED', '60203']);
  });

  it('60200 on To → INVALID_PHONE; 60223 (channel disabled) → unsupported_channel', async () => {
    fake.sendError = undefined;
    const bad = await rejection(provider().start(request({ phone: '+1' })));
    expect(bad.code).toBe('INVALID_PHONE');
    expect(fake.requests).toHaveLength(0);
    fake.channels.delete('call');
    const error = await rejection(provider().start(request({ channel: 'voice' })));
    expect([error.code, error.details.reason, error.details.vendorCode]).toEqual([
      'SEND_FAILED',
      'unsupported_channel',
      '60223',
    ]);
  });

  it('wrong credentials in check → SEND_FAILED auth, without secrets', async () => {
    const { ref } = await provider().start(request());
    const wrong = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee';
    const error = await rejection(
      provider({ authToken: wrong }).check({ phone: '+14155550100', purpose: 'login', code: '123456', ref }),
    );
    expect(error.details).toMatchObject({ reason: 'auth', vendorCode: '20003' });
    expectNoSecrets(error, [wrong, ...SECRETS]);
  });
});

describe('failover across an international pair', () => {
  it('Twilio without +86 permission (21408) hands a Chinese number to Ronglian; a US number stays on Twilio', async () => {
    const ronglian = await startRonglianFake();
    try {
      const sender = failover([
        twilioSender({ ...TWILIO, from: TWILIO_FROM, baseUrl: fake.url }),
        ronglianSender({ ...RONGLIAN, templateId: '1', baseUrl: ronglian.url }),
      ]);
      fake.sendError = '21408';
      const cn = await sender.send(codeMessage({ phone: '+8613800138000' }));
      expect(cn.vendor).toBe('ronglian');
      fake.sendError = undefined;
      const us = await sender.send(usMessage());
      expect(us.vendor).toBe('twilio');
      // An unsubscribed number (21610) is about the number: no other vendor is tried.
      const stopped = await rejection(sender.send(usMessage({ phone: '+15005550004' })));
      expect([stopped.code, stopped.details.reason]).toEqual(['INVALID_PHONE', 'unsubscribed']);
      expect(ronglian.requests).toHaveLength(1);
      expect(ronglian.mismatches).toEqual([]);
    } finally {
      await ronglian.close();
    }
  });

  it('Twilio → Aliyun: a +86 number Twilio may not send to (21408) goes out through Aliyun', async () => {
    const aliyun = await startAliyunFake();
    try {
      const sender = failover([
        twilioSender({ ...TWILIO, from: TWILIO_FROM, baseUrl: fake.url }),
        aliyunSender({
          ...ALIYUN,
          signName: '阿里云短信测试',
          templateCode: 'SMS_154950909',
          baseUrl: aliyun.url,
        }),
      ]);
      fake.sendError = '21408';
      const cn = await sender.send(codeMessage({ phone: '+8613800138000' }));
      expect(cn.vendor).toBe('aliyun');
      expect(aliyun.sent.map((s) => s.phoneNumbers)).toEqual(['13800138000']);
      expect([...aliyun.mismatches, ...aliyun.refused]).toEqual([]);
      fake.sendError = undefined;
      expect((await sender.send(usMessage())).vendor).toBe('twilio');
      expect(aliyun.sent).toHaveLength(1);
    } finally {
      await aliyun.close();
    }
  });
});
