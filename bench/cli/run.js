// CLI start-up benchmark: how long a `gangway` call takes from spawn to exit, next to bare
// Node in the same run. Subjects, interleaved round by round so load on the machine hits each
// alike:
//   node       `node -e 0` (the floor: what starting Node costs here)
//   version    `gangway --version`
//   status     `gangway status` against a real orchestrator (`gangway up` on a temporary
//              project with one service in dev, started by this script)
// Each figure is the median (and p90, min) over BENCH_RUNS runs. Prints JSON and writes
// bench/results/cli.json. Environment:
//   BENCH_RUNS    runs per subject (default 15)
//   BENCH_WARMUP  unmeasured runs per subject first (default 2)
// Targets: version under 150 ms, status under 400 ms. Builds dist/ when it is missing. Stops
// everything it started at the end, also on error or Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const CLI = path.join(root, 'bin/gangway.js');
const APP = path.join(root, 'test/fixtures/app.mjs');
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const TARGETS = { version: 150, status: 400 };

function log(msg) { process.stderr.write(`[bench:cli] ${msg}\n`); }

if (!existsSync(path.join(root, 'dist/cli/main.js'))) {
  log('building dist/ (npm run build)');
  spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wall time of one process from spawn to exit, in ms; throws on a non-zero exit. */
function timeRun(args) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b) => { err += b; });
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) reject(new Error(`${args.join(' ')} exited ${code}: ${err}`));
      else resolve(ms);
    });
  });
}

function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const round = (x) => Math.round(x * 10) / 10;
  return { medianMs: round(s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2), p90Ms: round(at(0.9)), minMs: round(s[0]), runs: s.length };
}

const dir = mkdtempSync(path.join(tmpdir(), 'gangway-bench-cli-'));
let up = null;
async function cleanup() {
  if (up && up.exitCode === null) {
    const gone = new Promise((r) => up.once('exit', r));
    up.kill('SIGINT');
    await Promise.race([gone, sleep(5000)]);
    if (up.exitCode === null) up.kill('SIGKILL');
  }
  if (existsSync(path.join(dir, '.gangway'))) spawnSync(process.execPath, [CLI, '-C', dir, 'down'], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
process.once('SIGINT', () => { cleanup().finally(() => process.exit(130)); });

try {
  const [api, metrics, port] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(path.join(dir, 'gangway.yaml'), `project: bench-cli
server: { port: ${api} }
agent: { metricsPort: ${metrics} }
environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}" }
        instances: 1
        port: ${port}
    health: { path: /health, interval: 100ms, startTimeout: 20s }
`);
  up = spawn(process.execPath, [CLI, '-C', dir, 'up'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GANGWAY_LOG_LEVEL: 'warn' } });
  let upErr = '';
  up.stderr.on('data', (b) => { upErr += b; });
  for (let i = 0; ; i++) {
    if (up.exitCode !== null) throw new Error(`gangway up exited ${up.exitCode}: ${upErr}`);
    if (i > 400) throw new Error(`gangway up did not answer: ${upErr}`);
    try { if ((await fetch(`http://127.0.0.1:${api}/healthz`)).ok) break; } catch { /* not yet */ }
    await sleep(50);
  }
  const subjects = {
    node: ['-e', '0'],
    version: [CLI, '--version'],
    status: [CLI, '-C', dir, 'status'],
  };
  const times = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
  for (let round = 0; round < WARMUP + RUNS; round++) {
    for (const [name, args] of Object.entries(subjects)) {
      const ms = await timeRun(args);
      if (round >= WARMUP) times[name].push(ms);
    }
  }
  const results = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, stats(v)]));
  const out = {
    bench: 'cli',
    node: process.version,
    at: new Date().toISOString(),
    results,
    overNodeMs: { version: Math.round((results.version.medianMs - results.node.medianMs) * 10) / 10, status: Math.round((results.status.medianMs - results.node.medianMs) * 10) / 10 },
    targetsMs: TARGETS,
    targetMet: results.version.medianMs < TARGETS.version && results.status.medianMs < TARGETS.status,
  };
  const text = JSON.stringify(out, null, 2) + '\n';
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(path.join(root, 'bench/results/cli.json'), text);
  process.stdout.write(text);
} finally {
  await cleanup();
}
