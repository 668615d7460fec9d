import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { T0, environment, openPeopleWorld, peopleConfig, type PeopleWorld } from '../../test/support/people-world.js';
import { FreezeGate, freezeScope } from './freeze.js';

async function failure(p: Promise<unknown>): Promise<{ name: string; code: string; message: string; hint?: string }> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof GangwayError)) throw err;
    return { name: err.name, code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  }
  throw new Error('expected a rejection');
}

const SINCE = '2025-01-01T12:00:00Z';

let w: PeopleWorld;
let gate: FreezeGate;

beforeEach(async () => {
  w = await openPeopleWorld(peopleConfig({
    environments: [
      environment('dev'),
      // No approvals gate: anyone in any group may approve the freeze override.
      environment('staging', { expedited: { skip: ['freeze'] } }),
      environment('prod', {
        approvals: { required: 1, groups: ['ops'], allowSelfApproval: true, expiresMs: 600_000 },
        expedited: { skip: ['freeze', 'window'] },
      }),
      // Hotfixes may skip the window here, not a freeze.
      environment('qa', { expedited: { skip: ['window'] } }),
    ],
  }));
  gate = new FreezeGate(w.config, w.store);
});
afterEach(() => w.close());

describe('manual freezes', () => {
  it('validates names and the reason, writing nothing on error', async () => {
    expect(await failure(w.people.freeze({ environment: 'prdo', owner: 'ana', reason: 'x' }))).toEqual({
      name: 'NotFoundError', code: 'not_found', message: 'environment "prdo" is not defined in gangway.yaml', hint: 'did you mean prod?',
    });
    expect(await failure(w.people.freeze({ service: 'payments', owner: 'ana', reason: 'x' }))).toEqual({
      name: 'NotFoundError', code: 'not_found', message: 'service "payments" is not defined in gangway.yaml', hint: 'services: web, api',
    });
    expect(await failure(w.people.freeze({ environment: 'prod', owner: 'ana', reason: '  ' }))).toEqual({
      name: 'GangwayError', code: 'invalid_argument', message: 'reason: a freeze needs a reason', hint: 'say why, e.g. --reason "incident 4711: payments degraded"',
    });
    expect(await w.store.listFreezes({ all: true })).toEqual([]);
  });

  it('blocks what it covers until it is lifted', async () => {
    const f = await w.people.freeze({ environment: 'prod', owner: 'ana', reason: 'db migration' });
    expect(f).toEqual({
      id: f.id, environment: 'prod', service: null, owner: 'ana', reason: 'db migration', source: 'manual',
      alertFingerprint: null, createdAt: T0, liftedAt: null, liftedBy: null,
    });
    expect(f.id).toMatch(/^f-[0-9a-z]+-[0-9a-f]{8}$/);
    const prod = await w.deploy({ environment: 'prod', actor: 'bob' });
    const dev = await w.deploy({ environment: 'dev', actor: 'bob' });
    expect(await gate.evaluate(w.request(prod))).toEqual({
      gate: 'freeze', result: 'wait', until: null, reason: `frozen by ana: db migration (since ${SINCE})`,
      evidence: { freezes: [{ id: f.id, scope: 'prod (every service)', owner: 'ana', reason: 'db migration', source: 'manual', since: T0 }] },
    });
    expect(await gate.evaluate(w.request(dev))).toMatchObject({ result: 'pass', reason: 'no freeze covers web in dev' });

    w.clock.advance(60_000);
    expect(await w.people.unfreeze(f.id, 'bob')).toMatchObject({ liftedAt: T0 + 60_000, liftedBy: 'bob' });
    expect(await gate.evaluate(w.request(prod))).toMatchObject({ result: 'pass' });
    expect(await failure(w.people.unfreeze(f.id, 'ana'))).toEqual({
      name: 'GangwayError', code: 'conflict', message: `freeze ${f.id} was already lifted by bob at 2025-01-01T12:01:00Z`,
    });
    expect(await failure(w.people.unfreeze('f-nope', 'ana'))).toEqual({
      name: 'NotFoundError', code: 'not_found', message: 'freeze f-nope not found', hint: 'list active freezes with `gangway freezes`',
    });
    expect(await w.people.freezes()).toEqual([]);
    expect((await w.people.freezes({ all: true })).map((x) => x.id)).toEqual([f.id]);
    expect((await w.store.listEvents()).filter((e) => e.type.startsWith('freeze.')).map((e) => e.type)).toEqual(['freeze.created', 'freeze.lifted']);
  });

  it('scopes by service and lists every freeze that covers the request', async () => {
    const web = await w.people.freeze({ service: 'web', owner: 'ana', reason: 'load test' });
    w.clock.advance(1000);
    await w.people.freeze({ owner: 'erin', reason: 'quarter close' });
    const api = await w.deploy({ environment: 'dev', service: 'api', actor: 'bob' });
    const webDev = await w.deploy({ environment: 'dev', actor: 'bob' });
    expect(await gate.evaluate(w.request(api))).toMatchObject({ reason: 'frozen by erin: quarter close (since 2025-01-01T12:00:01Z)' });
    expect(await gate.evaluate(w.request(webDev))).toMatchObject({
      reason: `frozen by ana: load test (since ${SINCE}); frozen by erin: quarter close (since 2025-01-01T12:00:01Z)`,
    });
    expect(freezeScope(web)).toBe('web (every environment)');
    expect(freezeScope({ environment: 'prod', service: 'web' })).toBe('prod/web');
    expect(freezeScope({ environment: null, service: null })).toBe('everything');
  });
});

describe('expedited override', () => {
  const frozen = `frozen by ana: incident 7 (since ${SINCE})`;
  beforeEach(async () => { await w.people.freeze({ owner: 'ana', reason: 'incident 7' }); });

  it('passes an expedited deployment with a reason and a second person\'s approval', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'bob', expedited: true, reason: 'hotfix INC-7' });
    expect(await gate.evaluate(w.request(d))).toMatchObject({
      result: 'wait', until: null, reason: `${frozen}; override needs a second person's approval: gangway approve ${d.id}`,
    });
    // bob may approve his own prod deployment for the approvals gate, but is not a second person.
    await w.people.approve(d.id, 'bob');
    expect(await gate.evaluate(w.request(d))).toMatchObject({ result: 'wait' });
    // erin is in sre, not in prod's approval group (ops).
    expect(await failure(w.people.approve(d.id, 'erin'))).toMatchObject({ code: 'forbidden', message: 'erin is not in ops, the group that approves prod deployments' });
    await w.people.approve(d.id, 'dan', 'go');
    expect(await gate.evaluate(w.request(d))).toEqual({
      gate: 'freeze', result: 'pass', reason: `freeze overridden (expedited: hotfix INC-7; approved by dan): ${frozen}`,
      evidence: {
        freezes: [expect.objectContaining({ owner: 'ana', reason: 'incident 7' })],
        override: { reason: 'hotfix INC-7', approvedBy: ['dan'], groups: ['ops'] },
      },
    });
    // The override approval expires with the environment's approvals.
    w.clock.advance(600_001);
    expect(await gate.evaluate(w.request(d))).toMatchObject({ result: 'wait' });
  });

  it('waits without a reason, and for requests that are not expedited or where the policy does not list freeze', async () => {
    const noReason = await w.deploy({ environment: 'prod', actor: 'bob', expedited: true });
    await w.people.approve(noReason.id, 'dan');
    expect(await gate.evaluate(w.request(noReason))).toMatchObject({
      result: 'wait', reason: `${frozen}; override needs a reason, and this expedited deployment has none: wait for the freeze to lift, or deploy again with --reason`,
    });
    const normal = await w.deploy({ environment: 'prod', actor: 'bob', reason: 'feature' });
    await w.people.approve(normal.id, 'dan');
    expect(await gate.evaluate(w.request(normal))).toMatchObject({ result: 'wait', reason: frozen });
    const qa = await w.deploy({ environment: 'qa', actor: 'bob', expedited: true, reason: 'hotfix' });
    expect(await gate.evaluate(w.request(qa))).toMatchObject({ result: 'wait', reason: frozen });
    expect(await gate.evaluate({ ...w.request(noReason), reason: 'hotfix', deploymentId: null })).toMatchObject({
      reason: `${frozen}; override needs a second person's approval: gangway approve <deployment>`,
    });
  });

  it('takes the override approval from any group where the environment has no approvals', async () => {
    const d = await w.deploy({ environment: 'staging', actor: 'bob', expedited: true, reason: 'hotfix' });
    expect(await failure(w.people.approve(d.id, 'carol'))).toEqual({
      name: 'GangwayError', code: 'forbidden', message: 'carol is not in ops, sre or dba, the groups that may approve a freeze override in staging',
    });
    expect(await failure(w.people.approve(d.id, 'bob'))).toMatchObject({ code: 'forbidden', message: 'bob requested this deployment and cannot approve it' });
    expect(await failure(w.people.reject(d.id, 'dora'))).toMatchObject({ code: 'conflict', message: 'staging does not require approvals' });
    await w.people.approve(d.id, 'dora');
    expect(await gate.evaluate(w.request(d))).toMatchObject({ result: 'pass', reason: `freeze overridden (expedited: hotfix; approved by dora): ${frozen}` });
    const normal = await w.deploy({ environment: 'staging', actor: 'bob' });
    expect(await failure(w.people.approve(normal.id, 'dora'))).toMatchObject({ code: 'conflict', message: 'staging does not require approvals' });
  });
});
