/**
 * Alert notifications: an `alert.fired` or `alert.resolved` event of the log (src/alerts)
 * becomes a notification for the notifiers its tier names as channels — and only for them,
 * whatever their `events` — with the deployment it concerns as it is at that moment.
 */
import type { DeploymentView } from '../engine/types.js';
import { NotFoundError } from '../errors.js';
import { FINAL_PHASES } from '../store/types.js';
import type { EventRecord } from '../store/types.js';
import type { Logger } from '../core/logger.js';
import type { AlertNotifyEvent, Notification, Notifier } from './types.js';

/** Whether `e` is an event of an alert tier. */
export function isAlertEvent(e: Pick<EventRecord, 'type'>): e is EventRecord & { type: AlertNotifyEvent } {
  return e.type === 'alert.fired' || e.type === 'alert.resolved';
}

/**
 * The notification of an alert event for `notifier`, or null when its tier does not name the
 * notifier or the deployment is gone.
 *
 * @example
 * await alertNotificationFor(event, notifier, readDeployment); // { event: 'alert.fired', alert: { tier: 'p0', … }, … }
 */
export async function alertNotificationFor(
  e: EventRecord, notifier: Pick<Notifier, 'name'>, readDeployment: (id: string) => Promise<DeploymentView>, log?: Logger,
): Promise<Notification | null> {
  if (!isAlertEvent(e) || e.deploymentId === null) return null;
  const channels = Array.isArray(e.data.channels) ? e.data.channels : [];
  if (!channels.includes(notifier.name)) return null;
  let d: DeploymentView;
  try {
    d = await readDeployment(e.deploymentId);
  } catch (err) {
    if (err instanceof NotFoundError) {
      log?.warn({ notifier: notifier.name, deployment: e.deploymentId, event: e.id }, 'notifications: deployment not found; skipped');
      return null;
    }
    throw err;
  }
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  const fired = e.type === 'alert.fired';
  const conditions = fired && Array.isArray(e.data.conditions)
    ? (e.data.conditions as Array<Record<string, unknown>>).map((c) => ({ name: text(c.name), reason: text(c.reason) }))
    : [];
  const reason = text(e.data.reason);
  return {
    event: e.type,
    eventId: e.id,
    at: e.at,
    alert: {
      tier: text(e.data.tier), action: text(e.data.action), reason, conditions,
      firedAt: fired ? e.at : Number(e.data.firedAt ?? e.at), resolvedAt: fired ? null : e.at,
    },
    deployment: {
      id: d.id, service: d.service, environment: d.environment, version: d.version, image: d.image,
      phase: d.phase, actor: d.actor, reason: d.reason, message: `alert ${text(e.data.tier)} ${fired ? 'fired' : 'resolved'}: ${reason}`,
      createdAt: d.createdAt, finishedAt: FINAL_PHASES.includes(d.phase) ? d.finishedAt : null,
    },
    rolledBackTo: null,
  };
}
