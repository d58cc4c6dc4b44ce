/**
 * Fail closed under misconfiguration (DESIGN.md, decisions 11 and 12; issue 16 items 3, 5 and 7): what counts
 * as production, which secrets and stores are refused, what a host's own failing sender leaves in errors and
 * events, and which failures are said out loud.
 */
import { inspect } from 'node:util';
import {
  createSmsOtp,
  isProduction,
  MemoryStore,
  memorySender,
  RedisStore,
  type Sender,
  SmsOtpConfigError,
  type SmsOtpOptions,
} from '@sms-otp/core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RedisServer, startRedis } from '../../../test/support/redis.js';

const SECRET = 'fail-closed-Secret-0123456789-abcdefXYZ';
const PHONE = '+8613800138000';
const quiet = { warn() {} };

function configError(options: SmsOtpOptions): SmsOtpConfigError {
  try {
    createSmsOtp(options);
  } catch (error) {
    if (error instanceof SmsOtpConfigError) return error;
    throw error;
  }
  throw new Error('expected createSmsOtp to throw');
}

describe('production (decision 11)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it.each(['production', 'prod', 'Production', 'PRODUCTION', 'staging', ' live '])(
    'NODE_ENV=%s gets the production refusals',
    (env) => {
      vi.stubEnv('NODE_ENV', env);
      expect(configError({ logger: quiet }).path).toBe('secret');
      expect(configError({ secret: SECRET, logger: quiet }).path).toBe('sender');
      const error = configError({ secret: SECRET, sender: memorySender(), exposeCode: true, logger: quiet });
      expect(error.path).toBe('exposeCode');
      expect(error.message).toContain(`NODE_ENV=${env}`);
    },
  );

  it.each(['development', 'Development', 'test', 'TEST'])('NODE_ENV=%s is not production', (env) => {
    vi.stubEnv('NODE_ENV', env);
    expect(() => createSmsOtp({ exposeCode: true, logger: quiet })).not.toThrow();
  });

  it("mode: 'production' gets them under any NODE_ENV; mode: 'development' does not lift them", () => {
    vi.stubEnv('NODE_ENV', 'test');
    expect(configError({ mode: 'production', logger: quiet }).path).toBe('secret');
    expect(configError({ mode: 'production', secret: SECRET, logger: quiet }).message).toContain(
      "mode: 'production'",
    );
    vi.stubEnv('NODE_ENV', 'prod');
    expect(configError({ mode: 'development', logger: quiet }).path).toBe('secret');
    expect(configError({ mode: 'staging' as 'production' }).path).toBe('mode');
  });

  it('an unset NODE_ENV is development, said once in a warning; mode silences it', () => {
    expect(isProduction(undefined, undefined)).toBe(false);
    expect(isProduction(undefined, '')).toBe(false);
    vi.stubEnv('NODE_ENV', undefined);
    const silent = vi.fn();
    createSmsOtp({ secret: SECRET, mode: 'development', logger: { warn: silent } });
    expect(silent).not.toHaveBeenCalled();
    const warn = vi.fn();
    createSmsOtp({ secret: SECRET, exposeCode: true, logger: { warn } });
    createSmsOtp({ secret: SECRET, logger: { warn } });
    const said = warn.mock.calls.map(([message]) => String(message)).filter((m) => /NODE_ENV/.test(m));
    expect(said).toEqual([expect.stringMatching(/NODE_ENV is not set/)]);
  });

  it('MemoryStore in production gets a start-up warning (codes do not cross instances)', async () => {
    vi.stubEnv('NODE_ENV', 'production');
    const warn = vi.fn();
    const otp = createSmsOtp({ secret: SECRET, sender: memorySender(), logger: { warn } });
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/MemoryStore in production/));
    await otp.close();
    vi.stubEnv('NODE_ENV', 'test');
    const calm = vi.fn();
    createSmsOtp({ secret: SECRET, sender: memorySender(), logger: { warn: calm } });
    expect(calm).not.toHaveBeenCalled();
  });
});

describe('secrets', () => {
  it.each([
    ['32 × a', 'a'.repeat(32)],
    ['a word repeated', 'abcdefgh'.repeat(4)],
    ['15 distinct bytes', 'abcdefghijklmno'.repeat(3)],
  ])('refuses a guessable secret (%s) in every mode', (_label, secret) => {
    const error = configError({ secret, logger: quiet });
    expect(error.path).toBe('secret');
    expect(error.message).toMatch(/guessable/);
    expect(error.message).not.toContain(secret);
  });

  it('accepts 16 distinct bytes, and a random key', () => {
    expect(() => createSmsOtp({ secret: 'abcdefghijklmnop'.repeat(2), logger: quiet })).not.toThrow();
    expect(() => createSmsOtp({ secret: SECRET, logger: quiet })).not.toThrow();
  });

  describe('a shared store', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    }, 60_000);
    afterAll(() => redis.stop());

    it('RedisStore without a secret is refused outside production too', async () => {
      const client = redis.client();
      try {
        const error = configError({
          store: new RedisStore({ client }),
          sender: memorySender(),
          logger: quiet,
        });
        expect(error.path).toBe('secret');
        expect(error.message).toMatch(/shared store/);
        const otp = createSmsOtp({ secret: SECRET, store: new RedisStore({ client }), logger: quiet });
        await otp.close();
      } finally {
        client.disconnect();
      }
    });

    it('so is a custom store; a MemoryStore of its own may go without', async () => {
      const memory = new MemoryStore();
      const custom = Object.create(memory) as MemoryStore;
      // A store of the host's own making (here: every method of a MemoryStore, but not one by class).
      const own = Object.fromEntries(
        Object.getOwnPropertyNames(MemoryStore.prototype)
          .filter((name) => name !== 'constructor')
          .map((name) => [
            name,
            (...args: unknown[]) =>
              (custom as never as Record<string, (...a: unknown[]) => unknown>)[name]!(...args),
          ]),
      );
      expect(configError({ store: own as never, logger: quiet }).path).toBe('secret');
      const otp = createSmsOtp({ store: memory, logger: quiet });
      await otp.close();
      await memory.close();
    });
  });
});

describe('a host sender that fails', () => {
  /** A host sender whose HTTP client puts the whole URL (phone, code, API key) in its error message. */
  function leakySender(): Sender & { codes: string[] } {
    const codes: string[] = [];
    return {
      kind: 'sender',
      name: 'host-sms',
      channels: ['sms'],
      codes,
      async send(message) {
        codes.push(message.code);
        const url = `https://sms.example.com/v1/send?to=${encodeURIComponent(message.phone)}&text=Your+code+${message.code}&api_key=sk_live_9f8e7d6c5b4a3210fedcba98`;
        throw new Error(`GET ${url} failed: 401 Unauthorized`);
      },
    };
  }

  it('its error text is redacted in the cause, and neither code nor key reaches the error or an event', async () => {
    const sender = leakySender();
    const otp = createSmsOtp({ secret: SECRET, sender, logger: quiet });
    const events: unknown[] = [];
    otp.on('failed', (event) => events.push(event));
    otp.on('blocked', (event) => events.push(event));
    const error = await otp.send({ phone: PHONE }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SEND_FAILED', details: { vendor: 'host-sms', reason: 'error' } });
    const [code] = sender.codes;
    expect(code).toMatch(/^\d{6}$/);
    const printed = inspect(error, { depth: 20 }) + JSON.stringify(events);
    expect(printed).toMatch(/401 Unauthorized/);
    for (const secret of [code!, 'sk_live_9f8e7d6c5b4a3210fedcba98', '9f8e7d6c5b4a3210', '13800138000']) {
      expect(printed).not.toContain(secret);
    }
    expect(events).toEqual([
      {
        operation: 'send',
        phone: expect.any(String),
        purpose: 'login',
        code: 'SEND_FAILED',
        reason: 'error',
        vendor: 'host-sms',
      },
    ]);
  });

  it("throwing Error('Authenticate') gives a failed event with reason 'error' and the vendor's name", async () => {
    const sender: Sender = {
      kind: 'sender',
      name: 'my-sms',
      async send() {
        throw new Error('Authenticate');
      },
    };
    const otp = createSmsOtp({ secret: SECRET, sender, logger: quiet });
    const failed = vi.fn();
    otp.on('failed', failed);
    await expect(otp.send({ phone: PHONE })).rejects.toMatchObject({ code: 'SEND_FAILED' });
    expect(failed).toHaveBeenCalledWith(
      expect.objectContaining({ code: 'SEND_FAILED', reason: 'error', vendor: 'my-sms' }),
    );
  });

  it("a captcha verifier's error text is redacted too", async () => {
    const otp = createSmsOtp({
      secret: SECRET,
      sender: memorySender(),
      logger: quiet,
      captcha: {
        policy: 'always',
        verifier: {
          name: 'host-captcha',
          async verify() {
            throw new Error('POST https://captcha.example/verify?secret=0x4AAAAAAA1234567890abcdef failed');
          },
        },
      },
    });
    const failed = vi.fn();
    otp.on('failed', failed);
    const error = await otp.send({ phone: PHONE, captcha: 'token' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SEND_FAILED', details: { captchaVerifier: 'host-captcha' } });
    expect(inspect(error, { depth: 20 })).not.toContain('1234567890');
    expect(failed).toHaveBeenCalledWith(
      expect.objectContaining({ reason: 'error', captchaVerifier: 'host-captcha' }),
    );
  });
});

describe('failures that need a human', () => {
  const refusing = (reason: string): Sender => ({
    kind: 'sender',
    name: 'sms-co',
    async send() {
      const { SmsOtpError } = await import('@sms-otp/core');
      throw new SmsOtpError('SEND_FAILED', { vendor: 'sms-co', reason, vendorCode: 'E401' });
    },
  });

  it.each(['auth', 'config', 'balance', 'template', 'signature'])(
    'a SEND_FAILED for %s logs one warning a minute through logger',
    async (reason) => {
      const warn = vi.fn();
      const otp = createSmsOtp({ secret: SECRET, sender: refusing(reason), logger: { warn } });
      const failed = vi.fn();
      otp.on('failed', failed);
      for (const phone of [PHONE, '+8613800138001', '+8613800138002']) {
        await expect(otp.send({ phone })).rejects.toMatchObject({ code: 'SEND_FAILED' });
      }
      const said = warn.mock.calls.map(([message]) => String(message));
      expect(said).toEqual([
        expect.stringContaining(`sms-co refused a send (SEND_FAILED, reason ${reason}, vendor code E401)`),
      ]);
      expect(failed).toHaveBeenCalledWith(expect.objectContaining({ reason, vendor: 'sms-co' }));
    },
  );

  it('a timeout or a refusal of the number logs nothing', async () => {
    const warn = vi.fn();
    for (const reason of ['timeout', 'rejected', 'http_error']) {
      const otp = createSmsOtp({ secret: SECRET, sender: refusing(reason), logger: { warn } });
      await expect(otp.send({ phone: PHONE })).rejects.toMatchObject({ code: 'SEND_FAILED' });
    }
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('overload: built-in captchas', () => {
  it('beyond maxPending captchas in the making, GET /captcha is RATE_LIMITED (429, Retry-After, scope captcha)', async () => {
    const { handleCaptcha, resolveHttpOptions } = await import('@sms-otp/core');
    const otp = createSmsOtp({ secret: SECRET, logger: quiet, captcha: { maxPending: 3, perIpHour: 1000 } });
    const http = resolveHttpOptions(otp);
    const flood = Array.from({ length: 10 }, (_, i) => handleCaptcha(otp, { ip: `203.0.113.${i}` }, http));
    const answers = await Promise.all(flood);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    expect(answers[3]).toMatchObject({
      headers: { 'retry-after': '1' },
      body: { error: { code: 'RATE_LIMITED', retryAfter: 1, scope: 'captcha' } },
    });
    // The places are given back: the next ones are made.
    const later = await Promise.all([1, 2, 3].map(() => otp.createCaptcha({ ip: '198.51.100.1' })));
    expect(later.map((c) => c.image)).toEqual(
      [1, 2, 3].map(() => expect.stringMatching(/^data:image\/png;base64,/)),
    );
    await otp.close();
  });

  it('answers a refused captcha only after the Retry-After it gives, so a flood waiting for answers slows down', async () => {
    const otp = createSmsOtp({ secret: SECRET, logger: quiet, captcha: { maxPending: 1, perIpHour: 1000 } });
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const first = otp.createCaptcha({ ip: '203.0.113.1' });
      let refused: unknown;
      const second = otp.createCaptcha({ ip: '203.0.113.2' }).catch((error: unknown) => {
        refused = error;
      });
      await first;
      expect(refused).toBeUndefined();
      await vi.advanceTimersByTimeAsync(999);
      expect(refused).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      await second;
      expect(refused).toMatchObject({ code: 'RATE_LIMITED', details: { scope: 'captcha' } });
    } finally {
      vi.useRealTimers();
      await otp.close();
    }
  });
});
