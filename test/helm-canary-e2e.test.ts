/**
 * A canary on the Helm target end to end: the built CLI (`gangway up`, `deploy`, `promote`,
 * `status`) against the FAKE Kubernetes API server of test/support/fake-kube, with the FAKE
 * `helm` of test/support/fake-helm. The chart is test/fixtures/helm-e2e/chart; its pods run
 * test/fixtures/app.mjs as `fake.local/app`, and `fake.local/crashloop` exits at once.
 *
 * Given  web by canary in `canary` (4 instances, 25% → pause → 50% → pause → 100%), each colour
 *        its own Helm release (`web-blue`, `web-green`), weights by pod counts behind the public
 *        Service that Gangway keeps out of both releases
 * When   a first release, a crash-looping canary and a good canary are deployed
 * Then   the crash-looping canary's `helm upgrade` is stopped at its first crash and the
 *        deployment rolls back with the stable release's Helm history untouched; the good
 *        canary runs 1 of 4 pods, then 2 of 4, then all 4, each colour's revisions name the
 *        deployment that made them, and the old colour is scaled to 0 at the end.
 *
 * Pauses (`pause: {}`) stop the rollout where it is observed, so nothing races the machine.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_HELM_BIN, runHelm } from './support/fake-helm/index.js';
import type { FakeKube, Obj } from './support/fake-kube/index.js';
import { startFakeKube } from './support/fake-kube/index.js';
import { APP, ROOT, makeProject, projectHeader, runCli, sleep, type CliResult, type Project } from './support/gangway.js';

const CHART = join(ROOT, 'test/fixtures/helm-e2e/chart');
/** Limit of a test that deploys: generous, for a loaded two-core machine (nothing asserts on time). */
const DEPLOY_TEST_MS = 300_000;
const ENDED = ['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'];
const PAUSE = 'pause until promoted';

function gangwayYaml(ports: { api: number; metrics: number }): string {
  return `${projectHeader('helm-canary-e2e', ports)}environments:
  canary: {}
services:
  web:
    target:
      helm:
        kubeconfig: kubeconfig
        namespace: canary
        chart: ${JSON.stringify(CHART)}
        imageKeys: { repository: image.repository, tag: image.tag }
        # Long on purpose: a crash-looping release must fail by Gangway's early stop, never by this.
        timeout: 240s
        helm: ${JSON.stringify(FAKE_HELM_BIN)}
        instances: 4
        restartLimit: 0
    health: { path: /health, interval: 200ms, timeout: 1s, failureThreshold: 3, startTimeout: 90s }
    strategy:
      canary:
        steps:
          - setWeight: 25
          - pause: {}
          - setWeight: 50
          - pause: {}
          - setWeight: 100
        scaleDownDelay: 0s
    smoke:
      - http: { path: /health, expect: { status: 200, json: { status: UP } } }
    rollback: { watch: 1s }
`;
}

interface StepView { title: string; status: string; stage: string; output?: unknown }
interface DeploymentView { id: string; version: string; image: string | null; phase: string; message: string | null; steps: StepView[] }
interface StatusEntry { version: string | null; traffic: Array<{ version: string; weight: number }>; instances: Array<{ version: string; state: string; detail?: Record<string, unknown> }> }
interface HelmRow { revision: number; updated: string; status: string; chart: string; app_version: string; description: string }

let kube: FakeKube;
let project: Project;
let kubeconfig: string;

const cli = (...args: string[]) => runCli(project.dir, args, { GANGWAY_ACTOR: 'e2e' });
function json<T>(r: CliResult): T {
  if (r.stdout.trim() === '') throw new Error(`no JSON on stdout (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
async function deploy(version: string, ...more: string[]): Promise<{ code: number; end: DeploymentView }> {
  const r = await cli('deploy', 'web', '--env', 'canary', '--version', version, ...more, '--wait', '-o', 'json');
  return { code: r.code, end: json<DeploymentView>(r) };
}
async function request(version: string): Promise<DeploymentView> {
  return json<DeploymentView>(await cli('deploy', 'web', '--env', 'canary', '--version', version, '-o', 'json'));
}
const getDeployment = async (id: string) => (await project.api<DeploymentView>('GET', `/v1/deployments/${id}`)).body;
/** Polls the deployment until `done` holds; fails at once when it ended otherwise. */
async function until(id: string, what: string, done: (d: DeploymentView) => boolean): Promise<DeploymentView> {
  for (;;) {
    const d = await getDeployment(id);
    if (done(d)) return d;
    expect(ENDED, `${id} ended before ${what}: ${d.phase} ${d.message ?? ''}`).not.toContain(d.phase);
    await sleep(50);
  }
}
async function pausedAt(id: string, n: number): Promise<DeploymentView> {
  return until(id, `pause ${n}`, (d) => d.phase === 'paused' && d.steps.filter((s) => s.title === PAUSE)[n - 1]?.status === 'running');
}
async function promote(id: string): Promise<void> {
  const r = await cli('promote', id);
  expect([r.code, r.stderr]).toEqual([0, '']);
}
async function statusOf(): Promise<StatusEntry> {
  const entries = json<StatusEntry[]>(await cli('status', 'web', '--env', 'canary', '-o', 'json'));
  expect(entries).toHaveLength(1);
  return entries[0]!;
}
/** Helm's own history of a release, as `helm history -o json` prints it. */
async function helmHistory(release: string): Promise<Array<Omit<HelmRow, 'updated' | 'chart' | 'app_version'>>> {
  const r = await runHelm(['history', release, '--namespace', 'canary', '-o', 'json'], { env: { KUBECONFIG: kubeconfig } });
  if (r.code !== 0) throw new Error(`helm history ${release} exited ${r.code}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as HelmRow[]).map(({ revision, status, description }) => ({ revision, status, description }));
}
const spec = (o: Obj | undefined) => (o?.spec ?? {}) as Obj;
const meta = (o: Obj) => o.metadata as Obj & { name: string; annotations?: Record<string, string> };
const selector = () => (spec(kube.get('service', 'canary', 'web')).selector ?? null) as Record<string, string> | null;
const replicas = (name: string) => (spec(kube.get('deployment', 'canary', name)).replicas ?? null) as number | null;
const annotation = (name: string, key: string) => meta(kube.get('deployment', 'canary', name)!).annotations?.[key] ?? null;
/** Ready, live pods of web by version and colour. */
function readyPods(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of kube.list('pod', 'canary', { labelSelector: 'gangway.io/service=web' })) {
    const m = meta(p) as ReturnType<typeof meta> & { deletionTimestamp?: string; labels?: Record<string, string> };
    const ready = ((p.status as Obj | undefined)?.conditions as Array<{ type: string; status: string }> | undefined)?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (m.deletionTimestamp || !ready) continue;
    const key = `${m.annotations?.['gangway.io/version']} ${m.labels?.color}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}
const titles = (d: DeploymentView) => d.steps.map((s) => [s.stage, s.title, s.status]);
const SERVICE_SELECTOR = { 'gangway.io/service': 'web', 'gangway.io/environment': 'canary' };

beforeAll(async () => {
  kube = await startFakeKube({ images: { 'fake.local/app': { command: [process.execPath, APP] } } });
  await kube.namespace('canary');
  project = await makeProject((p) => gangwayYaml(p));
  kubeconfig = await kube.writeKubeconfig(project.dir, { namespace: 'canary' });
  await project.up();
}, 120_000);

afterAll(async () => {
  await project?.cleanup();
  await kube?.close();
});

describe('given web by canary on two Helm releases (web-blue, web-green), 4 instances, weights by pod counts', () => {
  let first: DeploymentView;

  it('when 1.0.0 is deployed first, then it is web-blue\'s revision 1, naming the deployment, with 4 pods and all the traffic', async () => {
    const { code, end } = await deploy('1.0.0');
    expect([code, end.phase, end.message]).toEqual([0, 'succeeded', null]);
    first = end;
    expect(await helmHistory('web-blue')).toEqual([{ revision: 1, status: 'deployed', description: `gangway: deploy 1.0.0 (${end.id} by e2e)` }]);
    expect([annotation('web-blue', 'gangway.io/deployment-id'), replicas('web-blue'), selector()]).toEqual([end.id, 4, { ...SERVICE_SELECTOR, color: 'blue' }]);
    expect((await statusOf()).traffic).toEqual([{ version: '1.0.0', weight: 100 }]);
  }, DEPLOY_TEST_MS);

  it('when canary 2.0.0 crash-loops, then helm upgrade of web-green is stopped at the first crash, the deployment rolls back, and web-blue\'s release is untouched', async () => {
    const { code, end } = await deploy('2.0.0', '--image', 'fake.local/crashloop:2.0.0');
    expect([code, end.phase, end.version]).toEqual([4, 'rolled_back', '2.0.0']);
    // web-green's first install waits for Kubernetes' default of one pod: it crashes, and the watch stops helm.
    expect(end.message).toMatch(new RegExp('^pod web-green-[a-z0-9]+-[a-z0-9]+: container web '
      + '(restarted \\d+ times?, more than the 0 allowed \\(target\\.helm\\.restartLimit\\); last exit: Error with code 1'
      + '|is in CrashLoopBackOff \\(back-off .*\\) after \\d+ restarts?, more than the 0 allowed \\(target\\.helm\\.restartLimit\\))'
      + '; last log lines: starting \\| fatal: fake\\.local/crashloop:2\\.0\\.0 exits on purpose \\(crash loop\\)'
      + '; helm upgrade of web-green was stopped, and Helm marked its revision failed$'));
    // The scale step failed: nothing of 2.0.0 ever took traffic, and the rollback put 1.0.0 back as it was.
    expect(titles(end).filter(([stage, title]) => stage === 'deploy' && !title!.startsWith('gates'))).toEqual([
      ['deploy', 'scale 2.0.0 to 1 instance', 'failed'], ['deploy', 'wait for 1 healthy instance of 2.0.0', 'pending'], ['deploy', 'smoke checks on 2.0.0', 'pending'],
      ['deploy', 'traffic 1.0.0 75% / 2.0.0 25%', 'pending'], ['deploy', PAUSE, 'pending'],
      ['deploy', 'scale 2.0.0 to 2 instances', 'pending'], ['deploy', 'wait for 2 healthy instances of 2.0.0', 'pending'], ['deploy', 'traffic 1.0.0 50% / 2.0.0 50%', 'pending'], ['deploy', PAUSE, 'pending'],
      ['deploy', 'scale 2.0.0 to 4 instances', 'pending'], ['deploy', 'wait for 4 healthy instances of 2.0.0', 'pending'], ['deploy', 'all traffic to 2.0.0', 'pending'], ['deploy', 'watch 2.0.0 for 1s', 'pending'],
    ]);
    expect(titles(end).filter(([stage]) => stage === 'rollback')).toEqual([
      ['rollback', 'scale 1.0.0 to 4 instances', 'succeeded'], ['rollback', 'wait for 4 healthy instances of 1.0.0', 'succeeded'],
      ['rollback', 'all traffic to 1.0.0', 'succeeded'], ['rollback', 'stop 2.0.0', 'succeeded'],
    ]);
    // The canary's release: its one revision failed, as Helm records a cancelled install; its Deployment is at 0.
    expect(await helmHistory('web-green')).toEqual([{ revision: 1, status: 'failed', description: 'Release "web-green" failed: context canceled' }]);
    expect(replicas('web-green')).toBe(0);
    // The stable release: no new revision, its pods and the traffic where they were.
    expect(await helmHistory('web-blue')).toEqual([{ revision: 1, status: 'deployed', description: `gangway: deploy 1.0.0 (${first.id} by e2e)` }]);
    expect([replicas('web-blue'), selector()]).toEqual([4, { ...SERVICE_SELECTOR, color: 'blue' }]);
    expect((await statusOf()).traffic).toEqual([{ version: '1.0.0', weight: 100 }]);
  }, DEPLOY_TEST_MS);

  it('when canary 2.1.0 goes 25% → 50% → 100%, then web-green runs 1 of 4 pods, then 2 of 4, then all, each by a Helm revision naming the deployment, and web-blue is scaled to 0 with its release untouched', async () => {
    const asked = await request('2.1.0');
    await pausedAt(asked.id, 1);
    // 25% of 4 pods: one canary pod, three stable ones, both behind the public Service (no colour in its selector).
    expect([replicas('web-blue'), replicas('web-green'), selector()]).toEqual([3, 1, SERVICE_SELECTOR]);
    await kube.waitFor(() => JSON.stringify(readyPods()) === JSON.stringify({ '1.0.0 blue': 3, '2.1.0 green': 1 }), { what: '3 ready 1.0.0 pods and 1 ready 2.1.0 pod', timeoutMs: 60_000 });
    expect((await statusOf()).traffic).toEqual([{ version: '1.0.0', weight: 75 }, { version: '2.1.0', weight: 25 }]);
    // The failed install is followed by an upgrade that names this deployment (Helm supersedes the failed revision).
    expect(await helmHistory('web-green')).toEqual([
      { revision: 1, status: 'superseded', description: 'Release "web-green" failed: context canceled' },
      { revision: 2, status: 'deployed', description: `gangway: deploy 2.1.0 (${asked.id} by e2e)` },
    ]);
    expect(annotation('web-green', 'gangway.io/deployment-id')).toBe(asked.id);
    await promote(asked.id);

    await pausedAt(asked.id, 2);
    expect([replicas('web-blue'), replicas('web-green'), selector()]).toEqual([2, 2, SERVICE_SELECTOR]);
    await kube.waitFor(() => JSON.stringify(readyPods()) === JSON.stringify({ '1.0.0 blue': 2, '2.1.0 green': 2 }), { what: '2 ready pods of each', timeoutMs: 60_000 });
    expect((await statusOf()).traffic).toEqual([{ version: '1.0.0', weight: 50 }, { version: '2.1.0', weight: 50 }]);
    await promote(asked.id);

    const end = await until(asked.id, 'its end', (d) => ENDED.includes(d.phase));
    expect([end.phase, end.message]).toEqual(['succeeded', null]);
    expect(titles(end).filter(([, title]) => title!.includes('traffic'))).toEqual([
      ['deploy', 'traffic 1.0.0 75% / 2.1.0 25%', 'succeeded'], ['deploy', 'traffic 1.0.0 50% / 2.1.0 50%', 'succeeded'], ['deploy', 'all traffic to 2.1.0', 'succeeded'],
    ]);
    expect([replicas('web-green'), selector()]).toEqual([4, { ...SERVICE_SELECTOR, color: 'green' }]);
    await kube.waitFor(() => replicas('web-blue') === 0, { what: 'web-blue scaled to 0', timeoutMs: 60_000 });
    await kube.waitFor(() => JSON.stringify(readyPods()) === JSON.stringify({ '2.1.0 green': 4 }), { what: 'only 2.1.0 pods', timeoutMs: 60_000 });
    expect((await statusOf()).traffic).toEqual([{ version: '2.1.0', weight: 100 }]);
    // Helm made one revision per colour for this deployment: the scaling and the switch are Gangway's patches.
    expect(await helmHistory('web-green')).toEqual([
      { revision: 1, status: 'superseded', description: 'Release "web-green" failed: context canceled' },
      { revision: 2, status: 'deployed', description: `gangway: deploy 2.1.0 (${asked.id} by e2e)` },
    ]);
    expect(await helmHistory('web-blue')).toEqual([{ revision: 1, status: 'deployed', description: `gangway: deploy 1.0.0 (${first.id} by e2e)` }]);
  }, DEPLOY_TEST_MS);
});
