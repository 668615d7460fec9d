import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.js';
import type { GangwayConfig } from '../config/types.js';
import type { GangwayError } from '../errors.js';
import { freePort } from '../agent/ports.js';
import { assertNotRunning, readLock, removeLock, writeLock } from './running.js';

let dir: string;
let config: GangwayConfig;
let port: number;
const cleanups: Array<() => unknown> = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gangway-running-'));
  port = await freePort();
  config = parseConfig(`project: shop\nserver: { host: 127.0.0.1, port: ${port} }\nenvironments:\n  dev: {}\nservices:\n  web:\n    target:\n      local: { command: ["node", "app.js"], port: 18080 }\n`, join(dir, 'gangway.yaml'));
  mkdirSync(config.stateDir, { recursive: true });
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(): Promise<GangwayError | null> {
  return assertNotRunning(config).then(() => null, (e: GangwayError) => e);
}

function listen(handler: http.RequestListener): Promise<void> {
  const srv = http.createServer(handler);
  cleanups.push(() => new Promise((r) => srv.close(r)));
  return new Promise((r) => srv.listen(port, '127.0.0.1', () => r()));
}

describe('assertNotRunning', () => {
  it('passes when nothing runs, and with a lock file left by a process that is gone', async () => {
    expect(await refusal()).toBeNull();
    writeLock(config.stateDir, { pid: 2 ** 22 + 17, url: `http://127.0.0.1:${port}`, command: 'up', startedAt: 0 });
    expect(await refusal()).toBeNull();
  });

  it('refuses when a Gangway API answers on the port, naming it', async () => {
    await listen((_req, res) => { res.setHeader('content-type', 'application/json'); res.end('{"ok":true,"version":"0.1.0"}'); });
    const err = await refusal();
    expect([err?.code, err?.message]).toEqual(['conflict', `an orchestrator for shop is already running: its API answers at http://127.0.0.1:${port}`]);
  });

  it('refuses when the lock file names a live gangway process, with its pid', async () => {
    const child: ChildProcess = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'gangway']);
    cleanups.push(() => child.kill('SIGKILL'));
    await new Promise((r) => child.once('spawn', r));
    writeLock(config.stateDir, { pid: child.pid!, url: `http://127.0.0.1:${port}`, command: 'demo', startedAt: Date.UTC(2025, 0, 1) });
    const err = await refusal();
    expect(err?.code).toBe('conflict');
    expect(err?.message).toBe(`an orchestrator for shop is already running (pid ${child.pid}, \`gangway demo\` since 2025-01-01T00:00:00Z), though its API at http://127.0.0.1:${port} does not answer`);
  });

  it('refuses another program on the API port as port_in_use', async () => {
    await listen((_req, res) => res.end('hello'));
    expect((await refusal())?.code).toBe('port_in_use');
  });

  it('removeLock removes only the lock this process wrote', () => {
    writeLock(config.stateDir, { pid: 1, url: 'x', command: 'up', startedAt: 0 });
    removeLock(config.stateDir);
    expect(readLock(config.stateDir)?.pid).toBe(1);
    writeLock(config.stateDir, { pid: process.pid, url: 'x', command: 'up', startedAt: 0 });
    removeLock(config.stateDir);
    expect(readLock(config.stateDir)).toBeNull();
  });
});
