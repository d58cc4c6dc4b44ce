/**
 * Child process of bench/overload.ts: an Express app with the sms-otp routes on a MemoryStore, captchas
 * limited per process by `captcha.maxPending` (argv[2]; the per-IP captcha window raised out of the way, as
 * for a flood from many addresses). Prints `READY <port>`.
 *
 *   node --import tsx bench/overload-server.ts <maxPending>
 */
import type { AddressInfo } from 'node:net';
import { createSmsOtp } from '@sms-otp/core';
import { smsOtp } from '@sms-otp/express';
import express from 'express';
import { benchEngineOptions } from './support.js';

const maxPending = Number(process.argv[2]);
const otp = createSmsOtp({
  ...benchEngineOptions(),
  breaker: false,
  logger: { warn() {} },
  captcha: { perIpHour: 1_000_000, maxPending },
});
const app = express();
// The flood floor: what answering a refused captcha costs without sms-otp (the same status and a body of
// the same shape), so that the user's latency under a flood of it shows what the HTTP stack alone costs.
app.get('/trivial', (_req, res) => {
  res
    .status(429)
    .set('Retry-After', '1')
    .json({ error: { code: 'RATE_LIMITED', message: 'Too many captchas.' } });
});
app.use(smsOtp(otp));
const server = app.listen(0, '127.0.0.1', () => {
  console.log(`READY ${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  server.close();
  void otp.close().then(() => process.exit(0));
});
