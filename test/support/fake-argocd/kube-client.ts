/**
 * The FAKE Argo CD's way into the destination cluster: plain HTTP(S) requests to a Kubernetes
 * API server (in tests, the fake one of test/support/fake-kube) with a bearer token and, for
 * HTTPS, the server's CA. Kinds are found through discovery (`/api/v1`, `/apis/<group>/<version>`)
 * as upstream's cluster cache does, so the fake needs nothing from the API server's process.
 * Writes are server-side apply (`application/apply-patch+yaml`, `force=true`) with the
 * field manager `argocd-controller`, as Argo CD's `ServerSideApply=true` sync option does.
 */
import { Agent, request } from 'undici';
import type { Obj } from './types.js';
import { isObj } from './types.js';

/** How to reach the cluster: a FakeKube fits as it is. */
export interface KubeAccess {
  readonly url: string;
  readonly token: string;
  /** PEM CA of an HTTPS server. */
  readonly caCert?: string;
}

/** A kind as discovery describes it. */
export interface KindInfo {
  apiVersion: string;
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/** A failed request: the API server's Status code, reason and message (code 0: not reachable). */
export class KubeError extends Error {
  override name = 'KubeError';
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
  }
}

/** The field manager of Argo CD's server-side apply. */
export const FIELD_MANAGER = 'argocd-controller';

/** A small Kubernetes client. */
export class KubeClient {
  readonly #agent: Agent;
  readonly #discovery = new Map<string, Map<string, KindInfo>>();

  constructor(private readonly access: KubeAccess) {
    this.#agent = new Agent({ connect: access.caCert ? { ca: access.caCert } : {}, keepAliveTimeout: 1000 });
  }

  async #call(method: 'GET' | 'PATCH' | 'DELETE', path: string, body?: string, contentType?: string): Promise<{ status: number; json: unknown }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.access.token}`, accept: 'application/json', 'user-agent': 'argocd-application-controller/fake' };
    if (contentType) headers['content-type'] = contentType;
    let res;
    try {
      res = await request(`${this.access.url}${path}`, { method, headers, body, dispatcher: this.#agent });
    } catch (e) {
      throw new KubeError(0, 'Unreachable', `${method} "${this.access.url}${path}": ${(e as Error).message}`);
    }
    const text = await res.body.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.statusCode, json };
  }

  #fail(status: number, json: unknown): KubeError {
    const s = isObj(json) ? json : {};
    return new KubeError(status, String(s.reason ?? ''), typeof s.message === 'string' ? s.message : `the server responded with the status code ${status}`);
  }

  /** The discovery entry of `apiVersion`/`kind`; throws a 404 KubeError naming the kind when the server lacks it. */
  async kind(apiVersion: string, kind: string): Promise<KindInfo> {
    let kinds = this.#discovery.get(apiVersion);
    if (!kinds) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      const { status, json } = await this.#call('GET', path);
      if (status === 404) kinds = new Map();
      else if (status !== 200) throw this.#fail(status, json);
      else {
        kinds = new Map();
        const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
        for (const r of (isObj(json) && Array.isArray(json.resources) ? json.resources : []) as Obj[]) {
          if (typeof r.name !== 'string' || r.name.includes('/')) continue;
          kinds.set(String(r.kind), { apiVersion, group, version, kind: String(r.kind), plural: r.name, namespaced: r.namespaced === true });
        }
        this.#discovery.set(apiVersion, kinds);
      }
    }
    const info = kinds.get(kind);
    if (!info) {
      const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
      throw new KubeError(404, 'NotFound', `The Kubernetes API could not find ${group}/${kind} for requested resource. Make sure the "${kind}" CRD is installed on the destination cluster.`);
    }
    return info;
  }

  #path(k: KindInfo, ns: string, name?: string): string {
    const base = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
    const nsPart = k.namespaced ? `/namespaces/${encodeURIComponent(ns)}` : '';
    return `${base}${nsPart}/${k.plural}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`;
  }

  /** The live object, or undefined when it does not exist. */
  async get(k: KindInfo, ns: string, name: string): Promise<Obj | undefined> {
    const { status, json } = await this.#call('GET', this.#path(k, ns, name));
    if (status === 404) return undefined;
    if (status !== 200 || !isObj(json)) throw this.#fail(status, json);
    return json;
  }

  /** Objects of a kind in `ns` matching a label selector. */
  async list(k: KindInfo, ns: string, labelSelector: string): Promise<Obj[]> {
    const { status, json } = await this.#call('GET', `${this.#path(k, ns)}?labelSelector=${encodeURIComponent(labelSelector)}`);
    if (status === 404) return [];
    if (status !== 200 || !isObj(json)) throw this.#fail(status, json);
    return ((Array.isArray(json.items) ? json.items : []) as Obj[]).map((o) => ({ apiVersion: k.apiVersion, kind: k.kind, ...o }));
  }

  /** Server-side apply of `obj` (forcing conflicts); `dryRun` validates without storing. */
  async apply(k: KindInfo, ns: string, obj: Obj, dryRun: boolean): Promise<Obj> {
    const name = String((obj.metadata as Obj).name);
    const q = `?fieldManager=${FIELD_MANAGER}&force=true${dryRun ? '&dryRun=All' : ''}`;
    const { status, json } = await this.#call('PATCH', `${this.#path(k, ns, name)}${q}`, JSON.stringify(obj), 'application/apply-patch+yaml');
    if (status !== 200 && status !== 201) throw this.#fail(status, json);
    return json as Obj;
  }

  /** Deletes an object (background propagation); a missing one is not an error. */
  async delete(k: KindInfo, ns: string, name: string): Promise<void> {
    const { status, json } = await this.#call('DELETE', `${this.#path(k, ns, name)}?propagationPolicy=Background`);
    if (status !== 200 && status !== 202 && status !== 404) throw this.#fail(status, json);
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
