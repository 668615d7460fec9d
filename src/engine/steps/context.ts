import type { ServiceEnvConfig } from '../../config/types.js';
import type { Target } from '../../targets/target.js';
import type { Clock } from '../clock.js';

/** What a step executor gets. `startedAt` comes from the store, so it survives a restart. */
export interface StepContext {
  cfg: ServiceEnvConfig;
  target: Target;
  clock: Clock;
  startedAt: number;
  /** Aborts when the deployment is aborted or the runner loses its lease or stops. */
  signal: AbortSignal;
}

/** How often timed steps look at instances: often enough to react within a health interval. */
export function pollInterval(cfg: ServiceEnvConfig): number {
  return Math.max(50, Math.min(250, Math.floor(cfg.health.intervalMs / 2)));
}
