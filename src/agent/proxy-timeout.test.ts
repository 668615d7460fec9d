/**
 * The proxy's response timeout: an instance that accepts a request and never sends a response
 * head gets the request answered 504 after the route's timeout, counted as a failure, and is
 * handed to the backend source's `markFailing` (the supervisor's "unhealthy"); a response whose
 * head came in time is never cut, however slowly its body streams.
 */
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { freePort } from './ports.js';
import { ProxyHub } from './proxy.js';
import { RequestMetrics } from './request-metrics.js';
import type { Backend, BackendSource, RouteSpec } from './types.js';

/** A working in-memory BackendSource whose `markFailing` takes the backend out of its list, as the supervisor does. */
class Backends implements BackendSource {
  private readonly map = new Map<string, Backend[]>();
  readonly marked: Array<[string, string]> = [];
  set(version: string, list: Backend[]): void { this.map.set(version, list); }
  ready(_service: string, _environment: string, version: string): readonly Backend[] { return this.map.get(version) ?? []; }
  markFailing(backendId: string, detail: string): void {
    this.marked.push([backendId, detail]);
    for (const [v, list] of this.map) this.map.set(v, list.filter((b) => b.id !== backendId));
  }
}

/** The same without `markFailing`: the proxy cannot take anything out of traffic. */
class PlainBackends implements BackendSource {
  constructor(private readonly list: Backend[]) {}
  ready(): readonly Backend[] { return this.list; }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A node:http instance answering its id. */
async function answering(id: string, version: string): Promise<{ backend: Backend; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((_req, res) => { hits++; res.end(id); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { backend: { id, version, port: (server.address() as net.AddressInfo).port }, hits: () => hits };
}

/** An instance that accepts connections and reads requests but never answers; it counts requests and closed connections. */
async function silent(id: string, version: string): Promise<{ backend: Backend; requests: () => number; open: () => number }> {
  let requests = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (c: Buffer) => { requests += c.toString('latin1').split('\r\n\r\n').length - 1; });
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { backend: { id, version, port: (server.address() as net.AddressInfo).port }, requests: () => requests, open: () => sockets.size };
}

async function startHub(backends: BackendSource, route: Partial<RouteSpec>, opts: { responseTimeoutMs?: number } = {}) {
  const metrics = new RequestMetrics();
  const warnings: Array<[object, string]> = [];
  const hub = new ProxyHub({ backends, metrics, logger: { warn: (o, m) => warnings.push([o, m]) }, ...opts });
  const port = await freePort();
  await hub.setRoute({ service: 'web', environment: 'prod', host: '127.0.0.1', port, versions: [{ version: 'v1', weight: 1 }], preview: null, ...route });
  cleanups.push(() => hub.close(100));
  return { hub, metrics, port, warnings };
}

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function request(port: number, opts: { path?: string; method?: string; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function waitFor(what: string, cond: () => boolean, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ProxyHub response timeout', () => {
  it('answers 504 when an instance sends no response head in time, counts a failure, and sends it nothing more', async () => {
    const backends = new Backends();
    const hang = await silent('hang-1', 'v1');
    const ok = await answering('ok-1', 'v1');
    // Round-robin starts at the first instance: the first request goes to the silent one.
    backends.set('v1', [hang.backend, ok.backend]);
    const { metrics, port, warnings } = await startHub(backends, { responseTimeoutMs: 300 });

    const replies: Reply[] = [];
    for (let i = 0; i < 6; i++) replies.push(await request(port));

    expect(replies.map((r) => [r.status, r.body])).toEqual([
      [504, 'upstream timed out\n'], [200, 'ok-1'], [200, 'ok-1'], [200, 'ok-1'], [200, 'ok-1'], [200, 'ok-1'],
    ]);
    expect(replies[0]!.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(hang.requests()).toBe(1);
    expect(ok.hits()).toBe(5);
    expect(backends.marked).toEqual([['hang-1', 'no response head within 300 ms to a proxied request']]);
    expect(metrics.snapshot('web', 'prod').map((s) => [s.version, s.total, s.byStatus])).toEqual([['v1', 6, { '2xx': 5, '5xx': 1 }]]);
    expect(metrics.counters('web', 'prod').map((c) => [c.version, c.total, c.errors])).toEqual([['v1', 6, 1]]);
    expect(warnings).toEqual([[
      { service: 'web', environment: 'prod', version: 'v1', instance: 'hang-1', responseTimeoutMs: 300 },
      'instance sent no response head within the response timeout: answered 504, instance taken out of traffic until a health check passes',
    ]]);
    // The proxy dropped its connection to the silent instance: a late answer can reach no one.
    await waitFor('the connection to the silent instance to close', () => hang.open() === 0);
  });

  it('applies the hub default to a route that sets none, and times out a POST once its whole body was sent', async () => {
    const hang = await silent('hang-1', 'v1');
    // Without markFailing every request reaches the instance and gets its own 504.
    const { port, metrics } = await startHub(new PlainBackends([hang.backend]), {}, { responseTimeoutMs: 300 });
    const a = await request(port);
    const b = await request(port, { method: 'POST', body: 'x'.repeat(10_000) });
    expect([a.status, a.body, b.status, b.body]).toEqual([504, 'upstream timed out\n', 504, 'upstream timed out\n']);
    expect(hang.requests()).toBe(2);
    expect(metrics.counters('web', 'prod').map((c) => [c.version, c.total, c.errors])).toEqual([['v1', 2, 2]]);
  });

  it('never cuts a response whose head came in time, however slowly its body streams', async () => {
    const backends = new Backends();
    let chunksSent = 0;
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      // Eight chunks 250 ms apart: the body takes about 2 s, over six times the timeout.
      const tick = (): void => {
        chunksSent++;
        if (chunksSent < 8) { res.write(`part${chunksSent}-`); setTimeout(tick, 250); } else res.end('end');
      };
      tick();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    backends.set('v1', [{ id: 'slow-1', version: 'v1', port: (server.address() as net.AddressInfo).port }]);
    const { port, metrics, warnings } = await startHub(backends, { responseTimeoutMs: 300 });

    const r = await request(port);
    expect([r.status, r.body]).toEqual([200, 'part1-part2-part3-part4-part5-part6-part7-end']);
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(backends.marked).toEqual([]);
    expect(warnings).toEqual([]);
    expect(metrics.counters('web', 'prod').map((c) => [c.version, c.total, c.errors])).toEqual([['v1', 1, 0]]);
  });

  it('refuses a route whose responseTimeoutMs is not a whole number of ms from 1 to an hour, naming the field', async () => {
    const { hub, port } = await startHub(new Backends(), {});
    const base: RouteSpec = { service: 'web', environment: 'prod', host: '127.0.0.1', port, versions: [{ version: 'v1', weight: 1 }], preview: null };
    for (const bad of [0, -5, 1.5, 3_600_001, Number.NaN]) {
      const err = await hub.setRoute({ ...base, responseTimeoutMs: bad }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(GangwayError);
      expect((err as GangwayError).message).toBe(`route.responseTimeoutMs must be a whole number of ms from 1 to 3600000, got ${bad}`);
    }
    await hub.setRoute({ ...base, responseTimeoutMs: 3_600_000 });
    expect(hub.routes()[0]!.responseTimeoutMs).toBe(3_600_000);
  });
});
