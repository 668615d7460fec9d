/**
 * Where a service's preview is served, as `status` and `plan` show it (blue-green only).
 */
import type { ServiceEnvConfig } from '../config/types.js';
import type { Target, Traffic } from './target.js';

/**
 * The preview of a service in an environment: `port` is the configured `previewPort`, or the one
 * the target chose and keeps (null until it chose one, at the first blue-green deployment);
 * `version` is the release served there now (null when no preview is open); `endpoint`, where
 * the target previews on something other than a port, names it (`svc/web-preview` on Kubernetes).
 */
export interface PreviewView { port: number | null; version: string | null; endpoint?: string | null }

/**
 * The preview of `cfg`, or null when its strategy has none. A target that cannot be asked (the
 * local agent is down) still gives the configured port.
 *
 * @example
 * await previewOf(target, cfg) // { port: 41873, version: '2.0.0' } during a blue-green check
 */
export async function previewOf(target: Target, cfg: ServiceEnvConfig): Promise<PreviewView | null> {
  if (cfg.strategy.kind !== 'blueGreen') return null;
  return previewFrom(cfg, await target.traffic(cfg).catch(() => null));
}

/**
 * The preview of `cfg` given the target's traffic (null: the target could not be asked), or null
 * when its strategy has none.
 *
 * @example previewFrom(cfg, { versions: [], preview: '2.0.0', previewPort: 41873 }) // { port: 41873, version: '2.0.0' }
 */
export function previewFrom(cfg: ServiceEnvConfig, traffic: Traffic | null): PreviewView | null {
  if (cfg.strategy.kind !== 'blueGreen') return null;
  return {
    port: traffic?.previewPort ?? cfg.strategy.previewPort, version: traffic?.preview ?? null,
    ...(traffic?.previewEndpoint ? { endpoint: traffic.previewEndpoint } : {}),
  };
}
