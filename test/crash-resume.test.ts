/**
 * Given a deployment in progress, when the orchestrator process is killed with SIGKILL at a
 * given step and started again, then the deployment continues from that step and ends as it
 * would have without the crash: no step lost, none run to completion twice, none left stuck.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { APP, projectHeader, freePorts, makeProject, sleep, waitForEnd, type Project } from './support/gangway.js';

const projects: Project[] = [];
afterAll(async () => { for (const p of projects) await p.cleanup(); });

interface View { id: string; phase: string; currentStep: number; message: string | null; steps: Array<{ idx: number; title: string; status: string; stage: string; attempts: number }> }
interface Ev { type: string; deploymentId: string; data: { idx?: number } }

async function project() {
  const [port, preview] = await freePorts(2);
  const p = await makeProject((ports: { api: number; metrics: number }) => `
${projectHeader('crash', ports)}environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        # Slow enough steps that the test can kill the orchestrator inside each one.
        env: { APP_VERSION: "\${release.version}", STARTUP_DELAY_MS: "700" }
        instances: 2
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, failureThreshold: 3, startTimeout: 10s }
    strategy:
      blueGreen: { previewPort: ${preview}, scaleDownDelay: 0s }
    smoke:
      - http: { path: "/slow?ms=700", expect: { status: 200 } }
    rollback: { watch: 2s }
`);
  projects.push(p);
  return { p, port };
}

async function deploy(p: Project, version: string): Promise<string> {
  const r = await p.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version });
  expect(r.status).toBe(201);
  return r.body.id;
}

/** Waits until the deployment's current step is `idx` (and that step has started), then kills the orchestrator. */
async function killAtStep(p: Project, id: string, idx: number) {
  for (let i = 0; i < 2000; i++) {
    const d = (await p.api<View>('GET', `/v1/deployments/${id}`)).body;
    if (d.currentStep === idx && d.steps[idx]?.status === 'running') {
      await p.kill();
      return d.steps[idx].title;
    }
    if (d.currentStep > idx) throw new Error(`missed step ${idx}: already at ${d.currentStep}`);
    await sleep(5);
  }
  throw new Error(`step ${idx} never started`);
}

function assertOnce(events: Ev[], id: string, steps: View['steps']) {
  const mine = events.filter((e) => e.deploymentId === id);
  for (const s of steps.filter((x) => x.status === 'succeeded')) {
    expect(mine.filter((e) => e.type === 'step.succeeded' && e.data.idx === s.idx), `step ${s.idx} ${s.title}`).toHaveLength(1);
    expect(mine.filter((e) => e.type === 'step.started' && e.data.idx === s.idx)).toHaveLength(1);
  }
}

describe('orchestrator killed with SIGKILL', () => {
  // Plan: 0 gates, 1 run 2 instances, 2 wait healthy, 3 preview, 4 smoke, 5 switch, 6 watch 2s.
  it.each([
    [2, 'wait for 2 healthy instances of 2.0.0'],
    [4, 'smoke checks on 2.0.0'],
    [6, 'watch 2.0.0 for 2s'],
  ])('resumes a deployment killed at step %i (%s) and it succeeds exactly once', async (idx, title) => {
    const { p, port } = await project();
    await p.up();
    await waitForEnd(p, await deploy(p, '1.0.0'));
    const id = await deploy(p, '2.0.0');
    expect(await killAtStep(p, id, idx)).toBe(title);
    // The agent keeps serving while the orchestrator is down.
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    await p.up();
    const end = await waitForEnd(p, id) as unknown as View;
    expect(end.phase).toBe('succeeded');
    expect(end.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(end.steps[idx].attempts).toBe(2);
    const events = (await p.api<Ev[]>('GET', `/v1/events?deployment=${id}&limit=1000`)).body;
    assertOnce(events, id, end.steps);
    expect(events.filter((e) => e.type === 'step.resumed').map((e) => e.data.idx)).toEqual([idx]);
    expect((await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim()).toBe('2.0.0');
    const deployments = (await p.api<View[]>('GET', '/v1/deployments')).body;
    expect(deployments.map((d) => d.phase)).toEqual(['succeeded', 'succeeded']);
  }, 120_000);

  it('resumes the rollback of a bad release killed mid-rollback, and the stable release serves again', async () => {
    const { p, port } = await project();
    await p.up();
    await waitForEnd(p, await deploy(p, '1.0.0'));
    const id = await deploy(p, '2.0.0');
    // Abort it during its watch so the rollback stage runs, and kill the orchestrator inside that stage.
    for (let i = 0; i < 2000; i++) {
      const d = (await p.api<View>('GET', `/v1/deployments/${id}`)).body;
      if (d.currentStep === 6) break;
      await sleep(5);
    }
    await p.api('POST', `/v1/deployments/${id}/abort`);
    for (let i = 0; i < 2000; i++) {
      const d = (await p.api<View>('GET', `/v1/deployments/${id}`)).body;
      if (d.phase === 'rolling_back' && d.steps[d.currentStep]?.stage === 'rollback') break;
      await sleep(2);
    }
    await p.kill();
    await p.up();
    const end = await waitForEnd(p, id) as unknown as View;
    expect(end.phase).toBe('aborted');
    expect(end.steps.filter((s) => s.stage === 'rollback').map((s) => [s.title, s.status])).toEqual([
      ['scale 1.0.0 to 2 instances', 'succeeded'],
      ['wait for 2 healthy instances of 1.0.0', 'succeeded'],
      ['all traffic to 1.0.0', 'succeeded'],
      ['stop 2.0.0', 'succeeded'],
    ]);
    const events = (await p.api<Ev[]>('GET', `/v1/events?deployment=${id}&limit=1000`)).body;
    assertOnce(events, id, end.steps);
    expect((await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim()).toBe('1.0.0');
  }, 120_000);

  it('resumes a deployment killed right after it was requested', async () => {
    const { p } = await project();
    await p.up();
    const id = await deploy(p, '1.0.0');
    await p.kill();
    await p.up();
    const end = await waitForEnd(p, id) as unknown as View;
    expect(end.phase).toBe('succeeded');
    const events = (await p.api<Ev[]>('GET', `/v1/events?deployment=${id}&limit=1000`)).body;
    assertOnce(events, id, end.steps);
  }, 120_000);
});
