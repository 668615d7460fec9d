/**
 * The `job` step: a Job of `jobs.beforeRollout` (a migration Job) started for the deployment and
 * waited for, as `kubectl wait --for=condition=complete --timeout=…` would. The target's
 * `startJob` is idempotent, so a step resumed after a crash waits on the Job it started; the
 * timeout counts from the step's stored start. The pods' last lines go into the step's output
 * (a Job that timed out too), and so into the deployment record.
 */
import type { JobHandle } from '../../targets/target.js';
import type { StepContext } from './context.js';
import type { StepResult } from './types.js';

/** How often a running Job is looked at: a migration takes seconds to minutes, and each look is API calls. */
const JOB_POLL_MS = 1000;

/**
 * Starts the Job and polls it: succeeded when it completes, failed with the platform's reason
 * (BackoffLimitExceeded …) or once `timeoutMs` passed — the Job is left in place for inspection.
 *
 * @example await runJob(ctx, { index: 0, manifest: '/srv/shop/k8s/migrate.yaml', version: '2.0.0', image: null, timeoutMs: 300_000 })
 * // { result: 'succeeded', output: { job: 'migration-job-5f1c9a2e', logs: [{ pod: '…', lines: ['migration: done'] }] } }
 */
export async function runJob(ctx: StepContext, p: { index: number; manifest: string; version: string; image: string | null; timeoutMs: number }): Promise<StepResult> {
  const { cfg, target, clock } = ctx;
  if (!target.startJob || !target.jobStatus) {
    return { result: 'failed', reason: `the ${cfg.target.kind} target cannot run jobs; remove jobs.beforeRollout or plan this service again` };
  }
  const handle: JobHandle = await target.startJob(cfg, { manifest: p.manifest, timeoutMs: p.timeoutMs }, { version: p.version, image: p.image }, ctx.deployment.id);
  for (;;) {
    const status = await target.jobStatus(cfg, handle);
    const output = { job: handle.name, logs: status.logs };
    if (status.state === 'succeeded') return { result: 'succeeded', output };
    if (status.state === 'failed') return { result: 'failed', reason: `${status.reason} (see the step's logs; the Job is left in place)`, output };
    if (clock.now() - ctx.startedAt >= p.timeoutMs) {
      const last = await target.jobStatus(cfg, handle, { logs: true });
      return { result: 'failed', reason: `job ${handle.name} did not complete within ${p.timeoutMs / 1000}s (jobs.beforeRollout[${p.index}].timeout): ${last.reason}; the Job is left in place`, output: { job: handle.name, logs: last.logs } };
    }
    await clock.sleep(Math.min(JOB_POLL_MS, Math.max(0, ctx.startedAt + p.timeoutMs - clock.now())), ctx.signal);
  }
}
