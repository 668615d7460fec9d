/**
 * The /v1/audit routes: verify the hash-chained event log, and export it as JSON lines for an
 * auditor to keep and check independently. Both read the log in pages, so its size does not
 * matter; the export streams. Authentication is the hook in app.ts.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { EventSource } from '../records/audit.js';
import { eventLine, parseAnchor, readEventLog, verifyChain } from '../records/audit.js';
import { parseInput } from './routes.js';
import { jsonOf, ref } from './openapi-parts.js';

/** Query of GET /v1/audit/verify: `anchor=ID:HASH`, a head recorded earlier. */
export const auditVerifyQuery = z.object({ anchor: z.string().max(100, { error: 'must be ID:HASH' }).optional() });

/** Registers the audit routes on `app`, reading the log from `source` (the orchestrator). */
export function registerAuditRoutes(app: FastifyInstance, source: EventSource): void {
  app.get('/v1/audit/verify', async (request) => {
    const query = parseInput(auditVerifyQuery, request.query, 'query');
    const anchor = query.anchor === undefined ? undefined : parseAnchor(query.anchor);
    // Tampering is a finding, not a fault of the request: 200 either way, the verdict says which.
    return verifyChain(readEventLog(source), { anchor });
  });

  app.get('/v1/audit/export', async (_request, reply) => {
    async function* lines() {
      for await (const e of readEventLog(source)) yield eventLine(e);
    }
    // A read failing halfway aborts the response, so a client never takes a cut-off export for a whole one.
    return reply.type('application/x-ndjson; charset=utf-8').header('cache-control', 'no-store').send(Readable.from(lines()));
  });
}


const HEAD = {
  type: 'object', required: ['id', 'hash'],
  properties: { id: { type: 'integer' }, hash: { type: 'string', description: 'sha256, lowercase hex.' } },
};
const GAP = { type: 'object', required: ['after', 'next'], properties: { after: { type: 'integer' }, next: { type: 'integer' } } };
const VERDICT = {
  oneOf: [
    {
      type: 'object', required: ['ok', 'count', 'head', 'gaps'],
      properties: {
        ok: { const: true }, count: { type: 'integer', description: 'Events checked.' },
        head: { oneOf: [HEAD, { type: 'null' }], description: 'The last event: record it elsewhere and pass it back as `anchor` later.' },
        gaps: { type: 'array', items: GAP, description: 'Missing ids the hashes link across (see docs/audit.md).' },
      },
    },
    {
      type: 'object', required: ['ok', 'count', 'firstBad', 'gaps'],
      properties: {
        ok: { const: false }, count: { type: 'integer', description: 'Intact events before the first bad one.' },
        firstBad: {
          type: 'object', required: ['id', 'reason'],
          properties: { id: { type: 'integer' }, reason: { type: 'string', examples: ['event 42: content does not match its hash (edited?)'] } },
        },
        gaps: { type: 'array', items: GAP },
      },
    },
  ],
};

/** OpenAPI path entries of these routes; app.ts adds them to the document when it registers the routes. */
export function auditOpenApiPaths(): Record<string, unknown> {
  return {
    '/v1/audit/verify': {
      get: {
        tags: ['audit'], summary: 'Verify the hash chain of the whole event log.',
        parameters: [{ name: 'anchor', in: 'query', required: false, schema: { type: 'string', pattern: '^[1-9][0-9]*:[0-9a-f]{64}$' }, description: 'A head recorded earlier, `ID:HASH`.' }],
        responses: {
          200: jsonOf(VERDICT, 'The verdict: intact, or the first bad event and why.'),
          400: jsonOf(ref('Error'), 'A malformed anchor.'),
        },
      },
    },
    '/v1/audit/export': {
      get: {
        tags: ['audit'], summary: 'The whole event log as JSON lines, oldest first, with hash and prevHash (streamed).',
        responses: {
          200: {
            description: 'One event per line: `{ id, deploymentId, at, type, data, hash, prevHash }`.',
            content: { 'application/x-ndjson': { schema: { type: 'string' } } },
          },
        },
      },
    },
  };
}
