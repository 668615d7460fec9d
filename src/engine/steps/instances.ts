/**
 * Steps that act on instances: scale, waitReady and the post-deploy watch.
 */
import type { StepResult } from './types.js';
import { pollInterval, targetContext, type StepContext } from './context.js';
import type { TargetInstance } from '../../targets/target.js';

export async function runScale(ctx: StepContext, p: { version: string; image: string | null; count: number }): Promise<StepResult> {
  const list = await ctx.target.scale(ctx.cfg, { version: p.version, image: p.image }, p.count, targetContext(ctx));
  return { result: 'succeeded', output: { instances: list.map((i) => i.id) } };
}

/** Fails fast when an instance keeps crashing rather than waiting out the start timeout. */
const CRASH_LIMIT = 3;

export async function runWaitReady(ctx: StepContext, p: { version: string; count: number }): Promise<StepResult> {
  const { cfg, target, clock } = ctx;
  for (;;) {
    const mine = (await target.instances(cfg)).filter((i) => i.version === p.version && i.state !== 'stopping' && i.state !== 'stopped');
    const ready = mine.filter((i) => i.state === 'ready');
    if (ready.length >= p.count) {
      return { result: 'succeeded', output: { ready: ready.map(evidence) } };
    }
    const failing = mine.find((i) => i.failure);
    if (failing) {
      return {
        result: 'failed',
        reason: `instance ${failing.id} of ${p.version} cannot start: ${failing.failure} (see \`gangway logs ${cfg.service} --env ${cfg.environment} --version ${p.version}\`)`,
        output: { instances: mine.map(evidence) },
      };
    }
    const crashing = mine.find((i) => i.restarts >= CRASH_LIMIT);
    if (crashing) {
      return {
        result: 'failed',
        reason: `instance ${crashing.id} of ${p.version} crashed ${crashing.restarts} times while starting (see \`gangway logs ${cfg.service} --env ${cfg.environment} --version ${p.version}\`)`,
        output: { instances: mine.map(evidence) },
      };
    }
    const elapsed = clock.now() - ctx.startedAt;
    if (elapsed >= cfg.health.startTimeoutMs) {
      const notReady = mine.filter((i) => i.state !== 'ready');
      const detail = notReady.map((i) => `${i.id}: ${i.lastHealth?.detail ?? 'no health check answered yet'}`).join('; ');
      return {
        result: 'failed',
        reason: `${p.count - ready.length} of ${p.count} instances of ${p.version} did not become healthy within ${cfg.health.startTimeoutMs / 1000}s${detail ? ` (${detail})` : ''}`,
        output: { instances: mine.map(evidence) },
      };
    }
    await clock.sleep(pollInterval(cfg), ctx.signal);
  }
}

export async function runWatch(ctx: StepContext, p: { version: string; durationMs: number }): Promise<StepResult> {
  const { cfg, target, clock } = ctx;
  const threshold = cfg.health.failureThreshold;
  for (;;) {
    const mine = (await target.instances(cfg)).filter((i) => i.version === p.version);
    const bad = mine.find((i) => i.consecutiveFailures >= threshold || i.state === 'unhealthy' || i.state === 'crashed' || i.failure);
    if (bad) {
      const why = bad.failure ? `instance ${bad.id}: ${bad.failure}` : bad.state === 'crashed'
        ? `instance ${bad.id} crashed`
        : `instance ${bad.id} failed ${Math.max(bad.consecutiveFailures, threshold)} consecutive health checks (threshold ${threshold})`;
      return {
        result: 'failed',
        reason: `${why} during the watch of ${p.version}${bad.lastHealth ? `: ${bad.lastHealth.detail}` : ''}`,
        output: { instances: mine.map(evidence) },
      };
    }
    if (clock.now() - ctx.startedAt >= p.durationMs) {
      return { result: 'succeeded', output: { instances: mine.map(evidence) } };
    }
    await clock.sleep(Math.min(pollInterval(cfg), Math.max(1, ctx.startedAt + p.durationMs - clock.now())), ctx.signal);
  }
}

function evidence(i: TargetInstance) {
  return { id: i.id, state: i.state, restarts: i.restarts, consecutiveFailures: i.consecutiveFailures, lastHealth: i.lastHealth?.detail ?? null, ...(i.failure ? { failure: i.failure } : {}) };
}
