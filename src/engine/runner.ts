/**
 * The runner: claims deployments with a lease and drives each through its stored plan, one
 * idempotent step at a time. Every step transition is one store transaction (step row +
 * event row). Progress lives in the store, never only in memory, so a runner that dies at
 * any point is replaced by another (or by itself, restarted) that resumes at the current step.
 */
import type { GangwayConfig, ServiceEnvConfig } from '../config/types.js';
import type { DeploymentPhase, DeploymentRecord, StepRecord, Store, NewEvent, RejectionRecord } from '../store/types.js';
import { ACTIVE_PHASES } from '../store/types.js';
import type { ReleaseRef, Target, Traffic } from '../targets/target.js';
import { GangwayError } from '../errors.js';
import { systemClock, type Clock } from './clock.js';
import { isDeadLocalOwner, newOwnerId } from './lease.js';
import { planDeployment, planHash, planRecovery, withMigrations } from './plan.js';
import { formatMs } from '../strategies/strategy.js';
import { runStep } from './steps/index.js';
import { migrationRollbackStep } from './steps/migrations.js';
import type { StepParams, StepResult } from './steps/types.js';
import type { AnalysisRuntime, GateRuntime } from './steps/context.js';
import { BackgroundAnalysis } from './background-analysis.js';
import { servingRelease } from './serving.js';
import type { Logger } from '../core/logger.js';

const silent: Logger = { info() {}, warn() {}, error() {} };

export interface RunnerOptions {
  store: Store;
  config: GangwayConfig;
  target: Target;
  clock?: Clock;
  logger?: Logger;
  /** Lease lifetime; renewed every third of it. */
  leaseTtlMs?: number;
  /** How often the runner looks for work when nobody wakes it. */
  tickMs?: number;
  /** How long a step retries while its target is unreachable before it fails. Default 60 s. */
  unreachableBudgetMs?: number;
  owner?: string;
  /** Metric sources and verdict storage for analysis; without it, analysis steps fail and no background analysis runs. */
  analysis?: AnalysisRuntime | null;
  /** Gate evaluation for the gates step; without it the gates step passes (engine tests). */
  gates?: GateRuntime | null;
  /** Whether this runner does the work done once across replicas (retiring unrouted releases): the background lease. Default: always. */
  background?: () => boolean;
}

/**
 * Why a running step was interrupted. A user's abort and a failed background analysis are
 * recorded as the step's failure; a background pause waits for a person and runs the step
 * again; stopping and a lost lease leave the step for whoever resumes it.
 */
class Interrupted extends Error {
  constructor(readonly why: 'stopping' | 'lease-lost' | 'user-abort' | 'analysis-fail' | 'analysis-pause' | 'superseded', readonly detail = '') { super(why); }
}

/** What running a step came to: its result, or a post-deploy watch cut short by a newer deployment. */
type Outcome = StepResult | { result: 'superseded'; by: string };

/** Phases in which a runner drives a deployment. */
const DRIVEN: DeploymentPhase[] = ['waiting', 'running', 'paused', 'rolling_back'];

/**
 * How long a step keeps retrying while its target is unreachable (an API server restarting, a
 * network blip), waiting 1 s, 2 s, 4 s … up to 10 s between attempts; past it the step fails.
 */
const DEFAULT_UNREACHABLE_BUDGET_MS = 60_000;
const UNREACHABLE_MAX_DELAY_MS = 10_000;

export class Runner {
  readonly owner: string;
  private readonly store: Store;
  private readonly config: GangwayConfig;
  private readonly target: Target;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly leaseTtlMs: number;
  private readonly tickMs: number;
  private readonly unreachableBudgetMs: number;
  private readonly analysis: AnalysisRuntime | null;
  private readonly gates: GateRuntime | null;
  private readonly driving = new Map<string, { ac: AbortController; done: Promise<void>; step: AbortController | null; failure: string | null }>();
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private lastRetire = 0;
  private readonly background: () => boolean;

  constructor(opts: RunnerOptions) {
    this.background = opts.background ?? (() => true);
    this.store = opts.store;
    this.config = opts.config;
    this.target = opts.target;
    this.clock = opts.clock ?? systemClock;
    this.unreachableBudgetMs = opts.unreachableBudgetMs ?? DEFAULT_UNREACHABLE_BUDGET_MS;
    this.log = opts.logger ?? silent;
    this.leaseTtlMs = opts.leaseTtlMs ?? 15_000;
    this.tickMs = opts.tickMs ?? 250;
    this.owner = opts.owner ?? newOwnerId();
    this.analysis = opts.analysis ?? null;
    this.gates = opts.gates ?? null;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Look for work now (called after a deployment is requested or aborted). */
  wake(): void {
    this.wakeUp?.();
  }

  /** Stops claiming work, interrupts running steps without recording them, releases leases. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    for (const { ac } of this.driving.values()) ac.abort(new Interrupted('stopping'));
    await Promise.allSettled([...this.driving.values()].map((d) => d.done));
    await this.loop;
    this.loop = null;
  }

  /** Deployment ids this runner drives right now. */
  active(): string[] {
    return [...this.driving.keys()];
  }

  /**
   * Fails a deployment this runner drives with `reason`, as a failed background analysis does:
   * the current forward step is interrupted and the rollback begins (an alert tier's `rollback`).
   * Returns false when this runner does not drive it.
   */
  fail(id: string, reason: string): boolean {
    const entry = this.driving.get(id);
    if (!entry) return false;
    entry.failure ??= reason;
    entry.step?.abort(new Interrupted('analysis-fail', entry.failure));
    return true;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.tick();
      } catch (err) {
        this.log.error({ err }, 'runner tick failed');
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.tickMs);
        this.wakeUp = () => { clearTimeout(t); resolve(); };
      });
      this.wakeUp = null;
    }
  }

  /** One pass: start queued deployments whose slot is free, claim unowned active ones, retire unrouted releases. */
  async tick(): Promise<void> {
    const now = this.clock.now();
    const queued = await this.store.listDeployments({ phases: ['queued'] });
    const pairs = new Map<string, DeploymentRecord>();
    for (const d of queued) if (!pairs.has(pairKey(d))) pairs.set(pairKey(d), d);
    for (const d of pairs.values()) {
      const started = await this.store.startNextQueued(d.service, d.environment, now);
      if (started) this.log.info({ deployment: started.id }, 'deployment started');
    }

    const active = await this.store.listDeployments({ phases: DRIVEN });
    for (const d of active) {
      if (this.stopping || this.driving.has(d.id)) continue;
      if (d.leaseOwner && d.leaseOwner !== this.owner && d.leaseExpiresAt !== null && d.leaseExpiresAt >= now
        && !isDeadLocalOwner(d.leaseOwner, this.owner)) continue;
      const dead = d.leaseOwner && isDeadLocalOwner(d.leaseOwner, this.owner) ? [d.leaseOwner] : [];
      const claimed = await this.store.claimLease(d.id, this.owner, now, this.leaseTtlMs, dead);
      if (claimed) this.drive(claimed);
    }

    if (now - this.lastRetire >= 1000 && !this.stopping && this.background()) {
      this.lastRetire = now;
      await this.retireUnrouted(now);
    }
  }

  private drive(d: DeploymentRecord): void {
    const ac = new AbortController();
    const every = Math.max(100, Math.floor(this.leaseTtlMs / 3));
    // A runner that cannot renew its lease (the database unreachable, a renewal hanging) lets
    // go shortly before the lease may have expired, timed from the last renewal the store
    // confirmed (on the process's monotonic clock): another runner may take the deployment
    // then, and two must never drive it at once.
    const letGoAfter = this.leaseTtlMs - Math.min(Math.floor(every / 2), 2000);
    const letGo = () => {
      this.log.warn({ deployment: d.id }, 'lease could not be renewed before it expires; letting the deployment go until the store answers');
      ac.abort(new Interrupted('lease-lost'));
    };
    let confirmedAt = performance.now();
    let expiry = setTimeout(letGo, letGoAfter);
    const renew = setInterval(() => {
      const sent = performance.now();
      this.store.renewLease(d.id, this.owner, this.clock.now(), this.leaseTtlMs).then((ok) => {
        if (!ok) { ac.abort(new Interrupted('lease-lost')); return; }
        if (sent <= confirmedAt || ac.signal.aborted) return;
        confirmedAt = sent;
        clearTimeout(expiry);
        expiry = setTimeout(letGo, Math.max(0, sent + letGoAfter - performance.now()));
      }, (err: unknown) => this.log.warn({ err, deployment: d.id }, 'lease renewal failed'));
    }, every);
    const entry: { ac: AbortController; done: Promise<void>; step: AbortController | null; failure: string | null } = { ac, done: Promise.resolve(), step: null, failure: null };
    const background = this.startBackground(d, entry, ac.signal);
    const done = (async () => {
      try {
        await this.driveLoop(d.id, ac.signal);
      } catch (err) {
        if (!(err instanceof Interrupted)) this.log.error({ err, deployment: d.id }, 'deployment driver failed');
      } finally {
        background?.stop();
        clearInterval(renew);
        clearTimeout(expiry);
        this.driving.delete(d.id);
        const why = ac.signal.reason instanceof Interrupted ? ac.signal.reason.why : null;
        if (why !== 'lease-lost') await this.store.releaseLease(d.id, this.owner).catch(() => undefined);
        if (!this.stopping) this.wake();
      }
    })();
    entry.done = done;
    this.driving.set(d.id, entry);
  }

  /**
   * Background analysis for deployments whose service names a template: evaluated every
   * interval once the new release receives traffic, until the deployment leaves its forward
   * plan. A fail interrupts the current step and starts the rollback; a pause interrupts it
   * until a person promotes.
   */
  private startBackground(d: DeploymentRecord, entry: { step: AbortController | null; failure: string | null }, signal: AbortSignal): BackgroundAnalysis | null {
    const cfg = this.config.services[d.service]?.[d.environment];
    if (!cfg?.analysis || !this.analysis || d.kind !== 'deploy') return null;
    const template = this.analysis.templates[cfg.analysis];
    if (!template) return null;
    const bg = new BackgroundAnalysis({
      store: this.store, runtime: this.analysis, template, cfg, target: this.target, clock: this.clock, deploymentId: d.id, signal, log: this.log,
      onFail: (reason: string) => {
        entry.failure = reason;
        entry.step?.abort(new Interrupted('analysis-fail', reason));
      },
      onPause: (reason: string) => entry.step?.abort(new Interrupted('analysis-pause', reason)),
    });
    bg.start();
    return bg;
  }

  private async driveLoop(id: string, signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) return;
      const d = await this.store.getDeployment(id);
      if (!d || d.leaseOwner !== this.owner || !DRIVEN.includes(d.phase)) return;
      const steps = await this.store.getSteps(id);
      const cfg = this.config.services[d.service]?.[d.environment];
      if (!cfg) {
        await this.end(d, 'failed', `${d.service}/${d.environment} is no longer in ${this.config.file}`);
        return;
      }
      const failure = this.driving.get(id)?.failure;
      if (failure && d.phase !== 'rolling_back') {
        await this.beginRecovery(d, steps, cfg, failure, true);
        continue;
      }
      if (d.abortRequested && d.phase !== 'rolling_back') {
        await this.beginRecovery(d, steps, cfg, `aborted`);
        continue;
      }
      if (d.currentStep >= steps.length) {
        await this.finish(d, steps);
        return;
      }
      if (await this.reconcilePlan(d, steps, cfg)) continue;
      const ok = await this.runCurrentStep(d, steps[d.currentStep], steps, cfg, signal);
      if (!ok) return;
    }
  }

  /** Runs the current step and records its outcome. Returns false when the runner must let go. */
  private async runCurrentStep(d: DeploymentRecord, step: StepRecord, steps: StepRecord[], cfg: ServiceEnvConfig, signal: AbortSignal): Promise<boolean> {
    const now = this.clock.now();
    let startedAt = step.startedAt ?? now;
    if (step.status === 'pending' || step.startedAt === null) {
      startedAt = now;
      const ok = await this.store.transition({
        deploymentId: d.id, expectLeaseOwner: this.owner,
        step: { idx: step.idx, patch: { status: 'running', startedAt, attempts: step.attempts + 1 } },
        events: [ev(d.id, now, 'step.started', { idx: step.idx, type: step.type, title: step.title })],
      });
      if (!ok) return false;
    } else {
      const ok = await this.store.transition({
        deploymentId: d.id, expectLeaseOwner: this.owner,
        step: { idx: step.idx, patch: { attempts: step.attempts + 1 } },
        events: [ev(d.id, now, 'step.resumed', { idx: step.idx, type: step.type, title: step.title, startedAt })],
      });
      if (!ok) return false;
    }

    const starts = (step.type === 'scale' && Number((step.params as { count?: number }).count ?? 0) > 0) || step.type === 'rollout';
    if (starts) await this.retire(cfg, now);
    const result = await this.execute(d, step, cfg, startedAt, signal);
    if (result === null) return false;
    const at = this.clock.now();
    if (result.result === 'superseded') {
      await this.supersede(d, step, startedAt, result.by);
      return false;
    }
    if (result.result === 'succeeded') {
      const ok = await this.store.transition({
        deploymentId: d.id, expectLeaseOwner: this.owner,
        deployment: { currentStep: step.idx + 1 },
        step: { idx: step.idx, patch: { status: 'succeeded', finishedAt: at, output: result.output ?? null } },
        events: [ev(d.id, at, 'step.succeeded', { idx: step.idx, type: step.type, title: step.title, durationMs: at - startedAt })],
      });
      if (ok && (step.type === 'traffic' || step.type === 'rollout')) await this.retire(cfg, at);
      return ok;
    }
    const ok = await this.store.transition({
      deploymentId: d.id, expectLeaseOwner: this.owner,
      step: { idx: step.idx, patch: { status: 'failed', finishedAt: at, output: { ...(result.output ?? {}), reason: result.reason } } },
      events: [ev(d.id, at, 'step.failed', { idx: step.idx, type: step.type, title: step.title, reason: result.reason })],
    });
    if (!ok) return false;
    const fresh = await this.store.getDeployment(d.id);
    if (!fresh) return false;
    // Nothing has started before the gates pass: a blocked or aborted gates step ends the deployment as it is.
    if (step.type === 'gates') {
      await this.end(fresh, fresh.abortRequested ? 'aborted' : 'failed', fresh.abortRequested ? 'aborted while waiting for its gates' : result.reason);
      return false;
    }
    if (step.stage === 'rollback') {
      await this.end(fresh, 'failed', `${fresh.message ? fresh.message + '; ' : ''}rollback failed at "${step.title}": ${result.reason}`);
      return false;
    }
    return this.beginRecovery(fresh, steps, cfg, result.reason, result.reject === true);
  }

  /**
   * Runs a step's executor. Returns null when the runner is stopping or lost its lease (the
   * step stays `running` in the store and is resumed by whoever holds the lease next).
   */
  private async execute(d: DeploymentRecord, step: StepRecord, cfg: ServiceEnvConfig, startedAt: number, signal: AbortSignal): Promise<Outcome | null> {
    const entry = this.driving.get(d.id);
    // A user's abort only interrupts the forward plan; the rollback stage always runs to the end.
    let stepAc = new AbortController();
    const forward = () => stepAc.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    // A newer release queued behind this one ends its post-deploy watch, unless the environment keeps a strict queue.
    const supersedable = step.stage === 'deploy' && step.type === 'watch' && this.queuePolicy(d.environment) === 'supersede';
    const check = () => {
      (async () => {
        const cur = await this.store.getDeployment(d.id);
        if (cur?.abortRequested) stepAc.abort(new Interrupted('user-abort'));
        else if (supersedable) {
          // A member its release group still holds back cannot start yet: it does not cut the watch short.
          const newer = (await this.store.listDeployments({ service: d.service, environment: d.environment, phases: ['queued'] })).find((q) => !q.groupHeld);
          if (newer && newer.seq > d.seq) stepAc.abort(new Interrupted('superseded', newer.id));
        }
      })().catch(() => undefined);
    };
    const poll = step.stage === 'deploy' ? setInterval(check, 300) : null;
    if (supersedable) check();
    const waitForPromotion = (reason: string) => this.waitForPromotion(d.id, reason, stepAc.signal);
    try {
      let unreachableSince: number | null = null;
      for (let attempt = 0; ; attempt++) {
        if (entry) entry.step = step.stage === 'deploy' ? stepAc : null;
        if (entry?.failure && step.stage === 'deploy') return { result: 'failed', reason: entry.failure, reject: true };
        try {
          return await runStep({
            cfg, target: this.target, clock: this.clock, startedAt, signal: stepAc.signal,
            deployment: { id: d.id, version: d.version, previousVersion: d.previousVersion, actor: d.actor, reason: d.reason }, stepIdx: step.idx, stage: step.stage,
            analysis: this.analysis, waitForPromotion, gates: this.gates,
            setWaiting: (reason) => this.setWaiting(d.id, reason),
          }, step.params as unknown as StepParams);
        } catch (err) {
          if (signal.aborted) return null;
          const reason = stepAc.signal.reason;
          if (reason instanceof Interrupted) {
            if (reason.why === 'user-abort') return { result: 'failed', reason: 'aborted by request' };
            if (reason.why === 'analysis-fail') return { result: 'failed', reason: reason.detail, reject: true };
            if (reason.why === 'superseded') return { result: 'superseded', by: reason.detail };
            if (reason.why === 'analysis-pause') {
              stepAc = new AbortController();
              try {
                await this.waitForPromotion(d.id, reason.detail, stepAc.signal);
              } catch {
                if (signal.aborted) return null;
                const why = stepAc.signal.reason instanceof Interrupted ? stepAc.signal.reason : null;
                if (why?.why === 'analysis-fail') return { result: 'failed', reason: why.detail, reject: true };
                return { result: 'failed', reason: 'aborted by request' };
              }
              continue;
            }
          }
          if (err instanceof GangwayError && err.code === 'unreachable') {
            unreachableSince ??= this.clock.now();
            if (this.clock.now() - unreachableSince < this.unreachableBudgetMs) {
              this.log.warn({ deployment: d.id, step: step.idx, err: err.message }, 'target unreachable; retrying');
              await this.clock.sleep(Math.min(UNREACHABLE_MAX_DELAY_MS, 1000 * 2 ** Math.min(attempt, 4)), stepAc.signal).catch(() => undefined);
              continue;
            }
            return { result: 'failed', reason: `${err.message} (still unreachable after ${Math.round((this.clock.now() - unreachableSince) / 1000)}s of retries)` };
          }
          return { result: 'failed', reason: err instanceof Error ? err.message : String(err) };
        }
      }
    } finally {
      if (entry) entry.step = null;
      if (poll) clearInterval(poll);
      signal.removeEventListener('abort', forward);
    }
  }

  private queuePolicy(environment: string): 'supersede' | 'strict' {
    return this.config.environments.find((e) => e.name === environment)?.queue ?? 'supersede';
  }

  /**
   * Ends a deployment whose post-deploy watch a newer deployment cut short, in one transaction:
   * the watch step skipped, the deployment `superseded` (naming the newer one). Its release
   * served but never finished its watch, so it does not become the stable release.
   */
  private async supersede(d: DeploymentRecord, step: StepRecord, startedAt: number, by: string): Promise<void> {
    const at = this.clock.now();
    const watchMs = Number((step.params as { durationMs?: number }).durationMs ?? 0);
    const watched = Math.max(0, at - startedAt);
    const message = `superseded by ${by} after ${formatMs(Math.round(watched / 1000) * 1000)} of its ${formatMs(watchMs)} watch`;
    await this.store.transition({
      deploymentId: d.id, expectLeaseOwner: this.owner,
      deployment: { phase: 'superseded', finishedAt: at, message, supersededBy: by, currentStep: step.idx + 1 },
      step: { idx: step.idx, patch: { status: 'skipped', finishedAt: at, output: { supersededBy: by, watchedMs: watched } } },
      events: [
        ev(d.id, at, 'step.skipped', { idx: step.idx, type: step.type, title: step.title, reason: message }),
        ev(d.id, at, 'deployment.phase', { from: d.phase, to: 'superseded', message, supersededBy: by, version: d.version }),
      ],
    });
    this.log.info({ deployment: d.id, supersededBy: by }, 'deployment superseded');
    this.wake();
  }

  /**
   * A plan is made when the deployment is requested; by the time it starts, what serves may
   * have changed (the deployment ahead of it in the queue succeeded, or was superseded).
   * Before its first step after the gates, the forward plan is made again from the stable
   * release and the release serving now. Returns true when it replaced the plan.
   */
  private async reconcilePlan(d: DeploymentRecord, steps: StepRecord[], cfg: ServiceEnvConfig): Promise<boolean> {
    const cur = steps[d.currentStep];
    if (d.kind !== 'deploy' || !cur || cur.status !== 'pending' || cur.stage !== 'deploy' || cur.type === 'gates') return false;
    if (steps.slice(0, d.currentStep).some((s) => s.type !== 'gates')) return false;
    const state = await this.store.getServiceState(d.service, d.environment);
    const stable: ReleaseRef | null = state?.stableVersion ? { version: state.stableVersion, image: state.stableImage } : null;
    const serving = await servingRelease(this.store, this.target, cfg, stable);
    const fresh = withMigrations(cfg, d.id, planDeployment({
      cfg, release: { version: d.version, image: d.image }, stable, serving, capabilities: this.target.capabilities(cfg),
      templateInterval: (name) => this.config.analysisTemplates[name]?.intervalMs ?? 30_000,
    }), { version: d.version, image: d.image });
    const stored = steps.slice(d.currentStep);
    const previousVersion = stable?.version ?? null;
    const same = previousVersion === d.previousVersion && stored.length === fresh.length
      && stored.every((s, i) => s.type === fresh[i].type && JSON.stringify(s.params) === JSON.stringify(fresh[i].params));
    if (same) return false;
    const all = [...steps.slice(0, d.currentStep), ...fresh];
    await this.store.transition({
      deploymentId: d.id, expectLeaseOwner: this.owner,
      deployment: { previousVersion, planHash: planHash(all) },
      replaceSteps: { fromIdx: d.currentStep, steps: fresh.map((s) => ({ type: s.type, title: s.title, params: s.params as unknown as Record<string, unknown> })) },
      events: [ev(d.id, this.clock.now(), 'deployment.replanned', {
        previousVersion: d.previousVersion, stable: previousVersion, serving: serving?.version ?? previousVersion, steps: fresh.map((s) => s.title),
      })],
    });
    return true;
  }

  /** Moves the deployment between `waiting` (gates pending, with the reason) and `running`. */
  private async setWaiting(id: string, reason: string | null): Promise<void> {
    const d = await this.store.getDeployment(id);
    if (!d) throw new Interrupted('lease-lost');
    const to: DeploymentPhase = reason === null ? 'running' : 'waiting';
    if (d.phase === to && reason === null) return;
    const ok = await this.store.transition({
      deploymentId: id, expectLeaseOwner: this.owner, deployment: { phase: to },
      events: [ev(id, this.clock.now(), 'deployment.phase', { from: d.phase, to, message: reason ?? 'gates passed' })],
    });
    if (!ok) throw new Interrupted('lease-lost');
  }

  /**
   * Marks the deployment paused (with the reason) until a person promotes it; consumes the
   * promote request and marks it running again. Rejects when `signal` aborts.
   */
  private async waitForPromotion(id: string, reason: string, signal: AbortSignal): Promise<void> {
    const d = await this.store.getDeployment(id);
    if (!d) throw new Interrupted('lease-lost');
    if (!d.promoteRequested && d.phase !== 'paused') {
      const at = this.clock.now();
      const ok = await this.store.transition({
        deploymentId: id, expectLeaseOwner: this.owner, deployment: { phase: 'paused' },
        events: [ev(id, at, 'deployment.phase', { from: d.phase, to: 'paused', message: reason })],
      });
      if (!ok) throw new Interrupted('lease-lost');
    }
    for (;;) {
      const cur = await this.store.getDeployment(id);
      if (!cur) throw new Interrupted('lease-lost');
      if (cur.promoteRequested) {
        const at = this.clock.now();
        const ok = await this.store.transition({
          deploymentId: id, expectLeaseOwner: this.owner, deployment: { phase: 'running', promoteRequested: false },
          events: [ev(id, at, 'deployment.phase', { from: cur.phase, to: 'running', message: 'promoted' })],
        });
        if (!ok) throw new Interrupted('lease-lost');
        return;
      }
      await this.clock.sleep(250, signal);
    }
  }

  /** Appends the recovery stage and moves the deployment to `rolling_back`, in one transaction. */
  private async beginRecovery(d: DeploymentRecord, steps: StepRecord[], cfg: ServiceEnvConfig, reason: string, reject = false): Promise<boolean> {
    const at = this.clock.now();
    const entry = this.driving.get(d.id);
    if (entry) entry.failure = null;
    const rejection: RejectionRecord | undefined = reject ? { service: d.service, environment: d.environment, version: d.version, deploymentId: d.id, at, reason } : undefined;
    const message = d.abortRequested ? `aborted: ${reason === 'aborted' || reason === 'aborted by request' ? 'by request' : reason}` : reason;
    if (!cfg.rollback.automatic && !d.abortRequested) {
      await this.end(d, 'failed', `${message}; automatic rollback is off — roll back with \`gangway rollback ${d.service} --env ${d.environment}\``, rejection);
      return false;
    }
    const stable = d.previousVersion ? { version: d.previousVersion, image: await this.stableImage(d) } : null;
    // Undo the migration only when it started.
    const migrated = steps.some((s) => s.stage === 'deploy' && s.type === 'migrate' && s.status !== 'pending');
    const recovery = planRecovery(cfg, { version: d.version, image: d.image }, stable, migrated ? migrationRollbackStep(cfg, d.id) : null, this.target.capabilities(cfg));
    return this.store.transition({
      deploymentId: d.id, expectLeaseOwner: this.owner,
      deployment: { phase: 'rolling_back', currentStep: steps.length, message, promoteRequested: false },
      appendSteps: recovery.map((s) => ({ type: s.type, title: s.title, params: s.params as unknown as Record<string, unknown>, stage: 'rollback' as const })),
      events: [
        ev(d.id, at, 'deployment.phase', { from: d.phase, to: 'rolling_back', message, rollbackTo: stable?.version ?? null }),
        ...(rejection ? [ev(d.id, at, 'release.rejected', { service: d.service, environment: d.environment, version: d.version, reason })] : []),
      ],
      rejection,
    });
  }

  private async stableImage(d: DeploymentRecord): Promise<string | null> {
    const s = await this.store.getServiceState(d.service, d.environment);
    return s?.stableVersion === d.previousVersion ? s?.stableImage ?? null : null;
  }

  /** Every step ran: the deployment ends by the stage it finished in. */
  private async finish(d: DeploymentRecord, steps: StepRecord[]): Promise<void> {
    const last = steps[steps.length - 1];
    if (!last || last.stage === 'deploy') {
      const state = await this.store.getServiceState(d.service, d.environment);
      const at = this.clock.now();
      const previous = state?.stableVersion && state.stableVersion !== d.version ? state.stableVersion : state?.previousVersion ?? null;
      await this.store.transition({
        deploymentId: d.id, expectLeaseOwner: this.owner,
        deployment: { phase: 'succeeded', finishedAt: at },
        events: [ev(d.id, at, 'deployment.phase', { from: d.phase, to: 'succeeded', version: d.version })],
        serviceState: { service: d.service, environment: d.environment, stableVersion: d.version, stableImage: d.image, previousVersion: previous, deploymentId: d.id, updatedAt: at },
      });
      this.log.info({ deployment: d.id, version: d.version }, 'deployment succeeded');
      return;
    }
    const phase = d.abortRequested ? 'aborted' : d.previousVersion && d.previousVersion !== d.version ? 'rolled_back' : 'failed';
    await this.end(d, phase, d.message ?? phase);
  }

  private async end(d: DeploymentRecord, phase: 'failed' | 'rolled_back' | 'aborted', message: string, rejection?: RejectionRecord): Promise<void> {
    const at = this.clock.now();
    await this.store.transition({
      deploymentId: d.id, expectLeaseOwner: this.owner,
      deployment: { phase, finishedAt: at, message },
      events: [ev(d.id, at, 'deployment.phase', { from: d.phase, to: phase, message })],
      rejection,
    });
    this.log.info({ deployment: d.id, phase, message }, 'deployment ended');
  }

  /**
   * Retires (scales to zero) every release of a (service, environment) but these: the ones
   * active deployments deploy (and, while rolling back, the one they return to), the ones
   * traffic reaches (including the preview and a header route), and one previous release —
   * the one traffic left last — while its `scaleDownDelay` lasts, or for as long as an active
   * deployment would roll back to it (so a rollback during the watch is a switch back).
   * When traffic left a release is read from the stored traffic steps, so a release that
   * became due while the orchestrator was down is retired when it comes back. So at most
   * three releases run: the one being deployed, the one serving and the previous one.
   */
  private async retireUnrouted(now: number): Promise<void> {
    for (const service of this.config.serviceNames) {
      for (const env of this.config.environments) {
        const cfg = this.config.services[service]?.[env.name];
        if (!cfg || this.stopping) continue;
        await this.retire(cfg, now);
      }
    }
  }

  /**
   * Retirement for one (service, environment). Besides the periodic pass, it runs before a
   * step starts a release and after each traffic switch, so the bound holds at every moment,
   * however fast deployments follow each other. Never throws: a failure is logged and retried
   * by the next pass.
   */
  private async retire(cfg: ServiceEnvConfig, now: number): Promise<void> {
    const { service, environment } = cfg;
    try {
      const instances = await this.target.instances(cfg);
      const live = new Set(instances.filter((i) => i.state !== 'stopping' && i.state !== 'stopped').map((i) => i.version));
      if (live.size === 0) return;
      const active = await this.store.listDeployments({ service, environment, phases: [...ACTIVE_PHASES] });
      const keep = keptReleases(active, await this.target.traffic(cfg));
      const candidates = [...live].filter((v) => !keep.has(v));
      if (candidates.length === 0) return;
      const history = await this.trafficHistory(service, environment);
      const since = new Map(candidates.map((v) => [v, unroutedSince(v, history, now)]));
      const previous = candidates.reduce((a, b) => (since.get(b)! > since.get(a)! ? b : a));
      const delay = 'scaleDownDelayMs' in cfg.strategy ? cfg.strategy.scaleDownDelayMs : 0;
      if (since.get(previous)! + delay > now || active.some((d) => d.previousVersion === previous)) keep.add(previous);
      for (const version of candidates) {
        if (keep.has(version)) continue;
        // Re-check: a deployment may have started (or begun rolling back) while we looked.
        const again = await this.store.listDeployments({ service, environment, phases: [...ACTIVE_PHASES] });
        if (keptReleases(again, { versions: [], preview: null }).has(version)) continue;
        await this.target.scale(cfg, { version, image: null }, 0);
        const reason = version === previous ? `no traffic since ${new Date(since.get(version)!).toISOString()}, past its scale-down delay of ${formatMs(delay)}`
          : 'no traffic reaches it and a newer release is the previous one';
        await this.store.appendEvents([ev(null, this.clock.now(), 'release.retired', { service, environment, version, reason })]);
        this.log.info({ service, environment, version, reason }, 'retired release');
      }
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err), service, environment }, 'could not retire releases');
    }
  }

  /** Traffic steps that ran for a (service, environment), newest first: when each release gained and lost traffic. */
  private async trafficHistory(service: string, environment: string): Promise<TrafficMark[]> {
    const recent = await this.store.listDeployments({ service, environment, newestFirst: true, limit: 10 });
    return trafficMarks(await Promise.all(recent.map((d) => this.store.getSteps(d.id))));
  }
}

export interface TrafficMark { at: number; routes: Set<string> }

/**
 * The traffic steps that succeeded, newest first, from the steps of deployments given newest
 * first. Two steps may end in the same millisecond (a preview and the switch after instant smoke
 * checks): the later step of the newer deployment then counts as the newer one.
 */
export function trafficMarks(stepsNewestFirst: StepRecord[][]): TrafficMark[] {
  const marks: Array<TrafficMark & { order: number }> = [];
  for (const steps of stepsNewestFirst) {
    for (const s of [...steps].reverse()) {
      if (s.type !== 'traffic' || s.status !== 'succeeded' || s.finishedAt === null) continue;
      marks.push({ at: s.finishedAt, routes: routedBy(s.params as unknown as Traffic), order: marks.length });
    }
  }
  return marks.sort((a, b) => b.at - a.at || a.order - b.order).map(({ at, routes }) => ({ at, routes }));
}

/** Releases a traffic split reaches: weighted versions, the preview and a header route. */
function routedBy(t: Pick<Traffic, 'versions' | 'preview'> & { headerRoute?: { version: string } | null }): Set<string> {
  const out = new Set(t.versions.map((v) => v.version));
  if (t.preview) out.add(t.preview);
  if (t.headerRoute) out.add(t.headerRoute.version);
  return out;
}

/** What must keep running: what traffic reaches, what active deployments deploy, and what a rollback returns to. */
function keptReleases(active: DeploymentRecord[], traffic: Pick<Traffic, 'versions' | 'preview'> & { headerRoute?: { version: string } | null }): Set<string> {
  const keep = routedBy(traffic);
  for (const d of active) {
    keep.add(d.version);
    if (d.phase === 'rolling_back' && d.previousVersion) keep.add(d.previousVersion);
  }
  return keep;
}

/**
 * When traffic last left `version`: the time of the traffic step that followed the newest
 * one reaching it (`now` when the newest step still reaches it; 0 when no recent step did).
 */
export function unroutedSince(version: string, newestFirst: TrafficMark[], now: number): number {
  let since = now;
  for (const mark of newestFirst) {
    if (mark.routes.has(version)) return since;
    since = mark.at;
  }
  return 0;
}

function pairKey(d: { service: string; environment: string }): string {
  return `${d.service}\u0000${d.environment}`;
}

function ev(deploymentId: string | null, at: number, type: string, data: Record<string, unknown>): NewEvent {
  return { deploymentId, at, type, data };
}
