/**
 * An instance that accepts connections but never answers, through the real product (`gangway up`
 * from dist/, the agent, two real instances of test/fixtures/app.mjs): one instance stops
 * answering (its `HANG_DIR` trigger file appears), and requests go through the public port one
 * after another.
 *
 * Given a service with `responseTimeout: 1s` and health checks that alone would need 100
 * consecutive failures to take an instance out, when one instance hangs, then exactly one
 * request gets the proxy's 504 (the one the round-robin sends to the silent instance), every
 * other request is answered by the healthy instance, the silent instance is `unhealthy` after
 * fewer than 100 failed health checks (so the proxy took it out, not its checks), and the agent's
 * counters count one failure. When it answers again, its next health check brings it back and
 * the two share the traffic exactly. The 504's latency is printed (`FAULT-FIGURES`), not asserted.
 */
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APP, projectHeader, freePorts, makeProject, sleep, waitForEnd, type Project } from './support/gangway.js';
import { connectAgent } from '../src/agent/client.js';
import type { InstanceStatus } from '../src/agent/types.js';

const LIMIT_MS = 180_000;
const REQUESTS = 10;

const projects: Project[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const p of projects) await p.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, LIMIT_MS);

interface Answer { status: number; port: number | null; ms: number }

/** One request to the public port: the status and, for a 200 from /info, the answering instance's port. */
async function ask(port: number): Promise<Answer> {
  const t0 = performance.now();
  // Far above the response timeout: only a proxy that never answers would hit it.
  const r = await fetch(`http://127.0.0.1:${port}/info`, { signal: AbortSignal.timeout(60_000) });
  const text = await r.text();
  const ms = Math.round(performance.now() - t0);
  return { status: r.status, port: r.status === 200 ? (JSON.parse(text) as { port: number }).port : null, ms };
}

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, deadlineMs = 60_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

describe('an instance that accepts connections but never answers', () => {
  it('gets one 504 after the response timeout, then no traffic until its health check passes again', async () => {
    const [port] = await freePorts(1);
    const hangDir = mkdtempSync(join(tmpdir(), 'gangway-hang-'));
    dirs.push(hangDir);
    const p = await makeProject((ports) => `
${projectHeader('hang', ports)}environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["${process.execPath}", "${APP}"]
        env: { APP_VERSION: "\${release.version}", HANG_DIR: "${hangDir}" }
        instances: 2
        port: ${port}
        responseTimeout: 1s
    health: { path: /health, interval: 200ms, timeout: 500ms, failureThreshold: 100, startTimeout: 30s }
    rollback: { watch: 1s }
`);
    projects.push(p);
    const agent = connectAgent(join(p.dir, '.gangway'));
    await p.up();
    const d = await p.api<{ id: string }>('POST', '/v1/deployments', { service: 'web', environment: 'dev', version: '1.0.0' });
    expect(d.status).toBe(201);
    expect((await waitForEnd(p, d.body.id, 120_000)).phase).toBe('succeeded');
    const route = (await agent.state()).routes.find((r) => r.service === 'web');
    expect(route?.responseTimeoutMs).toBe(1000);

    const web = (await agent.state()).instances.filter((i) => i.service === 'web' && i.version === '1.0.0');
    expect(web.map((i) => i.state)).toEqual(['ready', 'ready']);
    const [silent, healthy] = web as [InstanceStatus, InstanceStatus];
    const before = (await agent.counters('web', 'dev')).find((c) => c.version === '1.0.0') ?? { total: 0, errors: 0 };

    // When: one instance stops answering.
    writeFileSync(join(hangDir, String(silent.port)), '');
    const hung: Answer[] = [];
    for (let i = 0; i < REQUESTS; i++) hung.push(await ask(port));

    // Then: one 504, every other request answered by the healthy instance.
    expect(hung.filter((a) => a.status === 504)).toHaveLength(1);
    expect(hung.filter((a) => a.status === 200 && a.port === healthy.port)).toHaveLength(REQUESTS - 1);
    const afterHang = (await agent.counters('web', 'dev')).find((c) => c.version === '1.0.0')!;
    expect([afterHang.total - before.total, afterHang.errors - before.errors]).toEqual([REQUESTS, 1]);
    const out = (await agent.state()).instances.find((i) => i.id === silent.id)!;
    expect(out.state).toBe('unhealthy');
    // Health checks alone need 100 consecutive failures: the proxy took it out.
    expect(out.consecutiveFailures).toBeLessThan(100);
    expect(readFileSync(join(p.dir, '.gangway', 'agent.log'), 'utf8')).toContain('instance sent no response head within the response timeout');

    // When it answers again, its next health check brings it back, and round-robin shares the traffic exactly.
    unlinkSync(join(hangDir, String(silent.port)));
    await until('the silent instance to be ready again', async () => (await agent.state()).instances.find((i) => i.id === silent.id)?.state, (s) => s === 'ready');
    const back: Answer[] = [];
    for (let i = 0; i < REQUESTS; i++) back.push(await ask(port));
    expect(back.map((a) => a.status)).toEqual(Array.from({ length: REQUESTS }, () => 200));
    expect(back.filter((a) => a.port === silent.port)).toHaveLength(REQUESTS / 2);
    expect(back.filter((a) => a.port === healthy.port)).toHaveLength(REQUESTS / 2);
    const afterBack = (await agent.counters('web', 'dev')).find((c) => c.version === '1.0.0')!;
    expect([afterBack.total - before.total, afterBack.errors - before.errors]).toEqual([2 * REQUESTS, 1]);

    process.stdout.write(`FAULT-FIGURES ${JSON.stringify({
      fault: 'instance accepts connections and never answers', responseTimeoutMs: 1000,
      timedOutRequestMs: hung.find((a) => a.status === 504)!.ms, statuses: hung.map((a) => a.status),
      healthChecksFailedWhenOut: out.consecutiveFailures,
    })}\n`);
  }, LIMIT_MS);
});
