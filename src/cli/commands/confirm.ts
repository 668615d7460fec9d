/** `gangway confirm <deployment> <item> [--note N]` */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { formatTime, table } from '../output.js';

/** Registers `confirm`. */
export function registerConfirm(program: Command, ctx: CliContext): void {
  program.command('confirm')
    .description("confirm an item of the environment's checklist for a deployment")
    .argument('<deployment>', 'id shown by deploy, status or history')
    .argument('<item>', 'the checklist item, by name')
    .option('-n, --note <text>', 'evidence, recorded with the confirmation (a ticket, a snapshot id)')
    .action(action(ctx, async (id: string, item: string, opts: { note?: string }) => {
      const client = await ctx.client();
      const confirmations = await client.confirmChecklist(id, item, opts.note);
      if (ctx.json()) {
        ctx.printJson(confirmations);
        return 0;
      }
      ctx.out(`confirmed ${item} for ${id} as ${ctx.actor()}\n`);
      ctx.out(table(['ITEM', 'ACTOR', 'AT', 'NOTE'], confirmations.map((c) => [c.item, c.actor, formatTime(c.at), c.note ?? ''])));
      return 0;
    }));
}
