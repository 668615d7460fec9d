/**
 * Who subscribes to what: each environment's `autoDeploy` expanded into one subscription per
 * (service, environment), with the repository filled in for the service.
 */
import type { AutoDeployConfig, GangwayConfig } from '../config/types.js';

/** The actor of every deployment auto-deploy requests. */
export const AUTO_ACTOR = 'gangway/auto';

/** One (service, environment) that deploys by itself. */
export interface Subscription {
  service: string;
  environment: string;
  /** The polled repository (`host[:port]/path`), or null for a webhook subscription. */
  repository: string | null;
  config: AutoDeployConfig;
}

/**
 * The repository of `service`: `${service}` in the template replaced by the service name.
 *
 * @example
 * repositoryFor('127.0.0.1:5000/shop/${service}', 'web'); // '127.0.0.1:5000/shop/web'
 */
export function repositoryFor(template: string, service: string): string {
  return template.replaceAll('${service}', service);
}

/**
 * Every subscription of the config, environments in file order, services in file order.
 *
 * @example
 * subscriptions(config).filter((s) => s.repository !== null); // the polled ones
 */
export function subscriptions(config: GangwayConfig): Subscription[] {
  const out: Subscription[] = [];
  for (const env of config.environments) {
    const a = env.autoDeploy;
    if (!a) continue;
    for (const service of config.serviceNames) {
      if (!a.services.includes(service)) continue;
      out.push({ service, environment: env.name, repository: a.image ? repositoryFor(a.image.repository, service) : null, config: a });
    }
  }
  return out;
}

/** The subscription of a pair, or undefined when it deploys only by hand. */
export function subscriptionOf(config: GangwayConfig, service: string, environment: string): Subscription | undefined {
  return subscriptions(config).find((s) => s.service === service && s.environment === environment);
}
