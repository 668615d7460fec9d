/** `gangway reject <deployment> [--comment C]` */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { printDecisions } from './approve.js';

/** Registers `reject`. */
export function registerReject(program: Command, ctx: CliContext): void {
  program.command('reject')
    .description('reject a deployment waiting for approvals: its approvals gate fails')
    .argument('<deployment>', 'id shown by deploy, status or history')
    .option('-m, --comment <text>', 'why, shown to the requester')
    .action(action(ctx, async (id: string, opts: { comment?: string }) => {
      const client = await ctx.client();
      const decisions = await client.reject(id, opts.comment);
      printDecisions(ctx, id, ctx.actor(), 'rejected', decisions);
      return 0;
    }));
}
