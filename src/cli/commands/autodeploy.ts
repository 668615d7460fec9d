/**
 * `gangway autodeploy status [service] [--env E]` and `gangway autodeploy resume <service>
 * --env E`: the subscriptions of auto-deploy (what each polls or takes from CI, the last tag,
 * a tag held back by a gate, a registry outage, a pause after a rollback), and resuming a pair
 * a person's rollback paused.
 */
import type { Command } from 'commander';
import type { AutoDeployStatus } from '../../autodeploy/status.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { describeAutoDeploy, table } from '../output.js';
import { addSubcommandGlobals } from './user.js';

/** The subscriptions table. */
export function renderAutoDeploy(rows: AutoDeployStatus[]): string {
  if (rows.length === 0) return 'no environment deploys by itself (see autoDeploy in docs/config.md)\n';
  return table(['SERVICE', 'ENVIRONMENT', 'SOURCE', 'LAST TAG', 'STATE'], rows.map((s) => [
    s.service, s.environment,
    s.mode === 'webhook' ? 'webhook' : `${s.repository} ${s.tagPattern} (${s.order})`,
    s.lastTag ?? '-', describeAutoDeploy(s),
  ]));
}

/** Registers `autodeploy` with its subcommands `status` and `resume`. */
export function registerAutoDeploy(program: Command, ctx: CliContext): void {
  const auto = program.command('autodeploy').description('releases that start themselves: subscriptions, and resuming one a rollback paused');

  const status = auto.command('status')
    .description('every auto-deploy subscription: source, last tag, and whether it is paused or held back')
    .argument('[service]', 'only this service')
    .option('-e, --env <environment>', 'only this environment')
    .action(action(ctx, async (service: string | undefined, opts: { env?: string }) => {
      const rows = await (await ctx.client()).request<AutoDeployStatus[]>('GET', '/v1/autodeploy', undefined, { service, environment: opts.env });
      if (ctx.json()) ctx.printJson(rows);
      else ctx.out(renderAutoDeploy(rows));
      return 0;
    }));

  const resume = auto.command('resume')
    .description('resume auto-deploy of a service in an environment after a rollback paused it')
    .argument('<service>', 'the service')
    .requiredOption('-e, --env <environment>', 'the environment')
    .action(action(ctx, async (service: string, opts: { env: string }) => {
      const s = await (await ctx.client()).request<AutoDeployStatus>('POST', '/v1/autodeploy/resume', { service, environment: opts.env });
      if (ctx.json()) ctx.printJson(s);
      else ctx.out(`auto-deploy of ${s.service} to ${s.environment} resumed; only a tag newer than ${s.lastTag ?? 'the last one seen'} is deployed\n`);
      return 0;
    }));

  for (const command of [status, resume]) addSubcommandGlobals(command);
}
