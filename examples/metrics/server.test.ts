import { type MemorySender, memorySender, type Sender } from '@sms-otp/core';
import { afterEach, expect, it } from 'vitest';
import { type RunningApp, startServer } from './server.js';

const SECRET = 'example-test-secret-of-at-least-32-bytes';
let running: RunningApp | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function start(
  options: Parameters<typeof startServer>[1] = {},
  receipts?: Parameters<typeof startServer>[2],
) {
  const sender = memorySender();
  running = await startServer(0, { secret: SECRET, sender, ...options }, receipts);
  return { url: running.url, sender };
}

const post = async (url: string, body: unknown) => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { error?: { code: string } } };
};

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for these counters). */
function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!;
    out.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return out;
}

async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return { text, samples: samples(text) };
}

const codeOf = (sender: MemorySender, e164: string) => sender.outbox.last(e164)?.code ?? '';

it('send, a wrong code, verify and a refused send count with their labels; no code or phone in /metrics', async () => {
  const { url, sender } = await start();
  const before = await scrape(url);
  expect(before.samples).toEqual([]);
  for (const name of [
    'sms_otp_sent_total',
    'sms_otp_verified_total',
    'sms_otp_failed_total',
    'sms_otp_blocked_total',
    'sms_otp_breaker_transitions_total',
  ])
    expect(before.text).toContain(`# TYPE ${name} counter`);

  const sent = await post(`${url}/sms/send`, { phone: '13800138000', purpose: 'login' });
  expect(sent.status).toBe(200);
  const requestId = (sent.body as { requestId?: string }).requestId;
  const code = codeOf(sender, '+8613800138000');
  expect(code).toMatch(/^\d{6}$/);
  const wrong = code === '000000' ? '111111' : '000000';
  expect(
    await post(`${url}/sms/verify`, { phone: '13800138000', purpose: 'login', code: wrong, requestId }),
  ).toMatchObject({ status: 400, body: { error: { code: 'CODE_INVALID' } } });
  expect(
    (await post(`${url}/sms/verify`, { phone: '13800138000', purpose: 'login', code, requestId })).status,
  ).toBe(200);
  // Inside the cooldown: refused by a limit, so `blocked`, not `failed`.
  expect(await post(`${url}/sms/send`, { phone: '13800138000', purpose: 'login' })).toMatchObject({
    status: 429,
    body: { error: { code: 'RESEND_TOO_SOON' } },
  });

  const after = await scrape(url);
  expect(after.samples).toEqual(
    expect.arrayContaining([
      {
        name: 'sms_otp_sent_total',
        labels: { purpose: 'login', channel: 'sms', vendor: 'memory', country: 'CN' },
        value: 1,
      },
      { name: 'sms_otp_verified_total', labels: { purpose: 'login' }, value: 1 },
      { name: 'sms_otp_failed_total', labels: { operation: 'verify', code: 'CODE_INVALID' }, value: 1 },
      {
        name: 'sms_otp_blocked_total',
        labels: { operation: 'send', code: 'RESEND_TOO_SOON', scope: 'phone' },
        value: 1,
      },
    ]),
  );
  expect(after.samples).toHaveLength(4);
  // Neither the code nor the phone, in any form: the labels have no phone at all.
  expect(after.text).not.toContain(code);
  expect(after.text).not.toContain(wrong);
  for (const phone of ['13800138000', '8613800138000', '8000']) expect(after.text).not.toContain(phone);
});

it('an opening breaker counts a transition and the sends it refuses, without its number prefix', async () => {
  // A tiny breaker: after 2 sends with nothing verified, sends in that country and prefix need a captcha.
  // All sends come from 127.0.0.1: the breaker may open without sends from several subnets (minSubnets: 0).
  const { url } = await start({ breaker: { minVolume: 2, threshold: 0.5, minSubnets: 0 } });
  for (const phone of ['13800138001', '13800138002'])
    expect((await post(`${url}/sms/send`, { phone })).status).toBe(200);
  expect(await post(`${url}/sms/send`, { phone: '13800138003' })).toMatchObject({
    status: 400,
    body: { error: { code: 'CAPTCHA_REQUIRED', scope: 'breaker' } },
  });

  const { text, samples: after } = await scrape(url);
  expect(after).toEqual(
    expect.arrayContaining([
      {
        name: 'sms_otp_sent_total',
        labels: { purpose: 'login', channel: 'sms', vendor: 'memory', country: 'CN' },
        value: 2,
      },
      {
        name: 'sms_otp_blocked_total',
        labels: { operation: 'send', code: 'CAPTCHA_REQUIRED', scope: 'breaker' },
        value: 1,
      },
      // Both breakers the sends counted in opened: CN's and the +86 138 0013 … prefix's.
      { name: 'sms_otp_breaker_transitions_total', labels: { scope: 'country', state: 'open' }, value: 1 },
      { name: 'sms_otp_breaker_transitions_total', labels: { scope: 'prefix', state: 'open' }, value: 1 },
    ]),
  );
  expect(after).toHaveLength(4);
  // The prefix breaker's key is most of a phone number; it is never a label.
  expect(text).not.toContain('861380013');
  expect(text).not.toContain('1380013800');
});

it('delivery receipts count the delivery rate per vendor and country', async () => {
  const secretPath = 'metrics-receipts-0123456789';
  const ids = ['biz-1', 'biz-2', 'biz-3'];
  const sender: Sender = {
    kind: 'sender',
    name: 'aliyun',
    send: async () => ({ vendor: 'aliyun', messageId: ids.shift()! }),
  };
  running = await startServer(0, { secret: SECRET, sender }, { aliyun: { secretPath } });
  const { url } = running;
  for (const phone of ['13800138011', '13800138012', '13800138013'])
    expect((await post(`${url}/sms/send`, { phone })).status).toBe(200);
  const report = (biz_id: string, success: boolean) => ({
    biz_id,
    success,
    err_code: success ? 'DELIVERED' : 'MK:0001',
    phone_number: '1381111****',
  });
  const response = await post(`${url}/sms/receipts/aliyun/${secretPath}`, [
    report('biz-1', true),
    report('biz-2', true),
    report('biz-3', false),
  ]);
  expect(response.status).toBe(200);
  const { samples: after } = await scrape(url);
  expect(after).toEqual(
    expect.arrayContaining([
      {
        name: 'sms_otp_delivery_receipts_total',
        labels: { vendor: 'aliyun', country: 'CN', status: 'delivered' },
        value: 2,
      },
      {
        name: 'sms_otp_delivery_receipts_total',
        labels: { vendor: 'aliyun', country: 'CN', status: 'undelivered' },
        value: 1,
      },
    ]),
  );
});
