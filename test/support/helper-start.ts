/**
 * Time limits for starting the helper processes test suites need (PostgreSQL, Prometheus,
 * Alertmanager, a registry, Chromium, `gangway up`, the load worker). A helper that does not
 * come up within its limit is killed and its start fails with a `HelperStartError` naming the
 * helper, the limit and the last lines of its output — so a suite that cannot start its
 * helper fails with its name instead of holding the run (many suites start their helper in a
 * top-level `await`, where vitest's hookTimeout does not apply).
 *
 * @example
 * ```ts
 * if (Date.now() > deadline) {
 *   child.kill('SIGKILL');
 *   throw new HelperStartError('prometheus', limitMs, `did not become ready within ${limitMs} ms`, output, true);
 * }
 * ```
 */
import type { ChildProcess } from 'node:child_process';

/**
 * Default start limit of a helper: well below vitest's hookTimeout (120 s, vitest.config.ts).
 * `GANGWAY_HELPER_START_LIMIT_MS` overrides it (e.g. a short one to see the failure path).
 */
export const HELPER_START_LIMIT_MS = Number(process.env.GANGWAY_HELPER_START_LIMIT_MS) || 60_000;

/** How many lines of a helper's output a start error quotes. */
export const LOG_TAIL_LINES = 20;

/** The last `lines` non-empty-trailing lines of `text`. */
export function logTail(text: string, lines = LOG_TAIL_LINES): string {
  const trimmed = text.replace(/\s+$/, '');
  if (trimmed === '') return '';
  return trimmed.split('\n').slice(-lines).join('\n');
}

/**
 * A helper process that was present but did not start: it exited, could not be spawned, or
 * did not become ready within its limit (`timedOut`). Unlike a missing prerequisite, this
 * fails the suite (see `probeOrSkip` in ./require.ts).
 */
export class HelperStartError extends Error {
  override name = 'HelperStartError';
  constructor(
    readonly helper: string,
    readonly limitMs: number,
    readonly reason: string,
    output: string,
    readonly timedOut = false,
  ) {
    const tail = logTail(output);
    super(`${helper} ${reason}${timedOut ? '' : ` (start limit ${limitMs} ms)`}; ${tail ? `last ${Math.min(LOG_TAIL_LINES, tail.split('\n').length)} lines of its output:\n${tail}` : 'it printed nothing'}`);
  }
}

/** A bounded buffer of a helper's output (the start error quotes its end). */
export class OutputLog {
  #text = '';
  constructor(private readonly maxChars = 64 * 1024) {}
  append(chunk: Buffer | string): void {
    this.#text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (this.#text.length > this.maxChars) this.#text = this.#text.slice(-this.maxChars);
  }
  /** Collects a child's stdout and stderr. */
  follow(child: ChildProcess): void {
    child.stdout?.on('data', (c: Buffer) => this.append(c));
    child.stderr?.on('data', (c: Buffer) => this.append(c));
  }
  text(): string {
    return this.#text;
  }
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * SIGKILLs `child` if this process exits while it still runs (a crashed or killed test worker
 * must not leave a database server behind). Returns the function that forgets it again.
 */
export function killOnExit(child: ChildProcess): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  children.add(child);
  return () => { children.delete(child); };
}

/** Resolves with how a child ended: `exited with code N`, `killed by SIGX` or `could not start: …`. */
export function endOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) { resolve(`exited with code ${child.exitCode}`); return; }
    if (child.signalCode !== null) { resolve(`killed by ${child.signalCode}`); return; }
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exited with code ${code}`));
    child.once('error', (err) => resolve(`could not start: ${err.message}`));
  });
}

/** Sends `signal`, then SIGKILL after `graceMs`, and waits until the child has exited. */
export async function terminate(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}
