/**
 * Token data-loss drill (issue 16): behind a real Express app on a real redis-server, a verification token
 * that was used up stays used when Redis loses its data — an empty restart, `FLUSHALL`, or an `allkeys-lru`
 * eviction of the token's record. The guard finds no record and answers 401 `TOKEN_USED` (fail closed): a
 * token the guard let through once never passes again, and a token whose record is gone before its first
 * use is refused too (the user signs in again). New sign-ins work as soon as Redis answers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSmsOtp, memorySender, RedisStore } from '@sms-otp/core';
import { requireSmsVerified, smsOtp } from '@sms-otp/express';
import express from 'express';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../support/redis.js';

let redis: RedisServer;
/** The app's own connection (it reconnects by itself after a restart). */
let client: Redis;
/** The drill's connection, for FLUSHALL, CONFIG and filling memory. */
let admin: Redis;
let server: Server;
let base: string;
const sender = memorySender();
let phoneSeq = 0;

beforeAll(async () => {
  redis = await startRedis();
  client = redis.client();
  client.on('error', () => {});
  admin = redis.client();
  admin.on('error', () => {});
  const otp = createSmsOtp({
    secret: 'reliability-token-loss-secret-0123456789',
    store: new RedisStore({ client }),
    sender,
    defaultCountry: 'CN',
  });
  const app = express();
  app.use(smsOtp(otp));
  const answer: express.RequestHandler = (req, res) => {
    res.json({ phone: req.smsVerified!.phone });
  };
  app.post('/api/me', requireSmsVerified(otp, { purpose: 'login' }), answer);
  // Checks a token without using it up: shows a token is live before its record is lost.
  app.post('/api/peek', requireSmsVerified(otp, { purpose: 'login', consume: false }), answer);
  server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 30_000);

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await redis?.stop();
});

async function post(path: string, body: unknown, token?: string) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { 'x-sms-token': token } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const guard = async (path: '/api/me' | '/api/peek', token: string) => {
  const res = await post(path, {}, token);
  return { status: res.status, code: (res.body.error as { code?: string } | undefined)?.code };
};

/** Signs a fresh phone in as a user does (send, verify with the send's requestId): its token. */
async function signIn(): Promise<{ phone: string; token: string }> {
  phoneSeq += 1;
  const phone = `+86135${String(phoneSeq).padStart(8, '0')}`;
  const sent = await post('/sms/send', { phone });
  expect(sent.status).toBe(200);
  const code = sender.outbox.last(phone)!.code;
  const verified = await post('/sms/verify', { phone, code, requestId: sent.body.requestId });
  expect(verified.status).toBe(200);
  return { phone, token: verified.body.token as string };
}

/**
 * Two tokens before the loss: `used` went through the guarded route once (and is refused a second time);
 * `unused` is live (a check without consuming passes). Returns them for the checks after the loss.
 */
async function tokensBeforeLoss() {
  const used = await signIn();
  expect(await post('/api/me', {}, used.token)).toEqual({ status: 200, body: { phone: used.phone } });
  expect(await guard('/api/me', used.token)).toEqual({ status: 401, code: 'TOKEN_USED' });
  const unused = await signIn();
  expect(await guard('/api/peek', unused.token)).toEqual({ status: 200, code: undefined });
  return { used, unused };
}

/** After the loss: both tokens are refused as used, and a new sign-in passes the guard once. */
async function checkAfterLoss({ used, unused }: Awaited<ReturnType<typeof tokensBeforeLoss>>) {
  expect(await guard('/api/me', used.token)).toEqual({ status: 401, code: 'TOKEN_USED' });
  expect(await guard('/api/peek', used.token)).toEqual({ status: 401, code: 'TOKEN_USED' });
  expect(await guard('/api/me', unused.token)).toEqual({ status: 401, code: 'TOKEN_USED' });
  const fresh = await signIn();
  expect(await post('/api/me', {}, fresh.token)).toEqual({ status: 200, body: { phone: fresh.phone } });
  expect(await guard('/api/me', fresh.token)).toEqual({ status: 401, code: 'TOKEN_USED' });
}

describe('a consumed token after Redis loses its data', () => {
  it('FLUSHALL: 401 TOKEN_USED', async () => {
    const tokens = await tokensBeforeLoss();
    await admin.flushall();
    expect(await admin.dbsize()).toBe(0);
    await checkAfterLoss(tokens);
  });

  it('allkeys-lru eviction of the token records: 401 TOKEN_USED', async () => {
    const tokens = await tokensBeforeLoss();
    // The unused token's record is there (the used one's went with its use).
    expect(await admin.keys('*:t:*')).toHaveLength(1);
    const appKeys = async () => (await admin.keys('*')).filter((key) => !key.startsWith('filler:'));
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    await admin.config('SET', 'maxmemory', String(used + 2 * 1024 * 1024));
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      // Fills memory until LRU has evicted every key the app wrote, the token record with them.
      const filler = 'x'.repeat(4096);
      let batches = 0;
      while ((await appKeys()).length > 0) {
        batches += 1;
        expect(batches, 'the app keys were never evicted').toBeLessThan(500);
        const pipeline = admin.pipeline();
        for (let i = 0; i < 100; i++) pipeline.set(`filler:${batches}:${i}`, filler);
        await pipeline.exec();
      }
      expect(Number(/evicted_keys:(\d+)/.exec(await admin.info('stats'))![1])).toBeGreaterThan(0);
      expect(await admin.keys('*:t:*')).toEqual([]);
      await checkAfterLoss(tokens);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.flushall();
    }
  });

  it('redis-server restarted empty: 401 TOKEN_USED', async () => {
    const tokens = await tokensBeforeLoss();
    await redis.restart();
    // The app's client reconnects by itself; wait until it answers again.
    await expect.poll(() => client.ping().catch(() => 'down'), { timeout: 15_000 }).toBe('PONG');
    // No token record came back (the engine may already have written its buffered breaker counts).
    expect(await admin.keys('*:t:*')).toEqual([]);
    await checkAfterLoss(tokens);
  });
});
