/**
 * `gangway status` tells the truth about a settled release: every pair serving requests gets
 * its live figures per release, judged against the pair's analysis rules (StatusEntry.limits).
 */
import { describe, expect, it } from 'vitest';
import type { StatusEntry } from '../../engine/types.js';
import { renderStatus } from './status.js';

const entry = (over: Partial<StatusEntry>): StatusEntry => ({
  service: 'web', environment: 'prod', version: '0.2', deployment: { id: 'dep_1', phase: 'succeeded', step: null }, queued: 0, port: 8083,
  instances: [
    { id: 'i1', version: '0.2', port: 41001, state: 'ready', restarts: 0, consecutiveFailures: 0 },
    { id: 'i2', version: '0.2', port: 41002, state: 'ready', restarts: 0, consecutiveFailures: 0 },
  ],
  traffic: [{ version: '0.2', weight: 100 }], analysis: [], preview: null,
  releases: [{ version: '0.2', requests: 600, errorRate: 0.2, p95Seconds: 0.012 }],
  ...over,
});

describe('status figures', () => {
  it('shows a settled release failing a fifth of its requests, flagged against the error-rate rule', () => {
    const out = renderStatus([entry({ limits: { errorRate: { max: 0.05, rule: 'e2e/error-rate' }, p95Seconds: { max: 0.5, rule: 'e2e/latency' } } })]);
    expect(out.split('\n').slice(2)).toEqual([
      '',
      'web/prod',
      '  RELEASE  WEIGHT  REQ/MIN  ERRORS                           P95',
      '  0.2      100%    600      20.0% ✗ > 5.0% (e2e/error-rate)  12 ms',
      '',
    ]);
  });

  it('shows the figures unjudged without rules, and nothing for a pair without requests', () => {
    const out = renderStatus([entry({}), entry({ environment: 'dev', releases: [{ version: '0.2', requests: 0, errorRate: null, p95Seconds: null }] })]);
    expect(out).toContain('web/prod\n  RELEASE  WEIGHT  REQ/MIN  ERRORS  P95\n  0.2      100%    600      20.0%   12 ms\n');
    expect(out).not.toContain('web/dev');
  });
});
