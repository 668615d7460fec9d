/**
 * The alert monitor over a real SQLite store, with scripted metrics and a fake clock: events,
 * the rollback request, one freeze per episode, state kept across a restart, and resolution
 * when the deployment leaves its rollout.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AlertTier, GangwayConfig } from '../config/types.js';
import { createAnalysisRuntime } from '../engine/analysis-runtime.js';
import type { Clock } from '../engine/clock.js';
import type { MetricResult } from '../metrics/provider.js';
import type { Target } from '../targets/target.js';
import { CREATED_AT, notifyWorld, type NotifyWorld } from '../../test/support/notify-world.js';
import { ALERTS_OWNER, AlertMonitor, alertFingerprint } from './monitor.js';

const threshold = (name: string, max: number): AlertTier['conditions'][number] => ({
  rule: { name, kind: 'threshold', metric: { kind: 'builtin', metric: 'error_rate' }, max, min: null, forMs: 0, windowMs: 60_000, minSamples: 20,
    onInconclusive: { action: 'tolerate', limit: 0 }, onError: { action: 'tolerate', limit: 0 } },
  forMs: 0,
});
const TIERS: AlertTier[] = [
  { name: 'degraded', action: 'freeze', channels: ['ops'], conditions: [threshold('errors', 0.1)] },
  { name: 'page', action: 'rollback', channels: ['pager'], conditions: [threshold('errors', 0.3)] },
];

let world: NotifyWorld;
let errorRate: MetricResult;
let now: number;
const clock: Clock = { now: () => now, sleep: () => new Promise(() => {}) };
const rollbacks: Array<[string, string]> = [];

function monitor(): AlertMonitor {
  const config = { services: { web: { prod: { service: 'web', environment: 'prod' } } }, alerts: { intervalMs: 1000, tiers: TIERS }, analysisTemplates: {} } as unknown as GangwayConfig;
  const analysis = createAnalysisRuntime(world.store, config, { provider: () => ({ measure: async () => errorRate }), requests: null });
  return new AlertMonitor({ store: world.store, config, analysis, target: {} as Target, clock, rollback: (id, reason) => { rollbacks.push([id, reason]); return true; } });
}

beforeEach(async () => {
  world = await notifyWorld();
  now = CREATED_AT + 10_000;
  rollbacks.length = 0;
  errorRate = { phase: 'ok', value: 0.5, samples: 200 };
});
afterEach(async () => { await world.close(); });

describe('AlertMonitor', () => {
  it('records each firing once, asks for the rollback, freezes once, keeps its state across a restart and resolves when the deployment leaves', async () => {
    const d = await world.deploy();
    await world.start();
    const m = monitor();
    expect((await m.tick()).map((t) => `${t.kind} ${t.tier.name}`)).toEqual(['fired degraded', 'fired page']);
    expect(rollbacks).toEqual([[d.id, 'alert page fired: errors: error_rate 50% > 30%']]);
    const freezes = await world.store.listFreezes();
    expect(freezes.map((f) => [f.environment, f.service, f.owner, f.source, f.alertFingerprint, f.reason])).toEqual([
      ['prod', null, ALERTS_OWNER, 'alert', alertFingerprint(d.id, 'degraded'), `alert degraded fired: errors: error_rate 50% > 10% (web 1.4.2, deployment ${d.id})`],
    ]);

    now += 1000;
    expect(await m.tick()).toEqual([]);
    now += 1000;
    expect(await monitor().tick()).toEqual([]);
    expect(rollbacks).toHaveLength(1);
    expect(await world.store.listFreezes()).toHaveLength(1);

    await world.phase(d.id, 'rolling_back', now + 500, { message: 'alert page fired' });
    now += 1000;
    const left = await m.tick();
    expect(left.map((t) => [t.kind, t.tier.name, t.reason])).toEqual([
      ['resolved', 'degraded', 'no longer watched: the deployment is rolling_back'],
      ['resolved', 'page', 'no longer watched: the deployment is rolling_back'],
    ]);
    const events = (await world.store.listEvents()).filter((e) => e.type.startsWith('alert.') || e.type === 'freeze.created');
    expect(events.map((e) => [e.type, e.deploymentId, e.data.tier ?? null])).toEqual([
      ['alert.fired', d.id, 'degraded'], ['alert.fired', d.id, 'page'], ['freeze.created', null, null],
      ['alert.resolved', d.id, 'degraded'], ['alert.resolved', d.id, 'page'],
    ]);
    expect(events[1]!.data).toMatchObject({
      deploymentId: d.id, service: 'web', environment: 'prod', version: '1.4.2', action: 'rollback', channels: ['pager'], reason: 'errors: error_rate 50% > 30%',
      conditions: [{ name: 'errors', reason: 'error_rate 50% > 30%', since: CREATED_AT + 10_000, forMs: 0, values: [{ metric: 'error_rate', value: 0.5, stable: null, samples: 200 }] }],
    });
    expect(events[4]!.data).toMatchObject({ firedAt: CREATED_AT + 10_000, durationMs: 3000 });
  });

  it('too few requests never fire; a tier recovers with alert.resolved and may fire again in a new episode', async () => {
    const d = await world.deploy();
    await world.start();
    const m = monitor();
    errorRate = { phase: 'ok', value: 0.5, samples: 19 };
    expect(await m.tick()).toEqual([]);
    errorRate = { phase: 'ok', value: 0.2, samples: 100 };
    now += 1000;
    expect((await m.tick()).map((t) => `${t.kind} ${t.tier.name}`)).toEqual(['fired degraded']);
    errorRate = { phase: 'ok', value: 0.01, samples: 100 };
    now += 1000;
    expect((await m.tick()).map((t) => `${t.kind} ${t.tier.name}: ${t.reason}`)).toEqual(['resolved degraded: errors: error_rate 1% <= 10%']);
    errorRate = { phase: 'ok', value: 0.2, samples: 100 };
    now += 1000;
    expect((await m.tick()).map((t) => `${t.kind} ${t.tier.name}`)).toEqual(['fired degraded']);
    // The freeze of this deployment and tier is still in force: no second one.
    expect((await world.store.listFreezes()).map((f) => f.alertFingerprint)).toEqual([alertFingerprint(d.id, 'degraded')]);
    expect(rollbacks).toEqual([]);
  });
});
