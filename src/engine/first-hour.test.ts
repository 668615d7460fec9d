/**
 * What a newcomer meets in the first hour (issue "The first hour with Gangway"): hints that
 * name a command that would work, `plan` telling a blocked deployment from one that would run,
 * rollbacks that need a reason where deployments do but pass no freeze or window, and traffic
 * weights as percentages.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeWorlds, given, until, FINAL, type World } from '../../test/support/engine-world.js';
import { createGates } from '../gates/index.js';
import { GangwayError } from '../errors.js';
import { planOutcome } from '../cli/commands/plan.js';
import { Orchestrator, trafficPercent } from './orchestrator.js';

afterEach(closeWorlds);

const yaml = (prod: string) => `
project: shop
environments:
  dev: {}
  staging:
    promotion: { from: dev }
  prod:
    promotion: { from: staging }
    reason: required
${prod}
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 1, port: 18080 }
    health: { path: /health, interval: 100ms, startTimeout: 1s }
    rollback: { watch: 0s }
    environments:
      staging: { target: { local: { port: 18180 } } }
      prod: { target: { local: { port: 18280 } } }
`;

async function world(prod = '') {
  return given(yaml(prod), { gates: (config, store) => createGates(config, store).gates });
}

async function ship(w: World, env: string, version: string, extra: { reason?: string; expedited?: boolean } = {}) {
  const d = await w.orch.deploy({ service: 'web', environment: env, version, actor: 'ana', reason: extra.reason ?? (env === 'prod' ? 'CHG-1' : undefined), expedited: extra.expedited });
  const end = await until(w, d.id, FINAL);
  expect(end.phase).toBe('succeeded');
}

async function refusal(p: Promise<unknown>): Promise<GangwayError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(GangwayError);
  return err as GangwayError;
}

async function freeze(w: World, environment: string) {
  await w.store.createFreeze({ id: 'f-1', environment, service: null, owner: 'ops', reason: 'incident 42', source: 'manual', alertFingerprint: null, createdAt: Date.now() - 1000, liftedAt: null, liftedBy: null });
}

describe('hints that lead somewhere', () => {
  it('a freeze hint offers --expedited only where the expedited policy skips the freeze', async () => {
    const w = await world();
    await ship(w, 'dev', '1.0.0');
    await freeze(w, 'dev');
    const err = await refusal(w.orch.deploy({ service: 'web', environment: 'dev', version: '1.1.0', actor: 'ana' }));
    expect(err.code).toBe('blocked');
    expect(err.hint).not.toContain('--expedited');
    expect(err.hint).toBe('wait for the freeze to lift, or lift it: gangway unfreeze f-1; dev lets no deployment through a freeze (to allow hotfixes, add freeze to environments.dev.expedited.skip in gangway.yaml)');

    const w2 = await world('    expedited: { skip: [freeze] }');
    await ship(w2, 'dev', '1.0.0');
    await ship(w2, 'staging', '1.0.0');
    await freeze(w2, 'prod');
    const err2 = await refusal(w2.orch.deploy({ service: 'web', environment: 'prod', version: '1.0.0', actor: 'ana', reason: 'CHG-2' }));
    expect(err2.hint).toContain('deploy with --expedited --reason "<incident>" and a second person\'s approval');
  });

  it('a promotion hint names the first environment the release can go to, not one that blocks it too', async () => {
    const w = await world();
    const err = await refusal(w.orch.deploy({ service: 'web', environment: 'prod', version: '1.2.0', actor: 'ana', reason: 'x' }));
    expect(err.code).toBe('blocked');
    expect(err.hint).toBe('deploy it to dev first: gangway deploy web --env dev --version 1.2.0, then to staging');
    await ship(w, 'dev', '1.2.0');
    const again = await refusal(w.orch.deploy({ service: 'web', environment: 'prod', version: '1.2.0', actor: 'ana', reason: 'x' }));
    expect(again.hint).toBe('deploy it to staging first: gangway deploy web --env staging --version 1.2.0');
  });
});

describe('plan outcome (gangway plan exits 3 when blocked)', () => {
  it('blocked by a gate, would run, or already serving', async () => {
    const w = await world();
    expect(planOutcome(await w.orch.plan({ service: 'web', environment: 'prod', version: '1.0.0', actor: 'ana', reason: 'x' })))
      .toEqual({ kind: 'blocked', gates: ['promotion'] });
    expect(planOutcome(await w.orch.plan({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' }))).toEqual({ kind: 'run', gates: [] });
    await ship(w, 'dev', '1.0.0');
    expect(planOutcome(await w.orch.plan({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' }))).toEqual({ kind: 'serving', gates: [] });
    await freeze(w, 'dev');
    expect(planOutcome(await w.orch.plan({ service: 'web', environment: 'dev', version: '1.1.0', actor: 'ana' }))).toEqual({ kind: 'blocked', gates: ['freeze'] });
  });
});

describe('rollback', () => {
  async function shipped(prod = '') {
    const w = await world(prod);
    for (const v of ['1.0.0', '1.1.0']) for (const env of ['dev', 'staging', 'prod']) await ship(w, env, v, { expedited: env === 'prod' && prod !== '' });
    return w;
  }

  it('needs a reason where deployments do (exit 2 with a hint), and records it', async () => {
    const w = await shipped();
    const err = await refusal(w.orch.rollback({ service: 'web', environment: 'prod', actor: 'ana' }));
    expect([err.code, err.message, err.hint]).toEqual(['invalid_argument', 'prod requires a reason for every deployment, rollbacks too',
      'add --reason "<incident or why>": gangway rollback web --env prod --reason "..."']);
    const d = await w.orch.rollback({ service: 'web', environment: 'prod', actor: 'ana', reason: 'INC-7' });
    expect([d.kind, d.version, d.reason]).toEqual(['rollback', '1.0.0', 'INC-7']);
    expect((await until(w, d.id, FINAL)).phase).toBe('succeeded');
  });

  it('is not held back by a freeze', async () => {
    const w = await shipped();
    await freeze(w, 'prod');
    const d = await w.orch.rollback({ service: 'web', environment: 'prod', actor: 'ana', reason: 'INC-7' });
    expect((await until(w, d.id, FINAL)).phase).toBe('succeeded');
  });

  it('is not held back by a closed window', async () => {
    // Deployments reach prod as hotfixes (the policy skips the window); a rollback needs no such flag.
    const w = await shipped(`    windows:
      - deny: { days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "24:00" }
        timezone: UTC
    expedited: { skip: [window] }`);
    const blocked = await refusal(w.orch.deploy({ service: 'web', environment: 'prod', version: '1.0.0', actor: 'ana', reason: 'x' }));
    expect(blocked.code).toBe('blocked');
    const d = await w.orch.rollback({ service: 'web', environment: 'prod', actor: 'ana', reason: 'INC-7' });
    expect((await until(w, d.id, FINAL)).phase).toBe('succeeded');
  });
});

describe('traffic weights as percentages', () => {
  it('turns instance-count weights into whole percentages summing to 100', () => {
    expect(trafficPercent([{ version: '1.0.0', weight: 2 }, { version: '1.1.0', weight: 1 }])).toEqual([{ version: '1.0.0', weight: 67 }, { version: '1.1.0', weight: 33 }]);
    expect(trafficPercent([{ version: 'a', weight: 1 }, { version: 'b', weight: 1 }, { version: 'c', weight: 1 }]).map((v) => v.weight)).toEqual([34, 33, 33]);
    expect(trafficPercent([{ version: 'a', weight: 3 }, { version: 'b', weight: 0 }])).toEqual([{ version: 'a', weight: 100 }, { version: 'b', weight: 0 }]);
    expect(trafficPercent([])).toEqual([]);
  });

  it('status reports a rolling update\'s weights in percent', async () => {
    const w = await world();
    // A target half-way through a rolling update of 3 instances: two old, one new.
    await w.target.setTraffic(w.config.services.web.dev, { versions: [{ version: '1.0.0', weight: 2 }, { version: '1.1.0', weight: 1 }], preview: null });
    const orch = new Orchestrator({ store: w.store, config: w.config, target: w.target });
    const [entry] = await orch.status({ service: 'web', environment: 'dev' });
    expect(entry.traffic).toEqual([{ version: '1.0.0', weight: 67 }, { version: '1.1.0', weight: 33 }]);
  });
});
