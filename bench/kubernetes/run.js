// Kubernetes target benchmark: what one deployment costs on a cluster, for blue-green, for a
// canary weighted by replica counts and for the Deployment's own rolling update, through a real `gangway up` (built CLI, dist/) against the
// FAKE Kubernetes API server of test/support/fake-kube (its kubelet runs test/fixtures/app.mjs as
// the pods). Per deployment it measures
//   - the time from the deploy request (POST /v1/deployments) until traffic is on the new release:
//     the public Service selects the new colour (`switchedMs`), for a canary also until the canary
//     first takes its share (`firstTrafficMs`: the Service selects both colours), for blue-green
//     until the preview Service selects it (`previewMs`), and until the deployment ends (`endMs`);
//     for the rolling update, until the first pod of the new release is Ready behind the Service
//     (`firstTrafficMs`) and until every live pod is the new release's (`switchedMs`);
//   - the API calls Gangway made for it (the fake's request log, user agent gangway/…, the
//     environment's namespace, from the request until the previous colour is scaled to zero),
//     by verb and by verb and resource.
// Subjects are interleaved round by round. Each round deploys 1.0.0 then 1.1.0 into a fresh
// environment (own namespace) per subject and measures the second deployment, the one that moves
// traffic from one colour to the other. Prints JSON and writes bench/results/kubernetes.json.
// Environment:
//   BENCH_ROUNDS            rounds (default 5)
//   BENCH_INSTANCES         pods per release (default 2)
//   BENCH_HEALTH_INTERVAL   health.interval of the service, which paces Gangway's polling (default 200ms)
// Builds dist/ when the Kubernetes target sources are newer than the build, and compiles the
// fake (TypeScript) into node_modules/.cache/gangway-bench-kubernetes. Stops everything it
// started at the end, also on error or Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSource, newestMtime } from '../lib/sources.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const CLI = path.join(root, 'bin/gangway.js');
const APP = path.join(root, 'test/fixtures/app.mjs');
const MANIFESTS = path.join(root, 'test/fixtures/kubernetes-e2e/k8s');
const FAKE_OUT = path.join(root, 'node_modules/.cache/gangway-bench-kubernetes');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 2);
const HEALTH_INTERVAL = process.env.BENCH_HEALTH_INTERVAL ?? '200ms';
const SUBJECTS = ['blueGreen', 'canaryReplicaRatio', 'rolling'];

function log(msg) { process.stderr.write(`[bench:kubernetes] ${msg}\n`); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


function ensureBuilt() {
  const out = path.join(root, 'dist/targets/kubernetes/kubernetes-target.js');
  if (!existsSync(out) || statSync(out).mtimeMs < newestMtime(path.join(root, 'src/targets/kubernetes'), isSource)) {
    log('building dist/ (npm run build)');
    const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`npm run build exited ${r.status}`);
  }
  const fake = path.join(FAKE_OUT, 'test/support/fake-kube/index.js');
  if (!existsSync(fake) || statSync(fake).mtimeMs < newestMtime(path.join(root, 'test/support/fake-kube'), isSource)) {
    log('compiling the fake API server (tsc)');
    const r = spawnSync(path.join(root, 'node_modules/.bin/tsc'), [
      '--outDir', FAKE_OUT, '--rootDir', root, '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022',
      '--skipLibCheck', '--types', 'node', '--sourceMap', 'false', path.join(root, 'test/support/fake-kube/index.ts'),
    ], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0 || !existsSync(fake)) throw new Error(`tsc could not compile the fake (exit ${r.status})`);
  }
  return fake;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

/** One environment per subject and round, each in its own namespace. */
function envName(subject, round) { return `${{ blueGreen: 'bg', canaryReplicaRatio: 'cn', rolling: 'rl' }[subject]}${round}`; }

function gangwayYaml(ports) {
  const envs = [];
  const overrides = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const subject of SUBJECTS) {
      const env = envName(subject, round);
      envs.push(`  ${env}: {}`);
      const strategy = {
        blueGreen: 'blueGreen: { scaleDownDelay: 0s }',
        canaryReplicaRatio: 'canary: { steps: [ { setWeight: 50 }, { setWeight: 100 } ], scaleDownDelay: 0s }',
        rolling: 'rolling: { maxSurge: 1, maxUnavailable: 0 }',
      }[subject];
      overrides.push(`      ${env}:\n        target: { kubernetes: { namespace: ${env} } }\n        strategy: { ${strategy} }`);
    }
  }
  return `project: bench-kubernetes
server: { port: ${ports.api} }
agent: { metricsPort: ${ports.metrics} }
environments:
${envs.join('\n')}
services:
  web:
    target:
      kubernetes:
        kubeconfig: kubeconfig
        manifests: ${MANIFESTS}
        instances: ${INSTANCES}
    health: { path: /health, interval: ${HEALTH_INTERVAL}, timeout: 1s, startTimeout: 60s }
    rollback: { watch: 0s }
    environments:
${overrides.join('\n')}
`;
}

function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const round = (x) => Math.round(x * 10) / 10;
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: round(median), min: round(s[0]), max: round(s[s.length - 1]) };
}

function countBy(entries, key) {
  const out = {};
  for (const e of entries) out[key(e)] = (out[key(e)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

const { startFakeKube } = await import(ensureBuilt());
const dir = mkdtempSync(path.join(tmpdir(), 'gangway-bench-kubernetes-'));
let kube = null;
let up = null;
let upOutput = '';
async function cleanup() {
  if (up && up.exitCode === null) {
    const gone = new Promise((r) => up.once('exit', r));
    up.kill('SIGINT');
    await Promise.race([gone, sleep(5000)]);
    if (up.exitCode === null) up.kill('SIGKILL');
  }
  if (existsSync(path.join(dir, '.gangway'))) spawnSync(process.execPath, [CLI, '-C', dir, 'down'], { stdio: 'ignore' });
  await kube?.close();
  rmSync(dir, { recursive: true, force: true });
}
process.once('SIGINT', () => { cleanup().finally(() => process.exit(130)); });

async function api(apiPort, token, method, p, body) {
  const r = await fetch(`http://127.0.0.1:${apiPort}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'x-gangway-actor': 'bench', ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await r.json();
  if (!r.ok) throw new Error(`${method} ${p} answered ${r.status}: ${JSON.stringify(json)}`);
  return json;
}

const FINAL = ['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'];

try {
  kube = await startFakeKube({ images: { 'fake.local/app': { command: [process.execPath, APP] } } });
  const [apiPort, metrics] = [await freePort(), await freePort()];
  writeFileSync(path.join(dir, 'gangway.yaml'), gangwayYaml({ api: apiPort, metrics }));
  await kube.writeKubeconfig(dir, { namespace: 'default' });
  for (let round = 0; round < ROUNDS; round++) for (const subject of SUBJECTS) await kube.namespace(envName(subject, round));

  up = spawn(process.execPath, [CLI, '-C', dir, 'up'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GANGWAY_LOG_LEVEL: 'warn' } });
  up.stdout.on('data', (b) => { upOutput += b; });
  up.stderr.on('data', (b) => { upOutput += b; });
  for (const deadline = Date.now() + 60_000; ;) {
    if (up.exitCode !== null) throw new Error(`gangway up exited ${up.exitCode}: ${upOutput}`);
    if (Date.now() > deadline) throw new Error(`gangway up did not answer within 60 s: ${upOutput}`);
    try { if ((await fetch(`http://127.0.0.1:${apiPort}/healthz`)).ok) break; } catch { /* not yet */ }
    await sleep(100);
  }
  const { readFileSync } = await import('node:fs');
  const token = readFileSync(path.join(dir, '.gangway/token'), 'utf8').trim();

  const selector = (ns, name) => kube.get('service', ns, name)?.spec?.selector ?? null;
  const replicas = (ns, name) => kube.get('deployment', ns, name)?.spec?.replicas ?? null;

  /** Deploys `version` into `env` and follows it in the fake's store every few ms; returns its timings and API calls. */
  async function deployAndMeasure(subject, env, version, newColor, oldColor) {
    const logStart = kube.requestLog.length;
    const t0 = performance.now();
    const created = await api(apiPort, token, 'POST', '/v1/deployments', { service: 'web', environment: env, version });
    const marks = {};
    let phase = created.phase;
    let lastPoll = 0;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const now = performance.now() - t0;
      const sel = selector(env, 'web');
      if (sel) {
        if (marks.firstTrafficMs === undefined && newColor && sel.color === undefined) marks.firstTrafficMs = now;
        if (marks.switchedMs === undefined && newColor && sel.color === newColor) marks.switchedMs = now;
      }
      if (subject === 'blueGreen' && marks.previewMs === undefined && selector(env, 'web-preview')?.color === newColor) marks.previewMs = now;
      if (subject === 'rolling') {
        const live = kube.list('pod', env, { labelSelector: 'gangway.io/service=web' }).filter((p) => !p.metadata.deletionTimestamp);
        const isNew = (p) => p.metadata.annotations?.['gangway.io/version'] === version;
        const ready = (p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        if (marks.firstTrafficMs === undefined && live.some((p) => isNew(p) && ready(p))) marks.firstTrafficMs = now;
        if (marks.switchedMs === undefined && live.length > 0 && live.every((p) => isNew(p) && ready(p))) marks.switchedMs = now;
      }
      if (now - lastPoll > 100) {
        lastPoll = now;
        const d = await api(apiPort, token, 'GET', `/v1/deployments/${created.id}`);
        phase = d.phase;
        if (FINAL.includes(phase)) { marks.endMs = performance.now() - t0; break; }
      }
      if (Date.now() > deadline) throw new Error(`${env} ${version}: still ${phase} after 120 s`);
      await sleep(2);
    }
    if (phase !== 'succeeded') throw new Error(`${env} ${version} ended ${phase}`);
    // The previous colour is scaled to zero just after the end (scaleDownDelay 0s); its calls belong to this deployment.
    if (oldColor) {
      for (const deadline2 = Date.now() + 60_000; replicas(env, `web-${oldColor}`) !== 0;) {
        if (Date.now() > deadline2) throw new Error(`${env}: web-${oldColor} still has replicas`);
        await sleep(20);
      }
      await sleep(300);
    }
    const calls = kube.requestLog.slice(logStart).filter((e) => e.userAgent?.startsWith('gangway/') && e.namespace === env);
    return {
      ...Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, Math.round(v)])),
      apiCalls: calls.length,
      byVerb: countBy(calls, (e) => e.verb),
      byVerbResource: countBy(calls, (e) => `${e.verb} ${e.resource}`),
    };
  }

  const runs = Object.fromEntries(SUBJECTS.map((s) => [s, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const subject of SUBJECTS) {
      const env = envName(subject, round);
      // 1.0.0 takes web-blue; the measured 1.1.0 takes web-green and moves traffic to it (rolling: one Deployment web, rolled in place).
      const rolling = subject === 'rolling';
      await deployAndMeasure(subject, env, '1.0.0', rolling ? null : 'blue', null);
      const run = await deployAndMeasure(subject, env, '1.1.0', rolling ? null : 'green', rolling ? null : 'blue');
      runs[subject].push(run);
      log(`round ${round + 1}/${ROUNDS} ${subject}: switched after ${run.switchedMs} ms, ${run.apiCalls} API calls`);
    }
  }

  const summary = (list) => {
    const keys = [...new Set(list.flatMap((r) => Object.keys(r.byVerbResource)))].sort();
    const verbs = [...new Set(list.flatMap((r) => Object.keys(r.byVerb)))].sort();
    const timing = Object.fromEntries(['previewMs', 'firstTrafficMs', 'switchedMs', 'endMs'].filter((k) => list[0][k] !== undefined).map((k) => [k, stats(list.map((r) => r[k]))]));
    return {
      ...timing,
      apiCalls: stats(list.map((r) => r.apiCalls)),
      byVerb: Object.fromEntries(verbs.map((v) => [v, stats(list.map((r) => r.byVerb[v] ?? 0))])),
      byVerbResource: Object.fromEntries(keys.map((k) => [k, stats(list.map((r) => r.byVerbResource[k] ?? 0))])),
    };
  };
  const results = Object.fromEntries(SUBJECTS.map((s) => [s, summary(runs[s])]));
  const out = {
    benchmark: 'kubernetes',
    date: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, loadAverage: (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100) },
    settings: { rounds: ROUNDS, instances: INSTANCES, healthInterval: HEALTH_INTERVAL, fakeKubeletTimingsMs: { startMs: 100, readyMs: 150, probeIntervalMs: 100 } },
    results,
    ratios: {
      canaryToBlueGreenSwitch: Math.round((results.canaryReplicaRatio.switchedMs.median / results.blueGreen.switchedMs.median) * 100) / 100,
      canaryToBlueGreenApiCalls: Math.round((results.canaryReplicaRatio.apiCalls.median / results.blueGreen.apiCalls.median) * 100) / 100,
      rollingToBlueGreenSwitch: Math.round((results.rolling.switchedMs.median / results.blueGreen.switchedMs.median) * 100) / 100,
      rollingToBlueGreenApiCalls: Math.round((results.rolling.apiCalls.median / results.blueGreen.apiCalls.median) * 100) / 100,
    },
    runs,
  };
  const json = JSON.stringify(out, null, 2);
  process.stdout.write(`${json}\n`);
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(path.join(root, 'bench/results/kubernetes.json'), `${json}\n`);
  if (kube.errors.length > 0) log(`the fake's controllers reported errors: ${kube.errors.join('; ')}`);
} finally {
  await cleanup();
}
