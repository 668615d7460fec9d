/**
 * The dashboard remembers: a real `gangway up` serving the built React app, in headless
 * Chromium (Debian `chromium` through playwright-core).
 *
 * Given  a project whose dev runs a canary (50%, a 5 s pause, an analysis with an error-rate
 *        threshold of 5% for 2 s and a p95 limit, 100%) and whose prod rolls out without a canary but
 *        judges its live figures by an error-rate rule that only fails after an hour, and a
 *        continuous request loop on both
 * When   release 0.2 (failing a fifth of its requests) is deployed to dev — rolled back by the
 *        analysis — and to prod — where it serves
 * Then   the dev rollout page, opened only after the rollback, draws the stored figures of
 *        both releases with the threshold line, step and weight markers, the verdict that ended
 *        it, skipped steps as skipped, "ended" instead of "live", the traffic the deployment
 *        set, and one colour per role; `history` links to that page; and the overview flags
 *        0.2 in prod as failing against the rule.
 * Screenshots go to test-artifacts/dashboard-history-*.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { APP, freePorts, makeProject, projectHeader, runCli, sleep, waitForEnd, type Project } from './support/gangway.js';
import { startLoad } from './support/load.js';
import { CHROMIUM_PACKAGE, hasChromium, launchChromium, type Browser } from './support/browser.js';
import { requireOrSkip } from './support/require.js';
import { ROLE_COLORS } from '../web/src/colors.js';

const available = requireOrSkip('the dashboard history suite (test/dashboard-history.test.ts)', CHROMIUM_PACKAGE, hasChromium());

interface Sample { at: number; version: string; requests: number; errors: number; p95Seconds: number | null }

async function textMatching(locator: Locator, pattern: RegExp, timeoutMs = 20_000, attribute?: string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const read = attribute ? locator.getAttribute(attribute, { timeout: 2000 }) : locator.textContent({ timeout: 2000 });
    last = (await read.catch(() => null)) ?? '';
    if (pattern.test(last)) return last;
    if (Date.now() > deadline) throw new Error(`text never matched ${pattern}; last: ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

describe.skipIf(!available)('the dashboard after the fact', () => {
  let project: Project;
  let browser: Browser;
  let page: Page;
  let base: string;
  let devId: string;
  let loads: Array<ReturnType<typeof startLoad>> = [];

  beforeAll(async () => {
    const [devPort, prodPort] = await freePorts(2);
    project = await makeProject((p) => `
${projectHeader('dashboard-history', p)}analysis:
  e2e:
    interval: 500ms
    rules:
      - name: error-rate
        threshold: { metric: { builtin: error_rate }, max: 0.05, window: 3s, minSamples: 10, for: 2s }
      - name: latency
        threshold: { metric: { builtin: p95_latency }, max: 0.5, window: 3s, minSamples: 10 }
  patient:
    interval: 1s
    rules:
      - name: error-rate
        threshold: { metric: { builtin: error_rate }, max: 0.05, window: 5s, minSamples: 10, for: 1h }
environments:
  dev: {}
  prod: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", ERROR_RATE: "\${release.version}", LATENCY_MS: "2" }
        instances: 1
        port: ${devPort}
    health: { path: /health, interval: 100ms, startTimeout: 30s }
    rollback: { watch: 0s }
    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: 5s
          - analysis: { template: e2e, duration: 20s }
          - setWeight: 100
        scaleDownDelay: 0s
    environments:
      prod:
        target: { local: { port: ${prodPort} } }
        strategy: { rolling: { maxSurge: 1, maxUnavailable: 0 } }
        analysis: patient
`);
    await project.up();
    base = `http://127.0.0.1:${project.apiPort}`;
    for (const environment of ['dev', 'prod']) {
      const first = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment, version: '0' });
      expect(first.status).toBe(201);
      expect((await waitForEnd(project, first.body.id)).phase).toBe('succeeded');
    }
    loads = [startLoad(devPort, 2), startLoad(prodPort, 1)];
    await Promise.all(loads.map((l) => l.ready));

    const dev = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0.2' });
    expect(dev.status).toBe(201);
    devId = dev.body.id;
    const end = await waitForEnd(project, devId);
    expect([end.phase, end.message]).toEqual(['rolled_back', expect.stringMatching(/^analysis e2e: .*error_rate (1|2)\d(\.\d)?% > 5% for /)]);

    const prod = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'prod', version: '0.2' });
    expect((await waitForEnd(project, prod.body.id)).phase).toBe('succeeded');

    const r = await project.api('POST', '/v1/users', { name: 'olga', password: 'olga-password-1', roles: { '*': 'viewer' } });
    expect(r.status).toBe(201);
    browser = await launchChromium();
    page = browser.page;
    await page.goto(`${base}/`);
    await page.getByLabel('User name', { exact: true }).fill('olga');
    await page.getByLabel('Password', { exact: true }).fill('olga-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Signed in as').waitFor();
  }, 150_000);

  afterAll(async () => {
    for (const l of loads) await l.stop().catch(() => undefined);
    await browser?.close();
    await project?.cleanup();
  });

  it('stores a sample per release per interval for the deployment\'s life, served by GET /v1/deployments/:id/samples', async () => {
    const r = await project.api<Sample[]>('GET', `/v1/deployments/${devId}/samples`);
    expect(r.status).toBe(200);
    const canary = r.body.filter((s) => s.version === '0.2' && s.requests > 0);
    const stable = r.body.filter((s) => s.version === '0' && s.requests > 0);
    expect(canary.length).toBeGreaterThanOrEqual(2);
    expect(stable.length).toBeGreaterThanOrEqual(2);
    const rate = (list: Sample[]) => list.reduce((a, s) => a + s.errors, 0) / list.reduce((a, s) => a + s.requests, 0);
    expect(rate(canary)).toBeGreaterThan(0.15);
    expect(rate(stable)).toBe(0);
    const unknown = await project.api<{ error: { code: string } }>('GET', '/v1/deployments/nope/samples');
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'not_found']);
  });

  it('history links to the rollout page', async () => {
    const json = await runCli(project.dir, ['history', 'web', '--env', 'dev', '-o', 'json']);
    const rows = JSON.parse(json.stdout) as Array<{ id: string; url: string }>;
    expect(rows.find((d) => d.id === devId)?.url).toBe(`${base}/deployments/${devId}`);
    const text = await runCli(project.dir, ['history', 'web', '--env', 'dev']);
    expect(text.stdout).toContain(`on the dashboard: ${base}/deployments/`);
  });

  it('the rollout page opened after the rollback draws the whole canary: failing release, threshold, markers, verdict', async () => {
    await page.goto(`${base}/deployments/${devId}`);
    expect(await textMatching(page.getByLabel('Phase'), /rolled back/)).toBe('rolled back');
    expect(await page.getByLabel('Updates').textContent()).toBe('ended');
    const errors = page.getByRole('img', { name: /^Error rate:/ });
    const label = await textMatching(errors, /0\.2 .*threshold/, 20_000, 'aria-label');
    expect(label).toMatch(/^Error rate: 0 0\.0% \(peak 0\.0%\), 0\.2 \d+(\.\d)?% \(peak (1\d|2\d)(\.\d)?%\), threshold error-rate max 5%$/);
    expect(await page.getByRole('img', { name: /^p95 latency/ }).getAttribute('aria-label')).toMatch(/threshold latency max 500 ms/);
    // One colour per role: the canary amber, the stable release blue, in every chart and the traffic bar.
    expect(await page.locator('path[data-release="0.2"]').first().getAttribute('stroke')).toBe(ROLE_COLORS.canary);
    expect(await page.locator('path[data-release="0"]').first().getAttribute('stroke')).toBe(ROLE_COLORS.stable);
    // Markers: a line per step that ran, the weight changes, and the verdict that ended it.
    const weightMarks = await errors.locator('.marker-weight .marker-label').allTextContents();
    expect(weightMarks.slice(0, 1)).toEqual(['50%']);
    expect(weightMarks.at(-1)).toBe('0%');
    expect(await errors.locator('.marker-verdict .marker-label').allTextContents()).toEqual(['fail: error-rate']);
    expect(await page.getByLabel('Ended by').textContent()).toMatch(/^Ended by fail e2e \/ error-rate at .*: error_rate (1|2)\d(\.\d)?% > 5% for /);
    // The traffic box shows what the deployment set last (the rollback's switch back), not the environment's now.
    await page.getByRole('heading', { name: 'Traffic it last set' }).waitFor();
    expect(await page.getByRole('group', { name: 'Traffic weights' }).textContent()).toBe('0 100%');
    const steps = await page.getByRole('list', { name: 'Steps' }).locator('li .badge').allTextContents();
    expect(steps).not.toContain('pending');
    expect(steps).toContain('skipped');
    await browser.screenshot('dashboard-history-01-canary-rolled-back');
  });

  it('the audit log lists newest first, filters on the server, and shows actor, service and whole ids', async () => {
    const all = await project.api<Array<{ id: number; type: string; service: string | null; environment: string | null; actor: string | null }>>('GET', '/v1/events?order=desc&limit=1000');
    expect(all.body.map((e) => e.id)).toEqual([...all.body.map((e) => e.id)].sort((a, b) => b - a));
    const prodSteps = await project.api<typeof all.body>('GET', '/v1/events?type=step.*&environment=prod&limit=1000');
    expect(prodSteps.body.length).toBeGreaterThan(0);
    expect(prodSteps.body.every((e) => e.type.startsWith('step.') && e.environment === 'prod' && e.service === 'web' && e.actor === 'e2e')).toBe(true);
    const bad = await project.api<{ error: { code: string; message: string } }>('GET', '/v1/events?order=sideways');
    expect([bad.status, bad.body.error.code]).toEqual([400, 'invalid_argument']);

    await page.getByRole('link', { name: 'Audit log' }).click();
    const rows = page.locator('table.audit tbody tr');
    await rows.first().waitFor();
    expect(Number(await rows.first().locator('td').first().textContent())).toBe(all.body[0].id);
    await page.getByLabel('Event type').selectOption('step.*');
    await page.getByLabel('Environment').selectOption('dev');
    await textMatching(page.locator('table.audit caption'), /events?, newest first/);
    // Until the filtered page has rendered: at least one row, every one a step event in dev (an empty table during loading passes neither).
    await page.waitForFunction(() => {
      const types = [...document.querySelectorAll('table.audit tbody tr td:nth-child(3)')];
      const envs = [...document.querySelectorAll('table.audit tbody tr td:nth-child(5)')];
      return types.length > 0 && types.every((td) => td.textContent?.startsWith('step.')) && envs.every((td) => td.textContent === 'dev');
    });
    expect(page.url()).toMatch(/\/audit\?type=step\.\*&environment=dev$/);
    const first = rows.first();
    const cells = await first.locator('td').allTextContents();
    expect(cells.slice(2, 6)).toEqual([expect.stringMatching(/^step\./), 'web', 'dev', 'e2e']);
    expect(cells[6]).toBe(devId);
    // Step events read on one line: number, mark, title.
    expect(cells[7]).toMatch(/^step \d+ [▶✓✗–] /);
    await page.getByLabel('Actor').fill('nobody');
    await page.getByLabel('Actor').press('Enter');
    await textMatching(page.locator('table.audit caption'), /^0 events/);
    await page.getByLabel('Actor').fill('e2e');
    await page.getByLabel('Actor').press('Enter');
    await textMatching(page.locator('table.audit caption'), /^[1-9]\d* events?/);
    await browser.screenshot('dashboard-history-04-audit-filtered');
  });

  it('the overview shows each serving release\'s live figures and flags 0.2 in prod as failing', async () => {
    const status = await runCli(project.dir, ['status', 'web', '--env', 'prod']);
    expect(status.stdout).toMatch(/\n {2}0\.2 +100% +\d+ +(1\d|2\d)\.\d% ✗ > 5\.0% \(patient\/error-rate\) +\d+ ms\n/);
    await page.getByRole('link', { name: 'Overview' }).click();
    const figures = page.getByRole('table', { name: 'live figures of web in prod' });
    const row = figures.getByRole('row', { name: /^0\.2/ });
    expect(await textMatching(row, /failing/)).toMatch(/^0\.2 ✗ failing(1\d|2\d)(\.\d)?%\d+ ms\d+(\.\d)?$/);
    expect(await row.locator('td.fig-bad').count()).toBe(1);
    expect(await row.locator('td.fig-bad').getAttribute('title')).toBe('over patient/error-rate (max 0.05)');
    // dev serves 0 only, within its rules.
    const dev = page.getByRole('table', { name: 'live figures of web in dev' });
    const devRow = dev.getByRole('row', { name: /^0 / });
    expect(await textMatching(devRow, /0\.0%/)).toMatch(/^00\.0%\d+ ms\d+(\.\d)?$/);
    // Both of its figures are judged by dev's rules (error rate and p95), and both are within them.
    expect(await devRow.locator('td.fig-ok').count()).toBe(2);
    await browser.screenshot('dashboard-history-02-overview-failing');

    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await figures.waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const nav = page.locator('.top nav');
    const navBox = await nav.boundingBox();
    expect(navBox!.height).toBeLessThan(40);
    await browser.screenshot('dashboard-history-03-overview-phone');
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
