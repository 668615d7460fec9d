/**
 * The metric provider port: where analysis rules get their numbers. Adapters: builtin (the
 * agent's per-release request metrics), prometheus (PromQL over its HTTP API), web (JSON).
 * Expected outcomes are data: a provider never throws for "no data" or "the server is down";
 * it returns a result with that phase, and the rule's policy decides.
 */
import type { MetricSource } from '../config/types.js';

/** What to measure: one release of one service in one environment, over a trailing window. */
export interface MetricQuery {
  service: string;
  environment: string;
  version: string;
  /** Trailing window ending at `now`. */
  windowMs: number;
  now: number;
}

export type MetricResult =
  /** `samples` is the number of requests behind the value when the provider knows it, else null. */
  | { phase: 'ok'; value: number; samples: number | null }
  /** The source answered but has nothing for this release and window (no traffic yet, empty vector, NaN). */
  | { phase: 'nodata'; detail: string }
  /** The source could not be asked or answered nonsense (down, 401, several series, not a number). */
  | { phase: 'error'; detail: string };

/**
 * Raw request counts of one release over a window, for the statistical judge: requests,
 * failed requests (5xx and proxy errors) and a latency histogram.
 */
export interface RequestWindow {
  total: number;
  errors: number;
  /** Upper bounds of the latency buckets, seconds, ascending (+Inf implied after the last). */
  bounds: readonly number[];
  /** Non-cumulative counts per bucket; one more entry than `bounds` (the +Inf bucket). */
  buckets: number[];
}

/**
 * One metric source kind.
 *
 * @example
 * const r = await provider.measure({ kind: 'builtin', metric: 'error_rate' }, { service: 'web', environment: 'prod', version: '2.0.0', windowMs: 120_000, now: Date.now() });
 * if (r.phase === 'ok' && r.value > 0.05) { ... }
 */
export interface MetricProvider {
  /** Measures the source for the query. Never throws for expected failures (see MetricResult). Idempotent. */
  measure(source: MetricSource, q: MetricQuery): Promise<MetricResult>;
}

/** Providers that can also give raw request windows (the builtin one); the judge needs them. */
export interface RequestWindowSource {
  /** The release's requests over the window; total 0 when it had none. Never throws for "no data". */
  requestWindow(q: MetricQuery): Promise<RequestWindow | { phase: 'error'; detail: string }>;
}

/** The samples of a metric over a window, or why there are none. Never thrown. */
export type SeriesResult =
  /** Values every step over the window, oldest first; may hold NaN or ±Inf as the source gave them (the caller judges). */
  | { phase: 'ok'; values: number[] }
  | { phase: 'nodata'; detail: string }
  | { phase: 'error'; detail: string };

/**
 * Providers that can give a metric's history over a window (Prometheus, by a range query); the
 * judge of a metric needs them. Checked with {@link isSeriesSource}.
 */
export interface MetricSeriesSource {
  /** The source's values every `stepMs` from `q.now − q.windowMs` to `q.now`. Never throws for expected failures. Idempotent. */
  series(source: MetricSource, q: MetricQuery, stepMs: number): Promise<SeriesResult>;
}

/**
 * Whether a provider can give series.
 *
 * @example
 * const p = ctx.provider(rule.metric);
 * if (isSeriesSource(p)) await p.series(rule.metric, q, 30_000);
 */
export function isSeriesSource(p: MetricProvider): p is MetricProvider & MetricSeriesSource {
  return typeof (p as Partial<MetricSeriesSource>).series === 'function';
}
