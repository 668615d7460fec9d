/** Pieces of the OpenAPI operations the route files declare: one place, so every route documents alike. */
import { z } from 'zod';

/** A reference to a schema of `components.schemas`. */
export const ref = (schemaName: string) => ({ $ref: `#/components/schemas/${schemaName}` });
/** A JSON response with its description. */
export const jsonOf = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
/** Error responses (the documented error shape), by status. */
export const errors = (...codes: Array<[number, string]>) => Object.fromEntries(codes.map(([code, d]) => [code, jsonOf(ref('Error'), d)]));
/** A JSON request body from its zod schema, as the input it accepts. */
export const bodyOf = (schema: z.ZodType, required = true) => {
  const s = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  delete s.$schema;
  return { required, content: { 'application/json': { schema: s } } };
};
