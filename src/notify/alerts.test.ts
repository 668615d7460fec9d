/**
 * Alert notifications over a real SQLite store: an alert event reaches exactly the notifiers
 * its tier names (whatever their `events`), and each adapter says what the alert is.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NotifyEvent } from '../config/types.js';
import { alertEvent } from '../alerts/monitor.js';
import type { AlertTier } from '../config/types.js';
import { CREATED_AT, notifyWorld, type NotifyWorld } from '../../test/support/notify-world.js';
import { githubState, githubStatusDescription } from './github.js';
import { NotificationDispatcher } from './notifier.js';
import { slackSummary } from './slack.js';
import type { DeliveryResult, Notification, Notifier } from './types.js';
import { webhookPayload } from './webhook.js';

class Recording implements Notifier {
  readonly kind = 'webhook';
  readonly retries = 0;
  readonly timeoutMs = 5000;
  readonly sent: Notification[] = [];
  constructor(readonly name: string, readonly events: NotifyEvent[]) {}
  async send(n: Notification): Promise<DeliveryResult> {
    this.sent.push(n);
    return { result: 'delivered' };
  }
}

const TIER: AlertTier = { name: 'p0', action: 'rollback', channels: ['pager'], conditions: [] };

let world: NotifyWorld;
beforeEach(async () => { world = await notifyWorld(); });
afterEach(async () => { await world.close(); });

describe('alert notifications', () => {
  it('go to the tier\'s channels only, whatever their events, with the deployment and the alert', async () => {
    const pager = new Recording('pager', ['succeeded']);
    const other = new Recording('releases', ['started', 'succeeded', 'failed', 'rolled_back', 'waiting', 'superseded']);
    const d = new NotificationDispatcher({ store: world.store, config: { notifications: [] }, readDeployment: (id) => world.readDeployment(id), stateDir: world.stateDir, notifiers: [pager, other] });
    await d.drain();
    const dep = await world.deploy();
    await world.start();
    const at = CREATED_AT + 60_000;
    await world.store.appendEvents([
      alertEvent(dep, { kind: 'fired', tier: TIER, at, reason: 'error-rate: error_rate 50% > 10% for 2m0s', conditions: [
        { name: 'error-rate', verdict: 'fail', reason: 'error_rate 50% > 10%', since: at - 120_000, forMs: 120_000, sustained: true, measurements: [{ at, metric: 'error_rate', canary: 0.5, stable: null, samples: { canary: 400, stable: null } }] },
      ] }),
      alertEvent(dep, { kind: 'resolved', tier: TIER, at: at + 30_000, reason: 'no longer watched: the deployment is rolled_back', firedAt: at, firedReason: 'error-rate: error_rate 50% > 10% for 2m0s' }),
    ]);
    await d.drain();
    expect(other.sent.map((n) => n.event)).toEqual(['started']);
    expect(pager.sent.map((n) => [n.event, n.deployment.id, n.alert?.tier, n.alert?.reason])).toEqual([
      ['alert.fired', dep.id, 'p0', 'error-rate: error_rate 50% > 10% for 2m0s'],
      ['alert.resolved', dep.id, 'p0', 'no longer watched: the deployment is rolled_back'],
    ]);
    const [fired, resolved] = pager.sent as [Notification, Notification];
    expect(fired.alert).toEqual({ tier: 'p0', action: 'rollback', reason: 'error-rate: error_rate 50% > 10% for 2m0s', conditions: [{ name: 'error-rate', reason: 'error_rate 50% > 10%' }], firedAt: at, resolvedAt: null });
    expect(resolved.alert).toMatchObject({ firedAt: at, resolvedAt: at + 30_000, conditions: [] });
    expect(webhookPayload(fired)).toEqual({
      kind: 'deployment', event: 'alert.fired', at,
      deployment: { id: dep.id, service: 'web', environment: 'prod', version: '1.4.2', image: null, phase: 'running', actor: 'ana', reason: 'CHG-42',
        message: 'alert p0 fired: error-rate: error_rate 50% > 10% for 2m0s', createdAt: CREATED_AT, finishedAt: null },
      alert: fired.alert,
    });
    expect(slackSummary(fired)).toBe(':rotating_light: alert p0 fired for web 1.4.2 in prod: error-rate: error_rate 50% &gt; 10% for 2m0s (rolling back)');
    expect(slackSummary(resolved)).toBe(':large_green_circle: alert p0 resolved for web 1.4.2 in prod: no longer watched: the deployment is rolled_back');
    expect([githubState(fired), githubStatusDescription(fired)]).toEqual(['in_progress', 'Alert p0 fired: error-rate: error_rate 50% > 10% for 2m0s']);
    expect(githubState({ ...resolved, deployment: { ...resolved.deployment, phase: 'succeeded' } })).toBe('success');
  });
});
