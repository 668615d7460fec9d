/**
 * Stored releases of several services (release groups), end to end through the built CLI and
 * `gangway up` on the local agent: auth first, then api and web (both depend on auth) side by
 * side; the orchestrator killed with SIGKILL mid-release and the release resumed after `up`;
 * a release whose api fails rolled back (web and auth back on the release before), and one
 * with `--on-failure stop` that leaves what shipped. Every release that ended notified a real
 * webhook receiver once and left one release record in a real Git remote. The dashboard's
 * History page, in headless Chromium, shows a release with one row per service.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, freePorts, makeProject, projectHeader, runCli, sleep, type Project } from './support/gangway.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { ReleaseView } from '../src/engine/types.js';
import { git, makeRepos, type Repos } from './support/git-repos.js';
import { Receiver } from './support/notify-world.js';
import { CHROMIUM_PACKAGE, hasChromium, launchChromium } from './support/browser.js';
import { requireOrSkip } from './support/require.js';

/** Limits against a hang, not claims about speed: `gangway up` alone took up to 33 s at a load of 21 on two cores. */
const LIMIT_MS = 300_000;
const chromium = requireOrSkip('the release-groups dashboard case (test/release-groups.test.ts)', CHROMIUM_PACKAGE, hasChromium());

interface Ev { id: number; type: string; deploymentId: string | null; at: number; data: Record<string, unknown> }
interface Dep { id: string; service: string; kind: string; phase: string; version: string; groupId: string | null; startedAt: number | null }

let p: Project;
let holds: string;
let repos: Repos;
let hook: Receiver;
const ports: Record<string, number> = {};
const stagingPorts: Record<string, number> = {};
const SERVICES = ['auth', 'api', 'web'] as const;

beforeAll(async () => {
  const [auth, api, web, authStaging, apiStaging, webStaging] = await freePorts(6);
  Object.assign(ports, { auth, api, web });
  const staging: Record<string, number> = { auth: authStaging, api: apiStaging, web: webStaging };
  Object.assign(stagingPorts, staging);
  holds = mkdtempSync(join(tmpdir(), 'gangway-holds-'));
  repos = await makeRepos();
  hook = await Receiver.start();
  const service = (name: string, port: number, deps: string[]) => `
  ${name}:
    ${deps.length > 0 ? `dependsOn: [${deps.join(', ')}]` : ''}
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", HEALTH_FILE: "${holds}/unhealthy-${name}-\${release.version}" }
        instances: 1
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, failureThreshold: 3, startTimeout: 6s }
    strategy:
      rolling: { maxSurge: 1, maxUnavailable: 0 }
    # Each deployment lasts at least its watch, so api and web visibly run side by side.
    rollback: { watch: 2s }
    environments:
      staging: { target: { local: { port: ${stagingPorts[name]} } } }
`;
  p = await makeProject((pp) => `${projectHeader('groups', pp)}records:
  repo: "${repos.work}"
  remote: origin
  branch: main
notifications:
  - name: hook
    webhook: { url: "${hook.url}" }
environments:
  dev: {}
  staging:
    promotion: { from: dev }
services:${service('auth', auth, [])}${service('api', api, ['auth'])}${service('web', web, ['auth'])}`);
  await p.up();
}, LIMIT_MS);

afterAll(async () => {
  await p?.cleanup();
  await hook?.close();
  await repos?.remove();
  if (holds) rmSync(holds, { recursive: true, force: true });
}, LIMIT_MS);

async function release(id: string): Promise<ReleaseView> {
  const r = await p.api<ReleaseView>('GET', `/v1/releases/${id}`);
  expect(r.status).toBe(200);
  return r.body;
}

async function waitForRelease(id: string, what: string, ready: (r: ReleaseView) => boolean, timeoutMs = 120_000): Promise<ReleaseView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await release(id);
    if (ready(r)) return r;
    if (Date.now() > deadline) throw new Error(`release ${id} never reached ${what}: ${JSON.stringify(r)}`);
    await sleep(25);
  }
}

const ended = (r: ReleaseView) => ['succeeded', 'failed', 'rolled_back'].includes(r.phase);

async function serving(service: string, env: 'dev' | 'staging' = 'dev'): Promise<string> {
  return (await (await fetch(`http://127.0.0.1:${(env === 'dev' ? ports : stagingPorts)[service]}/`)).text()).trim();
}

async function events(): Promise<Ev[]> {
  return (await p.api<Ev[]>('GET', '/v1/events?limit=1000')).body;
}

/** The events of one type, oldest first. */
async function eventsOf(type: string): Promise<Ev[]> {
  return (await p.api<Ev[]>('GET', `/v1/events?type=${type}&limit=1000`)).body;
}

/** The event ids where a deployment's first step started and where it ended. */
function span(evs: Ev[], deploymentId: string): { start: number; end: number } {
  const mine = evs.filter((e) => e.deploymentId === deploymentId);
  const start = mine.find((e) => e.type === 'step.started')!.id;
  const end = mine.find((e) => e.type === 'deployment.phase' && ['succeeded', 'failed', 'rolled_back', 'aborted'].includes(e.data.to as string))!.id;
  return { start, end };
}

describe('a stored release of three services', () => {
  it('runs auth, then api and web side by side, as one release with one id', async () => {
    // When
    const r = await runCli(p.dir, ['deploy', '--all', '--env', 'dev', '--version', '1.0.0', '-o', 'json']);
    // Then
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const view = JSON.parse(r.stdout) as ReleaseView;
    expect(view.phase).toBe('succeeded');
    expect(view.services.map((s) => [s.service, s.version, s.state, s.dependsOn])).toEqual([
      ['auth', '1.0.0', 'succeeded', []], ['api', '1.0.0', 'succeeded', ['auth']], ['web', '1.0.0', 'succeeded', ['auth']],
    ]);
    for (const s of SERVICES) expect(await serving(s)).toBe('1.0.0');
    const evs = await events();
    const [auth, api, web] = view.services.map((s) => span(evs, s.deploymentId!));
    // auth ended before either of the others took a step; api and web overlapped.
    expect(auth.end).toBeLessThan(api.start);
    expect(auth.end).toBeLessThan(web.start);
    expect(api.start < web.end && web.start < api.end).toBe(true);
    expect(evs.filter((e) => e.data.group === view.id && e.type.startsWith('group.') && e.type !== 'group.member_started').map((e) => e.type))
      .toEqual(['group.created', 'group.started', 'group.succeeded']);
    // history and status show the release id on each deployment.
    const history = JSON.parse((await runCli(p.dir, ['history', '-o', 'json'])).stdout) as Array<Dep & { group: string | null }>;
    expect(history.filter((d) => d.group === view.id).map((d) => d.service).sort()).toEqual(['api', 'auth', 'web']);
    expect((await runCli(p.dir, ['history'])).stdout).toContain(`release ${view.id} (dev): auth 1.0.0 succeeded, api 1.0.0 succeeded, web 1.0.0 succeeded\n`);
    const status = await runCli(p.dir, ['status']);
    expect(status.stdout).toContain(`release ${view.id} (dev) succeeded: auth 1.0.0 succeeded, api 1.0.0 succeeded, web 1.0.0 succeeded\n`);
    const entries = JSON.parse((await runCli(p.dir, ['status', '--env', 'dev', '-o', 'json'])).stdout) as Array<{ service: string; deployment: { group?: string } }>;
    expect(entries.map((e) => [e.service, e.deployment.group])).toEqual([['auth', view.id], ['api', view.id], ['web', view.id]]);
  }, LIMIT_MS);

  it('resumes a release after the orchestrator is killed with SIGKILL in the middle of it', async () => {
    // Given a release returned at once (--no-wait) and followed over the API
    const r = await runCli(p.dir, ['deploy', '--all', '--env', 'dev', '--version', '2.0.0', '--no-wait', '-o', 'json']);
    expect(r.code).toBe(0);
    const id = (JSON.parse(r.stdout) as ReleaseView).id;
    await waitForRelease(id, 'auth done and api running', (v) => v.services[0].state === 'succeeded' && v.services[1].state === 'running');
    // When
    await p.kill();
    // Then the store shows it mid-release, the agent keeps serving, and `up` resumes it to success
    const store = openSqliteStore(join(p.dir, '.gangway', 'state.db'));
    try {
      const g = (await store.getReleaseGroup(id))!;
      expect(g.phase).toBe('running');
      const members = await store.listDeployments({ groupId: id });
      expect(members.filter((d) => d.service === 'auth').map((d) => d.phase)).toEqual(['succeeded']);
      expect(members.filter((d) => d.service === 'api').map((d) => d.phase)).not.toEqual(['succeeded']);
    } finally {
      await store.close();
    }
    expect(await serving('auth')).toBe('2.0.0');
    await p.up();
    const end = await waitForRelease(id, 'its end', ended);
    expect([end.phase, end.message]).toEqual(['succeeded', null]);
    expect(end.services.map((s) => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    for (const s of SERVICES) expect(await serving(s)).toBe('2.0.0');
    const evs = (await events()).filter((e) => e.data.group === id && ['group.created', 'group.started', 'group.succeeded'].includes(e.type));
    expect(evs.map((e) => e.type)).toEqual(['group.created', 'group.started', 'group.succeeded']);
    // Each member deployed once: no second deployment of any service in the release.
    const deployments = (await p.api<Dep[]>('GET', '/v1/deployments?limit=100')).body.filter((d) => d.groupId === id);
    expect(deployments.map((d) => `${d.service} ${d.kind} ${d.phase}`).sort()).toEqual(['api deploy succeeded', 'auth deploy succeeded', 'web deploy succeeded']);
  }, LIMIT_MS);

  it('rolls back what shipped, in reverse dependency order, when api fails (onFailure rollback, the default)', async () => {
    // Given api 3.0.0 fails its health checks
    writeFileSync(join(holds, 'unhealthy-api-3.0.0'), '');
    // When
    const r = await runCli(p.dir, ['deploy', '--all', '--env', 'dev', '--version', '3.0.0']);
    // Then
    expect(r.code).toBe(4);
    const id = /^(r-\S+) release to dev \(on failure: rollback\)$/m.exec(r.stdout)?.[1];
    expect(id, r.stdout).toBeDefined();
    const end = await release(id!);
    expect(end.phase).toBe('rolled_back');
    expect(r.stdout).toContain(`✗ ${id} rolled back`);
    const [auth, api, web] = end.services;
    expect(auth.state).toBe('succeeded');
    expect(auth.rollback).toMatchObject({ phase: 'succeeded', version: '2.0.0' });
    expect(api.state).toBe('rolled_back');
    // web ran beside api: it either was stopped and rolled itself back, or had shipped and was rolled back by the release.
    expect(web.state === 'rolled_back' || (web.state === 'succeeded' && web.rollback?.phase === 'succeeded')).toBe(true);
    for (const s of SERVICES) expect(await serving(s)).toBe('2.0.0');
    // auth went back only after web (which depends on it) was back.
    const evs = await events();
    const authBack = span(evs, auth.rollback!.id);
    const webBack = span(evs, web.rollback?.id ?? web.deploymentId!);
    expect(webBack.end).toBeLessThan(authBack.start);
    expect(evs.filter((e) => e.data.group === id && e.type.startsWith('group.') && e.type !== 'group.member_started').map((e) => e.type))
      .toEqual(['group.created', 'group.started', 'group.rolling_back', 'group.rolled_back']);
    expect(end.message).toMatch(/^api rolled back .*rolled back (web, auth|auth)$/);
  }, LIMIT_MS);

  it('leaves what shipped and starts nothing else when api fails with --on-failure stop', async () => {
    // Given api 4.0.0 fails its health checks
    writeFileSync(join(holds, 'unhealthy-api-4.0.0'), '');
    // When
    const r = await runCli(p.dir, ['deploy', '--all', '--env', 'dev', '--version', '4.0.0', '--on-failure', 'stop', '-o', 'json']);
    // Then
    expect(r.code).toBe(4);
    const end = JSON.parse(r.stdout) as ReleaseView;
    expect([end.phase, end.onFailure]).toEqual(['failed', 'stop']);
    const [auth, api, web] = end.services;
    expect([auth.state, auth.rollback]).toEqual(['succeeded', null]);
    expect(api.state).toBe('rolled_back');
    // web was already running beside api: stop lets it finish.
    expect([web.state, web.rollback]).toEqual(['succeeded', null]);
    expect(await serving('auth')).toBe('4.0.0');
    expect(await serving('api')).toBe('2.0.0');
    expect(await serving('web')).toBe('4.0.0');
    expect(end.message).toMatch(/^api rolled back/);
  }, LIMIT_MS);

  it('refuses a release with a version missing for some services, creating nothing', async () => {
    const before = (await p.api<Dep[]>('GET', '/v1/deployments?limit=1000')).body.length;
    const r = await runCli(p.dir, ['deploy', '--all', '--env', 'dev', '--versions', 'api=5.0.0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: no version for auth, web: a release names the version of every service it deploys\n'
      + 'hint: give one version for all (--version V), or each one: --versions auth=<version>,web=<version>\n');
    expect((await p.api<Dep[]>('GET', '/v1/deployments?limit=1000')).body.length).toBe(before);
    expect((await p.api<ReleaseView[]>('GET', '/v1/releases?environment=dev')).body.map((g) => g.phase))
      .toEqual(['failed', 'rolled_back', 'succeeded', 'succeeded']);
  }, LIMIT_MS);

  it('refuses a release a gate blocks for any service, creating nothing', async () => {
    // Given dev is frozen
    const freeze = await runCli(p.dir, ['freeze', '--env', 'dev', '--reason', 'incident 42', '-o', 'json']);
    expect(freeze.code).toBe(0);
    const before = (await p.api<Dep[]>('GET', '/v1/deployments?limit=1000')).body.length;
    // When
    const r = await runCli(p.dir, ['deploy', '--all', '--env', 'dev', '--version', '5.0.0']);
    // Then: exit 3, every service's refusal named, nothing created
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error: the release cannot start: auth: freeze: .*; api: freeze: .*; web: freeze: .*\n/);
    expect((await p.api<Dep[]>('GET', '/v1/deployments?limit=1000')).body.length).toBe(before);
    expect((await p.api<ReleaseView[]>('GET', '/v1/releases?environment=dev')).body).toHaveLength(4);
    const id = (JSON.parse(freeze.stdout) as { id: string }).id;
    expect((await runCli(p.dir, ['unfreeze', id])).code).toBe(0);
  }, LIMIT_MS);

  it('promotes the set that last succeeded together in dev, not each service\'s latest', async () => {
    // dev runs auth 4.0.0, api 2.0.0, web 4.0.0; the last release that succeeded as a whole there is 2.0.0.
    const r = await runCli(p.dir, ['promote', '--all', '--to', 'staging', '-o', 'json']);
    expect([r.code, r.stderr], r.stdout).toEqual([0, '']);
    const view = JSON.parse(r.stdout) as ReleaseView;
    expect([view.kind, view.phase, view.services.map((s) => `${s.service} ${s.version} ${s.state}`)])
      .toEqual(['promote', 'succeeded', ['auth 2.0.0 succeeded', 'api 2.0.0 succeeded', 'web 2.0.0 succeeded']]);
    for (const s of SERVICES) expect(await serving(s, 'staging')).toBe('2.0.0');
  }, LIMIT_MS);

  it('notified the webhook once per release that ended, and recorded each release once beside its deployments', async () => {
    // Given every release above, one of them across a SIGKILL of the orchestrator
    const releases = [...(await p.api<ReleaseView[]>('GET', '/v1/releases?environment=dev')).body, ...(await p.api<ReleaseView[]>('GET', '/v1/releases?environment=staging')).body]
      .sort((a, b) => a.createdAt - b.createdAt);
    expect(releases.map((r) => `${r.environment} ${r.phase}`)).toEqual(['dev succeeded', 'dev succeeded', 'dev rolled_back', 'dev failed', 'staging succeeded']);
    const ids = releases.map((r) => r.id);
    interface Body { kind: string; event: string; release?: { id: string; phase: string; actor: string; services: Array<{ service: string; version: string; deploymentId: string | null; outcome: string }> } }
    const releaseBodies = () => hook.received.map((q) => ({ q, body: JSON.parse(q.body) as Body })).filter((x) => x.body.kind === 'release');
    // When the notifications and records that follow the log have caught up
    const deadline = Date.now() + 60_000;
    for (;;) {
      const written = (await eventsOf('record.written')).filter((e) => e.deploymentId === null).map((e) => e.data.group);
      const notified = releaseBodies().map((x) => x.body.release?.id);
      if (ids.every((id) => written.includes(id) && notified.includes(id))) break;
      if (Date.now() > deadline) throw new Error(`release notifications ${JSON.stringify(notified)} and records ${JSON.stringify(written)} never covered ${ids.join(', ')}`);
      await sleep(100);
    }
    // Then each release was notified once, with its outcome, services and versions
    const got = releaseBodies();
    expect(got.map((x) => [x.q.headers['x-gangway-event'], x.body.release!.id])).toEqual(releases.map((r) => [`release.${r.phase}`, r.id]));
    expect(new Set(got.map((x) => x.q.headers['x-gangway-delivery'])).size).toBe(releases.length);
    for (const [i, r] of releases.entries()) {
      expect(got[i]!.body.release!.services).toEqual(r.services.map((s) => ({
        service: s.service, version: s.version, image: null, deploymentId: s.deploymentId, outcome: s.state, message: s.message,
        rollback: s.rollback ? { deploymentId: s.rollback.id, phase: s.rollback.phase, version: s.rollback.version } : null,
      })));
    }
    // and recorded once each, in the remote, under releases/ of its environment
    expect((await eventsOf('record.written')).filter((e) => e.deploymentId === null).map((e) => e.data.group)).toEqual(ids);
    expect((await eventsOf('notification.sent')).filter((e) => e.deploymentId === null).map((e) => e.data.group)).toEqual(ids);
    const files = (await git(repos.bare, 'ls-tree', '-r', '--name-only', 'main')).split('\n').filter((f) => f.includes('/releases/'));
    expect(files.sort()).toEqual(releases.map((r) => `docs/deployments/${r.environment}/releases/${new Date(r.createdAt).toISOString().slice(0, 10)}-${r.id}.md`).sort());
    const rolledBack = releases[2]!;
    const record = await git(repos.bare, 'show', `main:docs/deployments/dev/releases/${new Date(rolledBack.createdAt).toISOString().slice(0, 10)}-${rolledBack.id}.md`);
    expect(record).toContain(`# Release ${rolledBack.id} to dev: rolled back\n`);
    for (const s of rolledBack.services) expect(record).toContain(`| ${s.service} | 3.0.0 | \`${s.deploymentId}\` | ${s.state.replace('_', ' ')}`);
  }, LIMIT_MS);

  it.skipIf(!chromium)('the dashboard\'s History page shows each release with one row per service, its version, dependencies and state', async () => {
    const rolledBack = (await p.api<ReleaseView[]>('GET', '/v1/releases?environment=dev')).body.find((r) => r.phase === 'rolled_back')!;
    expect((await p.api('POST', '/v1/users', { name: 'vera', password: 'vera-password-1', roles: { '*': 'viewer' } })).status).toBe(201);
    const browser = await launchChromium();
    try {
      const page = browser.page;
      await page.goto(`http://127.0.0.1:${p.apiPort}/`);
      await page.getByLabel('User name', { exact: true }).fill('vera');
      await page.getByLabel('Password', { exact: true }).fill('vera-password-1');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByLabel('Signed in as').waitFor();
      await page.getByRole('link', { name: 'History' }).click();
      const table = page.getByRole('table', { name: `release ${rolledBack.id}` });
      await table.waitFor({ timeout: 20_000 });
      await browser.screenshot('release-groups-history');
      expect(await table.locator('caption').textContent()).toMatch(new RegExp(`^${rolledBack.id} to dev: rolled back — \\d\\d:\\d\\d:\\d\\d by ${rolledBack.actor} — api rolled back \\(`));
      const rows = await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      expect(rows).toEqual(rolledBack.services.map((s) => [
        s.service, '3.0.0', s.dependsOn.join(', '), s.state.replace('_', ' '), s.step ?? '',
        s.rollback ? `to ${s.rollback.version}: ${s.rollback.phase.replace('_', ' ')}` : '',
      ]));
      expect(rows.map((r) => r[0])).toEqual(['auth', 'api', 'web']);
      // A service's name links to its deployment's page.
      await table.getByRole('link', { name: 'api' }).click();
      await page.waitForURL(`**/deployments/${rolledBack.services[1]!.deploymentId}`);
    } finally {
      await browser.close();
    }
  }, LIMIT_MS);
});
