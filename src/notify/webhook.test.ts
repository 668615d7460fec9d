/**
 * Webhook notifications to real HTTP receivers on 127.0.0.1, through the dispatcher and a
 * real SQLite store.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NotifierConfig, NotifyEvent } from '../config/types.js';
import { CREATED_AT, notifyWorld, Receiver } from '../../test/support/notify-world.js';
import type { Answer, NotifyWorld, Received } from '../../test/support/notify-world.js';
import { deliveryIdOf, NotificationDispatcher } from './notifier.js';
import { classifyResponse, USER_AGENT } from './webhook.js';

let world: NotifyWorld;
const cleanup: Array<() => Promise<void>> = [];
beforeEach(async () => { world = await notifyWorld(); });
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  await world.close();
});

async function receiver(answer?: (req: Received, index: number) => Answer): Promise<Receiver> {
  const r = await Receiver.start(answer);
  cleanup.push(() => r.close());
  return r;
}

function webhook(url: string, extra: Partial<Extract<NotifierConfig, { kind: 'webhook' }>> = {}): NotifierConfig {
  return { kind: 'webhook', name: 'ops', url, secret: null, events: ['started', 'succeeded', 'failed'] as NotifyEvent[], timeoutMs: 2000, retries: 0, ...extra };
}

async function dispatch(notifications: NotifierConfig[]): Promise<NotificationDispatcher> {
  const d = new NotificationDispatcher({
    store: world.store, config: { notifications }, readDeployment: (id) => world.readDeployment(id), stateDir: world.stateDir, backoffMs: 1,
  });
  cleanup.push(() => d.stop());
  await d.drain();
  return d;
}

async function records(type: string) {
  return (await world.store.listEvents()).filter((e) => e.type === type).map((e) => e.data);
}

/** What a receiver does with the shared secret: HMAC the raw body and compare in constant time. */
function verify(secret: string, body: string, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(body).digest('hex'));
  const got = Buffer.from(header.slice('sha256='.length));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

describe('webhook notifier', () => {
  it('POSTs the deployment as JSON with event, delivery and a signature the receiver verifies with the secret', async () => {
    const r = await receiver();
    const d = await dispatch([webhook(r.url, { secret: 'whsec-1' })]);
    const dep = await world.deploy({ image: 'registry.local/web@sha256:' + 'a'.repeat(64) });
    await world.start('web', 'prod', CREATED_AT + 1000);
    await world.phase(dep.id, 'succeeded', CREATED_AT + 9000);
    await d.drain();

    expect(r.received).toHaveLength(2);
    const [started, succeeded] = r.received as [Received, Received];
    expect(JSON.parse(succeeded.body)).toEqual({
      kind: 'deployment',
      event: 'succeeded',
      deployment: {
        id: dep.id, service: 'web', environment: 'prod', version: '1.4.2', image: 'registry.local/web@sha256:' + 'a'.repeat(64),
        phase: 'succeeded', actor: 'ana', reason: 'CHG-42', message: null, createdAt: CREATED_AT, finishedAt: CREATED_AT + 9000,
      },
      at: CREATED_AT + 9000,
    });
    const eventIds = (await world.store.listEvents()).filter((e) => e.type === 'deployment.phase').map((e) => e.id);
    for (const [req, event, eventId] of [[started, 'started', eventIds[0]], [succeeded, 'succeeded', eventIds[1]]] as const) {
      expect(req.method).toBe('POST');
      expect(req.path).toBe('/hook');
      expect(req.headers['content-type']).toBe('application/json');
      expect(req.headers['user-agent']).toBe(USER_AGENT);
      expect(req.headers['x-gangway-event']).toBe(event);
      expect(req.headers['x-gangway-delivery']).toBe(deliveryIdOf('ops', dep.id, eventId!));
      expect(req.headers['x-gangway-signature']).toBe(`sha256=${createHmac('sha256', 'whsec-1').update(req.body).digest('hex')}`);
      expect(verify('whsec-1', req.body, req.headers['x-gangway-signature'])).toBe(true);
      expect(verify('another secret', req.body, req.headers['x-gangway-signature'])).toBe(false);
      expect(verify('whsec-1', req.body.replace('"ana"', '"eve"'), req.headers['x-gangway-signature'])).toBe(false);
    }
    expect(started.headers['x-gangway-delivery']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(started.headers['x-gangway-delivery']).not.toBe(succeeded.headers['x-gangway-delivery']);
  });

  it('sends no signature without a secret', async () => {
    const r = await receiver();
    const d = await dispatch([webhook(r.url)]);
    await world.deploy();
    await world.start();
    await d.drain();
    expect(r.received).toHaveLength(1);
    expect(r.received[0]!.headers['x-gangway-signature']).toBeUndefined();
  });

  it('retries 5xx, 408 and 429 with backoff until delivered, with the same delivery id and body', async () => {
    const answers: Answer[] = [
      { status: 503, body: 'busy' }, { status: 408 }, { status: 429, headers: { 'Retry-After': '0' } }, { status: 204 },
    ];
    const r = await receiver((_req, i) => answers[i] ?? { status: 200 });
    const d = await dispatch([webhook(r.url, { retries: 4, secret: 's' })]);
    const dep = await world.deploy();
    await world.start();
    await d.drain();

    expect(r.received).toHaveLength(4);
    expect(new Set(r.received.map((q) => q.headers['x-gangway-delivery'])).size).toBe(1);
    expect(new Set(r.received.map((q) => q.body)).size).toBe(1);
    const eventId = (await world.store.listEvents()).find((e) => e.type === 'deployment.phase')!.id;
    expect(await records('notification.sent')).toEqual([{ notifier: 'ops', event: 'started', attempt: 4, eventId }]);
    expect(await records('notification.failed')).toEqual([]);
    expect(dep.id).toBe(r.received.map((q) => (JSON.parse(q.body) as { deployment: { id: string } }).deployment.id)[0]);
  });

  it('does not retry a permanent 4xx and records it as failed after one attempt', async () => {
    const r = await receiver(() => ({ status: 400, body: 'missing field "service"\n' }));
    const d = await dispatch([webhook(r.url, { retries: 5 })]);
    await world.deploy();
    await world.start();
    await d.drain();
    expect(r.received).toHaveLength(1);
    const eventId = (await world.store.listEvents()).find((e) => e.type === 'deployment.phase')!.id;
    expect(await records('notification.failed')).toEqual([
      { notifier: 'ops', event: 'started', attempts: 1, error: 'HTTP 400 Bad Request: missing field "service"', eventId },
    ]);
  });

  it('records an undelivered notification with its attempts when retries run out', async () => {
    const r = await receiver(() => ({ status: 500, body: 'boom' }));
    const d = await dispatch([webhook(r.url, { retries: 2 })]);
    const dep = await world.deploy();
    await world.start();
    await world.phase(dep.id, 'failed', CREATED_AT + 3000, { message: 'smoke check /health answered 503' });
    await d.drain();
    expect(r.received.map((q) => q.headers['x-gangway-event'])).toEqual(['started', 'started', 'started', 'failed', 'failed', 'failed']);
    const ids = (await world.store.listEvents()).filter((e) => e.type === 'deployment.phase').map((e) => e.id);
    expect(await records('notification.failed')).toEqual([
      { notifier: 'ops', event: 'started', attempts: 3, error: 'HTTP 500 Internal Server Error: boom', eventId: ids[0] },
      { notifier: 'ops', event: 'failed', attempts: 3, error: 'HTTP 500 Internal Server Error: boom', eventId: ids[1] },
    ]);
    expect((JSON.parse(r.received[3]!.body) as { deployment: { message: string } }).deployment.message).toBe('smoke check /health answered 503');
  });

  it('retries connection errors and time-outs, and a dead receiver does not hold up a live one', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const hanging = await receiver(() => 'hang');
    const live = await receiver();
    const d = await dispatch([
      webhook(`http://127.0.0.1:${port}/hook`, { name: 'gone', retries: 1 }),
      webhook(hanging.url, { name: 'slow', retries: 1, timeoutMs: 100 }),
      webhook(live.url, { name: 'live' }),
    ]);
    await world.deploy();
    await world.start();
    await d.drain();
    const eventId = (await world.store.listEvents()).find((e) => e.type === 'deployment.phase')!.id;
    expect(hanging.received).toHaveLength(2);
    expect(live.received).toHaveLength(1);
    expect(await records('notification.sent')).toEqual([{ notifier: 'live', event: 'started', attempt: 1, eventId }]);
    expect((await records('notification.failed')).sort((a, b) => String(a.notifier).localeCompare(String(b.notifier)))).toEqual([
      { notifier: 'gone', event: 'started', attempts: 2, error: 'connection failed (ECONNREFUSED)', eventId },
      { notifier: 'slow', event: 'started', attempts: 2, error: 'timed out after 100 ms', eventId },
    ]);
  });

  it('does not follow redirects', async () => {
    const r = await receiver(() => ({ status: 302, headers: { Location: 'http://127.0.0.1:9/elsewhere' } }));
    const d = await dispatch([webhook(r.url, { retries: 3 })]);
    await world.deploy();
    await world.start();
    await d.drain();
    expect(r.received).toHaveLength(1);
    expect((await records('notification.failed')).map((f) => f.error)).toEqual(['HTTP 302 Found (redirects are not followed; configure the final URL)']);
  });
});

describe('classifyResponse', () => {
  it('reads Retry-After as seconds or as a date, capped at a minute', () => {
    const now = Date.parse('2025-06-01T12:00:00Z');
    expect(classifyResponse(429, 'Too Many Requests', '', '3', now)).toEqual({ result: 'retry', error: 'HTTP 429 Too Many Requests', retryAfterMs: 3000 });
    expect(classifyResponse(503, 'Service Unavailable', '', 'Sun, 01 Jun 2025 12:00:10 GMT', now)).toEqual({ result: 'retry', error: 'HTTP 503 Service Unavailable', retryAfterMs: 10_000 });
    expect(classifyResponse(503, '', '', '3600', now)).toEqual({ result: 'retry', error: 'HTTP 503', retryAfterMs: 60_000 });
    expect(classifyResponse(502, 'Bad Gateway', '', null, now)).toEqual({ result: 'retry', error: 'HTTP 502 Bad Gateway' });
    expect(classifyResponse(410, 'Gone', 'channel_is_archived', null, now)).toEqual({ result: 'failed', error: 'HTTP 410 Gone: channel_is_archived' });
    expect(classifyResponse(201, 'Created', '', null, now)).toEqual({ result: 'delivered' });
  });
});
