/**
 * The Application resource as the FAKE Argo CD serves it: the subset of
 * `pkg/apis/application/v1alpha1/types.go` (Application, ApplicationSpec, ApplicationStatus,
 * SyncStatus, HealthStatus, OperationState, SyncOperationResult, ResourceResult,
 * RevisionHistory) a GitOps client reads, with upstream's JSON names and omitempty rules
 * (`operation.retry` and `operation.initiatedBy` are structs, so they are always present;
 * `history[].id` starts at 0 and is always written). Plus the JSON helpers the fake shares.
 */

/** A JSON object. */
export type Obj = Record<string, unknown>;

/** `status.sync.status` and `status.resources[].status`. */
export type SyncStatusCode = 'Synced' | 'OutOfSync' | 'Unknown';

/** gitops-engine `health.HealthStatusCode`. */
export type HealthStatusCode = 'Healthy' | 'Suspended' | 'Progressing' | 'Missing' | 'Degraded' | 'Unknown';

/** gitops-engine `common.OperationPhase`. */
export type OperationPhase = 'Running' | 'Terminating' | 'Failed' | 'Error' | 'Succeeded';

/** gitops-engine `common.ResultCode` of one resource of a sync. */
export type ResultCode = 'Synced' | 'SyncFailed' | 'Pruned' | 'PruneSkipped';

export interface ApplicationSourceHelm {
  /** Paths relative to `source.path` (a leading `/` means relative to the repository root). */
  valueFiles?: string[];
  ignoreMissingValueFiles?: boolean;
  /** Helm release name; the Application's name when absent. */
  releaseName?: string;
}

export interface ApplicationSource {
  repoURL: string;
  path: string;
  targetRevision: string;
  helm?: ApplicationSourceHelm;
}

export interface ApplicationDestination { server: string; namespace: string }

export interface SyncPolicy {
  automated?: { prune?: boolean; selfHeal?: boolean };
  syncOptions?: string[];
}

export interface ApplicationSpec {
  source: ApplicationSource;
  destination: ApplicationDestination;
  project: string;
  syncPolicy?: SyncPolicy;
  revisionHistoryLimit?: number;
}

export interface OperationInitiator { username?: string; automated?: boolean }

export interface SyncOperation {
  revision?: string;
  prune?: boolean;
  dryRun?: boolean;
  syncOptions?: string[];
  syncStrategy?: Obj;
  resources?: Obj[];
}

export interface Operation {
  sync: SyncOperation;
  initiatedBy: OperationInitiator;
  info?: Array<{ name: string; value: string }>;
  retry: Obj;
}

export interface HealthStatus { status: HealthStatusCode; message?: string }

export interface ResourceResult {
  group: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
  status?: ResultCode;
  message?: string;
  hookPhase?: OperationPhase;
  syncPhase?: 'PreSync' | 'Sync' | 'PostSync' | 'SyncFail';
}

export interface SyncOperationResult { resources?: ResourceResult[]; revision: string; source: ApplicationSource }

export interface OperationState {
  operation: Operation;
  phase: OperationPhase;
  message?: string;
  syncResult?: SyncOperationResult;
  startedAt: string;
  finishedAt?: string;
}

export interface RevisionHistory {
  revision: string;
  deployedAt: string;
  id: number;
  source: ApplicationSource;
  deployStartedAt?: string;
  initiatedBy: OperationInitiator;
}

export interface ResourceStatus {
  group: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
  status?: SyncStatusCode;
  health?: HealthStatus;
  requiresPruning?: boolean;
}

export interface ApplicationCondition { type: string; message: string; lastTransitionTime?: string }

export interface SyncStatus {
  status: SyncStatusCode;
  comparedTo: { source: ApplicationSource; destination: ApplicationDestination };
  revision?: string;
}

export interface ApplicationStatus {
  resources?: ResourceStatus[];
  sync: SyncStatus;
  health: HealthStatus;
  history?: RevisionHistory[];
  conditions?: ApplicationCondition[];
  reconciledAt?: string;
  operationState?: OperationState;
  sourceType?: 'Helm' | 'Directory';
  summary: { images?: string[] };
  controllerNamespace: string;
}

export interface Application {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    generation: number;
    creationTimestamp: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: ApplicationSpec;
  status: ApplicationStatus;
  operation?: Operation;
}

/** What a test gives to define an Application. */
export interface AppDefinition {
  name: string;
  /** Default `default`. */
  project?: string;
  source: {
    /** A path to a bare repository, or a URL listed in the fake's `repos`. */
    repoURL: string;
    /** The chart (or plain-manifest) folder inside the repository. */
    path: string;
    /** Branch, tag or commit; default `HEAD`. */
    targetRevision?: string;
    helm?: ApplicationSourceHelm;
  };
  destination: { namespace: string; server?: string };
  syncPolicy?: SyncPolicy;
  labels?: Record<string, string>;
}

/** JSON helpers shared with the fake Kubernetes API server. */
export { clone, deepEqual, isObj } from '../fake-kube/util.js';

/** `metav1.Time` on the wire: RFC 3339 in UTC, whole seconds. */
export function metaTime(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
