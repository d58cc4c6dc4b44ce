/**
 * A fake SMS vendor on 127.0.0.1 for the reliability tests: it answers like Ronglian TemplateSMS or JPush
 * `/v1/messages` and injects faults per request (5xx, a vendor error in a 200, a slow answer, no answer).
 * It records the code of every request it received, by national number, and how many requests it held at
 * once.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'ok' | 'slow' | 'status5xx' | 'vendor-error' | 'hang';

export interface FakeVendor {
  readonly url: string;
  /** Decides the fault of each request (called once per request). */
  plan: () => Fault;
  /** Codes received, by national number, oldest first. */
  readonly codes: Map<string, string[]>;
  readonly faults: Record<Fault, number>;
  /** Requests held at once (answer not yet written, connection not yet closed). */
  inFlight: number;
  maxInFlight: number;
  close(): Promise<void>;
}

type Dialect = 'ronglian' | 'jpush';

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolve(undefined);
      }
    });
  });
}

/** Phone and code of a request, as each vendor document puts them. */
function messageOf(dialect: Dialect, body: unknown): { phone: string; code: string } | undefined {
  const json = body as Record<string, unknown> | undefined;
  if (!json) return undefined;
  if (dialect === 'ronglian') {
    const datas = json.datas as unknown[] | undefined;
    return { phone: String(json.to), code: String(datas?.[0]) };
  }
  const params = json.temp_para as Record<string, unknown> | undefined;
  return { phone: String(json.mobile), code: String(params?.code) };
}

export async function startFakeVendor(dialect: Dialect, slowMs: [number, number]): Promise<FakeVendor> {
  const hanging = new Set<ServerResponse>();
  let sequence = 0;
  const fake: FakeVendor = {
    url: '',
    plan: () => 'ok',
    codes: new Map(),
    faults: { ok: 0, slow: 0, status5xx: 0, 'vendor-error': 0, hang: 0 },
    inFlight: 0,
    maxInFlight: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const server = createServer(async (req, res) => {
    fake.inFlight += 1;
    fake.maxInFlight = Math.max(fake.maxInFlight, fake.inFlight);
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        fake.inFlight -= 1;
        hanging.delete(res);
      }
    };
    res.on('close', release);
    res.on('finish', release);

    const message = messageOf(dialect, await readBody(req));
    if (message) {
      const list = fake.codes.get(message.phone) ?? [];
      list.push(message.code);
      fake.codes.set(message.phone, list);
    }
    const fault = fake.plan();
    fake.faults[fault] += 1;
    sequence += 1;
    if (fault === 'hang') {
      hanging.add(res);
      return;
    }
    if (fault === 'slow') {
      const [min, max] = slowMs;
      await new Promise((resolve) => setTimeout(resolve, min + ((sequence * 37) % (max - min + 1))));
    }
    if (fault === 'status5xx') {
      res.writeHead(sequence % 2 ? 503 : 500, { 'content-type': 'text/plain' });
      res.end('upstream unavailable');
      return;
    }
    if (dialect === 'ronglian') {
      if (fault === 'vendor-error') answer(res, 200, { statusCode: '160000', statusMsg: 'system error' });
      else
        answer(res, 200, {
          statusCode: '000000',
          templateSMS: { smsMessageSid: `rl-${sequence}`, dateCreated: '20260301080000' },
        });
    } else if (fault === 'vendor-error') {
      answer(res, 200, { error: { code: 50019, message: 'server error' } });
    } else {
      answer(res, 200, { msg_id: 100_000 + sequence });
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(fake, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  return fake;
}
