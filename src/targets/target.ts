/**
 * The target port: where releases run. The engine's steps speak only this interface;
 * the local agent (src/targets/local) is the embedded default.
 */
import type { ServiceEnvConfig } from '../config/types.js';
import type { InstanceState } from '../agent/types.js';

/** What a target can do, declared as data and checked when a plan is made (a strategy that needs a missing capability is a config error). */
export interface TargetCapabilities {
  /** Per-request weighted traffic split between versions. */
  supportsWeights: boolean;
  /** A separate endpoint that reaches only the release under test. */
  supportsPreview: boolean;
}

export interface ReleaseRef { version: string; image: string | null }

export interface TargetInstance {
  id: string;
  version: string;
  state: InstanceState;
  /** A URL reaching this instance directly (bypassing traffic routing), e.g. for smoke checks. */
  url: string;
  restarts: number;
  consecutiveFailures: number;
  readyAt: number | null;
  lastHealth: { at: number; ok: boolean; detail: string } | null;
}

export interface Traffic {
  versions: Array<{ version: string; weight: number }>;
  preview: string | null;
  /** Requests with this header value go to `version` whatever the weights. */
  headerRoute?: { name: string; value: string; version: string } | null;
  /** Keep each user on the release they first reached (cookie). */
  sticky?: { cookie: string; ttlMs: number } | null;
  /**
   * Read-only, reported by `traffic()` (`setTraffic` ignores it): the port the preview is served
   * on now, or will be when it next opens — the one the target chose and keeps for the service
   * and environment (blue-green without `previewPort`), or the configured `previewPort`. Null when
   * the strategy has no preview or no port is chosen yet; absent when the target does not report
   * it (the configured `previewPort` then applies).
   */
  previewPort?: number | null;
}

/**
 * A place releases run. Every method is idempotent: the engine may call it again after a
 * crash with the same arguments and must get the same end state.
 *
 * @example
 * ```ts
 * await target.scale(cfg, { version: '2.0.0', image: null }, 2);
 * await target.setTraffic(cfg, { versions: [{ version: '2.0.0', weight: 100 }], preview: null });
 * ```
 */
export interface Target {
  readonly capabilities: TargetCapabilities;
  /** Ensures exactly `count` instances of the release run (0 stops them all, draining first). Returns that release's instances. */
  scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number): Promise<TargetInstance[]>;
  /** Every instance of the service in the environment, all versions. */
  instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]>;
  /** Sets the traffic split atomically. Throws when the target lacks the capability asked for. */
  setTraffic(cfg: ServiceEnvConfig, traffic: Traffic): Promise<void>;
  /** The split as served now; empty versions when nothing is routed. */
  traffic(cfg: ServiceEnvConfig): Promise<Traffic>;
  /**
   * A URL that reaches the preview release, or null when the target has no preview (or, with a
   * port the target chooses, has not opened one yet). Asynchronous because such a port is known
   * only to the target.
   */
  previewUrl(cfg: ServiceEnvConfig): Promise<string | null>;
}
