/**
 * The gate commands — approve, reject, confirm, freeze, unfreeze, freezes — against a real API
 * server with PeopleGates over a real SQLite store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../server/app.js';
import { main } from '../main.js';
import { FakeOrchestrator } from '../../../test/support/fake-orchestrator.js';
import { environment, openPeopleWorld, peopleConfig, type PeopleWorld } from '../../../test/support/people-world.js';

const TOKEN = 'cli-gates-token';

let w: PeopleWorld;
let app: FastifyInstance;
let api: string;

interface Run { code: number; stdout: string; stderr: string }

async function run(actor: string, ...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'gangway', ...args, '--api', api], {
    stdout: { write: (s: string) => { stdout += s; } },
    stderr: { write: (s: string) => { stderr += s; } },
    env: { GANGWAY_ACTOR: actor, GANGWAY_TOKEN: TOKEN }, cwd: '/', pollMs: 5, refreshMs: 20,
  });
  return { code, stdout, stderr };
}

beforeEach(async () => {
  w = await openPeopleWorld(peopleConfig({
    environments: [
      environment('dev'),
      environment('prod', {
        approvals: { required: 2, groups: ['ops', 'sre'], allowSelfApproval: false, expiresMs: null },
        checklist: [{ name: 'backup', text: 'Backup taken', confirmers: ['dba'] }],
      }),
    ],
  }));
  app = buildServer({ orchestrator: new FakeOrchestrator({ services: { web: ['dev', 'prod'] } }), token: TOKEN, version: '0.0.0-test', gates: w.people });
  await app.listen({ host: '127.0.0.1', port: 0 });
  api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await app.close();
  await w.close();
});

describe('approve and reject', () => {
  it('approve prints the decisions; -o json prints them as JSON', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    expect(await run('bob', 'approve', d.id, '--comment', 'lgtm')).toEqual({
      code: 0, stderr: '',
      stdout: `approved ${d.id} as bob (ops)\nACTOR  DECISION  GROUPS  AT                    COMMENT\nbob    approve   ops     2025-01-01T12:00:00Z  lgtm\n`,
    });
    const r = await run('erin', 'approve', d.id, '-o', 'json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Array<{ actor: string }>).map((a) => a.actor)).toEqual(['bob', 'erin']);
  });

  it('exits 2 with the reason when the actor may not approve', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    expect(await run('carol', 'approve', d.id)).toEqual({
      code: 2, stdout: '', stderr: 'error: carol is not in ops or sre, the groups that approve prod deployments\n',
    });
    expect(await run('ana', 'approve', d.id)).toEqual({
      code: 2, stdout: '', stderr: 'error: ana requested this deployment and cannot approve it\nhint: ask someone else in the group to approve it\n',
    });
    const json = await run('carol', 'reject', d.id, '-o', 'json');
    expect([json.code, JSON.parse(json.stdout)]).toEqual([2, { error: { code: 'forbidden', message: 'carol is not in ops or sre, the groups that approve prod deployments' } }]);
  });

  it('reject records the comment', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    const r = await run('dan', 'reject', d.id, '-m', 'not during the sale');
    expect(r).toEqual({
      code: 0, stderr: '',
      stdout: `rejected ${d.id} as dan (ops)\nACTOR  DECISION  GROUPS  AT                    COMMENT\ndan    reject    ops     2025-01-01T12:00:00Z  not during the sale\n`,
    });
  });
});

describe('confirm', () => {
  it('confirms an item as a member of a confirmer group, refuses others', async () => {
    const d = await w.deploy({ environment: 'prod', actor: 'ana' });
    expect(await run('dora', 'confirm', d.id, 'backup', '--note', 'snap-9')).toEqual({
      code: 0, stderr: '',
      stdout: `confirmed backup for ${d.id} as dora\nITEM    ACTOR  AT                    NOTE\nbackup  dora   2025-01-01T12:00:00Z  snap-9\n`,
    });
    expect(await run('bob', 'confirm', d.id, 'bakup')).toEqual({
      code: 2, stdout: '', stderr: 'error: checklist item "bakup" is not in prod\'s checklist\nhint: did you mean backup?\n',
    });
  });
});

describe('freeze, freezes, unfreeze', () => {
  it('raises, lists and lifts a freeze', async () => {
    const frozen = await run('ana', 'freeze', '--env', 'prod', '--reason', 'db migration', '-o', 'json');
    expect(frozen.code).toBe(0);
    const f = JSON.parse(frozen.stdout) as { id: string; owner: string; environment: string };
    expect([f.owner, f.environment]).toEqual(['ana', 'prod']);

    w.clock.advance(1000);
    const text = await run('erin', 'freeze', '-s', 'web', '-r', 'load test');
    const second = (await w.people.freezes()).find((x) => x.owner === 'erin')!;
    expect(text).toEqual({ code: 0, stderr: '', stdout: `froze web (every environment): load test\nfreeze ${second.id}; lift it with: gangway unfreeze ${second.id}\n` });

    const list = await run('bob', 'freezes');
    expect(list.stdout).toBe(
      `ID${' '.repeat(f.id.length)}SCOPE                    OWNER  SOURCE  SINCE                 REASON\n`
      + `${f.id}  prod (every service)     ana    manual  2025-01-01T12:00:00Z  db migration\n`
      + `${second.id}  web (every environment)  erin   manual  2025-01-01T12:00:01Z  load test\n`,
    );
    expect(await run('bob', 'unfreeze', f.id)).toEqual({ code: 0, stderr: '', stdout: `lifted freeze ${f.id} on prod (every service) (db migration)\n` });
    expect(await run('bob', 'unfreeze', f.id)).toEqual({
      code: 2, stdout: '', stderr: `error: freeze ${f.id} was already lifted by bob at 2025-01-01T12:00:01Z\n`,
    });
    const all = await run('bob', 'freezes', '--all', '-o', 'json');
    expect((JSON.parse(all.stdout) as Array<{ liftedBy: string | null }>).map((x) => x.liftedBy)).toEqual(['bob', null]);
    await run('bob', 'unfreeze', second.id);
    expect(await run('bob', 'freezes')).toEqual({ code: 0, stderr: '', stdout: 'no active freezes\n' });
  });

  it('needs a reason, and a known environment', async () => {
    const noReason = await run('ana', 'freeze', '--env', 'prod');
    expect([noReason.code, noReason.stderr.split('\n')[0]]).toEqual([2, "error: required option '-r, --reason <text>' not specified"]);
    expect(await run('ana', 'freeze', '--env', 'prdo', '--reason', 'x')).toEqual({
      code: 2, stdout: '', stderr: 'error: environment "prdo" is not defined in gangway.yaml\nhint: did you mean prod?\n',
    });
    expect(await w.people.freezes({ all: true })).toEqual([]);
  });
});
