/**
 * PostgreSQL for migration steps: a custom-format backup with `pg_dump`, an exact restore of
 * it with `pg_restore` and `psql`, and validation queries run through the `pg` package (no
 * `psql` needed for those).
 *
 * Passwords: a connection URL may carry one. It is taken out of the URL and handed to the
 * client programs in `PGPASSWORD`, so it never appears in an argv (visible to every user of
 * the machine through `ps`) nor in anything recorded. `redactSecrets` removes it from text
 * that is recorded anyway (a program's output, an error message).
 *
 * Commands run without a shell (argv), through `runCommand`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { runCommand } from '../core/command.js';

/** A URL split into what may be shown and what must not be. */
export interface PgConnection {
  /** The URL without its password (safe in argv and records). */
  url: string;
  /** The password, decoded, or null when the URL has none. */
  password: string | null;
}

/**
 * Splits the password (user-info part or `password=` query parameter) out of a
 * `postgres://` / `postgresql://` URL.
 *
 * @example
 * splitPassword('postgres://app:s3cret@db:5432/shop');
 * // { url: 'postgres://app@db:5432/shop', password: 's3cret' }
 * @returns null when `url` is not a PostgreSQL URL
 */
export function splitPassword(url: string): PgConnection | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return null;
  let password: string | null = u.password ? decodeURIComponent(u.password) : null;
  const fromQuery = u.searchParams.get('password');
  if (fromQuery !== null) {
    password ??= fromQuery;
    u.searchParams.delete('password');
  }
  u.password = '';
  return { url: u.toString(), password };
}

/** The environment that gives a client program the password of `conn` (nothing when it has none). */
export function passwordEnv(conn: PgConnection): Record<string, string> {
  return conn.password === null ? {} : { PGPASSWORD: conn.password };
}

/**
 * The secrets a text might contain for these URLs: each password as written in the URL
 * (percent-encoded) and decoded.
 */
export function urlSecrets(urls: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const url of urls) {
    let u: URL;
    try { u = new URL(url); } catch { continue; }
    if (u.password) { out.add(u.password); out.add(decodeURIComponent(u.password)); }
    const q = u.searchParams.get('password');
    if (q) { out.add(q); out.add(encodeURIComponent(q)); }
  }
  return [...out].filter((s) => s.length > 0);
}

/**
 * Replaces every occurrence of each secret with `***`, and the password part of any
 * `scheme://user:password@` in the text (a program may print a URL it was given).
 *
 * @example
 * redactSecrets('failed for postgres://app:s3cret@db/shop', ['s3cret']); // 'failed for postgres://app:***@db/shop'
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so a secret containing another is replaced whole.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+@/gi, '$1***@');
}

/**
 * argv of a custom-format `pg_dump` of `conn` into `file` (the password goes in
 * `passwordEnv(conn)`).
 *
 * @example
 * pgDumpArgv({ url: 'postgres://app@db/shop', password: 'x' }, '/backups/shop.dump');
 * // ['pg_dump', '--format=custom', '--file=/backups/shop.dump', 'postgres://app@db/shop']
 */
export function pgDumpArgv(conn: PgConnection, file: string): string[] {
  return ['pg_dump', '--format=custom', `--file=${file}`, conn.url];
}

/**
 * SQL run before the archive, in the same transaction: drops every schema of the database
 * (except PostgreSQL's own) with everything in it, so objects the migration created — a new
 * table, a new type, a foreign key into a restored table — cannot survive or block the
 * restore, and recreates `public` as PostgreSQL 15+ creates it (owned by
 * `pg_database_owner`, usable by everyone). `pg_dump` records `public` only where it differs
 * from that default, so the archive then brings it back exactly.
 */
export const RESTORE_PRELUDE = `DO $gangway$
DECLARE s name; had_public boolean;
BEGIN
  SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') INTO had_public;
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
  IF had_public THEN
    CREATE SCHEMA public;
    IF current_setting('server_version_num')::int >= 150000 THEN
      ALTER SCHEMA public OWNER TO pg_database_owner;
      GRANT USAGE ON SCHEMA public TO PUBLIC;
    ELSE
      GRANT ALL ON SCHEMA public TO PUBLIC;
    END IF;
  END IF;
END
$gangway$;
`;

/** What a restore did. */
export interface RestoreResult {
  ok: boolean;
  /** Why it failed ("exit code 3: …"), or "exit 0". */
  detail: string;
  /** The argv of each program run, in order (no password in them). */
  commands: string[][];
  /** Exit code of the program that failed (or of the last one), null when it did not exit by itself. */
  exitCode: number | null;
  /** Combined output of the programs. */
  output: string;
}

/**
 * Restores `file` (a custom-format `pg_dump` archive) into the database at `conn`, exactly:
 * `pg_restore --clean --if-exists --no-owner` turns the archive into SQL, and `psql` runs
 * {@link RESTORE_PRELUDE} and that SQL as one transaction (`--single-transaction`,
 * `ON_ERROR_STOP`). Either the database is what it was when the backup was taken, or — on any
 * error — it is left untouched. Objects come back owned by the connecting role
 * (`--no-owner`), which must be able to drop the database's schemas (normally the owner of
 * the database). Running it again gives the same result.
 *
 * The intermediate SQL is written to a private folder beside `file` (where there is room for
 * backups) and removed afterwards.
 *
 * Never throws for the programs' own failures: they are in the result.
 */
export async function restoreDump(conn: PgConnection, file: string, opts: { cwd: string; timeoutMs: number; signal: AbortSignal; env: Record<string, string> }): Promise<RestoreResult> {
  const work = await mkdtemp(join(dirname(file), '.gangway-restore-'));
  const sql = join(work, 'restore.sql');
  const prelude = join(work, 'prelude.sql');
  const commands: string[][] = [];
  try {
    await writeFile(prelude, RESTORE_PRELUDE);
    const toSql = ['pg_restore', '--clean', '--if-exists', '--no-owner', `--file=${sql}`, file];
    commands.push(toSql);
    const started = Date.now();
    const a = await runCommand(toSql, opts.cwd, opts.timeoutMs, opts.signal, opts.env);
    if (!a.ok) return { ok: false, detail: `pg_restore ${describeFailure(a)}`, commands, exitCode: exitCodeOf(a), output: a.output };
    const apply = ['psql', '--no-psqlrc', '--quiet', '--single-transaction', '--set=ON_ERROR_STOP=1',
      `--file=${prelude}`, `--file=${sql}`, `--dbname=${conn.url}`];
    commands.push(apply);
    const left = Math.max(1, opts.timeoutMs - (Date.now() - started));
    const b = await runCommand(apply, opts.cwd, left, opts.signal, { ...opts.env, ...passwordEnv(conn) });
    return { ok: b.ok, detail: b.ok ? b.detail : `psql ${describeFailure(b)}`, commands, exitCode: exitCodeOf(b), output: a.output + b.output };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The exit code `runCommand` reports, or null when the program was killed or did not start. */
export function exitCodeOf(r: { ok: boolean; detail: string }): number | null {
  if (r.ok) return 0;
  const m = /^exit code (\d+)/.exec(r.detail);
  return m ? Number(m[1]) : null;
}

/**
 * Why a command failed, in one line: its exit code and the first output line that reports an
 * error (pg_dump and psql put the cause there, a hint or context after it), else the last
 * line; `runCommand`'s own detail when it did not exit by itself (timeout, not found).
 *
 * @example
 * describeFailure({ ok: false, detail: 'exit code 1: Is the server running…?', output: 'pg_dump: error: … Connection refused\n\tIs the server running…?' });
 * // 'exit code 1: pg_dump: error: … Connection refused'
 */
export function describeFailure(r: { ok: boolean; detail: string; output: string }): string {
  const code = exitCodeOf(r);
  if (code === null) return r.detail;
  const lines = r.output.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /\berror\b/i.test(l)) ?? lines[lines.length - 1];
  return `exit code ${code}${line ? `: ${line.slice(0, 300)}` : ''}`;
}

/** What a validation query returned. */
export interface QueryCheck {
  ok: boolean;
  /** Number of rows returned. */
  rows: number;
  /** First column of the first row with a truthy one (else of the first row; null when no rows). */
  value: unknown;
  /** Why it failed to run (connection or SQL error), or null. */
  error: string | null;
}

/**
 * Whether a validation value counts as a pass. PostgreSQL values arrive as `pg` parses them:
 * `count(*)` and other bigints as strings, so `'0'` must be false. False are: NULL, `false`,
 * a number equal to 0, the empty string, `'f'`, `'false'` and any string that reads as the
 * number 0. Everything else is true.
 *
 * @example
 * isTruthy('0'); // false (count(*) = 0)
 * isTruthy('42'); // true
 */
export function isTruthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false) return false;
  if (typeof v === 'number' || typeof v === 'bigint') return Number(v) !== 0;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === '' || s === 'f' || s === 'false') return false;
    return !(/^[-+]?[0-9.e+-]+$/.test(s) && Number(s) === 0);
  }
  return true;
}

/**
 * Runs `query` on `url` (via the `pg` package) and passes when at least one returned row has
 * a truthy first column ({@link isTruthy}). A query of several statements is judged by the
 * last one's rows. Connection and SQL errors are a failed check, never a throw.
 */
export async function checkQuery(url: string, query: string, timeoutMs: number): Promise<QueryCheck> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, statement_timeout: timeoutMs });
  // An idle-connection error after the query must not crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const res = await client.query({ text: query, rowMode: 'array' }) as pg.QueryArrayResult | pg.QueryArrayResult[];
    const last = Array.isArray(res) ? res[res.length - 1] : res;
    const rows = last?.rows ?? [];
    const hit = rows.find((r) => isTruthy(r[0]));
    const value = hit ? hit[0] : rows.length ? rows[0][0] : null;
    return { ok: hit !== undefined, rows: rows.length, value: jsonSafe(value), error: null };
  } catch (err) {
    return { ok: false, rows: 0, value: null, error: err instanceof Error ? err.message : String(err) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Step outputs are stored as JSON: dates and bigints as text. */
function jsonSafe(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  return v;
}
