/**
 * Release colours by role, so one release reads the same on every page and chart: the stable
 * release blue, the canary amber. Plain TypeScript (no JSX), so tests can import it.
 */

/**
 * One colour per role, the same on every page: the stable release (the environment's rollback
 * target) blue, the canary (the release being rolled out, or the one a rollback removes) amber,
 * any other release grey.
 */
export const ROLE_COLORS = { stable: '#2563eb', canary: '#d97706', other: '#6b7280' } as const;
export type ReleaseRole = keyof typeof ROLE_COLORS;
/** A release's colour by its name. */
export type Palette = (name: string) => string;

/** A palette from release roles (releases without a role are `other`). */
export function rolePalette(roles: Record<string, ReleaseRole>): Palette {
  return (name) => ROLE_COLORS[roles[name] ?? 'other'];
}

/**
 * The roles of a deployment's releases: a deploy's new release is the canary and the release it
 * replaces the stable one; a rollback's target is the stable release and the one it removes the canary.
 */
export function deploymentRoles(d: { kind: string; version: string; previousVersion: string | null }): Record<string, ReleaseRole> {
  const roles: Record<string, ReleaseRole> = {};
  if (d.kind === 'rollback') {
    if (d.previousVersion) roles[d.previousVersion] = 'canary';
    roles[d.version] = 'stable';
  } else {
    roles[d.version] = 'canary';
    if (d.previousVersion) roles[d.previousVersion] = 'stable';
  }
  return roles;
}

/** The roles in an environment now: its stable release, and any other release receiving traffic is a canary. */
export function environmentRoles(stable: string | null, versions: string[]): Record<string, ReleaseRole> {
  const roles: Record<string, ReleaseRole> = {};
  for (const v of versions) roles[v] = v === stable ? 'stable' : 'canary';
  if (stable) roles[stable] = 'stable';
  return roles;
}
