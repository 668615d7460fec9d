/**
 * GitHub deployments and deployment statuses, against a fake of GitHub's REST API
 * (test/support/fake-github.ts) and a real SQLite store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NotifierConfig, NotifyEvent } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import { FakeGitHub } from '../../test/support/fake-github.js';
import { CREATED_AT, notifyWorld } from '../../test/support/notify-world.js';
import type { NotifyWorld } from '../../test/support/notify-world.js';
import { NotificationDispatcher } from './notifier.js';
import { USER_AGENT } from './webhook.js';

const TOKEN = 'ghp_fakeTokenForTests0123456789abcdefABCD';
const ALL: NotifyEvent[] = ['started', 'waiting', 'succeeded', 'failed', 'rolled_back'];
const SHA = '6dcb09b5b57875f334f61aebed695e2e4193db5e';

let world: NotifyWorld;
let github: FakeGitHub;
const logs: unknown[] = [];
const log: Logger = { info: (o, m) => logs.push([o, m]), warn: (o, m) => logs.push([o, m]), error: (o, m) => logs.push([o, m]) };
const dispatchers: NotificationDispatcher[] = [];
beforeEach(async () => {
  world = await notifyWorld();
  github = await FakeGitHub.start({ token: TOKEN, repos: { 'acme/shop': { main: 'f'.repeat(40), '1.4.2': SHA, '1.5.0': 'c'.repeat(40) } } });
  logs.length = 0;
});
afterEach(async () => {
  for (const d of dispatchers.splice(0)) await d.stop();
  await github.close();
  await world.close();
});

function notifier(extra: Partial<Extract<NotifierConfig, { kind: 'github' }>> = {}): NotifierConfig {
  return { kind: 'github', name: 'github', apiUrl: github.url, repo: 'acme/shop', token: TOKEN, events: ALL, timeoutMs: 2000, retries: 0, ...extra };
}

async function dispatcher(cfg: NotifierConfig = notifier()): Promise<NotificationDispatcher> {
  const d = new NotificationDispatcher({
    store: world.store, config: { notifications: [cfg] }, readDeployment: (id) => world.readDeployment(id), stateDir: world.stateDir, backoffMs: 1, log,
  });
  dispatchers.push(d);
  await d.drain();
  return d;
}

async function records(type: string) {
  return (await world.store.listEvents()).filter((e) => e.type === type).map((e) => ({ deploymentId: e.deploymentId, data: e.data }));
}

const isoTime = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

describe('github notifier', () => {
  it('creates one GitHub deployment and sets in_progress then success, with GitHub headers on every request', async () => {
    const d = await dispatcher();
    const dep = await world.deploy();
    await world.start();
    await world.phase(dep.id, 'succeeded', CREATED_AT + 6000);
    await d.drain();

    const [created, ...others] = github.deploymentsOf('acme/shop');
    expect(others).toEqual([]);
    const id = created!.id;
    const repoUrl = `${github.url}/repos/acme/shop`;
    const creator = { login: 'gangway-bot', id: 583231, node_id: 'MDQ6VXNlcjU4MzIzMQ==', type: 'User', site_admin: false, url: `${github.url}/users/gangway-bot` };
    expect(created).toEqual({
      url: `${repoUrl}/deployments/${id}`, id, node_id: expect.any(String), sha: SHA, ref: '1.4.2', task: 'deploy',
      payload: { gangway: dep.id }, original_environment: 'prod', environment: 'prod', description: 'web 1.4.2 to prod by ana (CHG-42)',
      creator, created_at: isoTime, updated_at: isoTime, statuses_url: `${repoUrl}/deployments/${id}/statuses`, repository_url: repoUrl,
      transient_environment: false, production_environment: false,
    });
    const status = (state: string, description: string) => ({
      url: expect.stringMatching(new RegExp(`^${repoUrl}/deployments/${id}/statuses/\\d+$`)), id: expect.any(Number), node_id: expect.any(String),
      state, creator, description, environment: 'prod', target_url: '', created_at: isoTime, updated_at: isoTime,
      deployment_url: `${repoUrl}/deployments/${id}`, repository_url: repoUrl, environment_url: '', log_url: '',
    });
    expect(github.statusesOf(id)).toEqual([status('in_progress', 'Deploying web 1.4.2 to prod'), status('success', 'Deployed web 1.4.2 to prod')]);

    expect(github.requests.map((r) => [r.method, r.path, r.body ? JSON.parse(r.body) : null])).toEqual([
      ['GET', '/repos/acme/shop/deployments?environment=prod&ref=1.4.2&per_page=100', null],
      ['POST', '/repos/acme/shop/deployments', {
        ref: '1.4.2', environment: 'prod', description: 'web 1.4.2 to prod by ana (CHG-42)', auto_merge: false, required_contexts: [], payload: { gangway: dep.id },
      }],
      ['POST', `/repos/acme/shop/deployments/${id}/statuses`, { state: 'in_progress', description: 'Deploying web 1.4.2 to prod' }],
      ['POST', `/repos/acme/shop/deployments/${id}/statuses`, { state: 'success', description: 'Deployed web 1.4.2 to prod' }],
    ]);
    for (const r of github.requests) {
      expect([r.headers.authorization, r.headers.accept, r.headers['x-github-api-version'], r.headers['user-agent']])
        .toEqual([`Bearer ${TOKEN}`, 'application/vnd.github+json', '2022-11-28', USER_AGENT]);
    }
    expect(await records('notification.github.deployment')).toEqual([{ deploymentId: dep.id, data: { notifier: 'github', repo: 'acme/shop', githubId: id } }]);
    expect((await records('notification.sent')).map((r) => [r.data.event, r.data.attempt])).toEqual([['started', 1], ['succeeded', 1]]);
  });

  it('after a restart, sets statuses on the GitHub deployment it created before', async () => {
    const first = await dispatcher();
    const dep = await world.deploy();
    await world.start();
    await first.drain();
    await first.stop();
    await world.phase(dep.id, 'waiting', CREATED_AT + 2000, { message: 'waiting for 1 approval from ops' });
    await world.phase(dep.id, 'running', CREATED_AT + 3000, { message: 'gates passed' });
    await world.phase(dep.id, 'rolling_back', CREATED_AT + 4000, { message: 'error rate 7.2% > 5% for 2m', rollbackTo: '1.4.1' });
    await world.phase(dep.id, 'rolled_back', CREATED_AT + 5000, { message: 'error rate 7.2% > 5% for 2m' });
    const requestsBefore = github.requests.length;

    await dispatcher();
    const [only, ...none] = github.deploymentsOf('acme/shop');
    expect(none).toEqual([]);
    expect(github.statusesOf(only!.id).map((s) => [s.state, s.description])).toEqual([
      ['in_progress', 'Deploying web 1.4.2 to prod'],
      ['queued', 'Waiting: waiting for 1 approval from ops'],
      ['failure', 'Rolled back to 1.4.1: error rate 7.2% > 5% for 2m'],
    ]);
    expect(github.requests.slice(requestsBefore).map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /repos/acme/shop/deployments/${only!.id}/statuses`, `POST /repos/acme/shop/deployments/${only!.id}/statuses`,
    ]);
  });

  it('finds a GitHub deployment it created but did not get to record, instead of creating another', async () => {
    const dep = await world.deploy();
    const res = await fetch(`${github.url}/repos/acme/shop/deployments`, {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'User-Agent': 'test' },
      body: JSON.stringify({ ref: '1.4.2', environment: 'prod', payload: { gangway: dep.id }, auto_merge: false, required_contexts: [] }),
    });
    const existing = (await res.json()) as { id: number };
    await dispatcher();
    await world.start();
    await dispatchers[0]!.drain();
    expect(github.deploymentsOf('acme/shop').map((g) => g.id)).toEqual([existing.id]);
    expect(github.statusesOf(existing.id).map((s) => s.state)).toEqual(['in_progress']);
    expect(await records('notification.github.deployment')).toEqual([{ deploymentId: dep.id, data: { notifier: 'github', repo: 'acme/shop', githubId: existing.id } }]);
  });

  it('retries when GitHub answers 502, and creates the deployment once', async () => {
    const d = await dispatcher(notifier({ retries: 3 }));
    await world.deploy();
    await world.start();
    github.failNext(2);
    await d.drain();
    expect(github.deploymentsOf('acme/shop')).toHaveLength(1);
    expect(github.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'GET', 'POST', 'POST']);
    expect((await records('notification.sent')).map((r) => r.data)).toEqual([
      { notifier: 'github', event: 'started', attempt: 3, eventId: expect.any(Number) },
    ]);
  });

  it('records a ref GitHub does not know, or a bad token, as failed without retrying, and never records or logs the token', async () => {
    const d = new NotificationDispatcher({
      store: world.store, readDeployment: (id) => world.readDeployment(id), stateDir: world.stateDir, backoffMs: 1, log,
      config: { notifications: [notifier({ retries: 3 }), notifier({ name: 'github-old', token: 'ghp_revoked', retries: 3 })] },
    });
    dispatchers.push(d);
    await d.drain();
    await world.deploy({ version: '9.9.9' });
    await world.start();
    await d.drain();

    const failed = (await records('notification.failed')).map((r) => r.data);
    expect(failed.filter((f) => f.notifier === 'github')).toEqual([
      { notifier: 'github', event: 'started', attempts: 1, error: 'GitHub answered 422 to acme/shop: No ref found for: 9.9.9', eventId: expect.any(Number) },
    ]);
    expect(failed.filter((f) => f.notifier === 'github-old')).toEqual([
      { notifier: 'github-old', event: 'started', attempts: 1, error: 'GitHub answered 401 to acme/shop: Bad credentials', eventId: expect.any(Number) },
    ]);
    expect(github.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`).sort()).toEqual([
      'GET /repos/acme/shop/deployments', 'GET /repos/acme/shop/deployments', 'POST /repos/acme/shop/deployments',
    ]);
    const everything = JSON.stringify([await world.store.listEvents(), logs]);
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain('ghp_revoked');
  });

  it('keeps a status description within GitHub\'s 140 characters', async () => {
    const d = await dispatcher();
    const dep = await world.deploy();
    await world.start();
    await world.phase(dep.id, 'failed', CREATED_AT + 2000, { message: 'x'.repeat(300) });
    await d.drain();
    const [g] = github.deploymentsOf('acme/shop');
    const last = github.statusesOf(g!.id).at(-1)!;
    expect(last.state).toBe('failure');
    expect(last.description).toBe(`Failed: ${'x'.repeat(131)}…`);
    expect(last.description).toHaveLength(140);
  });
});
