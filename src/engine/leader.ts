/**
 * The background lease: of several orchestrators on one store, one at a time — the leader —
 * runs the work that must happen once across them (notification delivery, deployment
 * records, retirement of unrouted releases, polling for new releases …). Deployments need no
 * leader: each is driven by whoever holds its own lease.
 *
 * The lease is a row in the store (`leases`, name `background`) renewed every third of its
 * time to live. Its fence grows at each change of holder, and work that writes progress
 * (cursors) does so only while the lease is held at its fence, so a leader that was paused or
 * cut off and wakes up after another took over cannot move anything forward. A leader that
 * cannot renew — the store refused, failed, or did not answer in time — stops its work at
 * once, before its lease runs out, and another replica takes over when it has expired.
 */
import type { Logger } from '../core/logger.js';
import type { LeaseGuard, Store } from '../store/types.js';
import { systemClock, type Clock } from './clock.js';
import { isDeadLocalOwner } from './lease.js';

/** A piece of background work the leader runs. `stop` waits for the item in hand. */
export interface BackgroundUnit {
  name: string;
  start(): Promise<void> | void;
  stop(): Promise<void>;
}

export interface LeadershipOptions {
  store: Pick<Store, 'acquireNamedLease' | 'releaseNamedLease' | 'getNamedLease'>;
  /** This orchestrator's lease owner id. */
  owner: string;
  units: BackgroundUnit[];
  /** Time to live of the lease; default 15 s. */
  ttlMs?: number;
  clock?: Clock;
  log?: Logger;
  /** Lease name; default `background`. */
  lease?: string;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

/**
 * @example
 * ```ts
 * const leadership = new Leadership({ store, owner: runner.owner, units: [dispatcher, records] });
 * leadership.start();
 * // … on shutdown: stops the units and gives the lease up
 * await leadership.stop();
 * ```
 */
export class Leadership {
  readonly lease: string;
  private readonly ttlMs: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private fence: number | null = null;
  /** When the lease was last renewed: past `ttlMs * 2/3` without a renewal the leader steps down on its own. */
  private renewedAt = 0;
  private loop: { abort: AbortController; done: Promise<void> } | null = null;
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LeadershipOptions) {
    this.lease = opts.lease ?? 'background';
    this.ttlMs = opts.ttlMs ?? 15_000;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silent;
  }

  /** True while this orchestrator holds the lease (and has renewed it in time). */
  isLeader(): boolean {
    return this.fence !== null && this.clock.now() - this.renewedAt < this.ttlMs * 2 / 3;
  }

  /** The lease and fence that progress must be written under, or null when not the leader. */
  guard(): LeaseGuard | null {
    return this.isLeader() ? { lease: this.lease, owner: this.opts.owner, fence: this.fence! } : null;
  }

  /** Tries for the lease at once, then every third of its time to live. Idempotent. */
  start(): void {
    if (this.loop) return;
    const abort = new AbortController();
    const done = (async () => {
      while (!abort.signal.aborted) {
        await this.tick();
        try {
          await this.clock.sleep(Math.max(50, Math.floor(this.ttlMs / 3)), abort.signal);
        } catch {
          return;
        }
      }
    })();
    this.loop = { abort, done };
  }

  /** Stops the units and gives the lease up, so another replica takes over at once. */
  async stop(): Promise<void> {
    const loop = this.loop;
    this.loop = null;
    if (loop) {
      loop.abort.abort();
      await loop.done;
    }
    const wasLeader = this.fence !== null;
    await this.stepDown('stopping');
    if (wasLeader) await this.opts.store.releaseNamedLease(this.lease, this.opts.owner).catch(() => undefined);
  }

  /** One attempt to take or renew the lease (exposed for tests). */
  async tick(): Promise<void> {
    let fence: number | null;
    try {
      fence = await withTimeout(this.acquire(), this.ttlMs / 3);
    } catch (err) {
      if (this.fence !== null) this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'background lease: the store did not answer; stopping background work');
      await this.stepDown('store unreachable');
      return;
    }
    if (fence === null) {
      await this.stepDown('lease held by another orchestrator');
      return;
    }
    const elected = this.fence !== fence;
    if (elected && this.fence !== null) await this.stepDown('fence moved');
    this.fence = fence;
    this.renewedAt = this.clock.now();
    if (elected) await this.elect(fence);
  }

  /**
   * Takes or renews the lease; a holder that ran on this machine in a process that is gone
   * (an orchestrator killed and started again) is taken over at once rather than at expiry.
   */
  private async acquire(): Promise<number | null> {
    const { store, owner } = this.opts;
    const fence = await store.acquireNamedLease(this.lease, owner, this.clock.now(), this.ttlMs);
    if (fence !== null) return fence;
    const holder = (await store.getNamedLease(this.lease))?.owner;
    if (!holder || !isDeadLocalOwner(holder, owner)) return null;
    return store.acquireNamedLease(this.lease, owner, this.clock.now(), this.ttlMs, [holder]);
  }

  private elect(fence: number): Promise<void> {
    this.transition = this.transition.then(async () => {
      this.log.info({ lease: this.lease, fence }, 'background lease taken: running background work');
      for (const unit of this.opts.units) {
        try {
          await unit.start();
        } catch (err) {
          this.log.error({ unit: unit.name, err: err instanceof Error ? err.message : String(err) }, 'background work could not start');
        }
      }
    });
    return this.transition;
  }

  private stepDown(why: string): Promise<void> {
    if (this.fence === null) return this.transition;
    this.fence = null;
    this.transition = this.transition.then(async () => {
      this.log.info({ lease: this.lease, why }, 'background lease given up: background work stopped');
      for (const unit of [...this.opts.units].reverse()) {
        try {
          await unit.stop();
        } catch (err) {
          this.log.error({ unit: unit.name, err: err instanceof Error ? err.message : String(err) }, 'background work did not stop cleanly');
        }
      }
    });
    return this.transition;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); }),
  ]);
}
