/**
 * The service and environment names the config defines, checked before a request reaches the
 * orchestrator. A name is looked up in a Set, never as a property of a plain object, so
 * `constructor`, `toString` or `__proto__` is an unknown name (404) like any other, not an
 * inherited member found by `services[name]`.
 */
import type { GangwayConfig } from '../config/types.js';
import { NotFoundError } from '../errors.js';
import { didYouMean } from '../config/problems.js';

/** What {@link KnownNames} reads from the config. */
export type ConfigNames = Pick<GangwayConfig, 'file' | 'serviceNames'> & { environments: ReadonlyArray<{ name: string }> };

/**
 * The config's names, as sets.
 *
 * @example
 * const names = new KnownNames(config);
 * names.check({ service: 'constructor', environment: 'dev' }); // throws NotFoundError: unknown service "constructor"
 */
export class KnownNames {
  private readonly file: string;
  private readonly services: readonly string[];
  private readonly environments: readonly string[];
  private readonly serviceSet: ReadonlySet<string>;
  private readonly environmentSet: ReadonlySet<string>;

  constructor(config: ConfigNames) {
    this.file = config.file;
    this.services = [...config.serviceNames];
    this.environments = config.environments.map((e) => e.name);
    this.serviceSet = new Set(this.services);
    this.environmentSet = new Set(this.environments);
  }

  /** True when the config defines the environment `name`. */
  hasEnvironment(name: string): boolean {
    return this.environmentSet.has(name);
  }

  /**
   * Throws `not_found`, in the orchestrator's words, for a service or environment the config
   * does not define (the service first); an absent name is not checked.
   */
  check(q: { service?: string; environment?: string }): void {
    if (q.service !== undefined && !this.serviceSet.has(q.service)) throw this.unknown('service', q.service, this.services);
    if (q.environment !== undefined && !this.environmentSet.has(q.environment)) throw this.unknown('environment', q.environment, this.environments);
  }

  private unknown(what: 'service' | 'environment', name: string, names: readonly string[]): NotFoundError {
    const near = didYouMean(name, [...names]);
    return new NotFoundError(`unknown ${what} "${name}"`, near ? `did you mean "${near}"?` : `${what === 'service' ? 'services' : 'environments'} in ${this.file}: ${names.join(', ')}`);
  }
}
