/**
 * Text rendering for the CLI: aligned tables, ISO timestamps, human durations.
 * No dependency; the JSON output format bypasses all of this.
 */
import type { AutoDeployStatus } from '../autodeploy/status.js';

/**
 * Renders rows as columns separated by two spaces, padded to the widest cell. The last
 * column is not padded, so lines carry no trailing spaces.
 *
 * @example
 * table(['SERVICE', 'VERSION'], [['web', '1.4.2']]) // "SERVICE  VERSION\nweb      1.4.2\n"
 */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] + cell.length - [...cell].length))).join('  ').trimEnd()).join('\n') + '\n';
}

/**
 * A duration for people: `850ms`, `4.2s`, `1m05s`, `2h03m`.
 *
 * @example
 * formatDuration(65_000) // "1m05s"
 */
export function formatDuration(ms: number): string {
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * An epoch-milliseconds time as ISO 8601 UTC to the second; `-` for null.
 *
 * @example
 * formatTime(Date.UTC(2025, 0, 1, 12)) // "2025-01-01T12:00:00Z"
 */
export function formatTime(epochMs: number | null | undefined): string {
  if (epochMs === null || epochMs === undefined) return '-';
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Stable JSON for `-o json`: two-space indentation and a final newline. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** One line on a subscription's state, for `status` and `autodeploy status`. */
export function describeAutoDeploy(s: AutoDeployStatus): string {
  if (s.paused) return `paused since ${formatTime(s.paused.at)} by ${s.paused.by ?? '?'}'s rollback${s.paused.deployment ? ` ${s.paused.deployment}` : ''}`;
  if (s.registryDown) return `registry unreachable since ${formatTime(s.registryDown.since)}`;
  if (s.pending) return `${s.pending.tag} held back by ${s.pending.gates}`;
  return 'watching';
}
