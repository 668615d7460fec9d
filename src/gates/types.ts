/**
 * The gate port: checks a deployment must pass before it starts. Each evaluation returns
 * pass, fail or wait (with when to look again), a reason and the evidence behind it — all
 * recorded with the deployment. Expected outcomes are data: a gate never throws for "closed",
 * "not approved" or "registry down"; it answers fail or wait with the reason.
 */
import type { GangwayConfig, GateName } from '../config/types.js';

export type { GateName };

export type GateResult =
  | { gate: GateName; result: 'pass'; reason: string; evidence: Record<string, unknown> }
  /** Cannot pass by waiting: the request is refused (or, for a waiting deployment, it fails). */
  | { gate: GateName; result: 'fail'; reason: string; hint?: string; evidence: Record<string, unknown> }
  /** May pass later: `until` is when to look again (a window opening), or null (a person must act). */
  | { gate: GateName; result: 'wait'; until: number | null; reason: string; evidence: Record<string, unknown> };

/** What a gate is asked about. */
export interface GateRequest {
  service: string;
  environment: string;
  version: string;
  /** The image as requested (tag kept for display), or null. */
  image: string | null;
  actor: string;
  reason: string | null;
  expedited: boolean;
  /** Null while the request is being validated (before the deployment exists). */
  deploymentId: string | null;
  now: number;
}

/**
 * One kind of gate.
 *
 * @example
 * const r = await windowGate.evaluate(request);
 * if (r.result === 'wait') console.log(`opens at ${new Date(r.until!).toISOString()}`);
 */
export interface Gate {
  readonly name: GateName;
  /** Whether the environment configures this gate at all (unconfigured gates are not listed). */
  applies(config: GangwayConfig, environment: string): boolean;
  /** Evaluates the gate now. Never throws for expected outcomes. Idempotent. */
  evaluate(req: GateRequest): Promise<GateResult>;
}
