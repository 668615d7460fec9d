/**
 * The Kubernetes target against the FAKE Kubernetes API server (test/support/fake-kube), through
 * the real client and a kubeconfig the fake writes: the shared target contract, then each
 * layout as the runbooks run it — the Deployment's own rolling update judged by `kubectl rollout
 * status`'s rules, blue-green by a selector patch, a canary by replica counts or by an
 * HTTPRoute's weights, and a rollback that applies what a release ran.
 *
 * One fake serves the whole file; every service gets its own namespace. Image `fake.local/app`
 * runs test/fixtures/app.mjs (HTTP answering its version), the fake's builtin images stand in for
 * pods that crash, cannot pull, never become ready or just run (`fake.local/ok`, where HTTP is
 * not the point). Version 9.9.9 of the app never becomes ready: its readiness probe fails while
 * the file `unhealthy-9.9.9` exists in the app's working folder.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { startFakeKube, type FakeKube, type Obj } from '../../../test/support/fake-kube/index.js';
import { parseConfig } from '../../config/load.js';
import type { ServiceEnvConfig, StrategyConfig } from '../../config/types.js';
import { describeTargetContract } from '../contract.js';
import type { Reach, RolloutStatus, TargetInstance } from '../target.js';
import { kubeConnector, type KubeConnector } from './connect.js';
import { KubernetesTarget } from './kubernetes-target.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const APP = join(ROOT, 'test/fixtures/app.mjs');
const FIXTURES = join(ROOT, 'test/fixtures/kubernetes');
const GOOD = '1.0.0';
const OTHER = '2.0.0';
const NEVER_READY = '9.9.9';
/** Waits on a loaded machine: generous, and never a claim about speed. */
const LIMIT_MS = 90_000;

interface World { kube: FakeKube; dir: string; kubeconfig: string; connector: KubeConnector; target: KubernetesTarget }

let started: Promise<World> | undefined;

/** The file's one fake API server, started on first use. */
function world(): Promise<World> {
  started ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-kube-target-'));
    await writeFile(join(dir, `unhealthy-${NEVER_READY}`), '');
    const kube = await startFakeKube({ images: { 'fake.local/app': { command: [process.execPath, APP], cwd: dir } } });
    const kubeconfig = await kube.writeKubeconfig(dir);
    const connector = kubeConnector({ env: {} });
    const target = new KubernetesTarget({ connect: (k) => connector.connect(k), pollMs: 50 });
    return { kube, dir, kubeconfig, connector, target };
  })();
  return started;
}

afterAll(async () => {
  if (!started) return;
  const w = await started.catch(() => null);
  if (!w) return;
  await w.connector.close();
  await w.kube.close();
  await rm(w.dir, { recursive: true, force: true });
}, 60_000);

interface ServiceOptions {
  strategy?: StrategyConfig['kind'];
  instances?: number;
  restartLimit?: number;
  /** target.kubernetes.image (the repository versions are tags of). */
  image?: string;
  httpRoute?: boolean;
  /** Changes the text of web.yaml before it is written. */
  edit?: (yaml: string) => string;
}

interface Service { cfg: ServiceEnvConfig; ns: string; manifests: string }

let seq = 0;

/** `web` in dev, in a namespace of its own, with its manifests in a folder of its own. */
async function service(o: ServiceOptions = {}): Promise<Service> {
  const w = await world();
  const n = ++seq;
  const ns = `t${n}`;
  await w.kube.namespace(ns);
  const manifests = join(w.dir, `manifests-${n}`);
  await mkdir(manifests);
  const web = await readFile(join(FIXTURES, 'web.yaml'), 'utf8');
  await writeFile(join(manifests, 'web.yaml'), o.edit ? o.edit(web) : web);
  if (o.httpRoute) await copyFile(join(FIXTURES, 'httproute.yaml'), join(manifests, 'httproute.yaml'));
  const strategy = o.strategy === 'blueGreen' ? '{ blueGreen: {} }' : o.strategy === 'canary' ? '{ canary: {} }' : '{ rolling: {} }';
  const config = parseConfig(`project: shop
environments: { dev: {} }
services:
  web:
    target:
      kubernetes:
        kubeconfig: ${JSON.stringify(w.kubeconfig)}
        namespace: ${ns}
        manifests: ${JSON.stringify(manifests)}
        instances: ${o.instances ?? 2}
        restartLimit: ${o.restartLimit ?? 0}
${o.httpRoute ? '        httpRoute: web\n' : ''}${o.image ? `        image: ${o.image}\n` : ''}    health: { path: /health, interval: 100ms, startTimeout: 90s }
    strategy: ${strategy}
`, join(w.dir, 'gangway.yaml'), { env: {} });
  return { cfg: config.services.web.dev, ns, manifests };
}

/** Deletes a service's namespace: the fake stops its pods. */
async function drop(ns: string): Promise<void> {
  const w = await world();
  await w.kube.request(`/api/v1/namespaces/${ns}`, { method: 'DELETE' });
}

/** Polls `fn` until it gives a value; fails naming what it waited for. */
async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + LIMIT_MS;
  for (;;) {
    const got = await fn();
    if (got !== null && got !== undefined && got !== false) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const live = (list: TargetInstance[], version: string) => list.filter((i) => i.version === version && i.state !== 'stopping');

async function ready(cfg: ServiceEnvConfig, version: string, count: number): Promise<TargetInstance[]> {
  const w = await world();
  return until(`${count} ready pod(s) of ${version}`, async () => {
    const mine = live(await w.target.instances(cfg), version);
    return mine.length === count && mine.every((i) => i.state === 'ready') ? mine : null;
  });
}

async function statusUntil(cfg: ServiceEnvConfig, handle: { version: string; revision: string }, pred: (s: RolloutStatus) => boolean): Promise<RolloutStatus> {
  const w = await world();
  return until(`rollout of ${handle.version}`, async () => {
    const s = await w.target.rolloutStatus(cfg, handle);
    return pred(s) ? s : null;
  });
}

const isDone = (s: RolloutStatus) => {
  if (s.state === 'failed') throw new Error(`rollout failed: ${s.reason}`);
  return s.state === 'done';
};

/** The text a Reach answers at `path`, sent as a check would send it. */
async function get(reach: Reach, path: string): Promise<{ status: number; body: string }> {
  const res = await request(`${reach.url}${path}`, { dispatcher: reach.dispatcher, headers: reach.headers });
  return { status: res.statusCode, body: await res.body.text() };
}

/** What a Service answers at `/` through the fake API server's service proxy. */
async function throughService(ns: string, name: string): Promise<{ status: number; text: string }> {
  const w = await world();
  const r = await w.kube.request(`/api/v1/namespaces/${ns}/services/${name}:80/proxy/`);
  return { status: r.status, text: r.text };
}

function spec(o: Obj | undefined): Obj {
  return (o?.spec ?? {}) as Obj;
}
function meta(o: Obj | undefined): Obj {
  return (o?.metadata ?? {}) as Obj;
}
function podTemplate(o: Obj | undefined): { containers: Array<{ name: string; image: string; env?: Array<{ name: string }> }> } {
  return (spec(o).template as { spec: { containers: Array<{ name: string; image: string; env?: Array<{ name: string }> }> } }).spec;
}

// The shared contract: a fresh namespace per service.
describeTargetContract('kubernetes', async () => {
  const w = await world();
  return {
    target: w.target,
    cfg: async (o) => (await service({ strategy: o?.strategy, instances: o?.instances })).cfg,
    versions: { good: GOOD, other: OTHER, neverReady: NEVER_READY },
    close: async () => {},
  };
}, { timeoutMs: LIMIT_MS });

describe('kubernetes target: the rolling layout, rolled by the Deployment', () => {
  it('applies the release once: the same call returns the same handle, no new generation; done by kubectl\'s rules; its pods are reached through the API server and their logs read', async () => {
    const { kube, target } = await world();
    const { cfg, ns } = await service({ instances: 2 });
    try {
      const handle = await target.rollout(cfg, { version: GOOD, image: null });
      expect(handle).toEqual({ version: GOOD, revision: 'generation 1' });
      expect(await target.rollout(cfg, { version: GOOD, image: null })).toEqual(handle);
      expect(meta(kube.get('deployment', ns, 'web')).generation).toBe(1);
      expect(await statusUntil(cfg, handle, isDone)).toEqual({ state: 'done', reason: 'deployment "web" successfully rolled out' });

      const dep = kube.get('deployment', ns, 'web');
      expect(spec(dep).strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
      expect(podTemplate(dep).containers.map((c) => c.image)).toEqual(['fake.local/app:1.0.0']);
      const pods = await ready(cfg, GOOD, 2);
      for (const i of pods) {
        expect(i).toMatchObject({ version: GOOD, state: 'ready', restarts: 0, consecutiveFailures: 0, failure: null, lastHealth: { ok: true, detail: 'pod Ready' } });
        expect(i.detail).toEqual({ pod: i.id, ip: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/), node: 'fake-node', replicaSet: expect.stringMatching(/^web-[a-z0-9]+$/), color: null });
      }

      const reach = (await target.reach(cfg, GOOD))!;
      expect(reach.url).toBe(`${kube.url}/api/v1/namespaces/${ns}/pods/${pods[0]!.id}:8080/proxy`);
      expect(reach.describe).toBe(`pod ${pods[0]!.id} in ${ns} via ${kube.url}`);
      expect(await get(reach, '/')).toEqual({ status: 200, body: '1.0.0\n' });
      expect(await get(reach, '/health')).toEqual({ status: 200, body: '{"status":"UP","version":"1.0.0"}' });
      expect(await target.reach(cfg, OTHER)).toBeNull();

      const logs = await target.logs(cfg, { version: GOOD, lines: 10 });
      expect(logs.map((l) => [l.instance, l.version])).toEqual(pods.map((i) => [i.id, GOOD]));
      for (const l of logs) expect(l.lines).toEqual([expect.stringMatching(/^app 1\.0\.0 listening on 127\.0\.0\.1:\d+ \(pid \d+\)$/)]);
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: GOOD, weight: 100 }], preview: null });

      // The next release replaces the handle: the old one reads as failed, saying why.
      const next = await target.rollout(cfg, { version: OTHER, image: null });
      expect(next).toEqual({ version: OTHER, revision: 'generation 2' });
      expect(await target.rolloutStatus(cfg, handle)).toEqual({ state: 'failed', reason: `deployment "web" was changed to ${OTHER} while ${GOOD} rolled out` });
      expect(await statusUntil(cfg, next, isDone)).toEqual({ state: 'done', reason: 'deployment "web" successfully rolled out' });
      await until('only 2.0.0 serving', async () => {
        const t = await target.traffic(cfg);
        return t.versions.length === 1 && t.versions[0]!.version === OTHER ? t : null;
      });
      // A split or a preview is not something one Deployment can serve.
      await expect(target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 50 }, { version: OTHER, weight: 50 }], preview: null })).rejects.toMatchObject({
        name: 'GangwayError', code: 'invalid_argument',
        message: `the rolling layout of web in dev serves only the release its Deployment holds (${OTHER}); a split needs blueGreen or canary`,
      });
    } finally {
      await drop(ns);
    }
  });

  it('fails a rollout whose pod crash-loops, naming CrashLoopBackOff; instances() gives the failure, the restarts and the pod; past restartLimit it names the limit', async () => {
    const { kube, target } = await world();
    const { cfg, ns } = await service({ instances: 1, restartLimit: 100 });
    try {
      const handle = await target.rollout(cfg, { version: '3.0.0', image: 'fake.local/crashloop:3.0.0' });
      const failed = await statusUntil(cfg, handle, (s) => s.state === 'failed');
      const [pod] = kube.list('pod', ns);
      const name = String(meta(pod).name);
      const crashLoop = new RegExp(`^pod ${name}: container web is in CrashLoopBackOff \\(back-off \\d+s restarting failed container=web pod=${name}_${ns}\\(${String(meta(pod).uid)}\\)\\) after (\\d+) restarts?$`);
      expect(failed.reason).toMatch(crashLoop);

      const [crashed] = await until('a crashed instance', async () => {
        const list = await target.instances(cfg);
        return list.length === 1 && list[0]!.failure ? list : null;
      });
      expect(crashed).toMatchObject({ id: name, version: '3.0.0', state: 'crashed', readyAt: null, detail: { pod: name, color: null } });
      const [, restarts] = crashLoop.exec(crashed!.failure!)!;
      expect(crashed!.restarts).toBe(Number(restarts));
      expect(crashed!.restarts).toBeGreaterThanOrEqual(1);

      // The same pods under restartLimit 0: once the container runs again, its restart fails the rollout.
      const strict = { ...cfg, target: { ...cfg.target, restartLimit: 0 } } as ServiceEnvConfig;
      const overLimit = await statusUntil(strict, handle, (s) => s.reason.includes(' restarted '));
      expect(overLimit).toMatchObject({ state: 'failed' });
      expect(overLimit.reason).toMatch(new RegExp(`^pod ${name}: container web restarted \\d+ times?, more than the 0 allowed \\(target\\.kubernetes\\.restartLimit\\); last exit: Error with code 1$`));
    } finally {
      await drop(ns);
    }
  });

  it('fails a rollout whose image cannot be pulled, naming ImagePullBackOff', async () => {
    const { kube, target } = await world();
    const { cfg, ns } = await service({ instances: 1 });
    try {
      const handle = await target.rollout(cfg, { version: '4.0.0', image: 'fake.local/pull-error:4.0.0' });
      // The kubelet alternates ErrImagePull and ImagePullBackOff; both fail the rollout at once.
      const first = await statusUntil(cfg, handle, (s) => s.state === 'failed');
      const name = String(meta(kube.list('pod', ns)[0]).name);
      expect(first.reason).toMatch(new RegExp(`^pod ${name}: container web is in (ErrImagePull|ImagePullBackOff) \\(`));
      expect(await statusUntil(cfg, handle, (s) => s.reason.includes('ImagePullBackOff'))).toEqual({
        state: 'failed', reason: `pod ${name}: container web is in ImagePullBackOff (Back-off pulling image "fake.local/pull-error:4.0.0")`,
      });
    } finally {
      await drop(ns);
    }
  });

  it('fails a rollout whose pods never become ready once the Deployment exceeds its progressDeadlineSeconds', async () => {
    const { target } = await world();
    const { cfg, ns } = await service({ instances: 1, edit: (y) => y.replace('  replicas: 1\n', '  replicas: 1\n  progressDeadlineSeconds: 1\n') });
    try {
      const handle = await target.rollout(cfg, { version: '5.0.0', image: 'fake.local/never-ready:5.0.0' });
      const seen = new Set<string>();
      const end = await statusUntil(cfg, handle, (s) => {
        seen.add(s.reason);
        return s.state !== 'progressing';
      });
      expect(end).toEqual({ state: 'failed', reason: 'deployment "web" exceeded its progress deadline' });
      seen.delete(end.reason);
      const waiting = new Set(['Waiting for deployment spec update to be observed...', 'Waiting for deployment "web" rollout to finish: 0 out of 1 new replicas have been updated...',
        'Waiting for deployment "web" rollout to finish: 0 of 1 updated replicas are available...']);
      for (const r of seen) expect(waiting).toContain(r);
    } finally {
      await drop(ns);
    }
  });
});

describe('kubernetes target: blue-green', () => {
  it('starts the new colour beside the serving one, previews it on its own Service, switches the public selector by one patch, switches back, and scales the old colour to zero', async () => {
    const { kube, target } = await world();
    const { cfg, ns } = await service({ strategy: 'blueGreen', instances: 1 });
    const selector = () => spec(kube.get('service', ns, 'web')).selector;
    try {
      const first = await target.scale(cfg, { version: GOOD, image: null }, 1);
      expect(first.map((i) => [i.version, i.detail?.color])).toEqual([[GOOD, 'blue']]);
      expect(spec(kube.get('deployment', ns, 'web-blue')).selector).toEqual({ matchLabels: { app: 'web', color: 'blue' } });
      expect(kube.get('deployment', ns, 'web')).toBeUndefined();
      // A new public Service selects nothing until traffic is set.
      expect(selector()).toEqual({ app: 'web', color: 'none' });
      await ready(cfg, GOOD, 1);
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 100 }], preview: null });
      expect(selector()).toEqual({ app: 'web', color: 'blue' });
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: GOOD, weight: 100 }], preview: null });

      const second = await target.scale(cfg, { version: OTHER, image: null }, 1);
      expect(second.map((i) => [i.version, i.detail?.color])).toEqual([[OTHER, 'green']]);
      expect(selector()).toEqual({ app: 'web', color: 'blue' });
      await ready(cfg, OTHER, 1);
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 100 }], preview: OTHER });
      expect(spec(kube.get('service', ns, 'web-preview'))).toMatchObject({ type: 'ClusterIP', selector: { app: 'web', color: 'green' } });
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: GOOD, weight: 100 }], preview: OTHER });
      expect(await target.reach(cfg, GOOD, { preview: true })).toBeNull();
      const preview = (await target.reach(cfg, OTHER, { preview: true }))!;
      expect(preview.url).toBe(`${kube.url}/api/v1/namespaces/${ns}/services/web-preview:80/proxy`);
      expect(await get(preview, '/')).toEqual({ status: 200, body: '2.0.0\n' });
      expect(await throughService(ns, 'web')).toEqual({ status: 200, text: '1.0.0\n' });

      // The switch: one merge patch of the public selector, and the preview Service deleted.
      const before = kube.requestLog.length;
      await target.setTraffic(cfg, { versions: [{ version: OTHER, weight: 100 }], preview: null });
      const writes = kube.requestLog.slice(before).filter((e) => e.verb !== 'get' && e.verb !== 'list');
      expect(writes.map((e) => [e.verb, e.resource, e.name, e.verb === 'patch' ? e.contentType : null, e.status])).toEqual([
        ['patch', 'services', 'web', 'application/merge-patch+json', 200], ['delete', 'services', 'web-preview', null, 200],
      ]);
      expect(selector()).toEqual({ app: 'web', color: 'green' });
      expect(kube.get('service', ns, 'web-preview')).toBeUndefined();
      expect(await throughService(ns, 'web')).toEqual({ status: 200, text: '2.0.0\n' });
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: OTHER, weight: 100 }], preview: null });
      expect(await target.reach(cfg, OTHER, { preview: true })).toBeNull();

      // Back again (a rollback inside scaleDownDelay), and the same again changes nothing.
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 100 }], preview: null });
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 100 }], preview: null });
      expect(selector()).toEqual({ app: 'web', color: 'blue' });
      expect(await throughService(ns, 'web')).toEqual({ status: 200, text: '1.0.0\n' });

      await expect(target.setTraffic(cfg, { versions: [{ version: '7.7.7', weight: 100 }], preview: null })).rejects.toMatchObject({
        name: 'GangwayError', code: 'conflict', message: '7.7.7 of web does not run in dev (deployments web-blue and web-green hold 1.0.0 and 2.0.0)',
      });
      expect(selector()).toEqual({ app: 'web', color: 'blue' });

      expect(await target.scale(cfg, { version: OTHER, image: null }, 0)).toEqual([]);
      expect(spec(kube.get('deployment', ns, 'web-green')).replicas).toBe(0);
      await until('no pod of 2.0.0', async () => (await target.instances(cfg)).every((i) => i.version !== OTHER));
      expect((await target.instances(cfg)).map((i) => [i.version, i.state])).toEqual([[GOOD, 'ready']]);
    } finally {
      await drop(ns);
    }
  });

  it('puts a release rolled back to in the idle colour from its record, scaling the idle colour\'s old release to zero first', async () => {
    const { kube, target } = await world();
    const { cfg, ns, manifests } = await service({ strategy: 'blueGreen', instances: 1, image: 'fake.local/ok' });
    const holds = (color: string) => {
      const d = kube.get('deployment', ns, `web-${color}`);
      return [(meta(d).annotations as Record<string, string>)['gangway.io/version'], spec(d).replicas, podTemplate(d).containers[0]!.image, podTemplate(d).containers[0]!.env!.map((e) => e.name).sort()];
    };
    try {
      await target.scale(cfg, { version: GOOD, image: null }, 1);
      await ready(cfg, GOOD, 1);
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 100 }], preview: null });
      await target.scale(cfg, { version: OTHER, image: null }, 1);
      await ready(cfg, OTHER, 1);
      await target.setTraffic(cfg, { versions: [{ version: OTHER, weight: 100 }], preview: null });
      await target.scale(cfg, { version: GOOD, image: null }, 0);

      // The manifests change; 3.0.0 takes the idle blue colour with them.
      await writeFile(join(manifests, 'web.yaml'), (await readFile(join(manifests, 'web.yaml'), 'utf8')).replace('            - name: HEALTH_FILE\n', '            - name: MARK\n              value: changed\n            - name: HEALTH_FILE\n'));
      await target.scale(cfg, { version: '3.0.0', image: null }, 1);
      expect(holds('blue')).toEqual(['3.0.0', 1, 'fake.local/ok:3.0.0', ['APP_VERSION', 'HEALTH_FILE', 'MARK']]);
      await ready(cfg, '3.0.0', 1);
      await target.setTraffic(cfg, { versions: [{ version: '3.0.0', weight: 100 }], preview: null });

      // Back to 1.0.0: green is idle but still runs 2.0.0; it is emptied, then 1.0.0 lands there as it ran.
      const back = await target.scale(cfg, { version: GOOD, image: null }, 1);
      expect(back.map((i) => [i.version, i.detail?.color])).toEqual([[GOOD, 'green']]);
      expect(holds('green')).toEqual([GOOD, 1, 'fake.local/ok:1.0.0', ['APP_VERSION', 'HEALTH_FILE']]);
      expect(spec(kube.get('deployment', ns, 'web-green')).selector).toEqual({ matchLabels: { app: 'web', color: 'green' } });
      await ready(cfg, GOOD, 1);
      expect(live(await target.instances(cfg), OTHER)).toEqual([]);
      const records = kube.list('configmap', ns, { labelSelector: 'gangway.io/record=release' });
      expect(records.map((r) => (meta(r).annotations as Record<string, string>)['gangway.io/version']).sort()).toEqual([GOOD, OTHER, '3.0.0']);
    } finally {
      await drop(ns);
    }
  });
});

describe('kubernetes target: canary by replica counts', () => {
  it('weighs 10, 50 and 100 % on 4 instances as 1, 2 and 4 pods behind one Service, and traffic() reports the ready pods as the split', async () => {
    const { kube, target } = await world();
    const { cfg, ns } = await service({ strategy: 'canary', instances: 4, image: 'fake.local/ok' });
    const replicas = () => ['blue', 'green'].map((c) => spec(kube.get('deployment', ns, `web-${c}`)).replicas);
    const selector = () => spec(kube.get('service', ns, 'web')).selector;
    const split = (versions: Array<{ version: string; weight: number }>) => until(`traffic ${JSON.stringify(versions)}`, async () => {
      const t = await target.traffic(cfg);
      return JSON.stringify(t) === JSON.stringify({ versions, preview: null }) ? t : null;
    });
    try {
      expect(target.capabilities(cfg)).toMatchObject({ weights: 'replicaRatio', headerRoutes: false, sticky: false, preview: true, requestMetrics: false, nativeRolling: true });
      await target.scale(cfg, { version: GOOD, image: null }, 4);
      await ready(cfg, GOOD, 4);
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 100 }], preview: null });
      expect(selector()).toEqual({ app: 'web', color: 'blue' });

      await target.scale(cfg, { version: OTHER, image: null }, 1);
      await ready(cfg, OTHER, 1);
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 90 }, { version: OTHER, weight: 10 }], preview: null });
      expect(replicas()).toEqual([3, 1]);
      expect(selector()).toEqual({ app: 'web' });
      await split([{ version: GOOD, weight: 75 }, { version: OTHER, weight: 25 }]);

      await target.scale(cfg, { version: OTHER, image: null }, 2);
      await ready(cfg, OTHER, 2);
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 50 }, { version: OTHER, weight: 50 }], preview: null });
      expect(replicas()).toEqual([2, 2]);
      await split([{ version: GOOD, weight: 50 }, { version: OTHER, weight: 50 }]);

      await expect(target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 50 }, { version: OTHER, weight: 50 }], preview: null, headerRoute: { name: 'x-canary', value: 'yes', version: OTHER } }))
        .rejects.toMatchObject({ name: 'GangwayError', code: 'invalid_argument', message: 'web/dev: the kubernetes target cannot route by header (capabilities.headerRoutes is false)' });

      // 100 %: the canary gets every instance, ready before the Service selects it alone.
      await target.setTraffic(cfg, { versions: [{ version: OTHER, weight: 100 }], preview: null });
      expect(spec(kube.get('deployment', ns, 'web-green'))).toMatchObject({ replicas: 4 });
      expect((kube.get('deployment', ns, 'web-green')!.status as { readyReplicas: number }).readyReplicas).toBe(4);
      expect(replicas()).toEqual([2, 4]);
      expect(selector()).toEqual({ app: 'web', color: 'green' });
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: OTHER, weight: 100 }], preview: null });
    } finally {
      await drop(ns);
    }
  });
});

describe('kubernetes target: canary on an HTTPRoute', () => {
  it('writes exact backend weights to per-colour Services and a header rule to the canary, and traffic() reads them back', async () => {
    const { kube, target } = await world();
    const { cfg, ns, manifests } = await service({ strategy: 'canary', instances: 2, image: 'fake.local/ok', httpRoute: true });
    const route = () => spec(kube.get('httproute', ns, 'web'));
    const path = { path: { type: 'PathPrefix', value: '/' } };
    const common = { parentRefs: [{ name: 'shop-gateway', namespace: 'gateway' }], hostnames: ['web.example.com'] };
    try {
      expect(target.capabilities(cfg)).toMatchObject({ weights: 'exact', headerRoutes: true, sticky: false });
      await target.scale(cfg, { version: GOOD, image: null }, 2);
      await target.scale(cfg, { version: OTHER, image: null }, 1);
      // The route is written only when traffic moves.
      expect(route().rules).toBeUndefined();
      await ready(cfg, GOOD, 2);
      await ready(cfg, OTHER, 1);

      const headerRoute = { name: 'x-canary', value: 'yes', version: OTHER };
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 90 }, { version: OTHER, weight: 10 }], preview: null, headerRoute });
      expect(route()).toEqual({
        ...common,
        rules: [
          { matches: [{ ...path, headers: [{ type: 'Exact', name: 'x-canary', value: 'yes' }] }], backendRefs: [{ name: 'web-green', port: 80, weight: 1 }] },
          { matches: [path], backendRefs: [{ name: 'web-blue', port: 80, weight: 90 }, { name: 'web-green', port: 80, weight: 10 }] },
        ],
      });
      expect(['blue', 'green'].map((c) => spec(kube.get('service', ns, `web-${c}`)))).toMatchObject([
        { type: 'ClusterIP', selector: { app: 'web', color: 'blue' } }, { type: 'ClusterIP', selector: { app: 'web', color: 'green' } },
      ]);
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: GOOD, weight: 90 }, { version: OTHER, weight: 10 }], preview: null, headerRoute });
      expect(spec(kube.get('service', ns, 'web')).selector).toEqual({ app: 'web', color: 'blue' });
      // Each colour's Service reaches that colour's pods.
      expect(JSON.parse((await throughService(ns, 'web-green')).text)).toMatchObject({ status: 'UP', image: 'fake.local/ok:2.0.0' });
      expect(JSON.parse((await throughService(ns, 'web-blue')).text)).toMatchObject({ status: 'UP', image: 'fake.local/ok:1.0.0' });

      // Without the HTTPRoute in the manifests, the live one Gangway wrote is the base: its header rule is not taken for the route's own matches.
      await rm(join(manifests, 'httproute.yaml'));
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 30 }, { version: OTHER, weight: 70 }], preview: null, headerRoute });
      expect(route().rules).toEqual([
        { matches: [{ ...path, headers: [{ type: 'Exact', name: 'x-canary', value: 'yes' }] }], backendRefs: [{ name: 'web-green', port: 80, weight: 1 }] },
        { matches: [path], backendRefs: [{ name: 'web-blue', port: 80, weight: 30 }, { name: 'web-green', port: 80, weight: 70 }] },
      ]);
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 30 }, { version: OTHER, weight: 70 }], preview: null, headerRoute: null });
      expect(route()).toEqual({ ...common, rules: [{ matches: [path], backendRefs: [{ name: 'web-blue', port: 80, weight: 30 }, { name: 'web-green', port: 80, weight: 70 }] }] });
      expect(spec(kube.get('service', ns, 'web')).selector).toEqual({ app: 'web', color: 'green' });
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: GOOD, weight: 30 }, { version: OTHER, weight: 70 }], preview: null, headerRoute: null });

      await target.setTraffic(cfg, { versions: [{ version: OTHER, weight: 100 }], preview: null });
      expect(route().rules).toEqual([{ matches: [path], backendRefs: [{ name: 'web-green', port: 80, weight: 100 }] }]);
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: OTHER, weight: 100 }], preview: null, headerRoute: null });
    } finally {
      await drop(ns);
    }
  });
});

describe('kubernetes target: rollback', () => {
  it('applies the recorded objects of the release rolled back to, not the manifests as they are now, and scales a release back up after it was scaled to zero', async () => {
    const { kube, target } = await world();
    const { cfg, ns, manifests } = await service({ instances: 1 });
    // Server-side apply may keep a list's live order: compare the names, sorted.
    const env = () => podTemplate(kube.get('deployment', ns, 'web')).containers[0]!.env!.map((e) => e.name).sort();
    try {
      const first = await target.rollout(cfg, { version: GOOD, image: null });
      await statusUntil(cfg, first, isDone);
      const records = kube.list('configmap', ns, { labelSelector: 'gangway.io/record=release' });
      expect(records.map((r) => [meta(r).labels, meta(r).annotations])).toEqual([[
        { 'app.kubernetes.io/managed-by': 'gangway', 'gangway.io/service': 'web', 'gangway.io/environment': 'dev', 'gangway.io/record': 'release' },
        { 'gangway.io/version': GOOD },
      ]]);
      const recorded = JSON.parse((records[0]!.data as Record<string, string>)['objects.json']!) as { deployment: Obj };
      expect(meta(recorded.deployment).name).toBe('web');

      await writeFile(join(manifests, 'web.yaml'), (await readFile(join(manifests, 'web.yaml'), 'utf8')).replace('            - name: HEALTH_FILE\n', '            - name: MARK\n              value: changed\n            - name: HEALTH_FILE\n'));
      const second = await target.rollout(cfg, { version: OTHER, image: null });
      await statusUntil(cfg, second, isDone);
      expect(env()).toEqual(['APP_VERSION', 'HEALTH_FILE', 'MARK']);

      const back = await target.rollout(cfg, { version: GOOD, image: null });
      expect(back).toEqual({ version: GOOD, revision: 'generation 3' });
      expect(env()).toEqual(['APP_VERSION', 'HEALTH_FILE']);
      expect(await statusUntil(cfg, back, isDone)).toEqual({ state: 'done', reason: 'deployment "web" successfully rolled out' });
      expect((meta(kube.get('deployment', ns, 'web')).annotations as Record<string, string>)['deployment.kubernetes.io/revision']).toBe('3');
      const [pod] = await ready(cfg, GOOD, 1);
      expect(await get((await target.reach(cfg, GOOD))!, '/')).toEqual({ status: 200, body: '1.0.0\n' });

      // Scaled to zero by Gangway's own patch, then applied again: the apply takes replicas back.
      expect(await target.scale(cfg, { version: GOOD, image: null }, 0)).toEqual([]);
      const again = await target.scale(cfg, { version: GOOD, image: null }, 1);
      expect(again.map((i) => i.version)).toEqual([GOOD]);
      expect(again[0]!.id).not.toBe(pod!.id);
      expect(spec(kube.get('deployment', ns, 'web')).replicas).toBe(1);
    } finally {
      await drop(ns);
    }
  });
});
