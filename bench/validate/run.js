// Config validation benchmark: how the time `gangway validate` spends on a file grows with the
// file. Each family below makes files of growing size out of one thing (unknown keys, members of
// a group, services, blank lines, aliases, dependencies on undeclared services) and times
// parseConfig from the build (dist/config/load.js), in this process, on the text: YAML, schema,
// whole-file checks, compile, up to the problems listed. Rounds are interleaved over families and
// sizes so load on the machine hits each alike; each figure is the median over rounds.
// For each step up in size it prints the time ratio next to the size ratio, and `perUnit`, their
// quotient: about 1 when the time grows linearly, about the size ratio when it grows
// quadratically. Prints JSON and writes bench/results/validate.json. Environment:
//   BENCH_ROUNDS   rounds (default 5)
//   BENCH_FAMILIES comma-separated families to run (default all)
//   BENCH_SIZES    how many sizes of each family, smallest first (default all 3)
//   BENCH_DIST     the build to measure (default dist/, built when src/config is newer); give a
//                  saved copy of an older build to compare, e.g. the one before a change
// Runs itself under --expose-gc so each measurement starts after a full collection.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function log(msg) { process.stderr.write(`[bench:validate] ${msg}\n`); }

if (typeof globalThis.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

const dist = path.resolve(process.env.BENCH_DIST ?? path.join(root, 'dist'));
const built = path.join(dist, 'config/load.js');
if (!process.env.BENCH_DIST && (!existsSync(built) || statSync(built).mtimeMs < newestMtime(path.join(root, 'src/config')))) {
  log('building dist/ (npm run build)');
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`npm run build exited ${r.status}`);
}
const { parseConfig } = await import(pathToFileURL(built).href);
// A build from before the limits had none; the files stay within 1 MiB either way.
const MAX_CONFIG_BYTES = existsSync(path.join(dist, 'config/limits.js'))
  ? (await import(pathToFileURL(path.join(dist, 'config/limits.js')).href)).MAX_CONFIG_BYTES
  : 1024 * 1024;
const SIZES = Number(process.env.BENCH_SIZES ?? 3);

const HEAD = 'project: shop\nenvironments:\n  dev: {}\n  staging: { promotion: { from: dev } }\n  prod: { promotion: { from: staging } }\n';
const WEB = 'services:\n  web:\n    target: { local: { command: [node, server.js], port: 8080 } }\n'
  + '    environments:\n      staging: { target: { local: { port: 8180 } } }\n      prod: { target: { local: { port: 8280 } } }\n';
const b36 = (i) => i.toString(36);

/** Each family: what grows, the sizes, and the file of a size. */
const FAMILIES = {
  // A strict mapping with n keys it does not know (each one a problem; the first 50 are listed).
  unknownKeys: { unit: 'keys', sizes: [1_000, 10_000, 100_000], text: (n) => `${HEAD}${WEB}${Array.from({ length: n }, (_, i) => `k${b36(i)}: 1\n`).join('')}` },
  // One approval group with n members, checked for repeats.
  groupMembers: { unit: 'members', sizes: [1_000, 10_000, 100_000], text: (n) => `groups:\n  ops: [${Array.from({ length: n }, (_, i) => `u${b36(i)}`).join(',')}]\n${HEAD}${WEB}` },
  // n services, each with a health check, a canary, a smoke check and overrides for two environments: a valid file.
  services: {
    unit: 'services', sizes: [10, 100, 1_000],
    text: (n) => `${HEAD}services:\n${Array.from({ length: n }, (_, i) => `  s${i}:
    dependsOn: [${i === 0 ? '' : `s${i - 1}`}]
    target: { local: { command: [node, server.js, "\${port}"], port: ${10_000 + i}, env: { NAME: "\${service}" } } }
    health: { path: /health, interval: 2s, expect: { status: 200, json: { status: UP } } }
    strategy: { canary: { steps: [ { setWeight: 10 }, { pause: 1m }, { setWeight: 50 }, { analysis: runbook-defaults } ] } }
    smoke: [ { http: { path: /ready, headers: { X-Check: "1" } } } ]
    environments:
      staging: { target: { local: { port: ${20_000 + i} } } }
      prod: { target: { local: { port: ${30_000 + i}, instances: 2 } } }
`).join('')}`,
  },
  // A valid file followed by n blank lines (at the largest, the size limit).
  blankLines: { unit: 'lines', sizes: [10_000, 100_000, MAX_CONFIG_BYTES - 400], text: (n) => `${HEAD}${WEB}${'\n'.repeat(n)}` },
  // One anchored value and n aliases of it.
  aliases: { unit: 'aliases', sizes: [1_000, 10_000, 100_000], text: (n) => `${HEAD}${WEB}x:\n  a: &a v\n  b: [${Array(n).fill('*a').join(',')}]\n` },
  // n services, each depending on a service that is not declared (a problem with "did you mean" among n names).
  unknownDependencies: {
    unit: 'services', sizes: [10, 100, 1_000],
    text: (n) => `${HEAD.split('  staging')[0]}services:\n${Array.from({ length: n }, (_, i) => `  s${i}: { target: { local: { command: [node], port: ${10_000 + i} } }, dependsOn: [x${i}] }\n`).join('')}`,
  },
};

const only = process.env.BENCH_FAMILIES?.split(',').map((f) => f.trim()).filter(Boolean);
const families = Object.entries(FAMILIES).filter(([name]) => !only || only.includes(name));

function measure(text) {
  globalThis.gc();
  const t0 = process.hrtime.bigint();
  let outcome;
  try {
    parseConfig(text, '/srv/bench/gangway.yaml', { env: {} });
    outcome = 'valid';
  } catch (err) {
    if (!Array.isArray(err.problems)) throw err;
    outcome = `${err.problems.length} problems listed`;
  }
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, outcome };
}

const texts = new Map();
for (const [name, family] of families) {
  for (const n of family.sizes.slice(0, SIZES)) texts.set(`${name}/${n}`, family.text(n));
}
// One unmeasured run of each first, so the code is compiled before anything is timed.
for (const text of texts.values()) measure(text);

const runs = new Map([...texts.keys()].map((k) => [k, []]));
const outcomes = new Map();
for (let round = 0; round < ROUNDS; round++) {
  for (const [key, text] of texts) {
    const { ms, outcome } = measure(text);
    runs.get(key).push(ms);
    outcomes.set(key, outcome);
  }
  log(`round ${round + 1}/${ROUNDS} done`);
}

const round1 = (x) => Math.round(x * 10) / 10;
const round2 = (x) => Math.round(x * 100) / 100;
const median = (list) => { const s = [...list].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const results = {};
const ratios = {};
for (const [name, family] of families) {
  results[name] = family.sizes.slice(0, SIZES).map((n) => {
    const key = `${name}/${n}`;
    const list = runs.get(key);
    return { [family.unit]: n, bytes: Buffer.byteLength(texts.get(key)), medianMs: round1(median(list)), minMs: round1(Math.min(...list)), maxMs: round1(Math.max(...list)), outcome: outcomes.get(key) };
  });
  ratios[name] = results[name].slice(1).map((r, i) => {
    const prev = results[name][i];
    const sizeRatio = r[family.unit] / prev[family.unit];
    const timeRatio = r.medianMs / prev.medianMs;
    return { from: prev[family.unit], to: r[family.unit], sizeRatio: round2(sizeRatio), timeRatio: round2(timeRatio), perUnit: round2(timeRatio / sizeRatio) };
  });
}

const out = {
  benchmark: 'validate',
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, loadAverage: os.loadavg().map(round2), node: process.version },
  settings: { rounds: ROUNDS, build: path.relative(root, dist) || '.' },
  results,
  ratios,
};
const json = JSON.stringify(out, null, 2);
process.stdout.write(`${json}\n`);
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
// A build other than dist/ is a comparison run: its figures go to stdout only.
if (!process.env.BENCH_DIST) writeFileSync(path.join(root, 'bench/results/validate.json'), `${json}\n`);
