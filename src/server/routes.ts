/**
 * The /v1 routes of the HTTP API and the zod schemas that validate their input. The same
 * schemas feed the OpenAPI document (src/server/openapi.ts), so the document cannot drift
 * from what the server accepts.
 */
import { z } from 'zod';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OrchestratorApi } from '../engine/types.js';
import type { EventRecord } from '../store/types.js';
import { GangwayError } from '../errors.js';
import { IMAGE_HINT, IMAGE_PATTERN, VERSION_HINT, VERSION_PATTERN, badImage, badVersion } from '../engine/release.js';
import { clip, logFault } from './error-reply.js';
import type { KnownNames } from './names.js';

const name = (what: string) => z.string().min(1, { error: `must name a ${what}` }).max(128, { error: 'must be at most 128 characters' });
// Messages echo at most 200 characters of what was sent: a 200 KB value must not come back twice in the answer.
const version = z.string().regex(VERSION_PATTERN, { error: (iss) => badVersion(clip(iss.input)) });
const image = z.string().max(512, { error: 'must be at most 512 characters' }).regex(IMAGE_PATTERN, { error: (iss) => badImage(clip(iss.input)) });
const reason = z.string().min(1, { error: 'must not be empty' }).max(2000, { error: 'must be at most 2000 characters' });

/** 2000-01-01T00:00:00Z: an earlier "commit time" is almost surely epoch seconds sent as milliseconds. */
const COMMIT_TIME_MIN = 946_684_800_000;
const COMMIT_TIME_ERROR = 'must be epoch milliseconds (not seconds) or an ISO 8601 date-time with a zone, e.g. 2025-03-04T22:15:00Z';
/** When the release's commit was made: epoch milliseconds, or an ISO 8601 date-time with a zone; read as epoch ms. */
const commitTimeError = { error: COMMIT_TIME_ERROR };
export const commitTime = z.union([
  z.number(commitTimeError).int(commitTimeError).min(COMMIT_TIME_MIN, commitTimeError).max(8.64e15, commitTimeError),
  z.iso.datetime({ offset: true, ...commitTimeError }),
], commitTimeError).transform((v) => typeof v === 'number' ? v : Date.parse(v));

/**
 * Body of POST /v1/deployments. A version, an image, or both (the local target runs the
 * version, the gates check the image); neither: the release that most recently succeeded in
 * the environment's promotion source.
 */
export const deployBody = z.strictObject({
  service: name('service'),
  environment: name('environment'),
  version: version.optional(),
  image: image.optional(),
  reason: reason.optional(),
  expedited: z.boolean().optional(),
  waitForWindow: z.boolean().optional(),
  commitTime: commitTime.optional(),
});

/** Body of POST /v1/plan: as a deployment, without running anything. */
export const planBody = z.strictObject({
  service: name('service'),
  environment: name('environment'),
  version: version.optional(),
  image: image.optional(),
  reason: reason.optional(),
  expedited: z.boolean().optional(),
});

/** Body of POST /v1/rollbacks. `to` defaults to the previous stable release. */
export const rollbackBody = z.strictObject({
  service: name('service'),
  environment: name('environment'),
  to: version.optional(),
  reason: reason.optional(),
});

/** Body of POST /v1/deployments/:id/abort: empty, or an empty object. */
export const abortBody = z.strictObject({}).optional();

/** Query of GET /v1/deployments/:id/verdicts. */
export const verdictsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

/** Query of GET /v1/deployments/:id/samples. */
export const samplesQuery = z.strictObject({
  since: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(100_000).optional(),
});

const limit = (max: number) => z.coerce.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' })
  .min(1, { error: 'must be at least 1' }).max(max, { error: `must be at most ${max}` });

// Query strings are parsed leniently (unknown keys ignored) so dashboards and proxies may add their own.
export const historyQuery = z.object({ service: name('service').optional(), environment: name('environment').optional(), limit: limit(1000).optional() });
export const statusQuery = z.object({ service: name('service').optional(), environment: name('environment').optional() });
export const logsQuery = z.object({ service: name('service'), environment: name('environment'), version: version.optional(), lines: limit(10_000).optional() });
const eventId = z.coerce.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).min(0, { error: 'must be at least 0' });
const epochMs = z.coerce.number({ error: 'must be epoch milliseconds' }).int({ error: 'must be epoch milliseconds' }).min(0, { error: 'must be at least 0' });
/** Query of GET /v1/timeline. */
export const timelineQuery = z.object({ service: name('service'), environment: name('environment'), since: epochMs.optional() });
export const eventsQuery = z.object({
  after: eventId.optional(),
  deployment: z.string().min(1).max(128).optional(),
  limit: limit(1000).optional(),
});
export const eventsStreamQuery = eventsQuery.omit({ limit: true });
/** The audit log's filters on GET /v1/events (not on the stream). */
export const eventsFilterQuery = eventsQuery.extend({
  before: eventId.optional(),
  order: z.enum(['asc', 'desc'], { error: 'must be asc or desc' }).optional(),
  type: z.string().min(1).max(500).optional(),
  service: name('service').optional(),
  environment: name('environment').optional(),
  actor: z.string().min(1).max(200).optional(),
  since: epochMs.optional(),
  until: epochMs.optional(),
});

/** Hints shown under a validation error, by the name of the field at fault (a Map: a field named `constructor` has none). */
const FIELD_HINTS: ReadonlyMap<string, string> = new Map([['version', VERSION_HINT], ['to', VERSION_HINT], ['image', IMAGE_HINT]]);

/** Problems named in one validation error at most; a body of 10,000 unknown keys is not answered with 10,000 lines. */
const MAX_PROBLEMS = 20;

/**
 * Parses `input` with `schema`, or throws `invalid_argument` naming every field at fault
 * (`version: is not a valid version label`), with the hint for the first one.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where: 'body' | 'query'): z.output<S> {
  const result = schema.safeParse(input, {
    error: (iss) => {
      if (iss.code === 'invalid_type') return iss.input === undefined ? 'is required' : `must be ${iss.expected === 'object' ? 'a JSON object' : `a ${iss.expected}`}`;
      return undefined;
    },
  });
  if (result.success) return result.data;
  const all: Array<{ field: string; message: string }> = [];
  for (const issue of result.error.issues) {
    // Field names come from the client (unknown keys, record keys): echo at most 200 characters of each.
    const prefix = clip(issue.path.map(String).join('.'));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) all.push({ field: prefix ? `${prefix}.${clip(key)}` : clip(key), message: 'unknown field' });
    } else {
      all.push({ field: prefix || where, message: issue.message });
    }
  }
  const problems = all.slice(0, MAX_PROBLEMS);
  const hintField = problems.find((p) => FIELD_HINTS.has(p.field))?.field;
  const unknown = problems.find((p) => p.message === 'unknown field');
  const hint = hintField !== undefined ? FIELD_HINTS.get(hintField)
    : unknown && where === 'body' ? 'remove the field; see GET /openapi.json for the accepted fields' : undefined;
  const more = all.length > problems.length ? `; and ${all.length - problems.length} more` : '';
  throw new GangwayError('invalid_argument', problems.map((p) => `${p.field}: ${p.message}`).join('; ') + more, hint, { where, problems });
}

/**
 * Whoever the request acts for; recorded on deployments and events: the authenticated
 * principal's name. Only the built-in admin token may name someone else with
 * `x-gangway-actor` (the CLI's GANGWAY_ACTOR), defaulting to `api`.
 */
export function actorOf(request: FastifyRequest): string {
  if (request.principal && request.principal.kind !== 'builtin') return request.principal.name;
  const raw = request.headers['x-gangway-actor'];
  if (raw === undefined || raw === '') return 'api';
  // Header values repeat as arrays; several actors cannot be recorded, so refuse rather than pick one.
  if (typeof raw !== 'string' || raw.length > 128 || /[\u0000-\u001f\u007f]/.test(raw)) {
    throw new GangwayError('invalid_argument', 'x-gangway-actor: must be one name of at most 128 printable characters');
  }
  return raw;
}

/** How the event stream behaves; tests shorten the intervals. */
export interface StreamOptions { pollMs: number; heartbeatMs: number }

/**
 * Registers every /v1 route on `app`. Authentication is a hook in app.ts, not here. With
 * `names`, a service or environment the config does not define is answered 404 here, before
 * the orchestrator is asked.
 */
export function registerRoutes(app: FastifyInstance, orchestrator: OrchestratorApi, stream: StreamOptions, names?: KnownNames): void {
  const known = (q: { service?: string; environment?: string }) => names?.check(q);

  app.post('/v1/deployments', async (request, reply) => {
    const body = parseInput(deployBody, request.body, 'body');
    known(body);
    const view = await orchestrator.deploy({ ...body, actor: actorOf(request) });
    return reply.code(201).send(view);
  });

  app.get('/v1/deployments', async (request) => {
    const q = parseInput(historyQuery, request.query, 'query');
    known(q);
    return orchestrator.history(q);
  });

  app.get<{ Params: { id: string } }>('/v1/deployments/:id', async (request) => {
    return orchestrator.getDeployment(request.params.id);
  });

  app.post<{ Params: { id: string } }>('/v1/deployments/:id/abort', async (request) => {
    parseInput(abortBody, request.body ?? undefined, 'body');
    return orchestrator.abort(request.params.id, actorOf(request));
  });

  app.post<{ Params: { id: string } }>('/v1/deployments/:id/promote', async (request) => {
    parseInput(abortBody, request.body ?? undefined, 'body');
    return orchestrator.promote(request.params.id, actorOf(request));
  });

  app.post<{ Params: { id: string } }>('/v1/deployments/:id/retry', async (request, reply) => {
    parseInput(abortBody, request.body ?? undefined, 'body');
    return reply.code(201).send(await orchestrator.retry(request.params.id, actorOf(request)));
  });

  app.get<{ Params: { id: string } }>('/v1/deployments/:id/verdicts', async (request) => {
    const q = parseInput(verdictsQuery, request.query, 'query');
    return orchestrator.verdicts(request.params.id, { afterId: q.after, limit: q.limit });
  });

  app.get<{ Params: { id: string } }>('/v1/deployments/:id/samples', async (request) => {
    const q = parseInput(samplesQuery, request.query, 'query');
    return orchestrator.samples(request.params.id, { since: q.since, limit: q.limit });
  });

  app.get('/v1/timeline', async (request) => {
    const q = parseInput(timelineQuery, request.query, 'query');
    known(q);
    return orchestrator.timeline(q);
  });

  app.post('/v1/rollbacks', async (request, reply) => {
    const body = parseInput(rollbackBody, request.body, 'body');
    known(body);
    const view = await orchestrator.rollback({ ...body, actor: actorOf(request) });
    return reply.code(201).send(view);
  });

  app.get('/v1/status', async (request) => {
    const q = parseInput(statusQuery, request.query, 'query');
    known(q);
    return orchestrator.status(q);
  });

  app.post('/v1/plan', async (request) => {
    const body = parseInput(planBody, request.body, 'body');
    known(body);
    return orchestrator.plan({ ...body, actor: actorOf(request) });
  });

  app.get('/v1/logs', async (request) => {
    const q = parseInput(logsQuery, request.query, 'query');
    known(q);
    return orchestrator.logs(q);
  });

  app.get('/v1/events', async (request) => {
    const q = parseInput(eventsFilterQuery, request.query, 'query');
    const filter = {
      afterId: q.after, beforeId: q.before, deploymentId: q.deployment, limit: q.limit, newestFirst: q.order === 'desc' ? true : undefined,
      types: q.type?.split(',').map((t) => t.trim()).filter(Boolean), service: q.service, environment: q.environment, actor: q.actor,
      since: q.since, until: q.until,
    };
    // Only the filters given, plus the audit context (service, environment, actor) of each event.
    return orchestrator.events({ ...Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)), context: true });
  });

  const open = new Set<() => void>();
  // An open stream is never idle, so the server would wait on it forever when closing.
  app.addHook('preClose', async () => { for (const end of [...open]) end(); });

  app.get('/v1/events/stream', async (request, reply) => {
    const q = parseInput(eventsStreamQuery, request.query, 'query');
    const lastEventId = request.headers['last-event-id'];
    let after = q.after ?? 0;
    if (typeof lastEventId === 'string' && /^\d+$/.test(lastEventId)) after = Number(lastEventId);
    streamEvents(request, reply, orchestrator, { after, deploymentId: q.deployment }, stream, open);
  });
}

function streamEvents(
  request: FastifyRequest, reply: FastifyReply, orchestrator: OrchestratorApi,
  from: { after: number; deploymentId?: string }, opts: StreamOptions, open: Set<() => void>,
): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // Reverse proxies (nginx) would otherwise buffer the stream.
    'x-accel-buffering': 'no',
    'x-content-type-options': 'nosniff',
  });
  res.write('retry: 2000\n\n');
  let after = from.after;
  let closed = false;
  let polling = false;
  const end = () => {
    if (closed) return;
    closed = true;
    clearInterval(pollTimer);
    clearInterval(heartbeatTimer);
    open.delete(end);
    res.end();
  };
  open.add(end);
  const poll = async () => {
    // A slow store must not pile up overlapping polls.
    if (closed || polling) return;
    polling = true;
    try {
      let batch: EventRecord[];
      do {
        batch = await orchestrator.events({ afterId: after, deploymentId: from.deploymentId, limit: 500 });
        for (const event of batch) {
          if (closed) return;
          res.write(`id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`);
          after = event.id;
        }
      } while (batch.length === 500 && !closed);
    } catch (err) {
      logFault(request, err, { msg: 'event stream: reading events failed' });
      if (!closed) res.write(`event: error\ndata: ${JSON.stringify({ error: { code: 'internal', message: 'reading events failed' } })}\n\n`);
      end();
    } finally {
      polling = false;
    }
  };
  const pollTimer = setInterval(() => { void poll(); }, opts.pollMs);
  const heartbeatTimer = setInterval(() => { if (!closed) res.write(': keep-alive\n\n'); }, opts.heartbeatMs);
  request.raw.on('close', end);
  res.on('close', end);
  void poll();
}
