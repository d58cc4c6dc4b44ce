/**
 * The sms-otp API on Koa 3: `POST /sms/send`, `POST /sms/verify`, `GET /sms/captcha`, a guarded
 * `POST /api/me`, and the API as OpenAPI 3.1 at `GET /openapi.json`.
 *
 *   npx -y pnpm@10 example:koa              # from the repository root, http://localhost:3000
 *
 * A client posts `{ phone, code, requestId }` to verify, with the `requestId` its send answered: the engine binds a
 * code to its send (`requireRequestId`, on by default). Past 20 wrong codes for a number, its sends and verifies
 * also carry `captchaKey` + `captcha` (the image of `GET /sms/captcha`) until the day's window ends.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import Router from '@koa/router';
import { createSmsOtp, isProduction, openApiDocument, type SmsOtpOptions } from '@sms-otp/core';
import { requireSmsVerified, smsOtp } from '@sms-otp/koa';
import Koa from 'koa';

/** Builds the app; `otp` options win over the defaults (memory store, console sender, purpose login). */
export function createApp(options: SmsOtpOptions = {}) {
  const otp = createSmsOtp({
    secret: process.env.SMS_OTP_SECRET,
    purposes: ['login'],
    defaultCountry: 'CN',
    // Codes in responses only with the default console sender, and outside production.
    exposeCode: options.sender === undefined && !isProduction(options.mode, process.env.NODE_ENV),
    ...options,
  });
  const router = new Router();
  router.post('/api/me', requireSmsVerified(otp, { purpose: 'login' }), (ctx) => {
    ctx.body = { phone: ctx.state.smsVerified!.phone };
  });
  const openApi = openApiDocument({
    prefix: '/sms',
    title: 'sms-otp Koa example',
    guarded: [{ method: 'post', path: '/api/me', purpose: 'login', summary: 'The phone that signed in' }],
    purposes: otp.options.purposes,
    // The default sender (console) takes both channels, another one 'sms' unless it says so;
    // a code provider makes codes of its own length.
    ...(otp.options.sender ? { channels: otp.options.sender.channels ?? ['sms'] } : {}),
    ...(otp.options.sender?.kind === 'provider' ? {} : { codeLength: otp.options.codeLength }),
    exposeCode: otp.options.exposeCode === true,
  });
  router.get('/openapi.json', (ctx) => {
    ctx.body = openApi;
  });
  const app = new Koa().use(smsOtp(otp, { prefix: '/sms' })).use(router.routes());
  return { app, otp };
}

/** Starts the app on `port` (0 picks a free one). */
export async function startServer(port: number, options: SmsOtpOptions = {}) {
  const { app, otp } = createApp(options);
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(port, '127.0.0.1', () => resolve(listening));
  });
  return {
    otp,
    url: `http://localhost:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await otp.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { url } = await startServer(Number(process.env.PORT ?? 3000));
  console.log(`sms-otp Koa example on ${url}`);
}
