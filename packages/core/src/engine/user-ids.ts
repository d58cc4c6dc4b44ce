/**
 * Recipients: a phone number read and checked against its kind (`numberTypes`, on sends) and the allowed and
 * blocked countries, or a user id the host resolves (`resolvePhone`). An unknown user id gets a stand-in key
 * of its own, so that its sends meet the same store steps, limits and answers as a real user's, take about
 * as long, and send nothing; so does a known user whose number those rules refuse (decision 8 of
 * 2026-12-04: a send by user id never tells a known user from an unknown one).
 */
import { regionOf } from '../admission.js';
import { type Keys, mac96 } from '../code.js';
import { isSmsOtpError, SmsOtpError } from '../errors.js';
import { type NormalizedPhone, PhoneParser } from '../phone.js';
import type { Channel } from '../vendors/types.js';
import type { EngineContext } from './context.js';
import type { Recipient } from './types.js';

/** A recipient the engine can key: its E.164 number, or a stand-in key for an unknown user id. */
export interface Addressee {
  /** What the store keys the code by: the E.164 number, or `u:` and a MAC of the user id. */
  key: string;
  /** The number, `undefined` for an unknown user id (or a known one whose number was refused). */
  phone: NormalizedPhone | undefined;
  /** Why a known user's number was refused and a stand-in answers instead (reported, never answered). */
  refused?: SmsOtpError;
}

/** The stand-in key of a user id: `u:` and a MAC of the id. */
export function standInKey(keys: Keys, userId: string): string {
  return `u:${mac96(keys.code, `user\u0000${userId}`)}`;
}

/**
 * The addressee of a send or verify: synchronous for a phone number (no `await` on the hot path), a promise
 * for a user id that needs the host's lookup.
 */
export function addresseeResolver(
  ctx: EngineContext,
): (recipient: Recipient, channel?: Channel) => Addressee | Promise<Addressee> {
  const { options, keys } = ctx;
  const phones = new PhoneParser(options.defaultCountry);
  const allowed = options.allowedCountries ? new Set<string>(options.allowedCountries) : undefined;
  const blocked = new Set<string>(options.blockedCountries ?? []);
  // Numbers of no country (satellite, international networks) are a classic pumping destination: only
  // when named or allowed explicitly.
  const nonGeographic = options.allowNonGeographic || allowed?.has(NON_GEOGRAPHIC) === true;
  const types = {
    sms: new Set<string>(options.numberTypes.sms),
    voice: new Set<string>(options.numberTypes.voice),
  };

  /** `channel` is the send's (a verify checks no kind: nothing is sent). */
  function numberOf(phone: string | undefined, country: string | undefined, channel?: Channel): Addressee {
    if (typeof phone !== 'string' || phone.length === 0) {
      throw new SmsOtpError('INVALID_REQUEST', {
        issues: [{ path: 'phone', message: 'phone (or userId) is required' }],
      });
    }
    const parsed = phones.parse({ phone, country });
    if (channel !== undefined) {
      const type = phones.typeOf(parsed);
      if (!types[channel].has(type)) throw new SmsOtpError('INVALID_PHONE', { reason: 'number_type', type });
    }
    // Numbers of no country count as region `001` (allowed, blocked and capped under that name).
    const region = regionOf(parsed);
    if (
      (allowed && !allowed.has(region)) ||
      blocked.has(region) ||
      (region === NON_GEOGRAPHIC && !nonGeographic)
    ) {
      throw new SmsOtpError('COUNTRY_NOT_ALLOWED', { country: region });
    }
    return { key: parsed.e164, phone: parsed };
  }

  async function userOf(userId: string, channel: Channel | undefined): Promise<Addressee> {
    // The host's lookup (a database, usually) is bounded like a store call: one that hangs or fails is
    // STORE_UNAVAILABLE (the cause's name and message kept on the error), not a request that never ends or a 500.
    const resolved = await ctx.withinStoreTimeout(async () => options.resolvePhone!(userId));
    if (!resolved) return { key: standInKey(keys, userId), phone: undefined };
    try {
      // A number the host resolved is read with `defaultCountry`, never with the client's `country`.
      return numberOf(resolved, undefined, channel);
    } catch (error) {
      // The user's number is refused (its kind, its country, or it is no valid number): answered as an
      // unknown user's, so that the answer does not tell that this user exists.
      if (isSmsOtpError(error) && (error.code === 'INVALID_PHONE' || error.code === 'COUNTRY_NOT_ALLOWED'))
        return { key: standInKey(keys, userId), phone: undefined, refused: error };
      throw error;
    }
  }

  return function addresseeOf(recipient: Recipient, channel?: Channel): Addressee | Promise<Addressee> {
    if (recipient.phone === undefined && recipient.userId !== undefined && options.resolvePhone) {
      return userOf(recipient.userId, channel);
    }
    return numberOf(recipient.phone, recipient.country, channel);
  };
}

/** libphonenumber's region code for numbers of no country. */
const NON_GEOGRAPHIC = '001';

/**
 * How long a stand-in waits before any real delivery was timed: a real vendor call (an HTTPS request to
 * another continent) rarely takes less, so an unknown user id no longer answers in 2 ms while a known one
 * takes 250.
 */
export const STAND_IN_FLOOR_MS = 250;

/**
 * How long real deliveries take (a moving average), so that sends to unknown user ids take as long; until
 * the first real delivery is timed, `floorMs`.
 */
export class DeliveryTime {
  #averageMs = 0;
  readonly #floorMs: number;

  constructor(floorMs = STAND_IN_FLOOR_MS) {
    this.#floorMs = floorMs;
  }

  /** What a stand-in waits on average: the real deliveries' average, or the floor before there is one. */
  get expectedMs(): number {
    return this.#averageMs === 0 ? this.#floorMs : this.#averageMs;
  }

  /** Counts a real delivery that started at `startedAt` (`Date.now()`) and just ended. */
  record(startedAt: number): void {
    const ms = Date.now() - startedAt;
    this.#averageMs = this.#averageMs === 0 ? ms : this.#averageMs * 0.9 + ms * 0.1;
  }

  /** Waits about as long as a real delivery (±20 %), for a stand-in that sends nothing. */
  standIn(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.expectedMs * (0.8 + Math.random() * 0.4)));
  }
}
