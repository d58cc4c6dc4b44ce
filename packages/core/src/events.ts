import type { ErrorCode } from './errors.js';
import type { Channel } from './vendors/types.js';

/**
 * What `otp.on(name, listener)` reports. Phones are masked (`+86*******8000`); no event ever carries a code
 * or a secret.
 */
export interface SmsOtpEvents {
  /** A code was handed to the vendor (or, for test numbers, would have been). */
  sent: {
    phone: string;
    purpose: string;
    channel: Channel;
    vendor: string;
    requestId: string;
    /** The vendor's id of the message (Twilio `SM…`, Aliyun `BizId` …), when it gave one. */
    messageId?: string;
    country?: string;
    test: boolean;
  };
  /** A code was verified and a token issued. */
  verified: { phone: string; purpose: string };
  /** A send or verify failed for a reason that is not a limit (wrong code, vendor failure, bad input …). */
  failed: {
    operation: 'send' | 'verify';
    phone?: string;
    purpose?: string;
    code: ErrorCode;
    /**
     * Why, in a word: the vendor's reason for a `SEND_FAILED` (`'auth'`, `'balance'`, `'timeout'` … see
     * `FailureReason`; `'error'` when a host sender or captcha verifier threw an error of its own).
     */
    reason?: string;
    /** The vendor (adapter name) that failed, for vendor failures. */
    vendor?: string;
    /** The captcha service that failed, for a failed captcha check. */
    captchaVerifier?: string;
  };
  /** A limit refused a send or verify (cooldown, windows, attempts, captcha, country, breaker). */
  blocked: {
    operation: 'send' | 'verify';
    phone?: string;
    purpose?: string;
    code: ErrorCode;
    scope?: string;
  };
  /**
   * A delivery receipt (the receipts route) said the message reached the phone. `requestId` is the send's,
   * when the receipt names it or this instance made the send; `phone` is masked.
   */
  delivered: DeliveryEvent;
  /** A delivery receipt said the message did not reach the phone; `errorCode` is the vendor's status code. */
  undelivered: DeliveryEvent & { errorCode?: string };
  /** A conversion breaker opened or closed. */
  breaker: {
    scope: 'country' | 'prefix';
    key: string;
    state: 'open' | 'closed';
    sent: number;
    verified: number;
  };
}

/** What `delivered` and `undelivered` carry. */
export interface DeliveryEvent {
  /** The `requestId` of the send, when known (see VENDORS.md, "Delivery receipts"). */
  requestId?: string;
  /** The vendor the receipt came from: `twilio`, `aliyun`, `tencent`. */
  vendor: string;
  /** The vendor's message id (Twilio `MessageSid`, Aliyun `biz_id`, Tencent `sid`). */
  messageId: string;
  /** Masked, e.g. `+86*******8000`, when the receipt or the send gave the number. */
  phone?: string;
  /** ISO country of the number, when known. */
  country?: string;
}

export type SmsOtpEventName = keyof SmsOtpEvents;
export type SmsOtpListener<E extends SmsOtpEventName> = (event: SmsOtpEvents[E]) => void;

/** Errors that are a limit doing its job, reported as `blocked` rather than `failed`. */
export const BLOCKING_CODES = new Set<ErrorCode>([
  'RESEND_TOO_SOON',
  'RATE_LIMITED',
  'TOO_MANY_ATTEMPTS',
  'CAPTCHA_REQUIRED',
  'COUNTRY_NOT_ALLOWED',
]);

/** A tiny typed emitter: a throwing listener never breaks a request. */
export class Events {
  readonly #listeners = new Map<SmsOtpEventName, Set<(event: never) => void>>();

  on<E extends SmsOtpEventName>(name: E, listener: SmsOtpListener<E>): () => void {
    let set = this.#listeners.get(name);
    if (!set) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener as (event: never) => void);
    return () => this.off(name, listener);
  }

  off<E extends SmsOtpEventName>(name: E, listener: SmsOtpListener<E>): void {
    this.#listeners.get(name)?.delete(listener as (event: never) => void);
  }

  /** Whether anyone listens, so that callers skip building an event nobody reads. */
  has(name: SmsOtpEventName): boolean {
    return (this.#listeners.get(name)?.size ?? 0) > 0;
  }

  emit<E extends SmsOtpEventName>(name: E, event: SmsOtpEvents[E]): void {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as SmsOtpListener<E>)(event);
      } catch {
        // A listener's own failure is its business, never the request's.
      }
    }
  }
}

/** Where an engine keeps its emitter, for the receipts route (shared by every copy of the package). */
const ENGINE_EVENTS: unique symbol = Symbol.for('sms-otp.events') as never;

/** Gives `engine` a hidden (non-enumerable) handle on its emitter, for `eventsOf`. */
export function attachEvents<T extends object>(events: Events, engine: T): T {
  Object.defineProperty(engine, ENGINE_EVENTS, { value: events, enumerable: false });
  return engine;
}

/** The emitter of an engine `createSmsOtp` made; `undefined` for anything else. */
export function eventsOf(engine: object): Events | undefined {
  const events = (engine as { [ENGINE_EVENTS]?: unknown })[ENGINE_EVENTS];
  return events instanceof Object && typeof (events as Events).emit === 'function'
    ? (events as Events)
    : undefined;
}
