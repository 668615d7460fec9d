/**
 * Helm 3's release storage with its Secrets driver (pkg/storage/storage.go,
 * pkg/storage/driver/secrets.go, util.go), for the FAKE `helm`. One Secret per revision, named
 * `sh.helm.release.v1.<release>.v<revision>`, type `helm.sh/release.v1`, labelled `name`,
 * `owner=helm`, `status`, `version` plus `createdAt` (on create) or `modifiedAt` (on update), in
 * seconds since the epoch; `data.release` holds `encodeRelease`'s string — base64 of the gzipped
 * JSON, which the Secret's `data` base64-encodes once more. As upstream: an update rewrites the
 * whole Secret (its labels come from the release's labels, which a query keeps whole and a get
 * filters of the system ones), and creating a revision first prunes the oldest ones beyond
 * `--history-max`, never the deployed one.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { encodeRelease } from './go-json.mjs';
import { HelmError, RELEASE_NOT_FOUND, isReleaseNotFound, wrap } from './errors.mjs';
import { ApiError } from './kube.mjs';

const SYSTEM_LABELS = new Set(['name', 'owner', 'status', 'version', 'createdAt', 'modifiedAt']);

/** The Secret name of a revision. */
export function releaseKey(name, version) {
  return `sh.helm.release.v1.${name}.v${version}`;
}

/**
 * Helm's `encodeRelease`: the release's JSON, gzipped at best compression, base64-encoded. (Go
 * writes the gzip header's OS byte as 255, "unknown".)
 */
export function encodeForStorage(rls) {
  const gz = gzipSync(Buffer.from(encodeRelease(rls), 'utf8'), { level: 9 });
  gz[9] = 255;
  return gz.toString('base64');
}

/** Helm's `decodeRelease`: base64, then gunzip when the gzip magic is there, then JSON. */
export function decodeFromStorage(data) {
  let b = Buffer.from(data, 'base64');
  if (b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08) b = gunzipSync(b);
  return JSON.parse(b.toString('utf8'));
}

const nowUnix = () => String(Math.floor(Date.now() / 1000));

/** Helm's Secrets driver in one namespace. */
export class SecretsDriver {
  #kube;
  #base;

  constructor(kube, namespace) {
    this.#kube = kube;
    this.#base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  }

  #secret(key, rls, labels) {
    const lbs = { ...labels, name: rls.name, owner: 'helm', status: rls.info.status, version: String(rls.version) };
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: key, labels: lbs },
      type: 'helm.sh/release.v1',
      data: { release: Buffer.from(encodeForStorage(rls), 'utf8').toString('base64') },
    };
  }

  #decode(item) {
    return decodeFromStorage(Buffer.from(String(item?.data?.release ?? ''), 'base64').toString('utf8'));
  }

  async get(key) {
    let obj;
    try {
      obj = await this.#kube.request('GET', `${this.#base}/${encodeURIComponent(key)}`);
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) throw new HelmError(RELEASE_NOT_FOUND);
      throw wrap(err, `get: failed to get "${key}"`);
    }
    let rls;
    try { rls = this.#decode(obj); } catch (err) { throw wrap(err, `get: failed to decode data "${key}"`); }
    rls.labels = Object.fromEntries(Object.entries(obj.metadata?.labels ?? {}).filter(([k]) => !SYSTEM_LABELS.has(k)));
    return rls;
  }

  async query(labels) {
    const labelSelector = Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',');
    let list;
    try {
      list = await this.#kube.request('GET', this.#base, { query: { labelSelector } });
    } catch (err) {
      throw wrap(err, 'query: failed to query with labels');
    }
    const items = list?.items ?? [];
    if (items.length === 0) throw new HelmError(RELEASE_NOT_FOUND);
    const results = [];
    for (const item of items) {
      let rls;
      try { rls = this.#decode(item); } catch { continue; }
      rls.labels = { ...(item.metadata?.labels ?? {}) };
      results.push(rls);
    }
    return results;
  }

  async create(key, rls) {
    try {
      await this.#kube.request('POST', this.#base, { body: this.#secret(key, rls, { ...(rls.labels ?? {}), createdAt: nowUnix() }) });
    } catch (err) {
      if (err instanceof ApiError && err.code === 409) throw new HelmError('release: already exists');
      throw wrap(err, 'create: failed to create');
    }
  }

  async update(key, rls) {
    try {
      await this.#kube.request('PUT', `${this.#base}/${encodeURIComponent(key)}`, { body: this.#secret(key, rls, { ...(rls.labels ?? {}), modifiedAt: nowUnix() }) });
    } catch (err) {
      throw wrap(err, 'update: failed to update');
    }
  }

  async delete(key) {
    const rls = await this.get(key);
    await this.#kube.request('DELETE', `${this.#base}/${encodeURIComponent(key)}`);
    return rls;
  }
}

const byVersion = (a, b) => a.version - b.version;

/** Helm's `storage.Storage` over the Secrets driver. */
export class Storage {
  /** `--history-max`: revisions kept when one is created (0 = no limit). */
  maxHistory = 0;

  constructor(driver) {
    this.driver = driver;
  }

  get(name, version) { return this.driver.get(releaseKey(name, version)); }

  update(rls) { return this.driver.update(releaseKey(rls.name, rls.version), rls); }

  delete(name, version) { return this.driver.delete(releaseKey(name, version)); }

  /** Every revision (any status), unordered; "release: not found" when there is none. */
  history(name) { return this.driver.query({ name, owner: 'helm' }); }

  async deployedAll(name) {
    try {
      return await this.driver.query({ name, owner: 'helm', status: 'deployed' });
    } catch (err) {
      if (err.message.includes('not found')) throw new HelmError(`"${name}" has no deployed releases`);
      throw err;
    }
  }

  /** The newest deployed revision. */
  async deployed(name) {
    const ls = await this.deployedAll(name);
    return ls.sort(byVersion)[ls.length - 1];
  }

  /** The newest revision, whatever its status. */
  async last(name) {
    const h = await this.history(name);
    if (h.length === 0) throw new HelmError(`no revision for release "${name}"`);
    return h.sort(byVersion)[h.length - 1];
  }

  async create(rls) {
    if (this.maxHistory > 0) {
      try {
        await this.#removeLeastRecent(rls.name, this.maxHistory - 1);
      } catch (err) {
        if (!isReleaseNotFound(err)) throw err;
      }
    }
    await this.driver.create(releaseKey(rls.name, rls.version), rls);
  }

  /** Deletes the oldest revisions until `max` remain, sparing the deployed one. */
  async #removeLeastRecent(name, max) {
    const h = (await this.history(name)).sort(byVersion);
    if (h.length <= max) return;
    let lastDeployed;
    try {
      lastDeployed = await this.deployed(name);
    } catch (err) {
      if (!err.message.endsWith('has no deployed releases')) throw err;
    }
    const toDelete = [];
    for (const rel of h) {
      if (h.length - toDelete.length === max) break;
      if (!lastDeployed || rel.version !== lastDeployed.version) toDelete.push(rel);
    }
    for (const rel of toDelete) await this.delete(name, rel.version);
  }
}
