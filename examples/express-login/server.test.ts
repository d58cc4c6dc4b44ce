import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CaptchaVerifier, memorySender } from '@sms-otp/core';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createApp, DEMO_CAPTCHA, startServer } from './server.js';

const SECRET = 'example-test-secret-of-at-least-32-bytes';
let running: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  running = await startServer(0, { exposeCode: true, otp: { secret: SECRET, sender: memorySender() } });
});
afterAll(() => running?.close());

const post = async (path: string, body: unknown, headers: Record<string, string> = {}, url = running.url) => {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

it('send → verify → the guarded route answers the phone', async () => {
  const sent = await post('/sms/send', { phone: '13800138000' });
  expect(sent).toMatchObject({ status: 200, body: { sent: true, resendIn: 60 } });
  const code = sent.body.devCode as string;
  expect(code).toMatch(/^\d{6}$/);
  // The verify names its send: the requestId the send answered.
  const requestId = sent.body.requestId as string;
  expect(requestId).toEqual(expect.any(String));

  expect((await post('/api/me', {})).status).toBe(401);
  expect(await post('/sms/verify', { phone: '13800138000', code })).toMatchObject({
    status: 400,
    body: { error: { code: 'INVALID_REQUEST', issues: [{ path: 'requestId' }] } },
  });
  expect(await post('/sms/verify', { phone: '13800138000', code, requestId: 'another-send' })).toMatchObject({
    status: 400,
    body: { error: { code: 'CODE_INVALID', attemptsLeft: 5 } },
  });
  const verified = await post('/sms/verify', { phone: '13800138000', code, requestId });
  expect(verified).toMatchObject({ status: 200, body: { verified: true } });

  const me = await post('/api/me', {}, { 'x-sms-token': verified.body.token as string });
  expect(me).toEqual({ status: 200, body: expect.objectContaining({ phone: '+8613800138000' }) });
  // The token is good for one guarded request.
  expect((await post('/api/me', {}, { 'x-sms-token': verified.body.token as string })).status).toBe(401);
});

it('serves the login page, its script and the OpenAPI document', async () => {
  const page = await fetch(`${running.url}/`);
  expect(page.headers.get('content-type')).toMatch(/text\/html/);
  expect(await page.text()).toContain('Verify and sign in');
  expect((await fetch(`${running.url}/app.js`)).headers.get('content-type')).toMatch(/javascript/);

  const openApi = (await (await fetch(`${running.url}/openapi.json`)).json()) as {
    openapi: string;
    paths: Record<string, unknown>;
  };
  expect(openApi.openapi).toBe('3.1.0');
  expect(Object.keys(openApi.paths)).toEqual(expect.arrayContaining(['/sms/send', '/sms/verify', '/api/me']));
});

it('asks for a captcha from the 4th send per IP; GET /sms/captcha serves the image', async () => {
  expect(DEMO_CAPTCHA).toEqual({ policy: 'adaptive', afterSendsPerIp: 3, afterSendsPerPhone: 2 });
  // The demo's captcha settings with a verifier whose right answer is known; the image is still built in.
  const verifier: CaptchaVerifier = { name: 'test', verify: async ({ token }) => token === 'RIGHT' };
  const demo = await startServer(0, {
    exposeCode: true,
    otp: { secret: SECRET, sender: memorySender(), captcha: { verifier } },
  });
  try {
    const send = (phone: string, extra: Record<string, string> = {}) =>
      post('/sms/send', { phone, ...extra }, {}, demo.url);
    for (const phone of ['13800138001', '13800138002', '13800138003'])
      expect((await send(phone)).status).toBe(200);
    expect(await send('13800138004')).toMatchObject({
      status: 400,
      body: { error: { code: 'CAPTCHA_REQUIRED', message: 'Please solve the captcha first.', scope: 'ip' } },
    });

    const response = await fetch(`${demo.url}/sms/captcha`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const captcha = (await response.json()) as { captchaKey: string; image: string; expiresIn: number };
    expect(captcha).toEqual({
      captchaKey: expect.any(String),
      image: expect.stringMatching(/^data:image\/png;base64,/),
      expiresIn: 120,
    });
    const png = Buffer.from(captcha.image.split(',')[1]!, 'base64');
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');

    const { captchaKey } = captcha;
    expect(await send('13800138004', { captchaKey, captcha: 'WRONG' })).toMatchObject({
      status: 400,
      body: { error: { code: 'CAPTCHA_INVALID', message: 'The captcha answer is wrong.' } },
    });
    expect(await send('13800138004', { captchaKey, captcha: 'RIGHT' })).toMatchObject({
      status: 200,
      body: { sent: true },
    });
  } finally {
    await demo.close();
  }
});

it('with Redis down it logs one line of its own, not ioredis\'s "Unhandled error event"', async () => {
  // A port nothing listens on: a server that opened it and closed again.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const logged: string[] = [];
  const spy = vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    logged.push(args.map(String).join(' '));
  });
  const example = createApp({ redisUrl: `redis://127.0.0.1:${port}`, otp: { secret: SECRET } });
  try {
    // ioredis retries: wait for a few attempts to have failed.
    await expect.poll(() => logged.length, { timeout: 10_000 }).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(logged.filter((line) => line.includes('Unhandled error event'))).toEqual([]);
    expect(logged).toEqual([
      expect.stringMatching(/^Redis at redis:\/\/127\.0\.0\.1:\d+ is unavailable \(.*ECONNREFUSED/),
    ]);
  } finally {
    spy.mockRestore();
    await example.close();
  }
});
