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
 * change on every undo. Every method is idempotent.
 */
import type { JobConfig, KubernetesTargetConfig } from '../../config/kubernetes.js';
import type { ServiceEnvConfig } from '../../config/types.js';
import { GangwayError } from '../../errors.js';
import { unsupportedTraffic } from '../registry.js';
import type { LogLine, Reach, ReleaseRef, RolloutHandle, RolloutStatus, Target, TargetCapabilities, TargetInstance, Traffic, JobHandle, JobStatus } from '../target.js';
import type { KubeApi, KubeConnection } from './api.js';
import { kubeJobStatus, startKubeJob } from './jobs.js';
import { colorService, forApply, loadObjects, shapeRelease, unshapeRelease, type Layout, type Shaped } from './manifests.js';
import { ANNOTATION, LABEL, fnv1a, type KubeDeployment, type KubeObject, type KubePod, type KubeService } from './objects.js';
import { deploymentRolloutStatus, isPodReady, podProblem, podRestarts } from './rollout-status.js';

/** The two slots of the blue-green and canary layouts (`<deployment>-blue`, `<deployment>-green`). */
export type Color = 'blue' | 'green';
const COLORS: readonly Color[] = ['blue', 'green'];

/** The Gateway API version the client serves HTTPRoutes at; the applied object must say the same. */
const HTTPROUTE_API_VERSION = 'gateway.networking.k8s.io/v1';

/** Pods remembered as once ready; past this the oldest are forgotten (an orchestrator runs for months). */
const SEEN_READY_LIMIT = 10_000;

/**
 * What the Kubernetes target is built with.
 *
 * @example
 * const connector = kubeConnector();
 * new KubernetesTarget({ connect: (k) => connector.connect(k) });
 */
export interface KubernetesTargetOptions {
  /** Opens (and caches) the connection for a target config. */
  connect: (k: KubernetesTargetConfig) => Promise<KubeConnection>;
  /**
   * How often waits inside the target poll (default 1000 ms): pods to exist after `scale`, a
   * replica-ratio scale-up before traffic moves back.
   */
  pollMs?: number;
}

type Cfg = Omit<ServiceEnvConfig, 'target'> & { target: KubernetesTargetConfig };

/**
 * Narrows a service's config to the Kubernetes target's.
 *
 * @example kubeCfg(cfg).target.deployment // 'web'
 */
export function kubeCfg(cfg: ServiceEnvConfig): Cfg {
  if ((cfg.target as { kind: string }).kind !== 'kubernetes') {
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
  private readonly connect: KubernetesTargetOptions['connect'];
  private readonly pollMs: number;
  /** Pods seen ready (by uid), so one that stops being ready reads as unhealthy rather than starting. */
  private readonly seenReady = new Set<string>();

  constructor(opts: KubernetesTargetOptions) {
    this.connect = opts.connect;
    this.pollMs = opts.pollMs ?? 1000;
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

  /** Every pod of the service in the environment (all releases), oldest first. */
  async instances(cfg: ServiceEnvConfig): Promise<TargetInstance[]> {
    const c = kubeCfg(cfg);
    const { api, namespace } = await this.connect(c.target);
    const pods = await this.pods(api, namespace, c);
    return pods.map((p) => toInstance(p, c.target.restartLimit, this.seenReady));
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
  async scale(cfg: ServiceEnvConfig, release: ReleaseRef, count: number): Promise<TargetInstance[]> {
    const c = kubeCfg(cfg);
    const conn = await this.connect(c.target);
    if (layoutKind(c) === 'single') {
      const live = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
      const holds = live?.metadata.annotations?.[ANNOTATION.version] === release.version;
      if (count === 0 && !holds) return [];
      if (count === 0) await conn.api.patch('Deployment', conn.namespace, c.target.deployment, { spec: { replicas: 0 } }, 'merge');
      else await this.applyRelease(conn, c, release, { kind: 'single' }, count);
      return this.settle(conn, c, release.version, count);
    }
    const colors = await this.colors(conn, c);
    const holding = COLORS.find((col) => colors[col]?.version === release.version);
    if (count === 0) {
      if (!holding) return [];
      await conn.api.patch('Deployment', conn.namespace, colorName(c, holding), { spec: { replicas: 0 } }, 'merge');
      return this.settle(conn, c, release.version, 0);
    }
    const color = holding ?? await this.freeColor(conn, c, colors, release.version);
    const previous = colors[color];
    if (!holding && previous && previous.replicas > 0) await this.scaleToZero(conn, c, color);
    await this.applyRelease(conn, c, release, { kind: 'color', color }, count);
    return this.settle(conn, c, release.version, count);
  }

  // ---- native rolling -------------------------------------------------------------------

  /** Applies the release to the Deployment (its rolling update does the rest); the same call again acts no further. */
  async rollout(cfg: ServiceEnvConfig, release: ReleaseRef): Promise<RolloutHandle> {
    const c = kubeCfg(cfg);
    const conn = await this.connect(c.target);
    const dep = await this.applyRelease(conn, c, release, { kind: 'single' }, c.target.instances);
    return { version: release.version, revision: `generation ${dep.metadata.generation ?? 0}` };
  }

  /**
   * Where a rollout stands, by `kubectl rollout status`'s rules, failed early when a pod of the
   * release crash-loops, cannot pull its image, or restarts more than `restartLimit`.
   */
  async rolloutStatus(cfg: ServiceEnvConfig, handle: RolloutHandle): Promise<RolloutStatus> {
    const c = kubeCfg(cfg);
    const { api, namespace } = await this.connect(c.target);
    const dep = await api.get<KubeDeployment>('Deployment', namespace, c.target.deployment);
    if (!dep) return { state: 'failed', reason: `deployment "${c.target.deployment}" is gone from namespace ${namespace}` };
    const holds = dep.metadata.annotations?.[ANNOTATION.version];
    if (holds !== handle.version) {
      return { state: 'failed', reason: `deployment "${c.target.deployment}" was changed to ${holds ?? 'a release Gangway did not make'} while ${handle.version} rolled out` };
    }
    const pods = (await this.pods(api, namespace, c)).filter((p) => podVersion(p) === handle.version);
    for (const p of pods) {
      const problem = podProblem(p, c.target.restartLimit);
      if (problem) return { state: 'failed', reason: problem };
    }
    return deploymentRolloutStatus(dep);
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
        t.headerRoute && !c.target.httpRoute ? 'add target.kubernetes.httpRoute (a Gateway API HTTPRoute routes by header)' : undefined);
    }
    const conn = await this.connect(c.target);
    const routed = t.versions.filter((v) => v.weight > 0);
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
      await this.ratioTraffic(conn, c, split);
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
      return { versions, preview: previewVersion, headerRoute: hv && hm ? { name: hm.name, value: hm.value, version: hv } : null };
    }
    const svc = await api.get<KubeService>('Service', namespace, c.target.service);
    const selected = svc?.spec?.selector?.[LABEL.color];
    if (selected !== undefined) {
      const v = versionOf(selected);
      return { versions: v ? [{ version: v, weight: 100 }] : [], preview: previewVersion };
    }
    return { versions: ratio(await this.readyByVersion(conn, c)), preview: previewVersion };
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
    const port = c.target.port ?? pod.spec?.containers.find((x) => x.name === c.target.container)?.ports?.[0]?.containerPort ?? pod.spec?.containers[0]?.ports?.[0]?.containerPort ?? null;
    return { url: base('pods', pod.metadata.name, port), headers: await conn.api.authHeaders(), dispatcher: conn.api.dispatcher, describe: `pod ${pod.metadata.name} in ${conn.namespace} via ${conn.server}` };
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
      const stuck = count > 0 && pods.some((p) => podProblem(p, c.target.restartLimit) !== null);
      if (pods.length === count || stuck || Date.now() > deadline) return pods.map((p) => toInstance(p, c.target.restartLimit, this.seenReady));
      await sleep(this.pollMs);
    }
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
   * Applies a release's objects: the recorded ones when this release ran before (a rollback
   * gets exactly what ran), else the manifests shaped for it, then records them. The public
   * Service keeps the colour it selects; the HTTPRoute is left to `setTraffic`.
   */
  private async applyRelease(conn: KubeConnection, c: Cfg, release: { version: string; image: string | null }, layout: Layout, replicas: number): Promise<KubeDeployment> {
    const recorded = await this.recorded(conn, c, release.version);
    // A recorded release is shaped again from what it ran, for whichever colour or layout it lands in now.
    const source = recorded ? unshapeRelease(recorded, c.target) : { objects: await loadObjects(c.target), image: release.image };
    const shaped = shapeRelease(source.objects, {
      k: c.target, service: c.service, environment: c.environment, namespace: conn.namespace, version: release.version, image: source.image, replicas, layout,
      rolling: c.strategy.kind === 'rolling' ? { maxSurge: c.strategy.maxSurge, maxUnavailable: c.strategy.maxUnavailable } : undefined,
    });
    // Gangway deploys these objects: it takes their fields over from whoever set them before —
    // kubectl in the runbooks' days, and its own merge patches of replicas and selectors.
    const apply = <T extends KubeObject>(o: KubeObject) => conn.api.apply<T>(o, { force: true });
    for (const o of shaped.others) {
      if (o.kind === 'HTTPRoute' && o.metadata.name === c.target.httpRoute) continue;
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
    if (!recorded) await this.record(conn, c, release.version, shaped);
    return dep;
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

  /** Keeps what a release applied, so a rollback to it applies the same objects. */
  private async record(conn: KubeConnection, c: Cfg, version: string, shaped: Shaped): Promise<void> {
    await conn.api.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: this.recordName(c, version),
        namespace: conn.namespace,
        labels: { [LABEL.managedBy]: 'gangway', [LABEL.service]: c.service, [LABEL.environment]: c.environment, 'gangway.io/record': 'release' },
        annotations: { [ANNOTATION.version]: version },
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
  }

  /**
   * Weights by replica counts behind one Service: the release with the smaller weight gets
   * ⌈n·w/100⌉ pods, at most n − 1, the other the rest — each at least one, so a split never
   * leaves a release it names without a pod (with `instances: 1` both run one). Moving traffic
   * back to one release scales it up and waits for its pods before the Service stops selecting
   * the other, so no request finds no pod.
   */
  private async ratioTraffic(conn: KubeConnection, c: Cfg, split: Array<{ color: Color; weight: number }>): Promise<void> {
    const n = c.target.instances;
    if (split.length <= 1) {
      const only = split[0]?.color ?? null;
      if (only) {
        await conn.api.patch('Deployment', conn.namespace, colorName(c, only), { spec: { replicas: n } }, 'merge');
        await this.untilReady(conn, c, only, n);
      }
      await this.selectColor(conn, c, only);
      return;
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
    const fromManifests = (await loadObjects(c.target)).find((o) => o.kind === 'HTTPRoute' && o.metadata.name === name);
    const base = fromManifests ?? await conn.api.get('HTTPRoute', conn.namespace, name);
    if (!base) throw new GangwayError('invalid_argument', `target.kubernetes.httpRoute: no HTTPRoute "${name}" in the manifests or in namespace ${conn.namespace}`, 'add the HTTPRoute to the manifests');
    const publicSvc = await conn.api.get<KubeService>('Service', conn.namespace, c.target.service);
    if (!publicSvc) throw new GangwayError('invalid_argument', `target.kubernetes.service: no Service "${c.target.service}" in namespace ${conn.namespace}`);
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
    if (!publicSvc) throw new GangwayError('invalid_argument', `target.kubernetes.service: no Service "${c.target.service}" in namespace ${conn.namespace}`, 'add the public Service to the manifests');
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

function colorName(c: Cfg, color: Color): string {
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

/**
 * A pod as an instance. Its health is the kubelet's readiness probe: ready while the Ready
 * condition holds, `unhealthy` when this target saw it ready and it no longer is, `crashed` with a
 * `failure` when a container crash-loops, cannot pull its image or restarts past the limit.
 */
function toInstance(p: KubePod, restartLimit: number, seenReady: Set<string>): TargetInstance {
  const problem = podProblem(p, restartLimit);
  const ready = isPodReady(p);
  const cond = p.status?.conditions?.find((x) => x.type === 'Ready');
  const at = cond?.lastTransitionTime ? Date.parse(cond.lastTransitionTime) : null;
  const key = (p.metadata.uid as string | undefined) ?? p.metadata.name;
  if (ready && !seenReady.has(key)) {
    seenReady.add(key);
    if (seenReady.size > SEEN_READY_LIMIT) seenReady.delete(seenReady.values().next().value!);
  }
  const wasReady = !ready && seenReady.has(key);
  const state: TargetInstance['state'] = p.metadata.deletionTimestamp ? 'stopping' : problem ? 'crashed' : ready ? 'ready' : wasReady ? 'unhealthy' : 'starting';
  return {
    id: p.metadata.name,
    version: podVersion(p) ?? 'unknown',
    state,
    restarts: podRestarts(p),
    consecutiveFailures: 0,
    readyAt: ready && at !== null ? at : null,
    lastHealth: cond && at !== null ? { at, ok: ready, detail: ready ? 'pod Ready' : `pod not Ready${cond.reason ? ` (${cond.reason}${cond.message ? `: ${cond.message}` : ''})` : ''}` } : null,
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
