/**
 * The three PATCH bodies the FAKE Kubernetes API server takes besides server-side apply:
 * RFC 6902 JSON Patch (`application/json-patch+json`), RFC 7386 JSON Merge Patch
 * (`application/merge-patch+json`) and Kubernetes strategic merge patch
 * (`application/strategic-merge-patch+json`), the last following
 * k8s.io/apimachinery `pkg/util/strategicpatch`: lists with a `patchMergeKey` merge item by item
 * (containers by name, container ports by containerPort, Service ports by port, env by name,
 * conditions by type…), primitive sets merge as a union, other lists are replaced, and the
 * directives `$patch: replace|delete|merge`, `$retainKeys`, `$setElementOrder/<list>` and
 * `$deleteFromPrimitiveList/<list>` are honoured.
 *
 * Simplified: `$setElementOrder` puts the listed items first in the given order and keeps the
 * rest after them in their previous order.
 */
import type { SchemaNode } from './schema.js';
import { child, itemOf } from './schema.js';
import type { Obj } from './util.js';
import { clone, deepEqual, isObj } from './util.js';

/** A patch that cannot be applied (upstream answers 422). */
export class PatchError extends Error {
  override name = 'PatchError';
}

// ---------------------------------------------------------------- RFC 6902

function decodePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer ${JSON.stringify(path)}`);
  return path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

interface Located { parent: Obj | unknown[]; key: string }

function locate(doc: unknown, tokens: string[], opName: string, path: string): Located {
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isObj(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined || cur === null) throw new PatchError(`${opName} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  if (!Array.isArray(cur) && !isObj(cur)) throw new PatchError(`${opName} operation does not apply: doc is missing path: "${path}": missing value`);
  return { parent: cur, key: tokens[tokens.length - 1] };
}

function readAt(doc: unknown, path: string, opName: string): unknown {
  let cur: unknown = doc;
  for (const t of decodePointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isObj(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw new PatchError(`${opName} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  return cur;
}

function arrayIndex(arr: unknown[], key: string, allowEnd: boolean, opName: string, path: string): number {
  if (key === '-' && allowEnd) return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(key)) throw new PatchError(`${opName} operation does not apply: invalid array index ${JSON.stringify(key)} in "${path}"`);
  const i = Number(key);
  if (i > arr.length || (!allowEnd && i === arr.length)) throw new PatchError(`${opName} operation does not apply: index ${i} out of bounds in "${path}"`);
  return i;
}

function addAt(doc: unknown, path: string, value: unknown, opName = 'add'): unknown {
  const tokens = decodePointer(path);
  if (tokens.length === 0) return clone(value);
  const { parent, key } = locate(doc, tokens, opName, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true, opName, path), 0, clone(value));
  else parent[key] = clone(value);
  return doc;
}

function removeAt(doc: unknown, path: string, opName = 'remove'): unknown {
  const tokens = decodePointer(path);
  const { parent, key } = locate(doc, tokens, opName, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, false, opName, path), 1);
  else {
    if (!Object.prototype.hasOwnProperty.call(parent, key)) throw new PatchError(`${opName} operation does not apply: doc is missing key: ${path}: missing value`);
    delete parent[key];
  }
  return doc;
}

/** Applies an RFC 6902 JSON Patch to a copy of `doc`. */
export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new PatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let out = clone(doc);
  for (const raw of ops) {
    if (!isObj(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw new PatchError('invalid JSON patch operation: op and path are required');
    const path = raw.path;
    switch (raw.op) {
      case 'add':
        out = addAt(out, path, raw.value);
        break;
      case 'remove':
        out = removeAt(out, path);
        break;
      case 'replace':
        readAt(out, path, 'replace');
        out = removeAt(out, path, 'replace');
        out = addAt(out, path, raw.value, 'replace');
        break;
      case 'move': {
        const value = readAt(out, String(raw.from), 'move');
        out = removeAt(out, String(raw.from), 'move');
        out = addAt(out, path, value, 'move');
        break;
      }
      case 'copy':
        out = addAt(out, path, readAt(out, String(raw.from), 'copy'), 'copy');
        break;
      case 'test':
        if (!deepEqual(readAt(out, path, 'test'), raw.value)) throw new PatchError(`testing value ${path} failed: test failed`);
        break;
      default:
        throw new PatchError(`Unexpected kind: ${String(raw.op)}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------- RFC 7386

/** Applies an RFC 7386 JSON Merge Patch to a copy of `doc`. */
export function applyMergePatch(doc: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(doc) ? clone(doc) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

// ---------------------------------------------------------------- strategic merge patch

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => !(isObj(x) && x.$patch !== undefined && Object.keys(x).length === 1)).map(stripDirectives);
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('$')) continue;
    if (x === null) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}

function keyOf(item: unknown, key: string): unknown {
  return isObj(item) ? item[key] : item;
}

function mergeList(orig: unknown, patch: unknown[], node: SchemaNode): unknown[] {
  const base = Array.isArray(orig) ? clone(orig) : [];
  if (node.t !== 'list' || node.strategy === 'atomic') return stripDirectives(patch) as unknown[];
  if (patch.some((x) => isObj(x) && x.$patch === 'replace')) {
    return stripDirectives(patch.filter((x) => !(isObj(x) && x.$patch === 'replace'))) as unknown[];
  }
  if (node.strategy === 'set' || patch.every((x) => !isObj(x))) {
    const out = [...base];
    for (const x of patch) if (!out.some((y) => deepEqual(y, x))) out.push(x);
    return out;
  }
  const mergeKey = node.keys[0];
  let out = base;
  for (const item of patch) {
    if (!isObj(item)) continue;
    const k = item[mergeKey];
    if (k === undefined) throw new PatchError(`map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`);
    const idx = out.findIndex((x) => deepEqual(keyOf(x, mergeKey), k));
    if (item.$patch === 'delete') {
      out = out.filter((x) => !deepEqual(keyOf(x, mergeKey), k));
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], item, itemOf(node));
    else out.push(strategicMerge(undefined, item, itemOf(node)));
  }
  return out;
}

function reorder(list: unknown[], order: unknown[], node: SchemaNode): unknown[] {
  const mergeKey = node.t === 'list' && node.keys.length ? node.keys[0] : undefined;
  const keyFn = (x: unknown): unknown => (mergeKey && isObj(x) ? x[mergeKey] : x);
  const wanted = order.map((o) => (mergeKey && isObj(o) ? o[mergeKey] : o));
  const first: unknown[] = [];
  for (const w of wanted) {
    const found = list.find((x) => deepEqual(keyFn(x), w));
    if (found !== undefined && !first.includes(found)) first.push(found);
  }
  return [...first, ...list.filter((x) => !first.includes(x))];
}

/**
 * Applies a strategic merge patch to a copy of `orig` (undefined when the patch deletes it).
 * `node` is the schema of the value (see schema.ts).
 */
export function strategicMerge(orig: unknown, patch: unknown, node: SchemaNode): unknown {
  if (!isObj(patch)) return clone(patch);
  if (patch.$patch === 'delete') return undefined;
  if (patch.$patch === 'replace') return stripDirectives(patch);
  const out: Obj = isObj(orig) ? clone(orig) : {};
  const orders: [string, unknown[]][] = [];
  const deletions: [string, unknown[]][] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys') continue;
    if (key.startsWith('$setElementOrder/')) {
      if (Array.isArray(value)) orders.push([key.slice('$setElementOrder/'.length), value]);
      continue;
    }
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      if (Array.isArray(value)) deletions.push([key.slice('$deleteFromPrimitiveList/'.length), value]);
      continue;
    }
    if (value === null) {
      delete out[key];
      continue;
    }
    const childNode = child(node, key);
    if (Array.isArray(value)) out[key] = mergeList(out[key], value, childNode);
    else if (isObj(value)) {
      const merged = strategicMerge(out[key], value, childNode);
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    } else out[key] = value;
  }
  for (const [key, values] of deletions) {
    if (Array.isArray(out[key])) out[key] = (out[key] as unknown[]).filter((x) => !values.some((v) => deepEqual(v, x)));
  }
  for (const [key, order] of orders) {
    if (Array.isArray(out[key])) out[key] = reorder(out[key] as unknown[], order, child(node, key));
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set((patch.$retainKeys as unknown[]).map(String));
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
  }
  return out;
}
