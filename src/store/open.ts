/**
 * Opens the store a config asks for.
 */
import type { GangwayConfig } from '../config/types.js';
import { openPostgresStore } from './postgres/postgres-store.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

/**
 * Opens the configured store and applies pending migrations. A relative SQLite path is
 * resolved against the current directory; its folder is created when missing. Closes the
 * store again when migrating fails.
 *
 * @example
 * ```ts
 * const store = await openStore({ kind: 'sqlite', path: '.gangway/state.db' });
 * ```
 */
export async function openStore(cfg: GangwayConfig['store']): Promise<Store> {
  const store = cfg.kind === 'sqlite' ? openSqliteStore(cfg.path) : openPostgresStore(cfg.url);
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}
