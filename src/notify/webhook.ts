/**
 * Webhook notifier: a JSON POST per notification, signed with HMAC-SHA256 when a secret is
 * set (the scheme of GitHub's webhooks, under Gangway's header names). Also the HTTP delivery
 * the Slack notifier shares.
 */
import { createHmac } from 'node:crypto';
import type { NotifierConfig, NotifyEvent } from '../config/types.js';
import { GANGWAY_VERSION } from '../version.js';
import type {
  AlertNotifyEvent, DeliveryResult, Notification, NotificationAlert, NotificationDeployment, NotificationRelease, Notifier, ReleaseNotification,
  ReleaseNotifyEvent, SendContext,
} from './types.js';

/** The body of a webhook notification about a deployment. */
export interface WebhookPayload {
  /** What the notification is about: one deployment (`release` for a {@link ReleaseWebhookPayload}). */
  kind: 'deployment';
  event: NotifyEvent | AlertNotifyEvent;
  deployment: NotificationDeployment;
  /** For `alert.fired` / `alert.resolved` only: the alert (docs/alerts.md). */
  alert?: NotificationAlert;
  /** When the event happened, epoch milliseconds. */
  at: number;
}

/** The body of a webhook notification about a release of several services as a whole (docs/notifications.md). */
export interface ReleaseWebhookPayload {
  kind: 'release';
  event: ReleaseNotifyEvent;
  release: NotificationRelease;
  /** When the release ended, epoch milliseconds. */
  at: number;
}

/** User-Agent of every notification request. */
export const USER_AGENT = `Gangway/${GANGWAY_VERSION}`;

const EXCERPT_CHARS = 200;
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * The JSON body of a notification.
 *
 * @example
 * ```ts
 * JSON.stringify(webhookPayload(n)); // {"kind":"deployment","event":"succeeded","deployment":{"id":…},"at":1718000000000}
 * ```
 */
export function webhookPayload(n: Notification): WebhookPayload {
  const d = n.deployment;
  return {
    kind: 'deployment',
    event: n.event,
    deployment: {
      id: d.id, service: d.service, environment: d.environment, version: d.version, image: d.image, phase: d.phase,
      actor: d.actor, reason: d.reason, message: d.message, createdAt: d.createdAt, finishedAt: d.finishedAt,
    },
    at: n.at,
    ...(n.alert ? { alert: { ...n.alert, conditions: n.alert.conditions.map((c) => ({ ...c })) } } : {}),
  };
}

/**
 * The JSON body of a release notification: the release, its services in dependency order.
 *
 * @example
 * ```ts
 * JSON.stringify(releaseWebhookPayload(n)); // {"kind":"release","event":"release.succeeded","release":{"id":"r-…","services":[…]},"at":1718000000000}
 * ```
 */
export function releaseWebhookPayload(n: ReleaseNotification): ReleaseWebhookPayload {
  const r = n.release;
  return {
    kind: 'release',
    event: n.event,
    release: {
      id: r.id, environment: r.environment, kind: r.kind, phase: r.phase, onFailure: r.onFailure, actor: r.actor, reason: r.reason, message: r.message,
      services: r.services.map((s) => ({
        service: s.service, version: s.version, image: s.image, deploymentId: s.deploymentId, outcome: s.outcome, message: s.message,
        rollback: s.rollback ? { ...s.rollback } : null,
      })),
      createdAt: r.createdAt, startedAt: r.startedAt, finishedAt: r.finishedAt,
    },
    at: n.at,
  };
}

/**
 * The `X-Gangway-Signature` value of a body: `sha256=` and the hex HMAC-SHA256 of the exact
 * bytes sent, keyed with the secret.
 *
 * @example
 * ```ts
 * signBody('s3cret', '{"event":"started"}'); // 'sha256=…'
 * ```
 */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/**
 * What an HTTP answer means for delivery: 2xx delivered; 408, 429 and 5xx worth retrying
 * (honouring `Retry-After`); any other status — redirects included, since a signed
 * notification is not re-sent elsewhere — a permanent failure.
 */
export function classifyResponse(status: number, statusText: string, excerpt: string, retryAfter: string | null, now = Date.now()): DeliveryResult {
  if (status >= 200 && status < 300) return { result: 'delivered' };
  const error = `HTTP ${status}${statusText ? ` ${statusText}` : ''}${excerpt ? `: ${excerpt}` : ''}`;
  if (status === 408 || status === 429 || status >= 500) {
    const wait = retryAfterMs(retryAfter, now);
    return wait === undefined ? { result: 'retry', error } : { result: 'retry', error, retryAfterMs: wait };
  }
  if (status >= 300 && status < 400) return { result: 'failed', error: `${error} (redirects are not followed; configure the final URL)` };
  return { result: 'failed', error };
}

function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(MAX_RETRY_AFTER_MS, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, date - now));
}

/**
 * POSTs `body` and classifies the outcome. Error texts never contain the URL: Slack's and many
 * webhook URLs carry their secret in the path or query.
 */
export async function postJson(url: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<DeliveryResult> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST', body, signal, redirect: 'manual',
      headers: { 'Content-Type': 'application/json', 'User-Agent': USER_AGENT, ...headers },
    });
  } catch (err) {
    return { result: 'retry', error: connectionError(err, signal) };
  }
  let text = '';
  try {
    text = await res.text();
  } catch {
    // The status decides; a body cut short only loses the excerpt.
  }
  return classifyResponse(res.status, res.statusText, excerptOf(text), res.headers.get('retry-after'));
}

/** A short, single-line excerpt of a response body for records. */
export function excerptOf(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > EXCERPT_CHARS ? `${line.slice(0, EXCERPT_CHARS)}…` : line;
}

/** Names a failed connection by its cause (ECONNREFUSED, ENOTFOUND, …), never by the URL. */
export function connectionError(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'request aborted';
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === 'string') return `connection failed (${cause.code})`;
  if (cause && typeof cause.message === 'string') return `connection failed (${cause.message})`;
  return `connection failed (${err instanceof Error ? err.message : String(err)})`;
}

type WebhookConfig = Extract<NotifierConfig, { kind: 'webhook' }>;

/**
 * Sends each notification as a JSON POST with `X-Gangway-Event`, `X-Gangway-Delivery` and,
 * with a secret, `X-Gangway-Signature`.
 *
 * @example
 * ```ts
 * const hook = new WebhookNotifier({ kind: 'webhook', name: 'ops', url: 'https://ops.example/hooks/gangway',
 *   secret: process.env.OPS_HOOK_SECRET ?? null, events: ['failed', 'rolled_back'], timeoutMs: 5000, retries: 3 });
 * ```
 */
export class WebhookNotifier implements Notifier {
  readonly kind = 'webhook';
  readonly name: string;
  readonly events: readonly NotifyEvent[];
  readonly retries: number;
  readonly timeoutMs: number;
  readonly #url: string;
  readonly #secret: string | null;

  constructor(cfg: WebhookConfig) {
    this.name = cfg.name;
    this.events = [...cfg.events];
    this.retries = cfg.retries;
    this.timeoutMs = cfg.timeoutMs;
    // Private fields: the URL and secret must not reach logs through a serialised notifier.
    this.#url = cfg.url;
    this.#secret = cfg.secret;
  }

  /** Not idempotent on the receiver's side: a retry carries the same `X-Gangway-Delivery` for deduplication. */
  async send(n: Notification, ctx: SendContext): Promise<DeliveryResult> {
    return this.post(n.event, JSON.stringify(webhookPayload(n)), ctx);
  }

  /** As `send`, for the end of a release of several services (`X-Gangway-Event: release.succeeded`, …). */
  async sendRelease(n: ReleaseNotification, ctx: SendContext): Promise<DeliveryResult> {
    return this.post(n.event, JSON.stringify(releaseWebhookPayload(n)), ctx);
  }

  private post(event: string, body: string, ctx: SendContext): Promise<DeliveryResult> {
    const headers: Record<string, string> = { 'X-Gangway-Event': event, 'X-Gangway-Delivery': ctx.deliveryId };
    if (this.#secret) headers['X-Gangway-Signature'] = signBody(this.#secret, body);
    return postJson(this.#url, body, headers, ctx.signal);
  }
}
