/**
 * The routes of releases of several services (release groups): POST /v1/releases creates one
 * (every member checked, nothing created on a refusal), GET /v1/releases/:id and
 * GET /v1/releases?environment= read them. Errors take the API's one shape.
 */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ReleaseApi } from '../engine/types.js';
import { VERSION_PATTERN, badVersion } from '../engine/release.js';
import { clip } from './error-reply.js';
import { actorOf, parseInput } from './routes.js';
import type { KnownNames } from './names.js';
import { bodyOf, errors, jsonOf, ref } from './openapi-parts.js';

const name = (what: string) => z.string().min(1, { error: `must name a ${what}` }).max(128, { error: 'must be at most 128 characters' });
const version = z.string().regex(VERSION_PATTERN, { error: (iss) => badVersion(clip(iss.input)) });

/**
 * Body of POST /v1/releases. `versions` names each service's version, `version` one for all
 * the others; neither: promote the release that last succeeded together in the environment's
 * promotion source.
 */
export const releaseGroupBody = z.strictObject({
  environment: name('environment'),
  versions: z.record(name('service'), version).optional(),
  version: version.optional(),
  services: z.array(name('service')).min(1, { error: 'must name at least one service' }).max(200).optional(),
  reason: z.string().min(1, { error: 'must not be empty' }).max(2000, { error: 'must be at most 2000 characters' }).optional(),
  onFailure: z.enum(['rollback', 'stop'], { error: 'must be rollback or stop' }).optional(),
});

const limit = z.coerce.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' })
  .min(1, { error: 'must be at least 1' }).max(200, { error: 'must be at most 200' });
/** Query of GET /v1/releases (unknown keys ignored, as every query). */
export const releasesQuery = z.object({ environment: name('environment').optional(), limit: limit.optional() });

/** Registers the release routes. */
export function registerReleaseRoutes(app: FastifyInstance, releases: ReleaseApi, names?: KnownNames): void {
  app.post('/v1/releases', async (request, reply) => {
    const body = parseInput(releaseGroupBody, request.body, 'body');
    names?.check({ environment: body.environment });
    const view = await releases.createRelease({ ...body, actor: actorOf(request) });
    return reply.code(201).send(view);
  });

  app.get('/v1/releases', async (request) => {
    const q = parseInput(releasesQuery, request.query, 'query');
    names?.check({ environment: q.environment });
    return releases.listReleases(q);
  });

  app.get<{ Params: { id: string } }>('/v1/releases/:id', async (request) => releases.getRelease(request.params.id));
}


/** The OpenAPI paths of the release routes (the `Release` schema is in openapi.ts). */
export function releaseOpenApiPaths(): Record<string, unknown> {
  return {
    '/v1/releases': {
      post: {
        operationId: 'createRelease', tags: ['releases'],
        summary: 'Request a release of several services, run in dependsOn order (a release group)',
        description: 'Every service gets a deployment; a service starts when every service it depends on has succeeded. Every member is checked and passes its gates before anything is created. '
          + 'Without `versions` and `version`: the release that last succeeded together in the promotion source.',
        requestBody: bodyOf(releaseGroupBody),
        responses: {
          201: jsonOf(ref('Release'), 'The release, as created (its services held until their dependencies succeed).'),
          ...errors([400, 'Invalid input, or a service without a version (`invalid_argument`, `details.missing`).'], [404, 'Unknown service or environment.'],
            [409, 'A service already runs or deploys that release (`conflict`).'], [423, 'A gate refused a service (`blocked`); nothing was created.']),
        },
      },
      get: {
        operationId: 'listReleases', tags: ['releases'], summary: 'Releases of several services, newest first',
        parameters: [
          { name: 'environment', in: 'query', required: false, schema: { type: 'string' }, description: 'Only this environment.' },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200 }, description: 'At most this many (default 20).' },
        ],
        responses: { 200: jsonOf({ type: 'array', items: ref('Release') }, 'Releases, newest first.'), ...errors([400, 'Invalid input.'], [404, 'Unknown environment.']) },
      },
    },
    '/v1/releases/{id}': {
      get: {
        operationId: 'getRelease', tags: ['releases'], summary: 'One release of several services, one row per service with its state',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'Release id (`r-…`).' }],
        responses: { 200: jsonOf(ref('Release'), 'The release.'), ...errors([404, 'Unknown release.']) },
      },
    },
  };
}
