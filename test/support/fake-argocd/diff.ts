/**
 * Whether a live object matches its target manifest, for the FAKE Argo CD's sync status.
 * Upstream normalises both sides and diffs them (three-way, or a server-side-apply dry run);
 * the fake asks a simpler question that gives the same answer for the objects tests render:
 * is every field the manifest sets present in the live object with the same value? Fields the
 * API server adds (defaults, status, metadata the server owns) are therefore ignored, and a
 * field changed or removed in Git, or changed in the cluster, makes the resource OutOfSync.
 *
 * Simplified: lists must have the same length and match item by item (no merge keys);
 * quantities and other values the API server would normalise are compared as written; `null`
 * and empty maps in a manifest match an absent field.
 */
import type { Obj } from './types.js';
import { isObj } from './types.js';

function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || (isObj(v) && Object.keys(v).length === 0);
}

/** The first path at which `target` is not contained in `live`, or undefined when it is. */
export function firstDifference(target: unknown, live: unknown, path = ''): string | undefined {
  if (isObj(target)) {
    if (!isObj(live)) return isEmpty(target) && isEmpty(live) ? undefined : path || '.';
    for (const [k, v] of Object.entries(target)) {
      const at = `${path}.${k}`;
      if (isEmpty(v) && isEmpty(live[k])) continue;
      const d = firstDifference(v, live[k], at);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (Array.isArray(target)) {
    if (!Array.isArray(live) || live.length !== target.length) return path;
    for (let i = 0; i < target.length; i++) {
      const d = firstDifference(target[i], live[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (target === null || target === undefined) return live === null || live === undefined ? undefined : path;
  return target === live ? undefined : path;
}

/** Whether `live` matches `target` (see the file comment). */
export function matches(target: Obj, live: Obj): boolean {
  return firstDifference(target, live) === undefined;
}
