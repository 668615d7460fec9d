/**
 * `gangway deploy <service> --env E (--version V | --image REF) [--reason R] [--wait]`, and
 * the follower that `rollback --wait` and `abort --wait` share.
 */
import type { Command } from 'commander';
import type { DeploymentView, StatusEntry } from '../../engine/types.js';
import type { StepRecord } from '../../store/types.js';
import { FINAL_PHASES } from '../../store/types.js';
import { GangwayError } from '../../errors.js';
import type { ApiClient } from '../client.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { formatDuration } from '../output.js';

interface DeployOptions {
  env: string; version?: string; image?: string; reason?: string; wait?: boolean; expedited?: boolean; waitForWindow?: boolean; all?: boolean; commitTime?: string;
}

/** Registers `deploy`. */
export function registerDeploy(program: Command, ctx: CliContext): void {
  program.command('deploy')
    .description('deploy a release of a service (or, with --all, of every service) to an environment')
    .argument('[service]', 'service name from gangway.yaml (omit with --all)')
    .requiredOption('-e, --env <environment>', 'target environment')
    .option('--version <version>', 'version label of the release (default: the release that last succeeded in the promotion source)')
    .option('--image <ref>', 'image reference, repo[:tag][@sha256:<digest>]; the tag is pinned to its digest when requested')
    .option('--reason <text>', 'why (change ticket); required by some environments and kept in the record')
    .option('--expedited', 'hotfix: skip the gates the environment\'s expedited policy names; needs --reason; flagged for review')
    .option('--wait-for-window', 'queue the deployment while the deployment window is closed instead of refusing it')
    .option('--commit-time <iso|ms>', 'when the release\'s commit was made (ISO 8601 with a zone, or epoch ms), for lead-time metrics')
    .option('--all', 'every service, in dependsOn order; stops at the first that fails (implies --wait)')
    .option('--wait', 'follow the deployment until it ends; exit 4 if it did not succeed')
    .action(action(ctx, async (service: string | undefined, opts: DeployOptions) => {
      const client = await ctx.client();
      const body = {
        environment: opts.env, version: opts.version, image: opts.image, reason: opts.reason, expedited: opts.expedited, waitForWindow: opts.waitForWindow,
        // Digits are epoch ms; anything else goes as text for the server to read as ISO 8601 (or refuse, naming the field).
        commitTime: opts.commitTime === undefined ? undefined : /^\d+$/.test(opts.commitTime) ? Number(opts.commitTime) : opts.commitTime,
      };
      if (opts.all) {
        if (service) throw new GangwayError('invalid_argument', 'give a service or --all, not both');
        return deployAll(ctx, client, body);
      }
      if (!service) throw new GangwayError('invalid_argument', 'name a service, or pass --all', 'e.g. gangway deploy web --env dev --version 1.4.2');
      const created = await client.deploy({ service, ...body });
      return finish(ctx, client, created, opts.wait === true);
    }));
}

/**
 * Deploys every service in dependsOn order, one after another, each followed to its end; the
 * group stops at the first deployment that does not succeed (exit 4). The CLI drives the group.
 */
async function deployAll(ctx: CliContext, client: ApiClient, body: Omit<Parameters<ApiClient['deploy']>[0], 'service'>): Promise<number> {
  const config = await ctx.config();
  const order = dependencyOrder(config.serviceNames, (s) => config.services[s][body.environment]?.dependsOn ?? []);
  const done: DeploymentView[] = [];
  for (const service of order) {
    if (!ctx.json()) ctx.out(`== ${service}\n`);
    const created = await client.deploy({ service, ...body });
    if (!ctx.json()) ctx.out(`${created.id} deployment of ${service} ${created.version} to ${created.environment}: ${created.phase}\n`);
    const final = await followDeployment(ctx, client, created);
    done.push(final);
    if (final.phase !== 'succeeded') {
      if (ctx.json()) ctx.printJson(done);
      else ctx.out(`stopped the group: ${service} ended ${final.phase}; not deployed: ${order.slice(order.indexOf(service) + 1).join(', ') || '-'}\n`);
      return 4;
    }
  }
  if (ctx.json()) ctx.printJson(done);
  return 0;
}

/** Services ordered so that each comes after what it depends on (the config rejects cycles). */
export function dependencyOrder(services: string[], deps: (s: string) => string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (s: string) => {
    if (seen.has(s)) return;
    seen.add(s);
    for (const d of deps(s)) visit(d);
    out.push(s);
  };
  for (const s of services) visit(s);
  return out;
}

/**
 * Prints a just-created (or just-aborted) deployment; with `wait`, follows it to its end.
 * Returns the exit code: 0, or 4 when the deployment ended other than succeeded.
 */
export async function finish(ctx: CliContext, client: ApiClient, view: DeploymentView, wait: boolean): Promise<number> {
  if (!wait) {
    if (ctx.json()) ctx.printJson(view);
    else ctx.out(`${describe(view)}: ${view.phase}\n`);
    return endCode(view);
  }
  if (!ctx.json()) ctx.out(`${describe(view)}: ${view.phase}\n`);
  const final = await followDeployment(ctx, client, view);
  if (ctx.json()) ctx.printJson(final);
  return endCode(final);
}

function describe(d: DeploymentView): string {
  const verb = d.kind === 'rollback' ? 'rollback of' : 'deployment of';
  return `${d.id} ${verb} ${d.service} ${d.version} to ${d.environment}`;
}

function endCode(d: DeploymentView): number {
  return d.phase === 'failed' || d.phase === 'rolled_back' || d.phase === 'aborted' ? 4 : 0;
}

const MARK: Partial<Record<StepRecord['status'], string>> = { running: '▸', succeeded: '✓', failed: '✗', skipped: '-' };

/**
 * Polls the deployment until it reaches a final phase. In text mode prints every step as it
 * starts and ends (with its duration), phase changes, the instances of the pair when they
 * change, and a final line with the outcome. Returns the final view.
 */
export async function followDeployment(ctx: CliContext, client: ApiClient, first: DeploymentView): Promise<DeploymentView> {
  const text = !ctx.json();
  const seen = new Map<number, StepRecord['status']>();
  let phase = first.phase;
  let instances = '';
  let watchLeft = '';
  let view = first;
  const report = (d: DeploymentView) => {
    if (!text) return;
    for (const step of d.steps) {
      const before = seen.get(step.idx) ?? 'pending';
      if (before === step.status) continue;
      seen.set(step.idx, step.status);
      // Numbered within its stage, so appending the rollback stage does not renumber steps already shown.
      const stage = d.steps.filter((s) => s.stage === step.stage);
      const n = `${stage.indexOf(step) + 1}/${stage.length}`;
      const label = `${step.stage === 'rollback' ? `[rollback ${n}]` : `[${n}]`} ${step.title}`;
      // A step can start and end between two polls; show both so every step is accounted for.
      if (before === 'pending' && step.status !== 'running' && step.status !== 'skipped') ctx.out(`  ▸ ${label}\n`);
      if (step.status === 'running') ctx.out(`  ▸ ${label}\n`);
      else if (step.status === 'skipped') ctx.out(`  - ${label} (skipped)\n`);
      else if (step.status === 'succeeded' || step.status === 'failed') {
        const took = step.startedAt !== null && step.finishedAt !== null ? ` (${formatDuration(step.finishedAt - step.startedAt)})` : '';
        const why = step.status === 'failed' && typeof step.output?.error === 'string' ? `: ${step.output.error}` : '';
        ctx.out(`  ${MARK[step.status]} ${label}${took}${why}\n`);
      }
    }
    if (d.phase !== phase) {
      phase = d.phase;
      if (!FINAL_PHASES.includes(d.phase)) ctx.out(`  phase: ${d.phase}\n`);
    }
  };
  report(view);
  while (!FINAL_PHASES.includes(view.phase)) {
    await sleep(ctx.io.pollMs);
    view = await client.getDeployment(view.id);
    report(view);
    if (text && !FINAL_PHASES.includes(view.phase)) {
      const now = summarizeInstances(await client.status({ service: view.service, environment: view.environment }));
      if (now && now !== instances) ctx.out(`  instances: ${now}\n`);
      instances = now;
      const left = watchTimeLeft(view, Date.now());
      if (left && left !== watchLeft) ctx.out(`  watch: ${left} left\n`);
      watchLeft = left;
    }
  }
  if (text) {
    const took = view.finishedAt !== null ? ` in ${formatDuration(view.finishedAt - (view.startedAt ?? view.createdAt))}` : '';
    const mark = view.phase === 'succeeded' ? '✓' : view.phase === 'superseded' ? '»' : '✗';
    ctx.out(`${mark} ${view.id} ${view.phase}${took}${view.message ? `: ${view.message}` : ''}\n`);
  }
  return view;
}

/**
 * Time left in a running post-deploy watch, rounded down to 30 s (10 s in its last minute)
 * so a progress line is printed when it changes, not on every poll; '' when no watch runs.
 *
 * @example
 * ```ts
 * watchTimeLeft(view, Date.now()); // '4m30s'
 * ```
 */
export function watchTimeLeft(d: DeploymentView, now: number): string {
  const step = d.steps[d.currentStep];
  if (!step || step.type !== 'watch' || step.status !== 'running' || step.startedAt === null) return '';
  const ms = Math.max(0, step.startedAt + Number(step.params.durationMs ?? 0) - now);
  const unit = ms > 60_000 ? 30_000 : 10_000;
  const s = Math.floor(ms / unit) * unit / 1000;
  return s >= 60 ? `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}` : `${s}s`;
}

/** "1.4.2: 2 ready; 1.4.1: 1 ready, 1 stopping", one group per version. */
export function summarizeInstances(entries: StatusEntry[]): string {
  const byVersion = new Map<string, Map<string, number>>();
  for (const e of entries) {
    for (const i of e.instances) {
      const states = byVersion.get(i.version) ?? new Map<string, number>();
      states.set(i.state, (states.get(i.state) ?? 0) + 1);
      byVersion.set(i.version, states);
    }
  }
  return [...byVersion].map(([v, states]) => `${v}: ${[...states].map(([s, n]) => `${n} ${s}`).join(', ')}`).join('; ');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
