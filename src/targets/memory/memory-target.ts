/**
 * An in-memory target for engine tests: a working fake, not a mock. Instances become ready
 * on the next look unless their version is told to behave otherwise. Its capabilities are
 * settable, so the same engine runs against a proxy-like target (the default) or a
 * Kubernetes-like one (replica-ratio weights, native rolling, no header routes).
 *
 * `reach()` answers real HTTP: a tiny loopback server, started on the first call (unref'd;
 * `close()` stops it), serves `<version>\n` for a release with a ready instance and demands the
 * `authorization` header `reach()` hands out, so checks prove they pass the headers along.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JobConfig, ServiceEnvConfig } from '../../config/types.js';
import { GangwayError } from '../../errors.js';
import { unsupportedTraffic } from '../registry.js';
import { RequestMetricsUnavailableError } from '../target.js';
import type {
  JobHandle, JobStatus, LogLine, Reach, ReleaseRef, ReleaseRequestCounters, RolloutHandle, RolloutStatus, Target, TargetCapabilities, TargetInstance, Traffic,
} from '../target.js';

export interface VersionBehaviour {
  /** Never passes a health check. */
  neverReady?: boolean;
  /** Starts failing health checks this many looks after becoming ready. */
  failAfterLooks?: number;
  /** A native rollout of this version fails with this reason (as a platform reports ProgressDeadlineExceeded). */
  rolloutFails?: string;
}

/** Options of {@link MemoryTarget}. */
export interface MemoryTargetOptions {
  /** Overrides of the default capabilities (those of the local agent). */
  capabilities?: Partial<TargetCapabilities>;
}

/** The token `reach()` hands out and the HTTP server demands. */
export const MEMORY_REACH_TOKEN = 'Bearer memory-reach';

const DEFAULT_CAPABILITIES: TargetCapabilities = {
  weights: 'exact', headerRoutes: true, sticky: true, preview: true, requestMetrics: true, nativeRolling: false, jobs: false,
};

type Instance = TargetInstance & { looks: number; log: string[] };

interface Rolling { handle: RolloutHandle; release: ReleaseRef }

export class MemoryTarget implements Target {
  readonly behaviours = new Map<string, VersionBehaviour>();
  /** Every call that changes something, in order, for assertions on interactions. */
  readonly calls: string[] = [];
  /** Request counters per `service/environment`, set by tests; served by `requestCounters`. */
  readonly counters = new Map<string, ReleaseRequestCounters[]>();
  private readonly caps: TargetCapabilities;
  private readonly pools = new Map<string, Instance[]>();
  private readonly routes = new Map<string, Traffic>();
  /** Preview ports "chosen" for blue-green without a configured previewPort, kept per service/environment like the agent does. */
  private readonly chosenPreviewPorts = new Map<string, number>();
  private readonly rollouts = new Map<string, Rolling>();
  /**
   * Jobs by name, set by tests through `jobOutcomes` (manifest path → outcome; default success):
   * a Job is running for `looksToFinish` looks at its status, then ends as told.
   */
  readonly jobs = new Map<string, { looks: number; outcome: 'succeeded' | 'failed' }>();
  readonly jobOutcomes = new Map<string, 'succeeded' | 'failed'>();
  looksToFinish = 2;
  private revisions = 0;
  private seq = 0;
  private server: Promise<{ server: http.Server; port: number }> | null = null;

  constructor(opts: MemoryTargetOptions = {}) {
    this.caps = Object.freeze({ ...DEFAULT_CAPABILITIES, ...opts.capabilities });
  }

  capabilities(_cfg: ServiceEnvConfig): TargetCapabilities {
    return this.caps;
  }

  /** Starts the deployment's Job once (capabilities.jobs only); asked again, returns the same one. */
  async startJob(cfg: ServiceEnvConfig, job: JobConfig, release: ReleaseRef, deploymentId: string): Promise<JobHandle> {
    if (!this.caps.jobs) throw new GangwayError('invalid_config', 'the memory target was told not to run jobs');
    const name = `${job.manifest.split('/').pop()!.replace(/\.ya?ml$/, '')}-${release.version}-${deploymentId}`;
    if (!this.jobs.has(name)) {
      this.jobs.set(name, { looks: 0, outcome: this.jobOutcomes.get(job.manifest) ?? 'succeeded' });
      this.calls.push(`job ${cfg.environment} ${name}`);
    }
    return { name };
  }

  async jobStatus(_cfg: ServiceEnvConfig, handle: JobHandle, opts: { logs?: boolean } = {}): Promise<JobStatus> {
    const j = this.jobs.get(handle.name);
    if (!j) return { state: 'failed', reason: `job ${handle.name} is gone`, logs: [] };
    if (++j.looks < this.looksToFinish) return { state: 'running', reason: `job ${handle.name}: 1 active`, logs: opts.logs ? [{ pod: `${handle.name}-pod`, lines: ['migration: starting'] }] : [] };
    const logs = [{ pod: `${handle.name}-pod`, lines: ['migration: starting', j.outcome === 'succeeded' ? 'migration: done' : 'migration: failed'] }];
    return j.outcome === 'succeeded'
      ? { state: 'succeeded', reason: `job ${handle.name} completed`, logs }
      : { state: 'failed', reason: `job ${handle.name} failed: BackoffLimitExceeded: Job has reached the specified backoff limit`, logs };
  }

  async scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number): Promise<TargetInstance[]> {
    this.calls.push(`scale ${cfg.environment} ${release.version} ${count}`);
    this.ensure(cfg, release.version, count);
    return this.pool(cfg).filter((i) => i.version === release.version).map(strip);
  }

  async instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]> {
    this.look(cfg);
    return this.pool(cfg).map(strip);
  }

  async setTraffic(cfg: ServiceEnvConfig, traffic: Traffic): Promise<void> {
    const refused = unsupportedTraffic('memory', this.caps, traffic);
    if (refused) throw new GangwayError('invalid_config', `${cfg.service}/${cfg.environment}: ${refused}`);
    this.calls.push(`traffic ${cfg.environment} ${traffic.versions.map((v) => `${v.version}:${v.weight}`).join(',') || '-'}${traffic.preview ? ` preview ${traffic.preview}` : ''}${traffic.headerRoute ? ` header ${traffic.headerRoute.name}=${traffic.headerRoute.value}` : ''}`);
    this.routes.set(key(cfg), {
      versions: traffic.versions.map((v) => ({ ...v })), preview: traffic.preview,
      ...(traffic.headerRoute ? { headerRoute: { ...traffic.headerRoute } } : {}),
      ...(traffic.sticky ? { sticky: { ...traffic.sticky } } : {}),
    });
    if (traffic.preview && cfg.strategy.kind === 'blueGreen' && cfg.strategy.previewPort === null && !this.chosenPreviewPorts.has(key(cfg))) {
      this.chosenPreviewPorts.set(key(cfg), 49_152 + this.chosenPreviewPorts.size);
    }
  }

  async traffic(cfg: ServiceEnvConfig): Promise<Traffic> {
    const stored = this.routes.get(key(cfg)) ?? { versions: [], preview: null };
    // Like the agent, reports a port it chose; a configured one is left to cfg (and keeps assertions on the split short).
    const chosen = this.chosenPreviewPorts.get(key(cfg));
    const out: Traffic = { ...stored, ...(chosen !== undefined ? { previewPort: chosen } : {}) };
    if (this.caps.weights === 'replicaRatio') {
      // Pods behind one Service: each routed release weighs as many as its live instances.
      const routed = new Set(stored.versions.filter((v) => v.weight > 0).map((v) => v.version));
      const counts = new Map<string, number>();
      for (const i of this.pool(cfg)) if (routed.has(i.version) && i.state !== 'stopping' && i.state !== 'stopped') counts.set(i.version, (counts.get(i.version) ?? 0) + 1);
      out.versions = [...counts].map(([version, weight]) => ({ version, weight }));
    }
    return out;
  }

  async reach(cfg: ServiceEnvConfig, version: string, opts: { preview?: boolean } = {}): Promise<Reach | null> {
    if (opts.preview) {
      if (!this.caps.preview || this.routes.get(key(cfg))?.preview !== version) return null;
    } else if (!this.pool(cfg).some((i) => i.version === version && i.state === 'ready')) {
      return null;
    }
    const { port } = await this.listen();
    const path = `/${encodeURIComponent(cfg.service)}/${encodeURIComponent(cfg.environment)}/${encodeURIComponent(version)}`;
    return { url: `http://127.0.0.1:${port}${path}`, headers: { authorization: MEMORY_REACH_TOKEN }, describe: `memory ${opts.preview ? 'preview' : 'instance'} of ${version}` };
  }

  async logs(cfg: ServiceEnvConfig, q: { version?: string; lines: number }): Promise<LogLine[]> {
    return this.pool(cfg)
      .filter((i) => q.version === undefined || i.version === q.version)
      .map((i) => ({ instance: i.id, version: i.version, lines: i.log.slice(-q.lines) }));
  }

  async requestCounters(cfg: ServiceEnvConfig): Promise<ReleaseRequestCounters[]> {
    if (!this.caps.requestMetrics) throw new RequestMetricsUnavailableError(cfg);
    return (this.counters.get(key(cfg)) ?? []).map((c) => ({ ...c, buckets: [...c.buckets] }));
  }

  /**
   * Rolls every instance to `release` (nativeRolling only). Idempotent: while the pair's latest
   * rollout is of the same version, its handle comes back and nothing happens again.
   */
  async rollout(cfg: ServiceEnvConfig, release: ReleaseRef): Promise<RolloutHandle> {
    if (!this.caps.nativeRolling) throw new GangwayError('invalid_config', 'the memory target was told not to roll natively');
    const current = this.rollouts.get(key(cfg));
    if (current && current.release.version === release.version) return { ...current.handle };
    const handle: RolloutHandle = { version: release.version, revision: `revision ${++this.revisions}` };
    this.rollouts.set(key(cfg), { handle, release });
    this.calls.push(`rollout ${cfg.environment} ${release.version} ${handle.revision}`);
    this.ensure(cfg, release.version, cfg.target.instances);
    return { ...handle };
  }

  /** Progressing until the new instances are ready (then the old ones go and all traffic reaches the new release). */
  async rolloutStatus(cfg: ServiceEnvConfig, handle: RolloutHandle): Promise<RolloutStatus> {
    const current = this.rollouts.get(key(cfg));
    if (!current || current.handle.revision !== handle.revision) {
      return { state: 'failed', reason: `${handle.revision} was replaced by ${current?.handle.revision ?? 'nothing'}` };
    }
    const fails = this.behaviours.get(handle.version)?.rolloutFails;
    if (fails) return { state: 'failed', reason: fails };
    this.look(cfg);
    const pool = this.pool(cfg);
    const fresh = pool.filter((i) => i.version === handle.version);
    const ready = fresh.filter((i) => i.state === 'ready').length;
    const want = cfg.target.instances;
    if (ready < want) return { state: 'progressing', reason: `${ready} of ${want} new instances of ${handle.version} ready` };
    for (const old of pool.filter((i) => i.version !== handle.version)) pool.splice(pool.indexOf(old), 1);
    this.routes.set(key(cfg), { versions: [{ version: handle.version, weight: 100 }], preview: null });
    return { state: 'done', reason: `${want} of ${want} instances of ${handle.version} ready` };
  }

  /** Versions with instances, for assertions. */
  versions(cfg: ServiceEnvConfig): string[] {
    return [...new Set(this.pool(cfg).map((i) => i.version))].sort();
  }

  /** Stops the HTTP server of `reach`, if it started. Idempotent. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    const { server } = await s;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private ensure(cfg: ServiceEnvConfig, version: string, count: number): void {
    const pool = this.pool(cfg);
    const mine = pool.filter((i) => i.version === version);
    for (let n = mine.length; n < count; n++) {
      const id = `${cfg.service}-${cfg.environment}-${version}-${++this.seq}`;
      pool.push({ id, version, state: 'starting', restarts: 0, consecutiveFailures: 0, readyAt: null, lastHealth: null, looks: 0, log: [`${id}: started ${version}`] });
    }
    for (const extra of mine.slice(count)) pool.splice(pool.indexOf(extra), 1);
  }

  /** One round of health checks. */
  private look(cfg: ServiceEnvConfig): void {
    for (const i of this.pool(cfg)) {
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
        i.log.push(`${i.id}: ready`);
      }
    }
  }

  private pool(cfg: ServiceEnvConfig): Instance[] {
    let p = this.pools.get(key(cfg));
    if (!p) this.pools.set(key(cfg), (p = []));
    return p;
  }

  /** The loopback server behind `reach`: `/<service>/<environment>/<version>/<any path>`. */
  private listen(): Promise<{ server: http.Server; port: number }> {
    this.server ??= new Promise((resolve, reject) => {
      const server = http.createServer((req, res) => {
        const [service, environment, version] = (req.url ?? '/').split('?', 1)[0].split('/').slice(1, 4).map((s) => decodeURIComponent(s));
        const send = (status: number, body: string) => { res.writeHead(status, { 'content-type': 'text/plain' }); res.end(body); };
        if (req.headers.authorization !== MEMORY_REACH_TOKEN) return send(401, 'missing or wrong authorization\n');
        const pool = this.pools.get(`${service}/${environment}`) ?? [];
        if (this.behaviours.get(version)?.neverReady) return send(500, `${version} is not healthy\n`);
        if (!pool.some((i) => i.version === version && i.state === 'ready')) return send(404, `no ready instance of ${version}\n`);
        send(200, `${version}\n`);
      });
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.unref();
        resolve({ server, port: (server.address() as AddressInfo).port });
      });
    });
    return this.server;
  }
}

function key(cfg: ServiceEnvConfig): string {
  return `${cfg.service}/${cfg.environment}`;
}

function strip(i: Instance): TargetInstance {
  return { id: i.id, version: i.version, state: i.state, restarts: i.restarts, consecutiveFailures: i.consecutiveFailures, readyAt: i.readyAt, lastHealth: i.lastHealth };
}
