/**
 * A paced request loop against a public port, in its own process (./outage-worker.mjs), that
 * measures an outage: failures by kind and the longest time between two answers. A new
 * connection per request, so a port nobody listens on shows at once.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HELPER_START_LIMIT_MS, HelperStartError } from './helper-start.js';

export interface OutageResult {
  ok: number;
  failed: number;
  /** Failures by kind: `request ECONNREFUSED`, `request ECONNRESET`, `status 502` … */
  failures: Record<string, number>;
  /** 200 answers per version (the body, trimmed). */
  versions: Record<string, number>;
  /** Milliseconds since the loop started; null when nothing failed. */
  firstFailureAt: number | null;
  lastFailureAt: number | null;
  /** The first 200 after the first failure. */
  servedAgainAt: number | null;
  /** The longest time between two 200 answers, in ms. */
  longestGapMs: number;
}

export interface OutageLoad {
  ready: Promise<void>;
  /** Resolves at the first 200 after a failure. */
  servedAgain: Promise<void>;
  stop(): Promise<OutageResult>;
}

const WORKER = fileURLToPath(new URL('./outage-worker.mjs', import.meta.url));

/** Starts `concurrency` workers sending GET / to 127.0.0.1:`port`, each pausing `paceMs` between requests. */
export function startOutageLoad(port: number, concurrency = 4, paceMs = 10): OutageLoad {
  const child = spawn(process.execPath, [WORKER, String(port), String(concurrency), String(paceMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const line = (text: string, limitMs: number | null) => new Promise<void>((resolve, reject) => {
    const timer = limitMs === null ? null : setTimeout(() => reject(new HelperStartError('outage worker', limitMs, `did not report ${text}`, out + err, true)), limitMs);
    const check = () => { if (out.split('\n').includes(text)) { if (timer) clearTimeout(timer); child.stdout.off('data', check); resolve(); } };
    child.stdout.on('data', check);
    check();
    void exited.then(() => { if (timer) clearTimeout(timer); reject(new Error(`outage worker exited before it reported ${text}: ${err.slice(-500)}`)); });
  });
  const ready = line('ready', HELPER_START_LIMIT_MS);
  const servedAgain = line('served-after-failure', null);
  ready.catch(() => undefined);
  servedAgain.catch(() => undefined);
  return {
    ready,
    servedAgain,
    async stop() {
      if (child.exitCode === null) child.stdin.end('stop\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      const json = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !json) throw new Error(`outage worker exited with ${code}: ${err.slice(-500)}`);
      return JSON.parse(json) as OutageResult;
    },
  };
}
