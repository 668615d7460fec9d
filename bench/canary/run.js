// Canary benchmark: the blast radius of bad canaries under Gangway's default canary steps and
// `runbook-defaults` analysis, against a fixed-interval policy with Flagger's defaults, on the
// same simulated traffic. A deterministic simulation in virtual time (the fixed-interval policy
// checks every 60 s; a real-time run would take hours), driving Gangway's real analysis code
// (dist/analysis) through fake metric providers that implement the provider port over the
// simulated requests. Prints JSON and writes bench/results/canary.json. Environment:
//   BENCH_SEED        base seed of the PRNG (default 20240601)
//   BENCH_BAD_RUNS    seeds per bad-canary scenario (default 40)
//   BENCH_GOOD_RUNS   good canaries for the false-rollback rate (default 200)
//   BENCH_RATE        requests per second of the headline run (default 50)
//   BENCH_OTHER_RATES comma-separated rates also run, with half the seeds, to show how traffic changes the picture (default 10,200; empty for none)
//   BENCH_HORIZON_S   seconds of traffic after the canary starts that the blast radius is counted over (default 900)
//   BENCH_WARMUP_S    seconds the stable release serves alone before the canary starts (default 600)
//   BENCH_STEPS       JSON array of canary steps replacing DEFAULT_CANARY_STEPS (for tuning)
//   BENCH_GUARD       0 to run without the agent's in-proxy canary guard (default 1)
import { existsSync, mkdirSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const env = (name, dflt) => Number(process.env[name] ?? dflt);
const SEED = env('BENCH_SEED', 20240601);
const BAD_RUNS = env('BENCH_BAD_RUNS', 40);
const GOOD_RUNS = env('BENCH_GOOD_RUNS', 200);
let RATE = env('BENCH_RATE', 50);
const HEADLINE_RATE = RATE;
const OTHER_RATES = (process.env.BENCH_OTHER_RATES ?? '10,200').split(',').filter(Boolean).map(Number);
const HORIZON = env('BENCH_HORIZON_S', 900);
const WARMUP = env('BENCH_WARMUP_S', 600);
const GUARD = env('BENCH_GUARD', 1) !== 0;
/** Level and power of the SPRT whose expected sample number is the bound each bad scenario is compared with. */
const BOUND = { alpha: 0.002, beta: 0.05 };

function log(msg) { process.stderr.write(`[bench:canary] ${msg}\n`); }

// Build dist/ when an analysis or agent source is newer than its output.
function ensureBuilt() {
  const newest = Math.max(...['src/analysis', 'src/agent'].flatMap((d) => readdirSync(path.join(root, d)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => statSync(path.join(root, d, f)).mtimeMs)));
  const out = path.join(root, 'dist/agent/canary-guard.js');
  if (existsSync(out) && statSync(out).mtimeMs >= newest) return;
  log('building dist/ (npm run build)');
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (!existsSync(out)) throw new Error(`npm run build did not produce ${out} (exit ${r.status})`);
}
ensureBuilt();

const { evaluateTemplate } = await import(path.join(root, 'dist/analysis/evaluate.js'));
const { RUNBOOK_DEFAULTS, DEFAULT_CANARY_STEPS } = await import(path.join(root, 'dist/analysis/presets.js'));
const { DURATION_BUCKETS } = await import(path.join(root, 'dist/agent/request-metrics.js'));
const { histogramQuantile } = await import(path.join(root, 'dist/core/histogram.js'));
const { CanaryGuard } = await import(path.join(root, 'dist/agent/canary-guard.js'));
const { guardBoundary, guardLogLikelihoodRatio } = await import(path.join(root, 'dist/analysis/sequential.js'));
const STEPS = process.env.BENCH_STEPS ? JSON.parse(process.env.BENCH_STEPS) : DEFAULT_CANARY_STEPS;

// --- traffic -------------------------------------------------------------------------------
const STABLE = { errorRate: 0.001, latencyMedian: 0.05, latencySigma: 0.6 };
const SCENARIOS = [
  { name: 'errors-2pct', errorRate: 0.02, latencyFactor: 1 },
  { name: 'errors-5pct', errorRate: 0.05, latencyFactor: 1 },
  { name: 'errors-20pct', errorRate: 0.2, latencyFactor: 1 },
  { name: 'latency-3x', errorRate: STABLE.errorRate, latencyFactor: 3 },
];
const GOOD = { name: 'good', errorRate: STABLE.errorRate, latencyFactor: 1 };
const NB = DURATION_BUCKETS.length + 1;

/** SplitMix32-seeded Mulberry32: small, fast, and the same sequence on every machine. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bucketOf(seconds) {
  let b = 0;
  while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]) b++;
  return b;
}

/**
 * One seed's requests, shared by both policies (common random numbers): for request i, the
 * routing draw, the error draw, and the latency bucket it falls in on each release.
 */
function traffic(seed, scenario, seconds) {
  const rand = prng(seed);
  const n = seconds * RATE;
  const route = new Float64Array(n);
  const err = new Float64Array(n);
  const bStable = new Uint8Array(n);
  const bCanary = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    route[i] = rand();
    err[i] = rand();
    const u1 = rand() || 1e-12;
    const u2 = rand();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    const l = STABLE.latencyMedian * Math.exp(STABLE.latencySigma * z);
    bStable[i] = bucketOf(l);
    bCanary[i] = bucketOf(l * scenario.latencyFactor);
  }
  return { route, err, bStable, bCanary, scenario };
}

/** Per-second request counts of both releases as the proxy would measure them. */
class World {
  constructor(tr, seconds) {
    this.tr = tr;
    this.t = 0;
    this.weight = 0;
    this.bins = { canary: new Float64Array(seconds * (NB + 2)), stable: new Float64Array(seconds * (NB + 2)) };
    this.canaryRequests = 0;
    this.failedByCanary = 0;
    /** The agent's canary guard while one is set; `trippedAt` in seconds since the simulation began. */
    this.guard = null;
    this.trippedAt = null;
    // Stable has served alone before the canary starts, as in production: its windows are full.
    this.advanceTo(WARMUP);
  }
  /** Simulates whole seconds up to `t` (seconds since the simulation began) at the current weight. */
  advanceTo(t) {
    const { route, err, bStable, bCanary, scenario } = this.tr;
    for (; this.t < t; this.t++) {
      for (let k = 0; k < RATE; k++) {
        const share = this.weight / 100;
        const i = this.t * RATE + k;
        const canary = route[i] < share;
        const rate = canary ? scenario.errorRate : STABLE.errorRate;
        const failed = err[i] < rate;
        const bins = canary ? this.bins.canary : this.bins.stable;
        const o = this.t * (NB + 2);
        bins[o] += 1;
        if (failed) bins[o + 1] += 1;
        bins[o + 2 + (canary ? bCanary[i] : bStable[i])] += 1;
        if (canary) {
          this.canaryRequests++;
          if (failed && !(err[i] < STABLE.errorRate)) this.failedByCanary++;
        }
        // The proxy's guard sees the request as it finishes and takes the canary out of traffic at once.
        if (this.guard !== null && this.guard.observe(canary ? 'canary' : 'stable', failed ? 500 : 200)) {
          this.trippedAt = this.t + (k + 1) / RATE;
          this.weight = 0;
          this.guard = null;
        }
      }
    }
  }
  /** Sets the guard as the analysis step does, with the stable's counters so far as the agent has them. */
  setGuard(alpha) {
    if (this.guard !== null || this.trippedAt !== null) return;
    const w = this.window('stable', this.t * 1000, this.t * 1000);
    this.guard = new CanaryGuard('web', 'prod', { canary: 'canary', stable: 'stable', alpha }, { total: w.total, errors: w.errors }, () => this.t * 1000);
  }
  /** Sums the seconds [now - windowMs, now) of one release. */
  window(who, windowMs, now) {
    const to = Math.floor(now / 1000);
    const from = Math.max(0, to - Math.ceil(windowMs / 1000));
    const bins = this.bins[who];
    const w = { total: 0, errors: 0, bounds: DURATION_BUCKETS, buckets: new Array(NB).fill(0) };
    for (let s = from; s < to; s++) {
      const o = s * (NB + 2);
      w.total += bins[o];
      w.errors += bins[o + 1];
      for (let b = 0; b < NB; b++) w.buckets[b] += bins[o + 2 + b];
    }
    return w;
  }
}

function quantile(q, w) {
  const cum = [];
  let s = 0;
  for (const c of w.buckets) cum.push((s += c));
  return histogramQuantile(q, w.bounds, cum);
}

// --- Gangway: default canary steps, runbook-defaults every interval --------------------------
/** The builtin provider over the simulated windows, implementing MetricProvider and RequestWindowSource. */
function fakeBuiltin(world) {
  const who = (version) => (version === 'canary' ? 'canary' : 'stable');
  return {
    async measure(source, q) {
      const w = world.window(who(q.version), q.windowMs, q.now);
      if (w.total === 0) return { phase: 'nodata', detail: 'no requests in the window' };
      switch (source.metric) {
        case 'error_rate': return { phase: 'ok', value: w.errors / w.total, samples: w.total };
        case 'request_rate': return { phase: 'ok', value: w.total / (q.windowMs / 1000), samples: w.total };
        case 'p50_latency': return { phase: 'ok', value: quantile(0.5, w), samples: w.total };
        case 'p95_latency': return { phase: 'ok', value: quantile(0.95, w), samples: w.total };
        case 'p99_latency': return { phase: 'ok', value: quantile(0.99, w), samples: w.total };
        default: return { phase: 'error', detail: `unknown metric ${source.metric}` };
      }
    },
    async requestWindow(q) { return world.window(who(q.version), q.windowMs, q.now); },
  };
}

/** Runs the steps like the engine's analysis step does; returns when traffic is back on stable or all on the canary. */
async function runGangway(world) {
  const provider = fakeBuiltin(world);
  const ctx = (now) => ({
    service: 'web', environment: 'prod', canary: 'canary', stable: 'stable', now,
    provider: () => provider, requests: provider,
    health: async () => [{ id: 'canary-1', consecutiveFailures: 0, state: 'healthy' }],
  });
  let t = WARMUP;
  let evaluations = 0;
  let pausedForPerson = 0;
  for (const step of STEPS) {
    if (step.kind === 'setWeight') {
      world.advanceTo(t);
      if (world.trippedAt !== null) return { outcome: 'rolled_back', at: world.trippedAt - WARMUP, reason: 'canary guard', byGuard: true, evaluations, pausedForPerson };
      world.weight = step.weight;
      if (step.weight === 100) world.guard = null;
      if (step.weight === 100) return { outcome: 'promoted', at: t - WARMUP, evaluations, pausedForPerson };
      continue;
    }
    if (step.kind === 'pause') { t += (step.durationMs ?? 0) / 1000; continue; }
    if (step.kind !== 'analysis') continue;
    const judge = RUNBOOK_DEFAULTS.rules.find((r) => r.kind === 'judge' && r.errors);
    if (GUARD && judge) { world.advanceTo(t); world.setGuard(judge.alpha); }
    const start = t;
    let state = {};
    const passed = new Set();
    for (;;) {
      world.advanceTo(t);
      // The step looks at the guard every poll interval: the weight is already 0 from the trip on.
      if (world.trippedAt !== null) return { outcome: 'rolled_back', at: world.trippedAt - WARMUP, reason: 'canary guard', byGuard: true, evaluations, pausedForPerson };
      const ev = await evaluateTemplate(RUNBOOK_DEFAULTS, ctx(t * 1000), state);
      evaluations++;
      for (const v of ev.verdicts) if (v.verdict === 'pass') passed.add(v.rule);
      state = ev.state;
      if (ev.decision.action === 'fail') {
        world.weight = 0;
        return { outcome: 'rolled_back', at: t - WARMUP, reason: ev.decision.reason, evaluations, pausedForPerson };
      }
      // A pause would wait for a person; the simulation lets them promote at once and counts it.
      if (ev.decision.action === 'pause') pausedForPerson++;
      if ((t - start) * 1000 >= step.durationMs) {
        if (RUNBOOK_DEFAULTS.rules.some((r) => !passed.has(r.name))) pausedForPerson++;
        break;
      }
      t += Math.min(RUNBOOK_DEFAULTS.intervalMs, start * 1000 + step.durationMs - t * 1000) / 1000;
    }
  }
  world.advanceTo(t);
  if (world.trippedAt !== null) return { outcome: 'rolled_back', at: world.trippedAt - WARMUP, reason: 'canary guard', byGuard: true, evaluations, pausedForPerson };
  world.guard = null;
  world.weight = 100;
  return { outcome: 'promoted', at: t - WARMUP, evaluations, pausedForPerson };
}

// --- the bound ------------------------------------------------------------------------------
/**
 * Wald's approximation of the expected number of canary requests his SPRT of p0 against p1 needs
 * when the canary fails at p1, at false-rollback rate alpha and miss rate beta (Wald 1947,
 * "Sequential Analysis", eq. 4.10): E1[N] = ((1 − β) ln((1 − β)/α) + β ln(β/(1 − α))) / KL(p1 ‖ p0),
 * KL(p1 ‖ p0) = p1 ln(p1/p0) + (1 − p1) ln((1 − p1)/(1 − p0)). It ignores the overshoot of the
 * boundary, so it is a little below what the SPRT itself needs.
 */
function waldAsn(p0, p1, alpha, beta) {
  const kl = p1 * Math.log(p1 / p0) + (1 - p1) * Math.log((1 - p1) / (1 - p0));
  return ((1 - beta) * Math.log((1 - beta) / alpha) + beta * Math.log(beta / (1 - alpha))) / kl;
}

/**
 * What Wald's SPRT itself needs, exactly: the expected number of canary requests until it stops
 * (at either boundary, as Wald's E1[N] counts), by dynamic programming over the failure count,
 * when the canary fails at p1 and the test knows p1 in advance. Each failure moves its log
 * likelihood ratio by ln(p1/p0) at once, so it overshoots the boundary, and with few failures
 * needed (20%: two) the overshoot is most of the step: the exact figure is well above Wald's
 * approximation, and it is the least any test at the same alpha and beta can expect there.
 */
function sprtExact(p0, p1, alpha, beta, limit = 100_000) {
  const upper = Math.log((1 - beta) / alpha), lower = Math.log(beta / (1 - alpha));
  const lf = Math.log(p1 / p0), ls = Math.log((1 - p1) / (1 - p0));
  let dist = new Map([[0, 1]]);
  let e = 0, stopped = 0;
  for (let n = 1; n <= limit && 1 - stopped > 1e-12; n++) {
    const next = new Map();
    for (const [f, pr] of dist) {
      for (const [g, q] of [[f + 1, pr * p1], [f, pr * (1 - p1)]]) {
        const llr = g * lf + (n - g) * ls;
        if (llr >= upper || llr <= lower) { e += n * q; stopped += q; } else next.set(g, (next.get(g) ?? 0) + q);
      }
    }
    dist = next;
  }
  return e;
}

/**
 * The guard's own expected number of canary requests until it trips, and its standard deviation,
 * when the canary fails at p1 and p0 is known (the guard's test alone, without the steps and the
 * judge): exact, by dynamic programming over the failure count along the guard's boundary. The
 * simulated mean over seeds scatters around it by about sd / sqrt(seeds).
 */
function guardExpected(p0, p1, alpha, limit = 100_000) {
  const b = guardBoundary(p0, alpha);
  let dist = new Float64Array(1024);
  dist[0] = 1;
  let hi = 0, c = 1, e = 0, e2 = 0, stopped = 0;
  for (let n = 1; n <= limit && 1 - stopped > 1e-12; n++) {
    while (c <= n && guardLogLikelihoodRatio(b.alternatives, p0, n, c) < b.logThreshold) c++;
    const top = hi + 1;
    if (top >= dist.length) { const d = new Float64Array(dist.length * 2); d.set(dist); dist = d; }
    for (let x = top; x >= 1; x--) dist[x] = dist[x] * (1 - p1) + dist[x - 1] * p1;
    dist[0] *= 1 - p1;
    hi = top;
    let s = 0;
    for (let x = c; x <= hi; x++) { s += dist[x]; dist[x] = 0; }
    if (hi >= c) hi = c - 1;
    e += n * s;
    e2 += n * n * s;
    stopped += s;
  }
  return { mean: e, sd: Math.sqrt(Math.max(0, e2 - e * e)) };
}

// --- fixed interval: Flagger's defaults --------------------------------------------------------
const FLAGGER = { intervalS: 60, stepWeight: 10, maxWeight: 50, threshold: 1, minSuccessRate: 99, maxP99Ms: 500 };

/**
 * Flagger's scheduler (advanceCanary) every interval: the failed-check threshold is checked at
 * the start of a run, then the metric checks over the last interval, then the weight goes up by
 * stepWeight, and at maxWeight the canary is promoted. Checks: request-success-rate >= 99% and
 * request-duration p99 <= 500 ms over 1m; no data fails the check.
 */
function runFixedInterval(world) {
  let failedChecks = 0;
  let iterations = 0;
  for (let t = WARMUP; ; t += FLAGGER.intervalS) {
    world.advanceTo(t);
    if (failedChecks >= FLAGGER.threshold) { world.weight = 0; return { outcome: 'rolled_back', at: t - WARMUP, checks: iterations }; }
    if (world.weight === 0 && iterations === 0) { world.weight = FLAGGER.stepWeight; iterations++; continue; }
    const w = world.window('canary', FLAGGER.intervalS * 1000, t * 1000);
    const success = w.total > 0 ? 100 * (1 - w.errors / w.total) : NaN;
    const p99 = w.total > 0 ? quantile(0.99, w) * 1000 : NaN;
    iterations++;
    if (!(success >= FLAGGER.minSuccessRate) || !(p99 <= FLAGGER.maxP99Ms)) { failedChecks++; continue; }
    if (world.weight < FLAGGER.maxWeight) { world.weight += FLAGGER.stepWeight; continue; }
    // Promotion copies the canary's spec to the primary: from here every request runs it.
    world.weight = 100;
    return { outcome: 'promoted', at: t - WARMUP, checks: iterations };
  }
}

// --- runs --------------------------------------------------------------------------------------
async function runOne(policy, seed, scenario, countHorizon) {
  const tr = traffic(seed, scenario, WARMUP + HORIZON);
  const world = new World(tr, WARMUP + HORIZON);
  const r = policy === 'gangway' ? await runGangway(world) : runFixedInterval(world);
  if (countHorizon) world.advanceTo(WARMUP + HORIZON);
  return { ...r, canaryRequests: world.canaryRequests, failedByCanary: world.failedByCanary };
}

const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const median = (xs) => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const round = (v, d = 4) => (v === null ? null : Number(v.toFixed(d)));
const stdError = (xs) => { if (xs.length < 2) return null; const m = mean(xs); return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1) / xs.length); };

function summarise(runs) {
  const total = RATE * HORIZON;
  const back = runs.filter((r) => r.outcome === 'rolled_back').map((r) => r.at);
  return {
    runs: runs.length,
    rolledBack: back.length,
    promoted: runs.filter((r) => r.outcome === 'promoted').length,
    badRequestsMean: round(mean(runs.map((r) => r.canaryRequests)), 1),
    badRequestsMedian: median(runs.map((r) => r.canaryRequests)),
    badRequestsStdError: round(stdError(runs.map((r) => r.canaryRequests)), 1),
    badShareOfAllRequests: round(mean(runs.map((r) => r.canaryRequests)) / total, 6),
    failedByCanaryMean: round(mean(runs.map((r) => r.failedByCanary)), 1),
    secondsToStableMean: round(mean(back), 1),
    secondsToStableMedian: median(back),
    secondsToStableMax: back.length ? Math.max(...back) : null,
    ...(runs[0].evaluations !== undefined ? { rolledBackByGuard: runs.filter((r) => r.byGuard).length } : {}),
    ...(runs[0].pausedForPerson !== undefined ? { pausedForPerson: runs.reduce((a, r) => a + r.pausedForPerson, 0) } : {}),
  };
}

async function runSuite(badRuns, goodRuns) {
  const scenarios = {};
  for (const [si, sc] of SCENARIOS.entries()) {
    const g = [];
    const f = [];
    for (let k = 0; k < badRuns; k++) {
      const seed = SEED + 1000 * (si + 1) + k;
      g.push(await runOne('gangway', seed, sc, true));
      f.push(await runOne('fixed', seed, sc, true));
    }
    const gs = summarise(g);
    const fs = summarise(f);
    const bound = sc.errorRate > STABLE.errorRate ? waldAsn(STABLE.errorRate, sc.errorRate, BOUND.alpha, BOUND.beta) : null;
    const exactSprt = bound === null ? null : sprtExact(STABLE.errorRate, sc.errorRate, BOUND.alpha, BOUND.beta);
    const exact = bound !== null && GUARD ? guardExpected(STABLE.errorRate, sc.errorRate, BOUND.alpha) : null;
    scenarios[sc.name] = {
      canary: { errorRate: sc.errorRate, latencyFactor: sc.latencyFactor },
      gangway: gs,
      fixedInterval: fs,
      ...(bound === null ? {} : {
        sprtBound: round(bound, 1), gangwayToBound: round(gs.badRequestsMean / bound, 2),
        gangwayToBoundStdError: gs.badRequestsStdError === null ? null : round(gs.badRequestsStdError / bound, 2),
      }),
      ...(exactSprt === null ? {} : { sprtExact: round(exactSprt, 1), gangwayToSprtExact: round(gs.badRequestsMean / exactSprt, 2) }),
      ...(exact === null ? {} : { guardExpected: { mean: round(exact.mean, 1), sd: round(exact.sd, 1), toBound: round(exact.mean / bound, 3) } }),
      badRequestsRatio: round(fs.badRequestsMean / Math.max(gs.badRequestsMean, 1e-9), 2),
      sampleReasons: g.filter((r) => r.reason).slice(0, 2).map((r) => r.reason),
    };
    log(`${RATE} req/s, ${sc.name}: gangway ${gs.badRequestsMean} bad requests${bound === null ? '' : ` (SPRT bound ${round(bound, 1)}, exact SPRT ${round(exactSprt, 1)})`}, fixed-interval ${fs.badRequestsMean} → ${scenarios[sc.name].badRequestsRatio}x`);
  }
  const good = { gangway: [], fixed: [] };
  for (let k = 0; k < goodRuns; k++) {
    const seed = SEED + 900_000 + k;
    good.gangway.push(await runOne('gangway', seed, GOOD, false));
    good.fixed.push(await runOne('fixed', seed, GOOD, false));
  }
  const falseRollbacks = {
    runs: goodRuns,
    gangway: good.gangway.filter((r) => r.outcome === 'rolled_back').length,
    fixedInterval: good.fixed.filter((r) => r.outcome === 'rolled_back').length,
    gangwayReasons: good.gangway.filter((r) => r.reason).map((r) => r.reason).slice(0, 5),
    gangwayPausedForPerson: good.gangway.filter((r) => r.pausedForPerson > 0).length,
    gangwaySecondsToPromotionMedian: median(good.gangway.filter((r) => r.outcome === 'promoted').map((r) => r.at)),
    fixedIntervalSecondsToPromotionMedian: median(good.fixed.filter((r) => r.outcome === 'promoted').map((r) => r.at)),
  };
  log(`${RATE} req/s: false rollbacks over ${goodRuns} good canaries: gangway ${falseRollbacks.gangway}, fixed-interval ${falseRollbacks.fixedInterval}`);
  const sumG = Object.values(scenarios).reduce((a, s) => a + s.gangway.badRequestsMean, 0);
  const sumF = Object.values(scenarios).reduce((a, s) => a + s.fixedInterval.badRequestsMean, 0);
  return {
    requestsPerSecond: RATE,
    scenarios,
    allBadScenarios: { gangwayBadRequests: round(sumG, 1), fixedIntervalBadRequests: round(sumF, 1), ratio: round(sumF / sumG, 2) },
    falseRollbacks,
  };
}

const started = Date.now();
const headline = await runSuite(BAD_RUNS, GOOD_RUNS);
const otherRates = [];
for (const r of OTHER_RATES) {
  RATE = r;
  const suite = await runSuite(Math.ceil(BAD_RUNS / 2), Math.ceil(GOOD_RUNS / 2));
  otherRates.push({
    requestsPerSecond: r,
    badRequestsRatio: Object.fromEntries(Object.entries(suite.scenarios).map(([k, v]) => [k, v.badRequestsRatio])),
    allBadScenarios: suite.allBadScenarios,
    falseRollbacks: { runs: suite.falseRollbacks.runs, gangway: suite.falseRollbacks.gangway, fixedInterval: suite.falseRollbacks.fixedInterval, gangwayPausedForPerson: suite.falseRollbacks.gangwayPausedForPerson },
  });
}
RATE = HEADLINE_RATE;
const result = {
  bench: 'canary',
  mode: 'deterministic simulation in virtual time',
  setup: {
    seed: SEED, badRunsPerScenario: BAD_RUNS, goodRuns: GOOD_RUNS, requestsPerSecond: RATE, horizonSeconds: HORIZON, stableWarmupSeconds: WARMUP,
    stable: { errorRate: STABLE.errorRate, latency: `lognormal, median ${STABLE.latencyMedian * 1000} ms, sigma ${STABLE.latencySigma}` },
    gangway: { steps: STEPS, template: RUNBOOK_DEFAULTS.name, intervalMs: RUNBOOK_DEFAULTS.intervalMs, canaryGuard: GUARD },
    sprtBound: { ...BOUND, p0: STABLE.errorRate, formula: "Wald's ASN under H1: ((1-beta) ln((1-beta)/alpha) + beta ln(beta/(1-alpha))) / KL(p1||p0)" },
    fixedInterval: { like: "Flagger's defaults", ...FLAGGER, checks: 'request-success-rate >= 99%, request-duration p99 <= 500ms, over 1m' },
  },
  scenarios: headline.scenarios,
  allBadScenarios: headline.allBadScenarios,
  falseRollbacks: headline.falseRollbacks,
  target: {
    wanted: '>= 10x fewer bad requests than the fixed-interval policy, no more false rollbacks',
    perScenario: Object.fromEntries(Object.entries(headline.scenarios).map(([k, s]) => [k, s.badRequestsRatio >= 10])),
    allBadScenarios: headline.allBadScenarios.ratio >= 10,
    falseRollbacks: headline.falseRollbacks.gangway <= headline.falseRollbacks.fixedInterval,
    withinSprtBound: {
      wanted: 'bad requests <= 1.3x the SPRT bound in each error scenario',
      perScenario: Object.fromEntries(Object.entries(headline.scenarios).filter(([, s]) => s.sprtBound !== undefined).map(([k, s]) => [k, s.gangwayToBound <= 1.3])),
      exactSprtToBound: Object.fromEntries(Object.entries(headline.scenarios).filter(([, s]) => s.sprtExact !== undefined).map(([k, s]) => [k, round(s.sprtExact / s.sprtBound, 2)])),
    },
  },
  otherRates,
  wallSeconds: round((Date.now() - started) / 1000, 1),
};
const out = JSON.stringify(result, null, 2);
process.stdout.write(out + '\n');
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.resolve(root, process.env.BENCH_OUT ?? 'bench/results/canary.json'), out + '\n');
