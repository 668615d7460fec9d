/**
 * Faults of the PostgreSQL store, through the real product (`gangway up` on embedded
 * PostgreSQL, the local agent, real instances):
 * - given a deployment in a step, when PostgreSQL restarts (fast shutdown, started again on the
 *   same port and data folder), then the orchestrator reconnects and the deployment continues
 *   from its step: each step succeeds exactly once in the event log and it ends exactly once;
 * - given a deployment in a step, when the database stays unreachable for longer than the
 *   deployment lease, then the runner lets the deployment go before its lease expires, no
 *   further step starts (traffic stays on the stable release), and once the database is back
 *   the deployment resumes and finishes exactly once, its instances started once.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APP, projectHeader, freePorts, makeProject, sleep, waitForEnd, type Project } from './support/gangway.js';
import { startPostgresOrSkip } from './support/postgres.js';
import { connectAgent } from '../src/agent/client.js';
import { FINAL_PHASES } from '../src/store/types.js';

/** Limits against a hang, not claims about speed (two `gangway up` starts and an outage of the lease time and more). */
const LIMIT_MS = 300_000;
/** The runner's default deployment lease (src/engine/runner.ts). */
const LEASE_MS = 15_000;

const server = await startPostgresOrSkip('PostgreSQL fault tests');
const projects: Project[] = [];
const folders: string[] = [];
afterAll(async () => {
  await server?.resume().catch(() => undefined);
  for (const p of projects) await p.cleanup();
  for (const f of folders) rmSync(f, { recursive: true, force: true });
  await server?.stop();
}, LIMIT_MS);

interface View { id: string; phase: string; currentStep: number; message: string | null; steps: Array<{ idx: number; title: string; status: string; attempts: number }> }
interface Ev { type: string; deploymentId: string; data: { idx?: number; to?: string } }

async function project() {
  const [port, preview] = await freePorts(2);
  const holds = mkdtempSync(join(tmpdir(), 'gangway-holds-'));
  folders.push(holds);
  const url = await server!.createDatabase();
  const p = await makeProject((ports) => `
${projectHeader('pgfaults', ports)}store: { postgres: { url: "${url}" } }
environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", HEALTH_FILE: "${holds}/unhealthy-\${release.version}" }
        instances: 2
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, failureThreshold: 3, startTimeout: 10m }
    strategy:
      blueGreen: { previewPort: ${preview}, scaleDownDelay: 0s }
    rollback: { watch: 1s }
`);
  projects.push(p);
  const hold = join(holds, 'unhealthy-2.0.0');
  return { p, port, hold, agent: connectAgent(join(p.dir, '.gangway')) };
}

async function deploy(p: Project, version: string): Promise<string> {
  const r = await p.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version });
  expect(r.status).toBe(201);
  return r.body.id;
}

async function until(what: string, ok: () => Promise<boolean> | boolean, limitMs = 120_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Waits (via the API) until step `idx` runs. */
async function untilStepRuns(p: Project, id: string, idx: number): Promise<void> {
  await until(`step ${idx} to run`, async () => {
    const d = (await p.api<View>('GET', `/v1/deployments/${id}`)).body;
    if ((FINAL_PHASES as readonly string[]).includes(d.phase)) throw new Error(`deployment ended ${d.phase} (${d.message})`);
    return d.currentStep === idx && d.steps[idx]?.status === 'running';
  });
}

async function servedBy(port: number): Promise<string> {
  return (await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim();
}

/** Fails with the tail of the orchestrator's log when `gangway up` is no longer running. */
function assertRunning(p: Project): void {
  if (p.proc && p.proc.exitCode === null && p.proc.signalCode === null) return;
  const log = join(p.dir, '.gangway', 'orchestrator.log');
  const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';
  throw new Error(`gangway up exited (${p.proc?.exitCode ?? p.proc?.signalCode}); its log ends:\n${tail}`);
}

/** Each step succeeded and started exactly once; the deployment ended exactly once. */
async function assertExactlyOnce(p: Project, id: string): Promise<{ end: View; events: Ev[] }> {
  await until('the orchestrator to answer', async () => {
    assertRunning(p);
    return (await p.api('GET', '/healthz').catch(() => ({ status: 0 }))).status === 200;
  });
  const end = await waitForEnd(p, id, 120_000) as unknown as View;
  expect([end.phase, end.message]).toEqual(['succeeded', null]);
  expect(end.steps.map((s) => s.status)).toEqual(end.steps.map(() => 'succeeded'));
  const events = (await p.api<Ev[]>('GET', `/v1/events?deployment=${id}&limit=1000`)).body.filter((e) => e.deploymentId === id);
  for (const s of end.steps) {
    expect(events.filter((e) => e.type === 'step.succeeded' && e.data.idx === s.idx), `step ${s.idx} ${s.title} succeeded`).toHaveLength(1);
    expect(events.filter((e) => e.type === 'step.started' && e.data.idx === s.idx), `step ${s.idx} ${s.title} started`).toHaveLength(1);
  }
  expect(events.filter((e) => e.type === 'deployment.phase' && ['succeeded', 'failed', 'rolled_back', 'aborted'].includes(e.data.to ?? ''))).toHaveLength(1);
  const audit = await p.api<{ ok: boolean }>('GET', '/v1/audit/verify');
  if (audit.status === 200) expect(audit.body.ok).toBe(true);
  return { end, events };
}

describe.skipIf(!server)('PostgreSQL faults during a deployment', () => {
  it('PostgreSQL restarted in the middle of a step: the deployment continues from its step and ends exactly once', async () => {
    const { p, port, hold, agent } = await project();
    await p.up();
    expect((await waitForEnd(p, await deploy(p, '1.0.0'), 120_000)).phase).toBe('succeeded');
    writeFileSync(hold, '');
    const id = await deploy(p, '2.0.0');
    // Plan: 0 gates, 1 run 2 instances, 2 wait for 2 healthy instances, 3 preview, 4 smoke, 5 switch, 6 watch.
    await untilStepRuns(p, id, 2);

    await server!.pause();
    // While the database is down the instances turn healthy: the step's work is done but cannot be recorded.
    unlinkSync(hold);
    await until('2.0.0 ready', async () => (await agent.state()).instances.filter((i) => i.version === '2.0.0' && i.state === 'ready').length === 2);
    expect(await servedBy(port)).toBe('1.0.0');
    await server!.resume();

    const { events } = await assertExactlyOnce(p, id);
    assertRunning(p);
    expect(await servedBy(port)).toBe('2.0.0');
    // No step ran twice on the target either: the instances of 2.0.0 were started once.
    const mine = (await agent.state()).instances.filter((i) => i.version === '2.0.0');
    expect(mine.map((i) => [i.state, i.restarts])).toEqual([['ready', 0], ['ready', 0]]);
    expect(events.filter((e) => e.type === 'step.resumed').every((e) => e.data.idx === 2)).toBe(true);
  }, LIMIT_MS);

  it('the database unreachable for longer than the lease: work stops, nothing is done twice, it resumes after', async () => {
    const { p, port, hold, agent } = await project();
    await p.up();
    expect((await waitForEnd(p, await deploy(p, '1.0.0'), 120_000)).phase).toBe('succeeded');
    writeFileSync(hold, '');
    const id = await deploy(p, '2.0.0');
    await untilStepRuns(p, id, 2);
    const started = (await agent.state()).instances.filter((i) => i.version === '2.0.0').map((i) => i.id).sort();
    expect(started).toHaveLength(2);

    const log = join(p.dir, '.gangway', 'orchestrator.log');
    const letGo = () => existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('lease could not be renewed')).length : 0;
    const before = letGo();
    const downAt = Date.now();
    await server!.pause();
    // The runner lets the deployment go before its lease may expire (it cannot renew it).
    await until('the runner to let the deployment go', () => letGo() > before, LEASE_MS * 4);
    unlinkSync(hold);
    await until('2.0.0 ready', async () => (await agent.state()).instances.filter((i) => i.version === '2.0.0' && i.state === 'ready').length === 2);
    // Outlast the lease by a margin: the outage is the scenario, not a wait for a condition.
    await sleep(Math.max(0, downAt + LEASE_MS + 3000 - Date.now()));
    // Nothing went on while the store could not be written: no preview, no switch.
    const during = await agent.state();
    const route = during.routes.find((r) => r.service === 'web');
    expect([route?.versions, route?.preview ?? null]).toEqual([[{ version: '1.0.0', weight: 100 }], null]);
    expect(await servedBy(port)).toBe('1.0.0');
    assertRunning(p);
    await server!.resume();

    await assertExactlyOnce(p, id);
    expect(await servedBy(port)).toBe('2.0.0');
    const after = (await agent.state()).instances.filter((i) => i.version === '2.0.0');
    expect(after.map((i) => i.id).sort()).toEqual(started);
    expect(after.map((i) => i.restarts)).toEqual([0, 0]);
  }, LIMIT_MS);
});
