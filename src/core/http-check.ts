/**
 * HTTP checks: the agent's per-instance health checks, the engine's smoke checks and the
 * webhook checks of gates. A failing check is an expected outcome, so `checkHttp` never
 * throws: it returns what differed in words a user can act on.
 */
import http from 'node:http';
import https from 'node:https';
import { request as undiciRequest, type Dispatcher } from 'undici';

/** An HTTP expectation: status code and, optionally, JSON body fields that must match exactly. */
export interface HttpExpect {
  status: number;
  /** Dotted field paths (e.g. `status` or `checks.db`) mapped to the exact expected value. */
  json?: Record<string, unknown>;
  /** A substring the body must contain. */
  bodyContains?: string;
}

/** Outcome of one HTTP check. `status` is null when no response arrived. */
export interface HttpCheckResult {
  ok: boolean;
  status: number | null;
  /** What was seen ("status 200") or exactly what differed ("expected status 200, got 503"). */
  detail: string;
  /** The response body (first 64 KiB), when a response arrived. */
  body?: string;
  durationMs: number;
}

/** Request options beyond the URL. */
export interface HttpCheckOptions {
  method?: string;
  headers?: Record<string, string>;
  /**
   * Send the request with this undici dispatcher (TLS settings such as a cluster's CA, as a
   * target's `Reach` may carry); absent: node:http(s) with a fresh connection.
   */
  dispatcher?: Dispatcher;
}

/** Bodies beyond this are cut: health endpoints are small and a check must stay cheap. */
const MAX_BODY = 64 * 1024;

/** A timer that fires this much later than asked means the event loop, not the app, was slow. */
const LOOP_LAG_MS = 100;

/**
 * Sends one request and compares the response with `expect`: status code, then the dotted JSON
 * field paths (exact match, deep for objects and arrays), then `bodyContains`.
 *
 * @example
 * const r = await checkHttp('http://127.0.0.1:8080/health', { status: 200, json: { status: 'UP' } }, 1000);
 * // r.ok === false, r.detail === 'expected json field status = "UP", got "DOWN"'
 */
export function checkHttp(url: string, expect: HttpExpect, timeoutMs: number, options: HttpCheckOptions = {}): Promise<HttpCheckResult> {
  if (options.dispatcher) return checkWithDispatcher(url, expect, timeoutMs, options, options.dispatcher);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve({ ok: false, status: null, detail: `invalid URL ${JSON.stringify(url)}`, durationMs: elapsed() });
      return;
    }
    let settled = false;
    const finish = (r: Omit<HttpCheckResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (giveUp) clearImmediate(giveUp);
      resolve({ ...r, durationMs: elapsed() });
    };
    const lib = target.protocol === 'https:' ? https : http;
    // The limit is the app's time to answer, not ours: when this process's event loop was held
    // up (a loaded machine, a long synchronous task), the timer fires late and before the answer
    // waiting in the socket is read. Then the check gets the limit once more, measured from now.
    let extended = false;
    let giveUp: NodeJS.Immediate | null = null;
    const expire = () => {
      if (!extended && elapsed() > timeoutMs + LOOP_LAG_MS) {
        extended = true;
        timer = setTimeout(expire, timeoutMs);
        return;
      }
      // Timers run before the event loop reads sockets: an answer already waiting when the limit
      // passes is read (and settles the check) before this gives up.
      giveUp = setImmediate(() => {
        finish({ ok: false, status: null, detail: `timed out after ${timeoutMs} ms` });
        req.destroy();
      });
    };
    let timer = setTimeout(expire, timeoutMs);
    // agent: false so a check never reuses a connection to a process that has since been replaced.
    const req = lib.request(target, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_BODY) { chunks.push(c); size += c.length; }
      });
      res.on('error', (err) => finish({ ok: false, status: res.statusCode ?? null, detail: describeError(err) }));
      res.on('end', () => {
        const body = Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
        const status = res.statusCode ?? 0;
        const mismatch = compare(status, body, expect);
        finish({ ok: mismatch === null, status, detail: mismatch ?? `status ${status}`, body });
      });
    });
    req.on('error', (err) => finish({ ok: false, status: null, detail: describeError(err) }));
    req.end();
  });
}

/** {@link checkHttp} through an undici dispatcher: same outcomes, same words. */
async function checkWithDispatcher(url: string, expect: HttpExpect, timeoutMs: number, options: HttpCheckOptions, dispatcher: Dispatcher): Promise<HttpCheckResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    new URL(url);
  } catch {
    return { ok: false, status: null, detail: `invalid URL ${JSON.stringify(url)}`, durationMs: elapsed() };
  }
  const ac = new AbortController();
  // As above: a timer that fires late because our own event loop was busy gives the app its limit
  // once more, and an answer already waiting when the limit passes is read before giving up.
  let extended = false;
  let giveUp: NodeJS.Immediate | null = null;
  const expire = () => {
    if (!extended && elapsed() > timeoutMs + LOOP_LAG_MS) {
      extended = true;
      timer = setTimeout(expire, timeoutMs);
      return;
    }
    giveUp = setImmediate(() => ac.abort());
  };
  let timer = setTimeout(expire, timeoutMs);
  try {
    const res = await undiciRequest(url, {
      method: (options.method ?? 'GET') as Dispatcher.HttpMethod, headers: options.headers, dispatcher, signal: ac.signal,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body as AsyncIterable<Buffer>) {
      if (size < MAX_BODY) { chunks.push(c); size += c.length; }
    }
    const body = Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
    const mismatch = compare(res.statusCode, body, expect);
    return { ok: mismatch === null, status: res.statusCode, detail: mismatch ?? `status ${res.statusCode}`, body, durationMs: elapsed() };
  } catch (err) {
    if (ac.signal.aborted) return { ok: false, status: null, detail: `timed out after ${timeoutMs} ms`, durationMs: elapsed() };
    const cause = (err as { cause?: Error & { code?: string } }).cause;
    return { ok: false, status: null, detail: describeError(cause ?? (err as Error & { code?: string })), durationMs: elapsed() };
  } finally {
    clearTimeout(timer);
    if (giveUp) clearImmediate(giveUp);
  }
}

/** Returns null when the response matches, else the first difference in words. */
export function compare(status: number, body: string, expect: HttpExpect): string | null {
  if (status !== expect.status) return `expected status ${expect.status}, got ${status}`;
  if (expect.json && Object.keys(expect.json).length > 0) {
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      return `expected a JSON body, got ${JSON.stringify(truncate(body, 80))}`;
    }
    for (const [path, want] of Object.entries(expect.json)) {
      const got = lookup(doc, path);
      if (got === MISSING) return `expected json field ${path} = ${JSON.stringify(want)}, got nothing (field missing)`;
      if (!deepEqual(got, want)) return `expected json field ${path} = ${JSON.stringify(want)}, got ${JSON.stringify(got)}`;
    }
  }
  if (expect.bodyContains !== undefined && !body.includes(expect.bodyContains)) {
    return `expected body to contain ${JSON.stringify(expect.bodyContains)}, got ${JSON.stringify(truncate(body, 80))}`;
  }
  return null;
}

const MISSING = Symbol('missing');

function lookup(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return MISSING;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) + '…' : s;
}

function describeError(err: Error & { code?: string }): string {
  switch (err.code) {
    case 'ECONNREFUSED': return 'connection refused';
    case 'ECONNRESET': return 'connection reset';
    case 'EHOSTUNREACH': return 'host unreachable';
    case 'ENOTFOUND': return 'host not found';
    default: return err.message || String(err.code ?? err);
  }
}
