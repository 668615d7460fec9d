/**
 * Capabilities against strategies: what a target cannot do is a config error naming the key,
 * with file:line when it comes from the YAML, and the planner's last guard says the same.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ConfigError, GangwayError } from '../errors.js';
import type { TargetCapabilities } from '../targets/target.js';
import { MemoryTarget } from '../targets/memory/memory-target.js';
import { capabilityProblems, checkCapabilities } from './capabilities.js';
import { planDeployment } from './plan.js';

const FULL: TargetCapabilities = { weights: 'exact', headerRoutes: true, sticky: true, preview: true, requestMetrics: true, nativeRolling: false, jobs: false };
/** As Kubernetes without an HTTPRoute declares itself. */
const KUBE_LIKE: TargetCapabilities = { weights: 'replicaRatio', headerRoutes: false, sticky: false, preview: true, requestMetrics: false, nativeRolling: true, jobs: true };

const YAML = `project: shop
environments:
  dev: {}
  prod: {}
services:
  web:
    target:
      local: { command: [node, app.js], port: 18080 }
    strategy:
      canary: { steps: [ { setWeight: 10 } ] }
    environments:
      prod:
        analysis: runbook-defaults
        strategy:
          canary:
            stickySessions: true
            steps:
              - setWeight: 10
              - setHeaderRoute: { name: x-canary, value: "1" }
              - analysis: { template: runbook-defaults }
              - setWeight: 100
        target: { local: { port: 18081 } }
`;

describe('checkCapabilities', () => {
  it('names every key a target without header routes, sticky sessions or request metrics cannot carry out', () => {
    const config = parseConfig(YAML, '/project/gangway.yaml', { env: {} });
    const cfg = config.services.web.prod;
    expect(checkCapabilities(cfg, FULL, config.analysisTemplates)).toEqual([]);
    expect(checkCapabilities(cfg, KUBE_LIKE, config.analysisTemplates).map((p) => [p.path.join('.'), p.message])).toEqual([
      ['strategy.canary.steps.1.setHeaderRoute', 'the local target cannot route requests by header (capabilities.headerRoutes)'],
      ['strategy.canary.steps.2.analysis', 'the local target does not measure requests (capabilities.requestMetrics), and analysis template runbook-defaults needs it: its rule error-rate reads the builtin error_rate'],
      ['strategy.canary.stickySessions', 'the local target cannot keep sticky sessions (capabilities.sticky)'],
      ['analysis', 'the local target does not measure requests (capabilities.requestMetrics), and analysis template runbook-defaults needs it: its rule error-rate reads the builtin error_rate'],
    ]);
    // Without the templates, analyses are not judged.
    expect(checkCapabilities(cfg, KUBE_LIKE).map((p) => p.path.join('.'))).toEqual(['strategy.canary.steps.1.setHeaderRoute', 'strategy.canary.stickySessions']);
  });

  it('refuses blue-green without a preview, a canary without weights, and a multi-instance rolling update without either weights or native rolling', () => {
    const cfgOf = (strategy: string, instances = 2) => parseConfig(`project: shop
environments: { dev: {} }
services:
  web:
    target: { local: { command: [node, app.js], port: 18080, instances: ${instances} } }
    strategy: ${strategy}
`, '/project/gangway.yaml', { env: {} }).services.web.dev;
    const none: TargetCapabilities = { ...FULL, weights: 'none', preview: false };
    expect(checkCapabilities(cfgOf('{ blueGreen: {} }'), none).map((p) => p.message)).toEqual(['the local target has no preview endpoint, which blueGreen checks the new release on (capabilities.preview)']);
    expect(checkCapabilities(cfgOf('{ canary: {} }'), none).map((p) => p.message)).toEqual(['the local target cannot split traffic by weight, which a canary needs (capabilities.weights is none)']);
    expect(checkCapabilities(cfgOf('{ rolling: {} }'), none).map((p) => p.message)).toEqual(['the local target cannot split traffic between releases, which a rolling update of 2 instances needs (capabilities.weights is none)']);
    expect(checkCapabilities(cfgOf('{ rolling: {} }', 1), none)).toEqual([]);
    expect(checkCapabilities(cfgOf('{ rolling: {} }'), { ...none, nativeRolling: true })).toEqual([]);
  });
});

describe('checkCapabilities: jobs before the rollout', () => {
  const JOBS = `project: shop
environments: { dev: {} }
services:
  web:
    target: { local: { command: [node, app.js], port: 18080 } }
    jobs:
      beforeRollout:
        - manifest: k8s/migrate.yaml
`;

  it('refuses jobs.beforeRollout on a target that cannot run jobs, naming the target and what to use instead', () => {
    const cfg = parseConfig(JOBS, '/project/gangway.yaml', { env: {} }).services.web.dev;
    expect(checkCapabilities(cfg, FULL)).toEqual([{
      path: ['jobs', 'beforeRollout'], at: 'key',
      message: 'the local target cannot run jobs (capabilities.jobs)',
      hint: 'run the service on target.kubernetes, or do the work in migrations',
    }]);
    expect(checkCapabilities(cfg, { ...FULL, jobs: true })).toEqual([]);
    // Without jobs configured, a target without them is fine.
    expect(checkCapabilities(parseConfig(YAML, '/project/gangway.yaml', { env: {} }).services.web.dev, FULL)).toEqual([]);
  });

  it('is a config error at the line and column of the key', () => {
    let error: unknown;
    try {
      parseConfig(JOBS, '/project/gangway.yaml', { env: {}, check: (config) => capabilityProblems(config, new MemoryTarget()) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`)).toEqual([
      '7:7 services.web.jobs.beforeRollout: the local target cannot run jobs (capabilities.jobs) (in environment dev, after merging its overrides)',
    ]);
    expect(() => parseConfig(JOBS, '/project/gangway.yaml', { env: {}, check: (config) => capabilityProblems(config, new MemoryTarget({ capabilities: { jobs: true } })) })).not.toThrow();
  });
});

describe('capability problems in the config file', () => {
  it('are config errors at the line and column of the key, in the override that says it', () => {
    const target = new MemoryTarget({ capabilities: KUBE_LIKE });
    let error: unknown;
    try {
      parseConfig(YAML, '/project/gangway.yaml', { env: {}, check: (config) => capabilityProblems(config, target) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`)).toEqual([
      '13:19 services.web.environments.prod.analysis: the local target does not measure requests (capabilities.requestMetrics), and analysis template runbook-defaults needs it: its rule error-rate reads the builtin error_rate',
      '16:13 services.web.environments.prod.strategy.canary.stickySessions: the local target cannot keep sticky sessions (capabilities.sticky)',
      '19:17 services.web.environments.prod.strategy.canary.steps[1].setHeaderRoute: the local target cannot route requests by header (capabilities.headerRoutes)',
      '20:17 services.web.environments.prod.strategy.canary.steps[2].analysis: the local target does not measure requests (capabilities.requestMetrics), and analysis template runbook-defaults needs it: its rule error-rate reads the builtin error_rate',
    ]);
    expect((error as ConfigError).problems[2].hint).toBe('remove the setHeaderRoute step, or run the service on a target that can');
  });

  it('name the httpRoute key of the target kind that has one: kubernetes and helm', () => {
    const cfg = parseConfig(YAML, '/project/gangway.yaml', { env: {} }).services.web.prod;
    const hints = (kind: string) => checkCapabilities({ ...cfg, target: { ...cfg.target, kind } } as typeof cfg, KUBE_LIKE)
      .filter((p) => p.path.includes('setHeaderRoute')).map((p) => p.hint);
    expect(hints('kubernetes')).toEqual(['add target.kubernetes.httpRoute (a Gateway API HTTPRoute routes by header), or remove the setHeaderRoute step']);
    expect(hints('helm')).toEqual(['add target.helm.httpRoute (a Gateway API HTTPRoute routes by header), or remove the setHeaderRoute step']);
    expect(hints('gitops')).toEqual(['remove the setHeaderRoute step, or run the service on a target that can']);
  });

  it('pass a config whose strategies fit their targets', () => {
    const config = parseConfig(YAML, '/project/gangway.yaml', { env: {}, check: (c) => capabilityProblems(c, new MemoryTarget()) });
    expect(config.serviceNames).toEqual(['web']);
  });

  it('are refused by the planner too, naming the key', () => {
    const cfg = parseConfig(YAML, '/project/gangway.yaml', { env: {} }).services.web.prod;
    const plan = () => planDeployment({ cfg, release: { version: '2.0.0', image: null }, stable: { version: '1.0.0', image: null }, capabilities: KUBE_LIKE });
    expect(plan).toThrow(GangwayError);
    expect(plan).toThrow('services.web.strategy.canary.steps[1].setHeaderRoute (environment prod): the local target cannot route requests by header (capabilities.headerRoutes)');
  });
});
