/**
 * The /v1 routes of the people-facing gates — approvals, checklist confirmations, freezes —
 * and the Alertmanager webhook. Same conventions as routes.ts: the principal and its role are
 * checked by the hooks in app.ts (Alertmanager sends a global admin's token through
 * `http_config.authorization.credentials`), the actor is the principal (see `actorOf`), input
 * is validated with zod and faults map to the shared error shape.
 */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { PeopleGates } from '../gates/people.js';
import { actorOf, parseInput } from './routes.js';
import { bodyOf, errors, jsonOf } from './openapi-parts.js';

const name = (what: string) => z.string().min(1, { error: `must name a ${what}` }).max(128, { error: 'must be at most 128 characters' });
const note = z.string().max(2000, { error: 'must be at most 2000 characters' });

/** Body of POST /v1/deployments/:id/approve and /reject: empty, or `{ comment? }`. */
export const decisionBody = z.strictObject({ comment: note.optional() }).optional();

/** Body of POST /v1/deployments/:id/checklist/:item: empty, or `{ note? }`. */
export const confirmBody = z.strictObject({ note: note.optional() }).optional();

/** Body of POST /v1/freezes. Without environment and service the freeze covers everything. */
export const freezeBody = z.strictObject({
  environment: name('environment').optional(),
  service: name('service').optional(),
  reason: z.string().trim().min(1, { error: 'must not be empty' }).max(2000, { error: 'must be at most 2000 characters' }),
});

/** Body of POST /v1/freezes/:id/lift: empty, or an empty object. */
export const liftBody = z.strictObject({}).optional();

/** Query of GET /v1/freezes: `?all` (or `all=true`) lists lifted freezes too. */
export const freezesQuery = z.object({
  all: z.enum(['', 'true', 'false', '1', '0'], { error: 'must be true or false' }).optional(),
});

/** Registers the gate routes on `app`. Authentication is the hook in app.ts. */
export function registerGateRoutes(app: FastifyInstance, gates: PeopleGates): void {
  app.post<{ Params: { id: string } }>('/v1/deployments/:id/approve', async (request) => {
    const body = parseInput(decisionBody, request.body ?? undefined, 'body');
    return gates.approve(request.params.id, actorOf(request), body?.comment);
  });

  app.post<{ Params: { id: string } }>('/v1/deployments/:id/reject', async (request) => {
    const body = parseInput(decisionBody, request.body ?? undefined, 'body');
    return gates.reject(request.params.id, actorOf(request), body?.comment);
  });

  app.get<{ Params: { id: string } }>('/v1/deployments/:id/approvals', async (request) => {
    return gates.approvals(request.params.id);
  });

  app.get<{ Params: { id: string } }>('/v1/deployments/:id/checklist', async (request) => {
    return gates.checklist(request.params.id);
  });

  app.post<{ Params: { id: string; item: string } }>('/v1/deployments/:id/checklist/:item', async (request) => {
    const body = parseInput(confirmBody, request.body ?? undefined, 'body');
    return gates.confirm(request.params.id, request.params.item, actorOf(request), body?.note);
  });

  app.get('/v1/freezes', async (request) => {
    const q = parseInput(freezesQuery, request.query, 'query');
    return gates.freezes({ all: q.all === '' || q.all === 'true' || q.all === '1' });
  });

  app.post('/v1/freezes', async (request, reply) => {
    const body = parseInput(freezeBody, request.body, 'body');
    return reply.code(201).send(await gates.freeze({ ...body, owner: actorOf(request) }));
  });

  app.delete<{ Params: { id: string } }>('/v1/freezes/:id', async (request) => {
    return gates.unfreeze(request.params.id, actorOf(request));
  });

  app.post<{ Params: { id: string } }>('/v1/freezes/:id/lift', async (request) => {
    parseInput(liftBody, request.body ?? undefined, 'body');
    return gates.unfreeze(request.params.id, actorOf(request));
  });

  app.post('/v1/webhooks/alertmanager', async (request) => {
    const changes = await gates.handleAlertmanager(request.body);
    for (const warning of changes.warnings) request.log.warn({ warning }, 'alertmanager webhook');
    return changes;
  });
}

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

const APPROVAL = {
  type: 'object', required: ['deploymentId', 'actor', 'decision', 'groups', 'comment', 'at'],
  properties: {
    deploymentId: { type: 'string' }, actor: { type: 'string' }, decision: { type: 'string', enum: ['approve', 'reject'] },
    groups: { type: 'array', items: { type: 'string' }, description: 'The groups the actor belonged to when deciding.' },
    comment: { type: ['string', 'null'] }, at: { type: 'integer', description: 'Epoch milliseconds.' },
  },
};
const CONFIRMATION = {
  type: 'object', required: ['deploymentId', 'item', 'actor', 'at', 'note'],
  properties: { deploymentId: { type: 'string' }, item: { type: 'string' }, actor: { type: 'string' }, at: { type: 'integer' }, note: { type: ['string', 'null'] } },
};
const FREEZE = {
  type: 'object', required: ['id', 'environment', 'service', 'owner', 'reason', 'source', 'alertFingerprint', 'createdAt', 'liftedAt', 'liftedBy'],
  properties: {
    id: { type: 'string' }, environment: { type: ['string', 'null'], description: 'Null: every environment.' },
    service: { type: ['string', 'null'], description: 'Null: every service.' }, owner: { type: 'string' }, reason: { type: 'string' },
    source: { type: 'string', enum: ['manual', 'alert'] }, alertFingerprint: { type: ['string', 'null'] },
    createdAt: { type: 'integer' }, liftedAt: { type: ['integer', 'null'] }, liftedBy: { type: ['string', 'null'] },
  },
};
const INCIDENT_CHANGES = {
  type: 'object', required: ['created', 'lifted', 'unchanged', 'ignored', 'warnings'],
  properties: {
    created: { type: 'array', items: FREEZE }, lifted: { type: 'array', items: FREEZE },
    unchanged: { type: 'array', items: { type: 'string' }, description: 'Fingerprints of incident alerts that changed nothing.' },
    ignored: { type: 'array', items: { type: 'string' }, description: 'Fingerprints of alerts without the incident label.' },
    warnings: { type: 'array', items: { type: 'string' } },
  },
};

/** OpenAPI path entries of these routes; app.ts adds them to the document when it registers the routes. */
export function gateOpenApiPaths(): Record<string, unknown> {
  const decision = (verb: string, what: string) => ({
    tags: ['gates'], summary: what, parameters: [idParam], requestBody: bodyOf(decisionBody, false),
    responses: {
      200: jsonOf({ type: 'array', items: APPROVAL }, `Every decision recorded on the deployment, after this ${verb}.`),
      ...errors([400, 'Invalid input.'], [401, 'Missing or invalid API token.'], [403, 'The actor may not decide (`forbidden`).'],
        [404, 'Unknown deployment.'], [409, 'The deployment ended, or its environment requires no approvals.']),
    },
  });
  return {
    '/v1/deployments/{id}/approve': { post: decision('approval', 'Approve a deployment as the authenticated principal (x-gangway-actor with the built-in token).') },
    '/v1/deployments/{id}/reject': { post: decision('rejection', 'Reject a deployment: its approvals gate fails.') },
    '/v1/deployments/{id}/approvals': {
      get: { tags: ['gates'], summary: 'Decisions recorded on a deployment.', parameters: [idParam], responses: { 200: jsonOf({ type: 'array', items: APPROVAL }, 'Oldest first.'), ...errors([404, 'Unknown deployment.']) } },
    },
    '/v1/deployments/{id}/checklist': {
      get: { tags: ['gates'], summary: 'Checklist confirmations of a deployment.', parameters: [idParam], responses: { 200: jsonOf({ type: 'array', items: CONFIRMATION }, 'Oldest first.'), ...errors([404, 'Unknown deployment.']) } },
    },
    '/v1/deployments/{id}/checklist/{item}': {
      post: {
        tags: ['gates'], summary: 'Confirm a checklist item for a deployment.',
        parameters: [idParam, { name: 'item', in: 'path', required: true, schema: { type: 'string' } }], requestBody: bodyOf(confirmBody, false),
        responses: {
          200: jsonOf({ type: 'array', items: CONFIRMATION }, 'Every confirmation of the deployment.'),
          ...errors([400, 'Invalid input.'], [403, 'The actor is not a confirmer of the item.'], [404, 'Unknown deployment or item.'], [409, 'The deployment ended, or its environment has no checklist.']),
        },
      },
    },
    '/v1/freezes': {
      get: {
        tags: ['gates'], summary: 'Active freezes (every freeze with ?all).',
        parameters: [{ name: 'all', in: 'query', required: false, schema: { type: 'string', enum: ['', 'true', 'false', '1', '0'] } }],
        responses: { 200: jsonOf({ type: 'array', items: FREEZE }, 'Oldest first.') },
      },
      post: {
        tags: ['gates'], summary: 'Raise a freeze; the owner is the actor.', requestBody: bodyOf(freezeBody, true),
        responses: { 201: jsonOf(FREEZE, 'The freeze.'), ...errors([400, 'Invalid input (a reason is required).'], [404, 'Unknown environment or service.']) },
      },
    },
    '/v1/freezes/{id}': {
      delete: { tags: ['gates'], summary: 'Lift a freeze.', parameters: [idParam], responses: { 200: jsonOf(FREEZE, 'The lifted freeze.'), ...errors([404, 'Unknown freeze.'], [409, 'Already lifted.']) } },
    },
    '/v1/freezes/{id}/lift': {
      post: { tags: ['gates'], summary: 'Lift a freeze (same as DELETE /v1/freezes/{id}).', parameters: [idParam], responses: { 200: jsonOf(FREEZE, 'The lifted freeze.'), ...errors([404, 'Unknown freeze.'], [409, 'Already lifted.']) } },
    },
    '/v1/webhooks/alertmanager': {
      post: {
        tags: ['gates'], summary: 'Alertmanager webhook (payload version 4): incident alerts raise and lift freezes.',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } } },
        responses: { 200: jsonOf(INCIDENT_CHANGES, 'What the delivery changed.'), ...errors([400, 'Not an Alertmanager version 4 payload.'], [401, 'Missing or invalid API token.']) },
      },
    },
  };
}
