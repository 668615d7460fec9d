import type { AnalysisTemplate, ServiceEnvConfig } from '../../config/types.js';
import type { RolloutContext, Target } from '../../targets/target.js';
import type { AnalysisContext } from '../../analysis/evaluate.js';
import type { AnalysisState, Evaluation } from '../../analysis/types.js';
import type { Clock } from '../clock.js';
import type { GateResult } from '../../gates/types.js';

/**
 * What analysis needs from the orchestrator: templates, metric sources, and a place to keep
 * verdicts and rule state. Built once per orchestrator (src/engine/analysis-runtime.ts).
 */
export interface AnalysisRuntime {
  templates: Readonly<Record<string, AnalysisTemplate>>;
  /** The evaluation context for a canary of `cfg` against `stable`. */
  context(cfg: ServiceEnvConfig, target: Target, canary: string, stable: string | null, now: number): AnalysisContext;
  /** Stores every verdict of an evaluation (stepIdx null for background analysis). */
  record(deploymentId: string, stepIdx: number | null, template: string, evaluation: Evaluation): Promise<void>;
  loadState(deploymentId: string, key: string): Promise<AnalysisState>;
  saveState(deploymentId: string, key: string, state: AnalysisState, now: number): Promise<void>;
}

/** Gate evaluation for a stored deployment (built by the orchestrator). */
export interface GateRuntime {
  evaluate(deploymentId: string): Promise<GateResult[]>;
  /** Stores the results of an evaluation with the deployment. */
  record(deploymentId: string, results: GateResult[]): Promise<void>;
}

/** What a step executor gets. `startedAt` comes from the store, so it survives a restart. */
export interface StepContext {
  cfg: ServiceEnvConfig;
  target: Target;
  clock: Clock;
  startedAt: number;
  /** Aborts when the deployment is aborted or the runner loses its lease or stops. */
  signal: AbortSignal;
  deployment: { id: string; version: string; previousVersion: string | null; actor: string; reason: string | null };
  stepIdx: number;
  /** The stage of the step: the forward plan, or the rollback after a failure or an abort. */
  stage: 'deploy' | 'rollback';
  analysis: AnalysisRuntime | null;
  gates: GateRuntime | null;
  /** Shows the deployment as `waiting` (with the reason) or, given null, `running` again. */
  setWaiting(reason: string | null): Promise<void>;
  /**
   * Marks the deployment `paused` with the reason and resolves once a person promotes it
   * (consuming the request); rejects when the signal aborts.
   */
  waitForPromotion(reason: string): Promise<void>;
}

/** Which deployment a step acts for, as the target records it (a Helm revision's description, a GitOps commit's trailers). */
export function targetContext(ctx: Pick<StepContext, 'deployment' | 'stage'>): RolloutContext {
  return { deploymentId: ctx.deployment.id, actor: ctx.deployment.actor, reason: ctx.deployment.reason, stage: ctx.stage };
}

/** How often timed steps look at instances: often enough to react within a health interval. */
export function pollInterval(cfg: ServiceEnvConfig): number {
  return Math.max(50, Math.min(250, Math.floor(cfg.health.intervalMs / 2)));
}
