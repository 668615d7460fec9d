/**
 * Strategies compile a deployment into steps over a target's capabilities.
 */
import type { ServiceEnvConfig } from '../config/types.js';
import type { ReleaseRef, TargetCapabilities } from '../targets/target.js';
import type { PlanStep, StepParams } from '../engine/steps/types.js';
import { migrationTitle } from '../engine/steps/migrations.js';

export interface PlanInput {
  cfg: ServiceEnvConfig;
  /** The release to deploy. */
  release: ReleaseRef;
  /** The release the environment last finished deploying (rollback target), or null on a first deployment. */
  stable: ReleaseRef | null;
  /**
   * The release receiving traffic now when it is not `stable` (a superseded deployment's,
   * which served but never finished its watch). The strategies replace it; a rollback still
   * returns to `stable`. Absent or null: `stable` is what serves.
   */
  serving?: ReleaseRef | null;
  /**
   * Set by `planDeployment` when the strategies work from `serving`: the release a rollback
   * returns to (the stable one), which decides whether there is a post-deploy watch.
   */
  rollbackTo?: ReleaseRef | null;
  capabilities: TargetCapabilities;
  /** Interval of a named analysis template (for default analysis-step durations). */
  templateInterval?: (name: string) => number;
}

/** Builds a step with a title derived from its params, so titles read the same everywhere. */
export function step(params: StepParams): PlanStep {
  return { type: params.type, title: titleOf(params), params };
}

export function titleOf(p: StepParams): string {
  switch (p.type) {
    case 'scale':
      return p.count === 0 ? `stop ${p.version}` : `scale ${p.version} to ${p.count} instance${p.count === 1 ? '' : 's'}`;
    case 'waitReady':
      return `wait for ${p.count} healthy instance${p.count === 1 ? '' : 's'} of ${p.version}`;
    case 'traffic': {
      const live = p.versions.filter((v) => v.weight > 0);
      const total = live.reduce((s, v) => s + v.weight, 0);
      const shares = live.length === 0 ? 'no traffic'
        : live.length === 1 ? `all traffic to ${live[0].version}`
          : `traffic ${live.map((v) => `${v.version} ${Math.round((v.weight / total) * 100)}%`).join(' / ')}`;
      const extras = [
        p.preview ? `preview to ${p.preview}` : null,
        p.headerRoute ? `${p.headerRoute.name}: ${p.headerRoute.value} to ${p.headerRoute.version}` : null,
      ].filter(Boolean);
      return [shares, ...extras].join('; ');
    }
    case 'gates':
      return `gates: ${p.gates.join(', ')}`;
    case 'migrationBackup':
    case 'migrate':
    case 'migrationValidate':
    case 'migrationRollback':
      return migrationTitle(p);
    case 'pause':
      return p.durationMs === null ? 'pause until promoted' : `pause ${formatMs(p.durationMs)}`;
    case 'analysis':
      return `analysis ${p.template} of ${p.version} for ${formatMs(p.durationMs)}`;
    case 'smoke':
      return `smoke checks on ${p.version}`;
    case 'rollout':
      return `roll out ${p.version}`;
    case 'job':
      return `job ${p.manifest.split('/').pop()!.replace(/\.(ya?ml|json)$/, '')} for ${p.version}`;
    case 'watch':
      return `watch ${p.version} for ${formatMs(p.durationMs)}`;
  }
}

export function formatMs(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * Steps that end a forward plan: the post-deploy watch, when configured and when there is a
 * stable release to roll back to (on a first deployment a rollback would only take the
 * service down; the agent still takes unhealthy instances out of traffic by itself).
 */
export function watchSteps(cfg: ServiceEnvConfig, version: string, stable: ReleaseRef | null): PlanStep[] {
  return cfg.rollback.watchMs > 0 && stable && stable.version !== version
    ? [step({ type: 'watch', version, durationMs: cfg.rollback.watchMs })]
    : [];
}
