/**
 * The notifier port: what a notification says, what one delivery attempt comes to, and the
 * interface every adapter (webhook, Slack, GitHub) implements. The dispatcher in
 * notifier.ts drives the adapters; adapters import only this file, never the dispatcher.
 */
import type { NotifierConfig, NotifyEvent } from '../config/types.js';
import type { DeploymentPhase, GroupFailurePolicy, Store } from '../store/types.js';

/** The deployment as a notification describes it: its state at the moment of the event. */
export interface NotificationDeployment {
  id: string;
  service: string;
  environment: string;
  version: string;
  /** The pinned image (`repo@sha256:…`), or null for a version-only release. */
  image: string | null;
  /** The phase the event moved the deployment to (not the phase it may have reached since). */
  phase: DeploymentPhase;
  actor: string;
  /** Why the deployment was requested (change ticket), or null. */
  reason: string | null;
  /** What the event says: the gate a `waiting` deployment waits for, why a deployment failed or was rolled back; null otherwise. */
  message: string | null;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds; null until the event that ends the deployment. */
  finishedAt: number | null;
}

/** The notifications of alert tiers (docs/alerts.md): sent to a tier's channels, whatever their `events`. */
export type AlertNotifyEvent = 'alert.fired' | 'alert.resolved';

/** What an alert notification says about the alert. */
export interface NotificationAlert {
  /** The tier, e.g. `p0`. */
  tier: string;
  /** What the tier does when it fires: `rollback`, `freeze` or `none`. */
  action: string;
  /** Fired: the conditions that held and for how long; resolved: why it is over. */
  reason: string;
  /** Each condition that held when the tier fired, with the values measured (empty for `alert.resolved`). */
  conditions: Array<{ name: string; reason: string }>;
  /** When the episode began (epoch milliseconds). */
  firedAt: number;
  /** When it ended; null while it fires. */
  resolvedAt: number | null;
}

/** One notification: an outcome people are told about, for one deployment. */
export interface Notification {
  event: NotifyEvent | AlertNotifyEvent;
  /** For `alert.fired` / `alert.resolved`: the alert. */
  alert?: NotificationAlert;
  /** Id of the `deployment.phase` (or `alert.*`) event it comes from. */
  eventId: number;
  /** When the event happened (epoch milliseconds). */
  at: number;
  deployment: NotificationDeployment;
  /** For `rolled_back`: the release the environment went back to; null otherwise or when unknown. */
  rolledBackTo: string | null;
}

/** The notifications of a release of several services (docs/releases.md), sent when it ends. */
export type ReleaseNotifyEvent = 'release.succeeded' | 'release.failed' | 'release.rolled_back';

/** One service of a release, as a release notification describes it. */
export interface NotificationReleaseService {
  service: string;
  version: string;
  /** The pinned image its deployment ran, or null for a version-only release. */
  image: string | null;
  /** Its deployment in the release; null when the service already ran this release. */
  deploymentId: string | null;
  /** How its deployment ended (`succeeded`, `failed`, `rolled_back`, `aborted`, `superseded`); `unchanged` when nothing was deployed. */
  outcome: DeploymentPhase | 'unchanged' | 'held';
  /** Why its deployment ended as it did (`not started: api failed in release r-…`), or null. */
  message: string | null;
  /** The rollback the release ran for it after another service failed, or null. */
  rollback: { deploymentId: string; phase: DeploymentPhase; version: string } | null;
}

/** The release as a release notification describes it, at its end. */
export interface NotificationRelease {
  id: string;
  environment: string;
  /** `deploy`: versions named in the request; `promote`: the set that last succeeded in the promotion source. */
  kind: 'deploy' | 'promote';
  /** How it ended. */
  phase: 'succeeded' | 'failed' | 'rolled_back';
  onFailure: GroupFailurePolicy;
  actor: string;
  reason: string | null;
  /** Why it failed or was rolled back (`api rolled back (health failed); rolled back web, auth`); null when it succeeded. */
  message: string | null;
  /** In dependency order. */
  services: NotificationReleaseService[];
  /** Epoch milliseconds. */
  createdAt: number;
  startedAt: number | null;
  finishedAt: number;
}

/** One notification about a release of several services as a whole (its services' deployments notify on their own). */
export interface ReleaseNotification {
  kind: 'release';
  event: ReleaseNotifyEvent;
  /** Id of the `group.succeeded`, `group.failed` or `group.rolled_back` event it comes from. */
  eventId: number;
  /** When the event happened (epoch milliseconds). */
  at: number;
  release: NotificationRelease;
}

/**
 * What one delivery attempt came to. Expected outcomes are data: a notifier returns them
 * rather than throwing.
 */
export type DeliveryResult =
  | { result: 'delivered' }
  /** Worth trying again (5xx, 408, 429, timeout, connection error); `retryAfterMs` when the receiver said how long to wait. */
  | { result: 'retry'; error: string; retryAfterMs?: number }
  /** Trying again cannot help (a 4xx other than 408/429, a redirect, a rejected request). */
  | { result: 'failed'; error: string };

/** What the dispatcher hands a notifier with each attempt. */
export interface SendContext {
  /** 1 for the first attempt. */
  attempt: number;
  /**
   * Unique per (notifier, notification) and the same on every attempt and after a restart,
   * so a receiver can drop duplicates of at-least-once delivery.
   */
  deliveryId: string;
  /** Aborts when the attempt times out (`timeoutMs`) or the dispatcher stops. */
  signal: AbortSignal;
}

/**
 * The notifier port: one destination for notifications (a webhook, a Slack channel, GitHub
 * deployments).
 *
 * @example
 * ```ts
 * const log: Notifier = {
 *   name: 'log', kind: 'webhook', events: ['failed'], retries: 0, timeoutMs: 1000,
 *   async send(n) { console.log(n.event, n.deployment.id); return { result: 'delivered' }; },
 * };
 * ```
 */
export interface Notifier {
  /** Unique among the configured notifiers; names it in records and in the cursor file. */
  readonly name: string;
  readonly kind: NotifierConfig['kind'];
  /** The notifications it sends; others are skipped. */
  readonly events: readonly NotifyEvent[];
  /** Further attempts after a failed one that may be retried. */
  readonly retries: number;
  /** Limit of one attempt; the dispatcher abandons an attempt that takes longer. */
  readonly timeoutMs: number;
  /**
   * Makes one delivery attempt. Not idempotent on the receiver's side in general (a webhook
   * receives a retried notification again, with the same `deliveryId`); an adapter that keeps
   * remote state (GitHub) makes its own part idempotent. Returns the outcome; a throw counts
   * as a failure that may be retried. Must honour `ctx.signal`.
   */
  send(n: Notification, ctx: SendContext): Promise<DeliveryResult>;
  /**
   * Makes one delivery attempt of a release notification, as `send` does. Optional: a notifier
   * without it is not told about releases (GitHub: a deployment status belongs to one
   * service's deployment, and each service's deployment has its own). A release notification
   * is sent when the outcome it ends with (`succeeded`, `failed`, `rolled_back`) is in `events`.
   */
  sendRelease?(n: ReleaseNotification, ctx: SendContext): Promise<DeliveryResult>;
}

/** What adapters may need besides their config. */
export interface NotifierDeps {
  /** GitHub keeps the id of the GitHub deployment it created for each Gangway deployment in the event log. */
  store: Store;
  /** Time of the records adapters append; default `Date.now`. */
  now?: () => number;
}
