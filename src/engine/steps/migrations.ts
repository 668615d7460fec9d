/**
 * Database migrations as steps of a deployment, as the runbooks do them by hand: a backup
 * first (a failing backup stops the deployment before anything changes), the migration, a
 * validation; on rollback a down migration, a restore of that backup, or — for an
 * irreversible migration — a stop for a person to decide.
 *
 * Every executor returns its outcome as data and records what it ran in the step output:
 * the command (argv, passwords removed), the exit code, the tail of the output and, for a
 * backup, the file and its size. Passwords of the configured URLs and of `env` values that
 * look secret never reach the output or the reason.
 *
 * Resuming: the backup step's params carry the file name, so a resumed backup rewrites the
 * same file; a restore is idempotent; the migrate command runs again and must be as safe to
 * repeat as migration tools make it (they record which migrations were applied).
 */
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { MigrationConfig, ServiceEnvConfig } from '../../config/types.js';
import { checkQuery, describeFailure, exitCodeOf, passwordEnv, pgDumpArgv, redactSecrets, restoreDump, splitPassword, urlSecrets } from '../../migrations/pg.js';
import { runCommand } from '../../core/command.js';
import type { MigrationRollbackParams, MigrationStepParams, StepResult } from './types.js';
import { substitute } from '../../config/placeholders.js';
import type { StepContext } from './context.js';

/** How much of a command's output a step records: the end, where the error is. */
export const OUTPUT_TAIL = 4096;

/**
 * The backup file of a deployment: `<dir>/<service>-<environment>-<deployment id>.dump`.
 *
 * @example
 * backupFile(cfg, 'd_42'); // '/var/backups/shop/payments-prod-d_42.dump'
 * @returns null when there are no migrations or the backup is not a `pgDump`
 */
export function backupFile(cfg: ServiceEnvConfig, deploymentId: string): string | null {
  const b = cfg.migrations?.backup;
  if (!b || b.kind !== 'pgDump') return null;
  return join(b.dir, `${cfg.service}-${cfg.environment}-${deploymentId}.dump`);
}

/**
 * The forward migration steps of a deployment, in order: backup (when configured), migrate,
 * validate (when configured). Empty when the service has no migrations.
 *
 * @example
 * migrationSteps(cfg, 'd_42');
 * // [{ type: 'migrationBackup', file: '/var/backups/payments-prod-d_42.dump' }, { type: 'migrate' }, { type: 'migrationValidate' }]
 */
export function migrationSteps(cfg: ServiceEnvConfig, deploymentId: string): MigrationStepParams[] {
  const m = cfg.migrations;
  if (!m) return [];
  const steps: MigrationStepParams[] = [];
  if (m.backup) steps.push({ type: 'migrationBackup', file: backupFile(cfg, deploymentId) });
  steps.push({ type: 'migrate' });
  if (m.validate) steps.push({ type: 'migrationValidate' });
  return steps;
}

/**
 * The step that undoes a deployment's migration, for its rollback stage; null when the
 * service has no migrations. For an `irreversible` migration the step exists and fails with
 * the reason a person must read (see {@link runMigrationRollback}).
 */
export function migrationRollbackStep(cfg: ServiceEnvConfig, deploymentId: string): MigrationRollbackParams | null {
  if (!cfg.migrations) return null;
  return { type: 'migrationRollback', file: backupFile(cfg, deploymentId) };
}

/**
 * Title of a migration step for plans and records.
 *
 * @example
 * migrationTitle({ type: 'migrationBackup', file: '/b/x.dump' }); // 'back up the database to /b/x.dump'
 */
export function migrationTitle(p: MigrationStepParams): string {
  switch (p.type) {
    case 'migrationBackup': return p.file ? `back up the database to ${p.file}` : 'back up the database';
    case 'migrate': return 'migrate the database';
    case 'migrationValidate': return 'validate the migration';
    case 'migrationRollback': return 'roll back the migration';
  }
}

/**
 * Backs up the database. `pgDump`: `pg_dump --format=custom` into `p.file`, the password
 * passed in `PGPASSWORD`, never in argv; the dump is written beside the file and renamed into
 * place only when `pg_dump` succeeds, so a file of that name is always a complete backup.
 * Running it again overwrites the file. `run`: the configured argv. A failing backup fails the
 * step, so the migration never runs without one.
 */
export async function runBackup(ctx: StepContext, p: { file: string | null }): Promise<StepResult> {
  const m = ctx.cfg.migrations;
  if (!m?.backup) return { result: 'failed', reason: 'no database backup is configured' };
  const hide = secretsOf(m);
  if (m.backup.kind === 'run') {
    const argv = fill(ctx, m.backup.argv);
    const r = await runCommand(argv, m.cwd, m.timeoutMs, ctx.signal, commandEnv(ctx, m, null));
    const output = commandOutput(argv, r, hide);
    if (!r.ok) return { result: 'failed', reason: `database backup failed (${failure(r, hide)}); the migration was not run`, output };
    return { result: 'succeeded', output };
  }
  const conn = splitPassword(m.backup.url);
  if (!conn) return { result: 'failed', reason: 'database backup failed: migrations.backup.url is not a postgres:// URL; the migration was not run' };
  const file = p.file ?? backupFile(ctx.cfg, ctx.deployment.id)!;
  const partial = `${file}.partial`;
  try {
    await mkdir(m.backup.dir, { recursive: true });
  } catch (err) {
    return { result: 'failed', reason: `database backup failed: cannot create ${m.backup.dir}: ${(err as Error).message}; the migration was not run` };
  }
  const argv = pgDumpArgv(conn, partial);
  const r = await runCommand(argv, m.cwd, m.timeoutMs, ctx.signal, { ...commandEnv(ctx, m, file), ...passwordEnv(conn) });
  const output: Record<string, unknown> = { ...commandOutput(argv, r, hide), file };
  if (!r.ok) {
    await rm(partial, { force: true });
    return { result: 'failed', reason: `database backup failed (pg_dump ${failure(r, hide)}); the migration was not run`, output };
  }
  await rename(partial, file);
  output.bytes = (await stat(file)).size;
  return { result: 'succeeded', output };
}

/**
 * Runs the migrate argv in `migrations.cwd` with `migrations.env` and the `GANGWAY_*`
 * variables (service, environment, version, previous version, deployment id, backup file).
 */
export async function runMigrate(ctx: StepContext): Promise<StepResult> {
  const m = ctx.cfg.migrations;
  if (!m) return { result: 'failed', reason: 'no migrations are configured' };
  const argv = fill(ctx, m.migrate.argv);
  const r = await runCommand(argv, m.cwd, m.timeoutMs, ctx.signal, commandEnv(ctx, m, backupFile(ctx.cfg, ctx.deployment.id)));
  const output = commandOutput(argv, r, secretsOf(m));
  if (!r.ok) return { result: 'failed', reason: `migration failed (${failure(r, secretsOf(m))})`, output };
  return { result: 'succeeded', output };
}

/**
 * Validates the migration: `run` passes when its argv exits 0; `sql` passes when the query
 * returns at least one row whose first column is truthy (see `isTruthy` in
 * src/migrations/pg.ts: NULL, false, 0, '0', '', 'f' are not), with the value recorded.
 * Without a validation configured it passes.
 */
export async function runValidate(ctx: StepContext): Promise<StepResult> {
  const m = ctx.cfg.migrations;
  if (!m) return { result: 'failed', reason: 'no migrations are configured' };
  const hide = secretsOf(m);
  const v = m.validate;
  if (!v) return { result: 'succeeded', output: { validation: 'none configured' } };
  if (v.kind === 'run') {
    const argv = fill(ctx, v.argv);
    const r = await runCommand(argv, m.cwd, m.timeoutMs, ctx.signal, commandEnv(ctx, m, backupFile(ctx.cfg, ctx.deployment.id)));
    const output = commandOutput(argv, r, hide);
    if (!r.ok) return { result: 'failed', reason: `migration validation failed (${failure(r, hide)})`, output };
    return { result: 'succeeded', output };
  }
  const q = await checkQuery(v.url, v.query, m.timeoutMs);
  const output = { query: v.query, rows: q.rows, value: q.value };
  if (q.error !== null) return { result: 'failed', reason: `migration validation query could not run: ${redactSecrets(q.error, hide)}`, output };
  if (!q.ok) {
    const got = q.rows === 0 ? 'no rows' : `${q.rows} row${q.rows === 1 ? '' : 's'}, first value ${JSON.stringify(q.value)}`;
    return { result: 'failed', reason: `migration validation query returned no row with a true first column (${got})`, output };
  }
  return { result: 'succeeded', output };
}

/**
 * Undoes the migration. `down`: runs its argv. `restore`: restores the deployment's backup
 * exactly (every schema dropped and the archive replayed in one transaction; see
 * `restoreDump`). `irreversible`: runs nothing and fails with the reason
 * "the migration of <version> is irreversible: rolling back would run <stable> on the new
 * schema; a person must decide", for the runner to turn into a pause.
 */
export async function runMigrationRollback(ctx: StepContext, p: { file: string | null }): Promise<StepResult> {
  const m = ctx.cfg.migrations;
  if (!m) return { result: 'failed', reason: 'no migrations are configured' };
  const hide = secretsOf(m);
  const rb = m.rollback;
  if (rb.kind === 'irreversible') {
    const stable = ctx.deployment.previousVersion ?? 'the previous release';
    return {
      result: 'failed',
      reason: `the migration of ${ctx.deployment.version} is irreversible: rolling back would run ${stable} on the new schema; a person must decide`,
      output: { rollback: 'irreversible' },
    };
  }
  if (rb.kind === 'down') {
    const argv = fill(ctx, rb.argv);
    const r = await runCommand(argv, m.cwd, m.timeoutMs, ctx.signal, commandEnv(ctx, m, p.file));
    const output = commandOutput(argv, r, hide);
    if (!r.ok) return { result: 'failed', reason: `down migration failed (${failure(r, hide)})`, output };
    return { result: 'succeeded', output };
  }
  if (m.backup?.kind !== 'pgDump' || !p.file) {
    return { result: 'failed', reason: 'rolling back by restore needs a pgDump backup (migrations.backup.kind: pgDump); nothing was restored' };
  }
  const conn = splitPassword(m.backup.url);
  if (!conn) return { result: 'failed', reason: 'restore failed: migrations.backup.url is not a postgres:// URL' };
  let bytes: number;
  try {
    bytes = (await stat(p.file)).size;
  } catch {
    return { result: 'failed', reason: `restore failed: the backup ${p.file} does not exist; nothing was restored`, output: { file: p.file } };
  }
  const r = await restoreDump(conn, p.file, { cwd: m.cwd, timeoutMs: m.timeoutMs, signal: ctx.signal, env: commandEnv(ctx, m, p.file) });
  const output = {
    commands: r.commands.map((c) => c.map((a) => redactSecrets(a, hide))),
    exitCode: r.exitCode,
    output: tail(redactSecrets(r.output, hide)),
    file: p.file,
    bytes,
  };
  if (!r.ok) return { result: 'failed', reason: `restore of ${p.file} failed (${redactSecrets(r.detail, hide)}); the database was left as it was`, output };
  return { result: 'succeeded', output };
}

/** `migrations.env` plus the `GANGWAY_*` variables (which win: they describe this deployment). */
/** Placeholders in migration commands and env values, substituted per whole argument (never through a shell). */
function vars(ctx: StepContext): Record<string, string> {
  return { 'release.version': ctx.deployment.version, 'release.image': '', environment: ctx.cfg.environment, service: ctx.cfg.service };
}

function fill(ctx: StepContext, argv: string[]): string[] {
  return substitute(argv, vars(ctx));
}

function commandEnv(ctx: StepContext, m: MigrationConfig, file: string | null): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.env)) env[k] = substitute([v], vars(ctx))[0];
  return {
    ...env,
    GANGWAY_SERVICE: ctx.cfg.service,
    GANGWAY_ENVIRONMENT: ctx.cfg.environment,
    GANGWAY_VERSION: ctx.deployment.version,
    GANGWAY_PREVIOUS_VERSION: ctx.deployment.previousVersion ?? '',
    GANGWAY_DEPLOYMENT_ID: ctx.deployment.id,
    ...(file ? { GANGWAY_BACKUP_FILE: file } : {}),
  };
}

/**
 * Texts that must not be recorded: passwords of the configured URLs, and `env` values whose
 * name says secret (or that are URLs with a password — then only the password).
 */
function secretsOf(m: MigrationConfig): string[] {
  const urls: string[] = [];
  if (m.backup?.kind === 'pgDump') urls.push(m.backup.url);
  if (m.validate?.kind === 'sql') urls.push(m.validate.url);
  const secrets: string[] = [];
  for (const [k, v] of Object.entries(m.env)) {
    if (/PASS|SECRET|TOKEN|KEY|CREDENTIAL/i.test(k) && v.length > 0) secrets.push(v);
    else urls.push(v);
  }
  return [...urlSecrets(urls), ...secrets];
}

function commandOutput(argv: string[], r: { ok: boolean; detail: string; output: string }, hide: string[]): Record<string, unknown> {
  return {
    command: argv.map((a) => redactSecrets(a, hide)),
    exitCode: exitCodeOf(r),
    output: tail(redactSecrets(r.output, hide)),
  };
}

/** Why a command failed, for the step's reason (see `describeFailure`), without secrets. */
function failure(r: { ok: boolean; detail: string; output: string }, hide: string[]): string {
  return redactSecrets(describeFailure(r), hide);
}

function tail(s: string): string {
  return s.length <= OUTPUT_TAIL ? s : `…${s.slice(s.length - OUTPUT_TAIL)}`;
}
