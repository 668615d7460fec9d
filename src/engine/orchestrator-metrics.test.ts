import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GangwayError } from '../errors.js';
import { NotFoundError } from '../errors.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { NewDeployment, Store, StoreMetricsSummary } from '../store/types.js';
import type { Clock } from './clock.js';
import { DAY_MS } from './dora.js';
import { FINAL, closeWorlds, given, until } from '../../test/support/engine-world.js';
import { OrchestratorMetrics, escapeLabelValue, renderMetrics, type PairSource } from './orchestrator-metrics.js';

const CONFIG = { file: '/srv/shop/gangway.yaml', serviceNames: ['web'], environments: [{ name: 'dev' }, { name: 'prod' }] } as unknown as PairSource;
const PAIRS = [{ service: 'web', environment: 'dev' }, { service: 'web', environment: 'prod' }];
const NOW = Date.UTC(2025, 2, 31, 12, 0, 0);
const clock: Clock = { now: () => NOW, sleep: () => Promise.resolve() };

/** Zero-filled lines of one configured pair, in output order per family. */
function pairLines(service: string, environment: string, counts: Record<string, number> = {}) {
  const l = `service="${service}",environment="${environment}"`;
  return {
    phases: ['queued', 'waiting', 'running', 'paused', 'rolling_back'].map((p) => `gangway_deployments{${l},phase="${p}"} ${counts[p] ?? 0}`),
    outcomes: ['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'].map((o) => `gangway_deployments_total{${l},outcome="${o}"} ${counts[o] ?? 0}`),
    queue: [`gangway_queue_depth{${l}} ${counts.queued ?? 0}`],
  };
}

const HEADERS = {
  build: ['# HELP gangway_build_info Always 1; the version label says which Gangway is running.', '# TYPE gangway_build_info gauge'],
  phases: ['# HELP gangway_deployments Deployments now in each unfinished phase, per service and environment.', '# TYPE gangway_deployments gauge'],
  outcomes: ['# HELP gangway_deployments_total Deployments that ended, per service, environment and outcome.', '# TYPE gangway_deployments_total counter'],
  queue: ['# HELP gangway_queue_depth Deployments queued behind the active one, per service and environment.', '# TYPE gangway_queue_depth gauge'],
  steps: ['# HELP gangway_step_duration_seconds How long finished steps took, per step type.', '# TYPE gangway_step_duration_seconds histogram'],
  verdicts: ['# HELP gangway_verdicts_total Analysis verdicts, per template, rule and verdict.', '# TYPE gangway_verdicts_total counter'],
};

describe('renderMetrics', () => {
  it('writes every family, zero-filled for configured pairs, with the histogram cumulative and ending in +Inf', () => {
    const atMost = [0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2];
    const summary: StoreMetricsSummary = {
      deployments: [
        { service: 'web', environment: 'prod', phase: 'running', count: 1 },
        { service: 'web', environment: 'prod', phase: 'queued', count: 2 },
        { service: 'web', environment: 'prod', phase: 'succeeded', count: 7 },
        { service: 'web', environment: 'dev', phase: 'rolled_back', count: 3 },
        // No longer configured: only its non-zero series remain.
        { service: 'legacy', environment: 'prod', phase: 'succeeded', count: 4 },
      ],
      steps: [
        { type: 'switch', count: 2, sumMs: 1250, atMost },
        { type: 'analysis', count: 1, sumMs: 300_000.4, atMost: [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1] },
      ],
      verdicts: [{ template: 'default', rule: 'error-rate', verdict: 'fail', count: 5 }, { template: 'default', rule: 'error-rate', verdict: 'pass', count: 9 }],
    };
    const dev = pairLines('web', 'dev', { rolled_back: 3 });
    const prod = pairLines('web', 'prod', { running: 1, queued: 2, succeeded: 7 });
    const bounds = ['0.1', '0.5', '1', '2.5', '5', '10', '30', '60', '120', '300', '600', '1800', '3600'];
    expect(renderMetrics(summary, { pairs: PAIRS, version: '0.1.0' })).toBe([
      ...HEADERS.build, 'gangway_build_info{version="0.1.0"} 1',
      ...HEADERS.phases, ...dev.phases, ...prod.phases,
      ...HEADERS.outcomes, 'gangway_deployments_total{service="legacy",environment="prod",outcome="succeeded"} 4', ...dev.outcomes, ...prod.outcomes,
      ...HEADERS.queue, ...dev.queue, ...prod.queue,
      ...HEADERS.steps,
      ...bounds.map((le, i) => `gangway_step_duration_seconds_bucket{type="analysis",le="${le}"} ${i >= 9 ? 1 : 0}`),
      'gangway_step_duration_seconds_bucket{type="analysis",le="+Inf"} 1',
      'gangway_step_duration_seconds_sum{type="analysis"} 300',
      'gangway_step_duration_seconds_count{type="analysis"} 1',
      ...bounds.map((le, i) => `gangway_step_duration_seconds_bucket{type="switch",le="${le}"} ${atMost[i]}`),
      'gangway_step_duration_seconds_bucket{type="switch",le="+Inf"} 2',
      'gangway_step_duration_seconds_sum{type="switch"} 1.25',
      'gangway_step_duration_seconds_count{type="switch"} 2',
      ...HEADERS.verdicts,
      'gangway_verdicts_total{template="default",rule="error-rate",verdict="fail"} 5',
      'gangway_verdicts_total{template="default",rule="error-rate",verdict="pass"} 9',
      '',
    ].join('\n'));
  });

  it('escapes backslashes, quotes and newlines in label values', () => {
    expect(escapeLabelValue('a\\b "c"\nd')).toBe('a\\\\b \\"c\\"\\nd');
    const text = renderMetrics({ deployments: [], steps: [], verdicts: [{ template: 't"1', rule: 'r\\x', verdict: 'pass', count: 1 }] }, { pairs: [], version: '1' });
    expect(text.split('\n').at(-2)).toBe('gangway_verdicts_total{template="t\\"1",rule="r\\\\x",verdict="pass"} 1');
  });
});

describe('OrchestratorMetrics over a store', () => {
  let dir: string;
  let store: Store;
  let metrics: OrchestratorMetrics;
  let n = 0;

  const deployment = (over: Partial<NewDeployment> = {}): NewDeployment => ({
    id: `d${++n}`, service: 'web', environment: 'prod', kind: 'deploy', version: `1.0.${n}`, image: null, actor: 'alice', reason: null,
    previousVersion: null, planHash: 'h', createdAt: NOW - 2 * DAY_MS, steps: [{ type: 'switch', title: 'switch', params: {} }], ...over,
  });

  /** Creates a deployment that started and ended `ago` ms before now with `phase`. */
  async function ended(phase: 'succeeded' | 'failed', ago: number, over: Partial<NewDeployment> = {}): Promise<string> {
    const d = await store.createDeployment(deployment(over));
    await store.transition({
      deploymentId: d.id, deployment: { phase, startedAt: NOW - ago - 60_000, finishedAt: NOW - ago },
      step: { idx: 0, patch: { status: phase, startedAt: NOW - ago - 1500, finishedAt: NOW - ago } }, events: [],
    });
    return d.id;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gangway-metrics-'));
    store = openSqliteStore(join(dir, 'state.db'));
    await store.migrate();
    metrics = new OrchestratorMetrics({ store, config: CONFIG, version: '0.1.0', clock });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('scrapes the store: phases, outcomes, the queue and step durations', async () => {
    await ended('succeeded', 3 * DAY_MS);
    await ended('failed', 2 * DAY_MS);
    await store.createDeployment(deployment({ environment: 'dev' }));
    const lines = (await metrics.scrape()).split('\n');
    const pick = (...prefixes: string[]) => lines.filter((l) => prefixes.some((p) => l.startsWith(p)));
    const prod = 'service="web",environment="prod"';
    expect(pick(`gangway_deployments{${prod}`, `gangway_deployments_total{${prod}`, 'gangway_queue_depth{')).toEqual([
      ...pairLines('web', 'prod').phases,
      ...pairLines('web', 'prod', { succeeded: 1, failed: 1 }).outcomes,
      'gangway_queue_depth{service="web",environment="dev"} 1',
      'gangway_queue_depth{service="web",environment="prod"} 0',
    ]);
    // Two steps of 1.5 s each; the dev deployment's step never started.
    expect(pick('gangway_step_duration_seconds_bucket{type="switch",le="1"}', 'gangway_step_duration_seconds_bucket{type="switch",le="2.5"}',
      'gangway_step_duration_seconds_bucket{type="switch",le="+Inf"}', 'gangway_step_duration_seconds_sum', 'gangway_step_duration_seconds_count')).toEqual([
      'gangway_step_duration_seconds_bucket{type="switch",le="1"} 0',
      'gangway_step_duration_seconds_bucket{type="switch",le="2.5"} 2',
      'gangway_step_duration_seconds_bucket{type="switch",le="+Inf"} 2',
      'gangway_step_duration_seconds_sum{type="switch"} 3',
      'gangway_step_duration_seconds_count{type="switch"} 2',
    ]);
    expect(pick('gangway_build_info{')).toEqual(['gangway_build_info{version="0.1.0"} 1']);
  });

  it('computes DORA metrics of the period from the stored deployments and their commit times', async () => {
    await ended('succeeded', 40 * DAY_MS, { commitTime: NOW - 41 * DAY_MS }); // before the period
    await ended('succeeded', 3 * DAY_MS, { commitTime: NOW - 3 * DAY_MS - 2 * 3_600_000 });
    await ended('failed', 2 * DAY_MS);
    await ended('succeeded', 1 * DAY_MS, { commitTime: NOW - 1 * DAY_MS - 4 * 3_600_000 });
    expect(await metrics.dora({ service: 'web', environment: 'prod' })).toEqual([{
      service: 'web', environment: 'prod',
      period: { days: 30, from: NOW - 30 * DAY_MS, to: NOW },
      deploymentFrequency: { count: 2, perDay: 2 / 30 },
      leadTime: { count: 2, medianMs: 10_800_000, p90Ms: 13_680_000 }, // 3 h and 3.8 h
      changeFailureRate: { failed: 1, total: 3, rate: 1 / 3 },
      timeToRestore: { count: 1, medianMs: DAY_MS },
    }]);
    const all = await metrics.dora({ days: 50 });
    expect(all.map((m) => [m.environment, m.deploymentFrequency.count, m.period.days])).toEqual([['dev', 0, 50], ['prod', 3, 50]]);
  });

  it('refuses an unknown service or environment, naming the nearest, and a period out of range', async () => {
    const err = await metrics.dora({ service: 'wbe' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect([(err as NotFoundError).message, (err as NotFoundError).hint]).toEqual(['unknown service "wbe"', 'did you mean "web"?']);
    const env = await metrics.dora({ environment: 'qa' }).catch((e: unknown) => e) as NotFoundError;
    expect([env.message, env.hint]).toEqual(['unknown environment "qa"', 'environments in /srv/shop/gangway.yaml: dev, prod']);
    const days = await metrics.dora({ days: 0 }).catch((e: unknown) => e) as GangwayError;
    expect([days.code, days.message]).toEqual(['invalid_argument', 'days: must be a whole number from 1 to 366']);
  });
});

describe('commit times through the orchestrator', () => {
  afterEach(closeWorlds);

  it('are stored with a deployment, kept by a promotion and a retry, and give DORA its lead time', async () => {
    const w = await given(`
project: shop
environments:
  dev: {}
  prod: { promotion: { from: dev } }
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 1, port: 18080 }
    health: { path: /health, interval: 100ms, failureThreshold: 3, startTimeout: 1s }
    strategy:
      rolling: { maxSurge: 1, maxUnavailable: 0 }
    environments:
      prod: { target: { local: { port: 18081 } } }
`);
    const committed = Date.now() - 3_600_000;
    const dev = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'alice', commitTime: committed });
    expect(dev.commitTime).toBe(committed);
    expect((await until(w, dev.id, FINAL)).phase).toBe('succeeded');
    // Promoted without naming the release: it keeps the commit time it was built from.
    w.target.behaviours.set('1.0.0', { neverReady: true });
    const prod = await w.orch.deploy({ service: 'web', environment: 'prod', actor: 'alice' });
    expect([prod.version, prod.commitTime]).toEqual(['1.0.0', committed]);
    expect((await until(w, prod.id, FINAL)).phase).toBe('failed');
    w.target.behaviours.delete('1.0.0');
    const retried = await w.orch.retry(prod.id, 'alice');
    expect(retried.commitTime).toBe(committed);
    const done = await until(w, retried.id, FINAL);
    expect(done.phase).toBe('succeeded');

    const metrics = new OrchestratorMetrics({ store: w.store, config: w.config, version: '0.1.0' });
    const [entry] = await metrics.dora({ environment: 'prod' });
    expect([entry.leadTime.count, entry.leadTime.medianMs, entry.changeFailureRate]).toEqual([1, (done.finishedAt ?? 0) - committed, { failed: 1, total: 2, rate: 0.5 }]);
  });
});
