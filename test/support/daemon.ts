/**
 * Starts a server binary for a test suite (Prometheus, Alertmanager, a registry), collects its
 * output, waits until an HTTP readiness URL answers, and stops it (SIGTERM, then SIGKILL after
 * 5 s), optionally removing its folder. Test-only.
 *
 * The start has a time limit (`timeoutMs`): past it the daemon is killed and the start rejects
 * with a `HelperStartError` (`timedOut`) naming it, the limit and its last output lines; a
 * daemon that exits while starting rejects the same way with its exit code. The readiness
 * polls have their own short timeout, so a daemon that accepts connections but never answers
 * cannot hold the start past its limit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { HelperStartError, OutputLog, killOnExit } from './helper-start.js';

export interface Daemon {
  /** Everything it printed so far (for failure messages). */
  log(): string;
  /** Stops it and, when asked, removes `dir`. Idempotent. */
  stop(removeDir: boolean): Promise<void>;
}

export async function startDaemon(opts: {
  name: string;
  bin: string;
  args: string[];
  /** Polled until `ready(status)` holds. */
  readyUrl: string;
  ready?: (status: number) => boolean;
  /** The daemon's folder, removed by stop(true). */
  dir: string;
  /** The start's time limit (keep it well below vitest's hookTimeout of 120 s). */
  timeoutMs: number;
  port: number;
}): Promise<Daemon> {
  const output = new OutputLog();
  const child: ChildProcess = spawn(opts.bin, opts.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const forget = killOnExit(child);
  output.follow(child);
  let exited: string | null = null;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => { exited = signal ? `killed by ${signal}` : `exited with code ${code}`; resolve(); });
    child.once('error', (err) => { exited = `could not start: ${err.message}`; resolve(); });
  });

  let stopping: Promise<void> | null = null;
  const stop = (removeDir: boolean, signal: NodeJS.Signals = 'SIGTERM') => {
    stopping ??= (async () => {
      if (exited === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitedPromise;
        clearTimeout(timer);
      }
      forget();
      if (removeDir) await rm(opts.dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const ready = opts.ready ?? ((status: number) => status === 200);
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (exited !== null) {
      await stop(false);
      throw new HelperStartError(opts.name, opts.timeoutMs, `${exited} while starting on port ${opts.port}`, output.text());
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      await stop(false, 'SIGKILL');
      throw new HelperStartError(opts.name, opts.timeoutMs, `did not become ready on port ${opts.port} within ${opts.timeoutMs} ms`, output.text(), true);
    }
    try {
      const res = await fetch(opts.readyUrl, { signal: AbortSignal.timeout(Math.min(1000, Math.max(50, left))) });
      await res.arrayBuffer();
      if (ready(res.status)) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { log: () => output.text(), stop };
}
