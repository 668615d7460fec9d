// Proxy benchmark: the trivial app reached directly, through Gangway's proxy and through
// nginx, measured side by side with the same load generator (wrk). Prints JSON and writes
// bench/results/proxy.json. Environment:
//   BENCH_DURATION      seconds per throughput run (default 6)
//   BENCH_LAT_DURATION  seconds per latency run (default 4)
//   BENCH_CONNECTIONS   connections for throughput (default 32)
//   BENCH_LAT_CONNECTIONS connections for the latency run at moderate load (default 4)
//   BENCH_LAT_DELAY_MS  pause of each latency-run connection between requests (default 1), see pace.lua
//   BENCH_ROUNDS        rounds over all subjects; figures are the median over rounds (default 3)
//   BENCH_PIN           1 (default on machines with 2+ CPUs): wrk on CPU 0, the app and the proxy on CPU 1,
//                       so every subject gets the same CPUs whatever the scheduler does; 0 to let it float
//   BENCH_CPU_PROF      set to a folder to run Gangway's proxy under `node --cpu-prof` there
// Options:
//   --compare-forwarded  also measure Gangway with forwardedHeaders: false (the proxy before forwarding
//                        headers) beside the default (on), and report both and their ratio under `forwarded`;
//                        once more with wrk itself sending the three headers, so the app parses as many
//                        headers as behind the default proxy and the ratio shows the proxy's own cost
//   --baseline DIR       also measure the proxy built in DIR (a saved copy of an older dist/: DIR/agent/proxy.js)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const env = (name, dflt) => Number(process.env[name] ?? dflt);
const DURATION = env('BENCH_DURATION', 6);
const LAT_DURATION = env('BENCH_LAT_DURATION', 4);
const CONNS = env('BENCH_CONNECTIONS', 32);
const LAT_CONNS = env('BENCH_LAT_CONNECTIONS', 4);
const ROUNDS = env('BENCH_ROUNDS', 3);
const PIN = process.env.BENCH_PIN !== '0' && os.cpus().length >= 2 && has('taskset');
const LAT_DELAY_MS = env('BENCH_LAT_DELAY_MS', 1);
const argv = process.argv.slice(2);
const COMPARE_FORWARDED = argv.includes('--compare-forwarded');
const BASELINE = argv.includes('--baseline') ? path.resolve(argv[argv.indexOf('--baseline') + 1] ?? '') : null;
/** The throughput with forwarding headers must stay within 3 % of the proxy without them. */
const FORWARDED_TARGET = 0.97;

const children = [];
let tmp = null;

function log(msg) { process.stderr.write(`[bench:proxy] ${msg}\n`); }

function has(cmd) { return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0; }

function nginxPath() {
  for (const p of ['nginx', '/usr/sbin/nginx']) if (p.startsWith('/') ? existsSync(p) : has(p)) return p;
  return null;
}

/** Installs the Debian packages of the load generator and nginx when missing. */
function ensureTools() {
  const missing = [];
  if (!has('wrk')) missing.push('wrk');
  if (nginxPath() === null) missing.push('nginx');
  if (missing.length === 0) return;
  log(`installing ${missing.join(', ')} with apt-get`);
  const r = spawnSync('sh', ['-c', `apt-get update && apt-get install -y ${missing.join(' ')}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`could not install ${missing.join(', ')}; install them (Debian packages wrk, nginx) and run again`);
}

/** Builds dist/ when the proxy sources are newer than the build. */
function ensureBuild() {
  const out = path.join(root, 'dist/agent/proxy.js');
  const sources = ['proxy.ts', 'http1.ts', 'forwarded.ts', 'request-metrics.ts'].map((f) => path.join(root, 'src/agent', f));
  const stale = !existsSync(out) || sources.some((s) => existsSync(s) && statSync(s).mtimeMs > statSync(out).mtimeMs);
  if (!stale) return;
  log('building dist/ (tsc -p tsconfig.build.json)');
  // Type errors elsewhere in the tree do not stop tsc from emitting.
  spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'ignore' });
  if (!existsSync(out)) throw new Error('dist/agent/proxy.js is missing after the build; run `npm run build`');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

function waitPort(port, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tryOnce = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`nothing listens on 127.0.0.1:${port}`));
        else setTimeout(tryOnce, 50);
      });
    };
    tryOnce();
  });
}

/** Prefixes a command with `taskset -c <cpu>` when pinning. */
function pinned(cpu, cmd, args) {
  return PIN ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

function start(name, command, argv, port) {
  const [cmd, args] = pinned(1, command, argv);
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  child.on('exit', (code, signal) => { if (!child.stopping) log(`${name} exited (${code ?? signal}): ${stderr.trim()}`); });
  child.benchName = name;
  children.push(child);
  return waitPort(port).then(() => child);
}

async function stopAll() {
  await Promise.all(children.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.stopping = true;
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    // nginx: SIGQUIT is a graceful stop of master and worker; node processes exit on SIGTERM.
    child.kill(child.benchName === 'nginx' ? 'SIGQUIT' : 'SIGTERM');
  })));
  children.length = 0;
  if (tmp !== null) { rmSync(tmp, { recursive: true, force: true }); tmp = null; }
}

function toMs(v, unit) {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

function parseWrk(text) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const lat = {};
  for (const m of text.matchAll(/^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$/gm)) lat[`p${m[1]}`] = toMs(m[2], m[3]);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  const errors = /Socket errors: (.*)/.exec(text)?.[1] ?? null;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return { rps, requests, latency: lat, errors, non2xx };
}

function wrk(port, conns, seconds, latency, headers = []) {
  return new Promise((resolve, reject) => {
    const paced = latency ? ['--latency', '-s', path.join(here, 'pace.lua')] : [];
    const args = ['-t1', `-c${conns}`, `-d${seconds}s`, ...paced, ...headers.flatMap((h) => ['-H', h]), `http://127.0.0.1:${port}/`];
    const [cmd, argv] = pinned(0, 'wrk', args);
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_LAT_DELAY_MS: String(LAT_DELAY_MS) } });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(parseWrk(out)) : reject(new Error(`wrk failed (${code}): ${out}`))));
  });
}

function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system) of a process, in microseconds, from /proc. */
function cpuMicros(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e6;
  } catch {
    return NaN;
  }
}

/** The process that serves requests: nginx's single worker (child of the master), or the process itself. */
function servingPid(child) {
  if (child.benchName !== 'nginx') return child.pid;
  let pid = child.pid;
  // With taskset the spawned process execs into nginx, so the master keeps the pid.
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    if (kids.length > 0) pid = Number(kids[0]);
  } catch { /* keep the master */ }
  return pid;
}

const round2 = (x) => (x === null ? null : Math.round(x * 100) / 100);
const round3 = (x) => (x === null ? null : Math.round(x * 1000) / 1000);

function nginxConfig(dir, listenPort, appPort) {
  return `worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream app { server 127.0.0.1:${appPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

async function main() {
  ensureTools();
  ensureBuild();
  if (BASELINE !== null && !existsSync(path.join(BASELINE, 'agent/proxy.js'))) throw new Error(`--baseline ${BASELINE}: no agent/proxy.js there`);
  tmp = mkdtempSync(path.join(os.tmpdir(), 'gangway-bench-proxy-'));
  const [appPort, gangwayPort, nginxPort] = [await freePort(), await freePort(), await freePort()];

  const app = await start('app', process.execPath, [path.join(here, 'app.js'), String(appPort)], appPort);
  const prof = process.env.BENCH_CPU_PROF;
  const nodeArgs = prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(prof)}`] : [];
  const startGangway = async (name, extra) => {
    const port = await freePort();
    return [port, await start(name, process.execPath, [...nodeArgs, path.join(here, 'gangway.js'), String(port), String(appPort), ...extra], port)];
  };
  const gangway = await start('gangway', process.execPath, [...nodeArgs, path.join(here, 'gangway.js'), String(gangwayPort), String(appPort)], gangwayPort);
  const conf = path.join(tmp, 'nginx.conf');
  writeFileSync(conf, nginxConfig(tmp, nginxPort, appPort));
  const nginx = await start('nginx', nginxPath(), ['-p', tmp, '-c', conf], nginxPort);

  const subjects = { direct: [appPort, app], gangway: [gangwayPort, gangway] };
  if (COMPARE_FORWARDED) {
    subjects.gangwayNoForwarded = await startGangway('gangway-no-forwarded', ['off']);
    // The same process, but the client sends what the default proxy adds: the app's share of the cost is then equal.
    const [port, child] = subjects.gangwayNoForwarded;
    subjects.gangwayNoForwardedClientHeaders = [port, child, ['X-Forwarded-For: 127.0.0.1', 'X-Forwarded-Proto: http', `X-Forwarded-Host: 127.0.0.1:${port}`]];
  }
  if (BASELINE !== null) subjects.gangwayBaseline = await startGangway('gangway-baseline', ['on', BASELINE]);
  subjects.nginx = [nginxPort, nginx];
  const runs = Object.fromEntries(Object.keys(subjects).map((k) => [k, { throughput: [], latency: [], cpu: [] }]));
  for (const [port, , headers] of Object.values(subjects)) await wrk(port, CONNS, 1, false, headers); // warm-up (JIT, pools)
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, [port, child, headers]] of Object.entries(subjects)) {
      log(`round ${r + 1}/${ROUNDS}: ${name} throughput (-c${CONNS}, ${DURATION}s)`);
      const pid = servingPid(child);
      const before = cpuMicros(pid);
      const t = await wrk(port, CONNS, DURATION, false, headers);
      runs[name].cpu.push((cpuMicros(pid) - before) / t.requests);
      runs[name].throughput.push(t);
      log(`round ${r + 1}/${ROUNDS}: ${name} latency (-c${LAT_CONNS}, ${LAT_DURATION}s)`);
      runs[name].latency.push(await wrk(port, LAT_CONNS, LAT_DURATION, true, headers));
    }
  }

  const results = {};
  for (const [name, rs] of Object.entries(runs)) {
    results[name] = {
      rps: round2(median(rs.throughput.map((x) => x.rps))),
      latencyMs: {
        p50: round3(median(rs.latency.map((x) => x.latency.p50))),
        p90: round3(median(rs.latency.map((x) => x.latency.p90))),
        p99: round3(median(rs.latency.map((x) => x.latency.p99))),
      },
      moderateLoadRps: round2(median(rs.latency.map((x) => x.rps))),
      /** CPU time of the serving process per request at full load (the app for direct, the proxy otherwise). */
      cpuMicrosPerRequest: round2(median(rs.cpu)),
      errors: [...rs.throughput, ...rs.latency].map((x) => x.errors).filter(Boolean),
      non2xx: [...rs.throughput, ...rs.latency].reduce((s, x) => s + x.non2xx, 0),
      rounds: rs.throughput.map((x) => round2(x.rps)),
    };
  }
  const report = {
    benchmark: 'proxy',
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    load: { tool: 'wrk', pinned: PIN ? 'wrk on CPU 0; app and proxy on CPU 1' : false, threads: 1, connections: CONNS, seconds: DURATION, latencyConnections: LAT_CONNS, latencySeconds: LAT_DURATION, latencyPauseMs: LAT_DELAY_MS, rounds: ROUNDS },
    results,
    ratios: {
      gangwayToNginxThroughput: round3(results.gangway.rps / results.nginx.rps),
      gangwayToDirectThroughput: round3(results.gangway.rps / results.direct.rps),
      nginxToDirectThroughput: round3(results.nginx.rps / results.direct.rps),
    },
    addedP99Ms: {
      gangway: round3(results.gangway.latencyMs.p99 - results.direct.latencyMs.p99),
      nginx: round3(results.nginx.latencyMs.p99 - results.direct.latencyMs.p99),
    },
    target: { gangwayToNginxThroughputAtLeast: 0.8, addedP99MsAtMost: 1 },
  };
  report.targetMet = report.ratios.gangwayToNginxThroughput >= 0.8 && report.addedP99Ms.gangway <= 1;
  if (COMPARE_FORWARDED || BASELINE !== null) {
    // `gangway` runs with forwarding headers (the default); the others are what it is compared with.
    const pick = (r) => ({ rps: r.rps, cpuMicrosPerRequest: r.cpuMicrosPerRequest, p99Ms: r.latencyMs.p99, rounds: r.rounds });
    const fw = { on: pick(results.gangway) };
    if (COMPARE_FORWARDED) {
      fw.off = pick(results.gangwayNoForwarded);
      fw.offClientHeaders = pick(results.gangwayNoForwardedClientHeaders);
      /** Everything the headers cost: the proxy's work and the app's parsing of three more headers (both on CPU 1). */
      fw.onToOffThroughput = round3(results.gangway.rps / results.gangwayNoForwarded.rps);
      fw.onToOffCpuPerRequest = round3(results.gangway.cpuMicrosPerRequest / results.gangwayNoForwarded.cpuMicrosPerRequest);
      /** The proxy's own cost: the app receives the same three headers in both. */
      fw.onToOffClientHeadersThroughput = round3(results.gangway.rps / results.gangwayNoForwardedClientHeaders.rps);
      fw.onToOffClientHeadersCpuPerRequest = round3(results.gangway.cpuMicrosPerRequest / results.gangwayNoForwardedClientHeaders.cpuMicrosPerRequest);
      fw.targetOnToOffThroughputAtLeast = FORWARDED_TARGET;
      fw.targetMet = fw.onToOffThroughput >= FORWARDED_TARGET;
      fw.proxyTargetMet = fw.onToOffClientHeadersThroughput >= FORWARDED_TARGET;
    }
    if (BASELINE !== null) {
      fw.baseline = { dist: BASELINE, ...pick(results.gangwayBaseline) };
      fw.onToBaselineThroughput = round3(results.gangway.rps / results.gangwayBaseline.rps);
      if (COMPARE_FORWARDED) fw.offToBaselineThroughput = round3(results.gangwayNoForwarded.rps / results.gangwayBaseline.rps);
    }
    report.forwarded = fw;
  }
  const json = JSON.stringify(report, null, 2);
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(path.join(root, 'bench/results/proxy.json'), json + '\n');
  process.stdout.write(json + '\n');
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { void stopAll().then(() => process.exit(130)); });
try {
  await main();
} catch (err) {
  log(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
} finally {
  await stopAll();
}
