/**
 * Analysis with a direction, end to end: real `gangway up`, agent, proxy and instances, a
 * continuous request loop, and a real Prometheus scraping a business metric of the app.
 *
 * Given  release 0.5 of an app where half of the page views sign up (test/fixtures/
 *        analysis-direction/signups-app.mjs: the version is the signup rate), its counters
 *        scraped by Prometheus every second, and a template with the runbook's error-rate and
 *        p95 thresholds plus "signups per page view must not drop by more than 20% against
 *        stable" (a relative rule with direction: decrease)
 * When   canary 0.50 (the same signup rate) and then canary 0.35 (signups down 30%, errors and
 *        latency unchanged) are deployed under load
 * Then   0.50 succeeds with every rule passing (and `gangway status` shows the business rule
 *        beside the others while it runs); 0.35 is rolled back on the signups rule alone, with
 *        the direction and both values in the verdict, the verdict event and the git record.
 *
 * And the config refuses a direction where it means nothing, with file:line.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { parseConfig } from '../src/config/load.js';
import { ROOT, freePorts, makeProject, projectHeader, runCli, sleep, waitForEnd, type Project } from './support/gangway.js';
import { startLoad } from './support/load.js';
import { hasPrometheus, PROMETHEUS_PACKAGE, promQuery, startPrometheus, type PrometheusServer } from './support/prometheus.js';
import { requireOrSkip } from './support/require.js';
import { get, waitFor } from './fixtures/agent-helpers.js';
import { evaluateJudge } from '../src/analysis/judge.js';
import { INITIAL_RULE_STATE } from '../src/analysis/rules.js';
import { PrometheusProvider } from '../src/metrics/prometheus/prometheus-provider.js';
import type { AnalysisRule } from '../src/config/types.js';

const APP = join(ROOT, 'test/fixtures/analysis-direction/signups-app.mjs');
const available = requireOrSkip('the analysis-direction end-to-end suite (test/analysis-direction.test.ts)', `${PROMETHEUS_PACKAGE} and the Debian package git`, hasPrometheus() && hasGit());

function hasGit(): boolean {
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const SIGNUPS = 'sum(rate(app_signups_total{version="${version}"}[${window}])) / sum(rate(app_page_views_total{version="${version}"}[${window}]))';
const VERSIONS = ['0.5', '0.50', '0.35'];

let project: Project;
let prom: PrometheusServer;
let port: number;
let metricsMap: string;

interface Measurement { metric: string; canary: number | null; stable: number | null; detail: Record<string, unknown> }
interface Verdict { rule: string; kind: string; verdict: string; reason: string; stepIdx: number | null; measurements: Measurement[] }

/** Waits until Prometheus has a signups-per-view ratio for `version` (two scrapes with traffic). */
async function ratioOf(version: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const data = await promQuery(prom.address, SIGNUPS.replaceAll('${version}', version).replaceAll('${window}', '5s'));
    const [sample] = data.result as Array<{ value: [number, string] }>;
    if (sample && Number.isFinite(Number(sample.value[1]))) return Number(sample.value[1]);
    if (Date.now() > deadline) throw new Error(`no signups ratio for ${version} in Prometheus after 30s`);
    await sleep(200);
  }
}

describe.skipIf(!available)('a business metric that must not fall, judged on a real Prometheus', () => {
  beforeAll(async () => {
    const [appPort, ...metricsPorts] = await freePorts(1 + VERSIONS.length);
    port = appPort!;
    prom = await startPrometheus({ targets: metricsPorts.map((p) => `127.0.0.1:${p}`), scrapeIntervalMs: 1000 });
    metricsMap = VERSIONS.map((v, i) => `${v}=${metricsPorts[i]}`).join(',');
    project = await makeProject((ports) => `
${projectHeader('analysis-direction', ports)}metrics:
  prometheus: { address: "${prom.address}" }
records:
  repo: records
analysis:
  business:
    interval: 500ms
    rules:
      - name: error-rate
        threshold: { metric: { builtin: error_rate }, max: 0.05, window: 5s, minSamples: 20 }
      - name: p95-latency
        threshold: { metric: { builtin: p95_latency }, max: 2, window: 5s, minSamples: 20 }
      - name: signups
        relative:
          metric: { prometheus: '${SIGNUPS}' }
          direction: decrease
          maxDecrease: 0.2
          window: 5s
        onInconclusive: { tolerate: 200 }
environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", SIGNUP_RATE: "\${release.version}", METRICS_PORTS: "${metricsMap}" }
        instances: 1
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, startTimeout: 15s }
    strategy:
      canary:
        steps:
          - setWeight: 25
          - analysis: { template: business, duration: 8s }
          - setWeight: 100
        scaleDownDelay: 0s
    rollback: { watch: 0s }
`);
    mkdirSync(join(project.dir, 'records'));
    execFileSync('git', ['init', '-q', '-b', 'main', join(project.dir, 'records')]);
    execFileSync('git', ['-C', join(project.dir, 'records'), 'commit', '-q', '--allow-empty', '-m', 'init'], {
      env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' },
    });
    await project.up();
    const first = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0.5' });
    expect((await waitForEnd(project, first.body.id)).phase).toBe('succeeded');
  }, 90_000);

  afterAll(async () => {
    await project?.cleanup();
  });

  it('a canary with the same signup rate passes every rule; status shows the business rule while it runs', async () => {
    const load = startLoad(port, 4);
    await load.ready;
    // Given the stable release's ratio in Prometheus before the canary starts.
    expect(await ratioOf('0.5')).toBeCloseTo(0.5, 1);
    const created = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0.50' });
    // The analysis step lasts 8 s: status lists the signups rule beside the thresholds while it runs.
    let shown = '';
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && !/business\/signups: /.test(shown);) {
      const st = await runCli(project.dir, ['status', 'web', '--env', 'dev']);
      shown = st.stdout;
    }
    expect(shown).toMatch(/ business\/error-rate: /);
    expect(shown).toMatch(/[✓?] business\/signups: (signups |inconclusive: )/);
    const end = await waitForEnd(project, created.body.id) as unknown as { phase: string; verdicts: Verdict[] };
    await load.stop();
    expect(end.phase).toBe('succeeded');
    const signups = end.verdicts.filter((v) => v.rule === 'signups' && v.verdict !== 'inconclusive');
    expect(signups.length).toBeGreaterThan(0);
    expect(signups.every((v) => v.verdict === 'pass')).toBe(true);
    expect(end.verdicts.filter((v) => v.verdict === 'fail')).toEqual([]);
  }, 90_000);

  it('a canary whose signups fall 30% while errors and latency stay normal is rolled back on the decrease rule, with the evidence', async () => {
    const load = startLoad(port, 4);
    await load.ready;
    expect(await ratioOf('0.50')).toBeCloseTo(0.5, 1);
    const created = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0.35' });
    const id = created.body.id;
    const end = await waitForEnd(project, id) as unknown as { phase: string; message: string; verdicts: Verdict[] };
    const result = await load.stop();
    expect(end.phase).toBe('rolled_back');
    expect(end.message).toMatch(/^analysis business: rule signups: signups 0\.3\d+ is down (2[5-9]|3\d)(\.\d+)?% on stable 0\.(49|5)\d* \(max −20%\)$/);
    // The signups rule alone failed; errors and latency passed on the same evaluations.
    const fails = end.verdicts.filter((v) => v.verdict === 'fail');
    expect([...new Set(fails.map((v) => v.rule))]).toEqual(['signups']);
    const fail = fails[0]!;
    const m = fail.measurements[0]!;
    expect(m.canary!).toBeGreaterThan(0.33);
    expect(m.canary!).toBeLessThan(0.37);
    expect(m.stable!).toBeGreaterThan(0.48);
    expect(m.stable!).toBeLessThan(0.52);
    expect(m.detail).toMatchObject({ direction: 'decrease', change: 'decrease', maxDecrease: 0.2 });
    expect(m.detail.increase as number).toBeLessThan(-0.2);
    for (const rule of ['error-rate', 'p95-latency']) {
      expect(end.verdicts.filter((v) => v.rule === rule).map((v) => v.verdict)).not.toContain('fail');
    }
    expect(result.failed).toBe(0);
    expect(result.versions['0.35']).toBeGreaterThan(0);

    // The failed analysis step's event gives the reason, direction and values included.
    const events = await project.api<Array<{ type: string; data: Record<string, unknown> }>>('GET', `/v1/events?deployment=${id}&type=step.failed`);
    expect(events.body.map((e) => e.type)).toEqual(['step.failed']);
    expect(JSON.stringify(events.body[0]!.data)).toMatch(/rule signups: signups 0\.3\d+ is down (2[5-9]|3\d)(\.\d+)?% on stable 0\.(49|5)\d* \(max −20%\)/);

    // And so does the record committed to git.
    const recordsDir = join(project.dir, 'records');
    let record = '';
    for (const deadline = Date.now() + 20_000; Date.now() < deadline && record === '';) {
      const files = listFiles(recordsDir).filter((f) => f.includes(id));
      if (files.length > 0) record = files.map((f) => readFileSync(f, 'utf8')).join('\n');
      else await sleep(200);
    }
    expect(record).toContain('signups');
    expect(record).toMatch(/signups 0\.3\d+ is down (2[5-9]|3\d)(\.\d+)?% on stable 0\.(49|5)\d* \(max −20%\)/);
    expect(record).toMatch(/"?direction"?: "?decrease/);
  }, 90_000);
});

// Prometheus outlives the first suite: the next one reads what it scraped.
afterAll(async () => { await prom?.stop(); });

describe.skipIf(!available)('the judge of a metric on a real Prometheus', () => {
  const apps: ChildProcess[] = [];
  afterAll(() => { for (const a of apps) a.kill('SIGKILL'); });

  it('samples both releases over the window and fails a 30% fall of signups per page view, with direction and p-value', async () => {
    // Given the two releases serving steady traffic after the suite above (their metrics ports are scraped).
    const [pa, pb] = await freePorts(2);
    for (const [version, p] of [['0.5', pa!], ['0.35', pb!]] as const) {
      apps.push(spawn(process.execPath, [APP], { env: { ...process.env, PORT: String(p), APP_VERSION: version, SIGNUP_RATE: version, METRICS_PORTS: metricsMap }, stdio: 'ignore' }));
      await waitFor(`signups-app ${version}`, async () => (await get(p, '/health').catch(() => ({ status: 0 }))).status === 200, 15_000);
    }
    const until = Date.now() + 24_000;
    while (Date.now() < until) {
      await Promise.all(Array.from({ length: 5 }, () => [get(pa!, '/'), get(pb!, '/')]).flat());
      await sleep(20);
    }
    // When the judge reads 18 s of samples every 3 s, ending a second ago (the last scrape is in).
    const rule: Extract<AnalysisRule, { kind: 'judge' }> = {
      name: 'signups', kind: 'judge', metric: { kind: 'prometheus', query: SIGNUPS }, errors: false, latency: false, alpha: 0.01, minSamples: 5,
      windowMs: 18_000, stepMs: 3000, direction: 'decrease', effectSize: { measure: 'meanRatio', allowedIncrease: 1, allowedDecrease: 0.9 },
      onInconclusive: { action: 'tolerate', limit: 10 }, onError: { action: 'pause', limit: 0 },
    };
    const provider = new PrometheusProvider({ address: prom.address, timeoutMs: 5000 });
    const o = await evaluateJudge(rule, {
      service: 'web', environment: 'dev', canary: '0.35', stable: '0.5', now: Date.now() - 1000, requests: null, health: async () => [],
      provider: () => provider,
    }, INITIAL_RULE_STATE);
    // Then it fails on the fall, with the evidence.
    expect(o.verdict.verdict, o.verdict.reason).toBe('fail');
    expect(o.verdict.reason).toMatch(/^signups: mean 0\.3\d* vs stable 0\.(49|5)\d* \(0\.\d+x < 0\.9x, down; Mann-Whitney (exact )?p = [0-9.e-]+ < α 0\.01\)$/);
    const m = o.verdict.measurements[0]!;
    expect(m.samples!.canary!).toBeGreaterThanOrEqual(5);
    expect(m.detail).toMatchObject({ direction: 'decrease', change: 'decrease', measure: 'meanRatio', test: 'Mann-Whitney U, one-sided (canary lower)' });
    expect(m.detail!.effect as number).toBeGreaterThan(0.6);
    expect(m.detail!.effect as number).toBeLessThan(0.8);
  }, 90_000);
});

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => d.name === '.git' ? [] : d.isDirectory() ? listFiles(join(dir, d.name)) : [join(dir, d.name)]);
}

describe('a direction where it means nothing is a config error with file:line', () => {
  const header = 'project: p\nenvironments: { dev: {} }\nservices:\n  web:\n    target: { local: { command: [node, app.js], port: 8080 } }\nanalysis:\n  t:\n    rules:\n';
  function problems(rules: string): Array<{ line?: number; path: string; message: string; hint?: string }> {
    try {
      parseConfig(header + rules, 'gangway.yaml', { env: {} });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems.map(({ line, path, message, hint }) => ({ line, path, message, hint }));
    }
    throw new Error('expected a ConfigError');
  }

  it('on a threshold rule', () => {
    expect(problems('      - name: e\n        threshold: { metric: { builtin: error_rate }, max: 0.05, direction: decrease }\n')).toEqual([{
      line: 10, path: 'analysis.t.rules[0].threshold.direction', message: 'a threshold rule has no direction',
      hint: 'its limits say which way is bad: max fails above, min fails below (e.g. `min: 10` for "must not fall under 10"); direction belongs to relative and judge rules',
    }]);
  });

  it('a limit the direction never checks, a judge of errors only, meanRatio on a latency histogram', () => {
    expect(problems([
      '      - name: a',
      '        relative: { metric: { builtin: error_rate }, maxDecrease: 0.2 }',
      '      - name: b',
      '        judge: { latency: false, direction: decrease }',
      '      - name: c',
      '        judge: { effectSize: { measure: meanRatio } }',
      '      - name: d',
      '        judge: { metric: { builtin: request_rate } }',
      '',
    ].join('\n'))).toEqual([
      { line: 10, path: 'analysis.t.rules[0].relative.maxDecrease', message: 'maxDecrease is never checked: direction is increase by default for this metric', hint: 'remove it, or set `direction: decrease` (or either) to check a fall' },
      { line: 12, path: 'analysis.t.rules[1].judge.direction', message: 'direction applies to latency or a metric, and this judge tests errors only', hint: 'remove it; the error test always looks for more failed requests' },
      { line: 14, path: 'analysis.t.rules[2].judge.effectSize.measure', message: 'meanRatio needs the values themselves; latency comes as a histogram, which has no mean', hint: 'use medianShift or cles for latency' },
      { line: 16, path: 'analysis.t.rules[3].judge.metric.builtin', message: 'a judge samples its metric over the window, which only a prometheus metric can give', hint: 'judge the builtin metrics without `metric` (errors, latency), or write the metric as a PromQL query' },
    ]);
  });

  it('compiles directions and the band: defaults per metric, written ones kept', () => {
    const cfg = parseConfig(`${header}      - name: s\n        relative: { metric: { prometheus: 'x{version="\${version}"}' }, direction: decrease, maxDecrease: 0.2 }\n      - name: p\n        judge: { metric: { prometheus: 'y{version="\${version}"}' }, effectSize: { measure: cles, allowedDecrease: 0.4 } }\n      - name: l\n        relative: { metric: { builtin: p95_latency }, maxRatio: 2 }\nmetrics: { prometheus: { address: "http://127.0.0.1:9090" } }\n`, 'gangway.yaml', { env: {} });
    const [s, p, l] = cfg.analysisTemplates.t!.rules;
    expect(s).toMatchObject({ kind: 'relative', direction: 'decrease', maxDecrease: 0.2, maxIncrease: null });
    expect(p).toMatchObject({ kind: 'judge', direction: 'either', errors: false, latency: false, minSamples: 10, stepMs: 30_000, effectSize: { measure: 'cles', allowedIncrease: 0.5, allowedDecrease: 0.4 } });
    expect(l).toMatchObject({ kind: 'relative', direction: 'increase' });
  });
});
