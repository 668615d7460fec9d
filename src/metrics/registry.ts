/**
 * Picks the metric provider for a source by its kind, built once from the compiled config and
 * the request counters of the targets (for builtin sources).
 */
import type { GangwayConfig, MetricSource } from '../config/types.js';
import { BuiltinProvider, type BuiltinProviderOptions, type CountersSource } from './builtin/builtin-provider.js';
import { PrometheusProvider } from './prometheus/prometheus-provider.js';
import { RequestMetricsUnavailableError, type Target } from '../targets/target.js';
import type { MetricProvider, MetricQuery, MetricResult, RequestWindowSource } from './provider.js';
import { WebProvider } from './web/web-provider.js';

/** Answers every prometheus source with an error when no Prometheus is configured. */
const UNCONFIGURED_PROMETHEUS: MetricProvider = {
  async measure(): Promise<MetricResult> {
    return { phase: 'error', detail: 'no Prometheus is configured: set metrics.prometheus.address in gangway.yaml (e.g. http://127.0.0.1:9090) to use prometheus queries' };
  },
};

/**
 * Every metric provider of one orchestrator. It is itself a MetricProvider that sends each
 * source to the adapter of its kind.
 *
 * @example
 * const metrics = createMetricProviders(config, countersOf(config, targets));
 * await metrics.measure({ kind: 'builtin', metric: 'p95_latency' }, query);
 * await metrics.provider(source).measure(source, query);
 * await metrics.requests.requestWindow(query); // raw counts for the statistical judge
 */
export class MetricProviders implements MetricProvider {
  /** The targets' request metrics; also the engine's `sample()` target between measurements. */
  readonly builtin: BuiltinProvider;
  /** Raw request windows for the judge (the builtin provider). */
  readonly requests: RequestWindowSource;
  /** The configured Prometheus (for range queries of the dashboard), or null. */
  readonly prometheus: PrometheusProvider | null;
  /** Reads JSON endpoints. */
  readonly web: WebProvider;

  constructor(opts: { counters: CountersSource; prometheus: { address: string; timeoutMs: number } | null; clock?: { now(): number }; builtin?: BuiltinProviderOptions }) {
    this.builtin = new BuiltinProvider(opts.counters, opts.clock, opts.builtin);
    this.requests = this.builtin;
    this.prometheus = opts.prometheus === null ? null : new PrometheusProvider(opts.prometheus);
    this.web = new WebProvider();
  }

  /** The adapter for the source's kind. A prometheus source without `metrics.prometheus` gets one that answers `error` saying so. */
  provider(source: MetricSource): MetricProvider {
    switch (source.kind) {
      case 'builtin': return this.builtin;
      case 'prometheus': return this.prometheus ?? UNCONFIGURED_PROMETHEUS;
      case 'web': return this.web;
      default: {
        const kind = (source as { kind?: unknown }).kind;
        return { measure: async () => ({ phase: 'error', detail: `unknown metric source kind ${JSON.stringify(kind)}; known: builtin, prometheus, web` }) };
      }
    }
  }

  /** Measures with the adapter of the source's kind. Never throws for expected failures. Idempotent. */
  measure(source: MetricSource, q: MetricQuery): Promise<MetricResult> {
    return this.provider(source).measure(source, q);
  }
}

/**
 * Builds the metric providers from the compiled config and where request counters come from.
 *
 * @example
 * const metrics = createMetricProviders(config, countersOf(config, targets));
 * const r = await metrics.provider(rule.metric).measure(rule.metric, query);
 */
export function createMetricProviders(config: GangwayConfig, counters: CountersSource): MetricProviders {
  return new MetricProviders({ counters, prometheus: config.metrics?.prometheus ?? null });
}

/**
 * The request counters of each service and environment of `config`, read from its target
 * (`Target.requestCounters`); a target without them makes the builtin provider report an
 * `error` measurement saying so.
 *
 * @example createMetricProviders(config, countersOf(config, targets))
 */
export function countersOf(config: GangwayConfig, target: Pick<Target, 'requestCounters'>): CountersSource {
  return {
    async counters(service, environment) {
      const cfg = config.services[service]?.[environment];
      if (!cfg) throw new Error(`${service}/${environment} is not in ${config.file}`);
      if (!target.requestCounters) throw new RequestMetricsUnavailableError(cfg);
      return target.requestCounters(cfg);
    },
  };
}
