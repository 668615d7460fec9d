/**
 * Field ownership (`metadata.managedFields`) and server-side apply for the FAKE Kubernetes API
 * server, after upstream's structured-merge-diff:
 *
 * - A field set is the set of leaf paths of an object, written with upstream's path elements:
 *   `f:<field>`, `k:{"name":"web"}` for an item of an associative list, `v:<json>` for an
 *   item of a set, and `.` for "the item itself". It is stored as `fieldsV1`, exactly the
 *   nested form the real server writes.
 * - An Update (POST, PUT, or a non-apply PATCH) gives its manager every field it changed and
 *   takes those fields from every other manager; it never conflicts.
 * - An Apply conflicts (409, reason Conflict, cause FieldManagerConflict) when it sets a field
 *   to a value different from the live one and another manager owns that field, unless
 *   `force=true`, which takes the field over. Fields the applier owned before and no longer
 *   applies are removed from the object unless another manager still owns them.
 *
 * Simplified, and said so: lists without keys in schema.ts are atomic; defaulted key fields
 * are only known for `protocol` (TCP); the `.` marker is kept for list items only, not for
 * maps; there is no type-conversion between API versions (each kind has one version).
 */
import { ApiError } from './status.js';
import type { SchemaNode } from './schema.js';
import { child, itemOf } from './schema.js';
import type { Obj } from './util.js';
import { clone, deepEqual, isObj, nowRfc3339 } from './util.js';

/** A path of upstream path elements. */
export type FieldPath = readonly string[];

/** A set of field paths (each encoded as JSON of its elements). */
export type FieldSet = Set<string>;

/** One `metadata.managedFields` entry. */
export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Obj;
  subresource?: string;
}

const KEY_DEFAULTS: Record<string, unknown> = { protocol: 'TCP' };

function itemKey(item: Obj, keys: readonly string[]): string {
  const k: Obj = {};
  for (const name of [...keys].sort()) {
    const v = item[name] ?? KEY_DEFAULTS[name];
    if (v !== undefined) k[name] = v;
  }
  return `k:${JSON.stringify(k)}`;
}

function matchesKey(item: unknown, pe: string, keys: readonly string[]): boolean {
  return isObj(item) && itemKey(item, keys) === pe;
}

/** Metadata fields no manager owns (upstream strips them from every field set). */
const STRIPPED_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generateName']);

/** The projection of an object a write scope covers: everything but status, or only status. */
export function project(obj: Obj, scope: 'main' | 'status'): Obj {
  if (scope === 'status') return obj.status === undefined ? {} : { status: obj.status };
  const out: Obj = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'status') continue;
    if (k === 'metadata' && isObj(v)) {
      const meta: Obj = {};
      for (const [mk, mv] of Object.entries(v)) if (!STRIPPED_META.has(mk)) meta[mk] = mv;
      if (Object.keys(meta).length) out.metadata = meta;
      continue;
    }
    out[k] = v;
  }
  return out;
}

/** The leaf field paths of a value. */
export function fieldsOf(value: unknown, node: SchemaNode): FieldSet {
  const out: FieldSet = new Set();
  walk(value, node, [], out);
  return out;
}

function walk(v: unknown, node: SchemaNode, path: string[], out: FieldSet): void {
  if (v === undefined) return;
  if (isObj(v) && node.t !== 'list') {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (keys.length === 0 && path.length) { out.add(JSON.stringify(path)); return; }
    for (const k of keys) walk(v[k], child(node, k), [...path, `f:${k}`], out);
    return;
  }
  if (Array.isArray(v) && node.t === 'list' && node.strategy === 'merge' && v.length && v.every(isObj)) {
    for (const item of v as Obj[]) {
      const pe = itemKey(item, node.keys);
      out.add(JSON.stringify([...path, pe, '.']));
      for (const k of Object.keys(item)) walk(item[k], child(itemOf(node), k), [...path, pe, `f:${k}`], out);
    }
    return;
  }
  if (Array.isArray(v) && node.t === 'list' && node.strategy === 'set' && v.length) {
    for (const item of v) out.add(JSON.stringify([...path, `v:${JSON.stringify(item)}`]));
    return;
  }
  out.add(JSON.stringify(path));
}

/** The value at a field path (undefined when absent). */
export function valueAt(obj: unknown, path: FieldPath, node: SchemaNode): unknown {
  let cur: unknown = obj;
  let n = node;
  for (const pe of path) {
    if (pe === '.') return cur;
    if (pe.startsWith('f:')) {
      const name = pe.slice(2);
      cur = isObj(cur) ? cur[name] : undefined;
      n = child(n, name);
    } else if (pe.startsWith('k:')) {
      const keys = n.t === 'list' ? n.keys : [];
      cur = Array.isArray(cur) ? cur.find((x) => matchesKey(x, pe, keys)) : undefined;
      n = itemOf(n);
    } else if (pe.startsWith('v:')) {
      const want = JSON.parse(pe.slice(2)) as unknown;
      cur = Array.isArray(cur) ? cur.find((x) => deepEqual(x, want)) : undefined;
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** Removes the field at a path from `obj` (in place). */
function removeAt(obj: Obj, path: FieldPath, node: SchemaNode): void {
  let cur: unknown = obj;
  let n = node;
  for (let i = 0; i < path.length; i++) {
    const pe = path[i];
    const last = i === path.length - 1;
    const nextIsDot = path[i + 1] === '.';
    if (pe.startsWith('f:')) {
      const name = pe.slice(2);
      if (!isObj(cur)) return;
      if (last) { delete cur[name]; return; }
      cur = cur[name];
      n = child(n, name);
    } else if (pe.startsWith('k:')) {
      if (!Array.isArray(cur) || n.t !== 'list') return;
      const keys = n.keys;
      const idx = cur.findIndex((x) => matchesKey(x, pe, keys));
      if (idx < 0) return;
      if (nextIsDot) { cur.splice(idx, 1); return; }
      cur = cur[idx];
      n = itemOf(n);
    } else if (pe.startsWith('v:')) {
      if (!Array.isArray(cur)) return;
      const want = JSON.parse(pe.slice(2)) as unknown;
      const idx = cur.findIndex((x) => deepEqual(x, want));
      if (idx >= 0) cur.splice(idx, 1);
      return;
    }
  }
}

/** Converts a field set to upstream's nested `fieldsV1` form. */
export function toFieldsV1(set: FieldSet): Obj {
  const root: Obj = {};
  for (const enc of [...set].sort()) {
    let node = root;
    for (const pe of JSON.parse(enc) as string[]) {
      if (!isObj(node[pe])) node[pe] = {};
      node = node[pe] as Obj;
    }
  }
  return root;
}

/** Reads a `fieldsV1` tree back into a field set. */
export function fromFieldsV1(tree: unknown): FieldSet {
  const out: FieldSet = new Set();
  const rec = (node: unknown, path: string[]): void => {
    if (!isObj(node)) return;
    const keys = Object.keys(node);
    if (keys.length === 0) { if (path.length) out.add(JSON.stringify(path)); return; }
    for (const k of keys) rec(node[k], [...path, k]);
  };
  rec(tree, []);
  return out;
}

/** A path written as upstream prints it in conflict messages: `.spec.template.spec.containers[name="web"].image`. */
export function printPath(path: FieldPath): string {
  let s = '';
  for (const pe of path) {
    if (pe === '.') continue;
    if (pe.startsWith('f:')) s += `.${pe.slice(2)}`;
    else if (pe.startsWith('k:')) {
      const k = JSON.parse(pe.slice(2)) as Obj;
      s += `[${Object.entries(k).map(([a, b]) => `${a}=${JSON.stringify(b)}`).join(',')}]`;
    } else if (pe.startsWith('v:')) s += `[=${pe.slice(2)}]`;
  }
  return s;
}

/** Merges an applied configuration into the live object (maps recurse, keyed lists merge by key, sets union, the rest replaced). */
export function applyMerge(live: unknown, applied: unknown, node: SchemaNode): unknown {
  if (isObj(applied) && node.t !== 'list') {
    const out: Obj = isObj(live) ? clone(live) : {};
    for (const [k, v] of Object.entries(applied)) {
      if (v === undefined) continue;
      if (v === null) { delete out[k]; continue; }
      out[k] = applyMerge(out[k], v, child(node, k));
    }
    return out;
  }
  if (Array.isArray(applied) && node.t === 'list' && node.strategy === 'merge' && applied.every(isObj)) {
    const out = Array.isArray(live) ? clone(live) : [];
    for (const item of applied as Obj[]) {
      const pe = itemKey(item, node.keys);
      const idx = out.findIndex((x) => matchesKey(x, pe, node.keys));
      if (idx >= 0) out[idx] = applyMerge(out[idx], item, itemOf(node));
      else out.push(clone(item));
    }
    return out;
  }
  if (Array.isArray(applied) && node.t === 'list' && node.strategy === 'set') {
    const out = Array.isArray(live) ? clone(live) : [];
    for (const x of applied) if (!out.some((y) => deepEqual(x, y))) out.push(clone(x));
    return out;
  }
  return clone(applied);
}

/** Reads the managedFields entries of an object. */
export function entriesOf(obj: Obj): ManagedFieldsEntry[] {
  const meta = obj.metadata as Obj | undefined;
  return Array.isArray(meta?.managedFields) ? clone(meta.managedFields as ManagedFieldsEntry[]) : [];
}

function sameEntry(e: ManagedFieldsEntry, manager: string, operation: string, subresource: string | undefined): boolean {
  return e.manager === manager && e.operation === operation && (e.subresource ?? '') === (subresource ?? '');
}

function scopeOf(subresource: string | undefined): 'main' | 'status' {
  return subresource === 'status' ? 'status' : 'main';
}

/**
 * Records an Update by `manager`: it owns every field that changed between `before` (undefined
 * on create) and `after`; others lose them. Returns the new managedFields.
 */
export function recordUpdate(before: Obj | undefined, after: Obj, node: SchemaNode, manager: string, apiVersion: string, subresource: string | undefined, now = Date.now()): ManagedFieldsEntry[] {
  const entries = before ? entriesOf(before) : [];
  const scope = scopeOf(subresource);
  const oldProj = before ? project(before, scope) : {};
  const newProj = project(after, scope);
  const oldSet = fieldsOf(oldProj, node);
  const newSet = fieldsOf(newProj, node);
  const changed: FieldSet = new Set();
  for (const enc of newSet) {
    const p = JSON.parse(enc) as string[];
    if (!oldSet.has(enc) || !deepEqual(valueAt(oldProj, p, node), valueAt(newProj, p, node))) changed.add(enc);
  }
  const removed = [...oldSet].filter((enc) => !newSet.has(enc));
  if (changed.size === 0 && removed.length === 0 && before) return entries;
  const out: ManagedFieldsEntry[] = [];
  let mine: ManagedFieldsEntry | undefined;
  for (const e of entries) {
    const set = fromFieldsV1(e.fieldsV1);
    for (const r of removed) set.delete(r);
    if (sameEntry(e, manager, 'Update', subresource)) {
      for (const c of changed) set.add(c);
      mine = { ...e, time: nowRfc3339(now), fieldsV1: toFieldsV1(set) };
      out.push(mine);
      continue;
    }
    for (const c of changed) set.delete(c);
    if (set.size) out.push({ ...e, fieldsV1: toFieldsV1(set) });
  }
  if (!mine && changed.size) {
    out.push({ manager, operation: 'Update', apiVersion, time: nowRfc3339(now), fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(changed), ...(subresource ? { subresource } : {}) });
  }
  return out;
}

/** The outcome of a server-side apply. */
export interface ApplyResult { object: Obj; managedFields: ManagedFieldsEntry[] }

/**
 * Server-side apply of `applied` onto `live` (undefined: create) by `manager`. Throws a 409
 * ApiError listing the conflicts unless `force`.
 */
export function serverSideApply(live: Obj | undefined, applied: Obj, node: SchemaNode, manager: string, apiVersion: string, force: boolean, subresource: string | undefined, now = Date.now()): ApplyResult {
  const scope = scopeOf(subresource);
  const appliedProj = project(applied, scope);
  const appliedSet = fieldsOf(appliedProj, node);
  const entries = live ? entriesOf(live) : [];
  const liveProj = live ? project(live, scope) : {};
  const conflicts: { manager: string; path: string[] }[] = [];
  const others = entries.filter((e) => !sameEntry(e, manager, 'Apply', subresource) && (e.subresource ?? '') === (subresource ?? ''));
  for (const e of others) {
    const set = fromFieldsV1(e.fieldsV1);
    for (const enc of appliedSet) {
      if (!set.has(enc)) continue;
      const p = JSON.parse(enc) as string[];
      if (p[p.length - 1] === '.') continue;
      if (!deepEqual(valueAt(appliedProj, p, node), valueAt(liveProj, p, node))) conflicts.push({ manager: e.manager, path: p });
    }
  }
  if (conflicts.length && !force) throw conflictError(conflicts, apiVersion);

  let merged = applyMerge(live ? clone(live) : {}, appliedProj, node) as Obj;
  const mineBefore = entries.find((e) => sameEntry(e, manager, 'Apply', subresource));
  const out: ManagedFieldsEntry[] = [];
  const otherSets: FieldSet[] = [];
  for (const e of entries) {
    if (sameEntry(e, manager, 'Apply', subresource)) continue;
    const set = fromFieldsV1(e.fieldsV1);
    if ((e.subresource ?? '') === (subresource ?? '')) {
      // Taken over by force, or shared when the values agree: a forced field leaves its old owner.
      for (const c of conflicts) if (c.manager === e.manager) set.delete(JSON.stringify(c.path));
    }
    otherSets.push(set);
    if (set.size) out.push({ ...e, fieldsV1: toFieldsV1(set) });
  }
  if (mineBefore) {
    const prev = fromFieldsV1(mineBefore.fieldsV1);
    const dropped = [...prev].filter((enc) => !appliedSet.has(enc)).map((enc) => JSON.parse(enc) as string[]);
    // Remove deeper paths first so an item's own marker goes after its fields.
    dropped.sort((a, b) => b.length - a.length);
    for (const p of dropped) {
      const enc = JSON.stringify(p);
      const ownedByOther = otherSets.some((s) => s.has(enc) || (p[p.length - 1] === '.' && [...s].some((x) => x.startsWith(JSON.stringify(p.slice(0, -1)).slice(0, -1)))));
      if (!ownedByOther) removeAt(merged, p, node);
    }
  }
  merged = merged as Obj;
  out.push({ manager, operation: 'Apply', apiVersion, time: nowRfc3339(now), fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(appliedSet), ...(subresource ? { subresource } : {}) });
  return { object: merged, managedFields: out };
}

function conflictError(conflicts: { manager: string; path: string[] }[], apiVersion: string): ApiError {
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}" using ${apiVersion}`, field: printPath(c.path) }));
  let message: string;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with "${conflicts[0].manager}" using ${apiVersion}: ${printPath(conflicts[0].path)}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), printPath(c.path)]);
    message = `Apply failed with ${conflicts.length} conflicts: ${[...byManager].map(([m, paths]) => `conflicts with "${m}" using ${apiVersion}:\n${paths.map((p) => `- ${p}`).join('\n')}`).join('\n')}`;
  }
  return new ApiError(409, 'Conflict', message, { causes });
}
