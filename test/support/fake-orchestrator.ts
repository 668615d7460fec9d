/**
 * An in-memory, working fake of `OrchestratorApi` for API and CLI tests. It keeps
 * deployments, steps, stable releases and an event log, and runs each deployment through a
 * fixed four-step plan one transition at a time — on every `getDeployment` read when
 * `advanceOnRead` is set, or when a test calls `advance(id)`. Versions listed in
 * `failingVersions` fail their health step and roll back.
 */
import type { PreviewView } from '../../src/targets/preview.js';
import type {
  DeployRequest, DeploymentView, HistoryFilter, OrchestratorApi, PlanView, PlannedStep, RollbackRequest, StatusEntry, TimelineView,
} from '../../src/engine/types.js';
import type { DeploymentPhase, EventRecord, ReleaseSampleRecord, StepRecord, VerdictRecord } from '../../src/store/types.js';
import { FINAL_PHASES } from '../../src/store/types.js';
import { GangwayError, NotFoundError } from '../../src/errors.js';
import { GENESIS_HASH, eventHash } from '../../src/store/event-chain.js';

export interface FakeOrchestratorOptions {
  /** Services and the environments each is defined in, e.g. `{ web: ['dev', 'prod'] }`. */
  services: Record<string, string[]>;
  /** Releases whose health step fails, so the deployment rolls back. */
  failingVersions?: string[];
  /** Advance a deployment by one transition each time it is read. */
  advanceOnRead?: boolean;
  /** Start of the fake clock (epoch ms); every reading moves it on by one second. */
  startAt?: number;
  /** Public port per environment, for status entries. */
  ports?: Record<string, number>;
  /** Blue-green preview per environment, for status entries and plans; default none (null). */
  previews?: Record<string, PreviewView>;
}

interface Pair { stable: string | null; previous: string | null }

const PLAN: Array<Pick<PlannedStep, 'type' | 'title'>> = [
  { type: 'start', title: 'start 2 instances of {v}' },
  { type: 'health', title: 'wait for {v} to be healthy' },
  { type: 'switch', title: 'switch traffic to {v}' },
  { type: 'stop', title: 'stop {prev}' },
];

export class FakeOrchestrator implements OrchestratorApi {
  readonly deployments: DeploymentView[] = [];
  readonly eventLog: EventRecord[] = [];
  /** Every call, in order: `[method, argument]`. */
  readonly calls: Array<[string, unknown]> = [];
  private clock: number;
  private seq = 0;
  private pairs = new Map<string, Pair>();

  constructor(readonly options: FakeOrchestratorOptions) {
    this.clock = options.startAt ?? Date.UTC(2025, 0, 1, 12, 0, 0);
  }

  /** Marks `version` as the stable release of the pair, as a finished deployment would. */
  setStable(service: string, environment: string, version: string): void {
    const pair = this.pair(service, environment);
    pair.previous = pair.stable;
    pair.stable = version;
  }

  async deploy(req: DeployRequest): Promise<DeploymentView> {
    this.calls.push(['deploy', req]);
    this.check(req.service, req.environment);
    if ((req.version === undefined) === (req.image === undefined)) {
      throw new GangwayError('invalid_argument', 'give exactly one of version or image');
    }
    const version = req.version ?? req.image!.split('@')[0].split(':').pop()!;
    return this.create(req.service, req.environment, 'deploy', version, req.image ?? null, req.actor, req.reason ?? null);
  }

  async rollback(req: RollbackRequest): Promise<DeploymentView> {
    this.calls.push(['rollback', req]);
    this.check(req.service, req.environment);
    const pair = this.pair(req.service, req.environment);
    const to = req.to ?? pair.previous;
    if (!to) throw new GangwayError('conflict', `${req.service} in ${req.environment} has no previous release to roll back to`, 'pass --to <version>');
    return this.create(req.service, req.environment, 'rollback', to, null, req.actor, req.reason ?? null);
  }

  async abort(id: string, actor: string): Promise<DeploymentView> {
    this.calls.push(['abort', { id, actor }]);
    const d = this.find(id);
    if (FINAL_PHASES.includes(d.phase)) {
      throw new GangwayError('conflict', `deployment ${id} already ended (${d.phase})`);
    }
    d.abortRequested = true;
    this.end(d, 'aborted', `aborted by ${actor}`);
    return structuredClone(d);
  }

  async promote(id: string, actor: string): Promise<DeploymentView> {
    this.calls.push(['promote', { id, actor }]);
    const d = this.find(id);
    if (d.phase !== 'paused') throw new GangwayError('conflict', `deployment ${id} is not paused`);
    d.promoteRequested = true;
    d.phase = 'running';
    return structuredClone(d);
  }

  async retry(id: string, actor: string): Promise<DeploymentView> {
    this.calls.push(['retry', { id, actor }]);
    const d = this.find(id);
    if (!['failed', 'rolled_back', 'aborted'].includes(d.phase)) throw new GangwayError('conflict', `deployment ${id} is ${d.phase}: only a failed, rolled back or aborted deployment can be retried`);
    return this.create(d.service, d.environment, d.kind, d.version, d.image, actor, d.reason);
  }

  async verdicts(id: string): Promise<VerdictRecord[]> {
    this.calls.push(['verdicts', id]);
    return structuredClone(this.find(id).verdicts);
  }

  async samples(id: string): Promise<ReleaseSampleRecord[]> {
    this.calls.push(['samples', id]);
    this.find(id);
    return [];
  }

  async timeline(q: { service: string; environment: string; since?: number }): Promise<TimelineView> {
    this.calls.push(['timeline', q]);
    return { service: q.service, environment: q.environment, since: q.since ?? 0, until: 1, stableVersion: null, deployments: [], freezes: [], samples: [] };
  }

  async getDeployment(id: string): Promise<DeploymentView> {
    this.calls.push(['getDeployment', id]);
    const d = this.find(id);
    if (this.options.advanceOnRead) this.advance(id);
    return structuredClone(d);
  }

  async history(filter: HistoryFilter): Promise<DeploymentView[]> {
    this.calls.push(['history', filter]);
    const rows = this.deployments
      .filter((d) => (!filter.service || d.service === filter.service) && (!filter.environment || d.environment === filter.environment))
      .sort((a, b) => b.seq - a.seq);
    return structuredClone(rows.slice(0, filter.limit ?? rows.length));
  }

  async status(filter: { service?: string; environment?: string }): Promise<StatusEntry[]> {
    this.calls.push(['status', filter]);
    if (filter.service && !this.options.services[filter.service]) throw this.unknownService(filter.service);
    const out: StatusEntry[] = [];
    for (const [service, envs] of Object.entries(this.options.services)) {
      if (filter.service && service !== filter.service) continue;
      for (const environment of envs) {
        if (filter.environment && environment !== filter.environment) continue;
        const pair = this.pair(service, environment);
        const latest = [...this.deployments].reverse().find((d) => d.service === service && d.environment === environment);
        out.push({
          service, environment, version: pair.stable,
          deployment: latest ? { id: latest.id, phase: latest.phase, step: latest.step } : null,
          queued: this.deployments.filter((d) => d.service === service && d.environment === environment && d.phase === 'queued').length,
          port: this.options.ports?.[environment] ?? 8080,
          instances: pair.stable ? [1, 2].map((n) => ({
            id: `${service}-${environment}-${pair.stable}-${n}`, version: pair.stable!, port: 41000 + n, state: 'ready' as const, restarts: 0, consecutiveFailures: 0,
          })) : [],
          traffic: pair.stable ? [{ version: pair.stable, weight: 100 }] : [],
          analysis: [],
          releases: pair.stable ? [{ version: pair.stable, requests: 120, errorRate: 0, p95Seconds: 0.012 }] : [],
          preview: this.options.previews?.[environment] ?? null,
        });
      }
    }
    return out;
  }

  async plan(req: DeployRequest): Promise<PlanView> {
    this.calls.push(['plan', req]);
    this.check(req.service, req.environment);
    const pair = this.pair(req.service, req.environment);
    const version = req.version ?? req.image?.split('@')[0].split(':').pop() ?? pair.stable;
    if (!version) throw new GangwayError('invalid_argument', 'give a version or an image: nothing is deployed yet');
    return {
      service: req.service, environment: req.environment, version, strategy: 'blueGreen', stableVersion: pair.stable,
      steps: this.steps(version, pair.stable).map((s, idx) => ({ idx, type: s.type, title: s.title, params: {} })),
      queuedBehind: this.deployments.filter((d) => d.service === req.service && d.environment === req.environment && !FINAL_PHASES.includes(d.phase)).length,
      gates: [], skippedGates: [],
      preview: this.options.previews?.[req.environment] ?? null,
    };
  }

  async logs(q: { service: string; environment: string; version?: string; lines?: number }): Promise<Array<{ instance: string; version: string; lines: string[] }>> {
    this.calls.push(['logs', q]);
    this.check(q.service, q.environment);
    const version = q.version ?? this.pair(q.service, q.environment).stable ?? 'none';
    const lines = ['listening on 41001', 'GET /health 200', 'GET / 200'].slice(-(q.lines ?? 3));
    return [{ instance: `${q.service}-${q.environment}-${version}-1`, version, lines }];
  }

  async events(q: { afterId?: number; deploymentId?: string; limit?: number }): Promise<EventRecord[]> {
    this.calls.push(['events', q]);
    const rows = this.eventLog.filter((e) => e.id > (q.afterId ?? 0) && (!q.deploymentId || e.deploymentId === q.deploymentId));
    return structuredClone(rows.slice(0, q.limit ?? rows.length));
  }

  /** Appends an event as the engine would, chained as the store chains it; returns it. */
  emit(deploymentId: string | null, type: string, data: Record<string, unknown> = {}): EventRecord {
    const content = { id: this.eventLog.length + 1, deploymentId, at: this.now(), type, data: JSON.parse(JSON.stringify(data)) as Record<string, unknown> };
    const prevHash = this.eventLog.at(-1)?.hash ?? GENESIS_HASH;
    const event: EventRecord = { ...content, hash: eventHash(prevHash, content), prevHash };
    this.eventLog.push(event);
    return event;
  }

  /**
   * One transition of the deployment: start the next step, or finish the running one. A
   * failing version's health step fails; the rollback stage is appended and run the same way.
   */
  advance(id: string): void {
    const d = this.find(id);
    if (FINAL_PHASES.includes(d.phase) || d.phase === 'queued') return;
    const step = d.steps[d.currentStep];
    if (!step) return;
    const now = this.now();
    if (step.status === 'pending') {
      step.status = 'running';
      step.startedAt = now;
      step.attempts = 1;
      d.step = step.title;
      this.emit(d.id, 'step.started', { idx: step.idx, title: step.title });
      return;
    }
    const fails = step.stage === 'deploy' && step.type === 'health' && (this.options.failingVersions ?? []).includes(d.version);
    step.finishedAt = now;
    if (fails) {
      step.status = 'failed';
      step.output = { error: `${d.version}: 3 consecutive health check failures` };
      this.emit(d.id, 'step.failed', { idx: step.idx, title: step.title });
      for (const rest of d.steps.slice(d.currentStep + 1)) rest.status = 'skipped';
      const base = d.steps.length;
      d.steps.push(this.step(d.id, base, 'stop', `stop ${d.version}`, 'rollback'));
      d.steps.push(this.step(d.id, base + 1, 'switch', `switch traffic to ${d.previousVersion ?? 'nothing'}`, 'rollback'));
      d.currentStep = base;
      d.message = step.output.error as string;
      this.phase(d, 'rolling_back');
      return;
    }
    step.status = 'succeeded';
    this.emit(d.id, 'step.succeeded', { idx: step.idx, title: step.title });
    d.currentStep += 1;
    if (d.currentStep < d.steps.length) return;
    if (d.phase === 'rolling_back') {
      this.end(d, 'rolled_back', d.message);
    } else {
      this.setStable(d.service, d.environment, d.version);
      this.end(d, 'succeeded', null);
    }
  }

  /** Ends a deployment as the engine would (e.g. `superseded` by a newer one), for output tests. */
  finish(id: string, phase: DeploymentPhase, extra: { message?: string; supersededBy?: string } = {}): void {
    const d = this.find(id);
    d.supersededBy = extra.supersededBy ?? null;
    this.end(d, phase, extra.message ?? null);
  }

  private create(service: string, environment: string, kind: 'deploy' | 'rollback', version: string, image: string | null, actor: string, reason: string | null): DeploymentView {
    const pair = this.pair(service, environment);
    this.seq += 1;
    const id = `dep_${String(this.seq).padStart(4, '0')}`;
    const busy = this.deployments.some((d) => d.service === service && d.environment === environment && !FINAL_PHASES.includes(d.phase));
    const now = this.now();
    const d: DeploymentView = {
      id, seq: this.seq, service, environment, kind, version, image, phase: busy ? 'queued' : 'running', actor, reason,
      previousVersion: pair.stable, currentStep: 0, planHash: `hash-${version}`, abortRequested: false, promoteRequested: false, expedited: false, requestedImage: null, commitTime: null, message: null, supersededBy: null,
      leaseOwner: null, leaseExpiresAt: null, createdAt: now, startedAt: busy ? null : now, finishedAt: null,
      steps: this.steps(version, pair.stable).map((s, idx) => this.step(id, idx, s.type, s.title, 'deploy')),
      step: null,
      verdicts: [],
      gates: [],
    };
    this.deployments.push(d);
    this.emit(id, 'deployment.created', { service, environment, version, actor });
    return structuredClone(d);
  }

  private steps(version: string, previous: string | null) {
    return PLAN.filter((s) => previous || s.type !== 'stop')
      .map((s) => ({ type: s.type, title: s.title.replace('{v}', version).replace('{prev}', previous ?? '') }));
  }

  private step(deploymentId: string, idx: number, type: string, title: string, stage: 'deploy' | 'rollback'): StepRecord {
    return { deploymentId, idx, type, title, params: {}, status: 'pending', stage, startedAt: null, finishedAt: null, output: null, attempts: 0 };
  }

  private end(d: DeploymentView, phase: DeploymentPhase, message: string | null): void {
    d.message = message;
    d.finishedAt = this.now();
    d.step = null;
    this.phase(d, phase);
  }

  private phase(d: DeploymentView, phase: DeploymentPhase): void {
    d.phase = phase;
    this.emit(d.id, 'deployment.phase', { phase });
  }

  private find(id: string): DeploymentView {
    const d = this.deployments.find((x) => x.id === id);
    if (!d) throw new NotFoundError(`deployment ${id} not found`, 'list deployments with `gangway history`');
    return d;
  }

  private check(service: string, environment: string): void {
    const envs = this.options.services[service];
    if (!envs) throw this.unknownService(service);
    if (!envs.includes(environment)) {
      throw new NotFoundError(`environment "${environment}" is not defined for service ${service}`, `environments: ${envs.join(', ')}`);
    }
  }

  private unknownService(service: string): NotFoundError {
    return new NotFoundError(`service "${service}" is not defined in gangway.yaml`, `services: ${Object.keys(this.options.services).join(', ')}`);
  }

  private pair(service: string, environment: string): Pair {
    const key = `${service}/${environment}`;
    let pair = this.pairs.get(key);
    if (!pair) this.pairs.set(key, pair = { stable: null, previous: null });
    return pair;
  }

  private now(): number {
    this.clock += 1000;
    return this.clock;
  }
}
