import { type CountryCode, isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js';
import { SmsOtpError } from './errors.js';

/** A phone number as a client sends it, before normalisation. */
export interface PhoneInput {
  /** E.164 (`+8613800138000`) or a national number (`13800138000`). */
  phone: string;
  /** How to read a national number: an ISO country (`"KH"`) or a calling code (`"+855"`, `"855"`). */
  country?: string;
}

/** A number the engine accepted: E.164 and, where the number belongs to one, its country. */
export interface NormalizedPhone {
  e164: string;
  country: CountryCode | undefined;
}

const CALLING_CODE = /^\+?([1-9]\d{0,2})$/;
const CACHE_LIMIT = 10_000;

/**
 * Reads phone numbers with libphonenumber-js and remembers the 10 000 most recently used answers
 * (normalising is the costliest step of a request, and the same numbers come back for send and verify).
 */
export class PhoneParser {
  readonly #defaultCountry: CountryCode | undefined;
  readonly #cache = new Map<string, NormalizedPhone>();

  constructor(defaultCountry?: CountryCode) {
    this.#defaultCountry = defaultCountry;
  }

  /** Returns the E.164 form, or throws `INVALID_PHONE` for a number that is not valid for its country. */
  parse(input: PhoneInput): NormalizedPhone {
    const cacheKey = `${input.country ?? ''}\u0000${input.phone}`;
    const cached = this.#cache.get(cacheKey);
    if (cached) {
      // Least recently used goes first: a Map iterates in insertion order, so re-insert on every hit.
      this.#cache.delete(cacheKey);
      this.#cache.set(cacheKey, cached);
      return cached;
    }
    const result = this.#parse(input);
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(cacheKey, result);
    return result;
  }

  #parse({ phone, country }: PhoneInput): NormalizedPhone {
    const text = phone.trim();
    let parsed: ReturnType<typeof parsePhoneNumberFromString>;
    if (country === undefined || text.startsWith('+')) {
      parsed = parsePhoneNumberFromString(text, { defaultCountry: this.#defaultCountry, extract: false });
    } else {
      const upper = country.trim().toUpperCase();
      const callingCode = CALLING_CODE.exec(upper)?.[1];
      if (callingCode) {
        parsed = parsePhoneNumberFromString(text, { defaultCallingCode: callingCode, extract: false });
      } else if (isSupportedCountry(upper)) {
        parsed = parsePhoneNumberFromString(text, { defaultCountry: upper, extract: false });
      } else {
        throw new SmsOtpError('INVALID_PHONE', { reason: 'unknown_country' });
      }
    }
    if (!parsed?.isValid()) throw new SmsOtpError('INVALID_PHONE');
    return { e164: parsed.number, country: parsed.country };
  }
}

/** `+8613800138000` → `+86*******8000`: enough to recognise a number in a log, not to use it. */
export function maskPhone(e164: string): string {
  if (e164.length <= 7) return `${e164.slice(0, 2)}***`;
  return `${e164.slice(0, 3)}${'*'.repeat(e164.length - 7)}${e164.slice(-4)}`;
}
