/**
 * GET /v1/timeline over a real orchestrator and store: the deployments of the pair in the
 * window with their outcomes, the freezes (manual and incident) covering it, and the samples
 * of its deployments and of the serving release, which is stored under the deployment that
 * made it even when that one finished before the window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FINAL, closeWorlds, given, until } from '../../test/support/engine-world.js';
import { buildServer } from './app.js';
import type { ReleaseSampleRecord } from '../store/types.js';

const TOKEN = 'timeline-token';
const auth = { authorization: `Bearer ${TOKEN}` };

const YAML = `
project: shop
environments:
  dev: {}
  prod: {}
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 1, port: 18080 }
    health: { path: /health, interval: 100ms, failureThreshold: 3, startTimeout: 1s }
    strategy:
      rolling: { maxSurge: 1, maxUnavailable: 0 }
    environments:
      prod: { target: { local: { port: 18081 } } }
`;

afterEach(closeWorlds);

const sample = (deploymentId: string, at: number, version: string): ReleaseSampleRecord =>
  ({ deploymentId, at, version, intervalMs: 10_000, requests: 100, errors: 2, p95Seconds: 0.05 });

describe('GET /v1/timeline', () => {
  it('returns the window\'s deployments with their outcomes, the freezes overlapping it and the samples per release', async () => {
    const w = await given(YAML);
    const first = await w.orch.deploy({ service: 'web', environment: 'prod', version: '1.0.0', actor: 'ana' });
    expect((await until(w, first.id, FINAL)).phase).toBe('succeeded');
    const since = Date.now() + 1; // the first deployment finished before the window
    await new Promise((r) => setTimeout(r, 5));
    w.target.behaviours.set('1.1.0', { neverReady: true });
    const second = await w.orch.deploy({ service: 'web', environment: 'prod', version: '1.1.0', actor: 'bob' });
    expect((await until(w, second.id, FINAL)).phase).toBe('rolled_back');
    const dev = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.1.0', actor: 'bob' });
    await until(w, dev.id, FINAL);

    const t = Date.now();
    await w.store.createFreeze({ id: 'frz_manual', environment: 'prod', service: null, owner: 'ops', reason: 'sale', source: 'manual', alertFingerprint: null, createdAt: t - 1, liftedAt: null, liftedBy: null });
    await w.store.createFreeze({ id: 'frz_alert', environment: null, service: 'web', owner: 'alertmanager', reason: 'HighErrorRate', source: 'alert', alertFingerprint: 'fp-1', createdAt: t - 2, liftedAt: t - 1, liftedBy: 'alertmanager' });
    // Not shown: another environment's, another service's, one lifted before the window.
    await w.store.createFreeze({ id: 'frz_dev', environment: 'dev', service: null, owner: 'ops', reason: 'x', source: 'manual', alertFingerprint: null, createdAt: t, liftedAt: null, liftedBy: null });
    await w.store.createFreeze({ id: 'frz_api', environment: null, service: 'api', owner: 'ops', reason: 'x', source: 'manual', alertFingerprint: null, createdAt: t, liftedAt: null, liftedBy: null });
    await w.store.createFreeze({ id: 'frz_old', environment: 'prod', service: null, owner: 'ops', reason: 'x', source: 'manual', alertFingerprint: null, createdAt: 1, liftedAt: 2, liftedBy: 'ops' });
    await w.store.appendReleaseSamples([
      sample(first.id, since - 1, '1.0.0'), // before the window
      sample(first.id, since + 1, '1.0.0'), // serving, stored under the deployment that made 1.0.0
      sample(second.id, since + 2, '1.1.0'), sample(second.id, since + 2, '1.0.0'),
      sample(dev.id, since + 3, '1.1.0'), // another environment
    ]);

    const app = buildServer({ orchestrator: w.orch, token: TOKEN, version: '9.9.9', logger: false });
    const res = await app.inject({ method: 'GET', url: `/v1/timeline?service=web&environment=prod&since=${since}`, headers: auth });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect([body.service, body.environment, body.since, body.stableVersion]).toEqual(['web', 'prod', since, '1.0.0']);
    expect(body.until).toBeGreaterThanOrEqual(t);
    expect(body.deployments.map((d: { id: string; kind: string; version: string; phase: string; actor: string; supersededBy: string | null }) =>
      [d.id, d.kind, d.version, d.phase, d.actor, d.supersededBy])).toEqual([[second.id, 'deploy', '1.1.0', 'rolled_back', 'bob', null]]);
    expect(Object.keys(body.deployments[0]).sort()).toEqual(['actor', 'createdAt', 'finishedAt', 'id', 'kind', 'phase', 'previousVersion', 'startedAt', 'supersededBy', 'version']);
    expect(body.freezes.map((f: { id: string; source: string; alertFingerprint: string | null }) => [f.id, f.source, f.alertFingerprint]))
      .toEqual([['frz_alert', 'alert', 'fp-1'], ['frz_manual', 'manual', null]]);
    expect(body.samples.map((s: ReleaseSampleRecord) => `${s.deploymentId === first.id ? 'first' : 'second'} ${s.at - since} ${s.version}`))
      .toEqual(['first 1 1.0.0', 'second 2 1.0.0', 'second 2 1.1.0']);

    // Without `since`: the last hour, which holds both prod deployments.
    const hour = await app.inject({ method: 'GET', url: '/v1/timeline?service=web&environment=prod', headers: auth });
    expect(hour.json().deployments.map((d: { id: string }) => d.id)).toEqual([first.id, second.id]);
    expect(hour.json().until - hour.json().since).toBe(3_600_000);

    const missing = await app.inject({ method: 'GET', url: '/v1/timeline?service=web', headers: auth });
    expect([missing.statusCode, missing.json().error.code]).toEqual([400, 'invalid_argument']);
    const unknown = await app.inject({ method: 'GET', url: '/v1/timeline?service=web&environment=qa', headers: auth });
    expect([unknown.statusCode, unknown.json().error.code]).toEqual([404, 'not_found']);
    await app.close();
  });

  it('keeps serving samples off the deployment\'s own samples route: those end with the round after it ended', async () => {
    const w = await given(YAML);
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' });
    const end = await until(w, d.id, FINAL);
    const f = end.finishedAt as number;
    await w.store.appendReleaseSamples([
      sample(d.id, f - 1, '1.0.0'), sample(d.id, f + 500, '1.0.0'), sample(d.id, f + 500, '0.9.0'), // its own, the last round
      sample(d.id, f + 10_500, '1.0.0'), sample(d.id, f + 20_500, '1.0.0'), // serving 1.0.0, which it made stable
    ]);
    const app = buildServer({ orchestrator: w.orch, token: TOKEN, version: '9.9.9', logger: false });
    const own = await app.inject({ method: 'GET', url: `/v1/deployments/${d.id}/samples`, headers: auth });
    expect(own.json().map((s: ReleaseSampleRecord) => `${s.at - f} ${s.version}`)).toEqual(['-1 1.0.0', '500 0.9.0', '500 1.0.0']);
    const tl = await app.inject({ method: 'GET', url: `/v1/timeline?service=web&environment=dev&since=${f - 1000}`, headers: auth });
    expect(tl.json().samples.map((s: ReleaseSampleRecord) => `${s.at - f} ${s.version}`)).toEqual(['-1 1.0.0', '500 0.9.0', '500 1.0.0', '10500 1.0.0', '20500 1.0.0']);
    await app.close();
  });
});
