#!/usr/bin/env node
/**
 * The packages as npm users get them. Packs the four packages (run `pnpm build` first), checks each tarball
 * with publint (strict) and attw (node10, node16 from CJS and ESM, bundler), installs the tarballs into two
 * throwaway apps in a temp dir and runs send → verify → guard over HTTP in each:
 *
 * - test/packaging/express4-cjs: CommonJS, Express 4, run with require(esm) turned off (as Node 20 < 20.19);
 * - test/packaging/fastify5-esm: ESM TypeScript, Fastify 5, compiled by `tsc` with `skipLibCheck: false` and
 *   no ioredis installed.
 *
 *   node scripts/check-packages.mjs            # KEEP=1 keeps the temp dir
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const packages = ['core', 'express', 'koa', 'fastify'];
const work = mkdtempSync(join(tmpdir(), 'sms-otp-packages-'));
const bin = (name) => join(root, 'node_modules', '.bin', name);

function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/** `run`, without waiting: for the tarball checks, which run side by side. */
const runAsync = async (command, args) =>
  (await promisify(execFile)(command, args, { encoding: 'utf8' })).stdout;

const started = Date.now();
function step(title) {
  console.log(`check-packages: [${((Date.now() - started) / 1000).toFixed(1)} s] ${title}`);
}

try {
  step(`packing into ${work}`);
  const packs = join(work, 'packs');
  for (const name of packages) {
    if (!existsSync(join(root, 'packages', name, 'dist', 'index.cjs'))) {
      throw new Error(`packages/${name} is not built: run pnpm build`);
    }
  }
  run('npx', ['--yes', 'pnpm@10', '-r', '--filter', './packages/*', 'pack', '--pack-destination', packs], {
    cwd: root,
  });
  const tarball = Object.fromEntries(
    packages.map((name) => [
      name,
      join(
        packs,
        readdirSync(packs).find((f) => f.startsWith(`sms-otp-${name}-`)),
      ),
    ]),
  );

  step('publint and attw on each tarball');
  await Promise.all(packages.map((name) => checkTarball(name, tarball[name])));

  const typescript = JSON.parse(
    readFileSync(join(root, 'node_modules/typescript/package.json'), 'utf8'),
  ).version;
  const apps = [
    {
      name: 'express4-cjs',
      dependencies: {
        express: '^4.21.2',
        '@sms-otp/core': tarball.core,
        '@sms-otp/express': tarball.express,
      },
      build: [],
      start: ['--no-experimental-require-module', 'app.cjs'],
    },
    {
      name: 'fastify5-esm',
      type: 'module',
      dependencies: { fastify: '^5.0.0', '@sms-otp/core': tarball.core, '@sms-otp/fastify': tarball.fastify },
      devDependencies: { typescript, '@types/node': '^20.19.0' },
      build: [['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']],
      start: ['dist/app.js'],
    },
  ];
  for (const app of apps) {
    const dir = join(work, app.name);
    cpSync(join(root, 'test', 'packaging', app.name), dir, { recursive: true });
    const manifest = { name: app.name, private: true, ...(app.type ? { type: app.type } : {}) };
    manifest.dependencies = Object.fromEntries(
      Object.entries(app.dependencies).map(([k, v]) => [k, v.endsWith('.tgz') ? `file:${v}` : v]),
    );
    if (app.devDependencies) manifest.devDependencies = app.devDependencies;
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    step(`${app.name}: npm install`);
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir });
    if (existsSync(join(dir, 'node_modules', 'ioredis')))
      throw new Error(`${app.name}: ioredis was installed`);
    for (const command of app.build) {
      step(`${app.name}: ${command.join(' ')}`);
      run('node', command, { cwd: dir });
    }
    step(`${app.name}: send → verify → guard`);
    await flow(app.name, dir, app.start);
  }
  step('all good');
} catch (error) {
  console.error(`check-packages: FAILED: ${error.message}`);
  if (error.stdout) console.error(error.stdout);
  if (error.stderr) console.error(error.stderr);
  process.exitCode = 1;
} finally {
  if (process.env.KEEP) console.log(`check-packages: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}

/** publint (strict) and attw (all four resolutions) find nothing; LICENSE, no maps, no source condition. */
async function checkTarball(name, file) {
  await runAsync(bin('publint'), ['--strict', file]);
  // attw exits 1 on a problem; its report groups problems by kind ({} when there are none).
  const attw = await runAsync(bin('attw'), ['--format', 'json', '--no-color', file]).catch((error) => {
    throw new Error(`attw found problems in @sms-otp/${name}: ${error.stdout}`);
  });
  const { analysis, problems } = JSON.parse(attw);
  if (!analysis || !problems || Object.keys(problems).length > 0) {
    throw new Error(`attw found problems in @sms-otp/${name}: ${JSON.stringify(problems)}`);
  }
  const files = (await runAsync('tar', ['tzf', file])).split('\n');
  if (!files.includes('package/LICENSE')) throw new Error(`@sms-otp/${name}'s tarball has no LICENSE`);
  const maps = files.filter((f) => f.endsWith('.map'));
  if (maps.length > 0) throw new Error(`@sms-otp/${name}'s tarball ships source maps: ${maps.join(', ')}`);
  const manifest = JSON.parse(await runAsync('tar', ['xzOf', file, 'package/package.json']));
  if (JSON.stringify(manifest.exports).includes('"source"')) {
    throw new Error(`@sms-otp/${name}'s published exports keep the source condition`);
  }
}

/** Starts the app, runs the flow against it over HTTP, stops it. */
async function flow(name, dir, args) {
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  try {
    const port = await new Promise((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        output += chunk;
        const match = /listening (\d+)/.exec(output);
        if (match) resolve(Number(match[1]));
      });
      child.on('exit', (code) =>
        reject(new Error(`${name} exited with ${code} before listening:\n${output}`)),
      );
    });
    const base = `http://127.0.0.1:${port}`;
    const call = async (method, path, body, headers = {}) => {
      const response = await fetch(base + path, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    };
    const expect = (what, response, status, check = () => true) => {
      if (response.status !== status || !check(response.body)) {
        throw new Error(
          `${name}: ${what}: expected ${status}, got ${response.status} ${JSON.stringify(response.body)}`,
        );
      }
      return response.body;
    };
    const phone = { phone: '13800138000', purpose: 'login' };
    const sent = expect(
      'send',
      await call('POST', '/sms/send', phone),
      200,
      (b) => b.sent === true && !!b.requestId,
    );
    // Refusals are SmsOtpErrors answered by the framework package: the cross-copy recognition at work.
    expect(
      'an immediate resend',
      await call('POST', '/sms/send', phone),
      429,
      (b) => b.error?.code === 'RESEND_TOO_SOON',
    );
    const { code } = expect(
      'outbox',
      await call('GET', '/outbox?phone=%2B8613800138000'),
      200,
      (b) => !!b.code,
    );
    const wrong = code === '000000' ? '111111' : '000000';
    const verify = (c) => call('POST', '/sms/verify', { ...phone, code: c, requestId: sent.requestId });
    expect('a wrong code', await verify(wrong), 400, (b) => b.error?.code === 'CODE_INVALID');
    const { token } = expect('verify', await verify(code), 200, (b) => b.verified === true && !!b.token);
    expect('the guard without a token', await call('POST', '/login', {}), 401, (b) => !!b.error?.code);
    const login = await call('POST', '/login', {}, { 'x-sms-token': token });
    expect('the guard with the token', login, 200, (b) => b.phone === '+8613800138000');
    expect('the token used again', await call('POST', '/login', {}, { 'x-sms-token': token }), 401);
  } catch (error) {
    error.message += output ? `\n${name} printed:\n${output}` : '';
    throw error;
  } finally {
    child.kill('SIGTERM');
  }
}
