import { describe, expect, it } from 'vitest';
import { DEFAULT_CANARY_STEPS, PRESETS, RUNBOOK_DEFAULTS } from './presets.js';

describe('presets', () => {
  it('encodes the runbook thresholds', () => {
    expect(RUNBOOK_DEFAULTS.name).toBe('runbook-defaults');
    expect(RUNBOOK_DEFAULTS.intervalMs).toBe(10_000);
    const byName = Object.fromEntries(RUNBOOK_DEFAULTS.rules.map((r) => [r.name, r]));
    expect(byName['error-rate']).toMatchObject({ kind: 'threshold', metric: { kind: 'builtin', metric: 'error_rate' }, max: 0.05, forMs: 120_000, windowMs: 60_000 });
    expect(byName['p95-latency']).toMatchObject({ kind: 'threshold', metric: { kind: 'builtin', metric: 'p95_latency' }, max: 2, forMs: 300_000 });
    expect(byName['error-rate-vs-stable']).toMatchObject({ kind: 'relative', maxIncrease: 0.5, maxRatio: null, minSamples: 200 });
    expect(byName['latency-vs-stable']).toMatchObject({ kind: 'relative', metric: { kind: 'builtin', metric: 'p95_latency' }, maxRatio: 2 });
    expect(byName['health']).toMatchObject({ kind: 'healthFailures', consecutive: 4 });
    expect(byName['judge']).toMatchObject({ kind: 'judge', errors: true, latency: true, alpha: 0.002, minSamples: 200, direction: 'increase', effectSize: { measure: 'medianShift', allowedIncrease: 1.5 } });
    for (const r of RUNBOOK_DEFAULTS.rules) {
      expect(r.onInconclusive).toEqual({ action: 'tolerate', limit: 360 });
      expect(r.onError).toEqual({ action: 'pause', limit: 3 });
    }
  });

  it('names every preset by its own name, and the default steps use one', () => {
    expect(Object.keys(PRESETS)).toEqual(['runbook-defaults']);
    expect(PRESETS['runbook-defaults']).toBe(RUNBOOK_DEFAULTS);
    for (const s of DEFAULT_CANARY_STEPS) if (s.kind === 'analysis') expect(PRESETS[s.template]).toBeDefined();
    expect(DEFAULT_CANARY_STEPS.filter((s) => s.kind === 'setWeight').map((s) => (s as { weight: number }).weight)).toEqual([5, 25, 50, 100]);
  });

  it('is frozen, so no caller can change the defaults for everyone', () => {
    expect(Object.isFrozen(RUNBOOK_DEFAULTS.rules[0])).toBe(true);
    expect(Object.isFrozen(DEFAULT_CANARY_STEPS)).toBe(true);
  });
});
