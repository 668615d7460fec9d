/**
 * The fake Argo CD's rules taken one by one, against upstream's: how `helm.valueFiles` paths
 * resolve, gitops-engine's health checks and the app's worst-of health, the live-vs-Git
 * comparison, and revision resolution on a real repository.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Repos } from '../git-repos.js';
import { git, makeRepos, requireGit } from '../git-repos.js';
import { firstDifference } from './diff.js';
import { GitError, resolveRevision } from './git.js';
import { applicationHealth, resourceHealth } from './health.js';
import { RenderError, resolveValueFile } from './render.js';
import type { Obj } from './types.js';

const hasGit = await requireGit('fake Argo CD revision tests');

describe('helm.valueFiles resolution (ResolveValueFilePathOrUrl)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'fake-argocd-rules-'));
    await mkdir(join(root, 'helm/accounts'), { recursive: true });
    await mkdir(join(root, 'helm/environments/dev-env'), { recursive: true });
    await writeFile(join(root, 'helm/environments/dev-env/image-tags.yaml'), 'tags: {}\n');
    // A link to the folder holding the repository: outside it.
    await symlink(tmpdir(), join(root, 'helm/accounts/escape.yaml'));
  });
  afterAll(async () => { await rm(root, { recursive: true, force: true }); });

  it('resolves relative to the app path, and a leading slash relative to the repository root', () => {
    const app = join(root, 'helm/accounts');
    expect(resolveValueFile(app, root, '../environments/dev-env/image-tags.yaml')).toBe(join(root, 'helm/environments/dev-env/image-tags.yaml'));
    expect(resolveValueFile(app, root, '/helm/environments/dev-env/image-tags.yaml')).toBe(join(root, 'helm/environments/dev-env/image-tags.yaml'));
    expect(resolveValueFile(app, root, 'values-dev.yaml')).toBe(join(app, 'values-dev.yaml'));
  });

  it('refuses paths and symlinks that leave the repository, and URLs', () => {
    const app = join(root, 'helm/accounts');
    const refused = (vf: string): string => {
      try { resolveValueFile(app, root, vf); } catch (e) { expect(e).toBeInstanceOf(RenderError); return (e as Error).message; }
      return 'resolved';
    };
    expect(refused('../../../etc/passwd')).toBe("file '../../../etc/passwd' resolved to outside repository root");
    expect(refused('escape.yaml')).toBe("file 'escape.yaml' resolved to outside repository root");
    expect(refused('../..')).toBe('internal error: failed to resolve path. Check logs for more details');
    expect(refused('https://example.com/values.yaml')).toBe("the URL scheme 'https' is not allowed");
  });
});

const deployment = (over: { generation?: number; spec?: Obj; status?: Obj }): Obj => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', generation: over.generation ?? 2 },
  spec: { replicas: 3, ...over.spec }, status: { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3, ...over.status },
});

describe('health (gitops-engine pkg/health)', () => {
  it('judges Deployments as upstream does, with its messages', () => {
    expect(resourceHealth(deployment({}))).toEqual({ status: 'Healthy' });
    expect(resourceHealth(deployment({ generation: 3 }))).toEqual({ status: 'Progressing', message: 'Waiting for rollout to finish: observed deployment generation less then desired generation' });
    expect(resourceHealth(deployment({ status: { updatedReplicas: 1 } }))).toEqual({ status: 'Progressing', message: 'Waiting for rollout to finish: 1 out of 3 new replicas have been updated...' });
    expect(resourceHealth(deployment({ status: { replicas: 4 } }))).toEqual({ status: 'Progressing', message: 'Waiting for rollout to finish: 1 old replicas are pending termination...' });
    expect(resourceHealth(deployment({ status: { availableReplicas: 2 } }))).toEqual({ status: 'Progressing', message: 'Waiting for rollout to finish: 2 of 3 updated replicas are available...' });
    expect(resourceHealth(deployment({ status: { updatedReplicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] } })))
      .toEqual({ status: 'Degraded', message: 'Deployment "web" exceeded its progress deadline' });
    expect(resourceHealth(deployment({ spec: { paused: true } }))).toEqual({ status: 'Suspended', message: 'Deployment is paused' });
    expect(resourceHealth({ ...deployment({}), metadata: { name: 'web', deletionTimestamp: '2024-01-01T00:00:00Z' } })).toEqual({ status: 'Progressing', message: 'Pending deletion' });
  });

  it('judges Pods, Services, Jobs; kinds without a check have none', () => {
    const pod = (status: Obj): Obj => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { restartPolicy: 'Always' }, status });
    expect(resourceHealth(pod({ phase: 'Running', containerStatuses: [{ name: 'c', state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container' } } }] })))
      .toEqual({ status: 'Degraded', message: 'back-off 10s restarting failed container' });
    expect(resourceHealth(pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }))).toEqual({ status: 'Healthy' });
    expect(resourceHealth(pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] }))).toEqual({ status: 'Progressing' });
    expect(resourceHealth({ apiVersion: 'v1', kind: 'Service', metadata: {}, spec: { type: 'ClusterIP' } })).toEqual({ status: 'Healthy' });
    expect(resourceHealth({ apiVersion: 'v1', kind: 'Service', metadata: {}, spec: { type: 'LoadBalancer' }, status: {} })).toEqual({ status: 'Progressing' });
    expect(resourceHealth({ apiVersion: 'batch/v1', kind: 'Job', metadata: {}, status: { conditions: [{ type: 'Failed', message: 'BackoffLimitExceeded' }] } })).toEqual({ status: 'Degraded', message: 'BackoffLimitExceeded' });
    expect(resourceHealth({ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} })).toBeUndefined();
  });

  it('gives the app the worst health, a missing object counting only when its kind has a check', () => {
    const missingConfig = { apiVersion: 'v1', kind: 'ConfigMap', live: undefined };
    expect(applicationHealth([missingConfig, { apiVersion: 'apps/v1', kind: 'Deployment', live: deployment({}) }]).app).toEqual({ status: 'Healthy' });
    expect(applicationHealth([{ apiVersion: 'apps/v1', kind: 'Deployment', live: undefined }, { apiVersion: 'v1', kind: 'Service', live: { apiVersion: 'v1', kind: 'Service', metadata: {}, spec: {} } }]).app).toEqual({ status: 'Missing' });
    const degraded = deployment({ status: { conditions: [{ type: 'Progressing', reason: 'ProgressDeadlineExceeded' }] } });
    expect(applicationHealth([{ apiVersion: 'apps/v1', kind: 'Deployment', live: undefined }, { apiVersion: 'apps/v1', kind: 'Deployment', live: degraded }]).app).toEqual({ status: 'Degraded' });
    expect(applicationHealth([]).app).toEqual({ status: 'Healthy' });
  });
});

describe('live against Git', () => {
  it('ignores what the API server adds and finds what differs', () => {
    const target = { spec: { ports: [{ port: 80 }], selector: { app: 'a' } }, metadata: { labels: { app: 'a' } } };
    const live = { spec: { ports: [{ port: 80, protocol: 'TCP' }], selector: { app: 'a' }, clusterIP: '10.0.0.1' }, metadata: { labels: { app: 'a' }, uid: 'x' }, status: {} };
    expect(firstDifference(target, live)).toBeUndefined();
    expect(firstDifference(target, { ...live, spec: { ...live.spec, ports: [{ port: 81 }] } })).toBe('.spec.ports[0].port');
    expect(firstDifference(target, { ...live, spec: { ...live.spec, ports: [] } })).toBe('.spec.ports');
    expect(firstDifference({ metadata: { annotations: {} } }, { metadata: {} })).toBeUndefined();
  });
});

describe.skipIf(!hasGit)('revision resolution (LsRemote)', () => {
  let repos: Repos;
  beforeAll(async () => {
    repos = await makeRepos();
    await git(repos.work, 'tag', '-a', 'v1.0.0', '-m', 'release');
    await git(repos.work, 'push', '--quiet', 'origin', 'v1.0.0');
  });
  afterAll(async () => { await repos?.remove(); });

  it('resolves HEAD, branches, annotated tags and SHAs, and names what it cannot', async () => {
    const head = await git(repos.work, 'rev-parse', 'HEAD');
    expect(await resolveRevision(repos.bare, 'HEAD')).toBe(head);
    expect(await resolveRevision(repos.bare, '')).toBe(head);
    expect(await resolveRevision(repos.bare, 'main')).toBe(head);
    expect(await resolveRevision(repos.bare, 'refs/heads/main')).toBe(head);
    expect(await resolveRevision(repos.bare, 'v1.0.0')).toBe(head);
    expect(await resolveRevision(repos.bare, head.toUpperCase())).toBe(head);
    expect(await resolveRevision(repos.bare, head.slice(0, 7))).toBe(head.slice(0, 7));
    await expect(resolveRevision(repos.bare, 'release-9')).rejects.toThrow(new GitError("Unable to resolve 'release-9' to a commit SHA"));
    await expect(resolveRevision(join(repos.root, 'missing.git'), 'main')).rejects.toThrow(new GitError('failed to list refs: repository not found'));
  });
});
