/**
 * The orchestrator facade: what the HTTP API (src/server) exposes and the CLI calls.
 * Implemented by `Orchestrator` in src/engine/orchestrator.ts. Methods throw GangwayError
 * subclasses (src/errors.ts) for requests that cannot be carried out; nothing is written then.
 */
import type { AutoDeployStatus } from '../autodeploy/status.js';
import type { PlatformStatus } from '../targets/target.js';
import type { DeploymentPhase, DeploymentRecord, EventFilter, EventRecord, GateResultRecord, ReleaseGroupPhase, ReleaseSampleRecord, StepRecord, VerdictRecord } from '../store/types.js';
import type { TargetInstanceState } from '../targets/target.js';
import type { PreviewView } from '../targets/preview.js';

export interface DeployRequest {
  service: string;
  environment: string;
  /** A version label (local target). Exactly one of version/image is required for now. */
  version?: string;
  image?: string;
  reason?: string;
  actor: string;
  /** Deploy under the environment's expedited (hotfix) policy: named gates are skipped, a reason is required, the record is flagged. */
  expedited?: boolean;
  /** Queue the deployment while the window is closed instead of refusing it. */
  waitForWindow?: boolean;
  /** When the release's commit was made (epoch ms); stored with the deployment for the lead time of DORA metrics. */
  commitTime?: number;
}

/** One gate's state, as the plan and the API show it before anything runs. */
export interface GateState { gate: string; result: 'pass' | 'fail' | 'wait'; reason: string; until: number | null; hint?: string }

export interface RollbackRequest { service: string; environment: string; to?: string; reason?: string; actor: string }

export interface DeploymentView extends DeploymentRecord {
  steps: StepRecord[];
  /** Title of the current step, for display. */
  step: string | null;
  /**
   * Analysis verdicts: the latest of each rule (per analysis step and for background
   * analysis) plus every fail verdict, oldest first. All of them: GET /v1/deployments/:id/verdicts.
   */
  verdicts: VerdictRecord[];
  /** The latest result of each gate, with its evidence. */
  gates: GateResultRecord[];
}

export interface PlannedStep { idx: number; type: string; title: string; params: Record<string, unknown> }

export interface PlanView {
  service: string;
  environment: string;
  version: string;
  strategy: string;
  /** The stable release the plan replaces (rollback target), or null on a first deployment. */
  stableVersion: string | null;
  steps: PlannedStep[];
  /** Deployments already queued or active for the pair; the new one would wait behind them. */
  queuedBehind: number;
  /** Each gate's state now, in evaluation order. */
  gates: GateState[];
  /** Gates an expedited request would skip. */
  skippedGates: string[];
  /** Blue-green: the preview port the release will be checked on (port null: the agent chooses one at the first deployment); null for other strategies. */
  preview: PreviewView | null;
}

export interface StatusEntry {
  service: string;
  environment: string;
  /** The stable release. */
  version: string | null;
  /** `group`: the release of several services it belongs to, when it does. */
  deployment: { id: string; phase: DeploymentPhase; step: string | null; group?: string } | null;
  queued: number;
  /** The public port (local target); null on targets without one of their own. */
  port: number | null;
  /**
   * Every instance of the pair, as the target reports it. `port` is a local process's own port
   * (null on other targets); `detail` holds where else it runs (a pod, its node), when the target says.
   */
  instances: Array<{
    id: string; version: string; port: number | null; state: TargetInstanceState; restarts: number; consecutiveFailures: number;
    detail?: Record<string, string | number | null>;
    /** Why the target says it cannot become healthy (CrashLoopBackOff, restarts over the limit), when it says so. */
    failure?: string;
  }>;
  /** Traffic per version as the target serves it now; `weight` is the percentage of requests (whole numbers summing to 100). */
  traffic: Array<{ version: string; weight: number }>;
  /** The latest verdict of each analysis rule of the latest deployment (empty without analysis). */
  analysis: Array<{ template: string; rule: string; verdict: 'pass' | 'fail' | 'inconclusive' | 'error'; reason: string; at: number }>;
  /** Live request metrics per release over the last minute, from the agent's proxy (empty when unknown). */
  releases: Array<{ version: string; requests: number; errorRate: number | null; p95Seconds: number | null }>;
  /**
   * The limits the pair's analysis rules put on the live figures (the lowest `max` of its
   * threshold rules on the builtin error rate and p95, background and canary-step templates),
   * null where no rule sets one; absent from older orchestrators.
   */
  limits?: LiveLimits;
  /** Blue-green: the preview port (configured, or chosen by the agent; null until chosen) and the release on it now; null for other strategies. */
  preview: PreviewView | null;
  /**
   * What the tool the target deploys through says (a Helm release's revisions, an Argo CD
   * Application's sync and health, and drift from what Gangway deployed); null on targets that
   * deploy themselves, and when the tool cannot be asked now (`error` says why).
   */
  platform?: (PlatformStatus & { error?: undefined }) | { error: string } | null;
  /** Auto-deploy of the pair (see docs/autodeploy.md): its last tag, a held-back tag, a pause; null when it deploys only by hand. */
  autoDeploy?: AutoDeployStatus | null;
}

/** Who and where, for the audit log: the service and environment of the event's deployment (or those its data names), and who acted (its data's actor, by or user, else its deployment's actor). */
export interface EventContext { service: string | null; environment: string | null; actor: string | null }

/** See {@link StatusEntry.limits}. */
export interface LiveLimits {
  errorRate: { max: number; rule: string } | null;
  p95Seconds: { max: number; rule: string } | null;
}

export interface HistoryFilter { service?: string; environment?: string; limit?: number }

export interface OrchestratorApi {
  deploy(req: DeployRequest): Promise<DeploymentView>;
  rollback(req: RollbackRequest): Promise<DeploymentView>;
  abort(id: string, actor: string): Promise<DeploymentView>;
  getDeployment(id: string): Promise<DeploymentView>;
  history(filter: HistoryFilter): Promise<DeploymentView[]>;
  status(filter: { service?: string; environment?: string }): Promise<StatusEntry[]>;
  plan(req: DeployRequest): Promise<PlanView>;
  logs(q: { service: string; environment: string; version?: string; lines?: number }): Promise<Array<{ instance: string; version: string; lines: string[] }>>;
  /** Events by the store's filter; with `context`, each carries the {@link EventContext} the audit log shows. */
  events(q: EventFilter & { context?: boolean }): Promise<Array<EventRecord & Partial<EventContext>>>;
  /** Continues a paused rollout (or skips the current pause step). */
  promote(id: string, actor: string): Promise<DeploymentView>;
  /** Deploys the same release again as a new deployment; the explicit override for a rejected release. */
  retry(id: string, actor: string): Promise<DeploymentView>;
  /** Every verdict of a deployment, oldest first (optionally after an id). */
  verdicts(id: string, q: { afterId?: number; limit?: number }): Promise<VerdictRecord[]>;
  /** The per-release request samples stored while the deployment was active, oldest first (optionally only from `since`, epoch ms). */
  samples(id: string, q: { since?: number; limit?: number }): Promise<ReleaseSampleRecord[]>;
  /** The release timeline of one service in one environment from `since` (epoch ms; default an hour ago): see {@link TimelineView}. */
  timeline(q: { service: string; environment: string; since?: number }): Promise<TimelineView>;
}

/** A deployment on the release timeline. */
export interface TimelineDeployment {
  id: string;
  kind: DeploymentRecord['kind'];
  version: string;
  previousVersion: string | null;
  phase: DeploymentPhase;
  actor: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  supersededBy: string | null;
}

/** A freeze on the release timeline: manual, or an incident's (raised by an Alertmanager alert, `alertFingerprint` set). */
export interface TimelineFreeze {
  id: string;
  source: 'manual' | 'alert';
  alertFingerprint: string | null;
  reason: string;
  owner: string;
  /** Null: every service / environment. */
  service: string | null;
  environment: string | null;
  createdAt: number;
  liftedAt: number | null;
}

/**
 * GET /v1/timeline: the deployments of a (service, environment) active in the window (created
 * before `until` and not finished before `since`), the freezes covering the pair that overlap it,
 * and the per-release samples stored in it — those of its deployments and the serving samples
 * taken between deployments (stored under the deployment that made the stable release).
 */
export interface TimelineView {
  service: string;
  environment: string;
  since: number;
  /** When the view was made (the window's end), epoch ms. */
  until: number;
  /** The stable release now, if any. */
  stableVersion: string | null;
  /** Oldest first. */
  deployments: TimelineDeployment[];
  /** Oldest first. */
  freezes: TimelineFreeze[];
  /** Oldest first (by time, then version). */
  samples: ReleaseSampleRecord[];
}

/** A request for a release of several services (POST /v1/releases). */
export interface ReleaseRequest {
  environment: string;
  /** The version of each service; omitted (with `version`): promote the set that last succeeded together in the promotion source. */
  versions?: Record<string, string>;
  /** One version for every service of the release that `versions` does not name. */
  version?: string;
  /** The services of the release; default: every service. */
  services?: string[];
  reason?: string;
  /** Overrides the environment's `releases.onFailure`. */
  onFailure?: 'rollback' | 'stop';
  actor: string;
}

/** One service of a release as the API shows it. */
export interface ReleaseServiceView {
  service: string;
  version: string;
  dependsOn: string[];
  /** Its deployment; null when the service already ran this release. */
  deploymentId: string | null;
  /** The deployment's phase; `unchanged` when nothing was deployed; `held` while it waits for its dependencies. */
  state: DeploymentPhase | 'unchanged' | 'held';
  /** Title of the current step, while it runs. */
  step: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  message: string | null;
  /** The rollback the release ran for it after another service failed (policy `rollback`), if any. */
  rollback: { id: string; phase: DeploymentPhase; version: string } | null;
}

/** A stored release of several services (a release group). */
export interface ReleaseView {
  id: string;
  environment: string;
  kind: 'deploy' | 'promote';
  phase: ReleaseGroupPhase;
  onFailure: 'rollback' | 'stop';
  actor: string;
  reason: string | null;
  message: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** In dependency order. */
  services: ReleaseServiceView[];
}

/** Releases of several services: `gangway deploy --all`, `promote --all`. */
export interface ReleaseApi {
  createRelease(req: ReleaseRequest): Promise<ReleaseView>;
  getRelease(id: string): Promise<ReleaseView>;
  /** Newest first. */
  listReleases(q: { environment?: string; limit?: number }): Promise<ReleaseView[]>;
}
