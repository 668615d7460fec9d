/**
 * Auto-deploy's state in both stores (SQLite and embedded PostgreSQL): a write changes only its
 * fields and appends its events in the same transaction, so the poller's write never undoes a
 * pause another replica recorded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgresOrSkip } from '../../test/support/postgres.js';
import { openPostgresStore } from '../store/postgres/postgres-store.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/types.js';

const postgres = await startPostgresOrSkip('auto-deploy state on PostgreSQL (src/autodeploy/store.test.ts)');
const dir = await mkdtemp(join(tmpdir(), 'gangway-autodeploy-store-'));
afterAll(async () => {
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

const STORES: Array<[string, () => Promise<Store | undefined>]> = [
  ['sqlite', async () => openSqliteStore(join(dir, 'state.db'))],
  ['postgres', async () => (postgres ? openPostgresStore(await postgres.createDatabase()) : undefined)],
];

describe.each(STORES)('auto-deploy state (%s)', (name, open) => {
  it.skipIf(name === 'postgres' && !postgres)('creates a pair on first write, changes only the given fields, and appends the events with it', async () => {
    const store = (await open())!;
    try {
      await store.migrate();
      expect(await store.getAutoDeployState('web', 'dev')).toBeUndefined();
      await store.updateAutoDeployState('web', 'dev', { checkedEvent: 7, seenTags: ['1.0.0'], lastTag: '1.0.0' }, 1000);
      // Another replica pauses; the poller then writes what it learned, without touching the pause.
      await store.updateAutoDeployState('web', 'dev', { pausedAt: 1500, pausedBy: 'ana', pausedDeployment: 'd-1' }, 1500,
        [{ deploymentId: null, at: 1500, type: 'autodeploy.paused', data: { service: 'web', environment: 'dev', actor: 'ana' } }]);
      await store.updateAutoDeployState('web', 'dev', { seenTags: ['1.0.0', '1.1.0'], outageSince: null }, 2000);
      expect(await store.getAutoDeployState('web', 'dev')).toEqual({
        service: 'web', environment: 'dev', lastTag: '1.0.0', seenTags: ['1.0.0', '1.1.0'], pendingTag: null, pendingReason: null, outageSince: null,
        pausedAt: 1500, pausedBy: 'ana', pausedDeployment: 'd-1', resumedAt: null, resumedBy: null, checkedEvent: 7, updatedAt: 2000,
      });
      expect((await store.listEvents({ types: ['autodeploy.*'] })).map((e) => [e.type, e.data.actor])).toEqual([['autodeploy.paused', 'ana']]);
      await store.updateAutoDeployState('api', 'dev', { lastTag: null }, 3000);
      expect((await store.listAutoDeployStates()).map((s) => [s.service, s.environment, s.checkedEvent])).toEqual([['api', 'dev', 0], ['web', 'dev', 7]]);
    } finally {
      await store.close();
    }
  });
});
