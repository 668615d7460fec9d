/**
 * The little of the Kubernetes OpenAPI schema the FAKE API server needs for merging: which
 * lists are associative and by which keys (upstream's `patchMergeKey` / `listMapKeys`), which
 * are sets, and which structs use `retainKeys`. Strategic merge patch and server-side apply
 * read it; every field not described here behaves like plain JSON (maps merge, lists are
 * atomic), which is what upstream does for fields without a patch strategy.
 */

/** A schema node. */
export type SchemaNode =
  | { t: 'struct'; fields: Record<string, SchemaNode>; retainKeys?: boolean }
  | { t: 'map'; value?: SchemaNode }
  | { t: 'list'; keys: readonly string[]; strategy: 'merge' | 'set' | 'atomic'; item?: SchemaNode }
  | { t: 'any' };

const ANY: SchemaNode = { t: 'any' };
const MAP: SchemaNode = { t: 'map' };
const struct = (fields: Record<string, SchemaNode>, retainKeys = false): SchemaNode => ({ t: 'struct', fields, ...(retainKeys ? { retainKeys } : {}) });
const keyed = (keys: string[], item?: SchemaNode): SchemaNode => ({ t: 'list', keys, strategy: 'merge', ...(item ? { item } : {}) });
const SET: SchemaNode = { t: 'list', keys: [], strategy: 'set' };

const OBJECT_META = struct({ labels: MAP, annotations: MAP, finalizers: SET, ownerReferences: keyed(['uid']) });

const CONTAINER = struct({
  ports: keyed(['containerPort', 'protocol']),
  env: keyed(['name']),
  volumeMounts: keyed(['mountPath']),
  volumeDevices: keyed(['devicePath']),
});

const POD_SPEC = struct({
  containers: keyed(['name'], CONTAINER),
  initContainers: keyed(['name'], CONTAINER),
  ephemeralContainers: keyed(['name'], CONTAINER),
  volumes: keyed(['name'], struct({}, true)),
  imagePullSecrets: keyed(['name']),
  hostAliases: keyed(['ip']),
  topologySpreadConstraints: keyed(['topologyKey', 'whenUnsatisfiable']),
  nodeSelector: MAP,
});

const POD_TEMPLATE = struct({ metadata: OBJECT_META, spec: POD_SPEC });
const CONDITIONS = keyed(['type']);
const SELECTOR = struct({ matchLabels: MAP });

/** Root schema per kind. */
export const SCHEMAS: Record<string, SchemaNode> = {
  Pod: struct({ metadata: OBJECT_META, spec: POD_SPEC, status: struct({ conditions: CONDITIONS, podIPs: keyed(['ip']), hostIPs: keyed(['ip']) }) }),
  Deployment: struct({
    metadata: OBJECT_META,
    spec: struct({ template: POD_TEMPLATE, selector: SELECTOR, strategy: struct({}, true) }),
    status: struct({ conditions: CONDITIONS }),
  }),
  ReplicaSet: struct({ metadata: OBJECT_META, spec: struct({ template: POD_TEMPLATE, selector: SELECTOR }), status: struct({ conditions: CONDITIONS }) }),
  Job: struct({ metadata: OBJECT_META, spec: struct({ template: POD_TEMPLATE, selector: SELECTOR }), status: struct({ conditions: CONDITIONS }) }),
  Service: struct({ metadata: OBJECT_META, spec: struct({ ports: keyed(['port', 'protocol']), selector: MAP }), status: struct({ conditions: CONDITIONS }) }),
  Namespace: struct({ metadata: OBJECT_META, status: struct({ conditions: CONDITIONS }) }),
  Secret: struct({ metadata: OBJECT_META, data: MAP, stringData: MAP }),
  ConfigMap: struct({ metadata: OBJECT_META, data: MAP, binaryData: MAP }),
  Event: struct({ metadata: OBJECT_META }),
  // A CRD without list-type markers: every list atomic, as upstream treats it.
  HTTPRoute: struct({ metadata: OBJECT_META }),
  // Kinds served without a controller; their other lists are atomic upstream (`+listType=atomic`).
  // Simplified: a PDB's spec.selector has patchStrategy "replace" upstream; here it merges.
  ServiceAccount: struct({ metadata: OBJECT_META, secrets: keyed(['name']) }),
  PodDisruptionBudget: struct({ metadata: OBJECT_META, spec: struct({ selector: SELECTOR }), status: struct({ conditions: CONDITIONS, disruptedPods: MAP }) }),
  HorizontalPodAutoscaler: struct({ metadata: OBJECT_META, status: struct({ conditions: CONDITIONS }) }),
  Ingress: struct({ metadata: OBJECT_META }),
  NetworkPolicy: struct({ metadata: OBJECT_META, spec: struct({ podSelector: SELECTOR }) }),
  Role: struct({ metadata: OBJECT_META }),
  RoleBinding: struct({ metadata: OBJECT_META }),
};

/** The schema of a custom resource a test defines: its metadata as upstream's, every list atomic. */
export const CUSTOM_RESOURCE_SCHEMA: SchemaNode = struct({ metadata: OBJECT_META });

/** The schema of a field of a node (ANY when undescribed). */
export function child(node: SchemaNode | undefined, field: string): SchemaNode {
  if (!node) return ANY;
  if (node.t === 'struct') return node.fields[field] ?? ANY;
  if (node.t === 'map') return node.value ?? ANY;
  return ANY;
}

/** The schema of a list's items. */
export function itemOf(node: SchemaNode | undefined): SchemaNode {
  return node && node.t === 'list' ? node.item ?? ANY : ANY;
}

/** The root schema of a kind. */
export function schemaFor(kind: string): SchemaNode {
  return SCHEMAS[kind] ?? ANY;
}
