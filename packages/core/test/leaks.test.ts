/**
 * Invariant 9 and "secrets never in logs", for what a host logs: the errors themselves. A host prints an
 * error whole (`console.error(error)`, `util.inspect`), causes and details included; none of it may carry a
 * code, a phone in full, a client IP or a credential.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import {
  createSmsOtp,
  jpushCodes,
  maskPhone,
  RedisStore,
  ronglianSender,
  type Sender,
  SmsOtpError,
} from '@sms-otp/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../../../test/support/redis.js';
import { vendorText } from '../src/vendors/http.js';

const SECRET = 'test-secret-test-secret-test-secret!-0123456789ABCDEF';
const PHONE = '+8613800138000';
const quiet = { warn() {} };
const printed = (error: unknown) => inspect(error, { depth: 20 });

describe('store errors', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  }, 60_000);
  afterAll(() => redis.stop());

  it('STORE_UNAVAILABLE keeps the store error’s name and message, not the command’s arguments', async () => {
    const admin = redis.client();
    const client = redis.client();
    const otp = createSmsOtp({
      secret: SECRET,
      store: new RedisStore({ client }),
      sender: memoryless(),
      logger: quiet,
    });
    // A store that refuses writes (out of memory; a read-only replica after a failover answers alike).
    await admin.config('SET', 'maxmemory', '1');
    try {
      const error = await otp.send({ phone: PHONE, ip: '203.0.113.9' }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', details: { reason: 'error' } });
      const cause = (error as Error).cause as Error & { code?: string };
      expect(cause.message).toMatch(/OOM/);
      expect(cause.name).toBe('ReplyError');
      const text = printed(error);
      expect(text).not.toContain(PHONE);
      expect(text).not.toContain('203.0.113.9');
      expect(text).not.toContain('redis.call');
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      await otp.close();
      admin.disconnect();
    }
  });
});

describe('sender errors', () => {
  it('SEND_FAILED keeps a host sender error’s name, message and system code, not its request', async () => {
    let code = '';
    const sender: Sender = {
      kind: 'sender',
      name: 'host-sdk',
      channels: ['sms'],
      async send(message) {
        code = message.code;
        // What HTTP clients (axios, got) attach to their errors: the request and its headers.
        throw Object.assign(new Error('Request failed with status code 400'), {
          code: 'ERR_BAD_REQUEST',
          config: {
            data: JSON.stringify({ PhoneNumbers: message.phone, TemplateParam: { code: message.code } }),
          },
          headers: { Authorization: 'Bearer APIKEY-123456789' },
        });
      },
    };
    const otp = createSmsOtp({ secret: SECRET, sender, logger: quiet });
    const error = await otp.send({ phone: PHONE }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SEND_FAILED' });
    const cause = (error as Error).cause as Error & { code?: string };
    expect(cause).toMatchObject({
      name: 'Error',
      message: 'Request failed with status code 400',
      code: 'ERR_BAD_REQUEST',
    });
    expect(cause.stack).toMatch(/\n\s+at /);
    const text = printed(error);
    expect(code).toMatch(/^\d{6}$/);
    expect(text).not.toContain(code);
    expect(text).not.toContain('APIKEY');
    expect(text).not.toContain(PHONE);
  });

  it('SEND_FAILED keeps the library’s own error whole as its cause', async () => {
    const refusal = new SmsOtpError('INVALID_REQUEST', { field: 'userId' });
    const sender: Sender = {
      kind: 'sender',
      name: 'refusing',
      channels: ['sms'],
      async send() {
        throw refusal;
      },
    };
    const otp = createSmsOtp({ secret: SECRET, sender, logger: quiet });
    const error = await otp.send({ phone: PHONE }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SEND_FAILED' });
    expect((error as Error).cause).toBe(refusal);
  });
});

describe('vendor messages', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  /** A vendor whose error text repeats the request (its body and URL). */
  async function echoing(answer: (body: string, url: string) => { status: number; json: unknown }) {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        const { status, json } = answer(body, req.url ?? '');
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  }

  it('keeps words, not digit runs or long tokens, and at most 200 characters', () => {
    expect(vendorText('invalid code 123456 for 13800138000')).toBe('invalid code … for …');
    expect(vendorText('sig=E04DF9A1B2C3D4E5F60718293A4B5C6D bad')).toBe('… bad');
    expect(vendorText('模板不存在, 60秒内 out of freq')).toBe('模板不存在, 60秒内 out of freq');
    expect(vendorText('internationalization_failure')).toBe('internationalization_failure');
    expect(vendorText('x'.repeat(500))).toHaveLength(201);
    expect(vendorText(undefined)).toBe('');
  });

  it('Ronglian: a statusMsg that echoes the request loses the code, the account id and the signature', async () => {
    const baseUrl = await echoing((body, url) => ({
      status: 200,
      json: { statusCode: '160032', statusMsg: `template data invalid: ${body} ${url}` },
    }));
    const accountSid = 'ACSID00000000000000000000000001';
    let code = '';
    const ronglian = ronglianSender({
      accountSid,
      authToken: 'AUTHTOKENsecret00000000000000001',
      appId: 'app1',
      templateId: '1',
      baseUrl,
    });
    const sender: Sender = {
      ...ronglian,
      send: (message) => {
        code = message.code;
        return ronglian.send(message);
      },
    };
    const otp = createSmsOtp({ secret: SECRET, sender, logger: quiet });
    const error = await otp.send({ phone: PHONE }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SEND_FAILED', details: { vendorCode: '160032' } });
    expect((error as { details: { vendorMessage: string } }).details.vendorMessage).toMatch(
      /^template data invalid/,
    );
    const text = printed(error);
    expect(code).toMatch(/^\d{6}$/);
    expect(text).not.toContain(code);
    expect(text).not.toContain(accountSid);
    expect(text).not.toContain('13800138000');
    expect(text).not.toMatch(/sig=[0-9A-F]{8}/);
  });

  it('JPush: a check answer that echoes the typed code loses it', async () => {
    const baseUrl = await echoing((body, url) =>
      url.endsWith('/valid')
        ? { status: 403, json: { error: { code: 50011, message: `expired code ${body}` } } }
        : { status: 200, json: { msg_id: '288193860302' } },
    );
    const otp = createSmsOtp({
      secret: SECRET,
      sender: jpushCodes({ appKey: 'k'.repeat(24), masterSecret: 'm'.repeat(24), templateId: 1, baseUrl }),
      logger: quiet,
    });
    const { requestId } = await otp.send({ phone: PHONE });
    const error = await otp.verify({ phone: PHONE, code: '731946', requestId }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CODE_EXPIRED' });
    expect(printed(error)).not.toContain('731946');
  });
});

describe('maskPhone', () => {
  it('hides at least five digits of a usual number and most of a short one', () => {
    expect(maskPhone('+8613800138000')).toBe('+86*******8000');
    expect(maskPhone('+12025550123')).toBe('+12*****0123');
    expect(maskPhone('+6834002')).toBe('+68***02');
    expect(maskPhone('+50012345')).toBe('+50****45');
    expect(maskPhone('+12345')).toBe('+1***');
  });
});

/** A sender that accepts everything (the store fails first in these tests). */
function memoryless(): Sender {
  return {
    kind: 'sender',
    name: 'none',
    channels: ['sms'],
    async send() {
      return { vendor: 'none' };
    },
  };
}
