/**
 * The Kubernetes target end to end: the built CLI (`gangway up`, `deploy`, `status`, `logs`,
 * `validate`) against the FAKE Kubernetes API server of test/support/fake-kube, whose kubelet
 * runs test/fixtures/app.mjs as the pods of the `fake.local/app` image. The manifests are
 * test/fixtures/kubernetes-e2e/k8s (a Deployment and its Service, as `kubectl apply -f k8s/`
 * would take them).
 *
 * Given `web` in three environments of one project — dev and qa by blue-green (Deployments
 * web-blue and web-green, the public Service's `color` selector moved between them, a preview
 * Service for the smoke check), staging by the Deployment's own rolling update — when releases
 * are deployed through the CLI, then the cluster's objects, `status -o json` and `logs` show
 * what runs; a release whose image crash-loops fails and the public Service keeps selecting
 * the release before it; a cluster that refuses (RBAC) or cannot be reached is reported in
 * words a person can act on; and `validate` refuses a header route the target cannot make.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeKube, Obj } from './support/fake-kube/index.js';
import { startFakeKube } from './support/fake-kube/index.js';
import { APP, ROOT, freePorts, makeProject, projectHeader, runCli, type CliResult, type Project } from './support/gangway.js';

const MANIFESTS = join(ROOT, 'test/fixtures/kubernetes-e2e/k8s');
/** Limit of a test that deploys: generous, for a loaded two-core machine (nothing asserts on time). */
const DEPLOY_TEST_MS = 240_000;

/**
 * dev and qa by blue-green (namespaces dev and qa), staging by the native rolling update (namespace
 * staging); locked is a namespace where the identity may not patch Deployments, offline a kubeconfig
 * whose API server does not listen.
 */
function gangwayYaml(ports: { api: number; metrics: number }): string {
  return `${projectHeader('kube-e2e', ports)}environments:
  dev: {}
  qa: {}
  staging: {}
  locked: {}
  offline: {}
services:
  web:
    target:
      kubernetes:
        kubeconfig: kubeconfig
        namespace: dev
        manifests: ${MANIFESTS}
        instances: 2
        restartLimit: 0
    health: { path: /health, interval: 200ms, timeout: 1s, failureThreshold: 3, startTimeout: 40s }
    strategy:
      blueGreen: { scaleDownDelay: 0s }
    smoke:
      - http: { path: /health, expect: { status: 200, json: { status: UP } } }
    rollback: { watch: 1s }
    environments:
      qa:
        target: { kubernetes: { namespace: qa } }
      locked:
        target: { kubernetes: { namespace: locked } }
      offline:
        target: { kubernetes: { kubeconfig: offline-kubeconfig } }
      staging:
        target: { kubernetes: { namespace: staging } }
        strategy:
          rolling: { maxSurge: 1, maxUnavailable: 0 }
`;
}

interface StepView { title: string; status: string; reason?: string | null }
interface DeploymentView { id: string; service: string; environment: string; version: string; image: string | null; phase: string; message: string | null; steps: StepView[] }
interface StatusEntry {
  service: string; environment: string; version: string | null;
  deployment: { id: string; phase: string; step: string | null } | null;
  port: number | null;
  instances: Array<{ id: string; version: string; port: number | null; state: string; restarts: number; detail?: Record<string, unknown> }>;
  traffic: Array<{ version: string; weight: number }>;
}

let kube: FakeKube;
let project: Project;
let offlineServer: string;
let holdDir: string;

const cli = (...args: string[]) => runCli(project.dir, args);
function json<T>(r: CliResult): T {
  if (r.stdout.trim() === '') throw new Error(`no JSON on stdout (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
async function deploy(env: string, version: string, ...more: string[]): Promise<{ code: number; end: DeploymentView }> {
  const r = await cli('deploy', 'web', '--env', env, '--version', version, ...more, '--wait', '-o', 'json');
  return { code: r.code, end: json<DeploymentView>(r) };
}
async function statusOf(env: string): Promise<StatusEntry> {
  const entries = json<StatusEntry[]>(await cli('status', 'web', '--env', env, '-o', 'json'));
  expect(entries.map((e) => [e.service, e.environment])).toEqual([['web', env]]);
  return entries[0]!;
}
const spec = (o: Obj | undefined) => (o?.spec ?? {}) as Obj;
const meta = (o: Obj) => o.metadata as Obj & { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
const selector = (ns: string, name: string) => (spec(kube.get('service', ns, name)).selector ?? null) as Record<string, string> | null;
const replicas = (ns: string, name: string) => (spec(kube.get('deployment', ns, name)).replicas ?? null) as number | null;
const annotation = (o: Obj | undefined, key: string) => (o ? meta(o).annotations?.[key] : undefined) ?? null;
/** The pods of web in a namespace that are not being deleted, by name. */
const livePods = (ns: string) => kube.list('pod', ns, { labelSelector: 'gangway.io/service=web' })
  .filter((p) => !meta(p).deletionTimestamp).sort((a, b) => meta(a).name.localeCompare(meta(b).name));
const titles = (d: DeploymentView) => d.steps.map((s) => [s.title, s.status]);

beforeAll(async () => {
  holdDir = mkdtempSync(join(tmpdir(), 'gw-kube-hold-'));
  // fake.local/gated is the app, unready while the file `hold` exists: a test holds a release in waitReady.
  kube = await startFakeKube({ images: {
    'fake.local/app': { command: [process.execPath, APP] },
    'fake.local/gated': { command: [process.execPath, APP], env: { HEALTH_FILE: join(holdDir, 'hold') } },
  } });
  for (const ns of ['dev', 'qa', 'staging', 'locked']) await kube.namespace(ns);
  kube.deny({ verb: 'patch', resource: 'deployments', namespace: 'locked' });
  project = await makeProject(gangwayYaml);
  await kube.writeKubeconfig(project.dir, { namespace: 'dev' });
  const [closed] = await freePorts(1);
  const offline = readFileSync(await kube.writeKubeconfig(project.dir, { namespace: 'dev', file: 'offline-kubeconfig' }), 'utf8');
  writeFileSync(join(project.dir, 'offline-kubeconfig'), offline.replace(`server: ${kube.url}`, `server: https://127.0.0.1:${closed}`), { mode: 0o600 });
  offlineServer = `https://127.0.0.1:${closed}`;
  await project.up();
}, 120_000);

afterAll(async () => {
  await project?.cleanup();
  await kube?.close();
  if (holdDir) rmSync(holdDir, { recursive: true, force: true });
});

describe('given web on blue-green in dev, nothing deployed yet', () => {
  it('when 1.0.0 is deployed, then web-blue runs it, the public Service selects blue, and status and logs show its pods', async () => {
    const { code, end } = await deploy('dev', '1.0.0');
    expect([code, end.phase, end.version, end.message]).toEqual([0, 'succeeded', '1.0.0', null]);
    expect(titles(end)).toEqual([
      ['gates: rejected, freeze', 'succeeded'], ['scale 1.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 1.0.0', 'succeeded'],
      ['no traffic; preview to 1.0.0', 'succeeded'], ['smoke checks on 1.0.0', 'succeeded'], ['all traffic to 1.0.0', 'succeeded'],
    ]);
    expect(selector('dev', 'web')).toEqual({ app: 'web', color: 'blue' });
    expect([replicas('dev', 'web-blue'), kube.get('deployment', 'dev', 'web-green'), kube.get('service', 'dev', 'web-preview')]).toEqual([2, undefined, undefined]);
    expect(annotation(kube.get('deployment', 'dev', 'web-blue'), 'gangway.io/image')).toBe('fake.local/app:1.0.0');

    const entry = await statusOf('dev');
    expect([entry.version, entry.deployment?.phase, entry.port, entry.traffic]).toEqual(['1.0.0', 'succeeded', null, [{ version: '1.0.0', weight: 100 }]]);
    const pods = livePods('dev').map((p) => meta(p).name);
    expect(pods).toHaveLength(2);
    expect(entry.instances.map((i) => i.id).sort()).toEqual(pods);
    expect(entry.instances.map((i) => [i.version, i.state, i.port, i.restarts, i.detail?.color, i.detail?.pod === i.id])).toEqual([
      ['1.0.0', 'ready', null, 0, 'blue', true], ['1.0.0', 'ready', null, 0, 'blue', true],
    ]);

    const logs = await cli('logs', 'web', '--env', 'dev');
    expect([logs.code, logs.stderr]).toEqual([0, '']);
    const sections = logs.stdout.split(/\n(?===> )/).map((s) => s.trim().split('\n'));
    expect(sections.map((lines) => lines[0]).sort()).toEqual(pods.map((p) => `==> ${p} (1.0.0) <==`));
    for (const lines of sections) expect(lines.slice(1)).toContainEqual(expect.stringMatching(/^app 1\.0\.0 listening on 127\.0\.0\.1:\d+ \(pid \d+\)$/));
  }, DEPLOY_TEST_MS);

  it('when 1.1.0 is deployed, then it starts in web-green, is smoke-checked through web-preview, and the public Service moves to green', async () => {
    const { code, end } = await deploy('dev', '1.1.0');
    expect([code, end.phase, end.version]).toEqual([0, 'succeeded', '1.1.0']);
    expect(titles(end)).toEqual([
      ['gates: rejected, freeze', 'succeeded'], ['scale 1.1.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 1.1.0', 'succeeded'],
      ['all traffic to 1.0.0; preview to 1.1.0', 'succeeded'], ['smoke checks on 1.1.0', 'succeeded'], ['all traffic to 1.1.0', 'succeeded'],
      ['watch 1.1.0 for 1s', 'succeeded'],
    ]);
    const smoke = end.steps[4] as StepView & { output: { checks: Array<{ via: string; ok: boolean }> } };
    expect(smoke.output.checks.map((c) => [c.ok, c.via.replace(/https:\/\/127\.0\.0\.1:\d+$/, 'the API server')])).toEqual([[true, 'service web-preview (preview) in dev via the API server']]);
    expect(selector('dev', 'web')).toEqual({ app: 'web', color: 'green' });
    expect(kube.get('service', 'dev', 'web-preview')).toBeUndefined();
    expect([replicas('dev', 'web-green'), annotation(kube.get('deployment', 'dev', 'web-green'), 'gangway.io/version')]).toEqual([2, '1.1.0']);
    // scaleDownDelay 0s: the colour that served 1.0.0 is scaled to zero once the deployment has ended.
    await kube.waitFor(() => replicas('dev', 'web-blue') === 0, { what: 'web-blue scaled to 0', timeoutMs: 45_000 });
    await kube.waitFor(() => livePods('dev').every((p) => annotation(p, 'gangway.io/version') === '1.1.0'), { what: 'the 1.0.0 pods to go', timeoutMs: 45_000 });
    const entry = await statusOf('dev');
    expect([entry.version, entry.traffic]).toEqual(['1.1.0', [{ version: '1.1.0', weight: 100 }]]);
    expect(entry.instances.filter((i) => i.state !== 'stopping').map((i) => [i.version, i.state, i.detail?.color])).toEqual([['1.1.0', 'ready', 'green'], ['1.1.0', 'ready', 'green']]);
  }, DEPLOY_TEST_MS);

  it('when 1.2.0 is deployed after 1.1.0, then it reuses web-blue (scaled to zero after 1.0.0) and the public Service moves back to blue', async () => {
    const { code, end } = await deploy('dev', '1.2.0');
    expect([code, end.phase, end.version, end.message]).toEqual([0, 'succeeded', '1.2.0', null]);
    expect(selector('dev', 'web')).toEqual({ app: 'web', color: 'blue' });
    expect([replicas('dev', 'web-blue'), annotation(kube.get('deployment', 'dev', 'web-blue'), 'gangway.io/version')]).toEqual([2, '1.2.0']);
    await kube.waitFor(() => replicas('dev', 'web-green') === 0, { what: 'web-green scaled to 0', timeoutMs: 45_000 });
    const entry = await statusOf('dev');
    expect([entry.version, entry.traffic]).toEqual(['1.2.0', [{ version: '1.2.0', weight: 100 }]]);
  }, DEPLOY_TEST_MS);
});

describe('given 1.0.0 serving in qa by blue-green', () => {
  it('when 2.0.0 runs an image that crash-loops, then the deployment fails at waitReady, rolls back, and web keeps selecting 1.0.0', async () => {
    expect(await deploy('qa', '1.0.0')).toMatchObject({ code: 0, end: { phase: 'succeeded' } });
    expect(selector('qa', 'web')).toEqual({ app: 'web', color: 'blue' });

    const { code, end } = await deploy('qa', '2.0.0', '--image', 'fake.local/crashloop:2.0.0');
    expect([code, end.phase, end.version, end.image]).toEqual([4, 'rolled_back', '2.0.0', 'fake.local/crashloop:2.0.0']);
    expect(titles(end)).toEqual([
      ['gates: rejected, freeze', 'succeeded'], ['scale 2.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 2.0.0', 'failed'],
      ['all traffic to 1.0.0; preview to 2.0.0', 'pending'], ['smoke checks on 2.0.0', 'pending'], ['all traffic to 2.0.0', 'pending'], ['watch 2.0.0 for 1s', 'pending'],
      ['scale 1.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 1.0.0', 'succeeded'], ['all traffic to 1.0.0', 'succeeded'], ['stop 2.0.0', 'succeeded'],
    ]);
    // Whichever the kubelet shows first: the back-off, or the restart beyond restartLimit 0.
    expect(end.message).toMatch(/^instance web-green-\S+ of 2\.0\.0 cannot start: pod web-green-\S+: container web (is in CrashLoopBackOff|restarted \d+ times?, more than the 0 allowed \(target\.kubernetes\.restartLimit\))/);
    expect(end.message).toContain('(see `gangway logs web --env qa --version 2.0.0`)');

    // Traffic never left blue; the crash-looping colour is scaled to zero and its pods go away.
    expect(selector('qa', 'web')).toEqual({ app: 'web', color: 'blue' });
    expect([replicas('qa', 'web-blue'), replicas('qa', 'web-green')]).toEqual([2, 0]);
    expect(annotation(kube.get('deployment', 'qa', 'web-green'), 'gangway.io/image')).toBe('fake.local/crashloop:2.0.0');
    expect(kube.get('service', 'qa', 'web-preview')).toBeUndefined();
    await kube.waitFor(() => livePods('qa').every((p) => annotation(p, 'gangway.io/version') === '1.0.0'), { what: 'the 2.0.0 pods to go', timeoutMs: 45_000 });
    const entry = await statusOf('qa');
    expect([entry.version, entry.deployment?.phase, entry.traffic]).toEqual(['1.0.0', 'rolled_back', [{ version: '1.0.0', weight: 100 }]]);
  }, DEPLOY_TEST_MS);
});

describe('given 1.0.0 serving in qa, and the orchestrator killed with SIGKILL while 3.0.0 starts', () => {
  it('when it comes back, then it resumes against the cluster as it is: each step succeeds once and 3.0.0 serves from web-green', async () => {
    // 3.0.0's pods stay unready while the hold file exists, so the kill lands in waitReady on any machine.
    writeFileSync(join(holdDir, 'hold'), '');
    const started = json<DeploymentView>(await cli('deploy', 'web', '--env', 'qa', '--version', '3.0.0', '--image', 'fake.local/gated:3.0.0', '-o', 'json'));
    // Killed while the new colour's pods start: the scale step is done, waitReady runs.
    for (;;) {
      const d = (await project.api<DeploymentView>('GET', `/v1/deployments/${started.id}`)).body;
      if (d.steps.some((s) => s.title === 'wait for 2 healthy instances of 3.0.0' && s.status === 'running')) break;
      expect(['succeeded', 'failed', 'rolled_back'], `missed the start of 3.0.0: ${JSON.stringify(d.steps)}`).not.toContain(d.phase);
      await new Promise((r) => setTimeout(r, 20));
    }
    await project.kill();
    rmSync(join(holdDir, 'hold'));
    await project.up();
    let end: DeploymentView;
    for (;;) {
      end = (await project.api<DeploymentView>('GET', `/v1/deployments/${started.id}`)).body;
      if (['succeeded', 'failed', 'rolled_back', 'aborted'].includes(end.phase)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect([end.phase, end.message]).toEqual(['succeeded', null]);
    const events = (await project.api<Array<{ type: string; data: { idx?: number } }>>('GET', `/v1/events?deployment=${started.id}&limit=1000`)).body;
    const succeeded = events.filter((e) => e.type === 'step.succeeded').map((e) => e.data.idx);
    expect(succeeded).toEqual([...new Set(succeeded)]);
    expect(succeeded.length).toBe(end.steps.filter((x) => x.status === 'succeeded').length);
    expect(selector('qa', 'web')).toEqual({ app: 'web', color: 'green' });
    expect(annotation(kube.get('deployment', 'qa', 'web-green'), 'gangway.io/version')).toBe('3.0.0');
  }, DEPLOY_TEST_MS);
});

describe('given web on the native rolling update in staging', () => {
  it('when 1.0.0 then 1.1.0 are deployed, then the Deployment web rolls in place to each, judged as kubectl rollout status judges it', async () => {
    const first = await deploy('staging', '1.0.0');
    expect([first.code, first.end.phase]).toEqual([0, 'succeeded']);
    expect(titles(first.end)).toEqual([['gates: rejected, freeze', 'succeeded'], ['roll out 1.0.0', 'succeeded'], ['smoke checks on 1.0.0', 'succeeded']]);

    const { code, end } = await deploy('staging', '1.1.0');
    expect([code, end.phase, end.version]).toEqual([0, 'succeeded', '1.1.0']);
    expect(titles(end)).toEqual([['gates: rejected, freeze', 'succeeded'], ['roll out 1.1.0', 'succeeded'], ['smoke checks on 1.1.0', 'succeeded'], ['watch 1.1.0 for 1s', 'succeeded']]);
    const rollout = end.steps[1] as StepView & { output: { handle: { version: string; revision: string }; status: string } };
    expect(rollout.output).toEqual({ handle: { version: '1.1.0', revision: 'generation 2' }, status: 'deployment "web" successfully rolled out' });

    const dep = kube.get('deployment', 'staging', 'web')!;
    expect([spec(dep).replicas, spec(dep).selector, spec(dep).strategy]).toEqual([2, { matchLabels: { app: 'web' } }, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }]);
    expect([annotation(dep, 'gangway.io/version'), annotation(dep, 'gangway.io/image'), annotation(dep, 'deployment.kubernetes.io/revision')]).toEqual(['1.1.0', 'fake.local/app:1.1.0', '2']);
    // No colours and no preview on the rolling layout: the manifests' Service keeps its own selector.
    expect([selector('staging', 'web'), kube.get('deployment', 'staging', 'web-blue'), kube.get('service', 'staging', 'web-preview')]).toEqual([{ app: 'web' }, undefined, undefined]);
    await kube.waitFor(() => livePods('staging').length === 2 && livePods('staging').every((p) => annotation(p, 'gangway.io/version') === '1.1.0'), { what: 'only 1.1.0 pods in staging', timeoutMs: 45_000 });
    const entry = await statusOf('staging');
    expect([entry.version, entry.deployment?.phase, entry.traffic]).toEqual(['1.1.0', 'succeeded', [{ version: '1.1.0', weight: 100 }]]);
    expect(entry.instances.map((i) => [i.version, i.state])).toEqual([['1.1.0', 'ready'], ['1.1.0', 'ready']]);
  }, DEPLOY_TEST_MS);

  it('when 2.0.0 crash-loops, then the rollout fails early and Gangway applies the objects recorded for 1.1.0 again', async () => {
    const { code, end } = await deploy('staging', '2.0.0', '--image', 'fake.local/crashloop:2.0.0');
    expect([code, end.phase]).toEqual([4, 'rolled_back']);
    expect(titles(end)).toEqual([
      ['gates: rejected, freeze', 'succeeded'], ['roll out 2.0.0', 'failed'], ['smoke checks on 2.0.0', 'pending'], ['watch 2.0.0 for 1s', 'pending'],
      ['roll out 1.1.0', 'succeeded'],
    ]);
    expect(end.message).toMatch(/^the rollout of 2\.0\.0 \(generation 3\) failed: pod web-\S+: container web (is in CrashLoopBackOff|restarted \d+ times?, more than the 0 allowed \(target\.kubernetes\.restartLimit\))/);
    const dep = kube.get('deployment', 'staging', 'web')!;
    expect([annotation(dep, 'gangway.io/version'), annotation(dep, 'gangway.io/image')]).toEqual(['1.1.0', 'fake.local/app:1.1.0']);
    // A new revision with 1.1.0's template, as `rollout undo` would make — but from the recorded objects.
    expect(annotation(dep, 'deployment.kubernetes.io/revision')).toBe('4');
    await kube.waitFor(() => livePods('staging').length === 2 && livePods('staging').every((p) => annotation(p, 'gangway.io/version') === '1.1.0'), { what: '1.1.0 back in staging', timeoutMs: 45_000 });
    const entry = await statusOf('staging');
    expect([entry.version, entry.deployment?.phase]).toEqual(['1.1.0', 'rolled_back']);
  }, DEPLOY_TEST_MS);
});

describe('given a project with only Kubernetes services', () => {
  it('gangway up started no local agent: no service runs on target.local', () => {
    expect(existsSync(join(project.dir, '.gangway', 'agent.sock'))).toBe(false);
    expect(existsSync(join(project.dir, '.gangway', 'agent.log'))).toBe(false);
  });
});

describe('given a cluster that refuses or cannot be reached', () => {
  it('when the identity may not patch Deployments, then the deployment fails with the verb, resource, namespace and the API server\'s words', async () => {
    const { code, end } = await deploy('locked', '1.0.0');
    expect([code, end.phase]).toEqual([4, 'failed']);
    expect(end.message).toBe('forbidden: cannot patch deployments in namespace locked (missing RBAC permission for the identity of context fake-kube): '
      + 'deployments.apps "web-blue" is forbidden: User "fake-admin" cannot patch resource "deployments" in API group "apps" in the namespace "locked"');
    expect(titles(end).filter(([, status]) => status !== 'pending')).toEqual([
      ['gates: rejected, freeze', 'succeeded'], ['scale 1.0.0 to 2 instances', 'failed'], ['no traffic', 'succeeded'], ['stop 1.0.0', 'succeeded'],
    ]);
    expect([kube.get('deployment', 'locked', 'web-blue'), selector('locked', 'web')]).toEqual([undefined, { app: 'web', color: 'none' }]);
  }, DEPLOY_TEST_MS);

  it('when the API server does not answer, then the deploy request is refused with the server and context named, and no deployment is made', async () => {
    const r = await cli('deploy', 'web', '--env', 'offline', '--version', '1.0.0');
    // Exit 6: the orchestrator answered; the cluster behind it did not (5 is the orchestrator itself).
    expect([r.code, r.stdout]).toEqual([6, '']);
    expect(r.stderr).toBe(`error: cannot reach the Kubernetes API server at ${offlineServer} (context fake-kube): connection refused (ECONNREFUSED)\n`
      + 'hint: check that the cluster is up and the kubeconfig points at it\n');
    const history = json<unknown[]>(await cli('history', 'web', '--env', 'offline', '-o', 'json'));
    expect(history).toEqual([]);
  }, DEPLOY_TEST_MS);
});

describe('gangway validate on a canary with a header route', () => {
  const head = `project: shop
environments:
  dev: {}
  prod: {}
services:
  web:
    target:
      kubernetes:
        manifests: k8s
`;
  const canary = `    strategy:
      canary:
        steps:
          - setWeight: 10
          - setHeaderRoute: { name: x-canary, value: "1" }
          - setWeight: 100
`;
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  const validate = (yaml: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'gangway-kube-validate-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'gangway.yaml'), yaml);
    return runCli(dir, ['validate']);
  };

  it('when no environment has target.kubernetes.httpRoute, then it fails with exit 2 and file:line:column at the setHeaderRoute key, once per environment', async () => {
    const r = await validate(head + canary);
    expect([r.code, r.stdout]).toEqual([2, '']);
    const hint = '  hint: add target.kubernetes.httpRoute (a Gateway API HTTPRoute routes by header), or remove the setHeaderRoute step';
    const at = (env: string) => `gangway.yaml:14:13: services.web.strategy.canary.steps[1].setHeaderRoute: the kubernetes target cannot route requests by header (capabilities.headerRoutes) (in environment ${env}, after merging its overrides)`;
    const lines = r.stderr.trimEnd().split('\n').map((l) => l.replace(/^\/\S+\/gangway\.yaml/, 'gangway.yaml'));
    expect(lines).toEqual(['✗ gangway.yaml is invalid: 2 problems', at('dev'), hint, at('prod'), hint]);
  });

  it('when only prod names an httpRoute, then only dev is refused', async () => {
    const r = await validate(`${head}${canary}    environments:\n      prod:\n        target: { kubernetes: { httpRoute: web } }\n`);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter((l) => l.includes('setHeaderRoute:')).map((l) => l.replace(/^\/\S+\/gangway\.yaml/, 'gangway.yaml'))).toEqual([
      'gangway.yaml:14:13: services.web.strategy.canary.steps[1].setHeaderRoute: the kubernetes target cannot route requests by header (capabilities.headerRoutes) (in environment dev, after merging its overrides)',
    ]);
    const ok = await validate(`${head}${canary}        `.replace('manifests: k8s\n', 'manifests: k8s\n        httpRoute: web\n'));
    expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, '✓ gangway.yaml is valid: 2 environments, 1 service\n', '']);
  });
});
