/**
 * Bad input and faults: each gets one clear message and a non-zero exit, and leaves the
 * release that is serving traffic untouched.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, projectHeader, freePorts, makeProject, runCli, waitForEnd, type Project } from './support/gangway.js';

let project: Project;
let port: number;
let preview: number;
let ghostPort: number;
let blocker: Server | null = null;

beforeAll(async () => {
  [port, preview, ghostPort] = await freePorts(3);
  project = await makeProject((ports: { api: number; metrics: number }) => `
${projectHeader('faults', ports)}environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", FAIL_HEALTH: "\${release.version}" }
        instances: 1
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, startTimeout: 2s }
    strategy:
      blueGreen: { previewPort: ${preview}, scaleDownDelay: 0s }
    rollback: { watch: 0s }
  ghost:
    target:
      local:
        command: ["./no-such-binary", "--serve"]
        port: ${ghostPort}
`);
  await project.up();
  // FAIL_HEALTH is "1" only for the version named 1: every other version is healthy.
  const first = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '1.0.0' });
  expect((await waitForEnd(project, first.body.id)).phase).toBe('succeeded');
}, 60_000);

afterAll(async () => {
  blocker?.close();
  await project.cleanup();
});

async function serving(): Promise<string> {
  return (await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim();
}

describe('given web 1.0.0 serving in dev', () => {
  it('an unknown service exits 2 with a did-you-mean hint', async () => {
    const r = await runCli(project.dir, ['deploy', 'wbe', '--env', 'dev', '--version', '2.0.0']);
    expect([r.code, r.stderr]).toEqual([2, 'error: unknown service "wbe"\nhint: did you mean "web"?\n']);
  });

  it('an unknown environment exits 2', async () => {
    const r = await runCli(project.dir, ['deploy', 'web', '--env', 'prd', '--version', '2.0.0']);
    expect([r.code, r.stderr]).toEqual([2, 'error: unknown environment "prd"\nhint: environments in ' + project.dir + '/gangway.yaml: dev\n']);
  });

  it('a malformed version exits 2 and names the accepted form', async () => {
    const r = await runCli(project.dir, ['deploy', 'web', '--env', 'dev', '--version', '$(reboot)']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('error: version: "$(reboot)" is not a valid version');
  });

  it('a malformed image reference exits 2', async () => {
    const r = await runCli(project.dir, ['deploy', 'web', '--env', 'dev', '--image', 'Not An Image']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('error: image: "Not An Image" is not a valid image reference');
  });

  it('a release that never becomes healthy is rolled back (exit 4) and 1.0.0 keeps serving', async () => {
    const r = await runCli(project.dir, ['deploy', 'web', '--env', 'dev', '--version', '1', '--wait', '-o', 'json']);
    expect(r.code).toBe(4);
    const d = JSON.parse(r.stdout) as { phase: string; message: string };
    expect(d.phase).toBe('rolled_back');
    expect(d.message).toMatch(/^1 of 1 instances of 1 did not become healthy within 2s \(web-dev-1-\w+: (not ready after \d+ ms: )?expected status 200, got 503\)$/);
    expect(await serving()).toBe('1.0.0');
  });

  it('a preview port taken by another process fails the deployment with that reason and 1.0.0 keeps serving', async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(preview, '127.0.0.1', () => r()));
    const created = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '3.0.0' });
    const end = await waitForEnd(project, created.body.id);
    expect([end.phase, end.message]).toEqual(['rolled_back', `port ${preview} on 127.0.0.1 is already in use by another process`]);
    expect(await serving()).toBe('1.0.0');
    await new Promise((r) => blocker!.close(r));
    blocker = null;
  });

  it('a command that does not exist fails the deployment with a clear message', async () => {
    const created = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'ghost', environment: 'dev', version: '1.0.0' });
    const end = await waitForEnd(project, created.body.id);
    expect(end.phase).toBe('failed');
    expect(end.message).toMatch(/^cannot start .*: command "\.\/no-such-binary" not found \(cwd .*\)$/);
    expect(await serving()).toBe('1.0.0');
  });

  it('a bad config is refused by validate with file:line:column and exit 2', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${project.dir}/broken.yaml`, 'project: x\nenvironments:\n  dev: {}\nservices:\n  web:\n    target:\n      local: { command: [node], port: 99999 }\n');
    const r = await runCli(project.dir, ['validate', `${project.dir}/broken.yaml`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${project.dir}/broken.yaml:7:`);
    expect(r.stderr).toContain('services.web.target.local.port');
    expect(await serving()).toBe('1.0.0');
  });

  it('the API refuses a request without the token (401)', async () => {
    const r = await fetch(`http://127.0.0.1:${project.apiPort}/v1/status`);
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({ error: { code: 'unauthorized', message: 'missing or invalid API token', hint: 'the CLI reads it from .gangway/token' } });
  });

  it('the orchestrator being down exits 5', async () => {
    await project.kill();
    const r = await runCli(project.dir, ['status']);
    expect(r.code).toBe(5);
    expect(await serving()).toBe('1.0.0');
    await project.up();
  });
});
