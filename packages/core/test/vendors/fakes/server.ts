import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the fake saw it. */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** Parsed JSON body, or `undefined` when the body was not JSON. */
  json: unknown;
}

/** What a fake answers: a JSON body (or raw text with a content type). */
export interface FakeReply {
  status: number;
  body?: unknown;
  text?: string;
  contentType?: string;
}

/** A transport misbehaviour forced on the next requests (after the request was checked). */
export type Misbehaviour =
  | 'hang'
  | 'html'
  | 'status500'
  | 'status502-json'
  | 'status503'
  | 'status504'
  /** The connection is closed after the request was read, without an answer. */
  | 'reset';

/**
 * Collects every way a request differs from the vendor document. The handler calls `problem(…)` for each
 * difference; any problem turns the answer into a 400 describing it and is kept in `fake.mismatches`.
 */
export type Handler = (req: FakeRequest, problem: (description: string) => void) => FakeReply;

export interface FakeServer {
  url: string;
  requests: FakeRequest[];
  mismatches: string[];
  /** Forces a transport misbehaviour on every following request until reset to `undefined`. */
  misbehave: Misbehaviour | undefined;
  close(): Promise<void>;
}

/** Starts a fake vendor on 127.0.0.1 and a free port. */
export async function startFake(handler: Handler): Promise<FakeServer> {
  const hanging = new Set<ServerResponse>();
  const fake: FakeServer = {
    url: '',
    requests: [],
    mismatches: [],
    misbehave: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = rawBody === '' ? undefined : JSON.parse(rawBody);
      } catch {
        json = undefined;
      }
      const url = new URL(req.url ?? '/', 'http://fake');
      const request: FakeRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        rawBody,
        json,
      };
      fake.requests.push(request);
      const problems: string[] = [];
      let reply: FakeReply;
      try {
        reply = handler(request, (description) => problems.push(description));
      } catch (error) {
        problems.push(`handler threw: ${String(error)}`);
        reply = { status: 500 };
      }
      if (problems.length > 0) {
        fake.mismatches.push(...problems.map((p) => `${request.method} ${request.path}: ${p}`));
        reply = { status: 400, text: `request does not match the vendor document: ${problems.join('; ')}` };
      } else if (fake.misbehave === 'hang') {
        hanging.add(res);
        return;
      } else if (fake.misbehave === 'html') {
        reply = { status: 200, text: '<html><body><h1>Gateway</h1></body></html>', contentType: 'text/html' };
      } else if (fake.misbehave === 'status500') {
        reply = { status: 500, text: 'Internal Server Error', contentType: 'text/plain' };
      } else if (fake.misbehave === 'status502-json') {
        reply = { status: 502, body: { error: 'bad gateway' } };
      } else if (fake.misbehave === 'status503' || fake.misbehave === 'status504') {
        reply = { status: Number(fake.misbehave.slice(6)), text: 'unavailable', contentType: 'text/plain' };
      } else if (fake.misbehave === 'reset') {
        req.socket.destroy();
        return;
      }
      const text = reply.text ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
      res.writeHead(reply.status, {
        'Content-Type': reply.contentType ?? (reply.text === undefined ? 'application/json' : 'text/plain'),
      });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

/** A URL on 127.0.0.1 where nothing listens (a port that was just closed). */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Checks that a JSON body is an object holding exactly the allowed keys, and returns it. */
export function checkObject(
  json: unknown,
  required: readonly string[],
  optional: readonly string[],
  problem: (description: string) => void,
): Record<string, unknown> {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    problem('body is not a JSON object');
    return {};
  }
  const body = json as Record<string, unknown>;
  for (const key of required) if (!(key in body)) problem(`missing body field "${key}"`);
  for (const key of Object.keys(body)) {
    if (!required.includes(key) && !optional.includes(key)) problem(`unexpected body field "${key}"`);
  }
  return body;
}

/** Checks a header's exact value. */
export function checkHeader(
  req: FakeRequest,
  name: string,
  expected: string,
  problem: (description: string) => void,
): void {
  const actual = req.headers[name.toLowerCase()];
  if (actual !== expected)
    problem(`header ${name} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

/** Checks the request is a JSON POST with a Content-Length (all four documents use JSON POSTs). */
export function checkJsonPost(req: FakeRequest, problem: (description: string) => void): void {
  if (req.method !== 'POST') problem(`method is ${req.method}, expected POST`);
  if (req.headers['content-length'] === undefined) problem('no Content-Length header');
  if (req.json === undefined) problem('body is not JSON');
}

/** Returns the secrets that `error` mentions in its message, details, cause or stack (expected: none). */
export function secretsIn(error: unknown, secrets: readonly string[]): string[] {
  const e = error as { message?: unknown; details?: unknown; cause?: unknown; stack?: unknown };
  const haystack = [
    String(e.message),
    JSON.stringify(e.details ?? {}),
    String(e.cause ?? ''),
    String(e.stack ?? ''),
  ].join('\n');
  return secrets.filter((secret) => haystack.includes(secret));
}
