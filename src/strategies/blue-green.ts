/**
 * Blue-green: start the new release (green) beside the serving one (blue), check it through
 * the preview port, switch all traffic at once, watch it. Blue keeps running for
 * `scaleDownDelay` after the deployment ends, so a rollback in that time is a switch back.
 */
import type { PlanStep } from '../engine/steps/types.js';
import { step, watchSteps, type PlanInput } from './strategy.js';

export function planBlueGreen({ cfg, release, stable, rollbackTo }: PlanInput): PlanStep[] {
  const n = cfg.target.instances;
  const serving = stable ? [{ version: stable.version, weight: 100 }] : [];
  return [
    step({ type: 'scale', version: release.version, image: release.image, count: n }),
    step({ type: 'waitReady', version: release.version, count: n }),
    step({ type: 'traffic', versions: serving, preview: release.version }),
    ...(cfg.smoke.length > 0 ? [step({ type: 'smoke', version: release.version })] : []),
    step({ type: 'traffic', versions: [{ version: release.version, weight: 100 }], preview: null }),
    ...watchSteps(cfg, release.version, rollbackTo === undefined ? stable : rollbackTo),
  ];
}
