/**
 * The orchestrator's analysis runtime: templates from the config, metric sources from the
 * providers, verdicts and rule state in the store.
 */
import type { AnalysisContext } from '../analysis/evaluate.js';
import type { AnalysisState } from '../analysis/types.js';
import type { GangwayConfig, MetricSource } from '../config/types.js';
import type { MetricProvider, RequestWindowSource } from '../metrics/provider.js';
import type { Store } from '../store/types.js';
import type { AnalysisRuntime } from './steps/context.js';

export interface MetricSources {
  provider(source: MetricSource): MetricProvider;
  requests: RequestWindowSource | null;
}

export function createAnalysisRuntime(store: Store, config: GangwayConfig, metrics: MetricSources): AnalysisRuntime {
  return {
    templates: config.analysisTemplates,
    context(cfg, target, canary, stable, now): AnalysisContext {
      return {
        service: cfg.service,
        environment: cfg.environment,
        canary,
        stable,
        now,
        provider: (source) => metrics.provider(source),
        requests: metrics.requests,
        health: async () => (await target.instances(cfg))
          .filter((i) => i.version === canary)
          .map((i) => ({ id: i.id, consecutiveFailures: i.consecutiveFailures, state: i.state })),
      };
    },
    async record(deploymentId, stepIdx, template, evaluation) {
      await store.appendVerdicts(evaluation.verdicts.map((v) => ({
        deploymentId, at: v.at, stepIdx, template, rule: v.rule, kind: v.kind, verdict: v.verdict, reason: v.reason,
        measurements: v.measurements as unknown as Array<Record<string, unknown>>,
      })));
    },
    async loadState(deploymentId, key) {
      return (await store.getAnalysisState(deploymentId, key) ?? {}) as AnalysisState;
    },
    async saveState(deploymentId, key, state, now) {
      await store.setAnalysisState(deploymentId, key, state as unknown as Record<string, unknown>, now);
    },
  };
}
