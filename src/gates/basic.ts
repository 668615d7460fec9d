/**
 * The gates that need only the store: promotion source, required reason, rejected release.
 */
import type { GangwayConfig } from '../config/types.js';
import type { Store } from '../store/types.js';
import type { Gate, GateRequest, GateResult } from './types.js';

/** The release must have succeeded in the environment this one is promoted from, and not have been rejected there. */
export class PromotionGate implements Gate {
  readonly name = 'promotion' as const;
  constructor(private readonly config: GangwayConfig, private readonly store: Store) {}

  applies(config: GangwayConfig, environment: string): boolean {
    return Boolean(config.environments.find((e) => e.name === environment)?.promotion);
  }

  async evaluate(req: GateRequest): Promise<GateResult> {
    const from = this.config.environments.find((e) => e.name === req.environment)?.promotion?.from;
    if (!from) return { gate: this.name, result: 'pass', reason: 'no promotion source', evidence: {} };
    const [rejected] = await this.store.listRejections({ service: req.service, environment: from, version: req.version });
    if (rejected) {
      return {
        gate: this.name, result: 'fail',
        reason: `${req.service} ${req.version} was rejected in ${from} (${rejected.reason}); ${req.environment} only takes releases promoted from ${from}`,
        hint: `ship a fixed release through ${from}`, evidence: { from, rejectedBy: rejected.deploymentId },
      };
    }
    const succeeded = await this.succeededIn(req.service, from, req.version);
    if (!succeeded) {
      const path = await this.pathTo(req.service, from, req.version);
      const then = path.length > 1 ? `, then to ${path.slice(1).join(', then to ')}` : '';
      return {
        gate: this.name, result: 'fail',
        reason: `${req.service} ${req.version} has not succeeded in ${from}; ${req.environment} only takes releases promoted from ${from}`,
        hint: `deploy it to ${path[0]} first: gangway deploy ${req.service} --env ${path[0]} --version ${req.version}${then}`, evidence: { from },
      };
    }
    return { gate: this.name, result: 'pass', reason: `succeeded in ${from} (${succeeded.id})`, evidence: { from, deployment: succeeded.id, finishedAt: succeeded.finishedAt } };
  }

  private async succeededIn(service: string, environment: string, version: string) {
    return (await this.store.listDeployments({ service, environment, phases: ['succeeded'], newestFirst: true })).find((d) => d.version === version);
  }

  /**
   * The environments the release still has to pass through to reach `to`, first one first:
   * back along the promotion chain to the first whose own source already has it (or that
   * has no source), so the hint names a deployment that would not be blocked itself.
   */
  private async pathTo(service: string, to: string, version: string): Promise<string[]> {
    const path = [to];
    for (;;) {
      const source = this.config.environments.find((e) => e.name === path[0])?.promotion?.from;
      if (!source || path.includes(source) || await this.succeededIn(service, source, version)) return path;
      path.unshift(source);
    }
  }
}

/** Environments with `reason: required` take no deployment without one (a change ticket). */
export class ReasonGate implements Gate {
  readonly name = 'reason' as const;
  constructor(private readonly config: GangwayConfig) {}

  applies(config: GangwayConfig, environment: string): boolean {
    return config.environments.find((e) => e.name === environment)?.reason === 'required';
  }

  async evaluate(req: GateRequest): Promise<GateResult> {
    if (req.reason && req.reason.trim()) return { gate: this.name, result: 'pass', reason: `reason given: ${req.reason}`, evidence: { reason: req.reason } };
    return { gate: this.name, result: 'fail', reason: `${req.environment} requires a reason for every deployment`, hint: 'add --reason "<change ticket or why>"', evidence: {} };
  }
}

/** A release that failed analysis in this environment needs an explicit retry. */
export class RejectedGate implements Gate {
  readonly name = 'rejected' as const;
  constructor(private readonly store: Store) {}

  applies(): boolean {
    return true;
  }

  async evaluate(req: GateRequest): Promise<GateResult> {
    const [rejected] = await this.store.listRejections({ service: req.service, environment: req.environment, version: req.version });
    if (!rejected) return { gate: this.name, result: 'pass', reason: 'not rejected here', evidence: {} };
    // `gangway retry` is the explicit override; it is recorded on the rejected deployment before the retry exists.
    const override = req.deploymentId === null ? undefined : (await this.store.listEvents({ deploymentId: rejected.deploymentId }))
      .find((e) => e.type === 'release.override' && e.data.retry === req.deploymentId);
    if (override) {
      return {
        gate: this.name, result: 'pass', reason: `rejected in ${req.environment} (${rejected.reason}); overridden by ${String(override.data.actor)}`,
        evidence: { rejectedBy: rejected.deploymentId, overriddenBy: override.data.actor },
      };
    }
    return {
      gate: this.name, result: 'fail', reason: `${req.service} ${req.version} was rejected in ${req.environment}: ${rejected.reason}`,
      hint: `to deploy it anyway, retry that deployment: gangway retry ${rejected.deploymentId}`, evidence: { deploymentId: rejected.deploymentId },
    };
  }
}
