import type { StepResult } from './types.js';
import type { StepContext } from './context.js';

/**
 * A timed pause ends by itself (or earlier when promoted); an open pause waits for
 * `gangway promote`. Both are measured from the step's stored start, so a restart does not
 * lengthen them.
 */
export async function runPause(ctx: StepContext, p: { durationMs: number | null }): Promise<StepResult> {
  if (p.durationMs === null) {
    await ctx.waitForPromotion('paused until promoted (`gangway promote`)');
    return { result: 'succeeded', output: { promoted: true } };
  }
  const end = ctx.startedAt + p.durationMs;
  const remaining = end - ctx.clock.now();
  if (remaining > 0) await ctx.clock.sleep(remaining, ctx.signal);
  return { result: 'succeeded' };
}
