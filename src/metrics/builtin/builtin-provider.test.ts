import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS, RequestMetrics } from '../../agent/request-metrics.js';
import type { BuiltinMetric } from '../../config/types.js';
import type { MetricQuery } from '../provider.js';
import { BuiltinProvider, type CountersSource } from './builtin-provider.js';

/** The agent's counters over a real RequestMetrics; `restart()` starts counting from zero like a restarted agent. */
class FakeAgent implements CountersSource {
  metrics = new RequestMetrics();
  calls = 0;
  down = false;
  async counters(service: string, environment: string) {
    this.calls++;
    if (this.down) throw new Error('the local agent is not running');
    return this.metrics.counters(service, environment);
  }
  restart(): void { this.metrics = new RequestMetrics(); }
  send(version: string, n: number, opts: { errors?: number; seconds?: number } = {}): void {
    for (let i = 0; i < n; i++) this.metrics.record('web', 'prod', version, i < (opts.errors ?? 0) ? 500 : 200, opts.seconds ?? 0.02);
  }
}

function setup() {
  const agent = new FakeAgent();
  const clock = { t: 1_000_000, now() { return this.t; } };
  const provider = new BuiltinProvider(agent, clock);
  const q = (version: string, windowMs = 60_000): MetricQuery => ({ service: 'web', environment: 'prod', version, windowMs, now: clock.t });
  const measure = (metric: BuiltinMetric, version: string, windowMs?: number) => provider.measure({ kind: 'builtin', metric }, q(version, windowMs));
  const advance = (ms: number) => { clock.t += ms; };
  return { agent, clock, provider, q, measure, advance };
}

describe('BuiltinProvider', () => {
  it('answers nodata on the very first reading: a window needs an earlier one', async () => {
    const { agent, measure } = setup();
    agent.send('2.0.0', 10);
    expect(await measure('error_rate', '2.0.0')).toEqual({
      phase: 'nodata', detail: "first reading of the agent's counters for web/prod: a window needs an earlier one (the next measurement has it)",
    });
  });

  it('counts a version younger than the baseline from zero: its whole cumulative count is the window', async () => {
    const { agent, provider, measure, advance } = setup();
    agent.send('1.0.0', 500, { errors: 100 });
    expect(await provider.sample('web', 'prod')).toBe(true);
    advance(10_000);
    agent.send('2.0.0', 40, { errors: 2 });
    agent.send('1.0.0', 20);
    expect(await measure('error_rate', '2.0.0')).toEqual({ phase: 'ok', value: 2 / 40, samples: 40 });
    expect(await measure('request_rate', '2.0.0')).toEqual({ phase: 'ok', value: 4, samples: 40 });
    // 1.0.0 was in the baseline: only its 20 newer requests count, none failed.
    expect(await measure('error_rate', '1.0.0')).toEqual({ phase: 'ok', value: 0, samples: 20 });
    expect(await measure('request_rate', '1.0.0')).toEqual({ phase: 'ok', value: 2, samples: 20 });
  });

  it('takes the reading closest to the window start as the baseline', async () => {
    const { agent, provider, measure, advance } = setup();
    // Readings at 0 s, 50 s and 100 s, with 10, 30 and 60 requests (6, 3, 0 failing) before each.
    agent.send('2.0.0', 10, { errors: 6 });
    await provider.sample('web', 'prod');
    advance(50_000);
    agent.send('2.0.0', 30, { errors: 3 });
    await provider.sample('web', 'prod');
    advance(50_000);
    agent.send('2.0.0', 60);
    // A 60 s window starts at 40 s: the 50 s reading is closest, so the window holds the last 60 requests.
    expect(await measure('error_rate', '2.0.0', 60_000)).toEqual({ phase: 'ok', value: 0, samples: 60 });
    expect(await measure('request_rate', '2.0.0', 60_000)).toEqual({ phase: 'ok', value: 60 / 50, samples: 60 });
    // A 100 s window starts at the first reading.
    expect(await measure('error_rate', '2.0.0', 100_000)).toEqual({ phase: 'ok', value: 3 / 90, samples: 90 });
  });

  it('computes latency quantiles from the window only, not from older requests', async () => {
    const { agent, provider, measure, advance } = setup();
    agent.send('2.0.0', 100, { seconds: 4 });
    await provider.sample('web', 'prod');
    advance(30_000);
    // 100 newer requests: 50 in (0.025, 0.05], 50 in (0.25, 0.35].
    agent.send('2.0.0', 50, { seconds: 0.03 });
    agent.send('2.0.0', 50, { seconds: 0.3 });
    const p50 = await measure('p50_latency', '2.0.0');
    const p95 = await measure('p95_latency', '2.0.0');
    const p99 = await measure('p99_latency', '2.0.0');
    expect([p50.phase, p95.phase, p99.phase]).toEqual(['ok', 'ok', 'ok']);
    if (p50.phase !== 'ok' || p95.phase !== 'ok' || p99.phase !== 'ok') return;
    expect(p50.value).toBeCloseTo(0.05, 12); // rank 50 ends the (0.025, 0.05] bucket
    expect(p95.value).toBeCloseTo(0.25 + 0.1 * (45 / 50), 12);
    expect(p99.value).toBeCloseTo(0.25 + 0.1 * (49 / 50), 12);
    expect(p95.samples).toBe(100);
  });

  it('treats counters that went down (the agent restarted) as a fresh start, never negative', async () => {
    const { agent, provider, measure, advance } = setup();
    agent.send('2.0.0', 100, { errors: 50 });
    await provider.sample('web', 'prod');
    advance(10_000);
    agent.send('2.0.0', 20, { errors: 10 });
    await provider.sample('web', 'prod');
    advance(10_000);
    agent.restart();
    agent.send('2.0.0', 30, { errors: 3 });
    // Over the 20 s since the first reading: 20 requests before the restart and 30 after.
    expect(await measure('error_rate', '2.0.0', 20_000)).toEqual({ phase: 'ok', value: 13 / 50, samples: 50 });
    const w = await provider.requestWindow({ service: 'web', environment: 'prod', version: '2.0.0', windowMs: 20_000, now: 1_020_000 });
    expect(w).toMatchObject({ total: 50, errors: 13 });
    if (!('phase' in w)) expect(w.buckets.every((n) => n >= 0)).toBe(true);
  });

  it('answers nodata for no requests in the window, but a request rate of 0 for a known version', async () => {
    const { agent, provider, measure, advance } = setup();
    agent.send('2.0.0', 10);
    await provider.sample('web', 'prod');
    advance(30_000);
    expect(await measure('error_rate', '2.0.0', 30_000)).toEqual({ phase: 'nodata', detail: 'no requests to web/prod version 2.0.0 in the last 30s' });
    expect(await measure('p95_latency', '2.0.0', 30_000)).toEqual({ phase: 'nodata', detail: 'no requests to web/prod version 2.0.0 in the last 30s' });
    expect(await measure('request_rate', '2.0.0', 30_000)).toEqual({ phase: 'ok', value: 0, samples: 0 });
    expect(await measure('request_rate', '3.0.0', 30_000)).toEqual({ phase: 'nodata', detail: 'no requests recorded for web/prod version 3.0.0 yet' });
  });

  it('gives raw request windows for the judge, total 0 for a release without requests', async () => {
    const { agent, provider, q, advance } = setup();
    await provider.sample('web', 'prod');
    advance(5_000);
    agent.send('2.0.0', 4, { errors: 1, seconds: 0.0005 });
    agent.send('2.0.0', 1, { seconds: 30 });
    const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
    buckets[0] = 4;
    buckets[DURATION_BUCKETS.length] = 1;
    expect(await provider.requestWindow(q('2.0.0'))).toEqual({ total: 5, errors: 1, bounds: DURATION_BUCKETS, buckets });
    expect(await provider.requestWindow(q('9.0.0'))).toEqual({ total: 0, errors: 0, bounds: [], buckets: [0] });
  });

  it('answers error when the agent cannot be read, and sample() says so without throwing', async () => {
    const { agent, provider, measure } = setup();
    agent.down = true;
    expect(await provider.sample('web', 'prod')).toBe(false);
    expect(await measure('error_rate', '2.0.0')).toEqual({ phase: 'error', detail: "cannot read the local agent's request counters: the local agent is not running" });
    expect(await provider.requestWindow({ service: 'web', environment: 'prod', version: '2.0.0', windowMs: 1000, now: 0 }))
      .toEqual({ phase: 'error', detail: "cannot read the local agent's request counters: the local agent is not running" });
  });

  it('asks the agent once for many measurements within the minimum interval, and shares a request in flight', async () => {
    const { agent, provider, measure, advance } = setup();
    await provider.sample('web', 'prod');
    expect(agent.calls).toBe(1);
    advance(5_000);
    agent.send('2.0.0', 10);
    await Promise.all([measure('error_rate', '2.0.0'), measure('p95_latency', '2.0.0'), measure('error_rate', '1.0.0')]);
    expect(agent.calls).toBe(2);
    advance(999);
    await measure('request_rate', '2.0.0');
    expect(agent.calls).toBe(2);
    advance(1);
    await measure('request_rate', '2.0.0');
    expect(agent.calls).toBe(3);
  });

  it('keeps (service, environment) pairs apart', async () => {
    const { agent, provider, advance, clock } = setup();
    await provider.sample('web', 'prod');
    await provider.sample('web', 'staging');
    advance(10_000);
    agent.send('2.0.0', 10, { errors: 10 });
    agent.metrics.record('web', 'staging', '2.0.0', 200, 0.01);
    const r = await provider.measure({ kind: 'builtin', metric: 'error_rate' }, { service: 'web', environment: 'staging', version: '2.0.0', windowMs: 60_000, now: clock.t });
    expect(r).toEqual({ phase: 'ok', value: 0, samples: 1 });
  });
});
