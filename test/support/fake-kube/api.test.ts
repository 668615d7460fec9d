/**
 * The fake's verb semantics (no HTTP): resourceVersion, uid, generation, the status
 * subresource, 404/409/422 answers, field ownership with server-side apply conflicts, and
 * deletion with propagation policies and finalizers — each as upstream's API server does it.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeApi, PATCH_TYPES } from './api.js';
import { fromFieldsV1 } from './fields.js';
import { resolveKind } from './resources.js';
import { ApiError } from './status.js';
import { Store } from './store.js';
import type { Obj } from './util.js';

const DEPLOY = resolveKind('deployment');
const NS = resolveKind('namespace');
const POD = resolveKind('pod');
const SVC = resolveKind('service');
const CM = resolveKind('configmap');

function deployment(image = 'fake.local/ok:1', replicas = 2): Obj {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } } },
  };
}

function caught(fn: () => unknown): ApiError {
  try { fn(); } catch (err) { if (err instanceof ApiError) return err; throw err; }
  throw new Error('expected an ApiError');
}

const meta = (o: Obj): Obj => o.metadata as Obj;

let store: Store;
let api: FakeApi;
beforeEach(() => {
  store = new Store(1000);
  api = new FakeApi(store);
  api.create(NS, '', { metadata: { name: 'shop' } }, { fieldManager: 'test' });
});

describe('create', () => {
  it('assigns uid, creationTimestamp, generation 1, a fresh global resourceVersion and defaults', () => {
    const before = store.resourceVersion;
    const d = api.create(DEPLOY, 'shop', deployment(), { fieldManager: 'kubectl' });
    expect(meta(d).uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(meta(d).creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(meta(d).generation).toBe(1);
    expect(meta(d).resourceVersion).toBe(String(before + 1));
    expect((d.spec as Obj).strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
    expect((d.spec as Obj).progressDeadlineSeconds).toBe(600);
    const cm = api.create(CM, 'shop', { metadata: { name: 'c' }, data: { a: '1' } }, {});
    expect(Number(meta(cm).resourceVersion)).toBe(before + 2);
  });

  it('answers 404 namespaces "x" not found for a missing namespace, 409 AlreadyExists, 422 Invalid', () => {
    expect(caught(() => api.create(DEPLOY, 'nope', deployment(), {})).status).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'namespaces "nope" not found', reason: 'NotFound', details: { name: 'nope', kind: 'namespaces' }, code: 404,
    });
    api.create(DEPLOY, 'shop', deployment(), {});
    expect(caught(() => api.create(DEPLOY, 'shop', deployment(), {})).status).toMatchObject({ code: 409, reason: 'AlreadyExists', message: 'deployments.apps "web" already exists' });
    const bad = deployment();
    (((bad.spec as Obj).template as Obj).metadata as Obj).labels = { app: 'other' };
    expect(caught(() => api.create(DEPLOY, 'shop', { ...bad, metadata: { name: 'bad' } }, {})).status).toMatchObject({
      code: 422, reason: 'Invalid',
      message: 'Deployment.apps "bad" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`',
    });
    const noImage = deployment('');
    expect(caught(() => api.create(DEPLOY, 'shop', { ...noImage, metadata: { name: 'noimage' } }, {})).message)
      .toBe('Deployment.apps "noimage" is invalid: spec.template.spec.containers[0].image: Required value');
  });
});

describe('update and patch', () => {
  it('bumps generation only for spec changes, not for status or label-only changes', () => {
    api.create(DEPLOY, 'shop', deployment(), {});
    const labelsOnly = api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.merge, JSON.stringify({ metadata: { labels: { team: 'a' } } }), {});
    expect(meta(labelsOnly).generation).toBe(1);
    const status = api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.merge, JSON.stringify({ status: { replicas: 5 } }), { subresource: 'status' });
    expect(meta(status).generation).toBe(1);
    expect((status.status as Obj).replicas).toBe(5);
    const spec = api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.strategic, JSON.stringify({ spec: { replicas: 3 } }), {});
    expect(meta(spec).generation).toBe(2);
    expect(Number(meta(spec).resourceVersion)).toBeGreaterThan(Number(meta(status).resourceVersion));
  });

  it('ignores status on the main resource and everything but status on /status', () => {
    api.create(DEPLOY, 'shop', deployment(), {});
    const main = api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.merge, JSON.stringify({ status: { replicas: 9 } }), {});
    expect(main.status).toBeUndefined();
    const st = api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.merge, JSON.stringify({ spec: { replicas: 9 }, status: { replicas: 1 } }), { subresource: 'status' });
    expect((st.spec as Obj).replicas).toBe(2);
    expect((st.status as Obj).replicas).toBe(1);
  });

  it('answers 409 Conflict to a PUT with a stale resourceVersion and does not bump on a no-op', () => {
    const d = api.create(DEPLOY, 'shop', deployment(), {});
    const v1 = api.replace(DEPLOY, 'shop', 'web', { ...d, spec: { ...(d.spec as Obj), replicas: 4 } }, {});
    expect(caught(() => api.replace(DEPLOY, 'shop', 'web', { ...d, spec: { ...(d.spec as Obj), replicas: 5 } }, {})).status).toMatchObject({
      code: 409, reason: 'Conflict',
      message: 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again',
    });
    const again = api.replace(DEPLOY, 'shop', 'web', v1, {});
    expect(meta(again).resourceVersion).toBe(meta(v1).resourceVersion);
  });

  it('answers 404 for a missing object and 415 for strategic merge on a custom resource', () => {
    expect(caught(() => api.patch(DEPLOY, 'shop', 'nope', PATCH_TYPES.merge, '{}', {})).status).toMatchObject({ code: 404, reason: 'NotFound', message: 'deployments.apps "nope" not found' });
    expect(caught(() => api.patch(resolveKind('httproute'), 'shop', 'r', PATCH_TYPES.strategic, '{}', {})).code).toBe(415);
  });

  it('rejects an immutable selector change', () => {
    api.create(DEPLOY, 'shop', deployment(), {});
    const err = caught(() => api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.merge, JSON.stringify({ spec: { selector: { matchLabels: { app: 'web', color: 'blue' } }, template: { metadata: { labels: { color: 'blue' } } } } }), {}));
    expect(err.code).toBe(422);
    expect(err.message).toMatch(/^Deployment\.apps "web" is invalid: spec\.selector: Invalid value: .*: field is immutable$/);
  });
});

describe('server-side apply and field ownership', () => {
  const applied = (replicas: number, extra: Obj = {}): string => JSON.stringify({ ...deployment('fake.local/ok:1', replicas), ...extra });

  it('creates when absent and records an Apply entry owning only the applied fields', () => {
    const d = api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, applied(2), { fieldManager: 'gangway' });
    const entries = meta(d).managedFields as Obj[];
    expect(entries.map((e) => [e.manager, e.operation])).toEqual([['gangway', 'Apply']]);
    const owned = fromFieldsV1(entries[0].fieldsV1);
    expect(owned.has(JSON.stringify(['f:spec', 'f:replicas']))).toBe(true);
    expect(owned.has(JSON.stringify(['f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"web"}', 'f:image']))).toBe(true);
    expect(owned.has(JSON.stringify(['f:spec', 'f:progressDeadlineSeconds']))).toBe(false);
  });

  it('conflicts with another manager that owns a field it changes, unless forced', () => {
    api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, applied(2), { fieldManager: 'gangway' });
    api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.merge, JSON.stringify({ spec: { replicas: 5 } }), { fieldManager: 'kubectl-scale' });
    const err = caught(() => api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, applied(3), { fieldManager: 'gangway' }));
    expect(err.status).toMatchObject({
      code: 409, reason: 'Conflict',
      message: 'Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas',
      details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-scale" using apps/v1', field: '.spec.replicas' }] },
    });
    // Same value as live: shared ownership, no conflict.
    expect(meta(api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, applied(5), { fieldManager: 'gangway' })).generation).toBe(2);
    const forced = api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, applied(3), { fieldManager: 'gangway', force: true });
    expect((forced.spec as Obj).replicas).toBe(3);
    const scaleEntry = (meta(forced).managedFields as Obj[]).find((e) => e.manager === 'kubectl-scale');
    expect(scaleEntry).toBeUndefined();
  });

  it('removes a field the applier stops applying, unless another manager owns it', () => {
    api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, applied(2, { metadata: { name: 'web', labels: { app: 'web', tier: 'front', team: 'a' } } }), { fieldManager: 'gangway' });
    api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { team: 'a' } } }), { fieldManager: 'other' });
    const d = api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, applied(2, { metadata: { name: 'web', labels: { app: 'web' } } }), { fieldManager: 'gangway' });
    expect(meta(d).labels).toEqual({ app: 'web', team: 'a' });
  });

  it('requires fieldManager and a 409 on a stale resourceVersion in the applied object', () => {
    expect(caught(() => api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, applied(2), {})).status).toMatchObject({ code: 400, message: 'fieldManager is required for apply requests' });
    api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, applied(2), { fieldManager: 'gangway' });
    expect(caught(() => api.patch(DEPLOY, 'shop', 'web', PATCH_TYPES.apply, applied(2, { metadata: { name: 'web', resourceVersion: '1' } }), { fieldManager: 'gangway' })).code).toBe(409);
  });
});

describe('delete', () => {
  it('deletes at once with a Success Status, or gracefully for a scheduled pod', () => {
    api.create(SVC, 'shop', { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } }, {});
    const svcUid = meta(api.get(SVC, 'shop', 'web')).uid;
    expect(api.delete(SVC, 'shop', 'web', {})).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: 'web', kind: 'services', uid: svcUid }, code: 200 });
    api.create(POD, 'shop', { metadata: { name: 'p' }, spec: { nodeName: 'fake-node', terminationGracePeriodSeconds: 7, containers: [{ name: 'c', image: 'fake.local/ok:1' }] } }, {});
    const p = api.delete(POD, 'shop', 'p', {}) as Obj;
    expect(meta(p).deletionGracePeriodSeconds).toBe(7);
    expect(typeof meta(p).deletionTimestamp).toBe('string');
    expect(api.find(POD, 'shop', 'p')).toBeDefined();
    api.delete(POD, 'shop', 'p', { gracePeriodSeconds: 0 });
    expect(api.find(POD, 'shop', 'p')).toBeUndefined();
  });

  it('keeps an object with finalizers until they are removed; checks preconditions', () => {
    const cm = api.create(CM, 'shop', { metadata: { name: 'c', finalizers: ['example.com/hold'] } }, {});
    expect(caught(() => api.delete(CM, 'shop', 'c', { preconditions: { uid: 'other' } })).message).toBe(`Operation cannot be fulfilled on configmaps "c": Precondition failed: UID in precondition: other, UID in object meta: ${String(meta(cm).uid)}`);
    api.delete(CM, 'shop', 'c', {});
    expect(meta(api.get(CM, 'shop', 'c')).deletionTimestamp).toBeDefined();
    api.patch(CM, 'shop', 'c', PATCH_TYPES.merge, JSON.stringify({ metadata: { finalizers: null } }), {});
    expect(api.find(CM, 'shop', 'c')).toBeUndefined();
  });

  it('orphans dependents with propagationPolicy=Orphan', () => {
    const d = api.create(DEPLOY, 'shop', deployment(), {});
    api.create(CM, 'shop', { metadata: { name: 'dep', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: meta(d).uid, controller: true }] } }, {});
    api.delete(DEPLOY, 'shop', 'web', { propagationPolicy: 'Orphan' });
    expect(meta(api.get(CM, 'shop', 'dep')).ownerReferences).toBeUndefined();
  });
});

describe('change history', () => {
  it('keeps the newest changes only; a resume point before them is expired', () => {
    const small = new Store(3);
    const a = new FakeApi(small);
    a.create(NS, '', { metadata: { name: 'shop' } }, {});
    for (let i = 0; i < 5; i++) a.create(CM, 'shop', { metadata: { name: `c${i}` } }, {});
    const latest = small.resourceVersion;
    expect(small.since(latest - 4)).toBe('expired');
    const kept = small.since(latest - 3);
    expect(kept).not.toBe('expired');
    expect((kept as { rv: number; type: string }[]).map((e) => [e.rv, e.type])).toEqual([[latest - 2, 'ADDED'], [latest - 1, 'ADDED'], [latest, 'ADDED']]);
  });
});
