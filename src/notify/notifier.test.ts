/**
 * The dispatcher over a real SQLite store: which phase changes become notifications, records
 * of the outcome, the cursor across restarts, and time limits.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NotifyEvent } from '../config/types.js';
import { CREATED_AT, notifyWorld, Receiver } from '../../test/support/notify-world.js';
import type { NotifyWorld } from '../../test/support/notify-world.js';
import { deliveryIdOf, NotificationDispatcher, notifyEventOf } from './notifier.js';
import type { DeliveryResult, Notification, Notifier, SendContext } from './types.js';

/** A working notifier that keeps what it was sent and answers as told. */
class RecordingNotifier implements Notifier {
  readonly kind = 'webhook';
  readonly sent: Array<{ n: Notification; ctx: Omit<SendContext, 'signal'> }> = [];
  constructor(
    readonly name: string,
    readonly events: NotifyEvent[],
    private readonly answer: (n: Notification, attempt: number) => Promise<DeliveryResult> | DeliveryResult = () => ({ result: 'delivered' }),
    readonly retries = 0,
    readonly timeoutMs = 5000,
  ) {}
  async send(n: Notification, ctx: SendContext): Promise<DeliveryResult> {
    this.sent.push({ n, ctx: { attempt: ctx.attempt, deliveryId: ctx.deliveryId } });
    return this.answer(n, ctx.attempt);
  }
}

const ALL: NotifyEvent[] = ['started', 'waiting', 'succeeded', 'failed', 'rolled_back'];

let world: NotifyWorld;
const cleanup: Array<() => Promise<void>> = [];
beforeEach(async () => { world = await notifyWorld(); });
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  await world.close();
});

function dispatcher(notifiers: Notifier[], extra: { pollMs?: number; backoffMs?: number } = {}): NotificationDispatcher {
  const d = new NotificationDispatcher({
    store: world.store, config: { notifications: [] }, readDeployment: (id) => world.readDeployment(id), stateDir: world.stateDir,
    notifiers, backoffMs: 1, ...extra,
  });
  cleanup.push(() => d.stop());
  return d;
}

async function eventsOf(type: string) {
  return (await world.store.listEvents()).filter((e) => e.type === type).map((e) => ({ deploymentId: e.deploymentId, data: e.data }));
}

describe('notifyEventOf', () => {
  it('maps phases to notifications; only the first move to running is news', () => {
    expect(notifyEventOf({ from: 'queued', to: 'running' }, true)).toBe('started');
    expect(notifyEventOf({ from: 'waiting', to: 'running' }, false)).toBeNull();
    expect(notifyEventOf({ from: 'running', to: 'waiting' }, false)).toBe('waiting');
    expect(notifyEventOf({ from: 'running', to: 'succeeded' }, false)).toBe('succeeded');
    expect(notifyEventOf({ from: 'rolling_back', to: 'failed' }, false)).toBe('failed');
    expect(notifyEventOf({ from: 'queued', to: 'aborted' }, false)).toBe('failed');
    expect(notifyEventOf({ from: 'rolling_back', to: 'rolled_back' }, false)).toBe('rolled_back');
    expect(notifyEventOf({ from: 'running', to: 'paused' }, false)).toBeNull();
    expect(notifyEventOf({ from: 'running', to: 'rolling_back' }, false)).toBeNull();
  });
});

describe('NotificationDispatcher', () => {
  it('turns the phase changes in the log into notifications, each notifier getting only its events', async () => {
    const all = new RecordingNotifier('all', ALL);
    const failures = new RecordingNotifier('failures', ['failed', 'rolled_back']);
    const d = dispatcher([all, failures]);
    await d.drain();

    const a = await world.deploy();
    await world.start('web', 'prod', CREATED_AT + 1000);
    await world.phase(a.id, 'waiting', CREATED_AT + 2000, { message: 'waiting for 1 approval from ops' });
    await world.phase(a.id, 'running', CREATED_AT + 3000, { message: 'gates passed' });
    await world.phase(a.id, 'paused', CREATED_AT + 4000, { message: 'paused at 10%' });
    await world.phase(a.id, 'running', CREATED_AT + 5000, { message: 'promoted' });
    await world.phase(a.id, 'succeeded', CREATED_AT + 6000, { version: '1.4.2' });

    const b = await world.deploy({ version: '1.5.0', previousVersion: '1.4.2', reason: null });
    await world.start('web', 'prod', CREATED_AT + 7000);
    await world.phase(b.id, 'rolling_back', CREATED_AT + 8000, { message: 'error rate 7.2% > 5% for 2m', rollbackTo: '1.4.2' });
    await world.phase(b.id, 'rolled_back', CREATED_AT + 9000, { message: 'error rate 7.2% > 5% for 2m' });

    const c = await world.deploy({ version: '1.6.0' });
    await world.phase(c.id, 'aborted', CREATED_AT + 10_000, { actor: 'bo' });

    await d.drain();
    const base = { service: 'web', environment: 'prod', image: null, actor: 'ana', createdAt: CREATED_AT };
    const started = { event: 'started', at: CREATED_AT + 1000, rolledBackTo: null, deployment: { ...base, id: a.id, version: '1.4.2', reason: 'CHG-42', phase: 'running', message: null, finishedAt: null } };
    const waiting = { event: 'waiting', at: CREATED_AT + 2000, rolledBackTo: null, deployment: { ...base, id: a.id, version: '1.4.2', reason: 'CHG-42', phase: 'waiting', message: 'waiting for 1 approval from ops', finishedAt: null } };
    const succeeded = { event: 'succeeded', at: CREATED_AT + 6000, rolledBackTo: null, deployment: { ...base, id: a.id, version: '1.4.2', reason: 'CHG-42', phase: 'succeeded', message: null, finishedAt: CREATED_AT + 6000 } };
    const bStarted = { event: 'started', at: CREATED_AT + 7000, rolledBackTo: null, deployment: { ...base, id: b.id, version: '1.5.0', reason: null, phase: 'running', message: null, finishedAt: null } };
    const rolledBack = { event: 'rolled_back', at: CREATED_AT + 9000, rolledBackTo: '1.4.2', deployment: { ...base, id: b.id, version: '1.5.0', reason: null, phase: 'rolled_back', message: 'error rate 7.2% > 5% for 2m', finishedAt: CREATED_AT + 9000 } };
    const aborted = { event: 'failed', at: CREATED_AT + 10_000, rolledBackTo: null, deployment: { ...base, id: c.id, version: '1.6.0', reason: 'CHG-42', phase: 'aborted', message: 'aborted by bo', finishedAt: CREATED_AT + 10_000 } };

    expect(all.sent.map((s) => ({ ...s.n, eventId: undefined }))).toEqual([started, waiting, succeeded, bStarted, rolledBack, aborted]);
    expect(failures.sent.map((s) => ({ ...s.n, eventId: undefined }))).toEqual([rolledBack, aborted]);
    expect(all.sent.map((s) => s.ctx.deliveryId)).toEqual(all.sent.map((s) => deliveryIdOf('all', s.n.deployment.id, s.n.eventId)));
    expect(new Set([...all.sent, ...failures.sent].map((s) => s.ctx.deliveryId)).size).toBe(8);

    const phaseEvents = (await world.store.listEvents()).filter((e) => e.type === 'deployment.phase');
    const idOf = (dep: string, to: string) => phaseEvents.find((e) => e.deploymentId === dep && e.data.to === to)!.id;
    const sent = await eventsOf('notification.sent');
    const expected = (notifier: string, list: Array<[string, string, string]>) =>
      list.map(([dep, event, to]) => ({ deploymentId: dep, data: { notifier, event, attempt: 1, eventId: idOf(dep, to) } }));
    expect(sent.filter((e) => e.data.notifier === 'all')).toEqual(expected('all', [
      [a.id, 'started', 'running'], [a.id, 'waiting', 'waiting'], [a.id, 'succeeded', 'succeeded'],
      [b.id, 'started', 'running'], [b.id, 'rolled_back', 'rolled_back'], [c.id, 'failed', 'aborted'],
    ]));
    expect(sent.filter((e) => e.data.notifier === 'failures')).toEqual(expected('failures', [[b.id, 'rolled_back', 'rolled_back'], [c.id, 'failed', 'aborted']]));
    expect(sent.length).toBe(8);
  });

  it('retries with backoff, records the attempt that delivered, and records what was never delivered', async () => {
    const flaky = new RecordingNotifier('flaky', ['started'], (_n, attempt) => attempt < 3 ? { result: 'retry', error: `HTTP 503 Service Unavailable` } : { result: 'delivered' }, 3);
    const dead = new RecordingNotifier('dead', ['started'], () => ({ result: 'retry', error: 'connection failed (ECONNREFUSED)' }), 2);
    const refused = new RecordingNotifier('refused', ['started'], () => ({ result: 'failed', error: 'HTTP 404 Not Found' }), 5);
    const d = dispatcher([flaky, dead, refused]);
    await d.drain();
    const a = await world.deploy();
    await world.start();
    await d.drain();

    expect(flaky.sent.map((s) => s.ctx.attempt)).toEqual([1, 2, 3]);
    expect(dead.sent.map((s) => s.ctx.attempt)).toEqual([1, 2, 3]);
    expect(refused.sent.map((s) => s.ctx.attempt)).toEqual([1]);
    const eventId = flaky.sent[0]!.n.eventId;
    expect(await eventsOf('notification.sent')).toEqual([{ deploymentId: a.id, data: { notifier: 'flaky', event: 'started', attempt: 3, eventId } }]);
    expect((await eventsOf('notification.failed')).sort((x, y) => String(x.data.notifier).localeCompare(String(y.data.notifier)))).toEqual([
      { deploymentId: a.id, data: { notifier: 'dead', event: 'started', attempts: 3, error: 'connection failed (ECONNREFUSED)', eventId } },
      { deploymentId: a.id, data: { notifier: 'refused', event: 'started', attempts: 1, error: 'HTTP 404 Not Found', eventId } },
    ]);
  });

  it('abandons an attempt that outlives its time limit, even when the notifier ignores its signal, without holding up the others', async () => {
    const stuck = new RecordingNotifier('stuck', ['started'], () => new Promise<DeliveryResult>(() => undefined), 1, 50);
    const quick = new RecordingNotifier('quick', ['started']);
    const d = dispatcher([stuck, quick]);
    await d.drain();
    const a = await world.deploy();
    await world.start();
    await d.drain();
    const eventId = quick.sent[0]!.n.eventId;
    expect(stuck.sent.map((s) => s.ctx.attempt)).toEqual([1, 2]);
    expect(await eventsOf('notification.sent')).toEqual([{ deploymentId: a.id, data: { notifier: 'quick', event: 'started', attempt: 1, eventId } }]);
    expect(await eventsOf('notification.failed')).toEqual([
      { deploymentId: a.id, data: { notifier: 'stuck', event: 'started', attempts: 2, error: 'timed out after 50 ms', eventId } },
    ]);
  });

  it('follows the log while started, and after a restart from its cursor sends what came in meanwhile and nothing twice', async () => {
    const receiver = await Receiver.start();
    cleanup.push(() => receiver.close());
    const hook = () => new NotificationDispatcher({
      store: world.store, stateDir: world.stateDir, readDeployment: (id) => world.readDeployment(id), pollMs: 20,
      config: { notifications: [{ kind: 'webhook', name: 'ops', url: receiver.url, secret: null, events: ['started', 'succeeded'], timeoutMs: 2000, retries: 0 }] },
    });
    const first = hook();
    cleanup.push(() => first.stop());
    await first.start();
    const a = await world.deploy();
    await world.start();
    // Settled means recorded: a stop between the receiver's answer and the record may send it again (at least once).
    await vi.waitFor(async () => { expect(await eventsOf('notification.sent')).toHaveLength(1); }, { timeout: 10_000, interval: 20 });
    await first.stop();

    await world.phase(a.id, 'succeeded', CREATED_AT + 5000);
    const b = await world.deploy({ environment: 'staging' });
    await world.start('web', 'staging');
    const last = (await world.store.listEvents()).filter((e) => e.type === 'deployment.phase').at(-1)!;

    const second = hook();
    cleanup.push(() => second.stop());
    await second.start();
    await second.drain();
    await second.stop();
    const third = hook();
    await third.drain();

    expect(receiver.received.map((r) => [r.headers['x-gangway-event'], (JSON.parse(r.body) as { deployment: { id: string } }).deployment.id]))
      .toEqual([['started', a.id], ['succeeded', a.id], ['started', b.id]]);
    const cursor = (await world.store.getCursor('notifications:ops'))!;
    expect(cursor).toBeGreaterThanOrEqual(last.id);
    expect(third.cursors()).toEqual({ ops: cursor });
  });

  it('starts a notifier without a cursor at the end of the log, so history is not replayed', async () => {
    const a = await world.deploy();
    await world.start();
    await world.phase(a.id, 'succeeded', CREATED_AT + 5000);
    const rec = new RecordingNotifier('late', ALL);
    const d = dispatcher([rec]);
    await d.drain();
    expect(rec.sent).toEqual([]);
    const b = await world.deploy({ environment: 'dev' });
    await world.start('web', 'dev');
    await d.drain();
    expect(rec.sent.map((s) => [s.n.event, s.n.deployment.id])).toEqual([['started', b.id]]);
  });

  it('stopping during an attempt leaves the notification unsettled, and the next start sends it', async () => {
    let release: (() => void) | undefined;
    const slow: RecordingNotifier = new RecordingNotifier('slow', ['started'], (_n, attempt): Promise<DeliveryResult> | DeliveryResult => attempt === 1 && slow.sent.length === 1
      ? new Promise<DeliveryResult>((resolve) => { release = () => resolve({ result: 'delivered' }); })
      : { result: 'delivered' }, 0, 60_000);
    const d = dispatcher([slow], { pollMs: 10 });
    await d.start();
    await world.deploy();
    await world.start();
    await vi.waitFor(() => { expect(slow.sent.length).toBe(1); }, { timeout: 10_000, interval: 10 });
    await d.stop();
    release?.();
    expect(await eventsOf('notification.sent')).toEqual([]);

    const again = dispatcher([slow]);
    await again.drain();
    expect(slow.sent.map((s) => s.ctx.deliveryId)).toEqual([slow.sent[0]!.ctx.deliveryId, slow.sent[0]!.ctx.deliveryId]);
    expect((await eventsOf('notification.sent')).map((e) => e.data.notifier)).toEqual(['slow']);
  });

  it('imports the cursor file of earlier versions into the store once, and removes it', async () => {
    const a = await world.deploy();
    await world.start();
    const started = (await world.store.listEvents()).filter((e) => e.type === 'deployment.phase').at(-1)!;
    await world.phase(a.id, 'succeeded', CREATED_AT + 5000);
    const path = join(world.stateDir, 'notifications.cursor');
    await mkdir(world.stateDir, { recursive: true });
    await writeFile(path, JSON.stringify({ version: 1, notifiers: { ops: started.id } }));
    const rec = new RecordingNotifier('ops', ALL);
    await dispatcher([rec]).drain();
    // Resumed after the file's position: the started notification was settled before, the success was not.
    expect(rec.sent.map((s) => [s.n.event, s.n.deployment.id])).toEqual([['succeeded', a.id]]);
    await expect(readFile(path, 'utf8')).rejects.toThrow('ENOENT');
    expect(await world.store.getCursor('notifications:ops')).toBe((await world.store.listEvents()).filter((e) => e.type === 'deployment.phase').at(-1)!.id);
  });

  it('moves no cursor without the background lease, and settles again once it holds it', async () => {
    let guard: { lease: string; owner: string; fence: number } | null = null;
    const rec = new RecordingNotifier('ops', ALL);
    const d = new NotificationDispatcher({
      store: world.store, stateDir: world.stateDir, readDeployment: (id) => world.readDeployment(id), notifiers: [rec], guard: () => guard,
      config: { notifications: [] },
    });
    await expect(d.drain()).rejects.toThrow('notifications: this orchestrator no longer holds the background lease');
    expect(await world.store.getCursor('notifications:ops')).toBeUndefined();
    const fence = (await world.store.acquireNamedLease('background', 'me', 1000, 60_000))!;
    guard = { lease: 'background', owner: 'me', fence: fence + 1 }; // a stale or forged fence
    await expect(d.drain()).rejects.toThrow('no longer holds the background lease');
    guard = { lease: 'background', owner: 'me', fence };
    await d.drain();
    expect(await world.store.getCursor('notifications:ops')).toBe((await world.store.listEvents()).at(-1)?.id ?? 0);
  });

  it('refuses a damaged cursor file of an earlier version instead of guessing where to resume', async () => {
    const path = join(world.stateDir, 'notifications.cursor');
    await mkdir(world.stateDir, { recursive: true });
    await writeFile(path, '{"version":1,"notifiers":{"ops":');
    const next = dispatcher([new RecordingNotifier('ops', ALL)]);
    await expect(next.start()).rejects.toThrow(`${path} is not a valid notification cursor`);
    await expect(next.start()).rejects.toMatchObject({ name: 'GangwayError', code: 'internal',
      hint: 'delete it to resume notifications from the end of the event log (notifications since the last run are then not sent)' });
  });

  it('rejects two notifiers with one name', () => {
    expect(() => new NotificationDispatcher({
      store: world.store, stateDir: world.stateDir, readDeployment: (id) => world.readDeployment(id),
      config: { notifications: [
        { kind: 'slack', name: 'chat', url: 'http://127.0.0.1:9/a', events: ALL, timeoutMs: 1000, retries: 0 },
        { kind: 'webhook', name: 'chat', url: 'http://127.0.0.1:9/b', secret: null, events: ALL, timeoutMs: 1000, retries: 0 },
      ] },
    })).toThrow('notifications: two notifiers are named "chat"');
  });
});
