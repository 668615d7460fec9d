import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateFile, isSameProcess, processInfo, type PersistedState } from './state-file.js';
import { appSpec } from '../../test/fixtures/agent-helpers.js';

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-state-')); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function sample(n: number): PersistedState {
  return {
    version: 1, agentPid: process.pid, savedAt: n,
    instances: [{ id: `web-dev-1-${n}`, spec: appSpec(), pid: 123, pidStartTime: '456', port: 4000 + n, state: 'ready', startedAt: 1, readyAt: 2, restarts: 0, logFile: '/tmp/x.log', seq: n }],
    routes: [{ service: 'web', environment: 'dev', host: '127.0.0.1', port: 8080, versions: [{ version: '1.0.0', weight: 100 }], preview: null }],
  };
}

describe('StateFile', () => {
  it('returns null when there is no file, and reads back what it wrote', async () => {
    const f = new StateFile(dir);
    expect(await f.load()).toBeNull();
    f.schedule(() => sample(1));
    await f.flush();
    expect(await f.load()).toEqual(sample(1));
    expect(fs.statSync(f.path).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['agent-state.json']);
  });

  it('keeps header routes and sticky sessions of a route across a write and a load', async () => {
    const f = new StateFile(dir);
    const state = sample(2);
    state.routes = [
      { ...state.routes[0]!, headerRoutes: [{ name: 'X-Canary', value: 'always', version: '2.0.0' }], sticky: { cookie: 'gw_web', ttlMs: 3_600_000 } },
      { ...state.routes[0]!, environment: 'prod', port: 8081, headerRoutes: [], sticky: null },
    ];
    f.schedule(() => state);
    await f.flush();
    const loaded = await f.load();
    expect(loaded?.routes).toEqual(state.routes);
    expect(loaded?.routes.map((r) => Object.keys(r))).toEqual([
      ['service', 'environment', 'port', 'host', 'versions', 'preview', 'headerRoutes', 'sticky'],
      ['service', 'environment', 'port', 'host', 'versions', 'preview', 'headerRoutes', 'sticky'],
    ]);
    // A file from before canary routing has neither field, and loads without them.
    f.schedule(() => sample(3));
    await f.flush();
    expect(Object.keys((await f.load())!.routes[0]!)).toEqual(['service', 'environment', 'port', 'host', 'versions', 'preview']);
  });

  it('coalesces a burst of changes into one write of the latest state', async () => {
    const f = new StateFile(dir);
    let calls = 0;
    for (let i = 1; i <= 5; i++) f.schedule(() => { calls++; return sample(i); });
    await f.flush();
    expect(calls).toBe(1);
    expect((await f.load())?.savedAt).toBe(5);
  });

  it('treats a corrupt file as absent and reports it', async () => {
    const errors: string[] = [];
    const f = new StateFile(dir, (e) => errors.push(String(e)));
    fs.writeFileSync(f.path, '{"version": 2}');
    expect(await f.load()).toBeNull();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('ignoring unreadable agent state file');
  });
});

describe('processInfo', () => {
  it('reads the start time of a live process and tells a reused pid from the original', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const info = processInfo(child.pid!);
      expect(info?.startTime).toMatch(/^\d+$/);
      expect(isSameProcess(child.pid!, info!.startTime)).toBe(true);
      expect(isSameProcess(child.pid!, String(Number(info!.startTime) + 1))).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    expect(processInfo(child.pid!)).toBeNull();
  });
});
