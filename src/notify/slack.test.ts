/**
 * Slack-compatible messages, received by a real HTTP receiver through the dispatcher.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CREATED_AT, notifyWorld, Receiver } from '../../test/support/notify-world.js';
import type { NotifyWorld } from '../../test/support/notify-world.js';
import { NotificationDispatcher } from './notifier.js';
import { USER_AGENT } from './webhook.js';

let world: NotifyWorld;
let receiver: Receiver;
let dispatcher: NotificationDispatcher;
beforeEach(async () => {
  world = await notifyWorld();
  receiver = await Receiver.start();
  dispatcher = new NotificationDispatcher({
    store: world.store, readDeployment: (id) => world.readDeployment(id), stateDir: world.stateDir, backoffMs: 1,
    config: { notifications: [{ kind: 'slack', name: 'releases', url: receiver.url, events: ['started', 'waiting', 'succeeded', 'failed', 'rolled_back'], timeoutMs: 2000, retries: 0 }] },
  });
  await dispatcher.drain();
});
afterEach(async () => {
  await dispatcher.stop();
  await receiver.close();
  await world.close();
});

function bodies(): unknown[] {
  return receiver.received.map((r) => JSON.parse(r.body) as unknown);
}

describe('slack notifier', () => {
  it('posts a readable summary line and a context block for a deployment that waits and succeeds', async () => {
    const d = await world.deploy({ image: 'registry.local/web@sha256:' + 'b'.repeat(64) });
    await world.start();
    await world.phase(d.id, 'waiting', CREATED_AT + 2000, { message: 'waiting for 1 approval from ops' });
    await world.phase(d.id, 'running', CREATED_AT + 3000, { message: 'gates passed' });
    await world.phase(d.id, 'succeeded', CREATED_AT + 4000);
    await dispatcher.drain();

    const context = (phase: string) => ({ type: 'context', elements: [{ type: 'mrkdwn', text: `deployment \`${d.id}\` · phase ${phase} · image \`registry.local/web@sha256:${'b'.repeat(64)}\`` }] });
    expect(bodies()).toEqual([
      {
        text: ':rocket: web 1.4.2 deploying to prod by ana (CHG-42)',
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: ':rocket: web 1.4.2 deploying to prod by ana (CHG-42)' } }, context('running')],
      },
      {
        text: ':hourglass_flowing_sand: web 1.4.2 waiting to deploy to prod: waiting for 1 approval from ops',
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: ':hourglass_flowing_sand: web 1.4.2 waiting to deploy to prod: waiting for 1 approval from ops' } }, context('waiting')],
      },
      {
        text: ':white_check_mark: web 1.4.2 deployed to prod by ana (CHG-42)',
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: ':white_check_mark: web 1.4.2 deployed to prod by ana (CHG-42)' } }, context('succeeded')],
      },
    ]);
    expect(receiver.received.map((r) => [r.method, r.headers['content-type'], r.headers['user-agent']]))
      .toEqual(Array(3).fill(['POST', 'application/json', USER_AGENT]));
  });

  it('says why a deployment failed, was aborted or was rolled back, escaping Slack control characters', async () => {
    const failed = await world.deploy({ reason: null });
    await world.start();
    await world.phase(failed.id, 'failed', CREATED_AT + 2000, { message: 'smoke check <db> & cache answered 503' });
    const rolled = await world.deploy({ version: '1.5.0', previousVersion: '1.4.1' });
    await world.start();
    await world.phase(rolled.id, 'rolling_back', CREATED_AT + 3000, { message: 'error rate 7.2% > 5% for 2m', rollbackTo: '1.4.1' });
    await world.phase(rolled.id, 'rolled_back', CREATED_AT + 4000, { message: 'error rate 7.2% > 5% for 2m' });
    const aborted = await world.deploy({ version: '1.6.0' });
    await world.phase(aborted.id, 'aborted', CREATED_AT + 5000, { actor: 'bo' });
    await dispatcher.drain();

    const texts = bodies().map((b) => (b as { text: string }).text);
    expect(texts).toEqual([
      ':rocket: web 1.4.2 deploying to prod by ana',
      ':x: web 1.4.2 failed in prod: smoke check &lt;db&gt; &amp; cache answered 503',
      ':rocket: web 1.5.0 deploying to prod by ana (CHG-42)',
      ':rewind: web 1.5.0 rolled back in prod to 1.4.1: error rate 7.2% &gt; 5% for 2m',
      ':x: web 1.6.0 aborted in prod: aborted by bo',
    ]);
    expect(bodies()[3]).toEqual({
      text: ':rewind: web 1.5.0 rolled back in prod to 1.4.1: error rate 7.2% &gt; 5% for 2m',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: ':rewind: web 1.5.0 rolled back in prod to 1.4.1: error rate 7.2% &gt; 5% for 2m' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: `deployment \`${rolled.id}\` · phase rolled_back` }] },
      ],
    });
  });
});
