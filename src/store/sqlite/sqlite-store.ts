/**
 * The SQLite adapter of the store: better-sqlite3 in WAL mode behind Kysely.
 *
 * Atomicity across processes comes from SQLite's write lock: every write runs in a
 * `BEGIN IMMEDIATE` transaction, which takes the lock before its first read, and a busy
 * timeout makes a second writer wait for it instead of failing. better-sqlite3 waits by
 * blocking the thread, so two connections of one process must never wait on each other (the
 * holder could not run until the waiter gave up): writers of one database file in this
 * process therefore queue on an in-process mutex first.
 */
import { mkdirSync, realpathSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { GangwayError } from '../../errors.js';
import { KyselyStore } from '../kysely-store.js';
import type { StoreDriver } from '../kysely-store.js';
import { migrateToLatest } from '../migrations.js';
import type { Database } from '../schema.js';

/** Options of `openSqliteStore`. */
export interface SqliteStoreOptions {
  /** How long a writer waits for another process's write lock before failing. Default 5000 ms. */
  busyTimeoutMs?: number;
}

/** Serialises async critical sections in call order. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(() => undefined, () => undefined);
    return result;
  }
}

/** One mutex per database file, shared by every store of this process that has it open. */
const fileMutexes = new Map<string, { mutex: Mutex; users: number }>();

/**
 * The error a write fails with when the disk of the database file is full: SQLite's own
 * SQLITE_FULL (ENOSPC while writing the database or its WAL), a WAL index it could not grow, or
 * any other I/O error while the file system has no block left. The transaction was rolled
 * back, so the store is as it was; the message says so and how to fix it. Other errors are
 * returned as they are.
 */
export function diskFullError(err: unknown, path: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return err;
  let full = code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_SHMSIZE';
  if (!full && code.startsWith('SQLITE_IOERR') && !isMemory(path)) {
    try {
      full = statfsSync(dirname(resolve(path))).bavail === 0;
    } catch { /* cannot tell: report the error as it is */ }
  }
  if (!full) return err;
  const file = resolve(path);
  return new GangwayError('internal',
    `cannot write the store ${file}: disk full (${code}, ENOSPC); nothing was written, the store is as it was before this change`,
    `free space on the disk of ${dirname(file)} (or move store.sqlite.path to a larger one), then try again`,
    { reason: 'disk_full', sqliteCode: code }, { cause: err });
}

function isMemory(path: string): boolean {
  return path === ':memory:' || path === '';
}

class SqliteStoreDriver implements StoreDriver {
  readonly dialect = 'sqlite' as const;
  readonly rowLocks = false;
  readonly db: Kysely<Database>;
  readonly #raw: BetterSqlite3.Database;
  readonly #mutex: Mutex;
  readonly #mutexKey: string | undefined;
  readonly #path: string;
  #closed = false;

  constructor(path: string, options: SqliteStoreOptions) {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.#path = path;
    if (!isMemory(path)) mkdirSync(dirname(resolve(path)), { recursive: true });
    this.#raw = new BetterSqlite3(path, { timeout: busyTimeoutMs });
    try {
      this.#raw.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
      this.#raw.pragma('journal_mode = WAL');
      this.#raw.pragma('foreign_keys = ON');
    } catch (err) {
      this.#raw.close();
      throw err;
    }
    if (isMemory(path)) {
      this.#mutex = new Mutex();
    } else {
      this.#mutexKey = realpathSync(path);
      let entry = fileMutexes.get(this.#mutexKey);
      if (!entry) fileMutexes.set(this.#mutexKey, entry = { mutex: new Mutex(), users: 0 });
      entry.users++;
      this.#mutex = entry.mutex;
    }
    this.db = new Kysely<Database>({ dialect: new SqliteDialect({ database: this.#raw }) });
  }

  writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.#mutex.run(() => this.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const result = await fn(conn);
        await sql`commit`.execute(conn);
        return result;
      } catch (err) {
        // Some errors (e.g. SQLITE_FULL) already ended the transaction.
        if (this.#raw.inTransaction) await sql`rollback`.execute(conn);
        throw diskFullError(err, this.#path);
      }
    }));
  }

  // A BEGIN IMMEDIATE transaction already excludes every other writer.
  async lockPair(): Promise<void> {}
  async lockLog(): Promise<void> {}

  migrate(): Promise<void> {
    // Kysely's migrator takes no lock on SQLite and runs without a transaction there; one
    // IMMEDIATE transaction around it makes the whole run atomic and exclusive across processes.
    return this.#mutex.run(() => this.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        await migrateToLatest(conn, 'sqlite');
        await sql`commit`.execute(conn);
      } catch (err) {
        if (this.#raw.inTransaction) await sql`rollback`.execute(conn);
        throw diskFullError(err, this.#path);
      }
    }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Let queued writes finish before the connection goes.
    await this.#mutex.run(async () => undefined);
    await this.db.destroy();
    if (this.#mutexKey !== undefined) {
      const entry = fileMutexes.get(this.#mutexKey);
      if (entry && --entry.users === 0) fileMutexes.delete(this.#mutexKey);
    }
  }
}

/**
 * Opens (creating it and its folder if missing) the SQLite database at `path`, or a private
 * in-memory database for `:memory:`. The store is not migrated yet: call `migrate()` (or use
 * `openStore`, which does).
 *
 * @example
 * ```ts
 * const store = openSqliteStore('.gangway/state.db');
 * await store.migrate();
 * ```
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): KyselyStore {
  return new KyselyStore(new SqliteStoreDriver(path, options));
}
