/**
 * The fake kubelet stops a pod as upstream's does: a container with a preStop hook keeps
 * running while the hook runs, and only then gets SIGTERM; meanwhile the pod is marked for
 * deletion, so the service proxy no longer picks it (an Endpoints/EndpointSlice without it),
 * while the pod proxy still reaches it. A hook that fails is a `FailedPreStopHook` event in
 * upstream's words, and the container is stopped all the same.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeKube, Obj } from './index.js';
import { startFakeKube } from './index.js';

let kube: FakeKube;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fake-kube-prestop-'));
  kube = await startFakeKube({ tls: false, images: { 'fake.local/app': { command: [process.execPath, 'test/fixtures/app.mjs'] } } });
  await kube.namespace('shop');
  kube.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });
});
afterAll(async () => {
  await kube?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const meta = (o: Obj): Obj => o.metadata as Obj;

/** A pod of web running app.mjs as `version`, with `preStop` and more env. */
async function readyPod(name: string, version: string, preStop: Obj, env: Array<{ name: string; value: string }> = []): Promise<Obj> {
  kube.create({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', labels: { app: 'web' } },
    spec: {
      terminationGracePeriodSeconds: 60,
      containers: [{
        name: 'web', image: 'fake.local/app:1', ports: [{ name: 'http', containerPort: 8080 }],
        env: [{ name: 'APP_VERSION', value: version }, ...env],
        readinessProbe: { httpGet: { path: '/health', port: 'http' } },
        lifecycle: { preStop },
      }],
    },
  });
  return kube.waitFor(() => {
    const p = kube.get('pod', 'shop', name);
    const ready = ((p?.status as Obj | undefined)?.conditions as Obj[] | undefined)?.some((c) => c.type === 'Ready' && c.status === 'True');
    return ready ? p : undefined;
  }, { what: `${name} Ready` });
}

describe('preStop hooks', () => {
  it('sleep: the deleted pod serves through the pod proxy, not the service proxy, until the hook ends; a shorter grace period cuts the hook short', async () => {
    const pod = await readyPod('sleeper', '1.0.0', { sleep: { seconds: 600 } });
    expect((await kube.request('/api/v1/namespaces/shop/services/web:80/proxy/')).text).toBe('1.0.0\n');

    expect((await kube.request('/api/v1/namespaces/shop/pods/sleeper', { method: 'DELETE' })).status).toBe(200);
    await kube.waitFor(() => ((kube.get('pod', 'shop', 'sleeper')?.status as Obj).conditions as Obj[]).some((c) => c.type === 'Ready' && c.status === 'False'), { what: 'sleeper not Ready' });
    const svc = await kube.request('/api/v1/namespaces/shop/services/web:80/proxy/');
    expect([svc.status, (svc.json as Obj).message]).toEqual([503, 'no endpoints available for service "web"']);
    const direct = await kube.request('/api/v1/namespaces/shop/pods/sleeper:8080/proxy/');
    expect([direct.status, direct.text]).toEqual([200, '1.0.0\n']);
    expect(kube.logs('shop', 'sleeper')).not.toContain('app: SIGTERM, exiting');

    // Deleted again with 1 s of grace: the hook ends, SIGTERM, and the pod is gone.
    expect((await kube.request('/api/v1/namespaces/shop/pods/sleeper?gracePeriodSeconds=1', { method: 'DELETE' })).status).toBe(200);
    await kube.waitFor(() => !kube.get('pod', 'shop', 'sleeper'), { what: 'sleeper gone', timeoutMs: 30_000 });
    const events = kube.list('event', 'shop').filter((e) => (e.involvedObject as Obj).uid === meta(pod).uid).map((e) => e.reason);
    expect(events).toContain('Killing');
    expect(events).not.toContain('FailedPreStopHook');
  });

  it('exec: the hook runs with the container\'s environment while the app still answers, and SIGTERM follows it', async () => {
    const mark = join(dir, 'answered-during-prestop');
    const hook = `fetch('http://127.0.0.1:' + process.env.PORT + '/').then((r) => r.text()).then((t) => require('node:fs').writeFileSync(process.env.MARK, t))`;
    await readyPod('execer', '2.0.0', { exec: { command: [process.execPath, '-e', hook] } }, [{ name: 'MARK', value: mark }]);

    expect((await kube.request('/api/v1/namespaces/shop/pods/execer', { method: 'DELETE' })).status).toBe(200);
    await kube.waitFor(() => !kube.get('pod', 'shop', 'execer'), { what: 'execer gone', timeoutMs: 30_000 });
    expect(readFileSync(mark, 'utf8')).toBe('2.0.0\n');
  });

  it('exec that fails: a FailedPreStopHook event in upstream\'s words, and the container is stopped all the same', async () => {
    const pod = await readyPod('failer', '3.0.0', { exec: { command: [process.execPath, '-e', 'process.exit(7)'] } });
    const uid = String(meta(pod).uid);

    expect((await kube.request('/api/v1/namespaces/shop/pods/failer', { method: 'DELETE' })).status).toBe(200);
    await kube.waitFor(() => !kube.get('pod', 'shop', 'failer'), { what: 'failer gone', timeoutMs: 30_000 });
    const failed = kube.list('event', 'shop').filter((e) => (e.involvedObject as Obj).uid === uid && e.reason === 'FailedPreStopHook');
    expect(failed.map((e) => [e.type, e.message])).toEqual([[
      'Warning',
      `Exec lifecycle hook ([${process.execPath} -e process.exit(7)]) for Container "web" in Pod "failer_shop(${uid})" failed - error: command '${process.execPath} -e process.exit(7)' exited with 7: , message: ""`,
    ]]);
  });
});
