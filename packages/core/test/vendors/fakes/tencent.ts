import { createHash, createHmac } from 'node:crypto';
import { checkObject, type FakeServer, startFake } from './server.js';

/** The fake's own copy of the credentials (the TC3 English document's example key). */
export const TENCENT = {
  secretId: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE',
  secretKey: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE',
  smsSdkAppId: '1400006666',
} as const;

/** One accepted SendSms, as the fake read it. */
export interface TencentSend {
  phones: string[];
  signName: string;
  templateId: string;
  params: string[];
  sessionContext: string | undefined;
}

export interface TencentFake extends FakeServer {
  /** Code of the next answers: `'Ok'`, or an error code (see `level`). */
  code: string;
  /** Codes for the next requests, one each, before `code` applies again. */
  script: string[];
  /** Where an error code goes: `Response.Error` (`'request'`, default) or the number's `SendStatusSet` entry. */
  level: 'request' | 'number';
  /** The fake's clock (epoch ms) for the 5-minute `X-TC-Timestamp` window; default `Date.now`. */
  now: () => number;
  /** Every request Tencent would have refused on its own (signature, timestamp, action …), with the code. */
  refused: string[];
  sent: TencentSend[];
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const hmac = (key: string | Buffer, text: string) => createHmac('sha256', key).update(text, 'utf8').digest();

/**
 * A fake of Tencent Cloud SMS SendSms 2021-01-11 (TC3-HMAC-SHA256): re-derives the signature from the
 * received request (the headers it names as signed, the body bytes) with its own copy of the SecretKey, and
 * answers as Tencent does — HTTP 200 with `Response.Error` for a bad signature, an unknown SecretId, a stale
 * timestamp, another action or version; per-number `SendStatusSet` codes otherwise.
 */
export async function startTencentFake(): Promise<TencentFake> {
  const state = {
    code: 'Ok',
    script: [] as string[],
    level: 'request' as 'request' | 'number',
    now: () => Date.now(),
    refused: [] as string[],
    sent: [] as TencentSend[],
  };
  const error = (code: string, own = true) => {
    if (own) self.refused.push(code);
    return {
      status: 200,
      body: { Response: { Error: { Code: code, Message: `${code} (fake)` }, RequestId: 'a0aabda6-cf91' } },
    };
  };
  const server = await startFake((req, problem) => {
    if (req.method !== 'POST') problem(`method is ${req.method}, expected POST`);
    if (req.path !== '/') problem(`path is ${req.path}, expected /`);
    if ([...req.query.keys()].length > 0) problem('a POST carries no query string');
    if (req.headers['content-type'] !== 'application/json; charset=utf-8') {
      problem(`Content-Type is ${req.headers['content-type']}`);
    }
    if (!req.headers['x-tc-region']) problem('no X-TC-Region header');
    const body = checkObject(
      req.json,
      ['PhoneNumberSet', 'SmsSdkAppId', 'TemplateId'],
      ['SignName', 'TemplateParamSet', 'SessionContext', 'ExtendCode', 'SenderId'],
      problem,
    );
    const phones = Array.isArray(body.PhoneNumberSet) ? (body.PhoneNumberSet as unknown[]) : [];
    if (phones.length === 0 || phones.length > 200) problem('PhoneNumberSet must hold 1–200 numbers');
    for (const phone of phones) {
      if (typeof phone !== 'string' || !/^\+[1-9]\d{6,14}$/.test(phone))
        problem(`PhoneNumberSet holds ${phone}`);
    }
    if (typeof body.TemplateId !== 'string') problem('TemplateId is not a string');
    if (typeof body.SmsSdkAppId !== 'string') problem('SmsSdkAppId is not a string');
    const params = body.TemplateParamSet ?? [];
    if (!Array.isArray(params) || !params.every((p) => typeof p === 'string')) {
      problem('TemplateParamSet is not an array of strings');
    }
    if (body.SessionContext !== undefined && Buffer.byteLength(String(body.SessionContext)) >= 512) {
      problem('SessionContext is 512 bytes or more');
    }

    // What Tencent's gateway checks.
    const auth =
      /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d\d-\d\d)\/([a-z]+)\/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
        String(req.headers.authorization ?? ''),
      );
    if (!auth) return error('AuthFailure.InvalidAuthorization');
    const [, secretId, date, service, signedList, signature] = auth;
    if (secretId !== TENCENT.secretId) return error('AuthFailure.SecretIdNotFound');
    const timestamp = Number(req.headers['x-tc-timestamp']);
    if (!Number.isInteger(timestamp)) return error('MissingParameter');
    if (Math.abs(timestamp * 1000 - self.now()) > 5 * 60_000) return error('AuthFailure.SignatureExpire');
    const signed = signedList!.split(';');
    if (!signed.includes('content-type') || !signed.includes('host') || service !== 'sms') {
      return error('AuthFailure.SignatureFailure');
    }
    if (date !== new Date(timestamp * 1000).toISOString().slice(0, 10))
      return error('AuthFailure.SignatureFailure');
    const canonical = [
      'POST',
      '/',
      '',
      signed
        .map(
          (name) =>
            `${name}:${String(req.headers[name] ?? '')
              .trim()
              .toLowerCase()}\n`,
        )
        .join(''),
      signedList,
      sha256(req.rawBody),
    ].join('\n');
    const stringToSign = `TC3-HMAC-SHA256\n${timestamp}\n${date}/sms/tc3_request\n${sha256(canonical)}`;
    const key = hmac(hmac(hmac(`TC3${TENCENT.secretKey}`, date!), 'sms'), 'tc3_request');
    if (createHmac('sha256', key).update(stringToSign).digest('hex') !== signature) {
      return error('AuthFailure.SignatureFailure');
    }
    if (req.headers['x-tc-action'] !== 'SendSms') return error('InvalidAction');
    if (req.headers['x-tc-version'] !== '2021-01-11') return error('NoSuchVersion');
    if (body.SmsSdkAppId !== TENCENT.smsSdkAppId) return error('UnauthorizedOperation.SmsSdkAppIdVerifyFail');

    const code = self.script.shift() ?? self.code;
    if (code !== 'Ok' && self.level === 'request') return error(code, false);
    if (code === 'Ok') {
      self.sent.push({
        phones: phones as string[],
        signName: String(body.SignName),
        templateId: String(body.TemplateId),
        params: params as string[],
        sessionContext: body.SessionContext as string | undefined,
      });
    }
    return {
      status: 200,
      body: {
        Response: {
          SendStatusSet: phones.map((phone, i) => ({
            SerialNo: code === 'Ok' ? `5000:10457106691570536578494996${self.sent.length}${i}` : '',
            PhoneNumber: phone,
            Fee: code === 'Ok' ? 1 : 0,
            SessionContext: body.SessionContext ?? '',
            Code: code,
            Message: code === 'Ok' ? 'send success' : 'request content does not match the template content',
            IsoCode: 'CN',
          })),
          RequestId: 'a0aabda6-cf91-4f3e-a81f-9198114a2279',
        },
      },
    };
  });
  const self: TencentFake = Object.assign(server, state);
  return self;
}
