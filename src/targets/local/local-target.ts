/**
 * The local target: releases run as processes supervised by the local agent, behind its proxy.
 */
import type { ServiceEnvConfig } from '../../config/types.js';
import type { AgentApi, AgentState, InstanceStatus, ReleaseSpec } from '../../agent/types.js';
import { substitute } from '../../config/placeholders.js';
import type { ReleaseRef, Target, TargetCapabilities, TargetInstance, Traffic } from '../target.js';

export class LocalTarget implements Target {
  readonly capabilities: TargetCapabilities = { supportsWeights: true, supportsPreview: true };

  constructor(private readonly agent: AgentApi) {}

  async scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number): Promise<TargetInstance[]> {
    if (count === 0) {
      await this.agent.stopVersion(cfg.service, cfg.environment, release.version, cfg.drainTimeoutMs);
      return [];
    }
    const list = await this.agent.scale(releaseSpec(cfg, release), count, cfg.drainTimeoutMs);
    return list.map((i) => toTargetInstance(cfg, i));
  }

  async instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]> {
    const state = await this.agent.state();
    return state.instances
      .filter((i) => i.service === cfg.service && i.environment === cfg.environment)
      .map((i) => toTargetInstance(cfg, i));
  }

  async setTraffic(cfg: ServiceEnvConfig, traffic: Traffic): Promise<void> {
    // Blue-green without a configured previewPort asks the agent for its kept one (port 0).
    const previewPort = cfg.strategy.kind === 'blueGreen' ? cfg.strategy.previewPort ?? 0 : null;
    if (traffic.preview && previewPort === null) {
      throw new Error(`${cfg.service}/${cfg.environment} has no preview port`);
    }
    await this.agent.setRoute({
      service: cfg.service,
      environment: cfg.environment,
      port: cfg.target.port,
      host: cfg.target.host,
      versions: traffic.versions.filter((v) => v.weight > 0),
      preview: traffic.preview && previewPort !== null ? { port: previewPort, version: traffic.preview } : null,
      headerRoutes: traffic.headerRoute ? [traffic.headerRoute] : [],
      sticky: traffic.sticky ?? null,
    });
  }

  async traffic(cfg: ServiceEnvConfig): Promise<Traffic> {
    const state = await this.agent.state();
    const route = state.routes.find((r) => r.service === cfg.service && r.environment === cfg.environment);
    return {
      versions: route?.versions ?? [],
      preview: route?.preview?.version ?? null,
      headerRoute: route?.headerRoutes?.[0] ?? null,
      sticky: route?.sticky ?? null,
      previewPort: route?.preview?.port ?? configuredOrChosen(cfg, state),
    };
  }

  async previewUrl(cfg: ServiceEnvConfig): Promise<string | null> {
    if (cfg.strategy.kind !== 'blueGreen') return null;
    let port = cfg.strategy.previewPort;
    if (port === null) {
      const state = await this.agent.state();
      port = state.routes.find((r) => r.service === cfg.service && r.environment === cfg.environment)?.preview?.port ?? configuredOrChosen(cfg, state);
    }
    return port === null ? null : `http://${cfg.target.host}:${port}`;
  }
}

/** The agent's view of a release: argv and env with every placeholder but `${port}` filled in. */
export function releaseSpec(cfg: ServiceEnvConfig, release: ReleaseRef): ReleaseSpec {
  const vars = {
    'release.version': release.version,
    'release.image': release.image ?? '',
    environment: cfg.environment,
    service: cfg.service,
    // The agent fills the port per instance; keep the placeholder for it.
    port: '${port}',
  };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(cfg.target.env)) env[k] = substitute([v], vars)[0];
  return {
    service: cfg.service,
    environment: cfg.environment,
    version: release.version,
    image: release.image,
    command: substitute(cfg.target.command, vars),
    cwd: cfg.target.cwd,
    env,
    health: cfg.health,
  };
}

/** The configured preview port, else the one the agent chose for the pair; null when neither exists. */
function configuredOrChosen(cfg: ServiceEnvConfig, state: AgentState): number | null {
  if (cfg.strategy.kind !== 'blueGreen') return null;
  return cfg.strategy.previewPort
    ?? state.previewPorts?.find((p) => p.service === cfg.service && p.environment === cfg.environment)?.port
    ?? null;
}

function toTargetInstance(cfg: ServiceEnvConfig, i: InstanceStatus): TargetInstance {
  return {
    id: i.id,
    version: i.version,
    state: i.state,
    url: `http://127.0.0.1:${i.port}`,
    restarts: i.restarts,
    consecutiveFailures: i.consecutiveFailures,
    readyAt: i.readyAt,
    lastHealth: i.lastHealth,
  };
}
