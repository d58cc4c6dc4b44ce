/**
 * The bounded property run (test/support/openapi-property.ts) against the three examples, each on a free
 * port of 127.0.0.1 with a memory sender: 200 requests per example, from the document each serves.
 */
import { memorySender } from '@sms-otp/core';
import { describe, expect, it } from 'vitest';
import { startServer as startExpress } from '../../examples/express-login/server.js';
import { startServer as startFastify } from '../../examples/fastify/server.js';
import { startServer as startKoa } from '../../examples/koa/server.js';
import { type PropertyRunReport, propertyRun } from '../support/openapi-property.js';

const SECRET = 'property-run-secret-of-at-least-32-bytes';
const REQUESTS = 200;

interface Running {
  url: string;
  close(): Promise<unknown>;
}

/** Each example: how to start it with a memory sender, and whether its sends carry `devCode`. */
const EXAMPLES: Array<{
  name: string;
  exposeCode: boolean;
  start(sender: ReturnType<typeof memorySender>): Promise<Running>;
}> = [
  {
    name: 'express-login',
    exposeCode: true,
    start: (sender) => startExpress(0, { otp: { secret: SECRET, sender }, exposeCode: true }),
  },
  // Koa without devCode: the chain reads the code from the memory sender's outbox.
  {
    name: 'koa',
    exposeCode: false,
    start: (sender) => startKoa(0, { secret: SECRET, sender, exposeCode: false }),
  },
  {
    name: 'fastify',
    exposeCode: true,
    start: (sender) => startFastify(0, { secret: SECRET, sender, exposeCode: true }),
  },
];

function explain(report: PropertyRunReport): string {
  return report.failures
    .slice(0, 5)
    .map(({ rule, exchange }) => `${rule}\n  ${JSON.stringify(exchange)}`)
    .join('\n');
}

describe.each(EXAMPLES)('the $name example against its /openapi.json', ({ start, exposeCode }) => {
  it(`answers ${REQUESTS} generated requests as documented, and walks send → verify → /api/me by the links`, async () => {
    const sender = memorySender();
    const running = await start(sender);
    try {
      const report = await propertyRun({
        baseUrl: running.url.replace('//localhost:', '//127.0.0.1:'),
        requests: REQUESTS,
        seed: 18,
        phones: ['+8613800138001', '13800138002'],
        codeOf: (requestId) => sender.outbox.all().find((message) => message.requestId === requestId)?.code,
      });
      expect(report.failures, explain(report)).toEqual([]);
      expect(report.exchanges).toHaveLength(REQUESTS);
      expect(report.chainsCompleted).toBe(2);
      // The run was not vacuous: every operation was called, with bodies the document takes and refuses.
      expect(Object.keys(report.statuses).sort()).toEqual([
        'postApiMe',
        'smsOtpCaptcha',
        'smsOtpSend',
        'smsOtpVerify',
      ]);
      const kinds = (kind: string) => report.exchanges.filter((exchange) => exchange.kind === kind).length;
      expect(kinds('valid')).toBeGreaterThan(40);
      expect(kinds('invalid')).toBeGreaterThan(40);
      expect(report.statuses.smsOtpVerify).toHaveProperty('400');
      expect(report.statuses.postApiMe).toHaveProperty('401');
      // The served document says what this server is: its code length, and whether the send link has the code.
      const links = (
        report.document.paths as Record<
          string,
          Record<string, { responses: Record<string, { links?: Record<string, { requestBody: object }> }> }>
        >
      )['/sms/send']!.post!.responses['200']!.links!;
      expect('code' in links.smsOtpVerify!.requestBody).toBe(exposeCode);
    } finally {
      await running.close();
    }
  });
});
