/**
 * Jobs before the rollout (`jobs.beforeRollout`), as the runbooks run their migration:
 * `kubectl apply -f migration-job.yaml` then `kubectl wait --for=condition=complete
 * job/migration-job --timeout=300s`. Each deployment gets its own Job, named after the manifest's
 * Job and a hash of the release and the deployment, so a resumed step finds the Job it started
 * instead of starting another, and a later deployment (of any release, the same one after a
 * failed Job too) runs its own. A finished Job is left in place for inspection; of a manifest's
 * finished Jobs the newest five are kept, older ones deleted with their pods.
 */
import { readFile } from 'node:fs/promises';
import type { JobConfig } from '../../config/kubernetes.js';
import { GangwayError } from '../../errors.js';
import type { JobHandle, JobStatus, ReleaseRef } from '../target.js';
import type { KubeConnection } from './api.js';
import type { KubernetesTargetConfig } from '../../config/kubernetes.js';
import { forApply, loadObjects, parseObjects, releaseImage } from './manifests.js';
import { ANNOTATION, LABEL, clone, fnv1a, versionLabel, type KubeObject, type KubePod } from './objects.js';

/** The label on a Job's pods that finds them again (set in its pod template). */
export const JOB_LABEL = 'gangway.io/job';
/** The label on a Job naming the manifest's Job it was made from (to keep the newest few). */
export const JOB_BASE_LABEL = 'gangway.io/job-base';
/** The annotation on a Job naming the deployment it runs for. */
export const DEPLOYMENT_ANNOTATION = 'gangway.io/deployment';
/** When Gangway created the Job, to the millisecond (creationTimestamp has whole seconds). */
const STARTED_ANNOTATION = 'gangway.io/started-at';
/** Finished Jobs of one manifest kept for inspection; older ones are deleted. */
export const JOBS_KEPT = 5;
/** Lines of each pod's output kept in the deployment record. */
const LOG_LINES = 100;
/**
 * Pods whose output is kept: the newest, as a Job that retried (backoffLimit, default 6) leaves
 * one pod per attempt and the last attempts say why it failed. With line length capped too, the
 * step's record stays small.
 */
const LOG_PODS = 3;
const LOG_LINE_CHARS = 500;

interface JobObject extends KubeObject {
  spec?: { template?: { metadata?: { labels?: Record<string, string>; [k: string]: unknown }; [k: string]: unknown }; [k: string]: unknown };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>; active?: number; succeeded?: number; failed?: number };
}

/**
 * The Job of a deployment: the manifest's name, cut to fit, and 8 hex digits of the release and
 * the deployment.
 *
 * @example jobName('migration-job', '2.0.0', 'd-mxagjlek-9c14aa4f') // 'migration-job-5f1c9a2e'
 */
export function jobName(base: string, version: string, deploymentId: string): string {
  return `${baseLabel(base, 54)}-${fnv1a(`${version}\n${deploymentId}`)}`;
}

/** The manifest's Job name cut to `max` characters, ending in an alphanumeric. */
function baseLabel(base: string, max = 63): string {
  return base.slice(0, max).replace(/[-.]+$/, '');
}

/** Who a Job is for: the service and environment, and where the service's manifests are. */
export interface JobOwner { service: string; environment: string; target: Pick<KubernetesTargetConfig, 'source' | 'kubectl' | 'deployment' | 'container' | 'image'> }

/**
 * Applies the deployment's Job unless it exists already; returns its name. `${release.version}`
 * and `${release.image}` in the manifest's strings are filled in — the image the release's pods
 * run, derived as for the Deployment when the deployment names none. Finished Jobs of the same
 * manifest beyond the newest five are then deleted.
 *
 * @example await startKubeJob(conn, { service: 'web', environment: 'prod', target }, job, { version: '2.0.0', image: 'shop/web:2.0.0' }, 'd-mxagjlek-9c14aa4f')
 */
export async function startKubeJob(conn: KubeConnection, who: JobOwner, job: JobConfig, release: ReleaseRef, deploymentId: string): Promise<JobHandle> {
  const base = await readJob(job.manifest);
  const name = jobName(base.metadata.name, release.version, deploymentId);
  if (await conn.api.get('Job', conn.namespace, name)) return { name };
  const image = await jobReleaseImage(who.target, release, job.manifest);
  const obj = fill(clone(base), { 'release.version': release.version, 'release.image': image }) as JobObject;
  obj.metadata = {
    ...obj.metadata, name, namespace: conn.namespace,
    labels: {
      ...obj.metadata.labels, [LABEL.managedBy]: 'gangway', [LABEL.service]: who.service, [LABEL.environment]: who.environment,
      [LABEL.release]: versionLabel(release.version), [JOB_BASE_LABEL]: baseLabel(base.metadata.name),
    },
    annotations: { ...obj.metadata.annotations, [ANNOTATION.version]: release.version, [DEPLOYMENT_ANNOTATION]: deploymentId, [STARTED_ANNOTATION]: new Date().toISOString() },
  };
  const template = obj.spec?.template;
  if (!template) throw new GangwayError('invalid_config', `${job.manifest}: the Job has no spec.template`, 'write the Job as `kubectl apply -f` takes it');
  template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [JOB_LABEL]: name } };
  await conn.api.apply(forApply(obj), { force: true });
  await pruneJobs(conn, who, baseLabel(base.metadata.name));
  return { name };
}

/**
 * The image `${release.image}` stands for: the deployment's, else the one the release's
 * Deployment gets (`target.kubernetes.image:<version>`, or the manifest container's image with
 * its tag replaced). Only read from the manifests when the Job uses the placeholder.
 */
async function jobReleaseImage(k: JobOwner['target'], release: ReleaseRef, manifest: string): Promise<string> {
  if (release.image) return release.image;
  if (k.image) return releaseImage(null, k.image, undefined, release.version);
  if (!(await readFile(manifest, 'utf8')).includes('${release.image}')) return '';
  const dep = (await loadObjects(k)).find((o) => o.kind === 'Deployment' && o.metadata.name === k.deployment) as
    { spec?: { template?: { spec?: { containers?: Array<{ name: string; image?: string }> } } } } | undefined;
  const containers = dep?.spec?.template?.spec?.containers ?? [];
  const container = k.container === null ? containers[0] : containers.find((c) => c.name === k.container);
  return releaseImage(null, null, container?.image, release.version);
}

function startedAt(j: KubeObject): string {
  return j.metadata.annotations?.[STARTED_ANNOTATION] ?? j.metadata.creationTimestamp ?? '';
}

/** Deletes the finished Jobs of a manifest beyond the newest `JOBS_KEPT` (their pods with them); running ones stay. */
async function pruneJobs(conn: KubeConnection, who: JobOwner, base: string): Promise<void> {
  const selector = `${LABEL.managedBy}=gangway,${LABEL.service}=${who.service},${LABEL.environment}=${who.environment},${JOB_BASE_LABEL}=${base}`;
  const { items } = await conn.api.list<JobObject>('Job', conn.namespace, { labelSelector: selector });
  const finished = items.filter((j) => j.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True'))
    .sort((a, b) => startedAt(b).localeCompare(startedAt(a)) || b.metadata.name.localeCompare(a.metadata.name));
  for (const j of finished.slice(JOBS_KEPT)) await conn.api.delete('Job', conn.namespace, j.metadata.name, { propagationPolicy: 'Background' });
}

/**
 * How the Job stands, by its conditions as `kubectl wait --for=condition=complete` reads them:
 * `Complete` succeeded, `Failed` failed (with its reason: BackoffLimitExceeded,
 * DeadlineExceeded), else running. A finished Job's pods' last lines come with it.
 */
export async function kubeJobStatus(conn: KubeConnection, handle: JobHandle, opts: { logs?: boolean } = {}): Promise<JobStatus> {
  const job = await conn.api.get<JobObject>('Job', conn.namespace, handle.name);
  if (!job) return { state: 'failed', reason: `job ${handle.name} is gone from namespace ${conn.namespace} (deleted while Gangway waited for it)`, logs: [] };
  const cond = (type: string) => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  const complete = cond('Complete');
  const failed = cond('Failed');
  if (!complete && !failed) {
    const s = job.status ?? {};
    return { state: 'running', reason: `job ${handle.name}: ${s.active ?? 0} active, ${s.succeeded ?? 0} succeeded, ${s.failed ?? 0} failed pods`, logs: opts.logs ? await jobLogs(conn, handle.name) : [] };
  }
  const logs = await jobLogs(conn, handle.name);
  if (complete) return { state: 'succeeded', reason: `job ${handle.name} completed`, logs };
  return { state: 'failed', reason: `job ${handle.name} failed: ${failed!.reason ?? 'Failed'}${failed!.message ? `: ${failed!.message}` : ''}`, logs };
}

/** The last lines of the newest pods of the Job (at most 3), oldest pod first. */
export async function jobLogs(conn: KubeConnection, name: string): Promise<JobStatus['logs']> {
  const { items } = await conn.api.list<KubePod>('Pod', conn.namespace, { labelSelector: `${JOB_LABEL}=${name}` });
  items.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
  const out: JobStatus['logs'] = [];
  for (const p of items.slice(-LOG_PODS)) {
    const text = await conn.api.logs(conn.namespace, p.metadata.name, { tailLines: LOG_LINES }).catch((err: unknown) => `[gangway] no log: ${err instanceof Error ? err.message : String(err)}`);
    out.push({ pod: p.metadata.name, lines: logLines(text) });
  }
  return out;
}

/**
 * A pod's output as record lines: empty lines dropped, at most the last 100, each cut to 500
 * characters (a migration that prints a whole row dump does not bloat the record).
 *
 * @example logLines('migration: starting\n\nmigration: done\n') // ['migration: starting', 'migration: done']
 */
export function logLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '').slice(-LOG_LINES)
    .map((l) => (l.length > LOG_LINE_CHARS ? `${l.slice(0, LOG_LINE_CHARS)}… (${l.length - LOG_LINE_CHARS} more characters)` : l));
}

async function readJob(file: string): Promise<JobObject> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new GangwayError('invalid_config', `jobs.beforeRollout: cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, 'give the path of a YAML file holding one Job, relative to gangway.yaml');
  });
  const objects = parseObjects(text, file);
  if (objects.length !== 1 || objects[0]!.kind !== 'Job') {
    throw new GangwayError('invalid_config', `${file}: expected exactly one Job, found ${objects.length === 0 ? 'nothing' : objects.map((o) => `${o.kind} ${o.metadata?.name ?? ''}`.trim()).join(', ')}`,
      'keep the Job alone in its file');
  }
  return objects[0] as JobObject;
}

/** Fills `${name}` placeholders in every string of a value. */
function fill(value: unknown, vars: Record<string, string>): unknown {
  if (typeof value === 'string') return value.replace(/\$\{(release\.version|release\.image)\}/g, (_m, k: string) => vars[k]!);
  if (Array.isArray(value)) return value.map((v) => fill(v, vars));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, vars)]));
  return value;
}
