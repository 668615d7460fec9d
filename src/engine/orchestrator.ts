/**
 * The orchestrator facade: validates requests, plans them and queues them for the runner.
 * A request that cannot be carried out throws before anything is written.
 */
import { randomUUID } from 'node:crypto';
import type { GangwayConfig, ServiceEnvConfig } from '../config/types.js';
import { GangwayError, NotFoundError } from '../errors.js';
import type { DeploymentRecord, EventFilter, EventRecord, GateResultRecord, NewDeployment, NewGateResult, Store, VerdictRecord } from '../store/types.js';
import { GateSet, refusing } from '../gates/gate-set.js';
import { freezeHint } from '../gates/freeze.js';
import type { GateRequest, GateResult } from '../gates/types.js';
import { PromotionGate, ReasonGate, RejectedGate } from '../gates/basic.js';
import { ChecksGate } from '../gates/checks.js';
import type { GateRuntime } from './steps/context.js';
import { step } from '../strategies/strategy.js';
import { ACTIVE_PHASES, FINAL_PHASES } from '../store/types.js';
import type { ReleaseRef, Target, TargetInstance } from '../targets/target.js';
import { previewOf, previewFrom } from '../targets/preview.js';
import type { RequestWindowSource } from '../metrics/provider.js';
import { bucketQuantile } from '../core/histogram.js';
import { systemClock, type Clock } from './clock.js';
import { planDeployment, planHash, planSwitchBack, withMigrations } from './plan.js';
import { servingRelease } from './serving.js';
import type { PlanStep } from './steps/types.js';
import type {
  DeployRequest, DeploymentView, EventContext, GateState, HistoryFilter, LiveLimits, OrchestratorApi, PlanView, RollbackRequest, StatusEntry, TimelineView,
} from './types.js';
import { didYouMean as closest } from '../config/problems.js';
import { assertVersion, releaseOf } from './release.js';
import { autoDeployStatusOf } from '../autodeploy/status.js';

export interface OrchestratorOptions {
  store: Store;
  config: GangwayConfig;
  /** Where releases run: instances, traffic, preview and logs for `status` and `logs` come from it too. */
  target: Target;
  clock?: Clock;
  /** Called after a request changed what the runner should do. */
  onChange?: () => void;
  /** Raw request windows per release, for the live figures of `status`. */
  requests?: RequestWindowSource | null;
  /** The gates; default: those that need only the store and config (promotion, reason, rejected, checks). */
  gates?: GateSet;
  /** Pins an image tag to a digest when a deployment is requested (null: keep it as given); absent: images are kept as given. */
  images?: { pin(image: string, environment: string): Promise<{ pinned: string; tag: string | null } | null> } | null;
}

export class Orchestrator implements OrchestratorApi {
  private readonly store: Store;
  private readonly config: GangwayConfig;
  private readonly target: Target;
  private readonly clock: Clock;
  private readonly onChange: () => void;
  private readonly requests: RequestWindowSource | null;
  private readonly gates: GateSet;
  private readonly images: OrchestratorOptions['images'];

  constructor(opts: OrchestratorOptions) {
    this.store = opts.store;
    this.config = opts.config;
    this.target = opts.target;
    this.clock = opts.clock ?? systemClock;
    this.onChange = opts.onChange ?? (() => undefined);
    this.requests = opts.requests ?? null;
    this.gates = opts.gates ?? new GateSet(opts.config, [new PromotionGate(opts.config, opts.store), new ReasonGate(opts.config), new RejectedGate(opts.store), new ChecksGate(opts.config)]);
    this.images = opts.images ?? null;
  }

  async deploy(req: DeployRequest): Promise<DeploymentView> {
    const chosen = await this.chooseRelease(req);
    const { cfg, release, steps, stable, gateReq } = await this.prepare({ ...req, ...chosen });
    const env = this.environment(req.environment);
    if (req.expedited && !env.expedited) {
      throw new GangwayError('invalid_argument', `${env.name} has no expedited policy`, `add environments.${env.name}.expedited: { skip: [...] } to gangway.yaml to allow hotfixes there`);
    }
    if (req.expedited && !gateReq.reason) {
      throw new GangwayError('blocked', 'an expedited deployment needs a reason', 'add --reason "<incident or ticket>"', { gate: 'reason' });
    }
    const active = await this.store.listDeployments({ service: cfg.service, environment: cfg.environment, phases: ['queued', ...ACTIVE_PHASES] });
    if (active.some((d) => d.version === release.version)) {
      throw new GangwayError('conflict', `${cfg.service} ${release.version} is already being deployed to ${cfg.environment}`, 'follow it with `gangway status --watch`');
    }
    if (stable?.version === release.version && active.length === 0) {
      throw new GangwayError('conflict', `${cfg.service} ${release.version} is already the stable release in ${cfg.environment}`,
        'deploy another version, or roll back with `gangway rollback`');
    }
    const { results } = await this.gates.evaluate(gateReq);
    const refused = refusing(results, { waitForWindow: req.waitForWindow === true, expedited: req.expedited === true });
    if (refused.length > 0) {
      await this.store.appendGateResults(results.map((r) => gateRow(null, gateReq, r, this.clock.now())));
      const first = refused[0];
      throw new GangwayError('blocked', refused.map((r) => r.reason).join('; '),
        'hint' in first && first.hint ? first.hint
          : first.gate === 'window' ? 'add --wait-for-window to queue it until the window opens'
            : first.gate === 'freeze' ? freezeHint(this.config, env.name, ((first.evidence.freezes ?? []) as Array<{ id: string }>).map((f) => f.id)) : undefined,
        { gates: results.map(gateState) });
    }
    const id = newDeploymentId();
    const d = await this.create(cfg, 'deploy', release, stable?.version ?? null, this.fullPlan(cfg, id, steps, release), req.actor, gateReq.reason,
      { id, expedited: req.expedited === true, requestedImage: chosen.requestedImage, commitTime: req.commitTime ?? chosen.sourceCommitTime ?? null });
    await this.store.appendGateResults(results.map((r) => gateRow(d.id, gateReq, r, this.clock.now())));
    return this.getDeployment(d.id);
  }

  async plan(req: DeployRequest): Promise<PlanView> {
    const chosen = await this.chooseRelease(req);
    const { cfg, release, steps, stable, gateReq } = await this.prepare({ ...req, ...chosen });
    const ahead = await this.store.listDeployments({ service: cfg.service, environment: cfg.environment, phases: ['queued', ...ACTIVE_PHASES] });
    const { results, skipped } = await this.gates.evaluate(gateReq);
    const plan = this.fullPlan(cfg, '<deployment id>', steps, release);
    return {
      service: cfg.service,
      environment: cfg.environment,
      version: release.version,
      strategy: cfg.strategy.kind,
      stableVersion: stable?.version ?? null,
      steps: plan.map((s, idx) => ({ idx, type: s.type, title: s.title, params: s.params as unknown as Record<string, unknown> })),
      queuedBehind: ahead.length,
      gates: results.map(gateState),
      skippedGates: skipped,
      preview: await previewOf(this.target, cfg),
    };
  }

  /**
   * Everything `deploy` checks and plans for one service, writing nothing: the deployment to
   * create (with `id`) and its gate results, or `unchanged` when the service already runs the
   * release. Throws as `deploy` does for a bad request or a conflict. Release groups use it to
   * check every member before any is created.
   */
  async prepareDeployment(req: Omit<DeployRequest, 'commitTime'> & { id: string; commitTime?: number | null }): Promise<
    { unchanged: true } | { unchanged: false; deployment: NewDeployment; gates: GateResult[]; refused: GateResult[]; gateRows: NewGateResult[] }> {
    const { cfg, release, steps, stable, gateReq } = await this.prepare({ ...req, commitTime: req.commitTime ?? undefined });
    const active = await this.store.listDeployments({ service: cfg.service, environment: cfg.environment, phases: ['queued', ...ACTIVE_PHASES] });
    if (active.some((d) => d.version === release.version)) {
      throw new GangwayError('conflict', `${cfg.service} ${release.version} is already being deployed to ${cfg.environment}`, 'follow it with `gangway status --watch`');
    }
    if (stable?.version === release.version && active.length === 0) return { unchanged: true };
    const { results } = await this.gates.evaluate(gateReq);
    const refused = refusing(results, { waitForWindow: false, expedited: false });
    const plan = this.fullPlan(cfg, req.id, steps, release);
    const deployment: NewDeployment = {
      id: req.id, service: cfg.service, environment: cfg.environment, kind: 'deploy', version: release.version, image: release.image,
      actor: req.actor, reason: gateReq.reason, previousVersion: stable?.version ?? null, planHash: planHash(plan), createdAt: this.clock.now(),
      commitTime: req.commitTime ?? null,
      steps: plan.map((s) => ({ type: s.type, title: s.title, params: s.params as unknown as Record<string, unknown> })),
    };
    return { unchanged: false, deployment, gates: results, refused, gateRows: results.map((r) => gateRow(null, gateReq, r, this.clock.now())) };
  }

  /**
   * Rolls a release group's member back to the release it replaced, as a rollback deployment
   * with the given id in the group (no gate holds a rollback back). Throws `conflict` when that
   * rollback exists already.
   */
  async rollbackMember(member: DeploymentRecord, rollbackId: string, groupId: string, actor: string): Promise<DeploymentView> {
    const cfg = this.serviceEnv(member.service, member.environment);
    const to = member.previousVersion;
    if (!to) throw new GangwayError('conflict', `${member.service} had no release before ${member.version} in ${member.environment}`);
    const [earlier] = (await this.store.listDeployments({ service: cfg.service, environment: cfg.environment, phases: ['succeeded'], newestFirst: true }))
      .filter((d) => d.version === to);
    const release = { version: to, image: earlier?.image ?? null };
    const steps = planSwitchBack(cfg, release, this.target.capabilities(cfg));
    const state = await this.store.getServiceState(cfg.service, cfg.environment);
    const d = await this.store.createDeployment({
      id: rollbackId, groupId, service: cfg.service, environment: cfg.environment, kind: 'rollback', version: release.version, image: release.image,
      actor, reason: `release ${groupId} failed`, previousVersion: state?.stableVersion ?? member.version, planHash: planHash(steps), createdAt: this.clock.now(),
      steps: steps.map((s) => ({ type: s.type, title: s.title, params: s.params as unknown as Record<string, unknown> })),
    });
    this.onChange();
    return this.view(d);
  }

  /** Gate evaluation for the runner's gates step. */
  gateRuntime(): GateRuntime {
    return {
      evaluate: async (deploymentId) => {
        const d = await this.mustGet(deploymentId);
        // A release group's gates were checked for every member when it was requested; time
        // gates (windows) keep that moment, so a group never half-ships because a window closed halfway.
        const group = d.groupId ? await this.store.getReleaseGroup(d.groupId) : undefined;
        return (await this.gates.evaluate(gateRequestOf(d, group ? group.createdAt : this.clock.now()))).results;
      },
      record: async (deploymentId, results) => {
        const d = await this.mustGet(deploymentId);
        const req = gateRequestOf(d, this.clock.now());
        await this.store.appendGateResults(results.map((r) => gateRow(deploymentId, req, r, req.now)));
      },
    };
  }

  /**
   * The release a request names; with neither version nor image, the release that most
   * recently succeeded in the environment's promotion source (and was not rejected there).
   */
  private async chooseRelease(req: DeployRequest): Promise<{ version?: string; image?: string; requestedImage: string | null; sourceCommitTime?: number | null }> {
    if (req.version !== undefined || req.image !== undefined) {
      const pinned = req.image !== undefined && this.images ? await this.images.pin(req.image, req.environment) : null;
      if (!pinned) return { version: req.version, image: req.image, requestedImage: req.image ?? null };
      return { version: req.version ?? pinned.tag ?? undefined, image: pinned.pinned, requestedImage: req.image ?? null };
    }
    const env = this.environment(req.environment);
    this.service(req.service);
    if (!env.promotion) {
      throw new GangwayError('invalid_argument', 'a release needs --version or --image', `${env.name} is not promoted from another environment, so there is no release to pick`);
    }
    const from = env.promotion.from;
    const rejected = new Set((await this.store.listRejections({ service: req.service, environment: from })).map((r) => r.version));
    const [latest] = (await this.store.listDeployments({ service: req.service, environment: from, phases: ['succeeded'], newestFirst: true }))
      .filter((d) => !rejected.has(d.version));
    if (!latest) {
      throw new GangwayError('blocked', `${req.service} has no release that succeeded in ${from} to promote to ${env.name}`,
        `deploy one to ${from} first`, { gate: 'promotion', from });
    }
    // A promoted release keeps its commit time, so its lead time runs from the commit to each environment.
    return { version: latest.version, image: latest.image ?? undefined, requestedImage: latest.requestedImage, sourceCommitTime: latest.commitTime };
  }

  async rollback(req: RollbackRequest): Promise<DeploymentView> {
    const cfg = this.serviceEnv(req.service, req.environment);
    if (req.to !== undefined) assertVersion(req.to, 'to');
    // A rollback passes no gate (no freeze or window may hold it back), but it is a change like
    // any other: where every deployment needs a reason, so does a rollback.
    if (this.environment(req.environment).reason === 'required' && !req.reason?.trim()) {
      throw new GangwayError('invalid_argument', `${req.environment} requires a reason for every deployment, rollbacks too`,
        `add --reason "<incident or why>": gangway rollback ${cfg.service} --env ${cfg.environment} --reason "..."`, { gate: 'reason' });
    }
    const [active] = await this.store.listDeployments({ service: cfg.service, environment: cfg.environment, phases: [...ACTIVE_PHASES] });
    if (active) {
      if (req.to !== undefined && req.to !== active.previousVersion) {
        throw new GangwayError('conflict', `deployment ${active.id} of ${active.version} is in progress in ${cfg.environment}`,
          `roll it back with \`gangway rollback ${cfg.service} --env ${cfg.environment}\` (without --to), then roll back further`);
      }
      return this.requestAbort(active, req.actor);
    }
    const state = await this.store.getServiceState(cfg.service, cfg.environment);
    if (!state?.stableVersion) {
      throw new GangwayError('conflict', `${cfg.service} has never been deployed to ${cfg.environment}: nothing to roll back`);
    }
    const to = req.to ?? state.previousVersion;
    if (!to) {
      throw new GangwayError('conflict', `${cfg.service} in ${cfg.environment} has no previous release to roll back to`, 'name one with --to <version>');
    }
    if (to === state.stableVersion) {
      throw new GangwayError('conflict', `${cfg.service} ${to} is already the stable release in ${cfg.environment}`);
    }
    const [earlier] = await this.store.listDeployments({ service: cfg.service, environment: cfg.environment, phases: ['succeeded'], newestFirst: true })
      .then((list) => list.filter((d) => d.version === to));
    if (!earlier) {
      throw new NotFoundError(`${cfg.service} ${to} never succeeded in ${cfg.environment}`, 'roll back to a release that ran there; `gangway history` lists them');
    }
    const release = { version: to, image: earlier.image };
    return this.create(cfg, 'rollback', release, state.stableVersion, planSwitchBack(cfg, release, this.target.capabilities(cfg)), req.actor, req.reason?.trim() || null);
  }

  async abort(id: string, actor: string): Promise<DeploymentView> {
    const d = await this.store.getDeployment(id);
    if (!d) throw new NotFoundError(`deployment ${id} not found`, 'list deployments with `gangway history`');
    return this.requestAbort(d, actor);
  }

  async promote(id: string, actor: string): Promise<DeploymentView> {
    const d = await this.mustGet(id);
    if (FINAL_PHASES.includes(d.phase) || d.phase === 'queued' || d.phase === 'rolling_back') {
      throw new GangwayError('conflict', `deployment ${d.id} is ${d.phase}: there is nothing to promote`);
    }
    const steps = await this.store.getSteps(d.id);
    const current = steps[d.currentStep];
    if (d.phase !== 'paused' && current?.type !== 'pause') {
      throw new GangwayError('conflict', `deployment ${d.id} is not paused (it is running "${current?.title ?? 'its last step'}")`,
        'promote continues a paused rollout or ends a pause step early');
    }
    if (!d.promoteRequested) {
      await this.store.transition({
        deploymentId: d.id, deployment: { promoteRequested: true },
        events: [{ deploymentId: d.id, at: this.clock.now(), type: 'deployment.promote_requested', data: { actor, step: current?.title ?? null } }],
      });
    }
    this.onChange();
    return this.getDeployment(d.id);
  }

  async retry(id: string, actor: string): Promise<DeploymentView> {
    const d = await this.mustGet(id);
    if (!['failed', 'rolled_back', 'aborted'].includes(d.phase)) {
      throw new GangwayError('conflict', `deployment ${d.id} is ${d.phase}: only a failed, rolled back or aborted deployment can be retried`);
    }
    const cfg = this.serviceEnv(d.service, d.environment);
    const state = await this.store.getServiceState(cfg.service, cfg.environment);
    const stable = state?.stableVersion ? { version: state.stableVersion, image: state.stableImage } : null;
    if (stable?.version === d.version) {
      throw new GangwayError('conflict', `${cfg.service} ${d.version} is already the stable release in ${cfg.environment}`);
    }
    const release = { version: d.version, image: d.image };
    const newId = newDeploymentId();
    const steps = d.kind === 'rollback' ? planSwitchBack(cfg, release, this.target.capabilities(cfg))
      : this.fullPlan(cfg, newId, planDeployment({ cfg, release, stable, capabilities: this.target.capabilities(cfg), templateInterval: this.templateInterval }), release);
    const [rejection] = await this.store.listRejections({ service: d.service, environment: d.environment, version: d.version });
    // The override is on record before the retry exists, so its gates see it from the first look.
    if (rejection) {
      await this.store.appendEvents([{ deploymentId: rejection.deploymentId, at: this.clock.now(), type: 'release.override', data: { actor, retry: newId, version: d.version } }]);
    }
    const created = await this.create(cfg, d.kind, release, stable?.version ?? null, steps, actor, d.reason, { id: newId, commitTime: d.commitTime });
    await this.store.appendEvents([{ deploymentId: created.id, at: this.clock.now(), type: 'deployment.retry', data: { of: d.id, actor, overridesRejection: Boolean(rejection) } }]);
    return this.getDeployment(created.id);
  }

  async verdicts(id: string, q: { afterId?: number; limit?: number }) {
    await this.mustGet(id);
    return this.store.listVerdicts({ deploymentId: id, afterId: q.afterId, limit: q.limit ?? 1000 });
  }

  async samples(id: string, q: { since?: number; limit?: number }) {
    const d = await this.mustGet(id);
    const samples = await this.store.listReleaseSamples({ deploymentId: id, since: q.since, limit: q.limit ?? 10_000 });
    return d.finishedAt === null ? samples : ownSamples(samples, d.finishedAt);
  }

  async timeline(q: { service: string; environment: string; since?: number }): Promise<TimelineView> {
    this.service(q.service);
    this.environment(q.environment);
    const until = this.clock.now();
    const since = Math.min(q.since ?? until - 3_600_000, until);
    const pair = { service: q.service, environment: q.environment };
    const inWindow = (from: number, to: number | null) => from <= until && (to === null || to >= since);
    const all = await this.store.listDeployments({ ...pair, newestFirst: true, limit: 1000 });
    const deployments = all.filter((d) => inWindow(d.createdAt, d.finishedAt)).reverse();
    const freezes = (await this.store.listFreezes({ all: true }))
      .filter((f) => (f.service === null || f.service === q.service) && (f.environment === null || f.environment === q.environment) && inWindow(f.createdAt, f.liftedAt))
      .sort((a, b) => a.createdAt - b.createdAt);
    const state = await this.store.getServiceState(q.service, q.environment);
    // Serving samples (between deployments) are stored under the deployment that made the stable
    // release: the window's own deployments, the one that made the stable at its start (the last to
    // succeed before it), and the one that made the stable now.
    const ids = new Set(deployments.map((d) => d.id));
    const stableAtStart = all.find((d) => d.phase === 'succeeded' && d.finishedAt !== null && d.finishedAt < since);
    if (stableAtStart) ids.add(stableAtStart.id);
    if (state?.deploymentId) ids.add(state.deploymentId);
    const samples = (await Promise.all([...ids].map((id) => this.store.listReleaseSamples({ deploymentId: id, since, limit: 10_000 })))).flat()
      .sort((a, b) => a.at - b.at || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
    return {
      ...pair, since, until, stableVersion: state?.stableVersion ?? null,
      deployments: deployments.map((d) => ({
        id: d.id, kind: d.kind, version: d.version, previousVersion: d.previousVersion, phase: d.phase, actor: d.actor,
        createdAt: d.createdAt, startedAt: d.startedAt, finishedAt: d.finishedAt, supersededBy: d.supersededBy,
      })),
      freezes: freezes.map((f) => ({
        id: f.id, source: f.source, alertFingerprint: f.alertFingerprint, reason: f.reason, owner: f.owner,
        service: f.service, environment: f.environment, createdAt: f.createdAt, liftedAt: f.liftedAt,
      })),
      samples,
    };
  }

  private async mustGet(id: string): Promise<DeploymentRecord> {
    const d = await this.store.getDeployment(id);
    if (!d) throw new NotFoundError(`deployment ${id} not found`, 'list deployments with `gangway history`');
    return d;
  }

  /** The gates step, the service's migrations (backup, migrate, validate), its Jobs before the rollout, then the strategy's steps. */
  private fullPlan(cfg: ServiceEnvConfig, deploymentId: string, steps: PlanStep[], release: ReleaseRef): PlanStep[] {
    const gateNames = this.gates.names(cfg.environment);
    return [
      ...(gateNames.length > 0 ? [step({ type: 'gates', gates: gateNames })] : []),
      ...withMigrations(cfg, deploymentId, steps, release),
    ];
  }

  private readonly templateInterval = (name: string) => this.config.analysisTemplates[name]?.intervalMs ?? 30_000;

  async getDeployment(id: string): Promise<DeploymentView> {
    const d = await this.store.getDeployment(id);
    if (!d) throw new NotFoundError(`deployment ${id} not found`, 'list deployments with `gangway history`');
    return this.view(d);
  }

  async history(filter: HistoryFilter): Promise<DeploymentView[]> {
    if (filter.service) this.service(filter.service);
    if (filter.environment) this.environment(filter.environment);
    const list = await this.store.listDeployments({ service: filter.service, environment: filter.environment, newestFirst: true, limit: filter.limit ?? 50 });
    return Promise.all(list.map((d) => this.view(d)));
  }

  async status(filter: { service?: string; environment?: string }): Promise<StatusEntry[]> {
    if (filter.service) this.service(filter.service);
    if (filter.environment) this.environment(filter.environment);
    const states = new Map((await this.store.listServiceStates()).map((s) => [`${s.service}\u0000${s.environment}`, s]));
    const out: StatusEntry[] = [];
    for (const service of this.config.serviceNames) {
      if (filter.service && filter.service !== service) continue;
      for (const env of this.config.environments) {
        if (filter.environment && filter.environment !== env.name) continue;
        const cfg = this.config.services[service][env.name];
        const [latest] = await this.store.listDeployments({ service, environment: env.name, newestFirst: true, limit: 1 });
        const queued = await this.store.listDeployments({ service, environment: env.name, phases: ['queued'] });
        let step: string | null = null;
        if (latest && !FINAL_PHASES.includes(latest.phase)) {
          const steps = await this.store.getSteps(latest.id);
          step = steps[latest.currentStep]?.title ?? null;
        }
        // A target that cannot be asked now (the local agent is down) shows nothing running.
        const instances = await this.target.instances(cfg).catch(() => []);
        const traffic = await this.target.traffic(cfg).catch(() => null);
        const platform = this.target.platformStatus
          ? await this.target.platformStatus(cfg).catch((err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }))
          : null;
        out.push({
          service,
          environment: env.name,
          version: states.get(`${service}\u0000${env.name}`)?.stableVersion ?? null,
          deployment: latest ? { id: latest.id, phase: latest.phase, step, ...(latest.groupId ? { group: latest.groupId } : {}) } : null,
          queued: queued.length,
          // The public port is the local target's; other targets have none of their own.
          port: cfg.target.kind === 'local' ? cfg.target.port : null,
          instances: instances.map(instanceView),
          traffic: trafficPercent(traffic?.versions ?? []),
          analysis: latest ? latestPerRule(await this.store.listVerdicts({ deploymentId: latest.id })) : [],
          releases: await this.liveFigures(service, env.name, [...new Set([...(traffic?.versions ?? []).map((v) => v.version), ...instances.map((i) => i.version)])]),
          limits: liveLimits(this.config, cfg),
          preview: previewFrom(cfg, traffic),
          platform,
          autoDeploy: await autoDeployStatusOf(this.config, this.store, service, env.name),
        });
      }
    }
    return out;
  }

  async logs(q: { service: string; environment: string; version?: string; lines?: number }) {
    const cfg = this.serviceEnv(q.service, q.environment);
    return this.target.logs(cfg, { version: q.version, lines: q.lines ?? 100 });
  }

  async events(q: EventFilter & { context?: boolean }): Promise<Array<EventRecord & Partial<EventContext>>> {
    const { context, ...filter } = q;
    const events = await this.store.listEvents(filter);
    if (!context) return events;
    const deployments = new Map<string, DeploymentRecord | undefined>();
    for (const id of new Set(events.map((e) => e.deploymentId).filter((x): x is string => x !== null))) deployments.set(id, await this.store.getDeployment(id));
    const text = (v: unknown) => (typeof v === 'string' ? v : null);
    return events.map((e) => {
      const d = e.deploymentId ? deployments.get(e.deploymentId) : undefined;
      return {
        ...e,
        service: d?.service ?? text(e.data.service),
        environment: d?.environment ?? text(e.data.environment),
        actor: text(e.data.actor) ?? text(e.data.by) ?? text(e.data.user) ?? d?.actor ?? null,
      };
    });
  }

  // --- helpers -------------------------------------------------------------

  /** Requests, error rate and p95 of each release over the last minute. */
  private async liveFigures(service: string, environment: string, versions: string[]): Promise<StatusEntry['releases']> {
    if (!this.requests) return [];
    const now = this.clock.now();
    const out: StatusEntry['releases'] = [];
    for (const version of versions) {
      const w = await this.requests.requestWindow({ service, environment, version, windowMs: 60_000, now });
      if ('phase' in w) continue;
      out.push({
        version,
        requests: w.total,
        errorRate: w.total > 0 ? w.errors / w.total : null,
        p95Seconds: w.total > 0 ? bucketQuantile(0.95, w.bounds, w.buckets) : null,
      });
    }
    return out;
  }

  private async prepare(req: DeployRequest) {
    const cfg = this.serviceEnv(req.service, req.environment);
    const release = releaseOf(req);
    const state = await this.store.getServiceState(cfg.service, cfg.environment);
    const stable = state?.stableVersion ? { version: state.stableVersion, image: state.stableImage } : null;
    // A preview of the plan as it would run now; the runner makes it again when the deployment starts.
    const serving = await servingRelease(this.store, this.target, cfg, stable);
    const steps = planDeployment({ cfg, release, stable, serving, capabilities: this.target.capabilities(cfg), templateInterval: this.templateInterval });
    const gateReq: GateRequest = {
      service: cfg.service, environment: cfg.environment, version: release.version, image: release.image, actor: req.actor,
      reason: req.reason?.trim() || null, expedited: req.expedited === true, deploymentId: null, now: this.clock.now(),
    };
    return { cfg, release, steps, stable, gateReq };
  }

  private async create(cfg: ServiceEnvConfig, kind: 'deploy' | 'rollback', release: { version: string; image: string | null },
    previousVersion: string | null, steps: PlanStep[], actor: string, reason: string | null,
    extra: { id?: string; expedited?: boolean; requestedImage?: string | null; commitTime?: number | null } = {}): Promise<DeploymentView> {
    const d = await this.store.createDeployment({
      expedited: extra.expedited,
      requestedImage: extra.requestedImage,
      commitTime: extra.commitTime,
      id: extra.id ?? newDeploymentId(),
      service: cfg.service,
      environment: cfg.environment,
      kind,
      version: release.version,
      image: release.image,
      actor,
      reason,
      previousVersion,
      planHash: planHash(steps),
      createdAt: this.clock.now(),
      steps: steps.map((s) => ({ type: s.type, title: s.title, params: s.params as unknown as Record<string, unknown> })),
    });
    this.onChange();
    return this.view(d);
  }

  private async requestAbort(d: DeploymentRecord, actor: string): Promise<DeploymentView> {
    const at = this.clock.now();
    if (FINAL_PHASES.includes(d.phase)) {
      throw new GangwayError('conflict', `deployment ${d.id} already ended (${d.phase})`, 'roll back with `gangway rollback` instead');
    }
    if (d.phase === 'queued') {
      await this.store.transition({
        deploymentId: d.id,
        deployment: { phase: 'aborted', abortRequested: true, finishedAt: at, message: `aborted by ${actor} before it started` },
        events: [{ deploymentId: d.id, at, type: 'deployment.phase', data: { from: 'queued', to: 'aborted', actor } }],
      });
    } else if (!d.abortRequested) {
      await this.store.transition({
        deploymentId: d.id,
        deployment: { abortRequested: true },
        events: [{ deploymentId: d.id, at, type: 'deployment.abort_requested', data: { actor } }],
      });
    }
    this.onChange();
    return this.getDeployment(d.id);
  }

  private async view(d: DeploymentRecord): Promise<DeploymentView> {
    const steps = await this.store.getSteps(d.id);
    const current = FINAL_PHASES.includes(d.phase) ? null : steps[d.currentStep]?.title ?? null;
    const gates = new Map<string, GateResultRecord>();
    for (const g of await this.store.listGateResults({ deploymentId: d.id })) gates.set(g.gate, g);
    return { ...d, steps, step: current, verdicts: summarizeVerdicts(await this.store.listVerdicts({ deploymentId: d.id })), gates: [...gates.values()] };
  }

  private service(name: string) {
    const svc = this.config.services[name];
    if (!svc) {
      const near = closest(name, this.config.serviceNames);
      throw new NotFoundError(`unknown service "${name}"`, near ? `did you mean "${near}"?` : `services in ${this.config.file}: ${this.config.serviceNames.join(', ')}`);
    }
    return svc;
  }

  private environment(name: string) {
    const env = this.config.environments.find((e) => e.name === name);
    if (!env) {
      const names = this.config.environments.map((e) => e.name);
      const near = closest(name, names);
      throw new NotFoundError(`unknown environment "${name}"`, near ? `did you mean "${near}"?` : `environments in ${this.config.file}: ${names.join(', ')}`);
    }
    return env;
  }

  private serviceEnv(service: string, environment: string): ServiceEnvConfig {
    const svc = this.service(service);
    this.environment(environment);
    return svc[environment];
  }
}


/** The lowest threshold `max` on the builtin error rate and p95 among the analysis templates a pair uses (background and canary steps). */
export function liveLimits(config: GangwayConfig, cfg: ServiceEnvConfig): LiveLimits {
  const names = new Set<string>();
  if (cfg.analysis) names.add(cfg.analysis);
  if (cfg.strategy.kind === 'canary') for (const s of cfg.strategy.steps) if (s.kind === 'analysis') names.add(s.template);
  const limits: LiveLimits = { errorRate: null, p95Seconds: null };
  for (const name of names) {
    for (const rule of config.analysisTemplates[name]?.rules ?? []) {
      if (rule.kind !== 'threshold' || rule.metric.kind !== 'builtin' || rule.max === null) continue;
      const key = rule.metric.metric === 'error_rate' ? 'errorRate' : rule.metric.metric === 'p95_latency' ? 'p95Seconds' : null;
      if (key && (limits[key] === null || rule.max < limits[key].max)) limits[key] = { max: rule.max, rule: `${name}/${rule.name}` };
    }
  }
  return limits;
}

/** An instance as `status` shows it: `port` for a local process (null elsewhere), other placement in `detail`. */
function instanceView(i: TargetInstance): StatusEntry['instances'][number] {
  const { port, ...rest } = i.detail ?? {};
  return {
    id: i.id, version: i.version, port: typeof port === 'number' ? port : null, state: i.state, restarts: i.restarts, consecutiveFailures: i.consecutiveFailures,
    ...(Object.keys(rest).length > 0 ? { detail: rest } : {}),
    ...(i.failure ? { failure: i.failure } : {}),
  };
}

function latestPerRule(all: VerdictRecord[]): StatusEntry['analysis'] {
  const latest = new Map<string, VerdictRecord>();
  for (const v of all) latest.set(`${v.template}\u0000${v.rule}`, v);
  return [...latest.values()].map((v) => ({ template: v.template, rule: v.rule, verdict: v.verdict, reason: v.reason, at: v.at }));
}

/** The latest verdict of each rule (per analysis step and background) plus every fail verdict, oldest first. */
export function summarizeVerdicts(all: VerdictRecord[]): VerdictRecord[] {
  const latest = new Map<string, VerdictRecord>();
  for (const v of all) latest.set(`${v.stepIdx ?? 'bg'}\u0000${v.template}\u0000${v.rule}`, v);
  const keep = new Set([...latest.values(), ...all.filter((v) => v.verdict === 'fail')]);
  return all.filter((v) => keep.has(v));
}

/**
 * The agent's relative weights (a rolling update weighs by instance count: 2 and 1) as the
 * percentages the status read model reports (67 and 33): whole numbers summing to 100, the
 * remainder going to the largest fractions.
 */
export function trafficPercent(versions: ReadonlyArray<{ version: string; weight: number }>): Array<{ version: string; weight: number }> {
  const total = versions.reduce((sum, v) => sum + Math.max(0, v.weight), 0);
  if (total <= 0) return versions.map((v) => ({ version: v.version, weight: 0 }));
  const exact = versions.map((v) => (Math.max(0, v.weight) * 100) / total);
  const out = exact.map(Math.floor);
  let left = 100 - out.reduce((a, b) => a + b, 0);
  for (const i of exact.map((x, i) => i).sort((a, b) => (exact[b] - out[b]) - (exact[a] - out[a]))) {
    if (left-- <= 0) break;
    out[i]++;
  }
  return versions.map((v, i) => ({ version: v.version, weight: out[i] }));
}

function gateState(r: GateResult): GateState {
  return { gate: r.gate, result: r.result, reason: r.reason, until: r.result === 'wait' ? r.until : null, ...(r.result === 'fail' && r.hint ? { hint: r.hint } : {}) };
}

function gateRow(deploymentId: string | null, req: GateRequest, r: GateResult, at: number): NewGateResult {
  return {
    deploymentId, service: req.service, environment: req.environment, version: req.version, at,
    gate: r.gate, result: r.result, reason: r.reason, until: r.result === 'wait' ? r.until : null, evidence: r.evidence,
  };
}

/** The gate request a stored deployment stands for. */
export function gateRequestOf(d: DeploymentRecord, now: number): GateRequest {
  return {
    // The pinned image: gates check the digest fixed when the deployment was requested.
    service: d.service, environment: d.environment, version: d.version, image: d.image, actor: d.actor,
    reason: d.reason, expedited: d.expedited, deploymentId: d.id, now,
  };
}

/** Sortable, unique deployment ids: `d-<time base36>-<random>`. */
export function newDeploymentId(): string {
  return `d-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
}

/**
 * A finished deployment's own samples: those taken until it ended and the last round after it
 * (the interval that decided it). Later ones are the serving release's, stored under the
 * deployment that made it stable (see ReleaseSampler); the timeline shows those.
 */
export function ownSamples<S extends { at: number }>(samples: S[], finishedAt: number): S[] {
  const after = samples.find((s) => s.at > finishedAt)?.at;
  return samples.filter((s) => s.at <= finishedAt || s.at === after);
}
