import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { git, makeRepos, requireGit, type Repos } from '../../test/support/git-repos.js';
import type { RecordsConfig } from '../config/types.js';
import type { Clock } from '../engine/clock.js';
import type { DeploymentView } from '../engine/types.js';
import { openStore } from '../store/open.js';
import type { DeploymentPhase, GateResultRecord, Store } from '../store/types.js';
import { runRelease } from '../../test/support/release-world.js';
import { readReleaseSummary } from '../releases/release-view.js';
import { GitRecords } from './git-records.js';
import { renderRecord } from './record.js';
import { renderReleaseRecord } from './release-record.js';
import { CURSOR_FILE, RecordsWriter } from './records-writer.js';

const hasGit = await requireGit('Records writer tests');

const T = Date.UTC(2025, 2, 4, 22, 15, 0);
const NOW = T + 3_600_000;
/** Time stands still: the events the writer appends carry a known time. */
const clock: Clock = { now: () => NOW, sleep: (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
}) };

describe.skipIf(!hasGit)('RecordsWriter (real SQLite store, real git)', () => {
  let repos: Repos;
  let store: Store;
  let stateDir: string;
  let records: RecordsConfig;
  const writers: RecordsWriter[] = [];

  beforeEach(async () => {
    repos = await makeRepos();
    stateDir = join(repos.root, 'state');
    store = await openStore({ kind: 'sqlite', path: join(stateDir, 'state.db') });
    records = {
      repo: repos.work, path: 'docs/deployments/{environment}', remote: 'origin', branch: 'main',
      author: { name: 'Gangway Bot', email: 'gangway@example.com' }, pushRetries: 1,
    };
  });
  afterEach(async () => {
    for (const w of writers.splice(0)) await w.stop();
    await store.close();
    await repos.remove();
  });

  /** The deployment as the API would show it: steps, latest result per gate, verdicts. */
  async function readDeployment(id: string): Promise<DeploymentView> {
    const d = await store.getDeployment(id);
    if (!d) throw new Error(`deployment ${id} not found`);
    const gates = new Map<string, GateResultRecord>();
    for (const g of await store.listGateResults({ deploymentId: id })) gates.set(g.gate, g);
    return { ...d, steps: await store.getSteps(id), step: null, verdicts: await store.listVerdicts({ deploymentId: id }), gates: [...gates.values()] };
  }

  function writer(over: Partial<RecordsConfig> = {}, s: Store = store): RecordsWriter {
    const config = { ...records, ...over };
    const w = new RecordsWriter({
      store: s, config: { records: config, stateDir }, readDeployment, clock, intervalMs: 20,
      git: new GitRecords({ config, backoffMs: 1, sleep: async () => undefined }),
    });
    writers.push(w);
    return w;
  }

  /** A deployment that runs one step and ends in `phase`, with an approval, a checklist item, a gate result and a verdict. */
  async function deployment(id: string, version: string, phase: DeploymentPhase, at = T): Promise<void> {
    await store.createDeployment({
      id, service: 'web', environment: 'prod', kind: 'deploy', version, image: null, actor: 'alice', reason: 'CHG-7',
      previousVersion: '1.0.0', planHash: 'h', createdAt: at, steps: [{ type: 'deploy', title: `start 2 instances of ${version}`, params: {} }],
    });
    await store.recordApproval({ deploymentId: id, actor: 'bob', decision: 'approve', groups: ['ops'], comment: null, at: at + 10 });
    await store.confirmChecklist({ deploymentId: id, item: 'db backup verified', actor: 'carol', at: at + 20, note: null });
    await store.appendGateResults([{ deploymentId: id, service: 'web', environment: 'prod', version, at: at + 30, gate: 'approvals', result: 'pass', reason: '1 of 1 approvals', until: null, evidence: { approvers: ['bob'] } }]);
    await store.transition({
      deploymentId: id, deployment: { phase: 'running', startedAt: at + 1000 }, step: { idx: 0, patch: { status: 'running', startedAt: at + 1000, attempts: 1 } },
      events: [{ deploymentId: id, at: at + 1000, type: 'deployment.phase', data: { from: 'queued', to: 'running' } }],
    });
    await store.appendVerdicts([{ deploymentId: id, at: at + 5000, stepIdx: null, template: 'runbook-defaults', rule: 'error_rate', kind: 'threshold', verdict: 'pass', reason: 'error_rate 0.1% <= 5%', measurements: [{ value: 0.001 }] }]);
    if (phase === 'rolled_back') {
      await store.transition({
        deploymentId: id, deployment: { phase: 'rolling_back', message: 'health failed' },
        events: [{ deploymentId: id, at: at + 6000, type: 'deployment.phase', data: { from: 'running', to: 'rolling_back', message: 'health failed' } }],
      });
    }
    await store.transition({
      deploymentId: id, deployment: { phase, finishedAt: at + 9000, ...(phase === 'succeeded' ? {} : { message: 'health failed' }) },
      step: { idx: 0, patch: { status: phase === 'succeeded' ? 'succeeded' : 'failed', finishedAt: at + 8000 } },
      events: [{ deploymentId: id, at: at + 9000, type: 'deployment.phase', data: { from: 'running', to: phase } }],
    });
  }

  async function expectedRecord(id: string) {
    return renderRecord({ deployment: await readDeployment(id), approvals: await store.listApprovals(id), checklist: await store.listChecklist(id), config: records });
  }

  async function recordEvents() {
    return (await store.listEvents()).filter((e) => e.type.startsWith('record.')).map((e) => ({ deploymentId: e.deploymentId, at: e.at, type: e.type, data: e.data }));
  }

  async function cursorFile(): Promise<string> {
    return readFile(join(stateDir, CURSOR_FILE), 'utf8');
  }

  it('writes, commits and pushes the record of a deployment that ended, and says so in the event log', async () => {
    await deployment('d-1', '1.4.2', 'succeeded');
    const expected = await expectedRecord('d-1');

    const outcomes = await writer().drain();

    const head = await git(repos.bare, 'rev-parse', 'main');
    const path = 'docs/deployments/prod/2025-03-04-web-1.4.2-d-1.md';
    expect(outcomes).toEqual([{ deploymentId: 'd-1', type: 'record.written', data: { path, commit: head, pushed: true } }]);
    expect(await git(repos.bare, 'log', '-1', '--format=%s', 'main')).toBe('deploy: web 1.4.2 to prod succeeded (d-1)');
    expect(expected.path).toBe(path);
    expect(`${await git(repos.bare, 'show', `main:${path}`)}\n`).toBe(expected.content);
    expect(await recordEvents()).toEqual([{ deploymentId: 'd-1', at: NOW, type: 'record.written', data: { path, commit: head, pushed: true } }]);
    const last = (await store.listEvents()).at(-1);
    expect(await cursorFile()).toBe(`{"version":1,"afterId":${(last?.id ?? 0) - 1}}\n`);
    expect((await store.getDeployment('d-1'))?.phase).toBe('succeeded');
  });

  it('ignores phases that are not final and writes one record per ended deployment, in log order', async () => {
    await deployment('d-1', '1.4.2', 'rolled_back');
    await deployment('d-2', '1.4.3', 'failed', T + 86_400_000);
    await deployment('d-3', '1.4.4', 'aborted', T + 2 * 86_400_000);

    const outcomes = await writer().drain();

    expect(outcomes.map((o) => [o.deploymentId, o.type])).toEqual([['d-1', 'record.written'], ['d-2', 'record.written'], ['d-3', 'record.written']]);
    expect(await git(repos.bare, 'log', '--format=%s', 'main')).toBe([
      'deploy: web 1.4.4 to prod aborted (d-3)',
      'deploy: web 1.4.3 to prod failed (d-2)',
      'deploy: web 1.4.2 to prod rolled back (d-1)',
      'initial',
    ].join('\n'));
  });

  it('restarts from its cursor: nothing already recorded is written twice, and a later deployment is', async () => {
    await deployment('d-1', '1.4.2', 'succeeded');
    await writer().drain();
    const cursor = await cursorFile();

    const restarted = writer();
    expect(await restarted.drain()).toEqual([]);
    expect(await cursorFile()).not.toBe(cursor); // moved past the record.written event

    await deployment('d-2', '1.4.3', 'succeeded', T + 86_400_000);
    const again = writer();
    expect((await again.drain()).map((o) => o.deploymentId)).toEqual(['d-2']);
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('3');
    expect((await recordEvents()).map((e) => e.deploymentId)).toEqual(['d-1', 'd-2']);
  });

  it('with its cursor lost, works through the log again without a new commit or a second event', async () => {
    await deployment('d-1', '1.4.2', 'succeeded');
    await writer().drain();
    await rm(join(stateDir, CURSOR_FILE));

    expect(await writer().drain()).toEqual([]);
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('2');
    expect(await recordEvents()).toHaveLength(1);
  });

  it('starts over from an unreadable cursor file, and says so in the log', async () => {
    await deployment('d-1', '1.4.2', 'succeeded');
    await writeFile(join(stateDir, CURSOR_FILE), 'garbage');
    const errors: Array<[object, string | undefined]> = [];
    const config = { records, stateDir };
    const w = new RecordsWriter({
      store, config, readDeployment, clock, log: { info() {}, warn() {}, error: (o, m) => { errors.push([o, m]); } },
      git: new GitRecords({ config: records, sleep: async () => undefined }),
    });

    expect((await w.drain()).map((o) => o.type)).toEqual(['record.written']);
    expect(errors).toEqual([[{ file: join(stateDir, CURSOR_FILE) }, 'records: cursor file is unreadable; starting from the beginning of the log']]);
  });

  it('when the event cannot be appended, keeps its cursor and records the deployment once on the next pass', async () => {
    await deployment('d-1', '1.4.2', 'succeeded');
    let failures = 1;
    const flaky: Store = Object.create(store, {
      appendEvents: { value: async (...args: Parameters<Store['appendEvents']>) => {
        if (failures-- > 0) throw new Error('database is locked');
        return store.appendEvents(...args);
      } },
    }) as Store;
    const w = writer({}, flaky);

    await expect(w.drain()).rejects.toThrow('database is locked');
    await expect(cursorFile()).rejects.toThrow('ENOENT');

    const outcomes = await w.drain();
    expect(outcomes.map((o) => [o.deploymentId, o.type, o.data.pushed])).toEqual([['d-1', 'record.written', true]]);
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('2');
    expect(await recordEvents()).toHaveLength(1);
  });

  it('records a failure when the push is refused; the deployment and the local commit are unaffected', async () => {
    await repos.rejectPushes('no');
    await deployment('d-1', '1.4.2', 'succeeded');

    const outcomes = await writer().drain();

    const local = await git(repos.work, 'rev-parse', 'HEAD');
    const data = {
      error: `git push to origin failed: remote: no; To ${repos.bare}; ! [remote rejected] HEAD -> main (pre-receive hook declined); error: failed to push some refs to '${repos.bare}' (after 2 attempts)`,
      path: 'docs/deployments/prod/2025-03-04-web-1.4.2-d-1.md', commit: local, pushed: false,
    };
    expect(outcomes).toEqual([{ deploymentId: 'd-1', type: 'record.failed', data }]);
    expect(await recordEvents()).toEqual([{ deploymentId: 'd-1', at: NOW, type: 'record.failed', data }]);
    expect(await git(repos.work, 'log', '-1', '--format=%s')).toBe('deploy: web 1.4.2 to prod succeeded (d-1)');
    expect((await store.getDeployment('d-1'))?.phase).toBe('succeeded');
  });

  it('records a failure when the repository is missing, and goes on with the next deployment', async () => {
    await deployment('d-1', '1.4.2', 'succeeded');
    const missing = join(repos.root, 'missing');

    const outcomes = await writer({ repo: missing }).drain();

    expect(outcomes).toEqual([{ deploymentId: 'd-1', type: 'record.failed', data: { error: `records repository ${missing} does not exist` } }]);
    await deployment('d-2', '1.4.3', 'succeeded', T + 1);
    expect((await writer().drain()).map((o) => [o.deploymentId, o.type])).toEqual([['d-2', 'record.written']]);
  });

  it('writes one record for a release as a whole beside its deployments\' records, once', async () => {
    await runRelease(store, 'r-1', 'rolled_back', T);
    const expected = renderReleaseRecord({ release: await readReleaseSummary(store, 'r-1'), config: records });

    const outcomes = await writer().drain();

    const path = 'docs/deployments/prod/releases/2025-03-04-r-1.md';
    const head = await git(repos.bare, 'rev-parse', 'main');
    // auth, api and auth's rollback as they ended, then the release when it ended.
    expect(outcomes.map((o) => [o.deploymentId, o.type])).toEqual([
      ['r-1-auth', 'record.written'], ['r-1-api', 'record.written'], ['r-1-auth-rb', 'record.written'], [null, 'record.written'],
    ]);
    expect(outcomes[3]).toEqual({ deploymentId: null, type: 'record.written', data: { group: 'r-1', path, commit: head, pushed: true } });
    expect(expected.path).toBe(path);
    expect(`${await git(repos.bare, 'show', `main:${path}`)}\n`).toBe(expected.content);
    expect(await git(repos.bare, 'log', '-1', '--format=%s', 'main')).toBe('release: auth 1.5.0, api 1.5.0 to prod rolled back (r-1)');
    expect((await recordEvents()).filter((e) => e.deploymentId === null)).toEqual([
      { deploymentId: null, at: NOW, type: 'record.written', data: { group: 'r-1', path, commit: head, pushed: true } },
    ]);

    // Once: a restart from the cursor, and one with the cursor lost, write nothing and append nothing.
    expect(await writer().drain()).toEqual([]);
    await rm(join(stateDir, CURSOR_FILE));
    expect(await writer().drain()).toEqual([]);
    expect(await git(repos.bare, 'rev-list', '--count', 'main')).toBe('5');
    expect(await recordEvents()).toHaveLength(4);
  });

  it('records a failure for a release whose record cannot be written, naming the release', async () => {
    await runRelease(store, 'r-2', 'succeeded', T);
    const missing = join(repos.root, 'missing');

    const outcomes = await writer({ repo: missing }).drain();

    expect(outcomes.at(-1)).toEqual({ deploymentId: null, type: 'record.failed', data: { group: 'r-2', error: `records repository ${missing} does not exist` } });
  });

  it('follows the log on its own once started, until stopped', async () => {
    const w = writer();
    w.start();
    await deployment('d-1', '1.4.2', 'succeeded');

    await vi.waitFor(async () => { expect(await recordEvents()).toHaveLength(1); }, { timeout: 10_000, interval: 20 });
    await w.stop();

    await deployment('d-2', '1.4.3', 'succeeded', T + 1);
    expect(await recordEvents()).toHaveLength(1);
    expect((await writer().drain()).map((o) => o.deploymentId)).toEqual(['d-2']);
  });

  it('needs records to be configured', () => {
    expect(() => new RecordsWriter({ store, config: { records: null, stateDir }, readDeployment })).toThrow('RecordsWriter needs config.records (records: in gangway.yaml)');
  });
});
