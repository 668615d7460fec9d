/**
 * The contract every target adapter passes, as the store suite runs against SQLite and
 * PostgreSQL: one suite, called from each adapter's test file (memory, local, kubernetes) with a
 * factory for its world. What a target lacks by its declared capabilities is checked to be
 * refused with a clear error instead of exercised.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceEnvConfig, StrategyConfig } from '../config/types.js';
import { checkHttp } from '../core/http-check.js';
import { RequestMetricsUnavailableError, type Reach, type Target, type TargetInstance } from './target.js';

/** What a contract run needs from an adapter's test file. */
export interface ContractWorld {
  target: Target;
  /**
   * A fresh service of the world (its own name, port, objects), so tests do not see each other's
   * instances, run with the given strategy (default rolling) and `instances` (default 2).
   */
  cfg(overrides?: { strategy?: StrategyConfig['kind']; instances?: number }): Promise<ServiceEnvConfig>;
  /**
   * Release versions: `good` and `other` become healthy (their HTTP `/` answers the version);
   * `neverReady` starts but never passes a health check.
   */
  versions: { good: string; other: string; neverReady: string };
  /** Stops everything the world started. */
  close(): Promise<void>;
}

/** Tunables of a contract run. */
export interface ContractOptions {
  /** How long a release may take to become ready, and a test to run. Default 20 s. */
  timeoutMs?: number;
}

/**
 * Registers the contract suite for one adapter.
 *
 * @example
 * describeTargetContract('memory', async () => {
 *   const target = new MemoryTarget();
 *   target.behaviours.set('9.9.9', { neverReady: true });
 *   return { target, cfg: async (o) => memoryCfg(o), versions: { good: '1.0.0', other: '2.0.0', neverReady: '9.9.9' }, close: () => target.close() };
 * });
 */
export function describeTargetContract(name: string, factory: () => Promise<ContractWorld>, options: ContractOptions = {}): void {
  const timeout = options.timeoutMs ?? 20_000;

  describe(`target contract: ${name}`, () => {
    let world: ContractWorld;
    let v: ContractWorld['versions'];

    beforeAll(async () => {
      world = await factory();
      v = world.versions;
    }, timeout);

    afterAll(async () => {
      await world?.close();
    }, timeout);

    const poll = async <T>(what: string, fn: () => Promise<T | null | undefined | false>): Promise<T> => {
      const deadline = Date.now() + timeout;
      let last: unknown = null;
      for (;;) {
        try {
          const got = await fn();
          if (got !== null && got !== undefined && got !== false) return got;
        } catch (err) {
          last = err;
        }
        if (Date.now() > deadline) throw new Error(`${name}: timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const live = (list: TargetInstance[], version: string) => list.filter((i) => i.version === version && i.state !== 'stopping' && i.state !== 'stopped');
    const readyCount = async (cfg: ServiceEnvConfig, version: string, count: number) =>
      poll(`${count} ready instance(s) of ${version}`, async () => {
        const list = live(await world.target.instances(cfg), version);
        return list.length === count && list.every((i) => i.state === 'ready') ? list : null;
      });
    const answers = async (reach: Reach, version: string) => {
      const r = await checkHttp(`${reach.url}/`, { status: 200, bodyContains: version }, 5000, {
        headers: reach.headers, ...(reach.dispatcher ? { dispatcher: reach.dispatcher } : {}),
      });
      return r.ok ? r : null;
    };

    it('declares its capabilities as data', async () => {
      const caps = world.target.capabilities(await world.cfg());
      expect(['exact', 'replicaRatio', 'none']).toContain(caps.weights);
      for (const key of ['headerRoutes', 'sticky', 'preview', 'requestMetrics', 'nativeRolling', 'jobs'] as const) expect(typeof caps[key]).toBe('boolean');
      expect(Object.keys(caps).sort()).toEqual(['headerRoutes', 'jobs', 'nativeRolling', 'preview', 'requestMetrics', 'sticky', 'weights']);
      // A target that says it runs jobs has both methods for them.
      if (caps.jobs) expect([typeof world.target.startJob, typeof world.target.jobStatus]).toEqual(['function', 'function']);
    });

    it('scales to exact counts, idempotently, and instances() agrees', async () => {
      const cfg = await world.cfg();
      const release = { version: v.good, image: null };
      const first = await world.target.scale(cfg, release, 2);
      expect(first.map((i) => i.version)).toEqual([v.good, v.good]);
      const ready = await readyCount(cfg, v.good, 2);
      for (const i of ready) {
        expect(i.readyAt).not.toBeNull();
        expect(i.consecutiveFailures).toBe(0);
        expect(i.lastHealth?.ok).toBe(true);
      }
      // The same call again changes nothing.
      const again = await world.target.scale(cfg, release, 2);
      expect(again.map((i) => i.id).sort()).toEqual(ready.map((i) => i.id).sort());
      expect(live(await world.target.instances(cfg), v.good).map((i) => i.id).sort()).toEqual(ready.map((i) => i.id).sort());

      await world.target.scale(cfg, release, 1);
      await poll('1 instance left', async () => live(await world.target.instances(cfg), v.good).length === 1);
      await world.target.scale(cfg, release, 0);
      await poll('no instance left', async () => live(await world.target.instances(cfg), v.good).length === 0);
    }, timeout * 2);

    it('reports a release that never passes its health check as not ready, with the failed check', async () => {
      const cfg = await world.cfg({ instances: 1 });
      await world.target.scale(cfg, { version: v.neverReady, image: null }, 1);
      const [bad] = await poll('a failed health check', async () => {
        const list = live(await world.target.instances(cfg), v.neverReady);
        return list.length === 1 && list[0].lastHealth?.ok === false ? list : null;
      });
      expect(bad.state).not.toBe('ready');
      expect(bad.readyAt).toBeNull();
      expect(bad.lastHealth?.detail).toBeTruthy();
      expect(await world.target.reach(cfg, v.neverReady)).toBeNull();
      await world.target.scale(cfg, { version: v.neverReady, image: null }, 0);
    }, timeout * 2);

    it('reach() answers HTTP for a ready release, with the headers it gives, and is null for a release not running', async () => {
      const cfg = await world.cfg({ instances: 1 });
      expect(await world.target.reach(cfg, v.good)).toBeNull();
      await world.target.scale(cfg, { version: v.good, image: null }, 1);
      await readyCount(cfg, v.good, 1);
      const reach = await poll('reach', () => world.target.reach(cfg, v.good));
      expect(reach.describe).toBeTruthy();
      const r = await poll(`${v.good} answering through ${reach.describe}`, () => answers(reach, v.good));
      expect(r.status).toBe(200);
      expect(await world.target.reach(cfg, v.other)).toBeNull();
      await world.target.scale(cfg, { version: v.good, image: null }, 0);
    }, timeout * 2);

    it('setTraffic then traffic() returns the split, as its weights capability says', async () => {
      const cfg = await world.cfg({ instances: 1, strategy: 'canary' });
      const caps = world.target.capabilities(cfg);
      await world.target.scale(cfg, { version: v.good, image: null }, 1);
      await world.target.scale(cfg, { version: v.other, image: null }, 1);
      await readyCount(cfg, v.good, 1);
      await readyCount(cfg, v.other, 1);
      if (caps.weights === 'none') {
        await world.target.setTraffic(cfg, { versions: [{ version: v.good, weight: 100 }], preview: null });
        expect((await world.target.traffic(cfg)).versions.filter((x) => x.weight > 0).map((x) => x.version)).toEqual([v.good]);
        await expect(world.target.setTraffic(cfg, { versions: [{ version: v.good, weight: 90 }, { version: v.other, weight: 10 }], preview: null }))
          .rejects.toThrow(/cannot split traffic/);
      } else {
        const split = [{ version: v.good, weight: 90 }, { version: v.other, weight: 10 }];
        await world.target.setTraffic(cfg, { versions: split, preview: null });
        // Idempotent: the same routing twice is the same routing.
        await world.target.setTraffic(cfg, { versions: split, preview: null });
        const served = await world.target.traffic(cfg);
        if (caps.weights === 'exact') expect(served.versions).toEqual(split);
        else expect(served.versions.filter((x) => x.weight > 0).map((x) => x.version).sort()).toEqual([v.good, v.other].sort());
      }
      await world.target.setTraffic(cfg, { versions: [{ version: v.good, weight: 100 }], preview: null });
      expect((await world.target.traffic(cfg)).versions.filter((x) => x.weight > 0).map((x) => x.version)).toEqual([v.good]);
      await world.target.scale(cfg, { version: v.other, image: null }, 0);
      await world.target.scale(cfg, { version: v.good, image: null }, 0);
    }, timeout * 3);

    it('routes by header and keeps sticky sessions when it declares so, and refuses them clearly when not', async () => {
      const cfg = await world.cfg({ instances: 1, strategy: 'canary' });
      const caps = world.target.capabilities(cfg);
      await world.target.scale(cfg, { version: v.good, image: null }, 1);
      await world.target.scale(cfg, { version: v.other, image: null }, 1);
      await readyCount(cfg, v.good, 1);
      await readyCount(cfg, v.other, 1);
      const versions = caps.weights === 'none' ? [{ version: v.good, weight: 100 }] : [{ version: v.good, weight: 100 }, { version: v.other, weight: 0 }];
      const headerRoute = { name: 'x-canary', value: 'yes', version: v.other };
      if (caps.headerRoutes) {
        await world.target.setTraffic(cfg, { versions, preview: null, headerRoute });
        expect((await world.target.traffic(cfg)).headerRoute).toEqual(headerRoute);
      } else {
        await expect(world.target.setTraffic(cfg, { versions, preview: null, headerRoute })).rejects.toThrow(/cannot route by header/);
      }
      const sticky = { cookie: 'gw-release', ttlMs: 60_000 };
      if (caps.sticky) {
        await world.target.setTraffic(cfg, { versions, preview: null, sticky });
        expect((await world.target.traffic(cfg)).sticky).toEqual(sticky);
      } else {
        await expect(world.target.setTraffic(cfg, { versions, preview: null, sticky })).rejects.toThrow(/sticky sessions/);
      }
      await world.target.setTraffic(cfg, { versions: [{ version: v.good, weight: 100 }], preview: null });
      await world.target.scale(cfg, { version: v.other, image: null }, 0);
      await world.target.scale(cfg, { version: v.good, image: null }, 0);
    }, timeout * 3);

    it('serves a preview of the release under test when it declares one, and refuses one clearly when not', async () => {
      const cfg = await world.cfg({ instances: 1, strategy: 'blueGreen' });
      const caps = world.target.capabilities(cfg);
      await world.target.scale(cfg, { version: v.good, image: null }, 1);
      await world.target.scale(cfg, { version: v.other, image: null }, 1);
      await readyCount(cfg, v.good, 1);
      await readyCount(cfg, v.other, 1);
      if (!caps.preview) {
        await expect(world.target.setTraffic(cfg, { versions: [{ version: v.good, weight: 100 }], preview: v.other })).rejects.toThrow(/preview/);
      } else {
        await world.target.setTraffic(cfg, { versions: [{ version: v.good, weight: 100 }], preview: v.other });
        expect((await world.target.traffic(cfg)).preview).toBe(v.other);
        expect(await world.target.reach(cfg, v.good, { preview: true })).toBeNull();
        const reach = await poll('the preview', () => world.target.reach(cfg, v.other, { preview: true }));
        await poll(`${v.other} answering on the preview`, () => answers(reach, v.other));
        await world.target.setTraffic(cfg, { versions: [{ version: v.other, weight: 100 }], preview: null });
        expect((await world.target.traffic(cfg)).preview).toBeNull();
        expect(await world.target.reach(cfg, v.other, { preview: true })).toBeNull();
      }
      await world.target.scale(cfg, { version: v.other, image: null }, 0);
      await world.target.scale(cfg, { version: v.good, image: null }, 0);
    }, timeout * 3);

    it('logs() returns the lines of a release\'s instances', async () => {
      const cfg = await world.cfg({ instances: 1 });
      await world.target.scale(cfg, { version: v.good, image: null }, 1);
      const [ready] = await readyCount(cfg, v.good, 1);
      const logs = await poll('a log line', async () => {
        const got = await world.target.logs(cfg, { version: v.good, lines: 20 });
        return got.some((l) => l.lines.length > 0) ? got : null;
      });
      expect(logs.map((l) => l.version)).toEqual(logs.map(() => v.good));
      expect(logs.map((l) => l.instance)).toContain(ready.id);
      expect(logs.every((l) => l.lines.length <= 20)).toBe(true);
      expect(await world.target.logs(cfg, { version: v.other, lines: 20 })).toEqual([]);
      await world.target.scale(cfg, { version: v.good, image: null }, 0);
    }, timeout * 2);

    it('gives request counters exactly when it declares request metrics', async () => {
      const cfg = await world.cfg({ instances: 1 });
      if (world.target.capabilities(cfg).requestMetrics) {
        expect(world.target.requestCounters).toBeTypeOf('function');
        const rows = await world.target.requestCounters!(cfg);
        expect(Array.isArray(rows)).toBe(true);
      } else if (world.target.requestCounters) {
        await expect(world.target.requestCounters(cfg)).rejects.toBeInstanceOf(RequestMetricsUnavailableError);
      }
    });

    it('rolls out natively, idempotently, when it declares so', async () => {
      const cfg = await world.cfg({ instances: 2 });
      if (!world.target.capabilities(cfg).nativeRolling) {
        expect(world.target.capabilities(cfg).nativeRolling).toBe(false);
        return;
      }
      const rollout = world.target.rollout!.bind(world.target);
      const status = world.target.rolloutStatus!.bind(world.target);
      const handle = await rollout(cfg, { version: v.good, image: null });
      // A resumed step asks again: the same rollout comes back.
      expect(await rollout(cfg, { version: v.good, image: null })).toEqual(handle);
      const done = await poll('the rollout done', async () => {
        const s = await status(cfg, handle);
        if (s.state === 'failed') throw new Error(`rollout failed: ${s.reason}`);
        return s.state === 'done' ? s : null;
      });
      expect(done.reason).toBeTruthy();
      expect(live(await world.target.instances(cfg), v.good).every((i) => i.state === 'ready')).toBe(true);
      await world.target.scale(cfg, { version: v.good, image: null }, 0);
    }, timeout * 2);
  });
}
