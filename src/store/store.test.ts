/**
 * The shared store suite: every test runs against each adapter (SQLite and a real
 * PostgreSQL). Two store instances on one database stand in for two orchestrator processes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import type { Generated } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { startPostgresOrSkip } from '../../test/support/postgres.js';
import { GangwayError, NotFoundError } from '../errors.js';
import type { KyselyStore } from './kysely-store.js';
import type { StoreDialect } from './migrations.js';
import { openStore } from './open.js';
import { openPostgresStore } from './postgres/postgres-store.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { NewDeployment, Store } from './types.js';
import { GENESIS_HASH, eventHash } from './event-chain.js';
import { StoreMigrationProvider } from './migrations.js';
import { readEventLog, verifyChain } from '../records/audit.js';

const postgres = await startPostgresOrSkip('PostgreSQL store tests');
const sqliteDir = await mkdtemp(join(tmpdir(), 'gangway-store-test-'));
afterAll(async () => {
  await postgres?.stop();
  await rm(sqliteDir, { recursive: true, force: true });
});

/** One fresh database of a dialect, and how to reach it. */
interface Database {
  /** Opens another store instance on this database (not migrated). */
  open(): KyselyStore;
  /** Row count of a table, read past the store. */
  count(table: string): Promise<number>;
  /** The config `openStore` takes for this database. */
  config: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
}

let sqliteCounter = 0;
let sharedPostgresUrl: string | undefined;

async function pgQuery<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

/**
 * A database with the store's tables and no rows. PostgreSQL creates a database in about half
 * a second, so tests share one migrated database and empty it, unless `unmigrated` asks for
 * a brand-new one; a SQLite file is cheap and always new.
 */
async function freshDatabase(dialect: StoreDialect, unmigrated = false): Promise<Database> {
  if (dialect === 'sqlite') {
    // A nested folder that does not exist yet: opening must create it.
    const path = join(sqliteDir, `db${++sqliteCounter}`, 'state.db');
    return {
      open: () => openSqliteStore(path),
      async count(table) {
        const raw = new BetterSqlite3(path, { readonly: true });
        try {
          return (raw.prepare(`select count(*) as n from "${table}"`).get() as { n: number }).n;
        } finally {
          raw.close();
        }
      },
      config: { kind: 'sqlite', path },
    };
  }
  let url: string;
  if (unmigrated) {
    url = await postgres!.createDatabase();
  } else if (sharedPostgresUrl === undefined) {
    url = sharedPostgresUrl = await postgres!.createDatabase();
  } else {
    url = sharedPostgresUrl;
    await pgQuery(url, 'truncate gate_results, approvals, freezes, checklist_confirmations, verdicts, release_samples, rejections, analysis_states, events, steps, service_states, deployments');
  }
  return {
    open: () => openPostgresStore(url),
    async count(table) {
      const [row] = await pgQuery<{ n: string }>(url, `select count(*) as n from "${table}"`);
      return Number(row.n);
    },
    config: { kind: 'postgres', url },
  };
}

function newDeployment(id: string, over: Partial<NewDeployment> = {}): NewDeployment {
  return {
    id,
    service: 'web',
    environment: 'prod',
    kind: 'deploy',
    version: 'v2',
    image: null,
    actor: 'alice',
    reason: 'release 2',
    previousVersion: 'v1',
    planHash: 'sha256:plan',
    createdAt: 1_700_000_000_000,
    steps: [
      { type: 'start', title: 'start 2 instances of v2', params: { instances: 2 } },
      { type: 'switch', title: 'switch traffic to v2', params: { weight: 100 } },
    ],
    ...over,
  };
}

/**
 * A Kysely of its own on a database, past the store, for migrating step by step and writing
 * rows as an older Gangway did.
 */
function legacyDatabase(d: Database): Kysely<LegacyDatabase> {
  if (d.config.kind === 'sqlite') {
    mkdirSync(dirname(d.config.path), { recursive: true });
    return new Kysely<LegacyDatabase>({ dialect: new SqliteDialect({ database: new BetterSqlite3(d.config.path) }) });
  }
  return new Kysely<LegacyDatabase>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: d.config.url, max: 2 }) }) });
}

/** The events table before migration 0004. */
interface LegacyDatabase {
  events: { id: Generated<number>; deployment_id: string | null; at: number; type: string; data: string };
}

/** The log verifies, with ids 1..count, and every stored hash is the one recomputed. */
async function expectValid(s: Store, count: number): Promise<void> {
  const events = await s.listEvents();
  expect(events.map((e) => e.id)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  expect(events[0].prevHash).toBe(GENESIS_HASH);
  for (const e of events) expect(e.hash).toBe(eventHash(e.prevHash, e));
  expect(await verifyChain(readEventLog(s, 2))).toEqual({ ok: true, count, head: { id: count, hash: events[count - 1].hash }, gaps: [] });
}

const DIALECTS: StoreDialect[] = ['sqlite', 'postgres'];

for (const dialect of DIALECTS) {
  describe.skipIf(dialect === 'postgres' && !postgres)(`store (${dialect})`, () => {
    let db: Database;
    let store: KyselyStore;
    const opened: Store[] = [];

    /** A second instance on the same database, as a second orchestrator process would hold. */
    function twin(): KyselyStore {
      const s = db.open();
      opened.push(s);
      return s;
    }

    beforeEach(async () => {
      db = await freshDatabase(dialect);
      store = db.open();
      opened.push(store);
      await store.migrate();
    });

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    describe('deployments', () => {
      it('creates a queued deployment with its steps and a deployment.created event', async () => {
        const created = await store.createDeployment(newDeployment('d1', { image: 'ghcr.io/acme/web@sha256:abc' }));
        const expected = {
          id: 'd1', seq: 1, service: 'web', environment: 'prod', kind: 'deploy', version: 'v2',
          image: 'ghcr.io/acme/web@sha256:abc', phase: 'queued', actor: 'alice', reason: 'release 2',
          previousVersion: 'v1', currentStep: 0, planHash: 'sha256:plan', abortRequested: false, promoteRequested: false, expedited: false, requestedImage: null, commitTime: null, message: null, supersededBy: null,
          leaseOwner: null, leaseExpiresAt: null, createdAt: 1_700_000_000_000, startedAt: null, finishedAt: null, groupId: null, groupHeld: false,
        };
        expect(created).toEqual(expected);
        expect(await store.getDeployment('d1')).toEqual(expected);
        expect(await store.getSteps('d1')).toEqual([
          { deploymentId: 'd1', idx: 0, type: 'start', title: 'start 2 instances of v2', params: { instances: 2 }, status: 'pending', stage: 'deploy', startedAt: null, finishedAt: null, output: null, attempts: 0 },
          { deploymentId: 'd1', idx: 1, type: 'switch', title: 'switch traffic to v2', params: { weight: 100 }, status: 'pending', stage: 'deploy', startedAt: null, finishedAt: null, output: null, attempts: 0 },
        ]);
        const events = await store.listEvents();
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({
          deploymentId: 'd1', at: 1_700_000_000_000, type: 'deployment.created',
          data: { service: 'web', environment: 'prod', kind: 'deploy', version: 'v2', image: 'ghcr.io/acme/web@sha256:abc', actor: 'alice', reason: 'release 2', steps: 2 },
        });
      });

      it('returns undefined and no steps for an unknown deployment', async () => {
        expect(await store.getDeployment('nope')).toBeUndefined();
        expect(await store.getSteps('nope')).toEqual([]);
      });

      it('refuses a second deployment with the same id and writes nothing', async () => {
        await store.createDeployment(newDeployment('d1'));
        const err = await store.createDeployment(newDeployment('d1', { version: 'v3' })).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GangwayError);
        expect((err as GangwayError).code).toBe('conflict');
        expect((err as GangwayError).message).toBe('deployment d1 already exists');
        expect((await store.getDeployment('d1'))?.version).toBe('v2');
        expect(await db.count('events')).toBe(1);
        expect(await db.count('steps')).toBe(2);
      });

      it('assigns increasing seq and filters, orders and limits lists', async () => {
        await store.createDeployment(newDeployment('a', { service: 'web', environment: 'dev' }));
        await store.createDeployment(newDeployment('b', { service: 'api', environment: 'dev' }));
        await store.createDeployment(newDeployment('c', { service: 'web', environment: 'prod' }));
        await store.createDeployment(newDeployment('d', { service: 'web', environment: 'dev', steps: [] }));
        await store.transition({ deploymentId: 'c', deployment: { phase: 'aborted' }, events: [] });

        const ids = (ds: { id: string }[]) => ds.map((d) => d.id);
        expect((await store.listDeployments()).map((d) => d.seq)).toEqual([1, 2, 3, 4]);
        expect(ids(await store.listDeployments({ newestFirst: true }))).toEqual(['d', 'c', 'b', 'a']);
        expect(ids(await store.listDeployments({ service: 'web' }))).toEqual(['a', 'c', 'd']);
        expect(ids(await store.listDeployments({ service: 'web', environment: 'dev' }))).toEqual(['a', 'd']);
        expect(ids(await store.listDeployments({ phases: ['queued'] }))).toEqual(['a', 'b', 'd']);
        expect(ids(await store.listDeployments({ phases: ['aborted', 'succeeded'] }))).toEqual(['c']);
        expect(await store.listDeployments({ phases: [] })).toEqual([]);
        expect(ids(await store.listDeployments({ newestFirst: true, limit: 2 }))).toEqual(['d', 'c']);
        expect(ids(await store.listDeployments({ service: 'web', limit: 1 }))).toEqual(['a']);
        expect(await store.getSteps('d')).toEqual([]);
      });

      it('round-trips JSON params and output exactly', async () => {
        const params = { nested: { list: [1, 'two', null, true, { deep: [] }] }, unicode: 'größe ✓ 日本', empty: {}, n: -1.5 };
        await store.createDeployment(newDeployment('d1', { steps: [{ type: 'smoke', title: 'smoke', params }] }));
        const output = { status: 200, body: { ok: true }, lines: ['a', 'b'], quote: 'say "hi"\n' };
        await store.transition({ deploymentId: 'd1', step: { idx: 0, patch: { output } }, events: [] });
        const [step] = await store.getSteps('d1');
        expect(step.params).toEqual(params);
        expect(Object.keys(step.params)).toEqual(['nested', 'unicode', 'empty', 'n']);
        expect(step.output).toEqual(output);
        await store.transition({ deploymentId: 'd1', step: { idx: 0, patch: { output: null } }, events: [] });
        expect((await store.getSteps('d1'))[0].output).toBeNull();
      });

      it('returns fresh objects that callers may mutate', async () => {
        await store.createDeployment(newDeployment('d1'));
        const [step] = await store.getSteps('d1');
        step.params.instances = 99;
        expect((await store.getSteps('d1'))[0].params).toEqual({ instances: 2 });
      });
    });

    describe('transition', () => {
      it('patches deployment and step, appends rollback steps, events and service state in one write', async () => {
        await store.createDeployment(newDeployment('d1'));
        const ok = await store.transition({
          deploymentId: 'd1',
          deployment: { phase: 'rolling_back', currentStep: 2, message: 'error rate 7% > 5% for 2m', startedAt: 10, abortRequested: true },
          step: { idx: 1, patch: { status: 'failed', startedAt: 11, finishedAt: 12, attempts: 3, output: { error: 'analysis failed' } } },
          appendSteps: [
            { type: 'switch', title: 'switch traffic back to v1', params: { weight: 0 }, stage: 'rollback' },
            { type: 'stop', title: 'stop v2', params: {}, stage: 'rollback' },
          ],
          events: [
            { deploymentId: 'd1', at: 12, type: 'step.failed', data: { idx: 1 } },
            { deploymentId: 'd1', at: 12, type: 'deployment.phase', data: { from: 'running', to: 'rolling_back' } },
          ],
          serviceState: { service: 'web', environment: 'prod', stableVersion: 'v1', stableImage: null, previousVersion: 'v0', deploymentId: 'd0', updatedAt: 12 },
        });
        expect(ok).toBe(true);
        expect(await store.getDeployment('d1')).toMatchObject({
          phase: 'rolling_back', currentStep: 2, message: 'error rate 7% > 5% for 2m', startedAt: 10, finishedAt: null, abortRequested: true,
        });
        const steps = await store.getSteps('d1');
        expect(steps.map((s) => [s.idx, s.type, s.stage, s.status])).toEqual([
          [0, 'start', 'deploy', 'pending'],
          [1, 'switch', 'deploy', 'failed'],
          [2, 'switch', 'rollback', 'pending'],
          [3, 'stop', 'rollback', 'pending'],
        ]);
        expect(steps[1]).toMatchObject({ startedAt: 11, finishedAt: 12, attempts: 3, output: { error: 'analysis failed' } });
        expect(steps[2].params).toEqual({ weight: 0 });
        expect((await store.listEvents({ deploymentId: 'd1' })).map((e) => e.type))
          .toEqual(['deployment.created', 'step.failed', 'deployment.phase']);
        expect(await store.getServiceState('web', 'prod')).toEqual({
          service: 'web', environment: 'prod', stableVersion: 'v1', stableImage: null, previousVersion: 'v0', deploymentId: 'd0', updatedAt: 12,
        });
      });

      it('writes nothing when the lease is held by someone else', async () => {
        await store.createDeployment(newDeployment('d1'));
        expect(await store.claimLease('d1', 'runner-a', 1000, 30_000)).toBeDefined();
        const ok = await store.transition({
          deploymentId: 'd1',
          expectLeaseOwner: 'runner-b',
          deployment: { phase: 'running', currentStep: 1 },
          step: { idx: 0, patch: { status: 'succeeded' } },
          appendSteps: [{ type: 'stop', title: 'stop', params: {}, stage: 'rollback' }],
          events: [{ deploymentId: 'd1', at: 2000, type: 'step.succeeded', data: {} }],
          serviceState: { service: 'web', environment: 'prod', stableVersion: 'v2', stableImage: null, previousVersion: 'v1', deploymentId: 'd1', updatedAt: 2000 },
        });
        expect(ok).toBe(false);
        expect(await store.getDeployment('d1')).toMatchObject({ phase: 'queued', currentStep: 0, leaseOwner: 'runner-a' });
        expect((await store.getSteps('d1')).map((s) => s.status)).toEqual(['pending', 'pending']);
        expect((await store.listEvents()).map((e) => e.type)).toEqual(['deployment.created']);
        expect(await store.getServiceState('web', 'prod')).toBeUndefined();

        expect(await store.transition({
          deploymentId: 'd1', expectLeaseOwner: 'runner-a', deployment: { phase: 'running' },
          events: [{ deploymentId: 'd1', at: 2000, type: 'deployment.phase', data: {} }],
        })).toBe(true);
        expect((await store.getDeployment('d1'))?.phase).toBe('running');
      });

      it('writes nothing when the lease was released, even for the former owner', async () => {
        await store.createDeployment(newDeployment('d1'));
        await store.claimLease('d1', 'runner-a', 1000, 30_000);
        await store.releaseLease('d1', 'runner-a');
        expect(await store.transition({
          deploymentId: 'd1', expectLeaseOwner: 'runner-a', deployment: { phase: 'running' },
          events: [{ deploymentId: 'd1', at: 2000, type: 'deployment.phase', data: {} }],
        })).toBe(false);
        expect(await db.count('events')).toBe(1);
      });

      it('rolls back every part when one part fails', async () => {
        await store.createDeployment(newDeployment('d1'));
        const err = await store.transition({
          deploymentId: 'd1',
          deployment: { phase: 'running' },
          step: { idx: 7, patch: { status: 'running' } },
          events: [{ deploymentId: 'd1', at: 1, type: 'step.started', data: {} }],
        }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NotFoundError);
        expect((err as Error).message).toBe('step 7 of deployment d1 not found');
        expect((await store.getDeployment('d1'))?.phase).toBe('queued');
        expect(await db.count('events')).toBe(1);
      });

      it('throws NotFoundError for an unknown deployment', async () => {
        const err = await store.transition({ deploymentId: 'ghost', events: [] }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NotFoundError);
        expect((err as Error).message).toBe('deployment ghost not found');
      });

      it('refuses to make a second deployment of a pair active', async () => {
        await store.createDeployment(newDeployment('d1'));
        await store.createDeployment(newDeployment('d2'));
        await store.transition({ deploymentId: 'd1', deployment: { phase: 'running' }, events: [] });
        const err = await store.transition({
          deploymentId: 'd2', deployment: { phase: 'waiting' },
          events: [{ deploymentId: 'd2', at: 1, type: 'deployment.phase', data: {} }],
        }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GangwayError);
        expect((err as GangwayError).code).toBe('conflict');
        expect((await store.getDeployment('d2'))?.phase).toBe('queued');
        expect(await db.count('events')).toBe(2);
      });
    });

    describe('leases', () => {
      it('claims, renews, expires, yields to dead owners and releases', async () => {
        await store.createDeployment(newDeployment('d1'));
        const claimed = await store.claimLease('d1', 'a', 1000, 500);
        expect(claimed).toMatchObject({ id: 'd1', leaseOwner: 'a', leaseExpiresAt: 1500 });

        expect(await store.claimLease('d1', 'b', 1200, 500)).toBeUndefined();
        expect(await store.claimLease('d1', 'a', 1200, 500)).toMatchObject({ leaseOwner: 'a', leaseExpiresAt: 1700 });

        expect(await store.renewLease('d1', 'a', 1600, 500)).toBe(true);
        expect((await store.getDeployment('d1'))?.leaseExpiresAt).toBe(2100);
        expect(await store.renewLease('d1', 'b', 1600, 500)).toBe(false);

        // At the expiry instant the lease still holds; after it, anyone may claim.
        expect(await store.claimLease('d1', 'b', 2100, 500)).toBeUndefined();
        expect(await store.claimLease('d1', 'b', 2101, 500)).toMatchObject({ leaseOwner: 'b', leaseExpiresAt: 2601 });
        expect(await store.renewLease('d1', 'a', 2200, 500)).toBe(false);

        // A live lease of an owner known dead may be taken over.
        expect(await store.claimLease('d1', 'c', 2200, 500, ['a'])).toBeUndefined();
        expect(await store.claimLease('d1', 'c', 2200, 500, ['a', 'b'])).toMatchObject({ leaseOwner: 'c', leaseExpiresAt: 2700 });

        await store.releaseLease('d1', 'b');
        expect((await store.getDeployment('d1'))?.leaseOwner).toBe('c');
        await store.releaseLease('d1', 'c');
        expect(await store.getDeployment('d1')).toMatchObject({ leaseOwner: null, leaseExpiresAt: null });
        expect(await store.claimLease('d1', 'd', 2300, 500)).toMatchObject({ leaseOwner: 'd' });
      });

      it('does not claim an unknown deployment', async () => {
        expect(await store.claimLease('ghost', 'a', 1, 1)).toBeUndefined();
        expect(await store.renewLease('ghost', 'a', 1, 1)).toBe(false);
      });

      it('lets exactly one of two concurrent claimers win', async () => {
        const other = twin();
        const rounds = 25;
        for (let r = 0; r < rounds; r++) await store.createDeployment(newDeployment(`d${r}`, { environment: `env${r}` }));
        for (let r = 0; r < rounds; r++) {
          // Alternate who asks first so neither side always wins by call order.
          const [first, second] = r % 2 === 0 ? [store, other] : [other, store];
          const [x, y] = await Promise.all([first.claimLease(`d${r}`, 'x', 1000, 60_000), second.claimLease(`d${r}`, 'y', 1000, 60_000)]);
          expect([x, y].filter((c) => c !== undefined)).toHaveLength(1);
          const winner = x ? 'x' : 'y';
          expect((await store.getDeployment(`d${r}`))?.leaseOwner).toBe(winner);
        }
      });
    });

    describe('queue', () => {
      it('starts the oldest queued deployment of a pair, one at a time', async () => {
        await store.createDeployment(newDeployment('q1'));
        await store.createDeployment(newDeployment('other', { environment: 'dev' }));
        await store.createDeployment(newDeployment('q2'));
        await store.createDeployment(newDeployment('q3'));

        const started = await store.startNextQueued('web', 'prod', 5000);
        expect(started).toMatchObject({ id: 'q1', phase: 'running', startedAt: 5000 });
        expect(await store.getDeployment('q1')).toMatchObject({ phase: 'running', startedAt: 5000 });
        expect((await store.listEvents({ deploymentId: 'q1' })).slice(-1)[0])
          .toMatchObject({ type: 'deployment.phase', at: 5000, data: { from: 'queued', to: 'running' } });

        expect(await store.startNextQueued('web', 'prod', 5001)).toBeUndefined();
        for (const phase of ['waiting', 'paused', 'rolling_back'] as const) {
          await store.transition({ deploymentId: 'q1', deployment: { phase }, events: [] });
          expect(await store.startNextQueued('web', 'prod', 5001)).toBeUndefined();
        }

        await store.transition({ deploymentId: 'q1', deployment: { phase: 'rolled_back', finishedAt: 6000 }, events: [] });
        // An aborted queued deployment is never started.
        await store.transition({ deploymentId: 'q2', deployment: { phase: 'aborted' }, events: [] });
        expect(await store.startNextQueued('web', 'prod', 7000)).toMatchObject({ id: 'q3', phase: 'running' });
        expect(await store.startNextQueued('web', 'dev', 7000)).toMatchObject({ id: 'other', phase: 'running' });

        await store.transition({ deploymentId: 'q3', deployment: { phase: 'succeeded' }, events: [] });
        expect(await store.startNextQueued('web', 'prod', 8000)).toBeUndefined();
        expect(await store.startNextQueued('api', 'prod', 8000)).toBeUndefined();
        expect((await store.listEvents({ deploymentId: 'q2' })).map((e) => e.type)).toEqual(['deployment.created']);
      });

      it('starts exactly one deployment when two orchestrators race', async () => {
        const other = twin();
        const rounds = 20;
        // Concurrent requests too: seq stays unique and decides which one is first.
        await Promise.all(Array.from({ length: rounds }, (_, r) => [
          store.createDeployment(newDeployment(`r${r}a`, { environment: `env${r}` })),
          other.createDeployment(newDeployment(`r${r}b`, { environment: `env${r}` })),
        ]).flat());
        const all = await store.listDeployments();
        expect(all.map((d) => d.seq)).toEqual(Array.from({ length: 2 * rounds }, (_, i) => i + 1));
        for (let r = 0; r < rounds; r++) {
          const [first, second] = r % 2 === 0 ? [store, other] : [other, store];
          const results = await Promise.all([first.startNextQueued('web', `env${r}`, r), second.startNextQueued('web', `env${r}`, r)]);
          const started = results.filter((d) => d !== undefined);
          const oldest = all.find((d) => d.environment === `env${r}`)!;
          expect(started.map((d) => d.id)).toEqual([oldest.id]);
          expect((await store.listDeployments({ environment: `env${r}` })).map((d) => [d.id, d.phase]))
            .toEqual(all.filter((d) => d.environment === `env${r}`).map((d) => [d.id, d.id === oldest.id ? 'running' : 'queued']));
        }
        expect((await store.listEvents()).filter((e) => e.type === 'deployment.phase')).toHaveLength(rounds);
      });
    });

    describe('service states', () => {
      it('inserts, replaces and lists service states', async () => {
        await store.createDeployment(newDeployment('d1'));
        await store.createDeployment(newDeployment('d2', { environment: 'dev' }));
        expect(await store.getServiceState('web', 'prod')).toBeUndefined();
        expect(await store.listServiceStates()).toEqual([]);
        await store.transition({
          deploymentId: 'd1', events: [],
          serviceState: { service: 'web', environment: 'prod', stableVersion: 'v2', stableImage: 'r@sha256:2', previousVersion: 'v1', deploymentId: 'd1', updatedAt: 10 },
        });
        await store.transition({
          deploymentId: 'd2', events: [],
          serviceState: { service: 'web', environment: 'dev', stableVersion: 'v2', stableImage: null, previousVersion: null, deploymentId: 'd2', updatedAt: 11 },
        });
        await store.transition({
          deploymentId: 'd1', events: [],
          serviceState: { service: 'web', environment: 'prod', stableVersion: 'v3', stableImage: null, previousVersion: 'v2', deploymentId: null, updatedAt: 12 },
        });
        expect(await store.getServiceState('web', 'prod')).toEqual(
          { service: 'web', environment: 'prod', stableVersion: 'v3', stableImage: null, previousVersion: 'v2', deploymentId: null, updatedAt: 12 });
        expect((await store.listServiceStates()).map((s) => [s.environment, s.stableVersion])).toEqual([['dev', 'v2'], ['prod', 'v3']]);
      });
    });

    describe('events', () => {
      it('lists events in id order, after an id, per deployment, limited', async () => {
        await store.createDeployment(newDeployment('d1'));
        await store.appendEvents([
          { deploymentId: null, at: 1, type: 'freeze.raised', data: { owner: 'ops', reason: 'incident' } },
          { deploymentId: 'd1', at: 2, type: 'step.started', data: { idx: 0 } },
        ]);
        await store.appendEvents([]);
        await store.appendEvents([{ deploymentId: 'd1', at: 3, type: 'step.succeeded', data: { idx: 0 } }]);

        const all = await store.listEvents();
        expect(all.map((e) => e.type)).toEqual(['deployment.created', 'freeze.raised', 'step.started', 'step.succeeded']);
        expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort((a, b) => a - b));
        expect(new Set(all.map((e) => e.id)).size).toBe(4);
        expect(all[1]).toEqual({
          id: all[1].id, deploymentId: null, at: 1, type: 'freeze.raised', data: { owner: 'ops', reason: 'incident' },
          hash: eventHash(all[0].hash, all[1]), prevHash: all[0].hash,
        });

        expect((await store.listEvents({ afterId: all[1].id })).map((e) => e.type)).toEqual(['step.started', 'step.succeeded']);
        expect((await store.listEvents({ afterId: all[3].id }))).toEqual([]);
        expect((await store.listEvents({ deploymentId: 'd1', afterId: all[0].id })).map((e) => e.type)).toEqual(['step.started', 'step.succeeded']);
        expect((await store.listEvents({ limit: 2 })).map((e) => e.type)).toEqual(['deployment.created', 'freeze.raised']);
        expect((await store.listEvents({ afterId: all[0].id, limit: 1 })).map((e) => e.type)).toEqual(['freeze.raised']);
        expect((await store.listEvents({ newestFirst: true, limit: 1 })).map((e) => e.type)).toEqual(['step.succeeded']);
      });

      it('sees every event when tailing by id while two writers append', async () => {
        const other = twin();
        await store.createDeployment(newDeployment('d1'));
        const seen: number[] = [];
        let afterId = 0;
        // One reader: each read continues after the last id the previous read returned.
        let reading = Promise.resolve();
        const tail = () => (reading = reading.then(async () => {
          const batch = await store.listEvents({ afterId });
          for (const e of batch) seen.push(e.data.n as number);
          if (batch.length > 0) afterId = batch[batch.length - 1].id;
        }));
        const writes: Promise<void>[] = [];
        for (let n = 0; n < 40; n++) {
          writes.push((n % 2 === 0 ? store : other).appendEvents([{ deploymentId: 'd1', at: n, type: 'tick', data: { n } }]));
          if (n % 5 === 0) writes.push(tail());
        }
        await Promise.all(writes);
        await tail();
        // deployment.created has no `n`.
        expect(seen.filter((n) => n !== undefined).sort((a, b) => a - b)).toEqual([...Array(40).keys()]);
        expect(seen.filter((n) => n !== undefined)).toHaveLength(40);
      });
    });

    describe('hash chain', () => {
      it('hashes the canonical content after the previous hash (a fixed vector)', async () => {
        await store.appendEvents([{ deploymentId: null, at: 1_700_000_000_000, type: 'freeze.raised', data: { reason: 'incident 7', owner: 'ops', scope: { service: null, environment: 'prod' } } }]);
        const [e] = await store.listEvents();
        const expected = createHash('sha256').update(`${'0'.repeat(64)}\n`
          + '{"at":1700000000000,"data":{"owner":"ops","reason":"incident 7","scope":{"environment":"prod","service":null}},"deploymentId":null,"id":1,"type":"freeze.raised"}')
          .digest('hex');
        expect(e).toEqual({
          id: 1, deploymentId: null, at: 1_700_000_000_000, type: 'freeze.raised',
          data: { reason: 'incident 7', owner: 'ops', scope: { service: null, environment: 'prod' } }, prevHash: GENESIS_HASH, hash: expected,
        });
      });

      it('chains the events of every append path: create, transition, start, append', async () => {
        await store.createDeployment(newDeployment('d1'));
        await store.createDeployment(newDeployment('d2'));
        await store.startNextQueued('web', 'prod', 10);
        await store.transition({ deploymentId: 'd1', step: { idx: 0, patch: { status: 'running', startedAt: 11 } }, events: [
          { deploymentId: 'd1', at: 11, type: 'step.started', data: { idx: 0 } },
          // Members that are undefined are not stored, so they must not be hashed either.
          { deploymentId: 'd1', at: 11, type: 'note', data: { text: 'ünïcödé ✓', skipped: undefined, list: [1, 2.5, -3] } },
        ] });
        await store.transition({ deploymentId: 'd1', events: [] });
        expect(await store.transition({ deploymentId: 'd1', expectLeaseOwner: 'someone', events: [{ deploymentId: 'd1', at: 12, type: 'lost', data: {} }] })).toBe(false);
        await store.appendEvents([
          { deploymentId: null, at: 13, type: 'freeze.created', data: { id: 'f1' } },
          { deploymentId: 'd2', at: 14, type: 'gate.wait', data: { gate: 'window' } },
        ]);
        expect((await store.listEvents()).map((e) => e.type))
          .toEqual(['deployment.created', 'deployment.created', 'deployment.phase', 'step.started', 'note', 'freeze.created', 'gate.wait']);
        await expectValid(store, 7);
      });

      it('keeps one valid chain when two store instances append at the same time', async () => {
        const other = twin();
        const writes: Promise<unknown>[] = [];
        for (let n = 0; n < 12; n++) {
          const s = n % 2 === 0 ? store : other;
          writes.push(s.createDeployment(newDeployment(`c${n}`, { environment: `env${n}` })));
          writes.push(s.appendEvents([{ deploymentId: null, at: n, type: 'tick', data: { n } }, { deploymentId: null, at: n, type: 'tock', data: { n } }]));
        }
        await Promise.all(writes);
        await Promise.all(Array.from({ length: 12 }, (_, n) => [
          store.startNextQueued('web', `env${n}`, 100 + n),
          other.transition({ deploymentId: `c${n}`, events: [{ deploymentId: `c${n}`, at: 200 + n, type: 'step.started', data: { idx: 0 } }] }),
        ]).flat());
        await expectValid(other, 12 * 3 + 12 * 2);
      });
    });

    describe('analysis records', () => {
      it('keeps verdicts with their measurements, in order, per deployment', async () => {
        await store.createDeployment(newDeployment('d1'));
        await store.createDeployment(newDeployment('d2', { environment: 'dev' }));
        const v = { deploymentId: 'd1', at: 5, stepIdx: 3, template: 'runbook-defaults', rule: 'error-rate', kind: 'threshold', verdict: 'fail' as const,
          reason: 'error_rate 7.1% > 5% for 2m0s', measurements: [{ at: 5, metric: 'error_rate', canary: 0.071, stable: null, samples: { canary: 420, stable: null } }] };
        await store.appendVerdicts([v, { ...v, at: 6, stepIdx: null, rule: 'judge', kind: 'judge', verdict: 'inconclusive', reason: 'too few', measurements: [] }]);
        await store.appendVerdicts([{ ...v, deploymentId: 'd2' }]);
        const list = await store.listVerdicts({ deploymentId: 'd1' });
        expect(list.map(({ id: _id, ...rest }) => rest)).toEqual([v, { ...v, at: 6, stepIdx: null, rule: 'judge', kind: 'judge', verdict: 'inconclusive', reason: 'too few', measurements: [] }]);
        expect((await store.listVerdicts({ deploymentId: 'd1', afterId: list[0].id })).map((x) => x.rule)).toEqual(['judge']);
        expect((await store.listVerdicts({ deploymentId: 'd1', newestFirst: true, limit: 1 })).map((x) => x.rule)).toEqual(['judge']);
      });

      it('filters events by type (exact or prefix), service, environment, actor and time, newest first in pages', async () => {
        await store.createDeployment(newDeployment('d1', { actor: 'alice' }));
        await store.createDeployment(newDeployment('d2', { environment: 'dev', actor: 'bob' }));
        await store.appendEvents([
          { deploymentId: 'd1', at: 10, type: 'step.started', data: { idx: 0 } },
          { deploymentId: 'd1', at: 11, type: 'deployment.promote_requested', data: { actor: 'carol' } },
          { deploymentId: 'd2', at: 12, type: 'step.succeeded', data: { idx: 0 } },
          { deploymentId: null, at: 13, type: 'freeze.created', data: { environment: 'prod', owner: 'ops', actor: 'dora' } },
          { deploymentId: null, at: 14, type: 'freeze.lifted', data: { by: 'erin' } },
        ]);
        const ids = async (f: Parameters<Store['listEvents']>[0]) => (await store.listEvents(f)).map((e) => `${e.type}@${e.at}`);
        expect(await ids({ types: ['step.*'] })).toEqual(['step.started@10', 'step.succeeded@12']);
        expect(await ids({ types: ['freeze.created', 'deployment.*'] }))
          .toEqual(['deployment.created@1700000000000', 'deployment.created@1700000000000', 'deployment.promote_requested@11', 'freeze.created@13']);
        expect(await ids({ environment: 'prod', until: 100 })).toEqual(['step.started@10', 'deployment.promote_requested@11', 'freeze.created@13']);
        expect(await ids({ service: 'web', environment: 'dev' })).toEqual(['deployment.created@1700000000000', 'step.succeeded@12']);
        // The event's own actor first, else its deployment's.
        expect(await ids({ actor: 'alice' })).toEqual(['deployment.created@1700000000000', 'step.started@10']);
        expect(await ids({ actor: 'carol' })).toEqual(['deployment.promote_requested@11']);
        expect(await ids({ actor: 'erin' })).toEqual(['freeze.lifted@14']);
        expect(await ids({ since: 11, until: 13 })).toEqual(['deployment.promote_requested@11', 'step.succeeded@12', 'freeze.created@13']);
        const newest = await store.listEvents({ newestFirst: true, limit: 2 });
        expect(newest.map((e) => e.type)).toEqual(['freeze.lifted', 'freeze.created']);
        expect(await ids({ newestFirst: true, limit: 2, beforeId: newest[1].id })).toEqual(['step.succeeded@12', 'deployment.promote_requested@11']);
      });

      it('keeps per-release samples per deployment, by time, a repeated sample once', async () => {
        await store.createDeployment(newDeployment('d1'));
        await store.createDeployment(newDeployment('d2', { environment: 'dev' }));
        const a = { deploymentId: 'd1', at: 5000, version: 'v1', intervalMs: 2000, requests: 120, errors: 0, p95Seconds: 0.0125 };
        const b = { deploymentId: 'd1', at: 5000, version: 'v2', intervalMs: 2000, requests: 30, errors: 6, p95Seconds: 0.25 };
        const c = { deploymentId: 'd1', at: 10_000, version: 'v2', intervalMs: 5000, requests: 0, errors: 0, p95Seconds: null };
        await store.appendReleaseSamples([b, a]);
        await store.appendReleaseSamples([{ ...b, errors: 99 }, c, { ...a, deploymentId: 'd2' }]);
        expect(await store.listReleaseSamples({ deploymentId: 'd1' })).toEqual([a, b, c]);
        expect(await store.listReleaseSamples({ deploymentId: 'd1', since: 6000 })).toEqual([c]);
        expect(await store.listReleaseSamples({ deploymentId: 'd1', limit: 1 })).toEqual([a]);
        expect(await store.listReleaseSamples({ deploymentId: 'nope' })).toEqual([]);
        await store.appendReleaseSamples([]);
      });

      it('records a rejection in the same transition and keeps the first one', async () => {
        await store.createDeployment(newDeployment('d1'));
        const rejection = { service: 'web', environment: 'prod', version: 'v2', deploymentId: 'd1', at: 9, reason: 'error rate 7% > 5%' };
        expect(await store.transition({ deploymentId: 'd1', deployment: { phase: 'rolled_back' }, rejection, events: [] })).toBe(true);
        expect(await store.transition({ deploymentId: 'd1', rejection: { ...rejection, at: 10, reason: 'again' }, events: [] })).toBe(true);
        expect(await store.listRejections({ environment: 'prod' })).toEqual([rejection]);
        expect(await store.listRejections({ version: 'v3' })).toEqual([]);
      });

      it('keeps analysis state by deployment and key, and the promote request flag', async () => {
        await store.createDeployment(newDeployment('d1'));
        expect(await store.getAnalysisState('d1', 'background')).toBeUndefined();
        await store.setAnalysisState('d1', 'background', { 'error-rate': { breachSince: 3, tolerated: 0 } }, 4);
        await store.setAnalysisState('d1', 'background', { 'error-rate': { breachSince: null, tolerated: 1 } }, 5);
        expect(await store.getAnalysisState('d1', 'background')).toEqual({ 'error-rate': { breachSince: null, tolerated: 1 } });
        expect((await store.getDeployment('d1'))?.promoteRequested).toBe(false);
        await store.transition({ deploymentId: 'd1', deployment: { promoteRequested: true }, events: [] });
        expect((await store.getDeployment('d1'))?.promoteRequested).toBe(true);
      });
    });

    describe('gate records', () => {
      it('keeps gate results with evidence, per deployment and for refused requests', async () => {
        await store.createDeployment(newDeployment('d1', { expedited: true, requestedImage: 'reg/web:2' }));
        const r = { deploymentId: 'd1', service: 'web', environment: 'prod', version: 'v2', at: 3, gate: 'window', result: 'wait' as const,
          reason: 'closed until Mon 09:00 America/New_York', until: 99, evidence: { window: 'deny weekdays 09-17' } };
        await store.appendGateResults([r, { ...r, deploymentId: null, gate: 'freeze', result: 'fail', until: null }]);
        expect((await store.listGateResults({ deploymentId: 'd1' })).map(({ id: _id, ...rest }) => rest)).toEqual([r]);
        expect((await store.listGateResults({ service: 'web', environment: 'prod' })).map((x) => x.gate)).toEqual(['window', 'freeze']);
        const d = await store.getDeployment('d1');
        expect([d?.expedited, d?.requestedImage]).toEqual([true, 'reg/web:2']);
      });

      it('keeps one decision per approver, the latest', async () => {
        await store.createDeployment(newDeployment('d1'));
        await store.recordApproval({ deploymentId: 'd1', actor: 'bob', decision: 'reject', groups: ['ops'], comment: 'wait', at: 1 });
        await store.recordApproval({ deploymentId: 'd1', actor: 'bob', decision: 'approve', groups: ['ops'], comment: null, at: 2 });
        await store.recordApproval({ deploymentId: 'd1', actor: 'cy', decision: 'approve', groups: [], comment: null, at: 3 });
        expect(await store.listApprovals('d1')).toEqual([
          { deploymentId: 'd1', actor: 'bob', decision: 'approve', groups: ['ops'], comment: null, at: 2 },
          { deploymentId: 'd1', actor: 'cy', decision: 'approve', groups: [], comment: null, at: 3 },
        ]);
      });

      it('creates, lists and lifts freezes, by alert fingerprint too', async () => {
        const f = { id: 'f1', environment: 'prod', service: null, owner: 'ana', reason: 'incident 42', source: 'alert' as const, alertFingerprint: 'abc', createdAt: 1, liftedAt: null, liftedBy: null };
        await store.createFreeze(f);
        await store.createFreeze({ ...f, id: 'f2', source: 'manual', alertFingerprint: null, createdAt: 2 });
        expect((await store.listFreezes({ alertFingerprint: 'abc' })).map((x) => x.id)).toEqual(['f1']);
        expect(await store.liftFreeze('f1', 'alertmanager', 5)).toEqual({ ...f, liftedAt: 5, liftedBy: 'alertmanager' });
        expect(await store.liftFreeze('f1', 'later', 9)).toEqual({ ...f, liftedAt: 5, liftedBy: 'alertmanager' });
        expect(await store.liftFreeze('nope', 'x', 9)).toBeUndefined();
        expect((await store.listFreezes()).map((x) => x.id)).toEqual(['f2']);
        expect((await store.listFreezes({ all: true })).map((x) => x.id)).toEqual(['f1', 'f2']);
      });

      it('keeps checklist confirmations per item', async () => {
        await store.createDeployment(newDeployment('d1'));
        await store.confirmChecklist({ deploymentId: 'd1', item: 'backup', actor: 'ana', at: 1, note: 'snapshot 7' });
        await store.confirmChecklist({ deploymentId: 'd1', item: 'backup', actor: 'bob', at: 2, note: null });
        expect(await store.listChecklist('d1')).toEqual([{ deploymentId: 'd1', item: 'backup', actor: 'bob', at: 2, note: null }]);
      });
    });

    describe('metrics and DORA records', () => {
      it('keeps a commit time and lists the deployments that finished since a time', async () => {
        await store.createDeployment(newDeployment('d1', { commitTime: 1_699_999_000_000 }));
        await store.createDeployment(newDeployment('d2'));
        await store.createDeployment(newDeployment('d3'));
        await store.transition({ deploymentId: 'd1', deployment: { phase: 'succeeded', finishedAt: 1_700_000_100_000 }, events: [] });
        await store.transition({ deploymentId: 'd2', deployment: { phase: 'failed', finishedAt: 1_700_000_200_000 }, events: [] });
        expect([(await store.getDeployment('d1'))?.commitTime, (await store.getDeployment('d2'))?.commitTime]).toEqual([1_699_999_000_000, null]);
        expect((await store.listDeployments({ finishedSince: 1_700_000_150_000 })).map((d) => d.id)).toEqual(['d2']);
        expect((await store.listDeployments({ finishedSince: 1_700_000_100_000 })).map((d) => d.id)).toEqual(['d1', 'd2']);
      });

      it('sums deployments by phase, finished steps into histogram buckets, and verdicts', async () => {
        const T = 1_700_000_000_000;
        await store.createDeployment(newDeployment('d1'));
        await store.createDeployment(newDeployment('d2'));
        await store.createDeployment(newDeployment('d3', { environment: 'dev' }));
        await store.transition({ deploymentId: 'd1', deployment: { phase: 'succeeded', finishedAt: T }, step: { idx: 0, patch: { status: 'succeeded', startedAt: T, finishedAt: T + 400 } }, events: [] });
        await store.transition({ deploymentId: 'd1', step: { idx: 1, patch: { status: 'succeeded', startedAt: T + 1000, finishedAt: T + 1000 } }, events: [] });
        await store.transition({ deploymentId: 'd3', deployment: { phase: 'running' }, step: { idx: 0, patch: { status: 'succeeded', startedAt: T, finishedAt: T + 2500 } }, events: [] });
        await store.transition({ deploymentId: 'd3', step: { idx: 1, patch: { status: 'running', startedAt: T + 3000 } }, events: [] });
        const v = { deploymentId: 'd1', at: T, stepIdx: 2, template: 'default', rule: 'error-rate', kind: 'threshold', verdict: 'fail' as const, reason: 'r', measurements: [] };
        await store.appendVerdicts([v, v, { ...v, verdict: 'pass' }, { ...v, rule: 'judge', verdict: 'pass' }]);
        expect(await store.metricsSummary([500, 1000, 2500])).toEqual({
          deployments: [
            { service: 'web', environment: 'dev', phase: 'running', count: 1 },
            { service: 'web', environment: 'prod', phase: 'queued', count: 1 },
            { service: 'web', environment: 'prod', phase: 'succeeded', count: 1 },
          ],
          steps: [
            { type: 'start', count: 2, sumMs: 2900, atMost: [1, 1, 2] },
            { type: 'switch', count: 1, sumMs: 0, atMost: [1, 1, 1] },
          ],
          verdicts: [
            { template: 'default', rule: 'error-rate', verdict: 'fail', count: 2 },
            { template: 'default', rule: 'error-rate', verdict: 'pass', count: 1 },
            { template: 'default', rule: 'judge', verdict: 'pass', count: 1 },
          ],
        });
      });

      it('summarises an empty store as nothing', async () => {
        expect(await store.metricsSummary([1000])).toEqual({ deployments: [], steps: [], verdicts: [] });
      });
    });

    describe('migrations', () => {
      it('applies once; migrating again, or from two instances at once, changes nothing', async () => {
        await store.createDeployment(newDeployment('d1'));
        await store.migrate();
        const all = Object.keys(await new StoreMigrationProvider(dialect).getMigrations()).length;
        expect(await db.count('kysely_migration')).toBe(all);
        expect((await store.getDeployment('d1'))?.id).toBe('d1');

        const fresh = await freshDatabase(dialect, true);
        const [a, b] = [fresh.open(), fresh.open()];
        opened.push(a, b);
        await Promise.all([a.migrate(), b.migrate()]);
        expect(await fresh.count('kysely_migration')).toBe(all);
        await a.createDeployment(newDeployment('x'));
        expect((await b.getDeployment('x'))?.seq).toBe(1);
      });

      it('0004 hashes a log written before it, and continues the chain from it; down and up again', async () => {
        const fresh = await freshDatabase(dialect, true);
        const legacy = legacyDatabase(fresh);
        try {
          const migrator = new Migrator({ db: legacy, provider: new StoreMigrationProvider(dialect) });
          expect((await migrator.migrateTo('0003_gates')).error).toBeUndefined();
          // As the store wrote events before 0004: ids from the database, no hashes.
          await legacy.insertInto('events').values([
            { deployment_id: null, at: 1, type: 'freeze.created', data: '{"owner":"ana","reason":"audit"}' },
            { deployment_id: null, at: 2, type: 'freeze.lifted', data: '{"by":"ana"}' },
            { deployment_id: null, at: 3, type: 'note', data: '{"nested":{"b":1,"a":[true,null]}}' },
          ]).execute();

          const s = fresh.open();
          opened.push(s);
          await s.migrate();
          await s.appendEvents([{ deploymentId: null, at: 4, type: 'after', data: {} }]);
          await expectValid(s, 4);
          const hashes = (await s.listEvents()).map((e) => e.hash);

          // Down to before 0004 (undoing every later migration first).
          expect((await migrator.migrateTo('0003_gates')).error).toBeUndefined();
          const columns = (await legacy.introspection.getTables()).find((t) => t.name === 'events')!.columns.map((c) => c.name).sort();
          expect(columns).toEqual(['at', 'data', 'deployment_id', 'id', 'type']);
          // The way back restores the database-assigned ids.
          await legacy.insertInto('events').values({ deployment_id: null, at: 5, type: 'old writer', data: '{}' }).execute();
          expect(await fresh.count('events')).toBe(5);

          await s.migrate();
          await expectValid(s, 5);
          expect((await s.listEvents()).slice(0, 4).map((e) => e.hash)).toEqual(hashes);
        } finally {
          await legacy.destroy();
        }
      });

      it('openStore returns a migrated store for the config', async () => {
        const fresh = await freshDatabase(dialect, true);
        const s = await openStore(fresh.config);
        opened.push(s);
        expect((await s.createDeployment(newDeployment('d1'))).seq).toBe(1);
        expect(await fresh.count('kysely_migration')).toBe(Object.keys(await new StoreMigrationProvider(dialect).getMigrations()).length);
      });
    });
  });
}

/**
 * Builds the SQLite store as plain JavaScript (TypeScript's transpiler, no type check) with a
 * small driver script, so real separate processes can race on one database file.
 */
async function buildChildStore(): Promise<string> {
  const ts = (await import('typescript')).default;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const out = await mkdtemp(join(tmpdir(), 'gangway-store-child-'));
  await symlink(join(root, 'node_modules'), join(out, 'node_modules'), 'dir');
  await writeFile(join(out, 'package.json'), '{"type":"module","version":"0.0.0-child"}');
  for (const rel of ['src/errors.ts', 'src/version.ts', 'src/store/types.ts', 'src/store/schema.ts', 'src/store/event-chain.ts', 'src/store/migrations.ts',
    'src/store/kysely-store.ts', 'src/store/sqlite/sqlite-store.ts']) {
    const { outputText } = ts.transpileModule(await readFile(join(root, rel), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    await mkdir(dirname(join(out, rel)), { recursive: true });
    await writeFile(join(out, rel.replace(/\.ts$/, '.js')), outputText);
  }
  // Protocol: prints "ready" after migrating; on "go" creates one deployment per pair and tries
  // to start each pair's next one; on "claim" tries to claim every deployment; prints JSON.
  await writeFile(join(out, 'race.mjs'), `
import { createInterface } from 'node:readline';
import { openSqliteStore } from './src/store/sqlite/sqlite-store.js';
const [file, who, pairsArg] = process.argv.slice(2);
const pairs = Number(pairsArg);
const store = openSqliteStore(file);
await store.migrate();
console.log('ready');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
await lines.next();
const started = [];
for (let p = 0; p < pairs; p++) {
  await store.createDeployment({ id: who + '-' + p, service: 'web', environment: 'env' + p, kind: 'deploy', version: 'v' + p,
    image: null, actor: who, reason: null, previousVersion: null, planHash: 'h', createdAt: p, steps: [] });
  const d = await store.startNextQueued('web', 'env' + p, p);
  if (d) started.push(d.id);
}
console.log(JSON.stringify(started));
await lines.next();
const claimed = [];
for (let p = 0; p < pairs; p++) {
  for (const id of ['a-' + p, 'b-' + p]) if (await store.claimLease(id, who, 1000, 60000)) claimed.push(id);
}
console.log(JSON.stringify(claimed));
await store.close();
process.exit(0);
`);
  return out;
}

describe('store (sqlite) across processes', () => {
  let childDir: string | undefined;
  afterAll(async () => {
    if (childDir) await rm(childDir, { recursive: true, force: true });
  });

  it('two processes migrate, create, start and claim on one file without double starts or double claims', async () => {
    childDir = await buildChildStore();
    const file = join(sqliteDir, 'processes', 'state.db');
    await mkdir(dirname(file), { recursive: true });
    const pairs = 25;
    const children = ['a', 'b'].map((who) => {
      const child = spawn(process.execPath, [join(childDir!, 'race.mjs'), file, who, String(pairs)], { stdio: ['pipe', 'pipe', 'inherit'] });
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const next = async () => {
        const line = await lines.next();
        if (line.done) throw new Error(`process ${who} exited with ${await exited}`);
        return line.value;
      };
      return { child, next, exited };
    });
    const both = <T>(f: (c: typeof children[number]) => Promise<T>) => Promise.all(children.map(f));
    onTestFinished(() => { for (const c of children) if (c.child.exitCode === null) c.child.kill(); });

    // Both migrate the new file at the same time.
    expect(await both((c) => c.next())).toEqual(['ready', 'ready']);
    for (const c of children) c.child.stdin!.write('go\n');
    const started = (await both((c) => c.next())).flatMap((l) => JSON.parse(l) as string[]);
    for (const c of children) c.child.stdin!.write('claim\n');
    const claimed = (await both((c) => c.next())).map((l) => JSON.parse(l) as string[]);
    expect(await both((c) => c.exited)).toEqual([0, 0]);

    const store = openSqliteStore(file);
    try {
      const all = await store.listDeployments();
      expect(all).toHaveLength(2 * pairs);
      expect(all.map((d) => d.seq)).toEqual(Array.from({ length: 2 * pairs }, (_, i) => i + 1));
      // Both processes appended to one chain: a created event per deployment, a phase event per start.
      expect(await verifyChain(readEventLog(store))).toMatchObject({ ok: true, count: 3 * pairs, gaps: [] });
      // Exactly one start per pair, and the store agrees with what the processes reported.
      expect(started).toHaveLength(pairs);
      expect(all.filter((d) => d.phase === 'running').map((d) => d.id).sort()).toEqual([...started].sort());
      expect(new Set(all.filter((d) => d.phase === 'running').map((d) => d.environment)).size).toBe(pairs);
      // Every deployment claimed by exactly one process, the one the store names.
      expect([...claimed[0], ...claimed[1]].sort()).toEqual(all.map((d) => d.id).sort());
      for (const d of all) expect(d.leaseOwner).toBe(claimed[0].includes(d.id) ? 'a' : 'b');
      const raw = new BetterSqlite3(file, { readonly: true });
      try {
        expect(raw.prepare('select count(*) as n from kysely_migration').get()).toEqual({ n: Object.keys(await new StoreMigrationProvider('sqlite').getMigrations()).length });
      } finally {
        raw.close();
      }
    } finally {
      await store.close();
    }
  });
});
