/**
 * A continuous request loop, as users would send: keep-alive connections, several at once.
 * Counts every answer and every failure. It goes to a public port on loopback, or to a URL
 * (http or https, with headers and a CA to trust: a Kubernetes Service through the API
 * server's proxy). The loop runs in its own process (test/support/load-worker.mjs): a
 * synchronous call in the test's process (`spawnSync`, `execFileSync`) would freeze an
 * in-process client and fake failures.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HELPER_START_LIMIT_MS, HelperStartError } from './helper-start.js';

export interface LoadResult {
  ok: number;
  failed: number;
  /** The first 20 failures, as `status 503: <body>` or `request error ECONNRESET`. */
  failures: string[];
  /** 200 answers per version (the body, trimmed). */
  versions: Record<string, number>;
  /** Per version, the ordinal (among all answers and failures, from 1) of its first and last 200. */
  seen: Record<string, { first: number; last: number }>;
  /** The version of the last 200, or null. */
  last: string | null;
}

/** Where the loop sends `GET`s: a URL, with headers (a bearer token) and a CA certificate to trust for https. */
export interface LoadTarget { url: string; headers?: Record<string, string>; ca?: string }

/** A running loop. */
export interface Load {
  /** Resolves once its process runs. */
  ready: Promise<void>;
  /** Resolves at the first 200 answer. */
  answered: Promise<void>;
  /** Resolves at the first 200 answer whose body is `version` (app.mjs answers its version). */
  answeredBy(version: string): Promise<void>;
  /** Ends the loop and returns what it counted. */
  stop(): Promise<LoadResult>;
}

const WORKER = fileURLToPath(new URL('./load-worker.mjs', import.meta.url));

/**
 * Starts the loop against `127.0.0.1:<port>` or a `LoadTarget`.
 *
 * @example
 * ```ts
 * const load = startLoad(8080, 4);
 * await load.ready;
 * // … deploy …
 * expect((await load.stop()).failed).toBe(0);
 *
 * const viaService = startLoad({ url: `${kube.url}/api/v1/namespaces/shop/services/web:80/proxy/`, headers: { authorization: `Bearer ${kube.token}` }, ca: kube.caCert }, 2);
 * ```
 */
export function startLoad(to: number | LoadTarget, concurrency = 4): Load {
  const where = typeof to === 'number' ? String(to) : to.url;
  const request = typeof to === 'number' ? undefined : JSON.stringify({ headers: to.headers ?? {}, ...(to.ca ? { ca: to.ca } : {}) });
  const child = spawn(process.execPath, [WORKER, where, String(concurrency)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: request === undefined ? process.env : { ...process.env, LOAD_REQUEST: request },
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
  // 'close', not 'exit': by then everything the worker printed (its result line) has been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new HelperStartError('load worker', HELPER_START_LIMIT_MS, `did not report ready within ${HELPER_START_LIMIT_MS} ms`, out + err, true));
    }, HELPER_START_LIMIT_MS);
    const check = () => { if (out.startsWith('ready\n')) { clearTimeout(limit); child.stdout.off('data', check); resolve(); } };
    child.stdout.on('data', check);
    void exited.then((code) => { clearTimeout(limit); reject(new HelperStartError('load worker', HELPER_START_LIMIT_MS, `exited with ${code} before it started`, out + err)); });
  });
  ready.catch(() => undefined);
  // What the worker reported so far ("answered", "version V"), and who waits for which line. No
  // time limit of their own: a test that waits has its own, and the worker's exit rejects them.
  const reported = new Set<string>();
  const waiting = new Map<string, Array<{ resolve: () => void; reject: (e: Error) => void }>>();
  let partial = '';
  child.stdout.on('data', (c: string) => {
    partial += c;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      reported.add(line);
      for (const w of waiting.get(line) ?? []) w.resolve();
      waiting.delete(line);
    }
  });
  let closed = false;
  void exited.then((code) => {
    closed = true;
    for (const [line, ws] of waiting) for (const w of ws) w.reject(new Error(`load worker exited with ${code} before it reported "${line}": ${err.slice(-500)}`));
    waiting.clear();
  });
  const reportedLine = (line: string): Promise<void> => {
    if (reported.has(line)) return Promise.resolve();
    if (closed) return Promise.reject(new Error(`load worker exited before it reported "${line}"`));
    return new Promise((resolve, reject) => { waiting.set(line, [...(waiting.get(line) ?? []), { resolve, reject }]); });
  };
  const answered = reportedLine('answered');
  answered.catch(() => undefined);
  return {
    ready,
    answered,
    answeredBy: (version) => reportedLine(`version ${version}`),
    async stop() {
      if (child.exitCode === null) child.stdin.end('stop\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) throw new Error(`load worker exited with ${code}: ${err.slice(-500)}`);
      return JSON.parse(line) as LoadResult;
    },
  };
}
