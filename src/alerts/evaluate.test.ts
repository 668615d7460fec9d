/**
 * Tier evaluation with a fake clock and a scripted metric provider: sustained holds, one
 * firing per episode, resolution, and what ends a hold.
 */
import { describe, expect, it } from 'vitest';
import type { AnalysisContext } from '../analysis/evaluate.js';
import type { AlertTier } from '../config/types.js';
import type { MetricResult } from '../metrics/provider.js';
import { evaluateTiers, resolveAll, type AlertsState, type TiersEvaluation } from './evaluate.js';
import { RUNBOOK_TIERS } from './presets.js';

const P0: AlertTier = { ...RUNBOOK_TIERS[0]!, channels: ['pager'], conditions: [...RUNBOOK_TIERS[0]!.conditions] };
const P1: AlertTier = { ...RUNBOOK_TIERS[1]!, channels: [], conditions: [...RUNBOOK_TIERS[1]!.conditions] };

/** A world whose metrics are whatever `values` says at the time asked; the clock moves only when told. */
function world(tiers: AlertTier[]) {
  let now = 1_000_000;
  const values: Record<string, MetricResult> = {};
  let state: AlertsState = {};
  const ctx = (): AnalysisContext => ({
    service: 'web', environment: 'prod', canary: '2.0', stable: '1.0', now,
    provider: () => ({
      measure: async (source) => values[source.kind === 'builtin' ? source.metric : source.kind] ?? { phase: 'nodata', detail: 'no requests' },
    }),
    requests: null,
    health: async () => [],
  });
  return {
    set(metric: string, value: number, samples = 100) { values[metric] = { phase: 'ok', value, samples }; },
    unset(metric: string) { delete values[metric]; },
    advance(ms: number) { now += ms; },
    get now() { return now; },
    async evaluate(): Promise<TiersEvaluation> {
      const ev = await evaluateTiers(tiers, ctx(), state);
      state = ev.state;
      return ev;
    },
    get state() { return state; },
  };
}

const kinds = (ev: TiersEvaluation) => ev.transitions.map((t) => `${t.kind} ${t.tier.name}: ${t.reason}`);

describe('evaluateTiers', () => {
  it('fires p0 only once the error rate has stayed above 10% for 2 minutes, once per episode, and resolves when it passes', async () => {
    const w = world([P0]);
    w.set('error_rate', 0.04);
    w.set('p99_latency', 0.2);
    expect(kinds(await w.evaluate())).toEqual([]);
    w.set('error_rate', 0.5);
    const start = w.now + 10_000;
    w.advance(10_000);
    expect(kinds(await w.evaluate())).toEqual([]);
    expect(w.state.p0!.holds).toEqual({ 'error-rate': start });
    w.advance(110_000);
    expect(kinds(await w.evaluate())).toEqual([]);
    w.advance(10_000);
    const fired = await w.evaluate();
    expect(kinds(fired)).toEqual(['fired p0: error-rate: error_rate 50% > 10% for 2m0s']);
    expect(fired.transitions[0]).toMatchObject({ kind: 'fired', at: start + 120_000 });
    w.advance(10_000);
    expect(kinds(await w.evaluate())).toEqual([]);
    w.set('error_rate', 0.01);
    w.advance(10_000);
    expect(kinds(await w.evaluate())).toEqual(['resolved p0: error-rate: error_rate 1% <= 10%; p99-latency: p99_latency 200ms <= 10s']);
    expect(w.state.p0).toEqual({ holds: {}, rules: expect.any(Object), firing: null });
  });

  it('a single evaluation without a breach, or without data, starts the hold over', async () => {
    const w = world([P0]);
    w.set('p99_latency', 0.2);
    w.set('error_rate', 0.5);
    await w.evaluate();
    w.advance(100_000);
    w.unset('error_rate');
    expect(kinds(await w.evaluate())).toEqual([]);
    expect(w.state.p0!.holds).toEqual({});
    w.set('error_rate', 0.5);
    w.advance(10_000);
    await w.evaluate();
    w.advance(110_000);
    expect(kinds(await w.evaluate())).toEqual([]);
    w.advance(10_000);
    expect(kinds(await w.evaluate())).toEqual(['fired p0: error-rate: error_rate 50% > 10% for 2m0s']);
  });

  it('a condition without a duration fires at its first failing evaluation; too few requests never fire', async () => {
    const w = world([P0]);
    w.set('error_rate', 0);
    w.set('p99_latency', 12, 5);
    expect(kinds(await w.evaluate())).toEqual([]);
    w.set('p99_latency', 12, 20);
    expect(kinds(await w.evaluate())).toEqual(['fired p0: p99-latency: p99_latency 12s > 10s']);
  });

  it('no data keeps a firing tier firing: not knowing is not recovery', async () => {
    const w = world([P0]);
    w.set('error_rate', 0);
    w.set('p99_latency', 12);
    expect(kinds(await w.evaluate())).toHaveLength(1);
    w.unset('p99_latency');
    w.advance(10_000);
    expect(kinds(await w.evaluate())).toEqual([]);
    expect(w.state.p0!.firing).not.toBeNull();
    w.set('p99_latency', 12);
    w.advance(10_000);
    expect(kinds(await w.evaluate())).toEqual([]);
  });

  it('tiers are independent: p1 fires on its own, later, for p95 over 2 s sustained 5 minutes', async () => {
    const w = world([P0, P1]);
    w.set('error_rate', 0);
    w.set('p99_latency', 3);
    w.set('p95_latency', 2.5);
    await w.evaluate();
    w.advance(299_999);
    expect(kinds(await w.evaluate())).toEqual([]);
    w.advance(1);
    expect(kinds(await w.evaluate())).toEqual(['fired p1: p95-latency: p95_latency 2.5s > 2s for 5m0s']);
  });

  it('resolveAll ends every firing episode with the reason given', async () => {
    const w = world([P0, P1]);
    w.set('error_rate', 0);
    w.set('p99_latency', 12);
    w.set('p95_latency', 0.1);
    await w.evaluate();
    const r = resolveAll([P0, P1], w.state, 'no longer watched: the deployment is rolled_back', w.now + 5);
    expect(r.transitions.map((t) => [t.kind, t.tier.name, t.reason])).toEqual([['resolved', 'p0', 'no longer watched: the deployment is rolled_back']]);
    expect(r.transitions[0]).toMatchObject({ firedAt: w.now, at: w.now + 5, firedReason: 'p99-latency: p99_latency 12s > 10s' });
    expect(Object.values(r.state).every((s) => s.firing === null)).toBe(true);
  });
});
