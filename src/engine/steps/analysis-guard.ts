/**
 * The analysis step's side of the in-proxy canary guard (src/agent/canary-guard.ts): on a target
 * that has one (the local agent), an analysis step whose template has a judge testing errors sets
 * the guard for its canary, and watches it between evaluations, so a trip is recorded and rolled
 * back within a poll interval instead of at the next evaluation.
 */
import type { AnalysisTemplate } from '../../config/types.js';
import type { Evaluation, RuleVerdict } from '../../analysis/types.js';
import type { CanaryGuardReport } from '../../targets/target.js';
import { pollInterval, type StepContext } from './context.js';
import type { StepResult } from './types.js';

/** A guard the step watches, or null when the target, template or deployment has none. */
export interface StepGuard {
  /** The failed step when the guard has tripped, after recording its verdict; null otherwise. */
  check(): Promise<StepResult | null>;
  /** Sleeps `ms`, looking at the guard every poll interval; a failed step as soon as it trips. */
  sleep(ms: number): Promise<StepResult | null>;
}

/**
 * Sets the canary guard of an analysis step when it applies: a target with `setCanaryGuard`, a
 * stable release to compare with, and a judge rule with `errors` in the template (its `alpha` is
 * the guard's level).
 */
export async function startGuard(ctx: StepContext, template: AnalysisTemplate, canary: string): Promise<StepGuard | null> {
  const rule = template.rules.find((r) => r.kind === 'judge' && r.errors);
  const stable = ctx.deployment.previousVersion;
  const target = ctx.target;
  if (!rule || rule.kind !== 'judge' || stable === null || stable === canary || !target.setCanaryGuard || !target.canaryGuard) return null;
  if (!(await target.setCanaryGuard(ctx.cfg, { canary, stable, alpha: rule.alpha }))) return null;
  const check = async (): Promise<StepResult | null> => {
    const g = await target.canaryGuard!(ctx.cfg);
    if (g === null || g.state !== 'tripped' || g.canary !== canary) return null;
    const verdict = guardVerdict(rule.name, g, ctx.clock.now());
    const evaluation: Evaluation = { at: verdict.at, verdicts: [verdict], decision: { action: 'fail', reason: `rule ${rule.name}: ${verdict.reason}` }, state: {} };
    await ctx.analysis!.record(ctx.deployment.id, ctx.stepIdx, template.name, evaluation);
    return { result: 'failed', reason: `analysis ${template.name}: rule ${rule.name}: ${verdict.reason}`, reject: true, output: { verdicts: [verdict] } };
  };
  return {
    check,
    async sleep(ms) {
      const until = ctx.clock.now() + ms;
      for (;;) {
        const left = until - ctx.clock.now();
        if (left <= 0) return null;
        await ctx.clock.sleep(Math.min(left, pollInterval(ctx.cfg)), ctx.signal);
        const failed = await check();
        if (failed) return failed;
      }
    },
  };
}

/** The stored verdict of a trip: the counts, the statistic and the boundary. */
export function guardVerdict(rule: string, g: CanaryGuardReport, now: number): RuleVerdict {
  const at = g.trippedAt ?? now;
  return {
    rule,
    kind: 'guard',
    verdict: 'fail',
    reason: `canary taken out of traffic by the proxy's guard: ${g.detail}`,
    at,
    measurements: [{
      at,
      metric: 'error_rate',
      canary: g.canaryRequests > 0 ? g.canaryErrors / g.canaryRequests : null,
      stable: g.p0,
      samples: { canary: g.canaryRequests, stable: g.stableRequests },
      detail: {
        test: 'calibrated mixture SPRT in the proxy, request by request',
        canaryErrors: g.canaryErrors,
        stableErrors: g.stableErrors,
        p0: g.p0,
        logLikelihoodRatio: g.logLikelihoodRatio,
        logThreshold: g.logThreshold,
        level: g.level,
        alpha: g.alpha,
      },
    }],
  };
}
