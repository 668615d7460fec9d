/** `gangway plan <service> --env E [--version V | --image REF]` */
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import type { PlanView } from '../../engine/types.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';

/** Commander parser for options that take a count. */
export function positiveInt(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new InvalidArgumentError('expected a whole number of at least 1');
  return Number(value);
}

/** Registers `plan`. */
export function registerPlan(program: Command, ctx: CliContext): void {
  program.command('plan')
    .description('print the steps a deployment would run, without running them')
    .argument('<service>', 'service name from gangway.yaml')
    .requiredOption('-e, --env <environment>', 'target environment')
    .option('--version <version>', 'version label of the release')
    .option('--image <ref>', 'image reference, repo[:tag][@sha256:<digest>]')
    .option('--reason <text>', 'the reason the deployment would give')
    .option('--expedited', 'as a hotfix under the environment\'s expedited policy')
    .action(action(ctx, async (service: string, opts: { env: string; version?: string; image?: string; reason?: string; expedited?: boolean }) => {
      const client = await ctx.client();
      const plan = await client.plan({ service, environment: opts.env, version: opts.version, image: opts.image, reason: opts.reason, expedited: opts.expedited });
      if (ctx.json()) ctx.printJson(plan);
      else ctx.out(renderPlan(plan));
      return 0;
    }));
}

const GATE_MARK = { pass: '✓', fail: '✗', wait: '…' } as const;

/** The plan as numbered steps under a one-line summary. */
export function renderPlan(p: PlanView): string {
  const replaces = p.stableVersion ? `replaces ${p.stableVersion}` : 'first deployment';
  const lines = [`plan: ${p.service} ${p.version} to ${p.environment} (${p.strategy}, ${replaces})`];
  const width = String(p.steps.length).length;
  if (p.gates.length > 0 || p.skippedGates.length > 0) {
    lines.push('gates:');
    for (const g of p.gates) lines.push(`  ${GATE_MARK[g.result]} ${g.gate}: ${g.reason}${g.result === 'wait' && g.until ? ` (until ${new Date(g.until).toISOString()})` : ''}`);
    for (const g of p.skippedGates) lines.push(`  - ${g}: skipped (expedited)`);
  }
  lines.push('steps:');
  p.steps.forEach((s, i) => lines.push(`  ${String(i + 1).padStart(width)}. ${s.title}`));
  if (p.queuedBehind > 0) lines.push(`would wait behind ${p.queuedBehind} queued or active deployment${p.queuedBehind === 1 ? '' : 's'}`);
  return lines.join('\n') + '\n';
}
