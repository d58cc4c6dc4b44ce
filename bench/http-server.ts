/**
 * Child process of bench/http.ts: one framework app on 127.0.0.1 with the sms-otp routes on RedisStore and
 * two baseline routes that parse the JSON body the framework's usual way and make one EVALSHA, nothing else:
 *
 * - `POST /replay` replays, one per request and in order, the EVALSHA calls the sms-otp routes made in a
 *   recorded segment (raw ioredis, on database 1): the same Redis work as the measured routes, none of
 *   sms-otp's own. The target ratios are against this one.
 * - `POST /floor` is the least a hand-written send does around that same call: it reads the phone with
 *   libphonenumber-js (`parsePhoneNumberFromString(…).isValid()`), draws a code with `crypto.randomInt`,
 *   HMACs it with `createHmac`, draws a request id (`randomUUID`), replays the recorded call (on database 2) and answers
 *   the body and `Cache-Control` that `/sms/send` answers. No rate limits, no cooldown check, no events:
 *   what is left of a send with every feature of sms-otp taken away.
 * - `POST /baseline` runs the trivial script (HINCRBY + PEXPIRE), as in the first runs.
 *
 * A control server on a second port cuts recorded segments (`/segment`), replays one untimed (`/run`), arms
 * one for `/replay` (`/arm`) and empties database 1 (`/flush`). Prints `READY <port> <controlPort>`.
 *
 *   node --import tsx bench/http-server.ts <express|koa|fastify> <redisPort>
 *
 * `BENCH_COALESCE=0`: RedisStore with `coalesceWrites: false` (`COALESCE_WRITES` in bench/support.ts).
 */
import { createHmac, randomInt, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { createSmsOtp, RedisStore } from '@sms-otp/core';
import { smsOtp as expressRoutes } from '@sms-otp/express';
import { smsOtpPlugin } from '@sms-otp/fastify';
import { smsOtp as koaRoutes } from '@sms-otp/koa';
import express from 'express';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import Koa from 'koa';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import {
  benchEngineOptions,
  bySha,
  COALESCE_WRITES,
  recordScripts,
  replay,
  withBaseline,
} from './support.js';

const [framework, redisPort] = process.argv.slice(2);
/** A connection to the benchmark's redis-server (`BENCH_AUTOPIPELINE=1`: with ioredis auto-pipelining). */
const connect = (db = 0) =>
  new Redis({
    host: '127.0.0.1',
    port: Number(redisPort),
    db,
    enableAutoPipelining: process.env.BENCH_AUTOPIPELINE === '1',
  });
const client = connect();
/** The trivial script's own connection, so that its calls are not recorded with sms-otp's. */
const trivial = withBaseline(connect());
// The conversion breaker is off: a stream of sends that are never verified is exactly what it exists to stop.
const otp = createSmsOtp({
  ...benchEngineOptions(),
  store: new RedisStore({ client, coalesceWrites: COALESCE_WRITES }),
  breaker: false,
});

const recorder = recordScripts(client);
const segments: unknown[][][] = [];
let armed: unknown[][] = [];

/**
 * Replays the armed segment's calls, one per request and in order, on database `db` (its own connection and
 * cursor); the parent sends exactly as many requests as the segment holds.
 */
function armedReplay(db: number) {
  const client = connect(db);
  const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>;
  let cursor = 0;
  return {
    client,
    next: () => {
      const call = armed[cursor++];
      return call ? evalsha(...call) : Promise.reject(new Error(`segment exhausted on database ${db}`));
    },
    rewind: () => {
      cursor = 0;
    },
  };
}
/** `/replay`'s calls, on database 1 (also where `/run` replays a segment untimed). */
const replaying = armedReplay(1);
/** `/floor`'s calls, on database 2. */
const flooring = armedReplay(2);

const FLOOR_SECRET = 'bench-secret-bench-secret-bench-secret-0123-0123456789ABCDEF';
/**
 * `POST /floor`: a send with nothing of sms-otp's, as one would write it by hand (see the header). The Redis
 * call is the next armed one, replayed on database 2, so that its Redis work is the replay's.
 */
async function floorSend(body: unknown): Promise<Record<string, unknown>> {
  const phone = parsePhoneNumberFromString(String((body as { phone?: unknown })?.phone), 'CN');
  if (!phone?.isValid()) throw new Error('the floor route reads valid numbers only');
  const code = randomInt(0, 1_000_000).toString().padStart(6, '0');
  createHmac('sha256', FLOOR_SECRET).update(`login\u0000${phone.number}\u0000${code}`).digest('base64url');
  const requestId = randomUUID();
  await flooring.next();
  return { sent: true, requestId, expiresIn: 300, resendIn: 1, devCode: code };
}

/**
 * The measurement window, kept by the app itself: requests finished, and the time from the first request's
 * arrival to the last response. The same for every route, and exact for runs of a fixed number of requests
 * (autocannon only notices that such a run ended at its next one-second tick).
 */
let window = { first: 0, last: 0, done: 0, cpu: process.cpuUsage(), path: '' };
function watch(server: Server): void {
  server.on('request', (req, res: ServerResponse) => {
    if (window.first === 0) {
      window.first = performance.now();
      window.path = req.url ?? '';
    }
    res.once('finish', () => {
      window.done += 1;
      window.last = performance.now();
    });
  });
}

const control = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://control');
  const segment = segments[Number(url.searchParams.get('segment'))] ?? [];
  const answer = (value: unknown) => res.end(JSON.stringify(value));
  if (url.pathname === '/segment') {
    segments.push(bySha(recorder.take()));
    answer({ segment: segments.length - 1, count: segments.at(-1)!.length });
  } else if (url.pathname === '/run') {
    replay(replaying.client, segment, { concurrency: 32 }).then(answer, (error: Error) =>
      answer({ error: error.message }),
    );
  } else if (url.pathname === '/arm') {
    armed = segment;
    replaying.rewind();
    flooring.rewind();
    answer({ count: armed.length });
  } else if (url.pathname === '/flush') {
    Promise.all([replaying.client.flushdb(), flooring.client.flushdb()]).then(() => answer({ ok: true }));
  } else if (url.pathname === '/window') {
    // Ends the current window (its figures are the answer) and starts the next.
    const { user, system } = process.cpuUsage(window.cpu);
    const ms = window.last - window.first;
    const done = window.done;
    const path = window.path;
    window = { first: 0, last: 0, done: 0, cpu: process.cpuUsage(), path: '' };
    profileWindow(path, done).then(() => answer({ done, ms, cpuUs: user + system }));
  } else if (url.pathname === '/exit') {
    // A clean exit, so that `--cpu-prof` writes its profile.
    answer({ ok: true });
    setImmediate(() => process.exit(0));
  } else {
    res.statusCode = 404;
    res.end();
  }
});

/**
 * `BENCH_PROFILE=<dir>`: a V8 CPU profile per measurement window, `<dir>/<n>-<framework><path>-<requests>.cpuprofile`
 * (what BENCHMARKS.md's "where the time goes" reads). Off by default: profiling slows everything down.
 */
const profileDir = process.env.BENCH_PROFILE;
if (profileDir) mkdirSync(profileDir, { recursive: true });
let profiler: Session | undefined;
let profiles = 0;
async function profileWindow(path: string, done: number): Promise<void> {
  if (!profileDir) return;
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    if (done > 0) {
      const name = `${String(profiles++).padStart(2, '0')}-${framework}${path.replaceAll('/', '-')}-${done}`;
      writeFileSync(`${profileDir}/${name}.cpuprofile`, JSON.stringify(profile));
    }
  } else {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
  }
  await profiler.post('Profiler.start');
}

const baselineKey = (body: unknown) => `bench:{${String((body as { phone?: unknown } | null)?.phone)}}`;

async function listen(): Promise<number> {
  if (framework === 'express') {
    const app = express();
    app.use(expressRoutes(otp));
    app.post('/baseline', express.json(), (req, res, next) => {
      trivial.benchHit(baselineKey(req.body), 300_000).then(() => res.json({ ok: true }), next);
    });
    app.post('/replay', express.json(), (_req, res, next) => {
      replaying.next().then(() => res.json({ ok: true }), next);
    });
    app.post('/floor', express.json(), (req, res, next) => {
      floorSend(req.body).then((body) => res.set('cache-control', 'no-store').json(body), next);
    });
    const server = createServer(app);
    watch(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }
  if (framework === 'koa') {
    const app = new Koa();
    app.use(koaRoutes(otp));
    app.use(async (ctx, next) => {
      const { path } = ctx;
      if (ctx.method !== 'POST' || (path !== '/baseline' && path !== '/replay' && path !== '/floor'))
        return next();
      let text = '';
      for await (const chunk of ctx.req) text += chunk;
      const body = JSON.parse(text);
      if (path === '/floor') {
        ctx.body = await floorSend(body);
        ctx.set('cache-control', 'no-store');
        return;
      }
      if (path === '/replay') await replaying.next();
      else await trivial.benchHit(baselineKey(body), 300_000);
      ctx.body = { ok: true };
    });
    const server = createServer(app.callback());
    watch(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }
  if (framework === 'fastify') {
    const app = Fastify();
    await app.register(smsOtpPlugin, { otp, prefix: '/sms' });
    app.post('/baseline', async (request) => {
      await trivial.benchHit(baselineKey(request.body), 300_000);
      return { ok: true };
    });
    app.post('/replay', async () => {
      await replaying.next();
      return { ok: true };
    });
    app.post('/floor', async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return floorSend(request.body);
    });
    watch(app.server);
    await app.listen({ port: 0, host: '127.0.0.1' });
    return (app.server.address() as AddressInfo).port;
  }
  throw new Error(`unknown framework ${framework}`);
}

const port = await listen();
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
console.log(`READY ${port} ${(control.address() as AddressInfo).port}`);
// The parent ends this process; never outlive it.
process.on('disconnect', () => process.exit(0));
setInterval(() => {
  if (process.ppid === 1) process.exit(0);
}, 1_000).unref();
