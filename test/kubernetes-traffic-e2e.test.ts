/**
 * Traffic on the Kubernetes target end to end: the built CLI against `gangway up` and the FAKE
 * Kubernetes API server of test/support/fake-kube, whose kubelet runs test/fixtures/app.mjs as
 * the pods of `fake.local/app`. The manifests are test/fixtures/kubernetes-traffic/k8s: the
 * Deployment and Service of test/fixtures/kubernetes-e2e/k8s plus a preStop hook (a pod keeps
 * serving for a moment after it is marked for deletion, while the Service stops routing to it)
 * and 20 ms of latency per request, so requests are in flight whenever a pod goes away.
 *
 * Given `web` in one project, each environment in its own namespace:
 * - bg (blue-green), rolling (the Deployment's own rolling update) and canary (a replica-ratio
 *   canary judged by an analysis step that reads a FAKE stats endpoint): a request loop in its own process sends requests without pause to
 *   the public Service through the API server's service proxy while releases roll out and a
 *   bad one is rolled back; not one request fails, and the answers move from release to release;
 * - restart: the API server restarts while a release waits for its pods; the step retries
 *   through the outage and the deployment succeeds, each step started and succeeded once;
 * - jobs: a migration Job (jobs.beforeRollout) that fails stops the release before it starts,
 *   its pod's output in the step; one that completes runs before the release is scaled;
 * - route: a canary on a Gateway API HTTPRoute writes exactly the weights and the header rule
 *   of each step, and a rollback puts all the weight back on the stable release.
 * Pauses (`pause: {}`, a file that holds pods unready, the API server held down) stop each
 * scenario where it must be observed, so nothing races the machine's speed.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { FakeKube, Obj } from './support/fake-kube/index.js';
import { startFakeKube } from './support/fake-kube/index.js';
import { APP, ROOT, makeProject, projectHeader, runCli, sleep, type CliResult, type Project } from './support/gangway.js';
import { makeRepos, requireGit, type Repos } from './support/git-repos.js';
import { startLoad, type Load, type LoadResult } from './support/load.js';

const MANIFESTS = join(ROOT, 'test/fixtures/kubernetes-traffic/k8s');
const HTTPROUTE = join(ROOT, 'test/fixtures/kubernetes/httproute.yaml');
const JOB_FIXTURES = join(ROOT, 'test/fixtures/kubernetes-jobs');
/** Limit of a test that deploys: generous, for a loaded two-core machine (nothing asserts on time). */
const DEPLOY_TEST_MS = 240_000;
const ENDED = ['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'];
const PAUSE = 'pause until promoted';

/**
 * bg by blue-green; canary by pod counts with a pause at 50% and an analysis of the shop's
 * failed orders; restart as bg; jobs as bg with a migration Job (migrate.yaml in the project,
 * rewritten per test); route by an HTTPRoute canary that pauses after each traffic step.
 */
function gangwayYaml(ports: { api: number; metrics: number }, statsPort: number, records: string): string {
  return `${projectHeader('kube-traffic', ports)}environments:
  bg: {}
  canary: {}
  restart: {}
  jobs: {}
  route: {}
  rolling: {}
records: { repo: ${records} }
analysis:
  shop-orders:
    interval: 500ms
    rules:
      - name: failed-orders
        threshold:
          metric: { web: { url: "http://127.0.0.1:${statsPort}/orders?version=\${version}", field: failed_ratio, timeout: 5s } }
          max: 0.05
services:
  web:
    target:
      kubernetes:
        kubeconfig: kubeconfig
        namespace: bg
        manifests: ${MANIFESTS}
        instances: 2
        restartLimit: 0
    health: { path: /health, interval: 200ms, timeout: 1s, failureThreshold: 3, startTimeout: 60s }
    strategy:
      blueGreen: { scaleDownDelay: 1s }
    smoke:
      - http: { path: /health, expect: { status: 200, json: { status: UP } } }
    rollback: { watch: 1s }
    environments:
      canary:
        target: { kubernetes: { namespace: canary } }
        strategy:
          canary:
            steps:
              - setWeight: 50
              - pause: {}
              - analysis: { template: shop-orders, duration: 2s }
              - setWeight: 100
            scaleDownDelay: 1s
      restart:
        target: { kubernetes: { namespace: restart } }
      rolling:
        target: { kubernetes: { namespace: rolling } }
        strategy:
          rolling: { maxSurge: 1, maxUnavailable: 0 }
      jobs:
        target: { kubernetes: { namespace: jobs } }
        jobs: { beforeRollout: [{ manifest: migrate.yaml, timeout: 1m }] }
      route:
        target: { kubernetes: { namespace: route, manifests: route-k8s, httpRoute: web } }
        strategy:
          canary:
            steps:
              - setWeight: 10
              - pause: {}
              - setHeaderRoute: { name: x-canary, value: "1" }
              - pause: {}
              - setWeight: 50
              - pause: {}
              - setWeight: 100
            scaleDownDelay: 1s
`;
}

interface StepView { idx: number; type: string; title: string; status: string; stage: string; output?: unknown }
interface DeploymentView { id: string; version: string; phase: string; message: string | null; steps: StepView[] }
interface EventView { type: string; data: { idx?: number; path?: string } }
interface StatusEntry { version: string | null; traffic: Array<{ version: string; weight: number }> }

/**
 * A FAKE stats endpoint of the shop, as a `web` metric source reads it: the share of failed
 * orders of a release (`GET /orders?version=V` → `{ "failed_ratio": … }`). Releases in `bad`
 * fail half of their orders, the others none.
 */
async function startFakeStats(bad: string[]): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => {
    const version = new URL(req.url ?? '/', 'http://stats.local').searchParams.get('version') ?? '';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ failed_ratio: bad.includes(version) ? 0.5 : 0 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, server };
}

let kube: FakeKube;
let project: Project;
let stats: { port: number; server: Server };
let repos: Repos;
let holdDir: string;
const hasGit = await requireGit('the Kubernetes traffic suite (test/kubernetes-traffic-e2e.test.ts)');

const cli = (...args: string[]) => runCli(project.dir, args);
function json<T>(r: CliResult): T {
  if (r.stdout.trim() === '') throw new Error(`no JSON on stdout (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
/** `deploy --wait -o json`: its exit code and the deployment as it ended. */
async function deploy(env: string, version: string, ...more: string[]): Promise<{ code: number; end: DeploymentView }> {
  const r = await cli('deploy', 'web', '--env', env, '--version', version, ...more, '--wait', '-o', 'json');
  return { code: r.code, end: json<DeploymentView>(r) };
}
/** `deploy -o json` without waiting: the deployment as requested. */
async function request(env: string, version: string, ...more: string[]): Promise<DeploymentView> {
  return json<DeploymentView>(await cli('deploy', 'web', '--env', env, '--version', version, ...more, '-o', 'json'));
}
const getDeployment = async (id: string) => (await project.api<DeploymentView>('GET', `/v1/deployments/${id}`)).body;
const eventsOf = async (id: string) => (await project.api<EventView[]>('GET', `/v1/events?deployment=${id}&limit=1000`)).body;
/** Polls the deployment until `done` holds; fails at once when it ended otherwise. */
async function until(id: string, what: string, done: (d: DeploymentView) => boolean): Promise<DeploymentView> {
  for (;;) {
    const d = await getDeployment(id);
    if (done(d)) return d;
    expect(ENDED, `${id} ended before ${what}: ${d.phase} ${d.message ?? ''} ${JSON.stringify(titles(d))}`).not.toContain(d.phase);
    await sleep(50);
  }
}
const ended = (id: string) => until(id, 'its end', (d) => ENDED.includes(d.phase));
/** Waits until the deployment is paused at its `n`-th `pause: {}` step (from 1). */
async function pausedAt(id: string, n: number): Promise<DeploymentView> {
  return until(id, `pause ${n}`, (d) => {
    const pause = d.steps.filter((s) => s.title === PAUSE)[n - 1];
    return d.phase === 'paused' && pause?.status === 'running';
  });
}
async function promote(id: string): Promise<void> {
  const r = await cli('promote', id);
  expect([r.code, r.stderr]).toEqual([0, '']);
}
const logFile = () => join(project.dir, '.gangway', 'orchestrator.log');
/** The orchestrator's complete log lines (pino JSON) after byte `from` of its log file. */
function orchestratorLog(from: number): Array<{ msg?: string; deployment?: string; step?: number }> {
  const text = existsSync(logFile()) ? readFileSync(logFile()).subarray(from).toString('utf8') : '';
  // The last piece has no newline yet while the logger is writing it.
  return text.split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string });
}
/** Waits until the orchestrator logged `msg` after byte `from` of its log. */
async function untilLogged(from: number, msg: string): Promise<void> {
  for (let i = 0; !orchestratorLog(from).some((l) => l.msg === msg); i++) {
    if (i > 1000) throw new Error(`the orchestrator did not log "${msg}"; it logged: ${JSON.stringify(orchestratorLog(from)).slice(-2000)}`);
    await sleep(50);
  }
}
const spec = (o: Obj | undefined) => (o?.spec ?? {}) as Obj;
const meta = (o: Obj) => o.metadata as Obj & { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
const selector = (ns: string) => (spec(kube.get('service', ns, 'web')).selector ?? null) as Record<string, string> | null;
const replicas = (ns: string, name: string) => (spec(kube.get('deployment', ns, name)).replicas ?? null) as number | null;
const versionOf = (o: Obj) => meta(o).annotations?.['gangway.io/version'] ?? null;
/** Every pod of web's releases in a namespace, terminating ones too (a Job's pods carry no gangway.io/service). */
const pods = (ns: string) => kube.list('pod', ns, { labelSelector: 'gangway.io/service=web' });
const titles = (d: DeploymentView) => d.steps.map((s) => [s.title, s.status]);
const stepOf = (d: DeploymentView, type: string) => d.steps.find((s) => s.type === type)!;
async function statusOf(env: string): Promise<StatusEntry> {
  const entries = json<StatusEntry[]>(await cli('status', 'web', '--env', env, '-o', 'json'));
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

/** The request loop through the public Service web, by the API server's service proxy with the kubeconfig's token and CA. */
async function serviceLoad(ns: string): Promise<Load> {
  const load = startLoad({ url: `${kube.url}/api/v1/namespaces/${ns}/services/web:80/proxy/`, headers: { authorization: `Bearer ${kube.token}` }, ca: kube.caCert }, 2);
  await load.ready;
  await load.answered;
  return load;
}
/** Not one failed request, and the answers came from `from` first and from `to` last. */
function expectNoFailureFromTo(r: LoadResult, from: string, to: string): void {
  expect([r.failed, r.failures]).toEqual([0, []]);
  expect(Object.keys(r.versions).sort()).toEqual([from, to].sort());
  expect(r.seen[from]!.first).toBeLessThan(r.seen[to]!.first);
  expect(r.seen[from]!.last).toBeLessThan(r.seen[to]!.last);
  expect(r.last).toBe(to);
}

/** The HTTPRoute web as Gangway writes it: test/fixtures/kubernetes/httproute.yaml's parentRefs, hostnames and first match, and `rules`. */
const route = (rules: unknown[]) => ({ parentRefs: [{ name: 'shop-gateway', namespace: 'gateway' }], hostnames: ['web.example.com'], rules });
const PATH = { path: { type: 'PathPrefix', value: '/' } };
const weighted = (...backends: Array<[string, number]>) => ({ matches: [PATH], backendRefs: backends.map(([name, weight]) => ({ name, port: 80, weight })) });
const headerRule = (to: string) => ({ matches: [{ ...PATH, headers: [{ type: 'Exact', name: 'x-canary', value: '1' }] }], backendRefs: [{ name: to, port: 80, weight: 1 }] });
const liveRoute = () => spec(kube.get('httproute', 'route', 'web'));

beforeAll(async () => {
  if (!hasGit) return;
  holdDir = mkdtempSync(join(tmpdir(), 'gw-kube-traffic-hold-'));
  // fake.local/gated is the app, unready while the file `hold` exists: a test holds a release in waitReady.
  kube = await startFakeKube({ images: {
    'fake.local/app': { command: [process.execPath, APP] },
    'fake.local/gated': { command: [process.execPath, APP], env: { HEALTH_FILE: join(holdDir, 'hold') } },
  } });
  for (const ns of ['bg', 'canary', 'restart', 'jobs', 'route', 'rolling']) await kube.namespace(ns);
  stats = await startFakeStats(['3.0.0']);
  repos = await makeRepos();
  project = await makeProject((ports) => gangwayYaml(ports, stats.port, repos.work));
  await kube.writeKubeconfig(project.dir, { namespace: 'bg' });
  // route: the same Deployment and Service, with the Gateway API HTTPRoute of test/fixtures/kubernetes.
  mkdirSync(join(project.dir, 'route-k8s'));
  for (const f of readdirSync(MANIFESTS)) copyFileSync(join(MANIFESTS, f), join(project.dir, 'route-k8s', f));
  copyFileSync(HTTPROUTE, join(project.dir, 'route-k8s', 'httproute.yaml'));
  copyFileSync(join(JOB_FIXTURES, 'migrate-ok.yaml'), join(project.dir, 'migrate.yaml'));
  await project.up();
}, 120_000);

afterAll(async () => {
  await project?.cleanup();
  await kube?.close();
  if (stats) await new Promise((r) => stats.server.close(r));
  await repos?.remove();
  if (holdDir) rmSync(holdDir, { recursive: true, force: true });
});

describe.skipIf(!hasGit)('Kubernetes traffic end to end', () => {
  describe('given 1.0.0 serving on blue-green in bg, and requests without pause through the Service web', () => {
    it('when 2.0.0 is deployed, the selector switches and blue scales to zero, then not one request fails and the answers move from 1.0.0 to 2.0.0', async () => {
      expect(await deploy('bg', '1.0.0')).toMatchObject({ code: 0, end: { phase: 'succeeded' } });
      const load = await serviceLoad('bg');

      const { code, end } = await deploy('bg', '2.0.0');
      expect([code, end.phase, end.message]).toEqual([0, 'succeeded', null]);
      expect(selector('bg')).toEqual({ app: 'web', color: 'green' });
      // scaleDownDelay 1s: blue goes to zero, and its pods end (preStop, SIGTERM) while the requests go on.
      await kube.waitFor(() => replicas('bg', 'web-blue') === 0 && pods('bg').every((p) => versionOf(p) === '2.0.0'), { what: 'the 1.0.0 pods to end', timeoutMs: 60_000 });
      await load.answeredBy('2.0.0');

      expectNoFailureFromTo(await load.stop(), '1.0.0', '2.0.0');
    }, DEPLOY_TEST_MS);
  });

  describe('given 1.0.0 serving by the Deployment\'s own rolling update in rolling (maxSurge 1, maxUnavailable 0), and requests without pause through the Service web', () => {
    it('when 2.0.0 rolls out pod by pod, then not one request fails and the answers move from 1.0.0 to 2.0.0', async () => {
      expect(await deploy('rolling', '1.0.0')).toMatchObject({ code: 0, end: { phase: 'succeeded' } });
      const load = await serviceLoad('rolling');

      const { code, end } = await deploy('rolling', '2.0.0');
      expect([code, end.phase, end.message]).toEqual([0, 'succeeded', null]);
      expect(titles(end)).toEqual([
        ['gates: rejected, freeze', 'succeeded'], ['roll out 2.0.0', 'succeeded'], ['smoke checks on 2.0.0', 'succeeded'], ['watch 2.0.0 for 1s', 'succeeded'],
      ]);
      // One Deployment, rolled in place; the old ReplicaSet's pods end (preStop, SIGTERM) while the requests go on.
      expect(versionOf(kube.get('deployment', 'rolling', 'web')!)).toBe('2.0.0');
      await kube.waitFor(() => pods('rolling').every((p) => versionOf(p) === '2.0.0'), { what: 'the 1.0.0 pods to end', timeoutMs: 60_000 });
      await load.answeredBy('2.0.0');

      expectNoFailureFromTo(await load.stop(), '1.0.0', '2.0.0');
    }, DEPLOY_TEST_MS);
  });

  describe('given 1.0.0 serving on a replica-ratio canary in canary (2 pods: 50% is one pod of each), and requests without pause through the Service web', () => {
    it('when 2.0.0 goes to 50%, passes its analysis and goes to 100%, then not one request fails and the answers move from 1.0.0 through both to 2.0.0', async () => {
      expect(await deploy('canary', '1.0.0')).toMatchObject({ code: 0, end: { phase: 'succeeded' } });
      expect(selector('canary')).toEqual({ app: 'web', color: 'blue' });
      const load = await serviceLoad('canary');

      const asked = await request('canary', '2.0.0');
      await pausedAt(asked.id, 1);
      // At 50% the Service selects both colours (one pod each): both releases answer.
      expect(selector('canary')).toEqual({ app: 'web' });
      expect([replicas('canary', 'web-blue'), replicas('canary', 'web-green')]).toEqual([1, 1]);
      await load.answeredBy('2.0.0');
      await promote(asked.id);
      const end = await ended(asked.id);
      expect([end.phase, end.message]).toEqual(['succeeded', null]);
      expect(titles(end)).toEqual([
        ['gates: rejected, freeze', 'succeeded'], ['scale 2.0.0 to 1 instance', 'succeeded'], ['wait for 1 healthy instance of 2.0.0', 'succeeded'],
        ['smoke checks on 2.0.0', 'succeeded'], ['traffic 1.0.0 50% / 2.0.0 50%', 'succeeded'], [PAUSE, 'succeeded'],
        ['analysis shop-orders of 2.0.0 for 2s', 'succeeded'], ['scale 2.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 2.0.0', 'succeeded'],
        ['all traffic to 2.0.0', 'succeeded'], ['watch 2.0.0 for 1s', 'succeeded'],
      ]);
      expect(selector('canary')).toEqual({ app: 'web', color: 'green' });
      await kube.waitFor(() => replicas('canary', 'web-blue') === 0 && pods('canary').every((p) => versionOf(p) === '2.0.0'), { what: 'the 1.0.0 pods to end', timeoutMs: 60_000 });

      const r = await load.stop();
      expectNoFailureFromTo(r, '1.0.0', '2.0.0');
      // The split: 2.0.0 answered before 1.0.0 answered for the last time.
      expect(r.seen['2.0.0']!.first).toBeLessThan(r.seen['1.0.0']!.last);
    }, DEPLOY_TEST_MS);

    it('when 3.0.0 fails its analysis at 50% (half of its orders fail), then it rolls back to 2.0.0, and not one request fails on the way there and back', async () => {
      const load = await serviceLoad('canary');

      const asked = await request('canary', '3.0.0');
      await pausedAt(asked.id, 1);
      expect(selector('canary')).toEqual({ app: 'web' });
      await load.answeredBy('3.0.0');
      await promote(asked.id);
      const end = await ended(asked.id);
      expect([end.phase, end.message]).toEqual(['rolled_back', 'analysis shop-orders: rule failed-orders: failed-orders 0.5 > 0.05']);
      expect(titles(end)).toEqual([
        ['gates: rejected, freeze', 'succeeded'], ['scale 3.0.0 to 1 instance', 'succeeded'], ['wait for 1 healthy instance of 3.0.0', 'succeeded'],
        ['smoke checks on 3.0.0', 'succeeded'], ['traffic 2.0.0 50% / 3.0.0 50%', 'succeeded'], [PAUSE, 'succeeded'],
        ['analysis shop-orders of 3.0.0 for 2s', 'failed'], ['scale 3.0.0 to 2 instances', 'pending'], ['wait for 2 healthy instances of 3.0.0', 'pending'],
        ['all traffic to 3.0.0', 'pending'], ['watch 3.0.0 for 1s', 'pending'],
        ['scale 2.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 2.0.0', 'succeeded'], ['all traffic to 2.0.0', 'succeeded'], ['stop 3.0.0', 'succeeded'],
      ]);
      expect(selector('canary')).toEqual({ app: 'web', color: 'green' });
      await kube.waitFor(() => replicas('canary', 'web-blue') === 0 && pods('canary').every((p) => versionOf(p) === '2.0.0'), { what: 'the 3.0.0 pods to end', timeoutMs: 60_000 });

      const r = await load.stop();
      expect([r.failed, r.failures]).toEqual([0, []]);
      expect(Object.keys(r.versions).sort()).toEqual(['2.0.0', '3.0.0']);
      expect(r.seen['3.0.0']!.last).toBeLessThan(r.seen['2.0.0']!.last);
      expect(r.last).toBe('2.0.0');
    }, DEPLOY_TEST_MS);
  });

  describe('given 1.0.0 serving on blue-green in restart, and 2.0.0 held unready in waitReady', () => {
    it('when the API server restarts, then the step retries through the outage and 2.0.0 succeeds, each step started and succeeded once', async () => {
      expect(await deploy('restart', '1.0.0')).toMatchObject({ code: 0, end: { phase: 'succeeded' } });
      // 2.0.0's pods stay unready while the hold file exists, so the outage lands in waitReady on any machine.
      writeFileSync(join(holdDir, 'hold'), '');
      const asked = await request('restart', '2.0.0', '--image', 'fake.local/gated:2.0.0');
      const waiting = await until(asked.id, 'waitReady of 2.0.0', (d) => d.steps.some((s) => s.title === 'wait for 2 healthy instances of 2.0.0' && s.status === 'running'));
      const waitIdx = waiting.steps.find((s) => s.title === 'wait for 2 healthy instances of 2.0.0')!.idx;
      const from = existsSync(logFile()) ? statSync(logFile()).size : 0;
      // Down until the orchestrator has met the outage (its step could not reach the API server), then up again.
      await kube.restart({ downMs: 200, whileDown: () => untilLogged(from, 'target unreachable; retrying') });
      rmSync(join(holdDir, 'hold'));

      const end = await ended(asked.id);
      expect([end.phase, end.message]).toEqual(['succeeded', null]);
      expect(titles(end)).toEqual([
        ['gates: rejected, freeze', 'succeeded'], ['scale 2.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 2.0.0', 'succeeded'],
        ['all traffic to 1.0.0; preview to 2.0.0', 'succeeded'], ['smoke checks on 2.0.0', 'succeeded'], ['all traffic to 2.0.0', 'succeeded'], ['watch 2.0.0 for 1s', 'succeeded'],
      ]);
      // Only waitReady met the outage, and it retried within the step.
      const retries = orchestratorLog(from).filter((l) => l.msg === 'target unreachable; retrying');
      expect(retries.length).toBeGreaterThan(0);
      expect([...new Set(retries.map((l) => `${l.deployment} step ${l.step}`))]).toEqual([`${asked.id} step ${waitIdx}`]);
      const events = await eventsOf(asked.id);
      const idxOf = (type: string) => events.filter((e) => e.type === type).map((e) => e.data.idx);
      expect([idxOf('step.started'), idxOf('step.succeeded'), idxOf('step.failed'), idxOf('step.resumed')]).toEqual([[0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6], [], []]);
      expect(selector('restart')).toEqual({ app: 'web', color: 'green' });
      expect(pods('restart').filter((p) => versionOf(p) === '2.0.0' && !meta(p).deletionTimestamp)).toHaveLength(2);
    }, DEPLOY_TEST_MS);
  });

  describe('given a migration Job before each rollout in jobs (jobs.beforeRollout: migrate.yaml)', () => {
    const JOB_FAILED = (job: string) => `job ${job} failed: BackoffLimitExceeded: Job has reached the specified backoff limit (see the step's logs; the Job is left in place)`;
    /** The Job's one pod and what it printed (fake.local/job-ok or job-fail). */
    const jobLogs = (job: string, lines: string[]) => {
      const jobPods = kube.list('pod', 'jobs', { labelSelector: `gangway.io/job=${job}` });
      expect(jobPods).toHaveLength(1);
      return [{ pod: meta(jobPods[0]!).name, lines }];
    };
    const FAILED_LINES = ['migration: starting', 'migration: error: relation "users" already exists', 'migration: failed'];
    /** The Job's conditions that hold, as [type, reason]. */
    const jobConditions = (job: string) => ((((kube.get('job', 'jobs', job)?.status ?? {}) as Obj).conditions ?? []) as Obj[])
      .filter((c) => c.status === 'True').map((c) => [c.type, c.reason]);

    it('when the Job of the first release fails, then the deployment fails before anything starts: exit 4, the Job\'s output in its step, no Deployment made', async () => {
      copyFileSync(join(JOB_FIXTURES, 'migrate-fail.yaml'), join(project.dir, 'migrate.yaml'));
      const { code, end } = await deploy('jobs', '0.9.0');
      const job = (stepOf(end, 'job').output as { job: string }).job;
      expect(job).toMatch(/^migration-job-[0-9a-f]{8}$/);
      expect([code, end.phase, end.message]).toEqual([4, 'failed', JOB_FAILED(job)]);
      expect(titles(end)).toEqual([
        ['gates: rejected, freeze', 'succeeded'], ['job migrate for 0.9.0', 'failed'], ['scale 0.9.0 to 2 instances', 'pending'], ['wait for 2 healthy instances of 0.9.0', 'pending'],
        ['no traffic; preview to 0.9.0', 'pending'], ['smoke checks on 0.9.0', 'pending'], ['all traffic to 0.9.0', 'pending'],
        ['no traffic', 'succeeded'], ['stop 0.9.0', 'succeeded'],
      ]);
      expect(stepOf(end, 'job').output).toEqual({ job, logs: jobLogs(job, FAILED_LINES), reason: JOB_FAILED(job) });
      // Left in place for inspection; nothing of the release was applied.
      expect(jobConditions(job)).toEqual([['FailureTarget', 'BackoffLimitExceeded'], ['Failed', 'BackoffLimitExceeded']]);
      expect([kube.get('deployment', 'jobs', 'web-blue'), kube.get('deployment', 'jobs', 'web-green'), kube.get('service', 'jobs', 'web'), pods('jobs')]).toEqual([undefined, undefined, undefined, []]);
    }, DEPLOY_TEST_MS);

    it('when the Job of 1.0.0 completes, then the job step runs before the scale step and 1.0.0 serves', async () => {
      copyFileSync(join(JOB_FIXTURES, 'migrate-ok.yaml'), join(project.dir, 'migrate.yaml'));
      const { code, end } = await deploy('jobs', '1.0.0');
      expect([code, end.phase, end.message]).toEqual([0, 'succeeded', null]);
      expect(titles(end)).toEqual([
        ['gates: rejected, freeze', 'succeeded'], ['job migrate for 1.0.0', 'succeeded'], ['scale 1.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 1.0.0', 'succeeded'],
        ['no traffic; preview to 1.0.0', 'succeeded'], ['smoke checks on 1.0.0', 'succeeded'], ['all traffic to 1.0.0', 'succeeded'],
      ]);
      const job = (stepOf(end, 'job').output as { job: string }).job;
      expect(stepOf(end, 'job').output).toEqual({ job, logs: jobLogs(job, ['migration: starting', 'migration: applied 3 changes', 'migration: done']) });
      expect(jobConditions(job)).toEqual([['SuccessCriteriaMet', 'CompletionsReached'], ['Complete', 'CompletionsReached']]);
      expect(selector('jobs')).toEqual({ app: 'web', color: 'blue' });
    }, DEPLOY_TEST_MS);

    it('when the Job of 2.0.0 fails, then it is rolled back before 2.0.0 starts: exit 4, traffic stays on 1.0.0, the Job\'s output in the step, the history and the record in git', async () => {
      copyFileSync(join(JOB_FIXTURES, 'migrate-fail.yaml'), join(project.dir, 'migrate.yaml'));
      const { code, end } = await deploy('jobs', '2.0.0');
      const job = (stepOf(end, 'job').output as { job: string }).job;
      expect([code, end.phase, end.message]).toEqual([4, 'rolled_back', JOB_FAILED(job)]);
      expect(titles(end)).toEqual([
        ['gates: rejected, freeze', 'succeeded'], ['job migrate for 2.0.0', 'failed'], ['scale 2.0.0 to 2 instances', 'pending'], ['wait for 2 healthy instances of 2.0.0', 'pending'],
        ['all traffic to 1.0.0; preview to 2.0.0', 'pending'], ['smoke checks on 2.0.0', 'pending'], ['all traffic to 2.0.0', 'pending'], ['watch 2.0.0 for 1s', 'pending'],
        ['scale 1.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 1.0.0', 'succeeded'], ['all traffic to 1.0.0', 'succeeded'], ['stop 2.0.0', 'succeeded'],
      ]);
      const output = { job, logs: jobLogs(job, FAILED_LINES), reason: JOB_FAILED(job) };
      expect(stepOf(end, 'job').output).toEqual(output);
      // Traffic never moved: blue serves 1.0.0, no colour ever held 2.0.0, no preview was made.
      expect(selector('jobs')).toEqual({ app: 'web', color: 'blue' });
      expect([kube.get('deployment', 'jobs', 'web-green'), kube.get('service', 'jobs', 'web-preview')]).toEqual([undefined, undefined]);
      expect(pods('jobs').map(versionOf)).toEqual(['1.0.0', '1.0.0']);
      expect((await statusOf('jobs')).traffic).toEqual([{ version: '1.0.0', weight: 100 }]);

      // `gangway logs` shows the instances (the pods of 1.0.0), not the Job's pod.
      const logs = await cli('logs', 'web', '--env', 'jobs');
      expect([logs.code, logs.stderr]).toEqual([0, '']);
      expect(logs.stdout.split('\n').filter((l) => l.startsWith('==> ')).map((l) => l.replace(/web-blue-\S+/, 'web-blue-…'))).toEqual(['==> web-blue-… (1.0.0) <==', '==> web-blue-… (1.0.0) <==']);
      // The history keeps the step's output; the record in git names the Job and why it failed.
      const history = json<DeploymentView[]>(await cli('history', 'web', '--env', 'jobs', '-o', 'json'));
      expect(stepOf(history.find((d) => d.id === end.id)!, 'job').output).toEqual(output);
      let written: EventView | undefined;
      for (;;) {
        const events = await eventsOf(end.id);
        expect(events.filter((e) => e.type === 'record.failed')).toEqual([]);
        if ((written = events.find((e) => e.type === 'record.written'))) break;
        await sleep(100);
      }
      const front = parseYaml(readFileSync(join(repos.work, written.data.path!), 'utf8').split('\n---\n')[0]!.replace(/^---\n/, '')) as { outcome: unknown; steps: Array<Record<string, unknown>> };
      expect(front.outcome).toEqual({ phase: 'rolled_back', message: JOB_FAILED(job) });
      expect(front.steps.filter((st) => st.type === 'job').map((st) => [st.title, st.status, st.reason])).toEqual([['job migrate for 2.0.0', 'failed', JOB_FAILED(job)]]);
    }, DEPLOY_TEST_MS);
  });

  describe('given web on a canary over the Gateway API HTTPRoute web in route (test/fixtures/kubernetes/httproute.yaml)', () => {
    it('when 1.0.0 is deployed first, then the HTTPRoute sends everything to web-blue, with the manifest\'s parentRefs, hostnames and match', async () => {
      const { code, end } = await deploy('route', '1.0.0');
      expect([code, end.phase, end.message]).toEqual([0, 'succeeded', null]);
      expect(liveRoute()).toEqual(route([weighted(['web-blue', 100])]));
      expect(selector('route')).toEqual({ app: 'web', color: 'blue' });
    }, DEPLOY_TEST_MS);

    it('when 2.0.0 goes 10% → a header route → 50% → 100%, then at each pause the HTTPRoute holds exactly those weights and the header rule, and only 2.0.0 at the end', async () => {
      const asked = await request('route', '2.0.0');
      await pausedAt(asked.id, 1);
      expect(liveRoute()).toEqual(route([weighted(['web-blue', 90], ['web-green', 10])]));
      expect([selector('route'), (await statusOf('route')).traffic]).toEqual([{ app: 'web', color: 'blue' }, [{ version: '1.0.0', weight: 90 }, { version: '2.0.0', weight: 10 }]]);
      await promote(asked.id);

      await pausedAt(asked.id, 2);
      expect(liveRoute()).toEqual(route([headerRule('web-green'), weighted(['web-blue', 90], ['web-green', 10])]));
      await promote(asked.id);

      await pausedAt(asked.id, 3);
      expect(liveRoute()).toEqual(route([headerRule('web-green'), weighted(['web-blue', 50], ['web-green', 50])]));
      await promote(asked.id);

      const end = await ended(asked.id);
      expect([end.phase, end.message]).toEqual(['succeeded', null]);
      expect(titles(end).filter(([t]) => t!.includes('traffic'))).toEqual([
        ['traffic 1.0.0 90% / 2.0.0 10%', 'succeeded'], ['traffic 1.0.0 90% / 2.0.0 10%; x-canary: 1 to 2.0.0', 'succeeded'],
        ['traffic 1.0.0 50% / 2.0.0 50%; x-canary: 1 to 2.0.0', 'succeeded'], ['all traffic to 2.0.0', 'succeeded'],
      ]);
      expect(liveRoute()).toEqual(route([weighted(['web-green', 100])]));
      expect([selector('route'), (await statusOf('route')).traffic]).toEqual([{ app: 'web', color: 'green' }, [{ version: '2.0.0', weight: 100 }]]);
    }, DEPLOY_TEST_MS);

    it('when 3.0.0 is aborted at 50% with its header route, then the rollback puts all the weight back on 2.0.0 and drops the header rule', async () => {
      const asked = await request('route', '3.0.0');
      await pausedAt(asked.id, 1);
      await promote(asked.id);
      await pausedAt(asked.id, 2);
      await promote(asked.id);
      await pausedAt(asked.id, 3);
      expect(liveRoute()).toEqual(route([headerRule('web-blue'), weighted(['web-green', 50], ['web-blue', 50])]));

      const abort = await cli('abort', asked.id);
      expect([abort.code, abort.stderr]).toEqual([0, '']);
      const end = await ended(asked.id);
      expect([end.phase, end.message]).toEqual(['aborted', 'aborted: by request']);
      expect(titles(end).slice(9)).toEqual([
        [PAUSE, 'failed'], ['scale 3.0.0 to 2 instances', 'pending'], ['wait for 2 healthy instances of 3.0.0', 'pending'], ['all traffic to 3.0.0', 'pending'], ['watch 3.0.0 for 1s', 'pending'],
        ['scale 2.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 2.0.0', 'succeeded'], ['all traffic to 2.0.0', 'succeeded'], ['stop 3.0.0', 'succeeded'],
      ]);
      expect(liveRoute()).toEqual(route([weighted(['web-green', 100])]));
      expect([selector('route'), (await statusOf('route')).traffic]).toEqual([{ app: 'web', color: 'green' }, [{ version: '2.0.0', weight: 100 }]]);
    }, DEPLOY_TEST_MS);
  });
});
