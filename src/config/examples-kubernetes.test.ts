/**
 * examples/kubernetes is a project users copy: it must load, pass the same capability checks
 * as `gangway validate`, and its manifests must hold what its gangway.yaml names (the
 * Deployment, container, Service and HTTPRoute `web`, one Job), shaped for a release the way
 * the Kubernetes target shapes them.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireOrSkip } from '../../test/support/require.js';
import { targetProblems } from '../cli/targets.js';
import { loadObjects, shapeRelease } from '../targets/kubernetes/manifests.js';
import type { KubernetesTargetConfig } from './kubernetes.js';
import { loadConfig } from './load.js';

const DIR = resolve(import.meta.dirname, '../../examples/kubernetes');
const KUBECTL = process.env.GANGWAY_KUBECTL ?? '/usr/bin/kubectl';
const hasKubectl = requireOrSkip('rendering the kustomize overlay of examples/kubernetes', 'kubectl at /usr/bin/kubectl (or set GANGWAY_KUBECTL)', existsSync(KUBECTL));

async function example() {
  return loadConfig(resolve(DIR, 'gangway.yaml'), { env: {}, check: targetProblems });
}

const TARGET: Omit<KubernetesTargetConfig, 'namespace' | 'source' | 'instances' | 'httpRoute'> = {
  kind: 'kubernetes', kubeconfig: null, context: null, deployment: 'web', container: null, service: 'web', port: null,
  image: 'registry.example.com/shop/web', restartLimit: 0, kubectl: 'kubectl', requestTimeoutMs: 30_000,
};

describe('examples/kubernetes/gangway.yaml', () => {
  it('loads with every strategy fitting its target, and compiles each environment\'s target with its paths resolved', async () => {
    const config = await example();
    expect(config.project).toBe('shop');
    expect(config.environments.map((e) => [e.name, e.promotion?.from ?? null])).toEqual([['dev', null], ['staging', 'dev'], ['prod', 'staging']]);
    const web = config.services.web;
    expect(web.dev.target).toEqual({ ...TARGET, namespace: 'dev', source: { kind: 'manifests', path: resolve(DIR, 'k8s/dev') }, instances: 2, httpRoute: null });
    expect(web.staging.target).toEqual({ ...TARGET, namespace: 'staging', source: { kind: 'manifests', path: resolve(DIR, 'k8s/staging') }, instances: 3, httpRoute: null });
    expect(web.prod.target).toEqual({ ...TARGET, namespace: 'production', source: { kind: 'kustomize', path: resolve(DIR, 'k8s/overlays/production') }, instances: 4, httpRoute: 'web' });
    for (const env of ['dev', 'staging', 'prod'] as const) {
      expect(web[env].jobs).toEqual({ beforeRollout: [{ manifest: resolve(DIR, 'k8s/jobs/migrate.yaml'), timeoutMs: 600_000 }] });
      expect(web[env].health).toEqual({ path: '/actuator/health', expect: { status: 200, json: { status: 'UP' } }, intervalMs: 5000, timeoutMs: 1000, failureThreshold: 3, startTimeoutMs: 300_000, pathSet: true });
    }
    expect(web.dev.strategy).toEqual({ kind: 'rolling', maxSurge: 1, maxUnavailable: 0 });
    expect(web.staging.strategy).toEqual({ kind: 'blueGreen', previewPort: null, scaleDownDelayMs: 600_000 });
    expect(web.prod.strategy).toEqual({
      kind: 'canary',
      steps: [
        { kind: 'setHeaderRoute', header: { name: 'x-canary', value: '1' } },
        { kind: 'setWeight', weight: 10 },
        { kind: 'analysis', template: 'prod-canary', durationMs: 300_000 },
        { kind: 'setWeight', weight: 50 },
        { kind: 'pause', durationMs: 300_000 },
        { kind: 'setWeight', weight: 100 },
      ],
      stickySessions: null,
      scaleDownDelayMs: 1_800_000,
    });
    expect([web.prod.analysis, web.prod.rollback.watchMs, web.dev.rollback.watchMs]).toEqual(['prod-canary', 900_000, 300_000]);
    // No builtin request metrics on Kubernetes: the template reads Prometheus only.
    expect(config.analysisTemplates['prod-canary']!.rules.map((r) => [r.name, r.kind, 'metric' in r && r.metric ? r.metric.kind : null])).toEqual([
      ['error-rate', 'threshold', 'prometheus'], ['p95-vs-stable', 'relative', 'prometheus'],
    ]);
    expect(config.metrics.prometheus).toEqual({ address: 'http://prometheus.monitoring.svc:9090', timeoutMs: 5000 });
  });

  it('dev and staging manifests hold Deployment and Service web; shaped for 1.4.2 in staging they become web-green with the release image', async () => {
    const config = await example();
    for (const env of ['dev', 'staging'] as const) {
      const objects = await loadObjects(config.services.web[env].target as KubernetesTargetConfig);
      expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Deployment/web', 'Service/web']);
    }
    const k = config.services.web.staging.target as KubernetesTargetConfig;
    const shaped = shapeRelease(await loadObjects(k), { k, service: 'web', environment: 'staging', namespace: 'staging', version: '1.4.2', image: null, replicas: 3, layout: { kind: 'color', color: 'green' } });
    expect(shaped.deployment.metadata.name).toBe('web-green');
    expect(shaped.deployment.spec?.selector).toEqual({ matchLabels: { app: 'web', color: 'green' } });
    expect(shaped.deployment.spec?.template?.spec.containers.map((c) => [c.name, c.image])).toEqual([['web', 'registry.example.com/shop/web:1.4.2']]);
    expect(shaped.service?.metadata.name).toBe('web');
  });

  it('the migration Job manifest holds one Job', async () => {
    const objects = await loadObjects({ source: { kind: 'manifests', path: resolve(DIR, 'k8s/jobs/migrate.yaml') }, kubectl: 'kubectl' });
    expect(objects.map((o) => [o.apiVersion, o.kind, o.metadata.name])).toEqual([['batch/v1', 'Job', 'web-migrate']]);
  });

  it.skipIf(!hasKubectl)('the production overlay renders (kubectl kustomize) to Service, Deployment and HTTPRoute web, with the production patch applied', async () => {
    const config = await example();
    const k = { ...(config.services.web.prod.target as KubernetesTargetConfig), kubectl: KUBECTL };
    const objects = await loadObjects(k);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['Deployment/web', 'HTTPRoute/web', 'Service/web']);
    const shaped = shapeRelease(objects, { k, service: 'web', environment: 'prod', namespace: 'production', version: '1.4.2', image: null, replicas: 4, layout: { kind: 'color', color: 'blue' } });
    const [container] = shaped.deployment.spec!.template!.spec.containers;
    expect([container!.image, (container!.env as Array<{ name: string; value?: string }>).find((e) => e.name === 'SPRING_PROFILES_ACTIVE')?.value]).toEqual(['registry.example.com/shop/web:1.4.2', 'prod']);
    expect(shaped.deployment.metadata.labels).toMatchObject({ app: 'web', 'app.kubernetes.io/part-of': 'shop', color: 'blue' });
    expect(shaped.others.map((o) => [o.kind, o.metadata.name, o.metadata.namespace])).toEqual([['HTTPRoute', 'web', 'production']]);
  });
});
