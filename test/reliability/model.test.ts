/**
 * Model-based property test (issue 6, part 1): random sequences of sends, resends, verifies (right, wrong,
 * stale, malformed) and clock steps run against the real engine on MemoryStore and RedisStore, and beside
 * a small reference model written from DESIGN.md. Every outcome (error code, `retryAfter`, `attemptsLeft`)
 * must equal the model's, and a ledger built only from what the engine answered checks the invariants:
 * a code succeeds at most once, only while it is the newest for its phone+purpose, unexpired and under its
 * attempt limit, and the phone's failure ceiling is never exceeded.
 */
import {
  createSmsOtp,
  MemoryStore,
  memorySender,
  type OtpStore,
  RedisStore,
  SmsOtpError,
} from '@sms-otp/core';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../support/redis.js';

const SECRET = 'reliability-model-secret-0123456789abcdef';
const PHONES = ['+8613800138000', '+8613900139000', '+8613700137000'] as const;
const PURPOSES = ['login', 'reset-password'] as const;
const IP = '198.51.100.7';
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Small limits, so that every edge is reached within a few dozen commands. */
const LIMITS = {
  ttl: 60,
  resendCooldown: 30,
  maxAttempts: 3,
  maxFailuresPerPhone: 7,
  failureWindow: 3_600,
  hour: 4,
  day: 8,
  ipHour: 10,
};
const RUNS = 100;
const MAX_COMMANDS = 40;

// ---------------------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------------------

type Command =
  | { t: 'send'; p: number; u: number }
  /** Sends again to the pair of the last send (a user pressing "resend"), after `wait` seconds. */
  | { t: 'resend'; wait: number }
  /** `n` wrong guesses in a row on the pair of the last send (an attacker). */
  | { t: 'guesses'; n: number; delta: number }
  | { t: 'verifyRight'; p: number; u: number }
  | { t: 'verifyWrong'; p: number; u: number; delta: number }
  /** Verifies with an older code of the pair, one a newer send replaced. */
  | { t: 'verifyStale'; p: number; u: number; back: number }
  | { t: 'bad'; p: number; kind: number }
  | { t: 'tick'; seconds: number };

/** `-1` means the pair of the last send, so that commands pile up on one code as a user's would. */
const phoneIndex = fc.oneof(
  { arbitrary: fc.constant(-1), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: PHONES.length - 1 }), weight: 1 },
);
const purposeIndex = fc.integer({ min: 0, max: PURPOSES.length - 1 });
/** Clock steps from 1 s to 2 h, with the edges of ttl, cooldown and windows drawn often. */
const seconds = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 40 }), weight: 6 },
  { arbitrary: fc.constantFrom(29, 30, 31, 59, 60, 61, 3_599, 3_600, 3_601, 7_200), weight: 2 },
  { arbitrary: fc.integer({ min: 40, max: 7_200 }), weight: 1 },
);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('send' as const), p: phoneIndex, u: purposeIndex }), weight: 4 },
  {
    arbitrary: fc.record({
      t: fc.constant('resend' as const),
      wait: fc.oneof(fc.constant(0), fc.integer({ min: 25, max: 35 })),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('guesses' as const),
      n: fc.integer({ min: 1, max: 4 }),
      delta: fc.integer({ min: 1, max: 999_000 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ t: fc.constant('verifyRight' as const), p: phoneIndex, u: purposeIndex }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('verifyWrong' as const),
      p: phoneIndex,
      u: purposeIndex,
      delta: fc.integer({ min: 1, max: 999_999 }),
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('verifyStale' as const),
      p: phoneIndex,
      u: purposeIndex,
      back: fc.integer({ min: 1, max: 3 }),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ t: fc.constant('bad' as const), p: phoneIndex, kind: fc.nat(6) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('tick' as const), seconds }), weight: 3 },
);

/**
 * A hand-written sequence run before the random ones, so that every edge is reached in every run of the
 * suite: a dead code, the phone's failure ceiling across two purposes and three codes, its end, single use,
 * the hour window, a stale code, expiry and malformed input.
 */
const TOUR: Command[] = [
  { t: 'send', p: 0, u: 0 },
  { t: 'guesses', n: 3, delta: 1 },
  { t: 'verifyRight', p: -1, u: 0 },
  { t: 'send', p: 0, u: 1 },
  { t: 'guesses', n: 3, delta: 7 },
  { t: 'resend', wait: 31 },
  { t: 'guesses', n: 2, delta: 11 },
  { t: 'verifyRight', p: -1, u: 0 },
  { t: 'resend', wait: 31 },
  { t: 'tick', seconds: 3_601 },
  { t: 'send', p: 0, u: 0 },
  { t: 'verifyRight', p: -1, u: 0 },
  { t: 'verifyRight', p: -1, u: 0 },
  { t: 'resend', wait: 31 },
  { t: 'resend', wait: 0 },
  { t: 'resend', wait: 31 },
  { t: 'resend', wait: 31 },
  { t: 'resend', wait: 31 },
  { t: 'verifyStale', p: -1, u: 0, back: 1 },
  { t: 'tick', seconds: 61 },
  { t: 'verifyRight', p: -1, u: 0 },
  { t: 'bad', p: 1, kind: 0 },
  { t: 'bad', p: 1, kind: 3 },
];

// ---------------------------------------------------------------------------------------------------------
// Reference model (written from DESIGN.md, independent of the stores)
// ---------------------------------------------------------------------------------------------------------

interface Outcome {
  code: string;
  retryAfter?: number;
  attemptsLeft?: number;
}

interface ModelCode {
  code: string;
  expiresAt: number;
  attempts: number;
  cooldownUntil: number;
  used: boolean;
}

interface ModelPhone {
  codes: Map<string, ModelCode>;
  hourStart: number;
  hourCount: number;
  dayStart: number;
  dayCount: number;
  failStart: number;
  failCount: number;
}

const secondsOf = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

class Model {
  readonly phones = new Map<string, ModelPhone>();
  ip = { start: 0, count: 0 };
  /** Answers the phone's failure ceiling gave (coverage). */
  locks = 0;

  phone(phone: string): ModelPhone {
    let record = this.phones.get(phone);
    if (!record) {
      record = {
        codes: new Map(),
        hourStart: 0,
        hourCount: 0,
        dayStart: 0,
        dayCount: 0,
        failStart: 0,
        failCount: 0,
      };
      this.phones.set(phone, record);
    }
    return record;
  }

  #lockedFor(record: ModelPhone, now: number): number {
    const end = record.failStart + LIMITS.failureWindow * 1000;
    const locked = record.failCount >= LIMITS.maxFailuresPerPhone && now < end ? end - now : 0;
    if (locked > 0) this.locks += 1;
    return locked;
  }

  /** What a send should answer; `commit` stores the code the sender delivered. */
  send(phone: string, purpose: string, now: number): { outcome: Outcome; commit?: (code: string) => void } {
    // The per-IP window is counted first and uncounted when the phone's checks refuse the send.
    if (now >= this.ip.start + HOUR) this.ip = { start: now, count: 0 };
    if (this.ip.count >= LIMITS.ipHour) {
      return { outcome: { code: 'RATE_LIMITED', retryAfter: secondsOf(this.ip.start + HOUR - now) } };
    }
    const record = this.phone(phone);
    const current = record.codes.get(purpose);
    if (current && now < current.cooldownUntil) {
      return { outcome: { code: 'RESEND_TOO_SOON', retryAfter: secondsOf(current.cooldownUntil - now) } };
    }
    const locked = this.#lockedFor(record, now);
    if (locked > 0) return { outcome: { code: 'TOO_MANY_ATTEMPTS', retryAfter: secondsOf(locked) } };
    const hourStart = now >= record.hourStart + HOUR ? now : record.hourStart;
    const hourCount = now >= record.hourStart + HOUR ? 0 : record.hourCount;
    const dayStart = now >= record.dayStart + DAY ? now : record.dayStart;
    const dayCount = now >= record.dayStart + DAY ? 0 : record.dayCount;
    if (hourCount >= LIMITS.hour) {
      return { outcome: { code: 'RATE_LIMITED', retryAfter: secondsOf(hourStart + HOUR - now) } };
    }
    if (dayCount >= LIMITS.day) {
      return { outcome: { code: 'RATE_LIMITED', retryAfter: secondsOf(dayStart + DAY - now) } };
    }
    return {
      outcome: { code: 'OK' },
      commit: (code) => {
        this.ip.count += 1;
        Object.assign(record, { hourStart, hourCount: hourCount + 1, dayStart, dayCount: dayCount + 1 });
        record.codes.set(purpose, {
          code,
          expiresAt: now + LIMITS.ttl * 1000,
          attempts: 0,
          cooldownUntil: now + LIMITS.resendCooldown * 1000,
          used: false,
        });
      },
    };
  }

  verify(phone: string, purpose: string, code: string, now: number): Outcome {
    const record = this.phone(phone);
    const locked = this.#lockedFor(record, now);
    if (locked > 0) return { code: 'TOO_MANY_ATTEMPTS', retryAfter: secondsOf(locked) };
    const current = record.codes.get(purpose);
    if (!current || current.used || now >= current.expiresAt) return { code: 'CODE_EXPIRED' };
    if (current.attempts >= LIMITS.maxAttempts) {
      return { code: 'TOO_MANY_ATTEMPTS', retryAfter: secondsOf(Math.max(0, current.cooldownUntil - now)) };
    }
    if (current.code === code) {
      // A success uses the code and leaves the phone's failure count as it is (DESIGN: at most
      // maxFailuresPerPhone failed verifies per phone per window, whatever comes between them).
      current.used = true;
      return { code: 'OK' };
    }
    current.attempts += 1;
    // A failure window starts at the first failure when none is counted (none yet, or the window ended).
    if (record.failCount === 0 || now >= record.failStart + LIMITS.failureWindow * 1000) {
      record.failStart = now;
      record.failCount = 0;
    }
    record.failCount += 1;
    const attemptsLeft = Math.max(
      0,
      Math.min(LIMITS.maxAttempts - current.attempts, LIMITS.maxFailuresPerPhone - record.failCount),
    );
    return { code: 'CODE_INVALID', attemptsLeft };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Ledger: invariants checked only from what the engine answered
// ---------------------------------------------------------------------------------------------------------

interface Delivered {
  code: string;
  requestId: string;
  sentAt: number;
  wrongGuesses: number;
  successes: number;
}

class Ledger {
  /** Every delivered code per phone+purpose, oldest first. */
  readonly delivered = new Map<string, Delivered[]>();
  readonly failures = new Map<string, { start: number; count: number }>();
  maxFailuresSeen = 0;

  history(phone: string, purpose: string): Delivered[] {
    const key = `${phone} ${purpose}`;
    let list = this.delivered.get(key);
    if (!list) {
      list = [];
      this.delivered.set(key, list);
    }
    return list;
  }

  wrong(phone: string, purpose: string, now: number): void {
    const latest = this.history(phone, purpose).at(-1);
    if (latest) latest.wrongGuesses += 1;
    const window = this.failures.get(phone) ?? { start: 0, count: 0 };
    if (window.count === 0 || now >= window.start + LIMITS.failureWindow * 1000) {
      Object.assign(window, { start: now, count: 0 });
    }
    window.count += 1;
    this.failures.set(phone, window);
    this.maxFailuresSeen = Math.max(this.maxFailuresSeen, window.count);
    expect(window.count, `failure ceiling of ${phone}`).toBeLessThanOrEqual(LIMITS.maxFailuresPerPhone);
  }

  success(phone: string, purpose: string, code: string, now: number): void {
    const list = this.history(phone, purpose);
    const latest = list.at(-1);
    expect(latest, 'a success without any delivered code').toBeDefined();
    // The code that succeeded is the newest one for this phone+purpose …
    expect(latest!.code, 'only the newest code may succeed').toBe(code);
    // … used once, unexpired, under its attempt limit.
    latest!.successes += 1;
    expect(latest!.successes, 'a code succeeded twice').toBe(1);
    expect(now, 'an expired code succeeded').toBeLessThan(latest!.sentAt + LIMITS.ttl * 1000);
    expect(latest!.wrongGuesses, 'a code past its attempt limit succeeded').toBeLessThan(LIMITS.maxAttempts);
    // A success leaves the phone's failure window as it is: the ceiling counts across successes.
  }
}

// ---------------------------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------------------------

interface Totals {
  runs: number;
  commands: number;
  byOutcome: Record<string, number>;
  badInputs: number;
  staleCodes: number;
  maxFailuresSeen: number;
  ceilingHits: number;
}

function newTotals(): Totals {
  return {
    runs: 0,
    commands: 0,
    byOutcome: {},
    badInputs: 0,
    staleCodes: 0,
    maxFailuresSeen: 0,
    ceilingHits: 0,
  };
}

async function outcomeOf(promise: Promise<unknown>): Promise<Outcome> {
  try {
    await promise;
    return { code: 'OK' };
  } catch (error) {
    if (!(error instanceof SmsOtpError)) throw error;
    const outcome: Outcome = { code: error.code };
    if (typeof error.details.retryAfter === 'number') outcome.retryAfter = error.details.retryAfter;
    if (typeof error.details.attemptsLeft === 'number') outcome.attemptsLeft = error.details.attemptsLeft;
    return outcome;
  }
}

/** Malformed inputs: none may change state, succeed, or give anything but its 4xx error. */
const BAD_INPUTS: Array<{ input: (phone: string) => Record<string, unknown>; code: string; send: boolean }> =
  [
    { input: (phone) => ({ phone, purpose: 'login', code: '12a456' }), code: 'INVALID_REQUEST', send: false },
    { input: (phone) => ({ phone, purpose: 'login', code: '' }), code: 'INVALID_REQUEST', send: false },
    { input: (phone) => ({ phone, purpose: 'login', code: 12_345 }), code: 'INVALID_REQUEST', send: false },
    {
      input: () => ({ phone: '+86123', purpose: 'login', code: '123456' }),
      code: 'INVALID_PHONE',
      send: true,
    },
    { input: (phone) => ({ phone: `${phone}0000`, code: '123456' }), code: 'INVALID_PHONE', send: true },
    { input: (phone) => ({ phone, purpose: 'admin', code: '123456' }), code: 'UNKNOWN_PURPOSE', send: true },
    { input: () => ({ phone: '', purpose: 'login', code: '123456' }), code: 'INVALID_REQUEST', send: true },
  ];

async function runSequence(commands: Command[], makeStore: () => Promise<OtpStore>, totals: Totals) {
  const clock = { now: Date.UTC(2026, 2, 1, 8) };
  const sender = memorySender();
  const otp = createSmsOtp({
    secret: SECRET,
    store: await makeStore(),
    sender,
    purposes: [...PURPOSES],
    ttl: LIMITS.ttl,
    resendCooldown: LIMITS.resendCooldown,
    maxAttempts: LIMITS.maxAttempts,
    maxFailuresPerPhone: LIMITS.maxFailuresPerPhone,
    failureWindow: LIMITS.failureWindow,
    sendLimits: { perPhoneHour: LIMITS.hour, perPhoneDay: LIMITS.day, perIpHour: LIMITS.ipHour },
    clock: () => clock.now,
  });
  const model = new Model();
  const ledger = new Ledger();
  let lastPair: [string, string] = [PHONES[0], PURPOSES[0]];
  const pairOf = ({ p, u }: { p: number; u: number }): [string, string] =>
    p < 0 ? lastPair : [PHONES[p]!, PURPOSES[u]!];
  const count = (code: string) => {
    totals.byOutcome[code] = (totals.byOutcome[code] ?? 0) + 1;
  };

  for (const [step, command] of commands.entries()) {
    const where = `step ${step} ${JSON.stringify(command)}`;
    totals.commands += 1;
    if (command.t === 'tick') {
      clock.now += command.seconds * 1000;
      continue;
    }
    if (command.t === 'guesses') {
      const [phone, purpose] = lastPair;
      const latest = ledger.history(phone, purpose).at(-1)?.code ?? '000000';
      for (let i = 0; i < command.n; i += 1) {
        const code = String((Number(latest) + command.delta + i) % 1_000_000).padStart(6, '0');
        const expected = model.verify(phone, purpose, code, clock.now);
        const actual = await outcomeOf(otp.verify({ phone, purpose, code }));
        count(`verifyWrong:${actual.code}`);
        expect(actual, `${where} guess ${i}`).toEqual(expected);
        if (actual.code === 'CODE_INVALID') ledger.wrong(phone, purpose, clock.now);
        expect(actual.code, `${where}: a wrong code succeeded`).not.toBe('OK');
      }
      continue;
    }
    if (command.t === 'send' || command.t === 'resend') {
      if (command.t === 'resend') clock.now += command.wait * 1000;
      const [phone, purpose] = command.t === 'send' ? pairOf(command) : lastPair;
      lastPair = [phone, purpose];
      const before = sender.outbox.size;
      const expected = model.send(phone, purpose, clock.now);
      const actual = await outcomeOf(otp.send({ phone, purpose, ip: IP }));
      count(`send:${actual.code}`);
      expect(actual, where).toEqual(expected.outcome);
      if (actual.code === 'OK') {
        expect(sender.outbox.size, `${where}: one message per accepted send`).toBe(before + 1);
        const message = sender.outbox.last(phone)!;
        expect(message.purpose).toBe(purpose);
        expected.commit!(message.code);
        ledger.history(phone, purpose).push({
          code: message.code,
          requestId: message.requestId,
          sentAt: clock.now,
          wrongGuesses: 0,
          successes: 0,
        });
      } else {
        expect(sender.outbox.size, `${where}: a refused send delivers nothing`).toBe(before);
      }
      continue;
    }
    if (command.t === 'bad') {
      const bad = BAD_INPUTS[command.kind % BAD_INPUTS.length]!;
      const input = bad.input(pairOf({ p: command.p, u: 0 })[0]) as { phone: string; code: string };
      const before = sender.outbox.size;
      totals.badInputs += 1;
      const verified = await outcomeOf(otp.verify(input));
      count(`bad:${verified.code}`);
      expect(verified, `${where}: verify`).toEqual({ code: bad.code });
      if (bad.send) {
        totals.badInputs += 1;
        expect(await outcomeOf(otp.send({ ...input, ip: IP })), `${where}: send`).toEqual({ code: bad.code });
      }
      expect(sender.outbox.size, `${where}: a bad input delivers nothing`).toBe(before);
      continue;
    }

    const [phone, purpose] = pairOf(command);
    const history = ledger.history(phone, purpose);
    let code: string;
    if (command.t === 'verifyRight') {
      code = history.at(-1)?.code ?? '000000';
    } else if (command.t === 'verifyStale') {
      const stale = history.at(-1 - command.back);
      code = stale?.code ?? history[0]?.code ?? '000000';
      totals.staleCodes += 1;
    } else {
      const latest = history.at(-1)?.code ?? '000000';
      code = String((Number(latest) + command.delta) % 1_000_000).padStart(6, '0');
    }
    const expected = model.verify(phone, purpose, code, clock.now);
    const actual = await outcomeOf(otp.verify({ phone, purpose, code }));
    count(`${command.t}:${actual.code}`);
    expect(actual, where).toEqual(expected);
    if (actual.code === 'OK') ledger.success(phone, purpose, code, clock.now);
    if (actual.code === 'CODE_INVALID') ledger.wrong(phone, purpose, clock.now);
  }
  totals.runs += 1;
  totals.maxFailuresSeen = Math.max(totals.maxFailuresSeen, ledger.maxFailuresSeen);
  totals.ceilingHits += model.locks;
  await otp.close();
}

// ---------------------------------------------------------------------------------------------------------
// Suites
// ---------------------------------------------------------------------------------------------------------

let redis: RedisServer;
let client: Redis;
const memoryStores: MemoryStore[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = redis.client({ maxRetriesPerRequest: 1 });
}, 30_000);

afterAll(async () => {
  for (const store of memoryStores) await store.close();
  await redis?.stop();
});

const STORES: Array<[string, () => Promise<OtpStore>]> = [
  [
    'MemoryStore',
    async () => {
      const store = new MemoryStore();
      memoryStores.push(store);
      return store;
    },
  ],
  [
    'RedisStore',
    async () => {
      await client.flushdb();
      return new RedisStore({ client, prefix: 'model:' });
    },
  ],
];

describe.each(STORES)('model-based run on %s', (name, makeStore) => {
  it(`${RUNS} random sequences of up to ${MAX_COMMANDS} commands match the reference model`, async () => {
    const totals = newTotals();
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 1, maxLength: MAX_COMMANDS, size: 'max' }),
        (commands) => runSequence(commands, makeStore, totals),
      ),
      { numRuns: RUNS, examples: [[TOUR]], interruptAfterTimeLimit: 20_000, markInterruptAsFailure: true },
    );
    console.info(`[reliability:model] ${name} ${JSON.stringify(totals)}`);
    // The sequences reached the edges the limits guard (otherwise the test would prove little).
    for (const outcome of [
      'send:OK',
      'send:RESEND_TOO_SOON',
      'send:RATE_LIMITED',
      'verifyRight:OK',
      'verifyRight:CODE_EXPIRED',
      'verifyWrong:CODE_INVALID',
      'verifyWrong:TOO_MANY_ATTEMPTS',
    ]) {
      expect(totals.byOutcome[outcome] ?? 0, `${name}: no ${outcome} in ${RUNS} runs`).toBeGreaterThan(0);
    }
    expect(totals.ceilingHits, `${name}: the failure ceiling was never reached`).toBeGreaterThan(0);
  }, 60_000);
});
