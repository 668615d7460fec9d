/** `gangway abort <deployment-id> [--wait]` */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { finish } from './deploy.js';

/** Registers `abort`. */
export function registerAbort(program: Command, ctx: CliContext): void {
  program.command('abort')
    .description('abort a queued or running deployment')
    .argument('<deployment-id>', 'id shown by deploy, status or history')
    .option('--wait', 'follow the deployment until it has stopped')
    .action(action(ctx, async (id: string, opts: { wait?: boolean }) => {
      const client = await ctx.client();
      const view = await client.abort(id);
      // Stopping the deployment is what was asked for, so its ending as aborted (or rolled back) is success here.
      await finish(ctx, client, view, opts.wait === true);
      return 0;
    }));
}
