import { describe, expect, it } from 'vitest';
import type { AnalysisRule, MetricSource } from '../config/types.js';
import type { MetricQuery, MetricResult } from '../metrics/provider.js';
import { evaluateHealthFailures, evaluateRelative, evaluateThreshold, formatDuration, formatValue, INITIAL_RULE_STATE, type AnalysisContext } from './rules.js';

const TOLERATE = { action: 'tolerate', limit: 10 } as const;
const ERROR_RATE: MetricSource = { kind: 'builtin', metric: 'error_rate' };
const P95: MetricSource = { kind: 'builtin', metric: 'p95_latency' };

type Results = Record<string, MetricResult>;

/** A context whose provider answers from a table keyed by version, and records its queries. */
function context(results: Results, opts: Partial<AnalysisContext> = {}): AnalysisContext & { queries: MetricQuery[] } {
  const queries: MetricQuery[] = [];
  return {
    service: 'web', environment: 'prod', canary: 'v2', stable: 'v1', now: 1_000_000,
    provider: () => ({ measure: async (_s, q) => { queries.push(q); return results[q.version] ?? { phase: 'nodata', detail: 'no series' }; } }),
    requests: null,
    health: async () => [],
    queries,
    ...opts,
  };
}

const threshold = (o: Partial<Extract<AnalysisRule, { kind: 'threshold' }>> = {}): Extract<AnalysisRule, { kind: 'threshold' }> => ({
  name: 'error-rate', kind: 'threshold', metric: ERROR_RATE, max: 0.05, min: null, forMs: 120_000, windowMs: 60_000, minSamples: 20,
  onInconclusive: TOLERATE, onError: TOLERATE, ...o,
});

describe('formatDuration / formatValue', () => {
  it('prints durations like Go', () => {
    expect([120_000, 90_000, 5_000, 1_500, 250, 3_600_000, 0].map(formatDuration)).toEqual(['2m0s', '1m30s', '5s', '1.5s', '250ms', '1h0m0s', '0s']);
  });
  it('prints error rates as percentages and latencies in ms or s', () => {
    expect(formatValue(ERROR_RATE, 0.071)).toBe('7.1%');
    expect(formatValue(ERROR_RATE, 0.0012)).toBe('0.12%');
    expect(formatValue(P95, 0.35)).toBe('350ms');
    expect(formatValue(P95, 2.5)).toBe('2.5s');
    expect(formatValue({ kind: 'prometheus', query: 'x' }, 1234.5678)).toBe('1230');
  });
});

describe('threshold rule', () => {
  it('measures the canary over the window', async () => {
    const ctx = context({ v2: { phase: 'ok', value: 0.01, samples: 300 } });
    const o = await evaluateThreshold(threshold(), ctx, INITIAL_RULE_STATE);
    expect(ctx.queries).toEqual([{ service: 'web', environment: 'prod', version: 'v2', windowMs: 60_000, now: 1_000_000 }]);
    expect(o.verdict.verdict).toBe('pass');
    expect(o.verdict.reason).toBe('error_rate 1% <= 5%');
    expect(o.state).toEqual({ breachSince: null, tolerated: 0 });
  });

  it('starts a breach clock, passes while it is shorter than for, and fails once it lasts', async () => {
    const bad: Results = { v2: { phase: 'ok', value: 0.071, samples: 300 } };
    const first = await evaluateThreshold(threshold(), context(bad, { now: 1_000_000 }), INITIAL_RULE_STATE);
    expect(first.verdict.verdict).toBe('pass');
    expect(first.verdict.reason).toBe('breaching: error_rate 7.1% > 5% for 0s (fails at 2m0s)');
    expect(first.state.breachSince).toBe(1_000_000);
    const mid = await evaluateThreshold(threshold(), context(bad, { now: 1_110_000 }), first.state);
    expect(mid.verdict.verdict).toBe('pass');
    expect(mid.verdict.reason).toBe('breaching: error_rate 7.1% > 5% for 1m50s (fails at 2m0s)');
    const last = await evaluateThreshold(threshold(), context(bad, { now: 1_120_000 }), mid.state);
    expect(last.verdict.verdict).toBe('fail');
    expect(last.verdict.reason).toBe('error_rate 7.1% > 5% for 2m0s');
    expect(last.verdict.measurements[0]).toMatchObject({ metric: 'error_rate', canary: 0.071, stable: null, samples: { canary: 300, stable: null } });
  });

  it('ends the breach on a pass, on an inconclusive measurement and on an error', async () => {
    const breaching = { breachSince: 900_000, tolerated: 0 };
    for (const r of [
      { phase: 'ok', value: 0.01, samples: 300 },
      { phase: 'ok', value: 0.5, samples: 3 },
      { phase: 'nodata', detail: 'no requests' },
      { phase: 'error', detail: 'connection refused' },
    ] satisfies MetricResult[]) {
      const o = await evaluateThreshold(threshold(), context({ v2: r }), breaching);
      expect(o.state.breachSince).toBeNull();
      expect(o.verdict.verdict).not.toBe('fail');
    }
  });

  it('is inconclusive without data or below minSamples, and an error when the provider fails', async () => {
    const nodata = await evaluateThreshold(threshold(), context({ v2: { phase: 'nodata', detail: 'no requests yet' } }), INITIAL_RULE_STATE);
    expect([nodata.verdict.verdict, nodata.verdict.reason]).toEqual(['inconclusive', 'inconclusive: no data for error_rate over 1m0s (no requests yet)']);
    const few = await evaluateThreshold(threshold(), context({ v2: { phase: 'ok', value: 0.5, samples: 4 } }), INITIAL_RULE_STATE);
    expect([few.verdict.verdict, few.verdict.reason]).toEqual(['inconclusive', 'inconclusive: 4 requests < 20 over 1m0s']);
    const err = await evaluateThreshold(threshold(), context({ v2: { phase: 'error', detail: 'HTTP 401' } }), INITIAL_RULE_STATE);
    expect([err.verdict.verdict, err.verdict.reason]).toEqual(['error', 'error_rate: HTTP 401']);
  });

  it('checks a minimum, and ignores minSamples when the provider does not know the count', async () => {
    const rule = threshold({ name: 'traffic', metric: { kind: 'builtin', metric: 'request_rate' }, max: null, min: 1, forMs: 0 });
    const o = await evaluateThreshold(rule, context({ v2: { phase: 'ok', value: 0.5, samples: null } }), INITIAL_RULE_STATE);
    expect([o.verdict.verdict, o.verdict.reason]).toEqual(['fail', 'request_rate 0.5/s < 1/s']);
  });
});

const relative = (o: Partial<Extract<AnalysisRule, { kind: 'relative' }>> = {}): Extract<AnalysisRule, { kind: 'relative' }> => ({
  name: 'latency-vs-stable', kind: 'relative', metric: P95, direction: 'increase', maxRatio: 2, maxIncrease: null, maxDecrease: null, windowMs: 120_000, minSamples: 50,
  onInconclusive: TOLERATE, onError: TOLERATE, ...o,
});

describe('relative rule', () => {
  it('fails when the canary is more than maxRatio times stable, measuring both over the same window', async () => {
    const ctx = context({ v2: { phase: 'ok', value: 0.64, samples: 100 }, v1: { phase: 'ok', value: 0.2, samples: 900 } });
    const o = await evaluateRelative(relative(), ctx, INITIAL_RULE_STATE);
    expect(ctx.queries.map((q) => [q.version, q.windowMs, q.now])).toEqual([['v2', 120_000, 1_000_000], ['v1', 120_000, 1_000_000]]);
    expect([o.verdict.verdict, o.verdict.reason]).toEqual(['fail', 'p95_latency 640ms is 3.2x stable 200ms (max 2x)']);
    expect(o.verdict.measurements[0]).toMatchObject({ canary: 0.64, stable: 0.2, samples: { canary: 100, stable: 900 } });
  });

  it('passes within the ratio', async () => {
    const o = await evaluateRelative(relative(), context({ v2: { phase: 'ok', value: 0.25, samples: 100 }, v1: { phase: 'ok', value: 0.2, samples: 900 } }), INITIAL_RULE_STATE);
    expect([o.verdict.verdict, o.verdict.reason]).toEqual(['pass', 'p95_latency 250ms is 1.25x stable 200ms (max 2x)']);
  });

  it('measures an error-rate increase against stable, or against the 3% floor when stable is below it', async () => {
    const rule = relative({ name: 'error-rate-vs-stable', metric: ERROR_RATE, maxRatio: null, maxIncrease: 0.5 });
    const high = await evaluateRelative(rule, context({ v2: { phase: 'ok', value: 0.07, samples: 500 }, v1: { phase: 'ok', value: 0.04, samples: 500 } }), INITIAL_RULE_STATE);
    expect([high.verdict.verdict, high.verdict.reason]).toEqual(['fail', 'error_rate 7% is up 75% on stable 4% (max +50%)']);
    const low = await evaluateRelative(rule, context({ v2: { phase: 'ok', value: 0.004, samples: 500 }, v1: { phase: 'ok', value: 0.001, samples: 500 } }), INITIAL_RULE_STATE);
    expect([low.verdict.verdict, low.verdict.reason]).toEqual(['pass', 'error_rate 0.4% is up 10% on stable 0.1% (against the 3% floor; max +50%)']);
    const zero = await evaluateRelative(rule, context({ v2: { phase: 'ok', value: 0.018, samples: 500 }, v1: { phase: 'ok', value: 0, samples: 500 } }), INITIAL_RULE_STATE);
    expect([zero.verdict.verdict, zero.verdict.reason]).toEqual(['fail', 'error_rate 1.8% is up 60% on stable 0% (against the 3% floor; max +50%)']);
  });

  it('with a stable value of 0: ratio passes when the canary is 0 too, else is inconclusive', async () => {
    const rule = relative({ metric: { kind: 'prometheus', query: 'q' }, name: 'queue' });
    const both = await evaluateRelative(rule, context({ v2: { phase: 'ok', value: 0, samples: null }, v1: { phase: 'ok', value: 0, samples: null } }), INITIAL_RULE_STATE);
    expect([both.verdict.verdict, both.verdict.reason]).toEqual(['pass', 'queue is 0 for both releases']);
    const one = await evaluateRelative(rule, context({ v2: { phase: 'ok', value: 3, samples: null }, v1: { phase: 'ok', value: 0, samples: null } }), INITIAL_RULE_STATE);
    expect([one.verdict.verdict, one.verdict.reason]).toEqual(['inconclusive', 'inconclusive: stable queue is 0, so the ratio to canary 3 is undefined']);
    const inc = await evaluateRelative({ ...rule, maxRatio: null, maxIncrease: 0.5 }, context({ v2: { phase: 'ok', value: 3, samples: null }, v1: { phase: 'ok', value: 0, samples: null } }), INITIAL_RULE_STATE);
    expect([inc.verdict.verdict, inc.verdict.reason]).toEqual(['inconclusive', 'inconclusive: stable queue is 0, so the increase to canary 3 is undefined']);
  });

  it('is inconclusive without a stable release, without data or samples, and an error when a side fails', async () => {
    const none = await evaluateRelative(relative(), context({}, { stable: null }), INITIAL_RULE_STATE);
    expect([none.verdict.verdict, none.verdict.reason]).toEqual(['inconclusive', 'inconclusive: no stable release to compare p95_latency with']);
    const nodata = await evaluateRelative(relative(), context({ v2: { phase: 'ok', value: 0.3, samples: 100 } }), INITIAL_RULE_STATE);
    expect([nodata.verdict.verdict, nodata.verdict.reason]).toEqual(['inconclusive', 'inconclusive: no data for stable p95_latency over 2m0s (no series)']);
    const few = await evaluateRelative(relative(), context({ v2: { phase: 'ok', value: 0.9, samples: 12 }, v1: { phase: 'ok', value: 0.2, samples: 900 } }), INITIAL_RULE_STATE);
    expect([few.verdict.verdict, few.verdict.reason]).toEqual(['inconclusive', 'inconclusive: 12 canary requests < 50 over 2m0s']);
    const err = await evaluateRelative(relative(), context({ v2: { phase: 'ok', value: 0.9, samples: 100 }, v1: { phase: 'error', detail: 'timeout after 5s' } }), INITIAL_RULE_STATE);
    expect([err.verdict.verdict, err.verdict.reason]).toEqual(['error', 'p95_latency (stable): timeout after 5s']);
  });
});

describe('healthFailures rule', () => {
  const rule: Extract<AnalysisRule, { kind: 'healthFailures' }> = { name: 'health', kind: 'healthFailures', consecutive: 4, onInconclusive: TOLERATE, onError: TOLERATE };
  const health = (n: number[]) => async () => n.map((c, i) => ({ id: `web-${i + 1}`, consecutiveFailures: c, state: c > 0 ? 'unhealthy' : 'healthy' }));

  it('fails at the configured number of consecutive failures of any instance', async () => {
    const o = await evaluateHealthFailures(rule, context({}, { health: health([0, 4]) }), INITIAL_RULE_STATE);
    expect([o.verdict.verdict, o.verdict.reason]).toEqual(['fail', 'instance web-2: 4 consecutive failed health checks (fails at 4)']);
  });
  it('passes below it ("more than 3" is 4)', async () => {
    const o = await evaluateHealthFailures(rule, context({}, { health: health([3, 1]) }), INITIAL_RULE_STATE);
    expect([o.verdict.verdict, o.verdict.reason]).toEqual(['pass', 'at most 3 consecutive failed health checks across 2 instances (fails at 4)']);
  });
  it('is inconclusive when no instance reports', async () => {
    const o = await evaluateHealthFailures(rule, context({}), INITIAL_RULE_STATE);
    expect([o.verdict.verdict, o.verdict.reason]).toEqual(['inconclusive', 'inconclusive: no canary instance reports health checks']);
  });
});
