/**
 * The FAKE ReplicaSet controller (after upstream `pkg/controller/replicaset`): keeps as many
 * active pods (not terminal, not being deleted) as `spec.replicas`, creating `<rs>-<5 random>`
 * pods from the template with a controller owner reference, and deleting the least useful
 * first (not ready before ready, pending before running, more restarts first, newer first);
 * writes status.replicas, fullyLabeledReplicas, readyReplicas, availableReplicas (Ready for
 * minReadySeconds) and observedGeneration. Not modelled: adopting orphan pods that match the
 * selector, slow-start batching, pod-deletion-cost.
 */
import { recordEvent } from '../events.js';
import { resolveKind } from '../resources.js';
import { matchesLabels, fromSelectorObject } from '../selectors.js';
import type { Obj } from '../util.js';
import { clone, deepEqual, isObj } from '../util.js';
import type { ControllerContext } from './context.js';
import { conditionOf, controllerRef, controllerUid, metaOf, omitZero, podActive, podAvailable, podReady } from './context.js';

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function restarts(p: Obj): number {
  const cs = isObj(p.status) && Array.isArray(p.status.containerStatuses) ? (p.status.containerStatuses as Obj[]) : [];
  return cs.reduce((n, c) => n + Number(c.restartCount ?? 0), 0);
}

/** Pods ordered most-deletable first (upstream `ActivePods` ranking, simplified). */
export function rankForDeletion(pods: Obj[]): Obj[] {
  return [...pods].sort((a, b) => {
    const pa = PHASE_RANK[String((a.status as Obj | undefined)?.phase ?? 'Pending')] ?? 0;
    const pb = PHASE_RANK[String((b.status as Obj | undefined)?.phase ?? 'Pending')] ?? 0;
    if (pa !== pb) return pa - pb;
    const ra = podReady(a) ? 1 : 0;
    const rb = podReady(b) ? 1 : 0;
    if (ra !== rb) return ra - rb;
    const ca = restarts(a);
    const cb = restarts(b);
    if (ca !== cb) return cb - ca;
    return String(metaOf(b).creationTimestamp).localeCompare(String(metaOf(a).creationTimestamp));
  });
}

/** One pass over every ReplicaSet. */
export function syncReplicaSets(ctx: ControllerContext): void {
  const rsRt = resolveKind('ReplicaSet');
  const podRt = resolveKind('Pod');
  for (const rs of ctx.api.select(rsRt, undefined)) {
    const m = metaOf(rs);
    const ns = String(m.namespace);
    const name = String(m.name);
    const uid = String(m.uid);
    const spec = (rs.spec ?? {}) as Obj;
    const want = Number(spec.replicas ?? 1);
    const owned = (): Obj[] => ctx.api.select(podRt, ns).filter((p) => controllerUid(p) === uid);
    let pods = owned();
    const active = pods.filter(podActive);
    if (!m.deletionTimestamp) {
      const diff = active.length - want;
      if (diff < 0) {
        const template = (spec.template ?? {}) as Obj;
        const tmeta = (template.metadata ?? {}) as Obj;
        for (let i = 0; i < -diff; i++) {
          const pod = ctx.api.create(podRt, ns, {
            metadata: {
              generateName: `${name}-`,
              namespace: ns,
              labels: clone(tmeta.labels ?? {}),
              ...(tmeta.annotations ? { annotations: clone(tmeta.annotations) } : {}),
              ownerReferences: [controllerRef(rs)],
            },
            spec: clone(template.spec ?? {}),
          }, { fieldManager: 'kube-controller-manager', internal: true });
          recordEvent(ctx.api, ctx.events, rs, 'Normal', 'SuccessfulCreate', `Created pod: ${String(metaOf(pod).name)}`, 'replicaset-controller');
        }
      } else if (diff > 0) {
        for (const p of rankForDeletion(active).slice(0, diff)) {
          const pname = String(metaOf(p).name);
          try {
            ctx.api.delete(podRt, ns, pname, {});
            recordEvent(ctx.api, ctx.events, rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pname}`, 'replicaset-controller');
          } catch { /* already gone */ }
        }
      }
      pods = owned();
    }
    const nowActive = pods.filter(podActive);
    const minReady = Number(spec.minReadySeconds ?? 0);
    const templateLabels = (isObj(spec.template) && isObj(spec.template.metadata) ? spec.template.metadata.labels : {}) as Record<string, string>;
    const fullyLabeled = nowActive.filter((p) => matchesLabels(fromSelectorObject({ matchLabels: templateLabels }), metaOf(p).labels as Record<string, string>));
    const status: Obj = {
      replicas: nowActive.length,
      fullyLabeledReplicas: fullyLabeled.length,
      readyReplicas: nowActive.filter(podReady).length,
      availableReplicas: nowActive.filter((p) => podAvailable(p, minReady)).length,
      observedGeneration: m.generation,
    };
    omitZero(status, ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration']);
    const prevConds = conditionOf(rs.status, 'ReplicaFailure');
    if (prevConds) status.conditions = [prevConds];
    if (deepEqual(rs.status, status)) continue;
    ctx.api.mutate(rsRt, ns, name, (o) => { o.status = status; }, 'kube-controller-manager', 'status');
  }
}
