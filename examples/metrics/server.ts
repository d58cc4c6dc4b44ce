/**
 * Prometheus metrics from sms-otp events: an Express 5 app with `POST /sms/send`, `POST /sms/verify`,
 * `GET /sms/captcha` and `GET /metrics`, where `otp.on(...)` listeners drive prom-client counters.
 *
 *   npx -y pnpm@10 example:metrics          # from the repository root, http://localhost:3000/metrics
 *
 * Events carry masked phones and never a code; the counters go further and keep no phone at all, not even a
 * breaker's number prefix: every label has a small, fixed set of values.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import {
  consoleSender,
  createSmsOtp,
  type ReceiptOptions,
  type SmsOtp,
  type SmsOtpOptions,
} from '@sms-otp/core';
import { smsOtp } from '@sms-otp/express';
import express, { type Express } from 'express';
import { Counter, Registry } from 'prom-client';

/** Label value for an event field that is absent (a send refused before its phone was parsed, …). */
const NONE = 'none';

export interface OtpMetrics {
  registry: Registry;
  /** Stops counting: removes the listeners from the engine. */
  stop(): void;
}

/**
 * Registers the sms-otp counters in `registry` and subscribes them to the engine's events.
 *
 * @example
 * const registry = new Registry();
 * otpMetrics(otp, registry);
 * app.get('/metrics', async (_req, res) => {
 *   res.type(registry.contentType).send(await registry.metrics());
 * });
 */
export function otpMetrics(otp: SmsOtp, registry: Registry = new Registry()): OtpMetrics {
  const registers = [registry];
  const sent = new Counter({
    name: 'sms_otp_sent_total',
    help: 'Codes handed to the SMS vendor (test numbers: vendor "test-number").',
    labelNames: ['purpose', 'channel', 'vendor', 'country'] as const,
    registers,
  });
  const verified = new Counter({
    name: 'sms_otp_verified_total',
    help: 'Codes verified (a token was issued).',
    labelNames: ['purpose'] as const,
    registers,
  });
  const failed = new Counter({
    name: 'sms_otp_failed_total',
    help: 'Sends and verifies that failed for a reason that is not a limit (wrong code, vendor failure, bad input).',
    labelNames: ['operation', 'code'] as const,
    registers,
  });
  const blocked = new Counter({
    name: 'sms_otp_blocked_total',
    help: 'Sends and verifies a limit refused (cooldown, rate windows, attempts, captcha, country, breaker).',
    labelNames: ['operation', 'code', 'scope'] as const,
    registers,
  });
  const receipts = new Counter({
    name: 'sms_otp_delivery_receipts_total',
    help: 'Delivery receipts from the vendors (receipts route): status "delivered" or "undelivered".',
    labelNames: ['vendor', 'country', 'status'] as const,
    registers,
  });
  const breaker = new Counter({
    name: 'sms_otp_breaker_transitions_total',
    help: 'Conversion breakers (SMS pumping defence) that opened or closed.',
    labelNames: ['scope', 'state'] as const,
    registers,
  });

  const unsubscribe = [
    otp.on('sent', (event) => {
      sent.inc({
        purpose: event.purpose,
        channel: event.channel,
        vendor: event.vendor,
        country: event.country ?? NONE,
      });
    }),
    otp.on('verified', (event) => {
      verified.inc({ purpose: event.purpose });
    }),
    otp.on('failed', (event) => {
      failed.inc({ operation: event.operation, code: event.code });
    }),
    otp.on('blocked', (event) => {
      blocked.inc({ operation: event.operation, code: event.code, scope: event.scope ?? NONE });
    }),
    // Delivery rate per vendor and country: delivered / (delivered + undelivered). No error code as a label:
    // carriers' codes are many; log `event.errorCode` if you need it.
    otp.on('delivered', (event) => {
      receipts.inc({ vendor: event.vendor, country: event.country ?? NONE, status: 'delivered' });
    }),
    otp.on('undelivered', (event) => {
      receipts.inc({ vendor: event.vendor, country: event.country ?? NONE, status: 'undelivered' });
    }),
    // `event.key` (a country or a number prefix) stays out: a prefix is most of a phone number.
    otp.on('breaker', (event) => {
      breaker.inc({ scope: event.scope, state: event.state });
    }),
  ];
  return {
    registry,
    stop() {
      for (const off of unsubscribe) off();
    },
  };
}

export interface ExampleApp {
  app: Express;
  otp: SmsOtp;
  registry: Registry;
  /** Stops counting and the engine's timers. */
  close(): Promise<void>;
}

/**
 * Builds the app without listening; `otp` options win over the defaults (memory store, console sender).
 * `receipts` mounts the delivery receipts route (`POST /sms/receipts/:vendor`).
 */
export function createApp(options: SmsOtpOptions = {}, receipts?: ReceiptOptions): ExampleApp {
  const otp = createSmsOtp({
    secret: process.env.SMS_OTP_SECRET,
    sender: consoleSender(),
    purposes: ['login'],
    defaultCountry: 'CN',
    ...options,
  });
  const metrics = otpMetrics(otp);

  const app = express();
  app.disable('x-powered-by');
  app.use(smsOtp(otp, { prefix: '/sms', ...(receipts ? { receipts } : {}) }));
  // Keep /metrics off the public internet (a separate port, a private network, or auth) in a real app.
  app.get('/metrics', (_req, res, next) => {
    metrics.registry.metrics().then((text) => {
      res.type(metrics.registry.contentType).set('cache-control', 'no-store').send(text);
    }, next);
  });

  return {
    app,
    otp,
    registry: metrics.registry,
    async close() {
      metrics.stop();
      await otp.close();
    },
  };
}

export interface RunningApp extends ExampleApp {
  server: Server;
  /** `http://localhost:<port>` */
  url: string;
}

/** Starts the app on `port` (0 picks a free one). `close()` stops the server and the app. */
export async function startServer(
  port: number,
  options: SmsOtpOptions = {},
  receipts?: ReceiptOptions,
): Promise<RunningApp> {
  const example = createApp(options, receipts);
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = example.app.listen(port, '127.0.0.1', (error?: Error) =>
      error ? reject(error) : resolve(listening),
    );
  });
  return {
    ...example,
    server,
    url: `http://localhost:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await example.close();
    },
  };
}

const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (runDirectly) {
  // Receipts are on when their secrets are set: TWILIO_AUTH_TOKEN, ALIYUN_RECEIPT_PATH, TENCENT_RECEIPT_PATH.
  const env = process.env;
  const receipts: ReceiptOptions = {
    ...(env.TWILIO_AUTH_TOKEN ? { twilio: { authToken: env.TWILIO_AUTH_TOKEN } } : {}),
    ...(env.ALIYUN_RECEIPT_PATH ? { aliyun: { secretPath: env.ALIYUN_RECEIPT_PATH } } : {}),
    ...(env.TENCENT_RECEIPT_PATH ? { tencent: { secretPath: env.TENCENT_RECEIPT_PATH } } : {}),
  };
  const running = await startServer(
    Number(process.env.PORT ?? 3000),
    {},
    Object.keys(receipts).length > 0 ? receipts : undefined,
  );
  console.log(`sms-otp example: metrics on ${running.url}/metrics (API: POST ${running.url}/sms/send)`);
  const stop = () => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
