/**
 * End to end with a real Prometheus: the local agent serves two releases of the fixture app
 * behind a weighted route, Prometheus scrapes the agent's /metrics every second, and the
 * runbooks' own PromQL, run through the Prometheus provider, tells the bad release from the
 * good one.
 *
 * Given  an agent running 1.0.0 (5% errors) and 2.0.0 (25% errors, 300 ms slower) at 50/50,
 *        and Prometheus scraping it
 * When   traffic flows
 * Then   the error-rate query gives each release's error rate and the p95 query puts 2.0.0
 *        in the (0.25 s, 0.35 s] bucket; a query over several series, a release without
 *        traffic and a stopped Prometheus give error, nodata and error.
 *
 * Exactness: rate() extrapolates each series by how far its first and last samples sit from
 * the window's ends. The queries run at the timestamp of a scrape taken after the traffic,
 * over a window starting 1 ms before a scrape taken before it, with every series already
 * present there; every series is then scaled by the same factor, so the ratios and the
 * quantile equal the ones computed from the agent's own counters.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgent, type RunningAgent } from '../src/agent/agent.js';
import { connectAgent, type AgentClient } from '../src/agent/client.js';
import { histogramQuantile } from '../src/core/histogram.js';
import { BuiltinProvider } from '../src/metrics/builtin/builtin-provider.js';
import { PrometheusProvider } from '../src/metrics/prometheus/prometheus-provider.js';
import type { MetricQuery } from '../src/metrics/provider.js';
import { appSpec, get, killHard, waitFor } from './fixtures/agent-helpers.js';
import { hasPrometheus, PROMETHEUS_PACKAGE, promQuery, startPrometheus, type PrometheusServer } from './support/prometheus.js';
import { requireOrSkip } from './support/require.js';
import { freePort } from '../src/agent/ports.js';

const available = requireOrSkip('Prometheus integration tests (test/prometheus.test.ts)', PROMETHEUS_PACKAGE, hasPrometheus());

const SERVICE = 'web';
const ENVIRONMENT = 'dev';
const STABLE = { version: '1.0.0', errorRate: 0.05 };
const CANARY = { version: '2.0.0', errorRate: 0.25, latencyMs: 300 };

/** The runbooks' queries, verbatim but for the service name. */
const ERROR_RATE = 'sum(rate(http_requests_total{service="web",version="${version}",status=~"5.."}[${window}])) / sum(rate(http_requests_total{service="web",version="${version}"}[${window}]))';
const P95 = 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{version="${version}"}[${window}])))';

type Counters = Awaited<ReturnType<AgentClient['counters']>>;

let stateDir: string;
let agent: RunningAgent;
let client: AgentClient;
let prom: PrometheusServer;
let provider: PrometheusProvider;
let builtin: BuiltinProvider;
/** Agent counters and the matching scrape timestamp, before and after the measured traffic. */
let before: { counters: Counters; at: number };
let after: { counters: Counters; at: number };


/** `n` requests through the public port, `concurrency` at a time; every answer must be 200 or the app's 500. */
async function send(port: number, n: number, concurrency = 24): Promise<void> {
  let left = n;
  const statuses = new Map<number, number>();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (left > 0) {
      left--;
      const { status } = await get(port, '/');
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  }));
  const unexpected = [...statuses.keys()].filter((s) => s !== 200 && s !== 500);
  if (unexpected.length > 0) throw new Error(`unexpected statuses through the proxy: ${JSON.stringify(Object.fromEntries(statuses))}`);
}

/** Waits for a scrape that shows exactly the agent's counters, and returns its timestamp (ms). */
async function scrapeShowing(counters: Counters): Promise<number> {
  const expected = new Map<string, number>();
  for (const c of counters) {
    expected.set(`${c.version} 2xx`, c.total - c.errors);
    expected.set(`${c.version} 5xx`, c.errors);
  }
  return waitFor(`a Prometheus scrape showing ${JSON.stringify(Object.fromEntries(expected))}`, async () => {
    const data = await promQuery(prom.address, `http_requests_total{service="${SERVICE}",environment="${ENVIRONMENT}"}[5s]`);
    const series = data.result as Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;
    if (series.length !== expected.size) return false;
    const stamps = new Set<number>();
    for (const s of series) {
      const [t, v] = s.values[s.values.length - 1]!;
      if (expected.get(`${s.metric.version} ${s.metric.status}`) !== Number(v)) return false;
      stamps.add(Math.round(t * 1000));
    }
    return stamps.size === 1 ? [...stamps][0]! : false;
  }, 15_000, 100);
}

function countersOf(counters: Counters, version: string): Counters[number] {
  const c = counters.find((x) => x.version === version);
  if (c === undefined) throw new Error(`no counters for ${version}`);
  return c;
}

/** What the window holds according to the agent: error rate and p95 of the measured traffic. */
function expectedOf(version: string): { errorRate: number; p95: number; total: number; quantile: (q: number) => number } {
  const a = countersOf(before.counters, version);
  const b = countersOf(after.counters, version);
  const total = b.total - a.total;
  const cumulative: number[] = [];
  let sum = 0;
  for (let i = 0; i < b.buckets.length; i++) cumulative.push((sum += b.buckets[i]! - a.buckets[i]!));
  const quantile = (q: number) => histogramQuantile(Math.min(q, 1), b.bounds, cumulative);
  return { errorRate: (b.errors - a.errors) / total, p95: quantile(0.95), total, quantile };
}

/**
 * Where Prometheus's p95 of the window must lie. rate() stretches a series' increase from the
 * sampled interval T to the window T + 1 ms, except a series whose first sample is 0 (a bucket
 * nothing fell into before the window): it is taken to start at zero and is not stretched. Every
 * summed bucket is thus the agent's count times a factor in [1, F], F = (T + 1 ms) / T, so the
 * share below any bound is within a factor F of the agent's, and the p95 lies between the agent's
 * quantiles at 0.95 / F and 0.95 · F.
 */
function p95Range(version: string): [number, number] {
  const span = after.at - before.at;
  const f = (span + 1) / span;
  const { quantile } = expectedOf(version);
  return [quantile(0.95 / f), quantile(0.95 * f)];
}

/** The query of the measured window: evaluated at the closing scrape, starting just before the opening one. */
function windowQuery(version: string): MetricQuery {
  return { service: SERVICE, environment: ENVIRONMENT, version, now: after.at, windowMs: after.at - before.at + 1 };
}

describe.skipIf(!available)('Prometheus provider against a real Prometheus scraping the agent', () => {
  beforeAll(async () => {
    // Given an agent serving two releases at 50/50 …
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-prom-'));
    agent = await runAgent({ stateDir, metricsPort: 0, handleSignals: false, exitProcess: false, supervisor: { killTimeoutMs: 1000 } });
    client = connectAgent(stateDir);
    await client.scale(appSpec({ version: STABLE.version, env: { ERROR_RATE: String(STABLE.errorRate) } }), 1, 0);
    await client.scale(appSpec({ version: CANARY.version, env: { ERROR_RATE: String(CANARY.errorRate), LATENCY_MS: String(CANARY.latencyMs) } }), 1, 0);
    await waitFor('both releases ready', async () => {
      const st = await client.state();
      return [STABLE.version, CANARY.version].every((v) => st.instances.some((i) => i.version === v && i.state === 'ready'));
    });
    const port = await freePort();
    await client.setRoute({ service: SERVICE, environment: ENVIRONMENT, host: '127.0.0.1', port, preview: null,
      versions: [{ version: STABLE.version, weight: 50 }, { version: CANARY.version, weight: 50 }] });
    // … and Prometheus scraping its metrics listener every second.
    prom = await startPrometheus({ targets: [`127.0.0.1:${agent.metricsPort}`], scrapeIntervalMs: 1000 });
    provider = new PrometheusProvider({ address: prom.address, timeoutMs: 5000 });
    builtin = new BuiltinProvider(client);

    // Warm-up: every series (both releases, 2xx and 5xx) exists before the measured window opens.
    await waitFor('a 2xx and a 5xx answer of each release', async () => {
      await send(port, 40);
      const cs = await client.counters(SERVICE, ENVIRONMENT);
      return [STABLE.version, CANARY.version].every((v) => { const c = cs.find((x) => x.version === v); return c !== undefined && c.errors > 0 && c.total > c.errors; });
    }, 20_000, 0);
    const warm = await client.counters(SERVICE, ENVIRONMENT);
    before = { counters: warm, at: await scrapeShowing(warm) };
    expect(await builtin.sample(SERVICE, ENVIRONMENT)).toBe(true);

    // When traffic flows …
    await send(port, 300);
    const done = await client.counters(SERVICE, ENVIRONMENT);
    after = { counters: done, at: await scrapeShowing(done) };
  });

  afterAll(async () => {
    await prom?.stop();
    const pids = client ? (await client.state().catch(() => ({ instances: [] }))).instances.map((i) => i.pid) : [];
    await agent?.shutdown().catch(() => {});
    for (const pid of pids) if (pid) killHard(pid);
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it("the runbook's error-rate query gives each release's error rate", async () => {
    for (const { version, errorRate } of [STABLE, CANARY]) {
      const expected = expectedOf(version);
      expect(expected.total).toBeGreaterThan(50);
      const r = await provider.measure({ kind: 'prometheus', query: ERROR_RATE }, windowQuery(version));
      expect(r.phase).toBe('ok');
      if (r.phase !== 'ok') return;
      expect(r.value).toBeCloseTo(expected.errorRate, 9);
      // The app fails every k-th request, so the window's share is the configured rate up to one request.
      expect(Math.abs(r.value - errorRate)).toBeLessThanOrEqual(1 / expected.total + 1e-9);
      expect(r.samples).toBeNull();
    }
  });

  it('the builtin provider agrees with Prometheus on the same traffic', async () => {
    for (const { version } of [STABLE, CANARY]) {
      const r = await builtin.measure({ kind: 'builtin', metric: 'error_rate' }, { service: SERVICE, environment: ENVIRONMENT, version, windowMs: 600_000, now: Date.now() });
      expect(r).toEqual({ phase: 'ok', value: expectedOf(version).errorRate, samples: expectedOf(version).total });
    }
  });

  it("the runbook's p95 query gives each release's p95, the slow release above 0.25 s and above the fast one", async () => {
    const slow = await provider.measure({ kind: 'prometheus', query: P95 }, windowQuery(CANARY.version));
    const fast = await provider.measure({ kind: 'prometheus', query: P95 }, windowQuery(STABLE.version));
    expect([slow.phase, fast.phase]).toEqual(['ok', 'ok']);
    if (slow.phase !== 'ok' || fast.phase !== 'ok') return;
    for (const [version, value] of [[CANARY.version, slow.value], [STABLE.version, fast.value]] as const) {
      const [low, high] = p95Range(version);
      expect(value).toBeGreaterThanOrEqual(low);
      expect(value).toBeLessThanOrEqual(high);
    }
    // Every answer of the slow release takes its 300 ms or more (more on a loaded machine, so no upper bound here).
    expect(slow.value).toBeGreaterThan(0.25);
    expect(fast.value).toBeLessThan(slow.value);
  });

  it('a query over several series is an error naming how many and which', async () => {
    const r = await provider.measure({ kind: 'prometheus', query: 'sum by (version) (rate(http_requests_total{service="web"}[${window}]))' }, windowQuery(CANARY.version));
    expect(r).toEqual({
      phase: 'error',
      detail: 'query returned 2 series, expected one: {version="1.0.0"}, {version="2.0.0"}; aggregate them into one, e.g. sum(...) or sum by (...) with labels the query fixes',
    });
  });

  it('a release without traffic is nodata', async () => {
    expect(await provider.measure({ kind: 'prometheus', query: ERROR_RATE }, windowQuery('3.0.0'))).toEqual({ phase: 'nodata', detail: 'query returned no series' });
  });

  it('a stopped Prometheus is an error saying the connection was refused', async () => {
    await prom.stop();
    expect(await provider.measure({ kind: 'prometheus', query: ERROR_RATE }, windowQuery(CANARY.version))).toEqual({
      phase: 'error', detail: `cannot reach Prometheus at ${prom.address}: connection refused (ECONNREFUSED)`,
    });
  });
});
