/**
 * Is an orchestrator already running for this project? `gangway up` and `gangway demo` ask
 * before they change anything (the demo stops agents and deletes its state folder), and
 * refuse at once, naming the running one: its API address and its process id.
 *
 * Three signs, checked in this order: the API port answers `/healthz` (a Gangway
 * orchestrator, or another program holding the port); the lock file `<stateDir>/orchestrator.json`
 * that a running orchestrator keeps names a live process; nothing else.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { GangwayConfig } from '../config/types.js';
import { GangwayError, PortInUseError } from '../errors.js';
import { apiUrlFor } from './context.js';

/** What the lock file says about the orchestrator that wrote it. */
export interface RunningOrchestratorInfo {
  pid: number;
  /** API address, e.g. `http://127.0.0.1:7400`. */
  url: string;
  /** The command that runs it: `up` or `demo`. */
  command: string;
  startedAt: number;
}

/**
 * The lock file of a state folder: `orchestrator.json`, or with replicas on a PostgreSQL store
 * (several orchestrators sharing one state folder and agent) one per API port.
 */
export function lockPath(stateDir: string, name = LOCK_FILE): string {
  return join(stateDir, name);
}

const LOCK_FILE = 'orchestrator.json';

/** The lock file name of the orchestrator serving `config`: one per API port on a PostgreSQL store. */
export function lockNameFor(config: Pick<GangwayConfig, 'store' | 'server'>): string {
  return config.store.kind === 'postgres' ? `orchestrator-${config.server.port}.json` : LOCK_FILE;
}

/** Records that this process runs the orchestrator of `stateDir`. */
export function writeLock(stateDir: string, info: RunningOrchestratorInfo, name = LOCK_FILE): void {
  writeFileSync(lockPath(stateDir, name), JSON.stringify(info) + '\n', { mode: 0o600 });
}

/** Removes the lock file if this process wrote it. */
export function removeLock(stateDir: string, name = LOCK_FILE): void {
  if (readLock(stateDir, name)?.pid === process.pid) rmSync(lockPath(stateDir, name), { force: true });
}

/** The lock file's content, or null when there is none or it is unreadable. */
export function readLock(stateDir: string, name = LOCK_FILE): RunningOrchestratorInfo | null {
  try {
    const info = JSON.parse(readFileSync(lockPath(stateDir, name), 'utf8')) as RunningOrchestratorInfo;
    return typeof info.pid === 'number' ? info : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A reused pid is some other program: on Linux, check that it runs Gangway (bin/gangway.js).
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('gangway');
  } catch {
    return true;
  }
}

/** GET /healthz: the answer's JSON when a Gangway orchestrator answers, 'other' for anything else answering, null when nothing does. */
function healthz(url: string, timeoutMs = 1000): Promise<{ ok: boolean; version?: string } | 'other' | null> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/healthz`, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => { body += s; });
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { ok?: unknown; version?: unknown };
          resolve(parsed.ok === true ? { ok: true, version: typeof parsed.version === 'string' ? parsed.version : undefined } : 'other');
        } catch {
          resolve('other');
        }
      });
      res.on('error', () => resolve('other'));
    });
    req.on('timeout', () => { req.destroy(); resolve('other'); });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? null : 'other'));
  });
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Throws `conflict` (exit 2) when an orchestrator already runs for `config` — its API answers,
 * or its lock file names a live process — and `port_in_use` when another program holds the
 * API port. Changes nothing. On a PostgreSQL store only an orchestrator at the same API address
 * counts: replicas on other addresses are welcome.
 *
 * @param what how the refused command calls what it would start, for the message ("the demo")
 */
export async function assertNotRunning(config: GangwayConfig, what = `an orchestrator for ${config.project}`): Promise<void> {
  const url = apiUrlFor(config.server.host, config.server.port);
  const lock = readLock(config.stateDir, lockNameFor(config));
  const live = lock && alive(lock.pid) ? lock : null;
  const answer = await healthz(url);
  const by = live ? ` (pid ${live.pid}, \`gangway ${live.command}\` since ${new Date(live.startedAt).toISOString().replace(/\.\d{3}Z$/, 'Z')})` : '';
  const stop = live ? `stop it first: Ctrl-C in its terminal, or kill -INT ${live.pid}` : `stop it first (Ctrl-C in its terminal)`;
  if (answer && answer !== 'other') {
    throw new GangwayError('conflict', `${what} is already running: its API answers at ${url}${by}`,
      `use it (gangway status, or the dashboard at ${url}/), or ${stop}; nothing was changed`, { url, pid: live?.pid ?? null });
  }
  if (live) {
    throw new GangwayError('conflict', `${what} is already running${by}, though its API at ${url} does not answer`,
      `${stop}; if it hangs, kill ${live.pid}; nothing was changed`, { url, pid: live.pid });
  }
  if (answer === 'other' || !(await portFree(config.server.host, config.server.port))) {
    throw new GangwayError('port_in_use', `the API port ${config.server.port} on ${config.server.host} is already in use by another program`,
      'stop it, or set server.port in gangway.yaml; nothing was changed', undefined, { cause: new PortInUseError(config.server.port, config.server.host) });
  }
}
