/**
 * The kinds Gangway's Kubernetes target reads and writes, and where each lives in the REST API.
 * A fixed table instead of API discovery: one less round trip and one less failure mode, and a
 * kind outside it is a mistake to report, not something to discover.
 */
/** Where a kind lives in the REST API. */
export interface KubeResource {
  kind: string;
  /** `v1`, `apps/v1`, `gateway.networking.k8s.io/v1` … */
  apiVersion: string;
  /** '' for the core group. */
  group: string;
  version: string;
  /** Lower-case plural used in URLs and RBAC: `deployments`. */
  plural: string;
  namespaced: boolean;
}

function r(kind: string, group: string, version: string, plural: string, namespaced = true): KubeResource {
  return Object.freeze({ kind, apiVersion: group ? `${group}/${version}` : version, group, version, plural, namespaced });
}

/** The supported kinds, by kind. */
export const RESOURCES: Readonly<Record<string, KubeResource>> = Object.freeze({
  Namespace: r('Namespace', '', 'v1', 'namespaces', false),
  Deployment: r('Deployment', 'apps', 'v1', 'deployments'),
  ReplicaSet: r('ReplicaSet', 'apps', 'v1', 'replicasets'),
  Pod: r('Pod', '', 'v1', 'pods'),
  Service: r('Service', '', 'v1', 'services'),
  Job: r('Job', 'batch', 'v1', 'jobs'),
  HTTPRoute: r('HTTPRoute', 'gateway.networking.k8s.io', 'v1', 'httproutes'),
  Event: r('Event', '', 'v1', 'events'),
  Secret: r('Secret', '', 'v1', 'secrets'),
  ConfigMap: r('ConfigMap', '', 'v1', 'configmaps'),
});

/** Thrown for a kind outside `RESOURCES`. */
export class UnknownKindError extends Error {
  override name = 'UnknownKindError';
  constructor(readonly kind: string) {
    super(`Gangway's Kubernetes client does not support kind ${JSON.stringify(kind)} (supported: ${Object.keys(RESOURCES).join(', ')})`);
  }
}

/**
 * The table entry of `kind` (exact kind name, as in a manifest).
 *
 * @example
 * ```ts
 * resourceOf('Deployment').plural; // 'deployments'
 * resourceOf('CronJob');           // throws UnknownKindError
 * ```
 */
export function resourceOf(kind: string): KubeResource {
  const res = Object.hasOwn(RESOURCES, kind) ? RESOURCES[kind] : undefined;
  if (!res) throw new UnknownKindError(kind);
  return res;
}

/**
 * The URL path of a collection (`name` omitted) or an object.
 *
 * @example
 * ```ts
 * resourcePath(resourceOf('Deployment'), 'shop', 'web'); // '/apis/apps/v1/namespaces/shop/deployments/web'
 * ```
 */
export function resourcePath(res: KubeResource, namespace: string, name?: string): string {
  const base = res.group ? `/apis/${res.group}/${res.version}` : `/api/${res.version}`;
  const ns = res.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${res.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}
