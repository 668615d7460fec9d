/** `gangway approve <deployment> [--comment C]` */
import type { Command } from 'commander';
import type { ApprovalRecord } from '../../store/types.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { formatTime, table } from '../output.js';

/** Registers `approve`. */
export function registerApprove(program: Command, ctx: CliContext): void {
  program.command('approve')
    .description('approve a deployment waiting for approvals (or for a freeze override)')
    .argument('<deployment>', 'id shown by deploy, status or history')
    .option('-m, --comment <text>', 'why, recorded with the approval')
    .action(action(ctx, async (id: string, opts: { comment?: string }) => {
      const client = await ctx.client();
      const decisions = await client.approve(id, opts.comment);
      printDecisions(ctx, id, ctx.actor(), 'approved', decisions);
      return 0;
    }));
}

/** Prints the decisions recorded on a deployment after `actor` decided: JSON as is, or a line and a table. */
export function printDecisions(ctx: CliContext, id: string, actor: string, verb: 'approved' | 'rejected', decisions: ApprovalRecord[]): void {
  if (ctx.json()) {
    ctx.printJson(decisions);
    return;
  }
  const own = decisions.find((d) => d.actor === actor);
  ctx.out(`${verb} ${id} as ${actor}${own && own.groups.length > 0 ? ` (${own.groups.join(', ')})` : ''}\n`);
  ctx.out(renderDecisions(decisions));
}

/** The decisions table. */
export function renderDecisions(decisions: ApprovalRecord[]): string {
  return table(['ACTOR', 'DECISION', 'GROUPS', 'AT', 'COMMENT'],
    decisions.map((d) => [d.actor, d.decision, d.groups.join(','), formatTime(d.at), d.comment ?? '']));
}
