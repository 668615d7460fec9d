/**
 * Release notifications through the dispatcher, over a real SQLite store, to real HTTP
 * receivers on 127.0.0.1: one notification per release at its end, with its services and
 * their outcomes; sent once (a second pass, or a restart, sends nothing new; a crash before
 * the cursor moved sends it again with the same delivery id); only to notifiers that want the
 * outcome and can send a release (not GitHub).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NotifierConfig, NotifyEvent } from '../config/types.js';
import { CREATED_AT, notifyWorld, Receiver } from '../../test/support/notify-world.js';
import type { NotifyWorld, Received } from '../../test/support/notify-world.js';
import { runRelease } from '../../test/support/release-world.js';
import { GitHubNotifier } from './github.js';
import { readReleaseSummary } from '../releases/release-view.js';
import { createNotifiers, deliveryIdOf, NotificationDispatcher } from './notifier.js';
import { releaseNotificationFor } from './releases.js';
import { signBody } from './webhook.js';
import type { DeliveryResult, Notification, Notifier } from './types.js';

const T = CREATED_AT;

let world: NotifyWorld;
const cleanup: Array<() => Promise<void>> = [];
beforeEach(async () => { world = await notifyWorld(); });
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  await world.close();
});

async function receiver(): Promise<Receiver> {
  const r = await Receiver.start();
  cleanup.push(() => r.close());
  return r;
}

/** A dispatcher positioned at the end of the log (as on its first start), before the release is requested. */
async function dispatcher(notifications: NotifierConfig[], notifiers?: Notifier[]): Promise<NotificationDispatcher> {
  const d = new NotificationDispatcher({
    store: world.store, config: { notifications }, readDeployment: (id) => world.readDeployment(id), stateDir: world.stateDir, backoffMs: 1,
    ...(notifiers ? { notifiers } : {}),
  });
  cleanup.push(() => d.stop());
  await d.drain();
  return d;
}

const webhook = (url: string, events: NotifyEvent[]): NotifierConfig => ({ kind: 'webhook', name: 'ops', url, secret: 'whsec-1', events, timeoutMs: 2000, retries: 0 });

/** The `group.*` event that ended release `id`. */
async function endEvent(id: string) {
  return (await world.store.listEvents({ types: ['group.succeeded', 'group.failed', 'group.rolled_back'] })).find((e) => e.data.group === id)!;
}

async function notificationEvents() {
  return (await world.store.listEvents({ types: ['notification.*'] })).map((e) => ({ deploymentId: e.deploymentId, type: e.type, data: e.data }));
}

const rolledBackRelease = (id: string) => ({
  id, environment: 'prod', kind: 'deploy', phase: 'rolled_back', onFailure: 'rollback', actor: 'ana', reason: 'CHG-42',
  message: 'api rolled back (health failed); rolled back auth',
  services: [
    { service: 'auth', version: '1.5.0', image: null, deploymentId: `${id}-auth`, outcome: 'succeeded', message: null,
      rollback: { deploymentId: `${id}-auth-rb`, phase: 'succeeded', version: '1.4.0' } },
    { service: 'api', version: '1.5.0', image: null, deploymentId: `${id}-api`, outcome: 'rolled_back', message: 'health failed', rollback: null },
  ],
  createdAt: T, startedAt: T + 1000, finishedAt: T + 12_000,
});

describe('release notifications', () => {
  it('POSTs one signed release notification when a release ends, beside its deployments\' own, and records it once', async () => {
    const r = await receiver();
    const d = await dispatcher([webhook(r.url, ['rolled_back'])]);

    await runRelease(world.store, 'r-1', 'rolled_back', T);
    await d.drain();

    const end = await endEvent('r-1');
    // api's own deployment rolled back, then the release as a whole.
    expect(r.received.map((q) => q.headers['x-gangway-event'])).toEqual(['rolled_back', 'release.rolled_back']);
    const got = r.received[1] as Received;
    expect(JSON.parse(got.body)).toEqual({ kind: 'release', event: 'release.rolled_back', release: rolledBackRelease('r-1'), at: T + 12_000 });
    expect(got.headers['x-gangway-delivery']).toBe(deliveryIdOf('ops', 'r-1', end.id));
    expect(got.headers['x-gangway-signature']).toBe(signBody('whsec-1', got.body));
    expect(got.headers['content-type']).toBe('application/json');
    expect((await notificationEvents()).filter((e) => e.deploymentId === null)).toEqual([
      { deploymentId: null, type: 'notification.sent', data: { notifier: 'ops', event: 'release.rolled_back', attempt: 1, eventId: end.id, group: 'r-1' } },
    ]);

    // Once: another pass, and a restarted dispatcher (the cursor is in the store), send nothing new.
    await d.drain();
    await d.stop();
    await (await dispatcher([webhook(r.url, ['rolled_back'])])).drain();
    expect(r.received).toHaveLength(2);
    expect(await notificationEvents()).toHaveLength(2);
  });

  it('after a crash before its cursor moved, sends the release notification again with the same delivery id', async () => {
    const r = await receiver();
    const d = await dispatcher([webhook(r.url, ['succeeded'])]);
    const before = d.cursors().ops!;
    await runRelease(world.store, 'r-2', 'succeeded', T);
    await d.drain();
    await d.stop();
    const first = r.received.filter((q) => q.headers['x-gangway-event'] === 'release.succeeded');
    expect(first).toHaveLength(1);

    // The delivery went out but the cursor stayed where it was.
    expect(await world.store.setCursor('notifications:ops', before)).toBe(true);
    await (await dispatcher([webhook(r.url, ['succeeded'])])).drain();

    const again = r.received.filter((q) => q.headers['x-gangway-event'] === 'release.succeeded');
    expect(again.map((q) => q.headers['x-gangway-delivery'])).toEqual([first[0]!.headers['x-gangway-delivery'], first[0]!.headers['x-gangway-delivery']]);
    expect(again[1]!.body).toBe(first[0]!.body);
  });

  it('sends Slack one message for the release, with a line per service', async () => {
    const r = await receiver();
    const d = await dispatcher([{ kind: 'slack', name: 'releases', url: r.url, events: ['succeeded', 'rolled_back'], timeoutMs: 2000, retries: 0 }]);

    await runRelease(world.store, 'r-3', 'rolled_back', T);
    await d.drain();

    const messages = r.received.map((q) => JSON.parse(q.body) as { text: string });
    // The deployments' own messages in log order (auth's rollback among them), then the release's.
    expect(messages.map((m) => m.text)).toEqual([
      ':white_check_mark: auth 1.5.0 deployed to prod by ana (CHG-42)',
      ':rewind: api 1.5.0 rolled back in prod to 1.4.0: health failed',
      ':white_check_mark: auth 1.4.0 deployed to prod by release r-3 (CHG-42)',
      ':rewind: release r-3 rolled back in prod: api rolled back (health failed); rolled back auth',
    ]);
    expect(messages.slice(3)).toEqual([{
      text: ':rewind: release r-3 rolled back in prod: api rolled back (health failed); rolled back auth',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: ':rewind: release r-3 rolled back in prod: api rolled back (health failed); rolled back auth' } },
        { type: 'section', text: { type: 'mrkdwn', text: '• auth 1.5.0: succeeded (`r-3-auth`); rolled back to 1.4.0: succeeded\n• api 1.5.0: rolled back (`r-3-api`)' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'release `r-3` · phase rolled_back · by ana · reason CHG-42' }] },
      ],
    }]);
  });

  it('tells only the notifiers that want the outcome and can send a release', async () => {
    const r = await receiver();
    const deploymentsOnly: Notifier & { sent: Notification[] } = {
      name: 'statuses', kind: 'github', events: ['succeeded'], retries: 0, timeoutMs: 1000, sent: [],
      async send(n): Promise<DeliveryResult> { this.sent.push(n); return { result: 'delivered' }; },
    };
    const d = await dispatcher([], [
      deploymentsOnly,
      ...createNotifiers([webhook(r.url, ['failed', 'rolled_back'])], { store: world.store }),
    ]);

    await runRelease(world.store, 'r-4', 'succeeded', T);
    await d.drain();

    // The deployments' successes reach the notifier without sendRelease; the release's success reaches neither.
    expect(deploymentsOnly.sent.map((n) => [n.event, n.deployment.id])).toEqual([['succeeded', 'r-4-auth'], ['succeeded', 'r-4-api']]);
    expect(r.received).toEqual([]);
    expect((await notificationEvents()).filter((e) => e.deploymentId === null)).toEqual([]);
    // GitHub keeps a commit status per service's deployment: it is not told about releases.
    const github = new GitHubNotifier({ kind: 'github', name: 'gh', repo: 'acme/shop', token: 't', apiUrl: 'https://api.github.com', events: ['succeeded'], timeoutMs: 1000, retries: 0 }, { store: world.store });
    expect('sendRelease' in github).toBe(false);
  });

  it('skips a release that is gone, and an event that ends no release', async () => {
    const notifier = { name: 'ops', events: ['succeeded'] as NotifyEvent[], sendRelease: async (): Promise<DeliveryResult> => ({ result: 'delivered' }) };
    const event = { id: 7, deploymentId: null, at: T, type: 'group.succeeded', data: { group: 'r-gone' }, hash: '', prevHash: '' };
    const warnings: unknown[] = [];
    const log = { info() {}, error() {}, warn: (o: unknown) => { warnings.push(o); } };
    expect(await releaseNotificationFor(event, notifier, (id) => readReleaseSummary(world.store, id), log)).toBeNull();
    expect(warnings).toEqual([{ notifier: 'ops', release: 'r-gone', event: 7 }]);
    expect(await releaseNotificationFor({ ...event, type: 'group.started' }, notifier, () => Promise.reject(new Error('not read')))).toBeNull();
  });
});
