import { describe, expect, expectTypeOf, it } from 'vitest';
import { isSmsOtpError, type RequestIssue, SmsOtpError, tooMany } from '../src/errors.js';

describe('SmsOtpError.details is typed per error code', () => {
  it('narrows with the code, after isSmsOtpError or instanceof', () => {
    const error: unknown = new SmsOtpError('CODE_INVALID', { attemptsLeft: 2 });
    if (isSmsOtpError(error) && error.code === 'CODE_INVALID') {
      expectTypeOf(error.details.attemptsLeft).toEqualTypeOf<number | undefined>();
    }
    if (error instanceof SmsOtpError && error.code === 'RATE_LIMITED') {
      expectTypeOf(error.details.retryAfter).toEqualTypeOf<number>();
      expectTypeOf(error.details.vendor).toEqualTypeOf<string | undefined>();
    }
    if (error instanceof SmsOtpError && error.code === 'INVALID_REQUEST') {
      expectTypeOf(error.details.issues).toEqualTypeOf<RequestIssue[] | undefined>();
    }
    expect(isSmsOtpError(error) && error.details.attemptsLeft).toBe(2);
  });

  it('refuses details of the wrong type for a code, keeps other facts as unknown', () => {
    // @ts-expect-error attemptsLeft is a number
    const wrong = new SmsOtpError('CODE_INVALID', { attemptsLeft: 'two' });
    expect(wrong.code).toBe('CODE_INVALID');
    const open = new SmsOtpError('SEND_FAILED', { vendor: 'jpush', partial: true });
    expectTypeOf(open.details.partial).toEqualTypeOf<unknown>();
    expect(open.details.partial).toBe(true);
  });

  it('tooMany gives a 429 with whole seconds', () => {
    const error = tooMany('RESEND_TOO_SOON', 1500, { scope: 'phone', limit: 1, window: 60 });
    expectTypeOf(error.code).toEqualTypeOf<'RESEND_TOO_SOON'>();
    expect(error.details).toEqual({ scope: 'phone', limit: 1, window: 60, retryAfter: 2 });
    expect(error.status).toBe(429);
    expect(error.constructor.name).toBe('SmsOtpError');
    expect(error).toBeInstanceOf(SmsOtpError);
  });
});
