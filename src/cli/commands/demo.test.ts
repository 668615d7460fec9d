/**
 * `gangway demo` as users run it (built CLI in dist/), on a copy of examples/demo with free
 * ports (GANGWAY_DEMO_DIR): a second demo refuses without touching the first, and Ctrl-C
 * with the output piped into a reader that went away still stops everything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, freePorts, runCli, sleep } from '../../../test/support/gangway.js';
import { connectAgent } from '../../agent/client.js';
import type { AgentState } from '../../agent/types.js';

let dir: string;
let ports: { api: number; metrics: number; dev: number; staging: number; prod: number; preview: number };
let first: ChildProcess;
let firstOut = '';
let firstExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
const env = () => ({ ...process.env, GANGWAY_DEMO_DIR: dir, GANGWAY_LOG_LEVEL: 'warn' });

async function answers(port: number, path = '/'): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gangway-demo-'));
  const [api, metrics, dev, staging, prod, preview] = await freePorts(6);
  ports = { api, metrics, dev, staging, prod, preview };
  copyFileSync(join(ROOT, 'examples/demo/app.js'), join(dir, 'app.js'));
  const yaml = readFileSync(join(ROOT, 'examples/demo/gangway.yaml'), 'utf8')
    .replace('port: 7400', `port: ${api}`).replace('metricsPort: 7401', `metricsPort: ${metrics}`)
    .replace('port: 8081', `port: ${dev}`).replace('port: 8082', `port: ${staging}`)
    .replace('port: 8083', `port: ${prod}`).replace('previewPort: 8093', `previewPort: ${preview}`);
  writeFileSync(join(dir, 'gangway.yaml'), yaml);
  first = spawn(process.execPath, [CLI, 'demo'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  firstExit = new Promise((r) => first.once('exit', (code, signal) => r({ code, signal })));
  first.stdout!.on('data', (b: Buffer) => { firstOut += b.toString(); });
  first.stderr!.on('data', (b: Buffer) => { firstOut += b.toString(); });
  // Running once dev serves the first release (the rest of the demo need not have finished).
  for (let i = 0; !(await answers(ports.dev)); i++) {
    if (first.exitCode !== null || i > 600) throw new Error(`the demo did not start: ${firstOut}`);
    await sleep(100);
  }
}, 90_000);

afterAll(async () => {
  if (first && first.exitCode === null) {
    first.kill('SIGINT');
    await Promise.race([firstExit, sleep(15_000)]);
    if (first.exitCode === null) first.kill('SIGKILL');
  }
  await connectAgent(join(dir, '.gangway')).shutdown().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('gangway demo', () => {
  it('a second demo refuses at once, naming the running one, and changes nothing', async () => {
    const token = readFileSync(join(dir, '.gangway/token'), 'utf8');
    const agentBefore = await connectAgent(join(dir, '.gangway')).state();
    const second = await new Promise<{ code: number | null; stdout: string; stderr: string; firstRunning: boolean }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'demo'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
      child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
      child.once('close', (code) => resolve({ code, stdout, stderr, firstRunning: first.exitCode === null && first.signalCode === null }));
    });
    // At once: it refuses while the first demo runs (it does not wait for it to stop) and before
    // it starts anything of its own (the demo's first line, "Starting the Gangway demo", never comes).
    expect(second.firstRunning).toBe(true);
    expect(second.stdout).toBe('');
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`error: the demo is already running: its API answers at http://127.0.0.1:${ports.api} (pid ${first.pid}, \`gangway demo\``);
    expect(second.stderr).toContain('nothing was changed');
    // The first demo carries on: same agent, same token, its ports and CLI answer.
    expect((await connectAgent(join(dir, '.gangway')).state()).pid).toBe(agentBefore.pid);
    expect(readFileSync(join(dir, '.gangway/token'), 'utf8')).toBe(token);
    expect(await answers(ports.dev)).toBe(true);
    expect((await runCli(dir, ['status'])).code).toBe(0);
  }, 90_000); // a limit against a hang: it starts two CLI processes, each slow to start on a loaded machine

  it('a second `gangway up` on the demo refuses the same way', async () => {
    const r = await runCli(dir, ['up']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`is already running: its API answers at http://127.0.0.1:${ports.api} (pid ${first.pid}`);
    expect(existsSync(join(dir, '.gangway/token'))).toBe(true);
  }, 30_000);

  it('Ctrl-C stops the agent and every instance even when the output pipe has closed', async () => {
    const state: AgentState = await connectAgent(join(dir, '.gangway')).state();
    const pids = [state.pid, ...state.instances.map((i) => i.pid).filter((p): p is number => p !== null)];
    expect(pids.length).toBeGreaterThan(1);
    // As `npm start | tee log` after Ctrl-C reached tee first: nobody reads the demo's output any more.
    first.stdout!.destroy();
    first.stderr!.destroy();
    await sleep(200);
    // Twice, as under `npm start`: the terminal's Ctrl-C reaches the demo, and npm forwards its own.
    first.kill('SIGINT');
    await sleep(150);
    first.kill('SIGINT');
    const end = await Promise.race([firstExit, sleep(30_000).then(() => null)]);
    expect(end).not.toBeNull();
    expect(end!.signal).toBeNull();
    // The agent answers its shutdown request before it has stopped its last instance: give it a few seconds.
    const running = () => pids.filter((pid) => { try { process.kill(pid, 0); return true; } catch { return false; } });
    for (let i = 0; i < 100 && running().length > 0; i++) await sleep(100);
    expect(running()).toEqual([]);
    for (const port of [ports.api, ports.metrics, ports.dev, ports.staging, ports.prod]) expect(await answers(port), `port ${port}`).toBe(false);
  }, 60_000);
});
