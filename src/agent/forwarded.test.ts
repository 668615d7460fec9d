import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { clientAddress, ForwardedWriter, TrustList, trustEntryProblem } from './forwarded.js';
import { ForwardedSpans, parseRequestHead, XF_FOR, XF_PROTO } from './http1.js';
import { freePort } from './ports.js';
import { ProxyHub, type ProxyHubOptions } from './proxy.js';
import { RequestMetrics } from './request-metrics.js';
import type { Backend } from './types.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/** An instance that records every request head (and body) exactly as it arrives, and answers `ok`. */
async function recordingUpstream(): Promise<{ backend: Backend; heads: string[]; bodies: string[] }> {
  const heads: string[] = [];
  const bodies: string[] = [];
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end + 4);
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        heads.push(head);
        bodies.push(buf.toString('latin1', end + 4, end + 4 + len));
        buf = buf.subarray(end + 4 + len);
        sock.write(OK);
      }
    });
    sock.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { backend: { id: 'app-1', version: 'v1', port }, heads, bodies };
}

async function startHub(backend: Backend, opts: Partial<ProxyHubOptions> = {}, host = '127.0.0.1'): Promise<number> {
  const hub = new ProxyHub({ backends: { ready: () => [backend] }, metrics: new RequestMetrics(), ...opts });
  const port = await freePort(host === '::' ? '127.0.0.1' : host);
  await hub.setRoute({ service: 'web', environment: 'prod', host, port, versions: [{ version: 'v1', weight: 1 }], preview: null });
  cleanups.push(() => hub.close(100));
  return port;
}

/** Sends the requests one after the other on one keep-alive connection, each after the previous answer. */
async function sendOnOneConnection(port: number, requests: string[], host = '127.0.0.1'): Promise<string> {
  const sock = net.connect(port, host);
  cleanups.push(() => { sock.destroy(); });
  await once(sock, 'connect');
  let received = '';
  for (let i = 0; i < requests.length; i++) {
    sock.write(requests[i]!);
    while (received.length < OK.length * (i + 1)) received += ((await once(sock, 'data')) as [Buffer])[0].toString('latin1');
  }
  sock.end();
  return received;
}

describe('trust list', () => {
  it('matches IPv4 and IPv6 addresses and ranges, IPv4-mapped peers against IPv4 ranges', () => {
    const trust = new TrustList(['127.0.0.1/32', '10.0.0.0/8', '::1', 'fd00::/8', '192.168.1.7']);
    const peers = ['127.0.0.1', '127.0.0.2', '10.200.3.4', '11.0.0.1', '::1', '::2', 'fd12:3456::1', 'fe80::1', '192.168.1.7', '192.168.1.8',
      '::ffff:127.0.0.1', '::ffff:10.1.2.3', '::ffff:11.1.2.3', '::FFFF:192.168.1.7', undefined, 'not-an-address'];
    expect(peers.map((p) => [p, trust.has(p)])).toEqual([
      ['127.0.0.1', true], ['127.0.0.2', false], ['10.200.3.4', true], ['11.0.0.1', false], ['::1', true], ['::2', false],
      ['fd12:3456::1', true], ['fe80::1', false], ['192.168.1.7', true], ['192.168.1.8', false],
      ['::ffff:127.0.0.1', true], ['::ffff:10.1.2.3', true], ['::ffff:11.1.2.3', false], ['::FFFF:192.168.1.7', true], [undefined, false], ['not-an-address', false],
    ]);
    expect([new TrustList([]).has('127.0.0.1'), new TrustList(['0.0.0.0/0']).has('203.0.113.9'), new TrustList(['::/0']).has('2001:db8::1')]).toEqual([false, true, true]);
  });

  it('names entries that are not an address or a range', () => {
    expect(['10.0.0.0/8', '::1', 'fd00::/128', '0.0.0.0/0'].map(trustEntryProblem)).toEqual([null, null, null, null]);
    expect(['localhost', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', '10.0.0.256', 'fe80::1%eth0', ' 10.0.0.1'].map(trustEntryProblem)).toEqual([
      '"localhost" is not an IP address or CIDR range',
      '"10.0.0.0/33" is not a CIDR range: an IPv4 prefix length is 0 to 32',
      '"::/129" is not a CIDR range: an IPv6 prefix length is 0 to 128',
      '"10.0.0.0/" is not a CIDR range: an IPv4 prefix length is 0 to 32',
      '"10.0.0.0/x" is not a CIDR range: an IPv4 prefix length is 0 to 32',
      '"10.0.0.256" is not an IP address or CIDR range',
      '"fe80::1%eth0" is not an IP address or CIDR range',
      '" 10.0.0.1" is not an IP address or CIDR range',
    ]);
    const err = (() => { try { new TrustList(['::1', 'office']); return null; } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(GangwayError);
    expect([(err as GangwayError).code, (err as GangwayError).message]).toEqual(['invalid_argument', 'trustForwarded[1]: "office" is not an IP address or CIDR range']);
  });

  it('writes IPv4-mapped client addresses as plain IPv4', () => {
    expect(['::ffff:127.0.0.1', '::1', '10.0.0.1', '::ffff:7f00:1', undefined].map(clientAddress)).toEqual(['127.0.0.1', '::1', '10.0.0.1', '::ffff:7f00:1', '']);
  });
});

describe('ForwardedWriter', () => {
  function rewrite(trust: string[], peer: string, request: string): string {
    const w = new ForwardedWriter(new TrustList(trust), peer);
    const buf = Buffer.from(request, 'latin1');
    const headEnd = buf.indexOf('\r\n\r\n') + 4;
    parseRequestHead(buf, 0, headEnd, null, w.spans);
    return w.rewrite(buf, headEnd, buf.length).toString('latin1');
  }

  it('records Host and the X-Forwarded-* lines in the framing scan', () => {
    const spans = new ForwardedSpans();
    const buf = Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n');
    parseRequestHead(buf, 0, buf.length, null, spans);
    expect([spans.hostFrom, spans.hostTo, buf.toString('latin1', spans.hostFrom, spans.hostTo)]).toEqual([22, 28, 'a.test']);
    expect(spans.lines).toEqual([XF_FOR, 30, 56, 47, 54]);
    const next = Buffer.from('GET / HTTP/1.1\r\nx-forwarded-proto:  https \r\n\r\n');
    parseRequestHead(next, 0, next.length, null, spans);
    expect([spans.hostFrom, spans.hostTo, spans.lines]).toEqual([-1, -1, [XF_PROTO, 16, 44, 36, 41]]);
  });

  it('adds the three headers before the end of the head and keeps the body bytes', () => {
    expect(rewrite([], '127.0.0.1', 'POST /x HTTP/1.1\r\nHost: shop.test:8080\r\nContent-Length: 5\r\n\r\nhello')).toBe(
      'POST /x HTTP/1.1\r\nHost: shop.test:8080\r\nContent-Length: 5\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.test:8080\r\n\r\nhello');
    expect(rewrite([], '::1', 'GET / HTTP/1.0\r\n\r\n')).toBe('GET / HTTP/1.0\r\nX-Forwarded-For: ::1\r\nX-Forwarded-Proto: http\r\n\r\n');
  });

  it('replaces every X-Forwarded-* line an untrusted peer sent, in any case and repeated', () => {
    expect(rewrite(['10.0.0.0/8'], '127.0.0.1',
      'GET / HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\nHost: shop.test\r\nx-forwarded-for: 7.7.7.7\r\nX-FORWARDED-PROTO: https\r\nX-Forwarded-Host: evil.test\r\nAccept: */*\r\n\r\n')).toBe(
      'GET / HTTP/1.1\r\nHost: shop.test\r\nAccept: */*\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.test\r\n\r\n');
  });

  it('appends a trusted peer to its X-Forwarded-For and keeps its proto and host', () => {
    expect(rewrite(['127.0.0.1/32'], '127.0.0.1',
      'GET / HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\nHost: internal:8080\r\nX-Forwarded-For:  5.5.5.5 \r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.test\r\n\r\n')).toBe(
      'GET / HTTP/1.1\r\nHost: internal:8080\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.test\r\nX-Forwarded-For: 6.6.6.6, 5.5.5.5, 127.0.0.1\r\n\r\n');
    expect(rewrite(['::ffff:0:0/96'], '::ffff:10.0.0.9', 'GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For:\r\n\r\n')).toBe(
      'GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Host: h\r\n\r\n');
    expect(rewrite(['127.0.0.1'], '127.0.0.1', 'GET / HTTP/1.1\r\nHost: h\r\n\r\n')).toBe(
      'GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n');
  });
});

describe('ProxyHub forwarding headers', () => {
  it('lets a node:http app read them, on the public and the preview listener', async () => {
    const app = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify([req.headers['x-forwarded-for'], req.headers['x-forwarded-proto'], req.headers['x-forwarded-host'], req.headers.host]));
    });
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    cleanups.push(() => new Promise<void>((r) => { app.closeAllConnections(); app.close(() => r()); }));
    const backend = { id: 'app-1', version: 'v1', port: (app.address() as net.AddressInfo).port };
    const hub = new ProxyHub({ backends: { ready: () => [backend] }, metrics: new RequestMetrics() });
    cleanups.push(() => hub.close(100));
    const [port, previewPort] = [await freePort(), await freePort()];
    await hub.setRoute({ service: 'web', environment: 'prod', host: '127.0.0.1', port, versions: [{ version: 'v1', weight: 1 }], preview: { port: previewPort, version: 'v1' } });
    const get = (p: number, headers: Record<string, string> = {}) => new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: p, path: '/', headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    expect(JSON.parse(await get(port))).toEqual(['127.0.0.1', 'http', `127.0.0.1:${port}`, `127.0.0.1:${port}`]);
    expect(JSON.parse(await get(previewPort, { 'X-Forwarded-For': '6.6.6.6', Host: 'preview.test' }))).toEqual(['127.0.0.1', 'http', 'preview.test', 'preview.test']);
  });

  it('tells the app the client address, the scheme and the Host on every request of a keep-alive connection', async () => {
    const up = await recordingUpstream();
    const port = await startHub(up.backend);
    const replies = await sendOnOneConnection(port, [
      'GET /a HTTP/1.1\r\nHost: shop.test\r\n\r\n',
      'GET /b HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
      'POST /c HTTP/1.1\r\nHost: other.test:81\r\nContent-Length: 4\r\n\r\nbody',
    ]);
    expect(replies).toBe(OK.repeat(3));
    expect(up.heads).toEqual([
      'GET /a HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.test\r\n\r\n',
      'GET /b HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.test\r\n\r\n',
      'POST /c HTTP/1.1\r\nHost: other.test:81\r\nContent-Length: 4\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: other.test:81\r\n\r\n',
    ]);
    expect(up.bodies).toEqual(['', '', 'body']);
  });

  it('adds the headers to each of several pipelined requests', async () => {
    const up = await recordingUpstream();
    const port = await startHub(up.backend);
    const sock = net.connect(port, '127.0.0.1');
    cleanups.push(() => { sock.destroy(); });
    await once(sock, 'connect');
    sock.write('GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n');
    let received = '';
    while (received.length < OK.length * 3) received += ((await once(sock, 'data')) as [Buffer])[0].toString('latin1');
    expect(received).toBe(OK.repeat(3));
    const line = (path: string) => `GET ${path} HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n`;
    expect(up.heads).toEqual([line('/1'), line('/2'), line('/3')]);
  });

  it('appends the address of a trusted peer to the X-Forwarded-For it sent, and keeps its proto and host', async () => {
    const up = await recordingUpstream();
    const port = await startHub(up.backend, { trustForwarded: ['10.0.0.0/8', '127.0.0.1/32'] });
    await sendOnOneConnection(port, [
      'GET / HTTP/1.1\r\nHost: internal\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.test\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: internal\r\n\r\n',
    ]);
    expect(up.heads).toEqual([
      'GET / HTTP/1.1\r\nHost: internal\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.test\r\nX-Forwarded-For: 6.6.6.6, 127.0.0.1\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: internal\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: internal\r\n\r\n',
    ]);
  });

  it('replaces what a peer outside the trust list forged', async () => {
    const up = await recordingUpstream();
    const port = await startHub(up.backend, { trustForwarded: ['10.0.0.0/8', '::1'] });
    await sendOnOneConnection(port, ['GET / HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: bank.test\r\n\r\n']);
    expect(up.heads).toEqual(['GET / HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.test\r\n\r\n']);
  });

  it('matches an IPv4 client of a dual-stack listener against IPv4 ranges and names it as IPv4', async () => {
    const up = await recordingUpstream();
    const port = await startHub(up.backend, { trustForwarded: ['127.0.0.0/8'] }, '::');
    await sendOnOneConnection(port, ['GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n'], '127.0.0.1');
    expect(up.heads).toEqual(['GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6, 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n']);
  });

  it('names an IPv6 client as such and trusts it by an IPv6 entry', async () => {
    const up = await recordingUpstream();
    const port = await startHub(up.backend, { trustForwarded: ['::1/128'] }, '::1');
    await sendOnOneConnection(port, ['GET / HTTP/1.1\r\nHost: [::1]\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n', 'GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n'], '::1');
    expect(up.heads).toEqual([
      'GET / HTTP/1.1\r\nHost: [::1]\r\nX-Forwarded-For: 6.6.6.6, ::1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: [::1]\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: [::1]\r\nX-Forwarded-For: ::1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: [::1]\r\n\r\n',
    ]);
  });

  it('passes requests unchanged with forwardedHeaders false', async () => {
    const up = await recordingUpstream();
    const port = await startHub(up.backend, { forwardedHeaders: false, trustForwarded: ['127.0.0.1'] });
    const requests = [
      'GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n',
      'POST /p HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 6.6.6.6\r\nContent-Length: 3\r\n\r\nabc',
    ];
    await sendOnOneConnection(port, requests);
    expect(up.heads).toEqual(['GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n', 'POST /p HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 6.6.6.6\r\nContent-Length: 3\r\n\r\n']);
    expect(up.bodies).toEqual(['', 'abc']);
  });

  it('refuses a trust list entry that is not an address or range, naming it', () => {
    expect(() => new ProxyHub({ backends: { ready: () => [] }, metrics: new RequestMetrics(), trustForwarded: ['10.0.0.0/8', '10.0.0.0/40'] }))
      .toThrow('trustForwarded[1]: "10.0.0.0/40" is not a CIDR range: an IPv4 prefix length is 0 to 32');
  });
});
