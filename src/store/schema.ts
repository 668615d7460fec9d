/**
 * Kysely table types of the store. Column names are snake_case; the store maps rows to the
 * camelCase records of `./types.ts`. JSON columns hold text in both dialects so a record
 * round-trips byte for byte (PostgreSQL's jsonb would reorder keys, which matters to anything
 * that hashes stored data).
 */
import type { ColumnType, Generated } from 'kysely';

/** `deployments`: one row per deployment; `seq` orders the queue. */
export interface DeploymentsTable {
  id: string;
  seq: number;
  service: string;
  environment: string;
  kind: string;
  version: string;
  image: string | null;
  phase: string;
  actor: string;
  reason: string | null;
  previous_version: string | null;
  current_step: number;
  plan_hash: string;
  /** 0/1 in SQLite, boolean in PostgreSQL; always written as 0/1 (PostgreSQL reads '1' as true). */
  abort_requested: ColumnType<number | boolean, number, number>;
  /** As abort_requested; added by migration 0002. */
  promote_requested: ColumnType<number | boolean, number | undefined, number>;
  /** Added by migration 0003. */
  expedited: ColumnType<number | boolean, number | undefined, number>;
  requested_image: ColumnType<string | null, string | null | undefined, string | null>;
  /** Epoch ms of the release's commit; added by migration 0006. */
  commit_time: ColumnType<number | null, number | null | undefined, number | null>;
  message: string | null;
  /** The deployment that cut this one's watch short; added by migration 0007. */
  superseded_by: ColumnType<string | null, string | null | undefined, string | null>;
  lease_owner: string | null;
  lease_expires_at: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** The release group the deployment belongs to; added by migration 0011. */
  group_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** 1 while its group holds it back (dependencies not done yet), 0 otherwise; added by migration 0011. */
  group_held: ColumnType<number | boolean, number | undefined, number>;
}

/** `release_groups` (migration 0011): one row per stored multi-service release. */
export interface ReleaseGroupsTable {
  id: string;
  environment: string;
  kind: string;
  phase: string;
  on_failure: string;
  actor: string;
  reason: string | null;
  /** JSON text: the members, in dependency order. */
  members: string;
  message: string | null;
  created_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
}

/** `steps`: primary key (deployment_id, idx). */
export interface StepsTable {
  deployment_id: string;
  idx: number;
  type: string;
  title: string;
  /** JSON text. */
  params: string;
  status: string;
  stage: string;
  started_at: number | null;
  finished_at: number | null;
  /** JSON text or null. */
  output: string | null;
  attempts: number;
}

/**
 * `events`: append-only and hash-chained. Since migration 0004 the store assigns `id` itself
 * (the last id + 1, under the event-log lock) so ids have no gaps and are known before the
 * row is written; `hash` and `prev_hash` are null only on a row written past the store.
 */
export interface EventsTable {
  id: ColumnType<number, number, never>;
  deployment_id: string | null;
  at: number;
  type: string;
  /** JSON text. */
  data: string;
  /** sha256 hex of prev_hash and the event's canonical content (see ./event-chain.ts); added by migration 0004. */
  hash: ColumnType<string | null, string, string>;
  prev_hash: ColumnType<string | null, string, string>;
}

/** `service_states`: primary key (service, environment). */
export interface ServiceStatesTable {
  service: string;
  environment: string;
  stable_version: string | null;
  stable_image: string | null;
  previous_version: string | null;
  deployment_id: string | null;
  updated_at: number;
}

/** `verdicts`: analysis verdicts, append-only. */
export interface VerdictsTable {
  id: Generated<number>;
  deployment_id: string;
  at: number;
  step_idx: number | null;
  template: string;
  rule: string;
  kind: string;
  verdict: string;
  reason: string;
  /** JSON text. */
  measurements: string;
}

/** `release_samples`: per-release request figures of a deployment per interval (migration 0008); primary key (deployment_id, at, version). */
export interface ReleaseSamplesTable {
  deployment_id: string;
  at: number;
  version: string;
  interval_ms: number;
  requests: number;
  errors: number;
  /** Seconds; null without requests. */
  p95: number | null;
}

/** `rejections`: primary key (service, environment, version). */
export interface RejectionsTable {
  service: string;
  environment: string;
  version: string;
  deployment_id: string;
  at: number;
  reason: string;
}

/** `analysis_states`: primary key (deployment_id, key). */
export interface AnalysisStatesTable {
  deployment_id: string;
  key: string;
  /** JSON text. */
  state: string;
  updated_at: number;
}

/** `gate_results`: append-only. */
export interface GateResultsTable {
  id: Generated<number>;
  deployment_id: string | null;
  service: string;
  environment: string;
  version: string;
  at: number;
  gate: string;
  result: string;
  reason: string;
  until: number | null;
  /** JSON text. */
  evidence: string;
}

/** `approvals`: primary key (deployment_id, actor). */
export interface ApprovalsTable {
  deployment_id: string;
  actor: string;
  decision: string;
  /** JSON text (array of group names). */
  groups: string;
  comment: string | null;
  at: number;
}

/** `freezes`: primary key id. */
export interface FreezesTable {
  id: string;
  environment: string | null;
  service: string | null;
  owner: string;
  reason: string;
  source: string;
  alert_fingerprint: string | null;
  created_at: number;
  lifted_at: number | null;
  lifted_by: string | null;
}

/** `checklist_confirmations`: primary key (deployment_id, item). */
export interface ChecklistTable {
  deployment_id: string;
  item: string;
  actor: string;
  at: number;
  note: string | null;
}

/** `users`: primary key name (migration 0005). */
export interface UsersTable {
  name: string;
  /** JSON text: role per environment name or `*`. */
  roles: string;
  password_hash: string | null;
  created_at: number;
}

/** `api_tokens`: primary key id; `hash` (sha256 hex of the secret) is unique. */
export interface ApiTokensTable {
  id: string;
  name: string;
  owner: string;
  hash: string;
  created_at: number;
  last_used_at: number | null;
  expires_at: number | null;
  revoked_at: number | null;
}

/** `sessions`: primary key id_hash (sha256 hex of the cookie value). */
export interface SessionsTable {
  id_hash: string;
  user_name: string;
  token_id: string | null;
  created_at: number;
  expires_at: number;
}

/** `leases`: named leases of work shared by replicas (migration 0009); `fence` grows with every change of owner. */
export interface LeasesTable {
  name: string;
  owner: string | null;
  expires_at: number;
  fence: number;
}

/** `cursors`: a log follower's position (the id of the last event it settled), by name. */
export interface CursorsTable {
  name: string;
  position: number;
}

/** `replicas`: orchestrators registered on the store, with their heartbeat. */
export interface ReplicasTable {
  id: string;
  url: string;
  version: string;
  config_hash: string;
  /** JSON text: hash per top-level config key. */
  config_keys: string;
  started_at: number;
  heartbeat_at: number;
}

/** `store_meta`: facts about the store itself (`migrated_by`: the Gangway version that last migrated it). */
export interface StoreMetaTable {
  key: string;
  value: string;
}

/** `autodeploy_state`: auto-deploy's memory per (service, environment) (migration 0010). */
export interface AutoDeployStateTable {
  service: string;
  environment: string;
  last_tag: string | null;
  /** JSON text: an array of tags, or null. */
  seen_tags: string | null;
  pending_tag: string | null;
  pending_reason: string | null;
  outage_since: number | null;
  paused_at: number | null;
  paused_by: string | null;
  paused_deployment: string | null;
  resumed_at: number | null;
  resumed_by: string | null;
  checked_event: number;
  updated_at: number;
}

/** The store's database as Kysely sees it (Kysely's own migration tables are not listed). */
export interface Database {
  deployments: DeploymentsTable;
  steps: StepsTable;
  events: EventsTable;
  service_states: ServiceStatesTable;
  verdicts: VerdictsTable;
  release_samples: ReleaseSamplesTable;
  rejections: RejectionsTable;
  analysis_states: AnalysisStatesTable;
  gate_results: GateResultsTable;
  approvals: ApprovalsTable;
  freezes: FreezesTable;
  checklist_confirmations: ChecklistTable;
  users: UsersTable;
  api_tokens: ApiTokensTable;
  sessions: SessionsTable;
  leases: LeasesTable;
  cursors: CursorsTable;
  replicas: ReplicasTable;
  store_meta: StoreMetaTable;
  autodeploy_state: AutoDeployStateTable;
  release_groups: ReleaseGroupsTable;
}
