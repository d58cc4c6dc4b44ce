/**
 * HTTP: requests/s and p99 latency of `POST /sms/verify` (a realistic mix: per phone two wrong codes then the
 * right one, over thousands of phones) and `POST /sms/send` (a new phone each time, a no-op sender) for
 * Express, Koa and Fastify on RedisStore, each beside baseline routes in the same framework and process that
 * parse the same JSON body and make one EVALSHA, nothing else: `/replay` replays the very EVALSHA calls the
 * measured route just made (same Redis work; the target ratio), `/baseline` runs a trivial script. Load:
 * autocannon, 32 keep-alive connections, 5 s per engine run and as many requests per replay, in this
 * process; the app runs in a child process (bench/http-server.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { startRedis } from '../test/support/redis.js';
import { cnPhone, fmt, sleep } from './support.js';

const FRAMEWORKS = ['express', 'koa', 'fastify'] as const;
const CONNECTIONS = 32;
const DURATION_S = 5;
const SEEDED_PHONES = 8_000;

interface App {
  child: ChildProcess;
  port: number;
  /** Calls the app's control server (recorded segments, replays). */
  control(path: string): Promise<{ segment?: number; count?: number; error?: string }>;
}

function startApp(framework: string, redisPort: number): Promise<App> {
  const file = fileURLToPath(new URL('./http-server.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', file, framework, String(redisPort)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
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
          return (await response.json()) as { segment?: number; count?: number; error?: string };
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

/** Runs for `DURATION_S`, or for exactly `amount` requests. */
function load(port: number, path: string, body: () => unknown, amount?: number): Promise<Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    ...(amount ? { amount } : { duration: DURATION_S }),
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

const statuses = (result: Result) =>
  Object.entries(result.statusCodeStats ?? {})
    .map(([status, { count }]) => `${status}×${count}`)
    .join(' ');

interface Rate {
  rps: number;
  p99: number;
}

export interface HttpResult {
  framework: string;
  /** The trivial-script route (mean of before and after). */
  trivial: Rate;
  verify: Rate;
  verifyReplay: Rate;
  send: Rate;
  sendReplay: Rate;
}

/** Completed requests per second over the whole run (the same for timed and counted runs), and p99. */
const rate = (result: Result): Rate => ({
  rps: result.requests.total / result.duration,
  p99: result.latency.p99,
});

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
        const trivial1 = await load(port, '/baseline', trivialBody);

        let k = 0;
        const verifyBody = () => {
          const i = k++;
          const target = seeded[Math.floor(i / 3) % seeded.length]!;
          const wrong = String((Number(target.code) + 1) % 1_000_000).padStart(6, '0');
          return { phone: target.phone, code: i % 3 === 2 ? target.code : wrong };
        };
        const verify = await load(port, '/sms/verify', verifyBody);
        const verified = await control('/segment');
        // The replay database goes through the same states in the same order: seeding, verifies, sends.
        await control('/flush');
        const seedRun = await control(`/run?segment=${seeding}`);
        if (seedRun.error) throw new Error(`replaying the seeding failed: ${seedRun.error}`);
        await control(`/arm?segment=${verified.segment}`);
        k = 0;
        const verifyReplay = await load(port, '/replay', verifyBody, verified.count);

        let s = 0;
        const send = await load(port, '/sms/send', () => ({ phone: cnPhone('137', s++) }));
        const sent = await control('/segment');
        await control(`/arm?segment=${sent.segment}`);
        s = 0;
        const sendReplay = await load(port, '/replay', () => ({ phone: cnPhone('137', s++) }), sent.count);
        const trivial2 = await load(port, '/baseline', trivialBody);

        const result: HttpResult = {
          framework,
          trivial: {
            rps: (rate(trivial1).rps + rate(trivial2).rps) / 2,
            p99: (trivial1.latency.p99 + trivial2.latency.p99) / 2,
          },
          verify: rate(verify),
          verifyReplay: rate(verifyReplay),
          send: rate(send),
          sendReplay: rate(sendReplay),
        };
        results.push(result);
        const runs = [trivial1, verify, verifyReplay, send, sendReplay, trivial2];
        const errors = runs.reduce((sum, r) => sum + r.errors + r.timeouts, 0);
        const line = (name: string, engine: Rate, baseline: Rate) =>
          `    ${name.padEnd(6)} ${fmt(engine.rps).padStart(6)} req/s p99 ${engine.p99} ms | replay ${fmt(baseline.rps).padStart(6)} req/s p99 ${baseline.p99} ms | ` +
          `ratio ${(engine.rps / baseline.rps).toFixed(2)} (vs trivial ${(engine.rps / result.trivial.rps).toFixed(2)})`;
        log(
          `  ${framework}: trivial-script route ${fmt(result.trivial.rps)} req/s p99 ${result.trivial.p99} ms; errors ${errors}`,
        );
        log(line('verify', result.verify, result.verifyReplay));
        log(line('send', result.send, result.sendReplay));
        log(
          `    statuses: verify ${statuses(verify)} (${fmt(seeded.length)} phones seeded); send ${statuses(send)}; ` +
            `replays ${statuses(verifyReplay)} / ${statuses(sendReplay)}`,
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
