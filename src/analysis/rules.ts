/**
 * Analysis rules over metrics, one function per rule kind: threshold, relative and
 * healthFailures (the statistical judge lives in judge.ts). Each measures once and returns its
 * verdict with the measurements behind it and the rule's state for the next evaluation. A rule
 * never throws for an expected outcome: no data is `inconclusive`, a provider failure is
 * `error`, and the template's policies decide what those mean.
 */
import type { AnalysisRule, BuiltinMetric, MetricSource } from '../config/types.js';
import type { MetricProvider, RequestWindowSource } from '../metrics/provider.js';
import type { Measurement, RuleState, RuleVerdict, Verdict } from './types.js';

/** What the rules need from the orchestrator for one evaluation. */
export interface AnalysisContext {
  service: string;
  environment: string;
  /** The release under analysis. */
  canary: string;
  /** The release it is compared with; null on a first deployment. */
  stable: string | null;
  now: number;
  /** The provider for a metric source. */
  provider(source: MetricSource): MetricProvider;
  /** Raw request windows for the judge; null when no provider can give them. */
  requests: RequestWindowSource | null;
  /** The canary's instances and their consecutive failed health checks. */
  health(): Promise<Array<{ id: string; consecutiveFailures: number; state: string }>>;
}

/** A rule's verdict and the state to keep for its next evaluation. */
export interface RuleOutcome {
  verdict: RuleVerdict;
  state: RuleState;
}

type ThresholdRule = Extract<AnalysisRule, { kind: 'threshold' }>;
type RelativeRule = Extract<AnalysisRule, { kind: 'relative' }>;
type HealthRule = Extract<AnalysisRule, { kind: 'healthFailures' }>;

/** State of a rule never evaluated. */
export const INITIAL_RULE_STATE: RuleState = Object.freeze({ breachSince: null, tolerated: 0 });

/**
 * A duration the way Go prints one, for reasons people read: `2m0s`, `1h0m0s`, `45s`, `1.5s`,
 * `250ms`.
 *
 * @example
 * formatDuration(120_000); // "2m0s"
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${trim(ms, 3)}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const sec = `${trim(s, 6)}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

/** `digits` significant digits without trailing zeros: 0.0710 → "0.071", 2 → "2". */
function trim(v: number, digits: number): string {
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return String(v);
  const s = Math.abs(v) >= 1e-4 && Math.abs(v) < 1e15 ? Number(v.toPrecision(digits)).toString() : v.toPrecision(digits);
  return s;
}

/**
 * A metric value in the unit people expect: error rates as percentages, latencies in ms or s,
 * request rates per second; other sources as plain numbers (3 significant digits).
 *
 * @example
 * formatValue({ kind: 'builtin', metric: 'error_rate' }, 0.0712);   // "7.12%"
 * formatValue({ kind: 'builtin', metric: 'p95_latency' }, 0.35);    // "350ms"
 */
export function formatValue(source: MetricSource, v: number): string {
  if (source.kind === 'builtin') {
    switch (source.metric) {
      case 'error_rate':
        return `${trim(v * 100, 3)}%`;
      case 'request_rate':
        return `${trim(v, 3)}/s`;
      default:
        return formatSeconds(v);
    }
  }
  return trim(v, 3);
}

/** Seconds as `350ms` below one second, `2.1s` above. */
export function formatSeconds(v: number): string {
  return Math.abs(v) < 1 ? `${trim(v * 1000, 3)}ms` : `${trim(v, 3)}s`;
}

/** A p-value or ratio with two significant digits. */
export function formatNumber(v: number, digits = 2): string {
  return trim(v, digits);
}

/** How a rule's metric is named in reasons: the builtin metric's name, else the rule's name. */
export function metricLabel(rule: { name: string; metric: MetricSource }): string {
  return rule.metric.kind === 'builtin' ? rule.metric.metric : rule.name;
}

/**
 * The smallest base an increase is measured against, per builtin metric. Relative changes of
 * tiny values are noise: at a 0.1% error rate one extra failed request in a few hundred is
 * "up 50%". So `maxIncrease` compares (canary − stable) / max(stable, floor); for the error
 * rate that means "up by more than maxIncrease × 3 percentage points" while the stable rate is
 * below 3% (with 0.02 the benchmark's good canaries were still rolled back now and then).
 * Other sources have no known unit and no floor.
 */
export const INCREASE_FLOORS: Readonly<Record<BuiltinMetric, number>> = Object.freeze({
  error_rate: 0.03,
  request_rate: 1,
  p50_latency: 0.005,
  p95_latency: 0.005,
  p99_latency: 0.005,
});

function outcome(rule: AnalysisRule, verdict: Verdict, reason: string, measurements: Measurement[], at: number, state: RuleState): RuleOutcome {
  return { verdict: { rule: rule.name, kind: rule.kind, verdict, reason, measurements, at }, state };
}

/**
 * Threshold rule: measures the canary over `windowMs` and fails when the value stays above
 * `max` (or below `min`) for `forMs`.
 *
 * - A breach starts a clock (`breachSince` in the state); the verdict is `pass` with a
 *   "breaching for …" reason until the breach has lasted `forMs`, then `fail`.
 * - Anything that is not an observed breach — a value within limits, no data, too few
 *   requests, a provider error — ends the breach: "for 2m" means two minutes of observed
 *   breach, and a gap we could not measure is not evidence that it went on.
 * - No data or fewer than `minSamples` requests (when the provider knows the count) is
 *   `inconclusive`, never a pass.
 *
 * @example
 * // error_rate 7.1% since 2 minutes ago, max 5%, for 2m →
 * // { verdict: 'fail', reason: 'error_rate 7.1% > 5% for 2m0s' }
 */
export async function evaluateThreshold(rule: ThresholdRule, ctx: AnalysisContext, prev: RuleState): Promise<RuleOutcome> {
  const now = ctx.now;
  const label = metricLabel(rule);
  const r = await ctx.provider(rule.metric).measure(rule.metric, { service: ctx.service, environment: ctx.environment, version: ctx.canary, windowMs: rule.windowMs, now });
  const cleared: RuleState = { ...prev, breachSince: null };
  const detail = { max: rule.max, min: rule.min, forMs: rule.forMs, windowMs: rule.windowMs };
  if (r.phase === 'error') {
    return outcome(rule, 'error', `${label}: ${r.detail}`, [{ at: now, metric: label, canary: null, stable: null, detail: { ...detail, error: r.detail } }], now, cleared);
  }
  if (r.phase === 'nodata') {
    return outcome(rule, 'inconclusive', `inconclusive: no data for ${label} over ${formatDuration(rule.windowMs)} (${r.detail})`, [{ at: now, metric: label, canary: null, stable: null, detail }], now, cleared);
  }
  const m: Measurement = { at: now, metric: label, canary: r.value, stable: null, samples: { canary: r.samples, stable: null }, detail };
  if (r.samples !== null && r.samples < rule.minSamples) {
    return outcome(rule, 'inconclusive', `inconclusive: ${r.samples} requests < ${rule.minSamples} over ${formatDuration(rule.windowMs)}`, [m], now, cleared);
  }
  const fmt = (v: number): string => formatValue(rule.metric, v);
  let breach: string | null = null;
  if (rule.max !== null && r.value > rule.max) breach = `${label} ${fmt(r.value)} > ${fmt(rule.max)}`;
  else if (rule.min !== null && r.value < rule.min) breach = `${label} ${fmt(r.value)} < ${fmt(rule.min)}`;
  if (breach === null) {
    const limits = [rule.min !== null ? `>= ${fmt(rule.min)}` : null, rule.max !== null ? `<= ${fmt(rule.max)}` : null].filter((s) => s !== null).join(' and ');
    return outcome(rule, 'pass', `${label} ${fmt(r.value)} ${limits || 'has no limits'}`, [m], now, cleared);
  }
  const since = prev.breachSince ?? now;
  const lasted = now - since;
  m.detail = { ...detail, breachSince: since };
  const state: RuleState = { ...prev, breachSince: since };
  if (lasted >= rule.forMs) return outcome(rule, 'fail', rule.forMs > 0 ? `${breach} for ${formatDuration(lasted)}` : breach, [m], now, state);
  return outcome(rule, 'pass', `breaching: ${breach} for ${formatDuration(lasted)} (fails at ${formatDuration(rule.forMs)})`, [m], now, state);
}

/**
 * Relative rule: measures the canary and the stable release over the same window and fails
 * when it differs in a direction the rule checks (`direction`: increase, decrease or either):
 * canary / stable > `maxRatio` (up) or < 1 / `maxRatio` (down), (canary − stable) / base >
 * `maxIncrease`, or (stable − canary) / base > `maxDecrease`, where base is max(stable, floor)
 * for builtin metrics ({@link INCREASE_FLOORS}) and stable otherwise. The measurement keeps the
 * direction and the way the canary differs (`change`).
 *
 * - No stable release, no data for either, or fewer than `minSamples` requests behind either
 *   value: `inconclusive`.
 * - Stable value 0: the ratio is undefined, so `maxRatio` passes only when the canary is 0 too
 *   and is `inconclusive` otherwise; `maxIncrease` uses the floor, or without one behaves
 *   like `maxRatio`.
 *
 * @example
 * // p95 640ms vs stable 200ms, maxRatio 2 →
 * // { verdict: 'fail', reason: 'p95_latency 640ms is 3.2x stable 200ms (max 2x)' }
 */
export async function evaluateRelative(rule: RelativeRule, ctx: AnalysisContext, prev: RuleState): Promise<RuleOutcome> {
  const now = ctx.now;
  const label = metricLabel(rule);
  const state: RuleState = { ...prev, breachSince: null };
  const detail = { direction: rule.direction, maxRatio: rule.maxRatio, maxIncrease: rule.maxIncrease, maxDecrease: rule.maxDecrease, windowMs: rule.windowMs };
  if (ctx.stable === null) {
    return outcome(rule, 'inconclusive', `inconclusive: no stable release to compare ${label} with`, [], now, state);
  }
  const provider = ctx.provider(rule.metric);
  const q = { service: ctx.service, environment: ctx.environment, windowMs: rule.windowMs, now };
  const [c, s] = await Promise.all([
    provider.measure(rule.metric, { ...q, version: ctx.canary }),
    provider.measure(rule.metric, { ...q, version: ctx.stable }),
  ]);
  const m: Measurement = {
    at: now,
    metric: label,
    canary: c.phase === 'ok' ? c.value : null,
    stable: s.phase === 'ok' ? s.value : null,
    samples: { canary: c.phase === 'ok' ? c.samples : null, stable: s.phase === 'ok' ? s.samples : null },
    detail,
  };
  for (const [who, r] of [['canary', c], ['stable', s]] as const) {
    if (r.phase === 'error') return outcome(rule, 'error', `${label} (${who}): ${r.detail}`, [{ ...m, detail: { ...detail, error: r.detail } }], now, state);
  }
  for (const [who, r] of [['canary', c], ['stable', s]] as const) {
    if (r.phase === 'nodata') return outcome(rule, 'inconclusive', `inconclusive: no data for ${who} ${label} over ${formatDuration(rule.windowMs)} (${r.detail})`, [m], now, state);
  }
  if (c.phase !== 'ok' || s.phase !== 'ok') throw new Error('unreachable');
  for (const [who, r] of [['canary', c], ['stable', s]] as const) {
    if (r.samples !== null && r.samples < rule.minSamples) {
      return outcome(rule, 'inconclusive', `inconclusive: ${r.samples} ${who} requests < ${rule.minSamples} over ${formatDuration(rule.windowMs)}`, [m], now, state);
    }
  }
  const fmt = (v: number): string => formatValue(rule.metric, v);
  const cv = c.value;
  const sv = s.value;
  const up = rule.direction !== 'decrease';
  const down = rule.direction !== 'increase';
  const change = cv > sv ? 'increase' : cv < sv ? 'decrease' : 'none';
  m.detail = { ...m.detail, change };
  const fails: string[] = [];
  const passes: string[] = [];
  const unknown: string[] = [];
  if (rule.maxRatio !== null) {
    const r = rule.maxRatio;
    if (sv === 0 && cv === 0) passes.push(`${label} is 0 for both releases`);
    else if (up && cv > sv && sv <= 0) unknown.push(`stable ${label} is ${fmt(sv)}, so the ratio to canary ${fmt(cv)} is undefined`);
    else if (down && cv < sv && cv <= 0) unknown.push(`canary ${label} is ${fmt(cv)}, so the ratio to stable ${fmt(sv)} is undefined`);
    else if (sv !== 0) {
      const ratio = cv / sv;
      m.detail = { ...m.detail, ratio };
      const limit = rule.direction === 'increase' ? `max ${formatNumber(r, 3)}x` : rule.direction === 'decrease' ? `min ${formatNumber(1 / r, 3)}x` : `${formatNumber(1 / r, 3)}x to ${formatNumber(r, 3)}x`;
      const text = `${label} ${fmt(cv)} is ${formatNumber(ratio, 3)}x stable ${fmt(sv)} (${limit})`;
      ((up && ratio > r) || (down && ratio < 1 / r) ? fails : passes).push(text);
    } else {
      passes.push(`${label} ${fmt(cv)} is not ${up ? 'below' : 'above'} stable ${fmt(sv)}`);
    }
  }
  const floor = rule.metric.kind === 'builtin' ? INCREASE_FLOORS[rule.metric.metric] : 0;
  const base = Math.max(sv, floor);
  for (const [limit, isUp] of [[rule.maxIncrease, true], [rule.maxDecrease, false]] as const) {
    if (limit === null || (isUp ? !up : !down)) continue;
    if (base <= 0) {
      if (cv === sv) passes.push(`${label} is ${fmt(cv)} for both releases`);
      else if (isUp ? cv < sv : cv > sv) passes.push(`${label} ${fmt(cv)} is ${isUp ? 'down' : 'up'} from stable ${fmt(sv)}`);
      else unknown.push(`stable ${label} is ${fmt(sv)}, so the ${isUp ? 'increase' : 'decrease'} to canary ${fmt(cv)} is undefined`);
      continue;
    }
    const increase = (cv - sv) / base;
    m.detail = { ...m.detail, increase, base };
    const against = base > sv ? `against the ${fmt(floor)} floor; ` : '';
    const text = `${label} ${fmt(cv)} is ${increase >= 0 ? 'up' : 'down'} ${formatNumber(Math.abs(increase) * 100, 3)}% on stable ${fmt(sv)} (${against}max ${isUp ? '+' : '−'}${formatNumber(limit * 100, 3)}%)`;
    if (passes.includes(text) || fails.includes(text)) continue;
    ((isUp ? increase > limit : -increase > limit) ? fails : passes).push(text);
  }
  if (fails.length > 0) return outcome(rule, 'fail', fails.join('; '), [m], now, state);
  if (unknown.length > 0) return outcome(rule, 'inconclusive', `inconclusive: ${unknown.join('; ')}`, [m], now, state);
  if (passes.length === 0) return outcome(rule, 'inconclusive', `inconclusive: the rule sets no limit that direction ${rule.direction} checks`, [m], now, state);
  return outcome(rule, 'pass', passes.join('; '), [m], now, state);
}

/**
 * Health rule: fails when any canary instance has failed `consecutive` health checks in a
 * row. No instances reporting is `inconclusive`.
 *
 * @example
 * // instances [{ id: 'web-2', consecutiveFailures: 4 }], consecutive 4 →
 * // { verdict: 'fail', reason: 'instance web-2: 4 consecutive failed health checks (fails at 4)' }
 */
export async function evaluateHealthFailures(rule: HealthRule, ctx: AnalysisContext, prev: RuleState): Promise<RuleOutcome> {
  const now = ctx.now;
  const state: RuleState = { ...prev, breachSince: null };
  const instances = await ctx.health();
  const worst = instances.reduce<{ id: string; consecutiveFailures: number } | null>((w, i) => (w === null || i.consecutiveFailures > w.consecutiveFailures ? i : w), null);
  const m: Measurement = { at: now, metric: 'consecutive_health_failures', canary: worst?.consecutiveFailures ?? null, stable: null, detail: { consecutive: rule.consecutive, instances: instances.length, worst: worst?.id ?? null } };
  if (worst === null) return outcome(rule, 'inconclusive', 'inconclusive: no canary instance reports health checks', [m], now, state);
  const checks = (n: number): string => `${n} consecutive failed health check${n === 1 ? '' : 's'}`;
  if (worst.consecutiveFailures >= rule.consecutive) {
    return outcome(rule, 'fail', `instance ${worst.id}: ${checks(worst.consecutiveFailures)} (fails at ${rule.consecutive})`, [m], now, state);
  }
  return outcome(rule, 'pass', `at most ${checks(worst.consecutiveFailures)} across ${instances.length} instance${instances.length === 1 ? '' : 's'} (fails at ${rule.consecutive})`, [m], now, state);
}
