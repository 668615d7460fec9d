/**
 * The `rollout` step: on a target that rolls natively (a Deployment's rolling update, a Helm
 * upgrade, an Argo CD sync), ask for the release, keep the handle the target returns, and wait
 * until the platform says it converged or gave up. The target's `rollout` is idempotent, so a
 * step resumed after a crash gets the same handle back and waits on the same rollout; the wait
 * is measured from the step's stored start, so a resumed step does not start its timeout over.
 */
import type { RolloutHandle } from '../../targets/target.js';
import { pollInterval, type StepContext } from './context.js';
import type { StepResult } from './types.js';

/**
 * Rolls out `version` and polls its status: succeeded when done, failed with the target's reason
 * when it failed, or failed naming what was awaited once `health.startTimeout` passed.
 *
 * @example await runRollout(ctx, { version: '2.0.0', image: 'shop/web@sha256:…' })
 * // { result: 'succeeded', output: { handle: { version: '2.0.0', revision: 'generation 7' }, status: '3 of 3 …' } }
 */
export async function runRollout(ctx: StepContext, p: { version: string; image: string | null }): Promise<StepResult> {
  const { cfg, target, clock } = ctx;
  if (!target.rollout || !target.rolloutStatus) {
    return { result: 'failed', reason: `the ${cfg.target.kind} target cannot roll out a release by itself; plan this service again` };
  }
  const { id, actor, reason } = ctx.deployment;
  const handle: RolloutHandle = await target.rollout(cfg, { version: p.version, image: p.image }, { deploymentId: id, actor, reason, stage: ctx.stage });
  for (;;) {
    const status = await target.rolloutStatus(cfg, handle);
    if (status.state === 'done') return { result: 'succeeded', output: { handle: { ...handle }, status: status.reason } };
    if (status.state === 'failed') {
      return { result: 'failed', reason: `the rollout of ${p.version} (${handle.revision}) failed: ${status.reason}`, output: { handle: { ...handle } } };
    }
    if (clock.now() - ctx.startedAt >= cfg.health.startTimeoutMs) {
      return {
        result: 'failed',
        reason: `the rollout of ${p.version} (${handle.revision}) did not finish within ${cfg.health.startTimeoutMs / 1000}s (health.startTimeout): ${status.reason}`,
        output: { handle: { ...handle } },
      };
    }
    await clock.sleep(pollInterval(cfg), ctx.signal);
  }
}
