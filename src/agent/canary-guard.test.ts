import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { guardBoundary, guardFalseTripBound, guardLogLikelihoodRatio } from '../analysis/sequential.js';
import { CanaryGuard, MIN_STABLE_REQUESTS } from './canary-guard.js';
import { freePort } from './ports.js';
import { ProxyHub } from './proxy.js';
import { RequestMetrics } from './request-metrics.js';
import type { Backend, BackendSource } from './types.js';

const SPEC = { canary: 'v2', stable: 'v1', alpha: 0.002 };
/** 30 failed of 30,000 with the (errors + 1) / (requests + 2) estimate: p0 = 0.001 exactly. */
const BASELINE = { total: 29_998, errors: 29 };

/** Feeds canary outcomes ('x' failed, '.' succeeded); returns the 1-based request that tripped the guard, or null. */
function feed(g: CanaryGuard, outcomes: string): number | null {
  let tripped: number | null = null;
  [...outcomes].forEach((o, i) => {
    if (g.observe('v2', o === 'x' ? 500 : 200) && tripped === null) tripped = i + 1;
  });
  return tripped;
}

describe('guardBoundary', () => {
  it('spends the whole α and no more: the false-trip bound is at most α, and Ville alone leaves two thirds of it unused', () => {
    const b = guardBoundary(0.001, 0.002);
    expect(b.alternatives).toEqual([0.02, 0.045, 0.1, 0.225]);
    expect(b.level).toBeLessThanOrEqual(0.002);
    expect(b.level).toBeGreaterThan(0.0019);
    expect(b.logThreshold).toBeLessThan(Math.log(1 / 0.002));
    const ville = guardFalseTripBound(b.alternatives, 0.001, Math.log(1 / 0.002), 0.002);
    expect(ville.level).toBeLessThanOrEqual(0.002);
    expect(ville.level).toBeLessThan(0.002 / 3);
  });

  it('trips on 2 failures within 51 requests, 3 within 164, 4 within 313, never on 1 (p0 0.1%, α 0.002)', () => {
    const b = guardBoundary(0.001, 0.002);
    const trips = (n: number, x: number) => guardLogLikelihoodRatio(b.alternatives, b.p0, n, x) >= b.logThreshold;
    expect(trips(1, 1)).toBe(false);
    expect([trips(51, 2), trips(52, 2)]).toEqual([true, false]);
    expect([trips(164, 3), trips(165, 3)]).toEqual([true, false]);
    expect([trips(313, 4), trips(314, 4)]).toEqual([true, false]);
  });

  it('caps the alternatives below 1 for a failing stable and rejects impossible rates', () => {
    expect(guardBoundary(0.01, 0.002).alternatives).toEqual([0.2, 0.45, 0.505]);
    expect(() => guardBoundary(0, 0.002)).toThrow(/p0 must be in \(0, 0.5\)/);
    expect(() => guardBoundary(0.001, 1)).toThrow(/alpha must be in \(0, 1\)/);
  });
});

describe('CanaryGuard', () => {
  it('trips at exactly the request whose failure crosses the boundary', () => {
    const g = new CanaryGuard('web', 'prod', SPEC, BASELINE, () => 1234);
    // Failures at requests 50 and 51: 2 of 51 trips at 51.
    expect(feed(g, `${'.'.repeat(49)}xx`)).toBe(51);
    const s = g.status();
    expect(s).toMatchObject({ state: 'tripped', canaryRequests: 51, canaryErrors: 2, stableRequests: 29_998, stableErrors: 29, p0: 0.001, trippedAt: 1234, alpha: 0.002 });
    expect(s.logLikelihoodRatio!).toBeGreaterThanOrEqual(s.logThreshold!);
    expect(s.detail).toMatch(/^canary 2 failed of 51 against stable 0\.1% \(29 of 29998\): ln Λ \d+\.\d\d ≥ 4\.66 \(sequential test, false-trip probability ≤ 0\.002\)$/);
    // A tripped guard stays tripped and decides nothing more.
    expect(feed(g, 'xxxx')).toBe(null);
    expect(g.status().canaryRequests).toBe(51);
  });

  it('does not trip on 2 failures spread over 52 requests; the third failure trips it', () => {
    const g = new CanaryGuard('web', 'prod', SPEC, BASELINE);
    expect(feed(g, `x${'.'.repeat(50)}x`)).toBe(null);
    expect(g.status()).toMatchObject({ state: 'armed', canaryRequests: 52, canaryErrors: 2 });
    expect(g.status().detail).toMatch(/^canary 2 failed of 52 against stable 0\.1% \(29 of 29998\): ln Λ \d+\.\d\d < 4\.66$/);
    expect(feed(g, 'x')).toBe(1);
    expect(g.status()).toMatchObject({ state: 'tripped', canaryRequests: 53, canaryErrors: 3 });
  });

  it('counts only 5xx as failures, and only requests of its canary', () => {
    const g = new CanaryGuard('web', 'prod', SPEC, BASELINE);
    for (const status of [404, 499, 429, 301]) expect(g.observe('v2', status)).toBe(false);
    for (let i = 0; i < 5; i++) expect(g.observe('v3', 500) || g.observe('none', 503)).toBe(false);
    expect(g.status()).toMatchObject({ canaryRequests: 4, canaryErrors: 0 });
    expect(g.observe('v2', 502)).toBe(false);
    expect(g.observe('v2', 503)).toBe(true);
  });

  it('waits for the stable requests behind p0, counting the canary meanwhile, and trips when it arms if the evidence is there', () => {
    const g = new CanaryGuard('web', 'prod', SPEC, { total: 990, errors: 0 });
    expect(feed(g, 'xx')).toBe(null);
    expect(g.status()).toMatchObject({ state: 'waiting', p0: null, logThreshold: null, canaryErrors: 2 });
    expect(g.status().detail).toBe(`waiting: 990 stable requests < ${MIN_STABLE_REQUESTS}; canary 2 failed of 2`);
    for (let i = 0; i < 9; i++) expect(g.observe('v1', 200)).toBe(false);
    // The 1000th stable request arms it: p0 = 1/1002, and 2 of 2 canary requests failed.
    expect(g.observe('v1', 200)).toBe(true);
    expect(g.status()).toMatchObject({ state: 'tripped', stableRequests: 1000, stableErrors: 0, p0: 1 / 1002 });
  });

  it('stays waiting while the stable itself fails 20% or more', () => {
    const g = new CanaryGuard('web', 'prod', SPEC, { total: 1000, errors: 400 });
    expect(feed(g, 'xxxxxxxxxx')).toBe(null);
    expect(g.status().state).toBe('waiting');
    expect(g.status().detail).toBe('waiting: the stable fails 40% of requests (the guard needs less than 20%); canary 10 failed of 10');
  });

  it('tells the same spec from another', () => {
    const g = new CanaryGuard('web', 'prod', SPEC, BASELINE);
    expect(g.sameAs({ ...SPEC })).toBe(true);
    expect(g.sameAs({ ...SPEC, alpha: 0.01 })).toBe(false);
    expect(g.sameAs({ ...SPEC, canary: 'v3' })).toBe(false);
  });
});

// ---- the guard in the proxy ---------------------------------------------------------------------

class Backends implements BackendSource {
  readonly map = new Map<string, Backend[]>();
  ready(_s: string, _e: string, version: string): readonly Backend[] { return this.map.get(version) ?? []; }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A real HTTP instance answering every request with `status` and its version. */
async function instance(version: string, status: number): Promise<Backend> {
  const server = http.createServer((_req, res) => { res.writeHead(status, { 'content-type': 'text/plain' }); res.end(version); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { id: `${version}-1`, version, port: (server.address() as { port: number }).port };
}

async function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('ProxyHub canary guard', () => {
  it('takes a failing canary out of traffic at the request that trips the guard, and keeps it out', async () => {
    const backends = new Backends();
    backends.map.set('v1', [await instance('v1', 200)]);
    backends.map.set('v2', [await instance('v2', 500)]);
    const metrics = new RequestMetrics();
    // What the agent had counted of the stable before the canary: 1,000 requests, none failed.
    for (let i = 0; i < 1000; i++) metrics.record('web', 'prod', 'v1', 200, 0.01);
    const hub = new ProxyHub({ backends, metrics });
    cleanups.push(() => hub.close(100));
    const port = await freePort();
    const route = { service: 'web', environment: 'prod', host: '127.0.0.1', port, preview: null };
    await hub.setRoute({ ...route, versions: [{ version: 'v1', weight: 50 }, { version: 'v2', weight: 50 }] });
    hub.setGuard('web', 'prod', SPEC);
    expect(hub.guards()).toMatchObject([{ state: 'armed', canary: 'v2', stable: 'v1', stableRequests: 1000, p0: 1 / 1002 }]);

    // 50/50 alternates: v1, v2 (fails), v1, v2 (fails: 2 of 2 trips), then stable only.
    const answers: string[] = [];
    for (let i = 0; i < 14; i++) {
      const r = await get(port);
      answers.push(`${r.status} ${r.body}`);
    }
    expect(answers).toEqual(['200 v1', '500 v2', '200 v1', '500 v2', ...Array<string>(10).fill('200 v1')]);
    expect(hub.guards()).toMatchObject([{ state: 'tripped', canaryRequests: 2, canaryErrors: 2, stableRequests: 1000 }]);
    expect(metrics.counters('web', 'prod').map((c) => [c.version, c.total, c.errors])).toEqual([['v1', 1012, 0], ['v2', 2, 2]]);
    expect(hub.routes()[0]!.versions).toEqual([{ version: 'v1', weight: 50 }, { version: 'v2', weight: 0 }]);

    // The orchestrator re-applying the canary's weight (and a header route to it) does not bring it back.
    await hub.setRoute({ ...route, versions: [{ version: 'v1', weight: 75 }, { version: 'v2', weight: 25 }], headerRoutes: [{ name: 'x-canary', value: '1', version: 'v2' }] });
    expect(hub.routes()[0]!.versions).toEqual([{ version: 'v1', weight: 75 }, { version: 'v2', weight: 0 }]);
    expect(hub.routes()[0]!.headerRoutes).toEqual([]);
    hub.setGuard('web', 'prod', { ...SPEC });
    expect(hub.guards()[0]!.state).toBe('tripped');
    for (let i = 0; i < 4; i++) expect(await get(port)).toEqual({ status: 200, body: 'v1' });

    // The rollback's route (stable only) ends the guard.
    await hub.setRoute({ ...route, versions: [{ version: 'v1', weight: 100 }] });
    expect(hub.guards()).toEqual([]);
  });

  it('rejects a guard with a bad level or the same release on both sides', () => {
    const hub = new ProxyHub({ backends: new Backends(), metrics: new RequestMetrics() });
    expect(() => hub.setGuard('web', 'prod', { ...SPEC, alpha: 0 })).toThrow('guard.alpha must be in (0, 1), got 0');
    expect(() => hub.setGuard('web', 'prod', { ...SPEC, stable: 'v2' })).toThrow('guard.canary and guard.stable are both "v2"');
    expect(hub.guards()).toEqual([]);
  });
});
