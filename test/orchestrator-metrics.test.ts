/**
 * End to end with a real Prometheus scraping the orchestrator's own /metrics.
 *
 * Given  an API server over a SQLite store holding a succeeded and a failed deployment, one
 *        step each, and two verdicts
 * And    Prometheus scraping its /metrics every second with the API token as bearer token
 * When   a scrape has happened
 * Then   the scrape is up (Prometheus parsed the text) and the counters, the histogram and
 *        the build info read back as stored.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/server/app.js';
import { OrchestratorMetrics, type PairSource } from '../src/engine/orchestrator-metrics.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store } from '../src/store/types.js';
import { FakeOrchestrator } from './support/fake-orchestrator.js';
import { startDaemon, type Daemon } from './support/daemon.js';
import { PROMETHEUS_BIN, PROMETHEUS_PACKAGE, hasPrometheus, promQuery } from './support/prometheus.js';
import { requireOrSkip } from './support/require.js';
import { freePort } from '../src/agent/ports.js';

const available = requireOrSkip('Orchestrator metrics with Prometheus (test/orchestrator-metrics.test.ts)', PROMETHEUS_PACKAGE, hasPrometheus());

const TOKEN = 'metrics-token-0123456789abcdef';
const T = Date.UTC(2025, 2, 4, 22, 0, 0);

describe.skipIf(!available)('Prometheus scrapes the orchestrator', () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  let prom: Daemon | undefined;
  let address = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gangway-own-metrics-'));
    store = openSqliteStore(join(dir, 'state.db'));
    await store.migrate();
    for (const [id, phase, ms] of [['d1', 'succeeded', 1200], ['d2', 'failed', 45_000]] as const) {
      await store.createDeployment({
        id, service: 'web', environment: 'prod', kind: 'deploy', version: id, image: null, actor: 'alice', reason: null,
        previousVersion: null, planHash: 'h', createdAt: T, steps: [{ type: 'analysis', title: 'analysis', params: {} }],
      });
      await store.transition({
        deploymentId: id, deployment: { phase, startedAt: T, finishedAt: T + ms },
        step: { idx: 0, patch: { status: phase, startedAt: T, finishedAt: T + ms } }, events: [],
      });
    }
    const v = { deploymentId: 'd2', at: T, stepIdx: 0, template: 'default', rule: 'error-rate', kind: 'threshold', verdict: 'fail' as const, reason: 'r', measurements: [] };
    await store.appendVerdicts([v, { ...v, verdict: 'pass' }]);
    const config = { file: 'gangway.yaml', serviceNames: ['web'], environments: [{ name: 'prod' }] } as unknown as PairSource;
    app = buildServer({
      orchestrator: new FakeOrchestrator({ services: { web: ['prod'] } }), token: TOKEN, version: '0.1.0',
      metrics: new OrchestratorMetrics({ store, config, version: '0.1.0' }),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const target = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    const promDir = join(dir, 'prometheus');
    const port = await freePort();
    const configFile = join(dir, 'prometheus.yml');
    await writeFile(configFile, [
      'global: { scrape_interval: 1s, scrape_timeout: 1s }',
      'scrape_configs:',
      '  - job_name: gangway',
      '    metrics_path: /metrics',
      `    authorization: { type: Bearer, credentials: ${JSON.stringify(TOKEN)} }`,
      `    static_configs: [{ targets: [${JSON.stringify(target)}] }]`,
      '',
    ].join('\n'));
    address = `http://127.0.0.1:${port}`;
    prom = await startDaemon({
      name: 'prometheus', bin: PROMETHEUS_BIN, dir: promDir, port, timeoutMs: 20_000, readyUrl: `${address}/-/ready`,
      args: [`--config.file=${configFile}`, `--storage.tsdb.path=${promDir}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    });
    // Wait for the first scrape.
    for (let i = 0; i < 100; i++) {
      const { result } = await promQuery(address, 'up{job="gangway"}');
      if ((result as unknown[]).length > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 40_000);

  afterAll(async () => {
    await prom?.stop(false);
    await app?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** One instant vector, as `labels → value` sorted by labels, with Prometheus's own job and instance labels dropped. */
  async function read(query: string): Promise<Array<[Record<string, string>, string]>> {
    const { result } = await promQuery(address, query);
    return (result as Array<{ metric: Record<string, string>; value: [number, string] }>).map(({ metric, value }) => {
      const { job: _job, instance: _instance, ...labels } = metric;
      return [labels, value[1]] as [Record<string, string>, string];
    }).sort((a, b) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0])));
  }

  it('parses the scrape and reads back counters, the histogram and the build info', async () => {
    expect(await read('up{job="gangway"}'), prom?.log()).toEqual([[{ __name__: 'up' }, '1']]);
    expect(await read('gangway_deployments_total{outcome=~"succeeded|failed"}')).toEqual([
      [{ __name__: 'gangway_deployments_total', service: 'web', environment: 'prod', outcome: 'failed' }, '1'],
      [{ __name__: 'gangway_deployments_total', service: 'web', environment: 'prod', outcome: 'succeeded' }, '1'],
    ]);
    expect(await read('gangway_step_duration_seconds_bucket{le=~"1|2.5|30|60"}')).toEqual([
      [{ __name__: 'gangway_step_duration_seconds_bucket', type: 'analysis', le: '1' }, '0'],
      [{ __name__: 'gangway_step_duration_seconds_bucket', type: 'analysis', le: '2.5' }, '1'],
      [{ __name__: 'gangway_step_duration_seconds_bucket', type: 'analysis', le: '30' }, '1'],
      [{ __name__: 'gangway_step_duration_seconds_bucket', type: 'analysis', le: '60' }, '2'],
    ]);
    expect(await read('gangway_step_duration_seconds_sum')).toEqual([[{ __name__: 'gangway_step_duration_seconds_sum', type: 'analysis' }, '46.2']]);
    expect(await read('sum by (verdict) (gangway_verdicts_total)')).toEqual([[{ verdict: 'fail' }, '1'], [{ verdict: 'pass' }, '1']]);
    expect(await read('gangway_build_info')).toEqual([[{ __name__: 'gangway_build_info', version: '0.1.0' }, '1']]);
  });
});

