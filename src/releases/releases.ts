/**
 * Releases of several services (release groups): requested as one (`gangway deploy --all`,
 * `promote --all`, POST /v1/releases), checked as one — every member's request, and every
 * member's gates, before anything is created — and stored as one group with a deployment per
 * service, held until the services it depends on have succeeded (see ./group-driver.ts).
 */
import { randomUUID } from 'node:crypto';
import type { GangwayConfig } from '../config/types.js';
import { DEFAULTS } from '../config/schema.js';
import { GangwayError, NotFoundError } from '../errors.js';
import { didYouMean } from '../config/problems.js';
import { assertVersion } from '../engine/release.js';
import { newDeploymentId, type Orchestrator } from '../engine/orchestrator.js';
import type { ReleaseApi, ReleaseRequest, ReleaseView } from '../engine/types.js';
import type { NewDeployment, NewGateResult, ReleaseGroupMember, ReleaseGroupRecord, Store } from '../store/types.js';
import { systemClock, type Clock } from '../engine/clock.js';
import { dependencyOrder } from './group-plan.js';
import { releaseNotFound, releaseViewOf } from './release-view.js';

export interface ReleasesOptions {
  store: Store;
  config: GangwayConfig;
  orchestrator: Pick<Orchestrator, 'prepareDeployment' | 'getDeployment'>;
  clock?: Clock;
  /** Called after a group was created (wakes the group driver and the runner). */
  onChange?: () => void;
}

/** Sortable, unique release ids: `r-<time base36>-<random>`. */
export function newReleaseId(): string {
  return `r-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
}

/**
 * @example
 * ```ts
 * const releases = new Releases({ store, config, orchestrator });
 * const r = await releases.createRelease({ environment: 'dev', versions: { api: '1.4.0', web: '2.0.1' }, actor: 'alice' });
 * ```
 */
export class Releases implements ReleaseApi {
  private readonly clock: Clock;
  private readonly onChange: () => void;

  constructor(private readonly opts: ReleasesOptions) {
    this.clock = opts.clock ?? systemClock;
    this.onChange = opts.onChange ?? (() => undefined);
  }

  async createRelease(req: ReleaseRequest): Promise<ReleaseView> {
    const { config, store } = this.opts;
    const env = this.environment(req.environment);
    const services = req.services ?? config.serviceNames;
    if (services.length === 0) throw new GangwayError('invalid_argument', 'services: name at least one service');
    for (const s of services) this.service(s);
    const repeated = services.filter((s, i) => services.indexOf(s) !== i);
    if (repeated.length > 0) throw new GangwayError('invalid_argument', `services: ${repeated[0]} is named twice`);

    // The release of each service: named in the request, or the set that last succeeded together in the source.
    let kind: ReleaseGroupRecord['kind'];
    const releases = new Map<string, { version: string; image: string | null; commitTime: number | null }>();
    if (req.versions !== undefined || req.version !== undefined) {
      kind = 'deploy';
      const stray = Object.keys(req.versions ?? {}).filter((s) => !services.includes(s));
      if (stray.length > 0) {
        const known = config.serviceNames.includes(stray[0]);
        throw new GangwayError(known ? 'invalid_argument' : 'not_found',
          known ? `versions: ${stray.join(', ')} ${stray.length === 1 ? 'is' : 'are'} not among the services of this release (${services.join(', ')})` : `versions: unknown service "${stray[0]}"`,
          known ? 'add it to services, or leave its version out' : this.serviceHint(stray[0]));
      }
      const missing = services.filter((s) => (req.versions?.[s] ?? req.version) === undefined);
      if (missing.length > 0) {
        throw new GangwayError('invalid_argument', `no version for ${missing.join(', ')}: a release names the version of every service it deploys`,
          `give one version for all (--version V), or each one: --versions ${missing.map((s) => `${s}=<version>`).join(',')}`, { missing });
      }
      for (const s of services) {
        const version = (req.versions?.[s] ?? req.version)!;
        assertVersion(version, req.versions?.[s] !== undefined ? `versions.${s}` : 'version');
        releases.set(s, { version, image: null, commitTime: null });
      }
    } else {
      kind = 'promote';
      if (!env.promotion) {
        throw new GangwayError('invalid_argument', `a release to ${env.name} needs versions`,
          `${env.name} is not promoted from another environment, so there is no release to pick: give --version V or --versions svc=V,...`);
      }
      const from = env.promotion.from;
      const [last] = await store.listReleaseGroups({ environment: from, phases: ['succeeded'], limit: 1 });
      if (!last) {
        throw new GangwayError('blocked', `no release of several services has succeeded in ${from} to promote to ${env.name}`,
          `deploy one to ${from} first: gangway deploy --all --env ${from} --version V`, { gate: 'promotion', from });
      }
      const absent = services.filter((s) => !last.members.some((m) => m.service === s));
      if (absent.length > 0 && req.services !== undefined) {
        throw new GangwayError('blocked', `the release ${last.id} that last succeeded in ${from} has no ${absent.join(', ')}`,
          `promote only the services it has: ${last.members.map((m) => m.service).join(', ')}`, { gate: 'promotion', from, release: last.id });
      }
      for (const m of last.members) {
        if (!services.includes(m.service)) continue;
        const source = m.deploymentId ? await store.getDeployment(m.deploymentId) : undefined;
        releases.set(m.service, { version: m.version, image: m.image, commitTime: source?.commitTime ?? null });
      }
      for (const s of services) {
        const r = releases.get(s);
        if (!r) continue;
        const rejected = await store.listRejections({ service: s, environment: from, version: r.version });
        if (rejected.length > 0) {
          throw new GangwayError('blocked', `${s} ${r.version} was rejected in ${from}: the release ${last.id} cannot be promoted`,
            `retry it in ${from} (gangway retry) to override the rejection, then promote`, { gate: 'promotion', from, release: last.id });
        }
      }
    }

    const members = [...releases.keys()];
    const depsOf = (s: string) => config.services[s][env.name].dependsOn;
    const order = dependencyOrder(members, depsOf);
    const id = newReleaseId();
    const reason = req.reason?.trim() || null;
    const prepared: NewDeployment[] = [];
    const gateRows: NewGateResult[] = [];
    const refusals: string[] = [];
    const groupMembers: ReleaseGroupMember[] = [];
    // Every member is checked before anything is written: a bad member creates nothing.
    for (const service of order) {
      const r = releases.get(service)!;
      const deploymentId = newDeploymentId();
      const p = await this.opts.orchestrator.prepareDeployment({
        id: deploymentId, service, environment: env.name, version: r.version, ...(r.image ? { image: r.image } : {}),
        reason: reason ?? undefined, actor: req.actor, commitTime: r.commitTime,
      });
      groupMembers.push({
        service, version: r.version, image: r.image, dependsOn: depsOf(service).filter((d) => members.includes(d)),
        deploymentId: p.unchanged ? null : deploymentId,
      });
      if (p.unchanged) continue;
      prepared.push(p.deployment);
      gateRows.push(...p.gateRows);
      for (const g of p.refused) refusals.push(`${service}: ${g.gate}: ${g.reason}`);
    }
    if (refusals.length > 0) {
      await store.appendGateResults(gateRows);
      throw new GangwayError('blocked', `the release cannot start: ${refusals.join('; ')}`,
        'every service of a release passes its gates before any starts; fix the gates above and request it again', { gates: refusals });
    }
    if (prepared.length === 0) {
      throw new GangwayError('conflict', `every service already runs these releases in ${env.name}: nothing to deploy`);
    }
    const group = await store.createReleaseGroup({
      id, environment: env.name, kind, onFailure: req.onFailure ?? env.releases?.onFailure ?? DEFAULTS.releaseOnFailure as 'rollback',
      actor: req.actor, reason, members: groupMembers, createdAt: this.clock.now(),
    }, prepared);
    const byService = new Map(prepared.map((d) => [d.service, d.id]));
    await store.appendGateResults(gateRows.map((g) => ({ ...g, deploymentId: byService.get(g.service) ?? null })));
    this.onChange();
    return this.view(group);
  }

  async getRelease(id: string): Promise<ReleaseView> {
    const g = await this.opts.store.getReleaseGroup(id);
    if (!g) throw releaseNotFound(id);
    return this.view(g);
  }

  async listReleases(q: { environment?: string; limit?: number }): Promise<ReleaseView[]> {
    if (q.environment !== undefined) this.environment(q.environment);
    const groups = await this.opts.store.listReleaseGroups({ environment: q.environment, limit: q.limit ?? 20 });
    return Promise.all(groups.map((g) => this.view(g)));
  }

  /** The environment a release belongs to, for authorization; undefined when unknown. */
  async environmentOf(id: string): Promise<string | undefined> {
    return (await this.opts.store.getReleaseGroup(id))?.environment;
  }

  private view(g: ReleaseGroupRecord): Promise<ReleaseView> {
    return releaseViewOf(this.opts.store, g);
  }

  private environment(name: string) {
    const env = this.opts.config.environments.find((e) => e.name === name);
    if (!env) {
      const names = this.opts.config.environments.map((e) => e.name);
      const near = didYouMean(name, names);
      throw new NotFoundError(`unknown environment "${name}"`, near ? `did you mean "${near}"?` : `environments in ${this.opts.config.file}: ${names.join(', ')}`);
    }
    return env;
  }

  private service(name: string): void {
    if (!Object.hasOwn(this.opts.config.services, name)) throw new NotFoundError(`unknown service "${name}"`, this.serviceHint(name));
  }

  private serviceHint(name: string): string {
    const near = didYouMean(name, this.opts.config.serviceNames);
    return near ? `did you mean "${near}"?` : `services in ${this.opts.config.file}: ${this.opts.config.serviceNames.join(', ')}`;
  }
}
