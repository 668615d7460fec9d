/**
 * The store's one migration set, shared by SQLite and PostgreSQL. Migrations are code (not
 * files) so they ship inside the build; a migration never changes once released — add a new
 * one instead. The few column types that differ between the dialects are chosen from the
 * dialect handed to the provider.
 */
import { Migrator, sql } from 'kysely';
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { GangwayError } from '../errors.js';
import { GENESIS_HASH, eventHash } from './event-chain.js';
import { GANGWAY_VERSION } from '../version.js';

/** The SQL dialects the store runs on. */
export type StoreDialect = 'sqlite' | 'postgres';

function initial(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createTable('deployments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull().unique())
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('image', 'text')
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('previous_version', 'text')
        .addColumn('current_step', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('plan_hash', 'text', (c) => c.notNull())
        // SQLite has no boolean type (the column gets numeric affinity and holds 0/1).
        .addColumn('abort_requested', 'boolean', (c) => c.notNull().defaultTo(sql.raw(dialect === 'sqlite' ? '0' : 'false')))
        .addColumn('message', 'text')
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .execute();
      await db.schema.createIndex('deployments_pair_seq').on('deployments').columns(['service', 'environment', 'seq']).execute();
      await db.schema.createIndex('deployments_phase').on('deployments').column('phase').execute();
      // The database itself refuses a second active deployment of one (service, environment),
      // whatever code path tries it. The list is ACTIVE_PHASES as of this migration.
      await sql`create unique index deployments_one_active on deployments (service, environment)
        where phase in ('waiting', 'running', 'paused', 'rolling_back')`.execute(db);

      await db.schema.createTable('steps')
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('stage', 'text', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addColumn('output', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('steps_pk', ['deployment_id', 'idx'])
        .execute();

      let events = db.schema.createTable('events');
      // AUTOINCREMENT: SQLite never reuses an id, so `afterId` readers never miss an event.
      events = dialect === 'sqlite'
        ? events.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        : events.addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity());
      await events
        .addColumn('deployment_id', 'text', (c) => c.references('deployments.id').onDelete('cascade'))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_deployment').on('events').columns(['deployment_id', 'id']).execute();

      await db.schema.createTable('service_states')
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('stable_version', 'text')
        .addColumn('stable_image', 'text')
        .addColumn('previous_version', 'text')
        .addColumn('deployment_id', 'text')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('service_states_pk', ['service', 'environment'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['service_states', 'events', 'steps', 'deployments']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}

/** Canary releases: promote requests, analysis verdicts, rejected releases, analysis memory. */
function canary(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('deployments')
        .addColumn('promote_requested', 'boolean', (c) => c.notNull().defaultTo(sql.raw(dialect === 'sqlite' ? '0' : 'false')))
        .execute();
      let verdicts = db.schema.createTable('verdicts');
      verdicts = dialect === 'sqlite'
        ? verdicts.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        : verdicts.addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity());
      await verdicts
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('step_idx', 'integer')
        .addColumn('template', 'text', (c) => c.notNull())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('verdict', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('measurements', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('verdicts_deployment').on('verdicts').columns(['deployment_id', 'id']).execute();
      await db.schema.createTable('rejections')
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('deployment_id', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('rejections_pk', ['service', 'environment', 'version'])
        .execute();
      await db.schema.createTable('analysis_states')
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('analysis_states_pk', ['deployment_id', 'key'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['analysis_states', 'rejections', 'verdicts']) await db.schema.dropTable(table).execute();
      await db.schema.alterTable('deployments').dropColumn('promote_requested').execute();
    },
  };
}

/** Gates: results with evidence, approvals, freezes, checklist confirmations; expedited and pinned images. */
function gates(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('deployments')
        .addColumn('expedited', 'boolean', (c) => c.notNull().defaultTo(sql.raw(dialect === 'sqlite' ? '0' : 'false')))
        .execute();
      await db.schema.alterTable('deployments').addColumn('requested_image', 'text').execute();
      let results = db.schema.createTable('gate_results');
      results = dialect === 'sqlite'
        ? results.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        : results.addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity());
      await results
        .addColumn('deployment_id', 'text', (c) => c.references('deployments.id').onDelete('cascade'))
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('gate', 'text', (c) => c.notNull())
        .addColumn('result', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('until', 'bigint')
        .addColumn('evidence', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('gate_results_deployment').on('gate_results').columns(['deployment_id', 'id']).execute();
      await db.schema.createTable('approvals')
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('decision', 'text', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull())
        .addColumn('comment', 'text')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('approvals_pk', ['deployment_id', 'actor'])
        .execute();
      await db.schema.createTable('freezes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('environment', 'text')
        .addColumn('service', 'text')
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('alert_fingerprint', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('lifted_at', 'bigint')
        .addColumn('lifted_by', 'text')
        .execute();
      await db.schema.createTable('checklist_confirmations')
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('item', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('note', 'text')
        .addPrimaryKeyConstraint('checklist_pk', ['deployment_id', 'item'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['checklist_confirmations', 'freezes', 'approvals', 'gate_results']) await db.schema.dropTable(table).execute();
      await db.schema.alterTable('deployments').dropColumn('requested_image').execute();
      await db.schema.alterTable('deployments').dropColumn('expedited').execute();
    },
  };
}

/** Events are read and hashed this many at a time by the backfill of migration 0004. */
const BACKFILL_PAGE = 1000;

/**
 * The tamper-evident event log: `hash` and `prev_hash` on every event (see ./event-chain.ts).
 * Events written before it are hashed here, in id order, as if the chain had always existed.
 * On PostgreSQL the identity default of `events.id` goes: the store assigns ids itself (last
 * id + 1 under the event-log lock), because a sequence skips values when a transaction rolls
 * back or the server restarts after a crash, and a gap must mean something to an auditor. A
 * write that forgot the id then fails loudly instead of taking a sequence value that would
 * collide later. (SQLite's AUTOINCREMENT accepts the explicit ids as they are.)
 */
function audit(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('events').addColumn('hash', 'text').execute();
      await db.schema.alterTable('events').addColumn('prev_hash', 'text').execute();
      if (dialect === 'postgres') await sql`alter table events alter column id drop identity if exists`.execute(db);

      let prevHash = GENESIS_HASH;
      let afterId = 0;
      for (;;) {
        const { rows } = await sql<{ id: number | string; deployment_id: string | null; at: number | string; type: string; data: string }>`
          select id, deployment_id, at, type, data from events where id > ${afterId} order by id limit ${BACKFILL_PAGE}`.execute(db);
        for (const r of rows) {
          const id = Number(r.id);
          const hash = eventHash(prevHash, { id, deploymentId: r.deployment_id, at: Number(r.at), type: r.type, data: JSON.parse(r.data) as Record<string, unknown> });
          await sql`update events set prev_hash = ${prevHash}, hash = ${hash} where id = ${id}`.execute(db);
          prevHash = hash;
          afterId = id;
        }
        if (rows.length < BACKFILL_PAGE) break;
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect === 'postgres') {
        await sql`alter table events alter column id add generated by default as identity`.execute(db);
        await sql`select setval(pg_get_serial_sequence('events', 'id'), coalesce((select max(id) from events), 0) + 1, false)`.execute(db);
      }
      await db.schema.alterTable('events').dropColumn('prev_hash').execute();
      await db.schema.alterTable('events').dropColumn('hash').execute();
    },
  };
}

/**
 * The commit time of a release (`DeployRequest.commitTime`), for the lead time of DORA
 * metrics. Nullable: deployments requested without it, and every one before it, have none.
 */
function commitTime(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('deployments').addColumn('commit_time', 'bigint').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('deployments').dropColumn('commit_time').execute();
    },
  };
}

/**
 * `superseded` deployments name the deployment that cut their post-deploy watch short.
 * Nullable: no other phase has one.
 */
function supersededBy(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('deployments').addColumn('superseded_by', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('deployments').dropColumn('superseded_by').execute();
    },
  };
}

/**
 * Per-release request samples of a deployment (one row per release per sampling interval
 * while it is active): the measurements the rollout page draws after the fact. `at` ends the
 * interval of `interval_ms`; `p95` is in seconds, null for an interval without requests.
 */
function releaseSamples(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createTable('release_samples')
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('interval_ms', 'integer', (c) => c.notNull())
        .addColumn('requests', 'integer', (c) => c.notNull())
        .addColumn('errors', 'integer', (c) => c.notNull())
        .addColumn('p95', 'double precision')
        .addPrimaryKeyConstraint('release_samples_pk', ['deployment_id', 'at', 'version'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('release_samples').execute();
    },
  };
}

/**
 * Users, API tokens and dashboard sessions. Secrets are never stored: a password as its
 * scrypt hash, a token and a session id as their sha256 (see src/auth/).
 */
function auth(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createTable('users')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('roles', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('api_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createTable('sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('token_id', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sessions_user').on('sessions').column('user_name').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['sessions', 'api_tokens', 'users']) await db.schema.dropTable(table).execute();
    },
  };
}

/**
 * Several orchestrators on one store: named leases with a fencing counter (the leader of the
 * background work), cursors of the log followers kept in the store instead of a replica's own
 * folder, the replicas' registrations (config hash, version, heartbeat), what migrated the
 * store last, and one active incident freeze per alert fingerprint enforced by the database.
 */
function replicas(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('fence', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('cursors')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('replicas')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('config_hash', 'text', (c) => c.notNull())
        .addColumn('config_keys', 'text', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('store_meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      // Two deliveries of one alert to two replicas raced to two freezes; keep the oldest active one.
      await sql`update freezes set lifted_at = created_at, lifted_by = 'gangway/migration'
        where alert_fingerprint is not null and lifted_at is null
          and exists (select 1 from freezes f2 where f2.alert_fingerprint = freezes.alert_fingerprint and f2.lifted_at is null
            and (f2.created_at < freezes.created_at or (f2.created_at = freezes.created_at and f2.id < freezes.id)))`.execute(db);
      await sql`create unique index freezes_one_per_alert on freezes (alert_fingerprint)
        where alert_fingerprint is not null and lifted_at is null`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`drop index freezes_one_per_alert`.execute(db);
      for (const table of ['store_meta', 'replicas', 'cursors', 'leases']) await db.schema.dropTable(table).execute();
    },
  };
}

/** Auto-deploy's memory per (service, environment): last tag, held-back tag, registry outage, pause after a rollback. */
function autodeploy(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createTable('autodeploy_state')
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('last_tag', 'text')
        .addColumn('seen_tags', 'text')
        .addColumn('pending_tag', 'text')
        .addColumn('pending_reason', 'text')
        .addColumn('outage_since', 'bigint')
        .addColumn('paused_at', 'bigint')
        .addColumn('paused_by', 'text')
        .addColumn('paused_deployment', 'text')
        .addColumn('resumed_at', 'bigint')
        .addColumn('resumed_by', 'text')
        .addColumn('checked_event', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('autodeploy_state_pk', ['service', 'environment'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('autodeploy_state').execute();
    },
  };
}

/**
 * Release groups (stored multi-service releases): one row per group, and on `deployments` the
 * group a member belongs to and whether the group still holds it back (its dependencies have
 * not succeeded yet: the runner does not start a held deployment).
 */
function releaseGroups(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createTable('release_groups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('on_failure', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('members', 'text', (c) => c.notNull())
        .addColumn('message', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .execute();
      await db.schema.createIndex('release_groups_environment').on('release_groups').columns(['environment', 'created_at']).execute();
      await db.schema.alterTable('deployments').addColumn('group_id', 'text').execute();
      await db.schema.alterTable('deployments').addColumn('group_held', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.createIndex('deployments_group').on('deployments').column('group_id').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('deployments_group').execute();
      await db.schema.alterTable('deployments').dropColumn('group_held').execute();
      await db.schema.alterTable('deployments').dropColumn('group_id').execute();
      await db.schema.dropTable('release_groups').execute();
    },
  };
}

/**
 * Provides the store's migrations, in order, to Kysely's `Migrator`.
 *
 * @example
 * ```ts
 * new Migrator({ db, provider: new StoreMigrationProvider('sqlite') });
 * ```
 */
export class StoreMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: StoreDialect) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '0001_initial': initial(this.dialect), '0002_canary': canary(this.dialect), '0003_gates': gates(this.dialect),
      '0004_audit': audit(this.dialect),
      '0005_auth': auth(),
      '0006_commit_time': commitTime(),
      '0007_superseded_by': supersededBy(),
      '0008_release_samples': releaseSamples(),
      '0009_replicas': replicas(),
      '0010_autodeploy': autodeploy(),
      '0011_release_groups': releaseGroups(),
    };
  }
}

/**
 * Applies every pending migration. Idempotent. On PostgreSQL Kysely's migrator holds an
 * advisory lock while it runs, so concurrent callers apply each migration once; on SQLite the
 * caller provides the exclusion (see `openSqliteStore`). Throws a `GangwayError` (code
 * `internal`) naming the failed migration.
 *
 * @example
 * ```ts
 * await migrateToLatest(db, 'postgres');
 * ```
 */
export async function migrateToLatest<DB>(db: Kysely<DB>, dialect: StoreDialect): Promise<void> {
  const provider = new StoreMigrationProvider(dialect);
  await refuseNewerStore(db, Object.keys(await provider.getMigrations()));
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    const detail = error instanceof Error ? error.message : String(error);
    throw new GangwayError('internal',
      `store migration ${failed ?? '(setup)'} failed on ${dialect}: ${detail}`,
      'check that the database is reachable and that no older Gangway is writing to it',
      { dialect, migration: failed }, { cause: error });
  }
  // Read by an older Gangway that finds this store migrated past what it knows.
  await sql`insert into store_meta (key, value) values ('migrated_by', ${GANGWAY_VERSION})
    on conflict (key) do update set value = excluded.value`.execute(db);
}

/**
 * A store migrated by a newer Gangway has migrations this one does not know: running on it
 * would write rows in shapes the newer one does not expect. Refused before anything is
 * written, naming both versions.
 */
async function refuseNewerStore<DB>(db: Kysely<DB>, known: string[]): Promise<void> {
  let applied: string[];
  try {
    applied = await appliedMigrations(db);
  } catch {
    return; // a new store: Kysely's table does not exist yet
  }
  const unknown = applied.filter((name) => !known.includes(name)).sort();
  if (unknown.length === 0) return;
  let newer: string | null = null;
  try {
    newer = (await sql<{ value: string }>`select value from store_meta where key = 'migrated_by'`.execute(db)).rows[0]?.value ?? null;
  } catch { /* no store_meta: migrated by a version that did not record itself */ }
  const by = newer === null ? 'a newer Gangway' : `Gangway ${newer}`;
  throw new GangwayError('conflict',
    `the store was migrated by ${by} (migration ${unknown[unknown.length - 1]}); this is Gangway ${GANGWAY_VERSION}, which knows migrations up to ${known[known.length - 1]}`,
    `upgrade this Gangway to ${newer ?? 'the version that migrated the store'} or later: every replica on one store runs the same version`,
    { applied: unknown, version: GANGWAY_VERSION });
}

async function appliedMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  return (await sql<{ name: string }>`select name from kysely_migration`.execute(db)).rows.map((r) => r.name);
}

/**
 * Where the store stands against this Gangway's migrations: those not applied yet and those
 * applied by a newer Gangway. Throws when the database cannot be read (for `/readyz`).
 */
export async function migrationStatus<DB>(db: Kysely<DB>, dialect: StoreDialect): Promise<{ pending: string[]; unknown: string[] }> {
  const known = Object.keys(await new StoreMigrationProvider(dialect).getMigrations());
  let applied: string[] = [];
  try {
    applied = await appliedMigrations(db);
  } catch (err) {
    // A database that answers but has no migration table has every migration pending.
    await sql`select 1`.execute(db);
    if (!/kysely_migration/.test(err instanceof Error ? err.message : String(err))) throw err;
  }
  return { pending: known.filter((n) => !applied.includes(n)), unknown: applied.filter((n) => !known.includes(n)) };
}
