/**
 * The audit chain against a real SQLite database file, tampered with directly (as someone
 * with write access to `.gangway/state.db` would), and against exports on disk.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { eventHash } from '../store/event-chain.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { KyselyStore } from '../store/kysely-store.js';
import type { EventRecord } from '../store/types.js';
import { ChainVerifier, eventLine, exportJsonLines, parseAnchor, readEventLog, readJsonLinesFile, verifyChain } from './audit.js';

let dir: string;
let file: string;
const open: KyselyStore[] = [];

/** Writes six events through every append path of the store, then closes it. */
async function writeLog(): Promise<void> {
  const store = openSqliteStore(file);
  await store.migrate();
  await store.createDeployment({
    id: 'd1', service: 'web', environment: 'prod', kind: 'deploy', version: 'v2', image: null, actor: 'alice', reason: 'CHG-1',
    previousVersion: 'v1', planHash: 'h', createdAt: 1000, steps: [{ type: 'start', title: 'start v2', params: {} }],
  });
  await store.startNextQueued('web', 'prod', 1001);
  await store.transition({ deploymentId: 'd1', step: { idx: 0, patch: { status: 'running' } }, events: [
    { deploymentId: 'd1', at: 1002, type: 'step.started', data: { idx: 0 } },
    { deploymentId: 'd1', at: 1003, type: 'step.succeeded', data: { idx: 0, output: { instances: 2 } } },
  ] });
  await store.appendEvents([
    { deploymentId: null, at: 1004, type: 'freeze.created', data: { owner: 'ana', reason: 'incident' } },
    { deploymentId: 'd1', at: 1005, type: 'deployment.phase', data: { from: 'running', to: 'succeeded' } },
  ]);
  await store.close();
}

/** Runs SQL on the database file past the store. */
function tamper(...statements: string[]): void {
  const raw = new BetterSqlite3(file);
  try {
    for (const s of statements) raw.exec(s);
  } finally {
    raw.close();
  }
}

/**
 * Recomputes the hashes of every event from `fromId` on, as someone who knows the algorithm
 * would after editing or deleting an event, to make the chain look intact again.
 */
function rehashFrom(fromId: number): void {
  const raw = new BetterSqlite3(file);
  try {
    const rows = raw.prepare('select id, deployment_id, at, type, data, hash, prev_hash from events order by id').all() as
      Array<{ id: number; deployment_id: string | null; at: number; type: string; data: string; hash: string; prev_hash: string }>;
    const update = raw.prepare('update events set prev_hash = ?, hash = ? where id = ?');
    let prev: string | undefined;
    for (const r of rows) {
      if (r.id >= fromId) {
        const prevHash = prev ?? r.prev_hash;
        const hash = eventHash(prevHash, { id: r.id, deploymentId: r.deployment_id, at: r.at, type: r.type, data: JSON.parse(r.data) as Record<string, unknown> });
        update.run(prevHash, hash, r.id);
        prev = hash;
      } else {
        prev = r.hash;
      }
    }
  } finally {
    raw.close();
  }
}

function reopen(): KyselyStore {
  const store = openSqliteStore(file);
  open.push(store);
  return store;
}

async function verifyFile(options: Parameters<typeof verifyChain>[1] = {}) {
  return verifyChain(readEventLog(reopen(), 2), options);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gangway-audit-'));
  file = join(dir, 'state.db');
  await writeLog();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('verifyChain over a real SQLite database', () => {
  it('finds an untouched log intact and reports its head', async () => {
    const events = await reopen().listEvents();
    const expected = { ok: true, count: 6, head: { id: 6, hash: events[5].hash }, gaps: [] };
    expect(await verifyFile()).toEqual(expected);
    // An array verifies the same as the paged stream.
    expect(await verifyChain(events)).toEqual(expected);
  });

  it('names an event whose data was edited', async () => {
    tamper(`update events set data = '{"idx":0,"output":{"instances":20}}' where id = 4`);
    expect(await verifyFile()).toEqual({ ok: false, count: 3, firstBad: { id: 4, reason: 'event 4: content does not match its hash (edited?)' }, gaps: [] });
  });

  it('names an event whose time, type or deployment was edited', async () => {
    for (const [column, value] of [['at', '999'], ['type', `'step.failed'`], ['deployment_id', 'null']]) {
      const before = readFileSync(file);
      tamper(`update events set ${column} = ${value} where id = 2`);
      expect(await verifyFile(), column).toEqual({ ok: false, count: 1, firstBad: { id: 2, reason: 'event 2: content does not match its hash (edited?)' }, gaps: [] });
      await Promise.all(open.splice(0).map((s) => s.close()));
      writeFileSync(file, before);
    }
  });

  it('names the event after a deleted one, and the one before the gap', async () => {
    tamper('delete from events where id = 4');
    expect(await verifyFile()).toEqual({
      ok: false, count: 3, firstBad: { id: 5, reason: 'event 5: previous hash does not match event 3 (an event before it was deleted or reordered)' }, gaps: [],
    });
  });

  it('notices that the first event was deleted', async () => {
    tamper('delete from events where id = 1');
    expect(await verifyFile()).toEqual({
      ok: false, count: 0, firstBad: { id: 2, reason: 'event 2: previous hash does not match the start of the log (an event before it was deleted or reordered)' }, gaps: [],
    });
  });

  it('names the first of two swapped events', async () => {
    tamper('update events set id = -3 where id = 3', 'update events set id = 3 where id = 5', 'update events set id = 5 where id = -3');
    expect(await verifyFile()).toEqual({
      ok: false, count: 2, firstBad: { id: 3, reason: 'event 3: previous hash does not match event 2 (an event before it was deleted or reordered)' }, gaps: [],
    });
  });

  it('names the first of two events whose contents were swapped under their ids', async () => {
    tamper('create temp table moved as select * from events where id in (3, 4)',
      'update events set (deployment_id, at, type, data) = (select m.deployment_id, m.at, m.type, m.data from moved m where m.id = 7 - events.id) where id in (3, 4)');
    expect((await reopen().listEvents()).slice(2, 4).map((e) => e.type)).toEqual(['step.succeeded', 'step.started']);
    expect(await verifyFile()).toEqual({ ok: false, count: 2, firstBad: { id: 3, reason: 'event 3: content does not match its hash (edited?)' }, gaps: [] });
  });

  it('names an event written past the store, without a hash', async () => {
    tamper(`insert into events (deployment_id, at, type, data) values (null, 2000, 'forged', '{}')`);
    expect(await verifyFile()).toEqual({ ok: false, count: 6, firstBad: { id: 7, reason: 'event 7: has no hash (written past the store?)' }, gaps: [] });
  });

  it('needs an anchor to catch an edit whose later hashes were all recomputed', async () => {
    const before = await verifyFile();
    if (!before.ok || !before.head) throw new Error('expected an intact log');
    const early = { id: 3, hash: (await reopen().listEvents())[2].hash };
    tamper(`update events set data = '{"idx":0,"output":{"instances":20}}' where id = 4`);
    rehashFrom(4);
    expect(await verifyFile()).toMatchObject({ ok: true, count: 6 });
    expect(await verifyFile({ anchor: before.head })).toEqual({
      ok: false, count: 5, firstBad: { id: 6, reason: 'event 6: hash differs from the anchored one (the log up to it was rewritten)' }, gaps: [],
    });
    // An anchor from before the edit still holds: everything up to it is as it was.
    expect(await verifyFile({ anchor: early })).toMatchObject({ ok: true, count: 6 });
  });

  it('needs an anchor to catch events deleted at the end', async () => {
    const before = await verifyFile();
    if (!before.ok || !before.head) throw new Error('expected an intact log');
    tamper('delete from events where id >= 5');
    expect(await verifyFile()).toMatchObject({ ok: true, count: 4 });
    expect(await verifyFile({ anchor: before.head })).toEqual({
      ok: false, count: 4, firstBad: { id: 6, reason: 'event 6: anchored, but the log ends at event 4 (events at its end were deleted)' }, gaps: [],
    });
    tamper('delete from events');
    expect(await verifyFile({ anchor: before.head })).toEqual({
      ok: false, count: 0, firstBad: { id: 6, reason: 'event 6: anchored, but the log is empty (every event was deleted)' }, gaps: [],
    });
  });

  it('reports the ids missing after a deletion that was covered up, and the anchor fails on them', async () => {
    const anchor = { id: 4, hash: (await reopen().listEvents())[3].hash };
    tamper('delete from events where id = 4');
    rehashFrom(5);
    expect(await verifyFile()).toMatchObject({ ok: true, count: 5, gaps: [{ after: 3, next: 5 }] });
    expect(await verifyFile({ anchor })).toEqual({
      ok: false, count: 3, firstBad: { id: 4, reason: 'event 4: anchored, but missing from the log (deleted)' }, gaps: [],
    });
  });

  it('the store keeps chaining after the log was read', async () => {
    const store = reopen();
    await store.appendEvents([{ deploymentId: null, at: 2000, type: 'later', data: {} }]);
    expect(await verifyFile()).toMatchObject({ ok: true, count: 7, head: { id: 7 } });
  });
});

describe('ChainVerifier', () => {
  it('stops at the first bad event and ignores the rest', async () => {
    const events = await reopen().listEvents();
    const v = new ChainVerifier();
    expect(v.push(events[0])).toBe(true);
    expect(v.push({ ...events[1], data: { edited: true } })).toBe(false);
    expect(v.push(events[2])).toBe(false);
    expect(v.finish()).toEqual({ ok: false, count: 1, firstBad: { id: 2, reason: 'event 2: content does not match its hash (edited?)' }, gaps: [] });
  });

  it('names a repeated event and one out of order', async () => {
    const e = await reopen().listEvents();
    expect(await verifyChain([e[0], e[1], e[2], e[2]])).toEqual({ ok: false, count: 3, firstBad: { id: 3, reason: 'event 3: appears twice' }, gaps: [] });
    expect(await verifyChain([e[0], e[1], e[2], e[1]])).toEqual({ ok: false, count: 3, firstBad: { id: 2, reason: 'event 2: comes after event 3 (events were reordered)' }, gaps: [] });
  });

  it('finds an empty log intact, with no head', async () => {
    expect(await verifyChain([])).toEqual({ ok: true, count: 0, head: null, gaps: [] });
  });
});

describe('readEventLog', () => {
  it('reads the log in pages of the given size', async () => {
    const store = reopen();
    const pages: Array<{ afterId?: number; limit?: number }> = [];
    const source = { listEvents: (q: { afterId?: number; limit?: number }) => { pages.push(q); return store.listEvents(q); } };
    const ids: number[] = [];
    for await (const e of readEventLog(source, 4)) ids.push(e.id);
    expect(ids).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pages).toEqual([{ afterId: 0, limit: 4 }, { afterId: 4, limit: 4 }]);
  });

  it('reads through the orchestrator API shape too', async () => {
    const store = reopen();
    const ids: number[] = [];
    for await (const e of readEventLog({ events: (q) => store.listEvents(q) }, 3)) ids.push(e.id);
    expect(ids).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('exports', () => {
  async function exportTo(path: string): Promise<EventRecord[]> {
    const store = reopen();
    let text = '';
    expect(await exportJsonLines(store, (line) => { text += line; })).toBe(6);
    writeFileSync(path, text);
    return store.listEvents();
  }

  async function collect(path: string): Promise<EventRecord[]> {
    const out: EventRecord[] = [];
    for await (const e of readJsonLinesFile(path)) out.push(e);
    return out;
  }

  it('writes one JSON event per line with its hashes, in a fixed field order', async () => {
    const path = join(dir, 'log.jsonl');
    const events = await exportTo(path);
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines).toHaveLength(7);
    expect(lines[6]).toBe('');
    expect(lines[4]).toBe(`{"id":5,"deploymentId":null,"at":1004,"type":"freeze.created","data":{"owner":"ana","reason":"incident"},"hash":"${events[4].hash}","prevHash":"${events[3].hash}"}`);
    expect(lines.slice(0, 6).map((l) => JSON.parse(l) as unknown)).toEqual(events);
    expect(await collect(path)).toEqual(events);
    expect(await verifyChain(readJsonLinesFile(path))).toEqual({ ok: true, count: 6, head: { id: 6, hash: events[5].hash }, gaps: [] });
  });

  it('finds an edited or reordered export broken', async () => {
    const path = join(dir, 'log.jsonl');
    const events = await exportTo(path);
    writeFileSync(path, events.map((e) => eventLine(e.id === 2 ? { ...e, at: e.at + 1 } : e)).join(''));
    expect(await verifyChain(readJsonLinesFile(path))).toEqual({ ok: false, count: 1, firstBad: { id: 2, reason: 'event 2: content does not match its hash (edited?)' }, gaps: [] });
    writeFileSync(path, [0, 1, 2, 4, 3, 5].map((i) => eventLine(events[i])).join(''));
    expect(await verifyChain(readJsonLinesFile(path))).toEqual({
      ok: false, count: 3, firstBad: { id: 5, reason: 'event 5: previous hash does not match event 3 (an event before it was deleted or reordered)' }, gaps: [],
    });
  });

  it('refuses a line that is not an exported event, naming file and line', async () => {
    const path = join(dir, 'bad.jsonl');
    const events = await exportTo(path);
    writeFileSync(path, `${eventLine(events[0])}\n{"id": 2,\n`);
    const err = await collect(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GangwayError);
    expect(err).toMatchObject({ code: 'invalid_argument', message: `${path}:3: not JSON` });
    const { hash: _hash, ...noHash } = events[0];
    writeFileSync(path, `${JSON.stringify(noHash)}\n`);
    expect(await collect(path).catch((e: unknown) => e)).toMatchObject({
      code: 'invalid_argument', message: `${path}:1: not an exported event (hash: Invalid input: expected string, received undefined)`,
    });
  });

  it('names a file that cannot be read', async () => {
    const path = join(dir, 'missing.jsonl');
    expect(await collect(path).catch((e: unknown) => e)).toMatchObject({
      code: 'invalid_argument', message: `cannot read ${path}: ENOENT: no such file or directory, open '${path}'`,
      hint: 'pass a file written by `gangway audit export --file`',
    });
  });
});

describe('parseAnchor', () => {
  it('reads ID:HASH and refuses anything else', () => {
    const hash = 'ab'.repeat(32);
    expect(parseAnchor(` 12:${hash} `)).toEqual({ id: 12, hash });
    for (const bad of ['12', `0:${hash}`, `12:${hash.toUpperCase()}`, `12:${hash}0`, `x:${hash}`]) {
      expect(() => parseAnchor(bad), bad).toThrow(GangwayError);
    }
    expect(() => parseAnchor('12')).toThrow('anchor: "12" is not ID:HASH');
  });
});
