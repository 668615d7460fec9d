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

/**
 * Why an (apiVersion, kind) has no mapping: the group/version is served without that kind
 * (`kind`), is not served at all (`groupVersion`, a 404 on its discovery), or the apiVersion is
 * not a group/version (`invalid`).
 */
export type NoKindMatchReason = 'kind' | 'groupVersion' | 'invalid';

/**
 * A kind the API server does not serve in the version a manifest names — kubectl's
 * `no matches for kind "X" in version "g/v"` (client-go `meta.NoKindMatchError`): a CRD not
 * installed (yet), a misspelt kind, or an apiVersion the cluster no longer serves
 * (`policy/v1beta1`). `objectName` and `namespace` name the manifest object when there is one.
 */
export class KubeNoKindMatchError extends Error {
  override name = 'KubeNoKindMatchError';
  /**
   * @param message e.g. `resource mapping not found for name: "w1" namespace: "shop": no matches for kind "Widget" in version "example.com/v1": …`
   * @param apiVersion the apiVersion looked up, as written
   * @param kind the kind looked up, as written
   * @param reason see `NoKindMatchReason`
   * @param server the API server URL
   */
  constructor(message: string, readonly apiVersion: string, readonly kind: string, readonly reason: NoKindMatchReason, readonly server: string,
    readonly objectName = '', readonly namespace = '') {
    super(message);
  }
}

/**
 * The one wording of a missing mapping: kubectl's message, the server, and what to check.
 *
 * @example
 * ```ts
 * noKindMatch('example.com/v1', 'Widget', 'groupVersion', { server, context: 'prod' }, { name: 'w1', namespace: 'shop' }).message
 * // 'resource mapping not found for name: "w1" namespace: "shop": no matches for kind "Widget" in version "example.com/v1":
 * //  the API server at https://k8s:6443 (context prod) does not serve example.com/v1; ensure CRDs are installed first, and check the apiVersion'
 * ```
 */
export function noKindMatch(apiVersion: string, kind: string, reason: NoKindMatchReason, where: KubeErrorContext, object?: { name: string; namespace: string }): KubeNoKindMatchError {
  const server = `the API server at ${where.server} (context ${where.context})`;
  const why = reason === 'kind'
    ? `${server} serves ${apiVersion} without kind ${kind}; ensure CRDs are installed first, and check the kind's spelling`
    : reason === 'groupVersion'
      ? `${server} does not serve ${apiVersion}; ensure CRDs are installed first, and check the apiVersion`
      : `${JSON.stringify(apiVersion)} is not an apiVersion (write "v1" or "<group>/<version>")`;
  const head = object ? `resource mapping not found for name: ${JSON.stringify(object.name)} namespace: ${JSON.stringify(object.namespace)}: ` : '';
  return new KubeNoKindMatchError(`${head}no matches for kind ${JSON.stringify(kind)} in version ${JSON.stringify(apiVersion)}: ${why}`,
    apiVersion, kind, reason, where.server, object?.name ?? '', object?.namespace ?? '');
}
