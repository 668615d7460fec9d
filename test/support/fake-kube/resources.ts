/**
 * The kinds the FAKE Kubernetes API server serves, with the names the real API uses for them
 * (group, version, plural, singular, short names, verbs, subresources). Discovery documents,
 * URL routing, RBAC messages and list kinds are all derived from this one table, so a kind is
 * added in one place. Kinds without a controller here (PodDisruptionBudget, Ingress,
 * NetworkPolicy, HorizontalPodAutoscaler, ServiceAccount, Role, RoleBinding) are stored and
 * served generically, as an API server with no controller watching them would. Custom
 * resources a test defines (as installing a CRD would) live in one server's `ResourceRegistry`.
 */

/** One served resource type (a row of `/apis/<group>/<version>` discovery). */
export interface ResourceType {
  /** API group; `''` for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The plural resource name used in URLs and RBAC (`deployments`). */
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  /** Subresources served (`status`, `log`, `proxy`, `scale`). */
  readonly subresources: readonly string[];
  /** Whether `metadata.generation` is kept (bumped on spec changes). */
  readonly generation: boolean;
  /** Whether it is a custom resource (served like a CRD: no strategic merge patch, list items carry kind). */
  readonly custom: boolean;
  /** Default `propagationPolicy` when a DELETE names none (batch/v1 jobs orphan, as upstream). */
  readonly defaultPropagation: 'Background' | 'Orphan';
  readonly categories: readonly string[];
}

/** `apps/v1`, or `v1` for the core group. */
export function apiVersionOf(rt: Pick<ResourceType, 'group' | 'version'>): string {
  return rt.group === '' ? rt.version : `${rt.group}/${rt.version}`;
}

/** `deployments.apps`, or `pods` for the core group: how upstream names a resource in messages. */
export function qualifiedResource(rt: Pick<ResourceType, 'group' | 'plural'>): string {
  return rt.group === '' ? rt.plural : `${rt.plural}.${rt.group}`;
}

function rt(p: Partial<ResourceType> & Pick<ResourceType, 'group' | 'version' | 'kind' | 'plural'>): ResourceType {
  return {
    singular: p.kind.toLowerCase(),
    namespaced: true,
    shortNames: [],
    subresources: [],
    generation: false,
    custom: false,
    defaultPropagation: 'Background',
    categories: [],
    ...p,
  };
}

/** Every resource type the fake serves. */
export const RESOURCE_TYPES: readonly ResourceType[] = [
  rt({ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], subresources: ['status'] }),
  rt({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', shortNames: ['po'], subresources: ['status', 'log', 'proxy'], categories: ['all'] }),
  rt({ group: '', version: 'v1', kind: 'Service', plural: 'services', shortNames: ['svc'], subresources: ['status', 'proxy'], categories: ['all'] }),
  rt({ group: '', version: 'v1', kind: 'Event', plural: 'events', shortNames: ['ev'] }),
  rt({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets' }),
  rt({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', shortNames: ['cm'] }),
  rt({ group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', shortNames: ['deploy'], subresources: ['status', 'scale'], generation: true, categories: ['all'] }),
  rt({ group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', shortNames: ['rs'], subresources: ['status', 'scale'], generation: true, categories: ['all'] }),
  rt({ group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', subresources: ['status'], generation: true, defaultPropagation: 'Orphan', categories: ['all'] }),
  rt({ group: 'gateway.networking.k8s.io', version: 'v1', kind: 'HTTPRoute', plural: 'httproutes', subresources: ['status'], generation: true, custom: true, categories: ['gateway-api'] }),
  // Served without a controller: stored and returned as written (status only through /status).
  rt({ group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', shortNames: ['sa'] }),
  rt({ group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', shortNames: ['pdb'], subresources: ['status'], generation: true }),
  rt({ group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', plural: 'ingresses', shortNames: ['ing'], subresources: ['status'], generation: true }),
  rt({ group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', shortNames: ['netpol'], generation: true }),
  // v1.32 keeps no generation for HPAs (the HPAGeneration feature gate came later).
  rt({ group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers', shortNames: ['hpa'], subresources: ['status'], categories: ['all'] }),
  rt({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles' }),
  rt({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings' }),
];

/** The resource type with this group and plural, if served. */
export function findByPlural(group: string, version: string, plural: string, types: readonly ResourceType[] = RESOURCE_TYPES): ResourceType | undefined {
  return types.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** The resource type of a kind (`Deployment`) or of an apiVersion + kind pair. */
export function findByKind(kind: string, apiVersion?: string, types: readonly ResourceType[] = RESOURCE_TYPES): ResourceType | undefined {
  return types.find((r) => r.kind === kind && (apiVersion === undefined || apiVersionOf(r) === apiVersion));
}

/**
 * Resolves `deploy`, `deployments`, `Deployment`, `deployment` — or `widgets.example.com` for
 * one group's resource — to its type (test convenience).
 */
export function resolveKind(name: string, types: readonly ResourceType[] = RESOURCE_TYPES): ResourceType {
  const lower = name.toLowerCase();
  const found = types.find((r) => r.plural === lower || r.singular === lower || r.kind.toLowerCase() === lower || r.shortNames.includes(lower))
    ?? types.find((r) => r.group !== '' && `${r.plural}.${r.group}` === lower);
  if (!found) throw new Error(`fake-kube: unknown kind ${JSON.stringify(name)}`);
  return found;
}

/** What a test gives to define a custom resource: the parts of a CustomResourceDefinition that shape its API. */
export interface CustomResourceSpec {
  /** API group, e.g. `example.com` (a custom resource always has one). */
  group: string;
  version: string;
  kind: string;
  /** Lower-case plural used in URLs: `widgets`. */
  plural: string;
  /** Default true. */
  namespaced?: boolean;
  /** Default: the kind in lower case. */
  singular?: string;
  shortNames?: string[];
  categories?: string[];
  /** `['status']` to serve the status subresource (status then changes only through it). */
  subresources?: Array<'status'>;
}

/**
 * The resource types one fake server serves: the built-in table, then the custom resources
 * defined on it (as installing a CRD would add them), each visible to discovery, routing and
 * OpenAPI from the moment it is defined.
 */
export class ResourceRegistry {
  readonly #custom: ResourceType[] = [];

  /** Every type served, built-in first. */
  get all(): readonly ResourceType[] {
    return this.#custom.length ? [...RESOURCE_TYPES, ...this.#custom] : RESOURCE_TYPES;
  }

  /** Whether a type is one of the built-in table (so kind-keyed defaults and validation apply to it). */
  isBuiltIn(rt: ResourceType): boolean {
    return RESOURCE_TYPES.includes(rt);
  }

  /**
   * Serves a custom resource from now on (as a CRD that became Established). Throws when its
   * group/version already serves that kind or plural.
   */
  define(spec: CustomResourceSpec): ResourceType {
    if (!spec.group) throw new Error(`fake-kube: custom resource ${spec.kind} needs a group`);
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(spec.plural)) throw new Error(`fake-kube: plural ${JSON.stringify(spec.plural)} must be a lower-case DNS label`);
    const clash = this.all.find((r) => r.group === spec.group && r.version === spec.version && (r.kind === spec.kind || r.plural === spec.plural));
    if (clash) throw new Error(`fake-kube: ${spec.group}/${spec.version} already serves ${clash.kind} (${clash.plural})`);
    const defined = rt({
      group: spec.group, version: spec.version, kind: spec.kind, plural: spec.plural,
      namespaced: spec.namespaced ?? true, singular: spec.singular ?? spec.kind.toLowerCase(),
      shortNames: [...(spec.shortNames ?? [])], categories: [...(spec.categories ?? [])], subresources: [...(spec.subresources ?? [])],
      // Custom resources keep metadata.generation, bumped on changes outside metadata and status.
      generation: true, custom: true,
    });
    this.#custom.push(defined);
    return defined;
  }

  findByPlural(group: string, version: string, plural: string): ResourceType | undefined {
    return findByPlural(group, version, plural, this.all);
  }

  findByKind(kind: string, apiVersion?: string): ResourceType | undefined {
    return findByKind(kind, apiVersion, this.all);
  }

  resolveKind(name: string): ResourceType {
    return resolveKind(name, this.all);
  }

  groupList(): Record<string, unknown> {
    return groupList(this.all);
  }

  groupInfo(group: string): Record<string, unknown> | undefined {
    return groupInfo(group, this.all);
  }

  resourceList(group: string, version: string): Record<string, unknown> | undefined {
    return resourceList(group, version, this.all);
  }
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** `/version` as a v1.32 API server answers it. */
export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4-fake',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-01-01T00:00:00Z',
  goVersion: 'go1.23.6',
  compiler: 'gc',
  platform: 'linux/amd64',
};

/** `/api` (APIVersions). */
export function coreVersions(serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

/** The groups other than core, with their versions. */
function groups(types: readonly ResourceType[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of types) {
    if (r.group === '') continue;
    const versions = out.get(r.group) ?? [];
    if (!versions.includes(r.version)) versions.push(r.version);
    out.set(r.group, versions);
  }
  return out;
}

/** `/apis` (APIGroupList, the legacy non-aggregated form; clients fall back to it). */
export function groupList(types: readonly ResourceType[] = RESOURCE_TYPES): Record<string, unknown> {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups(types)].map(([name, versions]) => groupDoc(name, versions)),
  };
}

function groupDoc(name: string, versions: string[]): Record<string, unknown> {
  return {
    name,
    versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
  };
}

/** `/apis/<group>` (APIGroup), or undefined when the group is not served. */
export function groupInfo(group: string, types: readonly ResourceType[] = RESOURCE_TYPES): Record<string, unknown> | undefined {
  const versions = groups(types).get(group);
  return versions ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(group, versions) } : undefined;
}

/** `/api/v1` or `/apis/<group>/<version>` (APIResourceList), or undefined when not served. */
export function resourceList(group: string, version: string, types: readonly ResourceType[] = RESOURCE_TYPES): Record<string, unknown> | undefined {
  const served = types.filter((r) => r.group === group && r.version === version);
  if (served.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const r of served) {
    resources.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: VERBS,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length ? { categories: r.categories } : {}),
      storageVersionHash: 'fake0000000=',
    });
    for (const sub of r.subresources) {
      const subVerbs = sub === 'status' || sub === 'scale' ? ['get', 'patch', 'update'] : sub === 'log' ? ['get'] : ['create', 'delete', 'get', 'patch', 'update'];
      const subKind = sub === 'scale' ? 'Scale' : sub === 'proxy' ? (r.kind === 'Pod' ? 'PodProxyOptions' : 'ServiceProxyOptions') : r.kind;
      resources.push({ name: `${r.plural}/${sub}`, singularName: '', namespaced: r.namespaced, kind: subKind, verbs: subVerbs, ...(sub === 'scale' ? { group: 'autoscaling', version: 'v1' } : {}) });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? version : `${group}/${version}`, resources };
}
