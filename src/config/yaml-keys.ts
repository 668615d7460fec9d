/**
 * How YAML keys and scalars read as data. Shared by the reader (yaml.ts), which builds the data,
 * and the problem locator (problems.ts), which finds a key path in the document again.
 */
import { isScalar } from 'yaml';

/**
 * A scalar's value as data: numbers, booleans, null and strings as they are; a YAML 1.1
 * timestamp as its ISO text and the `<<` merge symbol as its text, as the yaml library gives them.
 */
export function scalarData(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'symbol') return value.description ?? '';
  if (value instanceof Date) return value.toJSON();
  return value;
}

/**
 * How a key of the document reads in data and key paths: its text (`'8080'` for the number),
 * `''` for an empty key, undefined for a key that is not a scalar (an alias, mapping or list).
 *
 * @example
 * keyText(doc.contents.items[0].key); // 'project'
 */
export function keyText(key: unknown): string | undefined {
  if (key === null || key === undefined) return '';
  if (!isScalar(key)) return undefined;
  const value = scalarData(key.value);
  return value === null ? '' : String(value);
}
