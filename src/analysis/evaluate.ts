/**
 * One evaluation of an analysis template: every rule measured once, in parallel, and the
 * template's policies turned into a decision (continue, pause, fail).
 */
import type { AnalysisRule, AnalysisTemplate, VerdictPolicy } from '../config/types.js';
import { evaluateJudge } from './judge.js';
import { evaluateHealthFailures, evaluateRelative, evaluateThreshold, INITIAL_RULE_STATE, type AnalysisContext, type RuleOutcome } from './rules.js';
import type { AnalysisState, Decision, Evaluation, RuleState } from './types.js';

export type { AnalysisContext } from './rules.js';

async function evaluateRule(rule: AnalysisRule, ctx: AnalysisContext, prev: RuleState): Promise<RuleOutcome> {
  try {
    switch (rule.kind) {
      case 'threshold':
        return await evaluateThreshold(rule, ctx, prev);
      case 'relative':
        return await evaluateRelative(rule, ctx, prev);
      case 'healthFailures':
        return await evaluateHealthFailures(rule, ctx, prev);
      case 'judge':
        return await evaluateJudge(rule, ctx, prev);
    }
  } catch (err) {
    // Providers report expected failures as data; anything thrown is still only this rule's
    // problem, and its onError policy decides — one broken source must not hide the others.
    const message = err instanceof Error ? err.message : String(err);
    return {
      verdict: { rule: rule.name, kind: rule.kind, verdict: 'error', reason: `${rule.name}: ${message}`, measurements: [], at: ctx.now },
      state: { ...prev, breachSince: null },
    };
  }
}

/**
 * Evaluates every rule of the template once (in parallel) and decides:
 *
 * - any `fail` verdict → fail, the reason naming each failing rule and why;
 * - an `inconclusive` or `error` verdict goes through the rule's `onInconclusive` / `onError`
 *   policy: the rule's consecutive inconclusive-or-error count (kept in the state) goes up;
 *   while it is at most `limit` the rollout continues, after that `fail` fails, `pause`
 *   pauses and `tolerate` fails with "rule X: N consecutive inconclusive verdicts (limit L):
 *   <last reason>". The config gives `pause` and `fail` limit 0 (act at once); a preset may
 *   give `pause` a limit to pause only after a few in a row;
 * - a `pass` resets the rule's count. A rule with no data is inconclusive, never a pass.
 *
 * Fail outranks pause, pause outranks continue. Never throws for a rule's failure: a rule that
 * throws becomes an `error` verdict.
 *
 * @example
 * let state: AnalysisState = {};
 * const ev = await evaluateTemplate(RUNBOOK_DEFAULTS, ctx, state);
 * if (ev.decision.action === 'fail') rollBack(ev.decision.reason);
 * state = ev.state;   // persist with the deployment for the next interval
 */
export async function evaluateTemplate(t: AnalysisTemplate, ctx: AnalysisContext, state: AnalysisState): Promise<Evaluation> {
  const outcomes = await Promise.all(t.rules.map((rule) => evaluateRule(rule, ctx, state[rule.name] ?? INITIAL_RULE_STATE)));
  const next: AnalysisState = { ...state };
  const fails: string[] = [];
  const pauses: string[] = [];
  outcomes.forEach((o, i) => {
    const rule = t.rules[i]!;
    const v = o.verdict;
    let s: RuleState = { ...o.state };
    if (v.verdict === 'pass') {
      s.tolerated = 0;
    } else if (v.verdict === 'fail') {
      fails.push(`rule ${rule.name}: ${v.reason}`);
    } else {
      const policy: VerdictPolicy = v.verdict === 'inconclusive' ? rule.onInconclusive : rule.onError;
      const what = v.verdict === 'inconclusive' ? 'inconclusive verdicts' : 'errors';
      s = { ...s, tolerated: s.tolerated + 1 };
      if (s.tolerated > policy.limit) {
        // After `limit` tolerated ones the action applies; tolerating beyond the limit fails.
        const because = policy.limit > 0 || policy.action === 'tolerate'
          ? `rule ${rule.name}: ${s.tolerated} consecutive ${what} (limit ${policy.limit}): ${v.reason}`
          : `rule ${rule.name}: ${v.verdict === 'error' ? 'error: ' : ''}${v.reason}`;
        (policy.action === 'pause' ? pauses : fails).push(because);
      }
    }
    next[rule.name] = s;
  });
  let decision: Decision = { action: 'continue' };
  if (fails.length > 0) decision = { action: 'fail', reason: fails.join('; ') };
  else if (pauses.length > 0) decision = { action: 'pause', reason: pauses.join('; ') };
  return { at: ctx.now, verdicts: outcomes.map((o) => o.verdict), decision, state: next };
}
