/**
 * Release groups over a real store (SQLite and PostgreSQL): the group and its members are
 * created atomically, held members are not started, and the group driver moves a group
 * through dependency order, its failure policies and a rollback in reverse dependency order,
 * from stored state alone. Member deployments are moved as the runner would (startNextQueued,
 * transitions); the rollbacks are created by a working fake of the orchestrator's command.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgresOrSkip } from '../../test/support/postgres.js';
import { openPostgresStore } from '../store/postgres/postgres-store.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { DeploymentPhase, DeploymentRecord, NewDeployment, NewReleaseGroup, Store } from '../store/types.js';
import { verifyChain, readEventLog } from '../records/audit.js';
import { GangwayError } from '../errors.js';
import { GroupDriver, type GroupCommands } from './group-driver.js';
import { dependencyOrder, nextActions } from './group-plan.js';

const postgres = await startPostgresOrSkip('PostgreSQL release group tests');
const dir = await mkdtemp(join(tmpdir(), 'gangway-groups-'));
afterAll(async () => {
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function openStore(dialect: 'sqlite' | 'postgres'): Promise<Store> {
  const store = dialect === 'sqlite' ? openSqliteStore(join(dir, `s${++n}.db`)) : openPostgresStore(await postgres!.createDatabase());
  await store.migrate();
  return store;
}

const member = (service: string, id: string, previousVersion: string | null = '1'): NewDeployment => ({
  id, service, environment: 'dev', kind: 'deploy', version: '2', image: null, actor: 'alice', reason: null, previousVersion,
  planHash: 'h', createdAt: 1000, steps: [{ type: 'watch', title: 'watch', params: {} }],
});

/** auth, then api and web (both depend on auth). */
function group(id: string, onFailure: 'rollback' | 'stop', ids: string[]): NewReleaseGroup {
  return {
    id, environment: 'dev', kind: 'deploy', onFailure, actor: 'alice', reason: null, createdAt: 1000,
    members: [
      { service: 'auth', version: '2', image: null, dependsOn: [], deploymentId: ids[0] },
      { service: 'api', version: '2', image: null, dependsOn: ['auth'], deploymentId: ids[1] },
      { service: 'web', version: '2', image: null, dependsOn: ['auth'], deploymentId: ids[2] },
    ],
  };
}

/** Ends a running deployment as the runner would. */
async function end(store: Store, id: string, phase: DeploymentPhase): Promise<void> {
  await store.transition({ deploymentId: id, deployment: { phase, finishedAt: 2000 }, events: [{ deploymentId: id, at: 2000, type: 'deployment.phase', data: { to: phase } }] });
}

/** The orchestrator's rollback command, writing what it would: a rollback deployment in the group. */
function fakeCommands(store: Store): GroupCommands & { rollbacks: string[] } {
  const rollbacks: string[] = [];
  return {
    rollbacks,
    async abort(id: string) {
      const d = (await store.getDeployment(id))!;
      await store.transition({ deploymentId: id, deployment: { abortRequested: true }, events: [] });
      return d;
    },
    async rollbackMember(m: DeploymentRecord, rollbackId: string, groupId: string, actor: string) {
      rollbacks.push(m.service);
      return store.createDeployment({ ...member(m.service, rollbackId), kind: 'rollback', version: m.previousVersion!, previousVersion: m.version, groupId, actor });
    },
  };
}

describe('dependencyOrder', () => {
  it('puts each service after those it depends on, ignoring services outside the group', () => {
    const deps: Record<string, string[]> = { web: ['api', 'cdn'], api: ['db'], db: [] };
    expect(dependencyOrder(['web', 'api', 'db'], (s) => deps[s] ?? [])).toEqual(['db', 'api', 'web']);
  });
});

describe('nextActions', () => {
  it('starts a queued group, then releases only the members whose dependencies succeeded', () => {
    const g = { ...group('r1', 'rollback', ['a', 'b', 'c']), phase: 'queued' as const, message: null, startedAt: null, finishedAt: null };
    expect(nextActions(g, [])).toEqual([{ type: 'phase', from: 'queued', to: 'running', event: 'group.started', message: null }]);
  });
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !postgres)(`release groups on ${dialect}`, () => {
    it('creates a group and its held members atomically; a held member is not started until released', async () => {
      const store = await openStore(dialect);
      try {
        await store.createDeployment(member('other', 'd-taken'));
        // A member whose id is taken: nothing of the group is written.
        await expect(store.createReleaseGroup(group('r-bad', 'rollback', ['d1', 'd2', 'd-taken']), [member('auth', 'd1'), member('api', 'd2'), member('web', 'd-taken')]))
          .rejects.toMatchObject({ name: 'GangwayError', code: 'conflict', message: 'deployment d-taken already exists' });
        expect(await store.getReleaseGroup('r-bad')).toBeUndefined();
        expect((await store.listDeployments()).map((d) => d.id)).toEqual(['d-taken']);

        const g = await store.createReleaseGroup(group('r1', 'rollback', ['d1', 'd2', 'd3']), [member('auth', 'd1'), member('api', 'd2'), member('web', 'd3')]);
        expect([g.phase, g.members.map((m) => m.service)]).toEqual(['queued', ['auth', 'api', 'web']]);
        expect((await store.listDeployments({ groupId: 'r1' })).map((d) => [d.id, d.phase, d.groupHeld, d.groupId])).toEqual([
          ['d1', 'queued', true, 'r1'], ['d2', 'queued', true, 'r1'], ['d3', 'queued', true, 'r1'],
        ]);
        expect(await store.startNextQueued('auth', 'dev', 1100)).toBeUndefined();
        expect(await store.releaseGroupMember('d1', [])).toBe(true);
        expect(await store.releaseGroupMember('d1', [])).toBe(false);
        expect((await store.startNextQueued('auth', 'dev', 1100))?.id).toBe('d1');
        // The phase change is conditional: a second driver moving it from the same phase writes nothing.
        expect(await store.updateReleaseGroup('r1', 'queued', { phase: 'running', startedAt: 1100 }, [])).toBe(true);
        expect(await store.updateReleaseGroup('r1', 'queued', { phase: 'running', startedAt: 1200 }, [])).toBe(false);
        expect((await store.getReleaseGroup('r1'))?.startedAt).toBe(1100);
        expect((await store.listReleaseGroups({ environment: 'dev', phases: ['running'] })).map((x) => x.id)).toEqual(['r1']);
      } finally {
        await store.close();
      }
    });

    it('drives a group in dependency order and rolls back what shipped in reverse order when a member fails', async () => {
      const store = await openStore(dialect);
      try {
        await store.createReleaseGroup(group('r2', 'rollback', ['a1', 'a2', 'a3']), [member('auth', 'a1'), member('api', 'a2'), member('web', 'a3')]);
        const commands = fakeCommands(store);
        const driver = new GroupDriver({ store, commands });
        await driver.tick();
        expect((await store.listDeployments({ groupId: 'r2' })).map((d) => d.groupHeld)).toEqual([false, true, true]);
        await store.startNextQueued('auth', 'dev', 1100);
        await end(store, 'a1', 'succeeded');
        await driver.tick();
        expect((await store.listDeployments({ groupId: 'r2' })).map((d) => d.groupHeld)).toEqual([false, false, false]);
        await store.startNextQueued('api', 'dev', 1200);
        await store.startNextQueued('web', 'dev', 1200);
        await end(store, 'a3', 'succeeded');
        await end(store, 'a2', 'rolled_back');
        await driver.tick();
        // web depends on auth: it goes back first, auth only once web's rollback ended.
        expect(commands.rollbacks).toEqual(['web']);
        await driver.tick();
        expect(commands.rollbacks).toEqual(['web']);
        await store.startNextQueued('web', 'dev', 1300);
        await end(store, 'a3-rb', 'succeeded');
        await driver.tick();
        expect(commands.rollbacks).toEqual(['web', 'auth']);
        await store.startNextQueued('auth', 'dev', 1400);
        await end(store, 'a1-rb', 'succeeded');
        await driver.tick();
        const g = (await store.getReleaseGroup('r2'))!;
        expect([g.phase, g.message]).toEqual(['rolled_back', 'api rolled back; rolled back web, auth']);
        const types = (await store.listEvents({ types: ['group.*'] })).map((e) => e.type);
        expect(types).toEqual(['group.created', 'group.started', 'group.member_started', 'group.member_started', 'group.member_started', 'group.rolling_back', 'group.rolled_back']);
        expect(await verifyChain(readEventLog(store))).toMatchObject({ ok: true, gaps: [] });
      } finally {
        await store.close();
      }
    });

    it('ends failed, naming why, when a rollback is refused for good, instead of rolling back forever', async () => {
      const store = await openStore(dialect);
      try {
        await store.createReleaseGroup(group('r4', 'rollback', ['c1', 'c2', 'c3']), [member('auth', 'c1'), member('api', 'c2'), member('web', 'c3')]);
        const commands = fakeCommands(store);
        commands.rollbackMember = async (m: DeploymentRecord) => {
          commands.rollbacks.push(m.service);
          throw new GangwayError('not_found', `unknown service ${m.service}`);
        };
        const driver = new GroupDriver({ store, commands });
        await driver.tick();
        await store.startNextQueued('auth', 'dev', 1100);
        await end(store, 'c1', 'succeeded');
        await driver.tick();
        await store.startNextQueued('api', 'dev', 1200);
        await store.startNextQueued('web', 'dev', 1200);
        await end(store, 'c3', 'succeeded');
        await end(store, 'c2', 'failed');
        await driver.tick();
        await driver.tick();
        expect(commands.rollbacks).toEqual(['web']);
        const g = (await store.getReleaseGroup('r4'))!;
        expect([g.phase, g.message]).toEqual(['failed', 'api failed; the rollback of web could not start: unknown service web']);
        expect((await store.listEvents({ types: ['group.*'] })).map((e) => e.type).slice(-2)).toEqual(['group.rolling_back', 'group.failed']);
      } finally {
        await store.close();
      }
    });

    it('with policy stop, blocks the members not started and leaves what shipped', async () => {
      const store = await openStore(dialect);
      try {
        await store.createReleaseGroup(group('r3', 'stop', ['b1', 'b2', 'b3']), [member('auth', 'b1'), member('api', 'b2'), member('web', 'b3')]);
        const commands = fakeCommands(store);
        const driver = new GroupDriver({ store, commands });
        await driver.tick();
        await store.startNextQueued('auth', 'dev', 1100);
        await end(store, 'b1', 'failed');
        await driver.tick();
        const members = await store.listDeployments({ groupId: 'r3' });
        expect(members.map((d) => [d.service, d.phase, d.startedAt, d.message])).toEqual([
          ['auth', 'failed', 1100, null],
          ['api', 'aborted', null, 'not started: auth failed in release r3'],
          ['web', 'aborted', null, 'not started: auth failed in release r3'],
        ]);
        const g = (await store.getReleaseGroup('r3'))!;
        expect([g.phase, g.message]).toEqual(['failed', 'auth failed; not started: api, web']);
        expect(commands.rollbacks).toEqual([]);
      } finally {
        await store.close();
      }
    });
  });
}
