import { z } from 'zod';
import { type ErrorCode, isSmsOtpError, SmsOtpConfigError, SmsOtpError } from '../errors.js';
import { clockSchema, functionSchema, parseAdapterOptions } from './common.js';
import { mayHaveDelivered } from './http.js';
import { commonPurposes } from './templates.js';
import type {
  Channel,
  CodeCheck,
  CodeMessage,
  CodeProvider,
  CodeRequest,
  Sender,
  SendReceipt,
  TemplateMessage,
  Vendor,
} from './types.js';

/**
 * What `failover` reports through `onEvent` (never a code, a phone number or a credential).
 *
 * @example
 * failover([a, b], { onEvent: (e) => e.type === 'breaker_open' && alert(`${e.vendor} is down`) });
 */
export type FailoverEvent =
  | { type: 'sent'; vendor: string }
  | { type: 'vendor_failed'; vendor: string; code: ErrorCode; reason: string | undefined }
  | { type: 'breaker_open'; vendor: string }
  | { type: 'breaker_closed'; vendor: string };

const failoverOptionsSchema = z.strictObject({
  /** Consecutive failures after which a member is skipped for `coolOffMs`; default 3. */
  failureThreshold: z.number().int().min(1).max(1000).default(3),
  /** Milliseconds an open breaker skips its member before one trial request (half-open); default 30 000. */
  coolOffMs: z.number().int().min(0).max(86_400_000).default(30_000),
  /**
   * Whether a member whose send may still be delivered (a timeout, a connection lost after the request went
   * out, HTTP 500/502/504, a 2xx that is not the vendor's JSON: `mayHaveDelivered`) hands over to the next
   * one; default `false`. Handing over can deliver two messages.
   */
  failoverOnUnknownOutcome: z.boolean().default(false),
  /** Receives {@link FailoverEvent}s; a listener that throws is ignored. */
  onEvent: functionSchema<(event: FailoverEvent) => void>('(event) => void').optional(),
  /** Epoch milliseconds, for the breakers; default `Date.now`. */
  clock: clockSchema,
  /** Name of the combined vendor; default `failover`. */
  name: z.string().min(1).default('failover'),
});

/**
 * Options of {@link failover}.
 *
 * @example
 * const options: FailoverOptions = { failureThreshold: 5, coolOffMs: 60_000, failoverOnUnknownOutcome: false };
 */
export type FailoverOptions = z.input<typeof failoverOptionsSchema>;

/**
 * One member's failure (or skip), as listed in `details.failures` when every member failed.
 *
 * @example
 * // error.details.failures
 * [{ vendor: 'ronglian', code: 'SEND_FAILED', reason: 'timeout' }, { vendor: 'jpush', skipped: 'breaker_open' }]
 */
export interface FailoverFailure {
  vendor: string;
  code?: ErrorCode;
  reason?: string;
  vendorCode?: string;
  httpStatus?: number;
  /** Set when the member was not tried: its breaker is open, or it cannot serve this channel/number. */
  skipped?: 'breaker_open' | 'unsupported_channel' | 'unsupported_country';
}

interface Breaker {
  failures: number;
  /** When the breaker opened; `undefined` while closed. */
  openedAt: number | undefined;
  /** A half-open trial is in flight (other calls keep skipping the member until it settles). */
  probing: boolean;
}

type Outcome =
  | { kind: 'next'; error: SmsOtpError; counted: boolean; skipped?: FailoverFailure['skipped'] }
  | { kind: 'stop'; error: SmsOtpError; counted: boolean };

/**
 * Combines several senders (or several code providers) into one that tries them in order.
 *
 * - `SEND_FAILED` from a member (vendor down, HTTP 5xx, bad answer, no balance …) moves on to the next.
 * - `RATE_LIMITED` and `INVALID_PHONE` do **not** fail over: they are about the number, not the vendor,
 *   and another vendor would only deliver to a number that is being abused or cannot receive. The one
 *   exception is a member that cannot reach the number's country at all (`INVALID_PHONE` with
 *   `reason: 'unsupported_country'`, refused before any request) or channel (`unsupported_channel`):
 *   it is skipped.
 * - A failure that may still be delivered (`mayHaveDelivered`: a timeout, a connection lost after the
 *   request went out, HTTP 500/502/504, a 2xx that is not the vendor's JSON) stops there, unless
 *   `failoverOnUnknownOutcome: true`: the next vendor would send a second message. The member's breaker
 *   counts it, so a vendor that keeps failing this way is soon skipped and its sends go to the next one.
 * - Circuit breaker: a member that failed `failureThreshold` times in a row is skipped for `coolOffMs`;
 *   then one request tries it again (half-open): success closes the breaker, failure reopens it.
 * - When every member failed: `SEND_FAILED` with `details.failures`, one entry per member (vendor, code,
 *   reason, vendor code — never credentials).
 *
 * Providers: `start` returns `ref` as `<member name>:<member ref>`, and `check` sends the check to the
 * member that started the code. Mixing senders and providers is a configuration error, and so are two
 * members with the same name (give adapters a `name`).
 *
 * @example
 * const sender = failover([ronglianSender({ … }), jpushSender({ … })], {
 *   failureThreshold: 3,
 *   coolOffMs: 30_000,
 *   onEvent: (event) => metrics.increment(`sms.${event.type}`, { vendor: event.vendor }),
 * });
 * const otp = createSmsOtp({ secret, sender });
 */
export function failover(members: readonly Sender[], options?: FailoverOptions): Sender;
export function failover(members: readonly CodeProvider[], options?: FailoverOptions): CodeProvider;
export function failover(members: readonly Vendor[], options?: FailoverOptions): Vendor;
export function failover(members: readonly Vendor[], options: FailoverOptions = {}): Vendor {
  const config = parseAdapterOptions('failover', failoverOptionsSchema, options);
  const kind = checkMembers(members);
  const name = config.name;
  const breakers = new Map<Vendor, Breaker>(
    members.map((member) => [member, { failures: 0, openedAt: undefined, probing: false }]),
  );

  function emit(event: FailoverEvent): void {
    try {
      config.onEvent?.(event);
    } catch {
      // A listener's bug must not change the outcome of a send.
    }
  }

  /** Whether the member may be tried now; claims the half-open trial when its cool-off is over. */
  function admit(breaker: Breaker): boolean {
    if (breaker.openedAt === undefined) return true;
    if (config.clock() - breaker.openedAt < config.coolOffMs || breaker.probing) return false;
    breaker.probing = true;
    return true;
  }

  function succeeded(member: Vendor, breaker: Breaker): void {
    const wasOpen = breaker.openedAt !== undefined;
    breaker.failures = 0;
    breaker.openedAt = undefined;
    breaker.probing = false;
    if (wasOpen) emit({ type: 'breaker_closed', vendor: member.name });
  }

  function failed(member: Vendor, breaker: Breaker, error: SmsOtpError): void {
    const wasProbing = breaker.probing;
    breaker.probing = false;
    breaker.failures += 1;
    emit({ type: 'vendor_failed', vendor: member.name, code: error.code, reason: reasonOf(error) });
    if (wasProbing || (breaker.openedAt === undefined && breaker.failures >= config.failureThreshold)) {
      breaker.openedAt = config.clock();
      emit({ type: 'breaker_open', vendor: member.name });
    }
  }

  function classify(error: unknown): Outcome {
    if (!isSmsOtpError(error)) {
      // A custom member that threw something else: treat as a vendor failure, keep nothing of it.
      return {
        kind: 'next',
        error: new SmsOtpError('SEND_FAILED', { reason: 'unexpected_error' }),
        counted: true,
      };
    }
    const reason = reasonOf(error);
    if (error.code === 'INVALID_PHONE' && reason === 'unsupported_country') {
      return { kind: 'next', error, counted: false, skipped: 'unsupported_country' };
    }
    if (error.code !== 'SEND_FAILED') return { kind: 'stop', error, counted: false };
    if (reason === 'unsupported_channel') {
      return { kind: 'next', error, counted: false, skipped: 'unsupported_channel' };
    }
    if (error.details.partial === true) return { kind: 'stop', error, counted: true };
    if (!config.failoverOnUnknownOutcome && mayHaveDelivered(error))
      return { kind: 'stop', error, counted: true };
    return { kind: 'next', error, counted: true };
  }

  async function run<T>(
    eligible: (member: Vendor) => boolean,
    call: (member: Vendor) => Promise<T>,
    deadline: number | undefined,
  ): Promise<{ member: Vendor; result: T }> {
    const failures: FailoverFailure[] = [];
    let tried = 0;
    let maybeDelivered = false;
    for (const member of members) {
      if (!eligible(member)) continue;
      // The engine stopped waiting and undid the send: a further member would deliver a dead code.
      if (tried > 0 && deadline !== undefined && Date.now() >= deadline) {
        throw new SmsOtpError('SEND_FAILED', { vendor: name, reason: 'timeout', failures });
      }
      const breaker = breakers.get(member)!;
      if (!admit(breaker)) {
        failures.push({ vendor: member.name, skipped: 'breaker_open' });
        continue;
      }
      let outcome: Outcome;
      try {
        const result = await call(member);
        succeeded(member, breaker);
        emit({ type: 'sent', vendor: member.name });
        return { member, result };
      } catch (error) {
        outcome = classify(error);
      }
      if (outcome.counted) {
        tried += 1;
        maybeDelivered ||= mayHaveDelivered(outcome.error);
        failed(member, breaker, outcome.error);
      } else {
        breaker.probing = false;
      }
      const entry = failureEntry(member.name, outcome.error);
      if (outcome.kind === 'next' && outcome.skipped) entry.skipped = outcome.skipped;
      failures.push(entry);
      if (outcome.kind === 'stop') {
        if (outcome.error.code !== 'SEND_FAILED') throw outcome.error;
        throw new SmsOtpError('SEND_FAILED', { ...outcome.error.details, failures }, outcome.error.message, {
          cause: outcome.error,
        });
      }
    }
    if (tried === 0 && failures.length > 0 && failures.every((f) => f.skipped === 'unsupported_country')) {
      throw new SmsOtpError('INVALID_PHONE', { vendor: name, reason: 'unsupported_country', failures });
    }
    throw new SmsOtpError('SEND_FAILED', {
      vendor: name,
      reason: tried === 0 ? 'no_vendor_available' : 'all_vendors_failed',
      failures,
      // With failoverOnUnknownOutcome, a member before the last may have delivered after all.
      ...(maybeDelivered ? { maybeDelivered } : {}),
    });
  }

  const channels = unionChannels(members);
  // Every member may be asked for any purpose: the failover covers the purposes all members cover.
  const purposes = commonPurposes(members);
  const covers = purposes ? { purposes } : {};
  const supports = (channel: Channel) => (member: Vendor) => (member.channels ?? ['sms']).includes(channel);

  if (kind === 'provider') {
    const providers = members as readonly CodeProvider[];
    const byName = new Map(providers.map((member) => [member.name, member]));
    const provider: CodeProvider = {
      kind: 'provider',
      name,
      channels,
      ...covers,
      // Any member may take a send: captchas are checked only if every one checks them.
      checksCaptcha: providers.every((member) => member.checksCaptcha === true),
      async start(request: CodeRequest) {
        const { member, result } = await run(
          supports(request.channel),
          (m) => (m as CodeProvider).start(request),
          request.deadline,
        );
        return { ...result, ref: `${member.name}:${result.ref}` };
      },
      async check(request: CodeCheck): Promise<boolean> {
        const colon = request.ref.indexOf(':');
        const member = colon > 0 ? byName.get(request.ref.slice(0, colon)) : undefined;
        if (member === undefined) {
          throw new SmsOtpError('CODE_EXPIRED', { vendor: name, reason: 'unknown_ref' });
        }
        return member.check({ ...request, ref: request.ref.slice(colon + 1) });
      },
    };
    return provider;
  }

  const senders = members as readonly Sender[];
  const sender: Sender = {
    kind: 'sender',
    name,
    channels,
    ...covers,
    async send(message: CodeMessage): Promise<SendReceipt> {
      const { result } = await run(
        supports(message.channel),
        (m) => (m as Sender).send(message),
        message.deadline,
      );
      return result;
    },
  };
  if (senders.some((member) => member.sendTemplate !== undefined)) {
    sender.sendTemplate = async (message: TemplateMessage): Promise<SendReceipt[]> => {
      const { result } = await run(
        (m) => (m as Sender).sendTemplate !== undefined,
        (m) => (m as Sender).sendTemplate!(message),
        undefined,
      );
      return result;
    };
  }
  return sender;
}

function checkMembers(members: readonly Vendor[]): 'sender' | 'provider' {
  if (!Array.isArray(members) || members.length === 0) {
    throw new SmsOtpConfigError('failover.members', 'give at least one sender or code provider');
  }
  const names = new Set<string>();
  for (const [index, member] of members.entries()) {
    const path = `failover.members.${index}`;
    if (
      member === null ||
      typeof member !== 'object' ||
      (member.kind !== 'sender' && member.kind !== 'provider') ||
      typeof member.name !== 'string' ||
      member.name === ''
    ) {
      throw new SmsOtpConfigError(
        path,
        'must be a Sender or a CodeProvider (an adapter such as ronglianSender(…))',
      );
    }
    if (member.kind !== members[0]!.kind) {
      throw new SmsOtpConfigError(
        path,
        `is a ${member.kind} but the first member is a ${members[0]!.kind}: failover members must all be senders (the core makes the code) or all code providers (the vendor makes it)`,
      );
    }
    if (names.has(member.name)) {
      throw new SmsOtpConfigError(
        path,
        `a second member is named "${member.name}": give it another \`name\` option`,
      );
    }
    if (member.kind === 'provider' && member.name.includes(':')) {
      throw new SmsOtpConfigError(
        path,
        'a code provider name must not contain ":" (it prefixes the code reference)',
      );
    }
    names.add(member.name);
  }
  return members[0]!.kind;
}

function unionChannels(members: readonly Vendor[]): Channel[] {
  const all = new Set<Channel>();
  for (const member of members) for (const channel of member.channels ?? ['sms']) all.add(channel);
  return [...all];
}

function reasonOf(error: SmsOtpError): string | undefined {
  return typeof error.details.reason === 'string' ? error.details.reason : undefined;
}

/** Copies only known, credential-free facts of a member's error. */
function failureEntry(vendor: string, error: SmsOtpError): FailoverFailure {
  const entry: FailoverFailure = { vendor, code: error.code };
  const reason = reasonOf(error);
  if (reason !== undefined) entry.reason = reason;
  const { vendorCode, httpStatus } = error.details;
  if (typeof vendorCode === 'string') entry.vendorCode = vendorCode;
  if (typeof httpStatus === 'number') entry.httpStatus = httpStatus;
  return entry;
}
