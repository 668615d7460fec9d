/**
 * The FAKE kubelet (and scheduler): binds every pod to the node `fake-node`, runs its
 * containers by what the IMAGE says, and writes pod status as a real kubelet does — phase,
 * conditions (PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled),
 * containerStatuses with ready, started, restartCount, state and lastState.
 *
 * Image behaviours (by repository; `setImageBehaviour` adds or replaces one):
 * - `fake.local/ok` → Running, Ready shortly after; `fake.local/never-ready` → Running, never Ready;
 * - `fake.local/crashloop` → runs briefly, exits 1, waits in `CrashLoopBackOff`, restarts, with
 *   restartCount climbing; `fake.local/pull-error` and any unknown repository → waiting
 *   `ErrImagePull`, then `ImagePullBackOff`, alternating;
 * - `fake.local/job-ok` / `fake.local/job-fail` → print log lines and exit 0 / 1;
 * - a "process" behaviour (the app images given at start) runs a REAL process on a free
 *   loopback port: PORT set to it, the container's env (value, fieldRef, secretKeyRef,
 *   configMapKeyRef) passed, stdout/stderr kept as the container's log; Ready when the
 *   readinessProbe's httpGet answers 200–399 (at once without a probe); restarted with
 *   backoff when it exits (restartPolicy permitting); on pod deletion its preStop hook first
 *   (`sleep`, `exec` as a real process, `httpGet` on its port), then SIGTERM, then SIGKILL after
 *   the grace period (at least 2 s after a hook's SIGTERM, as upstream).
 *
 * Simplified, and said so: time is compressed (probes run every `probeIntervalMs` whatever
 * periodSeconds says; CrashLoopBackOff starts at `backoffBaseMs` instead of 10 s); liveness
 * and startup probes are not run; a process image runs its registered command plus the
 * container's `args` (the container's `command` is ignored); every container port of a
 * process container maps to its one loopback port; init containers are not run.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import type { FakeApi } from './api.js';
import { recordEvent } from './events.js';
import type { Endpoint } from './proxy.js';
import type { Reaper } from './reaper.js';
import { signalGroup } from './reaper.js';
import { resolveKind } from './resources.js';
import type { LogLine, LogSource, PodRuntime } from './server.js';
import { ApiError } from './status.js';
import type { Obj } from './util.js';
import { deepEqual, isObj, nowRfc3339 } from './util.js';

/** How a container of an image behaves. */
export type ImageBehaviour =
  | { kind: 'ready'; readyAfterMs?: number; logs?: string[] }
  | { kind: 'never-ready'; logs?: string[] }
  | { kind: 'crashloop'; runMs?: number; exitCode?: number; logs?: string[] }
  | { kind: 'pull-error' }
  | { kind: 'exit'; exitCode: number; runMs?: number; logs?: string[] }
  | { kind: 'process'; command: string[]; env?: Record<string, string>; cwd?: string };

/** The behaviours every fake knows. */
export const BUILTIN_IMAGES: Record<string, ImageBehaviour> = {
  'fake.local/ok': { kind: 'ready' },
  'fake.local/never-ready': { kind: 'never-ready' },
  'fake.local/crashloop': { kind: 'crashloop' },
  'fake.local/pull-error': { kind: 'pull-error' },
  'fake.local/job-ok': { kind: 'exit', exitCode: 0, logs: ['migration: starting', 'migration: applied 3 changes', 'migration: done'] },
  'fake.local/job-fail': { kind: 'exit', exitCode: 1, logs: ['migration: starting', 'migration: error: relation "users" already exists', 'migration: failed'] },
};

/** Timings of the fake kubelet (ms). */
export interface KubeletTimings {
  /** ContainerCreating → running. */
  startMs: number;
  /** Running → Ready for `fake.local/ok`. */
  readyMs: number;
  /** How long a crash-looping or job container runs before it exits. */
  runMs: number;
  /** First CrashLoopBackOff delay; doubles per restart up to backoffMaxMs. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** ErrImagePull ↔ ImagePullBackOff period. */
  pullRetryMs: number;
  /** Readiness probe period of process containers. */
  probeIntervalMs: number;
}

/** Repository of an image reference (`fake.local/app:1.2` → `fake.local/app`). */
export function repositoryOf(image: string): string {
  const noDigest = image.split('@')[0];
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

class LogBuffer implements LogSource {
  readonly #lines: LogLine[] = [];
  readonly #listeners = new Set<{ line: (l: LogLine) => void; end: () => void }>();
  #ended = false;
  #partial = '';
  constructor(private readonly limit = 5000) {}
  push(text: string): void {
    const l = { time: Date.now(), text };
    this.#lines.push(l);
    if (this.#lines.length > this.limit) this.#lines.shift();
    for (const x of [...this.#listeners]) x.line(l);
  }
  /** Appends raw output, splitting lines. */
  write(chunk: string): void {
    this.#partial += chunk;
    let i: number;
    while ((i = this.#partial.indexOf('\n')) >= 0) {
      this.push(this.#partial.slice(0, i));
      this.#partial = this.#partial.slice(i + 1);
    }
  }
  end(): void {
    if (this.#partial) { this.push(this.#partial); this.#partial = ''; }
    this.#ended = true;
    for (const x of [...this.#listeners]) x.end();
    this.#listeners.clear();
  }
  lines(): LogLine[] { return [...this.#lines]; }
  ended(): boolean { return this.#ended; }
  follow(onLine: (l: LogLine) => void, onEnd: () => void): () => void {
    const x = { line: onLine, end: onEnd };
    if (this.#ended) { onEnd(); return () => {}; }
    this.#listeners.add(x);
    return () => { this.#listeners.delete(x); };
  }
}

interface Terminated { exitCode: number; reason: string; startedAt: string; finishedAt: string; containerID: string; signal?: number }

interface ContainerState {
  name: string;
  image: string;
  behaviour: ImageBehaviour;
  phase: 'creating' | 'pulling' | 'running' | 'backoff' | 'terminated' | 'config-error';
  waitingReason?: string;
  waitingMessage?: string;
  restartCount: number;
  startedAt?: number;
  readySince?: number;
  ready: boolean;
  nextAt: number;
  terminated?: Terminated;
  lastTerminated?: Terminated;
  log: LogBuffer;
  previousLog?: LogBuffer;
  process?: ChildProcess;
  port?: number;
  probeSuccesses: number;
  probeFailures: number;
  probeBusy: boolean;
  lastProbeAt: number;
  exitPending?: { code: number | null; signal: NodeJS.Signals | null };
  containerId: string;
  killRequested: boolean;
  pullToggle: number;
  preStop?: PreStopState;
}

/** A container's preStop hook while its pod terminates. */
interface PreStopState {
  /** The hook finished (or failed). */
  ended: boolean;
  /** The container was stopped after it (or the grace period ran out). */
  done: boolean;
  /** The process of an `exec` hook. */
  child?: ChildProcess;
}

interface PodState {
  uid: string;
  ns: string;
  name: string;
  podIp: string;
  startTime: string;
  containers: ContainerState[];
  terminating: boolean;
  /** The grace period the pod was deleted with (s); a later delete may shorten it. */
  grace?: number;
  killAt?: number;
  conditionTimes: Record<string, string>;
  scheduledAt: string;
}

/** Options of the fake kubelet. */
export interface KubeletOptions {
  api: FakeApi;
  images: Map<string, ImageBehaviour>;
  timings: KubeletTimings;
  reaper: Reaper;
  events: boolean;
  /** Working directory of process images without their own `cwd`. */
  cwd: string;
}

let podIpCounter = 0;

/** What a container gets between SIGTERM and SIGKILL at least, once its preStop hook used up the grace period (kubelet's minimumGracePeriodInSeconds). */
const MIN_SHUTDOWN_MS = 2000;

const SIGNALS: Record<string, number> = { SIGTERM: 15, SIGKILL: 9, SIGINT: 2, SIGHUP: 1, SIGABRT: 6, SIGSEGV: 11 };

/** Frees a loopback port: listens on port 0 and closes. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The fake kubelet. `sync()` is called by the fake's control loop. */
export class Kubelet implements PodRuntime {
  readonly #pods = new Map<string, PodState>();
  readonly #pending = new Set<Promise<unknown>>();

  constructor(private readonly o: KubeletOptions) {}

  /** The behaviour of an image. */
  behaviourOf(image: string): ImageBehaviour {
    const repo = repositoryOf(image);
    return this.o.images.get(repo) ?? BUILTIN_IMAGES[repo] ?? { kind: 'pull-error' };
  }

  /** Pids of running pod processes. */
  get pids(): number[] {
    const out: number[] = [];
    for (const p of this.#pods.values()) for (const c of p.containers) if (c.process?.pid !== undefined && c.process.exitCode === null && c.process.signalCode === null) out.push(c.process.pid);
    return out;
  }

  /** One pass over every pod: bind, start, advance, probe, terminate, write status. */
  sync(): void {
    const podRt = resolveKind('Pod');
    const pods = this.o.api.select(podRt, undefined);
    const seen = new Set<string>();
    for (const pod of pods) {
      const m = pod.metadata as Obj;
      const uid = String(m.uid);
      seen.add(uid);
      const ns = String(m.namespace);
      const name = String(m.name);
      const spec = (pod.spec ?? {}) as Obj;
      if (!spec.nodeName) {
        const bound = this.o.api.mutate(podRt, ns, name, (o) => { (o.spec as Obj).nodeName = 'fake-node'; }, 'kube-scheduler');
        if (!bound) continue;
        recordEvent(this.o.api, this.o.events, bound, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${name} to fake-node`, 'default-scheduler');
      }
      let st = this.#pods.get(uid);
      if (!st) {
        st = this.#newPodState(pod);
        this.#pods.set(uid, st);
      }
      if (m.deletionTimestamp) this.#terminate(st, pod);
      else this.#advance(st, pod);
      if (st.terminating && st.containers.every((c) => !this.#alive(c))) {
        this.#finishDeletion(st, pod);
        continue;
      }
      this.#writeStatus(st, pod);
    }
    for (const [uid, st] of this.#pods) {
      if (seen.has(uid)) continue;
      // Removed without a graceful termination (force delete, namespace gone): stop now.
      for (const c of st.containers) { this.#kill(c, 'SIGKILL'); this.#endPreStop(c); }
      for (const c of st.containers) if (!this.#alive(c)) c.log.end();
      if (st.containers.every((c) => !this.#alive(c))) this.#pods.delete(uid);
    }
  }

  /** Waits for in-flight probes and port allocations (used by `close()`). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  /** Stops every process: SIGTERM, then SIGKILL after `graceMs`. */
  async stopAll(graceMs: number): Promise<void> {
    for (const c of [...this.#pods.values()].flatMap((p) => p.containers)) this.#endPreStop(c);
    const all = [...this.#pods.values()].flatMap((p) => p.containers).filter((c) => this.#alive(c));
    for (const c of all) this.#kill(c, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (all.some((c) => this.#alive(c)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of all) if (this.#alive(c)) this.#kill(c, 'SIGKILL');
    const hard = Date.now() + 2000;
    while (all.some((c) => this.#alive(c)) && Date.now() < hard) await new Promise((r) => setTimeout(r, 20));
    await this.settle();
  }

  // ---------------------------------------------------------------- state machine

  #newPodState(pod: Obj): PodState {
    const m = pod.metadata as Obj;
    const spec = (pod.spec ?? {}) as Obj;
    const now = Date.now();
    podIpCounter += 1;
    const containers = ((Array.isArray(spec.containers) ? spec.containers : []) as Obj[]).map((c): ContainerState => ({
      name: String(c.name),
      image: String(c.image),
      behaviour: this.behaviourOf(String(c.image)),
      phase: 'creating',
      waitingReason: 'ContainerCreating',
      restartCount: 0,
      ready: false,
      nextAt: now + this.o.timings.startMs,
      log: new LogBuffer(),
      probeSuccesses: 0,
      probeFailures: 0,
      probeBusy: false,
      lastProbeAt: 0,
      containerId: '',
      killRequested: false,
      pullToggle: 0,
    }));
    return {
      uid: String(m.uid), ns: String(m.namespace), name: String(m.name),
      podIp: `10.244.${Math.floor(podIpCounter / 250) % 250}.${(podIpCounter % 250) + 2}`,
      startTime: nowRfc3339(now), containers, terminating: false, conditionTimes: {}, scheduledAt: nowRfc3339(now),
    };
  }

  #alive(c: ContainerState): boolean {
    if (c.process) return c.process.exitCode === null && c.process.signalCode === null && !c.exitPending;
    return c.phase === 'running';
  }

  #advance(st: PodState, pod: Obj): void {
    const now = Date.now();
    const spec = (pod.spec ?? {}) as Obj;
    const restartPolicy = String(spec.restartPolicy ?? 'Always');
    const containerSpecs = (Array.isArray(spec.containers) ? spec.containers : []) as Obj[];
    for (const c of st.containers) {
      const cspec = containerSpecs.find((x) => x.name === c.name) ?? {};
      // The image of a running pod may be updated in place (upstream allows only that change).
      if (typeof cspec.image === 'string' && cspec.image !== c.image) {
        c.image = cspec.image;
        c.behaviour = this.behaviourOf(c.image);
        if (this.#alive(c)) this.#kill(c, 'SIGTERM');
      }
      if (c.exitPending) this.#onExit(st, pod, c, restartPolicy);
      switch (c.phase) {
        case 'creating':
        case 'pulling':
        case 'config-error':
          if (now >= c.nextAt) this.#start(st, pod, c, cspec);
          break;
        case 'backoff':
          if (now >= c.nextAt) this.#start(st, pod, c, cspec);
          break;
        case 'running':
          this.#running(st, pod, c, cspec);
          break;
        case 'terminated':
          break;
      }
    }
  }

  #start(st: PodState, pod: Obj, c: ContainerState, cspec: Obj): void {
    const now = Date.now();
    const b = c.behaviour;
    if (b.kind === 'pull-error') {
      c.phase = 'pulling';
      c.pullToggle += 1;
      const backOff = c.pullToggle % 2 === 0;
      c.waitingReason = backOff ? 'ImagePullBackOff' : 'ErrImagePull';
      c.waitingMessage = backOff
        ? `Back-off pulling image "${c.image}"`
        : `failed to pull and unpack image "${c.image}": failed to resolve reference "${c.image}": pull access denied, repository does not exist or may require authorization`;
      c.nextAt = now + this.o.timings.pullRetryMs;
      recordEvent(this.o.api, this.o.events, pod, 'Warning', backOff ? 'BackOff' : 'Failed', backOff ? `Back-off pulling image "${c.image}"` : `Failed to pull image "${c.image}": ${c.waitingMessage}`, 'kubelet');
      return;
    }
    let env: Record<string, string> = {};
    if (b.kind === 'process') {
      const resolved = this.#env(pod, cspec);
      if (resolved instanceof Error) {
        c.phase = 'config-error';
        c.waitingReason = 'CreateContainerConfigError';
        c.waitingMessage = resolved.message;
        c.nextAt = now + this.o.timings.pullRetryMs;
        return;
      }
      env = resolved;
    }
    if (c.restartCount > 0 || c.terminated) {
      c.previousLog = c.log;
      c.log = new LogBuffer();
    }
    c.phase = 'running';
    c.waitingReason = undefined;
    c.waitingMessage = undefined;
    c.startedAt = now;
    c.ready = false;
    c.readySince = undefined;
    c.terminated = undefined;
    c.probeSuccesses = 0;
    c.probeFailures = 0;
    c.killRequested = false;
    c.containerId = `containerd://${createHash('sha256').update(`${st.uid}/${c.name}/${c.restartCount}/${now}`).digest('hex')}`;
    if (c.restartCount === 0) recordEvent(this.o.api, this.o.events, pod, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`, 'kubelet');
    recordEvent(this.o.api, this.o.events, pod, 'Normal', 'Started', `Started container ${c.name}`, 'kubelet');
    if (b.kind === 'process') { this.#spawn(st, pod, c, cspec, b, env); return; }
    const lines = 'logs' in b && b.logs ? b.logs : b.kind === 'crashloop' ? ['starting', `fatal: ${c.image} exits on purpose (crash loop)`] : [`${c.image} started in pod ${st.name}`];
    for (const l of lines) c.log.push(l);
  }

  #running(st: PodState, pod: Obj, c: ContainerState, cspec: Obj): void {
    const now = Date.now();
    const b = c.behaviour;
    const t = this.o.timings;
    switch (b.kind) {
      case 'ready':
        if (!c.ready && now >= (c.startedAt ?? now) + (b.readyAfterMs ?? t.readyMs)) { c.ready = true; c.readySince = now; }
        return;
      case 'never-ready':
        return;
      case 'crashloop':
        if (now >= (c.startedAt ?? now) + (b.runMs ?? t.runMs)) c.exitPending = { code: b.exitCode ?? 1, signal: null };
        break;
      case 'exit':
        if (now >= (c.startedAt ?? now) + (b.runMs ?? t.runMs)) c.exitPending = { code: b.exitCode, signal: null };
        break;
      case 'process':
        this.#probe(c, cspec);
        return;
      default:
        return;
    }
    if (c.exitPending) this.#onExit(st, pod, c, String(((pod.spec ?? {}) as Obj).restartPolicy ?? 'Always'));
  }

  #onExit(st: PodState, pod: Obj, c: ContainerState, restartPolicy: string): void {
    const ex = c.exitPending;
    if (!ex) return;
    c.exitPending = undefined;
    const now = Date.now();
    const signal = ex.signal ? SIGNALS[ex.signal] ?? 9 : undefined;
    const exitCode = ex.code ?? (signal !== undefined ? 128 + signal : 1);
    const term: Terminated = {
      exitCode,
      reason: exitCode === 0 ? 'Completed' : 'Error',
      startedAt: nowRfc3339(c.startedAt ?? now),
      finishedAt: nowRfc3339(now),
      containerID: c.containerId,
      ...(signal !== undefined ? { signal } : {}),
    };
    c.ready = false;
    c.readySince = undefined;
    c.process = undefined;
    c.log.end();
    const restart = !st.terminating && (restartPolicy === 'Always' || (restartPolicy === 'OnFailure' && exitCode !== 0));
    if (!restart) {
      c.phase = 'terminated';
      c.terminated = term;
      return;
    }
    c.lastTerminated = term;
    c.terminated = undefined;
    c.restartCount += 1;
    const delay = Math.min(this.o.timings.backoffMaxMs, this.o.timings.backoffBaseMs * 2 ** (c.restartCount - 1));
    c.phase = 'backoff';
    c.waitingReason = 'CrashLoopBackOff';
    c.waitingMessage = `back-off ${Math.max(1, Math.round(delay / 1000))}s restarting failed container=${c.name} pod=${st.name}_${st.ns}(${st.uid})`;
    c.nextAt = now + delay;
    recordEvent(this.o.api, this.o.events, pod, 'Warning', 'BackOff', 'Back-off restarting failed container', 'kubelet');
  }

  /**
   * Graceful termination as the kubelet does it (killContainer): a container with a preStop
   * hook keeps running while the hook runs (at most the grace period); then, or at once without
   * a hook, SIGTERM; SIGKILL when the grace period is over, though never sooner than 2 s after
   * the SIGTERM that follows a hook (upstream's minimum shutdown window). The pod is no longer
   * Ready meanwhile, so the service proxy stops picking it as soon as it is marked for deletion.
   */
  #terminate(st: PodState, pod: Obj): void {
    const m = pod.metadata as Obj;
    const grace = typeof m.deletionGracePeriodSeconds === 'number' ? m.deletionGracePeriodSeconds : 30;
    if (!st.terminating) {
      st.terminating = true;
      st.grace = grace;
      st.killAt = Date.now() + grace * 1000;
      const specs = ((isObj(pod.spec) && Array.isArray(pod.spec.containers) ? pod.spec.containers : []) as Obj[]);
      for (const c of st.containers) {
        if (c.phase === 'running') recordEvent(this.o.api, this.o.events, pod, 'Normal', 'Killing', `Stopping container ${c.name}`, 'kubelet');
        const cspec = specs.find((x) => x.name === c.name) ?? {};
        const hook = isObj(cspec.lifecycle) && isObj(cspec.lifecycle.preStop) ? cspec.lifecycle.preStop : undefined;
        if (hook && grace > 0 && c.phase === 'running' && this.#alive(c)) this.#startPreStop(st, pod, c, cspec, hook);
        else this.#stopContainer(c);
      }
    } else if (grace < (st.grace ?? Infinity)) {
      // Deleted again with a shorter grace period: the deadline moves closer, never further.
      st.grace = grace;
      st.killAt = Math.min(st.killAt ?? Infinity, Date.now() + grace * 1000);
    }
    for (const c of st.containers) {
      const hook = c.preStop;
      if (!hook || hook.done) continue;
      const alive = this.#alive(c);
      if (alive && !hook.ended && Date.now() < (st.killAt ?? 0)) continue;
      this.#endPreStop(c);
      if (!alive) continue;
      st.killAt = Math.max(st.killAt ?? 0, Date.now() + MIN_SHUTDOWN_MS);
      this.#stopContainer(c);
    }
    for (const c of st.containers) {
      if (c.exitPending) this.#onExit(st, pod, c, 'Never');
      c.ready = false;
      if (c.process && this.#alive(c) && Date.now() >= (st.killAt ?? 0)) this.#kill(c, 'SIGKILL');
      if (!this.#alive(c) && c.phase !== 'terminated') { c.phase = 'terminated'; c.log.end(); }
    }
  }

  /** Marks a container's preStop hook done, killing an `exec` hook's process that still runs. */
  #endPreStop(c: ContainerState): void {
    const hook = c.preStop;
    if (!hook) return;
    hook.done = true;
    if (hook.child && hook.child.exitCode === null && hook.child.signalCode === null) signalGroup(hook.child.pid, 'SIGKILL');
  }

  /** SIGTERM to a process container; a built-in one ends as if it exited 0; one not running is terminated now. */
  #stopContainer(c: ContainerState): void {
    if (c.process && this.#alive(c)) this.#kill(c, 'SIGTERM');
    else if (c.phase !== 'terminated') {
      if (c.phase === 'running') c.exitPending = { code: 0, signal: null };
      else { c.phase = 'terminated'; c.log.end(); }
    }
  }

  /**
   * Starts a container's preStop hook: `sleep` waits, `exec` runs the command (a real process,
   * with the container's environment; a built-in image has no process to run it in, so it ends
   * at once), `httpGet` requests the container's port. A hook that fails is a
   * `FailedPreStopHook` event; either way the container is stopped next.
   */
  #startPreStop(st: PodState, pod: Obj, c: ContainerState, cspec: Obj, hook: Obj): void {
    const state: PreStopState = { ended: false, done: false };
    c.preStop = state;
    // Upstream's wording: `Exec lifecycle hook ([sleep 5]) for Container "web" in Pod "web-…_shop(uid)" failed - error: …`.
    const failed = (what: string, error: string): void => {
      recordEvent(this.o.api, this.o.events, pod, 'Warning', 'FailedPreStopHook', `${what} for Container "${c.name}" in Pod "${st.name}_${st.ns}(${st.uid})" failed - error: ${error}`, 'kubelet');
    };
    if (isObj(hook.sleep)) {
      const ms = Math.max(0, Number(hook.sleep.seconds ?? 0)) * 1000;
      const timer = setTimeout(() => { state.ended = true; }, ms);
      timer.unref();
      return;
    }
    if (isObj(hook.exec) && Array.isArray(hook.exec.command) && hook.exec.command.length > 0 && c.behaviour.kind === 'process') {
      const command = (hook.exec.command as unknown[]).map(String);
      const b = c.behaviour;
      const env = this.#env(pod, cspec);
      const what = `Exec lifecycle hook ([${command.join(' ')}])`;
      if (env instanceof Error) {
        state.ended = true;
        failed(what, env.message);
        return;
      }
      let child: ChildProcess;
      try {
        child = spawn(command[0], command.slice(1), {
          cwd: b.cwd ?? this.o.cwd,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', HOSTNAME: st.name, ...(b.env ?? {}), ...env, ...(c.port !== undefined ? { PORT: String(c.port) } : {}) },
          stdio: 'ignore',
          detached: true,
        });
      } catch (err) {
        state.ended = true;
        failed(what, (err as Error).message);
        return;
      }
      state.child = child;
      this.o.reaper.track(child);
      child.on('error', (err) => { state.ended = true; failed(what, err.message); });
      child.on('exit', (code, signal) => {
        this.o.reaper.untrack(child.pid);
        state.ended = true;
        if (code !== 0 && !state.done) failed(what, `command '${command.join(' ')}' exited with ${code ?? 128 + (SIGNALS[signal ?? ''] ?? 9)}: , message: ""`);
      });
      return;
    }
    if (isObj(hook.httpGet) && c.behaviour.kind === 'process' && c.port !== undefined) {
      const g = hook.httpGet;
      const path = String(g.path ?? '/');
      const headers: Record<string, string> = { 'user-agent': 'kube-lifecycle/1.32' };
      for (const h of (Array.isArray(g.httpHeaders) ? g.httpHeaders : []) as Obj[]) headers[String(h.name)] = String(h.value);
      const req = httpRequest({ host: '127.0.0.1', port: c.port, path, method: 'GET', headers }, (res) => {
        res.resume();
        res.on('end', () => { state.ended = true; });
        res.on('error', () => { state.ended = true; });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        state.ended = true;
        failed(`HTTP lifecycle hook (${path})`, `Get "http://127.0.0.1:${c.port}${path}": ${err.code === 'ECONNREFUSED' ? `dial tcp 127.0.0.1:${c.port}: connect: connection refused` : err.message}`);
      });
      req.end();
      return;
    }
    state.ended = true;
  }

  #finishDeletion(st: PodState, pod: Obj): void {
    const m = pod.metadata as Obj;
    const podRt = resolveKind('Pod');
    this.#writeStatus(st, pod);
    const finalizers = Array.isArray(m.finalizers) ? m.finalizers : [];
    if (finalizers.length === 0) this.o.api.removeNow(podRt, st.ns, st.name);
    else this.o.api.mutate(podRt, st.ns, st.name, (o) => { (o.metadata as Obj).deletionGracePeriodSeconds = 0; }, 'kubelet');
    this.#pods.delete(st.uid);
  }

  #kill(c: ContainerState, signal: NodeJS.Signals): void {
    c.killRequested = true;
    if (c.process && c.process.exitCode === null && c.process.signalCode === null) signalGroup(c.process.pid, signal);
  }

  // ---------------------------------------------------------------- processes

  #env(pod: Obj, cspec: Obj): Record<string, string> | Error {
    const m = pod.metadata as Obj;
    const out: Record<string, string> = {};
    const ns = String(m.namespace);
    const list = Array.isArray(cspec.env) ? (cspec.env as Obj[]) : [];
    for (const e of list) {
      const name = String(e.name);
      if (typeof e.value === 'string') { out[name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, v: string) => out[v] ?? all); continue; }
      const vf = isObj(e.valueFrom) ? e.valueFrom : undefined;
      if (!vf) { out[name] = ''; continue; }
      if (isObj(vf.fieldRef)) {
        const path = String(vf.fieldRef.fieldPath);
        const lm = path.match(/^metadata\.(labels|annotations)\['(.+)'\]$/);
        if (lm) out[name] = String(((m[lm[1]] ?? {}) as Obj)[lm[2]] ?? '');
        else if (path === 'metadata.name') out[name] = String(m.name);
        else if (path === 'metadata.namespace') out[name] = ns;
        else if (path === 'metadata.uid') out[name] = String(m.uid);
        else if (path === 'spec.nodeName') out[name] = 'fake-node';
        else if (path === 'status.podIP') out[name] = this.#pods.get(String(m.uid))?.podIp ?? '';
        else if (path === 'status.hostIP') out[name] = '127.0.0.1';
        else out[name] = '';
        continue;
      }
      const ref = isObj(vf.secretKeyRef) ? { kind: 'Secret', r: vf.secretKeyRef } : isObj(vf.configMapKeyRef) ? { kind: 'ConfigMap', r: vf.configMapKeyRef } : undefined;
      if (!ref) { out[name] = ''; continue; }
      const obj = this.o.api.find(resolveKind(ref.kind), ns, String(ref.r.name));
      const key = String(ref.r.key);
      const data = obj && isObj(obj.data) ? obj.data : undefined;
      if (!obj || !data || data[key] === undefined) {
        if (ref.r.optional === true) continue;
        return new Error(obj ? `couldn't find key ${key} in ${ref.kind} ${ns}/${String(ref.r.name)}` : `${ref.kind.toLowerCase()} "${String(ref.r.name)}" not found`);
      }
      out[name] = ref.kind === 'Secret' ? Buffer.from(String(data[key]), 'base64').toString('utf8') : String(data[key]);
    }
    return out;
  }

  #spawn(st: PodState, pod: Obj, c: ContainerState, cspec: Obj, b: Extract<ImageBehaviour, { kind: 'process' }>, env: Record<string, string>): void {
    const launch = (port: number): void => {
      c.port = port;
      if (c.phase !== 'running' || st.terminating) return;
      const args = Array.isArray(cspec.args) ? (cspec.args as unknown[]).map(String) : [];
      const [cmd, ...rest] = b.command;
      const childEnv: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        HOSTNAME: st.name,
        ...(b.env ?? {}),
        ...env,
        PORT: String(port),
      };
      let child: ChildProcess;
      try {
        child = spawn(cmd, [...rest, ...args], { cwd: b.cwd ?? this.o.cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      } catch (err) {
        c.exitPending = { code: 128, signal: null };
        c.log.push(`fake kubelet: cannot start ${cmd}: ${(err as Error).message}`);
        return;
      }
      c.process = child;
      this.o.reaper.track(child);
      child.stdout?.setEncoding('utf8');
      child.stderr?.setEncoding('utf8');
      const log = c.log;
      child.stdout?.on('data', (d: string) => log.write(d));
      child.stderr?.on('data', (d: string) => log.write(d));
      child.on('error', (err) => {
        log.push(`fake kubelet: cannot start ${cmd}: ${err.message}`);
        if (c.process === child) c.exitPending = { code: 128, signal: null };
      });
      child.on('exit', (code, signal) => {
        this.o.reaper.untrack(child.pid);
        if (c.process === child) c.exitPending = { code, signal };
      });
    };
    if (c.port !== undefined) { launch(c.port); return; }
    const p = freePort().then(launch, (err: Error) => { c.log.push(`fake kubelet: no free port: ${err.message}`); c.exitPending = { code: 128, signal: null }; });
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  #probe(c: ContainerState, cspec: Obj): void {
    const probe = isObj(cspec.readinessProbe) ? cspec.readinessProbe : undefined;
    const now = Date.now();
    if (!c.process || c.port === undefined) return;
    if (!probe) {
      if (!c.ready) { c.ready = true; c.readySince = now; }
      return;
    }
    const initialDelay = Number(probe.initialDelaySeconds ?? 0) * 1000;
    if (now < (c.startedAt ?? now) + initialDelay || c.probeBusy || now - c.lastProbeAt < this.o.timings.probeIntervalMs) return;
    const httpGet = isObj(probe.httpGet) ? probe.httpGet : undefined;
    const tcp = isObj(probe.tcpSocket) ? probe.tcpSocket : undefined;
    if (!httpGet && !tcp) {
      if (!c.ready) { c.ready = true; c.readySince = now; }
      return;
    }
    c.probeBusy = true;
    c.lastProbeAt = now;
    const timeoutMs = Math.max(1, Number(probe.timeoutSeconds ?? 1)) * 1000;
    const successThreshold = Number(probe.successThreshold ?? 1);
    const failureThreshold = Number(probe.failureThreshold ?? 3);
    const port = c.port;
    const p = new Promise<boolean>((resolve) => {
      const path = httpGet ? String(httpGet.path ?? '/') : '/';
      const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs, headers: { 'user-agent': 'kube-probe/1.32', accept: '*/*' } }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(tcp ? true : code >= 200 && code < 400);
      });
      req.on('timeout', () => { req.destroy(); resolve(false); });
      req.on('error', () => resolve(false));
      req.end();
    }).then((ok) => {
      c.probeBusy = false;
      if (c.phase !== 'running') return;
      if (ok) {
        c.probeFailures = 0;
        c.probeSuccesses += 1;
        if (!c.ready && c.probeSuccesses >= successThreshold) { c.ready = true; c.readySince = Date.now(); }
      } else {
        c.probeSuccesses = 0;
        c.probeFailures += 1;
        if (c.ready && c.probeFailures >= failureThreshold) { c.ready = false; c.readySince = undefined; }
      }
    });
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  // ---------------------------------------------------------------- status

  #containerStatus(c: ContainerState): Obj {
    const imageID = `${repositoryOf(c.image)}@sha256:${createHash('sha256').update(c.image).digest('hex')}`;
    let state: Obj;
    if (c.phase === 'running') state = { running: { startedAt: nowRfc3339(c.startedAt) } };
    else if (c.phase === 'terminated' && c.terminated) state = { terminated: { ...c.terminated } };
    else state = { waiting: { reason: c.waitingReason ?? 'ContainerCreating', ...(c.waitingMessage ? { message: c.waitingMessage } : {}) } };
    return {
      name: c.name,
      state,
      lastState: c.lastTerminated ? { terminated: { ...c.lastTerminated } } : {},
      ready: c.ready,
      restartCount: c.restartCount,
      image: c.image,
      imageID: c.phase === 'pulling' ? '' : imageID,
      ...(c.containerId ? { containerID: c.containerId } : {}),
      started: c.phase === 'running',
    };
  }

  #phase(st: PodState, restartPolicy: string): string {
    let waiting = 0;
    let running = 0;
    let stopped = 0;
    let succeeded = 0;
    for (const c of st.containers) {
      if (c.phase === 'running') running++;
      else if (c.phase === 'terminated') { stopped++; if (c.terminated?.exitCode === 0) succeeded++; }
      else if (c.lastTerminated) stopped++;
      else waiting++;
    }
    if (running > 0) return 'Running';
    if (stopped > 0 && waiting === 0) {
      if (restartPolicy === 'Always') return 'Running';
      const allDone = st.containers.every((c) => c.phase === 'terminated');
      if (!allDone) return 'Running';
      if (stopped === succeeded) return 'Succeeded';
      return 'Failed';
    }
    return 'Pending';
  }

  #condition(st: PodState, existing: Obj[], type: string, status: boolean, reason?: string, message?: string): Obj {
    const prev = existing.find((x) => x.type === type);
    const s = status ? 'True' : 'False';
    let time = st.conditionTimes[`${type}/${s}`];
    if (!time) {
      time = prev && prev.status === s && typeof prev.lastTransitionTime === 'string' ? prev.lastTransitionTime : nowRfc3339();
      st.conditionTimes = Object.fromEntries(Object.entries(st.conditionTimes).filter(([k]) => !k.startsWith(`${type}/`)));
      st.conditionTimes[`${type}/${s}`] = time;
    }
    return { type, status: s, lastProbeTime: null, lastTransitionTime: time, ...(reason ? { reason } : {}), ...(message ? { message } : {}) };
  }

  #writeStatus(st: PodState, pod: Obj): void {
    const spec = (pod.spec ?? {}) as Obj;
    const restartPolicy = String(spec.restartPolicy ?? 'Always');
    const phase = this.#phase(st, restartPolicy);
    const existing = (isObj(pod.status) && Array.isArray(pod.status.conditions) ? pod.status.conditions : []) as Obj[];
    const unready = st.containers.filter((c) => !c.ready).map((c) => c.name);
    const allReady = unready.length === 0 && st.containers.length > 0;
    const done = phase === 'Succeeded' || phase === 'Failed';
    const readyReason = done ? 'PodCompleted' : allReady ? undefined : 'ContainersNotReady';
    const readyMsg = !done && !allReady ? `containers with unready status: [${unready.join(' ')}]` : undefined;
    const sandbox = !st.terminating || st.containers.some((c) => this.#alive(c));
    const conditions = [
      this.#condition(st, existing, 'PodReadyToStartContainers', sandbox && !done),
      this.#condition(st, existing, 'Initialized', true, done ? 'PodCompleted' : undefined),
      this.#condition(st, existing, 'Ready', allReady && !done, readyReason, readyMsg),
      this.#condition(st, existing, 'ContainersReady', allReady && !done, readyReason, readyMsg),
      this.#condition(st, existing, 'PodScheduled', true),
    ];
    conditions[4].lastTransitionTime = st.scheduledAt;
    const status: Obj = {
      phase,
      conditions,
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: st.podIp,
      podIPs: [{ ip: st.podIp }],
      startTime: st.startTime,
      containerStatuses: st.containers.map((c) => this.#containerStatus(c)),
      qosClass: 'BestEffort',
    };
    if (isObj(pod.status) && deepEqual(pod.status, status)) return;
    this.o.api.mutate(resolveKind('Pod'), st.ns, st.name, (o) => { o.status = status; }, 'kubelet', 'status');
  }

  // ---------------------------------------------------------------- logs and proxy

  /** The log of a container (PodRuntime). */
  logs(_ns: string, pod: Obj, container: string, previous: boolean): LogSource | ApiError {
    const m = pod.metadata as Obj;
    const st = this.#pods.get(String(m.uid));
    const c = st?.containers.find((x) => x.name === container);
    const name = String(m.name);
    if (previous) {
      const prev = c?.previousLog ?? (c && c.lastTerminated && c.phase !== 'running' ? c.log : undefined);
      if (!prev) return new ApiError(400, 'BadRequest', `previous terminated container "${container}" in pod "${name}" not found`);
      return prev;
    }
    if (!c || (c.phase !== 'running' && c.phase !== 'terminated' && !c.lastTerminated)) {
      const why = c?.phase === 'pulling' ? 'trying and failing to pull image' : c?.waitingReason ?? 'ContainerCreating';
      return new ApiError(400, 'BadRequest', `container "${container}" in pod "${name}" is waiting to start: ${why}`);
    }
    return c.log;
  }

  /** Where a pod's port is served (PodRuntime / PodEndpoints). */
  endpoint(_ns: string, pod: Obj, port: string | undefined): Endpoint | ApiError {
    const m = pod.metadata as Obj;
    const name = String(m.name);
    const st = this.#pods.get(String(m.uid));
    const specs = ((isObj(pod.spec) && Array.isArray(pod.spec.containers) ? pod.spec.containers : []) as Obj[]);
    let cname: string | undefined;
    if (port !== undefined) {
      for (const cs of specs) {
        const ports = (Array.isArray(cs.ports) ? cs.ports : []) as Obj[];
        if (ports.some((p) => p.name === port || String(p.containerPort) === port)) { cname = String(cs.name); break; }
      }
      if (!cname && /^[0-9]+$/.test(port)) cname = specs.length ? String(specs[0].name) : undefined;
      if (!cname) return new ApiError(503, 'ServiceUnavailable', `error trying to reach service: pod ${name} has no port named ${JSON.stringify(port)}`);
    } else {
      cname = String((specs.find((cs) => Array.isArray(cs.ports) && cs.ports.length) ?? specs[0])?.name);
    }
    const c = st?.containers.find((x) => x.name === cname);
    const target = `${st?.podIp ?? '<none>'}:${port ?? '80'}`;
    const refused = new ApiError(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${target}: connect: connection refused`);
    if (!st || !c || c.phase !== 'running') return refused;
    if (c.behaviour.kind === 'process') {
      if (!c.process || c.port === undefined) return refused;
      return { kind: 'tcp', host: '127.0.0.1', port: c.port };
    }
    const b = c.behaviour;
    const image = c.image;
    if (b.kind === 'ready' || b.kind === 'never-ready') {
      return {
        kind: 'builtin',
        respond: (_req: IncomingMessage, res: ServerResponse) => {
          const up = b.kind === 'ready';
          res.writeHead(up ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status: up ? 'UP' : 'DOWN', image, pod: name }));
        },
      };
    }
    return refused;
  }
}
