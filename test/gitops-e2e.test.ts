/**
 * The GitOps target end to end: the built CLI (`gangway up`, `deploy`, `status`, `history`)
 * with real git (a bare config repository laid out as the runbook's, test/fixtures/gitops-e2e/repo,
 * and a bare records repository), the FAKE Argo CD syncing the config repository into the FAKE
 * Kubernetes API server, whose kubelet runs test/fixtures/gitops-e2e/app.mjs as the pods.
 *
 * Given  accounts on `target.gitops` in dev and qa (Applications accounts-dev and accounts-qa,
 *        one namespace each), a smoke check of /health, deployment records in Git
 * When   releases are deployed through the CLI: a good one, a bad one (its /health is DOWN),
 *        one while another writer pushes between Gangway's fetch and its push, in qa one
 *        whose sync Argo CD holds past the sync timeout, and in dev one that crash-loops
 *        (APP_CRASH_VERSIONS), stopped at its first crash with its pod's last log line
 * Then   `git log` of the config repository, Argo CD's sync history, the deployments' steps,
 *        `status -o json`, `history` and the records show each commit, revert and outcome, and
 *        the Argo CD token is in none of them nor in the orchestrator's log.
 *
 * Nothing waits on the clock except the qa sync timeout itself (40 s of real time, by design:
 * the deadline is counted from the commit's own time); every other wait is on a condition with a
 * generous limit as a hang guard.
 */
import { existsSync } from 'node:fs';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startFakeArgoCD, type FakeArgoCD } from './support/fake-argocd/index.js';
import { startFakeKube, type FakeKube, type Obj } from './support/fake-kube/index.js';
import { ROOT, makeProject, projectHeader, runCli, sleep, type CliResult, type Project } from './support/gangway.js';
import { git, installHook, makeRepos, requireGit, type Repos } from './support/git-repos.js';

const hasGit = await requireGit('the GitOps end-to-end suite (test/gitops-e2e.test.ts)');
const FIXTURE = join(ROOT, 'test/fixtures/gitops-e2e/repo');
const POD_APP = join(ROOT, 'test/fixtures/gitops-e2e/app.mjs');
const TOKEN_VAR = 'GW_GITOPS_E2E_ARGOCD_TOKEN';
/** The Argo CD token: a string that cannot occur by chance, looked for in logs, records and commits. */
const TOKEN = 'argocd-e2e-token-7Qx9TzK2pLw4';
const DEV_FILE = 'helm/environments/dev-env/image-tags.yaml';
/** Limits against a hang on a loaded two-core machine, not claims about speed. */
const SETUP_LIMIT_MS = 180_000;
const TEST_LIMIT_MS = 300_000;

interface StepView { idx: number; title: string; status: string; stage: string; attempts: number; output: Record<string, unknown> | null }
interface DeploymentView { id: string; version: string; phase: string; message: string | null; actor: string; reason: string | null; steps: StepView[] }
interface PlatformView { lines: Array<{ label: string; value: string }>; drift: string | null; history: Array<{ revision: string; at: string | null; status: string; description: string }> }
interface StatusEntry { service: string; environment: string; version: string | null; platform?: PlatformView | { error: string } | null }

let kube: FakeKube;
let argo: FakeArgoCD;
let config: Repos;
let records: Repos;
let project: Project;

const cli = (...args: string[]) => runCli(project.dir, args, { GANGWAY_ACTOR: 'alice' });
function json<T>(r: CliResult): T {
  if (r.stdout.trim() === '') throw new Error(`no JSON on stdout (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
async function deploy(env: string, version: string, reason: string): Promise<{ code: number; end: DeploymentView }> {
  const r = await cli('deploy', 'accounts', '--env', env, '--version', version, '--reason', reason, '--wait', '-o', 'json');
  return { code: r.code, end: json<DeploymentView>(r) };
}
async function platformOf(env: string): Promise<PlatformView> {
  const entries = json<StatusEntry[]>(await cli('status', 'accounts', '--env', env, '-o', 'json'));
  expect(entries.map((e) => [e.service, e.environment])).toEqual([['accounts', env]]);
  const p = entries[0]!.platform;
  if (!p || 'error' in p) throw new Error(`no platform status: ${JSON.stringify(p)}`);
  return p;
}
const steps = (d: DeploymentView) => d.steps.map((s) => [s.stage, s.title, s.status]);
const reasonOf = (s: StepView | undefined) => (s?.output as { reason?: string } | null)?.reason ?? null;
const head = (ref = 'main') => git(config.bare, 'rev-parse', ref);
const short = (sha: string) => sha.slice(0, 7);
const history = (app: string) => (argo.app(app).status.history ?? []).map((h) => h.revision);
const imageIn = (ns: string) => ((((kube.get('deployment', ns, 'accounts')?.spec as Obj).template as Obj).spec as { containers: Array<{ image: string }> }).containers[0]!.image);
/** Gangway's trailers on a commit of the config repository, as `git log` shows them. */
const trailers = (o: { id: string; reason: string; env: string; version: string }) =>
  `Deployment: ${o.id}\nActor: alice\nReason: ${o.reason}\nService: accounts\nEnvironment: ${o.env}\nVersion: ${o.version}`;

/** Waits until the records remote holds a record of each deployment (records are pushed once a deployment has ended). */
async function recordsOf(ids: string[]): Promise<Map<string, { path: string; text: string }>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const files = (await git(records.bare, 'ls-tree', '-r', '--name-only', 'main')).split('\n').filter((f) => f.startsWith('docs/deployments/'));
    const found = new Map<string, { path: string; text: string }>();
    for (const id of ids) {
      const path = files.find((f) => f.endsWith(`-${id}.md`));
      if (path) found.set(id, { path, text: await git(records.bare, 'show', `main:${path}`) });
    }
    if (found.size === ids.length) return found;
    if (Date.now() > deadline) throw new Error(`hang guard: records of ${ids.filter((i) => !found.has(i)).join(', ')} not pushed; files: ${files.join(', ')}`);
    await sleep(100);
  }
}

beforeAll(async () => {
  if (!hasGit) return;
  kube = await startFakeKube({ images: { 'fake.local/accounts': { command: [process.execPath, POD_APP], env: { APP_BAD_VERSIONS: '2.0.0', APP_CRASH_VERSIONS: '3.0.0' } } } });
  for (const ns of ['dev', 'qa']) await kube.namespace(ns);
  config = await makeRepos();
  await cp(FIXTURE, config.work, { recursive: true });
  await git(config.work, 'add', '-A');
  await git(config.work, 'commit', '--quiet', '-m', 'accounts in dev and qa');
  await git(config.work, 'push', '--quiet', 'origin', 'main');
  records = await makeRepos();
  const app = (env: string) => ({
    name: `accounts-${env}`,
    source: { repoURL: config.bare, path: 'helm/accounts', targetRevision: 'main',
      helm: { releaseName: 'accounts', valueFiles: [`../environments/${env}-env/values.yaml`, `../environments/${env}-env/image-tags.yaml`] } },
    destination: { namespace: env },
  });
  argo = await startFakeArgoCD({ kube, tokens: { [TOKEN]: 'gangway' }, apps: [app('dev'), app('qa')] });
  process.env[TOKEN_VAR] = TOKEN;
  project = await makeProject((p) => `${projectHeader('gitops-e2e', p)}records:
  repo: "${records.work}"
  remote: origin
  branch: main
  author: { name: Gangway Bot, email: gangway@bank.example }
environments:
  dev: {}
  qa: {}
services:
  accounts:
    target:
      gitops:
        repo: "${config.bare}"
        branch: main
        file: helm/environments/{environment}-env/image-tags.yaml
        key: tags.accounts
        application: accounts-{environment}
        argocd: { server: "${argo.url}", tokenFromEnv: ${TOKEN_VAR} }
        settle: 0s
        kubeconfig: kubeconfig
        namespace: dev
    health: { path: /health, interval: 200ms, startTimeout: 3m }
    smoke:
      - http: { path: /health, expect: { status: 200, json: { status: UP } } }
    rollback: { watch: 0s }
    environments:
      qa:
        target: { gitops: { namespace: qa, syncTimeout: 40s } }
`);
  await kube.writeKubeconfig(project.dir, { namespace: 'dev' });
  await project.up();
}, SETUP_LIMIT_MS);

afterAll(async () => {
  await project?.cleanup();
  await argo?.close();
  await kube?.close();
  await config?.remove();
  await records?.remove();
  delete process.env[TOKEN_VAR];
}, SETUP_LIMIT_MS);

describe.skipIf(!hasGit)('given accounts on target.gitops in dev and qa, Argo CD following main of the config repository', () => {
  let good: DeploymentView;
  let bad: DeploymentView;
  let goodCommit: string;

  it('when 1.0.0 is deployed to dev, then Gangway commits the tag with its trailers, Argo CD syncs exactly that commit and the deployment succeeds once the pods serve it', async () => {
    const before = await head();
    const { code, end } = await deploy('dev', '1.0.0', 'CHG-1');
    good = end;
    expect([code, end.phase, end.version, end.message]).toEqual([0, 'succeeded', '1.0.0', null]);
    expect(steps(end)).toEqual([
      ['deploy', 'gates: rejected, freeze', 'succeeded'], ['deploy', 'roll out 1.0.0', 'succeeded'], ['deploy', 'smoke checks on 1.0.0', 'succeeded'],
    ]);
    goodCommit = await head();
    expect(await git(config.bare, 'rev-parse', `${goodCommit}~1`)).toBe(before);
    expect(await git(config.bare, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%B', 'main'))
      .toBe(`Gangway Bot <gangway@bank.example>|Gangway Bot <gangway@bank.example>|deploy accounts 1.0.0 to dev\n\n${trailers({ id: end.id, reason: 'CHG-1', env: 'dev', version: '1.0.0' })}`);
    expect(await git(config.bare, 'diff', '--stat=200', before, goodCommit)).toBe(`${DEV_FILE} | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)`);
    expect(await git(config.bare, 'show', `main:${DEV_FILE}`)).toBe('# Image tags deployed to dev, one per service; the deployment workflow edits this file.\ntags:\n  accounts: "1.0.0"');
    const rollout = end.steps[1]!;
    expect(rollout.output).toMatchObject({ handle: { version: '1.0.0', revision: `commit ${goodCommit}` } });
    expect(history('accounts-dev')).toEqual([goodCommit]);
    expect(argo.app('accounts-dev').status.operationState).toMatchObject({
      phase: 'Succeeded', syncResult: { revision: goodCommit }, operation: { info: [{ name: 'gangway', value: `${end.id} deploy` }], initiatedBy: { username: 'gangway' } },
    });
    expect(imageIn('dev')).toBe('fake.local/accounts:1.0.0');

    const p = await platformOf('dev');
    expect(p.lines).toEqual([
      { label: 'argo cd', value: `accounts-dev Synced at ${short(goodCommit)}, Healthy` },
      { label: 'last sync', value: `Succeeded at ${short(goodCommit)} by user gangway: successfully synced (all tasks run)` },
      { label: 'git', value: `tags.accounts = 1.0.0 in ${DEV_FILE} at ${short(goodCommit)} on main` },
    ]);
    expect(p.drift).toBeNull();
    expect(p.history.map((h) => [h.revision, h.status, h.description])).toEqual([[goodCommit, 'Succeeded', `synced ${short(goodCommit)} by gangway`]]);
  }, TEST_LIMIT_MS);

  it('when 2.0.0 fails its smoke check, then it is rolled back by a revert commit that Argo CD syncs, and git log, Argo CD, history and the records show both', async () => {
    const { code, end } = await deploy('dev', '2.0.0', 'CHG-2');
    bad = end;
    expect([code, end.phase, end.version]).toEqual([4, 'rolled_back', '2.0.0']);
    expect(steps(end)).toEqual([
      ['deploy', 'gates: rejected, freeze', 'succeeded'], ['deploy', 'roll out 2.0.0', 'succeeded'], ['deploy', 'smoke checks on 2.0.0', 'failed'],
      ['rollback', 'roll out 1.0.0', 'succeeded'],
    ]);
    expect(reasonOf(end.steps[2])).toBe('smoke check 1 (GET /health) failed: expected status 200, got 503');
    expect(end.message).toBe(reasonOf(end.steps[2]));

    const [revert, deployed] = [await head(), await head('main~1')];
    expect(await git(config.bare, 'log', '-3', '--format=%s', 'main')).toBe('roll back accounts to 1.0.0 in dev\ndeploy accounts 2.0.0 to dev\ndeploy accounts 1.0.0 to dev');
    expect(await git(config.bare, 'log', '-1', '--format=%an|%b', 'main')).toBe(`Gangway Bot|${trailers({ id: end.id, reason: 'CHG-2', env: 'dev', version: '1.0.0' })}`);
    expect(await git(config.bare, 'log', '-1', '--format=%b', 'main~1')).toBe(trailers({ id: end.id, reason: 'CHG-2', env: 'dev', version: '2.0.0' }));
    // A revert: the file is as it was before 2.0.0, byte for byte.
    expect(await git(config.bare, 'diff', goodCommit, revert)).toBe('');
    expect(end.steps[1]!.output).toMatchObject({ handle: { version: '2.0.0', revision: `commit ${deployed}` } });
    expect(end.steps[3]!.output).toMatchObject({ handle: { version: '1.0.0', revision: `commit ${revert}` } });
    expect(history('accounts-dev')).toEqual([goodCommit, deployed, revert]);
    expect(imageIn('dev')).toBe('fake.local/accounts:1.0.0');

    const p = await platformOf('dev');
    expect(p.lines[0]).toEqual({ label: 'argo cd', value: `accounts-dev Synced at ${short(revert)}, Healthy` });
    expect(p.lines[2]).toEqual({ label: 'git', value: `tags.accounts = 1.0.0 in ${DEV_FILE} at ${short(revert)} on main` });
    expect(p.drift).toBeNull();
    expect(p.history.map((h) => h.revision)).toEqual([revert, deployed, goodCommit]);

    const listed = json<Array<{ id: string; version: string; phase: string; reason: string | null; actor: string }>>(await cli('history', 'accounts', '--env', 'dev', '-o', 'json'));
    expect(listed.map((d) => [d.id, d.version, d.phase, d.reason, d.actor])).toEqual([
      [end.id, '2.0.0', 'rolled_back', 'CHG-2', 'alice'], [good.id, '1.0.0', 'succeeded', 'CHG-1', 'alice'],
    ]);

    const recs = await recordsOf([good.id, end.id]);
    expect(recs.get(good.id)!.path).toMatch(new RegExp(`^docs/deployments/dev/\\d{4}-\\d\\d-\\d\\d-accounts-1\\.0\\.0-${good.id}\\.md$`));
    expect(recs.get(end.id)!.path).toMatch(new RegExp(`^docs/deployments/dev/\\d{4}-\\d\\d-\\d\\d-accounts-2\\.0\\.0-${end.id}\\.md$`));
    // The record and the commits name the same deployment: its id is in the commits' trailers.
    const front = (text: string) => parseYaml(text.split('---\n')[1]!) as { deployment: string; release: { version: string }; previousVersion: string; reason: string; outcome: { phase: string; message: string };
      steps: Array<{ stage: string; type: string; title: string; status: string; reason?: string }> };
    const rec = front(recs.get(end.id)!.text);
    expect([rec.deployment, rec.release.version, rec.previousVersion, rec.reason, rec.outcome]).toEqual([
      end.id, '2.0.0', '1.0.0', 'CHG-2', { phase: 'rolled_back', message: 'smoke check 1 (GET /health) failed: expected status 200, got 503' },
    ]);
    expect(rec.steps.map((s) => [s.stage, s.type, s.title, s.status, s.reason ?? null])).toEqual([
      ['deploy', 'gates', 'gates: rejected, freeze', 'succeeded', null], ['deploy', 'rollout', 'roll out 2.0.0', 'succeeded', null],
      ['deploy', 'smoke', 'smoke checks on 2.0.0', 'failed', 'smoke check 1 (GET /health) failed: expected status 200, got 503'],
      ['rollback', 'rollout', 'roll out 1.0.0', 'succeeded', null],
    ]);
    expect(front(recs.get(good.id)!.text).outcome).toEqual({ phase: 'succeeded', message: null });
    expect(await git(config.bare, 'log', '--format=%(trailers:key=Deployment,valueonly)', '-2', 'main')).toBe(`${end.id}\n\n${end.id}`);
  }, TEST_LIMIT_MS);

  it('when another writer pushes between Gangway\'s fetch and its push, then Gangway rebases its commit onto theirs and pushes once more, within the same step', async () => {
    // Gangway's clone of the config repository (one per repository and branch) exists since the first deployment.
    const clones = await readdir(join(project.dir, '.gangway/gitops'));
    expect(clones).toHaveLength(1);
    const clone = join(project.dir, '.gangway/gitops', clones[0]!);
    const other = await config.clone('other-writer');
    const values = 'helm/environments/dev-env/values.yaml';
    await writeFile(join(other, values), `${await readFile(join(other, values), 'utf8')}progressDeadlineSeconds: 900\n`);
    await git(other, 'commit', '--quiet', '-am', 'longer progress deadline in dev');
    const theirs = await git(other, 'rev-parse', 'HEAD');
    // Right after Gangway commits (it has fetched already), the other writer pushes, once.
    const mark = join(config.root, 'raced');
    await installHook(clone, 'post-commit', `[ -e '${mark}' ] && exit 0\ntouch '${mark}'\ncd '${other}' && git push --quiet origin HEAD:main`);

    const { code, end } = await deploy('dev', '1.1.0', 'CHG-3');

    expect([code, end.phase, end.message]).toEqual([0, 'succeeded', null]);
    expect(end.steps.map((s) => [s.title, s.status, s.attempts])).toEqual([
      ['gates: rejected, freeze', 'succeeded', 1], ['roll out 1.1.0', 'succeeded', 1], ['smoke checks on 1.1.0', 'succeeded', 1],
    ]);
    const mine = await head();
    expect(existsSync(mark)).toBe(true);
    expect(await git(config.bare, 'rev-parse', 'main~1')).toBe(theirs);
    expect(await git(config.bare, 'log', '-3', '--format=%s', 'main')).toBe('deploy accounts 1.1.0 to dev\nlonger progress deadline in dev\nroll back accounts to 1.0.0 in dev');
    expect(await git(config.bare, 'log', '-1', '--format=%b', 'main')).toBe(trailers({ id: end.id, reason: 'CHG-3', env: 'dev', version: '1.1.0' }));
    expect(end.steps[1]!.output).toMatchObject({ handle: { revision: `commit ${mine}` } });
    expect(history('accounts-dev').at(-1)).toBe(mine);
    expect(imageIn('dev')).toBe('fake.local/accounts:1.1.0');
  }, TEST_LIMIT_MS);

  it('when Argo CD holds the qa sync past the 40s sync timeout, then the rollout fails naming the timeout, and the rollback ends Gangway\'s sync and reverts', async () => {
    const { code: c1, end: first } = await deploy('qa', '1.0.0', 'CHG-4');
    expect([c1, first.phase]).toEqual([0, 'succeeded']);
    const stable = await head();

    const release = argo.hold('accounts-qa');
    let end: DeploymentView;
    try {
      const pending = deploy('qa', '1.1.0', 'CHG-5');
      // The rollback first ends Gangway's own sync that is still running; only then may syncs go on.
      await argo.waitFor(() => argo.app('accounts-qa').status.operationState?.message === 'Operation terminated', { what: 'the held sync terminated', timeoutMs: TEST_LIMIT_MS - 60_000 });
      release();
      const r = await pending;
      expect(r.code).toBe(4);
      end = r.end;
    } finally {
      release();
    }
    const revert = await head();
    const deployed = await head('main~1');
    expect(await git(config.bare, 'log', '-2', '--format=%s', 'main')).toBe('roll back accounts to 1.0.0 in qa\ndeploy accounts 1.1.0 to qa');
    expect(await git(config.bare, 'rev-parse', 'main~2')).toBe(stable);
    expect([end.phase, end.version]).toEqual(['rolled_back', '1.1.0']);
    expect(steps(end)).toEqual([
      ['deploy', 'gates: rejected, freeze', 'succeeded'], ['deploy', 'roll out 1.1.0', 'failed'], ['deploy', 'smoke checks on 1.1.0', 'pending'],
      ['rollback', 'roll out 1.0.0', 'succeeded'],
    ]);
    const waited = `Argo CD syncs accounts-qa at ${short(deployed)} (operation Running by user gangway)`;
    expect(reasonOf(end.steps[1])).toBe(`the rollout of 1.1.0 (commit ${deployed}) failed: accounts-qa did not reach Synced, Succeeded and Healthy at ${short(deployed)} within 40s of the commit (target.gitops.syncTimeout); still waiting for: ${waited}`);
    expect(end.message).toBe(reasonOf(end.steps[1]));
    // The held sync never succeeded: Argo CD's history has 1.0.0 and the revert only.
    expect(history('accounts-qa')).toEqual([stable, revert]);
    expect(imageIn('qa')).toBe('fake.local/accounts:1.0.0');
    const p = await platformOf('qa');
    expect(p.lines).toEqual([
      { label: 'argo cd', value: `accounts-qa Synced at ${short(revert)}, Healthy` },
      { label: 'last sync', value: `Succeeded at ${short(revert)} by user gangway: successfully synced (all tasks run)` },
      { label: 'git', value: `tags.accounts = 1.0.0 in helm/environments/qa-env/image-tags.yaml at ${short(revert)} on main` },
    ]);
  }, TEST_LIMIT_MS);

  it('when 3.0.0 crash-loops in dev, then the rollout fails as soon as a pod crashes, naming it, its reason, target.gitops.restartLimit and its last log line, and the rollback reverts to 1.1.0', async () => {
    const { code, end } = await deploy('dev', '3.0.0', 'CHG-6');
    const deployed = await head('main~1');
    expect([code, end.phase, end.version]).toEqual([4, 'rolled_back', '3.0.0']);
    expect(await git(config.bare, 'log', '-2', '--format=%s', 'main')).toBe('roll back accounts to 1.1.0 in dev\ndeploy accounts 3.0.0 to dev');
    expect(steps(end)).toEqual([
      ['deploy', 'gates: rejected, freeze', 'succeeded'], ['deploy', 'roll out 3.0.0', 'failed'], ['deploy', 'smoke checks on 3.0.0', 'pending'],
      ['rollback', 'roll out 1.1.0', 'succeeded'],
    ]);
    const crashed = new RegExp(`^the rollout of 3\\.0\\.0 \\(commit ${deployed}\\) failed: pod accounts-[a-z0-9]+-[a-z0-9]+: container accounts `
      + '(restarted \\d+ times?, more than the 0 allowed \\(target\\.gitops\\.restartLimit\\); last exit: Error with code 1'
      + '|is in CrashLoopBackOff \\(back-off .*\\) after \\d+ restarts?, more than the 0 allowed \\(target\\.gitops\\.restartLimit\\))'
      + '; last log lines: fatal: release 3\\.0\\.0 cannot start \\(APP_CRASH_VERSIONS\\)$');
    expect(reasonOf(end.steps[1])).toMatch(crashed);
    expect(end.message).toBe(reasonOf(end.steps[1]));
    // Argo CD would call it Degraded only at the chart's progress deadline (600s): Gangway did not wait for that.
    expect(argo.app('accounts-dev').status.history?.at(-1)?.revision).toBe(await head());
    expect(imageIn('dev')).toBe('fake.local/accounts:1.1.0');
  }, TEST_LIMIT_MS);

  it('then the Argo CD token is in no record, no commit of either repository and not in the orchestrator\'s log', async () => {
    await recordsOf([good.id, bad.id]);
    expect(await git(records.bare, 'log', '-p', '--all')).not.toContain(TOKEN);
    expect(await git(config.bare, 'log', '-p', '--all')).not.toContain(TOKEN);
    expect(await readFile(join(project.dir, '.gangway/orchestrator.log'), 'utf8')).not.toContain(TOKEN);
    expect(argo.errors).toEqual([]);
  }, TEST_LIMIT_MS);
});
