/**
 * Child process of bench/http.ts: one framework app on 127.0.0.1 with the sms-otp routes on RedisStore and
 * a baseline route `POST /baseline` that parses the JSON body the framework's usual way and makes one
 * EVALSHA of the trivial script, nothing else. Prints `READY <port>` when listening.
 *
 *   node --conditions=source --import tsx bench/http-server.ts <express|koa|fastify> <redisPort>
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import Koa from 'koa';
import { createSmsOtp, RedisStore } from '../packages/core/src/index.js';
import { smsOtp as expressRoutes } from '../packages/express/src/index.js';
import { smsOtpPlugin } from '../packages/fastify/src/index.js';
import { smsOtp as koaRoutes } from '../packages/koa/src/index.js';
import { noopSender, withBaseline } from './support.js';

const [framework, redisPort] = process.argv.slice(2);
const client = withBaseline(new Redis({ host: '127.0.0.1', port: Number(redisPort) }));
const otp = createSmsOtp({
  secret: 'bench-secret-bench-secret-bench-secret-0123',
  store: new RedisStore({ client }),
  sender: noopSender(),
  exposeCode: true,
  // Raised limits so that the verify mix is wrong / right codes, not 429s. The conversion breaker is off:
  // a stream of sends that are never verified is exactly what it exists to stop.
  maxAttempts: 10,
  maxFailuresPerPhone: 100,
  resendCooldown: 1,
  sendLimits: { perPhoneHour: 1_000, perPhoneDay: 10_000, perIpHour: 1_000_000 },
  breaker: false,
});

const baselineKey = (body: unknown) => `bench:{${String((body as { phone?: unknown } | null)?.phone)}}`;

async function listen(): Promise<number> {
  if (framework === 'express') {
    const app = express();
    app.use(expressRoutes(otp));
    app.post('/baseline', express.json(), (req, res, next) => {
      client.benchHit(baselineKey(req.body), 300_000).then(() => res.json({ ok: true }), next);
    });
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }
  if (framework === 'koa') {
    const app = new Koa();
    app.use(koaRoutes(otp));
    app.use(async (ctx, next) => {
      if (ctx.method !== 'POST' || ctx.path !== '/baseline') return next();
      let text = '';
      for await (const chunk of ctx.req) text += chunk;
      await client.benchHit(baselineKey(JSON.parse(text)), 300_000);
      ctx.body = { ok: true };
    });
    const server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }
  if (framework === 'fastify') {
    const app = Fastify();
    await app.register(smsOtpPlugin, { otp, prefix: '/sms' });
    app.post('/baseline', async (request) => {
      await client.benchHit(baselineKey(request.body), 300_000);
      return { ok: true };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return (app.server.address() as AddressInfo).port;
  }
  throw new Error(`unknown framework ${framework}`);
}

const port = await listen();
console.log(`READY ${port}`);
// The parent ends this process; never outlive it.
process.on('disconnect', () => process.exit(0));
setInterval(() => {
  if (process.ppid === 1) process.exit(0);
}, 1_000).unref();
