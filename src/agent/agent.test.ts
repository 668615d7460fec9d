import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgent, type RunningAgent } from './agent.js';
import { connectAgent, type AgentClient } from './client.js';
import { freePort } from './ports.js';
import { alive, appSpec, get, killHard, waitFor } from '../../test/fixtures/agent-helpers.js';
import type { RouteSpec } from './types.js';

// Given an agent running in this process, driven through its control socket like the engine does.
let stateDir: string;
let agent: RunningAgent;
let client: AgentClient;

beforeEach(async () => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-agent-'));
  agent = await runAgent({ stateDir, metricsPort: 0, handleSignals: false, exitProcess: false, supervisor: { killTimeoutMs: 1000, restartBackoff: { initialMs: 100 } } });
  client = connectAgent(stateDir);
});

afterEach(async () => {
  // Whatever happened in the test, no instance may outlive it.
  const pids = (await client.state().catch(() => ({ instances: [] }))).instances.map((i) => i.pid);
  await agent.shutdown().catch(() => {});
  for (const pid of pids) if (pid) killHard(pid);
  // Retries: an instance that just exited may still be appending its last log line.
  fs.rmSync(stateDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
});

async function readyVersions(versions: string[], count = 1): Promise<void> {
  await waitFor(`ready ${versions.join(', ')}`, async () => {
    const st = await client.state();
    return versions.every((v) => st.instances.filter((i) => i.version === v && i.state === 'ready').length === count);
  });
}

function route(port: number, versions: RouteSpec['versions']): RouteSpec {
  return { service: 'web', environment: 'dev', host: '127.0.0.1', port, versions, preview: null };
}

describe('agent control API', () => {
  it('serves on a 0600 socket and reports its state', async () => {
    expect(fs.statSync(agent.socketPath).mode & 0o777).toBe(0o600);
    const st = await client.state();
    expect(st.pid).toBe(process.pid);
    expect(st.instances).toEqual([]);
    expect(st.routes).toEqual([]);
  });

  it('rejects invalid requests and failed starts with the agent error as a GangwayError', async () => {
    const bad = await client.scale(appSpec(), -1, 0).catch((e: unknown) => e);
    expect(bad).toMatchObject({ name: 'GangwayError', code: 'invalid_argument', message: 'invalid request: count: Too small: expected number to be >=0' });
    const spec = appSpec({ command: ['gangway-no-such-command'], cwd: stateDir });
    const err = await client.scale(spec, 1, 0).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'invalid_argument', message: `cannot start web 1.0.0 in dev: command "gangway-no-such-command" not found (cwd ${stateDir})`, hint: 'check services.web.target.local (command and cwd) in gangway.yaml' });
  });

  it('refuses to start a second agent on the same state directory', async () => {
    const err = await runAgent({ stateDir, metricsPort: 0, handleSignals: false, exitProcess: false }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'conflict', message: `another agent is already running on ${agent.socketPath}` });
    expect((await client.state()).pid).toBe(process.pid);
  });

  it('rejects a route whose port another process holds, naming the port', async () => {
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await client.setRoute(route(port, [{ version: '1.0.0', weight: 100 }])).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'port_in_use', message: `port ${port} on 127.0.0.1 is already in use by another process` });
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

describe('agent traffic through the proxy', () => {
  it('sends requests by route weight and switches versions atomically', async () => {
    await client.scale(appSpec({ version: '1.0.0' }), 1, 0);
    await client.scale(appSpec({ version: '2.0.0' }), 1, 0);
    await readyVersions(['1.0.0', '2.0.0']);
    const port = await freePort();

    await client.setRoute(route(port, [{ version: '1.0.0', weight: 100 }, { version: '2.0.0', weight: 0 }]));
    const first = await Promise.all(Array.from({ length: 10 }, () => get(port, '/')));
    expect(first.map((r) => `${r.status} ${r.body}`)).toEqual(Array(10).fill('200 1.0.0\n'));

    await client.setRoute(route(port, [{ version: '1.0.0', weight: 1 }, { version: '2.0.0', weight: 1 }]));
    const mixed = [];
    for (let i = 0; i < 20; i++) mixed.push(await get(port, '/'));
    expect(mixed.every((r) => r.status === 200)).toBe(true);
    expect(new Set(mixed.map((r) => r.body))).toEqual(new Set(['1.0.0\n', '2.0.0\n']));

    await client.setRoute(route(port, [{ version: '2.0.0', weight: 100 }]));
    const last = await Promise.all(Array.from({ length: 10 }, () => get(port, '/')));
    expect(last.map((r) => r.body)).toEqual(Array(10).fill('2.0.0\n'));
    expect((await client.state()).routes).toEqual([route(port, [{ version: '2.0.0', weight: 100 }])]);
  });

  it('drains: a slow in-flight request completes with 200 while its instance is being stopped', async () => {
    await client.scale(appSpec(), 1, 0);
    await readyVersions(['1.0.0']);
    const port = await freePort();
    await client.setRoute(route(port, [{ version: '1.0.0', weight: 100 }]));
    const [ins] = (await client.state()).instances;

    const slow = get(port, '/slow?ms=700');
    await waitFor('request in flight', async () => (await client.state()).instances[0]?.inflight === 1);
    const stopping = client.stopVersion('web', 'dev', '1.0.0', 10_000);
    await waitFor('stopping', async () => (await client.state()).instances[0]?.state === 'stopping');
    expect(alive(ins!.pid!)).toBe(true);

    const res = await slow;
    expect(res.status).toBe(200);
    expect(res.body).toBe('slow 1.0.0\n');
    await stopping;
    expect((await client.state()).instances).toEqual([]);
    expect(alive(ins!.pid!)).toBe(false);
    expect((await get(port, '/')).status).toBe(503);
  });

  it('serves request metrics and agent gauges on the metrics port only for GET /metrics', async () => {
    await client.scale(appSpec(), 2, 0);
    await readyVersions(['1.0.0'], 2);
    const port = await freePort();
    await client.setRoute(route(port, [{ version: '1.0.0', weight: 100 }]));
    expect((await get(port, '/')).status).toBe(200);

    const m = await get(agent.metricsPort, '/metrics');
    expect(m.status).toBe(200);
    expect(m.body).toContain('gangway_agent_instances{service="web",environment="dev",version="1.0.0",state="ready"} 2\n');
    expect(m.body).toMatch(/gangway_agent_instance_restarts_total\{service="web",environment="dev",version="1.0.0",instance="web-dev-1\.0\.0-[0-9a-f]{6}"\} 0\n/);
    expect(m.body).toMatch(/http_requests_total\{[^}]*version="1\.0\.0"[^}]*\} 1\n/);
    expect(await client.metrics()).toBe(m.body);
    expect((await get(agent.metricsPort, '/v1/state')).status).toBe(404);
  });

  it('returns instance logs through the client', async () => {
    const [ins] = await client.scale(appSpec(), 1, 0);
    await readyVersions(['1.0.0']);
    const logs = await client.logs('web', 'dev', '1.0.0', 1);
    expect(logs).toEqual([{ instance: ins!.id, version: '1.0.0', lines: [`app 1.0.0 listening on 127.0.0.1:${ins!.port} (pid ${ins!.pid})`] }]);
  });

  it('shutdown stops every instance and listener, removes the socket and leaves an empty state file', async () => {
    const started = await client.scale(appSpec(), 2, 0);
    const port = await freePort();
    await client.setRoute(route(port, [{ version: '1.0.0', weight: 100 }]));
    await client.shutdown();
    await agent.done;
    expect(started.every((i) => !alive(i.pid!))).toBe(true);
    expect(fs.existsSync(agent.socketPath)).toBe(false);
    const saved = JSON.parse(fs.readFileSync(path.join(stateDir, 'agent-state.json'), 'utf8'));
    expect([saved.instances, saved.routes]).toEqual([[], []]);
    await expect(get(port, '/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(client.state()).rejects.toMatchObject({ code: 'unreachable', message: 'the local agent is not running', hint: 'start it with `gangway up`' });
  });
});
