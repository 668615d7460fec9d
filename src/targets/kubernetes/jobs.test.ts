/**
 * Jobs before the rollout against the FAKE Kubernetes API server (test/support/fake-kube): the
 * migration Job applied once per release, waited for by its conditions as `kubectl wait
 * --for=condition=complete` reads them, its pods' output kept. Images `fake.local/job-ok` and
 * `fake.local/job-fail` print their lines and exit 0 or 1; `fake.local/never-ready` never ends.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKube, type FakeKube } from '../../../test/support/fake-kube/index.js';
import type { KubernetesTargetConfig } from '../../config/kubernetes.js';
import type { KubeConnection } from './api.js';
import { kubeConnector, type KubeConnector } from './connect.js';
import { JOBS_KEPT, jobName, kubeJobStatus, logLines, startKubeJob } from './jobs.js';
import type { JobStatus } from '../target.js';

const FIXTURES = resolve(import.meta.dirname, '../../../test/fixtures/kubernetes-jobs');
const MANIFESTS = resolve(import.meta.dirname, '../../../test/fixtures/kubernetes-e2e/k8s');
const target = { source: { kind: 'manifests', path: MANIFESTS }, kubectl: 'kubectl', deployment: 'web', container: null, image: null } as const;
const who = { service: 'web', environment: 'prod', target };
const D1 = 'd-mxagjlek-9c14aa4f';
let kube: FakeKube;
let dir: string;
let connector: KubeConnector;
let conn: KubeConnection;
let kubeconfig: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gw-kube-jobs-'));
  kube = await startFakeKube();
  await kube.namespace('jobs');
  kubeconfig = await kube.writeKubeconfig(dir, { namespace: 'jobs' });
  connector = kubeConnector({ env: {} });
  conn = await connector.connect({ kubeconfig, context: null, namespace: 'jobs', requestTimeoutMs: 10_000 } as KubernetesTargetConfig);
}, 60_000);

afterAll(async () => {
  await connector?.close();
  await kube?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Polls the Job until it is no longer running (generous: a loaded machine). */
async function settle(name: string): Promise<JobStatus> {
  return settleOn(conn, name);
}

async function settleOn(on: KubeConnection, name: string): Promise<JobStatus> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const s = await kubeJobStatus(on, { name });
    if (s.state !== 'running' || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('jobs.beforeRollout on Kubernetes', () => {
  it('applies the deployment\'s Job once, with its labels and the release filled in; it completes and its pod\'s output is kept', async () => {
    const job = { manifest: join(FIXTURES, 'migrate-ok.yaml'), timeoutMs: 60_000 };
    const first = await startKubeJob(conn, who, job, { version: '2.0.0', image: 'shop/web:2.0.0' }, D1);
    expect(first).toEqual({ name: jobName('migration-job', '2.0.0', D1) });
    expect(first.name).toMatch(/^migration-job-[0-9a-f]{8}$/);
    // Asked again (a resumed step): the same Job, not a second one.
    expect(await startKubeJob(conn, who, job, { version: '2.0.0', image: 'shop/web:2.0.0' }, D1)).toEqual(first);
    expect(kube.list('job', 'jobs').map((j) => (j.metadata as { name: string }).name)).toEqual([first.name]);
    const applied = kube.get('job', 'jobs', first.name)!;
    expect((applied.metadata as { labels: Record<string, string> }).labels).toMatchObject({
      'gangway.io/service': 'web', 'gangway.io/environment': 'prod', 'gangway.io/release': '2.0.0', 'gangway.io/job-base': 'migration-job',
    });
    expect((applied.metadata as { annotations: Record<string, string> }).annotations).toMatchObject({ 'gangway.io/version': '2.0.0', 'gangway.io/deployment': D1 });
    const container = ((applied.spec as { template: { spec: { containers: Array<{ args: string[] }> } } }).template.spec.containers[0])!;
    expect(container.args).toEqual(['--release=2.0.0']);

    const end = await settle(first.name);
    expect(end.state).toBe('succeeded');
    expect(end.reason).toBe(`job ${first.name} completed`);
    expect(end.logs.map((l) => l.lines)).toEqual([['migration: starting', 'migration: applied 3 changes', 'migration: done']]);
  }, 90_000);

  it('reports a failed Job with the reason of its Failed condition and the failing pod\'s output', async () => {
    const { name } = await startKubeJob(conn, who, { manifest: join(FIXTURES, 'migrate-fail.yaml'), timeoutMs: 60_000 }, { version: '2.1.0', image: null }, D1);
    const end = await settle(name);
    expect([end.state, end.reason]).toEqual(['failed', `job ${name} failed: BackoffLimitExceeded: Job has reached the specified backoff limit`]);
    expect(end.logs.at(-1)!.lines).toEqual(['migration: starting', 'migration: error: relation "users" already exists', 'migration: failed']);
  }, 90_000);

  it('keeps the output of the newest 3 pods of a Job that retried', async () => {
    const { name } = await startKubeJob(conn, who, { manifest: join(FIXTURES, 'migrate-retries.yaml'), timeoutMs: 60_000 }, { version: '2.1.1', image: null }, D1);
    const end = await settle(name);
    expect([end.state, end.reason]).toEqual(['failed', `job ${name} failed: BackoffLimitExceeded: Job has reached the specified backoff limit`]);
    const pods = kube.list('pod', 'jobs').filter((p) => (p.metadata as { labels?: Record<string, string> }).labels?.['gangway.io/job'] === name);
    expect(pods).toHaveLength(4);
    expect(end.logs).toHaveLength(3);
    expect(new Set(end.logs.map((l) => l.pod)).size).toBe(3);
    for (const l of end.logs) expect(l.lines).toEqual(['migration: starting', 'migration: error: relation "users" already exists', 'migration: failed']);
  }, 90_000);

  it('keeps reporting a Job that has not finished as running, with its pod counts', async () => {
    const { name } = await startKubeJob(conn, who, { manifest: join(FIXTURES, 'migrate-hangs.yaml'), timeoutMs: 1000 }, { version: '2.2.0', image: null }, D1);
    await kube.waitFor(() => ((kube.get('job', 'jobs', name)?.status ?? {}) as { active?: number }).active === 1, { what: 'the Job active', timeoutMs: 60_000 });
    expect(await kubeJobStatus(conn, { name })).toEqual({ state: 'running', reason: `job ${name}: 1 active, 0 succeeded, 0 failed pods`, logs: [] });
    // Asked for them (the step gave up waiting), the running pod's output comes too.
    const pod = await kube.waitFor(() => kube.list('pod', 'jobs', { labelSelector: `gangway.io/job=${name}` })[0], { what: 'the pod', timeoutMs: 60_000 });
    const withLogs = await kubeJobStatus(conn, { name }, { logs: true });
    expect([withLogs.state, withLogs.logs.map((l) => l.pod)]).toEqual(['running', [(pod.metadata as { name: string }).name]]);
  }, 90_000);

  it('runs a Job per deployment: the same release deployed again after a failed Job gets a new Job, not the failed one', async () => {
    const job = { manifest: join(FIXTURES, 'migrate-fail.yaml'), timeoutMs: 60_000 };
    const failed = await startKubeJob(conn, who, job, { version: '2.3.0', image: null }, 'd-first');
    expect((await settle(failed.name)).state).toBe('failed');
    const again = await startKubeJob(conn, who, job, { version: '2.3.0', image: null }, 'd-second');
    expect(again.name).not.toBe(failed.name);
    expect(again.name).toBe(jobName('migration-job', '2.3.0', 'd-second'));
    expect(kube.get('job', 'jobs', again.name)?.status).not.toMatchObject({ failed: 1 });
  }, 90_000);

  it('fills ${release.image} with the image the release\'s Deployment gets when the deployment names none', async () => {
    const job = { manifest: join(FIXTURES, 'migrate-app-image.yaml'), timeoutMs: 60_000 };
    const image = (name: string) => ((kube.get('job', 'jobs', name)!.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers[0]!.image);
    // The manifest's fake.local/app:0.0.0 with the version as its tag, as web's pods get it.
    expect(image((await startKubeJob(conn, who, job, { version: '3.0.0', image: null }, D1)).name)).toBe('fake.local/app:3.0.0');
    expect(image((await startKubeJob(conn, { ...who, target: { ...target, image: 'registry.local/web' } }, job, { version: '3.0.1', image: null }, D1)).name)).toBe('registry.local/web:3.0.1');
    expect(image((await startKubeJob(conn, who, job, { version: '3.0.2', image: 'registry.local/web@sha256:ab' }, D1)).name)).toBe('registry.local/web@sha256:ab');
  }, 90_000);

  it(`keeps the newest ${JOBS_KEPT} finished Jobs of a manifest and deletes older ones; a running Job stays`, async () => {
    await kube.namespace('prune');
    const pruneConn = await connector.connect({ kubeconfig, context: null, namespace: 'prune', requestTimeoutMs: 10_000 } as KubernetesTargetConfig);
    const job = { manifest: join(FIXTURES, 'migrate-ok.yaml'), timeoutMs: 60_000 };
    const names: string[] = [];
    for (let i = 0; i < JOBS_KEPT + 2; i++) {
      const { name } = await startKubeJob(pruneConn, who, job, { version: `4.0.${i}`, image: null }, `d-${i}`);
      names.push(name);
      // Finished before the next one starts, so creation order is the order of finishing.
      expect((await settleOn(pruneConn, name)).state).toBe('succeeded');
    }
    // Each start prunes before its own Job finishes: the last start saw 6 finished and deleted the oldest.
    const left = kube.list('job', 'prune').map((j) => (j.metadata as { name: string }).name).sort();
    expect(left).toEqual(names.slice(1).sort());
  }, 180_000);

  it('refuses a manifest that is not one Job, naming the file and what it holds', async () => {
    await expect(startKubeJob(conn, who, { manifest: join(FIXTURES, 'not-a-job.yaml'), timeoutMs: 1000 }, { version: '1.0.0', image: null }, D1))
      .rejects.toThrow(`${join(FIXTURES, 'not-a-job.yaml')}: expected exactly one Job, found ConfigMap not-a-job`);
    await expect(startKubeJob(conn, who, { manifest: join(FIXTURES, 'missing.yaml'), timeoutMs: 1000 }, { version: '1.0.0', image: null }, D1))
      .rejects.toThrow(`jobs.beforeRollout: cannot read ${join(FIXTURES, 'missing.yaml')}: no such file`);
  });
});

describe('job names and logs', () => {
  it('names a deployment\'s Job after the manifest\'s, cut so the whole is a 63-character DNS label', () => {
    expect(jobName('migration-job', '2.0.0', D1)).toMatch(/^migration-job-[0-9a-f]{8}$/);
    expect(jobName('migration-job', '2.0.0', D1)).toBe(jobName('migration-job', '2.0.0', D1));
    expect(jobName('migration-job', '2.0.1', D1)).not.toBe(jobName('migration-job', '2.0.0', D1));
    expect(jobName('migration-job', '2.0.0', 'd-other')).not.toBe(jobName('migration-job', '2.0.0', D1));
    const long = jobName(`${'a'.repeat(53)}-b`, '2.0.0', D1);
    expect([long.length, long.slice(0, 54)]).toEqual([62, `${'a'.repeat(53)}-`]);
    expect(long).toMatch(/^a{53}-[0-9a-f]{8}$/);
    expect(jobName('x'.repeat(80), '2.0.0', D1)).toHaveLength(63);
  });

  it('keeps the last 100 non-empty lines of a pod, each cut to 500 characters', () => {
    expect(logLines('migration: starting\n\nmigration: done\n')).toEqual(['migration: starting', 'migration: done']);
    const many = Array.from({ length: 150 }, (_, i) => `line ${i}`).join('\n');
    expect(logLines(many)).toEqual(Array.from({ length: 100 }, (_, i) => `line ${i + 50}`));
    expect(logLines('x'.repeat(520))).toEqual([`${'x'.repeat(500)}… (20 more characters)`]);
  });
});
