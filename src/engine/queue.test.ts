/**
 * Back-to-back releases: a newer deployment cuts the post-deploy watch of the one ahead
 * short (`superseded`), plans from what serves when it starts, and old releases are retired
 * while the queue is busy, so at most three releases of a pair run at any moment.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Runner, trafficMarks, unroutedSince } from './runner.js';
import type { GangwayConfig } from '../config/types.js';
import { GateSet } from '../gates/gate-set.js';
import type { Gate, GateRequest, GateResult } from '../gates/types.js';
import type { StepRecord } from '../store/types.js';
import { FINAL, adopt, closeWorlds, given, until, type World } from '../../test/support/engine-world.js';

const YAML = (opts: { watch?: string; delay?: string; queue?: string } = {}) => `
project: shop
environments:
  dev: {${opts.queue ? ` queue: ${opts.queue}` : ''} }
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 2, port: 18080 }
    health: { path: /health, interval: 50ms, failureThreshold: 3, startTimeout: 2s }
    strategy:
      blueGreen: { previewPort: 18090, scaleDownDelay: ${opts.delay ?? '0s'} }
    rollback: { watch: ${opts.watch ?? '10s'} }
`;

afterEach(closeWorlds);

const deploy = (w: World, version: string) => w.orch.deploy({ service: 'web', environment: 'dev', version, actor: 'ana' });

async function untilStep(w: World, id: string, title: string) {
  for (let i = 0; i < 500; i++) {
    const d = await w.orch.getDeployment(id);
    if (d.step === title) return d;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`deployment ${id} never reached step "${title}"`);
}

async function untilVersions(w: World, versions: string[]) {
  for (let i = 0; i < 300 && JSON.stringify(w.target.versions(w.config.services.web.dev)) !== JSON.stringify(versions); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return w.target.versions(w.config.services.web.dev);
}

describe('superseded', () => {
  it('given 1.1.0 in its watch, when 1.2.0 is requested, then the watch ends at once and 1.2.0 starts from what serves', async () => {
    const w = await given(YAML());
    await until(w, (await deploy(w, '1.0.0')).id, FINAL);
    const a = await deploy(w, '1.1.0');
    await untilStep(w, a.id, 'watch 1.1.0 for 10s');
    w.target.calls.length = 0;
    const b = await deploy(w, '1.2.0');
    expect(b.previousVersion).toBe('1.0.0');

    const cut = await until(w, a.id, FINAL);
    expect([cut.phase, cut.supersededBy]).toEqual(['superseded', b.id]);
    expect(cut.message).toMatch(new RegExp(`^superseded by ${b.id} after \\d+s of its 10s watch$`));
    expect(cut.steps.map((s) => s.status).slice(-1)).toEqual(['skipped']);
    // It served, but never finished its watch: it is not the stable release.
    expect((await w.store.getServiceState('web', 'dev'))?.stableVersion).toBe('1.0.0');

    await untilStep(w, b.id, 'watch 1.2.0 for 10s');
    const running = await w.orch.getDeployment(b.id);
    // Planned again when it started: the preview sits beside 1.1.0, which serves, and the rollback target is the stable 1.0.0.
    expect(running.previousVersion).toBe('1.0.0');
    expect(w.target.calls.slice(0, 3)).toEqual(['scale dev 1.2.0 2', 'traffic dev 1.1.0:100 preview 1.2.0', 'traffic dev 1.2.0:100']);
    // Planned from what served when it was requested; nothing changed before it started.
    expect((await w.store.listEvents({ deploymentId: b.id })).filter((e) => e.type === 'deployment.replanned')).toEqual([]);
  });

  it('given a superseded release, when the newer one fails its watch, then it rolls back to the last release that finished its watch', async () => {
    const w = await given(YAML({ watch: '2s' }));
    await until(w, (await deploy(w, '1.0.0')).id, FINAL);
    const a = await deploy(w, '1.1.0');
    await untilStep(w, a.id, 'watch 1.1.0 for 2s');
    w.target.behaviours.set('1.2.0', { failAfterLooks: 3 });
    const b = await deploy(w, '1.2.0');
    const end = await until(w, b.id, FINAL);
    expect([end.phase, end.previousVersion]).toEqual(['rolled_back', '1.0.0']);
    expect(await w.target.traffic(w.config.services.web.dev)).toEqual({ versions: [{ version: '1.0.0', weight: 100 }], preview: null });
    expect((await w.store.getServiceState('web', 'dev'))?.stableVersion).toBe('1.0.0');
  });

  it('given queue: strict, when a newer release is requested during a watch, then the watch runs to its end', async () => {
    const w = await given(YAML({ watch: '300ms', queue: 'strict' }));
    await until(w, (await deploy(w, '1.0.0')).id, FINAL);
    const a = await deploy(w, '1.1.0');
    await untilStep(w, a.id, 'watch 1.1.0 for 300ms');
    const b = await deploy(w, '1.2.0');
    expect((await until(w, a.id, FINAL)).phase).toBe('succeeded');
    const end = await until(w, b.id, FINAL);
    expect([end.phase, end.previousVersion]).toEqual(['succeeded', '1.1.0']);
    // Requested while 1.1.0 was being watched, started once it had become stable: planned again.
    const replanned = (await w.store.listEvents({ deploymentId: b.id })).filter((e) => e.type === 'deployment.replanned');
    expect(replanned.map((e) => [e.data.previousVersion, e.data.stable, e.data.serving])).toEqual([['1.0.0', '1.1.0', '1.1.0']]);
  });

  it('given a runner stopped during a watch, when a newer release is queued and a runner starts, then exactly one outcome is recorded', async () => {
    const w = await given(YAML());
    await until(w, (await deploy(w, '1.0.0')).id, FINAL);
    const a = await deploy(w, '1.1.0');
    await untilStep(w, a.id, 'watch 1.1.0 for 10s');
    await w.runner.stop();
    const b = await deploy(w, '1.2.0');
    const second = new Runner({ store: w.store, config: w.config, target: w.target, tickMs: 20 });
    second.start();
    adopt({ ...w, runner: second });
    expect((await until(w, a.id, FINAL)).phase).toBe('superseded');
    await untilStep(w, b.id, 'watch 1.2.0 for 10s');
    const events = await w.store.listEvents({ deploymentId: a.id });
    const watchIdx = (await w.store.getSteps(a.id)).find((s) => s.type === 'watch')!.idx;
    const watchEnds = events.filter((e) => ['step.succeeded', 'step.failed', 'step.skipped'].includes(e.type) && e.data.idx === watchIdx).map((e) => e.type);
    expect(watchEnds).toEqual(['step.skipped']);
    expect(events.filter((e) => e.type === 'deployment.phase' && FINAL.includes(e.data.to as never)).map((e) => e.data.to)).toEqual(['superseded']);
  });
});

describe('retirement while the queue is busy', () => {
  it('given five releases requested back to back, then at most three run at any moment and old ones are retired', async () => {
    const w = await given(YAML({ watch: '200ms', delay: '100ms' }));
    await until(w, (await deploy(w, '1.0.0')).id, FINAL);
    // Counted after every change the engine makes to the target, so no moment goes unseen.
    let most = 0;
    const seen: string[] = [];
    const scale = w.target.scale.bind(w.target);
    w.target.scale = async (...args) => {
      const out = await scale(...args);
      const v = w.target.versions(w.config.services.web.dev);
      seen.push(v.join(','));
      most = Math.max(most, v.length);
      return out;
    };
    const ids = [];
    for (const v of ['1.1.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0']) ids.push((await deploy(w, v)).id);
    for (const id of ids) await until(w, id, FINAL);
    expect(await untilVersions(w, ['1.5.0'])).toEqual(['1.5.0']);
    const phases = await Promise.all(ids.map(async (id) => (await w.orch.getDeployment(id)).phase));
    expect(phases).toEqual(['superseded', 'superseded', 'superseded', 'superseded', 'succeeded']);
    expect(most, seen.join('\n')).toBeLessThanOrEqual(3);
    const retired = (await w.store.listEvents()).filter((e) => e.type === 'release.retired').map((e) => e.data.version);
    expect([...retired].sort()).toEqual(['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0']);
  });

  it('keeps the previous release warm during the watch, so a rollback then is a switch back', async () => {
    const w = await given(YAML({ watch: '10s', delay: '0s' }));
    await until(w, (await deploy(w, '1.0.0')).id, FINAL);
    const a = await deploy(w, '1.1.0');
    await untilStep(w, a.id, 'watch 1.1.0 for 10s');
    await new Promise((r) => setTimeout(r, 1200));
    expect(w.target.versions(w.config.services.web.dev)).toEqual(['1.0.0', '1.1.0']);
  });

  it('given the orchestrator down while the previous release became due, when it comes back, then that release is retired', async () => {
    const w = await given(YAML({ watch: '0s', delay: '1s' }));
    await until(w, (await deploy(w, '1.0.0')).id, FINAL);
    await until(w, (await deploy(w, '1.1.0')).id, FINAL);
    await w.runner.stop();
    expect(w.target.versions(w.config.services.web.dev)).toEqual(['1.0.0', '1.1.0']);
    await new Promise((r) => setTimeout(r, 1100));
    const second = new Runner({ store: w.store, config: w.config, target: w.target, tickMs: 20 });
    second.start();
    adopt({ ...w, runner: second });
    expect(await untilVersions(w, ['1.1.0'])).toEqual(['1.1.0']);
    const [retired] = (await w.store.listEvents()).filter((e) => e.type === 'release.retired');
    expect([retired.data.version, retired.data.reason]).toEqual(['1.0.0', expect.stringMatching(/past its scale-down delay of 1s$/)]);
  });
});

describe('when traffic left a release', () => {
  const traffic = (idx: number, at: number, versions: string[], preview: string | null = null): StepRecord => ({
    deploymentId: 'd', idx, type: 'traffic', title: `traffic ${idx}`, status: 'succeeded', stage: 'deploy', startedAt: at, finishedAt: at, output: null, attempts: 1,
    params: { versions: versions.map((version) => ({ version, weight: 100 / versions.length })), preview },
  });

  it('given the preview and the switch ending in the same millisecond, then the switch is the newer mark', () => {
    const first = [traffic(0, 1000, ['1.0.0'])];
    const second = [traffic(0, 5000, ['1.0.0'], '1.1.0'), traffic(1, 5000, ['1.1.0'])];
    const marks = trafficMarks([second, first]);
    expect(marks.map((m) => [m.at, [...m.routes].sort()])).toEqual([[5000, ['1.1.0']], [5000, ['1.0.0', '1.1.0']], [1000, ['1.0.0']]]);
    expect(unroutedSince('1.0.0', marks, 9000)).toBe(5000);
    expect(unroutedSince('1.1.0', marks, 9000)).toBe(9000);
  });
});

/** Holds 1.2.0 at its gates until the test aborts it; lets every other release through. */
class HoldGate implements Gate {
  readonly name = 'approvals' as const;
  applies(): boolean { return true; }
  async evaluate(req: GateRequest): Promise<GateResult> {
    if (req.version === '1.2.0') return { gate: this.name, result: 'wait', until: null, reason: 'held by the test', evidence: {} };
    return { gate: this.name, result: 'pass', reason: 'ok', evidence: {} };
  }
}

describe('plans from what serves', () => {
  it('given a superseded release serving and the newer one aborted at its gates, when the serving release is deployed again, then traffic never leaves it and it is watched', async () => {
    const w = await given(YAML(), { gates: (config: GangwayConfig) => new GateSet(config, [new HoldGate()]) });
    await until(w, (await deploy(w, '1.0.0')).id, FINAL);
    const a = await deploy(w, '1.1.0');
    await untilStep(w, a.id, 'watch 1.1.0 for 10s');
    const b = await deploy(w, '1.2.0');
    expect((await until(w, a.id, FINAL)).phase).toBe('superseded');
    await until(w, b.id, ['waiting']);
    await w.orch.abort(b.id, 'bob');
    expect((await until(w, b.id, FINAL)).phase).toBe('aborted');
    w.target.calls.length = 0;
    const plan = await w.orch.plan({ service: 'web', environment: 'dev', version: '1.1.0', actor: 'ana' });
    expect(plan.steps.map((s) => s.title)).toEqual([
      'gates: approvals', 'scale 1.1.0 to 2 instances', 'wait for 2 healthy instances of 1.1.0',
      'all traffic to 1.1.0; preview to 1.1.0', 'all traffic to 1.1.0', 'watch 1.1.0 for 10s',
    ]);
    const again = await deploy(w, '1.1.0');
    const watching = await untilStep(w, again.id, 'watch 1.1.0 for 10s');
    expect(watching.previousVersion).toBe('1.0.0');
    expect(w.target.calls.filter((c) => c.startsWith('traffic'))).toEqual(['traffic dev 1.1.0:100 preview 1.1.0', 'traffic dev 1.1.0:100']);
  });
});
