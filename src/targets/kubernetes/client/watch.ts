/**
 * Watches: one NDJSON stream (`runWatch`), and the informer-style loop on top (`runWatchFrom`)
 * that lists, watches from the list's resourceVersion, resumes from the last one seen when a
 * stream ends or is cut, and re-lists on 410 Expired — the in-stream
 * `{"type":"ERROR","object":{"code":410}}` as well as an HTTP 410 — with a capped exponential
 * backoff on errors. Kept apart from client.ts because this is the only stateful protocol.
 */
import type { KubeObject, KubeTransport } from './types.js';
import type { KubeStatus } from './errors.js';
import { KubeApiError, apiError } from './errors.js';
import type { KubeResource } from './resources.js';
import { resourcePath } from './resources.js';

/** Options of one watch request. */
export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Start after this resourceVersion; absent or '0': the current objects first, as ADDED. */
  resourceVersion?: string;
  /** The server ends the stream after this long (s). */
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
}

/** An event of a watch stream. BOOKMARK objects carry only `metadata.resourceVersion`. */
export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  object: T;
}

/** How one watch stream ended. */
export interface WatchResult {
  /** The last resourceVersion seen (events and bookmarks), or the one asked for when none came. */
  resourceVersion: string | undefined;
  /** Events delivered, bookmarks included. */
  events: number;
  /** True when the caller's signal ended it. */
  aborted: boolean;
}

/** Options of `watchFrom`. */
export interface WatchFromOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Each watch request's server-side length (s). Default 300. */
  timeoutSeconds?: number;
  /** Backoff between retries after errors: doubles from `initialMs` (default 250) to `maxMs` (default 30 000). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Told of each error that will be retried, and of the wait before the retry (for logging). */
  onError?: (err: Error, retryInMs: number) => void;
  /** Told of each list (the first, and every re-list after a 410) with its resourceVersion. */
  onList?: (resourceVersion: string, relist: boolean) => void;
}

/** An event of `watchFrom`: the change of one object (bookmarks are handled inside). */
export interface InformerEvent<T extends KubeObject = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: T;
  /** True when it comes from a (re-)list rather than the watch stream. */
  fromList: boolean;
}

/** Errors `watchFrom` gives up on: retrying will not cure them. */
const FATAL = new Set([400, 401, 403, 404, 405, 406, 415, 422]);

/** One watch stream (see `KubeClient.watch`). */
export async function runWatch<T extends KubeObject>(client: KubeTransport, res: KubeResource, ns: string, opts: WatchOptions, onEvent: (e: WatchEvent<T>) => void | Promise<void>, signal?: AbortSignal): Promise<WatchResult> {
  let rv = opts.resourceVersion;
  let events = 0;
  if (signal?.aborted) return { resourceVersion: rv, events, aborted: true };
  const callInfo = { verb: 'watch', resource: res.plural, namespace: ns, name: '' };
  let r;
  try {
    r = await client.open({
      method: 'GET', path: resourcePath(res, ns),
      query: { watch: 'true', labelSelector: opts.labelSelector || undefined, fieldSelector: opts.fieldSelector || undefined, resourceVersion: opts.resourceVersion || undefined, timeoutSeconds: opts.timeoutSeconds, allowWatchBookmarks: opts.allowWatchBookmarks ? 'true' : undefined },
      accept: 'application/json', call: callInfo, signal, stream: true,
      // A silent connection is dead once the server's own timeout has long passed.
      streamIdleMs: opts.timeoutSeconds ? (opts.timeoutSeconds + 30) * 1000 : 0,
    });
  } catch (err) {
    if (signal?.aborted) return { resourceVersion: rv, events, aborted: true };
    throw err;
  }
  let buf = '';
  const handle = async (line: string): Promise<void> => {
    if (!line.trim()) return;
    let ev: { type?: string; object?: unknown };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      throw new KubeApiError(`watch ${res.plural} ${ns ? `in namespace ${ns}` : 'at cluster scope'}: the API server at ${client.server} sent a line that is not JSON`, 500, callInfo, { reason: 'InvalidResponse' });
    }
    if (ev.type === 'ERROR') {
      const st = (ev.object ?? {}) as KubeStatus;
      throw apiError(st.code ?? 500, callInfo, st, { server: client.server, context: client.context });
    }
    if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED' && ev.type !== 'DELETED' && ev.type !== 'BOOKMARK') return;
    const obj = ev.object as T;
    const next = obj?.metadata?.resourceVersion;
    if (next) rv = next;
    events += 1;
    try {
      await onEvent({ type: ev.type, object: ev.type === 'BOOKMARK' ? obj : withKind(obj, res) });
    } catch (err) {
      throw new HandlerError(err);
    }
  };
  try {
    for await (const chunk of r.body) {
      buf += (chunk as Buffer).toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        await handle(line);
        if (signal?.aborted) return { resourceVersion: rv, events, aborted: true };
      }
    }
    await handle(buf);
    return { resourceVersion: rv, events, aborted: false };
  } catch (err) {
    // The caller's own exception goes out as it was thrown.
    if (err instanceof HandlerError) throw err.original;
    if (signal?.aborted) return { resourceVersion: rv, events, aborted: true };
    if (err instanceof KubeApiError) throw err;
    throw client.streamFailure(err, signal);
  } finally {
    r.body.destroy();
  }
}

/** Wraps an exception of the caller's `onEvent` so neither the stream's error mapping nor the retry loop swallows it. */
class HandlerError extends Error {
  override name = 'HandlerError';
  constructor(readonly original: unknown) {
    super('watch event handler failed');
  }
}

/** The informer-style loop (see `KubeClient.watchFrom`). */
export async function runWatchFrom<T extends KubeObject>(client: KubeTransport, res: KubeResource, ns: string, opts: WatchFromOptions, onEvent: (e: InformerEvent<T>) => void | Promise<void>, signal: AbortSignal): Promise<void> {
  const initialMs = opts.backoff?.initialMs ?? 250;
  const maxMs = opts.backoff?.maxMs ?? 30_000;
  const timeoutSeconds = opts.timeoutSeconds ?? 300;
  const known = new Map<string, T>();
  const emit = async (e: InformerEvent<T>): Promise<void> => {
    try {
      await onEvent(e);
    } catch (err) {
      throw new HandlerError(err);
    }
  };
  let rv: string | undefined;
  let listed = false;
  let failures = 0;
  // Set by a list, cleared by the first watch event: a 410 right after a fresh list must not loop.
  let fresh = false;
  try {
    while (!signal.aborted) {
      try {
        if (rv === undefined) {
          const l = await client.list<T>({ apiVersion: res.apiVersion, kind: res.kind }, ns, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, signal });
          if (signal.aborted) return;
          opts.onList?.(l.resourceVersion, listed);
          await reconcile(known, l.items, emit);
          listed = true;
          fresh = true;
          rv = l.resourceVersion;
        }
        const r = await runWatch<T>(client, res, ns, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, resourceVersion: rv, timeoutSeconds, allowWatchBookmarks: true }, async (e) => {
          const next = e.object.metadata?.resourceVersion;
          if (next) rv = next;
          fresh = false;
          failures = 0;
          if (e.type === 'BOOKMARK') return;
          const key = keyOf(e.object);
          if (e.type === 'DELETED') known.delete(key);
          else known.set(key, e.object);
          await emit({ type: e.type, object: e.object, fromList: false });
        }, signal);
        if (r.aborted) return;
        // The stream ended normally (its timeout, or the server closed it): resume at once.
        failures = 0;
        fresh = false;
      } catch (err) {
        if (err instanceof HandlerError) throw err.original;
        if (signal.aborted) return;
        if (err instanceof KubeApiError && err.status === 410) {
          rv = undefined;
          // Re-list at once, unless the 410 came straight after a list: then back off like any error.
          if (!fresh) continue;
        } else if (err instanceof KubeApiError && FATAL.has(err.status)) {
          throw err;
        }
        const wait = Math.min(maxMs, initialMs * 2 ** Math.min(failures, 20));
        failures += 1;
        opts.onError?.(err as Error, wait);
        await sleep(wait, signal);
      }
    }
  } catch (err) {
    if (err instanceof HandlerError) throw err.original;
    throw err;
  }
}

/** Applies a (re-)list to what is known: ADDED / MODIFIED for new and changed objects, DELETED (with the last known state) for vanished ones. */
async function reconcile<T extends KubeObject>(known: Map<string, T>, items: T[], emit: (e: InformerEvent<T>) => Promise<void>): Promise<void> {
  const before = new Map(known);
  known.clear();
  for (const o of items) known.set(keyOf(o), o);
  for (const o of items) {
    const old = before.get(keyOf(o));
    if (old === undefined) await emit({ type: 'ADDED', object: o, fromList: true });
    else if (old.metadata?.resourceVersion !== o.metadata?.resourceVersion) await emit({ type: 'MODIFIED', object: o, fromList: true });
  }
  for (const [key, old] of before) {
    if (!known.has(key)) await emit({ type: 'DELETED', object: old, fromList: true });
  }
}

function keyOf(o: KubeObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

function withKind<T extends KubeObject>(o: T, res: KubeResource): T {
  return o && (!o.kind || !o.apiVersion) ? { ...o, apiVersion: o.apiVersion || res.apiVersion, kind: o.kind || res.kind } : o;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
