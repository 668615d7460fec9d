/**
 * Given a service behind Gangway's proxy and a continuous request loop,
 * when 20 releases ship one after another (blue-green, then rolling),
 * then not one request fails and the last release serves all traffic.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { APP, projectHeader, freePorts, makeProject, waitForEnd, type Project } from './support/gangway.js';
import { startLoad } from './support/load.js';

const projects: Project[] = [];
afterAll(async () => { for (const p of projects) await p.cleanup(); });

function yaml(strategy: string, port: number) {
  return (ports: { api: number; metrics: number }) => `
${projectHeader('zero', ports)}environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}" }
        instances: 2
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, failureThreshold: 3, startTimeout: 10s }
    strategy:
      ${strategy}
    rollback: { watch: 0s }
    drainTimeout: 5s
`;
}

async function shipMany(project: Project, from: number, to: number) {
  const ids: string[] = [];
  for (let n = from; n <= to; n++) {
    const r = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: `1.0.${n}` });
    expect(r.status).toBe(201);
    const end = await waitForEnd(project, r.body.id);
    expect([end.version, end.phase]).toEqual([`1.0.${n}`, 'succeeded']);
    ids.push(r.body.id);
  }
  return ids;
}

describe.each([
  ['blue-green', (preview: number) => `blueGreen: { previewPort: ${preview}, scaleDownDelay: 0s }`],
  ['rolling', () => 'rolling: { maxSurge: 1, maxUnavailable: 0 }'],
])('%s under continuous load', (_name, strategy) => {
  it('ships 20 releases in a row without a single failed request', async () => {
    const [port, preview] = await freePorts(2);
    const project = await makeProject(yaml(strategy(preview), port));
    projects.push(project);
    await project.up();
    await shipMany(project, 0, 0);
    const load = startLoad(port, 4);
    await load.ready;
    await shipMany(project, 1, 20);
    // Let the last retirement of the previous release happen under load too.
    await new Promise((r) => setTimeout(r, 1500));
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(500);
    const served = Object.keys(result.versions);
    expect(served).toContain('1.0.20');
    const status = await project.api<Array<{ version: string; instances: Array<{ version: string }> }>>('GET', '/v1/status');
    expect(status.body[0].version).toBe('1.0.20');
    expect(status.body[0].instances.map((i) => i.version)).toEqual(['1.0.20', '1.0.20']);
  }, 300_000);
});
