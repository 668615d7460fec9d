/**
 * What the FAKE's controllers share: the API they read and write through (so their writes
 * bump resourceVersion and reach watches like any client's), whether to record Events, and
 * small helpers for owner references and conditions.
 */
import type { FakeApi } from '../api.js';
import type { Obj } from '../util.js';
import { isObj, nowRfc3339 } from '../util.js';

/** Shared by every controller. */
export interface ControllerContext {
  api: FakeApi;
  events: boolean;
  /** Base delay before a Job recreates a failed pod (doubles per failure). */
  jobBackoffMs: number;
}

/** The metadata of an object. */
export function metaOf(o: Obj): Obj {
  return (isObj(o.metadata) ? o.metadata : {}) as Obj;
}

/** The uid of the controlling owner, if any. */
export function controllerUid(o: Obj): string | undefined {
  const refs = metaOf(o).ownerReferences;
  if (!Array.isArray(refs)) return undefined;
  const ref = (refs as Obj[]).find((r) => r.controller === true);
  return ref ? String(ref.uid) : undefined;
}

/** A controller owner reference to `owner`. */
export function controllerRef(owner: Obj): Obj {
  const m = metaOf(owner);
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: m.name, uid: m.uid, controller: true, blockOwnerDeletion: true };
}

/** A condition of a status, by type. */
export function conditionOf(status: unknown, type: string): Obj | undefined {
  const list = isObj(status) && Array.isArray(status.conditions) ? (status.conditions as Obj[]) : [];
  return list.find((c) => c.type === type);
}

/** Whether a pod's Ready condition is True. */
export function podReady(pod: Obj): boolean {
  return conditionOf(pod.status, 'Ready')?.status === 'True';
}

/** Whether a pod has reached Succeeded or Failed. */
export function podTerminal(pod: Obj): boolean {
  const phase = isObj(pod.status) ? pod.status.phase : undefined;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** Whether a pod counts as active for a ReplicaSet or Job: not terminal, not being deleted. */
export function podActive(pod: Obj): boolean {
  return !podTerminal(pod) && !metaOf(pod).deletionTimestamp;
}

/** Whether a pod has been Ready for at least `minReadySeconds`. */
export function podAvailable(pod: Obj, minReadySeconds: number, now = Date.now()): boolean {
  const c = conditionOf(pod.status, 'Ready');
  if (c?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  const since = Date.parse(String(c.lastTransitionTime ?? ''));
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now;
}

/** Sets a condition in a conditions list: the transition time is kept while the status stays. */
export function setCondition(list: Obj[], cond: { type: string; status: string; reason?: string; message?: string }, extra: Record<string, unknown> = {}): Obj[] {
  const now = nowRfc3339();
  const prev = list.find((c) => c.type === cond.type);
  const next: Obj = { ...extra, type: cond.type, status: cond.status, ...(cond.reason ? { reason: cond.reason } : {}), ...(cond.message ? { message: cond.message } : {}) };
  next.lastTransitionTime = prev && prev.status === cond.status ? prev.lastTransitionTime : now;
  return [...list.filter((c) => c.type !== cond.type), next];
}

/** Drops zero-valued counters, as Go's `omitempty` does on the wire. */
export function omitZero(o: Obj, keys: readonly string[]): Obj {
  for (const k of keys) if (o[k] === 0 || o[k] === undefined) delete o[k];
  return o;
}
