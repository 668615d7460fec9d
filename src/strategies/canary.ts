/**
 * Canary: shift a share of real traffic to the new release step by step (10% → 50% → 100%
 * by default), judging it against the stable release on live metrics at analysis steps and
 * in the background. Canary instances scale with the canary's weight; the stable release
 * keeps its instances until the deployment ends, so going back is a switch of weights.
 */
import type { CanaryStep, ServiceEnvConfig } from '../config/types.js';
import type { PlanStep } from '../engine/steps/types.js';
import { step, watchSteps, type PlanInput } from './strategy.js';

/** How long an analysis step runs when the config names no duration: five evaluations. */
const DEFAULT_ANALYSIS_INTERVALS = 5;

export function planCanary({ cfg, release, stable, rollbackTo, templateInterval = () => 30_000 }: PlanInput): PlanStep[] {
  if (cfg.strategy.kind !== 'canary') throw new Error('planCanary needs a canary strategy');
  const n = cfg.target.instances;
  const v = release.version;
  const sticky = cfg.strategy.stickySessions;
  const out: PlanStep[] = [];
  // No stable release: nothing to compare with or return to; run it like a first rolling deployment.
  if (!stable || stable.version === v) {
    out.push(
      step({ type: 'scale', version: v, image: release.image, count: n }),
      step({ type: 'waitReady', version: v, count: n }),
      ...(cfg.smoke.length > 0 ? [step({ type: 'smoke', version: v })] : []),
      step({ type: 'traffic', versions: [{ version: v, weight: 100 }], preview: null, headerRoute: null, sticky: null }),
    );
    return out;
  }

  let running = 0;
  let weight = 0;
  let header: { name: string; value: string; version: string } | null = null;
  let smoked = false;
  const ensureInstances = (count: number) => {
    if (count <= running) return;
    out.push(step({ type: 'scale', version: v, image: release.image, count }));
    out.push(step({ type: 'waitReady', version: v, count }));
    running = count;
    if (!smoked && cfg.smoke.length > 0) {
      out.push(step({ type: 'smoke', version: v }));
      smoked = true;
    }
  };
  const traffic = () => step({
    type: 'traffic',
    versions: [{ version: stable.version, weight: 100 - weight }, { version: v, weight }].filter((x) => x.weight > 0),
    preview: null,
    headerRoute: header,
    sticky: weight < 100 ? sticky : null,
  });

  const steps: CanaryStep[] = [...cfg.strategy.steps];
  if (!steps.some((s) => s.kind === 'setWeight' && s.weight === 100)) steps.push({ kind: 'setWeight', weight: 100 });
  for (const s of steps) {
    switch (s.kind) {
      case 'setWeight':
        ensureInstances(canaryInstances(cfg, s.weight));
        weight = s.weight;
        // At 100% a header route or stickiness has nothing left to do.
        if (weight === 100) header = null;
        out.push(traffic());
        break;
      case 'setHeaderRoute':
        ensureInstances(1);
        header = s.header ? { ...s.header, version: v } : null;
        out.push(traffic());
        break;
      case 'pause':
        out.push(step({ type: 'pause', durationMs: s.durationMs }));
        break;
      case 'analysis':
        out.push(step({ type: 'analysis', template: s.template, version: v, durationMs: s.durationMs ?? DEFAULT_ANALYSIS_INTERVALS * templateInterval(s.template) }));
        break;
    }
  }
  out.push(...watchSteps(cfg, v, rollbackTo === undefined ? stable : rollbackTo));
  return out;
}

/** The canary's instance count at a weight: proportional, at least one. */
export function canaryInstances(cfg: ServiceEnvConfig, weight: number): number {
  return weight >= 100 ? cfg.target.instances : Math.max(1, Math.ceil((cfg.target.instances * weight) / 100));
}
