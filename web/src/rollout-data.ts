/**
 * The rollout page's charts, from what the store kept (so they read the same whenever the
 * page is opened): per-release request samples (GET /v1/deployments/ID/samples), the steps
 * with their start times and traffic weights, and the verdicts with their measurements.
 * Pure functions: no React, no fetch.
 */
import type { DeploymentView, ReleaseSampleRecord, VerdictRecord } from './api.js';
import type { Marker, Series, Threshold } from './chart-types.js';

export interface RolloutCharts {
  /** Share of traffic per release (percent), a step line from the traffic steps that ran. */
  weight: Series[];
  /** Error rate per release (0–1) per sample interval. */
  errors: Series[];
  /** p95 latency per release (ms) per sample interval. */
  p95: Series[];
  /** Requests per second per release per sample interval. */
  rate: Series[];
  /** Step starts, weight changes and the verdict that ended the rollout. */
  markers: Marker[];
  /** Thresholds of the threshold rules on the error rate (0–1) and on p95 (ms). */
  errorThresholds: Threshold[];
  p95Thresholds: Threshold[];
  /** The time axis: the deployment's start to its end (or now). */
  span: { t0: number; t1: number };
  /** The fail verdict that ended the rollout, if one did. */
  endedBy: VerdictRecord | null;
  /** The traffic weights the deployment last set (its own, not the environment's now). */
  lastTraffic: Array<{ version: string; weight: number }>;
}

interface TrafficParams { versions?: Array<{ version: string; weight: number }> }

const ERROR_METRICS = ['error_rate'];
const P95_METRICS = ['p95_latency'];

function pct(v: number): string {
  return `${Number((v * 100).toFixed(2))}%`;
}

/** The charts of deployment `d` from its stored samples, as of `now` (the end of the axis while it runs). */
export function rolloutCharts(d: DeploymentView, samples: ReleaseSampleRecord[], now: number, final: boolean): RolloutCharts {
  const t0 = Math.min(d.startedAt ?? d.createdAt, ...samples.map((s) => s.at));
  const t1 = Math.max(final ? (d.finishedAt ?? now) : now, ...samples.map((s) => s.at), t0 + 1000);
  const versions = [...new Set([d.previousVersion ?? '', d.version, ...samples.map((s) => s.version)])].filter(Boolean);

  // Sample series, per release.
  const byVersion = new Map<string, ReleaseSampleRecord[]>();
  for (const s of samples) byVersion.set(s.version, [...(byVersion.get(s.version) ?? []), s]);
  const sampleSeries = (pick: (s: ReleaseSampleRecord) => number | null): Series[] => versions
    .map((v) => ({ name: v, points: (byVersion.get(v) ?? []).map((s) => ({ t: s.at, v: pick(s) })) }))
    .filter((s) => s.points.some((p) => p.v !== null));
  const errors = sampleSeries((s) => (s.requests > 0 ? s.errors / s.requests : null));
  const p95 = sampleSeries((s) => (s.p95Seconds === null ? null : s.p95Seconds * 1000));
  const rate = sampleSeries((s) => (s.intervalMs > 0 ? s.requests / (s.intervalMs / 1000) : null));

  // Traffic steps that ran, in the order they started: a step line per release.
  const traffic = d.steps
    .filter((s) => s.type === 'traffic' && s.startedAt !== null && s.status !== 'pending')
    .sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
  const changes = traffic.map((s) => {
    const list = (s.params as TrafficParams).versions ?? [];
    const total = list.reduce((a, v) => a + v.weight, 0) || 1;
    return { t: s.startedAt as number, weights: Object.fromEntries(list.map((v) => [v.version, (v.weight / total) * 100])) as Record<string, number>, list };
  });
  const weight: Series[] = versions.map((v) => {
    const points: Series['points'] = [];
    let prev: number | null = null;
    for (const c of changes) {
      const w = c.weights[v] ?? 0;
      if (prev !== null) points.push({ t: c.t, v: prev });
      points.push({ t: c.t, v: w });
      prev = w;
    }
    if (prev !== null) points.push({ t: t1, v: prev });
    return { name: v, points };
  }).filter((s) => s.points.some((p) => p.v !== null && p.v > 0));

  const markers: Marker[] = [];
  for (const s of d.steps) {
    if (s.startedAt === null) continue;
    markers.push({ t: s.startedAt, kind: 'step', label: `step ${s.idx + 1}${s.stage === 'rollback' ? ' (rollback)' : ''}: ${s.title}` });
  }
  for (const c of changes) {
    const canary = d.kind === 'rollback' ? d.previousVersion : d.version;
    const share = canary !== null ? Math.round(c.weights[canary] ?? 0) : null;
    markers.push({ t: c.t, kind: 'weight', label: share === null ? 'weights' : `${share}%` });
  }
  const fails = d.verdicts.filter((v) => v.verdict === 'fail');
  const endedBy = ['rolled_back', 'failed', 'rolling_back'].includes(d.phase) && fails.length > 0 ? fails[fails.length - 1] : null;
  if (endedBy) markers.push({ t: endedBy.at, kind: 'verdict', label: `fail: ${endedBy.rule}` });

  // One threshold line per threshold rule, from the limits stored with its measurements.
  const errorThresholds: Threshold[] = [];
  const p95Thresholds: Threshold[] = [];
  const seen = new Set<string>();
  for (const v of d.verdicts) {
    if (v.kind !== 'threshold') continue;
    for (const m of v.measurements) {
      const metric = String(m.metric ?? '');
      const detail = (m.detail ?? {}) as Record<string, unknown>;
      for (const side of ['max', 'min'] as const) {
        const limit = detail[side];
        if (typeof limit !== 'number') continue;
        const key = `${v.template}/${v.rule}/${metric}/${side}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (ERROR_METRICS.includes(metric)) errorThresholds.push({ v: limit, label: `${v.rule} ${side} ${pct(limit)}` });
        if (P95_METRICS.includes(metric)) p95Thresholds.push({ v: limit * 1000, label: `${v.rule} ${side} ${Math.round(limit * 1000)} ms` });
      }
    }
  }

  return {
    weight, errors, p95, rate, markers, errorThresholds, p95Thresholds, span: { t0, t1 }, endedBy,
    lastTraffic: changes.length ? changes[changes.length - 1].list : [],
  };
}
