/**
 * The API server's pod and service proxy, as the FAKE serves it:
 * `/api/v1/namespaces/{ns}/pods/{name}[:port]/proxy/{path}` and
 * `/api/v1/namespaces/{ns}/services/{name}[:port]/proxy/{path}` forward the request (any method,
 * headers, body, query) to the pod's real process and stream the answer back. The service proxy
 * picks a Ready, non-terminating pod matching the Service's selector (round robin) and maps the
 * Service port to the container port (`targetPort`, by number or by name). The client's
 * `Authorization` header is not forwarded. Failures are Status bodies: 503 `no endpoints
 * available for service "web"`, 503 `error trying to reach service: dial tcp …: connect:
 * connection refused`, 404 for an unknown pod or service.
 */
import { request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeApi } from './api.js';
import { resolveKind } from './resources.js';
import { ApiError, notFound } from './status.js';
import type { Obj } from './util.js';
import { isObj } from './util.js';

/** Where a pod's port is served. */
export type Endpoint =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'builtin'; respond: (req: IncomingMessage, res: ServerResponse, path: string) => void };

/** What the proxy needs from the fake kubelet. */
export interface PodEndpoints {
  /** The endpoint of `port` (number or name; undefined = the first container port) of a pod, or an ApiError explaining why there is none. */
  endpoint(ns: string, pod: Obj, port: string | undefined): Endpoint | ApiError;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'authorization', 'host']);

/** Splits `name`, `name:port` or `scheme:name:port` from a proxy URL segment. */
export function splitNamePort(seg: string): { name: string; port?: string } {
  const parts = seg.split(':');
  if (parts.length === 1) return { name: parts[0] };
  if (parts.length === 2) return { name: parts[0], port: parts[1] || undefined };
  return { name: parts[1], port: parts[2] || undefined };
}

function isReady(pod: Obj): boolean {
  const m = pod.metadata as Obj;
  if (m.deletionTimestamp) return false;
  const conds = isObj(pod.status) && Array.isArray(pod.status.conditions) ? (pod.status.conditions as Obj[]) : [];
  return conds.some((c) => c.type === 'Ready' && c.status === 'True');
}

const rr = new Map<string, number>();

/** The pod and container port a service proxy request goes to. */
export function serviceBackend(api: FakeApi, ns: string, seg: string): { pod: Obj; port: string | undefined } {
  const { name, port } = splitNamePort(seg);
  const svc = api.find(resolveKind('Service'), ns, name);
  if (!svc) throw notFound(resolveKind('Service'), name);
  const spec = (svc.spec ?? {}) as Obj;
  const ports = Array.isArray(spec.ports) ? (spec.ports as Obj[]) : [];
  const sp = port === undefined ? ports[0] : ports.find((p) => p.name === port || String(p.port) === port);
  if (!sp) throw new ApiError(503, 'ServiceUnavailable', `no endpoints available for service "${name}"`);
  const selector = isObj(spec.selector) ? (spec.selector as Record<string, string>) : undefined;
  if (!selector || Object.keys(selector).length === 0) throw new ApiError(503, 'ServiceUnavailable', `no endpoints available for service "${name}"`);
  const labelSelector = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',');
  const pods = api.select(resolveKind('Pod'), ns, { labelSelector }).filter(isReady);
  if (pods.length === 0) throw new ApiError(503, 'ServiceUnavailable', `no endpoints available for service "${name}"`);
  const key = `${ns}/${name}`;
  const i = (rr.get(key) ?? 0) % pods.length;
  rr.set(key, i + 1);
  const target = sp.targetPort ?? sp.port;
  return { pod: pods[i], port: String(target) };
}

/** Forwards a request to an endpoint and streams the answer back. */
export function forward(req: IncomingMessage, res: ServerResponse, ep: Endpoint, path: string, query: string, onError: (err: ApiError) => void): void {
  const fullPath = `/${path}${query ? `?${query}` : ''}`;
  if (ep.kind === 'builtin') { ep.respond(req, res, fullPath); return; }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
  headers.host = `${ep.host}:${ep.port}`;
  const up = httpRequest({ host: ep.host, port: ep.port, method: req.method, path: fullPath, headers }, (upRes) => {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
    res.writeHead(upRes.statusCode ?? 502, out);
    upRes.pipe(res);
    upRes.on('error', () => res.destroy());
  });
  up.on('error', (err: NodeJS.ErrnoException) => {
    if (res.headersSent) { res.destroy(); return; }
    const why = err.code === 'ECONNREFUSED' ? 'connect: connection refused' : err.message;
    onError(new ApiError(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${ep.host}:${ep.port}: ${why}`));
  });
  req.pipe(up);
}
