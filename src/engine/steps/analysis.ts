/**
 * An analysis step: evaluate a template every interval for the step's duration. A fail verdict
 * ends the step (the release is rejected and rolled back); a pause decision waits for a person;
 * at the end, every rule must have passed at least once — low traffic gives inconclusive
 * verdicts, and those never add up to a pass: the rollout pauses for a person instead.
 */
import { evaluateTemplate } from '../../analysis/evaluate.js';
import type { AnalysisState } from '../../analysis/types.js';
import type { StepResult } from './types.js';
import type { StepContext } from './context.js';
import { startGuard } from './analysis-guard.js';

export async function runAnalysis(ctx: StepContext, p: { template: string; version: string; durationMs: number }): Promise<StepResult> {
  const runtime = ctx.analysis;
  const template = runtime?.templates[p.template];
  if (!runtime || !template) return { result: 'failed', reason: `analysis template "${p.template}" is not defined` };
  const key = `step:${ctx.stepIdx}`;
  let state = await runtime.loadState(ctx.deployment.id, key);
  const passed = new Set(Object.entries(state).filter(([, s]) => (s as { passed?: boolean }).passed).map(([rule]) => rule));
  const last = new Map<string, string>();
  // The local agent's proxy guards the canary request by request; a trip fails the step at once.
  const guard = await startGuard(ctx, template, p.version);
  for (;;) {
    const tripped = await guard?.check();
    if (tripped) return tripped;
    const now = ctx.clock.now();
    const ev = await evaluateTemplate(template, runtime.context(ctx.cfg, ctx.target, p.version, ctx.deployment.previousVersion, now), state);
    for (const v of ev.verdicts) {
      if (v.verdict === 'pass') passed.add(v.rule);
      last.set(v.rule, v.reason);
    }
    state = withPassed(ev.state, passed);
    await runtime.record(ctx.deployment.id, ctx.stepIdx, template.name, ev);
    await runtime.saveState(ctx.deployment.id, key, state, now);
    if (ev.decision.action === 'fail') {
      return { result: 'failed', reason: `analysis ${template.name}: ${ev.decision.reason}`, reject: true, output: { verdicts: ev.verdicts } };
    }
    if (ev.decision.action === 'pause') {
      await ctx.waitForPromotion(`analysis ${template.name}: ${ev.decision.reason}`);
      state = resetTolerated(state);
      continue;
    }
    if (ctx.clock.now() - ctx.startedAt >= p.durationMs) {
      const missing = template.rules.map((r) => r.name).filter((r) => !passed.has(r));
      if (missing.length > 0) {
        await ctx.waitForPromotion(`analysis ${template.name}: no pass yet for ${missing.map((r) => `${r} (${last.get(r) ?? 'not measured'})`).join(', ')}`);
      }
      return { result: 'succeeded', output: { passed: [...passed], verdicts: ev.verdicts } };
    }
    const wait = Math.min(template.intervalMs, Math.max(1, ctx.startedAt + p.durationMs - ctx.clock.now()));
    const failed = guard ? await guard.sleep(wait) : (await ctx.clock.sleep(wait, ctx.signal), null);
    if (failed) return failed;
  }
}

/** Rule states plus whether each rule has passed in this step, so a resumed step remembers. */
function withPassed(state: AnalysisState, passed: Set<string>): AnalysisState {
  const out: AnalysisState = {};
  for (const [rule, s] of Object.entries(state)) out[rule] = { ...s, ...(passed.has(rule) ? { passed: true } : {}) } as typeof s;
  return out;
}

/** After a person promotes a paused analysis, tolerated counts start over. */
export function resetTolerated(state: AnalysisState): AnalysisState {
  const out: AnalysisState = {};
  for (const [rule, s] of Object.entries(state)) out[rule] = { ...s, tolerated: 0 };
  return out;
}
