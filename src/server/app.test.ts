import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { buildServer } from './app.js';
import { UNAUTHORIZED_BODY, tokenChecker } from './auth.js';
import { FakeOrchestrator } from '../../test/support/fake-orchestrator.js';
import type { OrchestratorApi } from '../engine/types.js';

const TOKEN = 'test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

let fake: FakeOrchestrator;
let app: FastifyInstance;

beforeEach(() => {
  fake = new FakeOrchestrator({ services: { web: ['dev', 'prod'], api: ['dev'] } });
  app = buildServer({ orchestrator: fake, token: TOKEN, version: '9.9.9', stream: { pollMs: 20, heartbeatMs: 60_000 } });
});
afterEach(async () => { await app.close(); });

const PROTECTED: Array<{ method: 'GET' | 'POST'; url: string; payload?: object }> = [
  { method: 'POST', url: '/v1/deployments', payload: { service: 'web', environment: 'dev', version: '1.0.0' } },
  { method: 'GET', url: '/v1/deployments' },
  { method: 'GET', url: '/v1/deployments/dep_0001' },
  { method: 'POST', url: '/v1/deployments/dep_0001/abort' },
  { method: 'POST', url: '/v1/rollbacks', payload: { service: 'web', environment: 'dev' } },
  { method: 'GET', url: '/v1/status' },
  { method: 'POST', url: '/v1/plan', payload: { service: 'web', environment: 'dev', version: '1.0.0' } },
  { method: 'GET', url: '/v1/logs?service=web&environment=dev' },
  { method: 'GET', url: '/v1/events' },
  { method: 'GET', url: '/v1/events/stream' },
  { method: 'GET', url: '/openapi.json' },
  { method: 'GET', url: '/v1/no-such-route' },
];

describe('authentication', () => {
  for (const route of PROTECTED) {
    it(`${route.method} ${route.url} without a token → 401`, async () => {
      const res = await app.inject({ method: route.method, url: route.url, payload: route.payload });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual(UNAUTHORIZED_BODY);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="gangway"');
    });
    it(`${route.method} ${route.url} with a wrong token → 401`, async () => {
      const res = await app.inject({ method: route.method, url: route.url, payload: route.payload, headers: { authorization: `Bearer ${TOKEN}x` } });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error: { code: 'unauthorized', message: 'missing or invalid API token', hint: 'the CLI reads it from .gangway/token' } });
    });
  }

  it('does not reach the orchestrator when the token is wrong', async () => {
    await app.inject({ method: 'POST', url: '/v1/deployments', payload: { service: 'web', environment: 'dev', version: '1.0.0' }, headers: { authorization: 'Bearer nope' } });
    expect(fake.calls).toEqual([]);
    expect(fake.deployments).toEqual([]);
  });

  it('accepts only the Bearer scheme with the exact token', () => {
    const check = tokenChecker(TOKEN);
    expect(check(`Bearer ${TOKEN}`)).toBe(true);
    expect(check(`bearer ${TOKEN}`)).toBe(true);
    expect(check(`Basic ${TOKEN}`)).toBe(false);
    expect(check(TOKEN)).toBe(false);
    expect(check(`Bearer ${TOKEN.slice(0, -1)}`)).toBe(false);
    expect(check('Bearer ')).toBe(false);
    expect(check(undefined)).toBe(false);
  });

  it('serves /healthz without a token', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true, version: '9.9.9' });
  });
});

describe('routes', () => {
  it('POST /v1/deployments creates a deployment for the actor → 201', async () => {
    const res = await app.inject({
      method: 'POST', url: '/v1/deployments', headers: { ...auth, 'x-gangway-actor': 'alice' },
      payload: { service: 'web', environment: 'dev', version: '1.4.2', reason: 'fix checkout' },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ id: 'dep_0001', service: 'web', environment: 'dev', version: '1.4.2', phase: 'running', actor: 'alice', reason: 'fix checkout', kind: 'deploy' });
    expect(body.steps.map((s: { title: string }) => s.title)).toEqual(['start 2 instances of 1.4.2', 'wait for 1.4.2 to be healthy', 'switch traffic to 1.4.2']);
    expect(fake.calls[0]).toEqual(['deploy', { service: 'web', environment: 'dev', version: '1.4.2', reason: 'fix checkout', actor: 'alice' }]);
  });

  it('uses the actor "api" when the header is absent', async () => {
    await app.inject({ method: 'POST', url: '/v1/deployments', headers: auth, payload: { service: 'web', environment: 'dev', image: 'ghcr.io/acme/web:1.4.2' } });
    expect(fake.calls[0]).toEqual(['deploy', { service: 'web', environment: 'dev', image: 'ghcr.io/acme/web:1.4.2', actor: 'api' }]);
  });

  it('GET /v1/deployments lists history newest first with filters', async () => {
    await fake.deploy({ service: 'web', environment: 'dev', version: '1', actor: 'a' });
    await fake.deploy({ service: 'api', environment: 'dev', version: '2', actor: 'a' });
    await fake.deploy({ service: 'web', environment: 'prod', version: '3', actor: 'a' });
    const all = await app.inject({ method: 'GET', url: '/v1/deployments', headers: auth });
    expect(all.statusCode).toBe(200);
    expect(all.json().map((d: { id: string }) => d.id)).toEqual(['dep_0003', 'dep_0002', 'dep_0001']);
    const some = await app.inject({ method: 'GET', url: '/v1/deployments?service=web&limit=1', headers: auth });
    expect(some.json().map((d: { id: string }) => d.id)).toEqual(['dep_0003']);
    expect(fake.calls.at(-1)).toEqual(['history', { service: 'web', limit: 1 }]);
  });

  it('GET /v1/deployments/:id returns the deployment, 404 when unknown', async () => {
    const created = await fake.deploy({ service: 'web', environment: 'dev', version: '1', actor: 'a' });
    const res = await app.inject({ method: 'GET', url: `/v1/deployments/${created.id}`, headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(created);
    const missing = await app.inject({ method: 'GET', url: '/v1/deployments/dep_9999', headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: { code: 'not_found', message: 'deployment dep_9999 not found', hint: 'list deployments with `gangway history`' } });
  });

  it('POST /v1/deployments/:id/abort aborts; a finished one → 409 conflict', async () => {
    const created = await fake.deploy({ service: 'web', environment: 'dev', version: '1', actor: 'a' });
    const res = await app.inject({ method: 'POST', url: `/v1/deployments/${created.id}/abort`, headers: { ...auth, 'x-gangway-actor': 'bob' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: created.id, phase: 'aborted', abortRequested: true, message: 'aborted by bob' });
    const again = await app.inject({ method: 'POST', url: `/v1/deployments/${created.id}/abort`, headers: auth, payload: {} });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({ error: { code: 'conflict', message: 'deployment dep_0001 already ended (aborted)' } });
  });

  it('POST /v1/rollbacks → 201 with the previous release', async () => {
    fake.setStable('web', 'prod', '1.0.0');
    fake.setStable('web', 'prod', '1.1.0');
    const res = await app.inject({ method: 'POST', url: '/v1/rollbacks', headers: auth, payload: { service: 'web', environment: 'prod', reason: 'errors' } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ kind: 'rollback', version: '1.0.0', previousVersion: '1.1.0', reason: 'errors', actor: 'api' });
  });

  it('GET /v1/status returns the entries', async () => {
    fake.setStable('web', 'dev', '1.0.0');
    const res = await app.inject({ method: 'GET', url: '/v1/status?service=web&environment=dev', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(await fake.status({ service: 'web', environment: 'dev' }));
    expect(res.json()).toHaveLength(1);
  });

  it('GET /v1/status for an unknown service → 404 not_found', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/status?service=nope', headers: auth });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'not_found', message: 'service "nope" is not defined in gangway.yaml', hint: 'services: web, api' } });
  });

  it('POST /v1/plan returns the plan', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/plan', headers: auth, payload: { service: 'web', environment: 'dev', version: '2.0.0' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      service: 'web', environment: 'dev', version: '2.0.0', strategy: 'blueGreen', stableVersion: null, queuedBehind: 0, gates: [], skippedGates: [], preview: null,
      steps: [
        { idx: 0, type: 'start', title: 'start 2 instances of 2.0.0', params: {} },
        { idx: 1, type: 'health', title: 'wait for 2.0.0 to be healthy', params: {} },
        { idx: 2, type: 'switch', title: 'switch traffic to 2.0.0', params: {} },
      ],
    });
  });

  it('GET /v1/logs passes the query through', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/logs?service=web&environment=dev&version=1.0.0&lines=2', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([{ instance: 'web-dev-1.0.0-1', version: '1.0.0', lines: ['GET /health 200', 'GET / 200'] }]);
    expect(fake.calls.at(-1)).toEqual(['logs', { service: 'web', environment: 'dev', version: '1.0.0', lines: 2 }]);
  });

  it('GET /v1/events filters by after, deployment and limit', async () => {
    fake.emit(null, 'a');
    fake.emit('dep_x', 'b');
    fake.emit('dep_x', 'c');
    const res = await app.inject({ method: 'GET', url: '/v1/events?after=1&deployment=dep_x&limit=1', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json().map((e: { id: number; type: string }) => [e.id, e.type])).toEqual([[2, 'b']]);
    expect(fake.calls.at(-1)).toEqual(['events', { afterId: 1, deploymentId: 'dep_x', limit: 1, context: true }]);
  });
});

describe('validation', () => {
  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, headers: auth, payload: payload as object });

  it('a bad version string → 400 naming the field, with the accepted form', async () => {
    const res = await post('/v1/deployments', { service: 'web', environment: 'dev', version: '-1 beta' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: {
      code: 'invalid_argument', message: 'version: "-1 beta" is not a valid version',
      hint: 'a version is 1-128 characters of letters, digits, ".", "_", "+" or "-", starting with a letter or digit, e.g. 1.4.2',
      details: { where: 'body', problems: [{ field: 'version', message: '"-1 beta" is not a valid version' }] },
    } });
    expect(fake.calls).toEqual([]);
  });

  it('a malformed image reference → 400 with the accepted form', async () => {
    const res = await post('/v1/deployments', { service: 'web', environment: 'dev', image: 'Web:@sha256:zz' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toEqual({
      code: 'invalid_argument', message: 'image: "Web:@sha256:zz" is not a valid image reference',
      hint: 'an image reference looks like repo[:tag][@sha256:<64 hex digits>], e.g. ghcr.io/acme/web:1.4.2 or ghcr.io/acme/web@sha256:<digest>',
      details: { where: 'body', problems: [{ field: 'image', message: '"Web:@sha256:zz" is not a valid image reference' }] },
    });
  });

  it.each([
    'web', 'web:1.4.2', 'ghcr.io/acme/web:1.4.2', 'localhost:5000/acme/web', `ghcr.io/acme/web@sha256:${'a'.repeat(64)}`,
    `registry.example.com:443/team/web-app_x:v2.0.1-rc.1@sha256:${'0f'.repeat(32)}`,
  ])('accepts the image reference %s', async (image) => {
    const res = await post('/v1/deployments', { service: 'web', environment: 'dev', image });
    expect(res.statusCode).toBe(201);
  });

  it('an unknown key → 400 naming it', async () => {
    const res = await post('/v1/deployments', { service: 'web', environment: 'dev', version: '1.0.0', force: true });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: {
      code: 'invalid_argument', message: 'force: unknown field',
      hint: 'remove the field; see GET /openapi.json for the accepted fields',
      details: { where: 'body', problems: [{ field: 'force', message: 'unknown field' }] },
    } });
  });

  it('a missing field → 400 "is required"', async () => {
    const res = await post('/v1/rollbacks', { service: 'web' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: {
      code: 'invalid_argument', message: 'environment: is required',
      details: { where: 'body', problems: [{ field: 'environment', message: 'is required' }] },
    } });
  });

  it('neither version nor image is passed to the orchestrator, which picks the release or says what is missing', async () => {
    const res = await post('/v1/deployments', { service: 'web', environment: 'dev' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBe('give exactly one of version or image');
  });

  it('a body that is not JSON → 400 invalid_argument', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/deployments', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"service":' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_argument');
    expect(res.json().error.hint).toBe('send a JSON object with content-type: application/json');
  });

  it('a bad query value → 400 naming the parameter', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/deployments?limit=0', headers: auth });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBe('limit: must be at least 1');
    const missing = await app.inject({ method: 'GET', url: '/v1/logs?service=web', headers: auth });
    expect(missing.json().error.message).toBe('environment: is required');
  });

  it('an actor header that is too long → 400 on routes that record the actor', async () => {
    const post2 = await app.inject({ method: 'POST', url: '/v1/plan', headers: { ...auth, 'x-gangway-actor': 'x'.repeat(129) }, payload: { service: 'web', environment: 'dev' } });
    expect(post2.statusCode).toBe(400);
    expect(post2.json().error.message).toBe('x-gangway-actor: must be one name of at most 128 printable characters');
  });
});

describe('errors', () => {
  it('an unexpected fault → 500 without internals, logged', async () => {
    const lines: string[] = [];
    const broken: OrchestratorApi = { ...fake, status: async () => { throw new Error('SQLITE_BUSY: database is locked at /secret/path'); } } as unknown as OrchestratorApi;
    const loud = buildServer({
      orchestrator: broken, token: TOKEN, version: '1',
      logger: { level: 'info', stream: { write: (s: string) => { lines.push(s); } } },
    });
    const res = await loud.inject({ method: 'GET', url: '/v1/status', headers: auth });
    await loud.close();
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: { code: 'internal', message: 'internal error' } });
    const logged = lines.join('');
    expect(logged).toContain('SQLITE_BUSY');
    // The token never reaches the log.
    expect(logged).not.toContain(TOKEN);
  });

  it('a 5xx is logged as one line with the method, route pattern, message and stack; no token, cookie or body', async () => {
    const lines: string[] = [];
    const broken: OrchestratorApi = { ...fake, deploy: async () => { throw new TypeError('cannot read properties of undefined (reading \'target\')'); } } as unknown as OrchestratorApi;
    const logger = pino({ serializers: { req: pino.stdSerializers.req } }, { write: (s: string) => { lines.push(s); } });
    const loud = buildServer({ orchestrator: broken, token: TOKEN, version: '1', logger, logRequests: false });
    const res = await loud.inject({
      method: 'POST', url: '/v1/deployments?trace=query-secret-1',
      headers: { ...auth, cookie: 'gangway_session=cookie-secret-2', 'x-gangway-actor': 'ana' },
      payload: { service: 'web', environment: 'dev', version: '1.0.0', reason: 'body-secret-3' },
    });
    await loud.close();
    expect([res.statusCode, res.json()]).toEqual([500, { error: { code: 'internal', message: 'internal error' } }]);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]);
    expect({ level: line.level, msg: line.msg, method: line.method, route: line.route, status: line.status, type: line.err.type, message: line.err.message })
      .toEqual({ level: 50, msg: 'request failed', method: 'POST', route: '/v1/deployments', status: 500, type: 'TypeError', message: 'cannot read properties of undefined (reading \'target\')' });
    expect(line.err.stack).toMatch(/^TypeError: cannot read properties of undefined \(reading 'target'\)\n\s+at /);
    for (const secret of [TOKEN, 'cookie-secret-2', 'body-secret-3', 'query-secret-1']) expect(lines[0]).not.toContain(secret);
  });

  it('a 4xx is not logged as a fault', async () => {
    const lines: string[] = [];
    const quiet = buildServer({ orchestrator: fake, token: TOKEN, version: '1', logger: pino({}, { write: (s: string) => { lines.push(s); } }), logRequests: false });
    const res = await quiet.inject({ method: 'POST', url: '/v1/deployments', headers: auth, payload: { service: 'web', environment: 'dev', version: '-bad' } });
    await quiet.close();
    expect([res.statusCode, lines]).toEqual([400, []]);
  });

  it('a caller\'s pino logger with the standard req serializer still logs no headers', async () => {
    const lines: string[] = [];
    const logger = pino({ serializers: { req: pino.stdSerializers.req } }, { write: (s: string) => { lines.push(s); } });
    const logged = buildServer({ orchestrator: fake, token: TOKEN, version: '1', logger });
    const res = await logged.inject({ method: 'GET', url: '/v1/status', headers: auth });
    await logged.close();
    expect(res.statusCode).toBe(200);
    const text = lines.join('');
    expect(text).toContain('"url":"/v1/status"');
    expect(text).not.toContain(TOKEN);
    expect(text.toLowerCase()).not.toContain('authorization');
  });

  it('an unknown route → 404 not_found in the error shape', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/nothing-here?x=1', headers: auth });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /v1/nothing-here', hint: 'see GET /openapi.json for the routes' } });
  });
});

describe('GET /v1/events/stream', () => {
  async function listen(): Promise<string> {
    await app.listen({ host: '127.0.0.1', port: 0 });
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  }

  /** Reads SSE messages until `count` data messages arrived; returns them as [id, event type]. */
  async function read(res: Response, count: number): Promise<Array<[string, string]>> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const out: Array<[string, string]> = [];
    while (out.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const id = /^id: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (id && data) out.push([id, (JSON.parse(data) as { type: string }).type]);
      }
    }
    await reader.cancel();
    return out;
  }

  it('delivers existing and new events with their ids', async () => {
    const base = await listen();
    fake.emit(null, 'first');
    const res = await fetch(`${base}/v1/events/stream`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    setTimeout(() => { fake.emit('dep_1', 'second'); fake.emit('dep_1', 'third'); }, 50);
    expect(await read(res, 3)).toEqual([['1', 'first'], ['2', 'second'], ['3', 'third']]);
  });

  it('resumes after Last-Event-ID', async () => {
    const base = await listen();
    for (const t of ['a', 'b', 'c', 'd']) fake.emit(null, t);
    const res = await fetch(`${base}/v1/events/stream?after=1`, { headers: { ...auth, 'last-event-id': '2' } });
    expect(await read(res, 2)).toEqual([['3', 'c'], ['4', 'd']]);
  });

  it('filters by deployment', async () => {
    const base = await listen();
    fake.emit('dep_a', 'a1');
    fake.emit('dep_b', 'b1');
    fake.emit('dep_a', 'a2');
    const res = await fetch(`${base}/v1/events/stream?deployment=dep_a`, { headers: auth });
    expect(await read(res, 2)).toEqual([['1', 'a1'], ['3', 'a2']]);
  });

  it('lets the server close while a stream is open', async () => {
    const base = await listen();
    const res = await fetch(`${base}/v1/events/stream`, { headers: auth });
    expect(res.status).toBe(200);
    await app.close();
    const reader = res.body!.getReader();
    let done = false;
    while (!done) ({ done } = await reader.read());
    expect(done).toBe(true);
  });
});

describe('GET /openapi.json', () => {
  const ROUTES = [
    'get /healthz', 'get /livez', 'get /readyz', 'get /openapi.json', 'post /v1/deployments', 'get /v1/deployments', 'get /v1/deployments/{id}',
    'post /v1/deployments/{id}/abort', 'post /v1/rollbacks', 'get /v1/status', 'post /v1/plan', 'get /v1/logs',
    'get /v1/events', 'get /v1/events/stream',
    'post /v1/deployments/{id}/promote', 'post /v1/deployments/{id}/retry', 'get /v1/deployments/{id}/verdicts', 'get /v1/deployments/{id}/samples',
    'get /v1/timeline',
    'get /v1/audit/verify', 'get /v1/audit/export',
  ];

  it('describes every route, and every described route exists', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json', headers: auth });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe('9.9.9');
    const listed = Object.entries(doc.paths as Record<string, object>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    expect(listed.sort()).toEqual([...ROUTES].sort());
    for (const entry of listed) {
      const [method, path] = entry.split(' ');
      expect(app.hasRoute({ method: method.toUpperCase() as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') }), entry).toBe(true);
    }
  });

  it('takes request bodies from the validation schemas', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json', headers: auth })).json();
    const deploy = doc.components.schemas.DeployRequest;
    expect(deploy.additionalProperties).toBe(false);
    expect(deploy.required).toEqual(['service', 'environment']);
    expect(Object.keys(deploy.properties)).toEqual(['service', 'environment', 'version', 'image', 'reason', 'expedited', 'waitForWindow', 'commitTime']);
    expect(deploy.properties.version.pattern).toBe('^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$');
    expect(doc.paths['/v1/logs'].get.parameters.map((p: { name: string; required: boolean }) => [p.name, p.required]))
      .toEqual([['service', true], ['environment', true], ['version', false], ['lines', false]]);
    // Every $ref points at a defined schema.
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const r of new Set(refs)) expect(doc.components.schemas[r.split('/').pop()!], r).toBeDefined();
  });
});
