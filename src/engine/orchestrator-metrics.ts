/**
 * Gangway's own metrics: the Prometheus text GET /metrics serves, and the DORA figures of
 * GET /v1/dora. Both are computed from the store on each request — nothing is kept in
 * memory, so every orchestrator replica answers the same and a restart loses nothing.
 * What a scrape costs is in docs/metrics.md ("Gangway's own metrics").
 */
import type { GangwayConfig } from '../config/types.js';
import { didYouMean } from '../config/problems.js';
import { GangwayError, NotFoundError } from '../errors.js';
import type { DeploymentPhase, Store, StoreMetricsSummary } from '../store/types.js';
import { FINAL_PHASES } from '../store/types.js';
import { systemClock, type Clock } from './clock.js';
import { DAY_MS, computeDora, type DoraMetrics } from './dora.js';

/** Upper bounds (seconds) of the step duration histogram: steps take from milliseconds (a switch) to an hour (a long analysis). */
export const STEP_DURATION_BUCKETS: readonly number[] = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** Phases of `gangway_deployments`: those a deployment passes through (the final ones are `gangway_deployments_total`). */
export const OPEN_PHASES: readonly DeploymentPhase[] = ['queued', 'waiting', 'running', 'paused', 'rolling_back'];

/** The longest DORA period GET /v1/dora accepts, in days. */
export const MAX_DORA_DAYS = 366;

/** The (service, environment) pairs a config declares, in declaration order. */
export type PairSource = Pick<GangwayConfig, 'file' | 'serviceNames' | 'environments'>;

/** What the metrics routes read (src/server/metrics-routes.ts); implemented by {@link OrchestratorMetrics}. */
export interface MetricsSource {
  /** The Prometheus text exposition (format 0.0.4) of Gangway's own metrics. Read-only. */
  scrape(): Promise<string>;
  /**
   * DORA metrics per configured (service, environment) over the last `days` (default 30).
   * Read-only. Throws `NotFoundError` for an unknown service or environment.
   */
  dora(q: { service?: string; environment?: string; days?: number }): Promise<DoraMetrics[]>;
}

/** Options of {@link OrchestratorMetrics}. */
export interface OrchestratorMetricsOptions {
  store: Store;
  config: PairSource;
  /** Gangway's version, for `gangway_build_info`. */
  version: string;
  clock?: Clock;
}

/**
 * Reads the store for /metrics and /v1/dora.
 *
 * @example
 * ```ts
 * const metrics = new OrchestratorMetrics({ store, config, version: GANGWAY_VERSION });
 * const text = await metrics.scrape();
 * const [web] = await metrics.dora({ service: 'web', environment: 'prod', days: 7 });
 * ```
 */
export class OrchestratorMetrics implements MetricsSource {
  private readonly store: Store;
  private readonly config: PairSource;
  private readonly version: string;
  private readonly clock: Clock;

  constructor(opts: OrchestratorMetricsOptions) {
    this.store = opts.store;
    this.config = opts.config;
    this.version = opts.version;
    this.clock = opts.clock ?? systemClock;
  }

  async scrape(): Promise<string> {
    const summary = await this.store.metricsSummary(STEP_DURATION_BUCKETS.map((s) => s * 1000));
    return renderMetrics(summary, { pairs: configuredPairs(this.config), version: this.version });
  }

  async dora(q: { service?: string; environment?: string; days?: number }): Promise<DoraMetrics[]> {
    if (q.service !== undefined) this.mustKnow('service', q.service, this.config.serviceNames);
    if (q.environment !== undefined) this.mustKnow('environment', q.environment, this.config.environments.map((e) => e.name));
    const days = q.days ?? 30;
    if (!Number.isInteger(days) || days < 1 || days > MAX_DORA_DAYS) {
      throw new GangwayError('invalid_argument', `days: must be a whole number from 1 to ${MAX_DORA_DAYS}`);
    }
    const now = this.clock.now();
    // Only deployments that ended in the period: the query is bounded by the period, not by history.
    const finished = await this.store.listDeployments({ service: q.service, environment: q.environment, finishedSince: now - days * DAY_MS });
    const pairs = configuredPairs(this.config)
      .filter((p) => (q.service === undefined || p.service === q.service) && (q.environment === undefined || p.environment === q.environment));
    return computeDora(finished, { now, days, pairs });
  }

  private mustKnow(what: 'service' | 'environment', name: string, names: string[]): void {
    if (names.includes(name)) return;
    const near = didYouMean(name, names);
    throw new NotFoundError(`unknown ${what} "${name}"`, near ? `did you mean "${near}"?` : `${what === 'service' ? 'services' : 'environments'} in ${this.config.file}: ${names.join(', ')}`);
  }
}

/** Every (service, environment) pair of the config. */
export function configuredPairs(config: PairSource): Array<{ service: string; environment: string }> {
  return config.serviceNames.flatMap((service) => config.environments.map((e) => ({ service, environment: e.name })));
}

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

/** Seconds as the text format writes them: a plain decimal, without float noise. */
function seconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}

const pairKey = (service: string, environment: string) => `${service}\u0000${environment}`;

/**
 * Renders a store summary as the Prometheus text exposition format (0.0.4). Every configured
 * pair gets every phase, outcome and queue series, zero included, so a series never appears
 * out of nowhere (`rate()` and alerts on absent series need that); pairs that are no longer
 * configured keep their non-zero series. Series are sorted, so equal input gives equal output.
 *
 * @example
 * ```ts
 * renderMetrics(await store.metricsSummary(STEP_DURATION_BUCKETS.map((s) => s * 1000)), { pairs, version: '0.1.0' });
 * ```
 */
export function renderMetrics(summary: StoreMetricsSummary, opts: { pairs: ReadonlyArray<{ service: string; environment: string }>; version: string }): string {
  const counts = new Map<string, number>();
  const pairs = new Map<string, { service: string; environment: string }>();
  for (const p of opts.pairs) pairs.set(pairKey(p.service, p.environment), p);
  for (const d of summary.deployments) {
    const k = pairKey(d.service, d.environment);
    if (!pairs.has(k)) pairs.set(k, { service: d.service, environment: d.environment });
    counts.set(`${k}\u0000${d.phase}`, d.count);
  }
  const sortedPairs = [...pairs.values()].sort((a, b) => compare(a.service, b.service) || compare(a.environment, b.environment));
  const count = (p: { service: string; environment: string }, phase: DeploymentPhase) => counts.get(`${pairKey(p.service, p.environment)}\u0000${phase}`) ?? 0;
  const known = new Set(opts.pairs.map((p) => pairKey(p.service, p.environment)));
  const series = (p: { service: string; environment: string }, phases: readonly DeploymentPhase[], phase: DeploymentPhase) =>
    known.has(pairKey(p.service, p.environment)) || phases.some((x) => x === phase && count(p, x) > 0);

  const out: string[] = [];
  const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  family('gangway_build_info', 'gauge', 'Always 1; the version label says which Gangway is running.');
  out.push(`gangway_build_info${labels({ version: opts.version })} 1`);

  family('gangway_deployments', 'gauge', 'Deployments now in each unfinished phase, per service and environment.');
  for (const p of sortedPairs) {
    for (const phase of OPEN_PHASES) {
      if (series(p, OPEN_PHASES, phase)) out.push(`gangway_deployments${labels({ service: p.service, environment: p.environment, phase })} ${count(p, phase)}`);
    }
  }

  family('gangway_deployments_total', 'counter', 'Deployments that ended, per service, environment and outcome.');
  for (const p of sortedPairs) {
    for (const outcome of FINAL_PHASES) {
      if (series(p, FINAL_PHASES, outcome)) out.push(`gangway_deployments_total${labels({ service: p.service, environment: p.environment, outcome })} ${count(p, outcome)}`);
    }
  }

  family('gangway_queue_depth', 'gauge', 'Deployments queued behind the active one, per service and environment.');
  for (const p of sortedPairs) {
    if (series(p, ['queued'], 'queued')) out.push(`gangway_queue_depth${labels({ service: p.service, environment: p.environment })} ${count(p, 'queued')}`);
  }

  family('gangway_step_duration_seconds', 'histogram', 'How long finished steps took, per step type.');
  for (const s of [...summary.steps].sort((a, b) => compare(a.type, b.type))) {
    STEP_DURATION_BUCKETS.forEach((bound, i) => {
      out.push(`gangway_step_duration_seconds_bucket${labels({ type: s.type, le: String(bound) })} ${s.atMost[i] ?? 0}`);
    });
    out.push(`gangway_step_duration_seconds_bucket${labels({ type: s.type, le: '+Inf' })} ${s.count}`);
    out.push(`gangway_step_duration_seconds_sum${labels({ type: s.type })} ${seconds(s.sumMs)}`);
    out.push(`gangway_step_duration_seconds_count${labels({ type: s.type })} ${s.count}`);
  }

  family('gangway_verdicts_total', 'counter', 'Analysis verdicts, per template, rule and verdict.');
  for (const v of [...summary.verdicts].sort((a, b) => compare(a.template, b.template) || compare(a.rule, b.rule) || compare(a.verdict, b.verdict))) {
    out.push(`gangway_verdicts_total${labels({ template: v.template, rule: v.rule, verdict: v.verdict })} ${v.count}`);
  }
  return `${out.join('\n')}\n`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
