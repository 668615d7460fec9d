/**
 * The local target: releases run as processes supervised by the local agent, behind its proxy.
 * The only place (with src/agent/) that knows about processes, loopback ports and the proxy:
 * everything else sees instances, traffic and a `Reach` URL.
 */
import type { LocalTargetConfig, ServiceEnvConfig } from '../../config/types.js';
import type { AgentApi, AgentState, InstanceStatus, ReleaseSpec } from '../../agent/types.js';
import { connectAgent } from '../../agent/client.js';
import { substitute } from '../../config/placeholders.js';
import { GangwayError } from '../../errors.js';
import type {
  CanaryGuardReport, LogLine, Reach, ReleaseRef, ReleaseRequestCounters, Target, TargetCapabilities, TargetInstance, Traffic,
} from '../target.js';

/** The local agent's proxy does all of it, except rolling natively: the engine rolls instance by instance. */
const LOCAL_CAPABILITIES: TargetCapabilities = Object.freeze({
  weights: 'exact', headerRoutes: true, sticky: true, preview: true, requestMetrics: true, nativeRolling: false, jobs: false,
});

/**
 * Releases as local processes, through the agent's control API.
 *
 * @example
 * ```ts
 * const target = new LocalTarget(await ensureAgent({ stateDir, metricsPort: 9464 }));
 * await target.scale(cfg, { version: '2.0.0', image: null }, 2);
 * ```
 */
export class LocalTarget implements Target {
  constructor(private readonly agent: AgentApi) {}

  /** The same for every service: exact weights, header routes, sticky sessions, preview, request metrics. */
  capabilities(_cfg: ServiceEnvConfig): TargetCapabilities {
    return LOCAL_CAPABILITIES;
  }

  async scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number): Promise<TargetInstance[]> {
    if (count === 0) {
      await this.agent.stopVersion(cfg.service, cfg.environment, release.version, cfg.drainTimeoutMs);
      return [];
    }
    const list = await this.agent.scale(releaseSpec(cfg, release), count, cfg.drainTimeoutMs);
    return list.map(toTargetInstance);
  }

  async instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]> {
    return mine(await this.agent.state(), cfg).map(toTargetInstance);
  }

  async setTraffic(cfg: ServiceEnvConfig, traffic: Traffic): Promise<void> {
    const local = localOf(cfg);
    // Blue-green without a configured previewPort asks the agent for its kept one (port 0).
    const previewPort = cfg.strategy.kind === 'blueGreen' ? cfg.strategy.previewPort ?? 0 : null;
    if (traffic.preview && previewPort === null) {
      throw new GangwayError('invalid_config', `${cfg.service}/${cfg.environment} has no preview: only the blueGreen strategy opens a preview port`);
    }
    await this.agent.setRoute({
      service: cfg.service,
      environment: cfg.environment,
      port: local.port,
      host: local.host,
      versions: traffic.versions.filter((v) => v.weight > 0),
      preview: traffic.preview && previewPort !== null ? { port: previewPort, version: traffic.preview } : null,
      headerRoutes: traffic.headerRoute ? [traffic.headerRoute] : [],
      sticky: traffic.sticky ?? null,
      ...(local.responseTimeoutMs !== undefined ? { responseTimeoutMs: local.responseTimeoutMs } : {}),
    });
  }

  async traffic(cfg: ServiceEnvConfig): Promise<Traffic> {
    const state = await this.agent.state();
    const route = routeOf(state, cfg);
    return {
      versions: route?.versions ?? [],
      preview: route?.preview?.version ?? null,
      headerRoute: route?.headerRoutes?.[0] ?? null,
      sticky: route?.sticky ?? null,
      previewPort: route?.preview?.port ?? configuredOrChosen(cfg, state),
    };
  }

  /** With `preview`: the preview port when it serves `version`; else a ready instance's own loopback port. */
  async reach(cfg: ServiceEnvConfig, version: string, opts: { preview?: boolean } = {}): Promise<Reach | null> {
    const state = await this.agent.state();
    if (opts.preview) {
      const preview = routeOf(state, cfg)?.preview;
      if (!preview || preview.version !== version) return null;
      return { url: `http://${urlHost(localOf(cfg).host)}:${preview.port}`, headers: {}, describe: `preview port ${preview.port}` };
    }
    const ready = mine(state, cfg).find((i) => i.version === version && i.state === 'ready');
    if (!ready) return null;
    return { url: `http://127.0.0.1:${ready.port}`, headers: {}, describe: `instance ${ready.id} on port ${ready.port}` };
  }

  logs(cfg: ServiceEnvConfig, q: { version?: string; lines: number }): Promise<LogLine[]> {
    return this.agent.logs(cfg.service, cfg.environment, q.version, q.lines);
  }

  /** Sets or removes the proxy's canary guard (src/agent/canary-guard.ts). */
  async setCanaryGuard(cfg: ServiceEnvConfig, guard: { canary: string; stable: string; alpha: number } | null): Promise<boolean> {
    if (!this.agent.setGuard) return false;
    await this.agent.setGuard(cfg.service, cfg.environment, guard);
    return true;
  }

  /** The proxy's canary guard of the service in the environment, or null. */
  async canaryGuard(cfg: ServiceEnvConfig): Promise<CanaryGuardReport | null> {
    const g = (await this.agent.state()).guards?.find((x) => x.service === cfg.service && x.environment === cfg.environment);
    if (g === undefined) return null;
    const { service: _s, environment: _e, alternatives: _a, ...report } = g;
    return report;
  }

  /** The proxy's cumulative counters per release. */
  requestCounters(cfg: ServiceEnvConfig): Promise<ReleaseRequestCounters[]> {
    return this.agent.counters(cfg.service, cfg.environment);
  }
}

/**
 * A local target over the agent of a state folder, without connecting yet (each call connects):
 * enough for `capabilities`, and for every call once the agent runs.
 *
 * @example connectLocalTarget(config.stateDir).capabilities(cfg).preview // true
 */
export function connectLocalTarget(stateDir: string): LocalTarget {
  return new LocalTarget(connectAgent(stateDir));
}

/** The agent's view of a release: argv and env with every placeholder but `${port}` filled in. */
export function releaseSpec(cfg: ServiceEnvConfig, release: ReleaseRef): ReleaseSpec {
  const local = localOf(cfg);
  const vars = {
    'release.version': release.version,
    'release.image': release.image ?? '',
    environment: cfg.environment,
    service: cfg.service,
    // The agent fills the port per instance; keep the placeholder for it.
    port: '${port}',
  };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(local.env)) env[k] = substitute([v], vars)[0];
  return {
    service: cfg.service,
    environment: cfg.environment,
    version: release.version,
    image: release.image,
    command: substitute(local.command, vars),
    cwd: local.cwd,
    env,
    health: cfg.health,
  };
}

/** The local part of a service's target; a service on another kind never reaches this adapter (the registry dispatches by kind). */
function localOf(cfg: ServiceEnvConfig): LocalTargetConfig {
  const t = cfg.target;
  if (t.kind !== 'local') {
    throw new GangwayError('internal', `the local target was handed ${cfg.service}/${cfg.environment}, which runs on the ${(t as { kind: string }).kind} target`);
  }
  return t;
}

function mine(state: AgentState, cfg: ServiceEnvConfig): InstanceStatus[] {
  return state.instances.filter((i) => i.service === cfg.service && i.environment === cfg.environment);
}

function routeOf(state: AgentState, cfg: ServiceEnvConfig) {
  return state.routes.find((r) => r.service === cfg.service && r.environment === cfg.environment);
}

/** A host as it goes in a URL: IPv6 literals in brackets. */
function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The configured preview port, else the one the agent chose for the pair; null when neither exists. */
function configuredOrChosen(cfg: ServiceEnvConfig, state: AgentState): number | null {
  if (cfg.strategy.kind !== 'blueGreen') return null;
  return cfg.strategy.previewPort
    ?? state.previewPorts?.find((p) => p.service === cfg.service && p.environment === cfg.environment)?.port
    ?? null;
}

function toTargetInstance(i: InstanceStatus): TargetInstance {
  return {
    id: i.id,
    version: i.version,
    state: i.state,
    restarts: i.restarts,
    consecutiveFailures: i.consecutiveFailures,
    readyAt: i.readyAt,
    lastHealth: i.lastHealth,
    detail: { port: i.port },
  };
}
