/**
 * A release group as people see it — the group row with each member's deployment, state,
 * current step and rollback — read from the store alone. One reader for the API
 * (`GET /v1/releases/:id`) and for what follows the event log beside the engine (release
 * notifications, release records), so they all describe a release the same way; and which
 * events of the log end a release.
 */
import type { ReleaseServiceView, ReleaseView } from '../engine/types.js';
import { NotFoundError } from '../errors.js';
import type { DeploymentRecord, EventRecord, ReleaseGroupRecord, Store } from '../store/types.js';
import { FINAL_PHASES } from '../store/types.js';
import { rollbackIdOf } from './group-plan.js';

/** One service of a {@link ReleaseSummary}: its view, plus the release its deployment ran. */
export interface ReleaseServiceSummary extends ReleaseServiceView {
  /** The pinned image its deployment ran (`repo@sha256:…`), else the one the release named; null for a version-only release. */
  image: string | null;
}

/** A release as notifications and records describe it: the API's view with each service's image. */
export interface ReleaseSummary extends ReleaseView {
  services: ReleaseServiceSummary[];
}

/** The part of the store the readers use. */
export type ReleaseReadStore = Pick<Store, 'getReleaseGroup' | 'listDeployments' | 'getSteps'>;

/**
 * The summary of group `g`: its services in dependency order with their deployments' states.
 *
 * @example
 * ```ts
 * const s = await releaseSummaryOf(store, group);
 * s.services.map((x) => `${x.service} ${x.version} ${x.state}`); // ['auth 1.4.0 succeeded', 'api 1.4.0 rolled_back']
 * ```
 */
export async function releaseSummaryOf(store: Pick<Store, 'listDeployments' | 'getSteps'>, g: ReleaseGroupRecord): Promise<ReleaseSummary> {
  const deployments = new Map<string, DeploymentRecord>((await store.listDeployments({ groupId: g.id })).map((d) => [d.id, d]));
  const services: ReleaseServiceSummary[] = [];
  for (const m of g.members) {
    const d = m.deploymentId ? deployments.get(m.deploymentId) : undefined;
    const rb = m.deploymentId ? deployments.get(rollbackIdOf(m.deploymentId)) : undefined;
    let step: string | null = null;
    if (d && !FINAL_PHASES.includes(d.phase) && d.phase !== 'queued') {
      const steps = await store.getSteps(d.id);
      step = steps[d.currentStep]?.title ?? null;
    }
    services.push({
      service: m.service, version: m.version, image: d?.image ?? m.image, dependsOn: m.dependsOn, deploymentId: m.deploymentId,
      state: !d ? 'unchanged' : d.phase === 'queued' && d.groupHeld ? 'held' : d.phase,
      step, startedAt: d?.startedAt ?? null, finishedAt: d?.finishedAt ?? null, message: d?.message ?? null,
      rollback: rb ? { id: rb.id, phase: rb.phase, version: rb.version } : null,
    });
  }
  return {
    id: g.id, environment: g.environment, kind: g.kind, phase: g.phase, onFailure: g.onFailure, actor: g.actor, reason: g.reason,
    message: g.message, createdAt: g.createdAt, startedAt: g.startedAt, finishedAt: g.finishedAt, services,
  };
}

/**
 * The API's view of group `g` (`GET /v1/releases/:id`): the summary without the images.
 *
 * @example
 * ```ts
 * const view = await releaseViewOf(store, group); // { id: 'r-…', phase: 'running', services: [{ service: 'auth', state: 'succeeded', … }] }
 * ```
 */
export async function releaseViewOf(store: Pick<Store, 'listDeployments' | 'getSteps'>, g: ReleaseGroupRecord): Promise<ReleaseView> {
  const s = await releaseSummaryOf(store, g);
  return { ...s, services: s.services.map(({ image: _image, ...rest }) => rest) };
}

/**
 * The summary of release `id`.
 *
 * @throws NotFoundError when there is no such release.
 * @example
 * ```ts
 * await readReleaseSummary(store, 'r-m3x9k2-5c1f0a2b'); // { id: 'r-m3x9k2-5c1f0a2b', environment: 'dev', … }
 * ```
 */
export async function readReleaseSummary(store: ReleaseReadStore, id: string): Promise<ReleaseSummary> {
  const g = await store.getReleaseGroup(id);
  if (!g) throw releaseNotFound(id);
  return releaseSummaryOf(store, g);
}

/** The error for a release id that names no release. */
export function releaseNotFound(id: string): NotFoundError {
  return new NotFoundError(`release ${id} not found`, 'list releases with GET /v1/releases or `gangway history`');
}

/** The outcome each event that ends a release stands for. */
const ENDS: Readonly<Record<string, 'succeeded' | 'failed' | 'rolled_back'>> = {
  'group.succeeded': 'succeeded',
  'group.failed': 'failed',
  'group.rolled_back': 'rolled_back',
};

/**
 * The release `e` ends and how, or null when `e` ends no release.
 *
 * @example
 * ```ts
 * releaseEndOf({ type: 'group.rolled_back', data: { group: 'r-1' } }); // { release: 'r-1', outcome: 'rolled_back' }
 * releaseEndOf({ type: 'group.started', data: { group: 'r-1' } });     // null
 * ```
 */
export function releaseEndOf(e: Pick<EventRecord, 'type' | 'data'>): { release: string; outcome: 'succeeded' | 'failed' | 'rolled_back' } | null {
  const outcome = Object.hasOwn(ENDS, e.type) ? ENDS[e.type] : undefined;
  return outcome !== undefined && typeof e.data.group === 'string' ? { release: e.data.group, outcome } : null;
}
