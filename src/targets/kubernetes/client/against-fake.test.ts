/**
 * The client against the fake API server (test/support/fake-kube): HTTPS with the fake's CA
 * and a bearer token, all from the kubeconfig the fake writes. One cluster, one story, in
 * order: apply, read, patch, conflict, watch through cuts and compaction, logs, the proxy,
 * and the errors a user sees when RBAC, credentials or the server itself go away.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKube } from '../../../../test/support/fake-kube/index.js';
import type { FakeKube } from '../../../../test/support/fake-kube/index.js';
import type { KubeObject } from './client.js';
import { KubeClient } from './client.js';
import { KubeApiError, KubeUnreachableError } from './errors.js';
import { loadKubeConfig } from './kubeconfig.js';
import type { InformerEvent } from './watch.js';

let kube: FakeKube;
let client: KubeClient;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kube-fake-'));
  kube = await startFakeKube({ images: { 'fake.local/app': { command: [process.execPath, 'test/fixtures/app.mjs'] } } });
  await kube.namespace('shop');
  client = new KubeClient(loadKubeConfig({ path: await kube.writeKubeconfig(dir, { namespace: 'shop' }), env: {} }), { timeoutMs: 10_000 });
});
afterAll(async () => {
  await client?.close();
  await kube?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Deployment extends KubeObject {
  spec: { replicas: number; [k: string]: unknown };
  status?: { readyReplicas?: number; observedGeneration?: number };
}
/** A ready web pod's name, once the scale-down of the watch test has settled (exactly 2 pods, none terminating). */
async function settledWebPod(): Promise<string> {
  const pod = await kube.waitFor(() => {
    const pods = kube.list('pod', 'shop', { labelSelector: 'app=web' });
    if (pods.length !== 2 || pods.some((p) => (p.metadata as { deletionTimestamp?: string }).deletionTimestamp)) return undefined;
    return pods.find((p) => ((p.status as { conditions?: Array<{ type: string; status: string }> }).conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));
  }, { what: 'two settled web pods, one ready' });
  return String((pod.metadata as { name: string }).name);
}
const web = (replicas: number): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
  spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'fake.local/ok:1.0', ports: [{ containerPort: 8080 }] }] } } },
});

describe.sequential('KubeClient against the fake API server', () => {
  it('connects with the context, namespace and server of the written kubeconfig', () => {
    expect([client.server, client.context, client.namespace]).toEqual([kube.url, 'fake-kube', 'shop']);
  });

  it('apply (server-side) twice is idempotent, under field manager gangway', async () => {
    const first = await client.apply<Deployment>(web(2));
    const second = await client.apply<Deployment>(web(2));
    // The controllers write status in between (new resourceVersions); the spec and its generation stay.
    expect([first.metadata.generation, second.metadata.generation, second.spec]).toEqual([1, 1, first.spec]);
    const managers = (second.metadata.managedFields as Array<{ manager: string; operation: string }>).map((m) => `${m.manager}/${m.operation}`);
    expect(managers.filter((m) => m.startsWith('gangway/'))).toEqual(['gangway/Apply']);
    const applies = kube.requestLog.filter((r) => r.method === 'PATCH' && r.path === '/apis/apps/v1/namespaces/shop/deployments/web');
    expect(applies.map((r) => [r.query, r.contentType, r.status, r.userAgent?.startsWith('gangway/')])).toEqual([
      ['fieldManager=gangway', 'application/apply-patch+yaml', 201, true], ['fieldManager=gangway', 'application/apply-patch+yaml', 200, true],
    ]);
  });

  it('get (null when absent) and list with a label selector', async () => {
    expect((await client.get<Deployment>('Deployment', 'shop', 'web'))?.spec.replicas).toBe(2);
    expect(await client.get('Deployment', 'shop', 'nope')).toBeNull();
    const hit = await client.list('Deployment', 'shop', { labelSelector: 'app=web' });
    const miss = await client.list('Deployment', 'shop', { labelSelector: 'app=other' });
    expect([hit.items.map((d) => `${d.kind}/${d.metadata.name}`), miss.items.length, Number(hit.resourceVersion) > 0]).toEqual([['Deployment/web'], 0, true]);
  });

  it('a merge patch moves a Service selector', async () => {
    await client.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 'web', color: 'blue' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const svc = await client.patch('Service', 'shop', 'web', { spec: { selector: { color: 'green' } } }, 'merge');
    expect((svc.spec as { selector: unknown }).selector).toEqual({ app: 'web', color: 'green' });
    expect((kube.get('service', 'shop', 'web')?.spec as { selector: unknown }).selector).toEqual({ app: 'web', color: 'green' });
  });

  it('retryOnConflict re-reads and retries after a 409', async () => {
    kube.failNext(1, 409, { verb: 'update', resource: 'deployments' });
    let runs = 0;
    const updated = await client.retryOnConflict(async () => {
      runs += 1;
      const d = await client.get<Deployment>('Deployment', 'shop', 'web');
      return client.replace<Deployment>({ ...d!, metadata: { ...d!.metadata, annotations: { note: 'replaced' } } });
    });
    expect([runs, updated.metadata.annotations]).toEqual([2, { note: 'replaced' }]);
  });

  it('watchFrom sees status changes, resumes after cut watches, re-lists after compaction (410)', async () => {
    const ac = new AbortController();
    const events: Array<InformerEvent<Deployment>> = [];
    const lists: boolean[] = [];
    const done = client.watchFrom<Deployment>('Deployment', 'shop', { backoff: { initialMs: 20, maxMs: 200 }, onList: (_rv, relist) => lists.push(relist) }, (e) => { events.push(e); }, ac.signal);
    try {
      const seenReady = (n: number) => () => events.some((e) => e.type === 'MODIFIED' && !e.fromList && e.object.status?.readyReplicas === n && e.object.spec.replicas === n);
      // The Deployment of the tests above may have settled before the first list (a loaded
      // machine), so its 2 ready replicas come from the list or from a watch event, whichever.
      await kube.waitFor(() => lists.length === 1 && kube.openWatches() === 1 && events.some((e) => e.object.status?.readyReplicas === 2 && e.object.spec.replicas === 2), { what: 'the watch open, with 2 ready replicas' });

      const watchesBefore = kube.requestLog.filter((r) => r.verb === 'watch').length;
      expect(kube.cutWatches()).toBe(1);
      await client.patch('Deployment', 'shop', 'web', { spec: { replicas: 3 } }, 'merge');
      await kube.waitFor(seenReady(3), { what: 'a watch event with 3 ready replicas after the cut' });
      const resumed = kube.requestLog.filter((r) => r.verb === 'watch').slice(watchesBefore);
      expect(resumed[0].query).toMatch(/resourceVersion=[1-9][0-9]*&timeoutSeconds=300&allowWatchBookmarks=true$/);
      expect(lists).toEqual([false]);

      // A change elsewhere, then compaction and a cut in the same tick: the resume point is gone.
      kube.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bump', namespace: 'default' }, data: {} });
      kube.compactHistory();
      expect(kube.cutWatches()).toBe(1);
      await kube.waitFor(() => lists.length === 2, { what: 'a re-list after 410' });
      expect(lists).toEqual([false, true]);
      await client.patch('Deployment', 'shop', 'web', { spec: { replicas: 2 } }, 'merge');
      await kube.waitFor(seenReady(2), { what: 'events after the re-list' });
    } finally {
      ac.abort();
      await done;
    }
  });

  it('logs of a pod', async () => {
    const name = await settledWebPod();
    expect(await client.logs('shop', name)).toBe(`fake.local/ok:1.0 started in pod ${name}\n`);
    expect(await client.logs('shop', name, { tailLines: 0 })).toBe('');
  });

  it('proxyRequest to a pod of fake.local/ok and to an app behind a Service', async () => {
    const name = await settledWebPod();
    const r = await client.proxyRequest('shop', 'pods', name, 8080, '/health');
    expect([r.status, JSON.parse(r.body)]).toEqual([200, { status: 'UP', image: 'fake.local/ok:1.0', pod: name }]);

    await client.apply({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'shop' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'fake.local/app:2.0', env: [{ name: 'APP_VERSION', value: '2.0.0' }], ports: [{ containerPort: 8080, name: 'http' }], readinessProbe: { httpGet: { path: '/health', port: 8080 } } }] } } },
    });
    await client.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec: { selector: { app: 'api' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] } });
    await kube.waitFor(() => (kube.get('deployment', 'shop', 'api')?.status as { readyReplicas?: number } | undefined)?.readyReplicas === 1, { what: 'api ready' });
    const svc = await client.proxyRequest('shop', 'services', 'api', 80, '/health');
    expect([svc.status, JSON.parse(svc.body)]).toEqual([200, { status: 'UP', version: '2.0.0' }]);
    const none = await client.proxyRequest('shop', 'services', 'nope', null, '/');
    expect([none.status, JSON.parse(none.body).message]).toEqual([404, 'services "nope" not found']);
  });

  it('404 for a namespace that does not exist', async () => {
    const err = await client.apply({ ...web(1), metadata: { name: 'web', namespace: 'nope' } }).catch((e: unknown) => e as Error);
    expect([err instanceof KubeApiError, (err as Error).message]).toEqual([true, `namespace nope does not exist on cluster ${kube.url}`]);
  });

  it('403 when RBAC denies', async () => {
    const lift = kube.deny({ verb: 'patch', resource: 'deployments', namespace: 'shop' });
    try {
      const err = await client.apply(web(2)).catch((e: unknown) => e as Error);
      expect([err instanceof KubeApiError && err.status, (err as Error).message]).toEqual([403,
        'forbidden: cannot patch deployments in namespace shop (missing RBAC permission for the identity of context fake-kube): deployments.apps "web" is forbidden: User "fake-admin" cannot patch resource "deployments" in API group "apps" in the namespace "shop"']);
    } finally {
      lift();
    }
  });

  it('401 once the token is revoked', async () => {
    kube.revokeToken(kube.token);
    const err = await client.get('Deployment', 'shop', 'web').catch((e: unknown) => e as Error);
    expect([err instanceof KubeApiError && err.status, (err as Error).message]).toEqual([401,
      `the Kubernetes API server at ${kube.url} rejected the credentials of context fake-kube (expired token or certificate?): Unauthorized`]);
    expect((err as Error).message).not.toContain(kube.token);
  });

  it('unreachable once the server is gone', async () => {
    await kube.close();
    const err = await client.get('Deployment', 'shop', 'web').catch((e: unknown) => e as Error);
    expect([err instanceof KubeUnreachableError, (err as Error).message]).toEqual([true,
      `cannot reach the Kubernetes API server at ${kube.url} (context fake-kube): connection refused (ECONNREFUSED)`]);
  });
});
