import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmsOtpConfigError } from '../../src/errors.js';
import { ALIYUN_ERRORS, aliyunAcs3Signature, aliyunSender } from '../../src/vendors/aliyun.js';
import type { Sender } from '../../src/vendors/types.js';
import { ALIYUN, type AliyunFake, startAliyunFake } from './fakes/aliyun.js';
import { closedPortUrl } from './fakes/server.js';
import { codeMessage, expectNoSecrets, rejection } from './helpers.js';

const SECRETS = [ALIYUN.accessKeySecret];
const EMPTY = createHash('sha256').update('').digest('hex');

describe('ACS3-HMAC-SHA256 (vectors of ../shared/vendors/vectors.mjs)', () => {
  it('V5 [published]: the V3 document fixed-parameter example (ECS RunInstances)', () => {
    const signed = aliyunAcs3Signature({
      method: 'POST',
      pathname: '/',
      query: { ImageId: 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd', RegionId: 'cn-shanghai' },
      headers: [
        ['host', 'ecs.cn-shanghai.aliyuncs.com'],
        ['x-acs-action', 'RunInstances'],
        ['x-acs-version', '2014-05-26'],
        ['x-acs-date', '2023-10-26T10:22:32Z'],
        ['x-acs-signature-nonce', '3156853299f313e23d1673dc12e1703d'],
        ['x-acs-content-sha256', EMPTY],
      ],
      payloadHash: EMPTY,
      accessKeyId: 'YourAccessKeyId',
      accessKeySecret: 'YourAccessKeySecret',
    });
    expect(signed.hashedCanonicalRequest).toBe(
      '7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259',
    );
    expect(signed.authorization).toBe(
      'ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0',
    );
  });

  it('V6 [published]: darabonba getAuthorization (headers equal but for case merge; empty value is "name=")', () => {
    const signed = aliyunAcs3Signature({
      method: 'undefined',
      pathname: '',
      query: { test: 'ok', empty: '' },
      headers: [
        ['x-acs-TEST', 'https'],
        ['x-acs-test', 'http'],
      ],
      payloadHash: '55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23',
      accessKeyId: 'acesskey',
      accessKeySecret: 'secret',
    });
    expect(signed.signedHeaders).toBe('x-acs-test');
    expect(signed.signature).toBe('0f2d549523cf082c83bb8135b5863614f7fe16ca7c2c7fc537e74d67374eeeac');
  });

  it('V7 [computed there, not by the vendor]: SendSms with a Chinese SignName and a JSON TemplateParam', () => {
    const signed = aliyunAcs3Signature({
      method: 'POST',
      pathname: '/',
      query: {
        PhoneNumbers: '13800138000',
        SignName: '阿里云短信测试',
        TemplateCode: 'SMS_154950909',
        TemplateParam: '{"code":"123456"}',
        OutId: 'req-0001',
      },
      headers: [
        ['host', 'dysmsapi.aliyuncs.com'],
        ['x-acs-action', 'SendSms'],
        ['x-acs-version', '2017-05-25'],
        ['x-acs-date', '2024-01-01T00:00:00Z'],
        ['x-acs-signature-nonce', '0123456789abcdef0123456789abcdef'],
        ['x-acs-content-sha256', EMPTY],
      ],
      payloadHash: EMPTY,
      accessKeyId: 'YourAccessKeyId',
      accessKeySecret: 'YourAccessKeySecret',
    });
    expect(signed.hashedCanonicalRequest).toBe(
      'e446cb59a057f63dc194f3102eb9b55892b57b7a74b83786494ea107f1ffe0fc',
    );
    expect(signed.signature).toBe('674180cb49f9fd4577bcb7152871d2c0e600c5fc0920fb21ea69406e06e2e3b0');
  });
});

/** The documented `Code` table (VENDOR-APIS.md 1.7, 1.8), written out independently of ALIYUN_ERRORS. */
const TABLE: Array<[string, string, string?]> = [
  ['isv.BUSINESS_LIMIT_CONTROL', 'RATE_LIMITED'],
  ['isv.MOBILE_NUMBER_ILLEGAL', 'INVALID_PHONE'],
  ['isv.CUSTOMER_REFUSED', 'INVALID_PHONE'],
  ['isv.AMOUNT_NOT_ENOUGH', 'SEND_FAILED', 'balance'],
  ['isv.OUT_OF_SERVICE', 'SEND_FAILED', 'arrears'],
  ['isv.DAY_LIMIT_CONTROL', 'SEND_FAILED', 'config'],
  ['isv.MONTH_LIMIT_CONTROL', 'SEND_FAILED', 'config'],
  ['isv.DOMESTIC_NUMBER_NOT_SUPPORTED', 'SEND_FAILED', 'config'],
  ['isv.SMS_TEST_NUMBER_LIMIT', 'SEND_FAILED', 'config'],
  ['isv.SMS_TEST_SIGN_TEMPLATE_LIMIT', 'SEND_FAILED', 'config'],
  ['isv.EXTEND_CODE_ERROR', 'SEND_FAILED', 'config'],
  ['isv.PRODUCT_UN_SUBSCRIPT', 'SEND_FAILED', 'config'],
  ['isv.PRODUCT_UNSUBSCRIBE', 'SEND_FAILED', 'config'],
  ['isv.SECURITY_FROZEN_ACCOUNT', 'SEND_FAILED', 'config'],
  ['isv.DENY_IP_RANGE', 'SEND_FAILED', 'config'],
  ['isv.SMS_TEST_TEMPLATE_PARAMS_ILLEGAL', 'SEND_FAILED', 'template'],
  ['isv.SMS_TEMPLATE_ILLEGAL', 'SEND_FAILED', 'template'],
  ['isv.TEMPLATE_MISSING_PARAMETERS', 'SEND_FAILED', 'template'],
  ['isv.TEMPLATE_PARAMS_ILLEGAL', 'SEND_FAILED', 'template'],
  ['template_parameter_count_illegal', 'SEND_FAILED', 'template'],
  ['isv.PARAM_LENGTH_LIMIT', 'SEND_FAILED', 'template'],
  ['isv.PARAM_NOT_SUPPORT_URL', 'SEND_FAILED', 'template'],
  ['isv.BLACK_KEY_CONTROL_LIMIT', 'SEND_FAILED', 'template'],
  ['isv.SMS_CONTENT_ILLEGAL', 'SEND_FAILED', 'template'],
  ['isv.SMS_SIGNATURE_ILLEGAL', 'SEND_FAILED', 'signature'],
  ['isv.SMS_SIGN_ILLEGAL', 'SEND_FAILED', 'signature'],
  ['isv.SIGN_STATE_ILLEGAL', 'SEND_FAILED', 'signature'],
  ['isv.SMS_SIGNATURE_SCENE_ILLEGAL', 'SEND_FAILED', 'signature'],
  ['isv.MOBILE_COUNT_OVER_LIMIT', 'SEND_FAILED', 'bad_request'],
  ['isv.INVALID_JSON_PARAM', 'SEND_FAILED', 'bad_request'],
  ['isv.INVALID_PARAMETERS', 'SEND_FAILED', 'bad_request'],
  ['PARAMS_ILLEGAL', 'SEND_FAILED', 'bad_request'],
  ['isv.ACCOUNT_NOT_EXISTS', 'SEND_FAILED', 'auth'],
  ['isv.ACCOUNT_ABNORMAL', 'SEND_FAILED', 'auth'],
  ['isp.RAM_PERMISSION_DENY', 'SEND_FAILED', 'auth'],
  ['isp.SYSTEM_ERROR', 'SEND_FAILED', 'vendor_error'],
  ['isp.GATEWAY_ERROR', 'SEND_FAILED', 'vendor_error'],
  ['IS_CLOSE', 'SEND_FAILED', 'vendor_error'],
  ['an.undocumented.code', 'SEND_FAILED', 'vendor_error'],
];

/** Gateway codes the fake answers with a 4xx, as Alibaba does. */
const GATEWAY_TABLE: Array<[string, number, string]> = [
  ['SignatureDoesNotMatch', 400, 'auth'],
  ['InvalidAccessKeyId.NotFound', 404, 'auth'],
  ['InvalidTimeStamp.Expired', 400, 'auth'],
  ['Forbidden.RAM', 403, 'auth'],
  ['InvalidApi.NotFound', 404, 'config'],
  ['InvalidVersion', 400, 'config'],
  ['Throttling', 400, 'vendor_error'],
];

describe('aliyunSender', () => {
  let fake: AliyunFake;
  let sender: Sender;
  const options = () => ({
    ...ALIYUN,
    signName: '阿里云短信测试',
    templateCode: 'SMS_154950909',
    baseUrl: fake.url,
  });

  beforeEach(async () => {
    fake = await startAliyunFake();
    sender = aliyunSender(options());
  });
  afterEach(async () => {
    expect(fake.mismatches).toEqual([]);
    expect(fake.refused).toEqual([]);
    await fake.close();
  });

  it('sends SendSms signed as Alibaba checks it, and keeps BizId as the message id', async () => {
    const receipt = await sender.send(codeMessage());
    expect(receipt).toEqual({ vendor: 'aliyun', messageId: '9006197469364981^0' });
    expect(fake.sent).toEqual([
      {
        phoneNumbers: '13800138000',
        signName: '阿里云短信测试',
        templateCode: 'SMS_154950909',
        templateParam: { code: '482913' },
        outId: '6f1c2a9e-4b7d-4c1e-9a2f-3d5e7b9c1a20',
      },
    ]);
    const req = fake.requests[0]!;
    expect(req.headers['x-acs-action']).toBe('SendSms');
    expect(req.headers['x-acs-version']).toBe('2017-05-25');
    expect(req.headers.authorization).toMatch(
      /^ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;/,
    );
  });

  it('gives every request a new nonce (Alibaba refuses a reused one)', async () => {
    await sender.send(codeMessage());
    await sender.send(codeMessage());
    const nonces = fake.requests.map((r) => r.headers['x-acs-signature-nonce']);
    expect(new Set(nonces).size).toBe(2);
  });

  it('fills TemplateParam with the templateParam option, values as strings', async () => {
    const custom = aliyunSender({
      ...options(),
      templateParam: (code, minutes, purpose) => ({ code, minutes, purpose }),
    });
    await custom.send(codeMessage({ ttl: 90, purpose: 'reset-password' }));
    expect(fake.sent[0]!.templateParam).toEqual({ code: '482913', minutes: '2', purpose: 'reset-password' });
  });

  it('picks the template of each purpose from a map, and says which purposes it covers', async () => {
    const mapped = aliyunSender({
      ...options(),
      templateCode: { login: 'SMS_1', 'reset-password': 'SMS_2' },
    });
    expect(mapped.purposes).toEqual(['login', 'reset-password']);
    expect(sender.purposes).toBeUndefined();
    await mapped.send(codeMessage({ purpose: 'reset-password' }));
    await mapped.send(codeMessage({ purpose: 'login' }));
    expect(fake.sent.map((s) => s.templateCode)).toEqual(['SMS_2', 'SMS_1']);
    const error = await rejection(mapped.send(codeMessage({ purpose: 'register' })));
    expect(error.details).toMatchObject({ reason: 'template', purpose: 'register' });
    expect(fake.requests).toHaveLength(2);
  });

  it('refuses numbers outside mainland China unless international, then sends them without "+"', async () => {
    const error = await rejection(sender.send(codeMessage({ phone: '+85291234567' })));
    expect(error.code).toBe('INVALID_PHONE');
    expect(error.details.reason).toBe('unsupported_country');
    expect(fake.requests).toHaveLength(0);
    const world = aliyunSender({ ...options(), international: true });
    await world.send(codeMessage({ phone: '+85291234567' }));
    await world.send(codeMessage({ phone: '+8613800138000' }));
    expect(fake.sent.map((s) => s.phoneNumbers)).toEqual(['85291234567', '13800138000']);
  });

  it.each(TABLE)('maps Code %s to %s %s', async (code, errorCode, reason) => {
    fake.code = code;
    const error = await rejection(sender.send(codeMessage()));
    expect(error.code).toBe(errorCode);
    expect(error.details).toMatchObject({ vendor: 'aliyun', vendorCode: code });
    if (reason) expect(error.details.reason).toBe(reason);
    if (errorCode === 'RATE_LIMITED') expect(error.details.retryAfter).toBe(60);
    expectNoSecrets(error, SECRETS);
  });

  it('the exported table and the documented one agree', () => {
    for (const [code, errorCode, reason] of TABLE.slice(0, -1)) {
      expect(ALIYUN_ERRORS[code], code).toEqual(reason ? { code: errorCode, reason } : { code: errorCode });
    }
  });

  it.each(GATEWAY_TABLE)(
    'maps gateway answer %s (HTTP %i) to SEND_FAILED %s',
    async (code, status, reason) => {
      fake.code = code;
      const error = await rejection(sender.send(codeMessage()));
      expect(error.details).toMatchObject({ vendor: 'aliyun', reason, vendorCode: code, httpStatus: status });
      fake.refused = [];
    },
  );

  it('a wrong secret is refused by the fake as SignatureDoesNotMatch → auth', async () => {
    const forged = aliyunSender({ ...options(), accessKeySecret: 'NotTheSecret' });
    const error = await rejection(forged.send(codeMessage()));
    expect(error.details).toMatchObject({
      reason: 'auth',
      vendorCode: 'SignatureDoesNotMatch',
      httpStatus: 400,
    });
    expect(fake.refused).toEqual(['SignatureDoesNotMatch']);
    expectNoSecrets(error, ['NotTheSecret']);
    fake.refused = [];
  });

  it('a clock 20 minutes off is refused as InvalidTimeStamp.Expired → auth', async () => {
    const skewed = aliyunSender({ ...options(), clock: () => Date.now() - 20 * 60_000 });
    const error = await rejection(skewed.send(codeMessage()));
    expect(error.details).toMatchObject({ reason: 'auth', vendorCode: 'InvalidTimeStamp.Expired' });
    fake.refused = [];
  });

  it('a failed send shows neither the secret nor the code when inspected', async () => {
    fake.code = 'isv.AMOUNT_NOT_ENOUGH';
    const error = await rejection(sender.send(codeMessage()));
    const shown = inspect(error, { depth: 10 });
    expect(shown).not.toContain(ALIYUN.accessKeySecret);
    expect(shown).not.toContain('482913');
  });

  it('transport failures: timeout, HTTP 500, HTML, connection refused', async () => {
    fake.misbehave = 'hang';
    const quick = aliyunSender({ ...options(), timeout: 50 });
    expect((await rejection(quick.send(codeMessage()))).details).toEqual({
      vendor: 'aliyun',
      reason: 'timeout',
      timeoutMs: 50,
    });
    fake.misbehave = 'status500';
    expect((await rejection(sender.send(codeMessage()))).details).toEqual({
      vendor: 'aliyun',
      reason: 'http_error',
      httpStatus: 500,
    });
    fake.misbehave = 'html';
    expect((await rejection(sender.send(codeMessage()))).details).toEqual({
      vendor: 'aliyun',
      reason: 'bad_response',
      httpStatus: 200,
    });
    fake.misbehave = undefined;
    const refused = aliyunSender({ ...options(), baseUrl: await closedPortUrl() });
    expect((await rejection(refused.send(codeMessage()))).details).toMatchObject({ reason: 'network' });
  });
});

describe('aliyunSender options', () => {
  const base = { ...ALIYUN, signName: 'x', templateCode: 'SMS_1' };
  it.each([
    [{ ...base, accessKeySecret: '' }, 'aliyun.accessKeySecret'],
    [{ ...base, templateCode: {} }, 'aliyun.templateCode'],
    [{ ...base, templateCode: { login: '' } }, 'aliyun.templateCode.login'],
    [{ ...base, signName: ' ' }, 'aliyun.signName'],
    [{ ...base, endpoint: 'https://x' }, 'aliyun.endpoint'],
    [{ ...base, templateParam: 'code' }, 'aliyun.templateParam'],
    [{ ...base, secret: 'x' }, 'aliyun.secret'],
  ])('throws SmsOtpConfigError naming the option (%#)', (options, path) => {
    let thrown: unknown;
    try {
      aliyunSender(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SmsOtpConfigError);
    expect((thrown as SmsOtpConfigError).path).toBe(path);
    expect(String((thrown as Error).message)).not.toContain(ALIYUN.accessKeySecret);
  });
});
