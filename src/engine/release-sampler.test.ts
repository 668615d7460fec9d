/**
 * The release sampler stores one sample per release per interval of every deployment in a
 * phase with traffic, windows contiguous from one round to the next, and one last sample the
 * round after a deployment ends; nothing for queued or long-finished deployments.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MetricQuery, RequestWindow } from '../metrics/provider.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { KyselyStore } from '../store/kysely-store.js';
import { ReleaseSampler, samplingInterval } from './release-sampler.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const c of cleanups.splice(0)) await c(); });

async function world() {
  const dir = await mkdtemp(join(tmpdir(), 'gangway-sampler-'));
  const store: KyselyStore = openSqliteStore(join(dir, 'state.db'));
  await store.migrate();
  cleanups.push(async () => { await store.close(); await rm(dir, { recursive: true, force: true }); });
  const clock = { t: 1_000_000, now() { return this.t; }, sleep: async () => undefined };
  const queries: MetricQuery[] = [];
  const requests = {
    async requestWindow(q: MetricQuery): Promise<RequestWindow | { phase: 'error'; detail: string }> {
      queries.push(q);
      if (q.version === 'broken') return { phase: 'error', detail: 'agent down' };
      // v2 fails a fifth of its requests, all of them in the second bucket; v1 never fails, all in the first.
      return q.version === 'v2'
        ? { total: 50, errors: 10, bounds: [0.1, 0.5], buckets: [0, 50, 0] }
        : { total: 200, errors: 0, bounds: [0.1, 0.5], buckets: [200, 0, 0] };
    },
  };
  const sampler = new ReleaseSampler({ store, requests, intervalMs: 2000, clock });
  const create = async (id: string, version: string, previousVersion: string | null, environment = 'prod') => {
    await store.createDeployment({
      id, service: 'web', environment, kind: 'deploy', version, image: null, actor: 'ana', reason: null, previousVersion,
      planHash: 'x', createdAt: clock.t, steps: [{ type: 'scale', title: 'scale', params: {} }],
    });
  };
  const phase = (id: string, p: 'running' | 'rolled_back') => store.transition({ deploymentId: id, deployment: { phase: p }, events: [] });
  return { store, clock, queries, sampler, create, phase };
}

describe('ReleaseSampler', () => {
  it('samples a deployment that started and ended between two rounds once, over its whole life', async () => {
    const w = await world();
    expect(await w.sampler.tick()).toEqual([]);
    w.clock.t += 500;
    await w.create('d1', 'v2', 'v1');
    await w.store.transition({ deploymentId: 'd1', deployment: { phase: 'running', startedAt: w.clock.t }, events: [] });
    w.clock.t += 1000;
    await w.store.transition({ deploymentId: 'd1', deployment: { phase: 'rolled_back', finishedAt: w.clock.t }, events: [] });
    w.clock.t += 1000;
    expect(await w.sampler.tick()).toEqual([
      { deploymentId: 'd1', at: 1_002_500, version: 'v2', intervalMs: 2000, requests: 50, errors: 10, p95Seconds: expect.closeTo(0.1 + 0.4 * 0.95, 9) },
      { deploymentId: 'd1', at: 1_002_500, version: 'v1', intervalMs: 2000, requests: 200, errors: 0, p95Seconds: expect.closeTo(0.095, 9) },
    ]);
    // Once only.
    w.clock.t += 2000;
    expect(await w.sampler.tick()).toEqual([]);
  });

  it('samples the new and the replaced release of each running deployment, per interval, and once more after it ends', async () => {
    const w = await world();
    await w.create('d1', 'v2', 'v1');
    await w.create('d2', 'v9', null, 'dev'); // stays queued: no traffic, no samples
    await w.phase('d1', 'running');

    // The first round only takes a reading: the start of the first window.
    expect(await w.sampler.tick()).toEqual([]);
    expect(w.queries.map((q) => q.version)).toEqual(['v2', 'v1']);

    w.clock.t += 2500;
    expect(await w.sampler.tick()).toEqual([
      { deploymentId: 'd1', at: 1_002_500, version: 'v2', intervalMs: 2500, requests: 50, errors: 10, p95Seconds: expect.closeTo(0.1 + 0.4 * 0.95, 9) },
      { deploymentId: 'd1', at: 1_002_500, version: 'v1', intervalMs: 2500, requests: 200, errors: 0, p95Seconds: expect.closeTo(0.095, 9) },
    ]);
    // The window starts where the last round ended.
    expect(w.queries.slice(2).map((q) => [q.version, q.windowMs, q.now])).toEqual([['v2', 2500, 1_002_500], ['v1', 2500, 1_002_500]]);

    await w.phase('d1', 'rolled_back');
    w.clock.t += 2000;
    expect((await w.sampler.tick()).map((s) => [s.version, s.at])).toEqual([['v2', 1_004_500], ['v1', 1_004_500]]);
    w.clock.t += 2000;
    expect(await w.sampler.tick()).toEqual([]);

    const stored = await w.store.listReleaseSamples({ deploymentId: 'd1' });
    expect(stored.map((s) => `${s.at} ${s.version} ${s.errors}/${s.requests}`)).toEqual([
      '1002500 v1 0/200', '1002500 v2 10/50', '1004500 v1 0/200', '1004500 v2 10/50',
    ]);
    expect(await w.store.listReleaseSamples({ deploymentId: 'd2' })).toEqual([]);
  });

  it('skips a release whose figures cannot be read, and keeps sampling the others', async () => {
    const w = await world();
    await w.create('d1', 'v2', 'broken');
    await w.phase('d1', 'running');
    await w.sampler.tick();
    w.clock.t += 2000;
    expect((await w.sampler.tick()).map((s) => s.version)).toEqual(['v2']);
  });

  it('with an owner, samples only the deployments that runner drives (or no one holds)', async () => {
    const w = await world();
    const mine = new ReleaseSampler({ store: w.store, requests: { requestWindow: async () => ({ total: 1, errors: 0, bounds: [], buckets: [1] }) }, intervalMs: 2000, clock: w.clock, owner: 'me' });
    await w.create('d1', 'v2', null);
    await w.create('d2', 'v3', null, 'dev');
    await w.create('d3', 'v4', null, 'qa');
    for (const id of ['d1', 'd2', 'd3']) await w.phase(id, 'running');
    await w.store.claimLease('d1', 'me', w.clock.t, 60_000);
    await w.store.claimLease('d2', 'someone-else', w.clock.t, 60_000);
    await mine.tick();
    w.clock.t += 2000;
    expect((await mine.tick()).map((s) => s.deploymentId).sort()).toEqual(['d1', 'd3']);
  });

  it('with servingIntervalMs, samples the stable release of each idle pair under the deployment that made it, every that often', async () => {
    const w = await world();
    const serving = new ReleaseSampler({ store: w.store, requests: { requestWindow: async (q) => { w.queries.push(q); return { total: 100, errors: 1, bounds: [0.1], buckets: [100, 0] }; } }, intervalMs: 2000, clock: w.clock, servingIntervalMs: 10_000 });
    await w.create('d1', 'v1', null);
    await w.store.transition({
      deploymentId: 'd1', deployment: { phase: 'succeeded', finishedAt: w.clock.t }, events: [],
      serviceState: { service: 'web', environment: 'prod', stableVersion: 'v1', stableImage: null, previousVersion: null, deploymentId: 'd1', updatedAt: w.clock.t },
    });
    // dev has a stable release no deployment made (nothing to store it under): never sampled.
    await w.store.transition({
      deploymentId: 'd1', events: [],
      serviceState: { service: 'web', environment: 'dev', stableVersion: 'v0', stableImage: null, previousVersion: null, deploymentId: null, updatedAt: w.clock.t },
    });

    expect(await serving.tick()).toEqual([]); // the first round takes a reading
    expect(w.queries.map((q) => [q.environment, q.version])).toEqual([['prod', 'v1']]);
    w.clock.t += 4000;
    expect(await serving.tick()).toEqual([]); // not 10 s yet
    w.clock.t += 6000;
    expect(await serving.tick()).toEqual([
      { deploymentId: 'd1', at: 1_010_000, version: 'v1', intervalMs: 10_000, requests: 100, errors: 1, p95Seconds: expect.closeTo(0.095, 9) },
    ]);

    // While a deployment of the pair runs, its own samples cover the releases; serving sampling pauses.
    await w.create('d2', 'v2', 'v1');
    await w.phase('d2', 'running');
    w.clock.t += 10_000;
    expect((await serving.tick()).map((s) => s.deploymentId)).toEqual([]); // d2's first round: a reading
    w.clock.t += 10_000;
    expect((await serving.tick()).map((s) => `${s.deploymentId} ${s.version}`)).toEqual(['d2 v2', 'd2 v1']);
    // It rolls back (v1 stays stable, made by d1): one last sample of d2, then serving samples of v1 under d1 again,
    // their window going on from d2's last sample.
    await w.phase('d2', 'rolled_back');
    w.clock.t += 2000;
    expect((await serving.tick()).map((s) => `${s.deploymentId} ${s.version}`)).toEqual(['d2 v2', 'd2 v1']);
    w.clock.t += 10_000;
    expect((await serving.tick()).map((s) => [s.deploymentId, s.version, s.at, s.intervalMs])).toEqual([['d1', 'v1', 1_042_000, 10_000]]);
    expect((await w.store.listReleaseSamples({ deploymentId: 'd1' })).map((s) => s.at)).toEqual([1_010_000, 1_042_000]);
  });

  it('samples as often as the shortest analysis interval, between 2 s and 5 s', () => {
    expect(samplingInterval([])).toBe(5000);
    expect(samplingInterval([{ intervalMs: 30_000 }, { intervalMs: 3000 }])).toBe(3000);
    expect(samplingInterval([{ intervalMs: 100 }])).toBe(2000);
  });
});
