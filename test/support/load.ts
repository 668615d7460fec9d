/**
 * A continuous request loop through a public port, as users would send: keep-alive
 * connections, several at once. Counts every answer and every failure. The loop runs in its
 * own process (test/support/load-worker.mjs): a synchronous call in the test's process
 * (`spawnSync`, `execFileSync`) would freeze an in-process client and fake failures.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HELPER_START_LIMIT_MS, HelperStartError } from './helper-start.js';

export interface LoadResult { ok: number; failed: number; failures: string[]; versions: Record<string, number> }

const WORKER = fileURLToPath(new URL('./load-worker.mjs', import.meta.url));

/**
 * Starts the loop; `ready` resolves once its process runs, `stop()` ends it and returns what it counted.
 *
 * @example
 * ```ts
 * const load = startLoad(8080, 4);
 * await load.ready;
 * // … deploy …
 * expect((await load.stop()).failed).toBe(0);
 * ```
 */
export function startLoad(port: number, concurrency = 4): { ready: Promise<void>; stop(): Promise<LoadResult> } {
  const child = spawn(process.execPath, [WORKER, String(port), String(concurrency)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
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
  return {
    ready,
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
