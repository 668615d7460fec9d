/**
 * Health assessment of the FAKE Argo CD, after gitops-engine `pkg/health` (health.go,
 * health_deployment.go, health_replicaset.go, health_pod.go, health_service.go,
 * health_job.go, health_ingress.go) and Argo CD's `controller/health.go`:
 *
 * - a resource being deleted is Progressing `Pending deletion`;
 * - Deployment: paused → Suspended; observedGeneration behind → Progressing; the Progressing
 *   condition's reason ProgressDeadlineExceeded → Degraded `Deployment "x" exceeded its
 *   progress deadline`; fewer updated / old pending / fewer available → Progressing with
 *   upstream's `Waiting for rollout to finish: …` messages; otherwise Healthy;
 * - ReplicaSet, Pod, Service / Ingress (load balancer address), Job as upstream;
 * - kinds without a built-in check (ConfigMap, Secret, …) have no health and do not count;
 * - the app's health is the worst of its resources' (Healthy < Suspended < Progressing <
 *   Missing < Degraded < Unknown), a missing resource counting as Missing only when its kind
 *   has a health check; no resources → Healthy.
 *
 * Not modelled: StatefulSet, DaemonSet, HPA, PVC, APIService checks; Lua customisations
 * (a test stands in for one with `stayDegraded`).
 */
import type { HealthStatus, HealthStatusCode, Obj } from './types.js';
import { isObj } from './types.js';

const ORDER: HealthStatusCode[] = ['Healthy', 'Suspended', 'Progressing', 'Missing', 'Degraded', 'Unknown'];

/** upstream `health.IsWorse`. */
export function isWorse(current: HealthStatusCode, next: HealthStatusCode): boolean {
  return ORDER.indexOf(next) > ORDER.indexOf(current);
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);

function condition(status: Obj, type: string): Obj | undefined {
  return list(status.conditions).find((c) => c.type === type);
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
}

/** Whether gitops-engine has a built-in health check for the kind (`GetHealthCheckFunc`). */
export function hasHealthCheck(apiVersion: string, kind: string): boolean {
  const g = groupOf(apiVersion);
  if (g === 'apps' || g === 'extensions') return ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Ingress'].includes(kind);
  if (g === '') return ['Service', 'PersistentVolumeClaim', 'Pod'].includes(kind);
  if (g === 'networking.k8s.io') return kind === 'Ingress';
  if (g === 'batch') return kind === 'Job';
  if (g === 'autoscaling') return kind === 'HorizontalPodAutoscaler';
  if (g === 'apiregistration.k8s.io') return kind === 'APIService';
  return false;
}

function deploymentHealth(d: Obj): HealthStatus {
  const spec = obj(d.spec);
  const status = obj(d.status);
  const name = String(obj(d.metadata).name ?? '');
  if (spec.paused === true) return { status: 'Suspended', message: 'Deployment is paused' };
  if (num(obj(d.metadata).generation) > num(status.observedGeneration)) {
    return { status: 'Progressing', message: 'Waiting for rollout to finish: observed deployment generation less then desired generation' };
  }
  const cond = condition(status, 'Progressing');
  if (cond?.reason === 'ProgressDeadlineExceeded') return { status: 'Degraded', message: `Deployment "${name}" exceeded its progress deadline` };
  const replicas = typeof spec.replicas === 'number' ? spec.replicas : undefined;
  const updated = num(status.updatedReplicas);
  if (replicas !== undefined && updated < replicas) {
    return { status: 'Progressing', message: `Waiting for rollout to finish: ${updated} out of ${replicas} new replicas have been updated...` };
  }
  if (num(status.replicas) > updated) {
    return { status: 'Progressing', message: `Waiting for rollout to finish: ${num(status.replicas) - updated} old replicas are pending termination...` };
  }
  if (num(status.availableReplicas) < updated) {
    return { status: 'Progressing', message: `Waiting for rollout to finish: ${num(status.availableReplicas)} of ${updated} updated replicas are available...` };
  }
  return { status: 'Healthy' };
}

function replicaSetHealth(rs: Obj): HealthStatus {
  const spec = obj(rs.spec);
  const status = obj(rs.status);
  if (num(obj(rs.metadata).generation) > num(status.observedGeneration)) {
    return { status: 'Progressing', message: 'Waiting for rollout to finish: observed replica set generation less then desired generation' };
  }
  const cond = condition(status, 'ReplicaFailure');
  if (cond?.status === 'True') return { status: 'Degraded', message: String(cond.message ?? '') };
  if (typeof spec.replicas === 'number' && num(status.availableReplicas) < spec.replicas) {
    return { status: 'Progressing', message: `Waiting for rollout to finish: ${num(status.availableReplicas)} out of ${spec.replicas} new replicas are available...` };
  }
  return { status: 'Healthy' };
}

function withMessage(status: HealthStatusCode, message: unknown): HealthStatus {
  return typeof message === 'string' && message !== '' ? { status, message } : { status };
}

function podHealth(pod: Obj): HealthStatus {
  const spec = obj(pod.spec);
  const status = obj(pod.status);
  const restart = String(spec.restartPolicy ?? 'Always');
  const statuses = list(status.containerStatuses);
  if (restart === 'Always') {
    const messages: string[] = [];
    for (const cs of statuses) {
      const waiting = obj(obj(cs.state).waiting);
      const reason = String(waiting.reason ?? '');
      if (reason && (reason.startsWith('Err') || reason.endsWith('Error') || reason.endsWith('BackOff'))) messages.push(String(waiting.message ?? ''));
    }
    if (messages.length > 0) return { status: 'Degraded', message: messages.join(', ') };
  }
  switch (status.phase) {
    case 'Pending': return withMessage('Progressing', status.message);
    case 'Succeeded': return withMessage('Healthy', status.message);
    case 'Failed': {
      if (typeof status.message === 'string' && status.message) return { status: 'Degraded', message: status.message };
      for (const cs of [...list(status.initContainerStatuses), ...statuses]) {
        const t = obj(obj(cs.state).terminated);
        if (typeof t.message === 'string' && t.message) return { status: 'Degraded', message: t.message };
        if (t.reason === 'OOMKilled') return { status: 'Degraded', message: 'OOMKilled' };
        if (num(t.exitCode) !== 0) return { status: 'Degraded', message: `container "${String(cs.name)}" failed with exit code ${num(t.exitCode)}` };
      }
      return { status: 'Degraded' };
    }
    case 'Running': {
      if (restart !== 'Always') return withMessage('Progressing', status.message);
      const ready = list(status.conditions).some((c) => c.type === 'Ready' && c.status === 'True');
      if (ready) return withMessage('Healthy', status.message);
      if (statuses.some((cs) => isObj(obj(cs.lastState).terminated))) return withMessage('Degraded', status.message);
      return withMessage('Progressing', status.message);
    }
    default: return withMessage('Unknown', status.message);
  }
}

function loadBalancerHealth(o: Obj, requireAddress: boolean): HealthStatus {
  if (!requireAddress) return { status: 'Healthy' };
  const ingress = list(obj(obj(obj(o.status).loadBalancer)).ingress);
  return { status: ingress.length > 0 ? 'Healthy' : 'Progressing' };
}

function jobHealth(job: Obj): HealthStatus {
  let failed = false;
  let complete = false;
  let suspended = false;
  let message = '';
  let failMessage = '';
  for (const c of list(obj(job.status).conditions)) {
    if (c.type === 'Failed') { failed = true; complete = true; failMessage = String(c.message ?? ''); }
    else if (c.type === 'Complete') { complete = true; message = String(c.message ?? ''); }
    else if (c.type === 'Suspended') { complete = true; message = String(c.message ?? ''); if (c.status === 'True') suspended = true; }
  }
  if (!complete) return withMessage('Progressing', message);
  if (failed) return withMessage('Degraded', failMessage);
  if (suspended) return withMessage('Suspended', failMessage);
  return withMessage('Healthy', message);
}

/** gitops-engine `GetResourceHealth`: the health of a live object, or undefined for kinds without a check. */
export function resourceHealth(live: Obj): HealthStatus | undefined {
  if (obj(live.metadata).deletionTimestamp) return { status: 'Progressing', message: 'Pending deletion' };
  const apiVersion = String(live.apiVersion ?? '');
  const kind = String(live.kind ?? '');
  if (!hasHealthCheck(apiVersion, kind)) return undefined;
  switch (kind) {
    case 'Deployment': return deploymentHealth(live);
    case 'ReplicaSet': return replicaSetHealth(live);
    case 'Pod': return podHealth(live);
    case 'Service': return loadBalancerHealth(live, obj(live.spec).type === 'LoadBalancer');
    case 'Ingress': return loadBalancerHealth(live, true);
    case 'Job': return jobHealth(live);
    default: return undefined;
  }
}

/** One resource for the app's health: its target (kind) and live object, if any. */
export interface HealthInput { apiVersion: string; kind: string; live: Obj | undefined; override?: HealthStatus }

/** Argo CD `setApplicationHealth`: per-resource health (index-aligned) and the app's. */
export function applicationHealth(resources: HealthInput[]): { app: HealthStatus; perResource: Array<HealthStatus | undefined> } {
  let app: HealthStatusCode = 'Healthy';
  const perResource = resources.map((r): HealthStatus | undefined => {
    let h: HealthStatus | undefined;
    if (!r.live) h = { status: 'Missing' };
    else h = r.override ?? resourceHealth(r.live);
    if (!h) return undefined;
    // A missing resource of a kind without a health check does not affect the app.
    if (h.status === 'Missing' && !r.override && !hasHealthCheck(r.apiVersion, r.kind)) return h;
    if (isWorse(app, h.status)) app = h.status;
    return h;
  });
  return { app: { status: app }, perResource };
}
