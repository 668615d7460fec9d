/**
 * watch and watchFrom against a scripted node:http stub: NDJSON parsing, BOOKMARKs moving the
 * resume point, a clean end and a cut stream resumed from the last resourceVersion, an
 * in-stream and an HTTP 410 answered by a re-list (with what changed meanwhile), fatal errors,
 * and abort stopping everything.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from './client.js';
import { KubeClient } from './client.js';
import { KubeApiError, KubeUnreachableError } from './errors.js';
import type { InformerEvent, WatchEvent } from './watch.js';

/** One scripted answer per request, in order; requests past the script hang until closed. */
type Step = (req: IncomingMessage, res: ServerResponse) => void;
let script: Step[] = [];
const urls: string[] = [];
const open = new Set<ServerResponse>();
let server: Server;
let kube: KubeClient;

beforeAll(async () => {
  server = createServer((req, res) => {
    urls.push(req.url ?? '');
    const step = script.shift();
    if (step) step(req, res);
    else { open.add(res); res.writeHead(200, { 'content-type': 'application/json' }); res.flushHeaders(); }
    res.on('close', () => open.delete(res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  kube = new KubeClient({
    server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, context: 'ctx', cluster: 'c', user: 'u', namespace: 'shop', source: '/kc', inCluster: false,
    tls: { ca: undefined, insecureSkipTlsVerify: false, serverName: undefined, cert: undefined, key: undefined },
    auth: { kind: 'token', token: 't' },
  });
});
afterEach(() => {
  script = [];
  urls.length = 0;
  server.closeAllConnections();
});
afterAll(async () => {
  await kube.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const pod = (name: string, rv: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', resourceVersion: rv } });
const line = (type: string, object: unknown): string => `${JSON.stringify({ type, object })}\n`;
const bookmark = (rv: string): string => line('BOOKMARK', { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: rv } });
const list = (rv: string, items: KubeObject[]): Step => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: rv }, items: items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest) }));
};
const stream = (...chunks: string[]): { end: Step; cut: Step } => ({
  end: (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); for (const c of chunks) res.write(c); res.end(); },
  cut: (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); for (const c of chunks) res.write(c); setTimeout(() => res.destroy(), 20); },
});
const expired = line('ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 16 (30)', reason: 'Expired', code: 410 });
const summary = (e: InformerEvent): string => `${e.type} ${e.object.metadata.name}@${e.object.metadata.resourceVersion ?? ''}${e.fromList ? ' (list)' : ''}`;

describe('watch', () => {
  it('streams events split across chunks and resolves with the last resourceVersion when the server ends', async () => {
    const a = line('ADDED', pod('a', '5'));
    script = [stream(a.slice(0, 10), a.slice(10) + line('MODIFIED', pod('a', '6')).slice(0, 4), line('MODIFIED', pod('a', '6')).slice(4), bookmark('9')).end];
    const got: WatchEvent[] = [];
    const r = await kube.watch('Pod', 'shop', { resourceVersion: '4', labelSelector: 'app=web', timeoutSeconds: 60, allowWatchBookmarks: true }, (e) => { got.push(e); });
    expect(got.map((e) => `${e.type} ${e.object.metadata.resourceVersion}`)).toEqual(['ADDED 5', 'MODIFIED 6', 'BOOKMARK 9']);
    expect(got[0].object).toEqual(pod('a', '5'));
    expect(r).toEqual({ resourceVersion: '9', events: 3, aborted: false });
    expect(urls).toEqual(['/api/v1/namespaces/shop/pods?watch=true&labelSelector=app%3Dweb&resourceVersion=4&timeoutSeconds=60&allowWatchBookmarks=true']);
  });

  it('an in-stream ERROR rejects with its Status (410 Expired)', async () => {
    script = [stream(expired).end];
    const err = await kube.watch('Pod', 'shop', { resourceVersion: '16' }, () => undefined).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect([(err as KubeApiError).status, (err as KubeApiError).reason, (err as Error).message]).toEqual([410, 'Expired', 'cannot watch pods in namespace shop: 410 Expired: too old resource version: 16 (30)']);
  });

  it('a cut stream rejects with KubeUnreachableError; an abort resolves', async () => {
    script = [stream(line('ADDED', pod('a', '5'))).cut];
    const err = await kube.watch('Pod', 'shop', {}, () => undefined).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KubeUnreachableError);
    const ac = new AbortController();
    const p = kube.watch('Pod', 'shop', { resourceVersion: '7' }, () => undefined, ac.signal);
    await expect.poll(() => open.size).toBe(1);
    ac.abort();
    expect(await p).toEqual({ resourceVersion: '7', events: 0, aborted: true });
    await expect.poll(() => open.size).toBe(0);
  });

  it('an exception of onEvent comes out as thrown', async () => {
    script = [stream(line('ADDED', pod('a', '5'))).end];
    const boom = new Error('boom');
    await expect(kube.watch('Pod', 'shop', {}, () => { throw boom; })).rejects.toBe(boom);
  });
});

describe('watchFrom', () => {
  it('lists, watches, resumes from bookmarks and after a cut, re-lists on an in-stream 410, stops on abort', async () => {
    script = [
      list('10', [pod('a', '10')]),
      stream(line('MODIFIED', pod('a', '11')), bookmark('15')).end,   // clean end: resume from the bookmark
      stream(line('ADDED', pod('b', '16'))).cut,                      // cut: resume from b's version
      stream(expired).end,                                             // 410: list again
      list('20', [pod('b', '17')]),                                    // a vanished, b changed meanwhile
      stream(line('ADDED', pod('c', '21'))).cut,
    ];
    const ac = new AbortController();
    const events: string[] = [];
    const lists: Array<[string, boolean]> = [];
    const errors: string[] = [];
    const done = kube.watchFrom('Pod', 'shop', { labelSelector: 'app=web', timeoutSeconds: 30, backoff: { initialMs: 5, maxMs: 20 }, onList: (rv, relist) => lists.push([rv, relist]), onError: (e) => errors.push(e.name) }, (e) => {
      events.push(summary(e));
      if (e.object.metadata.name === 'c') ac.abort();
    }, ac.signal);
    await done;
    expect(events).toEqual(['ADDED a@10 (list)', 'MODIFIED a@11', 'ADDED b@16', 'MODIFIED b@17 (list)', 'DELETED a@11 (list)', 'ADDED c@21']);
    expect(lists).toEqual([['10', false], ['20', true]]);
    expect(errors).toEqual(['KubeUnreachableError']);
    const q = '&labelSelector=app%3Dweb';
    expect(urls).toEqual([
      '/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb',
      `/api/v1/namespaces/shop/pods?watch=true${q}&resourceVersion=10&timeoutSeconds=30&allowWatchBookmarks=true`,
      `/api/v1/namespaces/shop/pods?watch=true${q}&resourceVersion=15&timeoutSeconds=30&allowWatchBookmarks=true`,
      `/api/v1/namespaces/shop/pods?watch=true${q}&resourceVersion=16&timeoutSeconds=30&allowWatchBookmarks=true`,
      '/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb',
      `/api/v1/namespaces/shop/pods?watch=true${q}&resourceVersion=20&timeoutSeconds=30&allowWatchBookmarks=true`,
    ]);
  });

  it('an HTTP 410 re-lists too (after a backoff when it follows a fresh list); 5xx backs off and retries', async () => {
    const status = (code: number, reason: string): Step => (_req, res) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code, reason, message: reason }));
    script = [list('10', []), status(410, 'Gone'), list('12', [pod('a', '11')]), status(503, 'ServiceUnavailable'), stream(line('DELETED', pod('a', '13'))).end];
    const ac = new AbortController();
    const events: string[] = [];
    const errors: string[] = [];
    await kube.watchFrom('Pod', 'shop', { backoff: { initialMs: 5 }, onError: (e, wait) => errors.push(`${(e as KubeApiError).status} ${wait}`) }, (e) => {
      events.push(summary(e));
      if (e.type === 'DELETED') ac.abort();
    }, ac.signal);
    expect(events).toEqual(['ADDED a@11 (list)', 'DELETED a@13']);
    expect(errors).toEqual(['410 5', '503 10']);
    expect(urls.map((u) => u.replace(/&timeoutSeconds=300&allowWatchBookmarks=true$/, ''))).toEqual([
      '/api/v1/namespaces/shop/pods', '/api/v1/namespaces/shop/pods?watch=true&resourceVersion=10',
      '/api/v1/namespaces/shop/pods', '/api/v1/namespaces/shop/pods?watch=true&resourceVersion=12', '/api/v1/namespaces/shop/pods?watch=true&resourceVersion=12',
    ]);
  });

  it('gives up on 403 with the mapped error', async () => {
    script = [(_req, res) => res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'pods is forbidden' }))];
    const err = await kube.watchFrom('Pod', 'shop', {}, () => undefined, new AbortController().signal).then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).toBe('forbidden: cannot list pods in namespace shop (missing RBAC permission for the identity of context ctx): pods is forbidden');
  });

  it('abort while waiting on an idle watch ends it and its request', async () => {
    script = [list('3', [])];
    const ac = new AbortController();
    const done = kube.watchFrom('Pod', 'shop', {}, () => undefined, ac.signal);
    await expect.poll(() => open.size).toBe(1);
    ac.abort();
    await done;
    await expect.poll(() => open.size).toBe(0);
    expect(urls.length).toBe(2);
  });
});
