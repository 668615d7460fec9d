/**
 * The planner: a pure function from (request, config, current state) to an ordered list of
 * steps. `gangway plan` prints its output without running anything.
 */
import { createHash } from 'node:crypto';
import type { ServiceEnvConfig } from '../config/types.js';
import { planBlueGreen } from '../strategies/blue-green.js';
import { planNativeRolling, planRolling } from '../strategies/rolling.js';
import { planCanary } from '../strategies/canary.js';
import { step, type PlanInput } from '../strategies/strategy.js';
import type { ReleaseRef, TargetCapabilities } from '../targets/target.js';
import type { MigrationRollbackParams, PlanStep } from './steps/types.js';
import { migrationSteps } from './steps/migrations.js';
import { assertCapabilities } from './capabilities.js';

export { assertCapabilities, capabilityProblems, checkCapabilities } from './capabilities.js';

/** Forward plan of a deployment with the service's strategy. */
export function planDeployment(input: PlanInput): PlanStep[] {
  assertCapabilities(input.cfg, input.capabilities);
  // The strategies replace what serves; when a superseded release serves instead of the
  // stable one, they work from it (and the recovery plan still returns to the stable one).
  // Redeploying the serving release itself starts from it too: no switch away and back.
  const serving = input.serving ?? null;
  const from = serving ? { ...input, stable: serving, rollbackTo: input.stable } : input;
  switch (input.cfg.strategy.kind) {
    case 'blueGreen': return planBlueGreen(from);
    case 'rolling': return input.capabilities.nativeRolling ? planNativeRolling(from) : planRolling(from);
    case 'canary': return planCanary(from);
  }
}

/**
 * A release's forward plan after its gates: the migration steps (when configured), the Jobs of
 * `jobs.beforeRollout` in order, then the strategy's steps — so a failed migration or Job stops
 * the deployment before the new release starts or any traffic moves.
 */
export function withMigrations(cfg: ServiceEnvConfig, deploymentId: string, steps: PlanStep[], release: ReleaseRef): PlanStep[] {
  const jobs = (cfg.jobs?.beforeRollout ?? []).map((j, index) => step({ type: 'job', index, manifest: j.manifest, version: release.version, image: release.image, timeoutMs: j.timeoutMs }));
  return [...migrationSteps(cfg, deploymentId).map((p) => step(p)), ...jobs, ...steps];
}

/**
 * Plan of a manual rollback (or any switch back to a known release): bring `to` up to the
 * desired count — nothing to do when it is still warm — and move all traffic to it at once.
 * The release it replaces is retired afterwards by the runner, like any unrouted release.
 * On a target that rolls natively, a rolling service rolls out `to` instead.
 */
export function planSwitchBack(cfg: ServiceEnvConfig, to: ReleaseRef, caps: Pick<TargetCapabilities, 'nativeRolling'>): PlanStep[] {
  if (isNativeRolling(cfg, caps)) return [step({ type: 'rollout', version: to.version, image: to.image })];
  const n = cfg.target.instances;
  return [
    step({ type: 'scale', version: to.version, image: to.image, count: n }),
    step({ type: 'waitReady', version: to.version, count: n }),
    step({ type: 'traffic', versions: [{ version: to.version, weight: cfg.strategy.kind === 'rolling' ? n : 100 }], preview: null }),
  ];
}

/**
 * Recovery stage appended when a deployment fails or is aborted: restore the stable release
 * and stop the failed one. With no stable release (a first deployment) only the stop remains.
 * On a target that rolls natively, a rolling service rolls out the stable release, which
 * replaces the failed one's instances by itself.
 */
export function planRecovery(cfg: ServiceEnvConfig, failed: ReleaseRef, stable: ReleaseRef | null, migration: MigrationRollbackParams | null, caps: Pick<TargetCapabilities, 'nativeRolling'>): PlanStep[] {
  // An irreversible migration already ran: running the old release on the new schema is a person's call.
  if (migration && cfg.migrations?.rollback.kind === 'irreversible') return [step(migration)];
  const undo = migration ? [step(migration)] : [];
  const stop = step({ type: 'scale', version: failed.version, image: failed.image, count: 0 });
  const native = isNativeRolling(cfg, caps);
  if (!stable || stable.version === failed.version) {
    return native ? [stop, ...undo] : [step({ type: 'traffic', versions: [], preview: null }), stop, ...undo];
  }
  // Traffic goes back first; the schema follows, then the failed release stops.
  return native ? [...planSwitchBack(cfg, stable, caps), ...undo] : [...planSwitchBack(cfg, stable, caps), ...undo, stop];
}

/** Whether the service is rolled by the platform itself: a rolling strategy on a nativeRolling target. */
export function isNativeRolling(cfg: ServiceEnvConfig, caps: Pick<TargetCapabilities, 'nativeRolling'>): boolean {
  return caps.nativeRolling && cfg.strategy.kind === 'rolling';
}

/** sha256 of the steps, stored with the deployment to notice edits of a stored plan. */
export function planHash(steps: ReadonlyArray<{ params: unknown }>): string {
  return createHash('sha256').update(JSON.stringify(steps.map((s) => s.params))).digest('hex');
}
