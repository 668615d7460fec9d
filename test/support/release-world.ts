/**
 * Given-steps for what follows a release of several services beside the engine (release
 * notifications, release records): a release of auth and api (api depends on auth) in prod,
 * driven to its end on a real store by the real group driver, with its members moved as the
 * runner moves them and the rollback created as the orchestrator's command creates it.
 */
import { GroupDriver, type GroupCommands } from '../../src/releases/group-driver.js';
import type { Clock } from '../../src/engine/clock.js';
import type { DeploymentPhase, DeploymentRecord, NewDeployment, Store } from '../../src/store/types.js';

/** How the release ends: every service succeeded, or api rolled back ("health failed") and auth was rolled back to 1.4.0. */
export type ReleaseEnding = 'succeeded' | 'rolled_back';

/**
 * Times of the release, from its request at `at`: started at +1 s; auth runs +1 s … +5 s; api
 * runs +5 s … +9 s; when api rolls back, auth's rollback runs +10 s … +12 s.
 */
export async function runRelease(store: Store, id: string, ending: ReleaseEnding, at: number): Promise<void> {
  let now = at;
  const clock: Clock = { now: () => now, sleep: async () => undefined };
  const member = (service: string): NewDeployment => ({
    id: `${id}-${service}`, service, environment: 'prod', kind: 'deploy', version: '1.5.0', image: null, actor: 'ana', reason: 'CHG-42',
    previousVersion: '1.4.0', planHash: 'plan', createdAt: at, steps: [{ type: 'noop', title: 'nothing', params: {} }],
  });
  await store.createReleaseGroup({
    id, environment: 'prod', kind: 'deploy', onFailure: 'rollback', actor: 'ana', reason: 'CHG-42', createdAt: at,
    members: [
      { service: 'auth', version: '1.5.0', image: null, dependsOn: [], deploymentId: `${id}-auth` },
      { service: 'api', version: '1.5.0', image: null, dependsOn: ['auth'], deploymentId: `${id}-api` },
    ],
  }, [member('auth'), member('api')]);
  const commands: GroupCommands = {
    async abort() { throw new Error('no member is aborted in these releases'); },
    async rollbackMember(m: DeploymentRecord, rollbackId: string, groupId: string, actor: string) {
      return store.createDeployment({ ...member(m.service), id: rollbackId, kind: 'rollback', version: m.previousVersion!, previousVersion: m.version, groupId, actor, createdAt: now });
    },
  };
  const driver = new GroupDriver({ store, commands, clock });
  const run = async (deploymentId: string, service: string, from: number, to: number, phase: DeploymentPhase) => {
    const started = await store.startNextQueued(service, 'prod', from);
    if (started?.id !== deploymentId) throw new Error(`expected ${deploymentId} to start, got ${started?.id ?? 'nothing'}`);
    const message = phase === 'succeeded' ? undefined : 'health failed';
    if (message) {
      await store.transition({ deploymentId, deployment: { phase: 'rolling_back', message }, events: [{ deploymentId, at: to - 1000, type: 'deployment.phase', data: { from: 'running', to: 'rolling_back', message } }] });
    }
    await store.transition({
      deploymentId, deployment: { phase, finishedAt: to, ...(message ? { message } : {}) },
      events: [{ deploymentId, at: to, type: 'deployment.phase', data: { from: message ? 'rolling_back' : 'running', to: phase, ...(message ? { message } : {}) } }],
    });
    now = to;
    await driver.tick();
  };
  now = at + 1000;
  await driver.tick();
  await run(`${id}-auth`, 'auth', at + 1000, at + 5000, 'succeeded');
  await run(`${id}-api`, 'api', at + 5000, at + 9000, ending === 'succeeded' ? 'succeeded' : 'rolled_back');
  if (ending === 'rolled_back') await run(`${id}-auth-rb`, 'auth', at + 10_000, at + 12_000, 'succeeded');
  const g = await store.getReleaseGroup(id);
  if (g?.phase !== ending) throw new Error(`release ${id} ended ${g?.phase ?? 'nowhere'}, not ${ending}`);
}
