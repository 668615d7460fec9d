/**
 * The builtin metric provider: windows over the per-release request counters a target keeps
 * itself (the local agent's proxy; see `Target.requestCounters`). The agent only keeps
 * cumulative counts (since it started counting a version), so this provider keeps timestamped readings per (service, environment) and answers a window as the
 * increase between the reading closest to its start and the newest one — like PromQL's
 * `increase()`, with agent restarts counted as fresh starts.
 */
import { bucketQuantile } from '../../core/histogram.js';
import type { BuiltinMetric, MetricSource } from '../../config/types.js';
import { RequestMetricsUnavailableError, type ReleaseRequestCounters } from '../../targets/target.js';
import type { MetricProvider, MetricQuery, MetricResult, RequestWindow, RequestWindowSource } from '../provider.js';

/**
 * Where the counters come from: the targets of the services (src/cli/serve.ts wires
 * `Target.requestCounters`), or the agent's client directly. Throws
 * `RequestMetricsUnavailableError` for a service whose target does not measure requests.
 */
export interface CountersSource {
  counters(service: string, environment: string): Promise<ReleaseRequestCounters[]>;
}

/**
 * A counters source that cannot answer and words the whole reason itself (Prometheus rejected
 * a `metrics.requests` query); the measurement's `error` is its message as is.
 */
export class CountersReadError extends Error {
  override name = 'CountersReadError';
}

/** One version's cumulative counters in one reading. */
type Counters = ReleaseRequestCounters;

interface Reading {
  at: number;
  versions: Map<string, Counters>;
}

/** Tunables of {@link BuiltinProvider}. */
export interface BuiltinProviderOptions {
  /**
   * A reading younger than this is reused instead of asking the agent again, so the many
   * measurements of one analysis interval cost one request. Default 1000.
   */
  minIntervalMs?: number;
  /** How long readings are kept; a longer window asked for extends it. Default 1 hour. */
  retentionMs?: number;
}

/** The builtin metric names, for documentation and validation. */
export const BUILTIN_METRICS: readonly BuiltinMetric[] = Object.freeze(['error_rate', 'request_rate', 'p50_latency', 'p95_latency', 'p99_latency']);

const QUANTILES: Record<'p50_latency' | 'p95_latency' | 'p99_latency', number> = { p50_latency: 0.5, p95_latency: 0.95, p99_latency: 0.99 };

/** The increase of one version over a window, with the span it covers. */
interface WindowDelta {
  window: RequestWindow;
  /** Seconds the counts were collected over (for rates); 0 when the window has one reading only. */
  seconds: number;
  /** Whether any reading in the window knew the version. */
  seen: boolean;
  /** Whether an earlier reading than the newest one exists to start the window from. */
  baseline: boolean;
}

/**
 * Builtin metrics from the agent's counters.
 *
 * @example
 * const builtin = new BuiltinProvider(connectAgent('.gangway'));
 * setInterval(() => void builtin.sample('web', 'prod'), 5000); // readings between measurements
 * const r = await builtin.measure({ kind: 'builtin', metric: 'error_rate' },
 *   { service: 'web', environment: 'prod', version: '2.0.0', windowMs: 120_000, now: Date.now() });
 */
export class BuiltinProvider implements MetricProvider, RequestWindowSource {
  private readonly readings = new Map<string, Reading[]>();
  private readonly polling = new Map<string, Promise<Reading>>();
  private readonly minIntervalMs: number;
  private retentionMs: number;

  constructor(
    private readonly source: CountersSource,
    private readonly clock: { now(): number } = { now: () => Date.now() },
    options: BuiltinProviderOptions = {},
  ) {
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    this.retentionMs = options.retentionMs ?? 3_600_000;
  }

  /**
   * Takes a reading of the (service, environment) now, so later windows have a baseline near
   * their start. Never throws: resolves false when the agent could not be read. Idempotent
   * within `minIntervalMs`.
   */
  async sample(service: string, environment: string): Promise<boolean> {
    try {
      await this.read(service, environment);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Measures a builtin metric of the query's release over its window. `error` when the agent
   * cannot be read or the source is not builtin; `nodata` when the window holds no requests
   * (or, for `request_rate`, when no earlier reading exists yet). Never throws.
   */
  async measure(source: MetricSource, q: MetricQuery): Promise<MetricResult> {
    if (source.kind !== 'builtin') return { phase: 'error', detail: `the builtin provider cannot measure a ${source.kind} source` };
    const delta = await this.delta(q);
    if ('phase' in delta) return delta;
    const { window: w, seconds, seen, baseline } = delta;
    const what = `${q.service}/${q.environment} version ${q.version}`;
    if (!baseline) {
      return { phase: 'nodata', detail: `first reading of the agent's counters for ${q.service}/${q.environment}: a window needs an earlier one (the next measurement has it)` };
    }
    if (source.metric === 'request_rate') {
      if (!seen || seconds <= 0) return { phase: 'nodata', detail: `no requests recorded for ${what} yet` };
      return { phase: 'ok', value: w.total / seconds, samples: w.total };
    }
    if (w.total === 0) return { phase: 'nodata', detail: `no requests to ${what} in the last ${formatWindow(q.windowMs)}` };
    if (source.metric === 'error_rate') return { phase: 'ok', value: w.errors / w.total, samples: w.total };
    const quantile = QUANTILES[source.metric];
    if (quantile === undefined) return { phase: 'error', detail: `unknown builtin metric ${JSON.stringify(source.metric)}; known: ${BUILTIN_METRICS.join(', ')}` };
    return { phase: 'ok', value: bucketQuantile(quantile, w.bounds, w.buckets), samples: w.total };
  }

  /** The release's raw request counts over the window (total 0 without requests). `error` when the agent cannot be read. Never throws. */
  async requestWindow(q: MetricQuery): Promise<RequestWindow | { phase: 'error'; detail: string }> {
    const delta = await this.delta(q);
    return 'phase' in delta ? delta : delta.window;
  }

  private async delta(q: MetricQuery): Promise<WindowDelta | { phase: 'error'; detail: string }> {
    if (q.windowMs > this.retentionMs) this.retentionMs = q.windowMs;
    let current: Reading;
    try {
      current = await this.read(q.service, q.environment);
    } catch (err) {
      if (err instanceof RequestMetricsUnavailableError || err instanceof CountersReadError) return { phase: 'error', detail: err.message };
      return { phase: 'error', detail: `cannot read the local agent's request counters: ${err instanceof Error ? err.message : String(err)}` };
    }
    const history = this.readings.get(key(q.service, q.environment)) ?? [current];
    return windowDelta(history, current, q.version, q.now - q.windowMs);
  }

  /** The newest reading, taken now unless one is younger than `minIntervalMs`; concurrent callers share one request. */
  private read(service: string, environment: string): Promise<Reading> {
    const k = key(service, environment);
    const history = this.readings.get(k);
    const last = history?.[history.length - 1];
    const now = this.clock.now();
    if (last !== undefined && now - last.at < this.minIntervalMs && now >= last.at) return Promise.resolve(last);
    const inflight = this.polling.get(k);
    if (inflight !== undefined) return inflight;
    const p = (async () => {
      try {
        const rows = await this.source.counters(service, environment);
        const reading: Reading = { at: this.clock.now(), versions: new Map(rows.map((r) => [r.version, r])) };
        this.remember(k, reading);
        return reading;
      } finally {
        this.polling.delete(k);
      }
    })();
    this.polling.set(k, p);
    return p;
  }

  private remember(k: string, reading: Reading): void {
    let history = this.readings.get(k);
    if (history === undefined) { history = []; this.readings.set(k, history); }
    // A clock that stepped back would break the ordering the window search relies on.
    while (history.length > 0 && history[history.length - 1]!.at > reading.at) history.pop();
    history.push(reading);
    // Keep the newest reading older than the retention too: it is the baseline of the longest window.
    const cutoff = reading.at - this.retentionMs;
    let drop = 0;
    while (drop + 1 < history.length && history[drop + 1]!.at <= cutoff) drop++;
    if (drop > 0) history.splice(0, drop);
  }
}

/**
 * The increase of `version` from the reading closest to `start` up to `current`, summed pair
 * by pair so that a counter going down (the agent restarted) starts afresh instead of going
 * negative. A version missing from a reading counts as zero there, so a release younger than
 * the baseline contributes its whole cumulative count.
 */
function windowDelta(history: readonly Reading[], current: Reading, version: string, start: number): WindowDelta {
  const end = history.indexOf(current);
  const last = end < 0 ? history.length - 1 : end;
  let base = last;
  // The newest reading is the window's end, so the baseline is one of the earlier ones.
  let bestDistance = Infinity;
  for (let i = 0; i < last; i++) {
    const d = Math.abs(history[i]!.at - start);
    if (d <= bestDistance) { bestDistance = d; base = i; }
  }
  const now = history[last]!;
  const first = now.versions.get(version) ?? history[base]!.versions.get(version);
  const bounds = first?.bounds ?? [];
  const window: RequestWindow = { total: 0, errors: 0, bounds, buckets: new Array<number>(bounds.length + 1).fill(0) };
  let seen = history[base]!.versions.has(version);
  // Counting starts at the baseline, or at the last reading before the version first appeared.
  let countingFrom = history[base]!.at;
  for (let i = base + 1; i <= last; i++) {
    const prev = history[i - 1]!.versions.get(version);
    const cur = history[i]!.versions.get(version);
    if (cur === undefined) { if (!seen) countingFrom = history[i]!.at; continue; }
    if (!seen) { seen = true; countingFrom = history[i - 1]!.at; }
    const reset = prev === undefined || isReset(prev, cur);
    if (!sameBounds(cur.bounds, window.bounds)) {
      // The agent came back with other buckets: the window restarts with its counts.
      window.bounds = cur.bounds;
      window.total = 0; window.errors = 0; window.buckets = new Array<number>(cur.bounds.length + 1).fill(0);
    }
    window.total += reset ? cur.total : cur.total - prev.total;
    window.errors += reset ? cur.errors : cur.errors - prev.errors;
    for (let b = 0; b < window.buckets.length; b++) window.buckets[b]! += reset ? cur.buckets[b] ?? 0 : (cur.buckets[b] ?? 0) - (prev.buckets[b] ?? 0);
  }
  return { window, seconds: (now.at - countingFrom) / 1000, seen, baseline: base < last };
}

function isReset(prev: Counters, cur: Counters): boolean {
  if (cur.total < prev.total || cur.errors < prev.errors || !sameBounds(prev.bounds, cur.bounds)) return true;
  for (let b = 0; b < cur.buckets.length; b++) if ((cur.buckets[b] ?? 0) < (prev.buckets[b] ?? 0)) return true;
  return false;
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function key(service: string, environment: string): string {
  return `${service}\u0000${environment}`;
}

function formatWindow(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
