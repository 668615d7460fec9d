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
    .option('--wait-for-window', 'as a deployment that would queue while the window is closed')
    .action(action(ctx, async (service: string, opts: { env: string; version?: string; image?: string; reason?: string; expedited?: boolean; waitForWindow?: boolean }) => {
      const client = await ctx.client();
      const plan = await client.plan({ service, environment: opts.env, version: opts.version, image: opts.image, reason: opts.reason, expedited: opts.expedited });
      const outcome = planOutcome(plan, opts);
      if (ctx.json()) ctx.printJson(plan);
      else ctx.out(renderPlan(plan) + renderOutcome(plan, outcome));
      // Scripts can ask before they deploy: 3 as `deploy` would exit when a gate refuses it.
      return outcome.kind === 'blocked' ? 3 : 0;
    }));
}

/**
 * What `deploy` with the same options would do now: `run`; `wait` for people (approvals,
 * checklist items) and then run; be refused by a gate (`blocked`, exit 3), as a failing
 * gate, a closed window (unless waiting for it) or a freeze (unless expedited) refuse it; or
 * nothing, the release being the stable one already (`serving`: deploy answers a conflict).
 */
export function planOutcome(p: PlanView, opts: { waitForWindow?: boolean; expedited?: boolean } = {}): { kind: 'run' | 'wait' | 'blocked' | 'serving'; gates: string[] } {
  if (p.stableVersion === p.version && p.queuedBehind === 0) return { kind: 'serving', gates: [] };
  const refused = p.gates.filter((g) => g.result === 'fail'
    || (g.result === 'wait' && g.gate === 'window' && !opts.waitForWindow)
    || (g.result === 'wait' && g.gate === 'freeze' && !opts.expedited));
  if (refused.length > 0) return { kind: 'blocked', gates: refused.map((g) => g.gate) };
  const waiting = p.gates.filter((g) => g.result === 'wait');
  return waiting.length > 0 ? { kind: 'wait', gates: waiting.map((g) => g.gate) } : { kind: 'run', gates: [] };
}

/** The line after the steps that says what a deployment would do, when it would not simply run. */
function renderOutcome(p: PlanView, o: ReturnType<typeof planOutcome>): string {
  if (o.kind === 'serving') return `${p.service} ${p.version} already serves in ${p.environment} as its stable release: nothing to deploy (deploy would refuse it)\n`;
  if (o.kind === 'blocked') return `blocked: a deployment now would be refused by ${o.gates.join(', ')}\n`;
  if (o.kind === 'wait') return `would wait for ${o.gates.join(', ')} before it runs\n`;
  return '';
}

const GATE_MARK = { pass: '✓', fail: '✗', wait: '…' } as const;

/** The plan as numbered steps under a one-line summary. */
export function renderPlan(p: PlanView): string {
  const replaces = p.stableVersion ? `replaces ${p.stableVersion}` : 'first deployment';
  const lines = [`plan: ${p.service} ${p.version} to ${p.environment} (${p.strategy}, ${replaces})`];
  if (p.preview) {
    lines.push(p.preview.port === null ? 'preview port: chosen by the agent when the preview first opens (then kept)' : `preview port: ${p.preview.port}`);
  }
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
