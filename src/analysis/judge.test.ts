import { describe, expect, it } from 'vitest';
import type { AnalysisRule } from '../config/types.js';
import type { MetricQuery, RequestWindow } from '../metrics/provider.js';
import { binnedFromWindow, evaluateJudge, medianLatency } from './judge.js';
import { INITIAL_RULE_STATE, type AnalysisContext } from './rules.js';

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const TOLERATE = { action: 'tolerate', limit: 10 } as const;
const judge = (o: Partial<Extract<AnalysisRule, { kind: 'judge' }>> = {}): Extract<AnalysisRule, { kind: 'judge' }> => ({
  name: 'judge', kind: 'judge', metric: null, errors: true, latency: true, alpha: 0.01, minSamples: 200, windowMs: 600_000, stepMs: 30_000,
  direction: 'increase', effectSize: { measure: 'medianShift', allowedIncrease: 1.5, allowedDecrease: 1 / 1.5 },
  onInconclusive: TOLERATE, onError: TOLERATE, ...o,
});

/** A window whose latencies follow `shape` (relative bucket weights), scaled to `total`. */
function window(total: number, errors: number, shape: number[]): RequestWindow {
  const sum = shape.reduce((a, b) => a + b, 0);
  const buckets = shape.map((s) => Math.floor((s / sum) * total));
  buckets[4] += total - buckets.reduce((a, b) => a + b, 0);
  return { total, errors, bounds: BOUNDS, buckets };
}
const FAST = [0, 2, 10, 40, 30, 15, 2, 1, 0, 0, 0, 0];
const SLOW = [0, 0, 1, 4, 15, 40, 30, 8, 2, 0, 0, 0];

function context(windows: Record<string, RequestWindow | { phase: 'error'; detail: string }>, o: Partial<AnalysisContext> = {}): AnalysisContext & { queries: MetricQuery[] } {
  const queries: MetricQuery[] = [];
  return {
    service: 'web', environment: 'prod', canary: 'v2', stable: 'v1', now: 5_000_000,
    provider: () => { throw new Error('the judge reads request windows only'); },
    requests: { requestWindow: async (q) => { queries.push(q); return windows[q.version]!; } },
    health: async () => [],
    queries,
    ...o,
  };
}

describe('judge helpers', () => {
  it('turns a histogram into tie groups at the bucket upper bounds', () => {
    expect(binnedFromWindow({ total: 3, errors: 0, bounds: [0.1, 1], buckets: [1, 1, 1] })).toEqual({ values: [0.1, 1, Infinity], counts: [1, 1, 1] });
  });
  it('interpolates the median inside its bucket', () => {
    expect(medianLatency({ total: 10, errors: 0, bounds: [0.1, 1], buckets: [0, 10, 0] })).toBeCloseTo(0.55, 12);
  });
});

describe('judge rule', () => {
  it('reads both releases over the judge window and passes a canary like stable', async () => {
    const ctx = context({ v2: window(1000, 1, FAST), v1: window(9000, 9, FAST) });
    const o = await evaluateJudge(judge(), ctx, INITIAL_RULE_STATE);
    expect(ctx.queries.map((q) => [q.version, q.windowMs, q.now])).toEqual([['v2', 600_000, 5_000_000], ['v1', 600_000, 5_000_000]]);
    expect(o.verdict.verdict).toBe('pass');
    expect(o.verdict.reason).toBe('no regression at α 0.01: error rate 0.1% vs stable 0.1% (p = 1); median latency 48.8ms vs stable 48.8ms (1x, p = 0.5)');
    const [errors, latency] = o.verdict.measurements;
    expect(errors).toMatchObject({ metric: 'error_rate', canary: 0.001, stable: 0.001, samples: { canary: 1000, stable: 9000 } });
    expect(errors!.detail).toMatchObject({ test: 'mixture SPRT on the origin of errors', pValue: 1, canaryShare: 0.1, canaryErrors: 1, stableErrors: 9 });
    expect(latency).toMatchObject({ metric: 'median_latency', samples: { canary: 1000, stable: 9000 } });
  });

  it('fails a canary that fails more requests', async () => {
    const o = await evaluateJudge(judge(), context({ v2: window(500, 12, FAST), v1: window(9500, 10, FAST) }), INITIAL_RULE_STATE);
    expect([o.verdict.verdict, o.verdict.reason]).toEqual(['fail', 'error rate 2.4% vs stable 0.105%: canary fails more (sequential test, p = 2.2e-9 < α 0.01)']);
  });

  it('fails on strong error evidence below minSamples (the sequential test is valid at any size) but never passes there', async () => {
    const bad = await evaluateJudge(judge(), context({ v2: window(60, 12, FAST), v1: window(1140, 1, FAST) }), INITIAL_RULE_STATE);
    expect(bad.verdict.verdict).toBe('fail');
    const good = await evaluateJudge(judge(), context({ v2: window(60, 0, FAST), v1: window(1140, 1, FAST) }), INITIAL_RULE_STATE);
    expect([good.verdict.verdict, good.verdict.reason]).toEqual(['inconclusive', 'inconclusive: 60 canary requests < 200 over 10m0s']);
    const fewStable = await evaluateJudge(judge(), context({ v2: window(300, 0, FAST), v1: window(150, 0, FAST) }), INITIAL_RULE_STATE);
    expect([fewStable.verdict.verdict, fewStable.verdict.reason]).toEqual(['inconclusive', 'inconclusive: 150 stable requests < 200 over 10m0s']);
  });

  it('fails a slower canary only when the median shift is also above maxLatencyShift', async () => {
    const slow = await evaluateJudge(judge(), context({ v2: window(400, 0, SLOW), v1: window(4000, 4, FAST) }), INITIAL_RULE_STATE);
    expect(slow.verdict.verdict).toBe('fail');
    expect(slow.verdict.reason).toBe('median latency 213ms vs stable 48.8ms (4.36x > 1.5x; Mann-Whitney p = 5.1e-140 < α 0.01)');
    // Same data, a guard above the shift: significant, but not a meaningful difference.
    const guarded = await evaluateJudge(judge({ effectSize: { measure: 'medianShift', allowedIncrease: 10, allowedDecrease: 0.1 } }), context({ v2: window(400, 0, SLOW), v1: window(4000, 4, FAST) }), INITIAL_RULE_STATE);
    expect(guarded.verdict.verdict).toBe('pass');
    const lat = guarded.verdict.measurements.find((m) => m.metric === 'median_latency')!;
    expect(lat.detail!.pValue as number).toBeLessThan(1e-10);
  });

  it('tests only what it is told to', async () => {
    const o = await evaluateJudge(judge({ latency: false }), context({ v2: window(400, 0, SLOW), v1: window(4000, 4, FAST) }), INITIAL_RULE_STATE);
    expect(o.verdict.verdict).toBe('pass');
    expect(o.verdict.measurements.map((m) => m.metric)).toEqual(['error_rate']);
  });

  it('is inconclusive without a stable release and an error without request windows', async () => {
    const none = await evaluateJudge(judge(), context({}, { stable: null }), INITIAL_RULE_STATE);
    expect([none.verdict.verdict, none.verdict.reason]).toEqual(['inconclusive', 'inconclusive: no stable release to compare with']);
    const noSource = await evaluateJudge(judge(), context({}, { requests: null }), INITIAL_RULE_STATE);
    expect([noSource.verdict.verdict, noSource.verdict.reason]).toEqual(['error', 'the judge needs request windows, which no configured metric provider gives (the builtin provider does)']);
    const down = await evaluateJudge(judge(), context({ v2: { phase: 'error', detail: 'agent unreachable' }, v1: window(10, 0, FAST) }), INITIAL_RULE_STATE);
    expect([down.verdict.verdict, down.verdict.reason]).toEqual(['error', 'request window of canary v2: agent unreachable']);
  });
});
