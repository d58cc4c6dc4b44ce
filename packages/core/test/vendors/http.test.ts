import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_ANSWER_BYTES, mayHaveDelivered, vendorFetch } from '../../src/vendors/http.js';
import { rejection } from './helpers.js';

let server: Server | undefined;
let requests = 0;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A vendor on 127.0.0.1 that answers every request with `answer(res)`. */
async function vendor(answer: (res: ServerResponse) => void): Promise<string> {
  requests = 0;
  server = createServer((req, res) => {
    requests += 1;
    req.resume();
    req.on('end', () => answer(res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/send`;
}

const call = (url: string, extra: { timeout?: number; deadline?: number } = {}) =>
  vendorFetch({ vendor: 'v', url, headers: {}, body: { to: '1' }, timeout: 5_000, ...extra });

describe('vendorFetch answer size', () => {
  it('reads an answer up to the limit, and drops a byte-order mark as response.text() does', async () => {
    const json = JSON.stringify({ ok: 'x'.repeat(MAX_ANSWER_BYTES - 20) });
    const url = await vendor((res) => res.end(`\uFEFF${json}`));
    const answer = await call(url);
    expect(answer.notJson).toBe(false);
    expect((answer.json as { ok: string }).ok).toHaveLength(MAX_ANSWER_BYTES - 20);
  });

  it.each([
    ['declared by Content-Length', true],
    ['streamed without a length', false],
  ])('refuses a 2xx answer over the limit, %s', async (_, declared) => {
    let written = 0;
    const url = await vendor((res) => {
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      if (declared) res.setHeader('Content-Length', String(64 * chunk.length));
      // 4 MiB, or less if the client goes away first.
      const more = () => {
        while (!res.destroyed && written < 64 * chunk.length) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      res.on('close', () => res.destroy());
      more();
    });
    const error = await rejection(call(url));
    expect(error.details).toEqual({
      vendor: 'v',
      reason: 'bad_response',
      httpStatus: 200,
      bodyTooLarge: true,
    });
    // A 2xx that was not the vendor's answer: the message may have gone out.
    expect(mayHaveDelivered(error)).toBe(true);
  });

  it('a 5xx answer over the limit is an http_error', async () => {
    const url = await vendor((res) => {
      res.writeHead(502);
      res.end(Buffer.alloc(MAX_ANSWER_BYTES + 1, 0x20));
    });
    const error = await rejection(call(url));
    expect(error.details).toEqual({ vendor: 'v', reason: 'http_error', httpStatus: 502 });
  });
});

describe('vendorFetch and the engine deadline', () => {
  it('ends the request at the deadline when it comes before the timeout', async () => {
    const url = await vendor(() => {});
    const error = await rejection(call(url, { deadline: Date.now() + 80 }));
    expect(error.details.reason).toBe('timeout');
    expect(error.details.timeoutMs).toBeLessThanOrEqual(80);
    expect(requests).toBe(1);
  });

  it('keeps its own timeout when that comes first', async () => {
    const url = await vendor(() => {});
    const error = await rejection(call(url, { timeout: 50, deadline: Date.now() + 60_000 }));
    expect(error.details).toEqual({ vendor: 'v', reason: 'timeout', timeoutMs: 50 });
  });

  it('sends nothing once the deadline has passed', async () => {
    const url = await vendor((res) => res.end('{}'));
    const error = await rejection(call(url, { deadline: Date.now() - 1 }));
    expect(error.details).toEqual({ vendor: 'v', reason: 'timeout', timeoutMs: 0 });
    expect(requests).toBe(0);
  });
});
