/**
 * Gangway's lean Kubernetes API client: the verbs the Kubernetes target needs over one undici
 * `Agent` (keep-alive, the cluster's TLS), with credentials from `credentials.ts` refreshed
 * once on a 401, a deadline on every call, and every failure turned into a `KubeApiError` or
 * `KubeUnreachableError` by one mapping. Kinds map to URLs through `rest-mapper.ts` (a built-in
 * table, else API discovery cached for the client's life). Watches live in `watch.ts`; this file
 * owns the transport they share. Why not @kubernetes/client-node: docs/targets/kubernetes-client.md.
 */
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { GANGWAY_VERSION } from '../../../version.js';
import { CredentialSource } from './credentials.js';
import type { Credentials } from './credentials.js';
import type { KubeCallInfo, KubeStatus } from './errors.js';
import { KubeApiError, KubeUnreachableError, apiError } from './errors.js';
import type { KubeConnectionConfig } from './kubeconfig.js';
import type { KubeResource } from './resources.js';
import { resourceOf, resourcePath } from './resources.js';
import type { ApiResourceList } from './rest-mapper.js';
import { KubeRestMapper } from './rest-mapper.js';
import type { KubeKind, KubeObject, KubeRequest, KubeResponse, KubeTransport } from './types.js';
import type { WatchEvent, WatchFromOptions, WatchOptions, WatchResult, InformerEvent } from './watch.js';
import { runWatch, runWatchFrom } from './watch.js';

export type { KubeKind, KubeObject, KubeRequest, KubeResponse, KubeTransport } from './types.js';

/** Options of a `KubeClient`. */
export interface KubeClientOptions {
  /** Limit on each call (connect, answer and body), ms. Default 30 000. Watches and followed logs: the answer's headers only. */
  timeoutMs?: number;
  /** Default `gangway/<version>`. */
  userAgent?: string;
}

/** Patch flavours and their content types. */
export type KubePatchType = 'merge' | 'json' | 'strategic';
const PATCH_TYPES: Record<KubePatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** Options of `logs`. */
export interface KubeLogOptions {
  container?: string;
  tailLines?: number;
  /** The container's run before its last restart (`kubectl logs --previous`). */
  previous?: boolean;
  sinceSeconds?: number;
  signal?: AbortSignal;
}

/** What `proxyRequest` answers: whatever the pod or Service answered (any status), as text. */
export interface KubeProxyResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}



const DEFAULT_TIMEOUT_MS = 30_000;
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|CERT_|ERR_OSSL)/;

/**
 * A client of one cluster with one identity. Create it with `new KubeClient(conn, opts)` (or
 * `KubeClient.fromConfig`, the same) from `loadKubeConfig()`; `close()` it when done.
 * Objects are plain JSON of any kind: `apply`, `create` and `replace` map an object's
 * apiVersion and kind to its URL (the built-in table, else API discovery); calls by kind take
 * a built-in kind name (`'Deployment'`) or `{ apiVersion, kind }`. Namespaced calls take the
 * namespace explicitly; `namespace` is the context's default for callers to pass.
 *
 * @example
 * ```ts
 * const kube = new KubeClient(loadKubeConfig({ context: 'prod' }), { timeoutMs: 10_000 });
 * try {
 *   await kube.apply({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec });
 *   const dep = await kube.get('Deployment', 'shop', 'web');   // null when absent
 *   await kube.apply({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: 'shop' }, spec: pdbSpec }); // discovered
 * } finally {
 *   await kube.close();
 * }
 * ```
 */
export class KubeClient implements KubeTransport {
  /** The API server URL. */
  readonly server: string;
  /** The context's name, as errors show it. */
  readonly context: string;
  /** The context's default namespace. */
  readonly namespace: string;
  readonly timeoutMs: number;
  readonly #conn: KubeConnectionConfig;
  readonly #creds: CredentialSource;
  readonly #userAgent: string;
  readonly #mapper: KubeRestMapper;
  #agent: Agent;
  #agentCert: string | undefined;
  #closed = false;

  /** Same as `new KubeClient(conn, opts)`. */
  static fromConfig(conn: KubeConnectionConfig, opts: KubeClientOptions = {}): KubeClient {
    return new KubeClient(conn, opts);
  }

  constructor(conn: KubeConnectionConfig, opts: KubeClientOptions = {}) {
    this.#conn = conn;
    this.server = conn.server;
    this.context = conn.context;
    this.namespace = conn.namespace;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#userAgent = opts.userAgent ?? `gangway/${GANGWAY_VERSION}`;
    this.#creds = new CredentialSource(conn, { timeoutMs: this.timeoutMs });
    this.#agent = this.#newAgent(undefined);
    this.#mapper = new KubeRestMapper((group, version) => this.#discover(group, version), { server: this.server, context: this.context });
  }

  /**
   * The undici dispatcher with this cluster's TLS settings (CA, client certificate), for a
   * caller sending its own request (with `authHeaders()`). With an exec plugin that returns a
   * client certificate, call `authHeaders()` first: the dispatcher changes with the certificate.
   */
  get dispatcher(): Dispatcher {
    return this.#agent;
  }

  /**
   * Headers that authenticate a request to the API server — `Authorization: Bearer …` from a
   * token, token file, exec plugin or service account, or Basic — fresh on each call (cached
   * until expiry). `{}` for client-certificate identities.
   *
   * @example
   * ```ts
   * await undici.request(kube.proxyUrl('shop', 'pods', 'web-1', 8080, '/health'), { dispatcher: kube.dispatcher, headers: await kube.authHeaders() });
   * ```
   */
  async authHeaders(): Promise<Record<string, string>> {
    const { creds } = await this.#credentials();
    return { ...creds.headers };
  }

  /**
   * Where objects of an (apiVersion, kind) live: the built-in table for the kinds Gangway reads
   * and writes, else API discovery of that group/version — `GET /api/v1` or
   * `GET /apis/<group>/<version>`, once for the client's life; a kind missing from a list fetched
   * earlier asks once more (a CRD may have been installed since). Rejects with
   * `KubeNoKindMatchError` when the server serves no such kind, as kubectl reports it.
   *
   * @example
   * ```ts
   * const pdb = await kube.resolve('policy/v1', 'PodDisruptionBudget');
   * // { kind: 'PodDisruptionBudget', apiVersion: 'policy/v1', group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', namespaced: true }
   * ```
   */
  resolve(apiVersion: string, kind: string): Promise<KubeResource> {
    return this.#mapper.resolve(apiVersion, kind);
  }

  /**
   * The object, or null when it does not exist (404).
   *
   * @example
   * ```ts
   * const svc = await kube.get('Service', 'shop', 'web');
   * const pdb = await kube.get({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }, 'shop', 'web');
   * ```
   */
  async get<T extends KubeObject = KubeObject>(kind: KubeKind, namespace: string, name: string): Promise<T | null> {
    const res = await this.#resource(kind);
    const ns = this.#ns(res, namespace);
    const r = await this.#json<T>({ method: 'GET', path: resourcePath(res, ns, name), call: call('get', res, ns, name), accept4xx: (s, b) => s === 404 && b?.details?.kind !== 'namespaces' });
    return r.status === 404 ? null : withKind(r.body as T, res);
  }

  /**
   * Objects of a kind in a namespace ('' = all namespaces), with the list's resourceVersion
   * (to watch from). Items carry `apiVersion` and `kind`.
   *
   * @example
   * ```ts
   * const { items, resourceVersion } = await kube.list('Pod', 'shop', { labelSelector: 'app=web,track=canary' });
   * ```
   */
  async list<T extends KubeObject = KubeObject>(kind: KubeKind, namespace: string, opts: { labelSelector?: string; fieldSelector?: string; signal?: AbortSignal } = {}): Promise<{ items: T[]; resourceVersion: string }> {
    const res = await this.#resource(kind);
    const ns = res.namespaced ? namespace : '';
    const r = await this.#json<{ items?: T[]; metadata?: { resourceVersion?: string } }>({
      method: 'GET', path: resourcePath(res, ns), query: { labelSelector: opts.labelSelector || undefined, fieldSelector: opts.fieldSelector || undefined },
      call: call('list', res, ns, ''), signal: opts.signal,
    });
    return { items: (r.body.items ?? []).map((o) => withKind(o, res)), resourceVersion: r.body.metadata?.resourceVersion ?? '' };
  }

  /**
   * Creates an object (POST); 409 AlreadyExists when it exists. Namespace: `metadata.namespace`, else the context's.
   *
   * @example
   * ```ts
   * await kube.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'shop' }, data: { a: '1' } });
   * ```
   */
  async create<T extends KubeObject = KubeObject>(obj: KubeObject, opts: { fieldManager?: string } = {}): Promise<T> {
    const { res, ns, name } = await this.#target(obj);
    const r = await this.#json<T>({ method: 'POST', path: resourcePath(res, ns), query: { fieldManager: opts.fieldManager ?? 'gangway' }, body: JSON.stringify(obj), contentType: 'application/json', call: call('create', res, ns, name) });
    return withKind(r.body, res);
  }

  /**
   * Replaces an object (PUT). With `metadata.resourceVersion` set, a stale one is a 409 (see `retryOnConflict`).
   *
   * @example
   * ```ts
   * await kube.retryOnConflict(async () => {
   *   const cm = await kube.get('ConfigMap', 'shop', 'cfg');
   *   return kube.replace({ ...cm!, data: { a: '2' } });
   * });
   * ```
   */
  async replace<T extends KubeObject = KubeObject>(obj: KubeObject, opts: { fieldManager?: string } = {}): Promise<T> {
    const { res, ns, name } = await this.#target(obj);
    const r = await this.#json<T>({ method: 'PUT', path: resourcePath(res, ns, name), query: { fieldManager: opts.fieldManager ?? 'gangway' }, body: JSON.stringify(obj), contentType: 'application/json', call: call('update', res, ns, name) });
    return withKind(r.body, res);
  }

  /**
   * Deletes an object; one already gone (404) is not an error.
   *
   * @example
   * ```ts
   * await kube.delete('Deployment', 'shop', 'web-green', { propagationPolicy: 'Foreground' });
   * ```
   */
  async delete(kind: KubeKind, namespace: string, name: string, opts: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan' } = {}): Promise<void> {
    const res = await this.#resource(kind);
    const ns = this.#ns(res, namespace);
    const body = opts.propagationPolicy ? JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: opts.propagationPolicy }) : undefined;
    await this.#json({ method: 'DELETE', path: resourcePath(res, ns, name), body, contentType: body ? 'application/json' : undefined, call: call('delete', res, ns, name), accept4xx: (s, b) => s === 404 && b?.details?.kind !== 'namespaces' });
  }

  /**
   * Patches an object: `merge` (JSON merge patch, RFC 7386), `json` (JSON patch, RFC 6902, `body`
   * is the list of operations) or `strategic` (built-in kinds only).
   *
   * @example
   * ```ts
   * await kube.patch('Service', 'shop', 'web', { spec: { selector: { app: 'web', color: 'green' } } }, 'merge');
   * ```
   */
  async patch<T extends KubeObject = KubeObject>(kind: KubeKind, namespace: string, name: string, body: unknown, type: KubePatchType, opts: { fieldManager?: string } = {}): Promise<T> {
    const res = await this.#resource(kind);
    const ns = this.#ns(res, namespace);
    const r = await this.#json<T>({ method: 'PATCH', path: resourcePath(res, ns, name), query: { fieldManager: opts.fieldManager ?? 'gangway' }, body: JSON.stringify(body), contentType: PATCH_TYPES[type], call: call('patch', res, ns, name) });
    return withKind(r.body, res);
  }

  /**
   * Server-side apply: PATCH `application/apply-patch+yaml` (the object as JSON, which is YAML)
   * under `fieldManager` (default `gangway`); `force: true` takes fields other managers own
   * (otherwise that is a 409 Conflict naming them). Idempotent.
   *
   * @example
   * ```ts
   * const dep = await kube.apply(manifest);                    // creates or updates
   * await kube.apply(manifest, { force: true });               // after a kubectl edit took fields
   * ```
   */
  async apply<T extends KubeObject = KubeObject>(obj: KubeObject, opts: { fieldManager?: string; force?: boolean } = {}): Promise<T> {
    const { res, ns, name } = await this.#target(obj);
    const r = await this.#json<T>({
      method: 'PATCH', path: resourcePath(res, ns, name), query: { fieldManager: opts.fieldManager ?? 'gangway', force: opts.force ? 'true' : undefined },
      body: JSON.stringify(obj), contentType: 'application/apply-patch+yaml', call: call('patch', res, ns, name),
    });
    return withKind(r.body, res);
  }

  /**
   * Runs `fn` again (up to `attempts` times in all) while it fails with a 409 Conflict on a
   * stale resourceVersion; `fn` must re-read fresh state itself. Other errors, an
   * `AlreadyExists` 409, and the last conflict are thrown.
   *
   * @example
   * ```ts
   * await kube.retryOnConflict(async () => {
   *   const d = await kube.get<Deployment>('Deployment', 'shop', 'web');
   *   return kube.replace({ ...d!, spec: { ...d!.spec, replicas: 3 } });
   * });
   * ```
   */
  async retryOnConflict<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
    for (let i = 1; ; i += 1) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof KubeApiError) || !err.isConflict || i >= attempts) throw err;
        // client-go's DefaultRetry waits ~10 ms between tries: conflicts clear at once.
        await new Promise((r) => setTimeout(r, 10 * i));
      }
    }
  }

  /**
   * One watch stream: calls `onEvent` (awaited, in order) for ADDED / MODIFIED / DELETED /
   * BOOKMARK events until the server ends the stream (resolves with the last resourceVersion
   * seen) or `signal` aborts (resolves with `aborted: true`). Rejects with `KubeApiError` for an
   * error answer or an in-stream ERROR event (410 Expired: re-list), `KubeUnreachableError` when
   * the stream is cut. Use `watchFrom` for a watch that lists, resumes and re-lists itself.
   *
   * @example
   * ```ts
   * const r = await kube.watch('Pod', 'shop', { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 60 }, (e) => seen.push(e), signal);
   * ```
   */
  async watch<T extends KubeObject = KubeObject>(kind: KubeKind, namespace: string, opts: WatchOptions, onEvent: (e: WatchEvent<T>) => void | Promise<void>, signal?: AbortSignal): Promise<WatchResult> {
    const res = await this.#resource(kind);
    return runWatch(this, res, res.namespaced ? namespace : '', opts, onEvent, signal);
  }

  /**
   * An informer-style watch: lists, then watches from the list's resourceVersion; resumes from
   * the last resourceVersion seen (BOOKMARKs included) when a stream ends or is cut; re-lists
   * on a 410 (reporting objects that changed or vanished meanwhile as MODIFIED / DELETED);
   * backs off on errors. Resolves when `signal` aborts; rejects on 400/401/403/404/422 (which
   * retrying cannot cure) or when `onEvent` throws.
   *
   * @example
   * ```ts
   * const ac = new AbortController();
   * const done = kube.watchFrom('Deployment', 'shop', { labelSelector: 'app=web' }, (e) => {
   *   if (e.type !== 'DELETED') latest.set(e.object.metadata.name, e.object);
   * }, ac.signal);
   * // … later
   * ac.abort(); await done;
   * ```
   */
  async watchFrom<T extends KubeObject = KubeObject>(kind: KubeKind, namespace: string, opts: WatchFromOptions, onEvent: (e: InformerEvent<T>) => void | Promise<void>, signal: AbortSignal): Promise<void> {
    const res = await this.#resource(kind);
    return runWatchFrom(this, res, res.namespaced ? namespace : '', opts, onEvent, signal);
  }

  /**
   * A pod's log as text (`follow` absent), or, with `follow: true`, an async iterable of its
   * lines until the container stops, `signal` aborts or the loop breaks.
   *
   * @example
   * ```ts
   * const text = await kube.logs('shop', 'web-1', { tailLines: 50 });
   * for await (const line of await kube.logs('shop', 'migrate-x', { follow: true, signal })) console.log(line);
   * ```
   */
  logs(namespace: string, pod: string, opts?: KubeLogOptions & { follow?: false }): Promise<string>;
  logs(namespace: string, pod: string, opts: KubeLogOptions & { follow: true }): Promise<AsyncIterable<string>>;
  async logs(namespace: string, pod: string, opts: KubeLogOptions & { follow?: boolean } = {}): Promise<string | AsyncIterable<string>> {
    const res = resourceOf('Pod');
    const req: KubeRequest = {
      method: 'GET', path: `${resourcePath(res, namespace, pod)}/log`,
      query: { container: opts.container, tailLines: opts.tailLines, sinceSeconds: opts.sinceSeconds, previous: opts.previous ? 'true' : undefined, follow: opts.follow ? 'true' : undefined },
      accept: 'text/plain, */*', call: { verb: 'get', resource: 'pods/log', namespace, name: pod }, signal: opts.signal,
    };
    if (!opts.follow) {
      const r = await this.send(req);
      return r.bodyText;
    }
    const r = await this.open({ ...req, stream: true, streamIdleMs: 0 });
    return lines(r.body, opts.signal);
  }

  /**
   * The API server URL that proxies to a pod's or Service's port (`null`: the first port);
   * requests to it need `authHeaders()` and `dispatcher`.
   *
   * @example
   * ```ts
   * kube.proxyUrl('shop', 'pods', 'web-1', 8080, '/health');
   * // 'https://k8s.example:6443/api/v1/namespaces/shop/pods/web-1:8080/proxy/health'
   * ```
   */
  proxyUrl(namespace: string, to: 'pods' | 'services', name: string, port: number | string | null, path: string): string {
    const target = `${encodeURIComponent(name)}${port === null || port === '' ? '' : `:${encodeURIComponent(String(port))}`}`;
    const rest = path.startsWith('/') ? path : `/${path}`;
    return `${this.server}/api/v1/namespaces/${encodeURIComponent(namespace)}/${to}/${target}/proxy${rest}`;
  }

  /**
   * One request through the API server's proxy to a pod or Service, with this client's
   * credentials. Any answer of the pod (or of the proxy: 503 no endpoints, 404 no such pod) is
   * returned as data; a 401/403 of the API server itself, or no answer, throws.
   *
   * @example
   * ```ts
   * const r = await kube.proxyRequest('shop', 'services', 'web', 'http', '/health');
   * // { status: 200, headers: {…}, body: '{"status":"UP"}' }
   * ```
   */
  async proxyRequest(namespace: string, to: 'pods' | 'services', name: string, port: number | string | null, path: string,
    init: { method?: Dispatcher.HttpMethod; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {}): Promise<KubeProxyResponse> {
    const url = this.proxyUrl(namespace, to, name, port, path);
    const method = init.method ?? 'GET';
    const r = await this.send({
      method, path: url.slice(this.server.length), body: init.body, headers: init.headers, accept: init.headers?.accept ?? '*/*', signal: init.signal,
      call: { verb: proxyVerb(method), resource: `${to}/proxy`, namespace, name },
      // Only the API server's own refusals are faults; everything else is the pod's answer.
      accept4xx: (status, body) => !((status === 401 || status === 403) && body?.code === status),
    });
    return { status: r.status, headers: r.headers, body: r.bodyText };
  }

  /** Closes the connection pool; the client cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#agent.close();
  }

  // ------------------------------------------------------------------ transport

  /**
   * Sends a request and reads its whole body (the deadline covers it); error answers throw
   * unless `accept4xx` takes them. For `watch.ts` and the verbs above.
   */
  async send(req: KubeRequest): Promise<{ status: number; headers: KubeResponse['headers']; bodyText: string }> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.timeoutMs);
    try {
      const r = await this.#exchange(req, deadline.signal);
      try {
        const bodyText = await r.body.text();
        return { status: r.status, headers: r.headers, bodyText };
      } catch (err) {
        throw this.#failure(err, req.signal, deadline.signal);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a request and returns its open body (a watch, a followed log): the deadline covers the headers only. */
  async open(req: KubeRequest): Promise<KubeResponse> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.timeoutMs);
    try {
      return await this.#exchange(req, deadline.signal, true);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Maps an error thrown while reading a body to the client's error types (or passes an abort through). */
  streamFailure(err: unknown, signal: AbortSignal | undefined): Error {
    return this.#failure(err, signal, undefined);
  }

  async #json<T>(req: KubeRequest): Promise<{ status: number; body: T }> {
    const r = await this.send({ ...req, accept: req.accept ?? 'application/json' });
    if (r.status >= 300) return { status: r.status, body: undefined as T };
    try {
      return { status: r.status, body: JSON.parse(r.bodyText) as T };
    } catch (err) {
      throw new KubeApiError(`cannot ${req.call.verb} ${req.call.resource} ${req.call.namespace ? `in namespace ${req.call.namespace}` : 'at cluster scope'}: the API server at ${this.server} answered ${r.status} with a body that is not JSON`, r.status, req.call, { reason: 'InvalidResponse', message: (err as Error).message });
    }
  }

  async #exchange(req: KubeRequest, deadline: AbortSignal, streamHeadersOnly = false): Promise<KubeResponse> {
    if (this.#closed) throw new Error('KubeClient is closed');
    const signal = req.signal ? AbortSignal.any([req.signal, deadline]) : deadline;
    // Stream bodies must outlive the deadline, which only guards the headers: abort them with the caller's signal alone.
    const bodySignal = streamHeadersOnly ? req.signal : signal;
    let refreshed = false;
    let resent = false;
    for (;;) {
      const { creds, generation } = await this.#credentials();
      const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...(req.headers ?? {}), ...creds.headers };
      if (req.accept) headers.accept = req.accept;
      if (req.contentType) headers['content-type'] = req.contentType;
      let res: Dispatcher.ResponseData;
      try {
        res = await this.#withHeaderDeadline(request(`${this.server}${req.path}${queryString(req.query)}`, {
          dispatcher: this.#agent, method: req.method, headers, body: req.body, signal: bodySignal ?? undefined,
          headersTimeout: this.timeoutMs, bodyTimeout: req.stream ? (req.streamIdleMs ?? 0) : this.timeoutMs,
        }), signal);
      } catch (err) {
        // A kept-alive connection the server had just closed: a read is safe to send once more.
        if (!resent && (req.method === 'GET' || req.method === 'HEAD') && !signal.aborted && STALE_SOCKET.has(codeOf(err))) {
          resent = true;
          continue;
        }
        throw this.#failure(err, req.signal, deadline);
      }
      if (res.statusCode < 400) return { status: res.statusCode, headers: res.headers, body: res.body };
      let text = '';
      try {
        text = await res.body.text();
      } catch (err) {
        throw this.#failure(err, req.signal, deadline);
      }
      const status = parseStatus(text);
      if (res.statusCode === 401 && !refreshed && this.#creds.refreshable) {
        refreshed = true;
        if (await this.#creds.refresh(generation)) continue;
      }
      if (req.accept4xx?.(res.statusCode, status)) return { status: res.statusCode, headers: res.headers, body: bodyOf(text) };
      throw apiError(res.statusCode, req.call, status ?? { reason: httpReason(res.statusCode), message: text.trim().slice(0, 300) }, { server: this.server, context: this.context });
    }
  }

  /** Waits for `p` (the answer's headers) unless `signal` aborts first; a late answer's body is discarded. */
  async #withHeaderDeadline(p: Promise<Dispatcher.ResponseData>, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    if (signal.aborted) throw signal.reason;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([p, aborted]);
    } catch (err) {
      p.then((r) => r.body.destroy(), () => undefined).catch(() => undefined);
      throw err;
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  async #credentials(): Promise<{ creds: Credentials; generation: number }> {
    const r = await this.#creds.get();
    if (r.creds.cert !== this.#agentCert && r.creds.cert) {
      // An exec plugin handed out a (new) client certificate: connections must use it.
      const old = this.#agent;
      this.#agent = this.#newAgent(r.creds);
      old.close().catch(() => undefined);
    }
    return r;
  }

  #newAgent(creds: Credentials | undefined): Agent {
    const tls = this.#conn.tls;
    this.#agentCert = creds?.cert;
    return new Agent({
      keepAliveTimeout: 30_000,
      connect: {
        timeout: this.timeoutMs,
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(creds?.cert ? { cert: creds.cert, key: creds.key } : tls.cert ? { cert: tls.cert, key: tls.key } : {}),
        ...(tls.serverName ? { servername: tls.serverName } : {}),
        rejectUnauthorized: !tls.insecureSkipTlsVerify,
      },
    });
  }

  #failure(err: unknown, callerSignal: AbortSignal | undefined, deadline: AbortSignal | undefined): Error {
    if (err instanceof KubeApiError || err instanceof KubeUnreachableError) return err;
    if (callerSignal?.aborted) return callerSignal.reason instanceof Error ? callerSignal.reason : new DOMException('This operation was aborted', 'AbortError');
    const e = err as Error;
    let code = codeOf(err);
    let why: string;
    if (deadline?.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
      code = 'ETIMEDOUT';
      why = `no answer within ${formatSeconds(this.timeoutMs)}`;
    } else if (code === 'ECONNREFUSED') {
      why = 'connection refused';
    } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      why = 'host not found';
    } else if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') {
      why = 'the connection was closed';
    } else if (TLS_CODES.test(code)) {
      why = `TLS verification failed: ${e.message.trim()} (check the cluster's certificate-authority${this.#conn.tls.serverName ? ' and tls-server-name' : ''})`;
    } else {
      why = e.message || String(err);
    }
    return new KubeUnreachableError(`cannot reach the Kubernetes API server at ${this.server} (context ${this.context}): ${why} (${code})`, this.server, code, { cause: err });
  }

  /** Where an object goes: its resource (by its apiVersion and kind), namespace and name. */
  async #target(obj: KubeObject): Promise<{ res: KubeResource; ns: string; name: string }> {
    const name = obj.metadata?.name;
    if (!name) throw new Error(`${obj.kind}: metadata.name is missing`);
    const res = await this.#mapper.resolve(String(obj.apiVersion ?? ''), obj.kind, { name, namespace: obj.metadata.namespace ?? '' });
    return { res, ns: res.namespaced ? obj.metadata.namespace || this.namespace : '', name };
  }

  /** The resource of a call by kind: a built-in kind name from the table, `{ apiVersion, kind }` through the mapper. */
  async #resource(kind: KubeKind): Promise<KubeResource> {
    return typeof kind === 'string' ? resourceOf(kind) : this.#mapper.resolve(kind.apiVersion, kind.kind);
  }

  /** One group/version's APIResourceList for the mapper; null when the server does not serve it (404). */
  async #discover(group: string, version: string): Promise<ApiResourceList | null> {
    const path = group ? `/apis/${encodeURIComponent(group)}/${encodeURIComponent(version)}` : `/api/${encodeURIComponent(version)}`;
    const r = await this.#json<ApiResourceList>({ method: 'GET', path, call: { verb: 'get', resource: path, namespace: '', name: '' }, accept4xx: (s) => s === 404 });
    return r.status === 404 ? null : r.body;
  }

  #ns(res: KubeResource, namespace: string): string {
    return res.namespaced ? namespace : '';
  }
}

const STALE_SOCKET = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);

/** The system or undici code of a transport error (AggregateError: its first one). */
function codeOf(err: unknown): string {
  const e = err as { code?: string; errors?: Array<{ code?: string }>; cause?: { code?: string } } | undefined;
  return e?.code ?? e?.errors?.[0]?.code ?? e?.cause?.code ?? 'UNKNOWN';
}

function call(verb: string, res: KubeResource, namespace: string, name: string): KubeCallInfo {
  return { verb, resource: res.plural, namespace, name };
}

function withKind<T>(o: T, res: KubeResource): T {
  const obj = o as KubeObject;
  if (obj && typeof obj === 'object' && (!obj.kind || !obj.apiVersion)) return { ...obj, apiVersion: obj.apiVersion || res.apiVersion, kind: obj.kind || res.kind } as T;
  return o;
}

function queryString(q: KubeRequest['query']): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

function parseStatus(text: string): KubeStatus | undefined {
  try {
    const o = JSON.parse(text) as { kind?: string } & KubeStatus;
    return o && o.kind === 'Status' ? o : undefined;
  } catch {
    return undefined;
  }
}

function bodyOf(text: string): KubeResponse['body'] {
  return { text: () => Promise.resolve(text) } as unknown as KubeResponse['body'];
}

function httpReason(status: number): string {
  return ({ 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict', 410: 'Expired', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout' } as Record<number, string>)[status] ?? 'Unknown';
}

function proxyVerb(method: string): string {
  return ({ GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method] ?? method.toLowerCase();
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

async function* lines(body: KubeResponse['body'], signal: AbortSignal | undefined): AsyncGenerator<string> {
  let rest = '';
  try {
    for await (const chunk of body) {
      rest += (chunk as Buffer).toString('utf8');
      let i: number;
      while ((i = rest.indexOf('\n')) >= 0) {
        yield rest.slice(0, i);
        rest = rest.slice(i + 1);
      }
    }
    if (rest) yield rest;
  } catch {
    // The caller's abort ends the iteration quietly; a cut stream is the end of the log too.
    if (signal?.aborted) return;
    if (rest) yield rest;
    return;
  } finally {
    body.destroy();
  }
}
