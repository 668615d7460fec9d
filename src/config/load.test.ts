import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import type { ConfigProblem } from '../errors.js';
import { findConfigFile, loadConfig, parseConfig } from './load.js';
import type { GangwayConfig } from './types.js';

const FILE = '/srv/shop/gangway.yaml';

/** The problems parseConfig reports for `text`; fails the test when it does not throw ConfigError. */
function problemsOf(text: string, env: Record<string, string> = {}): Array<Omit<ConfigProblem, 'file'>> {
  try {
    parseConfig(text, 'gangway.yaml', { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map(({ file, ...rest }) => {
      expect(file).toBe('gangway.yaml');
      return rest;
    });
  }
  throw new Error('expected a ConfigError');
}

const FULL = `project: shop
stateDir: var/gangway
server: { host: 0.0.0.0, port: 7500 }
agent: { metricsPort: 7501 }
store: { postgres: { urlFromEnv: SHOP_DATABASE_URL } }
environments:
  dev: {}
  staging:
    promotion: { from: dev }
  prod:
    promotion: { from: staging }
    reason: required
    approvals: { required: 1, groups: [ops] }
    windows:
      - deny: { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00" }
        timezone: America/New_York
      - allow: { from: "06:00", to: "22:00" }
services:
  api:
    target:
      local:
        command: ["node", "api.js", "--port=\${port}"]
        port: 8000
    environments:
      staging: { target: { local: { port: 8100 } } }
      prod: { target: { local: { port: 8200 } } }
  web:
    dependsOn: [api]
    target:
      local:
        command: ["node", "server.js"]
        cwd: apps/web
        env: { APP_VERSION: "\${release.version}" }
        instances: 2
        port: 8080
        host: 0.0.0.0
    health:
      path: /actuator/health
      expect: { status: 200, json: { status: UP } }
      interval: 2s
      timeout: 500ms
      failureThreshold: 3
    strategy:
      blueGreen: { previewPort: 8090, scaleDownDelay: 1m }
    smoke:
      - http: { path: /api/v1/health/db, method: POST, headers: { X-Check: "1" }, expect: { status: 204, bodyContains: ok } }
        timeout: 10s
      - run: ["./scripts/verify-deployment.sh", "\${environment}"]
    rollback: { automatic: false, watch: 10m }
    drainTimeout: 15s
    environments:
      staging:
        target: { local: { port: 8180 } }
        strategy: { blueGreen: { previewPort: 8190 } }
      prod:
        target: { local: { port: 9080, instances: 4 } }
        strategy: { rolling: { maxSurge: 2 } }
        smoke: []
`;

describe('parseConfig: a complete file', () => {
  it('compiles to the exact config, every default applied and every path resolved', () => {
    const config = parseConfig(FULL, FILE, { env: { SHOP_DATABASE_URL: 'postgres://gangway@db/shop' } });
    const health = { path: '/', expect: { status: 200 }, intervalMs: 2000, timeoutMs: 1000, failureThreshold: 3, startTimeoutMs: 30_000 };
    const api = (environment: string, port: number) => ({
      service: 'api', environment,
      target: { kind: 'local', command: ['node', 'api.js', '--port=${port}'], cwd: '/srv/shop', env: {}, instances: 1, port, host: '127.0.0.1' },
      health,
      strategy: { kind: 'rolling', maxSurge: 1, maxUnavailable: 0 },
      smoke: [],
      rollback: { automatic: true, watchMs: 300_000 },
      drainTimeoutMs: 30_000,
      dependsOn: [],
    });
    const web = {
      service: 'web',
      target: { kind: 'local', command: ['node', 'server.js'], cwd: '/srv/shop/apps/web', env: { APP_VERSION: '${release.version}' }, instances: 2, port: 8080, host: '0.0.0.0' },
      health: { path: '/actuator/health', expect: { status: 200, json: { status: 'UP' } }, intervalMs: 2000, timeoutMs: 500, failureThreshold: 3, startTimeoutMs: 30_000 },
      strategy: { kind: 'blueGreen', previewPort: 8090, scaleDownDelayMs: 60_000 },
      smoke: [
        { kind: 'http', path: '/api/v1/health/db', method: 'POST', headers: { 'X-Check': '1' }, expect: { status: 204, bodyContains: 'ok' }, timeoutMs: 10_000 },
        { kind: 'run', argv: ['./scripts/verify-deployment.sh', '${environment}'], timeoutMs: 30_000, cwd: '/srv/shop/apps/web' },
      ],
      rollback: { automatic: false, watchMs: 600_000 },
      drainTimeoutMs: 15_000,
      dependsOn: ['api'],
    };
    const expected: GangwayConfig = {
      project: 'shop',
      file: FILE,
      rootDir: '/srv/shop',
      stateDir: '/srv/shop/var/gangway',
      server: { host: '0.0.0.0', port: 7500 },
      agent: { metricsPort: 7501, host: '127.0.0.1' },
      store: { kind: 'postgres', url: 'postgres://gangway@db/shop' },
      environments: [
        { name: 'dev', reason: 'optional', windows: [] },
        { name: 'staging', promotion: { from: 'dev' }, reason: 'optional', windows: [] },
        {
          name: 'prod', promotion: { from: 'staging' }, reason: 'required',
          approvals: { required: 1, groups: ['ops'], allowSelfApproval: false },
          windows: [
            { deny: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }, timezone: 'America/New_York' },
            { allow: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '06:00', to: '22:00' }, timezone: 'UTC' },
          ],
        },
      ],
      serviceNames: ['api', 'web'],
      services: {
        api: { dev: api('dev', 8000), staging: api('staging', 8100), prod: api('prod', 8200) },
        web: {
          dev: { ...web, environment: 'dev' },
          staging: {
            ...web, environment: 'staging',
            target: { ...web.target, port: 8180 },
            strategy: { kind: 'blueGreen', previewPort: 8190, scaleDownDelayMs: 60_000 },
          },
          prod: {
            ...web, environment: 'prod',
            target: { ...web.target, port: 9080, instances: 4 },
            strategy: { kind: 'rolling', maxSurge: 2, maxUnavailable: 0 },
            smoke: [],
          },
        },
      },
    } as GangwayConfig;
    expect(config).toEqual(expected);
    expect(Object.keys(config.services.web)).toEqual(['dev', 'staging', 'prod']);
    expect(Object.isFrozen(config.services.web.prod.strategy)).toBe(true);
  });

  it('fills in everything a minimal file leaves out', () => {
    const config = parseConfig(`project: tiny
environments: { dev: {} }
services:
  app: { target: { local: { command: [./run], port: 3000 } } }
`, '/tmp/tiny/gangway.yml', { env: {} });
    expect(config.server).toEqual({ host: '127.0.0.1', port: 7400 });
    expect(config.agent).toEqual({ host: '127.0.0.1', metricsPort: 7401 });
    expect(config.stateDir).toBe('/tmp/tiny/.gangway');
    expect(config.store).toEqual({ kind: 'sqlite', path: '/tmp/tiny/.gangway/state.db' });
    expect(config.services.app.dev.target.cwd).toBe('/tmp/tiny');
  });

  it('resolves a relative file name against the working folder', () => {
    const config = parseConfig('project: p\nenvironments: { dev: {} }\nservices: { a: { target: { local: { command: [x], port: 3000 } } } }\nstore: { sqlite: { path: db/p.db } }\n', 'conf/gangway.yaml', { env: {} });
    expect(config.file).toBe(resolve('conf/gangway.yaml'));
    expect(config.rootDir).toBe(resolve('conf'));
    expect(config.store).toEqual({ kind: 'sqlite', path: resolve('conf/db/p.db') });
  });
});

/** A valid base; tests append or replace lines to make one thing wrong. */
const head = `project: shop
environments:
  dev: {}
  prod:
    promotion: { from: dev }
services:
  web:
    target:
      local:
        command: ["node", "server.js"]
        port: 8080
`;

describe('parseConfig: problems, each with its exact message and position', () => {
  it('YAML syntax error', () => {
    expect(problemsOf('project: shop\nenvironments: { dev: {}\nservices: {}\n')).toEqual([
      {
        line: 3, column: 1, path: '', message: 'YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }',
        hint: 'check the indentation and the brackets on this line and the one before',
      },
    ]);
  });

  it('tab indentation and a second document', () => {
    expect(problemsOf('project: shop\nenvironments:\n\tdev: {}\n')).toEqual([
      { line: 3, column: 1, path: '', message: 'YAML syntax error: Tabs are not allowed as indentation', hint: 'indent with spaces, not tabs' },
    ]);
    expect(problemsOf(`${head}---\nproject: other\n`)).toEqual([
      { line: 12, column: 1, path: '', message: 'YAML syntax error: the file holds more than one YAML document', hint: 'gangway.yaml holds one document; remove the `---` separator' },
    ]);
  });

  it('duplicate key', () => {
    expect(problemsOf(`${head}        port: 8081\n`)).toEqual([
      { line: 12, column: 9, path: '', message: 'duplicate key `port`', hint: 'a key may appear only once in the same mapping; keep one of them' },
    ]);
  });

  it('empty file', () => {
    expect(problemsOf('# nothing yet\n')).toEqual([
      { line: 1, column: 1, path: '', message: 'the file is empty', hint: 'start with `project:`, `environments:` and `services:`; see docs/config.md' },
    ]);
  });

  it('unknown key with did-you-mean, pointing at the key', () => {
    expect(problemsOf(`${head}    helth: { path: /health }\n`)).toEqual([
      { line: 12, column: 5, path: 'services.web.helth', message: 'unknown key `helth`', hint: 'did you mean `health`?' },
    ]);
  });

  it('unknown key matched without regard to case', () => {
    expect(problemsOf(`${head}    DrainTimeout: 10s\n`)).toEqual([
      { line: 12, column: 5, path: 'services.web.DrainTimeout', message: 'unknown key `DrainTimeout`', hint: 'did you mean `drainTimeout`?' },
    ]);
  });

  it('unknown key with nothing close lists the known keys', () => {
    expect(problemsOf(`${head}    owner: team-a\n`)).toEqual([
      { line: 12, column: 5, path: 'services.web.owner', message: 'unknown key `owner`', hint: 'known keys: dependsOn, target, health, strategy, smoke, rollback, drainTimeout, environments' },
    ]);
  });

  it('missing key, pointing at the parent', () => {
    const text = head.replace('        port: 8080\n', '');
    expect(problemsOf(text)).toEqual([
      { line: 9, column: 7, path: 'services.web.target.local.port', message: 'required key `port` is missing' },
    ]);
  });

  it('missing top-level key, pointing at the start of the file', () => {
    expect(problemsOf('project: shop\nenvironments: { dev: {} }\n')).toEqual([
      { line: 1, column: 1, path: 'services', message: 'required key `services` is missing' },
    ]);
  });

  it('port written as a string', () => {
    expect(problemsOf(head.replace('port: 8080', 'port: "8080"'))).toEqual([
      { line: 11, column: 15, path: 'services.web.target.local.port', message: 'expected a number, got the string "8080"', hint: 'write the number without quotes: 8080' },
    ]);
  });

  it('port out of range', () => {
    expect(problemsOf(head.replace('port: 8080', 'port: 70000'))).toEqual([
      { line: 11, column: 15, path: 'services.web.target.local.port', message: 'must be a port number from 1 to 65535, got 70000' },
    ]);
  });

  it('instances out of range, and a fractional one', () => {
    expect(problemsOf(`${head}        instances: 101\n`)).toEqual([
      { line: 12, column: 20, path: 'services.web.target.local.instances', message: 'must be at most 100, got the number 101' },
    ]);
    expect(problemsOf(`${head}        instances: 1.5\n`)).toEqual([
      { line: 12, column: 20, path: 'services.web.target.local.instances', message: 'expected a whole number, got the number 1.5' },
    ]);
  });

  it('failureThreshold below 1', () => {
    expect(problemsOf(`${head}    health: { path: /health, failureThreshold: 0 }\n`)).toEqual([
      { line: 12, column: 48, path: 'services.web.health.failureThreshold', message: 'must be at least 1, got the number 0' },
    ]);
  });

  it('number where a duration belongs', () => {
    expect(problemsOf(`${head}    drainTimeout: 30\n`)).toEqual([
      { line: 12, column: 19, path: 'services.web.drainTimeout', message: 'expected a duration, got the number 30', hint: 'write a duration string such as "30s"' },
    ]);
  });

  it('malformed duration', () => {
    expect(problemsOf(`${head}    rollback: { watch: 5 minutes }\n`)).toEqual([
      { line: 12, column: 24, path: 'services.web.rollback.watch', message: '"5 minutes" is not a duration', hint: 'write a duration string such as "500ms", "2s", "5m", "1h" or "1m30s"' },
    ]);
  });

  it('empty command, and a command written as one string', () => {
    expect(problemsOf(head.replace('command: ["node", "server.js"]', 'command: []'))).toEqual([
      { line: 10, column: 9, path: 'services.web.target.local.command', message: 'command is empty', hint: 'give the program and its arguments, e.g. ["node", "server.js"]' },
    ]);
    expect(problemsOf(head.replace('command: ["node", "server.js"]', 'command: node server.js --port 80'))).toEqual([
      { line: 10, column: 18, path: 'services.web.target.local.command', message: 'expected a list of arguments, got a string', hint: 'write it as a list, e.g. ["node", "server.js", "--port", "80"]; it is never run through a shell' },
    ]);
  });

  it('strategy with two keys', () => {
    expect(problemsOf(`${head}    strategy:\n      rolling: {}\n      blueGreen: { previewPort: 8090 }\n`)).toEqual([
      { line: 12, column: 5, path: 'services.web.strategy', message: 'strategy has both rolling and blueGreen', hint: 'choose exactly one of rolling, blueGreen' },
    ]);
  });

  it('canary strategy', () => {
    expect(problemsOf(`${head}    strategy:\n      canary: { steps: [] }\n`)).toEqual([
      { line: 13, column: 7, path: 'services.web.strategy.canary', message: 'strategy canary is not available yet; use rolling or blueGreen' },
    ]);
  });

  it('strategy naming none, a misspelt one, and a target that is not available', () => {
    expect(problemsOf(`${head}    strategy: {}\n`)).toEqual([
      { line: 12, column: 5, path: 'services.web.strategy', message: 'strategy must name one of rolling, blueGreen', hint: 'choose exactly one of rolling, blueGreen, or remove strategy for the default rolling update' },
    ]);
    expect(problemsOf(`${head}    strategy: { rollling: {} }\n`)).toEqual([
      { line: 12, column: 17, path: 'services.web.strategy.rollling', message: 'unknown key `rollling`', hint: 'did you mean `rolling`?' },
    ]);
    expect(problemsOf(`${head}      kubernetes: { namespace: shop }\n`)).toEqual([
      { line: 12, column: 7, path: 'services.web.target.kubernetes', message: 'target kubernetes is not available yet; use local' },
    ]);
  });

  it('a smoke check that is neither http nor run, a bad env name, and a literal placeholder', () => {
    const text = `${head}        env: { 1X: a, LIT: "$\${release.tag}" }\n    smoke:\n      - timeout: 5s\n`;
    expect(problemsOf(text)).toEqual([
      { line: 12, column: 16, path: 'services.web.target.local.env["1X"]', message: '"1X" is not a valid environment variable name', hint: 'use letters, digits and underscores, not starting with a digit' },
      { line: 14, column: 9, path: 'services.web.smoke[0]', message: 'a smoke check must name one of http, run', hint: 'choose exactly one of http, run' },
    ]);
  });

  it('postgres with both url and urlFromEnv', () => {
    expect(problemsOf(`${head}store:\n  postgres: { url: "postgres://db/x", urlFromEnv: DB }\n`)).toEqual([
      { line: 13, column: 3, path: 'store.postgres', message: 'postgres has both url and urlFromEnv', hint: 'choose exactly one of url, urlFromEnv' },
    ]);
  });

  it('blueGreen without previewPort, and a rolling update that cannot progress', () => {
    expect(problemsOf(`${head}    strategy: { blueGreen: { scaleDownDelay: 10s } }\n`)).toEqual([
      { line: 12, column: 17, path: 'services.web.strategy.blueGreen.previewPort', message: 'required key `previewPort` is missing' },
    ]);
    expect(problemsOf(`${head}    strategy: { rolling: { maxSurge: 0 } }\n`)).toEqual([
      { line: 12, column: 17, path: 'services.web.strategy.rolling', message: 'maxSurge and maxUnavailable are both 0, so the update could never make progress', hint: 'set maxSurge to 1 (the default) or more' },
    ]);
  });

  it('health and smoke paths that do not start with a slash', () => {
    const text = `${head}    health: { path: health }\n    smoke:\n      - run: [./check]\n      - run: [./check2]\n      - http: { path: api/ping }\n`;
    expect(problemsOf(text)).toEqual([
      { line: 12, column: 21, path: 'services.web.health.path', message: 'health path must start with "/", got "health"', hint: 'write "/health"' },
      { line: 16, column: 23, path: 'services.web.smoke[2].http.path', message: 'smoke path must start with "/", got "api/ping"', hint: 'write "/api/ping"' },
    ]);
  });

  it('unknown placeholders in a command, an env value and a smoke run', () => {
    const text = head.replace('command: ["node", "server.js"]', 'command: ["node", "server.js", "--v=${release.verison}"]')
      + '        env: { WHERE: "${env}" }\n    smoke:\n      - run: [./check, "${services}"]\n';
    expect(problemsOf(text)).toEqual([
      { line: 10, column: 40, path: 'services.web.target.local.command[2]', message: 'unknown placeholder ${release.verison}', hint: 'did you mean ${release.version}?' },
      { line: 12, column: 23, path: 'services.web.target.local.env.WHERE', message: 'unknown placeholder ${env}', hint: 'known placeholders: ${release.version}, ${release.image}, ${environment}, ${service}, ${port}; write $${…} for a literal ${…}' },
      { line: 14, column: 24, path: 'services.web.smoke[0].run[1]', message: 'unknown placeholder ${services}', hint: 'did you mean ${service}?' },
    ]);
  });

  it('windows: both allow and deny, bad times, unknown time zone', () => {
    const text = head.replace('    promotion: { from: dev }\n', `    promotion: { from: dev }
    windows:
      - allow: { from: "09:00", to: "17:00" }
        deny: { from: "12:00", to: "13:00" }
      - deny: { days: [monday], from: "9:00", to: "17:00" }
      - deny: { from: "18:00", to: "08:00" }
        timezone: Europe/Berln
`);
    expect(problemsOf(text)).toEqual([
      { line: 7, column: 9, path: 'environments.prod.windows[0]', message: 'a window has both allow and deny', hint: 'choose exactly one of allow, deny' },
      { line: 9, column: 24, path: 'environments.prod.windows[1].deny.days[0]', message: 'must be one of mon, tue, wed, thu, fri, sat, sun; got the string "monday"' },
      { line: 9, column: 39, path: 'environments.prod.windows[1].deny.from', message: 'from must be a time of day "HH:MM", got the string "9:00"', hint: 'write it quoted with two-digit hours, e.g. "09:00"' },
      { line: 10, column: 9, path: 'environments.prod.windows[2].deny', message: 'from 18:00 must be before to 08:00', hint: 'a range cannot pass midnight; split it into two windows' },
      { line: 11, column: 19, path: 'environments.prod.windows[2].timezone', message: 'unknown time zone "Europe/Berln"', hint: 'did you mean "Europe/Berlin"?' },
    ]);
  });

  it('approvals need at least one approval and one group', () => {
    const text = head.replace('    promotion: { from: dev }\n', '    promotion: { from: dev }\n    approvals: { required: 0, groups: [] }\n');
    expect(problemsOf(text)).toEqual([
      { line: 6, column: 28, path: 'environments.prod.approvals.required', message: 'must be at least 1, got the number 0' },
      { line: 6, column: 31, path: 'environments.prod.approvals.groups', message: 'must have at least 1 item' },
    ]);
  });

  it('environment written without a value, and a badly named service', () => {
    const text = head.replace('  dev: {}', '  dev:').replace('  web:', '  Web:');
    expect(problemsOf(text)).toEqual([
      { line: 3, column: 3, path: 'environments.dev', message: 'expected a mapping, got null', hint: 'write `{}` for an environment without policies' },
      { line: 7, column: 3, path: 'services.Web', message: '"Web" is not a valid service name', hint: 'use lowercase letters, digits and dashes, starting with a letter (e.g. `prod`, `web-api`)' },
    ]);
  });

  it('promotion from an unknown, a later, or the same environment', () => {
    const text = `project: shop
environments:
  dev: { promotion: { from: dev } }
  staging: { promotion: { from: prod } }
  prod: { promotion: { from: stagin } }
services:
  web:
    target: { local: { command: [x], port: 8080 } }
    environments: { staging: { target: { local: { port: 8081 } } }, prod: { target: { local: { port: 8082 } } } }
`;
    expect(problemsOf(text)).toEqual([
      { line: 3, column: 29, path: 'environments.dev.promotion.from', message: 'an environment cannot be promoted from itself', hint: 'the first environment has no promotion source; remove promotion' },
      { line: 4, column: 33, path: 'environments.staging.promotion.from', message: '`prod` is declared after `staging`', hint: 'environments are listed in promotion order: declare the source environment first' },
      { line: 5, column: 30, path: 'environments.prod.promotion.from', message: '`stagin` is not a declared environment', hint: 'did you mean `staging`?' },
    ]);
  });

  it('overrides for an undeclared environment', () => {
    expect(problemsOf(`${head}    environments:\n      prod: { target: { local: { port: 9080 } } }\n      prd: { target: { local: { port: 9180 } } }\n`)).toEqual([
      { line: 14, column: 7, path: 'services.web.environments.prd', message: '`prd` is not a declared environment', hint: 'did you mean `prod`?' },
    ]);
  });

  it('dependencies: unknown, on itself, and in a cycle', () => {
    const text = `project: shop
environments: { dev: {} }
services:
  web:
    dependsOn: [api, web, cache]
    target: { local: { command: [x], port: 8080 } }
  api:
    dependsOn: [db]
    target: { local: { command: [x], port: 8081 } }
  db:
    dependsOn: [web]
    target: { local: { command: [x], port: 8082 } }
`;
    expect(problemsOf(text)).toEqual([
      { line: 5, column: 17, path: 'services.web.dependsOn[0]', message: 'dependency cycle: web → api → db → web', hint: 'remove one of these dependencies' },
      { line: 5, column: 22, path: 'services.web.dependsOn[1]', message: 'a service cannot depend on itself' },
      { line: 5, column: 27, path: 'services.web.dependsOn[2]', message: '`cache` is not a declared service', hint: 'declared services: web, api, db' },
    ]);
  });

  it('a port shared by two environments of a service', () => {
    expect(problemsOf(head)).toEqual([
      { line: 11, column: 15, path: 'services.web.target.local.port', message: 'port 8080 is used more than once: by service web in dev and prod (line 11)', hint: 'give each environment its own port: set services.web.environments.prod.target.local.port' },
    ]);
  });

  it('ports shared across services, the preview, the server and the agent, naming both places', () => {
    const text = `project: shop
server: { port: 8090 }
environments: { dev: {} }
services:
  web:
    target: { local: { command: [x], port: 8080 } }
    strategy: { blueGreen: { previewPort: 8090 } }
  api:
    target: { local: { command: [x], port: 8080 } }
  jobs:
    target: { local: { command: [x], port: 7401 } }
`;
    expect(problemsOf(text)).toEqual([
      { line: 7, column: 43, path: 'services.web.strategy.blueGreen.previewPort', message: 'port 8090 is used more than once: by the server (server.port, line 2) and by the preview of service web in dev (line 7)', hint: 'every port in the project must be different, in every environment' },
      { line: 9, column: 44, path: 'services.api.target.local.port', message: 'port 8080 is used more than once: by service web in dev (line 6) and by service api in dev (line 9)', hint: 'every port in the project must be different, in every environment' },
      { line: 11, column: 44, path: 'services.jobs.target.local.port', message: 'port 7401 is used more than once: by the agent metrics endpoint (agent.metricsPort, by default) and by service jobs in dev (line 11)', hint: 'every port in the project must be different, in every environment' },
    ]);
  });

  it('a problem that appears only once an override is merged', () => {
    const text = `${head}    environments:\n      prod:\n        target: { local: { port: 9080 } }\n        strategy: { blueGreen: { scaleDownDelay: 5s } }\n`;
    expect(problemsOf(text)).toEqual([
      { line: 15, column: 21, path: 'services.web.environments.prod.strategy.blueGreen.previewPort', message: 'required key `previewPort` is missing' },
    ]);
  });

  it('overrides are checked like the service, with all keys optional', () => {
    const text = `${head}    environments:\n      prod:\n        target: { local: { port: 9080, instances: 0 } }\n        dependsOn: []\n`;
    expect(problemsOf(text)).toEqual([
      { line: 14, column: 51, path: 'services.web.environments.prod.target.local.instances', message: 'must be at least 1, got the number 0' },
      { line: 15, column: 9, path: 'services.web.environments.prod.dependsOn', message: 'dependsOn is the same in every environment', hint: 'set it on the service itself' },
    ]);
  });

  it('store URL from an unset environment variable', () => {
    const text = `${head}    environments: { prod: { target: { local: { port: 9080 } } } }\nstore: { postgres: { urlFromEnv: DATABASE_URL } }\n`;
    expect(problemsOf(text)).toEqual([
      { line: 13, column: 34, path: 'store.postgres.urlFromEnv', message: 'environment variable DATABASE_URL is not set', hint: 'set DATABASE_URL to a postgres:// URL before starting gangway, or give store.postgres.url' },
    ]);
    expect(parseConfig(text, FILE, { env: { DATABASE_URL: 'postgres://x/y' } }).store).toEqual({ kind: 'postgres', url: 'postgres://x/y' });
  });

  it('reports every problem at once, in file order, and prints them file:line:column', () => {
    const text = `project: Shop
environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["node", "server.js"]
        port: 80800
    strategy:
      blueGreen: { previewPrt: 8090 }
    smoke:
      - http: { path: /ping, expect: { status: 200 } }
        timeout: 30
`;
    let caught: unknown;
    try {
      parseConfig(text, 'shop/gangway.yaml', { env: {} });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toBe([
      'shop/gangway.yaml:1:10: project: "Shop" is not a valid project name',
      '  hint: use lowercase letters, digits and dashes, starting with a letter (e.g. `shop`)',
      'shop/gangway.yaml:9:15: services.web.target.local.port: must be a port number from 1 to 65535, got 80800',
      'shop/gangway.yaml:11:7: services.web.strategy.blueGreen.previewPort: required key `previewPort` is missing',
      'shop/gangway.yaml:11:20: services.web.strategy.blueGreen.previewPrt: unknown key `previewPrt`',
      '  hint: did you mean `previewPort`?',
      'shop/gangway.yaml:14:18: services.web.smoke[0].timeout: expected a duration, got the number 30',
      '  hint: write a duration string such as "30s"',
    ].join('\n'));
    expect((caught as ConfigError).code).toBe('invalid_config');
  });
});

describe('loadConfig and findConfigFile', () => {
  it('loads the basic example', async () => {
    const file = resolve(import.meta.dirname, '../../examples/basic/gangway.yaml');
    const config = await loadConfig(file, { env: {} });
    expect(config.project).toBe('basic');
    expect(config.environments.map((e) => e.name)).toEqual(['dev', 'staging', 'prod']);
    expect(config.services.web.prod.strategy).toEqual({ kind: 'blueGreen', previewPort: 8290, scaleDownDelayMs: 30_000 });
    expect(config.services.web.staging.target.port).toBe(8180);
    expect(config.services.web.dev.target.cwd).toBe(resolve(import.meta.dirname, '../../examples/basic'));
  });

  it('accepts the complete example of docs/config.md', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/config.md'), 'utf8');
    const example = /## A complete example\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const config = parseConfig(example, '/srv/shop/gangway.yaml', { env: {} });
    expect(config.serviceNames).toEqual(['web']);
    expect(config.services.web.prod.target).toMatchObject({ port: 9080, instances: 4, cwd: '/srv/shop/apps/web' });
    expect(config.services.web.prod.strategy).toEqual({ kind: 'blueGreen', previewPort: 9090, scaleDownDelayMs: 30_000 });
  });

  it('reports a missing file with a hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gangway-load-'));
    const file = join(dir, 'gangway.yaml');
    await expect(loadConfig(file)).rejects.toThrow(ConfigError);
    await expect(loadConfig(file)).rejects.toMatchObject({
      problems: [{
        file, line: 1, column: 1, path: '', message: 'cannot read the config file: no such file',
        hint: 'run gangway in a folder that has gangway.yaml (or one below it), or pass --config <file>',
      }],
    });
  });

  it('finds gangway.yaml or gangway.yml in the folder or above it', () => {
    const root = mkdtempSync(join(tmpdir(), 'gangway-find-'));
    const deep = join(root, 'a', 'b');
    mkdirSync(deep, { recursive: true });
    expect(findConfigFile(deep)).toBeUndefined();
    writeFileSync(join(root, 'gangway.yml'), 'project: x\n');
    expect(findConfigFile(deep)).toBe(join(root, 'gangway.yml'));
    writeFileSync(join(root, 'a', 'gangway.yaml'), 'project: x\n');
    expect(findConfigFile(deep)).toBe(join(root, 'a', 'gangway.yaml'));
    writeFileSync(join(root, 'a', 'b', 'gangway.yaml'), 'project: x\n');
    expect(findConfigFile(deep)).toBe(join(deep, 'gangway.yaml'));
  });
});
