/**
 * The fake's controllers and kubelet do what upstream's do, observed through the objects they
 * write: rolling updates within maxSurge/maxUnavailable, Recreate, revisions (a template that
 * comes back takes a new revision), revisionHistoryLimit, pause, the progress deadline, Jobs
 * with backoffLimit, crash loops and pull errors, real processes restarted and stopped, and
 * cascading deletion in every propagation mode.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATCH_TYPES } from './api.js';
import { fenceposts } from './controllers/deployment.js';
import type { FakeKube, Obj } from './index.js';
import { startFakeKube } from './index.js';
import { resolveKind } from './resources.js';
import type { StoreEvent } from './store.js';

let kube: FakeKube;
beforeAll(async () => {
  kube = await startFakeKube({ tls: false, images: { 'fake.local/app': { command: [process.execPath, 'test/fixtures/app.mjs'] } } });
});
afterAll(async () => { await kube?.close(); });

const DEPLOY = resolveKind('deployment');
const meta = (o: Obj): Obj => o.metadata as Obj;
const status = (o: Obj | undefined): Obj => ((o?.status ?? {}) as Obj);
const cond = (o: Obj | undefined, type: string): Obj | undefined => ((status(o).conditions ?? []) as Obj[]).find((c) => c.type === type);

function deployment(ns: string, name: string, image: string, spec: Obj = {}): Obj {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns },
    spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'web', image }] } }, ...spec },
  };
}

function setImage(ns: string, name: string, image: string): void {
  kube.api.patch(DEPLOY, ns, name, PATCH_TYPES.strategic, JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'web', image }] } } } }), { fieldManager: 'test' });
}

/** Resolves when the Deployment is rolled out by kubectl's rules. */
function rolledOut(ns: string, name: string, timeoutMs = 30_000): Promise<Obj> {
  return kube.waitFor(() => {
    const d = kube.get('deployment', ns, name);
    if (!d) return undefined;
    const s = status(d);
    const want = Number((d.spec as Obj).replicas);
    const done = Number(s.observedGeneration ?? 0) >= Number(meta(d).generation) && Number(s.updatedReplicas ?? 0) === want && Number(s.replicas ?? 0) === want && Number(s.availableReplicas ?? 0) === want;
    return done ? d : undefined;
  }, { what: `${ns}/${name} rolled out`, timeoutMs });
}

function replicaSets(ns: string, app: string): Obj[] {
  return kube.list('replicaset', ns, { labelSelector: `app=${app}` });
}

describe('maxSurge / maxUnavailable resolution', () => {
  it('rounds surge up and unavailability down, and never lets both be 0', () => {
    const d = (replicas: number, maxSurge: unknown, maxUnavailable: unknown): Obj => ({ spec: { replicas, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } } } });
    expect(fenceposts(d(10, '25%', '25%'))).toEqual([3, 2]);
    expect(fenceposts(d(3, '10%', '10%'))).toEqual([1, 0]);
    expect(fenceposts(d(4, 0, '10%'))).toEqual([0, 1]);
    expect(fenceposts(d(4, 2, 0))).toEqual([2, 0]);
  });
});

describe('Deployment controller', () => {
  it('rolls out within maxSurge=1, maxUnavailable=0 and bumps revisions; an old template takes a new revision', async () => {
    await kube.namespace('roll');
    kube.create(deployment('roll', 'web', 'fake.local/ok:v1', { replicas: 4, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
    await rolledOut('roll', 'web');
    const violations: string[] = [];
    const rsRt = resolveKind('replicaset');
    const unsubscribe = kube.api.store.subscribe((e: StoreEvent) => {
      if (e.namespace !== 'roll') return;
      const rss = kube.api.select(rsRt, 'roll');
      const total = rss.reduce((n, rs) => n + Number((rs.spec as Obj).replicas ?? 0), 0);
      const available = rss.reduce((n, rs) => n + Number(status(rs).availableReplicas ?? 0), 0);
      if (total > 5) violations.push(`rs replicas ${total} > 5`);
      if (available < 4) violations.push(`available ${available} < 4`);
    });
    try {
      setImage('roll', 'web', 'fake.local/ok:v2');
      const d = await rolledOut('roll', 'web');
      expect(violations).toEqual([]);
      expect((meta(d).annotations as Obj)['deployment.kubernetes.io/revision']).toBe('2');
    } finally { unsubscribe(); }
    const v2 = replicaSets('roll', 'web').find((rs) => Number((rs.spec as Obj).replicas) === 4) as Obj;
    expect((meta(v2).annotations as Obj)['deployment.kubernetes.io/revision']).toBe('2');
    const hash = (meta(v2).labels as Obj)['pod-template-hash'];
    expect(meta(v2).name).toBe(`web-${String(hash)}`);
    expect(((v2.spec as Obj).selector as Obj).matchLabels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(kube.list('pod', 'roll').filter((p) => !meta(p).deletionTimestamp).every((p) => (meta(p).labels as Obj)['pod-template-hash'] === hash)).toBe(true);

    setImage('roll', 'web', 'fake.local/ok:v1');
    const back = await rolledOut('roll', 'web');
    expect((meta(back).annotations as Obj)['deployment.kubernetes.io/revision']).toBe('3');
    const rss = replicaSets('roll', 'web');
    expect(rss.length).toBe(2);
    const v1 = rss.find((rs) => Number((rs.spec as Obj).replicas) === 4) as Obj;
    expect(meta(v1).annotations).toMatchObject({ 'deployment.kubernetes.io/revision': '3', 'deployment.kubernetes.io/revision-history': '1' });
    expect(cond(back, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${String(meta(v1).name)}" has successfully progressed.` });
    expect(cond(back, 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' });
    expect(status(back).observedGeneration).toBe(meta(back).generation);
    expect(kube.list('event', 'roll').some((e) => e.reason === 'ScalingReplicaSet' && /^Scaled up replica set web-\w+ from 0 to 1$/.test(String(e.message)))).toBe(true);
  });

  it('Recreate removes every old pod before the new ReplicaSet has any', async () => {
    await kube.namespace('recreate');
    kube.create(deployment('recreate', 'web', 'fake.local/ok:v1', { replicas: 3, strategy: { type: 'Recreate' } }));
    await rolledOut('recreate', 'web');
    const oldHash = (meta(replicaSets('recreate', 'web')[0]).labels as Obj)['pod-template-hash'];
    const overlap: string[] = [];
    const podRt = resolveKind('pod');
    const unsubscribe = kube.api.store.subscribe((e) => {
      if (e.namespace !== 'recreate' || e.typeKey !== '/pods' || e.type !== 'ADDED') return;
      const old = kube.api.select(podRt, 'recreate').filter((p) => (meta(p).labels as Obj)['pod-template-hash'] === oldHash);
      if (old.length) overlap.push(`${String(meta(e.object).name)} created while ${old.length} old pods exist`);
    });
    try {
      setImage('recreate', 'web', 'fake.local/ok:v2');
      await rolledOut('recreate', 'web');
    } finally { unsubscribe(); }
    expect(overlap).toEqual([]);
  });

  it('keeps revisionHistoryLimit old ReplicaSets', async () => {
    await kube.namespace('history');
    kube.create(deployment('history', 'web', 'fake.local/ok:v1', { replicas: 1, revisionHistoryLimit: 1 }));
    await rolledOut('history', 'web');
    for (const v of ['v2', 'v3']) {
      setImage('history', 'web', `fake.local/ok:${v}`);
      await rolledOut('history', 'web');
    }
    const rss = await kube.waitFor(() => { const l = replicaSets('history', 'web'); return l.length === 2 ? l : undefined; }, { what: 'two ReplicaSets left' });
    expect(rss.map((rs) => (meta(rs).annotations as Obj)['deployment.kubernetes.io/revision']).sort()).toEqual(['2', '3']);
  });

  it('does not roll out while paused, and resumes', async () => {
    await kube.namespace('paused');
    kube.create(deployment('paused', 'web', 'fake.local/ok:v1'));
    await rolledOut('paused', 'web');
    kube.api.patch(DEPLOY, 'paused', 'web', PATCH_TYPES.merge, JSON.stringify({ spec: { paused: true } }), {});
    setImage('paused', 'web', 'fake.local/ok:v2');
    const paused = await kube.waitFor(() => { const d = kube.get('deployment', 'paused', 'web'); return cond(d, 'Progressing')?.reason === 'DeploymentPaused' ? d : undefined; }, { what: 'paused condition' });
    expect(cond(paused, 'Progressing')).toMatchObject({ status: 'Unknown', message: 'Deployment is paused' });
    await kube.tick();
    expect(replicaSets('paused', 'web').length).toBe(1);
    kube.api.patch(DEPLOY, 'paused', 'web', PATCH_TYPES.merge, JSON.stringify({ spec: { paused: null } }), {});
    await rolledOut('paused', 'web');
    expect(replicaSets('paused', 'web').length).toBe(2);
  });

  it('marks ProgressDeadlineExceeded when new pods never become ready', async () => {
    await kube.namespace('deadline');
    kube.create(deployment('deadline', 'web', 'fake.local/never-ready:v1', { progressDeadlineSeconds: 1 }));
    // On a loaded machine the 1 s deadline can pass before the ReplicaSet has made its pods (as on a
    // real cluster): wait until the status counts them too; the condition stays once set.
    const d = await kube.waitFor(() => {
      const x = kube.get('deployment', 'deadline', 'web');
      return cond(x, 'Progressing')?.reason === 'ProgressDeadlineExceeded' && status(x).replicas === 2 ? x : undefined;
    }, { what: 'deadline exceeded with both pods counted', timeoutMs: 20_000 });
    const rs = replicaSets('deadline', 'web')[0];
    expect(cond(d, 'Progressing')).toMatchObject({ status: 'False', message: `ReplicaSet "${String(meta(rs).name)}" has timed out progressing.` });
    expect(cond(d, 'Available')).toMatchObject({ status: 'False', reason: 'MinimumReplicasUnavailable' });
    expect(status(d)).toMatchObject({ replicas: 2, updatedReplicas: 2, unavailableReplicas: 2 });
    expect(status(d).readyReplicas).toBeUndefined();
  });
});

describe('Job controller', () => {
  it('completes a job-ok Job and fails a job-fail Job after backoffLimit', async () => {
    await kube.namespace('jobs');
    const job = (name: string, image: string): Obj => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: 'jobs' }, spec: { backoffLimit: 1, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image }] } } } });
    kube.create(job('ok', 'fake.local/job-ok:1'));
    kube.create(job('bad', 'fake.local/job-fail:1'));
    const ok = await kube.waitFor(() => { const j = kube.get('job', 'jobs', 'ok'); return cond(j, 'Complete')?.status === 'True' ? j : undefined; }, { what: 'job complete' });
    expect(status(ok)).toMatchObject({ succeeded: 1, ready: 0 });
    expect(cond(ok, 'Complete')).toMatchObject({ reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' });
    const pod = kube.list('pod', 'jobs', { labelSelector: 'job-name=ok' })[0];
    expect(kube.logs('jobs', String(meta(pod).name))).toEqual(['migration: starting', 'migration: applied 3 changes', 'migration: done']);
    const bad = await kube.waitFor(() => { const j = kube.get('job', 'jobs', 'bad'); return cond(j, 'Failed')?.status === 'True' ? j : undefined; }, { what: 'job failed' });
    expect(status(bad).failed).toBe(2);
    expect(cond(bad, 'Failed')).toMatchObject({ reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    const failedPod = kube.list('pod', 'jobs', { labelSelector: 'job-name=bad' })[0];
    expect(status(failedPod).phase).toBe('Failed');
    expect((((status(failedPod).containerStatuses as Obj[])[0].state as Obj).terminated as Obj)).toMatchObject({ exitCode: 1, reason: 'Error' });
  });
});

describe('fake kubelet', () => {
  it('crash-loops with a climbing restartCount, and alternates ErrImagePull / ImagePullBackOff', async () => {
    await kube.namespace('kubelet');
    kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'crash', namespace: 'kubelet' }, spec: { containers: [{ name: 'c', image: 'fake.local/crashloop:1' }] } });
    kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pull', namespace: 'kubelet' }, spec: { containers: [{ name: 'c', image: 'registry.example/unknown:1' }] } });
    const seen = new Set<string>();
    const crash = await kube.waitFor(() => {
      const p = kube.get('pod', 'kubelet', 'crash');
      const cs = (status(p).containerStatuses as Obj[] | undefined)?.[0];
      const w = (cs?.state as Obj | undefined)?.waiting as Obj | undefined;
      if (w) seen.add(String(w.reason));
      return Number(cs?.restartCount ?? 0) >= 2 && seen.has('CrashLoopBackOff') ? p : undefined;
    }, { what: 'crash loop', timeoutMs: 20_000 });
    expect(status(crash).phase).toBe('Running');
    expect(((status(crash).containerStatuses as Obj[])[0].lastState as Obj).terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    const reasons = new Set<string>();
    await kube.waitFor(() => {
      const w = (((status(kube.get('pod', 'kubelet', 'pull')).containerStatuses as Obj[] | undefined)?.[0]?.state as Obj | undefined)?.waiting as Obj | undefined);
      if (w) reasons.add(String(w.reason));
      return reasons.has('ErrImagePull') && reasons.has('ImagePullBackOff');
    }, { what: 'pull errors', intervalMs: 20 });
    expect(status(kube.get('pod', 'kubelet', 'pull')).phase).toBe('Pending');
    expect(cond(kube.get('pod', 'kubelet', 'pull'), 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [c]' });
  });

  it('restarts an exited app process and stops it with SIGTERM, then SIGKILL after the grace period', async () => {
    await kube.namespace('procs');
    const pod = (name: string, env: Obj[]): Obj => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'procs' }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'fake.local/app:2', env, readinessProbe: { httpGet: { path: '/health', port: 8080 } } }] } });
    kube.create(pod('app', [{ name: 'APP_VERSION', value: '2.0.0' }]));
    kube.create(pod('stubborn', [{ name: 'IGNORE_SIGTERM', value: '1' }]));
    const ready = (name: string) => kube.waitFor(() => cond(kube.get('pod', 'procs', name), 'Ready')?.status === 'True', { what: `${name} ready`, timeoutMs: 20_000 });
    await ready('app');
    await ready('stubborn');
    expect((await kube.request('/api/v1/namespaces/procs/pods/app/proxy/crash')).text).toBe('crashing\n');
    const restarted = await kube.waitFor(() => {
      const cs = (status(kube.get('pod', 'procs', 'app')).containerStatuses as Obj[])[0];
      return cs.restartCount === 1 && cs.ready === true ? cs : undefined;
    }, { what: 'restart', timeoutMs: 20_000 });
    expect((restarted.lastState as Obj).terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect((await kube.request('/api/v1/namespaces/procs/pods/app/log?previous=true')).text).toMatch(/^app 2\.0\.0 listening on 127\.0\.0\.1:\d+ \(pid \d+\)\n$/);
    const pidsBefore = kube.pids.length;
    expect(pidsBefore).toBe(2);
    const appLog: string[] = [];
    const from = kube.requestLog.length;
    const follow = kube.request('/api/v1/namespaces/procs/pods/app/log?follow=true').then((r) => { appLog.push(r.text); });
    await kube.waitFor(() => kube.requestLog.slice(from).some((r) => r.resource === 'pods/log' && r.status === 200), { what: 'log follow started' });
    kube.api.delete(resolveKind('pod'), 'procs', 'app', {});
    kube.api.delete(resolveKind('pod'), 'procs', 'stubborn', {});
    await kube.waitFor(() => !kube.get('pod', 'procs', 'app') && !kube.get('pod', 'procs', 'stubborn'), { what: 'pods gone', timeoutMs: 20_000 });
    await follow;
    expect(appLog[0]).toMatch(/app: SIGTERM, exiting\n$/);
    expect(kube.pids).toEqual([]);
  });
});

describe('garbage collection', () => {
  it('deletes dependents in the background, in the foreground, or orphans them', async () => {
    await kube.namespace('gc');
    for (const name of ['bg', 'fg', 'orphan']) kube.create(deployment('gc', name, 'fake.local/ok:v1', { replicas: 1 }));
    for (const name of ['bg', 'fg', 'orphan']) await rolledOut('gc', name);
    kube.api.delete(DEPLOY, 'gc', 'bg', { propagationPolicy: 'Background' });
    expect(kube.get('deployment', 'gc', 'bg')).toBeUndefined();
    await kube.waitFor(() => replicaSets('gc', 'bg').length === 0 && kube.list('pod', 'gc', { labelSelector: 'app=bg' }).length === 0, { what: 'bg dependents gone' });

    const fg = kube.api.delete(DEPLOY, 'gc', 'fg', { propagationPolicy: 'Foreground' }) as Obj;
    expect(meta(fg).finalizers).toEqual(['foregroundDeletion']);
    await kube.waitFor(() => !kube.get('deployment', 'gc', 'fg'), { what: 'fg owner gone' });
    expect(replicaSets('gc', 'fg')).toEqual([]);
    expect(kube.list('pod', 'gc', { labelSelector: 'app=fg' }).filter((p) => !meta(p).deletionTimestamp)).toEqual([]);

    kube.api.delete(DEPLOY, 'gc', 'orphan', { propagationPolicy: 'Orphan' });
    await kube.tick();
    const rs = replicaSets('gc', 'orphan');
    expect(rs.length).toBe(1);
    expect(meta(rs[0]).ownerReferences).toBeUndefined();
    expect(kube.list('pod', 'gc', { labelSelector: 'app=orphan' }).length).toBe(1);
  });

  it('empties and removes a deleted namespace, refusing new content meanwhile', async () => {
    await kube.namespace('doomed');
    kube.create(deployment('doomed', 'web', 'fake.local/ok:v1', { replicas: 1 }));
    await rolledOut('doomed', 'web');
    // An object with a finalizer of the test's own holds the namespace in Terminating until the
    // test lets go, so the controllers cannot finish the removal before the request below.
    const held = await kube.request('/api/v1/namespaces/doomed/configmaps', { method: 'POST', body: { metadata: { name: 'hold', finalizers: ['example.com/hold'] } } });
    expect(held.status).toBe(201);
    kube.api.delete(resolveKind('namespace'), '', 'doomed', {});
    expect(status(kube.get('namespace', '', 'doomed')).phase).toBe('Terminating');
    const res = await kube.request('/api/v1/namespaces/doomed/configmaps', { method: 'POST', body: { metadata: { name: 'late' } } });
    expect(res.json).toMatchObject({ code: 403, reason: 'Forbidden', message: 'configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated' });
    await kube.waitFor(() => meta(kube.get('configmap', 'doomed', 'hold')!).deletionTimestamp, { what: 'hold marked for deletion' });
    expect(kube.get('namespace', '', 'doomed')).toBeDefined();
    const released = await kube.request('/api/v1/namespaces/doomed/configmaps/hold', { method: 'PATCH', contentType: 'application/merge-patch+json', body: { metadata: { finalizers: null } } });
    expect(released.status).toBe(200);
    await kube.waitFor(() => !kube.get('namespace', '', 'doomed'), { what: 'namespace gone', timeoutMs: 20_000 });
    expect(kube.list('pod', 'doomed')).toEqual([]);
    expect(kube.errors).toEqual([]);
  });
});
