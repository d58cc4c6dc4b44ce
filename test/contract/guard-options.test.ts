import { createSmsOtp, memorySender, SmsOtpConfigError } from '@sms-otp/core';
import { requireSmsVerified as expressGuard } from '@sms-otp/express';
import { smsOtpPlugin } from '@sms-otp/fastify';
import { requireSmsVerified as koaGuard } from '@sms-otp/koa';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

const otp = createSmsOtp({
  secret: 'gggggggggggggggggggggggggggggggg-0123456789ABCDEF',
  sender: memorySender(),
  purposes: ['login', 'reset-password'],
});

async function fastifyGuard(options: unknown) {
  const app = Fastify();
  await app.register(smsOtpPlugin, { otp });
  await app.ready();
  try {
    return app.requireSmsVerified(options as { purpose: string });
  } finally {
    await app.close();
  }
}

// A guard without a purpose would accept a token made for any purpose: each package refuses to build one.
describe.each([
  ['Express', async (options: unknown) => expressGuard(otp, options as { purpose: string })],
  ['Koa', async (options: unknown) => koaGuard(otp, options as { purpose: string })],
  ['Fastify', fastifyGuard],
])('%s guard options', (_name, build) => {
  it.each([
    ['no purpose', {}, 'purpose'],
    ['an unknown purpose', { purpose: 'signup' }, 'purpose'],
    ['a purpose of wrong type', { purpose: ['login'] }, 'purpose'],
    ['consume of wrong type', { purpose: 'login', consume: 'yes' }, 'consume'],
  ])('refuses %s at construction', async (_label, options, path) => {
    const error = await build(options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SmsOtpConfigError);
    expect((error as SmsOtpConfigError).path).toBe(path);
  });

  it('refuses a mistyped route option, naming it', async () => {
    const error = await build({ purpose: 'login', cookies: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SmsOtpConfigError);
    expect((error as SmsOtpConfigError).path).toBe('cookies');
    expect((error as Error).message).toMatch(/did you mean "cookie"/);
  });

  it('builds a guard for a configured purpose', async () => {
    expect(typeof (await build({ purpose: 'reset-password', consume: false }))).toBe('function');
  });
});
