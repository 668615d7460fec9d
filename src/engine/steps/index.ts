import type { StepParams, StepResult } from './types.js';
import { targetContext, type StepContext } from './context.js';
import { runScale, runWaitReady, runWatch } from './instances.js';
import { runSmoke } from './smoke.js';
import { runRollout } from './rollout.js';
import { runJob } from './job.js';
import { runPause } from './pause.js';
import { runAnalysis } from './analysis.js';
import { runGates } from './gates.js';
import { runBackup, runMigrate, runMigrationRollback, runValidate } from './migrations.js';

/** Runs one step. Idempotent: running it again after a crash leads to the same end state. */
export async function runStep(ctx: StepContext, p: StepParams): Promise<StepResult> {
  switch (p.type) {
    case 'scale': return runScale(ctx, p);
    case 'waitReady': return runWaitReady(ctx, p);
    case 'traffic':
      await ctx.target.setTraffic(ctx.cfg, { versions: p.versions, preview: p.preview, headerRoute: p.headerRoute ?? null, sticky: p.sticky ?? null }, targetContext(ctx));
      return { result: 'succeeded' };
    case 'pause': return runPause(ctx, p);
    case 'gates': return runGates(ctx);
    case 'migrationBackup': return runBackup(ctx, p);
    case 'migrate': return runMigrate(ctx);
    case 'migrationValidate': return runValidate(ctx);
    case 'migrationRollback': return runMigrationRollback(ctx, p);
    case 'analysis': return runAnalysis(ctx, p);
    case 'smoke': return runSmoke(ctx, p);
    case 'watch': return runWatch(ctx, p);
    case 'rollout': return runRollout(ctx, p);
    case 'job': return runJob(ctx, p);
  }
}
