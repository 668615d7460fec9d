/** `gangway freezes [--all]` */
import type { Command } from 'commander';
import { freezeScope } from '../../gates/freeze.js';
import type { FreezeRecord } from '../../store/types.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { formatTime, table } from '../output.js';

/** Registers `freezes`. */
export function registerFreezes(program: Command, ctx: CliContext): void {
  program.command('freezes')
    .description('active freezes, oldest first')
    .option('--all', 'lifted freezes too')
    .action(action(ctx, async (opts: { all?: boolean }) => {
      const client = await ctx.client();
      const rows = await client.freezes({ all: opts.all === true });
      if (ctx.json()) ctx.printJson(rows);
      else ctx.out(renderFreezes(rows, opts.all === true));
      return 0;
    }));
}

/** The freezes table; with `all`, a LIFTED column. */
export function renderFreezes(rows: FreezeRecord[], all: boolean): string {
  if (rows.length === 0) return all ? 'no freezes\n' : 'no active freezes\n';
  const headers = ['ID', 'SCOPE', 'OWNER', 'SOURCE', 'SINCE', ...(all ? ['LIFTED'] : []), 'REASON'];
  return table(headers, rows.map((f) => [
    f.id, freezeScope(f), f.owner, f.source, formatTime(f.createdAt),
    ...(all ? [f.liftedAt === null ? '-' : `${formatTime(f.liftedAt)} by ${f.liftedBy}`] : []), f.reason,
  ]));
}
