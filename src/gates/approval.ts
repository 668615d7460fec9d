/**
 * The approvals gate: N of M approvals from members of the environment's approval groups,
 * counted from the decisions people recorded with `gangway approve` / `gangway reject`.
 * Also the small helpers on groups that the freeze override and the checklist share.
 */
import type { EnvironmentConfig, GangwayConfig } from '../config/types.js';
import type { ApprovalRecord, Store } from '../store/types.js';
import type { Gate, GateRequest, GateResult } from './types.js';

/** The environment named `name`, or undefined. */
export function environmentOf(config: GangwayConfig, name: string): EnvironmentConfig | undefined {
  return config.environments.find((e) => e.name === name);
}

/**
 * The groups among `among` (every configured group when omitted) that list `actor` as a member.
 *
 * @example
 * groupsOf(config, 'bob', ['ops', 'sre']) // ['ops']
 */
export function groupsOf(config: GangwayConfig, actor: string, among?: readonly string[]): string[] {
  const names = among ?? Object.keys(config.groups);
  return names.filter((g) => (config.groups[g] ?? []).includes(actor));
}

/**
 * Names joined for a sentence: `ops`, `ops or sre`, `ops, sre or dba`.
 *
 * @example
 * sentenceList(['ops', 'sre', 'dba'], 'or') // "ops, sre or dba"
 */
export function sentenceList(items: readonly string[], conjunction: 'and' | 'or'): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} ${conjunction} ${items[items.length - 1]}`;
}

/** Whether an approval recorded at `at` still counts at `now` under `expiresMs` (null: never expires). */
export function isExpired(at: number, now: number, expiresMs: number | null): boolean {
  return expiresMs !== null && now - at > expiresMs;
}

/** How the recorded decisions of one deployment count towards its approvals. */
export interface ApprovalTally {
  /** Approvals that count: by a current member of a group, not expired, not by the requester (unless allowed). */
  counted: ApprovalRecord[];
  /** Rejections by current members of a group, oldest first. */
  rejections: ApprovalRecord[];
  /** Approvals that no longer count because they are older than `expiresMs`. */
  expired: ApprovalRecord[];
  /** Decisions that do not count, with why (not in a group any more, the requester's own). */
  ignored: Array<{ actor: string; decision: ApprovalRecord['decision']; why: string }>;
}

/**
 * Sorts a deployment's recorded decisions into those that count and those that do not. The
 * store keeps one decision per person (a later one replaces the earlier), so counting records
 * counts distinct people. Membership is read from the current config: someone removed from a
 * group no longer counts, whatever the record says about the groups they had when deciding.
 */
export function tallyApprovals(
  records: readonly ApprovalRecord[],
  policy: { groups: readonly string[]; allowSelfApproval: boolean; expiresMs: number | null },
  ctx: { config: GangwayConfig; requester: string; now: number },
): ApprovalTally {
  const tally: ApprovalTally = { counted: [], rejections: [], expired: [], ignored: [] };
  for (const r of records) {
    if (groupsOf(ctx.config, r.actor, policy.groups).length === 0) {
      tally.ignored.push({ actor: r.actor, decision: r.decision, why: `not in ${sentenceList(policy.groups, 'or')}` });
    } else if (r.decision === 'reject') {
      tally.rejections.push(r);
    } else if (r.actor === ctx.requester && !policy.allowSelfApproval) {
      tally.ignored.push({ actor: r.actor, decision: r.decision, why: 'requested the deployment' });
    } else if (isExpired(r.at, ctx.now, policy.expiresMs)) {
      tally.expired.push(r);
    } else {
      tally.counted.push(r);
    }
  }
  tally.rejections.sort((a, b) => a.at - b.at);
  return tally;
}

function evidenceOf(r: ApprovalRecord) {
  return { actor: r.actor, groups: r.groups, at: r.at, comment: r.comment };
}

/**
 * `approvals`: waits until `required` distinct members of the approval groups have approved
 * the deployment; fails as soon as one of them rejects it.
 *
 * @example
 * const gate = new ApprovalGate(config, store);
 * await gate.evaluate(request) // { result: 'wait', until: null, reason: '1 of 2 approvals (ops): waiting for another approval', … }
 */
export class ApprovalGate implements Gate {
  readonly name = 'approvals' as const;
  constructor(private readonly config: GangwayConfig, private readonly store: Store) {}

  applies(config: GangwayConfig, environment: string): boolean {
    return Boolean(environmentOf(config, environment)?.approvals);
  }

  async evaluate(req: GateRequest): Promise<GateResult> {
    const policy = environmentOf(this.config, req.environment)?.approvals;
    if (!policy) return { gate: this.name, result: 'pass', reason: `${req.environment} does not require approvals`, evidence: {} };
    const records = req.deploymentId === null ? [] : await this.store.listApprovals(req.deploymentId);
    const tally = tallyApprovals(records, policy, { config: this.config, requester: req.actor, now: req.now });
    const evidence = {
      required: policy.required,
      groups: policy.groups,
      approvers: tally.counted.map(evidenceOf),
      rejections: tally.rejections.map(evidenceOf),
      expired: tally.expired.map(evidenceOf),
      ignored: tally.ignored,
    };
    const [rejection] = tally.rejections;
    if (rejection) {
      return {
        gate: this.name, result: 'fail',
        reason: `rejected by ${rejection.actor}${rejection.comment ? `: ${rejection.comment}` : ''}`,
        hint: 'address the concern, then request a new deployment',
        evidence,
      };
    }
    const have = tally.counted.length;
    const groups = policy.groups.join(', ');
    const plural = policy.required === 1 ? 'approval' : 'approvals';
    if (have >= policy.required) {
      return {
        gate: this.name, result: 'pass',
        reason: `approved by ${sentenceList(tally.counted.map((r) => r.actor), 'and')} (${have} of ${policy.required} ${plural}, ${groups})`,
        evidence,
      };
    }
    const missing = policy.required - have;
    const waitingFor = missing > 1 ? (have === 0 ? `${missing} approvals` : `${missing} more approvals`) : have === 0 ? 'an approval' : 'another approval';
    return {
      gate: this.name, result: 'wait', until: null,
      reason: `${have} of ${policy.required} ${plural} (${groups}): waiting for ${waitingFor}`,
      evidence,
    };
  }
}
