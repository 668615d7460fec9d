/**
 * One Target for the whole engine: a composite holding one adapter per target kind and sending
 * each call to the adapter of `cfg.target.kind`, so a project may run one service locally and
 * another on Kubernetes while the engine and the orchestrator hold a single Target.
 */
import type { JobConfig, ServiceEnvConfig, TargetKind } from '../config/types.js';
import { GangwayError } from '../errors.js';
import { RequestMetricsUnavailableError } from './target.js';
import type {
  CanaryGuardReport, JobHandle, JobStatus, LogLine, PlatformStatus, Reach, ReleaseRef, ReleaseRequestCounters, RolloutContext, RolloutHandle, RolloutStatus, Target, TargetCapabilities, TargetInstance, Traffic,
} from './target.js';

/** The adapter of each target kind a project uses. */
export type TargetAdapters = Partial<Record<TargetKind, Target>>;

/** Options of the Targets composite. */
export interface TargetsOptions {
  /**
   * Request counters for services whose target does not measure requests (Kubernetes), read
   * elsewhere (Prometheus, `metrics.requests`): with it, those targets report
   * `capabilities.requestMetrics` true and `requestCounters` answers from it.
   */
  requests?: { counters(service: string, environment: string): Promise<ReleaseRequestCounters[]> } | null;
  /** Releases what the adapters hold open (API clients); called by `close()`. */
  onClose?: () => Promise<void>;
}

/**
 * Dispatches every Target call on `cfg.target.kind`. A kind with no adapter configured throws a
 * GangwayError (`invalid_config`) naming it; an optional method the adapter lacks
 * (`requestCounters`, `rollout`, `rolloutStatus`) throws one naming the target and the method.
 *
 * @example
 * ```ts
 * const targets = new Targets({ local: new LocalTarget(agent) });
 * await targets.scale(cfg, { version: '2.0.0', image: null }, 2); // LocalTarget.scale
 * targets.capabilities(cfg).requestMetrics; // true for a local service
 * ```
 */
export class Targets implements Target {
  private readonly adapters: TargetAdapters;
  private readonly options: TargetsOptions;

  constructor(adapters: TargetAdapters, options: TargetsOptions = {}) {
    this.adapters = { ...adapters };
    this.options = options;
  }

  /** Closes what the adapters hold open (API clients). Idempotent. */
  async close(): Promise<void> {
    const onClose = this.options.onClose;
    this.options.onClose = undefined;
    await onClose?.();
  }

  /** Adds or replaces the adapter of a kind. */
  register(kind: TargetKind, adapter: Target): void {
    this.adapters[kind] = adapter;
  }

  /** The adapter for `cfg`'s target kind. @throws GangwayError when none is configured. */
  adapter(cfg: ServiceEnvConfig): Target {
    const kind = cfg.target.kind;
    const found = this.adapters[kind];
    if (!found) {
      const known = Object.keys(this.adapters);
      throw new GangwayError('invalid_config', `services.${cfg.service} (environment ${cfg.environment}) runs on the ${kind} target, which this orchestrator has no adapter for`,
        known.length > 0 ? `targets available here: ${known.join(', ')}` : 'no target adapter is configured');
    }
    return found;
  }

  capabilities(cfg: ServiceEnvConfig): TargetCapabilities {
    const caps = this.adapter(cfg).capabilities(cfg);
    return !caps.requestMetrics && this.options.requests ? { ...caps, requestMetrics: true } : caps;
  }

  async scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number, ctx?: RolloutContext): Promise<TargetInstance[]> {
    return this.adapter(cfg).scale(cfg, release, count, ctx);
  }

  async instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]> {
    return this.adapter(cfg).instances(cfg);
  }

  async setTraffic(cfg: ServiceEnvConfig, traffic: Traffic, ctx?: RolloutContext): Promise<void> {
    const adapter = this.adapter(cfg);
    const refused = unsupportedTraffic(cfg.target.kind, adapter.capabilities(cfg), traffic);
    if (refused) throw new GangwayError('invalid_config', `${cfg.service}/${cfg.environment}: ${refused}`);
    return adapter.setTraffic(cfg, traffic, ctx);
  }

  async traffic(cfg: ServiceEnvConfig): Promise<Traffic> {
    return this.adapter(cfg).traffic(cfg);
  }

  async reach(cfg: ServiceEnvConfig, version: string, opts?: { preview?: boolean }): Promise<Reach | null> {
    return this.adapter(cfg).reach(cfg, version, opts);
  }

  async logs(cfg: ServiceEnvConfig, q: { version?: string; lines: number }): Promise<LogLine[]> {
    return this.adapter(cfg).logs(cfg, q);
  }

  async requestCounters(cfg: ServiceEnvConfig): Promise<ReleaseRequestCounters[]> {
    const a = this.adapter(cfg);
    if (a.requestCounters && a.capabilities(cfg).requestMetrics) return a.requestCounters(cfg);
    if (this.options.requests) return this.options.requests.counters(cfg.service, cfg.environment);
    throw new RequestMetricsUnavailableError(cfg);
  }

  /** The adapter's in-proxy canary guard; false (nothing set) for an adapter without one. */
  async setCanaryGuard(cfg: ServiceEnvConfig, guard: { canary: string; stable: string; alpha: number } | null): Promise<boolean> {
    const a = this.adapter(cfg);
    return a.setCanaryGuard ? a.setCanaryGuard(cfg, guard) : false;
  }

  async canaryGuard(cfg: ServiceEnvConfig): Promise<CanaryGuardReport | null> {
    const a = this.adapter(cfg);
    return a.canaryGuard ? a.canaryGuard(cfg) : null;
  }

  async rollout(cfg: ServiceEnvConfig, release: ReleaseRef, ctx?: RolloutContext): Promise<RolloutHandle> {
    const a = this.adapter(cfg);
    if (!a.rollout) throw missing(cfg, 'rollout');
    return a.rollout(cfg, release, ctx);
  }

  async rolloutStatus(cfg: ServiceEnvConfig, handle: RolloutHandle): Promise<RolloutStatus> {
    const a = this.adapter(cfg);
    if (!a.rolloutStatus) throw missing(cfg, 'rolloutStatus');
    return a.rolloutStatus(cfg, handle);
  }

  async startJob(cfg: ServiceEnvConfig, job: JobConfig, release: ReleaseRef, deploymentId: string): Promise<JobHandle> {
    const a = this.adapter(cfg);
    if (!a.startJob) throw noJobs(cfg);
    return a.startJob(cfg, job, release, deploymentId);
  }

  async jobStatus(cfg: ServiceEnvConfig, handle: JobHandle, opts?: { logs?: boolean }): Promise<JobStatus> {
    const a = this.adapter(cfg);
    if (!a.jobStatus) throw noJobs(cfg);
    return a.jobStatus(cfg, handle, opts);
  }

  /** What the adapter's tool says, or null for a target that deploys itself. */
  async platformStatus(cfg: ServiceEnvConfig): Promise<PlatformStatus | null> {
    const a = this.adapter(cfg);
    return a.platformStatus ? a.platformStatus(cfg) : null;
  }
}

function noJobs(cfg: ServiceEnvConfig): GangwayError {
  return new GangwayError('invalid_config', `the ${cfg.target.kind} target of ${cfg.service}/${cfg.environment} cannot run jobs (capabilities.jobs is false)`,
    'remove jobs.beforeRollout for this target, or run the service on target.kubernetes');
}

function missing(cfg: ServiceEnvConfig, method: string): GangwayError {
  return new GangwayError('invalid_config', `the ${cfg.target.kind} target of ${cfg.service}/${cfg.environment} cannot ${method === 'rollout' ? 'roll out a release by itself' : 'report a native rollout'} (no ${method})`,
    'plan the rolling strategy with scale and traffic steps for this target (capabilities.nativeRolling false)');
}

/**
 * Why a target with these capabilities cannot serve this routing, or null when it can. Adapters
 * call it at the top of `setTraffic` (the Targets composite does too), so every target refuses
 * the same things with the same words.
 *
 * @example unsupportedTraffic('memory', caps, { versions: [], preview: null, headerRoute: { name: 'x', value: '1', version: '2' } })
 * // 'the memory target cannot route by header (capabilities.headerRoutes is false)'
 */
export function unsupportedTraffic(kind: string, caps: TargetCapabilities, traffic: Traffic): string | null {
  if (traffic.headerRoute && !caps.headerRoutes) return `the ${kind} target cannot route by header (capabilities.headerRoutes is false)`;
  if (traffic.sticky && !caps.sticky) return `the ${kind} target cannot keep sticky sessions (capabilities.sticky is false)`;
  if (traffic.preview && !caps.preview) return `the ${kind} target has no preview endpoint (capabilities.preview is false)`;
  if (caps.weights === 'none' && traffic.versions.filter((v) => v.weight > 0).length > 1) {
    return `the ${kind} target cannot split traffic between releases (capabilities.weights is none)`;
  }
  return null;
}
