/**
 * The HTTP API of the orchestrator: a Fastify app exposing `OrchestratorApi` under /v1,
 * guarded by a bearer token, with one error handler mapping faults to the shared error shape.
 */
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance, FastifyServerOptions } from 'fastify';
import type { OrchestratorApi } from '../engine/types.js';
import type { PeopleGates } from '../gates/people.js';
import { GangwayError, toApiError } from '../errors.js';
import { AuthService, authHooks } from './auth.js';
import type { FailureLimiter } from '../auth/rate-limit.js';
import type { AuthStore, Store } from '../store/types.js';
import { registerSessionRoutes, sessionOpenApiPaths } from './session-routes.js';
import { openApiDocument } from './openapi.js';
import { registerRoutes } from './routes.js';
import { gateOpenApiPaths, registerGateRoutes } from './gate-routes.js';
import { auditOpenApiPaths, registerAuditRoutes } from './audit-routes.js';
import { registerWindowRoutes, windowOpenApiPaths } from './window-routes.js';
import { registerDashboard } from './static.js';
import { metricsOpenApiPaths, registerMetricsRoutes } from './metrics-routes.js';
import type { MetricsSource } from '../engine/orchestrator-metrics.js';

/** Options of {@link buildServer}. */
export interface ServerOptions {
  orchestrator: OrchestratorApi;
  /**
   * The built-in admin token (`.gangway/token`): `Authorization: Bearer <token>` acts as the
   * global admin `admin`, and only with it is `x-gangway-actor` honoured.
   */
  token: string;
  /**
   * Users, API tokens and sessions, and where refusals are recorded (`auth.denied` events).
   * Without it only the built-in token is accepted and the session, user and token routes
   * do not exist.
   */
  auth?: ServerAuthOptions;
  /**
   * A pino logger instance, pino options, `true` for Fastify's default logger, or
   * `false`/omitted for none. Request logs never include headers, so the token stays out.
   */
  logger?: boolean | object;
  /** Gangway's version, reported by /healthz and the OpenAPI document. */
  version: string;
  /** Event stream timing: poll the event log every `pollMs` (500), comment every `heartbeatMs` (15000). */
  stream?: { pollMs?: number; heartbeatMs?: number };
  /** Approvals, checklist, freezes and the Alertmanager webhook; their routes exist only when given. */
  gates?: PeopleGates;
  /** Gangway's own metrics (GET /metrics) and DORA metrics (GET /v1/dora); their routes exist only when given. */
  metrics?: MetricsSource;
}

/** The `auth` option of {@link ServerOptions}. */
export interface ServerAuthOptions {
  store: AuthStore & Pick<Store, 'appendEvents'>;
  /** The config's environment names: roles naming another are refused. */
  environments?: readonly string[];
  /** The clock (Date.now); tests pass a fake one. */
  now?: () => number;
  /** Failed sign-in limiter (5 per user name or address in 5 minutes). */
  limiter?: FailureLimiter;
  /** Mark the session cookie `Secure` (when the API is served over https). */
  secureCookies?: boolean;
}

interface PinoLike { child(bindings: object, options?: object): unknown; info(...args: unknown[]): void; error(...args: unknown[]): void }

function isLoggerInstance(value: unknown): value is PinoLike {
  const v = value as Partial<PinoLike> | null;
  return typeof v === 'object' && v !== null && typeof v.child === 'function' && typeof v.info === 'function';
}

/** What a request log line says about the request: never its headers. */
function safeRequest(req: { method?: string; url?: string; id?: string; ip?: string }) {
  return { id: req.id, method: req.method, url: req.url, remoteAddress: req.ip };
}

function loggerOptions(logger: ServerOptions['logger']): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (!logger) return { logger: false };
  // A caller's pino may carry pino.stdSerializers.req, which logs every header; override it.
  if (isLoggerInstance(logger)) return { loggerInstance: logger.child({}, { serializers: { req: safeRequest } }) as FastifyServerOptions['loggerInstance'] };
  const options = logger === true ? {} : logger as Record<string, unknown>;
  return {
    logger: {
      ...options,
      serializers: { ...(options.serializers as object | undefined), req: safeRequest },
      redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
    },
  };
}

/**
 * Builds the API server (not listening; the caller listens on config.server host and port).
 *
 * @example
 * const app = buildServer({ orchestrator, token, version: '0.1.0', logger });
 * await app.listen({ host: config.server.host, port: config.server.port });
 */
export function buildServer(opts: ServerOptions): FastifyInstance {
  const app = Fastify({
    ...loggerOptions(opts.logger),
    bodyLimit: 256 * 1024,
  }) as unknown as FastifyInstance;

  const auth = new AuthService({
    token: opts.token, store: opts.auth?.store, now: opts.auth?.now, limiter: opts.auth?.limiter, environments: opts.auth?.environments,
    deploymentEnvironment: async (id) => {
      try {
        return (await opts.orchestrator.getDeployment(id)).environment;
      } catch (err) {
        // The route answers its own 404.
        if (err instanceof GangwayError && err.code === 'not_found') return undefined;
        throw err;
      }
    },
    freezeEnvironment: async (id) => (await opts.gates?.freezes({ all: true }))?.find((f) => f.id === id)?.environment,
  });
  const hooks = authHooks(auth);
  app.addHook('onRequest', hooks.onRequest);
  app.addHook('preHandler', hooks.preHandler);

  app.setErrorHandler((err: FastifyError | GangwayError | Error, request, reply) => {
    if (err instanceof GangwayError) {
      const { status, body } = toApiError(err);
      if (status >= 500) request.log.error({ err }, 'request failed');
      return reply.code(status).send(body);
    }
    const fastifyErr = err as FastifyError;
    // Fastify's own client errors: malformed JSON, wrong content type, body too large.
    if (typeof fastifyErr.statusCode === 'number' && fastifyErr.statusCode >= 400 && fastifyErr.statusCode < 500) {
      const { status, body } = toApiError(new GangwayError('invalid_argument', `body: ${fastifyErr.message}`,
        'send a JSON object with content-type: application/json'));
      return reply.code(status).send(body);
    }
    request.log.error({ err }, 'request failed');
    const { status, body } = toApiError(err);
    return reply.code(status).send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    const { status, body } = toApiError(new GangwayError('not_found', `no route ${request.method} ${request.url.split('?', 1)[0]}`,
      'see GET /openapi.json for the routes'));
    return reply.code(status).send(body);
  });

  app.get('/healthz', async () => ({ ok: true, version: opts.version }));

  const document = openApiDocument(opts.version);
  if (opts.gates) Object.assign(document.paths as Record<string, unknown>, gateOpenApiPaths());
  if (opts.gates) Object.assign(document.paths as Record<string, unknown>, windowOpenApiPaths());
  Object.assign(document.paths as Record<string, unknown>, auditOpenApiPaths());
  if (opts.metrics) Object.assign(document.paths as Record<string, unknown>, metricsOpenApiPaths());
  if (opts.auth) describeSessions(document);
  app.get('/openapi.json', async () => document);

  registerRoutes(app, opts.orchestrator, { pollMs: opts.stream?.pollMs ?? 500, heartbeatMs: opts.stream?.heartbeatMs ?? 15_000 });
  if (opts.gates) registerGateRoutes(app, opts.gates);
  registerAuditRoutes(app, opts.orchestrator);
  if (opts.auth) registerSessionRoutes(app, auth, { secureCookies: opts.auth.secureCookies });
  if (opts.gates) registerWindowRoutes(app, opts.gates.config);
  if (opts.metrics) registerMetricsRoutes(app, opts.metrics);
  // Exact routes win over the dashboard's wildcard in Fastify's router, whatever the order.
  registerDashboard(app);
  return app;
}

/** Adds the session, user and token routes, the session cookie scheme and the `rate_limited` code to the OpenAPI document. */
function describeSessions(document: Record<string, unknown>): void {
  Object.assign(document.paths as Record<string, unknown>, sessionOpenApiPaths());
  const components = document.components as { securitySchemes: Record<string, unknown>; schemas: Record<string, { properties: Record<string, { properties: Record<string, { enum?: string[] }> }> }> };
  components.securitySchemes.session = {
    type: 'apiKey', in: 'cookie', name: 'gangway_session',
    description: 'Set by POST /v1/session. Unsafe methods also need the header x-csrf-token (the csrfToken of the session).',
  };
  document.security = [{ bearer: [] }, { session: [] }];
  if (!components.schemas.Error) return;
  // The document's schemas are shared module constants: change a copy.
  components.schemas = { ...components.schemas, Error: structuredClone(components.schemas.Error) };
  const codes = components.schemas.Error.properties.error.properties.code.enum;
  if (codes && !codes.includes('rate_limited')) codes.push('rate_limited');
}
