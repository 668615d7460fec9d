// Agent-restart benchmark: how long a public port goes without service, and how many requests
// fail, when the local agent dies with SIGKILL while it proxies a paced request loop (the loop
// in its own process: test/support/outage-worker.mjs, a new connection per request). Two ways
// of dying, measured side by side in one run, alternating round by round:
//
//   worker   the agent's worker is killed; its keeper holds the listening sockets and starts
//            a new worker at once (src/agent/keeper.ts). Connections wait in the backlog.
//   agent    the whole agent (keeper and worker) is killed; the orchestrator's watch on the
//            agent (superviseAgent, a probe every 100 ms) starts a new one, which binds the
//            port anew. Connections are refused until then.
//
// Each round: an agent with two instances of test/fixtures/app.mjs behind a public port, the
// loop running at 4 × (one request, 10 ms pause), a kill, 2 s more of loop. Figures per mode:
// the longest time between two answers (ms: p50, max) and failed requests by kind.
//
//   node bench/agent-restart/run.js [--rounds N]     (default 5; runs the built agent: npm run build)
//
// JSON on stdout (also written to bench/results/agent-restart.json), progress on stderr.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const MAIN = path.join(root, 'dist/agent/main.js');
const APP = path.join(root, 'test/fixtures/app.mjs');
const WORKER = path.join(root, 'test/support/outage-worker.mjs');

function log(msg) { process.stderr.write(`[bench:agent-restart] ${new Date().toISOString().slice(11, 19)} ${msg}\n`); }

let args;
try {
  args = parseArgs({ options: { rounds: { type: 'string', default: '5' }, help: { type: 'boolean', short: 'h' } } }).values;
} catch (err) {
  process.stderr.write(`error: ${err.message}\nusage: node bench/agent-restart/run.js [--rounds N]\n`);
  process.exit(2);
}
if (args.help) { process.stdout.write('usage: node bench/agent-restart/run.js [--rounds N]\n'); process.exit(0); }
const rounds = Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1) { process.stderr.write('error: --rounds must be a positive integer\n'); process.exit(2); }
if (!fs.existsSync(MAIN)) { process.stderr.write('error: dist/agent/main.js is missing: run `npm run build` first\n'); process.exit(2); }

const { ensureAgent, superviseAgent } = await import(pathToFileURL(path.join(root, 'dist/agent/client.js')).href);
const { freePort } = await import(pathToFileURL(path.join(root, 'dist/agent/ports.js')).href);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** The paced loop in its own process; resolves its JSON result when told to stop. */
function startLoop(port) {
  const child = spawn(process.execPath, [WORKER, String(port), '4', '10'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
  const closed = new Promise((r) => child.once('close', r));
  return {
    ready: (async () => { while (!out.includes('ready\n')) await sleep(10); })(),
    async stop() {
      child.stdin.end('stop\n');
      await closed;
      return JSON.parse(out.split('\n').find((l) => l.startsWith('{')));
    },
  };
}

async function round(mode) {
  const stateDir = fs.mkdtempSync(path.join(tmpdir(), 'gw-bench-agent-'));
  const opts = { stateDir, metricsPort: 0, mainScript: MAIN };
  let client = await ensureAgent(opts);
  const watch = superviseAgent({ ...opts, intervalMs: 100 });
  const instancePids = [];
  try {
    const spec = {
      service: 'web', environment: 'bench', version: '1.0.0', image: null, command: [process.execPath, APP], cwd: root,
      env: { APP_VERSION: '1.0.0' },
      health: { path: '/health', expect: { status: 200, json: { status: 'UP' } }, intervalMs: 100, timeoutMs: 1000, failureThreshold: 3, startTimeoutMs: 10_000 },
    };
    for (const i of await client.scale(spec, 2, 0)) instancePids.push(i.pid);
    for (;;) {
      const st = await client.state();
      if (st.instances.filter((i) => i.state === 'ready').length === 2) break;
      await sleep(20);
    }
    const port = await freePort();
    await client.setRoute({ service: 'web', environment: 'bench', host: '127.0.0.1', port, versions: [{ version: '1.0.0', weight: 100 }], preview: null });
    const loop = startLoop(port);
    await loop.ready;
    await sleep(1000);
    const before = await client.state();
    if (mode === 'worker') process.kill(before.pid, 'SIGKILL');
    else process.kill(-before.keeperPid, 'SIGKILL');
    // Back when a new worker answers; then two more seconds of loop.
    for (;;) {
      const st = await client.state().catch(() => null);
      if (st && st.pid !== before.pid) break;
      await sleep(20);
    }
    await sleep(2000);
    const r = await loop.stop();
    return { mode, longestGapMs: r.longestGapMs, failed: r.failed, failures: r.failures, ok: r.ok };
  } finally {
    watch.stop();
    client = await ensureAgent(opts).catch(() => null);
    await client?.shutdown().catch(() => {});
    for (const pid of instancePids) if (alive(pid)) try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
    fs.rmSync(stateDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }
}

function summary(list) {
  const gaps = list.map((r) => r.longestGapMs).sort((a, b) => a - b);
  const failures = {};
  for (const r of list) for (const [k, n] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + n;
  return {
    rounds: list.length,
    gapMsP50: gaps[Math.floor((gaps.length - 1) / 2)],
    gapMsMax: gaps.at(-1),
    failedPerRound: Math.round((list.reduce((s, r) => s + r.failed, 0) / list.length) * 10) / 10,
    refusedPerRound: Math.round((list.reduce((s, r) => s + (r.failures['request ECONNREFUSED'] ?? 0), 0) / list.length) * 10) / 10,
    failures,
  };
}

const results = [];
for (let i = 0; i < rounds; i++) {
  for (const mode of i % 2 === 0 ? ['worker', 'agent'] : ['agent', 'worker']) {
    const r = await round(mode);
    log(`round ${i + 1}/${rounds} ${mode}: gap ${r.longestGapMs} ms, failed ${r.failed} ${JSON.stringify(r.failures)}`);
    results.push(r);
  }
}
const worker = summary(results.filter((r) => r.mode === 'worker'));
const agent = summary(results.filter((r) => r.mode === 'agent'));
const out = {
  bench: 'agent-restart', node: process.version, cpus: cpus().length, loadavg: loadavg().map((l) => Math.round(l * 10) / 10),
  loop: { concurrency: 4, paceMs: 10 },
  workerKilledKeeperRestarts: worker,
  agentKilledSupervisionRestarts: agent,
  gapRatioP50: Math.round((worker.gapMsP50 / agent.gapMsP50) * 100) / 100,
  rounds: results,
};
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench/results/agent-restart.json'), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
