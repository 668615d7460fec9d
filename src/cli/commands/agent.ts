/** `gangway agent`: runs the local agent in the foreground (normally `gangway up` starts it detached). */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { runAgent } from '../../agent/agent.js';

/** Registers `agent`. */
export function registerAgent(program: Command, ctx: CliContext): void {
  program.command('agent')
    .description('run the local agent in the foreground (`gangway up` starts it by itself when it is not running)')
    .action(action(ctx, async () => {
      const config = await ctx.config();
      const agent = await runAgent({
        stateDir: config.stateDir, metricsPort: config.agent.metricsPort, host: config.agent.host,
        forwardedHeaders: config.agent.forwardedHeaders, trustForwarded: config.agent.trustForwarded,
      });
      if (ctx.json()) ctx.printJson({ socket: agent.socketPath, metricsPort: agent.metricsPort, pid: process.pid });
      else ctx.out(`gangway agent: control socket ${agent.socketPath}, metrics on http://${config.agent.host}:${agent.metricsPort}/metrics\n`);
      await agent.done;
      return 0;
    }));
}
