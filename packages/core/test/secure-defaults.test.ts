import {
  createSmsOtp,
  handleSend,
  memorySender,
  resolveHttpOptions,
  type SmsOtp,
  type SmsOtpOptions,
} from '@sms-otp/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { admissionPlanner, countryCaps } from '../src/admission.js';
import { DeliveryTime, STAND_IN_FLOOR_MS } from '../src/engine/user-ids.js';
import { parseOptions } from '../src/options.js';
import { numberTypeOf } from '../src/phone.js';
import { codeOf, errorOf } from './support/outcomes.js';
import { ALL_KITS } from './support/store-kits.js';

const SECRET = 'secure-defaults-0123456789-abcdefghijklmnopqrstuvwxyz';
let seq = 0;
/** Fresh numbers per test and process: `+86 139 xxxx xxxx`, `+855 12 xxx xxx`. */
const base = (process.pid % 1000) * 1000;
const nextCn = () => `+86139${String(10_000_000 + base * 10 + ++seq).slice(-8)}`;
const nextKh = () => `+85512${String(100_000 + base + ++seq).slice(-6)}`;

/** Premium-rate, toll-free, shared-cost and satellite numbers, and what libphonenumber-js types them. */
const REFUSED_FOR_SMS: Array<[string, string]> = [
  ['+19005550123', 'PREMIUM_RATE'],
  ['+449090000000', 'PREMIUM_RATE'],
  ['+448712345678', 'PREMIUM_RATE'],
  ['+18005550123', 'TOLL_FREE'],
  ['+80012345678', 'TOLL_FREE'],
  ['+881612345678', 'SATELLITE'],
  ['+870773123456', 'SATELLITE'],
  ['+88216123456', 'SATELLITE'],
];
/** Real mobiles (and a NANPA number, which libphonenumber cannot tell from a landline). */
const MOBILES: Array<[string, string]> = [
  ['+8613800138000', 'MOBILE'],
  ['+12025550123', 'FIXED_LINE_OR_MOBILE'],
  ['+447400123456', 'MOBILE'],
  ['+855972345678', 'MOBILE'],
  ['+919876543210', 'MOBILE'],
];

describe('numberTypeOf', () => {
  it.each([...REFUSED_FOR_SMS, ...MOBILES, ['+442071234567', 'FIXED_LINE']])('%s is %s', (e164, type) => {
    expect(numberTypeOf(e164)).toBe(type);
  });
});

describe('country caps and windows the planner builds', () => {
  const plan = (input: SmsOtpOptions) => parseOptions({ secret: SECRET, ...input }, 'test');

  it("caps every country but the home one at 100 a day; '*' and named countries override", () => {
    const home = countryCaps(plan({ defaultCountry: 'CN' }));
    expect([home('CN'), home('US'), home('001')]).toEqual([undefined, 100, 100]);
    const none = countryCaps(plan({}));
    expect([none('CN'), none('US')]).toEqual([100, 100]);
    const given = countryCaps(plan({ defaultCountry: 'CN', countryDailyLimits: { CN: 5000, '*': 20 } }));
    expect([given('CN'), given('KH')]).toEqual([5000, 20]);
    const named = countryCaps(plan({ countryDailyLimits: { US: 7 } }));
    expect([named('US'), named('GB')]).toEqual([7, 100]);
  });

  it('adds a /48 window of 200 sends an hour for IPv6 clients, beside the /56 one', () => {
    const planner = admissionPlanner(plan({}));
    const v6 = planner.forSend(undefined, '2001:db8:1:2:3:4:5:6').buckets;
    expect(v6).toEqual([
      { id: 'ip:2001:db8:1::/56', limit: 20, windowMs: 3_600_000 },
      { id: 'ip:2001:db8:1::/48', limit: 200, windowMs: 3_600_000 },
    ]);
    expect(planner.forSend(undefined, '203.0.113.9').buckets).toHaveLength(1);
    expect(planner.forSend(undefined, '::ffff:203.0.113.9').buckets).toHaveLength(1);
    // With /48 (or wider) subnets already, no second window.
    expect(admissionPlanner(plan({ ipv6Subnet: 48 })).forSend(undefined, '2001:db8::1').buckets).toHaveLength(
      1,
    );
  });
});

describe('the daily SMS ceiling, said at start-up in production', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  /** The warnings `createSmsOtp` logs with these options. */
  function startUp(options: SmsOtpOptions): string[] {
    const warnings: string[] = [];
    createSmsOtp({
      secret: SECRET,
      sender: memorySender(),
      ...options,
      logger: { warn: (m) => warnings.push(m) },
    });
    // The ceiling's line (production also warns about the MemoryStore these engines use).
    return warnings.filter((line) => line.includes('daily SMS ceiling'));
  }

  it('names the ceiling the options imply, or "unbounded", and how to set dailyBudget, in one line', () => {
    vi.stubEnv('NODE_ENV', 'production');
    const home = startUp({ defaultCountry: 'CN' });
    expect(home).toEqual([
      'sms-otp: daily SMS ceiling: unbounded (CN has no daily cap); set dailyBudget (sends per day across all phones, e.g. dailyBudget: 5000) to bound the SMS bill.',
    ]);
    expect(startUp({ defaultCountry: 'CN', dailyBudget: 5000 })).toEqual([
      'sms-otp: daily SMS ceiling: 5000 SMS/day (dailyBudget); change dailyBudget to move it.',
    ]);
    expect(startUp({ allowedCountries: ['CN', 'KH', 'US'], blockedCountries: ['US'] })[0]).toMatch(
      /ceiling: 200 SMS\/day \(the sum of the daily country caps\); set dailyBudget/,
    );
    expect(startUp({ countryDailyLimits: { '*': 10 } })[0]).toMatch(/ceiling: \d{4} SMS\/day/);
    expect(startUp({ defaultCountry: 'CN', countryDailyLimits: { CN: 1000, '*': 1 } })[0]).toMatch(
      /ceiling: \d{4} SMS\/day/,
    );
  });

  it('says nothing outside production', () => {
    vi.stubEnv('NODE_ENV', 'test');
    expect(startUp({ defaultCountry: 'CN' })).toEqual([]);
  });

  it('counts as production whatever decision 11 names so: NODE_ENV=prod, Production, or mode', () => {
    for (const env of ['prod', 'Production']) {
      vi.stubEnv('NODE_ENV', env);
      expect(startUp({ defaultCountry: 'CN' })).toHaveLength(1);
    }
    vi.stubEnv('NODE_ENV', 'test');
    expect(startUp({ defaultCountry: 'CN', mode: 'production' })).toHaveLength(1);
  });
});

describe('the stand-in delay of unknown user ids', () => {
  it('has a floor until a real delivery was timed, then follows the deliveries', () => {
    const time = new DeliveryTime();
    expect(STAND_IN_FLOOR_MS).toBeGreaterThanOrEqual(250);
    expect(time.expectedMs).toBe(STAND_IN_FLOOR_MS);
    time.record(Date.now() - 40);
    expect(time.expectedMs).toBeGreaterThanOrEqual(40);
    expect(time.expectedMs).toBeLessThan(STAND_IN_FLOOR_MS);
  });
});

describe.each(ALL_KITS.map((make) => [make().name, make] as const))(
  'secure defaults on %s',
  (_name, makeKit) => {
    const kit = makeKit();
    const clock = { now: Date.UTC(2026, 11, 4) };
    beforeAll(() => kit.setup(), 60_000);
    afterAll(() => kit.teardown());
    // Each test on a day of its own: the country and IP windows the tests fill are shared within a store.
    beforeEach(() => {
      clock.now += 2 * 86_400_000;
    });

    function engine(overrides: Partial<SmsOtpOptions> = {}) {
      const sender = memorySender();
      const otp = createSmsOtp({
        secret: SECRET,
        store: kit.instance(),
        sender,
        defaultCountry: 'CN',
        clock: () => clock.now,
        breaker: false,
        ...overrides,
      });
      return { otp, sender };
    }

    it('refuses premium-rate, toll-free and satellite numbers (INVALID_PHONE, number_type) and sends nothing', async () => {
      const { otp, sender } = engine({ allowNonGeographic: true });
      for (const [phone, type] of REFUSED_FOR_SMS) {
        for (const channel of ['sms', 'voice'] as const) {
          const error = await errorOf(otp.send({ phone, channel }));
          expect([phone, error.code, error.details]).toEqual([
            phone,
            'INVALID_PHONE',
            { reason: 'number_type', type },
          ]);
        }
      }
      expect(sender.outbox.size).toBe(0);
    });

    it('sends to the mobiles of CN, US, GB, KH and IN; a landline only by voice', async () => {
      const { otp, sender } = engine();
      for (const [phone] of MOBILES) {
        expect([phone, await codeOf(otp.send({ phone }))]).toEqual([phone, 'OK']);
      }
      expect(sender.outbox.size).toBe(MOBILES.length);
      const landline = '+442071234567';
      expect((await errorOf(otp.send({ phone: landline }))).details).toMatchObject({ reason: 'number_type' });
      expect(await codeOf(otp.send({ phone: landline, channel: 'voice' }))).toBe('OK');
      expect(sender.outbox.last(landline)?.channel).toBe('voice');
    });

    it('numberTypes widens what each channel goes to', async () => {
      const { otp, sender } = engine({
        numberTypes: { sms: ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'FIXED_LINE', 'PREMIUM_RATE'] },
      });
      expect(await codeOf(otp.send({ phone: '+442071234568' }))).toBe('OK');
      expect(await codeOf(otp.send({ phone: '+19005550124' }))).toBe('OK');
      expect(sender.outbox.size).toBe(2);
      // Voice keeps its default.
      expect(await codeOf(otp.send({ phone: '+19005550125', channel: 'voice' }))).toBe('INVALID_PHONE');
    });

    it("blocks numbers of no country ('001') unless allowed explicitly", async () => {
      const satellite = { numberTypes: { sms: ['MOBILE' as const, 'SATELLITE' as const] } };
      const closed = engine(satellite).otp;
      const refused = await errorOf(closed.send({ phone: '+881612345670' }));
      expect([refused.code, refused.details]).toEqual(['COUNTRY_NOT_ALLOWED', { country: '001' }]);
      expect(
        await codeOf(engine({ ...satellite, allowNonGeographic: true }).otp.send({ phone: '+881612345671' })),
      ).toBe('OK');
      const named = engine({ ...satellite, allowedCountries: ['CN', '001'] }).otp;
      expect(await codeOf(named.send({ phone: '+881612345672' }))).toBe('OK');
    });

    it('caps every country but the home one at 100 sends a day', async () => {
      const { otp, sender } = engine();
      for (let i = 0; i < 100; i++) await otp.send({ phone: nextKh() });
      const capped = await errorOf(otp.send({ phone: nextKh() }));
      expect([capped.code, capped.details]).toMatchObject([
        'RATE_LIMITED',
        { scope: 'country', limit: 100, window: 86_400 },
      ]);
      for (let i = 0; i < 101; i++) await otp.send({ phone: nextCn() });
      expect(sender.outbox.size).toBe(201);
    });

    it('counts IPv6 clients per /48 too: many /56s of one site share one window', async () => {
      const { otp } = engine({ sendLimits: { perIpHour: 2, perIpv6_48Hour: 3 } });
      for (const site of ['100', '200', '300']) {
        expect(await codeOf(otp.send({ phone: nextCn(), ip: `2001:db8:7:${site}::1` }))).toBe('OK');
      }
      const full = await errorOf(otp.send({ phone: nextCn(), ip: '2001:db8:7:400::1' }));
      expect([full.code, full.details]).toMatchObject([
        'RATE_LIMITED',
        { scope: 'ip', limit: 3, window: 3600 },
      ]);
      expect(await codeOf(otp.send({ phone: nextCn(), ip: '2001:db8:8:400::1' }))).toBe('OK');
    });

    describe('sends by user id', () => {
      const routes = (otp: SmsOtp) => resolveHttpOptions(otp);
      /** Status and body of `POST /send` for a user id, the requestId left out. */
      async function answer(otp: SmsOtp, userId: string) {
        const response = await handleSend(otp, { body: { userId }, ip: '198.51.100.20' }, routes(otp));
        const body = response.body as Record<string, unknown>;
        const { requestId, ...rest } = body;
        if (response.status === 200) expect(requestId).toMatch(/^[\w-]{22}$/);
        return { status: response.status, body: rest };
      }

      it('a known and an unknown user id get the same answer, also when the known one is refused', async () => {
        const usPhone = '+12025550199';
        const premium = '+19005550199';
        const busy = nextCn();
        const capped = nextKh();
        const users: Record<string, string> = { plain: nextCn(), busy, us: usPhone, premium, capped };
        const { otp, sender } = engine({
          blockedCountries: ['US'],
          countryDailyLimits: { KH: 1 },
          resolvePhone: (id) => users[id] ?? null,
        });
        // The busy user asked for a code a moment ago; the KH cap is used up.
        await otp.send({ phone: busy });
        await otp.send({ phone: nextKh() });
        const sentBefore = sender.outbox.size;

        const unknown = await answer(otp, 'nobody');
        expect(unknown).toEqual({ status: 200, body: { sent: true, expiresIn: 300, resendIn: 60 } });
        for (const id of ['plain', 'busy', 'us', 'premium', 'capped']) {
          expect([id, await answer(otp, id)]).toEqual([id, unknown]);
        }
        // Only the plain user got a code; the refused ones got nothing.
        expect(
          sender.outbox
            .all()
            .slice(sentBefore)
            .map((m) => m.phone),
        ).toEqual([users.plain]);
        // Asked again at once: the same answer for all of them (no cooldown shows).
        for (const id of ['nobody', 'plain', 'busy'])
          expect([id, await answer(otp, id)]).toEqual([id, unknown]);
        expect(sender.outbox.size).toBe(sentBefore + 1);
      });
    });
  },
);
