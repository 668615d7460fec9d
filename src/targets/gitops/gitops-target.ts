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
 * Deployment; or, with keys the chart exposes for them (`target.gitops.blueGreen`, `.canary`,
 * see slots.ts), two releases side by side, where each `scale` and `setTraffic` of the
 * blue-green or canary strategy is a commit of those keys and a sync, waited for by the same
 * rules before the call returns (a failure throws `deployment_failed` with the reason).
 */
import type { ArgoCDConfig, GitOpsBlueGreenConfig, GitOpsCanaryConfig, GitOpsTargetConfig, KubeAccess } from '../../config/helm.js';
import type { ServiceEnvConfig } from '../../config/types.js';
import { GangwayError, UnreachableError } from '../../errors.js';
import { GitRunner, redact, type GitIdentity } from '../../git/runner.js';
import type { KubeConnection } from '../kubernetes/api.js';
import type { KubeDeployment, KubePod, KubeService } from '../kubernetes/objects.js';
import { deploymentRolloutStatus, isPodReady, podProblem, podRestarts } from '../kubernetes/rollout-status.js';
import { crashReport } from '../kubernetes/crash-report.js';
import { unsupportedTraffic } from '../registry.js';
import type {
  LogLine, PlatformStatus, Reach, ReleaseRef, RolloutContext, RolloutHandle, RolloutStatus, Target, TargetCapabilities, TargetInstance, Traffic,
} from '../target.js';
import { ArgoCDClient, isOperationInProgress, type ArgoApplication, type ArgoOperation } from './argocd.js';
import { GitOpsError } from './errors.js';
import { changeMessage, parseChange, type ChangeTrailers } from './message.js';
import { GitOpsRepo, type GitOpsRepoOptions, type LogEntry } from './repo.js';
import {
  blueGreenState, canaryState, changedOnly, otherSlot, readKeys, slotMessage, slotMode, SLOTS, watchedKeys, weightValues,
  type BlueGreenState, type CanaryState, type Slot, type SlotMode, type SlotWrite,
} from './slots.js';
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
  /** How often a blue-green or canary step looks at Argo CD and the cluster while it waits (ms). Default 500. */
  pollMs?: number;
}

type BlueGreenMode = Extract<SlotMode, { kind: 'blueGreen' }>;
type CanaryMode = Extract<SlotMode, { kind: 'canary' }>;

/** What a slot step waits for in the cluster: a Deployment (named in messages by its config key) running a value. */
interface Expectation { deployment: string; where: string; value: string; version: string }

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
  /** The last commit a slot step saw done, by Application: a step that changes nothing there does not wait again. */
  private readonly settled = new Map<string, string>();
  private readonly pollMs: number;

  constructor(opts: GitOpsTargetOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.pollMs = opts.pollMs ?? 500;
  }

  /**
   * Rolled by Argo CD's sync of the manifests; with the blue-green keys configured and
   * `strategy.blueGreen`, a preview (the chart's preview Service); with the canary keys and
   * `strategy.canary`, weights (exact with `weightKey`, else by replica counts).
   */
  capabilities(cfg: ServiceEnvConfig): TargetCapabilities {
    const c = gitopsCfg(cfg);
    const mode = slotMode(c, c.target);
    const weights = mode.kind === 'canary' ? (mode.canary.weightKey ? 'exact' : 'replicaRatio') : 'none';
    return { weights, headerRoutes: false, sticky: false, preview: mode.kind === 'blueGreen', requestMetrics: false, nativeRolling: true, jobs: false };
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

  /** The pods of the Deployment (of both slots, of the stable and the canary), as instances of the release their image names. Read-only. */
  async instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]> {
    const c = gitopsCfg(cfg);
    const conn = await this.opts.connect(c.target.cluster);
    const out: TargetInstance[] = [];
    for (const p of await this.allPods(c, conn)) out.push(await this.toInstance(c, p));
    return out;
  }

  /**
   * The one release the Deployment runs, with all the weight; nothing when it does not exist.
   * Blue-green: the serving slot's release, the other slot's as the preview. Canary: the stable
   * and the canary release by `weightKey` (or by ready pods without it). Read-only.
   */
  async traffic(cfg: ServiceEnvConfig): Promise<Traffic> {
    const c = gitopsCfg(cfg);
    const mode = slotMode(c, c.target);
    if (mode.kind !== 'rolling') return this.slotTraffic(c, mode);
    const served = await this.served(c);
    return { versions: served ? [{ version: served, weight: 100 }] : [], preview: null };
  }

  /**
   * Rolling: accepts only the routing Git already gives: all traffic to the release the
   * Deployment runs (or none asked). Anything else is refused: moving traffic is a commit, made
   * by `rollout`. Blue-green and canary by chart keys: a commit of those keys and a sync, waited
   * for (see `switchSlot`, `weighCanary`).
   */
  async setTraffic(cfg: ServiceEnvConfig, traffic: Traffic, ctx?: RolloutContext): Promise<void> {
    const c = gitopsCfg(cfg);
    const refused = unsupportedTraffic('gitops', this.capabilities(cfg), traffic);
    if (refused) throw new GangwayError('invalid_config', `${c.service}/${c.environment}: ${refused}`);
    const mode = slotMode(c, c.target);
    if (mode.kind === 'blueGreen') return this.switchSlot(c, mode, traffic, ctx);
    if (mode.kind === 'canary') return this.weighCanary(c, mode, traffic, ctx);
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
    const c = gitopsCfg(cfg);
    const mode = slotMode(c, c.target);
    if (mode.kind !== 'rolling') return this.slotReach(c, mode, version, opts.preview === true);
    if (opts.preview) return null;
    const conn = await this.opts.connect(c.target.cluster);
    const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
    if (!dep || (await this.versionOfDeployment(c, dep)) !== version) return null;
    if (!(await podsOf(conn, dep)).some((p) => isPodReady(p) && !p.metadata.deletionTimestamp)) return null;
    return serviceReach(conn, c.target.service);
  }

  /** The last lines of each pod's log (of one release when `version` is given). Read-only. */
  async logs(cfg: ServiceEnvConfig, q: { version?: string; lines: number }): Promise<LogLine[]> {
    const c = gitopsCfg(cfg);
    const conn = await this.opts.connect(c.target.cluster);
    const out: LogLine[] = [];
    for (const p of await this.allPods(c, conn)) {
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
   * release that is not served is refused: that is a rollout. Blue-green and canary by chart
   * keys: a commit of those keys and a sync, waited for (see `stageSlot`, `scaleCanary`). Idempotent.
   */
  async scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number, ctx?: RolloutContext): Promise<TargetInstance[]> {
    const c = gitopsCfg(cfg);
    const mode = slotMode(c, c.target);
    if (mode.kind === 'blueGreen') await this.stageSlot(c, mode, release, count, ctx);
    else if (mode.kind === 'canary') await this.scaleCanary(c, mode, release, count, ctx);
    if (mode.kind !== 'rolling') return count === 0 ? [] : (await this.instances(cfg)).filter((i) => i.version === release.version);
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
    const mode = slotMode(c, c.target);
    const current = mode.kind === 'rolling' ? await this.valueAt(c, repo, n.file, head) : null;
    const shown = mode.kind === 'rolling' ? `${c.target.key} = ${current ?? '(none)'}`
      : Object.entries(await this.keysAt(c, mode, repo, n.file, head) ?? {}).map(([k, v]) => `${k} = ${v ?? '(none)'}`).join(', ');
    lines.push({ label: 'git', value: `${shown} in ${n.file} at ${n.short(head)} on ${c.target.branch}` });
    const drift: string[] = [];
    const own = (await this.ownChanges(c, repo, n.file))[0];
    if (mode.kind === 'rolling' && own && current !== own.change.value) {
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

  // ---- blue-green and canary by chart keys ------------------------------------------------------

  /**
   * Blue-green `scale`: a release to start goes into the slot that does not serve (one commit of
   * its tag key, and `previewKey`), then the step waits as a rolling rollout waits; a release
   * that is in a slot already makes no commit. Stopping the release of the idle slot writes the
   * serving slot's tag there (its pods are replaced by the stable release's); stopping the
   * serving one is refused. Idempotent.
   */
  private async stageSlot(c: Cfg, mode: BlueGreenMode, release: ReleaseRef, count: number, ctx?: RolloutContext): Promise<void> {
    const bg = mode.bg;
    const n = names(c);
    const repo = await this.repo(c);
    const { head, values } = await this.headKeys(c, mode, repo, n);
    const st = blueGreenState(bg, values, n.file);
    const value = writtenValue(release);
    this.remember(value, release.version);
    const idle = otherSlot(st.active);
    const inActive = await this.holds(c, st.tags[st.active], release);
    const inIdle = await this.holds(c, st.tags[idle], release);
    let write: SlotWrite | null = null;
    let focus: Slot = st.active;
    if (count > 0) {
      if (!inActive) {
        focus = idle;
        if (!inIdle) {
          write = {
            values: [{ key: bg.tagKeys[idle], value }, ...(bg.previewKey ? [{ key: bg.previewKey, value: idle }] : [])],
            subject: `stage ${c.service} ${release.version} in the ${idle} slot in ${c.environment}`, step: 'stage', version: release.version, value,
          };
        }
      }
    } else {
      if (inActive) {
        throw new GangwayError('conflict', `cannot stop ${release.version} of ${c.service} in ${c.environment}: the ${st.active} slot serves it (${bg.activeKey} in ${n.file})`,
          'switch traffic to the other slot first: deploy another release, or roll back');
      }
      const stable = st.tags[st.active];
      if (!inIdle || stable === null) return;
      const stableVersion = await this.versionOfValue(c, stable);
      focus = idle;
      write = {
        values: [{ key: bg.tagKeys[idle], value: stable }],
        subject: `retire ${release.version} from the ${idle} slot of ${c.service} in ${c.environment}: it runs ${stableVersion} again`, step: 'retire', version: stableVersion, value: stable,
      };
    }
    await this.commitStep(c, mode, n, repo, head, values, write, (v) => this.blueGreenExpect(c, bg, blueGreenState(bg, v, n.file), focus), ctx);
  }

  /**
   * Blue-green `setTraffic`: all traffic to a release is the switch of `activeKey` to its slot
   * (one commit, and `previewKey`), waited for as a rollout; the preview is the other slot, so
   * asking for it only checks that it runs that release. Idempotent.
   */
  private async switchSlot(c: Cfg, mode: BlueGreenMode, traffic: Traffic, ctx?: RolloutContext): Promise<void> {
    const bg = mode.bg;
    const n = names(c);
    const repo = await this.repo(c);
    const { head, values } = await this.headKeys(c, mode, repo, n);
    const st = blueGreenState(bg, values, n.file);
    const wanted = traffic.versions.filter((v) => v.weight > 0).map((v) => v.version);
    const slots = `${bg.tagKeys.blue} = ${st.tags.blue ?? '(none)'}, ${bg.tagKeys.green} = ${st.tags.green ?? '(none)'} in ${n.file}`;
    let serving: Slot = st.active;
    if (wanted.length > 0) {
      const found = await this.slotOf(c, st, wanted[0]);
      if (!found) {
        throw new GangwayError('invalid_argument', `traffic of ${c.service} in ${c.environment} cannot go to ${wanted[0]}: it is in neither slot (${slots})`,
          'deploy it: a blue-green deployment stages it in the slot that does not serve, then switches');
      }
      serving = found;
    }
    if (traffic.preview) {
      const preview = otherSlot(serving);
      if (!(await this.holds(c, st.tags[preview], { version: traffic.preview, image: null }))) {
        throw new GangwayError('invalid_argument', `the preview of ${c.service} in ${c.environment} is the ${preview} slot, which runs ${st.tags[preview] ?? 'nothing'}, not ${traffic.preview} (${slots})`,
          'deploy the release: it is staged in the slot that does not serve');
      }
    }
    let write: SlotWrite | null = null;
    if (serving !== st.active) {
      const value = st.tags[serving]!;
      write = {
        values: [{ key: bg.activeKey, value: serving }, ...(bg.previewKey ? [{ key: bg.previewKey, value: otherSlot(serving) }] : [])],
        subject: `switch ${c.service} in ${c.environment} to the ${serving} slot (${wanted[0]})`, step: 'switch', version: wanted[0], value,
      };
    } else if (wanted.length === 0) {
      return;
    }
    await this.commitStep(c, mode, n, repo, head, values, write, (v) => this.blueGreenExpect(c, bg, blueGreenState(bg, v, n.file), null), ctx);
  }

  /**
   * Canary `scale`: the canary's tag and replica count (one commit), waited for as a rollout;
   * the stable release runs already. Stopping the canary sets its replicas (and weight) to 0;
   * stopping the stable release is refused. Idempotent.
   */
  private async scaleCanary(c: Cfg, mode: CanaryMode, release: ReleaseRef, count: number, ctx?: RolloutContext): Promise<void> {
    const cn = mode.canary;
    const n = names(c);
    const repo = await this.repo(c);
    const { head, values } = await this.headKeys(c, mode, repo, n);
    const st = canaryState(cn, c.target.key, values, n.file);
    const value = writtenValue(release);
    this.remember(value, release.version);
    const isStable = await this.holds(c, st.stable, release);
    const isCanary = await this.holds(c, st.canary, release) && st.replicas > 0;
    let write: SlotWrite | null = null;
    if (count > 0) {
      if (!isStable || isCanary) {
        write = {
          values: [{ key: cn.tagKey, value }, { key: cn.replicasKey, value: String(count), number: true }],
          subject: `canary ${c.service} ${release.version} in ${c.environment}: ${count} replica${count === 1 ? '' : 's'}`, step: 'canary', version: release.version, value,
        };
      }
    } else if (isCanary) {
      write = {
        values: [{ key: cn.replicasKey, value: '0', number: true }, ...weightValues(cn, 0)],
        subject: `stop the canary ${release.version} of ${c.service} in ${c.environment}`, step: 'stop', version: release.version, value,
      };
    } else if (isStable) {
      throw new GangwayError('conflict', `cannot stop ${release.version} of ${c.service} in ${c.environment}: it is the stable release (${c.target.key} in ${n.file})`, 'deploy another release');
    } else {
      return;
    }
    await this.commitStep(c, mode, n, repo, head, values, write, (v) => this.canaryExpect(c, cn, canaryState(cn, c.target.key, v, n.file)), ctx);
  }

  /**
   * Canary `setTraffic`: a split between the stable release and the canary writes `weightKey`
   * (without it, the replica counts `scale` wrote split the requests: nothing to write); all
   * traffic to the canary promotes it (`key` takes its tag, the canary goes to 0 replicas and 0
   * weight); all traffic to the stable release takes the canary out (0 replicas, 0 weight). One
   * commit each, waited for as a rollout. Idempotent.
   */
  private async weighCanary(c: Cfg, mode: CanaryMode, traffic: Traffic, ctx?: RolloutContext): Promise<void> {
    const cn = mode.canary;
    const n = names(c);
    const repo = await this.repo(c);
    const { head, values } = await this.headKeys(c, mode, repo, n);
    const st = canaryState(cn, c.target.key, values, n.file);
    const live = traffic.versions.filter((v) => v.weight > 0);
    if (live.length === 0) return;
    const off = [{ key: cn.replicasKey, value: '0', number: true }, ...weightValues(cn, 0)];
    const isStable = (version: string) => this.holds(c, st.stable, { version, image: null });
    const isCanary = (version: string) => this.holds(c, st.canary, { version, image: null });
    const keys = `${c.target.key} = ${st.stable ?? '(none)'}, ${cn.tagKey} = ${st.canary ?? '(none)'} in ${n.file}`;
    let write: SlotWrite | null = null;
    if (live.length === 1) {
      const v = live[0].version;
      if (await isStable(v)) {
        const canaryVersion = st.canary === null ? 'none' : await this.versionOfValue(c, st.canary);
        write = { values: off, subject: `roll back ${c.service} to ${v} in ${c.environment}: canary ${canaryVersion} off`, step: 'rollback', version: v, value: st.stable! };
      } else if (await isCanary(v)) {
        write = { values: [{ key: c.target.key, value: st.canary! }, ...off], subject: `promote ${c.service} ${v} in ${c.environment}`, step: 'promote', version: v, value: st.canary! };
      } else {
        throw new GangwayError('invalid_argument', `traffic of ${c.service} in ${c.environment} cannot go to ${v}: it is neither the stable release nor the canary (${keys})`, 'deploy it: a canary deployment starts it first');
      }
    } else {
      const canary = (await Promise.all(live.map(async (x) => ((await isCanary(x.version)) ? x : null)))).find((x) => x !== null);
      const stable = (await Promise.all(live.map(async (x) => ((await isStable(x.version)) ? x : null)))).find((x) => x !== null);
      if (live.length !== 2 || !canary || !stable || canary === stable) {
        throw new GangwayError('invalid_argument', `traffic of ${c.service} in ${c.environment} can be split only between the stable release and the canary (${keys}), not ${live.map((x) => x.version).join(' and ')}`);
      }
      const w = Math.round((canary.weight * 100) / (canary.weight + stable.weight));
      if (cn.weightKey) {
        write = { values: weightValues(cn, w), subject: `canary ${c.service} ${canary.version} in ${c.environment}: ${w}% of requests`, step: 'weight', version: canary.version, value: st.canary! };
      }
    }
    await this.commitStep(c, mode, n, repo, head, values, write, (v) => this.canaryExpect(c, cn, canaryState(cn, c.target.key, v, n.file)), ctx);
  }

  /** What the slots serve, from Git's head (canary weights by ready pods without `weightKey`). */
  private async slotTraffic(c: Cfg, mode: BlueGreenMode | CanaryMode): Promise<Traffic> {
    const n = names(c);
    const repo = await this.repo(c);
    const { values } = await this.headKeys(c, mode, repo, n);
    if (mode.kind === 'blueGreen') {
      const st = blueGreenState(mode.bg, values, n.file);
      const tag = st.tags[st.active];
      const idle = st.tags[otherSlot(st.active)];
      const serving = tag === null ? null : await this.versionOfValue(c, tag);
      const preview = idle === null ? null : await this.versionOfValue(c, idle);
      return {
        versions: serving ? [{ version: serving, weight: 100 }] : [], preview: preview !== null && preview !== serving ? preview : null,
        previewEndpoint: `svc/${mode.bg.previewService}`,
      };
    }
    const st = canaryState(mode.canary, c.target.key, values, n.file);
    const stable = st.stable === null ? null : await this.versionOfValue(c, st.stable);
    const canary = st.canary === null || st.replicas === 0 ? null : await this.versionOfValue(c, st.canary);
    if (mode.canary.weightKey) {
      const w = canary === null ? 0 : st.weight;
      const versions = [{ version: stable, weight: 100 - w }, { version: canary, weight: w }].filter((x): x is { version: string; weight: number } => x.version !== null && x.weight > 0);
      return { versions, preview: null };
    }
    const ready = (await this.instances(c as unknown as ServiceEnvConfig)).filter((i) => i.state === 'ready');
    const versions = [stable, canary].filter((v): v is string => v !== null)
      .map((version) => ({ version, weight: ready.filter((i) => i.version === version).length })).filter((x) => x.weight > 0);
    return { versions, preview: null };
  }

  /**
   * Blue-green: the public Service for the serving slot's release, the preview Service for the
   * other slot's (only it with `preview`). Canary: a ready pod of the release, through the API
   * server's pod proxy (the public Service reaches both). Read-only.
   */
  private async slotReach(c: Cfg, mode: BlueGreenMode | CanaryMode, version: string, preview: boolean): Promise<Reach | null> {
    const n = names(c);
    const repo = await this.repo(c);
    const { values } = await this.headKeys(c, mode, repo, n);
    const conn = await this.opts.connect(c.target.cluster);
    const release = { version, image: null };
    if (mode.kind === 'blueGreen') {
      const st = blueGreenState(mode.bg, values, n.file);
      const idle = otherSlot(st.active);
      const slot = !preview && (await this.holds(c, st.tags[st.active], release)) ? st.active : (await this.holds(c, st.tags[idle], release)) ? idle : null;
      if (slot === null) return null;
      const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, mode.bg.deployments[slot]);
      if (!dep || !(await podsOf(conn, dep)).some((p) => isPodReady(p) && !p.metadata.deletionTimestamp)) return null;
      return serviceReach(conn, slot === st.active ? c.target.service : mode.bg.previewService);
    }
    if (preview) return null;
    const st = canaryState(mode.canary, c.target.key, values, n.file);
    const name = (await this.holds(c, st.canary, release)) && st.replicas > 0 ? mode.canary.deployment : (await this.holds(c, st.stable, release)) ? c.target.deployment : null;
    if (name === null) return null;
    const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, name);
    const image = dep ? containerImage(c, dep.spec?.template?.spec.containers ?? []) : null;
    const pod = dep ? (await podsOf(conn, dep)).find((p) => isPodReady(p) && !p.metadata.deletionTimestamp && containerImage(c, p.spec?.containers ?? []) === image) : undefined;
    if (!pod) return null;
    const port = c.target.port ?? pod.spec?.containers.find((x) => x.name === c.target.container)?.ports?.[0]?.containerPort ?? pod.spec?.containers[0]?.ports?.[0]?.containerPort ?? null;
    return {
      url: conn.api.proxyUrl(conn.namespace, 'pods', pod.metadata.name, port, '').replace(/\/+$/, ''),
      headers: await conn.api.authHeaders(), dispatcher: conn.api.dispatcher,
      describe: `pod ${pod.metadata.name} in ${conn.namespace} via ${conn.server}`,
    };
  }

  /**
   * Commits `write` (only the keys that differ; nothing when Git holds them all), asks Argo CD
   * to sync, and waits as a rolling rollout waits (see the file's header), the cluster check
   * being `expect` of the values at the commit. A step that commits nothing waits only when its
   * commit was not seen done before.
   */
  private async commitStep(c: Cfg, mode: SlotMode, n: Names, repo: GitOpsRepo, head: string, current: Record<string, string | null>, write: SlotWrite | null,
    expect: (values: Record<string, string | null>) => Promise<Expectation[]>, ctx?: RolloutContext): Promise<void> {
    let commit = head;
    const changes = write ? changedOnly(write.values, current) : [];
    if (write && changes.length > 0) {
      const by = ctx ? { deploymentId: ctx.deploymentId, actor: ctx.actor, reason: ctx.reason } : null;
      const message = slotMessage({ service: c.service, environment: c.environment, version: write.version, value: write.value, step: write.step, subject: write.subject, by });
      commit = (await repo.setKeys(n.file, changes, message)).commit;
    } else if (this.settled.get(n.application) === head) {
      return;
    }
    const values = await this.keysAt(c, mode, repo, n.file, commit);
    if (values === null) throw new GangwayError('invalid_argument', `${n.file} is not on branch ${c.target.branch} at ${n.short(commit)} (target.gitops.file)`);
    const what = write && changes.length > 0 ? `"${write.subject}" (${n.short(commit)})` : `${c.service} in ${c.environment} at ${n.short(commit)}`;
    await this.awaitCommit(c, n, repo, commit, `${write?.step ?? 'check'} ${write?.version ?? ''}`.trim(), await expect(values), what);
  }

  /** Syncs `commit` and polls until it is done (returns), failed or past `syncTimeout` (throws `deployment_failed`). */
  private async awaitCommit(c: Cfg, n: Names, repo: GitOpsRepo, commit: string, mark: string, expectations: Expectation[], what: string): Promise<void> {
    const argo = this.argo(c);
    await this.ensureSync(c, n, argo, commit, mark);
    const since = Math.max(await this.commitTime(repo, commit), this.now());
    const check = async (): Promise<RolloutStatus> => {
      const done: string[] = [];
      for (const e of expectations) {
        const v = await this.clusterVerdict(c, e.value, e.version, e.deployment, e.where);
        if (v.state !== 'done') return v;
        done.push(v.reason);
      }
      return { state: 'done', reason: done.join('; ') };
    };
    for (;;) {
      const app = await argo.getApplication(n.application, { refresh: 'normal' });
      const v = await this.judge(c, n, repo, app, commit, '', check);
      if (v.state === 'done') {
        this.settled.set(n.application, commit);
        return;
      }
      if (v.state === 'failed') throw new GangwayError('deployment_failed', `${what}: ${v.reason}`);
      if (this.now() - since >= c.target.syncTimeoutMs) {
        throw new GangwayError('deployment_failed',
          `${what}: ${n.application} did not reach Synced, Succeeded and Healthy at ${n.short(commit)} within ${duration(c.target.syncTimeoutMs)} (target.gitops.syncTimeout); still waiting for: ${v.reason}`);
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  /** The serving slot's Deployment runs its tag, and `focus`'s too. */
  private async blueGreenExpect(c: Cfg, bg: GitOpsBlueGreenConfig, st: BlueGreenState, focus: Slot | null): Promise<Expectation[]> {
    const out: Expectation[] = [];
    for (const slot of [...new Set([st.active, ...(focus ? [focus] : [])])]) {
      const value = st.tags[slot];
      if (value === null) continue;
      out.push({ deployment: bg.deployments[slot], where: `target.gitops.blueGreen.deployments.${slot}`, value, version: await this.versionOfValue(c, value) });
    }
    return out;
  }

  /** The stable Deployment runs `key`, and the canary's its tag while it has replicas. */
  private async canaryExpect(c: Cfg, cn: GitOpsCanaryConfig, st: CanaryState): Promise<Expectation[]> {
    const out: Expectation[] = [];
    if (st.stable !== null) out.push({ deployment: c.target.deployment, where: 'target.gitops.deployment', value: st.stable, version: await this.versionOfValue(c, st.stable) });
    if (st.canary !== null && st.replicas > 0) {
      out.push({ deployment: cn.deployment, where: 'target.gitops.canary.deployment', value: st.canary, version: await this.versionOfValue(c, st.canary) });
    }
    return out;
  }

  /** The layout's keys at the branch's head; a missing file is an error naming it. */
  private async headKeys(c: Cfg, mode: SlotMode, repo: GitOpsRepo, n: Names): Promise<{ head: string; values: Record<string, string | null> }> {
    const head = await repo.head();
    const values = await this.keysAt(c, mode, repo, n.file, head);
    if (values === null) {
      throw new GangwayError('invalid_argument', `${n.file} is not on branch ${c.target.branch} of ${redact(c.target.repo)} (target.gitops.file)`,
        `add it with the keys ${watchedKeys(mode, c.target.key).join(', ')}`);
    }
    return { head, values };
  }

  /** Whether a value written to Git stands for the release (the value itself, or a digest Gangway wrote for it). */
  private async holds(c: Cfg, value: string | null, release: ReleaseRef): Promise<boolean> {
    if (value === null) return false;
    if (value === writtenValue(release)) return true;
    return (await this.versionOfValue(c, value)) === release.version;
  }

  /** The slot running `version`, the serving one first; null when neither does. */
  private async slotOf(c: Cfg, st: BlueGreenState, version: string): Promise<Slot | null> {
    for (const slot of [st.active, otherSlot(st.active)]) {
      if (await this.holds(c, st.tags[slot], { version, image: null })) return slot;
    }
    return null;
  }

  /** The pods of every Deployment of the layout (the one, both slots, stable and canary), each once. */
  private async allPods(c: Cfg, conn: KubeConnection): Promise<KubePod[]> {
    const mode = slotMode(c, c.target);
    const deployments = mode.kind === 'blueGreen' ? SLOTS.map((s) => mode.bg.deployments[s])
      : mode.kind === 'canary' ? [c.target.deployment, mode.canary.deployment] : [c.target.deployment];
    const seen = new Set<string>();
    const out: KubePod[] = [];
    for (const name of deployments) {
      const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, name);
      if (!dep) continue;
      for (const p of await podsOf(conn, dep)) {
        if (seen.has(p.metadata.name)) continue;
        seen.add(p.metadata.name);
        out.push(p);
      }
    }
    return out;
  }

  // ---- internals ----------------------------------------------------------------------------

  /**
   * The verdict on the rollout at `commit`, without the timeout. `cluster` checks the cluster
   * (`check`; default: the one Deployment runs the value written at `commit`).
   */
  private async judge(c: Cfg, n: Names, repo: GitOpsRepo, app: ArgoApplication, commit: string, version: string, check?: () => Promise<RolloutStatus>): Promise<RolloutStatus> {
    const name = n.application;
    const progressing = (reason: string): RolloutStatus => {
      this.healthySince.delete(`${name}\u0000${commit}`);
      return { state: 'progressing', reason };
    };
    // 0. a pod of the release that cannot become healthy by waiting (CrashLoopBackOff, restarts
    // past target.gitops.restartLimit) ends the wait at once, whatever Argo CD says yet: its sync
    // may still run, and its health turns Degraded only at the progress deadline.
    const cluster = check ? await check() : await this.clusterVerdict(c, await this.valueAt(c, repo, n.file, commit), version);
    if (cluster.state === 'failed') return cluster;
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
    // 4. the cluster itself (read at 0.)
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

  /**
   * `kubectl rollout status` on the Deployment (`deployment`, named in messages by its config
   * key `where`), and its pods of the release: ready, not crash-looping, restarts within the limit.
   */
  private async clusterVerdict(c: Cfg, value: string | null, version: string, deployment = c.target.deployment, where = 'target.gitops.deployment'): Promise<RolloutStatus> {
    const conn = await this.opts.connect(c.target.cluster);
    const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, deployment);
    if (!dep) return { state: 'progressing', reason: `Deployment ${deployment} does not exist in namespace ${conn.namespace} (${where})` };
    const image = containerImage(c, dep.spec?.template?.spec.containers ?? []);
    if (value !== null && !imageHolds(image, value)) {
      return { state: 'progressing', reason: `Deployment ${deployment} runs ${image ?? 'no image'}, not ${value} (${version}) written to Git` };
    }
    const pods = (await podsOf(conn, dep)).filter((p) => !p.metadata.deletionTimestamp && containerImage(c, p.spec?.containers ?? []) === image);
    const problem = await crashReport(conn.api, conn.namespace, pods, { restartLimit: c.target.restartLimit, key: 'target.gitops.restartLimit', container: c.target.container });
    if (problem) return { state: 'failed', reason: problem };
    const rolled = deploymentRolloutStatus(dep);
    if (rolled.state !== 'done') return rolled;
    const ready = pods.filter(isPodReady).length;
    const wanted = dep.spec?.replicas ?? c.target.instances;
    const of = deployment === c.target.deployment ? '' : ` in ${deployment}`;
    if (ready < wanted) return { state: 'progressing', reason: `${ready} of ${wanted} pods of ${version}${of} ready` };
    return { state: 'done', reason: `${rolled.reason}, ${ready} of ${wanted} pods of ${version}${of} ready` };
  }

  /**
   * Why `rev` (a commit Argo CD syncs or compares with instead of `commit`) does not carry
   * Gangway's change, or null when it does: it is `commit`, or a later commit that leaves the
   * value as Gangway wrote it (another service's change in the same repository).
   */
  private async supersededBy(c: Cfg, n: Names, repo: GitOpsRepo, commit: string, rev: string): Promise<string | null> {
    if (sameCommit(rev, commit)) return null;
    const ours = await this.snapshot(c, repo, n.file, commit);
    const later = await repo.isAncestor(commit, rev).catch(() => false);
    if (!later) return `${n.short(rev)} does not contain Gangway's commit ${n.short(commit)}`;
    const theirs = await this.snapshot(c, repo, n.file, rev);
    if (theirs === ours) return null;
    const [last] = await repo.log(n.file, 1);
    const who = last && last.commit !== commit ? ` by ${last.author} in ${n.short(last.commit)} ("${last.subject}")` : '';
    return `${watchedKeys(slotMode(c, c.target), c.target.key).join(', ')} in ${n.file} was changed${who} to ${theirs ?? '(none)'} after Gangway wrote ${ours ?? '(none)'}`;
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

  /** The watched keys' values at `commit` in words (the one value on a rolling layout); null when the file is not there. */
  private async snapshot(c: Cfg, repo: GitOpsRepo, file: string, commit: string): Promise<string | null> {
    const mode = slotMode(c, c.target);
    if (mode.kind === 'rolling') return this.valueAt(c, repo, file, commit);
    const values = await this.keysAt(c, mode, repo, file, commit);
    return values === null ? null : Object.entries(values).map(([k, v]) => `${k}=${v ?? '(none)'}`).join(', ');
  }

  /** The layout's keys at `commit`, or null when the file is not there. */
  private async keysAt(c: Cfg, mode: SlotMode, repo: GitOpsRepo, file: string, commit: string): Promise<Record<string, string | null> | null> {
    const text = await repo.fileAt(commit, file);
    return text === null ? null : readKeys(text, file, watchedKeys(mode, c.target.key));
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

/** A Service through the API server's proxy, at its first port; null when it does not exist. */
async function serviceReach(conn: KubeConnection, name: string): Promise<Reach | null> {
  const svc = await conn.api.get<KubeService>('Service', conn.namespace, name);
  const port = svc?.spec?.ports?.[0]?.port;
  if (!svc || port === undefined) return null;
  return {
    url: conn.api.proxyUrl(conn.namespace, 'services', name, port, '').replace(/\/+$/, ''),
    headers: await conn.api.authHeaders(), dispatcher: conn.api.dispatcher,
    describe: `service ${name} in ${conn.namespace} via ${conn.server}`,
  };
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
