/**
 * The freeze gate: no deployment starts while a freeze (manual, or raised by an incident
 * alert) covers its environment and service. An expedited (hotfix) deployment may override a
 * freeze when the environment's expedited policy lists `freeze`, and only with a reason and a
 * second person's approval.
 */
import type { GangwayConfig } from '../config/types.js';
import type { ApprovalRecord, FreezeRecord, Store } from '../store/types.js';
import { environmentOf, groupsOf, isExpired } from './approval.js';
import type { Gate, GateRequest, GateResult } from './types.js';

/** Whether `freeze` blocks deployments of `service` to `environment` (a null scope covers everything). */
export function freezeCovers(freeze: FreezeRecord, environment: string, service: string): boolean {
  return (freeze.environment === null || freeze.environment === environment) && (freeze.service === null || freeze.service === service);
}

/** What a freeze covers, for people: `prod/web`, `prod (every service)`, `web (every environment)`, `everything`. */
export function freezeScope(freeze: Pick<FreezeRecord, 'environment' | 'service'>): string {
  if (freeze.environment && freeze.service) return `${freeze.environment}/${freeze.service}`;
  if (freeze.environment) return `${freeze.environment} (every service)`;
  if (freeze.service) return `${freeze.service} (every environment)`;
  return 'everything';
}

/** An epoch-milliseconds time as ISO 8601 UTC to the second. */
export function isoSecond(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One freeze in a sentence: `frozen by ana: db migration (since 2025-01-01T12:00:00Z)`. */
export function describeFreeze(freeze: FreezeRecord): string {
  return `frozen by ${freeze.owner}: ${freeze.reason} (since ${isoSecond(freeze.createdAt)})`;
}

/**
 * Who may approve the freeze override of an expedited deployment to `environment`: members of
 * the environment's approval groups, or of any configured group when it has none. Null when
 * the environment's expedited policy does not list `freeze` (no override possible).
 */
export function freezeOverridePolicy(config: GangwayConfig, environment: string): { groups: string[]; expiresMs: number | null } | null {
  const env = environmentOf(config, environment);
  if (!env?.expedited?.skip.includes('freeze')) return null;
  return { groups: env.approvals ? [...env.approvals.groups] : Object.keys(config.groups), expiresMs: env.approvals?.expiresMs ?? null };
}

/**
 * What to do about a deployment a freeze refused, naming only what works there: lifting the
 * freeze, and `--expedited` only where the environment's expedited policy skips the freeze
 * (elsewhere, the key to configure for it).
 *
 * @example
 * freezeHint(config, 'prod', ['f-12']) // 'wait for the freeze to lift, or lift it: gangway unfreeze f-12; …'
 */
export function freezeHint(config: GangwayConfig, environment: string, freezeIds: readonly string[]): string {
  const lift = `wait for the freeze to lift, or lift it: ${freezeIds.length > 0 ? freezeIds.map((id) => `gangway unfreeze ${id}`).join(', ') : 'gangway freezes lists it'}`;
  if (freezeOverridePolicy(config, environment)) return `${lift}; or ship a hotfix through it: deploy with --expedited --reason "<incident>" and a second person's approval`;
  return `${lift}; ${environment} lets no deployment through a freeze (to allow hotfixes, add freeze to environments.${environment}.expedited.skip in gangway.yaml)`;
}

/** The approvals that let an expedited deployment override a freeze: by someone other than the requester, in an allowed group, not expired. */
export function overrideApprovals(
  records: readonly ApprovalRecord[],
  policy: { groups: readonly string[]; expiresMs: number | null },
  ctx: { config: GangwayConfig; requester: string; now: number },
): ApprovalRecord[] {
  return records.filter((r) => r.decision === 'approve' && r.actor !== ctx.requester
    && groupsOf(ctx.config, r.actor, policy.groups).length > 0 && !isExpired(r.at, ctx.now, policy.expiresMs));
}

/**
 * `freeze`: waits (until a person lifts the freeze, or its alert resolves) while an active
 * freeze covers the deployment.
 *
 * @example
 * const gate = new FreezeGate(config, store);
 * await gate.evaluate(request) // { result: 'wait', until: null, reason: 'frozen by ana: db migration (since 2025-01-01T12:00:00Z)', … }
 */
export class FreezeGate implements Gate {
  readonly name = 'freeze' as const;
  constructor(private readonly config: GangwayConfig, private readonly store: Store) {}

  /** Freezes need no configuration: anyone may raise one, so the gate always applies. */
  applies(): boolean {
    return true;
  }

  async evaluate(req: GateRequest): Promise<GateResult> {
    const covering = (await this.store.listFreezes()).filter((f) => freezeCovers(f, req.environment, req.service));
    if (covering.length === 0) {
      return { gate: this.name, result: 'pass', reason: `no freeze covers ${req.service} in ${req.environment}`, evidence: { freezes: [] } };
    }
    const frozen = covering.map(describeFreeze).join('; ');
    const freezes = covering.map((f) => ({ id: f.id, scope: freezeScope(f), owner: f.owner, reason: f.reason, source: f.source, since: f.createdAt }));
    const policy = req.expedited ? freezeOverridePolicy(this.config, req.environment) : null;
    if (!policy) return { gate: this.name, result: 'wait', until: null, reason: frozen, evidence: { freezes } };

    const reason = req.reason?.trim() ?? '';
    if (!reason) {
      return {
        gate: this.name, result: 'wait', until: null,
        reason: `${frozen}; override needs a reason, and this expedited deployment has none: wait for the freeze to lift, or deploy again with --reason`,
        evidence: { freezes, override: { reason: null, approvedBy: [] } },
      };
    }
    const records = req.deploymentId === null ? [] : await this.store.listApprovals(req.deploymentId);
    const approvals = overrideApprovals(records, policy, { config: this.config, requester: req.actor, now: req.now });
    if (approvals.length === 0) {
      return {
        gate: this.name, result: 'wait', until: null,
        reason: `${frozen}; override needs a second person's approval: gangway approve ${req.deploymentId ?? '<deployment>'}`,
        evidence: { freezes, override: { reason, approvedBy: [], groups: policy.groups } },
      };
    }
    const approvedBy = approvals.map((a) => a.actor);
    return {
      gate: this.name, result: 'pass',
      reason: `freeze overridden (expedited: ${reason}; approved by ${approvedBy.join(', ')}): ${frozen}`,
      evidence: { freezes, override: { reason, approvedBy, groups: policy.groups } },
    };
  }
}
