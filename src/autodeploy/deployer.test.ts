/**
 * Auto-deploy against a real registry (Debian docker-registry) and a real orchestrator, runner
 * and gates over SQLite, on the in-memory target. A registry that fails in the middle of a
 * paged tag list — which no real registry does on demand — is a small fake, named as such.
 *
 * Given  dev subscribed to 127.0.0.1:<port>/shop/${service}, tags like 1.2.3, newest by semver
 * When   tags are pushed, a freeze holds one back, a person rolls back, the registry goes down
 * Then   each new tag is deployed once as gangway/auto through the gates, a refusal is
 *        recorded once and retried, a rollback pauses until resumed, an outage is one event.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { pushImage, startRegistryOrSkip } from '../../test/support/registry.js';
import { closeWorlds, given, until, FINAL, type World } from '../../test/support/engine-world.js';
import { createGates } from '../gates/index.js';
import { RegistryClient } from '../gates/registry/client.js';
import { AutoDeployer } from './deployer.js';
import { AUTO_ACTOR } from './subscriptions.js';

const reg = await startRegistryOrSkip('auto-deploy tests (src/autodeploy/deployer.test.ts)');
afterAll(() => reg?.stop());
afterEach(closeWorlds);

let repoCount = 0;

function yaml(host: string, repo: string, extra = ''): string {
  return `
project: shop
registries: [{ host: "${host}", insecure: true }]
environments:
  dev:
    autoDeploy:
      image: { repository: "${host}/${repo}/\${service}", tagPattern: '^[0-9]+[.][0-9]+[.][0-9]+$', interval: 1s }${extra}
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 1, port: 18080 }
    health: { path: /health, interval: 100ms, startTimeout: 1s }
    rollback: { watch: 0s }
`;
}

async function world(host: string, repo: string, extra = ''): Promise<{ w: World; auto: () => AutoDeployer; clock: { now: number } }> {
  const client = new RegistryClient([{ host, insecure: true, username: null, password: null, token: null }]);
  const w = await given(yaml(host, repo, extra), { gates: (config, store) => createGates(config, store, client).gates });
  const clock = { now: 1_000_000 };
  // A new AutoDeployer over the same store is an orchestrator restarted.
  const auto = () => new AutoDeployer({ store: w.store, config: w.config, orchestrator: w.orch, registry: client, now: () => clock.now });
  return { w, auto, clock };
}

async function autoEvents(w: World): Promise<Array<[string, unknown]>> {
  return (await w.store.listEvents({ types: ['autodeploy.*'] })).map((e) => [e.type, e.data.tag ?? e.data.lastTag ?? null]);
}

async function deployments(w: World) {
  return (await w.store.listDeployments({})).map((d) => [d.version, d.actor, d.reason, d.kind]);
}

describe.skipIf(!reg)('auto-deploy from a registry', () => {
  const r = reg!;

  it('remembers the tags of the first poll, deploys each newer tag once as gangway/auto, and does not redeploy after a restart', async () => {
    const repo = `shop${++repoCount}`;
    await pushImage(r.url, `${repo}/web`, '1.0.0', { layers: ['a'] });
    await pushImage(r.url, `${repo}/web`, 'latest', { layers: ['a'] });
    const { w, auto, clock } = await world(r.host, repo);
    const a = auto();
    await a.tick();
    expect(await deployments(w)).toEqual([]);
    await pushImage(r.url, `${repo}/web`, '1.10.0', { layers: ['b'] });
    await pushImage(r.url, `${repo}/web`, '1.9.0', { layers: ['c'] });
    clock.now += 1000;
    await a.tick();
    const [d] = await w.store.listDeployments({});
    await until(w, d!.id, FINAL);
    expect(await deployments(w)).toEqual([['1.10.0', AUTO_ACTOR, '1.10.0', 'deploy']]);
    expect(d!.image).toBe(`${r.host}/${repo}/web:1.10.0`);

    const restarted = auto();
    clock.now += 1000;
    await restarted.tick();
    clock.now += 1000;
    await restarted.tick();
    expect(await deployments(w)).toEqual([['1.10.0', AUTO_ACTOR, '1.10.0', 'deploy']]);
    expect(await autoEvents(w)).toEqual([['autodeploy.subscribed', '1.0.0'], ['autodeploy.deployed', '1.10.0']]);
    expect((await restarted.list())[0]).toMatchObject({ service: 'web', environment: 'dev', mode: 'image', lastTag: '1.10.0', paused: null, pending: null });
  });

  it('never bypasses a gate: a frozen environment holds the tag back, recorded once, and deploys it at the first poll after the freeze lifts', async () => {
    const repo = `shop${++repoCount}`;
    await pushImage(r.url, `${repo}/web`, '1.0.0', { layers: ['a'] });
    const { w, auto, clock } = await world(r.host, repo);
    const a = auto();
    await a.tick();
    await w.store.createFreeze({ id: 'f1', environment: 'dev', service: null, owner: 'ana', reason: 'incident 42', source: 'manual', alertFingerprint: null, createdAt: clock.now, liftedAt: null, liftedBy: null });
    await pushImage(r.url, `${repo}/web`, '1.1.0', { layers: ['b'] });
    for (let i = 0; i < 3; i++) {
      clock.now += 1000;
      await a.tick();
    }
    expect(await deployments(w)).toEqual([]);
    const blocked = (await w.store.listEvents({ types: ['autodeploy.blocked'] })).map((e) => e.data);
    expect(blocked).toEqual([expect.objectContaining({ service: 'web', environment: 'dev', tag: '1.1.0', code: 'blocked', gates: 'freeze', source: 'registry' })]);
    expect(String(blocked[0]!.reason)).toContain('incident 42');
    expect((await a.list())[0]!.pending).toEqual({ tag: '1.1.0', gates: 'freeze' });

    await w.store.liftFreeze('f1', 'ana', clock.now);
    clock.now += 1000;
    await a.tick();
    expect(await deployments(w)).toEqual([['1.1.0', AUTO_ACTOR, '1.1.0', 'deploy']]);
    expect((await a.list())[0]).toMatchObject({ lastTag: '1.1.0', pending: null });
  });

  it('pauses after a person rolls back, deploys nothing until resumed, then only a tag newer than the rolled-back one', async () => {
    const repo = `shop${++repoCount}`;
    await pushImage(r.url, `${repo}/web`, '1.0.0', { layers: ['a'] });
    const { w, auto, clock } = await world(r.host, repo);
    const first = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' });
    await until(w, first.id, FINAL);
    const a = auto();
    await a.tick();
    await pushImage(r.url, `${repo}/web`, '1.1.0', { layers: ['b'] });
    clock.now += 1000;
    await a.tick();
    const [shipped] = await w.store.listDeployments({ newestFirst: true, limit: 1 });
    expect((await until(w, shipped!.id, FINAL)).phase).toBe('succeeded');

    const back = await w.orch.rollback({ service: 'web', environment: 'dev', actor: 'ana', reason: 'checkout broken' });
    await until(w, back.id, FINAL);
    await pushImage(r.url, `${repo}/web`, '1.2.0', { layers: ['c'] });
    clock.now += 1000;
    await a.tick();
    clock.now += 1000;
    await a.tick();
    expect(await deployments(w)).toEqual([['1.0.0', 'ana', null, 'deploy'], ['1.1.0', AUTO_ACTOR, '1.1.0', 'deploy'], ['1.0.0', 'ana', 'checkout broken', 'rollback']]);
    expect((await a.list())[0]!.paused).toEqual({ at: expect.any(Number), by: 'ana', deployment: back.id });
    await expect(a.release({ service: 'web', environment: 'dev', version: '9.9.9' })).rejects.toThrow('dev takes no release webhook');

    await a.resume('web', 'dev', 'bob');
    await expect(a.resume('web', 'dev', 'bob')).rejects.toThrow('auto-deploy of web to dev is not paused');
    await a.tick();
    const [next] = await w.store.listDeployments({ newestFirst: true, limit: 1 });
    await until(w, next!.id, FINAL);
    expect((await deployments(w)).slice(3)).toEqual([['1.2.0', AUTO_ACTOR, '1.2.0', 'deploy']]);
    expect((await autoEvents(w)).map(([t]) => t)).toEqual(['autodeploy.subscribed', 'autodeploy.deployed', 'autodeploy.paused', 'autodeploy.resumed', 'autodeploy.deployed']);
    const resumed = (await w.store.listEvents({ types: ['autodeploy.resumed'] }))[0]!.data;
    expect(resumed).toMatchObject({ actor: 'bob', pausedBy: 'ana', deployment: back.id });
  });
});

/** A fake registry (named as such): the tag list in pages of one, page 2 failing while `down`. */
async function fakeRegistry(): Promise<{ host: string; down: { page2: boolean; all: boolean }; requests: string[]; stop(): Promise<void> }> {
  const down = { page2: true, all: false };
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    if (down.all) return res.writeHead(503).end();
    if (url.pathname !== '/v2/shop/web/tags/list') return res.writeHead(404).end();
    if (url.searchParams.get('last') === '1.0.0') {
      if (down.page2) return res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}');
      return res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"shop/web","tags":["2.0.0"]}');
    }
    res.writeHead(200, { 'content-type': 'application/json', link: '</v2/shop/web/tags/list?last=1.0.0&n=100>; rel="next"' }).end('{"name":"shop/web","tags":["1.0.0"]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  return { host: `127.0.0.1:${port}`, down, requests, stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

describe('auto-deploy when the registry fails', () => {
  it('never deploys from a half-read tag list, records one event per outage, and backs off', async () => {
    const fake = await fakeRegistry();
    try {
      const { w, auto, clock } = await world(fake.host, 'shop');
      const a = auto();
      // Page 2 fails: the first poll takes no baseline, the tag on page 1 alone is not acted on.
      await a.tick();
      expect((await a.list())[0]).toMatchObject({ lastTag: null, registryDown: { since: clock.now } });
      fake.down.all = true;
      const polls = () => fake.requests.filter((u) => u.includes('tags/list') && !u.includes('last=')).length;
      // Due again after 1 s, 2 s, 4 s: ticks in between ask nothing.
      const asked: number[] = [];
      for (let t = 0; t < 8; t++) {
        clock.now += 1000;
        await a.tick();
        asked.push(polls());
      }
      expect(asked).toEqual([2, 2, 3, 3, 3, 3, 4, 4]);
      expect((await autoEvents(w)).map(([t]) => t)).toEqual(['autodeploy.registry_unreachable']);
      fake.down.all = false;
      fake.down.page2 = false;
      clock.now += 8000;
      await a.tick();
      expect((await autoEvents(w)).map(([t]) => t)).toEqual(['autodeploy.registry_unreachable', 'autodeploy.registry_recovered', 'autodeploy.subscribed']);
      expect((await a.list())[0]).toMatchObject({ lastTag: '2.0.0', registryDown: null });
      expect(await deployments(w)).toEqual([]);
      const unreachable = (await w.store.listEvents({ types: ['autodeploy.registry_unreachable'] }))[0]!.data;
      expect(unreachable).toEqual({ service: 'web', environment: 'dev', repository: `${fake.host}/shop/web`, detail: `registry ${fake.host} answered 503 for the tag list in ${fake.host}/shop/web: UNAVAILABLE try later` });
    } finally {
      await fake.stop();
    }
  });
});
