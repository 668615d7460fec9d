/**
 * The local agent's worker killed with SIGKILL at a blue-green traffic switch, through the real
 * product (`gangway up`, the agent, real instances, a paced request loop in its own process):
 * the agent's keeper, which holds a copy of every listening socket, starts the worker again at
 * once; connections that arrive meanwhile wait in the kernel's backlog and are served by the new
 * worker, which re-adopts the running instances and takes the held public port over. The
 * deployment goes on and ends exactly once with the traffic on the new release.
 *
 * What may fail, and the bound asserted: only requests in flight in the killed worker (at most
 * one per loop worker: `CONCURRENCY`), as connection resets; never a refused connection, never
 * an HTTP error status. The longest time between two answers is measured and printed (a
 * `FAULT-FIGURES` JSON line), not asserted: it depends on the machine's load (bench/agent-restart
 * measures it).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { APP, projectHeader, freePorts, makeProject, sleep, waitForEnd, type Project } from './support/gangway.js';
import { startOutageLoad } from './support/outage.js';
import { connectAgent } from '../src/agent/client.js';

const LIMIT_MS = 300_000;
const CONCURRENCY = 4;
const PACE_MS = 10;

const projects: Project[] = [];

async function waitForState(ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await ok());) {
    if (Date.now() > deadline) throw new Error(`no new agent worker answered within ${timeoutMs} ms`);
    await sleep(20);
  }
}
afterAll(async () => { for (const p of projects) await p.cleanup(); }, LIMIT_MS);

interface View { id: string; phase: string; currentStep: number; steps: Array<{ idx: number; title: string; status: string; type: string }> }
interface Ev { type: string; deploymentId: string; data: { idx?: number; to?: string } }

describe('the local agent\'s worker killed with SIGKILL during a traffic switch', () => {
  it('is started again by its keeper; the public port holds connections meanwhile: only in-flight requests fail, none is refused, and the deployment ends once', async () => {
    const [port, preview] = await freePorts(2);
    const p = await makeProject((ports) => `
${projectHeader('agentkill', ports)}environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}" }
        instances: 2
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, failureThreshold: 3, startTimeout: 30s }
    strategy:
      blueGreen: { previewPort: ${preview}, scaleDownDelay: 60s }
    rollback: { watch: 3s }
`);
    projects.push(p);
    const agent = connectAgent(join(p.dir, '.gangway'));
    await p.up();
    const first = await p.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '1.0.0' });
    expect((await waitForEnd(p, first.body.id, 120_000)).phase).toBe('succeeded');
    const oldAgent = await agent.state();

    const load = startOutageLoad(port, CONCURRENCY, PACE_MS);
    await load.ready;
    const r = await p.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '2.0.0' });
    expect(r.status).toBe(201);
    const id = r.body.id;
    // Kill the agent as soon as the switch step has started.
    let atKill: View | null = null;
    for (;;) {
      const d = (await p.api<View>('GET', `/v1/deployments/${id}`)).body;
      const switchIdx = d.steps.findIndex((s) => s.type === 'traffic' && s.title === 'all traffic to 2.0.0');
      expect(switchIdx).toBeGreaterThan(0);
      if (d.currentStep >= switchIdx) { atKill = d; break; }
      if (d.phase !== 'running' && d.phase !== 'queued' && d.phase !== 'waiting') throw new Error(`deployment ${d.phase} before its switch`);
      await sleep(5);
    }
    process.kill(oldAgent.pid, 'SIGKILL');
    // Served again: a new worker answers, and the loop has had answers since.
    await waitForState(async () => {
      const st = await agent.state().catch(() => null);
      return st !== null && st.pid !== oldAgent.pid;
    }, 60_000);

    const end = await waitForEnd(p, id, 120_000) as unknown as View;
    const result = await load.stop();
    expect(end.phase).toBe('succeeded');
    const events = (await p.api<Ev[]>('GET', `/v1/events?deployment=${id}&limit=1000`)).body.filter((e) => e.deploymentId === id);
    for (const s of end.steps) expect(events.filter((e) => e.type === 'step.succeeded' && e.data.idx === s.idx), s.title).toHaveLength(1);
    expect(events.filter((e) => e.type === 'deployment.phase' && e.data.to === 'succeeded')).toHaveLength(1);

    // A new agent serves, with the instances it re-adopted (none restarted) and the new release routed.
    const st = await agent.state();
    expect(st.pid).not.toBe(oldAgent.pid);
    expect(st.keeperPid).toBe(oldAgent.keeperPid);
    expect(st.instances.filter((i) => i.version === '2.0.0').map((i) => [i.state, i.restarts])).toEqual([['ready', 0], ['ready', 0]]);
    expect((await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim()).toBe('2.0.0');

    // Only requests in flight at the kill failed, as resets: no connection was refused.
    const kinds = Object.keys(result.failures);
    expect(kinds.every((k) => /^(request|response) (ECONNRESET|socket hang up|EPIPE)$/.test(k)), JSON.stringify(result.failures)).toBe(true);
    const bound = CONCURRENCY;
    expect(result.failed).toBeLessThanOrEqual(bound);
    expect(result.versions['2.0.0']).toBeGreaterThan(0);
    process.stdout.write(`FAULT-FIGURES ${JSON.stringify({
      fault: 'agent SIGKILL at the blue-green switch', killedAtStep: atKill.currentStep,
      stepStatusAtKill: atKill.steps[atKill.currentStep]?.status ?? null,
      timeWithoutServiceMs: result.longestGapMs,
      failed: result.failed, failures: result.failures, ok: result.ok, bound,
    })}\n`);
  }, LIMIT_MS);
});
