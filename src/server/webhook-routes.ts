/**
 * The routes of auto-deploy: the signed release webhook CI calls (`POST /v1/webhooks/release`,
 * no API token: the body's HMAC-SHA256 with the environment's secret is the credential, in
 * the header format of Gangway's outgoing webhooks), and the subscriptions' status and resume.
 * A missing or wrong signature is answered 401 and recorded as `auth.denied`, like a bad token.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AutoDeployer } from '../autodeploy/deployer.js';
import type { GangwayConfig } from '../config/types.js';
import { refusalFor, sendError } from './error-reply.js';
import { actorOf, commitTime, parseInput } from './routes.js';
import { bodyOf, errors, jsonOf, ref } from './openapi-parts.js';

/** The header carrying the body's signature: `sha256=<hex HMAC-SHA256 of the exact body bytes>`. */
export const SIGNATURE_HEADER = 'x-gangway-signature';

const name = (what: string) => z.string().min(1, { error: `must name a ${what}` }).max(128, { error: 'must be at most 128 characters' });

/** Body of POST /v1/webhooks/release: the release CI built. */
export const releaseBody = z.strictObject({
  service: name('service'),
  environment: name('environment'),
  version: z.string().min(1).max(128).optional(),
  image: z.string().min(1).max(512).optional(),
  reason: z.string().max(2000).optional(),
  commitTime: commitTime.optional(),
}).refine((b) => b.version !== undefined || b.image !== undefined, { error: 'must name a version or an image' });

/** Query of GET /v1/autodeploy. */
export const autoDeployQuery = z.object({ service: name('service').optional(), environment: name('environment').optional() });
/** Body of POST /v1/autodeploy/resume. */
export const resumeBody = z.strictObject({ service: name('service'), environment: name('environment') });

/** What the routes need besides the auto-deployer. */
export interface WebhookRouteOptions {
  /** Records a refused request as `auth.denied` (the API's AuthService does it, rate-limited). */
  recordDenied(request: FastifyRequest, reason: string): Promise<void>;
}

/**
 * The environments whose webhook secret signed `body`, by the `sha256=<hex>` value of `header`
 * (constant-time comparisons; a malformed header matches none).
 *
 * @example
 * signedFor(config, Buffer.from(body), 'sha256=…'); // ['dev']
 */
export function signedFor(config: Pick<GangwayConfig, 'environments'>, body: Buffer, header: string | string[] | undefined): string[] {
  if (typeof header !== 'string') return [];
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!m) return [];
  const presented = Buffer.from(m[1]!.toLowerCase(), 'hex');
  const out: string[] = [];
  for (const env of config.environments) {
    const secret = env.autoDeploy?.webhook?.secret;
    if (!secret) continue;
    const expected = createHmac('sha256', secret).update(body).digest();
    if (timingSafeEqual(expected, presented)) out.push(env.name);
  }
  return out;
}

/** Registers the auto-deploy routes. The webhook reads its body as bytes (the signature covers them exactly). */
export function registerAutoDeployRoutes(app: FastifyInstance, auto: AutoDeployer, config: Pick<GangwayConfig, 'environments'>, opts: WebhookRouteOptions): void {
  app.get('/v1/autodeploy', async (request) => {
    const q = parseInput(autoDeployQuery, request.query, 'query');
    return auto.list(q);
  });

  app.post('/v1/autodeploy/resume', async (request) => {
    const body = parseInput(resumeBody, request.body, 'body');
    return auto.resume(body.service, body.environment, actorOf(request));
  });

  // Its own context: the body stays bytes here, JSON everywhere else.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    scope.post('/v1/webhooks/release', async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const signed = signedFor(config, raw, request.headers[SIGNATURE_HEADER]);
      const deny = async (message: string) => {
        await opts.recordDenied(request, message);
        reply.header('www-authenticate', 'HMAC-SHA256 header="X-Gangway-Signature"');
        return sendError(reply, 401, { error: { code: 'unauthorized', message, hint: 'sign the exact body with HMAC-SHA256 and the secret of autoDeploy.secretFromEnv: X-Gangway-Signature: sha256=<hex>' } });
      };
      if (signed.length === 0) {
        return deny(request.headers[SIGNATURE_HEADER] === undefined ? 'missing X-Gangway-Signature' : 'X-Gangway-Signature does not match the body with any release webhook secret');
      }
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        throw refusalFor('FST_ERR_CTP_INVALID_JSON_BODY');
      }
      const body = parseInput(releaseBody, json, 'body');
      // The secret of one environment does not deploy to another.
      if (!signed.includes(body.environment)) return deny(`the signature is not made with the release webhook secret of ${body.environment}`);
      const d = await auto.release(body);
      return reply.code(201).send(d);
    });
  });
}


const STATUS = {
  type: 'object',
  required: ['service', 'environment', 'mode', 'repository', 'tagPattern', 'order', 'intervalMs', 'lastTag', 'pending', 'registryDown', 'paused', 'resumed'],
  properties: {
    service: { type: 'string' }, environment: { type: 'string' }, mode: { type: 'string', enum: ['image', 'webhook'] },
    repository: { type: ['string', 'null'] }, tagPattern: { type: ['string', 'null'] }, order: { type: ['string', 'null'], enum: ['semver', 'pushed', null] },
    intervalMs: { type: ['integer', 'null'] },
    lastTag: { type: ['string', 'null'], description: 'The newest tag deployed (or found deployed already).' },
    pending: { type: ['object', 'null'], description: 'A tag a gate refused, tried again at every poll.', properties: { tag: { type: 'string' }, gates: { type: 'string' } } },
    registryDown: { type: ['object', 'null'], properties: { since: { type: 'integer' } } },
    paused: { type: ['object', 'null'], description: 'Set by a person\'s rollback.', properties: { at: { type: 'integer' }, by: { type: ['string', 'null'] }, deployment: { type: ['string', 'null'] } } },
    resumed: { type: ['object', 'null'], properties: { at: { type: 'integer' }, by: { type: ['string', 'null'] } } },
  },
};

/** OpenAPI path entries of these routes; app.ts adds them to the document when it registers the routes. */
export function autoDeployOpenApiPaths(): Record<string, unknown> {
  return {
    '/v1/webhooks/release': {
      post: {
        tags: ['autodeploy'], security: [],
        summary: 'A release from CI, deployed as gangway/auto through every gate. No API token: X-Gangway-Signature: sha256=<hex HMAC-SHA256 of the body with the environment\'s autoDeploy secret>.',
        parameters: [{ name: 'X-Gangway-Signature', in: 'header', required: true, schema: { type: 'string', pattern: '^sha256=[0-9a-f]{64}$' } }],
        requestBody: bodyOf(releaseBody),
        responses: {
          201: jsonOf(ref('Deployment'), 'The deployment, queued or waiting for its gates.'),
          ...errors([400, 'Invalid input.'], [401, 'Missing or wrong signature (recorded as auth.denied).'], [404, 'The service is not among the services of the environment\'s autoDeploy.'],
            [409, 'Auto-deploy of the pair is paused, or the release is already deployed.'], [423, 'A gate refused it (`blocked`, recorded as autodeploy.blocked).']),
        },
      },
    },
    '/v1/autodeploy': {
      get: {
        tags: ['autodeploy'], summary: 'Every auto-deploy subscription with its state (last tag, held-back tag, registry outage, pause).',
        parameters: [{ name: 'service', in: 'query', required: false, schema: { type: 'string' } }, { name: 'environment', in: 'query', required: false, schema: { type: 'string' } }],
        responses: { 200: jsonOf({ type: 'array', items: STATUS }, 'Environments in file order, services in file order.') },
      },
    },
    '/v1/autodeploy/resume': {
      post: {
        tags: ['autodeploy'], summary: 'Resume auto-deploy of a pair paused by a rollback.', requestBody: bodyOf(resumeBody),
        responses: { 200: jsonOf(STATUS, 'The subscription, resumed.'), ...errors([400, 'Invalid input.'], [404, 'The pair does not deploy by itself.'], [409, 'It is not paused.']) },
      },
    },
  };
}

