import { expect } from 'vitest';
import { SmsOtpError } from '../../src/errors.js';
import { secretsIn } from './fakes/server.js';

/** Awaits a promise that must reject with an `SmsOtpError`, and returns the error. */
export async function rejection(promise: Promise<unknown>): Promise<SmsOtpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the call should have been refused').toBeInstanceOf(SmsOtpError);
  return error as SmsOtpError;
}

/** Asserts an error mentions none of the secrets (message, details, cause, stack). */
export function expectNoSecrets(error: unknown, secrets: readonly string[]): void {
  expect(secretsIn(error, secrets)).toEqual([]);
}

/** A code message as the engine builds it. */
export function codeMessage(overrides: Partial<Record<string, unknown>> = {}) {
  return {
    phone: '+8613800138000',
    code: '482913',
    purpose: 'login',
    channel: 'sms' as const,
    ttl: 300,
    requestId: '6f1c2a9e-4b7d-4c1e-9a2f-3d5e7b9c1a20',
    ...overrides,
  };
}
