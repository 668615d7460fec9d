/**
 * The FAKE Argo CD application controller: it keeps each Application's status the way
 * upstream's `controller/appcontroller.go`, `controller/state.go` and `controller/sync.go` do.
 *
 * - Comparison: the target state is the manifests rendered at the commit the source's
 *   `targetRevision` resolves to. Git is re-read ("compare with latest") on a refresh
 *   (`GET …?refresh=`), when an app is added, after every operation, and every `gitPollMs` if
 *   set; otherwise each pass compares the cached manifests with the live objects ("compare
 *   with recent"), so drift in the cluster shows at once. `status.sync` = Synced / OutOfSync at
 *   that commit (Unknown with a ComparisonError condition when rendering fails),
 *   `status.resources` per object, `status.health` per health.ts, `status.reconciledAt` on each
 *   compare with latest. Objects carry the tracking label `app.kubernetes.io/instance: <app>`;
 *   labelled live objects no longer in Git (without owner references) are OutOfSync with
 *   `requiresPruning`.
 * - Operations (`app.operation`, set by a sync request): the controller starts it
 *   (`operationState` phase Running, `startedAt`), renders at the operation's revision, runs a
 *   server-side dry run of every object, then applies them in upstream's kind order, prunes
 *   when asked, and finishes Succeeded (`successfully synced (all tasks run)`), Failed
 *   (`one or more objects failed to apply (dry run)` / `…, reason: <errors>`), or Error
 *   (`ComparisonError: …`) with `syncResult` {resources, revision, source}; a success appends
 *   `status.history` (ids from 0, at most `revisionHistoryLimit`, default 10). The operation is
 *   then cleared and the app compared with latest. A Terminating operation ends Failed
 *   `Operation terminated`.
 * - Automated sync (`spec.syncPolicy.automated`): when a compare finds the app OutOfSync and
 *   no operation runs, it starts one (`initiatedBy.automated: true`) unless that revision was
 *   already attempted (and failed, or `selfHeal` is off).
 *
 * Simplified: one pass per `tickMs` for every app (no watches, no work queues); no hooks, sync
 * waves, retries, sync windows, or multiple sources; CreateNamespace=true is the only sync
 * option acted upon; per-resource sync and health as diff.ts and health.ts describe.
 */
import { randomUUID } from 'node:crypto';
import { Code, GrpcError } from './errors.js';
import { GitError, commitOf, isCommitSha, resolveRevision } from './git.js';
import type { HealthInput } from './health.js';
import { applicationHealth, hasHealthCheck } from './health.js';
import type { KindInfo, KubeClient } from './kube-client.js';
import { KubeError } from './kube-client.js';
import { matches } from './diff.js';
import type { Rendered } from './render.js';
import { RenderError, renderAt } from './render.js';
import type {
  AppDefinition, Application, ApplicationCondition, HealthStatus, Obj, Operation, OperationPhase, OperationState,
  ResourceResult, ResourceStatus, SyncOperation, SyncPolicy,
} from './types.js';
import { clone, deepEqual, isObj, metaTime } from './types.js';

/** The label Argo CD's default (label) tracking puts on every object it manages. */
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';

/** The namespace Argo CD runs in (and keeps its Applications in). */
export const CONTROL_PLANE_NAMESPACE = 'argocd';

/** gitops-engine's apply order of kinds (`kubectl apply` ordering); others go last, by name. */
const KIND_ORDER = ['Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodSecurityPolicy', 'PodDisruptionBudget', 'ServiceAccount',
  'Secret', 'SecretList', 'ConfigMap', 'StorageClass', 'PersistentVolume', 'PersistentVolumeClaim', 'CustomResourceDefinition', 'ClusterRole',
  'ClusterRoleList', 'ClusterRoleBinding', 'ClusterRoleBindingList', 'Role', 'RoleList', 'RoleBinding', 'RoleBindingList', 'Service', 'DaemonSet',
  'Pod', 'ReplicationController', 'ReplicaSet', 'Deployment', 'HorizontalPodAutoscaler', 'StatefulSet', 'Job', 'CronJob', 'IngressClass', 'Ingress', 'APIService'];

function kindRank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
}

/** One rendered object with where it lives. */
interface TargetObject {
  obj: Obj;
  info?: KindInfo;
  /** Why the cluster cannot take this kind. */
  infoError?: string;
  namespace: string;
  name: string;
}

interface TargetState { revision: string; objects: TargetObject[]; sourceType: 'Helm' | 'Directory' }

interface AppRecord {
  app: Application;
  target?: TargetState;
  /** Kinds the app has managed, for finding objects to prune. */
  kinds: Map<string, { apiVersion: string; kind: string }>;
  chain: Promise<void>;
  queued: boolean;
  holds: number;
  failNext?: string;
  healthOverride?: HealthStatus;
  lastGitRead: number;
  /** Why the target state could not be loaded (retried on the next compare with latest only). */
  loadError?: string;
  /** The repo server's manifest cache: commit → rendered objects (a hard refresh empties it). */
  manifests: Map<string, Rendered>;
}

/** Options of the controller. */
export interface ControllerOptions {
  kube: KubeClient;
  /** repoURL → bare repository path; other repoURLs are taken as paths. */
  repos: Record<string, string>;
  /** Re-read Git every n ms (0: only on refresh, add and after operations). */
  gitPollMs: number;
  /** Where unexpected failures of a pass are reported. */
  onError: (msg: string) => void;
}

/** What a caller asks a sync operation to do. */
export interface SyncRequest { revision?: string; prune?: boolean; dryRun?: boolean; syncOptions?: string[]; strategy?: Obj; resources?: Obj[]; infos?: Array<{ name: string; value: string }> }

function qualified(info: KindInfo | undefined, obj: Obj): string {
  const kind = String(obj.kind).toLowerCase();
  return info?.group ? `${kind}.${info.group}` : kind;
}

function groupVersion(apiVersion: string): { group: string; version: string } {
  return apiVersion.includes('/') ? { group: apiVersion.split('/')[0], version: apiVersion.split('/')[1] } : { group: '', version: apiVersion };
}

function msgOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The app controller of the fake. */
export class AppController {
  readonly #apps = new Map<string, AppRecord>();
  #rv = 1000;

  constructor(private readonly o: ControllerOptions) {}

  /** Names of the apps, sorted. */
  names(): string[] {
    return [...this.#apps.keys()].sort();
  }

  /** The live Application object (not a copy), or undefined. */
  peek(name: string): Application | undefined {
    return this.#apps.get(name)?.app;
  }

  #record(name: string): AppRecord {
    const rec = this.#apps.get(name);
    if (!rec) throw new Error(`fake Argo CD: no application "${name}"`);
    return rec;
  }

  #touch(rec: AppRecord): void {
    this.#rv += 1;
    rec.app.metadata.resourceVersion = String(this.#rv);
  }

  #repoPath(rec: AppRecord): string {
    const url = rec.app.spec.source.repoURL;
    return this.o.repos[url] ?? url;
  }

  /** Defines an Application and compares it once. */
  async add(def: AppDefinition): Promise<Application> {
    if (this.#apps.has(def.name)) throw new Error(`fake Argo CD: application "${def.name}" already exists`);
    const source = {
      repoURL: def.source.repoURL,
      path: def.source.path,
      targetRevision: def.source.targetRevision ?? 'HEAD',
      ...(def.source.helm ? { helm: clone(def.source.helm) } : {}),
    };
    const destination = { server: def.destination.server ?? 'https://kubernetes.default.svc', namespace: def.destination.namespace };
    const app: Application = {
      metadata: {
        name: def.name, namespace: CONTROL_PLANE_NAMESPACE, uid: randomUUID(), resourceVersion: '', generation: 1, creationTimestamp: metaTime(),
        ...(def.labels ? { labels: { ...def.labels } } : {}),
      },
      spec: { source, destination, project: def.project ?? 'default', ...(def.syncPolicy ? { syncPolicy: clone(def.syncPolicy) } : {}) },
      status: { sync: { status: 'Unknown', comparedTo: { source: clone(source), destination: clone(destination) } }, health: { status: 'Unknown' }, summary: {}, controllerNamespace: CONTROL_PLANE_NAMESPACE },
    };
    const rec: AppRecord = { app, kinds: new Map(), chain: Promise.resolve(), queued: false, holds: 0, lastGitRead: 0, manifests: new Map() };
    this.#touch(rec);
    this.#apps.set(def.name, rec);
    await this.#enqueue(rec, () => this.#reconcile(rec, true));
    return clone(app);
  }

  #enqueue(rec: AppRecord, fn: () => Promise<void>): Promise<void> {
    const run = rec.chain.then(fn);
    rec.chain = run.catch((e: unknown) => { this.o.onError(`${rec.app.metadata.name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`); });
    return run;
  }

  /** One controller pass over every app (each app's passes never overlap). */
  tick(): Promise<void> {
    const runs: Array<Promise<void>> = [];
    for (const rec of this.#apps.values()) {
      if (rec.queued) continue;
      rec.queued = true;
      const latest = this.o.gitPollMs > 0 && Date.now() - rec.lastGitRead >= this.o.gitPollMs;
      runs.push(this.#enqueue(rec, async () => { rec.queued = false; await this.#reconcile(rec, latest); }).catch(() => undefined));
    }
    return Promise.all(runs).then(() => undefined);
  }

  /**
   * A refresh: re-reads Git and compares (starting an automated sync if due, which the next
   * pass runs); resolves once done, as upstream's refresh does once the controller has
   * processed the app. `hard` also drops the cached manifests, so the commit is rendered anew.
   */
  async refresh(name: string, hard = false): Promise<Application> {
    const rec = this.#record(name);
    await this.#enqueue(rec, async () => {
      if (hard) rec.manifests.clear();
      await this.#compare(rec, true);
      this.#autoSync(rec);
    });
    return rec.app;
  }

  // ------------------------------------------------------------------ comparison

  async #loadTarget(rec: AppRecord, sha: string): Promise<TargetState> {
    const { app } = rec;
    const ns = app.spec.destination.namespace;
    let rendered = rec.manifests.get(sha);
    if (!rendered) {
      rendered = await renderAt(this.#repoPath(rec), sha, app.spec.source, { name: app.spec.source.helm?.releaseName ?? app.metadata.name, namespace: ns });
      if (rec.manifests.size >= 20) rec.manifests.delete(rec.manifests.keys().next().value as string);
      rec.manifests.set(sha, rendered);
    }
    const objects: TargetObject[] = [];
    for (const raw of rendered.objects) {
      const obj = clone(raw);
      const meta = isObj(obj.metadata) ? obj.metadata : (obj.metadata = {});
      const labels = isObj(meta.labels) ? (meta.labels as Record<string, string>) : (meta.labels = {}) as Record<string, string>;
      labels[INSTANCE_LABEL] = app.metadata.name;
      let info: KindInfo | undefined;
      let infoError: string | undefined;
      try {
        info = await this.o.kube.kind(String(obj.apiVersion), String(obj.kind));
      } catch (e) {
        if (!(e instanceof KubeError) || e.code === 0) throw e;
        infoError = e.message;
      }
      if (info?.namespaced !== false && (typeof meta.namespace !== 'string' || meta.namespace === '')) meta.namespace = ns;
      if (info && !info.namespaced) delete meta.namespace;
      objects.push({ obj, info, infoError, namespace: typeof meta.namespace === 'string' ? meta.namespace : '', name: String(meta.name ?? '') });
    }
    objects.sort((a, b) => kindRank(String(a.obj.kind)) - kindRank(String(b.obj.kind)) || String(a.obj.kind).localeCompare(String(b.obj.kind)) || a.name.localeCompare(b.name));
    return { revision: sha, objects, sourceType: rendered.sourceType };
  }

  /** Live objects carrying this app's tracking label that are not in `targets` (candidates for pruning). */
  async #extras(rec: AppRecord, targets: TargetObject[]): Promise<Array<{ obj: Obj; info: KindInfo }>> {
    const out: Array<{ obj: Obj; info: KindInfo }> = [];
    const ns = rec.app.spec.destination.namespace;
    const key = (apiVersion: string, kind: string, namespace: string, name: string): string => `${groupVersion(apiVersion).group}/${kind}/${namespace}/${name}`;
    const wanted = new Set(targets.map((t) => key(String(t.obj.apiVersion), String(t.obj.kind), t.namespace, t.name)));
    for (const { apiVersion, kind } of rec.kinds.values()) {
      let info: KindInfo;
      try { info = await this.o.kube.kind(apiVersion, kind); } catch { continue; }
      for (const live of await this.o.kube.list(info, ns, `${INSTANCE_LABEL}=${rec.app.metadata.name}`)) {
        const m = (live.metadata ?? {}) as Obj;
        if (Array.isArray(m.ownerReferences) && m.ownerReferences.length > 0) continue;
        if (wanted.has(key(apiVersion, kind, String(m.namespace ?? ''), String(m.name)))) continue;
        out.push({ obj: live, info });
      }
    }
    return out;
  }

  async #reconcile(rec: AppRecord, latest: boolean): Promise<void> {
    await this.#compare(rec, latest);
    this.#autoSync(rec);
    if (await this.#progressOperation(rec)) await this.#compare(rec, true);
  }

  async #compare(rec: AppRecord, latest: boolean): Promise<void> {
    const { app } = rec;
    const before = clone(app.status);
    const conditions: ApplicationCondition[] = [];
    if (latest || (!rec.target && rec.loadError === undefined)) {
      rec.lastGitRead = Date.now();
      rec.loadError = undefined;
      try {
        const resolved = await resolveRevision(this.#repoPath(rec), app.spec.source.targetRevision);
        rec.target = await this.#loadTarget(rec, isCommitSha(resolved) ? resolved : await commitOf(this.#repoPath(rec), resolved));
      } catch (e) {
        if (!(e instanceof GitError || e instanceof RenderError || e instanceof KubeError)) throw e;
        rec.target = undefined;
        rec.loadError = `Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = ${e.message}`;
      }
      app.status.reconciledAt = metaTime();
    }
    if (rec.loadError !== undefined) conditions.push({ type: 'ComparisonError', message: rec.loadError, lastTransitionTime: metaTime() });
    const comparedTo = { source: clone(app.spec.source), destination: clone(app.spec.destination) };
    const target = rec.target;
    if (!target) {
      app.status.sync = { status: 'Unknown', comparedTo };
      app.status.conditions = this.#keepTransitions(before.conditions, conditions);
      this.#finishCompare(rec, before);
      return;
    }
    let lives: Array<Obj | undefined>;
    let extras: Array<{ obj: Obj; info: KindInfo }>;
    try {
      lives = [];
      for (const t of target.objects) lives.push(t.info ? await this.o.kube.get(t.info, t.namespace, t.name) : undefined);
      extras = await this.#extras(rec, target.objects);
    } catch (e) {
      if (!(e instanceof KubeError)) throw e;
      app.status.sync = { status: 'Unknown', comparedTo, revision: target.revision };
      app.status.conditions = this.#keepTransitions(before.conditions, [{ type: 'ComparisonError', message: `Failed to load live state: ${e.message}`, lastTransitionTime: metaTime() }]);
      this.#finishCompare(rec, before);
      return;
    }
    for (const t of target.objects) if (t.infoError) conditions.push({ type: 'ComparisonError', message: t.infoError, lastTransitionTime: metaTime() });
    const override = rec.healthOverride;
    const healthInputs: HealthInput[] = [
      ...target.objects.map((t, i) => ({ apiVersion: String(t.obj.apiVersion), kind: String(t.obj.kind), live: lives[i], override: override && lives[i] && hasHealthCheck(String(t.obj.apiVersion), String(t.obj.kind)) ? override : undefined })),
      ...extras.map((x) => ({ apiVersion: String(x.obj.apiVersion), kind: String(x.obj.kind), live: x.obj })),
    ];
    const health = applicationHealth(healthInputs);
    const resources: ResourceStatus[] = [];
    target.objects.forEach((t, i) => {
      const live = lives[i];
      const gv = groupVersion(String(t.obj.apiVersion));
      const h = health.perResource[i];
      resources.push({ group: gv.group, version: gv.version, kind: String(t.obj.kind), namespace: t.namespace, name: t.name, status: live && matches(t.obj, live) ? 'Synced' : 'OutOfSync', ...(h ? { health: h } : {}) });
    });
    extras.forEach((x, j) => {
      const gv = groupVersion(String(x.obj.apiVersion));
      const h = health.perResource[target.objects.length + j];
      const m = x.obj.metadata as Obj;
      resources.push({ group: gv.group, version: gv.version, kind: String(x.obj.kind), namespace: String(m.namespace ?? ''), name: String(m.name), status: 'OutOfSync', ...(h ? { health: h } : {}), requiresPruning: true });
    });
    resources.sort((a, b) => a.group.localeCompare(b.group) || a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
    const images = new Set<string>();
    for (const live of [...lives, ...extras.map((x) => x.obj)]) {
      const tmpl = isObj(live?.spec) && isObj(live.spec.template) ? live.spec.template : undefined;
      const containers = isObj(tmpl?.spec) && Array.isArray(tmpl.spec.containers) ? (tmpl.spec.containers as Obj[]) : [];
      for (const c of containers) if (typeof c.image === 'string') images.add(c.image);
    }
    app.status.resources = resources;
    app.status.sync = { status: resources.some((r) => r.status !== 'Synced') ? 'OutOfSync' : 'Synced', comparedTo, revision: target.revision };
    app.status.health = health.app;
    app.status.sourceType = target.sourceType;
    app.status.summary = images.size > 0 ? { images: [...images].sort() } : {};
    app.status.conditions = this.#keepTransitions(before.conditions, conditions);
    this.#finishCompare(rec, before);
  }

  /** Conditions keep their lastTransitionTime while they stay the same. */
  #keepTransitions(before: ApplicationCondition[] | undefined, now: ApplicationCondition[]): ApplicationCondition[] | undefined {
    if (now.length === 0) return undefined;
    return now.map((c) => before?.find((b) => b.type === c.type && b.message === c.message) ?? c);
  }

  #finishCompare(rec: AppRecord, before: unknown): void {
    if (rec.app.status.conditions === undefined) delete rec.app.status.conditions;
    if (!deepEqual(before, rec.app.status)) this.#touch(rec);
  }

  // ------------------------------------------------------------------ operations

  /**
   * Argo CD's `SetAppOperation`: sets `operation` (clearing `operationState`) unless one is
   * already set, in which case the FailedPrecondition upstream's Sync handler answers.
   */
  setOperation(name: string, sync: SyncOperation, initiatedBy: Operation['initiatedBy'], info?: Operation['info']): Application {
    const rec = this.#record(name);
    if (rec.app.operation) throw new GrpcError(Code.FailedPrecondition, 'error setting app operation: another operation is already in progress');
    rec.app.operation = { sync: clone(sync), initiatedBy: { ...initiatedBy }, ...(info && info.length > 0 ? { info: clone(info) } : {}), retry: {} };
    delete rec.app.status.operationState;
    this.#touch(rec);
    return rec.app;
  }

  /** Resolves a sync request's revision as the API server does (`resolveRevision`). */
  async resolveSyncRevision(name: string, revision: string | undefined): Promise<string> {
    const rec = this.#record(name);
    const ambiguous = revision || rec.app.spec.source.targetRevision;
    if (isCommitSha(ambiguous)) return ambiguous;
    try {
      return await resolveRevision(this.#repoPath(rec), ambiguous);
    } catch (e) {
      throw new GrpcError(Code.FailedPrecondition, `error resolving repo revision: rpc error: code = Unknown desc = ${msgOf(e)}`);
    }
  }

  /** Marks the running operation Terminating (the API's TerminateOperation). */
  terminate(name: string): void {
    const rec = this.#record(name);
    const st = rec.app.status.operationState;
    if (!rec.app.operation || !st) throw new GrpcError(Code.InvalidArgument, 'Unable to terminate operation. No operation is in progress');
    st.phase = 'Terminating';
    this.#touch(rec);
  }

  #autoSync(rec: AppRecord): void {
    const { app } = rec;
    const automated = app.spec.syncPolicy?.automated;
    if (!automated || app.operation || app.status.sync.status !== 'OutOfSync' || !rec.target) return;
    const revision = rec.target.revision;
    const st = app.status.operationState;
    const attempted = st?.syncResult?.revision === revision;
    if (attempted && (!automated.selfHeal || st?.phase !== 'Succeeded')) return;
    this.setOperation(app.metadata.name, { revision, ...(automated.prune ? { prune: true } : {}), ...(app.spec.syncPolicy?.syncOptions ? { syncOptions: [...app.spec.syncPolicy.syncOptions] } : {}) }, { automated: true });
  }

  /** Starts or advances the app's operation; true when one finished in this call. */
  async #progressOperation(rec: AppRecord): Promise<boolean> {
    const { app } = rec;
    const op = app.operation;
    if (!op) return false;
    let st = app.status.operationState;
    if (!st || (st.phase !== 'Running' && st.phase !== 'Terminating')) {
      st = { operation: clone(op), phase: 'Running', startedAt: metaTime() };
      app.status.operationState = st;
      this.#touch(rec);
    }
    if (st.phase === 'Terminating') {
      this.#finish(rec, st, 'Failed', 'Operation terminated', undefined);
      return true;
    }
    if (rec.holds > 0) return false;
    const result = await this.#runSync(rec, op.sync);
    // A terminate request may have arrived while the sync ran: the sync's outcome stands, as upstream's does once applied.
    this.#finish(rec, st, result.phase, result.message, result.revision === undefined ? undefined : { revision: result.revision, resources: result.resources });
    return true;
  }

  #finish(rec: AppRecord, st: OperationState, phase: OperationPhase, message: string, result: { revision: string; resources: ResourceResult[] } | undefined): void {
    const { app } = rec;
    const finishedAt = metaTime();
    st.phase = phase;
    st.message = message;
    st.finishedAt = finishedAt;
    if (result) st.syncResult = { ...(result.resources.length > 0 ? { resources: result.resources } : {}), revision: result.revision, source: clone(app.spec.source) };
    if (phase === 'Succeeded' && result && !st.operation.sync.dryRun) {
      const history = app.status.history ?? [];
      history.push({ revision: result.revision, deployedAt: finishedAt, id: history.length > 0 ? history[history.length - 1].id + 1 : 0, source: clone(app.spec.source), deployStartedAt: st.startedAt, initiatedBy: { ...st.operation.initiatedBy } });
      const limit = app.spec.revisionHistoryLimit ?? 10;
      app.status.history = history.slice(Math.max(0, history.length - limit));
    }
    delete app.operation;
    this.#touch(rec);
  }

  async #runSync(rec: AppRecord, sync: SyncOperation): Promise<{ phase: OperationPhase; message: string; revision?: string; resources: ResourceResult[] }> {
    const { app } = rec;
    const repo = this.#repoPath(rec);
    let target: TargetState;
    try {
      const wanted = sync.revision ? sync.revision : await resolveRevision(repo, app.spec.source.targetRevision);
      // A full SHA that is not in the repository fails when its tree is extracted.
      const sha = isCommitSha(wanted) ? wanted.toLowerCase() : await commitOf(repo, wanted);
      target = rec.target?.revision === sha ? rec.target : await this.#loadTarget(rec, sha);
    } catch (e) {
      if (!(e instanceof GitError || e instanceof RenderError || e instanceof KubeError)) throw e;
      return { phase: 'Error', message: `ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = ${e.message}`, resources: [] };
    }
    if (rec.failNext !== undefined) {
      const message = rec.failNext;
      rec.failNext = undefined;
      return { phase: 'Failed', message, revision: target.revision, resources: [] };
    }
    const base = (t: TargetObject): Omit<ResourceResult, 'status' | 'message' | 'hookPhase'> => {
      const gv = groupVersion(String(t.obj.apiVersion));
      return { group: gv.group, version: gv.version, kind: String(t.obj.kind), namespace: t.namespace, name: t.name };
    };
    const syncOptions = [...(app.spec.syncPolicy?.syncOptions ?? []), ...(sync.syncOptions ?? [])];
    if (syncOptions.includes('CreateNamespace=true') && !sync.dryRun) {
      try {
        const nsInfo = await this.o.kube.kind('v1', 'Namespace');
        if (!(await this.o.kube.get(nsInfo, '', app.spec.destination.namespace))) {
          await this.o.kube.apply(nsInfo, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: app.spec.destination.namespace } }, false);
        }
      } catch (e) {
        return { phase: 'Failed', message: `failed to create namespace ${app.spec.destination.namespace}: ${msgOf(e)}`, revision: target.revision, resources: [] };
      }
    }
    // Dry run first: any refusal fails the whole operation before anything is written.
    const dryFailures: ResourceResult[] = [];
    for (const t of target.objects) {
      try {
        if (!t.info) throw new KubeError(404, 'NotFound', t.infoError ?? 'unknown kind');
        await this.o.kube.apply(t.info, t.namespace, t.obj, true);
      } catch (e) {
        if (!(e instanceof KubeError)) throw e;
        dryFailures.push({ ...base(t), status: 'SyncFailed', message: e.message, hookPhase: 'Failed', syncPhase: 'Sync' });
      }
    }
    if (dryFailures.length > 0) return { phase: 'Failed', message: 'one or more objects failed to apply (dry run)', revision: target.revision, resources: dryFailures };
    if (sync.dryRun) {
      const resources = target.objects.map((t): ResourceResult => ({ ...base(t), status: 'Synced', message: `${qualified(t.info, t.obj)}/${t.name} serverside-applied (server dry run)`, hookPhase: 'Succeeded', syncPhase: 'Sync' }));
      return { phase: 'Succeeded', message: 'successfully synced (all tasks run)', revision: target.revision, resources };
    }
    const results: ResourceResult[] = [];
    const failures: string[] = [];
    let extras: Array<{ obj: Obj; info: KindInfo }> = [];
    try { extras = await this.#extras(rec, target.objects); } catch (e) { if (!(e instanceof KubeError)) throw e; }
    for (const x of extras) {
      const m = x.obj.metadata as Obj;
      const gv = groupVersion(String(x.obj.apiVersion));
      const r: ResourceResult = { group: gv.group, version: gv.version, kind: String(x.obj.kind), namespace: String(m.namespace ?? ''), name: String(m.name), syncPhase: 'Sync' };
      if (!sync.prune) { results.push({ ...r, status: 'PruneSkipped', message: 'ignored (requires pruning)', hookPhase: 'Succeeded' }); continue; }
      try {
        await this.o.kube.delete(x.info, String(m.namespace ?? ''), String(m.name));
        results.push({ ...r, status: 'Pruned', message: 'pruned', hookPhase: 'Succeeded' });
      } catch (e) {
        if (!(e instanceof KubeError)) throw e;
        failures.push(e.message);
        results.push({ ...r, status: 'SyncFailed', message: e.message, hookPhase: 'Failed' });
      }
    }
    for (const t of target.objects) {
      const info = t.info as KindInfo;
      rec.kinds.set(`${String(t.obj.apiVersion)}/${String(t.obj.kind)}`, { apiVersion: String(t.obj.apiVersion), kind: String(t.obj.kind) });
      try {
        await this.o.kube.apply(info, t.namespace, t.obj, false);
        results.push({ ...base(t), status: 'Synced', message: `${qualified(info, t.obj)}/${t.name} serverside-applied`, hookPhase: 'Running', syncPhase: 'Sync' });
      } catch (e) {
        if (!(e instanceof KubeError)) throw e;
        failures.push(e.message);
        results.push({ ...base(t), status: 'SyncFailed', message: e.message, hookPhase: 'Failed', syncPhase: 'Sync' });
      }
    }
    if (failures.length > 0) return { phase: 'Failed', message: `one or more objects failed to apply, reason: ${failures.join(',')}`, revision: target.revision, resources: results };
    return { phase: 'Succeeded', message: 'successfully synced (all tasks run)', revision: target.revision, resources: results };
  }

  // ------------------------------------------------------------------ test controls

  /** Operations of the app stay Running (after starting) until the returned function is called. */
  hold(name: string): () => void {
    const rec = this.#record(name);
    rec.holds += 1;
    let released = false;
    return () => { if (!released) { released = true; rec.holds -= 1; } };
  }

  /** The next operation of the app ends Failed with `message`, applying nothing. */
  failNextSync(name: string, message: string): void {
    this.#record(name).failNext = message;
  }

  /** Every resource of the app that has a health check reports `health` (a custom health check, in effect) until undone. */
  overrideHealth(name: string, health: HealthStatus): () => void {
    const rec = this.#record(name);
    const h = { ...health };
    rec.healthOverride = h;
    return () => { if (rec.healthOverride === h) rec.healthOverride = undefined; };
  }

  /** Sets or clears `spec.syncPolicy.automated`. */
  setAutoSync(name: string, automated: SyncPolicy['automated'] | false): void {
    const rec = this.#record(name);
    const { spec } = rec.app;
    if (automated) spec.syncPolicy = { ...(spec.syncPolicy ?? {}), automated: { ...automated } };
    else if (spec.syncPolicy) {
      delete spec.syncPolicy.automated;
      if (Object.keys(spec.syncPolicy).length === 0) delete spec.syncPolicy;
    }
    rec.app.metadata.generation += 1;
    this.#touch(rec);
  }
}
