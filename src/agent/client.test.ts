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
  agentPids.add((await client.state()).pid);
  return client;
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
    const { pid } = await first.state();
    expect(pid).not.toBe(process.pid);
    expect(fs.statSync(path.join(stateDir, 'agent.sock')).mode & 0o777).toBe(0o600);
    const again = await ensureAgent({ stateDir, metricsPort: 0, mainScript: AGENT_MAIN });
    expect((await again.state()).pid).toBe(pid);
  });

  it('ends with one agent when two callers start one at the same time', async () => {
    const [a, b] = await Promise.all([
      ensureAgent({ stateDir, metricsPort: 0, mainScript: AGENT_MAIN }),
      ensureAgent({ stateDir, metricsPort: 0, mainScript: AGENT_MAIN }),
    ]);
    const [pa, pb] = [(await a.state()).pid, (await b.state()).pid];
    agentPids.add(pa);
    expect(pb).toBe(pa);
    // The losing agent exits by itself: only one main.js for this state directory remains.
    await waitFor('a single agent process', () => {
      const procs = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
        try { return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(stateDir) && alive(Number(d)); } catch { return false; }
      });
      return procs.length === 1 ? procs : undefined;
    });
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

describe('agent restart', () => {
  it('re-adopts running instances after the agent is killed, and serves the public port again', async () => {
    // Given an agent serving two instances behind a public port
    const client = await start();
    const started = await client.scale(appSpec(), 2, 0);
    for (const i of started) instancePids.add(i.pid!);
    await waitFor('two ready', async () => (await client.state()).instances.filter((i) => i.state === 'ready').length === 2);
    const port = await freePort();
    await client.setRoute({ service: 'web', environment: 'dev', host: '127.0.0.1', port, versions: [{ version: '1.0.0', weight: 100 }], preview: null });
    expect((await get(port, '/')).body).toBe('1.0.0\n');
    await waitFor('state file saved', () => {
      const saved = JSON.parse(fs.readFileSync(path.join(stateDir, 'agent-state.json'), 'utf8'));
      return saved.routes.length === 1 && saved.instances.filter((i: { state: string }) => i.state === 'ready').length === 2;
    });
    const oldAgent = (await client.state()).pid;

    // When the agent dies hard
    process.kill(oldAgent, 'SIGKILL');
    await waitFor('old agent gone', () => !alive(oldAgent));
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
    const oldAgent = (await client.state()).pid;
    process.kill(oldAgent, 'SIGTERM');
    await waitFor('old agent gone', () => !alive(oldAgent));
    expect(fs.existsSync(path.join(stateDir, 'agent.sock'))).toBe(false);
    expect(alive(ins!.pid!)).toBe(true);
    const next = await start();
    expect((await next.state()).instances.map((i) => [i.id, i.pid, i.restarts])).toEqual([[ins!.id, ins!.pid, 0]]);
  });
});
