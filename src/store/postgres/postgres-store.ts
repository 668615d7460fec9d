/**
 * The PostgreSQL adapter of the store: a pg pool behind Kysely, for several orchestrator
 * replicas sharing one database.
 *
 * Transactions are READ COMMITTED. Read-then-write operations are made atomic with locks held
 * until commit: the deployment row (`SELECT ... FOR UPDATE`) for transitions, a transaction
 * advisory lock per (service, environment) for `startNextQueued`, and one advisory lock
 * around event appends so ids become visible in increasing order. Lock order is always row or
 * pair lock first, event-log lock last, so these transactions cannot deadlock.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { CustomTypesConfig } from 'pg';
import { KyselyStore } from '../kysely-store.js';
import type { StoreDriver } from '../kysely-store.js';
import { migrateToLatest } from '../migrations.js';
import type { Database } from '../schema.js';

/** Options of `openPostgresStore`. */
export interface PostgresStoreOptions {
  /** Most connections the pool opens. Default 10. */
  maxConnections?: number;
}

/** First key of Gangway's two-key advisory locks ("gw" + 1); the second key says what is locked. */
const LOCK_NAMESPACE = 0x67770001;
/** Second key of the event-log lock. Pair locks use hashtext(), which may collide with it only harmlessly (extra waiting). */
const EVENT_LOG_KEY = 0;
const INT8_OID = 20;

/**
 * Reads int8 (bigint) as a JS number for this pool only: every int8 the store keeps (epoch
 * ms, seq, event ids) fits in 2^53, and a value that did not would be a bug worth an error
 * rather than a silently rounded number.
 */
const storeTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID && format !== 'binary') {
      return (value: string) => {
        const n = Number(value);
        if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} does not fit a JavaScript number`);
        return n;
      };
    }
    return format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format);
  }) as CustomTypesConfig['getTypeParser'],
};

class PostgresStoreDriver implements StoreDriver {
  readonly dialect = 'postgres' as const;
  readonly rowLocks = true;
  readonly db: Kysely<Database>;

  constructor(url: string, options: PostgresStoreOptions) {
    // A connection attempt that hangs (a partitioned network) fails after 10 s instead of
    // never: the runner then sees the store unreachable and lets its leases go.
    const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10, types: storeTypes, connectionTimeoutMillis: 10_000, keepAlive: true });
    // An idle connection that dies (server restart, network) is replaced on the next query;
    // without a listener the pool's 'error' event would crash the process.
    pool.on('error', () => undefined);
    // The pool listens for errors only on idle connections: one that dies while checked out
    // between two queries (the server restarting during a transaction) would emit 'error' with
    // no listener and end the process. Its queries fail instead, and the pool drops it on release.
    pool.on('connect', (client) => { client.on('error', () => undefined); });
    this.db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }

  writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  async lockPair(trx: Kysely<Database>, service: string, environment: string): Promise<void> {
    await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NAMESPACE)}, hashtext(${JSON.stringify([service, environment])}))`.execute(trx);
  }

  async lockLog(trx: Kysely<Database>): Promise<void> {
    await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NAMESPACE)}, ${sql.lit(EVENT_LOG_KEY)})`.execute(trx);
  }

  migrate(): Promise<void> {
    return migrateToLatest(this.db, 'postgres');
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/**
 * Connects to the PostgreSQL database at `url` (`postgres://user:pass@host:port/db`). The
 * pool connects lazily; the store is not migrated yet: call `migrate()` (or use `openStore`).
 *
 * @example
 * ```ts
 * const store = openPostgresStore('postgres://gangway:secret@db:5432/gangway');
 * await store.migrate();
 * ```
 */
export function openPostgresStore(url: string, options: PostgresStoreOptions = {}): KyselyStore {
  return new KyselyStore(new PostgresStoreDriver(url, options));
}
