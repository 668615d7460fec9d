/**
 * `gangway promote <service> --to E`: deploy to E the release that most recently succeeded in
 * E's promotion source. `gangway promote <service> --env E` / `gangway promote <deployment-id>`:
 * continue a paused rollout (or end its current pause step early). `gangway promote --all --to E`:
 * promote the release of several services that last succeeded together in E's source.
 */
import type { Command } from 'commander';
import { GangwayError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { deployAll, finish } from './deploy.js';

interface PromoteOptions { env?: string; to?: string; reason?: string; expedited?: boolean; waitForWindow?: boolean; wait?: boolean; all?: boolean }

/** Registers `promote`. */
export function registerPromote(program: Command, ctx: CliContext): void {
  program.command('promote')
    .description('promote a release to the next environment (--to), or continue a paused rollout (--env, or a deployment id)')
    .argument('[service-or-deployment]', 'a service (with --to or --env) or a deployment id (omit with --all)')
    .option('--all', 'with --to: promote the release of several services that last succeeded together in the promotion source')
    .option('--to <environment>', 'deploy the release that last succeeded in this environment\'s promotion source')
    .option('-e, --env <environment>', 'the environment whose paused rollout of the service to continue')
    .option('--reason <text>', 'with --to: why (change ticket)')
    .option('--expedited', 'with --to: hotfix under the environment\'s expedited policy')
    .option('--wait-for-window', 'with --to: queue while the deployment window is closed')
    .option('--wait', 'follow the deployment until it ends (or pauses again)')
    .option('--no-wait', 'with --all: print the release id and return at once')
    .action(action(ctx, async (target: string | undefined, opts: PromoteOptions) => {
      const client = await ctx.client();
      if (opts.all) {
        if (target) throw new GangwayError('invalid_argument', 'give a service or --all, not both');
        if (!opts.to) throw new GangwayError('invalid_argument', '--all needs --to <environment>', 'e.g. gangway promote --all --to prod');
        return deployAll(ctx, client, { environment: opts.to, reason: opts.reason }, opts.wait !== false);
      }
      if (!target) throw new GangwayError('invalid_argument', 'name a service or a deployment, or pass --all --to <environment>');
      if (opts.to && opts.env) throw new GangwayError('invalid_argument', 'give --to (promote a release) or --env (continue a paused rollout), not both');
      if (opts.to) {
        const created = await client.deploy({ service: target, environment: opts.to, reason: opts.reason, expedited: opts.expedited, waitForWindow: opts.waitForWindow });
        return finish(ctx, client, created, opts.wait === true);
      }
      let id = target;
      if (opts.env) {
        const [entry] = await client.status({ service: target, environment: opts.env });
        const d = entry?.deployment;
        if (!d || ['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'].includes(d.phase)) {
          throw new GangwayError('conflict', `${target} has no rollout in progress in ${opts.env}`);
        }
        id = d.id;
      }
      const view = await client.promote(id);
      return finish(ctx, client, view, opts.wait === true);
    }));
}
