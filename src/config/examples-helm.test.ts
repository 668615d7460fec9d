/**
 * examples/helm is a project users copy: it must load, pass the same capability checks as
 * `gangway validate`, and its chart must render — with each environment's values file and the
 * release's tag, as `helm upgrade -f values-<env>.yaml --set-string image.tag=…` renders it — to
 * the Deployment and Service its gangway.yaml names, which Gangway's post-renderer then shapes
 * for a release. The chart is rendered by the FAKE renderer the fake helm uses
 * (test/support/chart-render.ts), so the example keeps to the template features it supports.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { renderChart, setPath } from '../../test/support/chart-render.js';
import { targetProblems } from '../cli/targets.js';
import { postRender } from '../targets/helm/post-render.js';
import { parseObjects } from '../targets/kubernetes/manifests.js';
import type { KubeDeployment, KubeService } from '../targets/kubernetes/objects.js';
import type { HelmTargetConfig } from './helm.js';
import { loadConfig } from './load.js';

const DIR = resolve(import.meta.dirname, '../../examples/helm');
const ENVS = ['dev', 'staging', 'prod'] as const;

async function example() {
  return loadConfig(resolve(DIR, 'gangway.yaml'), { env: {}, check: targetProblems });
}

const TARGET: Omit<HelmTargetConfig, 'namespace' | 'values' | 'instances' | 'timeoutMs'> = {
  kind: 'helm', kubeconfig: null, context: null, requestTimeoutMs: 30_000,
  deployment: 'web', container: null, service: 'web', httpRoute: null, port: null, image: null, restartLimit: 0,
  release: 'web', chart: resolve(DIR, 'chart'), chartVersion: null, imageKeys: { tag: 'image.tag', repository: null }, setString: {}, helm: 'helm',
};

/** The chart as helm renders it for a release of `env`: chart values, then the environment's values files, then the tag. */
function render(k: HelmTargetConfig, version: string, release: string): string {
  const layers = k.values.map((f) => parseYaml(readFileSync(f, 'utf8')) as Record<string, unknown>);
  const sets: Record<string, unknown> = {};
  setPath(sets, k.imageKeys.tag, version);
  return renderChart(k.chart, [...layers, sets], { name: release, namespace: k.namespace ?? 'default' });
}

describe('examples/helm/gangway.yaml', () => {
  it('loads with every strategy fitting the Helm target, and compiles each environment\'s target with its chart and values file resolved', async () => {
    const config = await example();
    expect(config.project).toBe('shop');
    expect(config.environments.map((e) => [e.name, e.promotion?.from ?? null])).toEqual([['dev', null], ['staging', 'dev'], ['prod', 'staging']]);
    const web = config.services.web;
    expect(web.dev.target).toEqual({ ...TARGET, namespace: 'dev', values: [resolve(DIR, 'values-dev.yaml')], instances: 2, timeoutMs: 300_000 });
    expect(web.staging.target).toEqual({ ...TARGET, namespace: 'staging', values: [resolve(DIR, 'values-staging.yaml')], instances: 3, timeoutMs: 300_000 });
    expect(web.prod.target).toEqual({ ...TARGET, namespace: 'production', values: [resolve(DIR, 'values-prod.yaml')], instances: 4, timeoutMs: 600_000 });
    for (const env of ENVS) {
      expect(web[env].health).toEqual({ path: '/actuator/health', expect: { status: 200, json: { status: 'UP' } }, intervalMs: 5000, timeoutMs: 1000, failureThreshold: 3, startTimeoutMs: 300_000, pathSet: true });
    }
    expect(web.dev.strategy).toEqual({ kind: 'rolling', maxSurge: 1, maxUnavailable: 0 });
    expect(web.staging.strategy).toEqual({ kind: 'blueGreen', previewPort: null, scaleDownDelayMs: 600_000 });
    expect(web.prod.strategy).toEqual({ kind: 'blueGreen', previewPort: null, scaleDownDelayMs: 1_800_000 });
    expect([web.dev.rollback.watchMs, web.staging.rollback.watchMs, web.prod.rollback.watchMs]).toEqual([300_000, 300_000, 900_000]);
  });

  it('the chart renders, per environment, Deployment and Service web with that environment\'s values, a readiness probe and a preStop sleep', async () => {
    const config = await example();
    const expected = { dev: ['dev', '100m', '256Mi'], staging: ['staging', '250m', '512Mi'], prod: ['prod', '500m', '1Gi'] } as const;
    for (const env of ENVS) {
      const k = config.services.web[env].target as HelmTargetConfig;
      const objects = parseObjects(render(k, '1.4.2', 'web'), `the example chart for ${env}`);
      expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Deployment/web', 'Service/web']);
      const dep = objects[0] as KubeDeployment;
      const [container] = dep.spec!.template!.spec.containers;
      const [profile, cpu, memory] = expected[env];
      expect(container).toMatchObject({
        name: 'web',
        image: 'registry.example.com/shop/web:1.4.2',
        env: [{ name: 'SPRING_PROFILES_ACTIVE', value: profile }, { name: 'APP_VERSION', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['gangway.io/version']" } } }],
        lifecycle: { preStop: { sleep: { seconds: 5 } } },
        readinessProbe: { httpGet: { path: '/actuator/health/readiness', port: 'http' }, periodSeconds: 5 },
        resources: { requests: { cpu, memory }, limits: { memory } },
      });
      expect((objects[1] as KubeService).spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
    }
  });

  it('rendered as release web-green in staging and post-rendered as Gangway does, it becomes Deployment web-green of 1.4.2, with the public Service kept out for Gangway', async () => {
    const config = await example();
    const k = config.services.web.staging.target as HelmTargetConfig;
    const { manifest, keptOut } = postRender(render(k, '1.4.2', 'web-green'), {
      v: 1, service: 'web', environment: 'staging', namespace: 'staging', version: '1.4.2', image: null, deploymentId: 'd-1',
      k: { deployment: k.deployment, container: k.container, service: k.service, httpRoute: k.httpRoute, image: k.image },
      replicas: null, layout: { kind: 'color', color: 'green' }, keptOut: '/dev/null',
    });
    const released = parseObjects(manifest, 'the post-rendered manifest');
    expect(released.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Deployment/web-green']);
    const dep = released[0] as KubeDeployment;
    expect(dep.spec?.replicas).toBeUndefined();
    expect(dep.spec?.template?.spec.containers.map((c) => [c.name, c.image])).toEqual([['web', 'registry.example.com/shop/web:1.4.2']]);
    expect(dep.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'web', 'gangway.io/service': 'web', 'gangway.io/environment': 'staging', color: 'green' });
    expect(keptOut.map((o) => [o.kind, o.metadata.name, (o as KubeService).spec?.selector])).toEqual([
      ['Service', 'web', { 'gangway.io/service': 'web', 'gangway.io/environment': 'staging' }],
    ]);
  });
});
