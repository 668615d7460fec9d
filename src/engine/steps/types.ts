/**
 * Step types of a plan and the parameters each keeps in the store. Every step is
 * idempotent ("ensure v2 has 2 instances", "ensure the split is 100% v2"), so a runner that
 * resumes after a crash simply runs the current step again. Timed steps measure from the
 * step's stored `startedAt`, so a resumed 5-minute watch does not start over.
 */

/** Take the backup; `file` is where a `pgDump` backup goes (null for a `run` backup). */
export interface MigrationBackupParams { type: 'migrationBackup'; file: string | null }
/** Run the migrate command. */
export interface MigrateParams { type: 'migrate' }
/** Run the validation (a command or a query). */
export interface MigrationValidateParams { type: 'migrationValidate' }
/** Undo the migration as configured; `file` is the backup a `restore` reads (null without a `pgDump` backup). */
export interface MigrationRollbackParams { type: 'migrationRollback'; file: string | null }

/** Params of every migration step. */
export type MigrationStepParams = MigrationBackupParams | MigrateParams | MigrationValidateParams | MigrationRollbackParams;

export type StepParams =
  /** Database migrations: backup, migrate, validate, and on rollback a down migration or a restore (src/engine/steps/migrations.ts). */
  | MigrationStepParams
  /** Evaluate the environment's gates until all pass (the deployment shows `waiting` meanwhile); a fail ends it as blocked. */
  | { type: 'gates'; gates: string[] }
  /** Ensure exactly `count` instances of `version` run (0 stops them, draining first). */
  | { type: 'scale'; version: string; image: string | null; count: number }
  /** Wait until `count` instances of `version` pass their health checks (timed: health.startTimeout). */
  | { type: 'waitReady'; version: string; count: number }
  /**
   * Set the traffic split (and preview, header route, sticky sessions) atomically. The
   * planner repeats the header route and stickiness in every traffic step of a plan, so each
   * step states the whole routing.
   */
  | { type: 'traffic'; versions: Array<{ version: string; weight: number }>; preview: string | null;
      headerRoute?: { name: string; value: string; version: string } | null; sticky?: { cookie: string; ttlMs: number } | null }
  /** Wait `durationMs`, or until a person promotes when null (the deployment shows `paused`). */
  | { type: 'pause'; durationMs: number | null }
  /** Evaluate an analysis template every interval for `durationMs`; fail rolls back, pause waits for a person. */
  | { type: 'analysis'; template: string; version: string; durationMs: number }
  /**
   * Hand `version` to a target that rolls natively and wait until it converged (timed:
   * health.startTimeout); a resumed step gets the same rollout back (src/engine/steps/rollout.ts).
   */
  | { type: 'rollout'; version: string; image: string | null }
  /**
   * Run the `index`th Job of `jobs.beforeRollout` for the release and wait until it completes
   * (timed from the step's start: `timeoutMs`); a resumed step finds the Job it started
   * (src/engine/steps/job.ts).
   */
  | { type: 'job'; index: number; manifest: string; version: string; image: string | null; timeoutMs: number }
  /** Run the service's smoke checks against `version` (through the preview, or one of its instances directly, as the target reaches it). */
  | { type: 'smoke'; version: string }
  /** Watch `version` for `durationMs`: fail on failureThreshold consecutive health failures or a crash (timed). */
  | { type: 'watch'; version: string; durationMs: number };

export type StepType = StepParams['type'];

/** A step as the planner emits it. */
export interface PlanStep { type: StepType; title: string; params: StepParams }

/** The result of running one step: expected outcomes are data. */
export type StepResult =
  | { result: 'succeeded'; output?: Record<string, unknown> }
  /** `reject`: the release failed analysis; it is marked rejected for the environment. */
  | { result: 'failed'; reason: string; output?: Record<string, unknown>; reject?: boolean; blocked?: boolean };
