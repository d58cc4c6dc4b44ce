import { createHash, createHmac } from 'node:crypto';
import { type FakeServer, startFake } from './server.js';

/** The fake's own copy of the credentials (the V3 document's example key). */
export const ALIYUN = { accessKeyId: 'YourAccessKeyId', accessKeySecret: 'YourAccessKeySecret' } as const;

/** `Message` of each documented `Code`, as Alibaba answers (business codes in a 200 body). */
export const ALIYUN_MESSAGES: Record<string, string> = {
  'isv.BUSINESS_LIMIT_CONTROL': '触发分钟级流控Permits:1',
  'isv.MOBILE_NUMBER_ILLEGAL': '非法手机号',
  'isv.AMOUNT_NOT_ENOUGH': '账户余额不足',
  'isv.SMS_TEMPLATE_ILLEGAL': '该账号下找不到对应模板',
  'isv.SMS_SIGNATURE_ILLEGAL': '该账号下找不到对应签名',
};

/** Gateway codes the fake answers itself, with Alibaba's HTTP status. */
const GATEWAY_STATUS: Record<string, number> = {
  SignatureDoesNotMatch: 400,
  IncompleteSignature: 400,
  'InvalidAccessKeyId.NotFound': 404,
  'InvalidTimeStamp.Expired': 400,
  'InvalidTimeStamp.Format': 400,
  SignatureNonceUsed: 400,
  'InvalidApi.NotFound': 404,
  InvalidVersion: 400,
  Throttling: 400,
  'Forbidden.RAM': 403,
};

/** One accepted SendSms, as the fake read it. */
export interface AliyunSend {
  phoneNumbers: string;
  signName: string;
  templateCode: string;
  templateParam: Record<string, string>;
  outId: string | undefined;
}

export interface AliyunFake extends FakeServer {
  /** `Code` of the next answers; default `'OK'`. A gateway code is answered with its 4xx status. */
  code: string;
  /** Codes for the next requests, one each, before `code` applies again. */
  script: string[];
  /** The fake's clock (epoch ms) for the 15-minute `x-acs-date` window; default `Date.now`. */
  now: () => number;
  /** Every request Alibaba would have refused on its own (signature, timestamp, nonce …), with the code. */
  refused: string[];
  /** Every accepted send. */
  sent: AliyunSend[];
}

const encode = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * A fake of Dysmsapi SendSms (ACS3-HMAC-SHA256): re-derives the signature from the received request (query,
 * the headers it names as signed, the body hash) with its own copy of the secret, and refuses as Alibaba does:
 * a bad signature, an unknown key, a stale `x-acs-date`, a reused nonce, another action or version.
 */
export async function startAliyunFake(): Promise<AliyunFake> {
  const nonces = new Set<string>();
  const state = {
    code: 'OK',
    script: [] as string[],
    now: () => Date.now(),
    refused: [] as string[],
    sent: [] as AliyunSend[],
  };
  const gateway = (code: string) => {
    self.refused.push(code);
    return {
      status: GATEWAY_STATUS[code] ?? 400,
      body: {
        RequestId: 'A1B2C3D4-0000',
        HostId: 'dysmsapi.aliyuncs.com',
        Code: code,
        Message: `${code}.`,
        Recommend: '',
      },
    };
  };
  const server = await startFake((req, problem) => {
    if (req.method !== 'POST') problem(`method is ${req.method}, expected POST`);
    if (req.path !== '/') problem(`path is ${req.path}, expected /`);
    if (req.rawBody !== '') problem('SendSms takes its parameters in the query; the body must be empty');
    if (req.headers.accept !== 'application/json') problem('accept is not application/json');
    const query = Object.fromEntries(req.query);
    for (const key of ['PhoneNumbers', 'SignName', 'TemplateCode']) {
      if (!query[key]) problem(`missing query parameter ${key}`);
    }
    for (const key of Object.keys(query)) {
      if (!['PhoneNumbers', 'SignName', 'TemplateCode', 'TemplateParam', 'OutId'].includes(key)) {
        problem(`unexpected query parameter ${key}`);
      }
    }
    let templateParam: Record<string, string> = {};
    if (query.TemplateParam !== undefined) {
      try {
        templateParam = JSON.parse(query.TemplateParam);
      } catch {
        problem('TemplateParam is not JSON');
      }
      if (!Object.values(templateParam).every((v) => typeof v === 'string')) {
        return {
          status: 200,
          body: { Code: 'isv.INVALID_JSON_PARAM', Message: 'JSON参数不合法，只接受字符串值', RequestId: 'r' },
        };
      }
    }
    const phones = (query.PhoneNumbers ?? '').split(',');
    for (const phone of phones) if (!/^\d{7,15}$/.test(phone)) problem(`PhoneNumbers holds ${phone}`);

    // What Alibaba's gateway checks, in its order.
    const auth = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$/.exec(
      String(req.headers.authorization ?? ''),
    );
    if (!auth) return gateway('IncompleteSignature');
    const [, keyId, signedList, signature] = auth;
    if (keyId !== ALIYUN.accessKeyId) return gateway('InvalidAccessKeyId.NotFound');
    const signed = signedList!.split(';');
    for (const name of [
      'host',
      'x-acs-action',
      'x-acs-version',
      'x-acs-date',
      'x-acs-signature-nonce',
      'x-acs-content-sha256',
    ]) {
      if (!signed.includes(name) || req.headers[name] === undefined) return gateway('IncompleteSignature');
    }
    const payloadHash = createHash('sha256').update(req.rawBody).digest('hex');
    if (req.headers['x-acs-content-sha256'] !== payloadHash) return gateway('SignatureDoesNotMatch');
    const canonicalQuery = Object.keys(query)
      .map((k) => [encode(k), encode(query[k]!)])
      .sort(([a], [b]) => (a! < b! ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const canonicalHeaders = [...signed]
      .sort()
      .map((name) => `${name}:${String(req.headers[name]).trim()}\n`)
      .join('');
    const canonical = [
      'POST',
      req.path,
      canonicalQuery,
      canonicalHeaders,
      [...signed].sort().join(';'),
      payloadHash,
    ].join('\n');
    const expected = createHmac('sha256', ALIYUN.accessKeySecret)
      .update(`ACS3-HMAC-SHA256\n${createHash('sha256').update(canonical).digest('hex')}`)
      .digest('hex');
    if (signature !== expected) return gateway('SignatureDoesNotMatch');
    const date = String(req.headers['x-acs-date']);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(date)) return gateway('InvalidTimeStamp.Format');
    if (Math.abs(Date.parse(date) - self.now()) > 15 * 60_000) return gateway('InvalidTimeStamp.Expired');
    const nonce = String(req.headers['x-acs-signature-nonce']);
    if (nonces.has(nonce)) return gateway('SignatureNonceUsed');
    nonces.add(nonce);
    if (req.headers['x-acs-action'] !== 'SendSms') return gateway('InvalidApi.NotFound');
    if (req.headers['x-acs-version'] !== '2017-05-25') return gateway('InvalidVersion');

    const code = self.script.shift() ?? self.code;
    if (code in GATEWAY_STATUS) return gateway(code);
    if (code !== 'OK') {
      return {
        status: 200,
        body: { Code: code, Message: ALIYUN_MESSAGES[code] ?? '错误', RequestId: 'F655A8D5-B967' },
      };
    }
    self.sent.push({
      phoneNumbers: query.PhoneNumbers!,
      signName: query.SignName!,
      templateCode: query.TemplateCode!,
      templateParam,
      outId: query.OutId,
    });
    return {
      status: 200,
      body: {
        Code: 'OK',
        Message: 'OK',
        BizId: `900619746936498${self.sent.length}^0`,
        RequestId: 'F655A8D5-B967-440B',
      },
    };
  });
  const self: AliyunFake = Object.assign(server, state);
  return self;
}
