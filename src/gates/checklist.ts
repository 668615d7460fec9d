/**
 * The checklist gate: manual items of the runbook ("backup taken", "on-call notified") that a
 * named person, or a member of a named group, confirms for each deployment with
 * `gangway confirm <deployment> <item>`.
 */
import type { ChecklistItem, GangwayConfig } from '../config/types.js';
import type { ChecklistConfirmation, Store } from '../store/types.js';
import { environmentOf, sentenceList } from './approval.js';
import type { Gate, GateRequest, GateResult } from './types.js';

/**
 * Whether `actor` may confirm `item`: a confirmer names them, or names a group of
 * `config.groups` that lists them. A confirmer that is both a person's name and a group's
 * name admits both.
 */
export function mayConfirm(config: GangwayConfig, item: ChecklistItem, actor: string): boolean {
  return item.confirmers.some((c) => c === actor || (config.groups[c] ?? []).includes(actor));
}

/** Who may confirm `item`, for people: `ana or members of dba`. */
export function describeConfirmers(config: GangwayConfig, item: ChecklistItem): string {
  const people = item.confirmers.filter((c) => !(c in config.groups));
  const groups = item.confirmers.filter((c) => c in config.groups);
  const parts = [...people];
  if (groups.length > 0) parts.push(`members of ${sentenceList(groups, 'or')}`);
  return sentenceList(parts, 'or');
}

/**
 * `checklist`: passes once every item of the environment's checklist is confirmed for the
 * deployment by someone allowed to confirm it; waits listing the missing items otherwise.
 *
 * @example
 * const gate = new ChecklistGate(config, store);
 * await gate.evaluate(request) // { result: 'wait', until: null, reason: 'waiting for checklist items: backup, oncall (gangway confirm d-1 <item>)', … }
 */
export class ChecklistGate implements Gate {
  readonly name = 'checklist' as const;
  constructor(private readonly config: GangwayConfig, private readonly store: Store) {}

  applies(config: GangwayConfig, environment: string): boolean {
    return (environmentOf(config, environment)?.checklist.length ?? 0) > 0;
  }

  async evaluate(req: GateRequest): Promise<GateResult> {
    const items = environmentOf(this.config, req.environment)?.checklist ?? [];
    const confirmations = req.deploymentId === null ? [] : await this.store.listChecklist(req.deploymentId);
    const confirmed: Array<ChecklistConfirmation & { text: string }> = [];
    const missing: Array<{ item: string; text: string; confirmers: string[] }> = [];
    for (const item of items) {
      const c = confirmations.find((x) => x.item === item.name);
      // A confirmation by someone no longer allowed (the config changed) does not count.
      if (c && mayConfirm(this.config, item, c.actor)) confirmed.push({ ...c, text: item.text });
      else missing.push({ item: item.name, text: item.text, confirmers: item.confirmers });
    }
    const evidence = {
      confirmed: confirmed.map((c) => ({ item: c.item, text: c.text, actor: c.actor, at: c.at, note: c.note })),
      missing,
    };
    if (missing.length === 0) {
      return {
        gate: this.name, result: 'pass',
        reason: `checklist confirmed: ${confirmed.map((c) => `${c.item} by ${c.actor}`).join(', ')}`,
        evidence,
      };
    }
    return {
      gate: this.name, result: 'wait', until: null,
      reason: `waiting for checklist item${missing.length === 1 ? '' : 's'}: ${missing.map((m) => m.item).join(', ')} (gangway confirm ${req.deploymentId ?? '<deployment>'} <item>)`,
      evidence,
    };
  }
}
