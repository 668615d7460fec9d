/**
 * The service page's data, from GET /v1/timeline: deployment markers coloured by outcome,
 * freeze spans (manual, or an incident's from an Alertmanager alert) on the window's time axis,
 * and per-release series of request rate, error rate and p95 from the stored samples.
 * Pure functions: no React, no fetch.
 */
import type { TimelineView } from '../../src/engine/types.js';
import type { ReleaseSampleRecord } from '../../src/store/types.js';
import type { Series } from './chart-types.js';
import type { ReleaseRole } from './colors.js';

/** The colour of a deployment's outcome on the timeline (an unfinished one: `active`). */
export const OUTCOME_COLORS = {
  succeeded: '#16a34a', rolled_back: '#d97706', superseded: '#6b7280', failed: '#dc2626', aborted: '#7c3aed', active: '#2563eb',
} as const;
export type Outcome = keyof typeof OUTCOME_COLORS;

export interface DeploymentMarker {
  id: string;
  /** When it started (or was requested, when it never started). */
  t: number;
  /** When it ended, or null while it runs. */
  end: number | null;
  kind: 'deploy' | 'rollback';
  version: string;
  outcome: Outcome;
  /** "deploy 1.1.0: rolled back" */
  label: string;
}

export interface FreezeSpan { id: string; t0: number; t1: number; incident: boolean; label: string }

export interface ServiceCharts {
  span: { t0: number; t1: number };
  markers: DeploymentMarker[];
  freezes: FreezeSpan[];
  /** Requests per second, error rate (0–1) and p95 (ms) per release. */
  rate: Series[];
  errors: Series[];
  p95: Series[];
  /** Colour roles: the stable release blue, the newest other release amber, older ones grey. */
  roles: Record<string, ReleaseRole>;
}

const OUTCOMES: readonly string[] = ['succeeded', 'rolled_back', 'superseded', 'failed', 'aborted'];

/** The charts of a timeline, over its whole window or only its last `windowMs`. */
export function serviceCharts(v: TimelineView, windowMs?: number): ServiceCharts {
  const t0 = windowMs === undefined ? v.since : Math.max(v.since, v.until - windowMs);
  const span = { t0, t1: Math.max(v.until, t0 + 1) };
  const deployments = v.deployments.filter((d) => d.finishedAt === null || d.finishedAt >= t0);
  const markers: DeploymentMarker[] = deployments.map((d) => {
    const outcome = (OUTCOMES.includes(d.phase) ? d.phase : 'active') as Outcome;
    return {
      id: d.id, t: d.startedAt ?? d.createdAt, end: d.finishedAt, kind: d.kind, version: d.version, outcome,
      label: `${d.kind} ${d.version}: ${outcome === 'active' ? d.phase.replace(/_/g, ' ') : outcome.replace(/_/g, ' ')}`,
    };
  });
  const freezes: FreezeSpan[] = v.freezes.filter((f) => f.liftedAt === null || f.liftedAt >= t0).map((f) => ({
    id: f.id, t0: Math.max(f.createdAt, span.t0), t1: Math.min(f.liftedAt ?? span.t1, span.t1), incident: f.source === 'alert',
    label: `${f.source === 'alert' ? 'incident freeze' : 'freeze'}: ${f.reason}${f.liftedAt === null ? ' (active)' : ''}`,
  }));

  // One series per release; two samples of one release at the same moment (a rollout's last
  // sample and a serving one) are added up.
  const byVersion = new Map<string, Map<number, ReleaseSampleRecord>>();
  for (const s of v.samples) {
    if (s.at < t0) continue;
    const m = byVersion.get(s.version) ?? new Map<number, ReleaseSampleRecord>();
    const prev = m.get(s.at);
    m.set(s.at, prev ? { ...prev, requests: prev.requests + s.requests, errors: prev.errors + s.errors, p95Seconds: prev.p95Seconds ?? s.p95Seconds } : s);
    byVersion.set(s.version, m);
  }
  const versions = [...byVersion.keys()];
  const series = (pick: (s: ReleaseSampleRecord) => number | null): Series[] => versions
    .map((name) => ({ name, points: [...(byVersion.get(name)?.values() ?? [])].sort((a, b) => a.at - b.at).map((s) => ({ t: s.at, v: pick(s) })) }))
    .filter((s) => s.points.some((p) => p.v !== null));

  const roles: Record<string, ReleaseRole> = {};
  const newestOther = [...deployments].reverse().map((d) => d.version).find((x) => x !== v.stableVersion);
  for (const name of versions) roles[name] = name === v.stableVersion ? 'stable' : name === newestOther ? 'canary' : 'other';
  return {
    span, markers, freezes, roles,
    rate: series((s) => (s.intervalMs > 0 ? s.requests / (s.intervalMs / 1000) : null)),
    errors: series((s) => (s.requests > 0 ? s.errors / s.requests : null)),
    p95: series((s) => (s.p95Seconds === null ? null : s.p95Seconds * 1000)),
  };
}
