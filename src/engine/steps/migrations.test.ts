import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MigrationConfig, ServiceEnvConfig } from '../../config/types.js';
import type { StepContext } from './context.js';
import {
  backupFile, migrationRollbackStep, migrationSteps, migrationTitle, runBackup, runMigrate, runMigrationRollback, runValidate,
} from './migrations.js';
import { describeFailure, isTruthy, redactSecrets, splitPassword } from '../../migrations/pg.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'gangway-migsteps-')); });
afterAll(() => rm(dir, { recursive: true, force: true }));

function cfgOf(m: Partial<MigrationConfig> | null): ServiceEnvConfig {
  const migrations: MigrationConfig | null = m === null ? null : {
    backup: null, migrate: { argv: ['true'] }, validate: null, rollback: { kind: 'irreversible' },
    cwd: dir, timeoutMs: 20_000, env: {}, ...m,
  };
  return { service: 'payments', environment: 'prod', migrations } as unknown as ServiceEnvConfig;
}

function ctxOf(cfg: ServiceEnvConfig, previousVersion: string | null = '1.9.0'): StepContext {
  return { cfg, deployment: { id: 'd_7', version: '2.0.0', previousVersion }, signal: new AbortController().signal, stepIdx: 3 } as unknown as StepContext;
}

const node = (code: string) => [process.execPath, '-e', code];

describe('migration plan', () => {
  it('lists backup, migrate and validate in order, only those configured', () => {
    expect(migrationSteps(cfgOf(null), 'd_7')).toEqual([]);
    expect(migrationSteps(cfgOf({}), 'd_7')).toEqual([{ type: 'migrate' }]);
    const full = cfgOf({
      backup: { kind: 'pgDump', url: 'postgres://app@db/shop', dir: '/var/backups/shop' },
      validate: { kind: 'run', argv: ['check'] },
      rollback: { kind: 'restore' },
    });
    expect(migrationSteps(full, 'd_7')).toEqual([
      { type: 'migrationBackup', file: '/var/backups/shop/payments-prod-d_7.dump' }, { type: 'migrate' }, { type: 'migrationValidate' },
    ]);
    expect(migrationSteps(cfgOf({ backup: { kind: 'run', argv: ['snapshot'] } }), 'd_7')).toEqual([{ type: 'migrationBackup', file: null }, { type: 'migrate' }]);
    expect(migrationRollbackStep(full, 'd_7')).toEqual({ type: 'migrationRollback', file: '/var/backups/shop/payments-prod-d_7.dump' });
    expect(migrationRollbackStep(cfgOf({}), 'd_7')).toEqual({ type: 'migrationRollback', file: null });
    expect(migrationRollbackStep(cfgOf(null), 'd_7')).toBeNull();
    expect(backupFile(full, 'd_8')).toBe('/var/backups/shop/payments-prod-d_8.dump');
  });

  it('titles each step', () => {
    expect(migrationTitle({ type: 'migrationBackup', file: '/b/x.dump' })).toBe('back up the database to /b/x.dump');
    expect(migrationTitle({ type: 'migrationBackup', file: null })).toBe('back up the database');
    expect(migrationTitle({ type: 'migrate' })).toBe('migrate the database');
    expect(migrationTitle({ type: 'migrationValidate' })).toBe('validate the migration');
    expect(migrationTitle({ type: 'migrationRollback', file: null })).toBe('roll back the migration');
  });
});

describe('migration steps', () => {
  it('an irreversible migration never runs anything and asks a person', async () => {
    const cfg = cfgOf({ rollback: { kind: 'irreversible' }, migrate: { argv: ['false'] } });
    expect(await runMigrationRollback(ctxOf(cfg), { file: null })).toEqual({
      result: 'failed',
      reason: 'the migration of 2.0.0 is irreversible: rolling back would run 1.9.0 on the new schema; a person must decide',
      output: { rollback: 'irreversible' },
    });
    expect(await runMigrationRollback(ctxOf(cfg, null), { file: null })).toMatchObject({
      reason: 'the migration of 2.0.0 is irreversible: rolling back would run the previous release on the new schema; a person must decide',
    });
  });

  it('runs the migrate argv with migrations.env and the GANGWAY_* variables', async () => {
    const cfg = cfgOf({
      backup: { kind: 'pgDump', url: 'postgres://app@db/shop', dir: '/var/backups/shop' },
      migrate: { argv: node(`for (const k of ['MIGRATE_TARGET','GANGWAY_SERVICE','GANGWAY_ENVIRONMENT','GANGWAY_VERSION','GANGWAY_PREVIOUS_VERSION','GANGWAY_DEPLOYMENT_ID','GANGWAY_BACKUP_FILE']) console.log(k + '=' + process.env[k])`) },
      env: { MIGRATE_TARGET: 'latest' },
    });
    const r = await runMigrate(ctxOf(cfg));
    expect(r).toEqual({ result: 'succeeded', output: {
      command: cfg.migrations!.migrate.argv, exitCode: 0,
      output: 'MIGRATE_TARGET=latest\nGANGWAY_SERVICE=payments\nGANGWAY_ENVIRONMENT=prod\nGANGWAY_VERSION=2.0.0\n'
        + 'GANGWAY_PREVIOUS_VERSION=1.9.0\nGANGWAY_DEPLOYMENT_ID=d_7\nGANGWAY_BACKUP_FILE=/var/backups/shop/payments-prod-d_7.dump\n',
    } });
  });

  it('reports a failing migration with its exit code, its error line and output, without secrets', async () => {
    const cfg = cfgOf({
      migrate: { argv: node(`console.log('applying 0042 to ' + process.env.DATABASE_URL); console.error('ERROR: column "x" does not exist (auth ' + process.env.DB_PASSWORD + ')'); console.error('hint: check 0042'); process.exit(4)`) },
      env: { DATABASE_URL: 'postgres://app:t0p%2Fsecret@db/shop', DB_PASSWORD: 'hunter2' },
    });
    const r = await runMigrate(ctxOf(cfg));
    expect(r).toEqual({
      result: 'failed',
      reason: 'migration failed (exit code 4: ERROR: column "x" does not exist (auth ***))',
      output: {
        command: cfg.migrations!.migrate.argv, exitCode: 4,
        output: 'applying 0042 to postgres://app:***@db/shop\nERROR: column "x" does not exist (auth ***)\nhint: check 0042\n',
      },
    });
  });

  it('a migrate command that does not exist fails with its name', async () => {
    const cfg = cfgOf({ migrate: { argv: ['gangway-no-such-migrate-tool', 'up'] } });
    expect(await runMigrate(ctxOf(cfg))).toEqual({
      result: 'failed', reason: `migration failed (command not found: gangway-no-such-migrate-tool (cwd ${dir}))`,
      output: { command: ['gangway-no-such-migrate-tool', 'up'], exitCode: null, output: '' },
    });
  });

  it('a failing run backup fails the step so the migration is not run', async () => {
    const cfg = cfgOf({ backup: { kind: 'run', argv: node(`console.error('snapshot quota exceeded'); process.exit(2)`) } });
    expect(await runBackup(ctxOf(cfg), { file: null })).toEqual({
      result: 'failed', reason: 'database backup failed (exit code 2: snapshot quota exceeded); the migration was not run',
      output: { command: cfg.migrations!.backup!.kind === 'run' ? cfg.migrations!.backup!.argv : [], exitCode: 2, output: 'snapshot quota exceeded\n' },
    });
    const ok = cfgOf({ backup: { kind: 'run', argv: node(`console.log('snapshot snap-1 taken')`) } });
    expect(await runBackup(ctxOf(ok), { file: null })).toMatchObject({ result: 'succeeded', output: { exitCode: 0, output: 'snapshot snap-1 taken\n' } });
  });

  it('a pgDump backup without pg_dump on the PATH fails and leaves no file', async () => {
    const backups = join(dir, 'b1');
    const cfg = cfgOf({ backup: { kind: 'pgDump', url: 'postgres://app:pw-123@127.0.0.1:1/shop', dir: backups }, env: { PATH: join(dir, 'empty-bin') } });
    const file = backupFile(cfg, 'd_7')!;
    expect(await runBackup(ctxOf(cfg), { file })).toEqual({
      result: 'failed', reason: `database backup failed (pg_dump command not found: pg_dump (cwd ${dir})); the migration was not run`,
      output: { command: ['pg_dump', '--format=custom', `--file=${file}.partial`, 'postgres://app@127.0.0.1:1/shop'], exitCode: null, output: '', file },
    });
    expect(await readdir(backups)).toEqual([]);
  });

  it('a backup URL that is not a PostgreSQL URL fails before running anything', async () => {
    const cfg = cfgOf({ backup: { kind: 'pgDump', url: 'host=db password=x', dir: join(dir, 'b2') } });
    expect(await runBackup(ctxOf(cfg), { file: backupFile(cfg, 'd_7') })).toEqual({
      result: 'failed', reason: 'database backup failed: migrations.backup.url is not a postgres:// URL; the migration was not run',
    });
  });

  it('validates with a command, or passes when no validation is configured', async () => {
    expect(await runValidate(ctxOf(cfgOf({})))).toEqual({ result: 'succeeded', output: { validation: 'none configured' } });
    const good = cfgOf({ validate: { kind: 'run', argv: node(`console.log('42 rows migrated')`) } });
    expect(await runValidate(ctxOf(good))).toMatchObject({ result: 'succeeded', output: { exitCode: 0, output: '42 rows migrated\n' } });
    const bad = cfgOf({ validate: { kind: 'run', argv: node(`console.log('0 rows migrated'); process.exit(1)`) } });
    expect(await runValidate(ctxOf(bad))).toMatchObject({ result: 'failed', reason: 'migration validation failed (exit code 1: 0 rows migrated)' });
  });

  it('a validation query on an unreachable server fails with the cause, without the password', async () => {
    const cfg = cfgOf({ validate: { kind: 'sql', url: 'postgres://app:s3cr3t@127.0.0.1:1/shop', query: 'select 1' } });
    expect(await runValidate(ctxOf(cfg))).toEqual({
      result: 'failed', reason: 'migration validation query could not run: connect ECONNREFUSED 127.0.0.1:1',
      output: { query: 'select 1', rows: 0, value: null },
    });
  });

  it('a down rollback that fails reports it', async () => {
    const cfg = cfgOf({ rollback: { kind: 'down', argv: node(`console.error('error: 0042 has no down step'); process.exit(1)`) } });
    expect(await runMigrationRollback(ctxOf(cfg), { file: null })).toMatchObject({
      result: 'failed', reason: 'down migration failed (exit code 1: error: 0042 has no down step)', output: { exitCode: 1 },
    });
  });

  it('a restore needs a pgDump backup and its file', async () => {
    const noDump = cfgOf({ backup: { kind: 'run', argv: ['snapshot'] }, rollback: { kind: 'restore' } });
    expect(await runMigrationRollback(ctxOf(noDump), { file: null })).toEqual({
      result: 'failed', reason: 'rolling back by restore needs a pgDump backup (migrations.backup.kind: pgDump); nothing was restored',
    });
    const dump = cfgOf({ backup: { kind: 'pgDump', url: 'postgres://app@db/shop', dir: join(dir, 'b3') }, rollback: { kind: 'restore' } });
    const file = backupFile(dump, 'd_7')!;
    expect(await runMigrationRollback(ctxOf(dump), { file })).toEqual({
      result: 'failed', reason: `restore failed: the backup ${file} does not exist; nothing was restored`, output: { file },
    });
  });
});

describe('PostgreSQL helpers', () => {
  it('splits the password out of a URL', () => {
    expect(splitPassword('postgres://app:t0p%2Fsecret@db:5432/shop?sslmode=require')).toEqual({ url: 'postgres://app@db:5432/shop?sslmode=require', password: 't0p/secret' });
    expect(splitPassword('postgresql://app@db/shop?password=pw&sslmode=require')).toEqual({ url: 'postgresql://app@db/shop?sslmode=require', password: 'pw' });
    expect(splitPassword('postgres://db/shop')).toEqual({ url: 'postgres://db/shop', password: null });
    expect(splitPassword('mysql://app:pw@db/shop')).toBeNull();
    expect(splitPassword('host=db')).toBeNull();
  });

  it('redacts secrets and URL passwords', () => {
    expect(redactSecrets('password hunter2, url mysql://u:other@h/x', ['hunter2'])).toBe('password ***, url mysql://u:***@h/x');
  });

  it('judges validation values as PostgreSQL returns them', () => {
    for (const v of [null, undefined, false, 0, '0', '0.00', '', 'f', 'false', 'FALSE']) expect([v, isTruthy(v)]).toEqual([v, false]);
    for (const v of [true, 1, '3', 't', 'true', 'ok', -1, {}, '0x1']) expect([v, isTruthy(v)]).toEqual([v, true]);
  });

  it('describes a failure by its error line', () => {
    expect(describeFailure({ ok: false, detail: 'exit code 1: x', output: 'pg_dump: error: connection refused\n\tIs the server running?\n' }))
      .toBe('exit code 1: pg_dump: error: connection refused');
    expect(describeFailure({ ok: false, detail: 'timed out after 5 ms', output: 'partial' })).toBe('timed out after 5 ms');
  });
});
