import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestMetrics } from '../agent/request-metrics.js';
import type { AgentApi } from '../agent/types.js';
import type { GangwayConfig, MetricSource } from '../config/types.js';
import { BuiltinProvider } from './builtin/builtin-provider.js';
import { PrometheusProvider } from './prometheus/prometheus-provider.js';
import type { MetricQuery } from './provider.js';
import { createMetricProviders } from './registry.js';
import { WebProvider } from './web/web-provider.js';

const metrics = new RequestMetrics();
const unused = async (): Promise<never> => { throw new Error('not used by metric providers'); };
const agent: AgentApi = {
  state: unused, scale: unused, stopVersion: unused, setRoute: unused, logs: unused, shutdown: unused,
  counters: async (service, environment) => metrics.counters(service, environment),
};
/** Only `metrics` of the config matters here. */
const config = (prometheus: GangwayConfig['metrics']['prometheus']) => ({ metrics: { prometheus } }) as GangwayConfig;
const q: MetricQuery = { service: 'web', environment: 'prod', version: '2.0.0', windowMs: 60_000, now: Date.now() };

let server: http.Server;
let port = 0;
beforeAll(async () => {
  // Answers like Prometheus's query API and like a JSON stats endpoint, so dispatch is visible in the value.
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(req.url?.startsWith('/api/v1/query')
      ? JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [0, '0.5'] } })
      : JSON.stringify({ value: 0.75 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

describe('createMetricProviders', () => {
  it('picks the adapter by source kind and measures through it', async () => {
    const providers = createMetricProviders(config({ address: `http://127.0.0.1:${port}`, timeoutMs: 2000 }), agent);
    const prom: MetricSource = { kind: 'prometheus', query: 'vector(1)' };
    const web: MetricSource = { kind: 'web', url: `http://127.0.0.1:${port}/stats`, field: 'value', headers: {}, timeoutMs: 2000 };
    const builtin: MetricSource = { kind: 'builtin', metric: 'error_rate' };
    expect(providers.provider(builtin)).toBeInstanceOf(BuiltinProvider);
    expect(providers.provider(builtin)).toBe(providers.builtin);
    expect(providers.requests).toBe(providers.builtin);
    expect(providers.provider(prom)).toBeInstanceOf(PrometheusProvider);
    expect(providers.provider(prom)).toBe(providers.prometheus);
    expect(providers.provider(web)).toBeInstanceOf(WebProvider);
    expect(await providers.measure(prom, q)).toEqual({ phase: 'ok', value: 0.5, samples: null });
    expect(await providers.measure(web, q)).toEqual({ phase: 'ok', value: 0.75, samples: null });
    expect(await providers.measure(builtin, q)).toEqual({ phase: 'nodata', detail: "first reading of the agent's counters for web/prod: a window needs an earlier one (the next measurement has it)" });
  });

  it('answers error for a prometheus source when metrics.prometheus is not set', async () => {
    const providers = createMetricProviders(config(null), agent);
    expect(providers.prometheus).toBeNull();
    const source: MetricSource = { kind: 'prometheus', query: 'up' };
    const expected = { phase: 'error', detail: 'no Prometheus is configured: set metrics.prometheus.address in gangway.yaml (e.g. http://127.0.0.1:9090) to use prometheus queries' };
    expect(await providers.provider(source).measure(source, q)).toEqual(expected);
    expect(await providers.measure(source, q)).toEqual(expected);
  });

  it('answers error for an unknown source kind instead of throwing', async () => {
    const providers = createMetricProviders(config(null), agent);
    expect(await providers.measure({ kind: 'datadog' } as unknown as MetricSource, q)).toEqual({
      phase: 'error', detail: 'unknown metric source kind "datadog"; known: builtin, prometheus, web',
    });
  });
});
