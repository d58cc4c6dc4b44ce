/**
 * The client-IP warnings of the HTTP routes, on every framework package: once per process (and logger) for
 * a request without a client IP (a server on a Unix socket), once for `X-Forwarded-For` reaching a framework
 * that does not trust proxies.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSmsOtp, memorySender, type SmsOtp } from '@sms-otp/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { APPS, type ContractApp, type RouteOptions } from './apps.js';

const dir = mkdtempSync(join(tmpdir(), 'sms-otp-ip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let sockets = 0;

/** A `POST /sms/send` over a Unix socket: its status. */
function postOverSocket(socketPath: string, body: object): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { socketPath, path: '/sms/send', method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe.each(APPS)('%s', (_name, makeApp) => {
  const open: Array<{ app: ContractApp; otp: SmsOtp }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map(({ app, otp }) => Promise.all([app.close(), otp.close()])));
  });

  async function setup(routes: RouteOptions = {}) {
    const warnings: string[] = [];
    const otp = createSmsOtp({
      secret: 'client-ip-0123456789-abcdefghijklmnopqrstuvwxyz',
      sender: memorySender(),
      // The apps mount guards for these purposes.
      purposes: ['login', 'reset-password'],
      defaultCountry: 'CN',
      logger: { warn: (message) => warnings.push(message) },
    });
    const app = await makeApp(otp, routes);
    open.push({ app, otp });
    return { app, warnings };
  }

  it('warns once when requests come without a client IP (a Unix socket)', async () => {
    const socketPath = join(dir, `s${++sockets}.sock`);
    const { warnings } = await setup({ socketPath });
    expect(await postOverSocket(socketPath, { phone: '+8613800138001' })).toBe(200);
    expect(await postOverSocket(socketPath, { phone: '+8613800138002' })).toBe(200);
    expect(warnings).toEqual([expect.stringMatching(/without a client IP.*per-IP send windows/)]);
  });

  it('warns once when X-Forwarded-For comes while the framework does not trust proxies', async () => {
    const { app, warnings } = await setup();
    const send = (phone: string) =>
      app.request.post('/sms/send').set('X-Forwarded-For', '203.0.113.7').send({ phone });
    expect((await send('+8613800138003')).status).toBe(200);
    expect((await send('+8613800138004')).status).toBe(200);
    expect(
      (await app.request.post('/sms/verify').set('X-Forwarded-For', '203.0.113.7').send({})).status,
    ).toBe(400);
    expect(warnings).toEqual([expect.stringMatching(/X-Forwarded-For.*does not trust proxies.*trust proxy/)]);
  });

  it('says nothing with trust proxy on, or for a direct client over TCP', async () => {
    const trusted = await setup({ trustProxy: true });
    await trusted.app.request.post('/sms/send').set('X-Forwarded-For', '203.0.113.8').send({
      phone: '+8613800138005',
    });
    const direct = await setup();
    expect((await direct.app.request.post('/sms/send').send({ phone: '+8613800138006' })).status).toBe(200);
    expect([...trusted.warnings, ...direct.warnings]).toEqual([]);
  });
});
