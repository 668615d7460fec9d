/**
 * What Helm's kube client (pkg/kube/client.go) does with a release's objects, for the FAKE
 * `helm`: `build` maps each object to its resource through discovery and gives namespaced ones
 * the release namespace unless they name their own; `setMetadata` adds the ownership Helm
 * writes (`app.kubernetes.io/managed-by: Helm`, `meta.helm.sh/release-name`,
 * `meta.helm.sh/release-namespace`); `existingResourceConflict` refuses objects that exist but
 * belong to no or another release; `update` writes every target object and deletes the
 * current release's objects the target no longer has (background propagation, sparing
 * `helm.sh/resource-policy: keep`); `remove` deletes a release's objects for an uninstall.
 *
 * Writes are server-side apply (`PATCH`, `application/apply-patch+yaml`, fieldManager `helm`,
 * no force — conflicts are errors), as Helm 4 does; Helm 3 creates, then patches with a
 * three-way strategic merge. Error texts follow Helm 3 (`failed to create resource: …`,
 * `cannot patch "web" with kind Deployment: …`).
 */
import { HelmError, wrap } from './errors.mjs';
import { ApiError, KubeClient } from './kube.mjs';
import { UNINSTALL_ORDER, sortByKind } from './chart.mjs';

/** Maps objects to resources: `[{ object, mapping, kind, apiVersion, name, namespace, key }]`. */
export async function build(kube, objects, namespace) {
  const out = [];
  for (const obj of objects) {
    const apiVersion = String(obj.apiVersion ?? '');
    const kind = String(obj.kind ?? '');
    const name = String(obj.metadata?.name ?? '');
    const mapping = apiVersion && kind ? await kube.mapping(apiVersion, kind) : undefined;
    if (!mapping) {
      throw new HelmError(`resource mapping not found for name: ${JSON.stringify(name)} namespace: ${JSON.stringify(String(obj.metadata?.namespace ?? ''))} from "": no matches for kind ${JSON.stringify(kind)} in version ${JSON.stringify(apiVersion)}\nensure CRDs are installed first`);
    }
    const ns = mapping.namespaced ? String(obj.metadata?.namespace || namespace) : '';
    const object = structuredClone(obj);
    object.metadata = { ...(object.metadata ?? {}) };
    if (mapping.namespaced) object.metadata.namespace = ns;
    out.push({ object, mapping, kind, apiVersion, name, namespace: ns, key: `${apiVersion}/${kind}/${ns}/${name}` });
  }
  return out;
}

/** Helm's `setMetadataVisitor(releaseName, releaseNamespace, force=true)`. */
export function setMetadata(resources, releaseName, releaseNamespace) {
  for (const r of resources) {
    const m = r.object.metadata;
    m.labels = { ...(m.labels ?? {}), 'app.kubernetes.io/managed-by': 'Helm' };
    m.annotations = { ...(m.annotations ?? {}), 'meta.helm.sh/release-name': releaseName, 'meta.helm.sh/release-namespace': releaseNamespace };
  }
}

function requireValue(meta, key, want) {
  if (!meta || !(key in meta)) return `missing key ${JSON.stringify(key)}: must be set to ${JSON.stringify(want)}`;
  if (meta[key] !== want) return `key ${JSON.stringify(key)} must equal ${JSON.stringify(want)}: current value is ${JSON.stringify(meta[key])}`;
  return undefined;
}

const describe = (r) => `${r.kind} ${JSON.stringify(r.name)} in namespace ${JSON.stringify(r.namespace)}`;

/**
 * Helm's `existingResourceConflict`: the resources that already exist and belong to this
 * release (to adopt); throws for one that exists without Helm's ownership metadata for it.
 */
export async function existingResourceConflict(kube, resources, releaseName, releaseNamespace) {
  const adopt = [];
  for (const r of resources) {
    let existing;
    try {
      existing = await kube.find(r.mapping, r.namespace, r.name);
    } catch (err) {
      throw wrap(err, `could not get information about the resource ${describe(r)}`);
    }
    if (!existing) continue;
    const problems = [
      ['label', requireValue(existing.metadata?.labels, 'app.kubernetes.io/managed-by', 'Helm')],
      ['annotation', requireValue(existing.metadata?.annotations, 'meta.helm.sh/release-name', releaseName)],
      ['annotation', requireValue(existing.metadata?.annotations, 'meta.helm.sh/release-namespace', releaseNamespace)],
    ].filter(([, p]) => p !== undefined);
    if (problems.length > 0) {
      const why = ['invalid ownership metadata', ...problems.map(([what, p]) => `${what} validation error: ${p}`)].join('; ');
      throw new HelmError(`${describe(r)} exists and cannot be imported into the current release: ${why}`);
    }
    adopt.push(r);
  }
  return adopt;
}

/** One server-side apply of a resource's object. */
export async function applyOne(kube, r) {
  await kube.request('PATCH', KubeClient.path(r.mapping, r.namespace, r.name), {
    query: { fieldManager: 'helm' },
    contentType: 'application/apply-patch+yaml',
    body: r.object,
  });
}

/** Writes the objects of a first install (errors as the API server words them). */
export async function create(kube, resources) {
  for (const r of resources) await applyOne(kube, r);
}

async function deleteOne(kube, r) {
  await kube.request('DELETE', KubeClient.path(r.mapping, r.namespace, r.name), {
    body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
  });
}

/**
 * Helm's `KubeClient.Update(current, target)`: writes every target object, then deletes the
 * current objects missing from the target. Write errors of existing objects are collected and
 * joined with ` && `, as upstream does.
 */
export async function update(kube, current, target) {
  const updateErrors = [];
  for (const r of target) {
    let existing;
    try {
      existing = await kube.find(r.mapping, r.namespace, r.name);
    } catch (err) {
      throw wrap(err, 'could not get information about the resource');
    }
    if (!existing) {
      try { await applyOne(kube, r); } catch (err) { throw wrap(err, 'failed to create resource'); }
      continue;
    }
    if (!current.some((c) => c.key === r.key)) throw new HelmError(`no ${r.kind} with the name ${JSON.stringify(r.name)} found`);
    try { await applyOne(kube, r); } catch (err) { updateErrors.push(`cannot patch ${JSON.stringify(r.name)} with kind ${r.kind}: ${err.message}`); }
  }
  if (updateErrors.length > 0) throw new HelmError(updateErrors.join(' && '));
  const targetKeys = new Set(target.map((r) => r.key));
  for (const r of current) {
    if (targetKeys.has(r.key)) continue;
    let live;
    try { live = await kube.find(r.mapping, r.namespace, r.name); } catch { continue; }
    if (!live || live.metadata?.annotations?.['helm.sh/resource-policy'] === 'keep') continue;
    // Upstream logs a failed delete and goes on.
    try { await deleteOne(kube, r); } catch { /* logged upstream */ }
  }
}

/** Deletes a release's objects in Helm's uninstall order; returns the errors' messages. */
export async function remove(kube, resources) {
  const errors = [];
  for (const r of sortByKind(resources, UNINSTALL_ORDER, (x) => x.kind)) {
    if (r.object.metadata?.annotations?.['helm.sh/resource-policy'] === 'keep') continue;
    try {
      await deleteOne(kube, r);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) errors.push(err.message);
    }
  }
  return errors;
}
