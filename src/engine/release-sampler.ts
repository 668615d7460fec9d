/**
 * Release samples: while a deployment is active, every interval, the requests, errors and p95
 * of each of its releases (the new one and the one it replaces) over that interval, stored
 * per deployment (`Store.appendReleaseSamples`) so the rollout page can draw the whole rollout
 * whenever it is opened — long after the canary was rolled back. The first round of a
 * deployment only takes a reading (the start of its first window); one last sample is taken
 * the round after a deployment ends, so the interval that decided it is kept too.
 *
 * With `servingIntervalMs`, between deployments the stable (serving) release of every
 * (service, environment) with no active deployment is sampled too, every that often, for the
 * service page's last-hour charts. A serving sample is stored under the deployment that made
 * the stable release (`service_states.deployment_id`; a pair with none is not sampled), so the
 * schema stays as it is and a release's samples follow on from its rollout's.
 */
import { bucketQuantile } from '../core/histogram.js';
import type { Logger } from '../core/logger.js';
import type { RequestWindowSource } from '../metrics/provider.js';
import type { DeploymentRecord, ReleaseSampleRecord, Store } from '../store/types.js';
import { systemClock, type Clock } from './clock.js';

/** Phases in which a deployment's releases are sampled (`waiting` and `queued` have no traffic yet). */
const SAMPLED: readonly string[] = ['running', 'paused', 'rolling_back'];

export interface ReleaseSamplerOptions {
  store: Store;
  requests: RequestWindowSource;
  /** How often to sample; default 5 s. */
  intervalMs?: number;
  clock?: Clock;
  log?: Logger;
  /**
   * The runner's lease owner: with several orchestrators on one store, each samples only the
   * deployments it drives (and those no one holds), so no interval is stored twice.
   */
  owner?: string;
  /** Sample the serving release of each pair with no active deployment this often; off when undefined. */
  servingIntervalMs?: number;
  /** Whether this replica takes the serving samples (it holds the background lease). Default: always. */
  background?: () => boolean;
}

/**
 * The sampling interval for a config: its shortest analysis interval, between 2 s and 5 s. The
 * floor stays clear of the builtin provider's one-second reading cache (a round within a second
 * of the last reading would measure an empty window).
 */
export function samplingInterval(templates: Iterable<{ intervalMs: number }>): number {
  let shortest = 5000;
  for (const t of templates) shortest = Math.min(shortest, t.intervalMs);
  return Math.max(2000, shortest);
}

export class ReleaseSampler {
  private readonly intervalMs: number;
  private readonly clock: Clock;
  /** Deployment id → end of its last sampled interval. */
  private readonly last = new Map<string, number>();
  /** `service\u0000environment` → end of the last serving interval (or of its last deployment's). */
  private readonly lastServing = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  /** When the previous round ran; null before the first. */
  private lastTick: number | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly o: ReleaseSamplerOptions) {
    this.intervalMs = o.intervalMs ?? 5000;
    this.clock = o.clock ?? systemClock;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.tick().then(() => undefined, (err: unknown) => {
        this.o.log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'release sampling failed');
      }).finally(() => { this.running = null; });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a round in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round: a sample per release of every active deployment (and of those that ended since the last round). */
  async tick(): Promise<ReleaseSampleRecord[]> {
    const { store } = this.o;
    const owner = this.o.owner;
    const active = (await store.listDeployments({ phases: SAMPLED as DeploymentRecord['phase'][] }))
      .filter((d) => owner === undefined || d.leaseOwner === null || d.leaseOwner === owner);
    const ids = new Set(active.map((d) => d.id));
    const ended: DeploymentRecord[] = [];
    for (const id of this.last.keys()) {
      if (ids.has(id)) continue;
      const d = await store.getDeployment(id);
      if (d) ended.push(d);
    }
    const now = this.clock.now();
    // A deployment that started and ended between two rounds (a bad canary rolled back within
    // seconds) was never seen: sample it once, over its whole life.
    if (this.lastTick !== null) {
      for (const d of await store.listDeployments({ newestFirst: true, limit: 20 })) {
        if (ids.has(d.id) || this.last.has(d.id) || d.startedAt === null || d.finishedAt === null || d.finishedAt < this.lastTick) continue;
        if (owner !== undefined && d.leaseOwner !== null && d.leaseOwner !== owner) continue;
        this.last.set(d.id, d.startedAt);
        ended.push(d);
      }
    }
    this.lastTick = now;
    const samples: ReleaseSampleRecord[] = [];
    for (const d of [...active, ...ended]) {
      const since = this.last.get(d.id);
      // The first round of a deployment only takes a reading: the window it would measure has no
      // known start (the provider's last reading may be older, or too recent to tell).
      const priming = since === undefined;
      const windowMs = Math.max(1, now - (since ?? now - this.intervalMs));
      for (const version of new Set([d.version, d.previousVersion].filter((v): v is string => v !== null))) {
        const w = await this.o.requests.requestWindow({ service: d.service, environment: d.environment, version, windowMs, now });
        if ('phase' in w || priming) continue;
        samples.push({
          deploymentId: d.id, at: now, version, intervalMs: windowMs, requests: w.total, errors: w.errors,
          p95Seconds: w.total > 0 ? bucketQuantile(0.95, w.bounds, w.buckets) : null,
        });
      }
      if (ids.has(d.id)) this.last.set(d.id, now);
      else this.last.delete(d.id);
    }
    // Serving samples are taken by one replica: the one holding the background lease.
    if (this.o.servingIntervalMs !== undefined && (this.o.background?.() ?? true)) samples.push(...await this.serving(now, [...active, ...ended]));
    await store.appendReleaseSamples(samples);
    return samples;
  }

  /**
   * Serving samples: the stable release of each pair with no deployment in a sampled phase
   * (whoever drives it), at most every `servingIntervalMs`. A pair's first serving round only
   * takes a reading, unless one of its deployments was sampled before (its window goes on from there).
   */
  private async serving(now: number, sampled: DeploymentRecord[]): Promise<ReleaseSampleRecord[]> {
    const { store } = this.o;
    const every = this.o.servingIntervalMs ?? 0;
    const key = (service: string, environment: string) => `${service}\u0000${environment}`;
    const busy = new Set((await store.listDeployments({ phases: SAMPLED as DeploymentRecord['phase'][] })).map((d) => key(d.service, d.environment)));
    for (const d of sampled) {
      busy.add(key(d.service, d.environment));
      this.lastServing.set(key(d.service, d.environment), now);
    }
    const out: ReleaseSampleRecord[] = [];
    for (const s of await store.listServiceStates()) {
      const k = key(s.service, s.environment);
      if (busy.has(k)) continue;
      if (s.stableVersion === null || s.deploymentId === null) { this.lastServing.delete(k); continue; }
      const since = this.lastServing.get(k);
      if (since !== undefined && now - since < every) continue;
      const windowMs = Math.max(1, now - (since ?? now - every));
      const w = await this.o.requests.requestWindow({ service: s.service, environment: s.environment, version: s.stableVersion, windowMs, now });
      this.lastServing.set(k, now);
      if ('phase' in w || since === undefined) continue;
      out.push({
        deploymentId: s.deploymentId, at: now, version: s.stableVersion, intervalMs: windowMs, requests: w.total, errors: w.errors,
        p95Seconds: w.total > 0 ? bucketQuantile(0.95, w.bounds, w.buckets) : null,
      });
    }
    return out;
  }
}
