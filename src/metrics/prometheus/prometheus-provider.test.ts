/**
 * The Prometheus provider against a real Prometheus (no scrape targets: PromQL's own
 * functions make every result shape), plus node:http stand-ins for what a healthy Prometheus
 * never does (hang, answer HTML through a broken proxy, demand a password).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startPrometheusOrSkip } from '../../../test/support/prometheus.js';
import type { MetricQuery, MetricResult } from '../provider.js';
import { PrometheusProvider } from './prometheus-provider.js';

const prom = await startPrometheusOrSkip('Prometheus provider tests');
afterAll(() => prom?.stop());

const NOW = Date.parse('2026-01-02T03:04:05.678Z');
const q: MetricQuery = { service: 'web', environment: 'prod', version: '2.0.0', windowMs: 120_000, now: NOW };

describe.skipIf(!prom)('PrometheusProvider against a real Prometheus', () => {
  const provider = () => new PrometheusProvider({ address: prom!.address, timeoutMs: 5000 });
  const measure = (query: string, over: Partial<MetricQuery> = {}): Promise<MetricResult> => provider().measure({ kind: 'prometheus', query }, { ...q, ...over });

  it('answers ok for a scalar and for a vector of one sample', async () => {
    expect(await measure('1 + 1')).toEqual({ phase: 'ok', value: 2, samples: null });
    expect(await measure('vector(0.25)')).toEqual({ phase: 'ok', value: 0.25, samples: null });
  });

  it('evaluates at the query time, to the millisecond', async () => {
    expect(await measure('time()')).toEqual({ phase: 'ok', value: NOW / 1000, samples: null });
  });

  it('answers nodata for an empty vector, NaN and infinities', async () => {
    expect(await measure('vector(1) > 2')).toEqual({ phase: 'nodata', detail: 'query returned no series' });
    expect(await measure('0 / 0')).toEqual({ phase: 'nodata', detail: 'query returned NaN' });
    expect(await measure('vector(0) / vector(0)')).toEqual({ phase: 'nodata', detail: 'query returned NaN' });
    expect(await measure('1 / 0')).toEqual({ phase: 'nodata', detail: 'query returned +Inf' });
    expect(await measure('-1 / 0')).toEqual({ phase: 'nodata', detail: 'query returned -Inf' });
  });

  it('answers error naming how many series came back and their labels', async () => {
    const r = await measure('label_replace(vector(1), "version", "1.0.0", "", "") or label_replace(vector(2), "version", "2.0.0", "", "")');
    expect(r).toEqual({
      phase: 'error',
      detail: 'query returned 2 series, expected one: {version="1.0.0"}, {version="2.0.0"}; aggregate them into one, e.g. sum(...) or sum by (...) with labels the query fixes',
    });
    const many = await measure('label_replace(vector(1), "v", "a", "", "") or label_replace(vector(1), "v", "b", "", "") or label_replace(vector(1), "v", "c", "", "") or label_replace(vector(1), "v", "d", "", "") or label_replace(vector(1), "v", "e", "", "") or label_replace(vector(1), "v", "f", "", "") or label_replace(vector(1), "v", "g", "", "")');
    expect(many.phase === 'error' && many.detail).toMatch(/^query returned 7 series, expected one: \{v="a"\}, \{v="b"\}, \{v="c"\}, \{v="d"\}, \{v="e"\}, and 2 more; /);
  });

  it("answers error with Prometheus's own error type and text for a bad query", async () => {
    const r = await measure('sum(rate(http_requests_total[5m])');
    expect(r.phase).toBe('error');
    expect(r.phase === 'error' && r.detail).toMatch(new RegExp(`^Prometheus at ${prom!.address} rejected the query \\(bad_data\\): .*parse error.*unclosed left parenthesis`));
  });

  it('answers error for a range vector, saying how to make it one number', async () => {
    expect(await measure('vector(1)[1m:10s]')).toEqual({
      phase: 'error', detail: 'query returned a range vector; a rule needs one number: wrap the range selector in a function such as rate(...) or increase(...)',
    });
  });

  it('substitutes placeholders with label values escaped for PromQL', async () => {
    const version = 'v"2\\x';
    const query = 'label_replace(vector(1), "version", "${version}", "", "") * on (version) group_left label_replace(vector(7), "version", "${version}", "", "")';
    expect(await measure(query, { version })).toEqual({ phase: 'ok', value: 7, samples: null });
    const range = await provider().queryRange('label_replace(vector(1), "version", "${version}", "", "")', { startMs: NOW - 60_000, endMs: NOW, stepMs: 30_000 }, { ...q, version });
    expect(range).toEqual({ phase: 'ok', series: [{ labels: { version }, points: [[NOW - 60_000, 1], [NOW - 30_000, 1], [NOW, 1]] }] });
  });

  it('rejects an unknown placeholder before asking Prometheus', async () => {
    expect(await measure('vector(${foo})')).toEqual({
      phase: 'error', detail: 'unknown placeholder ${foo} in "vector(${foo})"; known: ${service}, ${environment}, ${version}, ${window}',
    });
  });

  it('runs range queries, one series per label set', async () => {
    const r = await provider().queryRange('label_replace(vector(1), "v", "a", "", "") or label_replace(vector(2), "v", "b", "", "")', { startMs: NOW - 10_000, endMs: NOW, stepMs: 5000 });
    expect(r).toEqual({
      phase: 'ok',
      series: [
        { labels: { v: 'a' }, points: [[NOW - 10_000, 1], [NOW - 5000, 1], [NOW, 1]] },
        { labels: { v: 'b' }, points: [[NOW - 10_000, 2], [NOW - 5000, 2], [NOW, 2]] },
      ],
    });
    const bad = await provider().queryRange('vector(1)', { startMs: NOW, endMs: NOW - 1000, stepMs: 1000 });
    expect(bad.phase === 'error' && bad.detail).toMatch(/rejected the query \(bad_data\): .*end timestamp must not be before start time/);
  });
});

describe('PrometheusProvider when Prometheus misbehaves', () => {
  const serve = async (handler: http.RequestListener) => {
    const server = http.createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { server, port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  };
  const source = { kind: 'prometheus' as const, query: 'vector(1)' };

  it('answers error with connection refused when nothing listens', async () => {
    const { port, close } = await serve(() => {});
    await close();
    expect(await new PrometheusProvider({ address: `http://127.0.0.1:${port}`, timeoutMs: 2000 }).measure(source, q)).toEqual({
      phase: 'error', detail: `cannot reach Prometheus at http://127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
    });
  });

  it('answers error after the timeout when Prometheus does not answer', async () => {
    const { port, close } = await serve(() => { /* never answers */ });
    try {
      expect(await new PrometheusProvider({ address: `http://127.0.0.1:${port}`, timeoutMs: 200 }).measure(source, q)).toEqual({
        phase: 'error', detail: `Prometheus at http://127.0.0.1:${port} did not answer within 200 ms`,
      });
    } finally {
      await close();
    }
  });

  it('answers error with the HTTP status and body when a proxy in front of it fails', async () => {
    const { port, close } = await serve((_req, res) => { res.writeHead(502, { 'content-type': 'text/html' }); res.end('<h1>502 Bad Gateway</h1>\n'); });
    try {
      expect(await new PrometheusProvider({ address: `http://127.0.0.1:${port}/prom/`, timeoutMs: 2000 }).measure(source, q)).toEqual({
        phase: 'error', detail: `Prometheus at http://127.0.0.1:${port}/prom answered HTTP 502: <h1>502 Bad Gateway</h1>`,
      });
    } finally {
      await close();
    }
  });

  it('sends credentials of the address as basic auth and keeps its path prefix', async () => {
    const seen: Array<{ url?: string; auth?: string; body: string }> = [];
    const { port, close } = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        seen.push({ url: req.url, auth: req.headers.authorization, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [NOW / 1000, '0.5'] }] } }));
      });
    });
    try {
      const provider = new PrometheusProvider({ address: `http://ops:s%3Acret@127.0.0.1:${port}/prom`, timeoutMs: 2000 });
      expect(provider.address).toBe(`http://127.0.0.1:${port}/prom`);
      expect(await provider.measure(source, q)).toEqual({ phase: 'ok', value: 0.5, samples: null });
      expect(seen).toEqual([{
        url: '/prom/api/v1/query',
        auth: `Basic ${Buffer.from('ops:s:cret').toString('base64')}`,
        body: new URLSearchParams({ query: 'vector(1)', time: (NOW / 1000).toFixed(3) }).toString(),
      }]);
    } finally {
      await close();
    }
  });
});
