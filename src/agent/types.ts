/**
 * Types shared by the local agent (supervisor, proxy, control API) and its client
 * (src/agent/client.ts, used by the local target). The control API is HTTP/1.1 + JSON
 * over a Unix socket `.gangway/agent.sock` (mode 0600).
 */
import type { HealthConfig } from '../config/types.js';

/** What to run for one release of one service in one environment. */
export interface ReleaseSpec {
  service: string;
  environment: string;
  version: string;
  image: string | null;
  /** argv with placeholders already substituted except `${port}`, which the agent fills per instance. */
  command: string[];
  cwd: string;
  env: Record<string, string>;
  health: HealthConfig;
}

export type InstanceState = 'starting' | 'ready' | 'unhealthy' | 'crashed' | 'stopping' | 'stopped';

export interface InstanceStatus {
  id: string;
  service: string;
  environment: string;
  version: string;
  pid: number | null;
  port: number;
  state: InstanceState;
  startedAt: number;
  /** Last time the instance became ready; null until its first passing health check. */
  readyAt: number | null;
  restarts: number;
  consecutiveFailures: number;
  totalFailures: number;
  lastHealth: { at: number; ok: boolean; detail: string } | null;
  /** Requests the proxy is currently forwarding to it. */
  inflight: number;
  logFile: string;
}

/** Traffic for one (service, environment): the public port and the per-version weights. */
export interface RouteSpec {
  service: string;
  environment: string;
  port: number;
  host: string;
  /**
   * Relative weights per version (they need not sum to 100). A request picks a version by
   * weight, then a ready instance of it round-robin. A version with no ready instance is
   * skipped. Replacing the list is atomic.
   */
  versions: Array<{ version: string; weight: number }>;
  /**
   * Optional preview listener sending every request to one version (release under test).
   * Port 0 asks the agent to choose: it takes a free port on `host` the first time and keeps it
   * for this (service, environment), across agent restarts (see `AgentState.previewPorts`), as
   * long as no other process holds it when the preview opens again. Routes the agent reports
   * (`AgentState.routes`) always carry the real port.
   */
  preview: { port: number; version: string } | null;
  /**
   * Requests whose header `name` equals `value` go to `version` whatever the weights (so smoke
   * tests reach a canary before any user does). Checked before weights, in order. Optional.
   */
  headerRoutes?: Array<{ name: string; value: string; version: string }>;
  /**
   * Sticky sessions: a response gets `Set-Cookie: <cookie>=<version>`; a request carrying the
   * cookie of a version that still has weight and a ready instance goes to that version. Optional.
   */
  sticky?: { cookie: string; ttlMs: number } | null;
  /**
   * Longest wait, in ms, from the whole request having been forwarded to an instance to that
   * instance's response head. When it passes, the proxy answers 504 and the instance leaves the
   * traffic until a health check passes (see `BackendSource.markFailing`). A streaming body
   * whose head has come is never cut by it. Optional: absent, the proxy's default (30 s).
   */
  responseTimeoutMs?: number;
}

export interface AgentState {
  /** The agent's worker: the process that proxies, supervises and answers this socket. */
  pid: number;
  /**
   * The keeper that holds the worker's listening sockets and starts it again after a crash
   * (src/agent/keeper.ts); null for an agent run in the foreground. Absent from older agents.
   */
  keeperPid?: number | null;
  startedAt: number;
  instances: InstanceStatus[];
  routes: RouteSpec[];
  /**
   * The preview ports the agent chose (for routes asking for preview port 0), one per
   * (service, environment), whether or not that preview is open now. Absent from agents
   * older than this field.
   */
  previewPorts?: PreviewPortChoice[];
  /** The canary guards set with `setGuard` (src/agent/canary-guard.ts). Absent from agents older than this field. */
  guards?: CanaryGuardStatus[];
}

/** What a canary guard watches: the canary's failed requests against the stable's, at level `alpha`. */
export interface CanaryGuardSpec { canary: string; stable: string; alpha: number }

/** A canary guard's state and evidence. */
export interface CanaryGuardStatus extends CanaryGuardSpec {
  service: string;
  environment: string;
  /** `waiting` for stable requests to estimate p0; `armed`; `tripped`: the canary was taken out of traffic. */
  state: 'waiting' | 'armed' | 'tripped';
  /** One sentence with the counts, the statistic and the threshold. */
  detail: string;
  canaryRequests: number;
  canaryErrors: number;
  /** Stable requests and failures behind p0 (fixed once armed). */
  stableRequests: number;
  stableErrors: number;
  /** The stable failure rate tested against, (errors + 1) / (requests + 2); null while waiting. */
  p0: number | null;
  /** Failure rates of the mixture's alternatives. */
  alternatives: number[];
  /** ln of the mixture likelihood ratio now (at the trip, once tripped); null while waiting. */
  logLikelihoodRatio: number | null;
  /** The boundary: the guard trips when logLikelihoodRatio reaches it. */
  logThreshold: number | null;
  /** Bound of the probability that a canary failing no more than p0 ever trips the guard (≤ alpha). */
  level: number | null;
  /** When it tripped (epoch ms), or null. */
  trippedAt: number | null;
}

/** A preview port the agent chose for a (service, environment) and keeps for it. */
export interface PreviewPortChoice { service: string; environment: string; port: number }

/** Client of the agent control API. Every method is idempotent. */
export interface AgentApi {
  /** Current instances and routes. */
  state(): Promise<AgentState>;
  /**
   * Ensures exactly `count` live (not stopping/stopped) instances of the release run: starts
   * the missing ones on free ports, or stops the surplus (newest first) after draining.
   * Returns the instances of that release after the change.
   */
  scale(spec: ReleaseSpec, count: number, drainTimeoutMs: number): Promise<InstanceStatus[]>;
  /** Stops every instance of the version (drained first). No-op when none run. */
  stopVersion(service: string, environment: string, version: string, drainTimeoutMs: number): Promise<void>;
  /** Sets the route atomically; opens or moves listeners as needed. Rejects with a clear error if the port is taken by another process. */
  setRoute(route: RouteSpec): Promise<void>;
  /** Last `lines` lines of the instances' log files of a release (or of every release when version is omitted). */
  logs(service: string, environment: string, version?: string, lines?: number): Promise<Array<{ instance: string; version: string; lines: string[] }>>;
  /** Raw cumulative request counters per version (see RequestMetricsApi.counters). GET /v1/counters?service&environment. */
  counters(service: string, environment: string): Promise<Array<{ version: string; total: number; errors: number; bounds: readonly number[]; buckets: number[] }>>;
  /**
   * Sets (or with null removes) the canary guard of a (service, environment): the proxy tests the
   * canary's failed requests against the stable's request by request and sets the canary's weight
   * to 0 when the test rejects. Setting the same guard again keeps its counts and any trip.
   * POST /v1/guard {service, environment, guard}.
   */
  setGuard?(service: string, environment: string, guard: CanaryGuardSpec | null): Promise<void>;
  /** Stops every instance and listener, then the agent process. */
  shutdown(): Promise<void>;
}

/** A backend the proxy can send a request to. */
export interface Backend { id: string; version: string; port: number }

/** Where the proxy finds a version's ready instances. Called on every request: must be O(1) and allocation-free. */
export interface BackendSource {
  /** Ready instances of the version, in a stable order; an empty array when none are ready. */
  ready(service: string, environment: string, version: string): readonly Backend[];
  /**
   * The proxy saw the backend fail a request as only a broken instance does (no response head
   * within the route's response timeout): the backend leaves `ready()` at once, and its health
   * checks decide when it comes back. Idempotent; a backend that is not ready any more is left
   * as it is. Optional: a source without it keeps the backend (each request still gets its 504).
   */
  markFailing?(backendId: string, detail: string): void;
}

/** Per-release request measurements, rendered in Prometheus text format. */
export interface RequestMetricsApi {
  /** `status` is the HTTP status code (0 when the proxy answered 502/503 itself is recorded as that code). */
  record(service: string, environment: string, version: string, status: number, durationSeconds: number): void;
  /** `http_requests_total` (counter) and `http_request_duration_seconds` (histogram), labels service, environment, version, status (e.g. "2xx"). */
  render(): string;
  /** Snapshot for the engine: per version, count by status class and latency quantiles. */
  snapshot(service: string, environment: string): Array<{ version: string; total: number; byStatus: Record<string, number>; p50: number; p95: number; p99: number }>;
  /**
   * Cumulative raw counters per version since the agent started counting it: requests, failed
   * requests (5xx and the proxy's own 502/503), and non-cumulative latency bucket counts
   * (`bounds` in seconds; `buckets` has one more entry, the +Inf bucket). The builtin metric
   * provider computes windows from successive readings.
   */
  counters(service: string, environment: string): Array<{ version: string; total: number; errors: number; bounds: readonly number[]; buckets: number[] }>;
}

/** All proxy listeners of one agent. */
export interface ProxyHubApi {
  /** Opens/closes/moves the public and preview listeners of the route and swaps its weights atomically. Rejects with PortInUseError (src/errors.ts) when a port is taken. */
  setRoute(route: RouteSpec): Promise<void>;
  /** Sets or removes the route's canary guard (see AgentApi.setGuard). */
  setGuard(service: string, environment: string, guard: CanaryGuardSpec | null): void;
  /** Every canary guard's state. */
  guards(): CanaryGuardStatus[];
  /** Closes the listeners of a route. */
  removeRoute(service: string, environment: string): Promise<void>;
  routes(): RouteSpec[];
  /** Requests in flight to a backend right now. */
  inflight(backendId: string): number;
  /** Closes idle pooled connections to the backend and stops reusing it; call after it leaves every route and before its process is stopped. */
  forget(backendId: string): void;
  /** Stops accepting, waits up to `graceMs` for in-flight requests, closes everything. */
  close(graceMs?: number): Promise<void>;
}
