/**
 * The service page: a real `gangway up` serving the built React app, in headless Chromium
 * (Debian `chromium` through playwright-core).
 *
 * Given  a dev environment rolling out by canary (50%, an error-rate analysis, a manual pause,
 *        100%), incident freezes from Alertmanager alerts, and a continuous request loop
 * When   0 and 0.001 are deployed (promoted), 0.2 (failing a fifth of its requests) is rolled
 *        back by the analysis, the environment is rolled back to 0, 0.002 is aborted at its pause,
 *        a manual freeze is raised and lifted and an incident alert fires, and the serving
 *        release is sampled between deployments
 * Then   GET /v1/timeline returns them all, with serving samples of 0 after the last deployment;
 *        and /services/web/dev (linked from the overview) draws one marker per deployment
 *        labelled with its outcome, both freeze spans, and a line per release in each chart.
 * Screenshots: test-artifacts/dashboard-service-01-timeline.png (the hour), -02-last-5-min.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { APP, freePorts, makeProject, projectHeader, sleep, waitForEnd, type Project } from './support/gangway.js';
import { startLoad } from './support/load.js';
import { CHROMIUM_PACKAGE, hasChromium, launchChromium, type Browser } from './support/browser.js';
import { requireOrSkip } from './support/require.js';
import { OUTCOME_COLORS } from '../web/src/service-data.js';
import type { TimelineView } from '../src/engine/types.js';

const available = requireOrSkip('the service page suite (test/dashboard-service.test.ts)', CHROMIUM_PACKAGE, hasChromium());

describe.skipIf(!available)('the service page', () => {
  let project: Project;
  let browser: Browser;
  let page: Page;
  let base: string;
  let load: ReturnType<typeof startLoad> | null = null;
  const ids: string[] = [];
  let lastEnd = 0;

  /** Deploys `version` and, when it pauses, promotes or aborts it; returns its final phase. */
  async function ship(version: string, atPause: 'promote' | 'abort'): Promise<string> {
    const r = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version });
    expect(r.status).toBe(201);
    ids.push(r.body.id);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const d = await project.api<{ phase: string }>('GET', `/v1/deployments/${r.body.id}`);
      if (d.body.phase === 'paused') {
        expect((await project.api('POST', `/v1/deployments/${r.body.id}/${atPause}`, {})).status).toBe(200);
        break;
      }
      if (['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'].includes(d.body.phase)) break;
      if (Date.now() > deadline) throw new Error(`${version} never paused or ended`);
      await sleep(100);
    }
    const end = await waitForEnd(project, r.body.id);
    lastEnd = Math.max(lastEnd, Number(end.finishedAt));
    return end.phase;
  }

  beforeAll(async () => {
    const [devPort] = await freePorts(1);
    project = await makeProject((p) => `
${projectHeader('dashboard-service', p)}analysis:
  e2e:
    interval: 500ms
    rules:
      - name: error-rate
        threshold: { metric: { builtin: error_rate }, max: 0.05, window: 2s, minSamples: 5, for: 1s }
incidents: {}
environments:
  dev: {}
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
          - analysis: { template: e2e, duration: 4s }
          - pause: {}
          - setWeight: 100
        scaleDownDelay: 0s
`);
    await project.up();
    base = `http://127.0.0.1:${project.apiPort}`;
    expect(await ship('0', 'promote')).toBe('succeeded');
    load = startLoad(devPort, 2);
    await load.ready;
    expect(await ship('0.001', 'promote')).toBe('succeeded');
    expect(await ship('0.2', 'promote')).toBe('rolled_back');
    const rb = await project.api<{ id: string }>('POST', '/v1/rollbacks', { service: 'web', environment: 'dev', reason: 'back to 0' });
    expect(rb.status).toBe(201);
    ids.push(rb.body.id);
    const rbEnd = await waitForEnd(project, rb.body.id);
    expect(rbEnd.phase).toBe('succeeded');
    lastEnd = Number(rbEnd.finishedAt);
    expect(await ship('0.002', 'abort')).toBe('aborted');

    const freeze = await project.api<{ id: string }>('POST', '/v1/freezes', { environment: 'dev', reason: 'release party' });
    expect(freeze.status).toBe(201);
    await sleep(1500);
    expect((await project.api('POST', `/v1/freezes/${freeze.body.id}/lift`, {})).status).toBe(200);
    const alert = { status: 'firing', labels: { gangway_freeze: 'true', alertname: 'DevDown', environment: 'dev' }, annotations: {}, startsAt: new Date().toISOString(), endsAt: '0001-01-01T00:00:00Z', fingerprint: 'fp-devdown' };
    const fired = await project.api<{ created: unknown[] }>('POST', '/v1/webhooks/alertmanager', { version: '4', status: 'firing', alerts: [alert] });
    expect([fired.status, fired.body.created.length]).toEqual([200, 1]);

    const r = await project.api('POST', '/v1/users', { name: 'olga', password: 'olga-password-1', roles: { '*': 'viewer' } });
    expect(r.status).toBe(201);
    browser = await launchChromium();
    page = browser.page;
    await page.goto(`${base}/`);
    await page.getByLabel('User name', { exact: true }).fill('olga');
    await page.getByLabel('Password', { exact: true }).fill('olga-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Signed in as').waitFor();
  }, 240_000);

  afterAll(async () => {
    await load?.stop().catch(() => undefined);
    await browser?.close();
    await project?.cleanup();
  });

  it('GET /v1/timeline returns the deployments with their outcomes, both freezes, and serving samples between deployments', async () => {
    // The serving release is sampled every 10 s once no deployment runs: wait for two samples after the last one ended.
    let view: TimelineView | undefined;
    const deadline = Date.now() + 45_000;
    for (;;) {
      view = (await project.api<TimelineView>('GET', '/v1/timeline?service=web&environment=dev')).body;
      const serving = view.samples.filter((s) => s.at > lastEnd + 3000 && s.version === '0' && s.requests > 0);
      if (serving.length >= 2) break;
      if (Date.now() > deadline) throw new Error(`no serving samples after ${lastEnd}: ${JSON.stringify(view.samples.slice(-5))}`);
      await sleep(1000);
    }
    expect(view.deployments.map((d) => [d.id, d.kind, d.version, d.phase])).toEqual([
      [ids[0], 'deploy', '0', 'succeeded'], [ids[1], 'deploy', '0.001', 'succeeded'], [ids[2], 'deploy', '0.2', 'rolled_back'],
      [ids[3], 'rollback', '0', 'succeeded'], [ids[4], 'deploy', '0.002', 'aborted'],
    ]);
    expect(view.stableVersion).toBe('0');
    expect(view.freezes.map((f) => [f.source, f.alertFingerprint, f.liftedAt === null])).toEqual([['manual', null, false], ['alert', 'fp-devdown', true]]);
    // After the last deployment, only 0 serves: its samples are stored under the rollback that made it stable.
    const after = view.samples.filter((s) => s.at > lastEnd + 3000);
    expect(new Set(after.map((s) => `${s.deploymentId} ${s.version}`))).toEqual(new Set([`${ids[3]} 0`]));
    expect(after.every((s) => s.errors === 0)).toBe(true);
    const failing = view.samples.filter((s) => s.version === '0.2');
    expect(failing.reduce((a, s) => a + s.errors, 0) / failing.reduce((a, s) => a + s.requests, 0)).toBeGreaterThan(0.1);
  });

  it('the page, linked from the overview, draws a marker per deployment by outcome, the freeze spans and a line per release', async () => {
    await page.goto(`${base}/`);
    await page.getByRole('cell', { name: 'web in dev' }).getByRole('link', { name: 'timeline' }).click();
    expect(new URL(page.url()).pathname).toBe('/services/web/dev');
    await page.getByRole('heading', { name: 'web in dev' }).waitFor();
    const markers = page.locator('g.deployment-marker');
    await markers.first().waitFor();
    expect(await markers.count()).toBe(5);
    const labels = await markers.evaluateAll((gs) => gs.map((g) => g.getAttribute('aria-label')));
    expect(labels).toEqual(['deploy 0: succeeded', 'deploy 0.001: succeeded', 'deploy 0.2: rolled back', 'rollback 0: succeeded', 'deploy 0.002: aborted']);
    const fills = await markers.evaluateAll((gs) => gs.map((g) => g.querySelector('circle, path')?.getAttribute('fill')));
    expect(fills).toEqual([OUTCOME_COLORS.succeeded, OUTCOME_COLORS.succeeded, OUTCOME_COLORS.rolled_back, OUTCOME_COLORS.succeeded, OUTCOME_COLORS.aborted]);
    expect(await markers.nth(3).locator('path').count()).toBe(1); // the rollback is a diamond
    expect(await page.locator('rect.freeze-span.freeze-manual').count()).toBe(1);
    expect(await page.locator('rect.freeze-span.freeze-incident').count()).toBe(1);
    expect(await page.getByRole('img', { name: /^Release timeline:/ }).getAttribute('aria-label'))
      .toBe('Release timeline: deploy 0: succeeded, deploy 0.001: succeeded, deploy 0.2: rolled back, rollback 0: succeeded, deploy 0.002: aborted, freeze: release party, incident freeze: DevDown (active)');

    for (const title of ['Requests per second', 'Error rate', 'p95 latency (ms)']) {
      const chart = page.getByRole('img', { name: new RegExp(`^${title.replace(/[()]/g, '\\$&')}:`) });
      const releases = await chart.locator('path[data-release]').evaluateAll((ps) => ps.map((p) => p.getAttribute('data-release')));
      expect([title, [...releases].sort()]).toEqual([title, ['0', '0.001', '0.002', '0.2']]);
    }
    // The stable release is blue; the error-rate chart reads 0.2's failing fifth.
    expect(await page.locator('path[data-release="0"]').first().getAttribute('stroke')).toBe('#2563eb');
    expect(await page.getByRole('img', { name: /^Error rate:/ }).getAttribute('aria-label')).toMatch(/0\.2 (1\d|2\d)(\.\d)?% \(peak/);
    expect(await page.getByRole('table', { name: 'Deployments in the last hour' }).locator('tbody tr').count()).toBe(5);
    await browser.screenshot('dashboard-service-01-timeline');
    // The last 5 minutes hold all of it, spread out.
    await page.getByRole('button', { name: 'last 5 min' }).click();
    expect(await page.getByRole('button', { name: 'last 5 min' }).getAttribute('aria-pressed')).toBe('true');
    expect(await markers.count()).toBe(5);
    expect(await page.locator('rect.freeze-span').count()).toBe(2);
    const xs = await markers.evaluateAll((gs) => gs.map((g) => Number(g.querySelector('circle')?.getAttribute('cx') ?? g.querySelector('path')?.getAttribute('d')?.slice(1).split(',')[0])));
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
    expect(xs[4] - xs[0]).toBeGreaterThan(15); // ~12 s of deployments, out of 5 min across ~980 px
    await browser.screenshot('dashboard-service-02-last-5-min');

    // The rollout page links back to it.
    await page.getByRole('table', { name: 'Deployments in the last hour' }).getByRole('link', { name: '0.2' }).click();
    await page.getByRole('link', { name: 'Timeline of web in dev' }).click();
    expect(new URL(page.url()).pathname).toBe('/services/web/dev');
  });
});
