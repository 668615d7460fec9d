/** `gangway up`: runs the orchestrator in the foreground; Ctrl-C stops it, the agent keeps serving. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { loadConfig } from '../../config/load.js';
import { startOrchestrator } from '../serve.js';
import { targetProblems } from '../targets.js';
import { followEvents } from '../event-printer.js';

/** Registers `up`. */
export function registerUp(program: Command, ctx: CliContext): void {
  program.command('up')
    .description('start the orchestrator (engine, API, local agent) for gangway.yaml; Ctrl-C stops it, the agent keeps serving')
    .action(action(ctx, async () => {
      // A strategy its target cannot carry out is a config error with file:line, before anything starts.
      const config = await loadConfig(ctx.configFile(), { check: targetProblems });
      const running = await startOrchestrator(config, { command: 'up' });
      const stop = stopSignal(ctx);
      if (ctx.json()) {
        ctx.printJson({ url: running.url, project: config.project, stateDir: config.stateDir, owner: running.runner.owner });
      } else {
        ctx.out(`gangway up: ${config.project} — API ${running.url}, ${config.serviceNames.length} service(s) in ${config.environments.map((e) => e.name).join(' → ')}\n`);
        ctx.out(`state in ${config.stateDir}; Ctrl-C stops the orchestrator (the agent keeps serving; \`gangway down\` stops it)\n`);
      }
      const following = ctx.json() ? Promise.resolve() : followEvents(running.orchestrator, (line) => ctx.out(line + '\n'), stop);
      await new Promise<void>((resolve) => stop.addEventListener('abort', () => resolve(), { once: true }));
      await following;
      await running.close();
      if (!ctx.json()) ctx.out('orchestrator stopped; the agent keeps serving\n');
      return 0;
    }));
}

/** Aborts on Ctrl-C or SIGTERM. */
export function stopSignal(ctx: CliContext): AbortSignal {
  const interrupted = ctx.interrupted();
  const ac = new AbortController();
  const onTerm = () => ac.abort();
  process.once('SIGTERM', onTerm);
  interrupted.addEventListener('abort', () => ac.abort(), { once: true });
  ac.signal.addEventListener('abort', () => process.removeListener('SIGTERM', onTerm), { once: true });
  return ac.signal;
}
