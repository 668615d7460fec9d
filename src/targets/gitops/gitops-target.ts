/**
 * The GitOps target: a release is deployed by a commit to a config repository that Argo CD
 * syncs, as the runbook does it by hand — set the image tag in
 * `helm/environments/<env>-env/image-tags.yaml`, commit, push, let Argo CD sync, wait. Gangway
 * does each step itself and does not take "sync finished" for "deployed": Kargo users saw
 * promotions marked successful while the app was degraded and sync errors shown as success
 * (akuity/kargo #5400, #4673, #5166). A rollout is done only when
 *
 * 1. the Application's last operation Succeeded at exactly Gangway's commit,
 * 2. the Application is Synced at that commit (or at a later commit that keeps its value),
 * 3. the cluster runs it: the Deployment rolled out by `kubectl rollout status` rules, its pods
 *    of the release ready, none crash-looping, restarts within `restartLimit`,
 * 4. and the Application has been Healthy for `settleMs` on end.
 *
 * It fails at once on an operation Failed or Error (with Argo CD's message and the failing
 * resources), on Degraded health (with the resources' messages), on a pod that cannot recover,
 * and on a later commit by someone else that changed the value; and after `syncTimeoutMs`
 * counted from the commit's own time (so a restarted orchestrator keeps the deadline), naming
 * what it still waited for.
 *
 * Rollback is a revert of the failed deployment's commit (found again by its trailers), or a
 * commit writing the stable release's value when the revert conflicts; pushed and synced the
 * same way. Every method is idempotent: Gangway's commits are found again by their trailers, and
 * a sync is asked for only when none is running or succeeded at the commit. Gangway marks its
 * syncs (`operation.info` `gangway`), so an operation someone else started is recognised and a
 * deployment refuses to start over it, naming who started it.
 *
 * Traffic is what the manifests in Git describe: one release at a time, rolled by the
 * Deployment (rolling only in this version).
 */
import type { ArgoCDConfig, GitOpsTargetConfig, KubeAccess } from '../../config/helm.js';
import type { ServiceEnvConfig } from '../../config/types.js';
import { GangwayError, UnreachableError } from '../../errors.js';
import { GitRunner, redact, type GitIdentity } from '../../git/runner.js';
import type { KubeConnection } from '../kubernetes/api.js';
import type { KubeDeployment, KubePod, KubeService } from '../kubernetes/objects.js';
import { deploymentRolloutStatus, isPodReady, podProblem, podRestarts } from '../kubernetes/rollout-status.js';
import { unsupportedTraffic } from '../registry.js';
import type {
  LogLine, PlatformStatus, Reach, ReleaseRef, RolloutContext, RolloutHandle, RolloutStatus, Target, TargetCapabilities, TargetInstance, Traffic,
} from '../target.js';
import { ArgoCDClient, isOperationInProgress, type ArgoApplication, type ArgoOperation } from './argocd.js';
import { GitOpsError } from './errors.js';
import { changeMessage, parseChange, type ChangeTrailers } from './message.js';
import { GitOpsRepo, type GitOpsRepoOptions, type LogEntry } from './repo.js';
import { readValue } from './values-file.js';

/** The name of the `operation.info` entry that marks a sync Gangway asked for; its value is the deployment and stage. */
export const GANGWAY_INFO = 'gangway';

/** Commits of the values file read back when looking for Gangway's own. */
const HISTORY_LIMIT = 200;

type Cfg = Omit<ServiceEnvConfig, 'target'> & { target: GitOpsTargetConfig };

/**
 * Narrows a service's config to the GitOps target's.
 *
 * @example gitopsCfg(cfg).target.application // 'web-{environment}'
 */
export function gitopsCfg(cfg: ServiceEnvConfig): Cfg {
  if ((cfg.target as { kind: string }).kind !== 'gitops') {
    throw new GangwayError('invalid_config', `${cfg.service} in ${cfg.environment} runs on the ${(cfg.target as { kind: string }).kind} target, not gitops`);
  }
  return cfg as unknown as Cfg;
}

/** What the GitOps target is built with. */
export interface GitOpsTargetOptions {
  /** Gangway's state folder: the clones live in `<stateDir>/gitops/`. */
  stateDir: string;
  /** Author and committer of Gangway's commits. Default `Gangway <gangway@localhost>`. */
  author?: GitIdentity;
  /** Opens (and caches) the connection to the cluster Argo CD deploys to. */
  connect: (k: KubeAccess) => Promise<KubeConnection>;
  /** Makes the Argo CD client of a config (tests pass one trusting their CA); default `new ArgoCDClient(cfg)`. */
  argocd?: (cfg: ArgoCDConfig) => ArgoCDClient;
  /** Push retries, backoff and git environment of the clones. */
  git?: Pick<GitOpsRepoOptions, 'pushRetries' | 'backoffMs' | 'sleep' | 'env' | 'commandTimeoutMs'>;
  /** The clock (epoch ms); tests move it to pass the settle period and the sync timeout. */
  now?: () => number;
}

/** The names a service's config resolves to in an environment. */
interface Names { file: string; application: string; short: (sha: string) => string }

/**
 * The Target port on a config repository and Argo CD (see the file's header).
 *
 * @example
 * const connector = kubeConnector();
 * const target = new GitOpsTarget({ stateDir: config.stateDir, connect: (k) => connector.connect(k) });
 * const handle = await target.rollout(cfg, { version: '1.4.2', image: null }, { deploymentId: 'd-7', actor: 'alice', reason: 'CHG-42', stage: 'deploy' });
 * // { version: '1.4.2', revision: 'commit 3f2a9c1…' }
 * await target.rolloutStatus(cfg, handle); // { state: 'progressing', reason: 'web-staging is Progressing: …' }
 */
export class GitOpsTarget implements Target {
  private readonly opts: GitOpsTargetOptions;
  private readonly now: () => number;
  private readonly repos = new Map<string, Promise<GitOpsRepo>>();
  private readonly clients = new Map<string, ArgoCDClient>();
  /** When each Application was first seen Healthy at a commit (by app and commit); the settle period counts from it. */
  private readonly healthySince = new Map<string, number>();
  private readonly commitTimes = new Map<string, number>();
  /** Values written for versions (a digest for a pinned release), so a pod's image names its release. */
  private readonly versionsByValue = new Map<string, string>();

  constructor(opts: GitOpsTargetOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** One release at a time, rolled by Argo CD's sync of the manifests (rolling only). */
  capabilities(cfg: ServiceEnvConfig): TargetCapabilities {
    gitopsCfg(cfg);
    return { weights: 'none', headerRoutes: false, sticky: false, preview: false, requestMetrics: false, nativeRolling: true, jobs: false };
  }

  // ---- rollout --------------------------------------------------------------------------

  /**
   * Writes the release's value in Git (a revert on rollback), pushes, and asks Argo CD to sync
   * at that commit. Idempotent: this deployment's commit for this stage and version, still
   * what the file holds, is found again by its trailers and not made twice; a sync running or
   * succeeded at the commit is not asked for again.
   */
  async rollout(cfg: ServiceEnvConfig, release: ReleaseRef, ctx?: RolloutContext): Promise<RolloutHandle> {
    const c = gitopsCfg(cfg);
    const n = names(c);
    const repo = await this.repo(c);
    const argo = this.argo(c);
    const value = writtenValue(release);
    this.remember(value, release.version);
    const stage = ctx?.stage ?? 'deploy';
    const deploymentId = ctx?.deploymentId ?? 'manual';
    const own = await this.ownChanges(c, repo, n.file);
    const mine = own.find((e) => e.change.deploymentId === deploymentId && e.change.action === stage && e.change.version === release.version);
    let commit: string | null = null;
    if (mine && (await this.valueAt(c, repo, n.file, await repo.head())) === value) commit = mine.commit;
    if (commit === null) {
      const app = await argo.getApplication(n.application);
      const running = runningOperation(app);
      if (running && !isGangways(running)) throw foreignOperation(c, n, running);
      const message = changeMessage({
        service: c.service, environment: c.environment, version: release.version, value, deploymentId,
        actor: ctx?.actor ?? 'gangway', reason: ctx?.reason ?? null, action: stage,
      });
      const failed = stage === 'rollback' ? own.find((e) => e.change.deploymentId === deploymentId && e.change.action === 'deploy') : undefined;
      if (failed) {
        const r = await repo.revert({ commit: failed.commit, message, fallback: { file: n.file, key: c.target.key, value } });
        commit = r.commit;
      } else {
        commit = (await repo.setKey({ file: n.file, key: c.target.key, value, message })).commit;
      }
    }
    await this.ensureSync(c, n, argo, commit, `${deploymentId} ${stage}`);
    return { version: release.version, revision: `commit ${commit}` };
  }

  /**
   * How the rollout at the handle's commit stands (see the file's header for what `done`
   * takes). Read-only, apart from asking Argo CD to refresh.
   */
  async rolloutStatus(cfg: ServiceEnvConfig, handle: RolloutHandle): Promise<RolloutStatus> {
    const c = gitopsCfg(cfg);
    const n = names(c);
    const m = /^commit ([0-9a-f]{7,64})$/.exec(handle.revision);
    if (!m) return { state: 'failed', reason: `"${handle.revision}" is not a commit of the gitops target; deploy ${handle.version} again` };
    const commit = m[1];
    const repo = await this.repo(c);
    const app = await this.argo(c).getApplication(n.application, { refresh: 'normal' });
    const verdict = await this.judge(c, n, repo, app, commit, handle.version);
    if (verdict.state !== 'progressing') return verdict;
    const committedAt = await this.commitTime(repo, commit);
    if (this.now() - committedAt >= c.target.syncTimeoutMs) {
      return {
        state: 'failed',
        reason: `${n.application} did not reach Synced, Succeeded and Healthy at ${n.short(commit)} within ${duration(c.target.syncTimeoutMs)} of the commit (target.gitops.syncTimeout); still waiting for: ${verdict.reason}`,
      };
    }
    return verdict;
  }

  // ---- what runs --------------------------------------------------------------------------

  /** The Deployment's pods, as instances of the release their image names. Read-only. */
  async instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]> {
    const c = gitopsCfg(cfg);
    const conn = await this.opts.connect(c.target.cluster);
    const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
    if (!dep) return [];
    const out: TargetInstance[] = [];
    for (const p of await podsOf(conn, dep)) out.push(await this.toInstance(c, p));
    return out;
  }

  /** The one release the Deployment runs, with all the weight; nothing when it does not exist. Read-only. */
  async traffic(cfg: ServiceEnvConfig): Promise<Traffic> {
    const c = gitopsCfg(cfg);
    const served = await this.served(c);
    return { versions: served ? [{ version: served, weight: 100 }] : [], preview: null };
  }

  /**
   * Accepts only the routing Git already gives: all traffic to the release the Deployment runs
   * (or none asked). Anything else is refused: moving traffic is a commit, made by `rollout`.
   */
  async setTraffic(cfg: ServiceEnvConfig, traffic: Traffic): Promise<void> {
    const c = gitopsCfg(cfg);
    const refused = unsupportedTraffic('gitops', this.capabilities(cfg), traffic);
    if (refused) throw new GangwayError('invalid_config', `${c.service}/${c.environment}: ${refused}`);
    const wanted = traffic.versions.filter((v) => v.weight > 0).map((v) => v.version);
    if (wanted.length === 0) return;
    const served = await this.served(c);
    if (wanted[0] === served) return;
    throw new GangwayError('invalid_argument',
      `the gitops target serves what Git says: ${c.service} in ${c.environment} runs ${served ?? 'nothing'}, and traffic cannot be sent to ${wanted[0]} without a commit`,
      'deploy the release (a rolling rollout commits it to Git); blue-green and canary need a target with traffic weights');
  }

  /** The Service through the API server's proxy, when it serves `version` with a ready pod; never a preview. Read-only. */
  async reach(cfg: ServiceEnvConfig, version: string, opts: { preview?: boolean } = {}): Promise<Reach | null> {
    if (opts.preview) return null;
    const c = gitopsCfg(cfg);
    const conn = await this.opts.connect(c.target.cluster);
    const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
    if (!dep || (await this.versionOfDeployment(c, dep)) !== version) return null;
    if (!(await podsOf(conn, dep)).some((p) => isPodReady(p) && !p.metadata.deletionTimestamp)) return null;
    const name = c.target.service;
    const svc = await conn.api.get<KubeService>('Service', conn.namespace, name);
    const port = svc?.spec?.ports?.[0]?.port;
    if (!svc || port === undefined) return null;
    return {
      url: conn.api.proxyUrl(conn.namespace, 'services', name, port, '').replace(/\/+$/, ''),
      headers: await conn.api.authHeaders(), dispatcher: conn.api.dispatcher,
      describe: `service ${name} in ${conn.namespace} via ${conn.server}`,
    };
  }

  /** The last lines of each pod's log (of one release when `version` is given). Read-only. */
  async logs(cfg: ServiceEnvConfig, q: { version?: string; lines: number }): Promise<LogLine[]> {
    const c = gitopsCfg(cfg);
    const conn = await this.opts.connect(c.target.cluster);
    const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
    if (!dep) return [];
    const out: LogLine[] = [];
    for (const p of await podsOf(conn, dep)) {
      const version = await this.versionOfPod(c, p);
      if (q.version !== undefined && version !== q.version) continue;
      const container = c.target.container ?? p.spec?.containers[0]?.name;
      const text = await conn.api.logs(conn.namespace, p.metadata.name, { container, tailLines: q.lines })
        .catch((err: unknown) => `[gangway] no log: ${err instanceof Error ? err.message : String(err)}`);
      out.push({ instance: p.metadata.name, version, lines: text.split('\n').filter((l) => l !== '') });
    }
    return out;
  }

  /**
   * Git decides the replicas, so `scale` only reports and retires: a count above 0 for the
   * release served returns its instances; 0 for a release not served does nothing; 0 for the
   * release served reverts Gangway's commit of it (and syncs), or says why it cannot. Starting a
   * release that is not served is refused: that is a rollout. Idempotent.
   */
  async scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number): Promise<TargetInstance[]> {
    const c = gitopsCfg(cfg);
    const served = await this.served(c);
    if (count > 0) {
      if (served !== release.version) {
        throw new GangwayError('invalid_argument', `the gitops target starts ${release.version} of ${c.service} in ${c.environment} only by a rollout (a commit to Git); it runs ${served ?? 'nothing'}`,
          'use the rolling strategy: it plans one rollout step for this target');
      }
      return (await this.instances(cfg)).filter((i) => i.version === release.version);
    }
    if (served !== release.version) return [];
    const n = names(c);
    const repo = await this.repo(c);
    const own = await this.ownChanges(c, repo, n.file);
    const value = writtenValue(release);
    const last = own.find((e) => e.change.value === value && e.change.action === 'deploy');
    if (!last || last.parents.length !== 1) {
      throw new GangwayError('conflict', `cannot stop ${release.version} of ${c.service} in ${c.environment}: Git (${n.file}) names it and no commit of Gangway's wrote it, so there is nothing to revert`,
        `change ${c.target.key} in ${n.file} by hand, or deploy another release`);
    }
    const previous = await this.valueAt(c, repo, n.file, last.parents[0]);
    if (previous === null) throw new GangwayError('conflict', `cannot stop ${release.version} of ${c.service} in ${c.environment}: ${n.file} had no ${c.target.key} before Gangway's commit ${n.short(last.commit)}`);
    const message = changeMessage({ service: c.service, environment: c.environment, version: this.versionsByValue.get(previous) ?? previous, value: previous,
      deploymentId: last.change.deploymentId, actor: 'gangway', reason: `retire ${release.version}`, action: 'rollback' });
    const r = await repo.revert({ commit: last.commit, message, fallback: { file: n.file, key: c.target.key, value: previous } });
    await this.ensureSync(c, n, this.argo(c), r.commit, `${last.change.deploymentId} retire`);
    return [];
  }

  // ---- status -------------------------------------------------------------------------------

  /**
   * The Application's sync, health and last operation; drift when it is OutOfSync with the
   * branch or the file's value is not what Gangway last wrote; Argo CD's sync history, newest
   * first. Read-only (a refresh, so what it shows is current).
   */
  async platformStatus(cfg: ServiceEnvConfig): Promise<PlatformStatus> {
    const c = gitopsCfg(cfg);
    const n = names(c);
    const repo = await this.repo(c);
    const app = await this.argo(c).getApplication(n.application, { refresh: 'normal' });
    const { sync, health, operationState: st } = app.status;
    const lines: PlatformStatus['lines'] = [
      { label: 'argo cd', value: `${n.application} ${sync.status}${sync.revision ? ` at ${n.short(sync.revision)}` : ''}, ${health.status}${health.message ? ` (${health.message})` : ''}` },
    ];
    if (st) {
      const rev = operationRevision(st.operation, st.syncResult?.revision);
      lines.push({ label: 'last sync', value: `${st.phase}${rev ? ` at ${n.short(rev)}` : ''} by ${initiator(st.operation)}${st.message ? `: ${st.message}` : ''}` });
    }
    const head = await repo.head();
    const current = await this.valueAt(c, repo, n.file, head);
    lines.push({ label: 'git', value: `${c.target.key} = ${current ?? '(none)'} in ${n.file} at ${n.short(head)} on ${c.target.branch}` });
    const drift: string[] = [];
    const own = (await this.ownChanges(c, repo, n.file))[0];
    if (own && current !== own.change.value) {
      const log = await repo.log(n.file, 1);
      const by = log[0] && log[0].commit !== own.commit ? ` by ${log[0].author} in ${n.short(log[0].commit)} ("${log[0].subject}")` : '';
      drift.push(`${n.file} was changed outside Gangway${by}: ${c.target.key} is ${current ?? '(none)'}, Gangway wrote ${own.change.value} in ${n.short(own.commit)}`);
    }
    if (sync.status === 'OutOfSync') {
      const out = (app.status.resources ?? []).filter((r) => r.status === 'OutOfSync').map((r) => `${r.kind}/${r.name}`);
      drift.push(`${n.application} is OutOfSync with ${sync.revision ? n.short(sync.revision) : 'its branch'}${own ? ` (Gangway's last commit ${n.short(own.commit)})` : ''}${out.length > 0 ? `: ${out.join(', ')} differ` : ''} — Git or the cluster was changed outside Gangway`);
    }
    const history = [...(app.status.history ?? [])].reverse().slice(0, 10).map((h) => ({
      revision: h.revision, at: h.deployedAt ?? null, status: 'Succeeded',
      description: `synced ${n.short(h.revision)} by ${h.initiatedBy?.automated ? 'automated sync' : h.initiatedBy?.username ?? 'unknown'}`,
    }));
    return { lines, drift: drift.length > 0 ? drift.join('; ') : null, history };
  }

  /** Closes the Argo CD clients. */
  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((a) => a.close()));
  }

  // ---- internals ----------------------------------------------------------------------------

  /** The verdict on the rollout at `commit`, without the timeout. */
  private async judge(c: Cfg, n: Names, repo: GitOpsRepo, app: ArgoApplication, commit: string, version: string): Promise<RolloutStatus> {
    const name = n.application;
    const progressing = (reason: string): RolloutStatus => {
      this.healthySince.delete(`${name}\u0000${commit}`);
      return { state: 'progressing', reason };
    };
    // 1. the operation at the commit
    const running = runningOperation(app);
    const st = app.status.operationState;
    if (running) {
      const rev = operationRevision(running);
      if (rev && !sameCommit(rev, commit)) {
        const superseded = await this.supersededBy(c, n, repo, commit, rev);
        if (superseded) return { state: 'failed', reason: `${initiator(running)} started a sync of ${name} at ${n.short(rev)} meanwhile: ${superseded}` };
      }
      return progressing(`Argo CD syncs ${name} at ${n.short(rev ?? commit)} (operation ${st?.phase ?? 'requested'} by ${initiator(running)})`);
    }
    const opRev = st ? operationRevision(st.operation, st.syncResult?.revision) : null;
    if (!st || !opRev) return progressing(`Argo CD has not started a sync of ${name} at ${n.short(commit)}`);
    if (!sameCommit(opRev, commit)) {
      const superseded = await this.supersededBy(c, n, repo, commit, opRev);
      if (superseded && (await repo.isAncestor(commit, opRev))) return { state: 'failed', reason: `${initiator(st.operation)} synced ${name} at ${n.short(opRev)} after Gangway's commit: ${superseded}` };
      if (superseded) return progressing(`Argo CD has not synced ${name} at ${n.short(commit)} yet (its last sync was at ${n.short(opRev)})`);
    }
    if (st.phase === 'Failed' || st.phase === 'Error') {
      const bad = (st.syncResult?.resources ?? []).filter((r) => r.status === 'SyncFailed').map((r) => `${r.kind}/${r.name}: ${r.message ?? 'failed'}`);
      return { state: 'failed', reason: `the Argo CD sync of ${name} at ${n.short(commit)} ended ${st.phase}: ${st.message ?? 'no message'}${bad.length > 0 ? ` (${bad.join('; ')})` : ''}` };
    }
    if (st.phase !== 'Succeeded') return progressing(`the Argo CD sync of ${name} at ${n.short(commit)} is ${st.phase}`);
    // 2. the comparison with Git
    const sync = app.status.sync;
    if (sync.revision && !sameCommit(sync.revision, commit)) {
      const superseded = await this.supersededBy(c, n, repo, commit, sync.revision);
      if (superseded) return { state: 'failed', reason: `${name} now follows ${n.short(sync.revision)}: ${superseded}` };
    }
    if (sync.status !== 'Synced') {
      const out = (app.status.resources ?? []).filter((r) => r.status && r.status !== 'Synced').map((r) => `${r.kind}/${r.name}`);
      const cond = (app.status.conditions ?? []).map((x) => `${x.type}: ${x.message}`);
      return progressing(`${name} is ${sync.status} at ${sync.revision ? n.short(sync.revision) : 'an unknown revision'}${out.length > 0 ? ` (${out.join(', ')})` : ''}${cond.length > 0 ? `: ${cond.join('; ')}` : ''}`);
    }
    // 3. health as Argo CD judges it
    const health = app.status.health;
    const messages = (app.status.resources ?? []).filter((r) => r.health && r.health.status !== 'Healthy')
      .map((r) => `${r.kind}/${r.name} ${r.health?.status}${r.health?.message ? `: ${r.health.message}` : ''}`);
    if (health.status === 'Degraded') {
      return { state: 'failed', reason: `${name} is Degraded at ${n.short(commit)}${health.message ? `: ${health.message}` : ''}${messages.length > 0 ? ` (${messages.join('; ')})` : ''}` };
    }
    // 4. the cluster itself
    const cluster = await this.clusterVerdict(c, await this.valueAt(c, repo, n.file, commit), version);
    if (cluster.state === 'failed') return cluster;
    if (health.status !== 'Healthy') return progressing(`${name} is ${health.status}${messages.length > 0 ? `: ${messages.join('; ')}` : ''}`);
    if (cluster.state === 'progressing') return progressing(cluster.reason);
    // 5. Healthy held for the settle period
    const key = `${name}\u0000${commit}`;
    const since = this.healthySince.get(key) ?? this.now();
    this.healthySince.set(key, since);
    const held = this.now() - since;
    if (held < c.target.settleMs) {
      return { state: 'progressing', reason: `${name} Synced and Healthy at ${n.short(commit)} for ${duration(held)} of the ${duration(c.target.settleMs)} settle period (target.gitops.settle); ${cluster.reason}` };
    }
    this.healthySince.delete(key);
    return { state: 'done', reason: `${name} Synced, last sync Succeeded and Healthy at ${n.short(commit)} for ${duration(held)}; ${cluster.reason}` };
  }

  /** `kubectl rollout status` on the Deployment, and its pods of the release: ready, not crash-looping, restarts within the limit. */
  private async clusterVerdict(c: Cfg, value: string | null, version: string): Promise<RolloutStatus> {
    const conn = await this.opts.connect(c.target.cluster);
    const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
    if (!dep) return { state: 'progressing', reason: `Deployment ${c.target.deployment} does not exist in namespace ${conn.namespace} (target.gitops.deployment)` };
    const image = containerImage(c, dep.spec?.template?.spec.containers ?? []);
    if (value !== null && !imageHolds(image, value)) {
      return { state: 'progressing', reason: `Deployment ${c.target.deployment} runs ${image ?? 'no image'}, not ${value} (${version}) written to Git` };
    }
    const pods = (await podsOf(conn, dep)).filter((p) => !p.metadata.deletionTimestamp && containerImage(c, p.spec?.containers ?? []) === image);
    for (const p of pods) {
      const problem = podProblem(p, c.target.restartLimit, 'target.gitops.restartLimit');
      if (problem) return { state: 'failed', reason: problem.replace('target.kubernetes.restartLimit', 'target.gitops.restartLimit') };
    }
    const rolled = deploymentRolloutStatus(dep);
    if (rolled.state !== 'done') return rolled;
    const ready = pods.filter(isPodReady).length;
    const wanted = dep.spec?.replicas ?? c.target.instances;
    if (ready < wanted) return { state: 'progressing', reason: `${ready} of ${wanted} pods of ${version} ready` };
    return { state: 'done', reason: `${rolled.reason}, ${ready} of ${wanted} pods of ${version} ready` };
  }

  /**
   * Why `rev` (a commit Argo CD syncs or compares with instead of `commit`) does not carry
   * Gangway's change, or null when it does: it is `commit`, or a later commit that leaves the
   * value as Gangway wrote it (another service's change in the same repository).
   */
  private async supersededBy(c: Cfg, n: Names, repo: GitOpsRepo, commit: string, rev: string): Promise<string | null> {
    if (sameCommit(rev, commit)) return null;
    const ours = await this.valueAt(c, repo, n.file, commit);
    const later = await repo.isAncestor(commit, rev).catch(() => false);
    if (!later) return `${n.short(rev)} does not contain Gangway's commit ${n.short(commit)}`;
    const theirs = await this.valueAt(c, repo, n.file, rev);
    if (theirs === ours) return null;
    const [last] = await repo.log(n.file, 1);
    const who = last && last.commit !== commit ? ` by ${last.author} in ${n.short(last.commit)} ("${last.subject}")` : '';
    return `${c.target.key} in ${n.file} was changed${who} to ${theirs ?? '(none)'} after Gangway wrote ${ours ?? '(none)'}`;
  }

  /** Asks Argo CD to sync at `commit` unless a sync is running or succeeded there already. */
  private async ensureSync(c: Cfg, n: Names, argo: ArgoCDClient, commit: string, mark: string): Promise<void> {
    const app = await argo.getApplication(n.application, { refresh: 'normal' });
    const running = runningOperation(app);
    if (running) {
      const rev = operationRevision(running);
      if (rev && sameCommit(rev, commit) && (isGangways(running) || running.initiatedBy?.automated)) return;
      if (!isGangways(running)) throw foreignOperation(c, n, running, commit);
      // Gangway's own earlier sync (a rollback after a sync that timed out): end it, and let the runner retry this call,
      // which finds the commit again and syncs it once Argo CD has ended the operation.
      await argo.terminateOperation(n.application).catch(() => undefined);
      throw new UnreachableError(`Argo CD is ending Gangway's earlier sync of ${n.application} at ${n.short(rev ?? '?')}; ${n.short(commit)} is committed and will be synced when it has ended`,
        'nothing to do: the step is retried');
    }
    const st = app.status.operationState;
    const opRev = st ? operationRevision(st.operation, st.syncResult?.revision) : null;
    if (st && opRev && sameCommit(opRev, commit) && st.phase === 'Succeeded' && !st.operation.sync?.dryRun) return;
    const automated = Boolean(app.spec.syncPolicy?.automated);
    try {
      // An automated Application refuses a revision other than its branch; its branch head is the commit just pushed.
      await argo.sync(n.application, { revision: automated ? undefined : commit, prune: c.target.prune, infos: [{ name: GANGWAY_INFO, value: mark }] });
    } catch (err) {
      if (!isOperationInProgress(err)) throw err;
      // Argo CD's automated sync may have started between the read and the request.
      const again = await argo.getApplication(n.application);
      const op = runningOperation(again);
      if (op && sameCommit(operationRevision(op) ?? '', commit)) return;
      if (op && !isGangways(op)) throw foreignOperation(c, n, op, commit);
      throw err;
    }
  }

  private async served(c: Cfg): Promise<string | null> {
    const conn = await this.opts.connect(c.target.cluster);
    const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
    return dep ? this.versionOfDeployment(c, dep) : null;
  }

  private async versionOfDeployment(c: Cfg, dep: KubeDeployment): Promise<string | null> {
    const image = containerImage(c, dep.spec?.template?.spec.containers ?? []);
    return image ? this.versionOfValue(c, imageValue(image)) : null;
  }

  private async versionOfPod(c: Cfg, p: KubePod): Promise<string> {
    const image = containerImage(c, p.spec?.containers ?? []);
    return image ? this.versionOfValue(c, imageValue(image)) : 'unknown';
  }

  /** The release a value written to Git stands for: itself, or for a digest the version Gangway wrote it for. */
  private async versionOfValue(c: Cfg, value: string): Promise<string> {
    if (!value.startsWith('sha256:')) return value;
    const known = this.versionsByValue.get(value);
    if (known) return known;
    const repo = await this.repo(c);
    for (const e of await this.ownChanges(c, repo, names(c).file)) this.remember(e.change.value, e.change.version);
    return this.versionsByValue.get(value) ?? value;
  }

  private remember(value: string, version: string): void {
    if (value === version) return;
    this.versionsByValue.set(value, version);
    if (this.versionsByValue.size > 1000) this.versionsByValue.delete(this.versionsByValue.keys().next().value!);
  }

  private async toInstance(c: Cfg, p: KubePod): Promise<TargetInstance> {
    const problem = podProblem(p, c.target.restartLimit, 'target.gitops.restartLimit');
    const ready = isPodReady(p);
    const cond = p.status?.conditions?.find((x) => x.type === 'Ready');
    const at = cond?.lastTransitionTime ? Date.parse(cond.lastTransitionTime) : null;
    return {
      id: p.metadata.name,
      version: await this.versionOfPod(c, p),
      state: p.metadata.deletionTimestamp ? 'stopping' : problem ? 'crashed' : ready ? 'ready' : 'starting',
      restarts: podRestarts(p),
      consecutiveFailures: 0,
      readyAt: ready && at !== null ? at : null,
      lastHealth: cond && at !== null ? { at, ok: ready, detail: ready ? 'pod Ready' : 'pod not Ready' } : null,
      failure: problem,
      detail: { pod: p.metadata.name, ip: p.status?.podIP ?? null, node: (p.spec?.nodeName as string | undefined) ?? null },
    };
  }

  /** Gangway's commits of this service in this environment, newest first. */
  private async ownChanges(c: Cfg, repo: GitOpsRepo, file: string): Promise<Array<LogEntry & { change: ChangeTrailers }>> {
    const out: Array<LogEntry & { change: ChangeTrailers }> = [];
    for (const e of await repo.log(file, HISTORY_LIMIT)) {
      const change = parseChange(e.subject, e.trailers);
      if (change && change.service === c.service && change.environment === c.environment) out.push({ ...e, change });
    }
    return out;
  }

  private async valueAt(c: Cfg, repo: GitOpsRepo, file: string, commit: string): Promise<string | null> {
    const text = await repo.fileAt(commit, file);
    if (text === null) return null;
    return readValue(text, file, c.target.key);
  }

  private async commitTime(repo: GitOpsRepo, commit: string): Promise<number> {
    const known = this.commitTimes.get(commit);
    if (known !== undefined) return known;
    const t = await repo.commitTime(commit);
    this.commitTimes.set(commit, t);
    if (this.commitTimes.size > 1000) this.commitTimes.delete(this.commitTimes.keys().next().value!);
    return t;
  }

  private argo(c: Cfg): ArgoCDClient {
    const a = c.target.argocd;
    const key = `${a.server}\u0000${a.tokenFromEnv}\u0000${a.insecure}`;
    let client = this.clients.get(key);
    if (!client) {
      client = this.opts.argocd ? this.opts.argocd(a) : new ArgoCDClient(a);
      this.clients.set(key, client);
    }
    return client;
  }

  /** The clone for the config's repository and branch; a working copy with `remote` is pushed to through that remote's URL. */
  private repo(c: Cfg): Promise<GitOpsRepo> {
    const key = `${c.target.repo}\u0000${c.target.remote ?? ''}\u0000${c.target.branch}`;
    let found = this.repos.get(key);
    if (!found) {
      found = (async () => {
        let url = c.target.repo;
        if (c.target.remote !== null) {
          const git = new GitRunner({
            cwd: c.target.repo, author: this.author(),
            fault: (message, hint, options) => new GitOpsError('invalid_config', message, hint, { repo: redact(c.target.repo) }, options),
          });
          const r = await git.run(['remote', 'get-url', '--', c.target.remote]);
          if (r.code !== 0) {
            throw new GitOpsError('invalid_config', `remote "${c.target.remote}" of ${redact(c.target.repo)} cannot be read (target.gitops.remote)`,
              `check with git -C ${redact(c.target.repo)} remote -v`, { repo: redact(c.target.repo) });
          }
          url = r.stdout.trim();
        }
        return new GitOpsRepo({ repo: url, branch: c.target.branch, stateDir: this.opts.stateDir, author: this.author(), ...this.opts.git });
      })();
      found.catch(() => this.repos.delete(key));
      this.repos.set(key, found);
    }
    return found;
  }

  private author(): GitIdentity {
    return this.opts.author ?? { name: 'Gangway', email: 'gangway@localhost' };
  }
}

// ---- helpers -------------------------------------------------------------------------------

function names(c: Cfg): Names {
  const fill = (s: string): string => s.replaceAll('{environment}', c.environment).replaceAll('{service}', c.service);
  return { file: fill(c.target.file), application: fill(c.target.application), short: (sha) => sha.slice(0, 7) };
}

/**
 * The value a release writes to Git: its version, or the digest (`sha256:…`) when its image is
 * pinned by digest.
 *
 * @example writtenValue({ version: '1.4.2', image: 'shop/web@sha256:9f2c…' }) // 'sha256:9f2c…'
 */
export function writtenValue(release: ReleaseRef): string {
  const at = release.image?.lastIndexOf('@sha256:') ?? -1;
  return release.image && at >= 0 ? release.image.slice(at + 1) : release.version;
}

/** The tag or digest of an image reference (`repo:tag` → `tag`, `repo@sha256:…` → `sha256:…`). */
function imageValue(image: string): string {
  const at = image.indexOf('@');
  if (at >= 0) return image.slice(at + 1);
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? image.slice(colon + 1) : 'latest';
}

function imageHolds(image: string | null, value: string): boolean {
  return image !== null && imageValue(image) === value;
}

function containerImage(c: Cfg, containers: Array<{ name: string; image?: string }>): string | null {
  const container = c.target.container ? containers.find((x) => x.name === c.target.container) : containers[0];
  return container?.image ?? null;
}

/** The Deployment's pods, by its selector. */
async function podsOf(conn: KubeConnection, dep: KubeDeployment): Promise<KubePod[]> {
  const labels = dep.spec?.selector?.matchLabels ?? {};
  const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  if (selector === '') return [];
  const { items } = await conn.api.list<KubePod>('Pod', conn.namespace, { labelSelector: selector });
  return items.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
}

/** The operation requested or running, or null. */
function runningOperation(app: ArgoApplication): ArgoOperation | null {
  if (app.operation) return app.operation;
  const st = app.status.operationState;
  return st && (st.phase === 'Running' || st.phase === 'Terminating') ? st.operation : null;
}

function operationRevision(op: ArgoOperation, result?: string): string | null {
  return result || op.sync?.revision || null;
}

function isGangways(op: ArgoOperation): boolean {
  return (op.info ?? []).some((i) => i.name === GANGWAY_INFO);
}

function initiator(op: ArgoOperation): string {
  if (op.initiatedBy?.automated) return 'Argo CD\'s automated sync';
  return op.initiatedBy?.username ? `user ${op.initiatedBy.username}` : 'an unknown user';
}

function sameCommit(a: string, b: string): boolean {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  return x.startsWith(y) || y.startsWith(x);
}

function foreignOperation(c: Cfg, n: Names, op: ArgoOperation, committed?: string): GangwayError {
  const rev = operationRevision(op);
  const already = committed ? `; Gangway's commit ${n.short(committed)} is pushed and not synced yet` : '';
  return new GangwayError('conflict',
    `Argo CD Application ${n.application} runs an operation Gangway did not start: a sync${rev ? ` of ${n.short(rev)}` : ''} by ${initiator(op)}${already}`,
    `wait for it to end (argocd app wait ${n.application}) or terminate it (argocd app terminate-op ${n.application}), then deploy again`,
    { application: n.application, initiatedBy: op.initiatedBy?.username ?? (op.initiatedBy?.automated ? 'automated' : null), service: c.service });
}

/** `5m`, `10s`, `1.5s`, `250ms`. */
function duration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${Math.round(ms / 100) / 10}s`;
  return `${Math.max(0, Math.round(ms))}ms`;
}
