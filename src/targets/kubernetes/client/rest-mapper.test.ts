/**
 * The REST mapper over a scripted discovery: the built-in table answers without a request,
 * other pairs come from their group/version's APIResourceList (subresources skipped), each list
 * is fetched once, a miss in a list older than the lookup fetches it once more (a CRD installed
 * meanwhile), a miss in a fresh one does not, failures are not cached, and the errors read as
 * kubectl's.
 */
import { describe, expect, it } from 'vitest';
import type { KubeNoKindMatchError } from './errors.js';
import type { ApiResourceList, DiscoveryFetch } from './rest-mapper.js';
import { KubeRestMapper, mappingsOf, parseApiVersion } from './rest-mapper.js';

const WHERE = { server: 'https://k8s.example:6443', context: 'prod' };

/** A discovery answering from `served` (group/version → list; absent → 404), counting requests. */
function scripted(served: Record<string, ApiResourceList>): { fetch: DiscoveryFetch; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    fetch: async (group, version) => {
      const key = group ? `${group}/${version}` : version;
      asked.push(key);
      await new Promise((r) => setImmediate(r));
      return Object.hasOwn(served, key) ? served[key] : null;
    },
  };
}

const POLICY: ApiResourceList = {
  groupVersion: 'policy/v1',
  resources: [
    { name: 'poddisruptionbudgets/status', kind: 'PodDisruptionBudget', namespaced: true },
    { name: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true },
  ],
};

async function rejection(p: Promise<unknown>): Promise<KubeNoKindMatchError> {
  try {
    await p;
  } catch (err) {
    return err as KubeNoKindMatchError;
  }
  throw new Error('expected a rejection');
}

describe('parseApiVersion and mappingsOf', () => {
  it('splits group and version; the core group is ""; anything else is no apiVersion', () => {
    expect(['policy/v1', 'v1', 'networking.k8s.io/v1', '', 'a/b/c', '/v1', 'apps/'].map(parseApiVersion)).toEqual([
      { group: 'policy', version: 'v1' }, { group: '', version: 'v1' }, { group: 'networking.k8s.io', version: 'v1' }, undefined, undefined, undefined, undefined,
    ]);
  });

  it('maps each kind to its resource, skipping subresources; the first resource of a kind wins', () => {
    const core = mappingsOf({ resources: [
      { name: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
      { name: 'serviceaccounts/token', kind: 'TokenRequest', namespaced: true },
      { name: 'namespaces', kind: 'Namespace', namespaced: false },
      { name: 'namespaces-legacy', kind: 'Namespace', namespaced: false },
    ] }, '', 'v1');
    expect([...core.values()]).toEqual([
      { kind: 'ServiceAccount', apiVersion: 'v1', group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true },
      { kind: 'Namespace', apiVersion: 'v1', group: '', version: 'v1', plural: 'namespaces', namespaced: false },
    ]);
    expect([...mappingsOf(POLICY, 'policy', 'v1').values()]).toEqual([
      { kind: 'PodDisruptionBudget', apiVersion: 'policy/v1', group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', namespaced: true },
    ]);
  });
});

describe('KubeRestMapper', () => {
  it('answers the built-in kinds from the table without a request; another version of one is discovered', async () => {
    const d = scripted({ 'gateway.networking.k8s.io/v1beta1': { resources: [{ name: 'httproutes', kind: 'HTTPRoute', namespaced: true }] } });
    const mapper = new KubeRestMapper(d.fetch, WHERE);
    expect((await mapper.resolve('apps/v1', 'Deployment')).plural).toBe('deployments');
    expect((await mapper.resolve('v1', 'ConfigMap')).plural).toBe('configmaps');
    expect(d.asked).toEqual([]);
    expect(await mapper.resolve('gateway.networking.k8s.io/v1beta1', 'HTTPRoute')).toEqual({
      kind: 'HTTPRoute', apiVersion: 'gateway.networking.k8s.io/v1beta1', group: 'gateway.networking.k8s.io', version: 'v1beta1', plural: 'httproutes', namespaced: true,
    });
    expect(d.asked).toEqual(['gateway.networking.k8s.io/v1beta1']);
  });

  it('fetches each group/version once, for sequential and concurrent lookups alike', async () => {
    const d = scripted({
      'policy/v1': POLICY,
      'networking.k8s.io/v1': { resources: [{ name: 'ingresses', kind: 'Ingress', namespaced: true }, { name: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true }] },
      v1: { resources: [{ name: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true }] },
    });
    const mapper = new KubeRestMapper(d.fetch, WHERE);
    const found = await Promise.all([
      mapper.resolve('policy/v1', 'PodDisruptionBudget'), mapper.resolve('policy/v1', 'PodDisruptionBudget'),
      mapper.resolve('networking.k8s.io/v1', 'Ingress'), mapper.resolve('networking.k8s.io/v1', 'NetworkPolicy'),
    ]);
    expect(found.map((r) => r.plural)).toEqual(['poddisruptionbudgets', 'poddisruptionbudgets', 'ingresses', 'networkpolicies']);
    expect((await mapper.resolve('v1', 'ServiceAccount')).plural).toBe('serviceaccounts');
    expect((await mapper.resolve('policy/v1', 'PodDisruptionBudget')).plural).toBe('poddisruptionbudgets');
    expect((await mapper.resolve('networking.k8s.io/v1', 'Ingress')).plural).toBe('ingresses');
    expect(d.asked).toEqual(['policy/v1', 'networking.k8s.io/v1', 'v1']);
  });

  it('a miss in a list fetched for this lookup is final; a miss in an older list fetches it once more', async () => {
    const served: Record<string, ApiResourceList> = { 'example.com/v1': { resources: [{ name: 'widgets', kind: 'Widget', namespaced: true }] } };
    const d = scripted(served);
    const mapper = new KubeRestMapper(d.fetch, WHERE);
    const first = await rejection(mapper.resolve('example.com/v1', 'Gadget', { name: 'g1', namespace: 'shop' }));
    expect([first.name, first.reason, first.apiVersion, first.kind, first.objectName, first.namespace, first.message]).toEqual(['KubeNoKindMatchError', 'kind', 'example.com/v1', 'Gadget', 'g1', 'shop',
      'resource mapping not found for name: "g1" namespace: "shop": no matches for kind "Gadget" in version "example.com/v1": the API server at https://k8s.example:6443 (context prod) serves example.com/v1 without kind Gadget; ensure CRDs are installed first, and check the kind\'s spelling']);
    expect(d.asked).toEqual(['example.com/v1']);
    // The CRD is installed: the next lookup misses in the cached list, and asks again.
    served['example.com/v1'] = { resources: [{ name: 'widgets', kind: 'Widget', namespaced: true }, { name: 'gadgets', kind: 'Gadget', namespaced: false }] };
    expect(await mapper.resolve('example.com/v1', 'Gadget')).toEqual({ kind: 'Gadget', apiVersion: 'example.com/v1', group: 'example.com', version: 'v1', plural: 'gadgets', namespaced: false });
    expect((await mapper.resolve('example.com/v1', 'Widget')).plural).toBe('widgets');
    expect(d.asked).toEqual(['example.com/v1', 'example.com/v1']);
    // Still missing after the second look: one more request per lookup, never a loop.
    expect((await rejection(mapper.resolve('example.com/v1', 'Gizmo'))).reason).toBe('kind');
    expect(d.asked).toEqual(['example.com/v1', 'example.com/v1', 'example.com/v1']);
  });

  it('a group/version the server does not serve (404) is "no matches" too, until it is served', async () => {
    const served: Record<string, ApiResourceList> = {};
    const d = scripted(served);
    const mapper = new KubeRestMapper(d.fetch, WHERE);
    const err = await rejection(mapper.resolve('policy/v1beta1', 'PodDisruptionBudget'));
    expect([err.reason, err.objectName, err.message]).toEqual(['groupVersion', '',
      'no matches for kind "PodDisruptionBudget" in version "policy/v1beta1": the API server at https://k8s.example:6443 (context prod) does not serve policy/v1beta1; ensure CRDs are installed first, and check the apiVersion']);
    served['policy/v1beta1'] = POLICY;
    expect((await mapper.resolve('policy/v1beta1', 'PodDisruptionBudget')).apiVersion).toBe('policy/v1beta1');
    expect(d.asked).toEqual(['policy/v1beta1', 'policy/v1beta1']);
  });

  it('does not cache a failed discovery; an apiVersion that is none is refused without a request', async () => {
    let calls = 0;
    const mapper = new KubeRestMapper(async () => {
      calls += 1;
      if (calls === 1) throw new Error('connection refused');
      return POLICY;
    }, WHERE);
    await expect(mapper.resolve('policy/v1', 'PodDisruptionBudget')).rejects.toThrow('connection refused');
    expect((await mapper.resolve('policy/v1', 'PodDisruptionBudget')).plural).toBe('poddisruptionbudgets');
    expect(calls).toBe(2);
    const bad = await rejection(mapper.resolve('example.com/v1/extra', 'Widget', { name: 'w', namespace: '' }));
    expect([bad.reason, bad.message]).toEqual(['invalid',
      'resource mapping not found for name: "w" namespace: "": no matches for kind "Widget" in version "example.com/v1/extra": "example.com/v1/extra" is not an apiVersion (write "v1" or "<group>/<version>")']);
    expect(calls).toBe(2);
  });

  it('reset() forgets what was discovered', async () => {
    const d = scripted({ 'policy/v1': POLICY });
    const mapper = new KubeRestMapper(d.fetch, WHERE);
    await mapper.resolve('policy/v1', 'PodDisruptionBudget');
    mapper.reset();
    await mapper.resolve('policy/v1', 'PodDisruptionBudget');
    expect(d.asked).toEqual(['policy/v1', 'policy/v1']);
  });
});
