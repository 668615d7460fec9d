/**
 * The Helm target against the FAKE Kubernetes API server and the FAKE helm (test/support), with
 * the test chart (test/fixtures/helm-chart: a Deployment and a Service named after the
 * release): given a service deployed through Helm, when it rolls out, rolls back, fails, or
 * runs blue-green and canary as two releases, then the Helm revisions and their Secrets, the
 * objects the post-renderer shaped, the Services Gangway switches and what `status` shows are
 * exactly as the Helm target's header says. Gangway's post-renderer runs from its TypeScript
 * source through the fake helm's module hooks (there is no build in a unit test).
 *
 * One fake API server serves the whole file; every test gets its own namespace. Pods run the
 * fake's `fake.local/ok` image (Ready shortly after start, no HTTP: the pods' readiness is their
 * health here; the health-path checks are the Kubernetes target's, tested there).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FAKE_HELM_BIN, FAKE_HELM_DIR, decodeReleaseSecret, readHelmLog } from '../../../test/support/fake-helm/index.js';
import { startFakeKube, type FakeKube, type Obj } from '../../../test/support/fake-kube/index.js';
import type { HelmTargetConfig } from '../../config/helm.js';
import { parseConfig } from '../../config/load.js';
import type { ServiceEnvConfig, StrategyConfig } from '../../config/types.js';
import { GangwayError } from '../../errors.js';
import { kubeConnector, type KubeConnector } from '../kubernetes/connect.js';
import type { RolloutContext, RolloutHandle, RolloutStatus } from '../target.js';
import { HelmCommandError, checkHelm } from './helm-cli.js';
import { HelmTarget } from './helm-target.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const CHART = join(ROOT, 'test/fixtures/helm-chart');
/** The same chart with a HorizontalPodAutoscaler of the Deployment. */
const CHART_HPA = join(ROOT, 'test/fixtures/helm-chart-hpa');
/** Gangway's post-renderer from source: node with the fake helm's TypeScript hooks. */
const POST_RENDERER = { command: process.execPath, args: ['--import', join(FAKE_HELM_DIR, 'ts-register.mjs'), join(ROOT, 'src/targets/helm/post-render-main.ts')] };
/** A hang guard on a loaded machine, never a claim about speed. */
const LIMIT_MS = 120_000;
const TEST_MS = 300_000;

interface World { kube: FakeKube; dir: string; kubeconfig: string; connector: KubeConnector; targets: HelmTarget[] }
let started: Promise<World> | undefined;

function world(): Promise<World> {
  started ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-helm-target-'));
    const kube = await startFakeKube();
    const kubeconfig = await kube.writeKubeconfig(dir);
    return { kube, dir, kubeconfig, connector: kubeConnector({ env: {} }), targets: [] };
  })();
  return started;
}

afterAll(async () => {
  if (!started) return;
  const w = await started.catch(() => null);
  if (!w) return;
  for (const t of w.targets) t.close();
  await w.connector.close();
  await w.kube.close();
  await rm(w.dir, { recursive: true, force: true });
}, 60_000);

/** A Helm target; `env` is added to the fake helm's environment (its log, injected failures). */
async function target(env: Record<string, string> = {}): Promise<HelmTarget> {
  const w = await world();
  const t = new HelmTarget({
    connect: (k) => w.connector.connect(k),
    pollMs: 50,
    postRenderer: POST_RENDERER,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', FAKE_HELM_POLL_MS: '50', ...env },
  });
  w.targets.push(t);
  return t;
}

let seq = 0;

/** `web` in dev through Helm, in a namespace of its own. */
async function service(o: { strategy?: StrategyConfig['kind']; instances?: number; helm?: Partial<HelmTargetConfig> } = {}): Promise<{ cfg: ServiceEnvConfig; ns: string }> {
  const w = await world();
  const ns = `h${++seq}`;
  await w.kube.namespace(ns);
  const strategy = o.strategy === 'blueGreen' ? '{ blueGreen: {} }' : o.strategy === 'canary' ? '{ canary: {} }' : '{ rolling: {} }';
  // The YAML schema of target.helm is written elsewhere: a Kubernetes config gives the rest, its target is replaced.
  const config = parseConfig(`project: shop
environments: { dev: {} }
services:
  web:
    target:
      kubernetes: { kubeconfig: ${JSON.stringify(w.kubeconfig)}, namespace: ${ns}, manifests: ${JSON.stringify(CHART)}, instances: ${o.instances ?? 2} }
    strategy: ${strategy}
`, join(w.dir, 'gangway.yaml'), { env: {} });
  const base = config.services.web!.dev!;
  const k = base.target as unknown as Record<string, unknown>;
  const helm: HelmTargetConfig = {
    kind: 'helm', instances: o.instances ?? 2, kubeconfig: w.kubeconfig, context: null, namespace: ns,
    deployment: 'web', container: null, service: 'web', httpRoute: null, port: null, image: null, restartLimit: 0, requestTimeoutMs: k.requestTimeoutMs as number,
    release: 'web', chart: CHART, chartVersion: null, values: [], imageKeys: { tag: 'image.tag', repository: null }, setString: {},
    timeoutMs: 60_000, helm: FAKE_HELM_BIN, ...o.helm,
  };
  // No health.path: the pods' readiness is their health (pathSet false), as without `health` in YAML.
  return { cfg: { ...base, health: { ...base.health, startTimeoutMs: 90_000 }, target: helm } as ServiceEnvConfig, ns };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + LIMIT_MS;
  for (;;) {
    const got = await fn();
    if (got !== null && got !== undefined && got !== false) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function finished(t: HelmTarget, cfg: ServiceEnvConfig, handle: RolloutHandle): Promise<RolloutStatus> {
  return until(`the rollout of ${handle.version} to end`, async () => {
    const s = await t.rolloutStatus(cfg, handle);
    return s.state === 'progressing' ? null : s;
  });
}

const ctx = (id: string, stage: RolloutContext['stage'] = 'deploy'): RolloutContext => ({ deploymentId: id, actor: 'ci', reason: null, stage });
const meta = (o: Obj | undefined): Obj => (o?.metadata ?? {}) as Obj;
const labels = (o: Obj | undefined): Record<string, string> => (meta(o).labels ?? {}) as Record<string, string>;
const spec = (o: Obj | undefined): Obj => (o?.spec ?? {}) as Obj;
const selector = (o: Obj | undefined): Record<string, string> => (spec(o).selector ?? {}) as Record<string, string>;
const image = (d: Obj | undefined): string => ((spec(spec(d).template as Obj).containers as Obj[])[0]!.image as string);
function secretRelease(kube: FakeKube, ns: string, release: string, v: number): ReturnType<typeof decodeReleaseSecret> | null {
  const s = kube.get('secret', ns, `sh.helm.release.v1.${release}.v${v}`);
  return s ? decodeReleaseSecret(s) : null;
}

describe('rolling: one release upgraded in place', () => {
  it('installs, upgrades, is idempotent on repeat, and rolls back to the revision that ran the stable release', async () => {
    const w = await world();
    const log = join(w.dir, 'rolling.log');
    const t = await target({ FAKE_HELM_LOG: log });
    const { cfg, ns } = await service();

    const h1 = await t.rollout(cfg, { version: '1.0.0', image: null }, ctx('d-1'));
    expect(h1).toEqual({ version: '1.0.0', revision: 'revision 1' });
    expect(await finished(t, cfg, h1)).toEqual({ state: 'done', reason: expect.any(String) as string });
    const upgrade = readHelmLog(log).find((a) => a[0] === 'upgrade')!;
    expect(upgrade.slice(0, 10)).toEqual(['upgrade', '--install', 'web', CHART, '--namespace', ns, '--kube-context', expect.any(String), '--kubeconfig', w.kubeconfig]);
    expect(upgrade).toEqual(expect.arrayContaining(['--set-string', 'image.tag=1.0.0', '--wait', '--timeout', '60s', '--description', 'gangway: deploy 1.0.0 (d-1 by ci)', '--post-renderer', process.execPath]));

    // The post-renderer put Gangway's labels on the chart's objects: the Kubernetes machinery finds the pods.
    const dep = w.kube.get('deployment', ns, 'web');
    expect(labels(dep)).toMatchObject({ 'app.kubernetes.io/managed-by': 'Helm', 'gangway.io/service': 'web', 'gangway.io/environment': 'dev' });
    expect((meta(dep).annotations as Record<string, string>)['meta.helm.sh/release-name']).toBe('web');
    expect(spec(dep).replicas).toBe(2);
    const pods = await until('2 ready pods of 1.0.0', async () => {
      const list = (await t.instances(cfg)).filter((i) => i.version === '1.0.0' && i.state === 'ready');
      return list.length === 2 ? list : null;
    });
    for (const p of pods) expect(labels(w.kube.get('pod', ns, p.id))).toMatchObject({ app: 'web', 'gangway.io/service': 'web', 'gangway.io/environment': 'dev', 'gangway.io/release': '1.0.0' });

    const h2 = await t.rollout(cfg, { version: '2.0.0', image: null }, ctx('d-2'));
    expect(h2).toEqual({ version: '2.0.0', revision: 'revision 2' });
    expect((await finished(t, cfg, h2)).state).toBe('done');
    expect(image(w.kube.get('deployment', ns, 'web'))).toBe('fake.local/ok:2.0.0');

    // Asked again (a resumed step), the same revision comes back and helm upgrades nothing.
    const upgrades = () => readHelmLog(log).filter((a) => a[0] === 'upgrade').length;
    expect(upgrades()).toBe(2);
    expect(await t.rollout(cfg, { version: '2.0.0', image: null }, ctx('d-2'))).toEqual(h2);
    expect(upgrades()).toBe(2);

    const back = await t.rollout(cfg, { version: '1.0.0', image: null }, ctx('d-3', 'rollback'));
    expect(back).toEqual({ version: '1.0.0', revision: 'revision 3' });
    expect(readHelmLog(log).find((a) => a[0] === 'rollback')).toEqual(['rollback', 'web', '1', '--namespace', ns, '--kube-context', expect.any(String), '--kubeconfig', w.kubeconfig, '--wait', '--timeout', '60s']);
    expect((await finished(t, cfg, back)).state).toBe('done');
    expect(image(w.kube.get('deployment', ns, 'web'))).toBe('fake.local/ok:1.0.0');
    expect([1, 2, 3].map((v) => secretRelease(w.kube, ns, 'web', v)?.info)).toEqual([
      expect.objectContaining({ status: 'superseded', description: 'gangway: deploy 1.0.0 (d-1 by ci)' }),
      expect.objectContaining({ status: 'superseded', description: 'gangway: deploy 2.0.0 (d-2 by ci)' }),
      expect.objectContaining({ status: 'deployed', description: 'Rollback to 1' }),
    ]);
    // The handle of a revision since replaced is failed, saying so.
    expect(await t.rolloutStatus(cfg, h2)).toEqual({ state: 'failed', reason: 'helm release web moved on to revision 3 (Rollback to 1) while revision 2 rolled out' });

    const st = await t.platformStatus(cfg);
    expect(st.lines).toEqual([{ label: 'helm release', value: 'web revision 3 (deployed, chart web-0.1.0)' }]);
    expect(st.drift).toBeNull();
    expect(st.history.map((r) => [r.revision, r.status, r.description])).toEqual([
      ['3', 'deployed', 'Rollback to 1'], ['2', 'superseded', 'gangway: deploy 2.0.0 (d-2 by ci)'], ['1', 'superseded', 'gangway: deploy 1.0.0 (d-1 by ci)'],
    ]);
  }, TEST_MS);

  it('shows drift when the current revision was made outside Gangway', async () => {
    const t = await target();
    const { cfg, ns } = await service({ instances: 1 });
    await t.rollout(cfg, { version: '1.0.0', image: null }, ctx('d-1'));
    const { runHelm } = await import('../../../test/support/fake-helm/index.js');
    const w = await world();
    const r = await runHelm(['upgrade', 'web', CHART, '-n', ns, '--set-string', 'image.tag=1.0.1'], { env: { KUBECONFIG: w.kubeconfig } });
    expect(r.code).toBe(0);
    const st = await t.platformStatus(cfg);
    expect(st.lines).toEqual([{ label: 'helm release', value: 'web revision 2 (deployed, chart web-0.1.0)' }]);
    expect(st.drift).toBe('helm release web revision 2 was not made by Gangway (Upgrade complete)');
  }, TEST_MS);
});

describe('faults', () => {
  it('helm exiting non-zero fails the rollout with its stderr, nothing stored', async () => {
    const w = await world();
    const t = await target({ FAKE_HELM_FAIL: 'upgrade', FAKE_HELM_FAIL_STDERR: 'Error: UPGRADE FAILED: the server is on fire' });
    const { cfg, ns } = await service({ instances: 1 });
    const err = await t.rollout(cfg, { version: '1.0.0', image: null }, ctx('d-1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HelmCommandError);
    expect(err).toMatchObject({ code: 'deployment_failed', message: 'helm upgrade failed: Error: UPGRADE FAILED: the server is on fire', stderr: 'Error: UPGRADE FAILED: the server is on fire' });
    expect(w.kube.list('secret', ns)).toEqual([]);
  }, TEST_MS);

  it('a chart that fails to install (an object it does not own) is one message, with no Deployment applied', async () => {
    const w = await world();
    const t = await target();
    const { cfg, ns } = await service({ instances: 1 });
    w.kube.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { ports: [{ port: 80 }] } });
    const err = await t.rollout(cfg, { version: '1.0.0', image: null }, ctx('d-1')).catch((e: unknown) => e) as GangwayError;
    expect(err).toBeInstanceOf(HelmCommandError);
    expect(err.message).toMatch(/^helm upgrade failed: Error: rendered manifests contain a resource that already exists\. Unable to continue with install: Service "web" in namespace "h\d+" exists and cannot be imported into the current release: invalid ownership metadata; /);
    expect(w.kube.get('deployment', ns, 'web')).toBeUndefined();
    expect(w.kube.list('secret', ns)).toEqual([]);
  }, TEST_MS);

  it('a chart without the configured Deployment fails in the post-renderer, before helm stores anything', async () => {
    const w = await world();
    const t = await target();
    const { cfg, ns } = await service({ instances: 1, helm: { deployment: 'api' } });
    const err = await t.rollout(cfg, { version: '1.0.0', image: null }, ctx('d-1')).catch((e: unknown) => e) as GangwayError;
    expect(err).toBeInstanceOf(HelmCommandError);
    expect(err.message).toContain('helm upgrade failed: Error: error while running post render on files: error while running command');
    expect(err.message).toContain('gangway: target.helm.deployment: no Deployment "api" in the chart\'s rendered manifests (found: web) (set target.helm.deployment to the Deployment the chart renders for the service)');
    expect(w.kube.list('secret', ns)).toEqual([]);
  }, TEST_MS);

  it('a missing helm binary is invalid_config naming the binary and target.helm.helm', async () => {
    const w = await world();
    const t = await target();
    const missing = join(w.dir, 'no-helm-here');
    const { cfg } = await service({ instances: 1, helm: { helm: missing } });
    const err = await t.rollout(cfg, { version: '1.0.0', image: null }, ctx('d-1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GangwayError);
    expect(err).toMatchObject({ code: 'invalid_config', message: `target.helm.helm: the helm binary "${missing}" was not found` });
    await expect(checkHelm(missing)).rejects.toMatchObject({ code: 'invalid_config', message: `target.helm.helm: the helm binary "${missing}" was not found` });
    expect(await checkHelm(FAKE_HELM_BIN)).toBe('v3.16.2');
    await expect(checkHelm(FAKE_HELM_BIN, { env: { ...process.env, FAKE_HELM_VERSION: 'v3.6.3' } }))
      .rejects.toMatchObject({ code: 'invalid_config', message: `target.helm.helm: "${FAKE_HELM_BIN}" is Helm v3.6.3; Gangway needs Helm 3.7 or later (--post-renderer-args)` });
  }, TEST_MS);
});

describe('two releases, one per colour', () => {
  it('blue-green: web-blue and web-green, the public Service kept out of both and switched by Gangway, and back', async () => {
    const w = await world();
    const t = await target();
    const { cfg, ns } = await service({ strategy: 'blueGreen' });

    await t.scale(cfg, { version: '1.0.0', image: null }, 2);
    await t.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: null });
    const blue = w.kube.get('deployment', ns, 'web-blue');
    expect((meta(blue).annotations as Record<string, string>)['meta.helm.sh/release-name']).toBe('web-blue');
    expect(spec(blue).replicas).toBe(2);
    expect(secretRelease(w.kube, ns, 'web-blue', 1)?.info.status).toBe('deployed');
    // The chart's Service is not in the release: Gangway's, selecting by Gangway's labels and the colour.
    expect(secretRelease(w.kube, ns, 'web-blue', 1)?.manifest).not.toContain('kind: Service');
    const svc = () => w.kube.get('service', ns, 'web');
    expect(selector(svc())).toEqual({ 'gangway.io/service': 'web', 'gangway.io/environment': 'dev', color: 'blue' });
    expect(meta(svc()).annotations ?? {}).not.toHaveProperty('meta.helm.sh/release-name');

    await t.scale(cfg, { version: '2.0.0', image: null }, 2);
    await t.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: '2.0.0' });
    expect(secretRelease(w.kube, ns, 'web-green', 1)?.info.status).toBe('deployed');
    expect(image(w.kube.get('deployment', ns, 'web-green'))).toBe('fake.local/ok:2.0.0');
    expect(selector(w.kube.get('service', ns, 'web-preview'))).toEqual({ 'gangway.io/service': 'web', 'gangway.io/environment': 'dev', color: 'green' });
    await until('2 ready pods of 2.0.0', async () => (await t.instances(cfg)).filter((i) => i.version === '2.0.0' && i.state === 'ready').length === 2);

    await t.setTraffic(cfg, { versions: [{ version: '2.0.0', weight: 100 }], preview: null });
    expect(selector(svc()).color).toBe('green');
    expect(await t.traffic(cfg)).toMatchObject({ versions: [{ version: '2.0.0', weight: 100 }], preview: null });
    await t.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: null });
    expect(selector(svc()).color).toBe('blue');

    // Gangway's count of a colour does not fight Helm: scaled to zero, the colour takes the next release by an upgrade.
    await t.scale(cfg, { version: '2.0.0', image: null }, 0);
    expect(spec(w.kube.get('deployment', ns, 'web-green')).replicas).toBe(0);
    await t.scale(cfg, { version: '3.0.0', image: null }, 1);
    expect(secretRelease(w.kube, ns, 'web-green', 2)?.info).toMatchObject({ status: 'deployed', description: 'gangway: deploy 3.0.0' });
    expect(spec(w.kube.get('deployment', ns, 'web-green')).replicas).toBe(1);

    const st = await t.platformStatus(cfg);
    expect(st.lines).toEqual([
      { label: 'helm release', value: 'web-blue revision 1 (deployed, chart web-0.1.0)' },
      { label: 'helm release', value: 'web-green revision 2 (deployed, chart web-0.1.0)' },
    ]);
    expect(st.drift).toBeNull();
    expect(st.history.map((r) => r.revision).sort()).toEqual(['web-blue 1', 'web-green 1', 'web-green 2']);
  }, TEST_MS);

  it('canary by replica ratio: both colours behind the public Service, counts set by Gangway', async () => {
    const w = await world();
    const t = await target();
    const { cfg, ns } = await service({ strategy: 'canary', instances: 4 });
    await t.scale(cfg, { version: '1.0.0', image: null }, 4);
    await t.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: null });
    await t.scale(cfg, { version: '2.0.0', image: null }, 1);
    await t.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 75 }, { version: '2.0.0', weight: 25 }], preview: null });
    expect(spec(w.kube.get('deployment', ns, 'web-blue')).replicas).toBe(3);
    expect(spec(w.kube.get('deployment', ns, 'web-green')).replicas).toBe(1);
    expect(selector(w.kube.get('service', ns, 'web'))).toEqual({ 'gangway.io/service': 'web', 'gangway.io/environment': 'dev' });
    const t2 = await until('traffic 75/25 by ready pods', async () => {
      const tr = await t.traffic(cfg);
      return tr.versions.length === 2 && tr.versions.every((v) => v.weight === (v.version === '1.0.0' ? 75 : 25)) ? tr : null;
    });
    expect(t2.versions).toEqual([{ version: '1.0.0', weight: 75 }, { version: '2.0.0', weight: 25 }]);
    expect(w.kube.list('secret', ns, { labelSelector: 'owner=helm' }).map((s) => meta(s).name).sort()).toEqual(['sh.helm.release.v1.web-blue.v1', 'sh.helm.release.v1.web-green.v1']);
  }, TEST_MS);
});

/** What the autoscaler controller does: a new count through the Deployment's scale subresource, under its own field manager. */
async function autoscale(kube: FakeKube, ns: string, deployment: string, replicas: number): Promise<void> {
  const r = await kube.request(`/apis/apps/v1/namespaces/${ns}/deployments/${deployment}/scale?fieldManager=kube-controller-manager`, {
    method: 'PATCH', body: { spec: { replicas } }, contentType: 'application/merge-patch+json',
  });
  expect(r.status).toBe(200);
}

describe('a HorizontalPodAutoscaler in the chart (test/fixtures/helm-chart-hpa), on two colours', () => {
  it('blue-green: kept out of both colour releases, one autoscaler pointed at the colour that serves; the new colour starts as large as the serving one, and the serving colour keeps the autoscaler\'s count', async () => {
    const w = await world();
    const t = await target();
    const { cfg, ns } = await service({ strategy: 'blueGreen', instances: 1, helm: { chart: CHART_HPA } });
    const hpa = (name: string) => w.kube.get('horizontalpodautoscalers.autoscaling', ns, name);
    const scales = () => (spec(hpa('web')).scaleTargetRef as { name: string } | undefined)?.name ?? null;
    const replicas = () => ['blue', 'green'].map((c) => (spec(w.kube.get('deployment', ns, `web-${c}`)).replicas as number | undefined) ?? null);

    await t.scale(cfg, { version: '1.0.0', image: null }, 1, ctx('d-1'));
    // Not in the colour's release, and not applied while no colour serves.
    expect(secretRelease(w.kube, ns, 'web-blue', 1)?.manifest).not.toContain('HorizontalPodAutoscaler');
    expect([replicas(), hpa('web'), hpa('web-blue')]).toEqual([[1, null], undefined, undefined]);
    await t.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: null });
    expect(scales()).toBe('web-blue');
    expect([meta(hpa('web')).annotations ?? {}, spec(hpa('web')).maxReplicas]).toEqual([{}, 6]);

    await autoscale(w.kube, ns, 'web-blue', 3);
    const started = await t.scale(cfg, { version: '2.0.0', image: null }, 1, ctx('d-2'));
    expect([replicas(), started.map((i) => i.detail?.color)]).toEqual([[3, 3], ['green', 'green', 'green']]);
    expect(scales()).toBe('web-blue');
    await t.setTraffic(cfg, { versions: [{ version: '2.0.0', weight: 100 }], preview: null });
    expect([scales(), hpa('web-green')]).toEqual(['web-green', undefined]);
    expect(await t.scale(cfg, { version: '1.0.0', image: null }, 0)).toEqual([]);
    expect(replicas()).toEqual([0, 3]);

    // The autoscaler moves green to 5; the serving release asked for again leaves that count alone.
    await autoscale(w.kube, ns, 'web-green', 5);
    expect(await t.scale(cfg, { version: '2.0.0', image: null }, 1, ctx('d-3'))).toHaveLength(5);
    expect(replicas()).toEqual([0, 5]);
    // Each colour's one revision names the deployment that made it; the autoscaler made none.
    expect([secretRelease(w.kube, ns, 'web-blue', 1)?.info.description, secretRelease(w.kube, ns, 'web-green', 1)?.info.description, secretRelease(w.kube, ns, 'web-green', 2)])
      .toEqual(['gangway: deploy 1.0.0 (d-1 by ci)', 'gangway: deploy 2.0.0 (d-2 by ci)', null]);
  }, TEST_MS);

  it('canary by pod counts: refuses a split the autoscaler would undo, before anything changes', async () => {
    const w = await world();
    const t = await target();
    const { cfg, ns } = await service({ strategy: 'canary', instances: 2, helm: { chart: CHART_HPA } });
    const replicas = () => ['blue', 'green'].map((c) => spec(w.kube.get('deployment', ns, `web-${c}`)).replicas);
    await t.scale(cfg, { version: '1.0.0', image: null }, 2);
    await t.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: null });
    await t.scale(cfg, { version: '2.0.0', image: null }, 1);
    expect(replicas()).toEqual([2, 1]);
    await expect(t.setTraffic(cfg, { versions: [{ version: '1.0.0', weight: 90 }, { version: '2.0.0', weight: 10 }], preview: null })).rejects.toMatchObject({
      name: 'GangwayError', code: 'invalid_argument',
      message: 'web/dev: HorizontalPodAutoscaler "web" scales Deployment web, but a canary without target.helm.httpRoute weighs traffic by setting both colours\' pod counts, which the autoscaler would undo; traffic left where it was',
      hint: 'add target.helm.httpRoute (its weights leave pod counts to the autoscaler), deploy with blueGreen, or remove the autoscaler from the manifests',
    });
    expect([replicas(), selector(w.kube.get('service', ns, 'web'))]).toEqual([[2, 1], { 'gangway.io/service': 'web', 'gangway.io/environment': 'dev', color: 'blue' }]);
  }, TEST_MS);
});

describe('placeholders in --set-string', () => {
  it('are filled in, and a value with a comma stays one value', async () => {
    const w = await world();
    const log = join(w.dir, 'set.log');
    const values = join(w.dir, 'values-set.yaml');
    await writeFile(values, 'replicas: 1\n');
    const t = await target({ FAKE_HELM_LOG: log });
    const { cfg } = await service({ instances: 1, helm: { values: [values], setString: { 'podAnnotations.env': '${environment}', note: 'a,b' }, imageKeys: { tag: 'image.tag', repository: 'image.repository' }, image: 'fake.local/ok' } });
    await t.rollout(cfg, { version: '1.0.0', image: null }, ctx('d-1'));
    const up = readHelmLog(log).find((a) => a[0] === 'upgrade')!;
    expect(up).toEqual(expect.arrayContaining(['-f', values]));
    const sets = up.flatMap((a, i) => (a === '--set-string' ? [up[i + 1]] : []));
    expect(sets).toEqual(['image.tag=1.0.0', 'image.repository=fake.local/ok', 'podAnnotations.env=dev', 'note=a\\,b']);
  }, TEST_MS);
});
