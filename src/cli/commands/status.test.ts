/**
 * `gangway status` shows where a blue-green pair previews: a port of this machine for the local
 * agent, and — on a target whose preview is no port (Kubernetes previews on a Service) — the
 * endpoint as the target names it, never the agent's `auto`; `-o json` carries it as the
 * orchestrator reports it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { FakeOrchestrator } from '../../../test/support/fake-orchestrator.js';
import type { StatusEntry } from '../../engine/types.js';
import { buildServer } from '../../server/app.js';
import { main } from '../main.js';
import { renderPlatform, renderStatus } from './status.js';

const TOKEN = 'status-test-token';

const entry = (environment: string, preview: StatusEntry['preview']): StatusEntry => ({
  service: 'web', environment, version: null, deployment: null, queued: 0, port: null,
  instances: [], traffic: [], analysis: [], releases: [], preview,
});

/** The previews a Kubernetes target reports: the preview Service, serving a release or idle. */
const onKubernetes = {
  dev: { port: null, version: '2.0.0', endpoint: 'svc/web-preview' },
  staging: { port: null, version: null, endpoint: 'svc/web-preview' },
};

describe('status: what the tool behind the target says', () => {
  it('lists its lines, the drift and its history under each pair, says when it cannot be asked, and prints nothing for targets that deploy themselves', () => {
    const helm: StatusEntry = {
      ...entry('prod', null),
      platform: {
        lines: [{ label: 'helm release', value: 'web revision 4 (deployed, chart web-0.1.0)' }],
        drift: null,
        history: [
          { revision: '4', at: '2026-12-05T21:40:02Z', status: 'deployed', description: 'Rollback to 2' },
          { revision: '3', at: '2026-12-05T21:38:40Z', status: 'failed', description: 'gangway: deploy 3.0.0' },
        ],
      },
    };
    const argo: StatusEntry = {
      ...entry('staging', null),
      platform: { lines: [{ label: 'argo cd', value: 'web-staging OutOfSync, Healthy' }, { label: 'commit', value: '3f2a9c1' }], drift: 'image.tag is 9.9.9 in Git, Gangway wrote 2.0.0', history: [] },
    };
    const down: StatusEntry = { ...entry('qa', null), platform: { error: 'Argo CD at https://argocd.example.com does not answer' } };
    expect(renderPlatform([entry('dev', null), helm, argo, down])).toBe([
      '',
      'web/prod',
      '  helm release  web revision 4 (deployed, chart web-0.1.0)',
      '  REVISION  AT                    STATUS    DESCRIPTION',
      '  4         2026-12-05T21:40:02Z  deployed  Rollback to 2',
      '  3         2026-12-05T21:38:40Z  failed    gangway: deploy 3.0.0',
      '',
      'web/staging',
      '  argo cd  web-staging OutOfSync, Healthy',
      '  commit   3f2a9c1',
      '  ! drift: image.tag is 9.9.9 in Git, Gangway wrote 2.0.0',
      '',
      'web/qa',
      '  ! cannot ask: Argo CD at https://argocd.example.com does not answer',
      '',
    ].join('\n'));
    expect(renderStatus([entry('dev', null)])).not.toContain('cannot ask');
  });
});

describe('status PREVIEW', () => {
  it('names a preview endpoint that is not a port, with the release on it; ports and the agent\'s auto as before', () => {
    const out = renderStatus([
      entry('dev', onKubernetes.dev), entry('staging', onKubernetes.staging),
      entry('qa', { port: 41873, version: '2.0.0' }), entry('prod', { port: null, version: null }), entry('perf', null),
    ]);
    expect(out).toBe([
      'SERVICE  ENVIRONMENT  VERSION  PHASE  STEP  INSTANCES  TRAFFIC  PREVIEW',
      'web      dev          -        -      -     -          -        svc/web-preview 2.0.0',
      'web      staging      -        -      -     -          -        svc/web-preview',
      'web      qa           -        -      -     -          -        :41873 2.0.0',
      'web      prod         -        -      -     -          -        auto',
      'web      perf         -        -      -     -          -        -',
      '',
    ].join('\n'));
  });

  describe('through the API', () => {
    let dir: string;
    let app: FastifyInstance;
    let fake: FakeOrchestrator;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'gangway-status-'));
      fake = new FakeOrchestrator({ services: { web: ['dev', 'staging'] }, previews: onKubernetes });
      app = buildServer({ orchestrator: fake, token: TOKEN, version: '0.0.0-test' });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as AddressInfo).port;
      writeFileSync(join(dir, 'gangway.yaml'), `project: shop
server: { host: 127.0.0.1, port: ${port} }
environments: { dev: {}, staging: {} }
services:
  web:
    target: { local: { command: ["node", "server.js"], port: 18080 } }
    environments: { staging: { target: { local: { port: 18180 } } } }
`);
      mkdirSync(join(dir, '.gangway'), { mode: 0o700 });
      writeFileSync(join(dir, '.gangway', 'token'), `${TOKEN}\n`, { mode: 0o600 });
    });

    afterEach(async () => {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    });

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

    it('-o json carries the endpoint; the table shows it', async () => {
      fake.setStable('web', 'dev', '1.0.0');
      const j = await run(['status', 'web', '-o', 'json']);
      expect([j.code, j.stderr]).toEqual([0, '']);
      expect((JSON.parse(j.stdout) as StatusEntry[]).map((e) => [e.environment, e.preview])).toEqual([
        ['dev', { port: null, version: '2.0.0', endpoint: 'svc/web-preview' }],
        ['staging', { port: null, version: null, endpoint: 'svc/web-preview' }],
      ]);
      const t = await run(['status', 'web']);
      expect(t.stdout.split('\n').slice(0, 3)).toEqual([
        'SERVICE  ENVIRONMENT  VERSION  PHASE  STEP  INSTANCES  TRAFFIC     PREVIEW',
        'web      dev          1.0.0    -      -     2/2 ready  1.0.0 100%  svc/web-preview 2.0.0',
        'web      staging      -        -      -     -          -           svc/web-preview',
      ]);
    });
  });
});
