/**
 * The Kubernetes target against the FAKE Kubernetes API server (test/support/fake-kube), through
 * the real client and a kubeconfig the fake writes: the shared target contract, then each
 * layout as the runbooks run it — the Deployment's own rolling update judged by `kubectl rollout
 * status`'s rules, blue-green by a selector patch, a canary by replica counts or by an
 * HTTPRoute's weights, and a rollback that applies what a release ran; then Gangway's own checks
 * of `health.path` through the pod proxy, the pruning of release records, and a
 * HorizontalPodAutoscaler in the manifests (the fake stores it; its controller's writes are
 * made by the test, through the Deployment's scale subresource).
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
import { KubernetesTarget, RELEASE_RECORDS_KEPT } from './kubernetes-target.js';
import { appliedBy, type KubeObject } from './objects.js';

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
  /** The service's `health` (YAML flow mapping). */
  health?: string;
  /** More manifest files (name → text) beside web.yaml. */
  files?: Record<string, string>;
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
  for (const [file, text] of Object.entries(o.files ?? {})) await writeFile(join(manifests, file), text);
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
${o.httpRoute ? '        httpRoute: web\n' : ''}${o.image ? `        image: ${o.image}\n` : ''}    health: ${o.health ?? '{ path: /health, interval: 100ms, timeout: 10s, startTimeout: 90s }'}
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
        expect(i).toMatchObject({ version: GOOD, state: 'ready', restarts: 0, consecutiveFailures: 0, failure: null, lastHealth: { ok: true, detail: '/health: status 200' } });
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
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: GOOD, weight: 100 }], preview: null, previewEndpoint: 'svc/web-preview' });

      const second = await target.scale(cfg, { version: OTHER, image: null }, 1);
      expect(second.map((i) => [i.version, i.detail?.color])).toEqual([[OTHER, 'green']]);
      expect(selector()).toEqual({ app: 'web', color: 'blue' });
      await ready(cfg, OTHER, 1);
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 100 }], preview: OTHER });
      expect(spec(kube.get('service', ns, 'web-preview'))).toMatchObject({ type: 'ClusterIP', selector: { app: 'web', color: 'green' } });
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: GOOD, weight: 100 }], preview: OTHER, previewEndpoint: 'svc/web-preview' });
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
      expect(await target.traffic(cfg)).toEqual({ versions: [{ version: OTHER, weight: 100 }], preview: null, previewEndpoint: 'svc/web-preview' });
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
        { 'gangway.io/version': GOOD, 'gangway.io/recorded-at': expect.stringMatching(/^\d+$/) as string },
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

/** web.yaml with the readiness probe on /info: the kubelet finds a pod Ready whatever /health answers. */
const probeInfo = (y: string) => y.replace('httpGet: { path: /health, port: http }', 'httpGet: { path: /info, port: http }');

describe('kubernetes target: health.path checked through the pod proxy', () => {
  it('keeps a pod Ready by its own probe but failing /health starting, and the rollout waiting; ready once /health passes; unhealthy after failureThreshold failures in a row', async () => {
    const { kube, dir, target } = await world();
    const { cfg, ns } = await service({ instances: 1, edit: probeInfo, health: '{ path: /health, expect: { status: 200, json: { status: UP } }, interval: 100ms, timeout: 10s, failureThreshold: 2, startTimeout: 90s }' });
    const sick = join(dir, 'unhealthy-6.0.0');
    const mine = async () => live(await target.instances(cfg), '6.0.0');
    const podReady = (name: string) => ((kube.get('pod', ns, name)?.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? [])
      .some((x) => x.type === 'Ready' && x.status === 'True');
    const failed = { ok: false, detail: '/health: expected status 200, got 503' };
    await writeFile(sick, '');
    try {
      const handle = await target.rollout(cfg, { version: '6.0.0', image: null });
      const [starting] = await until('a pod Ready by its probe whose /health fails', async () => {
        const list = await mine();
        return list.length === 1 && list[0]!.lastHealth?.detail.startsWith('/health') ? list : null;
      });
      // The first check of a Ready pod counts: it answers its readiness probe, so it listens.
      expect(starting).toMatchObject({ state: 'starting', readyAt: null, consecutiveFailures: 1, lastHealth: failed });
      expect(podReady(starting!.id)).toBe(true);
      expect(await statusUntil(cfg, handle, (s) => s.reason.startsWith('Waiting for pod '))).toEqual({
        state: 'progressing', reason: `Waiting for pod ${starting!.id} to pass its health check (/health: expected status 200, got 503)`,
      });

      await rm(sick);
      const [healthy] = await until('the pod passing /health', async () => {
        const list = await mine();
        return list[0]?.state === 'ready' ? list : null;
      });
      expect(healthy).toMatchObject({ id: starting!.id, consecutiveFailures: 0, lastHealth: { ok: true, detail: '/health: status 200' } });
      expect(healthy!.readyAt).toBe(healthy!.lastHealth!.at);
      expect(await statusUntil(cfg, handle, isDone)).toEqual({ state: 'done', reason: 'deployment "web" successfully rolled out' });

      // /health fails again: one failure leaves it ready, the second in a row (failureThreshold 2) does not.
      await writeFile(sick, '');
      const [once] = await until('a failed check', async () => {
        const list = await mine();
        return list[0]!.consecutiveFailures > 0 ? list : null;
      });
      expect(once).toMatchObject({ state: 'ready', consecutiveFailures: 1, readyAt: healthy!.readyAt, lastHealth: failed });
      const [unhealthy] = await until('the pod unhealthy', async () => {
        const list = await mine();
        return list[0]!.state === 'unhealthy' ? list : null;
      });
      expect(unhealthy).toMatchObject({ id: starting!.id, consecutiveFailures: 2, readyAt: healthy!.readyAt, lastHealth: failed });
      expect(podReady(unhealthy!.id)).toBe(true);
    } finally {
      await rm(sick, { force: true });
      await drop(ns);
    }
  });

  it('sends one request per pod and health.interval however often instances() is asked; checks the pods it started after a restart, and not pods older than the start and the watch', async () => {
    const w = await world();
    const { kube, dir, target } = w;
    const { cfg, ns } = await service({ instances: 2, edit: probeInfo, health: '{ path: /health, interval: 1h, timeout: 10s, startTimeout: 90s }' });
    const sick = join(dir, 'unhealthy-6.1.0');
    // Checks of several pods run at once: their order is not the point.
    const proxied = () => kube.requestLog.filter((e) => e.resource === 'pods/proxy' && e.namespace === ns).map((e) => `${e.verb} ${e.name}`).sort();
    const states = (list: TargetInstance[]) => list.map((i) => [i.state, i.consecutiveFailures, i.lastHealth?.detail]);
    try {
      await target.rollout(cfg, { version: '6.1.0', image: null });
      const pods = await ready(cfg, '6.1.0', 2);
      expect(proxied()).toEqual(pods.map((p) => `get ${p.id}:8080`).sort());
      for (let i = 0; i < 3; i++) expect(states(await target.instances(cfg))).toEqual([['ready', 0, '/health: status 200'], ['ready', 0, '/health: status 200']]);
      expect(proxied()).toHaveLength(2);

      // Another process (an orchestrator restarted mid-watch): its first look checks the pods, which are young.
      await writeFile(sick, '');
      const restarted = new KubernetesTarget({ connect: (k) => w.connector.connect(k), pollMs: 50 });
      for (let i = 0; i < 3; i++) {
        expect(states(await restarted.instances(cfg))).toEqual([['starting', 1, '/health: expected status 200, got 503'], ['starting', 1, '/health: expected status 200, got 503']]);
      }
      expect(proxied()).toEqual(pods.flatMap((p) => [`get ${p.id}:8080`, `get ${p.id}:8080`]).sort());

      // Pods older than health.startTimeout and rollback.watch, of a release this process never acted on: their Ready condition is their health.
      const settled = { ...cfg, health: { ...cfg.health, startTimeoutMs: 1 }, rollback: { ...cfg.rollback, watchMs: 0 } };
      const later = new KubernetesTarget({ connect: (k) => w.connector.connect(k), pollMs: 50 });
      expect(states(await later.instances(settled))).toEqual([['ready', 0, 'pod Ready'], ['ready', 0, 'pod Ready']]);
      // health.path left to its default: not checked either.
      const unset = { ...cfg, health: Object.assign({}, cfg.health, { pathSet: false }) };
      expect(states(await new KubernetesTarget({ connect: (k) => w.connector.connect(k), pollMs: 50 }).instances(unset))).toEqual([['ready', 0, 'pod Ready'], ['ready', 0, 'pod Ready']]);
      expect(proxied()).toHaveLength(4);
    } finally {
      await rm(sick, { force: true });
      await drop(ns);
    }
  });
});

describe('kubernetes target: health checks when the pods checked before are gone', () => {
  it('keeps the checks of new pods once the last checked pod is forgotten: one request per pod and interval still', async () => {
    const { kube, connector } = await world();
    const health = '{ path: /health, interval: 1h, timeout: 10s, startTimeout: 90s }';
    const first = await service({ instances: 1, edit: probeInfo, health });
    const second = await service({ instances: 1, edit: probeInfo, health });
    // One process for both, as an orchestrator whose service moved to another namespace.
    const target = new KubernetesTarget({ connect: (k) => connector.connect(k), pollMs: 50 });
    const proxied = (ns: string) => kube.requestLog.filter((e) => e.resource === 'pods/proxy' && e.namespace === ns).length;
    const podsReady = (ns: string) => kube.list('pod', ns).filter((p) => ((p.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? [])
      .some((x) => x.type === 'Ready' && x.status === 'True')).length;
    try {
      await target.rollout(first.cfg, { version: '7.0.0', image: null });
      await until('the first pod checked and ready', async () => (await target.instances(first.cfg)).some((i) => i.state === 'ready'));
      expect(proxied(first.ns)).toBe(1);
      // The pod of the second namespace is Ready before the target first lists it: the same call
      // forgets the first pod (gone from this listing) and checks the new one.
      await target.rollout(second.cfg, { version: '7.0.0', image: null });
      await until('the second pod Ready by its probe', async () => podsReady(second.ns) === 1);
      for (let i = 0; i < 3; i++) expect((await target.instances(second.cfg)).map((x) => [x.state, x.lastHealth?.detail])).toEqual([['ready', '/health: status 200']]);
      expect(proxied(second.ns)).toBe(1);
    } finally {
      await drop(first.ns);
      await drop(second.ns);
    }
  });
});

describe('kubernetes target: release records', () => {
  it(`keeps the newest ${RELEASE_RECORDS_KEPT} records and those of the releases the Deployment holds, and deletes the others by name once a new one is written`, async () => {
    const w = await world();
    const { kube, target } = w;
    const { cfg, ns } = await service({ instances: 1, image: 'fake.local/ok' });
    const records = () => kube.list('configmap', ns, { labelSelector: 'gangway.io/record=release,gangway.io/service=web,gangway.io/environment=dev' });
    const versionOf = (r: Obj) => (meta(r).annotations as Record<string, string>)['gangway.io/version']!;
    const versions = () => records().map(versionOf).sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]));
    const release = (n: number) => `1.0.${n}`;
    const releases = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => release(from + i));
    try {
      for (let n = 1; n <= 10; n++) await target.rollout(cfg, { version: release(n), image: null });
      expect(versions()).toEqual(releases(1, 10));
      const nameOf = new Map(records().map((r) => [versionOf(r), String(meta(r).name)]));

      // Back to 1.0.1 (its record is applied, none written); then 1.0.11: 1.0.1 is the oldest of 11, but the Deployment holds it.
      await target.rollout(cfg, { version: release(1), image: null });
      await target.rollout(cfg, { version: release(11), image: null });
      expect(versions()).toEqual(releases(1, 11));

      const before = kube.requestLog.length;
      await target.rollout(cfg, { version: release(12), image: null });
      expect(versions()).toEqual(releases(3, 12));
      const calls = kube.requestLog.slice(before).filter((e) => e.resource === 'configmaps' && e.verb !== 'get' && e.verb !== 'patch');
      expect(calls.map((e) => [e.verb, e.name, decodeURIComponent(e.query), e.status])).toEqual([
        ['list', '', 'labelSelector=gangway.io/record=release,gangway.io/service=web,gangway.io/environment=dev', 200],
        ['delete', nameOf.get(release(2)), '', 200],
        ['delete', nameOf.get(release(1)), '', 200],
      ]);

      // Without the right to delete ConfigMaps the release still rolls out; the failure is logged.
      const warnings: unknown[] = [];
      const logged = new KubernetesTarget({ connect: (k) => w.connector.connect(k), pollMs: 50, log: { info: () => {}, warn: (o, m) => warnings.push([m, o]), error: () => {} } });
      const lift = kube.deny({ verb: 'delete', resource: 'configmaps', namespace: ns });
      try {
        expect(await logged.rollout(cfg, { version: release(13), image: null })).toEqual({ version: release(13), revision: 'generation 14' });
      } finally {
        lift();
      }
      expect(versions()).toEqual(releases(3, 13));
      expect(warnings).toEqual([['could not prune release records', {
        service: 'web', environment: 'dev', namespace: ns, err: expect.stringMatching(/^forbidden: cannot delete configmaps in namespace /) as string,
      }]]);
    } finally {
      await drop(ns);
    }
  });
});

/** A HorizontalPodAutoscaler of the service's Deployment, as a team adds one to its manifests. */
const autoscalerYaml = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: web }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  minReplicas: 1
  maxReplicas: 6
  metrics:
    - type: Resource
      resource: { name: cpu, target: { type: Utilization, averageUtilization: 70 } }
`;

/** What the autoscaler controller does: a new count through the Deployment's scale subresource, under its own field manager. */
async function autoscale(ns: string, deployment: string, replicas: number): Promise<void> {
  const { kube } = await world();
  const r = await kube.request(`/apis/apps/v1/namespaces/${ns}/deployments/${deployment}/scale?fieldManager=kube-controller-manager`, {
    method: 'PATCH', body: { spec: { replicas } }, contentType: 'application/merge-patch+json',
  });
  expect(r.status).toBe(200);
}

describe('kubernetes target: a HorizontalPodAutoscaler in the manifests', () => {
  it('rolling: hands spec.replicas over without a dip, then leaves it out of every apply; zero stops the Deployment and the next release starts it again', async () => {
    const { kube, target } = await world();
    const { cfg, ns, manifests } = await service({ instances: 2, image: 'fake.local/ok' });
    const dep = () => kube.get('deployment', ns, 'web') as KubeObject | undefined;
    const replicas = () => [spec(dep()).replicas, appliedBy(dep()!, 'gangway', ['spec', 'replicas'])];
    try {
      await target.rollout(cfg, { version: '1.0.0', image: null });
      expect(replicas()).toEqual([2, true]);

      await writeFile(join(manifests, 'hpa.yaml'), autoscalerYaml);
      await target.rollout(cfg, { version: '2.0.0', image: null });
      // Gangway's apply still owned the count: it applies the live one, so nothing drops to one pod.
      expect(replicas()).toEqual([2, true]);
      expect(spec(kube.get('horizontalpodautoscalers.autoscaling', ns, 'web')).scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' });

      await autoscale(ns, 'web', 4);
      expect(replicas()).toEqual([4, false]);
      const handle = await target.rollout(cfg, { version: '3.0.0', image: null });
      expect([...replicas(), podTemplate(dep()).containers[0]!.image]).toEqual([4, false, 'fake.local/ok:3.0.0']);
      expect(await statusUntil(cfg, handle, isDone)).toEqual({ state: 'done', reason: 'deployment "web" successfully rolled out' });
      expect(live(await target.instances(cfg), '3.0.0')).toHaveLength(4);

      expect(await target.scale(cfg, { version: '3.0.0', image: null }, 0)).toEqual([]);
      expect(replicas()).toEqual([0, false]);
      await target.rollout(cfg, { version: '4.0.0', image: null });
      expect(replicas()).toEqual([2, true]);
    } finally {
      await drop(ns);
    }
  });

  it('blue-green: points the autoscaler at the colour that serves, starts the new colour as large as the serving one, and leaves the serving colour\'s count to it', async () => {
    const { kube, target } = await world();
    const { cfg, ns } = await service({ strategy: 'blueGreen', instances: 1, image: 'fake.local/ok', files: { 'hpa.yaml': autoscalerYaml } });
    const replicas = () => ['blue', 'green'].map((c) => (spec(kube.get('deployment', ns, `web-${c}`)).replicas as number | undefined) ?? null);
    const scales = () => (spec(kube.get('horizontalpodautoscalers.autoscaling', ns, 'web')).scaleTargetRef as { name: string } | undefined)?.name ?? null;
    try {
      await target.scale(cfg, { version: GOOD, image: null }, 1);
      // No colour serves yet: the autoscaler is not applied.
      expect([replicas(), kube.get('horizontalpodautoscalers.autoscaling', ns, 'web')]).toEqual([[1, null], undefined]);
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 100 }], preview: null });
      expect(scales()).toBe('web-blue');

      await autoscale(ns, 'web-blue', 3);
      const started = await target.scale(cfg, { version: OTHER, image: null }, 1);
      expect([replicas(), started.map((i) => i.detail?.color)]).toEqual([[3, 3], ['green', 'green', 'green']]);
      expect(scales()).toBe('web-blue');
      await target.setTraffic(cfg, { versions: [{ version: OTHER, weight: 100 }], preview: null });
      expect(scales()).toBe('web-green');
      expect(await target.scale(cfg, { version: GOOD, image: null }, 0)).toEqual([]);
      expect(replicas()).toEqual([0, 3]);

      // The autoscaler moves green to 5; the serving release applied again leaves that count alone.
      await autoscale(ns, 'web-green', 5);
      expect(await target.scale(cfg, { version: OTHER, image: null }, 1)).toHaveLength(5);
      expect(replicas()).toEqual([0, 5]);
    } finally {
      await drop(ns);
    }
  });

  it('canary by pod counts: refuses a split the autoscaler would undo, before anything changes', async () => {
    const { kube, target } = await world();
    const { cfg, ns } = await service({ strategy: 'canary', instances: 2, image: 'fake.local/ok', files: { 'hpa.yaml': autoscalerYaml } });
    const replicas = () => ['blue', 'green'].map((c) => spec(kube.get('deployment', ns, `web-${c}`)).replicas);
    try {
      await target.scale(cfg, { version: GOOD, image: null }, 2);
      await target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 100 }], preview: null });
      await target.scale(cfg, { version: OTHER, image: null }, 1);
      expect(replicas()).toEqual([2, 1]);
      await expect(target.setTraffic(cfg, { versions: [{ version: GOOD, weight: 90 }, { version: OTHER, weight: 10 }], preview: null })).rejects.toMatchObject({
        name: 'GangwayError', code: 'invalid_argument',
        message: 'web/dev: HorizontalPodAutoscaler "web" scales Deployment web, but a canary without target.kubernetes.httpRoute weighs traffic by setting both colours\' pod counts, which the autoscaler would undo; traffic left where it was',
      });
      expect([replicas(), spec(kube.get('service', ns, 'web')).selector]).toEqual([[2, 1], { app: 'web', color: 'blue' }]);
    } finally {
      await drop(ns);
    }
  });
});
