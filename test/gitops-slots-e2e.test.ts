/**
 * Blue-green and canary on the GitOps target end to end, each step a commit that Argo CD syncs:
 * the built CLI (`gangway up`, `deploy`, `status`) with real git (a bare config repository,
 * test/fixtures/gitops-slots/repo), the FAKE Argo CD syncing it into the FAKE Kubernetes API
 * server, whose kubelet runs test/fixtures/gitops-e2e/app.mjs as the pods (release 2.0.0 answers
 * /health with 503, so only the smoke check finds it bad).
 *
 * Given  web on a two-slot chart (`active`, `preview`, `blue.tag`, `green.tag`) with
 *        strategy.blueGreen, and api on a stable-and-canary chart whose HTTPRoute weighs
 *        `stable.weight` / `canary.weight` with strategy.canary 25% → 50% → 100%
 * When   good and bad releases are deployed through the CLI
 * Then   each commit of the config repository holds exactly the keys of its step, Argo CD synced
 *        every one of them, the Services and the HTTPRoute in the cluster route as the last
 *        commit says, and a bad release is rolled back by a commit writing the stable keys.
 *
 * Nothing waits on the clock: every wait is on a condition, with a generous limit as a hang guard.
 */
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeArgoCD, type FakeArgoCD } from './support/fake-argocd/index.js';
import { startFakeKube, type FakeKube, type Obj } from './support/fake-kube/index.js';
import { ROOT, makeProject, projectHeader, runCli, type CliResult, type Project } from './support/gangway.js';
import { git, makeRepos, requireGit, type Repos } from './support/git-repos.js';

const hasGit = await requireGit('the GitOps blue-green and canary end-to-end suite (test/gitops-slots-e2e.test.ts)');
const FIXTURE = join(ROOT, 'test/fixtures/gitops-slots/repo');
const POD_APP = join(ROOT, 'test/fixtures/gitops-e2e/app.mjs');
const TOKEN_VAR = 'GW_GITOPS_SLOTS_E2E_ARGOCD_TOKEN';
const TOKEN = 'argocd-slots-token-9Rk2VbN7qXe3';
const WEB_FILE = 'helm/environments/dev-env/web.yaml';
const API_FILE = 'helm/environments/dev-env/api.yaml';
/** Limits against a hang on a loaded two-core machine, not claims about speed. */
const SETUP_LIMIT_MS = 180_000;
const TEST_LIMIT_MS = 600_000;

interface StepView { idx: number; title: string; status: string; stage: string; output: Record<string, unknown> | null }
interface DeploymentView { id: string; version: string; phase: string; message: string | null; steps: StepView[] }
interface StatusEntry { service: string; environment: string; version: string | null; traffic?: unknown; platform?: { lines: Array<{ label: string; value: string }>; drift: string | null } | null }

let kube: FakeKube;
let argo: FakeArgoCD;
let config: Repos;
let project: Project;

const cli = (...args: string[]) => runCli(project.dir, args, { GANGWAY_ACTOR: 'alice' });
function json<T>(r: CliResult): T {
  if (r.stdout.trim() === '') throw new Error(`no JSON on stdout (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
async function deploy(service: string, version: string): Promise<{ code: number; end: DeploymentView }> {
  const r = await cli('deploy', service, '--env', 'dev', '--version', version, '--reason', `CHG-${service}-${version}`, '--wait', '-o', 'json');
  return { code: r.code, end: json<DeploymentView>(r) };
}
const steps = (d: DeploymentView) => d.steps.map((s) => [s.stage, s.title, s.status]);
const head = () => git(config.bare, 'rev-parse', 'main');
/** The commits of main after `since`, oldest first, as [subject, trailers, file at that commit]. */
async function commitsSince(since: string, file: string): Promise<Array<[string, string, string]>> {
  const shas = (await git(config.bare, 'rev-list', '--reverse', `${since}..main`)).split('\n').filter((s) => s !== '');
  const out: Array<[string, string, string]> = [];
  for (const sha of shas) {
    out.push([await git(config.bare, 'log', '-1', '--format=%s', sha), await git(config.bare, 'log', '-1', '--format=%(trailers:only,unfold)', sha), await git(config.bare, 'show', `${sha}:${file}`)]);
  }
  return out;
}
const revisionsSince = async (since: string) => (await git(config.bare, 'rev-list', '--reverse', `${since}..main`)).split('\n').filter((s) => s !== '');
const history = (app: string) => (argo.app(app).status.history ?? []).map((h) => h.revision);
const selector = (name: string) => ((kube.get('service', 'dev', name)?.spec as Obj).selector as Record<string, string>);
const imageOf = (name: string) => ((((kube.get('deployment', 'dev', name)?.spec as Obj).template as Obj).spec as { containers: Array<{ image: string }> }).containers[0]!.image);
const replicasOf = (name: string) => (kube.get('deployment', 'dev', name)?.spec as { replicas: number }).replicas;
const routeWeights = () => (((kube.get('httproute', 'dev', 'api')?.spec as Obj).rules as Array<{ backendRefs: Array<{ name: string; weight: number }> }>)[0]!.backendRefs)
  .map((b) => [b.name, b.weight]);
/** The trailers of a step's commit: the deployment that made it, its actor and reason (deploy() gives `CHG-<service>-<version>`), then what moved. */
const trailers = (d: DeploymentView, service: string, version: string, step: string) =>
  `Deployment: ${d.id}\nActor: alice\nReason: CHG-${service}-${d.version}\nService: ${service}\nEnvironment: dev\nVersion: ${version}\nStep: ${step}`;
const webFile = (active: string, preview: string, blue: string, green: string) =>
  `# web in dev: two slots, one serving; Gangway edits this file.\nactive: ${active}\npreview: ${preview}\nblue:\n  tag: "${blue}"\ngreen:\n  tag: "${green}"`;
const apiFile = (stable: string, canary: string, replicas: number, weight: number) =>
  `# api in dev: the stable release and its canary; Gangway edits this file.\nimage:\n  tag: "${stable}"\ncanary:\n  tag: "${canary}"\n  replicas: ${replicas}\n  weight: ${weight}\nstable:\n  weight: ${100 - weight}`;

beforeAll(async () => {
  if (!hasGit) return;
  const pods = { command: [process.execPath, POD_APP], env: { APP_BAD_VERSIONS: '2.0.0' } };
  kube = await startFakeKube({ images: { 'fake.local/web': pods, 'fake.local/api': pods } });
  await kube.namespace('dev');
  config = await makeRepos();
  await cp(FIXTURE, config.work, { recursive: true });
  await git(config.work, 'add', '-A');
  await git(config.work, 'commit', '--quiet', '-m', 'web and api in dev');
  await git(config.work, 'push', '--quiet', 'origin', 'main');
  const app = (service: string) => ({
    name: `${service}-dev`,
    source: { repoURL: config.bare, path: `helm/${service}`, targetRevision: 'main', helm: { releaseName: service, valueFiles: [`../environments/dev-env/${service}.yaml`] } },
    destination: { namespace: 'dev' },
  });
  argo = await startFakeArgoCD({ kube, tokens: { [TOKEN]: 'gangway' }, apps: [app('web'), app('api')] });
  // The first sync, as a person would have done it when the apps were created.
  for (const name of ['web-dev', 'api-dev']) {
    await argo.startOperation(name, { username: 'admin' });
    await argo.waitFor(() => { const a = argo.app(name); return !a.operation && a.status.health.status === 'Healthy' && a.status.sync.status === 'Synced'; }, { what: `${name} Healthy at 1.0.0`, timeoutMs: SETUP_LIMIT_MS - 30_000 });
  }
  process.env[TOKEN_VAR] = TOKEN;
  const target = (extra: string) => `      gitops:
        repo: "${config.bare}"
        file: helm/environments/{environment}-env/{service}.yaml
        application: "{service}-{environment}"
        argocd: { server: "${argo.url}", tokenFromEnv: ${TOKEN_VAR} }
        settle: 0s
        kubeconfig: kubeconfig
        namespace: dev
${extra}`;
  project = await makeProject((p) => `${projectHeader('gitops-slots-e2e', p)}environments:
  dev: {}
services:
  web:
    strategy: { blueGreen: { scaleDownDelay: 0s } }
    target:
${target(`        blueGreen: { activeKey: active, previewKey: preview, tagKeys: { blue: blue.tag, green: green.tag } }`)}
    health: { path: /health, interval: 200ms, startTimeout: 5m }
    smoke:
      - http: { path: /health, expect: { status: 200 } }
    rollback: { watch: 0s }
  api:
    strategy:
      canary:
        steps:
          - setWeight: 25
          - setWeight: 50
    target:
${target(`        instances: 2
        key: image.tag
        canary: { tagKey: canary.tag, replicasKey: canary.replicas, weightKey: canary.weight, stableWeightKey: stable.weight }`)}
    health: { path: /health, interval: 200ms, startTimeout: 5m }
    smoke:
      - http: { path: /health, expect: { status: 200 } }
    rollback: { watch: 0s }
`);
  await kube.writeKubeconfig(project.dir, { namespace: 'dev' });
  await project.up();
}, SETUP_LIMIT_MS);

afterAll(async () => {
  await project?.cleanup();
  await argo?.close();
  await kube?.close();
  await config?.remove();
  delete process.env[TOKEN_VAR];
}, SETUP_LIMIT_MS);

describe.skipIf(!hasGit)('given web on a two-slot chart with strategy.blueGreen on target.gitops', () => {
  it('when 1.0.0 (what Git holds) and then 1.1.0 are deployed, then 1.1.0 is staged in the green slot by one commit and switched to by another, each synced and verified', async () => {
    const start = await head();
    const first = await deploy('web', '1.0.0');
    expect([first.code, first.end.phase]).toEqual([0, 'succeeded']);
    // Git already says so: nothing to commit.
    expect(await head()).toBe(start);

    const { code, end } = await deploy('web', '1.1.0');
    expect([code, end.phase, end.message]).toEqual([0, 'succeeded', null]);
    expect(steps(end).filter(([, title]) => !title.startsWith('gates'))).toEqual([
      ['deploy', 'scale 1.1.0 to 1 instance', 'succeeded'], ['deploy', 'wait for 1 healthy instance of 1.1.0', 'succeeded'],
      ['deploy', 'all traffic to 1.0.0; preview to 1.1.0', 'succeeded'], ['deploy', 'smoke checks on 1.1.0', 'succeeded'],
      ['deploy', 'all traffic to 1.1.0', 'succeeded'],
    ]);
    expect(await commitsSince(start, WEB_FILE)).toEqual([
      ['stage web 1.1.0 in the green slot in dev', trailers(end, 'web', '1.1.0', 'stage'), webFile('blue', 'green', '1.0.0', '1.1.0')],
      ['switch web in dev to the green slot (1.1.0)', trailers(end, 'web', '1.1.0', 'switch'), webFile('green', 'blue', '1.0.0', '1.1.0')],
    ]);
    const [staged, switched] = await revisionsSince(start);
    expect(history('web-dev').slice(-2)).toEqual([staged, switched]);
    expect(argo.app('web-dev').status.operationState).toMatchObject({ phase: 'Succeeded', syncResult: { revision: switched }, operation: { info: [{ name: 'gangway', value: 'switch 1.1.0' }] } });
    expect([selector('web'), selector('web-preview')]).toEqual([{ app: 'web', slot: 'green' }, { app: 'web', slot: 'blue' }]);
    expect([imageOf('web-blue'), imageOf('web-green')]).toEqual(['fake.local/web:1.0.0', 'fake.local/web:1.1.0']);

    const [status] = json<StatusEntry[]>(await cli('status', 'web', '--env', 'dev', '-o', 'json'));
    expect(status!.platform!.lines.find((l) => l.label === 'git')?.value).toBe(`active = green, blue.tag = 1.0.0, green.tag = 1.1.0, preview = blue in ${WEB_FILE} at ${switched!.slice(0, 7)} on main`);
  }, TEST_LIMIT_MS);

  it('when 2.0.0 fails its smoke check on the preview, then it never serves and the rollback writes the serving slot\'s tag back into its slot', async () => {
    const start = await head();
    const { code, end } = await deploy('web', '2.0.0');
    expect([code, end.phase]).toEqual([4, 'rolled_back']);
    expect(end.message).toBe('smoke check 1 (GET /health) failed: expected status 200, got 503');
    expect(steps(end).filter(([, title]) => !title.startsWith('gates'))).toEqual([
      ['deploy', 'scale 2.0.0 to 1 instance', 'succeeded'], ['deploy', 'wait for 1 healthy instance of 2.0.0', 'succeeded'],
      ['deploy', 'all traffic to 1.1.0; preview to 2.0.0', 'succeeded'], ['deploy', 'smoke checks on 2.0.0', 'failed'],
      ['deploy', 'all traffic to 2.0.0', 'pending'],
      ['rollback', 'scale 1.1.0 to 1 instance', 'succeeded'], ['rollback', 'wait for 1 healthy instance of 1.1.0', 'succeeded'],
      ['rollback', 'all traffic to 1.1.0', 'succeeded'], ['rollback', 'stop 2.0.0', 'succeeded'],
    ]);
    expect(await commitsSince(start, WEB_FILE)).toEqual([
      ['stage web 2.0.0 in the blue slot in dev', trailers(end, 'web', '2.0.0', 'stage'), webFile('green', 'blue', '2.0.0', '1.1.0')],
      ['retire 2.0.0 from the blue slot of web in dev: it runs 1.1.0 again', trailers(end, 'web', '1.1.0', 'retire'), webFile('green', 'blue', '1.1.0', '1.1.0')],
    ]);
    expect(history('web-dev').slice(-2)).toEqual(await revisionsSince(start));
    expect(selector('web')).toEqual({ app: 'web', slot: 'green' });
    expect([imageOf('web-blue'), imageOf('web-green')]).toEqual(['fake.local/web:1.1.0', 'fake.local/web:1.1.0']);
  }, TEST_LIMIT_MS);
});

describe.skipIf(!hasGit)('given api on a stable-and-canary chart weighed by an HTTPRoute, with strategy.canary 25% → 50% → 100%', () => {
  it('when 1.1.0 is deployed, then each step is one commit of the canary keys, synced, and the HTTPRoute weighs as that commit says; 100% promotes it to the stable key', async () => {
    const start = await head();
    const first = await deploy('api', '1.0.0');
    expect([first.code, first.end.phase]).toEqual([0, 'succeeded']);
    expect(await head()).toBe(start);

    const { code, end } = await deploy('api', '1.1.0');
    expect([code, end.phase, end.message]).toEqual([0, 'succeeded', null]);
    expect(steps(end).filter(([, title]) => !title.startsWith('gates'))).toEqual([
      ['deploy', 'scale 1.1.0 to 1 instance', 'succeeded'], ['deploy', 'wait for 1 healthy instance of 1.1.0', 'succeeded'], ['deploy', 'smoke checks on 1.1.0', 'succeeded'],
      ['deploy', 'traffic 1.0.0 75% / 1.1.0 25%', 'succeeded'], ['deploy', 'traffic 1.0.0 50% / 1.1.0 50%', 'succeeded'],
      ['deploy', 'scale 1.1.0 to 2 instances', 'succeeded'], ['deploy', 'wait for 2 healthy instances of 1.1.0', 'succeeded'],
      ['deploy', 'all traffic to 1.1.0', 'succeeded'],
    ]);
    expect(await commitsSince(start, API_FILE)).toEqual([
      ['canary api 1.1.0 in dev: 1 replica', trailers(end, 'api', '1.1.0', 'canary'), apiFile('1.0.0', '1.1.0', 1, 0)],
      ['canary api 1.1.0 in dev: 25% of requests', trailers(end, 'api', '1.1.0', 'weight'), apiFile('1.0.0', '1.1.0', 1, 25)],
      ['canary api 1.1.0 in dev: 50% of requests', trailers(end, 'api', '1.1.0', 'weight'), apiFile('1.0.0', '1.1.0', 1, 50)],
      ['canary api 1.1.0 in dev: 2 replicas', trailers(end, 'api', '1.1.0', 'canary'), apiFile('1.0.0', '1.1.0', 2, 50)],
      ['promote api 1.1.0 in dev', trailers(end, 'api', '1.1.0', 'promote'), apiFile('1.1.0', '1.1.0', 0, 0)],
    ]);
    // Argo CD synced every step's commit, in order: the HTTPRoute weighed 0, 25, 50, 50, 0 in turn.
    expect(history('api-dev').slice(-5)).toEqual(await revisionsSince(start));
    expect(routeWeights()).toEqual([['api-stable', 100], ['api-canary', 0]]);
    expect([imageOf('api'), replicasOf('api'), replicasOf('api-canary')]).toEqual(['fake.local/api:1.1.0', 2, 0]);
  }, TEST_LIMIT_MS);

  it('when canary 2.0.0 fails its smoke check, then the rollback commit takes the canary to 0 replicas and 0 weight and the stable 1.1.0 serves everything', async () => {
    const start = await head();
    const { code, end } = await deploy('api', '2.0.0');
    expect([code, end.phase]).toEqual([4, 'rolled_back']);
    expect(end.message).toMatch(/^smoke check 1 \(GET \/health\) failed: expected status 200, got 503/);
    expect(steps(end).filter(([stage, title]) => stage === 'rollback' || title === 'smoke checks on 2.0.0')).toEqual([
      ['deploy', 'smoke checks on 2.0.0', 'failed'],
      ['rollback', 'scale 1.1.0 to 2 instances', 'succeeded'], ['rollback', 'wait for 2 healthy instances of 1.1.0', 'succeeded'],
      ['rollback', 'all traffic to 1.1.0', 'succeeded'], ['rollback', 'stop 2.0.0', 'succeeded'],
    ]);
    expect(await commitsSince(start, API_FILE)).toEqual([
      ['canary api 2.0.0 in dev: 1 replica', trailers(end, 'api', '2.0.0', 'canary'), apiFile('1.1.0', '2.0.0', 1, 0)],
      ['roll back api to 1.1.0 in dev: canary 2.0.0 off', trailers(end, 'api', '1.1.0', 'rollback'), apiFile('1.1.0', '2.0.0', 0, 0)],
    ]);
    expect(history('api-dev').slice(-2)).toEqual(await revisionsSince(start));
    expect(routeWeights()).toEqual([['api-stable', 100], ['api-canary', 0]]);
    expect([imageOf('api'), replicasOf('api-canary')]).toEqual(['fake.local/api:1.1.0', 0]);
  }, TEST_LIMIT_MS);

  it('then the Argo CD token is in no commit, and the fake Argo CD saw no unexpected failure', async () => {
    expect(await git(config.bare, 'log', '-p', '--all')).not.toContain(TOKEN);
    expect(argo.errors).toEqual([]);
  }, TEST_LIMIT_MS);
});
