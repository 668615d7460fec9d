/**
 * The semantics of the FAKE Kubernetes API server's verbs, independent of HTTP: get, list,
 * create, update (PUT), patch (JSON, merge, strategic merge, server-side apply), delete with
 * propagation policies, preconditions, graceful pod deletion and finalizers. Both the HTTP
 * layer (server.ts) and the fake's own controllers go through here, so a controller's write
 * bumps resourceVersion and reaches watches exactly like a client's.
 *
 * Upstream behaviour kept: uid and creationTimestamp on create; one global resourceVersion; a
 * no-op write does not bump it; `metadata.generation` starts at 1 and is bumped only when
 * anything outside metadata and status changes (and, for Deployments, when annotations change,
 * as upstream's deployment strategy does because annotations are copied to ReplicaSets);
 * writes to the main resource ignore status and writes to `/status` ignore everything else; a
 * stale `metadata.resourceVersion` is a 409; a missing namespace is a 404
 * `namespaces "x" not found`; creating in a terminating namespace is a 403; managedFields per
 * fields.ts. Kind-specific behaviour (defaults, validation, merge keys, graceful pod deletion)
 * belongs to the built-in types only: a custom resource named like a built-in kind (a Knative
 * `Service`) is stored as plain JSON. Not modelled: admission webhooks, resource quotas, field validation of unknown
 * fields (`fieldValidation=Strict` is accepted and ignored), API version conversion.
 */
import { randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { applyDefaults } from './defaults.js';
import type { ManagedFieldsEntry } from './fields.js';
import { recordUpdate, serverSideApply } from './fields.js';
import { PatchError, applyJsonPatch, applyMergePatch, strategicMerge } from './patch.js';
import type { ResourceType } from './resources.js';
import { ResourceRegistry, apiVersionOf, findByKind, qualifiedResource } from './resources.js';
import type { SchemaNode } from './schema.js';
import { CUSTOM_RESOURCE_SCHEMA, schemaFor } from './schema.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { StatusBody } from './status.js';
import { ApiError, alreadyExists, badRequest, invalid, namespaceNotFound, notFound, preconditionConflict, staleConflict, success, unsupportedPatch } from './status.js';
import type { Store } from './store.js';
import type { Obj } from './util.js';
import { clone, deepEqual, isObj, nowRfc3339, randSuffix } from './util.js';
import { validate } from './validation.js';

/** Media types of PATCH bodies. */
export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** Options of a write. */
export interface WriteOptions {
  /** `?fieldManager=`; defaults to the user agent's program name as upstream does. */
  fieldManager?: string;
  /** `?dryRun=All`: validate and answer, store nothing. */
  dryRun?: boolean;
  /** `status` or `scale` when writing a subresource. */
  subresource?: string;
  /** `?force=true` for server-side apply. */
  force?: boolean;
}

/** `metav1.DeleteOptions`, from the body or the query. */
export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  orphanDependents?: boolean;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

/** Selectors of a list or watch. */
export interface ListOptions {
  labelSelector?: string | null;
  fieldSelector?: string | null;
}

interface CommitContext {
  manager: string;
  subresource?: string;
  applyEntries?: ManagedFieldsEntry[];
  dryRun?: boolean;
  /** The fake's own controllers: skip validation (they write what the scheduler/kubelet may). */
  internal?: boolean;
}

function meta(o: Obj): Obj {
  if (!isObj(o.metadata)) o.metadata = {};
  return o.metadata as Obj;
}

function specPart(o: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) if (k !== 'metadata' && k !== 'status' && k !== 'apiVersion' && k !== 'kind') out[k] = v;
  return out;
}

function withoutVolatile(o: Obj): Obj {
  const c = clone(o);
  const m = meta(c);
  delete m.resourceVersion;
  if (Array.isArray(m.managedFields)) m.managedFields = (m.managedFields as Obj[]).map((e) => ({ ...e, time: undefined }));
  return c;
}

/** The verbs of the fake API, over a Store. */
export class FakeApi {
  /** `types`: what this server serves (built-in kinds and the custom resources defined on it). */
  constructor(readonly store: Store, readonly types: ResourceRegistry = new ResourceRegistry()) {}

  // ------------------------------------------------------------ reads

  /** A copy of an object; 404 when absent. */
  get(rt: ResourceType, ns: string, name: string): Obj {
    const o = this.store.peek(rt, ns, name);
    if (!o) throw notFound(rt, name);
    return clone(o);
  }

  /** A copy of an object, or undefined. */
  find(rt: ResourceType, ns: string, name: string): Obj | undefined {
    const o = this.store.peek(rt, ns, name);
    return o ? clone(o) : undefined;
  }

  /** Objects of a type (one namespace, or all when `ns` is undefined) matching the selectors. */
  select(rt: ResourceType, ns: string | undefined, opts: ListOptions = {}): Obj[] {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector, rt.kind);
    return this.store.all(rt, rt.namespaced ? ns : undefined).filter((o) => matchesLabels(labels, meta(o).labels as Record<string, string>) && matchesFields(fields, o));
  }

  /** A `<Kind>List` answer with `metadata.resourceVersion`. */
  list(rt: ResourceType, ns: string | undefined, opts: ListOptions = {}): Obj {
    const items = this.select(rt, ns, opts).map((o) => {
      // Built-in kinds' list items carry no kind/apiVersion on the wire; custom resources' do.
      if (!rt.custom) { delete o.kind; delete o.apiVersion; }
      return o;
    });
    return { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(this.store.resourceVersion) }, items };
  }

  // ------------------------------------------------------------ writes

  /** POST: creates an object. */
  create(rt: ResourceType, ns: string, body: unknown, opts: WriteOptions & { internal?: boolean } = {}): Obj {
    if (!isObj(body)) throw badRequest('the body of the request was not a JSON object');
    this.#checkKind(rt, body);
    this.#checkNamespace(rt, ns, true, body);
    const m = isObj(body.metadata) ? body.metadata : {};
    if (rt.namespaced && m.namespace !== undefined && m.namespace !== '' && m.namespace !== ns) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (m.resourceVersion !== undefined && m.resourceVersion !== '' && !opts.internal) throw badRequest('resourceVersion should not be set on objects to be created');
    let name = typeof m.name === 'string' ? m.name : '';
    if (!name && typeof m.generateName === 'string' && m.generateName) name = `${m.generateName}${randSuffix()}`;
    if (name && this.store.peek(rt, rt.namespaced ? ns : '', name)) throw alreadyExists(rt, name);
    const obj = clone(body);
    const om = meta(obj);
    om.name = name;
    if (rt.namespaced) om.namespace = ns; else delete om.namespace;
    om.uid = randomUUID();
    om.creationTimestamp = nowRfc3339();
    delete om.resourceVersion;
    delete om.managedFields;
    delete om.deletionTimestamp;
    delete om.generation;
    if (rt.subresources.includes('status')) delete obj.status;
    return this.#commit(rt, rt.namespaced ? ns : '', undefined, obj, { manager: opts.fieldManager ?? 'unknown', dryRun: opts.dryRun, internal: opts.internal });
  }

  /** PUT: replaces an object (or its status). */
  replace(rt: ResourceType, ns: string, name: string, body: unknown, opts: WriteOptions = {}): Obj {
    if (!isObj(body)) throw badRequest('the body of the request was not a JSON object');
    this.#checkKind(rt, body);
    const key = rt.namespaced ? ns : '';
    const old = this.store.peek(rt, key, name);
    const m = isObj(body.metadata) ? body.metadata : {};
    if (m.name !== undefined && m.name !== name) throw badRequest(`the name of the object (${String(m.name)}) does not match the name on the URL (${name})`);
    if (!old) {
      if (rt.namespaced) this.#checkNamespace(rt, ns, false);
      throw notFound(rt, name);
    }
    if (m.resourceVersion !== undefined && m.resourceVersion !== '' && m.resourceVersion !== meta(old).resourceVersion) throw staleConflict(rt, name);
    if (opts.subresource === 'scale') return this.#writeScale(rt, key, name, old, body, opts);
    return this.#commit(rt, key, old, clone(body), { manager: opts.fieldManager ?? 'unknown', subresource: opts.subresource, dryRun: opts.dryRun });
  }

  /** PATCH with one of PATCH_TYPES. Server-side apply creates the object when absent. */
  patch(rt: ResourceType, ns: string, name: string, contentType: string, rawBody: string, opts: WriteOptions = {}): Obj {
    const key = rt.namespaced ? ns : '';
    const type = contentType.split(';')[0].trim().toLowerCase();
    const accepted = rt.custom ? [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.apply] : [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.strategic, PATCH_TYPES.apply];
    if (!accepted.includes(type as (typeof accepted)[number])) throw unsupportedPatch(accepted);
    const old = this.store.peek(rt, key, name);
    if (type === PATCH_TYPES.apply) return this.#apply(rt, ns, name, old, rawBody, opts);
    let body: unknown;
    try { body = JSON.parse(rawBody); } catch (err) { throw badRequest(`error decoding patch: ${(err as Error).message}`); }
    if (!old) {
      if (rt.namespaced) this.#checkNamespace(rt, ns, false);
      throw notFound(rt, name);
    }
    const base = opts.subresource === 'scale' ? this.#scaleOf(rt, old) : clone(old);
    let patched: unknown;
    try {
      if (type === PATCH_TYPES.json) patched = applyJsonPatch(base, body);
      else if (type === PATCH_TYPES.merge) patched = applyMergePatch(base, body);
      else patched = strategicMerge(base, body, opts.subresource === 'scale' ? { t: 'any' } : this.#schema(rt));
    } catch (err) {
      if (err instanceof PatchError) throw new ApiError(422, 'Invalid', err.message);
      throw err;
    }
    if (!isObj(patched)) throw new ApiError(422, 'Invalid', 'the patch produced something that is not an object');
    const pm = meta(patched);
    if (pm.resourceVersion !== undefined && pm.resourceVersion !== meta(old).resourceVersion) throw staleConflict(rt, name);
    if (pm.name !== undefined && pm.name !== name) throw badRequest(`the name of the object (${String(pm.name)}) does not match the name on the URL (${name})`);
    if (opts.subresource === 'scale') return this.#writeScale(rt, key, name, old, patched, opts);
    return this.#commit(rt, key, old, patched, { manager: opts.fieldManager ?? 'unknown', subresource: opts.subresource, dryRun: opts.dryRun });
  }

  #apply(rt: ResourceType, ns: string, name: string, old: Obj | undefined, rawBody: string, opts: WriteOptions): Obj {
    if (!opts.fieldManager) throw badRequest('fieldManager is required for apply requests');
    let applied: unknown;
    try { applied = parseYaml(rawBody); } catch (err) { throw badRequest(`error decoding YAML: ${(err as Error).message}`); }
    if (!isObj(applied)) throw badRequest('the body of the request was not a YAML or JSON object');
    if (typeof applied.apiVersion !== 'string' || typeof applied.kind !== 'string') throw badRequest(`invalid object type: ${String(applied.apiVersion ?? '')}, Kind=${String(applied.kind ?? '')}`);
    this.#checkKind(rt, applied);
    const am = isObj(applied.metadata) ? applied.metadata : {};
    if (am.name !== undefined && am.name !== name) throw badRequest(`the name of the object (${String(am.name)}) does not match the name on the URL (${name})`);
    const key = rt.namespaced ? ns : '';
    const apiVersion = apiVersionOf(rt);
    if (!old) {
      this.#checkNamespace(rt, ns, true, applied);
      const result = serverSideApply(undefined, applied, this.#schema(rt), opts.fieldManager, apiVersion, Boolean(opts.force), opts.subresource);
      if (opts.subresource) throw notFound(rt, name);
      const obj = result.object;
      const om = meta(obj);
      om.name = name;
      // Upstream clears the namespace of a cluster-scoped object instead of refusing it.
      if (rt.namespaced) om.namespace = ns; else delete om.namespace;
      om.uid = randomUUID();
      om.creationTimestamp = nowRfc3339();
      return this.#commit(rt, key, undefined, obj, { manager: opts.fieldManager, applyEntries: result.managedFields, dryRun: opts.dryRun });
    }
    if (am.resourceVersion !== undefined && am.resourceVersion !== meta(old).resourceVersion) throw staleConflict(rt, name);
    const result = serverSideApply(old, applied, this.#schema(rt), opts.fieldManager, apiVersion, Boolean(opts.force), opts.subresource);
    return this.#commit(rt, key, old, result.object, { manager: opts.fieldManager, subresource: opts.subresource, applyEntries: result.managedFields, dryRun: opts.dryRun });
  }

  /** DELETE. Answers the object (graceful, finalizers, pods) or a Success Status. */
  delete(rt: ResourceType, ns: string, name: string, opts: DeleteOptions = {}): Obj | StatusBody {
    const key = rt.namespaced ? ns : '';
    const old = this.store.peek(rt, key, name);
    if (!old) throw notFound(rt, name);
    const om = meta(old);
    if (opts.preconditions?.uid && opts.preconditions.uid !== om.uid) {
      throw preconditionConflict(rt, name, `Precondition failed: UID in precondition: ${opts.preconditions.uid}, UID in object meta: ${String(om.uid)}`);
    }
    if (opts.preconditions?.resourceVersion && opts.preconditions.resourceVersion !== om.resourceVersion) {
      throw preconditionConflict(rt, name, `Precondition failed: ResourceVersion in precondition: ${opts.preconditions.resourceVersion}, ResourceVersion in object meta: ${String(om.resourceVersion)}`);
    }
    if (opts.dryRun) return clone(old);
    const policy = opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : opts.orphanDependents === false ? 'Background' : rt.defaultPropagation);
    const now = nowRfc3339();
    const kind = this.#builtInKind(rt);
    if (kind === 'Namespace') {
      this.mutate(rt, '', name, (o) => {
        const m = meta(o);
        if (!m.deletionTimestamp) m.deletionTimestamp = now;
        m.deletionGracePeriodSeconds = 0;
      }, 'kube-apiserver', undefined, true);
      return this.mutate(rt, '', name, (o) => {
        o.status = { ...(isObj(o.status) ? o.status : {}), phase: 'Terminating' };
      }, 'kube-apiserver', 'status', true) ?? clone(old);
    }
    if (policy === 'Orphan') this.#orphanDependents(key, String(om.uid));
    if (kind === 'Pod') {
      const spec = isObj(old.spec) ? old.spec : {};
      const phase = isObj(old.status) ? old.status.phase : undefined;
      const grace = opts.gracePeriodSeconds ?? (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30);
      const graceful = grace > 0 && typeof spec.nodeName === 'string' && spec.nodeName !== '' && phase !== 'Succeeded' && phase !== 'Failed';
      if (graceful || (Array.isArray(om.finalizers) && om.finalizers.length)) {
        const current = typeof om.deletionGracePeriodSeconds === 'number' ? om.deletionGracePeriodSeconds : Infinity;
        if (om.deletionTimestamp && grace >= current) return clone(old);
        const effective = graceful ? grace : 0;
        return this.mutate(rt, key, name, (o) => {
          const m = meta(o);
          m.deletionTimestamp = nowRfc3339(Date.now() + effective * 1000);
          m.deletionGracePeriodSeconds = effective;
        }, 'kube-apiserver', undefined, true) as Obj;
      }
      return this.store.remove(rt, key, name) as Obj;
    }
    const finalizers = Array.isArray(om.finalizers) ? [...(om.finalizers as string[])] : [];
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (finalizers.length) {
      return this.mutate(rt, key, name, (o) => {
        const m = meta(o);
        if (!m.deletionTimestamp) m.deletionTimestamp = now;
        m.deletionGracePeriodSeconds = 0;
        m.finalizers = finalizers;
      }, 'kube-apiserver', undefined, true) as Obj;
    }
    const removed = this.store.remove(rt, key, name) as Obj;
    return success(rt, name, String(meta(removed).uid));
  }

  /** DELETE on a collection: deletes every match; answers the list of what was deleted. */
  deleteCollection(rt: ResourceType, ns: string | undefined, sel: ListOptions, opts: DeleteOptions = {}): Obj {
    const items: Obj[] = [];
    for (const o of this.select(rt, ns, sel)) {
      const m = meta(o);
      const r = this.delete(rt, String(m.namespace ?? ''), String(m.name), opts);
      items.push(r.kind === 'Status' ? o : (r as Obj));
    }
    return { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(this.store.resourceVersion) }, items };
  }

  // ------------------------------------------------------------ internal writes (controllers)

  /**
   * Read-modify-write by the fake's own components: `fn` edits a copy; nothing is written when
   * it changes nothing. Returns the stored object, or undefined when the object is gone.
   */
  mutate(rt: ResourceType, ns: string, name: string, fn: (o: Obj) => void, manager: string, subresource?: string, internal = true): Obj | undefined {
    const key = rt.namespaced ? ns : '';
    const old = this.store.peek(rt, key, name);
    if (!old) return undefined;
    const next = clone(old);
    fn(next);
    if (deepEqual(next, old)) return clone(old);
    return this.#commit(rt, key, old, next, { manager, subresource, internal });
  }

  /** Removes an object at once (the kubelet finishing a pod's deletion, the GC, the namespace controller). */
  removeNow(rt: ResourceType, ns: string, name: string): Obj | undefined {
    return this.store.remove(rt, rt.namespaced ? ns : '', name);
  }

  // ------------------------------------------------------------ helpers

  /** The kind whose built-in behaviour applies to `rt`: its kind for built-in types, '' for custom resources a test defined. */
  #builtInKind(rt: ResourceType): string {
    return this.types.isBuiltIn(rt) ? rt.kind : '';
  }

  /** The merge schema of a type (custom resources a test defined: metadata only, every list atomic). */
  #schema(rt: ResourceType): SchemaNode {
    return this.types.isBuiltIn(rt) ? schemaFor(rt.kind) : CUSTOM_RESOURCE_SCHEMA;
  }

  #checkKind(rt: ResourceType, body: Obj): void {
    if (body.kind !== undefined && body.kind !== rt.kind) {
      throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${rt.kind})`);
    }
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(rt)) {
      throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${apiVersionOf(rt)})`);
    }
  }

  #checkNamespace(rt: ResourceType, ns: string, creating: boolean, body?: Obj): void {
    if (!rt.namespaced) return;
    const nsRt = findByKind('Namespace') as ResourceType;
    const nsObj = this.store.peek(nsRt, '', ns);
    if (!nsObj) throw namespaceNotFound(ns);
    if (creating && isObj(nsObj.status) && nsObj.status.phase === 'Terminating') {
      const name = body && isObj(body.metadata) ? String(body.metadata.name ?? '') : '';
      throw new ApiError(403, 'Forbidden', `${qualifiedResource(rt)} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
        { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.plural, causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }] });
    }
  }

  #orphanDependents(ns: string, ownerUid: string): void {
    for (const drt of this.types.all) {
      if (!drt.namespaced && ns !== '') continue;
      for (const d of this.store.all(drt, drt.namespaced ? ns : undefined)) {
        const refs = meta(d).ownerReferences;
        if (!Array.isArray(refs) || !refs.some((r) => isObj(r) && r.uid === ownerUid)) continue;
        this.mutate(drt, String(meta(d).namespace ?? ''), String(meta(d).name), (o) => {
          const m = meta(o);
          m.ownerReferences = (m.ownerReferences as Obj[]).filter((r) => r.uid !== ownerUid);
          if ((m.ownerReferences as Obj[]).length === 0) delete m.ownerReferences;
        }, 'kube-controller-manager');
      }
    }
  }

  #scaleOf(rt: ResourceType, o: Obj): Obj {
    const kind = this.#builtInKind(rt);
    if (kind !== 'Deployment' && kind !== 'ReplicaSet') throw notFound(rt, String(meta(o).name));
    const m = meta(o);
    const spec = isObj(o.spec) ? o.spec : {};
    const status = isObj(o.status) ? o.status : {};
    const sel = isObj(spec.selector) && isObj(spec.selector.matchLabels) ? Object.entries(spec.selector.matchLabels).map(([k, v]) => `${k}=${String(v)}`).join(',') : '';
    return {
      kind: 'Scale', apiVersion: 'autoscaling/v1',
      metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
      spec: { replicas: spec.replicas ?? 0 }, status: { replicas: status.replicas ?? 0, selector: sel },
    };
  }

  /** GET on `/scale`. */
  getScale(rt: ResourceType, ns: string, name: string): Obj {
    return this.#scaleOf(rt, this.get(rt, ns, name));
  }

  #writeScale(rt: ResourceType, key: string, name: string, old: Obj, scale: Obj, opts: WriteOptions): Obj {
    const replicas = isObj(scale.spec) ? scale.spec.replicas : undefined;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) throw invalid(rt, name, [{ reason: 'FieldValueInvalid', message: `Invalid value: ${String(replicas)}: must be greater than or equal to 0`, field: 'spec.replicas' }]);
    const next = clone(old);
    (next.spec as Obj).replicas = replicas;
    const stored = this.#commit(rt, key, old, next, { manager: opts.fieldManager ?? 'unknown', subresource: 'scale', dryRun: opts.dryRun });
    return this.#scaleOf(rt, stored);
  }

  /** Validates, defaults, versions and stores a write; the single path every write takes. */
  #commit(rt: ResourceType, key: string, old: Obj | undefined, next: Obj, ctx: CommitContext): Obj {
    const kind = this.#builtInKind(rt);
    let candidate: Obj;
    const scope = ctx.subresource === 'status' ? 'status' : 'main';
    if (old && scope === 'status') {
      candidate = clone(old);
      candidate.status = clone(next.status);
      // Upstream's deployment and replicaset status strategies keep annotation changes (the
      // deployment controller writes the revision annotation through UpdateStatus).
      if ((kind === 'Deployment' || kind === 'ReplicaSet') && isObj(next.metadata)) {
        const ann = (next.metadata as Obj).annotations;
        if (ann === undefined) delete meta(candidate).annotations; else meta(candidate).annotations = clone(ann);
      }
    } else {
      candidate = clone(next);
      if (old) {
        const cm = meta(candidate);
        const om = meta(old);
        for (const f of ['uid', 'creationTimestamp', 'generation', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'name', 'namespace']) {
          if (ctx.internal && (f === 'deletionTimestamp' || f === 'deletionGracePeriodSeconds')) continue;
          if (om[f] === undefined) delete cm[f]; else cm[f] = om[f];
        }
        if (rt.subresources.includes('status')) {
          if (old.status === undefined) delete candidate.status; else candidate.status = clone(old.status);
        }
        // An update that omits managedFields keeps them (upstream).
        if (cm.managedFields === undefined && om.managedFields !== undefined) cm.managedFields = clone(om.managedFields);
      }
    }
    candidate.apiVersion = apiVersionOf(rt);
    candidate.kind = rt.kind;
    applyDefaults(kind, candidate, !old);
    if (!ctx.internal) {
      const causes = validate(kind, candidate, old);
      if (causes.length) throw invalid(rt, String(meta(candidate).name ?? ''), causes);
    }
    const cm = meta(candidate);
    if (rt.generation && scope === 'main') {
      if (!old) cm.generation = 1;
      else {
        const om = meta(old);
        const specChanged = !deepEqual(specPart(old), specPart(candidate));
        const annotationsChanged = kind === 'Deployment' && !deepEqual(om.annotations ?? {}, cm.annotations ?? {});
        cm.generation = Number(om.generation ?? 1) + (specChanged || annotationsChanged ? 1 : 0);
      }
    }
    // Field ownership.
    const apiVersion = apiVersionOf(rt);
    const explicit = old && Array.isArray(next.metadata && (next.metadata as Obj).managedFields) && !deepEqual((next.metadata as Obj).managedFields, meta(old).managedFields);
    if (ctx.applyEntries) cm.managedFields = ctx.applyEntries;
    else if (explicit && ((next.metadata as Obj).managedFields as unknown[]).length > 0) cm.managedFields = clone((next.metadata as Obj).managedFields);
    else {
      const base = explicit ? undefined : old;
      const sub = ctx.subresource === 'scale' ? undefined : ctx.subresource;
      cm.managedFields = recordUpdate(base, candidate, this.#schema(rt), ctx.manager, apiVersion, sub);
    }
    if (Array.isArray(cm.managedFields) && cm.managedFields.length === 0) delete cm.managedFields;
    if (old && deepEqual(withoutVolatile(old), withoutVolatile(candidate))) return clone(old);
    if (ctx.dryRun) {
      if (old) cm.resourceVersion = meta(old).resourceVersion;
      return candidate;
    }
    cm.resourceVersion = String(this.store.nextRv());
    this.store.put(rt, key, candidate);
    // A deleted object whose last finalizer went away is removed (pods: once the kubelet is done).
    const finalizers = Array.isArray(cm.finalizers) ? cm.finalizers : [];
    if (cm.deletionTimestamp && finalizers.length === 0 && old && kind !== 'Namespace') {
      if (kind !== 'Pod' || cm.deletionGracePeriodSeconds === 0) return this.store.remove(rt, key, String(cm.name)) as Obj;
    }
    return clone(candidate);
  }
}
