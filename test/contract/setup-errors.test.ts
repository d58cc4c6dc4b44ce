import { createSmsOtp, memorySender, SmsOtpConfigError } from '@sms-otp/core';
import * as expressPackage from '@sms-otp/express';
import { smsOtpPlugin } from '@sms-otp/fastify';
import * as koaPackage from '@sms-otp/koa';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

const otp = createSmsOtp({
  secret: 'setup-errors-0123456789-abcdefghijklmnopqrstuvwxyz',
  sender: memorySender(),
  purposes: ['login'],
});

/** The error `build` throws or rejects with (`undefined` if none). */
async function failure(build: () => unknown): Promise<unknown> {
  try {
    await build();
    return undefined;
  } catch (error) {
    return error;
  }
}

/** Registers the Fastify plugin with `options` and builds a guard with `guard`, as an app would. */
async function fastify(options: unknown, guard?: unknown) {
  const app = Fastify();
  try {
    await app.register(smsOtpPlugin, options as never);
    await app.ready();
    if (guard !== undefined)
      (app.requireSmsVerified as (options?: unknown) => unknown)(...(guard as unknown[]));
  } finally {
    await app.close();
  }
}

type Untyped = (...args: unknown[]) => unknown;
const mounts: [string, (engine: unknown, options?: unknown) => unknown][] = [
  ['Express', (engine, options) => (expressPackage.smsOtp as Untyped)(engine, options)],
  ['Koa', (engine, options) => (koaPackage.smsOtp as Untyped)(engine, options)],
  ['Fastify', (engine, options) => fastify({ otp: engine, ...(options as object) })],
];
const guards: [string, (...args: unknown[]) => unknown][] = [
  ['Express', (...args) => (expressPackage.requireSmsVerified as Untyped)(...args)],
  ['Koa', (...args) => (koaPackage.requireSmsVerified as Untyped)(...args)],
  // The Fastify guard takes no engine: the plugin has it.
  ['Fastify', (_engine, ...args) => fastify({ otp }, args)],
];

describe.each(mounts)('%s routes: set-up errors', (name, mount) => {
  it('refuses a first argument that is not the engine, saying what to pass', async () => {
    for (const engine of [undefined, 'otp', {}, { otp }]) {
      const error = await failure(() => mount(engine, { prefix: '/sms' }));
      expect(error).toBeInstanceOf(SmsOtpConfigError);
      expect((error as SmsOtpConfigError).path).toBe('otp');
      expect((error as Error).message).toMatch(/createSmsOtp\(\)/);
      expect((error as Error).message).toContain(
        name === 'Fastify' ? 'register(smsOtpPlugin, { otp' : 'smsOtp(otp,',
      );
    }
  });

  it.each(['sms', 'auth/sms', '/sms/', '/', 7])('refuses the prefix %j', async (prefix) => {
    const error = await failure(() => mount(otp, { prefix }));
    expect(error).toBeInstanceOf(SmsOtpConfigError);
    expect((error as SmsOtpConfigError).path).toBe('prefix');
    expect((error as Error).message).toMatch(/start with "\/"/);
  });

  it('takes "/auth/sms" and "" as prefixes', async () => {
    expect(await failure(() => mount(otp, { prefix: '/auth/sms' }))).toBeUndefined();
    expect(await failure(() => mount(otp, { prefix: '' }))).toBeUndefined();
  });

  it('names a mistyped option with the one meant', async () => {
    const error = await failure(() => mount(otp, { prefx: '/sms' }));
    expect(error).toBeInstanceOf(SmsOtpConfigError);
    expect((error as SmsOtpConfigError).path).toBe('prefx');
    expect((error as Error).message).toMatch(/did you mean "prefix"/);
  });

  it('refuses options that are not an object', async () => {
    const error = await failure(() => (name === 'Fastify' ? fastify('/sms') : mount(otp, '/sms')));
    expect(error).toBeInstanceOf(SmsOtpConfigError);
  });
});

describe.each(guards)('%s guard: set-up errors', (name, guard) => {
  it('refuses a guard without options, saying what to pass', async () => {
    const error = await failure(() => guard(otp));
    expect(error).toBeInstanceOf(SmsOtpConfigError);
    expect((error as SmsOtpConfigError).path).toBe('purpose');
    expect((error as Error).message).toContain(
      name === 'Fastify'
        ? "app.requireSmsVerified({ purpose: 'login' })"
        : "requireSmsVerified(otp, { purpose: 'login' })",
    );
  });

  it('names a mistyped guard option with the one meant', async () => {
    const error = await failure(() => guard(otp, { purpose: 'login', comsume: false }));
    expect(error).toBeInstanceOf(SmsOtpConfigError);
    expect((error as SmsOtpConfigError).path).toBe('comsume');
    expect((error as Error).message).toMatch(/did you mean "consume"/);
  });
});

// Fastify's plugin takes the engine inside its options and its guard none: these are Express's and Koa's.
describe.each([mounts[0]!, mounts[1]!])('%s: the engine first', (_name, mount) => {
  it('says the engine goes first when it came inside the options', async () => {
    const error = await failure(() => mount({ otp }));
    expect(error).toBeInstanceOf(SmsOtpConfigError);
    expect((error as Error).message).toMatch(/not an object holding it: smsOtp\(otp, /);
  });
});

describe.each([guards[0]!, guards[1]!])('%s guard: the engine first', (_name, guard) => {
  it('refuses a first argument that is not the engine', async () => {
    const error = await failure(() => guard({ purpose: 'login' }));
    expect(error).toBeInstanceOf(SmsOtpConfigError);
    expect((error as SmsOtpConfigError).path).toBe('otp');
    expect((error as Error).message).toContain("requireSmsVerified(otp, { purpose: 'login' })");
  });
});
