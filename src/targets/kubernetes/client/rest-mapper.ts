/**
 * The REST mapper: where objects of an (apiVersion, kind) live in the REST API, found the way
 * kubectl finds them (client-go `restmapper`). The built-in table (`resources.ts`) answers the
 * kinds Gangway itself reads and writes without a request; any other pair — a
 * PodDisruptionBudget, an Ingress, a custom resource — is looked up in the APIResourceList of
 * its group/version (`GET /api/v1`, `GET /apis/<group>/<version>`), subresources such as
 * `deployments/status` skipped. Each list is fetched once for the mapper's life. A lookup that
 * misses in a list fetched before it began fetches that list once more, as client-go's
 * `DeferredDiscoveryRESTMapper` resets a cache that is not fresh: a CRD may have been installed
 * since. Concurrent lookups of one group/version share one request.
 */
import type { KubeErrorContext } from './errors.js';
import { noKindMatch } from './errors.js';
import type { KubeResource } from './resources.js';
import { builtInResource } from './resources.js';

/** The parts of a `metav1.APIResourceList` (a group/version's discovery document) the mapper reads. */
export interface ApiResourceList {
  groupVersion?: string;
  resources?: Array<{ name?: string; kind?: string; namespaced?: boolean }>;
}

/**
 * Fetches the APIResourceList of one group/version (`group` '' for the core group), or
 * resolves to null when the server does not serve it (404). Other failures reject.
 */
export type DiscoveryFetch = (group: string, version: string) => Promise<ApiResourceList | null>;

/** The object a mapping is looked up for, named in the error as kubectl names it. */
export interface MappedObject {
  name: string;
  /** As written in the manifest ('' when it has none). */
  namespace: string;
}

/**
 * The group and version of an apiVersion, or undefined when it is not one.
 *
 * @example
 * ```ts
 * parseApiVersion('policy/v1'); // { group: 'policy', version: 'v1' }
 * parseApiVersion('v1');        // { group: '', version: 'v1' }
 * parseApiVersion('a/b/c');     // undefined
 * ```
 */
export function parseApiVersion(apiVersion: string): { group: string; version: string } | undefined {
  const parts = apiVersion.split('/');
  if (parts.length === 1 && parts[0]) return { group: '', version: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { group: parts[0], version: parts[1] };
  return undefined;
}

/**
 * The kinds an APIResourceList serves, each with its resource. Subresources (a `/` in the name)
 * are skipped; when two resources serve one kind, the first listed wins.
 *
 * @example
 * ```ts
 * mappingsOf({ resources: [{ name: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true },
 *   { name: 'poddisruptionbudgets/status', kind: 'PodDisruptionBudget', namespaced: true }] }, 'policy', 'v1')
 *   .get('PodDisruptionBudget')?.plural; // 'poddisruptionbudgets'
 * ```
 */
export function mappingsOf(list: ApiResourceList, group: string, version: string): Map<string, KubeResource> {
  const out = new Map<string, KubeResource>();
  const apiVersion = group ? `${group}/${version}` : version;
  for (const r of list.resources ?? []) {
    if (!r.name || !r.kind || r.name.includes('/') || out.has(r.kind)) continue;
    out.set(r.kind, Object.freeze({ kind: r.kind, apiVersion, group, version, plural: r.name, namespaced: r.namespaced === true }));
  }
  return out;
}

/** One group/version as discovered: its kinds, or `served: false` after a 404. */
interface Discovered {
  served: boolean;
  kinds: Map<string, KubeResource>;
}

interface Slot {
  /** Order of creation: a slot made after a lookup began is fresh for it. */
  seq: number;
  promise: Promise<Discovered>;
}

/**
 * A per-client cache of discovery, answering `resolve(apiVersion, kind)`.
 *
 * @example
 * ```ts
 * const mapper = new KubeRestMapper((group, version) => fetchList(group, version), { server, context: 'prod' });
 * const pdb = await mapper.resolve('policy/v1', 'PodDisruptionBudget'); // one GET /apis/policy/v1
 * resourcePath(pdb, 'shop', 'web'); // '/apis/policy/v1/namespaces/shop/poddisruptionbudgets/web'
 * ```
 */
export class KubeRestMapper {
  readonly #fetch: DiscoveryFetch;
  readonly #where: KubeErrorContext;
  readonly #slots = new Map<string, Slot>();
  #seq = 0;

  constructor(fetch: DiscoveryFetch, where: KubeErrorContext) {
    this.#fetch = fetch;
    this.#where = where;
  }

  /**
   * The resource of an (apiVersion, kind): the built-in table first, then discovery. Rejects
   * with `KubeNoKindMatchError` when the server serves no such kind (`object` then names the
   * manifest object, as kubectl does), and with the transport's errors when discovery fails
   * (nothing is cached then).
   */
  async resolve(apiVersion: string, kind: string, object?: MappedObject): Promise<KubeResource> {
    const builtIn = builtInResource(apiVersion, kind);
    if (builtIn) return builtIn;
    const gv = parseApiVersion(apiVersion);
    if (!gv) throw noKindMatch(apiVersion, kind, 'invalid', this.#where, object);
    const since = this.#seq;
    let slot = this.#slot(gv.group, gv.version, since, false);
    let found = await slot.promise;
    if (!found.kinds.has(kind) && slot.seq <= since) {
      // The list predates this lookup: the kind may have been installed since (a CRD).
      slot = this.#slot(gv.group, gv.version, since, true);
      found = await slot.promise;
    }
    const res = found.kinds.get(kind);
    if (!res) throw noKindMatch(apiVersion, kind, found.served ? 'kind' : 'groupVersion', this.#where, object);
    return res;
  }

  /** Forgets every discovered group/version: the next lookup of each asks the server again. */
  reset(): void {
    this.#slots.clear();
  }

  /** The cached slot of a group/version, or a new fetch when there is none, or when `refresh` and the cached one predates `since`. */
  #slot(group: string, version: string, since: number, refresh: boolean): Slot {
    const key = `${group}/${version}`;
    const cached = this.#slots.get(key);
    if (cached && (!refresh || cached.seq > since)) return cached;
    this.#seq += 1;
    const slot: Slot = {
      seq: this.#seq,
      promise: this.#fetch(group, version).then(
        (list) => (list ? { served: true, kinds: mappingsOf(list, group, version) } : { served: false, kinds: new Map() }),
        (err: unknown) => {
          // A failed discovery is not an answer: the next lookup asks again.
          if (this.#slots.get(key) === slot) this.#slots.delete(key);
          throw err;
        },
      ),
    };
    this.#slots.set(key, slot);
    return slot;
  }
}
