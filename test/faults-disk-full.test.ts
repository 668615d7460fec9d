/**
 * The SQLite store's disk full, through the real product: the state folder (`.gangway`: the
 * store, the logs, the agent's state file) is a small tmpfs that the test fills. Given a
 * serving release, when a deployment is requested on the full disk, then the CLI fails with a
 * clear error (disk full, SQLITE_FULL, and the fix), nothing is half-written (the store opens,
 * holds what it held, and `gangway audit verify` passes once space is freed), the serving
 * release is untouched and keeps answering, and the next deployment after freeing space succeeds.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APP, projectHeader, freePorts, makeProject, runCli, sleep, waitForEnd, type Project } from './support/gangway.js';
import { mountSmallDisk, smallDiskOrSkip, type SmallDisk } from './support/small-disk.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';

const LIMIT_MS = 300_000;
const permitted = await smallDiskOrSkip('disk-full fault tests');

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => { for (const c of cleanups.reverse()) await c().catch(() => undefined); }, LIMIT_MS);

async function served(port: number): Promise<string> {
  return (await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim();
}

describe.skipIf(!permitted)('the SQLite store\'s disk full', () => {
  it('a deployment requested on a full disk fails clearly, writes nothing, and the serving release keeps answering', async () => {
    const [port, preview] = await freePorts(2);
    let disk: SmallDisk | null = null;
    const p: Project = await makeProject((ports) => `
${projectHeader('diskfull', ports)}environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}" }
        instances: 2
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, failureThreshold: 3, startTimeout: 30s }
    strategy:
      blueGreen: { previewPort: ${preview}, scaleDownDelay: 0s }
    rollback: { watch: 0s }
`);
    cleanups.push(async () => {
      disk?.free();
      // The agent and its instances hold files on the small disk: stop them before unmounting.
      try { await p.cleanup(); } catch { /* the mount point itself cannot be removed yet */ }
      await disk?.unmount();
      rmSync(p.dir, { recursive: true, force: true });
    });
    disk = await mountSmallDisk(join(p.dir, '.gangway'), 16 << 20);
    await p.up();
    const first = await p.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '1.0.0' });
    expect((await waitForEnd(p, first.body.id, 120_000)).phase).toBe('succeeded');
    expect(await served(port)).toBe('1.0.0');

    const filled = disk.fill();
    expect(filled).toBeGreaterThan(0);
    expect(disk.available()).toBe(0);

    const r = await runCli(p.dir, ['deploy', 'web', '--env', 'dev', '--version', '2.0.0']);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/disk full \(SQLITE_FULL, ENOSPC\); nothing was written/);
    expect(r.stderr).toContain('free space on the disk of');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const asJson = await runCli(p.dir, ['deploy', 'web', '--env', 'dev', '--version', '2.0.0', '-o', 'json']);
    expect(asJson.code).toBe(r.code);

    // The orchestrator and the agent are still up; the serving release is untouched and answers.
    expect(p.proc?.exitCode).toBeNull();
    expect(await served(port)).toBe('1.0.0');
    const list = await p.api<Array<{ version: string; phase: string }>>('GET', '/v1/deployments');
    expect(list.body.map((d) => [d.version, d.phase])).toEqual([['1.0.0', 'succeeded']]);

    disk.free();
    expect(disk.available()).toBeGreaterThan(0);
    // Nothing half-written: the store opens and holds what it held, and the event chain verifies.
    const store = openSqliteStore(join(p.dir, '.gangway', 'state.db'));
    try {
      expect((await store.listDeployments({})).map((d) => [d.version, d.phase])).toEqual([['1.0.0', 'succeeded']]);
    } finally {
      await store.close();
    }
    const audit = await runCli(p.dir, ['audit', 'verify']);
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);
    // The orchestrator's log names the fault once it can be written again.
    let logged = '';
    for (let i = 0; i < 100 && !logged.includes('SQLITE_FULL'); i++) {
      await sleep(50);
      logged = readFileSync(join(p.dir, '.gangway', 'orchestrator.log'), 'utf8');
    }

    // With space again, the next deployment goes through.
    const next = await p.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '2.0.0' });
    expect(next.status).toBe(201);
    expect((await waitForEnd(p, next.body.id, 120_000)).phase).toBe('succeeded');
    expect(await served(port)).toBe('2.0.0');
    expect(logged).toContain('SQLITE_FULL');
  }, LIMIT_MS);
});
