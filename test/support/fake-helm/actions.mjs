/**
 * The release operations of the FAKE `helm`, step for step after Helm 3's pkg/action (install.go,
 * upgrade.go, rollback.go, uninstall.go as `--atomic` uses it, status.go, history.go):
 *
 * - install: render, check ownership of existing objects, store revision 1 `pending-install`
 *   ("Initial install underway"), apply, optionally wait, then `deployed` ("Install complete");
 *   on failure `failed` ("Release \"web\" failed: …"), or with `--atomic` uninstalled entirely;
 * - upgrade: the last revision must not be pending; the current one is the deployed one (or a
 *   failed/superseded last one when none is); no new values reuse the current ones; the new
 *   revision is stored `pending-upgrade` ("Preparing upgrade"), applied, optionally waited for,
 *   then the current one becomes `superseded` and the new one `deployed` ("Upgrade complete");
 *   on failure the new one is `failed` ("Upgrade \"web\" failed: …") and `--atomic` rolls back
 *   to the newest superseded or deployed revision;
 * - rollback: a new revision with the chosen one's chart, values and manifest ("Rollback to
 *   N"), `pending-rollback`, applied, optionally waited for, every deployed revision
 *   superseded, the new one `deployed`;
 * - status: the newest (or a given) revision; history: the newest `--max` revisions, oldest first.
 *
 * A SIGINT/SIGTERM after the new revision is stored fails it with "context canceled", as Helm's
 * context handling does.
 */
import { build, create, existingResourceConflict, remove, setMetadata, update } from './apply.mjs';
import { checkInstallable, manifestObjects, renderRelease } from './chart.mjs';
import { HelmError, isReleaseNotFound, wrap } from './errors.mjs';
import { goNow } from './go-json.mjs';
import { ApiError } from './kube.mjs';
import { mergeMaps } from './values.mjs';
import { waitForResources } from './wait.mjs';

const VALID_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** chartutil `ValidateReleaseName`. */
export function validReleaseName(name) {
  return name !== '' && name.length <= 53 && VALID_NAME.test(name);
}

const isPending = (s) => s === 'pending-install' || s === 'pending-upgrade' || s === 'pending-rollback';

/** `cfg.recordRelease`: an update whose failure Helm only logs. */
async function recordRelease(storage, rls) {
  try { await storage.update(rls); } catch { /* logged upstream */ }
}

/**
 * Runs `work`; when `signal` aborts first, runs `onCancel` instead (the work goes on in the
 * background until the process exits, as Helm's goroutine does).
 */
async function cancellable(signal, work, onCancel) {
  if (!signal) return work();
  const running = work();
  const outcome = await Promise.race([
    running.then((value) => ({ value }), (error) => ({ error })),
    new Promise((resolve) => {
      if (signal.aborted) resolve({ cancelled: true });
      else signal.addEventListener('abort', () => resolve({ cancelled: true }), { once: true });
    }),
  ]);
  if (outcome.cancelled) { running.catch(() => {}); return onCancel(); }
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

/** Helm's Uninstall with KeepHistory=false, as `install --atomic` runs it. */
async function uninstall(ctx, name) {
  const { kube, storage } = ctx;
  const rels = (await storage.history(name)).sort((a, b) => a.version - b.version);
  const rel = rels[rels.length - 1];
  rel.info.status = 'uninstalling';
  rel.info.deleted = goNow();
  rel.info.description = 'Deletion in progress (or silently failed)';
  await recordRelease(storage, rel);
  const errors = await remove(kube, await build(kube, manifestObjects(rel.manifest), rel.namespace));
  for (const r of rels) {
    try { await storage.delete(r.name, r.version); } catch (err) { errors.push(wrap(err, 'uninstall: Failed to purge the release').message); }
  }
  if (errors.length > 0) throw new HelmError(`uninstallation completed with ${errors.length} error(s): ${errors.join('; ')}`);
}

/**
 * `helm install` as `upgrade --install` runs it for a new release. Options: `{ name, chart,
 * config, wait, timeoutMs, atomic, description, createNamespace }`. Resolves to the release.
 */
export async function install(ctx, o) {
  const { kube, storage, namespace } = ctx;
  if (!validReleaseName(o.name)) throw new HelmError(`release name ${JSON.stringify(o.name)}: invalid release name, must match regex ${VALID_NAME.source} and the length must not be longer than 53`);
  checkInstallable(o.chart);
  const wait = o.wait || o.atomic;
  const ts = goNow();
  const rel = {
    name: o.name, namespace, chart: o.chart, config: o.config,
    info: { first_deployed: ts, last_deployed: ts, deleted: '', status: 'unknown' },
    version: 1, labels: {},
  };
  const rendered = await renderRelease(o.chart, o.config, { name: o.name, namespace }, o.postRenderer);
  rel.manifest = rendered.manifest;
  if (rendered.notes) rel.info.notes = rendered.notes;
  let resources;
  try {
    resources = await build(kube, rendered.resources.map((m) => m.object), namespace);
  } catch (err) {
    throw wrap(err, 'unable to build kubernetes objects from release manifest');
  }
  setMetadata(resources, o.name, namespace);
  try {
    await existingResourceConflict(kube, resources, o.name, namespace);
  } catch (err) {
    throw wrap(err, 'rendered manifests contain a resource that already exists. Unable to continue with install');
  }
  if (o.createNamespace) {
    try {
      await kube.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { name: namespace } } } });
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 409)) throw err;
    }
  }
  rel.info.status = 'pending-install';
  rel.info.description = 'Initial install underway';
  await storage.create(rel);

  const fail = async (err) => {
    rel.info.status = 'failed';
    rel.info.description = `Release ${JSON.stringify(o.name)} failed: ${err.message}`;
    if (o.atomic) {
      try {
        await uninstall(ctx, o.name);
      } catch (uerr) {
        throw new HelmError(`an error occurred while uninstalling the release. original install error: ${err.message}: ${uerr.message}`);
      }
      throw new HelmError(`release ${o.name} failed, and has been uninstalled due to atomic being set: ${err.message}`);
    }
    await recordRelease(storage, rel);
    throw err;
  };
  return cancellable(ctx.signal, async () => {
    try {
      await create(kube, resources);
      if (wait) await waitForResources(kube, resources, o.timeoutMs);
    } catch (err) {
      return fail(err);
    }
    rel.info.status = 'deployed';
    rel.info.description = o.description || 'Install complete';
    await recordRelease(storage, rel);
    return rel;
  }, () => fail(new HelmError('context canceled')));
}

/**
 * `helm upgrade`. Options: `{ name, chart, config, wait, timeoutMs, atomic, description,
 * resetValues, reuseValues, maxHistory }`. Resolves to the new release; errors are unprefixed
 * (the command adds "UPGRADE FAILED: ").
 */
export async function upgrade(ctx, o) {
  const { kube, storage } = ctx;
  if (!validReleaseName(o.name)) throw new HelmError(`release name is invalid: ${o.name}`);
  const wait = o.wait || o.atomic;

  let lastRelease;
  try {
    lastRelease = await storage.last(o.name);
  } catch (err) {
    if (isReleaseNotFound(err)) throw new HelmError(`${JSON.stringify(o.name)} has no deployed releases`);
    throw err;
  }
  if (isPending(lastRelease.info.status)) throw new HelmError('another operation (install/upgrade/rollback) is in progress');
  let currentRelease = lastRelease;
  if (lastRelease.info.status !== 'deployed') {
    try {
      currentRelease = await storage.deployed(o.name);
    } catch (err) {
      if (!(err.message.endsWith('has no deployed releases') && (lastRelease.info.status === 'failed' || lastRelease.info.status === 'superseded'))) throw err;
      currentRelease = lastRelease;
    }
  }

  // Upgrade.reuseValues
  let config = o.config;
  const chart = o.chart;
  if (o.resetValues) {
    // the new values only
  } else if (o.reuseValues) {
    chart.values = mergeMaps(currentRelease.chart?.values ?? {}, currentRelease.config ?? {});
    config = mergeMaps(currentRelease.config ?? {}, config);
  } else if (Object.keys(config).length === 0 && Object.keys(currentRelease.config ?? {}).length > 0) {
    config = currentRelease.config;
  }

  const namespace = currentRelease.namespace;
  const rendered = await renderRelease(chart, config, { name: o.name, namespace }, o.postRenderer);
  const upgraded = {
    name: o.name, namespace, chart, config,
    info: { first_deployed: currentRelease.info.first_deployed, last_deployed: goNow(), deleted: '', status: 'pending-upgrade', description: 'Preparing upgrade' },
    version: lastRelease.version + 1,
    manifest: rendered.manifest,
    labels: { ...(lastRelease.labels ?? {}) },
  };
  if (rendered.notes) upgraded.info.notes = rendered.notes;
  const targetObjects = rendered.resources.map((m) => m.object);
  // validateManifest: a manifest that does not map fails before anything is stored.
  await build(kube, targetObjects, namespace);

  let current;
  try {
    current = await build(kube, manifestObjects(currentRelease.manifest), namespace);
  } catch (err) {
    throw wrap(err, 'unable to build kubernetes objects from current release manifest');
  }
  let target;
  try {
    target = await build(kube, targetObjects, namespace);
  } catch (err) {
    throw wrap(err, 'unable to build kubernetes objects from new release manifest');
  }
  setMetadata(target, o.name, namespace);
  const existing = new Set(current.map((r) => r.key));
  let adopt;
  try {
    adopt = await existingResourceConflict(kube, target.filter((r) => !existing.has(r.key)), o.name, namespace);
  } catch (err) {
    throw wrap(err, 'unable to continue with update');
  }
  current.push(...adopt);

  storage.maxHistory = o.maxHistory;
  await storage.create(upgraded);

  const fail = async (err) => {
    upgraded.info.status = 'failed';
    upgraded.info.description = `Upgrade ${JSON.stringify(o.name)} failed: ${err.message}`;
    await recordRelease(storage, upgraded);
    if (!o.atomic) throw err;
    let full;
    try {
      full = await storage.history(o.name);
    } catch (herr) {
      throw new HelmError(`an error occurred while finding last successful release. original upgrade error: ${err.message}: ${herr.message}`);
    }
    const good = full.filter((r) => r.info.status === 'superseded' || r.info.status === 'deployed').sort((a, b) => b.version - a.version);
    if (good.length === 0) throw wrap(err, 'unable to find a previously successful release when attempting to rollback. original upgrade error');
    try {
      await rollback({ ...ctx, signal: undefined }, { name: o.name, version: good[0].version, wait: true, timeoutMs: o.timeoutMs, maxHistory: 0 });
    } catch (rerr) {
      throw new HelmError(`an error occurred while rolling back the release. original upgrade error: ${err.message}: ${rerr.message}`);
    }
    throw new HelmError(`release ${o.name} failed, and has been rolled back due to atomic being set: ${err.message}`);
  };

  return cancellable(ctx.signal, async () => {
    try {
      await update(kube, current, target);
      if (wait) await waitForResources(kube, target, o.timeoutMs);
    } catch (err) {
      await recordRelease(storage, currentRelease);
      return fail(err);
    }
    currentRelease.info.status = 'superseded';
    await recordRelease(storage, currentRelease);
    upgraded.info.status = 'deployed';
    upgraded.info.description = o.description || 'Upgrade complete';
    await storage.update(upgraded);
    return upgraded;
  }, () => fail(new HelmError('context canceled')));
}

/** `helm rollback`. Options: `{ name, version (0 = the previous one), wait, timeoutMs, maxHistory }`. */
export async function rollback(ctx, o) {
  const { kube, storage } = ctx;
  storage.maxHistory = o.maxHistory;
  if (!validReleaseName(o.name)) throw new HelmError(`prepareRollback: Rollback has an invalid release name ${o.name}`);
  if (o.version < 0) throw new HelmError('invalid release revision number');
  const currentRelease = await storage.last(o.name);
  const previousVersion = o.version === 0 ? currentRelease.version - 1 : o.version;
  const history = await storage.history(o.name);
  if (!history.some((r) => r.version === previousVersion)) throw new HelmError(`release has no ${previousVersion} version`);
  const previous = await storage.get(o.name, previousVersion);
  const target = {
    name: o.name,
    namespace: currentRelease.namespace,
    chart: previous.chart,
    config: previous.config,
    info: {
      first_deployed: currentRelease.info.first_deployed,
      last_deployed: goNow(),
      deleted: '',
      status: 'pending-rollback',
      ...(previous.info.notes ? { notes: previous.info.notes } : {}),
      description: `Rollback to ${previousVersion}`,
    },
    version: currentRelease.version + 1,
    labels: { ...(previous.labels ?? {}) },
    manifest: previous.manifest,
  };
  await storage.create(target);

  let current;
  try {
    current = await build(kube, manifestObjects(currentRelease.manifest), currentRelease.namespace);
  } catch (err) {
    throw wrap(err, 'unable to build kubernetes objects from current release manifest');
  }
  let targetRes;
  try {
    targetRes = await build(kube, manifestObjects(target.manifest), target.namespace);
  } catch (err) {
    throw wrap(err, 'unable to build kubernetes objects from new release manifest');
  }
  setMetadata(targetRes, target.name, target.namespace);
  try {
    await update(kube, current, targetRes);
  } catch (err) {
    currentRelease.info.status = 'superseded';
    target.info.status = 'failed';
    target.info.description = `Rollback ${JSON.stringify(o.name)} failed: ${err.message}`;
    await recordRelease(storage, currentRelease);
    await recordRelease(storage, target);
    throw err;
  }
  if (o.wait) {
    try {
      await waitForResources(kube, targetRes, o.timeoutMs);
    } catch (err) {
      target.info.status = 'failed';
      target.info.description = `Release ${JSON.stringify(o.name)} failed: ${err.message}`;
      await recordRelease(storage, currentRelease);
      await recordRelease(storage, target);
      throw wrap(err, `release ${o.name} failed`);
    }
  }
  let deployed = [];
  try {
    deployed = await storage.deployedAll(o.name);
  } catch (err) {
    if (!err.message.includes('has no deployed releases')) throw err;
  }
  for (const rel of deployed) {
    rel.info.status = 'superseded';
    await recordRelease(storage, rel);
  }
  target.info.status = 'deployed';
  await storage.update(target);
  return target;
}

/** `helm status`: the newest revision, or `revision` when it is > 0. */
export async function status(ctx, o) {
  if (!validReleaseName(o.name)) throw new HelmError(`releaseContent: Release name is invalid: ${o.name}`);
  if (o.revision > 0) return ctx.storage.get(o.name, o.revision);
  return ctx.storage.last(o.name);
}

/** `helm history`: rows of the newest `max` revisions, oldest first. */
export async function history(ctx, o) {
  if (!validReleaseName(o.name)) throw new HelmError(`release name is invalid: ${o.name}`);
  const all = (await ctx.storage.history(o.name)).sort((a, b) => b.version - a.version).slice(0, Math.max(0, o.max));
  return all.reverse().map((r) => ({
    revision: r.version,
    updated: r.info.last_deployed ?? '',
    status: r.info.status ?? '',
    chart: r.chart?.metadata ? `${r.chart.metadata.name}-${r.chart.metadata.version}` : 'MISSING',
    app_version: r.chart?.metadata ? (r.chart.metadata.appVersion ?? '') : 'MISSING',
    description: r.info.description ?? '',
  }));
}

/** `helm history`'s first step in `upgrade --install`: whether the release has any revision. */
export async function exists(ctx, name) {
  if (!validReleaseName(name)) throw new HelmError(`release name is invalid: ${name}`);
  try {
    await ctx.storage.history(name);
    return true;
  } catch (err) {
    if (isReleaseNotFound(err)) return false;
    throw err;
  }
}
