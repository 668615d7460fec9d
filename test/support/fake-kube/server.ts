/**
 * The HTTP face of the FAKE Kubernetes API server: URL routing after upstream's RequestInfo
 * (`/api/v1/...`, `/apis/<group>/<version>/...`, namespaced and cluster paths, subresources),
 * discovery documents (of the built-in kinds and the custom resources defined on this server's
 * registry, read on every request so a definition shows at once), bearer-token authentication and the RBAC stand-in (auth.ts), injected
 * failures (`failNext`), a request log, watches as newline-delimited JSON with BOOKMARK events
 * and an in-stream 410 Expired, pod logs (optionally followed), and the pod/service proxy.
 * Semantics of the verbs are in api.ts.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TlsMaterial } from './certs.js';
import type { Socket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import type { DeleteOptions, FakeApi } from './api.js';
import type { Gatekeeper, RequestAttributes } from './auth.js';
import type { Endpoint, PodEndpoints } from './proxy.js';
import { forward, serviceBackend, splitNamePort } from './proxy.js';
import type { ResourceRegistry, ResourceType } from './resources.js';
import { VERSION_INFO, apiVersionOf, coreVersions } from './resources.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { ApiError, badRequest, injected, methodNotAllowed, notFound } from './status.js';
import type { Store, StoreEvent } from './store.js';
import { typeKey } from './store.js';
import { OPENAPI_V2_PROTOBUF, openApiV2, openApiV2Protobuf, openApiV3Doc, openApiV3Root } from './openapi.js';
import type { Obj } from './util.js';
import { isObj, nowRfc3339 } from './util.js';

/** One request the fake received (for counting API calls in benchmarks and tests). */
export interface RequestLogEntry {
  method: string;
  path: string;
  /** The raw query string, without `?`. */
  query: string;
  contentType: string | undefined;
  userAgent: string | undefined;
  /** `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, or `get` for non-resource paths. */
  verb: string;
  /** `deployments`, `pods/log`, … ('' for non-resource paths). */
  resource: string;
  namespace: string;
  name: string;
  /** The HTTP status answered (watches: 200 when the stream started). */
  status: number;
}

/** A log line of a container. */
export interface LogLine { time: number; text: string }

/** A container's log as the kubelet keeps it. */
export interface LogSource {
  lines(): LogLine[];
  /** Calls `onLine` for each new line and `onEnd` when the container stops; returns an unsubscribe function. */
  follow(onLine: (l: LogLine) => void, onEnd: () => void): () => void;
  /** Whether the container has stopped (a follow ends at once). */
  ended(): boolean;
}

/** What the server needs from the fake kubelet. */
export interface PodRuntime extends PodEndpoints {
  /** The log of a container, or a 400 ApiError (container unknown or not started). */
  logs(ns: string, pod: Obj, container: string, previous: boolean): LogSource | ApiError;
}

/** An injected failure waiting to happen. */
export interface InjectedFailure {
  remaining: number;
  code: number;
  /** Only requests matching these (verb, resource with optional `/subresource`). */
  verb?: string;
  resource?: string;
}

/** Settings of the HTTP layer. */
export interface ServerOptions {
  api: FakeApi;
  store: Store;
  gate: Gatekeeper;
  runtime: PodRuntime;
  /** How often a watch with allowWatchBookmarks=true gets a BOOKMARK (ms). */
  bookmarkIntervalMs: number;
  /** A watch without timeoutSeconds ends after this long (s). */
  defaultWatchTimeoutSeconds: number;
  /** Serve HTTPS with this key pair (plain HTTP when undefined). */
  tls?: TlsMaterial;
  log: RequestLogEntry[];
  failures: InjectedFailure[];
}

interface Route {
  rt?: ResourceType;
  namespace: string;
  name: string;
  subresource: string;
  /** Path after `/proxy/` for proxy requests. */
  rest: string;
  discovery?: () => unknown;
}

function verbOf(method: string, route: Route, watch: boolean): string {
  if (route.subresource === 'proxy') {
    return ({ GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete', OPTIONS: 'get' } as Record<string, string>)[method] ?? 'get';
  }
  switch (method) {
    case 'GET': case 'HEAD': return route.name ? 'get' : watch ? 'watch' : 'list';
    case 'POST': return 'create';
    case 'PUT': return 'update';
    case 'PATCH': return 'patch';
    case 'DELETE': return route.name ? 'delete' : 'deletecollection';
    default: return method.toLowerCase();
  }
}

/** Parses a resource URL against the served types; undefined when it is not one. */
function parseResourcePath(pathname: string, types: ResourceRegistry): Route | undefined {
  const segs = pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 2) { group = ''; version = segs[1]; rest = segs.slice(2); }
  else if (segs[0] === 'apis' && segs.length >= 3) { group = segs[1]; version = segs[2]; rest = segs.slice(3); }
  else return undefined;
  if (rest.length === 0) {
    const doc = types.resourceList(group, version);
    if (!doc) return undefined;
    return { namespace: '', name: '', subresource: '', rest: '', discovery: () => doc };
  }
  let namespace = '';
  // /namespaces/{ns}/{plural}/... unless it addresses the namespace object itself (or its status/finalize).
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const rt = types.findByPlural(group, version, rest[0]);
  if (!rt) return { namespace, name: rest[1] ?? '', subresource: '', rest: '', rt: undefined };
  const name = rest[1] ?? '';
  const subresource = rest[2] ?? '';
  const proxyRest = subresource === 'proxy' ? rest.slice(3).join('/') : '';
  return { rt, namespace, name, subresource, rest: proxyRest };
}

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 3 * 1024 * 1024) { reject(new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text.trim() === '') return undefined;
  const ct = (contentType ?? '').toLowerCase();
  try {
    if (ct.includes('yaml')) return parseYaml(text) as unknown;
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`the body of the request could not be decoded: ${(err as Error).message}`);
  }
}

function managerOf(q: URLSearchParams, userAgent: string | undefined): string {
  const m = q.get('fieldManager');
  if (m) return m;
  // Upstream derives the manager from the user agent's program name.
  return (userAgent ?? 'unknown').split('/')[0] || 'unknown';
}

function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === 'true' || v === '1';
}

/** The HTTP server of the fake. */
export class FakeKubeHttp {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #watches = new Set<() => void>();
  #port = 0;

  constructor(private readonly o: ServerOptions) {
    const handler = (req: IncomingMessage, res: ServerResponse): void => { void this.#handle(req, res); };
    this.#server = o.tls ? createHttpsServer({ key: o.tls.key, cert: o.tls.cert }, handler) : createServer(handler);
    this.#server.on(o.tls ? 'secureConnection' : 'connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    this.#server.keepAliveTimeout = 30_000;
  }

  /** Listens on 127.0.0.1 (port 0 picks a free one); resolves to the port. */
  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        const addr = this.#server.address();
        this.#port = typeof addr === 'object' && addr ? addr.port : port;
        resolve(this.#port);
      });
    });
  }

  /** How many watches are open now. */
  openWatches(): number {
    return this.#watches.size;
  }

  /** Ends every open watch (the client sees its stream end). */
  cutWatches(): number {
    const n = this.#watches.size;
    for (const end of [...this.#watches]) end();
    return n;
  }

  /** Stops listening and drops every connection. */
  close(): Promise<void> {
    this.cutWatches();
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-kube.local');
    const method = req.method ?? 'GET';
    const q = url.searchParams;
    const entry: RequestLogEntry = {
      method, path: url.pathname, query: url.search.replace(/^\?/, ''), contentType: req.headers['content-type'], userAgent: req.headers['user-agent'],
      verb: 'get', resource: '', namespace: '', name: '', status: 0,
    };
    this.o.log.push(entry);
    res.on('finish', () => { if (!entry.status) entry.status = res.statusCode; });
    try {
      const user = this.o.gate.authenticate(req.headers.authorization);
      const route = parseResourcePath(url.pathname, this.o.api.types);
      const watch = boolParam(q, 'watch');
      const attrs: RequestAttributes = route && route.rt
        ? { verb: verbOf(method, route, watch), isResource: true, group: route.rt.group, resource: route.rt.plural, subresource: route.subresource, namespace: route.namespace, name: route.name, path: url.pathname }
        : { verb: method.toLowerCase() === 'head' ? 'get' : method.toLowerCase(), isResource: false, group: '', resource: '', subresource: '', namespace: '', name: '', path: url.pathname };
      entry.verb = attrs.verb;
      entry.resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
      entry.namespace = attrs.namespace;
      entry.name = attrs.name;
      this.o.gate.authorize(user, attrs);
      if (attrs.isResource) this.#maybeFail(attrs, route?.rt);
      if (!route) { this.#nonResource(url.pathname, req, res); return; }
      if (route.discovery) { send(res, 200, route.discovery()); return; }
      if (!route.rt) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
      await this.#resource(req, res, route as Route & { rt: ResourceType }, q, entry);
    } catch (err) {
      if (err instanceof ApiError) {
        entry.status = err.code;
        if (res.headersSent) { res.destroy(); return; }
        send(res, err.code, err.status, err.headers);
        return;
      }
      entry.status = 500;
      if (res.headersSent) { res.destroy(); return; }
      send(res, 500, injected(500).status);
      process.stderr.write(`fake-kube: internal error on ${method} ${url.pathname}: ${(err as Error).stack ?? String(err)}\n`);
    }
  }

  #maybeFail(attrs: RequestAttributes, rt: ResourceType | undefined): void {
    const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
    const i = this.o.failures.findIndex((f) => f.remaining > 0 && (f.verb === undefined || f.verb === attrs.verb) && (f.resource === undefined || f.resource === resource || f.resource === attrs.resource));
    if (i < 0) return;
    const f = this.o.failures[i];
    f.remaining -= 1;
    if (f.remaining <= 0) this.o.failures.splice(i, 1);
    throw injected(f.code, rt, attrs.name || undefined);
  }

  #nonResource(path: string, req: IncomingMessage, res: ServerResponse): void {
    if (path === '/version') { send(res, 200, VERSION_INFO); return; }
    if (path === '/healthz' || path === '/livez' || path === '/readyz') { res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }); res.end('ok'); return; }
    if (path === '/api') { send(res, 200, coreVersions(`127.0.0.1:${this.#port}`)); return; }
    if (path === '/openapi/v2' && (req.headers.accept ?? '').includes('protobuf')) {
      res.writeHead(200, { 'content-type': OPENAPI_V2_PROTOBUF, 'cache-control': 'no-cache, private' });
      res.end(openApiV2Protobuf());
      return;
    }
    const types = this.o.api.types;
    if (path === '/apis') { send(res, 200, types.groupList()); return; }
    const g = path.match(/^\/apis\/([^/]+)\/?$/);
    if (g) {
      const doc = types.groupInfo(g[1]);
      if (doc) { send(res, 200, doc); return; }
    }
    const openapi = path === '/openapi/v2' ? openApiV2() : path === '/openapi/v3' ? openApiV3Root(types.all) : path.startsWith('/openapi/v3/') ? openApiV3Doc(path.slice('/openapi/v3/'.length), types.all) : undefined;
    if (openapi !== undefined) { send(res, 200, openapi); return; }
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  }

  async #resource(req: IncomingMessage, res: ServerResponse, route: Route & { rt: ResourceType }, q: URLSearchParams, entry: RequestLogEntry): Promise<void> {
    const { rt, namespace, name, subresource } = route;
    const api = this.o.api;
    const method = req.method ?? 'GET';
    if (rt.namespaced && name && !namespace) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    if (subresource && !rt.subresources.includes(subresource)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    const fieldManager = managerOf(q, req.headers['user-agent']);
    const dryRun = q.get('dryRun') === 'All';

    if (subresource === 'proxy') { await this.#proxy(req, res, route); return; }
    if (subresource === 'log') { this.#logs(req, res, route, q, entry); return; }

    switch (method) {
      case 'GET':
      case 'HEAD': {
        if (!name) {
          if (boolParam(q, 'watch')) { this.#watch(req, res, rt, namespace, q, entry); return; }
          send(res, 200, maybeTable(req, rt, api.list(rt, namespace || undefined, { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') })));
          return;
        }
        if (subresource === 'scale') { send(res, 200, api.getScale(rt, namespace, name)); return; }
        send(res, 200, maybeTable(req, rt, api.get(rt, namespace, name)));
        return;
      }
      case 'POST': {
        if (name) throw methodNotAllowed();
        const body = parseBody(await readBody(req), req.headers['content-type']);
        const created = api.create(rt, namespace, body, { fieldManager, dryRun });
        send(res, 201, created);
        return;
      }
      case 'PUT': {
        if (!name) throw methodNotAllowed();
        const body = parseBody(await readBody(req), req.headers['content-type']);
        send(res, 200, api.replace(rt, namespace, name, body, { fieldManager, dryRun, subresource: subresource || undefined }));
        return;
      }
      case 'PATCH': {
        if (!name) throw methodNotAllowed();
        const text = await readBody(req);
        const existed = api.find(rt, namespace, name) !== undefined;
        const out = api.patch(rt, namespace, name, req.headers['content-type'] ?? '', text, { fieldManager, dryRun, subresource: subresource || undefined, force: boolParam(q, 'force') });
        send(res, existed ? 200 : 201, out);
        return;
      }
      case 'DELETE': {
        const body = parseBody(await readBody(req), 'application/json');
        const opts: DeleteOptions = isObj(body) ? (body as DeleteOptions) : {};
        const pp = q.get('propagationPolicy');
        if (pp) opts.propagationPolicy = pp as DeleteOptions['propagationPolicy'];
        const gp = q.get('gracePeriodSeconds');
        if (gp !== null) opts.gracePeriodSeconds = Number(gp);
        if (q.get('orphanDependents') !== null) opts.orphanDependents = boolParam(q, 'orphanDependents');
        if (dryRun || (Array.isArray((body as Obj | undefined)?.dryRun) && ((body as Obj).dryRun as string[]).includes('All'))) opts.dryRun = true;
        if (!name) {
          send(res, 200, api.deleteCollection(rt, namespace || undefined, { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') }, opts));
          return;
        }
        const out = api.delete(rt, namespace, name, opts);
        // Upstream: 202 Accepted when the object lingers (finalizers, graceful), 200 otherwise.
        const lingering = out.kind !== 'Status' && isObj(out.metadata) && Boolean((out.metadata as Obj).deletionTimestamp) && rt.kind !== 'Pod';
        send(res, lingering ? 202 : 200, out);
        return;
      }
      default:
        throw methodNotAllowed();
    }
  }

  #watch(req: IncomingMessage, res: ServerResponse, rt: ResourceType, ns: string, q: URLSearchParams, entry: RequestLogEntry): void {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'), rt.kind);
    const rvParam = q.get('resourceVersion');
    const sendInitial = q.get('sendInitialEvents') === 'true';
    const bookmarks = boolParam(q, 'allowWatchBookmarks');
    const timeoutSeconds = q.get('timeoutSeconds') !== null ? Number(q.get('timeoutSeconds')) : this.o.defaultWatchTimeoutSeconds;
    if (rvParam !== null && rvParam !== '' && !/^[0-9]+$/.test(rvParam)) throw badRequest(`resourceVersion: Invalid value: ${JSON.stringify(rvParam)}: strconv.ParseUint: parsing ${JSON.stringify(rvParam)}: invalid syntax`);
    const store = this.o.store;
    const key = typeKey(rt);
    const matches = (o: Obj | undefined): boolean => {
      if (!o) return false;
      const m = o.metadata as Obj;
      if (ns && m.namespace !== ns) return false;
      return matchesLabels(labels, m.labels as Record<string, string>) && matchesFields(fields, o);
    };
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
    // The real server answers the headers at once; Node would hold them until the first event.
    res.flushHeaders();
    entry.status = 200;
    let open = true;
    const write = (type: string, object: unknown): void => {
      if (open) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const bookmark = (extra: Record<string, string> = {}): void => {
      write('BOOKMARK', { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(store.resourceVersion), annotations: extra } });
    };
    const onEvent = (e: StoreEvent): void => {
      if (e.typeKey !== key || (ns && e.namespace !== ns)) return;
      if (e.type === 'MODIFIED') {
        const now = matches(e.object);
        const before = matches(e.previous);
        if (now && before) write('MODIFIED', e.object);
        else if (now) write('ADDED', e.object);
        else if (before) write('DELETED', e.object);
        return;
      }
      if (matches(e.object)) write(e.type, e.object);
    };
    let unsubscribe = (): void => {};
    const end = (): void => {
      if (!open) return;
      open = false;
      unsubscribe();
      clearInterval(ticker);
      clearTimeout(timer);
      this.#watches.delete(end);
      res.end();
    };
    const cut = (): void => {
      if (!open) return;
      open = false;
      unsubscribe();
      clearInterval(ticker);
      clearTimeout(timer);
      this.#watches.delete(cut);
      res.destroy();
    };
    this.#watches.add(cut);
    const timer = setTimeout(end, Math.max(0, timeoutSeconds) * 1000);
    const ticker = setInterval(() => { if (bookmarks) bookmark(); }, this.o.bookmarkIntervalMs);
    req.on('close', end);
    res.on('close', end);
    if (rvParam === null || rvParam === '' || rvParam === '0' || sendInitial) {
      // Snapshot and subscribe in one turn of the event loop: no change can fall between them.
      for (const o of store.all(rt, rt.namespaced && ns ? ns : undefined)) {
        if (matches(o)) write('ADDED', o);
      }
      if (sendInitial && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
      unsubscribe = store.subscribe(onEvent);
      return;
    }
    const from = Number(rvParam);
    const past = store.since(from);
    if (past === 'expired') {
      write('ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${store.oldestResumable + 1})`, reason: 'Expired', code: 410 });
      end();
      return;
    }
    for (const e of past) onEvent(e);
    unsubscribe = store.subscribe(onEvent);
  }

  #logs(req: IncomingMessage, res: ServerResponse, route: Route & { rt: ResourceType }, q: URLSearchParams, entry: RequestLogEntry): void {
    const api = this.o.api;
    if (req.method !== 'GET') throw methodNotAllowed();
    const pod = api.get(route.rt, route.namespace, route.name);
    const spec = (pod.spec ?? {}) as Obj;
    const containers = (Array.isArray(spec.containers) ? spec.containers : []) as Obj[];
    let container = q.get('container') ?? '';
    if (!container) {
      if (containers.length !== 1) throw badRequest(`a container name must be specified for pod ${route.name}, choose one of: [${containers.map((c) => String(c.name)).join(' ')}]`);
      container = String(containers[0].name);
    }
    if (!containers.some((c) => c.name === container)) throw badRequest(`container ${container} is not valid for pod ${route.name}`);
    const src = this.o.runtime.logs(route.namespace, pod, container, boolParam(q, 'previous'));
    if (src instanceof ApiError) throw src;
    const timestamps = boolParam(q, 'timestamps');
    const tail = q.get('tailLines') !== null ? Number(q.get('tailLines')) : undefined;
    const sinceSeconds = q.get('sinceSeconds') !== null ? Number(q.get('sinceSeconds')) : undefined;
    const limitBytes = q.get('limitBytes') !== null ? Number(q.get('limitBytes')) : undefined;
    const fmt = (l: LogLine): string => `${timestamps ? `${new Date(l.time).toISOString().replace('Z', '000000Z').replace(/\.(\d{3})000000Z$/, '.$1000000Z')} ` : ''}${l.text}\n`;
    let lines = src.lines();
    if (sinceSeconds !== undefined) lines = lines.filter((l) => l.time >= Date.now() - sinceSeconds * 1000);
    if (tail !== undefined && tail >= 0) lines = tail === 0 ? [] : lines.slice(-tail);
    let sent = 0;
    const emit = (text: string): boolean => {
      if (limitBytes !== undefined) {
        if (sent >= limitBytes) return false;
        text = text.slice(0, limitBytes - sent);
      }
      sent += Buffer.byteLength(text);
      res.write(text);
      return limitBytes === undefined || sent < limitBytes;
    };
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    entry.status = 200;
    for (const l of lines) if (!emit(fmt(l))) { res.end(); return; }
    if (!boolParam(q, 'follow') || src.ended()) { res.end(); return; }
    const stop = src.follow((l) => { if (!emit(fmt(l))) finish(); }, () => finish());
    const finish = (): void => { stop(); this.#watches.delete(cut); res.end(); };
    const cut = (): void => { stop(); this.#watches.delete(cut); res.destroy(); };
    this.#watches.add(cut);
    req.on('close', () => { stop(); this.#watches.delete(cut); });
  }

  async #proxy(req: IncomingMessage, res: ServerResponse, route: Route & { rt: ResourceType }): Promise<void> {
    const api = this.o.api;
    const query = new URL(req.url ?? '/', 'http://x').search.replace(/^\?/, '');
    const rest = route.rest;
    let pod: Obj;
    let port: string | undefined;
    if (route.rt.kind === 'Pod') {
      const np = splitNamePort(route.name);
      const found = api.find(route.rt, route.namespace, np.name);
      if (!found) throw notFound(route.rt, np.name);
      pod = found;
      port = np.port;
    } else {
      ({ pod, port } = serviceBackend(api, route.namespace, route.name));
    }
    const ep: Endpoint | ApiError = this.o.runtime.endpoint(route.namespace, pod, port);
    if (ep instanceof ApiError) throw ep;
    await new Promise<void>((resolve) => {
      forward(req, res, ep, rest, query, (err) => { send(res, err.code, err.status); resolve(); });
      res.on('close', () => resolve());
    });
  }
}

/** Answers a meta.k8s.io Table when the client asks for one (kubectl get without -o). */
function maybeTable(req: IncomingMessage, rt: ResourceType, body: Obj): Obj {
  const accept = req.headers.accept ?? '';
  if (!accept.includes('as=Table')) return body;
  const items = Array.isArray(body.items) ? (body.items as Obj[]) : [body];
  const cols = columnsOf(rt);
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: isObj(body.metadata) ? (body.metadata as Obj).resourceVersion : undefined },
    columnDefinitions: [{ name: 'Name', type: 'string', format: 'name', description: 'Name', priority: 0 }, ...cols.map((c) => ({ name: c.name, type: 'string', format: '', description: c.name, priority: 0 })), { name: 'Age', type: 'string', format: '', description: 'Age', priority: 0 }],
    rows: items.map((o) => {
      const m = (o.metadata ?? {}) as Obj;
      const age = Math.max(0, Math.floor((now - Date.parse(String(m.creationTimestamp ?? nowRfc3339()))) / 1000));
      return { cells: [m.name, ...cols.map((c) => c.value(o)), `${age}s`], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: m } };
    }),
  };
}

function columnsOf(rt: ResourceType): { name: string; value: (o: Obj) => unknown }[] {
  // A custom resource named like a built-in kind prints only its name and age (no printer columns defined).
  if (rt.custom) return [];
  const st = (o: Obj): Obj => (isObj(o.status) ? o.status : {});
  const sp = (o: Obj): Obj => (isObj(o.spec) ? o.spec : {});
  switch (rt.kind) {
    case 'Deployment':
      return [
        { name: 'Ready', value: (o) => `${Number(st(o).readyReplicas ?? 0)}/${Number(sp(o).replicas ?? 0)}` },
        { name: 'Up-to-date', value: (o) => Number(st(o).updatedReplicas ?? 0) },
        { name: 'Available', value: (o) => Number(st(o).availableReplicas ?? 0) },
      ];
    case 'ReplicaSet':
      return [
        { name: 'Desired', value: (o) => Number(sp(o).replicas ?? 0) },
        { name: 'Current', value: (o) => Number(st(o).replicas ?? 0) },
        { name: 'Ready', value: (o) => Number(st(o).readyReplicas ?? 0) },
      ];
    case 'Pod':
      return [
        { name: 'Ready', value: (o) => { const cs = (Array.isArray(st(o).containerStatuses) ? st(o).containerStatuses : []) as Obj[]; return `${cs.filter((c) => c.ready).length}/${(sp(o).containers as unknown[] | undefined)?.length ?? 0}`; } },
        { name: 'Status', value: (o) => { const cs = (Array.isArray(st(o).containerStatuses) ? st(o).containerStatuses : []) as Obj[]; const w = cs.map((c) => (isObj(c.state) && isObj(c.state.waiting) ? c.state.waiting.reason : undefined)).find(Boolean); const t = cs.map((c) => (isObj(c.state) && isObj(c.state.terminated) ? c.state.terminated.reason : undefined)).find(Boolean); return (o.metadata as Obj).deletionTimestamp ? 'Terminating' : w ?? t ?? st(o).phase; } },
        { name: 'Restarts', value: (o) => ((Array.isArray(st(o).containerStatuses) ? st(o).containerStatuses : []) as Obj[]).reduce((n, c) => n + Number(c.restartCount ?? 0), 0) },
      ];
    case 'Job':
      return [
        { name: 'Status', value: (o) => { const c = ((Array.isArray(st(o).conditions) ? st(o).conditions : []) as Obj[]).find((x) => x.status === 'True' && (x.type === 'Complete' || x.type === 'Failed')); return c ? String(c.type) : 'Running'; } },
        { name: 'Completions', value: (o) => `${Number(st(o).succeeded ?? 0)}/${Number(sp(o).completions ?? 1)}` },
      ];
    case 'Event':
      return [
        { name: 'Type', value: (o) => o.type },
        { name: 'Reason', value: (o) => o.reason },
        { name: 'Object', value: (o) => { const io = (o.involvedObject ?? {}) as Obj; return `${String(io.kind ?? '').toLowerCase()}/${String(io.name ?? '')}`; } },
        { name: 'Message', value: (o) => o.message },
      ];
    case 'Service':
      return [
        { name: 'Type', value: (o) => sp(o).type },
        { name: 'Cluster-IP', value: (o) => sp(o).clusterIP },
        { name: 'Ports', value: (o) => ((Array.isArray(sp(o).ports) ? sp(o).ports : []) as Obj[]).map((p) => `${String(p.port)}/${String(p.protocol ?? 'TCP')}`).join(',') },
      ];
    default:
      return [];
  }
}
