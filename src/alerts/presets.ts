/**
 * Built-in alert tiers. `runbook-tiers` is the runbooks' alert table (P0–P2) in the rule
 * language of `analysis`; a config that names the preset says where each tier goes
 * (`alerts.channels`) and may change what each does (`alerts.actions`). Every figure is
 * explained in docs/alerts.md.
 */
import type { AlertAction, AlertCondition, VerdictPolicy } from '../config/types.js';

/** A preset tier: everything but where it goes, which the config says. */
export interface PresetTier {
  name: string;
  conditions: AlertCondition[];
  action: AlertAction;
}

/** Tiers never act on inconclusive or error verdicts (they only end a hold); the policies are unused. */
const UNUSED: VerdictPolicy = Object.freeze({ action: 'tolerate', limit: 0 });
const MINUTE = 60_000;

/** A threshold condition on a builtin metric over a trailing minute, with at least 20 requests behind the value. */
function above(name: string, metric: 'error_rate' | 'p95_latency' | 'p99_latency', max: number, forMs: number): AlertCondition {
  return {
    rule: {
      name, kind: 'threshold', metric: { kind: 'builtin', metric }, max, min: null, forMs: 0, windowMs: MINUTE, minSamples: 20,
      onInconclusive: UNUSED, onError: UNUSED,
    },
    forMs,
  };
}

/**
 * The runbooks' alert thresholds:
 *
 * | tier | runbook | conditions | action |
 * |---|---|---|---|
 * | p0 | "Error rate > 10% for 2 minutes", "P99 response time > 10 seconds" | error_rate > 0.10 for 2m; p99_latency > 10 s | rollback |
 * | p1 | "Error rate > 5% for 5 minutes", "P95 response time > 2 seconds for 5 minutes" | error_rate > 0.05 for 5m; p95_latency > 2 s for 5m | freeze |
 * | p2 | "Error rate > 2% for 10 minutes", "P95 response time > 1 second for 10 minutes" | error_rate > 0.02 for 10m; p95_latency > 1 s for 10m | none |
 *
 * Each value is measured over the trailing minute and needs 20 requests behind it.
 *
 * @example
 * RUNBOOK_TIERS.map((t) => t.name); // ['p0', 'p1', 'p2']
 */
export const RUNBOOK_TIERS: readonly PresetTier[] = deepFreeze([
  { name: 'p0', action: 'rollback', conditions: [above('error-rate', 'error_rate', 0.10, 2 * MINUTE), above('p99-latency', 'p99_latency', 10, 0)] },
  { name: 'p1', action: 'freeze', conditions: [above('error-rate', 'error_rate', 0.05, 5 * MINUTE), above('p95-latency', 'p95_latency', 2, 5 * MINUTE)] },
  { name: 'p2', action: 'none', conditions: [above('error-rate', 'error_rate', 0.02, 10 * MINUTE), above('p95-latency', 'p95_latency', 1, 10 * MINUTE)] },
]);

/** Preset tiers by preset name. */
export const ALERT_TIER_PRESETS: Readonly<Record<string, readonly PresetTier[]>> = Object.freeze({ 'runbook-tiers': RUNBOOK_TIERS });

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
