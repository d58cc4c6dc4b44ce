/**
 * HTTP: requests/s and p99 latency of `POST /sms/verify` (a realistic mix: per phone two wrong codes then the
 * right one, over thousands of phones) and `POST /sms/send` (a new phone each time, a no-op sender) for
 * Express, Koa and Fastify on RedisStore, each beside a baseline route in the same framework and process
 * that parses the JSON body and makes one EVALSHA of a trivial script. Load: autocannon, 32 keep-alive
 * connections, 5 s per run, in this process; the app runs in a child process.
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

function startApp(framework: string, redisPort: number): Promise<{ child: ChildProcess; port: number }> {
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
      const match = /READY (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
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

function load(port: number, path: string, body: () => unknown): Promise<Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: DURATION_S,
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

export interface HttpResult {
  framework: string;
  baseline: { rps: number; p99: number };
  verify: { rps: number; p99: number };
  send: { rps: number; p99: number };
}

export async function benchHttp(log: (line: string) => void): Promise<HttpResult[]> {
  const redis = await startRedis();
  const admin = redis.client();
  const results: HttpResult[] = [];
  try {
    for (const framework of FRAMEWORKS) {
      await admin.flushall();
      const { child, port } = await startApp(framework, redis.port);
      try {
        let n = 0;
        const baselineBody = () => ({ phone: cnPhone('186', n++) });
        // Warm up the JIT and the scripts.
        await load(port, '/baseline', baselineBody);
        await load(port, '/sms/send', () => ({ phone: cnPhone('150', n++) }));
        const seeded = await seed(port, SEEDED_PHONES);
        const base1 = await load(port, '/baseline', baselineBody);
        let k = 0;
        const verify = await load(port, '/sms/verify', () => {
          const i = k++;
          const target = seeded[Math.floor(i / 3) % seeded.length]!;
          const wrong = String((Number(target.code) + 1) % 1_000_000).padStart(6, '0');
          return { phone: target.phone, code: i % 3 === 2 ? target.code : wrong };
        });
        let s = 0;
        const send = await load(port, '/sms/send', () => ({ phone: cnPhone('137', s++) }));
        const base2 = await load(port, '/baseline', baselineBody);
        const baseline = {
          rps: (base1.requests.average + base2.requests.average) / 2,
          p99: (base1.latency.p99 + base2.latency.p99) / 2,
        };
        const result: HttpResult = {
          framework,
          baseline,
          verify: { rps: verify.requests.average, p99: verify.latency.p99 },
          send: { rps: send.requests.average, p99: send.latency.p99 },
        };
        results.push(result);
        const errors = [base1, verify, send, base2].reduce((sum, r) => sum + r.errors + r.timeouts, 0);
        log(
          `  ${framework}: baseline ${fmt(baseline.rps)} req/s p99 ${baseline.p99} ms | ` +
            `verify ${fmt(result.verify.rps)} req/s (${(result.verify.rps / baseline.rps).toFixed(2)}) p99 ${result.verify.p99} ms | ` +
            `send ${fmt(result.send.rps)} req/s (${(result.send.rps / baseline.rps).toFixed(2)}) p99 ${result.send.p99} ms | ` +
            `errors ${errors}`,
        );
        log(
          `    statuses: baseline ${statuses(base1)}; verify ${statuses(verify)} (${fmt(seeded.length)} phones seeded); send ${statuses(send)}`,
        );
      } finally {
        await stopApp(child);
      }
    }
  } finally {
    await redis.stop();
  }
  return results;
}
