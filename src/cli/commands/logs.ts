/** `gangway logs <service> --env E [--version V] [--lines N] [--follow]` */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { positiveInt } from './plan.js';
import { wait } from './status.js';

/** Registers `logs`. */
export function registerLogs(program: Command, ctx: CliContext): void {
  program.command('logs')
    .description('recent log lines of a service\'s instances (processes, or pods on Kubernetes)')
    .argument('<service>', 'service name from gangway.yaml')
    .requiredOption('-e, --env <environment>', 'environment')
    .option('--version <version>', 'only instances of this release')
    .option('-n, --lines <count>', 'lines per instance (default 100)', positiveInt, 100)
    .option('-f, --follow', 'keep printing new lines, prefixed with the instance, until Ctrl-C')
    .action(action(ctx, async (service: string, opts: { env: string; version?: string; lines: number; follow?: boolean }) => {
      const client = await ctx.client();
      const query = { service, environment: opts.env, version: opts.version, lines: opts.lines };
      const logs = await client.logs(query);
      if (!opts.follow) {
        if (ctx.json()) { ctx.printJson(logs); return 0; }
        if (logs.length === 0) { ctx.out(`no instances of ${service} in ${opts.env}\n`); return 0; }
        logs.forEach((l, i) => {
          ctx.out(`${i > 0 ? '\n' : ''}==> ${l.instance} (${l.version}) <==\n`);
          for (const line of l.lines) ctx.out(`${line}\n`);
        });
        return 0;
      }
      const seen = new Map<string, string[]>();
      const signal = ctx.interrupted();
      for (let batch = logs; ;) {
        for (const l of batch) {
          const fresh = newLines(seen.get(l.instance) ?? [], l.lines);
          seen.set(l.instance, l.lines);
          for (const line of fresh) ctx.out(ctx.json() ? `${JSON.stringify({ instance: l.instance, version: l.version, line })}\n` : `${l.instance} ${line}\n`);
        }
        await wait(ctx.io.refreshMs, signal);
        if (signal.aborted) return 0;
        batch = await client.logs(query);
      }
    }));
}

/**
 * The lines of `now` that `before` did not end with: both are the last lines of one instance's
 * output, so the new ones follow the longest end of `before` that `now` begins with. When they
 * share nothing (more new lines than fit in the window), all of `now` is new.
 *
 * @example newLines(['a', 'b', 'c'], ['b', 'c', 'd', 'e']) // ['d', 'e']
 */
export function newLines(before: readonly string[], now: readonly string[]): string[] {
  for (let k = Math.min(before.length, now.length); k > 0; k--) {
    let same = true;
    for (let i = 0; i < k && same; i++) same = before[before.length - k + i] === now[i];
    if (same) return now.slice(k);
  }
  return [...now];
}
