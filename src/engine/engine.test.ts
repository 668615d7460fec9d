import { afterEach, describe, expect, it } from 'vitest';
import { Runner } from './runner.js';
import { FINAL, adopt, closeWorlds, given, ship, until } from '../../test/support/engine-world.js';
import { GangwayError, UnreachableError } from '../errors.js';
import { MemoryTarget } from '../targets/memory/memory-target.js';

const YAML = (strategy: string, extra = '') => `
project: shop
environments:
  dev: {}
  prod:
    promotion: { from: dev }
    reason: required
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 2, port: 18080 }
    health: { path: /health, interval: 100ms, failureThreshold: 3, startTimeout: 1s }
    strategy:
${strategy}
    rollback: { watch: 300ms }
${extra}
    environments:
      prod: { target: { local: { port: 18081 } }${strategy.includes('blueGreen') ? ', strategy: { blueGreen: { previewPort: 18091 } }' : ''} }
`;
const BLUE_GREEN = '      blueGreen: { previewPort: 18090, scaleDownDelay: 0s }';
const ROLLING = '      rolling: { maxSurge: 1, maxUnavailable: 0 }';

afterEach(closeWorlds);

describe('blue-green', () => {
  it('given no release, when 1.0.0 is deployed, then it runs every step and becomes stable', async () => {
    const w = await given(YAML(BLUE_GREEN));
    const d = await ship(w, '1.0.0');
    expect(d.phase).toBe('succeeded');
    expect(d.steps.map((s) => [s.title, s.status])).toEqual([
      ['gates: rejected', 'succeeded'],
      ['scale 1.0.0 to 2 instances', 'succeeded'],
      ['wait for 2 healthy instances of 1.0.0', 'succeeded'],
      ['no traffic; preview to 1.0.0', 'succeeded'],
      ['all traffic to 1.0.0', 'succeeded'],
    ]);
    expect(w.target.calls).toEqual(['scale dev 1.0.0 2', 'traffic dev - preview 1.0.0', 'traffic dev 1.0.0:100']);
    const [status] = await w.orch.status({ service: 'web', environment: 'dev' });
    expect(status.version).toBe('1.0.0');
    expect(status.deployment).toEqual({ id: d.id, phase: 'succeeded', step: null });
  });

  it('given 1.0.0 stable, when 1.1.0 ships, then traffic switches and 1.0.0 is retired after the scale-down delay', async () => {
    const w = await given(YAML(BLUE_GREEN));
    await ship(w, '1.0.0');
    w.target.calls.length = 0;
    const d = await ship(w, '1.1.0');
    expect(d.phase).toBe('succeeded');
    expect(d.previousVersion).toBe('1.0.0');
    expect(w.target.calls.slice(0, 3)).toEqual(['scale dev 1.1.0 2', 'traffic dev 1.0.0:100 preview 1.1.0', 'traffic dev 1.1.0:100']);
    for (let i = 0; i < 100 && w.target.versions(w.config.services.web.dev).length > 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(w.target.versions(w.config.services.web.dev)).toEqual(['1.1.0']);
    const state = await w.store.getServiceState('web', 'dev');
    expect([state?.stableVersion, state?.previousVersion]).toEqual(['1.1.0', '1.0.0']);
    const retired = (await w.store.listEvents()).filter((e) => e.type === 'release.retired');
    expect(retired.map((e) => e.data.version)).toEqual(['1.0.0']);
  });

  it('given 1.0.0 stable, when 2.0.0 never becomes healthy, then traffic stays on 1.0.0 and the deployment is rolled back', async () => {
    const w = await given(YAML(BLUE_GREEN));
    await ship(w, '1.0.0');
    w.target.behaviours.set('2.0.0', { neverReady: true });
    w.target.calls.length = 0;
    const d = await ship(w, '2.0.0');
    expect(d.phase).toBe('rolled_back');
    expect(d.message).toBe('2 of 2 instances of 2.0.0 did not become healthy within 1s (web-dev-2.0.0-3: expected status 200, got 500; web-dev-2.0.0-4: expected status 200, got 500)');
    expect(d.steps.map((s) => [s.stage, s.title, s.status])).toEqual([
      ['deploy', 'gates: rejected', 'succeeded'],
      ['deploy', 'scale 2.0.0 to 2 instances', 'succeeded'],
      ['deploy', 'wait for 2 healthy instances of 2.0.0', 'failed'],
      ['deploy', 'all traffic to 1.0.0; preview to 2.0.0', 'pending'],
      ['deploy', 'all traffic to 2.0.0', 'pending'],
      ['deploy', 'watch 2.0.0 for 300ms', 'pending'],
      ['rollback', 'scale 1.0.0 to 2 instances', 'succeeded'],
      ['rollback', 'wait for 2 healthy instances of 1.0.0', 'succeeded'],
      ['rollback', 'all traffic to 1.0.0', 'succeeded'],
      ['rollback', 'stop 2.0.0', 'succeeded'],
    ]);
    expect(w.target.calls).toEqual(['scale dev 2.0.0 2', 'scale dev 1.0.0 2', 'traffic dev 1.0.0:100', 'scale dev 2.0.0 0']);
    expect((await w.store.getServiceState('web', 'dev'))?.stableVersion).toBe('1.0.0');
  });

  it('given 1.0.0 stable, when 2.0.0 fails its health checks during the watch, then it is rolled back', async () => {
    const w = await given(YAML(BLUE_GREEN).replace('watch: 300ms', 'watch: 1500ms'));
    await ship(w, '1.0.0');
    w.target.behaviours.set('2.0.0', { failAfterLooks: 4 });
    const d = await ship(w, '2.0.0');
    expect(d.phase).toBe('rolled_back');
    expect(d.message).toMatch(/^instance web-dev-2\.0\.0-\d failed 3 consecutive health checks \(threshold 3\) during the watch of 2\.0\.0: expected status 200, got 503$/);
    const [s] = await w.orch.status({ service: 'web', environment: 'dev' });
    expect(s.version).toBe('1.0.0');
    expect(await w.target.traffic(w.config.services.web.dev)).toEqual({ versions: [{ version: '1.0.0', weight: 100 }], preview: null });
  });

  it('given nothing deployed, when the first release never becomes healthy, then the deployment fails and nothing keeps running', async () => {
    const w = await given(YAML(BLUE_GREEN));
    w.target.behaviours.set('1.0.0', { neverReady: true });
    const d = await ship(w, '1.0.0');
    expect(d.phase).toBe('failed');
    expect(w.target.versions(w.config.services.web.dev)).toEqual([]);
    expect((await w.store.getServiceState('web', 'dev'))?.stableVersion ?? null).toBeNull();
  });
});

describe('rolling', () => {
  it('given 1.0.0 on 2 instances, when 1.1.0 rolls out with maxSurge 1, then each new instance is healthy before an old one goes', async () => {
    const w = await given(YAML(ROLLING));
    await ship(w, '1.0.0');
    w.target.calls.length = 0;
    const d = await ship(w, '1.1.0');
    expect(d.phase).toBe('succeeded');
    expect(d.steps.map((s) => s.title)).toEqual([
      'gates: rejected',
      'scale 1.1.0 to 1 instance',
      'wait for 1 healthy instance of 1.1.0',
      'traffic 1.0.0 50% / 1.1.0 50%',
      'scale 1.0.0 to 1 instance',
      'scale 1.1.0 to 2 instances',
      'wait for 2 healthy instances of 1.1.0',
      'all traffic to 1.1.0',
      'stop 1.0.0',
      'watch 1.1.0 for 300ms',
    ]);
    expect(w.target.calls).toEqual([
      'scale dev 1.1.0 1', 'traffic dev 1.0.0:1,1.1.0:1', 'scale dev 1.0.0 1',
      'scale dev 1.1.0 2', 'traffic dev 1.1.0:2', 'scale dev 1.0.0 0',
    ]);
  });
});

describe('requests', () => {
  it('rejects an unknown service with a did-you-mean hint and writes nothing', async () => {
    const w = await given(YAML(BLUE_GREEN));
    const err = await w.orch.deploy({ service: 'wbe', environment: 'dev', version: '1', actor: 'ana' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GangwayError);
    expect([(err as GangwayError).code, (err as GangwayError).message, (err as GangwayError).hint]).toEqual(['not_found', 'unknown service "wbe"', 'did you mean "web"?']);
    expect(await w.store.listDeployments()).toEqual([]);
  });

  it('rejects a malformed version', async () => {
    const w = await given(YAML(BLUE_GREEN));
    const err = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0 ; rm -rf /', actor: 'ana' }).catch((e: unknown) => e) as GangwayError;
    expect([err.code, err.message]).toEqual(['invalid_argument', 'version: "1.0 ; rm -rf /" is not a valid version']);
  });

  it('blocks prod without a reason, and a release that has not succeeded in dev', async () => {
    const w = await given(YAML(BLUE_GREEN));
    const noReason = await w.orch.deploy({ service: 'web', environment: 'prod', version: '1.0.0', actor: 'ana' }).catch((e: unknown) => e) as GangwayError;
    expect([noReason.code, noReason.message]).toEqual(['blocked', 'web 1.0.0 has not succeeded in dev; prod only takes releases promoted from dev; prod requires a reason for every deployment']);
    expect((noReason.details as { gates: Array<{ gate: string; result: string }> }).gates.map((g) => [g.gate, g.result]))
      .toEqual([['promotion', 'fail'], ['rejected', 'pass'], ['reason', 'fail']]);
    const notPromoted = await w.orch.deploy({ service: 'web', environment: 'prod', version: '1.0.0', actor: 'ana', reason: 'CHG-1' }).catch((e: unknown) => e) as GangwayError;
    expect([notPromoted.code, notPromoted.message]).toEqual(['blocked', 'web 1.0.0 has not succeeded in dev; prod only takes releases promoted from dev']);
    await ship(w, '1.0.0');
    const d = await ship(w, '1.0.0', 'prod', 'CHG-1');
    expect([d.phase, d.reason, d.actor]).toEqual(['succeeded', 'CHG-1', 'ana']);
  });

  it('blocks an environment whose approvals no registered gate can check, rather than passing the gate', async () => {
    const w = await given(YAML(BLUE_GREEN).replace('    reason: required', '    reason: required\n    approvals: { required: 1, groups: [ops] }').replace('project: shop', 'project: shop\ngroups: { ops: [bob, cy] }'));
    await ship(w, '1.0.0');
    const err = await w.orch.deploy({ service: 'web', environment: 'prod', version: '1.0.0', actor: 'ana', reason: 'CHG-1' }).catch((e: unknown) => e) as GangwayError;
    expect([err.code, err.message, err.hint]).toEqual(['blocked', 'prod requires the approvals gate, which this orchestrator cannot check',
      'remove it from environments.prod in gangway.yaml, or run an orchestrator that checks it']);
    expect((await w.store.listDeployments({ environment: 'prod' })).length).toBe(0);
  });

  it('queues a second deployment of the same pair and runs it after the first (FIFO)', async () => {
    const w = await given(YAML(BLUE_GREEN));
    const a = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' });
    const b = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.1.0', actor: 'ana' });
    const c = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.2.0', actor: 'ana' });
    await until(w, c.id, FINAL);
    const phases = (await w.store.listEvents()).filter((e) => e.type === 'deployment.phase').map((e) => `${e.deploymentId === a.id ? 'a' : e.deploymentId === b.id ? 'b' : 'c'}:${String(e.data.to)}`);
    expect(phases).toEqual(['a:running', 'a:succeeded', 'b:running', 'b:superseded', 'c:running', 'c:succeeded']);
  });

  it('given queue: strict, runs a queued deployment only after the watch of the one ahead ends', async () => {
    const w = await given(YAML(BLUE_GREEN).replace('dev: {}', 'dev: { queue: strict }'));
    const a = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' });
    const b = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.1.0', actor: 'ana' });
    const c = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.2.0', actor: 'ana' });
    await until(w, c.id, FINAL);
    const phases = (await w.store.listEvents()).filter((e) => e.type === 'deployment.phase').map((e) => `${e.deploymentId === a.id ? 'a' : e.deploymentId === b.id ? 'b' : 'c'}:${String(e.data.to)}`);
    expect(phases).toEqual(['a:running', 'a:succeeded', 'b:running', 'b:succeeded', 'c:running', 'c:succeeded']);
    expect((await w.orch.getDeployment(c.id)).previousVersion).toBe('1.1.0');
  });

  it('aborts a deployment during its watch and restores the stable release', async () => {
    const w = await given(YAML(BLUE_GREEN).replace('watch: 300ms', 'watch: 2s'));
    await ship(w, '1.0.0');
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.1.0', actor: 'ana' });
    for (let i = 0; i < 200; i++) {
      const cur = await w.orch.getDeployment(d.id);
      if (cur.step === 'watch 1.1.0 for 2s') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await w.orch.abort(d.id, 'bob');
    const end = await until(w, d.id, FINAL);
    expect([end.phase, end.message]).toEqual(['aborted', 'aborted: by request']);
    expect(await w.target.traffic(w.config.services.web.dev)).toEqual({ versions: [{ version: '1.0.0', weight: 100 }], preview: null });
  });

  it('rolls back by hand to the previous release, which becomes stable again', async () => {
    const w = await given(YAML(BLUE_GREEN));
    await ship(w, '1.0.0');
    await ship(w, '1.1.0');
    const r = await w.orch.rollback({ service: 'web', environment: 'dev', actor: 'bob' });
    const end = await until(w, r.id, FINAL);
    expect([end.kind, end.phase, end.version, end.previousVersion]).toEqual(['rollback', 'succeeded', '1.0.0', '1.1.0']);
    const state = await w.store.getServiceState('web', 'dev');
    expect([state?.stableVersion, state?.previousVersion]).toEqual(['1.0.0', '1.1.0']);
  });
});

describe('resume', () => {
  it('given a runner stopped mid-watch, when another runner starts, then it resumes the same step without restarting it', async () => {
    const w = await given(YAML(BLUE_GREEN).replace('watch: 300ms', 'watch: 1s'));
    await ship(w, '1.0.0');
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.1.0', actor: 'ana' });
    for (let i = 0; i < 200; i++) {
      if ((await w.orch.getDeployment(d.id)).step === 'watch 1.1.0 for 1s') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await w.runner.stop();
    const paused = await w.orch.getDeployment(d.id);
    expect([paused.phase, paused.steps[paused.currentStep].status, paused.leaseOwner]).toEqual(['running', 'running', null]);
    const watchStarted = paused.steps[paused.currentStep].startedAt;
    const second = new Runner({ store: w.store, config: w.config, target: w.target, tickMs: 20 });
    second.start();
    adopt({ ...w, runner: second });
    const end = await until(w, d.id, FINAL);
    expect(end.phase).toBe('succeeded');
    const watch = end.steps.find((s) => s.type === 'watch')!;
    expect([watch.startedAt, watch.attempts]).toEqual([watchStarted, 2]);
    const events = (await w.store.listEvents({ deploymentId: d.id })).map((e) => e.type);
    expect(events.filter((t) => t === 'step.succeeded')).toHaveLength(6);
    expect(events.filter((t) => t === 'step.resumed')).toHaveLength(1);
  });
});

describe('an unreachable target', () => {
  /** A memory target whose scale() finds the platform unreachable the first `outages` times; `attempts` counts scale-ups. */
  class Flaky extends MemoryTarget {
    outages = 0;
    attempts = 0;
    override async scale(...args: Parameters<MemoryTarget['scale']>) {
      if (args[2] > 0) this.attempts++;
      if (this.outages > 0) {
        this.outages--;
        throw new UnreachableError('cannot reach the API server at https://10.0.0.1:6443: connection refused');
      }
      return super.scale(...args);
    }
  }

  it('given the platform down for two calls, when 1.0.0 ships, then the step retries with backoff and succeeds', async () => {
    const target = new Flaky();
    target.outages = 2;
    const w = await given(YAML(BLUE_GREEN), { target });
    const d = await ship(w, '1.0.0');
    expect(d.phase).toBe('succeeded');
    expect(target.attempts).toBe(3);
  });

  it('given the platform down past the retry budget, then the step fails saying how long it retried', async () => {
    const target = new Flaky();
    target.outages = 1000;
    const w = await given(YAML(BLUE_GREEN), { target, unreachableBudgetMs: 2500 });
    const d = await ship(w, '1.0.0');
    expect(d.phase).toBe('failed');
    // 1 s, then 2 s between attempts: the third one, past 2.5 s, is the last.
    expect(target.attempts).toBe(3);
    // The rollback's stop of 1.0.0 meets the same outage, and says so.
    const down = 'cannot reach the API server at https://10.0.0.1:6443: connection refused (still unreachable after 3s of retries)';
    expect(d.message?.replace(/after \d+s/g, 'after 3s')).toBe(`${down}; rollback failed at "stop 1.0.0": ${down}`);
  });
});

describe('jobs before the rollout', () => {
  const JOBS = `    jobs: { beforeRollout: [{ manifest: k8s/migrate.yaml, timeout: 5s }] }`;

  it('given a Job that completes, when 1.0.0 ships, then the Job runs for the release before it starts, its logs recorded', async () => {
    const target = new MemoryTarget({ capabilities: { jobs: true } });
    const w = await given(YAML(BLUE_GREEN, JOBS), { target });
    const d = await ship(w, '1.0.0');
    expect(d.phase).toBe('succeeded');
    expect(d.steps.map((s) => [s.title, s.status]).slice(0, 3)).toEqual([
      ['gates: rejected', 'succeeded'], ['job migrate for 1.0.0', 'succeeded'], ['scale 1.0.0 to 2 instances', 'succeeded'],
    ]);
    expect(target.calls.slice(0, 2)).toEqual([`job dev migrate-1.0.0-${d.id}`, 'scale dev 1.0.0 2']);
    const [stored] = (await w.store.getSteps(d.id)).filter((s) => s.type === 'job');
    expect(stored!.output).toEqual({ job: `migrate-1.0.0-${d.id}`, logs: [{ pod: `migrate-1.0.0-${d.id}-pod`, lines: ['migration: starting', 'migration: done'] }] });
  });

  it('given a Job that fails, then the deployment fails before the release starts or traffic moves, naming the Job and its reason', async () => {
    const target = new MemoryTarget({ capabilities: { jobs: true } });
    target.jobOutcomes.set('/project/k8s/migrate.yaml', 'failed');
    const w = await given(YAML(BLUE_GREEN, JOBS), { target });
    const d = await ship(w, '1.0.0');
    expect(d.phase).toBe('failed');
    expect(d.message).toBe(`job migrate-1.0.0-${d.id} failed: BackoffLimitExceeded: Job has reached the specified backoff limit (see the step's logs; the Job is left in place)`);
    // Nothing started and nothing routed: the recovery only states that (no traffic, 1.0.0 stopped).
    expect(target.calls.filter((c) => !c.startsWith('job '))).toEqual(['traffic dev -', 'scale dev 1.0.0 0']);
  });

  it('given 1.0.0 stable, when the Job of 2.0.0 fails, then 2.0.0 never starts and all traffic stays on 1.0.0', async () => {
    const target = new MemoryTarget({ capabilities: { jobs: true } });
    const w = await given(YAML(BLUE_GREEN, JOBS), { target });
    await ship(w, '1.0.0');
    target.jobOutcomes.set('/project/k8s/migrate.yaml', 'failed');
    target.calls.length = 0;
    const d = await ship(w, '2.0.0');
    expect([d.phase, d.message]).toEqual(['rolled_back', `job migrate-2.0.0-${d.id} failed: BackoffLimitExceeded: Job has reached the specified backoff limit (see the step's logs; the Job is left in place)`]);
    expect(d.steps.filter((s) => s.stage === 'deploy').map((s) => [s.title, s.status]).slice(0, 3)).toEqual([
      ['gates: rejected', 'succeeded'], ['job migrate for 2.0.0', 'failed'], ['scale 2.0.0 to 2 instances', 'pending'],
    ]);
    expect(target.calls.some((c) => c.startsWith('scale dev 2.0.0') && !c.endsWith(' 0'))).toBe(false);
    expect(await target.traffic(w.config.services.web.dev)).toEqual({ versions: [{ version: '1.0.0', weight: 100 }], preview: null });
    expect(target.versions(w.config.services.web.dev)).toEqual(['1.0.0']);
    const failed = (await w.store.getSteps(d.id)).find((s) => s.type === 'job')!;
    expect(failed.output).toEqual({
      job: `migrate-2.0.0-${d.id}`, logs: [{ pod: `migrate-2.0.0-${d.id}-pod`, lines: ['migration: starting', 'migration: failed'] }], reason: d.message,
    });
  });

  it('given a Job that never completes, then the step fails once its timeout passed, naming the key, and leaves the Job', async () => {
    const target = new MemoryTarget({ capabilities: { jobs: true } });
    target.looksToFinish = Number.MAX_SAFE_INTEGER;
    const w = await given(YAML(BLUE_GREEN, JOBS.replace('timeout: 5s', 'timeout: 1s')), { target });
    const d = await ship(w, '1.0.0');
    expect([d.phase, d.message]).toEqual(['failed', `job migrate-1.0.0-${d.id} did not complete within 1s (jobs.beforeRollout[0].timeout): job migrate-1.0.0-${d.id}: 1 active; the Job is left in place`]);
    expect(target.calls.filter((c) => c.startsWith('scale dev 1.0.0') && !c.endsWith(' 0'))).toEqual([]);
    expect([...target.jobs.keys()]).toEqual([`migrate-1.0.0-${d.id}`]);
    // The output of the Job's pods as it was when the step gave up is in the record.
    const [stored] = (await w.store.getSteps(d.id)).filter((s) => s.type === 'job');
    expect(stored!.output).toMatchObject({ job: `migrate-1.0.0-${d.id}`, logs: [{ pod: `migrate-1.0.0-${d.id}-pod`, lines: ['migration: starting'] }] });
  });

  it('given a runner stopped while the Job runs, when another runner resumes, then it waits on the same Job without starting another', async () => {
    const target = new MemoryTarget({ capabilities: { jobs: true } });
    target.looksToFinish = Number.MAX_SAFE_INTEGER;
    const w = await given(YAML(BLUE_GREEN, JOBS.replace('timeout: 5s', 'timeout: 5m')), { target });
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' });
    for (let i = 0; i < 1000 && !(target.jobs.get(`migrate-1.0.0-${d.id}`)?.looks ?? 0); i++) await new Promise((r) => setTimeout(r, 10));
    await w.runner.stop();
    const stopped = await w.orch.getDeployment(d.id);
    const job = () => stopped.steps.find((s) => s.type === 'job')!;
    expect([stopped.phase, job().title, job().status, stopped.leaseOwner]).toEqual(['running', 'job migrate for 1.0.0', 'running', null]);

    target.looksToFinish = 0;
    const second = new Runner({ store: w.store, config: w.config, target, tickMs: 20 });
    second.start();
    adopt({ ...w, runner: second });
    const end = await until(w, d.id, FINAL);
    expect(end.phase).toBe('succeeded');
    const resumed = end.steps.find((s) => s.type === 'job')!;
    expect([resumed.status, resumed.attempts, resumed.startedAt]).toEqual(['succeeded', 2, job().startedAt]);
    expect(target.calls.filter((c) => c.startsWith('job '))).toEqual([`job dev migrate-1.0.0-${d.id}`]);
    expect(target.calls.indexOf(`job dev migrate-1.0.0-${d.id}`)).toBeLessThan(target.calls.indexOf('scale dev 1.0.0 2'));
  });

  it('given a target that cannot run jobs, then the plan is refused naming jobs.beforeRollout', async () => {
    const w = await given(YAML(BLUE_GREEN, JOBS));
    await expect(w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' }))
      .rejects.toThrow('services.web.jobs.beforeRollout (environment dev): the local target cannot run jobs (capabilities.jobs)');
  });
});
