/**
 * The in-proxy canary guard end to end: real `gangway up`, agent, proxy and instances. The
 * analysis template evaluates only every 30 s; the agent's proxy takes the failing canary out of
 * traffic at its second failed request, and the orchestrator records the guard's verdict and
 * rolls back without waiting for the next evaluation.
 *
 * The fixture app takes its error rate from the release's version label (ERROR_RATE), so release
 * "1" fails every request and "0" none.
 */
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAgent } from '../src/agent/client.js';
import type { CanaryGuardStatus } from '../src/agent/types.js';
import { APP, projectHeader, freePorts, makeProject, sleep, waitForEnd, type Project } from './support/gangway.js';

let project: Project;
let port: number;

beforeAll(async () => {
  [port] = await freePorts(1);
  project = await makeProject((ports: { api: number; metrics: number }) => `
${projectHeader('canary-guard', ports)}analysis:
  guarded:
    interval: 30s
    rules:
      - name: judge
        judge: { errors: true, latency: false, alpha: 0.002, minSamples: 200, window: 10m }
environments:
  dev: {}
services:
  web:
    analysis: guarded
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", ERROR_RATE: "\${release.version}" }
        instances: 1
        port: ${port}
    health: { path: /health, interval: 100ms, timeout: 500ms, startTimeout: 15s }
    strategy:
      canary:
        steps:
          - setWeight: 25
          - analysis: { template: guarded, duration: 2m }
          - setWeight: 100
        scaleDownDelay: 0s
    rollback: { watch: 1s }
`);
  await project.up();
  const first = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '0' });
  expect((await waitForEnd(project, first.body.id)).phase).toBe('succeeded');
}, 60_000);

afterAll(async () => { await project.cleanup(); });

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
afterAll(() => keepAlive.destroy());

/** One request through the proxy's public port: `200 0`, `500 1`, … */
function get(): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: keepAlive }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
    }).on('error', reject);
  });
}

async function guardOf(): Promise<CanaryGuardStatus | undefined> {
  return (await connectAgent(join(project.dir, '.gangway')).state()).guards?.find((g) => g.service === 'web');
}

interface Verdict { rule: string; kind: string; verdict: string; reason: string; measurements: Array<{ canary: number | null; stable: number | null; samples: { canary: number; stable: number }; detail: Record<string, unknown> }> }

describe('given release 0 that has served 1,000 requests', () => {
  it('a canary failing every request is taken out of traffic by the proxy at its second request; the orchestrator records the verdict and rolls back', async () => {
    for (let i = 0; i < 1000; i++) expect(await get()).toBe('200 0');
    const created = await project.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '1' });
    // No request until the analysis step has set the guard, so the judge's first evaluation sees no
    // canary request and the counts are exact.
    for (let g = await guardOf(), n = 0; g?.state !== 'armed'; g = await guardOf(), n++) {
      if (g !== undefined || n > 1200) throw new Error(`the guard is not armed: ${JSON.stringify(g)}`);
      await sleep(50);
    }
    // Users send requests one at a time until the deployment has ended.
    const answers: string[] = [];
    for (let phase = 'running'; !['rolled_back', 'failed', 'succeeded'].includes(phase);) {
      for (let i = 0; i < 20; i++) answers.push(await get());
      phase = (await project.api<{ phase: string }>('GET', `/v1/deployments/${created.body.id}`)).body.phase;
    }
    // 75/25: the canary's first failure does not trip the guard, its second does; from then on only release 0 answers.
    const failed = answers.flatMap((a, i) => (a === '200 0' ? [] : [[i, a] as const]));
    expect(failed.map(([, a]) => a)).toEqual(['500 error 1', '500 error 1']);
    expect(answers.slice(failed[1]![0] + 1).every((a) => a === '200 0')).toBe(true);

    const end = await waitForEnd(project, created.body.id) as unknown as { phase: string; message: string; verdicts: Verdict[] };
    expect(end.phase).toBe('rolled_back');
    expect(end.message).toMatch(/^analysis guarded: rule judge: canary taken out of traffic by the proxy's guard: canary 2 failed of 2 against stable 0\.0\d+% \(0 of \d+\): ln Λ \d+\.\d\d ≥ \d\.\d\d \(sequential test, false-trip probability ≤ 0\.002\)$/);
    const guard = end.verdicts.find((v) => v.kind === 'guard')!;
    expect(guard).toMatchObject({ rule: 'judge', verdict: 'fail' });
    const m = guard.measurements[0]!;
    expect(m).toMatchObject({ canary: 1, samples: { canary: 2 } });
    expect(m.samples.stable).toBe(1000);
    expect(m.stable).toBe(1 / 1002);
    expect(m.detail).toMatchObject({ canaryErrors: 2, stableErrors: 0, p0: m.stable, alpha: 0.002 });
    const d = guard.measurements[0]!.detail as { logLikelihoodRatio: number; logThreshold: number; level: number };
    expect(d.logLikelihoodRatio).toBeGreaterThanOrEqual(d.logThreshold);
    expect(d.level).toBeLessThanOrEqual(0.002);
    // The rollback's route has only release 0, which ends the guard.
    expect(await guardOf()).toBeUndefined();
    for (let i = 0; i < 10; i++) expect(await get()).toBe('200 0');
  }, 90_000);
});
