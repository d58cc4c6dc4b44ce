import { checkJsonPost, checkObject, type FakeReply, type FakeServer, startFake } from './server.js';

/** The fake's own copy of the token (the document's curl example). */
export const MINAPP_TOKEN = 'cfb5912724dd7ff0b0c17683cc3074bb548bc7f4';

export interface MinappFake extends FakeServer {
  /** When set, sends answer this instead of sending a code. */
  sendReply: FakeReply | undefined;
  /** When set, verifies answer this. */
  verifyReply: FakeReply | undefined;
  /** Live codes by `phone/user_id`. */
  codes: Map<string, string>;
}

/**
 * A fake of MinApp's SMS API (seed 001): checks the two paths (v2.1 send, v1.8 verify), Bearer token,
 * Content-Type and body fields and types (`user_id` and `signature_id` integers), then answers like the
 * document (200 `{status: "ok"}`, 400, 402).
 */
export async function startMinappFake(): Promise<MinappFake> {
  const state = {
    sendReply: undefined as FakeReply | undefined,
    verifyReply: undefined as FakeReply | undefined,
    codes: new Map<string, string>(),
  };
  const server = await startFake((req, problem) => {
    checkJsonPost(req, problem);
    const type = String(req.headers['content-type']);
    if (!/^application\/json(; ?charset=utf-8)?$/i.test(type)) problem(`Content-Type is ${type}`);
    if (req.headers.authorization !== `Bearer ${MINAPP_TOKEN}`)
      problem('Authorization is not Bearer <token>');
    if ([...req.query.keys()].length > 0) problem('unexpected query string');
    const phoneOk = (v: unknown) => typeof v === 'string' && /^1\d{10}$/.test(v);
    const intOk = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;

    if (req.path === '/oserve/v2.1/sms-verification-code/') {
      const body = checkObject(req.json, ['phone', 'user_id'], ['signature_id'], problem);
      if (!phoneOk(body.phone)) problem('phone is not an 11-digit string');
      if (!intOk(body.user_id)) problem('user_id is not an integer');
      if (body.signature_id !== undefined && !intOk(body.signature_id))
        problem('signature_id is not an integer');
      if (self.sendReply) return self.sendReply;
      self.codes.set(`${body.phone}/${body.user_id}`, '352353');
      return { status: 200, body: { status: 'ok' } };
    }
    if (req.path === '/oserve/v1.8/sms-verification-code/verify/') {
      const body = checkObject(req.json, ['phone', 'code', 'user_id'], [], problem);
      if (!phoneOk(body.phone)) problem('phone is not an 11-digit string');
      if (typeof body.code !== 'string') problem('code is not a string');
      if (!intOk(body.user_id)) problem('user_id is not an integer');
      if (self.verifyReply) return self.verifyReply;
      const key = `${body.phone}/${body.user_id}`;
      if (self.codes.get(key) !== body.code) return { status: 400, body: { error_msg: '验证码错误' } };
      self.codes.delete(key);
      return { status: 200, body: { status: 'ok' } };
    }
    problem(`no such API: ${req.path}`);
    return { status: 404, body: { error_msg: 'not found' } };
  });
  const self: MinappFake = Object.assign(server, state);
  return self;
}
