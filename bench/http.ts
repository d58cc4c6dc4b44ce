/**
 * HTTP: requests/s and p99 latency of `POST /sms/verify` (a realistic mix: per phone two wrong codes then the
 * right one, over thousands of phones) and `POST /sms/send` (a new phone each time, a no-op sender) for
 * Express, Koa and Fastify on RedisStore, each beside baseline routes in the same framework and process that
 * parse the same JSON body and make one EVALSHA, nothing else: `/replay` replays the very EVALSHA calls the
 * measured route just made (same Redis work; the target ratio), `/baseline` runs a trivial script. Load:
 * autocannon, 32 keep-alive connections, 5 rounds of 1 s of engine load each followed by the replay of
 * as many requests, in this process; the app runs in a child process (bench/http-server.ts), on the built
 * packages (dist), as users run them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { startRedis } from '../test/support/redis.js';
import { cnPhone, fmt, median, ratioText, sleep } from './support.js';

const FRAMEWORKS = (process.env.BENCH_FRAMEWORKS?.split(',') ?? [
  'express',
  'koa',
  'fastify',
]) as readonly string[];
const CONNECTIONS = 32;
const DURATION_S = 5;
/**
 * Engine and replay alternate this many times per route (DURATION_S of engine load in all). Each round's
 * ratio compares two windows a second apart; the reported ratio is the median round's, so that one round
 * hit by this shared machine's swings (±30 % from one minute to the next) does not move it.
 */
const ROUNDS = 5;
const SEEDED_PHONES = 8_000;

/** What the app's control server answers. */
interface Answer {
  segment?: number;
  count?: number;
  error?: string;
  /** `/window`: requests finished, ms from the first arrival to the last response, app CPU µs. */
  done?: number;
  ms?: number;
  cpuUs?: number;
}

interface App {
  child: ChildProcess;
  port: number;
  /** Calls the app's control server (recorded segments, replays). */
  control(path: string): Promise<Answer>;
}

function startApp(framework: string, redisPort: number): Promise<App> {
  const file = fileURLToPath(new URL('./http-server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', file, framework, String(redisPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${framework} app did not start in 30 s`)), 30_000);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /READY (\d+) (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        const control = async (path: string) => {
          const response = await fetch(`http://127.0.0.1:${match[2]}${path}`, {
            method: 'POST',
            signal: AbortSignal.timeout(120_000),
          });
          return (await response.json()) as Answer;
        };
        resolve({ child, port: Number(match[1]), control });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${framework} app exited with ${code}`));
    });
  });
}

async function stopApp(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** Runs for `seconds`, or for exactly `amount` requests. */
function load(
  port: number,
  path: string,
  body: () => unknown,
  amount?: number,
  seconds = DURATION_S,
): Promise<Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    ...(amount ? { amount } : { duration: seconds }),
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: JSON.stringify(body()) }),
      },
    ],
  });
}

/** Seeds phones with live codes through the app itself (`exposeCode` gives them back), 16 at a time. */
async function seed(port: number, count: number): Promise<Array<{ phone: string; code: string }>> {
  const seeded: Array<{ phone: string; code: string }> = [];
  let next = 0;
  async function lane() {
    while (next < count) {
      const phone = cnPhone('139', next++);
      const response = await fetch(`http://127.0.0.1:${port}/sms/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phone }),
        signal: AbortSignal.timeout(10_000),
      });
      const json = (await response.json()) as { devCode?: string };
      if (json.devCode) seeded.push({ phone, code: json.devCode });
    }
  }
  await Promise.all(Array.from({ length: 16 }, lane));
  return seeded;
}

/** Status codes over some runs, e.g. `200×5704 400×11410`. */
function statuses(runs: Array<{ result: Result }>): string {
  const counts = new Map<string, number>();
  for (const { result } of runs)
    for (const [status, { count }] of Object.entries(result.statusCodeStats ?? {}))
      counts.set(status, (counts.get(status) ?? 0) + count);
  return [...counts].map(([status, count]) => `${status}×${count}`).join(' ');
}

interface Rate {
  rps: number;
  p99: number;
  /** The app process's CPU time per request, µs (user + system). */
  cpuUs?: number;
}

export interface HttpResult {
  framework: string;
  /** The trivial-script route (mean of before and after). */
  trivial: Rate;
  verify: Rate;
  verifyReplay: Rate;
  send: Rate;
  sendReplay: Rate;
  /** `/floor`: a hand-written send around the same replayed call (bench/http-server.ts). */
  sendFloor: Rate;
  /** Per-round ratios to the replay route, and their median (the reported ratio). */
  verifyRatio: Ratio;
  sendRatio: Ratio;
  /** The floor route against the replay, and the send against the floor. */
  floorRatio: Ratio;
  sendToFloor: Ratio;
}

export interface Ratio {
  median: number;
  rounds: number[];
}

function ratioOf(engine: Array<{ window: Answer }>, replayed: Array<{ window: Answer }>): Ratio {
  const perSecond = ({ window }: { window: Answer }) => window.done! / window.ms!;
  const rounds = engine.map((run, i) => perSecond(run) / perSecond(replayed[i]!));
  return { median: median(rounds), rounds };
}

/**
 * Requests per second and CPU per request as the app counted them over one or more windows (summed), p99
 * as autocannon saw it (the mean of the runs').
 */
function rate(runs: Array<{ result: Result; window: Answer }>): Rate {
  const sum = (value: (run: { result: Result; window: Answer }) => number) =>
    runs.reduce((total, run) => total + value(run), 0);
  const done = sum((run) => run.window.done!);
  return {
    rps: (done / sum((run) => run.window.ms!)) * 1000,
    p99: sum((run) => run.result.latency.p99) / runs.length,
    cpuUs: sum((run) => run.window.cpuUs!) / Math.max(1, done),
  };
}

export async function benchHttp(log: (line: string) => void): Promise<HttpResult[]> {
  const redis = await startRedis();
  const admin = redis.client();
  const results: HttpResult[] = [];
  try {
    for (const framework of FRAMEWORKS) {
      await admin.flushall();
      const app = await startApp(framework, redis.port);
      const { port, control } = app;
      try {
        let n = 0;
        const trivialBody = () => ({ phone: cnPhone('186', n++) });
        // Warm up the JIT and the scripts (and drop what was recorded meanwhile).
        await load(port, '/baseline', trivialBody);
        await load(port, '/sms/send', () => ({ phone: cnPhone('150', n++) }));
        await control('/segment');
        const seeded = await seed(port, SEEDED_PHONES);
        const seeding = (await control('/segment')).segment!;
        /** A load in a measurement window of its own. */
        const timed = async (path: string, body: () => unknown, amount?: number, seconds = DURATION_S) => {
          await control('/window');
          const result = await load(port, path, body, amount, seconds);
          return { result, window: await control('/window') };
        };
        type Timed = Awaited<ReturnType<typeof timed>>;
        const trivial1 = await timed('/baseline', trivialBody);

        // The replay database goes through the same states in the same order as the engine's: seeding, then
        // each engine round's calls right after that round (nearby in time, so drift hits both alike).
        await control('/flush');
        const seedRun = await control(`/run?segment=${seeding}`);
        if (seedRun.error) throw new Error(`replaying the seeding failed: ${seedRun.error}`);
        /** With `floor`, each round also runs `/floor` over the same bodies and replayed calls. */
        const alternate = async (path: string, body: (i: number) => unknown, floor = false) => {
          const engine: Timed[] = [];
          const replayed: Timed[] = [];
          const floored: Timed[] = [];
          let next = 0;
          for (let round = 0; round < ROUNDS; round++) {
            const start = next;
            engine.push(await timed(path, () => body(next++), undefined, DURATION_S / ROUNDS));
            const segment = await control('/segment');
            await control(`/arm?segment=${segment.segment}`);
            let i = start;
            replayed.push(await timed('/replay', () => body(i++), segment.count));
            let j = start;
            if (floor) floored.push(await timed('/floor', () => body(j++), segment.count));
          }
          return { engine, replayed, floored };
        };
        const verified = await alternate('/sms/verify', (i) => {
          const target = seeded[Math.floor(i / 3) % seeded.length]!;
          const wrong = String((Number(target.code) + 1) % 1_000_000).padStart(6, '0');
          return { phone: target.phone, code: i % 3 === 2 ? target.code : wrong };
        });
        const sent = await alternate('/sms/send', (i) => ({ phone: cnPhone('137', i) }), true);
        const trivial2 = await timed('/baseline', trivialBody);

        const result: HttpResult = {
          framework,
          trivial: {
            rps: (rate([trivial1]).rps + rate([trivial2]).rps) / 2,
            p99: (trivial1.result.latency.p99 + trivial2.result.latency.p99) / 2,
            cpuUs: (rate([trivial1]).cpuUs! + rate([trivial2]).cpuUs!) / 2,
          },
          verify: rate(verified.engine),
          verifyReplay: rate(verified.replayed),
          send: rate(sent.engine),
          sendReplay: rate(sent.replayed),
          sendFloor: rate(sent.floored),
          verifyRatio: ratioOf(verified.engine, verified.replayed),
          sendRatio: ratioOf(sent.engine, sent.replayed),
          floorRatio: ratioOf(sent.floored, sent.replayed),
          sendToFloor: ratioOf(sent.engine, sent.floored),
        };
        results.push(result);
        const runs = [
          trivial1,
          ...verified.engine,
          ...verified.replayed,
          ...sent.engine,
          ...sent.replayed,
          ...sent.floored,
          trivial2,
        ];
        const errors = runs.reduce((sum, r) => sum + r.result.errors + r.result.timeouts, 0);
        const line = (name: string, engine: Rate, baseline: Rate, ratio: Ratio) =>
          `    ${name.padEnd(6)} ${fmt(engine.rps).padStart(6)} req/s p99 ${engine.p99} ms app CPU ${fmt(engine.cpuUs!)} µs/req | ` +
          `replay ${fmt(baseline.rps).padStart(6)} req/s p99 ${baseline.p99} ms app CPU ${fmt(baseline.cpuUs!)} µs/req | ` +
          `ratio ${ratioText(ratio.median)} (rounds ${ratio.rounds.map(ratioText).join(' ')}; ` +
          `vs trivial ${ratioText(engine.rps / result.trivial.rps)})`;
        log(
          `  ${framework}: trivial-script route ${fmt(result.trivial.rps)} req/s p99 ${result.trivial.p99} ms ` +
            `app CPU ${fmt(result.trivial.cpuUs!)} µs/req; errors ${errors}`,
        );
        log(line('verify', result.verify, result.verifyReplay, result.verifyRatio));
        log(line('send', result.send, result.sendReplay, result.sendRatio));
        log(
          `    floor  ${fmt(result.sendFloor.rps).padStart(6)} req/s p99 ${result.sendFloor.p99} ms app CPU ` +
            `${fmt(result.sendFloor.cpuUs!)} µs/req (a hand-written send around the same calls) | ` +
            `floor/replay ${ratioText(result.floorRatio.median)} (rounds ${result.floorRatio.rounds.map(ratioText).join(' ')}) | ` +
            `send/floor ${ratioText(result.sendToFloor.median)} (rounds ${result.sendToFloor.rounds.map(ratioText).join(' ')})`,
        );
        log(
          `    statuses: verify ${statuses(verified.engine)} (${fmt(seeded.length)} phones seeded); ` +
            `send ${statuses(sent.engine)}; replays ${statuses(verified.replayed)} / ${statuses(sent.replayed)}; ` +
            `floor ${statuses(sent.floored)}`,
        );
      } finally {
        await stopApp(app.child);
      }
    }
  } finally {
    await redis.stop();
  }
  return results;
}
