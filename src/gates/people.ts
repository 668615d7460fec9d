/**
 * What people do to the gates: approve or reject a deployment, confirm checklist items,
 * raise and lift freezes — and what Alertmanager does (incident freezes). Every method checks
 * the request completely before it writes anything, and records an event for the audit trail.
 *
 * Identity: until Gangway has users and tokens, the actor is the name the client asserts
 * (`x-gangway-actor`; the CLI sends GANGWAY_ACTOR or the login name). Group checks are only
 * as strong as that assertion; see docs/gates/people.md.
 */
import { randomUUID } from 'node:crypto';
import { didYouMean } from '../config/problems.js';
import type { EnvironmentConfig, GangwayConfig } from '../config/types.js';
import { GangwayError, NotFoundError } from '../errors.js';
import type { ApprovalRecord, ChecklistConfirmation, DeploymentRecord, FreezeRecord, NewEvent, Store } from '../store/types.js';
import { FINAL_PHASES } from '../store/types.js';
import { environmentOf, groupsOf, sentenceList } from './approval.js';
import { describeConfirmers, mayConfirm } from './checklist.js';
import { freezeOverridePolicy, isoSecond } from './freeze.js';
import type { IncidentChanges } from './incidents.js';
import { applyAlertmanager, parseAlertmanagerPayload } from './incidents.js';

/** Options of {@link PeopleGates}. */
export interface PeopleGatesOptions {
  store: Store;
  config: GangwayConfig;
  /** Time source; tests pass a fake clock. Default Date.now. */
  clock?: { now(): number };
}

/** Longest comment, note or freeze reason kept. */
const MAX_TEXT = 2000;

function text(value: string | undefined, field: string): string | null {
  const t = value?.trim() ?? '';
  if (t.length > MAX_TEXT) throw new GangwayError('invalid_argument', `${field}: must be at most ${MAX_TEXT} characters`);
  return t === '' ? null : t;
}

function checkActor(actor: string): void {
  if (actor.trim() === '') throw new GangwayError('invalid_argument', 'actor: must name a person', 'set GANGWAY_ACTOR or send x-gangway-actor');
}

/**
 * The people-facing side of the approvals, freeze and checklist gates.
 *
 * @example
 * const people = new PeopleGates({ store, config });
 * await people.approve('d-1', 'bob', 'looks good');      // ApprovalRecord[] of d-1
 * await people.freeze({ environment: 'prod', owner: 'ana', reason: 'db migration' });
 */
export class PeopleGates {
  readonly store: Store;
  readonly config: GangwayConfig;
  private readonly clock: { now(): number };
  /** Webhook deliveries are applied one at a time, so one alert cannot raise two freezes. */
  private incidentQueue: Promise<unknown> = Promise.resolve();

  constructor(opts: PeopleGatesOptions) {
    this.store = opts.store;
    this.config = opts.config;
    this.clock = opts.clock ?? { now: () => Date.now() };
  }

  /**
   * Approves a deployment for its environment's approvals gate (or, for an expedited
   * deployment, as the second person a freeze override needs). Replaces the actor's earlier
   * decision. Returns every decision recorded on the deployment.
   * Throws `not_found`, `conflict` (ended; no approvals here), `forbidden` (not in an approval
   * group; the requester when self-approval is off).
   */
  approve(deploymentId: string, actor: string, comment?: string): Promise<ApprovalRecord[]> {
    return this.decide(deploymentId, actor, 'approve', comment);
  }

  /**
   * Rejects a deployment: its approvals gate fails. Only members of the environment's approval
   * groups may reject (the requester too: withdrawing one's own request is never a risk).
   */
  reject(deploymentId: string, actor: string, comment?: string): Promise<ApprovalRecord[]> {
    return this.decide(deploymentId, actor, 'reject', comment);
  }

  /** Every decision recorded on a deployment. Throws `not_found`. */
  async approvals(deploymentId: string): Promise<ApprovalRecord[]> {
    await this.deployment(deploymentId);
    return this.store.listApprovals(deploymentId);
  }

  /**
   * Confirms one checklist item for a deployment. The item must be in the environment's
   * checklist and the actor one of its confirmers (by name or group). Returns every
   * confirmation of the deployment.
   */
  async confirm(deploymentId: string, item: string, actor: string, note?: string): Promise<ChecklistConfirmation[]> {
    checkActor(actor);
    const n = text(note, 'note');
    const d = await this.activeDeployment(deploymentId);
    const env = this.environment(d);
    if (env.checklist.length === 0) {
      throw new GangwayError('conflict', `${env.name} has no checklist`, `checklist items are configured under environments.${env.name}.checklist`);
    }
    const entry = env.checklist.find((i) => i.name === item);
    if (!entry) {
      const names = env.checklist.map((i) => i.name);
      const guess = didYouMean(item, names);
      throw new NotFoundError(`checklist item "${item}" is not in ${env.name}'s checklist`, guess ? `did you mean ${guess}?` : `items: ${names.join(', ')}`);
    }
    if (!mayConfirm(this.config, entry, actor)) {
      throw new GangwayError('forbidden', `${actor} cannot confirm ${entry.name} in ${env.name}: only ${describeConfirmers(this.config, entry)} may`);
    }
    const at = this.clock.now();
    await this.store.confirmChecklist({ deploymentId, item: entry.name, actor, at, note: n });
    await this.store.appendEvents([{ deploymentId, at, type: 'checklist.confirmed', data: { item: entry.name, actor, note: n } }]);
    return this.store.listChecklist(deploymentId);
  }

  /** Confirmations recorded on a deployment. Throws `not_found`. */
  async checklist(deploymentId: string): Promise<ChecklistConfirmation[]> {
    await this.deployment(deploymentId);
    return this.store.listChecklist(deploymentId);
  }

  /**
   * Raises a manual freeze on an environment and/or service (both absent: everything).
   * Throws `not_found` for a name gangway.yaml does not define, `invalid_argument` without a reason.
   */
  async freeze(req: { environment?: string; service?: string; owner: string; reason: string }): Promise<FreezeRecord> {
    checkActor(req.owner);
    const reason = text(req.reason, 'reason');
    if (reason === null) throw new GangwayError('invalid_argument', 'reason: a freeze needs a reason', 'say why, e.g. --reason "incident 4711: payments degraded"');
    const environment = req.environment ?? null;
    const service = req.service ?? null;
    if (environment !== null && !environmentOf(this.config, environment)) {
      const names = this.config.environments.map((e) => e.name);
      const guess = didYouMean(environment, names);
      throw new NotFoundError(`environment "${environment}" is not defined in gangway.yaml`, guess ? `did you mean ${guess}?` : `environments: ${names.join(', ')}`);
    }
    if (service !== null && !this.config.serviceNames.includes(service)) {
      const guess = didYouMean(service, this.config.serviceNames);
      throw new NotFoundError(`service "${service}" is not defined in gangway.yaml`, guess ? `did you mean ${guess}?` : `services: ${this.config.serviceNames.join(', ')}`);
    }
    const now = this.clock.now();
    const freeze: FreezeRecord = {
      id: newFreezeId(now), environment, service, owner: req.owner, reason, source: 'manual',
      alertFingerprint: null, createdAt: now, liftedAt: null, liftedBy: null,
    };
    await this.store.createFreeze(freeze);
    await this.store.appendEvents([{ deploymentId: null, at: now, type: 'freeze.created', data: { ...freeze } }]);
    return freeze;
  }

  /**
   * Lifts a freeze (manual or raised by an alert). Throws `not_found` for an unknown id and
   * `conflict` for one already lifted. Anyone may lift: a freeze is a shared stop sign, and
   * who lifted it is recorded.
   */
  async unfreeze(id: string, actor: string): Promise<FreezeRecord> {
    checkActor(actor);
    const existing = (await this.store.listFreezes({ all: true })).find((f) => f.id === id);
    if (!existing) throw new NotFoundError(`freeze ${id} not found`, 'list active freezes with `gangway freezes`');
    if (existing.liftedAt !== null) {
      throw new GangwayError('conflict', `freeze ${id} was already lifted by ${existing.liftedBy} at ${isoSecond(existing.liftedAt)}`);
    }
    const now = this.clock.now();
    const lifted = await this.store.liftFreeze(id, actor, now);
    if (!lifted) throw new NotFoundError(`freeze ${id} not found`, 'list active freezes with `gangway freezes`');
    await this.store.appendEvents([{ deploymentId: null, at: now, type: 'freeze.lifted', data: { ...lifted } }]);
    return lifted;
  }

  /** Active freezes, oldest first; every freeze ever raised with `all`. */
  freezes(opts: { all?: boolean } = {}): Promise<FreezeRecord[]> {
    return this.store.listFreezes({ all: opts.all === true });
  }

  /**
   * Applies an Alertmanager webhook delivery (payload version 4): firing incident alerts raise
   * freezes, resolved ones lift them. Throws `invalid_argument` for a malformed payload
   * (nothing applied). Deliveries run one at a time.
   */
  handleAlertmanager(payload: unknown): Promise<IncidentChanges> {
    const parsed = parseAlertmanagerPayload(payload);
    const run = this.incidentQueue.then(() => {
      const now = this.clock.now();
      return applyAlertmanager(this.store, this.config, parsed, { now, newId: () => newFreezeId(now) });
    });
    this.incidentQueue = run.catch(() => undefined);
    return run;
  }

  private async decide(deploymentId: string, actor: string, decision: ApprovalRecord['decision'], comment?: string): Promise<ApprovalRecord[]> {
    checkActor(actor);
    const c = text(comment, 'comment');
    const d = await this.activeDeployment(deploymentId);
    const env = this.environment(d);
    const override = d.expedited ? freezeOverridePolicy(this.config, env.name) : null;
    let groups: string[];
    let purpose: string;
    let selfAllowed: boolean;
    if (env.approvals) {
      groups = env.approvals.groups;
      purpose = `approve ${env.name} deployments`;
      selfAllowed = env.approvals.allowSelfApproval;
    } else if (override && decision === 'approve') {
      // No approvals gate here, but the freeze override of this expedited deployment needs a second person.
      groups = override.groups;
      purpose = `may approve a freeze override in ${env.name}`;
      selfAllowed = false;
    } else {
      throw new GangwayError('conflict', `${env.name} does not require approvals`, `approvals are configured under environments.${env.name}.approvals`);
    }
    if (groups.length === 0) {
      throw new GangwayError('forbidden', `${actor} cannot approve: gangway.yaml defines no groups, so nobody ${purpose.replace(/^may /, 'can ')}`, 'define groups and their members under groups');
    }
    const memberOf = groupsOf(this.config, actor, groups);
    if (memberOf.length === 0) {
      const which = groups.length === 1 ? `the group that ${purpose.replace(/^approve /, 'approves ')}` : `the groups that ${purpose}`;
      throw new GangwayError('forbidden', `${actor} is not in ${sentenceList(groups, 'or')}, ${which}`);
    }
    if (decision === 'approve' && actor === d.actor && !selfAllowed) {
      throw new GangwayError('forbidden', `${actor} requested this deployment and cannot approve it`, 'ask someone else in the group to approve it');
    }
    const at = this.clock.now();
    await this.store.recordApproval({ deploymentId, actor, decision, groups: memberOf, comment: c, at });
    const event: NewEvent = { deploymentId, at, type: decision === 'approve' ? 'deployment.approved' : 'deployment.rejected', data: { actor, groups: memberOf, comment: c } };
    await this.store.appendEvents([event]);
    return this.store.listApprovals(deploymentId);
  }

  private async deployment(id: string): Promise<DeploymentRecord> {
    const d = await this.store.getDeployment(id);
    if (!d) throw new NotFoundError(`deployment ${id} not found`, 'list deployments with `gangway history`');
    return d;
  }

  private async activeDeployment(id: string): Promise<DeploymentRecord> {
    const d = await this.deployment(id);
    if (FINAL_PHASES.includes(d.phase)) throw new GangwayError('conflict', `deployment ${id} already ended (${d.phase})`);
    return d;
  }

  private environment(d: DeploymentRecord): EnvironmentConfig {
    const env = environmentOf(this.config, d.environment);
    if (!env) throw new GangwayError('conflict', `environment ${d.environment} of deployment ${d.id} is no longer defined in gangway.yaml`);
    return env;
  }
}

function newFreezeId(now: number): string {
  return `f-${now.toString(36)}-${randomUUID().slice(0, 8)}`;
}
