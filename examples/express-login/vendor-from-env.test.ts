import { ronglianSender, twilioSignature } from '@sms-otp/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ALIYUN, startAliyunFake } from '../../packages/core/test/vendors/fakes/aliyun.js';
import { JPUSH, type JpushFake, startJpushFake } from '../../packages/core/test/vendors/fakes/jpush.js';
import {
  RONGLIAN,
  type RonglianFake,
  startRonglianFake,
} from '../../packages/core/test/vendors/fakes/ronglian.js';
import { startTencentFake, TENCENT } from '../../packages/core/test/vendors/fakes/tencent.js';
import {
  startTwilioFake,
  TWILIO,
  TWILIO_FROM,
  TWILIO_SERVICE_SID,
} from '../../packages/core/test/vendors/fakes/twilio.js';
import { startServer } from './server.js';
import { vendorFromEnv } from './vendor-from-env.js';

let ronglian: RonglianFake;
let jpush: JpushFake;
beforeAll(async () => {
  ronglian = await startRonglianFake();
  jpush = await startJpushFake();
});
afterAll(async () => {
  await ronglian.close();
  await jpush.close();
});

const env = () => ({
  SMS_VENDOR: 'ronglian,jpush',
  RONGLIAN_ACCOUNT_SID: RONGLIAN.accountSid,
  RONGLIAN_AUTH_TOKEN: RONGLIAN.authToken,
  RONGLIAN_APP_ID: RONGLIAN.appId,
  RONGLIAN_TEMPLATE_ID: '1',
  RONGLIAN_BASE_URL: ronglian.url,
  JPUSH_APP_KEY: JPUSH.appKey,
  JPUSH_MASTER_SECRET: JPUSH.masterSecret,
  JPUSH_TEMPLATE_ID: '1',
  JPUSH_BASE_URL: jpush.url,
});

it('SMS_VENDOR picks the vendors: the demo sends through Ronglian, then fails over to JPush', async () => {
  const server = await startServer(0, {
    env: env(),
    otp: { secret: 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv-0123456789ABCDEF', captcha: { policy: 'never' } },
  });
  try {
    const send = (phone: string) =>
      fetch(`${server.url}/sms/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phone }),
      });
    const first = await send('13800138000');
    expect(first.status).toBe(200);
    // A real vendor delivers the code: the demo never puts it in the response then, whatever NODE_ENV says.
    expect(await first.json()).not.toHaveProperty('devCode');
    expect(ronglian.requests.map((r) => r.path)).toEqual([expect.stringMatching(/\/SMS\/TemplateSMS$/)]);
    // A 503 says nothing was sent (a 500 might have been, and would not be handed on).
    ronglian.misbehave = 'status503';
    expect((await send('13800138001')).status).toBe(200);
    expect(jpush.requests.map((r) => r.path)).toEqual(['/v1/messages']);
    expect([...ronglian.mismatches, ...jpush.mismatches]).toEqual([]);
  } finally {
    await server.close();
  }
});

it('a delivering sender given in options.otp (not the environment) never puts the code in a response', async () => {
  const sender = ronglianSender({
    accountSid: RONGLIAN.accountSid,
    authToken: RONGLIAN.authToken,
    appId: RONGLIAN.appId,
    templateId: '1',
    baseUrl: ronglian.url,
  });
  ronglian.misbehave = undefined;
  const server = await startServer(0, {
    otp: {
      secret: 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv-0123456789ABCDEF',
      sender,
      captcha: { policy: 'never' },
      logger: { warn() {} },
    },
  });
  try {
    const sent = await fetch(`${server.url}/sms/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phone: '13800138002' }),
    });
    expect(sent.status).toBe(200);
    expect(await sent.json()).not.toHaveProperty('devCode');
    expect(ronglian.requests.at(-1)?.path).toMatch(/\/SMS\/TemplateSMS$/);
  } finally {
    await server.close();
  }
});

it('names a missing credential or an unknown vendor at start-up', () => {
  expect(() => vendorFromEnv({ SMS_VENDOR: 'ronglian' })).toThrow(/RONGLIAN_ACCOUNT_SID/);
  expect(() => vendorFromEnv({ SMS_VENDOR: 'carrier-pigeon' })).toThrow(/not one of console, ronglian/);
  expect(vendorFromEnv({}).name).toBe('console');
});

it('SMS_VENDOR=twilio sends through Twilio; with TWILIO_STATUS_CALLBACK the receipts route takes its callbacks', async () => {
  const twilio = await startTwilioFake();
  const callback = 'https://demo.example.com/sms/receipts/twilio';
  const server = await startServer(0, {
    env: {
      SMS_VENDOR: 'twilio',
      TWILIO_ACCOUNT_SID: TWILIO.accountSid,
      TWILIO_AUTH_TOKEN: TWILIO.authToken,
      TWILIO_FROM: TWILIO_FROM,
      TWILIO_STATUS_CALLBACK: callback,
      TWILIO_BASE_URL: twilio.url,
    },
    otp: { secret: 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv-0123456789ABCDEF', captcha: { policy: 'never' } },
  });
  try {
    const delivered: unknown[] = [];
    server.otp.on('delivered', (event) => delivered.push(event));
    const sent = await fetch(`${server.url}/sms/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phone: '+14155550100' }),
    });
    expect(sent.status).toBe(200);
    const { requestId } = (await sent.json()) as { requestId: string };
    const statusCallback = new URL(twilio.messages[0]!.StatusCallback!);
    const params = { MessageSid: `SM${'d'.repeat(32)}`, MessageStatus: 'delivered', To: '+14155550100' };
    const receipt = await fetch(`${server.url}/sms/receipts/twilio${statusCallback.search}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilioSignature(TWILIO.authToken, statusCallback.href, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    expect(receipt.status).toBe(200);
    expect(delivered).toEqual([expect.objectContaining({ vendor: 'twilio', requestId })]);
    expect(twilio.mismatches).toEqual([]);
  } finally {
    await server.close();
    await twilio.close();
  }
});

it('SMS_VENDOR=twilio-verify makes a Twilio Verify provider; missing credentials are named', () => {
  const vendor = vendorFromEnv({
    SMS_VENDOR: 'twilio-verify',
    TWILIO_ACCOUNT_SID: TWILIO.accountSid,
    TWILIO_AUTH_TOKEN: TWILIO.authToken,
    TWILIO_VERIFY_SERVICE_SID: TWILIO_SERVICE_SID,
  });
  expect([vendor.kind, vendor.name]).toEqual(['provider', 'twilio-verify']);
  expect(() =>
    vendorFromEnv({ SMS_VENDOR: 'twilio-verify', TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 't' }),
  ).toThrow(/TWILIO_VERIFY_SERVICE_SID/);
  expect(() =>
    vendorFromEnv({ SMS_VENDOR: 'twilio', TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 't' }),
  ).toThrow(/TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID/);
});

it('SMS_VENDOR=tencent,aliyun: the demo sends through Tencent, then fails over to Aliyun', async () => {
  const tencent = await startTencentFake();
  const aliyun = await startAliyunFake();
  const server = await startServer(0, {
    env: {
      SMS_VENDOR: 'tencent,aliyun',
      TENCENT_SECRET_ID: TENCENT.secretId,
      TENCENT_SECRET_KEY: TENCENT.secretKey,
      TENCENT_SMS_SDK_APP_ID: TENCENT.smsSdkAppId,
      TENCENT_SIGN_NAME: '腾讯云',
      TENCENT_TEMPLATE_ID: '1110',
      TENCENT_REGION: 'ap-shanghai',
      TENCENT_BASE_URL: tencent.url,
      ALIYUN_ACCESS_KEY_ID: ALIYUN.accessKeyId,
      ALIYUN_ACCESS_KEY_SECRET: ALIYUN.accessKeySecret,
      ALIYUN_SIGN_NAME: '阿里云短信测试',
      ALIYUN_TEMPLATE_CODE: 'SMS_154950909',
      ALIYUN_BASE_URL: aliyun.url,
    },
    otp: { secret: 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv-0123456789ABCDEF', captcha: { policy: 'never' } },
  });
  try {
    const send = (phone: string) =>
      fetch(`${server.url}/sms/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phone }),
      });
    expect((await send('13800138010')).status).toBe(200);
    expect(tencent.sent.map((s) => s.phones)).toEqual([['+8613800138010']]);
    expect(tencent.requests[0]!.headers['x-tc-region']).toBe('ap-shanghai');
    tencent.code = 'FailedOperation.InsufficientBalanceInSmsPackage';
    expect((await send('13800138011')).status).toBe(200);
    expect(aliyun.sent.map((s) => s.phoneNumbers)).toEqual(['13800138011']);
    expect([...tencent.mismatches, ...aliyun.mismatches, ...tencent.refused, ...aliyun.refused]).toEqual([]);
    expect(() => vendorFromEnv({ SMS_VENDOR: 'aliyun' })).toThrow(/ALIYUN_ACCESS_KEY_ID/);
    expect(() => vendorFromEnv({ SMS_VENDOR: 'tencent' })).toThrow(/TENCENT_SECRET_ID/);
  } finally {
    await server.close();
    await tencent.close();
    await aliyun.close();
  }
});
