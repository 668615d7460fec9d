/**
 * The kinds Gangway's Kubernetes target itself reads and writes, and where each lives in the
 * REST API: the fast path of the REST mapper (`rest-mapper.ts`), answered without a request.
 * Any other kind a manifest holds is found by API discovery of its apiVersion; a call that
 * names a kind alone (`get('Deployment', …)`) must name one of these.
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

/** The built-in kinds, by kind (one apiVersion each). */
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

/** Thrown for a kind named without its apiVersion that is outside `RESOURCES` (nothing to discover it by). */
export class UnknownKindError extends Error {
  override name = 'UnknownKindError';
  constructor(readonly kind: string) {
    super(`Gangway's Kubernetes client has no built-in mapping for kind ${JSON.stringify(kind)} (built in: ${Object.keys(RESOURCES).join(', ')}): name it with its apiVersion, { apiVersion, kind }, to have it discovered`);
  }
}

/**
 * The table entry of `kind` (exact kind name, as in a manifest).
 *
 * @example
 * ```ts
 * resourceOf('Deployment').plural; // 'deployments'
 * resourceOf('CronJob');           // throws UnknownKindError: use { apiVersion: 'batch/v1', kind: 'CronJob' }
 * ```
 */
export function resourceOf(kind: string): KubeResource {
  const res = Object.hasOwn(RESOURCES, kind) ? RESOURCES[kind] : undefined;
  if (!res) throw new UnknownKindError(kind);
  return res;
}

/**
 * The table entry of an (apiVersion, kind) pair, or undefined when the table does not hold that
 * pair (another kind, or another version of a built-in kind: both go to discovery).
 *
 * @example
 * ```ts
 * builtInResource('apps/v1', 'Deployment')?.plural;        // 'deployments'
 * builtInResource('gateway.networking.k8s.io/v1beta1', 'HTTPRoute'); // undefined
 * ```
 */
export function builtInResource(apiVersion: string, kind: string): KubeResource | undefined {
  const res = Object.hasOwn(RESOURCES, kind) ? RESOURCES[kind] : undefined;
  return res && res.apiVersion === apiVersion ? res : undefined;
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
