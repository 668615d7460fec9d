import { describe, expect, it } from 'vitest';
import type { AnalysisRule, AnalysisTemplate, VerdictPolicy } from '../config/types.js';
import type { MetricResult } from '../metrics/provider.js';
import { evaluateTemplate, type AnalysisContext } from './evaluate.js';
import type { AnalysisState } from './types.js';

/** Canary results per rule name; the provider picks by the metric's query string. */
function context(byQuery: Record<string, MetricResult>, now = 1_000_000, o: Partial<AnalysisContext> = {}): AnalysisContext {
  return {
    service: 'web', environment: 'prod', canary: 'v2', stable: 'v1', now,
    provider: (source) => ({
      measure: async () => (source.kind === 'prometheus' ? byQuery[source.query] : undefined) ?? { phase: 'nodata', detail: 'empty vector' },
    }),
    requests: null,
    health: async () => [{ id: 'web-1', consecutiveFailures: 0, state: 'healthy' }],
    ...o,
  };
}

function rule(name: string, onInconclusive: VerdictPolicy = { action: 'tolerate', limit: 2 }, onError: VerdictPolicy = { action: 'pause', limit: 0 }): AnalysisRule {
  return { name, kind: 'threshold', metric: { kind: 'prometheus', query: name }, max: 1, min: null, forMs: 0, windowMs: 60_000, minSamples: 0, onInconclusive, onError };
}
const template = (...rules: AnalysisRule[]): AnalysisTemplate => ({ name: 't', intervalMs: 10_000, rules });
const ok = (value: number): MetricResult => ({ phase: 'ok', value, samples: null });

describe('evaluateTemplate', () => {
  it('returns every verdict in rule order and continues when all pass', async () => {
    const ev = await evaluateTemplate(template(rule('a'), rule('b')), context({ a: ok(0.5), b: ok(0.2) }), {});
    expect(ev.at).toBe(1_000_000);
    expect(ev.verdicts.map((v) => [v.rule, v.verdict])).toEqual([['a', 'pass'], ['b', 'pass']]);
    expect(ev.decision).toEqual({ action: 'continue' });
    expect(ev.state).toEqual({ a: { breachSince: null, tolerated: 0 }, b: { breachSince: null, tolerated: 0 } });
  });

  it('fails on any fail verdict, naming every failing rule', async () => {
    const ev = await evaluateTemplate(template(rule('a'), rule('b'), rule('c')), context({ a: ok(2), b: ok(0.1), c: ok(3) }), {});
    expect(ev.decision).toEqual({ action: 'fail', reason: 'rule a: a 2 > 1; rule c: c 3 > 1' });
  });

  it('tolerates inconclusive verdicts up to the limit, then fails; a pass resets the count', async () => {
    const t = template(rule('a'));
    let state: AnalysisState = {};
    const decisions: string[] = [];
    for (let i = 0; i < 3; i++) {
      const ev = await evaluateTemplate(t, context({}), state);
      state = ev.state;
      decisions.push(ev.decision.action);
    }
    expect(decisions).toEqual(['continue', 'continue', 'fail']);
    const failed = await evaluateTemplate(t, context({}), { a: { breachSince: null, tolerated: 2 } });
    expect(failed.decision).toEqual({ action: 'fail', reason: 'rule a: 3 consecutive inconclusive verdicts (limit 2): inconclusive: no data for a over 1m0s (empty vector)' });
    const passed = await evaluateTemplate(t, context({ a: ok(0) }), { a: { breachSince: null, tolerated: 2 } });
    expect(passed.state.a!.tolerated).toBe(0);
    const after = await evaluateTemplate(t, context({}), passed.state);
    expect(after.decision).toEqual({ action: 'continue' });
  });

  it('applies onError: pause at once, fail at once, or pause after a limit', async () => {
    const err: MetricResult = { phase: 'error', detail: 'HTTP 503' };
    const paused = await evaluateTemplate(template(rule('a')), context({ a: err }), {});
    expect(paused.decision).toEqual({ action: 'pause', reason: 'rule a: error: a: HTTP 503' });
    const failed = await evaluateTemplate(template(rule('a', undefined, { action: 'fail', limit: 0 })), context({ a: err }), {});
    expect(failed.decision).toEqual({ action: 'fail', reason: 'rule a: error: a: HTTP 503' });
    const graced = template(rule('a', undefined, { action: 'pause', limit: 1 }));
    const first = await evaluateTemplate(graced, context({ a: err }), {});
    expect(first.decision).toEqual({ action: 'continue' });
    const second = await evaluateTemplate(graced, context({ a: err }), first.state);
    expect(second.decision).toEqual({ action: 'pause', reason: 'rule a: 2 consecutive errors (limit 1): a: HTTP 503' });
  });

  it('fail outranks pause', async () => {
    const ev = await evaluateTemplate(template(rule('a'), rule('b')), context({ a: { phase: 'error', detail: 'down' }, b: ok(5) }), {});
    expect(ev.decision).toEqual({ action: 'fail', reason: 'rule b: b 5 > 1' });
  });

  it('turns a rule that throws into an error verdict without hiding the others', async () => {
    const health: AnalysisRule = { name: 'health', kind: 'healthFailures', consecutive: 4, onInconclusive: { action: 'tolerate', limit: 2 }, onError: { action: 'fail', limit: 0 } };
    const ev = await evaluateTemplate(template(health, rule('a')), context({ a: ok(0) }, 1, { health: async () => { throw new Error('agent socket closed'); } }), {});
    expect(ev.verdicts.map((v) => [v.rule, v.verdict, v.reason])).toEqual([['health', 'error', 'health: agent socket closed'], ['a', 'pass', 'a 0 <= 1']]);
    expect(ev.decision).toEqual({ action: 'fail', reason: 'rule health: error: health: agent socket closed' });
  });

  it('keeps threshold breach times across evaluations and other rules\' state untouched', async () => {
    const slow: AnalysisRule = { ...rule('a'), forMs: 20_000 } as AnalysisRule;
    const t = template(slow);
    const e1 = await evaluateTemplate(t, context({ a: ok(2) }, 1_000_000), { other: { breachSince: 5, tolerated: 1 } });
    expect(e1.state).toEqual({ other: { breachSince: 5, tolerated: 1 }, a: { breachSince: 1_000_000, tolerated: 0 } });
    const e2 = await evaluateTemplate(t, context({ a: ok(2) }, 1_010_000), e1.state);
    expect(e2.decision).toEqual({ action: 'continue' });
    const e3 = await evaluateTemplate(t, context({ a: ok(2) }, 1_020_000), e2.state);
    expect(e3.decision).toEqual({ action: 'fail', reason: 'rule a: a 2 > 1 for 20s' });
  });
});
