/**
 * The real kubectl (v1.32) against the FAKE Kubernetes API server: given manifests and a
 * kubeconfig for the fake, when kubectl applies, waits, patches, reads logs and deletes, then
 * its exit codes and output agree with what the fake's controllers did — which is what makes
 * the fake a fair stand-in for a cluster in Gangway's Kubernetes target tests.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeKube, Obj } from './support/fake-kube/index.js';
import { startFakeKube } from './support/fake-kube/index.js';
import { KUBECTL_PACKAGE, hasKubectl, runKubectl } from './support/fake-kube/kubectl.js';
import { requireOrSkip } from './support/require.js';

const available = requireOrSkip('the kubectl-against-fake suite (test/fake-kube.test.ts)', KUBECTL_PACKAGE, hasKubectl());

const meta = (o: Obj): Obj => o.metadata as Obj;

function webManifests(version: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: fake.local/app:${version}
        env:
        - {name: APP_VERSION, value: "${version}"}
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /health, port: http}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
`;
}

describe.skipIf(!available)('kubectl against the fake API server', () => {
  let kube: FakeKube;
  let dir: string;
  let kubeconfig: string;
  const kubectl = (...args: string[]) => runKubectl({ kubeconfig, home: dir }, args);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gangway-fake-kube-'));
    kube = await startFakeKube({ images: { 'fake.local/app': { command: [process.execPath, 'test/fixtures/app.mjs'] } } });
    await kube.namespace('shop');
    kubeconfig = await kube.writeKubeconfig(dir, { namespace: 'shop' });
    await mkdir(join(dir, 'k8s'));
    await writeFile(join(dir, 'k8s', 'web.yaml'), webManifests('1.0.0'));
  });
  afterAll(async () => {
    await kube?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('applies a folder (client-side), and rollout status exits 0 once the controllers finish', async () => {
    expect(await kubectl('apply', '-f', join(dir, 'k8s'))).toEqual({ code: 0, stdout: 'deployment.apps/web created\nservice/web created\n', stderr: '' });
    const status = await kubectl('rollout', 'status', 'deploy/web', '--timeout=60s');
    expect(status.code).toBe(0);
    expect(status.stdout.endsWith('deployment "web" successfully rolled out\n')).toBe(true);
    const got = await kubectl('get', 'deploy', 'web', '-o', 'json');
    expect(got.code).toBe(0);
    const fromKubectl = JSON.parse(got.stdout) as Obj;
    const fromFake = kube.get('deployment', 'shop', 'web') as Obj;
    delete meta(fromFake).managedFields;
    expect(fromKubectl).toEqual(fromFake);
    expect(fromKubectl.status).toMatchObject({ replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, observedGeneration: 1 });
  });

  it('reaches the pods through the API server\'s service proxy, and kubectl logs shows their output', async () => {
    expect(await kubectl('get', '--raw', '/api/v1/namespaces/shop/services/web:http/proxy/health')).toEqual({ code: 0, stdout: '{"status":"UP","version":"1.0.0"}', stderr: '' });
    const logs = await kubectl('logs', 'deploy/web');
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/^app 1\.0\.0 listening on 127\.0\.0\.1:\d+ \(pid \d+\)\n$/);
  });

  it('re-applies a new image: a second ReplicaSet rolls out, revision 2', async () => {
    await writeFile(join(dir, 'k8s', 'web.yaml'), webManifests('1.1.0'));
    expect(await kubectl('apply', '-f', join(dir, 'k8s'))).toEqual({ code: 0, stdout: 'deployment.apps/web configured\nservice/web unchanged\n', stderr: '' });
    const status = await kubectl('rollout', 'status', 'deploy/web', '--timeout=60s');
    expect(status.code).toBe(0);
    expect(status.stdout.endsWith('deployment "web" successfully rolled out\n')).toBe(true);
    const rs = await kubectl('get', 'rs', '-l', 'app=web', '-o', 'json');
    const items = (JSON.parse(rs.stdout) as { items: Obj[] }).items;
    expect(items.map((i) => [(meta(i).annotations as Obj)['deployment.kubernetes.io/revision'], (i.spec as Obj).replicas]).sort()).toEqual([['1', 0], ['2', 3]]);
    expect(await kubectl('get', '--raw', '/api/v1/namespaces/shop/services/web/proxy/health')).toMatchObject({ code: 0, stdout: '{"status":"UP","version":"1.1.0"}' });
  });

  it('server-side applies with field manager "kubectl" and reports another manager\'s conflict', async () => {
    await writeFile(join(dir, 'settings.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n');
    expect(await kubectl('apply', '--server-side', '-f', join(dir, 'settings.yaml'))).toEqual({ code: 0, stdout: 'configmap/settings serverside-applied\n', stderr: '' });
    expect((meta(kube.get('configmap', 'shop', 'settings') as Obj).managedFields as Obj[]).map((e) => [e.manager, e.operation])).toEqual([['kubectl', 'Apply']]);
    await writeFile(join(dir, 'settings.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: slow\n');
    const conflict = await kubectl('apply', '--server-side', '--field-manager=gangway', '-f', join(dir, 'settings.yaml'));
    expect(conflict.code).toBe(1);
    expect(conflict.stderr.split('\n')[0]).toBe('error: Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.mode');
    expect(await kubectl('apply', '--server-side', '--field-manager=gangway', '--force-conflicts', '-f', join(dir, 'settings.yaml'))).toMatchObject({ code: 0, stdout: 'configmap/settings serverside-applied\n' });
    expect((kube.get('configmap', 'shop', 'settings') as Obj).data).toEqual({ mode: 'slow' });
  });

  it('rollout status fails with "exceeded its progress deadline" for pods that never become ready', async () => {
    await writeFile(join(dir, 'stuck.yaml'), `apiVersion: apps/v1
kind: Deployment
metadata:
  name: stuck
spec:
  replicas: 1
  progressDeadlineSeconds: 2
  selector:
    matchLabels: {app: stuck}
  template:
    metadata:
      labels: {app: stuck}
    spec:
      containers:
      - name: web
        image: fake.local/never-ready:1
`);
    expect((await kubectl('apply', '-f', join(dir, 'stuck.yaml'))).code).toBe(0);
    const status = await kubectl('rollout', 'status', 'deploy/stuck', '--timeout=60s');
    expect(status.code).toBe(1);
    expect(status.stderr).toBe('error: deployment "stuck" exceeded its progress deadline\n');
    expect(((kube.get('deployment', 'shop', 'stuck') as Obj).status as { conditions: Obj[] }).conditions.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
  });

  it('waits for a Job to complete, or to fail', async () => {
    const job = (name: string, image: string) => `apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: ${name}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: ${image}\n`;
    await writeFile(join(dir, 'jobs.yaml'), `${job('migrate', 'fake.local/job-ok:1')}---\n${job('broken', 'fake.local/job-fail:1')}`);
    expect(await kubectl('apply', '-f', join(dir, 'jobs.yaml'))).toEqual({ code: 0, stdout: 'job.batch/migrate created\njob.batch/broken created\n', stderr: '' });
    expect(await kubectl('wait', '--for=condition=complete', 'job/migrate', '--timeout=60s')).toEqual({ code: 0, stdout: 'job.batch/migrate condition met\n', stderr: '' });
    expect(await kubectl('logs', 'job/migrate')).toEqual({ code: 0, stdout: 'migration: starting\nmigration: applied 3 changes\nmigration: done\n', stderr: '' });
    expect(await kubectl('wait', '--for=condition=failed', 'job/broken', '--timeout=60s')).toEqual({ code: 0, stdout: 'job.batch/broken condition met\n', stderr: '' });
    const notComplete = await kubectl('wait', '--for=condition=complete', 'job/broken', '--timeout=1s');
    expect(notComplete).toEqual({ code: 1, stdout: '', stderr: 'error: timed out waiting for the condition on jobs/broken\n' });
  });

  it('patches the Service selector with a strategic merge patch (blue-green switch)', async () => {
    expect(await kubectl('patch', 'svc', 'web', '-p', '{"spec":{"selector":{"color":"green"}}}')).toEqual({ code: 0, stdout: 'service/web patched\n', stderr: '' });
    expect(await kubectl('get', 'svc', 'web', '-o', 'jsonpath={.spec.selector}')).toEqual({ code: 0, stdout: '{"app":"web","color":"green"}', stderr: '' });
    expect(((kube.get('service', 'shop', 'web') as Obj).spec as Obj).selector).toEqual({ app: 'web', color: 'green' });
    const none = await kubectl('get', '--raw', '/api/v1/namespaces/shop/services/web/proxy/health');
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('Error from server (ServiceUnavailable): no endpoints available for service "web"\n');
  });

  it('names the verb and resource when RBAC denies, and reports an unknown token', async () => {
    const lift = kube.deny({ verb: 'patch', resource: 'deployments', namespace: 'shop' });
    try {
      expect(await kubectl('annotate', 'deploy', 'web', 'team=a')).toEqual({
        code: 1, stdout: '',
        stderr: 'Error from server (Forbidden): deployments.apps "web" is forbidden: User "fake-admin" cannot patch resource "deployments" in API group "apps" in the namespace "shop"\n',
      });
    } finally { lift(); }
    expect(await kubectl('--token=expired', 'get', 'pods')).toEqual({ code: 1, stdout: '', stderr: 'error: You must be logged in to the server (Unauthorized)\n' });
  });

  it('deletes the Deployment with its ReplicaSets and pods, and stops the processes', async () => {
    // The old release's processes stop within their grace period; the three new ones remain.
    await kube.waitFor(() => kube.pids.length === 3, { what: 'three app processes', timeoutMs: 30_000 });
    expect(await kubectl('delete', 'deploy', 'web')).toEqual({ code: 0, stdout: 'deployment.apps "web" deleted\n', stderr: '' });
    await kube.waitFor(() => kube.list('replicaset', 'shop', { labelSelector: 'app=web' }).length === 0 && kube.list('pod', 'shop', { labelSelector: 'app=web' }).length === 0, { what: 'web ReplicaSets and pods gone', timeoutMs: 30_000 });
    expect(await kubectl('get', 'rs,pods', '-l', 'app=web', '-o', 'name')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(kube.pids).toEqual([]);
  });

  it('renders a kustomize overlay locally and applies it with -k', async () => {
    const base = join(dir, 'kustomize', 'base');
    const overlay = join(dir, 'kustomize', 'overlays', 'production');
    await mkdir(base, { recursive: true });
    await mkdir(overlay, { recursive: true });
    await writeFile(join(base, 'web.yaml'), webManifests('1.0.0'));
    await writeFile(join(base, 'kustomization.yaml'), 'resources:\n- web.yaml\n');
    await writeFile(join(overlay, 'kustomization.yaml'), 'resources:\n- ../../base\nnamePrefix: prod-\nimages:\n- name: fake.local/app\n  newTag: 2.0.0\nreplicas:\n- name: web\n  count: 2\n');
    const rendered = await runKubectl({ home: dir }, ['kustomize', overlay]);
    expect(rendered.code).toBe(0);
    expect(rendered.stdout).toContain('name: prod-web');
    expect(rendered.stdout).toContain('image: fake.local/app:2.0.0');
    expect(await kubectl('apply', '-k', overlay)).toEqual({ code: 0, stdout: 'service/prod-web created\ndeployment.apps/prod-web created\n', stderr: '' });
    const d = kube.get('deployment', 'shop', 'prod-web') as Obj;
    expect((d.spec as Obj).replicas).toBe(2);
    expect((((d.spec as Obj).template as Obj).spec as { containers: Obj[] }).containers[0].image).toBe('fake.local/app:2.0.0');
    expect(kube.errors).toEqual([]);
  });
});
