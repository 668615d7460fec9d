/**
 * Built-in analysis templates and the default canary steps. Every figure is explained in
 * docs/analysis.md; the canary steps were tuned with bench/canary.
 */
import type { AnalysisTemplate, CanaryStep, VerdictPolicy } from '../config/types.js';

/**
 * Low traffic gives inconclusive verdicts, and low traffic must not fail a canary: tolerate an
 * hour of them in a row (360 intervals of 10 s). The engine still refuses to finish an
 * analysis step on rules that never passed — it pauses for a person instead.
 */
const TOLERATE_LOW_TRAFFIC: VerdictPolicy = Object.freeze({ action: 'tolerate', limit: 360 });
/** A metric source that fails three times in a row (30 s) pauses the rollout for a person. */
const PAUSE_AFTER_ERRORS: VerdictPolicy = Object.freeze({ action: 'pause', limit: 3 });

/**
 * The thresholds of the runbooks as one template, `runbook-defaults`:
 *
 * | rule | runbook | how |
 * |---|---|---|
 * | error-rate | "error rate > 5% for 2 minutes" | threshold, builtin error_rate over 1m, for 2m |
 * | p95-latency | "P95 latency > 2 s for 5 minutes" | threshold, builtin p95_latency over 1m, for 5m |
 * | error-rate-vs-stable | "error rate up by more than 50% vs stable" | relative, maxIncrease 0.5 over 2m, ≥ 200 requests |
 * | latency-vs-stable | "response time more than 2x the baseline" | relative, p95 maxRatio 2 over 2m, ≥ 50 requests |
 * | health | "roll back after more than 3 consecutive health-check failures" | healthFailures, consecutive 4 |
 * | judge | — | statistical judge: errors and latency, α 0.01, ≥ 200 requests, median shift > 1.5x |
 *
 * @example
 * const ev = await evaluateTemplate(RUNBOOK_DEFAULTS, ctx, state);
 */
export const RUNBOOK_DEFAULTS: AnalysisTemplate = deepFreeze({
  name: 'runbook-defaults',
  intervalMs: 10_000,
  rules: [
    {
      name: 'error-rate', kind: 'threshold', metric: { kind: 'builtin', metric: 'error_rate' },
      max: 0.05, min: null, forMs: 120_000, windowMs: 60_000, minSamples: 20,
      onInconclusive: TOLERATE_LOW_TRAFFIC, onError: PAUSE_AFTER_ERRORS,
    },
    {
      name: 'p95-latency', kind: 'threshold', metric: { kind: 'builtin', metric: 'p95_latency' },
      max: 2, min: null, forMs: 300_000, windowMs: 60_000, minSamples: 20,
      onInconclusive: TOLERATE_LOW_TRAFFIC, onError: PAUSE_AFTER_ERRORS,
    },
    {
      name: 'error-rate-vs-stable', kind: 'relative', metric: { kind: 'builtin', metric: 'error_rate' }, direction: 'increase',
      maxRatio: null, maxIncrease: 0.5, maxDecrease: null, windowMs: 120_000, minSamples: 200,
      onInconclusive: TOLERATE_LOW_TRAFFIC, onError: PAUSE_AFTER_ERRORS,
    },
    {
      name: 'latency-vs-stable', kind: 'relative', metric: { kind: 'builtin', metric: 'p95_latency' }, direction: 'increase',
      maxRatio: 2, maxIncrease: null, maxDecrease: null, windowMs: 120_000, minSamples: 50,
      onInconclusive: TOLERATE_LOW_TRAFFIC, onError: PAUSE_AFTER_ERRORS,
    },
    {
      name: 'health', kind: 'healthFailures', consecutive: 4,
      onInconclusive: TOLERATE_LOW_TRAFFIC, onError: PAUSE_AFTER_ERRORS,
    },
    {
      name: 'judge', kind: 'judge', metric: null, errors: true, latency: true, alpha: 0.002, minSamples: 200,
      windowMs: 600_000, stepMs: 30_000, direction: 'increase',
      effectSize: { measure: 'medianShift', allowedIncrease: 1.5, allowedDecrease: 1 / 1.5 },
      onInconclusive: TOLERATE_LOW_TRAFFIC, onError: PAUSE_AFTER_ERRORS,
    },
  ],
});

/** Built-in templates by name; a config may not define a template with one of these names. */
export const PRESETS: Record<string, AnalysisTemplate> = Object.freeze({ [RUNBOOK_DEFAULTS.name]: RUNBOOK_DEFAULTS });

/**
 * The steps of `canary: {}`: 5% of requests with two minutes of `runbook-defaults`, then 25%
 * and 50% the same way, then everything. The first step is small because most bad canaries
 * are caught there (bench/canary: the blast radius scales with the first weight), and long
 * enough at moderate traffic for the judge's 200 requests.
 *
 * @example
 * const strategy: CanaryStrategy = { kind: 'canary', steps: DEFAULT_CANARY_STEPS, stickySessions: null, scaleDownDelayMs: 30_000 };
 */
export const DEFAULT_CANARY_STEPS: CanaryStep[] = deepFreeze<CanaryStep[]>([
  { kind: 'setWeight', weight: 5 },
  { kind: 'analysis', template: RUNBOOK_DEFAULTS.name, durationMs: 120_000 },
  { kind: 'setWeight', weight: 25 },
  { kind: 'analysis', template: RUNBOOK_DEFAULTS.name, durationMs: 120_000 },
  { kind: 'setWeight', weight: 50 },
  { kind: 'analysis', template: RUNBOOK_DEFAULTS.name, durationMs: 120_000 },
  { kind: 'setWeight', weight: 100 },
]);

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
