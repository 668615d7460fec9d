/**
 * `gangway audit verify` and `gangway audit export` against a real API server reading a real
 * SQLite store, whose database file the tests tamper with directly.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import BetterSqlite3 from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildServer } from '../../server/app.js';
import type { KyselyStore } from '../../store/kysely-store.js';
import { openSqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { EventRecord } from '../../store/types.js';
import { FakeOrchestrator } from '../../../test/support/fake-orchestrator.js';
import { main } from '../main.js';

const TOKEN = 'cli-audit-token';

let dir: string;
let dbFile: string;
let store: KyselyStore;
let app: FastifyInstance;
let api: string;

interface Run { code: number; stdout: string; stderr: string }

async function run(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'gangway', ...args], {
    stdout: { write: (s: string) => { stdout += s; } },
    stderr: { write: (s: string) => { stderr += s; } },
    env: { GANGWAY_ACTOR: 'auditor', GANGWAY_TOKEN: TOKEN, GANGWAY_API: api }, cwd: dir, pollMs: 5, refreshMs: 20,
  });
  return { code, stdout, stderr };
}

function tamper(sql: string): void {
  const raw = new BetterSqlite3(dbFile);
  try {
    raw.exec(sql);
  } finally {
    raw.close();
  }
}

const events = (): Promise<EventRecord[]> => store.listEvents();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gangway-cli-audit-'));
  dbFile = join(dir, 'state.db');
  store = openSqliteStore(dbFile);
  await store.migrate();
  await store.createDeployment({
    id: 'd1', service: 'web', environment: 'prod', kind: 'deploy', version: 'v2', image: null, actor: 'alice', reason: 'CHG-1',
    previousVersion: 'v1', planHash: 'h', createdAt: 1000, steps: [],
  });
  await store.startNextQueued('web', 'prod', 1001);
  await store.appendEvents([
    { deploymentId: 'd1', at: 1002, type: 'step.started', data: { idx: 0 } },
    { deploymentId: 'd1', at: 1003, type: 'step.succeeded', data: { idx: 0 } },
    { deploymentId: 'd1', at: 1004, type: 'deployment.phase', data: { from: 'running', to: 'succeeded' } },
  ]);
  const orchestrator = new FakeOrchestrator({ services: { web: ['prod'] } });
  // The API reads the log from the real store, as the orchestrator does.
  orchestrator.events = (q) => store.listEvents(q);
  app = buildServer({ orchestrator, token: TOKEN, version: '0.0.0-test' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gangway audit verify', () => {
  it('exits 0 and prints the head of an intact log', async () => {
    const head = (await events())[4];
    expect(await run('audit', 'verify')).toEqual({
      code: 0, stderr: '',
      stdout: `✓ event log intact: 5 events\nhead: 5:${head.hash}\n  (keep it somewhere Gangway cannot write; check against it later with --anchor)\n`,
    });
  });

  it('-o json prints the verdict', async () => {
    const head = (await events())[4];
    const r = await run('audit', 'verify', '-o', 'json');
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, count: 5, head: { id: 5, hash: head.hash }, gaps: [] });
  });

  it('takes the global options before the subcommand too', async () => {
    for (const args of [['-o', 'json', 'audit', 'verify'], ['audit', '-o', 'json', 'verify']]) {
      const r = await run(...args);
      expect([r.code, (JSON.parse(r.stdout) as { count: number }).count], args.join(' ')).toEqual([0, 5]);
    }
  });

  it('without a subcommand prints the usage and exits 2', async () => {
    const r = await run('audit');
    expect([r.code, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toContain('Usage: gangway audit [options] [command]');
    expect(r.stderr).toContain('verify [options]');
    expect(r.stderr).toContain('export [options]');
  });

  it('exits 1 naming the first bad event when one was edited', async () => {
    tamper(`update events set data = '{"idx":1}' where id = 3`);
    expect(await run('audit', 'verify')).toEqual({
      code: 1, stderr: '',
      stdout: '✗ event log broken: event 3: content does not match its hash (edited?)\n  2 events before it intact\n',
    });
    const r = await run('audit', 'verify', '-o', 'json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, count: 2, firstBad: { id: 3, reason: 'event 3: content does not match its hash (edited?)' }, gaps: [] });
  });

  it('exits 1 when an event was deleted', async () => {
    tamper('delete from events where id = 2');
    expect(await run('audit', 'verify')).toEqual({
      code: 1, stderr: '',
      stdout: '✗ event log broken: event 3: previous hash does not match event 1 (an event before it was deleted or reordered)\n  1 event before it intact\n',
    });
  });

  it('checks an anchor: exits 1 when events at the end were deleted since it was taken', async () => {
    const head = (await events())[4];
    expect((await run('audit', 'verify', '--anchor', `5:${head.hash}`)).code).toBe(0);
    tamper('delete from events where id = 5');
    expect(await run('audit', 'verify', '--anchor', `5:${head.hash}`)).toEqual({
      code: 1, stderr: '',
      stdout: '✗ event log broken: event 5: anchored, but the log ends at event 4 (events at its end were deleted)\n  4 events before it intact\n',
    });
  });

  it('a malformed anchor is invalid input (exit 2), sent nowhere', async () => {
    const r = await run('audit', 'verify', '--anchor', 'latest');
    expect(r).toEqual({
      code: 2, stdout: '',
      stderr: 'error: anchor: "latest" is not ID:HASH\nhint: give the head that `gangway audit verify` printed, e.g. 120:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n',
    });
  });

  it('the API refuses a malformed anchor too', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/audit/verify?anchor=5:abc', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'invalid_argument', message: 'anchor: "5:abc" is not ID:HASH' } });
  });

  it('exits 5 when the orchestrator is unreachable', async () => {
    await app.close();
    const r = await run('audit', 'verify');
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(`error: the orchestrator is not running at ${api}\nhint: start it with \`gangway up\`\n`);
  });
});

describe('gangway audit export', () => {
  it('prints the log as JSON lines on stdout', async () => {
    const r = await run('audit', 'export');
    expect([r.code, r.stderr]).toEqual([0, '']);
    const lines = r.stdout.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((l) => JSON.parse(l) as unknown)).toEqual(await events());
  });

  it('the API streams it as application/x-ndjson', async () => {
    const res = await fetch(`${api}/v1/audit/export`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect((await res.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(await events());
    const denied = await fetch(`${api}/v1/audit/export`);
    expect(denied.status).toBe(401);
  });

  it('--file writes the export, which verify --file then checks without the orchestrator', async () => {
    const r = await run('audit', 'export', '--file', 'log.jsonl');
    const path = join(dir, 'log.jsonl');
    expect(r).toEqual({ code: 0, stderr: '', stdout: `wrote 5 events to ${path}\n` });
    expect(existsSync(`${path}.partial`)).toBe(false);
    expect(readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(await events());

    await app.close();
    const head = (await events())[4];
    expect(await run('audit', 'verify', '--file', 'log.jsonl', '-o', 'json')).toEqual({
      code: 0, stderr: '', stdout: `${JSON.stringify({ ok: true, count: 5, head: { id: 5, hash: head.hash }, gaps: [] }, null, 2)}\n`,
    });
    writeFileSync(path, readFileSync(path, 'utf8').replace('"to":"succeeded"', '"to":"failed"'));
    expect(await run('audit', 'verify', '--file', 'log.jsonl')).toEqual({
      code: 1, stderr: '', stdout: '✗ event log broken: event 5: content does not match its hash (edited?)\n  4 events before it intact\n',
    });
  });

  it('-o json with --file prints where and how many', async () => {
    const r = await run('audit', 'export', '--file', 'log.jsonl', '-o', 'json');
    expect([r.code, JSON.parse(r.stdout)]).toEqual([0, { file: join(dir, 'log.jsonl'), events: 5 }]);
  });

  it('verify --file of a missing file is invalid input (exit 2)', async () => {
    const r = await run('audit', 'verify', '--file', 'nope.jsonl');
    const path = join(dir, 'nope.jsonl');
    expect(r).toEqual({
      code: 2, stdout: '',
      stderr: `error: cannot read ${path}: ENOENT: no such file or directory, open '${path}'\nhint: pass a file written by \`gangway audit export --file\`\n`,
    });
  });

  it('fails, leaving no file, when the log cannot be read halfway through the export', async () => {
    await app.close();
    const page = (await events())[0];
    const orchestrator = new FakeOrchestrator({ services: { web: ['prod'] } });
    // A full first page, then the store fails.
    orchestrator.events = async (q) => {
      if (q.afterId === 0) return Array.from({ length: 500 }, (_, i) => ({ ...page, id: i + 1 }));
      throw new Error('disk I/O error');
    };
    app = buildServer({ orchestrator, token: TOKEN, version: '0.0.0-test' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const r = await run('audit', 'export', '--file', 'log.jsonl');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: the export from ${api} broke off: terminated\nhint: run the export again; check the orchestrator log\n`);
    expect([existsSync(join(dir, 'log.jsonl')), existsSync(join(dir, 'log.jsonl.partial'))]).toEqual([false, false]);
  });

  it('leaves no file behind when the orchestrator is unreachable', async () => {
    await app.close();
    const r = await run('audit', 'export', '--file', 'log.jsonl');
    expect(r.code).toBe(5);
    expect([existsSync(join(dir, 'log.jsonl')), existsSync(join(dir, 'log.jsonl.partial'))]).toEqual([false, false]);
  });
});
