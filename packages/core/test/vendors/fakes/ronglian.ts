import { createHash } from 'node:crypto';
import { checkHeader, checkJsonPost, checkObject, type FakeServer, startFake } from './server.js';

/** The fake's own copy of the credentials (from the vendor document's known vector). */
export const RONGLIAN = {
  accountSid: 'aaf98fda422216d001422220824c0000',
  authToken: '73c4daa2578d4ddd88c52f7a314f2d8b',
  appId: 'ff8080813fc70a7b013fc72312324213',
} as const;

/** Error messages as Ronglian sends them in `statusMsg`. */
export const RONGLIAN_MESSAGES: Record<string, string> = {
  '160038': '短信验证码发送过频繁',
  '160039': '超出同模板同号天发送次数上限',
  '160040': '验证码超出同模板同号码天发送上限',
  '112314': '发送频率过快',
  '160042': '号码格式有误',
  '160013': '号码无效',
  '112316': '手机号码格式错误',
  '160032': '短信模板无效',
};

export interface RonglianFake extends FakeServer {
  /** `statusCode` for the next answers; default `'000000'`. */
  statusCode: string;
  /** `statusCode`s for the next requests, one each, before `statusCode` applies again. */
  script: string[];
  /** When set, the Authorization/sig timestamp must equal it. */
  expectTimestamp: string | undefined;
  /** `to` of every accepted request, split. */
  batches: string[][];
}

/**
 * A fake of Ronglian TemplateSMS (seed 004): checks path, method, `sig` (recomputed from its own token),
 * Authorization, Accept/Content-Type, and body fields and types, then answers like the document.
 */
export async function startRonglianFake(): Promise<RonglianFake> {
  const state = {
    statusCode: '000000',
    script: [] as string[],
    expectTimestamp: undefined as string | undefined,
    batches: [] as string[][],
  };
  const server = await startFake((req, problem) => {
    checkJsonPost(req, problem);
    const expectedPath = `/2013-12-26/Accounts/${RONGLIAN.accountSid}/SMS/TemplateSMS`;
    if (req.path !== expectedPath) problem(`path is ${req.path}, expected ${expectedPath}`);
    const keys = [...req.query.keys()];
    if (keys.length !== 1 || keys[0] !== 'sig') problem(`query must be exactly sig, got ${keys.join(',')}`);
    checkHeader(req, 'Accept', 'application/json', problem);
    checkHeader(req, 'Content-Type', 'application/json;charset=utf-8', problem);

    const auth = String(req.headers.authorization ?? '');
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const match = /^([0-9a-f]{32}):(\d{14})$/.exec(decoded);
    if (!match || Buffer.from(decoded).toString('base64') !== auth) {
      problem('Authorization is not base64(accountSid:yyyyMMddHHmmss)');
    } else {
      const [, sid, timestamp] = match;
      if (sid !== RONGLIAN.accountSid) problem('Authorization names another account');
      if (self.expectTimestamp !== undefined && timestamp !== self.expectTimestamp) {
        problem(`timestamp ${timestamp}, expected ${self.expectTimestamp}`);
      }
      const sig = createHash('md5')
        .update(RONGLIAN.accountSid + RONGLIAN.authToken + timestamp)
        .digest('hex')
        .toUpperCase();
      if (req.query.get('sig') !== sig)
        problem('sig does not match upper(MD5(accountSid + authToken + timestamp))');
    }

    const body = checkObject(
      req.json,
      ['to', 'appId', 'templateId'],
      ['datas', 'reqId', 'subAppend'],
      problem,
    );
    if (typeof body.to !== 'string') problem('to is not a string');
    const to = typeof body.to === 'string' ? body.to.split(',') : [];
    if (to.length > 200) problem(`${to.length} numbers in one request (at most 200)`);
    for (const number of to)
      if (!/^1\d{10}$/.test(number)) problem(`to holds ${number}, not an 11-digit mobile`);
    if (body.appId !== RONGLIAN.appId) problem('appId is not the configured application');
    if (typeof body.templateId !== 'string') problem('templateId is not a string');
    if (
      body.datas !== undefined &&
      (!Array.isArray(body.datas) || !body.datas.every((d: unknown) => typeof d === 'string'))
    ) {
      problem('datas is not an array of strings');
    }
    if (body.reqId !== undefined && (typeof body.reqId !== 'string' || body.reqId.length > 32)) {
      problem('reqId is not a string of at most 32 characters');
    }
    if (
      body.subAppend !== undefined &&
      (typeof body.subAppend !== 'string' || !/^\d{1,4}$/.test(body.subAppend))
    ) {
      problem('subAppend is not 1–4 digits');
    }
    self.batches.push(to);
    const statusCode = self.script.shift() ?? self.statusCode;
    if (statusCode === '000000') {
      return {
        status: 200,
        body: {
          statusCode: '000000',
          templateSMS: { dateCreated: '20130201155306', smsMessageSid: ' ff8080813c373cab013c94b0f0512345' },
        },
      };
    }
    return {
      status: 200,
      body: { statusCode, statusMsg: RONGLIAN_MESSAGES[statusCode] ?? '未知错误' },
    };
  });
  const self: RonglianFake = Object.assign(server, state);
  return self;
}
