/**
 * The background lease on a real store: one leader at a time, the fence moving at each change
 * of holder, a stale fence refused, and a leader that loses the store stopping its work.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { hostname } from 'node:os';
import { Leadership, type BackgroundUnit } from './leader.js';
import { newOwnerId } from './lease.js';
import type { Clock } from './clock.js';

class Unit implements BackgroundUnit {
  log: string[] = [];
  constructor(readonly name: string) {}
  start(): void { this.log.push('start'); }
  async stop(): Promise<void> { this.log.push('stop'); }
}

function fakeClock(start: number): Clock & { t: number } {
  const c = {
    t: start,
    now: () => c.t,
    sleep: (_ms: number, signal?: AbortSignal) => new Promise<void>((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true })),
  };
  return c as Clock & { t: number };
}

describe('Leadership', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gangway-leader-'));
    store = await openStore({ kind: 'sqlite', path: join(dir, 'state.db') });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('elects one holder at a time; the next takes over when it gives up or its lease expires, with a new fence', async () => {
    const clock = fakeClock(1_000_000);
    const ua = new Unit('a');
    const ub = new Unit('b');
    const a = new Leadership({ store, owner: 'host:1:a', units: [ua], ttlMs: 15_000, clock });
    const b = new Leadership({ store, owner: 'host:2:b', units: [ub], ttlMs: 15_000, clock });
    await a.tick();
    await b.tick();
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    expect(a.guard()).toEqual({ lease: 'background', owner: 'host:1:a', fence: 1 });
    expect(b.guard()).toBeNull();
    expect([ua.log, ub.log]).toEqual([['start'], []]);

    // a renews: same fence, work not restarted.
    clock.t += 5_000;
    await a.tick();
    expect(a.guard()?.fence).toBe(1);
    expect(ua.log).toEqual(['start']);

    // a goes silent (paused, cut off) past its lease: b takes over with fence 2.
    clock.t += 15_001;
    expect(a.isLeader()).toBe(false); // past 2/3 of the lease without a renewal, it no longer counts itself leader
    await b.tick();
    expect(b.guard()).toEqual({ lease: 'background', owner: 'host:2:b', fence: 2 });
    expect(ub.log).toEqual(['start']);
    // The woken a cannot move a cursor under its old fence, and learns it lost the lease.
    expect(await store.setCursor('notifications:ops', 7, { lease: 'background', owner: 'host:1:a', fence: 1 })).toBe(false);
    expect(await store.getCursor('notifications:ops')).toBeUndefined();
    await a.tick();
    expect(a.isLeader()).toBe(false);
    expect(ua.log).toEqual(['start', 'stop']);
    expect(await store.setCursor('notifications:ops', 7, b.guard()!)).toBe(true);

    // b stops: gives the lease up, so a takes it at once (fence 3) without waiting for expiry.
    await b.stop();
    expect(ub.log).toEqual(['start', 'stop']);
    await a.tick();
    expect(a.guard()?.fence).toBe(3);
    expect(ua.log).toEqual(['start', 'stop', 'start']);
    await a.stop();
  });

  it('stops its work at once when the store fails, and takes the lease again when the store answers', async () => {
    const clock = fakeClock(5_000_000);
    const unit = new Unit('u');
    let down = false;
    const flaky = {
      acquireNamedLease: (...args: Parameters<Store['acquireNamedLease']>) => (down ? Promise.reject(new Error('connect ECONNREFUSED')) : store.acquireNamedLease(...args)),
      releaseNamedLease: (...args: Parameters<Store['releaseNamedLease']>) => store.releaseNamedLease(...args),
      getNamedLease: (...args: Parameters<Store['getNamedLease']>) => store.getNamedLease(...args),
    };
    const l = new Leadership({ store: flaky, owner: 'host:3:c', units: [unit], ttlMs: 15_000, clock });
    await l.tick();
    expect(l.isLeader()).toBe(true);
    down = true;
    clock.t += 5_000;
    await l.tick();
    expect(l.isLeader()).toBe(false);
    expect(unit.log).toEqual(['start', 'stop']);
    down = false;
    clock.t += 5_000;
    await l.tick();
    // Still its own unexpired lease: same holder, same fence; the work starts again.
    expect(l.guard()).toEqual({ lease: 'background', owner: 'host:3:c', fence: 1 });
    expect(unit.log).toEqual(['start', 'stop', 'start']);
    await l.stop();
  });

  it('takes the lease at once from a holder on this machine whose process is gone', async () => {
    const clock = fakeClock(9_000_000);
    // A pid that cannot exist: the holder's process is gone.
    const dead = `${hostname()}:999999999:dead`;
    expect(await store.acquireNamedLease('background', dead, clock.now(), 15_000)).toBe(1);
    const unit = new Unit('u');
    const l = new Leadership({ store, owner: newOwnerId(), units: [unit], ttlMs: 15_000, clock });
    await l.tick();
    expect(l.guard()?.fence).toBe(2);
    expect(unit.log).toEqual(['start']);
    // A live holder elsewhere is waited for.
    const other = new Leadership({ store, owner: 'elsewhere:1:x', units: [], ttlMs: 15_000, clock });
    await other.tick();
    expect(other.isLeader()).toBe(false);
    await l.stop();
  });
});
