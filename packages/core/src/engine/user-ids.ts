/**
 * Recipients: a phone number read and checked against the allowed and blocked countries, or a user id the
 * host resolves (`resolvePhone`). An unknown user id gets a stand-in key of its own, so that its sends meet
 * the same store steps, limits and answers as a real user's, take about as long, and send nothing.
 */
import { regionOf } from '../admission.js';
import { mac96 } from '../code.js';
import { SmsOtpError } from '../errors.js';
import { type NormalizedPhone, PhoneParser } from '../phone.js';
import type { EngineContext } from './context.js';
import type { Recipient } from './types.js';

/** A recipient the engine can key: its E.164 number, or a stand-in key for an unknown user id. */
export interface Addressee {
  /** What the store keys the code by: the E.164 number, or `u:` and a MAC of the user id. */
  key: string;
  /** The number, `undefined` for an unknown user id. */
  phone: NormalizedPhone | undefined;
}

/**
 * The addressee of a send or verify: synchronous for a phone number (no `await` on the hot path), a promise
 * for a user id that needs the host's lookup.
 */
export function addresseeResolver(
  ctx: EngineContext,
): (recipient: Recipient) => Addressee | Promise<Addressee> {
  const { options, keys } = ctx;
  const phones = new PhoneParser(options.defaultCountry);
  const allowed = options.allowedCountries ? new Set<string>(options.allowedCountries) : undefined;
  const blocked = new Set<string>(options.blockedCountries ?? []);

  function numberOf(phone: string | undefined, country: string | undefined): Addressee {
    if (typeof phone !== 'string' || phone.length === 0) {
      throw new SmsOtpError('INVALID_REQUEST', {
        issues: [{ path: 'phone', message: 'phone (or userId) is required' }],
      });
    }
    const parsed = phones.parse({ phone, country });
    // Numbers of no country count as region `001` (allowed, blocked and capped under that name).
    const region = regionOf(parsed);
    if ((allowed && !allowed.has(region)) || blocked.has(region)) {
      throw new SmsOtpError('COUNTRY_NOT_ALLOWED', { country: region });
    }
    return { key: parsed.e164, phone: parsed };
  }

  async function userOf(userId: string): Promise<Addressee> {
    // The host's lookup (a database, usually) is bounded like a store call: one that hangs or fails is
    // STORE_UNAVAILABLE (the cause's name and message kept on the error), not a request that never ends or a 500.
    const resolved = await ctx.withinStoreTimeout(async () => options.resolvePhone!(userId));
    if (!resolved) return { key: `u:${mac96(keys.code, `user\u0000${userId}`)}`, phone: undefined };
    // A number the host resolved is read with `defaultCountry`, never with the client's `country`.
    return numberOf(resolved, undefined);
  }

  return function addresseeOf(recipient: Recipient): Addressee | Promise<Addressee> {
    if (recipient.phone === undefined && recipient.userId !== undefined && options.resolvePhone) {
      return userOf(recipient.userId);
    }
    return numberOf(recipient.phone, recipient.country);
  };
}

/** How long real deliveries take (a moving average), so that sends to unknown user ids take as long. */
export class DeliveryTime {
  #averageMs = 0;

  /** Counts a real delivery that started at `startedAt` (`Date.now()`) and just ended. */
  record(startedAt: number): void {
    const ms = Date.now() - startedAt;
    this.#averageMs = this.#averageMs === 0 ? ms : this.#averageMs * 0.9 + ms * 0.1;
  }

  /** Waits about as long as a real delivery (±20 %), for a stand-in that sends nothing. */
  standIn(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.#averageMs * (0.8 + Math.random() * 0.4)));
  }
}
