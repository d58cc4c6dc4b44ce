import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Cluster, Redis } from 'ioredis';
import { SmsOtpError } from '../errors.js';
import {
  ADMIT,
  ADMIT_ISSUE,
  BUMP,
  CONVERT,
  ISSUE,
  REKEY,
  RELEASE,
  ROLLBACK,
  SETTLE,
  VERIFY,
} from './redis-scripts.js';
import type {
  AdmitInput,
  AdmitIssueResult,
  AdmitResult,
  BreakerTransition,
  Bucket,
  Conversion,
  IssueInput,
  IssueResult,
  OtpStore,
  ReleaseInput,
  ReleaseTokenInput,
  ReserveInput,
  ReserveResult,
  RollbackInput,
  SettleInput,
  SettleResult,
  StoreVerifyInput,
  StoreVerifyResult,
  UseTokenInput,
} from './types.js';

/**
 * An ioredis `Redis` or `Cluster` client, as the store's public types describe it: the members it is checked by,
 * written out so that the published declarations do not import ioredis (an app on the MemoryStore type-checks
 * without ioredis installed). Pass `new Redis(url)` or `new Redis.Cluster(nodes)`.
 */
export interface RedisStoreClient {
  readonly status: string;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number; readOnly?: boolean }): void;
}

export interface RedisStoreOptions {
  /** An ioredis client: `new Redis(url)` or `new Redis.Cluster(nodes)`. The store never closes it. */
  client: RedisStoreClient;
  /** Prepended to every key. Default `sms-otp:`. */
  prefix?: string;
  /**
   * Send the store's commands of one event-loop turn together, up to 16 in one `writev` per connection,
   * instead of one socket write each (fewer system calls, fewer wake-ups of Redis; other commands written
   * on the client in that turn go with them, in order). On a Cluster every master's connection is held.
   * Default `true`.
   */
  coalesceWrites?: boolean;
  /**
   * Where the store's one start-up warning goes: it reads Redis's `maxmemory-policy` once and warns unless it
   * is `noeviction` (an evicting Redis drops codes' attempt counts, windows and locks under memory pressure;
   * token records are safe either way: a token whose record is gone is refused). Default `console`.
   */
  logger?: { warn(message: string): void };
}

type Reply = Array<string | number>;

/** The commands RedisStore defines on the client (EVALSHA under the hood, EVAL again on NOSCRIPT). */
interface ScriptCommands {
  smsOtpIssue(key: string, ...args: Array<string | number>): Promise<Reply>;
  smsOtpRollback(key: string, ...args: Array<string | number>): Promise<number>;
  smsOtpVerify(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<Reply>;
  smsOtpRekey(key: string, ...args: string[]): Promise<number>;
  smsOtpSettle(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<string>;
  smsOtpBump(key: string, ...args: Array<string | number>): Promise<number>;
  smsOtpAdmit(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<Reply>;
  smsOtpRelease(keyCount: number, ...keys: string[]): Promise<number>;
  smsOtpConvert(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<number>;
  smsOtpAdmitIssue(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<Array<string | Reply>>;
}

const SCRIPTS: Record<string, string> = {
  smsOtpIssue: ISSUE,
  smsOtpRollback: ROLLBACK,
  smsOtpRekey: REKEY,
  smsOtpBump: BUMP,
};

/** Scripts over a variable number of keys (the first argument is the key count). */
const MULTI_KEY_SCRIPTS = {
  smsOtpVerify: VERIFY,
  smsOtpSettle: SETTLE,
  smsOtpAdmit: ADMIT,
  smsOtpAdmitIssue: ADMIT_ISSUE,
  smsOtpRelease: RELEASE,
  smsOtpConvert: CONVERT,
};

/** The most commands `coalesceWrites` holds back at once. */
const MAX_HELD = 16;
/** ioredis states in which a command would only wait in the offline queue. */
const DOWN = new Set(['close', 'reconnecting', 'end']);

/**
 * Keeps codes and limits in Redis (standalone or Cluster) through ioredis, so that any number of app
 * instances share them. Every operation is one Lua script on one key; a phone's keys carry the phone as a
 * hash tag (`sms-otp:{+8613800138000}`), so per-phone windows and the failure ceiling hold across purposes
 * and every script runs on one Cluster slot.
 *
 * @example
 * import { Redis } from 'ioredis';
 * const otp = createSmsOtp({ secret, store: new RedisStore({ client: new Redis(process.env.REDIS_URL) }) });
 */
export class RedisStore implements OtpStore {
  readonly #client: (Redis | Cluster) & ScriptCommands;
  readonly #prefix: string;
  readonly #coalesce: boolean;
  /** The sockets corked in this event-loop turn, if any (uncorked by `setImmediate`), and how many it holds. */
  #corked: Socket[] | undefined;
  #held = 0;
  readonly #instance = `${randomBytes(9).toString('base64url')}.`;
  readonly #policy: Promise<string | undefined>;
  #calls = 0;

  constructor(options: RedisStoreOptions) {
    const { client, prefix = 'sms-otp:', coalesceWrites = true, logger = console } = options ?? {};
    if (!client || typeof client.defineCommand !== 'function') {
      throw new TypeError('sms-otp: RedisStore option "client" must be an ioredis Redis or Cluster client');
    }
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      // Keys carry their own hash tags ({+8613800138000}, {g}): a brace in the prefix would take their place.
      throw new TypeError('sms-otp: RedisStore option "prefix" must be a string without "{" or "}"');
    }
    const define = (scripts: Record<string, string>, numberOfKeys?: number) => {
      for (const [name, lua] of Object.entries(scripts)) {
        if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function') {
          client.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
        }
      }
    };
    define(SCRIPTS, 1);
    define(MULTI_KEY_SCRIPTS);
    this.#client = client as unknown as (Redis | Cluster) & ScriptCommands;
    this.#prefix = prefix;
    this.#coalesce = coalesceWrites;
    this.#policy = checkEvictionPolicy(this.#client, logger);
  }

  /**
   * Redis's `maxmemory-policy` as read once at start-up (the first that is not `noeviction` on a Cluster's
   * masters); `undefined` when Redis refused CONFIG GET.
   */
  evictionPolicy(): Promise<string | undefined> {
    return this.#policy;
  }

  #phoneKey(phone: string): string {
    return `${this.#prefix}{${phone}}`;
  }

  #ready(): (Redis | Cluster) & ScriptCommands {
    const client = this.#client;
    if (DOWN.has(client.status)) throw new SmsOtpError('STORE_UNAVAILABLE', { reason: 'disconnected' });
    if (this.#coalesce && client.status === 'ready') this.#hold(client);
    return client;
  }

  /**
   * Holds the command about to be written: the connections stay corked until the end of this event-loop
   * turn (`setImmediate` runs after the turn's I/O callbacks), so that the commands of every request that
   * arrived in the same turn go out in one `writev` per connection and Redis reads them in one go, instead of
   * one write (and one wake-up of Redis) per command. At most MAX_HELD commands wait: then they go, so that
   * Redis works on them while the app prepares the rest (without that cap a closed loop of 32 operations ran
   * 30 % slower). On a Cluster every master's connection is held, as the command may go to any of them.
   */
  #hold(client: Redis | Cluster): void {
    const corked = this.#corked;
    if (corked !== undefined) {
      if (++this.#held > MAX_HELD) {
        for (const socket of corked) {
          socket.uncork();
          socket.cork();
        }
        this.#held = 1;
      }
      return;
    }
    const sockets = socketsOf(client);
    if (sockets.length === 0) return;
    this.#corked = sockets;
    this.#held = 1;
    for (const socket of sockets) socket.cork();
    setImmediate(() => {
      this.#corked = undefined;
      for (const socket of sockets) socket.uncork();
    });
  }

  async issue(i: IssueInput): Promise<IssueResult> {
    return toIssueResult(await this.#ready().smsOtpIssue(this.#phoneKey(i.phone), ...issueArgs(i)));
  }

  async rollback(i: RollbackInput): Promise<void> {
    await this.#ready().smsOtpRollback(
      this.#phoneKey(i.phone),
      i.purpose,
      i.secret,
      i.undo,
      i.keepCounts ? '1' : '0',
    );
  }

  // Written with `then`, not `async`: one promise less on the path every guess of an attack takes.
  verify(i: StoreVerifyInput): Promise<StoreVerifyResult> {
    try {
      return this.#verify(i, i.candidate, 'v', i.token.ttlMs, i.token.jti) as Promise<StoreVerifyResult>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async reserve(i: ReserveInput): Promise<ReserveResult> {
    return (await this.#verify(i, '', 'r', 0, '')) as ReserveResult;
  }

  /**
   * VERIFY with the client's failed-verify window in the same script on a standalone Redis; on a Cluster
   * (the window lives in another slot) the window is read before and counted after.
   */
  #verify(
    i: ReserveInput,
    candidate: string,
    mode: 'v' | 'r',
    tokenTtlMs: number,
    jti: string,
  ): Promise<StoreVerifyResult | ReserveResult> {
    const window = i.failWindow;
    const separate = window !== undefined && this.#isCluster();
    const keys = [this.#phoneKey(i.phone), this.#tokenKey(i.phone, jti)];
    if (window && !separate) keys.push(this.#sharedKey(window.id));
    const args: Array<string | number> = [
      i.purpose,
      i.now,
      candidate,
      i.maxAttempts,
      i.failLimit,
      i.failWindowMs,
      mode,
      this.#callId(),
      i.binding,
      i.hardFailLimit,
      i.captchaSolved ? '1' : '0',
      Math.max(1, Math.ceil(tokenTtlMs)),
    ];
    if (window && !separate) args.push(window.limit, window.windowMs);
    const run = () =>
      this.#ready()
        .smsOtpVerify(keys.length, ...keys, ...args)
        .then(toVerifyResult);
    if (!separate) return run();
    return this.#windowRefusal(window, i.now).then(async (refused) => {
      if (refused) return refused;
      const result = await run();
      if (result.status !== 'ok' && result.status !== 'reserved') await this.#bump(window, i.now);
      return result;
    });
  }

  /** On a Cluster: `ip_limit` when the client's failed-verify window is full. */
  async #windowRefusal(window: Bucket, now: number): Promise<StoreVerifyResult | undefined> {
    const value = await this.#ready().get(this.#sharedKey(window.id));
    const [start = 0, count = 0] = value ? value.split('|').map(Number) : [];
    if (now >= start + window.windowMs || count < window.limit) return undefined;
    return { status: 'ip_limit', retryAfterMs: start + window.windowMs - now };
  }

  #bump(window: Bucket, now: number): Promise<number> {
    return this.#ready().smsOtpBump(this.#sharedKey(window.id), now, window.windowMs);
  }

  #isCluster(): boolean {
    return (this.#client as { isCluster?: boolean }).isCluster === true;
  }

  /** A token's record lives under its phone's hash tag: the verify that makes it writes it in its script. */
  #tokenKey(phone: string, jti: string): string {
    return `${this.#prefix}{${phone}}:t:${jti}`;
  }

  /**
   * An id for one verify or settle call, unique across app instances (a random prefix per store, then a
   * counter): the script marks a consumed code with it, so that ioredis re-sending the same command after a
   * dropped connection gets the same answer.
   */
  #callId(): string {
    this.#calls += 1;
    return `${this.#instance}${this.#calls.toString(36)}`;
  }

  async rekey(i: { phone: string; purpose: string; from: string; to: string }): Promise<void> {
    await this.#ready().smsOtpRekey(this.#phoneKey(i.phone), i.purpose, i.from, i.to);
  }

  async settle(i: SettleInput): Promise<SettleResult> {
    const window = i.ok ? undefined : i.failWindow;
    const separate = window !== undefined && this.#isCluster();
    const keys = [this.#phoneKey(i.phone), this.#tokenKey(i.phone, i.token.jti)];
    if (window && !separate) keys.push(this.#sharedKey(window.id));
    const args: Array<string | number> = [
      i.purpose,
      i.now,
      i.ref,
      i.ok ? '1' : '0',
      this.#callId(),
      Math.max(1, Math.ceil(i.token.ttlMs)),
    ];
    if (window && !separate) args.push(window.windowMs);
    const status = await this.#ready().smsOtpSettle(keys.length, ...keys, ...args);
    if (status === 'ok' && window && separate) await this.#bump(window, i.now);
    return { status: status === 'ok' ? 'ok' : 'expired' };
  }

  /** Admission keys share one hash tag, so that one script checks and counts them all on one slot. */
  #sharedKey(id: string): string {
    return `${this.#prefix}{g}:${id}`;
  }

  async admit(i: AdmitInput): Promise<AdmitResult> {
    const args: Array<string | number> = [];
    this.#pushAdmission(args, i);
    return decodeAdmit(await this.#ready().smsOtpAdmit(...(args as [number])), i);
  }

  /**
   * On a standalone Redis, admission and issue run as one script (one round trip). On a Cluster the phone's
   * hash and the shared windows live in different slots, so they run in turn, releasing the admission when
   * the issue is refused.
   */
  async admitAndIssue(a: AdmitInput, i: IssueInput): Promise<AdmitIssueResult> {
    if (this.#isCluster()) {
      const admitted = await this.admit(a);
      if (!admitted.ok) return { admit: admitted };
      let issued: IssueResult;
      try {
        issued = await this.issue(i);
      } catch (error) {
        // No send happens: the windows must not keep counting it (the standalone script is all or nothing).
        await this.release(a).catch(() => {});
        throw error;
      }
      if (!issued.ok) await this.release(a);
      return { admit: admitted, issue: issued };
    }
    // KEYS: the phone hash, then ADMIT's keys. ARGV: ISSUE's argument count and arguments, then ADMIT's.
    // Built into one array (this runs on every send).
    const args: Array<string | number> = [];
    this.#pushAdmission(args, a, { key: this.#phoneKey(i.phone), args: issueArgs(i) });
    const [status, first, second] = (await this.#ready().smsOtpAdmitIssue(...(args as [number]))) as [
      string,
      Reply,
      Reply,
    ];
    if (status === 'admit') return { admit: decodeAdmit(first, a) };
    return { admit: decodeAdmit(second, a), issue: toIssueResult(first) };
  }

  /**
   * Appends ADMIT's key count, keys and arguments to `args`. With `first` (a combined script): its key goes
   * before ADMIT's keys, and its argument count and arguments before ADMIT's arguments.
   */
  #pushAdmission(
    args: Array<string | number>,
    i: AdmitInput,
    first?: { key: string; args: Array<string | number> },
  ): void {
    const conversions = i.conversions ?? [];
    const { buckets, breakers } = i;
    args.push((first ? 1 : 0) + buckets.length + breakers.length + conversions.length);
    if (first) args.push(first.key);
    for (const b of buckets) args.push(this.#sharedKey(b.id));
    for (const b of breakers) args.push(this.#sharedKey(b.id));
    for (const c of conversions) args.push(this.#sharedKey(c.spec.id));
    if (first) args.push(first.args.length, ...first.args);
    args.push(i.now, i.captchaSolved ? '1' : '0', buckets.length, conversions.length, i.subnet ?? '');
    for (const b of buckets) args.push(b.limit, b.windowMs, b.captchaAfter ?? -1);
    for (const b of breakers)
      args.push(b.windowMs, b.minVolume, b.threshold, b.coolOffMs, b.block ? '1' : '0', b.minSubnets);
    for (const c of conversions) args.push(c.spec.windowMs, c.count);
  }

  async release(i: ReleaseInput): Promise<void> {
    const keys = [...i.buckets, ...i.breakers].map((spec) => this.#sharedKey(spec.id));
    if (keys.length > 0) await this.#ready().smsOtpRelease(keys.length, ...keys);
  }

  async convert(i: { now: number; conversions: Conversion[] }): Promise<void> {
    if (i.conversions.length === 0) return;
    const keys = i.conversions.map((c) => this.#sharedKey(c.spec.id));
    const args = i.conversions.flatMap((c) => [c.spec.windowMs, c.count]);
    await this.#ready().smsOtpConvert(keys.length, ...keys, i.now, ...args);
  }

  async putCaptcha(i: { key: string; answer: string; ttlMs: number; now: number }): Promise<void> {
    await this.#ready().set(`${this.#prefix}cap:{${i.key}}`, i.answer, 'PX', Math.max(1, Math.ceil(i.ttlMs)));
  }

  async takeCaptcha(i: { key: string; now: number }): Promise<string | undefined> {
    return (await this.#ready().getdel(`${this.#prefix}cap:{${i.key}}`)) ?? undefined;
  }

  async useToken(i: UseTokenInput): Promise<boolean> {
    const key = this.#tokenKey(i.phone, i.jti);
    const client = this.#ready();
    // The record is there until the token is used or past its lifetime: a token whose record is gone (used,
    // or lost with the data) is refused.
    if (!i.consume) return (await client.exists(key)) === 1;
    return (await client.del(key)) === 1;
  }

  async releaseToken(i: ReleaseTokenInput): Promise<void> {
    await this.#ready().set(this.#tokenKey(i.phone, i.jti), '1', 'PX', Math.max(1, Math.ceil(i.ttlMs)));
  }
}

/** Policies that never evict a key that has no TTL, nor any key: only `noeviction` keeps everything. */
const KEEPS_EVERYTHING = 'noeviction';

/**
 * Reads `maxmemory-policy` once the client is ready (every master of a Cluster) and warns once unless it is
 * `noeviction`. A Redis that refuses CONFIG (some managed services) is not warned about: it is documented.
 */
function checkEvictionPolicy(
  client: Redis | Cluster,
  logger: { warn(message: string): void },
): Promise<string | undefined> {
  const check = async (): Promise<string | undefined> => {
    const nodes: Array<Pick<Redis, 'config'>> = (client as { isCluster?: boolean }).isCluster
      ? (client as Cluster).nodes('master')
      : [client as Redis];
    let found: string | undefined;
    for (const node of nodes) {
      const reply = (await node.config('GET', 'maxmemory-policy')) as unknown as string[];
      found = reply?.[1];
      if (found && found !== KEEPS_EVERYTHING) {
        logger.warn(
          `sms-otp: Redis maxmemory-policy is "${found}": under memory pressure Redis may evict phones' attempt counts, send windows and locks (tokens stay safe). Set maxmemory-policy noeviction (and persistence) for the Redis that holds sms-otp's keys.`,
        );
        return found;
      }
    }
    return found;
  };
  if (typeof (client as { once?: unknown }).once !== 'function') return Promise.resolve(undefined);
  const ready =
    client.status === 'ready'
      ? Promise.resolve()
      : new Promise<void>((resolve) => client.once('ready', resolve));
  return ready.then(check).catch(() => undefined);
}

/** The sockets a command may be written to: the client's own, or those of a Cluster's ready masters. */
function socketsOf(client: Redis | Cluster): Socket[] {
  if ((client as { isCluster?: boolean }).isCluster) {
    const sockets: Socket[] = [];
    for (const node of (client as Cluster).nodes('master')) {
      const stream = (node as { stream?: Socket }).stream;
      if (node.status === 'ready' && stream && typeof stream.cork === 'function') sockets.push(stream);
    }
    return sockets;
  }
  const stream = (client as { stream?: Socket }).stream;
  return stream && typeof stream.cork === 'function' ? [stream] : [];
}

/** ADMIT's reply: status, the refusing key's index (1-based over buckets then breakers), ms, transitions. */
function decodeAdmit(reply: Reply, i: AdmitInput): AdmitResult {
  const [status, index, ms, ...rest] = reply;
  const specAt = (at: number) =>
    at <= i.buckets.length ? i.buckets[at - 1]! : i.breakers[at - 1 - i.buckets.length]!;
  const transitions: BreakerTransition[] = rest.map((t) => {
    const [at, state, sent, verified] = String(t).split('|');
    return {
      id: specAt(Number(at)).id,
      state: state as 'open',
      sent: Number(sent),
      verified: Number(verified),
    };
  });
  if (status === 'ok') return { ok: true, transitions };
  return {
    ok: false,
    reason: status as 'limit',
    id: specAt(Number(index)).id,
    retryAfterMs: Number(ms),
    transitions,
  };
}

/** ISSUE's arguments after the key. */
function issueArgs(i: IssueInput): Array<string | number> {
  return [
    i.purpose,
    i.now,
    i.secret,
    i.ttlMs,
    i.cooldownsMs.join(','),
    i.hourLimit,
    i.dayLimit,
    i.failLimit,
    i.failWindowMs,
    i.captchaAfter ?? -1,
    i.captchaSolved ? '1' : '0',
    i.distinctSecret ? '1' : '0',
    i.binding,
    i.hardFailLimit,
    i.captchaPastLimits ? '1' : '0',
  ];
}

function toIssueResult([status, value, third]: Reply): IssueResult {
  if (status === 'ok') return { ok: true, undo: String(value), cooldownMs: Number(third) };
  return {
    ok: false,
    reason: status as 'cooldown',
    retryAfterMs: Number(value),
    ...(third !== undefined ? { cooldownMs: Number(third) } : {}),
  };
}

function toVerifyResult(reply: Reply): StoreVerifyResult | ReserveResult {
  const [status, a, b] = reply;
  switch (status) {
    case 'mismatch':
      return { status: 'mismatch' };
    case 'captcha':
      return { status: 'captcha' };
    case 'ip_limit':
      return { status: 'ip_limit', retryAfterMs: Number(a) };
    case 'ok':
      return { status: 'ok' };
    case 'invalid':
      return { status: 'invalid', attemptsLeft: Number(a) };
    case 'reserved':
      return { status: 'reserved', ref: String(a), attemptsLeft: Number(b) };
    case 'locked':
      return { status: 'locked', retryAfterMs: Number(a) };
    case 'dead':
      return { status: 'dead', retryAfterMs: Number(a) };
    default:
      return { status: 'expired' };
  }
}
