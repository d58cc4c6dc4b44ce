import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmsOtpConfigError } from '../../src/errors.js';
import { mayHaveDelivered } from '../../src/vendors/http.js';
import { tencentSender, tencentTc3Signature } from '../../src/vendors/tencent.js';
import type { Sender } from '../../src/vendors/types.js';
import { closedPortUrl } from './fakes/server.js';
import { startTencentFake, TENCENT, type TencentFake } from './fakes/tencent.js';
import { codeMessage, expectNoSecrets, rejection } from './helpers.js';

const SECRETS = [TENCENT.secretKey];
const CVM_PAYLOAD =
  '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}';

describe('TC3-HMAC-SHA256 (vectors of ../shared/vendors/vectors.mjs)', () => {
  it('T1 [published]: the current Chinese document, x-tc-action signed with its value lower-cased', () => {
    const signed = tencentTc3Signature({
      secretId: `AKID${'*'.repeat(32)}`,
      secretKey: '*'.repeat(32),
      service: 'cvm',
      timestamp: 1551113065,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        host: 'cvm.tencentcloudapi.com',
        'X-TC-Action': 'DescribeInstances',
      },
      payload: CVM_PAYLOAD,
    });
    expect(signed.signature).toBe('10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f');
  });

  it('T2 [published]: the English document, content-type;host', () => {
    const signed = tencentTc3Signature({
      secretId: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE',
      secretKey: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE',
      service: 'cvm',
      timestamp: 1551113065,
      headers: { 'content-type': 'application/json; charset=utf-8', host: 'cvm.tencentcloudapi.com' },
      payload: CVM_PAYLOAD,
    });
    expect(signed.signature).toBe('72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168');
    expect(signed.authorization).toBe(
      'TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168',
    );
  });

  it('T3 [computed there, not by the vendor]: SendSms', () => {
    const payload = JSON.stringify({
      PhoneNumberSet: ['+8613800138000'],
      SmsSdkAppId: '1400006666',
      SignName: '腾讯云',
      TemplateId: '1110',
      TemplateParamSet: ['123456', '5'],
      SessionContext: 'req-0001',
    });
    const signed = tencentTc3Signature({
      secretId: 'AKIDEXAMPLE',
      secretKey: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE',
      service: 'sms',
      timestamp: 1704067200,
      headers: { 'content-type': 'application/json; charset=utf-8', host: 'sms.tencentcloudapi.com' },
      payload,
    });
    expect(signed.authorization).toBe(
      'TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2024-01-01/sms/tc3_request, SignedHeaders=content-type;host, Signature=8918c22d791b8e7a0bdc8a694450b2fa6501d3619d9983f82f154eb0c58b0e9e',
    );
  });
});

/** The documented SendSms table (VENDOR-APIS.md 2.5), both spellings where SDK and docs differ. */
const TABLE: Array<[string, string, string?]> = [
  ['LimitExceeded.PhoneNumberThirtySecondLimit', 'RATE_LIMITED'],
  ['LimitExceeded.PhoneNumberOneHourLimit', 'RATE_LIMITED'],
  ['LimitExceeded.PhoneNumberDailyLimit', 'RATE_LIMITED'],
  ['LimitExceeded.PhoneNumberSameContentDailyLimit', 'RATE_LIMITED'],
  ['LimitExceeded.DeliveryFrequencyLimit', 'RATE_LIMITED'],
  ['LimitExceeded.SomeFutureLimit', 'RATE_LIMITED'],
  ['LimitExceeded.AppDailyLimit', 'SEND_FAILED', 'config'],
  ['LimitExceeded.AppMainlandChinaDailyLimit', 'SEND_FAILED', 'config'],
  ['LimitExceeded.AppGlobalDailyLimit', 'SEND_FAILED', 'config'],
  ['LimitExceeded.DailyLimit', 'SEND_FAILED', 'config'],
  ['LimitExceeded.AppCountryOrRegionDailyLimit', 'INVALID_PHONE', 'unsupported_country'],
  ['LimitExceeded.AppCountryOrRegionInBlacklist', 'INVALID_PHONE', 'unsupported_country'],
  ['UnsupportedOperation.UnsuportedRegion', 'INVALID_PHONE', 'unsupported_country'],
  ['UnsupportedOperation.UnsupportedRegion', 'INVALID_PHONE', 'unsupported_country'],
  ['LimitExceeded.PhoneNumberCountLimit', 'SEND_FAILED', 'bad_request'],
  ['MissingParameter.EmptyPhoneNumberSet', 'SEND_FAILED', 'bad_request'],
  ['InvalidParameterValue.IncorrectPhoneNumber', 'INVALID_PHONE'],
  ['FailedOperation.PhoneNumberParseFail', 'INVALID_PHONE'],
  ['FailedOperation.PhoneNumberInBlacklist', 'INVALID_PHONE'],
  ['UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber', 'SEND_FAILED', 'bad_request'],
  ['UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone', 'SEND_FAILED', 'config'],
  ['UnsupportedOperation.GlobalTemplateToChineseMainlandPhone', 'SEND_FAILED', 'config'],
  ['FailedOperation.SignatureIncorrectOrUnapproved', 'SEND_FAILED', 'signature'],
  ['FailedOperation.TemplateIncorrectOrUnapproved', 'SEND_FAILED', 'template'],
  ['FailedOperation.TemplateUnapprovedOrNotExist', 'SEND_FAILED', 'template'],
  ['FailedOperation.TemplateParamSetNotMatchApprovedTemplate', 'SEND_FAILED', 'template'],
  ['InvalidParameterValue.TemplateParameterFormatError', 'SEND_FAILED', 'template'],
  ['InvalidParameterValue.TemplateParameterLengthLimit', 'SEND_FAILED', 'template'],
  ['InvalidParameterValue.ProhibitedUseUrlInTemplateParameter', 'SEND_FAILED', 'template'],
  ['InvalidParameterValue.ContentLengthLimit', 'SEND_FAILED', 'template'],
  ['FailedOperation.ContainSensitiveWord', 'SEND_FAILED', 'template'],
  ['FailedOperation.InsufficientBalanceInSmsPackage', 'SEND_FAILED', 'balance'],
  ['UnauthorizedOperation.SerivceSuspendDueToArrears', 'SEND_FAILED', 'arrears'],
  ['UnauthorizedOperation.ServiceSuspendDueToArrears', 'SEND_FAILED', 'arrears'],
  ['UnauthorizedOperation.SmsSdkAppIdVerifyFail', 'SEND_FAILED', 'config'],
  ['UnauthorizedOperation.SdkAppIdIsDisabled', 'SEND_FAILED', 'config'],
  ['InvalidParameterValue.SdkAppIdNotExist', 'SEND_FAILED', 'config'],
  ['UnauthorizedOperation.RequestPermissionDeny', 'SEND_FAILED', 'auth'],
  ['UnauthorizedOperation.RequestIpNotInWhitelist', 'SEND_FAILED', 'config'],
  ['UnauthorizedOperation.IndividualUserMarketingSmsPermissionDeny', 'SEND_FAILED', 'config'],
  ['FailedOperation.FailResolvePacket', 'SEND_FAILED', 'bad_request'],
  ['FailedOperation.JsonParseFail', 'SEND_FAILED', 'bad_request'],
  ['InternalError.JsonParseFail', 'SEND_FAILED', 'bad_request'],
  ['InternalError.Timeout', 'SEND_FAILED', 'vendor_error'],
  ['InternalError.SendAndRecvFail', 'SEND_FAILED', 'vendor_error'],
  ['InternalError.OtherError', 'SEND_FAILED', 'vendor_error'],
  ['InternalError.RequestTimeException', 'SEND_FAILED', 'auth'],
  ['AuthFailure.SignatureFailure', 'SEND_FAILED', 'auth'],
  ['AuthFailure.SecretIdNotFound', 'SEND_FAILED', 'auth'],
  ['RequestLimitExceeded', 'SEND_FAILED', 'vendor_error'],
  ['RequestLimitExceeded.UinLimitExceeded', 'SEND_FAILED', 'vendor_error'],
  ['InvalidAction', 'SEND_FAILED', 'config'],
  ['NoSuchVersion', 'SEND_FAILED', 'config'],
  ['UnsupportedRegion', 'SEND_FAILED', 'config'],
  ['InvalidParameter', 'SEND_FAILED', 'bad_request'],
  ['UnknownParameter', 'SEND_FAILED', 'bad_request'],
  ['IpNotInWhitelist', 'SEND_FAILED', 'auth'],
  ['ServiceUnavailable', 'SEND_FAILED', 'vendor_error'],
];

describe('tencentSender', () => {
  let fake: TencentFake;
  let sender: Sender;
  const options = () => ({
    ...TENCENT,
    signName: '腾讯云',
    templateId: '1110',
    baseUrl: fake.url,
  });

  beforeEach(async () => {
    fake = await startTencentFake();
    sender = tencentSender(options());
  });
  afterEach(async () => {
    expect(fake.mismatches).toEqual([]);
    expect(fake.refused).toEqual([]);
    await fake.close();
  });

  it('sends SendSms signed as Tencent checks it, and keeps SerialNo as the message id', async () => {
    const receipt = await sender.send(codeMessage());
    expect(receipt).toEqual({ vendor: 'tencent', messageId: expect.stringMatching(/^5000:\d+$/) });
    expect(fake.sent).toEqual([
      {
        phones: ['+8613800138000'],
        signName: '腾讯云',
        templateId: '1110',
        params: ['482913', '5'],
        sessionContext: '6f1c2a9e-4b7d-4c1e-9a2f-3d5e7b9c1a20',
      },
    ]);
    const req = fake.requests[0]!;
    expect(req.headers['x-tc-action']).toBe('SendSms');
    expect(req.headers['x-tc-version']).toBe('2021-01-11');
    expect(req.headers['x-tc-region']).toBe('ap-guangzhou');
  });

  it('signs with the clock: the fixed-time request carries the timestamp and its UTC date', async () => {
    const at = Date.UTC(2024, 0, 1, 0, 0, 0);
    fake.now = () => at;
    const fixed = tencentSender({ ...options(), clock: () => at, region: 'ap-beijing' });
    await fixed.send(codeMessage());
    const req = fake.requests[0]!;
    expect(req.headers['x-tc-timestamp']).toBe('1704067200');
    expect(req.headers['x-tc-region']).toBe('ap-beijing');
    expect(req.headers.authorization).toMatch(
      /Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE\/2024-01-01\/sms\//,
    );
  });

  it('fills TemplateParamSet with the templateParams option', async () => {
    const custom = tencentSender({ ...options(), templateParams: (code) => [code] });
    await custom.send(codeMessage());
    expect(fake.sent[0]!.params).toEqual(['482913']);
  });

  it('picks the template of each purpose from a map, and says which purposes it covers', async () => {
    const mapped = tencentSender({ ...options(), templateId: { login: '1110', 'reset-password': 1111 } });
    expect(mapped.purposes).toEqual(['login', 'reset-password']);
    await mapped.send(codeMessage({ purpose: 'reset-password' }));
    await mapped.send(codeMessage({ purpose: 'login' }));
    expect(fake.sent.map((s) => s.templateId)).toEqual(['1111', '1110']);
  });

  it('refuses numbers outside mainland China unless international, then sends them as E.164', async () => {
    const error = await rejection(sender.send(codeMessage({ phone: '+85291234567' })));
    expect(error.details.reason).toBe('unsupported_country');
    expect(fake.requests).toHaveLength(0);
    const world = tencentSender({ ...options(), international: true });
    await world.send(codeMessage({ phone: '+85291234567' }));
    expect(fake.sent[0]!.phones).toEqual(['+85291234567']);
  });

  it.each(TABLE)('maps %s (in Response.Error) to %s %s', async (code, errorCode, reason) => {
    fake.code = code;
    const error = await rejection(sender.send(codeMessage()));
    expect(error.code).toBe(errorCode);
    expect(error.details).toMatchObject({ vendor: 'tencent', vendorCode: code });
    if (reason) expect(error.details.reason).toBe(reason);
    expectNoSecrets(error, SECRETS);
  });

  it.each(TABLE.slice(0, 20))(
    'maps %s (a number’s SendStatusSet code, HTTP 200) to %s %s',
    async (code, errorCode, reason) => {
      fake.level = 'number';
      fake.code = code;
      const error = await rejection(sender.send(codeMessage()));
      expect(error.code).toBe(errorCode);
      if (reason) expect(error.details.reason).toBe(reason);
      expect(fake.sent).toEqual([]);
    },
  );

  it('a backend timeout (InternalError.Timeout) may have delivered: failover must not resend', async () => {
    fake.code = 'InternalError.Timeout';
    const error = await rejection(sender.send(codeMessage()));
    expect(mayHaveDelivered(error)).toBe(true);
    fake.code = 'FailedOperation.InsufficientBalanceInSmsPackage';
    expect(mayHaveDelivered(await rejection(sender.send(codeMessage())))).toBe(false);
  });

  it('a wrong SecretKey is refused by the fake as AuthFailure.SignatureFailure → auth', async () => {
    const forged = tencentSender({ ...options(), secretKey: 'NotTheSecretKey' });
    const error = await rejection(forged.send(codeMessage()));
    expect(error.details).toMatchObject({ reason: 'auth', vendorCode: 'AuthFailure.SignatureFailure' });
    expect(fake.refused).toEqual(['AuthFailure.SignatureFailure']);
    expectNoSecrets(error, ['NotTheSecretKey']);
    fake.refused = [];
  });

  it('a clock 10 minutes off is refused as AuthFailure.SignatureExpire → auth', async () => {
    const skewed = tencentSender({ ...options(), clock: () => Date.now() + 10 * 60_000 });
    const error = await rejection(skewed.send(codeMessage()));
    expect(error.details).toMatchObject({ reason: 'auth', vendorCode: 'AuthFailure.SignatureExpire' });
    fake.refused = [];
  });

  it('an app id the key does not own is refused → config', async () => {
    const other = tencentSender({ ...options(), smsSdkAppId: 1400000001 });
    const error = await rejection(other.send(codeMessage()));
    expect(error.details).toMatchObject({
      reason: 'config',
      vendorCode: 'UnauthorizedOperation.SmsSdkAppIdVerifyFail',
    });
    fake.refused = [];
  });

  it('a failed send shows neither the secret nor the code when inspected', async () => {
    fake.code = 'FailedOperation.TemplateParamSetNotMatchApprovedTemplate';
    const error = await rejection(sender.send(codeMessage()));
    const shown = inspect(error, { depth: 10 });
    expect(shown).not.toContain(TENCENT.secretKey);
    expect(shown).not.toContain('482913');
  });

  it('transport failures: timeout, HTTP 502, HTML, connection refused', async () => {
    fake.misbehave = 'hang';
    const quick = tencentSender({ ...options(), timeout: 50 });
    expect((await rejection(quick.send(codeMessage()))).details).toEqual({
      vendor: 'tencent',
      reason: 'timeout',
      timeoutMs: 50,
    });
    fake.misbehave = 'status502-json';
    expect((await rejection(sender.send(codeMessage()))).details).toMatchObject({
      reason: 'http_error',
      httpStatus: 502,
    });
    fake.misbehave = 'html';
    expect((await rejection(sender.send(codeMessage()))).details).toEqual({
      vendor: 'tencent',
      reason: 'bad_response',
      httpStatus: 200,
    });
    fake.misbehave = undefined;
    const refused = tencentSender({ ...options(), baseUrl: await closedPortUrl() });
    expect((await rejection(refused.send(codeMessage()))).details).toMatchObject({ reason: 'network' });
  });
});

describe('tencentSender options', () => {
  const base = { ...TENCENT, signName: 'x', templateId: '1' };
  it.each([
    [{ ...base, secretKey: '' }, 'tencent.secretKey'],
    [{ ...base, templateId: {} }, 'tencent.templateId'],
    [{ ...base, region: 'Guangzhou' }, 'tencent.region'],
    [{ ...base, templateParams: ['1'] }, 'tencent.templateParams'],
    [{ ...base, baseUrl: 'ftp://x' }, 'tencent.baseUrl'],
    [{ ...base, appId: '1' }, 'tencent.appId'],
  ])('throws SmsOtpConfigError naming the option (%#)', (options, path) => {
    let thrown: unknown;
    try {
      tencentSender(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SmsOtpConfigError);
    expect((thrown as SmsOtpConfigError).path).toBe(path);
    expect(String((thrown as Error).message)).not.toContain(TENCENT.secretKey);
  });
});
