/** `gangway validate [file]`: checks a config without talking to the orchestrator. */
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { ConfigError, formatProblem } from '../../errors.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { targetProblems } from '../targets.js';
import { checkTools, type ToolCheck } from '../tool-checks.js';

/** Registers `validate`. */
export function registerValidate(program: Command, ctx: CliContext): void {
  program.command('validate')
    .description('check gangway.yaml and print every problem (local; no orchestrator needed)')
    .argument('[file]', 'config file (default: -c, or gangway.yaml in the project folder)')
    .option('--check-tools', 'also check the tools the targets run: kubectl for kustomize, helm, git, the Argo CD token and Application')
    .action(action(ctx, async (file: string | undefined, opts: { checkTools?: boolean }) => {
      const path = file ? resolve(ctx.io.cwd, file) : ctx.configFile();
      try {
        // Strategies are checked against the targets' capabilities too (without connecting to them).
        const config = await loadConfig(path, { check: targetProblems });
        const environments = config.environments.map((e) => e.name);
        const services = config.serviceNames;
        const tools: ToolCheck[] | null = opts.checkTools ? await checkTools(config, { network: true }) : null;
        const toolsOk = tools === null || tools.every((t) => t.ok);
        if (ctx.json()) {
          ctx.printJson({ valid: toolsOk, environments, services, ...(tools ? { tools } : {}) });
        } else {
          ctx.out(`✓ ${basename(path)} is valid: ${count(environments.length, 'environment')}, ${count(services.length, 'service')}\n`);
          if (tools && tools.length === 0) ctx.out('✓ no tools to check: every target runs on Gangway alone\n');
          for (const t of tools ?? []) {
            const line = `${t.ok ? '✓' : '✗'} ${t.what}: ${t.detail} (${t.for.join(', ')})\n${!t.ok && t.hint ? `  hint: ${t.hint}\n` : ''}`;
            if (t.ok) ctx.out(line);
            else ctx.err(line);
          }
        }
        return toolsOk ? 0 : 2;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        if (ctx.json()) ctx.printJson({ valid: false, problems: err.problems });
        else {
          const omitted = err.problems.at(-1)?.omitted ?? 0;
          const listed = err.problems.length - (omitted > 0 ? 1 : 0);
          ctx.err(`✗ ${basename(path)} is invalid: ${count(listed + omitted, 'problem')}${omitted > 0 ? `, the first ${listed} listed` : ''}\n`);
          for (const p of err.problems) ctx.err(`${formatProblem(p)}\n`);
        }
        return 2;
      }
    }));
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
