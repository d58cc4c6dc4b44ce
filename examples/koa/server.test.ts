import { memorySender } from '@sms-otp/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer } from './server.js';

const SECRET = 'example-test-secret-of-at-least-32-bytes';
let running: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  running = await startServer(0, { exposeCode: true, secret: SECRET, sender: memorySender() });
});
afterAll(() => running?.close());

const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(`${running.url}${path}`, {
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
