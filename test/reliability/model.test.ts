/**
 * Model-based property test (issue 6, part 1): random sequences of sends, resends, verifies (right, wrong,
 * stale, naming another send, malformed), with and without a solved captcha, and clock steps run against the
 * real engine on MemoryStore and RedisStore, and beside a small reference model written from DESIGN.md (with
 * its decisions of 2026-12-04: a verify bound to its send's requestId, a captcha past `maxFailuresPerPhone`
 * and past a full send window up to twice its size, the lock only at `lockAfterFailures`, the per-IP window
 * of failed verifies). Every outcome (error code, `retryAfter`, `attemptsLeft`) must equal the model's, and a
 * ledger built only from what the engine answered checks the invariants: a code succeeds at most once, only
 * with its own send's requestId, while it is the newest for its phone+purpose, unexpired and under its
 * attempt limit, and the phone's hard failure ceiling is never exceeded.
 */
import {
  type CaptchaVerifier,
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
  /** Failures past which the phone's sends and verifies need a captcha. */
  maxFailuresPerPhone: 5,
  /** Failures at which they are refused. */
  lockAfterFailures: 9,
  failureWindow: 3_600,
  hour: 3,
  day: 5,
  ipHour: 14,
  /** Failed verifies per IP and hour. */
  verifyIpHour: 24,
};
/** The captcha answer the test's verifier takes (the model only needs to know whether one was solved). */
const RIGHT = 'RIGHT';
const captchaVerifier: CaptchaVerifier = { name: 'model', verify: async ({ token }) => token === RIGHT };
const RUNS = 100;
/** A requestId no send answered. */
const NO_SEND = 'no-such-send';
const MAX_COMMANDS = 40;

// ---------------------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------------------

/**
 * `c`: the command comes with a solved captcha. Verifies name the pair's newest send (its requestId) unless
 * said otherwise.
 */
type Command =
  | { t: 'send'; p: number; u: number; c: boolean }
  /** Sends again to the pair of the last send (a user pressing "resend"), after `wait` seconds. */
  | { t: 'resend'; wait: number; c: boolean }
  /** `n` wrong guesses in a row on the pair of the last send (an attacker who saw its requestId). */
  | { t: 'guesses'; n: number; delta: number; c: boolean }
  | { t: 'verifyRight'; p: number; u: number; c: boolean }
  | { t: 'verifyWrong'; p: number; u: number; delta: number; c: boolean }
  /** Verifies with an older code of the pair and its own send's requestId, one a newer send replaced. */
  | { t: 'verifyStale'; p: number; u: number; back: number; c: boolean }
  /**
   * The pair's newest code with another send's requestId (`other` picks one of every send so far; past the
   * end, a requestId no send answered): someone who knows the number but not the send.
   */
  | { t: 'verifyOther'; p: number; u: number; other: number; c: boolean }
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
/** A solved captcha on about one command in three. */
const captcha = fc.oneof(
  { arbitrary: fc.constant(false), weight: 2 },
  { arbitrary: fc.constant(true), weight: 1 },
);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    arbitrary: fc.record({ t: fc.constant('send' as const), p: phoneIndex, u: purposeIndex, c: captcha }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('resend' as const),
      wait: fc.oneof(fc.constant(0), fc.integer({ min: 25, max: 35 })),
      c: captcha,
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('guesses' as const),
      n: fc.integer({ min: 1, max: 4 }),
      delta: fc.integer({ min: 1, max: 999_000 }),
      c: captcha,
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('verifyRight' as const),
      p: phoneIndex,
      u: purposeIndex,
      c: captcha,
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('verifyWrong' as const),
      p: phoneIndex,
      u: purposeIndex,
      delta: fc.integer({ min: 1, max: 999_999 }),
      c: captcha,
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('verifyStale' as const),
      p: phoneIndex,
      u: purposeIndex,
      back: fc.integer({ min: 1, max: 3 }),
      c: captcha,
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('verifyOther' as const),
      p: phoneIndex,
      u: purposeIndex,
      other: fc.nat(12),
      c: captcha,
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ t: fc.constant('bad' as const), p: phoneIndex, kind: fc.nat(7) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('tick' as const), seconds }), weight: 3 },
);

/**
 * A hand-written sequence run before the random ones, so that every edge is reached in every run of the
 * suite: a dead code, the captcha past the phone's soft failure ceiling (verify and send), a solved one, a
 * verify naming another send or none, a stale code with its own requestId, the hard ceiling and its end, the
 * per-IP window of failed verifies, single use, a full hour window asking for a captcha up to twice its size,
 * expiry and malformed input.
 */
const TOUR: Command[] = [
  { t: 'send', p: 0, u: 0, c: false },
  { t: 'guesses', n: 3, delta: 1, c: false },
  { t: 'verifyRight', p: -1, u: 0, c: false },
  { t: 'send', p: 0, u: 1, c: false },
  { t: 'guesses', n: 2, delta: 7, c: false },
  { t: 'verifyRight', p: -1, u: 0, c: false },
  { t: 'verifyRight', p: -1, u: 0, c: true },
  { t: 'verifyOther', p: -1, u: 0, other: 0, c: true },
  { t: 'verifyOther', p: -1, u: 0, other: 12, c: true },
  { t: 'resend', wait: 31, c: false },
  { t: 'resend', wait: 0, c: true },
  { t: 'verifyStale', p: -1, u: 0, back: 1, c: true },
  { t: 'guesses', n: 4, delta: 11, c: true },
  { t: 'resend', wait: 31, c: true },
  { t: 'guesses', n: 2, delta: 13, c: true },
  { t: 'resend', wait: 31, c: true },
  { t: 'guesses', n: 4, delta: 17, c: true },
  { t: 'guesses', n: 4, delta: 19, c: false },
  { t: 'guesses', n: 4, delta: 23, c: true },
  { t: 'tick', seconds: 3_601 },
  { t: 'send', p: 1, u: 0, c: false },
  { t: 'verifyRight', p: -1, u: 0, c: false },
  { t: 'verifyRight', p: -1, u: 0, c: false },
  { t: 'resend', wait: 31, c: false },
  { t: 'resend', wait: 31, c: false },
  { t: 'resend', wait: 31, c: false },
  { t: 'resend', wait: 0, c: true },
  { t: 'resend', wait: 31, c: true },
  { t: 'resend', wait: 31, c: true },
  { t: 'resend', wait: 31, c: true },
  { t: 'tick', seconds: 61 },
  { t: 'verifyRight', p: -1, u: 0, c: false },
  { t: 'bad', p: 1, kind: 0 },
  { t: 'bad', p: 1, kind: 1 },
  { t: 'bad', p: 1, kind: 4 },
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
  /** The requestId of the send that made it: a verify must name it. */
  requestId: string;
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

/** A fixed window starting at its first count after the last one ended. */
interface ModelWindow {
  start: number;
  count: number;
}

const secondsOf = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

class Model {
  readonly phones = new Map<string, ModelPhone>();
  ip: ModelWindow = { start: 0, count: 0 };
  /** The client's failed verifies. */
  verifyIp: ModelWindow = { start: 0, count: 0 };
  /** Answers the phone's hard failure ceiling gave (coverage). */
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

  /** The phone's failures in a window still running (0 when none runs). */
  #failures(record: ModelPhone, now: number): number {
    return now < record.failStart + LIMITS.failureWindow * 1000 ? record.failCount : 0;
  }

  /** `TOO_MANY_ATTEMPTS` at the hard ceiling, `CAPTCHA_REQUIRED` past the soft one without a captcha. */
  #ceiling(record: ModelPhone, now: number, captcha: boolean): Outcome | undefined {
    const failures = this.#failures(record, now);
    if (failures >= LIMITS.lockAfterFailures) {
      this.locks += 1;
      const end = record.failStart + LIMITS.failureWindow * 1000;
      return { code: 'TOO_MANY_ATTEMPTS', retryAfter: secondsOf(end - now) };
    }
    if (failures >= LIMITS.maxFailuresPerPhone && !captcha) return { code: 'CAPTCHA_REQUIRED' };
    return undefined;
  }

  /**
   * A full send window asks for a captcha until it holds twice its limit, then refuses until it ends.
   * `undefined`: the window lets the send through.
   */
  #window(count: number, limit: number, end: number, now: number, captcha: boolean): Outcome | undefined {
    if (count < limit) return undefined;
    if (count >= 2 * limit) return { code: 'RATE_LIMITED', retryAfter: secondsOf(end - now) };
    return captcha ? undefined : { code: 'CAPTCHA_REQUIRED' };
  }

  /** What a send should answer; `commit` stores the code the sender delivered. */
  send(
    phone: string,
    purpose: string,
    now: number,
    captcha: boolean,
  ): { outcome: Outcome; commit?: (code: string, requestId: string) => void } {
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
    const ceiling = this.#ceiling(record, now, captcha);
    if (ceiling) return { outcome: ceiling };
    const hourStart = now >= record.hourStart + HOUR ? now : record.hourStart;
    const hourCount = now >= record.hourStart + HOUR ? 0 : record.hourCount;
    const dayStart = now >= record.dayStart + DAY ? now : record.dayStart;
    const dayCount = now >= record.dayStart + DAY ? 0 : record.dayCount;
    const full =
      this.#window(hourCount, LIMITS.hour, hourStart + HOUR, now, captcha) ??
      this.#window(dayCount, LIMITS.day, dayStart + DAY, now, captcha);
    if (full) return { outcome: full };
    return {
      outcome: { code: 'OK' },
      commit: (code, requestId) => {
        this.ip.count += 1;
        Object.assign(record, { hourStart, hourCount: hourCount + 1, dayStart, dayCount: dayCount + 1 });
        record.codes.set(purpose, {
          code,
          requestId,
          expiresAt: now + LIMITS.ttl * 1000,
          attempts: 0,
          cooldownUntil: now + LIMITS.resendCooldown * 1000,
          used: false,
        });
      },
    };
  }

  verify(
    phone: string,
    purpose: string,
    code: string,
    requestId: string,
    now: number,
    captcha: boolean,
  ): Outcome {
    // The client's window of failed verifies: full, it refuses counting nothing.
    const ipLive = this.verifyIp.count > 0 && now < this.verifyIp.start + HOUR;
    if (ipLive && this.verifyIp.count >= LIMITS.verifyIpHour) {
      return { code: 'RATE_LIMITED', retryAfter: secondsOf(this.verifyIp.start + HOUR - now) };
    }
    const outcome = this.#verify(phone, purpose, code, requestId, now, captcha);
    // Every answer but a success counts one failed verify there.
    if (outcome.code !== 'OK') {
      if (!ipLive) this.verifyIp = { start: now, count: 0 };
      this.verifyIp.count += 1;
    }
    return outcome;
  }

  #verify(
    phone: string,
    purpose: string,
    code: string,
    requestId: string,
    now: number,
    captcha: boolean,
  ): Outcome {
    const record = this.phone(phone);
    const ceiling = this.#ceiling(record, now, captcha);
    if (ceiling) return ceiling;
    const current = record.codes.get(purpose);
    // Another send's requestId, or none pending: every attempt left, nothing counted against code or phone.
    if (!current || current.requestId !== requestId) {
      return { code: 'CODE_INVALID', attemptsLeft: LIMITS.maxAttempts };
    }
    if (current.used || now >= current.expiresAt) return { code: 'CODE_EXPIRED' };
    if (current.attempts >= LIMITS.maxAttempts) {
      return { code: 'TOO_MANY_ATTEMPTS', retryAfter: secondsOf(Math.max(0, current.cooldownUntil - now)) };
    }
    if (current.code === code) {
      // A success uses the code and leaves the phone's failure count as it is (DESIGN: at most
      // lockAfterFailures failed verifies per phone per window, whatever comes between them).
      current.used = true;
      return { code: 'OK' };
    }
    current.attempts += 1;
    // A failure window starts at the first failure when none is counted (none yet, or the window ended).
    if (this.#failures(record, now) === 0) {
      record.failStart = now;
      record.failCount = 0;
    }
    record.failCount += 1;
    const attemptsLeft = Math.max(
      0,
      Math.min(LIMITS.maxAttempts - current.attempts, LIMITS.lockAfterFailures - record.failCount),
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

  /** A CODE_INVALID for a verify naming the pair's newest send (`requestId`); any other costs nothing. */
  wrong(phone: string, purpose: string, requestId: string, now: number): void {
    const latest = this.history(phone, purpose).at(-1);
    if (latest?.requestId !== requestId) return;
    latest.wrongGuesses += 1;
    const window = this.failures.get(phone) ?? { start: 0, count: 0 };
    if (window.count === 0 || now >= window.start + LIMITS.failureWindow * 1000) {
      Object.assign(window, { start: now, count: 0 });
    }
    window.count += 1;
    this.failures.set(phone, window);
    this.maxFailuresSeen = Math.max(this.maxFailuresSeen, window.count);
    expect(window.count, `failure ceiling of ${phone}`).toBeLessThanOrEqual(LIMITS.lockAfterFailures);
  }

  success(phone: string, purpose: string, code: string, requestId: string, now: number): void {
    const list = this.history(phone, purpose);
    const latest = list.at(-1);
    expect(latest, 'a success without any delivered code').toBeDefined();
    // The code that succeeded is the newest one for this phone+purpose, named by its own send …
    expect(latest!.code, 'only the newest code may succeed').toBe(code);
    expect(latest!.requestId, "a code succeeded with another send's requestId").toBe(requestId);
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
  otherSends: number;
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
    otherSends: 0,
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

/**
 * Malformed inputs: none may change state, succeed, or give anything but its 4xx error. (Verifies carry a
 * requestId, so that each tests what it names; the last one lacks it.)
 */
const BAD_INPUTS: Array<{ input: (phone: string) => Record<string, unknown>; code: string; send: boolean }> =
  [
    { input: (phone) => ({ phone, purpose: 'login', code: '123456' }), code: 'INVALID_REQUEST', send: false },
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
    lockAfterFailures: LIMITS.lockAfterFailures,
    failureWindow: LIMITS.failureWindow,
    sendLimits: { perPhoneHour: LIMITS.hour, perPhoneDay: LIMITS.day, perIpHour: LIMITS.ipHour },
    verifyLimits: { perIpHour: LIMITS.verifyIpHour },
    // Captchas only where the phone's record asks for one (failures, full send windows).
    captcha: { policy: 'never', verifier: captchaVerifier },
    clock: () => clock.now,
  });
  /** Every requestId a send answered, oldest first. */
  const requestIds: string[] = [];
  const solved = (c: boolean) => (c ? { captcha: RIGHT } : {});
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
      const latest = ledger.history(phone, purpose).at(-1);
      const requestId = latest?.requestId ?? NO_SEND;
      for (let i = 0; i < command.n; i += 1) {
        const code = String((Number(latest?.code ?? '000000') + command.delta + i) % 1_000_000).padStart(
          6,
          '0',
        );
        const expected = model.verify(phone, purpose, code, requestId, clock.now, command.c);
        const actual = await outcomeOf(
          otp.verify({ phone, purpose, code, requestId, ip: IP, ...solved(command.c) }),
        );
        count(`verifyWrong:${actual.code}`);
        expect(actual, `${where} guess ${i}`).toEqual(expected);
        if (actual.code === 'CODE_INVALID') ledger.wrong(phone, purpose, requestId, clock.now);
        expect(actual.code, `${where}: a wrong code succeeded`).not.toBe('OK');
      }
      continue;
    }
    if (command.t === 'send' || command.t === 'resend') {
      if (command.t === 'resend') clock.now += command.wait * 1000;
      const [phone, purpose] = command.t === 'send' ? pairOf(command) : lastPair;
      lastPair = [phone, purpose];
      const before = sender.outbox.size;
      const expected = model.send(phone, purpose, clock.now, command.c);
      let answered: string | undefined;
      const actual = await outcomeOf(
        otp.send({ phone, purpose, ip: IP, ...solved(command.c) }).then((sent) => {
          answered = sent.requestId;
        }),
      );
      count(`send:${actual.code}`);
      expect(actual, where).toEqual(expected.outcome);
      if (actual.code === 'OK') {
        expect(sender.outbox.size, `${where}: one message per accepted send`).toBe(before + 1);
        const message = sender.outbox.last(phone)!;
        expect(message.purpose).toBe(purpose);
        expect(message.requestId, `${where}: the requestId answered is the message's`).toBe(answered);
        expected.commit!(message.code, message.requestId);
        requestIds.push(message.requestId);
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
      const requestId = bad === BAD_INPUTS[0] ? {} : { requestId: requestIds.at(-1) ?? NO_SEND };
      const verified = await outcomeOf(otp.verify({ ...input, ...requestId, ip: IP }));
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
    const latest = history.at(-1);
    let code: string;
    let requestId = latest?.requestId ?? NO_SEND;
    if (command.t === 'verifyRight') {
      code = latest?.code ?? '000000';
    } else if (command.t === 'verifyStale') {
      const stale = history.at(-1 - command.back) ?? history[0];
      code = stale?.code ?? '000000';
      requestId = stale?.requestId ?? NO_SEND;
      totals.staleCodes += 1;
    } else if (command.t === 'verifyOther') {
      code = latest?.code ?? '000000';
      requestId = requestIds[command.other] ?? NO_SEND;
      if (requestId !== latest?.requestId) totals.otherSends += 1;
    } else {
      code = String((Number(latest?.code ?? '000000') + command.delta) % 1_000_000).padStart(6, '0');
    }
    const expected = model.verify(phone, purpose, code, requestId, clock.now, command.c);
    const actual = await outcomeOf(
      otp.verify({ phone, purpose, code, requestId, ip: IP, ...solved(command.c) }),
    );
    count(`${command.t}:${actual.code}`);
    expect(actual, where).toEqual(expected);
    if (actual.code === 'OK') ledger.success(phone, purpose, code, requestId, clock.now);
    if (actual.code === 'CODE_INVALID') ledger.wrong(phone, purpose, requestId, clock.now);
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
      'verifyWrong:CAPTCHA_REQUIRED',
      'verifyWrong:RATE_LIMITED',
      'verifyOther:CODE_INVALID',
      'verifyStale:CODE_INVALID',
      'send:CAPTCHA_REQUIRED',
    ]) {
      expect(totals.byOutcome[outcome] ?? 0, `${name}: no ${outcome} in ${RUNS} runs`).toBeGreaterThan(0);
    }
    expect(totals.ceilingHits, `${name}: the hard failure ceiling was never reached`).toBeGreaterThan(0);
    expect(totals.otherSends, `${name}: no verify named another send`).toBeGreaterThan(0);
  }, 60_000);
});
