/**
 * Users, API tokens and sessions in the store, against each adapter (SQLite and a real
 * PostgreSQL), as the shared store suite does.
 */
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { startPostgresOrSkip } from '../../test/support/postgres.js';
import { GangwayError } from '../errors.js';
import { openStore } from './open.js';
import type { Store } from './types.js';

const postgres = await startPostgresOrSkip('PostgreSQL auth store tests');
afterAll(async () => { await postgres?.stop(); });

const DIALECTS = [
  { name: 'sqlite', open: async () => openStore({ kind: 'sqlite', path: ':memory:' }), available: true },
  { name: 'postgres', open: async () => openStore({ kind: 'postgres', url: await postgres!.createDatabase() }), available: postgres !== undefined },
];

for (const dialect of DIALECTS) {
  describe.skipIf(!dialect.available)(`auth store (${dialect.name})`, () => {
    async function store(): Promise<Store> {
      const s = await dialect.open();
      onTestFinished(() => s.close());
      return s;
    }

    it('keeps users with their roles; a taken name is a conflict', async () => {
      const s = await store();
      await s.createUser({ name: 'zoe', roles: { '*': 'viewer' }, passwordHash: null, createdAt: 2 });
      await s.createUser({ name: 'ana', roles: { dev: 'deployer', prod: 'viewer' }, passwordHash: 'scrypt$x', createdAt: 1 });
      expect(await s.getUser('ana')).toEqual({ name: 'ana', roles: { dev: 'deployer', prod: 'viewer' }, passwordHash: 'scrypt$x', createdAt: 1 });
      expect((await s.listUsers()).map((u) => u.name)).toEqual(['ana', 'zoe']);
      const err = await s.createUser({ name: 'ana', roles: {}, passwordHash: null, createdAt: 3 }).catch((e: unknown) => e);
      expect(err instanceof GangwayError ? [err.code, err.message] : err).toEqual(['conflict', 'user ana already exists']);
    });

    it('finds tokens by hash, records use, revokes once; removing the owner revokes its tokens and ends its sessions', async () => {
      const s = await store();
      await s.createUser({ name: 'ana', roles: {}, passwordHash: null, createdAt: 1 });
      const token = { id: 'tok_1', name: 'ci', owner: 'ana', hash: 'h1', createdAt: 10, lastUsedAt: null, expiresAt: null, revokedAt: null };
      await s.createApiToken(token);
      await s.createApiToken({ ...token, id: 'tok_2', hash: 'h2', createdAt: 11 });
      expect(await s.getApiTokenByHash('h1')).toEqual(token);
      await s.touchApiToken('tok_1', 20);
      expect((await s.getApiTokenByHash('h1'))?.lastUsedAt).toBe(20);
      await s.createSession({ idHash: 's1', userName: 'ana', tokenId: 'tok_1', createdAt: 20, expiresAt: 100 });
      await s.createSession({ idHash: 's2', userName: 'ana', tokenId: null, createdAt: 20, expiresAt: 100 });
      expect((await s.revokeApiToken('tok_1', 30))?.revokedAt).toBe(30);
      expect((await s.revokeApiToken('tok_1', 40))?.revokedAt).toBe(30);
      expect(await s.revokeApiToken('tok_404', 40)).toBeUndefined();
      expect(await s.getSession('s1')).toBeUndefined();
      expect(await s.getSession('s2')).toEqual({ idHash: 's2', userName: 'ana', tokenId: null, createdAt: 20, expiresAt: 100 });

      expect(await s.deleteUser('ana', 50)).toBe(true);
      expect(await s.deleteUser('ana', 60)).toBe(false);
      expect((await s.listApiTokens({ owner: 'ana' })).map((t) => [t.id, t.revokedAt])).toEqual([['tok_1', 30], ['tok_2', 50]]);
      expect(await s.getSession('s2')).toBeUndefined();
    });

    it('deletes expired sessions', async () => {
      const s = await store();
      await s.createSession({ idHash: 'old', userName: 'ana', tokenId: null, createdAt: 0, expiresAt: 100 });
      await s.createSession({ idHash: 'new', userName: 'ana', tokenId: null, createdAt: 0, expiresAt: 101 });
      expect(await s.deleteExpiredSessions(100)).toBe(1);
      expect(await s.getSession('new')).not.toBeUndefined();
      await s.deleteSession('new');
      await s.deleteSession('new');
      expect(await s.getSession('new')).toBeUndefined();
    });
  });
}
