import { checkHeader, checkJsonPost, checkObject, type FakeServer, startFake } from './server.js';

/** The fake's own copy of the application access token. */
export const DEEPCLOUD_TOKEN = 'dc-app-token-9f8e7d6c5b4a';

const PREFIX = '/api/ucenter-service-provider/api/sms/code';

export interface DeepcloudFake extends FakeServer {
  /** When set, the next answers carry this envelope `code` and `message` (HTTP 200). */
  envelope: { code: number; message: string } | undefined;
  /** Captcha answers the fake accepts, by key. */
  captchas: Map<string, string>;
  /** guid → mobile number of known users. */
  users: Map<string, string>;
  /** Live codes by national number. */
  codes: Map<string, string>;
}

const ok = { status: 200, body: { code: 200, message: 'OK', data: null } };

/**
 * A fake of the DeepCloud user-center SMS API (seed 000): checks the four paths, `x-deepcloud-from:
 * client`, the raw access token in `Authorization`, Content-Type, and body fields and types; answers with
 * the `{code, message, data}` envelope. The document shows only `code: 200`; the error envelopes used
 * here (400, 429 …) are the adapter's stated assumption.
 */
export async function startDeepcloudFake(): Promise<DeepcloudFake> {
  const state = {
    envelope: undefined as DeepcloudFake['envelope'],
    captchas: new Map<string, string>([['2ecd1fc5-f7c1-4e25-aa96-24b881ac5bfd', 'cnxdg']]),
    users: new Map<string, string>([['18111111111111111', '18100000000']]),
    codes: new Map<string, string>(),
  };
  const server = await startFake((req, problem) => {
    checkJsonPost(req, problem);
    checkHeader(req, 'x-deepcloud-from', 'client', problem);
    checkHeader(req, 'Authorization', DEEPCLOUD_TOKEN, problem);
    checkHeader(req, 'Content-Type', 'application/json', problem);
    if ([...req.query.keys()].length > 0) problem('unexpected query string');
    const mobileOk = (v: unknown) => typeof v === 'string' && /^1\d{10}$/.test(v);
    const stringOk = (v: unknown) => typeof v === 'string' && v !== '';
    const forced = self.envelope
      ? { status: 200, body: { code: self.envelope.code, message: self.envelope.message, data: null } }
      : undefined;

    switch (req.path) {
      case `${PREFIX}/send`: {
        const body = checkObject(req.json, ['mobile_no'], [], problem);
        if (!mobileOk(body.mobile_no)) problem('mobile_no is not an 11-digit string');
        if (forced) return forced;
        self.codes.set(String(body.mobile_no), '267540');
        return ok;
      }
      case `${PREFIX}/captcha/send`: {
        const body = checkObject(req.json, ['mobile_no', 'key', 'captcha'], [], problem);
        if (!mobileOk(body.mobile_no)) problem('mobile_no is not an 11-digit string');
        if (!stringOk(body.key) || !stringOk(body.captcha))
          problem('key and captcha must be non-empty strings');
        if (forced) return forced;
        if (self.captchas.get(String(body.key)) !== body.captcha) {
          return { status: 200, body: { code: 400, message: '图形验证码错误', data: null } };
        }
        self.codes.set(String(body.mobile_no), '267540');
        return ok;
      }
      case `${PREFIX}/guid/send`: {
        const body = checkObject(req.json, ['guid'], [], problem);
        if (!stringOk(body.guid)) problem('guid is not a non-empty string');
        if (forced) return forced;
        const mobile = self.users.get(String(body.guid));
        if (!mobile) return { status: 200, body: { code: 400, message: '用户不存在', data: null } };
        self.codes.set(mobile, '267540');
        return ok;
      }
      case `${PREFIX}/verify`: {
        const body = checkObject(req.json, ['mobile_no', 'code'], [], problem);
        if (!mobileOk(body.mobile_no)) problem('mobile_no is not an 11-digit string');
        if (typeof body.code !== 'string') problem('code is not a string');
        if (forced) return forced;
        if (self.codes.get(String(body.mobile_no)) !== body.code) {
          return { status: 200, body: { code: 400, message: '验证码错误', data: null } };
        }
        self.codes.delete(String(body.mobile_no));
        return ok;
      }
      default:
        problem(`no such API: ${req.path}`);
        return { status: 404, body: { code: 404, message: 'Not Found', data: null } };
    }
  });
  const self: DeepcloudFake = Object.assign(server, state);
  return self;
}
