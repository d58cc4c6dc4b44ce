/**
 * Delivery receipts (`POST {prefix}/receipts/:vendor`) on every framework package: the vendors' documented
 * bodies, as each vendor sends them (a signed form for Twilio, JSON arrays for Aliyun and Tencent), produce
 * `delivered` / `undelivered` events; forged, replayed-with-changes and malformed receipts are refused.
 */
import {
  createSmsOtp,
  type DeliveryEvent,
  type Sender,
  type SmsOtp,
  twilioSender,
  twilioSignature,
} from '@sms-otp/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startTwilioFake,
  TWILIO,
  TWILIO_FROM,
  type TwilioFake,
} from '../../packages/core/test/vendors/fakes/twilio.js';
import { APPS, type ContractApp } from './apps.js';

const SECRET = 'receipts-contract-secret-receipts-contract-0123456789ABCDEF';
const PURPOSES = ['login', 'reset-password'];
const PUBLIC = 'https://api.example.com/sms/receipts/twilio';
const ALIYUN_PATH = 'aliyun-0123456789abcdef';
const TENCENT_PATH = 'tencent-0123456789abcdef';
const RECEIPTS = {
  twilio: { authToken: TWILIO.authToken, url: PUBLIC },
  aliyun: { secretPath: ALIYUN_PATH },
  tencent: { secretPath: TENCENT_PATH },
};

const ALIYUN_EXAMPLE = [
  {
    phone_number: '1381111****',
    send_time: '2017-01-01 00:00:00',
    report_time: '2017-01-01 00:00:00',
    success: true,
    err_code: 'DELIVERED',
    err_msg: '用户接收成功',
    sms_size: '1',
    biz_id: '12345********',
    out_id: '67890**',
  },
];
const TENCENT_EXAMPLE = [
  {
    user_receive_time: '2015-10-17 08:03:04',
    nationcode: '86',
    mobile: '13xxxxxxxxx',
    report_status: 'SUCCESS',
    errmsg: 'DELIVRD',
    description: '用户短信送达成功',
    sid: 'xxxxxxx',
  },
];

let fake: TwilioFake;
beforeAll(async () => {
  fake = await startTwilioFake();
});
afterAll(async () => {
  expect(fake.mismatches).toEqual([]);
  await fake.close();
});

function collect(otp: SmsOtp) {
  const seen: [string, DeliveryEvent & { errorCode?: string }][] = [];
  otp.on('delivered', (event) => seen.push(['delivered', event]));
  otp.on('undelivered', (event) => seen.push(['undelivered', event]));
  return seen;
}

const form = (params: Record<string, string>) => new URLSearchParams(params).toString();

describe.each(APPS)('receipts on %s', (_name, makeApp) => {
  let app: ContractApp | undefined;
  let otp: SmsOtp | undefined;
  afterEach(async () => {
    await app?.close();
    await otp?.close();
    app = undefined;
    otp = undefined;
  });

  async function start(sender: Sender, options: { hostParser?: boolean; receipts?: typeof RECEIPTS } = {}) {
    otp = createSmsOtp({ secret: SECRET, sender, purposes: PURPOSES });
    const seen = collect(otp);
    app = await makeApp(otp, { receipts: RECEIPTS, ...options });
    return { otp, app, seen };
  }

  it('Twilio: a signed status callback (public url behind a proxy) emits delivered with the requestId', async () => {
    const sender = twilioSender({ ...TWILIO, from: TWILIO_FROM, baseUrl: fake.url, statusCallback: PUBLIC });
    const { otp, app, seen } = await start(sender);
    const { requestId } = await otp.send({ phone: '+14155550100' });
    const callback = new URL(fake.messages.at(-1)!.StatusCallback!);
    const params = {
      AccountSid: TWILIO.accountSid,
      ApiVersion: '2010-04-01',
      From: TWILIO_FROM,
      To: '+14155550100',
      MessageSid: `SM${'b'.repeat(32)}`,
      MessageStatus: 'undelivered',
      SmsSid: `SM${'b'.repeat(32)}`,
      SmsStatus: 'undelivered',
      ErrorCode: '30003',
    };
    const signature = twilioSignature(TWILIO.authToken, callback.href, params);
    const path = `/sms/receipts/twilio${callback.search}`;
    const post = (body: string, sig = signature) =>
      app.request
        .post(path)
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .set('X-Twilio-Signature', sig)
        .send(body);

    // Replayed with a changed field (the status), or signed with another token: refused, nothing emitted.
    const changed = await post(form({ ...params, MessageStatus: 'delivered', SmsStatus: 'delivered' }));
    expect(changed.status).toBe(403);
    const forged = await post(form(params), twilioSignature('another-token', callback.href, params));
    expect(forged.status).toBe(403);
    expect(seen).toEqual([]);

    const ok = await post(form(params));
    expect(ok.status).toBe(200);
    expect(seen).toEqual([
      [
        'undelivered',
        {
          vendor: 'twilio',
          messageId: params.MessageSid,
          requestId,
          phone: '+14*****0100',
          country: 'US',
          errorCode: '30003',
        },
      ],
    ]);
  });

  it('Twilio without a public url: the signature covers the URL the framework saw', async () => {
    const { app, seen } = await start(twilioSender({ ...TWILIO, from: TWILIO_FROM, baseUrl: fake.url }), {
      receipts: { ...RECEIPTS, twilio: { authToken: TWILIO.authToken } } as typeof RECEIPTS,
    });
    const params = { MessageSid: `SM${'c'.repeat(32)}`, MessageStatus: 'delivered', To: '+447400123456' };
    const url = `http://127.0.0.1:${app.port}/sms/receipts/twilio`;
    const response = await app.request
      .post('/sms/receipts/twilio')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .set('X-Twilio-Signature', twilioSignature(TWILIO.authToken, url, params))
      .send(form(params));
    expect(response.status).toBe(200);
    expect(seen).toEqual([
      [
        'delivered',
        { vendor: 'twilio', messageId: params.MessageSid, phone: '+44******3456', country: 'GB' },
      ],
    ]);
  });

  it.each([
    ['aliyun', ALIYUN_PATH, ALIYUN_EXAMPLE, '12345********', { code: 0, msg: '接收成功' }],
    ['tencent', TENCENT_PATH, TENCENT_EXAMPLE, 'xxxxxxx', { result: 0, errmsg: 'OK' }],
  ] as const)(
    '%s: the documented example emits delivered; wrong path 404, malformed 400',
    async (vendor, path, example, id, reply) => {
      const sender: Sender = { kind: 'sender', name: vendor, send: async () => ({ vendor, messageId: id }) };
      const { otp, app, seen } = await start(sender);
      const { requestId } = await otp.send({ phone: '+8613800138000' });
      const post = (to: string, body: unknown) =>
        app.request.post(to).set('Content-Type', 'application/json').send(JSON.stringify(body));

      expect((await post(`/sms/receipts/${vendor}/${path}x`, example)).status).toBe(404);
      expect((await post(`/sms/receipts/${vendor}`, example)).status).toBe(404);
      expect((await post(`/sms/receipts/${vendor}/${path}`, { not: 'an array' })).status).toBe(400);
      const tooLarge = [{ ...example[0], description: 'x'.repeat(20_000) }];
      expect((await post(`/sms/receipts/${vendor}/${path}`, tooLarge)).status).toBe(400);
      const notJson = await app.request
        .post(`/sms/receipts/${vendor}/${path}`)
        .set('Content-Type', 'application/json')
        .send('[{');
      expect(notJson.status).toBe(400);
      expect(seen).toEqual([]);

      const ok = await post(`/sms/receipts/${vendor}/${path}`, example);
      expect([ok.status, ok.body]).toEqual([200, reply]);
      expect(seen).toEqual([
        ['delivered', { vendor, messageId: id, requestId, phone: '+86*******8000', country: 'CN' }],
      ]);
    },
  );

  it('with a host JSON parser the Aliyun receipt still arrives', async () => {
    const sender: Sender = {
      kind: 'sender',
      name: 'aliyun',
      send: async () => ({ vendor: 'aliyun', messageId: '12345********' }),
    };
    const { otp, app, seen } = await start(sender, { hostParser: true });
    await otp.send({ phone: '+8613800138000' });
    const response = await app.request
      .post(`/sms/receipts/aliyun/${ALIYUN_PATH}`)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(ALIYUN_EXAMPLE));
    expect(response.status).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it('without the receipts option there is no receipts route', async () => {
    otp = createSmsOtp({ secret: SECRET, purposes: PURPOSES });
    app = await makeApp(otp, {});
    const response = await app.request
      .post(`/sms/receipts/aliyun/${ALIYUN_PATH}`)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(ALIYUN_EXAMPLE));
    expect(response.status).toBe(404);
  });
});
