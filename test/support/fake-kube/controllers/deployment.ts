/**
 * The FAKE Deployment controller, after upstream `pkg/controller/deployment` (sync.go,
 * rolling.go, recreate.go, progress.go):
 *
 * - the new ReplicaSet is the one whose template equals the Deployment's, ignoring the
 *   `pod-template-hash` label; a new one is named `<deployment>-<hash>` (fnv32a of the
 *   template, encoded like upstream's `rand.SafeEncodeString`; `status.collisionCount` on a
 *   clash), selects and labels its pods with the hash, and carries the Deployment's
 *   annotations plus `deployment.kubernetes.io/revision` (max old revision + 1; a ReplicaSet
 *   whose template comes back takes a new max+1 revision and records its old one in
 *   `revision-history`), `desired-replicas` and `max-replicas`;
 * - RollingUpdate scales the new ReplicaSet up within maxSurge (percentages round up) and old
 *   ones down within maxUnavailable (percentages round down; 1 when both are 0), cleaning up
 *   unhealthy old replicas first; Recreate scales old ones to 0, waits until their pods are
 *   gone, then scales the new one up;
 * - status counters and the Available / Progressing conditions with upstream's reasons
 *   (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable,
 *   ProgressDeadlineExceeded, DeploymentPaused, DeploymentResumed) and the deadline judged on
 *   the condition's lastUpdateTime; spec.paused stops rollouts; revisionHistoryLimit prunes
 *   old, empty ReplicaSets once a rollout is complete.
 *
 * Simplified: scaling a paused Deployment, or one mid-rollout, is not proportional across
 * ReplicaSets (the newest takes the difference); orphan ReplicaSets are not adopted;
 * `spec.rollbackTo` (extensions/v1beta1) does not exist; minReadySeconds is honoured through
 * the ReplicaSets' availableReplicas.
 */
import { recordEvent } from '../events.js';
import { resolveKind } from '../resources.js';
import type { Obj } from '../util.js';
import { canonicalJson, clone, deepEqual, fnv32a, isObj, nowRfc3339, safeEncode } from '../util.js';
import type { ControllerContext } from './context.js';
import { conditionOf, controllerRef, controllerUid, metaOf, omitZero } from './context.js';

const REVISION = 'deployment.kubernetes.io/revision';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
const DESIRED = 'deployment.kubernetes.io/desired-replicas';
const MAX = 'deployment.kubernetes.io/max-replicas';
const HASH_LABEL = 'pod-template-hash';
const SKIP_COPY = new Set(['kubectl.kubernetes.io/last-applied-configuration', REVISION, REVISION_HISTORY, DESIRED, MAX, 'deprecated.deployment.rollback.to']);

/** Resolves an int-or-percent against `total` (upstream `GetScaledValueFromIntOrPercent`). */
export function scaled(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^[0-9]+%$/.test(v)) {
    const x = (Number(v.slice(0, -1)) * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }
  if (typeof v === 'string' && /^[0-9]+$/.test(v)) return Number(v);
  return 0;
}

function replicasOf(d: Obj): number {
  return Number(((d.spec ?? {}) as Obj).replicas ?? 1);
}

function rolling(d: Obj): Obj | undefined {
  const st = ((d.spec ?? {}) as Obj).strategy as Obj | undefined;
  if (!st || st.type !== 'RollingUpdate') return undefined;
  return (st.rollingUpdate ?? {}) as Obj;
}

/** `[maxSurge, maxUnavailable]` resolved as upstream's `ResolveFenceposts`. */
export function fenceposts(d: Obj): [number, number] {
  const ru = rolling(d);
  if (!ru) return [0, 0];
  const desired = replicasOf(d);
  const surge = scaled(ru.maxSurge ?? '25%', desired, true);
  let unavailable = scaled(ru.maxUnavailable ?? '25%', desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return [surge, unavailable];
}

/** upstream `MaxUnavailable`. */
export function maxUnavailable(d: Obj): number {
  const desired = replicasOf(d);
  if (!rolling(d) || desired === 0) return 0;
  const [, u] = fenceposts(d);
  return Math.min(u, desired);
}

/** upstream `MaxSurge`. */
export function maxSurge(d: Obj): number {
  if (!rolling(d)) return 0;
  return fenceposts(d)[0];
}

function rsReplicas(rs: Obj): number { return Number(((rs.spec ?? {}) as Obj).replicas ?? 0); }
function rsStatus(rs: Obj, key: string): number { return Number(((rs.status ?? {}) as Obj)[key] ?? 0); }
function revisionOf(rs: Obj): number { return Number(((metaOf(rs).annotations ?? {}) as Obj)[REVISION] ?? 0) || 0; }
function sum(list: Obj[], f: (o: Obj) => number): number { return list.reduce((n, o) => n + f(o), 0); }
function byCreation(a: Obj, b: Obj): number {
  const c = String(metaOf(a).creationTimestamp).localeCompare(String(metaOf(b).creationTimestamp));
  return c !== 0 ? c : String(metaOf(a).name).localeCompare(String(metaOf(b).name));
}

function withoutHash(template: unknown): unknown {
  const t = clone(template) as Obj;
  if (isObj(t) && isObj(t.metadata) && isObj(t.metadata.labels)) {
    delete (t.metadata.labels as Obj)[HASH_LABEL];
  }
  return t;
}

/** The pod-template hash (fnv32a of the canonical template and the collision count). */
export function templateHash(template: unknown, collisionCount: number | undefined): string {
  const h = fnv32a(canonicalJson(template) + (collisionCount ? String(collisionCount) : ''));
  return safeEncode(String(h));
}

class DeploymentSync {
  readonly #rsRt = resolveKind('ReplicaSet');
  readonly #dRt = resolveKind('Deployment');
  readonly #podRt = resolveKind('Pod');
  d: Obj;
  rsList: Obj[];

  constructor(private readonly ctx: ControllerContext, d: Obj) {
    this.d = d;
    const uid = String(metaOf(d).uid);
    this.rsList = ctx.api.select(this.#rsRt, String(metaOf(d).namespace)).filter((rs) => controllerUid(rs) === uid);
  }

  get ns(): string { return String(metaOf(this.d).namespace); }
  get name(): string { return String(metaOf(this.d).name); }
  get spec(): Obj { return (this.d.spec ?? {}) as Obj; }

  run(): void {
    if (metaOf(this.d).deletionTimestamp) { this.#syncStatus(this.#findNew(), false); return; }
    if (this.spec.paused === true) { this.#syncPaused(); return; }
    this.#checkPausedConditions();
    if (((this.spec.strategy ?? {}) as Obj).type === 'Recreate') this.#rolloutRecreate();
    else this.#rolloutRolling();
  }

  // ---------------------------------------------------------------- replica sets

  #findNew(): Obj | undefined {
    const want = withoutHash(this.spec.template);
    return [...this.rsList].sort(byCreation).find((rs) => deepEqual(withoutHash(((rs.spec ?? {}) as Obj).template), want));
  }

  #olds(newRS: Obj | undefined): Obj[] {
    const n = newRS ? metaOf(newRS).uid : undefined;
    return this.rsList.filter((rs) => metaOf(rs).uid !== n);
  }

  #refresh(rs: Obj): Obj {
    const fresh = this.ctx.api.find(this.#rsRt, this.ns, String(metaOf(rs).name));
    if (!fresh) return rs;
    this.rsList = this.rsList.map((x) => (metaOf(x).uid === metaOf(fresh).uid ? fresh : x));
    return fresh;
  }

  #scale(rs: Obj, replicas: number): Obj {
    const from = rsReplicas(rs);
    const needAnn = (() => {
      const ann = (metaOf(rs).annotations ?? {}) as Obj;
      return ann[DESIRED] !== String(replicasOf(this.d)) || ann[MAX] !== String(replicasOf(this.d) + maxSurge(this.d));
    })();
    if (from === replicas && !needAnn) return rs;
    const updated = this.ctx.api.mutate(this.#rsRt, this.ns, String(metaOf(rs).name), (o) => {
      (o.spec as Obj).replicas = replicas;
      const m = metaOf(o);
      m.annotations = { ...((m.annotations ?? {}) as Obj), [DESIRED]: String(replicasOf(this.d)), [MAX]: String(replicasOf(this.d) + maxSurge(this.d)) };
    }, 'kube-controller-manager') ?? rs;
    if (from !== replicas) {
      const dir = replicas > from ? 'up' : 'down';
      recordEvent(this.ctx.api, this.ctx.events, this.d, 'Normal', 'ScalingReplicaSet', `Scaled ${dir} replica set ${String(metaOf(rs).name)} from ${from} to ${replicas}`, 'deployment-controller');
    }
    this.rsList = this.rsList.map((x) => (metaOf(x).uid === metaOf(updated).uid ? updated : x));
    return updated;
  }

  /** Annotations a ReplicaSet should carry; returns whether they changed. */
  #setNewRSAnnotations(rs: Obj, newRevision: number): boolean {
    const m = metaOf(rs);
    const ann = { ...((m.annotations ?? {}) as Record<string, string>) };
    const before = JSON.stringify(ann);
    for (const [k, v] of Object.entries((metaOf(this.d).annotations ?? {}) as Record<string, string>)) {
      if (!SKIP_COPY.has(k)) ann[k] = v;
    }
    const old = Number(ann[REVISION] ?? 0) || 0;
    if (old < newRevision) {
      ann[REVISION] = String(newRevision);
      if (old > 0) ann[REVISION_HISTORY] = ann[REVISION_HISTORY] ? `${ann[REVISION_HISTORY]},${old}` : String(old);
    }
    ann[DESIRED] = String(replicasOf(this.d));
    ann[MAX] = String(replicasOf(this.d) + maxSurge(this.d));
    m.annotations = ann;
    rs.metadata = m;
    return JSON.stringify(ann) !== before;
  }

  /** upstream `getAllReplicaSetsAndSyncRevision`. */
  #syncRevision(create: boolean): Obj | undefined {
    let newRS = this.#findNew();
    const olds = this.#olds(newRS);
    const newRevision = Math.max(0, ...olds.map(revisionOf)) + 1;
    if (newRS) {
      const copy = clone(newRS);
      const changed = this.#setNewRSAnnotations(copy, newRevision);
      const minReady = this.spec.minReadySeconds;
      const minChanged = ((copy.spec ?? {}) as Obj).minReadySeconds !== minReady;
      if (changed || minChanged) {
        newRS = this.ctx.api.mutate(this.#rsRt, this.ns, String(metaOf(newRS).name), (o) => {
          metaOf(o).annotations = metaOf(copy).annotations;
          if (minReady === undefined) delete (o.spec as Obj).minReadySeconds; else (o.spec as Obj).minReadySeconds = minReady;
        }, 'kube-controller-manager') ?? newRS;
        this.#refresh(newRS);
      }
      this.#writeDeploymentRevision(String(revisionOf(newRS)), conditionOf(this.d.status, 'Progressing') ? undefined : { reason: 'FoundNewReplicaSet', message: `Found new replica set "${String(metaOf(newRS).name)}"` });
      return newRS;
    }
    if (!create) return undefined;
    const collisionCount = Number(((this.d.status ?? {}) as Obj).collisionCount ?? 0) || undefined;
    const hash = templateHash(this.spec.template, collisionCount);
    const template = clone(this.spec.template) as Obj;
    const tmeta = (template.metadata ?? {}) as Obj;
    tmeta.labels = { ...((tmeta.labels ?? {}) as Obj), [HASH_LABEL]: hash };
    template.metadata = tmeta;
    const selector = clone((this.spec.selector ?? {}) as Obj);
    selector.matchLabels = { ...((selector.matchLabels ?? {}) as Obj), [HASH_LABEL]: hash };
    const rsName = `${this.name}-${hash}`;
    const candidate: Obj = {
      metadata: { name: rsName, namespace: this.ns, labels: clone(tmeta.labels), ownerReferences: [controllerRef(this.d)] },
      spec: { replicas: 0, ...(this.spec.minReadySeconds !== undefined ? { minReadySeconds: this.spec.minReadySeconds } : {}), selector, template },
    };
    const olderActive = olds;
    const count = this.#newRSNewReplicas([...olderActive, candidate], candidate);
    (candidate.spec as Obj).replicas = count;
    this.#setNewRSAnnotations(candidate, newRevision);
    const existing = this.ctx.api.find(this.#rsRt, this.ns, rsName);
    if (existing) {
      if (controllerUid(existing) === String(metaOf(this.d).uid) && deepEqual(withoutHash(((existing.spec ?? {}) as Obj).template), withoutHash(this.spec.template))) return existing;
      // A hash collision: count it and try again next pass, as upstream does.
      this.ctx.api.mutate(this.#dRt, this.ns, this.name, (o) => { (o.status as Obj).collisionCount = (collisionCount ?? 0) + 1; }, 'kube-controller-manager', 'status');
      return undefined;
    }
    const created = this.ctx.api.create(this.#rsRt, this.ns, candidate, { fieldManager: 'kube-controller-manager', internal: true });
    this.rsList.push(created);
    if (count > 0) recordEvent(this.ctx.api, this.ctx.events, this.d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rsName} from 0 to ${count}`, 'deployment-controller');
    this.#writeDeploymentRevision(String(newRevision), { reason: 'NewReplicaSetCreated', message: `Created new replica set "${rsName}"` });
    return created;
  }

  #writeDeploymentRevision(revision: string, progressing: { reason: string; message: string } | undefined): void {
    const updated = this.ctx.api.mutate(this.#dRt, this.ns, this.name, (o) => {
      const m = metaOf(o);
      const ann = { ...((m.annotations ?? {}) as Obj) };
      if (Number(ann[REVISION] ?? 0) !== Number(revision)) ann[REVISION] = revision;
      m.annotations = ann;
      if (progressing && this.#hasDeadline()) {
        const status = (o.status ?? {}) as Obj;
        status.conditions = this.#setDeploymentCondition((status.conditions ?? []) as Obj[], { type: 'Progressing', status: 'True', ...progressing });
        o.status = status;
      }
    }, 'kube-controller-manager', 'status');
    if (updated) this.d = updated;
  }

  #newRSNewReplicas(allRSs: Obj[], newRS: Obj): number {
    const desired = replicasOf(this.d);
    if (!rolling(this.d)) return desired;
    const current = sum(allRSs, rsReplicas);
    const maxTotal = desired + maxSurge(this.d);
    if (current >= maxTotal) return rsReplicas(newRS);
    const scaleUp = Math.min(maxTotal - current, desired - rsReplicas(newRS));
    return rsReplicas(newRS) + Math.max(0, scaleUp);
  }

  // ---------------------------------------------------------------- strategies

  #rolloutRolling(): void {
    let newRS = this.#syncRevision(true);
    if (!newRS) return;
    // Scale the new ReplicaSet.
    const desired = replicasOf(this.d);
    const nr = rsReplicas(newRS);
    if (nr !== desired) {
      const target = nr > desired ? desired : this.#newRSNewReplicas(this.rsList, newRS);
      if (target !== nr) {
        newRS = this.#scale(newRS, target);
        this.#syncStatus(newRS, true);
        return;
      }
    }
    if (this.#reconcileOld(newRS)) { this.#syncStatus(this.#refresh(newRS), true); return; }
    if (this.#complete(this.#calculateStatus(newRS))) this.#cleanup(newRS);
    this.#syncStatus(newRS, true);
  }

  #reconcileOld(newRS: Obj): boolean {
    const olds = () => this.#olds(newRS).filter((rs) => rsReplicas(rs) > 0);
    if (sum(olds(), rsReplicas) === 0) return false;
    const all = this.rsList;
    const allPods = sum(all, rsReplicas);
    const minAvailable = replicasOf(this.d) - maxUnavailable(this.d);
    const newUnavailable = rsReplicas(newRS) - rsStatus(newRS, 'availableReplicas');
    const maxScaledDown = allPods - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    // Clean up unhealthy replicas of old ReplicaSets first.
    let cleaned = 0;
    for (const rs of [...olds()].sort(byCreation)) {
      if (cleaned >= maxScaledDown) break;
      const r = rsReplicas(rs);
      const avail = rsStatus(rs, 'availableReplicas');
      if (r === 0 || r === avail) continue;
      const n = Math.min(maxScaledDown - cleaned, r - avail);
      this.#scale(rs, r - n);
      cleaned += n;
    }
    // Then scale down old ReplicaSets while availability allows.
    let scaledDown = 0;
    const available = sum(this.rsList, (rs) => rsStatus(rs, 'availableReplicas'));
    if (available > minAvailable) {
      const total = available - minAvailable;
      for (const rs of [...olds()].sort(byCreation)) {
        if (scaledDown >= total) break;
        const r = rsReplicas(rs);
        if (r === 0) continue;
        const n = Math.min(r, total - scaledDown);
        this.#scale(rs, r - n);
        scaledDown += n;
      }
    }
    return cleaned + scaledDown > 0;
  }

  #rolloutRecreate(): void {
    let newRS = this.#syncRevision(false);
    const activeOld = this.#olds(newRS).filter((rs) => rsReplicas(rs) > 0);
    if (activeOld.length) {
      for (const rs of activeOld) this.#scale(rs, 0);
      this.#syncStatus(newRS, true);
      return;
    }
    const oldUids = new Set(this.#olds(newRS).map((rs) => String(metaOf(rs).uid)));
    const oldPodsRunning = this.#olds(newRS).some((rs) => rsStatus(rs, 'replicas') > 0)
      || this.ctx.api.select(this.#podRt, this.ns).some((p) => oldUids.has(controllerUid(p) ?? '') && !['Succeeded', 'Failed'].includes(String(((p.status ?? {}) as Obj).phase)));
    if (oldPodsRunning) { this.#syncStatus(newRS, true); return; }
    if (!newRS) newRS = this.#syncRevision(true);
    if (!newRS) return;
    if (rsReplicas(newRS) !== replicasOf(this.d)) newRS = this.#scale(newRS, replicasOf(this.d));
    if (this.#complete(this.#calculateStatus(newRS))) this.#cleanup(newRS);
    this.#syncStatus(newRS, true);
  }

  #syncPaused(): void {
    const newRS = this.#syncRevision(false);
    this.#checkPausedConditions();
    const activeOld = this.#olds(newRS).filter((rs) => rsReplicas(rs) > 0);
    const desired = replicasOf(this.d);
    if (newRS && activeOld.length === 0 && rsReplicas(newRS) !== desired) this.#scale(newRS, desired);
    else if (!newRS && activeOld.length === 1 && rsReplicas(activeOld[0]) !== desired) this.#scale(activeOld[0], desired);
    this.#cleanup(newRS);
    this.#syncStatus(newRS ? this.#refresh(newRS) : undefined, false);
  }

  #cleanup(newRS: Obj | undefined): void {
    const limit = this.spec.revisionHistoryLimit;
    if (typeof limit !== 'number') return;
    const cleanable = this.#olds(newRS).filter((rs) => !metaOf(rs).deletionTimestamp);
    const diff = cleanable.length - limit;
    if (diff <= 0) return;
    const sorted = [...cleanable].sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    for (const rs of sorted.slice(0, diff)) {
      const st = (rs.status ?? {}) as Obj;
      if (rsStatus(rs, 'replicas') !== 0 || rsReplicas(rs) !== 0 || Number(metaOf(rs).generation ?? 0) > Number(st.observedGeneration ?? 0)) continue;
      try { this.ctx.api.delete(this.#rsRt, this.ns, String(metaOf(rs).name), { propagationPolicy: 'Background' }); } catch { /* gone */ }
      this.rsList = this.rsList.filter((x) => x !== rs);
    }
  }

  // ---------------------------------------------------------------- status

  #hasDeadline(): boolean {
    const p = this.spec.progressDeadlineSeconds;
    return typeof p === 'number' && p !== 2147483647;
  }

  #setDeploymentCondition(list: Obj[], cond: { type: string; status: string; reason: string; message: string }): Obj[] {
    const now = nowRfc3339();
    const cur = list.find((c) => c.type === cond.type);
    if (cur && cur.status === cond.status && cur.reason === cond.reason) return list;
    const next: Obj = { type: cond.type, status: cond.status, lastUpdateTime: now, lastTransitionTime: cur && cur.status === cond.status ? cur.lastTransitionTime : now, reason: cond.reason, message: cond.message };
    return [...list.filter((c) => c.type !== cond.type), next];
  }

  #calculateStatus(newRS: Obj | undefined): Obj {
    const all = this.rsList;
    const available = sum(all, (rs) => rsStatus(rs, 'availableReplicas'));
    const total = sum(all, rsReplicas);
    const prev = (this.d.status ?? {}) as Obj;
    const status: Obj = {
      observedGeneration: metaOf(this.d).generation,
      replicas: sum(all, (rs) => rsStatus(rs, 'replicas')),
      updatedReplicas: newRS ? rsStatus(newRS, 'replicas') : 0,
      readyReplicas: sum(all, (rs) => rsStatus(rs, 'readyReplicas')),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, total - available),
      ...(prev.collisionCount !== undefined ? { collisionCount: prev.collisionCount } : {}),
      conditions: clone((prev.conditions ?? []) as Obj[]),
    };
    const minAvailable = replicasOf(this.d) - maxUnavailable(this.d);
    status.conditions = available >= minAvailable
      ? this.#setDeploymentCondition(status.conditions as Obj[], { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' })
      : this.#setDeploymentCondition(status.conditions as Obj[], { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' });
    return status;
  }

  #complete(status: Obj): boolean {
    const desired = replicasOf(this.d);
    return Number(status.updatedReplicas ?? 0) === desired && Number(status.replicas ?? 0) === desired && Number(status.availableReplicas ?? 0) === desired && Number(status.observedGeneration ?? 0) >= Number(metaOf(this.d).generation ?? 0);
  }

  #progressing(status: Obj): boolean {
    const old = (this.d.status ?? {}) as Obj;
    const n = (o: Obj, k: string): number => Number(o[k] ?? 0);
    const oldOld = n(old, 'replicas') - n(old, 'updatedReplicas');
    const newOld = n(status, 'replicas') - n(status, 'updatedReplicas');
    return n(status, 'updatedReplicas') > n(old, 'updatedReplicas') || newOld < oldOld || n(status, 'readyReplicas') > n(old, 'readyReplicas') || n(status, 'availableReplicas') > n(old, 'availableReplicas');
  }

  #timedOut(): boolean {
    if (!this.#hasDeadline()) return false;
    const cond = conditionOf(this.d.status, 'Progressing');
    if (!cond) return false;
    if (cond.reason === 'NewReplicaSetAvailable') return false;
    if (cond.reason === 'ProgressDeadlineExceeded') return true;
    const from = Date.parse(String(cond.lastUpdateTime ?? ''));
    return Number.isFinite(from) && from + Number(this.spec.progressDeadlineSeconds) * 1000 < Date.now();
  }

  #syncStatus(newRS: Obj | undefined, rollout: boolean): void {
    this.d = this.ctx.api.find(this.#dRt, this.ns, this.name) ?? this.d;
    const status = this.#calculateStatus(newRS ? this.#refresh(newRS) : undefined);
    if (rollout) {
      if (!this.#hasDeadline()) status.conditions = (status.conditions as Obj[]).filter((c) => c.type !== 'Progressing');
      const cur = conditionOf(this.d.status, 'Progressing');
      const isComplete = status.replicas === status.updatedReplicas && cur?.reason === 'NewReplicaSetAvailable';
      if (this.#hasDeadline() && !isComplete) {
        const rsName = newRS ? String(metaOf(newRS).name) : '';
        if (this.#complete(status)) {
          status.conditions = this.#setDeploymentCondition(status.conditions as Obj[], { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${rsName}" has successfully progressed.` });
        } else if (this.#progressing(status)) {
          let list = status.conditions as Obj[];
          const now = nowRfc3339();
          const keepTransition = cur && cur.status === 'True' ? cur.lastTransitionTime : now;
          list = list.filter((c) => c.type !== 'Progressing');
          list.push({ type: 'Progressing', status: 'True', lastUpdateTime: now, lastTransitionTime: keepTransition, reason: 'ReplicaSetUpdated', message: `ReplicaSet "${rsName}" is progressing.` });
          status.conditions = list;
        } else if (this.#timedOut()) {
          status.conditions = this.#setDeploymentCondition(status.conditions as Obj[], { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.` });
        }
      }
    }
    omitZero(status, ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas']);
    status.conditions = sortConditions(status.conditions as Obj[]);
    if (deepEqual(this.d.status, status)) return;
    const updated = this.ctx.api.mutate(this.#dRt, this.ns, this.name, (o) => { o.status = status; }, 'kube-controller-manager', 'status');
    if (updated) this.d = updated;
  }

  #checkPausedConditions(): void {
    if (!this.#hasDeadline()) return;
    const cond = conditionOf(this.d.status, 'Progressing');
    if (cond && cond.reason === 'ProgressDeadlineExceeded') return;
    const pausedExists = cond?.reason === 'DeploymentPaused';
    const paused = this.spec.paused === true;
    let next: { reason: string; message: string } | undefined;
    if (paused && !pausedExists) next = { reason: 'DeploymentPaused', message: 'Deployment is paused' };
    else if (!paused && pausedExists) next = { reason: 'DeploymentResumed', message: 'Deployment is resumed' };
    if (!next) return;
    const n = next;
    const updated = this.ctx.api.mutate(this.#dRt, this.ns, this.name, (o) => {
      const status = (o.status ?? {}) as Obj;
      status.conditions = this.#setDeploymentCondition((status.conditions ?? []) as Obj[], { type: 'Progressing', status: 'Unknown', ...n });
      o.status = status;
    }, 'kube-controller-manager', 'status');
    if (updated) this.d = updated;
  }
}

function sortConditions(list: Obj[]): Obj[] {
  const order = ['Available', 'Progressing', 'ReplicaFailure'];
  return [...list].sort((a, b) => order.indexOf(String(a.type)) - order.indexOf(String(b.type)));
}

/** One pass over every Deployment. */
export function syncDeployments(ctx: ControllerContext): void {
  for (const d of ctx.api.select(resolveKind('Deployment'), undefined)) {
    const sel = ((d.spec ?? {}) as Obj).selector as Obj | undefined;
    if (!sel || (Object.keys((sel.matchLabels ?? {}) as Obj).length === 0 && !Array.isArray(sel.matchExpressions))) continue;
    new DeploymentSync(ctx, d).run();
  }
}
