/**
 * Identity routes: dashboard sessions (sign in, who am I, sign out), and the user and API
 * token management the CLI's `gangway user` and `gangway token` commands call. Authentication
 * and the role each route needs come from the hooks in auth.ts and the table in
 * permissions.ts; these handlers only act.
 */
import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GangwayError, NotFoundError, toApiError } from '../errors.js';
import type { Role, UserRecord } from '../store/types.js';
import { BUILTIN_ADMIN, NAME_PATTERN, checkPassword, checkRoles, hashPassword, verifyPassword } from '../auth/users.js';
import { newApiToken, tokenView } from '../auth/tokens.js';
import { clearedSessionCookie, newSession, sessionCookie } from '../auth/sessions.js';
import type { AuthService, Principal } from './auth.js';
import { csrfTokenFor } from './auth.js';
import { actorOf, parseInput } from './routes.js';
import { sendError } from './error-reply.js';
import { signInKey } from './sign-in-throttle.js';
import { bodyOf, errors, jsonOf } from './openapi-parts.js';

const nameField = z.string().regex(NAME_PATTERN, { error: 'must be 1-64 letters, digits, ".", "_", "-" or "@", starting with a letter or digit' });

/** Body of POST /v1/session: a user name and password, or an API token. */
export const signInBody = z.strictObject({
  username: z.string().min(1, { error: 'must not be empty' }).max(128, { error: 'must be at most 128 characters' }).optional(),
  password: z.string().max(1024, { error: 'must be at most 1024 characters' }).optional(),
  token: z.string().min(1, { error: 'must not be empty' }).max(256, { error: 'must be at most 256 characters' }).optional(),
});

/** Body of POST /v1/users. `roles` maps environment names (or `*`) to a role. */
export const userBody = z.strictObject({
  name: nameField,
  roles: z.record(z.string(), z.string()),
  password: z.string().optional(),
});

/** Body of POST /v1/tokens: the owner defaults to the caller; `expiresInDays` to never. */
export const tokenBody = z.strictObject({
  user: nameField.optional(),
  name: z.string().min(1, { error: 'must not be empty' }).max(128, { error: 'must be at most 128 characters' }).optional(),
  expiresInDays: z.number({ error: 'must be a number' }).int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(3650, { error: 'must be at most 3650' }).optional(),
});

/** Query of GET /v1/tokens. */
export const tokensQuery = z.object({ user: nameField.optional() });

/** A user as the API shows it: never the password hash. */
export interface UserView { name: string; roles: Record<string, Role>; hasPassword: boolean; createdAt: number }

function userView(u: UserRecord): UserView {
  return { name: u.name, roles: u.roles, hasPassword: u.passwordHash !== null, createdAt: u.createdAt };
}

const WRONG_CREDENTIALS = 'wrong user name or password';

/** The body of a session answer. */
function sessionBody(p: Principal) {
  return { user: { name: p.name, roles: p.roles }, csrfToken: csrfTokenFor(p) };
}

function principal(request: FastifyRequest): Principal {
  // The hook sets it on every route registered here except sign-in.
  if (!request.principal) throw new GangwayError('unauthorized', 'missing or invalid API token');
  return request.principal;
}

/** Options of {@link registerSessionRoutes}. */
export interface SessionRouteOptions {
  /** Mark the session cookie `Secure` (when the API is served over https). */
  secureCookies?: boolean;
}

/** Registers the session, user and token routes on `app`. Needs an AuthService with a store. */
export function registerSessionRoutes(app: FastifyInstance, auth: AuthService, opts: SessionRouteOptions = {}): void {
  const store = auth.store;
  if (!store) throw new Error('the session routes need a store');
  const record = (type: string, data: Record<string, unknown>) => store.appendEvents([{ deploymentId: null, at: auth.now(), type, data }]);

  app.post('/v1/session', async (request, reply) => {
    const body = parseInput(signInBody, request.body, 'body');
    const byToken = body.token !== undefined;
    if (byToken === (body.username !== undefined || body.password !== undefined) || (!byToken && (body.username === undefined || body.password === undefined))) {
      throw new GangwayError('invalid_argument', 'body: give username and password, or token', 'e.g. { "username": "ana", "password": "…" }');
    }
    // Failures are counted per (user name, client address): see sign-in-throttle.ts for why not per user or per address.
    const tooMany = async (wait: number, principal: string | undefined) => {
      const seconds = Math.ceil(wait / 1000);
      const message = `too many failed sign-ins; try again in ${seconds} second${seconds === 1 ? '' : 's'}`;
      // Only a name that is a user goes into the log: a password typed into the name field must not.
      await auth.recordDenied(request, { principal, reason: message });
      const { status, body: error } = toApiError(new GangwayError('rate_limited', message, 'check the user name and password, then wait'));
      return sendError(reply.header('retry-after', String(seconds)), status, error);
    };
    let signedIn: Principal | undefined;
    if (byToken) {
      const result = await auth.principalOfToken(body.token!);
      if (!('name' in result)) {
        // A valid token is never held back: tokens are 256 random bits, so whether a guess is
        // answered 401 or 429 tells a guesser nothing, and the owner is not locked out.
        const key = signInKey({ token: true }, request.ip);
        const wait = auth.throttle.retryAfter(key);
        if (wait > 0) return tooMany(wait, result.principal);
        auth.throttle.failed(key);
        await auth.recordDenied(request, { principal: result.principal, tokenId: result.tokenId, reason: result.body.error.message });
        return sendError(reply.header('www-authenticate', 'Bearer realm="gangway"'), 401, result.body);
      }
      signedIn = result;
    } else {
      const key = signInKey({ user: body.username! }, request.ip);
      const user = await store.getUser(body.username!);
      const wait = auth.throttle.retryAfter(key);
      if (wait > 0) return tooMany(wait, user?.name);
      // verifyPassword runs scrypt even for an unknown user, so timing does not reveal which names exist.
      const ok = await verifyPassword(body.password!, user?.passwordHash);
      if (!ok || !user) {
        auth.throttle.failed(key);
        await auth.recordDenied(request, { principal: user?.name, reason: WRONG_CREDENTIALS });
        const { body: error } = toApiError(new GangwayError('unauthorized', WRONG_CREDENTIALS, 'user names and passwords are case-sensitive'));
        return sendError(reply, 401, error);
      }
      auth.throttle.succeeded(key);
      signedIn = { name: user.name, roles: user.roles, kind: 'user', via: 'session', tokenId: null };
    }
    const now = auth.now();
    await store.deleteExpiredSessions(now);
    const session = newSession({ userName: signedIn.name, tokenId: signedIn.tokenId, now });
    await store.createSession(session.record);
    await record('session.started', { user: signedIn.name, method: byToken ? 'token' : 'password', ...(signedIn.tokenId ? { tokenId: signedIn.tokenId } : {}) });
    const p: Principal = { ...signedIn, kind: 'user', via: 'session', session: { id: session.id, idHash: session.record.idHash, expiresAt: session.record.expiresAt } };
    return reply.header('set-cookie', sessionCookie(session.id, { secure: opts.secureCookies })).header('cache-control', 'no-store').send(sessionBody(p));
  });

  app.get('/v1/session', async (request, reply) => {
    return reply.header('cache-control', 'no-store').send(sessionBody(principal(request)));
  });

  app.delete('/v1/session', async (request, reply) => {
    const p = principal(request);
    if (p.session) {
      await store.deleteSession(p.session.idHash);
      await record('session.ended', { user: p.name });
    }
    return reply.code(204).header('set-cookie', clearedSessionCookie({ secure: opts.secureCookies })).send();
  });

  app.get('/v1/users', async () => (await store.listUsers()).map(userView));

  app.post('/v1/users', async (request, reply) => {
    const body = parseInput(userBody, request.body, 'body');
    if (body.name === BUILTIN_ADMIN) {
      throw new GangwayError('invalid_argument', `name: ${BUILTIN_ADMIN} is the built-in principal of the .gangway/token file`, 'choose another name');
    }
    checkRoles(body.roles, 'roles', auth.environments);
    if (body.password !== undefined) checkPassword(body.password);
    const user: UserRecord = {
      name: body.name, roles: body.roles, passwordHash: body.password === undefined ? null : await hashPassword(body.password), createdAt: auth.now(),
    };
    await store.createUser(user);
    await record('user.added', { user: user.name, roles: user.roles, by: actorOf(request) });
    return reply.code(201).send(userView(user));
  });

  app.delete<{ Params: { name: string } }>('/v1/users/:name', async (request) => {
    const { name } = request.params;
    if (name === BUILTIN_ADMIN) {
      throw new GangwayError('invalid_argument', `${BUILTIN_ADMIN} is the built-in principal and cannot be removed`, 'delete .gangway/token and restart `gangway up` to replace its token');
    }
    const user = await store.getUser(name);
    if (!user || !(await store.deleteUser(name, auth.now()))) throw new NotFoundError(`user ${name} not found`, 'list users with `gangway user list`');
    await record('user.removed', { user: name, by: actorOf(request) });
    return userView(user);
  });

  app.get('/v1/tokens', async (request) => {
    const q = parseInput(tokensQuery, request.query, 'query');
    return (await store.listApiTokens({ owner: q.user })).map(tokenView);
  });

  app.post('/v1/tokens', async (request, reply) => {
    const body = parseInput(tokenBody, request.body ?? {}, 'body');
    const owner = body.user ?? principal(request).name;
    if (owner !== BUILTIN_ADMIN && !(await store.getUser(owner))) {
      throw new NotFoundError(`user ${owner} not found`, 'add the user first with `gangway user add`');
    }
    const now = auth.now();
    const { record: token, secret } = newApiToken({
      owner, name: body.name ?? 'default', now, expiresAt: body.expiresInDays === undefined ? null : now + body.expiresInDays * 86_400_000,
    });
    await store.createApiToken(token);
    await record('token.created', { tokenId: token.id, name: token.name, owner, expiresAt: token.expiresAt, by: actorOf(request) });
    return reply.code(201).header('cache-control', 'no-store').send({ ...tokenView(token), token: secret });
  });

  app.delete<{ Params: { id: string } }>('/v1/tokens/:id', async (request) => {
    const token = await store.revokeApiToken(request.params.id, auth.now());
    if (!token) throw new NotFoundError(`token ${request.params.id} not found`, 'list tokens with `gangway token list`');
    await record('token.revoked', { tokenId: token.id, owner: token.owner, by: actorOf(request) });
    return tokenView(token);
  });
}


const ROLES_SCHEMA = {
  type: 'object', additionalProperties: { type: 'string', enum: ['viewer', 'deployer', 'approver', 'admin'] },
  description: 'Role per environment name; `*` is every environment.',
};
const SESSION = {
  type: 'object', required: ['user', 'csrfToken'],
  properties: {
    user: { type: 'object', required: ['name', 'roles'], properties: { name: { type: 'string' }, roles: ROLES_SCHEMA } },
    csrfToken: { type: ['string', 'null'], description: 'Send it as `x-csrf-token` on POST/PUT/PATCH/DELETE requests authenticated by the session cookie. Null for a bearer token.' },
  },
};
const USER = {
  type: 'object', required: ['name', 'roles', 'hasPassword', 'createdAt'],
  properties: { name: { type: 'string' }, roles: ROLES_SCHEMA, hasPassword: { type: 'boolean' }, createdAt: { type: 'integer' } },
};
const TOKEN = {
  type: 'object', required: ['id', 'name', 'owner', 'createdAt', 'lastUsedAt', 'expiresAt', 'revokedAt'],
  properties: {
    id: { type: 'string' }, name: { type: 'string' }, owner: { type: 'string', description: 'The user the token acts for.' },
    createdAt: { type: 'integer' }, lastUsedAt: { type: ['integer', 'null'], description: 'Recorded at most once a minute.' },
    expiresAt: { type: ['integer', 'null'] }, revokedAt: { type: ['integer', 'null'] },
  },
};
const DENIED = errors([401, 'Missing, invalid, revoked or expired credential (`unauthorized`).'], [403, 'Needs a global admin (`forbidden`).']);

/** OpenAPI path entries of these routes; app.ts adds them to the document when it registers the routes. */
export function sessionOpenApiPaths(): Record<string, unknown> {
  const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
  const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
  return {
    '/v1/session': {
      post: {
        tags: ['identity'], summary: 'Sign in with a user name and password, or an API token; sets the session cookie.', security: [],
        requestBody: bodyOf(signInBody, true),
        responses: {
          200: {
            ...jsonOf(SESSION, 'Signed in.'),
            headers: { 'Set-Cookie': { schema: { type: 'string' }, description: '`gangway_session=…; Path=/; HttpOnly; SameSite=Strict` (12 hours).' } },
          },
          ...errors([400, 'Neither username and password nor token.'], [401, 'Wrong user name or password, or a bad token (`unauthorized`).'],
            [429, 'Too many failed sign-ins for the user name from this address (`rate_limited`); see Retry-After.']),
        },
      },
      get: { tags: ['identity'], summary: 'Who the session (or bearer token) is, and the session\'s CSRF token.', responses: { 200: jsonOf(SESSION, 'The principal.'), ...errors([401, 'Not signed in.']) } },
      delete: {
        tags: ['identity'], summary: 'Sign out: deletes the session and clears the cookie.',
        responses: { 204: { description: 'Signed out.' }, ...errors([401, 'Not signed in.'], [403, 'Missing or wrong CSRF token.']) },
      },
    },
    '/v1/users': {
      get: { tags: ['identity'], summary: 'Every user (global admin).', responses: { 200: jsonOf({ type: 'array', items: USER }, 'By name.'), ...DENIED } },
      post: {
        tags: ['identity'], summary: 'Add a user with roles per environment and an optional password (global admin).', requestBody: bodyOf(userBody, true),
        responses: { 201: jsonOf(USER, 'The user.'), ...errors([400, 'Invalid name, role, environment or a password under 10 characters.'], [409, 'The user exists.']), ...DENIED },
      },
    },
    '/v1/users/{name}': {
      delete: {
        tags: ['identity'], summary: 'Remove a user; revokes its tokens and ends its sessions (global admin).', parameters: [nameParam],
        responses: { 200: jsonOf(USER, 'The removed user.'), ...errors([404, 'Unknown user.']), ...DENIED },
      },
    },
    '/v1/tokens': {
      get: {
        tags: ['identity'], summary: 'Every API token, revoked ones too; never the secret (global admin).',
        parameters: [{ name: 'user', in: 'query', required: false, schema: { type: 'string' }, description: 'Only tokens of this user.' }],
        responses: { 200: jsonOf({ type: 'array', items: TOKEN }, 'Oldest first.'), ...DENIED },
      },
      post: {
        tags: ['identity'], summary: 'Create an API token; the answer is the only time the secret is shown (global admin).', requestBody: bodyOf(tokenBody, false),
        responses: {
          201: jsonOf({ ...TOKEN, required: [...TOKEN.required, 'token'], properties: { ...TOKEN.properties, token: { type: 'string', description: 'The secret: `Authorization: Bearer <token>`.' } } }, 'The token and its secret.'),
          ...errors([400, 'Invalid input.'], [404, 'Unknown user.']), ...DENIED,
        },
      },
    },
    '/v1/tokens/{id}': {
      delete: {
        tags: ['identity'], summary: 'Revoke an API token (idempotent); sessions signed in with it end (global admin).', parameters: [idParam],
        responses: { 200: jsonOf(TOKEN, 'The revoked token.'), ...errors([404, 'Unknown token.']), ...DENIED },
      },
    },
  };
}
