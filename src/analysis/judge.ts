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
import type { AnalysisRule } from '../config/types.js';
import type { RequestWindow } from '../metrics/provider.js';
import { bucketQuantile } from '../core/histogram.js';
import { mannWhitneyU, type Binned } from './mann-whitney.js';
import { twoProportionZ } from './proportions.js';
import { sequentialErrorTest } from './sequential.js';
import { formatDuration, formatNumber, formatSeconds, type AnalysisContext, type RuleOutcome } from './rules.js';
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
    const mw = mannWhitneyU(binnedFromWindow(cw), binnedFromWindow(sw), 'greater');
    const cm = medianLatency(cw);
    const sm = medianLatency(sw);
    const shift = sm > 0 ? cm / sm : cm > 0 ? Infinity : 1;
    measurements.push({
      at: now,
      metric: 'median_latency',
      canary: cm,
      stable: sm,
      samples,
      detail: { test: 'Mann-Whitney U, one-sided (canary slower)', pValue: mw.pValue, u: mw.u, z: mw.z, shift, maxLatencyShift: rule.maxLatencyShift, alpha: rule.alpha },
    });
    const medians = `median latency ${formatSeconds(cm)} vs stable ${formatSeconds(sm)} (${formatNumber(shift, 3)}x`;
    if (mw.pValue < rule.alpha && shift > rule.maxLatencyShift) {
      fails.push(`${medians} > ${formatNumber(rule.maxLatencyShift, 3)}x; Mann-Whitney ${p(mw.pValue)} < α ${rule.alpha})`);
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
