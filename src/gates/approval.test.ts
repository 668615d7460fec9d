import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { T0, environment, openPeopleWorld, peopleConfig, type PeopleWorld } from '../../test/support/people-world.js';
import { ApprovalGate } from './approval.js';

const HOUR = 3_600_000;

/** The fault a promise rejects with, as plain data. */
async function failure(p: Promise<unknown>): Promise<{ name: string; code: string; message: string; hint?: string }> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof GangwayError)) throw err;
    return { name: err.name, code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  }
  throw new Error('expected a rejection');
}

let w: PeopleWorld;
let gate: ApprovalGate;

beforeEach(async () => {
  w = await openPeopleWorld(peopleConfig({
    environments: [
      environment('dev'),
      environment('staging', { approvals: { required: 1, groups: ['ops'], allowSelfApproval: true, expiresMs: null } }),
      environment('prod', { approvals: { required: 2, groups: ['ops', 'sre'], allowSelfApproval: false, expiresMs: HOUR } }),
    ],
  }));
  gate = new ApprovalGate(w.config, w.store);
});
afterEach(() => w.close());

describe('who may approve', () => {
  it('refuses someone outside the approval groups and records nothing', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    expect(await failure(w.people.approve(d.id, 'carol'))).toEqual({
      name: 'GangwayError', code: 'forbidden', message: 'carol is not in ops or sre, the groups that approve prod deployments',
    });
    expect(await failure(w.people.reject(d.id, 'carol', 'no'))).toMatchObject({ code: 'forbidden', message: 'carol is not in ops or sre, the groups that approve prod deployments' });
    expect(await w.store.listApprovals(d.id)).toEqual([]);
    expect((await w.store.listEvents({ deploymentId: d.id })).map((e) => e.type)).toEqual(['deployment.created']);
  });

  it('refuses self-approval where allowSelfApproval is false', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    expect(await failure(w.people.approve(d.id, 'ana'))).toEqual({
      name: 'GangwayError', code: 'forbidden', message: 'ana requested this deployment and cannot approve it', hint: 'ask someone else in the group to approve it',
    });
    expect(await w.store.listApprovals(d.id)).toEqual([]);
  });

  it('counts self-approval where allowSelfApproval is true', async () => {
    const d = await w.deploy({ environment: 'staging', actor: 'bob' });
    expect(await w.people.approve(d.id, 'bob', 'my own hotfix')).toEqual([
      { deploymentId: d.id, actor: 'bob', decision: 'approve', groups: ['ops'], comment: 'my own hotfix', at: T0 },
    ]);
    expect(await gate.evaluate(w.request(d))).toMatchObject({ result: 'pass', reason: 'approved by bob (1 of 1 approval, ops)' });
  });

  it('refuses unknown, ended and approval-free deployments', async () => {
    expect(await failure(w.people.approve('d-404', 'bob'))).toEqual({
      name: 'NotFoundError', code: 'not_found', message: 'deployment d-404 not found', hint: 'list deployments with `gangway history`',
    });
    const done = await w.deploy({ environment: 'prod', actor: 'ana' });
    await w.end(done.id, 'succeeded');
    expect(await failure(w.people.approve(done.id, 'bob'))).toEqual({ name: 'GangwayError', code: 'conflict', message: `deployment ${done.id} already ended (succeeded)` });
    const dev = await w.deploy({ environment: 'dev', actor: 'ana' });
    expect(await failure(w.people.approve(dev.id, 'bob'))).toEqual({
      name: 'GangwayError', code: 'conflict', message: 'dev does not require approvals', hint: 'approvals are configured under environments.dev.approvals',
    });
  });

  it('records the decision with an event for the audit trail', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    await w.people.approve(d.id, 'erin', 'checked the diff');
    const events = await w.store.listEvents({ deploymentId: d.id });
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['deployment.created', events[0].data],
      ['deployment.approved', { actor: 'erin', groups: ['sre'], comment: 'checked the diff' }],
    ]);
  });
});

describe('ApprovalGate', () => {
  it('applies only where approvals are configured', () => {
    expect(['dev', 'staging', 'prod'].map((e) => gate.applies(w.config, e))).toEqual([false, true, true]);
  });

  it('waits for N of M approvals from distinct people', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    expect(await gate.evaluate({ ...w.request(d), deploymentId: null })).toMatchObject({
      gate: 'approvals', result: 'wait', until: null, reason: '0 of 2 approvals (ops, sre): waiting for 2 approvals',
    });
    await w.people.approve(d.id, 'bob');
    w.clock.advance(1000);
    await w.people.approve(d.id, 'bob', 'still yes');
    const one = await gate.evaluate(w.request(d));
    expect(one).toEqual({
      gate: 'approvals', result: 'wait', until: null, reason: '1 of 2 approvals (ops, sre): waiting for another approval',
      evidence: {
        required: 2, groups: ['ops', 'sre'], rejections: [], expired: [], ignored: [],
        approvers: [{ actor: 'bob', groups: ['ops'], at: T0 + 1000, comment: 'still yes' }],
      },
    });
    await w.people.approve(d.id, 'erin');
    expect(await gate.evaluate(w.request(d))).toMatchObject({ result: 'pass', reason: 'approved by bob and erin (2 of 2 approvals, ops, sre)' });
  });

  it('does not count approvals older than expiresMs', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    await w.people.approve(d.id, 'bob');
    w.clock.advance(HOUR);
    await w.people.approve(d.id, 'erin');
    expect(await gate.evaluate(w.request(d))).toMatchObject({ result: 'pass' });
    w.clock.advance(1);
    const r = await gate.evaluate(w.request(d));
    expect(r).toMatchObject({ result: 'wait', reason: '1 of 2 approvals (ops, sre): waiting for another approval' });
    expect(r.evidence.expired).toEqual([{ actor: 'bob', groups: ['ops'], at: T0, comment: null }]);
  });

  it('fails on a rejection by a group member; a later approval by the same person replaces it', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    await w.people.approve(d.id, 'erin');
    w.clock.advance(1000);
    expect(await w.people.reject(d.id, 'dan', 'not during the sale')).toEqual([
      { deploymentId: d.id, actor: 'erin', decision: 'approve', groups: ['sre'], comment: null, at: T0 },
      { deploymentId: d.id, actor: 'dan', decision: 'reject', groups: ['ops'], comment: 'not during the sale', at: T0 + 1000 },
    ]);
    expect(await gate.evaluate(w.request(d))).toMatchObject({
      gate: 'approvals', result: 'fail', reason: 'rejected by dan: not during the sale', hint: 'address the concern, then request a new deployment',
    });
    w.clock.advance(1000);
    await w.people.approve(d.id, 'dan');
    expect(await gate.evaluate(w.request(d))).toMatchObject({ result: 'pass', reason: 'approved by erin and dan (2 of 2 approvals, ops, sre)' });
  });

  it('ignores the requester and people no longer in a group', async () => {
    const config = peopleConfig({
      environments: [environment('prod', { approvals: { required: 1, groups: ['ops'], allowSelfApproval: false, expiresMs: null } })],
      groups: { ops: ['bob'] },
    });
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    // Recorded while dan was in ops (an earlier config); the gate reads today's members.
    await w.store.recordApproval({ deploymentId: d.id, actor: 'dan', decision: 'approve', groups: ['ops'], comment: null, at: T0 });
    const r = await new ApprovalGate(config, w.store).evaluate(w.request(d));
    expect(r).toMatchObject({ result: 'wait', reason: '0 of 1 approval (ops): waiting for an approval' });
    expect(r.evidence.ignored).toEqual([{ actor: 'dan', decision: 'approve', why: 'not in ops' }]);
  });
});
