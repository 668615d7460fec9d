/**
 * The planner: a pure function from (request, config, current state) to an ordered list of
 * steps. `gangway plan` prints its output without running anything.
 */
import { createHash } from 'node:crypto';
import type { ServiceEnvConfig } from '../config/types.js';
import { GangwayError } from '../errors.js';
import { planBlueGreen } from '../strategies/blue-green.js';
import { planRolling } from '../strategies/rolling.js';
import { planCanary } from '../strategies/canary.js';
import { step, type PlanInput } from '../strategies/strategy.js';
import type { ReleaseRef, TargetCapabilities } from '../targets/target.js';
import type { MigrationRollbackParams, PlanStep } from './steps/types.js';
import { migrationSteps } from './steps/migrations.js';

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
    case 'rolling': return planRolling(from);
    case 'canary': return planCanary(from);
  }
}

/** A release's forward plan after its gates: the migration steps (when configured), then the strategy's steps. */
export function withMigrations(cfg: ServiceEnvConfig, deploymentId: string, steps: PlanStep[]): PlanStep[] {
  return [...migrationSteps(cfg, deploymentId).map((p) => step(p)), ...steps];
}

/**
 * Plan of a manual rollback (or any switch back to a known release): bring `to` up to the
 * desired count — nothing to do when it is still warm — and move all traffic to it at once.
 * The release it replaces is retired afterwards by the runner, like any unrouted release.
 */
export function planSwitchBack(cfg: ServiceEnvConfig, to: ReleaseRef): PlanStep[] {
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
 */
export function planRecovery(cfg: ServiceEnvConfig, failed: ReleaseRef, stable: ReleaseRef | null, migration: MigrationRollbackParams | null = null): PlanStep[] {
  // An irreversible migration already ran: running the old release on the new schema is a person's call.
  if (migration && cfg.migrations?.rollback.kind === 'irreversible') return [step(migration)];
  const undo = migration ? [step(migration)] : [];
  const stop = step({ type: 'scale', version: failed.version, image: failed.image, count: 0 });
  if (!stable || stable.version === failed.version) {
    return [step({ type: 'traffic', versions: [], preview: null }), stop, ...undo];
  }
  // Traffic goes back first; the schema follows, then the failed release stops.
  return [...planSwitchBack(cfg, stable), ...undo, stop];
}

/** A strategy that needs a capability the target lacks is a config error, found when planning. */
export function assertCapabilities(cfg: ServiceEnvConfig, caps: TargetCapabilities): void {
  if (cfg.strategy.kind === 'blueGreen' && !caps.supportsPreview) {
    throw new GangwayError('invalid_config', `services.${cfg.service}: blueGreen needs a target with a preview endpoint`, 'use the rolling strategy for this target');
  }
  if (cfg.strategy.kind === 'canary' && !caps.supportsWeights) {
    throw new GangwayError('invalid_config', `services.${cfg.service}: canary needs a target that splits traffic by weight`, 'use blueGreen or rolling for this target');
  }
  if (cfg.strategy.kind === 'rolling' && !caps.supportsWeights && cfg.target.instances > 1) {
    throw new GangwayError('invalid_config', `services.${cfg.service}: rolling needs a target that splits traffic`, 'use one instance or another target');
  }
}

/** sha256 of the steps, stored with the deployment to notice edits of a stored plan. */
export function planHash(steps: ReadonlyArray<{ params: unknown }>): string {
  return createHash('sha256').update(JSON.stringify(steps.map((s) => s.params))).digest('hex');
}
