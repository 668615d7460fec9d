import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgent, type RunningAgent } from '../../agent/agent.js';
import { connectAgent, type AgentClient } from '../../agent/client.js';
import { freePort } from '../../agent/ports.js';
import { parseConfig } from '../../config/load.js';
import type { LocalTargetConfig, ServiceEnvConfig } from '../../config/types.js';
import { APP, get, killHard, waitFor } from '../../../test/fixtures/agent-helpers.js';
import { describeTargetContract } from '../contract.js';
import { LocalTarget } from './local-target.js';

// The shared target contract, against one agent running the fixture app: a fresh service (and
// public port) per test; version 9.9.9 fails its health checks while its HEALTH_FILE exists.
describeTargetContract('local', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-contract-'));
  const running = await runAgent({ stateDir: dir, metricsPort: 0, handleSignals: false, exitProcess: false, supervisor: { killTimeoutMs: 1000, restartBackoff: { initialMs: 100 } } });
  const agentClient = connectAgent(dir);
  fs.writeFileSync(path.join(dir, 'unhealthy-9.9.9'), '');
  let seq = 0;
  return {
    target: new LocalTarget(agentClient),
    versions: { good: '1.0.0', other: '2.0.0', neverReady: '9.9.9' },
    async cfg(o = {}) {
      const name = `svc${++seq}`;
      const strategy = o.strategy === 'blueGreen' ? '{ blueGreen: {} }' : o.strategy === 'canary' ? '{ canary: {} }' : '{ rolling: {} }';
      const config = parseConfig(`project: shop
environments: { dev: {} }
services:
  ${name}:
    target:
      local:
        command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(APP)}]
        env: { APP_VERSION: "\${release.version}", HEALTH_FILE: "${path.join(dir, 'unhealthy-')}\${release.version}" }
        port: ${await freePort()}
        instances: ${o.instances ?? 2}
    health: { path: /health, interval: 100ms }
    drainTimeout: 0s
    strategy: ${strategy}
`, path.join(dir, 'gangway.yaml'), { env: {} });
      return config.services[name].dev;
    },
    async close() {
      const pids = (await agentClient.state().catch(() => ({ instances: [] }))).instances.map((i) => i.pid);
      await running.shutdown().catch(() => {});
      for (const pid of pids) if (pid) killHard(pid);
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    },
  };
});

// Given a local agent running in this process and the local target driving it like the engine does.
let stateDir: string;
let agent: RunningAgent;
let client: AgentClient;

const start = () => runAgent({ stateDir, metricsPort: 0, handleSignals: false, exitProcess: false, supervisor: { killTimeoutMs: 1000, restartBackoff: { initialMs: 100 } } });

beforeEach(async () => {
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-local-'));
  agent = await start();
  client = connectAgent(stateDir);
});

afterEach(async () => {
  const pids = (await client.state().catch(() => ({ instances: [] }))).instances.map((i) => i.pid);
  await agent.shutdown().catch(() => {});
  for (const pid of pids) if (pid) killHard(pid);
  fs.rmSync(stateDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
});

/** The web service in dev, blue-green with the given strategy line, running the fixture app. */
async function blueGreen(strategy: string): Promise<ServiceEnvConfig> {
  const port = await freePort();
  const config = parseConfig(`project: shop
environments: { dev: {} }
services:
  web:
    target:
      local:
        command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(APP)}]
        env: { APP_VERSION: "\${release.version}" }
        port: ${port}
    health: { path: /health, interval: 100ms }
    strategy: { blueGreen: ${strategy} }
`, path.join(stateDir, 'gangway.yaml'), { env: {} });
  return config.services.web.dev;
}

async function ready(target: LocalTarget, cfg: ServiceEnvConfig, version: string): Promise<void> {
  await target.scale(cfg, { version, image: null }, 1);
  await waitFor(`${version} ready`, async () => (await target.instances(cfg)).some((i) => i.version === version && i.state === 'ready'));
}

describe('local target: blue-green without a preview port', () => {
  it('gets a free port from the agent, serves the preview release on it, and keeps the port across an agent restart and later deployments', async () => {
    const cfg = await blueGreen('{ scaleDownDelay: 0s }');
    expect(cfg.strategy).toMatchObject({ kind: 'blueGreen', previewPort: null });
    let target = new LocalTarget(client);
    expect(await target.traffic(cfg)).toMatchObject({ preview: null, previewPort: null });
    expect(await target.reach(cfg, '2.0.0', { preview: true })).toBeNull();

    await ready(target, cfg, '1.0.0');
    await ready(target, cfg, '2.0.0');
    await target.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: '2.0.0' });
    const traffic = await target.traffic(cfg);
    const port = traffic.previewPort!;
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(cfg.target.port);
    expect(traffic).toMatchObject({ versions: [{ version: '1.0.0', weight: 100 }], preview: '2.0.0' });
    expect(await target.reach(cfg, '2.0.0', { preview: true })).toEqual({ url: `http://127.0.0.1:${port}`, headers: {}, describe: `preview port ${port}` });
    expect(await target.reach(cfg, '1.0.0', { preview: true })).toBeNull();
    expect((await get(port, '/')).body).toBe('2.0.0\n');
    expect((await get((cfg.target as LocalTargetConfig).port, '/')).body).toBe('1.0.0\n');
    expect((await client.state()).previewPorts).toEqual([{ service: 'web', environment: 'dev', port }]);

    // The agent is replaced (instances keep running): the preview is back on the same port.
    await agent.close();
    agent = await start();
    target = new LocalTarget(client);
    expect(await target.traffic(cfg)).toMatchObject({ preview: '2.0.0', previewPort: port });
    expect((await get(port, '/')).body).toBe('2.0.0\n');

    // The switch closes the preview; the port stays reported and is reused by the next deployment, after another restart.
    await target.setTraffic(cfg, { versions: [{ version: '2.0.0', weight: 100 }], preview: null });
    await expect(get(port, '/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(await target.traffic(cfg)).toMatchObject({ preview: null, previewPort: port });
    await agent.close();
    agent = await start();
    target = new LocalTarget(client);
    await ready(target, cfg, '3.0.0');
    await target.setTraffic(cfg, { versions: [{ version: '2.0.0', weight: 100 }], preview: '3.0.0' });
    expect(await target.traffic(cfg)).toMatchObject({ preview: '3.0.0', previewPort: port });
    expect((await get(port, '/')).body).toBe('3.0.0\n');
  });

  it('chooses another port when another process took the kept one while the preview was closed', async () => {
    const cfg = await blueGreen('{}');
    const target = new LocalTarget(client);
    await ready(target, cfg, '1.0.0');
    await target.setTraffic(cfg, { versions: [], preview: '1.0.0' });
    const first = (await target.traffic(cfg)).previewPort!;
    await target.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: null });

    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(first, '127.0.0.1', r));
    try {
      await target.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: '1.0.0' });
      const second = (await target.traffic(cfg)).previewPort!;
      expect(second).not.toBe(first);
      expect((await get(second, '/')).body).toBe('1.0.0\n');
      expect((await client.state()).previewPorts).toEqual([{ service: 'web', environment: 'dev', port: second }]);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });

  it('an explicit previewPort is used as it is', async () => {
    const preview = await freePort();
    const cfg = await blueGreen(`{ previewPort: ${preview} }`);
    const target = new LocalTarget(client);
    await ready(target, cfg, '1.0.0');
    await target.setTraffic(cfg, { versions: [], preview: '1.0.0' });
    expect(await target.traffic(cfg)).toMatchObject({ preview: '1.0.0', previewPort: preview });
    expect(await target.reach(cfg, '1.0.0', { preview: true })).toEqual({ url: `http://127.0.0.1:${preview}`, headers: {}, describe: `preview port ${preview}` });
    expect((await get(preview, '/')).body).toBe('1.0.0\n');
    expect((await client.state()).previewPorts).toEqual([]);
  });
});
