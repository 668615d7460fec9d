import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { T0, openPeopleWorld, peopleConfig, type PeopleWorld } from '../../test/support/people-world.js';
import { FreezeGate } from './freeze.js';

/** An alert as Alertmanager sends it in a version 4 webhook payload. */
function alert(status: 'firing' | 'resolved', fingerprint: string, labels: Record<string, string>, extra: { summary?: string; startsAt?: string } = {}) {
  return {
    status, labels, annotations: extra.summary ? { summary: extra.summary } : {},
    startsAt: extra.startsAt ?? '2025-01-01T11:59:00Z', endsAt: status === 'resolved' ? '2025-01-01T12:30:00Z' : '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus/graph', fingerprint,
  };
}

function payload(...alerts: Array<ReturnType<typeof alert>>) {
  return {
    receiver: 'gangway', status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved', alerts,
    groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://alertmanager:9093', version: '4', groupKey: '{}:{}', truncatedAlerts: 0,
  };
}

const incident = { freeze: 'true', alertname: 'PaymentsDown', environment: 'prod', service: 'web' };

let w: PeopleWorld;
beforeEach(async () => { w = await openPeopleWorld(); });
afterEach(() => w.close());

describe('Alertmanager webhook', () => {
  it('raises one freeze per firing incident alert, scoped by its labels, and lifts it when the alert resolves', async () => {
    const changes = await w.people.handleAlertmanager(payload(alert('firing', 'fp1', incident, { summary: 'payments error rate 30%' })));
    expect(changes).toEqual({
      created: [{
        id: changes.created[0].id, environment: 'prod', service: 'web', owner: 'alertmanager', reason: 'payments error rate 30%',
        source: 'alert', alertFingerprint: 'fp1', createdAt: T0, liftedAt: null, liftedBy: null,
      }],
      lifted: [], unchanged: [], ignored: [], warnings: [],
    });
    const d = await w.deploy({ environment: 'prod', actor: 'bob' });
    expect(await new FreezeGate(w.config, w.store).evaluate(w.request(d))).toMatchObject({
      result: 'wait', reason: 'frozen by alertmanager: payments error rate 30% (since 2025-01-01T12:00:00Z)',
    });

    w.clock.advance(30 * 60_000);
    const resolved = await w.people.handleAlertmanager(payload(alert('resolved', 'fp1', incident)));
    expect(resolved).toMatchObject({ created: [], lifted: [{ id: changes.created[0].id, liftedAt: T0 + 30 * 60_000, liftedBy: 'alertmanager' }], unchanged: [] });
    expect(await new FreezeGate(w.config, w.store).evaluate(w.request(d))).toMatchObject({ result: 'pass' });
    expect(await w.people.handleAlertmanager(payload(alert('resolved', 'fp1', incident)))).toMatchObject({ lifted: [], unchanged: ['fp1'] });
  });

  it('is idempotent: a repeated or concurrent firing notification raises no second freeze', async () => {
    const body = payload(alert('firing', 'fp1', incident));
    const [a, b] = await Promise.all([w.people.handleAlertmanager(body), w.people.handleAlertmanager(body)]);
    expect([a.created.length, b.created.length, b.unchanged]).toEqual([1, 0, ['fp1']]);
    expect(await w.people.handleAlertmanager(body)).toMatchObject({ created: [], unchanged: ['fp1'] });
    expect(await w.people.freezes()).toHaveLength(1);
  });

  it('ignores alerts without the incident label (or with another value)', async () => {
    const changes = await w.people.handleAlertmanager(payload(
      alert('firing', 'fp2', { alertname: 'DiskFilling', environment: 'prod' }),
      alert('firing', 'fp3', { alertname: 'Noise', freeze: 'false' }),
    ));
    expect(changes).toEqual({ created: [], lifted: [], unchanged: [], ignored: ['fp2', 'fp3'], warnings: [] });
    expect(await w.store.listFreezes({ all: true })).toEqual([]);
  });

  it('freezes everything when the alert names no environment or service, with the alert name as reason', async () => {
    const changes = await w.people.handleAlertmanager(payload(alert('firing', 'fp4', { freeze: 'true', alertname: 'DatacenterDown' })));
    expect(changes.created).toMatchObject([{ environment: null, service: null, reason: 'DatacenterDown' }]);
  });

  it('warns about labels naming environments or services gangway.yaml does not define', async () => {
    const changes = await w.people.handleAlertmanager(payload(alert('firing', 'fp5', { freeze: 'true', alertname: 'X', environment: 'production' })));
    expect(changes.warnings).toEqual(['alert fp5 names environment "production", which gangway.yaml does not define: its freeze blocks nothing']);
    expect(changes.created).toMatchObject([{ environment: 'production' }]);
  });

  it('keeps a freeze lifted by hand lifted while the same firing lasts; a new firing raises a new one', async () => {
    const first = await w.people.handleAlertmanager(payload(alert('firing', 'fp1', incident)));
    w.clock.advance(60_000);
    await w.people.unfreeze(first.created[0].id, 'ana');
    expect(await w.people.handleAlertmanager(payload(alert('firing', 'fp1', incident)))).toMatchObject({ created: [], unchanged: ['fp1'] });
    await w.people.handleAlertmanager(payload(alert('resolved', 'fp1', incident)));
    w.clock.advance(60_000);
    const again = await w.people.handleAlertmanager(payload(alert('firing', 'fp1', incident, { startsAt: '2025-01-01T12:01:30Z' })));
    expect(again.created).toHaveLength(1);
  });

  it('changes nothing when incidents are not configured', async () => {
    const world = await openPeopleWorld(peopleConfig({ incidents: null }));
    try {
      expect(await world.people.handleAlertmanager(payload(alert('firing', 'fp1', incident)))).toMatchObject({ created: [], ignored: ['fp1'] });
    } finally {
      await world.close();
    }
  });

  it('refuses a payload that is not Alertmanager version 4, applying nothing', async () => {
    const bad = payload(alert('firing', 'fp1', incident));
    try {
      await w.people.handleAlertmanager({ ...bad, version: '3', alerts: [{ ...bad.alerts[0], fingerprint: undefined }] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(GangwayError);
      expect((err as GangwayError).code).toBe('invalid_argument');
      expect((err as GangwayError).message).toBe('alertmanager webhook: version: Gangway reads Alertmanager webhook payloads of version 4, got "3"; alerts.0.fingerprint: is required');
    }
    expect(await w.store.listFreezes({ all: true })).toEqual([]);
  });
});
