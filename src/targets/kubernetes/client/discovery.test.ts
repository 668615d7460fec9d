/**
 * The client applies any kind a manifest holds, against the fake API server: kinds outside the
 * built-in table (PodDisruptionBudget, HorizontalPodAutoscaler, Ingress, ServiceAccount, RBAC,
 * NetworkPolicy, custom resources) are found by discovery of their group/version — asked once
 * per group/version for the client's life — applied, read back, listed and deleted; a kind the
 * server does not serve fails as kubectl words it, and a CRD installed after that miss is found
 * on the next try.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKube } from '../../../../test/support/fake-kube/index.js';
import type { FakeKube, Obj } from '../../../../test/support/fake-kube/index.js';
import type { KubeObject } from './client.js';
import { KubeClient } from './client.js';
import { KubeNoKindMatchError } from './errors.js';
import { loadKubeConfig } from './kubeconfig.js';

let kube: FakeKube;
let client: KubeClient;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kube-discovery-'));
  kube = await startFakeKube();
  await kube.namespace('shop');
  client = new KubeClient(loadKubeConfig({ path: await kube.writeKubeconfig(dir, { namespace: 'shop' }), env: {} }), { timeoutMs: 20_000 });
});
afterAll(async () => {
  await client?.close();
  await kube?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Discovery requests the fake received, as `path status`. */
function discoveryRequests(): string[] {
  return kube.requestLog.filter((r) => r.method === 'GET' && /^\/(api\/v1|apis\/[^/]+\/[^/]+)$/.test(r.path)).map((r) => `${r.path} ${r.status}`);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const app = { 'app.kubernetes.io/name': 'web' };
const MANIFESTS: KubeObject[] = [
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', labels: app }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } } },
  {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', labels: app },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 6, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }] },
  },
  {
    apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', labels: app },
    spec: { rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
  },
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', labels: app }, automountServiceAccountToken: false },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'web', labels: app }, spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] } },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'web', labels: app }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'web', labels: app },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'web' }, subjects: [{ kind: 'ServiceAccount', name: 'web', namespace: 'shop' }],
  },
];

describe.sequential('KubeClient: kinds beyond the built-in table, by API discovery', () => {
  it('applies a PDB, an HPA, an Ingress, a ServiceAccount, a NetworkPolicy and RBAC objects, and reads each back', async () => {
    for (const m of MANIFESTS) {
      const applied = await client.apply(m, { force: true });
      expect([applied.kind, applied.apiVersion, applied.metadata.namespace, applied.metadata.name]).toEqual([m.kind, m.apiVersion, 'shop', 'web']);
    }
    for (const m of MANIFESTS) {
      const back = await client.get({ apiVersion: m.apiVersion, kind: m.kind }, 'shop', 'web');
      const { metadata, ...rest } = m;
      expect(back).toMatchObject({ ...rest, metadata: { ...metadata, namespace: 'shop' } });
      expect((back?.metadata.managedFields as Array<{ manager: string; operation: string }>).map((f) => `${f.manager}/${f.operation}`)).toEqual(['gangway/Apply']);
    }
    // Stored by the server where kubectl would look for them.
    expect([(kube.get('pdb', 'shop', 'web')?.spec as Obj).minAvailable, (kube.get('hpa', 'shop', 'web')?.spec as Obj).maxReplicas,
      kube.get('ingresses', 'shop', 'web')?.apiVersion, kube.get('sa', 'shop', 'web')?.automountServiceAccountToken]).toEqual([1, 6, 'networking.k8s.io/v1', false]);
    expect(kube.requestLog.filter((r) => r.method === 'PATCH' && r.path.endsWith('/web')).map((r) => `${r.path} ${r.status}`)).toEqual([
      '/apis/policy/v1/namespaces/shop/poddisruptionbudgets/web 201',
      '/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web 201',
      '/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web 201',
      '/api/v1/namespaces/shop/serviceaccounts/web 201',
      '/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/web 201',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles/web 201',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/shop/rolebindings/web 201',
    ]);
  });

  it('asked discovery once per group/version, however many objects and calls used it', async () => {
    await client.apply(MANIFESTS[0], { force: true });
    const pdbs = await client.list({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }, 'shop', { labelSelector: 'app.kubernetes.io/name=web' });
    expect(pdbs.items.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`)).toEqual(['policy/v1 PodDisruptionBudget web']);
    expect(discoveryRequests()).toEqual([
      '/apis/policy/v1 200', '/apis/autoscaling/v2 200', '/apis/networking.k8s.io/v1 200', '/api/v1 200', '/apis/rbac.authorization.k8s.io/v1 200',
    ]);
  });

  it('a re-apply that changes a spec bumps the PDB\'s generation; delete by { apiVersion, kind } removes it', async () => {
    const changed = await client.apply<KubeObject & { spec: { minAvailable: number } }>({ ...MANIFESTS[0], spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } }, { force: true });
    expect([changed.spec.minAvailable, changed.metadata.generation]).toEqual([2, 2]);
    await client.delete({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }, 'shop', 'web');
    expect(await client.get({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }, 'shop', 'web')).toBeNull();
    expect(kube.get('pdb', 'shop', 'web')).toBeUndefined();
  });

  it('a custom resource whose CRD is not installed fails as kubectl says; installed after the miss, it is found on the next try', async () => {
    const widget: KubeObject = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1', namespace: 'shop' }, spec: { size: 3, parts: ['a', 'b'] } };
    const err = await rejection(client.apply(widget));
    expect(err).toBeInstanceOf(KubeNoKindMatchError);
    expect(err.message).toBe(`resource mapping not found for name: "w1" namespace: "shop": no matches for kind "Widget" in version "example.com/v1": the API server at ${kube.url} (context fake-kube) does not serve example.com/v1; ensure CRDs are installed first, and check the apiVersion`);
    kube.defineResource({ group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', shortNames: ['wd'] });
    const applied = await client.apply(widget);
    expect([applied.kind, applied.metadata.generation, applied.spec]).toEqual(['Widget', 1, { size: 3, parts: ['a', 'b'] }]);
    const again = await client.apply({ ...widget, spec: { size: 3, parts: ['c'] } });
    expect([again.metadata.generation, again.spec]).toEqual([2, { size: 3, parts: ['c'] }]);
    const listed = await client.list({ apiVersion: 'example.com/v1', kind: 'Widget' }, 'shop');
    expect(listed.items.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`)).toEqual(['example.com/v1 Widget w1']);
    expect(kube.get('wd', 'shop', 'w1')?.spec).toEqual({ size: 3, parts: ['c'] });
    expect(discoveryRequests().filter((r) => r.startsWith('/apis/example.com/'))).toEqual(['/apis/example.com/v1 404', '/apis/example.com/v1 200']);
  });

  it('a kind missing from a served group/version names it; a cluster-scoped custom resource ignores the namespace', async () => {
    const gadget: KubeObject = { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g1', namespace: 'shop' } };
    const err = await rejection(client.apply(gadget));
    expect(err.message).toBe(`resource mapping not found for name: "g1" namespace: "shop": no matches for kind "Gadget" in version "example.com/v1": the API server at ${kube.url} (context fake-kube) serves example.com/v1 without kind Gadget; ensure CRDs are installed first, and check the kind's spelling`);
    kube.defineResource({ group: 'example.com', version: 'v1', kind: 'Gadget', plural: 'gadgets', namespaced: false });
    const applied = await client.apply(gadget);
    expect([applied.metadata.name, applied.metadata.namespace]).toEqual(['g1', undefined]);
    expect(kube.requestLog.filter((r) => r.method === 'PATCH' && r.path.includes('gadgets')).map((r) => `${r.path} ${r.status}`)).toEqual(['/apis/example.com/v1/gadgets/g1 201']);
    // The miss re-asked the cached list once; the try after the CRD asked once more.
    expect(discoveryRequests().filter((r) => r.startsWith('/apis/example.com/'))).toEqual(['/apis/example.com/v1 404', '/apis/example.com/v1 200', '/apis/example.com/v1 200', '/apis/example.com/v1 200']);
  });

  it('resolve() answers the mapping itself, and the built-in kinds still need no discovery', async () => {
    const before = discoveryRequests().length;
    expect(await client.resolve('example.com/v1', 'Gadget')).toEqual({ kind: 'Gadget', apiVersion: 'example.com/v1', group: 'example.com', version: 'v1', plural: 'gadgets', namespaced: false });
    await client.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { a: '1' } });
    expect(await client.get('ConfigMap', 'shop', 'settings')).toMatchObject({ data: { a: '1' } });
    expect(discoveryRequests().length).toBe(before);
  });
});
