import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One siteverify request as the fake saw it. */
export interface SiteverifyRequest {
  method: string;
  path: string;
  query: string;
  headers: IncomingHttpHeaders;
  /** Every body field (form-encoded or JSON), as strings. */
  fields: Record<string, string>;
}

/** How the fake answers the next requests. */
export type Behaviour =
  | { kind: 'answer' }
  | { kind: 'hang' }
  | { kind: 'html' }
  | { kind: 'status'; status: number; body?: unknown };

/** What a provider's document says a request looks like. */
export interface ProviderDocument {
  path: string;
  /** Content types the provider documents for the body. */
  contentTypes: readonly ('application/x-www-form-urlencoded' | 'application/json')[];
  /** Fields the provider knows; `secret` and `response` are always required. */
  optionalFields: readonly string[];
  secret: string;
}

export interface SiteverifyFake {
  url: string;
  requests: SiteverifyRequest[];
  /** Every way a request differed from the provider's document (expected: none). */
  mismatches: string[];
  /** The JSON body answered for a token; tokens not listed get `{success: false, 'error-codes': [...]}`. */
  answers: Map<string, unknown>;
  behaviour: Behaviour;
  close(): Promise<void>;
}

/** The documented answer to a wrong token. */
export const WRONG_TOKEN_ANSWER = { success: false, 'error-codes': ['invalid-input-response'] };
/** The documented answer to a wrong secret. */
export const WRONG_SECRET_ANSWER = { success: false, 'error-codes': ['invalid-input-secret'] };

/**
 * A fake siteverify endpoint on 127.0.0.1 and a free port. It checks the method, path, content type and
 * field names of every request against `doc`, answers `invalid-input-secret` to another secret, and the
 * configured answer (or a wrong-token answer) to the token.
 */
export async function startSiteverifyFake(doc: ProviderDocument): Promise<SiteverifyFake> {
  const hanging = new Set<ServerResponse>();
  const fake: SiteverifyFake = {
    url: '',
    requests: [],
    mismatches: [],
    answers: new Map(),
    behaviour: { kind: 'answer' },
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
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://fake');
      const problems: string[] = [];
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
      const fields = parseFields(contentType, raw, problems);
      const request: SiteverifyRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.search,
        headers: req.headers,
        fields,
      };
      fake.requests.push(request);

      if (request.method !== 'POST') problems.push(`method is ${request.method}, expected POST`);
      if (request.path !== doc.path) problems.push(`path is ${request.path}, expected ${doc.path}`);
      if (request.query !== '') problems.push('the request has a query string (secrets belong in the body)');
      if (!(doc.contentTypes as readonly string[]).includes(contentType)) {
        problems.push(`content type is ${JSON.stringify(contentType)}`);
      }
      for (const key of ['secret', 'response']) if (!(key in fields)) problems.push(`missing field ${key}`);
      for (const key of Object.keys(fields)) {
        if (key !== 'secret' && key !== 'response' && !doc.optionalFields.includes(key)) {
          problems.push(`unexpected field ${key}`);
        }
      }
      for (const [key, value] of Object.entries(fields)) {
        if (value === '') problems.push(`field ${key} is empty`);
      }

      const send = (status: number, text: string, type = 'application/json') => {
        res.writeHead(status, { 'Content-Type': type });
        res.end(text);
      };
      if (problems.length > 0) {
        fake.mismatches.push(...problems);
        send(200, JSON.stringify({ success: false, 'error-codes': ['bad-request'] }));
        return;
      }
      const behaviour = fake.behaviour;
      if (behaviour.kind === 'hang') {
        hanging.add(res);
        return;
      }
      if (behaviour.kind === 'html') {
        send(200, '<html><body><h1>502 Bad Gateway</h1></body></html>', 'text/html');
        return;
      }
      if (behaviour.kind === 'status') {
        send(
          behaviour.status,
          behaviour.body === undefined ? 'Service Unavailable' : JSON.stringify(behaviour.body),
          behaviour.body === undefined ? 'text/plain' : 'application/json',
        );
        return;
      }
      if (fields.secret !== doc.secret) {
        send(200, JSON.stringify(WRONG_SECRET_ANSWER));
        return;
      }
      const answer = fake.answers.get(fields.response ?? '') ?? WRONG_TOKEN_ANSWER;
      send(200, JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

function parseFields(contentType: string, raw: string, problems: string[]): Record<string, string> {
  if (contentType === 'application/json') {
    try {
      const json: unknown = JSON.parse(raw);
      if (json === null || typeof json !== 'object' || Array.isArray(json)) {
        problems.push('JSON body is not an object');
        return {};
      }
      const fields: Record<string, string> = {};
      for (const [key, value] of Object.entries(json)) {
        if (typeof value !== 'string') problems.push(`field ${key} is not a string`);
        fields[key] = String(value);
      }
      return fields;
    } catch {
      problems.push('body is not JSON');
      return {};
    }
  }
  const params = new URLSearchParams(raw);
  const fields: Record<string, string> = {};
  for (const [key, value] of params) {
    if (key in fields) problems.push(`field ${key} is repeated`);
    fields[key] = value;
  }
  return fields;
}

/** A URL on 127.0.0.1 where nothing listens (a port that was just closed). */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Everything an error could leak: message, details, cause and stack, as one string. */
export function errorText(error: unknown): string {
  const e = error as { message?: unknown; details?: unknown; cause?: unknown; stack?: unknown };
  return [
    String(e.message),
    JSON.stringify(e.details ?? {}),
    String(e.cause ?? ''),
    String(e.stack ?? ''),
  ].join('\n');
}
