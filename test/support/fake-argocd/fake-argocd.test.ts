/**
 * The fake Argo CD as a GitOps client sees it, against a real bare Git repository (laid out
 * like the runbook's: charts under helm/, image tags in helm/environments/dev-env/image-tags.yaml)
 * and the fake Kubernetes API server: refresh and sync at exact commits, the Deployment rolled
 * out in the cluster, health by upstream's rules, failed syncs, Degraded apps, automated sync,
 * pruning, an operation started by someone else, authentication and RBAC answers, and the API
 * going away and coming back. Every wait is on state, never on time.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeKube, Obj } from '../fake-kube/index.js';
import { startFakeKube } from '../fake-kube/index.js';
import type { Repos } from '../git-repos.js';
import { git, makeRepos, requireGit } from '../git-repos.js';
import type { Application, FakeArgoCD, ResourceStatus } from './index.js';
import { startFakeArgoCD } from './index.js';

const hasGit = await requireGit('fake Argo CD tests');

const REPO_URL = 'https://git.example.com/bank/deploy.git';
const FIXTURE = fileURLToPath(new URL('../../fixtures/gitops/repo', import.meta.url));
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

let kube: FakeKube;
let repos: Repos;
let argo: FakeArgoCD;
let sha0: string;

const accountsSource = () => ({
  repoURL: REPO_URL, path: 'helm/accounts', targetRevision: 'main',
  helm: { valueFiles: ['../environments/dev-env/values.yaml', '../environments/dev-env/image-tags.yaml'] },
});
const destination = { server: 'https://kubernetes.default.svc', namespace: 'dev' };

beforeAll(async () => {
  if (!hasGit) return;
  kube = await startFakeKube();
  await kube.namespace('dev');
  repos = await makeRepos();
  await cp(FIXTURE, repos.work, { recursive: true });
  await git(repos.work, 'add', '-A');
  await git(repos.work, 'commit', '--quiet', '-m', 'services for dev');
  await git(repos.work, 'push', '--quiet', 'origin', 'main');
  sha0 = await git(repos.work, 'rev-parse', 'HEAD');
  argo = await startFakeArgoCD({
    kube,
    repos: { [REPO_URL]: repos.bare },
    apps: [
      { name: 'accounts', source: accountsSource(), destination: { namespace: 'dev' } },
      // A repoURL that is not listed in `repos` is the bare repository's path.
      { name: 'cards', source: { repoURL: repos.bare, path: 'helm/cards', targetRevision: 'main', helm: { valueFiles: ['/helm/environments/dev-env/image-tags.yaml', '../environments/dev-env/cards.yaml'] } }, destination: { namespace: 'dev' } },
    ],
  });
});

afterAll(async () => {
  await argo?.close();
  await kube?.close();
  await repos?.remove();
});

interface Answer { status: number; json: unknown }

async function api(method: string, path: string, o: { token?: string | null; body?: unknown } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = o.token === undefined ? argo.token : o.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (o.body !== undefined) {
    body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${argo.url}${path}`, { method, headers, body });
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json };
}

const asApp = (a: Answer): Application => a.json as Application;

/** Commits a new tag of `service` to dev's image-tags.yaml on main; returns the commit. */
async function setTag(service: string, tag: string): Promise<string> {
  const file = join(repos.work, 'helm/environments/dev-env/image-tags.yaml');
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.replace(new RegExp(`(  ${service}: )"[^"]*"`), `$1"${tag}"`));
  await git(repos.work, 'commit', '--quiet', '-am', `${service} ${tag} to dev`);
  await git(repos.work, 'push', '--quiet', 'origin', 'main');
  return git(repos.work, 'rev-parse', 'HEAD');
}

/** Waits until the app's operation is over; returns the app. */
function operationDone(name: string): Promise<Application> {
  return argo.waitFor(() => {
    const a = argo.app(name);
    return !a.operation && a.status.operationState && a.status.operationState.phase !== 'Running' ? a : undefined;
  }, { what: `${name}: operation finished` });
}

function waitApp(name: string, pred: (a: Application) => boolean, what: string): Promise<Application> {
  return argo.waitFor(() => { const a = argo.app(name); return pred(a) ? a : undefined; }, { what: `${name}: ${what}` });
}

const resource = (a: Application, kind: string): ResourceStatus | undefined => a.status.resources?.find((r) => r.kind === kind);
const deployment = (name: string): Obj | undefined => kube.get('deployment', 'dev', name);
const imageOf = (d: Obj | undefined): unknown => (((d?.spec as Obj).template as Obj).spec as { containers: Array<{ image: string }> }).containers[0].image;

function jwtIat(token: string): number {
  return (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as { iat: number }).iat;
}

describe.skipIf(!hasGit)('fake Argo CD', () => {
  it('compares a new app with its branch head: OutOfSync and Missing before anything is deployed', () => {
    const app = argo.app('accounts');
    expect(app.metadata).toMatchObject({ name: 'accounts', namespace: 'argocd', generation: 1 });
    expect(app.spec).toEqual({ source: accountsSource(), destination, project: 'default' });
    expect(app.status.sync).toEqual({ status: 'OutOfSync', revision: sha0, comparedTo: { source: accountsSource(), destination } });
    expect(app.status.health).toEqual({ status: 'Missing' });
    expect(app.status.resources).toEqual([
      { group: '', version: 'v1', kind: 'Service', namespace: 'dev', name: 'accounts', status: 'OutOfSync', health: { status: 'Missing' } },
      { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'dev', name: 'accounts', status: 'OutOfSync', health: { status: 'Missing' } },
    ]);
    expect(app.status.sourceType).toBe('Helm');
    expect(app.status.reconciledAt).toMatch(TIME);
    expect(app.operation).toBeUndefined();
    expect(app.status.operationState).toBeUndefined();
  });

  it('syncs the branch head, then a new image tag: refresh → OutOfSync at the commit, sync → Succeeded at it, Progressing then Healthy', async () => {
    // given the first deployment of the chart at the branch head
    const first = await api('POST', '/api/v1/applications/accounts/sync', { body: {} });
    expect(first.status).toBe(200);
    expect(asApp(first).operation).toEqual({ sync: { revision: sha0 }, initiatedBy: { username: 'admin' }, retry: {} });
    expect(asApp(first).status.operationState).toBeUndefined();
    await operationDone('accounts');
    await waitApp('accounts', (a) => a.status.health.status === 'Healthy' && a.status.sync.status === 'Synced', 'Healthy and Synced');
    expect(imageOf(deployment('accounts'))).toBe('fake.local/ok:1.0.0');
    const managers = ((deployment('accounts')?.metadata as Obj).managedFields as Obj[]).map((e) => `${String(e.manager)}/${String(e.operation)}`);
    expect(managers).toContain('argocd-controller/Apply');
    expect(((deployment('accounts')?.metadata as Obj).labels as Obj)['app.kubernetes.io/instance']).toBe('accounts');

    // when a new tag is committed (pods of the new ReplicaSet will not become ready yet)
    kube.setImageBehaviour('fake.local/ok', { kind: 'never-ready' });
    const sha1 = await setTag('accounts', '1.1.0');

    // then without a refresh the app still reports the commit it compared
    const stale = asApp(await api('GET', '/api/v1/applications/accounts'));
    expect(stale.status.sync).toMatchObject({ status: 'Synced', revision: sha0 });

    // and a refresh re-reads the branch: OutOfSync at the new commit
    const refreshed = await api('GET', '/api/v1/applications/accounts?refresh=normal');
    expect(refreshed.status).toBe(200);
    expect(asApp(refreshed).status.sync).toEqual({ status: 'OutOfSync', revision: sha1, comparedTo: { source: accountsSource(), destination } });
    expect(resource(asApp(refreshed), 'Deployment')?.status).toBe('OutOfSync');
    expect(resource(asApp(refreshed), 'Service')?.status).toBe('Synced');

    // when synced
    const sync = await api('POST', '/api/v1/applications/accounts/sync', { body: { prune: false } });
    expect(asApp(sync).operation).toEqual({ sync: { revision: sha1 }, initiatedBy: { username: 'admin' }, retry: {} });
    const done = await operationDone('accounts');

    // then the operation Succeeded at exactly that commit
    const st = done.status.operationState;
    expect(st).toMatchObject({
      operation: { sync: { revision: sha1 }, initiatedBy: { username: 'admin' }, retry: {} },
      phase: 'Succeeded',
      message: 'successfully synced (all tasks run)',
      syncResult: {
        revision: sha1,
        source: accountsSource(),
        resources: [
          { group: '', version: 'v1', kind: 'Service', namespace: 'dev', name: 'accounts', status: 'Synced', message: 'service/accounts serverside-applied', hookPhase: 'Running', syncPhase: 'Sync' },
          { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'dev', name: 'accounts', status: 'Synced', message: 'deployment.apps/accounts serverside-applied', hookPhase: 'Running', syncPhase: 'Sync' },
        ],
      },
    });
    expect(st?.startedAt).toMatch(TIME);
    expect(st?.finishedAt).toMatch(TIME);
    expect(done.status.history?.map((h) => ({ id: h.id, revision: h.revision, initiatedBy: h.initiatedBy }))).toEqual([
      { id: 0, revision: sha0, initiatedBy: { username: 'admin' } },
      { id: 1, revision: sha1, initiatedBy: { username: 'admin' } },
    ]);
    expect(done.status.history?.[1]).toMatchObject({ source: accountsSource(), deployedAt: st?.finishedAt, deployStartedAt: st?.startedAt });

    // and the cluster runs the new image, the rollout waiting on the new pod: Progressing
    expect(imageOf(deployment('accounts'))).toBe('fake.local/ok:1.1.0');
    const progressing = await waitApp('accounts', (a) => resource(a, 'Deployment')?.health?.message === 'Waiting for rollout to finish: 1 old replicas are pending termination...', 'rollout waiting');
    expect(progressing.status.health).toEqual({ status: 'Progressing' });
    expect(progressing.status.sync).toMatchObject({ status: 'Synced', revision: sha1 });
    expect(progressing.status.summary).toEqual({ images: ['fake.local/ok:1.1.0'] });

    // when the new pods become ready
    kube.setImageBehaviour('fake.local/ok', { kind: 'ready' });
    for (const pod of kube.list('pod', 'dev', { labelSelector: 'app=accounts' })) {
      if (((pod.spec as Obj).containers as Array<{ image: string }>)[0].image !== 'fake.local/ok:1.1.0') continue;
      const del = await kube.request(`/api/v1/namespaces/dev/pods/${String((pod.metadata as Obj).name)}`, { method: 'DELETE' });
      expect(del.status).toBe(200);
    }

    // then the app is Healthy and Synced at the new commit
    const healthy = await waitApp('accounts', (a) => a.status.health.status === 'Healthy', 'Healthy');
    expect(healthy.status.sync).toMatchObject({ status: 'Synced', revision: sha1 });
    expect(resource(healthy, 'Deployment')?.health).toEqual({ status: 'Healthy' });
  });

  it('fails a sync whose objects the API server refuses, in the dry run, applying nothing', async () => {
    // given a branch whose Service port the API server refuses
    await git(repos.work, 'checkout', '--quiet', '-b', 'broken');
    const values = join(repos.work, 'helm/accounts/values.yaml');
    await writeFile(values, (await readFile(values, 'utf8')).replace('port: 80', 'port: 70000'));
    await git(repos.work, 'commit', '--quiet', '-am', 'a port out of range');
    await git(repos.work, 'push', '--quiet', 'origin', 'broken');
    const broken = await git(repos.work, 'rev-parse', 'HEAD');
    await git(repos.work, 'checkout', '--quiet', 'main');
    const before = argo.app('accounts');
    const image = imageOf(deployment('accounts'));

    // when synced to it
    const sync = await api('POST', '/api/v1/applications/accounts/sync', { body: { revision: 'broken' } });
    expect(asApp(sync).operation?.sync.revision).toBe(broken);
    const done = await operationDone('accounts');

    // then
    expect(done.status.operationState).toMatchObject({
      phase: 'Failed',
      message: 'one or more objects failed to apply (dry run)',
      syncResult: {
        revision: broken,
        resources: [{ group: '', version: 'v1', kind: 'Service', namespace: 'dev', name: 'accounts', status: 'SyncFailed',
          message: 'Service "accounts" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive', hookPhase: 'Failed', syncPhase: 'Sync' }],
      },
    });
    expect(done.status.history).toEqual(before.status.history);
    expect(imageOf(deployment('accounts'))).toBe(image);
    expect(((kube.get('service', 'dev', 'accounts')?.spec as Obj).ports as Obj[])[0].port).toBe(80);
  });

  it('fails the next sync on request, with the given message and the revision it tried', async () => {
    const head = await git(repos.work, 'rev-parse', 'HEAD');
    argo.failNextSync('accounts', 'one or more objects failed to apply, reason: admission webhook "policy.bank.example" denied the request');
    await api('POST', '/api/v1/applications/accounts/sync', { body: {} });
    const done = await operationDone('accounts');
    expect(done.status.operationState).toMatchObject({
      phase: 'Failed',
      message: 'one or more objects failed to apply, reason: admission webhook "policy.bank.example" denied the request',
      syncResult: { revision: head, source: accountsSource() },
    });
    expect(done.status.operationState?.syncResult?.resources).toBeUndefined();
    // the next one runs normally
    await api('POST', '/api/v1/applications/accounts/sync', { body: {} });
    expect((await operationDone('accounts')).status.operationState?.phase).toBe('Succeeded');
  });

  it('reports Degraded when a rollout exceeds its progress deadline, and on request', async () => {
    // given cards, whose pods never become ready and whose dev deadline is one second
    await api('POST', '/api/v1/applications/cards/sync', { body: {} });
    expect((await operationDone('cards')).status.operationState?.phase).toBe('Succeeded');

    // then health is Degraded by upstream's Deployment rule
    const degraded = await waitApp('cards', (a) => a.status.health.status === 'Degraded', 'Degraded');
    expect(resource(degraded, 'Deployment')?.health).toEqual({ status: 'Degraded', message: 'Deployment "cards" exceeded its progress deadline' });
    expect(degraded.status.sync).toMatchObject({ status: 'Synced' });
    expect(imageOf(deployment('cards'))).toBe('fake.local/never-ready:1.0.0');

    // and an app can be made to stay Degraded, as a custom health check would
    const undo = argo.stayDegraded('accounts', 'GET /actuator/health answered DOWN');
    const down = await waitApp('accounts', (a) => a.status.health.status === 'Degraded', 'Degraded on request');
    expect(resource(down, 'Deployment')?.health).toEqual({ status: 'Degraded', message: 'GET /actuator/health answered DOWN' });
    undo();
    await waitApp('accounts', (a) => a.status.health.status === 'Healthy', 'Healthy again');
  });

  it('refuses a sync while another operation runs, showing who started it', async () => {
    // given an operation someone else started, still running
    const release = argo.hold('accounts');
    const theirs = await argo.startOperation('accounts', { username: 'alice' });
    expect(theirs.operation?.initiatedBy).toEqual({ username: 'alice' });
    await waitApp('accounts', (a) => a.status.operationState?.phase === 'Running', 'Running');
    const seen = asApp(await api('GET', '/api/v1/applications/accounts'));
    expect(seen.operation?.initiatedBy).toEqual({ username: 'alice' });
    expect(seen.status.operationState).toMatchObject({ phase: 'Running', operation: { initiatedBy: { username: 'alice' } } });
    expect(seen.status.operationState?.finishedAt).toBeUndefined();

    // when we ask for a sync
    const refused = await api('POST', '/api/v1/applications/accounts/sync', { body: {} });

    // then
    expect(refused).toEqual({ status: 400, json: { error: 'error setting app operation: another operation is already in progress', code: 9, message: 'error setting app operation: another operation is already in progress' } });
    release();
    const done = await operationDone('accounts');
    expect(done.status.operationState?.phase).toBe('Succeeded');
    expect(done.status.history?.at(-1)?.initiatedBy).toEqual({ username: 'alice' });
  });

  it('terminates a running operation, and says when none runs', async () => {
    expect(await api('DELETE', '/api/v1/applications/accounts/operation')).toEqual({ status: 400, json: {
      error: 'Unable to terminate operation. No operation is in progress', code: 3, message: 'Unable to terminate operation. No operation is in progress' } });
    const release = argo.hold('accounts');
    await api('POST', '/api/v1/applications/accounts/sync', { body: {} });
    await waitApp('accounts', (a) => a.status.operationState?.phase === 'Running', 'Running');
    expect(await api('DELETE', '/api/v1/applications/accounts/operation')).toEqual({ status: 200, json: {} });
    const done = await operationDone('accounts');
    release();
    expect(done.status.operationState).toMatchObject({ phase: 'Failed', message: 'Operation terminated' });
  });

  it('syncs automatically on refresh when auto-sync is on, and refuses another revision then', async () => {
    argo.setAutoSync('accounts', { prune: false });
    const sha2 = await setTag('accounts', '1.2.0');
    const refreshed = asApp(await api('GET', '/api/v1/applications/accounts?refresh=hard'));
    expect(refreshed.status.sync).toMatchObject({ status: 'OutOfSync', revision: sha2 });
    expect(refreshed.spec.syncPolicy).toEqual({ automated: { prune: false } });
    expect(refreshed.operation).toEqual({ sync: { revision: sha2 }, initiatedBy: { automated: true }, retry: {} });
    const done = await operationDone('accounts');
    expect(done.status.operationState).toMatchObject({ phase: 'Succeeded', syncResult: { revision: sha2 } });
    expect(done.status.history?.at(-1)).toMatchObject({ revision: sha2, initiatedBy: { automated: true } });
    expect(imageOf(deployment('accounts'))).toBe('fake.local/ok:1.2.0');
    await waitApp('accounts', (a) => a.status.sync.status === 'Synced' && a.status.health.status === 'Healthy', 'Synced and Healthy');

    expect(await api('POST', '/api/v1/applications/accounts/sync', { body: { revision: sha0 } })).toEqual({ status: 400, json: {
      error: `Cannot sync to ${sha0}: auto-sync currently set to main`, code: 9, message: `Cannot sync to ${sha0}: auto-sync currently set to main` } });
    argo.setAutoSync('accounts', false);
    expect(argo.app('accounts').spec.syncPolicy).toBeUndefined();
  });

  it('shows objects removed from Git as requiring pruning, and prunes them when asked', async () => {
    await git(repos.work, 'rm', '--quiet', 'helm/accounts/templates/service.yaml');
    await git(repos.work, 'commit', '--quiet', '-m', 'accounts: no service');
    await git(repos.work, 'push', '--quiet', 'origin', 'main');
    const sha3 = await git(repos.work, 'rev-parse', 'HEAD');

    const refreshed = asApp(await api('GET', '/api/v1/applications/accounts?refresh=normal'));
    expect(refreshed.status.sync).toMatchObject({ status: 'OutOfSync', revision: sha3 });
    expect(resource(refreshed, 'Service')).toEqual({ group: '', version: 'v1', kind: 'Service', namespace: 'dev', name: 'accounts', status: 'OutOfSync', health: { status: 'Healthy' }, requiresPruning: true });

    await api('POST', '/api/v1/applications/accounts/sync', { body: {} });
    const kept = await operationDone('accounts');
    expect(kept.status.operationState?.syncResult?.resources?.[0]).toEqual({ group: '', version: 'v1', kind: 'Service', namespace: 'dev', name: 'accounts', status: 'PruneSkipped', message: 'ignored (requires pruning)', hookPhase: 'Succeeded', syncPhase: 'Sync' });
    expect(kube.get('service', 'dev', 'accounts')).toBeDefined();

    await api('POST', '/api/v1/applications/accounts/sync', { body: { prune: true } });
    const pruned = await operationDone('accounts');
    expect(pruned.status.operationState?.operation.sync).toEqual({ revision: sha3, prune: true });
    expect(pruned.status.operationState?.syncResult?.resources?.[0]).toEqual({ group: '', version: 'v1', kind: 'Service', namespace: 'dev', name: 'accounts', status: 'Pruned', message: 'pruned', hookPhase: 'Succeeded', syncPhase: 'Sync' });
    expect(kube.get('service', 'dev', 'accounts')).toBeUndefined();
    const synced = await waitApp('accounts', (a) => a.status.sync.status === 'Synced', 'Synced');
    expect(synced.status.resources?.map((r) => r.kind)).toEqual(['Deployment']);
  });

  it('answers 401 without a valid token and 403 with upstream\'s wording', async () => {
    const unauth = (message: string): Answer => ({ status: 401, json: { error: message, code: 16, message } });
    expect(await api('GET', '/api/v1/applications/accounts', { token: null })).toEqual(unauth('no session information'));
    expect(await api('GET', '/api/v1/applications/accounts', { token: 'nope' })).toEqual(unauth('invalid session: token contains an invalid number of segments'));
    const forged = `${argo.token.split('.').slice(0, 2).join('.')}.c2lnbmF0dXJl`;
    expect(await api('GET', '/api/v1/applications/accounts', { token: forged })).toEqual(unauth('invalid session: signature is invalid'));
    const old = argo.mintToken('leaver');
    argo.revokeToken(old);
    expect(await api('GET', '/api/v1/applications/accounts', { token: old })).toEqual(unauth('invalid session: token is revoked, please re-login'));

    const viewer = argo.mintToken('viewer');
    const lift = argo.deny({ user: 'viewer', app: 'accounts', action: 'sync' });
    expect((await api('GET', '/api/v1/applications/accounts', { token: viewer })).status).toBe(200);
    const denied = `permission denied: applications, sync, default/accounts, sub: viewer, iat: ${new Date(jwtIat(viewer) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
    expect(await api('POST', '/api/v1/applications/accounts/sync', { token: viewer, body: {} })).toEqual({ status: 403, json: { error: denied, code: 7, message: denied } });
    lift();

    const hidden = argo.deny({ user: 'viewer', app: 'cards', action: 'get' });
    const plain = { status: 403, json: { error: 'permission denied', code: 7, message: 'permission denied' } };
    expect(await api('GET', '/api/v1/applications/cards', { token: viewer })).toEqual(plain);
    expect(await api('POST', '/api/v1/applications/cards/sync', { token: viewer, body: {} })).toEqual(plain);
    expect(await api('GET', '/api/v1/applications/nope', { token: viewer })).toEqual(plain);
    expect(await api('GET', '/api/v1/applications/nope?project=default', { token: viewer })).toEqual({ status: 404, json: {
      error: 'applications.argoproj.io "nope" not found', code: 5, message: 'applications.argoproj.io "nope" not found' } });
    const list = await api('GET', '/api/v1/applications', { token: viewer });
    expect((list.json as { items: Application[] }).items.map((a) => a.metadata.name)).toEqual(['accounts']);
    hidden();
    expect((await api('GET', '/api/v1/applications')).json).toMatchObject({ items: [{ metadata: { name: 'accounts' } }, { metadata: { name: 'cards' } }] });
  });

  it('refuses malformed sync requests and revisions that do not resolve', async () => {
    expect(await api('POST', '/api/v1/applications/accounts/sync', { body: { prune: 'yes' } })).toEqual({ status: 400, json: {
      error: 'json: cannot unmarshal string into Go struct field ApplicationSyncRequest.prune of type bool', code: 3,
      message: 'json: cannot unmarshal string into Go struct field ApplicationSyncRequest.prune of type bool' } });
    const msg = "error resolving repo revision: rpc error: code = Unknown desc = Unable to resolve 'release-9' to a commit SHA";
    expect(await api('POST', '/api/v1/applications/accounts/sync', { body: { revision: 'release-9' } })).toEqual({ status: 400, json: { error: msg, code: 9, message: msg } });
    expect(argo.app('accounts').operation).toBeUndefined();
    expect(await api('GET', '/api/version', { token: null })).toEqual({ status: 200, json: { Version: 'v2.13.0+fake' } });
    expect(await api('GET', '/api/v1/clusters')).toEqual({ status: 404, json: 'Not Found\n' });
  });

  it('becomes unreachable and comes back on the same port', async () => {
    const url = argo.url;
    await argo.unreachable();
    await expect(fetch(`${url}/api/version`)).rejects.toThrow(TypeError);
    await argo.reachable();
    expect(argo.url).toBe(url);
    expect((await api('GET', '/api/v1/applications/accounts')).status).toBe(200);
  });

  it('serves HTTPS with a self-signed certificate and tokens chosen by the test', async () => {
    const tls = await startFakeArgoCD({ kube, tls: true, tokens: { 'ci-token': 'ci' } });
    const agent = new Agent({ connect: { ca: tls.caCert } });
    try {
      expect(tls.url).toBe(`https://127.0.0.1:${tls.port}`);
      const res = await request(`${tls.url}/api/v1/applications`, { headers: { authorization: 'Bearer ci-token' }, dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.json()).toEqual({ metadata: { resourceVersion: '0' }, items: [] });
      expect(tls.requests.map((r) => ({ method: r.method, path: r.path, user: r.user, status: r.status }))).toEqual([{ method: 'GET', path: '/api/v1/applications', user: 'ci', status: 200 }]);
    } finally {
      await agent.close();
      await tls.close();
    }
  });

  it('reports a comparison error when the chart cannot be rendered', async () => {
    const file = join(repos.work, 'helm/environments/dev-env/image-tags.yaml');
    await rm(file);
    await git(repos.work, 'commit', '--quiet', '-am', 'tags moved');
    await git(repos.work, 'push', '--quiet', 'origin', 'main');
    const app = asApp(await api('GET', '/api/v1/applications/cards?refresh=normal'));
    expect(app.status.sync.status).toBe('Unknown');
    expect(app.status.conditions).toEqual([{ type: 'ComparisonError', lastTransitionTime: expect.stringMatching(TIME) as unknown as string,
      message: 'Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = `helm template . --name-template cards --namespace dev --values helm/environments/dev-env/image-tags.yaml` failed exit status 1: Error: open helm/environments/dev-env/image-tags.yaml: no such file or directory' }]);
    // the error stays until a refresh finds the chart renderable again
    await argo.reconcile();
    expect(argo.app('cards').status.sync.status).toBe('Unknown');
    expect(argo.app('cards').status.conditions).toEqual(app.status.conditions);
    expect(argo.errors).toEqual([]);
  });
});
