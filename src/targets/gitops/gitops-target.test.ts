/**
 * The GitOps target end to end: real git (a bare config repository laid out as the runbook's,
 * test/fixtures/gitops/repo), the FAKE Argo CD syncing it into the FAKE Kubernetes API server,
 * and the target reading pods through the real Kubernetes client. Each test has its own
 * repository, Application and namespace. The settle period and the sync timeout are passed by
 * moving the target's clock, never by waiting; polls have generous limits only as hang guards.
 */
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeArgoCD, type FakeArgoCD } from '../../../test/support/fake-argocd/index.js';
import { startFakeKube, type FakeKube } from '../../../test/support/fake-kube/index.js';
import { commitFiles, git, installHook, makeRepos, requireGit, type Repos } from '../../../test/support/git-repos.js';
import type { GitOpsTargetConfig } from '../../config/helm.js';
import type { ServiceEnvConfig } from '../../config/types.js';
import { GangwayError, UnreachableError } from '../../errors.js';
import { kubeConnector, type KubeConnector } from '../kubernetes/connect.js';
import type { RolloutHandle, RolloutStatus } from '../target.js';
import { ArgoCDClient } from './argocd.js';
import { GitOpsError } from './errors.js';
import { GitOpsTarget, writtenValue } from './gitops-target.js';
import { GitOpsRepo } from './repo.js';

const hasGit = await requireGit('GitOps target tests');
const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/gitops/repo', import.meta.url));
const FILE = 'helm/environments/dev-env/image-tags.yaml';
const TOKEN_VAR = 'GW_TEST_GITOPS_TOKEN';
/** A hang guard for a loaded machine, never a claim about speed. */
const LIMIT_MS = 120_000;
const AUTHOR = { name: 'Gangway Bot', email: 'gangway@example.com' };

let kube: FakeKube;
let argo: FakeArgoCD;
let dir: string;
let kubeconfig: string;
let connector: KubeConnector;
const env: NodeJS.ProcessEnv = {};
let offset = 0;
let seq = 0;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  if (!hasGit) return;
  dir = await mkdtemp(join(tmpdir(), 'gw-gitops-target-'));
  kube = await startFakeKube();
  kubeconfig = await kube.writeKubeconfig(dir);
  connector = kubeConnector({ env: {} });
  argo = await startFakeArgoCD({ kube });
  env[TOKEN_VAR] = argo.token;
}, LIMIT_MS);

afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
  await connector?.close();
  await argo?.close();
  await kube?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}, LIMIT_MS);

interface World {
  repos: Repos;
  app: string;
  ns: string;
  cfg: ServiceEnvConfig;
  target: GitOpsTarget;
  stateDir: string;
  sleeps: number[];
}

/**
 * A config repository with the fixture, an Application `accounts-tN` following its main branch
 * into namespace tN, synced and Healthy at 1.0.0, and a target for `accounts` in dev.
 */
async function given(o: { key?: string; settleMs?: number; syncTimeoutMs?: number; restartLimit?: number } = {}): Promise<World> {
  const n = ++seq;
  const ns = `t${n}`;
  const app = `accounts-${ns}`;
  await kube.namespace(ns);
  const repos = await makeRepos();
  cleanups.push(() => repos.remove());
  await cp(FIXTURE, repos.work, { recursive: true });
  await git(repos.work, 'add', '-A');
  await git(repos.work, 'commit', '--quiet', '-m', 'services for dev');
  await git(repos.work, 'push', '--quiet', 'origin', 'main');
  await argo.addApp({ name: app, source: { repoURL: repos.bare, path: 'helm/accounts', targetRevision: 'main', helm: { valueFiles: ['../environments/dev-env/image-tags.yaml'] } }, destination: { namespace: ns } });
  await argo.startOperation(app, { username: 'admin' });
  await argo.waitFor(() => { const a = argo.app(app); return !a.operation && a.status.health.status === 'Healthy' && a.status.sync.status === 'Synced'; }, { what: `${app} Healthy at 1.0.0`, timeoutMs: LIMIT_MS });
  const target: GitOpsTargetConfig = {
    kind: 'gitops', instances: 1, repo: repos.bare, remote: null, branch: 'main', file: 'helm/environments/{environment}-env/image-tags.yaml', key: o.key ?? 'tags.{service}'.replace('{service}', 'accounts'),
    application: `{service}-${ns}`, argocd: { server: argo.url, tokenFromEnv: TOKEN_VAR, insecure: false },
    syncTimeoutMs: o.syncTimeoutMs ?? 300_000, settleMs: o.settleMs ?? 0, prune: false,
    cluster: { kubeconfig, context: null, namespace: ns, requestTimeoutMs: 30_000 },
    deployment: app, service: app, container: null, port: null, restartLimit: o.restartLimit ?? 0, blueGreen: null, canary: null,
  };
  const cfg = { service: 'accounts', environment: 'dev', strategy: { kind: 'rolling' }, target } as unknown as ServiceEnvConfig;
  const stateDir = join(dir, `state-${n}`);
  const sleeps: number[] = [];
  const t = new GitOpsTarget({
    stateDir, author: AUTHOR, connect: (k) => connector.connect(k), now: () => Date.now() + offset,
    argocd: (a) => new ArgoCDClient(a, { env, timeoutMs: 60_000 }),
    git: { pushRetries: 2, backoffMs: 10, sleep: async (ms) => { sleeps.push(ms); } },
  });
  cleanups.push(() => t.close());
  return { repos, app, ns, cfg, target: t, stateDir, sleeps };
}

const ctx = (stage: 'deploy' | 'rollback' = 'deploy') => ({ deploymentId: 'd-1', actor: 'alice', reason: 'CHG-42', stage });
const short = (h: RolloutHandle): string => h.revision.slice('commit '.length, 'commit '.length + 7);
const commitOf = (h: RolloutHandle): string => h.revision.slice('commit '.length);

/** Polls the rollout until it is not progressing, or until `pred` holds on a progressing verdict. */
async function until(w: World, h: RolloutHandle, pred: (s: RolloutStatus) => boolean = (s) => s.state !== 'progressing'): Promise<RolloutStatus> {
  const deadline = Date.now() + LIMIT_MS;
  let last: RolloutStatus | null = null;
  for (;;) {
    last = await w.target.rolloutStatus(w.cfg, h);
    if (pred(last)) return last;
    if (last.state !== 'progressing') throw new Error(`rollout ended ${last.state} early: ${last.reason}`);
    if (Date.now() > deadline) throw new Error(`hang guard: still ${last.reason}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function failure(p: Promise<unknown>): Promise<GangwayError> {
  const err = await p.then(() => null, (e: unknown) => e);
  if (!(err instanceof GangwayError)) throw new Error(`expected a GangwayError, got ${String(err)}`);
  return err;
}

const syncPosts = (app: string): number => argo.requests.filter((r) => r.method === 'POST' && r.path === `/api/v1/applications/${app}/sync`).length;
const imageOf = (w: World): string => ((((kube.get('deployment', w.ns, w.app)?.spec as Record<string, unknown>).template as Record<string, unknown>).spec as { containers: Array<{ image: string }> }).containers[0].image);

describe.skipIf(!hasGit)('GitOpsTarget (real git, fake Argo CD, fake API server)', () => {
  it('commits the tag, syncs at that commit and is done only once Synced, Succeeded, Healthy for the settle period and the pods ready; asked again it does nothing twice', async () => {
    const w = await given({ settleMs: 10_000 });
    const before = Number(await git(w.repos.bare, 'rev-list', '--count', 'main'));

    const h = await w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx());

    const head = await git(w.repos.bare, 'rev-parse', 'main');
    expect(h).toEqual({ version: '1.1.0', revision: `commit ${head}` });
    expect(await git(w.repos.bare, 'log', '-1', '--format=%an|%B', 'main'))
      .toBe('Gangway Bot|deploy accounts 1.1.0 to dev\n\nDeployment: d-1\nActor: alice\nReason: CHG-42\nService: accounts\nEnvironment: dev\nVersion: 1.1.0');
    expect(await git(w.repos.bare, 'show', 'main:' + FILE)).toBe('# Image tags deployed to dev, one per service; the deployment workflow edits this file.\ntags:\n  accounts: "1.1.0"\n  cards: "1.0.0"');

    const settling = await until(w, h, (s) => s.reason.includes('settle period'));
    expect(settling.reason).toMatch(new RegExp(`^${w.app} Synced and Healthy at ${short(h)} for \\d+ms of the 10s settle period \\(target.gitops.settle\\); deployment "${w.app}" successfully rolled out, 1 of 1 pods of 1.1.0 ready$`));
    offset += 10_000;
    const done = await w.target.rolloutStatus(w.cfg, h);
    expect(done.state).toBe('done');
    expect(done.reason).toMatch(new RegExp(`^${w.app} Synced, last sync Succeeded and Healthy at ${short(h)} for 1\\d(\\.\\d)?s; deployment "${w.app}" successfully rolled out, 1 of 1 pods of 1.1.0 ready$`));

    const app = argo.app(w.app);
    expect(app.status.operationState).toMatchObject({ phase: 'Succeeded', syncResult: { revision: head }, operation: { info: [{ name: 'gangway', value: 'd-1 deploy' }], initiatedBy: { username: 'admin' } } });
    expect(app.status.history?.at(-1)).toMatchObject({ revision: head, initiatedBy: { username: 'admin' } });
    expect(imageOf(w)).toBe('fake.local/ok:1.1.0');
    const instances = await w.target.instances(w.cfg);
    expect(instances.map((i) => ({ version: i.version, state: i.state, restarts: i.restarts, failure: i.failure }))).toEqual([{ version: '1.1.0', state: 'ready', restarts: 0, failure: null }]);
    expect(await w.target.traffic(w.cfg)).toEqual({ versions: [{ version: '1.1.0', weight: 100 }], preview: null });

    // asked again (a resumed step): the same handle, no commit, no sync
    const posts = syncPosts(w.app);
    expect(await w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx())).toEqual(h);
    expect(Number(await git(w.repos.bare, 'rev-list', '--count', 'main'))).toBe(before + 1);
    expect(syncPosts(w.app)).toBe(posts);

    // traffic is what Git says
    await w.target.setTraffic(w.cfg, { versions: [{ version: '1.1.0', weight: 100 }], preview: null });
    const moved = await failure(w.target.setTraffic(w.cfg, { versions: [{ version: '1.0.0', weight: 100 }], preview: null }));
    expect(moved.message).toBe('the gitops target serves what Git says: accounts in dev runs 1.1.0, and traffic cannot be sent to 1.0.0 without a commit');
    const split = await failure(w.target.setTraffic(w.cfg, { versions: [{ version: '1.0.0', weight: 90 }, { version: '1.1.0', weight: 10 }], preview: null }));
    expect(split.message).toBe('accounts/dev: the gitops target cannot split traffic between releases (capabilities.weights is none)');
    expect(await w.target.scale(w.cfg, { version: '1.0.0', image: null }, 0)).toEqual([]);
    expect((await w.target.scale(w.cfg, { version: '1.1.0', image: null }, 1)).map((i) => i.version)).toEqual(['1.1.0']);
    const reach = await w.target.reach(w.cfg, '1.1.0');
    expect(reach?.url).toMatch(new RegExp(`/api/v1/namespaces/${w.ns}/services/${w.app}:80/proxy$`));
    expect(await w.target.reach(w.cfg, '1.0.0')).toBeNull();

    const status = await w.target.platformStatus(w.cfg);
    expect(status.drift).toBeNull();
    expect(status.lines).toEqual([
      { label: 'argo cd', value: `${w.app} Synced at ${short(h)}, Healthy` },
      { label: 'last sync', value: `Succeeded at ${short(h)} by user admin: successfully synced (all tasks run)` },
      { label: 'git', value: `tags.accounts = 1.1.0 in ${FILE} at ${short(h)} on main` },
    ]);
    expect(status.history.map((x) => x.revision)).toEqual([head, await git(w.repos.bare, 'rev-parse', 'main~1')]);
    expect(status.history[0]).toMatchObject({ status: 'Succeeded', description: `synced ${short(h)} by admin` });
  }, LIMIT_MS * 2);

  it('rolls back by a revert commit that Argo CD syncs', async () => {
    const w = await given();
    const h = await w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx());
    expect((await until(w, h)).state).toBe('done');

    const back = await w.target.rollout(w.cfg, { version: '1.0.0', image: null }, ctx('rollback'));

    expect((await until(w, back)).state).toBe('done');
    expect(await git(w.repos.bare, 'log', '-3', '--format=%s', 'main')).toBe('roll back accounts to 1.0.0 in dev\ndeploy accounts 1.1.0 to dev\nservices for dev');
    expect(await git(w.repos.bare, 'log', '-1', '--format=%b', 'main')).toBe('Deployment: d-1\nActor: alice\nReason: CHG-42\nService: accounts\nEnvironment: dev\nVersion: 1.0.0');
    expect(await git(w.repos.bare, 'diff', 'main~2', 'main', '--', FILE)).toBe('');
    expect(argo.app(w.app).status.history?.slice(-2).map((x) => x.revision)).toEqual([commitOf(h), commitOf(back)]);
    expect(imageOf(w)).toBe('fake.local/ok:1.0.0');
    expect(await w.target.rollout(w.cfg, { version: '1.0.0', image: null }, ctx('rollback'))).toEqual(back);
  }, LIMIT_MS * 2);

  it('writes the stable tag when the revert conflicts with a later hand edit', async () => {
    const w = await given();
    const h = await w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx());
    expect((await until(w, h)).state).toBe('done');
    await git(w.repos.work, 'pull', '--quiet', '--ff-only', 'origin', 'main');
    const text = await readFile(join(w.repos.work, FILE), 'utf8');
    await commitFiles(w.repos.work, { [FILE]: text.replace('accounts: "1.1.0"', 'accounts: "1.1.1"') }, 'hotfix accounts by hand');

    const back = await w.target.rollout(w.cfg, { version: '1.0.0', image: null }, ctx('rollback'));

    expect((await until(w, back)).state).toBe('done');
    expect(await git(w.repos.bare, 'log', '-3', '--format=%s', 'main')).toBe('roll back accounts to 1.0.0 in dev\nhotfix accounts by hand\ndeploy accounts 1.1.0 to dev');
    expect(await git(w.repos.bare, 'show', `main:${FILE}`)).toContain('accounts: "1.0.0"');
    expect(imageOf(w)).toBe('fake.local/ok:1.0.0');
  }, LIMIT_MS * 2);

  it('fails with Argo CD\'s message when the sync fails', async () => {
    const w = await given();
    argo.failNextSync(w.app, 'one or more objects failed to apply, reason: admission webhook "policy.bank.example" denied the request');
    const h = await w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx());
    expect(await until(w, h)).toEqual({ state: 'failed',
      reason: `the Argo CD sync of ${w.app} at ${short(h)} ended Failed: one or more objects failed to apply, reason: admission webhook "policy.bank.example" denied the request` });
  }, LIMIT_MS * 2);

  it('fails when the Application is Degraded, even though the sync succeeded', async () => {
    const w = await given();
    const undo = argo.stayDegraded(w.app, 'error rate above the custom check\'s limit');
    try {
      const h = await w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx());
      const s = await until(w, h);
      expect(s).toEqual({ state: 'failed', reason: `${w.app} is Degraded at ${short(h)} (Service/${w.app} Degraded: error rate above the custom check's limit; Deployment/${w.app} Degraded: error rate above the custom check's limit)` });
      expect(argo.app(w.app).status.operationState?.phase).toBe('Succeeded');
    } finally {
      undo();
    }
  }, LIMIT_MS * 2);

  it('ends the wait as soon as a pod of the release crash-loops, naming the pod, its reason, target.gitops.restartLimit and its last log lines, long before Argo CD calls it Degraded', async () => {
    const w = await given({ restartLimit: 0 });
    // The chart's image becomes one whose containers exit at once (the fake kubelet's crashloop image).
    await git(w.repos.work, 'pull', '--quiet', '--ff-only', 'origin', 'main');
    const chartValues = 'helm/accounts/values.yaml';
    const text = await readFile(join(w.repos.work, chartValues), 'utf8');
    await commitFiles(w.repos.work, { [chartValues]: text.replace('repository: fake.local/ok', 'repository: fake.local/crashloop') }, 'accounts image by hand');

    const h = await w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx());
    const s = await until(w, h);

    expect(s.state).toBe('failed');
    expect(s.reason).toMatch(new RegExp(`^pod ${w.app}-[a-z0-9]+-[a-z0-9]+: container accounts `
      + '(restarted \\d+ times?, more than the 0 allowed \\(target\\.gitops\\.restartLimit\\); last exit: Error with code 1'
      + '|is in CrashLoopBackOff \\(back-off .*\\) after \\d+ restarts?, more than the 0 allowed \\(target\\.gitops\\.restartLimit\\))'
      + '; last log lines: starting \\| fatal: fake\\.local/crashloop:1\\.1\\.0 exits on purpose \\(crash loop\\)$'));
    // Argo CD would call the Deployment Degraded only at its progress deadline (600s): Gangway did not wait for it.
    expect(argo.app(w.app).status.health.status).not.toBe('Degraded');
    expect(imageOf(w)).toBe('fake.local/crashloop:1.1.0');
  }, LIMIT_MS * 2);

  it('fails after the sync timeout counted from the commit, saying what it waited for', async () => {
    const w = await given({ syncTimeoutMs: 60_000 });
    const release = argo.hold(w.app);
    try {
      const h = await w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx());
      await argo.waitFor(() => argo.app(w.app).status.operationState?.phase === 'Running', { what: 'sync running', timeoutMs: LIMIT_MS });
      const waiting = `Argo CD syncs ${w.app} at ${short(h)} (operation Running by user admin)`;
      expect(await w.target.rolloutStatus(w.cfg, h)).toEqual({ state: 'progressing', reason: waiting });
      offset += 61_000;
      expect(await w.target.rolloutStatus(w.cfg, h)).toEqual({ state: 'failed',
        reason: `${w.app} did not reach Synced, Succeeded and Healthy at ${short(h)} within 1m of the commit (target.gitops.syncTimeout); still waiting for: ${waiting}` });
    } finally {
      release();
    }
  }, LIMIT_MS * 2);

  it('wins a push race with another writer by rebasing and pushing again', async () => {
    const w = await given();
    const clone = new GitOpsRepo({ repo: w.repos.bare, branch: 'main', stateDir: w.stateDir, author: AUTHOR });
    await clone.head();
    expect(clone.dir).toBe(join(w.stateDir, 'gitops', createHash('sha256').update(`${w.repos.bare}\nmain`).digest('hex').slice(0, 16)));
    const other = await w.repos.clone('other');
    await writeFile(join(other, 'helm/environments/dev-env/values.yaml'), '# dev overrides shared by the services of the environment.\nprogressDeadlineSeconds: 900\n');
    await git(other, 'commit', '--quiet', '-am', 'longer deadline in dev');
    const mark = join(w.repos.root, 'raced');
    await installHook(clone.dir, 'post-commit', `[ -e '${mark}' ] && exit 0\ntouch '${mark}'\ncd '${other}' && git push --quiet origin main`);

    const h = await w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx());

    expect(h.revision).toBe(`commit ${await git(w.repos.bare, 'rev-parse', 'main')}`);
    expect(await git(w.repos.bare, 'log', '-2', '--format=%s', 'main')).toBe('deploy accounts 1.1.0 to dev\nlonger deadline in dev');
    expect(w.sleeps).toEqual([]);
    expect((await until(w, h)).state).toBe('done');
  }, LIMIT_MS * 2);

  it('throws a clear error when the remote refuses the push or is down, and asks for no sync', async () => {
    const w = await given();
    await w.repos.rejectPushes('policy: config changes need review');
    const rejected = await failure(w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx()));
    expect(rejected).toBeInstanceOf(GitOpsError);
    expect(rejected.code).toBe('conflict');
    expect(rejected.message).toBe(`git push to ${w.repos.bare} failed: remote: policy: config changes need review; To ${w.repos.bare}; ! [remote rejected] HEAD -> main (pre-receive hook declined); error: failed to push some refs to '${w.repos.bare}' (after 3 attempts)`);
    expect(syncPosts(w.app)).toBe(0);

    await rm(w.repos.bare, { recursive: true, force: true });
    const down = await failure(w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx()));
    expect(down.code).toBe('unreachable');
    expect(down.message).toBe(`could not fetch branch main of ${w.repos.bare}: fatal: '${w.repos.bare}' does not appear to be a git repository; fatal: Could not read from remote repository.; Please make sure you have the correct access rights; and the repository exists.`);
  }, LIMIT_MS * 2);

  it('throws UnreachableError when Argo CD is down and a clear error on 401 and 403, before committing and without the token', async () => {
    const w = await given();
    const count = await git(w.repos.bare, 'rev-list', '--count', 'main');
    await argo.unreachable();
    try {
      const down = await failure(w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx()));
      expect(down).toBeInstanceOf(UnreachableError);
      expect(down.message).toBe(`Argo CD at ${argo.url} is unreachable: ECONNREFUSED`);
    } finally {
      await argo.reachable();
    }
    const secret = 'revoked-token-s3cr3t';
    env[TOKEN_VAR] = secret;
    try {
      const unauth = await failure(w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx()));
      expect(unauth.code).toBe('unauthorized');
      expect(unauth.message).toBe(`Argo CD at ${argo.url} refused the token in ${TOKEN_VAR}: invalid session: token contains an invalid number of segments`);
      expect(JSON.stringify({ m: unauth.message, h: unauth.hint, d: unauth.details })).not.toContain('s3cr3t');
    } finally {
      env[TOKEN_VAR] = argo.token;
    }
    const lift = argo.deny({ app: w.app, action: 'get' });
    try {
      const denied = await failure(w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx()));
      expect(denied.code).toBe('forbidden');
      expect(denied.message).toBe(`Argo CD at ${argo.url} denied get on application ${w.app}: permission denied`);
    } finally {
      lift();
    }
    expect(await git(w.repos.bare, 'rev-list', '--count', 'main')).toBe(count);
  }, LIMIT_MS * 2);

  it('refuses to start over an operation someone else started, naming them, and commits nothing', async () => {
    const w = await given();
    const count = await git(w.repos.bare, 'rev-list', '--count', 'main');
    const release = argo.hold(w.app);
    try {
      await argo.startOperation(w.app, { username: 'bob' });
      const err = await failure(w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx()));
      expect(err.code).toBe('conflict');
      expect(err.message).toBe(`Argo CD Application ${w.app} runs an operation Gangway did not start: a sync of ${(await git(w.repos.bare, 'rev-parse', 'main')).slice(0, 7)} by user bob`);
      expect(err.hint).toBe(`wait for it to end (argocd app wait ${w.app}) or terminate it (argocd app terminate-op ${w.app}), then deploy again`);
      expect(await git(w.repos.bare, 'rev-list', '--count', 'main')).toBe(count);
    } finally {
      release();
    }
  }, LIMIT_MS * 2);

  it('names the file and the key when the key is not in the file', async () => {
    const w = await given({ key: 'tags.acounts' });
    const err = await failure(w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx()));
    expect(err).toBeInstanceOf(GitOpsError);
    expect(err.code).toBe('invalid_argument');
    expect(err.message).toBe(`tags.acounts not found in ${FILE}: tags has the keys accounts, cards`);
    expect(syncPosts(w.app)).toBe(0);
  }, LIMIT_MS * 2);

  it('shows drift when someone edits the file after Gangway\'s commit', async () => {
    const w = await given();
    const h = await w.target.rollout(w.cfg, { version: '1.1.0', image: null }, ctx());
    expect((await until(w, h)).state).toBe('done');
    await git(w.repos.work, 'pull', '--quiet', '--ff-only', 'origin', 'main');
    const text = await readFile(join(w.repos.work, FILE), 'utf8');
    const edit = await commitFiles(w.repos.work, { [FILE]: text.replace('accounts: "1.1.0"', 'accounts: "1.3.0"') }, 'try 1.3.0 by hand');

    const s = await w.target.platformStatus(w.cfg);

    expect(s.drift).toBe(`${FILE} was changed outside Gangway by Test Person <test@example.com> in ${edit.slice(0, 7)} ("try 1.3.0 by hand"): tags.accounts is 1.3.0, Gangway wrote 1.1.0 in ${short(h)}; `
      + `${w.app} is OutOfSync with ${edit.slice(0, 7)} (Gangway's last commit ${short(h)}): Deployment/${w.app} differ — Git or the cluster was changed outside Gangway`);
    expect(s.lines[0]).toEqual({ label: 'argo cd', value: `${w.app} OutOfSync at ${edit.slice(0, 7)}, Healthy` });
  }, LIMIT_MS * 2);

  it('writes the digest of a release pinned by digest', async () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    expect(writtenValue({ version: '1.1.0', image: `fake.local/ok@${digest}` })).toBe(digest);
    expect(writtenValue({ version: '1.1.0', image: 'fake.local/ok:1.1.0' })).toBe('1.1.0');
    expect(writtenValue({ version: '1.1.0', image: null })).toBe('1.1.0');
  });
});
