/**
 * Release notifications: the event that ends a release of several services (`group.succeeded`,
 * `group.failed`, `group.rolled_back`) becomes one notification about the release as a whole,
 * for the notifiers that can send one (`sendRelease`) and want its outcome (`events`).
 */
import type { NotifyEvent } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import { NotFoundError } from '../errors.js';
import { releaseEndOf, type ReleaseSummary } from '../releases/release-view.js';
import type { EventRecord } from '../store/types.js';
import type { Notifier, ReleaseNotification, ReleaseNotifyEvent } from './types.js';

/**
 * The notification of a release's end for `notifier`, or null when `e` ends no release, the
 * notifier cannot send release notifications or does not want this outcome, or the release is
 * gone.
 *
 * @example
 * ```ts
 * await releaseNotificationFor(event, notifier, (id) => readReleaseSummary(store, id));
 * // { kind: 'release', event: 'release.rolled_back', release: { id: 'r-…', services: [{ service: 'auth', outcome: 'succeeded', … }] }, … }
 * ```
 */
export async function releaseNotificationFor(
  e: EventRecord, notifier: Pick<Notifier, 'name' | 'events' | 'sendRelease'>, readRelease: (id: string) => Promise<ReleaseSummary>, log?: Logger,
): Promise<ReleaseNotification | null> {
  const end = releaseEndOf(e);
  if (end === null || notifier.sendRelease === undefined || !notifier.events.includes(end.outcome satisfies NotifyEvent)) return null;
  let r: ReleaseSummary;
  try {
    r = await readRelease(end.release);
  } catch (err) {
    if (err instanceof NotFoundError) {
      log?.warn({ notifier: notifier.name, release: end.release, event: e.id }, 'notifications: release not found; skipped');
      return null;
    }
    throw err;
  }
  // The event says how the release ended and why; the release itself is final by then, so its members are too.
  const said = typeof e.data.message === 'string' ? e.data.message : null;
  return {
    kind: 'release',
    event: `release.${end.outcome}` satisfies ReleaseNotifyEvent,
    eventId: e.id,
    at: e.at,
    release: {
      id: r.id, environment: r.environment, kind: r.kind, phase: end.outcome, onFailure: r.onFailure, actor: r.actor, reason: r.reason,
      message: end.outcome === 'succeeded' ? null : said ?? r.message,
      services: r.services.map((s) => ({
        service: s.service, version: s.version, image: s.image, deploymentId: s.deploymentId, outcome: s.state, message: s.message,
        rollback: s.rollback ? { deploymentId: s.rollback.id, phase: s.rollback.phase, version: s.rollback.version } : null,
      })),
      createdAt: r.createdAt, startedAt: r.startedAt, finishedAt: r.finishedAt ?? e.at,
    },
  };
}
