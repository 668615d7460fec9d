/** `gangway down`: stops the local agent and every instance it runs. */
import type { Command } from 'commander';
import { GangwayError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';

/** Registers `down`. */
export function registerDown(program: Command, ctx: CliContext): void {
  program.command('down')
    .description('stop the local agent and every instance it runs (traffic stops)')
    .action(action(ctx, async () => {
      const config = await ctx.config();
      // Loaded on use: no other command needs the agent client.
      const { connectAgent } = await import('../../agent/client.js');
      const agent = connectAgent(config.stateDir);
      try {
        await agent.state();
      } catch (err) {
        if (!(err instanceof GangwayError && err.code === 'unreachable')) throw err;
        if (ctx.json()) ctx.printJson({ stopped: false, running: false });
        else ctx.out('agent is not running\n');
        return 0;
      }
      try {
        await agent.shutdown();
      } catch (err) {
        // The agent may exit before its answer is complete; it was running a moment ago, so that is a stop.
        if (!(err instanceof GangwayError && err.code === 'unreachable')) throw err;
      }
      if (ctx.json()) ctx.printJson({ stopped: true, running: false });
      else ctx.out('agent stopped\n');
      return 0;
    }));
}
