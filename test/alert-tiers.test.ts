/**
 * Alert tiers end to end: real `gangway up`, agent, proxy and instances, a continuous request
 * loop, and a real webhook receiver. The fixture app takes its error rate from the release's
 * version label, so release "0.5" fails half of its requests and "0.0" none.
 *
 * Given release 0 serving, a deployment of 0.5 (no analysis template: only the alert tiers
 * judge it) first fires `degraded` (error rate > 10% for 1 s → freeze dev), then `page`
 * (error rate > 30% for 2 s → roll back). The receiver is told of both, naming the deployment;
 * the deployment ends rolled back; the next deploy to dev is blocked by the freeze, which names
 * the alert.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, freePorts, makeProject, projectHeader, runCli, sleep, waitForEnd, type Project } from './support/gangway.js';
import { startLoad } from './support/load.js';
import { Receiver } from './support/notify-world.js';

let project: Project;
let receiver: Receiver;
let port: number;

interface Payload { event: string; deployment: { id: string; service: string; version: string; message: string | null }; alert?: { tier: string; action: string; reason: string; conditions: Array<{ name: string }> } }
interface EventView { type: string; deploymentId: string | null; data: Record<string, unknown> }

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

beforeAll(async () => {
  [port] = await freePorts(1);
  receiver = await Receiver.start();
  // degraded is declared first: should one evaluation find both sustained (a slow machine), they fire in this order too.
  project = await makeProject((ports) => `
${projectHeader('alerts', ports)}notifications:
  - name: oncall
    webhook: { url: "${receiver.url}" }
    events: [rolled_back]
alerts:
  interval: 500ms
  tiers:
    degraded:
      channels: [oncall]
      action: freeze
      conditions:
        - { name: error-rate, threshold: { metric: { builtin: error_rate }, max: 0.1, window: 3s, minSamples: 20 }, for: 1s }
    page:
      channels: [oncall]
      action: rollback
      conditions:
        - { name: error-rate, threshold: { metric: { builtin: error_rate }, max: 0.3, window: 3s, minSamples: 20, for: 2s } }
environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", ERROR_RATE: "\${release.version}" }
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, startTimeout: 15s }
    strategy: { blueGreen: { scaleDownDelay: 0s } }
    rollback: { watch: 20s }
`);
  await project.up();
  const first = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0' });
  expect((await waitForEnd(project, first.body.id, 90_000)).phase).toBe('succeeded');
}, 120_000);

afterAll(async () => {
  await project?.cleanup();
  await receiver?.close();
});

describe('given release 0 serving dev with alert tiers page (rollback) and degraded (freeze)', () => {
  it('a release failing half its requests fires degraded, then page: notified with the deployment, rolled back, and dev frozen for the next deploy', async () => {
    const load = startLoad(port, 4);
    await load.ready;
    const created = await runCli(project.dir, ['deploy', 'web', '--env', 'dev', '--version', '0.5', '-o', 'json']);
    expect(created.code).toBe(0);
    const id = (JSON.parse(created.stdout) as { id: string }).id;
    const end = await waitForEnd(project, id, 90_000) as unknown as { phase: string; message: string };
    await load.stop();

    // Rolled back through the engine's path, naming the tier and the sustained condition.
    expect(end.phase).toBe('rolled_back');
    expect(end.message).toMatch(/^alert page fired: error-rate: error_rate \d+(\.\d+)?% > 30% for 2(\.\d+)?s$/);

    // The event log: degraded fired first, then page; both resolved (in the order of the file) when the deployment left its rollout.
    // The monitor writes the resolutions at its next evaluation after the rollback began, which may come after the deployment's end.
    const alertEvents = async () => (await project.api<EventView[]>('GET', `/v1/events?deployment=${id}`)).body.filter((e) => e.type.startsWith('alert.'));
    await until('both tiers resolved', async () => (await alertEvents()).filter((e) => e.type === 'alert.resolved').length >= 2);
    const alerts = await alertEvents();
    expect(alerts.map((e) => [e.type, e.data.tier])).toEqual([
      ['alert.fired', 'degraded'], ['alert.fired', 'page'], ['alert.resolved', 'degraded'], ['alert.resolved', 'page'],
    ]);
    const page = alerts[1]!.data as { deploymentId: string; action: string; channels: string[]; conditions: Array<{ name: string; forMs: number; values: Array<{ metric: string; value: number; samples: number }> }> };
    expect([page.deploymentId, page.action, page.channels]).toEqual([id, 'rollback', ['oncall']]);
    expect(page.conditions.map((c) => [c.name, c.forMs, c.values[0]!.metric])).toEqual([['error-rate', 2000, 'error_rate']]);
    expect(page.conditions[0]!.values[0]!.value).toBeGreaterThan(0.3);
    expect(page.conditions[0]!.values[0]!.samples).toBeGreaterThanOrEqual(20);
    // Whichever the monitor saw first: the rollback under way or done.
    expect(alerts[3]!.data.reason).toMatch(/^no longer watched: the deployment is (rolling_back|rolled_back)$/);

    // The receiver was told of each alert and of the rollback, each naming the deployment.
    await until('the webhook deliveries', () => receiver.received.length >= 5);
    const got = receiver.received.map((r) => JSON.parse(r.body) as Payload);
    // Sent in the order of the log: the two firings first; the rollback's end and the resolutions in whichever order they were logged.
    const sent = got.map((p) => [p.event, p.alert?.tier ?? null, p.deployment.id]);
    expect(sent.slice(0, 2)).toEqual([['alert.fired', 'degraded', id], ['alert.fired', 'page', id]]);
    expect(sent.slice(2).filter((x) => x[0] === 'alert.resolved')).toEqual([['alert.resolved', 'degraded', id], ['alert.resolved', 'page', id]]);
    expect(sent.slice(2).filter((x) => x[0] !== 'alert.resolved')).toEqual([['rolled_back', null, id]]);
    expect(receiver.received[1]!.headers['x-gangway-event']).toBe('alert.fired');
    expect(got[1]!.alert).toMatchObject({ tier: 'page', action: 'rollback', conditions: [{ name: 'error-rate' }] });
    expect(got[1]!.deployment).toMatchObject({ service: 'web', version: '0.5' });

    // dev is frozen by the degraded tier: the next deploy is blocked, and the freeze names the alert.
    const freezes = (await project.api<Array<{ id: string; environment: string; service: string | null; owner: string; reason: string; source: string }>>('GET', '/v1/freezes')).body;
    expect(freezes.map((f) => [f.environment, f.service, f.owner, f.source])).toEqual([['dev', null, 'gangway/alerts', 'alert']]);
    expect(freezes[0]!.reason).toMatch(new RegExp(`^alert degraded fired: error-rate: error_rate .+ > 10% for 1(\\.\\d+)?s \\(web 0\\.5, deployment ${id}\\)$`));
    const next = await runCli(project.dir, ['deploy', 'web', '--env', 'dev', '--version', '0.0']);
    expect(next.code).toBe(3);
    expect(next.stderr.split('\n')[0]).toMatch(/^error: frozen by gangway\/alerts: alert degraded fired: error-rate: /);

    // Release 0 serves again, without a failed request.
    const after = startLoad(port, 2);
    await after.ready;
    await sleep(300);
    const clean = await after.stop();
    expect([clean.failed, Object.keys(clean.versions)]).toEqual([0, ['0']]);
  }, 150_000);
});
