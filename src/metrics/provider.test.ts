/**
 * The one contract suite of the metric provider port, run against every adapter with a real
 * backend: builtin against a real RequestMetrics served by the agent's control server,
 * prometheus against a real Prometheus scraping that traffic, web against a node:http JSON
 * server. The same traffic (200 requests to 2.0.0, 10 of them 5xx) gives each adapter the
 * same error rate to find.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../agent/client.js';
import { startControlServer, type ControlHandlers, type ControlServer } from '../agent/control-server.js';
import { RequestMetrics } from '../agent/request-metrics.js';
import type { MetricSource } from '../config/types.js';
import { promQuery, startPrometheusOrSkip, type PrometheusServer } from '../../test/support/prometheus.js';
import { BuiltinProvider } from './builtin/builtin-provider.js';
import { PrometheusProvider } from './prometheus/prometheus-provider.js';
import type { MetricProvider, MetricQuery } from './provider.js';
import { WebProvider } from './web/web-provider.js';

const SERVICE = 'web';
const ENVIRONMENT = 'prod';
const query = (version: string): MetricQuery => ({ service: SERVICE, environment: ENVIRONMENT, version, windowMs: 300_000, now: Date.now() });

/** The traffic every backend sees: 2.0.0 has 200 requests, 10 of them 5xx; 1.0.0 has 100, 1 of them 5xx. */
function feed(m: RequestMetrics): void {
  for (let i = 0; i < 200; i++) m.record(SERVICE, ENVIRONMENT, '2.0.0', i % 20 === 0 ? 500 : 200, 0.02);
  for (let i = 0; i < 100; i++) m.record(SERVICE, ENVIRONMENT, '1.0.0', i === 0 ? 503 : 200, 0.01);
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

/** What one adapter must do, with its real backend. */
interface AdapterCase {
  name: string;
  provider: () => MetricProvider;
  ok: { source: MetricSource; version: string; value: number; samples: number | null };
  nodata: { source: MetricSource; version: string; detail: string | RegExp };
  error: { source: MetricSource; version: string; detail: string | RegExp };
  /** The same adapter pointed at a backend that is not there. */
  down: { provider: () => MetricProvider; source: MetricSource; detail: string | RegExp };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gangway-metrics-'));
const metrics = new RequestMetrics();
const unused = async (): Promise<never> => { throw new Error('not used by metric providers'); };
const handlers: ControlHandlers = {
  state: unused, scale: unused, stopVersion: unused, setRoute: unused, logs: unused, shutdown: unused,
  counters: async (service, environment) => metrics.counters(service, environment),
  metricsText: () => metrics.render(),
};
let control: ControlServer;
let builtin: BuiltinProvider;

// The Prometheus backend scrapes the same RequestMetrics through a node:http exposition endpoint.
const exposition = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
  res.end(metrics.render());
});
const expositionPort = await listen(exposition);
const prom: PrometheusServer | undefined = await startPrometheusOrSkip('Prometheus metric provider contract tests', { targets: [`127.0.0.1:${expositionPort}`] });

const stats = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://stats');
  const m = /^\/stats\/([^/]+)\/([^/]+)$/.exec(url.pathname);
  if (m === null) { res.writeHead(404).end('no such page'); return; }
  const version = decodeURIComponent(m[2]!);
  const snap = metrics.counters(decodeURIComponent(m[1]!), ENVIRONMENT).find((c) => c.version === version);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(snap === undefined ? { data: {} } : { data: { versions: [{ errorRate: snap.errors / snap.total, label: 'ratio' }] } }));
});
const statsPort = await listen(stats);
const downPort = await closedPort();
const webSource = (field: string, url = `http://127.0.0.1:${statsPort}/stats/\${service}/\${version}`): MetricSource =>
  ({ kind: 'web', url, field, headers: {}, timeoutMs: 2000 });

const errorRateQuery = `sum(http_requests_total{service="\${service}",environment="\${environment}",version="\${version}",status="5xx"})
  / sum(http_requests_total{service="\${service}",environment="\${environment}",version="\${version}"})`;

const ADAPTERS: AdapterCase[] = [
  {
    name: 'builtin',
    provider: () => builtin,
    ok: { source: { kind: 'builtin', metric: 'error_rate' }, version: '2.0.0', value: 0.05, samples: 200 },
    nodata: { source: { kind: 'builtin', metric: 'error_rate' }, version: '9.9.9', detail: 'no requests to web/prod version 9.9.9 in the last 5m' },
    error: { source: { kind: 'builtin', metric: 'p42_latency' as never }, version: '2.0.0', detail: 'unknown builtin metric "p42_latency"; known: error_rate, request_rate, p50_latency, p95_latency, p99_latency' },
    down: {
      provider: () => new BuiltinProvider(new AgentClient(path.join(tmp, 'nobody.sock'))),
      source: { kind: 'builtin', metric: 'error_rate' },
      detail: "cannot read the local agent's request counters: the local agent is not running",
    },
  },
  ...(prom === undefined ? [] : [{
    name: 'prometheus',
    provider: () => new PrometheusProvider({ address: prom.address, timeoutMs: 5000 }),
    ok: { source: { kind: 'prometheus', query: errorRateQuery }, version: '2.0.0', value: 0.05, samples: null },
    nodata: { source: { kind: 'prometheus', query: errorRateQuery }, version: '9.9.9', detail: 'query returned no series' },
    error: {
      source: { kind: 'prometheus', query: 'sum by (version, status) (http_requests_total{service="${service}"})' },
      version: '2.0.0',
      detail: /^query returned 4 series, expected one: \{status="2xx", version="1\.0\.0"\}, .*aggregate them into one/,
    },
    down: {
      provider: () => new PrometheusProvider({ address: `http://127.0.0.1:${downPort}`, timeoutMs: 2000 }),
      source: { kind: 'prometheus', query: 'vector(1)' },
      detail: /^cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)$/,
    },
  } satisfies AdapterCase]),
  {
    name: 'web',
    provider: () => new WebProvider(),
    ok: { source: webSource('data.versions[0].errorRate'), version: '2.0.0', value: 0.05, samples: null },
    nodata: { source: webSource('data.versions[0].errorRate'), version: '9.9.9', detail: `GET http://127.0.0.1:${statsPort}/stats/web/9.9.9: the answer has no field data.versions[0].errorRate` },
    error: { source: webSource('data.versions[0].label'), version: '2.0.0', detail: `GET http://127.0.0.1:${statsPort}/stats/web/2.0.0: field data.versions[0].label is the string "ratio", not a number` },
    down: {
      provider: () => new WebProvider(),
      source: webSource('x', `http://127.0.0.1:${downPort}/stats/\${service}`),
      detail: /connection refused \(ECONNREFUSED\)$/,
    },
  },
];

beforeAll(async () => {
  control = await startControlServer({ socketPath: path.join(tmp, 'agent.sock'), handlers });
  builtin = new BuiltinProvider(new AgentClient(control.socketPath));
  // A reading before any traffic: the window of every version then starts from zero.
  expect(await builtin.sample(SERVICE, ENVIRONMENT)).toBe(true);
  await new Promise((r) => setTimeout(r, 1100)); // past the provider's minimum interval between readings
  feed(metrics);
  if (prom !== undefined) {
    // Wait until Prometheus has scraped the traffic.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const data = await promQuery(prom.address, 'sum(http_requests_total)');
      const value = (data.result as Array<{ value: [number, string] }>)[0]?.value[1];
      if (value === '300') break;
      if (Date.now() > deadline) throw new Error(`Prometheus did not scrape the test traffic; its log:\n${prom.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

afterAll(async () => {
  await control?.close();
  await prom?.stop();
  await new Promise<void>((r) => exposition.close(() => r()));
  await new Promise<void>((r) => stats.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe.each(ADAPTERS)('metric provider contract: $name', (adapter) => {
  it('answers ok with the value of the release', async () => {
    const r = await adapter.provider().measure(adapter.ok.source, query(adapter.ok.version));
    expect(r.phase).toBe('ok');
    if (r.phase !== 'ok') return;
    expect(r.value).toBeCloseTo(adapter.ok.value, 12);
    expect(r.samples).toBe(adapter.ok.samples);
  });

  it('answers the same again (idempotent)', async () => {
    const p = adapter.provider();
    const first = await p.measure(adapter.ok.source, query(adapter.ok.version));
    const second = await p.measure(adapter.ok.source, query(adapter.ok.version));
    expect(second).toEqual(first);
  });

  it('answers nodata for a release the source has nothing about', async () => {
    const r = await adapter.provider().measure(adapter.nodata.source, query(adapter.nodata.version));
    expect(r.phase).toBe('nodata');
    if (r.phase === 'nodata') expect(r.detail).toMatch(adapter.nodata.detail instanceof RegExp ? adapter.nodata.detail : exact(adapter.nodata.detail));
  });

  it('answers error, saying why, when the source answers nonsense', async () => {
    const r = await adapter.provider().measure(adapter.error.source, query(adapter.error.version));
    expect(r.phase).toBe('error');
    if (r.phase === 'error') expect(r.detail).toMatch(adapter.error.detail instanceof RegExp ? adapter.error.detail : exact(adapter.error.detail));
  });

  it('answers error instead of throwing when the backend is not there', async () => {
    const r = await adapter.down.provider().measure(adapter.down.source, query('2.0.0'));
    expect(r.phase).toBe('error');
    if (r.phase === 'error') expect(r.detail).toMatch(adapter.down.detail instanceof RegExp ? adapter.down.detail : exact(adapter.down.detail));
  });

  it('answers error for a source of another kind', async () => {
    const other: MetricSource = adapter.ok.source.kind === 'web' ? { kind: 'builtin', metric: 'error_rate' } : webSource('x');
    const r = await adapter.provider().measure(other, query('2.0.0'));
    expect(r).toEqual({ phase: 'error', detail: `the ${adapter.name} provider cannot measure a ${other.kind} source` });
  });
});

describe('the agent counters endpoint behind the builtin provider', () => {
  it('serves cumulative counters per version and rejects a request without service and environment', async () => {
    const client = new AgentClient(control.socketPath);
    const rows = await client.counters(SERVICE, ENVIRONMENT);
    expect(rows.map((r) => [r.version, r.total, r.errors, r.buckets.reduce((a, b) => a + b, 0)])).toEqual([['2.0.0', 200, 10, 200], ['1.0.0', 100, 1, 100]]);
    expect(await client.counters(SERVICE, 'staging')).toEqual([]);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get({ socketPath: control.socketPath, path: '/v1/counters?service=web' }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => { body += c.toString(); });
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      }).on('error', reject);
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'invalid_argument', message: 'counters needs the query parameters service and environment' } });
  });
});

function exact(text: string): RegExp {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}
