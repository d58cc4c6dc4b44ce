import type { SmsOtpEventName, SmsOtpListener } from '../events.js';
import type { ResolvedOptions } from '../options.js';
import type { VerifiedPhone } from '../token.js';
import type { Channel } from '../vendors/types.js';

/** Who a send or verify is for: a phone number, or a user id the host resolves (`resolvePhone`). */
export interface Recipient {
  /** E.164, or national with `defaultCountry` / `country`. */
  phone?: string;
  /** A user id, when the host configured `resolvePhone`. */
  userId?: string;
  /** How to read a national `phone`: `"KH"` or `"+855"`. */
  country?: string;
  /** One of the configured purposes. Default: the first one (`'login'`). */
  purpose?: string;
}

export interface SendInput extends Recipient {
  /** Default `'sms'`; `'voice'` where the vendor supports it. */
  channel?: Channel;
  /** The client's IP, for the per-IP window. Without it that window is not applied. */
  ip?: string;
  /** The built-in captcha's key (`GET {prefix}/captcha`), or the key a vendor's captcha was made with. */
  captchaKey?: string;
  /** The captcha answer, or a Turnstile / hCaptcha / reCAPTCHA token. */
  captcha?: string;
}

export interface SendResult {
  /** Seconds the code stays valid. */
  expiresIn: number;
  /** Seconds before another code may be sent to this phone for this purpose. */
  resendIn: number;
  /** 128-bit random id of this send. */
  requestId: string;
  /** The code itself, only with `exposeCode: true` (never in production). */
  devCode?: string;
}

export interface VerifyInput extends Recipient {
  code: string;
  /** The `requestId` the send returned; required with `requireRequestId: true` (the default). */
  requestId?: string;
  /** The client's IP, for the window of failed verifies. Without it that window is not applied. */
  ip?: string;
  /** A built-in captcha's key, when the phone needs a captcha (`CAPTCHA_REQUIRED`, `scope: 'phone'`). */
  captchaKey?: string;
  /** The captcha answer, or a Turnstile / hCaptcha / reCAPTCHA token. */
  captcha?: string;
}

export interface VerifyResult {
  /** Proof of the verification for the guard (`X-Sms-Token`). */
  token: string;
  /** Seconds the token is good for. */
  expiresIn: number;
  phone: string;
  purpose: string;
}

export interface CheckTokenOptions {
  /**
   * The purpose the token must have been made for. Without it any configured purpose passes (a token of a
   * purpose this engine does not configure is `TOKEN_INVALID`).
   */
  purpose?: string;
  /** Makes the token good for this one check. Default `true`. */
  consume?: boolean;
}

/** A built-in image captcha: show `image`, send back `captchaKey` and the answer with `/send`. */
export interface Captcha {
  captchaKey: string;
  /** `data:image/png;base64,…` */
  image: string;
  /** Seconds the captcha can be answered. */
  expiresIn: number;
}

/** The engine `createSmsOtp` returns. */
export interface SmsOtp {
  /** The options after defaults (read-only; the secret is redacted). */
  readonly options: Readonly<ResolvedOptions>;
  send(input: SendInput): Promise<SendResult>;
  verify(input: VerifyInput): Promise<VerifyResult>;
  checkToken(token: string | undefined, options?: CheckTokenOptions): Promise<VerifiedPhone>;
  /** Makes a built-in image captcha (single use, answer case-insensitive). */
  createCaptcha(input?: { ip?: string }): Promise<Captcha>;
  /** Subscribes to `sent`, `verified`, `failed`, `blocked` or `breaker`; returns the unsubscribe function. */
  on<E extends SmsOtpEventName>(event: E, listener: SmsOtpListener<E>): () => void;
  off<E extends SmsOtpEventName>(event: E, listener: SmsOtpListener<E>): void;
  /** Stops timers of a store the engine made itself (the default MemoryStore). */
  close(): Promise<void>;
}
