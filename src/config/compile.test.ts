import { describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { compileConfig, deepFreeze, mergeOverride } from './compile.js';
import { configSchema } from './schema.js';
import type { RawServiceSettings } from './schema.js';

const base: RawServiceSettings = {
  target: { local: { command: ['node', 'server.js'], port: 8080, env: { A: '1' } } },
  strategy: { blueGreen: { previewPort: 8090 } },
  smoke: [{ run: ['a'] }, { run: ['b'] }],
  health: { path: '/health', expect: { status: 200, json: { status: 'UP' } } },
};

describe('mergeOverride', () => {
  it('merges mappings key by key', () => {
    expect(mergeOverride(base, { target: { local: { port: 9080, env: { B: '2' } } }, health: { interval: '1s' } })).toEqual({
      ...base,
      target: { local: { command: ['node', 'server.js'], port: 9080, env: { A: '1', B: '2' } } },
      health: { path: '/health', expect: { status: 200, json: { status: 'UP' } }, interval: '1s' },
    });
  });

  it('replaces lists', () => {
    expect(mergeOverride(base, { smoke: [{ run: ['c'] }], target: { local: { command: ['node', 'other.js'] } } })).toEqual({
      ...base,
      target: { local: { command: ['node', 'other.js'], port: 8080, env: { A: '1' } } },
      smoke: [{ run: ['c'] }],
    });
  });

  it('merges a strategy of the same kind and replaces one of another kind', () => {
    expect(mergeOverride(base, { strategy: { blueGreen: { scaleDownDelay: '5s' } } }).strategy)
      .toEqual({ blueGreen: { previewPort: 8090, scaleDownDelay: '5s' } });
    expect(mergeOverride(base, { strategy: { rolling: { maxSurge: 2 } } }).strategy).toEqual({ rolling: { maxSurge: 2 } });
  });

  it('leaves the service untouched when there is no override', () => {
    expect(mergeOverride(base, undefined)).toBe(base);
    expect(base.target.local.port).toBe(8080);
  });
});

describe('compileConfig', () => {
  const minimal = configSchema.parse({
    project: 'shop',
    stateDir: 'var/state',
    store: { postgres: { urlFromEnv: 'SHOP_DB' } },
    environments: { dev: {} },
    services: { web: { target: { local: { command: ['node', 'server.js'], port: 8080 } } } },
  });

  it('reads the store URL from the environment', () => {
    const config = compileConfig(minimal, { file: '/srv/shop/gangway.yaml', env: { SHOP_DB: 'postgres://db/shop' } });
    expect(config.store).toEqual({ kind: 'postgres', url: 'postgres://db/shop' });
    expect(config.stateDir).toBe('/srv/shop/var/state');
  });

  it('refuses an unset store variable', () => {
    let caught: unknown;
    try {
      compileConfig(minimal, { file: '/srv/shop/gangway.yaml', env: {} });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GangwayError);
    expect(caught).toMatchObject({
      code: 'invalid_config',
      message: 'store.postgres.urlFromEnv: environment variable SHOP_DB is not set',
      hint: 'set SHOP_DB to a postgres:// URL before starting gangway',
    });
  });

  it('keeps the default SQLite database inside stateDir', () => {
    const raw = configSchema.parse({ ...minimal, store: undefined });
    expect(compileConfig(raw, { file: '/srv/shop/gangway.yaml' }).store).toEqual({ kind: 'sqlite', path: '/srv/shop/var/state/state.db' });
  });

  it('freezes everything it returns', () => {
    const config = compileConfig(minimal, { file: '/srv/shop/gangway.yaml', env: { SHOP_DB: 'postgres://db/shop' } });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.services.web.dev.target.command)).toBe(true);
    expect(Object.isFrozen(config.environments[0].windows)).toBe(true);
    expect(() => { (config.services.web.dev.target as { port: number }).port = 1; }).toThrow(TypeError);
  });

  it('deepFreeze freezes nested values and returns its argument', () => {
    const value = { a: { b: [1, { c: 2 }] } };
    expect(deepFreeze(value)).toBe(value);
    expect(Object.isFrozen(value.a.b[1])).toBe(true);
  });
});
