/**
 * Replicas: several `gangway up` processes on one PostgreSQL store. Each registers itself in
 * the store with the fingerprint of its config and its version, and keeps a heartbeat there.
 * A replica whose config differs from a live replica's is refused at start, naming the keys
 * that differ: two orchestrators with different gates or strategies would each apply their own
 * to the deployments they happen to drive.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { GangwayConfig } from '../config/types.js';
import { GangwayError } from '../errors.js';
import type { ReplicaRecord, Store } from '../store/types.js';
import { isDeadLocalOwner } from '../engine/lease.js';

/** Keys that may differ between replicas: each one's own address, state folder and way to the database. */
const PER_REPLICA = new Set(['server.host', 'server.port', 'stateDir', 'store']);

/** A replica whose heartbeat is older than this is gone (three missed heartbeats at the lease's pace). */
export const REPLICA_TTL_MS = 15_000;

/**
 * The config's fingerprint: sha256 of the parsed file's canonical JSON (keys sorted), and one
 * per second-level key (`services.web`, `environments.prod`) so that a mismatch names what
 * differs. Built from the file as written — secrets are referenced there by variable name,
 * never by value — without the keys that are each replica's own.
 */
export function configFingerprint(config: Pick<GangwayConfig, 'file'>, text = readFileSync(config.file, 'utf8')): { hash: string; keys: Record<string, string> } {
  const doc = (parse(text) ?? {}) as Record<string, unknown>;
  const keys: Record<string, string> = {};
  for (const [top, value] of Object.entries(doc)) {
    if (PER_REPLICA.has(top)) continue;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [second, inner] of Object.entries(value as Record<string, unknown>)) {
        const key = `${top}.${second}`;
        if (!PER_REPLICA.has(key)) keys[key] = sha256(canonical(inner));
      }
      if (Object.keys(value as object).length === 0) keys[top] = sha256('{}');
    } else {
      keys[top] = sha256(canonical(value));
    }
  }
  const sorted = Object.fromEntries(Object.entries(keys).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { hash: sha256(canonical(sorted)), keys: sorted };
}

/** The keys whose values differ between two fingerprints (present in one only, or hashed differently). */
export function differingKeys(a: Record<string, string>, b: Record<string, string>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}

/**
 * Refuses to join replicas that run a different config or another Gangway version; otherwise
 * registers this replica. Registrations without a heartbeat for a day, and those of processes
 * on this machine that no longer exist, are removed.
 */
export async function joinReplicas(store: Store, me: ReplicaRecord): Promise<void> {
  const now = me.heartbeatAt;
  const others = (await store.listReplicas()).filter((r) => r.id !== me.id);
  // Gone: no heartbeat for a day, or run on this machine by a process that no longer exists (killed).
  const gone = others.filter((r) => now - r.heartbeatAt > 86_400_000 || isDeadLocalOwner(r.id, me.id));
  for (const r of gone) await store.removeReplica(r.id);
  const live = others.filter((r) => !gone.includes(r) && now - r.heartbeatAt <= REPLICA_TTL_MS);
  const otherVersion = live.find((r) => r.version !== me.version);
  if (otherVersion) {
    throw new GangwayError('conflict', `the replica at ${otherVersion.url} runs Gangway ${otherVersion.version}; this is Gangway ${me.version}`,
      'run every replica on one store at the same version: stop the others and start them again with the same Gangway; nothing was changed',
      { replica: otherVersion.url, version: otherVersion.version });
  }
  const otherConfig = live.find((r) => r.configHash !== me.configHash);
  if (otherConfig) {
    const keys = differingKeys(me.configKeys, otherConfig.configKeys);
    throw new GangwayError('conflict', `this config differs from the one the replica at ${otherConfig.url} runs, at ${keys.join(', ')}`,
      'give every replica the same gangway.yaml (only server.host, server.port, stateDir and store may differ); to change it, stop every replica, then start them with the new file; nothing was changed',
      { replica: otherConfig.url, keys });
  }
  await store.registerReplica(me);
}

function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
