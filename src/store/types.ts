/**
 * The store port: everything the engine, API and CLI persist. Two adapters implement it
 * (SQLite via better-sqlite3, PostgreSQL via pg), both over Kysely with one migration set.
 * All times are epoch milliseconds (numbers). JSON columns are (de)serialised by the store.
 */

export type DeploymentPhase =
  | 'queued' | 'waiting' | 'running' | 'paused'
  | 'succeeded' | 'failed' | 'rolling_back' | 'rolled_back' | 'aborted'
  /** It served traffic, but a newer deployment of its service and environment cut its post-deploy watch short. */
  | 'superseded';

/** Phases in which a deployment holds its (service, environment) slot. */
export const ACTIVE_PHASES: readonly DeploymentPhase[] = ['waiting', 'running', 'paused', 'rolling_back'];
export const FINAL_PHASES: readonly DeploymentPhase[] = ['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'];

export type DeploymentKind = 'deploy' | 'rollback';

export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

/** One step of a plan, as stored. `params` is the step's own JSON (see src/engine/steps). */
export interface StepRecord {
  deploymentId: string;
  idx: number;
  type: string;
  /** Human label, e.g. "start 2 instances of v2". */
  title: string;
  params: Record<string, unknown>;
  status: StepStatus;
  /** Which part of the deployment the step belongs to: the forward plan or the rollback appended after a failure. */
  stage: 'deploy' | 'rollback';
  startedAt: number | null;
  finishedAt: number | null;
  /** Free JSON the step records: smoke output, health evidence, error message. */
  output: Record<string, unknown> | null;
  attempts: number;
}

export interface DeploymentRecord {
  id: string;
  /** Monotonic per store; FIFO order of the queue. */
  seq: number;
  service: string;
  environment: string;
  kind: DeploymentKind;
  version: string;
  image: string | null;
  phase: DeploymentPhase;
  actor: string;
  reason: string | null;
  /** The stable release when the deployment was requested (rollback target). */
  previousVersion: string | null;
  /** Index of the step being (or to be) run. */
  currentStep: number;
  /** sha256 of the plan's step list, to notice edits. */
  planHash: string;
  abortRequested: boolean;
  /** A person asked a paused rollout to continue (`gangway promote`); the pause step consumes it. */
  promoteRequested: boolean;
  /** Deployed under the environment's expedited (hotfix) policy: flagged for post-incident review. */
  expedited: boolean;
  /** The image as the user named it (tag kept for display); `image` holds the pinned `repo@sha256:…`. */
  requestedImage: string | null;
  /** When the release's commit was made (epoch ms), as the request said; the start of its lead time. */
  commitTime: number | null;
  /** Why it ended as it did (failed/rolled_back/aborted/superseded), or null. */
  message: string | null;
  /** For `superseded`: the deployment that cut its watch short. */
  supersededBy: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** The release group (stored multi-service release) it belongs to, or null. The store always sets it. */
  groupId?: string | null;
  /** Queued and held back by its group until the services it depends on have succeeded; the runner does not start it. The store always sets it. */
  groupHeld?: boolean;
}

export interface EventRecord {
  id: number;
  deploymentId: string | null;
  at: number;
  /** e.g. deployment.created, step.started, step.succeeded, step.failed, deployment.phase */
  type: string;
  data: Record<string, unknown>;
  /** sha256 (hex) of the previous event's hash and this event's content: the tamper-evident chain. */
  hash: string;
  prevHash: string;
}

/** What an environment runs for a service. */
export interface ServiceState {
  service: string;
  environment: string;
  /** The release this environment last finished deploying; the rollback target. */
  stableVersion: string | null;
  stableImage: string | null;
  /** The stable release before the current one. */
  previousVersion: string | null;
  /** Deployment that made the current stable, if any. */
  deploymentId: string | null;
  updatedAt: number;
}

export interface NewDeployment {
  id: string;
  /** Optional; default false / null. */
  expedited?: boolean;
  requestedImage?: string | null;
  /** Epoch ms of the release's commit; default null. */
  commitTime?: number | null;
  /** The release group it belongs to; default null. */
  groupId?: string | null;
  service: string;
  environment: string;
  kind: DeploymentKind;
  version: string;
  image: string | null;
  actor: string;
  reason: string | null;
  previousVersion: string | null;
  planHash: string;
  createdAt: number;
  steps: Array<Pick<StepRecord, 'type' | 'title' | 'params'>>;
}

export interface NewEvent { deploymentId: string | null; at: number; type: string; data: Record<string, unknown> }

/** Fields of a step that a transition may change. */
export type StepPatch = Partial<Pick<StepRecord, 'status' | 'startedAt' | 'finishedAt' | 'output' | 'attempts'>>;
/** Fields of a deployment that a transition may change (never the lease: use the lease methods). */
export type DeploymentPatch = Partial<Pick<DeploymentRecord,
  'phase' | 'currentStep' | 'message' | 'startedAt' | 'finishedAt' | 'abortRequested' | 'promoteRequested' | 'image'
  | 'supersededBy' | 'previousVersion' | 'planHash'>>;

/** One rule's verdict at one evaluation, stored with the measurements behind it. */
export interface VerdictRecord {
  id: number;
  deploymentId: string;
  at: number;
  /** The analysis step that produced it, or null for background analysis. */
  stepIdx: number | null;
  template: string;
  rule: string;
  kind: string;
  verdict: 'pass' | 'fail' | 'inconclusive' | 'error';
  reason: string;
  measurements: Array<Record<string, unknown>>;
}

export type NewVerdict = Omit<VerdictRecord, 'id'>;

/** One release's requests over one sampling interval of a deployment (ending at `at`): what the rollout page draws after the fact. */
export interface ReleaseSampleRecord {
  deploymentId: string;
  /** End of the interval, epoch ms. */
  at: number;
  version: string;
  /** Length of the interval (it began at `at - intervalMs`). */
  intervalMs: number;
  /** Requests in the interval. */
  requests: number;
  /** Of which failed (5xx or no answer). */
  errors: number;
  /** 95th percentile latency of the interval, seconds; null without requests. */
  p95Seconds: number | null;
}

/** The outcome of one gate evaluation, kept with its evidence. */
export interface GateResultRecord {
  id: number;
  deploymentId: string | null;
  service: string;
  environment: string;
  version: string;
  at: number;
  gate: string;
  result: 'pass' | 'fail' | 'wait';
  reason: string;
  until: number | null;
  evidence: Record<string, unknown>;
}
export type NewGateResult = Omit<GateResultRecord, 'id'>;

/** An approval or rejection of a deployment by a person. */
export interface ApprovalRecord {
  deploymentId: string;
  actor: string;
  decision: 'approve' | 'reject';
  /** The groups the actor belonged to when deciding. */
  groups: string[];
  comment: string | null;
  at: number;
}

/** A block on deployments: manual (`gangway freeze`) or raised by an incident alert. */
export interface FreezeRecord {
  id: string;
  /** Null: every environment / service. */
  environment: string | null;
  service: string | null;
  owner: string;
  reason: string;
  source: 'manual' | 'alert';
  /** Alertmanager fingerprint of the alert that raised it. */
  alertFingerprint: string | null;
  createdAt: number;
  liftedAt: number | null;
  liftedBy: string | null;
}

/** A checklist item confirmed by a person for a deployment. */
export interface ChecklistConfirmation { deploymentId: string; item: string; actor: string; at: number; note: string | null }

/** A release that failed analysis in an environment: it cannot be promoted from there without an override. */
export interface RejectionRecord {
  service: string;
  environment: string;
  version: string;
  deploymentId: string;
  at: number;
  reason: string;
}

/** Which events {@link Store.listEvents} returns; every given field must match. */
export interface EventFilter {
  deploymentId?: string;
  afterId?: number;
  /** Only events with a smaller id (paging newest first). */
  beforeId?: number;
  limit?: number;
  newestFirst?: boolean;
  /** Event types: exact (`freeze.created`) or a prefix ending in `.*` (`step.*`); any of them matches. */
  types?: string[];
  /** The service (or environment) of the event's deployment, or the one its data names (`freeze.created` of one environment). */
  service?: string;
  environment?: string;
  /** Who acted: the event's `actor` (or `by`, `user`), else the actor of its deployment. */
  actor?: string;
  /** Only events at or after / at or before these times (epoch ms). */
  since?: number;
  until?: number;
}

export interface DeploymentFilter {
  service?: string;
  environment?: string;
  phases?: DeploymentPhase[];
  /** Newest first when true (history); oldest first (queue order, by seq) otherwise. */
  newestFirst?: boolean;
  limit?: number;
  /** Only deployments that finished at or after this time (epoch ms). */
  finishedSince?: number;
  /** Only the deployments of this release group. */
  groupId?: string;
}

/**
 * Store port. Every method is a single transaction. Methods never return rows shared with
 * the store's internals (callers may mutate results).
 */
/** An orchestrator registered on the store (migration 0009). */
export interface ReplicaRecord {
  /** The runner's lease owner id (`host:pid:nonce`). */
  id: string;
  /** Its API address. */
  url: string;
  version: string;
  /** sha256 of the config's canonical JSON. */
  configHash: string;
  /** sha256 per top-level config key, so a mismatch names the keys that differ. */
  configKeys: Record<string, string>;
  startedAt: number;
  heartbeatAt: number;
}

/** Whoever asks to move a cursor must still hold this lease with this fence (see {@link ReplicaStore.setCursor}). */
export interface LeaseGuard {
  lease: string;
  owner: string;
  fence: number;
}

/** What several orchestrators on one store share beside deployments: named leases, cursors, registrations. */
export interface ReplicaStore {
  /**
   * Takes or renews the named lease for `owner` until `now + ttlMs` when it is free, expired
   * or already `owner`'s, or held by an owner in `deadOwners`. Returns its fence — a number
   * that grows at every change of owner, so work done under an older fence can be refused —
   * or null when another owner holds it.
   */
  acquireNamedLease(name: string, owner: string, now: number, ttlMs: number, deadOwners?: string[]): Promise<number | null>;
  /** Gives the named lease up if `owner` holds it. */
  releaseNamedLease(name: string, owner: string): Promise<void>;
  /** The holder of a named lease and until when, or undefined when it was never taken. */
  getNamedLease(name: string): Promise<{ owner: string | null; expiresAt: number; fence: number } | undefined>;
  getCursor(name: string): Promise<number | undefined>;
  /** Sets a cursor. With `guard`, only while that lease is held by that owner at that fence: false (nothing written) otherwise. */
  setCursor(name: string, position: number, guard?: LeaseGuard): Promise<boolean>;
  /** Inserts or replaces a replica's registration. */
  registerReplica(r: ReplicaRecord): Promise<void>;
  /** Moves a replica's heartbeat; false when it is no longer registered. */
  heartbeatReplica(id: string, now: number): Promise<boolean>;
  listReplicas(): Promise<ReplicaRecord[]>;
  removeReplica(id: string): Promise<void>;
  getStoreMeta(key: string): Promise<string | undefined>;
  /** Migrations not applied yet, and applied ones this Gangway does not know (a newer one migrated the store). Throws when the database does not answer. */
  migrationStatus(): Promise<{ pending: string[]; unknown: string[] }>;
  setStoreMeta(key: string, value: string): Promise<void>;
}

/**
 * What auto-deploy remembers per (service, environment) (migration 0010): the last tag it acted
 * on, a tag held back by a gate, an outage of the registry, and a pause after a person's rollback.
 */
export interface AutoDeployState {
  service: string;
  environment: string;
  /** The newest tag deployed (or found already deployed); only a newer one is deployed next. Null before the first poll. */
  lastTag: string | null;
  /** `order: pushed`: the matching tags seen so far, so a tag that appears later is known to be newer. */
  seenTags: string[] | null;
  /** A tag a gate refused, tried again at every poll until it passes or a newer tag arrives. */
  pendingTag: string | null;
  /** The refusal recorded for `pendingTag` (an event is written only when it changes). */
  pendingReason: string | null;
  /** When the registry stopped answering (null while it answers): one event per outage. */
  outageSince: number | null;
  /** Set by a person's rollback; nothing is deployed until someone resumes. */
  pausedAt: number | null;
  pausedBy: string | null;
  /** The rollback (or aborted deployment) that paused it. */
  pausedDeployment: string | null;
  resumedAt: number | null;
  resumedBy: string | null;
  /** Events up to this id have been checked for rollbacks. */
  checkedEvent: number;
  updatedAt: number;
}

/** The fields of {@link AutoDeployState} one write changes (the others are kept). */
export type AutoDeployPatch = Partial<Omit<AutoDeployState, 'service' | 'environment' | 'updatedAt'>>;

/** Auto-deploy's state, beside the deployments it requests. */
export interface AutoDeployStore {
  getAutoDeployState(service: string, environment: string): Promise<AutoDeployState | undefined>;
  listAutoDeployStates(): Promise<AutoDeployState[]>;
  /**
   * Changes the given fields of a pair's state (creating it with `checkedEvent` 0 and nulls
   * first) and appends `events`, in one transaction. Fields not in `patch` keep what another
   * writer put there (a pause is never undone by the poller's write). Returns true.
   */
  updateAutoDeployState(service: string, environment: string, patch: AutoDeployPatch, at: number, events?: NewEvent[]): Promise<boolean>;
}

/** Phases of a release group: `queued` until the group driver first looks at it. */
export type ReleaseGroupPhase = 'queued' | 'running' | 'rolling_back' | 'succeeded' | 'failed' | 'rolled_back';
export const FINAL_GROUP_PHASES: readonly ReleaseGroupPhase[] = ['succeeded', 'failed', 'rolled_back'];

/** What a group does when one of its members does not succeed. */
export type GroupFailurePolicy = 'rollback' | 'stop';

/** One service of a release group, as stored with the group. */
export interface ReleaseGroupMember {
  service: string;
  version: string;
  image: string | null;
  /** The services of the group it waits for (its `dependsOn` within the group, when the group was requested). */
  dependsOn: string[];
  /** Its deployment; null when the service already ran this release (nothing to do: it counts as succeeded). */
  deploymentId: string | null;
}

/** A stored multi-service release: one deployment per service, run in dependency order. */
export interface ReleaseGroupRecord {
  id: string;
  environment: string;
  /** `deploy`: versions named in the request; `promote`: the set that last succeeded together in the promotion source. */
  kind: 'deploy' | 'promote';
  phase: ReleaseGroupPhase;
  onFailure: GroupFailurePolicy;
  actor: string;
  reason: string | null;
  /** In dependency order: each after the services it depends on. */
  members: ReleaseGroupMember[];
  /** Why it ended as it did, or null. */
  message: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export type NewReleaseGroup = Omit<ReleaseGroupRecord, 'phase' | 'message' | 'startedAt' | 'finishedAt'>;

/** Release groups (migration 0011). Every method is a single transaction. */
export interface ReleaseGroupStore {
  /**
   * Inserts the group (phase `queued`), its member deployments (queued and held by the group,
   * with their steps), a `deployment.created` event per member and a `group.created` event,
   * atomically: either all of it is written or nothing.
   */
  createReleaseGroup(g: NewReleaseGroup, members: NewDeployment[]): Promise<ReleaseGroupRecord>;
  getReleaseGroup(id: string): Promise<ReleaseGroupRecord | undefined>;
  /** Groups, newest first, optionally of one environment and in some phases. An empty `phases` matches nothing. */
  listReleaseGroups(filter?: { environment?: string; phases?: ReleaseGroupPhase[]; limit?: number }): Promise<ReleaseGroupRecord[]>;
  /**
   * Moves a group from phase `from` to `patch.phase` (and sets the other fields) and appends
   * `events`, only if it is still in `from`: false (nothing written) otherwise. Idempotent for
   * whoever lost the race.
   */
  updateReleaseGroup(id: string, from: ReleaseGroupPhase, patch: { phase: ReleaseGroupPhase; message?: string | null; startedAt?: number; finishedAt?: number }, events: NewEvent[]): Promise<boolean>;
  /** Lets the runner start a held member (it is still queued and held): false when it was not. Appends `events` with it. */
  releaseGroupMember(deploymentId: string, events: NewEvent[]): Promise<boolean>;
}

export interface Store extends AuthStore, ReplicaStore, AutoDeployStore, ReleaseGroupStore {
  /** Applies pending migrations. Idempotent; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /** Inserts the deployment (phase `queued`, currentStep 0, seq assigned), its steps and a `deployment.created` event, atomically. */
  createDeployment(d: NewDeployment): Promise<DeploymentRecord>;
  getDeployment(id: string): Promise<DeploymentRecord | undefined>;
  listDeployments(filter?: DeploymentFilter): Promise<DeploymentRecord[]>;
  getSteps(deploymentId: string): Promise<StepRecord[]>;

  /**
   * One transition, one transaction: optionally patch the deployment, optionally patch one step,
   * optionally append steps (the rollback stage), and append the events.
   * When `expectLeaseOwner` is given the write happens only if that owner still holds the
   * lease; returns false (and writes nothing) otherwise.
   */
  transition(t: {
    deploymentId: string;
    expectLeaseOwner?: string;
    deployment?: DeploymentPatch;
    step?: { idx: number; patch: StepPatch };
    appendSteps?: Array<Pick<StepRecord, 'type' | 'title' | 'params' | 'stage'>>;
    /**
     * Replace the steps from `fromIdx` on (all must still be pending) with `steps`, in the
     * forward stage: a plan made when the deployment was requested, redone when it starts.
     */
    replaceSteps?: { fromIdx: number; steps: Array<Pick<StepRecord, 'type' | 'title' | 'params'>> };
    events: NewEvent[];
    /** Set the service state (stable release) in the same transaction. */
    serviceState?: Omit<ServiceState, 'updatedAt'> & { updatedAt: number };
    /** Mark the release rejected for the environment in the same transaction (the first rejection is kept). */
    rejection?: RejectionRecord;
  }): Promise<boolean>;

  /** Appends verdicts (one transaction). */
  appendVerdicts(verdicts: NewVerdict[]): Promise<void>;
  /** Verdicts of a deployment in id order (or newest first), optionally after an id. */
  listVerdicts(filter: { deploymentId: string; afterId?: number; limit?: number; newestFirst?: boolean }): Promise<VerdictRecord[]>;
  /** Appends per-release samples (one transaction); a sample already stored for (deployment, at, version) is kept. */
  appendReleaseSamples(samples: ReleaseSampleRecord[]): Promise<void>;
  /** Samples of a deployment, oldest first (by time, then version), optionally only at or after `since`. */
  listReleaseSamples(filter: { deploymentId: string; since?: number; limit?: number }): Promise<ReleaseSampleRecord[]>;
  listRejections(filter?: { service?: string; environment?: string; version?: string }): Promise<RejectionRecord[]>;
  appendGateResults(results: NewGateResult[]): Promise<void>;
  /** Gate results of a deployment (or of requests never created, by pair) in id order. */
  listGateResults(filter: { deploymentId?: string; service?: string; environment?: string; limit?: number }): Promise<GateResultRecord[]>;
  /** Records a person's decision; one per (deployment, actor): a later decision replaces the earlier one. */
  recordApproval(a: ApprovalRecord): Promise<void>;
  listApprovals(deploymentId: string): Promise<ApprovalRecord[]>;
  /** Inserts a freeze; false (nothing inserted) when an active freeze of the same alert fingerprint exists. */
  createFreeze(f: FreezeRecord): Promise<boolean>;
  /** Lifts a freeze (idempotent); returns it, or undefined when unknown. */
  liftFreeze(id: string, by: string, at: number): Promise<FreezeRecord | undefined>;
  /** Freezes, active only (not lifted) unless `all`. */
  listFreezes(filter?: { all?: boolean; alertFingerprint?: string }): Promise<FreezeRecord[]>;
  confirmChecklist(c: ChecklistConfirmation): Promise<void>;
  listChecklist(deploymentId: string): Promise<ChecklistConfirmation[]>;
  /** Per-deployment analysis memory (rule states), by key (e.g. `background`, `step:4`). */
  getAnalysisState(deploymentId: string, key: string): Promise<Record<string, unknown> | undefined>;
  setAnalysisState(deploymentId: string, key: string, state: Record<string, unknown>, now: number): Promise<void>;

  /**
   * Claims the lease with a conditional UPDATE: succeeds when the lease is free, expired
   * (`leaseExpiresAt < now`), held by `owner` already, or held by an owner in `deadOwners`.
   * Returns the deployment when claimed, undefined otherwise.
   */
  claimLease(id: string, owner: string, now: number, ttlMs: number, deadOwners?: string[]): Promise<DeploymentRecord | undefined>;
  /** Extends a lease still held by `owner`; false when it was lost. */
  renewLease(id: string, owner: string, now: number, ttlMs: number): Promise<boolean>;
  /** Releases the lease if held by `owner`. */
  releaseLease(id: string, owner: string): Promise<void>;

  /**
   * Moves the oldest `queued` deployment of (service, environment) to `running` if, and only
   * if, no deployment of that pair is in an ACTIVE phase. (`waiting` deployments are outside
   * the queue until their gates pass and they are moved to `queued`.) Atomic (one transaction); returns the
   * started deployment or undefined. Writes a `deployment.phase` event.
   */
  startNextQueued(service: string, environment: string, now: number): Promise<DeploymentRecord | undefined>;

  getServiceState(service: string, environment: string): Promise<ServiceState | undefined>;
  listServiceStates(): Promise<ServiceState[]>;

  appendEvents(events: NewEvent[]): Promise<void>;
  /** Events in id order (or newest first), optionally only after `afterId` / before `beforeId`, for one deployment, and by the {@link EventFilter} fields. */
  listEvents(filter?: EventFilter): Promise<EventRecord[]>;

  /**
   * Counts for the orchestrator's own metrics, from a few GROUP BY queries: the result's size
   * depends on the number of services, environments, step types and rules, not on history.
   * `stepBoundsMs`: the histogram's upper bounds (ascending) for step durations.
   */
  metricsSummary(stepBoundsMs: readonly number[]): Promise<StoreMetricsSummary>;
}

/** What {@link Store.metricsSummary} returns. */
export interface StoreMetricsSummary {
  /** Deployments per (service, environment, phase), of every phase. */
  deployments: Array<{ service: string; environment: string; phase: DeploymentPhase; count: number }>;
  /** Steps that started and finished, per type: how many, their summed duration, and how many took at most each bound (cumulative). */
  steps: Array<{ type: string; count: number; sumMs: number; atMost: number[] }>;
  /** Verdicts per (template, rule, verdict). */
  verdicts: Array<{ template: string; rule: string; verdict: VerdictRecord['verdict']; count: number }>;
}

/** A role in an environment, ordered: each includes the ones before it. */
export type Role = 'viewer' | 'deployer' | 'approver' | 'admin';

/** A person who signs in to the dashboard or owns API tokens. */
export interface UserRecord {
  /** Unique; the actor recorded on everything the user does. */
  name: string;
  /** Role per environment name, and/or `'*'` for every environment. */
  roles: Record<string, Role>;
  /** `scrypt$N$r$p$salt$hash` (see src/auth/users.ts), or null: the user signs in with tokens only. */
  passwordHash: string | null;
  createdAt: number;
}

/** An API token, stored by the sha256 of its secret; the secret itself is never stored. */
export interface ApiTokenRecord {
  /** Public id (`tok_…`), shown in lists and used to revoke. */
  id: string;
  name: string;
  /** The user it acts for (`admin`: the built-in admin principal). */
  owner: string;
  /** sha256 of the secret, lowercase hex. */
  hash: string;
  createdAt: number;
  lastUsedAt: number | null;
  expiresAt: number | null;
  revokedAt: number | null;
}

/** A signed-in dashboard session, stored by the sha256 of its opaque id. */
export interface SessionRecord {
  /** sha256 of the session id (the cookie value), lowercase hex. */
  idHash: string;
  /** The user it acts for (`admin`: the built-in admin principal). */
  userName: string;
  /** The API token signed in with, if any: revoking it ends the session too. */
  tokenId: string | null;
  createdAt: number;
  expiresAt: number;
}

/** Users, API tokens and sessions (migration 0005). Every method is a single transaction. */
export interface AuthStore {
  /** Inserts a user; throws `conflict` when the name is taken. */
  createUser(u: UserRecord): Promise<void>;
  getUser(name: string): Promise<UserRecord | undefined>;
  /** Every user, by name. */
  listUsers(): Promise<UserRecord[]>;
  /** Deletes a user, revokes its tokens (at `at`) and deletes its sessions; false when unknown. */
  deleteUser(name: string, at: number): Promise<boolean>;
  /** Inserts a token; throws `conflict` when the id is taken. */
  createApiToken(t: ApiTokenRecord): Promise<void>;
  getApiTokenByHash(hash: string): Promise<ApiTokenRecord | undefined>;
  /** Every token (revoked ones too), oldest first. */
  listApiTokens(filter?: { owner?: string }): Promise<ApiTokenRecord[]>;
  /** Revokes a token (idempotent: the first revocation time is kept) and deletes sessions signed in with it; undefined when unknown. */
  revokeApiToken(id: string, at: number): Promise<ApiTokenRecord | undefined>;
  /** Records a use of the token. */
  touchApiToken(id: string, at: number): Promise<void>;
  createSession(s: SessionRecord): Promise<void>;
  getSession(idHash: string): Promise<SessionRecord | undefined>;
  /** Idempotent. */
  deleteSession(idHash: string): Promise<void>;
  /** Deletes sessions with `expiresAt <= now`; returns how many. */
  deleteExpiredSessions(now: number): Promise<number>;
}
