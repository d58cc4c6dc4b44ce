/**
 * Phone login with SMS codes: an Express 5 app with `POST /sms/send`, `POST /sms/verify`,
 * `GET /sms/captcha`, a guarded `POST /api/me` and a small web page at `/`.
 *
 *   npx -y pnpm@10 demo                     # from the repository root, http://localhost:3000
 *   PORT=8080 REDIS_URL=redis://localhost:6379 npx -y pnpm@10 demo
 *   SMS_VENDOR=ronglian RONGLIAN_ACCOUNT_SID=… RONGLIAN_AUTH_TOKEN=… RONGLIAN_APP_ID=… RONGLIAN_TEMPLATE_ID=1 npx -y pnpm@10 demo
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createSmsOtp, openApiDocument, RedisStore, type SmsOtp, type SmsOtpOptions } from '@sms-otp/core';
import { requireSmsVerified, smsOtp } from '@sms-otp/express';
import express, { type Express } from 'express';
import { Redis } from 'ioredis';
import { receiptsFromEnv, vendorFromEnv } from './vendor-from-env.js';

export interface AppOptions {
  /**
   * Engine options; they win over the example's defaults (memory store, console sender, purpose login,
   * {@link DEMO_CAPTCHA}). `captcha` is merged into `DEMO_CAPTCHA`, so `{ captcha: { verifier } }` keeps
   * the adaptive policy and `{ captcha: { policy: 'never' } }` turns it off.
   */
  otp?: SmsOtpOptions;
  /** Keeps codes in Redis instead of memory. Default `process.env.REDIS_URL`. */
  redisUrl?: string;
  /** Puts the code in send responses so the page can show it. Default: with the console sender outside production. */
  exposeCode?: boolean;
  /** Where `SMS_VENDOR` and the vendor's credentials are read (see vendor-from-env.ts). Default `process.env`. */
  env?: Record<string, string | undefined>;
}

export interface ExampleApp {
  app: Express;
  otp: SmsOtp;
  /** Stops the engine's timers and closes the Redis connection, if any. */
  close(): Promise<void>;
}

/**
 * The demo asks for the image captcha early, so a person sees it after a few sends: from the 4th send per
 * IP address within an hour, and from the 3rd per phone number.
 */
export const DEMO_CAPTCHA = {
  policy: 'adaptive',
  afterSendsPerIp: 3,
  afterSendsPerPhone: 2,
} as const satisfies SmsOtpOptions['captcha'];

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * Builds the app without listening, so tests can start it on port 0.
 *
 * @example
 * const { app } = createApp();
 * app.listen(3000);
 */
export function createApp(options: AppOptions = {}): ExampleApp {
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL;
  const redis = redisUrl ? new Redis(redisUrl, { maxRetriesPerRequest: 1 }) : undefined;
  if (redis) watchRedis(redis);
  // The sender the engine will use: one given in `options.otp` wins over the environment's.
  const sender = options.otp?.sender ?? vendorFromEnv(options.env ?? process.env);
  const otp = createSmsOtp({
    secret: process.env.SMS_OTP_SECRET,
    purposes: ['login'],
    defaultCountry: 'CN',
    // The page shows codes only while they go nowhere (the console sender) and outside production.
    exposeCode:
      options.exposeCode ??
      (sender.kind === 'sender' && sender.development === true && process.env.NODE_ENV !== 'production'),
    ...(redis ? { store: new RedisStore({ client: redis }) } : {}),
    ...options.otp,
    sender,
    captcha: { ...DEMO_CAPTCHA, ...options.otp?.captcha },
  });

  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.set({
      'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    next();
  });

  // POST /sms/send, POST /sms/verify and GET /sms/captcha (the image the page shows when a send needs one).
  const receipts = receiptsFromEnv(options.env ?? process.env);
  app.use(smsOtp(otp, { prefix: '/sms', ...(receipts ? { receipts } : {}) }));

  // A real app would start a session here; the example just says who signed in.
  app.post('/api/me', requireSmsVerified(otp, { purpose: 'login' }), (req, res) => {
    const { phone, purpose, verifiedAt } = req.smsVerified!;
    res.json({ phone, purpose, verifiedAt });
  });

  const openApi = openApiDocument({
    prefix: '/sms',
    title: 'sms-otp example: phone login',
    guarded: [{ method: 'post', path: '/api/me', purpose: 'login', summary: 'The phone that signed in' }],
    ...(receipts ? { receipts } : {}),
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });

  app.use(express.static(PUBLIC_DIR, { index: 'index.html' }));

  return {
    app,
    otp,
    async close() {
      await otp.close();
      await redis?.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * Says once when Redis goes away and once when it is back. An ioredis client needs an `error` listener: without
 * one it prints "Unhandled error event" with a stack on every reconnect attempt while Redis is down. Meanwhile
 * sends and verifies answer STORE_UNAVAILABLE (503).
 */
function watchRedis(redis: Redis): void {
  let down = false;
  redis.on('error', (error: Error) => {
    if (!down)
      console.error(`[redis] ${error.message}; reconnecting (sends and verifies answer 503 meanwhile)`);
    down = true;
  });
  redis.on('ready', () => {
    if (down) console.error('[redis] connected again');
    down = false;
  });
}

export interface RunningApp extends ExampleApp {
  server: Server;
  /** `http://localhost:<port>` */
  url: string;
}

/**
 * Starts the app on `port` (0 picks a free one) and `host` (default 127.0.0.1, this machine only; `HOST=0.0.0.0`
 * for a container). `close()` stops the server and the app.
 */
export async function startServer(
  port: number,
  options: AppOptions = {},
  host = '127.0.0.1',
): Promise<RunningApp> {
  const example = createApp(options);
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = example.app.listen(port, host, (error?: Error) =>
      error ? reject(error) : resolve(listening),
    );
  });
  const url = `http://localhost:${(server.address() as AddressInfo).port}`;
  return {
    ...example,
    server,
    url,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await example.close();
    },
  };
}

const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (runDirectly) {
  const running = await startServer(Number(process.env.PORT ?? 3000), {}, process.env.HOST ?? '127.0.0.1');
  console.log(
    `sms-otp example: phone login on ${running.url} (API description: ${running.url}/openapi.json)`,
  );
  if (running.otp.options.exposeCode) console.log('Development mode: the page shows each code.');
  const stop = () => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
