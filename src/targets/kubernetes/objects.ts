/**
 * The subset of Kubernetes object shapes the Kubernetes target reads and writes, and the labels
 * Gangway puts on what it manages. Depending on the fields used, not on the whole API types,
 * keeps the target small and its tests readable.
 */

/** Any object: what manifests hold and what the API returns. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMeta;
  [field: string]: unknown;
}

export interface KubeMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generation?: number;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
  [field: string]: unknown;
}

export interface KubeCondition { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }

export interface KubeContainer { name: string; image?: string; ports?: Array<{ containerPort: number; name?: string }>; [field: string]: unknown }

export interface KubePodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: KubeContainer[]; initContainers?: KubeContainer[]; [field: string]: unknown };
}

export interface KubeDeployment extends KubeObject {
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: KubePodTemplate;
    strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    progressDeadlineSeconds?: number;
    [field: string]: unknown;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: KubeCondition[];
  };
}

export interface KubeContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  state?: { waiting?: { reason?: string; message?: string }; running?: { startedAt?: string }; terminated?: { reason?: string; exitCode?: number } };
  lastState?: { terminated?: { reason?: string; exitCode?: number; finishedAt?: string } };
}

export interface KubePod extends KubeObject {
  spec?: { containers: KubeContainer[]; [field: string]: unknown };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    podIP?: string;
    conditions?: KubeCondition[];
    containerStatuses?: KubeContainerStatus[];
    initContainerStatuses?: KubeContainerStatus[];
  };
}

export interface KubeService extends KubeObject {
  spec?: { selector?: Record<string, string>; ports?: Array<{ port: number; targetPort?: number | string; name?: string; protocol?: string }>; [field: string]: unknown };
}

/** A HorizontalPodAutoscaler (`autoscaling/v2`): the object it scales and its bounds. */
export interface KubeAutoscaler extends KubeObject {
  spec?: {
    scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string };
    minReplicas?: number;
    maxReplicas?: number;
    [field: string]: unknown;
  };
}

/** One entry of `metadata.managedFields`: who set which fields, by apply or by update. */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update';
  subresource?: string;
  fieldsV1?: Record<string, unknown>;
}

export interface KubeJob extends KubeObject {
  spec?: { template?: KubePodTemplate; backoffLimit?: number; [field: string]: unknown };
  status?: { conditions?: KubeCondition[]; succeeded?: number; failed?: number; active?: number };
}

/** Labels and annotations Gangway sets; the release's full version is an annotation since label values are limited to 63 characters of `[A-Za-z0-9._-]`. */
export const LABEL = {
  managedBy: 'app.kubernetes.io/managed-by',
  service: 'gangway.io/service',
  environment: 'gangway.io/environment',
  release: 'gangway.io/release',
  /** The two-colour slot of blue-green and canary Deployments, as the runbooks name it. */
  color: 'color',
} as const;

export const ANNOTATION = {
  version: 'gangway.io/version',
  image: 'gangway.io/image',
} as const;

/**
 * A label value for a version: itself when valid, else a readable prefix and a hash, so two
 * versions never share a value.
 *
 * @example
 * versionLabel('1.2.0'); // '1.2.0'
 * versionLabel('registry.example.com/web@sha256:ab…'); // 'registry.example.com_web_sha256_ab…-3f2a9c1e'
 */
export function versionLabel(version: string): string {
  if (/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(version)) return version;
  const cleaned = version.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 48).replace(/[^A-Za-z0-9]+$/, '');
  return `${cleaned || 'v'}-${fnv1a(version)}`;
}

/** A short stable hash (FNV-1a, 32 bits, hex) for names derived from user strings. */
export function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * Whether `manager`'s server-side apply owns the field at `path` of a live object (its
 * `metadata.managedFields`, as the API server keeps them): such a field is removed from the
 * object when that manager applies again without it and nobody else owns it.
 *
 * @example appliedBy(liveDeployment, 'gangway', ['spec', 'replicas']) // true after Gangway applied replicas
 */
export function appliedBy(o: KubeObject, manager: string, path: readonly string[]): boolean {
  const entries = Array.isArray(o.metadata.managedFields) ? o.metadata.managedFields as ManagedFieldsEntry[] : [];
  return entries.some((e) => {
    if (e.manager !== manager || e.operation !== 'Apply' || (e.subresource ?? '') !== '') return false;
    let node: unknown = e.fieldsV1;
    for (const field of path) {
      if (typeof node !== 'object' || node === null) return false;
      node = (node as Record<string, unknown>)[`f:${field}`];
    }
    return node !== undefined;
  });
}

/** A deep copy of a JSON object (manifests are plain data). */
export function clone<T>(o: T): T {
  return structuredClone(o);
}

/** Whether a kind lives in a namespace (the kinds manifests hold; cluster-scoped ones are listed). */
export function isNamespaced(kind: string): boolean {
  return !CLUSTER_SCOPED.has(kind);
}

const CLUSTER_SCOPED = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition',
  'StorageClass', 'PriorityClass', 'IngressClass', 'GatewayClass', 'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration', 'APIService', 'RuntimeClass',
]);
