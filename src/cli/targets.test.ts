/**
 * The Targets a config builds: a Kubernetes canary judged on builtin request metrics is a config
 * error naming the key, unless `metrics.requests` reads them from Prometheus — then the
 * composite reports request metrics for the service and answers its counters from that source.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { parseConfig } from '../config/load.js';
import { buildTargets, targetKinds, targetProblems } from './targets.js';

const FILE = '/srv/shop/gangway.yaml';
const yaml = (metrics: string) => `project: shop
environments: { prod: {} }
services:
  web:
    target: { kubernetes: { manifests: k8s } }
    strategy: { canary: {} }
${metrics}`;

describe('buildTargets and targetProblems', () => {
  it('refuses a Kubernetes canary on builtin metrics without metrics.requests, naming the step and the fix', () => {
    const err = (() => {
      try {
        parseConfig(yaml(''), FILE, { env: {}, check: targetProblems });
        return null;
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const first = err!.problems[0]!;
    expect([first.path, first.hint]).toEqual([
      'services.web.strategy.canary.steps[1].analysis',
      'set metrics.requests (with metrics.prometheus) to read the builtin request metrics from Prometheus, measure with prometheus or web metric sources in that template, or name another template',
    ]);
    expect(first.message).toContain('the kubernetes target');
  });

  it('accepts it with metrics.requests: the kubernetes service reports request metrics, counters come from Prometheus', async () => {
    const config = parseConfig(yaml('metrics:\n  prometheus: { address: "http://127.0.0.1:1" }\n  requests: {}\n'), FILE, { env: {}, check: targetProblems });
    const targets = buildTargets(config);
    const cfg = config.services.web.prod;
    expect(targets.capabilities(cfg)).toMatchObject({ weights: 'replicaRatio', requestMetrics: true, nativeRolling: true });
    expect([...targetKinds(config)]).toEqual(['kubernetes']);
    // Nothing listens on port 1: the counters are asked of Prometheus, which cannot be reached.
    await expect(targets.requestCounters(cfg)).rejects.toThrow(/^metrics\.requests\.total: cannot reach Prometheus at http:\/\/127\.0\.0\.1:1/);
    await targets.close();
  });
});
