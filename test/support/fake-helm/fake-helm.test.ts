/**
 * The FAKE `helm` against the FAKE Kubernetes API server, run as Gangway will run it (the
 * `helm` executable, argv, no shell): given the test chart (test/fixtures/helm-chart, a
 * Deployment and its Service), when it is installed, upgraded and rolled back, then the objects
 * are server-side applied with Helm's ownership metadata, every revision is a Secret exactly as
 * Helm 3's Secrets driver writes it, and `status` / `history -o json` print Helm's shapes; and
 * `--wait`, `--atomic`, a cancelled upgrade, broken input and the fault-injection variables
 * behave as README.md says.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeKube, Obj } from '../fake-kube/index.js';
import { startFakeKube } from '../fake-kube/index.js';
import type { HelmRelease, HelmResult } from './index.js';
import { FAKE_HELM_BIN, decodeReleaseSecret, readHelmLog, runHelm } from './index.js';

const CHART = resolve('test/fixtures/helm-chart');

let kube: FakeKube;
let dir: string;
let kubeconfig: string;

beforeAll(async () => {
  kube = await startFakeKube();
  dir = await mkdtemp(join(tmpdir(), 'gangway-fake-helm-'));
  kubeconfig = await kube.writeKubeconfig(dir);
});
afterAll(async () => {
  await kube?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the fake helm with the suite's kubeconfig in `KUBECONFIG`. */
function helm(args: string[], env: Record<string, string> = {}): Promise<HelmResult> {
  return runHelm(args, { env: { KUBECONFIG: kubeconfig, ...env }, cwd: dir });
}

const meta = (o: Obj | undefined): Obj => (o?.metadata ?? {}) as Obj;
const secretName = (release: string, v: number): string => `sh.helm.release.v1.${release}.v${v}`;

/** The JSON text stored in a revision's Secret: Kubernetes base64 → Helm's base64 → gunzip. */
function storedJson(ns: string, release: string, v: number): string {
  const s = kube.get('secret', ns, secretName(release, v));
  const helmString = Buffer.from(String((s?.data as Obj).release), 'base64').toString('utf8');
  return gunzipSync(Buffer.from(helmString, 'base64')).toString('utf8');
}

function stored(ns: string, release: string, v: number): HelmRelease {
  return decodeReleaseSecret(kube.get('secret', ns, secretName(release, v))!);
}

function statuses(ns: string, release: string): Record<number, string> {
  const out: Record<number, string> = {};
  for (const s of kube.list('secret', ns, { labelSelector: `name=${release},owner=helm` })) {
    const labels = meta(s).labels as Record<string, string>;
    out[Number(labels.version)] = labels.status;
  }
  return out;
}

const RFC3339_NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

const MANIFEST_V1 = [
  '---',
  '# Source: web/templates/service.yaml',
  'apiVersion: v1',
  'kind: Service',
  'metadata:',
  '  name: web',
  '  labels:',
  '    app: web',
  'spec:',
  '  selector:',
  '    app: web',
  '  ports:',
  '    - port: 80',
  '      targetPort: 8080',
  '---',
  '# Source: web/templates/deployment.yaml',
  'apiVersion: apps/v1',
  'kind: Deployment',
  'metadata:',
  '  name: web',
  '  labels:',
  '    app: web',
  'spec:',
  '  replicas: 1',
  '  selector:',
  '    matchLabels:',
  '      app: web',
  '  template:',
  '    metadata:',
  '      labels:',
  '        app: web',
  '    spec:',
  '      containers:',
  '        - name: web',
  '          image: fake.local/ok:1.0.0',
  '          ports:',
  '            - containerPort: 8080',
  '',
].join('\n');

describe('given the test chart installed, upgraded and rolled back to revision 1', () => {
  const ns = 'shop';
  const steps: Record<string, HelmResult> = {};

  beforeAll(async () => {
    await kube.namespace(ns);
    await writeFile(join(dir, 'prod.yaml'), 'replicas: 2\nimage:\n  tag: "1.5.0"\n');
    steps.install = await helm(['upgrade', '--install', 'web', CHART, '--namespace', ns, '--wait', '--timeout', '1m0s']);
    steps.upgrade = await helm(['upgrade', '--install', 'web', CHART, '-n', ns, '-f', 'prod.yaml', '--set-string', 'image.tag=2.0.0', '--wait', '--timeout=60s', '-o', 'json']);
    steps.rollback = await helm(['rollback', 'web', '1', '--namespace', ns, '--wait']);
    steps.history = await helm(['history', 'web', '-n', ns, '-o', 'json']);
    steps.status = await helm(['status', 'web', '-n', ns, '-o', 'json']);
  }, 120_000);

  it('installs with Helm\'s table output and revision 1 deployed', () => {
    expect(steps.install.stderr).toBe('');
    expect(steps.install.code).toBe(0);
    expect(steps.install.stdout).toMatch(new RegExp([
      '^Release "web" does not exist\\. Installing it now\\.',
      'NAME: web',
      'LAST DEPLOYED: (Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ 123]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}',
      'NAMESPACE: shop',
      'STATUS: deployed',
      'REVISION: 1',
      'TEST SUITE: None',
      'NOTES:',
      'web runs fake.local/ok:1\\.0\\.0 in shop\\.',
      '$',
    ].join('\n')));
  });

  it('upgrades with -f and --set-string merged as Helm merges them, printing the release JSON', () => {
    expect(steps.upgrade.stderr).toBe('');
    expect(steps.upgrade.code).toBe(0);
    expect(steps.upgrade.stdout.endsWith('}\n')).toBe(true);
    // Revision 2 as it was stored when the upgrade printed it (the rollback superseded it since).
    expect(steps.upgrade.stdout).toBe(`${storedJson(ns, 'web', 2).replace('"status":"superseded"', '"status":"deployed"')}\n`);
    const rel = JSON.parse(steps.upgrade.stdout) as HelmRelease;
    expect(rel.version).toBe(2);
    expect(rel.config).toEqual({ image: { tag: '2.0.0' }, replicas: 2 });
    expect(rel.info.description).toBe('Upgrade complete');
    expect(rel.manifest).toContain('  replicas: 2\n');
    expect(rel.manifest).toContain('image: fake.local/ok:2.0.0\n');
  });

  it('rolls back as a new revision 3 copied from revision 1', () => {
    expect(steps.rollback).toEqual({ code: 0, stdout: 'Rollback was a success! Happy Helming!\n', stderr: '' });
    const v1 = stored(ns, 'web', 1);
    const v3 = stored(ns, 'web', 3);
    expect(v3.manifest).toBe(v1.manifest);
    expect(v3.manifest).toBe(MANIFEST_V1);
    expect(v3.chart).toEqual(v1.chart);
    expect(v3.config).toBeUndefined();
    expect(v3.info.description).toBe('Rollback to 1');
    expect(v3.info.status).toBe('deployed');
    expect(v3.info.first_deployed).toBe(v1.info.first_deployed);
    expect(statuses(ns, 'web')).toEqual({ 1: 'superseded', 2: 'superseded', 3: 'deployed' });
    const d = kube.get('deployment', ns, 'web');
    expect(((((d?.spec as Obj).template as Obj).spec as Obj).containers as Obj[])[0].image).toBe('fake.local/ok:1.0.0');
    expect((d?.spec as Obj).replicas).toBe(1);
  });

  it('prints history -o json in Helm\'s releaseInfo shape, oldest first', () => {
    expect(steps.history.code).toBe(0);
    const rows = JSON.parse(steps.history.stdout) as Array<Record<string, unknown>>;
    for (const r of rows) expect(Object.keys(r)).toEqual(['revision', 'updated', 'status', 'chart', 'app_version', 'description']);
    expect(rows.map(({ updated: _u, ...r }) => r)).toEqual([
      { revision: 1, status: 'superseded', chart: 'web-0.1.0', app_version: '1.0.0', description: 'Install complete' },
      { revision: 2, status: 'superseded', chart: 'web-0.1.0', app_version: '1.0.0', description: 'Upgrade complete' },
      { revision: 3, status: 'deployed', chart: 'web-0.1.0', app_version: '1.0.0', description: 'Rollback to 1' },
    ]);
    expect(rows.map((r) => r.updated)).toEqual([1, 2, 3].map((v) => stored(ns, 'web', v).info.last_deployed));
    for (const r of rows) expect(r.updated).toMatch(RFC3339_NANO);
  });

  it('prints status -o json as the whole release, in the field order of Helm\'s structs', () => {
    expect(steps.status.code).toBe(0);
    expect(steps.status.stdout).toBe(`${storedJson(ns, 'web', 3)}\n`);
    const rel = JSON.parse(steps.status.stdout) as Record<string, Obj>;
    expect(Object.keys(rel)).toEqual(['name', 'info', 'chart', 'manifest', 'version', 'namespace']);
    expect(Object.keys(rel.info)).toEqual(['first_deployed', 'last_deployed', 'deleted', 'description', 'status', 'notes']);
    expect(rel.info).toMatchObject({ deleted: '', description: 'Rollback to 1', status: 'deployed', notes: 'web runs fake.local/ok:1.0.0 in shop.\n' });
    expect(rel.info.first_deployed).toMatch(RFC3339_NANO);
    expect(Object.keys(rel.chart)).toEqual(['metadata', 'lock', 'templates', 'values', 'schema', 'files']);
    expect(rel.chart).toMatchObject({
      metadata: { name: 'web', version: '0.1.0', description: 'A small test chart for the fake helm (a Deployment and its Service).', apiVersion: 'v2', appVersion: '1.0.0', type: 'application' },
      lock: null,
      values: { replicas: 1, image: { repository: 'fake.local/ok', tag: '1.0.0' }, service: { port: 80 } },
      schema: null,
      files: null,
    });
    expect((rel.chart.templates as Array<{ name: string; data: string }>).map((t) => t.name)).toEqual(['templates/NOTES.txt', 'templates/deployment.yaml', 'templates/service.yaml']);
    const svc = (rel.chart.templates as Array<{ name: string; data: string }>)[2];
    expect(Buffer.from(svc.data, 'base64').toString('utf8')).toContain('    - port: {{ .Values.service.port }}\n');
    expect(rel).toMatchObject({ name: 'web', manifest: MANIFEST_V1, version: 3, namespace: 'shop' });
  });

  it('stores one Secret per revision as Helm\'s Secrets driver does', async () => {
    const secrets = kube.list('secret', ns).filter((s) => String(meta(s).name).startsWith('sh.helm.release.'));
    expect(secrets.map((s) => meta(s).name).sort()).toEqual([1, 2, 3].map((v) => secretName('web', v)));
    for (const v of [1, 2, 3]) {
      const s = kube.get('secret', ns, secretName('web', v))!;
      expect(s.type).toBe('helm.sh/release.v1');
      const labels = meta(s).labels as Record<string, string>;
      // Every revision was last written by an update (which drops createdAt and sets modifiedAt).
      expect(Object.keys(labels).sort()).toEqual(['modifiedAt', 'name', 'owner', 'status', 'version']);
      expect(labels).toMatchObject({ name: 'web', owner: 'helm', version: String(v) });
      expect(labels.modifiedAt).toMatch(/^[0-9]{10}$/);
      expect(Object.keys(s.data as Obj)).toEqual(['release']);
      // data.release: the API's base64 of Helm's base64 of gzip (magic 1f 8b 08 → "H4sI").
      expect(Buffer.from(String((s.data as Obj).release), 'base64').toString('utf8')).toMatch(/^H4sI[A-Za-z0-9+/]+=*$/);
      const fromStatus = await helm(['status', 'web', '-n', ns, '--revision', String(v), '-o', 'json']);
      expect(fromStatus.stdout).toBe(`${storedJson(ns, 'web', v)}\n`);
      expect(stored(ns, 'web', v)).toEqual(JSON.parse(fromStatus.stdout));
    }
    expect(stored(ns, 'web', 1).info).toMatchObject({ status: 'superseded', description: 'Install complete', deleted: '' });
    expect(stored(ns, 'web', 1).config).toBeUndefined();
  });

  it('applies the objects server-side as field manager helm, with Helm\'s ownership metadata', () => {
    for (const kind of ['deployment', 'service']) {
      const o = kube.get(kind, ns, 'web');
      expect(meta(o).labels).toMatchObject({ app: 'web', 'app.kubernetes.io/managed-by': 'Helm' });
      expect(meta(o).annotations).toMatchObject({ 'meta.helm.sh/release-name': 'web', 'meta.helm.sh/release-namespace': 'shop' });
      const managers = (meta(o).managedFields as Obj[]).filter((m) => m.manager === 'helm');
      expect(managers.map((m) => m.operation)).toEqual(['Apply']);
    }
    const writes = kube.requestLog.filter((e) => e.namespace === ns && (e.resource === 'deployments' || e.resource === 'services') && e.method !== 'GET');
    expect(new Set(writes.map((e) => `${e.method} ${e.contentType} ${e.query}`))).toEqual(new Set(['PATCH application/apply-patch+yaml fieldManager=helm']));
  });

  it('prints the history table as Helm\'s uitable does', async () => {
    const r = await helm(['history', 'web', '-n', ns, '--max', '2']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('REVISION\tUPDATED                 \tSTATUS    \tCHART    \tAPP VERSION\tDESCRIPTION     ');
    expect(lines[1]).toMatch(/^2       \t[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4}\tsuperseded\tweb-0\.1\.0\t1\.0\.0      \tUpgrade complete$/);
    expect(lines[2]).toMatch(/^3       \t.{24}\tdeployed  \tweb-0\.1\.0\t1\.0\.0      \tRollback to 1   $/);
    expect(lines.slice(3)).toEqual(['']);
  });
});

describe('--wait', () => {
  it('fails an upgrade whose Deployment never becomes ready when --timeout passes; the previous revision stays deployed', async () => {
    const ns = 'slow';
    await kube.namespace(ns);
    expect((await helm(['upgrade', '--install', 'web', CHART, '-n', ns, '--wait'])).code).toBe(0);
    const r = await helm(['upgrade', 'web', CHART, '-n', ns, '--set', 'image.repository=fake.local/never-ready', '--wait', '--timeout', '2s']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'Error: UPGRADE FAILED: context deadline exceeded\n' });
    expect(statuses(ns, 'web')).toEqual({ 1: 'deployed', 2: 'failed' });
    expect(stored(ns, 'web', 2).info.description).toBe('Upgrade "web" failed: context deadline exceeded');
    expect(stored(ns, 'web', 2).config).toEqual({ image: { repository: 'fake.local/never-ready' } });
  });

  it('fails a first install the same way, with the error unprefixed as `upgrade --install` prints it', async () => {
    const ns = 'slow-first';
    await kube.namespace(ns);
    const r = await helm(['upgrade', '--install', 'web', CHART, '-n', ns, '--set', 'image.repository=fake.local/never-ready', '--wait', '--timeout', '2s']);
    expect(r).toEqual({ code: 1, stdout: 'Release "web" does not exist. Installing it now.\n', stderr: 'Error: context deadline exceeded\n' });
    expect(statuses(ns, 'web')).toEqual({ 1: 'failed' });
    expect(stored(ns, 'web', 1).info.description).toBe('Release "web" failed: context deadline exceeded');
    // The objects stay, as Helm leaves them without --atomic.
    expect(kube.get('deployment', ns, 'web')).toBeDefined();
  });

  it('with --atomic rolls a failed upgrade back to the last deployed revision', async () => {
    const ns = 'atomic';
    await kube.namespace(ns);
    expect((await helm(['upgrade', '--install', 'web', CHART, '-n', ns, '--wait'])).code).toBe(0);
    const r = await helm(['upgrade', 'web', CHART, '-n', ns, '--set', 'image.repository=fake.local/never-ready', '--atomic', '--timeout', '3s']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'Error: UPGRADE FAILED: release web failed, and has been rolled back due to atomic being set: context deadline exceeded\n' });
    expect(statuses(ns, 'web')).toEqual({ 1: 'superseded', 2: 'failed', 3: 'deployed' });
    expect(stored(ns, 'web', 3).info.description).toBe('Rollback to 1');
    expect(stored(ns, 'web', 3).manifest).toBe(stored(ns, 'web', 1).manifest);
  });

  it('marks the new revision failed with "context canceled" when helm gets SIGTERM while waiting', async () => {
    const ns = 'cancel';
    await kube.namespace(ns);
    expect((await helm(['upgrade', '--install', 'web', CHART, '-n', ns])).code).toBe(0);
    const child = spawn(FAKE_HELM_BIN, ['upgrade', 'web', CHART, '-n', ns, '--set', 'image.repository=fake.local/never-ready', '--wait', '--timeout', '5m'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, KUBECONFIG: kubeconfig },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    await kube.waitFor(() => kube.get('secret', ns, secretName('web', 2)), { what: 'revision 2 stored', timeoutMs: 60_000 });
    child.kill('SIGTERM');
    expect(await exited).toBe(1);
    expect({ stdout, stderr }).toEqual({ stdout: 'Release web has been cancelled.\n', stderr: 'Error: UPGRADE FAILED: context canceled\n' });
    expect(statuses(ns, 'web')).toEqual({ 1: 'deployed', 2: 'failed' });
    expect(stored(ns, 'web', 2).info.description).toBe('Upgrade "web" failed: context canceled');
  });
});

describe('errors', () => {
  it('a missing chart folder is Helm\'s "path not found", with nothing stored or applied', async () => {
    const ns = 'missing';
    await kube.namespace(ns);
    const r = await helm(['upgrade', '--install', 'web', './no-such-chart', '-n', ns]);
    expect(r).toEqual({ code: 1, stdout: 'Release "web" does not exist. Installing it now.\n', stderr: 'Error: path "./no-such-chart" not found\n' });
    expect(kube.list('secret', ns)).toEqual([]);
    expect(kube.list('deployment', ns)).toEqual([]);
  });

  it('a template the renderer cannot render fails before anything is stored or applied', async () => {
    const ns = 'broken';
    await kube.namespace(ns);
    const chart = join(dir, 'broken-chart');
    await mkdir(join(chart, 'templates'), { recursive: true });
    await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: broken\nversion: 1.0.0\n');
    await writeFile(join(chart, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include "name" . }}\n');
    const r = await helm(['upgrade', '--install', 'broken', chart, '-n', ns, '-o', 'json']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'Error: broken/templates/cm.yaml: the fake chart renderer supports only .Values.*, .Release.Name and .Release.Namespace, not {{ include "name" . }}\n' });
    expect(kube.list('secret', ns)).toEqual([]);
    expect(kube.list('configmap', ns)).toEqual([]);
  });

  it('refuses to take over an object that exists without Helm\'s ownership metadata', async () => {
    const ns = 'owned';
    await kube.namespace(ns);
    kube.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { ports: [{ port: 80 }] } });
    const r = await helm(['upgrade', '--install', 'web', CHART, '-n', ns]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: rendered manifests contain a resource that already exists. Unable to continue with install: Service "web" in namespace "owned" exists and cannot be imported into the current release: invalid ownership metadata; label validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"; annotation validation error: missing key "meta.helm.sh/release-name": must be set to "web"; annotation validation error: missing key "meta.helm.sh/release-namespace": must be set to "owned"\n');
    expect(kube.list('secret', ns)).toEqual([]);
    expect(kube.get('deployment', ns, 'web')).toBeUndefined();
  });

  it('status and history of an unknown release are "release: not found"', async () => {
    expect(await helm(['status', 'nobody', '-n', 'shop', '-o', 'json'])).toEqual({ code: 1, stdout: '', stderr: 'Error: release: not found\n' });
    expect(await helm(['history', 'nobody', '-n', 'shop', '-o', 'json'])).toEqual({ code: 1, stdout: '', stderr: 'Error: release: not found\n' });
    expect(await helm(['upgrade', 'nobody', CHART, '-n', 'shop'])).toEqual({ code: 1, stdout: '', stderr: 'Error: UPGRADE FAILED: "nobody" has no deployed releases\n' });
    expect(await helm(['rollback', 'nobody', '1', '-n', 'shop'])).toEqual({ code: 1, stdout: '', stderr: 'Error: release: not found\n' });
  });

  it('an unreachable cluster is "Kubernetes cluster unreachable"', async () => {
    const other = await kube.writeKubeconfig(dir, { file: 'down-kubeconfig' });
    const text = (await readFile(other, 'utf8')).replace(`127.0.0.1:${kube.port}`, '127.0.0.1:1');
    await writeFile(other, text);
    expect(await helm(['status', 'web', '--kubeconfig', other])).toEqual({ code: 1, stdout: '', stderr: 'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:1/version": dial tcp 127.0.0.1:1: connect: connection refused\n' });
  });

  it('names commands and flags the fake does not have', async () => {
    expect(await helm(['install', 'web', CHART])).toEqual({ code: 1, stdout: '', stderr: 'Error: the fake helm does not support "helm install"\n' });
    const r = await helm(['upgrade', '--install', 'web', CHART, '--force']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: unknown flag: --force \(the fake helm's "upgrade" supports only --kubeconfig, --kube-context, --namespace, --debug, --install, /);
    expect(await helm(['frobnicate'])).toEqual({ code: 1, stdout: '', stderr: 'Error: unknown command "frobnicate" for "helm"\nRun \'helm --help\' for usage.\n' });
    expect(await helm(['status'])).toEqual({ code: 1, stdout: '', stderr: 'Error: "helm status" requires 1 argument\n\nUsage:  helm status RELEASE_NAME [flags]\n' });
    expect(await helm(['upgrade', 'web', CHART, '--timeout', '5 minutes'])).toEqual({ code: 1, stdout: '', stderr: 'Error: invalid argument "5 minutes" for "--timeout" flag: time: unknown unit " minutes" in duration "5 minutes"\n' });
  });
});

describe('the executable', () => {
  it('is a 0755 wrapper that reports Helm\'s version', async () => {
    expect(statSync(FAKE_HELM_BIN).mode & 0o777).toBe(0o755);
    expect(await runHelm(['version', '--short'])).toEqual({ code: 0, stdout: 'v3.16.2+g13654a5\n', stderr: '' });
    expect(await runHelm(['version'])).toEqual({ code: 0, stdout: 'version.BuildInfo{Version:"v3.16.2", GitCommit:"13654a52f7c70a143b1dd51416d633e1071faffb", GitTreeState:"clean", GoVersion:"go1.22.7"}\n', stderr: '' });
  });

  it('logs each argv as a JSON line under FAKE_HELM_LOG', async () => {
    const log = join(dir, 'argv.log');
    await helm(['version', '--short'], { FAKE_HELM_LOG: log });
    await helm(['status', 'web', '--namespace', 'shop', '-o', 'json'], { FAKE_HELM_LOG: log });
    expect(readHelmLog(log)).toEqual([['version', '--short'], ['status', 'web', '--namespace', 'shop', '-o', 'json']]);
  });

  it('fails the commands named in FAKE_HELM_FAIL at once, touching nothing', async () => {
    const ns = 'injected';
    await kube.namespace(ns);
    expect(await helm(['upgrade', '--install', 'web', CHART, '-n', ns], { FAKE_HELM_FAIL: 'upgrade' }))
      .toEqual({ code: 1, stdout: '', stderr: 'Error: injected failure of "helm upgrade" (FAKE_HELM_FAIL)\n' });
    expect(kube.list('secret', ns)).toEqual([]);
    expect(await helm(['-n', ns, 'status', 'web'], { FAKE_HELM_FAIL: 'history,status', FAKE_HELM_FAIL_STDERR: 'Error: Kubernetes cluster unreachable: boom', FAKE_HELM_FAIL_EXIT: '3' }))
      .toEqual({ code: 3, stdout: '', stderr: 'Error: Kubernetes cluster unreachable: boom\n' });
    expect((await helm(['version', '--short'], { FAKE_HELM_FAIL: 'status' })).code).toBe(0);
  });
});

describe('--post-renderer', () => {
  /** A post-renderer script (mode 0755): a `#!` line running node on `body`, which reads stdin. */
  async function script(name: string, body: string): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, `#!${process.execPath}\n${body}\n`, { mode: 0o755 });
    return file;
  }

  it('pipes the rendered manifests through the program and installs what it prints, with its args', async () => {
    const ns = 'post';
    await kube.namespace(ns);
    const seen = join(dir, 'post-seen.txt');
    const pr = await script('label.mjs', [
      "import { readFileSync, writeFileSync } from 'node:fs';",
      'const input = readFileSync(0, "utf8");',
      `writeFileSync(${JSON.stringify(seen)}, input);`,
      'const [key, value] = process.argv.slice(2);',
      'process.stdout.write(input.replace(/\\nmetadata:\\n  name: web\\n/g, `\\nmetadata:\\n  name: web\\n  annotations:\\n    ${key}: ${value}\\n`));',
    ].join('\n'));
    const r = await helm(['upgrade', '--install', 'web', CHART, '-n', ns, '--post-renderer', pr, '--post-renderer-args', 'example.com/by', '--post-renderer-args=post', '--wait']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await readFile(seen, 'utf8')).toBe(MANIFEST_V1);
    const rel = stored(ns, 'web', 1);
    expect(rel.manifest).toBe(MANIFEST_V1.replace(/\nmetadata:\n {2}name: web\n/g, '\nmetadata:\n  name: web\n  annotations:\n    example.com/by: post\n'));
    expect((meta(kube.get('deployment', ns, 'web')).annotations as Record<string, string>)['example.com/by']).toBe('post');
    expect((meta(kube.get('service', ns, 'web')).annotations as Record<string, string>)['example.com/by']).toBe('post');
    // A rollback copies the stored, post-rendered manifest: the renderer does not run again.
    expect((await helm(['rollback', 'web', '1', '-n', ns])).code).toBe(0);
    expect(stored(ns, 'web', 2).manifest).toBe(rel.manifest);
  });

  it('a program that fails stops the upgrade before anything is stored, with Helm\'s wording and its stderr', async () => {
    const ns = 'post-fail';
    await kube.namespace(ns);
    const pr = await script('fail.mjs', 'process.stderr.write("no Deployment here\\n"); process.exit(3);');
    const r = await helm(['upgrade', '--install', 'web', CHART, '-n', ns, '--post-renderer', pr]);
    expect(r).toEqual({ code: 1, stdout: 'Release "web" does not exist. Installing it now.\n', stderr: `Error: error while running post render on files: error while running command ${pr}. error output:\nno Deployment here\n: exit status 3\n` });
    expect(kube.list('secret', ns)).toEqual([]);
    expect(kube.list('deployment', ns)).toEqual([]);
    expect((await helm(['upgrade', '--install', 'web', CHART, '-n', ns])).code).toBe(0);
    const again = await helm(['upgrade', 'web', CHART, '-n', ns, '--post-renderer', pr]);
    expect(again.stderr).toBe(`Error: UPGRADE FAILED: error while running post render on files: error while running command ${pr}. error output:\nno Deployment here\n: exit status 3\n`);
    expect(statuses(ns, 'web')).toEqual({ 1: 'deployed' });
  });

  it('a program that cannot be found is a flag error', async () => {
    const missing = join(dir, 'no-such-renderer');
    expect(await helm(['upgrade', '--install', 'web', CHART, '--post-renderer', missing]))
      .toEqual({ code: 1, stdout: '', stderr: `Error: invalid argument "${missing}" for "--post-renderer" flag: unable to find binary at ${missing}: exec: "${missing}": stat ${missing}: no such file or directory\n` });
    expect(await helm(['upgrade', '--install', 'web', CHART, '--post-renderer', 'no-such-renderer-on-path']))
      .toEqual({ code: 1, stdout: '', stderr: 'Error: invalid argument "no-such-renderer-on-path" for "--post-renderer" flag: unable to find binary at no-such-renderer-on-path: exec: "no-such-renderer-on-path": executable file not found in $PATH\n' });
  });
});
