/**
 * The supervisor runs a release's instances as real processes, health-checks each one on its
 * own timer, restarts crashed ones with backoff, drains and stops surplus ones, and tells the
 * proxy which instances are ready. Instances are detached (own process group) and log to files,
 * so they keep serving when the agent process dies; a new agent re-adopts them (see `adopt`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { GangwayError } from '../errors.js';
import { checkHttp, type HttpCheckResult } from '../core/http-check.js';
import { freePort, isPortFree } from './ports.js';
import { isSameProcess, processInfo, type PersistedInstance } from './state-file.js';
import type { Backend, BackendSource, InstanceState, InstanceStatus, ProxyHubApi, ReleaseSpec } from './types.js';

/** The subset of a pino logger the agent uses. */
export interface AgentLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What the supervisor needs from the proxy: in-flight counts for draining, and forgetting a backend. */
export type DrainingProxy = Pick<ProxyHubApi, 'inflight' | 'forget'>;

/** A change the supervisor reports: a state transition, a health result, or an instance leaving the list. */
export interface SupervisorEvent {
  kind: 'state' | 'health' | 'removed';
  instance: InstanceStatus;
}

/** Options of `new Supervisor(...)`; only `stateDir` is required. */
export interface SupervisorOptions {
  /** Instance logs go to `<stateDir>/logs/<service>/<environment>/<version>/<instanceId>.log`. */
  stateDir: string;
  logger?: AgentLogger;
  /** Time between SIGTERM and SIGKILL when stopping an instance. Default 5000. */
  killTimeoutMs?: number;
  /** Crash restart backoff: first delay, cap, and how long an instance must stay ready for the delay to reset. Defaults 1000 / 30000 / 60000. */
  restartBackoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  /** How often the liveness of re-adopted instances (not children of this process) is polled. Default 100. */
  livenessPollMs?: number;
  /** Called synchronously on every change; the agent persists its state file from here. */
  onEvent?: (event: SupervisorEvent) => void;
}

interface Instance {
  id: string;
  key: string;
  seq: number;
  spec: ReleaseSpec;
  status: Omit<InstanceStatus, 'inflight'>;
  child: ChildProcess | null;
  pidStartTime: string | null;
  /** Bumped on every process start so results from an older process are ignored. */
  generation: number;
  attemptStartedAt: number;
  readySince: number | null;
  backoffMs: number;
  healthTimer: NodeJS.Timeout | null;
  restartTimer: NodeJS.Timeout | null;
  livenessTimer: NodeJS.Timeout | null;
  launching: Promise<void> | null;
  stopping: Promise<void> | null;
  exited: Promise<void>;
  markExited: () => void;
}

const EMPTY: readonly Backend[] = Object.freeze([]);
/** While an instance is starting it is checked at least this often, so a deploy does not wait a whole interval for readiness. */
const STARTING_CHECK_MS = 200;

/**
 * Supervises the instances of every release the agent runs and is the proxy's `BackendSource`.
 *
 * @example
 * const sup = new Supervisor({ stateDir: '/repo/.gangway' });
 * sup.setProxy(proxyHub);
 * await sup.scale(spec, 2, 10_000);     // exactly two live instances of spec.version
 * sup.ready('web', 'prod', '1.2.0');    // the ready ones, for the proxy
 * await sup.stopVersion('web', 'prod', '1.1.0', 10_000);
 */
export class Supervisor implements BackendSource {
  private readonly stateDir: string;
  private readonly log: AgentLogger | undefined;
  private readonly killTimeoutMs: number;
  private readonly backoff: { initialMs: number; maxMs: number; resetAfterMs: number };
  private readonly livenessPollMs: number;
  private readonly onEvent: ((e: SupervisorEvent) => void) | undefined;
  private proxy: DrainingProxy | null = null;
  private readonly byId = new Map<string, Instance>();
  /** service → environment → version → ready backends; rebuilt on state changes, read per request. */
  private readonly readyIndex = new Map<string, Map<string, Map<string, readonly Backend[]>>>();
  private readonly chains = new Map<string, Promise<unknown>>();
  private seq = 0;
  private closed = false;

  constructor(opts: SupervisorOptions) {
    this.stateDir = opts.stateDir;
    this.log = opts.logger;
    this.killTimeoutMs = opts.killTimeoutMs ?? 5000;
    this.backoff = {
      initialMs: opts.restartBackoff?.initialMs ?? 1000,
      maxMs: opts.restartBackoff?.maxMs ?? 30_000,
      resetAfterMs: opts.restartBackoff?.resetAfterMs ?? 60_000,
    };
    this.livenessPollMs = opts.livenessPollMs ?? 100;
    this.onEvent = opts.onEvent;
  }

  /** Connects the proxy used for draining (the proxy and the supervisor need each other, so this comes after construction). */
  setProxy(proxy: DrainingProxy | null): void {
    this.proxy = proxy;
  }

  /** BackendSource: the ready instances of a release, from a cache rebuilt only when an instance changes state. */
  ready(service: string, environment: string, version: string): readonly Backend[] {
    return this.readyIndex.get(service)?.get(environment)?.get(version) ?? EMPTY;
  }

  /**
   * BackendSource: the proxy saw a ready instance fail a request as only a broken instance does
   * (no response head within the route's response timeout). It becomes `unhealthy` at once, as
   * after `health.failureThreshold` failed checks, so it leaves the ready list; its health checks
   * go on and bring it back with the next one that passes. `detail` becomes its `lastHealth`, so
   * status shows why. No-op for an instance that is not ready (or not known).
   */
  markFailing(backendId: string, detail: string): void {
    const inst = this.byId.get(backendId);
    if (!inst || inst.status.state !== 'ready' || inst.stopping) return;
    inst.status.lastHealth = { at: Date.now(), ok: false, detail };
    inst.readySince = null;
    this.log?.warn({ instance: inst.id, detail }, 'instance taken out of traffic by the proxy until a health check passes');
    this.setState(inst, 'unhealthy');
    this.emit('health', inst);
  }

  /**
   * Ensures exactly `count` live (not stopping/stopped) instances of the release: starts missing
   * ones, or drains and stops the surplus (crashed, unhealthy and starting ones first, then newest
   * first). Calls for the same release run one after another. Returns that release's instances.
   * Rejects with `invalid_argument` when the command cannot be started (missing command or cwd).
   */
  scale(spec: ReleaseSpec, count: number, drainTimeoutMs: number): Promise<InstanceStatus[]> {
    if (!Number.isInteger(count) || count < 0) {
      return Promise.reject(new GangwayError('invalid_argument', `instance count must be a whole number ≥ 0, got ${count}`));
    }
    if (!Array.isArray(spec.command) || spec.command.length === 0 || !spec.command[0]) {
      return Promise.reject(new GangwayError('invalid_argument', `the command of ${spec.service} in ${spec.environment} is empty`,
        `set services.${spec.service}.target.local.command in gangway.yaml`));
    }
    const key = releaseKey(spec.service, spec.environment, spec.version);
    return this.serial(key, async () => {
      this.assertOpen();
      const live = this.liveOf(key);
      if (live.length < count) {
        for (let i = live.length; i < count; i++) await this.startNew(spec, key);
      } else if (live.length > count) {
        const rank = (i: Instance) => (i.status.state === 'ready' ? 1 : 0);
        const surplus = [...live].sort((a, b) => rank(a) - rank(b) || b.seq - a.seq).slice(0, live.length - count);
        await Promise.all(surplus.map((i) => this.stopInstance(i, drainTimeoutMs)));
      }
      return this.statusesOf(key);
    });
  }

  /** Drains and stops every instance of the version; resolves when they are gone. No-op when none run. */
  stopVersion(service: string, environment: string, version: string, drainTimeoutMs: number): Promise<void> {
    const key = releaseKey(service, environment, version);
    return this.serial(key, async () => {
      await Promise.all(this.allOf(key).map((i) => this.stopInstance(i, drainTimeoutMs)));
    });
  }

  /** Drains and stops every instance of every release (the `gangway down` path). */
  async stopAll(drainTimeoutMs: number): Promise<void> {
    const keys = new Set([...this.byId.values()].map((i) => i.key));
    await Promise.all([...keys].map((key) => this.serial(key, async () => {
      await Promise.all(this.allOf(key).map((i) => this.stopInstance(i, drainTimeoutMs)));
    })));
  }

  /** Snapshots of every instance, oldest first, with the proxy's current in-flight count. */
  instances(): InstanceStatus[] {
    return [...this.byId.values()].sort((a, b) => a.seq - b.seq).map((i) => this.snapshot(i));
  }

  /** What the state file needs to re-adopt the instances later. Stopping instances are included so a new agent finishes stopping them. */
  persisted(): PersistedInstance[] {
    return [...this.byId.values()].sort((a, b) => a.seq - b.seq).map((i) => ({
      id: i.id, spec: i.spec, pid: i.status.pid, pidStartTime: i.pidStartTime, port: i.status.port,
      state: i.status.state, startedAt: i.status.startedAt, readyAt: i.status.readyAt, restarts: i.status.restarts,
      logFile: i.status.logFile, seq: i.seq,
    }));
  }

  /**
   * Takes over instances a previous agent started. One whose pid is alive with the same start
   * time keeps running untouched (its liveness is polled since it is not our child) and its
   * health checks resume; one that died in between is restarted as after a crash; one that was
   * being stopped is stopped.
   */
  adopt(previous: PersistedInstance[]): void {
    for (const p of previous) {
      if (this.byId.has(p.id)) continue;
      this.seq = Math.max(this.seq, p.seq + 1);
      const alive = p.pid !== null && isSameProcess(p.pid, p.pidStartTime);
      if (p.state === 'stopping' || p.state === 'stopped') {
        if (alive && p.pid !== null) killGroup(p.pid, 'SIGKILL');
        continue;
      }
      const inst = this.newInstance(p.spec, releaseKey(p.spec.service, p.spec.environment, p.spec.version), p.id, p.seq, p.port, p.logFile);
      inst.status.startedAt = p.startedAt;
      inst.status.readyAt = p.readyAt;
      inst.status.restarts = p.restarts;
      this.byId.set(inst.id, inst);
      if (alive && p.pid !== null) {
        inst.status.pid = p.pid;
        inst.pidStartTime = p.pidStartTime;
        inst.generation++;
        // Keep serving at once: an instance that was ready stays ready until a check says otherwise.
        inst.status.state = p.state === 'ready' || p.state === 'unhealthy' ? p.state : 'starting';
        inst.readySince = inst.status.state === 'ready' ? Date.now() : null;
        inst.attemptStartedAt = Date.now();
        this.watchLiveness(inst, inst.generation);
        this.scheduleHealth(inst, 0);
        this.log?.info({ instance: inst.id, instancePid: p.pid }, 're-adopted running instance');
      } else {
        inst.status.state = 'crashed';
        inst.status.lastHealth = { at: Date.now(), ok: false, detail: 'process was gone when the agent restarted' };
        this.log?.warn({ instance: inst.id, instancePid: p.pid }, 'instance died while the agent was down; restarting');
        this.scheduleRestart(inst, 0);
      }
      this.rebuild(inst);
      this.emit('state', inst);
    }
  }

  /**
   * Stops supervising without stopping the processes (the agent exits and a later agent
   * re-adopts them): timers are cleared and child handles released.
   */
  detach(): void {
    this.closed = true;
    for (const inst of this.byId.values()) {
      this.clearTimers(inst);
      inst.child?.unref();
    }
  }

  /**
   * The last `lines` lines of the log files of a release's instances (every release of the
   * service in the environment when `version` is omitted), read from disk so logs of stopped
   * instances stay available.
   */
  async logs(service: string, environment: string, version?: string, lines = 100): Promise<Array<{ instance: string; version: string; lines: string[] }>> {
    const envDir = path.join(this.stateDir, 'logs', safeSegment(service), safeSegment(environment));
    const versionDirs = version !== undefined ? [version] : await readdirOrEmpty(envDir);
    // Map sanitised folder names back to versions where an instance we know tells us the real one.
    const known = new Map<string, string>();
    for (const i of this.byId.values()) if (i.spec.service === service && i.spec.environment === environment) known.set(safeSegment(i.spec.version), i.spec.version);
    const out: Array<{ instance: string; version: string; lines: string[] }> = [];
    for (const v of versionDirs) {
      const dir = path.join(envDir, version !== undefined ? safeSegment(v) : v);
      const files = (await readdirOrEmpty(dir)).filter((f) => f.endsWith('.log')).sort();
      for (const f of files) {
        out.push({ instance: f.slice(0, -4), version: version ?? known.get(v) ?? v, lines: await tailLines(path.join(dir, f), lines) });
      }
    }
    return out;
  }

  // ---- internals -------------------------------------------------------------------------

  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.then(() => undefined, () => undefined);
    this.chains.set(key, tail);
    void tail.then(() => { if (this.chains.get(key) === tail) this.chains.delete(key); });
    return next;
  }

  private assertOpen(): void {
    if (this.closed) throw new GangwayError('conflict', 'the agent is shutting down');
  }

  private liveOf(key: string): Instance[] {
    return this.allOf(key).filter((i) => i.stopping === null);
  }

  private allOf(key: string): Instance[] {
    return [...this.byId.values()].filter((i) => i.key === key).sort((a, b) => a.seq - b.seq);
  }

  private statusesOf(key: string): InstanceStatus[] {
    return this.allOf(key).map((i) => this.snapshot(i));
  }

  private snapshot(i: Instance): InstanceStatus {
    return {
      ...i.status,
      lastHealth: i.status.lastHealth ? { ...i.status.lastHealth } : null,
      inflight: this.proxy?.inflight(i.id) ?? 0,
    };
  }

  private newInstance(spec: ReleaseSpec, key: string, id: string, seq: number, port: number, logFile: string): Instance {
    let markExited = () => {};
    const exited = new Promise<void>((r) => { markExited = r; });
    return {
      id, key, seq, spec,
      status: {
        id, service: spec.service, environment: spec.environment, version: spec.version, pid: null, port,
        state: 'starting', startedAt: Date.now(), readyAt: null, restarts: 0, consecutiveFailures: 0, totalFailures: 0,
        lastHealth: null, logFile,
      },
      child: null, pidStartTime: null, generation: 0, attemptStartedAt: Date.now(), readySince: null,
      backoffMs: this.backoff.initialMs, healthTimer: null, restartTimer: null, livenessTimer: null,
      launching: null, stopping: null, exited, markExited,
    };
  }

  private async startNew(spec: ReleaseSpec, key: string): Promise<void> {
    const id = `${safeSegment(`${spec.service}-${spec.environment}-${spec.version}`)}-${randomBytes(3).toString('hex')}`;
    const logFile = path.join(this.stateDir, 'logs', safeSegment(spec.service), safeSegment(spec.environment), safeSegment(spec.version), `${id}.log`);
    const port = await this.allocatePort();
    const inst = this.newInstance(spec, key, id, this.seq++, port, logFile);
    this.byId.set(id, inst);
    try {
      await this.launch(inst);
    } catch (err) {
      this.byId.delete(id);
      this.emit('removed', inst);
      throw err;
    }
    this.emit('state', inst);
  }

  private async allocatePort(): Promise<number> {
    const taken = new Set([...this.byId.values()].map((i) => i.status.port));
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      if (!taken.has(port) || attempt >= 10) return port;
    }
  }

  /** Starts the instance's process; resolves once it was spawned, rejects with a clear error otherwise. */
  private launch(inst: Instance): Promise<void> {
    const p = this.doLaunch(inst);
    inst.launching = p;
    return p.finally(() => { if (inst.launching === p) inst.launching = null; });
  }

  private async doLaunch(inst: Instance): Promise<void> {
    const { spec } = inst;
    const port = inst.status.port;
    const what = `${spec.service} ${spec.version} in ${spec.environment}`;
    const hint = `check services.${spec.service}.target.local (command and cwd) in gangway.yaml`;
    try {
      const st = await fsp.stat(spec.cwd);
      if (!st.isDirectory()) throw new GangwayError('invalid_argument', `cannot start ${what}: working directory ${spec.cwd} is not a directory`, hint);
    } catch (err) {
      if (err instanceof GangwayError) throw err;
      throw new GangwayError('invalid_argument', `cannot start ${what}: working directory ${spec.cwd} does not exist`, hint);
    }
    const argv = spec.command.map((a) => a.replaceAll('${port}', String(port)));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      ...(process.env.HOME !== undefined ? { HOME: process.env.HOME } : {}),
      ...spec.env,
      PORT: String(port),
    };
    await fsp.mkdir(path.dirname(inst.status.logFile), { recursive: true });
    const fd = fs.openSync(inst.status.logFile, 'a', 0o600);
    let child: ChildProcess;
    try {
      fs.writeSync(fd, `[gangway] ${new Date().toISOString()} starting ${inst.id} on port ${port}: ${JSON.stringify(argv)}\n`);
      child = spawn(argv[0]!, argv.slice(1), { cwd: spec.cwd, env, detached: true, stdio: ['ignore', fd, fd] });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const cmd = JSON.stringify(argv[0]);
      const reason = e.code === 'ENOENT' ? `command ${cmd} not found`
        : e.code === 'EACCES' ? `command ${cmd} is not executable (permission denied)`
        : `command ${cmd} failed to start: ${e.message}`;
      throw new GangwayError('invalid_argument', `cannot start ${what}: ${reason} (cwd ${spec.cwd})`, hint, undefined, { cause: err });
    } finally {
      fs.closeSync(fd);
    }
    child.removeAllListeners('error');
    child.on('error', (err) => this.log?.warn({ instance: inst.id, err: err.message }, 'instance process error'));
    const gen = ++inst.generation;
    inst.child = child;
    inst.status.pid = child.pid ?? null;
    inst.pidStartTime = child.pid !== undefined ? processInfo(child.pid)?.startTime ?? null : null;
    inst.status.startedAt = Date.now();
    inst.attemptStartedAt = Date.now();
    inst.exited = new Promise<void>((r) => { inst.markExited = r; });
    child.once('exit', (code, signal) => this.onExit(inst, gen, signal ? `killed by ${signal}` : `exited with code ${code}`));
    this.log?.info({ instance: inst.id, instancePid: child.pid, port, argv }, 'instance started');
    this.scheduleHealth(inst, Math.min(inst.spec.health.intervalMs, STARTING_CHECK_MS));
  }

  private onExit(inst: Instance, gen: number, how: string): void {
    if (gen !== inst.generation) return;
    inst.generation++;
    const pid = inst.status.pid;
    if (inst.healthTimer) { clearTimeout(inst.healthTimer); inst.healthTimer = null; }
    if (inst.livenessTimer) { clearInterval(inst.livenessTimer); inst.livenessTimer = null; }
    inst.child = null;
    inst.status.pid = null;
    inst.pidStartTime = null;
    appendLog(inst.status.logFile, `[gangway] ${new Date().toISOString()} ${inst.id} ${how}\n`);
    inst.markExited();
    if (inst.stopping || this.closed) return;
    // Leftover members of the process group (e.g. a server under `npm start`) would keep the port.
    if (pid !== null) killGroup(pid, 'SIGKILL');
    this.log?.warn({ instance: inst.id, instancePid: pid, how }, 'instance crashed');
    inst.status.lastHealth = { at: Date.now(), ok: false, detail: `process ${how}` };
    this.setState(inst, 'crashed');
    this.scheduleRestart(inst);
  }

  private scheduleRestart(inst: Instance, delayMs?: number): void {
    const now = Date.now();
    if (inst.readySince !== null && now - inst.readySince >= this.backoff.resetAfterMs) inst.backoffMs = this.backoff.initialMs;
    const delay = delayMs ?? inst.backoffMs;
    if (delayMs === undefined) inst.backoffMs = Math.min(inst.backoffMs * 2, this.backoff.maxMs);
    inst.readySince = null;
    inst.restartTimer = setTimeout(() => {
      inst.restartTimer = null;
      void this.restart(inst);
    }, delay);
  }

  private async restart(inst: Instance): Promise<void> {
    if (inst.stopping || this.closed) return;
    try {
      if (!(await isPortFree(inst.status.port))) inst.status.port = await this.allocatePort();
      if (inst.stopping || this.closed) return;
      inst.status.restarts++;
      inst.status.consecutiveFailures = 0;
      await this.launch(inst);
      if (!inst.stopping) this.setState(inst, 'starting');
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      this.log?.error({ instance: inst.id, err: detail }, 'instance restart failed');
      inst.status.lastHealth = { at: Date.now(), ok: false, detail };
      this.emit('health', inst);
      if (!inst.stopping && !this.closed) this.scheduleRestart(inst);
    }
  }

  private watchLiveness(inst: Instance, gen: number): void {
    const pid = inst.status.pid;
    const startTime = inst.pidStartTime;
    if (pid === null) return;
    inst.livenessTimer = setInterval(() => {
      if (!isSameProcess(pid, startTime)) this.onExit(inst, gen, 'exited (re-adopted process; exit code unknown)');
    }, this.livenessPollMs);
  }

  private scheduleHealth(inst: Instance, delayMs: number): void {
    if (inst.healthTimer) clearTimeout(inst.healthTimer);
    const gen = inst.generation;
    inst.healthTimer = setTimeout(() => {
      inst.healthTimer = null;
      void this.runHealth(inst, gen);
    }, delayMs);
  }

  private async runHealth(inst: Instance, gen: number): Promise<void> {
    const h = inst.spec.health;
    const url = `http://127.0.0.1:${inst.status.port}${h.path.startsWith('/') ? '' : '/'}${h.path}`;
    const result = await checkHttp(url, h.expect, h.timeoutMs);
    if (gen !== inst.generation || inst.stopping || this.closed) return;
    this.applyHealth(inst, result);
    const next = inst.status.state === 'starting' ? Math.min(h.intervalMs, STARTING_CHECK_MS) : h.intervalMs;
    this.scheduleHealth(inst, next);
  }

  private applyHealth(inst: Instance, r: HttpCheckResult): void {
    const s = inst.status;
    const now = Date.now();
    if (r.ok) {
      s.consecutiveFailures = 0;
      s.lastHealth = { at: now, ok: true, detail: r.detail };
      if (s.state !== 'ready') {
        s.readyAt = now;
        inst.readySince = now;
        this.setState(inst, 'ready');
      }
      this.emit('health', inst);
      return;
    }
    if (s.state === 'starting') {
      // Failures while starting are expected (not listening yet); they only explain the delay.
      const waited = now - inst.attemptStartedAt;
      const detail = waited >= inst.spec.health.startTimeoutMs
        ? `not ready after ${inst.spec.health.startTimeoutMs} ms: ${r.detail}`
        : r.detail;
      s.lastHealth = { at: now, ok: false, detail };
      this.emit('health', inst);
      return;
    }
    s.consecutiveFailures++;
    s.totalFailures++;
    s.lastHealth = { at: now, ok: false, detail: r.detail };
    if (s.state === 'ready' && s.consecutiveFailures >= inst.spec.health.failureThreshold) {
      inst.readySince = null;
      this.setState(inst, 'unhealthy');
    }
    this.emit('health', inst);
  }

  private stopInstance(inst: Instance, drainTimeoutMs: number): Promise<void> {
    if (inst.stopping) return inst.stopping;
    if (inst.restartTimer) { clearTimeout(inst.restartTimer); inst.restartTimer = null; }
    if (inst.healthTimer) { clearTimeout(inst.healthTimer); inst.healthTimer = null; }
    inst.stopping = (async () => {
      this.setState(inst, 'stopping');
      if (inst.launching) await inst.launching.catch(() => {});
      this.proxy?.forget(inst.id);
      const deadline = Date.now() + drainTimeoutMs;
      while (this.proxy && this.proxy.inflight(inst.id) > 0 && Date.now() < deadline) await sleep(20);
      await this.terminate(inst);
      this.setState(inst, 'stopped');
      this.clearTimers(inst);
      this.byId.delete(inst.id);
      this.emit('removed', inst);
      this.log?.info({ instance: inst.id }, 'instance stopped');
    })();
    return inst.stopping;
  }

  /** SIGTERM to the process group, SIGKILL after the kill timeout; resolves when the process is gone. */
  private async terminate(inst: Instance): Promise<void> {
    const pid = inst.status.pid;
    if (pid === null) return;
    if (!inst.child && !inst.livenessTimer) this.watchLiveness(inst, inst.generation);
    killGroup(pid, 'SIGTERM');
    if (await within(inst.exited, this.killTimeoutMs)) {
      killGroup(pid, 'SIGKILL');
      return;
    }
    this.log?.warn({ instance: inst.id, instancePid: pid }, `instance did not exit ${this.killTimeoutMs} ms after SIGTERM; sending SIGKILL`);
    killGroup(pid, 'SIGKILL');
    await within(inst.exited, 5000);
  }

  private clearTimers(inst: Instance): void {
    if (inst.healthTimer) clearTimeout(inst.healthTimer);
    if (inst.restartTimer) clearTimeout(inst.restartTimer);
    if (inst.livenessTimer) clearInterval(inst.livenessTimer);
    inst.healthTimer = inst.restartTimer = inst.livenessTimer = null;
  }

  private setState(inst: Instance, state: InstanceState): void {
    const prev = inst.status.state;
    if (prev === state) return;
    inst.status.state = state;
    if (prev === 'ready' || state === 'ready') this.rebuild(inst);
    this.log?.debug({ instance: inst.id, from: prev, to: state }, 'instance state');
    this.emit('state', inst);
  }

  private rebuild(inst: Instance): void {
    const { service, environment, version } = inst.spec;
    const list = [...this.byId.values()]
      .filter((i) => i.key === inst.key && i.status.state === 'ready')
      .sort((a, b) => a.seq - b.seq)
      .map((i): Backend => Object.freeze({ id: i.id, version, port: i.status.port }));
    let envs = this.readyIndex.get(service);
    if (!envs) this.readyIndex.set(service, envs = new Map());
    let versions = envs.get(environment);
    if (!versions) envs.set(environment, versions = new Map());
    if (list.length === 0) versions.delete(version);
    else versions.set(version, Object.freeze(list));
  }

  private emit(kind: SupervisorEvent['kind'], inst: Instance): void {
    if (!this.onEvent) return;
    try {
      this.onEvent({ kind, instance: this.snapshot(inst) });
    } catch (err) {
      this.log?.error({ err: (err as Error).message }, 'supervisor event listener failed');
    }
  }
}

function releaseKey(service: string, environment: string, version: string): string {
  return `${service}\u0000${environment}\u0000${version}`;
}

/** A name safe as one path segment and in an instance id. */
export function safeSegment(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9._-]/g, '_');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? `_${cleaned}` : cleaned;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone (ESRCH): nothing to stop.
  }
}

/**
 * Appends a lifecycle line to an instance log. Synchronous and before anyone hears of the exit:
 * a write still in flight after `stop` resolved would recreate a log its caller is removing.
 */
function appendLog(file: string, line: string): void {
  try {
    fs.appendFileSync(file, line, { mode: 0o600 });
  } catch {
    // the log directory is gone (state removed): the line has nowhere to go
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether `p` settles within `ms`. */
async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch {
    return [];
  }
}

/** The last `n` lines of a file, reading at most its last 256 KiB. */
async function tailLines(file: string, n: number): Promise<string[]> {
  if (n <= 0) return [];
  let fh: FileHandle | undefined;
  try {
    fh = await fsp.open(file, 'r');
    const { size } = await fh.stat();
    const len = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    if (len < size) lines.shift(); // the first line was cut
    return lines.slice(-n);
  } catch {
    return [];
  } finally {
    await fh?.close();
  }
}
