import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ChecksGate } from './checks.js';
import type { GateRequest } from './types.js';

let server: http.Server;
let port: number;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const ok = req.url === '/up';
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: ok ? 'ok' : 'degraded' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function gate(checks: string) {
  const config = parseConfig(`
project: shop
environments:
  prod:
    checks:
${checks}
services:
  web:
    target: { local: { command: [node, app.js], port: 18080 } }
`, '/tmp/gangway.yaml');
  return new ChecksGate(config);
}

const req: GateRequest = { service: 'web', environment: 'prod', version: '2.0.0', image: null, actor: 'ana', reason: null, expedited: false, deploymentId: null, now: 0 };

describe('custom checks', () => {
  it('passes when every command exits 0 and every webhook answers as expected, with the output as evidence', async () => {
    const r = await gate(`      - name: ci-green
        run: ["${process.execPath}", "-e", "console.log('ci ok for ' + process.argv[1])", "\${release.version}"]
      - name: monitoring-up
        webhook: { url: "http://127.0.0.1:${port}/up", expect: { status: 200, json: { status: ok } } }`).evaluate(req);
    expect([r.result, r.reason]).toEqual(['pass', '2 checks passed: ci-green, monitoring-up']);
    expect(r.evidence).toEqual({ checks: [
      { name: 'ci-green', ok: true, detail: 'exit 0', output: 'ci ok for 2.0.0\n' },
      { name: 'monitoring-up', ok: true, detail: 'status 200' },
    ] });
  });

  it('fails naming each failing check and what it said', async () => {
    const r = await gate(`      - name: coverage
        run: ["${process.execPath}", "-e", "console.error('coverage 71% < 80%'); process.exit(3)"]
      - name: monitoring-up
        webhook: { url: "http://127.0.0.1:${port}/down", expect: { status: 200 } }`).evaluate(req);
    expect(r.result).toBe('fail');
    expect(r.reason).toBe('check coverage failed: exit code 3: coverage 71% < 80%; check monitoring-up failed: expected status 200, got 503');
  });

  it('reports a command that does not exist as a failed check', async () => {
    const r = await gate(`      - name: scan
        run: ["./no-such-scanner"]`).evaluate(req);
    expect([r.result, r.reason]).toEqual(['fail', 'check scan failed: command not found: ./no-such-scanner (cwd /tmp)']);
  });
});
