// An ESM TypeScript Fastify 5 app on the packed tarballs, type-checked by `tsc` with `skipLibCheck: false`
// and without ioredis (scripts/check-packages.mjs installs, compiles and runs it). It prints the port it
// listens on; GET /outbox?phone= hands the checker the code the memory sender kept.
import { createSmsOtp, MemoryStore, memorySender, type SmsOtp } from '@sms-otp/core';
import { smsOtpPlugin } from '@sms-otp/fastify';
import Fastify from 'fastify';

const sender = memorySender();
const otp: SmsOtp = createSmsOtp({
  secret: 'packaging-check-secret-of-32-bytes!',
  store: new MemoryStore(),
  sender,
  purposes: ['login'],
  defaultCountry: 'CN',
});

const app = Fastify();
await app.register(smsOtpPlugin, { otp, prefix: '/sms' });
app.post('/login', { preHandler: app.requireSmsVerified({ purpose: 'login' }) }, async (request) => ({
  phone: request.smsVerified?.phone,
}));
app.get<{ Querystring: { phone: string } }>('/outbox', async (request) => ({
  code: sender.outbox.last(request.query.phone)?.code,
}));

const address = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`listening ${new URL(address).port}`);
process.on('SIGTERM', () => void app.close().then(() => otp.close()));
