/**
 * The authorization matrix: every route of the OpenAPI document, called by every kind of
 * principal — a viewer, deployer, approver and admin of the route's environment (prod), the
 * built-in global admin, an admin of another environment (dev), no token and a revoked
 * token — answers with exactly the status in the table below. Then sessions: sign-in, wrong
 * password, the rate limit, CSRF and sign-out.
 *
 * The server runs over the fake orchestrator and a real SQLite store (users, tokens,
 * sessions, gates and the event log); each case gets a fresh world, so one case's change
 * (an abort, a lifted freeze) cannot decide another's answer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { get as httpGet } from 'node:http';
import { FakeOrchestrator } from '../../test/support/fake-orchestrator.js';
import { T0, environment, openPeopleWorld, peopleConfig, type PeopleWorld } from '../../test/support/people-world.js';
import { buildServer } from './app.js';
import { UNAUTHORIZED_BODY } from './auth.js';
import { ROUTE_PERMISSIONS } from './permissions.js';
import { SignInThrottle } from './sign-in-throttle.js';
import { newApiToken } from '../auth/tokens.js';
import { hashPassword } from '../auth/users.js';
import type { Role } from '../store/types.js';
import type { MetricsSource } from '../engine/orchestrator-metrics.js';

const BUILTIN = 'builtin-admin-token-0123456789';

/** The principals of the matrix, in column order. */
const COLUMNS = ['viewer', 'deployer', 'approver', 'admin', 'global', 'otherEnv', 'none', 'revoked'] as const;
type Column = typeof COLUMNS[number];

/** Users with a token each: name and roles. `global` is the built-in token; `none` sends no token. */
const USERS: Record<Exclude<Column, 'global' | 'none'>, { name: string; roles: Record<string, Role> }> = {
  viewer: { name: 'vic', roles: { prod: 'viewer' } },
  deployer: { name: 'dee', roles: { prod: 'deployer' } },
  approver: { name: 'apu', roles: { prod: 'approver' } },
  admin: { name: 'ada', roles: { prod: 'admin' } },
  otherEnv: { name: 'otto', roles: { dev: 'admin' } },
  revoked: { name: 'rex', roles: { '*': 'admin' } },
};
const EVERYONE = [...Object.values(USERS).map((u) => u.name), 'api'];

/** A stand-in for Gangway's own metrics: the routes exist, their content is tested elsewhere. */
const METRICS: MetricsSource = {
  scrape: async () => '# no metrics\n',
  dora: async () => [],
};

interface World {
  w: PeopleWorld;
  fake: FakeOrchestrator;
  app: FastifyInstance;
  clock: { now: number };
  tokens: Record<Column, string | undefined>;
  /** The id of an active freeze of prod. */
  freezeId: string;
}

let open: World[] = [];
afterEach(async () => {
  for (const world of open) {
    await world.app.close();
    await world.w.close();
  }
  open = [];
});

/**
 * A fresh world: web in dev and prod, dep_0001 running in dev and dep_0002 running in prod
 * (in the fake orchestrator and in the store the gates read), prod needing one approval from
 * ops and a `backup` confirmation from dba (everyone is in both, so a permitted decision
 * succeeds), a freeze of prod, and the users above with one token each.
 */
async function world(opts: { password?: string } = {}): Promise<World> {
  const w = await openPeopleWorld(peopleConfig({
    environments: [
      environment('dev'),
      environment('prod', {
        approvals: { required: 1, groups: ['ops'], allowSelfApproval: true, expiresMs: null },
        checklist: [{ name: 'backup', text: 'Backup taken', confirmers: ['dba'] }],
      }),
    ],
    groups: { ops: EVERYONE, dba: EVERYONE },
  }));
  const fake = new FakeOrchestrator({ services: { web: ['dev', 'prod'] }, startAt: T0 });
  fake.setStable('web', 'prod', '0.9.0');
  fake.setStable('web', 'prod', '1.0.0');
  for (const environmentName of ['dev', 'prod']) {
    const d = await fake.deploy({ service: 'web', environment: environmentName, version: '1.1.0', actor: 'seed' });
    await w.store.createDeployment({
      id: d.id, service: 'web', environment: environmentName, kind: 'deploy', version: '1.1.0', image: null, actor: 'seed', reason: null,
      previousVersion: null, planHash: 'h', createdAt: T0, steps: [{ type: 'start', title: 'start', params: {} }],
    });
  }
  const freeze = await w.people.freeze({ environment: 'prod', owner: 'seed', reason: 'incident 42' });
  const clock = { now: T0 };
  const tokens = { global: BUILTIN, none: undefined } as Record<Column, string | undefined>;
  for (const [column, user] of Object.entries(USERS) as Array<[Column, { name: string; roles: Record<string, Role> }]>) {
    await w.store.createUser({ name: user.name, roles: user.roles, passwordHash: opts.password ? await hashPassword(opts.password) : null, createdAt: T0 });
    const { record, secret } = newApiToken({ owner: user.name, name: 'matrix', now: T0 });
    await w.store.createApiToken(record);
    if (column === 'revoked') await w.store.revokeApiToken(record.id, T0);
    tokens[column] = secret;
  }
  const app = buildServer({
    orchestrator: fake, token: BUILTIN, version: '9.9.9', gates: w.people, metrics: METRICS,
    auth: { store: w.store, environments: ['dev', 'prod'], now: () => clock.now, throttle: new SignInThrottle({ now: () => clock.now }) },
    stream: { pollMs: 20, heartbeatMs: 60_000 },
  });
  const result = { w, fake, app, clock, tokens, freezeId: freeze.id };
  open.push(result);
  return result;
}

/** One route of the matrix: how to call it, and the status each column gets. */
interface Case {
  method: 'GET' | 'POST' | 'DELETE';
  url: (world: World) => string;
  payload?: object;
  /** In COLUMNS order: viewer, deployer, approver, admin, global, otherEnv, none, revoked. */
  expect: [number, number, number, number, number, number, number, number];
}

const P = 'prod';
const MATRIX: Record<string, Case> = {
  'GET /healthz': { method: 'GET', url: () => '/healthz', expect: [200, 200, 200, 200, 200, 200, 200, 200] },
  'GET /livez': { method: 'GET', url: () => '/livez', expect: [200, 200, 200, 200, 200, 200, 200, 200] },
  'GET /readyz': { method: 'GET', url: () => '/readyz', expect: [200, 200, 200, 200, 200, 200, 200, 200] },
  'GET /openapi.json': { method: 'GET', url: () => '/openapi.json', expect: [200, 200, 200, 200, 200, 200, 401, 401] },
  'GET /metrics': { method: 'GET', url: () => '/metrics', expect: [200, 200, 200, 200, 200, 200, 401, 401] },
  'GET /v1/dora': { method: 'GET', url: () => `/v1/dora?environment=${P}`, expect: [200, 200, 200, 200, 200, 403, 401, 401] },
  'GET /v1/windows': { method: 'GET', url: () => '/v1/windows', expect: [200, 200, 200, 200, 200, 200, 401, 401] },

  'POST /v1/session': { method: 'POST', url: () => '/v1/session', payload: { username: 'nobody', password: 'not-a-password' }, expect: [401, 401, 401, 401, 401, 401, 401, 401] },
  'GET /v1/session': { method: 'GET', url: () => '/v1/session', expect: [200, 200, 200, 200, 200, 200, 401, 401] },
  'DELETE /v1/session': { method: 'DELETE', url: () => '/v1/session', expect: [204, 204, 204, 204, 204, 204, 401, 401] },

  'POST /v1/deployments': { method: 'POST', url: () => '/v1/deployments', payload: { service: 'web', environment: P, version: '1.2.0' }, expect: [403, 201, 201, 201, 201, 403, 401, 401] },
  'GET /v1/deployments': { method: 'GET', url: () => `/v1/deployments?environment=${P}`, expect: [200, 200, 200, 200, 200, 403, 401, 401] },
  'GET /v1/deployments/{id}': { method: 'GET', url: () => '/v1/deployments/dep_0002', expect: [200, 200, 200, 200, 200, 403, 401, 401] },
  'POST /v1/deployments/{id}/abort': { method: 'POST', url: () => '/v1/deployments/dep_0002/abort', expect: [403, 200, 200, 200, 200, 403, 401, 401] },
  // The deployment is running, not paused or ended: a permitted caller gets the orchestrator's conflict.
  'POST /v1/deployments/{id}/promote': { method: 'POST', url: () => '/v1/deployments/dep_0002/promote', expect: [403, 409, 409, 409, 409, 403, 401, 401] },
  'POST /v1/deployments/{id}/retry': { method: 'POST', url: () => '/v1/deployments/dep_0002/retry', expect: [403, 409, 409, 409, 409, 403, 401, 401] },
  'GET /v1/deployments/{id}/verdicts': { method: 'GET', url: () => '/v1/deployments/dep_0002/verdicts', expect: [200, 200, 200, 200, 200, 403, 401, 401] },
  'GET /v1/deployments/{id}/samples': { method: 'GET', url: () => '/v1/deployments/dep_0002/samples', expect: [200, 200, 200, 200, 200, 403, 401, 401] },
  'POST /v1/rollbacks': { method: 'POST', url: () => '/v1/rollbacks', payload: { service: 'web', environment: P }, expect: [403, 201, 201, 201, 201, 403, 401, 401] },
  'GET /v1/status': { method: 'GET', url: () => `/v1/status?environment=${P}`, expect: [200, 200, 200, 200, 200, 403, 401, 401] },
  'POST /v1/plan': { method: 'POST', url: () => '/v1/plan', payload: { service: 'web', environment: P, version: '1.2.0' }, expect: [403, 200, 200, 200, 200, 403, 401, 401] },
  'GET /v1/logs': { method: 'GET', url: () => `/v1/logs?service=web&environment=${P}`, expect: [200, 200, 200, 200, 200, 403, 401, 401] },
  'GET /v1/timeline': { method: 'GET', url: () => `/v1/timeline?service=web&environment=${P}`, expect: [200, 200, 200, 200, 200, 403, 401, 401] },
  // Without an environment in the query, a role in any environment may read.
  'GET /v1/events': { method: 'GET', url: () => '/v1/events', expect: [200, 200, 200, 200, 200, 200, 401, 401] },
  'GET /v1/events/stream': { method: 'GET', url: () => '/v1/events/stream', expect: [200, 200, 200, 200, 200, 200, 401, 401] },

  'POST /v1/deployments/{id}/approve': { method: 'POST', url: () => '/v1/deployments/dep_0002/approve', expect: [403, 403, 200, 200, 200, 403, 401, 401] },
  'POST /v1/deployments/{id}/reject': { method: 'POST', url: () => '/v1/deployments/dep_0002/reject', expect: [403, 403, 200, 200, 200, 403, 401, 401] },
  'GET /v1/deployments/{id}/approvals': { method: 'GET', url: () => '/v1/deployments/dep_0002/approvals', expect: [200, 200, 200, 200, 200, 403, 401, 401] },
  'GET /v1/deployments/{id}/checklist': { method: 'GET', url: () => '/v1/deployments/dep_0002/checklist', expect: [200, 200, 200, 200, 200, 403, 401, 401] },
  'POST /v1/deployments/{id}/checklist/{item}': { method: 'POST', url: () => '/v1/deployments/dep_0002/checklist/backup', expect: [403, 403, 200, 200, 200, 403, 401, 401] },
  'GET /v1/freezes': { method: 'GET', url: () => '/v1/freezes', expect: [200, 200, 200, 200, 200, 200, 401, 401] },
  'POST /v1/freezes': { method: 'POST', url: () => '/v1/freezes', payload: { environment: P, reason: 'release party' }, expect: [403, 403, 403, 201, 201, 403, 401, 401] },
  'DELETE /v1/freezes/{id}': { method: 'DELETE', url: (x) => `/v1/freezes/${x.freezeId}`, expect: [403, 403, 403, 200, 200, 403, 401, 401] },
  'POST /v1/freezes/{id}/lift': { method: 'POST', url: (x) => `/v1/freezes/${x.freezeId}/lift`, expect: [403, 403, 403, 200, 200, 403, 401, 401] },
  'POST /v1/webhooks/alertmanager': { method: 'POST', url: () => '/v1/webhooks/alertmanager', payload: { version: '4', status: 'firing', alerts: [] }, expect: [403, 403, 403, 403, 200, 403, 401, 401] },

  'GET /v1/audit/verify': { method: 'GET', url: () => '/v1/audit/verify', expect: [200, 200, 200, 200, 200, 200, 401, 401] },
  'GET /v1/audit/export': { method: 'GET', url: () => '/v1/audit/export', expect: [200, 200, 200, 200, 200, 200, 401, 401] },

  'GET /v1/users': { method: 'GET', url: () => '/v1/users', expect: [403, 403, 403, 403, 200, 403, 401, 401] },
  'POST /v1/users': { method: 'POST', url: () => '/v1/users', payload: { name: 'newbie', roles: { dev: 'viewer' } }, expect: [403, 403, 403, 403, 201, 403, 401, 401] },
  'DELETE /v1/users/{name}': { method: 'DELETE', url: () => '/v1/users/vic', expect: [403, 403, 403, 403, 200, 403, 401, 401] },
  'GET /v1/tokens': { method: 'GET', url: () => '/v1/tokens', expect: [403, 403, 403, 403, 200, 403, 401, 401] },
  'POST /v1/tokens': { method: 'POST', url: () => '/v1/tokens', payload: { user: 'dee', name: 'ci' }, expect: [403, 403, 403, 403, 201, 403, 401, 401] },
  'DELETE /v1/tokens/{id}': { method: 'DELETE', url: () => '/v1/tokens/tok_unknown', expect: [403, 403, 403, 403, 404, 403, 401, 401] },
};

/** Every operation of the served OpenAPI document, as `METHOD /path`. */
async function documentedRoutes(): Promise<string[]> {
  const x = await world();
  const res = await x.app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: `Bearer ${BUILTIN}` } });
  const paths = res.json().paths as Record<string, Record<string, unknown>>;
  return Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
}

/** Calls a route as a column's principal; the event stream is read over real HTTP until its headers arrive. */
async function call(x: World, c: Case, column: Column): Promise<number> {
  const token = x.tokens[column];
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (c.url(x) === '/v1/events/stream') {
    await x.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (x.app.server.address() as AddressInfo).port;
    return new Promise<number>((resolve, reject) => {
      // One connection, dropped once the status line is in: the stream itself never ends.
      const req = httpGet({ host: '127.0.0.1', port, path: c.url(x), headers, agent: false }, (res) => {
        resolve(res.statusCode ?? 0);
        res.destroy();
      });
      req.on('error', reject);
    });
  }
  const res = await x.app.inject({ method: c.method, url: c.url(x), headers, payload: c.payload ?? (c.method === 'POST' ? {} : undefined) });
  return res.statusCode;
}

describe('the authorization matrix', () => {
  it('covers every route of the OpenAPI document, and every route has a permission', async () => {
    const routes = await documentedRoutes();
    expect(routes).toEqual(Object.keys(MATRIX).sort());
    const fastifyStyle = routes.map((r) => r.replace(/\{(\w+)\}/g, ':$1'));
    expect(fastifyStyle.filter((r) => !ROUTE_PERMISSIONS[r])).toEqual([]);
  });

  for (const [route, c] of Object.entries(MATRIX)) {
    it(`${route}: ${COLUMNS.map((col, i) => `${col} ${c.expect[i]}`).join(', ')}`, async () => {
      const got: number[] = [];
      for (const column of COLUMNS) got.push(await call(await world(), c, column));
      expect(Object.fromEntries(COLUMNS.map((col, i) => [col, got[i]]))).toEqual(Object.fromEntries(COLUMNS.map((col, i) => [col, c.expect[i]])));
    });
  }
});

describe('refusals', () => {
  it('a role outside its environments → 403 naming the roles held, recorded as auth.denied without the token', async () => {
    const x = await world();
    const res = await x.app.inject({
      method: 'POST', url: '/v1/deployments', headers: { authorization: `Bearer ${x.tokens.otherEnv}` }, payload: { service: 'web', environment: 'prod', version: '1.2.0' },
    });
    expect([res.statusCode, res.json()]).toEqual([403, {
      error: { code: 'forbidden', message: 'otto is an admin in dev, not in prod', hint: 'an admin grants roles with `gangway user add <name> --role env=role`' },
    }]);
    const denied = (await x.w.store.listEvents()).filter((e) => e.type === 'auth.denied');
    expect(denied.map((e) => [e.deploymentId, e.data])).toEqual([[null, {
      principal: 'otto', method: 'POST', route: '/v1/deployments', reason: 'otto is an admin in dev, not in prod', address: '127.0.0.1',
    }]]);
    // Only the two deployments of the world's set-up reached the orchestrator.
    expect(x.fake.calls.filter(([m]) => m === 'deploy').map(([, req]) => (req as { actor: string }).actor)).toEqual(['seed', 'seed']);
  });

  it('a wrong token is recorded as auth.denied; a request with no credential at all is not', async () => {
    const x = await world();
    expect((await x.app.inject({ method: 'GET', url: '/v1/session' })).statusCode).toBe(401);
    const wrong = await x.app.inject({ method: 'GET', url: '/v1/status?environment=prod', headers: { authorization: 'Bearer not-a-token' } });
    expect([wrong.statusCode, wrong.json()]).toEqual([401, UNAUTHORIZED_BODY]);
    const denied = (await x.w.store.listEvents()).filter((e) => e.type === 'auth.denied');
    expect(denied.map((e) => e.data)).toEqual([{ method: 'GET', route: '/v1/status', reason: 'missing or invalid API token', address: '127.0.0.1' }]);
  });

  it('a role too low in the environment → 403 naming the role held', async () => {
    const x = await world();
    const res = await x.app.inject({ method: 'POST', url: '/v1/deployments/dep_0002/approve', headers: { authorization: `Bearer ${x.tokens.deployer}` } });
    expect([res.statusCode, res.json().error.message]).toEqual([403, 'dee is a deployer in prod, not an approver']);
    const users = await x.app.inject({ method: 'GET', url: '/v1/users', headers: { authorization: `Bearer ${x.tokens.admin}` } });
    expect([users.statusCode, users.json().error.message]).toEqual([403, 'ada is an admin in prod, not an admin in every environment']);
  });

  it('a revoked or expired token → 401 saying so; recorded with the token id, never the secret', async () => {
    const x = await world();
    const revoked = await x.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${x.tokens.revoked}` } });
    expect([revoked.statusCode, revoked.json()]).toEqual([401, { error: { code: 'unauthorized', message: 'token revoked', hint: 'ask an admin for a new token (gangway token create)' } }]);
    const { record, secret } = newApiToken({ owner: 'vic', name: 'short', now: T0, expiresAt: T0 + 60_000 });
    await x.w.store.createApiToken(record);
    expect((await x.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${secret}` } })).statusCode).toBe(200);
    x.clock.now = T0 + 60_000;
    const expired = await x.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${secret}` } });
    expect([expired.statusCode, expired.json().error.message]).toEqual([401, 'token expired']);
    const events = await x.w.store.listEvents();
    expect(events.filter((e) => e.type === 'auth.denied').map((e) => [e.data.principal, e.data.tokenId, e.data.reason]))
      .toEqual([['rex', expect.stringMatching(/^tok_/), 'token revoked'], ['vic', record.id, 'token expired']]);
    expect(JSON.stringify(events)).not.toContain(secret);
    expect(JSON.stringify(events)).not.toContain(x.tokens.revoked);
  });

  it('records the authenticated principal as the actor; x-gangway-actor counts only for the built-in token', async () => {
    const x = await world();
    const own = await x.app.inject({
      method: 'POST', url: '/v1/deployments', headers: { authorization: `Bearer ${x.tokens.deployer}`, 'x-gangway-actor': 'mallory' }, payload: { service: 'web', environment: 'prod', version: '1.2.0' },
    });
    expect([own.statusCode, own.json().actor]).toEqual([201, 'dee']);
    const cli = await x.app.inject({
      method: 'POST', url: '/v1/deployments/dep_0001/abort', headers: { authorization: `Bearer ${BUILTIN}`, 'x-gangway-actor': 'carol' },
    });
    expect([cli.statusCode, cli.json().message]).toEqual([200, 'aborted by carol']);
  });

  it('a missing deployment is the route\'s own 404 for a role that could act somewhere, 403 for one that could not', async () => {
    const x = await world();
    const missing = await x.app.inject({ method: 'POST', url: '/v1/deployments/dep_9999/abort', headers: { authorization: `Bearer ${x.tokens.deployer}` } });
    expect([missing.statusCode, missing.json().error.message]).toEqual([404, 'deployment dep_9999 not found']);
    const viewer = await x.app.inject({ method: 'POST', url: '/v1/deployments/dep_9999/abort', headers: { authorization: `Bearer ${x.tokens.viewer}` } });
    expect([viewer.statusCode, viewer.json().error.message]).toEqual([403, 'vic is a viewer in prod, not a deployer anywhere']);
  });

  it('a stale page acting on a finished deployment gets the orchestrator\'s conflict', async () => {
    const x = await world();
    const first = await x.app.inject({ method: 'POST', url: '/v1/deployments/dep_0002/abort', headers: { authorization: `Bearer ${x.tokens.deployer}` } });
    expect(first.statusCode).toBe(200);
    const again = await x.app.inject({ method: 'POST', url: '/v1/deployments/dep_0002/abort', headers: { authorization: `Bearer ${x.tokens.deployer}` } });
    expect([again.statusCode, again.json().error]).toEqual([409, { code: 'conflict', message: 'deployment dep_0002 already ended (aborted)' }]);
  });

  it('a freeze of every environment is lifted only by a global admin', async () => {
    const x = await world();
    const all = await x.w.people.freeze({ owner: 'seed', reason: 'everything stops' });
    const res = await x.app.inject({ method: 'POST', url: `/v1/freezes/${all.id}/lift`, headers: { authorization: `Bearer ${x.tokens.admin}` } });
    expect([res.statusCode, res.json().error.message]).toEqual([403, 'ada is an admin in prod, not an admin in every environment']);
    const create = await x.app.inject({ method: 'POST', url: '/v1/freezes', headers: { authorization: `Bearer ${x.tokens.admin}` }, payload: { reason: 'all' } });
    expect(create.statusCode).toBe(403);
  });
});

describe('sessions', () => {
  const PASSWORD = 'correct horse battery';
  const signIn = (x: World, body: object) => x.app.inject({ method: 'POST', url: '/v1/session', payload: body });
  const cookieOf = (setCookie: string | string[] | undefined) => String(setCookie).split(';', 1)[0];

  it('sign in with a password: a session cookie and CSRF token; cookie POSTs need the token, bearer ones do not; sign out ends it', async () => {
    const x = await world({ password: PASSWORD });
    const res = await signIn(x, { username: 'dee', password: PASSWORD });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({ user: { name: 'dee', roles: { prod: 'deployer' } }, csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/^gangway_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const cookie = cookieOf(setCookie);

    const me = await x.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } });
    expect([me.statusCode, me.json()]).toEqual([200, body]);

    const deploy = { service: 'web', environment: 'prod', version: '1.2.0' };
    const noCsrf = await x.app.inject({ method: 'POST', url: '/v1/deployments', headers: { cookie }, payload: deploy });
    expect([noCsrf.statusCode, noCsrf.json()]).toEqual([403, { error: { code: 'forbidden', message: 'missing or wrong CSRF token', hint: 'send the csrfToken of GET /v1/session in the x-csrf-token header' } }]);
    const wrongCsrf = await x.app.inject({ method: 'POST', url: '/v1/deployments', headers: { cookie, 'x-csrf-token': 'x'.repeat(43) }, payload: deploy });
    expect(wrongCsrf.statusCode).toBe(403);
    const withCsrf = await x.app.inject({ method: 'POST', url: '/v1/deployments', headers: { cookie, 'x-csrf-token': body.csrfToken }, payload: deploy });
    expect([withCsrf.statusCode, withCsrf.json().actor]).toEqual([201, 'dee']);
    const bearer = await x.app.inject({ method: 'POST', url: '/v1/deployments', headers: { authorization: `Bearer ${x.tokens.deployer}` }, payload: deploy });
    expect(bearer.statusCode).toBe(201);
    // A GET needs no CSRF token.
    expect((await x.app.inject({ method: 'GET', url: '/v1/status', headers: { cookie } })).statusCode).toBe(200);

    const logoutNoCsrf = await x.app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie } });
    expect(logoutNoCsrf.statusCode).toBe(403);
    const logout = await x.app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie, 'x-csrf-token': body.csrfToken } });
    expect([logout.statusCode, logout.headers['set-cookie']]).toEqual([204, 'gangway_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0']);
    const after = await x.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } });
    expect([after.statusCode, after.json()]).toEqual([401, { error: { code: 'unauthorized', message: 'session expired or signed out', hint: 'sign in again' } }]);

    const types = (await x.w.store.listEvents()).map((e) => e.type).filter((t) => t.startsWith('session.'));
    expect(types).toEqual(['session.started', 'session.ended']);
    expect(JSON.stringify(await x.w.store.listEvents())).not.toContain(PASSWORD);
  });

  it('a session lasts 12 hours', async () => {
    const x = await world({ password: PASSWORD });
    const cookie = cookieOf((await signIn(x, { username: 'vic', password: PASSWORD })).headers['set-cookie']);
    x.clock.now = T0 + 12 * 3600_000 - 1;
    expect((await x.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } })).statusCode).toBe(200);
    x.clock.now = T0 + 12 * 3600_000;
    const expired = await x.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } });
    expect([expired.statusCode, expired.json().error.message]).toEqual([401, 'session expired or signed out']);
  });

  it('sign in with an API token: the session acts for its owner and ends when the token is revoked', async () => {
    const x = await world();
    const res = await signIn(x, { token: x.tokens.approver! });
    expect([res.statusCode, res.json().user]).toEqual([200, { name: 'apu', roles: { prod: 'approver' } }]);
    const cookie = cookieOf(res.headers['set-cookie']);
    const tokenId = (await x.w.store.listApiTokens({ owner: 'apu' }))[0].id;
    await x.app.inject({ method: 'DELETE', url: `/v1/tokens/${tokenId}`, headers: { authorization: `Bearer ${BUILTIN}` } });
    expect((await x.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } })).statusCode).toBe(401);
    const revoked = await signIn(x, { token: x.tokens.revoked! });
    expect([revoked.statusCode, revoked.json().error.message]).toEqual([401, 'token revoked']);
  });

  const signInFrom = (x: World, remoteAddress: string, body: object) => x.app.inject({ method: 'POST', url: '/v1/session', payload: body, remoteAddress });
  const WRONG = { error: { code: 'unauthorized', message: 'wrong user name or password', hint: 'user names and passwords are case-sensitive' } };
  const tooMany = (seconds: number) => ({
    error: { code: 'rate_limited', message: `too many failed sign-ins; try again in ${seconds} second${seconds === 1 ? '' : 's'}`, hint: 'check the user name and password, then wait' },
  });

  it('a wrong password → 401; after 5 failures of a user from one address → 429 with Retry-After, even with the right password, the wait doubling', async () => {
    const x = await world({ password: PASSWORD });
    for (let i = 0; i < 5; i++) {
      const res = await signIn(x, { username: 'vic', password: `wrong password ${i}` });
      expect([res.statusCode, res.json()]).toEqual([401, WRONG]);
    }
    const limited = await signIn(x, { username: 'vic', password: PASSWORD });
    expect([limited.statusCode, limited.headers['retry-after'], limited.json()]).toEqual([429, '30', tooMany(30)]);
    x.clock.now += 29_500;
    const still = await signIn(x, { username: 'vic', password: PASSWORD });
    expect([still.statusCode, still.headers['retry-after']]).toEqual([429, '1']);
    x.clock.now += 500;
    expect((await signIn(x, { username: 'VIC', password: 'wrong again' })).statusCode).toBe(401);
    const longer = await signIn(x, { username: 'vic', password: PASSWORD });
    expect([longer.statusCode, longer.headers['retry-after'], longer.json()]).toEqual([429, '60', tooMany(60)]);
    x.clock.now += 60_000;
    expect((await signIn(x, { username: 'vic', password: PASSWORD })).statusCode).toBe(200);
    // The success forgot the failures.
    expect((await signIn(x, { username: 'vic', password: 'wrong once more' })).statusCode).toBe(401);
    expect((await signIn(x, { username: 'vic', password: PASSWORD })).statusCode).toBe(200);
    const denied = (await x.w.store.listEvents()).filter((e) => e.type === 'auth.denied').map((e) => [e.data.principal, e.data.route, e.data.reason, e.data.address]);
    expect(denied).toEqual([
      ...Array.from({ length: 5 }, () => ['vic', '/v1/session', 'wrong user name or password', '127.0.0.1']),
      ['vic', '/v1/session', 'too many failed sign-ins; try again in 30 seconds', '127.0.0.1'],
      ['vic', '/v1/session', 'too many failed sign-ins; try again in 1 second', '127.0.0.1'],
      // User names are case-sensitive (VIC is no user), the count is not.
      [undefined, '/v1/session', 'wrong user name or password', '127.0.0.1'],
      ['vic', '/v1/session', 'too many failed sign-ins; try again in 60 seconds', '127.0.0.1'],
      ['vic', '/v1/session', 'wrong user name or password', '127.0.0.1'],
    ]);
  });

  it('30 failed sign-ins from 127.0.0.1 lock out nobody else: another user there, and the same user elsewhere, sign in', async () => {
    const x = await world({ password: PASSWORD });
    const attacker = '127.0.0.1';
    const answers: number[] = [];
    for (let i = 0; i < 20; i++) answers.push((await signInFrom(x, attacker, { username: 'vic', password: `guess ${i}` })).statusCode);
    for (let i = 0; i < 10; i++) answers.push((await signInFrom(x, attacker, { username: `hunter2-${i}`, password: 'whatever-it-is' })).statusCode);
    expect(answers).toEqual([...Array(5).fill(401), ...Array(15).fill(429), ...Array(10).fill(401)]);

    const neighbour = await signInFrom(x, attacker, { username: 'dee', password: PASSWORD });
    expect([neighbour.statusCode, neighbour.json().user.name]).toEqual([200, 'dee']);
    const elsewhere = await signInFrom(x, '10.0.0.9', { username: 'vic', password: PASSWORD });
    expect([elsewhere.statusCode, elsewhere.json().user.name]).toEqual([200, 'vic']);
    const byToken = await signInFrom(x, attacker, { token: x.tokens.approver! });
    expect([byToken.statusCode, byToken.json().user.name]).toEqual([200, 'apu']);
    // Refused attempts do not lengthen the wait: the attacker's pair waits 30 s after its fifth failure.
    const attack = await signInFrom(x, attacker, { username: 'vic', password: PASSWORD });
    expect([attack.statusCode, attack.headers['retry-after'], attack.json()]).toEqual([429, '30', tooMany(30)]);
    // An unknown user name is not recorded: it may be a password typed in the wrong field.
    expect(JSON.stringify(await x.w.store.listEvents())).not.toContain('hunter2');
  });

  it('wrong tokens slow down further wrong tokens from the address, never a valid one', async () => {
    const x = await world();
    const answers: number[] = [];
    for (let i = 0; i < 7; i++) answers.push((await signIn(x, { token: `not-a-token-${i}` })).statusCode);
    expect(answers).toEqual([...Array(5).fill(401), 429, 429]);
    expect((await signIn(x, { token: x.tokens.viewer! })).statusCode).toBe(200);
  });

  it('sign-in needs a user name and password, or a token', async () => {
    const x = await world();
    const res = await signIn(x, { username: 'vic' });
    expect([res.statusCode, res.json().error.message]).toEqual([400, 'body: give username and password, or token']);
  });

  it('without a token or cookie every API route is 401 with the one body', async () => {
    const x = await world();
    const res = await x.app.inject({ method: 'GET', url: '/v1/session' });
    expect([res.statusCode, res.json(), res.headers['www-authenticate']]).toEqual([401, UNAUTHORIZED_BODY, 'Bearer realm="gangway"']);
  });
});

describe('users and tokens', () => {
  it('a global admin adds a user with a password, creates a token for it that works once, and revokes it', async () => {
    const x = await world();
    const admin = { authorization: `Bearer ${BUILTIN}` };
    const short = await x.app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { name: 'ana', roles: { dev: 'deployer' }, password: 'short' } });
    expect([short.statusCode, short.json().error.message]).toEqual([400, 'password: must be at least 10 characters']);
    const badEnv = await x.app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { name: 'ana', roles: { staging: 'deployer' } } });
    expect([badEnv.statusCode, badEnv.json().error.message]).toEqual([400, 'roles: environment "staging" is not defined in gangway.yaml']);
    const reserved = await x.app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { name: 'admin', roles: {} } });
    expect([reserved.statusCode, reserved.json().error.message]).toEqual([400, 'name: admin is the built-in principal of the .gangway/token file']);
    const added = await x.app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { name: 'ana', roles: { dev: 'deployer' }, password: 'a long enough password' } });
    expect([added.statusCode, added.json()]).toEqual([201, { name: 'ana', roles: { dev: 'deployer' }, hasPassword: true, createdAt: T0 }]);
    const again = await x.app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { name: 'ana', roles: {} } });
    expect([again.statusCode, again.json().error.message]).toEqual([409, 'user ana already exists']);

    const created = await x.app.inject({ method: 'POST', url: '/v1/tokens', headers: admin, payload: { user: 'ana', name: 'laptop', expiresInDays: 30 } });
    expect(created.statusCode).toBe(201);
    const token = created.json();
    expect(token).toEqual({
      id: expect.stringMatching(/^tok_[0-9a-f]{12}$/), name: 'laptop', owner: 'ana', createdAt: T0, lastUsedAt: null,
      expiresAt: T0 + 30 * 86_400_000, revokedAt: null, token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    const stored = (await x.w.store.listApiTokens({ owner: 'ana' }))[0];
    expect(stored.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.hash).not.toContain(token.token);

    const use = await x.app.inject({ method: 'POST', url: '/v1/deployments', headers: { authorization: `Bearer ${token.token}` }, payload: { service: 'web', environment: 'dev', version: '2.0.0' } });
    expect([use.statusCode, use.json().actor]).toEqual([201, 'ana']);
    const list = await x.app.inject({ method: 'GET', url: '/v1/tokens?user=ana', headers: admin });
    expect(list.json()).toEqual([{ id: token.id, name: 'laptop', owner: 'ana', createdAt: T0, lastUsedAt: T0, expiresAt: T0 + 30 * 86_400_000, revokedAt: null }]);

    const revoked = await x.app.inject({ method: 'DELETE', url: `/v1/tokens/${token.id}`, headers: admin });
    expect([revoked.statusCode, revoked.json().revokedAt]).toEqual([200, T0]);
    const refused = await x.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${token.token}` } });
    expect([refused.statusCode, refused.json().error.message]).toEqual([401, 'token revoked']);

    const removed = await x.app.inject({ method: 'DELETE', url: '/v1/users/ana', headers: admin });
    expect([removed.statusCode, removed.json().name]).toEqual([200, 'ana']);
    const gone = await x.app.inject({ method: 'DELETE', url: '/v1/users/ana', headers: admin });
    expect([gone.statusCode, gone.json().error.message]).toEqual([404, 'user ana not found']);
    const types = (await x.w.store.listEvents()).map((e) => e.type).filter((t) => /^(user|token)\./.test(t));
    expect(types).toEqual(['user.added', 'token.created', 'token.revoked', 'user.removed']);
  });

  it('removing a user revokes its tokens', async () => {
    const x = await world();
    await x.app.inject({ method: 'DELETE', url: '/v1/users/dee', headers: { authorization: `Bearer ${BUILTIN}` } });
    const res = await x.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${x.tokens.deployer}` } });
    expect([res.statusCode, res.json().error.message]).toEqual([401, 'token revoked']);
  });
});
