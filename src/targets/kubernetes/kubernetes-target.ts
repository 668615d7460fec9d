/**
 * The Kubernetes target: releases run as Deployments in a namespace, traffic moves by a
 * Service's selector, by replica counts behind one Service, or by a Gateway API HTTPRoute's
 * weights — the procedures of the runbooks (`kubectl apply`, `kubectl rollout status`, a
 * selector patch to `{"color":"green"}`, a migration Job waited for) done by Gangway.
 *
 * Layouts:
 * - rolling: the manifests' Deployment rolled in place by its own rolling update (the target
 *   rolls natively; `rollout` applies, `rolloutStatus` judges as `kubectl rollout status`).
 * - blue-green and canary: two Deployments, `<name>-blue` and `<name>-green`, with a `color`
 *   label in their selectors. A release takes the colour that holds it, else the one no traffic
 *   reaches. Blue-green points the public Service at one colour and a preview Service
 *   (`<service>-preview`) at the other; a canary without an HTTPRoute lets the public Service
 *   select both colours and sets the weight by replica counts; with an HTTPRoute, one Service
 *   per colour (`<service>-blue`, `<service>-green`) are its weighted backends, a header rule
 *   sends matching requests to the canary, and the public Service selects the colour with the
 *   most weight (for callers inside the cluster).
 *
 * Gangway applies with server-side apply and takes the fields it sets over (`force`): the
 * objects are its to deploy, and the replicas and selectors it merge-patches between applies
 * would otherwise conflict with its next apply.
 *
 * What a release ran is recorded in a ConfigMap per release (the objects applied), and a
 * rollback applies those objects again — not `kubectl rollout undo`, whose revision numbers
 * change on every undo. Records of releases nothing can roll back to any more are pruned when a
 * new one is written. Every method is idempotent.
 *
 * A pod's health is its Ready condition, and — while Gangway waits on or watches its release —
 * Gangway's own check of `health.path` through the API server's pod proxy, paced and counted by
 * `health.interval`, `timeout` and `failureThreshold` as the local agent's checks are. A HorizontalPodAutoscaler in the manifests keeps the replicas of the
 * Deployment it scales (on the two-colour layouts, of the colour that serves).
 */
import type { KubeAccess } from '../../config/helm.js';
import type { JobConfig, KubernetesTargetConfig } from '../../config/kubernetes.js';
import type { ServiceEnvConfig } from '../../config/types.js';
import { checkHttp } from '../../core/http-check.js';
import type { Logger } from '../../core/logger.js';
import { GangwayError } from '../../errors.js';
import { unsupportedTraffic } from '../registry.js';
import type { LogLine, Reach, ReleaseRef, RolloutContext, RolloutHandle, RolloutStatus, Target, TargetCapabilities, TargetInstance, Traffic, JobHandle, JobStatus } from '../target.js';
import type { KubeApi, KubeConnection } from './api.js';
import { crashReport } from './crash-report.js';
import { kubeJobStatus, startKubeJob } from './jobs.js';
import { autoscaledReplicas, autoscalerOf, colorService, forApply, loadObjects, pointAutoscaler, shapeRelease, unshapeRelease, type Layout, type Shaped } from './manifests.js';
import { ANNOTATION, LABEL, fnv1a, type KubeAutoscaler, type KubeDeployment, type KubeObject, type KubePod, type KubeService } from './objects.js';
import { deploymentRolloutStatus, isPodReady, podProblem, podRestarts } from './rollout-status.js';

/** The two slots of the blue-green and canary layouts (`<deployment>-blue`, `<deployment>-green`). */
export type Color = 'blue' | 'green';
const COLORS: readonly Color[] = ['blue', 'green'];

/** The Gateway API version the client serves HTTPRoutes at; the applied object must say the same. */
const HTTPROUTE_API_VERSION = 'gateway.networking.k8s.io/v1';

/** Pods remembered as once ready; past this the oldest are forgotten (an orchestrator runs for months). */
const SEEN_READY_LIMIT = 10_000;

/**
 * Release records kept per service and environment besides those of the releases its
 * Deployments hold: the newest ten, so `gangway rollback --to` reaches that far back with what
 * each release ran.
 */
export const RELEASE_RECORDS_KEPT = 10;

/** The label that marks a release record, and selects them all. */
const RECORD_LABEL = 'gangway.io/record';
/** When a record was written (epoch ms): newest first by it, as creationTimestamp has whole seconds only. */
const RECORDED_AT = 'gangway.io/recorded-at';

/** Releases followed for health checks (by service, environment and version); past this the oldest are forgotten. */
const FOLLOWED_LIMIT = 1000;

/**
 * Gangway's checks of `health.path` on one pod, kept between calls as the local agent keeps them
 * per instance: the last result, the failures in a row, when it first passed (null: it has not
 * yet, so it is still starting).
 */
interface PodHealth {
  /** When the last check ended (epoch ms); null before the first. */
  at: number | null;
  ok: boolean;
  detail: string;
  consecutiveFailures: number;
  passedAt: number | null;
  /** The check under way, which concurrent callers share rather than each sending one. */
  running: Promise<void> | null;
}

/**
 * What the Kubernetes target is built with.
 *
 * @example
 * const connector = kubeConnector();
 * new KubernetesTarget({ connect: (k) => connector.connect(k) });
 */
export interface KubernetesTargetOptions {
  /** Opens (and caches) the connection for a target config (a Kubernetes or a Helm target's cluster). */
  connect: (k: KubeAccess) => Promise<KubeConnection>;
  /**
   * How often waits inside the target poll (default 1000 ms): pods to exist after `scale`, a
   * replica-ratio scale-up before traffic moves back.
   */
  pollMs?: number;
  /** Where housekeeping that must not fail a deployment reports its failures (release records it could not prune). */
  log?: Logger;
}

/**
 * A service's config as the Kubernetes machinery reads it. A Helm target's config has the same
 * object fields (deployment, service, container, httpRoute, port, image, instances,
 * restartLimit and the cluster access) but no manifest source: the hooks a subclass overrides
 * (`applyRelease`, `setReplicas`, `manifestObjects`) are the only readers of `source`.
 */
export type KubeCfg = Omit<ServiceEnvConfig, 'target'> & { target: KubernetesTargetConfig };
type Cfg = KubeCfg;

/**
 * Narrows a service's config to the Kubernetes target's (a Helm target's too: it deploys the
 * same kind of objects, through helm).
 *
 * @example kubeCfg(cfg).target.deployment // 'web'
 */
export function kubeCfg(cfg: ServiceEnvConfig): Cfg {
  const kind = (cfg.target as { kind: string }).kind;
  if (kind !== 'kubernetes' && kind !== 'helm') {
    throw new GangwayError('invalid_config', `${cfg.service} in ${cfg.environment} runs on the ${(cfg.target as { kind: string }).kind} target, not kubernetes`);
  }
  return cfg as unknown as Cfg;
}

/**
 * The Target port on a Kubernetes cluster (layouts in the file's header).
 *
 * @example
 * const target = new KubernetesTarget({ connect: (k) => kubeConnector().connect(k) });
 * await target.scale(cfg, { version: '1.4.2', image: null }, 3);   // web-green with 3 pods
 * await target.setTraffic(cfg, { versions: [{ version: '1.4.2', weight: 100 }], preview: null }); // Service web selects color: green
 */
export class KubernetesTarget implements Target {
  protected readonly connect: KubernetesTargetOptions['connect'];
  protected readonly pollMs: number;
  private readonly log: Logger | null;
  /** Pods seen ready (by uid), so one that stops being ready reads as unhealthy rather than starting. */
  private readonly seenReady = new Set<string>();
  /** Health checks per service and environment, by pod uid (only pods that still exist are kept). */
  private readonly health = new Map<string, Map<string, PodHealth>>();
  /** Until when each release is followed for health checks (epoch ms), by service, environment and version. */
  private readonly followed = new Map<string, number>();
  private lastRecordedAt = 0;

  constructor(opts: KubernetesTargetOptions) {
    this.connect = opts.connect;
    this.pollMs = opts.pollMs ?? 1000;
    this.log = opts.log ?? null;
  }

  /** What the target can do for a service: exact weights and header routes only through an HTTPRoute. */
  capabilities(cfg: ServiceEnvConfig): TargetCapabilities {
    const k = kubeCfg(cfg).target;
    return {
      weights: k.httpRoute ? 'exact' : 'replicaRatio',
      headerRoutes: k.httpRoute !== null,
      sticky: false,
      preview: true,
      requestMetrics: false,
      nativeRolling: true,
      jobs: true,
    };
  }

  // ---- jobs before the rollout (src/targets/kubernetes/jobs.ts) ---------------------------

  /** Applies the deployment's Job of `job` unless it exists (a resumed step finds it again). */
  async startJob(cfg: ServiceEnvConfig, job: JobConfig, release: ReleaseRef, deploymentId: string): Promise<JobHandle> {
    const c = kubeCfg(cfg);
    return startKubeJob(await this.connect(c.target), c, job, release, deploymentId);
  }

  /** How the Job stands, by its Complete and Failed conditions, with its pods' last lines once it ended (or when asked). */
  async jobStatus(cfg: ServiceEnvConfig, handle: JobHandle, opts?: { logs?: boolean }): Promise<JobStatus> {
    return kubeJobStatus(await this.connect(kubeCfg(cfg).target), handle, opts);
  }

  // ---- instances ------------------------------------------------------------------------

  /**
   * Every pod of the service in the environment (all releases), oldest first. Pods of a release
   * Gangway waits on or watches are checked at `health.path` first, each at most once per
   * `health.interval` however often this is called (see `checkHealth`).
   */
  async instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]> {
    const c = kubeCfg(cfg);
    const conn = await this.connect(c.target);
    const pods = await this.pods(conn.api, conn.namespace, c);
    const health = await this.checkHealth(conn, c, pods);
    return pods.map((p) => toInstance(p, c, this.seenReady, health.get(podKey(p)) ?? null));
  }

  /**
   * Ensures `count` pods of the release run, and returns them once the controllers made them
   * (or one of them cannot start, or `health.startTimeout` passed). Two-colour layouts put the
   * release in its colour (applying the recorded or freshly shaped objects; a colour taken over
   * from an idle older release is scaled to zero first, so the new pods start at once rather
   * than by the Deployment's surge); 0 scales that colour's Deployment to zero. On the rolling
   * layout a count of 0 for the release the Deployment does not hold is nothing to do;
   * otherwise it rolls the Deployment to the release. Idempotent.
   */
  async scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number, ctx?: RolloutContext): Promise<TargetInstance[]> {
    const c = kubeCfg(cfg);
    const conn = await this.connect(c.target);
    if (count > 0) this.follow(c, release.version);
    if (layoutKind(c) === 'single') {
      const live = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
      const holds = live?.metadata.annotations?.[ANNOTATION.version] === release.version;
      if (count === 0 && !holds) return [];
      // Zero stops it even under an autoscaler, which leaves a Deployment at zero alone.
      if (count === 0) {
        await this.setReplicas(conn, c, { kind: 'single' }, 0);
        return this.settle(conn, c, release.version, 0);
      }
      // An autoscaler may keep another count than asked: the pods to wait for are the Deployment's.
      const dep = await this.applyRelease(conn, c, release, { kind: 'single' }, count, ctx);
      return this.settle(conn, c, release.version, dep.spec?.replicas ?? count);
    }
    const colors = await this.colors(conn, c);
    const holding = COLORS.find((col) => colors[col]?.version === release.version);
    if (count === 0) {
      if (!holding) return [];
      await this.setReplicas(conn, c, { kind: 'color', color: holding }, 0);
      return this.settle(conn, c, release.version, 0);
    }
    const color = holding ?? await this.freeColor(conn, c, colors, release.version);
    const previous = colors[color];
    if (!holding && previous && previous.replicas > 0) await this.scaleToZero(conn, c, color);
    const dep = await this.applyRelease(conn, c, release, { kind: 'color', color }, count, ctx);
    return this.settle(conn, c, release.version, dep.spec?.replicas ?? count);
  }

  // ---- native rolling -------------------------------------------------------------------

  /** Applies the release to the Deployment (its rolling update does the rest); the same call again acts no further. */
  async rollout(cfg: ServiceEnvConfig, release: ReleaseRef): Promise<RolloutHandle> {
    const c = kubeCfg(cfg);
    const conn = await this.connect(c.target);
    this.follow(c, release.version);
    const dep = await this.applyRelease(conn, c, release, { kind: 'single' }, c.target.instances);
    return { version: release.version, revision: `generation ${dep.metadata.generation ?? 0}` };
  }

  /**
   * Where a rollout stands, by `kubectl rollout status`'s rules, failed early when a pod of the
   * release crash-loops, cannot pull its image, or restarts more than `restartLimit`; once those
   * rules say done, still progressing while a pod of the release has not passed its
   * `health.path` check.
   */
  async rolloutStatus(cfg: ServiceEnvConfig, handle: RolloutHandle): Promise<RolloutStatus> {
    const c = kubeCfg(cfg);
    const conn = await this.connect(c.target);
    const { api, namespace } = conn;
    const dep = await api.get<KubeDeployment>('Deployment', namespace, c.target.deployment);
    if (!dep) return { state: 'failed', reason: `deployment "${c.target.deployment}" is gone from namespace ${namespace}` };
    const holds = dep.metadata.annotations?.[ANNOTATION.version];
    if (holds !== handle.version) {
      return { state: 'failed', reason: `deployment "${c.target.deployment}" was changed to ${holds ?? 'a release Gangway did not make'} while ${handle.version} rolled out` };
    }
    const all = await this.pods(api, namespace, c);
    const pods = all.filter((p) => podVersion(p) === handle.version);
    for (const p of pods) {
      const problem = podProblem(p, c.target.restartLimit, targetKey(c, 'restartLimit'));
      if (problem) return { state: 'failed', reason: problem };
    }
    const status = deploymentRolloutStatus(dep);
    if (status.state !== 'done') return status;
    const health = await this.checkHealth(conn, c, all, pods);
    for (const p of pods) {
      const h = health.get(podKey(p));
      if (h && h.passedAt === null) return { state: 'progressing', reason: `Waiting for pod ${p.metadata.name} to pass its health check (${h.detail})` };
    }
    return status;
  }

  // ---- traffic --------------------------------------------------------------------------

  /**
   * Moves traffic as the strategy does on this cluster. Idempotent. Throws, before changing
   * anything, when asked for what it cannot do: a header route without an HTTPRoute, sticky
   * sessions, a split or a preview on the rolling layout, a release that does not run.
   */
  async setTraffic(cfg: ServiceEnvConfig, t: Traffic): Promise<void> {
    const c = kubeCfg(cfg);
    const refused = unsupportedTraffic('kubernetes', this.capabilities(cfg), t);
    if (refused) {
      throw new GangwayError('invalid_argument', `${c.service}/${c.environment}: ${refused}`,
        t.headerRoute && !c.target.httpRoute ? `add ${targetKey(c, 'httpRoute')} (a Gateway API HTTPRoute routes by header)` : undefined);
    }
    const conn = await this.connect(c.target);
    const routed = t.versions.filter((v) => v.weight > 0);
    for (const v of [...routed.map((r) => r.version), ...(t.preview ? [t.preview] : []), ...(t.headerRoute ? [t.headerRoute.version] : [])]) this.follow(c, v);
    if (layoutKind(c) === 'single') {
      const live = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
      const holds = live?.metadata.annotations?.[ANNOTATION.version];
      if (routed.some((v) => v.version !== holds) || t.preview || t.headerRoute) {
        throw new GangwayError('invalid_argument', `the rolling layout of ${c.service} in ${c.environment} serves only the release its Deployment holds (${holds ?? 'none'}); a split needs blueGreen or canary`);
      }
      return;
    }
    const colors = await this.colors(conn, c);
    const colorOf = (version: string): Color => {
      const col = COLORS.find((x) => colors[x]?.version === version);
      if (!col) throw new GangwayError('conflict', `${version} of ${c.service} does not run in ${c.environment} (deployments ${colorName(c, 'blue')} and ${colorName(c, 'green')} hold ${COLORS.map((x) => colors[x]?.version ?? 'nothing').join(' and ')})`);
      return col;
    };
    // Every release named must run before anything moves.
    const split = routed.map((v) => ({ color: colorOf(v.version), weight: v.weight }));
    const header = t.headerRoute ? { ...t.headerRoute, color: colorOf(t.headerRoute.version) } : null;
    const preview = t.preview ? colorOf(t.preview) : null;
    if (c.target.httpRoute) {
      await this.routeTraffic(conn, c, split, header);
    } else if (c.strategy.kind === 'canary' || split.length > 1) {
      await this.ratioTraffic(conn, c, split, colors);
    } else {
      await this.selectColor(conn, c, split[0]?.color ?? null);
    }
    await this.setPreview(conn, c, preview);
  }

  /**
   * The split as the cluster serves it now: the HTTPRoute's backend weights as written, the
   * colour the public Service selects, or — while it selects both colours, and on the rolling
   * layout — the ready pods of each release as percentages. Read-only.
   */
  async traffic(cfg: ServiceEnvConfig): Promise<Traffic> {
    const c = kubeCfg(cfg);
    const conn = await this.connect(c.target);
    const { api, namespace } = conn;
    if (layoutKind(c) === 'single') {
      return { versions: ratio(await this.readyByVersion(conn, c)), preview: null };
    }
    // Blue-green previews on a Service, not a port: say which, for `status`.
    const endpoint = c.strategy.kind === 'blueGreen' ? { previewEndpoint: `svc/${previewName(c)}` } : {};
    const colors = await this.colors(conn, c);
    const versionOf = (col: string | undefined) => (col === 'blue' || col === 'green' ? colors[col]?.version ?? null : null);
    const preview = await api.get<KubeService>('Service', namespace, previewName(c));
    const previewVersion = versionOf(preview?.spec?.selector?.[LABEL.color]);
    if (c.target.httpRoute) {
      const route = await api.get('HTTPRoute', namespace, c.target.httpRoute);
      const rules = (route?.spec as { rules?: RouteRule[] } | undefined)?.rules ?? [];
      // Gangway writes the header rule first and the weighted rule last (routeTraffic).
      const header = rules.length > 1 ? rules[0] : undefined;
      const main = rules[rules.length - 1];
      const colorOfBackend = (name: string | undefined) => (name?.startsWith(`${c.target.service}-`) ? name.slice(c.target.service.length + 1) : undefined);
      // Exact weights are read back as written, in the order written (Gateway API's default weight is 1).
      const versions = (main?.backendRefs ?? []).map((b) => ({ version: versionOf(colorOfBackend(b.name)), weight: b.weight ?? 1 }))
        .filter((v): v is { version: string; weight: number } => v.version !== null && v.weight > 0);
      const hv = header ? versionOf(colorOfBackend(header.backendRefs?.[0]?.name)) : null;
      // The header match Gangway adds is the last of the rule's first match.
      const hm = header?.matches?.[0]?.headers?.at(-1);
      return { versions, preview: previewVersion, headerRoute: hv && hm ? { name: hm.name, value: hm.value, version: hv } : null, ...endpoint };
    }
    const svc = await api.get<KubeService>('Service', namespace, c.target.service);
    const selected = svc?.spec?.selector?.[LABEL.color];
    if (selected !== undefined) {
      const v = versionOf(selected);
      return { versions: v ? [{ version: v, weight: 100 }] : [], preview: previewVersion, ...endpoint };
    }
    return { versions: ratio(await this.readyByVersion(conn, c)), preview: previewVersion, ...endpoint };
  }

  /**
   * How a smoke or health check reaches a release, through the API server's proxy: with
   * `preview`, the preview Service when it selects the colour holding `version` (null
   * otherwise); without, a ready pod of the release. The URL has no trailing slash (a check
   * appends its path). Read-only.
   */
  async reach(cfg: ServiceEnvConfig, version: string, opts: { preview?: boolean } = {}): Promise<Reach | null> {
    const c = kubeCfg(cfg);
    const conn = await this.connect(c.target);
    const base = (to: 'pods' | 'services', name: string, port: number | null) => conn.api.proxyUrl(conn.namespace, to, name, port, '').replace(/\/+$/, '');
    if (opts.preview) {
      if (layoutKind(c) === 'single') return null;
      const svc = await conn.api.get<KubeService>('Service', conn.namespace, previewName(c));
      const port = svc?.spec?.ports?.[0]?.port;
      const color = svc?.spec?.selector?.[LABEL.color];
      if (!svc || port === undefined || (color !== 'blue' && color !== 'green')) return null;
      if ((await this.colors(conn, c))[color]?.version !== version) return null;
      return { url: base('services', svc.metadata.name, port), headers: await conn.api.authHeaders(), dispatcher: conn.api.dispatcher, describe: `service ${svc.metadata.name} (preview) in ${conn.namespace} via ${conn.server}` };
    }
    const pod = (await this.pods(conn.api, conn.namespace, c)).find((p) => podVersion(p) === version && isPodReady(p) && !p.metadata.deletionTimestamp);
    if (!pod) return null;
    return { url: base('pods', pod.metadata.name, podPort(c, pod)), headers: await conn.api.authHeaders(), dispatcher: conn.api.dispatcher, describe: `pod ${pod.metadata.name} in ${conn.namespace} via ${conn.server}` };
  }

  /** The last lines of each pod's log (of one release when `version` is given). */
  async logs(cfg: ServiceEnvConfig, q: { version?: string; lines: number }): Promise<LogLine[]> {
    const c = kubeCfg(cfg);
    const { api, namespace } = await this.connect(c.target);
    const pods = (await this.pods(api, namespace, c)).filter((p) => q.version === undefined || podVersion(p) === q.version);
    const out = [];
    for (const p of pods) {
      const container = c.target.container ?? p.spec?.containers[0]?.name;
      const text = await api.logs(namespace, p.metadata.name, { container, tailLines: q.lines }).catch((err: unknown) => `[gangway] no log: ${err instanceof Error ? err.message : String(err)}`);
      out.push({ instance: p.metadata.name, version: podVersion(p) ?? 'unknown', lines: text.split('\n').filter((l) => l !== '') });
    }
    return out;
  }

  // ---- internals ------------------------------------------------------------------------

  /**
   * Why a pod of the release cannot become healthy by waiting (CrashLoopBackOff,
   * ImagePullBackOff, restarts past `restartLimit`), with its last log lines, or null: what ends
   * a wait on a tool that rolls the pods itself (the Helm target's `helm upgrade --wait`) early.
   */
  protected async releaseProblem(conn: KubeConnection, c: Cfg, version: string): Promise<string | null> {
    const pods = (await this.pods(conn.api, conn.namespace, c)).filter((p) => podVersion(p) === version);
    return crashReport(conn.api, conn.namespace, pods, { restartLimit: c.target.restartLimit, key: targetKey(c, 'restartLimit'), container: c.target.container });
  }

  /** The pods of the service's releases (a Job's pods, such as a migration's, are not instances), oldest first. */
  private async pods(api: KubeApi, namespace: string, c: Cfg): Promise<KubePod[]> {
    const { items } = await api.list<KubePod>('Pod', namespace, { labelSelector: `${LABEL.service}=${c.service},${LABEL.environment}=${c.environment}` });
    return items.filter((p) => !(p.metadata.ownerReferences ?? []).some((o) => o.kind === 'Job')).sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
  }

  /**
   * The release's pods not terminating, once there are `count` of them — or sooner, when one of
   * them cannot start (the waitReady step reports why), or after `health.startTimeout` (the
   * Deployment may be held back by its surge or a quota; waitReady judges that too).
   */
  private async settle(conn: KubeConnection, c: Cfg, version: string, count: number): Promise<TargetInstance[]> {
    const deadline = Date.now() + c.health.startTimeoutMs;
    for (;;) {
      const pods = (await this.pods(conn.api, conn.namespace, c)).filter((p) => podVersion(p) === version && !p.metadata.deletionTimestamp);
      const stuck = count > 0 && pods.some((p) => podProblem(p, c.target.restartLimit, targetKey(c, 'restartLimit')) !== null);
      if (pods.length === count || stuck || Date.now() > deadline) {
        const health = this.knownHealth(c, pods, Date.now());
        return pods.map((p) => toInstance(p, c, this.seenReady, health.get(podKey(p)) ?? null));
      }
      await sleep(this.pollMs);
    }
  }

  // ---- health.path through the pod proxy ---------------------------------------------------

  /**
   * Follows a release for health checks from now until `health.startTimeout` and the post-deploy
   * watch (`rollback.watch`) have passed: Gangway starts it, moves traffic to it, or watches it.
   */
  protected follow(c: Cfg, version: string): void {
    const key = followKey(c, version);
    this.followed.delete(key);
    this.followed.set(key, Date.now() + followWindow(c));
    if (this.followed.size > FOLLOWED_LIMIT) this.followed.delete(this.followed.keys().next().value!);
  }

  /**
   * Whether a pod's health path is checked now: its release is followed (`follow`), or the pod
   * itself is younger than that window — so after the orchestrator restarts, a resumed wait or
   * watch still checks the pods it started.
   */
  private isFollowed(c: Cfg, p: KubePod, now: number): boolean {
    if ((this.followed.get(followKey(c, podVersion(p) ?? '')) ?? 0) > now) return true;
    const created = Date.parse(p.metadata.creationTimestamp ?? '');
    return Number.isFinite(created) && now - created < followWindow(c);
  }

  /** The pods checked at `health.path` now: Ready by their own probe, not terminating, of a followed release. */
  private checked(c: Cfg, pods: KubePod[], now: number): KubePod[] {
    if (!checksHealthPath(c)) return [];
    return pods.filter((p) => isPodReady(p) && !p.metadata.deletionTimestamp && this.isFollowed(c, p, now));
  }

  /** What is known of the checked pods' health, without checking again. */
  private knownHealth(c: Cfg, pods: KubePod[], now: number): Map<string, PodHealth> {
    const known = this.health.get(healthKey(c));
    const out = new Map<string, PodHealth>();
    for (const p of this.checked(c, pods, now)) {
      const h = known?.get(podKey(p));
      if (h) out.set(podKey(p), h);
    }
    return out;
  }

  /**
   * Checks `health.path` on the pods that are checked now (`checked`; of `only` when given) and
   * returns their health; `pods` are all the service's pods, to forget those that are gone.
   * A pod's last result stands until `health.interval` has passed, and a check under way is
   * shared, so `status`, the runner and a step asking at the same time send one request per pod
   * and interval through the API server.
   */
  private async checkHealth(conn: KubeConnection, c: Cfg, pods: KubePod[], only: KubePod[] = pods): Promise<Map<string, PodHealth>> {
    const key = healthKey(c);
    let known = this.health.get(key);
    if (known) {
      const present = new Set(pods.map(podKey));
      for (const uid of [...known.keys()]) if (!present.has(uid)) known.delete(uid);
      // Forgotten, not kept detached: the checks made below must land in the map the next call reads.
      if (known.size === 0) {
        this.health.delete(key);
        known = undefined;
      }
    }
    const due = this.checked(c, only, Date.now());
    if (due.length === 0) return new Map();
    if (!known) this.health.set(key, known = new Map());
    const table = known;
    await Promise.all(due.map((p) => this.checkPod(conn, c, p, table)));
    return new Map(due.map((p) => [podKey(p), table.get(podKey(p))!]));
  }

  /** One check of a pod's health path, unless its last one is younger than `health.interval` (or is under way). */
  private checkPod(conn: KubeConnection, c: Cfg, p: KubePod, known: Map<string, PodHealth>): Promise<void> {
    const uid = podKey(p);
    let h = known.get(uid);
    if (!h) known.set(uid, h = { at: null, ok: false, detail: '', consecutiveFailures: 0, passedAt: null, running: null });
    if (h.running) return h.running;
    if (h.at !== null && Date.now() - h.at < c.health.intervalMs) return Promise.resolve();
    const entry = h;
    entry.running = (async () => {
      const r = await requestHealth(conn, c, p);
      entry.at = Date.now();
      entry.ok = r.ok;
      entry.detail = r.detail;
      // Unlike a process the local agent has just started, a checked pod already answers its
      // readiness probe, so it listens: every failure counts, also before its first pass. That
      // way an orchestrator restarted during the watch, which never saw the pod pass, still
      // fails the watch after failureThreshold failures.
      if (r.ok) {
        entry.consecutiveFailures = 0;
        entry.passedAt ??= entry.at;
      } else {
        entry.consecutiveFailures++;
      }
    })().finally(() => { entry.running = null; });
    return entry.running;
  }

  /** Scales a colour to zero and waits until its controller saw that, so a new template applied next starts all its pods at once. */
  private async scaleToZero(conn: KubeConnection, c: Cfg, color: Color): Promise<void> {
    const name = colorName(c, color);
    const patched = await conn.api.patch<KubeDeployment>('Deployment', conn.namespace, name, { spec: { replicas: 0 } }, 'merge');
    const generation = patched.metadata.generation ?? 0;
    const deadline = Date.now() + c.health.startTimeoutMs;
    for (;;) {
      const d = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, name);
      if (!d || (d.status?.observedGeneration ?? 0) >= generation || Date.now() > deadline) return;
      await sleep(this.pollMs);
    }
  }

  private async readyByVersion(conn: KubeConnection, c: Cfg): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const p of await this.pods(conn.api, conn.namespace, c)) {
      const v = podVersion(p);
      if (v && isPodReady(p) && !p.metadata.deletionTimestamp) counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    return counts;
  }

  /** Which release each colour's Deployment holds, and its replicas. */
  private async colors(conn: KubeConnection, c: Cfg): Promise<Partial<Record<Color, { version: string; replicas: number }>>> {
    const out: Partial<Record<Color, { version: string; replicas: number }>> = {};
    for (const col of COLORS) {
      const d = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, colorName(c, col));
      const v = d?.metadata.annotations?.[ANNOTATION.version];
      if (d && v) out[col] = { version: v, replicas: d.spec?.replicas ?? 0 };
    }
    return out;
  }

  /** The colour a new release may take: one holding nothing, else one no traffic reaches (its old release is replaced). */
  private async freeColor(conn: KubeConnection, c: Cfg, colors: Partial<Record<Color, { version: string; replicas: number }>>, version: string): Promise<Color> {
    const empty = COLORS.find((col) => !colors[col]);
    if (empty) return empty;
    const t = await this.traffic(c as unknown as ServiceEnvConfig);
    const reached = new Set([...t.versions.filter((v) => v.weight > 0).map((v) => v.version), ...(t.preview ? [t.preview] : []), ...(t.headerRoute ? [t.headerRoute.version] : [])]);
    const idle = COLORS.filter((col) => !reached.has(colors[col]!.version));
    if (idle.length === 0) {
      throw new GangwayError('conflict', `cannot start ${version} of ${c.service} in ${c.environment}: traffic reaches both ${colorName(c, 'blue')} (${colors.blue!.version}) and ${colorName(c, 'green')} (${colors.green!.version})`,
        'finish or roll back the deployment that splits traffic first');
    }
    // Of two idle colours, replace one already scaled down (nothing of it runs), else blue.
    return idle.find((col) => colors[col]!.replicas === 0) ?? idle[0]!;
  }

  /**
   * The service's objects as its source gives them now (the manifests, the kustomize overlay):
   * what a release not recorded yet is shaped from, and where the HTTPRoute's parents and the
   * autoscaler are read. A subclass that renders elsewhere (the Helm target) overrides it.
   */
  protected async manifestObjects(_conn: KubeConnection, c: Cfg): Promise<KubeObject[]> {
    return loadObjects(c.target);
  }

  /**
   * Sets the replicas of the Deployment of a layout (the rolling one, or a colour's) by a merge
   * patch: Gangway's own field, which its next apply takes over (`force`). A subclass whose
   * objects another tool owns (the Helm target) overrides it.
   */
  protected async setReplicas(conn: KubeConnection, c: Cfg, layout: Layout, count: number): Promise<void> {
    const name = layout.kind === 'color' ? colorName(c, layout.color) : c.target.deployment;
    await conn.api.patch('Deployment', conn.namespace, name, { spec: { replicas: count } }, 'merge');
  }

  /**
   * Applies a release's objects: the recorded ones when this release ran before (a rollback
   * gets exactly what ran), else the manifests shaped for it, then records them. The public
   * Service keeps the colour it selects; the HTTPRoute is left to `setTraffic`. `ctx` (the
   * deployment that asks, when known) is for subclasses that record it (the Helm target).
   */
  protected async applyRelease(conn: KubeConnection, c: Cfg, release: { version: string; image: string | null }, layout: Layout, replicas: number, _ctx?: RolloutContext): Promise<KubeDeployment> {
    const recorded = await this.recorded(conn, c, release.version);
    // A recorded release is shaped again from what it ran, for whichever colour or layout it lands in now.
    const source = recorded ? unshapeRelease(recorded, c.target) : { objects: await this.manifestObjects(conn, c), image: release.image };
    // What the Deployments hold before this release lands: a record written now must not prune theirs.
    const held = recorded ? [] : await this.heldVersions(conn, c);
    const hpa = autoscalerOf(source.objects, deploymentNames(c));
    // An autoscaler owns the count: Gangway sets it only to start the Deployment or to hand it over.
    const count = hpa === null ? replicas
      : layout.kind === 'color' ? await this.colorReplicas(conn, c, layout.color, replicas)
        : autoscaledReplicas(await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment), replicas);
    const shaped = shapeRelease(source.objects, {
      k: c.target, service: c.service, environment: c.environment, namespace: conn.namespace, version: release.version, image: source.image, replicas: count, layout,
      rolling: c.strategy.kind === 'rolling' ? { maxSurge: c.strategy.maxSurge, maxUnavailable: c.strategy.maxUnavailable } : undefined,
    });
    // Gangway deploys these objects: it takes their fields over from whoever set them before —
    // kubectl in the runbooks' days, and its own merge patches of replicas and selectors.
    const apply = <T extends KubeObject>(o: KubeObject) => conn.api.apply<T>(o, { force: true });
    for (const o of shaped.others) {
      if (o.kind === 'HTTPRoute' && o.metadata.name === c.target.httpRoute) continue;
      // On two colours the autoscaler scales the colour that serves: the switch points it (selectColor).
      if (layout.kind === 'color' && hpa && o.kind === hpa.kind && o.metadata.name === hpa.metadata.name) continue;
      await apply(forApply(o));
    }
    if (shaped.service) {
      const svc = forApply(shaped.service);
      if (layout.kind === 'color') {
        // Keep what the live Service selects; a new Service selects nothing until traffic is set.
        const live = await conn.api.get<KubeService>('Service', conn.namespace, svc.metadata.name);
        const liveColor = live?.spec?.selector ? live.spec.selector[LABEL.color] ?? null : 'none';
        const selector = { ...svc.spec?.selector };
        if (liveColor !== null) selector[LABEL.color] = liveColor;
        svc.spec = { ...svc.spec, selector };
      }
      await apply(svc);
    }
    const dep = await apply<KubeDeployment>(forApply(shaped.deployment));
    if (!recorded) {
      await this.record(conn, c, release.version, shaped);
      await this.pruneRecords(conn, c, new Set([...held, release.version]));
    }
    return dep;
  }

  /** The releases the service's Deployments hold now (the serving one, and on two colours the other). */
  private async heldVersions(conn: KubeConnection, c: Cfg): Promise<string[]> {
    if (layoutKind(c) === 'color') return Object.values(await this.colors(conn, c)).map((x) => x.version);
    const live = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
    const v = live?.metadata.annotations?.[ANNOTATION.version];
    return v ? [v] : [];
  }

  /**
   * The replicas a colour gets for `wanted` pods when an autoscaler scales the service. The colour
   * the public Service selects is the autoscaler's: `autoscaledReplicas` decides. The other colour
   * starts as large as the load made the serving one — `wanted` scaled by the serving colour's
   * count over `instances`, as Argo Rollouts sizes a preview or a canary from the autoscaler's
   * count — and never smaller than `wanted`.
   */
  protected async colorReplicas(conn: KubeConnection, c: Cfg, color: Color, wanted: number): Promise<number | null> {
    const serving = await this.servingColor(conn, c);
    if (serving === color) return autoscaledReplicas(await conn.api.get<KubeDeployment>('Deployment', conn.namespace, colorName(c, color)), wanted);
    const scaled = serving ? (await conn.api.get<KubeDeployment>('Deployment', conn.namespace, colorName(c, serving)))?.spec?.replicas ?? 0 : 0;
    return Math.max(wanted, Math.ceil((wanted * scaled) / c.target.instances));
  }

  /** The one colour the public Service selects, or null (none, both, or no Service). */
  private async servingColor(conn: KubeConnection, c: Cfg): Promise<Color | null> {
    const svc = await conn.api.get<KubeService>('Service', conn.namespace, c.target.service);
    const col = svc?.spec?.selector?.[LABEL.color];
    return col === 'blue' || col === 'green' ? col : null;
  }

  /** The autoscaler among the objects a release ran (its record, else the manifests), or null. */
  private async autoscalerOfRelease(conn: KubeConnection, c: Cfg, version: string): Promise<KubeAutoscaler | null> {
    const recorded = await this.recorded(conn, c, version);
    return autoscalerOf(recorded ? recorded.others : await this.manifestObjects(conn, c), deploymentNames(c));
  }

  /** Points the autoscaler of the release a colour holds at that colour's Deployment; nothing without one. */
  private async pointAutoscalerAt(conn: KubeConnection, c: Cfg, color: Color): Promise<void> {
    const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, colorName(c, color));
    const version = dep?.metadata.annotations?.[ANNOTATION.version];
    if (!version) return;
    const hpa = await this.autoscalerOfRelease(conn, c, version);
    if (hpa) await conn.api.apply(pointAutoscaler(hpa, colorName(c, color), conn.namespace), { force: true });
  }

  /**
   * Deletes the release records of the service in the environment that nothing rolls back to any
   * more: all but the newest `RELEASE_RECORDS_KEPT` and those of `keep` (the releases the
   * Deployments hold and the one just recorded). Housekeeping: a failure (no RBAC permission to
   * list or delete ConfigMaps) is logged, never fails the deployment, and the next record retries.
   */
  private async pruneRecords(conn: KubeConnection, c: Cfg, keep: Set<string>): Promise<void> {
    try {
      const { items } = await conn.api.list('ConfigMap', conn.namespace, { labelSelector: `${RECORD_LABEL}=release,${LABEL.service}=${c.service},${LABEL.environment}=${c.environment}` });
      const at = (o: KubeObject) => Number(o.metadata.annotations?.[RECORDED_AT] ?? Date.parse(o.metadata.creationTimestamp ?? '')) || 0;
      const newestFirst = [...items].sort((a, b) => at(b) - at(a) || b.metadata.name.localeCompare(a.metadata.name));
      for (const cm of newestFirst.slice(RELEASE_RECORDS_KEPT)) {
        if (keep.has(cm.metadata.annotations?.[ANNOTATION.version] ?? '')) continue;
        await conn.api.delete('ConfigMap', conn.namespace, cm.metadata.name);
      }
    } catch (err) {
      this.log?.warn({ service: c.service, environment: c.environment, namespace: conn.namespace, err: err instanceof Error ? err.message : String(err) }, 'could not prune release records');
    }
  }

  private recordName(c: Cfg, version: string): string {
    return `gangway-${c.target.deployment}-${fnv1a(`${c.environment}\u0000${version}`)}`.slice(0, 253);
  }

  private async recorded(conn: KubeConnection, c: Cfg, version: string): Promise<Shaped | null> {
    const name = this.recordName(c, version);
    const cm = await conn.api.get('ConfigMap', conn.namespace, name);
    const text = (cm?.data as Record<string, string> | undefined)?.['objects.json'];
    if (!text) return null;
    let shaped: Partial<Shaped> | null = null;
    try {
      shaped = JSON.parse(text) as Partial<Shaped>;
    } catch {
      // reported below
    }
    if (!shaped || typeof shaped.deployment?.metadata?.name !== 'string' || !Array.isArray(shaped.others)) {
      throw new GangwayError('conflict', `the release record of ${version} (ConfigMap ${name} in ${conn.namespace}) does not hold the objects Gangway wrote`,
        `delete it (kubectl -n ${conn.namespace} delete configmap ${name}) to shape ${version} from the current manifests`);
    }
    return { deployment: shaped.deployment, service: shaped.service ?? null, others: shaped.others };
  }

  /** Epoch ms for a new record, later than every record this target wrote before (so their order is exact). */
  private recordTime(): number {
    this.lastRecordedAt = Math.max(Date.now(), this.lastRecordedAt + 1);
    return this.lastRecordedAt;
  }

  /** Keeps what a release applied, so a rollback to it applies the same objects. */
  private async record(conn: KubeConnection, c: Cfg, version: string, shaped: Shaped): Promise<void> {
    await conn.api.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: this.recordName(c, version),
        namespace: conn.namespace,
        labels: { [LABEL.managedBy]: 'gangway', [LABEL.service]: c.service, [LABEL.environment]: c.environment, [RECORD_LABEL]: 'release' },
        annotations: { [ANNOTATION.version]: version, [RECORDED_AT]: String(this.recordTime()) },
      },
      data: { 'objects.json': JSON.stringify(shaped) },
    });
  }

  /** Points the public Service at one colour (null: at none). */
  private async selectColor(conn: KubeConnection, c: Cfg, color: Color | null): Promise<void> {
    // No Service and no colour to select (a first release that failed before its Service was
    // applied): nothing routes, which is what was asked.
    if (color === null && !(await conn.api.get<KubeService>('Service', conn.namespace, c.target.service))) return;
    await conn.api.patch('Service', conn.namespace, c.target.service, { spec: { selector: { [LABEL.color]: color ?? 'none' } } }, 'merge');
    // The autoscaler follows the colour that serves, as Argo Rollouts' autoscaler scales the active ReplicaSet.
    if (color !== null) await this.pointAutoscalerAt(conn, c, color);
  }

  /**
   * Weights by replica counts behind one Service: the release with the smaller weight gets
   * ⌈n·w/100⌉ pods, at most n − 1, the other the rest — each at least one, so a split never
   * leaves a release it names without a pod (with `instances: 1` both run one). Moving traffic
   * back to one release scales it up and waits for its pods before the Service stops selecting
   * the other, so no request finds no pod.
   */
  private async ratioTraffic(conn: KubeConnection, c: Cfg, split: Array<{ color: Color; weight: number }>, colors: Partial<Record<Color, { version: string; replicas: number }>>): Promise<void> {
    const n = c.target.instances;
    const autoscaler = async (col: Color) => this.autoscalerOfRelease(conn, c, colors[col]!.version);
    if (split.length <= 1) {
      const only = split[0]?.color ?? null;
      if (only) {
        // Under an autoscaler the colour it scales keeps its count; the other starts as large (colorReplicas).
        const count = (await autoscaler(only)) ? await this.colorReplicas(conn, c, only, n) : n;
        if (count !== null) {
          await conn.api.patch('Deployment', conn.namespace, colorName(c, only), { spec: { replicas: count } }, 'merge');
          await this.untilReady(conn, c, only, count);
        }
      }
      await this.selectColor(conn, c, only);
      return;
    }
    for (const s of split) {
      const hpa = await autoscaler(s.color);
      if (hpa) {
        throw new GangwayError('invalid_argument', `${c.service}/${c.environment}: HorizontalPodAutoscaler "${hpa.metadata.name}" scales Deployment ${hpa.spec?.scaleTargetRef?.name}, but a canary without ${targetKey(c, 'httpRoute')} weighs traffic by setting both colours' pod counts, which the autoscaler would undo; traffic left where it was`,
          `add ${targetKey(c, 'httpRoute')} (its weights leave pod counts to the autoscaler), deploy with blueGreen, or remove the autoscaler from the manifests`);
      }
    }
    const sorted = [...split].sort((a, b) => a.weight - b.weight);
    const small = sorted[0]!;
    const smallCount = Math.max(1, Math.min(n - 1, Math.ceil((n * small.weight) / 100)));
    const counts = new Map<Color, number>([[small.color, smallCount], [sorted[1]!.color, Math.max(1, n - smallCount)]]);
    // Scale up first, then down, so the total never drops below what serves.
    const current = new Map<Color, number>();
    for (const col of counts.keys()) current.set(col, (await conn.api.get<KubeDeployment>('Deployment', conn.namespace, colorName(c, col)))?.spec?.replicas ?? 0);
    const order = [...counts].sort(([a, na], [b, nb]) => Number(nb > current.get(b)!) - Number(na > current.get(a)!));
    for (const [col, count] of order) {
      if (count > current.get(col)!) {
        await conn.api.patch('Deployment', conn.namespace, colorName(c, col), { spec: { replicas: count } }, 'merge');
        await this.untilReady(conn, c, col, count);
      } else if (count < current.get(col)!) {
        await conn.api.patch('Deployment', conn.namespace, colorName(c, col), { spec: { replicas: count } }, 'merge');
      }
    }
    await conn.api.patch('Service', conn.namespace, c.target.service, { spec: { selector: { [LABEL.color]: null } } }, 'merge');
  }

  private async untilReady(conn: KubeConnection, c: Cfg, color: Color, count: number): Promise<void> {
    const deadline = Date.now() + c.health.startTimeoutMs;
    for (;;) {
      const d = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, colorName(c, color));
      if ((d?.status?.readyReplicas ?? 0) >= count) return;
      if (Date.now() > deadline) {
        throw new GangwayError('deployment_failed', `${colorName(c, color)} has ${d?.status?.readyReplicas ?? 0} of ${count} pods ready after ${c.health.startTimeoutMs / 1000}s (health.startTimeout); traffic left where it was`);
      }
      await sleep(this.pollMs);
    }
  }

  /**
   * Weights and a header rule on the HTTPRoute, one Service per colour as its backends. The
   * public Service follows the heaviest backend, so callers inside the cluster that use it
   * reach the release most traffic goes to rather than nothing.
   */
  private async routeTraffic(conn: KubeConnection, c: Cfg, split: Array<{ color: Color; weight: number }>, header: { name: string; value: string; color: Color } | null): Promise<void> {
    const name = c.target.httpRoute!;
    const fromManifests = (await this.manifestObjects(conn, c)).find((o) => o.kind === 'HTTPRoute' && o.metadata.name === name);
    const base = fromManifests ?? await conn.api.get('HTTPRoute', conn.namespace, name);
    if (!base) throw new GangwayError('invalid_argument', `${targetKey(c, 'httpRoute')}: no HTTPRoute "${name}" in the manifests or in namespace ${conn.namespace}`, 'add the HTTPRoute to the manifests');
    const publicSvc = await conn.api.get<KubeService>('Service', conn.namespace, c.target.service);
    if (!publicSvc) throw new GangwayError('invalid_argument', `${targetKey(c, 'service')}: no Service "${c.target.service}" in namespace ${conn.namespace}`);
    const port = publicSvc.spec?.ports?.[0]?.port;
    for (const col of new Set([...split.map((s) => s.color), ...(header ? [header.color] : [])])) {
      await conn.api.apply(colorService(publicSvc, `${c.target.service}-${col}`, col, { [LABEL.managedBy]: 'gangway' }), { force: true });
    }
    const baseSpec = base.spec as { parentRefs?: unknown; hostnames?: unknown; rules?: RouteRule[] } | undefined;
    // A live route Gangway wrote keeps the original matches on its last (weighted) rule; its first may be the header rule.
    const writtenByGangway = !fromManifests && base.metadata.labels?.[LABEL.managedBy] === 'gangway';
    const matches = (writtenByGangway ? baseSpec?.rules?.at(-1) : baseSpec?.rules?.[0])?.matches;
    const backend = (col: Color, weight: number) => ({ name: `${c.target.service}-${col}`, port, weight });
    const rules: RouteRule[] = [];
    if (header) {
      const headerMatches = (matches && matches.length > 0 ? matches : [{}]).map((m) => ({ ...m, headers: [...(m.headers ?? []), { type: 'Exact', name: header.name, value: header.value }] }));
      rules.push({ matches: headerMatches, backendRefs: [backend(header.color, 1)] });
    }
    rules.push({ ...(matches ? { matches } : {}), backendRefs: split.map((s) => backend(s.color, s.weight)) });
    await conn.api.apply({
      apiVersion: HTTPROUTE_API_VERSION,
      kind: 'HTTPRoute',
      metadata: { name, namespace: conn.namespace, labels: { ...base.metadata.labels, [LABEL.managedBy]: 'gangway' } },
      spec: { ...(baseSpec?.parentRefs ? { parentRefs: baseSpec.parentRefs } : {}), ...(baseSpec?.hostnames ? { hostnames: baseSpec.hostnames } : {}), rules },
    } as KubeObject, { force: true });
    const heaviest = split.reduce<{ color: Color; weight: number } | null>((best, s) => (best === null || s.weight > best.weight ? s : best), null);
    await this.selectColor(conn, c, heaviest?.color ?? null);
  }

  /** The preview Service selects the colour under test; no preview, no Service. */
  private async setPreview(conn: KubeConnection, c: Cfg, color: Color | null): Promise<void> {
    if (color === null) {
      await conn.api.delete('Service', conn.namespace, previewName(c));
      return;
    }
    const publicSvc = await conn.api.get<KubeService>('Service', conn.namespace, c.target.service);
    if (!publicSvc) throw new GangwayError('invalid_argument', `${targetKey(c, 'service')}: no Service "${c.target.service}" in namespace ${conn.namespace}`, 'add the public Service to the manifests');
    await conn.api.apply(colorService(publicSvc, previewName(c), color, { [LABEL.managedBy]: 'gangway', [LABEL.service]: c.service, [LABEL.environment]: c.environment }), { force: true });
  }
}

interface RouteRule {
  matches?: Array<{ headers?: Array<{ type?: string; name: string; value: string }>; [k: string]: unknown }>;
  backendRefs?: Array<{ name: string; port?: number; weight?: number }>;
  [k: string]: unknown;
}

function layoutKind(c: Cfg): 'single' | 'color' {
  return c.strategy.kind === 'rolling' ? 'single' : 'color';
}

/** The Deployment of a colour: `<deployment>-blue`, `<deployment>-green`. */
export function colorName(c: Pick<Cfg, 'target'>, color: Color): string {
  return `${c.target.deployment}-${color}`;
}

function previewName(c: Cfg): string {
  return `${c.target.service}-preview`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function podVersion(p: KubePod): string | null {
  return p.metadata.annotations?.[ANNOTATION.version] ?? null;
}

/** The Deployment names an autoscaler of the service may scale: the manifests' one, and on two colours each colour's. */
function deploymentNames(c: Cfg): string[] {
  return layoutKind(c) === 'color' ? [c.target.deployment, colorName(c, 'blue'), colorName(c, 'green')] : [c.target.deployment];
}

/** A pod's identity across calls: its uid (a pod recreated under the same name is another pod). */
function podKey(p: KubePod): string {
  return (p.metadata.uid as string | undefined) ?? p.metadata.name;
}

function healthKey(c: Cfg): string {
  return `${c.service}\u0000${c.environment}`;
}

function followKey(c: Cfg, version: string): string {
  return `${c.service}\u0000${c.environment}\u0000${version}`;
}

/** How long a release is followed for health checks after Gangway last acted on it: its start, then the watch. */
function followWindow(c: Cfg): number {
  return c.health.startTimeoutMs + c.rollback.watchMs;
}

/**
 * Whether Gangway checks `health.path` itself. A path left to its default (`pathSet: false` in
 * the compiled config) is not checked: the pod's own readiness probe is its health then.
 */
function checksHealthPath(c: Cfg): boolean {
  return c.health.pathSet !== false;
}

/** The pod's port that checks reach: `target.kubernetes.port`, else the release container's first declared port, else the first container's. */
function podPort(c: Cfg, pod: KubePod): number | null {
  return c.target.port ?? pod.spec?.containers.find((x) => x.name === c.target.container)?.ports?.[0]?.containerPort ?? pod.spec?.containers[0]?.ports?.[0]?.containerPort ?? null;
}

/**
 * One request to the pod's `health.path` through the API server's pod proxy, judged by
 * `health.expect` within `health.timeout`. The detail names the path, and says so when the API
 * server answered rather than the app (the pod refuses connections, RBAC forbids `pods/proxy`).
 * Never throws; the credentials never reach the detail.
 */
async function requestHealth(conn: KubeConnection, c: Cfg, p: KubePod): Promise<{ ok: boolean; detail: string }> {
  const path = c.health.path.startsWith('/') ? c.health.path : `/${c.health.path}`;
  try {
    const url = conn.api.proxyUrl(conn.namespace, 'pods', p.metadata.name, podPort(c, p), path);
    const r = await checkHttp(url, c.health.expect, c.health.timeoutMs, { headers: await conn.api.authHeaders(), dispatcher: conn.api.dispatcher });
    if (r.ok || r.status === null) return { ok: r.ok, detail: `${path}: ${r.detail}` };
    const status = apiServerStatus(r.body);
    if (!status) return { ok: false, detail: `${path}: ${r.detail}` };
    const rbac = r.status === 401 || r.status === 403 ? ' (the identity needs get on pods/proxy)' : '';
    return { ok: false, detail: `${path}: the API server answered ${r.status}: ${status}${rbac}` };
  } catch (err) {
    return { ok: false, detail: `${path}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The message of a Kubernetes `Status` body (an answer of the API server itself, not of the app), or null. */
function apiServerStatus(body: string | undefined): string | null {
  try {
    const doc = JSON.parse(body ?? '') as { kind?: unknown; apiVersion?: unknown; message?: unknown };
    return doc.kind === 'Status' && doc.apiVersion === 'v1' && typeof doc.message === 'string' ? doc.message : null;
  } catch {
    return null;
  }
}

/**
 * A pod as an instance. Its health is the kubelet's readiness probe: ready while the Ready
 * condition holds, `unhealthy` when this target saw it ready and it no longer is, `crashed` with a
 * `failure` when a container crash-loops, cannot pull its image or restarts past the limit. When
 * Gangway checks its `health.path` too (`health`), a Ready pod is `starting` until a check passed,
 * and `unhealthy` after `health.failureThreshold` failures in a row, as the local agent judges
 * its instances; `lastHealth` is then the last check.
 */
/** A config key of this target, for messages: `target.kubernetes.<key>`, or `target.helm.<key>` for the Helm target built on this one. */
function targetKey(c: { target: { kind: string } }, key: 'restartLimit' | 'httpRoute' | 'service'): string {
  return `target.${c.target.kind}.${key}`;
}

function toInstance(p: KubePod, c: Cfg, seenReady: Set<string>, health: PodHealth | null): TargetInstance {
  const problem = podProblem(p, c.target.restartLimit, targetKey(c, 'restartLimit'));
  const ready = isPodReady(p);
  const cond = p.status?.conditions?.find((x) => x.type === 'Ready');
  const at = cond?.lastTransitionTime ? Date.parse(cond.lastTransitionTime) : null;
  const key = podKey(p);
  if (ready && !seenReady.has(key)) {
    seenReady.add(key);
    if (seenReady.size > SEEN_READY_LIMIT) seenReady.delete(seenReady.values().next().value!);
  }
  const wasReady = !ready && seenReady.has(key);
  let state: TargetInstance['state'] = p.metadata.deletionTimestamp ? 'stopping' : problem ? 'crashed' : ready ? 'ready' : wasReady ? 'unhealthy' : 'starting';
  let lastHealth: TargetInstance['lastHealth'] = cond && at !== null ? { at, ok: ready, detail: ready ? 'pod Ready' : `pod not Ready${cond.reason ? ` (${cond.reason}${cond.message ? `: ${cond.message}` : ''})` : ''}` } : null;
  let readyAt = ready && at !== null ? at : null;
  let consecutiveFailures = 0;
  if (state === 'ready' && health) {
    readyAt = health.passedAt;
    consecutiveFailures = health.consecutiveFailures;
    if (health.at !== null) lastHealth = { at: health.at, ok: health.ok, detail: health.detail };
    state = health.passedAt === null ? 'starting' : consecutiveFailures >= c.health.failureThreshold ? 'unhealthy' : 'ready';
  }
  return {
    id: p.metadata.name,
    version: podVersion(p) ?? 'unknown',
    state,
    restarts: podRestarts(p),
    consecutiveFailures,
    readyAt,
    lastHealth,
    failure: problem,
    detail: {
      pod: p.metadata.name,
      ip: p.status?.podIP ?? null,
      node: (p.spec?.nodeName as string | undefined) ?? null,
      replicaSet: p.metadata.ownerReferences?.find((o) => o.kind === 'ReplicaSet')?.name ?? null,
      color: p.metadata.labels?.[LABEL.color] ?? null,
    },
  };
}

/** Ready pods per release as percentages that add up to 100 (largest remainder). */
function ratio(counts: Map<string, number>): Array<{ version: string; weight: number }> {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  return normalise([...counts].map(([version, n]) => ({ version, weight: n })), total);
}

function normalise(parts: Array<{ version: string; weight: number }>, total = parts.reduce((a, b) => a + b.weight, 0)): Array<{ version: string; weight: number }> {
  if (total <= 0) return [];
  const raw = parts.map((p) => ({ version: p.version, exact: (p.weight * 100) / total }));
  const out = raw.map((r) => ({ version: r.version, weight: Math.floor(r.exact) }));
  let left = 100 - out.reduce((a, b) => a + b.weight, 0);
  const byRemainder = raw.map((r, i) => ({ i, rem: r.exact - Math.floor(r.exact) })).sort((a, b) => b.rem - a.rem);
  for (const { i } of byRemainder) {
    if (left <= 0) break;
    out[i]!.weight++;
    left--;
  }
  return out.filter((o) => o.weight > 0).sort((a, b) => a.version.localeCompare(b.version));
}
