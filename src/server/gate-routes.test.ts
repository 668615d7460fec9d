import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { FakeOrchestrator } from '../../test/support/fake-orchestrator.js';
import { T0, environment, openPeopleWorld, peopleConfig, type PeopleWorld } from '../../test/support/people-world.js';
import { UNAUTHORIZED_BODY } from './auth.js';
import { buildServer } from './app.js';

const TOKEN = 'gate-routes-token';
const as = (actor: string) => ({ authorization: `Bearer ${TOKEN}`, 'x-gangway-actor': actor });

let w: PeopleWorld;
let app: FastifyInstance;

beforeEach(async () => {
  w = await openPeopleWorld(peopleConfig({
    environments: [
      environment('dev'),
      environment('prod', {
        approvals: { required: 1, groups: ['ops'], allowSelfApproval: false, expiresMs: null },
        checklist: [{ name: 'backup', text: 'Backup taken', confirmers: ['dba'] }],
      }),
    ],
  }));
  app = buildServer({ orchestrator: new FakeOrchestrator({ services: { web: ['dev', 'prod'] } }), token: TOKEN, version: '9.9.9', gates: w.people });
});
afterEach(async () => {
  await app.close();
  await w.close();
});

describe('gate routes', () => {
  it('need the token, the Alertmanager webhook included', async () => {
    for (const [method, url] of [['POST', '/v1/webhooks/alertmanager'], ['GET', '/v1/freezes'], ['POST', '/v1/deployments/d-1/approve']] as const) {
      const res = await app.inject({ method, url, payload: method === 'POST' ? {} : undefined });
      expect([url, res.statusCode, res.json()]).toEqual([url, 401, UNAUTHORIZED_BODY]);
    }
    expect(await w.store.listFreezes({ all: true })).toEqual([]);
  });

  it('approve, reject and list approvals as the actor of x-gangway-actor', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    const ok = await app.inject({ method: 'POST', url: `/v1/deployments/${d.id}/approve`, headers: as('bob'), payload: { comment: 'lgtm' } });
    expect([ok.statusCode, ok.json()]).toEqual([200, [{ deploymentId: d.id, actor: 'bob', decision: 'approve', groups: ['ops'], comment: 'lgtm', at: T0 }]]);

    const forbidden = await app.inject({ method: 'POST', url: `/v1/deployments/${d.id}/approve`, headers: as('carol') });
    expect([forbidden.statusCode, forbidden.json()]).toEqual([403, { error: { code: 'forbidden', message: 'carol is not in ops, the group that approves prod deployments' } }]);

    const self = await app.inject({ method: 'POST', url: `/v1/deployments/${d.id}/approve`, headers: as('ana'), payload: {} });
    expect(self.statusCode).toBe(403);

    const unknownField = await app.inject({ method: 'POST', url: `/v1/deployments/${d.id}/reject`, headers: as('dan'), payload: { reason: 'x' } });
    expect([unknownField.statusCode, unknownField.json().error.message]).toEqual([400, 'reason: unknown field']);

    const rejected = await app.inject({ method: 'POST', url: `/v1/deployments/${d.id}/reject`, headers: as('dan'), payload: { comment: 'wait for the sale to end' } });
    expect(rejected.statusCode).toBe(200);
    const list = await app.inject({ method: 'GET', url: `/v1/deployments/${d.id}/approvals`, headers: as('x') });
    expect(list.json().map((a: { actor: string; decision: string }) => `${a.actor}:${a.decision}`)).toEqual(['bob:approve', 'dan:reject']);

    const missing = await app.inject({ method: 'GET', url: '/v1/deployments/d-404/approvals', headers: as('x') });
    expect([missing.statusCode, missing.json().error.message]).toEqual([404, 'deployment d-404 not found']);
  });

  it('confirm a checklist item', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    const res = await app.inject({ method: 'POST', url: `/v1/deployments/${d.id}/checklist/backup`, headers: as('dora'), payload: { note: 'snap-9' } });
    expect([res.statusCode, res.json()]).toEqual([200, [{ deploymentId: d.id, item: 'backup', actor: 'dora', at: T0, note: 'snap-9' }]]);
    const nope = await app.inject({ method: 'POST', url: `/v1/deployments/${d.id}/checklist/backup`, headers: as('bob') });
    expect([nope.statusCode, nope.json().error.message]).toEqual([403, 'bob cannot confirm backup in prod: only members of dba may']);
  });

  it('raise, list and lift freezes; the owner is the actor', async () => {
    const noReason = await app.inject({ method: 'POST', url: '/v1/freezes', headers: as('ana'), payload: { environment: 'prod' } });
    expect([noReason.statusCode, noReason.json().error.message]).toEqual([400, 'reason: is required']);
    const badEnv = await app.inject({ method: 'POST', url: '/v1/freezes', headers: as('ana'), payload: { environment: 'qa', reason: 'x' } });
    expect([badEnv.statusCode, badEnv.json().error]).toEqual([404, { code: 'not_found', message: 'environment "qa" is not defined in gangway.yaml', hint: 'environments: dev, prod' }]);

    const created = await app.inject({ method: 'POST', url: '/v1/freezes', headers: as('ana'), payload: { environment: 'prod', reason: 'db migration' } });
    expect(created.statusCode).toBe(201);
    const f = created.json();
    expect(f).toMatchObject({ environment: 'prod', service: null, owner: 'ana', reason: 'db migration', source: 'manual' });
    const second = await app.inject({ method: 'POST', url: '/v1/freezes', headers: as('erin'), payload: { service: 'web', reason: 'load test' } });

    expect((await app.inject({ method: 'GET', url: '/v1/freezes', headers: as('x') })).json()).toHaveLength(2);
    const lifted = await app.inject({ method: 'DELETE', url: `/v1/freezes/${f.id}`, headers: as('bob') });
    expect([lifted.statusCode, lifted.json().liftedBy]).toEqual([200, 'bob']);
    const viaPost = await app.inject({ method: 'POST', url: `/v1/freezes/${second.json().id}/lift`, headers: as('dan') });
    expect([viaPost.statusCode, viaPost.json().liftedBy]).toEqual([200, 'dan']);
    const again = await app.inject({ method: 'POST', url: `/v1/freezes/${f.id}/lift`, headers: as('dan') });
    expect([again.statusCode, again.json().error.message]).toEqual([409, `freeze ${f.id} was already lifted by bob at 2025-01-01T12:00:00Z`]);

    expect((await app.inject({ method: 'GET', url: '/v1/freezes', headers: as('x') })).json()).toEqual([]);
    for (const q of ['?all', '?all=true', '?all=1']) {
      expect((await app.inject({ method: 'GET', url: `/v1/freezes${q}`, headers: as('x') })).json()).toHaveLength(2);
    }
    const badQuery = await app.inject({ method: 'GET', url: '/v1/freezes?all=yes', headers: as('x') });
    expect([badQuery.statusCode, badQuery.json().error.message]).toEqual([400, 'all: must be true or false']);
  });

  it('the Alertmanager webhook raises and lifts incident freezes', async () => {
    const alert = { status: 'firing', labels: { freeze: 'true', alertname: 'Down', environment: 'prod' }, annotations: {}, startsAt: '2025-01-01T11:00:00Z', endsAt: '0001-01-01T00:00:00Z', fingerprint: 'abc' };
    const fired = await app.inject({ method: 'POST', url: '/v1/webhooks/alertmanager', headers: as(''), payload: { version: '4', status: 'firing', alerts: [alert] } });
    expect([fired.statusCode, fired.json().created.map((f: { reason: string }) => f.reason)]).toEqual([200, ['Down']]);
    const bad = await app.inject({ method: 'POST', url: '/v1/webhooks/alertmanager', headers: as(''), payload: { alerts: 'x' } });
    const badStatus = await app.inject({ method: 'POST', url: '/v1/webhooks/alertmanager', headers: as(''), payload: { status: 'pending', alerts: [] } });
    expect(badStatus.json().error.message).toBe('alertmanager webhook: status: must be firing or resolved');
    expect([bad.statusCode, bad.json().error.message]).toEqual([400, 'alertmanager webhook: status: is required; alerts: must be an array']);
    const resolved = await app.inject({ method: 'POST', url: '/v1/webhooks/alertmanager', headers: as(''), payload: { version: '4', status: 'resolved', alerts: [{ ...alert, status: 'resolved' }] } });
    expect(resolved.json().lifted.map((f: { liftedBy: string }) => f.liftedBy)).toEqual(['alertmanager']);
  });

  it('are listed in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json', headers: as('x') })).json() as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths).filter((p) => p.includes('freeze') || p.includes('approv') || p.includes('reject') || p.includes('checklist') || p.includes('webhooks'))).toEqual([
      '/v1/deployments/{id}/approve', '/v1/deployments/{id}/reject', '/v1/deployments/{id}/approvals', '/v1/deployments/{id}/checklist',
      '/v1/deployments/{id}/checklist/{item}', '/v1/freezes', '/v1/freezes/{id}', '/v1/freezes/{id}/lift', '/v1/webhooks/alertmanager',
    ]);
  });
});

describe('without gates', () => {
  it('the routes do not exist', async () => {
    const bare = buildServer({ orchestrator: new FakeOrchestrator({ services: { web: ['dev'] } }), token: TOKEN, version: '9.9.9' });
    try {
      const res = await bare.inject({ method: 'GET', url: '/v1/freezes', headers: as('x') });
      expect([res.statusCode, res.json().error.message]).toEqual([404, 'no route GET /v1/freezes']);
      const doc = (await bare.inject({ method: 'GET', url: '/openapi.json', headers: as('x') })).json() as { paths: Record<string, unknown> };
      expect(doc.paths['/v1/freezes']).toBeUndefined();
    } finally {
      await bare.close();
    }
  });
});
