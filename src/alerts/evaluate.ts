/**
 * Alert tiers, evaluated: each tier's conditions are rules of the analysis language, measured
 * once per evaluation on the release a deployment ships. A condition *holds* while its rule
 * fails; a tier *fires* when a condition has held, at every evaluation, for its duration
 * ("error rate > 10% for 2 minutes"), and *resolves* when every condition passes again. One
 * firing per episode: a tier that fired does not fire again until it has resolved.
 *
 * Pure apart from the metric providers the context asks; the state (hold start times, the rules'
 * own state, the firing episode) is returned for the caller to persist, so a restarted
 * orchestrator neither restarts a hold nor fires a firing tier again.
 */
import { evaluateTemplate, type AnalysisContext } from '../analysis/evaluate.js';
import { formatDuration } from '../analysis/rules.js';
import type { AnalysisState, Measurement, Verdict } from '../analysis/types.js';
import type { AlertTier } from '../config/types.js';

/** One tier's memory between evaluations. */
export interface TierState {
  /** Condition name → when its current uninterrupted hold began. */
  holds: Record<string, number>;
  /** The rules' own state (as analysis keeps it). */
  rules: AnalysisState;
  /** The current episode, from the evaluation that fired it; null while the tier is quiet. */
  firing: { at: number; reason: string } | null;
}

/** Tier name → its state; persisted per deployment. */
export type AlertsState = Record<string, TierState>;

/** One condition at one evaluation. */
export interface ConditionResult {
  name: string;
  verdict: Verdict;
  /** The rule's reason: `error_rate 50% > 10%`, `inconclusive: 3 requests < 20 over 1m0s`. */
  reason: string;
  /** When its current hold began; null when it does not hold. */
  since: number | null;
  forMs: number;
  /** Held for at least `forMs`. */
  sustained: boolean;
  measurements: Measurement[];
}

/** A tier that changed state at this evaluation. */
export type AlertTransition =
  | { kind: 'fired'; tier: AlertTier; at: number; reason: string; conditions: ConditionResult[] }
  | { kind: 'resolved'; tier: AlertTier; at: number; reason: string; firedAt: number; firedReason: string };

export interface TiersEvaluation {
  at: number;
  /** Tier name → its conditions' results. */
  results: Record<string, ConditionResult[]>;
  transitions: AlertTransition[];
  state: AlertsState;
}

const QUIET: TierState = Object.freeze({ holds: {}, rules: {}, firing: null }) as TierState;

/** A sustained condition in one phrase: `error-rate: error_rate 50% > 10% for 2m0s`. */
function sustainedText(c: ConditionResult, now: number): string {
  return c.forMs > 0 && c.since !== null ? `${c.name}: ${c.reason} for ${formatDuration(now - c.since)}` : `${c.name}: ${c.reason}`;
}

/**
 * Measures every tier once (conditions in parallel, as an analysis template) and returns what
 * changed.
 *
 * - A condition holds while its rule's verdict is `fail`; anything else — a pass, no data, too
 *   few requests, a provider error — ends the hold, as for a threshold's `for`: "for 2 minutes"
 *   means two minutes of breach that Gangway saw.
 * - A quiet tier fires when some condition has held for at least its `forMs` (0: at the first
 *   failing evaluation); the transition names every condition that has.
 * - A firing tier resolves when every condition passes. An evaluation without data keeps it
 *   firing: not knowing is not recovery.
 *
 * @example
 * let state: AlertsState = {};
 * const ev = await evaluateTiers(config.alerts.tiers, ctx, state);
 * for (const t of ev.transitions) record(t);   // alert.fired / alert.resolved
 * state = ev.state;                            // persist for the next interval
 */
export async function evaluateTiers(tiers: readonly AlertTier[], ctx: AnalysisContext, state: AlertsState): Promise<TiersEvaluation> {
  const now = ctx.now;
  const next: AlertsState = { ...state };
  const results: Record<string, ConditionResult[]> = {};
  const transitions: AlertTransition[] = [];
  const evaluations = await Promise.all(tiers.map((tier) => evaluateTemplate(
    { name: tier.name, intervalMs: 0, rules: tier.conditions.map((c) => c.rule) }, ctx, (state[tier.name] ?? QUIET).rules,
  )));
  tiers.forEach((tier, t) => {
    const prev = state[tier.name] ?? QUIET;
    const ev = evaluations[t]!;
    const holds: Record<string, number> = {};
    const conditions = tier.conditions.map((c, i): ConditionResult => {
      const v = ev.verdicts[i]!;
      const name = c.rule.name;
      const since = v.verdict === 'fail' ? prev.holds[name] ?? now : null;
      if (since !== null) holds[name] = since;
      return { name, verdict: v.verdict, reason: v.reason, since, forMs: c.forMs, sustained: since !== null && now - since >= c.forMs, measurements: v.measurements };
    });
    results[tier.name] = conditions;
    let firing = prev.firing;
    if (firing === null) {
      const sustained = conditions.filter((c) => c.sustained);
      if (sustained.length > 0) {
        const reason = sustained.map((c) => sustainedText(c, now)).join('; ');
        firing = { at: now, reason };
        transitions.push({ kind: 'fired', tier, at: now, reason, conditions: sustained });
      }
    } else if (conditions.every((c) => c.verdict === 'pass')) {
      transitions.push({
        kind: 'resolved', tier, at: now, firedAt: firing.at, firedReason: firing.reason,
        reason: conditions.map((c) => `${c.name}: ${c.reason}`).join('; '),
      });
      firing = null;
    }
    next[tier.name] = { holds, rules: ev.state, firing };
  });
  return { at: now, results, transitions, state: next };
}

/**
 * Resolves every firing tier at once, with `reason` (the deployment ended, so its release is
 * no longer watched). Returns the transitions and the state with every tier quiet.
 *
 * @example
 * resolveAll(tiers, state, 'no longer watched: the deployment is rolled_back', now);
 */
export function resolveAll(tiers: readonly AlertTier[], state: AlertsState, reason: string, now: number): { transitions: AlertTransition[]; state: AlertsState } {
  const transitions: AlertTransition[] = [];
  const next: AlertsState = {};
  for (const tier of tiers) {
    const s = state[tier.name];
    if (s?.firing) transitions.push({ kind: 'resolved', tier, at: now, reason, firedAt: s.firing.at, firedReason: s.firing.reason });
    next[tier.name] = { ...QUIET };
  }
  return { transitions, state: next };
}

/** Whether any tier is firing in `state`. */
export function anyFiring(state: AlertsState): boolean {
  return Object.values(state).some((s) => s.firing !== null);
}
