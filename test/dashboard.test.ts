/**
 * The dashboard end to end: a real `gangway up` serving the built React app, driven by
 * headless Chromium (Debian `chromium` through playwright-core) as people use it.
 *
 * Given  a project whose dev runs a canary (25%, a 5 s pause, 50%, a pause for a person,
 *        100%) and whose prod needs one approval from ops, users created through the API —
 *        alice (deployer in dev, approver in prod, in ops) and vic (viewer everywhere) — and
 *        a continuous request loop on dev
 * When   they sign in and use the pages
 * Then   a wrong password shows the API's message; vic sees a waiting deployment without any
 *        action button; alice watches the canary's weights and step change live, promotes
 *        it, rolls it back, and approves prod; the admin token signs in; and repeated wrong
 *        passwords are refused with the rate-limit message.
 * Screenshots of every stage go to test-artifacts/dashboard-*.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { APP, freePorts, makeProject, projectHeader, sleep, waitForEnd, type Project } from './support/gangway.js';
import { startLoad } from './support/load.js';
import { CHROMIUM_PACKAGE, hasChromium, launchChromium, type Browser } from './support/browser.js';
import { requireOrSkip } from './support/require.js';
import { allowedActions, roleIn } from '../web/src/roles.js';

const available = requireOrSkip('the dashboard end-to-end suite (test/dashboard.test.ts)', CHROMIUM_PACKAGE, hasChromium());

interface View { id: string; phase: string; version: string; kind: string; steps: Array<{ idx: number; title: string; type: string }> }

const ALICE = { name: 'alice', password: 'alice-password-1' };
const VIC = { name: 'vic', password: 'vic-password-12' };

/** Polls a locator's text (or one of its attributes) until it matches; returns it, or throws with the last text seen. */
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

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('roles in the dashboard (web/src/roles.ts)', () => {
  const alice = { name: 'alice', roles: { dev: 'deployer', prod: 'approver' } as const };
  it('takes the higher of the environment role and the global role', () => {
    expect(roleIn({ name: 'x', roles: { '*': 'viewer', prod: 'approver' } }, 'prod')).toBe('approver');
    expect(roleIn({ name: 'x', roles: { '*': 'admin', prod: 'viewer' } }, 'prod')).toBe('admin');
    expect(roleIn({ name: 'x', roles: { dev: 'deployer' } }, 'prod')).toBeNull();
  });
  it('offers only the actions the phase and the role allow', () => {
    expect(allowedActions(alice, { environment: 'prod', phase: 'waiting', kind: 'deploy', previousVersion: '1' }, true)).toEqual(['approve', 'reject', 'abort']);
    expect(allowedActions(alice, { environment: 'dev', phase: 'waiting', kind: 'deploy', previousVersion: '1' }, true)).toEqual(['abort']);
    expect(allowedActions(alice, { environment: 'qa', phase: 'paused', kind: 'deploy', previousVersion: '1' }, false)).toEqual([]);
    expect(allowedActions(alice, { environment: 'dev', phase: 'paused', kind: 'deploy', previousVersion: '1' }, false)).toEqual(['promote', 'abort', 'rollback']);
    expect(allowedActions(alice, { environment: 'prod', phase: 'paused', kind: 'deploy', previousVersion: '1' }, false)).toEqual(['promote', 'abort', 'rollback']);
    expect(allowedActions(alice, { environment: 'dev', phase: 'succeeded', kind: 'rollback', previousVersion: '1' }, false)).toEqual([]);
    expect(allowedActions(alice, { environment: 'dev', phase: 'succeeded', kind: 'deploy', previousVersion: null }, false)).toEqual([]);
    expect(allowedActions({ name: 'v', roles: { '*': 'viewer' } }, { environment: 'prod', phase: 'waiting', kind: 'deploy', previousVersion: '1' }, true)).toEqual([]);
  });
});

describe.skipIf(!available)('the dashboard against a running orchestrator', () => {
  let project: Project;
  let browser: Browser;
  let page: Page;
  let devPort: number;
  let base: string;
  let prodId: string;

  beforeAll(async () => {
    const ports = await freePorts(2);
    devPort = ports[0];
    project = await makeProject((p) => `
${projectHeader('dashboard', p)}groups: { ops: [alice] }
environments:
  dev: {}
  prod:
    approvals: { required: 1, groups: [ops], allowSelfApproval: false }
    windows:
      - allow: { days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "24:00" }
        timezone: Europe/London
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", ERROR_RATE: "\${release.version}", LATENCY_MS: "2" }
        instances: 1
        port: ${ports[0]}
    # Generous: the suite shares two cores with Chromium and other suites.
    health: { path: /health, interval: 100ms, startTimeout: 30s }
    rollback: { watch: 0s }
    strategy:
      canary:
        steps:
          - setWeight: 25
          - pause: 5s
          - setWeight: 50
          - pause: {}
          - setWeight: 100
        scaleDownDelay: 0s
    environments:
      prod: { target: { local: { port: ${ports[1]} } }, strategy: { rolling: { maxSurge: 1, maxUnavailable: 0 } } }
`);
    await project.up();
    base = `http://127.0.0.1:${project.apiPort}`;
    const first = await project.api<View>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0.00' });
    expect(first.status).toBe(201);
    expect((await waitForEnd(project, first.body.id)).phase).toBe('succeeded');
    for (const [user, roles] of [[ALICE, { dev: 'deployer', prod: 'approver' }], [VIC, { '*': 'viewer' }]] as const) {
      const r = await project.api('POST', '/v1/users', { name: user.name, password: user.password, roles });
      expect([r.status, r.body]).toMatchObject([201, { name: user.name, roles }]);
    }
    // Requested by the admin token, so alice is not approving her own deployment.
    const prod = await project.api<View>('POST', '/v1/deployments', { service: 'web', environment: 'prod', version: '0.00' });
    expect(prod.status).toBe(201);
    prodId = prod.body.id;
    browser = await launchChromium();
    page = browser.page;
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await project?.cleanup();
  });

  const signIn = async (user: { name: string; password: string }) => {
    await page.getByLabel('User name', { exact: true }).fill(user.name);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };
  const signOut = async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Gangway' }).waitFor();
  };
  const actionButtons = () => page.getByRole('button', { name: /^(Approve|Reject|Promote|Abort|Roll back)$/ });

  it('serves the app at / and at its own routes; a wrong password shows the API\'s message', async () => {
    const index = await fetch(`${base}/history`);
    expect([index.status, index.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(await index.text())![1];
    const asset = await fetch(`${base}${script}`);
    expect([asset.status, asset.headers.get('content-type'), asset.headers.get('cache-control')])
      .toEqual([200, 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable']);

    await page.goto(`${base}/`);
    await page.getByRole('heading', { name: 'Sign in to Gangway' }).waitFor();
    // A newcomer learns where the admin token is and how to create a user.
    const help = page.getByRole('region', { name: 'How to get in' });
    expect(await help.getByText('.gangway/token', { exact: true }).count()).toBe(1);
    expect(await help.locator('code', { hasText: 'gangway user add alice' }).count()).toBe(1);
    await browser.screenshot('dashboard-01-sign-in');
    await signIn({ name: ALICE.name, password: 'not-her-password' });
    expect(await textMatching(page.getByRole('alert'), /wrong/)).toBe('wrong user name or password — user names and passwords are case-sensitive');
    await browser.screenshot('dashboard-02-wrong-password');
  });

  it('a viewer sees a waiting deployment and every page, without a single action button', async () => {
    await signIn(VIC);
    expect(await textMatching(page.getByLabel('Signed in as'), /vic/)).toBe('vic · viewer everywhere');
    await until(async () => (await project.api<View>('GET', `/v1/deployments/${prodId}`)).body.phase === 'waiting', 'prod to wait for approval');
    await page.goto(`${base}/deployments/${prodId}`);
    expect(await textMatching(page.getByLabel('Phase'), /waiting/)).toBe('waiting');
    await page.getByRole('cell', { name: 'approvals' }).waitFor();
    expect(await actionButtons().count()).toBe(0);
    expect(await page.getByRole('region', { name: 'Actions' }).count()).toBe(0);
    await browser.screenshot('dashboard-03-viewer-no-actions');
    await signOut();
  });

  it('alice watches a canary progress live, promotes it past the pause, and it lands', async () => {
    await signIn(ALICE);
    expect(await textMatching(page.getByLabel('Signed in as'), /alice/)).toBe('alice · deployer in dev, approver in prod');
    const cell = page.getByRole('cell', { name: 'web in dev' });
    expect(await textMatching(cell, /stable 0\.00/)).toMatch(/^stable 0\.00 ?1\/1 instances ready/);
    await browser.screenshot('dashboard-04-overview');

    const load = startLoad(devPort, 1);
    await load.ready;

    try {
      const created = await project.api<View>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0.02' });
      expect(created.status).toBe(201);
      const { id, steps } = created.body;
      const title = (type: string, n: number) => steps.filter((s) => s.type === type)[n];
      await cell.getByRole('link', { name: /^rollout: / }).click();
      await until(async () => page.url() === `${base}/deployments/${id}`, 'the rollout page');
      const weights = page.getByRole('group', { name: 'Traffic weights' });
      const step = page.getByLabel('Current step');

      expect(await textMatching(weights, /0\.02 25%/)).toBe('0.00 75%, 0.02 25%');
      const timed = title('pause', 0);
      expect(await textMatching(step, new RegExp(`^${timed.idx + 1}/`))).toBe(`${timed.idx + 1}/${steps.length} ${timed.title}`);
      await browser.screenshot('dashboard-05-canary-25');
      expect(await textMatching(weights, /0\.02 50%/)).toBe('0.00 50%, 0.02 50%');
      const manual = title('pause', 1);
      expect(await textMatching(step, new RegExp(`^${manual.idx + 1}/`))).toBe(`${manual.idx + 1}/${steps.length} ${manual.title}`);
      expect(await textMatching(page.getByLabel('Phase'), /paused/)).toBe('paused');
      // Samples taken while the page was open draw the per-release error-rate line.
      expect(await textMatching(page.getByRole('img', { name: /^Error rate:/ }), /0\.02 \d/, 20_000, 'aria-label')).toMatch(/^Error rate: 0\.00 0\.0%, 0\.02 \d\.\d%$/);
      await browser.screenshot('dashboard-06-canary-paused');

      await page.getByRole('button', { name: 'Promote' }).click();
      expect(await textMatching(page.getByLabel('Phase'), /succeeded/)).toBe('succeeded');
      expect(await textMatching(weights, /0\.02 100%/)).toBe('0.02 100%');
      expect(await page.getByLabel('Current step').textContent()).toBe('ended: succeeded');
      const events = await project.api<Array<{ type: string; data: Record<string, unknown> }>>('GET', `/v1/events?deployment=${id}`);
      expect(events.body.filter((e) => e.type === 'deployment.promote_requested').map((e) => e.data.actor)).toEqual(['alice']);
      await browser.screenshot('dashboard-07-canary-done');

      // Roll it back from the same page: the rollback's own page opens and finishes.
      await page.getByLabel('Reason (optional)').fill('errors on 0.02');
      await page.getByRole('button', { name: 'Roll back' }).click();
      await page.getByRole('heading', { name: 'Rollback of web 0.00 to dev' }).waitFor();
      expect(await textMatching(page.getByLabel('Phase'), /succeeded/)).toBe('succeeded');
      expect(await textMatching(weights, /^0\.00 100%$/)).toBe('0.00 100%');
      const status = await project.api<Array<{ version: string }>>('GET', '/v1/status?service=web&environment=dev');
      expect(status.body[0].version).toBe('0.00');
      const history = await project.api<Array<{ kind: string; actor: string; reason: string }>>('GET', '/v1/deployments?service=web&environment=dev&limit=1');
      expect(history.body[0]).toMatchObject({ kind: 'rollback', actor: 'alice', reason: 'errors on 0.02' });
      await browser.screenshot('dashboard-08-rolled-back');
    } finally {
      await load.stop();
    }
  }, 60_000);

  it('alice approves the prod deployment that waits for ops, and it ships', async () => {
    await page.goto(`${base}/deployments/${prodId}`);
    expect(await textMatching(page.getByLabel('Phase'), /waiting/)).toBe('waiting');
    expect(await actionButtons().allTextContents()).toEqual(['Approve', 'Reject', 'Abort']);
    await browser.screenshot('dashboard-09-approval-waiting');
    await page.getByLabel('Comment (optional)').fill('looks good');
    await page.getByRole('button', { name: 'Approve' }).click();
    expect(await textMatching(page.getByLabel('Phase'), /succeeded/)).toBe('succeeded');
    const approvals = await project.api('GET', `/v1/deployments/${prodId}/approvals`);
    expect(approvals.body).toMatchObject([{ actor: 'alice', decision: 'approve', comment: 'looks good' }]);
    await page.getByRole('cell', { name: 'approvals' }).waitFor();
    await browser.screenshot('dashboard-10-approved');
  });

  it('history filters, freezes and windows, the audit log and DORA metrics render for alice', async () => {
    await page.getByRole('link', { name: 'History', exact: true }).click();
    await page.getByLabel('Environment').selectOption('dev');
    await page.getByLabel('Phase').selectOption('succeeded');
    await until(async () => /environment=dev&phase=succeeded$/.test(page.url()), 'the filters in the URL');
    const rows = page.locator('table.list tbody tr');
    await until(async () => (await rows.count()) === 3, 'three successful dev deployments');
    expect((await rows.allTextContents()).every((t) => t.includes('dev') && t.includes('succeeded'))).toBe(true);
    await browser.screenshot('dashboard-11-history');

    await page.getByRole('link', { name: 'Freezes & windows' }).click();
    expect(await textMatching(page.getByRole('row', { name: /^prod/ }), /open/)).toMatch(/^prodopenopen: inside allow every day 00:00–24:00 Europe\/London \(now [^)]+\)nowallow every day 00:00–24:00 Europe\/London — inside now$/);
    await browser.screenshot('dashboard-12-freezes-windows');

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('button', { name: 'Verify the hash chain' }).click();
    expect(await textMatching(page.getByRole('status'), /chain/)).toMatch(/^The chain is intact/);
    await browser.screenshot('dashboard-13-audit');

    await page.getByRole('link', { name: 'DORA metrics' }).click();
    expect(await textMatching(page.getByRole('row', { name: /^web\s*dev/ }), /per day/)).toMatch(/^webdev2 \(0\.07 per day\)—50% \(1 of 2\)[\d.]+ (s|min) over 1$/);
    await browser.screenshot('dashboard-14-dora');
    await signOut();
  });

  it('the admin token signs in; repeated wrong passwords are refused with the rate-limit message', async () => {
    await page.getByLabel('with an API token').check();
    await page.getByLabel('API token', { exact: true }).fill(project.token());
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await textMatching(page.getByLabel('Signed in as'), /admin/)).toBe('admin · admin everywhere');
    await signOut();

    // Failures count per user name and address: five for mallory are answered 401, the sixth 429
    // (alice's failure in the first test does not count against mallory).
    await page.getByLabel('with a password').check();
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) {
      const answer = page.waitForResponse((r) => r.url().endsWith('/v1/session') && r.request().method() === 'POST');
      await signIn({ name: 'mallory', password: `guess-${i}-password` });
      answers.push(String((await answer).status()));
    }
    expect(answers).toEqual(['401', '401', '401', '401', '401', '429']);
    expect(await textMatching(page.getByRole('alert'), /too many/)).toMatch(/^too many failed sign-ins; try again in \d+ seconds — check the user name and password, then wait$/);
    await browser.screenshot('dashboard-15-rate-limited');
  });
});
