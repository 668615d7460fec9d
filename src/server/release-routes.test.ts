/**
 * The release routes over the real orchestrator, store, runner and group driver, on the
 * in-memory target (a working fake of a target): input errors in the API's one shape, the
 * roles each route needs in the release's environment, and a release driven to its end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { closeWorlds, given, type World } from '../../test/support/engine-world.js';
import { newApiToken } from '../auth/tokens.js';
import type { ReleaseView } from '../engine/types.js';
import { GroupDriver } from '../releases/group-driver.js';
import { Releases } from '../releases/releases.js';
import type { Role } from '../store/types.js';
import { buildServer } from './app.js';

const BUILTIN = 'builtin-token-0123456789';
const service = (name: string, port: number, deps: string) => `
  ${name}:
    ${deps}
    target:
      local: { command: ["node", "app.js"], instances: 1, port: ${port} }
    health: { path: /health, interval: 50ms, failureThreshold: 3, startTimeout: 2s }
    strategy:
      rolling: { maxSurge: 1, maxUnavailable: 0 }
    rollback: { watch: 0s }
    environments:
      prod: { target: { local: { port: ${port + 1} } } }
`;
const YAML = `
project: shop
environments:
  dev: {}
  prod: { promotion: { from: dev } }
services:${service('db', 18100, '')}${service('api', 18110, 'dependsOn: [db]')}`;

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
  await closeWorlds();
});

async function world(): Promise<{ w: World; app: FastifyInstance; tokens: Record<string, string> }> {
  const w = await given(YAML);
  const releases = new Releases({ store: w.store, config: w.config, orchestrator: w.orch, onChange: () => w.runner.wake() });
  const driver = new GroupDriver({ store: w.store, commands: w.orch, wake: () => w.runner.wake(), tickMs: 20 });
  driver.start();
  const app = buildServer({ orchestrator: w.orch, token: BUILTIN, version: '9.9.9', releases, auth: { store: w.store, environments: ['dev', 'prod'] } });
  cleanup.push(async () => { await app.close(); await driver.stop(); });
  const tokens: Record<string, string> = {};
  const users: Record<string, Record<string, Role>> = { dee: { dev: 'deployer' }, vic: { dev: 'viewer' }, pat: { prod: 'admin' } };
  for (const [name, roles] of Object.entries(users)) {
    await w.store.createUser({ name, roles, passwordHash: null, createdAt: 1 });
    const { record, secret } = newApiToken({ owner: name, name: 't', now: 1 });
    await w.store.createApiToken(record);
    tokens[name] = secret;
  }
  return { w, app, tokens };
}

const as = (token: string) => ({ authorization: `Bearer ${token}` });

describe('POST /v1/releases', () => {
  it('names every field at fault, and creates nothing', async () => {
    const { w, app, tokens } = await world();
    const res = await app.inject({ method: 'POST', url: '/v1/releases', headers: as(tokens.dee), payload: { environment: 'dev', versions: { api: 'not a version' }, onFailure: 'retry', colour: 'red' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_argument');
    expect(res.json().error.message).toMatch(/^versions\.api: .*; onFailure: must be rollback or stop; colour: unknown field$/);
    expect(await w.store.listDeployments()).toEqual([]);
  });

  it('refuses a release without a version for some services, naming them, and creates nothing', async () => {
    const { w, app, tokens } = await world();
    const res = await app.inject({ method: 'POST', url: '/v1/releases', headers: as(tokens.dee), payload: { environment: 'dev', versions: { api: '1.0.0' } } });
    expect([res.statusCode, res.json()]).toEqual([400, {
      error: {
        code: 'invalid_argument', message: 'no version for db: a release names the version of every service it deploys',
        hint: 'give one version for all (--version V), or each one: --versions db=<version>', details: { missing: ['db'] },
      },
    }]);
    expect([await w.store.listDeployments(), await w.store.listReleaseGroups()]).toEqual([[], []]);
  });

  it('refuses a promotion when nothing succeeded together in the source', async () => {
    const { app } = await world();
    const res = await app.inject({ method: 'POST', url: '/v1/releases', headers: as(BUILTIN), payload: { environment: 'prod' } });
    expect([res.statusCode, res.json().error.message]).toEqual([423, 'no release of several services has succeeded in dev to promote to prod']);
  });

  it('needs the deployer role in the environment; reading needs the viewer role there', async () => {
    const { app, tokens } = await world();
    const body = { environment: 'dev', version: '1.0.0' };
    expect((await app.inject({ method: 'POST', url: '/v1/releases', headers: as(tokens.vic), payload: body })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/v1/releases', headers: as(tokens.pat), payload: body })).statusCode).toBe(403);
    const created = await app.inject({ method: 'POST', url: '/v1/releases', headers: as(tokens.dee), payload: body });
    expect(created.statusCode).toBe(201);
    const id = (created.json() as ReleaseView).id;
    expect((await app.inject({ method: 'GET', url: `/v1/releases/${id}`, headers: as(tokens.vic) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: `/v1/releases/${id}`, headers: as(tokens.pat) })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/v1/releases?environment=prod', headers: as(tokens.vic) })).statusCode).toBe(403);
    const missing = await app.inject({ method: 'GET', url: '/v1/releases/r-nope', headers: as(tokens.vic) });
    expect([missing.statusCode, missing.json().error.code]).toEqual([404, 'not_found']);
  });

  it('runs db, then api, and ends succeeded; then promotes the same set to prod', async () => {
    const { app } = await world();
    const created = await app.inject({ method: 'POST', url: '/v1/releases', headers: as(BUILTIN), payload: { environment: 'dev', versions: { db: '1.0.0', api: '2.0.0' }, reason: 'ticket 7' } });
    expect(created.statusCode).toBe(201);
    const first = created.json() as ReleaseView;
    expect(first.services.map((s) => [s.service, s.version, s.dependsOn])).toEqual([['db', '1.0.0', []], ['api', '2.0.0', ['db']]]);
    expect(first.services[1].state).toBe('held');
    const end = await waitForEnd(app, first.id);
    expect([end.phase, end.services.map((s) => s.state)]).toEqual(['succeeded', ['succeeded', 'succeeded']]);
    const promoted = await app.inject({ method: 'POST', url: '/v1/releases', headers: as(BUILTIN), payload: { environment: 'prod' } });
    expect(promoted.statusCode).toBe(201);
    const p = promoted.json() as ReleaseView;
    expect([p.kind, p.services.map((s) => `${s.service} ${s.version}`)]).toEqual(['promote', ['db 1.0.0', 'api 2.0.0']]);
    expect((await waitForEnd(app, p.id)).phase).toBe('succeeded');
  });
});

async function waitForEnd(app: FastifyInstance, id: string): Promise<ReleaseView> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = (await app.inject({ method: 'GET', url: `/v1/releases/${id}`, headers: as(BUILTIN) })).json() as ReleaseView;
    if (['succeeded', 'failed', 'rolled_back'].includes(r.phase)) return r;
    if (Date.now() > deadline) throw new Error(`release ${id} still ${r.phase}: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}
