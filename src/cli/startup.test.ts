/**
 * Start-up cost of the CLI: a command loads only the modules it needs. Runs the built CLI
 * (dist/) with a module hook that records every module the run loads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'bin/gangway.js');
const HEAVY = ['fastify', 'kysely', 'better-sqlite3', 'pino', 'pg', 'undici', 'react'];
/** Gangway modules a client command has no use for: the API server, the store, the engine, the agent and its proxy. */
const SERVER_SIDE = /^(server\/|store\/(?!types\.js)|engine\/(?!types\.js)|agent\/(agent|proxy|supervisor|client|main)\.js)/;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gangway-startup-'));
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(join(dir, 'loaded.txt'))}, r.url + '\\n');
  return r;
}
`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${join(dir, 'hooks.mjs')}`)});\n`);
  // Nothing listens on this port: status fails with exit 5 after loading all it needs.
  writeFileSync(join(dir, 'gangway.yaml'), 'project: s\nserver: { port: 1 }\nenvironments:\n  dev: {}\nservices:\n  web:\n    target:\n      local: { command: ["node", "app.js"], port: 18999 }\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The packages (under node_modules) and Gangway modules (under dist/) a CLI run loaded. */
function loaded(args: string[]): { code: number | null; packages: Set<string>; modules: string[] } {
  rmSync(join(dir, 'loaded.txt'), { force: true });
  const r = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), CLI, ...args], { encoding: 'utf8', env: { ...process.env, GANGWAY_TOKEN: 't' } });
  const urls = existsSync(join(dir, 'loaded.txt')) ? readFileSync(join(dir, 'loaded.txt'), 'utf8').split('\n').filter(Boolean) : [];
  const packages = new Set(urls.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter((p): p is string => Boolean(p)));
  return { code: r.status, packages, modules: urls.filter((u) => u.includes('/dist/')).map((u) => u.replace(/.*\/dist\//, '')) };
}

describe('CLI start-up', () => {
  it('--version loads no command module and no dependency but commander', () => {
    const r = loaded(['--version']);
    expect(r.code).toBe(0);
    expect([...r.packages]).toEqual(['commander']);
    expect(r.modules.filter((m) => m.startsWith('cli/commands/'))).toEqual([]);
  });

  it('status loads its own command module only, and none of the server, store or agent dependencies', () => {
    const r = loaded(['-C', dir, 'status']);
    expect(r.code).toBe(5);
    for (const p of HEAVY) expect(r.packages, p).not.toContain(p);
    expect(r.modules.filter((m) => m.startsWith('cli/commands/'))).toEqual(['cli/commands/status.js']);
    expect(r.modules.filter((m) => SERVER_SIDE.test(m))).toEqual([]);
  });

  it('deploy loads deploy.js and nothing of the server or the store', () => {
    const r = loaded(['-C', dir, 'deploy', 'web', '--env', 'dev', '--version', '1.0.0']);
    expect(r.code).toBe(5);
    for (const p of HEAVY) expect(r.packages, p).not.toContain(p);
    expect(r.modules.filter((m) => SERVER_SIDE.test(m))).toEqual([]);
  });
});
