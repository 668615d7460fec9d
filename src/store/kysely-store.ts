/**
 * The one implementation of the `Store` port, over Kysely. The dialect-specific parts — how a
 * write transaction is opened, which locks make read-then-write atomic, how migrations are
 * serialised — come from a `StoreDriver` (see `sqlite/sqlite-store.ts`,
 * `postgres/postgres-store.ts`); every query is written once, here.
 */
import { sql } from 'kysely';
import type { Kysely, Selectable, Updateable } from 'kysely';
import { GangwayError, NotFoundError } from '../errors.js';
import { GENESIS_HASH, eventHash } from './event-chain.js';
import type { StoreDialect } from './migrations.js';
import { migrationStatus } from './migrations.js';
import type { Database, DeploymentsTable, EventsTable, FreezesTable, ServiceStatesTable, StepsTable } from './schema.js';
import { ACTIVE_PHASES } from './types.js';
import type { ApiTokensTable, SessionsTable, UsersTable } from './schema.js';
import type { ApiTokenRecord, LeaseGuard, ReplicaRecord, Role, SessionRecord, UserRecord } from './types.js';
import type { AutoDeployPatch, AutoDeployState } from './types.js';
import type { GroupFailurePolicy, NewReleaseGroup, ReleaseGroupMember, ReleaseGroupPhase, ReleaseGroupRecord } from './types.js';
import type {
  DeploymentFilter, DeploymentKind, DeploymentPatch, DeploymentPhase, DeploymentRecord, EventRecord,
  EventFilter, NewDeployment, NewEvent, NewVerdict, RejectionRecord, ReleaseSampleRecord, ServiceState, StepPatch, StepRecord, StepStatus, Store, VerdictRecord,
  ApprovalRecord, ChecklistConfirmation, FreezeRecord, GateResultRecord, NewGateResult, StoreMetricsSummary,
} from './types.js';

/**
 * What a dialect adapter provides to `KyselyStore`.
 *
 * @example
 * ```ts
 * const store = new KyselyStore(new SqliteStoreDriver('.gangway/state.db'));
 * ```
 */
export interface StoreDriver {
  readonly dialect: StoreDialect;
  /** For reads; writes go through `writeTransaction`. */
  readonly db: Kysely<Database>;
  /**
   * Runs `fn` in one transaction and commits it, or rolls back when `fn` throws. SQLite: the
   * transaction holds the database's write lock from its first statement (`BEGIN IMMEDIATE`),
   * so every read inside it is current. PostgreSQL: READ COMMITTED; the store takes the row
   * and advisory locks it needs through `lockDeployment`, `lockPair` and `lockLog`.
   */
  writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Serialises `startNextQueued` for one (service, environment) until the transaction ends. No-op when transactions are already exclusive. */
  lockPair(trx: Kysely<Database>, service: string, environment: string): Promise<void>;
  /**
   * Serialises appends to the event log until the transaction ends, so event ids (and
   * deployment `seq`) become visible in increasing order, an `afterId` reader never skips
   * one, and each append chains onto the hash of the last committed event. Callers take it
   * just before their last writes; taking it again in the same transaction is allowed. No-op
   * when transactions are already exclusive.
   */
  lockLog(trx: Kysely<Database>): Promise<void>;
  /** Whether `SELECT ... FOR UPDATE` is needed (and understood) to lock a row read inside a write transaction. */
  readonly rowLocks: boolean;
  /** Applies pending migrations, excluding concurrent migrators of the same database. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

type DeploymentRow = Selectable<DeploymentsTable>;
type StepRow = Selectable<StepsTable>;
type EventRow = Selectable<EventsTable>;
type ServiceStateRow = Selectable<ServiceStatesTable>;

function toDeployment(r: DeploymentRow): DeploymentRecord {
  return {
    id: r.id,
    seq: Number(r.seq),
    service: r.service,
    environment: r.environment,
    kind: r.kind as DeploymentKind,
    version: r.version,
    image: r.image,
    phase: r.phase as DeploymentPhase,
    actor: r.actor,
    reason: r.reason,
    previousVersion: r.previous_version,
    currentStep: r.current_step,
    planHash: r.plan_hash,
    // 0/1 from SQLite, true/false from PostgreSQL.
    abortRequested: Boolean(r.abort_requested),
    promoteRequested: Boolean(r.promote_requested),
    expedited: Boolean(r.expedited),
    requestedImage: r.requested_image ?? null,
    commitTime: r.commit_time === null || r.commit_time === undefined ? null : Number(r.commit_time),
    message: r.message,
    supersededBy: r.superseded_by ?? null,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    groupId: r.group_id ?? null,
    groupHeld: Boolean(r.group_held),
  };
}

function toReleaseGroup(r: Selectable<Database['release_groups']>): ReleaseGroupRecord {
  const n = (v: number | string | null) => (v === null ? null : Number(v));
  return {
    id: r.id, environment: r.environment, kind: r.kind as ReleaseGroupRecord['kind'], phase: r.phase as ReleaseGroupPhase,
    onFailure: r.on_failure as GroupFailurePolicy, actor: r.actor, reason: r.reason,
    members: JSON.parse(r.members) as ReleaseGroupMember[], message: r.message,
    createdAt: Number(r.created_at), startedAt: n(r.started_at), finishedAt: n(r.finished_at),
  };
}

function toStep(r: StepRow): StepRecord {
  return {
    deploymentId: r.deployment_id,
    idx: r.idx,
    type: r.type,
    title: r.title,
    params: JSON.parse(r.params) as Record<string, unknown>,
    status: r.status as StepStatus,
    stage: r.stage as StepRecord['stage'],
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    output: r.output === null ? null : JSON.parse(r.output) as Record<string, unknown>,
    attempts: r.attempts,
  };
}

function toEvent(r: EventRow): EventRecord {
  return {
    id: Number(r.id), deploymentId: r.deployment_id, at: r.at, type: r.type, data: JSON.parse(r.data) as Record<string, unknown>,
    // Empty only for a row written past the store; verification names it.
    hash: r.hash ?? '', prevHash: r.prev_hash ?? '',
  };
}

function toFreeze(r: Selectable<FreezesTable>): FreezeRecord {
  return {
    id: r.id, environment: r.environment, service: r.service, owner: r.owner, reason: r.reason, source: r.source as FreezeRecord['source'],
    alertFingerprint: r.alert_fingerprint, createdAt: r.created_at, liftedAt: r.lifted_at, liftedBy: r.lifted_by,
  };
}

function toServiceState(r: ServiceStateRow): ServiceState {
  return {
    service: r.service,
    environment: r.environment,
    stableVersion: r.stable_version,
    stableImage: r.stable_image,
    previousVersion: r.previous_version,
    deploymentId: r.deployment_id,
    updatedAt: r.updated_at,
  };
}

function deploymentPatchColumns(p: DeploymentPatch): Updateable<DeploymentsTable> {
  const cols: Updateable<DeploymentsTable> = {};
  if (p.phase !== undefined) cols.phase = p.phase;
  if (p.currentStep !== undefined) cols.current_step = p.currentStep;
  if (p.message !== undefined) cols.message = p.message;
  if (p.startedAt !== undefined) cols.started_at = p.startedAt;
  if (p.finishedAt !== undefined) cols.finished_at = p.finishedAt;
  if (p.abortRequested !== undefined) cols.abort_requested = p.abortRequested ? 1 : 0;
  if (p.promoteRequested !== undefined) cols.promote_requested = p.promoteRequested ? 1 : 0;
  if (p.image !== undefined) cols.image = p.image;
  if (p.supersededBy !== undefined) cols.superseded_by = p.supersededBy;
  if (p.previousVersion !== undefined) cols.previous_version = p.previousVersion;
  if (p.planHash !== undefined) cols.plan_hash = p.planHash;
  return cols;
}

function stepPatchColumns(p: StepPatch): Updateable<StepsTable> {
  const cols: Updateable<StepsTable> = {};
  if (p.status !== undefined) cols.status = p.status;
  if (p.startedAt !== undefined) cols.started_at = p.startedAt;
  if (p.finishedAt !== undefined) cols.finished_at = p.finishedAt;
  if (p.output !== undefined) cols.output = p.output === null ? null : JSON.stringify(p.output);
  if (p.attempts !== undefined) cols.attempts = p.attempts;
  return cols;
}


function toUser(r: Selectable<UsersTable>): UserRecord {
  return { name: r.name, roles: JSON.parse(r.roles) as Record<string, Role>, passwordHash: r.password_hash, createdAt: r.created_at };
}

function toApiToken(r: Selectable<ApiTokensTable>): ApiTokenRecord {
  return {
    id: r.id, name: r.name, owner: r.owner, hash: r.hash, createdAt: r.created_at,
    lastUsedAt: r.last_used_at, expiresAt: r.expires_at, revokedAt: r.revoked_at,
  };
}

function toSession(r: Selectable<SessionsTable>): SessionRecord {
  return { idHash: r.id_hash, userName: r.user_name, tokenId: r.token_id, createdAt: r.created_at, expiresAt: r.expires_at };
}

/** A duplicate primary key or unique value, in either dialect. */
function isDuplicate(err: unknown): boolean {
  return isUniqueViolation(err) || (err as { code?: unknown } | null)?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** SQLite reports `SQLITE_CONSTRAINT_UNIQUE`, PostgreSQL SQLSTATE 23505. */
function toAutoDeployState(r: Selectable<Database['autodeploy_state']>): AutoDeployState {
  const n = (v: number | string | null) => (v === null ? null : Number(v));
  return {
    service: r.service, environment: r.environment, lastTag: r.last_tag,
    seenTags: r.seen_tags === null ? null : JSON.parse(r.seen_tags) as string[],
    pendingTag: r.pending_tag, pendingReason: r.pending_reason, outageSince: n(r.outage_since),
    pausedAt: n(r.paused_at), pausedBy: r.paused_by, pausedDeployment: r.paused_deployment,
    resumedAt: n(r.resumed_at), resumedBy: r.resumed_by, checkedEvent: Number(r.checked_event), updatedAt: Number(r.updated_at),
  };
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/**
 * `Store` over Kysely for every supported dialect. Construct it through `openSqliteStore`,
 * `openPostgresStore` or `openStore`.
 *
 * @example
 * ```ts
 * const store = openSqliteStore(':memory:');
 * await store.migrate();
 * const d = await store.createDeployment({ id: 'd1', service: 'web', environment: 'dev', ... });
 * ```
 */
export class KyselyStore implements Store {
  constructor(private readonly driver: StoreDriver) {}

  /** Which SQL dialect this store runs on. */
  get dialect(): StoreDialect { return this.driver.dialect; }

  async migrate(): Promise<void> { await this.driver.migrate(); }

  async close(): Promise<void> { await this.driver.close(); }

  async createDeployment(d: NewDeployment): Promise<DeploymentRecord> {
    return this.driver.writeTransaction(async (trx) => {
      // Taken first: `seq` is max + 1 and must not be computed twice concurrently.
      await this.driver.lockLog(trx);
      return this.insertDeployment(trx, d, false);
    });
  }

  /** Inserts one deployment with its steps and its `deployment.created` event; the caller holds the log lock. */
  private async insertDeployment(trx: Kysely<Database>, d: NewDeployment, held: boolean): Promise<DeploymentRecord> {
    const existing = await trx.selectFrom('deployments').select('id').where('id', '=', d.id).executeTakeFirst();
    if (existing) throw new GangwayError('conflict', `deployment ${d.id} already exists`, undefined, { deploymentId: d.id });
    const { next } = await trx.selectFrom('deployments')
      .select((eb) => eb.fn.coalesce(eb.fn.max('seq'), eb.lit(0)).as('next'))
      .executeTakeFirstOrThrow();
    const row = await trx.insertInto('deployments').values({
      id: d.id,
      seq: Number(next) + 1,
      service: d.service,
      environment: d.environment,
      kind: d.kind,
      version: d.version,
      image: d.image,
      phase: 'queued',
      actor: d.actor,
      reason: d.reason,
      previous_version: d.previousVersion,
      current_step: 0,
      plan_hash: d.planHash,
      abort_requested: 0,
      expedited: d.expedited ? 1 : 0,
      requested_image: d.requestedImage ?? null,
      commit_time: d.commitTime ?? null,
      message: null,
      lease_owner: null,
      lease_expires_at: null,
      created_at: d.createdAt,
      started_at: null,
      finished_at: null,
      group_id: d.groupId ?? null,
      group_held: held ? 1 : 0,
    }).returningAll().executeTakeFirstOrThrow();
    if (d.steps.length > 0) {
      await trx.insertInto('steps').values(d.steps.map((s, idx) => ({
        deployment_id: d.id, idx, type: s.type, title: s.title, params: JSON.stringify(s.params),
        status: 'pending', stage: 'deploy', started_at: null, finished_at: null, output: null, attempts: 0,
      }))).execute();
    }
    await this.appendToLog(trx, [{
      deploymentId: d.id, at: d.createdAt, type: 'deployment.created',
      data: {
        service: d.service, environment: d.environment, kind: d.kind, version: d.version, image: d.image, actor: d.actor, reason: d.reason, steps: d.steps.length,
        ...(d.expedited ? { expedited: true } : {}), ...(d.groupId ? { group: d.groupId } : {}),
      },
    }]);
    return toDeployment(row);
  }

  async createReleaseGroup(g: NewReleaseGroup, members: NewDeployment[]): Promise<ReleaseGroupRecord> {
    return this.driver.writeTransaction(async (trx) => {
      await this.driver.lockLog(trx);
      const existing = await trx.selectFrom('release_groups').select('id').where('id', '=', g.id).executeTakeFirst();
      if (existing) throw new GangwayError('conflict', `release ${g.id} already exists`, undefined, { group: g.id });
      const row = await trx.insertInto('release_groups').values({
        id: g.id, environment: g.environment, kind: g.kind, phase: 'queued', on_failure: g.onFailure, actor: g.actor, reason: g.reason,
        members: JSON.stringify(g.members), message: null, created_at: g.createdAt, started_at: null, finished_at: null,
      }).returningAll().executeTakeFirstOrThrow();
      await this.appendToLog(trx, [{
        deploymentId: null, at: g.createdAt, type: 'group.created',
        data: {
          group: g.id, environment: g.environment, kind: g.kind, onFailure: g.onFailure, actor: g.actor, reason: g.reason,
          versions: Object.fromEntries(g.members.map((m) => [m.service, m.version])),
        },
      }]);
      for (const d of members) await this.insertDeployment(trx, { ...d, groupId: g.id }, true);
      return toReleaseGroup(row);
    });
  }

  async getReleaseGroup(id: string): Promise<ReleaseGroupRecord | undefined> {
    const row = await this.driver.db.selectFrom('release_groups').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toReleaseGroup(row);
  }

  async listReleaseGroups(filter: { environment?: string; phases?: ReleaseGroupPhase[]; limit?: number } = {}): Promise<ReleaseGroupRecord[]> {
    if (filter.phases && filter.phases.length === 0) return [];
    let q = this.driver.db.selectFrom('release_groups').selectAll();
    if (filter.environment !== undefined) q = q.where('environment', '=', filter.environment);
    if (filter.phases) q = q.where('phase', 'in', filter.phases);
    q = q.orderBy('created_at', 'desc').orderBy('id', 'desc');
    if (filter.limit !== undefined) q = q.limit(filter.limit);
    return (await q.execute()).map(toReleaseGroup);
  }

  async updateReleaseGroup(id: string, from: ReleaseGroupPhase, patch: { phase: ReleaseGroupPhase; message?: string | null; startedAt?: number; finishedAt?: number }, events: NewEvent[]): Promise<boolean> {
    return this.driver.writeTransaction(async (trx) => {
      await this.driver.lockLog(trx);
      const set: Updateable<Database['release_groups']> = { phase: patch.phase };
      if (patch.message !== undefined) set.message = patch.message;
      if (patch.startedAt !== undefined) set.started_at = patch.startedAt;
      if (patch.finishedAt !== undefined) set.finished_at = patch.finishedAt;
      const res = await trx.updateTable('release_groups').set(set).where('id', '=', id).where('phase', '=', from).executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      if (events.length > 0) await this.appendToLog(trx, events);
      return true;
    });
  }

  async releaseGroupMember(deploymentId: string, events: NewEvent[]): Promise<boolean> {
    return this.driver.writeTransaction(async (trx) => {
      await this.driver.lockLog(trx);
      const res = await trx.updateTable('deployments').set({ group_held: 0 })
        .where('id', '=', deploymentId).where('group_held', '=', 1).where('phase', '=', 'queued').executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      if (events.length > 0) await this.appendToLog(trx, events);
      return true;
    });
  }

  async getAutoDeployState(service: string, environment: string): Promise<AutoDeployState | undefined> {
    const row = await this.driver.db.selectFrom('autodeploy_state').selectAll().where('service', '=', service).where('environment', '=', environment).executeTakeFirst();
    return row && toAutoDeployState(row);
  }

  async listAutoDeployStates(): Promise<AutoDeployState[]> {
    const rows = await this.driver.db.selectFrom('autodeploy_state').selectAll().orderBy('service').orderBy('environment').execute();
    return rows.map(toAutoDeployState);
  }

  async updateAutoDeployState(service: string, environment: string, patch: AutoDeployPatch, at: number, events: NewEvent[] = []): Promise<boolean> {
    return this.driver.writeTransaction(async (trx) => {
      await trx.insertInto('autodeploy_state').values({
        service, environment, last_tag: null, seen_tags: null, pending_tag: null, pending_reason: null, outage_since: null,
        paused_at: null, paused_by: null, paused_deployment: null, resumed_at: null, resumed_by: null, checked_event: 0, updated_at: at,
      }).onConflict((oc) => oc.columns(['service', 'environment']).doNothing()).execute();
      const set: Updateable<Database['autodeploy_state']> = { updated_at: at };
      const columns: Record<keyof AutoDeployPatch, keyof Database['autodeploy_state']> = {
        lastTag: 'last_tag', seenTags: 'seen_tags', pendingTag: 'pending_tag', pendingReason: 'pending_reason', outageSince: 'outage_since',
        pausedAt: 'paused_at', pausedBy: 'paused_by', pausedDeployment: 'paused_deployment', resumedAt: 'resumed_at', resumedBy: 'resumed_by',
        checkedEvent: 'checked_event',
      };
      for (const [key, value] of Object.entries(patch) as Array<[keyof AutoDeployPatch, unknown]>) {
        if (value === undefined) continue;
        (set as Record<string, unknown>)[columns[key]] = key === 'seenTags' ? (value === null ? null : JSON.stringify(value)) : value;
      }
      const result = await trx.updateTable('autodeploy_state').set(set)
        .where('service', '=', service).where('environment', '=', environment).executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      if (events.length > 0) await this.appendToLog(trx, events);
      return true;
    });
  }

  async getDeployment(id: string): Promise<DeploymentRecord | undefined> {
    const row = await this.driver.db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toDeployment(row);
  }

  /** An empty `phases` list matches nothing. */
  async listDeployments(filter: DeploymentFilter = {}): Promise<DeploymentRecord[]> {
    if (filter.phases && filter.phases.length === 0) return [];
    let q = this.driver.db.selectFrom('deployments').selectAll();
    if (filter.service !== undefined) q = q.where('service', '=', filter.service);
    if (filter.environment !== undefined) q = q.where('environment', '=', filter.environment);
    if (filter.phases) q = q.where('phase', 'in', filter.phases);
    if (filter.finishedSince !== undefined) q = q.where('finished_at', '>=', filter.finishedSince);
    if (filter.groupId !== undefined) q = q.where('group_id', '=', filter.groupId);
    q = q.orderBy('seq', filter.newestFirst ? 'desc' : 'asc');
    if (filter.limit !== undefined) q = q.limit(filter.limit);
    return (await q.execute()).map(toDeployment);
  }

  async getSteps(deploymentId: string): Promise<StepRecord[]> {
    const rows = await this.driver.db.selectFrom('steps').selectAll().where('deployment_id', '=', deploymentId).orderBy('idx').execute();
    return rows.map(toStep);
  }

  /**
   * Throws `NotFoundError` (and writes nothing) when the deployment or the patched step does
   * not exist, and a `GangwayError` with code `conflict` when the patch would make a second
   * deployment of the pair active.
   */
  async transition(t: Parameters<Store['transition']>[0]): Promise<boolean> {
    try {
      return await this.driver.writeTransaction(async (trx) => {
        let current = trx.selectFrom('deployments').select(['id', 'lease_owner']).where('id', '=', t.deploymentId);
        if (this.driver.rowLocks) current = current.forUpdate();
        const row = await current.executeTakeFirst();
        if (!row) throw new NotFoundError(`deployment ${t.deploymentId} not found`);
        if (t.expectLeaseOwner !== undefined && row.lease_owner !== t.expectLeaseOwner) return false;

        const cols = t.deployment ? deploymentPatchColumns(t.deployment) : {};
        if (Object.keys(cols).length > 0) {
          await trx.updateTable('deployments').set(cols).where('id', '=', t.deploymentId).execute();
        }
        if (t.step) {
          const stepCols = stepPatchColumns(t.step.patch);
          if (Object.keys(stepCols).length > 0) {
            const res = await trx.updateTable('steps').set(stepCols)
              .where('deployment_id', '=', t.deploymentId).where('idx', '=', t.step.idx).executeTakeFirst();
            if (Number(res.numUpdatedRows) !== 1) throw new NotFoundError(`step ${t.step.idx} of deployment ${t.deploymentId} not found`);
          } else {
            const exists = await trx.selectFrom('steps').select('idx')
              .where('deployment_id', '=', t.deploymentId).where('idx', '=', t.step.idx).executeTakeFirst();
            if (!exists) throw new NotFoundError(`step ${t.step.idx} of deployment ${t.deploymentId} not found`);
          }
        }
        if (t.replaceSteps) {
          const { fromIdx, steps } = t.replaceSteps;
          const started = await trx.selectFrom('steps').select('idx')
            .where('deployment_id', '=', t.deploymentId).where('idx', '>=', fromIdx).where('status', '!=', 'pending')
            .limit(1).executeTakeFirst();
          if (started) throw new GangwayError('conflict', `deployment ${t.deploymentId}: step ${started.idx} already started; its plan cannot be replaced`);
          await trx.deleteFrom('steps').where('deployment_id', '=', t.deploymentId).where('idx', '>=', fromIdx).execute();
          if (steps.length > 0) {
            await trx.insertInto('steps').values(steps.map((s, i) => ({
              deployment_id: t.deploymentId, idx: fromIdx + i, type: s.type, title: s.title, params: JSON.stringify(s.params),
              status: 'pending', stage: 'deploy', started_at: null, finished_at: null, output: null, attempts: 0,
            }))).execute();
          }
        }
        if (t.appendSteps && t.appendSteps.length > 0) {
          const { last } = await trx.selectFrom('steps')
            .select((eb) => eb.fn.coalesce(eb.fn.max('idx'), eb.lit(-1)).as('last'))
            .where('deployment_id', '=', t.deploymentId).executeTakeFirstOrThrow();
          const first = Number(last) + 1;
          await trx.insertInto('steps').values(t.appendSteps.map((s, i) => ({
            deployment_id: t.deploymentId, idx: first + i, type: s.type, title: s.title, params: JSON.stringify(s.params),
            status: 'pending', stage: s.stage, started_at: null, finished_at: null, output: null, attempts: 0,
          }))).execute();
        }
        if (t.serviceState) {
          const s = t.serviceState;
          const values = {
            stable_version: s.stableVersion, stable_image: s.stableImage, previous_version: s.previousVersion,
            deployment_id: s.deploymentId, updated_at: s.updatedAt,
          };
          await trx.insertInto('service_states').values({ service: s.service, environment: s.environment, ...values })
            .onConflict((oc) => oc.columns(['service', 'environment']).doUpdateSet(values)).execute();
        }
        if (t.rejection) {
          const r = t.rejection;
          await trx.insertInto('rejections').values({ service: r.service, environment: r.environment, version: r.version, deployment_id: r.deploymentId, at: r.at, reason: r.reason })
            .onConflict((oc) => oc.columns(['service', 'environment', 'version']).doNothing()).execute();
        }
        await this.appendToLog(trx, t.events);
        return true;
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new GangwayError('conflict', `deployment ${t.deploymentId}: another deployment of its service and environment is already active`,
          'wait for the active deployment to finish, or abort it', { deploymentId: t.deploymentId }, { cause: err });
      }
      throw err;
    }
  }

  async claimLease(id: string, owner: string, now: number, ttlMs: number, deadOwners: string[] = []): Promise<DeploymentRecord | undefined> {
    // One conditional UPDATE: the database evaluates the condition and writes atomically, so
    // of two concurrent claimers exactly one sees its row come back.
    return this.driver.writeTransaction(async (trx) => {
      const row = await trx.updateTable('deployments')
        .set({ lease_owner: owner, lease_expires_at: now + ttlMs })
        .where('id', '=', id)
        .where((eb) => eb.or([
          eb('lease_owner', 'is', null),
          eb('lease_expires_at', 'is', null),
          eb('lease_expires_at', '<', now),
          eb('lease_owner', '=', owner),
          ...(deadOwners.length > 0 ? [eb('lease_owner', 'in', deadOwners)] : []),
        ]))
        .returningAll()
        .executeTakeFirst();
      return row && toDeployment(row);
    });
  }

  async renewLease(id: string, owner: string, now: number, ttlMs: number): Promise<boolean> {
    return this.driver.writeTransaction(async (trx) => {
      const res = await trx.updateTable('deployments').set({ lease_expires_at: now + ttlMs })
        .where('id', '=', id).where('lease_owner', '=', owner).executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    });
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.driver.writeTransaction(async (trx) => {
      await trx.updateTable('deployments').set({ lease_owner: null, lease_expires_at: null })
        .where('id', '=', id).where('lease_owner', '=', owner).execute();
    });
  }

  async startNextQueued(service: string, environment: string, now: number): Promise<DeploymentRecord | undefined> {
    return this.driver.writeTransaction(async (trx) => {
      await this.driver.lockPair(trx, service, environment);
      const active = await trx.selectFrom('deployments').select('id')
        .where('service', '=', service).where('environment', '=', environment)
        .where('phase', 'in', [...ACTIVE_PHASES]).limit(1).executeTakeFirst();
      if (active) return undefined;
      const next = await trx.selectFrom('deployments').select('id')
        .where('service', '=', service).where('environment', '=', environment).where('phase', '=', 'queued')
        // A member its release group holds back waits for its dependencies; others may start meanwhile.
        .where('group_held', '=', 0)
        .orderBy('seq').limit(1).executeTakeFirst();
      if (!next) return undefined;
      // The phase condition guards against a concurrent abort of the queued deployment.
      const row = await trx.updateTable('deployments').set({ phase: 'running', started_at: now })
        .where('id', '=', next.id).where('phase', '=', 'queued').returningAll().executeTakeFirst();
      if (!row) return undefined;
      await this.appendToLog(trx, [{ deploymentId: row.id, at: now, type: 'deployment.phase', data: { from: 'queued', to: 'running' } }]);
      return toDeployment(row);
    });
  }

  async getServiceState(service: string, environment: string): Promise<ServiceState | undefined> {
    const row = await this.driver.db.selectFrom('service_states').selectAll()
      .where('service', '=', service).where('environment', '=', environment).executeTakeFirst();
    return row && toServiceState(row);
  }

  async listServiceStates(): Promise<ServiceState[]> {
    const rows = await this.driver.db.selectFrom('service_states').selectAll().orderBy('service').orderBy('environment').execute();
    return rows.map(toServiceState);
  }

  async appendEvents(events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.driver.writeTransaction((trx) => this.appendToLog(trx, events));
  }

  async appendVerdicts(verdicts: NewVerdict[]): Promise<void> {
    if (verdicts.length === 0) return;
    await this.driver.writeTransaction(async (trx) => {
      await trx.insertInto('verdicts').values(verdicts.map((v) => ({
        deployment_id: v.deploymentId, at: v.at, step_idx: v.stepIdx, template: v.template, rule: v.rule, kind: v.kind,
        verdict: v.verdict, reason: v.reason, measurements: JSON.stringify(v.measurements),
      }))).execute();
    });
  }

  async listVerdicts(filter: { deploymentId: string; afterId?: number; limit?: number; newestFirst?: boolean }): Promise<VerdictRecord[]> {
    let q = this.driver.db.selectFrom('verdicts').selectAll().where('deployment_id', '=', filter.deploymentId);
    if (filter.afterId !== undefined) q = q.where('id', '>', filter.afterId);
    q = q.orderBy('id', filter.newestFirst ? 'desc' : 'asc');
    if (filter.limit !== undefined) q = q.limit(filter.limit);
    return (await q.execute()).map((r) => ({
      id: Number(r.id), deploymentId: r.deployment_id, at: r.at, stepIdx: r.step_idx, template: r.template, rule: r.rule, kind: r.kind,
      verdict: r.verdict as VerdictRecord['verdict'], reason: r.reason, measurements: JSON.parse(r.measurements) as VerdictRecord['measurements'],
    }));
  }

  async appendReleaseSamples(samples: ReleaseSampleRecord[]): Promise<void> {
    if (samples.length === 0) return;
    await this.driver.writeTransaction(async (trx) => {
      await trx.insertInto('release_samples').values(samples.map((x) => ({
        deployment_id: x.deploymentId, at: x.at, version: x.version, interval_ms: x.intervalMs, requests: x.requests, errors: x.errors, p95: x.p95Seconds,
      }))).onConflict((oc) => oc.columns(['deployment_id', 'at', 'version']).doNothing()).execute();
    });
  }

  async listReleaseSamples(filter: { deploymentId: string; since?: number; limit?: number }): Promise<ReleaseSampleRecord[]> {
    let q = this.driver.db.selectFrom('release_samples').selectAll().where('deployment_id', '=', filter.deploymentId);
    if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
    q = q.orderBy('at').orderBy('version');
    if (filter.limit !== undefined) q = q.limit(filter.limit);
    return (await q.execute()).map((r) => ({
      deploymentId: r.deployment_id, at: Number(r.at), version: r.version, intervalMs: Number(r.interval_ms), requests: Number(r.requests), errors: Number(r.errors),
      p95Seconds: r.p95 === null ? null : Number(r.p95),
    }));
  }

  async listRejections(filter: { service?: string; environment?: string; version?: string } = {}): Promise<RejectionRecord[]> {
    let q = this.driver.db.selectFrom('rejections').selectAll();
    if (filter.service !== undefined) q = q.where('service', '=', filter.service);
    if (filter.environment !== undefined) q = q.where('environment', '=', filter.environment);
    if (filter.version !== undefined) q = q.where('version', '=', filter.version);
    return (await q.orderBy('at').execute()).map((r) => ({
      service: r.service, environment: r.environment, version: r.version, deploymentId: r.deployment_id, at: r.at, reason: r.reason,
    }));
  }

  async appendGateResults(results: NewGateResult[]): Promise<void> {
    if (results.length === 0) return;
    await this.driver.writeTransaction(async (trx) => {
      await trx.insertInto('gate_results').values(results.map((r) => ({
        deployment_id: r.deploymentId, service: r.service, environment: r.environment, version: r.version, at: r.at,
        gate: r.gate, result: r.result, reason: r.reason, until: r.until, evidence: JSON.stringify(r.evidence),
      }))).execute();
    });
  }

  async listGateResults(filter: { deploymentId?: string; service?: string; environment?: string; limit?: number }): Promise<GateResultRecord[]> {
    let q = this.driver.db.selectFrom('gate_results').selectAll();
    if (filter.deploymentId !== undefined) q = q.where('deployment_id', '=', filter.deploymentId);
    if (filter.service !== undefined) q = q.where('service', '=', filter.service);
    if (filter.environment !== undefined) q = q.where('environment', '=', filter.environment);
    q = q.orderBy('id');
    if (filter.limit !== undefined) q = q.limit(filter.limit);
    return (await q.execute()).map((r) => ({
      id: Number(r.id), deploymentId: r.deployment_id, service: r.service, environment: r.environment, version: r.version, at: r.at,
      gate: r.gate, result: r.result as GateResultRecord['result'], reason: r.reason, until: r.until, evidence: JSON.parse(r.evidence) as Record<string, unknown>,
    }));
  }

  async recordApproval(a: ApprovalRecord): Promise<void> {
    const values = { decision: a.decision, groups: JSON.stringify(a.groups), comment: a.comment, at: a.at };
    await this.driver.writeTransaction(async (trx) => {
      await trx.insertInto('approvals').values({ deployment_id: a.deploymentId, actor: a.actor, ...values })
        .onConflict((oc) => oc.columns(['deployment_id', 'actor']).doUpdateSet(values)).execute();
    });
  }

  async listApprovals(deploymentId: string): Promise<ApprovalRecord[]> {
    const rows = await this.driver.db.selectFrom('approvals').selectAll().where('deployment_id', '=', deploymentId).orderBy('at').orderBy('actor').execute();
    return rows.map((r) => ({ deploymentId: r.deployment_id, actor: r.actor, decision: r.decision as ApprovalRecord['decision'], groups: JSON.parse(r.groups) as string[], comment: r.comment, at: r.at }));
  }

  async createFreeze(f: FreezeRecord): Promise<boolean> {
    try {
      await this.driver.writeTransaction(async (trx) => {
        await trx.insertInto('freezes').values({
          id: f.id, environment: f.environment, service: f.service, owner: f.owner, reason: f.reason, source: f.source,
          alert_fingerprint: f.alertFingerprint, created_at: f.createdAt, lifted_at: f.liftedAt, lifted_by: f.liftedBy,
        }).execute();
      });
      return true;
    } catch (err) {
      // freezes_one_per_alert: another replica applied the same alert first.
      if (f.alertFingerprint !== null && isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async acquireNamedLease(name: string, owner: string, now: number, ttlMs: number, deadOwners: string[] = []): Promise<number | null> {
    return this.driver.writeTransaction(async (trx) => {
      await trx.insertInto('leases').values({ name, owner: null, expires_at: 0, fence: 0 }).onConflict((oc) => oc.column('name').doNothing()).execute();
      let q = trx.selectFrom('leases').selectAll().where('name', '=', name);
      if (this.driver.rowLocks) q = q.forUpdate();
      const row = await q.executeTakeFirstOrThrow();
      if (row.owner !== null && row.owner !== owner && row.expires_at >= now && !deadOwners.includes(row.owner)) return null;
      const fence = row.owner === owner && row.expires_at >= now ? row.fence : row.fence + 1;
      await trx.updateTable('leases').set({ owner, expires_at: now + ttlMs, fence }).where('name', '=', name).execute();
      return fence;
    });
  }

  async releaseNamedLease(name: string, owner: string): Promise<void> {
    await this.driver.writeTransaction(async (trx) => {
      await trx.updateTable('leases').set({ owner: null, expires_at: 0 }).where('name', '=', name).where('owner', '=', owner).execute();
    });
  }

  async getNamedLease(name: string): Promise<{ owner: string | null; expiresAt: number; fence: number } | undefined> {
    const row = await this.driver.db.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirst();
    return row && { owner: row.owner, expiresAt: row.expires_at, fence: row.fence };
  }

  async getCursor(name: string): Promise<number | undefined> {
    const row = await this.driver.db.selectFrom('cursors').select('position').where('name', '=', name).executeTakeFirst();
    return row?.position;
  }

  async setCursor(name: string, position: number, guard?: LeaseGuard): Promise<boolean> {
    return this.driver.writeTransaction(async (trx) => {
      if (guard) {
        // Fencing: a replica that lost the lease (paused, cut off) cannot move the cursor past work it no longer owns.
        let q = trx.selectFrom('leases').selectAll().where('name', '=', guard.lease);
        if (this.driver.rowLocks) q = q.forShare();
        const lease = await q.executeTakeFirst();
        if (!lease || lease.owner !== guard.owner || lease.fence !== guard.fence) return false;
      }
      await trx.insertInto('cursors').values({ name, position })
        .onConflict((oc) => oc.column('name').doUpdateSet({ position })).execute();
      return true;
    });
  }

  async registerReplica(r: ReplicaRecord): Promise<void> {
    const row = {
      id: r.id, url: r.url, version: r.version, config_hash: r.configHash, config_keys: JSON.stringify(r.configKeys),
      started_at: r.startedAt, heartbeat_at: r.heartbeatAt,
    };
    await this.driver.writeTransaction(async (trx) => {
      const { id: _id, ...rest } = row;
      await trx.insertInto('replicas').values(row).onConflict((oc) => oc.column('id').doUpdateSet(rest)).execute();
    });
  }

  async heartbeatReplica(id: string, now: number): Promise<boolean> {
    return this.driver.writeTransaction(async (trx) => {
      const res = await trx.updateTable('replicas').set({ heartbeat_at: now }).where('id', '=', id).executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    });
  }

  async listReplicas(): Promise<ReplicaRecord[]> {
    const rows = await this.driver.db.selectFrom('replicas').selectAll().orderBy('started_at').orderBy('id').execute();
    return rows.map((r) => ({
      id: r.id, url: r.url, version: r.version, configHash: r.config_hash, configKeys: JSON.parse(r.config_keys) as Record<string, string>,
      startedAt: r.started_at, heartbeatAt: r.heartbeat_at,
    }));
  }

  async removeReplica(id: string): Promise<void> {
    await this.driver.writeTransaction(async (trx) => { await trx.deleteFrom('replicas').where('id', '=', id).execute(); });
  }

  migrationStatus(): Promise<{ pending: string[]; unknown: string[] }> {
    return migrationStatus(this.driver.db, this.driver.dialect);
  }

  async getStoreMeta(key: string): Promise<string | undefined> {
    return (await this.driver.db.selectFrom('store_meta').select('value').where('key', '=', key).executeTakeFirst())?.value;
  }

  async setStoreMeta(key: string, value: string): Promise<void> {
    await this.driver.writeTransaction(async (trx) => {
      await trx.insertInto('store_meta').values({ key, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
    });
  }

  async liftFreeze(id: string, by: string, at: number): Promise<FreezeRecord | undefined> {
    return this.driver.writeTransaction(async (trx) => {
      await trx.updateTable('freezes').set({ lifted_at: at, lifted_by: by }).where('id', '=', id).where('lifted_at', 'is', null).execute();
      const row = await trx.selectFrom('freezes').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toFreeze(row);
    });
  }

  async listFreezes(filter: { all?: boolean; alertFingerprint?: string } = {}): Promise<FreezeRecord[]> {
    let q = this.driver.db.selectFrom('freezes').selectAll();
    if (!filter.all) q = q.where('lifted_at', 'is', null);
    if (filter.alertFingerprint !== undefined) q = q.where('alert_fingerprint', '=', filter.alertFingerprint);
    return (await q.orderBy('created_at').orderBy('id').execute()).map(toFreeze);
  }

  async confirmChecklist(c: ChecklistConfirmation): Promise<void> {
    const values = { actor: c.actor, at: c.at, note: c.note };
    await this.driver.writeTransaction(async (trx) => {
      await trx.insertInto('checklist_confirmations').values({ deployment_id: c.deploymentId, item: c.item, ...values })
        .onConflict((oc) => oc.columns(['deployment_id', 'item']).doUpdateSet(values)).execute();
    });
  }

  async listChecklist(deploymentId: string): Promise<ChecklistConfirmation[]> {
    const rows = await this.driver.db.selectFrom('checklist_confirmations').selectAll().where('deployment_id', '=', deploymentId).orderBy('at').orderBy('item').execute();
    return rows.map((r) => ({ deploymentId: r.deployment_id, item: r.item, actor: r.actor, at: r.at, note: r.note }));
  }

  async getAnalysisState(deploymentId: string, key: string): Promise<Record<string, unknown> | undefined> {
    const row = await this.driver.db.selectFrom('analysis_states').select('state')
      .where('deployment_id', '=', deploymentId).where('key', '=', key).executeTakeFirst();
    return row && JSON.parse(row.state) as Record<string, unknown>;
  }

  async setAnalysisState(deploymentId: string, key: string, state: Record<string, unknown>, now: number): Promise<void> {
    const text = JSON.stringify(state);
    await this.driver.writeTransaction(async (trx) => {
      await trx.insertInto('analysis_states').values({ deployment_id: deploymentId, key, state: text, updated_at: now })
        .onConflict((oc) => oc.columns(['deployment_id', 'key']).doUpdateSet({ state: text, updated_at: now })).execute();
    });
  }

  async createUser(u: UserRecord): Promise<void> {
    try {
      await this.driver.writeTransaction(async (trx) => {
        await trx.insertInto('users').values({ name: u.name, roles: JSON.stringify(u.roles), password_hash: u.passwordHash, created_at: u.createdAt }).execute();
      });
    } catch (err) {
      if (isDuplicate(err)) {
        throw new GangwayError('conflict', `user ${u.name} already exists`, `remove it first (gangway user remove ${u.name}), then add it again`, undefined, { cause: err });
      }
      throw err;
    }
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    const row = await this.driver.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toUser(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.driver.db.selectFrom('users').selectAll().orderBy('name').execute()).map(toUser);
  }

  async deleteUser(name: string, at: number): Promise<boolean> {
    return this.driver.writeTransaction(async (trx) => {
      const res = await trx.deleteFrom('users').where('name', '=', name).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) return false;
      await trx.updateTable('api_tokens').set({ revoked_at: at }).where('owner', '=', name).where('revoked_at', 'is', null).execute();
      await trx.deleteFrom('sessions').where('user_name', '=', name).execute();
      return true;
    });
  }

  async createApiToken(t: ApiTokenRecord): Promise<void> {
    try {
      await this.driver.writeTransaction(async (trx) => {
        await trx.insertInto('api_tokens').values({
          id: t.id, name: t.name, owner: t.owner, hash: t.hash, created_at: t.createdAt,
          last_used_at: t.lastUsedAt, expires_at: t.expiresAt, revoked_at: t.revokedAt,
        }).execute();
      });
    } catch (err) {
      if (isDuplicate(err)) throw new GangwayError('conflict', `token ${t.id} already exists`, undefined, undefined, { cause: err });
      throw err;
    }
  }

  async getApiTokenByHash(hash: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.driver.db.selectFrom('api_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
    return row && toApiToken(row);
  }

  async listApiTokens(filter: { owner?: string } = {}): Promise<ApiTokenRecord[]> {
    let q = this.driver.db.selectFrom('api_tokens').selectAll();
    if (filter.owner !== undefined) q = q.where('owner', '=', filter.owner);
    return (await q.orderBy('created_at').orderBy('id').execute()).map(toApiToken);
  }

  async revokeApiToken(id: string, at: number): Promise<ApiTokenRecord | undefined> {
    return this.driver.writeTransaction(async (trx) => {
      await trx.updateTable('api_tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
      await trx.deleteFrom('sessions').where('token_id', '=', id).execute();
      const row = await trx.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toApiToken(row);
    });
  }

  async touchApiToken(id: string, at: number): Promise<void> {
    await this.driver.writeTransaction(async (trx) => {
      await trx.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
    });
  }

  async createSession(session: SessionRecord): Promise<void> {
    await this.driver.writeTransaction(async (trx) => {
      await trx.insertInto('sessions').values({
        id_hash: session.idHash, user_name: session.userName, token_id: session.tokenId, created_at: session.createdAt, expires_at: session.expiresAt,
      }).execute();
    });
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    const row = await this.driver.db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
    return row && toSession(row);
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.driver.writeTransaction(async (trx) => {
      await trx.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
    });
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    return this.driver.writeTransaction(async (trx) => {
      const res = await trx.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst();
      return Number(res.numDeletedRows);
    });
  }

  /**
   * The one way events enter the log. Takes the event-log lock (again, when the caller holds
   * it already: a no-op on SQLite, a counted advisory lock on PostgreSQL), so the last event
   * read below is the last one committed and nobody else appends until this transaction
   * ends. Ids are computed here, as the last id + 1, rather than taken from the database:
   * the hash covers the id, and a sequence could leave gaps (rolled-back writes, PostgreSQL
   * restarts) that an auditor could not tell from deleted events.
   */
  private async appendToLog(trx: Kysely<Database>, events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.driver.lockLog(trx);
    const last = await trx.selectFrom('events').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst();
    let id = last ? Number(last.id) : 0;
    let prevHash = last?.hash ?? GENESIS_HASH;
    const rows = events.map((e) => {
      const data = JSON.stringify(e.data);
      id += 1;
      // Hash what a reader will get back (the stored text parsed), not the caller's object,
      // which may hold undefined members or toJSON values that do not survive the round trip.
      const hash = eventHash(prevHash, { id, deploymentId: e.deploymentId, at: e.at, type: e.type, data: JSON.parse(data) as Record<string, unknown> });
      const row = { id, deployment_id: e.deploymentId, at: e.at, type: e.type, data, prev_hash: prevHash, hash };
      prevHash = hash;
      return row;
    });
    await trx.insertInto('events').values(rows).execute();
  }

  /**
   * Three aggregate queries, each a scan of its table (deployments, steps, verdicts) that
   * returns one row per group; the step histogram's buckets are sums of CASE expressions, so
   * no step row leaves the database.
   */
  async metricsSummary(stepBoundsMs: readonly number[]): Promise<StoreMetricsSummary> {
    const db = this.driver.db;
    const deployments = await db.selectFrom('deployments')
      .select(['service', 'environment', 'phase', (eb) => eb.fn.countAll().as('n')])
      .groupBy(['service', 'environment', 'phase'])
      .orderBy('service').orderBy('environment').orderBy('phase')
      .execute();
    const duration = sql<number>`(finished_at - started_at)`;
    const steps = await db.selectFrom('steps')
      .select([
        'type',
        (eb) => eb.fn.countAll().as('n'),
        sql<number | string>`coalesce(sum(${duration}), 0)`.as('sum_ms'),
        ...stepBoundsMs.map((b, i) => sql<number | string>`sum(case when ${duration} <= ${sql.lit(Math.floor(b))} then 1 else 0 end)`.as(`le_${i}`)),
      ])
      .where('started_at', 'is not', null).where('finished_at', 'is not', null)
      .groupBy('type').orderBy('type')
      .execute();
    const verdicts = await db.selectFrom('verdicts')
      .select(['template', 'rule', 'verdict', (eb) => eb.fn.countAll().as('n')])
      .groupBy(['template', 'rule', 'verdict'])
      .orderBy('template').orderBy('rule').orderBy('verdict')
      .execute();
    return {
      // PostgreSQL returns count() and sum() of bigints as strings.
      deployments: deployments.map((r) => ({ service: r.service, environment: r.environment, phase: r.phase as DeploymentPhase, count: Number(r.n) })),
      steps: steps.map((r) => {
        const row = r as unknown as Record<string, number | string>;
        return { type: r.type, count: Number(r.n), sumMs: Number(r.sum_ms), atMost: stepBoundsMs.map((_, i) => Number(row[`le_${i}`])) };
      }),
      verdicts: verdicts.map((r) => ({ template: r.template, rule: r.rule, verdict: r.verdict as VerdictRecord['verdict'], count: Number(r.n) })),
    };
  }

  async listEvents(filter: EventFilter = {}): Promise<EventRecord[]> {
    // A member of the event's JSON data as text (null when absent), in this dialect.
    const member = (key: string) => (this.driver.dialect === 'sqlite'
      ? sql<string | null>`json_extract(events.data, ${`$.${key}`})`
      : sql<string | null>`(events.data::jsonb ->> ${key})`);
    let q = this.driver.db.selectFrom('events').leftJoin('deployments', 'deployments.id', 'events.deployment_id').selectAll('events');
    if (filter.deploymentId !== undefined) q = q.where('events.deployment_id', '=', filter.deploymentId);
    if (filter.afterId !== undefined) q = q.where('events.id', '>', filter.afterId);
    if (filter.beforeId !== undefined) q = q.where('events.id', '<', filter.beforeId);
    if (filter.since !== undefined) q = q.where('events.at', '>=', filter.since);
    if (filter.until !== undefined) q = q.where('events.at', '<=', filter.until);
    const types = filter.types ?? [];
    if (types.length > 0) {
      q = q.where((eb) => eb.or(types.map((t) => (t.endsWith('.*')
        ? eb(sql<string>`substr(events.type, 1, ${t.length - 1})`, '=', t.slice(0, -1))
        : eb('events.type', '=', t)))));
    }
    for (const key of ['service', 'environment'] as const) {
      const value = filter[key];
      if (value === undefined) continue;
      q = q.where((eb) => eb.or([eb(`deployments.${key}`, '=', value), eb.and([eb('events.deployment_id', 'is', null), eb(member(key), '=', value)])]));
    }
    if (filter.actor !== undefined) {
      const actor = filter.actor;
      q = q.where((eb) => eb(eb.fn.coalesce(member('actor'), member('by'), member('user'), eb.ref('deployments.actor')), '=', actor));
    }
    q = q.orderBy('events.id', filter.newestFirst ? 'desc' : 'asc');
    if (filter.limit !== undefined) q = q.limit(filter.limit);
    return (await q.execute()).map(toEvent);
  }
}
