import { SmsOtpError } from '@sms-otp/core';

/**
 * `'OK'`, the code of the `SmsOtpError` the promise rejected with, or `THROWN …` for anything else: load
 * loops tally every answer (and assert on the tally) instead of stopping at the first unexpected one.
 */
export async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    if (error instanceof SmsOtpError) return error.code;
    return `THROWN ${String(error)}`;
  }
}
