import { describe, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import { type httpOptionsSchema, optionsSchema } from '../src/options.js';
import type { HttpOptions, SmsOtpOptions } from '../src/options-types.js';

// Type tests: `pnpm typecheck` (tsc over the tests) fails when the hand-written interfaces and the zod
// schemas that check them drift apart — an option documented but not accepted, or accepted but not documented.
describe('the documented options interfaces are what the schemas accept', () => {
  type SchemaInput = z.input<typeof optionsSchema>;

  it('SmsOtpOptions and the schema input are assignable both ways', () => {
    expectTypeOf<SmsOtpOptions>().toExtend<SchemaInput>();
    expectTypeOf<SchemaInput>().toExtend<SmsOtpOptions>();
  });

  it('name the same keys, nested objects too', () => {
    expectTypeOf<keyof SmsOtpOptions>().toEqualTypeOf<keyof SchemaInput>();
    type Nested<K extends 'breaker' | 'captcha' | 'sendLimits' | 'numberTypes'> = keyof Exclude<
      SchemaInput[K],
      false | undefined
    >;
    type Mine<K extends 'breaker' | 'captcha' | 'sendLimits' | 'numberTypes'> = keyof Exclude<
      SmsOtpOptions[K],
      false | undefined
    >;
    expectTypeOf<Mine<'breaker'>>().toEqualTypeOf<Nested<'breaker'>>();
    expectTypeOf<Mine<'captcha'>>().toEqualTypeOf<Nested<'captcha'>>();
    expectTypeOf<Mine<'sendLimits'>>().toEqualTypeOf<Nested<'sendLimits'>>();
    expectTypeOf<Mine<'numberTypes'>>().toEqualTypeOf<Nested<'numberTypes'>>();
  });

  it('HttpOptions and the route schema input are assignable both ways', () => {
    type HttpInput = z.input<typeof httpOptionsSchema>;
    expectTypeOf<HttpOptions>().toExtend<HttpInput>();
    expectTypeOf<HttpInput>().toExtend<HttpOptions>();
    expectTypeOf<keyof HttpOptions>().toEqualTypeOf<keyof HttpInput>();
  });

  it('the schema refuses at run time what the interface refuses at compile time', () => {
    // @ts-expect-error maxAttempts is a number
    const wrong: SmsOtpOptions = { maxAttempts: '5' };
    expectTypeOf(wrong).toEqualTypeOf<SmsOtpOptions>();
    if (optionsSchema.safeParse(wrong).success) throw new Error('the schema took a string maxAttempts');
  });
});
