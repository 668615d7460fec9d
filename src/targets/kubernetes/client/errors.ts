/**
 * Typed faults of the Kubernetes client. Each message says what failed, where (server,
 * context, namespace) and what to check, so a user can act without reading a stack trace.
 * Messages carry server Status messages and names, never credentials (tokens, keys,
 * passwords): those are never put into an error, whatever the path.
 */

/** A kubeconfig (or in-cluster service account) that cannot be used: the message names the file and key. */
export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
  /**
   * @param message what is wrong, e.g. `context "prod" not found in /root/.kube/config (contexts: dev, staging)`
   * @param source the kubeconfig path(s) or the service account folder
   */
  constructor(message: string, readonly source: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** An exec credential plugin that failed, was missing, or printed no usable ExecCredential. */
export class KubeAuthPluginError extends Error {
  override name = 'KubeAuthPluginError';
  /**
   * @param message names the command, the user entry and the plugin's last stderr lines
   * @param command the plugin's command as written in the kubeconfig
   */
  constructor(message: string, readonly command: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Where an API call went: used to word errors. */
export interface KubeCallInfo {
  /** RBAC verb: get, list, watch, create, update, patch, delete. */
  verb: string;
  /** Plural resource, with a subresource when there is one: `deployments`, `pods/log`, `services/proxy`. */
  resource: string;
  /** '' for cluster-scoped resources. */
  namespace: string;
  /** '' for collection calls. */
  name: string;
}

/** The parts of a `metav1.Status` answer the client reads. */
export interface KubeStatus {
  code?: number;
  reason?: string;
  message?: string;
  details?: { name?: string; group?: string; kind?: string; retryAfterSeconds?: number; causes?: Array<{ reason?: string; message?: string; field?: string }> };
}

/**
 * A non-success answer of the API server (or an in-stream watch ERROR), with the call it
 * answered. `status` is the HTTP code (410 for an expired watch), `reason` the Status reason
 * (`NotFound`, `Conflict`, `Forbidden`, `Expired` …), `statusMessage` the server's own message.
 */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly status: number;
  readonly reason: string;
  readonly verb: string;
  readonly resource: string;
  readonly namespace: string;
  /** Name of the object called on ('' for collections). Not `name`, which is the class name. */
  readonly objectName: string;
  readonly statusMessage: string;
  readonly details: KubeStatus['details'];
  constructor(message: string, status: number, call: KubeCallInfo, body: KubeStatus) {
    super(message);
    this.status = status;
    this.reason = body.reason ?? '';
    this.verb = call.verb;
    this.resource = call.resource;
    this.namespace = call.namespace;
    this.objectName = call.name;
    this.statusMessage = body.message ?? '';
    this.details = body.details;
  }

  /** Whether this is a 409 Conflict on a stale resourceVersion (what `retryOnConflict` retries). */
  get isConflict(): boolean {
    return this.status === 409 && this.reason !== 'AlreadyExists';
  }
}

/** The API server could not be reached: refused, unknown host, TLS failure or no answer in time. */
export class KubeUnreachableError extends Error {
  override name = 'KubeUnreachableError';
  /**
   * @param server the API server URL
   * @param code `ECONNREFUSED`, `ENOTFOUND`, `ETIMEDOUT`, `ECONNRESET`, a TLS code …
   */
  constructor(message: string, readonly server: string, readonly code: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Where the client talks to, for error wording. */
export interface KubeErrorContext {
  server: string;
  context: string;
}

function scope(ns: string): string {
  return ns ? `in namespace ${ns}` : 'at cluster scope';
}

/**
 * The one mapping from an API server answer to a `KubeApiError` with a message a user can act on.
 *
 * @example
 * ```ts
 * apiError(403, { verb: 'patch', resource: 'deployments', namespace: 'shop', name: 'web' }, { reason: 'Forbidden', message: '…' }, { server, context: 'prod' }).message
 * // 'forbidden: cannot patch deployments in namespace shop (missing RBAC permission for the identity of context prod): …'
 * ```
 */
export function apiError(status: number, call: KubeCallInfo, body: KubeStatus, where: KubeErrorContext): KubeApiError {
  const msg = body.message ?? '';
  const tail = msg ? `: ${msg}` : '';
  let text: string;
  if (status === 401) {
    text = `the Kubernetes API server at ${where.server} rejected the credentials of context ${where.context} (expired token or certificate?)${tail}`;
  } else if (status === 403) {
    text = `forbidden: cannot ${call.verb} ${call.resource} ${scope(call.namespace)} (missing RBAC permission for the identity of context ${where.context})${tail}`;
  } else if (status === 404 && body.details?.kind === 'namespaces' && call.resource !== 'namespaces' && call.namespace && body.details.name === call.namespace) {
    text = `namespace ${call.namespace} does not exist on cluster ${where.server}`;
  } else {
    const what = call.name ? `${call.resource} "${call.name}"` : call.resource;
    text = `cannot ${call.verb} ${what} ${scope(call.namespace)}: ${status} ${body.reason ?? 'Unknown'}${tail}`;
  }
  return new KubeApiError(text, status, call, body);
}
