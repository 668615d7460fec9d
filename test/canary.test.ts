/**
 * Canary releases end to end: real `gangway up`, agent, proxy and instances, a continuous
 * request loop, and the builtin metrics of the agent's proxy judging the canary.
 *
 * The fixture app takes its error rate from the environment; the config passes the release's
 * version label as ERROR_RATE, so release "0.3" fails 30% of requests and "0.0" none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, projectHeader, freePorts, makeProject, runCli, waitForEnd, type Project } from './support/gangway.js';
import { startLoad } from './support/load.js';

let project: Project;
let port: number;

beforeAll(async () => {
  [port] = await freePorts(1);
  project = await makeProject((ports: { api: number; metrics: number }) => `
${projectHeader('canary', ports)}analysis:
  e2e:
    interval: 300ms
    rules:
      - name: error-rate
        threshold: { metric: { builtin: error_rate }, max: 0.05, window: 5s, minSamples: 20 }
environments:
  dev: {}
services:
  web:
    analysis: e2e
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", ERROR_RATE: "\${release.version}" }
        instances: 2
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, startTimeout: 15s }
    strategy:
      canary:
        steps:
          - setWeight: 25
          - analysis: { template: e2e, duration: 3s }
          - setWeight: 100
        scaleDownDelay: 0s
    rollback: { watch: 1s }
`);
  await project.up();
  const first = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0' });
  expect((await waitForEnd(project, first.body.id)).phase).toBe('succeeded');
}, 60_000);

afterAll(async () => { await project.cleanup(); });

interface Verdict { rule: string; verdict: string; stepIdx: number | null; measurements: Array<{ canary: number | null }> }

describe('given release 0 serving with a continuous request loop', () => {
  it('a canary failing 30% of requests is judged on live metrics, rolled back and rejected; stable traffic never failed', async () => {
    const load = startLoad(port, 4);
    await load.ready;
    const created = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0.3' });
    const end = await waitForEnd(project, created.body.id) as unknown as { phase: string; message: string; verdicts: Verdict[] };
    const result = await load.stop();
    expect(end.phase).toBe('rolled_back');
    expect(end.message).toMatch(/^(background analysis|analysis) e2e: /);
    const fail = end.verdicts.find((v) => v.verdict === 'fail')!;
    expect(fail.rule).toBe('error-rate');
    expect(fail.measurements[0].canary).toBeGreaterThan(0.2);
    // Every failed request came from the canary: release 0 answered all of its requests.
    expect(result.failures.every((f) => f === 'status 500: error 0.3\n')).toBe(true);
    expect(result.failed).toBeGreaterThan(0);
    expect(result.failed).toBeLessThan(result.ok / 10);
    const after = startLoad(port, 2);
    await after.ready;
    await new Promise((r) => setTimeout(r, 500));
    const clean = await after.stop();
    expect([clean.failed, Object.keys(clean.versions)]).toEqual([0, ['0']]);
    const again = await runCli(project.dir, ['deploy', 'web', '--env', 'dev', '--version', '0.3']);
    expect(again.code).toBe(3);
    expect(again.stderr.split('\n')[0]).toMatch(/^error: web 0\.3 was rejected in dev: /);
  }, 60_000);

  it('a good canary moves 25% then 100% of traffic without a failed request and its verdicts pass', async () => {
    const load = startLoad(port, 4);
    await load.ready;
    const created = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0.0' });
    const end = await waitForEnd(project, created.body.id) as unknown as { phase: string; verdicts: Verdict[]; steps: Array<{ title: string; status: string }> };
    await new Promise((r) => setTimeout(r, 300));
    const result = await load.stop();
    expect(end.phase).toBe('succeeded');
    expect(end.steps.map((s) => s.title)).toEqual([
      'gates: rejected, freeze', 'scale 0.0 to 1 instance', 'wait for 1 healthy instance of 0.0', 'traffic 0 75% / 0.0 25%',
      'analysis e2e of 0.0 for 3s', 'scale 0.0 to 2 instances', 'wait for 2 healthy instances of 0.0', 'all traffic to 0.0', 'watch 0.0 for 1s',
    ]);
    expect(end.verdicts.filter((v) => v.stepIdx === 4).map((v) => [v.rule, v.verdict])).toEqual([['error-rate', 'pass']]);
    expect(result.failures).toEqual([]);
    expect(result.versions['0.0']).toBeGreaterThan(0);
    const status = await runCli(project.dir, ['status', '-o', 'json']);
    const [entry] = JSON.parse(status.stdout) as Array<{ version: string; releases: Array<{ version: string; requests: number }> }>;
    expect(entry.version).toBe('0.0');
  }, 60_000);
});
