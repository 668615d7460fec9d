import type { LocalTargetConfig } from './types.js';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CANARY_STEPS, PRESETS } from '../analysis/presets.js';
import { GangwayError } from '../errors.js';
import { compileConfig, compileWindows, deepFreeze, mergeOverride } from './compile.js';
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

  it('merges a canary of the same kind, its steps list replacing, and replaces a canary by another kind', () => {
    const canary: RawServiceSettings = {
      ...base,
      strategy: { canary: { steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 100 }], scaleDownDelay: '1m', stickySessions: true } },
    };
    expect(mergeOverride(canary, { strategy: { canary: { steps: [{ setWeight: 50 }] } } }).strategy)
      .toEqual({ canary: { steps: [{ setWeight: 50 }], scaleDownDelay: '1m', stickySessions: true } });
    expect(mergeOverride(canary, { strategy: { canary: { stickySessions: { ttl: '2h' } } } }).strategy)
      .toEqual({ canary: { steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 100 }], scaleDownDelay: '1m', stickySessions: { ttl: '2h' } } });
    expect(mergeOverride(canary, { strategy: { blueGreen: { previewPort: 9090 } } }).strategy).toEqual({ blueGreen: { previewPort: 9090 } });
    expect(mergeOverride(base, { strategy: { canary: {} } }).strategy).toEqual({ canary: {} });
  });

  it('turns the background analysis off with null', () => {
    expect(mergeOverride({ ...base, analysis: 'runbook-defaults' }, { analysis: null }).analysis).toBeNull();
  });

  it('replaces a backup, validation or connection of another kind in migrations, merges one of the same kind, and turns them off with null', () => {
    const withMigrations: RawServiceSettings = {
      ...base,
      migrations: {
        backup: { pgDump: { urlFromEnv: 'DATABASE_URL', dir: 'backups' } },
        migrate: ['knex', 'migrate:latest'],
        validate: { sql: { urlFromEnv: 'DATABASE_URL', query: 'select true' } },
        rollback: 'restore',
      },
    };
    expect(mergeOverride(withMigrations, { migrations: { backup: { run: ['./backup.sh'] }, validate: { run: ['./check.sh'] }, rollback: { down: ['knex', 'migrate:down'] } } }).migrations).toEqual({
      backup: { run: ['./backup.sh'] },
      migrate: ['knex', 'migrate:latest'],
      validate: { run: ['./check.sh'] },
      rollback: { down: ['knex', 'migrate:down'] },
    });
    expect(mergeOverride(withMigrations, { migrations: { backup: { pgDump: { url: 'postgres://db/shop' } }, validate: { sql: { query: 'select 1 = 1' } }, timeout: '1m' } }).migrations).toEqual({
      backup: { pgDump: { url: 'postgres://db/shop', dir: 'backups' } },
      migrate: ['knex', 'migrate:latest'],
      validate: { sql: { urlFromEnv: 'DATABASE_URL', query: 'select 1 = 1' } },
      rollback: 'restore',
      timeout: '1m',
    });
    expect(mergeOverride(withMigrations, { migrations: { backup: null } }).migrations?.backup).toBeNull();
    expect(mergeOverride(withMigrations, { migrations: null }).migrations).toBeNull();
    // The service's own settings are never changed by a merge.
    expect(withMigrations.migrations?.backup).toEqual({ pgDump: { urlFromEnv: 'DATABASE_URL', dir: 'backups' } });
  });

  it('merges keys named like Object methods as ordinary keys', () => {
    const base = { target: { local: { command: ['node'], port: 8080, env: { A: '1' } } } } as RawServiceSettings;
    const merged = mergeOverride(base, { target: { local: { env: { constructor: 'x', toString: 'y' } } } });
    expect(merged.target.local?.env).toEqual({ A: '1', constructor: 'x', toString: 'y' });
    expect(Object.keys(merged.target.local?.env ?? {})).toEqual(['A', 'constructor', 'toString']);
  });

  it('leaves the service untouched when there is no override', () => {
    expect(mergeOverride(base, undefined)).toBe(base);
    expect(base.target.local?.port).toBe(8080);
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

  it('gives the records looked up by name no prototype', () => {
    const config = compileConfig(configSchema.parse({
      project: 'shop', groups: { ops: ['alice'] }, environments: { dev: {} },
      services: { web: { target: { local: { command: ['node'], port: 8080 } } } },
    }), { file: '/srv/shop/gangway.yaml', env: {} });
    for (const record of [config.services, config.services.web, config.groups, config.analysisTemplates]) {
      expect(Object.getPrototypeOf(record)).toBeNull();
    }
    const name: string = 'toString';
    expect(config.services[name]).toBeUndefined();
    expect(config.groups[name]).toBeUndefined();
    expect(Object.keys(config.analysisTemplates)).toEqual(Object.keys(PRESETS));
  });

  it('freezes everything it returns', () => {
    const config = compileConfig(minimal, { file: '/srv/shop/gangway.yaml', env: { SHOP_DB: 'postgres://db/shop' } });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen((config.services.web.dev.target as LocalTargetConfig).command)).toBe(true);
    expect(Object.isFrozen(config.environments[0].windows)).toBe(true);
    expect(() => { (config.services.web.dev.target as { port: number }).port = 1; }).toThrow(TypeError);
  });

  it('resolves `canary: {}` to copies of the default steps and the presets, with every canary default', () => {
    const raw = configSchema.parse({
      project: 'shop',
      environments: { dev: {} },
      services: { web: { target: { local: { command: ['node', 'server.js'], port: 8080 } }, strategy: { canary: {} }, analysis: 'runbook-defaults' } },
      analysis: { mine: { rules: [{ name: 'errors', threshold: { metric: { builtin: 'error_rate' }, max: 0.1 }, onInconclusive: 'fail', onError: 'tolerate' }] } },
    });
    const config = compileConfig(raw, { file: '/srv/shop/gangway.yaml' });
    const web = config.services.web.dev;
    expect(web.analysis).toBe('runbook-defaults');
    expect(web.strategy).toEqual({ kind: 'canary', steps: DEFAULT_CANARY_STEPS, stickySessions: null, scaleDownDelayMs: 30_000 });
    expect(config.analysisTemplates).toEqual({
      ...PRESETS,
      mine: {
        name: 'mine', intervalMs: 30_000,
        rules: [{
          name: 'errors', kind: 'threshold', metric: { kind: 'builtin', metric: 'error_rate' }, max: 0.1, min: null, forMs: 0, windowMs: 60_000, minSamples: 0,
          onInconclusive: { action: 'fail', limit: 0 }, onError: { action: 'tolerate', limit: 10 },
        }],
      },
    });
    expect(config.metrics).toEqual({ prometheus: null, requests: null });
    // The compiled config owns its copies: nothing it freezes belongs to the presets module.
    if (web.strategy.kind !== 'canary') throw new Error('expected a canary');
    expect(web.strategy.steps).not.toBe(DEFAULT_CANARY_STEPS);
    expect(config.analysisTemplates['runbook-defaults']).not.toBe(PRESETS['runbook-defaults']);
    expect(Object.isFrozen(web.strategy.steps[0])).toBe(true);
  });

  it('deepFreeze freezes nested values and returns its argument', () => {
    const value = { a: { b: [1, { c: 2 }] } };
    expect(deepFreeze(value)).toBe(value);
    expect(Object.isFrozen(value.a.b[1])).toBe(true);
  });
});

describe('compileConfig: gates', () => {
  const service = { web: { target: { local: { command: ['node', 'server.js'], port: 8080 } } } };
  /** The error compileConfig throws for `raw`; fails the test when it does not throw one. */
  const errorOf = (raw: unknown, env: Record<string, string> = {}, file = '/srv/shop/gangway.yaml'): GangwayError => {
    try {
      compileConfig(configSchema.parse(raw), { file, env });
    } catch (err) {
      expect(err).toBeInstanceOf(GangwayError);
      return err as GangwayError;
    }
    throw new Error('expected a GangwayError');
  };

  it('applies every gate default and resolves a run check\'s folder, the key and the secrets', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gangway-compile-'));
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    writeFileSync(join(dir, 'cosign.pub'), publicKey);
    const raw = configSchema.parse({
      project: 'shop',
      groups: { ops: ['alice'] },
      registries: [{ host: 'registry.internal:5000', username: 'ci', passwordFromEnv: 'PW' }],
      incidents: {},
      environments: {
        prod: {
          approvals: { required: 1, groups: ['ops'] },
          windows: [{ allow: { from: '06:00', to: '22:00' } }, { deny: { start: '2026-12-24T00:00', end: '2026-12-27T00:00' }, timezone: 'Europe/Berlin' }],
          checks: [{ name: 'ci', run: ['./ci.sh'] }, { name: 'up', webhook: { url: 'https://status.example.com/' } }],
          checklist: [{ name: 'backup', text: 'Backup verified', confirmers: ['ops'] }],
          image: { signature: { publicKey: 'cosign.pub' } },
          expedited: {},
        },
      },
      services: service,
    });
    const config = compileConfig(raw, { file: join(dir, 'gangway.yaml'), env: { PW: 'pw' } });
    expect(config.environments).toEqual([{
      name: 'prod',
      reason: 'optional',
      queue: 'supersede',
      approvals: { required: 1, groups: ['ops'], allowSelfApproval: false, expiresMs: null },
      windows: [
        { allow: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '06:00', to: '22:00' }, timezone: 'UTC' },
        { deny: { start: '2026-12-24T00:00', end: '2026-12-27T00:00' }, timezone: 'Europe/Berlin' },
      ],
      checks: [
        { name: 'ci', kind: 'run', argv: ['./ci.sh'], cwd: dir, timeoutMs: 120_000 },
        { name: 'up', kind: 'webhook', url: 'https://status.example.com/', method: 'GET', headers: {}, expect: { status: 200 }, timeoutMs: 120_000 },
      ],
      checklist: [{ name: 'backup', text: 'Backup verified', confirmers: ['ops'] }],
      image: { exists: true, signature: { publicKey } },
      expedited: { skip: [] },
    }]);
    expect(config.groups).toEqual({ ops: ['alice'] });
    expect(config.registries).toEqual([{ host: 'registry.internal:5000', insecure: false, username: 'ci', password: 'pw', token: null }]);
    expect(config.incidents).toEqual({ label: 'gangway_freeze', value: 'true' });
    expect(Object.isFrozen(config.environments[0].expedited?.skip)).toBe(true);
    expect(Object.isFrozen(config.groups.ops)).toBe(true);
    // The compiled groups are copies: freezing them leaves the parsed input alone.
    expect(Object.isFrozen(raw.groups?.ops)).toBe(false);
  });

  it('refuses an unset registry variable, naming it and not the other secrets', () => {
    const err = errorOf({
      project: 'shop', environments: { dev: {} }, services: service,
      registries: [{ host: 'ghcr.io', tokenFromEnv: 'GHCR_TOKEN' }, { host: 'quay.io', username: 'ci', passwordFromEnv: 'QUAY_PASSWORD' }],
    }, { GHCR_TOKEN: 'ghp_secret' });
    expect([err.code, err.message, err.hint]).toEqual([
      'invalid_config', 'registries[1].passwordFromEnv: environment variable QUAY_PASSWORD is not set', 'set QUAY_PASSWORD before starting gangway',
    ]);
  });

  it('refuses a signature key it cannot read', () => {
    const err = errorOf({
      project: 'shop', environments: { prod: { image: { signature: { publicKey: 'keys/none.pub' } } } }, services: service,
    });
    expect([err.code, err.message, err.hint]).toEqual([
      'invalid_config', 'environments.prod.image.signature.publicKey: cannot read keys/none.pub: no such file',
      'give the path of the cosign public key (cosign.pub) relative to the folder of gangway.yaml, or the PEM text itself',
    ]);
  });

  it('compileWindows fills in every day and UTC, and keeps one-off ranges as written', () => {
    expect(compileWindows([
      { deny: { days: ['sat', 'sun'], from: '00:00', to: '24:00' } },
      { allow: { from: '09:00', to: '17:00' }, timezone: 'Asia/Tokyo' },
      { deny: { start: '2026-12-31T18:00', end: '2027-01-01T06:00' } },
    ])).toEqual([
      { deny: { days: ['sat', 'sun'], from: '00:00', to: '24:00' }, timezone: 'UTC' },
      { allow: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '09:00', to: '17:00' }, timezone: 'Asia/Tokyo' },
      { deny: { start: '2026-12-31T18:00', end: '2027-01-01T06:00' }, timezone: 'UTC' },
    ]);
  });
});

describe('compileConfig: records, notifications and migrations', () => {
  const file = '/srv/shop/gangway.yaml';
  const service = { target: { local: { command: ['node', 'api.js'], cwd: 'apps/api', port: 8080 } } };
  /** The error compileConfig throws for `raw`; fails the test when it does not throw one. */
  const errorOf = (raw: unknown, env: Record<string, string> = {}): GangwayError => {
    try {
      compileConfig(configSchema.parse(raw), { file, env });
    } catch (err) {
      expect(err).toBeInstanceOf(GangwayError);
      return err as GangwayError;
    }
    throw new Error('expected a GangwayError');
  };

  it('applies every default: records path, author and retries; all events, 5s and 3 retries; GitHub\'s API; 10m, the service\'s cwd and backups under stateDir', () => {
    const raw = configSchema.parse({
      project: 'shop',
      stateDir: 'var/state',
      records: { repo: '../records' },
      notifications: [
        { name: 'hook', webhook: { url: 'http://127.0.0.1:9000/hook' } },
        { name: 'gh', github: { repo: 'acme/shop', tokenFromEnv: 'GH' } },
      ],
      environments: { dev: {} },
      services: {
        api: { ...service, migrations: { backup: { pgDump: { url: 'postgres://app@db/shop' } }, migrate: ['./migrate'], rollback: 'restore' } },
      },
    });
    const config = compileConfig(raw, { file, env: { GH: 'ghp_x' } });
    expect(config.records).toEqual({
      repo: '/srv/records', path: 'docs/deployments/{environment}', remote: null, branch: null,
      author: { name: 'Gangway', email: 'gangway@localhost' }, pushRetries: 3,
    });
    const events = ['started', 'waiting', 'succeeded', 'failed', 'rolled_back', 'superseded'];
    expect(config.notifications).toEqual([
      { kind: 'webhook', name: 'hook', url: 'http://127.0.0.1:9000/hook', secret: null, events, timeoutMs: 5000, retries: 3 },
      { kind: 'github', name: 'gh', apiUrl: 'https://api.github.com', repo: 'acme/shop', token: 'ghp_x', events, timeoutMs: 5000, retries: 3 },
    ]);
    expect(config.services.api.dev.migrations).toEqual({
      backup: { kind: 'pgDump', url: 'postgres://app@db/shop', dir: '/srv/shop/var/state/backups' },
      migrate: { argv: ['./migrate'] },
      validate: null,
      rollback: { kind: 'restore' },
      cwd: '/srv/shop/apps/api',
      timeoutMs: 600_000,
      env: {},
    });
    // The compiled form owns its lists: freezing it leaves the parsed input alone.
    expect(Object.isFrozen(config.notifications[0].events)).toBe(true);
    expect(Object.isFrozen(raw.services.api.migrations?.migrate)).toBe(false);
  });

  it('refuses an unset notifier secret, naming the variable and never a value', () => {
    const err = errorOf({
      project: 'shop', environments: { dev: {} }, services: { api: service },
      notifications: [{ name: 'hook', webhook: { urlFromEnv: 'HOOK_URL', secretFromEnv: 'HOOK_SECRET' } }],
    }, { HOOK_URL: 'https://hooks.example.com/x' });
    expect([err.code, err.message, err.hint]).toEqual([
      'invalid_config', 'notifications[0].webhook.secretFromEnv: environment variable HOOK_SECRET is not set',
      'set HOOK_SECRET to the secret that signs notifier hook\'s requests before starting gangway',
    ]);
    const wrong = errorOf({
      project: 'shop', environments: { dev: {} }, services: { api: service },
      notifications: [{ name: 'team', slack: { urlFromEnv: 'SLACK_URL' } }],
    }, { SLACK_URL: 'hooks.slack.com/services/secret' });
    expect([wrong.message, wrong.hint]).toEqual([
      'notifications[0].slack.urlFromEnv: environment variable SLACK_URL does not hold an http:// or https:// URL',
      'set it to the incoming webhook URL of notifier team (its value is not shown here: it may be a secret)',
    ]);
  });

  it('refuses an unset migrations database variable', () => {
    const err = errorOf({
      project: 'shop', environments: { dev: {} },
      services: { api: { ...service, migrations: { migrate: ['./m'], validate: { sql: { urlFromEnv: 'DB', query: 'select true' } }, rollback: 'irreversible' } } },
    });
    expect([err.code, err.message, err.hint]).toEqual([
      'invalid_config', 'services.api.migrations.validate.sql.urlFromEnv: environment variable DB is not set',
      'set DB to the postgres:// URL of the database to validate before starting gangway',
    ]);
  });
});
