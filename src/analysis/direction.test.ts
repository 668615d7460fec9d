/**
 * The judge's direction options against reference values computed once with SciPy by
 * src/analysis/reference/direction.py (SciPy 1.17.1; pasted below, so these tests need no
 * Python): exact Mann-Whitney p-values for small samples without ties in each direction, the
 * asymptotic two-sided p-value with ties, the common-language effect size and the mean ratio.
 * Then the metric judge and the relative rule with a direction, on a working series provider.
 */
import { describe, expect, it } from 'vitest';
import type { AnalysisRule, MetricSource } from '../config/types.js';
import type { MetricProvider, MetricQuery, SeriesResult } from '../metrics/provider.js';
import { evaluateJudge, judgeDifference, windowProblem } from './judge.js';
import { EXACT_MAX_SIZE, exactUDistribution, mannWhitneyU, type Alternative } from './mann-whitney.js';
import { evaluateRelative, INITIAL_RULE_STATE, type AnalysisContext } from './rules.js';

interface ExactCase { name: string; canary: number[]; stable: number[]; u: number; cles: number; meanRatio: number; exact: Record<Alternative, number> }

// Output of `python3 src/analysis/reference/direction.py` (SciPy 1.17.1), pasted.
const SCIPY_EXACT: ExactCase[] = [
  {
    name: "signups down 30%, 10 vs 10",
    canary: [0.39654, 0.352376, 0.355219, 0.34783, 0.28987, 0.35434, 0.304965, 0.356333, 0.333254, 0.382536],
    stable: [0.494411, 0.50044, 0.467733, 0.519268, 0.49459, 0.518609, 0.524329, 0.523338, 0.492875, 0.443243],
    u: 0, cles: 0.0, meanRatio: 0.697605424239722,
    exact: { greater: 1.0, less: 5.412544112234515e-06, 'two-sided': 1.082508822446903e-05 },
  },
  {
    name: "signups level, 10 vs 10",
    canary: [0.464836, 0.525086, 0.530278, 0.538793, 0.48352, 0.470549, 0.52744, 0.526192, 0.500663, 0.499876],
    stable: [0.459526, 0.493753, 0.539796, 0.472512, 0.4859, 0.495517, 0.490242, 0.445828, 0.484989, 0.483057],
    u: 71, cles: 0.71, meanRatio: 1.0445490938175104,
    exact: { greater: 0.0615027387473208, less: 0.9474387841260906, 'two-sided': 0.1230054774946416 },
  },
  {
    name: "tiny, 3 vs 4",
    canary: [3.1, 2.9, 3.4],
    stable: [2.1, 2.4, 2.2, 2.6],
    u: 12, cles: 1.0, meanRatio: 1.3476702508960572,
    exact: { greater: 0.02857142857142857, less: 1.0, 'two-sided': 0.05714285714285714 },
  },
  {
    name: "one canary sample, 1 vs 5",
    canary: [0.2],
    stable: [0.5, 0.45, 0.55, 0.6, 0.52],
    u: 0, cles: 0.0, meanRatio: 0.3816793893129771,
    exact: { greater: 1.0, less: 0.16666666666666666, 'two-sided': 0.3333333333333333 },
  },
  {
    name: "unequal, 20 vs 30, small rise",
    canary: [1.018557, 1.010332, 1.050593, 0.950286, 1.21911, 1.018356, 1.196513, 1.19636, 1.062891, 0.932176, 0.833349, 0.897819, 1.020711, 1.066049, 0.971715, 0.99826, 1.319657, 1.07752, 0.928841, 1.108724],
    stable: [0.901816, 0.756145, 1.013612, 0.919241, 1.002008, 1.175986, 1.00529, 0.910019, 1.158845, 0.782384, 0.878278, 1.135447, 1.147723, 0.967378, 0.921613, 1.025093, 1.023357, 1.007556, 0.943213, 0.860755, 0.918375, 0.948862, 0.949019, 0.922654, 0.975148, 0.809931, 1.079982, 1.127597, 0.929901, 0.852885],
    u: 413, cles: 0.6883333333333334, meanRatio: 1.0780243264458211,
    exact: { greater: 0.012458050400200496, less: 0.98819236906362, 'two-sided': 0.024916100800400992 },
  },
  {
    name: "largest exact, 50 vs 50, 5% fall",
    canary: [0.976119, 0.995851, 0.929048, 1.0432, 0.891303, 0.836689, 1.098477, 0.898934, 0.905178, 0.717009, 0.910656, 0.886124, 0.946139, 1.01712, 0.967618, 0.83257, 1.054049, 0.985973, 1.004312, 0.941531, 0.95766, 0.809485, 0.794377, 0.880762, 0.876378, 0.968232, 0.612804, 0.886898, 0.859956, 1.052801, 0.885094, 0.887631, 0.946533, 0.985504, 0.742823, 0.814027, 1.002088, 0.96932, 0.938279, 1.08984, 0.780977, 0.945815, 0.886807, 0.965554, 0.864809, 0.964905, 1.198461, 1.002246, 0.964235, 1.104552],
    stable: [1.061944, 1.21372, 0.910605, 0.889136, 0.792664, 0.904157, 0.805319, 1.150423, 1.011468, 1.053781, 1.017499, 0.999085, 0.974886, 0.849022, 1.152793, 0.961413, 1.178351, 1.067844, 0.861729, 0.956928, 0.955678, 0.936193, 0.932947, 0.983828, 0.927156, 0.91404, 0.99781, 0.990737, 0.935642, 1.029277, 0.942675, 1.027304, 0.98603, 1.102115, 0.804742, 1.160408, 0.94202, 1.107513, 0.925217, 0.966215, 1.028516, 0.941482, 0.928882, 0.960284, 1.131209, 0.802728, 0.973413, 1.122533, 0.94946, 1.136164],
    u: 897, cles: 0.3588, meanRatio: 0.9416830539002292,
    exact: { greater: 0.9928200386250373, less: 0.007321770470701828, 'two-sided': 0.014643540941403656 },
  },
];
const SCIPY_TIED = { canary: [1, 2, 2, 3, 3, 3, 4], stable: [2, 3, 3, 4, 4, 5, 5, 5], twoSided: 0.049238967838553395 };

/** Relative tolerance 1e-9. */
function close(actual: number, expected: number, what: string): void {
  const tol = 1e-9 * Math.max(Math.abs(actual), Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tol)) expect.fail(`${what}: got ${actual}, SciPy says ${expected}`);
}

const ones = (values: number[]) => ({ values, counts: values.map(() => 1) });

describe('Mann-Whitney U against SciPy', () => {
  it('exact p-values for small samples without ties, each alternative, with U and the CLES', () => {
    for (const c of SCIPY_EXACT) {
      expect(Math.max(c.canary.length, c.stable.length)).toBeLessThanOrEqual(EXACT_MAX_SIZE);
      for (const alt of ['greater', 'less', 'two-sided'] as const) {
        const r = mannWhitneyU(ones(c.canary), ones(c.stable), alt, 'auto');
        expect([r.method, r.z, r.ties]).toEqual(['exact', null, false]);
        close(r.pValue, c.exact[alt], `${c.name} ${alt}`);
        expect(r.u).toBe(c.u);
        expect(r.cles).toBeCloseTo(c.cles, 12);
      }
    }
  });

  it('the asymptotic two-sided p-value with ties (where the exact method does not apply)', () => {
    const r = mannWhitneyU(ones(SCIPY_TIED.canary), ones(SCIPY_TIED.stable), 'two-sided', 'auto');
    expect(r.method).toBe('asymptotic');
    close(r.pValue, SCIPY_TIED.twoSided, 'tied two-sided');
    expect(() => mannWhitneyU(ones(SCIPY_TIED.canary), ones(SCIPY_TIED.stable), 'two-sided', 'exact'))
      .toThrow(new RangeError('mannWhitneyU: the exact method needs samples without ties of at most 50 each (got 7 and 8, with ties)'));
  });

  it('the exact distribution of U is a distribution, symmetric, and 1/C(m+n, m) at its ends', () => {
    expect(exactUDistribution(1, 2)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    const pmf = exactUDistribution(7, 5);
    expect(pmf).toHaveLength(36);
    close(pmf.reduce((a, b) => a + b, 0), 1, 'sum');
    close(pmf[0]!, 1 / 792, 'P(U = 0) = 1 / C(12, 5)');
    pmf.forEach((p, u) => close(p, pmf[35 - u]!, `symmetry at ${u}`));
  });

  it('refuses NaN and −∞ values by name instead of ranking them', () => {
    expect(() => mannWhitneyU(ones([0.1, NaN]), ones([0.2]))).toThrow(new RangeError('mannWhitneyU: value NaN at index 1 of the first sample cannot be ranked; reject it before testing'));
    expect(() => mannWhitneyU(ones([0.1]), ones([-Infinity]))).toThrow(new RangeError('mannWhitneyU: value -Infinity at index 0 of the second sample cannot be ranked; reject it before testing'));
  });
});

describe('the tolerance band', () => {
  const band = { measure: 'meanRatio', allowedIncrease: 1.2, allowedDecrease: 0.8 } as const;
  it('a significant difference inside the band passes; outside it fails in a watched direction only', () => {
    expect(judgeDifference(1e-6, 0.9, 1, 'either', band, 0.01)).toEqual({ change: 'decrease', significant: true, outside: false, fail: false });
    expect(judgeDifference(1e-6, 0.7, 1, 'either', band, 0.01)).toEqual({ change: 'decrease', significant: true, outside: true, fail: true });
    expect(judgeDifference(1e-6, 0.7, 1, 'increase', band, 0.01)).toEqual({ change: 'decrease', significant: true, outside: true, fail: false });
    expect(judgeDifference(0.02, 1.5, 1, 'increase', band, 0.01)).toEqual({ change: 'increase', significant: false, outside: true, fail: false });
    expect(judgeDifference(1e-6, 0.3, 0.5, 'decrease', { measure: 'cles', allowedIncrease: 0.5, allowedDecrease: 0.4 }, 0.01)).toMatchObject({ change: 'decrease', fail: true });
  });
});

// A working series source: each release's samples as Prometheus would give them.
const SIGNUPS: MetricSource = { kind: 'prometheus', query: 'sum(rate(signups_total{version="${version}"}[${window}])) / sum(rate(page_views_total{version="${version}"}[${window}]))' };
type JudgeRule = Extract<AnalysisRule, { kind: 'judge' }>;
const TOLERATE = { action: 'tolerate', limit: 10 } as const;
const metricJudge = (o: Partial<JudgeRule> = {}): JudgeRule => ({
  name: 'signups', kind: 'judge', metric: SIGNUPS, errors: false, latency: false, alpha: 0.01, minSamples: 10, windowMs: 300_000, stepMs: 30_000,
  direction: 'decrease', effectSize: { measure: 'meanRatio', allowedIncrease: 1, allowedDecrease: 1 }, onInconclusive: TOLERATE, onError: TOLERATE, ...o,
});

function seriesContext(series: Record<string, SeriesResult>, withSeries = true): AnalysisContext & { asked: Array<[string, number, number]> } {
  const asked: Array<[string, number, number]> = [];
  const provider: MetricProvider & { series?: (s: MetricSource, q: MetricQuery, step: number) => Promise<SeriesResult> } = {
    measure: async () => ({ phase: 'ok', value: 1, samples: null }),
  };
  if (withSeries) provider.series = async (_s, q, step) => { asked.push([q.version, q.windowMs, step]); return series[q.version]!; };
  return {
    service: 'web', environment: 'prod', canary: 'v2', stable: 'v1', now: 5_000_000, requests: null, health: async () => [],
    provider: () => provider, asked,
  };
}

const [DOWN, LEVEL] = SCIPY_EXACT;
const ok = (values: number[]): SeriesResult => ({ phase: 'ok', values });

describe('the judge of a metric', () => {
  it('fails a canary whose signups fall, reporting the direction, the exact p-value and the mean ratio', async () => {
    const ctx = seriesContext({ v2: ok(DOWN!.canary), v1: ok(DOWN!.stable) });
    const o = await evaluateJudge(metricJudge(), ctx, INITIAL_RULE_STATE);
    expect(ctx.asked).toEqual([['v2', 300_000, 30_000], ['v1', 300_000, 30_000]]);
    expect(o.verdict.verdict).toBe('fail');
    expect(o.verdict.reason).toBe('signups: mean 0.347 vs stable 0.498 (0.698x < 1x, down; Mann-Whitney exact p = 5.4e-6 < α 0.01)');
    const m = o.verdict.measurements[0]!;
    expect(m.samples).toEqual({ canary: 10, stable: 10 });
    expect(m.detail).toMatchObject({ direction: 'decrease', change: 'decrease', method: 'exact', measure: 'meanRatio', test: 'Mann-Whitney U, one-sided (canary lower)' });
    close(m.detail!.pValue as number, DOWN!.exact.less, 'p');
    close(m.detail!.effect as number, DOWN!.meanRatio, 'mean ratio');
  });

  it('direction decides: increase does not watch a fall, either tests two-sided', async () => {
    const up = await evaluateJudge(metricJudge({ direction: 'increase' }), seriesContext({ v2: ok(DOWN!.canary), v1: ok(DOWN!.stable) }), INITIAL_RULE_STATE);
    expect([up.verdict.verdict, up.verdict.reason]).toEqual(['pass', 'signups: mean 0.347 vs stable 0.498 (0.698x, down; Mann-Whitney exact p = 1: not significant at α 0.01)']);
    const either = await evaluateJudge(metricJudge({ direction: 'either' }), seriesContext({ v2: ok(DOWN!.canary), v1: ok(DOWN!.stable) }), INITIAL_RULE_STATE);
    expect(either.verdict.verdict).toBe('fail');
    close(either.verdict.measurements[0]!.detail!.pValue as number, DOWN!.exact['two-sided'], 'two-sided p');
  });

  it('the tolerance band lets a significant but small fall pass; cles measures it too', async () => {
    const banded = await evaluateJudge(metricJudge({ effectSize: { measure: 'meanRatio', allowedIncrease: 1, allowedDecrease: 0.6 } }), seriesContext({ v2: ok(DOWN!.canary), v1: ok(DOWN!.stable) }), INITIAL_RULE_STATE);
    expect([banded.verdict.verdict, banded.verdict.reason]).toEqual(['pass', 'signups: mean 0.347 vs stable 0.498 (0.698x, down; Mann-Whitney exact p = 5.4e-6: within the tolerance band)']);
    const cles = await evaluateJudge(metricJudge({ effectSize: { measure: 'cles', allowedIncrease: 0.5, allowedDecrease: 0.5 } }), seriesContext({ v2: ok(DOWN!.canary), v1: ok(DOWN!.stable) }), INITIAL_RULE_STATE);
    expect([cles.verdict.verdict, cles.verdict.reason]).toEqual(['fail', 'signups: mean 0.347 vs stable 0.498 (cles 0 < 0.5, down; Mann-Whitney exact p = 5.4e-6 < α 0.01)']);
  });

  it('a canary like stable passes, not significant', async () => {
    const o = await evaluateJudge(metricJudge({ direction: 'either' }), seriesContext({ v2: ok(LEVEL!.canary), v1: ok(LEVEL!.stable) }), INITIAL_RULE_STATE);
    expect(o.verdict.verdict).toBe('pass');
    close(o.verdict.measurements[0]!.detail!.pValue as number, LEVEL!.exact['two-sided'], 'p');
  });

  it('NaN and infinite samples are refused by name; no data or too few samples is inconclusive, never a pass', async () => {
    const nan = await evaluateJudge(metricJudge(), seriesContext({ v2: ok([...DOWN!.canary.slice(0, 3), NaN, ...DOWN!.canary.slice(4)]), v1: ok(DOWN!.stable) }), INITIAL_RULE_STATE);
    expect([nan.verdict.verdict, nan.verdict.reason]).toEqual(['error', 'signups: sample 4 of 10 for canary v2 is NaN; NaN and infinite values are refused, not ranked (a ratio over no traffic gives NaN: guard the query, e.g. with `and on() sum(...) > 0`)']);
    const inf = await evaluateJudge(metricJudge(), seriesContext({ v2: ok(DOWN!.canary), v1: ok([Infinity, ...DOWN!.stable]) }), INITIAL_RULE_STATE);
    expect(inf.verdict.reason).toMatch(/^signups: sample 1 of 11 for stable v1 is Infinity; /);
    const none = await evaluateJudge(metricJudge(), seriesContext({ v2: ok(DOWN!.canary), v1: { phase: 'nodata', detail: 'query returned no series' } }), INITIAL_RULE_STATE);
    expect([none.verdict.verdict, none.verdict.reason]).toEqual(['inconclusive', 'inconclusive: no data for stable signups over 5m0s (query returned no series)']);
    const few = await evaluateJudge(metricJudge(), seriesContext({ v2: ok(DOWN!.canary.slice(0, 4)), v1: ok(DOWN!.stable) }), INITIAL_RULE_STATE);
    expect([few.verdict.verdict, few.verdict.reason]).toEqual(['inconclusive', 'inconclusive: 4 canary samples of signups < 10 over 5m0s (every 30s)']);
    const first = await evaluateJudge(metricJudge(), { ...seriesContext({}), stable: null }, INITIAL_RULE_STATE);
    expect([first.verdict.verdict, first.verdict.reason]).toEqual(['inconclusive', 'inconclusive: no stable release to compare signups with']);
  });

  it('a source without history is an error', async () => {
    const o = await evaluateJudge(metricJudge(), seriesContext({}, false), INITIAL_RULE_STATE);
    expect([o.verdict.verdict, o.verdict.reason]).toEqual(['error', 'signups: a prometheus metric has no history to sample; judge a prometheus metric']);
  });
});

describe('request windows with NaN or infinite inputs', () => {
  it('are refused with the reason, not counted', () => {
    expect(windowProblem({ total: 2, errors: 0, bounds: [0.1, NaN], buckets: [1, 1, 0] })).toBe('latency bucket bound 2 is NaN, not a finite number of seconds');
    expect(windowProblem({ total: 2, errors: 0, bounds: [0.1, Infinity], buckets: [1, 1, 0] })).toBe('latency bucket bound 2 is Infinity, not a finite number of seconds');
    expect(windowProblem({ total: NaN, errors: 0, bounds: [0.1], buckets: [1, 1] })).toBe('request total is NaN, not a finite non-negative count');
    expect(windowProblem({ total: 2, errors: 0, bounds: [0.1], buckets: [1, Infinity] })).toBe('latency bucket 2 holds Infinity, not a finite non-negative count');
    expect(windowProblem({ total: 2, errors: 0, bounds: [0.1], buckets: [1, 1] })).toBeNull();
  });
});

describe('the relative rule with a direction', () => {
  type RelativeRule = Extract<AnalysisRule, { kind: 'relative' }>;
  const rule = (o: Partial<RelativeRule>): RelativeRule => ({
    name: 'signups', kind: 'relative', metric: SIGNUPS, direction: 'decrease', maxRatio: null, maxIncrease: null, maxDecrease: 0.2,
    windowMs: 60_000, minSamples: 0, onInconclusive: TOLERATE, onError: TOLERATE, ...o,
  });
  const values = (canary: number, stable: number): AnalysisContext => ({
    service: 'web', environment: 'prod', canary: 'v2', stable: 'v1', now: 1, requests: null, health: async () => [],
    provider: () => ({ measure: async (_s, q) => ({ phase: 'ok', value: q.version === 'v2' ? canary : stable, samples: null }) }),
  });
  it('decrease: a fall of 30% fails with maxDecrease 0.2, a fall of 10% passes, a rise is not watched', async () => {
    const fall = await evaluateRelative(rule({}), values(0.35, 0.5), INITIAL_RULE_STATE);
    expect([fall.verdict.verdict, fall.verdict.reason]).toEqual(['fail', 'signups 0.35 is down 30% on stable 0.5 (max −20%)']);
    expect(fall.verdict.measurements[0]!.detail).toMatchObject({ direction: 'decrease', change: 'decrease', maxDecrease: 0.2 });
    expect((await evaluateRelative(rule({}), values(0.45, 0.5), INITIAL_RULE_STATE)).verdict.verdict).toBe('pass');
    const rise = await evaluateRelative(rule({}), values(5, 0.5), INITIAL_RULE_STATE);
    expect([rise.verdict.verdict, rise.verdict.reason]).toEqual(['pass', 'signups 5 is up 900% on stable 0.5 (max −20%)']);
  });
  it('maxRatio applies in each direction checked', async () => {
    const half = { maxRatio: 2, maxDecrease: null };
    expect((await evaluateRelative(rule({ ...half, direction: 'either' }), values(0.2, 0.5), INITIAL_RULE_STATE)).verdict.reason).toBe('signups 0.2 is 0.4x stable 0.5 (0.5x to 2x)');
    expect((await evaluateRelative(rule({ ...half, direction: 'either' }), values(0.2, 0.5), INITIAL_RULE_STATE)).verdict.verdict).toBe('fail');
    expect((await evaluateRelative(rule({ ...half, direction: 'increase' }), values(0.2, 0.5), INITIAL_RULE_STATE)).verdict.verdict).toBe('pass');
    expect((await evaluateRelative(rule({ ...half, direction: 'decrease' }), values(1.2, 0.5), INITIAL_RULE_STATE)).verdict.verdict).toBe('pass');
    expect((await evaluateRelative(rule({ ...half, direction: 'decrease' }), values(0.2, 0.5), INITIAL_RULE_STATE)).verdict.reason).toBe('signups 0.2 is 0.4x stable 0.5 (min 0.5x)');
  });
});
