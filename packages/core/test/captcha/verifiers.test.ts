import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CaptchaVerifier,
  hcaptchaVerifier,
  recaptchaVerifier,
  turnstileVerifier,
} from '../../src/captcha/index.js';
import { SmsOtpConfigError, SmsOtpError } from '../../src/errors.js';
import {
  closedPortUrl,
  errorText,
  type ProviderDocument,
  type SiteverifyFake,
  startSiteverifyFake,
  WRONG_TOKEN_ANSWER,
} from './fake-siteverify.js';

const TURNSTILE_SECRET = '0x4AAAAAAAturnstileSECRETq9Zp';
const HCAPTCHA_SECRET = '0xA1b2C3hcaptchaSECRETd4E5f6';
const RECAPTCHA_SECRET = '6LeRecaptchaSECRETkeyAAAAAAA';
const SITEKEY = '10000000-ffff-ffff-ffff-000000000001';
const GOOD = 'XXXX.GOOD.TOKEN.XXXX';
const IP = '203.0.113.9';
const SOLVED_AT = '2026-05-01T10:00:00.000Z';

/** One provider: its document, its verifier factory, and its documented success answer. */
interface Provider {
  name: string;
  doc: ProviderDocument;
  create(baseUrl: string, extra?: Record<string, unknown>): CaptchaVerifier;
  success: Record<string, unknown>;
  /** Extra fields the verifier sends besides secret, response and remoteip. */
  extraFields: Record<string, string>;
}

const providers: Provider[] = [
  {
    name: 'turnstile',
    doc: {
      path: '/turnstile/v0/siteverify',
      contentTypes: ['application/json', 'application/x-www-form-urlencoded'],
      optionalFields: ['remoteip', 'idempotency_key'],
      secret: TURNSTILE_SECRET,
    },
    create: (baseUrl, extra = {}) => turnstileVerifier({ secret: TURNSTILE_SECRET, baseUrl, ...extra }),
    success: {
      success: true,
      'error-codes': [],
      challenge_ts: SOLVED_AT,
      hostname: 'example.com',
      action: 'sms-login',
      cdata: '',
      metadata: { interactive: false },
    },
    extraFields: {},
  },
  {
    name: 'hcaptcha',
    doc: {
      path: '/siteverify',
      contentTypes: ['application/x-www-form-urlencoded'],
      optionalFields: ['remoteip', 'sitekey'],
      secret: HCAPTCHA_SECRET,
    },
    create: (baseUrl, extra = {}) =>
      hcaptchaVerifier({ secret: HCAPTCHA_SECRET, sitekey: SITEKEY, baseUrl, ...extra }),
    success: { success: true, challenge_ts: SOLVED_AT, hostname: 'example.com', credit: false },
    extraFields: { sitekey: SITEKEY },
  },
  {
    name: 'recaptcha',
    doc: {
      path: '/recaptcha/api/siteverify',
      contentTypes: ['application/x-www-form-urlencoded'],
      optionalFields: ['remoteip'],
      secret: RECAPTCHA_SECRET,
    },
    create: (baseUrl, extra = {}) => recaptchaVerifier({ secret: RECAPTCHA_SECRET, baseUrl, ...extra }),
    success: {
      success: true,
      challenge_ts: SOLVED_AT,
      hostname: 'example.com',
      score: 0.9,
      action: 'send_sms',
    },
    extraFields: {},
  },
];

/** Awaits a promise that must reject with an `SmsOtpError`, and returns it. */
async function rejection(promise: Promise<unknown>): Promise<SmsOtpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the call should have been refused').toBeInstanceOf(SmsOtpError);
  return error as SmsOtpError;
}

const ALL_SECRETS = [TURNSTILE_SECRET, HCAPTCHA_SECRET, RECAPTCHA_SECRET];
function expectNoSecret(error: unknown): void {
  const text = errorText(error);
  for (const secret of ALL_SECRETS) expect(text).not.toContain(secret);
}

describe.each(providers)('$name verifier', (provider) => {
  let fake: SiteverifyFake;
  let verifier: CaptchaVerifier;
  beforeEach(async () => {
    fake = await startSiteverifyFake(provider.doc);
    fake.answers.set(GOOD, provider.success);
    verifier = provider.create(fake.url);
  });
  afterEach(async () => {
    expect(fake.mismatches).toEqual([]);
    await fake.close();
  });

  it('has its name', () => {
    expect(verifier.name).toBe(provider.name);
  });

  it('accepts a good token and sends exactly secret, response and remoteip', async () => {
    expect(await verifier.verify({ token: GOOD, ip: IP })).toBe(true);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.fields).toEqual({
      secret: provider.doc.secret,
      response: GOOD,
      remoteip: IP,
      ...provider.extraFields,
    });
  });

  it('leaves remoteip out when the ip is unknown', async () => {
    expect(await verifier.verify({ token: GOOD })).toBe(true);
    expect(await verifier.verify({ token: GOOD, ip: '' })).toBe(true);
    for (const request of fake.requests) {
      expect(request.fields).toEqual({
        secret: provider.doc.secret,
        response: GOOD,
        ...provider.extraFields,
      });
    }
  });

  it('refuses a wrong token', async () => {
    expect(await verifier.verify({ token: 'wrong-token', ip: IP })).toBe(false);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.fields.response).toBe('wrong-token');
  });

  it('refuses an expired or replayed token (timeout-or-duplicate)', async () => {
    fake.answers.set('used', { success: false, 'error-codes': ['timeout-or-duplicate'] });
    expect(await verifier.verify({ token: 'used' })).toBe(false);
  });

  it('refuses a success: false answer that has no error codes', async () => {
    fake.answers.set('odd', { success: false });
    expect(await verifier.verify({ token: 'odd' })).toBe(false);
  });

  it('refuses an empty token without asking the provider', async () => {
    expect(await verifier.verify({ token: '' })).toBe(false);
    expect(fake.requests).toHaveLength(0);
  });

  it('rejects a refused secret with SEND_FAILED config (not the user’s fault)', async () => {
    const mine = provider.create(fake.url, { secret: 'another-secret-0123456789' });
    const error = await rejection(mine.verify({ token: GOOD, ip: IP }));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.status).toBe(502);
    expect(error.details).toEqual({
      captchaVerifier: provider.name,
      reason: 'config',
      httpStatus: 200,
      vendorCode: 'invalid-input-secret',
    });
    expect(errorText(error)).not.toContain('another-secret-0123456789');
    expectNoSecret(error);
  });

  it('rejects the provider’s own failure (internal-error) with SEND_FAILED vendor_error', async () => {
    fake.answers.set('boom', { success: false, 'error-codes': ['internal-error'] });
    const error = await rejection(verifier.verify({ token: 'boom' }));
    expect(error.details).toMatchObject({ captchaVerifier: provider.name, reason: 'vendor_error' });
  });

  it('rejects a timeout with SEND_FAILED timeout', async () => {
    fake.behaviour = { kind: 'hang' };
    const slow = provider.create(fake.url, { timeout: 150 });
    const error = await rejection(slow.verify({ token: GOOD, ip: IP }));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toEqual({ captchaVerifier: provider.name, reason: 'timeout', timeoutMs: 150 });
    expectNoSecret(error);
  });

  it('rejects a 5xx with SEND_FAILED http_error', async () => {
    fake.behaviour = { kind: 'status', status: 503 };
    const error = await rejection(verifier.verify({ token: GOOD, ip: IP }));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toEqual({ captchaVerifier: provider.name, reason: 'http_error', httpStatus: 503 });
    expectNoSecret(error);
  });

  it('rejects a 5xx even when its body looks like a success', async () => {
    fake.behaviour = { kind: 'status', status: 500, body: provider.success };
    const error = await rejection(verifier.verify({ token: GOOD }));
    expect(error.details).toMatchObject({
      captchaVerifier: provider.name,
      reason: 'http_error',
      httpStatus: 500,
    });
  });

  it('rejects an HTML page with SEND_FAILED bad_response', async () => {
    fake.behaviour = { kind: 'html' };
    const error = await rejection(verifier.verify({ token: GOOD, ip: IP }));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toEqual({
      captchaVerifier: provider.name,
      reason: 'bad_response',
      httpStatus: 200,
    });
    expectNoSecret(error);
  });

  it.each([
    ['an array', [true]],
    ['an object without success', { hostname: 'example.com' }],
    ['a string success', { success: 'true' }],
  ])('rejects JSON that is %s with SEND_FAILED bad_response', async (_label, body) => {
    fake.answers.set(GOOD, body);
    const error = await rejection(verifier.verify({ token: GOOD }));
    expect(error.details).toEqual({
      captchaVerifier: provider.name,
      reason: 'bad_response',
      httpStatus: 200,
    });
  });

  it('rejects a 4xx that is not the documented JSON with SEND_FAILED bad_response', async () => {
    fake.behaviour = { kind: 'status', status: 403 };
    const error = await rejection(verifier.verify({ token: GOOD }));
    expect(error.details).toEqual({
      captchaVerifier: provider.name,
      reason: 'bad_response',
      httpStatus: 403,
    });
  });

  it('reads a 4xx that carries the documented JSON like a 200', async () => {
    fake.behaviour = { kind: 'status', status: 400, body: WRONG_TOKEN_ANSWER };
    expect(await verifier.verify({ token: GOOD })).toBe(false);
  });

  it('rejects a refused connection with SEND_FAILED network', async () => {
    const offline = provider.create(await closedPortUrl());
    const error = await rejection(offline.verify({ token: GOOD, ip: IP }));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toEqual({
      captchaVerifier: provider.name,
      reason: 'network',
      errno: 'ECONNREFUSED',
    });
    expectNoSecret(error);
  });

  it('checks the hostname when expectedHostname is given', async () => {
    expect(await provider.create(fake.url, { expectedHostname: 'example.com' }).verify({ token: GOOD })).toBe(
      true,
    );
    expect(
      await provider.create(fake.url, { expectedHostname: ['www.example.com', 'EXAMPLE.com'] }).verify({
        token: GOOD,
      }),
    ).toBe(true);
    expect(
      await provider.create(fake.url, { expectedHostname: 'evil.example' }).verify({ token: GOOD }),
    ).toBe(false);
    fake.answers.set('no-host', { ...provider.success, hostname: undefined });
    expect(
      await provider.create(fake.url, { expectedHostname: 'example.com' }).verify({ token: 'no-host' }),
    ).toBe(false);
  });

  it('refuses bad options at construction, naming the option and never echoing it', () => {
    const attempt = (extra: Record<string, unknown>) => {
      try {
        provider.create(fake.url, extra);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const missing = attempt({ secret: undefined });
    expect(missing).toBeInstanceOf(SmsOtpConfigError);
    expect((missing as SmsOtpConfigError).path).toBe(`${provider.name}.secret`);
    expect((missing as Error).message).toContain('is required');

    const spaced = attempt({ secret: 'leaky secret value' });
    expect((spaced as SmsOtpConfigError).path).toBe(`${provider.name}.secret`);
    expect((spaced as Error).message).not.toContain('leaky');

    expect((attempt({ baseUrl: 'ftp://example.com' }) as SmsOtpConfigError).path).toBe(
      `${provider.name}.baseUrl`,
    );
    expect((attempt({ timeout: 0 }) as SmsOtpConfigError).path).toBe(`${provider.name}.timeout`);
    expect((attempt({ timeout: 1.5 }) as SmsOtpConfigError).path).toBe(`${provider.name}.timeout`);
    expect((attempt({ expectedHostname: [] }) as SmsOtpConfigError).path).toBe(
      `${provider.name}.expectedHostname`,
    );
    expect(attempt({})).toBeUndefined();
  });
});

describe('turnstileVerifier', () => {
  let fake: SiteverifyFake;
  beforeEach(async () => {
    fake = await startSiteverifyFake(providers[0]!.doc);
    fake.answers.set(GOOD, providers[0]!.success);
  });
  afterEach(async () => {
    expect(fake.mismatches).toEqual([]);
    await fake.close();
  });

  it('posts JSON to /turnstile/v0/siteverify under the default base URL path', async () => {
    const verifier = turnstileVerifier({ secret: TURNSTILE_SECRET, baseUrl: `${fake.url}/` });
    expect(await verifier.verify({ token: GOOD, ip: IP })).toBe(true);
    expect(fake.requests[0]!.path).toBe('/turnstile/v0/siteverify');
    expect(fake.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('checks the action when expectedAction is given', async () => {
    const right = turnstileVerifier({
      secret: TURNSTILE_SECRET,
      baseUrl: fake.url,
      expectedAction: 'sms-login',
    });
    const wrong = turnstileVerifier({
      secret: TURNSTILE_SECRET,
      baseUrl: fake.url,
      expectedAction: 'checkout',
    });
    expect(await right.verify({ token: GOOD })).toBe(true);
    expect(await wrong.verify({ token: GOOD })).toBe(false);
  });

  it('checks hostname and action together', async () => {
    const verifier = turnstileVerifier({
      secret: TURNSTILE_SECRET,
      baseUrl: fake.url,
      expectedHostname: 'example.com',
      expectedAction: 'sms-login',
    });
    fake.answers.set('other-host', { ...providers[0]!.success, hostname: 'attacker.example' });
    fake.answers.set('other-action', { ...providers[0]!.success, action: 'newsletter' });
    expect(await verifier.verify({ token: GOOD })).toBe(true);
    expect(await verifier.verify({ token: 'other-host' })).toBe(false);
    expect(await verifier.verify({ token: 'other-action' })).toBe(false);
  });

  it('refuses a token longer than the documented 2048 characters without asking', async () => {
    const verifier = turnstileVerifier({ secret: TURNSTILE_SECRET, baseUrl: fake.url });
    expect(await verifier.verify({ token: 'x'.repeat(2049) })).toBe(false);
    expect(fake.requests).toHaveLength(0);
    fake.answers.set('y'.repeat(2048), providers[0]!.success);
    expect(await verifier.verify({ token: 'y'.repeat(2048) })).toBe(true);
  });
});

describe('hcaptchaVerifier', () => {
  let fake: SiteverifyFake;
  beforeEach(async () => {
    fake = await startSiteverifyFake(providers[1]!.doc);
    fake.answers.set(GOOD, providers[1]!.success);
  });
  afterEach(async () => {
    expect(fake.mismatches).toEqual([]);
    await fake.close();
  });

  it('posts a form and leaves sitekey out when none is configured', async () => {
    const verifier = hcaptchaVerifier({ secret: HCAPTCHA_SECRET, baseUrl: fake.url });
    expect(await verifier.verify({ token: GOOD, ip: IP })).toBe(true);
    expect(fake.requests[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(fake.requests[0]!.fields).toEqual({ secret: HCAPTCHA_SECRET, response: GOOD, remoteip: IP });
  });

  it('encodes tokens with form-reserved characters', async () => {
    const token = 'P1_eyJ+a/b=c&d%e f';
    fake.answers.set(token, providers[1]!.success);
    const verifier = hcaptchaVerifier({ secret: HCAPTCHA_SECRET, baseUrl: fake.url });
    expect(await verifier.verify({ token })).toBe(true);
    expect(fake.requests[0]!.fields.response).toBe(token);
  });

  it('rejects sitekey-secret-mismatch with SEND_FAILED config', async () => {
    fake.answers.set('other-site', { success: false, 'error-codes': ['sitekey-secret-mismatch'] });
    const verifier = hcaptchaVerifier({ secret: HCAPTCHA_SECRET, sitekey: SITEKEY, baseUrl: fake.url });
    const error = await rejection(verifier.verify({ token: 'other-site' }));
    expect(error.details).toEqual({
      captchaVerifier: 'hcaptcha',
      reason: 'config',
      httpStatus: 200,
      vendorCode: 'sitekey-secret-mismatch',
    });
  });

  it('refuses an already used token', async () => {
    fake.answers.set('seen', { success: false, 'error-codes': ['already-seen-response'] });
    const verifier = hcaptchaVerifier({ secret: HCAPTCHA_SECRET, baseUrl: fake.url });
    expect(await verifier.verify({ token: 'seen' })).toBe(false);
  });

  it('refuses a bad sitekey option', () => {
    expect(() => hcaptchaVerifier({ secret: HCAPTCHA_SECRET, sitekey: '' })).toThrow(SmsOtpConfigError);
    expect(() => hcaptchaVerifier({ secret: HCAPTCHA_SECRET, sitekey: '' })).toThrow('hcaptcha.sitekey');
  });
});

describe('recaptchaVerifier', () => {
  let fake: SiteverifyFake;
  const answer = (extra: Record<string, unknown>) => ({ ...providers[2]!.success, ...extra });
  beforeEach(async () => {
    fake = await startSiteverifyFake(providers[2]!.doc);
    fake.answers.set(GOOD, providers[2]!.success);
    fake.answers.set('low', answer({ score: 0.3 }));
    fake.answers.set('edge', answer({ score: 0.5 }));
    fake.answers.set('v2', { success: true, challenge_ts: SOLVED_AT, hostname: 'example.com' });
  });
  afterEach(async () => {
    expect(fake.mismatches).toEqual([]);
    await fake.close();
  });

  it('refuses a v3 score below minScore (default 0.5) and accepts one at it', async () => {
    const verifier = recaptchaVerifier({ secret: RECAPTCHA_SECRET, baseUrl: fake.url });
    expect(await verifier.verify({ token: 'low' })).toBe(false);
    expect(await verifier.verify({ token: 'edge' })).toBe(true);
    expect(await verifier.verify({ token: GOOD })).toBe(true);
  });

  it('uses the configured minScore', async () => {
    const lenient = recaptchaVerifier({ secret: RECAPTCHA_SECRET, baseUrl: fake.url, minScore: 0.2 });
    const strict = recaptchaVerifier({ secret: RECAPTCHA_SECRET, baseUrl: fake.url, minScore: 0.95 });
    expect(await lenient.verify({ token: 'low' })).toBe(true);
    expect(await strict.verify({ token: GOOD })).toBe(false);
  });

  it('accepts a v2 answer, which has no score', async () => {
    const verifier = recaptchaVerifier({ secret: RECAPTCHA_SECRET, baseUrl: fake.url, minScore: 0.9 });
    expect(await verifier.verify({ token: 'v2' })).toBe(true);
  });

  it('checks the action when expectedAction is given', async () => {
    const right = recaptchaVerifier({
      secret: RECAPTCHA_SECRET,
      baseUrl: fake.url,
      expectedAction: 'send_sms',
    });
    const wrong = recaptchaVerifier({ secret: RECAPTCHA_SECRET, baseUrl: fake.url, expectedAction: 'login' });
    expect(await right.verify({ token: GOOD })).toBe(true);
    expect(await wrong.verify({ token: GOOD })).toBe(false);
    expect(await right.verify({ token: 'v2' })).toBe(false);
  });

  it('rejects a score that is not a number with SEND_FAILED bad_response', async () => {
    fake.answers.set('odd-score', answer({ score: 'high' }));
    const verifier = recaptchaVerifier({ secret: RECAPTCHA_SECRET, baseUrl: fake.url });
    const error = await rejection(verifier.verify({ token: 'odd-score' }));
    expect(error.details).toEqual({ captchaVerifier: 'recaptcha', reason: 'bad_response', httpStatus: 200 });
  });

  it('refuses a minScore outside 0–1', () => {
    for (const minScore of [-0.1, 1.5, Number.NaN]) {
      expect(() => recaptchaVerifier({ secret: RECAPTCHA_SECRET, minScore })).toThrow('recaptcha.minScore');
    }
  });
});

describe('error codes', () => {
  it('reads error codes that name Object.prototype members as the user’s fault', async () => {
    const fake = await startSiteverifyFake(providers[2]!.doc);
    try {
      fake.answers.set('proto', { success: false, 'error-codes': ['__proto__', 'constructor', 'toString'] });
      const verifier = recaptchaVerifier({ secret: RECAPTCHA_SECRET, baseUrl: fake.url });
      expect(await verifier.verify({ token: 'proto' })).toBe(false);
    } finally {
      await fake.close();
    }
  });
});
