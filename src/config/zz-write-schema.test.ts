import { it } from 'vitest';
import { writeJsonSchema } from './json-schema.js';
it('writes', async () => { await writeJsonSchema('schema/gangway.schema.json'); });
