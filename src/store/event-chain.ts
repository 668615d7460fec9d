/**
 * The event log's hash chain. Every event stores `prevHash` (the hash of the event before it,
 * or 64 zeros for the first) and `hash = sha256(prevHash + "\n" + canonicalJson(content))`,
 * where the content is `{ id, deploymentId, at, type, data }`. Editing, deleting or
 * reordering a stored event breaks the chain at that event; `src/records/audit.ts` finds where.
 *
 * The canonical form is what an auditor re-implements to check an export independently: JSON
 * with object keys sorted (by UTF-16 code unit, as JavaScript sorts strings) at every depth,
 * no whitespace, strings and numbers as `JSON.stringify` writes them — RFC 8785 (JCS) for
 * every value an event can hold.
 */
import { createHash } from 'node:crypto';
import type { EventRecord } from './types.js';

/** `prevHash` of the first event of the log. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of an event its hash covers. */
export type ChainedContent = Pick<EventRecord, 'id' | 'deploymentId' | 'at' | 'type' | 'data'>;

/**
 * Deterministic JSON of a JSON value: keys sorted at every depth, no whitespace. Object
 * properties that are `undefined` are left out and array holes become `null`, as
 * `JSON.stringify` does. Throws a `TypeError` for what JSON cannot hold (non-finite numbers,
 * bigint, functions, symbols, cycles), since such a value could not be read back as stored.
 *
 * @example
 * ```ts
 * canonicalJson({ b: [2, { d: 1, c: null }], a: 'x' }); // '{"a":"x","b":[2,{"c":null,"d":1}]}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, path: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string': return JSON.stringify(value);
    case 'boolean': return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${String(value)} is not a JSON number`);
      return JSON.stringify(value);
    case 'object': break;
    default: throw new TypeError(`canonicalJson: a ${typeof value} is not a JSON value`);
  }
  const obj = value as object;
  if (path.has(obj)) throw new TypeError('canonicalJson: the value contains a cycle');
  path.add(obj);
  try {
    if (Array.isArray(obj)) {
      const items: string[] = [];
      for (let i = 0; i < obj.length; i++) {
        const item: unknown = obj[i];
        items.push(item === undefined ? 'null' : write(item, path));
      }
      return `[${items.join(',')}]`;
    }
    const record = obj as Record<string, unknown>;
    const members: string[] = [];
    // Default sort compares UTF-16 code units: the order RFC 8785 prescribes.
    for (const key of Object.keys(record).sort()) {
      const member = record[key];
      if (member === undefined) continue;
      members.push(`${JSON.stringify(key)}:${write(member, path)}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    path.delete(obj);
  }
}

/**
 * The hash of an event whose predecessor's hash is `prevHash`: lowercase hex sha256 of
 * `prevHash + "\n" + canonicalJson({ id, deploymentId, at, type, data })`.
 *
 * @example
 * ```ts
 * const first = eventHash(GENESIS_HASH, { id: 1, deploymentId: null, at: 0, type: 'freeze.created', data: {} });
 * ```
 */
export function eventHash(prevHash: string, e: ChainedContent): string {
  const content = canonicalJson({ id: e.id, deploymentId: e.deploymentId, at: e.at, type: e.type, data: e.data });
  return createHash('sha256').update(`${prevHash}\n${content}`, 'utf8').digest('hex');
}
