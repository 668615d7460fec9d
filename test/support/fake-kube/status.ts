/**
 * The FAKE Kubernetes API server's error answers: every failure is a `metav1.Status` body with
 * the code, reason and message wording the real API server uses (k8s.io/apimachinery
 * `pkg/api/errors`), so clients that match on reason or message behave as against a cluster.
 * One class, `ApiError`, carries a Status from wherever it is raised to the HTTP layer.
 */
import type { ResourceType } from './resources.js';
import { qualifiedResource } from './resources.js';

/** A `metav1.Status` object. */
export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: Record<string, unknown>;
  code: number;
}

/** A failed API call: its Status body is what the server answers. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: StatusBody;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Record<string, string>;
  constructor(code: number, reason: string, message: string, details?: Record<string, unknown>, headers: Record<string, string> = {}) {
    super(message);
    this.status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
    this.headers = headers;
  }
  get code(): number { return this.status.code; }
  get reason(): string { return this.status.reason ?? ''; }
}

function detailsOf(rt: ResourceType, name?: string): Record<string, unknown> {
  return { ...(name !== undefined ? { name } : {}), ...(rt.group ? { group: rt.group } : {}), kind: rt.plural };
}

/** 404 `deployments.apps "web" not found`. */
export function notFound(rt: ResourceType, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(rt)} "${name}" not found`, detailsOf(rt, name));
}

/** 404 for a namespace that does not exist: `namespaces "x" not found`. */
export function namespaceNotFound(ns: string): ApiError {
  return new ApiError(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
}

/** 409 `deployments.apps "web" already exists`. */
export function alreadyExists(rt: ResourceType, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualifiedResource(rt)} "${name}" already exists`, detailsOf(rt, name));
}

/** 409 on a stale resourceVersion, worded as upstream's storage layer words it. */
export function staleConflict(rt: ResourceType, name: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, detailsOf(rt, name));
}

/** 409 for a failed precondition (uid / resourceVersion in DeleteOptions). */
export function preconditionConflict(rt: ResourceType, name: string, what: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": ${what}`, detailsOf(rt, name));
}

/** One field error of a 422 Invalid answer. */
export interface FieldCause { reason: string; message: string; field: string }

/** 422 `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`. */
export function invalid(rt: ResourceType, name: string, causes: FieldCause[]): ApiError {
  const kindQ = rt.group ? `${rt.kind}.${rt.group}` : rt.kind;
  const parts = causes.map((c) => `${c.field}: ${c.message}`);
  const message = `${kindQ} "${name}" is invalid: ${parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`}`;
  return new ApiError(422, 'Invalid', message, { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.kind, causes });
}

/** 400 BadRequest. */
export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

/** 415 for a patch type the resource does not take. */
export function unsupportedPatch(accepted: string[]): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`);
}

/** 405 MethodNotAllowed. */
export function methodNotAllowed(): ApiError {
  return new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
}

/** The Status an injected failure (`failNext`) answers with, per HTTP code. */
export function injected(code: number, rt?: ResourceType, name?: string): ApiError {
  switch (code) {
    case 409:
      return rt && name ? staleConflict(rt, name) : new ApiError(409, 'Conflict', 'Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again');
    case 429:
      return new ApiError(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds: 1 }, { 'retry-after': '1' });
    case 500:
      return new ApiError(500, 'InternalError', 'Internal error occurred: injected by fake-kube (failNext)', { causes: [{ message: 'injected by fake-kube (failNext)' }] });
    case 503:
      return new ApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request (injected by fake-kube)');
    case 504:
      return new ApiError(504, 'Timeout', 'the server was unable to return a response in the time allotted (injected by fake-kube)');
    default:
      return new ApiError(code, 'Unknown', `injected failure ${code} (fake-kube failNext)`);
  }
}

/** A `status: Success` body, as DELETE answers for objects removed at once. */
export function success(rt: ResourceType, name: string, uid: string): StatusBody {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.plural, uid }, code: 200 };
}
