/**
 * Starts a server binary for a test suite (Prometheus, Alertmanager, a registry), collects its
 * output, waits until an HTTP readiness URL answers, and stops it (SIGTERM, then SIGKILL after
 * 5 s), optionally removing its folder. Test-only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';

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
  timeoutMs: number;
  port: number;
}): Promise<Daemon> {
  let output = '';
  const child: ChildProcess = spawn(opts.bin, opts.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c: Buffer) => { output += c.toString('utf8'); });
  child.stderr!.on('data', (c: Buffer) => { output += c.toString('utf8'); });
  let exited: string | null = null;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => { exited = signal ? `killed by ${signal}` : `exited with code ${code}`; resolve(); });
    child.once('error', (err) => { exited = `could not start: ${err.message}`; resolve(); });
  });

  let stopping: Promise<void> | null = null;
  const stop = (removeDir: boolean) => {
    stopping ??= (async () => {
      if (exited === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitedPromise;
        clearTimeout(timer);
      }
      if (removeDir) await rm(opts.dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const ready = opts.ready ?? ((status: number) => status === 200);
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (exited !== null) {
      await stop(false);
      throw new Error(`${opts.name} ${exited} while starting on port ${opts.port}:\n${output.trim()}`);
    }
    try {
      const res = await fetch(opts.readyUrl, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (ready(res.status)) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(false);
      throw new Error(`${opts.name} did not become ready on port ${opts.port} within ${opts.timeoutMs} ms:\n${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { log: () => output, stop };
}
