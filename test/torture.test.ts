/**
 * A small torture run (the same code as `bench/torture/run.js`, see test/support/torture.ts):
 * given deployments of three services (blue-green, rolling, canary; some releases bad, so they
 * roll back) running through real `gangway up` processes, when the orchestrator driving one of
 * them is killed with SIGKILL at a random moment and started again — on SQLite the only
 * orchestrator, on embedded PostgreSQL one of three replicas doing concurrent deployments —
 * then no deployment is lost, duplicated or stuck, traffic ends on the release each outcome
 * says, and `gangway audit verify` passes.
 */
import { afterAll, describe, it, type ExpectStatic } from 'vitest';
import { ROOT } from './support/gangway.js';
import { startPostgresOrSkip } from './support/postgres.js';
import { runTorture, type TortureResult } from './support/torture.js';

/** A limit against a hang, not a claim about speed (each run starts orchestrators again after every kill). */
const LIMIT_MS = 240_000;
const DEPLOYMENTS = 6;
const server = await startPostgresOrSkip('torture run on PostgreSQL');
afterAll(async () => { await server?.stop(); }, LIMIT_MS);

function expectClean(expect: ExpectStatic, r: TortureResult): void {
  // Problems first: when a check fails, the message names the deployment and what was wrong.
  expect(r.problems).toEqual([]);
  expect({ deployments: r.deployments, lost: r.lost, duplicated: r.duplicated, stuck: r.stuck, wrongTraffic: r.wrongTraffic, auditVerifyExit: r.auditVerifyExit })
    .toEqual({ deployments: DEPLOYMENTS, lost: 0, duplicated: 0, stuck: 0, wrongTraffic: 0, auditVerifyExit: 0 });
  // The seeds make two of the six releases bad (each service's first release is always good);
  // both rolled back, every good one succeeded.
  expect({ badReleases: r.badReleases, badSucceeded: r.badSucceeded, outcomes: r.outcomes })
    .toEqual({ badReleases: 2, badSucceeded: 0, outcomes: { succeeded: DEPLOYMENTS - 2, rolled_back: 2 } });
  // The kills happened while deployments were driven, and the ones hit carried on.
  expect(r.kills).toBeGreaterThan(0);
  expect(r.takeoverMs.samples).toBeGreaterThan(0);
}

// The two stores side by side: most of a run is waiting (instances starting, watches, orchestrators starting again).
describe.concurrent('torture: orchestrators killed with SIGKILL during deployments', () => {
  it('SQLite, one orchestrator killed and started again', async ({ expect }) => {
    const r = await runTorture({ root: ROOT, store: 'sqlite', replicas: 1, deployments: DEPLOYMENTS, seed: 7 /* bad: blue-green and rolling */, maxKills: 2, killGapMs: [200, 1500] });
    expectClean(expect, r);
  }, LIMIT_MS);

  it.skipIf(!server)('PostgreSQL, three replicas deploying several services side by side, one killed at a time', async ({ expect }) => {
    const r = await runTorture({ root: ROOT, store: 'postgres', postgresUrl: await server!.createDatabase(), replicas: 3, deployments: DEPLOYMENTS, seed: 11 /* bad: blue-green and canary */, maxKills: 2, killGapMs: [200, 1500] });
    expectClean(expect, r);
  }, LIMIT_MS);
});
