/**
 * Redocly CLI's `recommended` ruleset (the `@redocly/cli` devDependency, pinned) over the documents the
 * three examples serve and over `openApiDocument` with each option that changes the document's shape:
 * 0 errors, and no example that its own schema refuses.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { memorySender, openApiDocument } from '@sms-otp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer as startExpress } from '../../examples/express-login/server.js';
import { startServer as startFastify } from '../../examples/fastify/server.js';
import { startServer as startKoa } from '../../examples/koa/server.js';

const REDOCLY = fileURLToPath(new URL('../../node_modules/.bin/redocly', import.meta.url));
const SECRET = 'redocly-lint-secret-of-at-least-32-bytes';
const guarded = [{ method: 'post' as const, path: '/api/me', purpose: 'login' }];

interface Problem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: Array<{ pointer: string; source?: { ref?: string } }>;
}

interface Report {
  version: string;
  totals: { errors: number };
  problems: Problem[];
}

/**
 * `redocly lint --extends=recommended` of the files, in one run (its start-up is most of its time): one
 * report per file, in their order (the JSON format prints one object per file, back to back).
 */
async function lint(files: string[]): Promise<Report[]> {
  const run = await promisify(execFile)(
    REDOCLY,
    ['lint', '--extends=recommended', '--format=json', ...files],
    {
      env: {
        ...process.env,
        // No telemetry, no update check: nothing leaves the machine.
        REDOCLY_TELEMETRY: 'off',
        REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
        REDOCLY_SUPPRESS_NOTIFICATIONS: 'true',
      },
      timeout: 60_000,
    },
  ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' })); // exit 1 when it finds errors
  const reports = JSON.parse(`[${run.stdout.trim().replace(/^\}\{$/gm, '},{')}]`) as Report[];
  expect(reports).toHaveLength(files.length);
  reports.forEach((report, index) => {
    for (const problem of report.problems)
      for (const location of problem.location as Array<{ source?: { ref?: string } }>)
        if (location.source?.ref) expect(resolve(location.source.ref)).toBe(files[index]);
  });
  return reports;
}

let dir: string;
const documents: Record<string, unknown> = {
  'default.json': openApiDocument(),
  'guarded-cookie.json': openApiDocument({ guarded, cookie: { name: 'otp_token' }, prefix: '/api/otp' }),
  'receipts.json': openApiDocument({ guarded, receipts: ['twilio', 'aliyun', 'tencent'] }),
  'user-ids-dev.json': openApiDocument({
    guarded,
    userIds: true,
    exposeCode: true,
    purposes: ['login', 'reset'],
    channels: ['sms'],
    codeLength: { min: 4, max: 8 },
    servers: [{ url: 'https://api.example.org/v1', description: 'Production' }],
  }),
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sms-otp-redocly-'));
  const sender = memorySender();
  for (const [name, start] of [
    ['express', () => startExpress(0, { otp: { secret: SECRET, sender } })],
    ['koa', () => startKoa(0, { secret: SECRET, sender })],
    ['fastify', () => startFastify(0, { secret: SECRET, sender })],
  ] as const) {
    const running = await start();
    try {
      const response = await fetch(`${running.url.replace('//localhost:', '//127.0.0.1:')}/openapi.json`);
      expect(response.status).toBe(200);
      documents[`example-${name}.json`] = await response.json();
    } finally {
      await running.close();
    }
  }
});
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

describe('Redocly lint (recommended)', () => {
  it('finds 0 errors and no invalid example in every document', async () => {
    const names = Object.keys(documents);
    expect(names).toHaveLength(7);
    const files = names.map((name) => join(dir, name));
    await Promise.all(names.map((name, i) => writeFile(files[i]!, JSON.stringify(documents[name], null, 2))));
    const reports = await lint(files);
    for (const [i, report] of reports.entries()) {
      const name = names[i];
      expect(report.version, name).toBe('2.77.0');
      const serious = report.problems.filter(
        (problem) => problem.severity === 'error' || problem.ruleId === 'no-invalid-media-type-examples',
      );
      expect(
        serious.map((problem) => `${problem.ruleId} ${problem.location[0]?.pointer}: ${problem.message}`),
        name,
      ).toEqual([]);
      expect(report.totals.errors, name).toBe(0);
    }
  });

  it('sees errors when there are some (the rules run)', async () => {
    const broken = openApiDocument({ guarded }) as unknown as Record<string, unknown>;
    delete broken.servers;
    const paths = broken.paths as Record<string, Record<string, Record<string, unknown>>>;
    delete paths['/sms/send']!.post!.security;
    const file = join(dir, 'broken.json');
    await writeFile(file, JSON.stringify(broken));
    const [report] = await lint([file]);
    expect(
      report!.problems
        .filter((p) => p.severity === 'error')
        .map((p) => p.ruleId)
        .sort(),
    ).toEqual(['no-empty-servers', 'security-defined']);
  });
});
