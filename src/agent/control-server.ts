/**
 * The agent's control API: HTTP/1.1 + JSON on the Unix socket `<stateDir>/agent.sock`, mode 0600,
 * so only the user who runs Gangway can move traffic. Not the hot path, so plain node:http.
 *
 *   GET  /v1/state                       → AgentState
 *   POST /v1/scale        {spec, count, drainTimeoutMs} → InstanceStatus[]
 *   POST /v1/stop-version {service, environment, version, drainTimeoutMs} → {ok}
 *   PUT  /v1/routes       RouteSpec      → {ok}
 *   GET  /v1/logs?service&environment&version&lines → [{instance, version, lines}]
 *   GET  /v1/counters?service&environment → [{version, total, errors, bounds, buckets}] (cumulative)
 *   POST /v1/guard        {service, environment, guard: {canary, stable, alpha} | null} → {ok}
 *   POST /v1/shutdown                    → {ok}, sent once every instance is stopped
 *   GET  /metrics                        → Prometheus text
 * Errors: `{ error: { code, message, hint } }` with the status of src/errors.ts.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { z } from 'zod';
import { GangwayError, toApiError } from '../errors.js';
import { schemas } from './state-file.js';
import { HeldSockets, unixKey } from './held-sockets.js';
import type { AgentLogger } from './supervisor.js';
import type { AgentApi } from './types.js';

/** What the control server serves: the AgentApi plus the metrics text. */
export interface ControlHandlers extends AgentApi {
  /** Prometheus text of the request metrics and the agent gauges. */
  metricsText(): string;
  /** Called once the shutdown response has been sent: close the listener and end the process. */
  afterShutdown?(): void;
}

/** A running control server. */
export interface ControlServer {
  readonly socketPath: string;
  /** Stops accepting, closes open connections, removes the socket file. */
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

/**
 * Whether an agent answers on the socket (a connection is accepted within `timeoutMs`).
 *
 * @example
 * if (await socketAnswers('/repo/.gangway/agent.sock')) { … }
 */
export function socketAnswers(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ path: socketPath });
    const done = (v: boolean) => { clearTimeout(timer); sock.destroy(); resolve(v); };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * Listens on `socketPath` (mode 0600). A stale socket file left by a dead agent is removed; if a
 * live agent answers on it, rejects with a `conflict` error instead.
 *
 * @example
 * const ctl = await startControlServer({ socketPath: '/repo/.gangway/agent.sock', handlers });
 * await ctl.close();
 */
export async function startControlServer(opts: { socketPath: string; handlers: ControlHandlers; logger?: AgentLogger; held?: HeldSockets }): Promise<ControlServer> {
  const { socketPath, handlers, logger } = opts;
  const held = opts.held ?? HeldSockets.none();
  const key = unixKey(socketPath);
  if (Buffer.byteLength(socketPath) > 107) {
    throw new GangwayError('invalid_argument', `the agent socket path ${socketPath} is too long for a Unix socket (${Buffer.byteLength(socketPath)} bytes, at most 107)`,
      'use a shorter state directory (stateDir in gangway.yaml)');
  }
  const conflict = () => new GangwayError('conflict', `another agent is already running on ${socketPath}`, 'stop it with `gangway down`, or use it as it is');
  // Two agents starting at once could both find a stale socket and remove each other's; a lock
  // that the kernel releases when its holder dies settles who owns the state directory.
  const lock = await lockSocketPath(socketPath);
  if (lock === 'taken') throw conflict();
  // The keeper held this socket while the previous worker died: the file is ours, with the
  // connections queued on it meanwhile.
  const kept = held.take(key);
  try {
    if (kept === null && fs.existsSync(socketPath)) {
      if (await socketAnswers(socketPath)) throw conflict();
      fs.rmSync(socketPath, { force: true });
    }
  } catch (err) {
    lock?.close();
    throw err;
  }

  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    void handle(req, res, handlers, logger);
  });
  // Scale and stop calls last as long as draining does; the socket is private, so no request timeout.
  server.requestTimeout = 0;
  server.on('connection', (s) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => { lock?.close(); reject(err); });
    if (kept !== null) {
      server.listen(kept, () => { server.off('error', reject); resolve(); });
      return;
    }
    // The socket file is created by bind() inside listen(); a umask of 0177 makes it 0600 from the
    // first moment. process.umask cannot be changed in worker threads; chmod below covers that case.
    const oldMask = isMainThread ? process.umask(0o177) : null;
    try {
      server.listen(socketPath, () => { server.off('error', reject); resolve(); });
    } finally {
      if (oldMask !== null) process.umask(oldMask);
    }
  });
  fs.chmodSync(socketPath, 0o600);
  if (kept === null) held.hold(key, server);

  let closing: Promise<void> | null = null;
  return {
    socketPath,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }).then(() => { held.release(key); fs.rmSync(socketPath, { force: true }); lock?.close(); });
      return closing;
    },
  };
}

/**
 * Holds a Linux abstract-namespace socket named after the socket path while the agent lives; the
 * kernel frees it when the process dies, so it never goes stale. Null where abstract sockets do
 * not exist (not Linux): the stale-socket check alone then guards.
 */
async function lockSocketPath(socketPath: string): Promise<net.Server | 'taken' | null> {
  if (process.platform !== 'linux') return null;
  const name = `\0gangway-agent-${createHash('sha256').update(path.resolve(socketPath)).digest('hex').slice(0, 32)}`;
  const server = net.createServer((s) => s.destroy());
  return new Promise((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE' ? 'taken' : null));
    server.listen(name, () => resolve(server));
  });
}

const scaleBody = z.object({ spec: schemas.releaseSpec, count: z.number().int().min(0), drainTimeoutMs: z.number().min(0) });
const guardBody = z.object({
  service: z.string().min(1),
  environment: z.string().min(1),
  guard: z.object({ canary: z.string().min(1), stable: z.string().min(1), alpha: z.number().gt(0).lt(1) }).nullable(),
});
const stopBody = z.object({ service: z.string(), environment: z.string(), version: z.string(), drainTimeoutMs: z.number().min(0) });

async function handle(req: http.IncomingMessage, res: http.ServerResponse, h: ControlHandlers, logger?: AgentLogger): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent');
  const route = `${req.method} ${url.pathname}`;
  try {
    switch (route) {
      case 'GET /v1/state':
        return sendJson(res, 200, await h.state());
      case 'POST /v1/scale': {
        const b = parse(scaleBody, await readJson(req));
        return sendJson(res, 200, await h.scale(b.spec, b.count, b.drainTimeoutMs));
      }
      case 'POST /v1/stop-version': {
        const b = parse(stopBody, await readJson(req));
        await h.stopVersion(b.service, b.environment, b.version, b.drainTimeoutMs);
        return sendJson(res, 200, { ok: true });
      }
      case 'PUT /v1/routes': {
        await h.setRoute(parse(schemas.routeSpec, await readJson(req)));
        return sendJson(res, 200, { ok: true });
      }
      case 'GET /v1/logs': {
        const service = url.searchParams.get('service');
        const environment = url.searchParams.get('environment');
        if (!service || !environment) throw new GangwayError('invalid_argument', 'logs needs the query parameters service and environment');
        const linesText = url.searchParams.get('lines');
        const lines = linesText === null ? undefined : Number(linesText);
        if (lines !== undefined && (!Number.isInteger(lines) || lines < 0)) throw new GangwayError('invalid_argument', `lines must be a whole number ≥ 0, got ${JSON.stringify(linesText)}`);
        return sendJson(res, 200, await h.logs(service, environment, url.searchParams.get('version') ?? undefined, lines));
      }
      case 'GET /v1/counters': {
        const service = url.searchParams.get('service');
        const environment = url.searchParams.get('environment');
        if (!service || !environment) throw new GangwayError('invalid_argument', 'counters needs the query parameters service and environment');
        return sendJson(res, 200, await h.counters(service, environment));
      }
      case 'POST /v1/guard': {
        const b = parse(guardBody, await readJson(req));
        if (!h.setGuard) throw new GangwayError('invalid_argument', 'this agent has no canary guard');
        await h.setGuard(b.service, b.environment, b.guard);
        return sendJson(res, 200, { ok: true });
      }
      case 'POST /v1/shutdown': {
        await h.shutdown();
        res.once('finish', () => h.afterShutdown?.());
        return sendJson(res, 200, { ok: true });
      }
      case 'GET /metrics': {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(h.metricsText());
        return;
      }
      default: {
        const known = ['/v1/state', '/v1/scale', '/v1/stop-version', '/v1/routes', '/v1/logs', '/v1/counters', '/v1/guard', '/v1/shutdown', '/metrics'];
        if (known.includes(url.pathname)) throw new GangwayError('invalid_argument', `method ${req.method} is not allowed on ${url.pathname}`);
        throw new GangwayError('not_found', `no such agent endpoint: ${req.method} ${url.pathname}`);
      }
    }
  } catch (err) {
    if (!(err instanceof GangwayError)) logger?.error({ err: err instanceof Error ? err.stack ?? err.message : String(err), route }, 'control request failed');
    const { status, body } = toApiError(err);
    sendJson(res, status, body);
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const where = issue.path.length > 0 ? issue.path.join('.') : 'body';
  throw new GangwayError('invalid_argument', `invalid request: ${where}: ${issue.message}`);
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new GangwayError('invalid_argument', `request body larger than ${MAX_BODY} bytes`)); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text === '' ? {} : JSON.parse(text));
      } catch {
        reject(new GangwayError('invalid_argument', 'request body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
