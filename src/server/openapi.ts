/**
 * The OpenAPI 3.1 document of the HTTP API. Request bodies and query parameters are
 * generated from the zod schemas the routes validate with; response schemas mirror the
 * record types of src/store/types.ts and src/engine/types.ts.
 */
import { z } from 'zod';
import {
  abortBody, deployBody, eventsFilterQuery, eventsStreamQuery, historyQuery, logsQuery, planBody, rollbackBody, samplesQuery, statusQuery, timelineQuery, verdictsQuery,
} from './routes.js';
import { IMAGE_HINT, VERSION_HINT } from '../engine/release.js';

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType): Json {
  const out = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

function queryParameters(schema: z.ZodObject, descriptions: Record<string, string>): Json[] {
  const whole = jsonSchema(schema) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(whole.properties ?? {}).map(([name, s]) => ({
    name, in: 'query', required: (whole.required ?? []).includes(name), description: descriptions[name], schema: s,
  }));
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string) => ({ description, content: { 'application/json': { schema } } });
const errorResponse = (description: string) => json(ref('Error'), description);
const body = (name: string) => ({ required: true, content: { 'application/json': { schema: ref(name) } } });

const READINESS = {
  type: 'object', required: ['ok', 'version', 'problems'],
  properties: { ok: { type: 'boolean' }, version: { type: 'string' }, problems: { type: 'array', items: { type: 'string' } } },
};

const STANDARD_ERRORS = {
  400: errorResponse('Invalid input (`invalid_argument`); the message names the field.'),
  401: errorResponse('Missing or invalid API token (`unauthorized`).'),
  500: errorResponse('Unexpected fault (`internal`); details are logged, not returned.'),
};
const NOT_FOUND = { 404: errorResponse('Unknown deployment, service or environment (`not_found`).') };
const CONFLICT = { 409: errorResponse('The request conflicts with the current state (`conflict`).') };
const BLOCKED = { 423: errorResponse('Blocked by a gate (`blocked`): window, freeze, approvals, promotion source.') };

const PHASES = ['queued', 'waiting', 'running', 'paused', 'succeeded', 'failed', 'rolling_back', 'rolled_back', 'aborted', 'superseded'];
const nullable = (type: string, extra: Json = {}) => ({ type: [type, 'null'], ...extra });

const SCHEMAS: Json = {
  Release: {
    type: 'object', description: 'A release of several services (a release group): one deployment per service, run in dependsOn order.',
    required: ['id', 'environment', 'kind', 'phase', 'onFailure', 'actor', 'reason', 'message', 'createdAt', 'startedAt', 'finishedAt', 'services'],
    properties: {
      id: { type: 'string' }, environment: { type: 'string' },
      kind: { type: 'string', enum: ['deploy', 'promote'] },
      phase: { type: 'string', enum: ['queued', 'running', 'rolling_back', 'succeeded', 'failed', 'rolled_back'] },
      onFailure: { type: 'string', enum: ['rollback', 'stop'] },
      actor: { type: 'string' }, reason: { type: ['string', 'null'] }, message: { type: ['string', 'null'], description: 'Why it ended as it did.' },
      createdAt: { type: 'integer' }, startedAt: { type: ['integer', 'null'] }, finishedAt: { type: ['integer', 'null'] },
      services: {
        type: 'array', description: 'In dependency order.',
        items: {
          type: 'object', required: ['service', 'version', 'dependsOn', 'deploymentId', 'state', 'step', 'startedAt', 'finishedAt', 'message', 'rollback'],
          properties: {
            service: { type: 'string' }, version: { type: 'string' }, dependsOn: { type: 'array', items: { type: 'string' } },
            deploymentId: { type: ['string', 'null'], description: 'Null when the service already ran this release.' },
            state: { type: 'string', description: 'The deployment\'s phase; `held` while it waits for its dependencies; `unchanged` when nothing was deployed.' },
            step: { type: ['string', 'null'] }, startedAt: { type: ['integer', 'null'] }, finishedAt: { type: ['integer', 'null'] }, message: { type: ['string', 'null'] },
            rollback: { type: ['object', 'null'], description: 'The rollback the release ran for it after another service failed.', properties: { id: { type: 'string' }, phase: { type: 'string' }, version: { type: 'string' } } },
          },
        },
      },
    },
  },
  Error: {
    type: 'object', required: ['error'],
    properties: {
      error: {
        type: 'object', required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: ['invalid_config', 'invalid_argument', 'not_found', 'conflict', 'unauthorized', 'forbidden', 'blocked', 'deployment_failed', 'port_in_use', 'unreachable', 'internal'] },
          message: { type: 'string' },
          hint: { type: 'string', description: 'How to fix it.' },
          details: { type: 'object', additionalProperties: true },
        },
      },
    },
  },
  Step: {
    type: 'object',
    required: ['deploymentId', 'idx', 'type', 'title', 'params', 'status', 'stage', 'startedAt', 'finishedAt', 'output', 'attempts'],
    properties: {
      deploymentId: { type: 'string' }, idx: { type: 'integer' }, type: { type: 'string' },
      title: { type: 'string', description: 'Human label, e.g. "start 2 instances of v2".' },
      params: { type: 'object', additionalProperties: true },
      status: { type: 'string', enum: ['pending', 'running', 'succeeded', 'failed', 'skipped'] },
      stage: { type: 'string', enum: ['deploy', 'rollback'] },
      startedAt: nullable('integer', { description: 'Epoch milliseconds.' }),
      finishedAt: nullable('integer', { description: 'Epoch milliseconds.' }),
      output: nullable('object', { additionalProperties: true, description: 'What the step recorded: smoke output, health evidence, error message.' }),
      attempts: { type: 'integer' },
    },
  },
  Deployment: {
    type: 'object',
    required: ['id', 'seq', 'service', 'environment', 'kind', 'version', 'image', 'phase', 'actor', 'reason', 'previousVersion', 'currentStep', 'planHash', 'abortRequested', 'message', 'supersededBy', 'leaseOwner', 'leaseExpiresAt', 'createdAt', 'startedAt', 'finishedAt', 'steps', 'step'],
    properties: {
      id: { type: 'string' }, seq: { type: 'integer' }, service: { type: 'string' }, environment: { type: 'string' },
      kind: { type: 'string', enum: ['deploy', 'rollback'] },
      version: { type: 'string' }, image: nullable('string'),
      phase: { type: 'string', enum: PHASES },
      actor: { type: 'string' }, reason: nullable('string'),
      previousVersion: nullable('string', { description: 'The stable release when the deployment was requested (rollback target).' }),
      currentStep: { type: 'integer' }, planHash: { type: 'string' }, abortRequested: { type: 'boolean' },
      message: nullable('string', { description: 'Why it ended as it did (failed, rolled_back, aborted, superseded).' }),
      supersededBy: nullable('string', { description: 'For superseded: the deployment that cut its post-deploy watch short.' }),
      groupId: nullable('string', { description: 'The release of several services (GET /v1/releases/{id}) it belongs to, or null.' }),
      groupHeld: { type: 'boolean', description: 'Queued and held by its release until the services it depends on have succeeded.' },
      leaseOwner: nullable('string'), leaseExpiresAt: nullable('integer'),
      createdAt: { type: 'integer', description: 'Epoch milliseconds.' },
      startedAt: nullable('integer'), finishedAt: nullable('integer'),
      steps: { type: 'array', items: ref('Step') },
      step: nullable('string', { description: 'Title of the current step.' }),
    },
  },
  StatusEntry: {
    type: 'object', required: ['service', 'environment', 'version', 'deployment', 'queued', 'port', 'instances', 'traffic'],
    properties: {
      service: { type: 'string' }, environment: { type: 'string' },
      version: nullable('string', { description: 'The stable release.' }),
      deployment: {
        description: 'The latest deployment of the pair, or null.',
        anyOf: [{ type: 'null' }, {
          type: 'object', required: ['id', 'phase', 'step'],
          properties: { id: { type: 'string' }, phase: { type: 'string', enum: PHASES }, step: nullable('string') },
        }],
      },
      queued: { type: 'integer' }, port: nullable('integer', { description: 'The public port (local target); null on targets without one of their own.' }),
      instances: {
        type: 'array',
        items: {
          type: 'object', required: ['id', 'version', 'port', 'state', 'restarts', 'consecutiveFailures'],
          properties: {
            id: { type: 'string' }, version: { type: 'string' }, port: nullable('integer', { description: 'A local process\'s own port; null on other targets.' }),
            state: { type: 'string', enum: ['starting', 'ready', 'unhealthy', 'crashed', 'stopping', 'stopped'] },
            restarts: { type: 'integer' }, consecutiveFailures: { type: 'integer' },
            detail: { type: 'object', description: 'Where else the instance runs (a pod, its node), when the target says.', additionalProperties: { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'null' }] } },
            failure: { type: 'string', description: 'Why the target says the instance cannot become healthy (CrashLoopBackOff, ImagePullBackOff, restarts over the limit), when it says so.' },
          },
        },
      },
      traffic: { type: 'array', items: { type: 'object', required: ['version', 'weight'], properties: { version: { type: 'string' }, weight: { type: 'number' } } } },
      preview: ref('Preview'),
      platform: {
        description: 'What the tool the target deploys through says (helm: the release\'s revisions; gitops: the Argo CD Application\'s sync and health), with `drift` when something changed outside Gangway; null on targets that deploy themselves; `{ error }` when the tool cannot be asked now.',
        anyOf: [{ type: 'null' }, {
          type: 'object', required: ['lines', 'drift', 'history'],
          properties: {
            lines: { type: 'array', items: { type: 'object', required: ['label', 'value'], properties: { label: { type: 'string' }, value: { type: 'string' } } } },
            drift: nullable('string'),
            history: {
              type: 'array', description: 'The tool\'s own history, newest first, at most 10.',
              items: { type: 'object', required: ['revision', 'at', 'status', 'description'], properties: { revision: { type: 'string' }, at: nullable('string'), status: { type: 'string' }, description: { type: 'string' } } },
            },
          },
        }, { type: 'object', required: ['error'], properties: { error: { type: 'string' } } }],
      },
    },
  },
  ReleaseSample: {
    type: 'object', required: ['deploymentId', 'at', 'version', 'intervalMs', 'requests', 'errors', 'p95Seconds'],
    properties: {
      deploymentId: { type: 'string' }, at: { type: 'integer', description: 'End of the interval, epoch milliseconds.' },
      intervalMs: { type: 'integer', description: 'Length of the interval, milliseconds.' },
      version: { type: 'string' }, requests: { type: 'integer', description: 'Requests to the release in the interval.' },
      errors: { type: 'integer', description: 'Of which failed (5xx or no answer).' },
      p95Seconds: nullable('number', { description: '95th percentile latency in the interval, seconds; null without requests.' }),
    },
  },
  Timeline: {
    type: 'object', required: ['service', 'environment', 'since', 'until', 'stableVersion', 'deployments', 'freezes', 'samples'],
    properties: {
      service: { type: 'string' }, environment: { type: 'string' },
      since: { type: 'integer', description: 'Start of the window, epoch milliseconds.' },
      until: { type: 'integer', description: 'End of the window (now), epoch milliseconds.' },
      stableVersion: nullable('string', { description: 'The stable release now.' }),
      deployments: {
        type: 'array', description: 'Deployments created before the end of the window and not finished before its start, oldest first.',
        items: {
          type: 'object', required: ['id', 'kind', 'version', 'previousVersion', 'phase', 'actor', 'createdAt', 'startedAt', 'finishedAt', 'supersededBy'],
          properties: {
            id: { type: 'string' }, kind: { type: 'string', enum: ['deploy', 'rollback'] }, version: { type: 'string' }, previousVersion: nullable('string'),
            phase: { type: 'string', description: 'The outcome once final: succeeded, rolled_back, superseded, failed, aborted.' }, actor: { type: 'string' },
            createdAt: { type: 'integer' }, startedAt: nullable('integer'), finishedAt: nullable('integer'), supersededBy: nullable('string'),
          },
        },
      },
      freezes: {
        type: 'array', description: 'Freezes covering the service and environment that overlap the window, oldest first; `source: alert` (with the alert fingerprint) for an incident freeze.',
        items: {
          type: 'object', required: ['id', 'source', 'alertFingerprint', 'reason', 'owner', 'service', 'environment', 'createdAt', 'liftedAt'],
          properties: {
            id: { type: 'string' }, source: { type: 'string', enum: ['manual', 'alert'] }, alertFingerprint: nullable('string'), reason: { type: 'string' }, owner: { type: 'string' },
            service: nullable('string'), environment: nullable('string'), createdAt: { type: 'integer' }, liftedAt: nullable('integer'),
          },
        },
      },
      samples: { type: 'array', items: ref('ReleaseSample'), description: 'Per-release samples in the window (of its deployments, and of the serving release between deployments), oldest first.' },
    },
  },
  Preview: {
    description: 'Blue-green only (null for other strategies): the preview port — the configured previewPort, or the one the local agent chose and keeps; null until chosen — and the release served on it now. Where the target previews on something other than a port, `endpoint` names it (`svc/web-preview` on Kubernetes) and `port` is null.',
    anyOf: [{ type: 'null' }, { type: 'object', required: ['port', 'version'], properties: { port: nullable('integer'), version: nullable('string'), endpoint: nullable('string') } }],
  },
  Plan: {
    type: 'object', required: ['service', 'environment', 'version', 'strategy', 'stableVersion', 'steps', 'queuedBehind'],
    properties: {
      service: { type: 'string' }, environment: { type: 'string' }, version: { type: 'string' }, strategy: { type: 'string' },
      stableVersion: nullable('string'),
      steps: {
        type: 'array',
        items: { type: 'object', required: ['idx', 'type', 'title', 'params'], properties: { idx: { type: 'integer' }, type: { type: 'string' }, title: { type: 'string' }, params: { type: 'object', additionalProperties: true } } },
      },
      queuedBehind: { type: 'integer' },
      preview: ref('Preview'),
    },
  },
  Event: {
    type: 'object', required: ['id', 'deploymentId', 'at', 'type', 'data'],
    properties: {
      id: { type: 'integer' }, deploymentId: nullable('string'), at: { type: 'integer', description: 'Epoch milliseconds.' },
      type: { type: 'string', description: 'e.g. deployment.created, step.started, step.succeeded, step.failed, deployment.phase' },
      data: { type: 'object', additionalProperties: true },
    },
  },
  AuditEvent: {
    allOf: [ref('Event'), {
      type: 'object', required: ['service', 'environment', 'actor'],
      properties: {
        service: nullable('string', { description: 'The service of its deployment, or the one its data names.' }),
        environment: nullable('string'), actor: nullable('string', { description: 'Who acted: its data\'s actor (or by, user), else its deployment\'s actor.' }),
      },
    }],
  },
  InstanceLog: {
    type: 'object', required: ['instance', 'version', 'lines'],
    properties: { instance: { type: 'string' }, version: { type: 'string' }, lines: { type: 'array', items: { type: 'string' } } },
  },
  DeployRequest: jsonSchema(deployBody),
  PlanRequest: jsonSchema(planBody),
  RollbackRequest: jsonSchema(rollbackBody),
  AbortRequest: jsonSchema(abortBody.unwrap()),
};

const ACTOR_HEADER = {
  name: 'x-gangway-actor', in: 'header', required: false, schema: { type: 'string', maxLength: 128 },
  description: 'Who the request acts for; recorded on deployments and events. Defaults to `api`.',
};
const ID_PARAM = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'Deployment id.' };

/** The OpenAPI 3.1 document served at GET /openapi.json. */
export function openApiDocument(version: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gangway API', version,
      description: 'Deploy, verify, promote and roll back releases. Errors share one shape: `{ error: { code, message, hint? } }`. '
        + 'Bodies are JSON in UTF-8 (415 otherwise, 413 over 256 KiB); path parameters are at most 100 characters (414); '
        + 'a Host header that is not an IP address, localhost or the server\'s configured name is refused with 403.',
    },
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The token in `.gangway/token` (mode 0600), written by `gangway up`.' } },
      schemas: SCHEMAS,
    },
    paths: {
      '/healthz': {
        get: {
          operationId: 'health', summary: 'Liveness of the orchestrator', security: [],
          responses: { 200: json({ type: 'object', required: ['ok', 'version'], properties: { ok: { const: true }, version: { type: 'string' } } }, 'The orchestrator is up.') },
        },
      },
      '/livez': {
        get: {
          operationId: 'livez', summary: 'Liveness, for load balancers and Kubernetes probes', security: [],
          responses: { 200: json({ type: 'object', required: ['ok', 'version'], properties: { ok: { const: true }, version: { type: 'string' } } }, 'The process answers.') },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readyz', summary: 'Readiness: the store answers and its migrations are current', security: [],
          responses: {
            200: json(READINESS, 'Ready to serve.'),
            503: json(READINESS, 'Not ready: `problems` says why (the store unreachable, migrations pending or newer than this Gangway).'),
          },
        },
      },
      '/openapi.json': {
        get: { operationId: 'openapi', summary: 'This document', responses: { 200: json({ type: 'object' }, 'OpenAPI 3.1 document.'), 401: STANDARD_ERRORS[401] } },
      },
      '/v1/deployments': {
        post: {
          operationId: 'deploy', summary: 'Request a deployment',
          description: `Exactly one of \`version\` and \`image\`. ${VERSION_HINT[0].toUpperCase()}${VERSION_HINT.slice(1)}; ${IMAGE_HINT}. The deployment queues behind any active one of the same service and environment.`,
          parameters: [ACTOR_HEADER], requestBody: body('DeployRequest'),
          responses: { 201: json(ref('Deployment'), 'The deployment, as created.'), ...STANDARD_ERRORS, ...NOT_FOUND, ...CONFLICT, ...BLOCKED },
        },
        get: {
          operationId: 'history', summary: 'Deployment history, newest first',
          parameters: queryParameters(historyQuery, { service: 'Only this service.', environment: 'Only this environment.', limit: 'At most this many (1-1000).' }),
          responses: { 200: json({ type: 'array', items: ref('Deployment') }, 'Deployments, newest first.'), ...STANDARD_ERRORS, ...NOT_FOUND },
        },
      },
      '/v1/deployments/{id}': {
        get: {
          operationId: 'getDeployment', summary: 'One deployment with its steps', parameters: [ID_PARAM],
          responses: { 200: json(ref('Deployment'), 'The deployment.'), ...STANDARD_ERRORS, ...NOT_FOUND },
        },
      },
      '/v1/deployments/{id}/abort': {
        post: {
          operationId: 'abort', summary: 'Abort a queued or active deployment',
          description: 'Asks the engine to stop the deployment; the answer shows it with `abortRequested` set or already `aborted`. The body may be omitted.',
          parameters: [ID_PARAM, ACTOR_HEADER], requestBody: { required: false, content: { 'application/json': { schema: ref('AbortRequest') } } },
          responses: { 200: json(ref('Deployment'), 'The deployment.'), ...STANDARD_ERRORS, ...NOT_FOUND, ...CONFLICT },
        },
      },
      '/v1/deployments/{id}/promote': {
        post: {
          operationId: 'promote', summary: 'Continue a paused rollout, or end its current pause step early',
          parameters: [ID_PARAM, ACTOR_HEADER], requestBody: { required: false, content: { 'application/json': { schema: ref('AbortRequest') } } },
          responses: { 200: json(ref('Deployment'), 'The deployment.'), ...STANDARD_ERRORS, ...NOT_FOUND, ...CONFLICT },
        },
      },
      '/v1/deployments/{id}/retry': {
        post: {
          operationId: 'retry', summary: 'Deploy the release of a failed, rolled back or aborted deployment again (overrides a rejection)',
          parameters: [ID_PARAM, ACTOR_HEADER], requestBody: { required: false, content: { 'application/json': { schema: ref('AbortRequest') } } },
          responses: { 201: json(ref('Deployment'), 'The new deployment.'), ...STANDARD_ERRORS, ...NOT_FOUND, ...CONFLICT },
        },
      },
      '/v1/deployments/{id}/verdicts': {
        get: {
          operationId: 'verdicts', summary: 'Every analysis verdict of a deployment, with the measurements behind it, oldest first',
          parameters: [ID_PARAM, ...queryParameters(verdictsQuery, { after: 'Only verdicts after this id.', limit: 'At most this many (1-10000).' })],
          responses: { 200: json({ type: 'array', items: { type: 'object' } }, 'The verdicts.'), ...STANDARD_ERRORS, ...NOT_FOUND },
        },
      },
      '/v1/deployments/{id}/samples': {
        get: {
          operationId: 'samples', summary: 'Per-release request samples of a deployment (one per release per interval while it was active), oldest first',
          parameters: [ID_PARAM, ...queryParameters(samplesQuery, { since: 'Only samples at or after this time (epoch ms).', limit: 'At most this many (1-100000; default 10000).' })],
          responses: { 200: json({ type: 'array', items: ref('ReleaseSample') }, 'The samples.'), ...STANDARD_ERRORS, ...NOT_FOUND },
        },
      },
      '/v1/timeline': {
        get: {
          operationId: 'timeline', summary: 'The release timeline of a service in an environment: deployments, freezes and per-release samples in a window',
          parameters: queryParameters(timelineQuery, { service: 'The service.', environment: 'The environment.', since: 'Start of the window (epoch ms); default an hour ago.' }),
          responses: { 200: json(ref('Timeline'), 'The timeline.'), ...STANDARD_ERRORS, ...NOT_FOUND },
        },
      },
      '/v1/rollbacks': {
        post: {
          operationId: 'rollback', summary: 'Roll back to the previous stable release or to `to`',
          parameters: [ACTOR_HEADER], requestBody: body('RollbackRequest'),
          responses: { 201: json(ref('Deployment'), 'The rollback deployment, as created.'), ...STANDARD_ERRORS, ...NOT_FOUND, ...CONFLICT, ...BLOCKED },
        },
      },
      '/v1/status': {
        get: {
          operationId: 'status', summary: 'What runs where',
          parameters: queryParameters(statusQuery, { service: 'Only this service.', environment: 'Only this environment.' }),
          responses: { 200: json({ type: 'array', items: ref('StatusEntry') }, 'One entry per service and environment.'), ...STANDARD_ERRORS, ...NOT_FOUND },
        },
      },
      '/v1/plan': {
        post: {
          operationId: 'plan', summary: 'The steps a deployment would run, without running them',
          parameters: [ACTOR_HEADER], requestBody: body('PlanRequest'),
          responses: { 200: json(ref('Plan'), 'The plan.'), ...STANDARD_ERRORS, ...NOT_FOUND },
        },
      },
      '/v1/logs': {
        get: {
          operationId: 'logs', summary: 'Recent log lines of a service\'s instances',
          parameters: queryParameters(logsQuery, { service: 'The service.', environment: 'The environment.', version: 'Only instances of this release.', lines: 'Lines per instance (1-10000).' }),
          responses: { 200: json({ type: 'array', items: ref('InstanceLog') }, 'Per instance, its last lines.'), ...STANDARD_ERRORS, ...NOT_FOUND },
        },
      },
      '/v1/events': {
        get: {
          operationId: 'events', summary: 'The event log, in id order (or newest first), filtered on the server',
          parameters: queryParameters(eventsFilterQuery, {
            after: 'Only events with a larger id.', before: 'Only events with a smaller id (the next page, newest first).', deployment: 'Only events of this deployment.',
            limit: 'At most this many (1-1000).', order: '`asc` (default: id order) or `desc` (newest first).',
            type: 'Comma-separated event types, each exact (`freeze.created`) or a prefix ending in `.*` (`step.*`).',
            service: 'Only events of deployments of this service (or naming it in their data).', environment: 'Likewise for an environment.',
            actor: 'Only events by this actor: their data\'s actor (or by, user), else their deployment\'s actor.',
            since: 'Only events at or after this time (epoch ms).', until: 'Only events at or before this time (epoch ms).',
          }),
          responses: { 200: json({ type: 'array', items: ref('AuditEvent') }, 'Events, with the service, environment and actor each concerns.'), ...STANDARD_ERRORS },
        },
      },
      '/v1/events/stream': {
        get: {
          operationId: 'eventStream', summary: 'The event log as Server-Sent Events',
          description: 'Each message has `id:` set to the event id and `data:` holding the Event as JSON. A reconnecting client sends `Last-Event-ID` (it takes precedence over `after`) and gets only later events. Without either, the stream starts at the first event. A comment line is sent every 15 seconds to keep the connection open.',
          parameters: [
            ...queryParameters(eventsStreamQuery, { after: 'Start after this event id.', deployment: 'Only events of this deployment.' }),
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', pattern: '^[0-9]+$' }, description: 'Resume after this event id.' },
          ],
          responses: { 200: { description: 'An endless stream of events.', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...STANDARD_ERRORS },
        },
      },
    },
  };
}
