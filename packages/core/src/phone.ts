import {
  type CountryCode,
  isSupportedCountry,
  isValidNumber,
  Metadata,
  type ParsedNumber,
  ParseError,
  type ParseNumberOptions,
  parseNumber,
} from 'libphonenumber-js';
import { PhoneNumber } from 'libphonenumber-js/core';
import fullMetadata from 'libphonenumber-js/metadata.max.json';
import { SmsOtpConfigError, SmsOtpError } from './errors.js';
import type { NumberType } from './options-types.js';

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
  /** The kind of number, filled in the first time `PhoneParser.typeOf` is asked (then kept with it). */
  type?: NumberType;
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
  /** How a number without a country of its own is read. */
  readonly #options: ReadOptions;
  #current = new Map<string, NormalizedPhone>();
  #previous = new Map<string, NormalizedPhone>();

  constructor(defaultCountry?: CountryCode) {
    if (defaultCountry !== undefined && !isSupportedCountry(defaultCountry)) {
      throw new SmsOtpConfigError('defaultCountry', 'must be an ISO 3166 country code such as "CN"');
    }
    this.#options = { defaultCountry, extract: false, extended: true };
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

  /** The kind of number (`numberTypeOf`), worked out once per cached number. */
  typeOf(phone: NormalizedPhone): NumberType {
    if (phone.type === undefined) phone.type = numberTypeOf(phone.e164);
    return phone.type;
  }

  #parse({ phone, country }: PhoneInput): NormalizedPhone {
    const text = phone.trim();
    let options = this.#options;
    if (country !== undefined && !text.startsWith('+')) {
      const upper = country.trim().toUpperCase();
      const callingCode = CALLING_CODE.exec(upper)?.[1];
      if (callingCode) {
        // A calling code of no plan ("2", "999") is refused here: the library throws a plain Error for it.
        if (!PLANS.hasCallingCode(callingCode)) {
          throw new SmsOtpError('INVALID_PHONE', { reason: 'unknown_country' });
        }
        options = { defaultCallingCode: callingCode, extract: false, extended: true };
      } else if (isSupportedCountry(upper)) {
        options = { defaultCountry: upper, extract: false, extended: true };
      } else {
        throw new SmsOtpError('INVALID_PHONE', { reason: 'unknown_country' });
      }
    }
    const read = readValid(text, options);
    if (read === undefined) throw new SmsOtpError('INVALID_PHONE');
    const e164 = `+${read.countryCallingCode}${read.phone}`;
    // A number sent in E.164 already is kept as the client's string, not as a rebuilt copy.
    return { e164: e164 === text ? text : e164, country: read.country };
  }
}

/** Options of libphonenumber-js's `parseNumber`: the whole text is the number; answer for invalid ones too. */
interface ReadOptions {
  defaultCountry?: CountryCode | undefined;
  defaultCallingCode?: string;
  extract: false;
  extended: true;
}

/** What `parseNumber(…, { extended: true })` answers for a text it could read (`{}` for one it could not). */
interface Read {
  country?: CountryCode;
  countryCallingCode?: string;
  /** The national significant number. */
  phone?: string;
  valid?: boolean;
}

/**
 * The number in `text` if it is valid, exactly as `parsePhoneNumberFromString(text, options)?.isValid()`
 * decides, for less. That v2 function wraps the library's one internal `parse` and copies its options with a
 * Babel object spread on every call, the costliest step of reading a new number in a busy process;
 * `parseNumber` runs the same `parse` on the options as given. Where v2 throws a ParseError (and answers
 * `undefined`), `parse` answers `{}` (same checks, same order), or throws the same ParseError. The E.164 form
 * v2 builds is `+`, `countryCallingCode`, national number, as below. v2's `isValid()` selects the numbering
 * plan of `country || countryCallingCode` (the plan `parse` ended on) and, for a plan without per-type
 * patterns, matches the national number against the plan's pattern: exactly the `valid` computed here. For
 * the few plans with types (NANPA, GB, IT, AU and a few more, some non-geographic codes) it asks for a number
 * type instead, which the library's `isValidNumber` does from this same object. `test/phone.test.ts` checks
 * both readings agree over generated numbers of every calling code.
 */
function readValid(
  text: string,
  options: ReadOptions,
): (Read & { countryCallingCode: string; phone: string }) | undefined {
  let read: Read;
  try {
    read = parseNumber(text, options as ParseNumberOptions) as Read;
  } catch (error) {
    if (error instanceof ParseError) return undefined;
    throw error;
  }
  const { countryCallingCode, phone } = read;
  if (countryCallingCode === undefined || phone === undefined) return undefined;
  const plan = read.country ?? countryCallingCode;
  const valid = hasTypes(plan) ? isValidNumber(read as ParsedNumber) : read.valid === true;
  return valid ? { country: read.country, countryCallingCode, phone } : undefined;
}

/** The library's metadata (its default, "min" set), for the questions its typings leave out. */
const PLANS = new Metadata() as Metadata & {
  hasCallingCode(callingCode: string): boolean | undefined;
  selectNumberingPlan(plan: string): void;
  hasTypes(): boolean;
};
const planHasTypes = new Map<string, boolean>();

/** Whether a numbering plan (a country or a calling code) has per-type patterns; remembered per plan. */
function hasTypes(plan: string): boolean {
  let typed = planHasTypes.get(plan);
  if (typed === undefined) {
    PLANS.selectNumberingPlan(plan);
    typed = PLANS.hasTypes();
    planHasTypes.set(plan, typed);
  }
  return typed;
}

/** Satellite networks: GMSS (+881: Iridium, Globalstar …), Inmarsat (+870), Thuraya (+882 16). */
const SATELLITE = ['+870', '+881', '+88216'];

/**
 * The kind of an E.164 number: `SATELLITE` for the satellite networks (which libphonenumber calls mobile or
 * VoIP), else libphonenumber-js's type from its full ("max") metadata, or `UNKNOWN` for a number that metadata
 * types as none. The default ("min") metadata that validates numbers cannot tell types apart: the full one
 * is loaded for this alone (about 160 kB on disk, 1 MB of heap), and each number is typed once (about 10 µs).
 * NANPA (+1) numbers are mostly `FIXED_LINE_OR_MOBILE`: their ranges do not tell.
 */
export function numberTypeOf(e164: string): NumberType {
  for (const prefix of SATELLITE) if (e164.startsWith(prefix)) return 'SATELLITE';
  return new PhoneNumber(e164 as `+${string}`, fullMetadata).getType() ?? 'UNKNOWN';
}

/**
 * `+8613800138000` → `+86*******8000`: enough to recognise a number in a log, not to use it. The first three
 * characters stay, and the last four only from twelve characters up (five digits or more hidden); shorter
 * numbers (`+6834002` → `+68***02`) show their last two, and the shortest nothing of their own.
 */
export function maskPhone(e164: string): string {
  if (e164.length <= 7) return `${e164.slice(0, 2)}***`;
  const shown = e164.length >= 12 ? 4 : 2;
  return `${e164.slice(0, 3)}${'*'.repeat(e164.length - 3 - shown)}${e164.slice(-shown)}`;
}
