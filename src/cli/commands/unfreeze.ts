/** `gangway unfreeze <freeze-id>` */
import type { Command } from 'commander';
import { freezeScope } from '../../gates/freeze.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';

/** Registers `unfreeze`. */
export function registerUnfreeze(program: Command, ctx: CliContext): void {
  program.command('unfreeze')
    .description('lift a freeze (manual or raised by an incident alert)')
    .argument('<freeze-id>', 'id shown by freeze or freezes')
    .action(action(ctx, async (id: string) => {
      const client = await ctx.client();
      const freeze = await client.unfreeze(id);
      if (ctx.json()) ctx.printJson(freeze);
      else ctx.out(`lifted freeze ${freeze.id} on ${freezeScope(freeze)} (${freeze.reason})\n`);
      return 0;
    }));
}
