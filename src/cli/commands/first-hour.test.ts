/**
 * CLI details of the issue "The first hour with Gangway": `plan` exit codes, instances of a
 * warm previous release shown apart in `status`, and the hint when the demo's orchestrator
 * is not running.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { main } from '../main.js';
import { buildServer } from '../../server/app.js';
import { FakeOrchestrator } from '../../../test/support/fake-orchestrator.js';
import type { DeployRequest, GateState, PlanView, StatusEntry } from '../../engine/types.js';
import { renderInstances, renderStatus } from './status.js';
import { freePort } from '../../agent/ports.js';

const TOKEN = 'cli-first-hour-token';

/** A fake whose plans carry the gate states a test sets. */
class GatedFake extends FakeOrchestrator {
  gates: GateState[] = [];
  override async plan(req: DeployRequest): Promise<PlanView> {
    return { ...(await super.plan(req)), gates: this.gates };
  }
}

let dir: string;
let fake: GatedFake;
let app: FastifyInstance;

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'gangway', ...args], {
    stdout: { write: (s: string) => { stdout += s; } },
    stderr: { write: (s: string) => { stderr += s; } },
    env: { GANGWAY_ACTOR: 'alice', ...env }, cwd: dir, pollMs: 5, refreshMs: 20,
  });
  return { code, stdout, stderr };
}

function project(folder: string, port: number): void {
  mkdirSync(join(folder, '.gangway'), { recursive: true, mode: 0o700 });
  writeFileSync(join(folder, 'gangway.yaml'), `project: shop
server: { host: 127.0.0.1, port: ${port} }
environments:
  dev: {}
services:
  web:
    target:
      local: { command: ["node", "server.js"], port: 18080 }
`);
  writeFileSync(join(folder, '.gangway', 'token'), `${TOKEN}\n`, { mode: 0o600 });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gangway-cli-first-hour-'));
  fake = new GatedFake({ services: { web: ['dev'] } });
  app = buildServer({ orchestrator: fake, token: TOKEN, version: '0.0.0-test' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  project(dir, (app.server.address() as AddressInfo).port);
});

afterEach(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gangway plan exit codes', () => {
  it('exits 0 when the deployment would run', async () => {
    fake.gates = [{ gate: 'reason', result: 'pass', reason: 'reason given', until: null }];
    const r = await run(['plan', 'web', '--env', 'dev', '--version', '1.1.0']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('blocked');
  });

  it('exits 3 when a gate fails, and says so', async () => {
    fake.gates = [{ gate: 'promotion', result: 'fail', reason: 'web 1.1.0 has not succeeded in staging', until: null }];
    const r = await run(['plan', 'web', '--env', 'dev', '--version', '1.1.0']);
    expect(r.code).toBe(3);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('blocked: a deployment now would be refused by promotion');
    expect((await run(['plan', 'web', '--env', 'dev', '--version', '1.1.0', '-o', 'json'])).code).toBe(3);
  });

  it('exits 3 for a closed window unless --wait-for-window, and 0 while waiting for an approval', async () => {
    fake.gates = [{ gate: 'window', result: 'wait', reason: 'closed', until: Date.UTC(2030, 0, 1) }];
    expect((await run(['plan', 'web', '--env', 'dev', '--version', '1.1.0'])).code).toBe(3);
    const waiting = await run(['plan', 'web', '--env', 'dev', '--version', '1.1.0', '--wait-for-window']);
    expect([waiting.code, waiting.stdout.trimEnd().split('\n').at(-1)]).toEqual([0, 'would wait for window before it runs']);
    fake.gates = [{ gate: 'approval', result: 'wait', reason: '0 of 1 approvals', until: null }];
    expect((await run(['plan', 'web', '--env', 'dev', '--version', '1.1.0'])).code).toBe(0);
  });

  it('says when the release already serves, and exits 0', async () => {
    fake.setStable('web', 'dev', '1.0.0');
    const r = await run(['plan', 'web', '--env', 'dev', '--version', '1.0.0']);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('web 1.0.0 already serves in dev as its stable release: nothing to deploy (deploy would refuse it)');
  });
});

describe('status instances', () => {
  const entry = (over: Partial<StatusEntry>): StatusEntry => ({
    service: 'web', environment: 'prod', version: '1.1.0', deployment: { id: 'd-1', phase: 'succeeded', step: null }, queued: 0, port: 8083,
    instances: [], traffic: [], analysis: [], releases: [], preview: null, ...over,
  } as StatusEntry);
  const inst = (version: string, n: number, state = 'ready') => Array.from({ length: n }, (_, i) => ({ id: `web-prod-${version}-${i}`, version, port: 41000 + i, state, restarts: 0, consecutiveFailures: 0 }));

  it('counts the warm previous release apart: 3/3 ready (+3 previous), not 6/6', () => {
    const out = renderStatus([entry({ instances: [...inst('1.1.0', 3), ...inst('1.0.0', 3)] as StatusEntry['instances'], traffic: [{ version: '1.1.0', weight: 100 }, { version: '1.0.0', weight: 0 }] })]);
    expect(out).toContain('3/3 ready (+3 previous)');
    expect(out).not.toContain('6/6');
  });

  it('lists each instance with where it runs: a local port, or a pod and its node with the reason it cannot start', () => {
    const pods = [
      { id: 'web-green-7d9c-a', version: '1.1.0', port: null, state: 'ready', restarts: 0, consecutiveFailures: 0, detail: { pod: 'web-green-7d9c-a', node: 'node-1', ip: '10.0.0.7' } },
      { id: 'web-blue-55f4-b', version: '1.2.0', port: null, state: 'crashed', restarts: 2, consecutiveFailures: 0, detail: { pod: 'web-blue-55f4-b', node: null }, failure: 'container web waits with CrashLoopBackOff' },
    ] as StatusEntry['instances'];
    expect(renderInstances([entry({ instances: pods }), entry({ environment: 'dev', instances: inst('1.1.0', 1) as StatusEntry['instances'] })]).split('\n').map((l) => l.trimEnd())).toEqual([
      '',
      'web/prod instances',
      '  INSTANCE          RELEASE  STATE                                               RESTARTS  WHERE',
      '  web-green-7d9c-a  1.1.0    ready                                               0         pod web-green-7d9c-a on node-1',
      '  web-blue-55f4-b   1.2.0    crashed: container web waits with CrashLoopBackOff  2         pod web-blue-55f4-b',
      '',
      'web/dev instances',
      '  INSTANCE          RELEASE  STATE  RESTARTS  WHERE',
      '  web-prod-1.1.0-0  1.1.0    ready  0         :41000',
      '',
    ]);
  });

  it('counts every release that takes traffic during a rollout', () => {
    const out = renderStatus([entry({ deployment: { id: 'd-2', phase: 'running', step: 'set weight 25' }, instances: [...inst('1.1.0', 1), ...inst('1.0.0', 3)] as StatusEntry['instances'], traffic: [{ version: '1.0.0', weight: 75 }, { version: '1.1.0', weight: 25 }] })]);
    expect(out).toContain('4/4 ready');
  });
});

describe('the hint when the orchestrator is down', () => {
  it('says how to start the demo for the demo project, and `gangway up` elsewhere', async () => {
    const port = await freePort();
    const demo = join(dir, 'demo');
    project(demo, port);
    const r = await run(['-C', demo, 'status'], { GANGWAY_DEMO_DIR: demo });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('hint: start it with `npm start` in the Gangway folder (or `gangway demo`), which runs the demo');
    const other = await run(['-C', demo, 'status']);
    expect(other.stderr).toContain('hint: start it with `gangway up`');
  });
});
