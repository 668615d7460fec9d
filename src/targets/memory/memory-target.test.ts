/**
 * The in-memory target against the shared target contract, as the engine tests use it (proxy-like
 * capabilities) and as a Kubernetes-like target (replica-ratio weights, no header routes or sticky
 * sessions, native rolling, no request metrics), plus what only the fake offers.
 */
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { checkHttp } from '../../core/http-check.js';
import { parseConfig } from '../../config/load.js';
import type { ServiceEnvConfig, StrategyConfig } from '../../config/types.js';
import { describeTargetContract } from '../contract.js';
import { MEMORY_REACH_TOKEN, MemoryTarget, type MemoryTargetOptions } from './memory-target.js';

let seq = 0;

/** A fresh service `svcN` in dev with the strategy and instance count asked for. */
function memoryCfg(o: { strategy?: StrategyConfig['kind']; instances?: number } = {}): ServiceEnvConfig {
  const name = `svc${++seq}`;
  const strategy = o.strategy === 'blueGreen' ? '{ blueGreen: {} }' : o.strategy === 'canary' ? '{ canary: {} }' : '{ rolling: {} }';
  const config = parseConfig(`project: shop
environments: { dev: {} }
services:
  ${name}:
    target: { local: { command: [app], port: ${20_000 + seq}, instances: ${o.instances ?? 2} } }
    strategy: ${strategy}
`, '/project/gangway.yaml', { env: {} });
  return config.services[name].dev;
}

function world(options: MemoryTargetOptions) {
  return async () => {
    const target = new MemoryTarget(options);
    target.behaviours.set('9.9.9', { neverReady: true });
    return { target, cfg: async (o?: { strategy?: StrategyConfig['kind']; instances?: number }) => memoryCfg(o), versions: { good: '1.0.0', other: '2.0.0', neverReady: '9.9.9' }, close: () => target.close() };
  };
}

describeTargetContract('memory', world({}));
describeTargetContract('memory, Kubernetes-like', world({
  capabilities: { weights: 'replicaRatio', headerRoutes: false, sticky: false, requestMetrics: false, nativeRolling: true, jobs: true },
}));

describe('memory target: native rollouts', () => {
  const targets: MemoryTarget[] = [];
  afterEach(async () => { for (const t of targets.splice(0)) await t.close(); });

  it('replaces the old release once the new one is ready, and reports a replaced handle as failed', async () => {
    const target = new MemoryTarget({ capabilities: { nativeRolling: true } });
    targets.push(target);
    const cfg = memoryCfg({ instances: 2 });
    const first = await target.rollout(cfg, { version: '1.0.0', image: null });
    expect(first).toEqual({ version: '1.0.0', revision: 'revision 1' });
    expect(await target.rolloutStatus(cfg, first)).toEqual({ state: 'done', reason: '2 of 2 instances of 1.0.0 ready' });
    const second = await target.rollout(cfg, { version: '2.0.0', image: null });
    expect(await target.rolloutStatus(cfg, first)).toEqual({ state: 'failed', reason: 'revision 1 was replaced by revision 2' });
    expect(await target.rolloutStatus(cfg, second)).toEqual({ state: 'done', reason: '2 of 2 instances of 2.0.0 ready' });
    expect(target.versions(cfg)).toEqual(['2.0.0']);
    expect(await target.traffic(cfg)).toEqual({ versions: [{ version: '2.0.0', weight: 100 }], preview: null });
    expect(target.calls).toEqual(['rollout dev 1.0.0 revision 1', 'rollout dev 2.0.0 revision 2']);
  });

  it('fails a rollout with the reason its version is told to fail with', async () => {
    const target = new MemoryTarget({ capabilities: { nativeRolling: true } });
    targets.push(target);
    target.behaviours.set('3.0.0', { rolloutFails: 'ProgressDeadlineExceeded: pod crash-looping' });
    const cfg = memoryCfg();
    const handle = await target.rollout(cfg, { version: '3.0.0', image: null });
    expect(await target.rolloutStatus(cfg, handle)).toEqual({ state: 'failed', reason: 'ProgressDeadlineExceeded: pod crash-looping' });
  });

  it('refuses to roll natively when it was not told to', async () => {
    const target = new MemoryTarget();
    await expect(target.rollout(memoryCfg(), { version: '1.0.0', image: null })).rejects.toThrow('the memory target was told not to roll natively');
  });
});

describe('memory target: jobs', () => {
  const MANIFEST = '/project/k8s/migrate.yaml';
  const JOB = { manifest: MANIFEST, timeoutMs: 60_000 };

  it('starts the deployment\'s Job once, runs it for looksToFinish looks, then reports success with its output', async () => {
    const target = new MemoryTarget({ capabilities: { jobs: true } });
    const cfg = memoryCfg();
    const handle = await target.startJob(cfg, JOB, { version: '2.0.0', image: null }, 'd-1');
    expect(handle).toEqual({ name: 'migrate-2.0.0-d-1' });
    // Asked again (a resumed step): the same Job, started once.
    expect(await target.startJob(cfg, JOB, { version: '2.0.0', image: null }, 'd-1')).toEqual(handle);
    expect(target.calls).toEqual(['job dev migrate-2.0.0-d-1']);
    expect(await target.jobStatus(cfg, handle)).toEqual({ state: 'running', reason: 'job migrate-2.0.0-d-1: 1 active', logs: [] });
    expect(await target.jobStatus(cfg, handle)).toEqual({
      state: 'succeeded', reason: 'job migrate-2.0.0-d-1 completed', logs: [{ pod: 'migrate-2.0.0-d-1-pod', lines: ['migration: starting', 'migration: done'] }],
    });
  });

  it('fails the Job of a manifest told to fail, and a Job it never started is gone', async () => {
    const target = new MemoryTarget({ capabilities: { jobs: true } });
    target.jobOutcomes.set(MANIFEST, 'failed');
    target.looksToFinish = 0;
    const cfg = memoryCfg();
    const handle = await target.startJob(cfg, JOB, { version: '3.0.0', image: null }, 'd-1');
    expect(await target.jobStatus(cfg, handle)).toEqual({
      state: 'failed', reason: 'job migrate-3.0.0-d-1 failed: BackoffLimitExceeded: Job has reached the specified backoff limit',
      logs: [{ pod: 'migrate-3.0.0-d-1-pod', lines: ['migration: starting', 'migration: failed'] }],
    });
    expect(await target.jobStatus(cfg, { name: 'migrate-9.9.9' })).toEqual({ state: 'failed', reason: 'job migrate-9.9.9 is gone', logs: [] });
  });

  it('refuses to run a Job when it was not told to', async () => {
    const target = new MemoryTarget();
    expect(target.capabilities(memoryCfg()).jobs).toBe(false);
    await expect(target.startJob(memoryCfg(), JOB, { version: '1.0.0', image: null }, 'd-1')).rejects.toThrow('the memory target was told not to run jobs');
    expect(target.calls).toEqual([]);
  });
});

describe('memory target: reach', () => {
  it('answers checks that carry its headers, through a dispatcher too, and refuses those that do not', async () => {
    const target = new MemoryTarget();
    const dispatcher = new Agent();
    try {
      const cfg = memoryCfg({ instances: 1 });
      await target.scale(cfg, { version: '1.0.0', image: null }, 1);
      await target.instances(cfg);
      const reach = (await target.reach(cfg, '1.0.0'))!;
      expect(reach.headers).toEqual({ authorization: MEMORY_REACH_TOKEN });
      expect(reach.describe).toBe('memory instance of 1.0.0');
      const via = await checkHttp(`${reach.url}/health`, { status: 200, bodyContains: '1.0.0' }, 2000, { headers: reach.headers, dispatcher });
      expect([via.ok, via.status, via.detail, via.body]).toEqual([true, 200, 'status 200', '1.0.0\n']);
      const plain = await checkHttp(`${reach.url}/health`, { status: 200 }, 2000, { headers: reach.headers });
      expect([plain.ok, plain.detail]).toEqual([true, 'status 200']);
      const bare = await checkHttp(`${reach.url}/health`, { status: 200 }, 2000, { dispatcher });
      expect([bare.ok, bare.status, bare.detail]).toEqual([false, 401, 'expected status 200, got 401']);
      const refused = await checkHttp('http://127.0.0.1:1/health', { status: 200 }, 2000, { dispatcher });
      expect([refused.ok, refused.status, refused.detail]).toEqual([false, null, 'connection refused']);
    } finally {
      await dispatcher.close();
      await target.close();
    }
  });
});
