/**
 * What a subscription looks like from outside (`gangway autodeploy status`, the `autoDeploy`
 * of `status`): its config and what the store remembers for it.
 */
import type { GangwayConfig } from '../config/types.js';
import type { AutoDeployState, Store } from '../store/types.js';
import { subscriptionOf, type Subscription } from './subscriptions.js';

/** What a subscription looks like from outside: `gangway autodeploy status` and `status`. */
export interface AutoDeployStatus {
  service: string;
  environment: string;
  /** `image`: the registry is polled; `webhook`: CI posts releases. */
  mode: 'image' | 'webhook';
  repository: string | null;
  tagPattern: string | null;
  order: 'semver' | 'pushed' | null;
  intervalMs: number | null;
  /** The newest tag deployed (or found deployed already). */
  lastTag: string | null;
  /** A tag a gate refused; tried again at every poll. */
  pending: { tag: string; gates: string } | null;
  /** Since when the registry does not answer. */
  registryDown: { since: number } | null;
  /** Set by a person's rollback: nothing is deployed until someone resumes. */
  paused: { at: number; by: string | null; deployment: string | null } | null;
  resumed: { at: number; by: string | null } | null;
}

/** The auto-deploy part of `status` for one pair: null when it deploys only by hand. */
export async function autoDeployStatusOf(config: GangwayConfig, store: Pick<Store, 'getAutoDeployState'>, service: string, environment: string): Promise<AutoDeployStatus | null> {
  const sub = subscriptionOf(config, service, environment);
  if (!sub) return null;
  const state = await store.getAutoDeployState(service, environment);
  return statusOf(sub, state);
}

export function statusOf(sub: Subscription, state: AutoDeployState | undefined): AutoDeployStatus {
  const image = sub.config.image;
  return {
    service: sub.service, environment: sub.environment, mode: image ? 'image' : 'webhook',
    repository: sub.repository, tagPattern: image?.tagPattern ?? null, order: image?.order ?? null, intervalMs: image?.intervalMs ?? null,
    lastTag: state?.lastTag ?? null,
    pending: state?.pendingTag ? { tag: state.pendingTag, gates: state.pendingReason ?? '' } : null,
    registryDown: state?.outageSince ? { since: state.outageSince } : null,
    paused: state?.pausedAt ? { at: state.pausedAt, by: state.pausedBy, deployment: state.pausedDeployment } : null,
    resumed: state?.resumedAt ? { at: state.resumedAt, by: state.resumedBy } : null,
  };
}

