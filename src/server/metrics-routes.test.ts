import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './app.js';
import { FakeOrchestrator } from '../../test/support/fake-orchestrator.js';
import type { MetricsSource } from '../engine/orchestrator-metrics.js';
import type { DoraMetrics } from '../engine/dora.js';
import { NotFoundError } from '../errors.js';

const TOKEN = 'test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const TEXT = '# HELP gangway_build_info Always 1.\n# TYPE gangway_build_info gauge\ngangway_build_info{version="9.9.9"} 1\n';
const ENTRY: DoraMetrics = {
  service: 'web', environment: 'prod', period: { days: 7, from: 0, to: 7 * 86_400_000 },
  deploymentFrequency: { count: 7, perDay: 1 }, leadTime: { count: 0, medianMs: null, p90Ms: null },
  changeFailureRate: { failed: 0, total: 7, rate: 0 }, timeToRestore: { count: 0, medianMs: null },
};

/** A working stand-in for the store-backed source: answers fixed figures and remembers the queries. */
class FixedMetrics implements MetricsSource {
  readonly queries: Array<Parameters<MetricsSource['dora']>[0]> = [];
  async scrape() { return TEXT; }
  async dora(q: Parameters<MetricsSource['dora']>[0]) {
    this.queries.push(q);
    if (q.service === 'nope') throw new NotFoundError('unknown service "nope"', 'did you mean "web"?');
    return [ENTRY];
  }
}

let fake: FakeOrchestrator;
let metrics: FixedMetrics;
let app: FastifyInstance;

beforeEach(() => {
  fake = new FakeOrchestrator({ services: { web: ['dev', 'prod'] } });
  metrics = new FixedMetrics();
  app = buildServer({ orchestrator: fake, token: TOKEN, version: '9.9.9', metrics });
});
afterEach(async () => { await app.close(); });

describe('GET /metrics', () => {
  it('answers the Prometheus text format with its content type', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: auth });
    expect([res.statusCode, res.headers['content-type'], res.headers['cache-control'], res.body])
      .toEqual([200, 'text/plain; version=0.0.4; charset=utf-8', 'no-store', TEXT]);
  });
});

describe('GET /v1/dora', () => {
  it('passes service, environment and days on and answers the array', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/dora?service=web&environment=prod&days=7&extra=1', headers: auth });
    expect([res.statusCode, res.json()]).toEqual([200, [ENTRY]]);
    expect(metrics.queries).toEqual([{ service: 'web', environment: 'prod', days: 7 }]);
  });

  it('leaves what the query omits to the source (30 days by default)', async () => {
    await app.inject({ method: 'GET', url: '/v1/dora', headers: auth });
    expect(metrics.queries).toEqual([{}]);
  });

  it('refuses a malformed period with 400 naming the field', async () => {
    const bad = async (days: string) => {
      const res = await app.inject({ method: 'GET', url: `/v1/dora?days=${days}`, headers: auth });
      const { error } = res.json() as { error: { code: string; message: string } };
      return [res.statusCode, error.code, error.message];
    };
    expect(await bad('0')).toEqual([400, 'invalid_argument', 'days: must be at least 1']);
    expect(await bad('367')).toEqual([400, 'invalid_argument', 'days: must be at most 366']);
    expect(await bad('1.5')).toEqual([400, 'invalid_argument', 'days: must be a whole number']);
    expect(metrics.queries).toEqual([]);
  });

  it('answers 404 for an unknown service', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/dora?service=nope', headers: auth });
    expect([res.statusCode, res.json()]).toEqual([404, { error: { code: 'not_found', message: 'unknown service "nope"', hint: 'did you mean "web"?' } }]);
  });

  it('needs the API token', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/dora' });
    expect(res.statusCode).toBe(401);
  });
});

describe('routes and document', () => {
  it('lists both routes in the OpenAPI document, and has neither without a source', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json', headers: auth })).json() as { paths: Record<string, unknown> };
    expect([Object.keys(doc.paths).includes('/metrics'), Object.keys(doc.paths).includes('/v1/dora')]).toEqual([true, true]);
    const bare = buildServer({ orchestrator: fake, token: TOKEN, version: '9.9.9' });
    try {
      const res = await bare.inject({ method: 'GET', url: '/v1/dora', headers: auth });
      expect(res.statusCode).toBe(404);
      const bareDoc = (await bare.inject({ method: 'GET', url: '/openapi.json', headers: auth })).json() as { paths: Record<string, unknown> };
      expect(Object.keys(bareDoc.paths).includes('/v1/dora')).toBe(false);
    } finally {
      await bare.close();
    }
  });
});

describe('POST /v1/deployments commitTime', () => {
  const deploy = (commitTime: unknown) => app.inject({
    method: 'POST', url: '/v1/deployments', headers: auth, payload: { service: 'web', environment: 'dev', version: '1.0.0', commitTime },
  });

  it('takes epoch milliseconds or an ISO 8601 date-time with a zone, as epoch ms', async () => {
    expect((await deploy(1_741_126_500_000)).statusCode).toBe(201);
    expect((await deploy('2025-03-04T23:15:00+01:00')).statusCode).toBe(201);
    expect(fake.calls.filter(([what]) => what === 'deploy').map(([, req]) => (req as { commitTime?: number }).commitTime))
      .toEqual([1_741_126_500_000, 1_741_126_500_000]);
  });

  it('refuses seconds, dates without a time or zone, and other types, naming the field', async () => {
    const message = 'commitTime: must be epoch milliseconds (not seconds) or an ISO 8601 date-time with a zone, e.g. 2025-03-04T22:15:00Z';
    for (const value of [1_741_126_500, '2025-03-04', '2025-03-04T22:15:00', 'yesterday', 1.5e12 + 0.5, true]) {
      const res = await deploy(value);
      expect([value, res.statusCode, (res.json() as { error: { message: string } }).error.message]).toEqual([value, 400, message]);
    }
    expect(fake.calls.filter(([what]) => what === 'deploy')).toEqual([]);
  });
});
