/** `gangway freeze [--env E] [--service S] --reason R` */
import type { Command } from 'commander';
import { freezeScope } from '../../gates/freeze.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';

/** Registers `freeze`. */
export function registerFreeze(program: Command, ctx: CliContext): void {
  program.command('freeze')
    .description('stop deployments to an environment and/or service until the freeze is lifted')
    .option('-e, --env <environment>', 'only this environment (default: every environment)')
    .option('-s, --service <service>', 'only this service (default: every service)')
    .requiredOption('-r, --reason <text>', 'why (shown to everyone the freeze blocks)')
    .action(action(ctx, async (opts: { env?: string; service?: string; reason: string }) => {
      const client = await ctx.client();
      const freeze = await client.freeze({ environment: opts.env, service: opts.service, reason: opts.reason });
      if (ctx.json()) ctx.printJson(freeze);
      else ctx.out(`froze ${freezeScope(freeze)}: ${freeze.reason}\nfreeze ${freeze.id}; lift it with: gangway unfreeze ${freeze.id}\n`);
      return 0;
    }));
}
