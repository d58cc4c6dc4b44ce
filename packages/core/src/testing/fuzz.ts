import type {
  AdmitInput,
  BreakerSpec,
  Bucket,
  Conversion,
  IssueInput,
  IssueResult,
  OtpStore,
  ReserveInput,
} from '../stores/types.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../time.js';
import { Clocked, type StoreSubject, T0 } from './subject.js';

/** One store call of a fuzz sequence, at the sequence's clock. */
export type FuzzOp =
  | { op: 'tick'; ms: number }
  | { op: 'send'; phone: number; purpose: string; ip: number; solved: boolean; fixed: boolean }
  | { op: 'issue'; phone: number; purpose: string; solved: boolean }
  | { op: 'rollback'; keepCounts: boolean }
  | {
      op: 'verify';
      phone: number;
      purpose: string;
      right: boolean;
      bound: boolean;
      solved: boolean;
      ip: number;
    }
  | { op: 'reserve'; phone: number; purpose: string; bound: boolean; solved: boolean; ip: number }
  | { op: 'rekey'; phone: number; purpose: string }
  | { op: 'settle'; phone: number; purpose: string; ok: boolean; ip: number }
  | { op: 'release' }
  | { op: 'convert'; phone: number; count: number }
  | { op: 'putCaptcha'; key: number }
  | { op: 'takeCaptcha'; key: number }
  | { op: 'useToken'; jti: number; consume: boolean }
  | { op: 'releaseToken'; jti: number };

/** A small seeded generator (mulberry32): the same seed gives the same sequence everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const PURPOSES = ['login', 'w', 'reset-password'];
/** Clock steps, all whole multiples of 10 s (store TTLs never land between two of them): mostly short. */
const SHORT_TICKS = [10_000, 30_000, MINUTE_MS, 2 * MINUTE_MS];
const LONG_TICKS = [5 * MINUTE_MS, 15 * MINUTE_MS, 30 * MINUTE_MS, HOUR_MS, 6 * HOUR_MS, DAY_MS];

export interface FuzzOptions {
  /** Number of phones; they share a few number prefixes, so that prefix breakers fill up. Default 200. */
  phones?: number;
  /** Calls in the sequence. Default 400. */
  steps?: number;
}

/** A seeded random sequence of store calls over many phones, prefixes, IPs and clock jumps. */
export function fuzzSequence(seed: number, options: FuzzOptions = {}): FuzzOp[] {
  const random = seededRandom(seed);
  const phones = options.phones ?? 200;
  const steps = options.steps ?? 400;
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const int = (n: number) => Math.floor(random() * n);
  // Calls go mostly to pairs sent to lately, so that codes, attempts, windows and locks are met again; new
  // sends mostly to the first prefix block of each country (phones 0-29), so that its breakers fill up.
  const recent: Array<{ phone: number; purpose: string }> = [{ phone: 0, purpose: 'login' }];
  const pair = () =>
    random() < 0.8
      ? recent[recent.length - 1 - int(Math.min(4, recent.length))]!
      : { phone: int(phones), purpose: pick(PURPOSES) };
  /** Who verifies: mostly with the send's binding, sometimes with a captcha, from one of three addresses. */
  const client = () => ({ bound: random() < 0.85, solved: random() < 0.6, ip: int(3) });
  const sendPair = () => {
    const next = random() < 0.5 ? pair() : { phone: int(Math.min(30, phones)), purpose: pick(PURPOSES) };
    recent.push(next);
    return next;
  };
  const ops: FuzzOp[] = [];
  for (let i = 0; i < steps; i += 1) {
    const r = random();
    if (r < 0.12) ops.push({ op: 'tick', ms: pick(random() < 0.85 ? SHORT_TICKS : LONG_TICKS) });
    else if (r < 0.45)
      ops.push({ op: 'send', ...sendPair(), ip: int(2), solved: random() < 0.6, fixed: random() < 0.05 });
    else if (r < 0.47) ops.push({ op: 'issue', ...sendPair(), solved: random() < 0.3 });
    else if (r < 0.52) ops.push({ op: 'rollback', keepCounts: random() < 0.4 });
    else if (r < 0.7) ops.push({ op: 'verify', ...pair(), right: random() < 0.3, ...client() });
    else if (r < 0.74) ops.push({ op: 'reserve', ...pair(), ...client() });
    else if (r < 0.77) ops.push({ op: 'rekey', ...pair() });
    else if (r < 0.8) ops.push({ op: 'settle', ...pair(), ok: random() < 0.6, ip: int(3) });
    else if (r < 0.83) ops.push({ op: 'release' });
    else if (r < 0.88) ops.push({ op: 'convert', phone: pair().phone, count: 1 + int(3) });
    else if (r < 0.92) ops.push({ op: 'putCaptcha', key: int(5) });
    else if (r < 0.95) ops.push({ op: 'takeCaptcha', key: int(5) });
    else if (r < 0.99) ops.push({ op: 'useToken', jti: int(8), consume: random() < 0.7 });
    else ops.push({ op: 'releaseToken', jti: int(8) });
  }
  return ops;
}

/** Phone `i`: numbers of three countries, ten per prefix block. */
function phoneOf(i: number): string {
  const country = ['+86138', '+4477', '+1415'][i % 3]!;
  return `${country}${String(Math.floor(i / 30)).padStart(3, '0')}${String(i % 10).padStart(4, '0')}`;
}

const BREAKER = { windowMs: HOUR_MS, minVolume: 6, threshold: 0.3, coolOffMs: 10 * MINUTE_MS, minSubnets: 2 };

function breakersOf(phone: string): BreakerSpec[] {
  return [
    { id: `breaker:country:${phone.slice(0, 3)}`, ...BREAKER, minVolume: 12, block: false },
    { id: `breaker:prefix:${phone.slice(0, -4)}`, ...BREAKER, block: phone.startsWith('+44') },
  ];
}

function bucketsOf(phone: string, ip: number): Bucket[] {
  return [
    { id: `ip:198.51.100.${ip}`, limit: 14, windowMs: HOUR_MS, captchaAfter: 8 },
    { id: `country:${phone.slice(0, 3)}`, limit: 40, windowMs: DAY_MS },
    { id: 'global', limit: 90, windowMs: DAY_MS },
  ];
}

/** Runs a sequence on one store; returns what each call answered, in a form comparable across stores. */
export async function runFuzzSequence(subject: StoreSubject, ops: readonly FuzzOp[]): Promise<unknown[]> {
  const store: OtpStore = await subject.create();
  const clock = new Clocked(subject, store, T0);
  const answers: unknown[] = [];
  /** What the last successful issues can roll back or release (each store's own `undo`). */
  const issued: Array<{ phone: string; purpose: string; secret: string; undo: string }> = [];
  const admitted: AdmitInput[] = [];
  let serial = 0;
  const limits = (phone: string, purpose: string) => ({
    phone,
    purpose,
    hourLimit: 2,
    dayLimit: 3,
    failLimit: 3,
    hardFailLimit: 4,
    failWindowMs: 6 * HOUR_MS,
  });
  /** The client's failed-verify window (address 2 has none: a client without an address). */
  const failWindow = (ip: number) =>
    ip < 2 ? { failWindow: { id: `verify-ip:198.51.100.${ip}`, limit: 12, windowMs: HOUR_MS } } : {};
  const bindings = new Map<string, string>();
  /** The phone each token id was last made for. */
  const tokenPhones = new Map<string, string>();
  const issueInput = (phone: string, purpose: string, solved: boolean, fixed: boolean): IssueInput => {
    serial += 1;
    return {
      ...limits(phone, purpose),
      now: clock.now,
      secret: fixed ? `h:fixed:${phone}` : `h:${serial}`,
      binding: `b${serial}`,
      captchaPastLimits: true,
      ttlMs: 5 * MINUTE_MS,
      cooldownsMs: [30_000, MINUTE_MS, 2 * MINUTE_MS],
      captchaAfter: 2,
      captchaSolved: solved,
      distinctSecret: !fixed,
    };
  };
  const check = (
    phone: string,
    purpose: string,
    who: { bound: boolean; solved: boolean; ip: number },
  ): ReserveInput => ({
    ...limits(phone, purpose),
    now: clock.now,
    maxAttempts: 3,
    binding: who.bound ? (bindings.get(`${phone} ${purpose}`) ?? '') : 'b-foreign',
    captchaSolved: who.solved,
    ...failWindow(who.ip),
  });
  const rightSecret = new Map<string, string>();
  try {
    for (const op of ops) {
      const now = clock.now;
      switch (op.op) {
        case 'tick':
          answers.push(await clock.pass(op.ms));
          break;
        case 'send':
        case 'issue': {
          const phone = phoneOf(op.phone);
          const input = issueInput(phone, op.purpose, op.solved, op.op === 'send' && op.fixed);
          let result: unknown;
          let issue: IssueResult | undefined;
          if (op.op === 'send') {
            const admit: AdmitInput = {
              now,
              buckets: bucketsOf(phone, op.ip),
              breakers: breakersOf(phone),
              captchaSolved: op.solved,
              subnet: `198.51.${op.ip}`,
            };
            const both = await store.admitAndIssue(admit, input);
            issue = both.issue;
            if (both.admit.ok && both.issue?.ok) admitted.push(admit);
            result = { admit: both.admit, issue: withoutUndo(both.issue) };
          } else {
            issue = await store.issue(input);
            result = withoutUndo(issue);
          }
          if (issue?.ok) {
            issued.push({ phone, purpose: op.purpose, secret: input.secret, undo: issue.undo });
            rightSecret.set(`${phone} ${op.purpose}`, input.secret);
            bindings.set(`${phone} ${op.purpose}`, input.binding);
          }
          answers.push(result);
          break;
        }
        case 'rollback': {
          const last = issued.pop();
          if (last) await store.rollback({ ...last, now, keepCounts: op.keepCounts });
          answers.push(last ? 'rolled back' : 'nothing');
          break;
        }
        case 'verify': {
          const phone = phoneOf(op.phone);
          const right = rightSecret.get(`${phone} ${op.purpose}`) ?? 'h:none';
          serial += 1;
          const token = { jti: `j${serial % 8}`, ttlMs: 15 * MINUTE_MS };
          tokenPhones.set(token.jti, phone);
          const result = await store.verify({
            ...check(phone, op.purpose, op),
            candidate: op.right ? right : 'h:wrong',
            token,
          });
          answers.push(result);
          break;
        }
        case 'reserve':
          answers.push(await store.reserve(check(phoneOf(op.phone), op.purpose, op)));
          break;
        case 'rekey': {
          const phone = phoneOf(op.phone);
          const from = rightSecret.get(`${phone} ${op.purpose}`) ?? 'h:none';
          await store.rekey({ phone, purpose: op.purpose, from, to: `r:${from}` });
          rightSecret.set(`${phone} ${op.purpose}`, `r:${from}`);
          answers.push('rekeyed');
          break;
        }
        case 'settle': {
          const phone = phoneOf(op.phone);
          const ref = rightSecret.get(`${phone} ${op.purpose}`) ?? 'h:none';
          serial += 1;
          const token = { jti: `j${serial % 8}`, ttlMs: 15 * MINUTE_MS };
          tokenPhones.set(token.jti, phone);
          answers.push(
            await store.settle({
              phone,
              purpose: op.purpose,
              now,
              ref,
              ok: op.ok,
              token,
              ...failWindow(op.ip),
            }),
          );
          break;
        }
        case 'release': {
          const last = admitted.pop();
          if (last) await store.release({ buckets: last.buckets, breakers: last.breakers });
          answers.push(last ? 'released' : 'nothing');
          break;
        }
        case 'convert': {
          const conversions: Conversion[] = breakersOf(phoneOf(op.phone)).map((spec) => ({
            spec,
            count: op.count,
          }));
          await store.convert({ now, conversions });
          answers.push('converted');
          break;
        }
        case 'putCaptcha':
          await store.putCaptcha({
            key: `k${op.key}`,
            answer: `a${op.key}.${now}`,
            ttlMs: 2 * MINUTE_MS,
            now,
          });
          answers.push('put');
          break;
        case 'takeCaptcha':
          answers.push((await store.takeCaptcha({ key: `k${op.key}`, now })) ?? null);
          break;
        case 'useToken':
          answers.push(
            await store.useToken({ phone: phoneOf(0), jti: `j${op.jti}`, consume: op.consume, now }),
          );
          break;
        case 'releaseToken': {
          const jti = `j${op.jti}`;
          const phone = tokenPhones.get(jti) ?? phoneOf(0);
          await store.releaseToken?.({ phone, jti, ttlMs: 15 * MINUTE_MS, now });
          answers.push(store.releaseToken ? 'released' : 'nothing');
          break;
        }
      }
    }
  } finally {
    await subject.dispose?.(store);
  }
  return answers;
}

function withoutUndo(result: { ok: boolean; undo?: string } | undefined): unknown {
  if (!result) return undefined;
  const { undo: _undo, ...rest } = result;
  return rest;
}

/**
 * Runs the same sequence on every subject and returns the first call where one answers otherwise than the
 * first subject (the reference), or `undefined` when all agree.
 */
export async function firstDifference(
  subjects: readonly StoreSubject[],
  ops: readonly FuzzOp[],
): Promise<{ step: number; op: FuzzOp; answers: Record<string, unknown> } | undefined> {
  const runs = await Promise.all(subjects.map((subject) => runFuzzSequence(subject, ops)));
  const [reference, ...others] = runs;
  for (let step = 0; step < ops.length; step += 1) {
    const expected = canonical(reference![step]);
    if (others.some((run) => canonical(run[step]) !== expected)) {
      const answers: Record<string, unknown> = {};
      subjects.forEach((subject, i) => {
        answers[subject.name] = runs[i]![step];
      });
      return { step, op: ops[step]!, answers };
    }
  }
  return undefined;
}

/** JSON with object keys sorted, so that answers built in another order compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
