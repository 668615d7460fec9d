/**
 * Gangway's own metrics over HTTP: GET /metrics (Prometheus text) and GET /v1/dora (DORA
 * metrics per service and environment). Both need a viewer; authentication and roles are the
 * hooks in app.ts.
 */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import { MAX_DORA_DAYS, type MetricsSource } from '../engine/orchestrator-metrics.js';
import { parseInput } from './routes.js';
import type { KnownNames } from './names.js';
import { jsonOf, ref } from './openapi-parts.js';

/** The content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const name = (what: string) => z.string().min(1, { error: `must name a ${what}` }).max(128, { error: 'must be at most 128 characters' });

/** Query of GET /v1/dora; unknown keys are ignored, as on the other GET routes. */
export const doraQuery = z.object({
  service: name('service').optional(),
  environment: name('environment').optional(),
  days: z.coerce.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' }).max(MAX_DORA_DAYS, { error: `must be at most ${MAX_DORA_DAYS}` }).optional(),
});

/** Registers GET /metrics and GET /v1/dora on `app`, reading from `source`; with `names`, an unknown service or environment is 404 here. */
export function registerMetricsRoutes(app: FastifyInstance, source: MetricsSource, names?: KnownNames): void {
  app.get('/metrics', async (_request, reply) => {
    const text = await source.scrape();
    return reply.type(PROMETHEUS_CONTENT_TYPE).header('cache-control', 'no-store').send(text);
  });

  app.get('/v1/dora', async (request) => {
    const q = parseInput(doraQuery, request.query, 'query');
    names?.check(q);
    return source.dora(q);
  });
}

const nullableMs = { type: ['integer', 'null'], description: 'Milliseconds; null when there is nothing to measure.' };

const DORA = {
  type: 'object',
  required: ['service', 'environment', 'period', 'deploymentFrequency', 'leadTime', 'changeFailureRate', 'timeToRestore'],
  properties: {
    service: { type: 'string' },
    environment: { type: 'string' },
    period: {
      type: 'object', required: ['days', 'from', 'to'],
      properties: { days: { type: 'integer' }, from: { type: 'integer', description: 'Epoch ms.' }, to: { type: 'integer', description: 'Epoch ms (now).' } },
    },
    deploymentFrequency: {
      type: 'object', required: ['count', 'perDay'], description: 'Successful deployments (not rollbacks) that finished in the period.',
      properties: { count: { type: 'integer' }, perDay: { type: 'number' } },
    },
    leadTime: {
      type: 'object', required: ['count', 'medianMs', 'p90Ms'], description: 'Commit to successful deployment, over deployments requested with a commitTime.',
      properties: { count: { type: 'integer' }, medianMs: nullableMs, p90Ms: nullableMs },
    },
    changeFailureRate: {
      type: 'object', required: ['failed', 'total', 'rate'], description: 'Share of finished deployments that failed, were rolled back or aborted, or were undone by a manual rollback.',
      properties: { failed: { type: 'integer' }, total: { type: 'integer' }, rate: { type: ['number', 'null'] } },
    },
    timeToRestore: {
      type: 'object', required: ['count', 'medianMs'], description: 'From a failure (or a manual rollback) to the next successful deployment.',
      properties: { count: { type: 'integer' }, medianMs: nullableMs },
    },
  },
};

/** OpenAPI path entries of these routes; app.ts adds them to the document when it registers the routes. */
export function metricsOpenApiPaths(): Record<string, unknown> {
  return {
    '/metrics': {
      get: {
        tags: ['metrics'], summary: "Gangway's own metrics in the Prometheus text format (see docs/metrics.md).",
        responses: { 200: { description: 'Prometheus text exposition format 0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    '/v1/dora': {
      get: {
        tags: ['metrics'], summary: 'DORA metrics per service and environment (see docs/dora.md).',
        parameters: [
          { name: 'service', in: 'query', required: false, schema: { type: 'string' } },
          { name: 'environment', in: 'query', required: false, schema: { type: 'string' } },
          { name: 'days', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_DORA_DAYS, default: 30 }, description: 'The period, ending now.' },
        ],
        responses: {
          200: jsonOf({ type: 'array', items: DORA }, 'One entry per configured service and environment (filtered by the query).'),
          400: jsonOf(ref('Error'), 'A malformed query.'),
          404: jsonOf(ref('Error'), 'An unknown service or environment.'),
        },
      },
    },
  };
}
