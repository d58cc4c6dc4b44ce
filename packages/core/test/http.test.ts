import {
  cookieIsSecure,
  createSmsOtp,
  errorResponse,
  handleGuard,
  handleSend,
  handleVerify,
  MESSAGES_EN,
  maskPhone,
  memorySender,
  resolveHttpOptions,
} from '@sms-otp/core';
import { describe, expect, it } from 'vitest';

const secret = 'hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh-0123456789ABCDEF';

// A fixed clock: with the real one, two sends a moment apart can straddle a second (engine time is whole
// seconds) and the second sees 59 s of cooldown left instead of 60.
const clock = () => Date.UTC(2026, 0, 1);

function setup(routeOptions = {}) {
  const sender = memorySender();
  const otp = createSmsOtp({ secret, sender, defaultCountry: 'CN', clock });
  return { otp, sender, http: resolveHttpOptions(otp, routeOptions) };
}

describe('neutral HTTP handlers', () => {
  it('answers send and verify with the contract bodies and guards with the token', async () => {
    const { otp, sender, http } = setup();
    const sent = await handleSend(
      otp,
      { body: { phone: '13800138000', purpose: 'login' }, ip: '203.0.113.1' },
      http,
    );
    expect(sent.status).toBe(200);
    expect(sent.body).toEqual({ sent: true, expiresIn: 300, resendIn: 60, requestId: expect.any(String) });
    const { requestId } = sent.body as { requestId: string };
    const code = sender.outbox.last('+8613800138000')!.code;
    const verified = await handleVerify(
      otp,
      { rawBody: JSON.stringify({ phone: '+8613800138000', code, requestId }) },
      http,
    );
    expect(verified.status).toBe(200);
    const body = verified.body as { verified: boolean; token: string; expiresIn: number };
    expect(body).toEqual({ verified: true, token: expect.any(String), expiresIn: 600 });
    const guard = await handleGuard(
      otp,
      { headers: { 'x-sms-token': body.token } },
      { purpose: 'login' },
      http,
    );
    expect(guard).toMatchObject({ ok: true, verified: { phone: '+8613800138000', purpose: 'login' } });
  });

  it.each([
    ['no body', {}],
    ['a JSON array', { body: [1, 2] }],
    ['a string body', { body: 'phone' }],
    ['invalid JSON', { rawBody: '{"phone":' }],
    ['a number as phone', { body: { phone: 13800138000 } }],
    ['a nested object', { body: { phone: { $gt: '' } } }],
    ['no phone or userId', { body: { purpose: 'login' } }],
    ['a bad channel', { body: { phone: '13800138000', channel: 'fax' } }],
  ])('answers 400 INVALID_REQUEST for %s', async (_label, request) => {
    const { otp, http, sender } = setup();
    const response = await handleSend(otp, request, http);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { code: 'INVALID_REQUEST', issues: expect.any(Array) } });
    expect(sender.outbox.size).toBe(0);
  });

  it('gives 429s a Retry-After header, retryAfter and RateLimit headers', async () => {
    const { otp, http } = setup();
    await handleSend(otp, { body: { phone: '13800138001' } }, http);
    const again = await handleSend(otp, { body: { phone: '13800138001' } }, http);
    expect(again.status).toBe(429);
    expect(again.headers['retry-after']).toBe('60');
    expect(again.headers.ratelimit).toBe('limit=1, remaining=0, reset=60');
    expect(again.body).toMatchObject({ error: { code: 'RESEND_TOO_SOON', retryAfter: 60 } });
  });

  it('uses zh-CN messages and a host envelope when asked', async () => {
    const { otp, http } = setup({
      messages: 'zh-CN',
      formatResponse: (body: unknown, { ok }: { ok: boolean }) =>
        ok
          ? { code: 200, message: 'OK', data: body }
          : { code: 400, message: (body as { error: { message: string } }).error.message, data: null },
    });
    const response = await handleSend(otp, { body: { phone: '123' } }, http);
    expect(response.body).toEqual({ code: 400, message: '手机号码无效。', data: null });
  });

  it('answers 413 INVALID_REQUEST for an oversized body, and closes the connection', async () => {
    const { otp, http, sender } = setup();
    const response = await handleSend(otp, { rawBody: JSON.stringify({ phone: 'x'.repeat(20_000) }) }, http);
    expect(response.status).toBe(413);
    expect(response.headers.connection).toBe('close');
    expect(response.body).toEqual({
      error: {
        code: 'INVALID_REQUEST',
        message: MESSAGES_EN.INVALID_REQUEST,
        issues: [{ path: '', message: 'body too large' }],
      },
    });
    expect(sender.outbox.size).toBe(0);
  });

  it('sets an HttpOnly SameSite=Strict cookie in cookie mode (Secure but on plain HTTP to a loopback host), no token in the body, and the guard reads it', async () => {
    const { otp, sender, http } = setup({ cookie: true });
    const sent = await handleSend(otp, { body: { phone: '13800138002' } }, http);
    const { requestId } = sent.body as { requestId: string };
    const code = sender.outbox.last('+8613800138002')!.code;
    const local = { protocol: 'http', host: '127.0.0.1' };
    const verified = await handleVerify(
      otp,
      { body: { phone: '13800138002', code, requestId }, ...local },
      http,
    );
    expect(verified.body).toEqual({ verified: true, expiresIn: 600 });
    const cookie = verified.headers['set-cookie']!;
    expect(cookie).toMatch(/^sms_token=[\w.-]+; Path=\/; Max-Age=600; HttpOnly; SameSite=Strict$/);
    for (const [request, secure] of [
      [{}, true],
      [{ protocol: 'https', host: 'localhost' }, true],
      [{ protocol: 'http', host: 'example.com' }, true],
      [{ protocol: 'http', host: '10.0.0.1' }, true],
      [{ protocol: 'http', host: '127.8.9.10' }, false],
      [{ protocol: 'http', headers: { host: 'localhost:8080' } }, false],
      [{ protocol: 'http', host: '[::1]' }, false],
      [{ protocol: 'http', host: 'dev.localhost' }, false],
    ] as const) {
      expect(cookieIsSecure(request)).toBe(secure);
    }
    const guard = await handleGuard(
      otp,
      { headers: { cookie: `a=b; ${cookie.split(';')[0]}` } },
      { purpose: 'login' },
      http,
    );
    expect(guard.ok).toBe(true);
  });

  it('keeps vendor details on the server', async () => {
    const sender = memorySender({ fail: () => new Error('secret vendor failure') });
    const otp = createSmsOtp({ secret, sender });
    const response = await handleSend(otp, { body: { phone: '+8613800138003' } }, resolveHttpOptions(otp));
    expect(response.status).toBe(502);
    expect(JSON.stringify(response.body)).not.toMatch(/vendor/);
  });

  it('masks phones for logs', () => {
    expect(maskPhone('+8613800138000')).toBe('+86*******8000');
  });
});

describe('errors of another copy of the package', () => {
  it('answers them as its own (a framework package next to a second copy of core)', () => {
    const { http } = setup();
    // What an SmsOtpError of another copy is to this one: not an instance of this class, but branded.
    const foreign = Object.assign(new Error('The code is wrong or expired.'), {
      [Symbol.for('sms-otp.error')]: true,
      code: 'CODE_INVALID',
      status: 400,
      details: { attemptsLeft: 2 },
    });
    const response = errorResponse(foreign, http);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      error: { code: 'CODE_INVALID', message: http.messages.CODE_INVALID, attemptsLeft: 2 },
    });
    expect(() => errorResponse(new Error('a bug'), http)).toThrow('a bug');
  });
});
