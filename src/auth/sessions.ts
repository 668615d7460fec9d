/**
 * Dashboard sessions: an opaque random id in an HttpOnly, SameSite=Strict cookie; the store
 * keeps only its sha256. Each session has a CSRF token, derived from the id, that unsafe
 * requests authenticated by the cookie must echo in `x-csrf-token`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SessionRecord } from '../store/types.js';
import { secretHash } from './tokens.js';

/** Name of the session cookie. */
export const SESSION_COOKIE = 'gangway_session';

/** A session lasts this long from sign-in (12 h), however active. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/** Header that carries the CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';

/**
 * A new session for `userName` (signed in with the API token `tokenId`, if any): the record
 * to store and the id to put in the cookie.
 */
export function newSession(opts: { userName: string; tokenId: string | null; now: number }): { record: SessionRecord; id: string } {
  const id = randomBytes(32).toString('base64url');
  return { id, record: { idHash: secretHash(id), userName: opts.userName, tokenId: opts.tokenId, createdAt: opts.now, expiresAt: opts.now + SESSION_TTL_MS } };
}

/**
 * The CSRF token of a session. Derived from the session id rather than stored: only whoever
 * holds the cookie value can know it, and there is nothing more in the database to leak.
 */
export function csrfTokenOf(sessionId: string): string {
  return createHash('sha256').update('gangway-csrf\0').update(sessionId).digest('base64url');
}

/** Compares a presented CSRF token with the session's in constant time. */
export function csrfMatches(sessionId: string, presented: unknown): boolean {
  if (typeof presented !== 'string') return false;
  const expected = Buffer.from(csrfTokenOf(sessionId));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The session id in a Cookie header, if any. */
export function sessionIdFrom(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{1,128}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/** `Set-Cookie` value that stores a session id. */
export function sessionCookie(id: string, opts: { secure?: boolean } = {}): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${opts.secure ? '; Secure' : ''}`;
}

/** `Set-Cookie` value that clears the session cookie. */
export function clearedSessionCookie(opts: { secure?: boolean } = {}): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${opts.secure ? '; Secure' : ''}`;
}
