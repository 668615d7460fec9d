/**
 * Client of the local agent's control API (HTTP/1.1 + JSON over `<stateDir>/agent.sock`), and
 * `ensureAgent`, which starts the agent as its own detached process when none runs.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GangwayError, UnreachableError, type ApiErrorBody } from '../errors.js';
import type { AgentApi, AgentState, CanaryGuardSpec, InstanceStatus, ReleaseSpec, RouteSpec } from './types.js';

/** Path of the control socket in a state directory. */
export function agentSocketPath(stateDir: string): string {
  return path.join(stateDir, 'agent.sock');
}

/**
 * AgentApi over the control socket. Errors the agent reports are rethrown as GangwayError with
 * the same code, message and hint; a missing socket or refused connection is an UnreachableError.
 *
 * @example
 * const agent = connectAgent('/repo/.gangway');
 * await agent.scale(spec, 2, 10_000);
 * await agent.setRoute({ service: 'web', environment: 'prod', host: '127.0.0.1', port: 8080,
 *   versions: [{ version: '1.2.0', weight: 100 }], preview: null });
 */
export class AgentClient implements AgentApi {
  constructor(readonly socketPath: string) {}

  state(): Promise<AgentState> {
    return this.request('GET', '/v1/state');
  }

  scale(spec: ReleaseSpec, count: number, drainTimeoutMs: number): Promise<InstanceStatus[]> {
    return this.request('POST', '/v1/scale', { spec, count, drainTimeoutMs });
  }

  async stopVersion(service: string, environment: string, version: string, drainTimeoutMs: number): Promise<void> {
    await this.request('POST', '/v1/stop-version', { service, environment, version, drainTimeoutMs });
  }

  async setRoute(route: RouteSpec): Promise<void> {
    await this.request('PUT', '/v1/routes', route);
  }

  logs(service: string, environment: string, version?: string, lines?: number): Promise<Array<{ instance: string; version: string; lines: string[] }>> {
    const q = new URLSearchParams({ service, environment });
    if (version !== undefined) q.set('version', version);
    if (lines !== undefined) q.set('lines', String(lines));
    return this.request('GET', `/v1/logs?${q}`);
  }

  counters(service: string, environment: string): Promise<Array<{ version: string; total: number; errors: number; bounds: readonly number[]; buckets: number[] }>> {
    return this.request('GET', `/v1/counters?${new URLSearchParams({ service, environment })}`);
  }

  async setGuard(service: string, environment: string, guard: CanaryGuardSpec | null): Promise<void> {
    await this.request('POST', '/v1/guard', { service, environment, guard });
  }

  async shutdown(): Promise<void> {
    await this.request('POST', '/v1/shutdown');
  }

  /** The agent's Prometheus text (request metrics and agent gauges). */
  metrics(): Promise<string> {
    return this.request('GET', '/metrics', undefined, true);
  }

  private request<T>(method: string, urlPath: string, body?: unknown, text = false): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath, path: urlPath, method, agent: false,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(unreachable(err)));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            if (text) { resolve(raw as T); return; }
            try { resolve(JSON.parse(raw) as T); } catch { reject(new GangwayError('internal', `the local agent sent an unreadable answer to ${method} ${urlPath}`)); }
            return;
          }
          let parsed: ApiErrorBody | undefined;
          try { parsed = JSON.parse(raw) as ApiErrorBody; } catch { /* not JSON */ }
          if (parsed?.error?.code) {
            reject(new GangwayError(parsed.error.code, parsed.error.message, parsed.error.hint, parsed.error.details));
          } else {
            reject(new GangwayError('internal', `the local agent answered ${status} to ${method} ${urlPath}`));
          }
        });
      });
      req.on('error', (err) => reject(unreachable(err)));
      req.end(payload);
    });
  }
}

function unreachable(err: Error & { code?: string }): GangwayError {
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'EPIPE') {
    return new UnreachableError('the local agent is not running', 'start it with `gangway up`', { cause: err });
  }
  return new UnreachableError(`cannot reach the local agent: ${err.message}`, 'start it with `gangway up`', { cause: err });
}

/**
 * A client for the agent of a state directory (it need not be running yet).
 *
 * @example
 * const agent = connectAgent('.gangway');
 */
export function connectAgent(stateDir: string): AgentClient {
  return new AgentClient(agentSocketPath(stateDir));
}

/** Options of `ensureAgent`. */
export interface EnsureAgentOptions {
  stateDir: string;
  /** Port of the agent's read-only `/metrics` listener (for Prometheus). */
  metricsPort: number;
  /** Host of the metrics listener. Default 127.0.0.1. */
  host?: string;
  /**
   * Forwarding headers of the proxy (`agent.forwardedHeaders`, default true) and the peers
   * trusted with their own (`agent.trustForwarded`). Only a newly started agent takes them: an
   * agent that already answers keeps the settings it was started with.
   */
  forwardedHeaders?: boolean;
  trustForwarded?: readonly string[];
  /** Where the agent logs. Default `<stateDir>/agent.log`. */
  logFile?: string;
  /** The agent entry point to run; by default `main.js` next to this module (or the built one when running from sources). */
  mainScript?: string;
  /** How long to wait for the new agent to answer. Default 10000. */
  startTimeoutMs?: number;
}

/**
 * Returns a client for the running agent, starting one first (detached, so it outlives the
 * caller) when none answers.
 *
 * @example
 * const agent = await ensureAgent({ stateDir: '/repo/.gangway', metricsPort: 9464 });
 */
export async function ensureAgent(opts: EnsureAgentOptions): Promise<AgentClient> {
  // Absolute paths: the agent runs in the state directory, so relative ones would resolve elsewhere.
  const stateDir = path.resolve(opts.stateDir);
  const client = connectAgent(stateDir);
  if (await answers(client)) return client;

  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const logFile = path.resolve(opts.logFile ?? path.join(stateDir, 'agent.log'));
  const main = opts.mainScript ?? locateMain();
  const args = [main, '--state-dir', stateDir, '--metrics-port', String(opts.metricsPort), '--log-file', logFile];
  if (opts.host) args.push('--host', opts.host);
  if (opts.forwardedHeaders === false) args.push('--no-forwarded-headers');
  for (const entry of opts.trustForwarded ?? []) args.push('--trust-forwarded', entry);
  const fd = fs.openSync(logFile, 'a', 0o600);
  let exited: string | null = null;
  try {
    const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd], cwd: stateDir });
    child.once('exit', (code, signal) => { exited = signal ? `was killed by ${signal}` : `exited with code ${code}`; });
    child.once('error', (err) => { exited = `could not start: ${err.message}`; });
    child.unref();
  } finally {
    fs.closeSync(fd);
  }

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  for (;;) {
    if (await answers(client)) return client;
    if (exited !== null || Date.now() > deadline) {
      // A competing start may have won the socket; its agent is as good as ours.
      if (await answers(client)) return client;
      const tail = tailOf(logFile, 20);
      throw new UnreachableError(
        exited !== null ? `the local agent ${exited} right after starting` : `the local agent did not answer within ${opts.startTimeoutMs ?? 10_000} ms`,
        `see ${logFile}${tail ? `; its last lines:\n${tail}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Options of `superviseAgent`: those of `ensureAgent` (used to start it again), and how to watch. */
export interface SuperviseAgentOptions extends EnsureAgentOptions {
  /** How often the control socket is probed. Default 100 ms. */
  intervalMs?: number;
  /** Told of each restart: how long from the failed probe until the new agent answered, or why it did not start. */
  onRestart?: (outcome: { ok: true; ms: number } | { ok: false; ms: number; error: string }) => void;
}

/** A running watch on the agent; `stop()` ends it (the agent keeps running). */
export interface AgentSupervision { stop(): void }

/**
 * Watches the agent of a state directory and starts it again when it died: its control socket
 * is still there but nobody accepts on it (killed with SIGKILL, crashed). An agent stopped on
 * purpose (`gangway down`, SIGTERM) removes its socket and is left stopped. The new agent
 * re-adopts the running instances and reopens the public ports from its state file, so the
 * ports serve again as soon as it answers. Probing is one connect to a Unix socket per
 * interval; a failed restart is reported and tried again at the next probe.
 *
 * @example
 * const watch = superviseAgent({ stateDir: '.gangway', metricsPort: 9464, onRestart: (o) => log.warn(o, 'agent restarted') });
 * // on shutdown:
 * watch.stop();
 */
export function superviseAgent(opts: SuperviseAgentOptions): AgentSupervision {
  const socketPath = agentSocketPath(path.resolve(opts.stateDir));
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => void probe(), opts.intervalMs ?? 100);
    timer.unref();
  };
  const probe = async () => {
    const dead = await new Promise<boolean>((resolve) => {
      const s = net.connect({ path: socketPath });
      s.once('connect', () => { s.destroy(); resolve(false); });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (dead && !stopped) {
      const t0 = performance.now();
      try {
        await ensureAgent(opts);
        opts.onRestart?.({ ok: true, ms: Math.round(performance.now() - t0) });
      } catch (err) {
        opts.onRestart?.({ ok: false, ms: Math.round(performance.now() - t0), error: err instanceof Error ? err.message : String(err) });
      }
    }
    next();
  };
  next();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

async function answers(client: AgentClient): Promise<boolean> {
  try {
    await client.state();
    return true;
  } catch (err) {
    if (err instanceof GangwayError && err.code === 'unreachable') return false;
    // An agent that answers with an error is still an agent.
    return true;
  }
}

/** main.js beside this module in the build; when running from sources (tests), the built one under dist/. */
function locateMain(): string {
  const beside = fileURLToPath(new URL('./main.js', import.meta.url));
  if (fs.existsSync(beside)) return beside;
  const built = fileURLToPath(new URL('../../dist/agent/main.js', import.meta.url));
  if (fs.existsSync(built)) return built;
  throw new GangwayError('internal', `cannot find the agent entry point (looked for ${beside} and ${built})`, 'run `npm run build` first');
}

function tailOf(file: string, lines: number): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').filter((l) => l !== '').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
