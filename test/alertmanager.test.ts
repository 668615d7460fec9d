/**
 * End to end with a real Alertmanager: incident alerts freeze deployments and the freeze lifts
 * when the alert resolves.
 *
 * Given  the Gangway API (a fake orchestrator, PeopleGates over a real SQLite store) and an
 *        Alertmanager whose only receiver is Gangway's webhook, with the API token, send_resolved
 * When   an alert carrying the incident label (freeze=true) and environment/service labels is
 *        posted to Alertmanager, then posted again with endsAt in the past
 * Then   Alertmanager's notification raises one freeze scoped by those labels, owned by
 *        alertmanager, with the summary as reason; the resolved notification lifts it; an
 *        alert without the label is delivered and changes nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentChanges } from '../src/gates/incidents.js';
import { PeopleGates } from '../src/gates/people.js';
import { FreezeGate } from '../src/gates/freeze.js';
import { buildServer } from '../src/server/app.js';
import { openStore } from '../src/store/open.js';
import type { Store } from '../src/store/types.js';
import { ALERTMANAGER_PACKAGE, hasAlertmanager, startAlertmanager, type AlertmanagerServer } from './support/alertmanager.js';
import { FakeOrchestrator } from './support/fake-orchestrator.js';
import { peopleConfig } from './support/people-world.js';
import { requireOrSkip } from './support/require.js';

const available = requireOrSkip('Alertmanager integration tests (test/alertmanager.test.ts)', ALERTMANAGER_PACKAGE, hasAlertmanager());

const TOKEN = 'alertmanager-suite-token';
const INCIDENT = { alertname: 'PaymentsDown', freeze: 'true', environment: 'prod', service: 'web' };

let dir: string;
let store: Store;
let app: FastifyInstance;
let am: AlertmanagerServer;
/** Every delivery the webhook applied, in order. */
const deliveries: IncidentChanges[] = [];

/** Polls `check` until it returns a value (not undefined), or fails with Alertmanager's log. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nalertmanager log:\n${am.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function fingerprintOf(alertname: string): Promise<string> {
  return waitFor(`alert ${alertname} in Alertmanager`, async () => (await am.alerts()).find((a) => a.labels.alertname === alertname)?.fingerprint);
}

describe.skipIf(!available)('Alertmanager incidents freeze deployments', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gangway-am-suite-'));
    store = await openStore({ kind: 'sqlite', path: join(dir, 'state.db') });
    const config = peopleConfig({ incidents: { label: 'freeze', value: 'true' } });
    const gates = new PeopleGates({ store, config });
    const handle = gates.handleAlertmanager.bind(gates);
    gates.handleAlertmanager = async (payload) => {
      const changes = await handle(payload);
      deliveries.push(changes);
      return changes;
    };
    app = buildServer({ orchestrator: new FakeOrchestrator({ services: { web: ['dev', 'staging', 'prod'] } }), token: TOKEN, version: '0.0.0-test', gates });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    am = await startAlertmanager({ webhookUrl: `http://127.0.0.1:${port}/v1/webhooks/alertmanager`, token: TOKEN });
  });

  afterAll(async () => {
    await am?.stop();
    await app?.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a firing incident alert freezes what its labels name; resolving it lifts the freeze', async () => {
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    await am.postAlerts([{ labels: INCIDENT, annotations: { summary: 'payments error rate 30%' }, startsAt }]);
    const fingerprint = await fingerprintOf('PaymentsDown');

    const [freeze] = await waitFor('the incident freeze', async () => {
      const active = await store.listFreezes();
      return active.length > 0 ? active : undefined;
    });
    expect(freeze).toEqual({
      id: freeze.id, environment: 'prod', service: 'web', owner: 'alertmanager', reason: 'payments error rate 30%',
      source: 'alert', alertFingerprint: fingerprint, createdAt: freeze.createdAt, liftedAt: null, liftedBy: null,
    });
    const gate = new FreezeGate(peopleConfig(), store);
    const request = { service: 'web', environment: 'prod', version: '1.0.0', image: null, actor: 'bob', reason: null, expedited: false, deploymentId: null, now: Date.now() };
    expect(await gate.evaluate(request)).toMatchObject({ result: 'wait', reason: expect.stringMatching(/^frozen by alertmanager: payments error rate 30% \(since /) });
    expect(await gate.evaluate({ ...request, environment: 'staging' })).toMatchObject({ result: 'pass' });

    await am.postAlerts([{ labels: INCIDENT, annotations: { summary: 'payments error rate 30%' }, startsAt, endsAt: new Date(Date.now() - 100).toISOString() }]);
    const lifted = await waitFor('the freeze to lift', async () => {
      const [f] = await store.listFreezes({ all: true });
      return f?.liftedAt !== null ? f : undefined;
    });
    expect([lifted.id, lifted.liftedBy]).toEqual([freeze.id, 'alertmanager']);
    expect(await store.listFreezes()).toEqual([]);
    expect(await gate.evaluate(request)).toMatchObject({ result: 'pass' });
    // Alertmanager sent the firing alert at least once and the resolution once; only one freeze was ever raised.
    expect(deliveries.flatMap((d) => d.created)).toHaveLength(1);
    expect(deliveries.flatMap((d) => d.lifted).map((f) => f.id)).toEqual([freeze.id]);
  });

  it('an alert without the incident label is delivered and changes nothing', async () => {
    const before = await store.listFreezes({ all: true });
    await am.postAlerts([{ labels: { alertname: 'DiskFilling', environment: 'prod', severity: 'warning' }, annotations: { summary: 'disk 85%' } }]);
    const fingerprint = await fingerprintOf('DiskFilling');
    await waitFor('the delivery of DiskFilling', async () => (deliveries.some((d) => d.ignored.includes(fingerprint)) ? true : undefined));
    expect(await store.listFreezes({ all: true })).toEqual(before);
  });
});
