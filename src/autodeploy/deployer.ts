/**
 * Releases that start themselves. The poller asks each subscribed repository for its tags
 * (the complete list, paged as the Distribution spec says), picks the newest matching tag and
 * asks the orchestrator to deploy it as `gangway/auto` with the tag as reason — through every
 * gate and the queue, like any request. A webhook from CI does the same for the release it
 * names. What the poller learns is stored per (service, environment) (the last tag acted on,
 * a tag held back by a gate, a registry outage, a pause), so a restart neither redeploys nor
 * records an outage twice.
 *
 * A person's rollback pauses the pair: auto-deploy reads the event log for rollbacks (and
 * aborts of its own deployments) and deploys nothing there until someone resumes it.
 *
 * Polling is one unit with start/stop, so only the replica holding the leader lease runs it;
 * webhooks, resume and the status read model work on every replica (they go through the store).
 */
import { periodic, type Periodic } from '../core/periodic.js';
import type { GangwayConfig } from '../config/types.js';
import type { DeploymentView, OrchestratorApi } from '../engine/types.js';
import { GangwayError, NotFoundError } from '../errors.js';
import type { RegistryClient } from '../gates/registry/client.js';
import type { AutoDeployPatch, AutoDeployState, NewEvent, Store } from '../store/types.js';
import { AUTO_ACTOR, subscriptionOf, subscriptions, type Subscription } from './subscriptions.js';
import { isNewerSemver, matcher, newestSemver } from './tags.js';
import { statusOf, type AutoDeployStatus } from './status.js';

export type { AutoDeployStatus };

/** The subset of a logger used here (pino's). */
export interface AutoDeployLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options of {@link AutoDeployer}. */
export interface AutoDeployerOptions {
  store: Store;
  config: GangwayConfig;
  orchestrator: Pick<OrchestratorApi, 'deploy'>;
  /** Asks registries for tag lists (the image gates' client, with the registries' credentials). */
  registry: Pick<RegistryClient, 'listTags' | 'getManifest' | 'getBlob'>;
  now?: () => number;
  log?: AutoDeployLog;
  /** How often the poller looks for subscriptions that are due (default 1000 ms). */
  tickMs?: number;
  /** Longest wait between tries while a registry is down (default: the interval, or 10 min when that is shorter). */
  maxBackoffMs?: number;
}

/** A webhook's release: what CI says it built. */
export interface WebhookRelease {
  service: string;
  environment: string;
  version?: string;
  image?: string;
  reason?: string;
  commitTime?: number;
}

const MAX_BACKOFF_MS = 10 * 60_000;

/**
 * Polls registries for subscribed pairs and takes webhook releases.
 *
 * @example
 * const auto = new AutoDeployer({ store, config, orchestrator, registry: new RegistryClient(config.registries), log });
 * auto.start();            // under the leader lease
 * await auto.stop();
 */
export class AutoDeployer {
  private readonly store: Store;
  private readonly config: GangwayConfig;
  private readonly orchestrator: Pick<OrchestratorApi, 'deploy'>;
  private readonly registry: AutoDeployerOptions['registry'];
  private readonly now: () => number;
  private readonly log: AutoDeployLog | undefined;
  private readonly tickMs: number;
  private readonly maxBackoffMs: number | undefined;
  /** When each polled pair is due next, and how many tries in a row failed. */
  private readonly schedule = new Map<string, { dueAt: number; failures: number }>();
  private readonly loop: Periodic;

  constructor(opts: AutoDeployerOptions) {
    this.store = opts.store;
    this.config = opts.config;
    this.orchestrator = opts.orchestrator;
    this.registry = opts.registry;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
    this.tickMs = opts.tickMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs;
    this.loop = periodic(() => this.tick(), this.tickMs, (err) => this.log?.warn({ err }, 'auto-deploy poll failed'));
  }

  /** True when some environment subscribes (the poller is worth starting: it polls registries and records pauses). */
  get active(): boolean {
    return subscriptions(this.config).length > 0;
  }

  /** Starts polling (idempotent). Every subscription is due at once. */
  start(): void {
    this.loop.start();
  }

  /** Stops polling and waits for a poll in progress (idempotent). Webhooks keep working. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One round: every pair's pauses are brought up to date, and every polled pair that is due is polled. */
  async tick(): Promise<void> {
    const now = this.now();
    for (const sub of subscriptions(this.config)) {
      const state = await this.syncPauses(sub.service, sub.environment);
      if (sub.repository === null) continue;
      const key = `${sub.service}\u0000${sub.environment}`;
      const slot = this.schedule.get(key) ?? { dueAt: 0, failures: 0 };
      if (slot.dueAt > now) continue;
      // A paused pair is not polled: its tags are read again when someone resumes it.
      if (state.pausedAt !== null) { this.schedule.set(key, slot); continue; }
      const ok = await this.poll(sub, state);
      const interval = sub.config.image!.intervalMs;
      slot.failures = ok ? 0 : slot.failures + 1;
      const cap = this.maxBackoffMs ?? Math.max(interval, MAX_BACKOFF_MS);
      slot.dueAt = this.now() + (ok ? interval : Math.min(interval * 2 ** (slot.failures - 1), cap));
      this.schedule.set(key, slot);
    }
  }

  /**
   * Brings a pair's pause up to date with the event log: a rollback requested by a person, or
   * a person's abort of a deployment auto-deploy requested, pauses it. Returns the pair's state.
   * Idempotent; any replica may call it.
   */
  async syncPauses(service: string, environment: string): Promise<AutoDeployState> {
    let state = await this.store.getAutoDeployState(service, environment);
    if (!state) {
      // A new subscription looks forward only: a rollback from before it existed does not pause it.
      const [last] = await this.store.listEvents({ newestFirst: true, limit: 1 });
      await this.store.updateAutoDeployState(service, environment, { checkedEvent: last?.id ?? 0 }, this.now());
      return (await this.store.getAutoDeployState(service, environment))!;
    }
    for (;;) {
      const events = await this.store.listEvents({ service, environment, afterId: state.checkedEvent, types: ['deployment.created', 'deployment.abort_requested'], limit: 500 });
      if (events.length === 0) return state;
      const patch: AutoDeployPatch = { checkedEvent: events[events.length - 1]!.id };
      const log: NewEvent[] = [];
      for (const e of events) {
        if (state.pausedAt !== null || patch.pausedAt !== undefined) break;
        // A rollback older than the last resume was seen already (by another replica, or before a cursor moved back).
        if (state.resumedAt !== null && e.at <= state.resumedAt) continue;
        const actor = typeof e.data.actor === 'string' ? e.data.actor : null;
        if (actor === null || actor === AUTO_ACTOR) continue;
        let pauses = false;
        if (e.type === 'deployment.created') pauses = e.data.kind === 'rollback';
        else if (e.deploymentId) pauses = (await this.store.getDeployment(e.deploymentId))?.actor === AUTO_ACTOR;
        if (!pauses) continue;
        Object.assign(patch, { pausedAt: e.at, pausedBy: actor, pausedDeployment: e.deploymentId, pendingTag: null, pendingReason: null });
        log.push({
          deploymentId: null, at: this.now(), type: 'autodeploy.paused',
          data: { service, environment, actor, deployment: e.deploymentId, cause: e.type === 'deployment.created' ? 'rollback' : 'abort' },
        });
      }
      await this.store.updateAutoDeployState(service, environment, patch, this.now(), log);
      if (log.length > 0) this.log?.info({ service, environment, by: patch.pausedBy }, 'auto-deploy paused by a rollback');
      state = (await this.store.getAutoDeployState(service, environment))!;
    }
  }

  /**
   * Resumes a paused pair; the next poll deploys a tag newer than the last one acted on (never
   * the one that was rolled back). Throws NotFoundError for a pair that does not subscribe,
   * `conflict` when it is not paused.
   */
  async resume(service: string, environment: string, actor: string): Promise<AutoDeployStatus> {
    const sub = this.subscription(service, environment);
    const state = await this.syncPauses(service, environment);
    if (state.pausedAt === null) {
      throw new GangwayError('conflict', `auto-deploy of ${service} to ${environment} is not paused`, 'see `gangway autodeploy status`');
    }
    const at = this.now();
    await this.store.updateAutoDeployState(service, environment, { pausedAt: null, pausedBy: null, pausedDeployment: null, resumedAt: at, resumedBy: actor }, at, [{
      deploymentId: null, at, type: 'autodeploy.resumed',
      data: { service, environment, actor, pausedBy: state.pausedBy, pausedAt: state.pausedAt, deployment: state.pausedDeployment },
    }]);
    // Poll at once rather than after the interval.
    this.schedule.delete(`${service}\u0000${environment}`);
    return statusOf(sub, (await this.store.getAutoDeployState(service, environment))!);
  }

  /** Every subscription with its state, optionally of one service or environment. */
  async list(filter: { service?: string; environment?: string } = {}): Promise<AutoDeployStatus[]> {
    const out: AutoDeployStatus[] = [];
    for (const sub of subscriptions(this.config)) {
      if (filter.service && sub.service !== filter.service) continue;
      if (filter.environment && sub.environment !== filter.environment) continue;
      out.push(statusOf(sub, await this.syncPauses(sub.service, sub.environment)));
    }
    return out;
  }

  /**
   * Deploys the release a signed webhook names, as `gangway/auto`. Throws NotFoundError when
   * the environment takes no webhook for the service, `conflict` when the pair is paused, and
   * whatever the orchestrator throws (a gate's `blocked` is recorded as `autodeploy.blocked`).
   */
  async release(r: WebhookRelease): Promise<DeploymentView> {
    const sub = this.subscription(r.service, r.environment);
    if (!sub.config.webhook) {
      throw new NotFoundError(`${r.environment} takes no release webhook`, `add autoDeploy: { webhook: true, secretFromEnv: … } to environments.${r.environment}`);
    }
    const state = await this.syncPauses(r.service, r.environment);
    if (state.pausedAt !== null) throw pausedError(r.service, r.environment, state);
    const tag = r.version ?? tagOf(r.image) ?? r.image ?? '';
    try {
      const d = await this.orchestrator.deploy({
        service: r.service, environment: r.environment, version: r.version, image: r.image, actor: AUTO_ACTOR,
        reason: r.reason?.trim() || tag, commitTime: r.commitTime,
      });
      await this.store.updateAutoDeployState(r.service, r.environment, { lastTag: tag, pendingTag: null, pendingReason: null }, this.now(),
        [deployedEvent(this.now(), r.service, r.environment, tag, d, 'webhook')]);
      return d;
    } catch (err) {
      if (err instanceof GangwayError && err.code !== 'conflict' && err.code !== 'invalid_argument' && err.code !== 'not_found') {
        await this.store.appendEvents([blockedEvent(this.now(), r.service, r.environment, tag, err, 'webhook')]);
      }
      throw err;
    }
  }

  /** One poll of one pair. False when the registry could not give the complete tag list. */
  private async poll(sub: Subscription, state: AutoDeployState): Promise<boolean> {
    const { service, environment } = sub;
    const image = sub.config.image!;
    const repo = sub.repository!;
    const listed = await this.registry.listTags(repo);
    const now = this.now();
    if (listed.phase === 'error') {
      if (state.outageSince === null) {
        await this.store.updateAutoDeployState(service, environment, { outageSince: now }, now, [{
          deploymentId: null, at: now, type: 'autodeploy.registry_unreachable', data: { service, environment, repository: repo, detail: listed.detail },
        }]);
        this.log?.warn({ service, environment, repository: repo, detail: listed.detail }, 'auto-deploy cannot read the tags');
      }
      return false;
    }
    const recovered: NewEvent[] = state.outageSince === null ? [] : [{
      deploymentId: null, at: now, type: 'autodeploy.registry_recovered', data: { service, environment, repository: repo, downSince: state.outageSince },
    }];
    // A repository nobody pushed to yet has no tags.
    const matching = (listed.phase === 'ok' ? listed.tags : []).filter(matcher(image.tagPattern));
    const base: AutoDeployPatch = { seenTags: matching, ...(state.outageSince === null ? {} : { outageSince: null }) };
    if (state.seenTags === null) {
      // The first poll remembers what is there: only tags pushed after it are deployed.
      const lastTag = image.order === 'semver' ? newestSemver(matching) : null;
      await this.store.updateAutoDeployState(service, environment, { ...base, lastTag }, now, [...recovered, {
        deploymentId: null, at: now, type: 'autodeploy.subscribed', data: { service, environment, repository: repo, lastTag, tags: matching.length },
      }]);
      return true;
    }
    const fresh = await this.newestNewTag(sub, state, matching);
    const candidate = fresh ?? (state.pendingTag !== null && matching.includes(state.pendingTag) ? state.pendingTag : null);
    if (candidate === null) {
      await this.store.updateAutoDeployState(service, environment, { ...base, ...(state.pendingTag !== null ? { pendingTag: null, pendingReason: null } : {}) }, now, recovered);
      return true;
    }
    try {
      const d = await this.orchestrator.deploy({ service, environment, version: candidate, image: `${repo}:${candidate}`, actor: AUTO_ACTOR, reason: candidate });
      await this.store.updateAutoDeployState(service, environment, { ...base, lastTag: candidate, pendingTag: null, pendingReason: null }, this.now(),
        [...recovered, deployedEvent(this.now(), service, environment, candidate, d, 'registry')]);
      this.log?.info({ service, environment, tag: candidate, deployment: d.id }, 'auto-deploy requested a deployment');
    } catch (err) {
      if (err instanceof GangwayError && err.code === 'conflict') {
        // Already stable or on its way (someone deployed it by hand): nothing left to do for this tag.
        await this.store.updateAutoDeployState(service, environment, { ...base, lastTag: candidate, pendingTag: null, pendingReason: null }, this.now(), [...recovered, {
          deploymentId: null, at: this.now(), type: 'autodeploy.skipped', data: { service, environment, tag: candidate, reason: err.message },
        }]);
        return true;
      }
      const e = err instanceof GangwayError ? err : new GangwayError('internal', err instanceof Error ? err.message : String(err));
      const key = refusalKey(e);
      // Held back: tried again at every poll, recorded once per tag and refusal.
      const same = state.pendingTag === candidate && state.pendingReason === key;
      await this.store.updateAutoDeployState(service, environment, { ...base, pendingTag: candidate, pendingReason: key }, this.now(),
        [...recovered, ...(same ? [] : [blockedEvent(this.now(), service, environment, candidate, e, 'registry')])]);
      if (!same) this.log?.info({ service, environment, tag: candidate, reason: e.message }, 'auto-deploy held back');
    }
    return true;
  }

  /** The newest tag that is new since the last poll (`pushed`) or newer than the last one acted on (`semver`). */
  private async newestNewTag(sub: Subscription, state: AutoDeployState, matching: string[]): Promise<string | null> {
    if (sub.config.image!.order === 'semver') {
      const newest = newestSemver(matching);
      return newest !== null && isNewerSemver(newest, state.lastTag) && newest !== state.pendingTag ? newest : null;
    }
    const seen = new Set(state.seenTags ?? []);
    const fresh = matching.filter((t) => !seen.has(t));
    if (fresh.length <= 1) return fresh[0] ?? null;
    // Several appeared since the last poll: the image built last wins; the registry's (lexical) order breaks ties.
    let best: { tag: string; created: number } | null = null;
    for (const tag of fresh) {
      const created = await this.createdAt(sub.repository!, tag);
      if (!best || created >= best.created) best = { tag, created };
    }
    return best!.tag;
  }

  /** The `created` time of an image's config (what `docker build` writes), or 0 when it has none. */
  private async createdAt(repo: string, tag: string): Promise<number> {
    const m = await this.registry.getManifest(repo, tag);
    if (m.phase !== 'ok') return 0;
    const digest = (m.manifest as { config?: { digest?: unknown } } | null)?.config?.digest;
    if (typeof digest !== 'string') return 0;
    const blob = await this.registry.getBlob(repo, digest);
    if (blob.phase !== 'ok') return 0;
    try {
      const created = Date.parse(String((JSON.parse(blob.body.toString('utf8')) as { created?: unknown }).created));
      return Number.isFinite(created) ? created : 0;
    } catch {
      return 0;
    }
  }

  private subscription(service: string, environment: string): Subscription {
    const sub = subscriptionOf(this.config, service, environment);
    if (!sub) {
      throw new NotFoundError(`${service} does not deploy to ${environment} by itself`,
        `add autoDeploy to environments.${environment} in gangway.yaml (see docs/autodeploy.md); \`gangway autodeploy status\` lists the subscriptions`);
    }
    return sub;
  }
}

function pausedError(service: string, environment: string, state: AutoDeployState): GangwayError {
  return new GangwayError('conflict',
    `auto-deploy of ${service} to ${environment} is paused since ${state.pausedBy ?? 'someone'} rolled back${state.pausedDeployment ? ` (${state.pausedDeployment})` : ''}`,
    `resume it with \`gangway autodeploy resume ${service} --env ${environment}\``,
    { service, environment, pausedBy: state.pausedBy, deployment: state.pausedDeployment });
}

/** The gates that refused (or the error's code), so a refusal for the same reasons is recorded once. */
function refusalKey(e: GangwayError): string {
  const results = (e.details?.gates as Array<{ gate: string; result: string }> | undefined) ?? [];
  // The gates that failed; else those that wait (a closed window, a freeze): not those that would only be waited for.
  const failed = results.filter((g) => g.result === 'fail');
  const gates = (failed.length > 0 ? failed : results.filter((g) => g.result === 'wait' && (g.gate === 'window' || g.gate === 'freeze'))).map((g) => g.gate);
  if (gates && gates.length > 0) return gates.join(',');
  const gate = e.details?.gate;
  return typeof gate === 'string' ? gate : e.code;
}

function deployedEvent(at: number, service: string, environment: string, tag: string, d: DeploymentView, source: 'registry' | 'webhook'): NewEvent {
  return { deploymentId: d.id, at, type: 'autodeploy.deployed', data: { service, environment, tag, source, image: d.image, actor: AUTO_ACTOR } };
}

function blockedEvent(at: number, service: string, environment: string, tag: string, e: GangwayError, source: 'registry' | 'webhook'): NewEvent {
  return {
    deploymentId: null, at, type: 'autodeploy.blocked',
    data: { service, environment, tag, source, code: e.code, reason: e.message, ...(e.hint ? { hint: e.hint } : {}), gates: refusalKey(e) },
  };
}

/** The tag of an image reference (`host/repo:tag[@digest]`), or null. */
function tagOf(image: string | undefined): string | null {
  if (!image) return null;
  const name = image.split('@', 1)[0]!;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(colon + 1) : null;
}
