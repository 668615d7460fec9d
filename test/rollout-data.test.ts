/**
 * The rollout page's charts from stored data (web/src/rollout-data.ts): per-release sample
 * lines, the weight step line from the traffic steps, markers, thresholds from the verdicts'
 * measurements, the verdict that ended a rollout, and the traffic it last set.
 */
import { describe, expect, it } from 'vitest';
import type { DeploymentView } from '../src/engine/types.js';
import type { StepRecord, VerdictRecord } from '../src/store/types.js';
import { rolloutCharts } from '../web/src/rollout-data.js';
import { deploymentRoles, environmentRoles } from '../web/src/colors.js';

const step = (idx: number, type: string, title: string, at: number | null, params: Record<string, unknown> = {}, status: StepRecord['status'] = 'succeeded', stage: StepRecord['stage'] = 'deploy'): StepRecord => ({
  deploymentId: 'd1', idx, type, title, params, status, stage, startedAt: at, finishedAt: at, output: null, attempts: 1,
});
const verdict = (at: number, rule: string, v: VerdictRecord['verdict'], metric: string, max: number): VerdictRecord => ({
  id: at, deploymentId: 'd1', at, stepIdx: 2, template: 'e2e', rule, kind: 'threshold', verdict: v, reason: `${rule} ${v}`,
  measurements: [{ at, metric, canary: 0.2, stable: null, detail: { max, min: null, forMs: 0, windowMs: 3000 } }],
});

const d = {
  id: 'd1', kind: 'deploy', version: '0.2', previousVersion: '0', phase: 'rolled_back', createdAt: 1000, startedAt: 1000, finishedAt: 9000,
  steps: [
    step(0, 'traffic', 'traffic 0 50% / 0.2 50%', 2000, { versions: [{ version: '0', weight: 1 }, { version: '0.2', weight: 1 }] }),
    step(1, 'analysis', 'analysis e2e', 3000, {}, 'failed'),
    step(2, 'traffic', 'all traffic to 0.2', null, { versions: [{ version: '0.2', weight: 100 }] }, 'pending'),
    step(3, 'traffic', 'all traffic to 0', 8000, { versions: [{ version: '0', weight: 100 }] }, 'succeeded', 'rollback'),
  ],
  verdicts: [verdict(4000, 'error-rate', 'pass', 'error_rate', 0.05), verdict(6000, 'latency', 'pass', 'p95_latency', 0.5), verdict(7000, 'error-rate', 'fail', 'error_rate', 0.05)],
} as unknown as DeploymentView;

const samples = [
  { deploymentId: 'd1', at: 4000, version: '0', intervalMs: 2000, requests: 100, errors: 0, p95Seconds: 0.004 },
  { deploymentId: 'd1', at: 4000, version: '0.2', intervalMs: 2000, requests: 100, errors: 20, p95Seconds: 0.005 },
  { deploymentId: 'd1', at: 6000, version: '0', intervalMs: 2000, requests: 200, errors: 0, p95Seconds: 0.004 },
  { deploymentId: 'd1', at: 6000, version: '0.2', intervalMs: 2000, requests: 0, errors: 0, p95Seconds: null },
];

describe('rolloutCharts', () => {
  const c = rolloutCharts(d, samples, 99_999, true);

  it('draws per-release lines from the samples over the deployment\'s life', () => {
    expect(c.span).toEqual({ t0: 1000, t1: 9000 });
    expect(c.errors).toEqual([
      { name: '0', points: [{ t: 4000, v: 0 }, { t: 6000, v: 0 }] },
      { name: '0.2', points: [{ t: 4000, v: 0.2 }, { t: 6000, v: null }] },
    ]);
    expect(c.p95.map((s) => s.points.map((p) => p.v))).toEqual([[4, 4], [5, null]]);
    // Requests per second of each sample's own interval.
    expect(c.rate.map((s) => [s.name, s.points.map((p) => p.v)])).toEqual([['0', [50, 100]], ['0.2', [50, 0]]]);
  });

  it('steps the weights from the traffic steps that ran, in percent, to the end of the axis', () => {
    expect(c.weight).toEqual([
      { name: '0', points: [{ t: 2000, v: 50 }, { t: 8000, v: 50 }, { t: 8000, v: 100 }, { t: 9000, v: 100 }] },
      { name: '0.2', points: [{ t: 2000, v: 50 }, { t: 8000, v: 50 }, { t: 8000, v: 0 }, { t: 9000, v: 0 }] },
    ]);
    expect(c.lastTraffic).toEqual([{ version: '0', weight: 100 }]);
  });

  it('marks step starts, weight changes and the verdict that ended it; draws each threshold once', () => {
    expect(c.markers.filter((m) => m.kind !== 'step')).toEqual([
      { t: 2000, kind: 'weight', label: '50%' }, { t: 8000, kind: 'weight', label: '0%' }, { t: 7000, kind: 'verdict', label: 'fail: error-rate' },
    ]);
    expect(c.markers.filter((m) => m.kind === 'step').map((m) => m.label))
      .toEqual(['step 1: traffic 0 50% / 0.2 50%', 'step 2: analysis e2e', 'step 4 (rollback): all traffic to 0']);
    expect(c.endedBy?.at).toBe(7000);
    expect(c.errorThresholds).toEqual([{ v: 0.05, label: 'error-rate max 5%' }]);
    expect(c.p95Thresholds).toEqual([{ v: 500, label: 'latency max 500 ms' }]);
  });

  it('a running deployment ends its axis now and names no ending verdict', () => {
    const live = rolloutCharts({ ...d, phase: 'running', finishedAt: null, verdicts: d.verdicts.slice(0, 2) } as DeploymentView, samples, 12_000, false);
    expect([live.span.t1, live.endedBy]).toEqual([12_000, null]);
  });
});

describe('release roles', () => {
  it('a deploy\'s new release is the canary; a rollback\'s target is stable; an environment\'s stable is stable', () => {
    expect(deploymentRoles({ kind: 'deploy', version: '0.2', previousVersion: '0' })).toEqual({ '0.2': 'canary', 0: 'stable' });
    expect(deploymentRoles({ kind: 'rollback', version: '0', previousVersion: '0.2' })).toEqual({ '0.2': 'canary', 0: 'stable' });
    expect(environmentRoles('0', ['0', '0.2'])).toEqual({ 0: 'stable', '0.2': 'canary' });
  });
});
