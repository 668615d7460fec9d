/**
 * The alert monitor: every `alerts.interval`, the tiers of `alerts` evaluated on the release of
 * every deployment being rolled out or watched (phases `running` and `paused`, its post-deploy
 * watch included). A tier that fires is appended to the event log as `alert.fired` — the
 * notification dispatcher follows the log and sends it to the tier's channels — and then
 * acts: `rollback` asks the runner to roll the deployment back, `freeze` freezes its
 * environment. A tier that recovers is `alert.resolved`; so is every firing tier of a
 * deployment that leaves its rollout (rolled back, succeeded, failed …).
 *
 * The tiers' state lives in the store with the deployment (analysis state, key `alerts`), so a
 * restarted orchestrator keeps its hold times and does not fire a firing tier again. With
 * `owner`, only the deployments that runner drives are evaluated, so several orchestrators on
 * one store evaluate each deployment once, where its rollback can be started at once.
 */
import { randomUUID } from 'node:crypto';
import type { AnalysisState } from '../analysis/types.js';
import type { AlertsConfig, GangwayConfig } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import { systemClock, type Clock } from '../engine/clock.js';
import type { AnalysisRuntime } from '../engine/steps/context.js';
import type { DeploymentRecord, FreezeRecord, NewEvent, Store } from '../store/types.js';
import type { Target } from '../targets/target.js';
import { anyFiring, evaluateTiers, resolveAll, type AlertTransition, type AlertsState } from './evaluate.js';

/** Who owns the freezes alert tiers raise (lifted by a person: `gangway unfreeze <id>`). */
export const ALERTS_OWNER = 'gangway/alerts';

/** The analysis-state key the tiers' state is kept under. */
const STATE_KEY = 'alerts';

/** Phases in which a deployment's release is watched: the rollout and the post-deploy watch. */
const WATCHED: DeploymentRecord['phase'][] = ['running', 'paused'];

export interface AlertMonitorOptions {
  store: Store;
  config: Pick<GangwayConfig, 'services'> & { alerts?: AlertsConfig | null };
  /** Metric sources (the analysis runtime's contexts) and the store of rule state. */
  analysis: Pick<AnalysisRuntime, 'context' | 'loadState' | 'saveState'>;
  target: Target;
  /**
   * Rolls the deployment back with `reason` through the engine's own path (the runner). Returns
   * false when it could not (this orchestrator does not drive the deployment).
   */
  rollback(deploymentId: string, reason: string): boolean | Promise<boolean>;
  clock?: Clock;
  log?: Logger;
  /** The runner's lease owner: evaluate only the deployments it drives. Absent: every watched one. */
  owner?: string;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

/**
 * Evaluates alert tiers on watched deployments; start/stop like the other background units.
 *
 * @example
 * const monitor = new AlertMonitor({ store, config, analysis, target, owner: runner.owner,
 *   rollback: (id, reason) => runner.fail(id, reason) });
 * monitor.start();
 * // …
 * await monitor.stop();
 */
export class AlertMonitor {
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Deployment id → its tiers' state, for deployments evaluated since start. */
  private readonly states = new Map<string, AlertsState>();
  private ac: AbortController | null = null;
  private loop: Promise<void> | null = null;

  constructor(private readonly o: AlertMonitorOptions) {
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? silent;
  }

  /** Starts evaluating every interval. Idempotent; does nothing without tiers. */
  start(): void {
    const alerts = this.o.config.alerts;
    if (this.loop || !alerts || alerts.tiers.length === 0) return;
    const ac = this.ac = new AbortController();
    this.loop = (async () => {
      while (!ac.signal.aborted) {
        try {
          await this.clock.sleep(alerts.intervalMs, ac.signal);
        } catch {
          return;
        }
        try {
          await this.tick();
        } catch (err) {
          this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'alert evaluation failed; trying again next interval');
        }
      }
    })();
  }

  /** Stops, after an evaluation in progress. Idempotent. */
  async stop(): Promise<void> {
    this.ac?.abort();
    await this.loop;
    this.loop = null;
    this.ac = null;
  }

  /** One round: every watched deployment evaluated, and the firing tiers of those that left resolved. Returns the transitions. */
  async tick(): Promise<AlertTransition[]> {
    const alerts = this.o.config.alerts;
    if (!alerts) return [];
    const { store } = this.o;
    const watched = (await store.listDeployments({ phases: WATCHED }))
      .filter((d) => d.kind === 'deploy' && (this.o.owner === undefined || d.leaseOwner === this.o.owner));
    const out: AlertTransition[] = [];
    const ids = new Set(watched.map((d) => d.id));
    for (const id of [...this.states.keys()]) {
      if (ids.has(id)) continue;
      const d = await store.getDeployment(id);
      // Driven by another orchestrator now: it keeps the episode (the state is in the store).
      if (d && WATCHED.includes(d.phase)) { this.states.delete(id); continue; }
      out.push(...await this.leave(id, d));
    }
    for (const d of watched) out.push(...await this.evaluate(d, alerts));
    return out;
  }

  private async evaluate(d: DeploymentRecord, alerts: AlertsConfig): Promise<AlertTransition[]> {
    const cfg = this.o.config.services[d.service]?.[d.environment];
    if (!cfg) return [];
    const now = this.clock.now();
    const prev = this.states.get(d.id) ?? (await this.o.analysis.loadState(d.id, STATE_KEY) as unknown as AlertsState);
    const ctx = this.o.analysis.context(cfg, this.o.target, d.version, d.previousVersion, now);
    const ev = await evaluateTiers(alerts.tiers, ctx, prev);
    // Recorded before the state that says it happened: a crash in between fires it again rather than never.
    await this.record(d, ev.transitions);
    await this.o.analysis.saveState(d.id, STATE_KEY, ev.state as unknown as AnalysisState, now);
    this.states.set(d.id, ev.state);
    return ev.transitions;
  }

  /** A deployment left its rollout: its firing tiers resolve, naming where it went. */
  private async leave(id: string, d: DeploymentRecord | undefined): Promise<AlertTransition[]> {
    const state = this.states.get(id) ?? {};
    this.states.delete(id);
    const alerts = this.o.config.alerts;
    if (!d || !alerts || !anyFiring(state)) return [];
    const now = this.clock.now();
    const r = resolveAll(alerts.tiers, state, `no longer watched: the deployment is ${d.phase}`, now);
    await this.record(d, r.transitions);
    await this.o.analysis.saveState(id, STATE_KEY, r.state as unknown as AnalysisState, now);
    return r.transitions;
  }

  /** Appends the events of `transitions`, then carries out the actions of the tiers that fired. */
  private async record(d: DeploymentRecord, transitions: AlertTransition[]): Promise<void> {
    if (transitions.length === 0) return;
    await this.o.store.appendEvents(transitions.map((t) => alertEvent(d, t)));
    for (const t of transitions) {
      this.log.warn({ deployment: d.id, tier: t.tier.name, reason: t.reason }, t.kind === 'fired' ? 'alert fired' : 'alert resolved');
      if (t.kind !== 'fired') continue;
      const because = `alert ${t.tier.name} fired: ${t.reason}`;
      if (t.tier.action === 'rollback') {
        const started = await this.o.rollback(d.id, because);
        if (!started) this.log.warn({ deployment: d.id, tier: t.tier.name }, 'alert could not roll back: this orchestrator does not drive the deployment');
      } else if (t.tier.action === 'freeze') {
        await this.freeze(d, t.tier.name, because, t.at);
      }
    }
  }

  /** Freezes the deployment's environment (every service), once per deployment and tier. */
  private async freeze(d: DeploymentRecord, tier: string, because: string, at: number): Promise<void> {
    const freeze: FreezeRecord = {
      id: `f-${at.toString(36)}-${randomUUID().slice(0, 8)}`, environment: d.environment, service: null, owner: ALERTS_OWNER,
      reason: `${because} (${d.service} ${d.version}, deployment ${d.id})`, source: 'alert',
      alertFingerprint: alertFingerprint(d.id, tier), createdAt: at, liftedAt: null, liftedBy: null,
    };
    // False: this episode's freeze exists already (a restart between the event and the state).
    if (!await this.o.store.createFreeze(freeze)) return;
    await this.o.store.appendEvents([{ deploymentId: null, at, type: 'freeze.created', data: { ...freeze } }]);
  }
}

/** The fingerprint of the freeze an alert tier raised for a deployment: `gangway-alert/<deployment>/<tier>`. */
export function alertFingerprint(deploymentId: string, tier: string): string {
  return `gangway-alert/${deploymentId}/${tier}`;
}

/** The `alert.fired` / `alert.resolved` event of a transition. */
export function alertEvent(d: Pick<DeploymentRecord, 'id' | 'service' | 'environment' | 'version'>, t: AlertTransition): NewEvent {
  const base = {
    tier: t.tier.name, deploymentId: d.id, service: d.service, environment: d.environment, version: d.version,
    action: t.tier.action, channels: [...t.tier.channels], reason: t.reason,
  };
  if (t.kind === 'fired') {
    return {
      deploymentId: d.id, at: t.at, type: 'alert.fired',
      data: {
        ...base,
        conditions: t.conditions.map((c) => ({
          name: c.name, reason: c.reason, since: c.since, forMs: c.forMs,
          values: c.measurements.map((m) => ({ metric: m.metric, value: m.canary, stable: m.stable, samples: m.samples?.canary ?? null })),
        })),
      },
    };
  }
  return { deploymentId: d.id, at: t.at, type: 'alert.resolved', data: { ...base, firedAt: t.firedAt, firedReason: t.firedReason, durationMs: t.at - t.firedAt } };
}
