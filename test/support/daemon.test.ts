/**
 * The daemon helper's start limit: a daemon that never becomes ready is killed within its
 * limit and the start fails naming it, the limit and its last output lines; one that exits at
 * once fails with its exit code and output.
 */
import { describe, expect, it, vi } from 'vitest';
import { startDaemon } from './daemon.js';
import { HelperStartError, logTail } from './helper-start.js';
import { freePort } from '../../src/agent/ports.js';

/** A node one-liner as the daemon binary. */
async function start(script: string, timeoutMs: number) {
  const port = await freePort();
  return startDaemon({
    name: 'test-daemon', bin: process.execPath, args: ['-e', script], dir: '/nonexistent-never-removed',
    port, timeoutMs, readyUrl: `http://127.0.0.1:${port}/ready`,
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startDaemon', () => {
  it('kills a daemon whose readyUrl never answers and fails within its limit, with its output', async () => {
    const startedAt = Date.now();
    // Prints 30 numbered lines and its pid, then waits without listening. A shell, not node:
    // it prints all of it within milliseconds even on a loaded machine.
    const port = await freePort();
    const err = await startDaemon({
      name: 'test-daemon', bin: '/bin/sh', dir: '/nonexistent-never-removed', port, timeoutMs: 1000, readyUrl: `http://127.0.0.1:${port}/ready`,
      args: ['-c', 'i=1; while [ $i -le 30 ]; do echo "line $i"; i=$((i + 1)); done; echo "pid $$"; exec sleep 600'],
    }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(HelperStartError);
    const e = err as HelperStartError;
    expect(e.timedOut).toBe(true);
    expect(e.message).toMatch(/^test-daemon did not become ready on port \d+ within 1000 ms; last 20 lines of its output:\n/);
    expect(e.message).toContain('line 30');
    expect(e.message).not.toContain('line 10\n');
    const pid = Number(/pid (\d+)/.exec(e.message)![1]);
    expect(isAlive(pid)).toBe(false);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
  });

  it('fails with the exit code and output of a binary that exits at once', async () => {
    const err = await start('console.error("cannot bind: address in use"); process.exit(3);', 20_000).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(HelperStartError);
    const e = err as HelperStartError;
    expect(e.timedOut).toBe(false);
    expect(e.message).toMatch(/^test-daemon exited with code 3 while starting on port \d+ \(start limit 20000 ms\); last 1 lines of its output:\ncannot bind: address in use$/);
  });

  it('fails naming the binary when it cannot be started at all', async () => {
    const port = await freePort();
    const err = await startDaemon({
      name: 'missing-daemon', bin: '/nonexistent/bin/daemon', args: [], dir: '/nonexistent-never-removed', port, timeoutMs: 5000,
      readyUrl: `http://127.0.0.1:${port}/`,
    }).then(() => null, (e: unknown) => e);
    expect((err as Error).message).toMatch(/^missing-daemon could not start: spawn \/nonexistent\/bin\/daemon ENOENT while starting on port \d+ \(start limit 5000 ms\); it printed nothing$/);
  });

  it('resolves once the readyUrl answers, and stop() ends it', async () => {
    const port = await freePort();
    const d = await startDaemon({
      name: 'http-daemon', bin: process.execPath, dir: '/nonexistent-never-removed', port, timeoutMs: 10_000, readyUrl: `http://127.0.0.1:${port}/ready`,
      args: ['-e', `require("http").createServer((q, r) => r.end("ok")).listen(${port}, "127.0.0.1", () => console.log("listening"))`],
    });
    // The readiness answer and the child's stdout arrive on different descriptors: the line may
    // be read a moment after the URL answered, so wait for it rather than read it at once.
    await vi.waitFor(() => expect(d.log()).toContain('listening'), { timeout: 10_000, interval: 20 });
    await d.stop(false);
    await expect(fetch(`http://127.0.0.1:${port}/ready`)).rejects.toThrow();
  });
});

describe('logTail', () => {
  it('keeps the last lines without trailing blank ones', () => {
    expect(logTail('a\nb\nc\n\n', 2)).toBe('b\nc');
    expect(logTail('  \n')).toBe('');
  });
});
