import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { PortInUseError } from '../errors.js';
import { ChunkedScanner, cookieValue, HeadError, HeaderCapture, parseRequestHead, parseResponseHead } from './http1.js';
import { freePort } from './ports.js';
import { ProxyHub } from './proxy.js';
import { RequestMetrics } from './request-metrics.js';
import type { Backend, BackendSource, RouteSpec } from './types.js';

// ---- fixtures --------------------------------------------------------------------------------

/** A working in-memory BackendSource: tests set the ready instances per version. */
class Backends implements BackendSource {
  private readonly map = new Map<string, Backend[]>();
  set(version: string, list: Backend[]): void { this.map.set(version, list); }
  ready(_service: string, _environment: string, version: string): readonly Backend[] { return this.map.get(version) ?? []; }
}

interface Upstream { server: http.Server; port: number; backend: Backend; hits: number; bigSent: number }

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A real node:http instance that answers with its name; a few paths exercise framing. */
async function startUpstream(id: string, version: string, opts: { keepAliveTimeout?: number; dropReusedEvery?: number } = {}): Promise<Upstream> {
  const u: Upstream = { server: null as unknown as http.Server, port: 0, backend: { id, version, port: 0 }, hits: 0, bigSent: 0 };
  const served = new WeakMap<net.Socket, number>();
  let reusedSeen = 0;
  const server = http.createServer((req, res) => {
    const onSocket = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, onSocket);
    // The keep-alive close race made deterministic: a reused connection is dropped without an answer.
    if (opts.dropReusedEvery !== undefined && onSocket > 1 && ++reusedSeen % opts.dropReusedEvery === 0) {
      req.socket.destroy();
      return;
    }
    u.hits++;
    const url = req.url ?? '/';
    if (url === '/echo') {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        res.setHeader('x-request-te', String(req.headers['transfer-encoding'] ?? ''));
        res.setHeader('content-length', body.length);
        res.end(body);
      });
      return;
    }
    if (url === '/chunked') {
      res.write('alpha-');
      setTimeout(() => { res.write('beta-'); res.end('gamma'); }, 5);
      return;
    }
    if (url === '/close-delimited') {
      // No length and no chunking: the body ends when the connection closes.
      res.socket!.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-close');
      res.socket!.end();
      return;
    }
    if (url === '/no-content') { res.statusCode = 204; res.end(); return; }
    if (url.startsWith('/big/')) {
      const size = Number(url.slice(5));
      const chunk = Buffer.alloc(64 * 1024);
      for (let i = 0; i < chunk.length; i++) chunk[i] = i % 251;
      res.setHeader('content-type', 'application/octet-stream');
      let sent = 0;
      const pump = (): void => {
        while (sent < size) {
          const n = Math.min(chunk.length, size - sent);
          sent += n;
          u.bigSent = sent;
          if (!res.write(chunk.subarray(0, n))) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
      return;
    }
    if (url === '/die') {
      res.setHeader('content-length', '100000');
      res.write('partial');
      setTimeout(() => res.socket!.destroy(), 20);
      return;
    }
    if (url === '/slow') { setTimeout(() => res.end(`${id} slow`), 300); return; }
    if (url === '/split-head') {
      // An interim response, then a final head cut in two writes: the proxy must assemble it before adding a line.
      res.socket!.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-');
      setTimeout(() => { res.socket!.write('Length: 5\r\nConnection: close\r\n\r\nsplit'); res.socket!.end(); }, 10);
      return;
    }
    if (url === '/own-cookie') { res.setHeader('set-cookie', 'session=abc; Path=/'); res.end(id); return; }
    res.setHeader('content-type', 'text/plain');
    res.end(req.method === 'HEAD' ? undefined : id);
  });
  server.on('upgrade', (req, socket: net.Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (c: Buffer) => socket.write(`${id}:${c.toString()}`));
    socket.on('end', () => socket.end());
  });
  server.keepAliveTimeout = opts.keepAliveTimeout ?? 5000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  u.server = server;
  u.port = port;
  u.backend = { id, version, port };
  cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return u;
}

async function startHub(backends: Backends, versions: RouteSpec['versions'], preview: RouteSpec['preview'] = null, extra: Partial<ConstructorParameters<typeof ProxyHub>[0]> = {}) {
  const metrics = new RequestMetrics();
  const hub = new ProxyHub({ backends, metrics, ...extra });
  const port = await freePort();
  const route: RouteSpec = { service: 'web', environment: 'prod', host: '127.0.0.1', port, versions, preview };
  await hub.setRoute(route);
  cleanups.push(() => hub.close(100));
  return { hub, metrics, port, route };
}

const agents: http.Agent[] = [];
function keepAliveAgent(maxSockets = 4): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  agents.push(agent);
  cleanups.push(() => agent.destroy());
  return agent;
}

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

function request(port: number, opts: { path?: string; method?: string; agent?: http.Agent | false; body?: Buffer | string; chunks?: string[]; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', agent: opts.agent ?? false, headers: opts.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.chunks !== undefined) {
      const chunks = opts.chunks;
      let i = 0;
      const next = (): void => {
        if (i < chunks.length) { req.write(chunks[i++]); setTimeout(next, 2); } else req.end();
      };
      next();
    } else {
      req.end(opts.body);
    }
  });
}

/** Raw bytes in, every byte until the server closes out. */
async function rawExchange(port: number, data: string, waitMs = 0): Promise<string> {
  const sock = net.connect(port, '127.0.0.1');
  const parts: Buffer[] = [];
  sock.on('data', (c: Buffer) => parts.push(c));
  await once(sock, 'connect');
  sock.write(data);
  if (waitMs > 0) setTimeout(() => sock.end(), waitMs);
  await once(sock, 'close');
  return Buffer.concat(parts).toString('latin1');
}

// ---- tests -----------------------------------------------------------------------------------

describe('ProxyHub routing', () => {
  it('splits 1000 requests 90/10 exactly by weight', async () => {
    const backends = new Backends();
    const blue = await startUpstream('blue-1', 'v1');
    const green = await startUpstream('green-1', 'v2');
    backends.set('v1', [blue.backend]);
    backends.set('v2', [green.backend]);
    const { port, metrics } = await startHub(backends, [{ version: 'v1', weight: 90 }, { version: 'v2', weight: 10 }]);
    const agent = keepAliveAgent(8);
    const counts: Record<string, number> = {};
    for (let batch = 0; batch < 100; batch++) {
      const replies = await Promise.all(Array.from({ length: 10 }, () => request(port, { agent })));
      for (const r of replies) counts[r.body.toString()] = (counts[r.body.toString()] ?? 0) + 1;
    }
    expect(counts).toEqual({ 'blue-1': 900, 'green-1': 100 });
    const snap = metrics.snapshot('web', 'prod');
    expect(snap.map((s) => [s.version, s.total, s.byStatus])).toEqual([['v1', 900, { '2xx': 900 }], ['v2', 100, { '2xx': 100 }]]);
  });

  it('keeps the exact split when the same weights are set again every few requests', async () => {
    const backends = new Backends();
    const blue = await startUpstream('blue-1', 'v1');
    const green = await startUpstream('green-1', 'v2');
    backends.set('v1', [blue.backend]);
    backends.set('v2', [green.backend]);
    const { hub, route, port } = await startHub(backends, [{ version: 'v1', weight: 90 }, { version: 'v2', weight: 10 }]);
    const agent = keepAliveAgent(1);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      if (i % 5 === 0) await hub.setRoute({ ...route });
      const body = (await request(port, { agent })).body.toString();
      counts[body] = (counts[body] ?? 0) + 1;
    }
    expect(counts).toEqual({ 'blue-1': 180, 'green-1': 20 });
  });

  it('round-robins among the ready instances of a version and skips versions without one', async () => {
    const backends = new Backends();
    const a = await startUpstream('a', 'v1');
    const b = await startUpstream('b', 'v1');
    backends.set('v1', [a.backend, b.backend]);
    const { port } = await startHub(backends, [{ version: 'v1', weight: 50 }, { version: 'v2', weight: 50 }]);
    const agent = keepAliveAgent(1);
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await request(port, { agent })).body.toString());
    expect(seen).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('answers 503 with a short text body when no instance is ready and records version none', async () => {
    const { port, metrics } = await startHub(new Backends(), [{ version: 'v1', weight: 100 }]);
    const r = await request(port);
    expect(r.status).toBe(503);
    expect(r.body.toString()).toBe('no ready instance\n');
    expect(metrics.snapshot('web', 'prod').map((s) => [s.version, s.byStatus])).toEqual([['none', { '5xx': 1 }]]);
  });

  it('answers 502 when the instance refuses connections', async () => {
    const backends = new Backends();
    backends.set('v1', [{ id: 'gone', version: 'v1', port: await freePort() }]);
    const { port, metrics } = await startHub(backends, [{ version: 'v1', weight: 1 }]);
    const r = await request(port);
    expect(r.status).toBe(502);
    expect(r.body.toString()).toBe('upstream failed\n');
    expect(metrics.snapshot('web', 'prod').map((s) => [s.version, s.byStatus])).toEqual([['v1', { '5xx': 1 }]]);
  });

  it('rejects with PortInUseError when the public port is taken, keeping the previous route', async () => {
    const blocker = net.createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const taken = (blocker.address() as net.AddressInfo).port;
    const { hub, route } = await startHub(new Backends(), [{ version: 'v1', weight: 1 }]);
    const err = await hub.setRoute({ ...route, port: taken }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortInUseError);
    expect((err as PortInUseError).message).toBe(`port ${taken} on 127.0.0.1 is already in use by another process`);
    expect(hub.routes()[0]!.port).toBe(route.port);
  });
});

describe('ProxyHub framing', () => {
  async function oneBackend() {
    const backends = new Backends();
    const up = await startUpstream('only', 'v1');
    backends.set('v1', [up.backend]);
    const hub = await startHub(backends, [{ version: 'v1', weight: 1 }]);
    return { ...hub, up, backends };
  }

  it('streams POST bodies with content-length and with chunked encoding', async () => {
    const { port } = await oneBackend();
    const agent = keepAliveAgent(1);
    const fixed = await request(port, { method: 'POST', path: '/echo', agent, body: 'hello body' });
    expect([fixed.status, fixed.body.toString(), fixed.headers['x-request-te']]).toEqual([200, 'hello body', '']);
    const chunked = await request(port, { method: 'POST', path: '/echo', agent, chunks: ['one,', 'two,', 'three'] });
    expect([chunked.status, chunked.body.toString(), chunked.headers['x-request-te']]).toEqual([200, 'one,two,three', 'chunked']);
    const after = await request(port, { agent });
    expect(after.body.toString()).toBe('only');
  });

  it('forwards chunked and close-delimited responses, HEAD and 204 without bodies', async () => {
    const { port } = await oneBackend();
    const agent = keepAliveAgent(1);
    const chunked = await request(port, { path: '/chunked', agent });
    expect([chunked.headers['transfer-encoding'], chunked.body.toString()]).toEqual(['chunked', 'alpha-beta-gamma']);
    const head = await request(port, { method: 'HEAD', agent });
    expect([head.status, head.body.length]).toEqual([200, 0]);
    const none = await request(port, { path: '/no-content', agent });
    expect([none.status, none.body.length]).toEqual([204, 0]);
    const closeDelimited = await request(port, { path: '/close-delimited', agent });
    expect([closeDelimited.status, closeDelimited.body.toString()]).toEqual([200, 'until-close']);
    const after = await request(port, { agent });
    expect(after.body.toString()).toBe('only');
  });

  it('streams a 5 MB response and a 3 MB request body intact', async () => {
    const { port } = await oneBackend();
    const size = 5 * 1024 * 1024 + 17;
    const big = await request(port, { path: `/big/${size}` });
    expect(big.body.length).toBe(size);
    let mismatches = 0;
    for (let i = 0; i < size; i++) if (big.body[i] !== (i % (64 * 1024)) % 251) mismatches++;
    expect(mismatches).toBe(0);
    const upload = Buffer.alloc(3 * 1024 * 1024, 7);
    upload.write('start', 0);
    upload.write('end', upload.length - 3);
    const echoed = await request(port, { method: 'POST', path: '/echo', body: upload });
    expect(echoed.body.equals(upload)).toBe(true);
  });

  it('holds the instance back while a slow client catches up, and delivers every byte', async () => {
    const { port, up } = await oneBackend();
    const size = 48 * 1024 * 1024;
    let sentDuringPause = -1;
    const received = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: `/big/${size}`, agent: false }, (res) => {
        let n = 0;
        let ok = true;
        res.on('data', (c: Buffer) => {
          for (let i = 0; i < c.length; i += 4093) if (c[i] !== ((n + i) % (64 * 1024)) % 251) ok = false;
          n += c.length;
        });
        res.on('end', () => resolve(ok ? n : -1));
        res.on('error', reject);
        // Stop reading long enough for every buffer on the way to fill up.
        res.pause();
        setTimeout(() => { sentDuringPause = up.bigSent; res.resume(); }, 300);
      }).on('error', reject);
    });
    expect(received).toBe(size);
    // Only what fits in the socket buffers on the way left the instance while the client did not read.
    expect(sentDuringPause).toBeLessThan(size / 2);
  });

  it('answers pipelined requests in order on one connection', async () => {
    const { port } = await oneBackend();
    const out = await rawExchange(port,
      'GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst' +
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const bodies = out.split(/HTTP\/1\.1 200 OK\r\n/).slice(1).map((r) => r.slice(r.indexOf('\r\n\r\n') + 4));
    expect(bodies).toEqual(['6\r\nalpha-\r\n5\r\nbeta-\r\n5\r\ngamma\r\n0\r\n\r\n', 'first', 'only']);
  });

  it('closes the client connection when the instance dies mid-response and records a 502', async () => {
    const { port, metrics } = await oneBackend();
    const out = await rawExchange(port, 'GET /die HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(out.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(out.endsWith('\r\n\r\npartial')).toBe(true);
    expect(metrics.snapshot('web', 'prod').map((s) => s.byStatus)).toEqual([{ '5xx': 1 }]);
  });

  it('answers 431 to a head over 64 KiB and 400 to a malformed one', async () => {
    const { port, metrics } = await oneBackend();
    const huge = await rawExchange(port, `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
    expect(huge.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    const bad = await rawExchange(port, 'GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n');
    expect(bad.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(metrics.snapshot('web', 'prod').map((s) => [s.version, s.byStatus])).toEqual([['none', { '4xx': 2 }]]);
  });

  it('closes after the response for HTTP/1.0 clients and for Connection: close', async () => {
    const { port } = await oneBackend();
    const old = await rawExchange(port, 'GET / HTTP/1.0\r\n\r\n');
    expect(old.endsWith('\r\n\r\nonly')).toBe(true);
    const closing = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(closing.endsWith('\r\n\r\nonly')).toBe(true);
  });

  it('splices both directions after a 101 upgrade', async () => {
    const { port, hub, up } = await oneBackend();
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    sock.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    const [head] = (await once(sock, 'data')) as [Buffer];
    expect(head.toString().split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    expect(hub.inflight(up.backend.id)).toBe(1);
    sock.write('ping');
    const [echo] = (await once(sock, 'data')) as [Buffer];
    expect(echo.toString()).toBe('only:ping');
    sock.destroy();
    await new Promise((r) => setTimeout(r, 20));
    expect(hub.inflight(up.backend.id)).toBe(0);
  });
});

describe('ProxyHub switches and draining', () => {
  it('loses no request over 20 switches under a continuous keep-alive loop, with instances closing idle connections', async () => {
    const backends = new Backends();
    const opts = { keepAliveTimeout: 100, dropReusedEvery: 7 };
    const blue = [await startUpstream('blue-1', 'blue', opts), await startUpstream('blue-2', 'blue', opts)];
    const green = [await startUpstream('green-1', 'green', opts), await startUpstream('green-2', 'green', opts)];
    backends.set('blue', blue.map((u) => u.backend));
    backends.set('green', green.map((u) => u.backend));
    const { hub, route, port, metrics } = await startHub(backends, [{ version: 'blue', weight: 100 }]);
    const agent = keepAliveAgent(8);
    let stop = false;
    const failures: string[] = [];
    const seen = { blue: 0, green: 0 };
    const loop = async (n: number): Promise<void> => {
      while (!stop) {
        try {
          const r = await request(port, { agent, method: n % 2 === 0 ? 'GET' : 'POST', path: n % 2 === 0 ? '/' : '/echo', body: n % 2 === 0 ? undefined : 'x' });
          if (r.status !== 200) failures.push(`status ${r.status}`);
          else if (n % 2 === 0) seen[r.body.toString().startsWith('blue') ? 'blue' : 'green']++;
        } catch (err) {
          failures.push(String(err));
        }
        // Gaps longer than the instances' keepAliveTimeout now and then, so pooled connections go stale.
        if (Math.random() < 0.05) await new Promise((r) => setTimeout(r, 120));
      }
    };
    const loops = Array.from({ length: 6 }, (_, n) => loop(n));
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 60));
      await hub.setRoute({ ...route, versions: [{ version: i % 2 === 0 ? 'green' : 'blue', weight: 100 }] });
    }
    await new Promise((r) => setTimeout(r, 60));
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(seen.blue).toBeGreaterThan(0);
    expect(seen.green).toBeGreaterThan(0);
    const byStatus = metrics.snapshot('web', 'prod').map((s) => Object.keys(s.byStatus));
    expect(byStatus).toEqual([['2xx'], ['2xx']]);
  });

  it('loses no request over 10 blue-green releases that drain, forget and kill the old instances', async () => {
    const backends = new Backends();
    let current = await startUpstream('r0', 'r0', { keepAliveTimeout: 100 });
    backends.set('r0', [current.backend]);
    const { hub, route, port } = await startHub(backends, [{ version: 'r0', weight: 100 }]);
    const agent = keepAliveAgent(6);
    let stop = false;
    const failures: string[] = [];
    const served = new Set<string>();
    const loop = async (n: number): Promise<void> => {
      while (!stop) {
        try {
          const r = await request(port, { agent, method: n % 2 === 0 ? 'GET' : 'POST', path: n % 2 === 0 ? '/' : '/echo', body: n % 2 === 0 ? undefined : 'x' });
          if (r.status !== 200) failures.push(`status ${r.status}`);
          else if (n % 2 === 0) served.add(r.body.toString());
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const loops = Array.from({ length: 6 }, (_, n) => loop(n));
    for (let i = 1; i <= 10; i++) {
      await new Promise((r) => setTimeout(r, 40));
      const next = await startUpstream(`r${i}`, `r${i}`, { keepAliveTimeout: 100 });
      backends.set(`r${i}`, [next.backend]);
      await hub.setRoute({ ...route, versions: [{ version: `r${i}`, weight: 100 }] });
      // The supervisor's drain: out of ready(), forgotten, in-flight requests finished, then the process dies.
      const old = current;
      backends.set(old.backend.version, []);
      hub.forget(old.backend.id);
      while (hub.inflight(old.backend.id) > 0) await new Promise((r) => setTimeout(r, 5));
      old.server.closeAllConnections();
      old.server.close();
      current = next;
    }
    await new Promise((r) => setTimeout(r, 40));
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(served.has('r10')).toBe(true);
  });

  it('sends new requests at once after a weight swap', async () => {
    const backends = new Backends();
    const blue = await startUpstream('blue-1', 'blue');
    const green = await startUpstream('green-1', 'green');
    backends.set('blue', [blue.backend]);
    backends.set('green', [green.backend]);
    const { hub, route, port } = await startHub(backends, [{ version: 'blue', weight: 1 }]);
    const agent = keepAliveAgent(1);
    const slow = request(port, { path: '/slow', agent: false });
    await new Promise((r) => setTimeout(r, 50));
    await hub.setRoute({ ...route, versions: [{ version: 'green', weight: 1 }] });
    expect((await request(port, { agent })).body.toString()).toBe('green-1');
    expect((await slow).body.toString()).toBe('blue-1 slow');
  });

  it('sends every preview-listener request to the preview version', async () => {
    const backends = new Backends();
    const blue = await startUpstream('blue-1', 'blue');
    const green = await startUpstream('green-1', 'green');
    backends.set('blue', [blue.backend]);
    backends.set('green', [green.backend]);
    const previewPort = await freePort();
    const { port, metrics } = await startHub(backends, [{ version: 'blue', weight: 1 }], { port: previewPort, version: 'green' });
    const agent = keepAliveAgent(2);
    const main = await Promise.all(Array.from({ length: 5 }, () => request(port, { agent })));
    const preview = await Promise.all(Array.from({ length: 5 }, () => request(previewPort, { agent })));
    expect(main.map((r) => r.body.toString())).toEqual(Array(5).fill('blue-1'));
    expect(preview.map((r) => r.body.toString())).toEqual(Array(5).fill('green-1'));
    expect(metrics.snapshot('web', 'prod').map((s) => [s.version, s.total])).toEqual([['blue', 5], ['green', 5]]);
  });

  it('moves the public port: the new one serves, the old one is released', async () => {
    const backends = new Backends();
    const blue = await startUpstream('blue-1', 'blue');
    backends.set('blue', [blue.backend]);
    const { hub, route, port } = await startHub(backends, [{ version: 'blue', weight: 1 }]);
    const next = await freePort();
    await hub.setRoute({ ...route, port: next });
    expect((await request(next)).body.toString()).toBe('blue-1');
    const err = await request(port).catch((e: NodeJS.ErrnoException) => e.code);
    expect(err).toBe('ECONNREFUSED');
    expect(hub.routes().map((r) => r.port)).toEqual([next]);
  });

  it('counts requests in flight per instance and, once forgotten, sends it nothing new', async () => {
    const backends = new Backends();
    const a = await startUpstream('a', 'v1');
    const b = await startUpstream('b', 'v1');
    backends.set('v1', [a.backend, b.backend]);
    const { hub, port } = await startHub(backends, [{ version: 'v1', weight: 1 }]);
    const slow = [request(port, { path: '/slow' }), request(port, { path: '/slow' })];
    // Both requests reach the proxy in their own time on a loaded machine: wait for them, with a deadline.
    for (const end = Date.now() + 10_000; hub.inflight('a') + hub.inflight('b') < 2 && Date.now() < end;) await new Promise((r) => setTimeout(r, 5));
    expect([hub.inflight('a'), hub.inflight('b')]).toEqual([1, 1]);
    hub.forget('a');
    const after = await Promise.all(Array.from({ length: 4 }, () => request(port)));
    expect(after.map((r) => r.body.toString())).toEqual(['b', 'b', 'b', 'b']);
    expect((await Promise.all(slow)).map((r) => r.body.toString()).sort()).toEqual(['a slow', 'b slow']);
    expect([hub.inflight('a'), hub.inflight('b')]).toEqual([0, 0]);
  });
});

describe('ProxyHub connections', () => {
  it('passes 100 Continue through before the body is sent', async () => {
    const backends = new Backends();
    const up = await startUpstream('only', 'v1');
    backends.set('v1', [up.backend]);
    const { port } = await startHub(backends, [{ version: 'v1', weight: 1 }]);
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    sock.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
    const [interim] = (await once(sock, 'data')) as [Buffer];
    expect(interim.toString()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    sock.write('body');
    const [final] = (await once(sock, 'data')) as [Buffer];
    expect(final.toString().split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(final.toString().endsWith('\r\n\r\nbody')).toBe(true);
    sock.destroy();
  });

  it('reuses one pooled instance connection for sequential requests from different clients', async () => {
    const backends = new Backends();
    const up = await startUpstream('only', 'v1');
    backends.set('v1', [up.backend]);
    let accepted = 0;
    up.server.on('connection', () => accepted++);
    const { port } = await startHub(backends, [{ version: 'v1', weight: 1 }]);
    for (let i = 0; i < 10; i++) expect((await request(port, { agent: keepAliveAgent(1) })).body.toString()).toBe('only');
    expect([up.hits, accepted]).toEqual([10, 1]);
  });

  it('closes idle pooled connections to an instance after upstreamIdleMs', async () => {
    const backends = new Backends();
    const up = await startUpstream('only', 'v1');
    backends.set('v1', [up.backend]);
    const { port } = await startHub(backends, [{ version: 'v1', weight: 1 }], null, { upstreamIdleMs: 100 });
    await request(port, { agent: keepAliveAgent(1) });
    const open = (): Promise<number> => new Promise((r, j) => up.server.getConnections((e, n) => (e ? j(e) : r(n))));
    expect(await open()).toBe(1);
    await new Promise((r) => setTimeout(r, 600));
    expect(await open()).toBe(0);
  });

  it('close() lets requests in flight finish and refuses new connections', async () => {
    const backends = new Backends();
    const up = await startUpstream('only', 'v1');
    backends.set('v1', [up.backend]);
    const { hub, port } = await startHub(backends, [{ version: 'v1', weight: 1 }]);
    const slow = request(port, { path: '/slow' });
    await new Promise((r) => setTimeout(r, 50));
    const closed = hub.close(2000);
    await new Promise((r) => setTimeout(r, 10));
    expect(await request(port).catch((e: NodeJS.ErrnoException) => e.code)).toBe('ECONNREFUSED');
    expect((await slow).body.toString()).toBe('only slow');
    await closed;
    expect(hub.inflight('only')).toBe(0);
  });
});

describe('ProxyHub header routes and sticky sessions', () => {
  const STICKY = { cookie: 'gw_web', ttlMs: 3_600_000 };
  const cookieFor = (version: string, maxAge = 3600): string => `gw_web=${version}; Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=Lax`;

  /** Stable v1 and v2 split by weight, a canary v3 outside the weights unless a test gives it some. */
  async function canaryHub(versions: RouteSpec['versions'], extra: Pick<RouteSpec, 'headerRoutes' | 'sticky'>) {
    const backends = new Backends();
    for (const v of ['v1', 'v2', 'v3']) backends.set(v, [(await startUpstream(`${v}-a`, v)).backend]);
    const hub = await startHub(backends, versions);
    const route: RouteSpec = { ...hub.route, ...extra };
    await hub.hub.setRoute(route);
    return { ...hub, route, backends };
  }

  /** Body (the instance that answered) and Set-Cookie of each reply. */
  const seen = (r: Reply): [string, string[] | undefined] => [r.body.toString(), r.headers['set-cookie']];

  it('pins requests with the header to the canary while the others follow the weights exactly', async () => {
    const { port, metrics } = await canaryHub([{ version: 'v1', weight: 90 }, { version: 'v2', weight: 10 }, { version: 'v3', weight: 0 }], {
      headerRoutes: [{ name: 'X-Canary', value: 'always', version: 'v3' }],
    });
    const agent = keepAliveAgent(1);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 100; i++) {
      const headers: Record<string, string> = i % 2 === 0 ? { 'X-Canary': 'always' } : {};
      const body = (await request(port, { agent, headers })).body.toString();
      const key = `${i % 2 === 0 ? 'header' : 'plain'} ${body}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    expect(counts).toEqual({ 'header v3-a': 50, 'plain v1-a': 45, 'plain v2-a': 5 });
    expect(metrics.snapshot('web', 'prod').map((s) => [s.version, s.total])).toEqual([['v3', 50], ['v1', 45], ['v2', 5]]);
  });

  it('matches the header name in any case and the value exactly, the first matching header route winning', async () => {
    const { port } = await canaryHub([{ version: 'v1', weight: 1 }], {
      headerRoutes: [
        { name: 'X-Canary', value: 'always', version: 'v3' },
        { name: 'x-track', value: 'beta', version: 'v2' },
        { name: 'X-CANARY', value: 'always', version: 'v2' },
      ],
    });
    const raw = (headerLines: string): Promise<string> => rawExchange(port, `GET / HTTP/1.1\r\nHost: a\r\n${headerLines}Connection: close\r\n\r\n`);
    const bodyOf = (text: string): string => text.slice(text.indexOf('\r\n\r\n') + 4);
    expect(bodyOf(await raw('x-cAnArY: always\r\n'))).toBe('v3-a');
    expect(bodyOf(await raw('X-CANARY:always  \r\n'))).toBe('v3-a');
    expect(bodyOf(await raw('X-Track: beta\r\nX-Canary: always\r\n'))).toBe('v3-a');
    expect(bodyOf(await raw('X-Track: beta\r\n'))).toBe('v2-a');
    expect(bodyOf(await raw('X-Canary: Always\r\n'))).toBe('v1-a');
    expect(bodyOf(await raw('X-Canary: always-not\r\n'))).toBe('v1-a');
    expect(bodyOf(await raw('X-Canary-Extra: always\r\n'))).toBe('v1-a');
    // Repeated lines combine to "always, always", which is not the value.
    expect(bodyOf(await raw('X-Canary: always\r\nX-Canary: always\r\n'))).toBe('v1-a');
  });

  it('falls back to the weights when the header route\'s version has no ready instance', async () => {
    const { port, backends, metrics } = await canaryHub([{ version: 'v1', weight: 3 }, { version: 'v2', weight: 1 }], {
      headerRoutes: [{ name: 'x-canary', value: '1', version: 'v3' }],
    });
    backends.set('v3', []);
    const agent = keepAliveAgent(1);
    const bodies: string[] = [];
    for (let i = 0; i < 8; i++) bodies.push((await request(port, { agent, headers: { 'x-canary': '1' } })).body.toString());
    expect(bodies).toEqual(['v1-a', 'v1-a', 'v2-a', 'v1-a', 'v1-a', 'v1-a', 'v2-a', 'v1-a']);
    expect(metrics.snapshot('web', 'prod').map((s) => [s.version, s.byStatus])).toEqual([['v1', { '2xx': 6 }], ['v2', { '2xx': 2 }]]);
  });

  it('sets a cookie naming the chosen version and keeps every request carrying it on that version', async () => {
    const { port, metrics } = await canaryHub([{ version: 'v1', weight: 1 }, { version: 'v2', weight: 1 }], { sticky: STICKY });
    const agent = keepAliveAgent(1);
    expect(seen(await request(port, { agent }))).toEqual(['v1-a', [cookieFor('v1')]]);
    expect(seen(await request(port, { agent }))).toEqual(['v2-a', [cookieFor('v2')]]);
    const onV2: Array<[string, string[] | undefined]> = [];
    for (let i = 0; i < 20; i++) onV2.push(seen(await request(port, { agent, headers: { cookie: 'gw_web=v2' } })));
    expect(onV2).toEqual(Array(20).fill(['v2-a', undefined]));
    const onV1: Array<[string, string[] | undefined]> = [];
    for (let i = 0; i < 20; i++) onV1.push(seen(await request(port, { agent, headers: { cookie: 'theme=dark; gw_web=v1; other=x' } })));
    expect(onV1).toEqual(Array(20).fill(['v1-a', undefined]));
    // A cookie of another name, or a version the route does not have, is a new session.
    expect(seen(await request(port, { agent, headers: { cookie: 'gw_webx=v2; x_gw_web=v2' } }))).toEqual(['v1-a', [cookieFor('v1')]]);
    expect(seen(await request(port, { agent, headers: { cookie: 'gw_web=v9' } }))).toEqual(['v2-a', [cookieFor('v2')]]);
    expect(metrics.snapshot('web', 'prod').map((s) => [s.version, s.total])).toEqual([['v1', 22], ['v2', 22]]);
  });

  it('re-routes and re-cookies a session whose version lost its weight or its instances', async () => {
    const { hub, route, port, backends } = await canaryHub([{ version: 'v1', weight: 1 }, { version: 'v2', weight: 1 }], { sticky: STICKY });
    const agent = keepAliveAgent(1);
    expect(seen(await request(port, { agent, headers: { cookie: 'gw_web=v2' } }))).toEqual(['v2-a', undefined]);
    await hub.setRoute({ ...route, versions: [{ version: 'v1', weight: 1 }, { version: 'v2', weight: 0 }] });
    expect(seen(await request(port, { agent, headers: { cookie: 'gw_web=v2' } }))).toEqual(['v1-a', [cookieFor('v1')]]);
    expect(seen(await request(port, { agent, headers: { cookie: 'gw_web=v1' } }))).toEqual(['v1-a', undefined]);
    await hub.setRoute(route);
    backends.set('v1', []);
    expect(seen(await request(port, { agent, headers: { cookie: 'gw_web=v1' } }))).toEqual(['v2-a', [cookieFor('v2')]]);
  });

  it('takes Max-Age from ttlMs, rounded up to whole seconds, and keeps the instance\'s own headers and body', async () => {
    const { port } = await canaryHub([{ version: 'v1', weight: 1 }], { sticky: { cookie: 'gw_web', ttlMs: 90_500 } });
    const agent = keepAliveAgent(1);
    const own = await request(port, { agent, path: '/own-cookie' });
    expect(seen(own)).toEqual(['v1-a', ['session=abc; Path=/', cookieFor('v1', 91)]]);
    const chunked = await request(port, { agent, path: '/chunked' });
    expect([chunked.headers['transfer-encoding'], chunked.body.toString(), chunked.headers['set-cookie']]).toEqual(['chunked', 'alpha-beta-gamma', [cookieFor('v1', 91)]]);
    const head = await request(port, { agent, method: 'HEAD' });
    expect([head.status, head.body.length, head.headers['set-cookie']]).toEqual([200, 0, [cookieFor('v1', 91)]]);
    // Pipelined requests: each response head gets its own line, and the framing stays intact.
    const text = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /no-content HTTP/1.1\r\nHost: a\r\nCookie: gw_web=v1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(text.match(/HTTP\/1\.1 \d{3}[^\r]*|Set-Cookie: [^\r]*/g)).toEqual([
      'HTTP/1.1 200 OK', `Set-Cookie: ${cookieFor('v1', 91)}`, 'HTTP/1.1 204 No Content', 'HTTP/1.1 200 OK', `Set-Cookie: ${cookieFor('v1', 91)}`,
    ]);
    expect(text.endsWith('\r\n\r\nv1-a')).toBe(true);
    const split = await rawExchange(port, 'GET /split-head HTTP/1.1\r\nHost: a\r\n\r\n', 200);
    expect(split).toBe(`HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\nSet-Cookie: ${cookieFor('v1', 91)}\r\n\r\nsplit`);
  });

  it('gives header-routed requests no cookie and ignores their sticky cookie', async () => {
    const { port } = await canaryHub([{ version: 'v1', weight: 1 }, { version: 'v2', weight: 1 }], {
      headerRoutes: [{ name: 'x-canary', value: '1', version: 'v3' }],
      sticky: STICKY,
    });
    const agent = keepAliveAgent(1);
    expect(seen(await request(port, { agent, headers: { 'x-canary': '1' } }))).toEqual(['v3-a', undefined]);
    expect(seen(await request(port, { agent, headers: { 'x-canary': '1', cookie: 'gw_web=v2' } }))).toEqual(['v3-a', undefined]);
    expect(seen(await request(port, { agent, headers: { cookie: 'gw_web=v2' } }))).toEqual(['v2-a', undefined]);
  });

  it('drops header routes and stickiness at once when a route update removes them', async () => {
    const { hub, route, port } = await canaryHub([{ version: 'v1', weight: 1 }, { version: 'v2', weight: 1 }], {
      headerRoutes: [{ name: 'x-canary', value: '1', version: 'v3' }],
      sticky: STICKY,
    });
    const agent = keepAliveAgent(1);
    expect(seen(await request(port, { agent, headers: { 'x-canary': '1' } }))).toEqual(['v3-a', undefined]);
    expect(seen(await request(port, { agent, headers: { cookie: 'gw_web=v2' } }))).toEqual(['v2-a', undefined]);
    const plain: RouteSpec = { service: route.service, environment: route.environment, host: route.host, port: route.port, versions: route.versions, preview: null };
    await hub.setRoute(plain);
    expect(hub.routes()).toEqual([plain]);
    expect(Object.keys(hub.routes()[0]!)).toEqual(['service', 'environment', 'port', 'host', 'versions', 'preview']);
    const after: Array<[string, string[] | undefined]> = [];
    for (let i = 0; i < 4; i++) after.push(seen(await request(port, { agent, headers: { 'x-canary': '1', cookie: 'gw_web=v2' } })));
    expect(after).toEqual([['v1-a', undefined], ['v2-a', undefined], ['v1-a', undefined], ['v2-a', undefined]]);
    await hub.setRoute({ ...plain, sticky: null, headerRoutes: [] });
    expect(seen(await request(port, { agent, headers: { 'x-canary': '1' } }))).toEqual(['v1-a', undefined]);
  });

  it('rejects header routes and cookies that could never match, naming the field', async () => {
    const { hub, route } = await canaryHub([{ version: 'v1', weight: 1 }], {});
    const errorOf = (r: Partial<RouteSpec>): Promise<unknown> => hub.setRoute({ ...route, ...r }).then(() => null, (e: unknown) => (e as Error).message);
    expect(await errorOf({ headerRoutes: [{ name: 'x canary', value: '1', version: 'v3' }] })).toBe('route.headerRoutes[0].name must be an HTTP header name, got "x canary"');
    expect(await errorOf({ headerRoutes: [{ name: 'x-canary', value: ' 1', version: 'v3' }] })).toBe('route.headerRoutes[0].value must be visible characters without leading or trailing whitespace, got " 1"');
    expect(await errorOf({ sticky: { cookie: 'gw;web', ttlMs: 1000 } })).toBe('route.sticky.cookie must be a cookie name (an HTTP token), got "gw;web"');
    expect(await errorOf({ sticky: { cookie: 'gw_web', ttlMs: 0 } })).toBe('route.sticky.ttlMs must be a number > 0, got 0');
    expect(hub.routes()).toEqual([route]);
  });

  it('sends every preview-listener request to the preview version, with no cookie, whatever its headers', async () => {
    const { hub, route } = await canaryHub([{ version: 'v1', weight: 1 }], {
      headerRoutes: [{ name: 'x-canary', value: '1', version: 'v3' }],
      sticky: STICKY,
    });
    const previewPort = await freePort();
    await hub.setRoute({ ...route, preview: { port: previewPort, version: 'v2' } });
    const agent = keepAliveAgent(1);
    expect(seen(await request(previewPort, { agent }))).toEqual(['v2-a', undefined]);
    expect(seen(await request(previewPort, { agent, headers: { 'x-canary': '1', cookie: 'gw_web=v1' } }))).toEqual(['v2-a', undefined]);
    expect(seen(await request(route.port, { agent }))).toEqual(['v1-a', [cookieFor('v1')]]);
  });

  it('names a version in the cookie as a URI component', async () => {
    const backends = new Backends();
    const odd = await startUpstream('odd', 'web@sha256:ab;c');
    backends.set('web@sha256:ab;c', [odd.backend]);
    const { hub, route, port } = await startHub(backends, [{ version: 'web@sha256:ab;c', weight: 1 }]);
    await hub.setRoute({ ...route, sticky: STICKY });
    const agent = keepAliveAgent(1);
    expect(seen(await request(port, { agent }))).toEqual(['odd', [cookieFor('web%40sha256%3Aab%3Bc')]]);
    expect(seen(await request(port, { agent, headers: { cookie: 'gw_web=web%40sha256%3Aab%3Bc' } }))).toEqual(['odd', undefined]);
  });
});

describe('HTTP/1.1 framing helpers', () => {
  it('finds the end of a chunked body fed one byte at a time, with extensions and trailers', () => {
    const body = Buffer.from('4;ext=1\r\nWiki\r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n');
    const scanner = new ChunkedScanner();
    const ends: number[] = [];
    for (let i = 0; i < body.length; i++) ends.push(scanner.feed(body.subarray(i, i + 1), 0));
    expect(ends.slice(0, -1).every((e) => e === -1)).toBe(true);
    expect(ends[ends.length - 1]).toBe(1);
    expect(scanner.done).toBe(true);
    const whole = new ChunkedScanner();
    expect(whole.feed(Buffer.concat([body, Buffer.from('GET / HTTP/1.1')]), 0)).toBe(body.length);
  });

  it('rejects a malformed chunk size with a 400 HeadError', () => {
    const err = (() => { try { new ChunkedScanner().feed(Buffer.from('zz\r\n'), 0); return null; } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(HeadError);
    expect([(err as HeadError).status, (err as HeadError).message]).toEqual([400, 'malformed chunk size']);
  });

  it('reads request and response framing headers case-insensitively', () => {
    const req = Buffer.from('POST /x HTTP/1.0\r\nCONTENT-length: 12\r\nconnection: Keep-Alive\r\n\r\n');
    expect(parseRequestHead(req, 0, req.length)).toEqual({ method: 'POST', version: 10, contentLength: 12, chunked: false, keepAlive: true, upgrade: false, expectContinue: false });
    const res = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n');
    expect(parseResponseHead(res, 0, res.length)).toEqual({ status: 200, version: 11, contentLength: -1, chunked: true, close: true });
    const smuggle = Buffer.from('GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
    expect(() => parseRequestHead(smuggle, 0, smuggle.length)).toThrow('invalid Content-Length');
  });

  it('captures only the asked headers, combining repeated lines, and resets them per head', () => {
    const cap = new HeaderCapture(['X-Canary', 'cookie', 'x_under']);
    expect(cap.names).toEqual(['x-canary', 'cookie', 'x_under']);
    const a = Buffer.from('GET / HTTP/1.1\r\nX-CANARY:  on \t\r\nCookie: a=1\r\nContent-Length: 0\r\ncookie: b=2\r\nX_Under: u\r\nx-canary: two\r\n\r\n');
    expect(parseRequestHead(a, 0, a.length, cap).contentLength).toBe(0);
    expect(cap.values).toEqual(['on, two', 'a=1; b=2', 'u']);
    const b = Buffer.from('GET / HTTP/1.1\r\nX-Canary-2: x\r\nCookiex: y\r\n\r\n');
    parseRequestHead(b, 0, b.length, cap);
    expect(cap.values).toEqual([null, null, null]);
  });

  it('finds one cookie by exact name, unquoting its value', () => {
    expect(cookieValue('theme=dark; gw_web=v2; other=1', 'gw_web')).toBe('v2');
    expect(cookieValue('gw_web="v2"', 'gw_web')).toBe('v2');
    expect(cookieValue('gw_web=v1;gw_web=v2', 'gw_web')).toBe('v1');
    expect(cookieValue('x_gw_web=v1; gw_webx=v2; GW_WEB=v3', 'gw_web')).toBeNull();
    expect(cookieValue('gw_web=; a=b', 'gw_web')).toBe('');
    expect(cookieValue('', 'gw_web')).toBeNull();
  });
});
