/**
 * Runs Gangway as users do: real `gangway up` processes (built CLI in dist/), a real agent,
 * real instances of test/fixtures/app.mjs, in a temporary project folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELPER_START_LIMIT_MS, HelperStartError } from './helper-start.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const CLI = join(ROOT, 'bin/gangway.js');
export const APP = join(ROOT, 'test/fixtures/app.mjs');

/** How long `gangway up` may take until its API answers (below vitest's hookTimeout of 120 s). */
const UP_LIMIT_MS = HELPER_START_LIMIT_MS;

const handedOut = new Set<number>();

/**
 * The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range; 32768 by
 * default), from which it picks the local port of every outgoing connection and of every bind
 * to port 0.
 */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 1024 ? first : 32768;
  } catch {
    return 32768;
  }
}

/** Whether nothing listens on or is bound to 127.0.0.1:`port` now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Distinct free ports on 127.0.0.1, never one this process handed out before (it may not be
 * bound yet). They come from below the kernel's ephemeral range, so that between the moment a
 * port is chosen and the moment a server binds it (a suite reserves ports in its set-up and uses
 * some a minute later) no outgoing connection of any test — a request loop opens thousands —
 * and no bind to port 0 can take it. Each vitest worker draws from its own slice of that range.
 */
export async function freePorts(n: number): Promise<number[]> {
  const high = Math.min(ephemeralStart(), 32768) - 1;
  const low = Math.max(10_000, high - 12_000);
  const slices = 4;
  const size = Math.floor((high - low) / slices);
  const base = low + ((Number(process.env.VITEST_POOL_ID ?? 1) - 1) % slices) * size;
  const ports: number[] = [];
  for (let tries = 0; ports.length < n; tries++) {
    if (tries > size) throw new Error(`no free port left in 127.0.0.1:${base}-${base + size - 1}`);
    const port = base + Math.floor(Math.random() * size);
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    ports.push(port);
  }
  return ports;
}

export interface CliResult { code: number; stdout: string; stderr: string }

export function runCli(dir: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [CLI, '-C', dir, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('close', (code) => res({ code: code ?? 1, stdout, stderr }));
  });
}

export interface Project {
  dir: string;
  apiPort: number;
  /** Starts `gangway up` and waits until its API answers. */
  up(): Promise<ChildProcess>;
  /** The running `gangway up` process, if any. */
  proc: ChildProcess | null;
  /** The API token `gangway up` wrote. */
  token(): string;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** SIGKILL the orchestrator (the agent keeps serving). */
  kill(): Promise<void>;
  /** Stops the orchestrator and `gangway down` (agent and instances), then removes the folder. */
  cleanup(): Promise<void>;
}

/** The first lines of a test project's gangway.yaml: its name and the API and metrics ports it was given. */
export function projectHeader(project: string, p: { api: number; metrics: number }): string {
  return `project: ${project}\nserver: { port: ${p.api} }\nagent: { metricsPort: ${p.metrics} }\n`;
}

export async function makeProject(yaml: (p: { api: number; metrics: number }) => string): Promise<Project> {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-e2e-'));
  const [api, metrics] = await freePorts(2);
  writeFileSync(join(dir, 'gangway.yaml'), yaml({ api, metrics }));
  const project: Project = {
    dir,
    apiPort: api,
    proc: null,
    async up() {
      const child = spawn(process.execPath, [CLI, '-C', dir, 'up'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GANGWAY_LOG_LEVEL: 'warn' } });
      let out = '';
      child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
      child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
      project.proc = child;
      // A time limit, not a number of polls: each poll is slower on a loaded machine.
      const deadline = Date.now() + UP_LIMIT_MS;
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new HelperStartError('gangway up', UP_LIMIT_MS, `exited with ${child.exitCode ?? child.signalCode} before its API answered on port ${api}`, out);
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          await project.kill();
          throw new HelperStartError('gangway up', UP_LIMIT_MS, `did not answer /healthz on port ${api} within ${UP_LIMIT_MS} ms`, out, true);
        }
        try {
          const r = await fetch(`http://127.0.0.1:${api}/healthz`, { signal: AbortSignal.timeout(Math.min(2000, Math.max(50, left))) });
          await r.arrayBuffer();
          if (r.ok) return child;
        } catch { /* not yet */ }
        await sleep(50);
      }
    },
    token() {
      return readFileSync(join(dir, '.gangway/token'), 'utf8').trim();
    },
    async api(method, path, body) {
      const token = project.token();
      const r = await fetch(`http://127.0.0.1:${api}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'x-gangway-actor': 'e2e', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, body: await r.json() as never };
    },
    async kill() {
      const p = project.proc;
      if (!p || p.exitCode !== null) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
      project.proc = null;
    },
    async cleanup() {
      const p = project.proc;
      if (p && p.exitCode === null) {
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGINT');
        await Promise.race([gone, sleep(5000)]);
        if (p.exitCode === null) p.kill('SIGKILL');
      }
      if (existsSync(join(dir, '.gangway'))) await runCli(dir, ['down']);
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    },
  };
  return project;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls a deployment until it ends; returns it. */
export async function waitForEnd(project: Project, id: string, timeoutMs = 60_000): Promise<Record<string, unknown> & { phase: string; steps: Array<Record<string, unknown>> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await project.api<Record<string, unknown> & { phase: string; steps: Array<Record<string, unknown>> }>('GET', `/v1/deployments/${id}`);
    if (['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'].includes(r.body.phase)) return r.body;
    if (Date.now() > deadline) throw new Error(`deployment ${id} still ${r.body.phase}`);
    await sleep(50);
  }
}
