/**
 * What a release group does next, decided from stored state alone: the group row and the
 * deployments carrying its id. A pure function, so the group driver is a flat loop of
 * idempotent actions — a driver killed at any point and started again (or another replica)
 * reads the same state and picks up where it was.
 */
import type { DeploymentRecord, ReleaseGroupMember, ReleaseGroupPhase, ReleaseGroupRecord } from '../store/types.js';
import { FINAL_PHASES } from '../store/types.js';

/** One thing the driver does; each is safe to repeat (the store refuses a second time). */
export type GroupAction =
  /** Move the group to another phase and append its event. */
  | { type: 'phase'; from: ReleaseGroupPhase; to: ReleaseGroupPhase; event: string; message: string | null }
  /** Let the runner start a held member: every service it depends on has succeeded. */
  | { type: 'release'; service: string; deploymentId: string }
  /** End a held member without starting it: another member did not succeed. */
  | { type: 'block'; service: string; deploymentId: string; because: string }
  /** Ask an active member to stop and roll itself back (policy `rollback`). */
  | { type: 'abort'; service: string; deploymentId: string; because: string }
  /** Roll a shipped member back to the release it replaced (policy `rollback`). */
  | { type: 'roll-back'; service: string; member: DeploymentRecord; rollbackId: string };

/** The id of the rollback deployment of a group member: derived, so creating it twice is refused by the store. */
export function rollbackIdOf(memberDeploymentId: string): string {
  return `${memberDeploymentId}-rb`;
}

/** A member's phase: `succeeded` for a service that already ran its release (nothing to deploy). */
export function memberPhase(m: ReleaseGroupMember, byId: ReadonlyMap<string, DeploymentRecord>): DeploymentRecord['phase'] {
  if (m.deploymentId === null) return 'succeeded';
  return byId.get(m.deploymentId)?.phase ?? 'queued';
}

const isFinal = (phase: DeploymentRecord['phase']) => FINAL_PHASES.includes(phase);

/** How a member the group ended without starting it begins its message (see {@link blockedMessage}). */
const BLOCKED = 'not started: ';

/** The message of a member the group ends without starting it, because `because` (e.g. `api failed`). */
export function blockedMessage(because: string, groupId: string): string {
  return `${BLOCKED}${because} in release ${groupId}`;
}

/** Ended by its group before it started (not a failure of its own). */
function isBlocked(d: DeploymentRecord | undefined): boolean {
  return d !== undefined && d.phase === 'aborted' && d.startedAt === null && (d.message ?? '').startsWith(BLOCKED);
}

/**
 * Services ordered so that each comes after the services it depends on; dependencies outside
 * `services` are left out (they are not part of the group). Ties keep the given order. The
 * config refuses cycles, so every service is placed.
 *
 * @example
 * ```ts
 * dependencyOrder(['web', 'api', 'db'], (s) => ({ web: ['api'], api: ['db'] })[s] ?? []); // ['db', 'api', 'web']
 * ```
 */
export function dependencyOrder(services: readonly string[], deps: (s: string) => readonly string[]): string[] {
  const inGroup = new Set(services);
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (s: string) => {
    if (seen.has(s)) return;
    seen.add(s);
    for (const d of deps(s)) if (inGroup.has(d)) visit(d);
    out.push(s);
  };
  for (const s of services) visit(s);
  return out;
}

/** The members that depend on `service`, directly or through other members. */
function dependentsOf(service: string, members: readonly ReleaseGroupMember[]): Set<string> {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const m of members) {
      if (out.has(m.service)) continue;
      if (m.dependsOn.some((d) => d === service || out.has(d))) { out.add(m.service); grew = true; }
    }
  }
  return out;
}

/**
 * The actions that move group `g` forward, given every deployment carrying its id. Empty:
 * nothing to do until a member moves on.
 */
export function nextActions(g: ReleaseGroupRecord, deployments: readonly DeploymentRecord[]): GroupAction[] {
  const byId = new Map(deployments.map((d) => [d.id, d]));
  const phase = (m: ReleaseGroupMember) => memberPhase(m, byId);
  switch (g.phase) {
    case 'queued':
      return [{ type: 'phase', from: 'queued', to: 'running', event: 'group.started', message: null }];
    case 'running': {
      const failed = g.members.filter((m) => isFinal(phase(m)) && phase(m) !== 'succeeded' && !isBlocked(byId.get(m.deploymentId ?? '')));
      if (failed.length === 0) {
        if (g.members.every((m) => phase(m) === 'succeeded')) {
          return [{ type: 'phase', from: 'running', to: 'succeeded', event: 'group.succeeded', message: null }];
        }
        const done = new Set(g.members.filter((m) => phase(m) === 'succeeded').map((m) => m.service));
        return g.members.flatMap((m): GroupAction[] => {
          const d = m.deploymentId ? byId.get(m.deploymentId) : undefined;
          if (!d || !d.groupHeld || d.phase !== 'queued' || !m.dependsOn.every((s) => done.has(s))) return [];
          return [{ type: 'release', service: m.service, deploymentId: d.id }];
        });
      }
      const first = failed[0];
      const because = `${first.service} ${phase(first).replace('_', ' ')}`;
      const actions: GroupAction[] = [];
      for (const m of g.members) {
        const d = m.deploymentId ? byId.get(m.deploymentId) : undefined;
        if (!d || isFinal(d.phase)) continue;
        if (d.phase === 'queued' && d.groupHeld) actions.push({ type: 'block', service: m.service, deploymentId: d.id, because });
        else if (g.onFailure === 'rollback' && !d.abortRequested) actions.push({ type: 'abort', service: m.service, deploymentId: d.id, because });
      }
      if (actions.length > 0) return actions;
      // Members already running finish first (policy stop) or roll themselves back (rollback).
      if (!g.members.every((m) => isFinal(phase(m)))) return [];
      const failure = failed.map((m) => `${m.service} ${phase(m).replace('_', ' ')}${byId.get(m.deploymentId ?? '')?.message ? ` (${byId.get(m.deploymentId ?? '')!.message})` : ''}`).join('; ');
      const blocked = g.members.filter((m) => isBlocked(byId.get(m.deploymentId ?? ''))).map((m) => m.service);
      if (g.onFailure === 'stop') {
        const message = `${failure}${blocked.length > 0 ? `; not started: ${blocked.join(', ')}` : ''}`;
        return [{ type: 'phase', from: 'running', to: 'failed', event: 'group.failed', message }];
      }
      return [{ type: 'phase', from: 'running', to: 'rolling_back', event: 'group.rolling_back', message: failure }];
    }
    case 'rolling_back': {
      // Shipped: members that succeeded in this group and replaced an earlier release.
      const shipped = g.members.filter((m) => {
        const d = m.deploymentId ? byId.get(m.deploymentId) : undefined;
        return d?.phase === 'succeeded' && d.previousVersion !== null && d.previousVersion !== d.version;
      });
      const stuck = g.members.filter((m) => {
        const d = m.deploymentId ? byId.get(m.deploymentId) : undefined;
        return d?.phase === 'succeeded' && (d.previousVersion === null || d.previousVersion === d.version);
      });
      const actions: GroupAction[] = [];
      let pending = false;
      for (const m of [...shipped].reverse()) {
        const member = byId.get(m.deploymentId!)!;
        const rb = byId.get(rollbackIdOf(member.id));
        if (rb) { if (!isFinal(rb.phase)) pending = true; continue; }
        pending = true;
        // Reverse dependency order: a service goes back only after everything that depends on it went back.
        const waitFor = [...dependentsOf(m.service, g.members)].filter((s) => shipped.some((x) => x.service === s));
        const ready = waitFor.every((s) => {
          const other = byId.get(rollbackIdOf(shipped.find((x) => x.service === s)!.deploymentId!));
          return other !== undefined && isFinal(other.phase);
        });
        if (ready) actions.push({ type: 'roll-back', service: m.service, member, rollbackId: rollbackIdOf(member.id) });
      }
      if (actions.length > 0 || pending) return actions;
      const bad = shipped.filter((m) => byId.get(rollbackIdOf(m.deploymentId!))!.phase !== 'succeeded');
      const prefix = g.message ? `${g.message}; ` : '';
      if (bad.length > 0 || stuck.length > 0) {
        const parts = [
          ...bad.map((m) => `the rollback of ${m.service} ended ${byId.get(rollbackIdOf(m.deploymentId!))!.phase.replace('_', ' ')}`),
          ...stuck.map((m) => `${m.service} has no earlier release to go back to`),
        ];
        return [{ type: 'phase', from: 'rolling_back', to: 'failed', event: 'group.failed', message: `${prefix}${parts.join('; ')}` }];
      }
      const back = shipped.map((m) => m.service);
      return [{
        type: 'phase', from: 'rolling_back', to: 'rolled_back', event: 'group.rolled_back',
        message: `${prefix}${back.length > 0 ? `rolled back ${[...back].reverse().join(', ')}` : 'nothing had shipped'}`,
      }];
    }
    default:
      return [];
  }
}
