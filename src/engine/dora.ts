/**
 * The four DORA metrics of each (service, environment), computed from deployment records
 * alone — a pure function, so the same history always gives the same figures. The choices
 * where DORA leaves room (what a manual rollback means, how failures in a row are counted)
 * are explained in docs/dora.md.
 */
import type { DeploymentRecord } from '../store/types.js';

/** One day in milliseconds. */
export const DAY_MS = 86_400_000;

/** DORA metrics of one (service, environment) over a period. All durations are milliseconds. */
export interface DoraMetrics {
  service: string;
  environment: string;
  /** The period: `days` long, ending at `to` (epoch ms, both ends included). */
  period: { days: number; from: number; to: number };
  /** Successful deployments (not rollbacks) that finished in the period, and that count per day. */
  deploymentFrequency: { count: number; perDay: number };
  /**
   * From the release's commit to the end of its successful deployment, over the successful
   * deployments that carry a commit time (`count` of them); null when none does.
   */
  leadTime: { count: number; medianMs: number | null; p90Ms: number | null };
  /**
   * `failed` of `total` deployments that finished in the period (never-started aborts left
   * out) failed, were rolled back, were aborted, or were undone later by a manual rollback;
   * `rate` is null when `total` is 0.
   */
  changeFailureRate: { failed: number; total: number; rate: number | null };
  /** From the start of each failure that began in the period to the next successful deployment of the pair; `count` restored failures. */
  timeToRestore: { count: number; medianMs: number | null };
}

/** Options of {@link computeDora}. */
export interface DoraOptions {
  /** The end of the period (epoch ms). */
  now: number;
  /** The period's length in days. */
  days: number;
  /** Pairs to report even when they have no deployment in the period (e.g. every configured one). */
  pairs?: ReadonlyArray<{ service: string; environment: string }>;
}

/**
 * The `q`-quantile (0..1) of ascending `sorted` values by linear interpolation between
 * closest ranks (NumPy's default, Hyndman & Fan type 7): the median of an even count is the
 * mean of the middle two. Null for no values.
 *
 * @example
 * ```ts
 * quantile([1, 2, 3, 4], 0.5); // 2.5
 * ```
 */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Durations are reported in whole milliseconds (interpolation leaves float noise). */
const wholeMs = (ms: number | null) => (ms === null ? null : Math.round(ms));

const FAILED_PHASES = new Set(['failed', 'rolled_back', 'aborted']);

const key = (service: string, environment: string) => `${service}\u0000${environment}`;

/** Finished deployments in the order they ended (seq breaks ties). */
function byFinish(a: DeploymentRecord, b: DeploymentRecord): number {
  return (a.finishedAt ?? 0) - (b.finishedAt ?? 0) || a.seq - b.seq;
}

/**
 * DORA metrics per (service, environment), sorted by service then environment. Reads only
 * deployments that finished in the period `[now - days, now]`; pass at least those (more is
 * fine). A manual rollback (kind `rollback`) is not a change: it marks the deployment it
 * undid — the latest success of the pair before it, when that was a deployment of the
 * version the rollback replaced — as failed, and opens a failure at its creation.
 *
 * @example
 * ```ts
 * const [web] = computeDora(await store.listDeployments({ finishedSince: now - 30 * DAY_MS }), { now, days: 30 });
 * web.changeFailureRate.rate; // 0.25
 * ```
 */
export function computeDora(deployments: readonly DeploymentRecord[], opts: DoraOptions): DoraMetrics[] {
  const from = opts.now - opts.days * DAY_MS;
  const pairs = new Map<string, { service: string; environment: string; list: DeploymentRecord[] }>();
  for (const p of opts.pairs ?? []) pairs.set(key(p.service, p.environment), { service: p.service, environment: p.environment, list: [] });
  for (const d of deployments) {
    if (d.finishedAt === null || d.finishedAt < from || d.finishedAt > opts.now) continue;
    const k = key(d.service, d.environment);
    let pair = pairs.get(k);
    if (!pair) pairs.set(k, pair = { service: d.service, environment: d.environment, list: [] });
    pair.list.push(d);
  }
  return [...pairs.values()]
    .sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.environment < b.environment ? -1 : a.environment > b.environment ? 1 : 0))
    .map(({ service, environment, list }) => ({ service, environment, ...pairMetrics(list.sort(byFinish), from, opts) }));
}

function pairMetrics(list: DeploymentRecord[], from: number, opts: DoraOptions): Omit<DoraMetrics, 'service' | 'environment'> {
  const changes = list.filter((d) => d.kind === 'deploy' && !(d.phase === 'aborted' && d.startedAt === null));
  const succeeded = changes.filter((d) => d.phase === 'succeeded');

  // Deployments a person undid with a rollback count as failed changes.
  const undone = new Set<string>();
  for (const r of list) {
    if (r.kind !== 'rollback') continue;
    const last = list.filter((d) => d.phase === 'succeeded' && (d.finishedAt ?? 0) <= r.createdAt && d.id !== r.id).at(-1);
    if (last && last.kind === 'deploy' && last.version === r.previousVersion) undone.add(last.id);
  }
  const failed = changes.filter((d) => FAILED_PHASES.has(d.phase) || undone.has(d.id)).length;

  const leadTimes = succeeded.filter((d) => d.commitTime !== null)
    .map((d) => Math.max(0, (d.finishedAt ?? 0) - (d.commitTime ?? 0)))
    .sort((a, b) => a - b);

  return {
    period: { days: opts.days, from, to: opts.now },
    deploymentFrequency: { count: succeeded.length, perDay: succeeded.length / opts.days },
    leadTime: { count: leadTimes.length, medianMs: wholeMs(quantile(leadTimes, 0.5)), p90Ms: wholeMs(quantile(leadTimes, 0.9)) },
    changeFailureRate: { failed, total: changes.length, rate: changes.length === 0 ? null : failed / changes.length },
    timeToRestore: timeToRestore(list, from),
  };
}

/**
 * Walks the pair's history in time order. A failure opens an outage unless one is open
 * already (failures in a row are one outage, measured from the first); the next successful
 * deployment of any kind closes it. Outages that began before the period are left out.
 */
function timeToRestore(list: DeploymentRecord[], from: number): DoraMetrics['timeToRestore'] {
  const marks: Array<{ at: number; seq: number; failure: boolean }> = [];
  for (const d of list) {
    if (d.kind === 'rollback') marks.push({ at: d.createdAt, seq: d.seq, failure: true });
    else if (d.phase === 'failed' || d.phase === 'rolled_back') marks.push({ at: d.finishedAt ?? 0, seq: d.seq, failure: true });
    if (d.phase === 'succeeded') marks.push({ at: d.finishedAt ?? 0, seq: d.seq, failure: false });
  }
  // At the same moment a failure comes first, so a success then closes it (after 0 ms).
  marks.sort((a, b) => a.at - b.at || Number(b.failure) - Number(a.failure) || a.seq - b.seq);
  const restored: number[] = [];
  let openedAt: number | null = null;
  for (const m of marks) {
    if (m.failure) openedAt ??= m.at;
    else if (openedAt !== null) {
      if (openedAt >= from) restored.push(m.at - openedAt);
      openedAt = null;
    }
  }
  restored.sort((a, b) => a - b);
  return { count: restored.length, medianMs: wholeMs(quantile(restored, 0.5)) };
}
