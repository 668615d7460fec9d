/**
 * The Helm target end to end: the built CLI (`gangway up`, `deploy`, `rollback`, `status`,
 * `validate`) against the FAKE Kubernetes API server of test/support/fake-kube, with the FAKE
 * `helm` of test/support/fake-helm as the configured `target.helm.helm` (its absolute path). The
 * chart is test/fixtures/helm-e2e/chart (a Deployment and a Service named after the release);
 * its pods run test/fixtures/app.mjs as the `fake.local/app` image, and Gangway's post-renderer
 * runs from dist/ as it does for users.
 *
 * Given `web` through Helm in four environments of one project — staging on one release rolled
 * in place, qa by blue-green on two releases, `taken` where an object of the chart already
 * exists, `flaky` whose helm fails on demand — when releases are deployed, rolled back and
 * refused, then Helm's own history (`helm history -o json`, read through the fake), the
 * cluster's objects, the deployments' steps and `gangway status -o json` show exactly what
 * happened; and `gangway up` / `validate --check-tools` refuse a missing helm binary by name.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_HELM_BIN, readHelmLog, runHelm } from './support/fake-helm/index.js';
import type { FakeKube, Obj } from './support/fake-kube/index.js';
import { startFakeKube } from './support/fake-kube/index.js';
import { APP, CLI, ROOT, makeProject, projectHeader, runCli, type CliResult, type Project } from './support/gangway.js';

const CHART = join(ROOT, 'test/fixtures/helm-e2e/chart');
/** Limit of a test that deploys: generous, for a loaded two-core machine (nothing asserts on time). */
const DEPLOY_TEST_MS = 300_000;
/**
 * `target.helm.timeout`: how long `helm upgrade --wait` waits for ready pods. Long on purpose: a
 * crash-looping release must fail by Gangway's early stop (its message says so), never by this.
 */
const HELM_TIMEOUT = '240s';

function gangwayYaml(ports: { api: number; metrics: number }, switchHelm: string): string {
  return `${projectHeader('helm-e2e', ports)}environments:
  staging: {}
  qa: {}
  taken: {}
  flaky: {}
services:
  web:
    target:
      helm:
        kubeconfig: kubeconfig
        namespace: staging
        chart: ${JSON.stringify(CHART)}
        imageKeys: { repository: image.repository, tag: image.tag }
        timeout: ${HELM_TIMEOUT}
        helm: ${JSON.stringify(FAKE_HELM_BIN)}
        instances: 2
        restartLimit: 0
    health: { path: /health, interval: 200ms, timeout: 1s, failureThreshold: 3, startTimeout: 60s }
    strategy:
      rolling: { maxSurge: 1, maxUnavailable: 0 }
    smoke:
      - http: { path: /health, expect: { status: 200, json: { status: UP } } }
    rollback: { watch: 1s }
    environments:
      qa:
        target: { helm: { namespace: qa } }
        strategy:
          blueGreen: { scaleDownDelay: 0s }
      taken:
        target: { helm: { namespace: taken } }
      flaky:
        target: { helm: { namespace: flaky, helm: ${JSON.stringify(switchHelm)} } }
`;
}

interface StepView { title: string; status: string; reason?: string | null; output?: unknown }
interface DeploymentView { id: string; service: string; environment: string; version: string; image: string | null; phase: string; message: string | null; steps: StepView[] }
interface HistoryView { revision: string; at: string | null; status: string; description: string }
interface StatusEntry {
  service: string; environment: string; version: string | null;
  deployment: { id: string; phase: string; step: string | null } | null;
  instances: Array<{ id: string; version: string; state: string; restarts: number; detail?: Record<string, unknown> }>;
  traffic: Array<{ version: string; weight: number }>;
  platform: { lines: Array<{ label: string; value: string }>; drift: string | null; history: HistoryView[] } | { error: string } | null;
}
interface HelmRow { revision: number; updated: string; status: string; chart: string; app_version: string; description: string }

let kube: FakeKube;
let project: Project;
let kubeconfig: string;
/** While this file exists, the `flaky` environment's helm fails its upgrades (FAKE_HELM_FAIL=upgrade). */
let failSwitch: string;

const cli = (...args: string[]) => runCli(project.dir, args, { GANGWAY_ACTOR: 'e2e' });
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
/** Helm's own history of a release, as `helm history -o json` prints it (the fake reads the release Secrets). */
async function helmHistory(ns: string, release: string): Promise<Array<Omit<HelmRow, 'updated'>>> {
  const r = await runHelm(['history', release, '--namespace', ns, '-o', 'json'], { env: { KUBECONFIG: kubeconfig } });
  if (r.code !== 0) throw new Error(`helm history ${release} -n ${ns} exited ${r.code}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as HelmRow[]).map(({ updated: _updated, ...row }) => row);
}
const spec = (o: Obj | undefined) => (o?.spec ?? {}) as Obj;
const meta = (o: Obj) => o.metadata as Obj & { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
const selector = (ns: string, name: string) => (spec(kube.get('service', ns, name)).selector ?? null) as Record<string, string> | null;
const replicas = (ns: string, name: string) => (spec(kube.get('deployment', ns, name)).replicas ?? null) as number | null;
const annotation = (o: Obj | undefined, key: string) => (o ? meta(o).annotations?.[key] : undefined) ?? null;
const releaseSecrets = (ns: string) => kube.list('secret', ns, { labelSelector: 'owner=helm' }).map((s) => meta(s).name).sort();
/** The pods of web in a namespace that are not being deleted. */
const livePods = (ns: string) => kube.list('pod', ns, { labelSelector: 'gangway.io/service=web' }).filter((p) => !meta(p).deletionTimestamp);
const titles = (d: DeploymentView) => d.steps.map((s) => [s.title, s.status]);
const platformOf = (e: StatusEntry) => {
  if (!e.platform || 'error' in e.platform) throw new Error(`no platform status: ${JSON.stringify(e.platform)}`);
  return e.platform;
};

/**
 * The `flaky` environment's helm: the fake, logging every run's argv to `flaky-helm.log`, with
 * `FAKE_HELM_FAIL=upgrade` in its environment while the switch file exists. A Node script run by argv (no shell); it forwards SIGTERM, as
 * Gangway stops a helm that outlives its limit.
 */
function writeSwitchHelm(dir: string): string {
  const file = join(dir, 'switch-helm');
  writeFileSync(file, `#!${process.execPath}
'use strict';
const { spawn } = require('node:child_process');
const { existsSync } = require('node:fs');
const env = { ...process.env, FAKE_HELM_LOG: ${JSON.stringify(join(dir, 'flaky-helm.log'))} };
if (existsSync(${JSON.stringify(join(dir, 'fail-upgrade'))})) {
  env.FAKE_HELM_FAIL = 'upgrade';
  env.FAKE_HELM_FAIL_STDERR = 'Error: UPGRADE FAILED: Internal error occurred: failed calling webhook "validate.policy.example.com": connection refused';
}
const child = spawn(${JSON.stringify(FAKE_HELM_BIN)}, process.argv.slice(2), { env, stdio: 'inherit' });
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
`);
  chmodSync(file, 0o755);
  return file;
}

beforeAll(async () => {
  kube = await startFakeKube({ images: { 'fake.local/app': { command: [process.execPath, APP] } } });
  for (const ns of ['staging', 'qa', 'taken', 'flaky']) await kube.namespace(ns);
  let ports = { api: 0, metrics: 0 };
  project = await makeProject((p) => { ports = p; return gangwayYaml(p, 'unknown-yet'); });
  // The wrapper lives in the project folder, known only now: gangway.yaml is written again with its path.
  writeFileSync(join(project.dir, 'gangway.yaml'), gangwayYaml(ports, writeSwitchHelm(project.dir)));
  failSwitch = join(project.dir, 'fail-upgrade');
  kubeconfig = await kube.writeKubeconfig(project.dir, { namespace: 'staging' });
  await project.up();
}, 120_000);

afterAll(async () => {
  await project?.cleanup();
  await kube?.close();
});

describe('given web through one Helm release in staging (rolling), nothing deployed yet', () => {
  it('when 1.0.0 then 2.0.0 are deployed, then Helm holds them as revisions 1 and 2, each made by Gangway, and the pods run 2.0.0', async () => {
    const first = await deploy('staging', '1.0.0');
    expect([first.code, first.end.phase, first.end.message]).toEqual([0, 'succeeded', null]);
    expect(titles(first.end)).toEqual([['gates: rejected, freeze', 'succeeded'], ['roll out 1.0.0', 'succeeded'], ['smoke checks on 1.0.0', 'succeeded']]);
    const rollout1 = first.end.steps[1] as StepView & { output: { handle: unknown } };
    expect(rollout1.output.handle).toEqual({ version: '1.0.0', revision: 'revision 1' });

    const second = await deploy('staging', '2.0.0');
    expect([second.code, second.end.phase, second.end.message]).toEqual([0, 'succeeded', null]);
    expect(titles(second.end)).toEqual([
      ['gates: rejected, freeze', 'succeeded'], ['roll out 2.0.0', 'succeeded'], ['smoke checks on 2.0.0', 'succeeded'], ['watch 2.0.0 for 1s', 'succeeded'],
    ]);
    const rollout2 = second.end.steps[1] as StepView & { output: { handle: unknown } };
    expect(rollout2.output.handle).toEqual({ version: '2.0.0', revision: 'revision 2' });

    expect(await helmHistory('staging', 'web')).toEqual([
      { revision: 1, status: 'superseded', chart: 'web-0.3.0', app_version: '1.0.0', description: `gangway: deploy 1.0.0 (${first.end.id} by e2e)` },
      { revision: 2, status: 'deployed', chart: 'web-0.3.0', app_version: '1.0.0', description: `gangway: deploy 2.0.0 (${second.end.id} by e2e)` },
    ]);
    const dep = kube.get('deployment', 'staging', 'web')!;
    expect([annotation(dep, 'meta.helm.sh/release-name'), annotation(dep, 'gangway.io/version'), replicas('staging', 'web')]).toEqual(['web', '2.0.0', 2]);
    await kube.waitFor(() => livePods('staging').length === 2 && livePods('staging').every((p) => annotation(p, 'gangway.io/version') === '2.0.0'),
      { what: 'only 2.0.0 pods in staging', timeoutMs: 60_000 });

    const entry = await statusOf('staging');
    expect([entry.version, entry.deployment?.phase, entry.traffic]).toEqual(['2.0.0', 'succeeded', [{ version: '2.0.0', weight: 100 }]]);
    expect(platformOf(entry).lines).toEqual([{ label: 'helm release', value: 'web revision 2 (deployed, chart web-0.3.0)' }]);
  }, DEPLOY_TEST_MS);

  it('when 3.0.0 crash-loops, then helm upgrade is stopped at the first crash (not at its timeout) naming the pod, its reason, target.helm.restartLimit and its last log lines, and the deployment is rolled_back by `helm rollback web 2` (revision 4)', async () => {
    const { code, end } = await deploy('staging', '3.0.0', '--image', 'fake.local/crashloop:3.0.0');
    expect([code, end.phase, end.version, end.image]).toEqual([4, 'rolled_back', '3.0.0', 'fake.local/crashloop:3.0.0']);
    // Gangway watches the pods while helm waits: the first crash of a 3.0.0 pod (restartLimit 0)
    // stops helm, instead of Helm's own timeout ("context deadline exceeded"). Which the watch sees
    // first — the exit, or the back-off after it — depends on when it looks; both name the limit.
    const early = new RegExp('^pod web-[a-z0-9]+-[a-z0-9]+: container web (restarted \\d+ times?, more than the 0 allowed \\(target\\.helm\\.restartLimit\\); last exit: Error with code 1'
      + '|is in CrashLoopBackOff \\(back-off .*\\) after (\\d+) restarts?, more than the 0 allowed \\(target\\.helm\\.restartLimit\\))'
      + '; last log lines: starting \\| fatal: fake\\.local/crashloop:3\\.0\\.0 exits on purpose \\(crash loop\\)'
      + '; helm upgrade of web was stopped, and Helm marked its revision failed$');
    expect(end.message).toMatch(early);
    expect(titles(end)).toEqual([
      ['gates: rejected, freeze', 'succeeded'], ['roll out 3.0.0', 'failed'], ['smoke checks on 3.0.0', 'pending'], ['watch 3.0.0 for 1s', 'pending'],
      ['roll out 2.0.0', 'succeeded'],
    ]);
    expect(end.steps[1]!.output).toEqual({ reason: end.message });
    const back = end.steps[4] as StepView & { output: { handle: unknown } };
    expect(back.output.handle).toEqual({ version: '2.0.0', revision: 'revision 4' });

    // Not an upgrade with 2.0.0's values: `helm rollback web 2`, which Helm records as a new revision.
    const rows = await helmHistory('staging', 'web');
    expect(rows.slice(2)).toEqual([
      { revision: 3, status: 'failed', chart: 'web-0.3.0', app_version: '1.0.0', description: 'Upgrade "web" failed: context canceled' },
      { revision: 4, status: 'deployed', chart: 'web-0.3.0', app_version: '1.0.0', description: 'Rollback to 2' },
    ]);
    expect(rows.map((r) => [r.revision, r.status])).toEqual([[1, 'superseded'], [2, 'superseded'], [3, 'failed'], [4, 'deployed']]);
    const dep = kube.get('deployment', 'staging', 'web')!;
    expect([annotation(dep, 'gangway.io/version'), annotation(dep, 'gangway.io/image'), replicas('staging', 'web')]).toEqual(['2.0.0', 'fake.local/app:2.0.0', 2]);
    await kube.waitFor(() => livePods('staging').length === 2 && livePods('staging').every((p) => annotation(p, 'gangway.io/version') === '2.0.0'),
      { what: 'the 3.0.0 pods to go', timeoutMs: 60_000 });

    const entry = await statusOf('staging');
    expect([entry.version, entry.deployment?.phase, entry.traffic]).toEqual(['2.0.0', 'rolled_back', [{ version: '2.0.0', weight: 100 }]]);
    expect(entry.instances.map((i) => [i.version, i.state, i.restarts])).toEqual([['2.0.0', 'ready', 0], ['2.0.0', 'ready', 0]]);
    const platform = platformOf(entry);
    expect([platform.lines, platform.drift]).toEqual([[{ label: 'helm release', value: 'web revision 4 (deployed, chart web-0.3.0)' }], null]);
    expect(platform.history.map((h) => [h.revision, h.status, h.description])).toEqual([
      ['4', 'deployed', 'Rollback to 2'],
      ['3', 'failed', 'Upgrade "web" failed: context canceled'],
      ['2', 'superseded', rows[1]!.description],
      ['1', 'superseded', rows[0]!.description],
    ]);
    expect(platform.history.every((h) => h.at !== null && !Number.isNaN(Date.parse(h.at)))).toBe(true);

    // The text form: the release line and Helm's history, newest first, after the service's table.
    const text = await cli('status', 'web', '--env', 'staging');
    expect([text.code, text.stderr]).toEqual([0, '']);
    const platformText = text.stdout.slice(text.stdout.indexOf('\nweb/staging\n') + 1).split('\n').map((l) => l.replace(/\d{4}-\d\d-\d\dT\S+Z/, '<at>').trimEnd());
    expect(platformText).toEqual([
      'web/staging',
      '  helm release  web revision 4 (deployed, chart web-0.3.0)',
      expect.stringMatching(/^ {2}REVISION +AT +STATUS +DESCRIPTION$/),
      expect.stringMatching(/^ {2}4 +<at> +deployed +Rollback to 2$/),
      expect.stringMatching(/^ {2}3 +<at> +failed +Upgrade "web" failed: context canceled$/),
      expect.stringMatching(/^ {2}2 +<at> +superseded +gangway: deploy 2\.0\.0 \(d-\S+ by e2e\)$/),
      expect.stringMatching(/^ {2}1 +<at> +superseded +gangway: deploy 1\.0\.0 \(d-\S+ by e2e\)$/),
      '',
    ]);
  }, DEPLOY_TEST_MS);

  it('when web is rolled back to 1.0.0 by hand, then it is `helm rollback web 1` (revision 5), and the pods run 1.0.0 again', async () => {
    const r = await cli('rollback', 'web', '--env', 'staging', '--to', '1.0.0', '--reason', 'back to the known good', '--wait', '-o', 'json');
    const end = json<DeploymentView & { kind: string; previousVersion: string | null; reason: string | null }>(r);
    expect([r.code, end.kind, end.phase, end.version, end.previousVersion, end.reason, end.message]).toEqual([0, 'rollback', 'succeeded', '1.0.0', '2.0.0', 'back to the known good', null]);
    expect(titles(end)).toEqual([['roll out 1.0.0', 'succeeded']]);
    expect(end.steps[0]!.output).toEqual({ handle: { version: '1.0.0', revision: 'revision 5' }, status: 'deployment "web" successfully rolled out' });
    const rows = await helmHistory('staging', 'web');
    expect(rows.slice(4)).toEqual([{ revision: 5, status: 'deployed', chart: 'web-0.3.0', app_version: '1.0.0', description: 'Rollback to 1' }]);
    expect(rows.map((r) => [r.revision, r.status])).toEqual([[1, 'superseded'], [2, 'superseded'], [3, 'failed'], [4, 'superseded'], [5, 'deployed']]);
    const dep = kube.get('deployment', 'staging', 'web')!;
    expect([annotation(dep, 'gangway.io/version'), annotation(dep, 'gangway.io/image')]).toEqual(['1.0.0', 'fake.local/app:1.0.0']);
    await kube.waitFor(() => livePods('staging').length === 2 && livePods('staging').every((p) => annotation(p, 'gangway.io/version') === '1.0.0'),
      { what: 'only 1.0.0 pods in staging', timeoutMs: 60_000 });
    const entry = await statusOf('staging');
    expect([entry.version, entry.deployment?.phase]).toEqual(['1.0.0', 'succeeded']);
    const platform = platformOf(entry);
    expect([platform.lines, platform.drift]).toEqual([[{ label: 'helm release', value: 'web revision 5 (deployed, chart web-0.3.0)' }], null]);
    expect(platform.history.map((h) => h.revision)).toEqual(['5', '4', '3', '2', '1']);
  }, DEPLOY_TEST_MS);
});

describe('given web by blue-green in qa: two Helm releases, web-blue and web-green', () => {
  it('when 1.0.0 then 2.0.0 are deployed, then each colour is its own release and Gangway switches the public Service, kept out of both', async () => {
    const first = await deploy('qa', '1.0.0');
    expect([first.code, first.end.phase, first.end.message]).toEqual([0, 'succeeded', null]);
    expect(titles(first.end)).toEqual([
      ['gates: rejected, freeze', 'succeeded'], ['scale 1.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 1.0.0', 'succeeded'],
      ['no traffic; preview to 1.0.0', 'succeeded'], ['smoke checks on 1.0.0', 'succeeded'], ['all traffic to 1.0.0', 'succeeded'],
    ]);
    // The chart's Service (web-blue in this release) is applied by Gangway as web, selecting by its labels and the colour.
    expect(selector('qa', 'web')).toEqual({ 'gangway.io/service': 'web', 'gangway.io/environment': 'qa', color: 'blue' });
    expect(kube.get('service', 'qa', 'web-blue')).toBeUndefined();
    // A colour's revision is made by the scale step, which names the deployment as a rolling upgrade does.
    expect(await helmHistory('qa', 'web-blue')).toEqual([
      { revision: 1, status: 'deployed', chart: 'web-0.3.0', app_version: '1.0.0', description: `gangway: deploy 1.0.0 (${first.end.id} by e2e)` },
    ]);
    expect(annotation(kube.get('deployment', 'qa', 'web-blue'), 'gangway.io/deployment-id')).toBe(first.end.id);
    expect([replicas('qa', 'web-blue'), annotation(kube.get('deployment', 'qa', 'web-blue'), 'gangway.io/version')]).toEqual([2, '1.0.0']);

    const second = await deploy('qa', '2.0.0');
    expect([second.code, second.end.phase, second.end.message]).toEqual([0, 'succeeded', null]);
    expect(titles(second.end)).toEqual([
      ['gates: rejected, freeze', 'succeeded'], ['scale 2.0.0 to 2 instances', 'succeeded'], ['wait for 2 healthy instances of 2.0.0', 'succeeded'],
      ['all traffic to 1.0.0; preview to 2.0.0', 'succeeded'], ['smoke checks on 2.0.0', 'succeeded'], ['all traffic to 2.0.0', 'succeeded'],
      ['watch 2.0.0 for 1s', 'succeeded'],
    ]);
    const smoke = second.end.steps[4] as StepView & { output: { checks: Array<{ via: string; ok: boolean }> } };
    expect(smoke.output.checks.map((c) => [c.ok, c.via.replace(/https:\/\/127\.0\.0\.1:\d+$/, 'the API server')])).toEqual([[true, 'service web-preview (preview) in qa via the API server']]);
    expect(selector('qa', 'web')).toEqual({ 'gangway.io/service': 'web', 'gangway.io/environment': 'qa', color: 'green' });
    expect(kube.get('service', 'qa', 'web-preview')).toBeUndefined();
    expect(await helmHistory('qa', 'web-green')).toEqual([
      { revision: 1, status: 'deployed', chart: 'web-0.3.0', app_version: '1.0.0', description: `gangway: deploy 2.0.0 (${second.end.id} by e2e)` },
    ]);
    expect(annotation(kube.get('deployment', 'qa', 'web-green'), 'gangway.io/deployment-id')).toBe(second.end.id);
    // The public Service is Gangway's, not in either release; the colours' Deployments are Helm's.
    const svc = kube.get('service', 'qa', 'web')!;
    expect([annotation(svc, 'meta.helm.sh/release-name'), meta(svc).labels?.['app.kubernetes.io/managed-by'] ?? null]).toEqual([null, 'gangway']);
    expect(['web-blue', 'web-green'].map((d) => annotation(kube.get('deployment', 'qa', d), 'meta.helm.sh/release-name'))).toEqual(['web-blue', 'web-green']);
    expect(releaseSecrets('qa')).toEqual(['sh.helm.release.v1.web-blue.v1', 'sh.helm.release.v1.web-green.v1']);
    await kube.waitFor(() => replicas('qa', 'web-blue') === 0, { what: 'web-blue scaled to 0', timeoutMs: 60_000 });

    const entry = await statusOf('qa');
    expect([entry.version, entry.traffic]).toEqual(['2.0.0', [{ version: '2.0.0', weight: 100 }]]);
    const platform = platformOf(entry);
    expect([platform.lines, platform.drift]).toEqual([[
      { label: 'helm release', value: 'web-blue revision 1 (deployed, chart web-0.3.0)' },
      { label: 'helm release', value: 'web-green revision 1 (deployed, chart web-0.3.0)' },
    ], null]);
    expect(platform.history.map((h) => [h.revision, h.status, h.description])).toEqual([
      ['web-green 1', 'deployed', `gangway: deploy 2.0.0 (${second.end.id} by e2e)`], ['web-blue 1', 'deployed', `gangway: deploy 1.0.0 (${first.end.id} by e2e)`],
    ]);
    await kube.waitFor(() => livePods('qa').length === 2 && livePods('qa').every((p) => annotation(p, 'gangway.io/version') === '2.0.0'), { what: 'the 1.0.0 pods to go', timeoutMs: 60_000 });
    expect((await statusOf('qa')).instances.map((i) => [i.version, i.state, i.detail?.color])).toEqual([['2.0.0', 'ready', 'green'], ['2.0.0', 'ready', 'green']]);
  }, DEPLOY_TEST_MS);
});

describe('given helm refusing or failing', () => {
  it('when an object of the chart already exists outside Helm, then the first deployment fails with helm\'s words, and nothing of the release is left', async () => {
    kube.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'taken', labels: { app: 'legacy' } }, spec: { selector: { app: 'legacy' }, ports: [{ port: 80 }] } });
    const { code, end } = await deploy('taken', '1.0.0');
    const reason = 'helm upgrade failed: Error: rendered manifests contain a resource that already exists. Unable to continue with install: '
      + 'Service "web" in namespace "taken" exists and cannot be imported into the current release: invalid ownership metadata; '
      + 'label validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"; '
      + 'annotation validation error: missing key "meta.helm.sh/release-name": must be set to "web"; '
      + 'annotation validation error: missing key "meta.helm.sh/release-namespace": must be set to "taken"';
    expect([code, end.phase, end.message]).toEqual([4, 'failed', reason]);
    expect(titles(end)).toEqual([['gates: rejected, freeze', 'succeeded'], ['roll out 1.0.0', 'failed'], ['smoke checks on 1.0.0', 'pending'], ['stop 1.0.0', 'succeeded']]);
    expect(end.steps[1]!.output).toEqual({ reason });
    // No release, no revision, no Deployment; the Service that was there is untouched.
    expect([kube.get('deployment', 'taken', 'web'), releaseSecrets('taken')]).toEqual([undefined, []]);
    expect(selector('taken', 'web')).toEqual({ app: 'legacy' });
  }, DEPLOY_TEST_MS);

  it('when helm exits non-zero on the upgrade to 2.0.0, then the deployment ends with its stderr, and Helm still holds revision 1 of 1.0.0 alone', async () => {
    const first = await deploy('flaky', '1.0.0');
    expect([first.code, first.end.phase]).toEqual([0, 'succeeded']);
    const ran = () => readHelmLog(join(project.dir, 'flaky-helm.log')).map((argv) => argv[0]);
    const before = ran().length;
    writeFileSync(failSwitch, '');
    try {
      const { code, end } = await deploy('flaky', '2.0.0');
      const reason = 'helm upgrade failed: Error: UPGRADE FAILED: Internal error occurred: failed calling webhook "validate.policy.example.com": connection refused';
      expect([code, end.phase, end.message]).toEqual([4, 'rolled_back', reason]);
      // The rollback finds 1.0.0 still in Helm's newest revision: nothing to run.
      expect(titles(end)).toEqual([
        ['gates: rejected, freeze', 'succeeded'], ['roll out 2.0.0', 'failed'], ['smoke checks on 2.0.0', 'pending'], ['watch 2.0.0 for 1s', 'pending'], ['roll out 1.0.0', 'succeeded'],
      ]);
      expect(end.steps[1]!.output).toEqual({ reason });
      expect((end.steps[4] as StepView & { output: { handle: unknown } }).output.handle).toEqual({ version: '1.0.0', revision: 'revision 1' });
    } finally {
      rmSync(failSwitch, { force: true });
    }
    // The failed upgrade is the only helm run that could change anything; the rollback only read the history.
    expect(ran().slice(before).filter((cmd) => cmd !== 'history' && cmd !== 'status')).toEqual(['upgrade']);
    expect(await helmHistory('flaky', 'web')).toEqual([
      { revision: 1, status: 'deployed', chart: 'web-0.3.0', app_version: '1.0.0', description: `gangway: deploy 1.0.0 (${first.end.id} by e2e)` },
    ]);
    expect(annotation(kube.get('deployment', 'flaky', 'web'), 'gangway.io/version')).toBe('1.0.0');
  }, DEPLOY_TEST_MS);
});

describe('given a helm binary that is not there', () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it('gangway up exits non-zero naming target.helm.helm, and validate --check-tools marks it ✗ (exit 2) where the fake gets ✓', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gangway-helm-missing-'));
    dirs.push(dir);
    const missing = join(dir, 'bin', 'helm');
    const yaml = (helm: string) => `project: helm-missing
environments:
  dev: {}
services:
  web:
    target:
      helm: { chart: ${JSON.stringify(CHART)}, namespace: dev, helm: ${JSON.stringify(helm)} }
`;
    writeFileSync(join(dir, 'gangway.yaml'), yaml(missing));
    const hint = 'hint: install Helm 3.7 or later (https://helm.sh/docs/intro/install/), or set target.helm.helm to its path\n';
    const why = `target.helm.helm: the helm binary "${missing}" was not found`;
    // A hang guard, not a claim about speed: an `up` that started would serve until killed.
    const up = await runLimited(['-C', dir, 'up'], 60_000);
    expect(up).toEqual({ code: 2, stdout: '', stderr: `error: helm ${missing} (needed by web/dev): ${why}\n${hint}`, killed: false });
    // Refused before anything was made: no state folder, no token, no log.
    expect(existsSync(join(dir, '.gangway'))).toBe(false);

    const check = await runCli(dir, ['validate', '--check-tools']);
    expect(check).toEqual({ code: 2, stdout: '✓ gangway.yaml is valid: 1 environment, 1 service\n', stderr: `✗ helm ${missing}: ${why} (web/dev)\n  ${hint}` });
    const checkJson = await runCli(dir, ['validate', '--check-tools', '-o', 'json']);
    expect([checkJson.code, JSON.parse(checkJson.stdout)]).toEqual([2, {
      valid: false, environments: ['dev'], services: ['web'],
      tools: [{ what: `helm ${missing}`, ok: false, detail: why, hint: hint.slice('hint: '.length, -1), for: ['web/dev'] }],
    }]);

    writeFileSync(join(dir, 'gangway.yaml'), yaml(FAKE_HELM_BIN));
    const ok = await runCli(dir, ['validate', '--check-tools']);
    expect(ok).toEqual({ code: 0, stdout: `✓ gangway.yaml is valid: 1 environment, 1 service\n✓ helm ${FAKE_HELM_BIN}: v3.16.2 (web/dev)\n`, stderr: '' });
  }, DEPLOY_TEST_MS);
});

/** The CLI with a hang guard: killed (and reported as such) if it has not exited within `limitMs`. */
function runLimited(args: string[], limitMs: number): Promise<CliResult & { killed: boolean }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const guard = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, limitMs);
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('close', (code) => { clearTimeout(guard); res({ code: code ?? 1, stdout, stderr, killed }); });
  });
}
