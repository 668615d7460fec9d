/**
 * What serves now. The stable release is the rollback target; after a deployment was
 * superseded, another release may be the one receiving traffic. Plans start from that one.
 */
import type { ServiceEnvConfig } from '../config/types.js';
import type { Store } from '../store/types.js';
import type { ReleaseRef, Target } from '../targets/target.js';

/**
 * The release with the largest share of the pair's traffic, when it is not the stable
 * release (null otherwise: the stable release serves, or nothing does). Its image comes from
 * the newest deployment of that version.
 *
 * @example
 * ```ts
 * const serving = await servingRelease(store, target, cfg, { version: '1.0.0', image: null });
 * // { version: '1.1.0', image: null } after 1.1.0 was superseded while serving
 * ```
 */
export async function servingRelease(store: Store, target: Target, cfg: ServiceEnvConfig, stable: ReleaseRef | null): Promise<ReleaseRef | null> {
  const top = [...(await target.traffic(cfg)).versions].filter((v) => v.weight > 0).sort((a, b) => b.weight - a.weight)[0];
  if (!top || top.version === stable?.version) return null;
  const recent = await store.listDeployments({ service: cfg.service, environment: cfg.environment, newestFirst: true, limit: 20 });
  return { version: top.version, image: recent.find((x) => x.version === top.version)?.image ?? null };
}
