import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSmsOtp } from '../src/create-sms-otp.js';
import { memorySender } from '../src/dev-senders.js';
import { ERROR_STATUS, type ErrorCode, SmsOtpError } from '../src/errors.js';
import { errorResponse, handleCaptcha, handleSend, handleVerify, resolveHttpOptions } from '../src/http.js';
import {
  type JsonSchema,
  type OpenApiDocument,
  type OpenApiResponse,
  openApiDocument,
  ROUTE_ERRORS,
} from '../src/openapi.js';

/** DESIGN.md's error table: code → status. */
const DESIGN_TABLE: Record<ErrorCode, number> = {
  INVALID_REQUEST: 400,
  INVALID_PHONE: 400,
  COUNTRY_NOT_ALLOWED: 403,
  UNKNOWN_PURPOSE: 400,
  CAPTCHA_REQUIRED: 400,
  CAPTCHA_INVALID: 400,
  RESEND_TOO_SOON: 429,
  RATE_LIMITED: 429,
  CODE_INVALID: 400,
  CODE_EXPIRED: 400,
  TOO_MANY_ATTEMPTS: 429,
  SEND_FAILED: 502,
  STORE_UNAVAILABLE: 503,
  NOT_VERIFIED: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_USED: 401,
  PURPOSE_MISMATCH: 403,
};

const doc = openApiDocument();
const schemas = doc.components.schemas;

function operation(path: string, method = 'post') {
  const op = doc.paths[path]?.[method];
  if (!op) throw new Error(`no ${method} ${path}`);
  return op;
}

/** The error codes a response declares, from its narrowed schema. */
function codesOf(response: OpenApiResponse): string[] {
  const schema = response.content?.['application/json']?.schema as { allOf: JsonSchema[] };
  const narrowed = schema.allOf[1] as {
    properties: { error: { properties: { code: { enum: string[] } } } };
  };
  return narrowed.properties.error.properties.code.enum;
}

/** Error codes of an operation, by status. */
function errorCodes(path: string, method = 'post'): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const [status, response] of Object.entries(operation(path, method).responses)) {
    if (Number(status) >= 400) out.set(Number(status), codesOf(response));
  }
  return out;
}

/** A JSON Schema 2020-12 validator of one of the document's component schemas (its `$ref`s resolved). */
function validator(document: OpenApiDocument, name: string) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: 'https://openapi.test/doc', components: document.components });
  return ajv.compile({ $ref: `https://openapi.test/doc#/components/schemas/${name}` });
}

/** Does `body` meet the `required`/`anyOf` rules of a request schema? (Enough of JSON Schema for these.) */
function meetsRequired(schema: JsonSchema, body: Record<string, unknown>): boolean {
  const has = (keys: unknown) => (keys as string[] | undefined)?.every((key) => key in body) ?? true;
  const anyOf = schema.anyOf as JsonSchema[] | undefined;
  return has(schema.required) && (anyOf?.some((branch) => has(branch.required)) ?? true);
}

describe('openApiDocument', () => {
  it('is an OpenAPI 3.1 document of send, verify and captcha under the default prefix', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toBe('1.0.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/sms/captcha', '/sms/send', '/sms/verify']);
    expect(Object.keys(doc.paths['/sms/send']!)).toEqual(['post']);
    expect(Object.keys(doc.paths['/sms/captcha']!)).toEqual(['get']);
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it('takes prefix, title and version', () => {
    const custom = openApiDocument({ prefix: '/api/otp/', title: 'My app', version: '2.1.0' });
    expect(Object.keys(custom.paths).sort()).toEqual([
      '/api/otp/captcha',
      '/api/otp/send',
      '/api/otp/verify',
    ]);
    expect(custom.info).toMatchObject({ title: 'My app', version: '2.1.0' });
    expect(Object.keys(openApiDocument({ prefix: 'otp' }).paths)).toContain('/otp/send');
  });

  it('resolves every $ref', () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const name = ref.slice('"$ref":"#/components/schemas/'.length, -1);
      expect(schemas, ref).toHaveProperty(name);
    }
  });

  it('lists every error code of the contract, each with its status', () => {
    const seen = new Map<string, Set<number>>();
    const routes: Array<[string, string]> = [
      ['/sms/send', 'post'],
      ['/sms/verify', 'post'],
      ['/sms/captcha', 'get'],
    ];
    const guarded = openApiDocument({ guarded: [{ method: 'post', path: '/login', purpose: 'login' }] });
    for (const [path, method] of routes) {
      for (const [status, codes] of errorCodes(path, method))
        for (const code of codes) seen.set(code, new Set([...(seen.get(code) ?? []), status]));
    }
    for (const [status, response] of Object.entries(guarded.paths['/login']!.post!.responses)) {
      if (Number(status) >= 400)
        for (const code of codesOf(response))
          seen.set(code, new Set([...(seen.get(code) ?? []), Number(status)]));
    }
    expect([...seen.keys()].sort()).toEqual(Object.keys(DESIGN_TABLE).sort());
    for (const [code, statuses] of seen)
      expect([...statuses], code).toEqual([DESIGN_TABLE[code as ErrorCode]]);
    expect(ERROR_STATUS).toEqual(DESIGN_TABLE);
  });

  it('gives each route the codes it can answer', () => {
    expect(errorCodes('/sms/send')).toEqual(
      new Map([
        [400, ['INVALID_REQUEST', 'INVALID_PHONE', 'UNKNOWN_PURPOSE', 'CAPTCHA_REQUIRED', 'CAPTCHA_INVALID']],
        [403, ['COUNTRY_NOT_ALLOWED']],
        [429, ['RESEND_TOO_SOON', 'RATE_LIMITED', 'TOO_MANY_ATTEMPTS']],
        [502, ['SEND_FAILED']],
        [503, ['STORE_UNAVAILABLE']],
      ]),
    );
    expect(errorCodes('/sms/captcha', 'get')).toEqual(
      new Map([
        [429, ['RATE_LIMITED']],
        [503, ['STORE_UNAVAILABLE']],
      ]),
    );
    const verify = errorCodes('/sms/verify');
    expect(verify.get(400)).toEqual(
      expect.arrayContaining(['CODE_INVALID', 'CODE_EXPIRED', 'INVALID_REQUEST']),
    );
    expect(verify.get(429)).toEqual(['TOO_MANY_ATTEMPTS', 'RATE_LIMITED']);
    expect(verify.get(503)).toEqual(['STORE_UNAVAILABLE']);
    expect([...verify.values()].flat()).not.toContain('RESEND_TOO_SOON');
    expect(ROUTE_ERRORS.guard).not.toContain('CODE_INVALID');
  });

  it('documents Cache-Control on every answer, Retry-After and RateLimit on 429s, and an example per code', () => {
    for (const [path, method] of [
      ['/sms/send', 'post'],
      ['/sms/verify', 'post'],
      ['/sms/captcha', 'get'],
    ] as const) {
      const responses = operation(path, method).responses;
      expect(Object.keys(responses['429']?.headers ?? {}).sort()).toEqual(
        ['Cache-Control', 'RateLimit', 'RateLimit-Policy', 'Retry-After'].sort(),
      );
      for (const response of Object.values(responses))
        expect(response.headers).toHaveProperty('Cache-Control');
      for (const [status, response] of Object.entries(responses)) {
        if (Number(status) < 400) continue;
        const examples = response.content?.['application/json']?.examples ?? {};
        expect(Object.keys(examples)).toEqual(codesOf(response));
      }
    }
    const invalid = operation('/sms/verify').responses['400']!.content!['application/json']!.examples!;
    expect(invalid.CODE_INVALID?.value).toMatchObject({ error: { code: 'CODE_INVALID', attemptsLeft: 4 } });
  });

  it('error body: { error: { code, message, …details } } with the code enum of ERROR_STATUS', () => {
    const body = schemas.SmsOtpError as {
      required: string[];
      properties: { error: { required: string[]; properties: Record<string, JsonSchema> } };
    };
    expect(body.required).toEqual(['error']);
    expect(body.properties.error.required).toEqual(['code', 'message']);
    expect(body.properties.error.properties.code!.enum).toEqual(Object.keys(ERROR_STATUS));
    for (const detail of ['attemptsLeft', 'retryAfter', 'issues'])
      expect(body.properties.error.properties).toHaveProperty(detail);
  });

  it('request schemas come from the zod body schemas and require phone (or userId with userIds)', () => {
    const plain = schemas.SendRequest!;
    // Without resolvePhone, userId is no recipient: listed (the server still checks its type) as ignored.
    expect((plain.properties as Record<string, JsonSchema>).userId).toMatchObject({
      type: 'string',
      description: expect.stringMatching(/^Ignored/),
    });
    expect(plain.required).toEqual(['phone']);
    expect(plain).not.toHaveProperty('anyOf');
    expect(meetsRequired(plain, { userId: 'u1' })).toBe(false);
    expect(meetsRequired(schemas.VerifyRequest!, { phone: '+8613800138000', code: '123456' })).toBe(true);
    expect(String(plain.description)).not.toContain('userId');

    const withUserIds = openApiDocument({ userIds: true }).components.schemas;
    const send = withUserIds.SendRequest!;
    const verify = withUserIds.VerifyRequest!;
    expect(send).not.toHaveProperty('$schema');
    expect(send.type).toBe('object');
    expect(Object.keys(send.properties as object).sort()).toEqual(
      ['captcha', 'captchaKey', 'channel', 'country', 'phone', 'purpose', 'userId'].sort(),
    );
    expect((send.properties as Record<string, JsonSchema>).channel).toMatchObject({ enum: ['sms', 'voice'] });
    expect((send.properties as Record<string, JsonSchema>).phone).toMatchObject({
      type: 'string',
      maxLength: 32,
    });
    expect(send).not.toHaveProperty('additionalProperties'); // unknown fields are ignored
    expect(verify.required).toEqual(['code']);

    expect(meetsRequired(send, {})).toBe(false);
    expect(meetsRequired(send, { purpose: 'login' })).toBe(false);
    expect(meetsRequired(send, { phone: '+8613800138000' })).toBe(true);
    expect(meetsRequired(send, { userId: 'u1' })).toBe(true);
    expect(meetsRequired(verify, { phone: '+8613800138000' })).toBe(false);
    expect(meetsRequired(verify, { code: '123456' })).toBe(false);
    expect(meetsRequired(verify, { userId: 'u1', code: '123456' })).toBe(true);

    // Field types round-trip through zod: a wrong type is refused by the documented schema too.
    const sendZod = z.fromJSONSchema(send);
    expect(sendZod.safeParse({ phone: '+8613800138000', channel: 'fax' }).success).toBe(false);
    expect(sendZod.safeParse({ phone: 13800138000 }).success).toBe(false);
    expect(sendZod.safeParse({ phone: '+8613800138000', extra: true }).success).toBe(true);
  });

  it('describes the bodies the handlers really answer', async () => {
    const sender = memorySender();
    const otp = createSmsOtp({
      sender,
      exposeCode: true,
      secret: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-0123456789ABCDEF',
    });
    const options = resolveHttpOptions(otp);
    const success = (name: string) => z.fromJSONSchema(schemas[name]!);
    try {
      const sent = await handleSend(otp, { body: { phone: '+8613800138000' } }, options);
      expect(sent.status).toBe(200);
      expect(success('SendResult').parse(sent.body)).toEqual(sent.body);
      const { devCode: code, requestId } = sent.body as { devCode: string; requestId: string };
      const wrong = await handleVerify(
        otp,
        { body: { phone: '+8613800138000', code: '000000' === code ? '111111' : '000000', requestId } },
        options,
      );
      expect(wrong.status).toBe(400);
      expect(success('SmsOtpError').safeParse(wrong.body).success).toBe(true);
      const verified = await handleVerify(
        otp,
        { body: { phone: '+8613800138000', code, requestId } },
        options,
      );
      expect(verified.status).toBe(200);
      expect(success('VerifyResult').parse(verified.body)).toEqual(verified.body);
      const captcha = await handleCaptcha(otp, {}, options);
      expect(captcha.status).toBe(200);
      expect(success('CaptchaResult').parse(captcha.body)).toEqual(captcha.body);
      for (const response of [sent, wrong, verified, captcha])
        expect(response.headers['cache-control']).toBe('no-store');
      const codeField = (schemas.VerifyRequest!.properties as Record<string, { pattern: string }>).code!;
      expect(new RegExp(codeField.pattern).test(' 12 34 ')).toBe(true);
      expect(new RegExp(codeField.pattern).test('12a4')).toBe(false);
      for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
        const response = errorResponse(new SmsOtpError(code, { attemptsLeft: 1, retryAfter: 3 }), options);
        expect(success('SmsOtpError').safeParse(response.body).success, code).toBe(true);
      }
      expect(success('SmsOtpError').safeParse({ error: { code: 'NOPE', message: 'x' } }).success).toBe(false);
    } finally {
      await otp.close();
    }
  });

  it("lists the captcha answers verify gives past the phone's failure ceiling, as the handler answers them", async () => {
    const sender = memorySender();
    const otp = createSmsOtp({
      sender,
      exposeCode: true,
      secret: 'openapi-0123456789-abcdefghijklmnopqrstuvwxyz',
      maxFailuresPerPhone: 1,
    });
    const options = resolveHttpOptions(otp);
    try {
      const sent = await handleSend(otp, { body: { phone: '+8613800138001' } }, options);
      const { devCode: code, requestId } = sent.body as { devCode: string; requestId: string };
      const phone = '+8613800138001';
      const wrongCode = code === '000000' ? '111111' : '000000';
      await handleVerify(otp, { body: { phone, code: wrongCode, requestId } }, options);
      const asked = await handleVerify(otp, { body: { phone, code, requestId } }, options);
      const { captchaKey } = (await handleCaptcha(otp, {}, options)).body as { captchaKey: string };
      const wrongCaptcha = await handleVerify(
        otp,
        { body: { phone, code, requestId, captchaKey, captcha: '!' } },
        options,
      );
      const verify = errorCodes('/sms/verify');
      for (const [response, code] of [
        [asked, 'CAPTCHA_REQUIRED'],
        [wrongCaptcha, 'CAPTCHA_INVALID'],
      ] as const) {
        expect((response.body as { error: { code: string } }).error.code).toBe(code);
        expect(verify.get(response.status), code).toContain(code);
      }
    } finally {
      await otp.close();
    }
  });

  it('lists the cookie (scheme, Set-Cookie) only in cookie mode, as the guard reads it only then', () => {
    expect(doc.components.securitySchemes).not.toHaveProperty('smsTokenCookie');
    expect(operation('/sms/verify').responses['200']!.headers).not.toHaveProperty('Set-Cookie');
    const guarded = [{ method: 'post' as const, path: '/me', purpose: 'login' }];
    expect(openApiDocument({ guarded }).paths['/me']!.post!.security).toEqual([{ smsToken: [] }]);
    const withCookie = openApiDocument({ cookie: { name: 'otp_tok' }, guarded });
    expect(withCookie.components.securitySchemes.smsTokenCookie).toMatchObject({
      in: 'cookie',
      name: 'otp_tok',
    });
    expect(withCookie.paths['/sms/verify']!.post!.responses['200']!.headers).toHaveProperty('Set-Cookie');
    expect(withCookie.paths['/me']!.post!.security).toEqual([{ smsToken: [] }, { smsTokenCookie: [] }]);
    expect(openApiDocument({ cookie: true }).components.securitySchemes.smsTokenCookie).toMatchObject({
      name: 'sms_token',
    });
  });

  it('lists guarded routes with the X-Sms-Token scheme', () => {
    expect(doc.components.securitySchemes.smsToken).toEqual(
      expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-Sms-Token' }),
    );
    const withGuard = openApiDocument({
      guarded: [{ method: 'post', path: '/api/me', purpose: 'login', summary: 'Who am I' }],
    });
    const me = withGuard.paths['/api/me']!.post!;
    expect(me.summary).toBe('Who am I');
    expect(me.security).toContainEqual({ smsToken: [] });
    expect(new Set(Object.keys(me.responses))).toEqual(new Set(['200', '401', '403', '503']));
    expect(codesOf(me.responses['401']!)).toEqual([
      'NOT_VERIFIED',
      'TOKEN_INVALID',
      'TOKEN_EXPIRED',
      'TOKEN_USED',
    ]);
    expect(operation('/sms/send').security).toEqual([]);
  });

  it('has servers (default the serving host) and security: [] on every public route', () => {
    expect(doc.servers).toEqual([{ url: '/' }]);
    const servers = [{ url: 'https://api.example.org', description: 'Production' }];
    expect(openApiDocument({ servers }).servers).toEqual(servers);
    const full = openApiDocument({
      receipts: ['twilio', 'aliyun'],
      guarded: [{ method: 'post', path: '/api/me', purpose: 'login' }],
    });
    const publicRoutes = Object.entries(full.paths).filter(([path]) => path.startsWith('/sms/'));
    expect(publicRoutes.map(([path]) => path).sort()).toEqual([
      '/sms/captcha',
      '/sms/receipts/aliyun/{secretPath}',
      '/sms/receipts/twilio',
      '/sms/send',
      '/sms/verify',
    ]);
    for (const [path, item] of publicRoutes)
      for (const operation of Object.values(item)) expect(operation.security, path).toEqual([]);
    expect(full.paths['/api/me']!.post!.security).toEqual([{ smsToken: [] }]);
  });

  it('narrows code to what the engine accepts: digits (blanks ignored), as many as a code has', () => {
    const accepts = (document: OpenApiDocument, code: unknown) =>
      validator(document, 'VerifyRequest')({ phone: '+8613800138000', code });
    for (const code of ['1234', '123456', ' 12 34 56 ', '1234567890', '12\t34'])
      expect(accepts(doc, code), code).toBe(true);
    // The examples: 21 digits, blanks only; and digits the engine would never have made.
    for (const code of ['1'.repeat(21), '   ', '', '123', '12345678901', '12a4', '١٢٣٤', 123456])
      expect(accepts(doc, code), String(code)).toBe(false);
    const six = openApiDocument({ codeLength: 6 });
    expect(accepts(six, '123456')).toBe(true);
    expect(accepts(six, '12345')).toBe(false);
    expect(accepts(six, '1234567')).toBe(false);
    expect(accepts(openApiDocument({ codeLength: { min: 4, max: 8 } }), '12345678')).toBe(true);
    expect(() => openApiDocument({ codeLength: { min: 6, max: 4 } })).toThrow(/codeLength/);
    const purposes = openApiDocument({ purposes: ['login', 'reset'], channels: ['sms'] }).components.schemas;
    expect((purposes.SendRequest!.properties as Record<string, JsonSchema>).purpose).toMatchObject({
      enum: ['login', 'reset'],
    });
    expect((purposes.SendRequest!.properties as Record<string, JsonSchema>).channel).toMatchObject({
      enum: ['sms'],
    });
  });

  it('a body the document accepts is never refused as INVALID_REQUEST (no looser than the server)', async () => {
    const otp = createSmsOtp({
      sender: memorySender(),
      secret: 'openapi-0123456789-abcdefghijklmnopqrstuvwxyz',
      purposes: ['login', 'reset'],
    });
    const options = resolveHttpOptions(otp);
    const document = openApiDocument({ purposes: ['login', 'reset'], channels: ['sms'], codeLength: 6 });
    const sendOk = validator(document, 'SendRequest');
    const verifyOk = validator(document, 'VerifyRequest');
    // Mostly plausible values (so that many bodies pass the document), sometimes anything.
    const text = (...samples: string[]) =>
      fc.oneof(
        { weight: 40, arbitrary: fc.constantFrom(...samples) },
        fc.string({ maxLength: 40 }),
        fc.integer(),
        fc.constant(null),
      );
    const fields = {
      phone: text('+8613800138000', '13800138000', '+15555550100', ' ', '+86 138 0013 8000'),
      userId: text('user-42', 'u'.repeat(129)),
      country: text('CN', '+86', 'us', 'XX', '123456789'),
      purpose: text('login', 'reset', 'nope'),
      channel: text('sms', 'voice', 'fax'),
      captchaKey: text('k'.repeat(129)),
      captcha: text('abcd'),
      requestId: text('q7bY2m0cSxW3lH8aT1vN9w', 'r'.repeat(65)),
      code: fc.oneof(
        { weight: 4, arbitrary: fc.stringMatching(/^\s?[0-9]{6}\s?$/) },
        fc.stringMatching(/^[0-9 \t]{0,24}$/),
        fc.stringMatching(/^\s?[0-9]{5,7}\s?$/),
        fc.stringMatching(/^[0-9]{18,24}$/),
        fc.string({ maxLength: 24 }),
        fc.integer(),
      ),
    };
    const body = fc.record(fields, { requiredKeys: ['phone', 'code'] });
    let accepted = 0;
    try {
      await fc.assert(
        fc.asyncProperty(body, async (input) => {
          const send = sendOk(input);
          const verify = verifyOk(input);
          accepted += Number(send) + Number(verify);
          if (send) {
            const answer = await handleSend(otp, { body: input, ip: '192.0.2.1' }, options);
            expect(answer.body, JSON.stringify(input)).not.toMatchObject({
              error: { code: 'INVALID_REQUEST' },
            });
          }
          if (verify) {
            const answer = await handleVerify(otp, { body: input, ip: '192.0.2.1' }, options);
            expect(answer.body, JSON.stringify(input)).not.toMatchObject({
              error: { code: 'INVALID_REQUEST' },
            });
          }
        }),
        { numRuns: 400, seed: 18 },
      );
    } finally {
      await otp.close();
    }
    expect(accepted).toBeGreaterThan(10); // the property was not vacuous
  });

  it('has request examples its own schemas accept', () => {
    for (const options of [{}, { userIds: true }, { codeLength: 4 }, { purposes: ['reset'] }]) {
      const document = openApiDocument(options);
      for (const [path, name] of [
        ['/sms/send', 'SendRequest'],
        ['/sms/verify', 'VerifyRequest'],
      ] as const) {
        const content = document.paths[path]!.post!.requestBody!.content['application/json']!;
        const examples = Object.values(content.examples ?? {});
        expect(examples.length, path).toBeGreaterThan(0);
        const valid = validator(document, name);
        for (const example of examples)
          expect(valid(example.value), JSON.stringify(example.value)).toBe(true);
      }
    }
    expect(
      Object.keys(
        openApiDocument({ userIds: true }).paths['/sms/send']!.post!.requestBody!.content['application/json']!
          .examples!,
      ),
    ).toContain('userId');
  });

  it('links send → verify (recipient, purpose, requestId) → guarded routes (token as X-Sms-Token)', () => {
    const guarded = openApiDocument({
      guarded: [
        { method: 'post', path: '/api/me', purpose: 'login' },
        { method: 'get', path: '/api/reset', purpose: 'reset' },
      ],
    });
    const sent = guarded.paths['/sms/send']!.post!.responses['200']!;
    expect(sent.links).toEqual({
      smsOtpVerify: expect.objectContaining({
        operationId: 'smsOtpVerify',
        requestBody: {
          phone: '$request.body#/phone',
          country: '$request.body#/country',
          purpose: '$request.body#/purpose',
          requestId: '$response.body#/requestId',
        },
      }),
    });
    const verified = guarded.paths['/sms/verify']!.post!.responses['200']!;
    expect(verified.links).toEqual({
      postApiMe: expect.objectContaining({
        operationId: 'postApiMe',
        parameters: { 'header.X-Sms-Token': '$response.body#/token' },
      }),
      getApiReset: expect.objectContaining({ operationId: 'getApiReset' }),
    });
    // Every link names an operation of the document, and the guarded ones take the header it fills in.
    const operations = new Map(
      Object.values(guarded.paths).flatMap((item) => Object.values(item).map((op) => [op.operationId, op])),
    );
    for (const link of [...Object.values(sent.links!), ...Object.values(verified.links!)])
      expect(operations.has(link.operationId), link.operationId).toBe(true);
    expect(guarded.paths['/api/me']!.post!.parameters).toContainEqual(
      expect.objectContaining({ name: 'X-Sms-Token', in: 'header', required: false }),
    );
    // No guarded routes: verify links nowhere. Development servers: the send's devCode is the code.
    expect(operation('/sms/verify').responses['200']!).not.toHaveProperty('links');
    const dev = openApiDocument({ exposeCode: true, userIds: true }).paths['/sms/send']!.post!.responses[
      '200'
    ]!;
    expect(dev.links!.smsOtpVerify!.requestBody).toMatchObject({
      code: '$response.body#/devCode',
      userId: '$request.body#/userId',
    });
  });
});
