/**
 * The sms-otp API on Fastify 5: `POST /sms/send`, `POST /sms/verify`, `GET /sms/captcha`, a guarded
 * `POST /api/me`, and the API as OpenAPI 3.1 at `GET /openapi.json`.
 *
 *   npx -y pnpm@10 example:fastify          # from the repository root, http://localhost:3000
 *
 * A client posts `{ phone, code, requestId }` to verify, with the `requestId` its send answered: the engine binds a
 * code to its send (`requireRequestId`, on by default). Past 20 wrong codes for a number, its sends and verifies
 * also carry `captchaKey` + `captcha` (the image of `GET /sms/captcha`) until the day's window ends.
 */
import { pathToFileURL } from 'node:url';
import { createSmsOtp, isProduction, openApiDocument, type SmsOtpOptions } from '@sms-otp/core';
import { smsOtpPlugin } from '@sms-otp/fastify';
import Fastify from 'fastify';

/** Builds the app; `otp` options win over the defaults (memory store, console sender, purpose login). */
export async function createApp(options: SmsOtpOptions = {}) {
  const otp = createSmsOtp({
    secret: process.env.SMS_OTP_SECRET,
    purposes: ['login'],
    defaultCountry: 'CN',
    // Codes in responses only with the default console sender, and outside production.
    exposeCode: options.sender === undefined && !isProduction(options.mode, process.env.NODE_ENV),
    ...options,
  });
  const app = Fastify();
  app.addHook('onClose', () => otp.close());
  await app.register(smsOtpPlugin, { otp, prefix: '/sms' });
  // As an onRequest hook the guard runs before Fastify reads the body: a request without a valid token gets
  // the contract's 401 whatever its body, and nobody's body is parsed before they proved the phone.
  app.post('/api/me', { onRequest: app.requireSmsVerified({ purpose: 'login' }) }, async (request) => ({
    phone: request.smsVerified!.phone,
  }));
  const openApi = openApiDocument({
    prefix: '/sms',
    title: 'sms-otp Fastify example',
    guarded: [{ method: 'post', path: '/api/me', purpose: 'login', summary: 'The phone that signed in' }],
    purposes: otp.options.purposes,
    // The default sender (console) takes both channels, another one 'sms' unless it says so;
    // a code provider makes codes of its own length.
    ...(otp.options.sender ? { channels: otp.options.sender.channels ?? ['sms'] } : {}),
    ...(otp.options.sender?.kind === 'provider' ? {} : { codeLength: otp.options.codeLength }),
    exposeCode: otp.options.exposeCode === true,
  });
  app.get('/openapi.json', async () => openApi);
  return app;
}

/** Starts the app on `port` (0 picks a free one). */
export async function startServer(port: number, options: SmsOtpOptions = {}) {
  const app = await createApp(options);
  const address = await app.listen({ port, host: '127.0.0.1' });
  return { app, url: address, close: () => app.close() };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { url } = await startServer(Number(process.env.PORT ?? 3000));
  console.log(`sms-otp Fastify example on ${url}`);
}
