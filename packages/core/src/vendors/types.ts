/** How a code reaches the user. */
export type Channel = 'sms' | 'voice';

/** One code to deliver: the core made `code`; the sender only delivers it. */
export interface CodeMessage {
  /** E.164, e.g. `+8613800138000`. */
  phone: string;
  /** The one-time code, digits only. Never log it. */
  code: string;
  purpose: string;
  channel: Channel;
  /** Seconds the code stays valid. */
  ttl: number;
  /** Random id of this send, safe to pass to a vendor as a request id. */
  requestId: string;
  /**
   * Epoch milliseconds at which the engine stops waiting for this call (its `sendTimeout`) and undoes the
   * send: start nothing after it. The adapters shorten their own timeout to it, and `failover` tries no
   * further member.
   */
  deadline?: number;
}

/** What a vendor said when it accepted a message. */
export interface SendReceipt {
  /** The adapter's name, e.g. `ronglian`. */
  vendor: string;
  /** The vendor's own message id, when it gives one. */
  messageId?: string;
}

/** A template notice that is not a code (delivery updates, pickup codes …), to one or more numbers. */
export interface TemplateMessage {
  /** E.164 numbers. Adapters split batches above the vendor's own limit. */
  phones: string[];
  /** The vendor's template id. */
  templateId: string;
  /** Template parameters: an ordered list (Ronglian `datas`) or named values (JPush `temp_para`). */
  params: string[] | Record<string, string>;
}

/**
 * A vendor that delivers codes the core made (Ronglian, JPush templates, console, memory …).
 * `send` resolves with a receipt or rejects with an `SmsOtpError` whose code is `SEND_FAILED`,
 * `RATE_LIMITED` or `INVALID_PHONE`, keeping the vendor's raw code and message in `details`.
 */
export interface Sender {
  readonly kind: 'sender';
  readonly name: string;
  /**
   * A sender for development and tests that delivers to no one (consoleSender, memorySender): `exposeCode`
   * with any other sender logs a warning at start-up.
   */
  readonly development?: boolean;
  /** Channels this sender can deliver; `['sms']` when absent. */
  readonly channels?: readonly Channel[];
  /**
   * The purposes this sender has a template for, when its templates are given per purpose; absent when it
   * takes any purpose. `createSmsOtp` refuses a configured purpose that is missing here.
   */
  readonly purposes?: readonly string[];
  send(message: CodeMessage): Promise<SendReceipt>;
  /** Sends a template notice; resolves with one receipt per vendor request. */
  sendTemplate?(message: TemplateMessage): Promise<SendReceipt[]>;
}

/** What the core asks a code provider to start. */
export interface CodeRequest {
  phone: string;
  purpose: string;
  channel: Channel;
  /** Seconds the code should stay valid (providers that take a ttl use it). */
  ttl: number;
  requestId: string;
  /**
   * Epoch milliseconds at which the engine stops waiting for this call (its `sendTimeout`) and undoes the
   * send: start nothing after it. The adapters shorten their own timeout to it, and `failover` tries no
   * further member.
   */
  deadline?: number;
  /** Set when the host sends by user id and the vendor takes one (MinApp `user_id`, DeepCloud `guid`). */
  userId?: string;
  /** Captcha fields, for vendors that check them (DeepCloud `key` + `captcha`). */
  captchaKey?: string;
  captcha?: string;
}

/** What the core asks a code provider to check. */
export interface CodeCheck {
  phone: string;
  purpose: string;
  code: string;
  /** The reference `start` returned (e.g. JPush `msg_id`). */
  ref: string;
  userId?: string;
  /** Epoch milliseconds at which the engine stops waiting for this check (its `sendTimeout`). */
  deadline?: number;
}

/**
 * A vendor that makes and checks the code itself (JPush codes, MinApp, DeepCloud …). The core still
 * enforces cooldowns, windows, attempts, purpose binding and single use.
 * `start` resolves with a reference to keep (may be `''` when the vendor keys codes by phone);
 * `check` resolves `true` for a right code, `false` for a wrong one, and rejects with an `SmsOtpError`
 * (`CODE_EXPIRED`, `SEND_FAILED`, …) for anything else.
 */
export interface CodeProvider {
  readonly kind: 'provider';
  readonly name: string;
  readonly channels?: readonly Channel[];
  /** As `Sender.purposes`: the purposes it has a template for, when given per purpose. */
  readonly purposes?: readonly string[];
  /**
   * The provider checks `captchaKey` + `captcha` itself (DeepCloud): required for `captcha.verifier: 'vendor'`,
   * which leaves captcha answers to the vendor.
   */
  readonly checksCaptcha?: boolean;
  start(request: CodeRequest): Promise<{ ref: string; vendor: string; messageId?: string }>;
  check(request: CodeCheck): Promise<boolean>;
}

/** Anything `createSmsOtp({ sender })` accepts. */
export type Vendor = Sender | CodeProvider;
