import { describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../store/types.js';
import { DAY_MS, computeDora, quantile } from './dora.js';

const NOW = Date.UTC(2025, 2, 31, 12, 0, 0);
const FROM = NOW - 30 * DAY_MS;
const H = 3_600_000;
const M = 60_000;

let seq = 0;
/** A finished deployment of web to prod that ended `end` ms after the period began. */
function dep(end: number, over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  seq += 1;
  const finishedAt = FROM + end;
  return {
    id: `d${seq}`, seq, service: 'web', environment: 'prod', kind: 'deploy', version: `v${seq}`, image: null,
    phase: 'succeeded', actor: 'alice', reason: null, previousVersion: null, currentStep: 0, planHash: 'h',
    abortRequested: false, promoteRequested: false, expedited: false, requestedImage: null, commitTime: null, message: null, supersededBy: null,
    leaseOwner: null, leaseExpiresAt: null, createdAt: finishedAt - 10 * M, startedAt: finishedAt - 9 * M, finishedAt,
    ...over,
  };
}

const empty = (service: string, environment: string) => ({
  service, environment,
  period: { days: 30, from: FROM, to: NOW },
  deploymentFrequency: { count: 0, perDay: 0 },
  leadTime: { count: 0, medianMs: null, p90Ms: null },
  changeFailureRate: { failed: 0, total: 0, rate: null },
  timeToRestore: { count: 0, medianMs: null },
});

describe('quantile', () => {
  it('interpolates between closest ranks', () => {
    expect([quantile([], 0.5), quantile([7], 0.9), quantile([1, 2, 3, 4], 0.5), quantile([0, 100], 0.25), quantile([0, 10, 20, 30, 40], 0.75), quantile([1, 2, 3], 0.5)])
      .toEqual([null, 7, 2.5, 25, 30, 2]);
  });
});

describe('computeDora', () => {
  it('reports every given pair, with nulls where there is nothing to measure', () => {
    expect(computeDora([], { now: NOW, days: 30, pairs: [{ service: 'web', environment: 'prod' }, { service: 'api', environment: 'dev' }] }))
      .toEqual([empty('api', 'dev'), empty('web', 'prod')]);
  });

  it('counts successful deployments per day and their lead time from the commit', () => {
    const history = [
      dep(-1 * H, { commitTime: FROM - 5 * H }), // ended before the period
      dep(1 * DAY_MS, { commitTime: FROM + 1 * DAY_MS - 1 * H }),
      dep(2 * DAY_MS, { commitTime: FROM + 2 * DAY_MS - 2 * H }),
      dep(3 * DAY_MS, { commitTime: FROM + 3 * DAY_MS - 3 * H }),
      dep(4 * DAY_MS, { commitTime: FROM + 4 * DAY_MS - 10 * H }),
      dep(5 * DAY_MS), // no commit time: counted, without a lead time
      dep(6 * DAY_MS, { phase: 'failed', commitTime: FROM }), // a failure has no lead time
      dep(7 * DAY_MS, { kind: 'rollback' }), // a rollback is not a deployment of a change
      dep(8 * DAY_MS, { finishedAt: null, phase: 'running' }),
    ];
    const [web] = computeDora(history, { now: NOW, days: 30 });
    expect([web.deploymentFrequency, web.leadTime]).toEqual([
      { count: 5, perDay: 5 / 30 },
      { count: 4, medianMs: 9_000_000, p90Ms: 28_440_000 }, // 2.5 h and 7.9 h
    ]);
  });

  it('counts failed, rolled back, aborted and manually undone deployments as failed changes', () => {
    const good = dep(1 * H, { version: '1.0.0' });
    const history = [
      good,
      dep(2 * H, { phase: 'failed' }),
      dep(3 * H, { phase: 'rolled_back' }),
      dep(4 * H, { phase: 'aborted' }),
      dep(5 * H, { phase: 'aborted', startedAt: null }), // aborted in the queue: never a change
      dep(6 * H, { version: '1.1.0', previousVersion: '1.0.0' }),
      dep(7 * H, { kind: 'rollback', version: '1.0.0', previousVersion: '1.1.0', createdAt: FROM + 6.5 * H }),
      dep(8 * H, { version: '1.2.0' }),
    ];
    const [web] = computeDora(history, { now: NOW, days: 30 });
    // Changes: 1.0.0, failed, rolled_back, aborted, 1.1.0 (undone), 1.2.0.
    expect(web.changeFailureRate).toEqual({ failed: 4, total: 6, rate: 4 / 6 });
  });

  it('does not blame a rollback on a deployment of another version, nor on an earlier rollback', () => {
    const history = [
      dep(1 * H, { version: '1.0.0' }),
      dep(2 * H, { kind: 'rollback', version: '0.9.0', previousVersion: '1.0.0', createdAt: FROM + 1.5 * H }),
      // Undoes the rollback above (its success is the latest before it): no change to blame.
      dep(3 * H, { kind: 'rollback', version: '1.0.0', previousVersion: '0.9.0', createdAt: FROM + 2.5 * H }),
      dep(4 * H, { version: '1.1.0' }),
      // Names a stable release that is not the latest success's version.
      dep(5 * H, { kind: 'rollback', version: '0.9.0', previousVersion: '1.0.5', createdAt: FROM + 4.5 * H }),
    ];
    const [web] = computeDora(history, { now: NOW, days: 30 });
    expect(web.changeFailureRate).toEqual({ failed: 1, total: 2, rate: 0.5 });
  });

  it('measures time to restore from the first failure to the next success, per outage', () => {
    const history = [
      dep(-2 * H, { phase: 'failed' }), // before the period
      dep(0.5 * H, { kind: 'rollback', createdAt: FROM - 1 * H }), // an outage that began before the period and ended in it: left out
      dep(1 * H),
      dep(10 * H, { phase: 'rolled_back' }),
      dep(11 * H, { phase: 'failed' }), // the same outage
      dep(13 * H), // restored after 3h
      dep(14 * H, { phase: 'aborted' }), // an abort opens no outage
      dep(15 * H),
      dep(20 * H + 5 * M, { kind: 'rollback', createdAt: FROM + 20 * H }), // restored by the rollback itself after 5 min
      dep(30 * H, { phase: 'failed' }), // still open at the end of the period
      dep(31 * H, { service: 'api', phase: 'failed' }),
      dep(33 * H, { service: 'api', kind: 'rollback', createdAt: FROM + 32 * H }), // api: one outage of 2h
    ];
    const [api, web] = computeDora(history, { now: NOW, days: 30 });
    expect([api.service, api.timeToRestore, web.service, web.timeToRestore]).toEqual([
      'api', { count: 1, medianMs: 2 * H },
      'web', { count: 2, medianMs: (3 * H + 5 * M) / 2 },
    ]);
  });

  it('closes an outage with a success at the same moment after 0 ms', () => {
    const [web] = computeDora([dep(5 * H), dep(5 * H, { phase: 'failed' })], { now: NOW, days: 30 });
    expect(web.timeToRestore).toEqual({ count: 1, medianMs: 0 });
  });

  it('keeps pairs apart and sorts them by service, then environment', () => {
    const history = [
      dep(1 * H, { service: 'web', environment: 'dev' }),
      dep(2 * H, { service: 'api', environment: 'prod', phase: 'failed' }),
      dep(3 * H, { service: 'web', environment: 'dev' }),
    ];
    expect(computeDora(history, { now: NOW, days: 30 }).map((m) => [m.service, m.environment, m.deploymentFrequency.count, m.changeFailureRate.rate]))
      .toEqual([['api', 'prod', 0, 1], ['web', 'dev', 2, 0]]);
  });
});
