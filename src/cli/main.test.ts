import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { main } from './main.js';
import { ensureToken, readToken } from './token.js';
import { buildServer } from '../server/app.js';
import { FakeOrchestrator } from '../../test/support/fake-orchestrator.js';
import { freePort } from '../agent/ports.js';

const TOKEN = 'cli-test-token';

/** A gangway.yaml with 3 environments and 2 services; the API port is filled in per test. */
function configText(port: number): string {
  return `project: shop
server: { host: 127.0.0.1, port: ${port} }
environments:
  dev: {}
  staging: { promotion: { from: dev } }
  prod: { promotion: { from: staging } }
services:
  web:
    target:
      local: { command: ["node", "server.js"], port: 18080 }
    environments:
      staging: { target: { local: { port: 18180 } } }
      prod: { target: { local: { port: 18280 } } }
  api:
    target:
      local: { command: ["node", "api.js"], port: 18081 }
    environments:
      staging: { target: { local: { port: 18181 } } }
      prod: { target: { local: { port: 18281 } } }
`;
}

interface Run { code: number; stdout: string; stderr: string }

let dir: string;
let fake: FakeOrchestrator;
let app: FastifyInstance;
let port: number;
let env: Record<string, string | undefined>;

async function run(args: string[], extra: { signal?: AbortSignal; env?: Record<string, string | undefined>; onStdout?: (all: string) => void } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'gangway', ...args], {
    stdout: { write: (s: string) => { stdout += s; extra.onStdout?.(stdout); } },
    stderr: { write: (s: string) => { stderr += s; } },
    env: { ...env, ...extra.env }, cwd: dir, pollMs: 5, refreshMs: 20, signal: extra.signal,
  });
  return { code, stdout, stderr };
}

const json = (r: Run) => JSON.parse(r.stdout) as unknown;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gangway-cli-'));
  fake = new FakeOrchestrator({ services: { web: ['dev', 'staging', 'prod'], api: ['dev', 'staging', 'prod'] }, advanceOnRead: true, failingVersions: ['6.6.6'] });
  app = buildServer({ orchestrator: fake, token: TOKEN, version: '0.0.0-test' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
  writeFileSync(join(dir, 'gangway.yaml'), configText(port));
  mkdirSync(join(dir, '.gangway'), { mode: 0o700 });
  writeFileSync(join(dir, '.gangway', 'token'), `${TOKEN}\n`, { mode: 0o600 });
  env = { GANGWAY_ACTOR: 'alice' };
});

afterEach(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('validate and schema (local)', () => {
  it('validate prints a summary and exits 0', async () => {
    const r = await run(['validate']);
    expect(r).toEqual({ code: 0, stdout: '✓ gangway.yaml is valid: 3 environments, 2 services\n', stderr: '' });
  });

  it('validate -o json', async () => {
    const r = await run(['validate', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(json(r)).toEqual({ valid: true, environments: ['dev', 'staging', 'prod'], services: ['web', 'api'] });
  });

  it('validate of a bad config prints every problem with file:line:col and exits 2', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'project: shop\nenvironments:\n  dev: {}\nservices:\n  web:\n    target:\n      local: { command: [], port: 8080 }\n');
    const r = await run(['validate', 'bad.yaml']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines[0]).toMatch(/^✗ bad\.yaml is invalid: \d+ problems?$/);
    expect(lines[1]).toMatch(new RegExp(`^${join(dir, 'bad.yaml').replace(/[.]/g, '\\.')}:7:\\d+: services\\.web\\.target\\.local\\.command: `));
  });

  it('validate -o json of a bad config prints the problems and exits 2', async () => {
    writeFileSync(join(dir, 'gangway.yaml'), 'project: shop\nenvironments: 3\n');
    const r = await run(['validate', '-o', 'json']);
    expect(r.code).toBe(2);
    const out = json(r) as { valid: boolean; problems: Array<{ file: string; line: number; column: number; path: string }> };
    expect(out.valid).toBe(false);
    expect(out.problems.length).toBeGreaterThan(0);
    expect(out.problems).toContainEqual(expect.objectContaining({ file: join(dir, 'gangway.yaml'), line: 2, path: 'environments' }));
  });

  it('validate of a config with more problems than are listed counts them all in its first line', async () => {
    const unknown = Array.from({ length: 60 }, (_, i) => `  key${i}: 1`).join('\n');
    writeFileSync(join(dir, 'many.yaml'), `project: shop\nenvironments:\n  dev: {}\nservices: {}\nnotakey:\n${unknown}\n${Array.from({ length: 59 }, (_, i) => `extra${i}: 1`).join('\n')}\n`);
    const r = await run(['validate', '-c', join(dir, 'many.yaml')]);
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toMatch(/^✗ many\.yaml is invalid: (\d+) problems, the first 50 listed$/);
    expect(Number(/invalid: (\d+)/.exec(lines[0]!)![1])).toBeGreaterThan(50);
    expect(r.stderr).toMatch(/… and \d+ more problems from here on \(only the first 50 are listed\)/);
  });

  it('validate without a config file exits 2 with a hint', async () => {
    rmSync(join(dir, 'gangway.yaml'));
    const r = await run(['validate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: no gangway.yaml in ${dir}\nhint: run gangway in your project folder, or pass -C <folder> or -c <file>\n`);
  });

  it('schema prints the JSON Schema', async () => {
    const r = await run(['schema']);
    expect(r.code).toBe(0);
    const schema = json(r) as { $schema: string; properties: Record<string, unknown> };
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['project', 'environments', 'services']));
  });
});

describe('usage errors', () => {
  it('an unknown command exits 2', async () => {
    const r = await run(['bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown command 'bogus'");
  });

  it('a missing --env exits 2 and sends nothing', async () => {
    const r = await run(['deploy', 'web', '--version', '1.0.0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: required option '-e, --env <environment>' not specified");
    expect(fake.calls).toEqual([]);
  });

  it('deploy with neither --version nor --image asks the orchestrator, which names what is missing (exit 2)', async () => {
    const r = await run(['deploy', 'web', '--env', 'dev']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'error: give exactly one of version or image\n' });
    expect(fake.calls[0]).toEqual(['deploy', { service: 'web', environment: 'dev', actor: 'alice' }]);
  });

  it('deploy without a service or --all exits 2', async () => {
    const r = await run(['deploy', '--env', 'dev']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'error: name a service, or pass --all\nhint: e.g. gangway deploy web --env dev --version 1.4.2\n' });
  });

  it('a bad -o value exits 2', async () => {
    const r = await run(['status', '-o', 'yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: option '-o, --output <format>' argument 'yaml' is invalid. Allowed choices are text, json.");
    const before = await run(['-o', 'yaml', 'status']);
    expect(before.code).toBe(2);
  });

  it('no command at all prints the usage and exits 2', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: gangway \[options\] \[command\]/);
  });

  it('--version prints the version and exits 0', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version}\n`);
  });

  it('--help exits 0 and lists the commands', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['up', 'demo', 'deploy', 'status', 'history', 'plan', 'rollback', 'abort', 'logs', 'validate', 'schema', 'down', 'agent']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    }
  });
});

describe('deploy', () => {
  it('prints the created deployment and sends the actor', async () => {
    const r = await run(['deploy', 'web', '--env', 'dev', '--version', '1.4.2', '--reason', 'fix checkout']);
    expect(r).toEqual({ code: 0, stdout: 'dep_0001 deployment of web 1.4.2 to dev: running\n', stderr: '' });
    expect(fake.calls[0]).toEqual(['deploy', { service: 'web', environment: 'dev', version: '1.4.2', reason: 'fix checkout', actor: 'alice' }]);
  });

  it('-o json prints the DeploymentView', async () => {
    const r = await run(['deploy', 'web', '--env', 'dev', '--image', 'ghcr.io/acme/web:1.4.2', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(json(r)).toEqual(fake.deployments[0]);
  });

  it('--wait follows a successful deployment step by step and exits 0', async () => {
    fake.setStable('web', 'dev', '1.0.0');
    const r = await run(['deploy', 'web', '--env', 'dev', '--version', '1.1.0', '--wait']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      'dep_0001 deployment of web 1.1.0 to dev: running',
      '  ▸ [1/4] start 2 instances of 1.1.0',
      '  instances: 1.0.0: 2 ready',
      '  ✓ [1/4] start 2 instances of 1.1.0 (2.0s)',
      '  ▸ [2/4] wait for 1.1.0 to be healthy',
      '  ✓ [2/4] wait for 1.1.0 to be healthy (2.0s)',
      '  ▸ [3/4] switch traffic to 1.1.0',
      '  ✓ [3/4] switch traffic to 1.1.0 (2.0s)',
      '  ▸ [4/4] stop 1.0.0',
      '  ✓ [4/4] stop 1.0.0 (2.0s)',
      '✓ dep_0001 succeeded in 18.0s',
      '',
    ].join('\n'));
  });

  it('--wait exits 4 when the deployment rolls back, with the reason', async () => {
    fake.setStable('web', 'dev', '1.0.0');
    const r = await run(['deploy', 'web', '--env', 'dev', '--version', '6.6.6', '--wait']);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe([
      'dep_0001 deployment of web 6.6.6 to dev: running',
      '  ▸ [1/4] start 2 instances of 6.6.6',
      '  instances: 1.0.0: 2 ready',
      '  ✓ [1/4] start 2 instances of 6.6.6 (2.0s)',
      '  ▸ [2/4] wait for 6.6.6 to be healthy',
      '  ✗ [2/4] wait for 6.6.6 to be healthy (2.0s): 6.6.6: 3 consecutive health check failures',
      '  - [3/4] switch traffic to 6.6.6 (skipped)',
      '  - [4/4] stop 1.0.0 (skipped)',
      '  phase: rolling_back',
      '  ▸ [rollback 1/2] stop 6.6.6',
      '  ✓ [rollback 1/2] stop 6.6.6 (2.0s)',
      '  ▸ [rollback 2/2] switch traffic to 1.0.0',
      '  ✓ [rollback 2/2] switch traffic to 1.0.0 (2.0s)',
      '✗ dep_0001 rolled_back in 19.0s: 6.6.6: 3 consecutive health check failures',
      '',
    ].join('\n'));
  });

  it('--wait -o json prints only the final DeploymentView and exits 4 on failure', async () => {
    const r = await run(['deploy', 'web', '--env', 'dev', '--version', '6.6.6', '--wait', '-o', 'json']);
    expect(r.code).toBe(4);
    const view = json(r) as { id: string; phase: string };
    expect(view).toEqual(fake.deployments[0]);
    expect(view.phase).toBe('rolled_back');
  });

  it('an unknown service comes back from the API as exit 2', async () => {
    const r = await run(['deploy', 'nope', '--env', 'dev', '--version', '1.0.0']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'error: service "nope" is not defined in gangway.yaml\nhint: services: web, api\n' });
  });

  it('an API error with -o json is printed as the error body too', async () => {
    const r = await run(['deploy', 'web', '--env', 'qa', '--version', '1.0.0', '-o', 'json']);
    expect(r.code).toBe(2);
    expect(json(r)).toEqual({ error: { code: 'not_found', message: 'environment "qa" is not defined for service web', hint: 'environments: dev, staging, prod' } });
    expect(r.stderr).toBe('error: environment "qa" is not defined for service web\nhint: environments: dev, staging, prod\n');
  });

  it('a bad version label is refused by the API with the accepted form (exit 2)', async () => {
    const r = await run(['deploy', 'web', '--env', 'dev', '--version', 'v 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: version: "v 1" is not a valid version\nhint: a version is 1-128 characters of letters, digits, ".", "_", "+" or "-", starting with a letter or digit, e.g. 1.4.2\n');
  });
});

describe('status', () => {
  it('-o json prints exactly the StatusEntry array', async () => {
    fake.setStable('web', 'prod', '1.4.2');
    const r = await run(['status', 'web', '--env', 'prod', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(json(r)).toEqual([{
      service: 'web', environment: 'prod', version: '1.4.2', deployment: null, queued: 0, port: 8080,
      instances: [
        { id: 'web-prod-1.4.2-1', version: '1.4.2', port: 41001, state: 'ready', restarts: 0, consecutiveFailures: 0 },
        { id: 'web-prod-1.4.2-2', version: '1.4.2', port: 41002, state: 'ready', restarts: 0, consecutiveFailures: 0 },
      ],
      traffic: [{ version: '1.4.2', weight: 100 }],
      analysis: [],
      releases: [{ version: '1.4.2', requests: 120, errorRate: 0, p95Seconds: 0.012 }],
      preview: null,
    }]);
  });

  it('shows the preview of blue-green pairs: the port, the release on it, or that the agent has yet to choose the port', async () => {
    fake.options.previews = { dev: { port: 41873, version: '1.1.0' }, staging: { port: 41874, version: null }, prod: { port: null, version: null } };
    fake.setStable('web', 'dev', '1.0.0');
    const r = await run(['status', 'web']);
    expect(r).toEqual({
      code: 0, stderr: '',
      stdout: [
        'SERVICE  ENVIRONMENT  VERSION  PHASE  STEP  INSTANCES  TRAFFIC     PREVIEW',
        'web      dev          1.0.0    -      -     2/2 ready  1.0.0 100%  :41873 1.1.0',
        'web      staging      -        -      -     -          -           :41874',
        'web      prod         -        -      -     -          -           auto',
        '',
        'web/dev',
        '  RELEASE  WEIGHT  REQ/MIN  ERRORS  P95',
        '  1.0.0    100%    120      0.0%    12 ms',
        '',
      ].join('\n'),
    });
    const j = await run(['status', 'web', '--env', 'dev', '-o', 'json']);
    expect((json(j) as Array<{ preview: unknown }>)[0].preview).toEqual({ port: 41873, version: '1.1.0' });
  });

  it('prints the table', async () => {
    fake.setStable('web', 'dev', '1.0.0');
    await fake.deploy({ service: 'web', environment: 'dev', version: '1.1.0', actor: 'a' });
    fake.advance('dep_0001');
    const r = await run(['status', '--env', 'dev']);
    expect(r).toEqual({
      code: 0, stderr: '',
      stdout: [
        'SERVICE  ENVIRONMENT  VERSION  PHASE    STEP                        INSTANCES  TRAFFIC',
        'web      dev          1.0.0    running  start 2 instances of 1.1.0  2/2 ready  1.0.0 100%',
        'api      dev          -        -        -                           -          -',
        '',
        'web/dev dep_0001',
        '  RELEASE  WEIGHT  REQ/MIN  ERRORS  P95',
        '  1.0.0    100%    120      0.0%    12 ms',
        '',
      ].join('\n'),
    });
  });

  it('--watch redraws until interrupted', async () => {
    const controller = new AbortController();
    // Interrupted as the second frame is written: it draws no third one.
    const r = await run(['status', '--watch', '-o', 'json'], {
      signal: controller.signal,
      onStdout: (all) => { if (all.split('\n').length > 2) controller.abort(); },
    });
    expect(r.code).toBe(0);
    const frames = r.stdout.trimEnd().split('\n');
    expect(frames).toHaveLength(2);
    for (const f of frames) expect((JSON.parse(f) as unknown[]).length).toBe(6);
  });
});

describe('history, plan, rollback, abort, logs', () => {
  it('history -o json prints the contract fields, newest first', async () => {
    await fake.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'bob', reason: 'first' });
    await fake.deploy({ service: 'api', environment: 'dev', version: '2.0.0', actor: 'bob' });
    const r = await run(['history', '-o', 'json', '--limit', '5']);
    expect(r.code).toBe(0);
    const rows = json(r) as Array<Record<string, unknown>>;
    expect(rows.map((d) => d.id)).toEqual(['dep_0002', 'dep_0001']);
    expect(Object.keys(rows[1])).toEqual(['id', 'service', 'environment', 'version', 'phase', 'actor', 'reason', 'createdAt', 'finishedAt', 'steps', 'expedited', 'image', 'message', 'supersededBy', 'gates', 'verdicts', 'group', 'url']);
    expect(rows[1]).toMatchObject({ service: 'web', environment: 'dev', version: '1.0.0', phase: 'running', actor: 'bob', reason: 'first', finishedAt: null });
    // Each row links to its rollout page on the dashboard.
    expect(rows[1].url).toBe(`http://127.0.0.1:${port}/deployments/dep_0001`);
    expect(fake.calls.at(-1)).toEqual(['history', { limit: 5 }]);
  });

  it('history shows which deployment superseded one', async () => {
    const d = await fake.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'bob' });
    const later = await fake.deploy({ service: 'web', environment: 'dev', version: '1.1.0', actor: 'bob' });
    fake.finish(d.id, 'superseded', { supersededBy: later.id, message: `superseded by ${later.id} after 1m of its 5m watch` });
    const r = await run(['history', 'web']);
    expect(r.stdout).toContain(`superseded by ${later.id}`);
    const rows = json(await run(['history', 'web', '-o', 'json'])) as Array<Record<string, unknown>>;
    expect(rows.find((x) => x.id === d.id)).toMatchObject({ phase: 'superseded', supersededBy: later.id });
  });

  it('history prints a table with ISO times', async () => {
    await fake.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'bob', reason: 'first' });
    const r = await run(['history', 'web']);
    expect(r.stdout).toBe([
      'ID        SERVICE  ENVIRONMENT  KIND    VERSION  PHASE    ACTOR  CREATED               DURATION  REASON',
      'dep_0001  web      dev          deploy  1.0.0    running  bob    2025-01-01T12:00:01Z  -         first',
      '',
      `on the dashboard: http://127.0.0.1:${port}/deployments/dep_0001 (any deployment: /deployments/ID)`,
      '',
    ].join('\n'));
  });

  it('history --limit 0 is a usage error', async () => {
    const r = await run(['history', '--limit', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected a whole number of at least 1');
  });

  it('plan prints numbered steps', async () => {
    fake.setStable('web', 'prod', '1.0.0');
    const r = await run(['plan', 'web', '--env', 'prod', '--version', '1.1.0']);
    expect(r).toEqual({
      code: 0, stderr: '',
      stdout: 'plan: web 1.1.0 to prod (blueGreen, replaces 1.0.0)\nsteps:\n  1. start 2 instances of 1.1.0\n  2. wait for 1.1.0 to be healthy\n  3. switch traffic to 1.1.0\n  4. stop 1.0.0\n',
    });
  });

  it('plan names the preview port, or says the agent chooses it', async () => {
    fake.options.previews = { dev: { port: 41873, version: null }, prod: { port: null, version: null } };
    expect((await run(['plan', 'web', '--env', 'dev', '--version', '1.1.0'])).stdout.split('\n').slice(0, 2))
      .toEqual(['plan: web 1.1.0 to dev (blueGreen, first deployment)', 'preview port: 41873']);
    expect((await run(['plan', 'web', '--env', 'prod', '--version', '1.1.0'])).stdout.split('\n')[1])
      .toBe('preview port: chosen by the agent when the preview first opens (then kept)');
    expect((json(await run(['plan', 'web', '--env', 'dev', '--version', '1.1.0', '-o', 'json'])) as { preview: unknown }).preview).toEqual({ port: 41873, version: null });
  });

  it('rollback --wait follows the rollback and exits 0', async () => {
    fake.setStable('web', 'prod', '1.0.0');
    fake.setStable('web', 'prod', '1.1.0');
    const r = await run(['rollback', 'web', '--env', 'prod', '--reason', 'errors', '--wait']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('dep_0001 rollback of web 1.0.0 to prod: running');
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^✓ dep_0001 succeeded in /);
    expect(fake.calls[0]).toEqual(['rollback', { service: 'web', environment: 'prod', reason: 'errors', actor: 'alice' }]);
  });

  it('rollback with nothing to roll back to exits 2 with the hint', async () => {
    const r = await run(['rollback', 'web', '--env', 'prod']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'error: web in prod has no previous release to roll back to\nhint: pass --to <version>\n' });
  });

  it('abort aborts and exits 0; aborting again exits 2 (conflict)', async () => {
    await fake.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'bob' });
    const r = await run(['abort', 'dep_0001']);
    expect(r).toEqual({ code: 0, stdout: 'dep_0001 deployment of web 1.0.0 to dev: aborted\n', stderr: '' });
    const again = await run(['abort', 'dep_0001']);
    expect(again).toEqual({ code: 2, stdout: '', stderr: 'error: deployment dep_0001 already ended (aborted)\n' });
  });

  it('abort of an unknown id exits 2', async () => {
    const r = await run(['abort', 'dep_9999']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'error: deployment dep_9999 not found\nhint: list deployments with `gangway history`\n' });
  });

  it('logs prints each instance\'s lines', async () => {
    const r = await run(['logs', 'web', '--env', 'dev', '--version', '1.0.0', '--lines', '2']);
    expect(r).toEqual({ code: 0, stderr: '', stdout: '==> web-dev-1.0.0-1 (1.0.0) <==\nGET /health 200\nGET / 200\n' });
  });
});

describe('reaching the orchestrator', () => {
  it('exits 5 when nothing listens on the API port', async () => {
    const free = await freePort();
    writeFileSync(join(dir, 'gangway.yaml'), configText(free));
    const r = await run(['status']);
    expect(r).toEqual({ code: 5, stdout: '', stderr: `error: the orchestrator is not running at http://127.0.0.1:${free}\nhint: start it with \`gangway up\`\n` });
  });

  it('-o json prints the unreachable error body too', async () => {
    const free = await freePort();
    const r = await run(['status', '-o', 'json', '--api', `http://127.0.0.1:${free}`]);
    expect(r.code).toBe(5);
    expect(json(r)).toEqual({ error: { code: 'unreachable', message: `the orchestrator is not running at http://127.0.0.1:${free}`, hint: 'start it with `gangway up`' } });
  });

  it('GANGWAY_API and GANGWAY_TOKEN work without a config file', async () => {
    rmSync(join(dir, 'gangway.yaml'));
    const r = await run(['status', '-o', 'json'], { env: { GANGWAY_API: `http://127.0.0.1:${port}`, GANGWAY_TOKEN: TOKEN } });
    expect(r.code).toBe(0);
    expect((json(r) as unknown[]).length).toBe(6);
  });

  it('a wrong token exits 2 with the API\'s hint', async () => {
    const r = await run(['status'], { env: { GANGWAY_TOKEN: 'wrong' } });
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'error: missing or invalid API token\nhint: the CLI reads it from .gangway/token\n' });
  });

  it('a missing token file is named in the hint', async () => {
    rmSync(join(dir, '.gangway', 'token'));
    const r = await run(['status']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: missing or invalid API token\nhint: no token found at ${join(dir, '.gangway', 'token')}; set GANGWAY_TOKEN or start the orchestrator with \`gangway up\`, which writes it\n`);
  });

  it('refuses a token file that others can read (mode 0644)', async () => {
    const file = join(dir, '.gangway', 'token');
    chmodSync(file, 0o644);
    const r = await run(['status']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: `error: the token file ${file} can be read by other users (mode 0644)\nhint: chmod 600 ${file}\n` });
    expect(fake.calls).toEqual([]);
  });

  it('global options work before the command too', async () => {
    fake.setStable('web', 'dev', '1.0.0');
    const r = await run(['-o', 'json', 'status', 'web', '--env', 'dev']);
    expect(r.code).toBe(0);
    expect(json(r)).toEqual(await fake.status({ service: 'web', environment: 'dev' }));
  });

  it('down with no agent running says so and exits 0', async () => {
    const r = await run(['down']);
    expect(r).toEqual({ code: 0, stdout: 'agent is not running\n', stderr: '' });
    const j = await run(['down', '-o', 'json']);
    expect(j.code).toBe(0);
    expect(json(j)).toEqual({ stopped: false, running: false });
  });

  it('-C points at another project folder', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'gangway-cwd-'));
    try {
      let stdout = '';
      const code = await main(['node', 'gangway', '-C', dir, 'validate'], {
        stdout: { write: (s: string) => { stdout += s; } }, stderr: { write: () => {} }, env, cwd: elsewhere,
      });
      expect(code).toBe(0);
      expect(stdout).toBe('✓ gangway.yaml is valid: 3 environments, 2 services\n');
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('ensureToken', () => {
  let stateDir: string;
  beforeAll(() => { stateDir = join(mkdtempSync(join(tmpdir(), 'gangway-token-')), 'nested', '.gangway'); });
  afterAll(() => { rmSync(join(stateDir, '..', '..'), { recursive: true, force: true }); });

  it('creates the state folder and a 0600 token of 32 random bytes, base64url', () => {
    const token = ensureToken(stateDir);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    const file = join(stateDir, 'token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(`${token}\n`);
    expect(statSync(stateDir).mode & 0o077).toBe(0);
  });

  it('returns the existing token on later calls', () => {
    const first = readToken(stateDir);
    expect(ensureToken(stateDir)).toBe(first);
  });

  it('refuses an existing token file with group or other access', () => {
    const file = join(stateDir, 'token');
    chmodSync(file, 0o640);
    expect(() => ensureToken(stateDir)).toThrow(`the token file ${file} can be read by other users (mode 0640)`);
    chmodSync(file, 0o600);
    expect(existsSync(file)).toBe(true);
  });
});

