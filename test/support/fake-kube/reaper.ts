/**
 * Makes sure no process the FAKE kubelet started outlives the test process, however it ends.
 * Pods' processes run in their own process groups; every pid is tracked here and killed on
 * `killAll()`, on normal process exit, and — if the test process is SIGKILLed or crashes — by
 * a small watchdog process that notices its stdin closing (the pipe's other end was ours) and
 * SIGKILLs every tracked group. The watchdog starts with the first pod process.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

const WATCHDOG = `
const pids = new Set();
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    if (line[0] === '+') pids.add(Number(line.slice(1)));
    else if (line[0] === '-') pids.delete(Number(line.slice(1)));
  }
});
process.stdin.on('end', () => {
  for (const pid of pids) { try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch {} } }
  process.exit(0);
});
`;

const live = new Set<Reaper>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pid, signal); } catch { try { process.kill(pid, signal); } catch { /* already gone */ } }
}

/** Tracks the pids of one fake's pod processes. */
export class Reaper {
  readonly #pids = new Set<number>();
  #watchdog: ChildProcess | undefined;

  constructor() {
    live.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => { for (const r of live) r.killAll('SIGKILL'); });
    }
  }

  /** Starts tracking a process (its group is killed when the test process goes). */
  track(child: ChildProcess): void {
    if (child.pid === undefined) return;
    this.#pids.add(child.pid);
    this.#ensureWatchdog().stdin?.write(`+${child.pid}\n`);
  }

  /** Stops tracking a pid (the process has exited). */
  untrack(pid: number | undefined): void {
    if (pid === undefined) return;
    this.#pids.delete(pid);
    this.#watchdog?.stdin?.write(`-${pid}\n`);
  }

  /** Signals every tracked process group. */
  killAll(signal: NodeJS.Signals): void {
    for (const pid of this.#pids) killGroup(pid, signal);
  }

  /** Pids still tracked. */
  get pids(): number[] { return [...this.#pids]; }

  /** Stops the watchdog (after the processes were stopped) and forgets this reaper. */
  dispose(): void {
    this.killAll('SIGKILL');
    this.#pids.clear();
    live.delete(this);
    const w = this.#watchdog;
    this.#watchdog = undefined;
    if (w) { w.stdin?.end(); }
  }

  #ensureWatchdog(): ChildProcess {
    if (!this.#watchdog) {
      const w = spawn(process.execPath, ['-e', WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
      w.unref();
      w.stdin?.on('error', () => { /* watchdog gone */ });
      (w.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      this.#watchdog = w;
    }
    return this.#watchdog;
  }
}

/** Sends `signal` to a pod process's group. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid !== undefined) killGroup(pid, signal);
}
