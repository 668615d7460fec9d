/**
 * The Helm target: a service's objects come from a chart and are installed by the user's `helm`
 * (argv, never a shell), while everything Gangway reads or moves on the cluster — pods,
 * readiness, restarts, `health.path` through the pod proxy, logs, smoke checks, Jobs, the
 * public/preview Services and the HTTPRoute — is the Kubernetes target's machinery, inherited.
 *
 * How the two meet: every `helm upgrade` runs Gangway's post-renderer (post-render.ts), which
 * shapes the chart's rendered objects with the Kubernetes target's own `shapeRelease`, so the
 * pods carry Gangway's labels and annotations exactly as on the Kubernetes target.
 *
 * Layouts:
 * - rolling (native): one release, `target.helm.release`. `rollout` is `helm upgrade --install
 *   … --wait --timeout`, its handle the revision `helm status -o json` reports; a release an
 *   earlier revision ran (a rollback) is `helm rollback <release> <that revision> --wait`, the
 *   revision found in `helm history` by the descriptions Gangway writes (`gangway: deploy 1.2.0
 *   (d-… by …)`) and Helm's `Rollback to N`. `rolloutStatus` is the Kubernetes rules.
 * - blue-green and canary: two releases, `<release>-blue` and `<release>-green`, one per colour.
 *   The post-renderer keeps the public Service, the HTTPRoute and the autoscaler out of them
 *   (Gangway applies and switches those, as on Kubernetes) and leaves `spec.replicas` out of the colour's
 *   Deployment: the count is Gangway's field, set by a merge patch — safe, because Helm's
 *   manifests never hold it (no server-side-apply conflict, and Helm 3's three-way merge never
 *   touches a field absent from both its old and new manifest).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HelmTargetConfig } from '../../config/helm.js';
import { substituteOne } from '../../config/placeholders.js';
import type { ServiceEnvConfig } from '../../config/types.js';
import { GangwayError } from '../../errors.js';
import type { KubeConnection } from '../kubernetes/api.js';
import { KubernetesTarget, colorName, kubeCfg, type KubeCfg, type KubernetesTargetOptions } from '../kubernetes/kubernetes-target.js';
import { autoscalerOf, forApply, imageRepository, parseObjects, type Layout } from '../kubernetes/manifests.js';
import { ANNOTATION, LABEL, type KubeDeployment, type KubeObject, type KubeService } from '../kubernetes/objects.js';
import type { PlatformStatus, ReleaseRef, RolloutContext, RolloutHandle, RolloutStatus, TargetCapabilities } from '../target.js';
import {
  HelmCommandError, RELEASE_NOT_FOUND, deployDescription, describedVersion, madeByGangway, parseHistory, parseStatus, runHelm, scaleDescription,
  type HelmHistoryRow, type HelmStatus,
} from './helm-cli.js';
import { DEPLOYMENT_ID_ANNOTATION, type PostRenderSpec } from './post-render.js';

/** The margin a helm run gets past its own `--timeout` before Gangway stops it. */
const HELM_MARGIN_MS = 60_000;
/** Limit on a read-only helm run (status, history). */
const READ_LIMIT_MS = 120_000;
/** The label that marks the ConfigMap holding the objects kept out of the colour releases. */
const KEPT_LABEL = 'gangway.io/helm-kept';

/** How Helm runs Gangway's post-renderer: a program and its leading arguments (the spec file is appended). */
export interface PostRendererCommand { command: string; args: string[] }

/**
 * The post-renderer of the built CLI: this Node running dist/targets/helm/post-render-main.js.
 *
 * @example defaultPostRenderer() // { command: '/usr/bin/node', args: ['/opt/gangway/dist/targets/helm/post-render-main.js'] }
 */
export function defaultPostRenderer(): PostRendererCommand {
  return { command: process.execPath, args: [fileURLToPath(new URL('./post-render-main.js', import.meta.url))] };
}

/**
 * What the Helm target is built with: the Kubernetes target's options, and how helm and the
 * post-renderer run.
 *
 * @example new HelmTarget({ connect: (k) => connector.connect(k) })
 */
export interface HelmTargetOptions extends KubernetesTargetOptions {
  /** Default: `defaultPostRenderer()`. Tests run the TypeScript source through a loader instead. */
  postRenderer?: PostRendererCommand;
  /** The environment helm runs with (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

type HCfg = Omit<ServiceEnvConfig, 'target'> & { target: HelmTargetConfig };

/**
 * Narrows a service's config to the Helm target's.
 *
 * @example helmCfg(cfg).target.release // 'web'
 */
export function helmCfg(cfg: ServiceEnvConfig | KubeCfg): HCfg {
  if ((cfg.target as { kind: string }).kind !== 'helm') {
    throw new GangwayError('invalid_config', `${cfg.service} in ${cfg.environment} runs on the ${(cfg.target as { kind: string }).kind} target, not helm`);
  }
  return cfg as unknown as HCfg;
}

/**
 * The Helm release of a layout: `target.helm.release`, or `<release>-<colour>`.
 *
 * @example helmRelease(cfg, { kind: 'color', color: 'green' }) // 'web-green'
 */
export function helmRelease(c: Pick<HCfg, 'target'>, layout: Layout): string {
  return layout.kind === 'color' ? `${c.target.release}-${layout.color}` : c.target.release;
}

/**
 * The Target port through Helm, on the Kubernetes target's machinery (layouts in the header).
 *
 * @example
 * const target = new HelmTarget({ connect: (k) => kubeConnector().connect(k) });
 * const handle = await target.rollout(cfg, { version: '1.4.2', image: null }, ctx); // { version: '1.4.2', revision: 'revision 3' }
 */
export class HelmTarget extends KubernetesTarget {
  private readonly postRenderer: PostRendererCommand;
  private readonly env: NodeJS.ProcessEnv;
  /** Aborts the helm runs under way when the target closes. */
  private readonly closing = new AbortController();

  constructor(opts: HelmTargetOptions) {
    super(opts);
    this.postRenderer = opts.postRenderer ?? defaultPostRenderer();
    this.env = opts.env ?? process.env;
  }

  /** As the Kubernetes target's: native rolling, Jobs, exact weights only through an HTTPRoute. */
  override capabilities(cfg: ServiceEnvConfig): TargetCapabilities {
    helmCfg(cfg);
    return super.capabilities(cfg);
  }

  /** Stops the helm runs under way (each is killed; its step fails and is resumed by the next runner). */
  close(): void {
    this.closing.abort();
  }

  // ---- native rolling ----------------------------------------------------------------------

  /**
   * `helm upgrade --install` of the release (or `helm rollback` to the revision that ran it
   * before), and the revision it made. Idempotent: when the release's current revision already
   * holds the version (deployed, or pending by the same deployment), that revision is returned
   * and helm is not run again.
   */
  override async rollout(cfg: ServiceEnvConfig, release: ReleaseRef, ctx?: RolloutContext): Promise<RolloutHandle> {
    const c = helmCfg(cfg);
    const conn = await this.connect(c.target);
    this.follow(kubeCfg(cfg), release.version);
    const revision = await this.deploy(conn, c, release, { kind: 'single' }, c.target.instances, ctx);
    return { version: release.version, revision: `revision ${revision}` };
  }

  /**
   * The revision's Helm status first (failed, pending, replaced by a later one), then the
   * Kubernetes target's rules on the Deployment, its pods and their health path.
   */
  override async rolloutStatus(cfg: ServiceEnvConfig, handle: RolloutHandle): Promise<RolloutStatus> {
    const c = helmCfg(cfg);
    const conn = await this.connect(c.target);
    const n = revisionNumber(handle);
    const name = c.target.release;
    const rows = await this.history(conn, c, name);
    const row = rows.find((r) => r.revision === n);
    if (!row) return { state: 'failed', reason: `helm release ${name} has no revision ${n} (any more)` };
    if (row.status === 'failed') return { state: 'failed', reason: `helm release ${name} revision ${n} failed: ${row.description}` };
    if (row.status.startsWith('pending-')) return { state: 'progressing', reason: `helm release ${name} revision ${n} is ${row.status}` };
    const newest = rows.at(-1)!;
    if (newest.revision !== n && newest.status !== 'failed') {
      return { state: 'failed', reason: `helm release ${name} moved on to revision ${newest.revision} (${newest.description}) while revision ${n} rolled out` };
    }
    return super.rolloutStatus(cfg, handle);
  }

  // ---- status --------------------------------------------------------------------------

  /**
   * The release(s) as `helm status` and `helm history` show them: a line per release, the
   * history newest first (at most 10), and drift when a current revision was not made by
   * Gangway.
   */
  async platformStatus(cfg: ServiceEnvConfig): Promise<PlatformStatus> {
    const c = helmCfg(cfg);
    const conn = await this.connect(c.target);
    const names = c.strategy.kind === 'rolling' ? [c.target.release] : (['blue', 'green'] as const).map((col) => helmRelease(c, { kind: 'color', color: col }));
    const lines: PlatformStatus['lines'] = [];
    const drift: string[] = [];
    const history: PlatformStatus['history'] = [];
    for (const name of names) {
      const rows = await this.history(conn, c, name);
      const last = rows.at(-1);
      if (!last) {
        lines.push({ label: 'helm release', value: `${name} not installed` });
        continue;
      }
      lines.push({ label: 'helm release', value: `${name} revision ${last.revision} (${last.status}, chart ${last.chart})` });
      if (!madeByGangway(rows, last.revision)) drift.push(`helm release ${name} revision ${last.revision} was not made by Gangway (${last.description || 'no description'})`);
      const label = names.length > 1 ? `${name} ` : '';
      for (const r of rows) history.push({ revision: `${label}${r.revision}`, at: r.updated || null, status: r.status, description: r.description });
    }
    history.sort((a, b) => (b.at ?? '').localeCompare(a.at ?? '') || b.revision.localeCompare(a.revision, undefined, { numeric: true }));
    return { lines, drift: drift.length ? drift.join('; ') : null, history: history.slice(0, 10) };
  }

  // ---- the Kubernetes target's hooks -----------------------------------------------------------

  /**
   * A release's objects through helm: on the rolling layout the release itself, on a colour its
   * release (`<release>-<colour>`), then — there — Gangway's replicas by a merge patch. The
   * deployment that asks (`ctx`, from the engine's scale step) goes into the revision's
   * description and the Deployment's `gangway.io/deployment-id`, as on the rolling layout.
   */
  protected override async applyRelease(conn: KubeConnection, kc: KubeCfg, release: ReleaseRef, layout: Layout, replicas: number, ctx?: RolloutContext): Promise<KubeDeployment> {
    const c = helmCfg(kc);
    await this.deploy(conn, c, release, layout, replicas, ctx);
    const name = layout.kind === 'color' ? colorName(kc, layout.color) : c.target.deployment;
    if (layout.kind === 'color') {
      // Under the service's autoscaler (kept out of the releases) the count is the Kubernetes
      // target's: the serving colour keeps the autoscaler's, the other starts as large.
      const names = [c.target.deployment, colorName(kc, 'blue'), colorName(kc, 'green')];
      const hpa = autoscalerOf(await this.manifestObjects(conn, kc), names);
      const count = hpa ? await this.colorReplicas(conn, kc, layout.color, replicas) : replicas;
      if (count !== null) await this.setReplicas(conn, kc, layout, count);
    }
    const dep = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, name);
    if (!dep) throw new GangwayError('deployment_failed', `helm release ${helmRelease(c, layout)} has no Deployment "${name}" in namespace ${conn.namespace} after the upgrade`);
    return dep;
  }

  /**
   * A colour's count by a merge patch (the field is Gangway's: the colour releases never set
   * it); the rolling layout's through helm — an upgrade of the release holding the same version
   * with the new count — since there Helm's manifest owns `spec.replicas`.
   */
  protected override async setReplicas(conn: KubeConnection, kc: KubeCfg, layout: Layout, count: number): Promise<void> {
    if (layout.kind === 'color') {
      await super.setReplicas(conn, kc, layout, count);
      return;
    }
    const c = helmCfg(kc);
    const live = await conn.api.get<KubeDeployment>('Deployment', conn.namespace, c.target.deployment);
    const version = live?.metadata.annotations?.[ANNOTATION.version];
    if (!live || !version) return;
    if (live.spec?.replicas === count) return;
    await this.upgrade(conn, c, { version, image: live.metadata.annotations?.[ANNOTATION.image] ?? null }, layout, count, scaleDescription(version, count), null);
  }

  /** The objects kept out of the colour releases (the public Service, the HTTPRoute) as the chart last rendered them. */
  protected override async manifestObjects(conn: KubeConnection, kc: KubeCfg): Promise<KubeObject[]> {
    const cm = await conn.api.get('ConfigMap', conn.namespace, keptName(helmCfg(kc)));
    const text = (cm?.data as Record<string, string> | undefined)?.['objects.json'];
    return text ? JSON.parse(text) as KubeObject[] : [];
  }

  // ---- helm ----------------------------------------------------------------------------

  /**
   * Ensures the release of `layout` runs `release`; returns the revision that does. Nothing is
   * run when the newest revision holds it (deployed, or pending by the same deployment); a
   * version an earlier revision ran is a `helm rollback` to that revision; else an upgrade.
   */
  private async deploy(conn: KubeConnection, c: HCfg, release: ReleaseRef, layout: Layout, replicas: number, ctx?: RolloutContext): Promise<number> {
    const name = helmRelease(c, layout);
    const rows = await this.history(conn, c, name);
    const last = rows.at(-1);
    if (last && describedVersion(rows, last.revision) === release.version) {
      if (last.status === 'deployed') return last.revision;
      if (last.status.startsWith('pending-') && ctx) {
        const st = await this.status(conn, c, name);
        if (st && deploymentIdOf(st) === ctx.deploymentId) return last.revision;
      }
    }
    const earlier = [...rows].reverse().find((r) => (r.status === 'superseded' || r.status === 'deployed') && describedVersion(rows, r.revision) === release.version);
    if (earlier) {
      await this.helm(c, ['rollback', name, String(earlier.revision), ...this.scope(conn, c), '--wait', '--timeout', goDuration(c.target.timeoutMs)], c.target.timeoutMs + HELM_MARGIN_MS);
    } else {
      await this.upgrade(conn, c, release, layout, layout.kind === 'color' ? null : replicas, deployDescription(release.version, ctx), ctx?.deploymentId ?? null);
    }
    const st = await this.status(conn, c, name);
    if (!st) throw new GangwayError('deployment_failed', `helm release ${name} is missing after helm ran`);
    return st.version;
  }

  /** `helm upgrade --install` with the post-renderer; the objects it kept out are applied and kept for the traffic logic. */
  private async upgrade(conn: KubeConnection, c: HCfg, release: ReleaseRef, layout: Layout, replicas: number | null, description: string, deploymentId: string | null): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'gangway-helm-'));
    try {
      const keptOut = layout.kind === 'color' ? join(dir, 'kept.json') : null;
      const spec: PostRenderSpec = {
        v: 1, service: c.service, environment: c.environment, namespace: conn.namespace, version: release.version, image: release.image, deploymentId,
        k: { deployment: c.target.deployment, container: c.target.container, service: c.target.service, httpRoute: c.target.httpRoute, image: c.target.image },
        replicas, layout, keptOut,
        ...(c.strategy.kind === 'rolling' ? { rolling: { maxSurge: c.strategy.maxSurge, maxUnavailable: c.strategy.maxUnavailable } } : {}),
      };
      const specFile = join(dir, 'spec.json');
      await writeFile(specFile, JSON.stringify(spec), { mode: 0o600 });
      const k = c.target;
      const vars = { 'release.version': release.version, 'release.image': release.image ?? '', environment: c.environment, service: c.service };
      const sets: Array<[string, string]> = [[k.imageKeys.tag, release.version]];
      const repository = release.image ? imageRepository(release.image) : k.image;
      if (k.imageKeys.repository && repository) sets.push([k.imageKeys.repository, repository]);
      for (const [key, value] of Object.entries(k.setString)) sets.push([key, substituteOne(value, vars)]);
      const args = [
        'upgrade', '--install', helmRelease(c, layout), k.chart, ...this.scope(conn, c),
        ...(k.chartVersion ? ['--version', k.chartVersion] : []),
        ...k.values.flatMap((f) => ['-f', f]),
        ...sets.flatMap(([key, value]) => ['--set-string', `${key}=${escapeSetValue(value)}`]),
        '--post-renderer', this.postRenderer.command,
        ...[...this.postRenderer.args, specFile].flatMap((a) => ['--post-renderer-args', a]),
        '--wait', '--timeout', goDuration(k.timeoutMs), '--description', description,
      ];
      await this.helmWatched(conn, c, release.version, args, k.timeoutMs + HELM_MARGIN_MS);
      if (keptOut) {
        const text = await readFile(keptOut, 'utf8').catch(() => null);
        if (text !== null) await this.applyKeptOut(conn, c, JSON.parse(text) as KubeObject[]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Applies the public Service kept out of a colour release (keeping the colour it selects, as
   * the Kubernetes target does), and keeps those objects — the HTTPRoute's parents and
   * hostnames too — in a ConfigMap for the traffic logic.
   */
  private async applyKeptOut(conn: KubeConnection, c: HCfg, objects: KubeObject[]): Promise<void> {
    const svc = objects.find((o): o is KubeService => o.kind === 'Service' && o.metadata.name === c.target.service);
    if (svc) {
      const wanted = forApply(svc);
      const live = await conn.api.get<KubeService>('Service', conn.namespace, wanted.metadata.name);
      const liveColor = live?.spec?.selector ? live.spec.selector[LABEL.color] ?? null : 'none';
      const selector = { ...wanted.spec?.selector };
      if (liveColor !== null) selector[LABEL.color] = liveColor;
      wanted.spec = { ...wanted.spec, selector };
      wanted.metadata.labels = { ...wanted.metadata.labels, [LABEL.managedBy]: 'gangway' };
      await conn.api.apply(wanted, { force: true });
    }
    await conn.api.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: keptName(c),
        namespace: conn.namespace,
        labels: { [LABEL.managedBy]: 'gangway', [LABEL.service]: c.service, [LABEL.environment]: c.environment, [KEPT_LABEL]: 'true' },
      },
      data: { 'objects.json': JSON.stringify(objects) },
    }, { force: true });
  }

  /** `--namespace`, `--kube-context` and `--kubeconfig` of every helm run: the cluster the Kubernetes machinery reads. */
  private scope(conn: KubeConnection, c: HCfg): string[] {
    return [
      '--namespace', conn.namespace,
      ...(conn.context ? ['--kube-context', conn.context] : []),
      ...(c.target.kubeconfig ? ['--kubeconfig', c.target.kubeconfig] : []),
    ];
  }

  private helm(c: HCfg, args: string[], limitMs: number, stop?: AbortSignal): Promise<string> {
    return runHelm(c.target.helm, args, { limitMs, env: this.env, signal: this.closing.signal, stop });
  }

  /**
   * Runs a `helm upgrade --wait` while watching the release's pods: one that cannot become
   * healthy by waiting (CrashLoopBackOff, ImagePullBackOff, restarts past
   * `target.helm.restartLimit`) stops helm at once — as the Kubernetes target fails such a
   * rollout early — instead of waiting out `target.helm.timeout`. Helm, stopped by SIGTERM,
   * marks the revision failed ("context canceled"), and the run settles only once helm has
   * exited, so the rollback that follows finds the release free. The error names the pod, its
   * reason and its last log lines.
   */
  private async helmWatched(conn: KubeConnection, c: HCfg, version: string, args: string[], limitMs: number): Promise<string> {
    const stop = new AbortController();
    const done = new AbortController();
    let problem: string | null = null;
    const kc = c as unknown as KubeCfg;
    const watching = (async () => {
      while (!done.signal.aborted) {
        problem = await this.releaseProblem(conn, kc, version).catch(() => null);
        if (problem) {
          stop.abort();
          return;
        }
        await new Promise<void>((resolve) => {
          const wake = () => { clearTimeout(timer); resolve(); };
          const timer = setTimeout(() => { done.signal.removeEventListener('abort', wake); resolve(); }, this.pollMs);
          done.signal.addEventListener('abort', wake, { once: true });
        });
      }
    })();
    try {
      return await this.helm(c, args, limitMs, stop.signal);
    } catch (err) {
      if (problem !== null && !this.closing.signal.aborted) {
        throw new GangwayError('deployment_failed', `${problem}; helm ${args[0]} of ${helmReleaseOf(args)} was stopped, and Helm marked its revision failed`);
      }
      throw err;
    } finally {
      done.abort();
      await watching;
    }
  }

  /** `helm history -o json`, oldest first; empty for a release never installed. */
  private async history(conn: KubeConnection, c: HCfg, name: string): Promise<HelmHistoryRow[]> {
    try {
      return parseHistory(await this.helm(c, ['history', name, ...this.scope(conn, c), '-o', 'json'], READ_LIMIT_MS));
    } catch (err) {
      if (err instanceof HelmCommandError && RELEASE_NOT_FOUND.test(err.stderr)) return [];
      throw err;
    }
  }

  /** `helm status -o json` of the newest revision; null for a release never installed. */
  private async status(conn: KubeConnection, c: HCfg, name: string): Promise<HelmStatus | null> {
    try {
      return parseStatus(await this.helm(c, ['status', name, ...this.scope(conn, c), '-o', 'json'], READ_LIMIT_MS));
    } catch (err) {
      if (err instanceof HelmCommandError && RELEASE_NOT_FOUND.test(err.stderr)) return null;
      throw err;
    }
  }
}

/** The release an `upgrade --install <release> …` argv names. */
function helmReleaseOf(args: string[]): string {
  return args.find((a, i) => i > 0 && !a.startsWith('-')) ?? '';
}

function keptName(c: HCfg): string {
  return `gangway-helm-${c.target.release}`.slice(0, 253);
}

/** The deployment that rendered a revision's Deployment (the post-renderer's annotation), or null. */
function deploymentIdOf(st: HelmStatus): string | null {
  try {
    const dep = parseObjects(st.manifest ?? '', 'the helm release manifest').find((o) => o.kind === 'Deployment');
    return dep?.metadata.annotations?.[DEPLOYMENT_ID_ANNOTATION] ?? null;
  } catch {
    return null;
  }
}

function revisionNumber(handle: RolloutHandle): number {
  const m = /^revision (\d+)$/.exec(handle.revision);
  if (!m) throw new GangwayError('invalid_argument', `"${handle.revision}" is not a Helm revision handle ("revision N")`);
  return Number(m[1]);
}

/** Milliseconds as a Go duration helm's `--timeout` takes (`300s`). */
function goDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/** A `--set-string` value as Helm's strvals parser reads it literally: `\` and `,` escaped. */
function escapeSetValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/,/g, '\\,');
}

