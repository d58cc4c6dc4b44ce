import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  AdmitInput,
  BreakerSpec,
  Bucket,
  IssueInput,
  OtpStore,
  StoreVerifyInput,
} from '../stores/types.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../time.js';
import { Clocked, type StoreSubject, T0 } from './subject.js';

const PHONE = '+8613800138000';
const LIMITS = { hourLimit: 3, dayLimit: 5, failLimit: 6, hardFailLimit: 6, failWindowMs: DAY_MS };
const CHECK = {
  failLimit: LIMITS.failLimit,
  hardFailLimit: LIMITS.hardFailLimit,
  failWindowMs: LIMITS.failWindowMs,
  maxAttempts: 3,
  binding: '',
  captchaSolved: false,
};
const TOKEN = { jti: 'token-1', ttlMs: 10 * MINUTE_MS };

/** A lone `failLimit` override is also the hard limit (the phone is refused there, no captcha between). */
function ceilings(over: { failLimit?: number; hardFailLimit?: number }) {
  return over.failLimit !== undefined && over.hardFailLimit === undefined
    ? { hardFailLimit: over.failLimit }
    : {};
}

/** An issue with the suite's limits: 5 min codes, 60 s then 120 s cooldowns. */
export function issueInput(now: number, over: Partial<IssueInput> = {}): IssueInput {
  return {
    phone: PHONE,
    purpose: 'login',
    now,
    secret: `h:${now}:${over.purpose ?? 'login'}`,
    ttlMs: 5 * MINUTE_MS,
    cooldownsMs: [MINUTE_MS, 2 * MINUTE_MS],
    binding: '',
    captchaPastLimits: false,
    captchaSolved: false,
    distinctSecret: true,
    ...LIMITS,
    ...over,
    ...ceilings(over),
  };
}

function verifyInput(now: number, candidate: string, over: Partial<StoreVerifyInput> = {}): StoreVerifyInput {
  return {
    phone: PHONE,
    purpose: 'login',
    now,
    candidate,
    token: TOKEN,
    ...CHECK,
    ...over,
    ...ceilings(over),
  };
}

const ipBucket = (limit: number, over: Partial<Bucket> = {}): Bucket => ({
  id: 'ip:203.0.113.9',
  limit,
  windowMs: HOUR_MS,
  ...over,
});

const breaker = (over: Partial<BreakerSpec> = {}): BreakerSpec => ({
  id: 'breaker:prefix:+86138001',
  windowMs: HOUR_MS,
  minVolume: 4,
  threshold: 0.5,
  coolOffMs: 15 * MINUTE_MS,
  block: false,
  minSubnets: 0,
  ...over,
});

const admitInput = (now: number, over: Partial<AdmitInput> = {}): AdmitInput => ({
  now,
  buckets: [],
  breakers: [],
  captchaSolved: false,
  ...over,
});

/**
 * Runs the store contract's cases (`stores/types.ts`) against `subject` with vitest: every method's order of
 * checks, what it counts, when what it keeps expires, and what a second run answers. MemoryStore, RedisStore
 * and RedisStore on a Cluster are its first users; a custom store's author runs it the same way.
 *
 * @example
 * // my-store.test.ts
 * import { describeStoreConformance } from '@sms-otp/core/testing';
 * describeStoreConformance({ name: 'MyStore', create: () => new MyStore(), dispose: (s) => s.close!() });
 */
export function describeStoreConformance(subject: StoreSubject): void {
  describe(`store contract: ${subject.name}`, () => {
    let store: OtpStore;
    let clock: Clocked;
    beforeEach(async () => {
      store = await subject.create();
      clock = new Clocked(subject, store, T0);
    });
    afterEach(async () => {
      await subject.dispose?.(store);
    });

    describe('issue', () => {
      it('stores a code and answers the cooldown it started', async () => {
        const issued = await store.issue(issueInput(T0));
        expect(issued).toMatchObject({ ok: true, cooldownMs: MINUTE_MS });
        expect(await store.verify(verifyInput(T0, `h:${T0}:login`))).toEqual({ status: 'ok' });
      });

      it('refuses within the cooldown, counting nothing, then takes the next cooldown of the list', async () => {
        await store.issue(issueInput(T0));
        const t = await clock.pass(30_000);
        expect(await store.issue(issueInput(t))).toEqual({
          ok: false,
          reason: 'cooldown',
          retryAfterMs: 30_000,
          cooldownMs: MINUTE_MS,
        });
        const t2 = await clock.pass(30_000);
        expect(await store.issue(issueInput(t2))).toMatchObject({ ok: true, cooldownMs: 2 * MINUTE_MS });
        const t3 = await clock.pass(2 * MINUTE_MS);
        // Third send of the hour: the last cooldown of the list repeats.
        expect(await store.issue(issueInput(t3))).toMatchObject({ ok: true, cooldownMs: 2 * MINUTE_MS });
      });

      it('counts the hour window across purposes and reopens it when the hour ends', async () => {
        for (const purpose of ['login', 'register', 'reset']) {
          expect(await store.issue(issueInput(T0, { purpose }))).toMatchObject({ ok: true });
        }
        const t = await clock.pass(10 * MINUTE_MS);
        expect(await store.issue(issueInput(t, { purpose: 'other' }))).toEqual({
          ok: false,
          reason: 'phone_hour',
          retryAfterMs: 50 * MINUTE_MS,
        });
        const t2 = await clock.at(T0 + HOUR_MS);
        expect(await store.issue(issueInput(t2, { purpose: 'other' }))).toMatchObject({ ok: true });
      });

      it('counts the day window and reopens it when the day ends', async () => {
        let t = T0;
        for (let i = 0; i < 5; i += 1) {
          t = await clock.at(T0 + i * HOUR_MS);
          expect(await store.issue(issueInput(t))).toMatchObject({ ok: true });
        }
        t = await clock.at(T0 + 5 * HOUR_MS);
        expect(await store.issue(issueInput(t))).toEqual({
          ok: false,
          reason: 'phone_day',
          retryAfterMs: DAY_MS - 5 * HOUR_MS,
        });
        t = await clock.at(T0 + DAY_MS);
        expect(await store.issue(issueInput(t))).toMatchObject({ ok: true });
      });

      it('asks for a captcha past captchaAfter sends in the hour, unless solved', async () => {
        await store.issue(issueInput(T0, { captchaAfter: 1 }));
        const t = await clock.pass(MINUTE_MS);
        expect(await store.issue(issueInput(t, { captchaAfter: 1 }))).toEqual({
          ok: false,
          reason: 'captcha',
          retryAfterMs: 0,
        });
        expect(await store.issue(issueInput(t, { captchaAfter: 1, captchaSolved: true }))).toMatchObject({
          ok: true,
        });
      });

      it('checks the cooldown before the failure ceiling, and the ceiling before the windows', async () => {
        await store.issue(issueInput(T0, { failLimit: 1 }));
        await store.verify(verifyInput(T0, 'wrong', { failLimit: 1 }));
        expect(await store.issue(issueInput(T0, { failLimit: 1, secret: 'h:2' }))).toMatchObject({
          reason: 'cooldown',
        });
        const t = await clock.pass(MINUTE_MS);
        expect(await store.issue(issueInput(t, { failLimit: 1, hourLimit: 1 }))).toEqual({
          ok: false,
          reason: 'locked',
          retryAfterMs: DAY_MS - MINUTE_MS,
        });
      });

      it('a second run of the same call (same distinct secret, same time) answers ok and counts nothing', async () => {
        const input = issueInput(T0, { hourLimit: 1 });
        await store.issue(input);
        expect(await store.issue(input)).toMatchObject({ ok: true, cooldownMs: MINUTE_MS });
        const t = await clock.pass(MINUTE_MS);
        expect(await store.issue(issueInput(t, { purpose: 'x', hourLimit: 2 }))).toMatchObject({ ok: true });
      });

      it('keeps any purpose name apart from everything else it keeps for the phone', async () => {
        for (const purpose of ['w', 'c', 'f', 'g', 't', 'h', 'jti', 'cap']) {
          const t = await clock.pass(MINUTE_MS);
          const secret = `h:${purpose}`;
          const many = { hourLimit: 99, dayLimit: 99, failLimit: 99 };
          expect(await store.issue(issueInput(t, { purpose, secret, ...many }))).toMatchObject({ ok: true });
          expect(await store.verify(verifyInput(t, 'wrong', { purpose, failLimit: 99 }))).toMatchObject({
            status: 'invalid',
          });
          expect(await store.verify(verifyInput(t, secret, { purpose, failLimit: 99 }))).toEqual({
            status: 'ok',
          });
        }
      });
    });

    describe('rollback', () => {
      it('puts back the code it replaced and uncounts the send', async () => {
        await store.issue(issueInput(T0, { secret: 'h:old', hourLimit: 2 }));
        const t = await clock.pass(MINUTE_MS);
        const issued = await store.issue(issueInput(t, { secret: 'h:new', hourLimit: 2 }));
        if (!issued.ok) throw new Error('issue refused');
        await store.rollback({ phone: PHONE, purpose: 'login', now: t, secret: 'h:new', undo: issued.undo });
        expect(await store.verify(verifyInput(t, 'h:new'))).toMatchObject({ status: 'invalid' });
        expect(await store.verify(verifyInput(t, 'h:old'))).toEqual({ status: 'ok' });
        // The old code's cooldown has ended; the send was uncounted, so a second one fits in the hour.
        expect(await store.issue(issueInput(t, { secret: 'h:again', hourLimit: 2 }))).toMatchObject({
          ok: true,
        });
      });

      it('with keepCounts undoes the code and its cooldown but keeps the send counted', async () => {
        const issued = await store.issue(issueInput(T0, { hourLimit: 1 }));
        if (!issued.ok) throw new Error('issue refused');
        await store.rollback({
          phone: PHONE,
          purpose: 'login',
          now: T0,
          secret: `h:${T0}:login`,
          undo: issued.undo,
          keepCounts: true,
        });
        expect(await store.verify(verifyInput(T0, `h:${T0}:login`))).toEqual({ status: 'expired' });
        expect(await store.issue(issueInput(T0, { secret: 'h:2', hourLimit: 1 }))).toMatchObject({
          reason: 'phone_hour',
        });
      });

      it('leaves a code stored since alone', async () => {
        const first = await store.issue(issueInput(T0, { secret: 'h:1', cooldownsMs: [1000] }));
        if (!first.ok) throw new Error('issue refused');
        const t = await clock.pass(1000);
        await store.issue(issueInput(t, { secret: 'h:2', cooldownsMs: [1000] }));
        await store.rollback({ phone: PHONE, purpose: 'login', now: t, secret: 'h:1', undo: first.undo });
        expect(await store.verify(verifyInput(t, 'h:2'))).toEqual({ status: 'ok' });
      });
    });

    describe('verify', () => {
      it('uses a right code once', async () => {
        await store.issue(issueInput(T0, { secret: 'h:s' }));
        expect(await store.verify(verifyInput(T0, 'h:s'))).toEqual({ status: 'ok' });
        expect(await store.verify(verifyInput(T0, 'h:s'))).toEqual({ status: 'expired' });
      });

      it('counts wrong guesses, kills the code at maxAttempts, and says when a new one may be asked for', async () => {
        await store.issue(issueInput(T0, { secret: 'h:s' }));
        expect(await store.verify(verifyInput(T0, 'a'))).toEqual({ status: 'invalid', attemptsLeft: 2 });
        expect(await store.verify(verifyInput(T0, 'b'))).toEqual({ status: 'invalid', attemptsLeft: 1 });
        expect(await store.verify(verifyInput(T0, 'c'))).toEqual({ status: 'invalid', attemptsLeft: 0 });
        const t = await clock.pass(20_000);
        expect(await store.verify(verifyInput(t, 'h:s'))).toEqual({ status: 'dead', retryAfterMs: 40_000 });
      });

      it('answers expired for no code and for a code past its expiry', async () => {
        expect(await store.verify(verifyInput(T0, 'h:s'))).toEqual({ status: 'expired' });
        await store.issue(issueInput(T0, { secret: 'h:s' }));
        const t = await clock.pass(5 * MINUTE_MS);
        expect(await store.verify(verifyInput(t, 'h:s'))).toEqual({ status: 'expired' });
      });

      it('locks the phone at failLimit failures across codes for the failure window; a success clears nothing', async () => {
        const limits = { failLimit: 4, maxAttempts: 3 };
        await store.issue(issueInput(T0, { secret: 'h:1', failLimit: 4 }));
        await store.verify(verifyInput(T0, 'x', limits));
        await store.verify(verifyInput(T0, 'y', limits));
        expect(await store.verify(verifyInput(T0, 'h:1', limits))).toEqual({ status: 'ok' });
        const t = await clock.pass(MINUTE_MS);
        await store.issue(issueInput(t, { secret: 'h:2', failLimit: 4, purpose: 'reset' }));
        expect(await store.verify(verifyInput(t, 'x', { ...limits, purpose: 'reset' }))).toEqual({
          status: 'invalid',
          attemptsLeft: 1,
        });
        expect(await store.verify(verifyInput(t, 'z', { ...limits, purpose: 'reset' }))).toEqual({
          status: 'invalid',
          attemptsLeft: 0,
        });
        expect(await store.verify(verifyInput(t, 'h:2', { ...limits, purpose: 'reset' }))).toEqual({
          status: 'locked',
          retryAfterMs: DAY_MS - MINUTE_MS,
        });
        const t2 = await clock.at(T0 + DAY_MS);
        await store.issue(issueInput(t2, { secret: 'h:3', failLimit: 4 }));
        expect(await store.verify(verifyInput(t2, 'h:3', limits))).toEqual({ status: 'ok' });
      });
    });

    describe('reserve, rekey and settle (codes a vendor checks)', () => {
      it('swaps the placeholder for the reference, reserves an attempt, and settles once', async () => {
        await store.issue(issueInput(T0, { secret: 'p:req' }));
        await store.rekey({ phone: PHONE, purpose: 'login', from: 'p:other', to: 'r:wrong' });
        await store.rekey({ phone: PHONE, purpose: 'login', from: 'p:req', to: 'r:ref' });
        expect(await store.reserve({ phone: PHONE, purpose: 'login', now: T0, ...CHECK })).toEqual({
          status: 'reserved',
          ref: 'r:ref',
          attemptsLeft: 2,
        });
        expect(
          await store.settle({
            phone: PHONE,
            purpose: 'login',
            now: T0,
            ref: 'r:wrong',
            ok: true,
            token: TOKEN,
          }),
        ).toEqual({
          status: 'expired',
        });
        expect(
          await store.settle({
            phone: PHONE,
            purpose: 'login',
            now: T0,
            ref: 'r:ref',
            ok: true,
            token: TOKEN,
          }),
        ).toEqual({
          status: 'ok',
        });
        expect(
          await store.settle({
            phone: PHONE,
            purpose: 'login',
            now: T0,
            ref: 'r:ref',
            ok: true,
            token: TOKEN,
          }),
        ).toEqual({
          status: 'expired',
        });
        expect(await store.reserve({ phone: PHONE, purpose: 'login', now: T0, ...CHECK })).toEqual({
          status: 'expired',
        });
      });

      it('a right settle takes back the failure its reservation counted, a wrong one keeps it', async () => {
        const limits = { ...CHECK, failLimit: 2, hardFailLimit: 2 };
        await store.issue(issueInput(T0, { secret: 'r:ref', failLimit: 2 }));
        await store.reserve({ phone: PHONE, purpose: 'login', now: T0, ...limits });
        await store.settle({
          phone: PHONE,
          purpose: 'login',
          now: T0,
          ref: 'r:ref',
          ok: false,
          token: TOKEN,
        });
        await store.reserve({ phone: PHONE, purpose: 'login', now: T0, ...limits });
        await store.settle({ phone: PHONE, purpose: 'login', now: T0, ref: 'r:ref', ok: true, token: TOKEN });
        // One failure counted (the wrong one): one more fits under the ceiling of two.
        const t = await clock.pass(MINUTE_MS);
        await store.issue(issueInput(t, { secret: 'r:2', failLimit: 2 }));
        expect(await store.reserve({ phone: PHONE, purpose: 'login', now: t, ...limits })).toMatchObject({
          status: 'reserved',
          attemptsLeft: 0,
        });
      });
    });

    describe('admit, admitAndIssue, release', () => {
      it('counts a send in every bucket, refuses at the first full one, and reopens with the window', async () => {
        const buckets = [ipBucket(2), { id: 'global', limit: 10, windowMs: DAY_MS }];
        expect(await store.admit(admitInput(T0, { buckets }))).toEqual({ ok: true, transitions: [] });
        expect(await store.admit(admitInput(T0, { buckets }))).toEqual({ ok: true, transitions: [] });
        const t = await clock.pass(10 * MINUTE_MS);
        expect(await store.admit(admitInput(t, { buckets }))).toEqual({
          ok: false,
          reason: 'limit',
          id: 'ip:203.0.113.9',
          retryAfterMs: 50 * MINUTE_MS,
          transitions: [],
        });
        const t2 = await clock.at(T0 + HOUR_MS);
        expect(await store.admit(admitInput(t2, { buckets }))).toMatchObject({ ok: true });
        // The refused send counted nothing: the global window holds three sends.
        expect(
          await store.admit(admitInput(t2, { buckets: [{ id: 'global', limit: 3, windowMs: DAY_MS }] })),
        ).toMatchObject({
          ok: false,
          reason: 'limit',
        });
      });

      it('asks for a captcha past a bucket’s captchaAfter, unless solved', async () => {
        const buckets = [ipBucket(5, { captchaAfter: 1 })];
        await store.admit(admitInput(T0, { buckets }));
        expect(await store.admit(admitInput(T0, { buckets }))).toEqual({
          ok: false,
          reason: 'captcha',
          id: 'ip:203.0.113.9',
          retryAfterMs: 0,
          transitions: [],
        });
        expect(await store.admit(admitInput(T0, { buckets, captchaSolved: true }))).toMatchObject({
          ok: true,
        });
      });

      it('opens a breaker at minVolume unverified sends, refuses through its cool-off, closes after it', async () => {
        const spec = breaker();
        for (let i = 0; i < 4; i += 1) {
          expect(await store.admit(admitInput(T0, { breakers: [spec] }))).toEqual({
            ok: true,
            transitions: [],
          });
        }
        expect(await store.admit(admitInput(T0, { breakers: [spec] }))).toEqual({
          ok: false,
          reason: 'captcha',
          id: spec.id,
          retryAfterMs: 15 * MINUTE_MS,
          transitions: [{ id: spec.id, state: 'open', sent: 4, verified: 0 }],
        });
        expect(await store.admit(admitInput(T0, { breakers: [{ ...spec, block: true }] }))).toMatchObject({
          ok: false,
          reason: 'blocked',
          transitions: [],
        });
        expect(await store.admit(admitInput(T0, { breakers: [spec], captchaSolved: true }))).toEqual({
          ok: true,
          transitions: [],
        });
        // Verifies arrive; after the cool-off the breaker looks again and closes.
        await store.convert({ now: T0, conversions: [{ spec, count: 5 }] });
        const t = await clock.pass(15 * MINUTE_MS);
        expect(await store.admit(admitInput(t, { breakers: [spec] }))).toEqual({
          ok: true,
          transitions: [{ id: spec.id, state: 'closed', sent: 5, verified: 5 }],
        });
      });

      it('an open breaker with no send for a window after its cool-off is forgotten: it closes silently', async () => {
        const spec = breaker();
        for (let i = 0; i < 5; i += 1) await store.admit(admitInput(T0, { breakers: [spec] }));
        // Opened at T0 until T0 + 15 min; kept until a window later.
        const t = await clock.at(T0 + 15 * MINUTE_MS + HOUR_MS - 1000);
        expect((await store.admit(admitInput(t, { breakers: [spec] }))).transitions).toEqual([
          { id: spec.id, state: 'closed', sent: 0, verified: 0 },
        ]);
        for (let i = 0; i < 5; i += 1) await store.admit(admitInput(t, { breakers: [spec] }));
        const t2 = await clock.at(t + 15 * MINUTE_MS + HOUR_MS);
        expect(await store.admit(admitInput(t2, { breakers: [spec] }))).toEqual({
          ok: true,
          transitions: [],
        });
      });

      it('counts buffered conversions first, also when the send is then refused', async () => {
        const spec = breaker({ minVolume: 2 });
        const full = [ipBucket(0)];
        await store.admit(admitInput(T0, { breakers: [spec] }));
        await store.admit(admitInput(T0, { breakers: [spec] }));
        const refused = await store.admit(
          admitInput(T0, { buckets: full, conversions: [{ spec, count: 2 }], breakers: [spec] }),
        );
        expect(refused).toMatchObject({ ok: false, reason: 'limit' });
        expect(await store.admit(admitInput(T0, { breakers: [spec] }))).toEqual({
          ok: true,
          transitions: [],
        });
      });

      it('admitAndIssue releases the admission when the issue is refused', async () => {
        const buckets = [ipBucket(1)];
        const spec = breaker({ minVolume: 1, threshold: 0 });
        await store.issue(issueInput(T0));
        const result = await store.admitAndIssue(
          admitInput(T0, { buckets, breakers: [spec] }),
          issueInput(T0, { secret: 'h:2' }),
        );
        expect(result.issue).toMatchObject({ ok: false, reason: 'cooldown' });
        expect(
          await store.admitAndIssue(admitInput(T0, { buckets }), issueInput(T0, { purpose: 'x' })),
        ).toMatchObject({
          admit: { ok: true },
          issue: { ok: true },
        });
      });

      it('release uncounts one send from each bucket and breaker, never below zero', async () => {
        const buckets = [ipBucket(1)];
        await store.admit(admitInput(T0, { buckets }));
        await store.release({ buckets, breakers: [breaker()] });
        await store.release({ buckets, breakers: [breaker()] });
        expect(await store.admit(admitInput(T0, { buckets }))).toMatchObject({ ok: true });
        expect(await store.admit(admitInput(T0, { buckets }))).toMatchObject({ ok: false });
      });
    });

    describe('captchas and tokens', () => {
      it('gives a captcha answer back once, and not after its lifetime', async () => {
        await store.putCaptcha({ key: 'k1', answer: 'a1', ttlMs: 2 * MINUTE_MS, now: T0 });
        await store.putCaptcha({ key: 'k2', answer: 'a2', ttlMs: 2 * MINUTE_MS, now: T0 });
        expect(await store.takeCaptcha({ key: 'k1', now: T0 })).toBe('a1');
        expect(await store.takeCaptcha({ key: 'k1', now: T0 })).toBeUndefined();
        const t = await clock.pass(2 * MINUTE_MS);
        expect(await store.takeCaptcha({ key: 'k2', now: t })).toBeUndefined();
      });

      it('a right verify keeps the token’s record: looked at freely, used up once, gone after its lifetime', async () => {
        const use = (consume: boolean, now = clock.now, jti = TOKEN.jti) =>
          store.useToken({ phone: PHONE, jti, consume, now });
        expect(await use(false)).toBe(false);
        await store.issue(issueInput(T0, { secret: 'h:s' }));
        expect(await store.verify(verifyInput(T0, 'wrong'))).toMatchObject({ status: 'invalid' });
        expect(await use(false)).toBe(false);
        expect(await store.verify(verifyInput(T0, 'h:s'))).toEqual({ status: 'ok' });
        expect(await use(false)).toBe(true);
        expect(await use(false)).toBe(true);
        expect(await use(true)).toBe(true);
        expect(await use(true)).toBe(false);
        expect(await use(false)).toBe(false);
        // Another token of the phone, unused, lives out its lifetime.
        const t = await clock.pass(MINUTE_MS);
        await store.issue(issueInput(t, { secret: 'h:2' }));
        await store.verify(verifyInput(t, 'h:2', { token: { jti: 'token-2', ttlMs: 2 * MINUTE_MS } }));
        const t2 = await clock.pass(2 * MINUTE_MS);
        expect(await use(false, t2, 'token-2')).toBe(false);
      });

      it('a right settle keeps the token’s record too', async () => {
        await store.issue(issueInput(T0, { secret: 'r:ref' }));
        await store.reserve({ phone: PHONE, purpose: 'login', now: T0, ...CHECK });
        await store.settle({ phone: PHONE, purpose: 'login', now: T0, ref: 'r:ref', ok: true, token: TOKEN });
        expect(await store.useToken({ phone: PHONE, jti: TOKEN.jti, consume: true, now: T0 })).toBe(true);
      });

      it('of two concurrent consumers of a token, exactly one wins', async () => {
        await store.issue(issueInput(T0, { secret: 'h:s' }));
        await store.verify(verifyInput(T0, 'h:s'));
        const use = () => store.useToken({ phone: PHONE, jti: TOKEN.jti, consume: true, now: T0 });
        expect((await Promise.all([use(), use(), use()])).filter(Boolean)).toHaveLength(1);
      });

      it('releaseToken puts a used token’s record back', async () => {
        if (!store.releaseToken) return expect(store.releaseToken).toBeUndefined();
        await store.issue(issueInput(T0, { secret: 'h:s' }));
        await store.verify(verifyInput(T0, 'h:s'));
        await store.useToken({ phone: PHONE, jti: TOKEN.jti, consume: true, now: T0 });
        await store.releaseToken({ phone: PHONE, ...TOKEN, now: T0 });
        expect(await store.useToken({ phone: PHONE, jti: TOKEN.jti, consume: true, now: T0 })).toBe(true);
      });
    });

    describe('codes bound to their send', () => {
      it('a binding that is not the live code’s costs nothing and answers alike, code pending or not', async () => {
        expect(await store.verify(verifyInput(T0, 'h:s', { binding: 'B2' }))).toEqual({ status: 'mismatch' });
        await store.issue(issueInput(T0, { secret: 'h:s', binding: 'B1' }));
        for (let i = 0; i < 5; i += 1) {
          expect(await store.verify(verifyInput(T0, 'h:s', { binding: 'B2' }))).toEqual({
            status: 'mismatch',
          });
        }
        expect(await store.verify(verifyInput(T0, 'h:s', { binding: '' }))).toEqual({ status: 'mismatch' });
        expect(
          await store.reserve({ phone: PHONE, purpose: 'login', now: T0, ...CHECK, binding: 'B2' }),
        ).toEqual({
          status: 'mismatch',
        });
        // Nothing was counted: the bound client still has every attempt.
        expect(await store.verify(verifyInput(T0, 'wrong', { binding: 'B1' }))).toEqual({
          status: 'invalid',
          attemptsLeft: 2,
        });
        expect(await store.verify(verifyInput(T0, 'h:s', { binding: 'B1' }))).toEqual({ status: 'ok' });
        // The bound client is told its code is used; anybody else still only that the binding is not live.
        expect(await store.verify(verifyInput(T0, 'h:s', { binding: 'B1' }))).toEqual({ status: 'expired' });
        expect(await store.verify(verifyInput(T0, 'h:s', { binding: 'B2' }))).toEqual({ status: 'mismatch' });
      });

      it('the bound client is told its code expired', async () => {
        await store.issue(issueInput(T0, { secret: 'h:s', binding: 'B1' }));
        const t = await clock.pass(5 * MINUTE_MS);
        expect(await store.verify(verifyInput(t, 'h:s', { binding: 'B1' }))).toEqual({ status: 'expired' });
      });
    });

    describe('a captcha, not a lock, between the failure ceilings', () => {
      it('past failLimit sends and verifies need a solved captcha; at hardFailLimit they are refused', async () => {
        const limits = { failLimit: 2, hardFailLimit: 4 };
        await store.issue(issueInput(T0, { secret: 'h:1', ...limits }));
        await store.verify(verifyInput(T0, 'a', limits));
        expect(await store.verify(verifyInput(T0, 'b', limits))).toEqual({
          status: 'invalid',
          attemptsLeft: 1,
        });
        expect(await store.verify(verifyInput(T0, 'h:1', limits))).toEqual({ status: 'captcha' });
        expect(await store.reserve({ phone: PHONE, purpose: 'login', now: T0, ...CHECK, ...limits })).toEqual(
          {
            status: 'captcha',
          },
        );
        const t = await clock.pass(MINUTE_MS);
        expect(await store.issue(issueInput(t, { secret: 'h:2', ...limits }))).toEqual({
          ok: false,
          reason: 'captcha',
          retryAfterMs: 0,
        });
        expect(
          await store.issue(issueInput(t, { secret: 'h:2', ...limits, captchaSolved: true })),
        ).toMatchObject({
          ok: true,
        });
        const solved = { ...limits, captchaSolved: true };
        expect(await store.verify(verifyInput(t, 'c', solved))).toEqual({
          status: 'invalid',
          attemptsLeft: 1,
        });
        expect(await store.verify(verifyInput(t, 'd', solved))).toEqual({
          status: 'invalid',
          attemptsLeft: 0,
        });
        expect(await store.verify(verifyInput(t, 'h:2', solved))).toEqual({
          status: 'locked',
          retryAfterMs: DAY_MS - MINUTE_MS,
        });
        const t2 = await clock.pass(2 * MINUTE_MS);
        expect(await store.issue(issueInput(t2, { secret: 'h:3', ...solved }))).toMatchObject({
          reason: 'locked',
        });
      });

      it('with captchaPastLimits a full send window asks for a captcha until it holds twice its limit', async () => {
        const past = { captchaPastLimits: true, hourLimit: 2, cooldownsMs: [1000] };
        let t = T0;
        for (let i = 0; i < 2; i += 1) {
          t = await clock.pass(1000);
          expect(await store.issue(issueInput(t, past))).toMatchObject({ ok: true });
        }
        t = await clock.pass(1000);
        expect(await store.issue(issueInput(t, past))).toEqual({
          ok: false,
          reason: 'captcha',
          retryAfterMs: 0,
        });
        for (let i = 0; i < 2; i += 1) {
          t = await clock.pass(1000);
          expect(await store.issue(issueInput(t, { ...past, captchaSolved: true }))).toMatchObject({
            ok: true,
          });
        }
        t = await clock.pass(1000);
        expect(await store.issue(issueInput(t, { ...past, captchaSolved: true }))).toMatchObject({
          ok: false,
          reason: 'phone_hour',
        });
      });
    });

    describe('the client’s failed-verify window', () => {
      const failWindow = { id: 'verify-ip:203.0.113.9', limit: 3, windowMs: HOUR_MS };

      it('counts every answer but a success, refuses when full, and opens again with the window', async () => {
        await store.issue(issueInput(T0, { secret: 'h:s', binding: 'B1' }));
        expect(await store.verify(verifyInput(T0, 'h:s', { binding: 'B2', failWindow }))).toEqual({
          status: 'mismatch',
        });
        expect(await store.verify(verifyInput(T0, 'x', { binding: 'B1', failWindow }))).toMatchObject({
          status: 'invalid',
        });
        expect(await store.verify(verifyInput(T0, 'h:s', { binding: 'B1', failWindow }))).toEqual({
          status: 'ok',
        });
        expect(await store.verify(verifyInput(T0, 'h:s', { binding: 'B1', failWindow }))).toEqual({
          status: 'expired',
        });
        const t = await clock.pass(10 * MINUTE_MS);
        expect(await store.verify(verifyInput(t, 'h:s', { binding: 'B1', failWindow }))).toEqual({
          status: 'ip_limit',
          retryAfterMs: 50 * MINUTE_MS,
        });
        // A refusal by the window counts nothing more, and another client is not concerned.
        const other = { ...failWindow, id: 'verify-ip:198.51.100.1' };
        expect(await store.verify(verifyInput(t, 'h:s', { binding: 'B1', failWindow: other }))).toEqual({
          status: 'expired',
        });
        const t2 = await clock.at(T0 + HOUR_MS);
        expect(await store.verify(verifyInput(t2, 'h:s', { binding: 'B1', failWindow }))).toEqual({
          status: 'expired',
        });
      });

      it('a reservation is not counted; a settle of a wrong code is', async () => {
        const window = { ...failWindow, limit: 1 };
        await store.issue(issueInput(T0, { secret: 'r:ref' }));
        const reserve = () =>
          store.reserve({ phone: PHONE, purpose: 'login', now: T0, ...CHECK, failWindow: window });
        expect(await reserve()).toMatchObject({ status: 'reserved' });
        await store.settle({
          phone: PHONE,
          purpose: 'login',
          now: T0,
          ref: 'r:ref',
          ok: false,
          token: TOKEN,
          failWindow: window,
        });
        expect(await reserve()).toMatchObject({ status: 'ip_limit' });
      });
    });

    describe('breakers need many subnets', () => {
      it('do not open on sends from fewer than minSubnets subnets, however many', async () => {
        const spec = breaker({ minVolume: 4, minSubnets: 3 });
        for (let i = 0; i < 8; i += 1) {
          expect(await store.admit(admitInput(T0, { breakers: [spec], subnet: '203.0.113' }))).toEqual({
            ok: true,
            transitions: [],
          });
        }
        await store.admit(admitInput(T0, { breakers: [spec], subnet: '198.51.100' }));
        expect(await store.admit(admitInput(T0, { breakers: [spec] }))).toEqual({
          ok: true,
          transitions: [],
        });
        await store.admit(admitInput(T0, { breakers: [spec], subnet: '192.0.2' }));
        expect(await store.admit(admitInput(T0, { breakers: [spec] }))).toMatchObject({
          ok: false,
          reason: 'captcha',
          transitions: [{ id: spec.id, state: 'open', sent: 11, verified: 0 }],
        });
      });

      it('count the subnets of both halves of the window', async () => {
        const spec = breaker({ minVolume: 2, minSubnets: 2 });
        await store.admit(admitInput(T0, { breakers: [spec], subnet: 'a' }));
        const t = await clock.pass(HOUR_MS / 2);
        await store.admit(admitInput(t, { breakers: [spec], subnet: 'b' }));
        expect((await store.admit(admitInput(t, { breakers: [spec] }))).transitions).toEqual([
          { id: spec.id, state: 'open', sent: 2, verified: 0 },
        ]);
      });
    });
  });
}
