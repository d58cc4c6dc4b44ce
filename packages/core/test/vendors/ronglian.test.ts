import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmsOtpConfigError } from '../../src/errors.js';
import {
  ronglianAuthorization,
  ronglianSender,
  ronglianSignature,
  ronglianTimestamp,
} from '../../src/vendors/ronglian.js';
import type { Sender } from '../../src/vendors/types.js';
import { RONGLIAN, type RonglianFake, startRonglianFake } from './fakes/ronglian.js';
import { closedPortUrl } from './fakes/server.js';
import { codeMessage, expectNoSecrets, rejection } from './helpers.js';

const SECRETS = [RONGLIAN.authToken];
// 2013-02-01 15:53:06 in Beijing.
const VECTOR_TIME = Date.UTC(2013, 1, 1, 7, 53, 6);

describe('Ronglian signing helpers (known vector)', () => {
  it('signs accountSid + authToken + timestamp as upper-case MD5', () => {
    expect(ronglianSignature(RONGLIAN.accountSid, RONGLIAN.authToken, '20130201155306')).toBe(
      '3A89C5C991B8B9CE9CA44D4376B03D08',
    );
  });

  it('builds Authorization as base64(accountSid:timestamp)', () => {
    expect(ronglianAuthorization(RONGLIAN.accountSid, '20130201155306')).toBe(
      'YWFmOThmZGE0MjIyMTZkMDAxNDIyMjIwODI0YzAwMDA6MjAxMzAyMDExNTUzMDY=',
    );
  });

  it('formats the timestamp in Beijing time whatever the machine zone', () => {
    const previous = process.env.TZ;
    process.env.TZ = 'America/Los_Angeles';
    try {
      expect(ronglianTimestamp(VECTOR_TIME)).toBe('20130201155306');
      // 20:00 UTC on 31 Dec is already 04:00 on 1 Jan in Beijing.
      expect(ronglianTimestamp(Date.UTC(2023, 11, 31, 20, 0, 0))).toBe('20240101040000');
    } finally {
      if (previous === undefined) delete process.env.TZ;
      else process.env.TZ = previous;
    }
  });
});

describe('ronglianSender', () => {
  let fake: RonglianFake;
  let sender: Sender;

  beforeEach(async () => {
    fake = await startRonglianFake();
    sender = ronglianSender({ ...RONGLIAN, templateId: '1', baseUrl: fake.url, clock: () => VECTOR_TIME });
  });
  afterEach(async () => {
    expect(fake.mismatches).toEqual([]);
    await fake.close();
  });

  it('sends a code with the documented URL, sig, headers and body', async () => {
    fake.expectTimestamp = '20130201155306';
    const receipt = await sender.send(codeMessage());
    expect(receipt).toEqual({ vendor: 'ronglian', messageId: 'ff8080813c373cab013c94b0f0512345' });
    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(req.query.get('sig')).toBe('3A89C5C991B8B9CE9CA44D4376B03D08');
    expect(req.headers.authorization).toBe(
      'YWFmOThmZGE0MjIyMTZkMDAxNDIyMjIwODI0YzAwMDA6MjAxMzAyMDExNTUzMDY=',
    );
    expect(req.json).toEqual({
      to: '13800138000',
      appId: RONGLIAN.appId,
      templateId: '1',
      datas: ['482913', '5'],
      reqId: '6f1c2a9e4b7d4c1e9a2f3d5e7b9c1a20',
    });
  });

  it('uses the datas option to fill the template', async () => {
    const custom = ronglianSender({
      ...RONGLIAN,
      templateId: 7,
      baseUrl: fake.url,
      datas: (code, minutes) => [`${code}`, `${minutes}分钟`, '登录'],
    });
    await custom.send(codeMessage({ ttl: 90 }));
    expect(fake.requests[0]!.json).toMatchObject({ templateId: '7', datas: ['482913', '2分钟', '登录'] });
  });

  it.each(['160038', '160039', '160040', '112314'])(
    'maps frequency code %s to RATE_LIMITED',
    async (code) => {
      fake.statusCode = code;
      const error = await rejection(sender.send(codeMessage()));
      expect(error.code).toBe('RATE_LIMITED');
      expect(error.details).toMatchObject({ vendor: 'ronglian', vendorCode: code, retryAfter: 60 });
      expect(error.details.vendorMessage).toBeTruthy();
      expectNoSecrets(error, SECRETS);
    },
  );

  it.each(['160042', '160013', '112316'])('maps invalid-number code %s to INVALID_PHONE', async (code) => {
    fake.statusCode = code;
    const error = await rejection(sender.send(codeMessage()));
    expect(error.code).toBe('INVALID_PHONE');
    expect(error.details).toMatchObject({ vendor: 'ronglian', vendorCode: code });
  });

  it('maps any other status code to SEND_FAILED with the raw code and message', async () => {
    fake.statusCode = '160032';
    const error = await rejection(sender.send(codeMessage()));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toEqual({
      vendor: 'ronglian',
      reason: 'vendor_error',
      vendorCode: '160032',
      vendorMessage: '短信模板无效',
    });
    expectNoSecrets(error, SECRETS);
  });

  it('refuses numbers outside mainland China before calling the vendor', async () => {
    const error = await rejection(sender.send(codeMessage({ phone: '+85512345678' })));
    expect(error.code).toBe('INVALID_PHONE');
    expect(error.details).toMatchObject({ reason: 'unsupported_country' });
    expect(fake.requests).toHaveLength(0);
  });

  it('refuses the voice channel (SMS only) so that failover can move on', async () => {
    const error = await rejection(sender.send(codeMessage({ channel: 'voice' })));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details.reason).toBe('unsupported_channel');
    expect(fake.requests).toHaveLength(0);
  });

  it('splits a template send of 450 numbers into 200 + 200 + 50', async () => {
    const phones = Array.from({ length: 450 }, (_, i) => `+86139${String(i).padStart(8, '0')}`);
    const receipts = await sender.sendTemplate!({ phones, templateId: '9', params: ['A-42', '18:00'] });
    expect(receipts).toHaveLength(3);
    expect(fake.batches.map((b) => b.length)).toEqual([200, 200, 50]);
    expect(fake.batches.flat()).toEqual(phones.map((p) => p.slice(3)));
    expect(fake.requests[0]!.json).toMatchObject({ templateId: '9', datas: ['A-42', '18:00'] });
    expect(fake.requests[0]!.json).not.toHaveProperty('reqId');
  });

  it('reports a partial template send instead of hiding the batches already sent', async () => {
    const phones = Array.from({ length: 250 }, (_, i) => `+86139${String(i).padStart(8, '0')}`);
    fake.script = ['000000', '160032'];
    const error = await rejection(sender.sendTemplate!({ phones, templateId: '9', params: [] }));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toMatchObject({ partial: true, failedBatch: 1, batches: 2 });
    expect(error.details.receipts).toHaveLength(1);
  });

  it('refuses named template params (Ronglian takes an ordered list)', async () => {
    const error = await rejection(
      sender.sendTemplate!({ phones: ['+8613800138000'], templateId: '9', params: { a: 'b' } }),
    );
    expect(error.code).toBe('INVALID_REQUEST');
    expect(fake.requests).toHaveLength(0);
  });

  describe('transport failures → SEND_FAILED with a reason, and no secret', () => {
    it('timeout', async () => {
      fake.misbehave = 'hang';
      const quick = ronglianSender({ ...RONGLIAN, templateId: '1', baseUrl: fake.url, timeout: 50 });
      const error = await rejection(quick.send(codeMessage()));
      expect(error.code).toBe('SEND_FAILED');
      expect(error.details).toEqual({ vendor: 'ronglian', reason: 'timeout', timeoutMs: 50 });
      expectNoSecrets(error, SECRETS);
    });

    it('HTTP 5xx', async () => {
      fake.misbehave = 'status500';
      const error = await rejection(sender.send(codeMessage()));
      expect(error.details).toEqual({ vendor: 'ronglian', reason: 'http_error', httpStatus: 500 });
    });

    it('HTML instead of JSON', async () => {
      fake.misbehave = 'html';
      const error = await rejection(sender.send(codeMessage()));
      expect(error.code).toBe('SEND_FAILED');
      expect(error.details).toEqual({ vendor: 'ronglian', reason: 'bad_response', httpStatus: 200 });
    });

    it('connection refused', async () => {
      const refused = ronglianSender({ ...RONGLIAN, templateId: '1', baseUrl: await closedPortUrl() });
      const error = await rejection(refused.send(codeMessage()));
      expect(error.code).toBe('SEND_FAILED');
      expect(error.details).toEqual({ vendor: 'ronglian', reason: 'network', errno: 'ECONNREFUSED' });
      expectNoSecrets(error, SECRETS);
    });
  });
});

describe('ronglianSender options', () => {
  it.each([
    [{ ...RONGLIAN, templateId: '1', authToken: '' }, 'ronglian.authToken'],
    [{ accountSid: RONGLIAN.accountSid, appId: RONGLIAN.appId, templateId: '1' }, 'ronglian.authToken'],
    [{ ...RONGLIAN, templateId: '1', baseUrl: 'not a url' }, 'ronglian.baseUrl'],
    [{ ...RONGLIAN, templateId: '1', timeout: 0 }, 'ronglian.timeout'],
    [{ ...RONGLIAN, templateId: '1', datas: 'code' }, 'ronglian.datas'],
    [{ ...RONGLIAN, templateId: '1', timeoutMs: 100 }, 'ronglian.timeoutMs'],
  ])('throws SmsOtpConfigError naming the option (%#)', (options, path) => {
    let thrown: unknown;
    try {
      ronglianSender(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SmsOtpConfigError);
    expect((thrown as SmsOtpConfigError).path).toBe(path);
    expect(String((thrown as Error).message)).not.toContain(RONGLIAN.authToken);
  });
});
