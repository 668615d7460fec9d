/**
 * What the signed-in user's role allows, so the dashboard shows only the buttons that can
 * work. The server enforces the same rules; this only spares people a button that would 403.
 */
import type { Role, SessionUser } from './api.js';

const RANK: Record<Role, number> = { viewer: 0, deployer: 1, approver: 2, admin: 3 };

/** The user's role in `environment`: the higher of its role there and its global (`*`) role; null: none. */
export function roleIn(user: SessionUser, environment: string): Role | null {
  const here = user.roles[environment];
  const global = user.roles['*'];
  const known = [here, global].filter((r): r is Role => r !== undefined && r in RANK);
  if (known.length === 0) return null;
  return known.reduce((a, b) => (RANK[a] >= RANK[b] ? a : b));
}

/** Whether `user` holds at least `needed` in `environment`. */
export function can(user: SessionUser, environment: string, needed: Role): boolean {
  const role = roleIn(user, environment);
  return role !== null && RANK[role] >= RANK[needed];
}

/** An action on a deployment and the role it needs (contract: deployer acts, approver decides). */
export type DeploymentAction = 'promote' | 'abort' | 'rollback' | 'approve' | 'reject';

export const ACTION_ROLE: Record<DeploymentAction, Role> = {
  promote: 'deployer', abort: 'deployer', rollback: 'deployer', approve: 'approver', reject: 'approver',
};

const ACTIVE = ['waiting', 'running', 'paused', 'rolling_back'];

/**
 * The actions that make sense for a deployment in `phase` and that `user` may take, in button
 * order: approve/reject while it waits, promote while paused, abort while active, rollback of a
 * deploy that replaced an earlier release, while it runs or once it succeeded.
 */
export function allowedActions(
  user: SessionUser, d: { environment: string; phase: string; kind: string; previousVersion: string | null }, awaitingApproval: boolean,
): DeploymentAction[] {
  const fits: DeploymentAction[] = [];
  if (d.phase === 'waiting' && awaitingApproval) fits.push('approve', 'reject');
  if (d.phase === 'paused') fits.push('promote');
  if (ACTIVE.includes(d.phase) && d.phase !== 'rolling_back') fits.push('abort');
  // Without an earlier stable release there is nothing to roll back to.
  if (d.kind === 'deploy' && d.previousVersion !== null && ['running', 'paused', 'succeeded'].includes(d.phase)) fits.push('rollback');
  return fits.filter((a) => can(user, d.environment, ACTION_ROLE[a]));
}
