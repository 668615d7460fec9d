/**
 * Rolling on a target that rolls natively (as a Kubernetes Deployment's rolling update does),
 * with the in-memory target told to: one `rollout` step instead of scale and traffic steps, a
 * failed rollout rolled back by rolling out the stable release, and a step resumed after a runner
 * stop getting back the rollout it started instead of starting another.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Runner } from './runner.js';
import { FINAL, adopt, closeWorlds, given, ship, until } from '../../test/support/engine-world.js';
import { MemoryTarget } from '../targets/memory/memory-target.js';
import type { RolloutHandle } from '../targets/target.js';
import { planDeployment, planRecovery } from './plan.js';

const YAML = `
project: shop
environments:
  dev: {}
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 2, port: 18080 }
    health: { path: /health, interval: 100ms, failureThreshold: 3, startTimeout: 1s }
    strategy:
      rolling: { maxSurge: 1, maxUnavailable: 0 }
    rollback: { watch: 200ms }
`;

const NATIVE = { weights: 'replicaRatio', headerRoutes: false, sticky: false, preview: true, requestMetrics: false, nativeRolling: true, jobs: false } as const;

afterEach(closeWorlds);

function native(): MemoryTarget {
  return new MemoryTarget({ capabilities: NATIVE });
}

describe('rolling on a target that rolls natively', () => {
  it('plans one rollout step, then the watch; recovery rolls out the stable release', async () => {
    const w = await given(YAML, { target: native() });
    const cfg = w.config.services.web.dev;
    const steps = planDeployment({ cfg, release: { version: '2.0.0', image: 'shop/web@sha256:aa' }, stable: { version: '1.0.0', image: null }, capabilities: NATIVE });
    expect(steps.map((s) => s.params)).toEqual([
      { type: 'rollout', version: '2.0.0', image: 'shop/web@sha256:aa' },
      { type: 'watch', version: '2.0.0', durationMs: 200 },
    ]);
    expect(steps[0].title).toBe('roll out 2.0.0');
    expect(planRecovery(cfg, { version: '2.0.0', image: null }, { version: '1.0.0', image: null }, null, NATIVE).map((s) => s.title)).toEqual(['roll out 1.0.0']);
    expect(planRecovery(cfg, { version: '2.0.0', image: null }, null, null, NATIVE).map((s) => s.title)).toEqual(['stop 2.0.0']);
  });

  it('given a good release, when it is deployed, then the target rolls it out once and it becomes stable', async () => {
    const w = await given(YAML, { target: native() });
    expect((await ship(w, '1.0.0')).phase).toBe('succeeded');
    const d = await ship(w, '2.0.0');
    expect(d.phase).toBe('succeeded');
    expect(d.steps.map((s) => [s.title, s.status])).toEqual([['gates: rejected', 'succeeded'], ['roll out 2.0.0', 'succeeded'], ['watch 2.0.0 for 200ms', 'succeeded']]);
    expect(d.steps[1].output).toEqual({ handle: { version: '2.0.0', revision: 'revision 2' }, status: '2 of 2 instances of 2.0.0 ready' });
    expect(w.target.calls).toEqual(['rollout dev 1.0.0 revision 1', 'rollout dev 2.0.0 revision 2']);
    expect(w.target.versions(w.config.services.web.dev)).toEqual(['2.0.0']);
    const [status] = await w.orch.status({ service: 'web', environment: 'dev' });
    expect(status.traffic).toEqual([{ version: '2.0.0', weight: 100 }]);
    expect(status.port).toBe(18080);
  });

  it('given a rollout the platform fails, then the deployment rolls back by rolling out the stable release', async () => {
    const w = await given(YAML, { target: native() });
    await ship(w, '1.0.0');
    w.target.behaviours.set('2.0.0', { rolloutFails: 'ProgressDeadlineExceeded: ReplicaSet "web-7d9c" has timed out progressing' });
    const d = await ship(w, '2.0.0');
    expect(d.phase).toBe('rolled_back');
    expect(d.message).toBe('the rollout of 2.0.0 (revision 2) failed: ProgressDeadlineExceeded: ReplicaSet "web-7d9c" has timed out progressing');
    expect(d.steps.map((s) => [s.stage, s.title, s.status])).toEqual([
      ['deploy', 'gates: rejected', 'succeeded'],
      ['deploy', 'roll out 2.0.0', 'failed'],
      ['deploy', 'watch 2.0.0 for 200ms', 'pending'],
      ['rollback', 'roll out 1.0.0', 'succeeded'],
    ]);
    expect(w.target.calls).toEqual(['rollout dev 1.0.0 revision 1', 'rollout dev 2.0.0 revision 2', 'rollout dev 1.0.0 revision 3']);
    expect(w.target.versions(w.config.services.web.dev)).toEqual(['1.0.0']);
  });

  it('given a rollout that never converges, then it fails at health.startTimeout naming what it waited for', async () => {
    const w = await given(YAML, { target: native() });
    await ship(w, '1.0.0');
    w.target.behaviours.set('2.0.0', { neverReady: true });
    const d = await ship(w, '2.0.0');
    expect(d.phase).toBe('rolled_back');
    expect(d.message).toBe('the rollout of 2.0.0 (revision 2) did not finish within 1s (health.startTimeout): 0 of 2 new instances of 2.0.0 ready');
    expect(w.target.versions(w.config.services.web.dev)).toEqual(['1.0.0']);
  });

  it('given a runner stopped mid-rollout, when another runner resumes it, then it waits on the same rollout without starting another', async () => {
    const target = native();
    const handles: RolloutHandle[] = [];
    const rollout = target.rollout.bind(target);
    target.rollout = async (cfg, release) => {
      const h = await rollout(cfg, release);
      handles.push(h);
      return h;
    };
    const w = await given(YAML.replace('startTimeout: 1s', 'startTimeout: 30s'), { target });
    await ship(w, '1.0.0');
    // 2.0.0 stays unready until the first runner is gone.
    target.behaviours.set('2.0.0', { neverReady: true });
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '2.0.0', actor: 'ana' });
    for (let i = 0; i < 500 && !target.calls.includes('rollout dev 2.0.0 revision 2'); i++) await new Promise((r) => setTimeout(r, 10));
    await w.runner.stop();
    const stopped = await w.orch.getDeployment(d.id);
    expect([stopped.phase, stopped.steps[1].title, stopped.steps[1].status, stopped.leaseOwner]).toEqual(['running', 'roll out 2.0.0', 'running', null]);

    target.behaviours.delete('2.0.0');
    const second = new Runner({ store: w.store, config: w.config, target, tickMs: 20 });
    second.start();
    adopt({ ...w, runner: second });
    const end = await until(w, d.id, FINAL);
    expect(end.phase).toBe('succeeded');
    expect([end.steps[1].title, end.steps[1].attempts]).toEqual(['roll out 2.0.0', 2]);
    expect(handles.filter((h) => h.version === '2.0.0')).toEqual([{ version: '2.0.0', revision: 'revision 2' }, { version: '2.0.0', revision: 'revision 2' }]);
    expect(target.calls.filter((c) => c.startsWith('rollout dev 2.0.0'))).toEqual(['rollout dev 2.0.0 revision 2']);
  });
});
