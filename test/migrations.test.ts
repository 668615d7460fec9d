/**
 * Migration steps against a real PostgreSQL server and the matching pg_dump / pg_restore /
 * psql (Debian package postgresql): given a database with rows, when the steps back it up,
 * migrate, validate and roll back, then the database is exactly what each step promises —
 * and no password ever reaches a step's output or reason.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import type { MigrationConfig, ServiceEnvConfig } from '../src/config/types.js';
import type { StepContext } from '../src/engine/steps/context.js';
import type { MigrationStepParams, StepResult } from '../src/engine/steps/types.js';
import {
  migrationRollbackStep, migrationSteps, runBackup, runMigrate, runMigrationRollback, runValidate,
} from '../src/engine/steps/migrations.js';
import { startDebianPostgresOrSkip, type DebianPostgres } from './support/debian-postgres.js';

const server = await startDebianPostgresOrSkip('migration step tests (pg_dump, pg_restore, psql)');
afterAll(() => server?.stop());

const PG_MODULE = pathToFileURL(createRequire(import.meta.url).resolve('pg')).href;

/** A node script that connects with DATABASE_URL, runs `sql` statements, prints, and exits with `exitCode`. */
function script(sql: string[], opts: { print?: string; exitCode?: number; printUrl?: boolean } = {}): string {
  return `import pg from ${JSON.stringify(PG_MODULE)};
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
${opts.printUrl ? "console.log('connecting to ' + process.env.DATABASE_URL);" : ''}
await client.connect();
for (const s of ${JSON.stringify(sql)}) { await client.query(s); console.log('ran: ' + s); }
await client.end();
${opts.print ? `console.error(${JSON.stringify(opts.print)});` : ''}
process.exit(${opts.exitCode ?? 0});
`;
}

interface Db { url: string; name: string; role: string; password: string; dir: string }

let roleCounter = 0;

/** A database owned by a password-protected role, with two tables of rows. */
async function givenDatabase(s: DebianPostgres): Promise<Db> {
  const role = `app_${process.pid}_${++roleCounter}`;
  // Characters that must be percent-encoded in a URL, to catch either form leaking.
  const password = `pa:ss@w/rd#${roleCounter}-${Math.random().toString(36).slice(2, 8)}`;
  await s.createRole(role, password);
  const name = new URL(await s.createDatabase(undefined, role)).pathname.slice(1);
  const url = s.urlFor(name, role, password);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('create table accounts (id int primary key, name text not null, balance numeric(12,2) not null)');
  await c.query(`insert into accounts values (1, 'ada', 10.50), (2, 'grace', 0), (3, 'linus', 99999.99)`);
  await c.query('create table notes (id serial primary key, account_id int not null references accounts(id), body text)');
  await c.query(`insert into notes (account_id, body) values (1, 'first'), (3, null)`);
  await c.end();
  const dir = await mkdtemp(join(tmpdir(), 'gangway-mig-'));
  return { url, name, role, password, dir };
}

interface Snapshot { schemas: unknown[]; columns: unknown[]; tables: unknown[]; accounts: unknown[]; notes: unknown[] }

async function snapshot(url: string): Promise<Snapshot> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    // Owner and privileges too: a restore that recreates public must give it back as it was.
    const schemas = (await c.query(`select nspname, nspowner::regrole::text as owner, nspacl::text as acl from pg_namespace
      where nspname not like 'pg\\_%' and nspname <> 'information_schema' order by 1`)).rows;
    const columns = (await c.query(`select table_name, column_name, ordinal_position, data_type, is_nullable, column_default
      from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`)).rows;
    const tables = (await c.query(`select table_name from information_schema.tables where table_schema = 'public' order by 1`)).rows;
    const hasAccounts = tables.some((t) => t.table_name === 'accounts');
    const accounts = hasAccounts ? (await c.query('select * from accounts order by id')).rows : [];
    const notes = tables.some((t) => t.table_name === 'notes') ? (await c.query('select * from notes order by id')).rows : [];
    return { schemas, columns, tables, accounts, notes };
  } finally {
    await c.end();
  }
}

function configOf(db: Db, s: DebianPostgres, m: Partial<MigrationConfig>): ServiceEnvConfig {
  const migrations: MigrationConfig = {
    backup: { kind: 'pgDump', url: db.url, dir: join(db.dir, 'backups') },
    migrate: { argv: ['node', join(db.dir, 'migrate.mjs')] },
    validate: null,
    rollback: { kind: 'restore' },
    cwd: db.dir,
    timeoutMs: 30_000,
    // The server's own client programs first: pg_dump refuses a server newer than itself.
    env: { PATH: `${s.bin.dir}:${process.env.PATH}`, DATABASE_URL: db.url },
    ...m,
  };
  return { service: 'payments', environment: 'prod', migrations } as unknown as ServiceEnvConfig;
}

function contextOf(cfg: ServiceEnvConfig, deployment = { id: 'd_7', version: '2.0.0', previousVersion: '1.9.0' as string | null }): StepContext {
  return { cfg, deployment, signal: new AbortController().signal, stepIdx: 0 } as unknown as StepContext;
}

/** Runs forward steps in plan order, stopping at the first that fails, as the runner does. */
async function runForward(ctx: StepContext, steps: MigrationStepParams[]): Promise<Array<{ type: string; r: StepResult }>> {
  const done: Array<{ type: string; r: StepResult }> = [];
  for (const p of steps) {
    const r = p.type === 'migrationBackup' ? await runBackup(ctx, p)
      : p.type === 'migrate' ? await runMigrate(ctx)
        : p.type === 'migrationValidate' ? await runValidate(ctx)
          : await runMigrationRollback(ctx, p);
    done.push({ type: p.type, r });
    if (r.result === 'failed') break;
  }
  return done;
}

function expectNoPassword(db: Db, ...results: unknown[]): void {
  const text = JSON.stringify(results);
  expect(text).not.toContain(db.password);
  expect(text).not.toContain(encodeURIComponent(db.password));
}

describe.skipIf(!server)('migration steps on PostgreSQL', () => {
  const s = server!;
  const dbs: Db[] = [];
  afterAll(async () => { for (const d of dbs) await rm(d.dir, { recursive: true, force: true }); });

  it('backs up, migrates, validates, then a forced restore brings back the exact schema and rows', async () => {
    const db = await givenDatabase(s); dbs.push(db);
    const before = await snapshot(db.url);
    await writeFile(join(db.dir, 'migrate.mjs'), script([
      `alter table accounts add column currency text not null default 'EUR'`,
      'update accounts set name = upper(name), balance = balance * 100',
      'create table audit (id serial primary key, account_id int not null references accounts(id))',
      'insert into audit (account_id) values (1)',
    ], { printUrl: true }));
    const cfg = configOf(db, s, { validate: { kind: 'sql', url: db.url, query: `select count(*) from accounts where currency = 'EUR'` } });
    const ctx = contextOf(cfg);
    const file = join(db.dir, 'backups', 'payments-prod-d_7.dump');

    const steps = migrationSteps(cfg, 'd_7');
    expect(steps).toEqual([{ type: 'migrationBackup', file }, { type: 'migrate' }, { type: 'migrationValidate' }]);
    const results = await runForward(ctx, steps);
    expect(results.map((x) => [x.type, x.r.result])).toEqual([['migrationBackup', 'succeeded'], ['migrate', 'succeeded'], ['migrationValidate', 'succeeded']]);

    const [backup, migrate, validate] = results.map((x) => x.r);
    const passwordless = new URL(db.url); passwordless.password = '';
    expect(backup.output).toEqual({
      command: ['pg_dump', '--format=custom', `--file=${file}.partial`, passwordless.toString()],
      exitCode: 0, output: '', file, bytes: (await readFile(file)).length,
    });
    expect((await readFile(file)).subarray(0, 5).toString()).toBe('PGDMP');
    expect(await readdir(join(db.dir, 'backups'))).toEqual(['payments-prod-d_7.dump']);

    expect(migrate.output).toMatchObject({ command: ['node', join(db.dir, 'migrate.mjs')], exitCode: 0 });
    const printedUrl = String((migrate.output as { output: string }).output).split('\n')[0];
    expect(printedUrl).toBe(`connecting to postgres://${db.role}:***@127.0.0.1:${s.port}/${db.name}`);
    expect(validate.output).toEqual({ query: `select count(*) from accounts where currency = 'EUR'`, rows: 1, value: '3' });

    const migrated = await snapshot(db.url);
    expect(migrated.accounts).toEqual([
      { id: 1, name: 'ADA', balance: '1050.00', currency: 'EUR' },
      { id: 2, name: 'GRACE', balance: '0.00', currency: 'EUR' },
      { id: 3, name: 'LINUS', balance: '9999999.00', currency: 'EUR' },
    ]);

    const rb = migrationRollbackStep(cfg, 'd_7');
    expect(rb).toEqual({ type: 'migrationRollback', file });
    const restored = await runMigrationRollback(ctx, rb!);
    expect(restored.result).toBe('succeeded');
    expect(restored.output).toMatchObject({ exitCode: 0, file, commands: [
      ['pg_restore', '--clean', '--if-exists', '--no-owner', expect.stringMatching(/^--file=.*restore\.sql$/), file],
      ['psql', '--no-psqlrc', '--quiet', '--single-transaction', '--set=ON_ERROR_STOP=1',
        expect.stringMatching(/^--file=.*prelude\.sql$/), expect.stringMatching(/^--file=.*restore\.sql$/), `--dbname=${passwordless.toString()}`],
    ] });
    const after = await snapshot(db.url);
    expect(after).toEqual(before);
    expect(after.tables).toEqual([{ table_name: 'accounts' }, { table_name: 'notes' }]);
    expect(after.schemas).toEqual([{ nspname: 'public', owner: 'pg_database_owner', acl: '{pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}' }]);
    expect(after.accounts).toEqual([
      { id: 1, name: 'ada', balance: '10.50' }, { id: 2, name: 'grace', balance: '0.00' }, { id: 3, name: 'linus', balance: '99999.99' },
    ]);
    // Sequences come back too: the next note gets the id it would have had.
    const c = new pg.Client({ connectionString: db.url }); await c.connect();
    expect((await c.query(`insert into notes (account_id, body) values (2, 'x') returning id`)).rows).toEqual([{ id: 3 }]);
    await c.end();

    // Restoring again is harmless: same state (plus the note just added is gone again).
    expect((await runMigrationRollback(ctx, rb!)).result).toBe('succeeded');
    expect(await snapshot(db.url)).toEqual(before);
    // A resumed backup step writes the same file again.
    const again = await runBackup(ctx, steps[0] as { file: string });
    expect(again.result).toBe('succeeded');
    expect((again.output as { file: string }).file).toBe(file);
    expect(await readdir(join(db.dir, 'backups'))).toEqual(['payments-prod-d_7.dump']);

    expectNoPassword(db, results, restored, again);
  });

  it('a down rollback runs its argv', async () => {
    const db = await givenDatabase(s); dbs.push(db);
    const before = await snapshot(db.url);
    await writeFile(join(db.dir, 'migrate.mjs'), script([`alter table accounts add column currency text not null default 'EUR'`]));
    await writeFile(join(db.dir, 'down.mjs'), script(['alter table accounts drop column currency']));
    const cfg = configOf(db, s, { backup: null, rollback: { kind: 'down', argv: ['node', join(db.dir, 'down.mjs')] } });
    const ctx = contextOf(cfg);
    expect(migrationSteps(cfg, 'd_7')).toEqual([{ type: 'migrate' }]);
    expect((await runMigrate(ctx)).result).toBe('succeeded');
    expect((await snapshot(db.url)).columns).not.toEqual(before.columns);

    const rb = migrationRollbackStep(cfg, 'd_7')!;
    expect(rb).toEqual({ type: 'migrationRollback', file: null });
    const r = await runMigrationRollback(ctx, rb);
    expect(r).toEqual({ result: 'succeeded', output: {
      command: ['node', join(db.dir, 'down.mjs')], exitCode: 0, output: 'ran: alter table accounts drop column currency\n',
    } });
    expect(await snapshot(db.url)).toEqual(before);
  });

  it('a failing backup fails with the cause and the migration is never run', async () => {
    const db = await givenDatabase(s); dbs.push(db);
    const before = await snapshot(db.url);
    await writeFile(join(db.dir, 'migrate.mjs'), script([`alter table accounts add column currency text`]));

    // A database that does not exist on a reachable server.
    const missing = s.urlFor('no_such_db', db.role, db.password);
    const bad = configOf(db, s, { backup: { kind: 'pgDump', url: missing, dir: join(db.dir, 'backups') } });
    const r1 = await runForward(contextOf(bad), migrationSteps(bad, 'd_7'));
    expect(r1.map((x) => x.type)).toEqual(['migrationBackup']);
    expect(r1[0].r).toMatchObject({ result: 'failed',
      reason: `database backup failed (pg_dump exit code 1: pg_dump: error: connection to server at "127.0.0.1", port ${s.port} failed: FATAL:  database "no_such_db" does not exist); the migration was not run` });

    // A server nobody listens on.
    const unreachable = `postgres://${db.role}:${encodeURIComponent(db.password)}@127.0.0.1:1/${db.name}`;
    const down = configOf(db, s, { backup: { kind: 'pgDump', url: unreachable, dir: join(db.dir, 'backups') } });
    const r2 = await runForward(contextOf(down), migrationSteps(down, 'd_7'));
    expect(r2.map((x) => x.type)).toEqual(['migrationBackup']);
    expect(r2[0].r).toMatchObject({ result: 'failed',
      reason: 'database backup failed (pg_dump exit code 1: pg_dump: error: connection to server at "127.0.0.1", port 1 failed: Connection refused); the migration was not run',
      output: { exitCode: 1, file: join(db.dir, 'backups', 'payments-prod-d_7.dump') } });

    // No half-written dump is left to be restored later, and the schema is untouched.
    expect(await readdir(join(db.dir, 'backups'))).toEqual([]);
    expect(await snapshot(db.url)).toEqual(before);
    expectNoPassword(db, r1, r2);
  });

  it('a migration failing halfway reports its exit code and output; the restore undoes its half', async () => {
    const db = await givenDatabase(s); dbs.push(db);
    const before = await snapshot(db.url);
    await writeFile(join(db.dir, 'migrate.mjs'), script([`alter table accounts add column currency text not null default 'EUR'`],
      { print: 'step 2 of 2 failed: table ledger is missing', exitCode: 1 }));
    const cfg = configOf(db, s, {});
    const ctx = contextOf(cfg);
    const results = await runForward(ctx, migrationSteps(cfg, 'd_7'));
    expect(results.map((x) => [x.type, x.r.result])).toEqual([['migrationBackup', 'succeeded'], ['migrate', 'failed']]);
    expect(results[1].r).toEqual({ result: 'failed',
      reason: 'migration failed (exit code 1: step 2 of 2 failed: table ledger is missing)',
      output: {
        command: ['node', join(db.dir, 'migrate.mjs')], exitCode: 1,
        output: `ran: alter table accounts add column currency text not null default 'EUR'\nstep 2 of 2 failed: table ledger is missing\n`,
      } });
    expect((await snapshot(db.url)).columns).toHaveLength(before.columns.length + 1);

    const r = await runMigrationRollback(ctx, migrationRollbackStep(cfg, 'd_7')!);
    expect(r.result).toBe('succeeded');
    expect(await snapshot(db.url)).toEqual(before);
    expectNoPassword(db, results, r);
  });

  it('a validation query without a true first column fails with the value', async () => {
    const db = await givenDatabase(s); dbs.push(db);
    const cfg = configOf(db, s, { validate: { kind: 'sql', url: db.url, query: `select count(*) from accounts where balance > 1000000` } });
    expect(await runValidate(contextOf(cfg))).toEqual({ result: 'failed',
      reason: 'migration validation query returned no row with a true first column (1 row, first value "0")',
      output: { query: 'select count(*) from accounts where balance > 1000000', rows: 1, value: '0' } });

    const wrong = configOf(db, s, { validate: { kind: 'sql', url: s.urlFor(db.name, db.role, 'not-the-password'), query: 'select true' } });
    const r = await runValidate(contextOf(wrong));
    expect(r).toEqual({ result: 'failed',
      reason: `migration validation query could not run: password authentication failed for user "${db.role}"`,
      output: { query: 'select true', rows: 0, value: null } });
  });

  it('a restore whose archive cannot be applied leaves the database as it was', async () => {
    const db = await givenDatabase(s); dbs.push(db);
    await writeFile(join(db.dir, 'migrate.mjs'), script([`alter table accounts add column currency text not null default 'EUR'`]));
    const cfg = configOf(db, s, {});
    const ctx = contextOf(cfg);
    const results = await runForward(ctx, migrationSteps(cfg, 'd_7'));
    expect(results.every((x) => x.r.result === 'succeeded')).toBe(true);
    const migrated = await snapshot(db.url);
    // A corrupt archive: pg_restore refuses it before anything is dropped.
    const file = join(db.dir, 'backups', 'payments-prod-d_7.dump');
    await writeFile(file, 'not a dump at all');
    const r = await runMigrationRollback(ctx, { file });
    expect(r).toMatchObject({ result: 'failed', output: { exitCode: 1, file, bytes: 17 } });
    expect((r as { reason: string }).reason).toBe(`restore of ${file} failed (pg_restore exit code 1: pg_restore: error: input file does not appear to be a valid archive (too short?)); the database was left as it was`);
    expect(await snapshot(db.url)).toEqual(migrated);
    expect(existsSync(file)).toBe(true);
  });

  it('a restore failing after it started dropping rolls back as one transaction', async () => {
    const db = await givenDatabase(s); dbs.push(db);
    await writeFile(join(db.dir, 'migrate.mjs'), script([`alter table accounts add column currency text not null default 'EUR'`]));
    const cfg = configOf(db, s, {});
    const ctx = contextOf(cfg);
    const results = await runForward(ctx, migrationSteps(cfg, 'd_7'));
    expect(results.every((x) => x.r.result === 'succeeded')).toBe(true);
    // A schema the role may not drop: the restore fails after public was already dropped.
    const admin = new pg.Client({ connectionString: s.url.replace(/\/postgres$/, `/${db.name}`) });
    await admin.connect();
    await admin.query('create schema zz_admin; create table zz_admin.t (x int)');
    await admin.end();
    const migrated = await snapshot(db.url);
    const r = await runMigrationRollback(ctx, migrationRollbackStep(cfg, 'd_7')!);
    expect(r).toMatchObject({ result: 'failed', output: { exitCode: 3 } });
    expect((r as { reason: string }).reason).toMatch(/^restore of .*payments-prod-d_7\.dump failed \(psql exit code 3: psql:.*prelude\.sql:\d+: ERROR:  must be owner of schema zz_admin\); the database was left as it was$/);
    expect(await snapshot(db.url)).toEqual(migrated);
  });
});
