/**
 * Authentication and authorization of the HTTP API.
 *
 * Principals: the built-in admin (the token `gangway up` writes to `.gangway/token`, mode
 * 0600), API tokens of users (stored as sha256), and dashboard sessions (an HttpOnly cookie,
 * stored as sha256, with a CSRF token for unsafe methods). Every route's required role comes
 * from the one table in ./permissions.ts. Refusals (401/403/429) are recorded in the event
 * log as `auth.denied`, never with a secret.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiErrorBody } from '../errors.js';
import { GangwayError, toApiError } from '../errors.js';
import type { AuthStore, NewEvent, Role, Store } from '../store/types.js';
import { BUILTIN_ADMIN, EVERY_ENVIRONMENT, describeRoles, roleIn, roleRank } from '../auth/users.js';
import { TOUCH_INTERVAL_MS, secretHash, tokenRefusal } from '../auth/tokens.js';
import { CSRF_HEADER, csrfMatches, csrfTokenOf, sessionIdFrom } from '../auth/sessions.js';
import { SignInThrottle } from './sign-in-throttle.js';
import { logFault, sendError } from './error-reply.js';
import type { RoutePermission } from './permissions.js';
import { isApiPath, permissionOf } from './permissions.js';

/** The exact body of a 401 answer to a missing or unknown credential. */
export const UNAUTHORIZED_BODY: ApiErrorBody = {
  error: { code: 'unauthorized', message: 'missing or invalid API token', hint: 'the CLI reads it from .gangway/token' },
};

/** True for the paths that require a principal: every /v1 route, the OpenAPI document and /metrics. */
export function needsToken(url: string): boolean {
  return isApiPath(url);
}

/**
 * Returns a checker for `Authorization: Bearer <token>`. Both sides are hashed first so the
 * comparison takes the same time whatever the length or content of the presented token.
 */
export function tokenChecker(token: string): (authorization: string | undefined) => boolean {
  if (token.length === 0) throw new Error('the API token must not be empty');
  const expected = createHash('sha256').update(token).digest();
  return (authorization) => {
    if (typeof authorization !== 'string') return false;
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    const presented = createHash('sha256').update(match ? match[1] : '').digest();
    // Run the comparison even when the header is malformed, so timing says nothing about why it failed.
    return timingSafeEqual(presented, expected) && match !== null;
  };
}

/**
 * What {@link AuthService.environmentOf} answers for a request that names no environment the
 * config defines: a value no environment name can equal (an environment may be named `missing`).
 */
export const NO_ENVIRONMENT: unique symbol = Symbol('no environment');

/** Who a request acts for. */
export interface Principal {
  /** The user name; `admin` for the built-in principal. Recorded as the actor. */
  name: string;
  /** Role per environment or `*`. */
  roles: Record<string, Role>;
  /** `builtin`: the `.gangway/token` file (the only principal whose `x-gangway-actor` is honoured). */
  kind: 'builtin' | 'user';
  /** How it authenticated. */
  via: 'bearer' | 'session';
  /** The API token used (directly, or to sign in to the session). */
  tokenId: string | null;
  /** The session, when authenticated by cookie. */
  session?: { id: string; idHash: string; expiresAt: number };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every route that needs a principal. */
    principal?: Principal;
  }
}

/** The roles of the built-in admin. */
const BUILTIN_ROLES: Readonly<Record<string, Role>> = Object.freeze({ [EVERY_ENVIRONMENT]: 'admin' });

/** Options of {@link AuthService}. */
export interface AuthOptions {
  /** The built-in admin token. */
  token: string;
  /** Users, tokens, sessions and the event log; without it only the built-in token is accepted. */
  store?: AuthStore & Pick<Store, 'appendEvents'>;
  /** The clock (Date.now). */
  now?: () => number;
  /** Slows failed sign-ins per user name and client address (see sign-in-throttle.ts). */
  throttle?: SignInThrottle;
  /** Environments of the config: roles naming another one are refused. */
  environments?: readonly string[];
  /** The environment of a deployment (undefined when it does not exist). */
  deploymentEnvironment?: (id: string) => Promise<string | undefined>;
  /** The environment of a freeze (null: every environment; undefined: no such freeze). */
  freezeEnvironment?: (id: string) => Promise<string | null | undefined>;
  /** The environment of a release (group) by id; undefined when unknown. */
  releaseEnvironment?: (id: string) => Promise<string | undefined>;
  /** Recorded `auth.denied` events per minute at most (60); the rest are counted into the next one. */
  deniedPerMinute?: number;
}

/** A refused authentication: the answer's message and hint, and whom it was about if known. */
interface Refusal { status: 401; body: ApiErrorBody; principal?: string; tokenId?: string; noCredential?: boolean }

const refused = (message: string, hint: string, principal?: string, tokenId?: string): Refusal =>
  ({ status: 401, body: { error: { code: 'unauthorized', message, hint } }, principal, tokenId });

const article = (role: Role) => (role === 'admin' || role === 'approver' ? `an ${role}` : `a ${role}`);

/** `a deployer in dev and a viewer in every environment` */
function describeHeld(roles: Record<string, Role>): string {
  return describeRoles(roles).split(', ').map((part) => {
    const [role, ...rest] = part.split(' ');
    return `${article(role as Role)} ${rest.join(' ')}`;
  }).join(' and ');
}

/**
 * Why `principal` may not act with `role` in `target`, or undefined when it may. `target`
 * is an environment name, `any` (some environment) or `global` (every environment).
 *
 * @example
 * refusalOf({ name: 'ana', roles: { dev: 'deployer' }, ... }, 'deployer', { environment: 'prod' });
 * // 'ana is a deployer in dev, not in prod'
 */
export function refusalOf(principal: Pick<Principal, 'name' | 'roles'>, role: Role, target: { environment: string } | 'any' | 'global'): string | undefined {
  const { name, roles } = principal;
  const enough = (held: Role | undefined) => held !== undefined && roleRank(held) >= roleRank(role);
  const none = Object.keys(roles).length === 0;
  if (target === 'global') {
    if (enough(roles[EVERY_ENVIRONMENT])) return undefined;
    return none ? `${name} has no role` : `${name} is ${describeHeld(roles)}, not ${article(role)} in every environment`;
  }
  if (target === 'any') {
    if (Object.values(roles).some(enough)) return undefined;
    return none ? `${name} has no role` : `${name} is ${describeHeld(roles)}, not ${article(role)} anywhere`;
  }
  const held = roleIn(roles, target.environment);
  if (enough(held)) return undefined;
  if (held !== undefined) return `${name} is ${article(held)} in ${target.environment}, not ${article(role)}`;
  return none ? `${name} has no role` : `${name} is ${describeHeld(roles)}, not in ${target.environment}`;
}

/**
 * Authenticates requests and records refusals. One per server; the session routes use it
 * to sign in with a token and to count failed sign-ins.
 */
export class AuthService {
  readonly store: AuthOptions['store'];
  readonly throttle: SignInThrottle;
  readonly now: () => number;
  readonly environments: readonly string[] | undefined;
  private readonly environmentSet: ReadonlySet<string> | undefined;
  private readonly builtin: (authorization: string | undefined) => boolean;
  private readonly builtinHash: Buffer;
  private readonly deniedPerMinute: number;
  private deniedWindow = { start: 0, count: 0, suppressed: 0 };

  constructor(private readonly opts: AuthOptions) {
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
    this.throttle = opts.throttle ?? new SignInThrottle({ now: this.now });
    this.environments = opts.environments;
    this.environmentSet = opts.environments ? new Set(opts.environments) : undefined;
    this.builtin = tokenChecker(opts.token);
    this.builtinHash = createHash('sha256').update(opts.token).digest();
    this.deniedPerMinute = opts.deniedPerMinute ?? 60;
  }

  /** The built-in admin principal. */
  builtinPrincipal(via: Principal['via'] = 'bearer'): Principal {
    return { name: BUILTIN_ADMIN, roles: { ...BUILTIN_ROLES }, kind: 'builtin', via, tokenId: null };
  }

  /** True when `secret` is the built-in token (constant time). */
  isBuiltinToken(secret: string): boolean {
    return timingSafeEqual(createHash('sha256').update(secret).digest(), this.builtinHash);
  }

  /**
   * The principal of an API token secret (the built-in one included), or why it is refused.
   * Records the token's use.
   */
  async principalOfToken(secret: string): Promise<Principal | Refusal> {
    if (this.isBuiltinToken(secret)) return this.builtinPrincipal();
    const record = this.store && secret.length > 0 && secret.length <= 256 ? await this.store.getApiTokenByHash(secretHash(secret)) : undefined;
    if (!record) return refused(UNAUTHORIZED_BODY.error.message, UNAUTHORIZED_BODY.error.hint!);
    const now = this.now();
    const why = tokenRefusal(record, now);
    if (why) return refused(why, 'ask an admin for a new token (gangway token create)', record.owner, record.id);
    const principal = await this.principalOfUser(record.owner, 'bearer', record.id);
    if (!principal) return refused('the owner of this token no longer exists', 'ask an admin for a new token (gangway token create)', record.owner, record.id);
    if (record.lastUsedAt === null || now - record.lastUsedAt >= TOUCH_INTERVAL_MS) await this.store!.touchApiToken(record.id, now);
    return principal;
  }

  /** The principal of a user name (`admin`: the built-in principal), or undefined when there is no such user. */
  async principalOfUser(name: string, via: Principal['via'], tokenId: string | null): Promise<Principal | undefined> {
    if (name === BUILTIN_ADMIN) return { ...this.builtinPrincipal(via), kind: via === 'bearer' && tokenId === null ? 'builtin' : 'user', tokenId };
    const user = await this.store?.getUser(name);
    return user && { name: user.name, roles: user.roles, kind: 'user', via, tokenId };
  }

  /** Authenticates a request: a bearer token if it has an Authorization header, else the session cookie. */
  async authenticate(request: FastifyRequest): Promise<Principal | Refusal> {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      // Fast path for the CLI and for setups without users: no store lookup.
      if (this.builtin(authorization)) return this.builtinPrincipal();
      const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
      if (!match) return refused(UNAUTHORIZED_BODY.error.message, UNAUTHORIZED_BODY.error.hint!);
      return this.principalOfToken(match[1]);
    }
    const sessionId = this.store ? sessionIdFrom(request.headers.cookie) : undefined;
    if (sessionId === undefined) return { ...refused(UNAUTHORIZED_BODY.error.message, UNAUTHORIZED_BODY.error.hint!), noCredential: true };
    const idHash = secretHash(sessionId);
    const session = await this.store!.getSession(idHash);
    const now = this.now();
    if (!session || session.expiresAt <= now) {
      if (session) await this.store!.deleteSession(idHash);
      return refused('session expired or signed out', 'sign in again');
    }
    const principal = await this.principalOfUser(session.userName, 'session', session.tokenId);
    if (!principal) return refused('session expired or signed out', 'sign in again', session.userName);
    return { ...principal, session: { id: sessionId, idHash, expiresAt: session.expiresAt } };
  }

  /**
   * Appends an `auth.denied` event. Never throws (a refusal must not turn into a 500), and
   * at most `deniedPerMinute` are written per minute so a flood of bad requests cannot fill
   * the log: the next recorded event carries how many were left out (`suppressed`).
   */
  async recordDenied(request: FastifyRequest, data: { principal?: string; tokenId?: string; reason: string }): Promise<void> {
    if (!this.store) return;
    const now = this.now();
    const w = this.deniedWindow;
    if (now - w.start >= 60_000) { w.start = now; w.count = 0; }
    if (w.count >= this.deniedPerMinute) { w.suppressed += 1; return; }
    w.count += 1;
    const event: NewEvent = {
      deploymentId: null, at: now, type: 'auth.denied',
      data: {
        ...(data.principal !== undefined ? { principal: data.principal } : {}),
        ...(data.tokenId !== undefined ? { tokenId: data.tokenId } : {}),
        method: request.method, route: request.routeOptions.url ?? request.url.split('?', 1)[0], reason: data.reason,
        ...(request.ip ? { address: request.ip } : {}),
        ...(w.suppressed > 0 ? { suppressed: w.suppressed } : {}),
      },
    };
    w.suppressed = 0;
    try {
      await this.store.appendEvents([event]);
    } catch (err) {
      logFault(request, err, { msg: 'recording auth.denied failed' });
    }
  }

  /**
   * The environment a request acts in, per its permission: null for every environment;
   * {@link NO_ENVIRONMENT} when it names none, or one the config does not define (the route
   * answers 404 for it), or an unknown deployment or freeze.
   */
  async environmentOf(request: FastifyRequest, source: Extract<RoutePermission, { access: 'role' }>['environment']): Promise<string | null | typeof NO_ENVIRONMENT> {
    // Only a defined environment is looked up in a principal's roles: `constructor` must not find an inherited member.
    const known = (env: string) => (this.environmentSet === undefined || this.environmentSet.has(env) ? env : NO_ENVIRONMENT);
    const pick = (v: unknown) => (v !== null && typeof v === 'object' && typeof (v as { environment?: unknown }).environment === 'string'
      ? known((v as { environment: string }).environment) : NO_ENVIRONMENT);
    const id = (request.params as { id?: unknown } | undefined)?.id;
    switch (source) {
      case 'body': return pick(request.body);
      case 'query': return pick(request.query);
      case 'global': return null;
      case 'deployment': {
        if (typeof id !== 'string' || !this.opts.deploymentEnvironment) return NO_ENVIRONMENT;
        return (await this.opts.deploymentEnvironment(id)) ?? NO_ENVIRONMENT;
      }
      case 'release': {
        if (typeof id !== 'string' || !this.opts.releaseEnvironment) return NO_ENVIRONMENT;
        const env = await this.opts.releaseEnvironment(id);
        return env === undefined ? NO_ENVIRONMENT : known(env);
      }
      case 'freeze': {
        if (typeof id !== 'string' || !this.opts.freezeEnvironment) return NO_ENVIRONMENT;
        const env = await this.opts.freezeEnvironment(id);
        return env === undefined ? NO_ENVIRONMENT : env;
      }
    }
  }
}

function send(reply: FastifyReply, status: number, body: ApiErrorBody): FastifyReply {
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="gangway"');
  return sendError(reply, status, body);
}

/**
 * The two hooks of the API: `onRequest` authenticates (401) and checks the CSRF token of
 * cookie requests (403) before the body is read; `preHandler` authorizes (403) once the body
 * and the route's parameters are known.
 */
export function authHooks(auth: AuthService) {
  const onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const permission = permissionOf(request.method, request.routeOptions.url, request.url);
    if (permission.access === 'public') return undefined;
    const result = await auth.authenticate(request);
    if (!('name' in result)) {
      // A request with no credential at all (a signed-out dashboard asking GET /v1/session) is
      // not an attempt to get in: recording each would fill the log with page loads.
      if (!result.noCredential) await auth.recordDenied(request, { principal: result.principal, tokenId: result.tokenId, reason: result.body.error.message });
      // Returning the reply tells Fastify the hook answered and the handler must not run.
      return send(reply, 401, result.body);
    }
    const unsafe = !['GET', 'HEAD', 'OPTIONS'].includes(request.method);
    if (result.session && unsafe && !csrfMatches(result.session.id, request.headers[CSRF_HEADER])) {
      const message = 'missing or wrong CSRF token';
      await auth.recordDenied(request, { principal: result.name, reason: message });
      return send(reply, 403, { error: { code: 'forbidden', message, hint: `send the csrfToken of GET /v1/session in the ${CSRF_HEADER} header` } });
    }
    request.principal = result;
    return undefined;
  };

  const preHandler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const permission = permissionOf(request.method, request.routeOptions.url, request.url);
    if (permission.access !== 'role') return undefined;
    const principal = request.principal;
    // onRequest answered 401 already when there is none; this is only a guard.
    if (!principal) return send(reply, 401, UNAUTHORIZED_BODY);
    // A global admin may do anything: no need to look the environment up.
    if (refusalOf(principal, permission.role, 'global') === undefined) return undefined;
    const env = await auth.environmentOf(request, permission.environment);
    const target = env === null ? 'global' as const : env === NO_ENVIRONMENT ? permission.whenMissing : { environment: env };
    const message = refusalOf(principal, permission.role, target);
    if (message === undefined) return undefined;
    await auth.recordDenied(request, { principal: principal.name, reason: message });
    const { body } = toApiError(new GangwayError('forbidden', message, 'an admin grants roles with `gangway user add <name> --role env=role`'));
    return send(reply, 403, body);
  };

  return { onRequest, preHandler };
}

/**
 * An onRequest hook answering 401 for protected paths without the built-in token. Kept for
 * callers that need only the token check; `buildServer` uses {@link authHooks}.
 */
export function authHook(token: string) {
  const check = tokenChecker(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (!needsToken(request.url)) return undefined;
    if (check(request.headers.authorization)) return undefined;
    return send(reply, 401, UNAUTHORIZED_BODY);
  };
}

/** The CSRF token of a session principal, or null for a bearer one. */
export function csrfTokenFor(principal: Principal): string | null {
  return principal.session ? csrfTokenOf(principal.session.id) : null;
}
