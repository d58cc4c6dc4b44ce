import { randomBytes, randomInt } from 'node:crypto';
import { checkHeader, type FakeReply, type FakeRequest, type FakeServer, startFake } from './server.js';

/** The fake's own copy of the credentials (test-credential shapes: `AC…` and a 32-hex token). */
export const TWILIO = {
  accountSid: 'AC0123456789abcdef0123456789abcdef',
  authToken: '5f2d3c4b1a0e9f8d7c6b5a4f3e2d1c0b',
} as const;
export const TWILIO_SERVICE_SID = 'VA0123456789abcdef0123456789abcdef';
export const TWILIO_FROM = '+15005550006';

/** Documented errors: code → [HTTP status, message]. */
export const TWILIO_TABLE: Record<string, [number, string]> = {
  '20003': [401, 'Authenticate'],
  '20404': [404, 'The requested resource was not found'],
  '20429': [429, 'Too Many Requests'],
  '14107': [429, 'SMS send rate limit exceeded'],
  '21211': [400, "The 'To' number is not a valid phone number."],
  '21408': [400, 'Permission to send an SMS has not been enabled for the region indicated by the To number'],
  '21602': [400, 'Message body is required.'],
  '21603': [400, "A 'From' phone number is required."],
  '21606': [400, "The 'From' phone number provided is not a valid message-capable Twilio phone number."],
  '21608': [400, 'The number is unverified. Trial accounts can only send messages to verified numbers.'],
  '21609': [400, 'Invalid StatusCallback'],
  '21610': [400, 'Attempt to send to unsubscribed recipient'],
  '21612': [400, "The 'To' phone number is not currently reachable via SMS"],
  '21614': [400, "'To' number is not a valid mobile number"],
  '21617': [400, 'The concatenated message body exceeds the 1600 character limit.'],
  '60200': [400, 'Invalid parameter'],
  '60202': [429, 'Max check attempts reached'],
  '60203': [429, 'Max send attempts reached'],
  '60212': [429, 'Too many concurrent requests for phone number'],
  '60223': [400, 'Delivery channel disabled: CALL'],
  '60410': [403, 'Verification delivery attempt blocked'],
};

/** Twilio's magic test numbers for the Messages API and the error each one answers. */
export const MAGIC_TO: Record<string, string> = {
  '+15005550001': '21211',
  '+15005550002': '21612',
  '+15005550003': '21408',
  '+15005550004': '21610',
  '+15005550009': '21614',
};

export function twilioError(code: string, message?: string): FakeReply {
  const [status, text] = TWILIO_TABLE[code] ?? [400, 'unknown'];
  return {
    status,
    body: {
      code: Number(code),
      message: message ?? text,
      more_info: `https://www.twilio.com/docs/errors/${code}`,
      status,
    },
  };
}

interface Verification {
  sid: string;
  to: string;
  channel: string;
  code: string;
  status: 'pending' | 'approved' | 'canceled' | 'expired';
  checks: number;
  sends: number;
}

export interface TwilioFake extends FakeServer {
  /** When set, every send (message or verification) answers this documented error. */
  sendError: string | undefined;
  /** When set, every verification check answers this documented error. */
  checkError: string | undefined;
  /** Accepted messages, in order (form fields). */
  messages: Record<string, string>[];
  verifications: Map<string, Verification>;
  /** Channels the Verify service has enabled (default sms and call). */
  channels: Set<string>;
  /** The code of the latest verification to `to`. */
  codeFor(to: string): string | undefined;
}

const E164 = /^\+[1-9]\d{6,14}$/;

function form(req: FakeRequest, problem: (d: string) => void): Record<string, string> {
  checkHeader(req, 'Content-Type', 'application/x-www-form-urlencoded', problem);
  if (req.method !== 'POST') problem(`method is ${req.method}, expected POST`);
  if ([...req.query.keys()].length > 0) problem('unexpected query string');
  const params = new URLSearchParams(req.rawBody);
  const out: Record<string, string> = {};
  for (const [key, value] of params) {
    if (key in out) problem(`field ${key} given twice`);
    out[key] = value;
  }
  return out;
}

function onlyFields(
  fields: Record<string, string>,
  allowed: readonly string[],
  problem: (d: string) => void,
) {
  for (const key of Object.keys(fields)) if (!allowed.includes(key)) problem(`unexpected field "${key}"`);
}

/**
 * A fake of Twilio's Messages API and Verify v2: checks HTTP Basic auth against its own credentials (a wrong
 * one is answered 401 / 20003 as Twilio does), the form body and its documented constraints, and answers every
 * documented error (the magic test numbers of the Messages API included).
 */
export async function startTwilioFake(): Promise<TwilioFake> {
  const state = {
    sendError: undefined as string | undefined,
    checkError: undefined as string | undefined,
    messages: [] as Record<string, string>[],
    verifications: new Map<string, Verification>(),
    channels: new Set(['sms', 'call']),
    codeFor(to: string) {
      let code: string | undefined;
      for (const v of self.verifications.values()) if (v.to === to) code = v.code;
      return code;
    },
  };
  const basic = `Basic ${Buffer.from(`${TWILIO.accountSid}:${TWILIO.authToken}`).toString('base64')}`;
  const server = await startFake((req, problem) => {
    checkHeader(req, 'Accept', 'application/json', problem);
    const fields = form(req, problem);
    if (req.headers.authorization !== basic) return twilioError('20003');

    if (req.path === `/2010-04-01/Accounts/${TWILIO.accountSid}/Messages.json`) {
      onlyFields(fields, ['To', 'From', 'MessagingServiceSid', 'Body', 'StatusCallback'], problem);
      if (fields.To === undefined) problem('missing To');
      if ((fields.From === undefined) === (fields.MessagingServiceSid === undefined))
        problem('exactly one of From and MessagingServiceSid is required');
      if (fields.From === undefined && fields.MessagingServiceSid === undefined) return twilioError('21603');
      if (fields.MessagingServiceSid !== undefined && !/^MG[0-9a-f]{32}$/.test(fields.MessagingServiceSid))
        return twilioError('21606');
      if (!fields.Body) return twilioError('21602');
      if (fields.Body.length > 1600) return twilioError('21617');
      if (fields.StatusCallback !== undefined && !URL.canParse(fields.StatusCallback))
        return twilioError('21609');
      if (!E164.test(fields.To ?? '')) return twilioError('21211');
      const magic = MAGIC_TO[fields.To!];
      if (magic) return twilioError(magic);
      if (self.sendError) return twilioError(self.sendError);
      self.messages.push(fields);
      const sid = `SM${randomBytes(16).toString('hex')}`;
      return {
        status: 201,
        body: {
          sid,
          account_sid: TWILIO.accountSid,
          to: fields.To,
          from: fields.From ?? null,
          messaging_service_sid: fields.MessagingServiceSid ?? null,
          body: fields.Body,
          status: fields.MessagingServiceSid ? 'accepted' : 'queued',
          num_segments: '1',
          error_code: null,
          error_message: null,
          uri: `/2010-04-01/Accounts/${TWILIO.accountSid}/Messages/${sid}.json`,
        },
      };
    }

    const service = `/v2/Services/${TWILIO_SERVICE_SID}`;
    if (req.path === `${service}/Verifications`) {
      onlyFields(fields, ['To', 'Channel', 'Locale'], problem);
      if (!E164.test(fields.To ?? ''))
        return twilioError('60200', `Invalid parameter \`To\`: ${fields.To ?? ''}`);
      if (!['sms', 'call', 'email', 'whatsapp', 'sna'].includes(fields.Channel ?? ''))
        return twilioError('60200', 'Invalid parameter: Channel');
      if (!self.channels.has(fields.Channel!)) return twilioError('60223');
      if (self.sendError) return twilioError(self.sendError);
      // Twilio keeps one pending verification per number: a new send re-sends its code (same sid), up to 5.
      const pending = [...self.verifications.values()].find(
        (v) => v.to === fields.To && v.status === 'pending',
      );
      if (pending && pending.sends >= 5) return twilioError('60203');
      const verification: Verification = pending ?? {
        sid: `VE${randomBytes(16).toString('hex')}`,
        to: fields.To!,
        channel: fields.Channel!,
        code: String(randomInt(0, 1_000_000)).padStart(6, '0'),
        status: 'pending',
        checks: 0,
        sends: 0,
      };
      verification.sends++;
      verification.channel = fields.Channel!;
      const sid = verification.sid;
      self.verifications.set(sid, verification);
      return {
        status: 201,
        body: {
          sid,
          service_sid: TWILIO_SERVICE_SID,
          account_sid: TWILIO.accountSid,
          to: fields.To,
          channel: fields.Channel,
          status: 'pending',
          valid: false,
        },
      };
    }
    if (req.path === `${service}/VerificationCheck`) {
      onlyFields(fields, ['Code', 'To', 'VerificationSid'], problem);
      if ((fields.To === undefined) === (fields.VerificationSid === undefined))
        problem('exactly one of To and VerificationSid is required');
      if (!/^\d{4,10}$/.test(fields.Code ?? '')) return twilioError('60200', 'Invalid parameter: Code');
      if (self.checkError) return twilioError(self.checkError);
      const verification = fields.VerificationSid
        ? self.verifications.get(fields.VerificationSid)
        : [...self.verifications.values()]
            .reverse()
            .find((v) => v.to === fields.To && v.status === 'pending');
      if (verification?.status !== 'pending') return twilioError('20404');
      if (verification.checks >= 5) return twilioError('60202');
      verification.checks++;
      const right = verification.code === fields.Code;
      if (right) verification.status = 'approved';
      return {
        status: 200,
        body: {
          sid: verification.sid,
          to: verification.to,
          channel: verification.channel,
          status: verification.status,
          valid: right,
        },
      };
    }
    problem(`no such API: ${req.path}`);
    return twilioError('20404');
  });
  const self: TwilioFake = Object.assign(server, state);
  return self;
}
