/**
 * `gangway deploy <service> --env E (--version V | --image REF) [--reason R] [--wait]`, and
 * the follower that `rollback --wait` and `abort --wait` share.
 */
import type { Command } from 'commander';
import type { DeploymentView, ReleaseView, StatusEntry } from '../../engine/types.js';
import type { StepRecord } from '../../store/types.js';
import { FINAL_PHASES } from '../../store/types.js';
import { GangwayError } from '../../errors.js';
import type { ApiClient } from '../client.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { formatDuration } from '../output.js';

interface DeployOptions {
  env: string; version?: string; image?: string; reason?: string; wait?: boolean; expedited?: boolean; waitForWindow?: boolean; all?: boolean; commitTime?: string;
  versions?: string; onFailure?: string;
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
    .option('--all', 'one stored release of every service, run in dependsOn order by the orchestrator; followed to its end unless --no-wait')
    .option('--versions <list>', 'with --all: each service\'s version, service=version,... (--version gives the others)')
    .option('--on-failure <policy>', 'with --all: rollback (roll back what shipped) or stop (leave it, start no other); default: the environment\'s releases.onFailure')
    .option('--wait', 'follow the deployment until it ends; exit 4 if it did not succeed')
    .option('--no-wait', 'with --all: print the release id and return at once')
    .action(action(ctx, async (service: string | undefined, opts: DeployOptions) => {
      const client = await ctx.client();
      const body = {
        environment: opts.env, version: opts.version, image: opts.image, reason: opts.reason, expedited: opts.expedited, waitForWindow: opts.waitForWindow,
        // Digits are epoch ms; anything else goes as text for the server to read as ISO 8601 (or refuse, naming the field).
        commitTime: opts.commitTime === undefined ? undefined : /^\d+$/.test(opts.commitTime) ? Number(opts.commitTime) : opts.commitTime,
      };
      if (opts.all) {
        if (service) throw new GangwayError('invalid_argument', 'give a service or --all, not both');
        if (opts.image !== undefined || opts.expedited || opts.waitForWindow || opts.commitTime !== undefined) {
          throw new GangwayError('invalid_argument', '--all takes --version, --versions, --reason and --on-failure only', 'deploy an image, a hotfix or a release waiting for its window one service at a time');
        }
        if (opts.onFailure !== undefined && opts.onFailure !== 'rollback' && opts.onFailure !== 'stop') {
          throw new GangwayError('invalid_argument', `--on-failure: "${opts.onFailure}" is not a policy`, 'use --on-failure rollback or --on-failure stop');
        }
        return deployAll(ctx, client, {
          environment: opts.env, version: opts.version, versions: opts.versions === undefined ? undefined : parseVersions(opts.versions),
          reason: opts.reason, onFailure: opts.onFailure as 'rollback' | 'stop' | undefined,
        }, opts.wait !== false);
      }
      if (opts.versions !== undefined || opts.onFailure !== undefined) throw new GangwayError('invalid_argument', '--versions and --on-failure go with --all');
      if (!service) throw new GangwayError('invalid_argument', 'name a service, or pass --all', 'e.g. gangway deploy web --env dev --version 1.4.2');
      const created = await client.deploy({ service, ...body });
      return finish(ctx, client, created, opts.wait === true);
    }));
}

/**
 * `deploy --all` and `promote --all`: requests one stored release of every service (a release
 * group; the orchestrator runs it in dependsOn order and keeps going if this terminal closes)
 * and, unless `wait` is false, follows it to its end. Exit 0 when it succeeded, 4 otherwise.
 */
export async function deployAll(ctx: CliContext, client: ApiClient, body: Parameters<ApiClient['createRelease']>[0], wait: boolean): Promise<number> {
  const created = await client.createRelease(body);
  if (!wait) {
    if (ctx.json()) ctx.printJson(created);
    else ctx.out(`${created.id} release of ${created.services.map((s) => `${s.service} ${s.version}`).join(', ')} to ${created.environment}: ${created.phase}\n`);
    return 0;
  }
  if (!ctx.json()) {
    ctx.out(`${created.id} release to ${created.environment} (on failure: ${created.onFailure})\n`);
    for (const s of created.services) ctx.out(`  ${s.service} ${s.version}${s.dependsOn.length > 0 ? ` after ${s.dependsOn.join(', ')}` : ''}${s.deploymentId ? ` (${s.deploymentId})` : ' (already running it)'}\n`);
  }
  const final = await followRelease(ctx, client, created);
  if (ctx.json()) ctx.printJson(final);
  return final.phase === 'succeeded' ? 0 : 4;
}

/** Polls a release until it ends, printing each service's state changes (and its rollback's) in text mode. */
export async function followRelease(ctx: CliContext, client: ApiClient, first: ReleaseView): Promise<ReleaseView> {
  const text = !ctx.json();
  const seen = new Map<string, string>();
  let phase = first.phase;
  let view = first;
  const report = (r: ReleaseView) => {
    if (!text) return;
    for (const s of r.services) {
      const now = `${s.state}${s.state === 'running' && s.step ? `: ${s.step}` : ''}${s.rollback ? ` / rollback to ${s.rollback.version}: ${s.rollback.phase}` : ''}`;
      if (seen.get(s.service) === now) continue;
      seen.set(s.service, now);
      ctx.out(`  ${s.service} ${s.version}: ${now}${FINAL_PHASES.includes(s.state as DeploymentView['phase']) && s.message && !s.rollback ? ` (${s.message})` : ''}\n`);
    }
    if (r.phase !== phase) {
      phase = r.phase;
      if (!['succeeded', 'failed', 'rolled_back'].includes(r.phase)) ctx.out(`  release: ${r.phase}\n`);
    }
  };
  report(view);
  while (!['succeeded', 'failed', 'rolled_back'].includes(view.phase)) {
    await sleep(ctx.io.pollMs);
    view = await client.getRelease(view.id);
    report(view);
  }
  if (text) {
    const took = view.finishedAt !== null ? ` in ${formatDuration(view.finishedAt - (view.startedAt ?? view.createdAt))}` : '';
    ctx.out(`${view.phase === 'succeeded' ? '✓' : '✗'} ${view.id} ${view.phase.replace('_', ' ')}${took}${view.message ? `: ${view.message}` : ''}\n`);
  }
  return view;
}

/** `api=1.2.0,web=2.0.1` as a map; a clear error for anything else. */
export function parseVersions(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) {
      throw new GangwayError('invalid_argument', `--versions: "${part}" is not service=version`, 'e.g. --versions api=1.2.0,web=2.0.1');
    }
    const service = part.slice(0, eq).trim();
    if (Object.hasOwn(out, service)) throw new GangwayError('invalid_argument', `--versions: ${service} is named twice`);
    out[service] = part.slice(eq + 1).trim();
  }
  if (Object.keys(out).length === 0) throw new GangwayError('invalid_argument', '--versions: name at least one service=version', 'e.g. --versions api=1.2.0,web=2.0.1');
  return out;
}

export { dependencyOrder } from '../../releases/group-plan.js';

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
