/**
 * Given a deployment in progress, when the orchestrator process is killed with SIGKILL at a
 * given step and started again, then the deployment continues from that step and ends as it
 * would have without the crash: no step lost, none run to completion twice, none left stuck.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APP, projectHeader, freePorts, makeProject, sleep, waitForEnd, type Project } from './support/gangway.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { FINAL_PHASES, type DeploymentRecord, type StepRecord } from '../src/store/types.js';

/**
 * Limits against a hang, not claims about speed. Each test starts `gangway up` twice (the first
 * also starts the agent) and runs two deployments; on two cores, starting `gangway up` alone
 * took 7 to 9 s at a load of 7 and 15 to 33 s at a load of 21, and a test up to 2 minutes at 24.
 */
const LIMIT_MS = 300_000;

const projects: Project[] = [];
const folders: string[] = [];
afterAll(async () => {
  for (const p of projects) await p.cleanup();
  for (const f of folders) rmSync(f, { recursive: true, force: true });
}, LIMIT_MS);

interface View { id: string; phase: string; currentStep: number; message: string | null; steps: Array<{ idx: number; title: string; status: string; stage: string; attempts: number }> }
interface Ev { type: string; deploymentId: string; data: { idx?: number } }

/**
 * A project running web (blue-green, 2 instances) on dev. The instances of a release fail their
 * health checks while the file `unhealthy(version)` exists; `watch` and `startTimeout` are the
 * service's post-deploy watch and start timeout.
 */
async function project(opts: { watch?: string; startTimeout?: string } = {}) {
  const [port, preview] = await freePorts(2);
  const holds = mkdtempSync(join(tmpdir(), 'gangway-holds-'));
  folders.push(holds);
  const p = await makeProject((ports: { api: number; metrics: number }) => `
${projectHeader('crash', ports)}environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        # Slow enough steps that the test can kill the orchestrator inside each one.
        env: { APP_VERSION: "\${release.version}", STARTUP_DELAY_MS: "700", HEALTH_FILE: "${holds}/unhealthy-\${release.version}" }
        instances: 2
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, failureThreshold: 3, startTimeout: ${opts.startTimeout ?? '10s'} }
    strategy:
      blueGreen: { previewPort: ${preview}, scaleDownDelay: 0s }
    smoke:
      - http: { path: "/slow?ms=700", expect: { status: 200 } }
    rollback: { watch: ${opts.watch ?? '2s'} }
`);
  projects.push(p);
  return { p, port, unhealthy: (version: string) => join(holds, `unhealthy-${version}`) };
}

async function deploy(p: Project, version: string): Promise<string> {
  const r = await p.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version });
  expect(r.status).toBe(201);
  return r.body.id;
}

/** Waits (via the API) until `ready` holds for the deployment; throws when it ends first. */
async function waitFor(p: Project, id: string, what: string, ready: (d: View) => boolean): Promise<View> {
  for (;;) {
    const d = (await p.api<View>('GET', `/v1/deployments/${id}`)).body;
    if (ready(d)) return d;
    if ((FINAL_PHASES as readonly string[]).includes(d.phase)) throw new Error(`deployment ended ${d.phase} (${d.message}) before ${what}`);
    await sleep(10);
  }
}

/** Resolves once the process is stopped (Linux: state T in /proc/<pid>/stat), so it runs no further. */
async function untilStopped(pid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    let state: string | undefined;
    try {
      state = /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    } catch {
      await sleep(5); // no /proc: give the signal time to land
      return;
    }
    if (state === 'T' || state === 't') return;
    await sleep(1);
  }
  throw new Error(`process ${pid} did not stop on SIGSTOP`);
}

/**
 * SIGKILLs the orchestrator at the first moment `at(deployment, steps)` holds — decided on the
 * state it dies with, not on an earlier look. Checking over the API and then killing is a
 * race: on a loaded machine the step can end (and the next start) between the answer and the
 * kill, and the test then sees no resume. So each look freezes the process (SIGSTOP), reads
 * the store directly (the API cannot answer while it is frozen; SQLite's WAL lets a reader in
 * while a writer is stopped), and either kills the frozen process — the store is then exactly
 * what was read — or lets it run on (SIGCONT). Throws when `missed` holds.
 */
async function killWhen(p: Project, id: string, what: string,
  at: (d: DeploymentRecord, steps: StepRecord[]) => boolean,
  missed: (d: DeploymentRecord, steps: StepRecord[]) => boolean): Promise<{ d: DeploymentRecord; steps: StepRecord[] }> {
  const proc = p.proc!;
  // A short busy timeout: a frozen writer may hold a lock the read needs, and waiting for it cannot help.
  const store = openSqliteStore(join(p.dir, '.gangway', 'state.db'), { busyTimeoutMs: 20 });
  try {
    for (;;) {
      proc.kill('SIGSTOP');
      try {
        await untilStopped(proc.pid!);
        const look = await readFrozen(store, id); // null: frozen mid-write; let it run on and look again
        if (look !== null && at(look.d, look.steps)) {
          await p.kill();
          return look;
        }
        if (look !== null && missed(look.d, look.steps)) {
          throw new Error(`missed ${what}: deployment ${look.d.phase} at step ${look.d.currentStep} (${look.steps[look.d.currentStep]?.status ?? 'end'})`);
        }
      } finally {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGCONT');
      }
      await sleep(10);
    }
  } finally {
    await store.close();
  }
}

/**
 * The deployment and its steps as the frozen process left them, or null when the store cannot
 * be read at this instant: SQLite answers SQLITE_BUSY or SQLITE_PROTOCOL to a reader when the
 * writer stopped while holding a WAL lock (mid-commit or mid-checkpoint).
 */
async function readFrozen(store: ReturnType<typeof openSqliteStore>, id: string): Promise<{ d: DeploymentRecord; steps: StepRecord[] } | null> {
  try {
    return { d: (await store.getDeployment(id))!, steps: await store.getSteps(id) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code === 'SQLITE_PROTOCOL')) return null;
    throw err;
  }
}

/** Kills the orchestrator while step `idx` runs (started, not finished); returns its title. */
async function killAtStep(p: Project, id: string, idx: number): Promise<string> {
  const { steps } = await killWhen(p, id, `step ${idx}`,
    (d, s) => d.currentStep === idx && s[idx]?.status === 'running',
    (d) => d.currentStep > idx || (FINAL_PHASES as readonly string[]).includes(d.phase));
  return steps[idx]!.title;
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
  }, LIMIT_MS);

  it('resumes the rollback of a bad release killed mid-rollback, and the stable release serves again', async () => {
    // The watch outlasts the test, so the abort lands during it whatever the machine's speed (the
    // first release has no watch: there is nothing to roll back to); the start timeout too, so
    // the rollback holds at its wait for healthy instances of 1.0.0 while they fail their checks.
    const { p, port, unhealthy } = await project({ watch: '60m', startTimeout: '60m' });
    await p.up();
    await waitForEnd(p, await deploy(p, '1.0.0'));
    const id = await deploy(p, '2.0.0');
    await waitFor(p, id, 'its watch', (d) => d.currentStep === 6 && d.steps[6]?.status === 'running');
    // The instances of 1.0.0 the rollback starts fail their health checks until the file is gone.
    writeFileSync(unhealthy('1.0.0'), '');
    expect((await p.api('POST', `/v1/deployments/${id}/abort`)).status).toBe(200);
    const waiting = 'wait for 2 healthy instances of 1.0.0';
    const { d: killed } = await killWhen(p, id, `the rollback step "${waiting}"`,
      (d, s) => d.phase === 'rolling_back' && s[d.currentStep]?.title === waiting && s[d.currentStep]?.status === 'running',
      (d, s) => (FINAL_PHASES as readonly string[]).includes(d.phase) || s.slice(0, d.currentStep).some((x) => x.title === waiting));
    rmSync(unhealthy('1.0.0'));
    await p.up();
    const end = await waitForEnd(p, id) as unknown as View;
    expect(end.phase).toBe('aborted');
    expect(end.steps[6]).toMatchObject({ title: 'watch 2.0.0 for 60m', status: 'failed' });
    expect(end.steps.filter((s) => s.stage === 'rollback').map((s) => [s.title, s.status])).toEqual([
      ['scale 1.0.0 to 2 instances', 'succeeded'],
      [waiting, 'succeeded'],
      ['all traffic to 1.0.0', 'succeeded'],
      ['stop 2.0.0', 'succeeded'],
    ]);
    expect(end.steps[killed.currentStep]).toMatchObject({ title: waiting, attempts: 2 });
    const events = (await p.api<Ev[]>('GET', `/v1/events?deployment=${id}&limit=1000`)).body;
    assertOnce(events, id, end.steps);
    expect(events.filter((e) => e.type === 'step.resumed').map((e) => e.data.idx)).toEqual([killed.currentStep]);
    expect((await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim()).toBe('1.0.0');
  }, LIMIT_MS);

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
  }, LIMIT_MS);
});
