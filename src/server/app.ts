/**
 * The HTTP API of the orchestrator: a Fastify app exposing `OrchestratorApi` under /v1,
 * guarded by a bearer token, with one error handler mapping faults to the shared error shape.
 * Whatever a client sends — a bad URL, a body that is not UTF-8 JSON, a Host that is not this
 * server's, a name like `__proto__` — the answer is a 4xx in that shape, and a 5xx is logged.
 */
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { OrchestratorApi } from '../engine/types.js';
import type { PeopleGates } from '../gates/people.js';
import type { GangwayConfig } from '../config/types.js';
import { GangwayError, toApiError } from '../errors.js';
import { AuthService, authHooks } from './auth.js';
import type { SignInThrottle } from './sign-in-throttle.js';
import { HttpRefusal, clip, errorAnswer, logFault, refusalFor, sendError } from './error-reply.js';
import { hostChecker } from './host-check.js';
import { KnownNames, type ConfigNames } from './names.js';
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
import type { AutoDeployer } from '../autodeploy/deployer.js';
import { autoDeployOpenApiPaths, registerAutoDeployRoutes } from './webhook-routes.js';
import { registerReleaseRoutes, releaseOpenApiPaths } from './release-routes.js';
import type { ReleaseApi } from '../engine/types.js';

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
   * `false`/omitted for none. Every 5xx is logged at `error` with the method, the route
   * pattern and the error's message and stack; request logs never include headers, so the
   * token stays out.
   */
  logger?: boolean | object;
  /** Log a line per request and per answer (true); false leaves only the faults. */
  logRequests?: boolean;
  /**
   * The config the API serves, when it is not the gates' config: its service and environment
   * names (a request naming another is answered 404 before the orchestrator is asked) and
   * `server.host` (an accepted Host header).
   */
  config?: ConfigNames & Partial<Pick<GangwayConfig, 'server'>>;
  /**
   * Host header names accepted besides IP addresses, `localhost`, names under `.localhost` and
   * the config's `server.host` (a leading dot accepts subdomains: `.example.com`). Any other
   * Host is refused with 403, so a page whose name rebinds to this address cannot use the API.
   */
  allowedHosts?: readonly string[];
  /** Gangway's version, reported by /healthz and the OpenAPI document. */
  version: string;
  /** What `/readyz` asks: is the store reachable with its migrations current? Without it, `/readyz` answers as `/livez`. */
  readiness?: () => Promise<{ ready: boolean; problems: string[] }>;
  /** Event stream timing: poll the event log every `pollMs` (500), comment every `heartbeatMs` (15000). */
  stream?: { pollMs?: number; heartbeatMs?: number };
  /** Approvals, checklist, freezes and the Alertmanager webhook; their routes exist only when given. */
  gates?: PeopleGates;
  /** Gangway's own metrics (GET /metrics) and DORA metrics (GET /v1/dora); their routes exist only when given. */
  metrics?: MetricsSource;
  /** Auto-deploy: the release webhook and the subscriptions' status and resume; their routes exist only when given. */
  autodeploy?: { deployer: AutoDeployer; config: Pick<GangwayConfig, 'environments'> };
  /** Releases of several services (release groups); their routes exist only when given. */
  releases?: ReleaseApi & { environmentOf(id: string): Promise<string | undefined> };
}

/** The `auth` option of {@link ServerOptions}. */
export interface ServerAuthOptions {
  store: AuthStore & Pick<Store, 'appendEvents'>;
  /** The config's environment names (default: those of `config`): roles naming another are refused. */
  environments?: readonly string[];
  /** The clock (Date.now); tests pass a fake one. */
  now?: () => number;
  /** Slows failed sign-ins per user name and client address (see sign-in-throttle.ts). */
  throttle?: SignInThrottle;
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
    logController: new LogController({ disableRequestLogging: opts.logRequests === false }),
    bodyLimit: BODY_LIMIT,
    // Longer path parameters are answered 414 (ids are far shorter).
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A bad percent-encoding or an over-long parameter, found before any route or hook runs.
    frameworkErrors: (error, request, reply) => {
      const { status, body } = errorAnswer(error);
      return sendError(securityHeaders(reply), status, body);
    },
    clientErrorHandler: answerClientError,
  }) as unknown as FastifyInstance;
  acceptJsonOnly(app);

  const config = opts.config ?? opts.gates?.config;
  const names = config ? new KnownNames(config) : undefined;
  const hostAllowed = hostChecker([...(opts.allowedHosts ?? []), ...(config?.server ? [config.server.host, ...(config.server.allowedHosts ?? [])] : [])]);
  // First of all hooks: a request for another host name is not this server's to answer.
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const host = request.headers.host;
    if (hostAllowed(host)) return undefined;
    const { body } = toApiError(new GangwayError('forbidden', `host: "${clip(host)}" is not a name this server answers to`,
      'use the address the server listens on (server.host in gangway.yaml), localhost or 127.0.0.1, or add the name to server.allowedHosts'));
    return sendError(reply, 403, body);
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    securityHeaders(reply);
    return payload;
  });

  const auth = new AuthService({
    token: opts.token, store: opts.auth?.store, now: opts.auth?.now, throttle: opts.auth?.throttle,
    environments: opts.auth?.environments ?? config?.environments.map((e) => e.name),
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
    releaseEnvironment: opts.releases ? (id) => opts.releases!.environmentOf(id) : undefined,
  });
  const hooks = authHooks(auth);
  app.addHook('onRequest', hooks.onRequest);
  app.addHook('preHandler', hooks.preHandler);

  app.setErrorHandler((err: unknown, request, reply) => {
    const { status, body } = errorAnswer(err);
    if (status >= 500) logFault(request, err, { status });
    return sendError(reply, status, body);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0];
    // The dashboard's wildcard takes GET paths whose parameter is too long for a route: answer as the router does for other methods.
    if (path.split('/').some((segment) => segment.length > MAX_PARAM_LENGTH)) {
      const { status, body } = errorAnswer(refusalFor('FST_ERR_MAX_PARAM_LENGTH'));
      return sendError(reply, status, body);
    }
    const { status, body } = toApiError(new GangwayError('not_found', `no route ${request.method} ${clip(path)}`,
      'see GET /openapi.json for the routes'));
    return sendError(reply, status, body);
  });

  app.get('/healthz', async () => ({ ok: true, version: opts.version }));
  // For load balancers and Kubernetes probes: alive (the process answers) and ready (it can serve: the store answers, migrated).
  app.get('/livez', async () => ({ ok: true, version: opts.version }));
  app.get('/readyz', async (_request, reply) => {
    const r = opts.readiness ? await opts.readiness() : { ready: true, problems: [] };
    return reply.code(r.ready ? 200 : 503).send({ ok: r.ready, version: opts.version, problems: r.problems });
  });

  const document = openApiDocument(opts.version);
  if (opts.gates) Object.assign(document.paths as Record<string, unknown>, gateOpenApiPaths());
  if (opts.gates) Object.assign(document.paths as Record<string, unknown>, windowOpenApiPaths());
  Object.assign(document.paths as Record<string, unknown>, auditOpenApiPaths());
  if (opts.metrics) Object.assign(document.paths as Record<string, unknown>, metricsOpenApiPaths());
  if (opts.autodeploy) Object.assign(document.paths as Record<string, unknown>, autoDeployOpenApiPaths());
  if (opts.releases) Object.assign(document.paths as Record<string, unknown>, releaseOpenApiPaths());
  if (opts.auth) describeSessions(document);
  app.get('/openapi.json', async () => document);

  registerRoutes(app, opts.orchestrator, { pollMs: opts.stream?.pollMs ?? 500, heartbeatMs: opts.stream?.heartbeatMs ?? 15_000 }, names);
  if (opts.gates) registerGateRoutes(app, opts.gates);
  registerAuditRoutes(app, opts.orchestrator);
  if (opts.auth) registerSessionRoutes(app, auth, { secureCookies: opts.auth.secureCookies });
  if (opts.gates) registerWindowRoutes(app, opts.gates.config);
  if (opts.metrics) registerMetricsRoutes(app, opts.metrics, names);
  if (opts.autodeploy) {
    registerAutoDeployRoutes(app, opts.autodeploy.deployer, opts.autodeploy.config, { recordDenied: (request, reason) => auth.recordDenied(request, { reason }) });
  }
  if (opts.releases) registerReleaseRoutes(app, opts.releases, names);
  // Exact routes win over the dashboard's wildcard in Fastify's router, whatever the order.
  registerDashboard(app);
  return app;
}

/** Largest request body accepted (413 above it). */
const BODY_LIMIT = 256 * 1024;
/** Longest path parameter (an id, a user name, a checklist item); 414 above it. */
const MAX_PARAM_LENGTH = 100;

/**
 * Headers of every answer but the event stream's (which sets its own): no MIME sniffing, and
 * no caching unless the route chose (the dashboard's files do).
 */
function securityHeaders(reply: FastifyReply): FastifyReply {
  reply.header('x-content-type-options', 'nosniff');
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  return reply;
}

/**
 * Bodies are JSON in UTF-8 and nothing else: every other media type is 415 (text/plain too,
 * which a cross-site form may send without a preflight), and so is a JSON body declaring
 * another charset — it would be read as UTF-8 and mean something else. Keys named `__proto__`
 * or `constructor` with a `prototype` are refused: merged into an object later they could
 * change its prototype.
 */
function acceptJsonOnly(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const charset = charsetOf(request.headers['content-type']);
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      done(new HttpRefusal(415, 'invalid_argument', `content-type: charset "${clip(charset)}" is not accepted; the API reads UTF-8`,
        'send the body in UTF-8 with content-type: application/json'), undefined);
      return;
    }
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(refusalFor('FST_ERR_CTP_EMPTY_JSON_BODY'), undefined);
      return;
    }
    try {
      done(null, JSON.parse(text, refusePrototypeKeys));
    } catch (err) {
      done(err instanceof HttpRefusal ? err : refusalFor('FST_ERR_CTP_INVALID_JSON_BODY'), undefined);
    }
  });
}

function refusePrototypeKeys(this: unknown, key: string, value: unknown): unknown {
  if (key === '__proto__' || (key === 'constructor' && value !== null && typeof value === 'object' && Object.hasOwn(value, 'prototype'))) {
    throw new HttpRefusal(400, 'invalid_argument', 'body: keys named __proto__, or constructor with a prototype, are not accepted',
      'rename the key; see GET /openapi.json for the accepted fields');
  }
  return value;
}

/** The charset parameter of a Content-Type header, lower-cased and unquoted; undefined without one. */
export function charsetOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return undefined;
}

/**
 * Answers a request Node's HTTP parser refused (a malformed request line or header, headers
 * too large, a timeout) in the API's error shape, and closes the connection.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message = status === 431 ? 'headers: larger than the server accepts' : status === 408 ? 'request: not received in time' : 'request: is not valid HTTP/1.1';
  const body = JSON.stringify({ error: { code: 'invalid_argument', message } });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
      + `X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
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
