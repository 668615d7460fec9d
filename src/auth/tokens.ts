/**
 * API tokens: 32 random bytes, base64url, shown once when created. Only the sha256 of a token
 * is stored, so a copy of the database does not let anyone act with it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ApiTokenRecord } from '../store/types.js';

/** sha256 of a secret (token or session id), lowercase hex: what the store keeps. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * A new token for `owner`: the record to store and the secret to show once.
 *
 * @example
 * const { record, secret } = newApiToken({ owner: 'ana', name: 'ci', now: Date.now() });
 * await store.createApiToken(record);
 */
export function newApiToken(opts: { owner: string; name: string; now: number; expiresAt?: number | null }): { record: ApiTokenRecord; secret: string } {
  const secret = randomBytes(32).toString('base64url');
  return {
    secret,
    record: {
      id: `tok_${randomBytes(6).toString('hex')}`, name: opts.name, owner: opts.owner, hash: secretHash(secret),
      createdAt: opts.now, lastUsedAt: null, expiresAt: opts.expiresAt ?? null, revokedAt: null,
    },
  };
}

/** Why a stored token cannot be used now, or undefined when it can. */
export function tokenRefusal(token: ApiTokenRecord, now: number): 'token revoked' | 'token expired' | undefined {
  if (token.revokedAt !== null) return 'token revoked';
  if (token.expiresAt !== null && token.expiresAt <= now) return 'token expired';
  return undefined;
}

/** A token as lists show it: everything but the hash. */
export type ApiTokenView = Omit<ApiTokenRecord, 'hash'>;

/** Drops the hash from a token record. */
export function tokenView(t: ApiTokenRecord): ApiTokenView {
  const { hash: _hash, ...view } = t;
  return view;
}

/** Last-use times are written at most this often per token, so reads do not turn into writes. */
export const TOUCH_INTERVAL_MS = 60_000;
