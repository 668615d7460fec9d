import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { main } from '../main.js';
import { buildServer } from '../../server/app.js';
import { FakeOrchestrator } from '../../../test/support/fake-orchestrator.js';
import { watchTimeLeft } from './deploy.js';
import type { DeploymentView } from '../../engine/types.js';

const TOKEN = 'cli-deploy-test-token';

let dir: string;
let fake: FakeOrchestrator;
let app: FastifyInstance;

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'gangway', ...args], {
    stdout: { write: (s: string) => { stdout += s; } },
    stderr: { write: (s: string) => { stderr += s; } },
    env: { GANGWAY_ACTOR: 'alice' }, cwd: dir, pollMs: 5, refreshMs: 20,
  });
  return { code, stdout, stderr };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gangway-cli-deploy-'));
  fake = new FakeOrchestrator({ services: { web: ['dev'] } });
  app = buildServer({ orchestrator: fake, token: TOKEN, version: '0.0.0-test' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  writeFileSync(join(dir, 'gangway.yaml'), `project: shop
server: { host: 127.0.0.1, port: ${port} }
environments:
  dev: {}
services:
  web:
    target:
      local: { command: ["node", "server.js"], port: 18080 }
`);
  mkdirSync(join(dir, '.gangway'), { mode: 0o700 });
  writeFileSync(join(dir, '.gangway', 'token'), `${TOKEN}\n`, { mode: 0o600 });
});

afterEach(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gangway deploy --commit-time', () => {
  it('sends an ISO 8601 time or epoch milliseconds, which the API reads as epoch ms', async () => {
    expect((await run(['deploy', 'web', '--env', 'dev', '--version', '1.0.0', '--commit-time', '2025-03-04T22:15:00Z'])).code).toBe(0);
    expect((await run(['deploy', 'web', '--env', 'dev', '--version', '1.0.1', '--commit-time', '1741126500000'])).code).toBe(0);
    expect((await run(['deploy', 'web', '--env', 'dev', '--version', '1.0.2'])).code).toBe(0);
    expect(fake.calls.filter(([what]) => what === 'deploy').map(([, req]) => (req as { commitTime?: number }).commitTime))
      .toEqual([1_741_126_500_000, 1_741_126_500_000, undefined]);
  });

  it('exits 2 with the API\'s message for a time it cannot read', async () => {
    const r = await run(['deploy', 'web', '--env', 'dev', '--version', '1.0.0', '--commit-time', 'last tuesday']);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, 'error: commitTime: must be epoch milliseconds (not seconds) or an ISO 8601 date-time with a zone, e.g. 2025-03-04T22:15:00Z']);
    expect(fake.calls.filter(([what]) => what === 'deploy')).toEqual([]);
  });
});

const T = Date.UTC(2026, 0, 1);
/** A deployment whose current step is a 5-minute watch started at T (or another step). */
function view(type = 'watch', status: 'running' | 'pending' = 'running'): DeploymentView {
  return {
    currentStep: 0,
    steps: [{ deploymentId: 'd', idx: 0, type, title: `${type} 1.1.0`, params: { durationMs: 300_000 }, status, stage: 'deploy', startedAt: T, finishedAt: null, output: null, attempts: 1 }],
  } as unknown as DeploymentView;
}

describe('watchTimeLeft', () => {
  it('rounds down to 30 s above a minute and to 10 s in the last minute', () => {
    expect(watchTimeLeft(view(), T)).toBe('5m');
    expect(watchTimeLeft(view(), T + 29_000)).toBe('4m30s');
    expect(watchTimeLeft(view(), T + 31_000)).toBe('4m');
    expect(watchTimeLeft(view(), T + 245_000)).toBe('50s');
    expect(watchTimeLeft(view(), T + 299_500)).toBe('0s');
    expect(watchTimeLeft(view(), T + 400_000)).toBe('0s');
  });

  it('is empty when no watch is running', () => {
    expect(watchTimeLeft(view('smoke'), T)).toBe('');
    expect(watchTimeLeft(view('watch', 'pending'), T)).toBe('');
  });
});
