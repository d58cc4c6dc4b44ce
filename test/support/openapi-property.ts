/**
 * A small Schemathesis-style property run, driven by an OpenAPI 3.1 document a running server serves.
 *
 * - Reads `GET /openapi.json` from the server (127.0.0.1 only).
 * - Stateful phase: walks send → verify → guarded route by the document's `links` (runtime expressions
 *   `$request.body#/…` and `$response.body#/…`), with the code from the send's `devCode` when the link
 *   carries it, else from `codeOf(requestId)` (a memory sender's outbox).
 * - Random phase: bodies generated from the request schemas with fast-check (valid ones, and mutations:
 *   a field missing, of the wrong type or too long, no object, no JSON), sent to the operations.
 * - Checks every answer: its status is documented for the operation; a body documented for it validates
 *   against the schema (JSON Schema 2020-12, Ajv); a documented `const` header (`Cache-Control: no-store`)
 *   has its value; no 5xx; a body the document refuses gets a 4xx.
 *
 * Bounded: `requests` requests in all, each with a timeout, from a fixed `seed`.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';

type Json = Record<string, unknown>;

export interface PropertyRunOptions {
  /** `http://127.0.0.1:<port>` of the running server. */
  baseUrl: string;
  /** Requests in all (the stateful chains included). Default 200. */
  requests?: number;
  /** fast-check seed: a run is repeatable. */
  seed: number;
  /** The code of a send by its `requestId`, when the send→verify link does not carry it (no `devCode`). */
  codeOf?: (requestId: string) => string | undefined;
  /** Phones for the stateful chains (each is sent a code once). */
  phones: readonly string[];
  /** Purpose of the guarded routes the chain ends on. Default `'login'`. */
  purpose?: string;
}

export interface Exchange {
  operation: string;
  kind: 'chain' | 'valid' | 'invalid';
  request: { method: string; path: string; headers: Record<string, string>; body?: string };
  status: number;
  body: unknown;
}

export interface PropertyRunReport {
  document: Json;
  exchanges: Exchange[];
  /** Every answer that broke a rule, with what it broke. */
  failures: Array<{ rule: string; exchange: Exchange }>;
  /** Chains that reached the guarded route with 200. */
  chainsCompleted: number;
  /** How many answers each operation gave, by status. */
  statuses: Record<string, Record<number, number>>;
}

interface Operation {
  id: string;
  method: string;
  path: string;
  spec: Json;
}

const REQUEST_TIMEOUT_MS = 5_000;

export async function propertyRun(options: PropertyRunOptions): Promise<PropertyRunReport> {
  const { baseUrl, seed } = options;
  const budget = options.requests ?? 200;
  const served = await fetch(`${baseUrl}/openapi.json`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (served.status !== 200) throw new Error(`GET /openapi.json answered ${served.status}`);
  const document = (await served.json()) as Json;

  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: 'https://property-run.test/doc', components: document.components }, 'doc');
  const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
  const validatorOf = (schema: Json) => {
    const key = JSON.stringify(schema);
    let validate = compiled.get(key);
    if (!validate) {
      validate = ajv.compile(rebase(schema));
      compiled.set(key, validate);
    }
    return validate;
  };

  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, Json>>))
    for (const [method, spec] of Object.entries(item))
      operations.push({ id: String(spec.operationId), method, path, spec });
  const byId = new Map(operations.map((operation) => [operation.id, operation]));

  const exchanges: Exchange[] = [];
  const failures: PropertyRunReport['failures'] = [];
  const statuses: PropertyRunReport['statuses'] = {};

  /** Sends one request and checks the answer against the document. */
  async function call(
    operation: Operation,
    kind: Exchange['kind'],
    body: { json?: unknown; raw?: string; contentType?: string } | undefined,
    headers: Record<string, string> = {},
  ): Promise<Exchange> {
    const request: Exchange['request'] = {
      method: operation.method.toUpperCase(),
      path: operation.path,
      headers,
    };
    if (body) {
      request.body = body.raw ?? JSON.stringify(body.json);
      request.headers = { 'content-type': body.contentType ?? 'application/json', ...headers };
    }
    const response = await fetch(`${baseUrl}${operation.path}`, {
      method: request.method,
      headers: request.headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {}
    const exchange: Exchange = {
      operation: operation.id,
      kind,
      request,
      status: response.status,
      body: parsed,
    };
    exchanges.push(exchange);
    statuses[operation.id] ??= {};
    const counts = statuses[operation.id]!;
    counts[response.status] = (counts[response.status] ?? 0) + 1;

    const fail = (rule: string) => failures.push({ rule, exchange });
    if (response.status >= 500) fail('no 5xx');
    const documented =
      (operation.spec.responses as Record<string, Json>)[String(response.status)] ??
      (operation.spec.responses as Record<string, Json>).default;
    if (!documented) {
      fail(`status ${response.status} is not documented`);
      return exchange;
    }
    if (kind === 'invalid' && (response.status < 400 || response.status >= 500))
      fail('a body the document refuses gets a 4xx');
    const content = documented.content as Record<string, { schema: Json }> | undefined;
    const json = content?.['application/json'];
    if (json) {
      if (!(response.headers.get('content-type') ?? '').includes('application/json'))
        fail(`content-type ${response.headers.get('content-type')} is not the documented application/json`);
      const validate = validatorOf(json.schema);
      if (!validate(parsed)) fail(`body does not match the schema: ${ajv.errorsText(validate.errors)}`);
    }
    for (const [name, header] of Object.entries(
      (documented.headers ?? {}) as Record<string, { schema: Json }>,
    )) {
      const expected = header.schema.const;
      if (expected !== undefined && response.headers.get(name) !== expected)
        fail(`header ${name}: ${response.headers.get(name)} is not the documented ${String(expected)}`);
    }
    return exchange;
  }

  // Stateful phase: send → verify → guarded route, by the links.
  let chainsCompleted = 0;
  const send = operations.find((operation) => operation.id === 'smsOtpSend');
  if (!send) throw new Error('the document has no smsOtpSend operation');
  for (const phone of options.phones) {
    if (exchanges.length + 3 > budget) break;
    const sendBody = { phone, purpose: options.purpose ?? 'login' };
    const sent = await call(send, 'chain', { json: sendBody });
    if (sent.status !== 200) {
      failures.push({ rule: 'the chain: send answers 200', exchange: sent });
      continue;
    }
    const verifyLinks = linksOf(send, 200);
    if (verifyLinks.length === 0) failures.push({ rule: 'the chain: send links to verify', exchange: sent });
    for (const link of verifyLinks) {
      const verify = byId.get(link.operationId);
      if (!verify) {
        failures.push({ rule: `link to unknown operation ${link.operationId}`, exchange: sent });
        continue;
      }
      const body = evaluate(link.requestBody ?? {}, sendBody, sent.body) as Json;
      if (body.code === undefined) body.code = options.codeOf?.(String(body.requestId));
      const verified = await call(verify, 'chain', { json: body });
      if (verified.status !== 200) {
        failures.push({ rule: 'the chain: verify answers 200', exchange: verified });
        continue;
      }
      const guardLinks = linksOf(verify, 200);
      if (guardLinks.length === 0)
        failures.push({ rule: 'the chain: verify links to a guarded route', exchange: verified });
      for (const guardLink of guardLinks) {
        const guarded = byId.get(guardLink.operationId);
        if (!guarded) {
          failures.push({ rule: `link to unknown operation ${guardLink.operationId}`, exchange: verified });
          continue;
        }
        const headers: Record<string, string> = {};
        for (const [name, expression] of Object.entries(guardLink.parameters ?? {})) {
          const [where, key] = name.includes('.')
            ? [name.slice(0, name.indexOf('.')), name.slice(name.indexOf('.') + 1)]
            : ['', name];
          if (where !== 'header') throw new Error(`the run fills only header parameters (${name})`);
          headers[key] = String(evaluate(expression, body, verified.body));
        }
        const reached = await call(
          guarded,
          'chain',
          guarded.method === 'get' ? undefined : { json: {} },
          headers,
        );
        if (reached.status === 200) chainsCompleted++;
        else
          failures.push({ rule: 'the chain: the guarded route answers 200 to the token', exchange: reached });
      }
    }
  }

  // Random phase: the rest of the budget, spread over the operations.
  const plans = fc.sample(
    fc.tuple(fc.constantFrom(...operations), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
    { numRuns: Math.max(0, budget - exchanges.length), seed },
  );
  for (const [operation, valid, subSeed] of plans) {
    const bodySchema = (operation.spec.requestBody as Json | undefined)?.content as
      | Record<string, { schema: Json; examples?: Record<string, { value: unknown }> }>
      | undefined;
    const headerParameters = ((operation.spec.parameters ?? []) as Json[]).filter(
      (parameter) => parameter.in === 'header',
    );
    const pathParameters = ((operation.spec.parameters ?? []) as Json[]).filter(
      (parameter) => parameter.in === 'path',
    );
    if (pathParameters.length > 0) continue; // secret paths: not guessed
    const headers: Record<string, string> = {};
    for (const parameter of headerParameters) {
      const value = fc.sample(
        fc.option(fc.string({ minLength: 1, maxLength: 64 }).filter((text) => /^[\x21-\x7e]+$/.test(text))),
        { numRuns: 1, seed: subSeed },
      )[0];
      if (value) headers[String(parameter.name)] = value;
    }
    const json = bodySchema?.['application/json'];
    if (!json) {
      await call(operation, 'valid', operation.method === 'get' ? undefined : { json: {} }, headers);
      continue;
    }
    const samples = Object.values(json.examples ?? {}).map((example) => example.value as Json);
    const schema = resolve(document, json.schema);
    const arbitrary = valid
      ? objectArbitrary(document, schema, samples)
      : invalidArbitrary(document, schema, samples);
    const [body] = fc.sample(arbitrary, { numRuns: 1, seed: subSeed });
    if (!body) continue;
    const accepted = 'json' in body && validatorOf(json.schema)(body.json);
    await call(operation, accepted ? 'valid' : 'invalid', body, headers);
  }

  return { document, exchanges, failures, chainsCompleted, statuses };

  function linksOf(operation: Operation, status: number) {
    const response = (operation.spec.responses as Record<string, Json>)[String(status)];
    return Object.values(
      (response?.links ?? {}) as Record<
        string,
        { operationId: string; requestBody?: unknown; parameters?: Record<string, string> }
      >,
    );
  }
}

/** A component `$ref` of the document, as a ref into the schema Ajv knows the components under. */
function rebase(schema: Json): Json {
  return JSON.parse(
    JSON.stringify(schema).replaceAll('"#/components/', '"https://property-run.test/doc#/components/'),
  );
}

function resolve(document: Json, schema: Json): Json {
  if (typeof schema.$ref !== 'string') return schema;
  const path = schema.$ref.replace(/^#\//, '').split('/');
  let node: unknown = document;
  for (const key of path) node = (node as Json)[key];
  return resolve(document, node as Json);
}

/** A runtime expression (`$request.body#/phone`, `$response.body#/token`) or an object of them; unresolved fields are left out. */
function evaluate(expression: unknown, requestBody: unknown, responseBody: unknown): unknown {
  if (typeof expression === 'string') {
    const match = /^\$(request|response)\.body#(\/.*)?$/.exec(expression);
    if (!match) return expression;
    let node = match[1] === 'request' ? requestBody : responseBody;
    for (const key of (match[2] ?? '').split('/').slice(1))
      node = (node as Json | undefined)?.[key.replaceAll('~1', '/').replaceAll('~0', '~')];
    return node;
  }
  if (typeof expression === 'object' && expression !== null) {
    const out: Json = {};
    for (const [key, value] of Object.entries(expression)) {
      const resolved = evaluate(value, requestBody, responseBody);
      if (resolved !== undefined) out[key] = resolved;
    }
    return out;
  }
  return expression;
}

/** Values of one property: its examples' values, and values of its schema. */
function valueArbitrary(document: Json, schema: Json, samples: unknown[]): fc.Arbitrary<unknown> {
  const resolved = resolve(document, schema);
  const own = schemaArbitrary(resolved);
  return samples.length > 0 ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...samples) }, own) : own;
}

function schemaArbitrary(schema: Json): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if (schema.const !== undefined) return fc.constant(schema.const);
  switch (schema.type) {
    case 'string': {
      const minLength = Number(schema.minLength ?? 0);
      const maxLength = Number(schema.maxLength ?? 64);
      if (typeof schema.pattern === 'string')
        return fc
          .stringMatching(new RegExp(schema.pattern))
          .filter((text) => text.length >= minLength && text.length <= maxLength);
      return fc.string({ minLength, maxLength });
    }
    case 'integer':
      return fc.integer({ min: Number(schema.minimum ?? -1000), max: Number(schema.maximum ?? 1000) });
    case 'boolean':
      return fc.boolean();
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

type Body = { json?: unknown; raw?: string; contentType?: string };

/** Bodies the schema accepts (mostly): its required fields, some optional ones, values from examples or the schema. */
function objectArbitrary(document: Json, schema: Json, examples: Json[]): fc.Arbitrary<Body> {
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  const anyOf = ((schema.anyOf ?? []) as Json[]).map((branch) => (branch.required ?? []) as string[]);
  const required = (schema.required ?? []) as string[];
  const fields = Object.fromEntries(
    Object.entries(properties).map(([name, property]) => [
      name,
      valueArbitrary(
        document,
        property,
        examples.map((example) => example[name]).filter((value) => value !== undefined),
      ),
    ]),
  );
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      anyOf.length > 0 ? fc.constantFrom(...anyOf) : fc.constant([] as string[]),
      examples.length > 0 ? fc.constantFrom(...examples) : fc.constant({} as Json),
    )
    .map(([body, branch, example]) => {
      const out: Json = { ...body };
      for (const name of [...required, ...branch])
        if (out[name] === undefined) out[name] = example[name] ?? body[name] ?? 'x';
      return { json: out };
    });
}

/** Bodies the schema refuses (mostly): a valid one with one thing broken, or no JSON object at all. */
function invalidArbitrary(document: Json, schema: Json, examples: Json[]): fc.Arbitrary<Body> {
  const properties = Object.keys((schema.properties ?? {}) as Record<string, Json>);
  const required = [
    ...((schema.required ?? []) as string[]),
    ...((schema.anyOf ?? []) as Json[]).flatMap((branch) => (branch.required ?? []) as string[]),
  ];
  const valid = objectArbitrary(document, schema, examples);
  const wrongType = fc.oneof(
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string(), { maxLength: 2 }),
    fc.object({ maxDepth: 1 }),
  );
  return fc.oneof(
    // a required field missing
    fc.tuple(valid, fc.constantFrom(...(required.length > 0 ? required : ['phone']))).map(([body, name]) => {
      const json = { ...(body.json as Json) };
      delete json[name];
      return { json };
    }),
    // a field of the wrong type
    fc
      .tuple(valid, fc.constantFrom(...properties), wrongType)
      .map(([body, name, value]) => ({ json: { ...(body.json as Json), [name]: value } })),
    // a string too long, or empty
    fc.tuple(valid, fc.constantFrom(...properties), fc.boolean()).map(([body, name, long]) => {
      const property = resolve(document, ((schema.properties as Record<string, Json>)[name] ?? {}) as Json);
      const max = Number(property.maxLength ?? 64);
      return { json: { ...(body.json as Json), [name]: long ? '9'.repeat(max + 1) : '' } };
    }),
    // no object
    fc
      .oneof(
        fc.array(fc.integer(), { maxLength: 3 }),
        fc.string({ maxLength: 10 }),
        fc.integer(),
        fc.constant(null),
      )
      .map((json) => ({ json })),
    // no JSON, or another content type
    fc.constantFrom<Body>(
      { raw: '{"phone":', contentType: 'application/json' },
      { raw: 'phone=%2B8613800138000', contentType: 'application/x-www-form-urlencoded' },
      { raw: '', contentType: 'application/json' },
    ),
  );
}
