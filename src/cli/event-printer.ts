/**
 * Prints the event log as it grows, one human line per event, for `gangway up` and `gangway demo`.
 */
import type { EventRecord } from '../store/types.js';
import type { OrchestratorApi } from '../engine/types.js';

export function formatEvent(e: EventRecord, label: (deploymentId: string) => string): string | null {
  const time = new Date(e.at).toISOString().slice(11, 19);
  const who = e.deploymentId ? label(e.deploymentId) : '';
  const d = e.data;
  switch (e.type) {
    case 'deployment.created':
      return `${time} ${who} requested by ${String(d.actor ?? '?')}${d.reason ? ` (${String(d.reason)})` : ''}`;
    case 'deployment.phase':
      return `${time} ${who} ${String(d.to)}${d.message ? `: ${String(d.message)}` : ''}`;
    case 'deployment.abort_requested':
      return `${time} ${who} abort requested by ${String(d.actor ?? '?')}`;
    case 'step.started':
      return `${time} ${who}   → ${String(d.title)}`;
    case 'step.resumed':
      return `${time} ${who}   ↻ resumed: ${String(d.title)}`;
    case 'step.succeeded':
      return `${time} ${who}   ✓ ${String(d.title)} (${Math.round(Number(d.durationMs ?? 0))} ms)`;
    case 'step.failed':
      return `${time} ${who}   ✗ ${String(d.title)}: ${String(d.reason)}`;
    case 'step.skipped':
      return `${time} ${who}   - ${String(d.title)}: ${String(d.reason)}`;
    case 'deployment.replanned':
      return `${time} ${who} planned again from what serves now (${String(d.serving ?? 'nothing')}; rollback to ${String(d.stable ?? 'nothing')})`;
    case 'release.retired':
      return `${time} ${String(d.service)}/${String(d.environment)} retired ${String(d.version)}${d.reason ? ` (${String(d.reason)})` : ' (no traffic reaches it)'}`;
    default:
      return null;
  }
}

/** Follows new events until stopped. Starts after the newest event that exists now. */
export async function followEvents(orch: OrchestratorApi, write: (line: string) => void, signal: AbortSignal): Promise<void> {
  const [newest] = await orch.events({ limit: 1, newestFirst: true });
  let after = newest?.id ?? 0;
  const labels = new Map<string, string>();
  const label = (id: string) => labels.get(id) ?? id;
  while (!signal.aborted) {
    try {
      const batch = await orch.events({ afterId: after, limit: 500 });
      for (const e of batch) {
        after = e.id;
        if (e.deploymentId && !labels.has(e.deploymentId)) {
          const d = await orch.getDeployment(e.deploymentId).catch(() => null);
          if (d) labels.set(e.deploymentId, `${d.service}/${d.environment} ${d.version}`);
        }
        const line = formatEvent(e, label);
        if (line) write(line);
      }
    } catch {
      // The store is closing; the loop ends with the signal.
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}
