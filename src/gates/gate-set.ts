/**
 * The gates of one orchestrator, evaluated together in a fixed order, minus those an expedited
 * (hotfix) deployment may skip under its environment's policy.
 */
import type { GangwayConfig, GateName } from '../config/types.js';
import type { Gate, GateRequest, GateResult } from './types.js';

/** Order of evaluation and display: cheap, decisive gates first. */
export const GATE_ORDER: GateName[] = ['promotion', 'rejected', 'reason', 'freeze', 'window', 'image', 'signature', 'checks', 'approvals', 'checklist'];

export class GateSet {
  private readonly gates: Gate[];

  constructor(private readonly config: GangwayConfig, gates: Gate[]) {
    this.gates = [...gates].sort((a, b) => GATE_ORDER.indexOf(a.name) - GATE_ORDER.indexOf(b.name));
  }

  /** Names of the gates that apply to the environment, in order (including configured ones nobody can check). */
  names(environment: string): GateName[] {
    const names = new Set(this.gates.filter((g) => g.applies(this.config, environment)).map((g) => g.name));
    for (const n of this.unchecked(environment)) names.add(n);
    return GATE_ORDER.filter((n) => names.has(n));
  }

  /** Gates the environment's config asks for that no registered gate implements. */
  private unchecked(environment: string): GateName[] {
    const env = this.config.environments.find((e) => e.name === environment);
    if (!env) return [];
    const declared: GateName[] = [];
    if (env.promotion) declared.push('promotion');
    if (env.reason === 'required') declared.push('reason');
    if (env.windows.length > 0) declared.push('window');
    if (env.approvals) declared.push('approvals');
    if (env.checks.length > 0) declared.push('checks');
    if (env.checklist.length > 0) declared.push('checklist');
    if (env.image?.exists) declared.push('image');
    if (env.image?.signature) declared.push('signature');
    const have = new Set(this.gates.map((g) => g.name));
    return declared.filter((n) => !have.has(n));
  }

  /** Evaluates every applicable gate; an expedited request skips the gates its environment's policy names. */
  async evaluate(req: GateRequest): Promise<{ results: GateResult[]; skipped: GateName[] }> {
    const env = this.config.environments.find((e) => e.name === req.environment);
    const skip = new Set<GateName>(req.expedited ? env?.expedited?.skip ?? [] : []);
    const results: GateResult[] = [];
    const skipped: GateName[] = [];
    // A gate the config asks for but nothing here can check blocks, rather than passing silently.
    for (const name of this.unchecked(req.environment)) {
      if (skip.has(name)) { skipped.push(name); continue; }
      results.push({ gate: name, result: 'fail', reason: `${req.environment} requires the ${name} gate, which this orchestrator cannot check`,
        hint: `remove it from environments.${req.environment} in gangway.yaml, or run an orchestrator that checks it`, evidence: {} });
    }
    for (const gate of this.gates) {
      if (!gate.applies(this.config, req.environment)) continue;
      // The freeze gate handles expedited requests itself: overriding a freeze needs a second person.
      if (skip.has(gate.name) && gate.name !== 'freeze') {
        skipped.push(gate.name);
        continue;
      }
      results.push(await gate.evaluate(req));
    }
    return { results, skipped };
  }
}

/**
 * Which results refuse a request outright (nothing is written): any fail; a closed window
 * unless the caller asked to wait for it; a freeze unless the request is expedited (an
 * override then waits for a second person). Approvals and checklist items are waited for.
 */
export function refusing(results: GateResult[], opts: { waitForWindow: boolean; expedited: boolean }): GateResult[] {
  return results.filter((r) => r.result === 'fail'
    || (r.result === 'wait' && r.gate === 'window' && !opts.waitForWindow)
    || (r.result === 'wait' && r.gate === 'freeze' && !opts.expedited));
}

/** One line per result, for messages. */
export function describeResults(results: GateResult[]): string {
  return results.map((r) => `${r.gate}: ${r.reason}`).join('; ');
}
