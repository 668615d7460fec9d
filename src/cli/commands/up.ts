/** `gangway up`: runs the orchestrator in the foreground; Ctrl-C stops it, the agent keeps serving. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { loadConfig } from '../../config/load.js';
import { startOrchestrator } from '../serve.js';
import { targetProblems } from '../targets.js';
import { followEvents } from '../event-printer.js';
import { GangwayError } from '../../errors.js';

/** Registers `up`. */
export function registerUp(program: Command, ctx: CliContext): void {
  program.command('up')
    .description('start the orchestrator (engine, API, local agent) for gangway.yaml; Ctrl-C stops it, the agent keeps serving')
    .option('--listen <host:port>', "this orchestrator's API address instead of server.host/server.port: replicas on one PostgreSQL store each listen on their own")
    .action(action(ctx, async (opts: { listen?: string }) => {
      const listen = opts.listen === undefined ? undefined : parseListen(opts.listen);
      // A strategy its target cannot carry out is a config error with file:line, before anything starts.
      const config = await loadConfig(ctx.configFile(), { check: targetProblems });
      const running = await startOrchestrator(config, { command: 'up', listen });
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

/** `--listen`: `host:port`, `[ipv6]:port` or `:port` (host 127.0.0.1). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new GangwayError('invalid_argument', `--listen ${JSON.stringify(value)} is not an address`, 'give host:port, e.g. --listen 127.0.0.1:7401 (or :7401, or [::1]:7401)');
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
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
