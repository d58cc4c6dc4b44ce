/**
 * Overload (issue 16, item 6): a flood of `GET /sms/captcha` requests on 127.0.0.1 (autocannon, bounded in
 * connections and seconds) against an Express app in a child process, while a real user's send + verify is
 * timed one after another (fresh phone each time). Prints the user's p50/p99 and the flood's answers, for the
 * default `captcha.maxPending` (64 × CPUs), a small bound (16) and one so high that nothing is refused, after a
 * flood floor: the same flood against a bare Express route answering 429. No assertions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const FLOOD_CONNECTIONS = 500;
const FLOOD_SECONDS = 8;

function startServer(maxPending: number): Promise<{ child: ChildProcess; port: number }> {
  const file = fileURLToPath(new URL('./overload-server.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', file, String(maxPending)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('overload app did not start in 30 s')), 30_000);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /READY (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`overload app exited with ${code}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** The flood, from a process of its own. */
function runFlood(
  port: number,
  path: string,
): Promise<{ made: number; refused: number; errors: number; timeouts: number }> {
  const file = fileURLToPath(new URL('./overload-flood.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', file, String(port), String(FLOOD_CONNECTIONS), String(FLOOD_SECONDS), path],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`the flood exited with ${code}: ${out}`));
      }
    });
  });
}

const post = async (port: number, path: string, body: unknown) => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

/** Send + verify, one pair after another, until `until`: milliseconds per pair (failed pairs counted apart). */
async function user(port: number, until: number, first: number): Promise<{ ms: number[]; failed: number }> {
  const ms: number[] = [];
  let failed = 0;
  for (let i = first; Date.now() < until; i++) {
    const phone = `+86138${String(i).padStart(8, '0')}`;
    const t0 = performance.now();
    const sent = await post(port, '/sms/send', { phone });
    const verified =
      sent.status === 200
        ? await post(port, '/sms/verify', { phone, code: sent.body.devCode, requestId: sent.body.requestId })
        : sent;
    if (verified.status === 200) ms.push(performance.now() - t0);
    else {
      failed += 1;
      if (failed === 1) firstFailure ??= `${verified.status} ${JSON.stringify(verified.body)}`;
    }
    await sleep(20);
  }
  return { ms, failed };
}

/** The first failed pair's answer, printed once (a bench whose user always fails measures nothing). */
let firstFailure: string | undefined;

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

export async function benchOverload(log: (line: string) => void): Promise<string[]> {
  const lines: string[] = [];
  const defaultPending = 64 * availableParallelism();
  // The first run floods a trivial route answering 429 (no sms-otp code): the floor any flood of this size
  // sets for the user's latency on this machine, whatever the captcha route does.
  const runs: [string, number, string][] = [
    ['flood floor (a bare 429 route)', defaultPending, '/trivial'],
    [`maxPending ${defaultPending} (default)`, defaultPending, '/sms/captcha'],
    ['maxPending 16', 16, '/sms/captcha'],
    ['maxPending 100000 (unbounded)', 100_000, '/sms/captcha'],
  ];
  let first = 0;
  for (const [label, maxPending, path] of runs) {
    const { child, port } = await startServer(maxPending);
    try {
      // The user alone first, then under the flood.
      const calm = await user(port, Date.now() + 2_000, first);
      first += 10_000;
      const flood = runFlood(port, path);
      // autocannon's start-up (tsx) and the flood's first second.
      await sleep(2_500);
      const loaded = await user(port, Date.now() + (FLOOD_SECONDS - 2.5) * 1000, first);
      first += 10_000;
      const result = await flood;
      const line =
        `${label}: user send+verify alone p50 ${percentile(calm.ms, 50).toFixed(1)} ms, p99 ${percentile(calm.ms, 99).toFixed(1)} ms (${calm.ms.length}); ` +
        `under ${FLOOD_CONNECTIONS} connections on ${path} p50 ${percentile(loaded.ms, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(loaded.ms, 99).toFixed(1)} ms (${loaded.ms.length} pairs, ${loaded.failed} failed); ` +
        `flood answers: ${result.made} 200 (captchas made), ${result.refused} 429, ${result.errors} errors, ${result.timeouts} timeouts`;
      log(`  ${line}`);
      if (firstFailure) log(`  first failed pair: ${firstFailure}`);
      firstFailure = undefined;
      lines.push(line);
    } finally {
      await stop(child);
    }
  }
  return lines;
}
