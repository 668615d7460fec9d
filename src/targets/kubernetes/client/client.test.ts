/**
 * KubeClient against a node:http stub API server started here: what each verb sends (method,
 * path, query, content type, user agent, credentials), 409 retries, logs, the proxy, error
 * mapping with exact messages, timeouts, token-file refresh and exec credential plugins.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GANGWAY_VERSION } from '../../../version.js';
import { KubeClient } from './client.js';
import { KubeApiError, KubeAuthPluginError, KubeNoKindMatchError, KubeUnreachableError } from './errors.js';
import type { KubeAuth, KubeConnectionConfig, KubeExecConfig } from './kubeconfig.js';

interface Seen { method: string; url: string; headers: IncomingMessage['headers']; body: string }
type Handler = (req: Seen, res: ServerResponse) => void;

let server: Server;
let base: string;
let handler: Handler = (_req, res) => { res.writeHead(500).end(); };
const seen: Seen[] = [];
let dir: string;
const clients: KubeClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kube-client-'));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  seen.length = 0;
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

function conn(auth: KubeAuth = { kind: 'token', token: 'tok-secret' }, over: Partial<KubeConnectionConfig> = {}): KubeConnectionConfig {
  return {
    server: base, context: 'ctx', cluster: 'c', user: 'u', namespace: 'shop', source: '/kc', inCluster: false,
    tls: { ca: undefined, insecureSkipTlsVerify: false, serverName: undefined, cert: undefined, key: undefined },
    auth, ...over,
  };
}
function client(auth?: KubeAuth, opts: { timeoutMs?: number } = {}, over: Partial<KubeConnectionConfig> = {}): KubeClient {
  const c = new KubeClient(conn(auth, over), opts);
  clients.push(c);
  return c;
}
function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
function status(res: ServerResponse, code: number, reason: string, message: string, details?: Record<string, unknown>): void {
  json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason, message, ...(details ? { details } : {}) });
}
async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: { replicas: 2 } };

describe('verbs', () => {
  it('get: the object, with user agent and bearer token; null on 404', async () => {
    handler = (req, res) => {
      if (req.url.endsWith('/web')) json(res, 200, { ...deployment, metadata: { ...deployment.metadata, resourceVersion: '7' } });
      else status(res, 404, 'NotFound', 'deployments.apps "gone" not found', { name: 'gone', group: 'apps', kind: 'deployments' });
    };
    const kube = client();
    expect(await kube.get('Deployment', 'shop', 'web')).toEqual({ ...deployment, metadata: { ...deployment.metadata, resourceVersion: '7' } });
    expect(await kube.get('Deployment', 'shop', 'gone')).toBeNull();
    expect(seen.map((s) => [s.method, s.url, s.headers['user-agent'], s.headers.authorization, s.headers.accept])).toEqual([
      ['GET', '/apis/apps/v1/namespaces/shop/deployments/web', `gangway/${GANGWAY_VERSION}`, 'Bearer tok-secret', 'application/json'],
      ['GET', '/apis/apps/v1/namespaces/shop/deployments/gone', `gangway/${GANGWAY_VERSION}`, 'Bearer tok-secret', 'application/json'],
    ]);
  });

  it('list: selectors in the query, items with kind, the list resourceVersion; cluster-scoped paths', async () => {
    handler = (req, res) => json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '42' }, items: [{ metadata: { name: 'p1' } }] });
    const kube = client();
    expect(await kube.list('Pod', 'shop', { labelSelector: 'app=web,track in (canary)', fieldSelector: 'status.phase=Running' })).toEqual({ items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1' } }], resourceVersion: '42' });
    await kube.list('Namespace', 'ignored');
    await kube.list('HTTPRoute', 'shop');
    expect(seen.map((s) => s.url)).toEqual([
      '/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb%2Ctrack+in+%28canary%29&fieldSelector=status.phase%3DRunning',
      '/api/v1/namespaces',
      '/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes',
    ]);
  });

  it('apply: PATCH apply-patch+yaml with fieldManager=gangway, force only when asked', async () => {
    handler = (req, res) => json(res, 200, JSON.parse(req.body));
    const kube = client();
    expect(await kube.apply(deployment)).toEqual(deployment);
    await kube.apply(deployment, { force: true });
    await kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: {} }, { fieldManager: 'other' });
    expect(seen.map((s) => [s.method, s.url, s.headers['content-type'], s.body])).toEqual([
      ['PATCH', '/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=gangway', 'application/apply-patch+yaml', JSON.stringify(deployment)],
      ['PATCH', '/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=gangway&force=true', 'application/apply-patch+yaml', JSON.stringify(deployment)],
      ['PATCH', '/api/v1/namespaces/shop/configmaps/cfg?fieldManager=other', 'application/apply-patch+yaml', '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{}}'],
    ]);
  });

  it('create, replace, patch (three flavours) and delete', async () => {
    handler = (req, res) => {
      if (req.method === 'DELETE' && req.url.includes('/gone')) status(res, 404, 'NotFound', 'deployments.apps "gone" not found', { name: 'gone', group: 'apps', kind: 'deployments' });
      else json(res, 200, req.body ? { ...deployment, echoed: req.body } : deployment);
    };
    const kube = client();
    await kube.create(deployment);
    await kube.replace({ ...deployment, metadata: { ...deployment.metadata, resourceVersion: '3' } });
    await kube.patch('Service', 'shop', 'web', { spec: { selector: { color: 'green' } } }, 'merge');
    await kube.patch('Deployment', 'shop', 'web', [{ op: 'replace', path: '/spec/replicas', value: 3 }], 'json');
    await kube.patch('Deployment', 'shop', 'web', { spec: { replicas: 1 } }, 'strategic');
    await kube.delete('Deployment', 'shop', 'web', { propagationPolicy: 'Foreground' });
    await kube.delete('Deployment', 'shop', 'gone');
    expect(seen.map((s) => [s.method, s.url, s.headers['content-type'], s.body])).toEqual([
      ['POST', '/apis/apps/v1/namespaces/shop/deployments?fieldManager=gangway', 'application/json', JSON.stringify(deployment)],
      ['PUT', '/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=gangway', 'application/json', JSON.stringify({ ...deployment, metadata: { ...deployment.metadata, resourceVersion: '3' } })],
      ['PATCH', '/api/v1/namespaces/shop/services/web?fieldManager=gangway', 'application/merge-patch+json', '{"spec":{"selector":{"color":"green"}}}'],
      ['PATCH', '/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=gangway', 'application/json-patch+json', '[{"op":"replace","path":"/spec/replicas","value":3}]'],
      ['PATCH', '/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=gangway', 'application/strategic-merge-patch+json', '{"spec":{"replicas":1}}'],
      ['DELETE', '/apis/apps/v1/namespaces/shop/deployments/web', 'application/json', '{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground"}'],
      ['DELETE', '/apis/apps/v1/namespaces/shop/deployments/gone', undefined, ''],
    ]);
  });

  it('a kind named alone must be built in: refused before any request', async () => {
    const kube = client();
    expect((await caught(kube.get('CronJob', 'shop', 'x'))).message).toBe('Gangway\'s Kubernetes client has no built-in mapping for kind "CronJob" (built in: Namespace, Deployment, ReplicaSet, Pod, Service, Job, HTTPRoute, Event, Secret, ConfigMap): name it with its apiVersion, { apiVersion, kind }, to have it discovered');
    expect((await caught(kube.apply({ ...deployment, metadata: { name: '' } }))).message).toBe('Deployment: metadata.name is missing');
    expect(seen).toEqual([]);
  });

  it('other kinds go where discovery of their group/version says, asked once per group/version', async () => {
    const lists: Record<string, unknown> = {
      '/apis/policy/v1': { kind: 'APIResourceList', groupVersion: 'policy/v1', resources: [
        { name: 'poddisruptionbudgets', singularName: 'poddisruptionbudget', namespaced: true, kind: 'PodDisruptionBudget', verbs: ['get', 'patch'] },
        { name: 'poddisruptionbudgets/status', singularName: '', namespaced: true, kind: 'PodDisruptionBudget', verbs: ['get', 'patch'] },
      ] },
      '/apis/example.com/v1': { kind: 'APIResourceList', groupVersion: 'example.com/v1', resources: [{ name: 'clusterwidgets', namespaced: false, kind: 'ClusterWidget', verbs: ['get'] }] },
    };
    handler = (req, res) => {
      const list = lists[req.url];
      if (list) json(res, 200, list);
      else if (req.url.startsWith('/apis/extensions/')) status(res, 404, 'NotFound', 'the server could not find the requested resource');
      else json(res, 200, req.body ? JSON.parse(req.body) : { metadata: { name: 'x' } });
    };
    const kube = client();
    const pdb = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web' }, spec: { minAvailable: 1 } };
    expect(await kube.apply(pdb)).toEqual(pdb);
    await kube.get({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }, 'shop', 'web');
    await kube.apply({ apiVersion: 'example.com/v1', kind: 'ClusterWidget', metadata: { name: 'big', namespace: 'ignored' } });
    await kube.delete({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }, 'shop', 'web');
    expect(await kube.resolve('policy/v1', 'PodDisruptionBudget')).toEqual({ kind: 'PodDisruptionBudget', apiVersion: 'policy/v1', group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', namespaced: true });
    const old = await caught(kube.apply({ ...deployment, apiVersion: 'extensions/v1beta1' }));
    expect([old instanceof KubeNoKindMatchError, old.message]).toEqual([true,
      `resource mapping not found for name: "web" namespace: "shop": no matches for kind "Deployment" in version "extensions/v1beta1": the API server at ${base} (context ctx) does not serve extensions/v1beta1; ensure CRDs are installed first, and check the apiVersion`]);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /apis/policy/v1',
      'PATCH /apis/policy/v1/namespaces/shop/poddisruptionbudgets/web?fieldManager=gangway',
      'GET /apis/policy/v1/namespaces/shop/poddisruptionbudgets/web',
      'GET /apis/example.com/v1',
      'PATCH /apis/example.com/v1/clusterwidgets/big?fieldManager=gangway',
      'DELETE /apis/policy/v1/namespaces/shop/poddisruptionbudgets/web',
      'GET /apis/extensions/v1beta1',
    ]);
    expect(seen.filter((s) => s.url.startsWith('/apis/policy')).map((s) => s.headers.authorization)).toEqual(['Bearer tok-secret', 'Bearer tok-secret', 'Bearer tok-secret', 'Bearer tok-secret']);
  });

  it('a failed discovery is reported as the API call it was, and asked again next time', async () => {
    let fail = true;
    handler = (req, res) => {
      if (req.url === '/apis/policy/v1' && fail) { fail = false; status(res, 503, 'ServiceUnavailable', 'the server is currently unable to handle the request'); return; }
      if (req.url === '/apis/policy/v1') json(res, 200, { kind: 'APIResourceList', groupVersion: 'policy/v1', resources: [{ name: 'poddisruptionbudgets', namespaced: true, kind: 'PodDisruptionBudget' }] });
      else json(res, 200, { metadata: { name: 'web' } });
    };
    const kube = client();
    const err = await caught(kube.get({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }, 'shop', 'web'));
    expect([err instanceof KubeApiError, err.message]).toEqual([true, 'cannot get /apis/policy/v1 at cluster scope: 503 ServiceUnavailable: the server is currently unable to handle the request']);
    expect(await kube.get({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' }, 'shop', 'web')).toEqual({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web' } });
    expect(seen.map((s) => s.url)).toEqual(['/apis/policy/v1', '/apis/policy/v1', '/apis/policy/v1/namespaces/shop/poddisruptionbudgets/web']);
  });

  it('retryOnConflict re-runs fn on a stale-resourceVersion 409 and gives up after `attempts`', async () => {
    let conflicts = 2;
    handler = (req, res) => {
      if (req.method === 'PUT' && conflicts-- > 0) status(res, 409, 'Conflict', 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again', { name: 'web', group: 'apps', kind: 'deployments' });
      else json(res, 200, deployment);
    };
    const kube = client();
    let runs = 0;
    const fresh = async () => {
      runs += 1;
      const d = await kube.get('Deployment', 'shop', 'web');
      return kube.replace(d!);
    };
    await kube.retryOnConflict(fresh);
    expect([runs, seen.map((s) => s.method).join(',')]).toEqual([3, 'GET,PUT,GET,PUT,GET,PUT']);

    conflicts = 10;
    runs = 0;
    const err = await caught(kube.retryOnConflict(fresh, 3));
    expect([runs, err instanceof KubeApiError && err.status, err.message]).toEqual([3, 409,
      'cannot update deployments "web" in namespace shop: 409 Conflict: Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again']);

    handler = (_req, res) => status(res, 409, 'AlreadyExists', 'deployments.apps "web" already exists', { name: 'web', group: 'apps', kind: 'deployments' });
    runs = 0;
    await caught(kube.retryOnConflict(async () => { runs += 1; return kube.create(deployment); }));
    expect(runs).toBe(1);
  });

  it('logs: text with tailLines/container/previous; follow: lines as they come', async () => {
    handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      if (!req.url.includes('follow=true')) { res.end('one\ntwo\n'); return; }
      res.write('a\nb');
      setImmediate(() => res.end('c\nd\n'));
    };
    const kube = client();
    expect(await kube.logs('shop', 'web-1', { tailLines: 2, container: 'app' })).toBe('one\ntwo\n');
    expect(await kube.logs('shop', 'web-1', { tailLines: 5, previous: true })).toBe('one\ntwo\n');
    const lines: string[] = [];
    for await (const l of await kube.logs('shop', 'web-1', { follow: true })) lines.push(l);
    expect(lines).toEqual(['a', 'bc', 'd']);
    expect(seen.map((s) => s.url)).toEqual([
      '/api/v1/namespaces/shop/pods/web-1/log?container=app&tailLines=2', '/api/v1/namespaces/shop/pods/web-1/log?tailLines=5&previous=true',
      '/api/v1/namespaces/shop/pods/web-1/log?follow=true',
    ]);
  });

  it('proxyUrl, proxyRequest (the pod\'s answers are data; the API server\'s 403 throws), authHeaders', async () => {
    handler = (req, res) => {
      if (req.url.includes('/denied')) status(res, 403, 'Forbidden', 'pods "x" is forbidden: User "u" cannot get resource "pods/proxy" in API group "" in the namespace "shop"');
      else if (req.url.includes('services/web')) status(res, 503, 'ServiceUnavailable', 'no endpoints available for service "web"');
      else res.writeHead(418, { 'x-app': 'yes' }).end(`teapot ${req.method} ${req.body}`);
    };
    const kube = client();
    expect(kube.proxyUrl('shop', 'pods', 'web-1', 8080, '/health?full=1')).toBe(`${base}/api/v1/namespaces/shop/pods/web-1:8080/proxy/health?full=1`);
    expect(kube.proxyUrl('shop', 'services', 'web', null, 'ready')).toBe(`${base}/api/v1/namespaces/shop/services/web/proxy/ready`);
    const r = await kube.proxyRequest('shop', 'pods', 'web-1', 'http', '/x', { method: 'POST', body: 'hi' });
    expect([r.status, r.headers['x-app'], r.body]).toEqual([418, 'yes', 'teapot POST hi']);
    const svc = await kube.proxyRequest('shop', 'services', 'web', null, '/');
    expect([svc.status, JSON.parse(svc.body).message]).toEqual([503, 'no endpoints available for service "web"']);
    const err = await caught(kube.proxyRequest('shop', 'pods', 'x', null, '/denied'));
    expect(err.message).toBe('forbidden: cannot get pods/proxy in namespace shop (missing RBAC permission for the identity of context ctx): pods "x" is forbidden: User "u" cannot get resource "pods/proxy" in API group "" in the namespace "shop"');
    expect(seen.map((s) => [s.url, s.headers.authorization])).toEqual([
      ['/api/v1/namespaces/shop/pods/web-1:http/proxy/x', 'Bearer tok-secret'],
      ['/api/v1/namespaces/shop/services/web/proxy/', 'Bearer tok-secret'],
      ['/api/v1/namespaces/shop/pods/x/proxy/denied', 'Bearer tok-secret'],
    ]);
    expect(await kube.authHeaders()).toEqual({ authorization: 'Bearer tok-secret' });
    expect(await client({ kind: 'basic', username: 'admin', password: 'pw' }).authHeaders()).toEqual({ authorization: `Basic ${Buffer.from('admin:pw').toString('base64')}` });
    expect(await client({ kind: 'none' }).authHeaders()).toEqual({});
  });
});

describe('error mapping', () => {
  const cases: Array<[string, (res: ServerResponse) => void, (k: KubeClient) => Promise<unknown>, number, string]> = [
    ['401', (res) => status(res, 401, 'Unauthorized', 'Unauthorized'), (k) => k.get('Pod', 'shop', 'p'), 401,
      'the Kubernetes API server at {base} rejected the credentials of context ctx (expired token or certificate?): Unauthorized'],
    ['403', (res) => status(res, 403, 'Forbidden', 'deployments.apps "web" is forbidden: User "ci" cannot patch resource "deployments" in API group "apps" in the namespace "shop"'), (k) => k.apply(deployment), 403,
      'forbidden: cannot patch deployments in namespace shop (missing RBAC permission for the identity of context ctx): deployments.apps "web" is forbidden: User "ci" cannot patch resource "deployments" in API group "apps" in the namespace "shop"'],
    ['403 cluster scope', (res) => status(res, 403, 'Forbidden', 'namespaces is forbidden'), (k) => k.list('Namespace', ''), 403,
      'forbidden: cannot list namespaces at cluster scope (missing RBAC permission for the identity of context ctx): namespaces is forbidden'],
    ['404 namespace', (res) => status(res, 404, 'NotFound', 'namespaces "nope" not found', { name: 'nope', kind: 'namespaces' }), (k) => k.apply({ ...deployment, metadata: { name: 'web', namespace: 'nope' } }), 404,
      'namespace nope does not exist on cluster {base}'],
    ['422', (res) => status(res, 422, 'Invalid', 'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'), (k) => k.apply(deployment), 422,
      'cannot patch deployments "web" in namespace shop: 422 Invalid: Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'],
    ['502 not a Status', (res) => res.writeHead(502).end('bad gateway'), (k) => k.list('Pod', 'shop'), 502,
      'cannot list pods in namespace shop: 502 Unknown: bad gateway'],
  ];
  it.each(cases)('%s', async (_what, answer, act, code, message) => {
    handler = (_req, res) => answer(res);
    const err = await caught(act(client()));
    expect(err).toBeInstanceOf(KubeApiError);
    expect([(err as KubeApiError).status, err.message]).toEqual([code, message.replaceAll('{base}', base)]);
    expect(err.message).not.toContain('tok-secret');
  });

  it('KubeApiError carries the call and the Status', async () => {
    handler = (_req, res) => status(res, 403, 'Forbidden', 'no', { name: 'web', group: 'apps', kind: 'deployments' });
    const err = (await caught(client().delete('Deployment', 'shop', 'web'))) as KubeApiError;
    expect([err.name, err.status, err.reason, err.verb, err.resource, err.namespace, err.objectName, err.statusMessage]).toEqual(['KubeApiError', 403, 'Forbidden', 'delete', 'deployments', 'shop', 'web', 'no']);
  });

  it('unreachable: connection refused, unknown host, no answer in time', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = await caught(client(undefined, {}, { server: `http://127.0.0.1:${port}` }).get('Pod', 'shop', 'p'));
    expect([refused instanceof KubeUnreachableError, (refused as KubeUnreachableError).code, refused.message]).toEqual([true, 'ECONNREFUSED',
      `cannot reach the Kubernetes API server at http://127.0.0.1:${port} (context ctx): connection refused (ECONNREFUSED)`]);
    const unknown = await caught(client(undefined, {}, { server: 'http://no-such-host.invalid' }).get('Pod', 'shop', 'p'));
    expect([unknown instanceof KubeUnreachableError, unknown.message]).toEqual([true,
      'cannot reach the Kubernetes API server at http://no-such-host.invalid (context ctx): host not found (ENOTFOUND)']);
    handler = () => { /* never answers */ };
    const slow = await caught(client(undefined, { timeoutMs: 300 }).get('Pod', 'shop', 'p'));
    expect([slow instanceof KubeUnreachableError, slow.message]).toEqual([true,
      `cannot reach the Kubernetes API server at ${base} (context ctx): no answer within 300 ms (ETIMEDOUT)`]);
    server.closeAllConnections();
  });

  it('the caller\'s abort passes through as an AbortError', async () => {
    handler = () => { /* never answers */ };
    const ac = new AbortController();
    const p = client().list('Pod', 'shop', { signal: ac.signal });
    await expect.poll(() => seen.length).toBe(1);
    ac.abort();
    expect((await caught(p)).name).toBe('AbortError');
    server.closeAllConnections();
  });
});

describe('credentials that refresh', () => {
  const rejectUnless = (good: string): Handler => (req, res) => {
    if (req.headers.authorization === `Bearer ${good}`) json(res, 200, { kind: 'PodList', metadata: { resourceVersion: '1' }, items: [] });
    else status(res, 401, 'Unauthorized', 'Unauthorized');
  };

  it('a token file is re-read after a 401 (rotation) and the call retried once', async () => {
    const file = join(dir, 'token');
    await writeFile(file, 'old-token\n');
    const kube = client({ kind: 'tokenFile', path: file });
    handler = rejectUnless('old-token');
    await kube.list('Pod', 'shop');
    await writeFile(file, 'new-token\n');
    handler = rejectUnless('new-token');
    await kube.list('Pod', 'shop');
    expect(seen.map((s) => s.headers.authorization)).toEqual(['Bearer old-token', 'Bearer old-token', 'Bearer new-token']);
    // The file still holds the rejected token: no pointless retry.
    handler = rejectUnless('other');
    const err = await caught(kube.list('Pod', 'shop'));
    expect([err.message, seen.length]).toEqual([`the Kubernetes API server at ${base} rejected the credentials of context ctx (expired token or certificate?): Unauthorized`, 4]);
  });

  async function plugin(name: string, script: string, over: Partial<KubeExecConfig> = {}): Promise<KubeAuth> {
    const path = join(dir, name);
    await writeFile(path, script);
    return { kind: 'exec', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: name, resolvedCommand: process.execPath, args: [path], env: [{ name: 'PLUGIN_DIR', value: dir }], installHint: undefined, provideClusterInfo: true, user: 'u', ...over } };
  }
  // Each run counts itself in a file and prints token tok-<n>, expiring after EXPIRES_MS.
  const COUNTING = `
    const fs = require('node:fs'); const f = process.env.PLUGIN_DIR + '/' + process.env.PLUGIN_NAME + '.count';
    const n = (fs.existsSync(f) ? Number(fs.readFileSync(f, 'utf8')) : 0) + 1; fs.writeFileSync(f, String(n));
    fs.writeFileSync(process.env.PLUGIN_DIR + '/' + process.env.PLUGIN_NAME + '.info', process.env.KUBERNETES_EXEC_INFO);
    const exp = process.env.EXPIRES_MS ? { expirationTimestamp: new Date(Date.now() + Number(process.env.EXPIRES_MS)).toISOString() } : {};
    console.log(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'tok-' + n, ...exp } }));`;
  const runs = async (name: string): Promise<number> => Number(await readFile(join(dir, `${name}.count`), 'utf8'));

  it('exec: run once and cached until expirationTimestamp; KUBERNETES_EXEC_INFO as kubectl sets it', async () => {
    const auth = await plugin('cached.cjs', COUNTING, { env: [{ name: 'PLUGIN_DIR', value: dir }, { name: 'PLUGIN_NAME', value: 'cached' }, { name: 'EXPIRES_MS', value: '3600000' }] });
    handler = rejectUnless('tok-1');
    const kube = client(auth);
    await kube.list('Pod', 'shop');
    await kube.list('Pod', 'shop');
    expect(await kube.authHeaders()).toEqual({ authorization: 'Bearer tok-1' });
    expect(await runs('cached')).toBe(1);
    expect(JSON.parse(await readFile(join(dir, 'cached.info'), 'utf8'))).toEqual({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false, cluster: { server: base } } });
  });

  it('exec: an expired credential runs the plugin again', async () => {
    const auth = await plugin('expiring.cjs', COUNTING, { env: [{ name: 'PLUGIN_DIR', value: dir }, { name: 'PLUGIN_NAME', value: 'expiring' }, { name: 'EXPIRES_MS', value: '-1000' }] });
    const kube = client(auth);
    expect(await kube.authHeaders()).toEqual({ authorization: 'Bearer tok-1' });
    expect(await kube.authHeaders()).toEqual({ authorization: 'Bearer tok-2' });
    expect(await runs('expiring')).toBe(2);
  });

  it('exec: a 401 re-runs the plugin and retries once', async () => {
    const auth = await plugin('rejected.cjs', COUNTING, { env: [{ name: 'PLUGIN_DIR', value: dir }, { name: 'PLUGIN_NAME', value: 'rejected' }] });
    handler = rejectUnless('tok-2');
    const kube = client(auth);
    await kube.list('Pod', 'shop');
    expect([await runs('rejected'), seen.map((s) => s.headers.authorization)]).toEqual([2, ['Bearer tok-1', 'Bearer tok-2']]);
  });

  it('exec: a failing plugin names the command, its stderr\'s last lines and the install hint', async () => {
    const auth = await plugin('failing.cjs', `for (let i = 1; i <= 7; i++) console.error('line ' + i); console.log('{"status":{"token":"leaked-token"}}'); process.exit(3);`, { command: 'my-plugin', installHint: 'Install my-plugin: apt install my-plugin' });
    const err = await caught(client(auth).get('Pod', 'shop', 'p'));
    expect(err).toBeInstanceOf(KubeAuthPluginError);
    expect(err.message).toBe('exec credential plugin "my-plugin" of user "u" in /kc failed (exit code 3):\nline 3\nline 4\nline 5\nline 6\nline 7\nInstall my-plugin: apt install my-plugin');
    expect(seen).toEqual([]);
  });

  it('exec: a missing plugin shows the install hint; bad output is named without quoting it', async () => {
    const missing: KubeAuth = { kind: 'exec', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'nope-plugin', resolvedCommand: join(dir, 'nope-plugin'), args: [], env: [], installHint: 'See https://example.com/install', provideClusterInfo: false, user: 'u' } };
    expect((await caught(client(missing).authHeaders())).message).toBe(`exec credential plugin "nope-plugin" of user "u" in /kc was not found (${join(dir, 'nope-plugin')})\nSee https://example.com/install`);
    const garbage = await plugin('garbage.cjs', `console.log('token=leaked-token')`);
    expect((await caught(client(garbage).authHeaders())).message).toBe('exec credential plugin "garbage.cjs" of user "u" in /kc printed no ExecCredential JSON on stdout');
    const wrongVersion = await plugin('v1beta1.cjs', `console.log(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: 'leaked-token' } }))`);
    expect((await caught(client(wrongVersion).authHeaders())).message).toBe('exec credential plugin "v1beta1.cjs" of user "u" in /kc printed apiVersion "client.authentication.k8s.io/v1beta1", but the kubeconfig asks for client.authentication.k8s.io/v1');
  });
});
