/**
 * Releases that start themselves, end to end: real `gangway up`, agent and instances, a real
 * OCI registry (Debian docker-registry), and the CLI.
 *
 * Given  dev and staging subscribed to the registry's tags (staging promoted from dev, with
 *        allowPromoted and one approval required), qa taking signed webhooks from CI, and web
 *        1.0.0 shipped to dev by hand
 * When   1.1.0 is pushed, someone rolls dev back, 1.2.0 is pushed, dev is resumed, and CI posts
 *        releases to the webhook with a good and a bad signature
 * Then   dev ships 1.1.0 as gangway/auto; staging asks for it too and waits for its approval;
 *        the rollback pauses dev (shown by `autodeploy status` and `status`) so 1.2.0 waits,
 *        while staging's request for 1.2.0 is refused by its promotion gate and recorded once;
 *        after the resume dev ships 1.2.0; the good signature deploys, the bad one is 401 and
 *        an `auth.denied` event.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, freePorts, makeProject, projectHeader, runCli, sleep, waitForEnd, type Project } from './support/gangway.js';
import { REGISTRY_PACKAGE, hasRegistry, pushImage, startRegistry, type RegistryServer } from './support/registry.js';
import { requireOrSkip } from './support/require.js';

/** Limits against a hang on a loaded machine, not claims about speed. */
const SETUP_LIMIT_MS = 180_000;
const SCENARIO_LIMIT_MS = 300_000;
const WAIT_LIMIT_MS = 120_000;

const available = requireOrSkip('the end-to-end auto-deploy scenario (test/autodeploy.test.ts)', REGISTRY_PACKAGE, hasRegistry());

const SECRET = 'ci-release-secret-for-tests';
let project: Project;
let registry: RegistryServer;

interface Auto { service: string; environment: string; lastTag: string | null; pending: { tag: string; gates: string } | null; paused: { by: string | null; deployment: string | null } | null }
interface Deployment { id: string; service: string; environment: string; version: string; actor: string; reason: string | null; phase: string; gates: Array<{ gate: string; result: string }> }

const cli = (...args: string[]) => runCli(project.dir, args, { GANGWAY_ACTOR: 'ana' });

async function json<T>(...args: string[]): Promise<T> {
  const r = await cli(...args, '-o', 'json');
  if (r.code !== 0) throw new Error(`gangway ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Polls `read` until `ok` holds for what it returns; returns that. */
async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

const autoOf = async (env: string) => (await json<Auto[]>('autodeploy', 'status', 'web', '--env', env))[0]!;
const history = (env: string) => json<Deployment[]>('history', 'web', '--env', env);

describe.skipIf(!available)('auto-deploy from a registry and from CI', () => {
  beforeAll(async () => {
    registry = await startRegistry();
    await pushImage(registry.url, 'e2e/web', '1.0.0', { layers: ['web 1.0.0'] });
    const ports = await freePorts(3);
    process.env.E2E_RELEASE_SECRET = SECRET;
    const image = `{ repository: "${registry.host}/e2e/\${service}", tagPattern: '^[0-9]+[.][0-9]+[.][0-9]+$', interval: 200ms }`;
    project = await makeProject((p) => `
${projectHeader('autodeploy', p)}groups: { ops: [bob] }
registries:
  - { host: "${registry.host}", insecure: true }
environments:
  dev:
    autoDeploy: { image: ${image} }
  staging:
    promotion: { from: dev }
    approvals: { required: 1, groups: [ops] }
    autoDeploy: { image: ${image}, allowPromoted: true }
  qa:
    autoDeploy: { webhook: true, secretFromEnv: E2E_RELEASE_SECRET }
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}" }
        port: ${ports[0]}
    health: { path: /health, interval: 100ms, startTimeout: 15s }
    rollback: { watch: 0s }
    environments:
      staging: { target: { local: { port: ${ports[1]} } } }
      qa: { target: { local: { port: ${ports[2]} } } }
`);
    await project.up();
  }, SETUP_LIMIT_MS);

  afterAll(async () => {
    await project?.cleanup();
    await registry?.stop();
    delete process.env.E2E_RELEASE_SECRET;
  }, SETUP_LIMIT_MS);

  it('deploys a pushed tag through the gates, pauses after a rollback until resumed', async () => {
    // Given: the first poll remembered 1.0.0; it is shipped by hand.
    await waitFor('dev subscribed', () => autoOf('dev'), (a) => a.lastTag === '1.0.0');
    const manual = await json<Deployment>('deploy', 'web', '--env', 'dev', '--image', `${registry.host}/e2e/web:1.0.0`, '--wait');
    expect([manual.version, manual.actor, manual.phase]).toEqual(['1.0.0', 'ana', 'succeeded']);

    // When 1.1.0 is pushed, dev ships it by itself.
    await pushImage(registry.url, 'e2e/web', '1.1.0', { layers: ['web 1.1.0'] });
    const auto = await waitFor('dev deploys 1.1.0', () => history('dev'), (h) => h.some((d) => d.version === '1.1.0'));
    const shipped = auto.find((d) => d.version === '1.1.0')!;
    expect([shipped.actor, shipped.reason]).toEqual(['gangway/auto', '1.1.0']);
    expect((await waitForEnd(project, shipped.id, WAIT_LIMIT_MS)).phase).toBe('succeeded');

    // Staging subscribes too, but its approval gate holds the release until someone in ops approves.
    const staged = await waitFor('staging asks for 1.1.0', () => history('staging'), (h) => h.some((d) => d.version === '1.1.0' && d.phase === 'waiting'));
    const waiting = staged.find((d) => d.version === '1.1.0' && d.phase === 'waiting')!;
    expect([waiting.actor, waiting.phase]).toEqual(['gangway/auto', 'waiting']);
    const view = (await project.api<Deployment>('GET', `/v1/deployments/${waiting.id}`)).body;
    expect(view.gates.filter((g) => g.result !== 'pass').map((g) => [g.gate, g.result])).toEqual([['approvals', 'wait']]);
    expect(view.gates.find((g) => g.gate === 'promotion')?.result).toBe('pass');

    // A person rolls dev back: auto-deploy of dev pauses.
    const back = await cli('rollback', 'web', '--env', 'dev', '--reason', 'checkout broken', '--wait');
    expect(back.code).toBe(0);
    const paused = await waitFor('dev paused', () => autoOf('dev'), (a) => a.paused !== null);
    expect(paused.paused!.by).toBe('ana');
    const status = await json<Array<{ environment: string; version: string; autoDeploy: Auto | null }>>('status', 'web', '--env', 'dev');
    expect([status[0]!.version, status[0]!.autoDeploy?.paused?.by]).toEqual(['1.0.0', 'ana']);
    expect((await cli('status', 'web', '--env', 'dev')).stdout).toContain('web/dev auto-deploy: paused since');

    // 1.2.0 is pushed: staging (not paused) asks for it and its promotion gate refuses it, once recorded;
    // dev, paused, deploys nothing.
    await pushImage(registry.url, 'e2e/web', '1.2.0', { layers: ['web 1.2.0'] });
    const held = await waitFor('staging holds 1.2.0', () => autoOf('staging'), (a) => a.pending?.tag === '1.2.0');
    expect(held.pending).toEqual({ tag: '1.2.0', gates: 'promotion' });
    expect((await history('dev')).map((d) => [d.version, d.actor, d.reason])).toEqual([['1.0.0', 'ana', 'checkout broken'], ['1.1.0', 'gangway/auto', '1.1.0'], ['1.0.0', 'ana', null]]);
    const blocked = (await project.api<Array<{ data: Record<string, unknown> }>>('GET', '/v1/events?type=autodeploy.blocked')).body;
    // 1.1.0 may have been refused too while dev was still deploying it (promotion), each refusal recorded once.
    const triples = blocked.map((e) => `${String(e.data.environment)} ${String(e.data.tag)} ${String(e.data.gates)}`);
    expect(triples.filter((t) => t.includes('1.2.0'))).toEqual(['staging 1.2.0 promotion']);
    expect(new Set(triples).size).toBe(triples.length);

    // Resumed, dev ships 1.2.0 — never 1.1.0 again.
    const resumed = await cli('autodeploy', 'resume', 'web', '--env', 'dev');
    expect([resumed.code, resumed.stdout]).toEqual([0, 'auto-deploy of web to dev resumed; only a tag newer than 1.1.0 is deployed\n']);
    const after = await waitFor('dev deploys 1.2.0', () => history('dev'), (h) => h.some((d) => d.version === '1.2.0'));
    expect((await waitForEnd(project, after[0]!.id, WAIT_LIMIT_MS)).phase).toBe('succeeded');
    expect((await history('dev')).map((d) => [d.version, d.actor])).toEqual([['1.2.0', 'gangway/auto'], ['1.0.0', 'ana'], ['1.1.0', 'gangway/auto'], ['1.0.0', 'ana']]);
    const types = (await project.api<Array<{ type: string; data: Record<string, unknown> }>>('GET', '/v1/events?type=autodeploy.*')).body
      .filter((e) => e.data.environment === 'dev').map((e) => e.type);
    expect(types).toEqual(['autodeploy.subscribed', 'autodeploy.deployed', 'autodeploy.paused', 'autodeploy.resumed', 'autodeploy.deployed']);
  }, SCENARIO_LIMIT_MS);

  it('takes a signed release from CI without a token, and refuses a bad signature with 401 and auth.denied', async () => {
    const post = async (body: string, signature?: string) => {
      const r = await fetch(`http://127.0.0.1:${project.apiPort}/v1/webhooks/release`, {
        method: 'POST', body, headers: { 'content-type': 'application/json', ...(signature ? { 'x-gangway-signature': signature } : {}) },
      });
      return { status: r.status, body: await r.json() as Record<string, unknown> };
    };
    const body = JSON.stringify({ service: 'web', environment: 'qa', version: '3.0.0', reason: 'CI build 77' });
    const good = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
    const bad = `sha256=${createHmac('sha256', 'not-the-secret').update(body).digest('hex')}`;

    const refused = await post(body, bad);
    expect(refused).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'X-Gangway-Signature does not match the body with any release webhook secret', hint: 'sign the exact body with HMAC-SHA256 and the secret of autoDeploy.secretFromEnv: X-Gangway-Signature: sha256=<hex>' } } });
    expect((await post(body)).status).toBe(401);
    // The signature covers the exact bytes: the same JSON with a space is another body.
    expect((await post(body.replace(':', ': '), good)).status).toBe(401);
    const denied = (await project.api<Array<{ data: Record<string, unknown> }>>('GET', '/v1/events?type=auth.denied')).body;
    expect(denied.map((e) => [e.data.route, e.data.reason])).toEqual([
      ['/v1/webhooks/release', 'X-Gangway-Signature does not match the body with any release webhook secret'],
      ['/v1/webhooks/release', 'missing X-Gangway-Signature'],
      ['/v1/webhooks/release', 'X-Gangway-Signature does not match the body with any release webhook secret'],
    ]);
    expect(await history('qa')).toEqual([]);

    const accepted = await post(body, good);
    expect(accepted.status).toBe(201);
    expect([accepted.body.version, accepted.body.actor, accepted.body.reason, accepted.body.environment]).toEqual(['3.0.0', 'gangway/auto', 'CI build 77', 'qa']);
    expect((await waitForEnd(project, accepted.body.id as string, WAIT_LIMIT_MS)).phase).toBe('succeeded');
  }, SCENARIO_LIMIT_MS);
});
