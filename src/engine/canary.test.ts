import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import type { MetricSource } from '../config/types.js';
import type { MetricQuery, MetricResult, RequestWindow } from '../metrics/provider.js';
import type { GangwayError } from '../errors.js';
import { createAnalysisRuntime } from './analysis-runtime.js';
import type { Clock } from './clock.js';
import { planDeployment } from './plan.js';
import { Runner } from './runner.js';
import { closeWorlds, given, ship, until, FINAL } from '../../test/support/engine-world.js';

const YAML = (steps: string, background = '') => `
project: shop
analysis:
  quick:
    interval: 50ms
    rules:
      - name: errors
        threshold: { metric: { builtin: error_rate }, max: 0.05, window: 1m }
        onInconclusive: fail
environments:
  dev: {}
services:
  web:
${background}
    target:
      local: { command: ["node", "app.js"], instances: 4, port: 18080 }
    health: { path: /health, interval: 100ms, failureThreshold: 3, startTimeout: 1s }
    strategy:
      canary:
        steps:
${steps}
    rollback: { watch: 200ms }
`;

/** Release behaviour as the fake metric sources report it. */
interface Figures { errorRate: number; total: number }

class FakeMetrics {
  readonly figures = new Map<string, Figures>();
  readonly asked: string[] = [];
  provider = (_source: MetricSource) => ({
    measure: async (source: MetricSource, q: MetricQuery): Promise<MetricResult> => {
      this.asked.push(`${q.version}`);
      const f = this.figures.get(q.version);
      if (!f || f.total === 0) return { phase: 'nodata', detail: 'no requests' };
      if (source.kind === 'builtin' && source.metric === 'error_rate') return { phase: 'ok', value: f.errorRate, samples: f.total };
      return { phase: 'ok', value: 0.01, samples: f.total };
    },
  });
  requests = {
    requestWindow: async (q: MetricQuery): Promise<RequestWindow> => {
      const f = this.figures.get(q.version) ?? { errorRate: 0, total: 0 };
      return { total: f.total, errors: Math.round(f.total * f.errorRate), bounds: [0.1, 1], buckets: [f.total, 0, 0] };
    },
  };
}

afterEach(closeWorlds);

/** A canary world; with `clock`, the runner keeps the engine's time on it instead of the wall clock. */
async function givenCanary(yaml: string, clock?: Clock) {
  const metrics = new FakeMetrics();
  const w = await given(yaml, { analysis: (store, config) => createAnalysisRuntime(store, config, metrics), requests: metrics.requests });
  if (clock) {
    // Replaces the runner given() started (closeWorlds stops the world's runner, so this one).
    await w.runner.stop();
    w.runner = new Runner({
      store: w.store, config: w.config, target: w.target, clock, tickMs: 20, leaseTtlMs: 3000,
      analysis: createAnalysisRuntime(w.store, w.config, metrics), gates: w.orch.gateRuntime(),
    });
    w.runner.start();
  }
  return { ...w, metrics };
}

/**
 * A clock that moves only when the engine sleeps: each sleep moves it on by the time asked and
 * ends on the next turn of the event loop. How long a step runs then counts its sleeps, not the
 * machine's speed: an analysis of 200ms every 50ms evaluates at 0, 50, 100, 150 and 200 ms.
 */
function sleepDrivenClock(): Clock {
  let now = Date.now();
  return {
    now: () => now,
    sleep: (ms, signal) => new Promise<void>((resolve, reject) => {
      if (signal?.aborted) { reject(signal.reason); return; }
      const onAbort = () => { clearImmediate(turn); reject(signal?.reason); };
      const turn = setImmediate(() => { signal?.removeEventListener('abort', onAbort); now += ms; resolve(); });
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  };
}

const STEPS = `          - setWeight: 10
          - setHeaderRoute: { name: x-canary, value: "1" }
          - analysis: { template: quick, duration: 200ms }
          - setWeight: 50
          - setWeight: 100`;

describe('canary plan', () => {
  it('scales the canary with its weight, keeps the header route until 100%, and watches at the end', () => {
    const config = parseConfig(YAML(STEPS), '/project/gangway.yaml');
    const steps = planDeployment({
      cfg: config.services.web.dev, release: { version: '2.0.0', image: null }, stable: { version: '1.0.0', image: null },
      capabilities: { weights: 'exact', headerRoutes: true, sticky: true, preview: true, requestMetrics: true, nativeRolling: false, jobs: false }, templateInterval: () => 50,
    });
    expect(steps.map((s) => s.title)).toEqual([
      'scale 2.0.0 to 1 instance',
      'wait for 1 healthy instance of 2.0.0',
      'traffic 1.0.0 90% / 2.0.0 10%',
      'traffic 1.0.0 90% / 2.0.0 10%; x-canary: 1 to 2.0.0',
      'analysis quick of 2.0.0 for 200ms',
      'scale 2.0.0 to 2 instances',
      'wait for 2 healthy instances of 2.0.0',
      'traffic 1.0.0 50% / 2.0.0 50%; x-canary: 1 to 2.0.0',
      'scale 2.0.0 to 4 instances',
      'wait for 4 healthy instances of 2.0.0',
      'all traffic to 2.0.0',
      'watch 2.0.0 for 200ms',
    ]);
  });
});

describe('canary rollout', () => {
  it('given a healthy canary, when it rolls out, then every analysis passes and it becomes stable with its verdicts kept', async () => {
    const w = await givenCanary(YAML(STEPS), sleepDrivenClock());
    await ship(w, '1.0.0');
    w.metrics.figures.set('2.0.0', { errorRate: 0.01, total: 500 });
    const d = await ship(w, '2.0.0');
    expect(d.phase).toBe('succeeded');
    expect(d.verdicts.map((v) => [v.template, v.rule, v.verdict])).toEqual([['quick', 'errors', 'pass']]);
    // One verdict per evaluation of the 200ms analysis every 50ms: at 0, 50, 100, 150 and 200 ms.
    const all = await w.orch.verdicts(d.id, {});
    expect(all.map((v) => v.at - all[0].at)).toEqual([0, 50, 100, 150, 200]);
    const analysisStep = d.steps.find((s) => s.type === 'analysis')!.idx;
    expect(all.every((v) => v.verdict === 'pass' && v.stepIdx === analysisStep)).toBe(true);
    expect(all[0].measurements[0]).toMatchObject({ metric: 'error_rate', canary: 0.01 });
  });

  it('given a canary failing 20% of requests, when analysis runs, then traffic returns to stable, the release is rejected and cannot be deployed again without retry', async () => {
    const w = await givenCanary(YAML(STEPS));
    await ship(w, '1.0.0');
    w.metrics.figures.set('2.0.0', { errorRate: 0.2, total: 500 });
    w.target.calls.length = 0;
    const d = await ship(w, '2.0.0');
    expect(d.phase).toBe('rolled_back');
    expect(d.message).toMatch(/^analysis quick: /);
    expect(w.target.calls.slice(-3)).toEqual(['scale dev 1.0.0 4', 'traffic dev 1.0.0:100', 'scale dev 2.0.0 0']);
    expect((await w.store.listRejections({ version: '2.0.0' })).map((r) => [r.environment, r.deploymentId])).toEqual([['dev', d.id]]);
    const again = await w.orch.deploy({ service: 'web', environment: 'dev', version: '2.0.0', actor: 'ana' }).catch((e: unknown) => e) as GangwayError;
    expect([again.code, again.hint]).toEqual(['blocked', `to deploy it anyway, retry that deployment: gangway retry ${d.id}`]);
    w.metrics.figures.set('2.0.0', { errorRate: 0.0, total: 500 });
    const retried = await w.orch.retry(d.id, 'bob');
    expect((await until(w, retried.id, FINAL)).phase).toBe('succeeded');
  });

  it('given an open pause, when the rollout reaches it, then it waits as paused until promoted', async () => {
    const w = await givenCanary(YAML(`          - setWeight: 20
          - pause: {}
          - setWeight: 100`));
    await ship(w, '1.0.0');
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '2.0.0', actor: 'ana' });
    const paused = await until(w, d.id, ['paused']);
    expect(paused.step).toBe('pause until promoted');
    expect(await w.target.traffic(w.config.services.web.dev)).toEqual({ versions: [{ version: '1.0.0', weight: 80 }, { version: '2.0.0', weight: 20 }], preview: null });
    const promoteErr = await w.orch.promote((await w.orch.history({ limit: 2 }))[1].id, 'bob').catch((e: unknown) => e) as GangwayError;
    expect(promoteErr.code).toBe('conflict');
    await w.orch.promote(d.id, 'bob');
    expect((await until(w, d.id, FINAL)).phase).toBe('succeeded');
    const phases = (await w.store.listEvents({ deploymentId: d.id })).filter((e) => e.type === 'deployment.phase').map((e) => e.data.to);
    expect(phases).toEqual(['running', 'paused', 'running', 'succeeded']);
  });

  it('given background analysis, when the canary goes bad during an open pause, then it is rolled back without anyone promoting', async () => {
    const w = await givenCanary(YAML(`          - setWeight: 20
          - pause: {}
          - setWeight: 100`, '    analysis: quick'));
    await ship(w, '1.0.0');
    w.metrics.figures.set('2.0.0', { errorRate: 0.01, total: 500 });
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '2.0.0', actor: 'ana' });
    await until(w, d.id, ['paused']);
    w.metrics.figures.set('2.0.0', { errorRate: 0.3, total: 500 });
    const end = await until(w, d.id, FINAL);
    expect(end.phase).toBe('rolled_back');
    expect(end.message).toMatch(/^background analysis quick: /);
    expect(end.verdicts.some((v) => v.stepIdx === null && v.verdict === 'fail')).toBe(true);
    expect(await w.target.traffic(w.config.services.web.dev)).toEqual({ versions: [{ version: '1.0.0', weight: 100 }], preview: null });
  });
});
