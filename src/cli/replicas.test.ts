/** Replica registration: one config and one version per store, named when they differ. */
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/open.js';
import type { ReplicaRecord, Store } from '../store/types.js';
import { configFingerprint, differingKeys, joinReplicas } from './replicas.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { GANGWAY_VERSION } from '../version.js';
import { StoreMigrationProvider } from '../store/migrations.js';

const LATEST = Object.keys(await new StoreMigrationProvider('sqlite').getMigrations()).at(-1)!;

const BASE = `project: shop
server: { port: 7400 }
environments: { dev: {}, prod: { approvals: { required: 1 } } }
services:
  web: { command: "node app.js", port: 8080 }
  api: { command: "node api.js", port: 8081 }
`;

describe('configFingerprint', () => {
  it('ignores formatting, comments, key order and each replica\'s own address; names the second-level keys that differ', () => {
    const a = configFingerprint({ file: 'x' }, BASE);
    const b = configFingerprint({ file: 'x' }, `# replica two
services:
  api: { port: 8081, command: "node api.js" }
  web: { command: "node app.js", port: 8080 }
environments: { dev: {}, prod: { approvals: { required: 1 } } }
project: shop
server: { port: 7401, host: 0.0.0.0 }
stateDir: /var/lib/gangway-2
`);
    expect(b.hash).toBe(a.hash);
    const c = configFingerprint({ file: 'x' }, BASE.replace('required: 1', 'required: 2').replace('node api.js', 'node api2.js'));
    expect(c.hash).not.toBe(a.hash);
    expect(differingKeys(a.keys, c.keys)).toEqual(['environments.prod', 'services.api']);
    expect(Object.keys(a.keys)).toEqual(['environments.dev', 'environments.prod', 'project', 'services.api', 'services.web']);
  });
});

describe('joinReplicas', () => {
  let dir: string;
  let store: Store;
  const NOW = 10_000_000;
  const replica = (id: string, text: string, over: Partial<ReplicaRecord> = {}): ReplicaRecord => {
    const f = configFingerprint({ file: 'x' }, text);
    return { id, url: `http://127.0.0.1:${id}`, version: GANGWAY_VERSION, configHash: f.hash, configKeys: f.keys, startedAt: NOW, heartbeatAt: NOW, ...over };
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gangway-replicas-'));
    store = await openStore({ kind: 'sqlite', path: join(dir, 'state.db') });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('registers a replica with the same config, refuses one with another config or version naming them, and forgets dead ones', async () => {
    await joinReplicas(store, replica('7400', BASE));
    await joinReplicas(store, replica('7401', BASE, { startedAt: NOW + 1 }));
    expect((await store.listReplicas()).map((r) => r.id)).toEqual(['7400', '7401']);

    const other = replica('7402', BASE.replace('required: 1', 'required: 2'));
    await expect(joinReplicas(store, other)).rejects.toMatchObject({
      code: 'conflict',
      message: 'this config differs from the one the replica at http://127.0.0.1:7400 runs, at environments.prod',
    });
    await expect(joinReplicas(store, replica('7403', BASE, { version: '0.0.1-old' }))).rejects.toMatchObject({
      code: 'conflict', message: `the replica at http://127.0.0.1:7400 runs Gangway ${GANGWAY_VERSION}; this is Gangway 0.0.1-old`,
    });
    expect((await store.listReplicas()).map((r) => r.id)).toEqual(['7400', '7401']);

    // Once the others' heartbeats are older than the replica time to live, a new config is welcome.
    await joinReplicas(store, { ...other, startedAt: NOW + 2, heartbeatAt: NOW + 16_000 });
    expect((await store.listReplicas()).map((r) => r.id)).toEqual(['7400', '7401', '7402']);
    // A day without a heartbeat removes a registration.
    await joinReplicas(store, replica('7404', BASE.replace('required: 1', 'required: 2'), { startedAt: NOW + 3, heartbeatAt: NOW + 86_400_001 }));
    expect((await store.listReplicas()).map((r) => r.id)).toEqual(['7402', '7404']);
    // A replica on this machine whose process is gone (killed) neither blocks a new config nor stays registered.
    const killed = `${hostname()}:999999999:gone`;
    await store.registerReplica(replica(killed, BASE, { startedAt: NOW + 4, heartbeatAt: NOW + 86_400_001 }));
    await joinReplicas(store, replica('7405', BASE.replace('required: 1', 'required: 2'), { startedAt: NOW + 5, heartbeatAt: NOW + 86_400_002 }));
    expect((await store.listReplicas()).map((r) => r.id)).toEqual(['7402', '7404', '7405']);
  });
});

describe('a store migrated by a newer Gangway', () => {
  it('is refused before anything is written, naming both versions', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gangway-newer-'));
    try {
      const file = join(dir, 'state.db');
      const store = openSqliteStore(file);
      await store.migrate();
      expect(await store.getStoreMeta('migrated_by')).toBe(GANGWAY_VERSION);
      await store.setStoreMeta('migrated_by', '9.1.0');
      expect(await store.migrationStatus()).toEqual({ pending: [], unknown: [] });
      await store.close();
      // What a newer Gangway leaves behind: a migration this one does not know.
      const raw = new Database(file);
      raw.prepare("insert into kysely_migration (name, timestamp) values ('0099_future', '2027-01-01T00:00:00.000Z')").run();
      raw.close();
      const again = openSqliteStore(file);
      await expect(again.migrate()).rejects.toMatchObject({
        code: 'conflict',
        message: `the store was migrated by Gangway 9.1.0 (migration 0099_future); this is Gangway ${GANGWAY_VERSION}, which knows migrations up to ${LATEST}`,
        hint: 'upgrade this Gangway to 9.1.0 or later: every replica on one store runs the same version',
      });
      expect(await again.migrationStatus()).toEqual({ pending: [], unknown: ['0099_future'] });
      expect(await again.getStoreMeta('migrated_by')).toBe('9.1.0');
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
