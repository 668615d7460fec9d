/** `gangway retry <deployment-id>`: deploy the same release again (overrides a rejection). */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { finish } from './deploy.js';

/** Registers `retry`. */
export function registerRetry(program: Command, ctx: CliContext): void {
  program.command('retry')
    .description('deploy the release of a failed, rolled back or aborted deployment again (the override for a rejected release)')
    .argument('<deployment-id>', 'id shown by deploy, status or history')
    .option('--wait', 'follow the new deployment until it ends')
    .action(action(ctx, async (id: string, opts: { wait?: boolean }) => {
      const client = await ctx.client();
      const view = await client.retry(id);
      return finish(ctx, client, view, opts.wait === true);
    }));
}
