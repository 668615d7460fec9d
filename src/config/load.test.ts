import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CANARY_STEPS, PRESETS } from '../analysis/presets.js';
import { ConfigError } from '../errors.js';
import type { ConfigProblem } from '../errors.js';
import { findConfigFile, loadConfig, parseConfig } from './load.js';
import type { GangwayConfig, LocalTargetConfig } from './types.js';

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
server: { host: 0.0.0.0, port: 7500, allowedHosts: [gangway.example.com, .corp.example] }
agent: { metricsPort: 7501 }
store: { postgres: { urlFromEnv: SHOP_DATABASE_URL } }
groups: { ops: [alice, bob] }
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
    const health = { path: '/', expect: { status: 200 }, intervalMs: 2000, timeoutMs: 1000, failureThreshold: 3, startTimeoutMs: 30_000, pathSet: false };
    const api = (environment: string, port: number) => ({
      service: 'api', environment,
      target: { kind: 'local', command: ['node', 'api.js', '--port=${port}'], cwd: '/srv/shop', env: {}, instances: 1, port, host: '127.0.0.1', responseTimeoutMs: 30_000 },
      health,
      strategy: { kind: 'rolling', maxSurge: 1, maxUnavailable: 0 },
      smoke: [],
      rollback: { automatic: true, watchMs: 300_000 },
      drainTimeoutMs: 30_000,
      dependsOn: [],
      jobs: { beforeRollout: [] },
      migrations: null,
      analysis: null,
    });
    const web = {
      service: 'web',
      target: { kind: 'local', command: ['node', 'server.js'], cwd: '/srv/shop/apps/web', env: { APP_VERSION: '${release.version}' }, instances: 2, port: 8080, host: '0.0.0.0', responseTimeoutMs: 30_000 },
      health: { path: '/actuator/health', expect: { status: 200, json: { status: 'UP' } }, intervalMs: 2000, timeoutMs: 500, failureThreshold: 3, startTimeoutMs: 30_000, pathSet: true },
      strategy: { kind: 'blueGreen', previewPort: 8090, scaleDownDelayMs: 60_000 },
      smoke: [
        { kind: 'http', path: '/api/v1/health/db', method: 'POST', headers: { 'X-Check': '1' }, expect: { status: 204, bodyContains: 'ok' }, timeoutMs: 10_000 },
        { kind: 'run', argv: ['./scripts/verify-deployment.sh', '${environment}'], timeoutMs: 30_000, cwd: '/srv/shop/apps/web' },
      ],
      rollback: { automatic: false, watchMs: 600_000 },
      drainTimeoutMs: 15_000,
      dependsOn: ['api'],
      jobs: { beforeRollout: [] },
      migrations: null,
      analysis: null,
    };
    const expected: GangwayConfig = {
      project: 'shop',
      file: FILE,
      rootDir: '/srv/shop',
      stateDir: '/srv/shop/var/gangway',
      server: { host: '0.0.0.0', port: 7500, allowedHosts: ['gangway.example.com', '.corp.example'] },
      agent: { metricsPort: 7501, host: '127.0.0.1', forwardedHeaders: true, trustForwarded: [] },
      store: { kind: 'postgres', url: 'postgres://gangway@db/shop' },
      environments: [
        { name: 'dev', reason: 'optional', queue: 'supersede', windows: [], checks: [], checklist: [], image: null, expedited: null },
        { name: 'staging', promotion: { from: 'dev' }, reason: 'optional', queue: 'supersede', windows: [], checks: [], checklist: [], image: null, expedited: null },
        {
          name: 'prod', promotion: { from: 'staging' }, reason: 'required', queue: 'supersede',
          approvals: { required: 1, groups: ['ops'], allowSelfApproval: false, expiresMs: null },
          windows: [
            { deny: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }, timezone: 'America/New_York' },
            { allow: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '06:00', to: '22:00' }, timezone: 'UTC' },
          ],
          checks: [], checklist: [], image: null, expedited: null,
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
      analysisTemplates: PRESETS,
      groups: { ops: ['alice', 'bob'] },
      registries: [],
      incidents: null,
      records: null,
      notifications: [],
      alerts: null,
      metrics: { prometheus: null, requests: null },
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
    expect(config.server).toEqual({ host: '127.0.0.1', port: 7400, allowedHosts: [] });
    expect(config.agent).toEqual({ host: '127.0.0.1', metricsPort: 7401, forwardedHeaders: true, trustForwarded: [] });
    expect(config.stateDir).toBe('/tmp/tiny/.gangway');
    expect(config.store).toEqual({ kind: 'sqlite', path: '/tmp/tiny/.gangway/state.db' });
    expect((config.services.app.dev.target as LocalTargetConfig).cwd).toBe('/tmp/tiny');
  });

  it('reads the proxy\'s forwarding settings: headers off or on, and the peers trusted with their own', () => {
    const base = 'project: p\nenvironments: { dev: {} }\nservices: { a: { target: { local: { command: [x], port: 3000 } } } }\n';
    expect(parseConfig(`${base}agent: { forwardedHeaders: false }\n`, '/tmp/p/gangway.yaml', { env: {} }).agent)
      .toEqual({ host: '127.0.0.1', metricsPort: 7401, forwardedHeaders: false, trustForwarded: [] });
    expect(parseConfig(`${base}agent:\n  trustForwarded: ["127.0.0.1/32", "10.0.0.0/8", "::1", "fd00::/8", "::ffff:192.168.0.0/112"]\n`, '/tmp/p/gangway.yaml', { env: {} }).agent)
      .toEqual({ host: '127.0.0.1', metricsPort: 7401, forwardedHeaders: true, trustForwarded: ['127.0.0.1/32', '10.0.0.0/8', '::1', 'fd00::/8', '::ffff:192.168.0.0/112'] });
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
      { line: 12, column: 9, path: 'services.web.target.local.port', message: 'duplicate key `port`', hint: 'a key may appear only once in the same mapping; keep one of them' },
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
      { line: 12, column: 5, path: 'services.web.owner', message: 'unknown key `owner`', hint: 'known keys: dependsOn, target, health, strategy, analysis, smoke, rollback, drainTimeout, jobs, migrations, environments' },
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

  it('trustForwarded entries that are not an IP address or CIDR range, and forwardedHeaders that is not a boolean', () => {
    const hint = 'write an IPv4 or IPv6 address or CIDR range, e.g. "127.0.0.1", "10.0.0.0/8", "::1" or "fd00::/8"';
    expect(problemsOf(`${head}agent:\n  trustForwarded: ["10.0.0.0/8", localhost, "10.0.0.0/33", "::/129", 10]\n`)).toEqual([
      { line: 13, column: 34, path: 'agent.trustForwarded[1]', message: '"localhost" is not an IP address or CIDR range', hint },
      { line: 13, column: 45, path: 'agent.trustForwarded[2]', message: '"10.0.0.0/33" is not a CIDR range: an IPv4 prefix length is 0 to 32', hint },
      { line: 13, column: 60, path: 'agent.trustForwarded[3]', message: '"::/129" is not a CIDR range: an IPv6 prefix length is 0 to 128', hint },
      { line: 13, column: 70, path: 'agent.trustForwarded[4]', message: 'expected a string, got the number 10', hint: 'quote it: "10"' },
    ]);
    expect(problemsOf(`${head}agent: { forwardedHeaders: "no" }\n`)).toEqual([
      { line: 12, column: 28, path: 'agent.forwardedHeaders', message: 'expected true or false, got the string "no"' },
    ]);
  });

  it('a queue policy that is not supersede or strict', () => {
    expect(problemsOf(head.replace('  dev: {}', '  dev: { queue: fifo }'))).toEqual([
      { line: 3, column: 17, path: 'environments.dev.queue', message: 'must be one of supersede, strict; got the string "fifo"' },
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
      { line: 12, column: 5, path: 'services.web.strategy', message: 'strategy has both rolling and blueGreen', hint: 'choose exactly one of rolling, blueGreen, canary' },
    ]);
  });

  it('strategy naming none, a misspelt one, a target with two kinds, and a gitops target missing its keys', () => {
    expect(problemsOf(`${head}    strategy: {}\n`)).toEqual([
      { line: 12, column: 5, path: 'services.web.strategy', message: 'strategy must name one of rolling, blueGreen, canary', hint: 'choose exactly one of rolling, blueGreen, canary, or remove strategy for the default rolling update' },
    ]);
    expect(problemsOf(`${head}    strategy: { rollling: {} }\n`)).toEqual([
      { line: 12, column: 17, path: 'services.web.strategy.rollling', message: 'unknown key `rollling`', hint: 'did you mean `rolling`?' },
    ]);
    expect(problemsOf(`${head}      kubernetes: { namespace: shop }\n`)).toEqual([
      { line: 8, column: 5, path: 'services.web.target', message: 'target has both local and kubernetes', hint: 'choose exactly one of local, kubernetes, helm, gitops' },
      { line: 12, column: 7, path: 'services.web.target.kubernetes', message: 'target.kubernetes must name one of manifests, kustomize', hint: 'give manifests (a YAML file or folder) or kustomize (an overlay folder)' },
    ]);
    expect(problemsOf(`${head}      gitops: {}\n`)).toEqual(['repo', 'file', 'argocd'].map((key) => (
      { line: 12, column: 7, path: `services.web.target.gitops.${key}`, message: `required key \`${key}\` is missing` })));
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

  it('a rolling update that cannot progress', () => {
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

  it('blueGreen without previewPort is valid and compiles to previewPort null; an explicit one still must differ from every port', () => {
    const text = `project: shop
environments: { dev: {}, prod: {} }
services:
  web:
    target: { local: { command: [x], port: 8080 } }
    strategy: { blueGreen: { scaleDownDelay: 10s } }
    environments:
      prod: { target: { local: { port: 9080 } } }
  api:
    target: { local: { command: [x], port: 8081 } }
    environments:
      prod: { target: { local: { port: 9081 } } }
`;
    const config = parseConfig(text, FILE, { env: {} });
    expect(config.services.web.dev.strategy).toEqual({ kind: 'blueGreen', previewPort: null, scaleDownDelayMs: 10_000 });
    expect(config.services.web.prod.strategy).toEqual({ kind: 'blueGreen', previewPort: null, scaleDownDelayMs: 10_000 });
    // An explicit port in one environment is checked against every other port; the chosen ones are not in the file.
    const explicit = text.replace('prod: { target: { local: { port: 9080 } } }', 'prod: { target: { local: { port: 9080 } }, strategy: { blueGreen: { previewPort: 9081 } } }');
    expect(problemsOf(explicit)).toEqual([
      { line: 12, column: 40, path: 'services.api.environments.prod.target.local.port', message: 'port 9081 is used more than once: by the preview of service web in prod (line 8) and by service api in prod (line 12)', hint: 'every port in the project must be different, in every environment' },
    ]);
    const merged = parseConfig(explicit.replace('prod: { target: { local: { port: 9081 } } }', 'prod: { target: { local: { port: 9082 } } }'), FILE, { env: {} });
    expect([merged.services.web.dev.strategy, merged.services.web.prod.strategy]).toEqual([
      { kind: 'blueGreen', previewPort: null, scaleDownDelayMs: 10_000 },
      { kind: 'blueGreen', previewPort: 9081, scaleDownDelayMs: 10_000 },
    ]);
  });

  it('a problem that appears only once an override is merged', () => {
    // Each part is fine alone; merged, maxSurge and maxUnavailable are both 0.
    const text = `${head}    strategy: { rolling: { maxSurge: 0, maxUnavailable: 1 } }\n    environments:\n      prod:\n        target: { local: { port: 9080 } }\n        strategy: { rolling: { maxUnavailable: 0 } }\n`;
    expect(problemsOf(text)).toEqual([
      { line: 16, column: 21, path: 'services.web.environments.prod.strategy.rolling', message: 'maxSurge and maxUnavailable are both 0, so the update could never make progress', hint: 'set maxSurge to 1 (the default) or more' },
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
      'shop/gangway.yaml:11:20: services.web.strategy.blueGreen.previewPrt: unknown key `previewPrt`',
      '  hint: did you mean `previewPort`?',
      'shop/gangway.yaml:14:18: services.web.smoke[0].timeout: expected a duration, got the number 30',
      '  hint: write a duration string such as "30s"',
    ].join('\n'));
    expect((caught as ConfigError).code).toBe('invalid_config');
  });
});

/** A valid one-environment base; whole-file checks only run once the schema has no problem. */
const one = `project: shop
environments:
  dev: {}
services:
  web:
    target:
      local:
        command: ["node", "server.js"]
        port: 8080
`;

const CANARY_FILE = `project: shop
metrics:
  prometheus: { address: "http://127.0.0.1:9090/", timeout: 3s }
environments:
  dev: {}
  prod: {}
analysis:
  checkout-slo:
    interval: 10s
    rules:
      - name: error-rate
        threshold: { metric: { builtin: error_rate }, max: 0.05, for: 2m, window: 30s, minSamples: 50 }
        onInconclusive: tolerate
        onError: fail
      - name: p95-vs-stable
        relative: { metric: { prometheus: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{version="\${version}"}[\${window}])))' }, maxRatio: 2, window: 5m }
        onInconclusive: { tolerate: 3 }
        onError: pause
      - name: errors-up
        relative: { metric: { prometheus: { query: 'sum(rate(errors_total{service="\${service}",env="\${environment}"}[1m]))' } }, maxIncrease: 0.5 }
      - name: health
        healthFailures: { consecutive: 4 }
      - name: judge
        judge: { errors: true, latency: false, alpha: 0.05, minSamples: 100, window: 2m, maxLatencyShift: 1.2 }
      - name: judge-defaults
        judge: {}
      - name: orders
        threshold: { metric: { web: { url: "http://127.0.0.1:9100/stats?v=\${version}", field: orders.failed_ratio, headers: { Authorization: Bearer x }, timeout: 2s } }, min: 0.01 }
      - name: latency
        threshold: { metric: { builtin: p99_latency }, max: 0.5 }
  quick:
    rules:
      - name: health
        healthFailures: { consecutive: 2 }
services:
  web:
    target: { local: { command: [node, server.js], port: 8080 } }
    analysis: runbook-defaults
    strategy:
      canary:
        steps:
          - setWeight: 10
          - setHeaderRoute: { name: X-Canary, value: "1" }
          - analysis: checkout-slo
          - analysis: { template: quick, duration: 2m }
          - pause: 2m
          - setWeight: 50
          - setHeaderRoute: null
          - pause: {}
          - setWeight: 100
        stickySessions: { cookie: shop-release, ttl: 30m }
        scaleDownDelay: 10s
    environments:
      prod:
        target: { local: { port: 9080 } }
        analysis: null
        strategy: { canary: { steps: [{ setWeight: 25 }, { analysis: quick }], stickySessions: true } }
  api:
    target: { local: { command: [node, api.js], port: 8000 } }
    strategy: { canary: {} }
    environments:
      prod:
        target: { local: { port: 8100 } }
        strategy: { rolling: {} }
`;

describe('parseConfig: canary, analysis templates and metrics', () => {
  it('metrics.requests: {} gets the default queries, keys override one by one, and it needs metrics.prometheus', () => {
    const head = 'project: shop\nenvironments: { dev: {} }\nservices:\n  web: { target: { local: { command: [node, a.js], port: 8080 } } }\nmetrics:\n';
    const defaults = parseConfig(`${head}  prometheus: { address: http://127.0.0.1:9090 }\n  requests: {}\n`, FILE, { env: {} });
    expect(defaults.metrics.requests).toEqual({
      total: 'sum by (gangway_io_release) (http_requests_total{gangway_io_service="${service}",gangway_io_environment="${environment}"})',
      errors: 'sum by (gangway_io_release) (http_requests_total{gangway_io_service="${service}",gangway_io_environment="${environment}",status=~"5.."})',
      buckets: 'sum by (gangway_io_release, le) (http_request_duration_seconds_bucket{gangway_io_service="${service}",gangway_io_environment="${environment}"})',
      versionLabel: 'gangway_io_release',
    });
    const custom = parseConfig(`${head}  prometheus: { address: http://127.0.0.1:9090 }\n  requests: { total: 'sum by (v) (reqs{app="\${service}"})', versionLabel: v }\n`, FILE, { env: {} });
    expect(custom.metrics.requests).toMatchObject({ total: 'sum by (v) (reqs{app="${service}"})', versionLabel: 'v', errors: defaults.metrics.requests!.errors });
    expect(problemsOf(`${head}  requests: {}\n`)).toEqual([
      { line: 6, column: 3, path: 'metrics.requests', message: 'metrics.requests needs metrics.prometheus', hint: 'add `prometheus: { address: http://… }` under metrics' },
    ]);
    expect(problemsOf(`${head}  prometheus: { address: http://127.0.0.1:9090 }\n  requests: { total: 'sum(x{v="\${version}"})', versionLabel: 1v }\n`).map((p) => p.path)).toEqual(['metrics.requests.total', 'metrics.requests.versionLabel']);
  });

  it('compiles steps, sticky sessions, templates, presets and every default exactly', () => {
    const config = parseConfig(CANARY_FILE, FILE, { env: {} });
    const tolerate10 = { action: 'tolerate', limit: 10 };
    const pause0 = { action: 'pause', limit: 0 };
    expect(config.metrics).toEqual({ prometheus: { address: 'http://127.0.0.1:9090', timeoutMs: 3000 }, requests: null });
    expect(Object.keys(config.analysisTemplates)).toEqual([...Object.keys(PRESETS), 'checkout-slo', 'quick']);
    expect(config.analysisTemplates).toEqual({
      ...PRESETS,
      'checkout-slo': {
        name: 'checkout-slo',
        intervalMs: 10_000,
        rules: [
          {
            name: 'error-rate', kind: 'threshold', metric: { kind: 'builtin', metric: 'error_rate' },
            max: 0.05, min: null, forMs: 120_000, windowMs: 30_000, minSamples: 50,
            onInconclusive: tolerate10, onError: { action: 'fail', limit: 0 },
          },
          {
            name: 'p95-vs-stable', kind: 'relative',
            metric: { kind: 'prometheus', query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{version="${version}"}[${window}])))' },
            direction: 'either', maxRatio: 2, maxIncrease: null, maxDecrease: null, windowMs: 300_000, minSamples: 0,
            onInconclusive: { action: 'tolerate', limit: 3 }, onError: pause0,
          },
          {
            name: 'errors-up', kind: 'relative',
            metric: { kind: 'prometheus', query: 'sum(rate(errors_total{service="${service}",env="${environment}"}[1m]))' },
            direction: 'either', maxRatio: null, maxIncrease: 0.5, maxDecrease: null, windowMs: 60_000, minSamples: 0,
            onInconclusive: tolerate10, onError: pause0,
          },
          { name: 'health', kind: 'healthFailures', consecutive: 4, onInconclusive: tolerate10, onError: pause0 },
          {
            name: 'judge', kind: 'judge', metric: null, errors: true, latency: false, alpha: 0.05, minSamples: 100, windowMs: 120_000, stepMs: 30_000,
            direction: 'increase', effectSize: { measure: 'medianShift', allowedIncrease: 1.2, allowedDecrease: 1 / 1.2 },
            onInconclusive: tolerate10, onError: pause0,
          },
          {
            name: 'judge-defaults', kind: 'judge', metric: null, errors: true, latency: true, alpha: 0.01, minSamples: 200, windowMs: 300_000, stepMs: 30_000,
            direction: 'increase', effectSize: { measure: 'medianShift', allowedIncrease: 1.5, allowedDecrease: 1 / 1.5 },
            onInconclusive: tolerate10, onError: pause0,
          },
          {
            name: 'orders', kind: 'threshold',
            metric: { kind: 'web', url: 'http://127.0.0.1:9100/stats?v=${version}', field: 'orders.failed_ratio', headers: { Authorization: 'Bearer x' }, timeoutMs: 2000 },
            max: null, min: 0.01, forMs: 0, windowMs: 60_000, minSamples: 0,
            onInconclusive: tolerate10, onError: pause0,
          },
          {
            name: 'latency', kind: 'threshold', metric: { kind: 'builtin', metric: 'p99_latency' },
            max: 0.5, min: null, forMs: 0, windowMs: 60_000, minSamples: 0,
            onInconclusive: tolerate10, onError: pause0,
          },
        ],
      },
      quick: { name: 'quick', intervalMs: 30_000, rules: [{ name: 'health', kind: 'healthFailures', consecutive: 2, onInconclusive: tolerate10, onError: pause0 }] },
    });

    expect(config.services.web.dev.analysis).toBe('runbook-defaults');
    expect(config.services.web.dev.strategy).toEqual({
      kind: 'canary',
      steps: [
        { kind: 'setWeight', weight: 10 },
        { kind: 'setHeaderRoute', header: { name: 'x-canary', value: '1' } },
        { kind: 'analysis', template: 'checkout-slo', durationMs: null },
        { kind: 'analysis', template: 'quick', durationMs: 120_000 },
        { kind: 'pause', durationMs: 120_000 },
        { kind: 'setWeight', weight: 50 },
        { kind: 'setHeaderRoute', header: null },
        { kind: 'pause', durationMs: null },
        { kind: 'setWeight', weight: 100 },
      ],
      stickySessions: { cookie: 'shop-release', ttlMs: 1_800_000 },
      scaleDownDelayMs: 10_000,
    });
    // Same kind merges (scaleDownDelay kept), the steps list replaces, `true` means the default cookie.
    expect(config.services.web.prod.analysis).toBeNull();
    expect(config.services.web.prod.strategy).toEqual({
      kind: 'canary',
      steps: [{ kind: 'setWeight', weight: 25 }, { kind: 'analysis', template: 'quick', durationMs: null }],
      stickySessions: { cookie: 'gangway-release', ttlMs: 3_600_000 },
      scaleDownDelayMs: 10_000,
    });
    expect(config.services.api.dev.analysis).toBeNull();
    expect(config.services.api.dev.strategy).toEqual({ kind: 'canary', steps: DEFAULT_CANARY_STEPS, stickySessions: null, scaleDownDelayMs: 30_000 });
    expect(config.services.api.prod.strategy).toEqual({ kind: 'rolling', maxSurge: 1, maxUnavailable: 0 });
    if (config.services.api.dev.strategy.kind !== 'canary') throw new Error('expected a canary');
    expect(config.services.api.dev.strategy.steps).not.toBe(DEFAULT_CANARY_STEPS);
    expect(Object.isFrozen(config.analysisTemplates['checkout-slo'].rules[0])).toBe(true);
  });

  it('a file without analysis or metrics gets the presets and no Prometheus', () => {
    const config = parseConfig(one, FILE, { env: {} });
    expect(config.analysisTemplates).toEqual(PRESETS);
    expect(config.metrics).toEqual({ prometheus: null, requests: null });
    expect(config.services.web.dev.analysis).toBeNull();
    expect(parseConfig(`${one}metrics: { prometheus: { address: "https://prom.internal" } }\n`, FILE, { env: {} }).metrics)
      .toEqual({ prometheus: { address: 'https://prom.internal', timeoutMs: 5000 }, requests: null });
  });

  it('canary step problems: weights, pauses, header routes, analysis steps', () => {
    const text = `${one}    strategy:
      canary:
        steps:
          - setWeight: 150
          - setWeight: 12.5
          - pause: 30
          - pause: soon
          - pause: { duration: 2m }
          - pause:
          - setHeaderRoute: { name: "x canary", value: "1" }
          - analysis: 42
          - analysis: { templat: runbook-defaults }
`;
    const promote = 'or {} to wait for `gangway promote`';
    expect(problemsOf(text)).toEqual([
      { line: 13, column: 24, path: 'services.web.strategy.canary.steps[0].setWeight', message: 'setWeight must be a percentage from 0 to 100, got 150' },
      { line: 14, column: 24, path: 'services.web.strategy.canary.steps[1].setWeight', message: 'expected a whole number, got the number 12.5' },
      { line: 15, column: 20, path: 'services.web.strategy.canary.steps[2].pause', message: 'pause must be a duration or {}, got the number 30', hint: `write "30s", ${promote}` },
      { line: 16, column: 20, path: 'services.web.strategy.canary.steps[3].pause', message: '"soon" is not a duration', hint: `write a duration such as "2m", ${promote}` },
      { line: 17, column: 22, path: 'services.web.strategy.canary.steps[4].pause.duration', message: 'pause takes no keys', hint: `write a duration such as "2m", ${promote}` },
      { line: 18, column: 13, path: 'services.web.strategy.canary.steps[5].pause', message: 'pause must be a duration or {}, got null', hint: `write a duration such as "2m", ${promote}` },
      { line: 19, column: 37, path: 'services.web.strategy.canary.steps[6].setHeaderRoute.name', message: '"x canary" is not a valid header name', hint: 'use letters, digits and dashes, e.g. x-canary' },
      {
        line: 20, column: 23, path: 'services.web.strategy.canary.steps[7].analysis', message: 'analysis must be a template name or { template, duration }, got the number 42',
        hint: 'e.g. `analysis: runbook-defaults` or `analysis: { template: runbook-defaults, duration: 2m }`',
      },
      { line: 21, column: 13, path: 'services.web.strategy.canary.steps[8].analysis.template', message: 'required key `template` is missing' },
      { line: 21, column: 25, path: 'services.web.strategy.canary.steps[8].analysis.templat', message: 'unknown key `templat`', hint: 'did you mean `template`?' },
    ]);
  });

  it('canary step problems: two kinds, no kind, a misspelt kind, bad stickySessions and scaleDownDelay', () => {
    const text = `${one}    strategy:
      canary:
        steps:
          - setWeight: 10
            pause: 1m
          - {}
          - stWeight: 5
        stickySessions: yes please
        scaleDownDelay: 30
`;
    const kinds = 'choose exactly one of setWeight, setHeaderRoute, analysis, pause';
    expect(problemsOf(text)).toEqual([
      { line: 13, column: 13, path: 'services.web.strategy.canary.steps[0]', message: 'a canary step has both setWeight and pause', hint: kinds },
      { line: 15, column: 13, path: 'services.web.strategy.canary.steps[1]', message: 'a canary step must name one of setWeight, setHeaderRoute, analysis, pause', hint: kinds },
      { line: 16, column: 13, path: 'services.web.strategy.canary.steps[2].stWeight', message: 'unknown key `stWeight`', hint: 'did you mean `setWeight`?' },
      {
        line: 17, column: 25, path: 'services.web.strategy.canary.stickySessions', message: 'stickySessions must be true, false or { cookie, ttl }, got the string "yes please"',
        hint: '`true` uses the cookie gangway-release for 1h',
      },
      { line: 18, column: 25, path: 'services.web.strategy.canary.scaleDownDelay', message: 'expected a duration, got the number 30', hint: 'write a duration string such as "30s"' },
    ]);
  });

  it('an empty steps list, and steps after 100%', () => {
    expect(problemsOf(`${one}    strategy: { canary: { steps: [] } }\n`)).toEqual([
      { line: 10, column: 27, path: 'services.web.strategy.canary.steps', message: 'a canary needs at least one step', hint: 'write `canary: {}` for the default steps, or list steps such as `- setWeight: 10`' },
    ]);
    expect(problemsOf(`${one}    strategy:\n      canary:\n        steps:\n          - setWeight: 10\n          - setWeight: 100\n          - pause: 1m\n          - setWeight: 100\n`)).toEqual([
      { line: 15, column: 13, path: 'services.web.strategy.canary.steps[2]', message: 'steps after 100% do nothing', hint: 'remove steps[2] to steps[3], or lower the weight of steps[1]' },
    ]);
    expect(problemsOf(`${one}    strategy:\n      canary:\n        steps: [{ setWeight: 50 }, { setWeight: 100 }, { pause: {} }]\n`)).toEqual([
      { line: 12, column: 56, path: 'services.web.strategy.canary.steps[2]', message: 'steps after 100% do nothing', hint: 'remove steps[2], or lower the weight of steps[1]' },
    ]);
  });

  it('a canary that never reaches 100% is accepted as written', () => {
    const config = parseConfig(`${one}    strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } }\n`, FILE, { env: {} });
    expect(config.services.web.dev.strategy).toEqual({
      kind: 'canary', steps: [{ kind: 'setWeight', weight: 20 }, { kind: 'pause', durationMs: null }], stickySessions: null, scaleDownDelayMs: 30_000,
    });
  });

  it('canary problems in an override are reported at the override', () => {
    const text = `${one}    strategy: { canary: {} }\n    environments:\n      dev:\n        strategy: { canary: { steps: [{ setWeight: 100 }, { setWeight: 101 }] } }\n`;
    expect(problemsOf(text)).toEqual([
      { line: 13, column: 59, path: 'services.web.environments.dev.strategy.canary.steps[1]', message: 'steps after 100% do nothing', hint: 'remove steps[1], or lower the weight of steps[0]' },
      { line: 13, column: 72, path: 'services.web.environments.dev.strategy.canary.steps[1].setWeight', message: 'setWeight must be a percentage from 0 to 100, got 101' },
    ]);
  });

  it('rule problems: missing limits, bad alpha, two kinds, bad policies, bad sources, an empty template', () => {
    const text = `${one}analysis:
  checkout-slo:
    interval: 0s
    rules:
      - name: error-rate
        threshold: { metric: { builtin: error_rate } }
      - name: error-rate
        relative: { metric: { prometheus: 'rate(x{version="\${versoin}"}[\${window}])' } }
      - name: j
        judge: { alpha: 0.7, errors: false, latency: false }
      - name: j2
        judge: { alpha: 0 }
      - name: both
        threshold: { metric: { builtin: error_rate }, max: 1 }
        judge: {}
      - name: none
        onError: tolerat
      - name: tol
        healthFailures: { consecutive: 2 }
        onInconclusive: { tolerate: 0 }
        onError: 5
      - name: web
        threshold: { metric: { web: { url: "localhost:9000/x", field: a.b } }, max: 0.01, min: 0.5 }
      - name: Bad Name
        threshold: { metric: { builtin: error_rate, prometheus: up }, max: 1 }
      - name: m
        threshold: { metric: {}, max: 1 }
  empty:
    rules: []
`;
    const alphaHint = 'it is the significance level of the judge\'s tests; 0.01 (the default) or 0.05 are usual';
    const rules = 'analysis.checkout-slo.rules';
    expect(problemsOf(text)).toEqual([
      { line: 12, column: 15, path: 'analysis.checkout-slo.interval', message: 'must be longer than 0', hint: 'write a duration string such as "500ms", "2s", "5m", "1h" or "1m30s"' },
      { line: 15, column: 9, path: `${rules}[0].threshold`, message: 'a threshold needs max or min', hint: 'e.g. `max: 0.05` fails when the value goes above 0.05' },
      { line: 17, column: 9, path: `${rules}[1].relative`, message: 'a relative rule needs maxRatio, maxIncrease or maxDecrease', hint: 'e.g. `maxRatio: 2` fails when the canary\'s value is more than twice the stable release\'s, `{ direction: decrease, maxDecrease: 0.2 }` when it is down by more than 20%' },
      { line: 17, column: 43, path: `${rules}[1].relative.metric.prometheus`, message: 'unknown placeholder ${versoin}', hint: 'did you mean ${version}?' },
      { line: 19, column: 9, path: `${rules}[2].judge`, message: 'the judge compares nothing: errors and latency are both false', hint: 'set errors or latency to true (both are by default)' },
      { line: 19, column: 25, path: `${rules}[2].judge.alpha`, message: 'alpha must be greater than 0 and at most 0.5, got 0.7', hint: alphaHint },
      { line: 21, column: 25, path: `${rules}[3].judge.alpha`, message: 'alpha must be greater than 0 and at most 0.5, got 0', hint: alphaHint },
      { line: 22, column: 9, path: `${rules}[4]`, message: 'a rule has both threshold and judge', hint: 'choose exactly one of threshold, relative, healthFailures, judge' },
      { line: 26, column: 18, path: `${rules}[5].onError`, message: 'expected pause, fail, tolerate or { tolerate: N }, got the string "tolerat"', hint: 'did you mean tolerate?' },
      { line: 29, column: 37, path: `${rules}[6].onInconclusive.tolerate`, message: 'tolerate must be at least 1', hint: 'write fail to fail at the first one' },
      { line: 30, column: 18, path: `${rules}[6].onError`, message: 'expected pause, fail, tolerate or { tolerate: N }, got the number 5', hint: 'write pause, fail, tolerate, or { tolerate: N }' },
      { line: 32, column: 44, path: `${rules}[7].threshold.metric.web.url`, message: 'url must be an http:// or https:// URL, got "localhost:9000/x"', hint: 'e.g. "http://127.0.0.1:9000/stats"' },
      { line: 32, column: 96, path: `${rules}[7].threshold.min`, message: 'min 0.5 is above max 0.01', hint: 'no value could pass; swap them' },
      { line: 33, column: 15, path: `${rules}[8].name`, message: '"Bad Name" is not a valid rule name', hint: 'use lowercase letters, digits and dashes, starting with a letter (e.g. `error-rate`)' },
      { line: 34, column: 22, path: `${rules}[8].threshold.metric`, message: 'a metric has both builtin and prometheus', hint: 'choose exactly one of builtin, prometheus, web' },
      { line: 36, column: 22, path: `${rules}[9].threshold.metric`, message: 'a metric must name one of builtin, prometheus, web', hint: 'choose exactly one of builtin, prometheus, web' },
      { line: 38, column: 5, path: 'analysis.empty.rules', message: 'a template needs at least one rule', hint: 'e.g. `- { name: error-rate, threshold: { metric: { builtin: error_rate }, max: 0.05 } }`' },
    ]);
  });

  it('a rule of no kind and unknown builtin metrics', () => {
    const text = `${one}analysis:
  slo:
    rules:
      - name: error-rate
        threshold: { metric: { builtin: error_rat }, max: 0.05 }
      - name: health
        healthFailures: { consecutive: 3 }
      - name: latency
        threshold: { metric: { builtin: latency }, max: 0.3 }
      - name: nothing
        onError: fail
`;
    expect(problemsOf(text)).toEqual([
      { line: 14, column: 41, path: 'analysis.slo.rules[0].threshold.metric.builtin', message: 'unknown builtin metric "error_rat"', hint: 'did you mean error_rate?' },
      {
        line: 18, column: 41, path: 'analysis.slo.rules[2].threshold.metric.builtin', message: 'unknown builtin metric "latency"',
        hint: 'builtin metrics: error_rate, request_rate, p50_latency, p95_latency, p99_latency',
      },
      { line: 19, column: 9, path: 'analysis.slo.rules[3]', message: 'a rule must name one of threshold, relative, healthFailures, judge', hint: 'choose exactly one of threshold, relative, healthFailures, judge' },
    ]);
  });

  it('metric queries and URLs know only their own placeholders, and no $${…} escape', () => {
    const text = `${one}metrics: { prometheus: { address: "http://127.0.0.1:9090" } }
analysis:
  a:
    rules:
      - name: p
        threshold: { metric: { prometheus: 'up{v="$\${version}"}' }, max: 1 }
      - name: w
        threshold: { metric: { web: { url: "http://127.0.0.1:9100/\${release.version}", field: x } }, max: 1 }
`;
    expect(problemsOf(text)).toEqual([
      { line: 15, column: 44, path: 'analysis.a.rules[0].threshold.metric.prometheus', message: '$${…} has no meaning here', hint: 'a metric query knows only ${service}, ${environment}, ${version}, ${window}' },
      {
        line: 17, column: 44, path: 'analysis.a.rules[1].threshold.metric.web.url', message: 'unknown placeholder ${release.version}',
        hint: 'known placeholders: ${service}, ${environment}, ${version}, ${window}',
      },
    ]);
  });

  it('duplicate rule names within a template (names may repeat across templates)', () => {
    const rule = (name: string) => `      - { name: ${name}, healthFailures: { consecutive: 3 } }\n`;
    const text = `${one}analysis:\n  a:\n    rules:\n${rule('health')}${rule('errors')}${rule('health')}${rule('health')}  b:\n    rules:\n${rule('health')}`;
    const hint = 'rules[0] is already named `health`; rule names are unique within a template';
    expect(problemsOf(text)).toEqual([
      { line: 15, column: 17, path: 'analysis.a.rules[2].name', message: 'duplicate rule name `health`', hint },
      { line: 16, column: 17, path: 'analysis.a.rules[3].name', message: 'duplicate rule name `health`', hint },
    ]);
  });

  it('metrics.prometheus: an address that is not an http(s) URL, a bare-number timeout, and maxRatio 0', () => {
    const text = `${one}metrics:
  prometheus: { address: "127.0.0.1:9090", timeout: 5 }
analysis:
  a:
    rules:
      - name: p
        relative: { metric: { prometheus: { query: "up" } }, maxRatio: 0 }
`;
    expect(problemsOf(text)).toEqual([
      { line: 11, column: 26, path: 'metrics.prometheus.address', message: 'address must be an http:// or https:// URL, got "127.0.0.1:9090"', hint: 'e.g. "http://127.0.0.1:9090"' },
      { line: 11, column: 53, path: 'metrics.prometheus.timeout', message: 'expected a duration, got the number 5', hint: 'write a duration string such as "5s"' },
      { line: 16, column: 72, path: 'analysis.a.rules[0].relative.maxRatio', message: 'must be greater than 0, got the number 0' },
    ]);
  });

  it('prometheus metrics while metrics.prometheus is not set', () => {
    const text = `${one}analysis:
  a:
    rules:
      - name: p
        relative: { metric: { prometheus: { query: "up" } }, maxRatio: 2 }
      - name: q
        threshold: { metric: { prometheus: "sum(up)" }, max: 2 }
      - name: r
        threshold: { metric: { web: { url: "http://x/", field: a } }, max: 2 }
`;
    const problem = { message: 'a prometheus metric needs a Prometheus server, and metrics.prometheus is not set', hint: 'set metrics.prometheus.address, e.g. `metrics: { prometheus: { address: "http://127.0.0.1:9090" } }`' };
    expect(problemsOf(text)).toEqual([
      { line: 14, column: 31, path: 'analysis.a.rules[0].relative.metric.prometheus', ...problem },
      { line: 16, column: 44, path: 'analysis.a.rules[1].threshold.metric.prometheus', ...problem },
    ]);
    expect(parseConfig(`${text}metrics: { prometheus: { address: "http://127.0.0.1:9090" } }\n`, FILE, { env: {} }).analysisTemplates.a.rules[1])
      .toMatchObject({ kind: 'threshold', metric: { kind: 'prometheus', query: 'sum(up)' } });
  });

  it('unknown template names in services, steps and overrides, and a template named like a preset', () => {
    const text = `${one}    analysis: runbook-default
    strategy:
      canary:
        steps:
          - analysis: checkout-slow
          - analysis: { template: nothing-like-it, duration: 2m }
    environments:
      dev: { analysis: chekout-slo }
analysis:
  checkout-slo:
    rules:
      - name: error-rate
        threshold: { metric: { builtin: error_rate }, max: 0.05 }
  runbook-defaults:
    rules:
      - name: x
        healthFailures: { consecutive: 3 }
`;
    const presets = Object.keys(PRESETS);
    expect(problemsOf(text)).toEqual([
      { line: 10, column: 15, path: 'services.web.analysis', message: '`runbook-default` is not an analysis template', hint: 'did you mean `runbook-defaults`?' },
      { line: 14, column: 23, path: 'services.web.strategy.canary.steps[0].analysis', message: '`checkout-slow` is not an analysis template', hint: 'did you mean `checkout-slo`?' },
      {
        line: 15, column: 35, path: 'services.web.strategy.canary.steps[1].analysis.template', message: '`nothing-like-it` is not an analysis template',
        hint: `analysis templates: ${['checkout-slo', ...presets].join(', ')}`,
      },
      { line: 17, column: 24, path: 'services.web.environments.dev.analysis', message: '`chekout-slo` is not an analysis template', hint: 'did you mean `checkout-slo`?' },
      {
        line: 23, column: 3, path: 'analysis.runbook-defaults', message: '`runbook-defaults` is the name of a built-in analysis template',
        hint: `give yours another name, or use the preset by name without defining it (presets: ${presets.join(', ')})`,
      },
    ]);
  });
});

describe('loadConfig and findConfigFile', () => {
  it('loads the basic example', async () => {
    const file = resolve(import.meta.dirname, '../../examples/basic/gangway.yaml');
    const config = await loadConfig(file, { env: {} });
    expect(config.project).toBe('basic');
    expect(config.environments.map((e) => e.name)).toEqual(['dev', 'staging', 'canary', 'prod']);
    expect(config.services.web.prod.strategy).toEqual({ kind: 'blueGreen', previewPort: 8290, scaleDownDelayMs: 30_000 });
    expect(config.services.web.canary.analysis).toBe('runbook-defaults');
    expect(config.services.web.canary.strategy).toEqual({
      kind: 'canary',
      steps: [
        { kind: 'setHeaderRoute', header: { name: 'x-canary', value: '1' } },
        { kind: 'setWeight', weight: 10 },
        { kind: 'analysis', template: 'runbook-defaults', durationMs: 60_000 },
        { kind: 'setWeight', weight: 50 },
        { kind: 'pause', durationMs: 30_000 },
      ],
      stickySessions: { cookie: 'gangway-release', ttlMs: 3_600_000 },
      scaleDownDelayMs: 30_000,
    });
    expect(config.services.web.staging.target.port).toBe(8180);
    expect((config.services.web.dev.target as LocalTargetConfig).cwd).toBe(resolve(import.meta.dirname, '../../examples/basic'));
    expect(config.groups).toEqual({ ops: ['alice', 'bob'] });
    expect(config.incidents).toEqual({ label: 'gangway_freeze', value: 'true' });
    expect(config.environments[3]).toEqual({
      name: 'prod',
      promotion: { from: 'staging' },
      reason: 'required',
      queue: 'supersede',
      approvals: { required: 1, groups: ['ops'], allowSelfApproval: false, expiresMs: 86_400_000 },
      windows: [
        { deny: { days: ['sat', 'sun'], from: '00:00', to: '24:00' }, timezone: 'Europe/Berlin' },
        { deny: { start: '2026-12-24T00:00', end: '2027-01-02T00:00' }, timezone: 'Europe/Berlin' },
      ],
      checks: [{
        name: 'staging-healthy', kind: 'webhook', url: 'http://127.0.0.1:8180/health', method: 'GET', headers: {},
        expect: { status: 200, json: { status: 'UP' } }, timeoutMs: 5000,
      }],
      checklist: [{ name: 'backup-verified', text: 'Database backup verified (restore tested within 24h)', confirmers: ['ops'] }],
      image: null,
      expedited: { skip: ['window', 'approvals'] },
    });
  });

  it('accepts the canary example of docs/config.md', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/config.md'), 'utf8');
    const example = /### A canary with analysis\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const config = parseConfig(example, '/srv/shop/gangway.yaml', { env: {} });
    expect(Object.keys(config.analysisTemplates)).toEqual(['runbook-defaults', 'checkout-slo']);
    expect(config.analysisTemplates['checkout-slo'].rules.map((r) => `${r.name}:${r.kind}`))
      .toEqual(['error-rate:threshold', 'p95-vs-stable:relative', 'errors-up:relative', 'health:healthFailures', 'judge:judge', 'orders:threshold']);
    expect(config.services.web.prod.analysis).toBe('runbook-defaults');
    expect(config.services.web.prod.strategy).toMatchObject({ kind: 'canary', stickySessions: { cookie: 'gangway-release', ttlMs: 3_600_000 } });
    expect(config.services.web.dev).toMatchObject({
      analysis: null,
      strategy: { steps: [{ kind: 'setWeight', weight: 50 }, { kind: 'pause', durationMs: 60_000 }], scaleDownDelayMs: 30_000 },
    });
  });

  it('accepts the complete example of docs/config.md', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/config.md'), 'utf8');
    const example = /## A complete example\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const config = parseConfig(example, '/srv/shop/gangway.yaml', { env: {} });
    expect(config.serviceNames).toEqual(['web']);
    expect(config.services.web.prod.target).toMatchObject({ port: 9080, instances: 4, cwd: '/srv/shop/apps/web' });
    expect(config.services.web.prod.strategy).toEqual({ kind: 'blueGreen', previewPort: 9090, scaleDownDelayMs: 30_000 });
  });

  it('accepts the gates example of docs/config.md', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/config.md'), 'utf8');
    const example = /## Gates\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const dir = mkdtempSync(join(tmpdir(), 'gangway-docs-'));
    mkdirSync(join(dir, 'keys'));
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    writeFileSync(join(dir, 'keys', 'cosign.pub'), publicKey);
    const text = `project: shop\n${example}services:\n  web:\n    target: { local: { command: [node, server.js], port: 8080 } }\n    environments: { prod: { target: { local: { port: 9080 } } } }\n`;
    const config = parseConfig(text, join(dir, 'gangway.yaml'), { env: { REGISTRY_PASSWORD: 'pw' } });
    const prod = config.environments[1];
    expect(prod.checks.map((c) => `${c.name}:${c.kind}`)).toEqual(['ci-green:run', 'monitoring-up:webhook']);
    expect([prod.approvals, prod.image, prod.expedited]).toEqual([
      { required: 2, groups: ['ops', 'sre'], allowSelfApproval: false, expiresMs: 86_400_000 },
      { exists: true, signature: { publicKey } },
      { skip: ['window', 'approvals'] },
    ]);
    expect(config.registries).toEqual([{ host: '127.0.0.1:5000', insecure: true, username: 'ci', password: 'pw', token: null }]);
  });

  it('accepts the records, notifications and migrations examples of docs/config.md', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/config.md'), 'utf8');
    const example = (section: string) => new RegExp(`## ${section}\\n[\\s\\S]*?\`\`\`yaml\\n([\\s\\S]*?)\`\`\``).exec(doc)?.[1] ?? '';
    const dir = mkdtempSync(join(tmpdir(), 'gangway-docs-'));
    mkdirSync(join(dir, '.git'));
    const text = `project: shop\n${example('Records')}${example('Notifications')}environments: { dev: {}, prod: {} }\n${example('Migrations')}`;
    const env = { DEPLOY_WEBHOOK_SECRET: 's', SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/x', GITHUB_TOKEN: 't', DATABASE_URL: 'postgres://db/shop' };
    const config = parseConfig(text, join(dir, 'gangway.yaml'), { env });
    expect(config.records).toMatchObject({ repo: dir, path: 'docs/deployments/{environment}', remote: 'origin', branch: 'main' });
    expect(config.notifications.map((n) => `${n.name}:${n.kind}:${n.events.join(',')}`))
      .toEqual(['ops-webhook:webhook:started,waiting,succeeded,failed,rolled_back', 'team-slack:slack:failed,rolled_back', 'github:github:started,waiting,succeeded,failed,rolled_back,superseded']);
    expect(config.services.api.dev.migrations).toBeNull();
    expect(config.services.api.prod.migrations).toMatchObject({
      backup: { kind: 'pgDump', url: 'postgres://db/shop', dir: join(dir, '.gangway', 'backups') },
      rollback: { kind: 'down', argv: ['npx', 'knex', 'migrate:down'] },
      cwd: join(dir, 'apps', 'api'),
    });
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

/**
 * A valid base for gate tests: `prod` holds `policies`; `top` goes before `environments`;
 * `more` names further environments (declared inside `policies`) that get ports of their own.
 */
function gated(policies: string, top = '', more: string[] = []): string {
  return `project: shop
${top}environments:
  dev: {}
  prod:${policies ? `\n${policies}` : ' {}\n'}services:
  web:
    target: { local: { command: ["node", "server.js"], port: 8080 } }
    environments:
      prod: { target: { local: { port: 9080 } } }
${more.map((name, i) => `      ${name}: { target: { local: { port: ${9081 + i} } } }\n`).join('')}`;
}

const GATES_FILE = `project: shop
groups:
  ops: [alice, bob]
  sre: [carol]
registries:
  - host: "127.0.0.1:5000"
    insecure: true
    username: ci
    passwordFromEnv: REGISTRY_PASSWORD
  - host: ghcr.io
    tokenFromEnv: GHCR_TOKEN
incidents: { label: severity, value: critical }
environments:
  dev:
    image: {}
  staging:
    promotion: { from: dev }
    expedited: {}
  prod:
    promotion: { from: staging }
    reason: required
    approvals: { required: 2, groups: [ops, sre], allowSelfApproval: true, expires: 24h }
    windows:
      - deny: { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00" }
        timezone: America/New_York
      - deny: { start: "2026-12-24T00:00", end: "2027-01-02T00:00" }
        timezone: Europe/London
    checks:
      - name: ci-green
        run: ["./scripts/ci-status.sh", "\${release.version}", "--env=\${environment}"]
        timeout: 1m
      - name: monitoring-up
        webhook: { url: "https://status.example.com/api/health", method: GET, headers: { Accept: application/json }, expect: { status: 200, json: { status: ok } } }
      - name: scan
        webhook: { url: "https://scanner.example.com/api/scan", method: POST }
    checklist:
      - name: backup-verified
        text: "Database backup verified (restore tested within 24h)"
        confirmers: [ops]
      - name: change-ticket
        text: Change ticket approved
        confirmers: [dana, sre]
    image:
      signature: { publicKey: keys/cosign.pub }
    expedited: { skip: [window, approvals] }
services:
  web:
    target: { local: { command: ["node", "server.js"], port: 8080 } }
    environments:
      staging: { target: { local: { port: 8180 } } }
      prod: { target: { local: { port: 9080 } } }
`;

describe('parseConfig: gates, groups, registries and incidents', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-gates-'));
  const file = join(dir, 'gangway.yaml');
  const { publicKey, privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  mkdirSync(join(dir, 'keys'));
  mkdirSync(join(dir, 'keys', 'folder.pub'));
  writeFileSync(join(dir, 'keys', 'cosign.pub'), `# cosign public key\n${publicKey}`);
  writeFileSync(join(dir, 'keys', 'cosign.key'), privateKey);
  writeFileSync(join(dir, 'keys', 'notes.txt'), 'not a key\n');
  writeFileSync(join(dir, 'keys', 'broken.pub'), '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
  const env = { REGISTRY_PASSWORD: 'hunter2', GHCR_TOKEN: 'ghp_secret' };

  /** Like {@link problemsOf}, for a file in `dir` (where the key files are). */
  const problemsIn = (text: string, vars: Record<string, string> = {}): Array<Omit<ConfigProblem, 'file'>> => {
    try {
      parseConfig(text, file, { env: vars });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems.map(({ file: _file, ...rest }) => rest);
    }
    throw new Error('expected a ConfigError');
  };

  it('compiles every gate, group, registry and the incident label exactly, with every default', () => {
    const config = parseConfig(GATES_FILE, file, { env });
    expect(config.groups).toEqual({ ops: ['alice', 'bob'], sre: ['carol'] });
    expect(config.registries).toEqual([
      { host: '127.0.0.1:5000', insecure: true, username: 'ci', password: 'hunter2', token: null },
      { host: 'ghcr.io', insecure: false, username: null, password: null, token: 'ghp_secret' },
    ]);
    expect(config.incidents).toEqual({ label: 'severity', value: 'critical' });
    const none = { windows: [], checks: [], checklist: [] };
    expect(config.environments).toEqual([
      { name: 'dev', reason: 'optional', queue: 'supersede', ...none, image: { exists: true, signature: null }, expedited: null },
      { name: 'staging', promotion: { from: 'dev' }, reason: 'optional', queue: 'supersede', ...none, image: null, expedited: { skip: [] } },
      {
        name: 'prod',
        promotion: { from: 'staging' },
        reason: 'required', queue: 'supersede',
        approvals: { required: 2, groups: ['ops', 'sre'], allowSelfApproval: true, expiresMs: 86_400_000 },
        windows: [
          { deny: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }, timezone: 'America/New_York' },
          { deny: { start: '2026-12-24T00:00', end: '2027-01-02T00:00' }, timezone: 'Europe/London' },
        ],
        checks: [
          { name: 'ci-green', kind: 'run', argv: ['./scripts/ci-status.sh', '${release.version}', '--env=${environment}'], cwd: dir, timeoutMs: 60_000 },
          {
            name: 'monitoring-up', kind: 'webhook', url: 'https://status.example.com/api/health', method: 'GET',
            headers: { Accept: 'application/json' }, expect: { status: 200, json: { status: 'ok' } }, timeoutMs: 120_000,
          },
          { name: 'scan', kind: 'webhook', url: 'https://scanner.example.com/api/scan', method: 'POST', headers: {}, expect: { status: 200 }, timeoutMs: 120_000 },
        ],
        checklist: [
          { name: 'backup-verified', text: 'Database backup verified (restore tested within 24h)', confirmers: ['ops'] },
          { name: 'change-ticket', text: 'Change ticket approved', confirmers: ['dana', 'sre'] },
        ],
        // The key's PEM block, read when the file is loaded; the comment before it is not part of it.
        image: { exists: true, signature: { publicKey } },
        expedited: { skip: ['window', 'approvals'] },
      },
    ]);
    expect(Object.isFrozen(config.environments[2].checks[1])).toBe(true);
    expect(Object.isFrozen(config.registries[0])).toBe(true);
  });

  it('without groups, registries or incidents: empty, none, and no incident label', () => {
    const config = parseConfig(one, file, { env: {} });
    expect([config.groups, config.registries, config.incidents]).toEqual([{}, [], null]);
    expect(parseConfig(`${one}incidents: {}\n`, file, { env: {} }).incidents).toEqual({ label: 'gangway_freeze', value: 'true' });
  });

  it('an inline PEM public key is accepted as the key', () => {
    const inline = publicKey.trim().split('\n').join('\\n');
    const config = parseConfig(gated(`    image: { signature: { publicKey: "${inline}" } }\n`), file, { env: {} });
    expect(config.environments[1].image).toEqual({ exists: true, signature: { publicKey } });
  });

  it('windows: weekly or one-off shapes, date formats and inverted ranges', () => {
    expect(problemsIn(gated(`    windows:
      - deny: { days: [mon], from: "09:00", start: "2026-12-24T00:00" }
      - deny: { start: "2026-12-24T00:00" }
      - allow: { to: "10:00" }
      - deny: { start: "2026-02-30T00:00", end: "2026-12-24 00:00" }
      - deny: { start: "2027-01-02T00:00", end: "2026-12-24T00:00" }
      - deny: {}
      - deny: { begin: "2027-01-02T00:00" }
`))).toEqual([
      {
        line: 6, column: 9, path: 'environments.prod.windows[0].deny', message: 'a range cannot mix weekly keys (days, from) with one-off keys (start)',
        hint: 'a weekly range takes days, from and to; a one-off range takes start and end; write them as two windows',
      },
      {
        line: 7, column: 9, path: 'environments.prod.windows[1].deny.end', message: 'required key `end` is missing',
        hint: 'a one-off range needs start and end, e.g. `{ start: "2026-12-24T00:00", end: "2027-01-02T00:00" }`',
      },
      {
        line: 8, column: 9, path: 'environments.prod.windows[2].allow.from', message: 'required key `from` is missing',
        hint: 'a weekly range needs from and to, e.g. `{ from: "09:00", to: "17:00" }`',
      },
      {
        line: 9, column: 24, path: 'environments.prod.windows[3].deny.start', message: 'start must be a local date and time "YYYY-MM-DDTHH:MM", got the string "2026-02-30T00:00"',
        hint: 'write it quoted, e.g. "2026-12-24T00:00", a date that exists',
      },
      {
        line: 9, column: 49, path: 'environments.prod.windows[3].deny.end', message: 'end must be a local date and time "YYYY-MM-DDTHH:MM", got the string "2026-12-24 00:00"',
        hint: 'write it quoted, e.g. "2026-12-24T00:00", a date that exists',
      },
      {
        line: 10, column: 9, path: 'environments.prod.windows[4].deny', message: 'start 2027-01-02T00:00 must be before end 2026-12-24T00:00',
        hint: 'a one-off range runs from start (inclusive) to end (exclusive)',
      },
      {
        line: 11, column: 9, path: 'environments.prod.windows[5].deny', message: 'a range needs from and to (weekly) or start and end (one-off)',
        hint: 'e.g. `{ days: [sat, sun], from: "00:00", to: "24:00" }` or `{ start: "2026-12-24T00:00", end: "2027-01-02T00:00" }`',
      },
      { line: 12, column: 17, path: 'environments.prod.windows[6].deny.begin', message: 'unknown key `begin`', hint: 'known keys: days, from, to, start, end' },
    ]);
  });

  it('windows of one kind that overlap in the same time zone, as the window gate sees them', () => {
    expect(problemsIn(gated(`    windows:
      - deny: { days: [mon, tue], from: "09:00", to: "17:00" }
      - deny: { days: [tue], from: "16:00", to: "18:00" }
      - deny: { days: [tue], from: "16:00", to: "18:00" }
        timezone: Europe/Berlin
      - allow: { days: [mon], from: "09:00", to: "17:00" }
      - allow: { days: [tue], from: "09:00", to: "17:00" }
      - deny: { start: "2026-12-24T00:00", end: "2027-01-02T00:00" }
      - deny: { start: "2027-01-01T00:00", end: "2027-01-03T00:00" }
      - deny: { start: "2027-01-03T00:00", end: "2027-01-04T00:00" }
`))).toEqual([
      { line: 7, column: 9, path: 'environments.prod.windows[1]', message: 'windows 0 and 1 overlap on tue 16:00–17:00', hint: 'merge them into one window, or let one end where the other starts' },
      {
        line: 13, column: 9, path: 'environments.prod.windows[6]', message: 'windows 5 and 6 overlap from 2027-01-01 00:00 to 2027-01-02 00:00',
        hint: 'merge them into one window, or let one end where the other starts',
      },
    ]);
  });

  it('approval groups must be declared, and able to give the approvals required', () => {
    const groups = 'groups:\n  ops: [alice, bob]\n  sre: [bob, carol]\n';
    expect(problemsIn(gated(`    approvals: { required: 3, groups: [ops, sre] }
  staging:
    approvals: { required: 4, groups: [ops, sre] }
  qa:
    approvals: { required: 3, groups: [ops] }
  uat:
    approvals: { required: 1, groups: [ops, opps] }
  perf:
    approvals: { required: 1, groups: [qa] }
`, groups, ['staging', 'qa', 'uat', 'perf']))).toEqual([
      {
        line: 10, column: 28, path: 'environments.staging.approvals.required', message: '4 approvals required but ops and sre have 3 members between them',
        hint: 'no deployment could ever be approved: lower required to 3, or add people to the groups',
      },
      {
        line: 12, column: 28, path: 'environments.qa.approvals.required', message: '3 approvals required but ops has 2 members',
        hint: 'no deployment could ever be approved: lower required to 2, or add people to ops',
      },
      { line: 14, column: 45, path: 'environments.uat.approvals.groups[1]', message: 'unknown group `opps`', hint: 'did you mean `ops`?' },
      { line: 16, column: 40, path: 'environments.perf.approvals.groups[0]', message: 'unknown group `qa`', hint: 'groups: ops, sre' },
    ]);
    expect(problemsIn(gated('    approvals: { required: 1, groups: [ops], expires: 0s }\n'))).toEqual([
      { line: 5, column: 55, path: 'environments.prod.approvals.expires', message: 'must be longer than 0', hint: 'write a duration string such as "500ms", "2s", "5m", "1h" or "1m30s"' },
    ]);
    expect(problemsIn(gated('    approvals: { required: 1, groups: [ops, ops] }\n'))).toEqual([
      { line: 5, column: 45, path: 'environments.prod.approvals.groups[1]', message: '`ops` is listed twice', hint: 'list each group once' },
    ]);
    expect(problemsIn(gated('    approvals: { required: 1, groups: [ops] }\n'))).toEqual([
      {
        line: 5, column: 40, path: 'environments.prod.approvals.groups[0]', message: 'unknown group `ops`',
        hint: 'declare it with its members under the top-level groups, e.g. `groups: { ops: [alice, bob] }`',
      },
    ]);
  });

  it('checks: exactly one of run and webhook, the placeholders of a check, a webhook url, names', () => {
    expect(problemsIn(gated(`    checks:
      - name: ci-green
        run: ["./ci.sh", "\${release.version}", "\${port}", "\${enviroment}"]
        webhook: { url: "https://x.example/\${release.version}" }
      - name: nothing
      - name: Bad_Name
        webhook: { url: "ftp://x", method: FETCH }
        timeout: 0s
      - name: as-text
        run: ./ci.sh --strict
`))).toEqual([
      { line: 6, column: 9, path: 'environments.prod.checks[0]', message: 'a check has both run and webhook', hint: 'choose exactly one of run, webhook' },
      {
        line: 7, column: 48, path: 'environments.prod.checks[0].run[2]', message: 'unknown placeholder ${port}',
        hint: 'known placeholders: ${release.version}, ${release.image}, ${environment}, ${service}; write $${…} for a literal ${…}',
      },
      { line: 7, column: 59, path: 'environments.prod.checks[0].run[3]', message: 'unknown placeholder ${enviroment}', hint: 'did you mean ${environment}?' },
      {
        line: 8, column: 25, path: 'environments.prod.checks[0].webhook.url', message: 'placeholders are not filled in a webhook url',
        hint: 'a check that needs the release can `run` a program with ${release.version}; write $ as %24 if the URL holds it',
      },
      { line: 9, column: 9, path: 'environments.prod.checks[1]', message: 'a check must name one of run, webhook', hint: 'choose exactly one of run, webhook' },
      { line: 10, column: 15, path: 'environments.prod.checks[2].name', message: '"Bad_Name" is not a valid check name', hint: 'use lowercase letters, digits and dashes, starting with a letter (e.g. `ci-green`)' },
      { line: 11, column: 25, path: 'environments.prod.checks[2].webhook.url', message: 'url must be an http:// or https:// URL, got "ftp://x"', hint: 'e.g. "https://status.example.com/api/health"' },
      { line: 11, column: 44, path: 'environments.prod.checks[2].webhook.method', message: 'must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS; got the string "FETCH"', hint: 'did you mean `PATCH`?' },
      { line: 12, column: 18, path: 'environments.prod.checks[2].timeout', message: 'must be longer than 0', hint: 'write a duration string such as "500ms", "2s", "5m", "1h" or "1m30s"' },
      {
        line: 14, column: 14, path: 'environments.prod.checks[3].run', message: 'expected a list of arguments, got a string',
        hint: 'write it as a list, e.g. ["./ci.sh", "--strict"]; it is never run through a shell',
      },
    ]);
    expect(problemsIn(gated(`    checks:
      - { name: ci-green, run: [./ci.sh] }
      - { name: ci-green, webhook: { url: "https://ci.example/status" } }
`))).toEqual([
      {
        line: 7, column: 17, path: 'environments.prod.checks[1].name', message: 'duplicate check name `ci-green`',
        hint: 'checks[0] is already named `ci-green`; check names are unique within an environment',
      },
    ]);
  });

  it('checklist: text, confirmers, unique names', () => {
    expect(problemsIn(gated(`    checklist:
      - name: backup
        text: ""
        confirmers: []
      - name: ticket
        text: ok
        confirmers: [ops, ops]
      - name: Backup
        text: ok
        confirmers: [ops]
        confirmer: [ops]
`))).toEqual([
      { line: 7, column: 15, path: 'environments.prod.checklist[0].text', message: 'must not be empty' },
      { line: 8, column: 9, path: 'environments.prod.checklist[0].confirmers', message: 'must have at least 1 item' },
      { line: 11, column: 27, path: 'environments.prod.checklist[1].confirmers[1]', message: '`ops` is listed twice', hint: 'list each confirmer once' },
      {
        line: 12, column: 15, path: 'environments.prod.checklist[2].name', message: '"Backup" is not a valid checklist item name',
        hint: 'use lowercase letters, digits and dashes, starting with a letter (e.g. `backup-verified`)',
      },
      { line: 15, column: 9, path: 'environments.prod.checklist[2].confirmer', message: 'unknown key `confirmer`', hint: 'did you mean `confirmers`?' },
    ]);
    expect(problemsIn(gated(`    checklist:
      - { name: backup, text: a, confirmers: [ops] }
      - { name: backup, text: b, confirmers: [dana] }
`))).toEqual([
      {
        line: 7, column: 17, path: 'environments.prod.checklist[1].name', message: 'duplicate checklist item name `backup`',
        hint: 'checklist[0] is already named `backup`; checklist item names are unique within an environment',
      },
    ]);
  });

  it('checklist confirmers may be groups or people, declared in a group or not', () => {
    const config = parseConfig(gated(`    checklist:
      - { name: backup, text: Backup verified, confirmers: [ops, carol, dana] }
`, 'groups: { ops: [alice], sre: [carol] }\n'), file, { env: {} });
    expect(config.environments[1].checklist).toEqual([{ name: 'backup', text: 'Backup verified', confirmers: ['ops', 'carol', 'dana'] }]);
  });

  it('expedited: known gates only, never reason, each once', () => {
    expect(problemsIn(gated('    expedited: { skip: [reason, windows, approval, bogus, 7] }\n'))).toEqual([
      {
        line: 5, column: 25, path: 'environments.prod.expedited.skip[0]', message: 'reason cannot be skipped',
        hint: 'an expedited deployment always needs a reason: it is recorded and flagged for post-incident review',
      },
      { line: 5, column: 33, path: 'environments.prod.expedited.skip[1]', message: 'unknown gate "windows"', hint: 'did you mean window?' },
      { line: 5, column: 42, path: 'environments.prod.expedited.skip[2]', message: 'unknown gate "approval"', hint: 'did you mean approvals?' },
      {
        line: 5, column: 52, path: 'environments.prod.expedited.skip[3]', message: 'unknown gate "bogus"',
        hint: 'gates: promotion, window, freeze, approvals, image, signature, checks, checklist, rejected',
      },
      { line: 5, column: 59, path: 'environments.prod.expedited.skip[4]', message: 'expected a gate name, got the number 7' },
    ]);
    expect(problemsIn(gated('    expedited: { skip: [window, freeze, window] }\n'))).toEqual([
      { line: 5, column: 41, path: 'environments.prod.expedited.skip[2]', message: '`window` is listed twice', hint: 'list each gate once' },
    ]);
  });

  it('image: the signature key must be a readable PEM public key', () => {
    const keyAt = (publicKey: string) => `    image: { signature: { publicKey: ${publicKey} } }\n`;
    const at = { line: 5, column: 38, path: 'environments.prod.image.signature.publicKey' };
    const pathHint = 'give the path of the cosign public key (cosign.pub) relative to the folder of gangway.yaml, or the PEM text itself';
    expect(problemsIn(gated(keyAt('keys/missing.pub')))).toEqual([{ ...at, message: 'cannot read keys/missing.pub: no such file', hint: pathHint }]);
    expect(problemsIn(gated(keyAt('keys/folder.pub')))).toEqual([{ ...at, message: 'cannot read keys/folder.pub: is a folder, not a file', hint: pathHint }]);
    expect(problemsIn(gated(keyAt('keys/cosign.key')))).toEqual([
      { ...at, message: 'keys/cosign.key holds a private key', hint: 'give the public key (cosign.pub); a private key does not belong next to the config' },
    ]);
    expect(problemsIn(gated(keyAt('keys/notes.txt')))).toEqual([
      { ...at, message: 'keys/notes.txt does not hold a PEM public key', hint: 'a cosign public key starts with -----BEGIN PUBLIC KEY----- (cosign generate-key-pair writes it to cosign.pub)' },
    ]);
    expect(problemsIn(gated(keyAt('keys/broken.pub')))).toEqual([
      { ...at, message: 'keys/broken.pub holds a PEM block that is not a valid public key', hint: 'export the key again with cosign public-key --key <private key> > cosign.pub' },
    ]);
    expect(problemsIn(gated(keyAt('"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----"')))).toEqual([
      { ...at, message: 'the inline key holds a PEM block that is not a valid public key', hint: 'export the key again with cosign public-key --key <private key> > cosign.pub' },
    ]);
    expect(problemsIn(gated('    image: { exists: false, signature: { publicKey: keys/cosign.pub } }\n'))).toEqual([
      { line: 5, column: 22, path: 'environments.prod.image.exists', message: 'a signature check needs the image, so exists cannot be false', hint: 'remove `exists: false`' },
    ]);
    expect(parseConfig(gated('    image: { exists: false }\n'), file, { env: {} }).environments[1].image).toEqual({ exists: false, signature: null });
  });

  it('registries: host, one kind of credentials, each host once', () => {
    expect(problemsIn(gated('', `registries:
  - host: "https://ghcr.io/v2"
  - insecure: true
  - host: "127.0.0.1:5000"
    username: ci
    passwordFromEnv: REG_PASS
    tokenFromEnv: REG_TOKEN
  - host: ghcr.io
    passwordFromEnv: REG_PASS
  - host: quay.io
    username: x
  - host: docker.io
    username: x
    tokenFromEnv: T
  - { host: "ghcr.io/org", tokenFromEnv: "1TOKEN" }
`))).toEqual([
      { line: 3, column: 11, path: 'registries[0].host', message: '"https://ghcr.io/v2" is not a registry host', hint: 'write the host without the scheme: "ghcr.io" (set insecure: true for plain HTTP)' },
      { line: 4, column: 5, path: 'registries[1].host', message: 'required key `host` is missing' },
      {
        line: 5, column: 5, path: 'registries[2]', message: 'a registry has both passwordFromEnv and tokenFromEnv',
        hint: 'choose one: username with passwordFromEnv (basic auth), or tokenFromEnv (a bearer token)',
      },
      { line: 9, column: 5, path: 'registries[3]', message: 'passwordFromEnv needs a username', hint: 'add `username:` beside it' },
      { line: 12, column: 15, path: 'registries[4].username', message: 'username needs passwordFromEnv', hint: 'add `passwordFromEnv:` naming the environment variable that holds the password' },
      { line: 14, column: 15, path: 'registries[5].username', message: 'username is not used with tokenFromEnv', hint: 'remove username, or give passwordFromEnv instead of tokenFromEnv' },
      { line: 16, column: 13, path: 'registries[6].host', message: '"ghcr.io/org" is not a registry host', hint: 'write host[:port] as in image references, e.g. "ghcr.io" or "127.0.0.1:5000"; here "ghcr.io"' },
      {
        line: 16, column: 42, path: 'registries[6].tokenFromEnv', message: '"1TOKEN" is not a valid environment variable name',
        hint: 'use letters, digits and underscores, not starting with a digit, e.g. REGISTRY_PASSWORD',
      },
    ]);
    expect(problemsIn(gated('', 'registries:\n  - host: ghcr.io\n  - host: GHCR.io\n'))).toEqual([
      { line: 4, column: 11, path: 'registries[1].host', message: 'registry GHCR.io is listed twice', hint: 'registries[0] is the same host; keep one' },
    ]);
  });

  it('registries: an unset secret variable is named, and no secret is ever shown', () => {
    const text = gated('', `registries:
  - { host: "127.0.0.1:5000", username: ci, passwordFromEnv: REG_PASS }
  - { host: ghcr.io, tokenFromEnv: GHCR_TOKEN }
  - { host: quay.io, tokenFromEnv: QUAY_TOKEN }
`);
    const problems = problemsIn(text, { REG_PASS: 'hunter2', GHCR_TOKEN: '', OTHER: 'x' });
    expect(problems).toEqual([
      { line: 4, column: 36, path: 'registries[1].tokenFromEnv', message: 'environment variable GHCR_TOKEN is not set', hint: 'set GHCR_TOKEN to the token for ghcr.io before starting gangway' },
      { line: 5, column: 36, path: 'registries[2].tokenFromEnv', message: 'environment variable QUAY_TOKEN is not set', hint: 'set QUAY_TOKEN to the token for quay.io before starting gangway' },
    ]);
    expect(JSON.stringify(problems)).not.toContain('hunter2');
    expect(problemsIn(text, { GHCR_TOKEN: 'ghp_x', QUAY_TOKEN: 'q' })).toEqual([
      { line: 3, column: 62, path: 'registries[0].passwordFromEnv', message: 'environment variable REG_PASS is not set', hint: 'set REG_PASS to the password for 127.0.0.1:5000 before starting gangway' },
    ]);
  });

  it('incidents: a label name and a value, both non-empty strings', () => {
    expect(problemsIn(gated('', 'incidents: { label: "", value: "" }\n'))).toEqual([
      { line: 2, column: 21, path: 'incidents.label', message: 'must not be empty' },
      { line: 2, column: 32, path: 'incidents.value', message: 'must not be empty' },
    ]);
    expect(problemsIn(gated('', 'incidents: { label: 9x, value: true, labels: {} }\n'))).toEqual([
      { line: 2, column: 21, path: 'incidents.label', message: '"9x" is not a valid label name', hint: 'use letters, digits and underscores, not starting with a digit, e.g. gangway_freeze' },
      { line: 2, column: 32, path: 'incidents.value', message: 'expected a string, got true', hint: 'quote it: "true"' },
      { line: 2, column: 38, path: 'incidents.labels', message: 'unknown key `labels`', hint: 'did you mean `label`?' },
    ]);
  });

  it('groups: names like environments, at least one member, each once', () => {
    expect(problemsIn(gated('', 'groups:\n  Ops: [alice]\n  sre: []\n  dba: [bob, bob]\n  web: alice\n'))).toEqual([
      { line: 3, column: 3, path: 'groups.Ops', message: '"Ops" is not a valid group name', hint: 'use lowercase letters, digits and dashes, starting with a letter (e.g. `prod`, `web-api`)' },
      { line: 4, column: 3, path: 'groups.sre', message: 'must have at least 1 item' },
      { line: 5, column: 14, path: 'groups.dba[1]', message: '`bob` is listed twice', hint: 'list each member once' },
      { line: 6, column: 8, path: 'groups.web', message: 'expected a list, got the string "alice"' },
    ]);
  });

  it('gate keys anywhere but an environment point there', () => {
    const text = gated('    image: {}\n', 'image: { exists: true }\nchecks: []\n')
      .replace('    target: { local:', '    checklist: []\n    target: { local:')
      .replace('prod: { target', 'prod: { approvals: {}, windows: [], target');
    const hint = (key: string) => `put it under the top-level environments.<name>.${key}`;
    expect(problemsIn(text)).toEqual([
      { line: 2, column: 1, path: 'image', message: 'image is set per environment', hint: hint('image') },
      { line: 3, column: 1, path: 'checks', message: 'checks is set per environment', hint: hint('checks') },
      { line: 10, column: 5, path: 'services.web.checklist', message: 'checklist is set per environment', hint: hint('checklist') },
      { line: 13, column: 15, path: 'services.web.environments.prod.approvals', message: 'approvals is set per environment', hint: hint('approvals') },
      { line: 13, column: 30, path: 'services.web.environments.prod.windows', message: 'windows is set per environment', hint: hint('windows') },
    ]);
  });
});

describe('parseConfig: records, notifications and migrations', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-integrations-'));
  const file = join(dir, 'gangway.yaml');
  mkdirSync(join(dir, 'records', '.git'), { recursive: true });
  mkdirSync(join(dir, 'plain'));
  mkdirSync(join(dir, 'worktree'));
  writeFileSync(join(dir, 'worktree', '.git'), 'gitdir: /elsewhere/.git/worktrees/records\n');
  writeFileSync(join(dir, 'notes.txt'), 'not a folder\n');
  const env = {
    DEPLOY_WEBHOOK_SECRET: 'whsec_1', SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/xyz',
    GITHUB_TOKEN: 'ghp_token', DATABASE_URL: 'postgres://app:pw@127.0.0.1:5432/shop',
  };

  const problemsIn = (text: string, vars: Record<string, string> = env): Array<Omit<ConfigProblem, 'file'>> => {
    try {
      parseConfig(text, file, { env: vars });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems.map(({ file: _file, ...rest }) => rest);
    }
    throw new Error('expected a ConfigError');
  };

  /** A valid file: `top` goes before `environments`, `migrations` (indented for the service) under service api. */
  const withApi = (top: string, migrations = '', overrides = ''): string => `project: shop
${top}environments:
  dev: {}
  prod: {}
services:
  api:
    target: { local: { command: [node, api.js], cwd: apps/api, port: 8000 } }
${migrations}    environments:
      prod: { target: { local: { port: 9000 } }${overrides} }
`;

  const FILE = `project: shop
records:
  repo: records
  path: "audit/{service}/{environment}/"
  remote: origin
  branch: main
  author: { name: Release Bot, email: release@example.com }
  pushRetries: 5
notifications:
  - name: ops-webhook
    webhook: { url: "https://hooks.example.com/deploys", secretFromEnv: DEPLOY_WEBHOOK_SECRET }
    events: [failed, rolled_back]
    timeout: 2s
    retries: 0
  - name: team-slack
    slack: { urlFromEnv: SLACK_WEBHOOK_URL }
  - name: github
    github: { repo: acme/shop, tokenFromEnv: GITHUB_TOKEN, apiUrl: "https://github.example.com/api/v3/" }
  - name: local
    slack: { url: "http://127.0.0.1:9999/slack" }
environments:
  dev: {}
  prod: {}
services:
  api:
    target: { local: { command: [node, api.js], cwd: apps/api, port: 8000 } }
    migrations:
      backup: { pgDump: { urlFromEnv: DATABASE_URL, dir: var/backups } }
      migrate: ["npx", "knex", "migrate:latest"]
      validate: { sql: { urlFromEnv: DATABASE_URL, query: "select count(*) > 0 from users" } }
      rollback: { down: ["npx", "knex", "migrate:down"] }
      timeout: 2m
      env: { NODE_ENV: production, RELEASE: "\${release.version}" }
    environments:
      dev: { target: { local: { port: 8100 } }, migrations: null }
      prod:
        target: { local: { port: 9000 } }
        migrations:
          backup: { run: ["./backup.sh", "\${environment}"] }
          validate: { run: ["./check.sh"] }
          rollback: irreversible
          cwd: db
  worker:
    target: { local: { command: [node, worker.js], port: 8001 } }
    migrations:
      backup: { pgDump: { url: "postgres://app@127.0.0.1/shop" } }
      migrate: [./migrate]
      rollback: restore
    environments:
      dev: { target: { local: { port: 8101 } } }
      prod: { target: { local: { port: 9001 } } }
`;

  it('compiles records, every kind of notifier and migrations exactly, overrides merged', () => {
    const config = parseConfig(FILE, file, { env });
    expect(config.records).toEqual({
      repo: join(dir, 'records'), path: 'audit/{service}/{environment}', remote: 'origin', branch: 'main',
      author: { name: 'Release Bot', email: 'release@example.com' }, pushRetries: 5,
    });
    const all = ['started', 'waiting', 'succeeded', 'failed', 'rolled_back', 'superseded'];
    expect(config.notifications).toEqual([
      { kind: 'webhook', name: 'ops-webhook', url: 'https://hooks.example.com/deploys', secret: 'whsec_1', events: ['failed', 'rolled_back'], timeoutMs: 2000, retries: 0 },
      { kind: 'slack', name: 'team-slack', url: 'https://hooks.slack.com/services/T0/B0/xyz', events: all, timeoutMs: 5000, retries: 3 },
      { kind: 'github', name: 'github', apiUrl: 'https://github.example.com/api/v3', repo: 'acme/shop', token: 'ghp_token', events: all, timeoutMs: 5000, retries: 3 },
      { kind: 'slack', name: 'local', url: 'http://127.0.0.1:9999/slack', events: all, timeoutMs: 5000, retries: 3 },
    ]);
    expect(config.services.api.dev.migrations).toBeNull();
    expect(config.services.api.prod.migrations).toEqual({
      backup: { kind: 'run', argv: ['./backup.sh', '${environment}'] },
      migrate: { argv: ['npx', 'knex', 'migrate:latest'] },
      validate: { kind: 'run', argv: ['./check.sh'] },
      rollback: { kind: 'irreversible' },
      cwd: join(dir, 'db'),
      timeoutMs: 120_000,
      env: { NODE_ENV: 'production', RELEASE: '${release.version}' },
    });
    const worker = {
      backup: { kind: 'pgDump', url: 'postgres://app@127.0.0.1/shop', dir: join(dir, '.gangway', 'backups') },
      migrate: { argv: ['./migrate'] },
      validate: null,
      rollback: { kind: 'restore' },
      cwd: dir,
      timeoutMs: 600_000,
      env: {},
    };
    expect([config.services.worker.dev.migrations, config.services.worker.prod.migrations]).toEqual([worker, worker]);
    expect(Object.isFrozen(config.services.worker.prod.migrations?.backup)).toBe(true);
    expect(Object.isFrozen(config.notifications[0].events)).toBe(true);
  });

  it('the service\'s migrations, with a pg_dump backup and sql validation, compile with every default', () => {
    const config = parseConfig(withApi('', `    migrations:
      backup: { pgDump: { urlFromEnv: DATABASE_URL, dir: var/backups } }
      migrate: [npx, knex, "migrate:latest"]
      validate: { sql: { urlFromEnv: DATABASE_URL, query: "select true" } }
      rollback: { down: [npx, knex, "migrate:down"] }
`), file, { env });
    expect(config.services.api.dev.migrations).toEqual({
      backup: { kind: 'pgDump', url: 'postgres://app:pw@127.0.0.1:5432/shop', dir: join(dir, 'var', 'backups') },
      migrate: { argv: ['npx', 'knex', 'migrate:latest'] },
      validate: { kind: 'sql', url: 'postgres://app:pw@127.0.0.1:5432/shop', query: 'select true' },
      rollback: { kind: 'down', argv: ['npx', 'knex', 'migrate:down'] },
      cwd: join(dir, 'apps', 'api'),
      timeoutMs: 600_000,
      env: {},
    });
    expect(config.services.api.prod.migrations).toEqual(config.services.api.dev.migrations);
  });

  it('without records, notifications or migrations: none', () => {
    const config = parseConfig(withApi(''), file, { env: {} });
    expect([config.records, config.notifications, config.services.api.dev.migrations]).toEqual([null, [], null]);
    expect(parseConfig(withApi('records: { repo: records }\n'), file, { env: {} }).records).toEqual({
      repo: join(dir, 'records'), path: 'docs/deployments/{environment}', remote: null, branch: null,
      author: { name: 'Gangway', email: 'gangway@localhost' }, pushRetries: 3,
    });
  });

  it('records.repo must be a folder with a .git (a worktree\'s .git file counts)', () => {
    const at = { line: 2, column: 18, path: 'records.repo' };
    expect(problemsIn(withApi('records: { repo: plain }\n'))).toEqual([
      { ...at, message: `${join(dir, 'plain')} is not a git repository (it has no .git)`, hint: 'run `git init` in it, or give the top folder of an existing repository' },
    ]);
    expect(problemsIn(withApi('records: { repo: missing }\n'))).toEqual([{
      ...at, message: `${join(dir, 'missing')} does not exist`,
      hint: 'create the folder and run `git init` in it, or give the folder of an existing git repository (relative to the folder of gangway.yaml)',
    }]);
    expect(problemsIn(withApi('records: { repo: notes.txt }\n'))).toEqual([
      { ...at, message: `${join(dir, 'notes.txt')} is a file, not a folder`, hint: 'give the folder of a git repository, relative to the folder of gangway.yaml' },
    ]);
    expect(parseConfig(withApi('records: { repo: worktree }\n'), file, { env: {} }).records?.repo).toBe(join(dir, 'worktree'));
  });

  it('records: path placeholders, branch, remote, author and retries', () => {
    expect(problemsIn(withApi(`records:
  path: "docs/{enviroment}/{servce}/{team}"
  remote: "-u"
  branch: "feature..x"
  author: { name: "", email: "gangway" }
  pushRetries: -1
`))).toEqual([
      { line: 2, column: 1, path: 'records.repo', message: 'required key `repo` is missing' },
      { line: 3, column: 9, path: 'records.path', message: 'unknown placeholder {enviroment}', hint: 'did you mean {environment}?' },
      { line: 3, column: 9, path: 'records.path', message: 'unknown placeholder {servce}', hint: 'did you mean {service}?' },
      { line: 3, column: 9, path: 'records.path', message: 'unknown placeholder {team}', hint: 'known placeholders: {environment}, {service}' },
      { line: 4, column: 11, path: 'records.remote', message: '"-u" is not a remote', hint: 'give the name of a remote of the repository (e.g. origin) or its URL' },
      {
        line: 5, column: 11, path: 'records.branch', message: '"feature..x" is not a valid branch name',
        hint: 'e.g. main or deployment-records: no spaces, none of ~ ^ : ? * [ \\, no "..", not starting with "-"',
      },
      { line: 6, column: 19, path: 'records.author.name', message: 'must be a name without < > or line breaks', hint: 'e.g. "Gangway"' },
      { line: 6, column: 30, path: 'records.author.email', message: '"gangway" is not an email address', hint: 'e.g. "gangway@localhost"' },
      { line: 7, column: 16, path: 'records.pushRetries', message: 'must be at least 0, got the number -1' },
    ]);
    const pathOf = (path: string) => problemsIn(withApi(`records: { repo: records, path: "${path}" }\n`));
    const at = { line: 2, column: 33, path: 'records.path' };
    expect(pathOf('/docs/deployments')).toEqual([{ ...at, message: 'path must be relative to the repository', hint: 'write it without the leading "/", e.g. "docs/deployments"' }]);
    expect(pathOf('../other/{environment}')).toEqual([
      { ...at, message: 'path must stay inside the repository', hint: 'remove the ".." parts; to write elsewhere, point records.repo at that repository' },
    ]);
    expect(pathOf('docs/${environment}')).toEqual([{ ...at, message: 'placeholders in path are written {name}, without $', hint: 'write "docs/{environment}"' }]);
  });

  it('notifications: exactly one kind, unique names, known events, URLs', () => {
    expect(problemsIn(withApi(`notifications:
  - name: ops
    webhook: { url: "ftp://hooks.example.com" }
    slack: { urlFromEnv: SLACK_WEBHOOK_URL }
  - name: Ops
    events: [started, rolledback, finished, started]
  - name: quiet
    github: { repo: acme/shop, tokenFromEnv: GITHUB_TOKEN }
    events: []
    timeout: 0s
    retries: 1.5
  - name: hook
    webhook: { url: "https://user:secret@hooks.example.com/x" }
  - name: hook
    webhook: { urlFromEnv: HOOK_URL, url: "https://hooks.example.com" }
`))).toEqual([
      { line: 3, column: 5, path: 'notifications[0]', message: 'a notifier has both webhook and slack', hint: 'choose exactly one of webhook, slack, github' },
      { line: 4, column: 21, path: 'notifications[0].webhook.url', message: 'url must be an http:// or https:// URL, got "ftp://hooks.example.com"', hint: 'e.g. "https://hooks.example.com/deploys"' },
      { line: 6, column: 11, path: 'notifications[1].name', message: '"Ops" is not a valid notifier name', hint: 'use lowercase letters, digits and dashes, starting with a letter (e.g. `ops-webhook`)' },
      { line: 7, column: 23, path: 'notifications[1].events[1]', message: 'unknown event "rolledback"', hint: 'did you mean rolled_back?' },
      { line: 7, column: 35, path: 'notifications[1].events[2]', message: 'unknown event "finished"', hint: 'events: started, waiting, succeeded, failed, rolled_back, superseded' },
      { line: 10, column: 5, path: 'notifications[2].events', message: 'events is empty, so nothing would be sent', hint: 'remove events to be told of every event' },
      { line: 11, column: 14, path: 'notifications[2].timeout', message: 'must be longer than 0', hint: 'write a duration string such as "500ms", "2s", "5m", "1h" or "1m30s"' },
      { line: 12, column: 14, path: 'notifications[2].retries', message: 'expected a whole number, got the number 1.5' },
      {
        line: 14, column: 21, path: 'notifications[3].webhook.url', message: 'the url holds a password',
        hint: 'secrets stay out of the file: give the URL through urlFromEnv, or sign requests with secretFromEnv',
      },
      { line: 16, column: 5, path: 'notifications[4].webhook', message: 'webhook has both url and urlFromEnv', hint: 'choose exactly one of url, urlFromEnv' },
    ]);
    expect(problemsIn(withApi('notifications:\n  - { name: ops, slack: { urlFromEnv: A } }\n  - { name: ops, slack: { urlFromEnv: B } }\n  - { name: x, slack: { urlFromEnv: A }, events: [failed, failed] }\n'))).toEqual([
      { line: 4, column: 13, path: 'notifications[1].name', message: 'duplicate notifier name `ops`', hint: 'notifications[0] is already named `ops`; notifier names are unique within the file' },
      { line: 5, column: 59, path: 'notifications[2].events[1]', message: '`failed` is listed twice', hint: 'list each event once' },
    ]);
  });

  it('notifications: a Slack URL only from the environment (or a receiver on this machine), a GitHub repo as owner/name', () => {
    expect(problemsIn(withApi(`notifications:
  - name: slack
    slack: { url: "https://hooks.slack.com/services/T0/B0/xyz" }
  - name: empty
    slack: {}
  - name: gh
    github: { repo: "https://github.com/acme/shop.git", tokenFromEnv: GITHUB_TOKEN }
  - name: gh2
    github: { repo: acme, apiUrl: "api.github.com" }
`))).toEqual([
      {
        line: 4, column: 19, path: 'notifications[0].slack.url', message: 'a Slack webhook URL is a secret: give it through urlFromEnv',
        hint: 'put it in an environment variable and write `urlFromEnv: SLACK_WEBHOOK_URL`; url is for a receiver on this machine (127.0.0.1, localhost)',
      },
      {
        line: 6, column: 5, path: 'notifications[1].slack', message: 'slack must name one of urlFromEnv, url',
        hint: 'give urlFromEnv naming the environment variable that holds the incoming webhook URL, e.g. SLACK_WEBHOOK_URL',
      },
      { line: 8, column: 21, path: 'notifications[2].github.repo', message: '"https://github.com/acme/shop.git" is not a GitHub repository', hint: 'write "acme/shop"' },
      { line: 10, column: 5, path: 'notifications[3].github.tokenFromEnv', message: 'required key `tokenFromEnv` is missing' },
      { line: 10, column: 21, path: 'notifications[3].github.repo', message: '"acme" is not a GitHub repository', hint: 'write "owner/name", e.g. "acme/shop"' },
      { line: 10, column: 35, path: 'notifications[3].github.apiUrl', message: 'apiUrl must be an http:// or https:// URL, got "api.github.com"', hint: 'e.g. "https://api.github.com"' },
    ]);
  });

  it('notifications: an unset or wrong secret variable is named, its value never shown', () => {
    const text = withApi(`notifications:
  - { name: hook, webhook: { urlFromEnv: HOOK_URL, secretFromEnv: HOOK_SECRET } }
  - { name: slack, slack: { urlFromEnv: SLACK_WEBHOOK_URL } }
  - { name: gh, github: { repo: acme/shop, tokenFromEnv: GITHUB_TOKEN } }
`);
    const problems = problemsIn(text, { HOOK_URL: 'hooks.example.com/secret-path', SLACK_WEBHOOK_URL: '' });
    expect(problems).toEqual([
      {
        line: 3, column: 42, path: 'notifications[0].webhook.urlFromEnv', message: 'environment variable HOOK_URL does not hold an http:// or https:// URL',
        hint: 'set it to the URL notifier hook posts to (its value is not shown here: it may be a secret)',
      },
      { line: 3, column: 67, path: 'notifications[0].webhook.secretFromEnv', message: 'environment variable HOOK_SECRET is not set', hint: 'set HOOK_SECRET to the secret that signs notifier hook\'s requests before starting gangway' },
      { line: 4, column: 41, path: 'notifications[1].slack.urlFromEnv', message: 'environment variable SLACK_WEBHOOK_URL is not set', hint: 'set SLACK_WEBHOOK_URL to the incoming webhook URL of notifier slack before starting gangway' },
      { line: 5, column: 58, path: 'notifications[2].github.tokenFromEnv', message: 'environment variable GITHUB_TOKEN is not set', hint: 'set GITHUB_TOKEN to a token that may create deployments in acme/shop before starting gangway' },
    ]);
    expect(JSON.stringify(problems)).not.toContain('secret-path');
  });

  it('migrations: exactly one kind of backup, validation and rollback; migrate non-empty', () => {
    expect(problemsIn(withApi('', `    migrations:
      backup: { run: [./backup.sh], pgDump: { dir: backups } }
      migrate: []
      validate: {}
      rollback: restor
      timeout: 10
      env: { 1X: a, B: "\${port}" }
`))).toEqual([
      { line: 9, column: 7, path: 'services.api.migrations.backup', message: 'backup has both pgDump and run', hint: 'choose exactly one of pgDump, run' },
      {
        line: 9, column: 37, path: 'services.api.migrations.backup.pgDump', message: 'pgDump must name one of url, urlFromEnv',
        hint: 'give urlFromEnv naming the environment variable that holds the database URL, e.g. DATABASE_URL',
      },
      { line: 10, column: 7, path: 'services.api.migrations.migrate', message: 'migrate is empty', hint: 'give the program and its arguments, e.g. ["node", "server.js"]' },
      { line: 11, column: 7, path: 'services.api.migrations.validate', message: 'validate must name one of run, sql', hint: 'choose exactly one of run, sql' },
      { line: 12, column: 17, path: 'services.api.migrations.rollback', message: 'unknown rollback "restor"', hint: 'did you mean restore?' },
      { line: 13, column: 16, path: 'services.api.migrations.timeout', message: 'expected a duration, got the number 10', hint: 'write a duration string such as "10s"' },
      { line: 14, column: 14, path: 'services.api.migrations.env["1X"]', message: '"1X" is not a valid environment variable name', hint: 'use letters, digits and underscores, not starting with a digit' },
      { line: 14, column: 24, path: 'services.api.migrations.env.B', message: 'unknown placeholder ${port}', hint: 'known placeholders: ${release.version}, ${release.image}, ${environment}, ${service}; write $${…} for a literal ${…}' },
    ]);
    expect(problemsIn(withApi('', `    migrations:
      migrate: "knex migrate:latest"
      rollback: { restore: true }
    migrations2: {}
`))).toEqual([
      { line: 9, column: 16, path: 'services.api.migrations.migrate', message: 'expected a list of arguments, got a string', hint: 'write it as a list, e.g. ["knex", "migrate:latest"]; it is never run through a shell' },
      { line: 10, column: 19, path: 'services.api.migrations.rollback.restore', message: 'restore takes no options', hint: 'write `rollback: restore`' },
      { line: 11, column: 5, path: 'services.api.migrations2', message: 'unknown key `migrations2`', hint: 'did you mean `migrations`?' },
    ]);
    const rollbackHint = 'write `{ down: [...] }` (a down migration), `restore` (the backup.pgDump taken before migrating) or `irreversible` (a rollback stops and asks a person)';
    expect(problemsIn(withApi('', '    migrations: { migrate: [x], rollback: {} }\n'))).toEqual([
      { line: 8, column: 33, path: 'services.api.migrations.rollback', message: 'rollback needs down', hint: rollbackHint },
    ]);
    expect(problemsIn(withApi('', '    migrations: { migrate: [x], rollback: 5 }\n'))).toEqual([
      { line: 8, column: 43, path: 'services.api.migrations.rollback', message: 'rollback must be restore, irreversible or { down: [...] }, got the number 5', hint: rollbackHint },
    ]);
    expect(problemsIn(withApi('', '    migrations: { migrate: [x] }\n'))).toEqual([
      { line: 8, column: 5, path: 'services.api.migrations.rollback', message: 'required key `rollback` is missing', hint: rollbackHint },
    ]);
  });

  it('migrations: restore needs backup.pgDump, also after merging an environment\'s overrides', () => {
    expect(problemsIn(withApi('', '    migrations: { migrate: [x], rollback: restore }\n'))).toEqual([
      {
        line: 8, column: 43, path: 'services.api.migrations.rollback', message: 'restore needs backup.pgDump',
        hint: 'add `backup: { pgDump: { urlFromEnv: DATABASE_URL } }`, or roll back with `{ down: [...] }`',
      },
    ]);
    expect(problemsIn(withApi('', '    migrations: { backup: { run: [./backup.sh] }, migrate: [x], rollback: restore }\n'))).toEqual([
      {
        line: 8, column: 75, path: 'services.api.migrations.rollback', message: 'restore needs backup.pgDump',
        hint: 'Gangway restores only what pg_dump saved; a `run` backup is yours to restore: roll back with `{ down: [...] }`, or say `irreversible`',
      },
    ]);
    const pgDump = '    migrations: { backup: { pgDump: { urlFromEnv: DATABASE_URL } }, migrate: [x], rollback: restore }\n';
    expect(problemsIn(withApi('', pgDump, ', migrations: { backup: null }'))).toEqual([
      {
        line: 8, column: 93, path: 'services.api.migrations.rollback', message: 'restore needs backup.pgDump (in environment prod, after merging its overrides)',
        hint: 'add `backup: { pgDump: { urlFromEnv: DATABASE_URL } }`, or roll back with `{ down: [...] }`',
      },
    ]);
    expect(problemsIn(withApi('', pgDump, ', migrations: { backup: { run: [./b] }, rollback: restore }'))).toEqual([
      {
        line: 10, column: 98, path: 'services.api.environments.prod.migrations.rollback', message: 'restore needs backup.pgDump',
        hint: 'Gangway restores only what pg_dump saved; a `run` backup is yours to restore: roll back with `{ down: [...] }`, or say `irreversible`',
      },
    ]);
  });

  it('migrations: database URLs from the environment or without a password; an unset variable is named where it is written', () => {
    expect(problemsIn(withApi('', `    migrations:
      backup: { pgDump: { url: "postgres://app:hunter2@db/shop" } }
      migrate: [x]
      validate: { sql: { url: "mysql://db/shop", urlFromEnv: DATABASE_URL, query: "" } }
      rollback: restore
`))).toEqual([
      {
        line: 9, column: 32, path: 'services.api.migrations.backup.pgDump.url', message: 'the URL holds a password',
        hint: 'secrets stay out of the file: put the URL in an environment variable and give urlFromEnv (e.g. DATABASE_URL)',
      },
      { line: 11, column: 19, path: 'services.api.migrations.validate.sql', message: 'sql has both url and urlFromEnv', hint: 'choose exactly one of url, urlFromEnv' },
      { line: 11, column: 31, path: 'services.api.migrations.validate.sql.url', message: 'must be a postgres:// URL', hint: 'e.g. "postgres://app@127.0.0.1:5432/shop"; prefer urlFromEnv to keep the password out of the file' },
      { line: 11, column: 83, path: 'services.api.migrations.validate.sql.query', message: 'must not be empty' },
    ]);
    const text = withApi('', `    migrations:
      backup: { pgDump: { urlFromEnv: DATABASE_URL } }
      migrate: [x]
      validate: { sql: { urlFromEnv: CHECK_DB_URL, query: "select true" } }
      rollback: restore
`, ', migrations: { backup: { pgDump: { urlFromEnv: PROD_DATABASE_URL } } }');
    const problems = problemsIn(text, { CHECK_DB_URL: 'mysql://root:hunter2@db/shop' });
    expect(problems).toEqual([
      {
        line: 9, column: 39, path: 'services.api.migrations.backup.pgDump.urlFromEnv', message: 'environment variable DATABASE_URL is not set',
        hint: 'set DATABASE_URL to the postgres:// URL of the database to back up before starting gangway',
      },
      {
        line: 11, column: 38, path: 'services.api.migrations.validate.sql.urlFromEnv', message: 'environment variable CHECK_DB_URL does not hold a postgres:// URL',
        hint: 'set it to the postgres:// URL of the database to validate (its value is not shown here: it may be a secret)',
      },
      {
        line: 14, column: 96, path: 'services.api.environments.prod.migrations.backup.pgDump.urlFromEnv', message: 'environment variable PROD_DATABASE_URL is not set',
        hint: 'set PROD_DATABASE_URL to the postgres:// URL of the database to back up before starting gangway',
      },
    ]);
    expect(JSON.stringify(problems)).not.toContain('hunter2');
    // An environment that turns migrations off needs none of their variables.
    expect(parseConfig(withApi('', '    migrations: { backup: { pgDump: { urlFromEnv: DATABASE_URL } }, migrate: [x], rollback: restore }\n', ', migrations: null')
      .replace('dev: {}\n  prod: {}', 'prod: {}'), file, { env: {} }).services.api.prod.migrations).toBeNull();
  });

  it('records, notifications and migrations anywhere but their place point there', () => {
    const text = withApi('migrations: {}\n', '    records: { repo: records }\n', ', notifications: []')
      .replace('  prod: {}\n', '  prod: { migrations: {}, notifications: [] }\n');
    expect(problemsIn(text)).toEqual([
      { line: 2, column: 1, path: 'migrations', message: 'migrations are set per service', hint: 'put them under services.<name>.migrations (an environment\'s overrides may change or turn them off)' },
      { line: 5, column: 11, path: 'environments.prod.migrations', message: 'migrations are set per service', hint: 'put them under services.<name>.migrations (an environment\'s overrides may change or turn them off)' },
      { line: 5, column: 27, path: 'environments.prod.notifications', message: 'notifications are set once, at the top level', hint: 'move them to the top level of the file; each notifier\'s events say what it is told' },
      { line: 9, column: 5, path: 'services.api.records', message: 'records is set once, at the top level', hint: 'move it to the top level of the file; records.path may hold {environment} and {service}' },
      { line: 11, column: 50, path: 'services.api.environments.prod.notifications', message: 'notifications are set once, at the top level', hint: 'move them to the top level of the file; each notifier\'s events say what it is told' },
    ]);
  });
});

describe('parseConfig: target.kubernetes and jobs', () => {
  const text = `project: shop
environments: { dev: {}, prod: {} }
services:
  web:
    target: { local: { command: [node, web.js], port: 8080 } }
    jobs: { beforeRollout: [{ manifest: k8s/migrate.yaml }] }
    environments:
      prod:
        target:
          kubernetes:
            kubeconfig: ~/.kube/prod
            context: prod
            kustomize: k8s/overlays/production
            httpRoute: web-route
            instances: 4
            requestTimeout: 10s
        jobs: { beforeRollout: [{ manifest: k8s/migrate.yaml, timeout: 300s }] }
`;

  it('compiles every default, resolves paths (~ is the home folder), and an override may change the target kind', () => {
    const config = parseConfig(text, FILE, { env: {} });
    expect(config.services.web.dev.target.kind).toBe('local');
    expect(config.services.web.prod.target).toEqual({
      kind: 'kubernetes', instances: 4, kubeconfig: join(homedir(), '.kube/prod'), context: 'prod', namespace: null,
      source: { kind: 'kustomize', path: '/srv/shop/k8s/overlays/production' }, deployment: 'web', container: null, service: 'web', httpRoute: 'web-route',
      port: null, image: null, restartLimit: 0, kubectl: 'kubectl', requestTimeoutMs: 10_000,
    });
    expect(config.services.web.prod.jobs).toEqual({ beforeRollout: [{ manifest: '/srv/shop/k8s/migrate.yaml', timeoutMs: 300_000 }] });
    expect(config.services.web.dev.jobs).toEqual({ beforeRollout: [{ manifest: '/srv/shop/k8s/migrate.yaml', timeoutMs: 300_000 }] });
  });

  it('reports a bad namespace, both manifests and kustomize, and a negative restartLimit with file:line', () => {
    const bad = `project: shop
environments: { dev: {} }
services:
  web:
    target:
      kubernetes: { namespace: Shop_Prod, manifests: k8s, kustomize: k8s/overlay, restartLimit: -1 }
`;
    expect(problemsOf(bad).map((p) => [p.line, p.path, p.message])).toEqual([
      [6, 'services.web.target.kubernetes', 'target.kubernetes has both manifests and kustomize'],
      [6, 'services.web.target.kubernetes.namespace', '"Shop_Prod" is not a valid Kubernetes namespace name'],
      [6, 'services.web.target.kubernetes.restartLimit', 'must be at least 0, got the number -1'],
    ]);
  });
});

describe('parseConfig: target.helm and target.gitops', () => {
  const text = `project: shop
environments: { dev: {}, staging: {}, prod: {} }
services:
  web:
    target:
      gitops:
        repo: ../deploy
        file: helm/environments/{environment}-env/image-tags.yaml
        application: web-{environment}
        argocd: { server: "https://argocd.example.com/", tokenFromEnv: ARGOCD_TOKEN }
        namespace: shop
    environments:
      staging:
        target:
          gitops:
            repo: git@git.example.com:bank/deploy.git
            branch: release
            key: web.image.tag
            syncTimeout: 10m
            settle: 30s
            restartLimit: 1
      prod:
        target:
          helm:
            release: lend-smart-prod
            chart: ./helm/lend-smart
            namespace: prod
            values: [values-prod.yaml]
            imageKeys: { repository: image.repository, tag: image.tag }
            setString: { podAnnotations.release: "\${release.version}" }
            timeout: 10m
`;

  it('compiles every default and resolves paths; an override may change the target kind', () => {
    const config = parseConfig(text, FILE, { env: {} });
    const cluster = (namespace: string) => ({ kubeconfig: null, context: null, namespace, requestTimeoutMs: 30_000 });
    const gitops = {
      kind: 'gitops', instances: 1, repo: '/srv/deploy', remote: null, branch: 'main', file: 'helm/environments/{environment}-env/image-tags.yaml', key: 'image.tag',
      application: 'web-{environment}', argocd: { server: 'https://argocd.example.com', tokenFromEnv: 'ARGOCD_TOKEN', insecure: false },
      syncTimeoutMs: 300_000, settleMs: 10_000, prune: false, cluster: cluster('shop'), deployment: 'web', service: 'web', container: null, port: null, restartLimit: 0,
      blueGreen: null, canary: null,
    };
    expect(config.services.web.dev.target).toEqual(gitops);
    expect(config.services.web.staging.target).toEqual({
      ...gitops, repo: 'git@git.example.com:bank/deploy.git', branch: 'release', key: 'web.image.tag', syncTimeoutMs: 600_000, settleMs: 30_000, restartLimit: 1,
    });
    expect(config.services.web.prod.target).toEqual({
      kind: 'helm', ...cluster('prod'), instances: 1, deployment: 'lend-smart-prod', container: null, service: 'lend-smart-prod', port: null, restartLimit: 0,
      release: 'lend-smart-prod', chart: '/srv/shop/helm/lend-smart', chartVersion: null, values: ['/srv/shop/values-prod.yaml'],
      imageKeys: { repository: 'image.repository', tag: 'image.tag' }, setString: { 'podAnnotations.release': '${release.version}' },
      timeoutMs: 600_000, helm: 'helm', httpRoute: null, image: null,
    });
  });

  it('keeps a chart reference as helm takes it, and defaults the image key to image.tag', () => {
    const ref = `project: shop
environments: { dev: {} }
services:
  web:
    target: { helm: { chart: oci://registry.example.com/charts/web, chartVersion: 1.2.3 } }
`;
    const t = parseConfig(ref, FILE, { env: {} }).services.web.dev.target;
    expect(t).toMatchObject({ kind: 'helm', release: 'web', chart: 'oci://registry.example.com/charts/web', chartVersion: '1.2.3', imageKeys: { repository: null, tag: 'image.tag' }, values: [], timeoutMs: 300_000 });
  });

  it('reports both image keys, a bad values key, an unknown placeholder, a bad Argo CD URL and token variable with file:line', () => {
    const bad = `project: shop
environments: { dev: {} }
services:
  web:
    target:
      helm: { chart: ./c, imageKey: "image tag", imageKeys: { repository: a, tag: b } }
    environments:
      dev:
        target:
          gitops:
            repo: ../deploy
            file: "helm/{env}/tags.yaml"
            argocd: { server: "ftp://argo", tokenFromEnv: "1TOKEN" }
`;
    expect(problemsOf(bad).map((p) => [p.line, p.path, p.message])).toEqual([
      [6, 'services.web.target.helm', 'target.helm has both imageKey and imageKeys'],
      [6, 'services.web.target.helm.imageKey', '"image tag" is not a values key'],
      [12, 'services.web.environments.dev.target.gitops.file', 'unknown placeholder {env} in target.gitops.file'],
      [13, 'services.web.environments.dev.target.gitops.argocd.server', '"ftp://argo" is not an http(s) URL'],
      [13, 'services.web.environments.dev.target.gitops.argocd.tokenFromEnv', '"1TOKEN" is not an environment variable name'],
    ]);
  });
});
