/**
 * Vendor faults under load (issue 6, part 4): the real Ronglian and JPush adapters, combined with
 * `failover([...])`, talk to two fake vendors on 127.0.0.1 that answer 5xx, vendor errors in a 200, slow
 * answers and no answer at all, phase by phase, while workers send and verify.
 *
 * Proves: every send ends in a success or SEND_FAILED (nothing else, nothing hanging); a success's code
 * verifies; a failed send leaves nothing half-done (the code a vendor may still have received never
 * verifies, and the cooldown was rolled back so the user may ask again at once); the failover breaker
 * opens on a failing vendor and closes once it is back (seen through `onEvent`); the load stays bounded
 * (the fakes never hold more requests than there are workers, all promises settle).
 */
import {
  createSmsOtp,
  type FailoverEvent,
  failover,
  jpushSender,
  MemoryStore,
  ronglianSender,
} from '@sms-otp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeVendor, type Fault, startFakeVendor } from './support/fake-vendor.js';
import { outcome } from './support/outcome.js';

const VENDOR_TIMEOUT = 250;
const COOL_OFF = 250;
const WORKERS = 8;
const PHASE_MS = 700;
const MAX_SENDS = 20_000;

let primary: FakeVendor;
let secondary: FakeVendor;

beforeAll(async () => {
  primary = await startFakeVendor('ronglian', [20, 150]);
  secondary = await startFakeVendor('jpush', [20, 150]);
});

afterAll(async () => {
  await primary?.close();
  await secondary?.close();
});

/** Picks a fault from weights, deterministically from a counter (no timing-dependent randomness). */
function mix(weights: Partial<Record<Fault, number>>): () => Fault {
  const table: Fault[] = [];
  for (const [fault, weight] of Object.entries(weights) as [Fault, number][]) {
    for (let i = 0; i < weight; i += 1) table.push(fault);
  }
  let n = 0;
  return () => table[(n++ * 7) % table.length]!;
}

/** Phases: what each fake does. The primary fails first; the secondary fails too; both come back. */
const PHASES: Array<{ name: string; primary: () => Fault; secondary: () => Fault }> = [
  { name: 'healthy', primary: mix({ ok: 3, slow: 1 }), secondary: mix({ ok: 1 }) },
  {
    name: 'primary 5xx',
    primary: mix({ status5xx: 3, 'vendor-error': 1 }),
    secondary: mix({ ok: 3, slow: 1 }),
  },
  { name: 'primary silent', primary: mix({ hang: 1 }), secondary: mix({ ok: 3, slow: 1 }) },
  {
    name: 'both failing',
    primary: mix({ status5xx: 1 }),
    secondary: mix({ status5xx: 2, hang: 1, 'vendor-error': 1 }),
  },
  { name: 'secondary back', primary: mix({ status5xx: 1 }), secondary: mix({ ok: 3, slow: 1 }) },
  { name: 'all back', primary: mix({ ok: 3, slow: 1 }), secondary: mix({ ok: 1 }) },
];

describe('vendor faults under load with failover', () => {
  it('every send succeeds or fails cleanly; breakers open and close; load stays bounded', async () => {
    const events: FailoverEvent[] = [];
    const sender = failover(
      [
        ronglianSender({
          accountSid: 'fakeaccountsid0001',
          authToken: 'fakeauthtoken0001',
          appId: 'fakeapp0001',
          templateId: '1',
          baseUrl: primary.url,
          timeout: VENDOR_TIMEOUT,
        }),
        jpushSender({
          appKey: 'fakeappkey0001',
          masterSecret: 'fakemastersecret0001',
          templateId: 1,
          baseUrl: secondary.url,
          timeout: VENDOR_TIMEOUT,
        }),
      ],
      { failureThreshold: 3, coolOffMs: COOL_OFF, onEvent: (event) => events.push(event) },
    );
    const store = new MemoryStore();
    const otp = createSmsOtp({
      secret: 'reliability-vendor-secret-0123456789abcdef',
      store,
      sender,
      sendTimeout: 4 * VENDOR_TIMEOUT,
      sendLimits: { perPhoneHour: 100, perPhoneDay: 100, perIpHour: 1_000_000 },
      // Tens of thousands of sends to one country: no daily country cap (by default 100 a day).
      countryDailyLimits: { '*': 1_000_000_000 },
      // The code a vendor may have received for a failed send must not verify by phone + code alone: the
      // strictest check (with requestIds it would also need the failed send's, which no client ever got).
      requireRequestId: false,
    });

    const tally: Record<string, number> = {};
    const unexpected: string[] = [];
    let phase = PHASES[0]!.name;
    let stop = false;
    let sends = 0;
    let phoneSeq = 0;
    let undeliveredCodesTried = 0;
    let immediateResends = 0;
    const count = (key: string) => {
      tally[key] = (tally[key] ?? 0) + 1;
    };
    const codesFor = (national: string) => [
      ...(primary.codes.get(national) ?? []),
      ...(secondary.codes.get(national) ?? []),
    ];

    /** Sends to `phone`; on success verifies the delivered code. Returns the send's outcome. */
    async function sendAndCheck(phone: string, national: string): Promise<string> {
      const known = new Set(codesFor(national));
      const sent = await outcome(otp.send({ phone, ip: '198.51.100.1' }));
      sends += 1;
      count(`${phase}: send ${sent}`);
      if (sent === 'OK') {
        const code = codesFor(national).at(-1);
        const verified = await outcome(otp.verify({ phone, code: code ?? '' }));
        if (verified !== 'OK') unexpected.push(`${phase}: delivered code did not verify (${verified})`);
      } else if (sent === 'SEND_FAILED') {
        // A vendor may have received (and may still deliver) this code: it must not work.
        for (const code of codesFor(national).filter((c) => !known.has(c))) {
          undeliveredCodesTried += 1;
          const verified = await outcome(otp.verify({ phone, code }));
          if (verified !== 'CODE_EXPIRED')
            unexpected.push(`${phase}: code of a failed send gave ${verified}`);
        }
      } else {
        unexpected.push(`${phase}: send ${sent}`);
      }
      return sent;
    }

    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    async function worker() {
      while (!stop && sends < MAX_SENDS) {
        phoneSeq += 1;
        const national = `137${String(phoneSeq).padStart(8, '0')}`;
        const phone = `+86${national}`;
        if ((await sendAndCheck(phone, national)) === 'SEND_FAILED') {
          // Rolled back: the user may ask again at once (no RESEND_TOO_SOON, nothing counted).
          immediateResends += 1;
          if ((await sendAndCheck(phone, national)) === 'SEND_FAILED') await sleep(25);
        }
      }
    }

    const workers = Array.from({ length: WORKERS }, () => worker());
    const settled = Promise.allSettled(workers);
    try {
      for (const step of PHASES) {
        phase = step.name;
        primary.plan = step.primary;
        secondary.plan = step.secondary;
        await sleep(PHASE_MS);
      }
    } finally {
      stop = true;
    }
    // All workers settle within a bounded time (each send is bounded by the adapters' timeouts).
    const outcomeOfAll = await Promise.race([settled, sleep(5_000).then(() => 'timed out' as const)]);
    expect(outcomeOfAll).not.toBe('timed out');
    await store.close();

    const transitions = events
      .filter((e) => e.type === 'breaker_open' || e.type === 'breaker_closed')
      .map((e) => `${e.type}:${e.vendor}`);
    const last = (vendor: string) => transitions.filter((t) => t.endsWith(`:${vendor}`)).at(-1);
    const summary = {
      sends,
      undeliveredCodesTried,
      immediateResends,
      faults: { ronglian: primary.faults, jpush: secondary.faults },
      maxInFlight: { ronglian: primary.maxInFlight, jpush: secondary.maxInFlight },
      transitions,
      tally,
    };
    console.info(`[reliability:vendors] ${JSON.stringify(summary)}`);

    expect(unexpected.slice(0, 20)).toEqual([]);
    // The breakers opened on both vendors and closed again once each was back.
    expect(transitions).toContain('breaker_open:ronglian');
    expect(transitions).toContain('breaker_open:jpush');
    expect(last('ronglian')).toBe('breaker_closed:ronglian');
    expect(last('jpush')).toBe('breaker_closed:jpush');
    // Faults really were injected, and both kinds of outcome happened.
    expect(primary.faults.hang + secondary.faults.hang).toBeGreaterThan(0);
    expect(primary.faults.status5xx + secondary.faults.status5xx).toBeGreaterThan(10);
    expect(Object.keys(tally).some((k) => k.endsWith('send SEND_FAILED'))).toBe(true);
    expect(tally['all back: send OK'] ?? 0).toBeGreaterThan(10);
    // Bounded: one vendor request per worker at a time, nothing left hanging at the fakes.
    expect(primary.maxInFlight).toBeLessThanOrEqual(WORKERS);
    expect(secondary.maxInFlight).toBeLessThanOrEqual(WORKERS);
    await sleep(50);
    expect(primary.inFlight + secondary.inFlight).toBe(0);
  }, 30_000);
});
