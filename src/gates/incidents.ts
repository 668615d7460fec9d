/**
 * Incident freezes from Alertmanager: a firing alert that carries the configured label
 * (`incidents: { label, value }`) freezes the environment and service its `environment` /
 * `service` labels name (everything when absent); the freeze lifts when the alert resolves.
 * Alertmanager posts its webhook payload (version 4) to POST /v1/webhooks/alertmanager.
 */
import { z } from 'zod';
import type { GangwayConfig } from '../config/types.js';
import { GangwayError } from '../errors.js';
import type { FreezeRecord, NewEvent, Store } from '../store/types.js';

/** Who owns, and lifts, the freezes raised by alerts. */
export const ALERTMANAGER_OWNER = 'alertmanager';

const labelMap = z.record(z.string(), z.string());

/** One alert of the webhook payload (only the fields Gangway reads; others are ignored). */
export const alertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: labelMap,
  annotations: labelMap.default({}),
  startsAt: z.string(),
  endsAt: z.string().optional(),
  fingerprint: z.string().min(1, { error: 'must not be empty' }).max(128, { error: 'must be at most 128 characters' }),
});

/** Alertmanager's webhook payload, version 4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). */
export const alertmanagerPayloadSchema = z.object({
  version: z.literal('4', { error: (iss) => `Gangway reads Alertmanager webhook payloads of version 4, got ${JSON.stringify(iss.input)}` }).optional(),
  status: z.enum(['firing', 'resolved']),
  alerts: z.array(alertSchema).max(10_000),
});

export type AlertmanagerAlert = z.output<typeof alertSchema>;
export type AlertmanagerPayload = z.output<typeof alertmanagerPayloadSchema>;

/**
 * Validates a webhook body; throws `invalid_argument` naming every field at fault
 * (`alerts.0.fingerprint: is required`).
 */
export function parseAlertmanagerPayload(input: unknown): AlertmanagerPayload {
  const result = alertmanagerPayloadSchema.safeParse(input, {
    error: (iss) => {
      if (iss.input === undefined && (iss.code === 'invalid_type' || iss.code === 'invalid_value')) return 'is required';
      if (iss.code === 'invalid_type') return `must be ${iss.expected === 'object' ? 'a JSON object' : /^[aeiou]/.test(iss.expected) ? `an ${iss.expected}` : `a ${iss.expected}`}`;
      if (iss.code === 'invalid_value') return `must be ${iss.values.map(String).join(' or ')}`;
      return undefined;
    },
  });
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => ({ field: i.path.map(String).join('.') || 'body', message: i.message }));
  throw new GangwayError('invalid_argument', `alertmanager webhook: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
    'point an Alertmanager webhook_config at this URL; it sends payloads of version 4', { where: 'body', problems });
}

/** What one webhook delivery changed. */
export interface IncidentChanges {
  /** Freezes raised by firing incident alerts. */
  created: FreezeRecord[];
  /** Freezes lifted because their alert resolved. */
  lifted: FreezeRecord[];
  /** Fingerprints of incident alerts that changed nothing (already frozen, already lifted, lifted by hand). */
  unchanged: string[];
  /** Fingerprints of alerts without the incident label. */
  ignored: string[];
  /** Problems worth a look: a label naming an environment or service gangway.yaml does not define. */
  warnings: string[];
}

/** Whether `alert` is an incident under `incidents` (null: no alert is). */
export function isIncident(alert: AlertmanagerAlert, incidents: GangwayConfig['incidents']): boolean {
  return incidents !== null && alert.labels[incidents.label] === incidents.value;
}

/** The scope an incident alert freezes: its `environment` / `service` labels, null (everything) when absent or empty. */
export function incidentScope(alert: AlertmanagerAlert): { environment: string | null; service: string | null } {
  return { environment: alert.labels.environment || null, service: alert.labels.service || null };
}

/** The freeze reason of an incident alert: its summary annotation, else its alert name. */
export function incidentReason(alert: AlertmanagerAlert): string {
  return alert.annotations.summary || alert.labels.alertname || `alert ${alert.fingerprint}`;
}

/**
 * Applies one webhook delivery to the store: one freeze per firing incident alert
 * (fingerprint), lifted when that alert resolves. Idempotent: Alertmanager re-sends firing
 * alerts every `repeat_interval` and after restarts, so a fingerprint with an active freeze
 * changes nothing, and neither does one whose freeze a person lifted while this same firing
 * (same `startsAt`) lasts — lifting an incident freeze by hand holds until the alert resolves.
 * Callers serialise deliveries (see PeopleGates), so two cannot race within one process; across
 * replicas the store's unique index on active alert freezes keeps one.
 */
export async function applyAlertmanager(
  store: Store, config: GangwayConfig, payload: AlertmanagerPayload, opts: { now: number; newId: () => string },
): Promise<IncidentChanges> {
  const changes: IncidentChanges = { created: [], lifted: [], unchanged: [], ignored: [], warnings: [] };
  for (const alert of payload.alerts) {
    if (!isIncident(alert, config.incidents)) {
      changes.ignored.push(alert.fingerprint);
      continue;
    }
    const known = await store.listFreezes({ all: true, alertFingerprint: alert.fingerprint });
    const active = known.filter((f) => f.liftedAt === null);
    if (alert.status === 'resolved') {
      if (active.length === 0) changes.unchanged.push(alert.fingerprint);
      for (const f of active) {
        const lifted = await store.liftFreeze(f.id, ALERTMANAGER_OWNER, opts.now);
        if (lifted) changes.lifted.push(lifted);
      }
      continue;
    }
    const startsAt = Date.parse(alert.startsAt);
    const liftedByHand = known.some((f) => f.liftedAt !== null && f.liftedBy !== ALERTMANAGER_OWNER && Number.isFinite(startsAt) && f.createdAt >= startsAt);
    if (active.length > 0 || liftedByHand) {
      changes.unchanged.push(alert.fingerprint);
      continue;
    }
    const scope = incidentScope(alert);
    if (scope.environment !== null && !config.environments.some((e) => e.name === scope.environment)) {
      changes.warnings.push(`alert ${alert.fingerprint} names environment "${scope.environment}", which gangway.yaml does not define: its freeze blocks nothing`);
    }
    if (scope.service !== null && !config.serviceNames.includes(scope.service)) {
      changes.warnings.push(`alert ${alert.fingerprint} names service "${scope.service}", which gangway.yaml does not define: its freeze blocks nothing`);
    }
    const freeze: FreezeRecord = {
      id: opts.newId(), ...scope, owner: ALERTMANAGER_OWNER, reason: incidentReason(alert), source: 'alert',
      alertFingerprint: alert.fingerprint, createdAt: opts.now, liftedAt: null, liftedBy: null,
    };
    // Another replica may have applied the same delivery first: the database keeps one active freeze per alert.
    if (!(await store.createFreeze(freeze))) {
      changes.unchanged.push(alert.fingerprint);
      continue;
    }
    changes.created.push(freeze);
  }
  const events: NewEvent[] = [
    ...changes.created.map((f) => ({ deploymentId: null, at: opts.now, type: 'freeze.created', data: { ...f } })),
    ...changes.lifted.map((f) => ({ deploymentId: null, at: opts.now, type: 'freeze.lifted', data: { ...f } })),
  ];
  if (events.length > 0) await store.appendEvents(events);
  return changes;
}
