/**
 * Event objects (core/v1 Event) the FAKE's controllers and kubelet record for notable things —
 * Scheduled, Pulled, Started, Killing, BackOff, Failed, ScalingReplicaSet, SuccessfulCreate,
 * Completed, BackoffLimitExceeded — aggregated like upstream's recorder: a repeat of the same
 * reason and message for the same object bumps `count` and `lastTimestamp` instead of adding
 * an object.
 */
import type { FakeApi } from './api.js';
import { resolveKind } from './resources.js';
import { ApiError } from './status.js';
import type { Obj } from './util.js';
import { nowRfc3339, randSuffix } from './util.js';

/** Records an event about `obj` (with kind/apiVersion set). No-op when `enabled` is false. */
export function recordEvent(api: FakeApi, enabled: boolean, obj: Obj, type: 'Normal' | 'Warning', reason: string, message: string, component: string): void {
  if (!enabled) return;
  const m = obj.metadata as Obj;
  const ns = String(m.namespace ?? 'default');
  const evRt = resolveKind('Event');
  if (!api.find(resolveKind('Namespace'), '', ns)) return;
  const now = nowRfc3339();
  const same = api.store.scan(evRt, ns).find((e) => {
    const io = e.involvedObject as Obj;
    return io.uid === m.uid && e.reason === reason && e.message === message;
  });
  if (same) {
    const name = String((same.metadata as Obj).name);
    api.mutate(evRt, ns, name, (e) => { e.count = Number(e.count ?? 1) + 1; e.lastTimestamp = now; }, component);
    return;
  }
  // An event is best effort: a terminating namespace refuses it, and that is fine.
  try { create(); } catch (err) { if (!(err instanceof ApiError)) throw err; }
  function create(): void {
  api.create(evRt, ns, {
    metadata: { name: `${String(m.name)}.${Date.now().toString(16)}${randSuffix(3)}`, namespace: ns },
    involvedObject: { kind: obj.kind, namespace: ns, name: m.name, uid: m.uid, apiVersion: obj.apiVersion, resourceVersion: m.resourceVersion },
    reason, message, type,
    source: { component, ...(component === 'kubelet' ? { host: 'fake-node' } : {}) },
    firstTimestamp: now, lastTimestamp: now, count: 1,
    reportingComponent: component, reportingInstance: component === 'kubelet' ? 'fake-node' : '',
  }, { fieldManager: component, internal: true });
  }
}
