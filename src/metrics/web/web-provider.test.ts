import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricSource } from '../../config/types.js';
import type { MetricQuery } from '../provider.js';
import { FieldPathError, parseFieldPath, WebProvider } from './web-provider.js';

const q: MetricQuery = { service: 'web', environment: 'prod', version: '2.0.0+build/1', windowMs: 300_000, now: 0 };
const requests: Array<{ url: string; headers: http.IncomingHttpHeaders }> = [];
let port = 0;
let server: http.Server;

/** Pages of a stats service: each path answers a fixed status and body. */
const PAGES: Record<string, [number, string]> = {
  '/json': [200, JSON.stringify({ data: { rate: 0.25, text: '0.125', nan: 'NaN', nothing: null, flag: true, list: [{ v: [1, 2, 3] }], 'dotted.key': 4, obj: {}, word: 'high' } })],
  '/html': [200, '<html>maintenance</html>'],
  '/down': [503, '{"error":"backend unavailable"}'],
  '/empty': [200, ''],
};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ url: req.url ?? '', headers: req.headers });
    if (url.pathname === '/hang') return;
    const [status, body] = PAGES[url.pathname] ?? [404, 'not found'];
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

const web = new WebProvider();
const source = (field: string, page = '/json', over: Partial<Extract<MetricSource, { kind: 'web' }>> = {}): MetricSource =>
  ({ kind: 'web', url: `http://127.0.0.1:${port}${page}`, field, headers: {}, timeoutMs: 2000, ...over });

describe('WebProvider', () => {
  it('reads a number or a numeric string at a dotted path with array indices', async () => {
    expect(await web.measure(source('data.rate'), q)).toEqual({ phase: 'ok', value: 0.25, samples: null });
    expect(await web.measure(source('data.text'), q)).toEqual({ phase: 'ok', value: 0.125, samples: null });
    expect(await web.measure(source('data.list[0].v[2]'), q)).toEqual({ phase: 'ok', value: 3, samples: null });
    expect(await web.measure(source('data["dotted.key"]'), q)).toEqual({ phase: 'ok', value: 4, samples: null });
  });

  it('answers nodata for a missing field, a null, an index past the end, or NaN', async () => {
    const where = `GET http://127.0.0.1:${port}/json`;
    expect(await web.measure(source('data.missing'), q)).toEqual({ phase: 'nodata', detail: `${where}: the answer has no field data.missing` });
    expect(await web.measure(source('data.list[3].v'), q)).toEqual({ phase: 'nodata', detail: `${where}: the answer has no field data.list[3].v` });
    expect(await web.measure(source('data.rate.deeper'), q)).toEqual({ phase: 'nodata', detail: `${where}: the answer has no field data.rate.deeper` });
    expect(await web.measure(source('data.nothing'), q)).toEqual({ phase: 'nodata', detail: `${where}: field data.nothing is null` });
    expect(await web.measure(source('data.nan'), q)).toEqual({ phase: 'nodata', detail: `${where}: field data.nan is NaN` });
  });

  it('answers error for a field that is not a number', async () => {
    const where = `GET http://127.0.0.1:${port}/json`;
    expect(await web.measure(source('data.word'), q)).toEqual({ phase: 'error', detail: `${where}: field data.word is the string "high", not a number` });
    expect(await web.measure(source('data.flag'), q)).toEqual({ phase: 'error', detail: `${where}: field data.flag is the boolean true, not a number` });
    expect(await web.measure(source('data.obj'), q)).toEqual({ phase: 'error', detail: `${where}: field data.obj is an object, not a number` });
    expect(await web.measure(source('data.list'), q)).toEqual({ phase: 'error', detail: `${where}: field data.list is an array, not a number` });
  });

  it('answers error for an HTTP error, a body that is not JSON, a refused connection and a timeout', async () => {
    const base = `GET http://127.0.0.1:${port}`;
    expect(await web.measure(source('x', '/down'), q)).toEqual({ phase: 'error', detail: `${base}/down answered HTTP 503: {"error":"backend unavailable"}` });
    expect(await web.measure(source('x', '/html'), q)).toEqual({ phase: 'error', detail: `${base}/html did not answer JSON: <html>maintenance</html>` });
    expect(await web.measure(source('x', '/empty'), q)).toEqual({ phase: 'error', detail: `${base}/empty did not answer JSON: (empty body)` });
    expect(await web.measure(source('x', '/hang', { timeoutMs: 150 }), q)).toEqual({ phase: 'error', detail: `${base}/hang did not answer within 150 ms` });
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await web.measure({ ...source('x'), url: `http://127.0.0.1:${closedPort}/stats` } as MetricSource, q))
      .toEqual({ phase: 'error', detail: `GET http://127.0.0.1:${closedPort}/stats failed: connection refused (ECONNREFUSED)` });
  });

  it('substitutes placeholders (percent-encoded) in the URL, sends the headers as written, and keeps the query string out of messages', async () => {
    requests.length = 0;
    const s = source('data.missing', '/json?service=${service}&version=${version}&window=${window}&token=secret', { headers: { authorization: 'Bearer t-${environment}' } });
    const r = await web.measure(s, q);
    expect(r).toEqual({ phase: 'nodata', detail: `GET http://127.0.0.1:${port}/json: the answer has no field data.missing` });
    expect(requests.map((x) => [x.url, x.headers.authorization, x.headers.accept])).toEqual([
      ['/json?service=web&version=2.0.0%2Bbuild%2F1&window=5m&token=secret', 'Bearer t-${environment}', 'application/json'],
    ]);
  });

  it('answers error for a malformed field path or URL, and for a source of another kind', async () => {
    expect(await web.measure(source('data..rate'), q)).toEqual({ phase: 'error', detail: 'field "data..rate" is not a valid path: expected a key at character 6' });
    expect(await web.measure({ ...source('x'), url: 'not a url' } as MetricSource, q)).toEqual({ phase: 'error', detail: 'invalid url "not a url"' });
    expect(await web.measure({ kind: 'prometheus', query: 'up' }, q)).toEqual({ phase: 'error', detail: 'the web provider cannot measure a prometheus source' });
  });
});

describe('parseFieldPath', () => {
  it('splits keys, indices and quoted keys', () => {
    expect(parseFieldPath('a.b[0].c')).toEqual(['a', 'b', 0, 'c']);
    expect(parseFieldPath('a[1][2]')).toEqual(['a', 1, 2]);
    expect(parseFieldPath('[0].x')).toEqual([0, 'x']);
    expect(parseFieldPath('m["a.b"]["q\\"x"]')).toEqual(['m', 'a.b', 'q"x']);
    expect(parseFieldPath('')).toEqual([]);
  });

  it('rejects malformed paths, saying where', () => {
    expect(() => parseFieldPath('a[0')).toThrow(new FieldPathError('field "a[0" is not a valid path: unclosed [ at character 2', 'a[0'));
    expect(() => parseFieldPath('a[x]')).toThrow('field "a[x]" is not a valid path: expected an index or a quoted key inside [ ] at character 2');
    expect(() => parseFieldPath('a.')).toThrow('field "a." is not a valid path: ends with . at character 3');
    expect(() => parseFieldPath('a]')).toThrow('field "a]" is not a valid path: unexpected "]" at character 2');
  });
});
