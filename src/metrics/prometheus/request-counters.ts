/**
 * The builtin request metrics of a target that does not measure requests itself (Kubernetes):
 * cumulative counters per release read from Prometheus with the `metrics.requests` queries, in
 * the shape the builtin provider windows (`ReleaseRequestCounters`). The builtin provider then
 * computes error rate, request rate and latency quantiles exactly as it does for the local
 * agent's proxy, so analysis rules and the statistical judge work unchanged.
 */
import type { RequestQueries } from '../../config/types.js';
import type { ReleaseRequestCounters } from '../../targets/target.js';
import { CountersReadError, type CountersSource } from '../builtin/builtin-provider.js';
import { renderPromQL } from '../template.js';
import type { PrometheusProvider } from './prometheus-provider.js';

/**
 * Request counters per release from Prometheus.
 *
 * @example
 * const source = new PrometheusRequestCounters(prom, config.metrics.requests!);
 * await source.counters('web', 'prod');
 * // [{ version: '2.0.0', total: 1520, errors: 3, bounds: [0.05, 0.1, …], buckets: [900, 410, …] }]
 */
export class PrometheusRequestCounters implements CountersSource {
  constructor(
    private readonly prom: Pick<PrometheusProvider, 'vector' | 'address'>,
    private readonly queries: RequestQueries,
    private readonly clock: { now(): number } = Date,
  ) {}

  /**
   * One reading of every release's counters. Throws `CountersReadError` naming the query when
   * Prometheus cannot answer one, or when a series lacks the version label. A release without
   * error series has 0 errors; one without buckets has none (latency metrics then have no data).
   */
  async counters(service: string, environment: string): Promise<ReleaseRequestCounters[]> {
    const vars = { service, environment, version: '', windowMs: 60_000 };
    const now = this.clock.now();
    const [total, errors, buckets] = await Promise.all((['total', 'errors', 'buckets'] as const).map(async (name) => {
      const query = renderPromQL(this.queries[name], vars);
      const r = await this.prom.vector(query, now);
      if (r.phase === 'error') throw new CountersReadError(`metrics.requests.${name}: ${r.detail}`);
      for (const s of r.samples) {
        if (s.labels[this.queries.versionLabel] === undefined) {
          throw new CountersReadError(`metrics.requests.${name}: a series has no ${this.queries.versionLabel} label (${JSON.stringify(s.labels)}); group the query by it, e.g. sum by (${this.queries.versionLabel}${name === 'buckets' ? ', le' : ''}) (…)`);
        }
      }
      return r.samples;
    })) as [Sample[], Sample[], Sample[]];

    const label = this.queries.versionLabel;
    const out = new Map<string, { total: number; errors: number; cumulative: Map<number, number> }>();
    const entry = (v: string) => {
      let e = out.get(v);
      if (!e) out.set(v, e = { total: 0, errors: 0, cumulative: new Map() });
      return e;
    };
    for (const s of total) entry(s.labels[label]!).total += finite(s.value);
    for (const s of errors) entry(s.labels[label]!).errors += finite(s.value);
    for (const s of buckets) {
      const le = s.labels.le === undefined ? Number.NaN : s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      if (Number.isNaN(le)) throw new CountersReadError(`metrics.requests.buckets: a series has no numeric le label (${JSON.stringify(s.labels)}); query the _bucket series grouped by (${label}, le)`);
      const e = entry(s.labels[label]!);
      e.cumulative.set(le, (e.cumulative.get(le) ?? 0) + finite(s.value));
    }
    return [...out].map(([version, e]) => ({ version, total: e.total, errors: Math.min(e.errors, e.total), ...toBuckets(e.cumulative, e.total) }))
      .sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  }
}

type Sample = { labels: Record<string, string>; value: number };

function finite(v: number): number {
  return Number.isFinite(v) && v > 0 ? v : 0;
}

/**
 * Prometheus's cumulative `le` buckets as the builtin provider's bounds (finite, ascending) and
 * non-cumulative counts (one more than the bounds: the +Inf bucket). Counts that shrink between
 * bounds (series scraped at different moments) are clamped to 0.
 */
function toBuckets(cumulative: Map<number, number>, total: number): { bounds: number[]; buckets: number[] } {
  const bounds = [...cumulative.keys()].filter((b) => Number.isFinite(b)).sort((a, b) => a - b);
  if (bounds.length === 0 && !cumulative.has(Number.POSITIVE_INFINITY)) return { bounds: [], buckets: [total] };
  const buckets: number[] = [];
  let below = 0;
  for (const b of bounds) {
    const c = cumulative.get(b)!;
    buckets.push(Math.max(0, c - below));
    below = Math.max(below, c);
  }
  const all = cumulative.get(Number.POSITIVE_INFINITY) ?? Math.max(total, below);
  buckets.push(Math.max(0, all - below));
  return { bounds, buckets };
}
