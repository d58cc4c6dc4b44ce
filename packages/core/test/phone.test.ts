import { type NormalizedPhone, type PhoneInput, PhoneParser, SmsOtpError } from '@sms-otp/core';
import fc from 'fast-check';
import {
  type CountryCode,
  getCountries,
  getCountryCallingCode,
  isSupportedCountry,
  parsePhoneNumberFromString,
} from 'libphonenumber-js';
import metadata from 'libphonenumber-js/min/metadata';
import examples from 'libphonenumber-js/mobile/examples';
import { describe, expect, it } from 'vitest';

/**
 * PhoneParser reads numbers with libphonenumber-js's `parseNumber` and its own validity shortcut (phone.ts,
 * `readValid`). This is the reading it must equal: the library's v2 `parsePhoneNumberFromString(…).isValid()`,
 * as the engine used it before. A difference would give one phone two rate-limit keys, or refuse a valid
 * number, so these tests compare both over numbers of every calling code, in every spelling a client sends.
 */
function reference(
  input: PhoneInput,
  defaultCountry: CountryCode | undefined,
): NormalizedPhone | 'INVALID_PHONE' {
  const text = input.phone.trim();
  let parsed: ReturnType<typeof parsePhoneNumberFromString>;
  if (input.country === undefined || text.startsWith('+')) {
    parsed = parsePhoneNumberFromString(text, { defaultCountry, extract: false });
  } else {
    const upper = input.country.trim().toUpperCase();
    const callingCode = /^\+?([1-9]\d{0,2})$/.exec(upper)?.[1];
    // A calling code of no numbering plan: the library throws a plain Error ("Unknown calling code").
    if (callingCode && !callingCodes.includes(callingCode)) return 'INVALID_PHONE';
    if (callingCode)
      parsed = parsePhoneNumberFromString(text, { defaultCallingCode: callingCode, extract: false });
    else if (isSupportedCountry(upper))
      parsed = parsePhoneNumberFromString(text, { defaultCountry: upper, extract: false });
    else return 'INVALID_PHONE';
  }
  if (!parsed?.isValid()) return 'INVALID_PHONE';
  return { e164: parsed.number, country: parsed.country };
}

function actual(parser: PhoneParser, input: PhoneInput): NormalizedPhone | 'INVALID_PHONE' {
  try {
    // A copy: the parser's own object may be cached and shared.
    return { ...parser.parse(input) };
  } catch (error) {
    if (error instanceof SmsOtpError && error.code === 'INVALID_PHONE') return 'INVALID_PHONE';
    throw error;
  }
}

const countries = getCountries();
/** Every calling code, geographic ones and the non-geographic ones (800, 808, 870, 878, 881, 882, 883, 888, 979). */
const callingCodes = [
  ...new Set([...Object.keys(metadata.country_calling_codes), ...Object.keys(metadata.nonGeographic ?? {})]),
];
/** A valid national number per country (the library's mobile examples), to mutate into valid and invalid ones. */
const exampleNumbers = Object.entries(examples as Record<string, string>);

const digits = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max, size: 'max' });

/** A national number near a real one: the example with its last digits replaced, or shortened or lengthened. */
const nearExample = fc
  .tuple(
    fc.constantFrom(...exampleNumbers),
    fc.integer({ min: 0, max: 6 }),
    digits(0, 7),
    fc.integer({ min: -2, max: 2 }),
  )
  .map(([[country, national], keep, tail, stretch]) => {
    const head = national.slice(0, Math.max(1, national.length - keep));
    const body = `${head}${tail}`.slice(0, Math.max(2, national.length + stretch));
    return { country, national: body };
  });

/** How clients write a number: spaces, dashes, dots, brackets, full-width digits, an extension, a tel: URI. */
const spelling = fc.constantFrom<(text: string) => string>(
  (t) => t,
  (t) => ` ${t}\t`,
  (t) => t.replace(/(\d{3})(?=\d)/g, '$1 '),
  (t) => t.replace(/(\d{2})(?=\d)/g, '$1-'),
  (t) => t.replace(/(\d{4})(?=\d)/g, '$1.'),
  (t) => t.replace(/^(\+?\d{1,3})(\d{3})/, '$1 ($2) '),
  (t) => t.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d))),
  (t) => `${t} ext. 12`,
  (t) => `tel:${t}`,
  (t) => `${t}x`,
  (t) => `00${t.replace(/^\+/, '')}`,
  (t) => `0${t}`,
);

const defaultCountry = fc.option(
  fc.oneof(fc.constantFrom<CountryCode>('CN', 'US', 'GB', 'KH', 'IT', 'AU'), fc.constantFrom(...countries)),
  {
    nil: undefined,
  },
);

function agree(input: PhoneInput, fallback: CountryCode | undefined): void {
  const expected = reference(input, fallback);
  const got = actual(new PhoneParser(fallback), input);
  if (JSON.stringify(got) !== JSON.stringify(expected)) {
    throw new Error(
      `${JSON.stringify(input)} (default ${fallback}): ${JSON.stringify(got)} ≠ ${JSON.stringify(expected)}`,
    );
  }
}

describe('PhoneParser reads numbers exactly as parsePhoneNumberFromString(…).isValid()', () => {
  it('international numbers near every country’s example, in every spelling', () => {
    let valid = 0;
    fc.assert(
      fc.property(nearExample, spelling, defaultCountry, ({ country, national }, spell, fallback) => {
        const text = spell(`+${getCountryCallingCode(country as CountryCode)}${national.replace(/^0/, '')}`);
        agree({ phone: text }, fallback);
        if (reference({ phone: text }, fallback) !== 'INVALID_PHONE') valid++;
      }),
      { numRuns: 20_000 },
    );
    // Both kinds were tried in numbers: a run of only invalid (or only valid) numbers would prove little.
    expect(valid).toBeGreaterThan(2_000);
    expect(valid).toBeLessThan(18_000);
  });

  it('national numbers with a country, a calling code or the default country', () => {
    let valid = 0;
    fc.assert(
      fc.property(
        nearExample,
        spelling,
        defaultCountry,
        fc.constantFrom('own', 'calling code', '+calling code', 'none', 'lower case', 'other'),
        ({ country, national }, spell, fallback, how) => {
          const code = getCountryCallingCode(country as CountryCode);
          const given = {
            own: country,
            'calling code': code,
            '+calling code': `+${code}`,
            none: undefined,
            'lower case': ` ${country.toLowerCase()} `,
            other: countries[national.length % countries.length],
          }[how];
          const input: PhoneInput =
            given === undefined ? { phone: spell(national) } : { phone: spell(national), country: given };
          agree(input, fallback);
          if (reference(input, fallback) !== 'INVALID_PHONE') valid++;
        },
      ),
      { numRuns: 20_000 },
    );
    expect(valid).toBeGreaterThan(2_000);
    expect(valid).toBeLessThan(18_000);
  });

  it('random digits after every calling code, geographic or not', () => {
    expect(callingCodes).toEqual(expect.arrayContaining(['1', '44', '86', '800', '882', '979']));
    let valid = 0;
    fc.assert(
      fc.property(fc.constantFrom(...callingCodes), digits(1, 16), defaultCountry, (code, rest, fallback) => {
        agree({ phone: `+${code}${rest}` }, fallback);
        if (reference({ phone: `+${code}${rest}` }, fallback) !== 'INVALID_PHONE') valid++;
      }),
      { numRuns: 20_000 },
    );
    expect(valid).toBeGreaterThan(100);
  });

  it('text that is not a number, or barely one', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40, size: 'max' }),
          fc.string({ unit: fc.constantFrom(...'+0123456789 -().#*xX,;tel:'), maxLength: 30, size: 'max' }),
          fc.string({ unit: 'grapheme', maxLength: 20, size: 'max' }),
        ),
        fc.option(
          fc.oneof(
            fc.constantFrom('CN', 'US', '86', '+1', 'xx', ''),
            fc.string({ maxLength: 4, size: 'max' }),
          ),
          {
            nil: undefined,
          },
        ),
        defaultCountry,
        (phone, country, fallback) => {
          if (phone.includes('\u0000')) return;
          agree(country === undefined ? { phone } : { phone, country }, fallback);
        },
      ),
      { numRuns: 10_000 },
    );
  });

  it('the numbers the rest of the tests use, and the cases that differ between the library’s readers', () => {
    for (const phone of [
      '+8613800138000',
      '13800138000',
      '+882123456789', // valid to a pattern-only check, invalid by number type: must be refused
      '+80012345678',
      '+14155552671',
      '+16135550123',
      '+447911123456',
      '+393123456789',
      '+61412345678',
      '+85512345678',
      '+8613800138000 ext. 5',
      'tel:+8613800138000',
      `+86${'1'.repeat(300)}`,
    ]) {
      for (const fallback of [undefined, 'CN', 'US'] as const) agree({ phone }, fallback);
    }
    expect(actual(new PhoneParser(), { phone: '+882123456789' })).toBe('INVALID_PHONE');
    // A default country the library does not know is a configuration error, not a 500 on every national number.
    expect(() => new PhoneParser('XX' as CountryCode)).toThrow(/defaultCountry.*ISO 3166/);
    expect(actual(new PhoneParser(), { phone: '+16135550123' })).toEqual({
      e164: '+16135550123',
      country: 'CA',
    });
  });
});
