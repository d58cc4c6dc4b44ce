/** What refused and failed operations, and breakers that opened or closed, tell `otp.on` listeners. */
import { isSmsOtpError } from '../errors.js';
import { BLOCKING_CODES, type Events } from '../events.js';
import { maskPhone } from '../phone.js';
import type { BreakerTransition } from '../stores/types.js';

/** Reports a refused or failed operation as an event; returns the error, for the caller to throw. */
export function reportError(
  events: Events,
  operation: 'send' | 'verify',
  error: unknown,
  phone: string | undefined,
  purpose: string | undefined,
): unknown {
  if (!isSmsOtpError(error)) return error;
  const name = BLOCKING_CODES.has(error.code) ? 'blocked' : 'failed';
  if (!events.has(name)) return error;
  const base = {
    operation,
    ...(phone ? { phone: maskPhone(phone) } : {}),
    ...(purpose ? { purpose } : {}),
    code: error.code,
  };
  if (name === 'blocked') {
    const scope = error.details.scope;
    events.emit('blocked', { ...base, ...(typeof scope === 'string' ? { scope } : {}) });
  } else {
    // Who failed and why, so that a wrong credential shows: a SEND_FAILED without a reason of its own (a
    // host's error) is `'error'`.
    const { reason, vendor, captchaVerifier } = error.details as Record<string, unknown>;
    const why = typeof reason === 'string' ? reason : error.code === 'SEND_FAILED' ? 'error' : undefined;
    events.emit('failed', {
      ...base,
      ...(why ? { reason: why } : {}),
      ...(typeof vendor === 'string' ? { vendor } : {}),
      ...(typeof captchaVerifier === 'string' ? { captchaVerifier } : {}),
    });
  }
  return error;
}

/** Emits a `breaker` event per breaker the store opened or closed. */
export function reportTransitions(events: Events, transitions: BreakerTransition[]): void {
  for (const t of transitions) {
    const [, scope, key] = t.id.split(/^breaker:(country|prefix):/) as [string, 'country' | 'prefix', string];
    events.emit('breaker', { scope, key, state: t.state, sent: t.sent, verified: t.verified });
  }
}
