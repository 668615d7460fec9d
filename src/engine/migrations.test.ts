import { afterEach, describe, expect, it } from 'vitest';
import { closeWorlds, given, ship, FINAL, until } from '../../test/support/engine-world.js';

afterEach(closeWorlds);

const node = process.execPath;
const YAML = (migrations: string) => `
project: shop
environments:
  dev: {}
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 1, port: 18080 }
    health: { path: /health, interval: 100ms, startTimeout: 500ms }
    rollback: { watch: 0s }
    migrations:
      cwd: /tmp
${migrations}
`;
const ok = (text: string) => `["${node}", "-e", "console.log('${text}')"]`;
const fail = (text: string) => `["${node}", "-e", "console.error('${text}'); process.exit(3)"]`;

describe('migrations in a deployment', () => {
  it('runs backup, migration and validation before the release, and undoes the migration after traffic is back on stable', async () => {
    const w = await given(YAML(`      backup: { run: ${ok('backed up')} }
      migrate: ${ok('migrated')}
      validate: { run: ${ok('valid')} }
      rollback: { down: ${ok('migrated down')} }`));
    await ship(w, '1.0.0');
    w.target.behaviours.set('2.0.0', { neverReady: true });
    const d = await ship(w, '2.0.0');
    expect(d.phase).toBe('rolled_back');
    expect(d.steps.map((s) => [s.stage, s.title, s.status])).toEqual([
      ['deploy', 'gates: rejected', 'succeeded'],
      ['deploy', 'back up the database', 'succeeded'],
      ['deploy', 'migrate the database', 'succeeded'],
      ['deploy', 'validate the migration', 'succeeded'],
      ['deploy', 'scale 2.0.0 to 1 instance', 'succeeded'],
      ['deploy', 'wait for 1 healthy instance of 2.0.0', 'failed'],
      ['deploy', 'all traffic to 2.0.0', 'pending'],
      ['deploy', 'stop 1.0.0', 'pending'],
      ['rollback', 'scale 1.0.0 to 1 instance', 'succeeded'],
      ['rollback', 'wait for 1 healthy instance of 1.0.0', 'succeeded'],
      ['rollback', 'all traffic to 1.0.0', 'succeeded'],
      ['rollback', 'roll back the migration', 'succeeded'],
      ['rollback', 'stop 2.0.0', 'succeeded'],
    ]);
  });

  it('never runs the migration when the backup fails, and has nothing to undo', async () => {
    const w = await given(YAML(`      backup: { run: ${fail('disk full')} }
      migrate: ${ok('migrated')}
      rollback: { down: ${ok('migrated down')} }`));
    const d = await ship(w, '1.0.0');
    expect(d.phase).toBe('failed');
    expect(d.message).toMatch(/^database backup failed \(exit code 3: disk full\); the migration was not run$/);
    expect(d.steps.filter((s) => s.status !== 'pending').map((s) => s.title)).toEqual(['gates: rejected', 'back up the database', 'no traffic', 'stop 1.0.0']);
  });

  it('stops for a person instead of running the old release on the new schema when the migration is irreversible', async () => {
    const w = await given(YAML(`      migrate: ${ok('migrated')}
      rollback: irreversible`));
    await ship(w, '1.0.0');
    w.target.behaviours.set('2.0.0', { neverReady: true });
    w.target.calls.length = 0;
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '2.0.0', actor: 'ana' });
    const end = await until(w, d.id, FINAL);
    expect(end.phase).toBe('failed');
    expect(end.message).toBe('1 of 1 instances of 2.0.0 did not become healthy within 0.5s (web-dev-2.0.0-2: expected status 200, got 500); '
      + 'rollback failed at "roll back the migration": the migration of 2.0.0 is irreversible: rolling back would run 1.0.0 on the new schema; a person must decide');
    // Traffic never moved and nothing was started for the rollback. Retirement may stop 2.0.0,
    // which never served, at any moment after the deployment ended (a retired release is recorded):
    // stop the runner so that no retirement is half-done while we look.
    await w.runner.stop();
    const retired = (await w.store.listEvents()).filter((e) => e.type === 'release.retired').map((e) => e.data.version);
    expect(w.target.calls).toEqual(['scale dev 2.0.0 1', ...retired.map((v) => `scale dev ${String(v)} 0`)]);
    expect(retired.every((v) => v === '2.0.0')).toBe(true);
  });
});
