/**
 * The target port: where releases run. The engine, the strategies and the orchestrator speak
 * only this interface — instances and their health, traffic, logs, how to reach a release for
 * smoke and health checks, native rollouts and the capabilities behind all of them — so a
 * local agent, a Kubernetes cluster or a GitOps repository plug in alike. Nothing outside an
 * adapter's folder (src/targets/local/, src/targets/kubernetes/, …) knows about processes,
 * ports, proxies, pods or API servers.
 *
 * Adapters: memory (engine tests), local (the embedded agent). One contract suite
 * (src/targets/contract.ts) runs against every adapter.
 */
import type { Dispatcher } from 'undici';
import type { JobConfig, ServiceEnvConfig } from '../config/types.js';
import { GangwayError } from '../errors.js';

/**
 * What a target can do, declared as data and checked when a plan is made: a strategy that needs
 * a capability the target lacks is a config error naming the key (src/engine/capabilities.ts),
 * never a surprise halfway through a rollout.
 *
 * @example
 * ```ts
 * // the local agent: its proxy splits every request and measures it
 * { weights: 'exact', headerRoutes: true, sticky: true, preview: true, requestMetrics: true, nativeRolling: false }
 * // Kubernetes without an HTTPRoute: weights by pod counts, Deployments roll themselves
 * { weights: 'replicaRatio', headerRoutes: false, sticky: false, preview: true, requestMetrics: false, nativeRolling: true }
 * ```
 */
export interface TargetCapabilities {
  /**
   * How traffic is weighted between releases: `exact` per request (a proxy, an HTTPRoute),
   * `replicaRatio` by instance counts behind one endpoint (the split `traffic()` reports is the
   * releases present, weighted by their instances), `none` (one release serves at a time).
   *
   * @example 'exact' // canary 10% is 10% of requests
   */
  weights: 'exact' | 'replicaRatio' | 'none';
  /**
   * Requests carrying a header value can be sent to one release whatever the weights
   * (`Traffic.headerRoute`); needed by canary `setHeaderRoute` steps.
   *
   * @example true // the local proxy; Kubernetes only with an HTTPRoute
   */
  headerRoutes: boolean;
  /**
   * A cookie keeps each user on the release they first reached (`Traffic.sticky`); needed by
   * canary `stickySessions`.
   *
   * @example true
   */
  sticky: boolean;
  /**
   * A separate endpoint reaches only the release under test (`Traffic.preview`,
   * `reach(cfg, v, { preview: true })`); needed by blue-green.
   *
   * @example true
   */
  preview: boolean;
  /**
   * The target measures requests per release itself (`requestCounters`); needed by analysis
   * rules on builtin metrics and by the statistical judge.
   *
   * @example false // Kubernetes: use prometheus or web metric sources
   */
  requestMetrics: boolean;
  /**
   * The platform replaces instances itself (a Deployment's rolling update, a Helm upgrade, an Argo
   * CD sync): a rolling strategy is planned as one `rollout` step (`rollout`/`rolloutStatus`)
   * instead of scale and traffic steps.
   *
   * @example true // Kubernetes
   */
  nativeRolling: boolean;
  /**
   * The target runs one-off Jobs before a rollout (`jobs.beforeRollout`: a migration Job) through
   * `startJob`/`jobStatus`.
   *
   * @example true // Kubernetes
   */
  jobs: boolean;
}

/**
 * The state of an instance as a target reports it (the local agent's process states, a pod's
 * phase and readiness mapped onto them).
 *
 * @example 'ready' // passes its health checks and may take traffic
 */
export type TargetInstanceState = 'starting' | 'ready' | 'unhealthy' | 'crashed' | 'stopping' | 'stopped';

/** A release to run: its version label and, when it is an image, the image pinned by digest. */
export interface ReleaseRef { version: string; image: string | null }

/**
 * One running instance of a release (a process, a pod).
 *
 * @example
 * ```ts
 * { id: 'web-prod-2.0.0-1', version: '2.0.0', state: 'ready', restarts: 0, consecutiveFailures: 0,
 *   readyAt: 1733390000000, lastHealth: { at: 1733390004000, ok: true, detail: 'status 200' }, detail: { port: 41873 } }
 * ```
 */
export interface TargetInstance {
  id: string;
  version: string;
  state: TargetInstanceState;
  /** Restarts since it was started (a process respawned, a container restarted). */
  restarts: number;
  /** Health checks failed in a row now (0 once one passes). */
  consecutiveFailures: number;
  /** When it first passed its health check (epoch ms), or null. */
  readyAt: number | null;
  lastHealth: { at: number; ok: boolean; detail: string } | null;
  /**
   * Why the target says this instance cannot become healthy without a change (a container in
   * CrashLoopBackOff or ImagePullBackOff, restarts over `restartLimit`), or absent/null. A new
   * release's start fails at once on it instead of waiting out `health.startTimeout`; a transient
   * state (a process respawning) is not one.
   *
   * @example 'pod web-green-7d9c-x2: container web waits with CrashLoopBackOff (back-off restarting failed container)'
   */
  failure?: string | null;
  /**
   * Where it runs, for `status` only (the engine never reads it): `port` for a local process;
   * `pod`, `node`, `replicaSet` for Kubernetes.
   *
   * @example { port: 41873 }
   */
  detail?: Record<string, string | number | null>;
}

/**
 * How requests of a service in an environment are routed.
 *
 * @example
 * ```ts
 * { versions: [{ version: '1.0.0', weight: 90 }, { version: '2.0.0', weight: 10 }], preview: null,
 *   headerRoute: { name: 'x-canary', value: 'yes', version: '2.0.0' }, sticky: null }
 * ```
 */
export interface Traffic {
  /** Relative weights (they need not sum to 100; a rolling update weighs by instance count). */
  versions: Array<{ version: string; weight: number }>;
  /** The release the preview endpoint serves, or null (needs `capabilities.preview`). */
  preview: string | null;
  /** Requests with this header value go to `version` whatever the weights (needs `capabilities.headerRoutes`). */
  headerRoute?: { name: string; value: string; version: string } | null;
  /** Keep each user on the release they first reached, by cookie (needs `capabilities.sticky`). */
  sticky?: { cookie: string; ttlMs: number } | null;
  /**
   * Read-only, reported by `traffic()` (`setTraffic` ignores it): the port the preview is served
   * on now, or will be when it next opens — the one the target chose and keeps for the service
   * and environment (blue-green without `previewPort`), or the configured `previewPort`. Null when
   * the strategy has no preview or no port is chosen yet; absent when the target has no preview
   * port (the configured `previewPort` then applies, when there is one).
   */
  previewPort?: number | null;
  /**
   * Read-only, reported by `traffic()`: what the preview is when it is not a port of this machine,
   * in the words people use for it (`svc/web-preview` on Kubernetes, where the preview is a
   * Service). Absent on targets that preview on a port.
   */
  previewEndpoint?: string | null;
}

/**
 * How a smoke or health check reaches one release, bypassing traffic routing.
 *
 * @example
 * ```ts
 * // local: the preview port, or an instance's loopback port
 * { url: 'http://127.0.0.1:41873', headers: {}, describe: 'preview port 41873' }
 * // Kubernetes: the API server's service proxy, with the cluster credentials
 * { url: 'https://10.0.0.1:6443/api/v1/namespaces/shop/services/web-preview:80/proxy', headers: { authorization: 'Bearer …' },
 *   describe: 'service shop/web-preview through the API server', dispatcher: agentWithClusterCa }
 * ```
 */
export interface Reach {
  /** Base URL without a trailing slash; a check appends its path (`/health`). */
  url: string;
  /**
   * Headers every request must carry (credentials for an API server proxy). They may be secret:
   * never logged, never passed to a command (a command smoke check gets `GANGWAY_URL` only).
   */
  headers: Record<string, string>;
  /** Words for messages and evidence, without secrets ("preview port 41873"). */
  describe: string;
  /** An undici dispatcher to send the requests with (TLS settings such as a cluster CA); absent: the default. */
  dispatcher?: Dispatcher;
}

/** What an in-proxy canary guard reports (`Target.canaryGuard`). */
export interface CanaryGuardReport {
  canary: string;
  stable: string;
  alpha: number;
  /** `waiting` for enough stable requests; `armed`; `tripped`: the canary was taken out of traffic. */
  state: 'waiting' | 'armed' | 'tripped';
  /** One sentence with the counts, the statistic and the boundary. */
  detail: string;
  canaryRequests: number;
  canaryErrors: number;
  stableRequests: number;
  stableErrors: number;
  /** The stable failure rate tested against; null while waiting. */
  p0: number | null;
  /** ln of the likelihood ratio (at the trip, once tripped) and the boundary it is compared with. */
  logLikelihoodRatio: number | null;
  logThreshold: number | null;
  /** Bound of the false-trip probability (≤ alpha). */
  level: number | null;
  trippedAt: number | null;
}

/** The recent output of one instance, oldest line first. */
export interface LogLine { instance: string; version: string; lines: string[] }

/**
 * Cumulative request counters of one release since the target started counting it (the local
 * proxy's), for the builtin metric provider.
 */
export interface ReleaseRequestCounters {
  version: string;
  total: number;
  /** Failed requests (5xx and proxy errors). */
  errors: number;
  /** Upper bounds of the latency buckets, seconds, ascending (+Inf implied). */
  bounds: readonly number[];
  /** Non-cumulative counts per bucket; one more than `bounds`. */
  buckets: number[];
}

/**
 * What a native rollout was asked for: the release and the platform's own mark of that request
 * (a Deployment's `metadata.generation`, a Helm revision, a commit SHA), so a resumed step checks
 * this rollout instead of starting another.
 *
 * @example { version: '2.0.0', revision: 'generation 7' }
 */
export interface RolloutHandle { version: string; revision: string }

/**
 * How a native rollout stands: `done` when every instance runs the release and is healthy,
 * `failed` when the platform gave up (with its reason), `progressing` otherwise (the reason says
 * what is awaited).
 *
 * @example { state: 'failed', reason: 'pod web-7d9c-x2 waits with CrashLoopBackOff' }
 */
export interface RolloutStatus { state: 'progressing' | 'done' | 'failed'; reason: string }

/**
 * Who asked for a native rollout (or a scale or traffic step) and why, for targets that write it
 * down: a GitOps target puts it in its commit message, a Helm target in the revision's description.
 *
 * @example { deploymentId: 'd-mxagjlek-9c14aa4f', actor: 'ci', reason: 'CHG-7', stage: 'rollback' }
 */
export interface RolloutContext {
  deploymentId: string;
  actor: string;
  reason: string | null;
  /** `rollback`: the engine rolls back to the stable release (a revert commit, a `helm rollback`). */
  stage: 'deploy' | 'rollback';
}

/**
 * What a target that deploys through another tool says about it in `status`: a line per fact,
 * and the drift it sees (an Application OutOfSync with Gangway's commit, a Helm release changed
 * outside Gangway).
 *
 * @example { lines: [{ label: 'helm release', value: 'web revision 7 (deployed)' }], drift: null, history: [...] }
 */
export interface PlatformStatus {
  lines: Array<{ label: string; value: string }>;
  /** What changed outside Gangway, in words, or null. */
  drift: string | null;
  /** The tool's own history, newest first (Helm revisions, Argo CD syncs), at most 10. */
  history: Array<{ revision: string; at: string | null; status: string; description: string }>;
}

/** A Job started for a release: the platform's name for it, which a resumed step looks up again. */
export interface JobHandle { name: string }

/**
 * How a Job stands, with the last lines of its pods' output (they go into the deployment record).
 *
 * @example { state: 'failed', reason: 'BackoffLimitExceeded: Job has reached the specified backoff limit', logs: [{ pod: 'migrate-1-4f2a-x', lines: ['ERROR: relation exists'] }] }
 */
export interface JobStatus { state: 'running' | 'succeeded' | 'failed'; reason: string; logs: Array<{ pod: string; lines: string[] }> }

/**
 * A place releases run. The engine may call any method again after a crash with the same
 * arguments: each says whether it is idempotent (all but `logs` and the read-only ones change
 * state, and must reach the same end state when repeated). A target unreachable for a while
 * throws `GangwayError('unreachable', …)`: the runner retries the step.
 *
 * @example
 * ```ts
 * const caps = target.capabilities(cfg);
 * await target.scale(cfg, { version: '2.0.0', image: null }, 2);
 * await target.setTraffic(cfg, { versions: [{ version: '2.0.0', weight: 100 }], preview: null });
 * const reach = await target.reach(cfg, '2.0.0');
 * ```
 */
export interface Target {
  /**
   * What the target can do for this service and environment (Kubernetes with or without an
   * HTTPRoute differs). Pure and synchronous: it reads the config only, never the platform, so
   * `gangway validate` can call it without a running target.
   *
   * @example target.capabilities(cfg).weights // 'exact'
   */
  capabilities(cfg: ServiceEnvConfig): TargetCapabilities;
  /**
   * Ensures exactly `count` instances of the release run (0 stops them all, draining first), and
   * returns that release's instances. Idempotent: the same call twice leaves the same instances.
   *
   * `ctx` says which deployment asks, for targets that write it down (a Helm colour release's
   * revision description, a GitOps slot commit's trailers); absent when the engine acts outside
   * a deployment's step, and ignored by targets that record nothing.
   *
   * @example await target.scale(cfg, { version: '2.0.0', image: null }, 3, { deploymentId: 'd-7', actor: 'ci', reason: null, stage: 'deploy' })
   */
  scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number, ctx?: RolloutContext): Promise<TargetInstance[]>;
  /**
   * Every instance of the service in the environment, all versions, with health and restarts.
   * Read-only.
   *
   * @example (await target.instances(cfg)).filter((i) => i.state === 'ready')
   */
  instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]>;
  /**
   * Sets the whole routing atomically. Idempotent. Throws a GangwayError naming the capability
   * when asked for one the target lacks (a header route without `headerRoutes`, a preview without
   * `preview`, sticky sessions without `sticky`, several weighted versions with `weights: 'none'`).
   *
   * `ctx` as for `scale` (a GitOps switch or weight commit names the deployment).
   *
   * @example await target.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: '2.0.0' })
   */
  setTraffic(cfg: ServiceEnvConfig, traffic: Traffic, ctx?: RolloutContext): Promise<void>;
  /**
   * The routing as served now; empty `versions` when nothing is routed. With `replicaRatio`
   * weights, the versions present weighted by their ready instances. Read-only.
   *
   * @example await target.traffic(cfg) // { versions: [{ version: '1.0.0', weight: 100 }], preview: null }
   */
  traffic(cfg: ServiceEnvConfig): Promise<Traffic>;
  /**
   * How a check reaches `version` without going through traffic routing: with `preview`, the
   * preview endpoint when it serves that version (null otherwise); without, one ready instance or
   * an endpoint selecting only that release. Null when nothing of it can be reached now.
   * Read-only.
   *
   * @example await target.reach(cfg, '2.0.0', { preview: true }) // { url: 'http://127.0.0.1:41873', headers: {}, describe: 'preview port 41873' }
   */
  reach(cfg: ServiceEnvConfig, version: string, opts?: { preview?: boolean }): Promise<Reach | null>;
  /**
   * The last `lines` lines of output of each instance (of `version` only, when given). Read-only;
   * empty when the target keeps no output.
   *
   * @example await target.logs(cfg, { version: '2.0.0', lines: 50 })
   */
  logs(cfg: ServiceEnvConfig, q: { version?: string; lines: number }): Promise<LogLine[]>;
  /**
   * Cumulative request counters per release, when the target measures requests
   * (`capabilities.requestMetrics`); absent otherwise. Read-only.
   *
   * @example await target.requestCounters?.(cfg) // [{ version: '2.0.0', total: 120, errors: 1, bounds: [...], buckets: [...] }]
   */
  requestCounters?(cfg: ServiceEnvConfig): Promise<ReleaseRequestCounters[]>;
  /**
   * Sets (null: removes) the in-proxy canary guard, on targets whose proxy sees every request
   * (the local agent): it takes the canary out of traffic itself when its failed requests cross a
   * sequential test's boundary (docs/analysis.md#the-in-proxy-canary-guard). Resolves whether
   * the target has one (false: nothing was set). Absent elsewhere.
   *
   * @example await target.setCanaryGuard?.(cfg, { canary: '2.0.0', stable: '1.0.0', alpha: 0.002 }) // true on the local agent
   */
  setCanaryGuard?(cfg: ServiceEnvConfig, guard: { canary: string; stable: string; alpha: number } | null): Promise<boolean>;
  /** The canary guard's state and evidence, or null when none is set. Read-only. */
  canaryGuard?(cfg: ServiceEnvConfig): Promise<CanaryGuardReport | null>;
  /**
   * Asks the platform to roll the service to `release` by itself (`capabilities.nativeRolling`);
   * absent on other targets (the planner then never emits a `rollout` step). Idempotent: asked
   * again for the release it rolls (or rolled) to, it returns the same handle without acting
   * twice — a resumed step gets back the rollout it started.
   *
   * @example const handle = await target.rollout!(cfg, { version: '2.0.0', image: 'shop/web@sha256:…' })
   */
  rollout?(cfg: ServiceEnvConfig, release: ReleaseRef, ctx?: RolloutContext): Promise<RolloutHandle>;
  /**
   * How the rollout behind `handle` stands. Read-only. A handle the platform has since replaced
   * (another rollout began) is `failed` with a reason saying so.
   *
   * @example await target.rolloutStatus!(cfg, handle) // { state: 'progressing', reason: '1 of 3 new pods ready' }
   */
  rolloutStatus?(cfg: ServiceEnvConfig, handle: RolloutHandle): Promise<RolloutStatus>;
  /**
   * Starts the Job of `job` for `release` in deployment `deploymentId` (`capabilities.jobs`).
   * Idempotent: its name derives from the manifest's Job, the release and the deployment, so
   * asked again (a resumed step) it finds the Job it created instead of creating another, while
   * another deployment (of the same release too) runs its own. Absent on a target without `capabilities.jobs` (the
   * Targets composite then throws an `invalid_config` GangwayError); a manifest that is not one
   * Job is an `invalid_config` GangwayError naming the file.
   *
   * @example await target.startJob!(cfg, { manifest: '/srv/shop/k8s/migrate.yaml', timeoutMs: 300_000 }, { version: '2.0.0', image: null }, 'd-mxagjlek-9c14aa4f')
   * // { name: 'migrate-5f1c9a2e' } (the manifest's Job name and 8 hex digits of the release and deployment, on Kubernetes)
   */
  startJob?(cfg: ServiceEnvConfig, job: JobConfig, release: ReleaseRef, deploymentId: string): Promise<JobHandle>;
  /**
   * How the Job behind `handle` stands: `running`, or ended (`succeeded`/`failed`, with the
   * platform's reason) with its pods' last output lines (a running Job's too with `logs: true`,
   * as when the caller gives up waiting). A Job deleted meanwhile is `failed`. Read-only; the
   * caller keeps the timeout.
   *
   * @example await target.jobStatus!(cfg, { name: 'migrate-5f1c9a2e' })
   * // { state: 'failed', reason: 'job migrate-5f1c9a2e failed: BackoffLimitExceeded: …', logs: [{ pod: 'migrate-5f1c9a2e-x7k2p', lines: ['migration: failed'] }] }
   */
  jobStatus?(cfg: ServiceEnvConfig, handle: JobHandle, opts?: { logs?: boolean }): Promise<JobStatus>;
  /**
   * What the tool the target deploys through says now (a Helm release's revisions, an Argo CD
   * Application's sync and health), for `status`; absent (or null) on targets that deploy
   * themselves. Read-only.
   *
   * @example await target.platformStatus?.(cfg) // { lines: [{ label: 'argo cd', value: 'web-prod Synced at 3f2a9c1, Healthy' }], drift: null, history: [] }
   */
  platformStatus?(cfg: ServiceEnvConfig): Promise<PlatformStatus | null>;
}

/**
 * Thrown when request counters are asked of a target that does not measure requests
 * (`capabilities.requestMetrics` false); the builtin metric provider reports its message as the
 * measurement's `error`.
 *
 * @example new RequestMetricsUnavailableError(cfg).message
 * // 'the kubernetes target does not measure requests: use prometheus or web metric sources …'
 */
export class RequestMetricsUnavailableError extends GangwayError {
  override name = 'RequestMetricsUnavailableError';
  constructor(cfg: ServiceEnvConfig) {
    super('invalid_config', `the ${cfg.target.kind} target does not measure requests: use prometheus or web metric sources instead of builtin ones in the analysis templates of ${cfg.service}/${cfg.environment}`);
  }
}
