/**
 * The first step of every deployment: the environment's gates. Evaluated until all pass; the
 * deployment shows `waiting` (with what it waits for) meanwhile. Results are recorded each
 * time they change, with their evidence.
 */
import type { StepResult } from './types.js';
import type { StepContext } from './context.js';
import { describeResults } from '../../gates/gate-set.js';

const POLL_MS = 1000;

export async function runGates(ctx: StepContext): Promise<StepResult> {
  if (!ctx.gates) return { result: 'succeeded', output: { gates: [] } };
  let last = '';
  let waiting: string | null = null;
  for (;;) {
    const results = await ctx.gates.evaluate(ctx.deployment.id);
    const signature = JSON.stringify(results.map((r) => [r.gate, r.result, r.reason]));
    if (signature !== last) {
      await ctx.gates.record(ctx.deployment.id, results);
      last = signature;
    }
    const failed = results.filter((r) => r.result === 'fail');
    if (failed.length > 0) {
      return { result: 'failed', reason: `blocked: ${describeResults(failed)}`, blocked: true, output: { gates: results } };
    }
    const pending = results.filter((r) => r.result === 'wait');
    if (pending.length === 0) {
      if (waiting !== null) await ctx.setWaiting(null);
      return { result: 'succeeded', output: { gates: results } };
    }
    const reason = `waiting for ${describeResults(pending)}`;
    if (waiting !== reason) {
      await ctx.setWaiting(reason);
      waiting = reason;
    }
    const until = Math.min(...pending.map((r) => (r.result === 'wait' && r.until !== null ? r.until : Infinity)));
    await ctx.clock.sleep(Math.max(50, Math.min(POLL_MS, until - ctx.clock.now())), ctx.signal);
  }
}
