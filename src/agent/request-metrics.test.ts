import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS, RequestMetrics } from './request-metrics.js';

describe('RequestMetrics', () => {
  it('renders counters and cumulative histograms in Prometheus text format', () => {
    const m = new RequestMetrics();
    m.record('web', 'prod', 'v1', 200, 0.003);
    m.record('web', 'prod', 'v1', 204, 0.02);
    m.record('web', 'prod', 'v1', 503, 12);
    const text = m.render();
    const lines = text.split('\n');
    expect(lines.slice(0, 4)).toEqual([
      '# HELP http_requests_total Requests answered through the Gangway proxy.',
      '# TYPE http_requests_total counter',
      'http_requests_total{service="web",environment="prod",version="v1",status="2xx"} 2',
      'http_requests_total{service="web",environment="prod",version="v1",status="5xx"} 1',
    ]);
    expect(lines[5]).toBe('# TYPE http_request_duration_seconds histogram');
    const ok = lines.filter((l) => l.startsWith('http_request_duration_seconds') && l.includes('status="2xx"'));
    expect(ok).toEqual([
      ...['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.075', '0.1', '0.15', '0.25', '0.35', '0.5', '0.75', '1', '1.5', '2', '2.5', '5', '10']
        .map((le, i) => `http_request_duration_seconds_bucket{service="web",environment="prod",version="v1",status="2xx",le="${le}"} ${i < 2 ? 0 : i < 4 ? 1 : 2}`),
      'http_request_duration_seconds_bucket{service="web",environment="prod",version="v1",status="2xx",le="+Inf"} 2',
      'http_request_duration_seconds_sum{service="web",environment="prod",version="v1",status="2xx"} 0.023',
      'http_request_duration_seconds_count{service="web",environment="prod",version="v1",status="2xx"} 2',
    ]);
    expect(text).toContain('http_request_duration_seconds_bucket{service="web",environment="prod",version="v1",status="5xx",le="10"} 0\n');
    expect(text).toContain('http_request_duration_seconds_bucket{service="web",environment="prod",version="v1",status="5xx",le="+Inf"} 1\n');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('escapes backslashes, quotes and newlines in label values', () => {
    const m = new RequestMetrics();
    m.record('a"b', 'c\\d', 'e\nf', 200, 0.001);
    expect(m.render()).toContain('http_requests_total{service="a\\"b",environment="c\\\\d",version="e\\nf",status="2xx"} 1');
  });

  it('snapshots totals by status class and quantiles interpolated within buckets', () => {
    const m = new RequestMetrics();
    // 100 requests of v2: 50 in (0, 0.001], 40 in (0.01, 0.025], 10 in (0.25, 0.35]; ten of them 5xx.
    for (let i = 0; i < 50; i++) m.record('web', 'prod', 'v2', 200, 0.001);
    for (let i = 0; i < 40; i++) m.record('web', 'prod', 'v2', i < 10 ? 500 : 201, 0.02);
    for (let i = 0; i < 10; i++) m.record('web', 'prod', 'v2', 302, 0.3);
    m.record('web', 'prod', 'v1', 200, 0.07);
    m.record('web', 'staging', 'v9', 200, 0.07);
    const snap = m.snapshot('web', 'prod');
    expect(snap.map((s) => s.version)).toEqual(['v2', 'v1']);
    const v2 = snap[0]!;
    expect([v2.total, v2.byStatus]).toEqual([100, { '2xx': 80, '3xx': 10, '5xx': 10 }]);
    // rank 50 ends the first bucket exactly; rank 95 is half-way through the (0.25, 0.35] bucket; rank 99 is 9/10 of it.
    expect(v2.p50).toBeCloseTo(0.001, 12);
    expect(v2.p95).toBeCloseTo(0.3, 12);
    expect(v2.p99).toBeCloseTo(0.34, 12);
    // One request in (0.05, 0.075]: every quantile interpolates inside that bucket.
    expect([snap[1]!.p50, snap[1]!.p99].map((x) => Number(x.toFixed(6)))).toEqual([0.0625, 0.07475]);
    expect(m.snapshot('api', 'prod')).toEqual([]);
  });

  it('answers the highest finite bound for a rank in the +Inf bucket, like histogram_quantile', () => {
    const m = new RequestMetrics();
    m.record('web', 'prod', 'v1', 200, 30);
    expect(m.snapshot('web', 'prod')[0]!.p99).toBe(10);
  });

  it('has a bucket bound at exactly 2 s, so "P95 > 2 s" needs no interpolation across it', () => {
    expect(DURATION_BUCKETS).toContain(2);
    expect([...DURATION_BUCKETS]).toEqual([...DURATION_BUCKETS].sort((a, b) => a - b));
  });

  it('gives cumulative raw counters per version: requests, 5xx, and non-cumulative buckets with +Inf', () => {
    const m = new RequestMetrics();
    m.record('web', 'prod', 'v2', 200, 0.0005);
    m.record('web', 'prod', 'v2', 500, 0.3);
    m.record('web', 'prod', 'v2', 503, 30);
    m.record('web', 'prod', 'v2', 404, 0.0005);
    m.record('web', 'prod', 'v1', 200, 2);
    m.record('web', 'staging', 'v2', 500, 0.1);
    const counters = m.counters('web', 'prod');
    const bucketOf = (s: number) => DURATION_BUCKETS.findIndex((b) => s <= b);
    const expectedV2 = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
    expectedV2[bucketOf(0.0005)] = 2;
    expectedV2[bucketOf(0.3)] = 1;
    expectedV2[DURATION_BUCKETS.length] = 1;
    const expectedV1 = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
    expectedV1[bucketOf(2)] = 1;
    expect(counters).toEqual([
      { version: 'v2', total: 4, errors: 2, bounds: DURATION_BUCKETS, buckets: expectedV2 },
      { version: 'v1', total: 1, errors: 0, bounds: DURATION_BUCKETS, buckets: expectedV1 },
    ]);
    // A reading is a copy: later requests do not change it.
    m.record('web', 'prod', 'v1', 200, 2);
    expect(counters[1]!.total).toBe(1);
    expect(m.counters('web', 'prod')[1]!.buckets[bucketOf(2)]).toBe(2);
    expect(m.counters('api', 'prod')).toEqual([]);
  });
});
