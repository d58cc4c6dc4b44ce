import { memorySender } from '@sms-otp/core';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { type RedisServer, startRedis } from '../../test/support/redis.js';
import { type RunningApp, startServer } from './server.js';

const SECRET = 'example-test-secret-of-at-least-32-bytes';
let redis: RedisServer;
let running: RunningApp;
const errors = vi.spyOn(console, 'error');
const warnings = vi.spyOn(console, 'warn').mockImplementation(() => {});

beforeAll(async () => {
  redis = await startRedis();
  running = await startServer(0, {
    redisUrl: redis.url,
    exposeCode: true,
    otp: { secret: SECRET, sender: memorySender(), captcha: { policy: 'never' } },
  });
});
afterAll(async () => {
  await running?.close();
  await redis?.stop();
  errors.mockRestore();
  warnings.mockRestore();
});

const send = async (phone: string) => {
  const response = await fetch(`${running.url}/sms/send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ phone }),
  });
  return { status: response.status, body: (await response.json()) as { error?: { code: string } } };
};

it('Redis down: STORE_UNAVAILABLE, one line in the log (no ioredis "Unhandled error event"), and back', async () => {
  expect((await send('13800138001')).status).toBe(200);
  await redis.kill();
  expect(await send('13800138002')).toMatchObject({
    status: 503,
    body: { error: { code: 'STORE_UNAVAILABLE' } },
  });
  // ioredis goes on reconnecting: each failure is an error event, reported once per outage.
  await vi.waitFor(() => expect(warnings).toHaveBeenCalled(), { timeout: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const unhandled = errors.mock.calls.filter((call) => String(call[0]).includes('Unhandled error event'));
  expect(unhandled).toEqual([]);
  expect(warnings.mock.calls.map((call) => String(call[0]))).toEqual([
    expect.stringMatching(
      /^Redis at redis:\/\/127\.0\.0\.1:\d+ is unavailable \(.+\); the routes answer STORE_UNAVAILABLE/,
    ),
  ]);

  await redis.restart();
  await vi.waitFor(() => expect(warnings).toHaveBeenCalledTimes(2), { timeout: 15_000 });
  expect(String(warnings.mock.calls[1]![0])).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:\d+ is back\.$/);
  expect((await send('13800138003')).status).toBe(200);
});
