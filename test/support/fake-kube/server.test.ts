/**
 * The fake API server over HTTPS, as a client sees it: authentication and the RBAC stand-in,
 * discovery, lists and watches (ADDED/MODIFIED/DELETED, BOOKMARK, 410 Expired, timeoutSeconds,
 * cut watches), injected failures, the request log, a restart on the same port, pod logs and
 * the pod and service proxy to a real process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { FakeKube, Obj } from './index.js';
import { startFakeKube } from './index.js';

let kube: FakeKube;

beforeAll(async () => {
  kube = await startFakeKube({ bookmarkIntervalMs: 200, images: { 'fake.local/app': { command: [process.execPath, 'test/fixtures/app.mjs'] } } });
  await kube.namespace('shop');
});
afterAll(async () => { await kube?.close(); });

const meta = (o: Obj): Obj => o.metadata as Obj;

function configMap(name: string, labels: Record<string, string> = {}): Obj {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: { a: '1' } };
}

interface WatchStream { next(timeoutMs?: number): Promise<Obj | 'end'>; close(): void }

/** Opens a watch and reads its newline-delimited JSON events one by one. */
async function openWatch(path: string): Promise<WatchStream> {
  const res = await request(`${kube.url}${path}`, { headers: { authorization: `Bearer ${kube.token}` }, dispatcher: kube.dispatcher });
  expect(res.statusCode).toBe(200);
  const queue: (Obj | 'end')[] = [];
  const waiters: ((v: Obj | 'end') => void)[] = [];
  let buf = '';
  const push = (v: Obj | 'end'): void => { const w = waiters.shift(); if (w) w(v); else queue.push(v); };
  res.body.setEncoding('utf8');
  res.body.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) { push(JSON.parse(buf.slice(0, i)) as Obj); buf = buf.slice(i + 1); }
  });
  res.body.on('end', () => push('end'));
  res.body.on('error', () => push('end'));
  return {
    next(timeoutMs = 10_000) {
      const v = queue.shift();
      if (v !== undefined) return Promise.resolve(v);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no watch event within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((x) => { clearTimeout(t); resolve(x); });
      });
    },
    close() { res.body.destroy(); },
  };
}

describe('authentication and authorization', () => {
  it('lets anonymous read /version only; a bad token is 401; a revoked one too', async () => {
    expect((await kube.request('/version', { token: null })).json).toMatchObject({ major: '1', minor: '32', gitVersion: 'v1.32.4-fake' });
    expect((await kube.request('/api', { token: null })).json).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'forbidden: User "system:anonymous" cannot get path "/api"', reason: 'Forbidden', details: {}, code: 403,
    });
    expect(await kube.request('/api/v1/namespaces', { token: 'wrong' })).toMatchObject({ status: 401, json: { kind: 'Status', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 } });
    kube.addToken('short-lived', 'ci-bot');
    expect((await kube.request('/api/v1/namespaces', { token: 'short-lived' })).status).toBe(200);
    kube.revokeToken('short-lived');
    expect((await kube.request('/api/v1/namespaces', { token: 'short-lived' })).status).toBe(401);
  });

  it('denies by verb and resource with upstream\'s 403 message', async () => {
    kube.create({ ...configMap('rbac'), metadata: { name: 'rbac', namespace: 'shop' } });
    const lift = kube.deny({ verb: 'patch', resource: 'configmaps', namespace: 'shop' });
    try {
      const res = await kube.request('/api/v1/namespaces/shop/configmaps/rbac', { method: 'PATCH', body: { data: { a: '2' } }, contentType: 'application/merge-patch+json' });
      expect(res).toMatchObject({ status: 403, json: {
        kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403,
        message: 'configmaps "rbac" is forbidden: User "fake-admin" cannot patch resource "configmaps" in API group "" in the namespace "shop"',
        details: { name: 'rbac', kind: 'configmaps' },
      } });
      expect((await kube.request('/api/v1/namespaces/shop/configmaps/rbac')).status).toBe(200);
    } finally { lift(); }
    const liftList = kube.deny({ verb: 'list', resource: 'deployments' });
    try {
      expect((await kube.request('/apis/apps/v1/namespaces/shop/deployments')).json).toMatchObject({
        message: 'deployments.apps is forbidden: User "fake-admin" cannot list resource "deployments" in API group "apps" in the namespace "shop"',
      });
    } finally { liftList(); }
  });
});

describe('discovery and lists', () => {
  it('serves /api, /apis and the resource lists kubectl reads', async () => {
    expect((await kube.request('/api')).json).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = (await kube.request('/apis')).json as { groups: { name: string }[] };
    expect(groups.groups.map((g) => g.name)).toEqual(['apps', 'batch', 'gateway.networking.k8s.io', 'policy', 'networking.k8s.io', 'autoscaling', 'rbac.authorization.k8s.io']);
    const apps = (await kube.request('/apis/apps/v1')).json as { resources: Obj[] };
    expect(apps.resources.find((r) => r.name === 'deployments')).toMatchObject({ kind: 'Deployment', namespaced: true, shortNames: ['deploy'] });
    expect(apps.resources.map((r) => r.name)).toContain('deployments/status');
    expect((await kube.request('/apis/apps/v1/namespaces/shop/nothings')).status).toBe(404);
  });

  it('lists with metadata.resourceVersion and label selectors; items of built-in kinds carry no kind', async () => {
    for (const [n, color] of [['l-blue', 'blue'], ['l-green', 'green']]) {
      expect((await kube.request('/api/v1/namespaces/shop/configmaps', { method: 'POST', body: configMap(n, { color, set: 'l' }) })).status).toBe(201);
    }
    const res = await kube.request('/api/v1/namespaces/shop/configmaps?labelSelector=set%3Dl%2Ccolor%20in%20(blue)');
    const list = res.json as { kind: string; metadata: Obj; items: Obj[] };
    expect(list.kind).toBe('ConfigMapList');
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(list.items.map((i) => meta(i).name)).toEqual(['l-blue']);
    expect(list.items[0].kind).toBeUndefined();
    expect((await kube.request('/api/v1/namespaces/shop/configmaps?labelSelector=a%3D%3D%3Db')).status).toBe(400);
  });
});

describe('custom resources and secrets', () => {
  it('serves HTTPRoute like a CRD: apply and merge patch, no strategic merge, list items with kind', async () => {
    const route = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web' }, spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'web-stable', port: 80, weight: 100 }, { name: 'web-canary', port: 80, weight: 0 }] }] } };
    const base = '/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes';
    const created = await kube.request(`${base}/web?fieldManager=gangway`, { method: 'PATCH', body: route, contentType: 'application/apply-patch+yaml' });
    expect(created.status).toBe(201);
    expect(meta(created.json as Obj).generation).toBe(1);
    const weights = { spec: { rules: [{ backendRefs: [{ name: 'web-stable', port: 80, weight: 90 }, { name: 'web-canary', port: 80, weight: 10 }] }] } };
    const patched = await kube.request(`${base}/web`, { method: 'PATCH', body: weights, contentType: 'application/merge-patch+json' });
    expect(((patched.json as { spec: { rules: { backendRefs: Obj[] }[] } }).spec.rules[0].backendRefs).map((b) => b.weight)).toEqual([90, 10]);
    expect(meta(patched.json as Obj).generation).toBe(2);
    expect((await kube.request(`${base}/web`, { method: 'PATCH', body: weights, contentType: 'application/strategic-merge-patch+json' })).json).toMatchObject({
      code: 415, reason: 'UnsupportedMediaType',
      message: 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
    });
    const list = (await kube.request(base)).json as { items: Obj[] };
    expect(list.items.map((i) => [i.kind, i.apiVersion])).toEqual([['HTTPRoute', 'gateway.networking.k8s.io/v1']]);
  });

  it('folds a Secret\'s stringData into base64 data', async () => {
    const res = await kube.request('/api/v1/namespaces/shop/secrets', { method: 'POST', body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 's3cret' } } });
    expect(res.json).toMatchObject({ type: 'Opaque', data: { password: Buffer.from('s3cret').toString('base64') } });
    expect((res.json as Obj).stringData).toBeUndefined();
  });
});

describe('watches', () => {
  it('streams ADDED, MODIFIED and DELETED after the listed resourceVersion, and DELETED when a label stops matching', async () => {
    const list = (await kube.request('/api/v1/namespaces/shop/configmaps?labelSelector=w%3D1')).json as { metadata: Obj };
    const w = await openWatch(`/api/v1/namespaces/shop/configmaps?watch=1&labelSelector=w%3D1&resourceVersion=${String(list.metadata.resourceVersion)}`);
    try {
      await kube.request('/api/v1/namespaces/shop/configmaps', { method: 'POST', body: configMap('w1', { w: '1' }) });
      await kube.request('/api/v1/namespaces/shop/configmaps/w1', { method: 'PATCH', body: { data: { a: '2' } }, contentType: 'application/merge-patch+json' });
      await kube.request('/api/v1/namespaces/shop/configmaps/w1', { method: 'PATCH', body: { metadata: { labels: { w: null } } }, contentType: 'application/merge-patch+json' });
      await kube.request('/api/v1/namespaces/shop/configmaps', { method: 'POST', body: configMap('w2', { w: '1' }) });
      await kube.request('/api/v1/namespaces/shop/configmaps/w2', { method: 'DELETE' });
      const events: [unknown, unknown, unknown][] = [];
      for (let i = 0; i < 5; i++) {
        const e = await w.next();
        if (e === 'end') throw new Error('watch ended early');
        const o = e.object as Obj;
        events.push([e.type, meta(o).name, (o.data as Obj | undefined)?.a]);
        expect(o.kind).toBe('ConfigMap');
      }
      expect(events).toEqual([['ADDED', 'w1', '1'], ['MODIFIED', 'w1', '2'], ['DELETED', 'w1', '2'], ['ADDED', 'w2', '1'], ['DELETED', 'w2', '1']]);
    } finally { w.close(); }
  });

  it('sends BOOKMARKs when allowed and ends at timeoutSeconds', async () => {
    const w = await openWatch('/api/v1/namespaces/shop/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&labelSelector=none%3D1');
    const e = await w.next();
    expect(e).toMatchObject({ type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1' } });
    expect(Number(meta((e as Obj).object as Obj).resourceVersion)).toBeGreaterThan(0);
    let last: Obj | 'end';
    do { last = await w.next(); } while (last !== 'end');
    expect(last).toBe('end');
  });

  it('answers an in-stream 410 Expired for a resourceVersion older than the kept history', async () => {
    await kube.request('/api/v1/namespaces/shop/configmaps', { method: 'POST', body: configMap('old') });
    kube.compactHistory(0);
    const w = await openWatch('/api/v1/namespaces/shop/configmaps?watch=1&resourceVersion=2');
    const e = await w.next();
    expect(e).toMatchObject({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 } });
    expect(String((((e as Obj).object as Obj).message))).toMatch(/^too old resource version: 2 \(\d+\)$/);
    expect(await w.next()).toBe('end');
  });

  it('ends every open watch on cutWatches()', async () => {
    const w = await openWatch('/apis/apps/v1/namespaces/shop/deployments?watch=1');
    await kube.waitFor(() => kube.requestLog.some((r) => r.verb === 'watch' && r.resource === 'deployments' && r.status === 200), { what: 'watch registered' });
    expect(kube.cutWatches()).toBeGreaterThanOrEqual(1);
    expect(await w.next()).toBe('end');
  });
});

describe('faults and bookkeeping', () => {
  it('fails the next matching requests with the injected status, then recovers', async () => {
    kube.failNext(2, 503, { verb: 'get', resource: 'configmaps' });
    const a = await kube.request('/api/v1/namespaces/shop/configmaps/l-blue');
    expect(a).toMatchObject({ status: 503, json: { reason: 'ServiceUnavailable', code: 503 } });
    expect((await kube.request('/api/v1/namespaces/shop/configmaps')).status).toBe(200);
    expect((await kube.request('/api/v1/namespaces/shop/configmaps/l-blue')).status).toBe(503);
    expect((await kube.request('/api/v1/namespaces/shop/configmaps/l-blue')).status).toBe(200);
    kube.failNext(1, 409);
    expect((await kube.request('/api/v1/namespaces/shop/configmaps/l-blue')).json).toMatchObject({ code: 409, reason: 'Conflict', message: 'Operation cannot be fulfilled on configmaps "l-blue": the object has been modified; please apply your changes to the latest version and try again' });
  });

  it('logs every request with verb, resource, content type and user agent', async () => {
    const from = kube.requestLog.length;
    await kube.request('/api/v1/namespaces/shop/configmaps/l-blue', { method: 'PATCH', body: '{"data":{"b":"x"}}', contentType: 'application/strategic-merge-patch+json', headers: { 'user-agent': 'gangway/0.1' } });
    expect(kube.requestLog.slice(from)).toEqual([{
      method: 'PATCH', path: '/api/v1/namespaces/shop/configmaps/l-blue', query: '', contentType: 'application/strategic-merge-patch+json', userAgent: 'gangway/0.1',
      verb: 'patch', resource: 'configmaps', namespace: 'shop', name: 'l-blue', status: 200,
    }]);
  });

  it('restarts on the same port with its state, refusing connections while down', async () => {
    const port = kube.port;
    const before = (await kube.request('/api/v1/namespaces/shop/configmaps/l-blue')).json as Obj;
    let refused: unknown;
    await kube.restart({ downMs: 50, whileDown: async () => { refused = await kube.request('/version').then(() => 'answered', (err: Error) => err.message); } });
    expect(refused).toMatch(/ECONNREFUSED|connect/);
    expect(kube.port).toBe(port);
    const after = (await kube.request('/api/v1/namespaces/shop/configmaps/l-blue')).json as Obj;
    expect(meta(after).resourceVersion).toBe(meta(before).resourceVersion);
  });
});

describe('pods: logs and proxy', () => {
  const appDeployment = {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'app', namespace: 'shop' },
    spec: {
      replicas: 2, selector: { matchLabels: { app: 'app' } },
      template: { metadata: { labels: { app: 'app' } }, spec: { terminationGracePeriodSeconds: 5, containers: [{
        name: 'app', image: 'fake.local/app:1.0.0', env: [{ name: 'APP_VERSION', value: '1.0.0' }],
        ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/health', port: 'http' } },
      }] } },
    },
  };

  it('runs the app as a real process reachable through the pod and service proxy', async () => {
    kube.create(appDeployment);
    kube.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'app', namespace: 'shop' }, spec: { selector: { app: 'app' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });
    const pods = await kube.waitFor(() => {
      const ps = kube.list('pod', 'shop', { labelSelector: 'app=app' });
      return ps.length === 2 && ps.every((p) => ((p.status as Obj).conditions as Obj[] | undefined)?.some((c) => c.type === 'Ready' && c.status === 'True')) ? ps : undefined;
    }, { what: 'two ready app pods', timeoutMs: 30_000 });
    const name = String(meta(pods[0]).name);
    expect(await kube.request(`/api/v1/namespaces/shop/pods/${name}:8080/proxy/health`)).toMatchObject({ status: 200, json: { status: 'UP', version: '1.0.0' } });
    const posted = await kube.request(`/api/v1/namespaces/shop/pods/${name}/proxy/?x=1`, { method: 'POST', body: 'hello', contentType: 'text/plain' });
    expect(posted).toMatchObject({ status: 200, text: '1.0.0\n' });
    expect(posted.headers['x-app-version']).toBe('1.0.0');
    const pids = new Set<number>();
    for (let i = 0; i < 4; i++) pids.add(((await kube.request('/api/v1/namespaces/shop/services/app:http/proxy/info')).json as { pid: number }).pid);
    expect(pids.size).toBe(2);
    expect(kube.pids.sort()).toEqual([...pids].sort());
  });

  it('serves container logs with tailLines, and 400 for a container not started', async () => {
    const pod = kube.list('pod', 'shop', { labelSelector: 'app=app' })[0];
    const name = String(meta(pod).name);
    const res = await kube.request(`/api/v1/namespaces/shop/pods/${name}/log?tailLines=1`);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^app 1\.0\.0 listening on 127\.0\.0\.1:\d+ \(pid \d+\)\n$/);
    kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pulling', namespace: 'shop' }, spec: { containers: [{ name: 'c', image: 'fake.local/pull-error:1' }] } });
    await kube.waitFor(() => {
      const waiting = (((kube.get('pod', 'shop', 'pulling')?.status as Obj | undefined)?.containerStatuses as Obj[] | undefined)?.[0]?.state as Obj | undefined)?.waiting as Obj | undefined;
      return waiting?.reason === 'ErrImagePull' || waiting?.reason === 'ImagePullBackOff';
    }, { what: 'pull error' });
    expect((await kube.request('/api/v1/namespaces/shop/pods/pulling/log')).json).toMatchObject({ code: 400, reason: 'BadRequest', message: 'container "c" in pod "pulling" is waiting to start: trying and failing to pull image' });
  });

  it('answers 503 "no endpoints available" for a service without ready pods', async () => {
    kube.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'lonely', namespace: 'shop' }, spec: { selector: { app: 'none' }, ports: [{ port: 80 }] } });
    expect((await kube.request('/api/v1/namespaces/shop/services/lonely/proxy/')).json).toMatchObject({ code: 503, reason: 'ServiceUnavailable', message: 'no endpoints available for service "lonely"' });
  });
});
