/**
 * The fake's kinds without controllers and its custom resources, as clients see them: discovery
 * of policy/v1, networking.k8s.io/v1, autoscaling/v2, rbac.authorization.k8s.io/v1 and v1
 * serviceaccounts; generic storage with server-side apply and the status subresource; custom
 * resources defined by a test (`defineResource`) showing in discovery, OpenAPI and every verb;
 * and the real kubectl (v1.32) applying and reading a PodDisruptionBudget and a custom resource,
 * and failing on a kind the server does not serve exactly as against a cluster.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireOrSkip } from '../require.js';
import type { FakeKube, Obj } from './index.js';
import { startFakeKube } from './index.js';
import { KUBECTL_PACKAGE, hasKubectl, runKubectl } from './kubectl.js';
import { ResourceRegistry } from './resources.js';

const available = requireOrSkip('the kubectl part of the fake\'s resource tests (test/support/fake-kube/resources.test.ts)', KUBECTL_PACKAGE, hasKubectl());

let kube: FakeKube;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fake-kube-resources-'));
  kube = await startFakeKube();
  await kube.namespace('shop');
});
afterAll(async () => {
  await kube?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const meta = (o: Obj): Obj => o.metadata as Obj;
const apply = (path: string, body: Obj, manager = 'test') => kube.request(`${path}?fieldManager=${manager}`, { method: 'PATCH', body, contentType: 'application/apply-patch+yaml' });

describe('kinds served without a controller', () => {
  it('serves their discovery as a v1.32 API server does (short names, scope, status subresources)', async () => {
    const rows = async (path: string) => ((await kube.request(path)).json as { groupVersion: string; resources: Obj[] });
    const policy = await rows('/apis/policy/v1');
    expect([policy.groupVersion, policy.resources.map((r) => [r.name, r.kind, r.namespaced, r.shortNames])]).toEqual(['policy/v1', [
      ['poddisruptionbudgets', 'PodDisruptionBudget', true, ['pdb']], ['poddisruptionbudgets/status', 'PodDisruptionBudget', true, undefined],
    ]]);
    expect((await rows('/apis/networking.k8s.io/v1')).resources.map((r) => [r.name, r.shortNames])).toEqual([['ingresses', ['ing']], ['ingresses/status', undefined], ['networkpolicies', ['netpol']]]);
    expect((await rows('/apis/autoscaling/v2')).resources.map((r) => [r.name, r.shortNames, r.categories])).toEqual([['horizontalpodautoscalers', ['hpa'], ['all']], ['horizontalpodautoscalers/status', undefined, undefined]]);
    expect((await rows('/apis/rbac.authorization.k8s.io/v1')).resources.map((r) => r.name)).toEqual(['roles', 'rolebindings']);
    expect((await rows('/api/v1')).resources.find((r) => r.name === 'serviceaccounts')).toMatchObject({ kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'] });
    expect((await kube.request('/apis/autoscaling')).json).toMatchObject({ kind: 'APIGroup', name: 'autoscaling', preferredVersion: { groupVersion: 'autoscaling/v2', version: 'v2' } });
    expect((await kube.request('/apis/policy/v1beta1')).json).toMatchObject({ kind: 'Status', code: 404, message: 'the server could not find the requested resource' });
    const openapi = (await kube.request('/openapi/v3')).json as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toEqual(['api/v1', 'apis/apps/v1', 'apis/batch/v1', 'apis/gateway.networking.k8s.io/v1', 'apis/policy/v1', 'apis/networking.k8s.io/v1', 'apis/autoscaling/v2', 'apis/rbac.authorization.k8s.io/v1']);
    // No v2 schemas: kubectl's client-side validation then skips kinds it cannot find.
    expect((await kube.request('/openapi/v2')).json).toEqual({ swagger: '2.0', info: { title: 'Kubernetes (fake)', version: 'v1.32.4-fake' }, paths: {}, definitions: {} });
  });

  it('stores a PDB by server-side apply: generation on spec changes, status only through /status, strategic merge accepted', async () => {
    const base = '/apis/policy/v1/namespaces/shop/poddisruptionbudgets';
    const pdb = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web' }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } }, status: { currentHealthy: 9 } };
    const created = await apply(`${base}/web`, pdb);
    expect([created.status, meta(created.json as Obj).generation, (created.json as Obj).status]).toEqual([201, 1, undefined]);
    const status = await kube.request(`${base}/web/status`, { method: 'PATCH', body: { status: { currentHealthy: 2, desiredHealthy: 1, observedGeneration: 1 } }, contentType: 'application/merge-patch+json' });
    expect([status.status, (status.json as Obj).status]).toEqual([200, { currentHealthy: 2, desiredHealthy: 1, observedGeneration: 1 }]);
    const patched = await kube.request(`${base}/web`, { method: 'PATCH', body: { spec: { maxUnavailable: 2 } }, contentType: 'application/strategic-merge-patch+json' });
    expect([meta(patched.json as Obj).generation, (patched.json as Obj).spec, ((patched.json as Obj).status as Obj).currentHealthy]).toEqual([2, { maxUnavailable: 2, selector: { matchLabels: { app: 'web' } } }, 2]);
    const list = (await kube.request(base)).json as { kind: string; items: Obj[] };
    expect([list.kind, list.items.map((i) => [i.kind, meta(i).name])]).toEqual(['PodDisruptionBudgetList', [[undefined, 'web']]]);
  });

  it('keeps no generation for an HPA (as v1.32), and a ServiceAccount\'s secrets merge by name', async () => {
    const hpa = await apply('/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web', { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 4 } });
    expect([hpa.status, meta(hpa.json as Obj).generation]).toEqual([201, undefined]);
    const sa = '/api/v1/namespaces/shop/serviceaccounts/web';
    expect((await apply(sa, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web' }, secrets: [{ name: 'a' }] }, 'one')).status).toBe(201);
    const both = await apply(sa, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web' }, secrets: [{ name: 'b' }] }, 'two');
    expect((both.json as Obj).secrets).toEqual([{ name: 'a' }, { name: 'b' }]);
  });
});

describe('custom resources defined by a test', () => {
  it('appear in /apis, their group and version, and OpenAPI once defined; clashes are refused', async () => {
    expect((await kube.request('/apis/example.com/v1')).status).toBe(404);
    const rt = kube.defineResource({ group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', shortNames: ['wd'], categories: ['all'], subresources: ['status'] });
    expect([rt.custom, rt.generation, rt.singular, rt.namespaced]).toEqual([true, true, 'widget', true]);
    expect(((await kube.request('/apis')).json as { groups: Obj[] }).groups.at(-1)).toEqual({ name: 'example.com', versions: [{ groupVersion: 'example.com/v1', version: 'v1' }], preferredVersion: { groupVersion: 'example.com/v1', version: 'v1' } });
    expect(((await kube.request('/apis/example.com/v1')).json as { resources: Obj[] }).resources.map((r) => [r.name, r.kind, r.shortNames ?? null])).toEqual([['widgets', 'Widget', ['wd']], ['widgets/status', 'Widget', null]]);
    expect(Object.keys(((await kube.request('/openapi/v3')).json as { paths: Obj }).paths)).toContain('apis/example.com/v1');
    expect(() => kube.defineResource({ group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgetz' })).toThrow('fake-kube: example.com/v1 already serves Widget (widgets)');
    expect(() => kube.defineResource({ group: '', version: 'v1', kind: 'Thing', plural: 'things' })).toThrow('fake-kube: custom resource Thing needs a group');
  });

  it('are stored as plain JSON: apply, merge patch, no strategic merge, list items with kind, generation, the status subresource', async () => {
    const base = '/apis/example.com/v1/namespaces/shop/widgets';
    const w = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1', labels: { tier: 'a' } }, spec: { parts: ['x', 'y'] }, status: { ready: true } };
    const created = await apply(`${base}/w1`, w);
    expect([created.status, meta(created.json as Obj).generation, (created.json as Obj).status]).toEqual([201, 1, undefined]);
    const merged = await kube.request(`${base}/w1`, { method: 'PATCH', body: { spec: { parts: ['z'] } }, contentType: 'application/merge-patch+json' });
    expect([(merged.json as Obj).spec, meta(merged.json as Obj).generation]).toEqual([{ parts: ['z'] }, 2]);
    expect((await kube.request(`${base}/w1`, { method: 'PATCH', body: {}, contentType: 'application/strategic-merge-patch+json' })).status).toBe(415);
    const list = (await kube.request(`${base}?labelSelector=tier%3Da`)).json as { kind: string; items: Obj[] };
    expect([list.kind, list.items.map((i) => `${String(i.apiVersion)} ${String(i.kind)} ${String(meta(i).name)}`)]).toEqual(['WidgetList', ['example.com/v1 Widget w1']]);
    expect(kube.get('widgets.example.com', 'shop', 'w1')?.spec).toEqual({ parts: ['z'] });
    expect((await kube.request(`${base}/w1`, { method: 'DELETE' })).status).toBe(200);
    expect(kube.get('wd', 'shop', 'w1')).toBeUndefined();
  });

  it('a custom kind named like a built-in one gets none of its defaults or validation', async () => {
    kube.defineResource({ group: 'serving.knative.dev', version: 'v1', kind: 'Service', plural: 'services', shortNames: ['ksvc'] });
    const ksvc = await apply('/apis/serving.knative.dev/v1/namespaces/shop/services/hello', { apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'hello' }, spec: { template: { spec: { containers: [{ image: 'x' }] } } } });
    expect([ksvc.status, ((ksvc.json as Obj).spec as Obj).clusterIP, (ksvc.json as Obj).status]).toEqual([201, undefined, undefined]);
    expect(kube.get('ksvc', 'shop', 'hello')?.apiVersion).toBe('serving.knative.dev/v1');
    expect(kube.get('services.serving.knative.dev', 'shop', 'hello')?.kind).toBe('Service');
  });

  it('a cluster-scoped one drops the namespace an applied object carries, as upstream does', async () => {
    kube.defineResource({ group: 'example.com', version: 'v1', kind: 'Gadget', plural: 'gadgets', namespaced: false });
    const g = await apply('/apis/example.com/v1/gadgets/g1', { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g1', namespace: 'shop' } });
    expect([g.status, meta(g.json as Obj).namespace]).toEqual([201, undefined]);
  });

  it('belong to one server: another registry does not see them', () => {
    expect(new ResourceRegistry().findByKind('Widget', 'example.com/v1')).toBeUndefined();
  });
});

describe.skipIf(!available)('kubectl and the new kinds', () => {
  let kubeconfig: string;
  const kubectl = (...args: string[]) => runKubectl({ kubeconfig, home: dir }, args);

  beforeAll(async () => {
    kubeconfig = await kube.writeKubeconfig(dir, { namespace: 'shop' });
  });

  it('applies a PodDisruptionBudget (client-side) and reads it back with get pdb -o json', async () => {
    const file = join(dir, 'pdb.yaml');
    await writeFile(file, 'apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: api\n  labels: {app: api}\nspec:\n  minAvailable: 2\n  selector:\n    matchLabels: {app: api}\n');
    expect(await kubectl('apply', '-f', file)).toEqual({ code: 0, stdout: 'poddisruptionbudget.policy/api created\n', stderr: '' });
    const got = await kubectl('get', 'pdb', '-l', 'app=api', '-o', 'json');
    expect(got.code).toBe(0);
    const items = (JSON.parse(got.stdout) as { items: Obj[] }).items;
    expect(items.map((i) => [i.apiVersion, i.kind, meta(i).name, meta(i).namespace, (i.spec as Obj).minAvailable])).toEqual([['policy/v1', 'PodDisruptionBudget', 'api', 'shop', 2]]);
    expect(Object.keys(meta(items[0]).annotations as Obj)).toEqual(['kubectl.kubernetes.io/last-applied-configuration']);
    // The PDB selector's patch strategy is "replace", so kubectl's patch is never empty ("configured"); the server stores nothing new.
    const rv = meta(kube.get('pdb', 'shop', 'api') as Obj).resourceVersion;
    expect(await kubectl('apply', '-f', file)).toEqual({ code: 0, stdout: 'poddisruptionbudget.policy/api configured\n', stderr: '' });
    expect(meta(kube.get('pdb', 'shop', 'api') as Obj).resourceVersion).toBe(rv);
  });

  it('fails on a kind the server does not serve with kubectl\'s own words, and finds it once the CRD is installed', async () => {
    const file = join(dir, 'sprocket.yaml');
    await writeFile(file, 'apiVersion: parts.example.com/v1\nkind: Sprocket\nmetadata:\n  name: s1\nspec:\n  teeth: 12\n');
    expect(await kubectl('apply', '-f', file)).toEqual({
      code: 1, stdout: '',
      stderr: `error: resource mapping not found for name: "s1" namespace: "" from "${file}": no matches for kind "Sprocket" in version "parts.example.com/v1"\nensure CRDs are installed first\n`,
    });
    kube.defineResource({ group: 'parts.example.com', version: 'v1', kind: 'Sprocket', plural: 'sprockets', shortNames: ['spr'] });
    expect(await kubectl('apply', '--server-side', '-f', file)).toEqual({ code: 0, stdout: 'sprocket.parts.example.com/s1 serverside-applied\n', stderr: '' });
    expect(await kubectl('get', 'spr', 's1', '-o', 'jsonpath={.spec.teeth}')).toEqual({ code: 0, stdout: '12', stderr: '' });
  });
});
