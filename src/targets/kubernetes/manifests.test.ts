/**
 * Reading and shaping a service's manifests for a release: files and folders read as `kubectl
 * apply -f` reads them, kustomize overlays rendered by the real `kubectl kustomize`, and the
 * shaping — the release's image in the named container, Gangway's labels, the colour layout's
 * names, labels and selectors, the rolling strategy's surge — plus the copies Gangway makes of
 * the public Service, what a release record turns back into, and how a HorizontalPodAutoscaler
 * in the manifests takes the Deployment's replicas over.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KUBECTL_BIN, KUBECTL_PACKAGE } from '../../../test/support/fake-kube/kubectl.js';
import { requireOrSkip } from '../../../test/support/require.js';
import type { KubernetesTargetConfig } from '../../config/kubernetes.js';
import { GangwayError } from '../../errors.js';
import { autoscaledReplicas, autoscalerOf, colorService, forApply, imageRepository, loadObjects, parseObjects, pointAutoscaler, releaseImage, shapeRelease, unshapeRelease, type ShapeInput } from './manifests.js';
import { appliedBy, clone, fnv1a, versionLabel, type KubeAutoscaler, type KubeDeployment, type KubeObject, type KubeService } from './objects.js';

const FIXTURES = resolve(import.meta.dirname, '../../../test/fixtures/kubernetes');
const hasKubectl = requireOrSkip('the kustomize tests of src/targets/kubernetes/manifests.test.ts', KUBECTL_PACKAGE, existsSync(KUBECTL_BIN));

const K: KubernetesTargetConfig = {
  kind: 'kubernetes', instances: 3, kubeconfig: null, context: null, namespace: 'shop', source: { kind: 'manifests', path: join(FIXTURES, 'web.yaml') },
  deployment: 'web', container: null, service: 'web', httpRoute: null, port: null, image: null, restartLimit: 0, kubectl: KUBECTL_BIN, requestTimeoutMs: 30_000,
};

/** A Deployment `web` with a sidecar before the app container, its Service, a ConfigMap and a cluster-scoped object. */
function objects(): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { MODE: 'fast' } },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['batch'] }] },
        template: {
          metadata: { labels: { app: 'web' }, annotations: { 'prometheus.io/scrape': 'true' } },
          spec: { containers: [{ name: 'proxy', image: 'envoyproxy/envoy:v1.31' }, { name: 'web', image: 'registry:5000/shop/web:1.0.0', ports: [{ containerPort: 8080 }] }] },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }] } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'web-reader' } },
  ];
}

function input(o: Partial<ShapeInput> = {}): ShapeInput {
  return { k: { ...K, container: 'web' }, service: 'web', environment: 'prod', namespace: 'shop', version: '1.2.0', image: null, replicas: 3, layout: { kind: 'single' }, ...o };
}

/** The error a promise or function fails with. */
async function failure(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('loadObjects and parseObjects', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gw-manifests-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the .yaml, .yml and .json files of a folder in name order, flattening Lists and skipping empty documents', async () => {
    const folder = join(dir, 'k8s');
    await mkdir(folder);
    await writeFile(join(folder, 'b-web.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: b1 }\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata: { name: b2 }\n');
    await writeFile(join(folder, 'a-list.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a1' } }, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a2' } }] }));
    await writeFile(join(folder, 'c.yml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c1 }\n');
    await writeFile(join(folder, 'README.md'), '# not a manifest\n');
    const got = await loadObjects({ source: { kind: 'manifests', path: folder }, kubectl: KUBECTL_BIN });
    expect(got.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Service/a1', 'Service/a2', 'ConfigMap/b1', 'Secret/b2', 'ConfigMap/c1']);
  });

  it('reads one file, with YAML merge keys as Kubernetes reads them', async () => {
    const file = join(dir, 'merge.yaml');
    await writeFile(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: merged }\ndata:\n  <<: &defaults { A: "1", B: "2" }\n  B: "3"\n');
    expect(await loadObjects({ source: { kind: 'manifests', path: file }, kubectl: KUBECTL_BIN })).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'merged' }, data: { A: '1', B: '3' } },
    ]);
  });

  it('names the path when it does not exist or holds no manifest, and the file and line of invalid YAML', async () => {
    const missing = join(dir, 'nope');
    expect(await failure(() => loadObjects({ source: { kind: 'manifests', path: missing }, kubectl: KUBECTL_BIN }))).toMatchObject({
      name: 'GangwayError', code: 'invalid_argument', message: `target.kubernetes.manifests: ${missing} does not exist`, hint: 'point manifests at a YAML file or a folder of them',
    });
    const empty = await mkdtemp(join(dir, 'empty-'));
    expect(await failure(() => loadObjects({ source: { kind: 'manifests', path: empty }, kubectl: KUBECTL_BIN }))).toMatchObject({
      code: 'invalid_argument', message: `target.kubernetes.manifests: no .yaml, .yml or .json file in ${empty}`,
    });
    const bad = await failure(() => parseObjects('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x\n', '/k8s/web.yaml'));
    expect(bad).toBeInstanceOf(GangwayError);
    expect(bad).toMatchObject({
      code: 'invalid_argument', message: '/k8s/web.yaml:4:1: invalid YAML: Flow map in block collection must be sufficiently indented and end with a }', hint: 'fix the manifest',
    });
    expect(await failure(() => parseObjects('apiVersion: v1\nkind: ConfigMap\nmetadata: { labels: {} }\n', '/k8s/web.yaml'))).toMatchObject({
      code: 'invalid_argument', message: '/k8s/web.yaml: every object needs apiVersion, kind and metadata.name', hint: 'fix the manifest',
    });
  });

  it.skipIf(!hasKubectl)('renders a kustomize overlay with the real kubectl kustomize: patches, labels and generated names applied', async () => {
    const got = await loadObjects({ source: { kind: 'kustomize', path: join(FIXTURES, 'kustomize/overlay') }, kubectl: KUBECTL_BIN });
    expect(got.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['ConfigMap/web-settings-tmk75tcf47', 'Service/web', 'Deployment/web']);
    const dep = got[2] as KubeDeployment;
    expect(dep.metadata.labels).toEqual({ app: 'web', tier: 'frontend' });
    expect(dep.spec?.template?.spec.containers).toEqual([{ name: 'web', image: 'registry.example.com/shop/web:1.0.0', env: [{ name: 'PROFILE', value: 'production' }], ports: [{ name: 'http', containerPort: 8080 }] }]);
    const shaped = shapeRelease(got, input({ k: { ...K, source: { kind: 'kustomize', path: join(FIXTURES, 'kustomize/overlay') } }, layout: { kind: 'color', color: 'blue' } }));
    expect([shaped.deployment.metadata.name, shaped.service?.metadata.name, shaped.others.map((o) => o.metadata.name)]).toEqual(['web-blue', 'web', ['web-settings-tmk75tcf47']]);
  });

  it.skipIf(!hasKubectl)('reports kustomize\'s own error for an overlay it refuses', async () => {
    const dirOf = join(FIXTURES, 'kustomize/broken');
    const err = await failure(() => loadObjects({ source: { kind: 'kustomize', path: dirOf }, kubectl: KUBECTL_BIN }));
    expect(err).toMatchObject({ name: 'GangwayError', code: 'invalid_argument', hint: 'fix the overlay; `kubectl kustomize <folder>` shows the same error' });
    expect((err as Error).message).toMatch(new RegExp(`^target\\.kubernetes\\.kustomize: \`${KUBECTL_BIN} kustomize ${dirOf}\` failed: .*accumulating resources.*missing\\.yaml`, 's'));
  });

  it('says which kubectl is missing when it cannot render an overlay', async () => {
    const dirOf = join(FIXTURES, 'kustomize/overlay');
    expect(await failure(() => loadObjects({ source: { kind: 'kustomize', path: dirOf }, kubectl: '/nonexistent/kubectl' }))).toMatchObject({
      name: 'GangwayError', code: 'invalid_argument', message: `target.kubernetes.kustomize: /nonexistent/kubectl not found, needed to render ${dirOf}`,
      hint: 'install kubectl (it includes kustomize) or set target.kubernetes.kubectl to its path',
    });
  });
});

describe('shapeRelease', () => {
  it('sets the release image in the named container only, labels the Deployment and its pods, and fills in the namespace of namespaced objects', () => {
    const source = objects();
    const before = clone(source);
    const shaped = shapeRelease(source, input());
    expect(source).toEqual(before);
    const dep = shaped.deployment;
    expect(dep.metadata).toEqual({
      name: 'web', namespace: 'shop',
      labels: { app: 'web', 'app.kubernetes.io/managed-by': 'gangway', 'gangway.io/service': 'web', 'gangway.io/environment': 'prod' },
      annotations: { 'gangway.io/version': '1.2.0', 'gangway.io/image': 'registry:5000/shop/web:1.2.0' },
    });
    expect(dep.spec?.template?.spec.containers.map((c) => [c.name, c.image])).toEqual([['proxy', 'envoyproxy/envoy:v1.31'], ['web', 'registry:5000/shop/web:1.2.0']]);
    expect(dep.spec?.template?.metadata).toEqual({
      labels: { app: 'web', 'app.kubernetes.io/managed-by': 'gangway', 'gangway.io/service': 'web', 'gangway.io/environment': 'prod', 'gangway.io/release': '1.2.0' },
      annotations: { 'prometheus.io/scrape': 'true', 'gangway.io/version': '1.2.0', 'gangway.io/image': 'registry:5000/shop/web:1.2.0' },
    });
    expect(dep.spec?.replicas).toBe(3);
    // The single layout keeps the manifest's name, selector and strategy.
    expect(dep.spec?.selector).toEqual((objects()[1] as KubeDeployment).spec?.selector);
    expect(dep.spec?.strategy).toEqual({ type: 'Recreate' });
    expect(shaped.service?.metadata).toEqual({ name: 'web', namespace: 'shop' });
    expect(shaped.others.map((o) => [o.kind, o.metadata.name, o.metadata.namespace])).toEqual([['ConfigMap', 'settings', 'shop'], ['ClusterRole', 'web-reader', undefined]]);
  });

  it('uses the first container without `container`, `<image>:<version>` with `image`, and an image given as is', () => {
    const first = shapeRelease(objects(), input({ k: K }));
    expect(first.deployment.spec?.template?.spec.containers.map((c) => c.image)).toEqual(['envoyproxy/envoy:1.2.0', 'registry:5000/shop/web:1.0.0']);
    const repo = shapeRelease(objects(), input({ k: { ...K, container: 'web', image: 'registry.example.com/shop/web' } }));
    expect(repo.deployment.spec?.template?.spec.containers[1]!.image).toBe('registry.example.com/shop/web:1.2.0');
    const pinned = 'registry.example.com/shop/web@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';
    const given = shapeRelease(objects(), input({ k: { ...K, container: 'web', image: 'ignored/when/given' }, image: pinned }));
    expect([given.deployment.spec?.template?.spec.containers[1]!.image, given.deployment.metadata.annotations?.['gangway.io/image']]).toEqual([pinned, pinned]);
  });

  it('puts the rolling strategy\'s maxSurge and maxUnavailable into the Deployment\'s RollingUpdate strategy', () => {
    const shaped = shapeRelease(objects(), input({ rolling: { maxSurge: 2, maxUnavailable: 1 } }));
    expect(shaped.deployment.spec?.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: 1 } });
  });

  it('names, labels and selects a colour\'s Deployment, keeping the manifest\'s selector expressions; the Service stays as the manifests give it', () => {
    for (const color of ['blue', 'green'] as const) {
      const shaped = shapeRelease(objects(), input({ layout: { kind: 'color', color } }));
      const dep = shaped.deployment;
      expect(dep.metadata.name).toBe(`web-${color}`);
      expect(dep.metadata.labels).toEqual({ app: 'web', 'app.kubernetes.io/managed-by': 'gangway', 'gangway.io/service': 'web', 'gangway.io/environment': 'prod', color });
      expect(dep.spec?.selector).toEqual({ matchLabels: { app: 'web', color }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['batch'] }] });
      expect(dep.spec?.template?.metadata?.labels).toEqual({ app: 'web', 'app.kubernetes.io/managed-by': 'gangway', 'gangway.io/service': 'web', 'gangway.io/environment': 'prod', 'gangway.io/release': '1.2.0', color });
      expect(shaped.service?.spec?.selector).toEqual({ app: 'web' });
    }
  });

  it('labels a version that is no valid label value with a readable prefix and a hash', () => {
    const version = 'registry.example.com/shop/web@sha256:0f1e2d3c';
    const shaped = shapeRelease(objects(), input({ version }));
    expect(shaped.deployment.spec?.template?.metadata?.labels?.['gangway.io/release']).toBe(`registry.example.com_shop_web_sha256_0f1e2d3c-${fnv1a(version)}`);
    expect(shaped.deployment.metadata.annotations?.['gangway.io/version']).toBe(version);
    expect(versionLabel('1.2.0')).toBe('1.2.0');
    expect(versionLabel('-x-')).toBe(`x-${fnv1a('-x-')}`);
    expect(versionLabel('///')).toBe(`v-${fnv1a('///')}`);
    expect(versionLabel('a'.repeat(64))).toBe(`${'a'.repeat(48)}-${fnv1a('a'.repeat(64))}`);
    expect(fnv1a('')).toBe('811c9dc5');
    expect(fnv1a('a')).toBe('e40c292c');
  });

  it('refuses what it cannot shape, naming the key to fix', async () => {
    expect(await failure(() => shapeRelease(objects(), input({ k: { ...K, deployment: 'api' } })))).toMatchObject({
      code: 'invalid_argument', message: `target.kubernetes.deployment: no Deployment "api" in ${join(FIXTURES, 'web.yaml')} (found: web)`,
    });
    expect(await failure(() => shapeRelease(objects(), input({ k: { ...K, container: 'app' } })))).toMatchObject({
      code: 'invalid_argument', message: 'target.kubernetes.container: Deployment "web" has no container "app" (containers: proxy, web)',
    });
    const elsewhere = objects();
    elsewhere[2]!.metadata.namespace = 'prod';
    expect(await failure(() => shapeRelease(elsewhere, input()))).toMatchObject({
      code: 'invalid_argument', message: 'target.kubernetes: Service "web" is in namespace "prod", but the service deploys to "shop"',
    });
    const noTag = objects();
    noTag[1]!.spec = { ...(noTag[1] as KubeDeployment).spec, template: { spec: { containers: [{ name: 'web' }] } } };
    expect(await failure(() => shapeRelease(noTag, input()))).toMatchObject({
      code: 'invalid_argument', message: 'target.kubernetes.image: the container has no image to derive 1.2.0 from',
    });
  });
});

describe('unshapeRelease', () => {
  it('turns a recorded colour back into what shapes the same release for the other colour or the single layout', () => {
    const recorded = shapeRelease(objects(), input({ layout: { kind: 'color', color: 'green' }, replicas: 1 }));
    const { objects: source, image } = unshapeRelease(recorded, { deployment: 'web', container: 'web' });
    expect(image).toBe('registry:5000/shop/web:1.2.0');
    for (const layout of [{ kind: 'color', color: 'blue' }, { kind: 'color', color: 'green' }, { kind: 'single' }] as const) {
      const again = shapeRelease(source, input({ image, layout }));
      const direct = shapeRelease(objects(), input({ layout }));
      expect(again).toEqual(direct);
    }
  });

  it('keeps the image the release ran even when the manifests now name another', () => {
    const recorded = shapeRelease(objects(), input({ image: 'registry:5000/shop/web@sha256:aa' }));
    const { objects: source, image } = unshapeRelease(recorded, { deployment: 'web', container: 'web' });
    expect(shapeRelease(source, input({ image })).deployment.spec?.template?.spec.containers[1]!.image).toBe('registry:5000/shop/web@sha256:aa');
  });
});

describe('images, Service copies and apply bodies', () => {
  it('derives a release image from the repository or from the manifest image with its tag or digest replaced', () => {
    expect(releaseImage('given:1', 'repo', 'manifest:0', '1.2.0')).toBe('given:1');
    expect(releaseImage(null, 'registry.example.com/web', 'manifest:0', '1.2.0')).toBe('registry.example.com/web:1.2.0');
    expect(releaseImage(null, null, 'registry:5000/web:1.0', '1.2.0')).toBe('registry:5000/web:1.2.0');
    expect(imageRepository('registry:5000/web')).toBe('registry:5000/web');
    expect(imageRepository('registry:5000/web:1.0@sha256:ab')).toBe('registry:5000/web');
    expect(imageRepository('nginx')).toBe('nginx');
  });

  it('copies the public Service as a ClusterIP Service selecting one colour, without node ports', () => {
    const svc = forApply(objects()[2]!) as KubeService;
    svc.metadata.namespace = 'shop';
    svc.metadata.labels = { app: 'web' };
    expect(colorService(svc, 'web-preview', 'green', { 'app.kubernetes.io/managed-by': 'gangway' })).toEqual({
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'web-preview', namespace: 'shop', labels: { app: 'web', 'app.kubernetes.io/managed-by': 'gangway' } },
      spec: { type: 'ClusterIP', selector: { app: 'web', color: 'green' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    });
  });

  it('leaves status and server-set metadata out of what it applies', () => {
    const live: KubeObject = {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: 'x', namespace: 'shop', uid: 'u', resourceVersion: '7', generation: 2, creationTimestamp: 't', managedFields: [], selfLink: 's', labels: { a: 'b' } },
      data: { k: 'v' }, status: { phase: 'x' },
    };
    expect(forApply(live)).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'shop', labels: { a: 'b' } }, data: { k: 'v' } });
    expect(live.status).toEqual({ phase: 'x' });
  });
});

describe('a HorizontalPodAutoscaler in the manifests', () => {
  const hpa = (name: string, scaleTargetRef: { apiVersion?: string; kind?: string; name?: string }): KubeAutoscaler => ({
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name, labels: { app: 'web' } },
    spec: { scaleTargetRef, minReplicas: 2, maxReplicas: 10 },
  });
  const NAMES = ['web', 'web-blue', 'web-green'];

  it('is found by the Deployment its scaleTargetRef names — the manifests\' one or a colour\'s, with or without apiVersion — and no other', () => {
    const mine = hpa('web', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' });
    expect(autoscalerOf([...objects(), mine], NAMES)).toBe(mine);
    const colour = hpa('web', { kind: 'Deployment', name: 'web-green' });
    expect(autoscalerOf([colour], NAMES)).toBe(colour);
    expect(autoscalerOf([colour], ['web'])).toBeNull();
    expect(autoscalerOf([
      hpa('api', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' }),
      hpa('web-rollout', { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'web' }),
      hpa('web-sts', { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web' }),
      { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'empty' } },
    ], NAMES)).toBeNull();
    expect(autoscalerOf(objects(), NAMES)).toBeNull();
  });

  it('refuses two autoscalers of one Deployment, as the autoscaler controller does', async () => {
    const err = await failure(() => autoscalerOf([hpa('a', { kind: 'Deployment', name: 'web' }), hpa('b', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' })], NAMES));
    expect(err).toBeInstanceOf(GangwayError);
    expect(err).toMatchObject({ code: 'invalid_argument', message: 'target.kubernetes: HorizontalPodAutoscalers "a" and "b" both scale Deployment "web"', hint: 'keep one autoscaler per Deployment' });
  });

  it('leaves spec.replicas out of the shaped Deployment when asked for none, in either layout; the autoscaler stays among the other objects', () => {
    const all = [...objects(), hpa('web', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' })];
    const single = shapeRelease(all, input({ replicas: null }));
    expect(single.deployment.spec).not.toHaveProperty('replicas');
    expect(single.others.map((o) => [o.kind, o.metadata.name, o.metadata.namespace])).toEqual([
      ['ConfigMap', 'settings', 'shop'], ['ClusterRole', 'web-reader', undefined], ['HorizontalPodAutoscaler', 'web', 'shop'],
    ]);
    const green = shapeRelease(all, input({ replicas: null, layout: { kind: 'color', color: 'green' } }));
    expect(green.deployment.metadata.name).toBe('web-green');
    expect(green.deployment.spec).not.toHaveProperty('replicas');
    expect(shapeRelease(all, input({ replicas: 4 })).deployment.spec?.replicas).toBe(4);
  });

  it('is pointed at a colour\'s Deployment as a copy ready to apply', () => {
    const original = { ...hpa('web', { kind: 'Deployment', name: 'web' }), status: { currentReplicas: 3 } };
    original.metadata.resourceVersion = '12';
    const pointed = pointAutoscaler(original, 'web-blue', 'shop');
    expect(pointed).toEqual({
      apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web-blue' }, minReplicas: 2, maxReplicas: 10 },
    });
    expect(original.spec?.scaleTargetRef).toEqual({ kind: 'Deployment', name: 'web' });
  });

  it('gets replicas to start a Deployment, the live count while Gangway\'s apply still owns it, and none once the autoscaler took it', () => {
    const live = (replicas: number, managedFields: unknown[]): KubeDeployment => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', managedFields }, spec: { replicas } });
    const applied = { manager: 'gangway', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {}, 'f:template': {} } } };
    const appliedNoReplicas = { ...applied, fieldsV1: { 'f:spec': { 'f:template': {} } } };
    const patched = { manager: 'gangway', operation: 'Update', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } };
    const autoscaler = { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'apps/v1', subresource: 'scale', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } };
    // Absent, or stopped at zero (the autoscaler leaves a Deployment at zero alone): Gangway starts it.
    expect(autoscaledReplicas(null, 3)).toBe(3);
    expect(autoscaledReplicas(live(0, [patched]), 3)).toBe(3);
    // Gangway's apply set it before the autoscaler existed: the live count, so nothing drops to one pod.
    expect(autoscaledReplicas(live(2, [applied]), 3)).toBe(2);
    // The autoscaler (or anyone else) wrote it since: left out.
    expect(autoscaledReplicas(live(5, [appliedNoReplicas, autoscaler]), 3)).toBeNull();
    expect(autoscaledReplicas(live(5, [patched]), 3)).toBeNull();
    expect(autoscaledReplicas(live(5, []), 3)).toBeNull();
    expect(appliedBy(live(2, [applied]), 'gangway', ['spec', 'replicas'])).toBe(true);
    expect(appliedBy(live(2, [applied]), 'kubectl', ['spec', 'replicas'])).toBe(false);
    expect(appliedBy(live(2, [{ ...applied, subresource: 'status' }]), 'gangway', ['spec', 'replicas'])).toBe(false);
  });
});
