import { inspect } from 'node:util';
import {
  aliyunSender,
  createSmsOtp,
  failover,
  jpushCodes,
  jpushSender,
  ronglianSender,
  type Sender,
  SmsOtpConfigError,
  type SmsOtpOptions,
  tencentSender,
  type Vendor,
} from '@sms-otp/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, errorOf } from '../support/outcomes.js';
import { memoryKit, redisKit } from '../support/store-kits.js';
import { ALIYUN, type AliyunFake, startAliyunFake } from './fakes/aliyun.js';
import { JPUSH, type JpushFake, startJpushFake } from './fakes/jpush.js';
import { RONGLIAN, type RonglianFake, startRonglianFake } from './fakes/ronglian.js';
import { startTencentFake, TENCENT, type TencentFake } from './fakes/tencent.js';

const SECRET = 'cn-flow-secret-cn-flow-secret-cn-flow!-0123456789ABCDEF';
const PURPOSES = ['login', 'reset-password'];
let seq = 0;
const nextPhone = () => `+86139${String(30_000_000 + (process.pid % 1000) * 1000 + ++seq).slice(-8)}`;
const wrong = (code: string) => code.replace(/^./, (d) => String((Number(d) + 1) % 10));

let aliyun: AliyunFake;
let tencent: TencentFake;
let ronglian: RonglianFake;
let jpush: JpushFake;
beforeAll(async () => {
  [aliyun, tencent, ronglian, jpush] = await Promise.all([
    startAliyunFake(),
    startTencentFake(),
    startRonglianFake(),
    startJpushFake(),
  ]);
});
afterAll(async () => {
  await Promise.all([aliyun.close(), tencent.close(), ronglian.close(), jpush.close()]);
});
afterEach(() => {
  const all = [aliyun, tencent, ronglian, jpush];
  expect(all.flatMap((f) => f.mismatches)).toEqual([]);
  expect([...aliyun.refused, ...tencent.refused]).toEqual([]);
  aliyun.code = 'OK';
  tencent.code = 'Ok';
});

const makeAliyun = (templateCode: string | Record<string, string> = 'SMS_154950909') =>
  aliyunSender({ ...ALIYUN, signName: '阿里云短信测试', templateCode, baseUrl: aliyun.url });
const makeTencent = (templateId: string | Record<string, string> = '1110') =>
  tencentSender({ ...TENCENT, signName: '腾讯云', templateId, baseUrl: tencent.url });

/** The code the fake received last for `phone` (national digits or E.164). */
const aliyunCode = (phone: string) =>
  aliyun.sent.findLast((s) => phone.endsWith(s.phoneNumbers))!.templateParam.code!;
const tencentCode = (phone: string) => tencent.sent.findLast((s) => s.phones[0] === phone)!.params[0]!;

describe.each([memoryKit, redisKit].map((make) => [make().name, make] as const))(
  'Aliyun and Tencent through the engine on %s',
  (_name, makeKit) => {
    const kit = makeKit();
    beforeAll(() => kit.setup(), 60_000);
    afterAll(() => kit.teardown());
    const engine = (sender: Sender, overrides: Partial<SmsOtpOptions> = {}) =>
      createSmsOtp({
        secret: SECRET,
        store: kit.instance(),
        sender,
        purposes: PURPOSES,
        breaker: false,
        ...overrides,
      });

    it.each([
      ['aliyun', () => makeAliyun(), aliyunCode],
      ['tencent', () => makeTencent(), tencentCode],
    ] as const)('%s: send, a wrong code, the right code', async (_vendor, make, codeFor) => {
      const otp = engine(make());
      const phone = nextPhone();
      const { requestId } = await otp.send({ phone, purpose: 'login' });
      const code = codeFor(phone);
      expect(code).toMatch(/^\d{6}$/);
      expect(await codeOf(otp.verify({ phone, purpose: 'login', code: wrong(code), requestId }))).toBe(
        'CODE_INVALID',
      );
      const verified = await otp.verify({ phone, purpose: 'login', code, requestId });
      expect(verified).toMatchObject({ phone, purpose: 'login' });
    });

    it('a vendor refusal reaches the caller mapped, and neither secret nor code shows in it', async () => {
      const otp = engine(makeAliyun());
      const phone = nextPhone();
      aliyun.code = 'isv.BUSINESS_LIMIT_CONTROL';
      expect(await codeOf(otp.send({ phone }))).toBe('RATE_LIMITED');
      aliyun.code = 'isv.AMOUNT_NOT_ENOUGH';
      const failed = await errorOf(otp.send({ phone }));
      expect(failed.code).toBe('SEND_FAILED');
      const shown = inspect(failed, { depth: 10 });
      expect(shown).not.toContain(ALIYUN.accessKeySecret);
      const sentCodes = aliyun.requests
        .map((r) => r.query.get('TemplateParam'))
        .filter(Boolean)
        .map((p) => JSON.parse(p!).code as string);
      for (const code of sentCodes) expect(shown).not.toContain(code);

      tencent.code = 'LimitExceeded.PhoneNumberDailyLimit';
      tencent.level = 'number';
      const t = engine(makeTencent());
      expect(await codeOf(t.send({ phone: nextPhone() }))).toBe('RATE_LIMITED');
      tencent.level = 'request';
    });

    it('failover Tencent → Aliyun: an empty SMS package hands the send on, the code verifies', async () => {
      const events: string[] = [];
      const sender = failover([makeTencent(), makeAliyun()], {
        onEvent: (e) => events.push(`${e.type}:${e.vendor}`),
      });
      const otp = engine(sender);
      const phone = nextPhone();
      tencent.code = 'FailedOperation.InsufficientBalanceInSmsPackage';
      const { requestId } = await otp.send({ phone });
      expect(events).toEqual(['vendor_failed:tencent', 'sent:aliyun']);
      const code = aliyunCode(phone);
      expect(await codeOf(otp.verify({ phone, code, requestId }))).toBe('OK');
    });
  },
);

describe('templates per purpose', () => {
  const engine = (sender: Vendor) =>
    createSmsOtp({ secret: SECRET, sender, purposes: PURPOSES, breaker: false });

  it.each([
    ['aliyun', () => makeAliyun({ login: 'SMS_1' })],
    ['tencent', () => makeTencent({ login: '1' })],
    ['ronglian', () => ronglianSender({ ...RONGLIAN, templateId: { login: '1' }, baseUrl: ronglian.url })],
    ['jpushSender', () => jpushSender({ ...JPUSH, templateId: { login: 1 }, baseUrl: jpush.url })],
    ['jpushCodes', () => jpushCodes({ ...JPUSH, templateId: { login: 1 }, baseUrl: jpush.url })],
  ] as const)('%s: a purpose without a template is a SmsOtpConfigError at createSmsOtp', (_name, make) => {
    let thrown: unknown;
    try {
      engine(make());
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SmsOtpConfigError);
    expect(String((thrown as Error).message)).toContain('"reset-password"');
  });

  it('a failover covers only the purposes both members have templates for', () => {
    const both = failover([
      makeTencent({ login: '1', 'reset-password': '2' }),
      makeAliyun({ login: 'SMS_1' }),
    ]);
    expect(() => engine(both)).toThrow(SmsOtpConfigError);
    const full = failover([makeTencent({ login: '1', 'reset-password': '2' }), makeAliyun()]);
    expect(() => engine(full)).not.toThrow();
  });

  it('each purpose reaches every vendor with its own template', async () => {
    const senders = {
      aliyun: makeAliyun({ login: 'SMS_1', 'reset-password': 'SMS_2' }),
      tencent: makeTencent({ login: '101', 'reset-password': '102' }),
      ronglian: ronglianSender({
        ...RONGLIAN,
        templateId: { login: 11, 'reset-password': '12' },
        baseUrl: ronglian.url,
      }),
      jpush: jpushSender({ ...JPUSH, templateId: { login: 21, 'reset-password': '22' }, baseUrl: jpush.url }),
      jpushCodes: jpushCodes({
        ...JPUSH,
        templateId: { login: 31, 'reset-password': 32 },
        baseUrl: jpush.url,
      }),
    };
    for (const sender of Object.values(senders)) {
      const otp = engine(sender);
      await otp.send({ phone: nextPhone(), purpose: 'reset-password' });
      await otp.send({ phone: nextPhone(), purpose: 'login' });
    }
    expect(aliyun.sent.slice(-2).map((s) => s.templateCode)).toEqual(['SMS_2', 'SMS_1']);
    expect(tencent.sent.slice(-2).map((s) => s.templateId)).toEqual(['102', '101']);
    expect(ronglian.requests.slice(-2).map((r) => (r.json as { templateId: string }).templateId)).toEqual([
      '12',
      '11',
    ]);
    const jpushTemplates = jpush.requests
      .slice(-4)
      .map((r) => [r.path, (r.json as { temp_id: number }).temp_id]);
    expect(jpushTemplates).toEqual([
      ['/v1/messages', 22],
      ['/v1/messages', 21],
      ['/v1/codes', 32],
      ['/v1/codes', 31],
    ]);
  });
});
