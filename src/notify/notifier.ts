/**
 * Notifications: the dispatcher that follows the event log and turns deployment phase changes,
 * alerts and the ends of releases of several services into notifications for the adapters
 * (the notifier port is in types.ts).
 *
 * Delivery is at least once. Each notifier has its own cursor into the event log, kept in the
 * store (`notifications:<name>`) after every notification it settles (delivered or given up
 * on), so a restart — or another replica taking over — resumes where it stopped; a crash between a delivery and the cursor
 * write sends that one notification again, with the same delivery id, so receivers can
 * deduplicate. Every outcome is appended to the event log as `notification.sent` or
 * `notification.failed`.
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { GangwayConfig, NotifierConfig, NotifyEvent } from '../config/types.js';
import { systemClock } from '../engine/clock.js';
import type { Clock } from '../engine/clock.js';
import type { Logger } from '../core/logger.js';
import type { DeploymentView } from '../engine/types.js';
import { GangwayError, NotFoundError } from '../errors.js';
import { FINAL_PHASES } from '../store/types.js';
import type { DeploymentPhase, EventRecord, LeaseGuard, Store } from '../store/types.js';
import { GitHubNotifier } from './github.js';
import { SlackNotifier } from './slack.js';
import { WebhookNotifier } from './webhook.js';
import { alertNotificationFor, isAlertEvent } from './alerts.js';
import { readReleaseSummary, releaseEndOf, type ReleaseSummary } from '../releases/release-view.js';
import { releaseNotificationFor } from './releases.js';
import type { DeliveryResult, Notification, Notifier, NotifierDeps, ReleaseNotification, SendContext } from './types.js';

/**
 * The notification a `deployment.phase` transition stands for, or null. `firstRun` says
 * whether this is the first time the deployment moves to `running` (later moves — after gates
 * pass, after a pause — are not news).
 *
 * @example
 * ```ts
 * notifyEventOf({ from: 'queued', to: 'running' }, true); // 'started'
 * notifyEventOf({ from: 'rolling_back', to: 'aborted' }, false); // 'failed'
 * ```
 */
export function notifyEventOf(data: { from?: unknown; to?: unknown }, firstRun: boolean): NotifyEvent | null {
  switch (data.to) {
    case 'running': return firstRun ? 'started' : null;
    case 'waiting': return 'waiting';
    case 'succeeded': return 'succeeded';
    case 'failed': case 'aborted': return 'failed';
    case 'rolled_back': return 'rolled_back';
    case 'superseded': return 'superseded';
    default: return null;
  }
}

/**
 * The delivery id of a notification for a notifier: a UUID-shaped digest of the notifier, the
 * deployment (or release) it is about and the event, so every attempt and every restart sends
 * the same one.
 */
export function deliveryIdOf(notifier: string, subjectId: string, eventId: number): string {
  const h = createHash('sha256').update(`${notifier}\u0000${subjectId}\u0000${eventId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * Builds the adapters for `gangway.yaml`'s `notifications`. Throws when two notifiers share a
 * name (each has its own cursor and records).
 */
export function createNotifiers(configs: readonly NotifierConfig[], deps: NotifierDeps): Notifier[] {
  const seen = new Set<string>();
  for (const c of configs) {
    if (seen.has(c.name)) {
      throw new GangwayError('invalid_config', `notifications: two notifiers are named "${c.name}"`, 'give every notifier its own name');
    }
    seen.add(c.name);
  }
  return configs.map((c) => {
    switch (c.kind) {
      case 'webhook': return new WebhookNotifier(c);
      case 'slack': return new SlackNotifier(c);
      case 'github': return new GitHubNotifier(c, deps);
    }
  });
}

export interface NotificationDispatcherOptions {
  store: Store;
  config: Pick<GangwayConfig, 'notifications'>;
  /** The deployment as the API shows it. */
  readDeployment(id: string): Promise<DeploymentView>;
  /** A release of several services with its services' outcomes; default read from `store`. */
  readRelease?(id: string): Promise<ReleaseSummary>;
  /** Folder of the cursor file of earlier versions (`notifications.cursor`), imported once into the store. */
  stateDir: string;
  /**
   * The lease the dispatcher works under when replicas share the store: a cursor moves only
   * while it is held at this fence (null: it is not held — nothing is settled).
   */
  guard?: () => LeaseGuard | null;
  clock?: Clock;
  log?: Logger;
  /** Adapters to use instead of those built from `config.notifications`. */
  notifiers?: Notifier[];
  /** How often each notifier looks for new events; default 1000 ms. */
  pollMs?: number;
  /** Wait before the first retry; doubles with each further one, up to 60 s. Default 1000 ms. */
  backoffMs?: number;
}

const CURSOR_FILE = 'notifications.cursor';
const PAGE = 500;
const MAX_BACKOFF_MS = 60_000;
const silent: Logger = { info() {}, warn() {}, error() {} };

/** Version 1 of the cursor file of earlier versions: the id of the last event each notifier has settled. */
const cursorFileSchema = z.object({
  version: z.literal(1),
  notifiers: z.record(z.string(), z.number().int().nonnegative()),
}).strict();

/** A notification on its way: about one deployment (or an alert on it), or about a release as a whole. */
type Outgoing =
  | { kind: 'deployment'; n: Notification }
  | { kind: 'release'; n: ReleaseNotification };

/** One notifier's progress through the log; `exclusive` keeps the poll loop and `drain()` from overlapping. */
class Lane {
  cursor = 0;
  private chain: Promise<unknown> = Promise.resolve();
  constructor(readonly notifier: Notifier) {}
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

/**
 * Follows the event log and sends each notification to each notifier that wants it, with
 * retries, backoff and a time limit per attempt. Every notifier runs on its own, so a slow or
 * unreachable one delays only itself.
 *
 * Without a cursor (first start, or a notifier added since) a notifier starts at the end of
 * the log: history is not replayed. Run one dispatcher per store at a time: with replicas,
 * the one holding the background lease (see `guard`).
 *
 * @example
 * ```ts
 * const dispatcher = new NotificationDispatcher({ store, config, stateDir: config.stateDir,
 *   readDeployment: (id) => orchestrator.getDeployment(id) });
 * await dispatcher.start();
 * // …
 * await dispatcher.stop();
 * ```
 */
export class NotificationDispatcher {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly backoffMs: number;
  private readonly cursorPath: string;
  private readonly lanes: Lane[];
  private initialized: Promise<void> | null = null;
  private ac: AbortController | null = null;
  private loops: Promise<void>[] = [];
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly opts: NotificationDispatcherOptions) {
    this.store = opts.store;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silent;
    this.pollMs = opts.pollMs ?? 1000;
    this.backoffMs = opts.backoffMs ?? 1000;
    this.cursorPath = join(opts.stateDir, CURSOR_FILE);
    const notifiers = opts.notifiers ?? createNotifiers(opts.config.notifications, { store: opts.store, now: () => this.clock.now() });
    this.lanes = notifiers.map((n) => new Lane(n));
  }

  /** Loads the cursors and starts following the log. Idempotent. */
  async start(): Promise<void> {
    if (this.ac) return;
    // Positions are read again at every start: another replica may have moved them meanwhile.
    this.initialized = null;
    await this.init();
    const ac = this.ac = new AbortController();
    this.loops = this.lanes.map((lane) => this.follow(lane, ac.signal));
  }

  /**
   * Stops following the log. An attempt in flight is abandoned and its notification is not
   * marked settled, so the next start sends it again. Idempotent.
   */
  async stop(): Promise<void> {
    const ac = this.ac;
    if (!ac) return;
    ac.abort(new Error('notification dispatcher stopped'));
    await Promise.all(this.loops);
    this.ac = null;
    this.loops = [];
    await this.writes;
  }

  /** Sends everything the log holds now, retries included, and resolves when every notifier has caught up. */
  async drain(): Promise<void> {
    await this.init();
    const signal = this.ac?.signal ?? new AbortController().signal;
    await Promise.all(this.lanes.map((lane) => lane.exclusive(() => this.pass(lane, signal))));
    await this.writes;
  }

  /** The id of the last event each notifier has settled (for tests and diagnostics). */
  cursors(): Record<string, number> {
    return Object.fromEntries(this.lanes.map((l) => [l.notifier.name, l.cursor]));
  }

  private init(): Promise<void> {
    this.initialized ??= this.loadCursor().catch((err: unknown) => {
      this.initialized = null;
      throw err;
    });
    return this.initialized;
  }

  private async loadCursor(): Promise<void> {
    const saved: Record<string, number> = {};
    for (const lane of this.lanes) {
      const position = await this.store.getCursor(cursorName(lane.notifier.name));
      if (position !== undefined) saved[lane.notifier.name] = position;
    }
    const legacy = this.lanes.some((l) => saved[l.notifier.name] === undefined) ? await this.readLegacyCursor() : null;
    for (const [name, position] of Object.entries(legacy ?? {})) saved[name] ??= position;
    const missing = this.lanes.filter((l) => saved[l.notifier.name] === undefined);
    const end = missing.length > 0 ? await this.lastEventId() : 0;
    for (const lane of this.lanes) lane.cursor = saved[lane.notifier.name] ?? end;
    // Persist at once: a notifier that starts at the end of the log must resume from there, not from a later end.
    await this.saveCursor(this.lanes);
    if (legacy) await rm(this.cursorPath, { force: true });
  }

  /** The cursor file earlier versions kept in the state folder, or null when there is none. */
  private async readLegacyCursor(): Promise<Record<string, number> | null> {
    let text: string;
    try {
      text = await readFile(this.cursorPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let parsed: z.infer<typeof cursorFileSchema> | null = null;
    try {
      parsed = cursorFileSchema.parse(JSON.parse(text));
    } catch {
      parsed = null;
    }
    if (!parsed) {
      // Guessing a position would either resend history or drop notifications; ask instead.
      throw new GangwayError('internal', `${this.cursorPath} is not a valid notification cursor`,
        'delete it to resume notifications from the end of the event log (notifications since the last run are then not sent)');
    }
    return parsed.notifiers;
  }

  private async lastEventId(): Promise<number> {
    let last = 0;
    for (;;) {
      const page = await this.store.listEvents({ afterId: last, limit: PAGE });
      if (page.length === 0) return last;
      last = page[page.length - 1]!.id;
    }
  }

  /** Saves the lanes' cursors in the store; throws when the background lease was lost (nothing saved). */
  private saveCursor(lanes: Lane[]): Promise<void> {
    const positions = lanes.map((l) => [cursorName(l.notifier.name), l.cursor] as const);
    const next = this.writes.then(async () => {
      const guard = this.opts.guard?.();
      if (guard === null) throw new GangwayError('conflict', 'notifications: this orchestrator no longer holds the background lease');
      for (const [name, position] of positions) {
        if (!(await this.store.setCursor(name, position, guard))) {
          throw new GangwayError('conflict', 'notifications: this orchestrator no longer holds the background lease');
        }
      }
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  private async follow(lane: Lane, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await lane.exclusive(() => this.pass(lane, signal));
      } catch (err) {
        if (!signal.aborted) this.log.warn({ notifier: lane.notifier.name, err: errorText(err) }, 'notifications: reading the event log failed; trying again');
      }
      try {
        await this.clock.sleep(this.pollMs, signal);
      } catch {
        return;
      }
    }
  }

  /** Settles every event after the lane's cursor, page by page, until the log is exhausted. */
  private async pass(lane: Lane, signal: AbortSignal): Promise<void> {
    for (;;) {
      const events = await this.store.listEvents({ afterId: lane.cursor, limit: PAGE });
      let moved = false;
      for (const e of events) {
        if (signal.aborted) break;
        const n = await this.outgoingFor(e, lane.notifier);
        if (n) {
          const settled = await this.deliver(lane.notifier, n, signal);
          if (!settled) break;
        }
        lane.cursor = e.id;
        moved = true;
        if (n) await this.saveCursor([lane]);
      }
      if (moved) await this.saveCursor([lane]);
      if (signal.aborted || events.length < PAGE) return;
    }
  }

  /** What `e` has `notifier` send, or null. */
  private async outgoingFor(e: EventRecord, notifier: Notifier): Promise<Outgoing | null> {
    if (releaseEndOf(e) !== null) {
      const readRelease = this.opts.readRelease ?? ((id: string) => readReleaseSummary(this.store, id));
      const n = await releaseNotificationFor(e, notifier, readRelease, this.log);
      return n ? { kind: 'release', n } : null;
    }
    const n = await this.notificationFor(e, notifier);
    return n ? { kind: 'deployment', n } : null;
  }

  /** The notification `e` stands for when `notifier` wants it, or null. */
  private async notificationFor(e: EventRecord, notifier: Notifier): Promise<Notification | null> {
    if (isAlertEvent(e)) return alertNotificationFor(e, notifier, this.opts.readDeployment, this.log);
    if (e.type !== 'deployment.phase' || e.deploymentId === null) return null;
    const firstRun = e.data.to === 'running' ? await this.isFirstRun(e) : false;
    const event = notifyEventOf(e.data, firstRun);
    if (event === null || !notifier.events.includes(event)) return null;
    let d: DeploymentView;
    try {
      d = await this.opts.readDeployment(e.deploymentId);
    } catch (err) {
      if (err instanceof NotFoundError) {
        this.log.warn({ notifier: notifier.name, deployment: e.deploymentId, event: e.id }, 'notifications: deployment not found; skipped');
        return null;
      }
      throw err;
    }
    const to = e.data.to as DeploymentPhase;
    const said = typeof e.data.message === 'string' ? e.data.message : null;
    let message: string | null = null;
    if (event === 'waiting' || event === 'failed' || event === 'rolled_back' || event === 'superseded') {
      message = said ?? (to === 'aborted' && typeof e.data.actor === 'string' ? `aborted by ${e.data.actor}` : d.message);
    }
    const final = FINAL_PHASES.includes(to);
    return {
      event,
      eventId: e.id,
      at: e.at,
      deployment: {
        id: d.id, service: d.service, environment: d.environment, version: d.version, image: d.image,
        phase: to, actor: d.actor, reason: d.reason, message, createdAt: d.createdAt,
        finishedAt: final ? d.finishedAt ?? e.at : null,
      },
      rolledBackTo: event === 'rolled_back' ? d.previousVersion : null,
    };
  }

  private async isFirstRun(e: EventRecord): Promise<boolean> {
    const earlier = await this.store.listEvents({ deploymentId: e.deploymentId! });
    return !earlier.some((h) => h.id < e.id && h.type === 'deployment.phase' && h.data.to === 'running');
  }

  /**
   * Attempts delivery up to 1 + `retries` times and records the outcome. Returns false when
   * the dispatcher stopped first (nothing recorded; the notification stays unsettled).
   */
  private async deliver(notifier: Notifier, out: Outgoing, stop: AbortSignal): Promise<boolean> {
    const n = out.n;
    // A release's outcome is an event of the log without a deployment; `group` names the release, as on the group's own events.
    const about = out.kind === 'release'
      ? { id: out.n.release.id, deploymentId: null, data: { group: out.n.release.id }, log: { release: out.n.release.id } }
      : { id: out.n.deployment.id, deploymentId: out.n.deployment.id, data: {}, log: { deployment: out.n.deployment.id } };
    const deliveryId = deliveryIdOf(notifier.name, about.id, n.eventId);
    const attempts = 1 + Math.max(0, notifier.retries);
    let error = '';
    let attempt = 0;
    while (attempt < attempts) {
      attempt++;
      const r = await this.attempt(notifier, out, { attempt, deliveryId }, stop);
      // A delivery that completed is recorded even while stopping; anything else stays unsettled.
      if (stop.aborted && r.result !== 'delivered') return false;
      if (r.result === 'delivered') {
        await this.store.appendEvents([{ deploymentId: about.deploymentId, at: this.clock.now(), type: 'notification.sent',
          data: { notifier: notifier.name, event: n.event, attempt, eventId: n.eventId, ...about.data } }]);
        this.log.info({ notifier: notifier.name, ...about.log, event: n.event, attempt }, 'notification sent');
        return true;
      }
      error = r.error;
      if (r.result === 'failed' || attempt >= attempts) break;
      this.log.warn({ notifier: notifier.name, ...about.log, event: n.event, attempt, err: error }, 'notification not delivered; retrying');
      const wait = Math.min(MAX_BACKOFF_MS, Math.max(this.backoffMs * 2 ** (attempt - 1), r.retryAfterMs ?? 0));
      try {
        await this.clock.sleep(wait, stop);
      } catch {
        return false;
      }
    }
    await this.store.appendEvents([{ deploymentId: about.deploymentId, at: this.clock.now(), type: 'notification.failed',
      data: { notifier: notifier.name, event: n.event, attempts: attempt, error, eventId: n.eventId, ...about.data } }]);
    this.log.error({ notifier: notifier.name, ...about.log, event: n.event, attempts: attempt, err: error }, 'notification not delivered');
    return true;
  }

  /** One attempt, bounded by the notifier's time limit even when the adapter ignores its signal. */
  private async attempt(notifier: Notifier, out: Outgoing, ctx: { attempt: number; deliveryId: string }, stop: AbortSignal): Promise<DeliveryResult> {
    const timeout = new AbortController();
    const timedOut = `timed out after ${notifier.timeoutMs} ms`;
    const signal = AbortSignal.any([stop, timeout.signal]);
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<DeliveryResult>((resolve) => {
      timer = setTimeout(() => {
        timeout.abort(new Error(timedOut));
        resolve({ result: 'retry', error: timedOut });
      }, notifier.timeoutMs);
    });
    let onStop: (() => void) | undefined;
    const stopped = new Promise<DeliveryResult>((resolve) => {
      onStop = () => resolve({ result: 'retry', error: 'stopped' });
      if (stop.aborted) onStop();
      else stop.addEventListener('abort', onStop, { once: true });
    });
    try {
      const sent = send(notifier, out, { ...ctx, signal }).catch((err: unknown): DeliveryResult => ({ result: 'retry', error: errorText(err) }));
      const r = await Promise.race([sent, limit, stopped]);
      return timeout.signal.aborted && r.result !== 'delivered' ? { result: 'retry', error: timedOut } : r;
    } finally {
      clearTimeout(timer);
      if (onStop) stop.removeEventListener('abort', onStop);
    }
  }
}

/** One attempt by the adapter's method for what is sent (a notifier without `sendRelease` is never handed a release). */
function send(notifier: Notifier, out: Outgoing, ctx: SendContext): Promise<DeliveryResult> {
  if (out.kind === 'deployment') return notifier.send(out.n, ctx);
  if (!notifier.sendRelease) return Promise.resolve({ result: 'failed', error: `notifier ${notifier.name} cannot send release notifications` });
  return notifier.sendRelease(out.n, ctx);
}

/** The store cursor of one notifier. */
function cursorName(notifier: string): string {
  return `notifications:${notifier}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
