/**
 * An in-memory target for engine tests: a working fake, not a mock. Instances become ready
 * on the next look unless their version is told to behave otherwise.
 */
import type { ServiceEnvConfig } from '../../config/types.js';
import type { ReleaseRef, Target, TargetCapabilities, TargetInstance, Traffic } from '../target.js';

export interface VersionBehaviour {
  /** Never passes a health check. */
  neverReady?: boolean;
  /** Starts failing health checks this many looks after becoming ready. */
  failAfterLooks?: number;
}

export class MemoryTarget implements Target {
  readonly capabilities: TargetCapabilities = { supportsWeights: true, supportsPreview: true };
  readonly behaviours = new Map<string, VersionBehaviour>();
  /** Every call, in order, for assertions on interactions. */
  readonly calls: string[] = [];
  private readonly pools = new Map<string, Array<TargetInstance & { looks: number }>>();
  private readonly routes = new Map<string, Traffic>();
  /** Preview ports "chosen" for blue-green without a configured previewPort, kept per service/environment like the agent does. */
  private readonly chosenPreviewPorts = new Map<string, number>();
  private seq = 0;

  async scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number): Promise<TargetInstance[]> {
    this.calls.push(`scale ${cfg.environment} ${release.version} ${count}`);
    const pool = this.pool(cfg);
    const mine = pool.filter((i) => i.version === release.version);
    for (let n = mine.length; n < count; n++) {
      const id = `${cfg.service}-${cfg.environment}-${release.version}-${++this.seq}`;
      pool.push({ id, version: release.version, state: 'starting', url: `memory://${id}`, restarts: 0, consecutiveFailures: 0, readyAt: null, lastHealth: null, looks: 0 });
    }
    for (const extra of mine.slice(count)) pool.splice(pool.indexOf(extra), 1);
    return pool.filter((i) => i.version === release.version).map(strip);
  }

  async instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]> {
    const pool = this.pool(cfg);
    for (const i of pool) {
      i.looks++;
      const b = this.behaviours.get(i.version) ?? {};
      if (b.neverReady) {
        i.consecutiveFailures++;
        i.lastHealth = { at: Date.now(), ok: false, detail: 'expected status 200, got 500' };
      } else if (b.failAfterLooks !== undefined && i.looks > b.failAfterLooks) {
        i.consecutiveFailures++;
        i.lastHealth = { at: Date.now(), ok: false, detail: 'expected status 200, got 503' };
        if (i.consecutiveFailures >= cfg.health.failureThreshold) i.state = 'unhealthy';
      } else if (i.state === 'starting') {
        i.state = 'ready';
        i.readyAt = Date.now();
        i.lastHealth = { at: Date.now(), ok: true, detail: 'status 200' };
      }
    }
    return pool.map(strip);
  }

  async setTraffic(cfg: ServiceEnvConfig, traffic: Traffic): Promise<void> {
    this.calls.push(`traffic ${cfg.environment} ${traffic.versions.map((v) => `${v.version}:${v.weight}`).join(',') || '-'}${traffic.preview ? ` preview ${traffic.preview}` : ''}${traffic.headerRoute ? ` header ${traffic.headerRoute.name}=${traffic.headerRoute.value}` : ''}`);
    this.routes.set(key(cfg), { versions: traffic.versions.map((v) => ({ ...v })), preview: traffic.preview, ...(traffic.headerRoute ? { headerRoute: { ...traffic.headerRoute } } : {}) });
    if (traffic.preview && cfg.strategy.kind === 'blueGreen' && cfg.strategy.previewPort === null && !this.chosenPreviewPorts.has(key(cfg))) {
      this.chosenPreviewPorts.set(key(cfg), 49_152 + this.chosenPreviewPorts.size);
    }
  }

  async traffic(cfg: ServiceEnvConfig): Promise<Traffic> {
    // Like the agent, reports a port it chose; a configured one is left to cfg (and keeps assertions on the split short).
    const chosen = this.chosenPreviewPorts.get(key(cfg));
    return { ...(this.routes.get(key(cfg)) ?? { versions: [], preview: null }), ...(chosen !== undefined ? { previewPort: chosen } : {}) };
  }

  async previewUrl(cfg: ServiceEnvConfig): Promise<string | null> {
    return cfg.strategy.kind === 'blueGreen' ? `memory://preview/${key(cfg)}` : null;
  }

  /** Versions with instances, for assertions. */
  versions(cfg: ServiceEnvConfig): string[] {
    return [...new Set(this.pool(cfg).map((i) => i.version))].sort();
  }

  private pool(cfg: ServiceEnvConfig) {
    let p = this.pools.get(key(cfg));
    if (!p) this.pools.set(key(cfg), (p = []));
    return p;
  }
}

function key(cfg: ServiceEnvConfig): string {
  return `${cfg.service}/${cfg.environment}`;
}

function strip(i: TargetInstance & { looks: number }): TargetInstance {
  return { id: i.id, version: i.version, state: i.state, url: i.url, restarts: i.restarts, consecutiveFailures: i.consecutiveFailures, readyAt: i.readyAt, lastHealth: i.lastHealth };
}
