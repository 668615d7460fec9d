/**
 * A fuzzer of the HTTP API, kept in the suite. Given a server with every route (gates,
 * metrics, users, tokens, sessions) over a real SQLite store and the fake orchestrator, when
 * each route GET /openapi.json lists is sent 2,000 hostile requests from a fixed seed —
 * malformed and wrong-typed bodies, names like `constructor` and `__proto__`, `%` and CRLF
 * in paths, 5000-character ids, strange content types and Host headers, with and without
 * credentials — then every answer is a 4xx in the documented error shape (never a 5xx, never
 * a stack, never a 200 KB echo), and nothing was written: no deployment, user, token, freeze
 * or event other than the rate-limited `auth.denied` records of refused credentials.
 *
 * Each request carries at least one fault that the route must refuse (a missing or wrong
 * credential, a Host that is not the server's, an unknown id, a body that cannot be valid, a
 * bad URL, a path no route has), plus random noise on top. The generator is seeded, so a
 * failure names a request that can be replayed. Written without a property-testing library
 * (none is a dependency); fast-check would add shrinking of failing cases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { FakeOrchestrator } from './support/fake-orchestrator.js';
import { T0, environment, openPeopleWorld, peopleConfig, type PeopleWorld } from './support/people-world.js';
import { buildServer } from '../src/server/app.js';
import { newApiToken } from '../src/auth/tokens.js';
import type { MetricsSource } from '../src/engine/orchestrator-metrics.js';

const SEED = 20_250_101;
const REQUESTS = 2000;
const ADMIN = 'fuzz-admin-token-0123456789';

/** A small, fast, seeded generator (mulberry32). */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)],
    chance: (p: number) => next() < p,
  };
}
type Random = ReturnType<typeof random>;

/** Strings no config, user, token or deployment of the world is named: each is unknown wherever it goes. */
const HOSTILE: readonly string[] = [
  'constructor', 'toString', '__proto__', 'prototype', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf',
  '%', '%%', '%zz', '%E0%A4%A', '%00', '%0d%0a', '..', '../../etc/passwd', '..%2f..%2fetc', '/', '\\', '',
  ' ', '\t', '\r\n', 'a\r\nSet-Cookie: pwned=1', 'a\u0000b', '\uD800', '\u202Eevil', '😀'.repeat(40), 'Ω≈ç√∫',
  "' OR '1'='1", '"; DROP TABLE deployments; --', '$(reboot)', '`id`', '<script>alert(1)</script>', '{{7*7}}', '${7*7}',
  'x'.repeat(101), 'x'.repeat(129), 'x'.repeat(5000), 'null', 'undefined', 'NaN', '-1', '1e309', '0x10', '*', '[]', '{}',
  'dep_99999999', 'tok_000000000000', 'frz_nope',
];
/** Values of a JSON field that are hostile by type. */
const WRONG_TYPES: readonly unknown[] = [null, true, 0, -1, 1.5, 1e308, [], [null], {}, { $gt: '' }, ['constructor'], { toString: 'x' }];
const MALFORMED_JSON: readonly string[] = [
  '{', '{"service":', '{"a":1,}', "{'a':1}", '[', 'nul', 'tru', '"\\ud800"', '{"a":"\\x41"}', '\u0000', '{"a":1}{"b":2}',
  `${'['.repeat(5000)}${']'.repeat(5000)}`, '{"__proto__":{"polluted":true}}', '{"x":{"constructor":{"prototype":{"polluted":true}}}}',
];
const BAD_HOSTS: readonly string[] = ['evil.example', 'evil.example:7400', 'localhost.evil.example', '127.0.0.1.nip.io', 'gangway.example.com'];
const BAD_CREDENTIALS: readonly string[] = ['Bearer nope', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', ADMIN, `Bearer ${ADMIN}x`, `Bearer ${'t'.repeat(5000)}`, 'Bearer constructor'];
const BAD_CONTENT_TYPES: readonly string[] = [
  'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=utf-16',
  'application/json; charset=iso-8859-1', 'application/jsonx', 'application/json-seq',
];

interface Operation {
  method: string; path: string; params: string[]; query: string[]; body?: { required: boolean; schema: Schema }; public: boolean;
  /** The service and environment fields it takes (query or body) when it answers 404 for an unknown one. */
  names: { in: 'query' | 'body'; fields: string[] } | undefined;
}
interface Schema { properties?: Record<string, unknown>; required?: string[]; additionalProperties?: unknown }

const NAME_FIELDS = ['service', 'environment'];

/** The operations of the OpenAPI document, with their path and query parameters and request body schema. */
function operationsOf(doc: { paths: Record<string, Record<string, Record<string, unknown>>>; components: { schemas: Record<string, Schema> } }): Operation[] {
  const out: Operation[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const parameters = (op.parameters ?? []) as Array<{ name: string; in: string }>;
      const content = (op.requestBody as { required?: boolean; content?: Record<string, { schema: Schema & { $ref?: string } }> } | undefined);
      let schema = content?.content?.['application/json']?.schema;
      if (schema?.$ref) schema = doc.components.schemas[schema.$ref.split('/').pop()!];
      const query = parameters.filter((p) => p.in === 'query').map((p) => p.name);
      const answers404 = Object.hasOwn(op.responses as object, '404');
      const bodyNames = Object.keys(schema?.properties ?? {}).filter((k) => NAME_FIELDS.includes(k));
      const queryNames = query.filter((k) => NAME_FIELDS.includes(k));
      out.push({
        method: method.toUpperCase(), path,
        params: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]),
        query,
        body: content && schema ? { required: content.required === true, schema } : undefined,
        public: Array.isArray(op.security) && (op.security as unknown[]).length === 0,
        names: !answers404 ? undefined : bodyNames.length > 0 ? { in: 'body', fields: bodyNames } : queryNames.length > 0 ? { in: 'query', fields: queryNames } : undefined,
      });
    }
  }
  return out;
}

type Fault = 'no-credential' | 'bad-credential' | 'bad-host' | 'bad-param' | 'bad-body' | 'bad-url' | 'unknown-route' | 'unknown-name';

function faultsOf(op: Operation): Fault[] {
  return [
    ...(op.public ? [] : ['no-credential', 'bad-credential'] as const),
    'bad-host', 'bad-url',
    ...(op.params.length > 0 ? ['bad-param'] as const : []),
    ...(op.body ? ['bad-body'] as const : []),
    ...(op.path.startsWith('/v1/') ? ['unknown-route'] as const : []),
    // Twice as likely: the only fault that reaches the route's handler and the orchestrator.
    ...(op.names ? ['unknown-name', 'unknown-name'] as const : []),
  ];
}

/** Percent-encodes the UTF-8 bytes of `text`; unlike encodeURIComponent it takes a lone surrogate too. */
function encode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** A hostile value for a path segment, percent-encoded or not, or too long. */
function hostileSegment(r: Random): string {
  const h = r.pick(HOSTILE);
  if (h === '') return 'x';
  if (r.chance(0.15)) return 'i'.repeat(r.pick([101, 5000]));
  return r.chance(0.8) || !/^[\x21-\x7e]+$/.test(h) ? encode(h) : h.replace(/[/?#]/g, '_');
}

/** A JSON object body shaped like the schema, with hostile values, and always one thing no schema accepts. */
function hostileObject(r: Random, schema: Schema): string {
  const obj: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties ?? {})) {
    if (!r.chance(0.6)) continue;
    obj[key] = r.chance(0.5) ? r.pick(HOSTILE) : r.pick(WRONG_TYPES);
  }
  // An unknown field (every body schema is strict except the webhook's, which needs fields these lack).
  const poison = r.pick(['constructor', 'toString', 'force', 'admin', `k${'k'.repeat(r.pick([1, 300]))}`, '__proto__']);
  let text = JSON.stringify({ ...obj, ...(poison === '__proto__' ? {} : { [poison]: r.pick(HOSTILE) }) });
  // JSON.stringify drops a __proto__ key; write it into the text the way an attacker would.
  if (poison === '__proto__') text = text === '{}' ? '{"__proto__":{"polluted":true}}' : `{"__proto__":{"polluted":true},${text.slice(1)}`;
  return text;
}

/** Names for `fields` (service, environment): at least one unknown, the others defined or unknown. */
function unknownNames(r: Random, fields: string[]): Record<string, string> {
  const defined: Record<string, string> = { service: 'web', environment: 'prod' };
  const names = HOSTILE.filter((h) => h.length > 0 && h.length <= 128);
  const bad = r.pick(fields);
  return Object.fromEntries(fields.map((f) => [f, f === bad || r.chance(0.3) ? r.pick(names) : defined[f]]));
}

interface Request { method: string; url: string; headers: Record<string, string>; payload?: string; fault: Fault; op: string }

function hostileRequest(r: Random, op: Operation, tokens: { admin: string; user: string }): Request {
  const fault = r.pick(faultsOf(op));
  const headers: Record<string, string> = {};
  // Credentials: mostly valid ones, so the request gets past authentication to the route.
  const credential = fault === 'no-credential' ? undefined
    : fault === 'bad-credential' ? r.pick(BAD_CREDENTIALS)
      : r.chance(0.8) ? `Bearer ${tokens.admin}` : r.chance(0.5) ? `Bearer ${tokens.user}` : undefined;
  if (credential !== undefined) headers.authorization = credential;
  if (fault === 'no-credential' && r.chance(0.5)) headers.cookie = `gangway_session=${encode(r.pick(HOSTILE)).slice(0, 200)}`;
  if (fault === 'bad-host') headers.host = r.pick(BAD_HOSTS);
  if (r.chance(0.1)) headers['x-gangway-actor'] = r.pick(['x'.repeat(129), '😀', 'constructor', '__proto__']);

  // Without a bad-param fault a path parameter is well-formed, but names nothing this world has: it has no deployment.
  let path = op.path.replace(/\{\w+\}/g, () => (fault === 'bad-param' ? hostileSegment(r) : r.pick(['dep_0001', 'frz_nope', 'backup'])));
  if (fault === 'bad-url') path = r.chance(0.5) && op.params.length > 0 ? op.path.replace(/\{\w+\}/g, () => r.pick(['%', '%zz', '%E0%A4%A', 'a%'])) : `${path}/${r.pick(['%', '%zz', '%%41'])}`;
  if (fault === 'unknown-route') path = `${path}/${hostileSegment(r)}`;

  const query: string[] = [];
  for (const name of op.query) if (r.chance(0.5)) query.push(`${name}=${encode(r.pick(HOSTILE))}`);
  if (r.chance(0.2)) query.push(r.pick(['__proto__[admin]=1', 'constructor[prototype][x]=1', 'service=a&service=b', 'limit=1&limit=2', '%=%', 'a=%zz']));
  const url = query.length > 0 ? `${path}?${query.join('&')}` : path;

  let payload: string | undefined;
  if (fault === 'unknown-name' && op.names) {
    // A well-formed request whose only fault is a service or environment the config does not define.
    const names = unknownNames(r, op.names.fields);
    if (op.names.in === 'query') {
      const rest = query.filter((q) => !NAME_FIELDS.some((f) => q.startsWith(`${f}=`)) && !/^(limit|lines|days|since|version)=/.test(q));
      return { method: op.method, url: `${path}?${[...rest, ...Object.entries(names).map(([k, v]) => `${k}=${encode(v)}`)].join('&')}`, headers, fault, op: `${op.method} ${op.path}` };
    }
    const required = Object.fromEntries((op.body?.schema.required ?? []).filter((k) => !NAME_FIELDS.includes(k)).map((k) => [k, 'fuzz']));
    return { method: op.method, url: path, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ ...required, ...names }), fault, op: `${op.method} ${op.path}` };
  }
  if (fault === 'bad-body' && op.body) {
    const kind = r.int(5);
    if (kind === 0) payload = r.pick(MALFORMED_JSON);
    else if (kind === 1) payload = r.pick(['[]', '1', '"s"', 'null', 'true', '[{}]']);
    else if (kind === 2) payload = hostileObject(r, op.body.schema);
    else if (kind === 3) {
      payload = hostileObject(r, op.body.schema);
      headers['content-type'] = r.pick(BAD_CONTENT_TYPES);
    } else payload = r.chance(0.1) ? JSON.stringify({ reason: 'r'.repeat(300_000) }) : hostileObject(r, op.body.schema);
    headers['content-type'] ??= 'application/json';
  } else if (op.body && r.chance(0.5)) {
    payload = hostileObject(r, op.body.schema);
    headers['content-type'] = 'application/json';
  }
  return { method: op.method, url, headers, payload, fault, op: `${op.method} ${op.path}` };
}

const STATUS_CODES: Record<number, string[]> = {
  400: ['invalid_argument', 'invalid_config'], 401: ['unauthorized'], 403: ['forbidden'], 404: ['not_found'], 409: ['conflict'],
  413: ['invalid_argument'], 414: ['invalid_argument'], 415: ['invalid_argument'], 423: ['blocked'], 429: ['rate_limited'],
};

let w: PeopleWorld;
let fake: FakeOrchestrator;
let app: FastifyInstance;
let userToken: string;

/** What the fuzzer must not change. */
async function snapshot() {
  const events = await w.store.listEvents();
  return {
    deployments: structuredClone(fake.deployments),
    orchestratorEvents: fake.eventLog.length,
    events: events.filter((e) => e.type !== 'auth.denied').map((e) => e.id),
    users: (await w.store.listUsers()).map((u) => [u.name, JSON.stringify(u.roles), u.passwordHash]),
    tokens: (await w.store.listApiTokens()).map((t) => [t.id, t.owner, t.revokedAt]),
    freezes: (await w.store.listFreezes({ all: true })).map((f) => [f.id, f.liftedAt]),
  };
}

beforeAll(async () => {
  w = await openPeopleWorld(peopleConfig({
    environments: [environment('dev'), environment('prod', { approvals: { required: 1, groups: ['ops'], allowSelfApproval: false, expiresMs: null } })],
  }));
  fake = new FakeOrchestrator({ services: { web: ['dev', 'prod'], api: ['dev', 'prod'] }, startAt: T0 });
  await w.people.freeze({ environment: 'prod', owner: 'seed', reason: 'incident 42' });
  await w.store.createUser({ name: 'dee', roles: { prod: 'deployer' }, passwordHash: null, createdAt: T0 });
  const { record, secret } = newApiToken({ owner: 'dee', name: 'fuzz', now: T0 });
  await w.store.createApiToken(record);
  userToken = secret;
  const metrics: MetricsSource = { scrape: async () => '# none\n', dora: async () => [] };
  app = buildServer({
    orchestrator: fake, token: ADMIN, version: '9.9.9', gates: w.people, metrics,
    auth: { store: w.store, environments: ['dev', 'prod'], now: () => T0 },
    stream: { pollMs: 20, heartbeatMs: 60_000 },
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await w?.close();
});

describe('given every route of the OpenAPI document', () => {
  it(`${REQUESTS} hostile requests (seed ${SEED}) are each answered 4xx in the error shape, and change nothing`, async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: `Bearer ${ADMIN}` } })).json();
    const operations = operationsOf(doc);
    expect(operations.length).toBeGreaterThanOrEqual(35);
    const before = await snapshot();

    const r = random(SEED);
    const statuses = new Map<number, number>();
    const faults = new Map<Fault, number>();
    const failures: string[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const req = hostileRequest(r, r.pick(operations), { admin: ADMIN, user: userToken });
      faults.set(req.fault, (faults.get(req.fault) ?? 0) + 1);
      const res = await app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, payload: req.payload });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      const where = `#${i} ${req.op} [${req.fault}] ${req.method} ${req.url.slice(0, 120)} → ${res.statusCode}`;
      let body: { error?: { code?: unknown; message?: unknown; hint?: unknown; details?: unknown } } | undefined;
      try { body = res.json(); } catch { body = undefined; }
      const error = body?.error;
      const problems = [
        ...(res.statusCode >= 400 && res.statusCode < 500 ? [] : ['not a 4xx']),
        ...(String(res.headers['content-type']).startsWith('application/json') ? [] : [`content-type ${res.headers['content-type']}`]),
        ...(body && Object.keys(body).join() === 'error' && error && typeof error.message === 'string'
          && Object.keys(error).every((k) => ['code', 'message', 'hint', 'details'].includes(k))
          && (error.hint === undefined || typeof error.hint === 'string')
          && (error.details === undefined || (typeof error.details === 'object' && error.details !== null)) ? [] : ['not the error shape']),
        ...(STATUS_CODES[res.statusCode]?.includes(String(error?.code)) ? [] : [`code ${String(error?.code)}`]),
        ...(res.body.length <= 16_384 ? [] : [`${res.body.length} bytes`]),
        ...(/(.)\1{250}/.test(res.body) ? ['echoes a long input'] : []),
        ...(/\bat \S+ \(|node:internal|\/src\//.test(res.body) ? ['a stack trace'] : []),
        ...(res.headers['x-content-type-options'] === 'nosniff' && res.headers['cache-control'] === 'no-store' ? [] : ['headers']),
        ...(res.headers['set-cookie'] === undefined ? [] : ['set-cookie']),
      ];
      if (problems.length > 0) failures.push(`${where}: ${problems.join(', ')}: ${res.body.slice(0, 300)}`);
    }
    expect(failures.slice(0, 20)).toEqual([]);

    // Every kind of fault was sent, and the answers span the refusals.
    expect([...faults.keys()].sort()).toEqual(['bad-body', 'bad-credential', 'bad-host', 'bad-param', 'bad-url', 'no-credential', 'unknown-name', 'unknown-route']);
    for (const status of [400, 401, 403, 404, 413, 414, 415]) expect(statuses.get(status) ?? 0, `answers ${status}`).toBeGreaterThan(0);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(REQUESTS);

    const after = await snapshot();
    expect(after).toEqual(before);
    // Refused credentials are recorded, at most 60 a minute (the clock stands still here).
    const denied = (await w.store.listEvents()).filter((e) => e.type === 'auth.denied');
    expect(denied.length).toBeGreaterThan(0);
    expect(denied.length).toBeLessThanOrEqual(60);
  });
});
