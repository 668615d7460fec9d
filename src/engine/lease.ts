/**
 * Lease owners are `<host>:<pid>:<nonce>`. On one machine a runner can tell that an owner's
 * process is gone and take its deployments at once instead of waiting for the lease to
 * expire — that is what makes a restarted `gangway up` resume within a tick.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

export function newOwnerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/** True when the owner ran on this host in a process that no longer exists . */
export function isDeadLocalOwner(owner: string, self: string): boolean {
  if (owner === self) return false;
  const parts = owner.split(':');
  if (parts.length < 3) return false;
  const nonce = parts.pop();
  const pid = Number(parts.pop());
  const host = parts.join(':');
  if (host !== hostname() || !Number.isInteger(pid) || !nonce) return false;
  return !isAlive(pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
