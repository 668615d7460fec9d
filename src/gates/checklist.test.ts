import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { T0, environment, openPeopleWorld, peopleConfig, type PeopleWorld } from '../../test/support/people-world.js';
import { ChecklistGate, describeConfirmers } from './checklist.js';

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
let gate: ChecklistGate;

beforeEach(async () => {
  w = await openPeopleWorld(peopleConfig({
    environments: [
      environment('dev'),
      environment('prod', {
        checklist: [
          { name: 'backup', text: 'Database backup taken', confirmers: ['ana', 'dba'] },
          { name: 'oncall', text: 'On-call team notified', confirmers: ['sre'] },
        ],
      }),
    ],
  }));
  gate = new ChecklistGate(w.config, w.store);
});
afterEach(() => w.close());

describe('confirm', () => {
  it('takes a named person or a member of a named group, nobody else', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'bob' });
    expect(await failure(w.people.confirm(d.id, 'backup', 'carol'))).toEqual({
      name: 'GangwayError', code: 'forbidden', message: 'carol cannot confirm backup in prod: only ana or members of dba may',
    });
    // bob requested it and is in ops, which is not a confirmer of backup.
    expect(await failure(w.people.confirm(d.id, 'backup', 'bob'))).toMatchObject({ code: 'forbidden' });
    expect(await w.people.confirm(d.id, 'backup', 'ana', 'snapshot 7')).toEqual([
      { deploymentId: d.id, item: 'backup', actor: 'ana', at: T0, note: 'snapshot 7' },
    ]);
    w.clock.advance(1000);
    expect(await w.people.confirm(d.id, 'backup', 'dora')).toEqual([
      { deploymentId: d.id, item: 'backup', actor: 'dora', at: T0 + 1000, note: null },
    ]);
    expect(await w.people.checklist(d.id)).toHaveLength(1);
  });

  it('refuses unknown items with a suggestion, and environments without a checklist', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'bob' });
    expect(await failure(w.people.confirm(d.id, 'bakup', 'ana'))).toEqual({
      name: 'NotFoundError', code: 'not_found', message: 'checklist item "bakup" is not in prod\'s checklist', hint: 'did you mean backup?',
    });
    expect(await failure(w.people.confirm(d.id, 'smoke', 'ana'))).toMatchObject({ hint: 'items: backup, oncall' });
    const dev = await w.deploy({ environment: 'dev', actor: 'bob' });
    expect(await failure(w.people.confirm(dev.id, 'backup', 'ana'))).toEqual({
      name: 'GangwayError', code: 'conflict', message: 'dev has no checklist', hint: 'checklist items are configured under environments.dev.checklist',
    });
    await w.end(d.id, 'aborted');
    expect(await failure(w.people.confirm(d.id, 'backup', 'ana'))).toMatchObject({ code: 'conflict', message: `deployment ${d.id} already ended (aborted)` });
    expect(await w.store.listChecklist(d.id)).toEqual([]);
  });
});

describe('ChecklistGate', () => {
  it('applies only where a checklist is configured', () => {
    expect([gate.applies(w.config, 'dev'), gate.applies(w.config, 'prod')]).toEqual([false, true]);
  });

  it('waits for the missing items, then passes with who confirmed what', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'bob' });
    expect(await gate.evaluate(w.request(d))).toMatchObject({
      gate: 'checklist', result: 'wait', until: null, reason: `waiting for checklist items: backup, oncall (gangway confirm ${d.id} <item>)`,
    });
    await w.people.confirm(d.id, 'backup', 'dora', 'snap-42');
    expect(await gate.evaluate(w.request(d))).toMatchObject({ result: 'wait', reason: `waiting for checklist item: oncall (gangway confirm ${d.id} <item>)` });
    w.clock.advance(5000);
    await w.people.confirm(d.id, 'oncall', 'erin');
    expect(await gate.evaluate(w.request(d))).toEqual({
      gate: 'checklist', result: 'pass', reason: 'checklist confirmed: backup by dora, oncall by erin',
      evidence: {
        confirmed: [
          { item: 'backup', text: 'Database backup taken', actor: 'dora', at: T0, note: 'snap-42' },
          { item: 'oncall', text: 'On-call team notified', actor: 'erin', at: T0 + 5000, note: null },
        ],
        missing: [],
      },
    });
  });

  it('does not count a confirmation by someone who is no longer a confirmer', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'bob' });
    await w.store.confirmChecklist({ deploymentId: d.id, item: 'oncall', actor: 'bob', at: T0, note: null });
    await w.people.confirm(d.id, 'backup', 'ana');
    expect(await gate.evaluate(w.request(d))).toMatchObject({ result: 'wait', reason: `waiting for checklist item: oncall (gangway confirm ${d.id} <item>)` });
  });

  it('describes confirmers for people', () => {
    expect(describeConfirmers(w.config, { name: 'x', text: '', confirmers: ['sre', 'ops', 'ana', 'zoe'] })).toBe('ana, zoe or members of sre or ops');
  });
});
