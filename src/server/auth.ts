/**
 * Bearer-token authentication of the HTTP API. One token per orchestrator, written by
 * `gangway up` to `.gangway/token` (mode 0600).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiErrorBody } from '../errors.js';

/** The exact body of every 401 answer. */
export const UNAUTHORIZED_BODY: ApiErrorBody = {
  error: { code: 'unauthorized', message: 'missing or invalid API token', hint: 'the CLI reads it from .gangway/token' },
};

/** True for the paths that require the token: every /v1 route and the OpenAPI document. */
export function needsToken(url: string): boolean {
  const path = url.split('?', 1)[0];
  return path === '/v1' || path.startsWith('/v1/') || path === '/openapi.json';
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

/** An onRequest hook answering 401 for protected paths without the right token. */
export function authHook(token: string) {
  const check = tokenChecker(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (!needsToken(request.url)) return undefined;
    if (check(request.headers.authorization)) return undefined;
    // Returning the reply tells Fastify the hook answered and the handler must not run.
    return reply.code(401).header('www-authenticate', 'Bearer realm="gangway"').send(UNAUTHORIZED_BODY);
  };
}
