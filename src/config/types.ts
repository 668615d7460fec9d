/**
 * The compiled, frozen form of `gangway.yaml` that the rest of Gangway reads.
 * Defaults are applied once, in `compileConfig()` (src/config/compile.ts); nothing
 * downstream re-reads raw YAML or re-applies defaults. All durations are milliseconds.
 */

/** An HTTP expectation: status code and, optionally, JSON body fields that must match exactly. */
export interface HttpExpect {
  status: number;
  /** Dotted field paths (e.g. `status` or `checks.db`) mapped to the exact expected value. */
  json?: Record<string, unknown>;
  /** A substring the body must contain. */
  bodyContains?: string;
}

export interface HealthConfig {
  path: string;
  expect: HttpExpect;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failures that mark an instance unhealthy (and, during a watch, fail the release). */
  failureThreshold: number;
  /** How long a new instance may take to pass its first health check. */
  startTimeoutMs: number;
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
}

export type TargetConfig = LocalTargetConfig;

export interface RollingStrategy { kind: 'rolling'; maxSurge: number; maxUnavailable: number }
export interface BlueGreenStrategy { kind: 'blueGreen'; previewPort: number; scaleDownDelayMs: number }
export type StrategyConfig = RollingStrategy | BlueGreenStrategy;

export type SmokeCheck =
  | { kind: 'http'; path: string; method: string; headers: Record<string, string>; expect: HttpExpect; timeoutMs: number }
  | { kind: 'run'; argv: string[]; timeoutMs: number; cwd: string };

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
  health: HealthConfig;
  strategy: StrategyConfig;
  smoke: SmokeCheck[];
  rollback: RollbackConfig;
  /** Connection draining: how long old instances may finish in-flight requests before they are stopped. */
  drainTimeoutMs: number;
  dependsOn: string[];
}

export interface EnvironmentConfig {
  name: string;
  promotion?: { from: string };
  reason: 'required' | 'optional';
  /** Accepted and validated now; enforced by the gates. */
  approvals?: { required: number; groups: string[]; allowSelfApproval: boolean };
  windows: Array<{ allow?: WindowRange; deny?: WindowRange; timezone: string }>;
}

export interface WindowRange { days: string[]; from: string; to: string }

export interface GangwayConfig {
  project: string;
  /** Absolute path of the file this came from. */
  file: string;
  /** Folder that holds the config file; `.gangway/` state lives below it unless `stateDir` says otherwise. */
  rootDir: string;
  stateDir: string;
  server: { host: string; port: number };
  agent: { metricsPort: number; host: string };
  store: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
  /** In declaration order (dev, staging, prod). */
  environments: EnvironmentConfig[];
  serviceNames: string[];
  /** `services[service][environment]`. */
  services: Record<string, Record<string, ServiceEnvConfig>>;
}
