/**
 * The release group driver: moves every unfinished release group forward — starts members
 * whose dependencies succeeded, applies the group's failure policy, rolls shipped members
 * back in reverse dependency order and decides how the group ends. Its progress lives in the
 * store (the group row and its member deployments), so an orchestrator killed mid-group and
 * started again resumes it at its next tick. It runs on the replica holding the background
 * lease (once across replicas); its writes are conditional, so a second driver racing it
 * writes nothing twice.
 */
import type { Logger } from '../core/logger.js';
import { periodic, type Periodic } from '../core/periodic.js';
import { GangwayError } from '../errors.js';
import type { DeploymentRecord, NewEvent, ReleaseGroupRecord, Store } from '../store/types.js';
import { systemClock, type Clock } from '../engine/clock.js';
import { blockedMessage, nextActions, type GroupAction } from './group-plan.js';

/** What the driver needs from the orchestrator: requests that go through its usual checks. */
export interface GroupCommands {
  /** Asks an active deployment to stop (it rolls itself back); a queued one ends `aborted`. */
  abort(deploymentId: string, actor: string): Promise<unknown>;
  /** Creates the rollback of a group member to the release it replaced, with the given id, in the group. */
  rollbackMember(member: DeploymentRecord, rollbackId: string, groupId: string, actor: string): Promise<unknown>;
}

export interface GroupDriverOptions {
  store: Store;
  commands: GroupCommands;
  /** Called after the driver changed what the runner should do. */
  wake?: () => void;
  clock?: Clock;
  log?: Logger;
  /** How often unfinished groups are looked at. Default 250 ms. */
  tickMs?: number;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

/**
 * @example
 * ```ts
 * const driver = new GroupDriver({ store, commands: orchestrator, wake: () => runner.wake() });
 * driver.start();          // under the background lease
 * await driver.stop();
 * ```
 */
export class GroupDriver {
  private readonly store: Store;
  private readonly commands: GroupCommands;
  private readonly wake: () => void;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly tickMs: number;
  private readonly loop: Periodic;

  constructor(opts: GroupDriverOptions) {
    this.store = opts.store;
    this.commands = opts.commands;
    this.wake = opts.wake ?? (() => undefined);
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silent;
    this.tickMs = opts.tickMs ?? 250;
    this.loop = periodic(() => this.tick(), this.tickMs, (err) => this.log.error({ err }, 'release group tick failed'));
  }

  /** Starts looking at the unfinished groups, now and every `tickMs` (idempotent). */
  start(): void {
    this.loop.start();
  }

  /** Stops looking; waits for the pass in hand. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One pass over every unfinished group. */
  async tick(): Promise<void> {
    const groups = await this.store.listReleaseGroups({ phases: ['queued', 'running', 'rolling_back'] });
    for (const g of groups.reverse()) {
      await this.reconcileGroup(g);
    }
  }

  /** Applies the group's next actions, looking again after each round (one action may enable the next), a few rounds at most. */
  async reconcileGroup(g: ReleaseGroupRecord): Promise<void> {
    for (let round = 0; round < 5; round++) {
      const members = await this.store.listDeployments({ groupId: g.id });
      const actions = nextActions(g, members);
      if (actions.length === 0) return;
      for (const a of actions) await this.apply(g, a);
      const again = await this.store.getReleaseGroup(g.id);
      if (!again) return;
      g = again;
    }
  }

  private async apply(g: ReleaseGroupRecord, a: GroupAction): Promise<void> {
    const at = this.clock.now();
    const actor = `release ${g.id}`;
    switch (a.type) {
      case 'phase': {
        const ends = a.to === 'succeeded' || a.to === 'failed' || a.to === 'rolled_back';
        const event: NewEvent = {
          deploymentId: null, at, type: a.event,
          data: { group: g.id, environment: g.environment, from: a.from, to: a.to, ...(a.message ? { message: a.message } : {}), actor: g.actor },
        };
        const ok = await this.store.updateReleaseGroup(g.id, a.from, {
          phase: a.to, ...(a.message !== null ? { message: a.message } : {}), ...(a.to === 'running' ? { startedAt: at } : {}), ...(ends ? { finishedAt: at } : {}),
        }, [event]);
        if (ok) this.log.info({ group: g.id, phase: a.to, message: a.message }, 'release group phase');
        return;
      }
      case 'release': {
        const ok = await this.store.releaseGroupMember(a.deploymentId, [{
          deploymentId: a.deploymentId, at, type: 'group.member_started', data: { group: g.id, service: a.service, environment: g.environment },
        }]);
        if (ok) this.wake();
        return;
      }
      case 'block': {
        // Still queued and held: nothing else starts it, so ending it here races only a person's abort.
        const d = await this.store.getDeployment(a.deploymentId);
        if (!d || d.phase !== 'queued' || !d.groupHeld) return;
        const message = blockedMessage(a.because, g.id);
        await this.store.transition({
          deploymentId: a.deploymentId,
          deployment: { phase: 'aborted', abortRequested: true, finishedAt: at, message },
          events: [{ deploymentId: a.deploymentId, at, type: 'deployment.phase', data: { from: 'queued', to: 'aborted', message, actor, group: g.id } }],
        });
        return;
      }
      case 'abort':
        await this.tolerate(() => this.commands.abort(a.deploymentId, actor), a);
        this.wake();
        return;
      case 'roll-back':
        try {
          await this.tolerate(() => this.commands.rollbackMember(a.member, a.rollbackId, g.id, actor), a);
        } catch (err) {
          // Refused for good (the service left the config, say): retrying every tick would leave the
          // release rolling back forever. It ends failed, naming why; a store error is retried.
          if (!(err instanceof GangwayError) || err.code === 'internal' || err.code === 'unreachable') throw err;
          const message = `${g.message ? `${g.message}; ` : ''}the rollback of ${a.service} could not start: ${err.message}`;
          await this.apply(g, { type: 'phase', from: 'rolling_back', to: 'failed', event: 'group.failed', message });
          return;
        }
        this.wake();
        return;
    }
  }

  /** A conflict (it ended meanwhile, the rollback exists already) is the state moving on; the next pass sees it. */
  private async tolerate(fn: () => Promise<unknown>, a: GroupAction): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof GangwayError && err.code === 'conflict') {
        this.log.info({ action: a.type, err: err.message }, 'release group action already done or no longer needed');
        return;
      }
      throw err;
    }
  }
}
