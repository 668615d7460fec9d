/**
 * The torture run: many deployments (blue-green, rolling, canary; some releases bad so that
 * rollbacks happen too) through real `gangway up` processes on one store, while a random
 * orchestrator is killed with SIGKILL at a random moment and started again. Then, from the
 * API (`/v1/deployments`, `/v1/events`, `/v1/status`), the public ports and `gangway audit
 * verify`, it checks every deployment:
 *
 * - **lost**: accepted but gone (not in the API), ended without its terminal event in the log,
 *   or a step the deployment shows as succeeded has no `step.succeeded` event;
 * - **duplicated**: more than one terminal `deployment.phase` event, a step with more than one
 *   `step.succeeded` event, or a deployment nobody asked for (one request made twice);
 * - **stuck**: never ended, or sat without an event longer than the lease time plus the own
 *   time of the step running then (its longest attempt) plus the time no orchestrator was up;
 * - **wrong traffic**: after it ended, the public port and `/v1/status` are not on the release
 *   the outcome says (succeeded: the new one; otherwise the stable release before it).
 *
 * Shared by `bench/torture/run.js` (which compiles this file with tsc, as bench/kubernetes does
 * with the fake API server) and `test/torture.test.ts`, so nothing here may depend on where
 * the file sits: the repository root comes in as an option.
 *
 * @example
 * ```ts
 * const r = await runTorture({ root, store: 'postgres', postgresUrl, replicas: 3, deployments: 8, seed: 1 });
 * // r.lost, r.duplicated, r.stuck, r.wrongTraffic, r.auditVerifyExit, r.takeoverMs.p50 …
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What one run does. */
export interface TortureOptions {
  /** The repository root: `bin/gangway.js` (built) and `bench/torture/app.js` are taken from it. */
  root: string;
  store: 'sqlite' | 'postgres';
  /** URL of an empty PostgreSQL database (store `postgres`). */
  postgresUrl?: string;
  /** Orchestrators sharing the store: 1 on SQLite; several on PostgreSQL. */
  replicas: number;
  deployments: number;
  seed: number;
  /** Share of releases (after each service's first) that are bad; default 0.3. */
  badShare?: number;
  /** Pause between one orchestrator being ready again and the next kill, drawn uniformly; default [500, 4000] ms. */
  killGapMs?: [number, number];
  /** No more kills than this; default unlimited. */
  maxKills?: number;
  /** The run stops asking for deployments after this long; default 60 min. */
  limitMs?: number;
  /** Progress lines (stderr in the bench). */
  log?: (line: string) => void;
  /** Keep the project folder (logs of every orchestrator under `logs/`) instead of deleting it. */
  keep?: boolean;
  /** Ends the run early (Ctrl-C in the bench): no more deployments or kills; orchestrators and agent stopped, checks run over what happened. */
  signal?: AbortSignal;
}

/** What one run found. Every count is of deployments, except `kills`. */
export interface TortureResult {
  store: 'sqlite' | 'postgres';
  replicas: number;
  seed: number;
  /** Deployments asked for (accepted by the API). */
  deployments: number;
  kills: number;
  lost: number;
  duplicated: number;
  stuck: number;
  wrongTraffic: number;
  /** Exit code of `gangway audit verify`. */
  auditVerifyExit: number;
  /** Phase → deployments that ended in it. */
  outcomes: Record<string, number>;
  badReleases: number;
  /** Bad releases that nevertheless succeeded (their failure came after the watch). */
  badSucceeded: number;
  /** Deployments resumed after a kill of the orchestrator driving them (a `step.resumed` event). */
  resumed: number;
  /**
   * From a kill to the next event of each deployment the killed orchestrator was driving
   * (epoch ms of the event as the store has it). On SQLite this includes starting the
   * orchestrator again; on PostgreSQL another replica takes over.
   */
  takeoverMs: { samples: number; p50: number | null; p99: number | null; max: number | null };
  /** Lease time to live the stuck check used. */
  leaseTtlMs: number;
  durationMs: number;
  /** One line per problem found (empty when every check passed). */
  problems: string[];
  /** The project folder, when kept. */
  dir?: string;
}

const FINAL = ['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'];
/** Steps whose executor times itself from the start kept in the store (src/engine/steps/), so a resumed one does not start over. */
const TIMED_STEPS = ['waitReady', 'rollout', 'pause', 'analysis', 'job', 'watch'];
/** The runner's lease (not configurable): 15 s time to live (docs/replicas.md). */
const LEASE_TTL_MS = 15_000;
/** How long an orchestrator may take to answer `/readyz` (on two cores at a load of 20, starting one took over 2 minutes). */
const START_LIMIT_MS = 240_000;
/** How long one deployment may take before the run gives up waiting for it (it then counts as stuck). */
const DEPLOYMENT_LIMIT_MS = 300_000;

export interface Ev { id: number; type: string; deploymentId: string | null; at: number; data: Record<string, unknown> }
export interface View { id: string; service: string; version: string; phase: string; leaseOwner: string | null; steps: Array<{ idx: number; status: string; title: string }> }

export interface Tracked {
  id: string;
  service: string;
  version: string;
  bad: boolean;
  /** The stable release when it was asked for: where a failed deployment must leave traffic. */
  stableBefore: string | null;
  phase: string | null;
}

export interface Kill { at: number; replica: number; pid: number; driving: string[] }

export interface Replica {
  index: number;
  port: number;
  child: ChildProcess | null;
  ready: boolean;
  starts: number;
  /** [down from, ready again at] for every kill. */
  down: Array<[number, number]>;
}

/** A seeded PRNG (Mulberry32): the same run for the same seed on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => res(s));
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** The process id in a lease owner (`host:pid:nonce`). */
function ownerPid(owner: string): number {
  return Number(owner.split(':').at(-2));
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]!;
}

/** The services: one per strategy, each on its own public port. */
const SERVICES = ['bluegreen', 'rolling', 'canary'] as const;

function configYaml(o: { project: string; apiPort: number; metricsPort: number; ports: Record<string, number>; previewPort: number; app: string; store: string }): string {
  const common = (name: string, instances: number) => `
  ${name}:
    target:
      local:
        command: ["${process.execPath}", "${o.app}"]
        env: { APP_VERSION: "\${release.version}", BAD_AFTER_MS: "1000" }
        instances: ${instances}
        port: ${o.ports[name]}
    health: { path: /health, interval: 100ms, timeout: 1s, failureThreshold: 3, startTimeout: 20s }
    rollback: { watch: 2s }
    drainTimeout: 1s`;
  return `project: ${o.project}
server: { port: ${o.apiPort} }
agent: { metricsPort: ${o.metricsPort} }
${o.store}environments:
  dev: {}
services:${common('bluegreen', 1)}
    strategy:
      blueGreen: { previewPort: ${o.previewPort}, scaleDownDelay: 0s }${common('rolling', 2)}
    strategy:
      rolling: { maxSurge: 1, maxUnavailable: 0 }${common('canary', 2)}
    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: 1s
          - setWeight: 100
        scaleDownDelay: 0s
`;
}

/**
 * Runs one torture run to its end and returns what it found. Throws only when the run cannot
 * be made (an orchestrator that does not start); what goes wrong with deployments is data.
 */
export async function runTorture(o: TortureOptions): Promise<TortureResult> {
  const started = Date.now();
  const log = o.log ?? (() => {});
  // Separate streams, so which releases are bad does not depend on when the kills happen.
  const killRand = prng(o.seed ^ 0x9e3779b9);
  const badShare = o.badShare ?? 0.3;
  const [gapMin, gapMax] = o.killGapMs ?? [500, 4000];
  const limitAt = started + (o.limitMs ?? 3_600_000);
  if (o.store === 'postgres' && !o.postgresUrl) throw new Error('runTorture: store postgres needs postgresUrl');
  if (o.store === 'sqlite' && o.replicas !== 1) throw new Error('runTorture: SQLite is for one orchestrator (replicas: 1)');

  const cli = join(o.root, 'bin/gangway.js');
  const dir = mkdtempSync(join(tmpdir(), `gangway-torture-${o.store}-`));
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const ports = await freePorts(2 + SERVICES.length + 1 + o.replicas - 1);
  const [apiPort, metricsPort, previewPort, ...rest] = ports as [number, number, number, ...number[]];
  const servicePorts = Object.fromEntries(SERVICES.map((s, i) => [s, rest[i]!]));
  const extraApi = rest.slice(SERVICES.length);
  writeFileSync(join(dir, 'gangway.yaml'), configYaml({
    project: 'torture', apiPort, metricsPort, ports: servicePorts, previewPort, app: join(o.root, 'bench/torture/app.js'),
    store: o.store === 'postgres' ? `store: { postgres: { url: "${o.postgresUrl}" } }\n` : '',
  }));

  const replicas: Replica[] = Array.from({ length: o.replicas }, (_, i) => ({ index: i, port: i === 0 ? apiPort : extraApi[i - 1]!, child: null, ready: false, starts: 0, down: [] }));
  const problems: string[] = [];
  const tracked: Tracked[] = [];
  const kills: Kill[] = [];
  let token = '';

  const startReplica = async (r: Replica): Promise<void> => {
    r.starts++;
    const args = [cli, '-C', dir, 'up', ...(r.index === 0 ? [] : ['--listen', `127.0.0.1:${r.port}`])];
    const out = createWriteStream(join(logs, `replica-${r.index}-start-${r.starts}.log`));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GANGWAY_LOG_LEVEL: process.env.GANGWAY_LOG_LEVEL ?? 'info' } });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    r.child = child;
    const deadline = Date.now() + START_LIMIT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`orchestrator ${r.index} (gangway ${args.slice(3).join(' ')}) exited with ${child.exitCode ?? child.signalCode} before it answered; see ${join(logs, `replica-${r.index}-start-${r.starts}.log`)}`);
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`orchestrator ${r.index} did not answer /readyz on port ${r.port} within ${START_LIMIT_MS} ms`);
      }
      try {
        const res = await fetch(`http://127.0.0.1:${r.port}/readyz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.ok) break;
      } catch { /* not yet */ }
      await sleep(50);
    }
    r.ready = true;
    if (!token) token = readFileSync(join(dir, '.gangway/token'), 'utf8').trim();
  };

  const readyReplicas = () => replicas.filter((r) => r.ready);
  /** A request to a random orchestrator that is up; retried on another while the one asked dies. */
  const api = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const deadline = Date.now() + START_LIMIT_MS;
    for (;;) {
      const up = readyReplicas();
      const r = up[Math.floor(Math.random() * up.length)];
      if (r) {
        try {
          const res = await fetch(`http://127.0.0.1:${r.port}${path}`, {
            method,
            headers: { authorization: `Bearer ${token}`, 'x-gangway-actor': 'torture', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(30_000),
          });
          return { status: res.status, body: await res.json() as T };
        } catch (err) {
          // A POST that failed may still have been done: the caller decides what to do.
          if (method !== 'GET') throw err;
        }
      }
      if (Date.now() > deadline) throw new Error(`no orchestrator answered ${method} ${path} within ${START_LIMIT_MS} ms`);
      await sleep(100);
    }
  };

  let stopKilling = false;
  /** Why the run cannot go on (an orchestrator that did not start again), or null. */
  let broken: string | null = null;
  o.signal?.addEventListener('abort', () => {
    broken ??= 'interrupted';
    stopKilling = true;
    problems.push('the run was interrupted');
  }, { once: true });
  const killer = async (): Promise<void> => {
    while (!stopKilling && (o.maxKills === undefined || kills.length < o.maxKills)) {
      await sleep(gapMin + killRand() * (gapMax - gapMin));
      if (stopKilling) return;
      // The victim: a random one of the orchestrators driving a deployment right now (so every
      // kill lands in some deployment's life); none driving: look again shortly.
      let victim: Replica | undefined;
      let driving: string[] = [];
      for (;;) {
        if (stopKilling) return;
        const active = (await api<View[]>('GET', '/v1/deployments?limit=50')).body.filter((d) => !FINAL.includes(d.phase) && d.leaseOwner);
        const drivers = replicas.filter((r) => active.some((d) => ownerPid(d.leaseOwner!) === r.child?.pid));
        if (drivers.length > 0) {
          victim = drivers[Math.floor(killRand() * drivers.length)]!;
          driving = active.filter((d) => ownerPid(d.leaseOwner!) === victim!.child!.pid).map((d) => d.id);
          break;
        }
        await sleep(50);
      }
      const child = victim.child!;
      const gone = new Promise((r) => child.once('exit', r));
      victim.ready = false;
      const at = Date.now();
      child.kill('SIGKILL');
      await gone;
      kills.push({ at, replica: victim.index, pid: child.pid!, driving });
      log(`kill ${kills.length}: orchestrator ${victim.index} (pid ${child.pid}) driving ${driving.length ? driving.join(', ') : 'nothing'}`);
      await startReplica(victim);
      victim.down.push([at, Date.now()]);
    }
  };

  // Deployments: one worker per service, each asking for its next release once the last ended;
  // the services share the N deployments round robin, so which releases are bad depends on the seed only.
  const stable: Record<string, string | null> = Object.fromEntries(SERVICES.map((s) => [s, null]));
  const worker = async (service: string, rand: () => number, quota: number): Promise<void> => {
    for (let n = 1; n <= quota && Date.now() < limitAt && broken === null; n++) {
      const bad = stable[service] !== null && rand() < badShare;
      const version = `${n}.0.0${bad ? '-bad' : ''}`;
      const t: Tracked = { id: '', service, version, bad, stableBefore: stable[service]!, phase: null };
      t.id = await request(service, version);
      tracked.push(t);
      const end = await waitForEnd(t.id);
      if (end === null) {
        problems.push(`${service} ${version} (${t.id}) did not end within ${DEPLOYMENT_LIMIT_MS} ms`);
        t.phase = 'unfinished';
        return; // the next release would only queue behind it
      }
      t.phase = end.phase;
      if (end.phase === 'succeeded') stable[service] = version;
      log(`${tracked.filter((x) => x.phase !== null).length}/${o.deployments} ${service} ${version}: ${end.phase}`);
      await checkTraffic(t, stable[service]);
    }
  };

  /** Asks for a deployment; when the answer was lost with a killed orchestrator, finds out whether it was made. */
  const request = async (service: string, version: string): Promise<string> => {
    const deadline = Date.now() + START_LIMIT_MS;
    for (;;) {
      try {
        const r = await api<{ id: string; message?: string }>('POST', '/v1/deployments', { service, environment: 'dev', version });
        if (r.status !== 201) throw new Error(`POST /v1/deployments ${service} ${version}: ${r.status} ${JSON.stringify(r.body)}`);
        return r.body.id;
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('POST /v1/deployments')) throw err;
        // Ask an orchestrator that is up whether the request was made before its answer was lost.
        while (readyReplicas().length === 0) {
          if (Date.now() > deadline) throw new Error(`no orchestrator up to ask for ${service} ${version}`, { cause: err });
          await sleep(50);
        }
        const made = (await api<View[]>('GET', `/v1/deployments?service=${service}&limit=100`)).body.find((d) => d.version === version);
        if (made) return made.id;
      }
    }
  };

  const waitForEnd = async (id: string): Promise<View | null> => {
    const deadline = Date.now() + DEPLOYMENT_LIMIT_MS;
    for (;;) {
      const v = (await api<View>('GET', `/v1/deployments/${id}`)).body;
      if (FINAL.includes(v.phase)) return v;
      if (Date.now() > deadline || broken !== null) return null;
      await sleep(100);
    }
  };

  let wrongTraffic = 0;
  const checkTraffic = async (t: Tracked, expected: string | null): Promise<void> => {
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      try {
        seen.push((await (await fetch(`http://127.0.0.1:${servicePorts[t.service]}/`, { signal: AbortSignal.timeout(5000) })).text()).trim());
      } catch (err) {
        seen.push(`(${err instanceof Error ? err.message : String(err)})`);
      }
    }
    const status = (await api<Array<{ service: string; environment: string; version: string | null }>>('GET', `/v1/status?service=${t.service}`)).body;
    const recorded = status.find((s) => s.environment === 'dev')?.version ?? null;
    if (seen.some((v) => v !== expected) || recorded !== expected) {
      wrongTraffic++;
      problems.push(`${t.service} ${t.version} (${t.id}) ${t.phase}: traffic should be on ${expected}; the public port answered ${seen.join(', ')}, /v1/status says ${recorded}`);
    }
  };

  let auditVerifyExit = -1;
  let events: Ev[] = [];
  let views: View[] = [];
  try {
    log(`${o.store}: starting ${o.replicas} orchestrator(s) in ${dir}`);
    // The first starts the agent the others share; then the others side by side.
    await startReplica(replicas[0]!);
    await Promise.all(replicas.slice(1).map((r) => startReplica(r)));
    const killing = killer().catch((err: unknown) => {
      broken = err instanceof Error ? err.message : String(err);
      problems.push(`the run broke off: ${broken}`);
    });
    const workers = SERVICES.map((s, i) => worker(s, prng(o.seed * 31 + i), Math.floor(o.deployments / SERVICES.length) + (i < o.deployments % SERVICES.length ? 1 : 0)));
    const settled = await Promise.allSettled(workers);
    stopKilling = true;
    await killing;
    for (const s of settled) if (s.status === 'rejected') problems.push(`a deployment worker failed: ${s.reason instanceof Error ? s.reason.message : String(s.reason)}`);

    // Everything the store holds, read once every orchestrator is up again.
    views = (await api<View[]>('GET', '/v1/deployments?limit=1000')).body;
    for (let after = 0; ;) {
      const page = (await api<Ev[]>('GET', `/v1/events?after=${after}&limit=1000`)).body;
      events.push(...page);
      if (page.length < 1000) break;
      after = page[page.length - 1]!.id;
    }
    events = events.sort((a, b) => a.id - b.id);
    auditVerifyExit = await new Promise<number>((res) => {
      const c = spawn(process.execPath, [cli, '-C', dir, 'audit', 'verify'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      c.stdout!.on('data', (b: Buffer) => { text += b.toString(); });
      c.stderr!.on('data', (b: Buffer) => { text += b.toString(); });
      c.on('close', (code) => {
        if (code !== 0) problems.push(`gangway audit verify exited ${code}: ${text.trim()}`);
        res(code ?? 1);
      });
    });
  } finally {
    stopKilling = true;
    for (const r of replicas) {
      const c = r.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) continue;
      const gone = new Promise((res) => c.once('exit', res));
      c.kill('SIGINT');
      await Promise.race([gone, sleep(10_000)]);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    await new Promise((res) => spawn(process.execPath, [cli, '-C', dir, 'down'], { stdio: 'ignore' }).on('close', res));
    if (!o.keep) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }

  const verdict = judge({ tracked, views, events, kills, replicas, problems });
  const takeovers = verdict.takeovers.sort((a, b) => a - b);
  const outcomes: Record<string, number> = {};
  for (const t of tracked) outcomes[t.phase ?? 'unfinished'] = (outcomes[t.phase ?? 'unfinished'] ?? 0) + 1;
  return {
    store: o.store,
    replicas: o.replicas,
    seed: o.seed,
    deployments: tracked.length,
    kills: kills.length,
    lost: verdict.lost.size,
    duplicated: verdict.duplicated.size,
    stuck: verdict.stuck.size,
    wrongTraffic,
    auditVerifyExit,
    outcomes,
    badReleases: tracked.filter((t) => t.bad).length,
    badSucceeded: tracked.filter((t) => t.bad && t.phase === 'succeeded').length,
    resumed: new Set(events.filter((e) => e.type === 'step.resumed').map((e) => e.deploymentId)).size,
    takeoverMs: { samples: takeovers.length, p50: percentile(takeovers, 50), p99: percentile(takeovers, 99), max: takeovers.at(-1) ?? null },
    leaseTtlMs: LEASE_TTL_MS,
    durationMs: Date.now() - started,
    problems,
    ...(o.keep ? { dir } : {}),
  };
}

/** Time within [from, to] during which no orchestrator was up (every replica between a kill and its restart). */
function allDown(replicas: Replica[], from: number, to: number): number {
  const cuts = [...new Set([from, to, ...replicas.flatMap((r) => r.down.flat())])].filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let total = 0;
  for (let i = 0; i + 1 < cuts.length; i++) {
    const mid = (cuts[i]! + cuts[i + 1]!) / 2;
    if (replicas.every((r) => r.down.some(([a, b]) => a <= mid && mid <= b))) total += cuts[i + 1]! - cuts[i]!;
  }
  return total;
}

/** The checks over what the store recorded (see the file comment); exported for its own test. */
export function judge(x: { tracked: Tracked[]; views: View[]; events: Ev[]; kills: Kill[]; replicas: Replica[]; problems: string[] }) {
  const lost = new Set<string>();
  const duplicated = new Set<string>();
  const stuck = new Set<string>();
  const byId = new Map(x.views.map((v) => [v.id, v]));
  const eventsOf = new Map<string, Ev[]>();
  for (const e of x.events) if (e.deploymentId) eventsOf.set(e.deploymentId, [...(eventsOf.get(e.deploymentId) ?? []), e]);
  const trackedIds = new Set(x.tracked.map((t) => t.id));

  for (const v of x.views) {
    if (!trackedIds.has(v.id)) {
      duplicated.add(v.id);
      x.problems.push(`${v.service} ${v.version} (${v.id}): a deployment nobody asked for (a request made twice?)`);
    }
  }
  for (const t of x.tracked) {
    const v = byId.get(t.id);
    const mine = eventsOf.get(t.id) ?? [];
    const name = `${t.service} ${t.version} (${t.id})`;
    if (!v) {
      lost.add(t.id);
      x.problems.push(`${name}: accepted, but the API no longer knows it`);
      continue;
    }
    const ends = mine.filter((e) => e.type === 'deployment.phase' && FINAL.includes(String(e.data.to)));
    if (ends.length > 1) {
      duplicated.add(t.id);
      x.problems.push(`${name}: ended ${ends.length} times (${ends.map((e) => e.data.to).join(', ')})`);
    }
    if (FINAL.includes(v.phase) && ends.length === 0) {
      lost.add(t.id);
      x.problems.push(`${name}: ${v.phase}, but no terminal event in the log`);
    }
    if (ends.length === 1 && ends[0]!.data.to !== v.phase) {
      duplicated.add(t.id);
      x.problems.push(`${name}: the log says it ended ${String(ends[0]!.data.to)}, the API says ${v.phase}`);
    }
    const succeededIdx = new Map<number, number>();
    for (const e of mine.filter((e) => e.type === 'step.succeeded')) succeededIdx.set(Number(e.data.idx), (succeededIdx.get(Number(e.data.idx)) ?? 0) + 1);
    for (const [idx, count] of succeededIdx) {
      if (count > 1) {
        duplicated.add(t.id);
        x.problems.push(`${name}: step ${idx} succeeded ${count} times in the log`);
      }
    }
    for (const s of v.steps.filter((s) => s.status === 'succeeded')) {
      if (!succeededIdx.has(s.idx)) {
        lost.add(t.id);
        x.problems.push(`${name}: step ${s.idx} (${s.title}) is succeeded but the log has no step.succeeded for it`);
      }
    }

    // Stuck: never ended, or a silence longer than the lease + the running step's own time + no orchestrator up.
    if (!FINAL.includes(v.phase)) {
      stuck.add(t.id);
      x.problems.push(`${name}: still ${v.phase} at the end of the run`);
      continue;
    }
    const endAt = ends[0]?.at ?? Infinity;
    const life = mine.filter((e) => e.at <= endAt);
    /**
     * The own time of each step: its longest attempt that ran to its end, from its start or
     * resumption (an attempt cut short by a kill is not the step's own time). A timed step
     * (a wait for healthy instances, a watch, a pause …) counts from its stored start whatever
     * resumed it, so its own time runs from its first start, less the time no orchestrator was up.
     */
    const own = new Map<number, number>();
    const openAt = new Map<number, number>();
    const firstAt = new Map<number, { at: number; type: string }>();
    for (const e of life) {
      const idx = Number(e.data.idx);
      if (e.type === 'step.started' || e.type === 'step.resumed') {
        openAt.set(idx, e.at);
        if (!firstAt.has(idx)) firstAt.set(idx, { at: e.at, type: String(e.data.type) });
      } else if (e.type === 'step.succeeded' || e.type === 'step.failed' || e.type === 'step.skipped') {
        const prev = openAt.get(idx);
        if (prev !== undefined) own.set(idx, Math.max(own.get(idx) ?? 0, e.at - prev));
        const first = firstAt.get(idx);
        if (first && TIMED_STEPS.includes(first.type)) own.set(idx, Math.max(own.get(idx) ?? 0, e.at - first.at - allDown(x.replicas, first.at, e.at)));
        openAt.delete(idx);
      }
    }
    let running: number | null = null;
    for (let i = 0; i + 1 < life.length; i++) {
      const e = life[i]!;
      if (e.type === 'step.started' || e.type === 'step.resumed') running = Number(e.data.idx);
      else if (e.type === 'step.succeeded' || e.type === 'step.failed' || e.type === 'step.skipped') running = null;
      const gap = life[i + 1]!.at - e.at;
      const allowed = LEASE_TTL_MS + (running === null ? 0 : own.get(running) ?? 0) + allDown(x.replicas, e.at, life[i + 1]!.at);
      if (gap > allowed) {
        stuck.add(t.id);
        x.problems.push(`${name}: no event for ${gap} ms after ${e.type}${running === null ? '' : ` of step ${running}`} (allowed ${allowed} ms)`);
      }
    }
  }

  // Takeover: from a kill to the next event of each deployment the killed orchestrator drove.
  const takeovers: number[] = [];
  for (const k of x.kills) {
    for (const id of k.driving) {
      const next = (eventsOf.get(id) ?? []).find((e) => e.at >= k.at);
      if (next) takeovers.push(next.at - k.at);
    }
  }
  return { lost, duplicated, stuck, takeovers };
}
