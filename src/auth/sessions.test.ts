import { describe, expect, it } from 'vitest';
import { csrfMatches, csrfTokenOf, newSession, sessionCookie, sessionIdFrom, SESSION_TTL_MS } from './sessions.js';
import { newApiToken, secretHash, tokenRefusal } from './tokens.js';

describe('sessions', () => {
  it('store only the hash of the id, last 12 hours, and carry a CSRF token derived from the id', () => {
    const { id, record } = newSession({ userName: 'ana', tokenId: null, now: 1000 });
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(record).toEqual({ idHash: secretHash(id), userName: 'ana', tokenId: null, createdAt: 1000, expiresAt: 1000 + SESSION_TTL_MS });
    expect(csrfMatches(id, csrfTokenOf(id))).toBe(true);
    expect(csrfMatches(id, csrfTokenOf(`${id}x`))).toBe(false);
    expect(csrfMatches(id, undefined)).toBe(false);
  });

  it('read the session id from the Cookie header', () => {
    expect(sessionIdFrom('theme=dark; gangway_session=abc_DEF-1; other=1')).toBe('abc_DEF-1');
    expect(sessionIdFrom('gangway_session=bad value')).toBeUndefined();
    expect(sessionIdFrom(undefined)).toBeUndefined();
    expect(sessionCookie('abc')).toBe('gangway_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200');
    expect(sessionCookie('abc', { secure: true })).toBe('gangway_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure');
  });
});

describe('API tokens', () => {
  it('are 32 random bytes, stored as their sha256, refused when revoked or expired', () => {
    const { secret, record } = newApiToken({ owner: 'ana', name: 'ci', now: 10, expiresAt: 100 });
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(record.hash).toBe(secretHash(secret));
    expect(tokenRefusal(record, 99)).toBeUndefined();
    expect(tokenRefusal(record, 100)).toBe('token expired');
    expect(tokenRefusal({ ...record, revokedAt: 50 }, 60)).toBe('token revoked');
  });
});
