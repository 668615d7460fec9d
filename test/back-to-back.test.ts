/**
 * Given a blue-green service behind Gangway's proxy and a continuous request loop (in its own
 * process), when ten releases are requested back to back, as CI delivers them,
 * then not one request fails, never more than three releases run at once, and each release
 * whose watch a newer one cut short is recorded as superseded by it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { APP, projectHeader, freePorts, makeProject, sleep, waitForEnd, type Project } from './support/gangway.js';
import { startLoad } from './support/load.js';

const projects: Project[] = [];
afterAll(async () => { for (const p of projects) await p.cleanup(); });

type Status = Array<{ version: string | null; instances: Array<{ version: string; state: string }> }>;
type View = { id: string; phase: string; version: string; supersededBy: string | null; step: string | null };

describe('back-to-back releases', () => {
  it('ships ten blue-green releases requested at once: 0 failed requests, at most three releases running, each superseded one recorded', async () => {
    const [port] = await freePorts(1);
    const project = await makeProject((ports) => `
${projectHeader('b2b', ports)}environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}" }
        instances: 2
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, failureThreshold: 3, startTimeout: 20s }
    strategy:
      blueGreen: { scaleDownDelay: 1s }
    rollback: { watch: 5m }
    drainTimeout: 5s
`);
    projects.push(project);
    await project.up();
    const first = await project.api<View>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '2.0.0' });
    expect((await waitForEnd(project, first.body.id, 120_000)).phase).toBe('succeeded');

    const load = startLoad(port, 4);
    await load.ready;
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await project.api<Status>('GET', '/v1/status');
        const running = new Set(s.body[0].instances.filter((i) => i.state !== 'stopped').map((i) => i.version));
        most = Math.max(most, running.size);
        await sleep(50);
      }
    })();

    const ids: string[] = [];
    for (let n = 1; n <= 10; n++) {
      const r = await project.api<View>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: `2.0.${n}` });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    // The last one has nothing behind it: it runs its whole 5-minute watch. It is done here once that watch has begun.
    const last = ids[9];
    for (let i = 0; ; i++) {
      const d = await project.api<View>('GET', `/v1/deployments/${last}`);
      if (d.body.step === 'watch 2.0.10 for 5m') break;
      expect(['queued', 'running'], `the last deployment ended early: ${JSON.stringify(d.body)}`).toContain(d.body.phase);
      if (i > 2400) throw new Error(`the last deployment never reached its watch: ${JSON.stringify(d.body)}`);
      await sleep(100);
    }
    // Let the previous release's scale-down delay pass under load too.
    await sleep(2500);
    sampling = false;
    await sampler;
    const result = await load.stop();

    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.versions['2.0.10']).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(3);
    const views = await Promise.all(ids.slice(0, 9).map(async (id) => (await project.api<View>('GET', `/v1/deployments/${id}`)).body));
    expect(views.map((v) => [v.phase, v.supersededBy])).toEqual(ids.slice(1).map((next) => ['superseded', next]));
    const status = await project.api<Status>('GET', '/v1/status');
    expect(status.body[0].instances.filter((i) => i.state !== 'stopped').map((i) => i.version)).toEqual(['2.0.10', '2.0.10']);
    const history = await project.api<Array<{ id: string; phase: string }>>('GET', '/v1/deployments?limit=20');
    expect(history.body.filter((d) => d.phase === 'superseded').map((d) => d.id).sort()).toEqual(ids.slice(0, 9).sort());
  }, 420_000);
});
