/**
 * The statistical judge: compares the canary with the stable release on raw request windows.
 *
 * - Errors: the anytime-valid sequential test of sequential.ts, so that evaluating every
 *   interval does not inflate false rollbacks; the fixed-sample two-proportion z-test is
 *   reported beside it for people reading the evidence.
 * - Latency: one-sided Mann-Whitney U ("canary slower") on the latency histograms, each bucket
 *   one tie group, plus an effect-size guard: the canary's median must also exceed
 *   `maxLatencyShift` × the stable median, so that huge samples do not fail a canary on a
 *   difference nobody would notice.
 * - Minimum samples: below `minSamples` requests for either release the verdict is
 *   `inconclusive`, never `pass`. The sequential error test is valid at any sample size, so
 *   a rejection by it fails the canary even below the minimum — failing fast on strong
 *   evidence is what keeps a bad canary's blast radius small. The latency test is a
 *   fixed-sample test and waits for the minimum.
 */
import type { AnalysisRule, Direction, EffectSize } from '../config/types.js';
import { isSeriesSource, type RequestWindow } from '../metrics/provider.js';
import { bucketQuantile } from '../core/histogram.js';
import { mannWhitneyU, type Alternative, type Binned, type MannWhitneyResult } from './mann-whitney.js';
import { twoProportionZ } from './proportions.js';
import { sequentialErrorTest } from './sequential.js';
import { formatDuration, formatNumber, formatSeconds, formatValue, type AnalysisContext, type RuleOutcome } from './rules.js';
import type { Measurement, RuleState, Verdict } from './types.js';

type JudgeRule = Extract<AnalysisRule, { kind: 'judge' }>;

/**
 * A latency histogram as tie groups for {@link mannWhitneyU}: each bucket at its upper bound,
 * the overflow bucket at +Infinity.
 *
 * @example
 * binnedFromWindow({ total: 3, errors: 0, bounds: [0.1, 1], buckets: [1, 1, 1] });
 * // { values: [0.1, 1, Infinity], counts: [1, 1, 1] }
 */
export function binnedFromWindow(w: RequestWindow): Binned {
  return { values: [...w.bounds, Infinity], counts: [...w.buckets] };
}

/**
 * Median latency of a window in seconds, interpolated inside its bucket the way PromQL's
 * `histogram_quantile` does; 0 without requests.
 *
 * @example
 * medianLatency({ total: 10, errors: 0, bounds: [0.1, 1], buckets: [0, 10, 0] }); // 0.55
 */
export function medianLatency(w: RequestWindow): number {
  return bucketQuantile(0.5, w.bounds, w.buckets);
}

/** Which way the canary differs from stable, by its effect size against the neutral value. */
export type Change = 'increase' | 'decrease' | 'none';

/** The alternative of the rank test for a direction. */
export function alternativeFor(direction: Direction): Alternative {
  return direction === 'increase' ? 'greater' : direction === 'decrease' ? 'less' : 'two-sided';
}

/**
 * The judge's decision on one difference: it fails when the test is significant at `alpha`,
 * the difference goes a way the direction watches, and its effect size is outside the
 * tolerance band (above `allowedIncrease` or below `allowedDecrease`). A significant
 * difference inside the band passes (Kayenta's allowedIncrease / allowedDecrease).
 *
 * @example
 * judgeDifference(1e-6, 0.7, 1, 'decrease', { measure: 'meanRatio', allowedIncrease: 1, allowedDecrease: 0.9 }, 0.01);
 * // { change: 'decrease', significant: true, outside: true, fail: true }
 */
export function judgeDifference(pValue: number, effect: number, neutral: number, direction: Direction, band: EffectSize, alpha: number): { change: Change; significant: boolean; outside: boolean; fail: boolean } {
  const change: Change = effect > neutral ? 'increase' : effect < neutral ? 'decrease' : 'none';
  const significant = pValue < alpha;
  const outside = change === 'increase' ? effect > band.allowedIncrease : change === 'decrease' ? effect < band.allowedDecrease : false;
  const watched = change === 'increase' ? direction !== 'decrease' : change === 'decrease' ? direction !== 'increase' : false;
  return { change, significant, outside, fail: significant && outside && watched };
}

/**
 * Why a request window cannot be ranked or counted, or null when it is sound: every count a
 * finite non-negative number, bucket bounds finite and ascending, one more bucket than bounds.
 * A NaN or infinite input is refused by name instead of being counted somewhere.
 *
 * @example
 * windowProblem({ total: 2, errors: 0, bounds: [0.1, NaN], buckets: [1, 1, 0] });
 * // 'latency bucket bound 2 is NaN, not a finite number of seconds'
 */
export function windowProblem(w: RequestWindow): string | null {
  for (const [what, v] of [['request total', w.total], ['failed requests', w.errors]] as const) {
    if (!Number.isFinite(v) || v < 0) return `${what} is ${v}, not a finite non-negative count`;
  }
  if (w.errors > w.total) return `failed requests ${w.errors} exceed the total ${w.total}`;
  if (w.buckets.length !== w.bounds.length + 1) return `${w.buckets.length} latency buckets for ${w.bounds.length} bounds (expected ${w.bounds.length + 1})`;
  for (let i = 0; i < w.bounds.length; i++) {
    const b = w.bounds[i]!;
    if (!Number.isFinite(b)) return `latency bucket bound ${i + 1} is ${b}, not a finite number of seconds`;
    if (i > 0 && !(b > w.bounds[i - 1]!)) return `latency bucket bounds are not ascending at bound ${i + 1} (${w.bounds[i - 1]} then ${b})`;
  }
  for (let i = 0; i < w.buckets.length; i++) {
    const c = w.buckets[i]!;
    if (!Number.isFinite(c) || c < 0) return `latency bucket ${i + 1} holds ${c}, not a finite non-negative count`;
  }
  return null;
}

function pct(v: number): string {
  return `${formatNumber(v * 100, 3)}%`;
}

function p(v: number): string {
  return v < 1e-4 ? `p = ${v.toExponential(1)}` : `p = ${formatNumber(v, 2)}`;
}

/**
 * Evaluates a judge rule: request windows of both releases over `windowMs`, the error and
 * latency tests, and a verdict with the p-values, rates, medians and sample counts behind it.
 *
 * @example
 * // canary 12 errors in 500 requests, stable 10 in 9500, alpha 0.01 →
 * // { verdict: 'fail', reason: 'error rate 2.4% vs stable 0.105%: canary fails more (sequential test, p = 2.2e-9 < α 0.01)' }
 */
export async function evaluateJudge(rule: JudgeRule, ctx: AnalysisContext, prev: RuleState): Promise<RuleOutcome> {
  if (rule.metric !== null) return evaluateMetricJudge(rule, ctx, prev);
  const now = ctx.now;
  const state: RuleState = { ...prev, breachSince: null };
  const done = (verdict: Verdict, reason: string, measurements: Measurement[]): RuleOutcome => ({
    verdict: { rule: rule.name, kind: rule.kind, verdict, reason, measurements, at: now },
    state,
  });
  if (ctx.stable === null) return done('inconclusive', 'inconclusive: no stable release to compare with', []);
  if (ctx.requests === null) return done('error', 'the judge needs request windows, which no configured metric provider gives (the builtin provider does)', []);
  const q = { service: ctx.service, environment: ctx.environment, windowMs: rule.windowMs, now };
  const [cw, sw] = await Promise.all([
    ctx.requests.requestWindow({ ...q, version: ctx.canary }),
    ctx.requests.requestWindow({ ...q, version: ctx.stable }),
  ]);
  if ('phase' in cw) return done('error', `request window of canary ${ctx.canary}: ${cw.detail}`, []);
  if ('phase' in sw) return done('error', `request window of stable ${ctx.stable}: ${sw.detail}`, []);
  for (const [who, version, w] of [['canary', ctx.canary, cw], ['stable', ctx.stable, sw]] as const) {
    const problem = windowProblem(w);
    if (problem !== null) return done('error', `request window of ${who} ${version} refused: ${problem}; the request metrics are broken, so nothing was counted`, []);
  }

  const samples = { canary: cw.total, stable: sw.total };
  const measurements: Measurement[] = [];
  const fails: string[] = [];
  const passes: string[] = [];
  const enough = cw.total >= rule.minSamples && sw.total >= rule.minSamples;

  if (rule.errors) {
    const canaryRate = cw.total > 0 ? cw.errors / cw.total : null;
    const stableRate = sw.total > 0 ? sw.errors / sw.total : null;
    const seq = sequentialErrorTest({ total: cw.total, errors: cw.errors }, { total: sw.total, errors: sw.errors }, rule.alpha);
    const z = cw.total > 0 && sw.total > 0 ? twoProportionZ(Math.round(cw.errors), cw.total, Math.round(sw.errors), sw.total) : null;
    measurements.push({
      at: now,
      metric: 'error_rate',
      canary: canaryRate,
      stable: stableRate,
      samples,
      detail: {
        test: 'mixture SPRT on the origin of errors',
        pValue: seq.pValue,
        bayesFactor: seq.bayesFactor,
        canaryShare: seq.canaryShare,
        errorShare: seq.errorShare,
        canaryErrors: cw.errors,
        stableErrors: sw.errors,
        zTestZ: z?.z ?? null,
        zTestPValue: z?.pValue ?? null,
        alpha: rule.alpha,
      },
    });
    const rates = `error rate ${pct(canaryRate ?? 0)} vs stable ${pct(stableRate ?? 0)}`;
    if (seq.reject) fails.push(`${rates}: canary fails more (sequential test, ${p(seq.pValue)} < α ${rule.alpha})`);
    else passes.push(`${rates} (${p(seq.pValue)})`);
  }

  if (rule.latency && enough) {
    const alternative = alternativeFor(rule.direction);
    const mw = mannWhitneyU(binnedFromWindow(cw), binnedFromWindow(sw), alternative);
    const cm = medianLatency(cw);
    const sm = medianLatency(sw);
    const shift = sm > 0 ? cm / sm : cm > 0 ? Infinity : 1;
    const band = rule.effectSize;
    const effect = band.measure === 'cles' ? mw.cles : shift;
    const verdict = judgeDifference(mw.pValue, effect, band.measure === 'cles' ? 0.5 : 1, rule.direction, band, rule.alpha);
    measurements.push({
      at: now,
      metric: 'median_latency',
      canary: cm,
      stable: sm,
      samples,
      detail: {
        test: `Mann-Whitney U, ${TEST_SIDES[alternative]}`, pValue: mw.pValue, u: mw.u, z: mw.z, method: mw.method, shift, cles: mw.cles,
        measure: band.measure, allowedIncrease: band.allowedIncrease, allowedDecrease: band.allowedDecrease, direction: rule.direction, change: verdict.change, alpha: rule.alpha,
      },
    });
    const size = band.measure === 'cles' ? `cles ${formatNumber(mw.cles, 3)}` : `${formatNumber(shift, 3)}x`;
    const medians = `median latency ${formatSeconds(cm)} vs stable ${formatSeconds(sm)} (${size}`;
    if (verdict.fail) {
      const limit = verdict.change === 'increase' ? `> ${formatEffect(band.measure, band.allowedIncrease)}` : `< ${formatEffect(band.measure, band.allowedDecrease)}`;
      const way = rule.direction === 'increase' ? '' : `, ${verdict.change === 'increase' ? 'slower' : 'faster'}`;
      fails.push(`${medians} ${limit}${way}; Mann-Whitney ${p(mw.pValue)} < α ${rule.alpha})`);
    } else {
      passes.push(`${medians}, ${p(mw.pValue)})`);
    }
  }

  if (fails.length > 0) return done('fail', fails.join('; '), measurements);
  if (!enough) {
    const short = cw.total < rule.minSamples ? `${cw.total} canary requests` : `${sw.total} stable requests`;
    return done('inconclusive', `inconclusive: ${short} < ${rule.minSamples} over ${formatDuration(rule.windowMs)}`, measurements);
  }
  if (!rule.errors && !rule.latency) return done('inconclusive', 'inconclusive: the judge tests neither errors nor latency', measurements);
  return done('pass', `no regression at α ${rule.alpha}: ${passes.join('; ')}`, measurements);
}

const TEST_SIDES: Record<Alternative, string> = {
  greater: 'one-sided (canary higher)',
  less: 'one-sided (canary lower)',
  'two-sided': 'two-sided',
};

function formatEffect(measure: EffectSize['measure'], v: number): string {
  return measure === 'cles' ? formatNumber(v, 3) : `${formatNumber(v, 3)}x`;
}

/** A list of observations as tie groups, one per value. */
function asBinned(values: readonly number[]): Binned {
  return { values, counts: values.map(() => 1) };
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * The judge of one metric (Kayenta's way): the metric's value every `stepMs` over the window for
 * canary and stable, a Mann-Whitney U test in the rule's direction (exact for small samples
 * without ties, see {@link mannWhitneyU}), and an effect size (`meanRatio`, `medianShift` or
 * `cles`) held against the tolerance band. It reports which way the canary differs.
 *
 * - No stable release, no data for either release, or fewer than `minSamples` samples of
 *   either: `inconclusive`, never `pass`.
 * - A NaN or infinite sample is refused with an `error` naming the release and the sample.
 * - A ratio measure with a stable mean (or median) of 0 or below is undefined: `inconclusive`.
 *
 * @example
 * // signups per request: canary [0.34, 0.35, …] (10 samples) vs stable [0.5, 0.49, …], direction decrease →
 * // { verdict: 'fail', reason: 'signups: mean 0.35 vs stable 0.5 (0.7x < 1x, down; Mann-Whitney exact p = 5.4e-6 < α 0.01)' }
 */
export async function evaluateMetricJudge(rule: JudgeRule, ctx: AnalysisContext, prev: RuleState): Promise<RuleOutcome> {
  const now = ctx.now;
  const state: RuleState = { ...prev, breachSince: null };
  const done = (verdict: Verdict, reason: string, measurements: Measurement[]): RuleOutcome => ({
    verdict: { rule: rule.name, kind: rule.kind, verdict, reason, measurements, at: now },
    state,
  });
  const source = rule.metric!;
  const label = rule.name;
  if (ctx.stable === null) return done('inconclusive', `inconclusive: no stable release to compare ${label} with`, []);
  const provider = ctx.provider(source);
  if (!isSeriesSource(provider)) {
    const why = await provider.measure(source, { service: ctx.service, environment: ctx.environment, version: ctx.canary, windowMs: rule.stepMs, now });
    return done('error', why.phase === 'error' ? `${label}: ${why.detail}` : `${label}: a ${source.kind} metric has no history to sample; judge a prometheus metric`, []);
  }
  const q = { service: ctx.service, environment: ctx.environment, windowMs: rule.windowMs, now };
  const [c, s] = await Promise.all([
    provider.series(source, { ...q, version: ctx.canary }, rule.stepMs),
    provider.series(source, { ...q, version: ctx.stable }, rule.stepMs),
  ]);
  const base = { direction: rule.direction, measure: rule.effectSize.measure, allowedIncrease: rule.effectSize.allowedIncrease, allowedDecrease: rule.effectSize.allowedDecrease, alpha: rule.alpha, stepMs: rule.stepMs, windowMs: rule.windowMs };
  for (const [who, r] of [['canary', c], ['stable', s]] as const) {
    if (r.phase === 'error') return done('error', `${label} (${who}): ${r.detail}`, [{ at: now, metric: label, canary: null, stable: null, detail: { ...base, error: r.detail } }]);
  }
  for (const [who, version, r] of [['canary', ctx.canary, c], ['stable', ctx.stable, s]] as const) {
    if (r.phase === 'nodata') return done('inconclusive', `inconclusive: no data for ${who} ${label} over ${formatDuration(rule.windowMs)} (${r.detail})`, []);
    if (r.phase !== 'ok') continue;
    const bad = r.values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      const detail = `${label}: sample ${bad + 1} of ${r.values.length} for ${who} ${version} is ${r.values[bad]}; NaN and infinite values are refused, not ranked`;
      return done('error', `${detail} (a ratio over no traffic gives NaN: guard the query, e.g. with \`and on() sum(...) > 0\`)`, [{ at: now, metric: label, canary: null, stable: null, detail: { ...base, error: detail } }]);
    }
  }
  if (c.phase !== 'ok' || s.phase !== 'ok') throw new Error('unreachable');
  const samples = { canary: c.values.length, stable: s.values.length };
  const ratioMeasure = rule.effectSize.measure !== 'cles';
  const centre = rule.effectSize.measure === 'medianShift' ? median : mean;
  const centreName = rule.effectSize.measure === 'medianShift' ? 'median' : 'mean';
  const cv = c.values.length > 0 ? centre(c.values) : null;
  const sv = s.values.length > 0 ? centre(s.values) : null;
  const m: Measurement = { at: now, metric: label, canary: cv, stable: sv, samples, detail: { ...base } };
  for (const [who, values] of [['canary', c.values], ['stable', s.values]] as const) {
    if (values.length < rule.minSamples) {
      return done('inconclusive', `inconclusive: ${values.length} ${who} samples of ${label} < ${rule.minSamples} over ${formatDuration(rule.windowMs)} (every ${formatDuration(rule.stepMs)})`, [m]);
    }
  }
  const fmt = (v: number): string => formatValue(source, v);
  if (ratioMeasure && !(sv! > 0)) {
    if (cv === sv) {
      m.detail = { ...m.detail, change: 'none' };
      return done('pass', `${label}: ${centreName} ${fmt(cv!)} for both releases`, [m]);
    }
    return done('inconclusive', `inconclusive: stable ${centreName} of ${label} is ${fmt(sv!)}, so the ratio to canary ${fmt(cv!)} is undefined (cles has no such limit)`, [m]);
  }
  const alternative = alternativeFor(rule.direction);
  const mw: MannWhitneyResult = mannWhitneyU(asBinned(c.values), asBinned(s.values), alternative, 'auto');
  const effect = ratioMeasure ? cv! / sv! : mw.cles;
  const neutral = ratioMeasure ? 1 : 0.5;
  const verdict = judgeDifference(mw.pValue, effect, neutral, rule.direction, rule.effectSize, rule.alpha);
  m.detail = {
    ...m.detail, test: `Mann-Whitney U, ${TEST_SIDES[alternative]}`, method: mw.method, pValue: mw.pValue, u: mw.u, z: mw.z, cles: mw.cles,
    effect, change: verdict.change,
  };
  const way = verdict.change === 'increase' ? 'up' : verdict.change === 'decrease' ? 'down' : 'no change';
  const size = ratioMeasure ? `${formatNumber(effect, 3)}x` : `cles ${formatNumber(effect, 3)}`;
  const test = `Mann-Whitney${mw.method === 'exact' ? ' exact' : ''} ${p(mw.pValue)}`;
  const head = `${label}: ${centreName} ${fmt(cv!)} vs stable ${fmt(sv!)}`;
  if (verdict.fail) {
    const limit = verdict.change === 'increase' ? `> ${formatEffect(rule.effectSize.measure, rule.effectSize.allowedIncrease)}` : `< ${formatEffect(rule.effectSize.measure, rule.effectSize.allowedDecrease)}`;
    return done('fail', `${head} (${size} ${limit}, ${way}; ${test} < α ${rule.alpha})`, [m]);
  }
  const why = !verdict.significant ? `not significant at α ${rule.alpha}`
    : !verdict.outside ? 'within the tolerance band'
      : `a${verdict.change === 'increase' ? 'n increase' : ' decrease'} is not watched (direction ${rule.direction})`;
  return done('pass', `${head} (${size}, ${way}; ${test}: ${why})`, [m]);
}
