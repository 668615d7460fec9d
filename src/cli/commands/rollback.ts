/** `gangway rollback <service> --env E [--to V] [--reason R] [--wait]` */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { finish } from './deploy.js';

/** Registers `rollback`. */
export function registerRollback(program: Command, ctx: CliContext): void {
  program.command('rollback')
    .description('roll a service back to its previous stable release, or to --to')
    .argument('<service>', 'service name from gangway.yaml')
    .requiredOption('-e, --env <environment>', 'environment to roll back')
    .option('--to <version>', 'release to roll back to (default: the previous stable release)')
    .option('--reason <text>', 'why; kept in the record')
    .option('--wait', 'follow the rollback until it ends; exit 4 if it did not succeed')
    .action(action(ctx, async (service: string, opts: { env: string; to?: string; reason?: string; wait?: boolean }) => {
      const client = await ctx.client();
      const created = await client.rollback({ service, environment: opts.env, to: opts.to, reason: opts.reason });
      return finish(ctx, client, created, opts.wait === true);
    }));
}
