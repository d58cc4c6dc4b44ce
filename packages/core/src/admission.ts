import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { getCountries } from 'libphonenumber-js';
import { DEFAULT_COUNTRY_DAILY_LIMIT, type ResolvedOptions } from './options.js';
import type { BreakerSpec, Bucket } from './stores/types.js';
import { DAY_MS, HOUR_MS } from './time.js';

/** The shared windows and breakers one send passes through, built from the options once. */
export interface Admission {
  buckets: Bucket[];
  breakers: BreakerSpec[];
  /** The client's subnet, counted among the breakers' distinct subnets (absent without an address). */
  subnet?: string;
}

/**
 * Builds, for each send, the list of windows (per IP, per country per day, the global daily budget) and
 * conversion breakers (per country, per number prefix) that the store checks and counts in one step.
 */
export function admissionPlanner(options: ResolvedOptions) {
  const adaptive = options.captcha.policy === 'adaptive';
  const breaker = options.breaker === false ? undefined : options.breaker;
  const breakerBase = breaker && {
    windowMs: breaker.window * 1000,
    minVolume: breaker.minVolume,
    threshold: breaker.threshold,
    coolOffMs: breaker.coolOff * 1000,
    block: breaker.action === 'block',
    minSubnets: breaker.minSubnets,
  };
  /** A breaker spec, spelled out rather than spread: two are built on every send. */
  const breakerSpec = (id: string, base: NonNullable<typeof breakerBase>): BreakerSpec => ({
    id,
    windowMs: base.windowMs,
    minVolume: base.minVolume,
    threshold: base.threshold,
    coolOffMs: base.coolOffMs,
    block: base.block,
    minSubnets: base.minSubnets,
  });

  /** The number prefix a breaker watches: sequential-number pumping stays inside one. */
  const prefixOf = (e164: string) =>
    breaker?.prefixDigits !== undefined
      ? e164.slice(0, 1 + breaker.prefixDigits)
      : e164.slice(0, Math.max(4, e164.length - 4));

  /** The conversion breakers of a phone: its country's and its number prefix's. */
  const breakersOf = (phone: { e164: string; country: string | undefined }): BreakerSpec[] => {
    if (!breakerBase) return [];
    const breakers: BreakerSpec[] = [];
    breakers.push(breakerSpec(`breaker:country:${regionOf(phone)}`, breakerBase));
    breakers.push(breakerSpec(`breaker:prefix:${prefixOf(phone.e164)}`, breakerBase));
    return breakers;
  };

  const ipv6Subnet = options.ipv6Subnet;
  const countryCap = countryCaps(options);

  return {
    /** Windows and breakers for a send to `phone` (undefined for an unknown user id) from `ip`. */
    forSend(
      phone: { e164: string; country: string | undefined } | undefined,
      ip: string | undefined,
    ): Admission {
      const buckets: Bucket[] = [];
      if (ip) {
        const bucket: Bucket = {
          id: `ip:${ipWindowKey(ip, ipv6Subnet)}`,
          limit: options.sendLimits.perIpHour,
          windowMs: HOUR_MS,
        };
        if (adaptive) bucket.captchaAfter = options.captcha.afterSendsPerIp;
        buckets.push(bucket);
        // One site's /48 holds 256 /56s, each with a window of its own: the /48 has one more, wider one.
        if (ipv6Subnet > 48 && !isIPv4(ip)) {
          const site = ipWindowKey(ip, 48);
          if (site.endsWith('/48'))
            buckets.push({ id: `ip:${site}`, limit: options.sendLimits.perIpv6_48Hour, windowMs: HOUR_MS });
        }
      }
      const country = phone && regionOf(phone);
      const countryLimit = country ? countryCap(country) : undefined;
      if (country && countryLimit !== undefined)
        buckets.push({ id: `country:${country}`, limit: countryLimit, windowMs: DAY_MS });
      if (options.dailyBudget !== undefined)
        buckets.push({ id: 'global', limit: options.dailyBudget, windowMs: DAY_MS });
      const admission: Admission = { buckets, breakers: phone ? breakersOf(phone) : [] };
      if (ip) admission.subnet = subnetOf(ip);
      return admission;
    },
    /** The breakers a verified code of `phone` counts in: the same ones its send counted in. */
    forVerify: breakersOf,
    /** The client's window of failed verifies; `undefined` without an address. */
    verifyWindow(ip: string | undefined): Bucket | undefined {
      if (!ip) return undefined;
      return {
        id: `verify-ip:${ipWindowKey(ip, ipv6Subnet)}`,
        limit: options.verifyLimits.perIpHour,
        windowMs: HOUR_MS,
      };
    },
    /** Windows for asking for a built-in captcha image. */
    forCaptcha(ip: string | undefined): Admission {
      return {
        buckets: ip
          ? [
              {
                id: `captcha-ip:${ipWindowKey(ip, ipv6Subnet)}`,
                limit: options.captcha.perIpHour,
                windowMs: HOUR_MS,
              },
            ]
          : [],
        breakers: [],
      };
    },
  };
}

/**
 * The region a number's country windows, caps and breakers use: its ISO country, or `001` for the numbers of
 * no country (+800, +808, +870, +881, +882, +883, +888, +979: satellite, international networks), as
 * libphonenumber names that region. Without it those numbers, a classic destination of SMS fraud, would
 * escape every country cap, the `'*'` cap and the country breaker.
 */
export function regionOf(phone: { country: string | undefined }): string {
  return phone.country ?? NON_GEOGRAPHIC;
}

/**
 * The daily cap of each region's sends: its own in `countryDailyLimits`, else none for the home country
 * (`defaultCountry`), else `'*'`, which is 100 unless given.
 */
export function countryCaps(
  options: Pick<ResolvedOptions, 'countryDailyLimits' | 'defaultCountry'>,
): (region: string) => number | undefined {
  const caps: Record<string, number> = options.countryDailyLimits ?? {};
  const rest = caps['*'] ?? DEFAULT_COUNTRY_DAILY_LIMIT;
  const home = options.defaultCountry;
  return (region) => caps[region] ?? (region === home ? undefined : rest);
}

/**
 * The most SMS a day the options let through: `dailyBudget`, or the sum of the daily caps of every region
 * numbers are accepted from (`Infinity` when one is uncapped, as the home country is by default). The
 * per-IP windows bound no total: addresses are many.
 */
export function dailyCeiling(options: ResolvedOptions): { limit: number; by: string } {
  const caps = countryCaps(options);
  const blocked = new Set<string>(options.blockedCountries ?? []);
  const regions = options.allowedCountries ?? [
    ...getCountries(),
    ...(options.allowNonGeographic ? [NON_GEOGRAPHIC] : []),
  ];
  let sum = 0;
  let uncapped: string | undefined;
  for (const region of new Set(regions)) {
    if (blocked.has(region)) continue;
    const cap = caps(region);
    if (cap === undefined) uncapped ??= region;
    else sum += cap;
  }
  const byCountries = uncapped
    ? { limit: Number.POSITIVE_INFINITY, by: `${uncapped} has no daily cap` }
    : { limit: sum, by: 'the sum of the daily country caps' };
  if (options.dailyBudget !== undefined && options.dailyBudget <= byCountries.limit)
    return { limit: options.dailyBudget, by: 'dailyBudget' };
  return byCountries;
}

/** The start-up line that names the daily SMS ceiling (in production). */
export function ceilingWarning(options: ResolvedOptions): string {
  const { limit, by } = dailyCeiling(options);
  const ceiling = Number.isFinite(limit) ? `${limit} SMS/day (${by})` : `unbounded (${by})`;
  const hint =
    by === 'dailyBudget'
      ? 'change dailyBudget to move it'
      : 'set dailyBudget (sends per day across all phones, e.g. dailyBudget: 5000) to bound the SMS bill';
  return `sms-otp: daily SMS ceiling: ${ceiling}; ${hint}.`;
}

/** libphonenumber's region code for numbers of no country. */
const NON_GEOGRAPHIC = '001';

/**
 * What a client address is counted under in the per-IP windows: an IPv4 address as it is (an IPv4-mapped IPv6
 * address as its IPv4 one); an IPv6 address by its first `subnet` bits, since one subscriber is given a whole
 * /64 or /56 and could otherwise open a window per address; anything else as the host gave it.
 */
export function ipWindowKey(ip: string, subnet: number): string {
  if (isIPv4(ip)) return ip;
  if (!ipaddr.IPv6.isValid(ip)) return ip;
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  const parts = (address as ipaddr.IPv6).parts.map((part, i) => {
    const keep = Math.min(16, Math.max(0, subnet - i * 16));
    return keep === 16 ? part : keep === 0 ? 0 : part & (0xffff << (16 - keep));
  });
  return `${new ipaddr.IPv6(parts).toRFC5952String()}/${subnet}`;
}

/**
 * The subnet a breaker counts a client under: an IPv4 address's /24, an IPv6 address's /48 (one site's usual
 * allocation), so that one network cannot pass for many.
 */
export function subnetOf(ip: string): string {
  const key = ipWindowKey(ip, 48);
  if (!isIPv4(key)) return key;
  return `${key.slice(0, key.lastIndexOf('.'))}.0/24`;
}
