/**
 * Services and environments named like members of every JavaScript object (`constructor`,
 * `toString`, `__proto__`) over a real orchestrator and store: each route that takes a name
 * answers 404 in the error shape, as for any unknown name, and nothing is recorded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeWorlds, given } from '../../test/support/engine-world.js';
import { buildServer } from './app.js';
import { KnownNames } from './names.js';

const TOKEN = 'hostile-names-token';
const auth = { authorization: `Bearer ${TOKEN}` };

const YAML = `
project: shop
environments:
  dev: {}
  prod: {}
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 1, port: 18090 }
    strategy:
      rolling: { maxSurge: 1, maxUnavailable: 0 }
    environments:
      prod: { target: { local: { port: 18091 } } }
`;

afterEach(closeWorlds);

const HOSTILE = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];

describe('given a config with the service web in dev and prod', () => {
  for (const name of HOSTILE) {
    it(`a service named ${name} is unknown (404) on every route that takes one, and nothing is recorded`, async () => {
      const w = await given(YAML);
      const app = buildServer({ orchestrator: w.orch, token: TOKEN, version: '9.9.9', config: w.config });
      const notFound = { error: { code: 'not_found', message: `unknown service "${name}"`, hint: 'services in /project/gangway.yaml: web' } };
      const calls = [
        { method: 'POST' as const, url: '/v1/deployments', payload: { service: name, environment: 'dev', version: '1.0.0' } },
        { method: 'POST' as const, url: '/v1/plan', payload: { service: name, environment: 'dev', version: '1.0.0' } },
        { method: 'POST' as const, url: '/v1/rollbacks', payload: { service: name, environment: 'dev' } },
        { method: 'GET' as const, url: `/v1/status?service=${encodeURIComponent(name)}` },
        { method: 'GET' as const, url: `/v1/deployments?service=${encodeURIComponent(name)}` },
        { method: 'GET' as const, url: `/v1/logs?service=${encodeURIComponent(name)}&environment=dev` },
        { method: 'GET' as const, url: `/v1/timeline?service=${encodeURIComponent(name)}&environment=dev` },
      ];
      for (const call of calls) {
        const res = await app.inject({ ...call, headers: auth });
        expect([call.url, res.statusCode, res.json()]).toEqual([call.url, 404, notFound]);
      }
      await app.close();
      expect(await w.store.listEvents()).toEqual([]);
      expect(await w.store.listDeployments({})).toEqual([]);
    });

    it(`an environment named ${name} is unknown (404)`, async () => {
      const w = await given(YAML);
      const app = buildServer({ orchestrator: w.orch, token: TOKEN, version: '9.9.9', config: w.config });
      const notFound = { error: { code: 'not_found', message: `unknown environment "${name}"`, hint: 'environments in /project/gangway.yaml: dev, prod' } };
      for (const call of [
        { method: 'POST' as const, url: '/v1/deployments', payload: { service: 'web', environment: name, version: '1.0.0' } },
        { method: 'POST' as const, url: '/v1/plan', payload: { service: 'web', environment: name } },
        { method: 'POST' as const, url: '/v1/rollbacks', payload: { service: 'web', environment: name } },
        { method: 'GET' as const, url: `/v1/status?environment=${encodeURIComponent(name)}` },
      ]) {
        const res = await app.inject({ ...call, headers: auth });
        expect([call.url, res.statusCode, res.json()]).toEqual([call.url, 404, notFound]);
      }
      await app.close();
      expect(await w.store.listEvents()).toEqual([]);
    });
  }

  it('a name the config defines goes through to the orchestrator', async () => {
    const w = await given(YAML);
    const app = buildServer({ orchestrator: w.orch, token: TOKEN, version: '9.9.9', config: w.config });
    const res = await app.inject({ method: 'POST', url: '/v1/plan', headers: auth, payload: { service: 'web', environment: 'dev', version: '1.0.0' } });
    await app.close();
    expect([res.statusCode, res.json().service, res.json().environment]).toEqual([200, 'web', 'dev']);
  });
});

describe('KnownNames', () => {
  const names = new KnownNames({ file: 'gangway.yaml', serviceNames: ['web', 'api'], environments: [{ name: 'dev' }, { name: 'prod' }] });

  it('accepts defined names and absent ones', () => {
    expect(() => names.check({ service: 'web', environment: 'prod' })).not.toThrow();
    expect(() => names.check({})).not.toThrow();
    expect([names.hasEnvironment('dev'), names.hasEnvironment('constructor'), names.hasEnvironment('__proto__')]).toEqual([true, false, false]);
  });

  it('refuses others with the orchestrator\'s message, the service first, suggesting a close name', () => {
    expect(() => names.check({ service: 'wbe', environment: 'constructor' })).toThrowError(expect.objectContaining({
      code: 'not_found', message: 'unknown service "wbe"', hint: 'did you mean "web"?',
    }));
    expect(() => names.check({ service: 'api', environment: 'toString' })).toThrowError(expect.objectContaining({
      code: 'not_found', message: 'unknown environment "toString"', hint: 'environments in gangway.yaml: dev, prod',
    }));
  });
});
