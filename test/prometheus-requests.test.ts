/**
 * `metrics.requests` against a real Prometheus (Debian package `prometheus`): the builtin request
 * metrics of a target that does not measure requests (Kubernetes) read from the seeds'
 * `http_requests_total` / `http_request_duration_seconds_bucket` series, labelled as a labelmap
 * relabelling of the pods' gangway.io labels makes them. A small HTTP server plays the scraped
 * pods: its exposition text is set by the test, and a `gen` gauge says which text Prometheus
 * last scraped, so every assertion is exact.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/agent/ports.js';
import { DEFAULTS } from '../src/config/schema.js';
import { BuiltinProvider, CountersReadError } from '../src/metrics/builtin/builtin-provider.js';
import { PrometheusProvider } from '../src/metrics/prometheus/prometheus-provider.js';
import { PrometheusRequestCounters } from '../src/metrics/prometheus/request-counters.js';
import { promQuery, startPrometheusOrSkip, type PrometheusServer } from './support/prometheus.js';

interface ReleaseCounts { ok: number; failed: number; le: Record<string, number> }

/** The exposition text of the "pods" of web/prod (and of another service, which must not count). */
function exposition(gen: number, releases: Record<string, ReleaseCounts>): string {
  const lines = ['# TYPE gen gauge', `gen ${gen}`, '# TYPE http_requests_total counter', '# TYPE http_request_duration_seconds histogram'];
  const labels = (svc: string, release: string) => `gangway_io_service="${svc}",gangway_io_environment="prod",gangway_io_release="${release}"`;
  for (const [release, c] of Object.entries(releases)) {
    lines.push(`http_requests_total{${labels('web', release)},status="200"} ${c.ok}`);
    lines.push(`http_requests_total{${labels('web', release)},status="503"} ${c.failed}`);
    for (const [le, n] of Object.entries(c.le)) lines.push(`http_request_duration_seconds_bucket{${labels('web', release)},le="${le}"} ${n}`);
  }
  lines.push(`http_requests_total{${labels('api', '1.0.0')},status="500"} 999`);
  return `${lines.join('\n')}\n`;
}

let text = exposition(1, {});
let server: Server;
let prom: PrometheusServer | undefined;

beforeAll(async () => {
  const port = await freePort();
  server = createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(text);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  prom = await startPrometheusOrSkip('metrics.requests tests', { targets: [`127.0.0.1:${port}`], scrapeIntervalMs: 500 });
}, 60_000);

afterAll(async () => {
  await prom?.stop();
  await new Promise((resolve) => server?.close(resolve));
});

/** Serves the text of generation `gen` and waits until Prometheus has scraped it. */
async function publish(gen: number, releases: Record<string, ReleaseCounts>): Promise<void> {
  text = exposition(gen, releases);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const data = await promQuery(prom!.address, 'gen');
    const value = (data.result as Array<{ value: [number, string] }>)[0]?.value[1];
    if (value === String(gen)) return;
    if (Date.now() > deadline) throw new Error(`Prometheus did not scrape generation ${gen} within 60 s; its log:\n${prom!.log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('metrics.requests: builtin request metrics from Prometheus', () => {
  it('reads cumulative counters per release with the default queries, other services left out', async (ctx) => {
    if (!prom) return ctx.skip();
    await publish(1, {
      '1.0.0': { ok: 100, failed: 4, le: { '0.1': 80, '0.5': 100, '+Inf': 104 } },
      '2.0.0': { ok: 10, failed: 2, le: { '0.1': 5, '0.5': 9, '+Inf': 12 } },
    });
    const source = new PrometheusRequestCounters(new PrometheusProvider({ address: prom.address, timeoutMs: 5000 }), DEFAULTS.metrics.requests);
    expect(await source.counters('web', 'prod')).toEqual([
      { version: '1.0.0', total: 104, errors: 4, bounds: [0.1, 0.5], buckets: [80, 20, 4] },
      { version: '2.0.0', total: 12, errors: 2, bounds: [0.1, 0.5], buckets: [5, 4, 3] },
    ]);
    expect(await source.counters('web', 'staging')).toEqual([]);
  });

  it('gives the builtin provider exact windows: error rate and p95 of the requests between two readings', async (ctx) => {
    if (!prom) return ctx.skip();
    const source = new PrometheusRequestCounters(new PrometheusProvider({ address: prom.address, timeoutMs: 5000 }), DEFAULTS.metrics.requests);
    const clock = { t: 1_000_000, now() { return this.t; } };
    const provider = new BuiltinProvider(source, clock, { minIntervalMs: 0 });
    await publish(2, {
      '1.0.0': { ok: 200, failed: 0, le: { '0.1': 200, '0.5': 200, '+Inf': 200 } },
      '2.0.0': { ok: 30, failed: 10, le: { '0.1': 20, '0.5': 40, '+Inf': 40 } },
    });
    expect(await provider.sample('web', 'prod')).toBe(true);
    clock.t += 10_000;
    // 2.0.0 serves 20 more requests, 5 of them failing, 10 of the 20 slower than 0.1 s.
    await publish(3, {
      '1.0.0': { ok: 200, failed: 0, le: { '0.1': 200, '0.5': 200, '+Inf': 200 } },
      '2.0.0': { ok: 45, failed: 15, le: { '0.1': 30, '0.5': 60, '+Inf': 60 } },
    });
    const q = { service: 'web', environment: 'prod', version: '2.0.0', windowMs: 60_000, now: clock.t };
    expect(await provider.measure({ kind: 'builtin', metric: 'error_rate' }, q)).toEqual({ phase: 'ok', value: 5 / 20, samples: 20 });
    expect(await provider.measure({ kind: 'builtin', metric: 'request_rate' }, q)).toEqual({ phase: 'ok', value: 2, samples: 20 });
    // Half the window's requests above 0.1 s, all below 0.5 s: p95 interpolates in (0.1, 0.5].
    const p95 = await provider.measure({ kind: 'builtin', metric: 'p95_latency' }, q);
    expect(p95).toMatchObject({ phase: 'ok', samples: 20 });
    expect((p95 as { value: number }).value).toBeCloseTo(0.1 + 0.4 * (0.95 * 20 - 10) / 10, 12);
  });

  it('names the query when Prometheus rejects it, and the label when a series lacks it', async (ctx) => {
    if (!prom) return ctx.skip();
    const prometheus = new PrometheusProvider({ address: prom.address, timeoutMs: 5000 });
    const broken = new PrometheusRequestCounters(prometheus, { ...DEFAULTS.metrics.requests, errors: 'sum by (gangway_io_release) (http_requests_total{' });
    const err = await broken.counters('web', 'prod').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CountersReadError);
    expect((err as Error).message).toMatch(/^metrics\.requests\.errors: Prometheus at http:\/\/127\.0\.0\.1:\d+ rejected the query \(bad_data\): /);
    const unlabelled = new PrometheusRequestCounters(prometheus, { ...DEFAULTS.metrics.requests, total: 'sum(http_requests_total{gangway_io_service="${service}"})' });
    await expect(unlabelled.counters('web', 'prod')).rejects.toThrow('metrics.requests.total: a series has no gangway_io_release label ({}); group the query by it, e.g. sum by (gangway_io_release) (…)');
  });
});
