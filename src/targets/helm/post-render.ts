/**
 * Gangway's Helm post-renderer: Helm (≥ 3.7, `--post-renderer`) pipes a release's rendered
 * manifests through it and applies what it prints. It runs the Kubernetes target's own
 * `shapeRelease` on the chart's objects, so the pods of a Helm release carry Gangway's labels and
 * annotations (`gangway.io/service`, `gangway.io/environment`, the version, the image, and on
 * the two-colour layouts `color`) and everything the Kubernetes target reads — pods, readiness,
 * restarts, health, traffic — works unchanged on them.
 *
 * On the two-colour layouts (blue-green, canary: releases `<release>-blue` and
 * `<release>-green`) the public Service, the HTTPRoute and the Deployment's autoscaler are kept
 * out of the Helm release and handed back to Gangway (the `keptOut` file), which applies,
 * switches and points them as the Kubernetes target does; the colour's Deployment leaves out `spec.replicas`, so the count is Gangway's
 * field and Helm never sets (nor fights over) it. Pure functions here; the process entry is
 * post-render-main.ts.
 */
import { stringify } from 'yaml';
import type { KubernetesTargetConfig } from '../../config/kubernetes.js';
import { GangwayError } from '../../errors.js';
import { autoscalerOf, parseObjects, shapeRelease, type Layout } from '../kubernetes/manifests.js';
import { LABEL, type KubeAutoscaler, type KubeDeployment, type KubeObject, type KubeService } from '../kubernetes/objects.js';

/** The annotation naming the deployment whose Helm run rendered a Deployment (an idempotent rollout finds its own pending revision by it). */
export const DEPLOYMENT_ID_ANNOTATION = 'gangway.io/deployment-id';

/**
 * What one post-render is for, written by the Helm target to a 0600 file whose path is the
 * renderer's last argument.
 *
 * @example
 * { v: 1, service: 'web', environment: 'prod', namespace: 'shop', version: '1.2.0', image: null, deploymentId: 'd-1',
 *   k: { deployment: 'web', container: null, service: 'web', httpRoute: null, image: null }, replicas: null,
 *   layout: { kind: 'color', color: 'green' }, keptOut: '/tmp/gangway-helm-x/kept.json' }
 */
export interface PostRenderSpec {
  v: 1;
  service: string;
  environment: string;
  namespace: string;
  version: string;
  /** The release's image (pinned by digest); null: the image the chart rendered stays. */
  image: string | null;
  deploymentId: string | null;
  k: Pick<KubernetesTargetConfig, 'deployment' | 'container' | 'service' | 'httpRoute' | 'image'>;
  /** `spec.replicas` of the Deployment; null leaves it out (Gangway's field on the two-colour layouts, or an autoscaler's). */
  replicas: number | null;
  layout: Layout;
  rolling?: { maxSurge: number; maxUnavailable: number };
  /** Where to write the objects kept out of the release (JSON array); null: none are kept out. */
  keptOut: string | null;
}

/** What a post-render gives: the manifest Helm applies, and the objects Gangway applies itself. */
export interface PostRendered { manifest: string; keptOut: KubeObject[] }

const WHAT = 'the chart\'s rendered manifests';

/**
 * Shapes Helm's rendered manifests for a release.
 *
 * @example
 * postRender(helmOutput, spec).manifest // '---\n# Deployment web-green (shaped by gangway)\napiVersion: apps/v1\n…'
 */
export function postRender(text: string, spec: PostRenderSpec): PostRendered {
  const objects = parseObjects(text, WHAT);
  const { k, layout } = spec;
  const color = layout.kind === 'color' ? layout.color : null;
  // A chart that names its objects after the release renders `<name>-<colour>` in a colour's
  // release: that is the same Deployment (and public Service) under the colour's name.
  const named = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)
    ?? (color ? objects.find((o) => o.kind === kind && o.metadata.name === `${name}-${color}`) : undefined);
  const dep = named('Deployment', k.deployment) as KubeDeployment | undefined;
  if (!dep) {
    const names = objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name);
    throw new GangwayError('invalid_argument',
      `target.helm.deployment: no Deployment "${k.deployment}"${color ? ` or "${k.deployment}-${color}"` : ''} in ${WHAT} (${names.length ? `found: ${names.join(', ')}` : 'the chart renders no Deployment'})`,
      'set target.helm.deployment to the Deployment the chart renders for the service');
  }
  dep.metadata.name = k.deployment;
  const svc = named('Service', k.service);
  if (svc && color) svc.metadata.name = k.service;
  const containers = dep.spec?.template?.spec.containers ?? [];
  const container = k.container === null ? containers[0] : containers.find((x) => x.name === k.container);
  const hpa = autoscalerOf(objects, [k.deployment, ...(color ? [`${k.deployment}-${color}`] : [])]);
  const shaped = shapeRelease(objects, {
    k: k as KubernetesTargetConfig,
    service: spec.service,
    environment: spec.environment,
    namespace: spec.namespace,
    version: spec.version,
    image: spec.image ?? container?.image ?? null,
    replicas: hpa ? null : spec.replicas,
    layout,
    rolling: spec.rolling,
    origin: { key: 'target.helm', what: WHAT },
  });
  if (spec.deploymentId) shaped.deployment.metadata.annotations = { ...shaped.deployment.metadata.annotations, [DEPLOYMENT_ID_ANNOTATION]: spec.deploymentId };
  const keptOut: KubeObject[] = [];
  let released: KubeObject[];
  if (color) {
    if (shaped.service) keptOut.push(publicService(shaped.service, spec));
    const route = k.httpRoute ? shaped.others.find((o) => o.kind === 'HTTPRoute' && o.metadata.name === k.httpRoute) : undefined;
    if (route) keptOut.push(route);
    // One autoscaler for the service, pointed by Gangway at the colour that serves (as on
    // Kubernetes): in each colour's release it would keep the idle colour's pods too.
    const scaler = hpa ? shaped.others.find((o) => o.kind === hpa.kind && o.metadata.name === hpa.metadata.name) as KubeAutoscaler | undefined : undefined;
    if (scaler) keptOut.push(serviceAutoscaler(scaler, spec, color));
    released = [...shaped.others.filter((o) => o !== route && o !== scaler), shaped.deployment];
  } else {
    released = [...shaped.others, ...(shaped.service ? [shaped.service] : []), shaped.deployment];
  }
  const manifest = released.map((o) => `---\n# ${o.kind} ${o.metadata.name} (shaped by gangway)\n${stringify(o, { lineWidth: 0 })}`).join('');
  return { manifest, keptOut };
}

/**
 * The autoscaler of a two-colour layout as Gangway keeps it: under the chart's name without the
 * colour (`web-blue` in release web-blue is `web`), scaling the Deployment by its configured name;
 * the traffic switch points it at the serving colour's Deployment (`pointAutoscaler`).
 */
function serviceAutoscaler(hpa: KubeAutoscaler, spec: PostRenderSpec, color: string): KubeAutoscaler {
  const name = hpa.metadata.name.endsWith(`-${color}`) ? hpa.metadata.name.slice(0, -(color.length + 1)) : hpa.metadata.name;
  return { ...hpa, metadata: { ...hpa.metadata, name }, spec: { ...hpa.spec, scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: spec.k.deployment } } };
}

/**
 * The public Service of a two-colour layout as Gangway applies it: the chart's Service under the
 * configured name, selecting the service's pods by Gangway's labels (the chart's selector names
 * one release, `app: web-blue`, so it could never reach the other colour); `selectColor` then
 * narrows it to a colour.
 */
function publicService(svc: KubeService, spec: PostRenderSpec): KubeService {
  return { ...svc, metadata: { ...svc.metadata, name: spec.k.service }, spec: { ...svc.spec, selector: { [LABEL.service]: spec.service, [LABEL.environment]: spec.environment } } };
}
