/**
 * Which adapter runs each target kind of a project: the one place that builds them. `gangway
 * up` builds them over the agent it made sure runs; `gangway validate` builds them without
 * connecting (a target's capabilities read the config only) to check every strategy against
 * its target. A new target kind adds its adapter here.
 */
import type { GangwayConfig } from '../config/types.js';
import type { Logger } from '../core/logger.js';
import type { ServiceSettingsProblem } from '../config/load.js';
import { capabilityProblems } from '../engine/capabilities.js';
import { PrometheusProvider } from '../metrics/prometheus/prometheus-provider.js';
import { PrometheusRequestCounters } from '../metrics/prometheus/request-counters.js';
import { GitOpsTarget } from '../targets/gitops/gitops-target.js';
import { HelmTarget } from '../targets/helm/helm-target.js';
import { kubeConnector, type KubeConnector } from '../targets/kubernetes/connect.js';
import { KubernetesTarget } from '../targets/kubernetes/kubernetes-target.js';
import { connectLocalTarget } from '../targets/local/local-target.js';
import { Targets, type TargetAdapters } from '../targets/registry.js';

/**
 * The Targets of a project: the given adapters, and for each kind its services use without one,
 * an adapter that connects on first use.
 *
 * @example const targets = buildTargets(config, { local: new LocalTarget(await ensureAgent(...)) })
 */
export function buildTargets(config: GangwayConfig, adapters: TargetAdapters = {}, opts: { log?: Logger } = {}): Targets {
  const kinds = targetKinds(config);
  const all: TargetAdapters = { ...adapters };
  if (kinds.has('local')) all.local ??= connectLocalTarget(config.stateDir);
  // One connector for every target that reads a cluster: one client per kubeconfig and context.
  let connector: KubeConnector | null = null;
  const connect = () => (connector ??= kubeConnector()).connect;
  const log = opts.log ? { log: opts.log } : {};
  if (kinds.has('kubernetes') && !all.kubernetes) all.kubernetes = new KubernetesTarget({ connect: connect(), ...log });
  let helm: HelmTarget | null = null;
  if (kinds.has('helm') && !all.helm) all.helm = helm = new HelmTarget({ connect: connect(), ...log });
  let gitops: GitOpsTarget | null = null;
  if (kinds.has('gitops') && !all.gitops) {
    all.gitops = gitops = new GitOpsTarget({ stateDir: config.stateDir, connect: connect(), ...(config.records ? { author: config.records.author } : {}) });
  }
  const { prometheus, requests } = config.metrics;
  return new Targets(all, {
    requests: prometheus && requests ? new PrometheusRequestCounters(new PrometheusProvider(prometheus), requests) : null,
    onClose: async () => {
      helm?.close();
      await gitops?.close();
      await connector?.close();
    },
  });
}

/**
 * The target kinds the services of a config use.
 *
 * @example targetKinds(config).has('local') // whether `gangway up` needs the local agent
 */
export function targetKinds(config: GangwayConfig): Set<string> {
  return new Set(Object.values(config.services).flatMap((envs) => Object.values(envs).map((cfg) => cfg.target.kind)));
}

/**
 * Every strategy (and analysis) of the config that its target cannot carry out, for
 * `loadConfig(file, { check: targetProblems })`: reported with file:line like any config problem.
 *
 * @example await loadConfig(file, { check: targetProblems })
 */
export function targetProblems(config: GangwayConfig): ServiceSettingsProblem[] {
  return capabilityProblems(config, buildTargets(config));
}
