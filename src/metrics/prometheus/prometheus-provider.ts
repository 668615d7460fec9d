/**
 * The Prometheus metric provider: PromQL over Prometheus's HTTP API (`/api/v1/query` and
 * `/api/v1/query_range`). An analysis rule needs one number, so an instant query must return
 * a scalar or exactly one series; anything else is reported, never guessed.
 */
import type { MetricSource } from '../../config/types.js';
import type { MetricProvider, MetricQuery, MetricResult, MetricSeriesSource, SeriesResult } from '../provider.js';
import { renderPromQL, type TemplateVars } from '../template.js';

/** Where Prometheus answers and how long to wait for it. */
export interface PrometheusProviderOptions {
  /** Base URL, e.g. `http://127.0.0.1:9090` (a path prefix and `user:password@` are allowed). */
  address: string;
  /** Per-request timeout. */
  timeoutMs: number;
}

/** One series of a range query: its labels and `[timeMs, value]` points. */
export interface RangeSeries {
  labels: Record<string, string>;
  points: Array<[number, number]>;
}

/** The answer of {@link PrometheusProvider.queryRange}: series, or why there are none. Never throws. */
export type RangeQueryResult =
  | { phase: 'ok'; series: RangeSeries[] }
  | { phase: 'error'; detail: string };

/** The part of Prometheus's API envelope this provider reads. */
interface ApiEnvelope {
  status?: unknown;
  data?: { resultType?: unknown; result?: unknown };
  errorType?: unknown;
  error?: unknown;
}

interface VectorSample { metric?: Record<string, string>; value?: [number, string] }
interface MatrixSeries { metric?: Record<string, string>; values?: Array<[number, string]> }

/** At most this many label sets are named when a query returns several series. */
const MAX_NAMED_SERIES = 5;

/**
 * PromQL instant and range queries.
 *
 * @example
 * const prom = new PrometheusProvider({ address: 'http://127.0.0.1:9090', timeoutMs: 5000 });
 * const r = await prom.measure(
 *   { kind: 'prometheus', query: 'sum(rate(http_requests_total{version="${version}",status=~"5.."}[${window}])) / sum(rate(http_requests_total{version="${version}"}[${window}]))' },
 *   { service: 'web', environment: 'prod', version: '2.0.0', windowMs: 120_000, now: Date.now() });
 * // { phase: 'ok', value: 0.012, samples: null } | { phase: 'nodata', detail: 'query returned no series' } | …
 */
export class PrometheusProvider implements MetricProvider, MetricSeriesSource {
  private readonly base: string;
  private readonly authorization: string | null;
  private readonly timeoutMs: number;

  constructor(options: PrometheusProviderOptions) {
    const url = new URL(options.address);
    // fetch refuses URLs with credentials; send them as a header instead.
    this.authorization = url.username !== '' || url.password !== ''
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      : null;
    url.username = '';
    url.password = '';
    url.search = '';
    url.hash = '';
    this.base = url.toString().replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs;
  }

  /** The address queries go to, without credentials (for messages). */
  get address(): string {
    return this.base;
  }

  /**
   * Runs the source's query at `q.now` with its placeholders substituted. `ok` for a scalar
   * or a single series; `nodata` for an empty vector or NaN/±Inf; `error` for several series,
   * a range vector, a rejected query, an HTTP error, a refused connection or a timeout (with
   * Prometheus's own error text). `samples` is always null. Never throws. Idempotent.
   */
  async measure(source: MetricSource, q: MetricQuery): Promise<MetricResult> {
    if (source.kind !== 'prometheus') return { phase: 'error', detail: `the prometheus provider cannot measure a ${source.kind} source` };
    let query: string;
    try {
      query = renderPromQL(source.query, q);
    } catch (err) {
      return { phase: 'error', detail: (err as Error).message };
    }
    const answer = await this.call('/api/v1/query', { query, time: seconds(q.now) });
    if ('phase' in answer) return answer;
    const { resultType, result } = answer;
    if (resultType === 'scalar') return numberResult((result as [number, string])[1]);
    if (resultType === 'vector') {
      const samples = result as VectorSample[];
      if (samples.length === 0) return { phase: 'nodata', detail: 'query returned no series' };
      if (samples.length > 1) {
        const named = samples.slice(0, MAX_NAMED_SERIES).map((s) => formatLabels(s.metric ?? {})).join(', ');
        const more = samples.length > MAX_NAMED_SERIES ? `, and ${samples.length - MAX_NAMED_SERIES} more` : '';
        return {
          phase: 'error',
          detail: `query returned ${samples.length} series, expected one: ${named}${more}; aggregate them into one, e.g. sum(...) or sum by (...) with labels the query fixes`,
        };
      }
      return numberResult(samples[0]!.value?.[1]);
    }
    if (resultType === 'matrix') return { phase: 'error', detail: 'query returned a range vector; a rule needs one number: wrap the range selector in a function such as rate(...) or increase(...)' };
    return { phase: 'error', detail: `query returned a ${String(resultType)}, expected a number or one series` };
  }

  /**
   * The source's query every `stepMs` over the window ending at `q.now`, for the judge of a
   * metric. `${window}` stands for the step, so each sample covers its own step (a
   * `rate(x[${window}])` does not overlap its neighbours). `ok` with the values of the one
   * series (NaN and ±Inf kept for the judge to reject by name); `nodata` when no series;
   * `error` for several series, a rejected query or an unreachable server. Never throws.
   *
   * @example
   * await prom.series({ kind: 'prometheus', query: 'sum(rate(signups_total{version="${version}"}[${window}]))' },
   *   { service: 'web', environment: 'prod', version: '2.0.0', windowMs: 300_000, now: Date.now() }, 30_000);
   * // { phase: 'ok', values: [1.9, 2.1, …] }  (11 values)
   */
  async series(source: MetricSource, q: MetricQuery, stepMs: number): Promise<SeriesResult> {
    if (source.kind !== 'prometheus') return { phase: 'error', detail: `the prometheus provider cannot sample a ${source.kind} source` };
    const r = await this.queryRange(source.query, { startMs: q.now - q.windowMs, endMs: q.now, stepMs }, { ...q, windowMs: stepMs });
    if (r.phase === 'error') return r;
    if (r.series.length === 0) return { phase: 'nodata', detail: 'query returned no series' };
    if (r.series.length > 1) {
      const named = r.series.slice(0, MAX_NAMED_SERIES).map((x) => formatLabels(x.labels)).join(', ');
      return { phase: 'error', detail: `query returned ${r.series.length} series, expected one: ${named}; aggregate them into one, e.g. sum(...)` };
    }
    return { phase: 'ok', values: r.series[0]!.points.map(([, v]) => v) };
  }

  /**
   * A range query (for charts): the query as given, or with placeholders substituted when
   * `vars` is passed, evaluated from `startMs` to `endMs` every `stepMs`. Never throws.
   *
   * @example
   * const r = await prom.queryRange('sum by (version) (rate(http_requests_total[1m]))', { startMs: Date.now() - 600_000, endMs: Date.now(), stepMs: 15_000 });
   * if (r.phase === 'ok') for (const s of r.series) console.log(s.labels.version, s.points.length);
   */
  async queryRange(query: string, range: { startMs: number; endMs: number; stepMs: number }, vars?: TemplateVars): Promise<RangeQueryResult> {
    let rendered = query;
    if (vars !== undefined) {
      try {
        rendered = renderPromQL(query, vars);
      } catch (err) {
        return { phase: 'error', detail: (err as Error).message };
      }
    }
    const answer = await this.call('/api/v1/query_range', {
      query: rendered, start: seconds(range.startMs), end: seconds(range.endMs), step: seconds(range.stepMs),
    });
    if ('phase' in answer) return answer;
    if (answer.resultType !== 'matrix') return { phase: 'error', detail: `Prometheus answered a range query with a ${String(answer.resultType)}` };
    const series = (answer.result as MatrixSeries[]).map((s) => ({
      labels: s.metric ?? {},
      points: (s.values ?? []).map(([t, v]): [number, number] => [Math.round(t * 1000), Number(v)]),
    }));
    return { phase: 'ok', series };
  }

  /**
   * An instant query that may return many series (request counters per release), evaluated at
   * `nowMs`: each series' labels and value (NaN and infinities kept as numbers for the caller
   * to judge). An error in Prometheus's words for a rejected query, a non-vector answer or an
   * unreachable server. Never throws.
   *
   * @example
   * await prom.vector('sum by (version) (http_requests_total)', Date.now())
   * // { phase: 'ok', samples: [{ labels: { version: '2.0.0' }, value: 1520 }] }
   */
  async vector(query: string, nowMs: number): Promise<{ phase: 'ok'; samples: Array<{ labels: Record<string, string>; value: number }> } | { phase: 'error'; detail: string }> {
    const answer = await this.call('/api/v1/query', { query, time: seconds(nowMs) });
    if ('phase' in answer) return answer;
    if (answer.resultType !== 'vector') return { phase: 'error', detail: `query returned a ${String(answer.resultType)}, expected an instant vector: ${query}` };
    return {
      phase: 'ok',
      samples: (answer.result as VectorSample[]).map((x) => ({ labels: x.metric ?? {}, value: parsePromNumber(x.value?.[1]) })),
    };
  }

  /** One API call; the `data` of a successful answer, or an error result in Prometheus's words. */
  private async call(path: string, params: Record<string, string>): Promise<{ resultType: unknown; result: unknown } | { phase: 'error'; detail: string }> {
    const url = `${this.base}${path}`;
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (this.authorization !== null) headers.authorization = this.authorization;
    let status: number;
    let text: string;
    try {
      // POST keeps long queries out of URL length limits; Prometheus accepts both.
      const res = await fetch(url, { method: 'POST', headers, body: new URLSearchParams(params).toString(), signal: AbortSignal.timeout(this.timeoutMs) });
      status = res.status;
      text = await res.text();
    } catch (err) {
      return { phase: 'error', detail: this.describeFailure(err) };
    }
    let body: ApiEnvelope | undefined;
    try {
      body = JSON.parse(text) as ApiEnvelope;
    } catch {
      body = undefined;
    }
    if (body?.status === 'error' || (body !== undefined && typeof body.error === 'string')) {
      const type = typeof body.errorType === 'string' && body.errorType !== '' ? ` (${body.errorType})` : '';
      return { phase: 'error', detail: `Prometheus at ${this.base} rejected the query${type}: ${String(body.error ?? 'no reason given')}` };
    }
    if (status < 200 || status >= 300) {
      return { phase: 'error', detail: `Prometheus at ${this.base} answered HTTP ${status}${text.trim() !== '' ? `: ${snippet(text)}` : ''}` };
    }
    if (body?.status !== 'success' || body.data === undefined || body.data === null || typeof body.data !== 'object') {
      return { phase: 'error', detail: `${url} did not answer like the Prometheus API: ${snippet(text)}` };
    }
    return { resultType: body.data.resultType, result: body.data.result };
  }

  private describeFailure(err: unknown): string {
    const e = err as Error & { cause?: Error & { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return `Prometheus at ${this.base} did not answer within ${this.timeoutMs} ms`;
    const code = e.cause?.code ?? (e as { code?: string }).code;
    if (code === 'ECONNREFUSED') return `cannot reach Prometheus at ${this.base}: connection refused (ECONNREFUSED)`;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot reach Prometheus at ${this.base}: host not found (${code})`;
    const reason = e.cause?.message ?? e.message;
    return `cannot reach Prometheus at ${this.base}: ${reason}${code && !reason.includes(code) ? ` (${code})` : ''}`;
  }
}

/** A sample value as Prometheus writes it ("NaN", "+Inf", "-Inf" included); NaN when absent. */
function parsePromNumber(raw: string | undefined): number {
  if (raw === undefined) return Number.NaN;
  if (raw === '+Inf' || raw === 'Inf') return Number.POSITIVE_INFINITY;
  if (raw === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(raw);
}

function numberResult(raw: string | undefined): MetricResult {
  if (raw === undefined) return { phase: 'error', detail: 'Prometheus answered a sample without a value' };
  // Prometheus writes NaN and infinities as "NaN", "+Inf", "-Inf": no usable number (0/0 is the common case).
  if (raw === '+Inf' || raw === 'Inf' || raw === '-Inf') return { phase: 'nodata', detail: `query returned ${raw === '-Inf' ? '-Inf' : '+Inf'}` };
  const value = Number(raw);
  if (!Number.isFinite(value)) return { phase: 'nodata', detail: 'query returned NaN' };
  return { phase: 'ok', value, samples: null };
}

/** A label set the way PromQL writes it: `name{a="x", b="y"}`. */
function formatLabels(labels: Record<string, string>): string {
  const { __name__: name, ...rest } = labels;
  const parts = Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${name ?? ''}{${parts.join(', ')}}`;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
