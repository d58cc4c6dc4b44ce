import { randomUUID } from 'node:crypto';
import {
  checkHeader,
  checkJsonPost,
  checkObject,
  type FakeReply,
  type FakeServer,
  startFake,
} from './server.js';

/** The fake's own copy of the credentials (the document's curl example). */
export const JPUSH = {
  appKey: '7d431e42dfa6a6d693ac2d04',
  masterSecret: '5e987ac6d2e04d95a9d8f0d1',
} as const;

/** The document's error table: code → [HTTP status, message]. */
export const JPUSH_TABLE: Record<string, [number, string]> = {
  '50001': [400, 'missing auth'],
  '50002': [401, 'auth failed'],
  '50003': [400, 'missing body'],
  '50004': [400, 'missing mobile'],
  '50005': [400, 'missing  temp_id'],
  '50006': [403, 'invalid mobile'],
  '50007': [403, 'invalid body'],
  '50008': [403, 'no sms code auth'],
  '50009': [403, 'out of freq'],
  '50010': [403, 'invalid code'],
  '50011': [403, 'expired code'],
  '50012': [403, 'verified code'],
  '50013': [403, 'invalid temp_id'],
  '50014': [403, 'no money'],
  '50015': [400, 'missing code'],
  '50016': [404, 'api not found'],
  '50017': [415, 'media not supported'],
  '50018': [405, 'request method not support'],
  '50019': [500, 'server error'],
  '50020': [403, 'template audited'],
  '50021': [403, 'template not pass'],
  '50022': [403, 'parameters not all replaced'],
  '50023': [403, 'parameters is empty'],
};

interface IssuedCode {
  mobile: string;
  code: string;
  state: 'live' | 'expired' | 'verified';
  voice: boolean;
  ttl?: number;
}

export interface JpushFake extends FakeServer {
  /** When set, every send (codes, voice codes, messages) answers this error code from the table. */
  sendError: string | undefined;
  /** When set, every verify answers this error code (beside `is_valid: false`). */
  validError: string | undefined;
  codes: Map<string, IssuedCode>;
  /** Template messages accepted, in order. */
  messages: { mobile: string; temp_id: number; temp_para: Record<string, string>; sign_id?: number }[];
}

function errorReply(code: string, extra: Record<string, unknown> = {}): FakeReply {
  const [status, message] = JPUSH_TABLE[code] ?? [400, 'unknown'];
  return { status, body: { ...extra, error: { code: Number(code), message } } };
}

const isPositiveInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;

/**
 * A fake of JPush SMS API v1 (seed 002): checks HTTP Basic auth (recomputed from its own credentials),
 * method, path, Content-Type and every body field and type, then answers like the document.
 */
export async function startJpushFake(): Promise<JpushFake> {
  const state = {
    sendError: undefined as string | undefined,
    validError: undefined as string | undefined,
    codes: new Map<string, IssuedCode>(),
    messages: [] as JpushFake['messages'],
  };
  const server = await startFake((req, problem) => {
    checkJsonPost(req, problem);
    checkHeader(req, 'Content-Type', 'application/json', problem);
    const expectedAuth = `Basic ${Buffer.from(`${JPUSH.appKey}:${JPUSH.masterSecret}`).toString('base64')}`;
    if (req.headers.authorization !== expectedAuth)
      problem('Authorization is not Basic base64(appKey:masterSecret)');
    if ([...req.query.keys()].length > 0) problem('unexpected query string');
    const checkMobile = (mobile: unknown) => {
      if (typeof mobile !== 'string' || !/^1\d{10}$/.test(mobile))
        problem('mobile is not an 11-digit string');
    };

    if (req.path === '/v1/codes') {
      const body = checkObject(req.json, ['mobile', 'temp_id'], ['sign_id'], problem);
      checkMobile(body.mobile);
      if (!isPositiveInt(body.temp_id)) problem('temp_id is not a positive integer');
      if (body.sign_id !== undefined && !isPositiveInt(body.sign_id))
        problem('sign_id is not a positive integer');
      if (self.sendError) return errorReply(self.sendError);
      const msgId = randomUUID();
      self.codes.set(msgId, { mobile: String(body.mobile), code: '352353', state: 'live', voice: false });
      return { status: 200, body: { msg_id: msgId } };
    }
    if (req.path === '/v1/voice_codes') {
      const body = checkObject(req.json, ['mobile'], ['ttl'], problem);
      checkMobile(body.mobile);
      if (body.ttl !== undefined && !isPositiveInt(body.ttl)) problem('ttl is not a positive integer');
      if (self.sendError) return errorReply(self.sendError);
      const msgId = randomUUID();
      self.codes.set(msgId, {
        mobile: String(body.mobile),
        code: '7788',
        state: 'live',
        voice: true,
        ttl: (body.ttl as number | undefined) ?? 60,
      });
      return { status: 200, body: { msg_id: msgId } };
    }
    const valid = /^\/v1\/codes\/([^/]+)\/valid$/.exec(req.path);
    if (valid) {
      const body = checkObject(req.json, ['code'], [], problem);
      if (typeof body.code !== 'string') problem('code is not a string');
      const issued = self.codes.get(decodeURIComponent(valid[1]!));
      if (!issued) problem(`unknown msg_id ${valid[1]}`);
      if (self.validError) return errorReply(self.validError, { is_valid: false });
      if (!issued) return errorReply('50010', { is_valid: false });
      if (issued.state === 'expired') return errorReply('50011', { is_valid: false });
      if (issued.state === 'verified') return errorReply('50012', { is_valid: false });
      if (issued.code !== body.code) return errorReply('50010', { is_valid: false });
      issued.state = 'verified';
      return { status: 200, body: { is_valid: true } };
    }
    if (req.path === '/v1/messages') {
      const body = checkObject(req.json, ['mobile', 'temp_id', 'temp_para'], ['sign_id'], problem);
      checkMobile(body.mobile);
      if (!isPositiveInt(body.temp_id)) problem('temp_id is not a positive integer');
      if (body.sign_id !== undefined && !isPositiveInt(body.sign_id))
        problem('sign_id is not a positive integer');
      const para = body.temp_para;
      if (
        para === null ||
        typeof para !== 'object' ||
        Array.isArray(para) ||
        !Object.values(para).every((v) => typeof v === 'string')
      ) {
        problem('temp_para is not an object of strings');
      }
      if (self.sendError) return errorReply(self.sendError);
      self.messages.push(body as JpushFake['messages'][number]);
      return { status: 200, body: { msg_id: 124680 + self.messages.length } };
    }
    problem(`no such API: ${req.path}`);
    return errorReply('50016');
  });
  const self: JpushFake = Object.assign(server, state);
  return self;
}
