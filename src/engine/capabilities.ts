/**
 * Capabilities against strategies: a strategy (or an analysis) that needs something the target
 * cannot do is a config error naming the key, found when the config is checked (`gangway up`,
 * `gangway validate`) and again by the planner as a last guard — never halfway through a rollout.
 */
import type { AnalysisTemplate, GangwayConfig, ServiceEnvConfig } from '../config/types.js';
import { formatPath, type RawProblem } from '../config/problems.js';
import type { ServiceSettingsProblem } from '../config/load.js';
import { GangwayError } from '../errors.js';
import type { Target, TargetCapabilities } from '../targets/target.js';

/** A capability problem of one service in one environment; `path` is relative to the service's settings. */
export type ServiceProblem = ServiceSettingsProblem;

/**
 * Every capability `cfg` needs that `caps` lacks, as problems whose `path` is relative to the
 * service's settings (`strategy.canary.steps[2].setHeaderRoute`). `templates` (the config's
 * analysis templates) lets it check that analyses on builtin request metrics run on a target
 * that measures requests; without it that check is skipped.
 *
 * @example
 * checkCapabilities(cfg, { weights: 'replicaRatio', headerRoutes: false, sticky: false, preview: true, requestMetrics: false, nativeRolling: true })
 * // [{ path: ['strategy', 'canary', 'steps', 2, 'setHeaderRoute'], at: 'key',
 * //    message: 'the kubernetes target cannot route requests by header (capabilities.headerRoutes)', hint: '…' }]
 */
export function checkCapabilities(cfg: ServiceEnvConfig, caps: TargetCapabilities, templates?: Readonly<Record<string, AnalysisTemplate>>): RawProblem[] {
  const kind = cfg.target.kind;
  const out: RawProblem[] = [];
  const s = cfg.strategy;
  if (s.kind === 'blueGreen' && !caps.preview) {
    out.push({ path: ['strategy', 'blueGreen'], at: 'key', message: `the ${kind} target has no preview endpoint, which blueGreen checks the new release on (capabilities.preview)`, hint: 'use the rolling or canary strategy for this target' });
  }
  if (s.kind === 'rolling' && caps.weights === 'none' && !caps.nativeRolling && cfg.target.instances > 1) {
    out.push({ path: ['strategy', 'rolling'], at: 'key', message: `the ${kind} target cannot split traffic between releases, which a rolling update of ${cfg.target.instances} instances needs (capabilities.weights is none)`, hint: 'run one instance, or use the blueGreen strategy' });
  }
  if (s.kind === 'canary') {
    if (caps.weights === 'none') {
      out.push({ path: ['strategy', 'canary'], at: 'key', message: `the ${kind} target cannot split traffic by weight, which a canary needs (capabilities.weights is none)`, hint: 'use the blueGreen or rolling strategy for this target' });
    }
    s.steps.forEach((step, i) => {
      if (step.kind === 'setHeaderRoute' && step.header !== null && !caps.headerRoutes) {
        out.push({ path: ['strategy', 'canary', 'steps', i, 'setHeaderRoute'], at: 'key', message: `the ${kind} target cannot route requests by header (capabilities.headerRoutes)`, hint: hintFor(kind, 'headerRoutes') });
      }
      if (step.kind === 'analysis' && templates && !caps.requestMetrics) {
        const why = builtinUse(templates[step.template]);
        if (why) out.push({ path: ['strategy', 'canary', 'steps', i, 'analysis'], at: 'key', message: noRequestMetrics(kind, step.template, why), hint: REQUEST_METRICS_HINT });
      }
    });
    if (s.stickySessions !== null && !caps.sticky) {
      out.push({ path: ['strategy', 'canary', 'stickySessions'], at: 'key', message: `the ${kind} target cannot keep sticky sessions (capabilities.sticky)`, hint: hintFor(kind, 'sticky') });
    }
  }
  if (cfg.analysis && templates && !caps.requestMetrics) {
    const why = builtinUse(templates[cfg.analysis]);
    if (why) out.push({ path: ['analysis'], at: 'value', message: noRequestMetrics(kind, cfg.analysis, why), hint: REQUEST_METRICS_HINT });
  }
  out.push(...jobProblems(cfg, caps));
  return out;
}

/**
 * The capability problems of every service in every environment of a config, on `target`
 * (the Targets composite): what `gangway up` and `gangway validate` report with file:line. A
 * service whose target kind has no adapter is a problem at its `target` key.
 *
 * @example capabilityProblems(config, targets) // [] when every strategy fits its target
 */
export function capabilityProblems(config: GangwayConfig, target: Pick<Target, 'capabilities'>): ServiceProblem[] {
  const out: ServiceProblem[] = [];
  for (const service of config.serviceNames) {
    for (const env of config.environments) {
      const cfg = config.services[service]?.[env.name];
      if (!cfg) continue;
      let caps: TargetCapabilities;
      try {
        caps = target.capabilities(cfg);
      } catch (err) {
        out.push({ service, environment: env.name, path: ['target'], at: 'key', message: err instanceof Error ? err.message : String(err) });
        continue;
      }
      for (const p of checkCapabilities(cfg, caps, config.analysisTemplates)) out.push({ ...p, service, environment: env.name });
    }
  }
  return out;
}

/**
 * Throws the first capability problem of `cfg` as a GangwayError (`invalid_config`) naming the
 * key: the planner's last guard, for a config that did not go through `capabilityProblems`.
 *
 * @example assertCapabilities(cfg, caps) // throws 'services.web.strategy.blueGreen (environment prod): the … target has no preview endpoint …'
 */
export function assertCapabilities(cfg: ServiceEnvConfig, caps: TargetCapabilities, templates?: Readonly<Record<string, AnalysisTemplate>>): void {
  const [first] = checkCapabilities(cfg, caps, templates);
  if (!first) return;
  throw new GangwayError('invalid_config', `${formatPath(['services', cfg.service, ...first.path])} (environment ${cfg.environment}): ${first.message}`, first.hint);
}

/** Jobs before the rollout on a target that cannot run them. */
function jobProblems(cfg: ServiceEnvConfig, caps: TargetCapabilities): RawProblem[] {
  if (caps.jobs || (cfg.jobs?.beforeRollout.length ?? 0) === 0) return [];
  return [{ path: ['jobs', 'beforeRollout'], at: 'key', message: `the ${cfg.target.kind} target cannot run jobs (capabilities.jobs)`, hint: 'run the service on target.kubernetes, or do the work in migrations' }];
}

const REQUEST_METRICS_HINT = 'set metrics.requests (with metrics.prometheus) to read the builtin request metrics from Prometheus, measure with prometheus or web metric sources in that template, or name another template';

/** Why a template needs the target's request metrics (a rule on a builtin metric, the judge), or null. */
function builtinUse(t: AnalysisTemplate | undefined): string | null {
  for (const rule of t?.rules ?? []) {
    if (rule.kind === 'judge' && rule.metric === null) return `its rule ${rule.name} judges the target's request counts`;
    if ((rule.kind === 'threshold' || rule.kind === 'relative') && rule.metric.kind === 'builtin') return `its rule ${rule.name} reads the builtin ${rule.metric.metric}`;
  }
  return null;
}

function noRequestMetrics(kind: string, template: string, why: string): string {
  return `the ${kind} target does not measure requests (capabilities.requestMetrics), and analysis template ${template} needs it: ${why}`;
}

/** What to do about a missing capability, with what a target kind needs to have it where known. */
function hintFor(kind: string, cap: 'headerRoutes' | 'sticky'): string {
  const what = cap === 'headerRoutes' ? 'remove the setHeaderRoute step' : 'remove stickySessions';
  if ((kind === 'kubernetes' || kind === 'helm') && cap === 'headerRoutes') return `add target.${kind}.httpRoute (a Gateway API HTTPRoute routes by header), or ${what}`;
  return `${what}, or run the service on a target that can`;
}
