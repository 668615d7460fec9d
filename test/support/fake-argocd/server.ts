/**
 * The HTTP face of the FAKE Argo CD: the REST routes grpc-gateway serves for the
 * ApplicationService (server/application/application.proto), authentication before every
 * handler, JSON request bodies decoded as Go's encoding/json would (unknown fields ignored, a
 * wrong type refused), every failure answered through errors.ts, and a request log. It can
 * stop listening (dropping every connection) and listen again on the same port, to stand for
 * an unreachable Argo CD.
 *
 * Routes: GET /api/version (no auth), GET /api/v1/applications, GET /api/v1/applications/{name},
 * POST /api/v1/applications/{name}/sync, DELETE /api/v1/applications/{name}/operation. Other
 * paths answer grpc-gateway's plain-text `Not Found`.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Authority, Principal } from './auth.js';
import type { SyncRequest } from './controller.js';
import { Code, GrpcError, errorBody, httpStatusOf } from './errors.js';
import type { AppQuery, ApplicationService } from './service.js';
import { isObj } from './types.js';

/** One request the fake received. */
export interface RequestLogEntry {
  method: string;
  path: string;
  /** The query string without `?`. */
  query: string;
  /** The authenticated user, if any. */
  user?: string;
  status: number;
}

/** The version the fake reports at /api/version. */
export const FAKE_VERSION = 'v2.13.0+fake';

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendPlain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
  res.end(`${text}\n`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function goType(v: unknown): string {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

/** Decodes an ApplicationSyncRequest body as encoding/json does (empty body: no fields). */
function decodeSyncRequest(text: string): SyncRequest & AppQuery {
  if (text.trim() === '') return {};
  let raw: unknown;
  try { raw = JSON.parse(text); } catch {
    const c = text.trim()[0];
    throw new GrpcError(Code.InvalidArgument, /[[{"\d\-tfn]/.test(c) ? 'unexpected EOF' : `invalid character '${c}' looking for beginning of value`);
  }
  if (!isObj(raw)) throw new GrpcError(Code.InvalidArgument, `json: cannot unmarshal ${goType(raw)} into Go value of type application.ApplicationSyncRequest`);
  const field = (k: string, type: 'string' | 'bool' | 'object' | 'array'): unknown => {
    const v = raw[k];
    if (v === undefined || v === null) return undefined;
    if (goType(v) !== type) throw new GrpcError(Code.InvalidArgument, `json: cannot unmarshal ${goType(v)} into Go struct field ApplicationSyncRequest.${k} of type ${type === 'bool' ? 'bool' : type === 'string' ? 'string' : type === 'array' ? '[]*v1alpha1.SyncOperationResource' : 'v1alpha1.SyncStrategy'}`);
    return v;
  };
  const syncOptions = field('syncOptions', 'object') as { items?: unknown } | undefined;
  return {
    revision: field('revision', 'string') as string | undefined,
    prune: field('prune', 'bool') as boolean | undefined,
    dryRun: field('dryRun', 'bool') as boolean | undefined,
    strategy: field('strategy', 'object') as SyncRequest['strategy'],
    resources: field('resources', 'array') as SyncRequest['resources'],
    infos: Array.isArray(raw.infos) ? (raw.infos as SyncRequest['infos']) : undefined,
    syncOptions: Array.isArray(syncOptions?.items) ? (syncOptions.items as string[]).map(String) : undefined,
    project: field('project', 'string') as string | undefined,
    appNamespace: field('appNamespace', 'string') as string | undefined,
  };
}

/** The HTTP server. */
export class ArgoHttp {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #port = 0;
  #listening = false;

  constructor(private readonly o: { service: ApplicationService; auth: Authority; log: RequestLogEntry[]; tls?: { key: string; cert: string } }) {
    const handler = (req: IncomingMessage, res: ServerResponse): void => { void this.#handle(req, res); };
    this.#server = o.tls ? createHttpsServer({ key: o.tls.key, cert: o.tls.cert }, handler) : createServer(handler);
    this.#server.on(o.tls ? 'secureConnection' : 'connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  get port(): number { return this.#port; }

  /** Listens on 127.0.0.1 (0: a free port); resolves to the port. */
  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        const addr = this.#server.address();
        this.#port = typeof addr === 'object' && addr ? addr.port : port;
        this.#listening = true;
        resolve(this.#port);
      });
    });
  }

  /** Stops listening and drops every open connection. */
  close(): Promise<void> {
    if (!this.#listening) return Promise.resolve();
    this.#listening = false;
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-argocd.local');
    const method = req.method ?? 'GET';
    const entry: RequestLogEntry = { method, path: url.pathname, query: url.search.replace(/^\?/, ''), status: 0 };
    this.o.log.push(entry);
    // The status is logged as it is sent, so a client that has its answer sees it logged.
    const send = (status: number, body: unknown): void => { entry.status = status; sendJson(res, status, body); };
    const sendText = (status: number, text: string): void => { entry.status = status; sendPlain(res, status, text); };
    try {
      if (url.pathname === '/api/version' && method === 'GET') { send(200, { Version: FAKE_VERSION }); return; }
      const m = /^\/api\/v1\/applications(?:\/([^/]+)(\/sync|\/operation)?)?\/?$/.exec(url.pathname);
      if (!m) { sendText(404, 'Not Found'); return; }
      const name = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
      const sub = m[2];
      const allowed = name === undefined ? 'GET' : sub === '/sync' ? 'POST' : sub === '/operation' ? 'DELETE' : 'GET';
      if (method !== allowed) { sendText(405, 'Method Not Allowed'); return; }
      // grpc-gateway decodes the body before the gRPC call, whose interceptor authenticates.
      const syncBody = method === 'POST' ? decodeSyncRequest(await readBody(req)) : {};
      const p: Principal = this.o.auth.authenticate(req.headers.authorization, req.headers.cookie);
      entry.user = p.username;
      const q = url.searchParams;
      const query: AppQuery = { project: q.get('project') ?? q.get('projects') ?? undefined, appNamespace: q.get('appNamespace') ?? undefined };
      if (name === undefined) {
        send(200, this.o.service.list(p, { name: q.get('name') ?? undefined, projects: [...q.getAll('projects'), ...q.getAll('project')] }));
      } else if (sub === '/sync') {
        send(200, await this.o.service.sync(p, name, { ...syncBody, project: syncBody.project ?? query.project, appNamespace: syncBody.appNamespace ?? query.appNamespace }));
      } else if (sub === '/operation') {
        send(200, this.o.service.terminate(p, name, query));
      } else {
        send(200, await this.o.service.get(p, name, { ...query, refresh: q.has('refresh') ? q.get('refresh') ?? '' : undefined }));
      }
    } catch (err) {
      if (res.headersSent) { res.destroy(); return; }
      const e = err instanceof GrpcError ? err : new GrpcError(Code.Unknown, (err as Error).message);
      send(httpStatusOf(e.code), errorBody(e));
    }
  }
}
