/** `gangway history [service] [--env E] [--limit N]` */
import type { Command } from 'commander';
import type { DeploymentView } from '../../engine/types.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { formatDuration, formatTime, table } from '../output.js';
import { positiveInt } from './plan.js';

/** Registers `history`. */
export function registerHistory(program: Command, ctx: CliContext): void {
  program.command('history')
    .description('past deployments, newest first')
    .argument('[service]', 'only this service')
    .option('-e, --env <environment>', 'only this environment')
    .option('-n, --limit <count>', 'at most this many (default 20)', positiveInt, 20)
    .action(action(ctx, async (service: string | undefined, opts: { env?: string; limit: number }) => {
      const client = await ctx.client();
      const rows = await client.history({ service, environment: opts.env, limit: opts.limit });
      if (ctx.json()) ctx.printJson(rows.map((d) => ({ ...historyEntry(d), url: dashboardUrl(client.baseUrl, d.id) })));
      else ctx.out(renderHistory(rows) + (rows.length > 0 ? `\non the dashboard: ${dashboardUrl(client.baseUrl, rows[0].id)} (any deployment: /deployments/ID)\n` : ''));
      return 0;
    }));
}

/** The dashboard's rollout page of a deployment: its steps, charts and verdicts, however long ago it ran. */
export function dashboardUrl(baseUrl: string, id: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/deployments/${encodeURIComponent(id)}`;
}

/** The fields `history -o json` promises (the design's CLI contract), without `url` (added from the API's address). */
export function historyEntry(d: DeploymentView) {
  return {
    id: d.id, service: d.service, environment: d.environment, version: d.version, phase: d.phase,
    actor: d.actor, reason: d.reason, createdAt: d.createdAt, finishedAt: d.finishedAt, steps: d.steps,
    expedited: d.expedited, image: d.image, message: d.message, supersededBy: d.supersededBy, gates: d.gates, verdicts: d.verdicts,
    group: d.groupId ?? null,
  };
}

/** The history table. */
export function renderHistory(rows: DeploymentView[]): string {
  if (rows.length === 0) return 'no deployments\n';
  return table(['ID', 'SERVICE', 'ENVIRONMENT', 'KIND', 'VERSION', 'PHASE', 'ACTOR', 'CREATED', 'DURATION', 'REASON'], rows.map((d) => [
    d.id, d.service, d.environment, d.kind, d.version, d.supersededBy ? `${d.phase} by ${d.supersededBy}` : d.phase, d.actor, formatTime(d.createdAt),
    d.finishedAt !== null ? formatDuration(d.finishedAt - (d.startedAt ?? d.createdAt)) : '-',
    // Expedited deployments are flagged for post-incident review.
    `${d.groupId ? `[${d.groupId}] ` : ''}${d.expedited ? '[expedited] ' : ''}${d.reason ?? ''}`,
  ])) + groupLines(rows);
}

/** One line per release of several services among the rows: its id and each service's deployment, in the order they were made. */
function groupLines(rows: DeploymentView[]): string {
  const groups = new Map<string, DeploymentView[]>();
  for (const d of [...rows].reverse()) if (d.groupId) groups.set(d.groupId, [...(groups.get(d.groupId) ?? []), d]);
  return [...groups].map(([id, ds]) => `release ${id} (${ds[0].environment}): ${ds.map((d) => `${d.service} ${d.kind === 'rollback' ? 'rollback to ' : ''}${d.version} ${d.phase}`).join(', ')}\n`).join('');
}
