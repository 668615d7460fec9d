import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnreachableError } from '../errors.js';
import { connectAgent, ensureAgent, type AgentClient } from './client.js';
import { freePort } from './ports.js';
import { AGENT_MAIN, alive, appSpec, get, killHard, waitFor } from '../../test/fixtures/agent-helpers.js';

// These suites run the built agent (dist/agent/main.js) as a real, separate process.
let stateDir: string;
const agentPids = new Set<number>();
const instancePids = new Set<number>();

beforeEach(() => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-client-'));
});

afterEach(async () => {
  await connectAgent(stateDir).shutdown().catch(() => {});
  for (const pid of [...agentPids, ...instancePids]) killHard(pid);
  agentPids.clear();
  instancePids.clear();
  // Retries: an instance that just exited may still be appending its last log line.
  fs.rmSync(stateDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
});

async function start(): Promise<AgentClient> {
  const client = await ensureAgent({ stateDir, metricsPort: 0, mainScript: AGENT_MAIN });
  const st = await client.state();
  // The keeper leads the process group of itself and its worker: killHard ends both.
  agentPids.add(st.keeperPid!);
  agentPids.add(st.pid);
  return client;
}

/**
 * Waits until this state directory has exactly one agent: the keeper, the serving worker `pid`
 * and one spare worker, both children of the keeper. Returns the spare's pid.
 */
async function oneAgent(keeperPid: number, pid: number): Promise<number> {
  const parentOf = (p: number) => Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  const procs = await waitFor('one keeper, its worker and its spare', () => {
    const p = agentProcesses();
    return p.keepers.length === 1 && p.workers.length === 2 ? p : undefined;
  });
  expect(procs.keepers).toEqual([keeperPid]);
  expect(procs.workers).toContain(pid);
  expect(procs.workers.map(parentOf)).toEqual([keeperPid, keeperPid]);
  return procs.workers.find((w) => w !== pid)!;
}

/** The agent processes (keepers and workers, spares included) running for this test's state directory. */
function agentProcesses(): { keepers: number[]; workers: number[] } {
  const out = { keepers: [] as number[], workers: [] as number[] };
  for (const d of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (!argv.includes(stateDir) || !alive(Number(d))) continue;
      (argv.includes('--worker') ? out.workers : out.keepers).push(Number(d));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

describe('AgentClient', () => {
  it('reports an agent that is not running as unreachable', async () => {
    const err = await connectAgent(stateDir).state().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err).toMatchObject({ code: 'unreachable', message: 'the local agent is not running', hint: 'start it with `gangway up`' });
  });
});

describe('ensureAgent', () => {
  it('starts a detached agent once and reuses it afterwards', async () => {
    const first = await start();
    const { pid, keeperPid } = await first.state();
    expect(pid).not.toBe(process.pid);
    // A keeper, its worker and a spare worker, both children of the keeper.
    await oneAgent(keeperPid!, pid);
    expect(fs.statSync(path.join(stateDir, 'agent.sock')).mode & 0o777).toBe(0o600);
    const again = await ensureAgent({ stateDir, metricsPort: 0, mainScript: AGENT_MAIN });
    expect((await again.state()).pid).toBe(pid);
  });

  it('ends with one agent when two callers start one at the same time', async () => {
    const [a, b] = await Promise.all([
      ensureAgent({ stateDir, metricsPort: 0, mainScript: AGENT_MAIN }),
      ensureAgent({ stateDir, metricsPort: 0, mainScript: AGENT_MAIN }),
    ]);
    const [sa, sb] = [await a.state(), await b.state()];
    agentPids.add(sa.keeperPid!);
    agentPids.add(sa.pid);
    expect(sb.pid).toBe(sa.pid);
    // The losing agent (its keeper and worker) exits by itself: one agent remains.
    await oneAgent(sa.keeperPid!, sa.pid);
  });

  it('fails with the tail of agent.log when the agent cannot start', async () => {
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await ensureAgent({ stateDir, metricsPort: port, mainScript: AGENT_MAIN }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'unreachable', message: 'the local agent exited with code 1 right after starting' });
      expect((err as UnreachableError).hint).toContain(`gangway agent: port ${port} on 127.0.0.1 is already in use by another process`);
      expect(fs.existsSync(path.join(stateDir, 'agent.sock'))).toBe(false);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

/** An agent serving two ready instances of the fixture app behind a public port. */
async function servingAgent(): Promise<{ client: AgentClient; started: Awaited<ReturnType<AgentClient['scale']>>; port: number }> {
  const client = await start();
  const started = await client.scale(appSpec(), 2, 0);
  for (const i of started) instancePids.add(i.pid!);
  await waitFor('two ready', async () => (await client.state()).instances.filter((i) => i.state === 'ready').length === 2);
  const port = await freePort();
  await client.setRoute({ service: 'web', environment: 'dev', host: '127.0.0.1', port, versions: [{ version: '1.0.0', weight: 100 }], preview: null });
  expect((await get(port, '/')).body).toBe('1.0.0\n');
  return { client, started, port };
}

describe('agent restart', () => {
  it('a worker killed with SIGKILL is started again by its keeper: the public port holds connections meanwhile and none is refused', async () => {
    const { client, started, port } = await servingAgent();
    const before = await client.state();
    const spare = await oneAgent(before.keeperPid!, before.pid);

    // When the worker dies hard, and requests arrive before a new one runs
    process.kill(before.pid, 'SIGKILL');
    await waitFor('old worker gone', () => !alive(before.pid));
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => get(port, '/')));

    // Then every one is served, by the spare now serving, which adopted the instances unrestarted
    expect(answers.map((a) => [a.status, a.body])).toEqual(Array(5).fill([200, '1.0.0\n']));
    const after = await client.state();
    agentPids.add(after.pid);
    expect(after.pid).toBe(spare);
    expect(after.keeperPid).toBe(before.keeperPid);
    expect(after.instances.map((i) => [i.id, i.pid, i.port, i.restarts, i.state])).toEqual(started.map((i) => [i.id, i.pid, i.port, 0, 'ready']));
    agentPids.add(await oneAgent(before.keeperPid!, after.pid));
    const log = fs.readFileSync(path.join(stateDir, 'agent.log'), 'utf8');
    expect(log).toContain('"msg":"agent worker died; starting it again, the sockets held"');
  });

  it('re-adopts running instances after the whole agent (keeper and worker) is killed, and serves the public port again', async () => {
    // Given an agent serving two instances behind a public port
    const { client, started, port } = await servingAgent();
    await waitFor('state file saved', () => {
      const saved = JSON.parse(fs.readFileSync(path.join(stateDir, 'agent-state.json'), 'utf8'));
      return saved.routes.length === 1 && saved.instances.filter((i: { state: string }) => i.state === 'ready').length === 2;
    });
    const { pid: oldAgent, keeperPid } = await client.state();

    // When the agent dies hard, keeper and worker
    process.kill(-keeperPid!, 'SIGKILL');
    await waitFor('old agent gone', () => !alive(oldAgent) && !alive(keeperPid!));
    expect(started.every((i) => alive(i.pid!))).toBe(true);
    await expect(get(port, '/')).rejects.toMatchObject({ code: expect.stringMatching(/^ECONN(REFUSED|RESET)$/) });

    // Then a new agent adopts the same processes without restarting them, and the port answers at once
    const next = await start();
    const st = await next.state();
    expect(st.pid).not.toBe(oldAgent);
    expect(st.instances.map((i) => [i.id, i.pid, i.port, i.restarts, i.state])).toEqual(started.map((i) => [i.id, i.pid, i.port, 0, 'ready']));
    expect(st.routes.map((r) => r.port)).toEqual([port]);
    expect((await get(port, '/')).body).toBe('1.0.0\n');
  });

  it('keeps instances running on SIGTERM and re-adopts them on the next start', async () => {
    const client = await start();
    const [ins] = await client.scale(appSpec(), 1, 0);
    instancePids.add(ins!.pid!);
    const { pid: oldAgent, keeperPid } = await client.state();
    process.kill(oldAgent, 'SIGTERM');
    // A worker that ends cleanly ends its keeper too.
    await waitFor('old agent gone', () => !alive(oldAgent) && !alive(keeperPid!));
    expect(fs.existsSync(path.join(stateDir, 'agent.sock'))).toBe(false);
    expect(alive(ins!.pid!)).toBe(true);
    const next = await start();
    expect((await next.state()).instances.map((i) => [i.id, i.pid, i.restarts])).toEqual([[ins!.id, ins!.pid, 0]]);
  });
});
