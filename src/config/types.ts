/**
 * The compiled, frozen form of `gangway.yaml` that the rest of Gangway reads.
 * Defaults are applied once, in `compileConfig()` (src/config/compile.ts); nothing
 * downstream re-reads raw YAML or re-applies defaults. All durations are milliseconds.
 */

import type { HttpExpect } from '../core/http-check.js';
import type { GitOpsTargetConfig, HelmTargetConfig } from './helm.js';
import type { JobsConfig, KubernetesTargetConfig } from './kubernetes.js';

export type { JobsConfig, JobConfig, KubernetesSource, KubernetesTargetConfig } from './kubernetes.js';
export type { ArgoCDConfig, GitOpsBlueGreenConfig, GitOpsCanaryConfig, GitOpsTargetConfig, HelmImageKeys, HelmTargetConfig, KubeAccess } from './helm.js';

export interface HealthConfig {
  path: string;
  expect: HttpExpect;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failures that mark an instance unhealthy (and, during a watch, fail the release). */
  failureThreshold: number;
  /** How long a new instance may take to pass its first health check. */
  startTimeoutMs: number;
  /**
   * Whether the config gives `health.path` (false: the default `/`). A Kubernetes target then
   * leaves health to the pods' readiness probes; the local agent probes the path either way.
   * Absent: given.
   */
  pathSet?: boolean;
}

export interface LocalTargetConfig {
  kind: 'local';
  /** argv; `${release.version}`, `${release.image}`, `${environment}`, `${service}`, `${port}` are substituted per whole element. */
  command: string[];
  /** Absolute path (resolved against the config file's folder). */
  cwd: string;
  env: Record<string, string>;
  instances: number;
  /** Public port served by the agent's proxy. */
  port: number;
  host: string;
  /**
   * The proxy's wait for an instance's response head after forwarding the whole request (504 and
   * the instance out of traffic after it). compileConfig always sets it; optional only so configs
   * built by hand (test fixtures) need not, and the agent then applies the same default (30 s).
   */
  responseTimeoutMs?: number;
}

/**
 * Where a service runs, discriminated by `kind` (the YAML key under `target:`, e.g.
 * `target: { local: {...} }` compiles to `{ kind: 'local', ... }`). The fields every target
 * shares — `kind` and `instances` — are readable without narrowing; the engine, strategies and
 * status code read only those, and an adapter narrows on its own kind.
 *
 * Add a target kind here as one more member, e.g. `| KubernetesTargetConfig` (src/config/kubernetes.ts)
 * for `target.kubernetes`, with its branch in schema.ts and compile.ts and its adapter in the
 * Targets registry (src/targets/registry.ts).
 */
export type TargetConfig = LocalTargetConfig | KubernetesTargetConfig | HelmTargetConfig | GitOpsTargetConfig;

/** The kinds of target a config can name. */
export type TargetKind = TargetConfig['kind'];

export interface RollingStrategy { kind: 'rolling'; maxSurge: number; maxUnavailable: number }
export interface BlueGreenStrategy {
  kind: 'blueGreen';
  /**
   * Port of the preview listener; null when not configured: the local agent then chooses a free
   * port when the first preview opens and keeps it for this service and environment (across
   * agent restarts). `gangway status`, `gangway plan` and the dashboard show the port in use.
   */
  previewPort: number | null;
  scaleDownDelayMs: number;
}
/**
 * Canary: shift a share of real traffic to the new release step by step, judge it against
 * the stable release on live metrics, promote or roll back by itself.
 */
export interface CanaryStrategy {
  kind: 'canary';
  steps: CanaryStep[];
  /** A cookie that keeps a user on the release they first reached; null when off. */
  stickySessions: { cookie: string; ttlMs: number } | null;
  /** How long the previous release keeps running after the deployment ends (instant rollback). Default 30s. */
  scaleDownDelayMs: number;
}

export type CanaryStep =
  /** Send `weight` percent (0–100) of requests to the canary. */
  | { kind: 'setWeight'; weight: number }
  /** Wait `durationMs`, or until `gangway promote` when null. */
  | { kind: 'pause'; durationMs: number | null }
  /** Run an analysis template for `durationMs` (default: until its rules have `count` passing intervals). */
  | { kind: 'analysis'; template: string; durationMs: number | null }
  /** Requests carrying this header (exact value) always reach the canary; null removes the route. */
  | { kind: 'setHeaderRoute'; header: { name: string; value: string } | null };

export type StrategyConfig = RollingStrategy | BlueGreenStrategy | CanaryStrategy;

export type SmokeCheck =
  | { kind: 'http'; path: string; method: string; headers: Record<string, string>; expect: HttpExpect; timeoutMs: number }
  | { kind: 'run'; argv: string[]; timeoutMs: number; cwd: string };

/** Where a rule's numbers come from. Queries may use `${service}`, `${environment}`, `${version}` and `${window}` (e.g. `5m`). */
export type MetricSource =
  /** The agent's own per-release request metrics. */
  | { kind: 'builtin'; metric: BuiltinMetric }
  /** A PromQL instant query against `metrics.prometheus.address`; must return one series. */
  | { kind: 'prometheus'; query: string }
  /** An HTTP endpoint returning JSON; `field` is a dotted path to a number. */
  | { kind: 'web'; url: string; field: string; headers: Record<string, string>; timeoutMs: number };

export type BuiltinMetric = 'error_rate' | 'request_rate' | 'p50_latency' | 'p95_latency' | 'p99_latency';

/** What to do with an inconclusive verdict or a provider error. `tolerate` lets `limit` consecutive ones pass, then fails. */
export interface VerdictPolicy { action: 'pause' | 'fail' | 'tolerate'; limit: number }

interface RuleBase {
  name: string;
  onInconclusive: VerdictPolicy;
  onError: VerdictPolicy;
}

export type AnalysisRule =
  /** Fails when the canary's value stays above `max` (or below `min`) for `forMs` ("error rate > 5% for 2m"). */
  | (RuleBase & { kind: 'threshold'; metric: MetricSource; max: number | null; min: number | null; forMs: number; windowMs: number; minSamples: number })
  /**
   * Compares the canary with the stable release measured over the same window: fails when
   * canary / stable > maxRatio ("p95 > 2x stable") or (canary - stable) / stable > maxIncrease
   * ("error rate up by more than 50%").
   */
  | (RuleBase & { kind: 'relative'; metric: MetricSource; direction: Direction; maxRatio: number | null; maxIncrease: number | null; maxDecrease: number | null; windowMs: number; minSamples: number })
  /** Fails after `consecutive` consecutive failed health checks of any canary instance. */
  | (RuleBase & { kind: 'healthFailures'; consecutive: number })
  /**
   * Statistical judge, canary vs stable: error proportions and latency distributions of the
   * request windows, or (with `metric`) the samples of a metric every `stepMs` over the window.
   * Inconclusive below `minSamples` per release (requests, or samples of the metric).
   */
  | (RuleBase & {
    kind: 'judge'; metric: MetricSource | null; errors: boolean; latency: boolean; alpha: number; minSamples: number; windowMs: number; stepMs: number;
    /** Which way a difference of latency or of the metric is bad; the error test is always `increase`. */
    direction: Direction;
    effectSize: EffectSize;
  });

/** Which way a difference from the stable release counts against the canary. */
export type Direction = 'increase' | 'decrease' | 'either';

/**
 * The tolerance band of the judge: a significant difference fails only when its effect size is
 * beyond `allowedIncrease` (above) or `allowedDecrease` (below). Ratios (`medianShift`,
 * `meanRatio`) are neutral at 1, `cles` (P(canary > stable) + ½ P(tie)) at 0.5.
 */
export interface EffectSize { measure: 'medianShift' | 'meanRatio' | 'cles'; allowedIncrease: number; allowedDecrease: number }

/** What a firing alert tier does besides notifying its channels. */
export type AlertAction = 'rollback' | 'freeze' | 'none';

/** One condition of an alert tier: a rule that holds while it fails, for at least `forMs`. */
export interface AlertCondition {
  /** The rule; a threshold's own `for` is moved to `forMs` (the rule's `forMs` is 0). */
  rule: AnalysisRule;
  forMs: number;
}

/** One alert tier: it fires when any condition has held for its duration. */
export interface AlertTier {
  name: string;
  conditions: AlertCondition[];
  /** Names of notifiers under `notifications`. */
  channels: string[];
  action: AlertAction;
}

export interface AlertsConfig {
  intervalMs: number;
  /** Preset tiers first (in the preset's order), then the file's own. */
  tiers: AlertTier[];
}

export interface AnalysisTemplate {
  name: string;
  /** How often the rules are measured. */
  intervalMs: number;
  rules: AnalysisRule[];
}

export interface RollbackConfig {
  /** Roll back by itself when health or smoke checks fail, or the watch sees failureThreshold consecutive failures. */
  automatic: boolean;
  /** Post-deploy watch period, default 5 minutes. */
  watchMs: number;
}

/** One service as it runs in one environment: service settings with that environment's overrides merged in. */
export interface ServiceEnvConfig {
  service: string;
  environment: string;
  target: TargetConfig;
  /** Jobs run on the target as part of each deployment (Kubernetes only). */
  jobs: JobsConfig;
  health: HealthConfig;
  strategy: StrategyConfig;
  smoke: SmokeCheck[];
  rollback: RollbackConfig;
  /** Connection draining: how long old instances may finish in-flight requests before they are stopped. */
  drainTimeoutMs: number;
  dependsOn: string[];
  /** Database migrations of this service in this environment, or null. */
  migrations: MigrationConfig | null;
  /**
   * Analysis template that runs in the background for the whole rollout and the post-deploy
   * watch (not only at analysis steps); null for none.
   */
  analysis: string | null;
}

/** The gates a deployment may have to pass; `expedited.skip` names them. */
export type GateName = 'promotion' | 'reason' | 'window' | 'freeze' | 'approvals' | 'image' | 'signature' | 'checks' | 'checklist' | 'rejected';

/** Deployment outcomes people are told about. */
export type NotifyEvent = 'started' | 'waiting' | 'succeeded' | 'failed' | 'rolled_back' | 'superseded';

/** Where notifications go. Secrets (webhook signing secret, tokens) come from env vars at load time; never logged. */
export type NotifierConfig =
  /** A JSON POST, body signed with HMAC-SHA256 in `X-Gangway-Signature: sha256=<hex>` when a secret is set. */
  | { kind: 'webhook'; name: string; url: string; secret: string | null; events: NotifyEvent[]; timeoutMs: number; retries: number }
  /** A Slack-compatible incoming webhook (`{ text, blocks }`). */
  | { kind: 'slack'; name: string; url: string; events: NotifyEvent[]; timeoutMs: number; retries: number }
  /** GitHub deployments and deployment statuses (REST API) for `repo` ("owner/name"). */
  | { kind: 'github'; name: string; apiUrl: string; repo: string; token: string; events: NotifyEvent[]; timeoutMs: number; retries: number };

/** Deployment records written to a Git repository when a deployment ends, as the runbooks keep them. */
export interface RecordsConfig {
  /** The repository's working folder (absolute). */
  repo: string;
  /** Folder inside the repository, `{environment}` and `{service}` substituted; default `docs/deployments/{environment}`. */
  path: string;
  /** Push after committing to this remote (name or URL), or null for commit only. */
  remote: string | null;
  /** Branch to commit on and push; null: the current branch. */
  branch: string | null;
  author: { name: string; email: string };
  /** Push retries after the first attempt before the failure is recorded (0: one attempt). */
  pushRetries: number;
}

/**
 * Database migrations run as steps of a deployment: a backup first, the migration, a
 * validation; on rollback a down migration or a restore of that backup, as configured. An
 * irreversible migration makes a rollback stop and ask a person.
 */
export interface MigrationConfig {
  backup:
    | { kind: 'pgDump'; url: string; dir: string }
    | { kind: 'run'; argv: string[] }
    | null;
  migrate: { argv: string[] };
  validate: { kind: 'run'; argv: string[] } | { kind: 'sql'; url: string; query: string } | null;
  rollback: { kind: 'down'; argv: string[] } | { kind: 'restore' } | { kind: 'irreversible' };
  cwd: string;
  timeoutMs: number;
  env: Record<string, string>;
}

export interface EnvironmentConfig {
  name: string;
  promotion?: { from: string };
  reason: 'required' | 'optional';
  /**
   * `supersede`: a deployment queued behind one in its post-deploy watch ends that watch at
   * once (the watched one ends `superseded`) and starts. `strict`: it waits for the watch.
   */
  queue: 'supersede' | 'strict';
  /**
   * N of M approvals from members of the named groups (see `GangwayConfig.groups`);
   * `expiresMs`: an approval older than this no longer counts (null: never expires).
   */
  approvals?: { required: number; groups: string[]; allowSelfApproval: boolean; expiresMs: number | null };
  /**
   * Deployment windows. A deployment may start when the time is inside at least one `allow`
   * window (when there are any) and inside no `deny` window. Times are local to `timezone`
   * (IANA), DST-correct (see docs/gates/windows.md).
   */
  windows: Array<{ allow?: WindowRange; deny?: WindowRange; timezone: string }>;
  /** Commands or webhooks that must pass before a deployment starts (CI green, coverage, scan, backup fresh, monitoring up). */
  checks: CustomCheck[];
  /** Manual checklist items a named person (or a member of a named group) confirms. */
  checklist: ChecklistItem[];
  /** Image gates: the image must exist in its registry (tag resolved to a digest) and carry a valid cosign signature. */
  image: { exists: boolean; signature: { publicKey: string } | null } | null;
  /**
   * Hotfix policy: with `--expedited` a deployment may skip these gates; it always needs a
   * reason and is flagged for post-incident review. Null: no expedited deployments here.
   */
  expedited: { skip: GateName[] } | null;
  /** Releases that start themselves (see docs/autodeploy.md); absent: only people deploy here. */
  autoDeploy?: AutoDeployConfig;
  /** Release groups (`deploy --all`, see docs/releases.md): what a group does when a member does not succeed. Absent: `rollback`. */
  releases?: { onFailure: 'rollback' | 'stop' };
}

/** `environments.<name>.autoDeploy`, compiled. */
export interface AutoDeployConfig {
  /** Poll a registry; null with a webhook. */
  image: { repository: string; tagPattern: string; order: 'semver' | 'pushed'; intervalMs: number } | null;
  /** Signed requests from CI; null when polling. `secret` was read from `secretFromEnv` when the file was loaded. */
  webhook: { secretFromEnv: string; secret: string } | null;
  /** The services deployed automatically (every service when the file names none). */
  services: string[];
  allowPromoted: boolean;
}

/** A weekly range (`days` at local `from`–`to`, "HH:MM") or a one-off range (local "YYYY-MM-DDTHH:MM" `start`–`end`). */
export type WindowRange =
  | { days: string[]; from: string; to: string }
  | { start: string; end: string };

export type CustomCheck =
  | { name: string; kind: 'run'; argv: string[]; cwd: string; timeoutMs: number }
  | { name: string; kind: 'webhook'; url: string; method: string; headers: Record<string, string>; expect: HttpExpect; timeoutMs: number };

export interface ChecklistItem {
  name: string;
  text: string;
  /** People (actor names) or group names whose members may confirm it. */
  confirmers: string[];
}

/** A registry Gangway may ask about images (tag → digest, signatures). Secrets come from env vars, never the file. */
export interface RegistryConfig {
  /** host[:port], as in image references. */
  host: string;
  /** Plain HTTP (a local registry). */
  insecure: boolean;
  username: string | null;
  /** Resolved from the named env var at load time; never logged. */
  password: string | null;
  /** A bearer token (resolved from an env var), used instead of basic auth. */
  token: string | null;
}

export interface GangwayConfig {
  project: string;
  /** Absolute path of the file this came from. */
  file: string;
  /** Folder that holds the config file; `.gangway/` state lives below it unless `stateDir` says otherwise. */
  rootDir: string;
  stateDir: string;
  /** `allowedHosts`: more Host header names the API answers (optional only for configs built by hand). */
  server: { host: string; port: number; allowedHosts?: string[] };
  agent: {
    metricsPort: number;
    host: string;
    /**
     * The proxy adds X-Forwarded-For/-Proto/-Host to every request. compileConfig always sets
     * this and `trustForwarded`; they are optional only so configs built by hand (test fixtures)
     * need not spell them out, and the agent then applies the same defaults (on, trust nobody).
     */
    forwardedHeaders?: boolean;
    /** IP addresses and CIDR ranges whose own X-Forwarded-* headers the proxy keeps. */
    trustForwarded?: string[];
  };
  store: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
  /** In declaration order (dev, staging, prod). */
  environments: EnvironmentConfig[];
  serviceNames: string[];
  /** `services[service][environment]`. */
  services: Record<string, Record<string, ServiceEnvConfig>>;
  /** Named analysis templates, including the built-in preset `runbook-defaults`. */
  analysisTemplates: Record<string, AnalysisTemplate>;
  /** Approval groups and checklist confirmers: group name → member actor names. */
  groups: Record<string, string[]>;
  registries: RegistryConfig[];
  /**
   * Incident freezes raised by Alertmanager webhooks (POST /v1/webhooks/alertmanager): a firing
   * alert carrying `label` = `value` freezes the environments (and services) named by its
   * `environment` / `service` labels (all when absent); the freeze lifts when the alert resolves.
   */
  incidents: { label: string; value: string } | null;
  records: RecordsConfig | null;
  notifications: NotifierConfig[];
  /** Alert tiers (`alerts`; docs/alerts.md); null or absent: none. Optional only for configs built by hand. */
  alerts?: AlertsConfig | null;
  metrics: { prometheus: { address: string; timeoutMs: number } | null; requests: RequestQueries | null };
}

/**
 * PromQL instant queries that give the builtin request metrics of a target that does not
 * measure requests itself: cumulative counts per release, labelled by `versionLabel`.
 * `${service}` and `${environment}` are filled in.
 */
export interface RequestQueries {
  total: string;
  errors: string;
  /** Cumulative histogram buckets in seconds, one series per release and `le`. */
  buckets: string;
  versionLabel: string;
}
