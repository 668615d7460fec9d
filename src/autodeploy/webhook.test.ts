/**
 * The release webhook through the real API server (Fastify, `inject`), a real orchestrator,
 * runner and store: the signature is the only credential, bound to the environment whose
 * secret made it; a pause refuses releases until resumed.
 */
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { closeWorlds, given, until, FINAL } from '../../test/support/engine-world.js';
import { buildServer } from '../server/app.js';
import { AutoDeployer } from './deployer.js';
import { RegistryClient } from '../gates/registry/client.js';
import { createGates } from '../gates/index.js';

afterEach(closeWorlds);

const YAML = `
project: shop
environments:
  dev:
    autoDeploy: { webhook: true, secretFromEnv: DEV_SECRET }
  qa:
    autoDeploy: { webhook: true, secretFromEnv: QA_SECRET }
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 1, port: 18080 }
    health: { path: /health, interval: 100ms, startTimeout: 1s }
    rollback: { watch: 0s }
    environments: { qa: { target: { local: { port: 18081 } } } }
`;

const sign = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

describe('POST /v1/webhooks/release', () => {
  it('deploys with the secret of the environment named, refuses another environment\'s secret with 401 and auth.denied, and 409 while paused', async () => {
    process.env.DEV_SECRET = 'dev-secret';
    process.env.QA_SECRET = 'qa-secret';
    const w = await given(YAML, { gates: (config, store) => createGates(config, store).gates });
    delete process.env.DEV_SECRET;
    delete process.env.QA_SECRET;
    const deployer = new AutoDeployer({ store: w.store, config: w.config, orchestrator: w.orch, registry: new RegistryClient([]) });
    const app = buildServer({ orchestrator: w.orch, token: 'admin-token', version: 'test', auth: { store: w.store }, autodeploy: { deployer, config: w.config } });
    try {
      const post = (body: string, signature: string) => app.inject({
        method: 'POST', url: '/v1/webhooks/release', payload: body, headers: { 'content-type': 'application/json', 'x-gangway-signature': signature },
      });
      const toQa = JSON.stringify({ service: 'web', environment: 'qa', version: '1.0.0' });
      const cross = await post(toQa, sign('dev-secret', toQa));
      expect([cross.statusCode, cross.json().error.message]).toEqual([401, 'the signature is not made with the release webhook secret of qa']);
      expect((await w.store.listEvents({ types: ['auth.denied'] })).map((e) => [e.data.route, e.data.reason]))
        .toEqual([['/v1/webhooks/release', 'the signature is not made with the release webhook secret of qa']]);

      const invalid = JSON.stringify({ service: 'web', environment: 'dev' });
      const bad = await post(invalid, sign('dev-secret', invalid));
      expect([bad.statusCode, bad.json().error.message]).toEqual([400, 'body: must name a version or an image']);

      const first = JSON.stringify({ service: 'web', environment: 'dev', version: '1.0.0' });
      const ok = await post(first, sign('dev-secret', first));
      expect([ok.statusCode, ok.json().actor, ok.json().reason]).toEqual([201, 'gangway/auto', '1.0.0']);
      await until(w, ok.json().id as string, FINAL);
      const second = JSON.stringify({ service: 'web', environment: 'dev', version: '1.1.0' });
      await until(w, (await post(second, sign('dev-secret', second))).json().id as string, FINAL);

      // A gate refuses it as it refuses anyone: 423, recorded.
      await w.store.createFreeze({ id: 'f1', environment: 'dev', service: null, owner: 'ana', reason: 'incident 42', source: 'manual', alertFingerprint: null, createdAt: Date.now(), liftedAt: null, liftedBy: null });
      const frozen = JSON.stringify({ service: 'web', environment: 'dev', version: '1.5.0' });
      expect((await post(frozen, sign('dev-secret', frozen))).statusCode).toBe(423);
      expect((await w.store.listEvents({ types: ['autodeploy.blocked'] })).map((e) => [e.data.tag, e.data.gates, e.data.source])).toEqual([['1.5.0', 'freeze', 'webhook']]);
      await w.store.liftFreeze('f1', 'ana', Date.now());

      const back = await w.orch.rollback({ service: 'web', environment: 'dev', actor: 'ana' });
      await until(w, back.id, FINAL);
      const third = JSON.stringify({ service: 'web', environment: 'dev', version: '1.2.0' });
      const paused = await post(third, sign('dev-secret', third));
      expect([paused.statusCode, paused.json().error]).toEqual([409, {
        code: 'conflict', message: `auto-deploy of web to dev is paused since ana rolled back (${back.id})`, hint: 'resume it with `gangway autodeploy resume web --env dev`',
        details: { service: 'web', environment: 'dev', pausedBy: 'ana', deployment: back.id },
      }]);
      const resumed = await app.inject({ method: 'POST', url: '/v1/autodeploy/resume', payload: { service: 'web', environment: 'dev' }, headers: { authorization: 'Bearer admin-token', 'x-gangway-actor': 'bob' } });
      expect([resumed.statusCode, resumed.json().paused, resumed.json().resumed.by]).toEqual([200, null, 'bob']);
      expect((await post(third, sign('dev-secret', third))).statusCode).toBe(201);
    } finally {
      await app.close();
    }
  });
});
