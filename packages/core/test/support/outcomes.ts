import { SmsOtpError } from '@sms-otp/core';

/** `'OK'`, or the code of the `SmsOtpError` the promise rejected with (anything else is rethrown). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    if (error instanceof SmsOtpError) return error.code;
    throw error;
  }
}

/** The `SmsOtpError` the promise rejected with; fails when it resolved or rejected with anything else. */
export async function errorOf(promise: Promise<unknown>): Promise<SmsOtpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SmsOtpError)) throw new Error(`expected an SmsOtpError, got ${String(error)}`);
  return error;
}
