import {
  type CountryCode,
  isSupportedCountry,
  Metadata,
  parsePhoneNumberFromString,
} from 'libphonenumber-js';
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
/** Numbers remembered per cache generation: between 10 000 and 20 000 are kept. */
const CACHE_GENERATION = 10_000;

/**
 * Reads phone numbers with libphonenumber-js and remembers recent answers (normalising is the costliest step
 * of a request, and the same numbers come back for send and verify). The cache has two generations: answers
 * go into the current one; when it is full it becomes the previous one and the older is dropped, and a hit in
 * the previous generation moves back into the current one. That keeps every recently used number like an LRU
 * does, with no per-hit delete: deleting from a large Map leaves holes that made each eviction scan cost more
 * than the parse it saved.
 */
export class PhoneParser {
  readonly #defaultCountry: CountryCode | undefined;
  #current = new Map<string, NormalizedPhone>();
  #previous = new Map<string, NormalizedPhone>();

  constructor(defaultCountry?: CountryCode) {
    this.#defaultCountry = defaultCountry;
  }

  /** Returns the E.164 form, or throws `INVALID_PHONE` for a number that is not valid for its country. */
  parse(input: PhoneInput): NormalizedPhone {
    // Keys: the number itself when no country comes with it (the usual case: no string built, nothing more
    // kept than the client's own string), else country NUL number. No valid number holds a NUL, and one that
    // does is refused here, so the two kinds of key never meet.
    if (input.phone.includes('\u0000')) throw new SmsOtpError('INVALID_PHONE');
    const cacheKey = input.country === undefined ? input.phone : `${input.country}\u0000${input.phone}`;
    const cached = this.#current.get(cacheKey);
    if (cached) return cached;
    const result = this.#previous.get(cacheKey) ?? this.#parse(input);
    this.#current.set(cacheKey, result);
    if (this.#current.size >= CACHE_GENERATION) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
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
        // A calling code of no plan ("2", "999") is refused here: the library throws a plain Error for it.
        if (!PLANS.hasCallingCode(callingCode)) {
          throw new SmsOtpError('INVALID_PHONE', { reason: 'unknown_country' });
        }
        parsed = parsePhoneNumberFromString(text, { defaultCallingCode: callingCode, extract: false });
      } else if (isSupportedCountry(upper)) {
        parsed = parsePhoneNumberFromString(text, { defaultCountry: upper, extract: false });
      } else {
        throw new SmsOtpError('INVALID_PHONE', { reason: 'unknown_country' });
      }
    }
    if (!parsed?.isValid()) throw new SmsOtpError('INVALID_PHONE');
    // A number sent in E.164 already is kept as the client's string, not as the library's rebuilt copy.
    return { e164: parsed.number === text ? text : parsed.number, country: parsed.country };
  }
}

/** The library's metadata (its default, "min" set), for the questions its typings leave out. */
const PLANS = new Metadata() as Metadata & { hasCallingCode(callingCode: string): boolean | undefined };

/** `+8613800138000` → `+86*******8000`: enough to recognise a number in a log, not to use it. */
export function maskPhone(e164: string): string {
  if (e164.length <= 7) return `${e164.slice(0, 2)}***`;
  return `${e164.slice(0, 3)}${'*'.repeat(e164.length - 7)}${e164.slice(-4)}`;
}
