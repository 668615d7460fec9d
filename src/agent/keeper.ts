/**
 * The agent's keeper: the small parent process of the agent's worker (the process that
 * proxies, supervises instances and answers the control socket).
 *
 * It holds a copy of every listening socket the worker opens (held-sockets.ts) and replaces the
 * worker the moment it dies of a crash or a SIGKILL. Because the sockets stay open in the
 * keeper, connections that arrive while no worker runs wait in the kernel's backlog instead of
 * being refused, and the new worker accepts them once it has re-adopted the instances from the
 * state file. The replacement is a spare worker started as soon as the current one serves: it
 * has loaded the agent's code and waits, so that taking over costs only the restore. The keeper
 * does nothing else, so that there is as little as possible in it to fail.
 *
 * What ends the keeper: the worker ending cleanly (exit code 0: SIGTERM, `gangway down`), a worker
 * that dies before it served (a failed start is reported to whoever started the agent), five
 * crashes within a minute (the orchestrator's agent supervision takes over from there), or a
 * SIGTERM/SIGINT to the keeper itself, which it passes on to the worker.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { KeeperMessage, RawHandle } from './held-sockets.js';

/** Options of {@link runKeeper}. */
export interface KeeperOptions {
  /** The agent's entry point, run with `workerArgs` plus `--worker`. */
  mainScript: string;
  workerArgs: readonly string[];
  /** Where the keeper writes one JSON line per event. Default stdout (the agent's log file). */
  log?: (event: Record<string, unknown>) => void;
  /** Crashes within `crashWindowMs` after which the keeper gives up. Default 5 in 60 s. */
  maxCrashes?: number;
  crashWindowMs?: number;
}

/** A running keeper (returned for tests; the agent process simply lets it run). */
export interface RunningKeeper {
  /** The current worker's pid, or null between two workers. */
  workerPid(): number | null;
  /** The spare worker's pid (loaded, waiting to take over), or null when there is none. */
  sparePid(): number | null;
  /** Sockets held now, by key. */
  heldKeys(): string[];
  /** Resolves with the exit code the keeper's process should end with. */
  readonly done: Promise<number>;
  /** Passes SIGTERM to the worker and resolves `done` once it has ended. */
  stop(): void;
}

/** A worker process as the keeper sees it. */
interface Worker {
  child: ChildProcess;
  /** It has loaded and asked for its sockets. */
  hello: boolean;
  /** Made the serving worker (a spare until then): its sockets are, or will be, sent. */
  active: boolean;
  /** It said it serves. */
  ready: boolean;
  activeAt: number;
}

/**
 * Starts the worker and keeps it running.
 *
 * @example
 * const keeper = runKeeper({ mainScript: '/app/dist/agent/main.js', workerArgs: ['--state-dir', dir, '--metrics-port', '9464'] });
 * process.exitCode = await keeper.done;
 */
export function runKeeper(opts: KeeperOptions): RunningKeeper {
  const log = opts.log ?? ((event) => process.stdout.write(`${JSON.stringify({ time: Date.now(), pid: process.pid, role: 'keeper', ...event })}\n`));
  const maxCrashes = opts.maxCrashes ?? 5;
  const crashWindowMs = opts.crashWindowMs ?? 60_000;
  const held = new Map<string, RawHandle>();
  const crashes: number[] = [];
  let worker: Worker | null = null;
  let spare: Worker | null = null;
  let stopping = false;
  let finish!: (code: number) => void;
  const done = new Promise<number>((r) => { finish = r; });

  const closeHandle = (handle: RawHandle): void => {
    try { (handle as { close?: () => void }).close?.(); } catch { /* already closed */ }
  };
  const end = (code: number): void => {
    stopping = true;
    spare?.child.kill('SIGTERM');
    spare = null;
    for (const handle of held.values()) closeHandle(handle);
    held.clear();
    finish(code);
  };
  /** The sockets, then `go`: from here on the worker serves. */
  const handOver = (w: Worker): void => {
    for (const [key, h] of held) w.child.send({ t: 'held', key } satisfies KeeperMessage, h as never);
    w.child.send({ t: 'go' } satisfies KeeperMessage);
  };
  const activate = (w: Worker): void => {
    w.active = true;
    w.activeAt = Date.now();
    worker = w;
    if (w.hello) handOver(w);
  };

  /** Starts a worker process; a spare one loads the agent and waits until it is activated. */
  const startWorker = (): Worker => {
    const child = fork(opts.mainScript, [...opts.workerArgs, '--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const w: Worker = { child, hello: false, active: false, ready: false, activeAt: Date.now() };
    child.on('message', (m: KeeperMessage, handle?: RawHandle) => {
      switch (m?.t) {
        case 'hello':
          w.hello = true;
          if (w.active) handOver(w);
          break;
        case 'hold':
          if (handle === undefined || !w.active) break;
          if (held.has(m.key)) closeHandle(held.get(m.key)!);
          held.set(m.key, handle);
          break;
        case 'release': {
          if (!w.active) break;
          const h = held.get(m.key);
          if (h !== undefined) { closeHandle(h); held.delete(m.key); }
          break;
        }
        case 'ready':
          if (!w.active) break;
          w.ready = true;
          log({ msg: 'agent worker serving', worker: m.pid, startMs: Date.now() - w.activeAt, held: held.size });
          // The next worker loads now, so that a crash finds one ready to take over.
          if (spare === null && !stopping) spare = startWorker();
          break;
        default:
          break;
      }
    });
    // A send to a worker that died in between fails; its exit below decides what comes next.
    child.on('error', (err) => log({ msg: 'agent worker channel error', err: err.message }));
    child.once('exit', (code, signal) => {
      if (!w.active) {
        // A spare that died: the next worker to serve forks another.
        if (spare === w) spare = null;
        if (!stopping) log({ msg: 'spare agent worker ended', code, signal });
        return;
      }
      worker = null;
      if (stopping || (code === 0 && signal === null)) { end(code ?? 0); return; }
      if (!w.ready) {
        log({ msg: 'agent worker failed to start', code, signal });
        end(code ?? 1);
        return;
      }
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && crashes[0]! < now - crashWindowMs) crashes.shift();
      if (crashes.length >= maxCrashes) {
        log({ msg: `agent worker crashed ${crashes.length} times within ${crashWindowMs} ms; giving up`, code, signal });
        end(1);
        return;
      }
      log({ msg: 'agent worker died; starting it again, the sockets held', code, signal, held: [...held.keys()], spare: spare !== null });
      const next = spare ?? startWorker();
      spare = null;
      activate(next);
    });
    return w;
  };

  activate(startWorker());
  return {
    workerPid: () => worker?.child.pid ?? null,
    sparePid: () => spare?.child.pid ?? null,
    heldKeys: () => [...held.keys()],
    done,
    stop() {
      stopping = true;
      spare?.child.kill('SIGTERM');
      if (worker === null) end(0);
      else worker.child.kill('SIGTERM');
    },
  };
}
