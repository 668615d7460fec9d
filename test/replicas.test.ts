/**
 * Replicas on one PostgreSQL store, through the real product: two `gangway up` processes (one
 * on server.port, one with --listen) sharing embedded PostgreSQL, the local agent, a webhook
 * receiver and a bare Git remote for records.
 * - both answer /readyz and serve the API; a client streaming events from one sees what the
 *   other did;
 * - deployments of two services requested through both run side by side; the replica that
 *   started first (the background leader, driving deployments too) is killed with SIGKILL
 *   while two deployments are held in a step, and the other finishes them: every step
 *   succeeded once, every deployment ended once;
 * - notifications and records happened once across replicas, checked where they arrive:
 *   one delivery per (event, deployment) at the receiver, one record per deployment in the
 *   remote;
 * - a third replica with another config is refused naming the key, and one on an address in
 *   use is refused, neither changing anything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APP, CLI, freePorts, makeProject, projectHeader, runCli, sleep, waitForEnd, type Project } from './support/gangway.js';
import { startPostgresOrSkip } from './support/postgres.js';
import { Receiver } from './support/notify-world.js';
import { git, makeRepos, requireGit, type Repos } from './support/git-repos.js';

const LIMIT_MS = 300_000;
const server = await startPostgresOrSkip('replicas on PostgreSQL');
const haveGit = await requireGit('replicas on PostgreSQL (records)');
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await server?.stop();
}, LIMIT_MS);

interface View { id: string; phase: string; steps: Array<{ idx: number; status: string }> }
interface Ev { id: number; type: string; deploymentId: string | null; data: { idx?: number; to?: string } }

function yamlFor(p: { api: number; metrics: number }, o: { url: string; repos: Repos; hook: string; holds: string; ports: number[]; watch?: string }): string {
  const service = (name: string, port: number) => `
  ${name}:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", HEALTH_FILE: "${o.holds}/unhealthy-${name}-\${release.version}" }
        instances: 1
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, failureThreshold: 3, startTimeout: 10m }
    strategy: { rolling: {} }
    rollback: { watch: ${o.watch ?? '1s'} }`;
  return `${projectHeader('replicas', p)}store: { postgres: { url: "${o.url}" } }
records:
  repo: "${o.repos.work}"
  remote: origin
  branch: main
notifications:
  - name: ops
    webhook: { url: "${o.hook}" }
    events: [started, succeeded]
environments:
  dev: {}
services:${service('web', o.ports[0]!)}${service('api', o.ports[1]!)}
`;
}

/** `gangway up --listen` in the project's folder; resolves once its API answers. */
async function replica(dir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, '-C', dir, 'up', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GANGWAY_LOG_LEVEL: 'warn' } });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`replica on ${port} exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`replica on ${port} did not answer: ${out}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      await r.arrayBuffer();
      if (r.ok) return child;
    } catch { /* not yet */ }
    await sleep(50);
  }
}

async function api<T>(port: number, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, 'x-gangway-actor': 'e2e', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() as T };
}

/** Reads the event stream of `port` into `into` until aborted. */
async function stream(port: number, token: string, into: Ev[], signal: AbortSignal): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${port}/v1/events/stream`, { headers: { authorization: `Bearer ${token}` }, signal });
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of r.body!) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (data && !frame.startsWith('event:')) into.push(JSON.parse(data.slice(6)) as Ev);
      }
    }
  } catch { /* aborted */ }
}

async function until(what: string, ok: () => Promise<boolean> | boolean, limitMs = 120_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(!server || !haveGit)('replicas on one PostgreSQL store', () => {
  it('share the work: one replica killed, the other finishes; notifications and records once; events stream across; other configs refused', async () => {
    const repos = await makeRepos();
    cleanups.push(() => repos.remove());
    const receiver = await Receiver.start();
    cleanups.push(() => receiver.close());
    const holds = mkdtempSync(join(tmpdir(), 'gangway-holds-'));
    cleanups.push(() => rmSync(holds, { recursive: true, force: true }));
    const ports = await freePorts(3);
    const url = await server!.createDatabase();
    const opts = { url, repos, hook: receiver.url, holds, ports };
    const a: Project = await makeProject((p) => yamlFor(p, opts));
    cleanups.push(() => a.cleanup());
    await a.up();
    const token = a.token();
    const bPort = ports[2]!;
    const b = await replica(a.dir, bPort);
    cleanups.push(() => { if (b.exitCode === null) b.kill('SIGKILL'); });

    expect((await fetch(`http://127.0.0.1:${a.apiPort}/readyz`).then((r) => r.json()))).toMatchObject({ ok: true, problems: [] });

    const seenOnB: Ev[] = [];
    const ac = new AbortController();
    const streaming = stream(bPort, token, seenOnB, ac.signal);
    cleanups.push(() => ac.abort());

    // First releases, one requested through each replica.
    const first = [
      (await api<{ id: string }>(a.apiPort, token, 'POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '1.0.0' })).body.id,
      (await api<{ id: string }>(bPort, token, 'POST', '/v1/deployments', { service: 'api', environment: 'dev', version: '1.0.0' })).body.id,
    ];
    for (const id of first) expect((await waitForEnd(a, id, 120_000)).phase).toBe('succeeded');
    // The stream from B saw the deployment requested through A, from its creation to its end.
    await until('B\'s stream to show A\'s deployment end', () => seenOnB.some((e) => e.deploymentId === first[0] && e.type === 'deployment.phase' && e.data.to === 'succeeded'));
    expect(seenOnB.filter((e) => e.deploymentId === first[0] && e.type === 'deployment.created')).toHaveLength(1);

    // Second releases held unhealthy, so both wait in their rollout step; then A is killed.
    for (const s of ['web', 'api']) writeFileSync(join(holds, `unhealthy-${s}-2.0.0`), '');
    const second = [
      (await api<{ id: string }>(a.apiPort, token, 'POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '2.0.0' })).body.id,
      (await api<{ id: string }>(a.apiPort, token, 'POST', '/v1/deployments', { service: 'api', environment: 'dev', version: '2.0.0' })).body.id,
    ];
    await until('both deployments in their rollout', async () => {
      const views = await Promise.all(second.map((id) => api<View>(bPort, token, 'GET', `/v1/deployments/${id}`)));
      return views.every((v) => v.body.phase === 'running' && v.body.steps.some((s) => s.status === 'running' && s.idx > 0));
    });
    await a.kill();
    for (const s of ['web', 'api']) rmSync(join(holds, `unhealthy-${s}-2.0.0`));
    const ends = await Promise.all(second.map(async (id) => {
      const deadline = Date.now() + 180_000;
      for (;;) {
        const v = (await api<View>(bPort, token, 'GET', `/v1/deployments/${id}`)).body;
        if (['succeeded', 'failed', 'rolled_back', 'aborted'].includes(v.phase)) return v;
        if (Date.now() > deadline) throw new Error(`${id} still ${v.phase}`);
        await sleep(100);
      }
    }));
    expect(ends.map((v) => v.phase)).toEqual(['succeeded', 'succeeded']);

    const all = [...first, ...second];
    const events = (await api<Ev[]>(bPort, token, 'GET', '/v1/events?limit=1000')).body;
    for (const id of all) {
      const mine = events.filter((e) => e.deploymentId === id);
      const succeeded = mine.filter((e) => e.type === 'step.succeeded').map((e) => e.data.idx);
      expect(succeeded, id).toEqual([...new Set(succeeded)]);
      expect(mine.filter((e) => e.type === 'deployment.phase' && e.data.to === 'succeeded'), id).toHaveLength(1);
    }

    // Records: one file per deployment in the remote, one record.written event each.
    await until('every record pushed', async () => {
      const evs = (await api<Ev[]>(bPort, token, 'GET', '/v1/events?type=record.written&limit=100')).body;
      return all.every((id) => evs.some((e) => e.deploymentId === id));
    }, 120_000);
    const recordEvents = (await api<Ev[]>(bPort, token, 'GET', '/v1/events?type=record.written&limit=100')).body;
    expect(recordEvents.map((e) => e.deploymentId).sort()).toEqual([...all].sort());
    const files = (await git(repos.bare, 'ls-tree', '-r', '--name-only', 'main')).split('\n').filter((f) => f.startsWith('docs/deployments/'));
    expect(all.map((id) => files.filter((f) => f.includes(id)).length)).toEqual([1, 1, 1, 1]);

    // Notifications: started and succeeded of each deployment reached the receiver, each with one delivery id.
    const key = (r: { headers: Record<string, unknown>; body: string }) => `${String(r.headers['x-gangway-event'])} ${(JSON.parse(r.body) as { deployment: { id: string } }).deployment.id}`;
    await until('every notification delivered', () => new Set(receiver.received.map(key)).size === 8, 120_000);
    const byKey = new Map<string, Set<string>>();
    for (const r of receiver.received) {
      const ids = byKey.get(key(r)) ?? new Set<string>();
      ids.add(String(r.headers['x-gangway-delivery']));
      byKey.set(key(r), ids);
    }
    expect([...byKey.keys()].sort()).toEqual(all.flatMap((id) => [`started ${id}`, `succeeded ${id}`]).sort());
    expect([...byKey.values()].map((ids) => ids.size)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);

    // A third replica with another config (a longer watch) is refused, naming the key; nothing registered.
    const other = mkdtempSync(join(tmpdir(), 'gangway-replica-other-'));
    cleanups.push(() => rmSync(other, { recursive: true, force: true }));
    const [otherApi] = await freePorts(1);
    writeFileSync(join(other, 'gangway.yaml'), yamlFor({ api: otherApi!, metrics: 1 }, { ...opts, watch: '2s' }).replace(/agent: \{ metricsPort: \d+ \}\n/, readFileSync(join(a.dir, 'gangway.yaml'), 'utf8').match(/agent: \{ metricsPort: \d+ \}\n/)![0]));
    const refused = await runCli(other, ['up']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`this config differs from the one the replica at http://127.0.0.1:${bPort} runs, at services.api, services.web`);
    // And a replica on B's own address is refused as already running.
    const busy = await runCli(a.dir, ['up', '--listen', `127.0.0.1:${bPort}`]);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain(`is already running: its API answers at http://127.0.0.1:${bPort}`);

    ac.abort();
    await streaming;
    b.kill('SIGINT');
    await new Promise((r) => b.once('exit', r));
  }, LIMIT_MS);
});
