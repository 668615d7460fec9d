/**
 * The JSON Schema of `gangway.yaml`, generated from the zod schema so that editor completion
 * and hover help can never disagree with what `gangway validate` accepts. Rules the JSON
 * Schema cannot express (exactly one strategy, promotion order, distinct ports) are checked
 * only by Gangway itself.
 */
import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { configSchema } from './schema.js';

/** Where the generated schema is committed, relative to the repository root. */
export const JSON_SCHEMA_PATH = 'schema/gangway.schema.json';

/**
 * The JSON Schema (draft 2020-12) of `gangway.yaml`, with a description on every key.
 *
 * @example
 * const schema = configJsonSchema();
 * schema.properties; // { project: { type: 'string', … }, … }
 */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/** {@link configJsonSchema} as the exact text committed in `schema/gangway.schema.json`. */
export function jsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

/**
 * Writes the JSON Schema to `path` (what `npm run schema` does through `gangway schema`).
 *
 * @example
 * await writeJsonSchema('schema/gangway.schema.json');
 */
export async function writeJsonSchema(path: string): Promise<void> {
  await writeFile(path, jsonSchemaText(), 'utf8');
}
