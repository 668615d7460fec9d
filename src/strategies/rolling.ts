/**
 * Rolling: replace instances in batches. Each new instance must be healthy before an old one
 * goes; traffic is split in proportion to the instances of each version, so every instance
 * carries an even share. `maxSurge` new instances may run above the desired count;
 * `maxUnavailable` old ones may be stopped before their replacements are ready.
 */
import type { PlanStep } from '../engine/steps/types.js';
import { step, watchSteps, type PlanInput } from './strategy.js';

export function planRolling({ cfg, release, stable, rollbackTo }: PlanInput): PlanStep[] {
  const watch = rollbackTo === undefined ? stable : rollbackTo;
  if (cfg.strategy.kind !== 'rolling') throw new Error('planRolling needs a rolling strategy');
  const n = cfg.target.instances;
  const { maxSurge, maxUnavailable } = cfg.strategy;
  const v = release.version;
  const smoke = cfg.smoke.length > 0 ? [step({ type: 'smoke', version: v })] : [];

  if (!stable || stable.version === v) {
    return [
      step({ type: 'scale', version: v, image: release.image, count: n }),
      step({ type: 'waitReady', version: v, count: n }),
      ...smoke,
      step({ type: 'traffic', versions: [{ version: v, weight: n }], preview: null }),
      ...watchSteps(cfg, v, watch),
    ];
  }

  const batch = Math.max(1, maxSurge > 0 ? maxSurge : maxUnavailable);
  const steps: PlanStep[] = [];
  let fresh = 0;
  while (fresh < n) {
    const add = Math.min(batch, n - fresh);
    const nextFresh = fresh + add;
    const nextOld = n - nextFresh;
    if (maxSurge === 0) {
      // No room above the desired count: retire old instances first.
      steps.push(step({ type: 'traffic', versions: split(stable.version, nextOld, v, fresh), preview: null }));
      steps.push(step({ type: 'scale', version: stable.version, image: stable.image, count: nextOld }));
    }
    steps.push(step({ type: 'scale', version: v, image: release.image, count: nextFresh }));
    steps.push(step({ type: 'waitReady', version: v, count: nextFresh }));
    if (fresh === 0) steps.push(...smoke);
    steps.push(step({ type: 'traffic', versions: split(stable.version, nextOld, v, nextFresh), preview: null }));
    if (maxSurge > 0) steps.push(step({ type: 'scale', version: stable.version, image: stable.image, count: nextOld }));
    fresh = nextFresh;
  }
  steps.push(...watchSteps(cfg, v, watch));
  return steps;
}

/**
 * Rolling on a target that rolls natively (a Kubernetes Deployment's rolling update): one
 * `rollout` step hands the release to the platform and waits until it converged; then the smoke
 * checks and the watch, as with any rolling update.
 */
export function planNativeRolling({ cfg, release, stable, rollbackTo }: PlanInput): PlanStep[] {
  const v = release.version;
  return [
    step({ type: 'rollout', version: v, image: release.image }),
    ...(cfg.smoke.length > 0 ? [step({ type: 'smoke', version: v })] : []),
    ...watchSteps(cfg, v, rollbackTo === undefined ? stable : rollbackTo),
  ];
}

function split(oldVersion: string, oldCount: number, newVersion: string, newCount: number) {
  const out: Array<{ version: string; weight: number }> = [];
  if (oldCount > 0) out.push({ version: oldVersion, weight: oldCount });
  if (newCount > 0) out.push({ version: newVersion, weight: newCount });
  return out;
}
