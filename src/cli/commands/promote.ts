/** `gangway promote <service> --env E` / `gangway promote <deployment-id>`: continue a paused rollout. */
import type { Command } from 'commander';
import { GangwayError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { finish } from './deploy.js';

/** Registers `promote`. */
export function registerPromote(program: Command, ctx: CliContext): void {
  program.command('promote')
    .description('continue a paused rollout (or end its current pause step early)')
    .argument('<service-or-deployment>', 'a service (with --env) or a deployment id')
    .option('-e, --env <environment>', 'the environment whose active rollout of the service to promote')
    .option('--wait', 'follow the deployment until it ends (or pauses again)')
    .action(action(ctx, async (target: string, opts: { env?: string; wait?: boolean }) => {
      const client = await ctx.client();
      let id = target;
      if (opts.env) {
        const [entry] = await client.status({ service: target, environment: opts.env });
        const d = entry?.deployment;
        if (!d || ['succeeded', 'failed', 'rolled_back', 'aborted'].includes(d.phase)) {
          throw new GangwayError('conflict', `${target} has no rollout in progress in ${opts.env}`);
        }
        id = d.id;
      }
      const view = await client.promote(id);
      return finish(ctx, client, view, opts.wait === true);
    }));
}
