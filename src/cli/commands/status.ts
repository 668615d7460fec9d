/** `gangway status [service] [--env E] [--watch]` */
import type { Command } from 'commander';
import type { ReleaseView, StatusEntry } from '../../engine/types.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { describeAutoDeploy, table } from '../output.js';

/** Registers `status`. */
export function registerStatus(program: Command, ctx: CliContext): void {
  program.command('status')
    .description('what runs where: stable release, latest deployment, instances, traffic')
    .argument('[service]', 'only this service')
    .option('-e, --env <environment>', 'only this environment')
    .option('-w, --watch', 'redraw every second until Ctrl-C')
    .option('-i, --instances', 'list every instance: its release, state, restarts and where it runs (port, or pod and node)')
    .action(action(ctx, async (service: string | undefined, opts: { env?: string; watch?: boolean; instances?: boolean }) => {
      const client = await ctx.client();
      const query = { service, environment: opts.env };
      const render = (entries: StatusEntry[]) => renderStatus(entries) + (opts.instances ? renderInstances(entries) : '');
      if (!opts.watch) {
        const entries = await client.status(query);
        if (ctx.json()) ctx.printJson(entries);
        else ctx.out(render(entries) + await releaseLines(client, entries));
        return 0;
      }
      const signal = ctx.interrupted();
      const tty = ctx.stdout.isTTY === true;
      while (!signal.aborted) {
        const entries = await client.status(query);
        if (ctx.json()) ctx.out(JSON.stringify(entries) + '\n');
        // On a terminal redraw in place; piped output gets one table per refresh instead of escape codes.
        else ctx.out(`${tty ? '\x1b[H\x1b[2J' : ''}${render(entries)}${tty ? '' : '\n'}`);
        await wait(ctx.io.refreshMs, signal);
      }
      return 0;
    }));
}

/** A line per release of several services the listed deployments belong to: its phase and each service's state. */
async function releaseLines(client: { getRelease(id: string): Promise<ReleaseView> }, entries: StatusEntry[]): Promise<string> {
  const ids = [...new Set(entries.map((e) => e.deployment?.group).filter((g): g is string => typeof g === 'string'))];
  let out = '';
  for (const id of ids) {
    const r = await client.getRelease(id).catch(() => null);
    if (r) out += `\nrelease ${r.id} (${r.environment}) ${r.phase.replace('_', ' ')}: ${r.services.map((s) => `${s.service} ${s.version} ${s.state}`).join(', ')}\n`;
  }
  return out;
}

/**
 * The status table (SERVICE ENVIRONMENT VERSION PHASE STEP INSTANCES TRAFFIC, and PREVIEW when a
 * listed pair is blue-green), then live figures per release — for pairs with a rollout in
 * progress (with the latest analysis verdicts), and for every pair serving requests — judged
 * against the pair's analysis rules when it has them (`✗` over a limit).
 */
export function renderStatus(entries: StatusEntry[]): string {
  if (entries.length === 0) return 'no services\n';
  const withPreview = entries.some((e) => e.preview);
  let out = table(['SERVICE', 'ENVIRONMENT', 'VERSION', 'PHASE', 'STEP', 'INSTANCES', 'TRAFFIC', ...(withPreview ? ['PREVIEW'] : [])], entries.map((e) => [
    e.service, e.environment, e.version ?? '-', e.deployment?.phase ?? '-', e.deployment?.step ?? '-',
    instances(e), traffic(e), ...(withPreview ? [preview(e)] : []),
  ]));
  for (const e of entries) {
    const active = e.deployment && !['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'].includes(e.deployment.phase);
    // Outside a rollout, the releases that serve requests: a settled release failing a fifth of them must show.
    const releases = active ? e.releases : e.releases.filter((r) => r.requests > 0);
    if (releases.length === 0 && (!active || e.analysis.length === 0)) continue;
    out += `\n${e.service}/${e.environment}${active ? ` ${e.deployment!.id}` : ''}\n`;
    if (releases.length > 0) {
      out += table(['  RELEASE', 'WEIGHT', 'REQ/MIN', 'ERRORS', 'P95'], releases.map((r) => [
        `  ${r.version}`, weightOf(e, r.version), String(r.requests),
        judged(r.errorRate, e.limits?.errorRate ?? null, (v) => `${(v * 100).toFixed(1)}%`),
        judged(r.p95Seconds, e.limits?.p95Seconds ?? null, (v) => `${Math.round(v * 1000)} ms`),
      ]));
    }
    if (active) for (const a of e.analysis) out += `  ${MARKS[a.verdict]} ${a.template}/${a.rule}: ${a.reason}\n`;
  }
  // Auto-deploy that is not simply watching: paused by a rollback, held back by a gate, or its registry down.
  for (const e of entries) {
    if (e.autoDeploy && (e.autoDeploy.paused || e.autoDeploy.pending || e.autoDeploy.registryDown)) {
      out += `\n${e.service}/${e.environment} auto-deploy: ${describeAutoDeploy(e.autoDeploy)}`
        + `${e.autoDeploy.paused ? ` (resume: gangway autodeploy resume ${e.service} --env ${e.environment})` : ''}\n`;
    }
  }
  return out + renderPlatform(entries);
}

/**
 * What the tools behind Helm and GitOps targets say, per service and environment: their lines
 * (`helm release  web revision 7 (deployed)`), the drift from what Gangway deployed (`! drift: …`),
 * and the tool's recent history, newest first.
 *
 * @example renderPlatform(entries) // '\nweb/prod on helm\n  helm release  web revision 7 (deployed)\n  …'
 */
export function renderPlatform(entries: StatusEntry[]): string {
  let out = '';
  for (const e of entries) {
    const p = e.platform;
    if (!p) continue;
    out += `\n${e.service}/${e.environment}\n`;
    if (p.error !== undefined) {
      out += `  ! cannot ask: ${p.error}\n`;
      continue;
    }
    const width = Math.max(0, ...p.lines.map((l) => l.label.length));
    for (const l of p.lines) out += `  ${l.label.padEnd(width)}  ${l.value}\n`;
    if (p.drift) out += `  ! drift: ${p.drift}\n`;
    if (p.history.length > 0) {
      out += table(['  REVISION', 'AT', 'STATUS', 'DESCRIPTION'], p.history.map((h) => [`  ${h.revision}`, h.at ?? '-', h.status, h.description]));
    }
  }
  return out;
}

/**
 * One table of instances per service and environment: id, release, state, restarts and where it
 * runs (`:41873` for a local process; `pod web-green-7d9c-x2 on node-1` on Kubernetes), with the
 * target's reason when an instance cannot start.
 *
 * @example renderInstances(entries) // '\nweb/prod instances\n  INSTANCE  RELEASE  STATE  RESTARTS  WHERE\n  …'
 */
export function renderInstances(entries: StatusEntry[]): string {
  let out = '';
  for (const e of entries) {
    if (e.instances.length === 0) continue;
    out += `\n${e.service}/${e.environment} instances\n`;
    out += table(['  INSTANCE', 'RELEASE', 'STATE', 'RESTARTS', 'WHERE'], e.instances.map((i) => [
      `  ${i.id}`, i.version, i.failure ? `${i.state}: ${i.failure}` : i.state, String(i.restarts), where(i),
    ]));
  }
  return out;
}

function where(i: StatusEntry['instances'][number]): string {
  if (i.port !== null) return `:${i.port}`;
  const d = i.detail ?? {};
  const parts = [d.pod ? `pod ${d.pod}` : null, d.node ? `on ${d.node}` : null, d.replicaSet ? `rs ${d.replicaSet}` : null].filter((x) => x !== null);
  return parts.length > 0 ? parts.join(' ') : '-';
}

const MARKS = { pass: '✓', fail: '✗', inconclusive: '?', error: '!' } as const;

/** `20.0% ✗ > 5.0% (e2e/error-rate)` over a rule's limit, `0.1%` otherwise, `-` without a figure. */
function judged(value: number | null, limit: { max: number; rule: string } | null, fmt: (v: number) => string): string {
  if (value === null) return '-';
  return limit && value > limit.max ? `${fmt(value)} ✗ > ${fmt(limit.max)} (${limit.rule})` : fmt(value);
}

function weightOf(e: StatusEntry, version: string): string {
  const total = e.traffic.reduce((sum, t) => sum + t.weight, 0);
  const w = e.traffic.find((t) => t.version === version)?.weight ?? 0;
  return total > 0 ? `${Math.round((w / total) * 100)}%` : '-';
}

/**
 * Instances of the releases that take traffic (the stable one when none does), and apart from
 * them the rest: the previous release kept warm after a switch, or a new one not serving yet.
 * "3/3 ready (+3 previous)", never "6/6" for three serving instances.
 */
function instances(e: StatusEntry): string {
  const live = e.instances.filter((i) => i.state !== 'stopped');
  if (live.length === 0) return '-';
  const serving = new Set(e.traffic.filter((t) => t.weight > 0).map((t) => t.version));
  if (serving.size === 0 && e.version) serving.add(e.version);
  const main = serving.size === 0 ? live : live.filter((i) => serving.has(i.version));
  const rest = live.length - main.length;
  const ready = main.filter((i) => i.state === 'ready').length;
  const unhealthy = main.filter((i) => i.state === 'unhealthy' || i.state === 'crashed').length;
  const active = e.deployment !== null && !FINAL.includes(e.deployment.phase);
  return `${ready}/${main.length} ready${unhealthy ? `, ${unhealthy} unhealthy` : ''}${rest ? ` (+${rest} ${active ? 'not serving' : 'previous'})` : ''}`;
}

const FINAL: readonly string[] = ['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'];

function traffic(e: StatusEntry): string {
  const total = e.traffic.reduce((sum, t) => sum + t.weight, 0);
  if (total <= 0) return '-';
  return e.traffic.filter((t) => t.weight > 0).map((t) => `${t.version} ${Math.round((t.weight / total) * 100)}%`).join(', ');
}

/**
 * `:41873` (idle), `:41873 2.0.0` (serving a release), `svc/web-preview` and
 * `svc/web-preview 2.0.0` (an endpoint that is not a port), `auto` (the agent chooses the port at
 * the first preview), `-` (no preview).
 */
function preview(e: StatusEntry): string {
  // A port of this machine, or — where the target previews on something else — its `endpoint`
  // (`svc/web-preview` on Kubernetes); `auto` belongs to the local agent, which chooses the port.
  const p = e.preview;
  if (!p) return '-';
  const version = p.version ? ` ${p.version}` : '';
  if (p.endpoint) return `${p.endpoint}${version}`;
  if (p.port === null) return 'auto';
  return `:${p.port}${version}`;
}

/** Resolves after `ms`, or at once when `signal` aborts (Ctrl-C), leaving no listener behind. */
export function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() { clearTimeout(timer); signal.removeEventListener('abort', done); resolve(); }
    signal.addEventListener('abort', done, { once: true });
  });
}
