/**
 * What a wait on a platform that rolls pods itself (`helm upgrade --wait`, an Argo CD sync) says
 * when it ends early: the pod that cannot become healthy by waiting (`podProblem`: CrashLoopBackOff,
 * ImagePullBackOff, restarts past the restart limit) and the last lines of its log, so the step's
 * reason — and the deployment record — shows why without a `kubectl logs` afterwards. Shared by
 * the Helm and GitOps targets.
 */
import type { KubeApi } from './api.js';
import type { KubePod } from './objects.js';
import { podProblem } from './rollout-status.js';

/** Log lines a crash report quotes, and the length each is cut to. */
export const CRASH_LOG_LINES = 5;
const LINE_LIMIT = 200;

/**
 * The first pod of `pods` that cannot become healthy by waiting, as a sentence with its last log
 * lines, or null when none is stuck. `key` is the restart limit's config key, for the message.
 * A log that cannot be read is said so, never an error: the problem alone is reason enough.
 *
 * @example
 * await crashReport(api, 'shop', pods, { restartLimit: 0, key: 'target.helm.restartLimit', container: null })
 * // 'pod web-7d9c-x2: container web is in CrashLoopBackOff (back-off 10s …) after 1 restart, more than the 0 allowed (target.helm.restartLimit);
 * //  last log lines: starting | fatal: fake.local/crashloop:3.0.0 exits on purpose (crash loop)'
 */
export async function crashReport(api: Pick<KubeApi, 'logs'>, namespace: string, pods: readonly KubePod[], o: { restartLimit: number; key: string; container: string | null }): Promise<string | null> {
  for (const p of pods) {
    if (p.metadata.deletionTimestamp) continue;
    let problem = podProblem(p, o.restartLimit, o.key);
    if (!problem) continue;
    // A back-off names the restarts but not the limit they passed: say which key allows how many.
    const after = /after (\d+) restarts?$/.exec(problem);
    if (after && Number(after[1]) > o.restartLimit) problem += `, more than the ${o.restartLimit} allowed (${o.key})`;
    return `${problem}; ${await lastLines(api, namespace, p, o.container)}`;
  }
  return null;
}

/**
 * `last log lines: a | b`, `no log lines yet`, or why the log could not be read. A container that
 * has restarted is read as `kubectl logs --previous` reads it: the run that crashed, whose last
 * lines say why; the new run's log may hold nothing yet. The current log serves when there is no
 * previous one.
 */
async function lastLines(api: Pick<KubeApi, 'logs'>, namespace: string, p: KubePod, container: string | null): Promise<string> {
  const name = container ?? p.spec?.containers[0]?.name;
  const restarts = p.status?.containerStatuses?.find((s) => s.name === name)?.restartCount ?? 0;
  const read = async (previous: boolean): Promise<string[]> => {
    const text = await api.logs(namespace, p.metadata.name, { container: name, tailLines: CRASH_LOG_LINES, ...(previous ? { previous } : {}) });
    return text.split('\n').map((l) => l.replace(/[\x00-\x1f\x7f]+/g, ' ').trim()).filter((l) => l !== '')
      .slice(-CRASH_LOG_LINES).map((l) => (l.length > LINE_LIMIT ? `${l.slice(0, LINE_LIMIT)}…` : l));
  };
  try {
    const lines = (restarts > 0 ? await read(true).catch(() => []) : []);
    if (lines.length === 0) lines.push(...await read(false));
    return lines.length > 0 ? `last log lines: ${lines.join(' | ')}` : 'no log lines yet';
  } catch (err) {
    return `its log could not be read (${err instanceof Error ? err.message : String(err)})`;
  }
}
