/**
 * The torture run's checks over a recorded history (test/support/torture.ts `judge`): a clean
 * history passes, and each kind of fault — a lost terminal event, a step succeeded twice, a
 * deployment ended twice, a silence past the lease, one never ended — is counted and named.
 */
import { describe, expect, it } from 'vitest';
import { judge, type Ev, type Replica, type Tracked, type View } from './torture.js';

const T0 = 1_000_000;
let nextId = 1;
const ev = (at: number, type: string, data: Record<string, unknown> = {}, deploymentId = 'd1'): Ev => ({ id: nextId++, type, deploymentId, at: T0 + at, data });
const tracked: Tracked[] = [{ id: 'd1', service: 'web', version: '2.0.0', bad: false, stableBefore: '1.0.0', phase: 'succeeded' }];
const view = (phase = 'succeeded'): View => ({ id: 'd1', service: 'web', version: '2.0.0', phase, leaseOwner: null, steps: [{ idx: 0, status: 'succeeded', title: 'gates' }, { idx: 1, status: phase === 'succeeded' ? 'succeeded' : 'running', title: 'watch' }] });
/** created, step 0 (1 s), step 1 (2 s, killed after 1 s and resumed 0.5 s later), succeeded. */
function history(): Ev[] {
  return [
    ev(0, 'deployment.created'), ev(10, 'step.started', { idx: 0 }), ev(1010, 'step.succeeded', { idx: 0 }),
    ev(1020, 'step.started', { idx: 1 }), ev(2520, 'step.resumed', { idx: 1 }), ev(3020, 'step.succeeded', { idx: 1 }),
    ev(3030, 'deployment.phase', { to: 'succeeded' }),
  ];
}
const replica = (down: Array<[number, number]> = []): Replica => ({ index: 0, port: 1, child: null, ready: true, starts: 1, down: down.map(([a, b]) => [T0 + a, T0 + b]) });

function counts(events: Ev[], v: View = view(), replicas: Replica[] = [replica()]) {
  const problems: string[] = [];
  const r = judge({ tracked, views: [v], events, kills: [{ at: T0 + 2020, replica: 0, pid: 1, driving: ['d1'] }], replicas, problems });
  return { lost: r.lost.size, duplicated: r.duplicated.size, stuck: r.stuck.size, takeovers: r.takeovers, problems };
}

describe('torture checks', () => {
  it('pass a clean history and measure the takeover from the kill to the next event', () => {
    expect(counts(history())).toEqual({ lost: 0, duplicated: 0, stuck: 0, takeovers: [500], problems: [] });
  });

  it('count a deployment whose terminal event is missing as lost', () => {
    expect(counts(history().slice(0, -1))).toMatchObject({ lost: 1, duplicated: 0, problems: ['web 2.0.0 (d1): succeeded, but no terminal event in the log'] });
  });

  it('count a step that succeeded twice and a deployment that ended twice as duplicated', () => {
    const h = history();
    expect(counts([...h.slice(0, 3), ev(1015, 'step.succeeded', { idx: 0 }), ...h.slice(3), ev(3040, 'deployment.phase', { to: 'succeeded' })])).toMatchObject({
      duplicated: 1,
      problems: ['web 2.0.0 (d1): ended 2 times (succeeded, succeeded)', 'web 2.0.0 (d1): step 0 succeeded 2 times in the log'],
    });
  });

  it('count a silence longer than the lease plus the step\'s own time as stuck, unless no orchestrator was up', () => {
    // Step 1 resumed 20 s after the kill: 15 s lease + 0.5 s own time allowed.
    const h = history().map((e) => e.at >= T0 + 2520 ? { ...e, at: e.at + 20_000 } : e);
    expect(counts(h)).toMatchObject({ stuck: 1, problems: ['web 2.0.0 (d1): no event for 21500 ms after step.started of step 1 (allowed 15500 ms)'] });
    // The same silence while the only orchestrator was down for 10 s of it.
    expect(counts(h, view(), [replica([[2020, 12_020]])])).toMatchObject({ stuck: 0, problems: [] });
  });

  it('give a timed step its whole time from its first start, which a resumption keeps', () => {
    // A 20 s wait for healthy instances killed after 19 s and resumed at once, ending 1 s later:
    // 20 s of silence is within 15 s lease + 20 s own time; the same for an untimed step is not.
    const timed = (type: string) => [
      ev(0, 'deployment.created'), ev(10, 'step.started', { idx: 0, type }), ev(20_010, 'step.resumed', { idx: 0, type }),
      ev(21_010, 'step.failed', { idx: 0 }), ev(21_020, 'deployment.phase', { to: 'succeeded' }),
    ];
    const v: View = { ...view(), steps: [] };
    expect(counts(timed('waitReady'), v)).toMatchObject({ stuck: 0, problems: [] });
    expect(counts(timed('scale'), v)).toMatchObject({ stuck: 1, problems: ['web 2.0.0 (d1): no event for 20000 ms after step.started of step 0 (allowed 16000 ms)'] });
  });

  it('count a deployment that never ended as stuck', () => {
    expect(counts(history().slice(0, 4), view('running'))).toEqual({ lost: 0, duplicated: 0, stuck: 1, takeovers: [], problems: ['web 2.0.0 (d1): still running at the end of the run'] });
  });
});
