/**
 * The service's objects for one release: read from manifests (a file, or the YAML and JSON
 * files of a folder, in name order, as `kubectl apply -f <folder>` reads them) or rendered
 * from a kustomize overlay by `kubectl kustomize` (argv, never a shell), then shaped for the
 * release: the image set in the named container, Gangway's labels on the Deployment's pods,
 * the namespace filled in, and — for the two-colour strategies — the Deployment renamed per
 * colour with a `color` label in its selector. Pure functions over plain objects, except the
 * reading.
 *
 * A HorizontalPodAutoscaler in the manifests owns the count of the Deployment it scales: the
 * shaped Deployment then carries no `spec.replicas` (as the Kubernetes documentation asks when a
 * Deployment moves to autoscaling), except to start it or to hand the field over
 * (`autoscaledReplicas`).
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubernetesTargetConfig } from '../../config/kubernetes.js';
import { GangwayError } from '../../errors.js';
import { ANNOTATION, LABEL, appliedBy, clone, isNamespaced, versionLabel, type KubeAutoscaler, type KubeDeployment, type KubeObject, type KubeService } from './objects.js';

/** Reads the objects of a manifest source, in order. Errors name the file and what is wrong. */
export async function loadObjects(k: Pick<KubernetesTargetConfig, 'source' | 'kubectl'>): Promise<KubeObject[]> {
  if (k.source.kind === 'kustomize') return parseObjects(await kustomize(k.kubectl, k.source.path), `kustomize ${k.source.path}`);
  const path = k.source.path;
  const st = await fsp.stat(path).catch(() => null);
  if (!st) throw new GangwayError('invalid_argument', `target.kubernetes.manifests: ${path} does not exist`, 'point manifests at a YAML file or a folder of them');
  const files = st.isDirectory()
    ? (await fsp.readdir(path)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => join(path, f))
    : [path];
  if (files.length === 0) throw new GangwayError('invalid_argument', `target.kubernetes.manifests: no .yaml, .yml or .json file in ${path}`, 'put the service\'s manifests in that folder');
  const out: KubeObject[] = [];
  for (const f of files) out.push(...parseObjects(await fsp.readFile(f, 'utf8'), f));
  return out;
}

/** Parses a multi-document YAML (or JSON) text into objects; `List` kinds are flattened, empty documents skipped. */
export function parseObjects(text: string, where: string): KubeObject[] {
  const out: KubeObject[] = [];
  // Merge keys (`<<: *defaults`) as Kubernetes' own YAML reader accepts them.
  for (const doc of parseAllDocuments(text, { merge: true })) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0] ? `:${e.linePos[0].line}:${e.linePos[0].col}` : '';
      // The location leads the message, so the parser's own "at line N, column M:" is dropped.
      const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new GangwayError('invalid_argument', `${where}${line}: invalid YAML: ${what}`, 'fix the manifest');
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const items = isObject(value) && value.kind === 'List' && Array.isArray(value.items) ? value.items as unknown[] : [value];
    for (const item of items) {
      if (!isObject(item) || typeof item.apiVersion !== 'string' || typeof item.kind !== 'string' || !isObject(item.metadata) || typeof item.metadata.name !== 'string') {
        throw new GangwayError('invalid_argument', `${where}: every object needs apiVersion, kind and metadata.name`, 'fix the manifest');
      }
      out.push(item as unknown as KubeObject);
    }
  }
  return out;
}

function kustomize(kubectl: string, dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(kubectl, ['kustomize', dir], { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') {
        return reject(new GangwayError('invalid_argument', `target.kubernetes.kustomize: ${kubectl} not found, needed to render ${dir}`, 'install kubectl (it includes kustomize) or set target.kubernetes.kubectl to its path'));
      }
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      reject(new GangwayError('invalid_argument', `target.kubernetes.kustomize: \`${kubectl} kustomize ${dir}\` failed: ${tail || e.message}`, 'fix the overlay; `kubectl kustomize <folder>` shows the same error'));
    });
  });
}

/** How the service's Deployment is laid out: one Deployment rolled in place, or one per colour. */
export type Layout = { kind: 'single' } | { kind: 'color'; color: 'blue' | 'green' };

/** What a release's objects are made for. */
export interface ShapeInput {
  k: KubernetesTargetConfig;
  service: string;
  environment: string;
  namespace: string;
  version: string;
  /** The release's image; null: `k.image:<version>`, or the manifest's image with its tag replaced. */
  image: string | null;
  /** `spec.replicas`; null leaves it out (an autoscaler owns it: `autoscaledReplicas`). */
  replicas: number | null;
  layout: Layout;
  rolling?: { maxSurge: number; maxUnavailable: number };
  /**
   * Where the objects come from, for messages: the config key of the target (default
   * `target.kubernetes`) and the words for the source (default: the manifests' path or overlay).
   */
  origin?: { key: string; what: string };
}

/** The Deployment and the other objects of one release, ready to apply. */
export interface Shaped {
  deployment: KubeDeployment;
  /** The public Service as the manifests give it (selector not yet pointed at a colour). */
  service: KubeService | null;
  /** Every other object (ConfigMaps, Secrets, other Services, the HTTPRoute …), namespace filled in. */
  others: KubeObject[];
}

/**
 * Shapes the manifests' objects for a release.
 *
 * @example
 * shapeRelease(objects, { k, service: 'web', environment: 'prod', namespace: 'shop', version: '1.2.0', image: null, replicas: 3, layout: { kind: 'color', color: 'green' } });
 * // deployment web-green, selector { app: 'web', color: 'green' }, image registry/web:1.2.0
 */
export function shapeRelease(objects: KubeObject[], input: ShapeInput): Shaped {
  const { k } = input;
  const key = input.origin?.key ?? 'target.kubernetes';
  const all = objects.map((o) => withNamespace(clone(o), input.namespace));
  const deployments = all.filter((o) => o.kind === 'Deployment');
  const found = deployments.find((o) => o.metadata.name === k.deployment) as KubeDeployment | undefined;
  if (!found) {
    const names = deployments.map((d) => d.metadata.name);
    throw new GangwayError('invalid_argument', `${key}.deployment: no Deployment "${k.deployment}" in ${input.origin?.what ?? describeSource(k)} (${names.length ? `found: ${names.join(', ')}` : 'it has no Deployment'})`,
      `set ${key}.deployment to the Deployment that runs the service`);
  }
  const dep = found;
  const template = dep.spec?.template;
  const containers = template?.spec.containers ?? [];
  const container = k.container === null ? containers[0] : containers.find((c) => c.name === k.container);
  if (!template || !container) {
    throw new GangwayError('invalid_argument', k.container === null
      ? `${key}: Deployment "${k.deployment}" has no container`
      : `${key}.container: Deployment "${k.deployment}" has no container "${k.container}" (containers: ${containers.map((c) => c.name).join(', ') || 'none'})`,
    'name the container that runs the release');
  }
  const image = releaseImage(input.image, k.image, container.image, input.version);
  container.image = image;

  const labels = { [LABEL.managedBy]: 'gangway', [LABEL.service]: input.service, [LABEL.environment]: input.environment };
  const release = versionLabel(input.version);
  const annotations = { [ANNOTATION.version]: input.version, [ANNOTATION.image]: image };
  dep.metadata.labels = { ...dep.metadata.labels, ...labels };
  dep.metadata.annotations = { ...dep.metadata.annotations, ...annotations };
  template.metadata = {
    ...template.metadata,
    labels: { ...template.metadata?.labels, ...labels, [LABEL.release]: release },
    annotations: { ...template.metadata?.annotations, ...annotations },
  };
  const spec = dep.spec!;
  if (input.replicas === null) delete spec.replicas;
  else spec.replicas = input.replicas;
  if (input.rolling) spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: input.rolling.maxSurge, maxUnavailable: input.rolling.maxUnavailable } };
  if (input.layout.kind === 'color') {
    const color = input.layout.color;
    dep.metadata.name = `${k.deployment}-${color}`;
    dep.metadata.labels[LABEL.color] = color;
    // Keep matchExpressions: the colour narrows the manifest's selector, never replaces it.
    spec.selector = { ...spec.selector, matchLabels: { ...spec.selector?.matchLabels, [LABEL.color]: color } };
    template.metadata.labels![LABEL.color] = color;
  }
  const service = (all.find((o) => o.kind === 'Service' && o.metadata.name === k.service) as KubeService | undefined) ?? null;
  const others = all.filter((o) => o !== found && o !== service);
  return { deployment: dep, service, others };
}

/**
 * The HorizontalPodAutoscaler among `objects` whose `scaleTargetRef` names one of the
 * Deployments in `names` (the manifests' Deployment, and on the two-colour layouts its colours),
 * or null. Two of them scaling the same Deployment is a manifest error, as the autoscaler
 * controller refuses to act on either.
 *
 * @example
 * autoscalerOf(objects, ['web', 'web-blue', 'web-green']) // the HPA `web` with scaleTargetRef { kind: 'Deployment', name: 'web' }
 */
export function autoscalerOf(objects: readonly KubeObject[], names: readonly string[]): KubeAutoscaler | null {
  const found = objects.filter((o): o is KubeAutoscaler => o.kind === 'HorizontalPodAutoscaler' && scalesDeployment(o as KubeAutoscaler, names));
  if (found.length > 1) {
    const target = found[0]!.spec!.scaleTargetRef!.name!;
    throw new GangwayError('invalid_argument', `target.kubernetes: HorizontalPodAutoscalers ${found.map((h) => `"${h.metadata.name}"`).join(' and ')} both scale Deployment "${target}"`,
      'keep one autoscaler per Deployment');
  }
  return found[0] ?? null;
}

function scalesDeployment(hpa: KubeAutoscaler, names: readonly string[]): boolean {
  const ref = hpa.spec?.scaleTargetRef;
  if (!ref || ref.kind !== 'Deployment' || typeof ref.name !== 'string') return false;
  // apiVersion may be left out (the autoscaler then resolves the kind in any group): apps is the only group with Deployments.
  return (ref.apiVersion === undefined || ref.apiVersion.startsWith('apps/')) && names.includes(ref.name);
}

/**
 * The autoscaler pointed at Deployment `name` (a colour's Deployment on the two-colour layouts),
 * ready to apply: a copy, with the namespace filled in.
 *
 * @example pointAutoscaler(hpa, 'web-green', 'shop').spec.scaleTargetRef // { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web-green' }
 */
export function pointAutoscaler(hpa: KubeAutoscaler, name: string, namespace: string): KubeAutoscaler {
  const copy = forApply(hpa);
  copy.metadata.namespace = namespace;
  copy.spec = { ...copy.spec, scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name } };
  return copy;
}

/**
 * The `spec.replicas` to apply to a Deployment an autoscaler scales, given it live (null when it
 * does not exist yet), for a release that wants `wanted` pods:
 * - `wanted` to start it: it does not exist, or it was scaled to zero (an autoscaler leaves a
 *   Deployment at zero alone, so it would never start again);
 * - its live count while `manager`'s apply still owns the field: applying without it would
 *   remove it, and the Deployment would fall back to one pod until the autoscaler acted (the
 *   Kubernetes documentation's "transferring ownership" case). The autoscaler's next write takes
 *   the field over;
 * - null otherwise: the field is left out, and the autoscaler keeps it.
 *
 * @example autoscaledReplicas(liveScaledTo5ByTheAutoscaler, 3) // null
 */
export function autoscaledReplicas(live: KubeDeployment | null, wanted: number, manager = 'gangway'): number | null {
  const current = live?.spec?.replicas;
  if (!live || current === undefined || current === 0) return wanted;
  return appliedBy(live, manager, ['spec', 'replicas']) ? current : null;
}

/**
 * The objects a release record holds, made again into what `shapeRelease` takes: the Deployment
 * under its manifest name without the colour, and the image it ran. Shaping them again gives the
 * same objects for the same layout, and the same release in the other colour or layout, so a
 * rollback applies what ran wherever it now lands.
 *
 * @example
 * const { objects, image } = unshapeRelease(recorded, k);
 * shapeRelease(objects, { k, service: 'web', environment: 'prod', namespace: 'shop', version: '1.2.0', image, replicas: 3, layout: { kind: 'color', color: 'blue' } });
 */
export function unshapeRelease(recorded: Shaped, k: Pick<KubernetesTargetConfig, 'deployment' | 'container'>): { objects: KubeObject[]; image: string | null } {
  const dep = clone(recorded.deployment);
  const color = dep.metadata.labels?.[LABEL.color];
  dep.metadata.name = k.deployment;
  if (color !== undefined) {
    delete dep.metadata.labels![LABEL.color];
    const matchLabels = dep.spec?.selector?.matchLabels;
    if (matchLabels?.[LABEL.color] === color) delete matchLabels[LABEL.color];
    const podLabels = dep.spec?.template?.metadata?.labels;
    if (podLabels?.[LABEL.color] === color) delete podLabels[LABEL.color];
  }
  const containers = dep.spec?.template?.spec.containers ?? [];
  const container = k.container === null ? containers[0] : containers.find((c) => c.name === k.container);
  const image = dep.metadata.annotations?.[ANNOTATION.image] ?? container?.image ?? null;
  return { objects: [dep, ...(recorded.service ? [clone(recorded.service)] : []), ...recorded.others.map((o) => clone(o))], image };
}

/**
 * The image a release runs: the one given, else `<k.image>:<version>`, else the manifest's
 * image with its tag (or digest) replaced by the version.
 */
export function releaseImage(given: string | null, repository: string | null, manifest: string | undefined, version: string): string {
  if (given) return given;
  if (repository) return `${repository}:${version}`;
  if (!manifest) {
    throw new GangwayError('invalid_argument', `target.kubernetes.image: the container has no image to derive ${version} from`, 'set target.kubernetes.image to the image repository, or deploy with --image');
  }
  return `${imageRepository(manifest)}:${version}`;
}

/** An image reference without its tag or digest: `registry:5000/web:1.0` → `registry:5000/web`. */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at >= 0 ? image.slice(0, at) : image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/**
 * A copy of the public Service for a purpose Gangway owns — the preview of blue-green, or one
 * Service per colour as HTTPRoute backends — selecting one colour, always `ClusterIP` (so no
 * second load balancer or node port is asked for).
 */
export function colorService(publicService: KubeService, name: string, color: 'blue' | 'green', extraLabels: Record<string, string>): KubeService {
  const spec = publicService.spec ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: publicService.metadata.namespace,
      labels: { ...publicService.metadata.labels, ...extraLabels },
    },
    spec: {
      type: 'ClusterIP',
      selector: { ...spec.selector, [LABEL.color]: color },
      ports: (spec.ports ?? []).map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: p.protocol })).map(dropUndefined),
    },
  };
}

/** The object as server-side apply wants it: no status, no server-set metadata. */
export function forApply<T extends KubeObject>(o: T): T {
  const copy = clone(o);
  delete copy.status;
  const m = copy.metadata;
  for (const key of ['resourceVersion', 'uid', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp', 'selfLink']) delete m[key];
  return copy;
}

function withNamespace(o: KubeObject, namespace: string): KubeObject {
  if (!isNamespaced(o.kind)) return o;
  if (o.metadata.namespace && o.metadata.namespace !== namespace) {
    throw new GangwayError('invalid_argument', `target.kubernetes: ${o.kind} "${o.metadata.name}" is in namespace "${o.metadata.namespace}", but the service deploys to "${namespace}"`,
      'remove metadata.namespace from the manifest or set target.kubernetes.namespace to it');
  }
  o.metadata.namespace = namespace;
  return o;
}

function describeSource(k: Pick<KubernetesTargetConfig, 'source'>): string {
  return k.source.kind === 'kustomize' ? `the kustomize overlay ${k.source.path}` : k.source.path;
}

function isObject(v: unknown): v is Record<string, unknown> & { metadata?: Record<string, unknown> } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function dropUndefined<T extends Record<string, unknown>>(o: T): T {
  for (const key of Object.keys(o)) if (o[key] === undefined) delete o[key];
  return o;
}
