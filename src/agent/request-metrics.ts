/**
 * Per-release request measurements of the agent's proxy: a request counter and a latency
 * histogram per (service, environment, version, status class), rendered in the Prometheus
 * text exposition format and summarised for the engine's analysis. `record()` runs once per
 * proxied request, so series live in nested maps and are never rebuilt.
 */
import { histogramQuantile } from '../core/histogram.js';
import type { RequestMetricsApi } from './types.js';

/**
 * Upper bounds of the latency histogram, in seconds. Finer than the Prometheus client defaults
 * where canary analysis compares releases (tens to hundreds of milliseconds), and with a bound
 * at exactly 2 s so `histogram_quantile` answers "P95 > 2 s" without interpolating across it.
 */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1, 1.5, 2, 2.5, 5, 10,
]);

const NB = DURATION_BUCKETS.length;

/** One label set: non-cumulative bucket counts (the last slot is +Inf), sum and count. */
class Series {
  readonly buckets = new Float64Array(NB + 1);
  sum = 0;
  count = 0;
}

/** Series of one version, indexed by status class (2 for 2xx); index 0 holds codes outside 100–599. */
type VersionSeries = Array<Series | undefined>;

/**
 * One version's raw cumulative counters, as {@link RequestMetrics.counters} returns them:
 * `buckets` are non-cumulative, one per bound plus the +Inf bucket.
 */
export interface VersionCounters {
  version: string;
  total: number;
  /** 5xx answers, including the proxy's own 502/503. */
  errors: number;
  bounds: readonly number[];
  buckets: number[];
}

/** One version's figures, as {@link RequestMetrics.snapshot} returns them. */
export interface VersionSnapshot {
  version: string;
  total: number;
  /** Requests per status class, e.g. `{ "2xx": 98, "5xx": 2 }`. */
  byStatus: Record<string, number>;
  /** Latency quantiles in seconds, estimated like PromQL's `histogram_quantile`; 0 without requests. */
  p50: number;
  p95: number;
  p99: number;
}

function statusClass(i: number): string { return i === 0 ? 'other' : `${i}xx`; }

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatNumber(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return Number.isNaN(n) ? 'NaN' : String(n);
}

/**
 * In-memory request metrics of the local agent.
 *
 * @example
 * const m = new RequestMetrics();
 * m.record('web', 'prod', 'v2', 200, 0.004);
 * m.snapshot('web', 'prod'); // [{ version: 'v2', total: 1, byStatus: { '2xx': 1 }, p50: 0.0025, … }]
 * m.render();                // Prometheus text exposition
 */
export class RequestMetrics implements RequestMetricsApi {
  private readonly tree = new Map<string, Map<string, Map<string, VersionSeries>>>();

  /** Counts one finished request. `status` is the HTTP status code sent to the client. */
  record(service: string, environment: string, version: string, status: number, durationSeconds: number): void {
    let byEnv = this.tree.get(service);
    if (byEnv === undefined) { byEnv = new Map(); this.tree.set(service, byEnv); }
    let byVersion = byEnv.get(environment);
    if (byVersion === undefined) { byVersion = new Map(); byEnv.set(environment, byVersion); }
    let classes = byVersion.get(version);
    if (classes === undefined) { classes = []; byVersion.set(version, classes); }
    let ci = (status / 100) | 0;
    if (ci < 1 || ci > 5) ci = 0;
    let s = classes[ci];
    if (s === undefined) { s = new Series(); classes[ci] = s; }
    let b = 0;
    while (b < NB && durationSeconds > DURATION_BUCKETS[b]!) b++;
    s.buckets[b]!++;
    s.sum += durationSeconds;
    s.count++;
  }

  /** `http_requests_total` and `http_request_duration_seconds` in Prometheus text format. */
  render(): string {
    const counters: string[] = [];
    const histograms: string[] = [];
    for (const [service, byEnv] of this.tree) {
      for (const [environment, byVersion] of byEnv) {
        for (const [version, classes] of byVersion) {
          const base = `service="${escapeLabel(service)}",environment="${escapeLabel(environment)}",version="${escapeLabel(version)}"`;
          for (let ci = 0; ci < classes.length; ci++) {
            const s = classes[ci];
            if (s === undefined) continue;
            const labels = `${base},status="${statusClass(ci)}"`;
            counters.push(`http_requests_total{${labels}} ${s.count}`);
            let cum = 0;
            for (let b = 0; b < NB; b++) {
              cum += s.buckets[b]!;
              histograms.push(`http_request_duration_seconds_bucket{${labels},le="${formatNumber(DURATION_BUCKETS[b]!)}"} ${cum}`);
            }
            histograms.push(`http_request_duration_seconds_bucket{${labels},le="+Inf"} ${s.count}`);
            histograms.push(`http_request_duration_seconds_sum{${labels}} ${formatNumber(s.sum)}`);
            histograms.push(`http_request_duration_seconds_count{${labels}} ${s.count}`);
          }
        }
      }
    }
    return [
      '# HELP http_requests_total Requests answered through the Gangway proxy.',
      '# TYPE http_requests_total counter',
      ...counters,
      '# HELP http_request_duration_seconds Time from request head received to response end through the Gangway proxy.',
      '# TYPE http_request_duration_seconds histogram',
      ...histograms,
      '',
    ].join('\n');
  }

  /** Per version of the (service, environment): totals by status class and latency quantiles over all statuses. */
  snapshot(service: string, environment: string): VersionSnapshot[] {
    const byVersion = this.tree.get(service)?.get(environment);
    if (byVersion === undefined) return [];
    const out: VersionSnapshot[] = [];
    for (const [version, classes] of byVersion) {
      const merged = new Float64Array(NB + 1);
      const byStatus: Record<string, number> = {};
      let total = 0;
      for (let ci = 0; ci < classes.length; ci++) {
        const s = classes[ci];
        if (s === undefined) continue;
        byStatus[statusClass(ci)] = s.count;
        total += s.count;
        for (let b = 0; b <= NB; b++) merged[b]! += s.buckets[b]!;
      }
      for (let b = 1; b <= NB; b++) merged[b]! += merged[b - 1]!;
      out.push({
        version,
        total,
        byStatus,
        p50: histogramQuantile(0.5, DURATION_BUCKETS, merged),
        p95: histogramQuantile(0.95, DURATION_BUCKETS, merged),
        p99: histogramQuantile(0.99, DURATION_BUCKETS, merged),
      });
    }
    return out;
  }

  /**
   * Cumulative counters per version of the (service, environment) since this agent started
   * counting it; a reader computes windows from the difference of two readings.
   */
  counters(service: string, environment: string): VersionCounters[] {
    const byVersion = this.tree.get(service)?.get(environment);
    if (byVersion === undefined) return [];
    const out: VersionCounters[] = [];
    for (const [version, classes] of byVersion) {
      const buckets = new Array<number>(NB + 1).fill(0);
      let total = 0;
      for (let ci = 0; ci < classes.length; ci++) {
        const s = classes[ci];
        if (s === undefined) continue;
        total += s.count;
        for (let b = 0; b <= NB; b++) buckets[b]! += s.buckets[b]!;
      }
      out.push({ version, total, errors: classes[5]?.count ?? 0, bounds: DURATION_BUCKETS, buckets });
    }
    return out;
  }
}
