/**
 * crashReport: given pods as the API server reports them and a FAKE log reader (a function
 * returning fixed text, or failing), when a pod of the release cannot become healthy by waiting,
 * then the sentence names the pod, its reason, the restart limit's key and its last log lines.
 */
import { describe, expect, it } from 'vitest';
import type { KubePod } from './objects.js';
import { CRASH_LOG_LINES, crashReport } from './crash-report.js';

function pod(name: string, status: KubePod['status'], o: { deleting?: boolean } = {}): KubePod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'shop', ...(o.deleting ? { deletionTimestamp: '2026-12-06T04:00:00Z' } : {}) },
    spec: { containers: [{ name: 'web', image: 'shop/web:2.0.0' }] },
    status,
  } as KubePod;
}
const crashLooping = (restarts: number): KubePod['status'] => ({
  phase: 'Running',
  containerStatuses: [{ name: 'web', ready: false, restartCount: restarts, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container' } } }],
} as KubePod['status']);
const healthy: KubePod['status'] = { phase: 'Running', containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: { running: {} } }] } as KubePod['status'];

/**
 * A FAKE log reader: records what it was asked, answers `text` (or throws `fail`); with
 * `previous`, answers `previous` for the run before the last restart (or refuses as the API
 * server does when there is none).
 */
function fakeLogs(text: string, fail?: Error, previous?: string) {
  const asked: Array<{ pod: string; container?: string; tailLines?: number; previous?: boolean }> = [];
  return {
    asked,
    logs: async (_ns: string, p: string, o?: { container?: string; tailLines?: number; previous?: boolean }) => {
      asked.push({ pod: p, ...o });
      if (fail) throw fail;
      if (o?.previous) {
        if (previous === undefined) throw new Error(`previous terminated container "web" in pod "${p}" not found`);
        return previous;
      }
      return text;
    },
  };
}
const limit0 = { restartLimit: 0, key: 'target.helm.restartLimit', container: null };

describe('crashReport', () => {
  it('names the first stuck pod, its back-off, the limit it passed with its key, and its last log lines (control characters as spaces)', async () => {
    const api = fakeLogs('one\ntwo\nthree\nfour\nfive\nsix\x1b[31m red\n\n');
    const report = await crashReport(api, 'shop', [pod('web-a', healthy), pod('web-b', crashLooping(2))], limit0);
    expect(report).toBe('pod web-b: container web is in CrashLoopBackOff (back-off 10s restarting failed container) after 2 restarts, more than the 0 allowed (target.helm.restartLimit)'
      + '; last log lines: two | three | four | five | six [31m red');
    expect(api.asked).toEqual([
      { pod: 'web-b', container: 'web', tailLines: CRASH_LOG_LINES, previous: true },
      { pod: 'web-b', container: 'web', tailLines: CRASH_LOG_LINES },
    ]);
  });

  it('quotes the run that crashed when the container has restarted, even while the new run has written nothing yet', async () => {
    const api = fakeLogs('', undefined, 'starting\nfatal: release 3.0.0 cannot start\n');
    const report = await crashReport(api, 'shop', [pod('web-a', crashLooping(1))], limit0);
    expect(report).toBe('pod web-a: container web is in CrashLoopBackOff (back-off 10s restarting failed container) after 1 restart, more than the 0 allowed (target.helm.restartLimit)'
      + '; last log lines: starting | fatal: release 3.0.0 cannot start');
    expect(api.asked).toEqual([{ pod: 'web-a', container: 'web', tailLines: CRASH_LOG_LINES, previous: true }]);
  });

  it('reads only the current log of a container that never restarted', async () => {
    const never: KubePod['status'] = { phase: 'Pending', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "shop/web:2.0.0"' } } }] } as KubePod['status'];
    const api = fakeLogs('', undefined, 'must not be read');
    const report = await crashReport(api, 'shop', [pod('web-a', never)], limit0);
    expect(report).toMatch(/; no log lines yet$/);
    expect(api.asked).toEqual([{ pod: 'web-a', container: 'web', tailLines: CRASH_LOG_LINES }]);
  });

  it('does not name the limit when the restarts are within it, skips pods being deleted, and says so when there are no lines or the log cannot be read', async () => {
    const within = await crashReport(fakeLogs(''), 'shop', [pod('web-a', crashLooping(2))], { restartLimit: 5, key: 'target.gitops.restartLimit', container: 'web' });
    expect(within).toBe('pod web-a: container web is in CrashLoopBackOff (back-off 10s restarting failed container) after 2 restarts; no log lines yet');
    expect(await crashReport(fakeLogs('x'), 'shop', [pod('web-a', crashLooping(1), { deleting: true }), pod('web-b', healthy)], limit0)).toBeNull();
    const unreadable = await crashReport(fakeLogs('', new Error('pods "web-a" is forbidden')), 'shop', [pod('web-a', crashLooping(1))], limit0);
    expect(unreadable).toBe('pod web-a: container web is in CrashLoopBackOff (back-off 10s restarting failed container) after 1 restart, more than the 0 allowed (target.helm.restartLimit)'
      + '; its log could not be read (pods "web-a" is forbidden)');
  });

  it('cuts a long line to 200 characters', async () => {
    const report = await crashReport(fakeLogs(`${'x'.repeat(250)}\n`), 'shop', [pod('web-a', crashLooping(1))], limit0);
    expect(report).toBe(`pod web-a: container web is in CrashLoopBackOff (back-off 10s restarting failed container) after 1 restart, more than the 0 allowed (target.helm.restartLimit); last log lines: ${'x'.repeat(200)}…`);
  });
});
