/**
 * Records an auditor accepts, end to end: real `gangway up`, a real PostgreSQL (Debian's, with
 * the matching pg_dump), real git repositories and a real webhook receiver.
 *
 * Given  a service whose deployments migrate a database (backup first, then the migration,
 *        then a validation query; rollback restores the backup), records kept in a git
 *        repository pushed to a bare remote, and a signed webhook for every outcome
 * When   1.0.0 ships, then release "1" migrates the schema again but never becomes healthy
 * Then   the first migration stays; the second is undone by restoring its backup (schema and
 *        rows exactly as before); each deployment's record is committed and pushed; the
 *        webhook receives started/succeeded and started/rolled_back, each correctly signed;
 *        the event log verifies.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, ROOT, freePorts, makeProject, projectHeader, runCli, sleep, waitForEnd, type Project } from './support/gangway.js';
import { existsSync } from 'node:fs';
import { DEBIAN_POSTGRES_PACKAGE, findDebianPostgres, startDebianPostgres, type DebianPostgres } from './support/debian-postgres.js';
import { git, makeRepos, type Repos } from './support/git-repos.js';
import { requireOrSkip } from './support/require.js';

const hasPostgres = (() => { try { findDebianPostgres(); return true; } catch { return false; } })();
const available = requireOrSkip('the end-to-end records suite (test/records.test.ts)', `${DEBIAN_POSTGRES_PACKAGE} and the Debian package git`,
  hasPostgres && existsSync('/usr/bin/git'));

const SECRET = 'e2e-webhook-secret';
let pgServer: DebianPostgres | undefined;
let repos: Repos;
let project: Project;
let receiver: http.Server;
let dbUrl: string;
const received: Array<{ event: string; signatureOk: boolean; body: { event: string; deployment: { version: string; phase: string } } }> = [];

async function query<T>(sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try { return (await c.query(sql)).rows as T[]; } finally { await c.end(); }
}

const columns = () => query<{ column_name: string }>("select column_name from information_schema.columns where table_name = 'accounts' order by ordinal_position").then((r) => r.map((x) => x.column_name));
const names = () => query<{ name: string }>('select name from accounts order by id').then((r) => r.map((x) => x.name));

describe.skipIf(!available)('records, notifications and migrations with a way back', () => {
  beforeAll(async () => {
    pgServer = await startDebianPostgres();
    dbUrl = await pgServer.createDatabase('shop');
    await query('create table accounts (id int primary key, name text not null)');
    await query("insert into accounts values (1, 'ana'), (2, 'bob')");
    repos = await makeRepos();
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        const expected = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
        received.push({ event: String(req.headers['x-gangway-event']), signatureOk: req.headers['x-gangway-signature'] === expected, body: JSON.parse(body) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    process.env.E2E_WEBHOOK_SECRET = SECRET;
    const [port] = await freePorts(1);
    project = await makeProject((p) => `
${projectHeader('records', p)}records:
  repo: "${repos.work}"
  remote: origin
  branch: main
notifications:
  - name: audit-hook
    webhook: { url: "${hook}", secretFromEnv: E2E_WEBHOOK_SECRET }
    retries: 2
environments:
  prod: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", FAIL_HEALTH: "\${release.version}" }
        port: ${port}
    health: { path: /health, interval: 100ms, startTimeout: 5s }
    rollback: { watch: 0s }
    migrations:
      backup: { pgDump: { url: "${dbUrl}" } }
      migrate: ["${process.execPath}", "${join(ROOT, 'test/fixtures/migrate.mjs')}"]
      validate: { sql: { url: "${dbUrl}", query: "select count(*) = 2 from accounts" } }
      rollback: restore
      env: { DATABASE_URL: "${dbUrl}" }
`);
    await project.up();
  }, 120_000);

  afterAll(async () => {
    await project?.cleanup();
    await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
    await repos?.remove();
    await pgServer?.stop();
    delete process.env.E2E_WEBHOOK_SECRET;
  });

  it('migrates, restores on rollback, records every deployment in git and signs every notification', async () => {
    // 1.0.0: backup, migration, validation, then the release.
    const first = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'prod', version: '1.0.0' });
    const one = await waitForEnd(project, first.body.id) as unknown as { phase: string; steps: Array<{ title: string; status: string; output: Record<string, unknown> | null }> };
    expect(one.phase).toBe('succeeded');
    expect(one.steps.slice(1, 4).map((s) => [s.title.replace(/ to \/.*$/, ' to <file>'), s.status])).toEqual([
      ['back up the database to <file>', 'succeeded'], ['migrate the database', 'succeeded'], ['validate the migration', 'succeeded'],
    ]);
    expect(one.steps[2].output?.output).toBe('migrated accounts to 1.0.0: added v_1_0_0\n');
    expect(await columns()).toEqual(['id', 'name', 'v_1_0_0']);
    expect(await names()).toEqual(['ana (1.0.0)', 'bob (1.0.0)']);

    // Release "1" migrates again but never becomes healthy: traffic stays, the backup is restored.
    const second = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'prod', version: '1' });
    const two = await waitForEnd(project, second.body.id) as unknown as { phase: string; steps: Array<{ stage: string; title: string; status: string }> };
    expect(two.phase).toBe('rolled_back');
    expect(two.steps.filter((s) => s.stage === 'rollback').map((s) => [s.title, s.status])).toEqual([
      ['scale 1.0.0 to 1 instance', 'succeeded'], ['wait for 1 healthy instance of 1.0.0', 'succeeded'], ['all traffic to 1.0.0', 'succeeded'],
      ['roll back the migration', 'succeeded'], ['stop 1', 'succeeded'],
    ]);
    expect(await columns()).toEqual(['id', 'name', 'v_1_0_0']);
    expect(await names()).toEqual(['ana (1.0.0)', 'bob (1.0.0)']);

    // Records: one file per deployment, committed and pushed to the bare remote.
    const deadline = Date.now() + 20_000;
    let log = '';
    while (Date.now() < deadline) {
      log = await git(repos.bare, 'log', '--format=%s', 'main');
      if (log.split('\n').length >= 3) break;
      await sleep(200);
    }
    expect(log.split('\n')).toEqual([
      `deploy: web 1 to prod rolled back (${second.body.id})`,
      `deploy: web 1.0.0 to prod succeeded (${first.body.id})`,
      'initial',
    ]);
    const files = (await git(repos.bare, 'ls-tree', '-r', '--name-only', 'main')).split('\n').filter((f) => f.startsWith('docs/deployments/prod/'));
    expect(files).toHaveLength(2);
    const record = await git(repos.bare, 'show', `main:${files.find((f) => f.includes(second.body.id))}`);
    expect(record).toContain('rolled_back');
    expect(record).toContain(second.body.id);

    // Notifications: started and an outcome for each deployment, every body signed with the secret.
    while (received.length < 4 && Date.now() < deadline) await sleep(100);
    expect(received.map((r) => [r.event, r.body.deployment.version, r.signatureOk])).toEqual([
      ['started', '1.0.0', true], ['succeeded', '1.0.0', true], ['started', '1', true], ['rolled_back', '1', true],
    ]);

    // The event log is intact.
    const audit = await runCli(project.dir, ['audit', 'verify']);
    expect(audit.code).toBe(0);
  }, 120_000);
});
