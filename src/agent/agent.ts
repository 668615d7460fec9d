/**
 * The local agent process: supervisor + proxy + request metrics + control socket + a read-only
 * metrics listener. It outlives the orchestrator; when the agent itself is stopped by a signal
 * its instances keep running and the next agent re-adopts them from `<stateDir>/agent-state.json`.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pino } from 'pino';
import { PortInUseError } from '../errors.js';
import { agentSocketPath } from './client.js';
import { startControlServer, type ControlHandlers, type ControlServer } from './control-server.js';
import { HeldSockets, listenHeld, tcpKey } from './held-sockets.js';
import { PreviewPorts } from './preview-ports.js';
import { ProxyHub } from './proxy.js';
import { RequestMetrics } from './request-metrics.js';
import { StateFile, type PersistedState } from './state-file.js';
import { Supervisor, type AgentLogger, type SupervisorOptions } from './supervisor.js';
import type { AgentState, InstanceStatus } from './types.js';

/** Options of `runAgent`. */
export interface RunAgentOptions {
  stateDir: string;
  /** Port of the read-only `/metrics` listener (0 picks a free one). */
  metricsPort: number;
  /** Host of the metrics listener. Default 127.0.0.1. */
  host?: string;
  /** The proxy adds X-Forwarded-For/-Proto/-Host to every request (`agent.forwardedHeaders`). Default true. */
  forwardedHeaders?: boolean;
  /** Peers whose own X-Forwarded-* the proxy keeps (`agent.trustForwarded`): IP addresses or CIDR ranges. Default none. */
  trustForwarded?: readonly string[];
  /** Default: pino writing to `logFile`. */
  logger?: AgentLogger;
  /** Default `<stateDir>/agent.log`. */
  logFile?: string;
  /** Install SIGTERM/SIGINT handlers that exit leaving instances running. Default true. */
  handleSignals?: boolean;
  /** End the process after a signal or a shutdown request. Default true; in-process tests turn it off. */
  exitProcess?: boolean;
  /** How long shutdown lets instances finish in-flight requests. Default 5000. */
  shutdownDrainMs?: number;
  /**
   * Listening sockets held by the agent's keeper through a restart of this process (keeper.ts):
   * taken over at start instead of bound anew, and handed to the keeper when opened. Default
   * none (the agent run in the foreground or in-process).
   */
  held?: HeldSockets;
  /** Supervisor tunables (kill timeout, restart backoff). */
  supervisor?: Pick<SupervisorOptions, 'killTimeoutMs' | 'restartBackoff' | 'livenessPollMs'>;
}

/** A running agent. */
export interface RunningAgent {
  readonly socketPath: string;
  /** The port the metrics listener is bound to. */
  readonly metricsPort: number;
  /** Leaves the instances running (as on SIGTERM): closes listeners, saves the state file. */
  close(): Promise<void>;
  /** Stops every instance and listener and removes the socket (the `gangway down` path), without ending the process. */
  shutdown(): Promise<void>;
  /** Resolves when the agent has closed or shut down. */
  readonly done: Promise<void>;
}

/**
 * Runs the agent until a signal or a shutdown request.
 *
 * @example
 * const agent = await runAgent({ stateDir: '/repo/.gangway', metricsPort: 9464 });
 * // … later, to leave instances serving while the agent is replaced:
 * await agent.close();
 */
/**
 * The agent's log file. A write that fails (the disk full) must not end the agent — traffic
 * would stop with it: the line waits and is written with the next one that fits; past 4 MiB
 * waiting, new lines are dropped.
 */
function survivingLog(file: string): ReturnType<typeof pino.destination> {
  const destination = pino.destination({ dest: file, append: true, mkdir: true, sync: true, maxLength: 4 << 20 });
  destination.on('error', () => undefined);
  return destination;
}

export async function runAgent(opts: RunAgentOptions): Promise<RunningAgent> {
  const { stateDir } = opts;
  const host = opts.host ?? '127.0.0.1';
  const exitProcess = opts.exitProcess ?? true;
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const logFile = opts.logFile ?? path.join(stateDir, 'agent.log');
  const log: AgentLogger = opts.logger ?? pino({ base: { pid: process.pid }, level: process.env.GANGWAY_AGENT_LOG_LEVEL ?? 'info' }, survivingLog(logFile));
  const startedAt = Date.now();

  const stateFile = new StateFile(stateDir, (err) => log.error({ err: String(err) }, 'agent state file'));
  const metrics = new RequestMetrics();
  const supervisor = new Supervisor({
    stateDir, logger: log, ...opts.supervisor,
    onEvent: (e) => { if (e.kind !== 'health') persist(); },
  });
  const held = opts.held ?? HeldSockets.none();
  const proxy = new ProxyHub({ backends: supervisor, metrics, logger: log, forwardedHeaders: opts.forwardedHeaders, trustForwarded: opts.trustForwarded, held });
  supervisor.setProxy(proxy);
  // Filled from the state file below, before any request is served.
  let previewPorts = new PreviewPorts();

  let restored!: () => void;
  const whenRestored = new Promise<void>((r) => { restored = r; });
  const snapshot = (): PersistedState => ({
    version: 1, agentPid: process.pid, savedAt: Date.now(), instances: supervisor.persisted(), routes: proxy.routes(), previewPorts: previewPorts.list(),
  });
  let routing: Promise<unknown> = Promise.resolve();
  let persisting = false;
  function persist(): void {
    if (persisting) stateFile.schedule(snapshot);
  }

  let finished!: () => void;
  const done = new Promise<void>((r) => { finished = r; });
  let closing: Promise<void> | null = null;
  let shuttingDown: Promise<void> | null = null;
  let control: ControlServer | null = null;
  let metricsServer: http.Server | null = null;

  const handlers: ControlHandlers = {
    async state(): Promise<AgentState> {
      await whenRestored;
      return { pid: process.pid, keeperPid: held.kept ? process.ppid : null, startedAt, instances: supervisor.instances(), routes: proxy.routes(), previewPorts: previewPorts.list(), guards: proxy.guards() };
    },
    async scale(spec, count, drainTimeoutMs): Promise<InstanceStatus[]> {
      await whenRestored;
      return supervisor.scale(spec, count, drainTimeoutMs);
    },
    async stopVersion(service, environment, version, drainTimeoutMs) {
      await whenRestored;
      await supervisor.stopVersion(service, environment, version, drainTimeoutMs);
    },
    async setRoute(route) {
      await whenRestored;
      // One at a time, so a preview port chosen for a route is the one its listener opens on.
      const next = routing.then(async () => {
        let resolved = await previewPorts.resolve(route, proxy.routes());
        try {
          await proxy.setRoute(resolved);
        } catch (err) {
          // Another process took the chosen preview port between the check and the bind: choose again, once.
          if (!(err instanceof PortInUseError) || resolved === route || err.port !== resolved.preview?.port) throw err;
          resolved = await previewPorts.resolve(route, proxy.routes(), err.port);
          await proxy.setRoute(resolved);
        }
        log.info({ route: resolved }, 'route set');
        persist();
        // On disk before the answer: an agent killed right after a switch comes back with the
        // route the orchestrator was told is set, not the one before it.
        await stateFile.flush();
      });
      routing = next.catch(() => undefined);
      await next;
    },
    async logs(service, environment, version, lines) {
      return supervisor.logs(service, environment, version, lines);
    },
    async counters(service, environment) {
      return metrics.counters(service, environment);
    },
    async setGuard(service, environment, guard) {
      await whenRestored;
      proxy.setGuard(service, environment, guard);
      log.info({ service, environment, guard }, guard === null ? 'canary guard removed' : 'canary guard set');
    },
    shutdown: () => stopEverything(),
    metricsText,
    afterShutdown() {
      void closeListeners().then(() => { finished(); if (exitProcess) process.exit(0); });
    },
  };

  function metricsText(): string {
    const lines: string[] = [];
    const counts = new Map<string, number>();
    const restarts: string[] = [];
    for (const i of supervisor.instances()) {
      const k = `service="${esc(i.service)}",environment="${esc(i.environment)}",version="${esc(i.version)}",state="${i.state}"`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
      restarts.push(`gangway_agent_instance_restarts_total{service="${esc(i.service)}",environment="${esc(i.environment)}",version="${esc(i.version)}",instance="${esc(i.id)}"} ${i.restarts}`);
    }
    lines.push('# HELP gangway_agent_instances Instances the agent runs, by state.', '# TYPE gangway_agent_instances gauge');
    for (const [k, n] of counts) lines.push(`gangway_agent_instances{${k}} ${n}`);
    lines.push('# HELP gangway_agent_instance_restarts_total Restarts of each instance after a crash.', '# TYPE gangway_agent_instance_restarts_total counter', ...restarts);
    const text = metrics.render();
    return (text.endsWith('\n') || text === '' ? text : text + '\n') + lines.join('\n') + '\n';
  }

  async function closeListeners(): Promise<void> {
    await Promise.all([
      control?.close(),
      metricsServer ? new Promise<void>((r) => { metricsServer!.close(() => r()); metricsServer!.closeAllConnections(); }) : undefined,
    ]);
  }

  function stopEverything(): Promise<void> {
    shuttingDown ??= (async () => {
      await whenRestored;
      log.info({}, 'shutting down: stopping every instance');
      await supervisor.stopAll(opts.shutdownDrainMs ?? 5000);
      supervisor.detach();
      await proxy.close(1000);
      persisting = false;
      // The chosen preview ports stay: the next agent reopens previews on them.
      await stateFile.writeNow({ version: 1, agentPid: process.pid, savedAt: Date.now(), instances: [], routes: [], previewPorts: previewPorts.list() });
      log.info({}, 'shut down');
    })();
    return shuttingDown;
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      log.info({}, 'agent closing; instances keep running');
      if (!shuttingDown) {
        // Save what runs now, then stop watching it: the next agent re-adopts these instances.
        stateFile.schedule(snapshot);
        await stateFile.flush();
        persisting = false;
        supervisor.detach();
        await proxy.close(500);
      }
      await closeListeners();
      finished();
    })();
    return closing;
  }

  try {
    control = await startControlServer({ socketPath: agentSocketPath(stateDir), handlers, logger: log, held });
    metricsServer = await listenMetrics(host, opts.metricsPort, metricsText, held);
    const previous = await stateFile.load();
    previewPorts = new PreviewPorts(previous?.previewPorts ?? [], () => persist());
    if (previous) {
      supervisor.adopt(previous.instances);
      for (const route of previous.routes) {
        try {
          await proxy.setRoute(route);
        } catch (err) {
          log.error({ route, err: (err as Error).message }, 'could not restore route');
        }
      }
    }
    // A port the keeper held for a route that is gone from the state file is let go.
    const untaken = held.releaseUntaken();
    if (untaken.length > 0) log.info({ released: untaken }, 'sockets held for routes no longer set were released');
    persisting = true;
    persist();
    restored();
  } catch (err) {
    supervisor.detach();
    await proxy.close(0).catch(() => {});
    await closeListeners().catch(() => {});
    throw err;
  }

  const addr = metricsServer.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : opts.metricsPort;
  log.info({ socket: control.socketPath, metricsPort: boundPort, host, kept: held.kept }, 'agent running');
  held.ready();

  if (opts.handleSignals ?? true) {
    const onSignal = (sig: NodeJS.Signals) => {
      log.info({ signal: sig }, 'signal received; leaving instances running');
      void close().then(() => { if (exitProcess) process.exit(0); });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  return {
    socketPath: control.socketPath,
    metricsPort: boundPort,
    close,
    async shutdown() {
      await stopEverything();
      await closeListeners();
      finished();
    },
    done,
  };
}

function listenMetrics(host: string, port: number, text: () => string, held: HeldSockets): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text());
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('only GET /metrics is served here\n');
  });
  // Port 0 picks a new port at each start: only a fixed port is worth holding through a restart.
  if (port === 0) held = HeldSockets.none();
  return listenHeld(server, held, tcpKey(host, port), (s, done) => s.listen(port, host, done)).then(() => server, (err: NodeJS.ErrnoException) => {
    throw err.code === 'EADDRINUSE' ? new PortInUseError(port, host, { cause: err }) : err;
  });
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
