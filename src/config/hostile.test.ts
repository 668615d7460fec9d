/**
 * Config files written to break `gangway validate`: keys named like Object methods, durations no
 * timer can wait, values that would split an HTTP request, and files huge in size or in count.
 * Each is refused (or accepted) with an exact message and position, within the limits.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import type { ConfigProblem } from '../errors.js';
import { MAX_ENVIRONMENTS, MAX_PROBLEMS, MAX_SERVICES, MAX_WINDOWS } from './limits.js';
import { loadConfig, parseConfig } from './load.js';

function problemsOf(text: string, env: Record<string, string> = {}): Array<Omit<ConfigProblem, 'file'>> {
  try {
    parseConfig(text, 'gangway.yaml', { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map(({ file: _file, ...rest }) => rest);
  }
  throw new Error('expected a ConfigError');
}

const head = `project: shop
environments:
  dev: {}
services:
  web:
    target: { local: { command: [node, server.js], port: 8080 } }
`;

const MORE = (n: number) => `… and ${n} more problems from here on (only the first ${MAX_PROBLEMS} are listed)`;
const MORE_HINT = 'fix the problems above and validate again to see the rest';

describe('names that are Object methods', () => {
  const text = `project: shop
groups: { constructor: [alice] }
analysis:
  constructor: { rules: [ { name: r, healthFailures: { consecutive: 1 } } ] }
environments:
  dev: {}
  constructor:
    promotion: { from: dev }
    approvals: { required: 1, groups: [constructor] }
services:
  constructor:
    target: { local: { command: [node], port: 8000 } }
    analysis: constructor
    environments:
      constructor: { target: { local: { port: 8100 } } }
  web:
    dependsOn: [constructor]
    target: { local: { command: [node], port: 8001 } }
    environments:
      constructor: { target: { local: { port: 8101 } } }
`;

  it('work as names of services, environments, groups and templates, and undeclared ones find nothing', () => {
    const config = parseConfig(text, '/srv/shop/gangway.yaml', { env: {} });
    expect(config.serviceNames).toEqual(['constructor', 'web']);
    expect(config.environments.map((e) => e.name)).toEqual(['dev', 'constructor']);
    // A variable, as callers look names up: TypeScript reads `.constructor` as Object's own.
    const name: string = 'constructor';
    expect(Object.keys(config.services[name])).toEqual(['dev', 'constructor']);
    expect(config.services[name][name].target).toMatchObject({ kind: 'local', port: 8100 });
    expect(config.services[name].dev.target).toMatchObject({ kind: 'local', port: 8000 });
    expect(config.services.web[name].target).toMatchObject({ kind: 'local', port: 8101 });
    expect(config.services[name].dev.analysis).toBe('constructor');
    expect(config.groups[name]).toEqual(['alice']);
    expect(config.analysisTemplates[name].rules).toHaveLength(1);
    // Looked up by a name that is not declared, each finds nothing rather than an Object method.
    for (const name of ['toString', 'hasOwnProperty', 'valueOf', '__proto__']) {
      expect(config.services[name]).toBeUndefined();
      expect(config.services.web[name]).toBeUndefined();
      expect(config.groups[name]).toBeUndefined();
      expect(config.analysisTemplates[name]).toBeUndefined();
    }
    expect(Object.getPrototypeOf(config.services)).toBeNull();
  });

  it('are refused where they name something not declared', () => {
    const refs = head.replace('  dev: {}\n', '  dev: {}\n  prod:\n    promotion: { from: constructor }\n    approvals: { required: 1, groups: [toString] }\n')
      + '    dependsOn: [constructor]\n    analysis: valueOf\n    environments:\n      prod: { target: { local: { port: 9080 } } }\n      constructor: {}\n';
    expect(problemsOf(refs)).toEqual([
      { line: 5, column: 24, path: 'environments.prod.promotion.from', message: '`constructor` is not a declared environment', hint: 'promote from an environment declared earlier: dev' },
      { line: 6, column: 40, path: 'environments.prod.approvals.groups[0]', message: 'unknown group `toString`', hint: 'declare it with its members under the top-level groups, e.g. `groups: { toString: [alice, bob] }`' },
      { line: 10, column: 17, path: 'services.web.dependsOn[0]', message: '`constructor` is not a declared service', hint: 'declared services: web' },
      { line: 11, column: 15, path: 'services.web.analysis', message: '`valueOf` is not an analysis template', hint: 'analysis templates: runbook-defaults' },
      { line: 14, column: 7, path: 'services.web.environments.constructor', message: '`constructor` is not a declared environment', hint: 'declared environments: dev, prod' },
    ]);
  });

  it('are unset environment variables unless the environment has them', () => {
    const text = `${head}store: { postgres: { urlFromEnv: constructor } }\nregistries:\n  - { host: ghcr.io, tokenFromEnv: toString }\n`;
    expect(problemsOf(text)).toEqual([
      { line: 7, column: 34, path: 'store.postgres.urlFromEnv', message: 'environment variable constructor is not set', hint: 'set constructor to a postgres:// URL before starting gangway, or give store.postgres.url' },
      { line: 9, column: 36, path: 'registries[0].tokenFromEnv', message: 'environment variable toString is not set', hint: 'set toString to the token for ghcr.io before starting gangway' },
    ]);
    const config = parseConfig(text, 'gangway.yaml', { env: { constructor: 'postgres://db/shop', toString: 'tok' } });
    expect(config.store).toEqual({ kind: 'postgres', url: 'postgres://db/shop' });
    expect(config.registries[0].token).toBe('tok');
  });

  it('__proto__ is refused as a service, environment or group instead of being dropped', () => {
    const hint = 'rename it: no key, name, header or variable in gangway.yaml may be called __proto__';
    expect(problemsOf(`${head}  __proto__:\n    target: { local: { command: [node], port: 8001 } }\n`)).toEqual([
      { line: 7, column: 3, path: 'services.__proto__', message: '`__proto__` is a reserved name and cannot be a key', hint },
    ]);
    expect(problemsOf(head.replace('  dev: {}\n', '  dev: {}\n  __proto__: {}\n'))).toEqual([
      { line: 4, column: 3, path: 'environments.__proto__', message: '`__proto__` is a reserved name and cannot be a key', hint },
    ]);
    expect(problemsOf(`groups: { __proto__: [alice] }\n${head}`)).toEqual([
      { line: 1, column: 11, path: 'groups.__proto__', message: '`__proto__` is a reserved name and cannot be a key', hint },
    ]);
  });
});

describe('durations', () => {
  const health = (interval: string) => `${head}    health: { path: /, interval: ${interval} }\n`;
  const hint = 'write a duration of at most 1h (see docs/config.md#durations)';

  it('past a key\'s limit are refused: no timer of 24.9 days that would fire after 1 ms', () => {
    expect(problemsOf(health('600h'))).toEqual([
      { line: 7, column: 34, path: 'services.web.health.interval', message: 'must be at most 1h, got "600h"', hint },
    ]);
    expect(parseConfig(health('1h'), 'gangway.yaml', { env: {} }).services.web.dev.health.intervalMs).toBe(3_600_000);
    expect(problemsOf(health('60m1ms'))).toEqual([
      { line: 7, column: 34, path: 'services.web.health.interval', message: 'must be at most 1h, got "60m1ms"', hint },
    ]);
  });

  it('too long to count (a thousand digits) are refused with their position, not read as Infinity', () => {
    const digits = '9'.repeat(1000);
    expect(problemsOf(health(`${digits}s`))).toEqual([{
      line: 7, column: 34, path: 'services.web.health.interval', message: `must be at most 1h, got "${'9'.repeat(80)}"… (1001 characters)`, hint,
    }]);
  });

  it('each key has its own limit: a canary pause up to 168h, an approval up to 168h, a rollback watch up to 24h', () => {
    const canary = (pause: string) => `${head}    strategy: { canary: { steps: [ { setWeight: 10 }, { pause: ${pause} } ] } }\n`;
    expect(parseConfig(canary('168h'), 'gangway.yaml', { env: {} }).services.web.dev.strategy).toMatchObject({ steps: [{ kind: 'setWeight' }, { kind: 'pause', durationMs: 604_800_000 }] });
    expect(problemsOf(canary('169h'))).toEqual([{
      line: 7, column: 64, path: 'services.web.strategy.canary.steps[1].pause', message: 'must be at most 168h, got "169h"', hint: 'write a duration of at most 168h (see docs/config.md#durations)',
    }]);
    expect(problemsOf(`${head}    rollback: { watch: 25h }\n`)).toEqual([{
      line: 7, column: 24, path: 'services.web.rollback.watch', message: 'must be at most 24h, got "25h"', hint: 'write a duration of at most 24h (see docs/config.md#durations)',
    }]);
    expect(problemsOf(head.replace('  dev: {}\n', '  dev:\n    approvals: { required: 1, groups: [ops], expires: 200h }\n').replace('project: shop\n', 'project: shop\ngroups: { ops: [a] }\n'))).toEqual([{
      line: 5, column: 55, path: 'environments.dev.approvals.expires', message: 'must be at most 168h, got "200h"', hint: 'write a duration of at most 168h (see docs/config.md#durations)',
    }]);
  });
});

describe('HTTP requests a config describes', () => {
  it('refuses a smoke or health path with a line break, a space or a control character', () => {
    const smoke = `${head}    health: { path: "/health z" }\n    smoke:\n      - http: { path: "/a\\r\\nHost: evil" }\n`;
    expect(problemsOf(smoke)).toEqual([
      {
        line: 7, column: 21, path: 'services.web.health.path', message: 'health path must not hold spaces, line breaks or other control characters, got "/health z"',
        hint: 'percent-encode them: "/health%20z"',
      },
      {
        line: 9, column: 23, path: 'services.web.smoke[0].http.path', message: 'smoke path must not hold spaces, line breaks or other control characters, got "/a\\r\\nHost: evil"',
        hint: 'percent-encode them: "/a%0D%0AHost:%20evil"',
      },
    ]);
  });

  it('refuses header names that are not HTTP tokens and header values with a line break', () => {
    const text = `${head}    smoke:\n      - http: { path: /, headers: { "X Check": "1", X-Ok: "a\\nX-Injected: 1" } }\n`;
    expect(problemsOf(text)).toEqual([
      { line: 8, column: 37, path: 'services.web.smoke[0].http.headers["X Check"]', message: '"X Check" is not a valid header name', hint: 'use letters, digits and dashes, e.g. X-Check' },
      {
        line: 8, column: 59, path: 'services.web.smoke[0].http.headers.X-Ok', message: 'a header value must not hold line breaks or other control characters, got "a\\nX-Injected: 1"',
        hint: 'write the value on one line, without control characters',
      },
    ]);
    const tab = parseConfig(`${head}    smoke:\n      - http: { path: /, headers: { X-Ok: "a\\tb" } }\n`, 'gangway.yaml', { env: {} });
    expect(tab.services.web.dev.smoke[0]).toMatchObject({ kind: 'http', headers: { 'X-Ok': 'a\tb' } });
  });

  it('refuses a host that is a URL or host:port, saying what to write instead', () => {
    const hosts = `server: { host: "http://127.0.0.1" }\nagent: { host: "localhost:7401" }\n${head.replace('port: 8080 }', 'port: 8080, host: "[::1]" }')}`;
    expect(problemsOf(hosts)).toEqual([
      {
        line: 1, column: 17, path: 'server.host', message: '"http://127.0.0.1" is not a host name or IP address',
        hint: 'write "127.0.0.1" (no scheme or path: this is an address to listen on, not a URL)',
      },
      { line: 2, column: 16, path: 'agent.host', message: '"localhost:7401" is not a host name or IP address', hint: 'write "localhost", and set the port in agent.metricsPort' },
      { line: 8, column: 70, path: 'services.web.target.local.host', message: '"[::1]" is not a host name or IP address', hint: 'write "::1"' },
    ]);
    for (const host of ['0.0.0.0', '::', '::1', 'localhost', 'api.internal.example.com']) {
      expect(parseConfig(`server: { host: "${host}" }\n${head}`, 'gangway.yaml', { env: {} }).server.host).toBe(host);
    }
  });
});

describe('huge files', () => {
  it('list the first problems and count the rest: 20,000 unknown keys', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `    k${i}: 1`).join('\n');
    const problems = problemsOf(`${head}${keys}\n`);
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(problems[0]).toEqual({
      line: 7, column: 5, path: 'services.web.k0', message: 'unknown key `k0`',
      hint: 'known keys: dependsOn, target, health, strategy, analysis, smoke, rollback, drainTimeout, jobs, migrations, environments',
    });
    expect(problems[MAX_PROBLEMS]).toEqual({ line: 7 + MAX_PROBLEMS, column: 5, path: '', message: MORE(20_000 - MAX_PROBLEMS), hint: MORE_HINT, omitted: 20_000 - MAX_PROBLEMS });
  });

  it('a group of 100,000 members is checked for repeats member by member', () => {
    const members = Array.from({ length: 100_000 }, (_, i) => `u${i}`);
    const text = `groups:\n  ops: [${members.join(',')},u99999]\n${head}`;
    expect(problemsOf(text)).toEqual([
      { line: 2, column: 9 + members.join(',').length + 1, path: 'groups.ops[100000]', message: '`u99999` is listed twice', hint: 'list each member once' },
    ]);
    expect(parseConfig(`groups:\n  ops: [${members.join(',')}]\n${head}`, 'gangway.yaml', { env: {} }).groups.ops).toHaveLength(100_000);
  });

  it('a time zone of 100,000 characters is not matched against every zone, and is quoted short', () => {
    const zone = 'x'.repeat(100_000);
    expect(problemsOf(head.replace('dev: {}', `dev: { windows: [ { deny: { from: "09:00", to: "10:00" }, timezone: "${zone}" } ] }`))).toEqual([{
      line: 3, column: 71, path: 'environments.dev.windows[0].timezone', message: `unknown time zone "${'x'.repeat(80)}"… (100000 characters)`,
      hint: 'use an IANA time zone name such as "UTC", "Europe/Berlin" or "America/New_York"',
    }]);
  });

  it('overlapping windows are reported pair by pair up to the cap, and no environment has more than the limit', () => {
    const windows = (n: number) => head.replace('  dev: {}\n', `  dev:\n    windows:\n${'      - deny: { from: "09:00", to: "10:00" }\n'.repeat(n)}`);
    const problems = problemsOf(windows(MAX_WINDOWS));
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(problems[0]).toEqual({
      line: 6, column: 9, path: 'environments.dev.windows[1]', message: 'windows 0 and 1 overlap on every day 09:00–10:00', hint: 'merge them into one window, or let one end where the other starts',
    });
    expect(problems[MAX_PROBLEMS]).toMatchObject({ path: '', message: MORE((MAX_WINDOWS * (MAX_WINDOWS - 1)) / 2 - MAX_PROBLEMS) });
    expect(problemsOf(windows(MAX_WINDOWS + 1))).toEqual([{
      line: 4, column: 5, path: 'environments.dev.windows', message: `${MAX_WINDOWS + 1} windows; an environment may have at most ${MAX_WINDOWS}`,
      hint: 'merge windows that cover the same days, or remove one-off windows that have passed',
    }]);
  });

  it('no more environments or services than the limits, since each service is compiled for each environment', () => {
    const envs = Array.from({ length: MAX_ENVIRONMENTS + 1 }, (_, i) => `  e${i}: {}`).join('\n');
    expect(problemsOf(`project: shop\nenvironments:\n${envs}\nservices:\n  web:\n    target: { local: { command: [node], port: 8080 } }\n`)).toEqual([{
      line: 2, column: 1, path: 'environments', message: `${MAX_ENVIRONMENTS + 1} environments declared; a file may declare at most ${MAX_ENVIRONMENTS}`,
      hint: 'split the project into several files, one per group of services, each run by its own gangway',
    }]);
    const services = Array.from({ length: MAX_SERVICES + 1 }, (_, i) => `  s${i}: { target: { local: { command: [node], port: ${10_000 + i} } } }`).join('\n');
    expect(problemsOf(`project: shop\nenvironments: { dev: {} }\nservices:\n${services}\n`)).toEqual([{
      line: 3, column: 1, path: 'services', message: `${MAX_SERVICES + 1} services declared; a file may declare at most ${MAX_SERVICES}`,
      hint: 'split the project into several files, one per group of services, each run by its own gangway',
    }]);
  });

  it('a port shared by many services names the first ten users and counts the rest', () => {
    const services = Array.from({ length: 30 }, (_, i) => `  s${i}: { target: { local: { command: [node], port: 9000 } } }`).join('\n');
    const problems = problemsOf(`project: shop\nenvironments: { dev: {} }\nservices:\n${services}\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toBe(`port 9000 is used more than once: by ${Array.from({ length: 10 }, (_, i) => `service s${i} in dev (line ${4 + i})`).join(' and by ')} and by 20 more`);
  });

  it('a dependency on an undeclared service among many is reported with a short hint', () => {
    const services = Array.from({ length: 200 }, (_, i) => `  s${i}: { target: { local: { command: [node], port: ${10_000 + i} } }, dependsOn: [x${i}] }`).join('\n');
    const problems = problemsOf(`project: shop\nenvironments: { dev: {} }\nservices:\n${services}\n`);
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(problems[0]).toEqual({
      line: 4, column: 74, path: 'services.s0.dependsOn[0]', message: '`x0` is not a declared service', hint: 'did you mean `s0`?',
    });
    expect(problems[MAX_PROBLEMS]).toEqual({ line: 4 + MAX_PROBLEMS, column: 75, path: '', message: MORE(200 - MAX_PROBLEMS), hint: MORE_HINT, omitted: 200 - MAX_PROBLEMS });
  });
});

describe('files that are not regular files, or too large', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-hostile-'));

  it('loadConfig refuses a named pipe at once instead of blocking, and a file over the limit naming its size', async () => {
    const fifo = join(dir, 'gangway.yaml');
    execFileSync('mkfifo', [fifo]);
    await expect(loadConfig(fifo)).rejects.toMatchObject({
      problems: [{
        file: fifo, line: 1, column: 1, path: '', message: 'cannot read the config file: is a named pipe, not a regular file',
        hint: 'give the path of the config file itself, a regular file such as gangway.yaml',
      }],
    });
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `${head}# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    await expect(loadConfig(big)).rejects.toMatchObject({
      problems: [{
        file: big, line: 1, column: 1, path: '', message: `cannot read the config file: is 2.0 MiB (${head.length + 2 * 1024 * 1024 + 3} bytes); the limit is 1 MiB`,
        hint: 'a gangway.yaml describes a project in a few kilobytes; check that this is the right file',
      }],
    });
  });

  it('a signature key that is a device is refused instead of read without end', () => {
    const text = head.replace('  dev: {}\n', '  dev:\n    image: { signature: { publicKey: /dev/zero } }\n');
    expect(problemsOf(text)).toEqual([{
      line: 4, column: 38, path: 'environments.dev.image.signature.publicKey', message: 'cannot read /dev/zero: is a character device, not a regular file',
      hint: 'give the path of a regular file holding the cosign public key (cosign.pub), or the PEM text itself',
    }]);
  });
});
