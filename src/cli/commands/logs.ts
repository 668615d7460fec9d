/** `gangway logs <service> --env E [--version V] [--lines N]` */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { positiveInt } from './plan.js';

/** Registers `logs`. */
export function registerLogs(program: Command, ctx: CliContext): void {
  program.command('logs')
    .description('recent log lines of a service\'s instances')
    .argument('<service>', 'service name from gangway.yaml')
    .requiredOption('-e, --env <environment>', 'environment')
    .option('--version <version>', 'only instances of this release')
    .option('-n, --lines <count>', 'lines per instance (default 100)', positiveInt, 100)
    .action(action(ctx, async (service: string, opts: { env: string; version?: string; lines: number }) => {
      const client = await ctx.client();
      const logs = await client.logs({ service, environment: opts.env, version: opts.version, lines: opts.lines });
      if (ctx.json()) { ctx.printJson(logs); return 0; }
      if (logs.length === 0) { ctx.out(`no instances of ${service} in ${opts.env}\n`); return 0; }
      logs.forEach((l, i) => {
        ctx.out(`${i > 0 ? '\n' : ''}==> ${l.instance} (${l.version}) <==\n`);
        for (const line of l.lines) ctx.out(`${line}\n`);
      });
      return 0;
    }));
}
