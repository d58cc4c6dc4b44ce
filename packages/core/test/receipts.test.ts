import { inspect } from 'node:util';
import {
  createSmsOtp,
  type DeliveryEvent,
  handleReceipt,
  openApiDocument,
  resolveReceipts,
  type Sender,
  type SmsOtp,
  SmsOtpConfigError,
  twilioSender,
  twilioSignature,
  validTwilioSignature,
} from '@sms-otp/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTwilioFake, TWILIO, TWILIO_FROM, type TwilioFake } from './vendors/fakes/twilio.js';

const W_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const W_PARAMS = {
  CallSid: 'CA1234567890ABCDE',
  Caller: '+14158675309',
  Digits: '1234',
  From: '+14158675309',
  To: '+18005551212',
};

describe('Twilio request signature (published vectors, VENDOR-APIS.md 3.4)', () => {
  it('W1: Twilio docs example', () => {
    const params = { ...W_PARAMS, Caller: '+12349013030', From: '+12349013030' };
    expect(twilioSignature('12345', W_URL, params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  });
  it('W2–W4: twilio-node defaults, with and without the default port', () => {
    expect(twilioSignature('12345', W_URL, W_PARAMS)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    expect(validTwilioSignature('12345', 'kvajT1Ptam85bY51eRf/AJRuM3w=', W_URL, W_PARAMS)).toBe(true);
    const http = W_URL.replace('https:', 'http:');
    expect(validTwilioSignature('12345', '0ZXoZLH/DfblKGATFgpif+LLRf4=', http, W_PARAMS)).toBe(true);
    expect(
      validTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', W_URL, { ...W_PARAMS, Digits: '1235' }),
    ).toBe(false);
  });
  it('W5: a repeated field, values de-duplicated and sorted', () => {
    const params = { 'MessagingBinding.Address': ['+1415xxxxxxx', '+1325xxxxxxx'] };
    expect(twilioSignature('12345', W_URL, params)).toBe('83O6e2vORAoJHUNzJjDWN1jz+BA=');
  });
  it('W7: a status callback (computed by vectors.mjs)', () => {
    const params = {
      AccountSid: 'AC00000000000000000000000000000000',
      ApiVersion: '2010-04-01',
      ErrorCode: '30003',
      From: '+15005550006',
      MessageSid: 'SM00000000000000000000000000000000',
      MessageStatus: 'undelivered',
      SmsSid: 'SM00000000000000000000000000000000',
      SmsStatus: 'undelivered',
      To: '+15005550009',
    };
    expect(twilioSignature('12345', 'https://example.com/sms/status', params)).toBe(
      '2avwpsftwH17SadAxbIJwlYk27Q=',
    );
  });
});

const SECRET = 'receipts-test-secret-receipts-test-secret-0123456789ABCDEF';
const ALIYUN_PATH = 'aliyun-path-0123456789abcdef';
const TENCENT_PATH = 'tencent-path-0123456789abcdef';
const CALLBACK = 'https://api.example.com/sms/receipts/twilio';

/** Aliyun's documented SmsReport example (VENDOR-APIS.md 1.9). */
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
/** Tencent's documented callback example (VENDOR-APIS.md 2.6). */
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

/** A sender that answers with a fixed message id, as Aliyun's and Tencent's adapters do. */
function fixedIdSender(name: string, messageId: string): Sender {
  return { kind: 'sender', name, send: async () => ({ vendor: name, messageId }) };
}

function collect(otp: SmsOtp) {
  const seen: { name: string; event: DeliveryEvent & { errorCode?: string } }[] = [];
  otp.on('delivered', (event) => seen.push({ name: 'delivered', event }));
  otp.on('undelivered', (event) => seen.push({ name: 'undelivered', event }));
  return seen;
}

function twilioForm(params: Record<string, string>, url: string, token: string = TWILIO.authToken) {
  return {
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilioSignature(token, url, params),
    },
    rawBody: new URLSearchParams(params).toString(),
    url,
  };
}

describe('handleReceipt', () => {
  let fake: TwilioFake;
  beforeEach(async () => {
    fake = await startTwilioFake();
  });
  afterEach(async () => {
    expect(fake.mismatches).toEqual([]);
    await fake.close();
  });

  const options = {
    twilio: { authToken: TWILIO.authToken },
    aliyun: { secretPath: ALIYUN_PATH },
    tencent: { secretPath: TENCENT_PATH },
  };

  async function twilioSend() {
    const otp = createSmsOtp({
      secret: SECRET,
      sender: twilioSender({ ...TWILIO, from: TWILIO_FROM, baseUrl: fake.url, statusCallback: CALLBACK }),
    });
    const receipts = resolveReceipts(otp, options);
    const { requestId } = await otp.send({ phone: '+14155550100' });
    const message = fake.messages.at(-1)!;
    const url = message.StatusCallback!;
    const base = {
      AccountSid: TWILIO.accountSid,
      ApiVersion: '2010-04-01',
      From: TWILIO_FROM,
      To: '+14155550100',
      MessageSid: `SM${'a'.repeat(32)}`,
      SmsSid: `SM${'a'.repeat(32)}`,
    };
    return { otp, receipts, requestId, url, base };
  }

  it('a signed Twilio "delivered" callback emits delivered with the requestId, masked phone and country', async () => {
    const { otp, receipts, requestId, url, base } = await twilioSend();
    const seen = collect(otp);
    const params = { ...base, MessageStatus: 'delivered', SmsStatus: 'delivered' };
    const response = await handleReceipt(otp, receipts, { vendor: 'twilio', ...twilioForm(params, url) });
    expect(response.status).toBe(200);
    expect(seen).toEqual([
      {
        name: 'delivered',
        event: {
          vendor: 'twilio',
          messageId: base.MessageSid,
          requestId,
          phone: '+14*****0100',
          country: 'US',
        },
      },
    ]);
    await otp.close();
  });

  it('undelivered with its ErrorCode; "sent" says nothing yet; the same receipt twice counts once', async () => {
    const { otp, receipts, url, base } = await twilioSend();
    const seen = collect(otp);
    const sent = { ...base, MessageStatus: 'sent', SmsStatus: 'sent' };
    expect((await handleReceipt(otp, receipts, { vendor: 'twilio', ...twilioForm(sent, url) })).status).toBe(
      200,
    );
    expect(seen).toEqual([]);
    const failed = { ...base, MessageStatus: 'undelivered', SmsStatus: 'undelivered', ErrorCode: '30003' };
    await handleReceipt(otp, receipts, { vendor: 'twilio', ...twilioForm(failed, url) });
    expect(seen.map((s) => [s.name, s.event.errorCode])).toEqual([['undelivered', '30003']]);
    await otp.close();
  });

  it('refuses a forged signature, a replay with a changed field, and a receipt for another URL (403, no event)', async () => {
    const { otp, receipts, url, base } = await twilioSend();
    const seen = collect(otp);
    const failed = { ...base, MessageStatus: 'undelivered', SmsStatus: 'undelivered', ErrorCode: '30003' };
    const forged = twilioForm(failed, url, 'not-the-auth-token');
    expect((await handleReceipt(otp, receipts, { vendor: 'twilio', ...forged })).status).toBe(403);
    const genuine = twilioForm(failed, url);
    const changed = {
      ...genuine,
      rawBody: new URLSearchParams({
        ...failed,
        MessageStatus: 'delivered',
        SmsStatus: 'delivered',
      }).toString(),
    };
    expect((await handleReceipt(otp, receipts, { vendor: 'twilio', ...changed })).status).toBe(403);
    const otherUrl = { ...genuine, url: url.replace('smsOtpRequestId=', 'smsOtpRequestId=x') };
    expect((await handleReceipt(otp, receipts, { vendor: 'twilio', ...otherUrl })).status).toBe(403);
    const unsigned = { ...genuine, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    expect((await handleReceipt(otp, receipts, { vendor: 'twilio', ...unsigned })).status).toBe(403);
    expect(seen).toEqual([]);
    await otp.close();
  });

  it('checks the signature against the public url behind a proxy', async () => {
    const { otp, receipts: _, url, base } = await twilioSend();
    const receipts = resolveReceipts(otp, { twilio: { authToken: TWILIO.authToken, url: CALLBACK } });
    const seen = collect(otp);
    const params = { ...base, MessageStatus: 'delivered', SmsStatus: 'delivered' };
    const signed = twilioForm(params, url);
    const internal = `http://10.0.0.7:8080/sms/receipts/twilio${new URL(url).search}`;
    expect((await handleReceipt(otp, receipts, { vendor: 'twilio', ...signed, url: internal })).status).toBe(
      200,
    );
    expect(seen).toHaveLength(1);
    await otp.close();
  });

  it('malformed Twilio callbacks are 400 and emit nothing', async () => {
    const { otp, receipts, url, base } = await twilioSend();
    const seen = collect(otp);
    const noSid = { ...base, MessageSid: 'nope', SmsSid: 'nope', MessageStatus: 'delivered' };
    expect((await handleReceipt(otp, receipts, { vendor: 'twilio', ...twilioForm(noSid, url) })).status).toBe(
      400,
    );
    const json = { ...twilioForm({ ...base, MessageStatus: 'delivered' }, url) };
    json.headers['content-type'] = 'application/json';
    expect((await handleReceipt(otp, receipts, { vendor: 'twilio', ...json })).status).toBe(400);
    expect((await handleReceipt(otp, receipts, { vendor: 'twilio', bodyError: 'too-large' })).status).toBe(
      400,
    );
    expect(seen).toEqual([]);
    await otp.close();
  });

  it.each([
    ['aliyun', ALIYUN_PATH, ALIYUN_EXAMPLE, '12345********', { code: 0, msg: '接收成功' }],
    ['tencent', TENCENT_PATH, TENCENT_EXAMPLE, 'xxxxxxx', { result: 0, errmsg: 'OK' }],
  ] as const)(
    '%s: the documented example body emits delivered for the send of that id',
    async (vendor, path, example, id, body) => {
      const otp = createSmsOtp({ secret: SECRET, sender: fixedIdSender(vendor, id) });
      const receipts = resolveReceipts(otp, options);
      const seen = collect(otp);
      const { requestId } = await otp.send({ phone: '+8613800138000' });
      const request = {
        vendor,
        secret: path,
        headers: { 'content-type': 'application/json' },
        rawBody: JSON.stringify(example),
      };
      const response = await handleReceipt(otp, receipts, request);
      expect(response).toMatchObject({ status: 200, body });
      expect(seen).toEqual([
        {
          name: 'delivered',
          event: { vendor, messageId: id, requestId, phone: '+86*******8000', country: 'CN' },
        },
      ]);
      // Pushed again (the vendor got no 200): counted once.
      await handleReceipt(otp, receipts, request);
      expect(seen).toHaveLength(1);
      await otp.close();
    },
  );

  it('aliyun / tencent failures carry the carrier code; unknown sends keep the number the receipt gives', async () => {
    const otp = createSmsOtp({ secret: SECRET, sender: fixedIdSender('x', 'none') });
    const receipts = resolveReceipts(otp, options);
    const seen = collect(otp);
    const aliyun = [
      {
        ...ALIYUN_EXAMPLE[0],
        phone_number: '13800138000',
        success: false,
        err_code: 'MK:0001',
        biz_id: '9001^0',
        out_id: undefined,
      },
    ];
    const tencent = [
      {
        ...TENCENT_EXAMPLE[0],
        mobile: '2079460000',
        nationcode: '44',
        report_status: 'FAIL',
        errmsg: 'MK:0005',
      },
    ];
    const headers = { 'content-type': 'application/json' };
    await handleReceipt(otp, receipts, { vendor: 'aliyun', secret: ALIYUN_PATH, headers, body: aliyun });
    await handleReceipt(otp, receipts, {
      vendor: 'tencent',
      secret: TENCENT_PATH,
      headers,
      rawBody: JSON.stringify(tencent),
    });
    expect(seen).toEqual([
      {
        name: 'undelivered',
        event: {
          vendor: 'aliyun',
          messageId: '9001^0',
          phone: '+86*******8000',
          country: 'CN',
          errorCode: 'MK:0001',
        },
      },
      {
        name: 'undelivered',
        event: {
          vendor: 'tencent',
          messageId: 'xxxxxxx',
          phone: '+44******0000',
          country: 'GB',
          errorCode: 'MK:0005',
        },
      },
    ]);
    await otp.close();
  });

  it('a wrong or missing secret path is 404; malformed bodies are 400; nothing is emitted', async () => {
    const otp = createSmsOtp({ secret: SECRET, sender: fixedIdSender('aliyun', '12345********') });
    const receipts = resolveReceipts(otp, { aliyun: { secretPath: ALIYUN_PATH } });
    const seen = collect(otp);
    await otp.send({ phone: '+8613800138000' });
    const headers = { 'content-type': 'application/json' };
    const rawBody = JSON.stringify(ALIYUN_EXAMPLE);
    const status = async (request: Record<string, unknown>) =>
      (await handleReceipt(otp, receipts, { vendor: 'aliyun', headers, rawBody, ...request })).status;
    expect(await status({ secret: `${ALIYUN_PATH}x` })).toBe(404);
    expect(await status({ secret: undefined })).toBe(404);
    expect(await status({ vendor: 'tencent', secret: TENCENT_PATH })).toBe(404);
    expect(await status({ secret: ALIYUN_PATH, rawBody: '{"biz_id":"1"}' })).toBe(400);
    expect(await status({ secret: ALIYUN_PATH, rawBody: 'not json' })).toBe(400);
    expect(
      await status({
        secret: ALIYUN_PATH,
        rawBody: JSON.stringify([{ ...ALIYUN_EXAMPLE[0], success: 'yes' }]),
      }),
    ).toBe(400);
    // One bad report in a batch: the whole batch is refused, the good one is not reported either.
    expect(
      await status({ secret: ALIYUN_PATH, rawBody: JSON.stringify([ALIYUN_EXAMPLE[0], { biz_id: 7 }]) }),
    ).toBe(400);
    expect(await status({ secret: ALIYUN_PATH, headers: { 'content-type': 'text/plain' } })).toBe(400);
    expect(seen).toEqual([]);
    await otp.close();
  });

  it('checks its options; secrets never reach errors, events or the resolved options when inspected', async () => {
    const otp = createSmsOtp({ secret: SECRET });
    expect(() => resolveReceipts(otp, {})).toThrow(SmsOtpConfigError);
    expect(() => resolveReceipts(otp, { aliyun: { secretPath: 'short' } })).toThrow(
      /receipts\.aliyun\.secretPath/,
    );
    const error = (() => {
      try {
        resolveReceipts(otp, { aliyun: { secretPath: 'short-secret-with space!' } });
      } catch (e) {
        return e;
      }
    })();
    expect(inspect(error)).not.toContain('short-secret-with space!');
    const { url, base, otp: sending, receipts } = await twilioSend();
    const seen = collect(sending);
    const params = { ...base, MessageStatus: 'delivered', SmsStatus: 'delivered' };
    await handleReceipt(sending, receipts, { vendor: 'twilio', ...twilioForm(params, url) });
    expect(seen).toHaveLength(1);
    expect(inspect(seen, { depth: 5 })).not.toContain(TWILIO.authToken);
    expect(inspect(sending, { depth: 5 })).not.toContain(TWILIO.authToken);
    const resolved = resolveReceipts(sending, options);
    expect(inspect(resolved, { depth: 5, showHidden: true })).not.toMatch(
      new RegExp(`${TWILIO.authToken}|${ALIYUN_PATH}|${TENCENT_PATH}`),
    );
    await otp.close();
    await sending.close();
  });
});

describe('openApiDocument and receipts', () => {
  it('lists the receipts route only when enabled, without the secret paths', () => {
    const without = openApiDocument({ prefix: '/sms' });
    expect(Object.keys(without.paths).filter((p) => p.includes('receipts'))).toEqual([]);
    const doc = openApiDocument({
      prefix: '/sms',
      receipts: { twilio: { authToken: 'token-of-twilio' }, aliyun: { secretPath: ALIYUN_PATH } },
    });
    expect(Object.keys(doc.paths).filter((p) => p.includes('receipts'))).toEqual([
      '/sms/receipts/twilio',
      '/sms/receipts/aliyun/{secretPath}',
    ]);
    expect(JSON.stringify(doc)).not.toContain(ALIYUN_PATH);
    expect(JSON.stringify(doc)).not.toContain('token-of-twilio');
    expect(Object.keys(openApiDocument({ receipts: ['tencent'] }).paths)).toContain(
      '/sms/receipts/tencent/{secretPath}',
    );
  });
});
