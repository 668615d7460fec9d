/**
 * `gangway user` and `gangway token` against a real API server (fake orchestrator, real
 * SQLite store) on 127.0.0.1, run in-process through main().
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { FakeOrchestrator } from '../../../test/support/fake-orchestrator.js';
import { buildServer } from '../../server/app.js';
import { openStore } from '../../store/open.js';
import type { Store } from '../../store/types.js';
import { main } from '../main.js';

const TOKEN = 'cli-admin-token-0123456789';
const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

let store: Store;
let app: FastifyInstance;
let api: string;

beforeEach(async () => {
  store = await openStore({ kind: 'sqlite', path: ':memory:' });
  app = buildServer({ orchestrator: new FakeOrchestrator({ services: { web: ['dev', 'prod'] } }), token: TOKEN, version: '0.0.0-test', auth: { store, environments: ['dev', 'prod'], now: () => T0 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await app.close();
  await store.close();
});

async function run(args: string[], opts: { token?: string; stdin?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'gangway', ...args], {
    stdout: { write: (s: string) => { stdout += s; } }, stderr: { write: (s: string) => { stderr += s; } },
    env: { GANGWAY_API: api, GANGWAY_TOKEN: opts.token ?? TOKEN, GANGWAY_ACTOR: 'root' }, cwd: '/',
    stdin: opts.stdin === undefined ? undefined : Readable.from([opts.stdin]),
  });
  return { code, stdout, stderr };
}

describe('gangway user', () => {
  it('add (password from stdin), list and remove', async () => {
    expect(await run(['user', 'add', 'ana', '--role', 'dev=deployer,prod=viewer', '--password-stdin'], { stdin: 'a long password\n' }))
      .toEqual({ code: 0, stdout: 'added ana: deployer in dev, viewer in prod\n', stderr: '' });
    expect(await run(['user', 'add', 'ci', '--role', '*=viewer'])).toEqual({ code: 0, stdout: 'added ci: viewer in every environment (no password: API tokens only)\n', stderr: '' });
    const list = await run(['user', 'list']);
    expect(list).toEqual({
      code: 0, stderr: '',
      stdout: 'NAME  ROLES                            PASSWORD  CREATED\n'
        + 'ana   deployer in dev, viewer in prod  yes       2025-01-01T12:00:00Z\n'
        + 'ci    viewer in every environment      no        2025-01-01T12:00:00Z\n',
    });
    const asJson = await run(['user', 'list', '-o', 'json']);
    expect(JSON.parse(asJson.stdout)).toEqual([
      { name: 'ana', roles: { dev: 'deployer', prod: 'viewer' }, hasPassword: true, createdAt: T0 },
      { name: 'ci', roles: { '*': 'viewer' }, hasPassword: false, createdAt: T0 },
    ]);
    expect(await run(['user', 'remove', 'ci'])).toEqual({ code: 0, stdout: 'removed ci; its tokens are revoked and its sessions ended\n', stderr: '' });
    expect(await run(['user', 'remove', 'ci'])).toEqual({ code: 2, stdout: '', stderr: 'error: user ci not found\nhint: list users with `gangway user list`\n' });
  });

  it('refuses a short password, a bad role and an unknown environment with exit code 2', async () => {
    expect(await run(['user', 'add', 'ana', '--role', 'dev=viewer', '--password-stdin'], { stdin: 'short\n' })).toEqual({
      code: 2, stdout: '', stderr: 'error: password: must be at least 10 characters\nhint: a passphrase of a few words is easy to type and hard to guess\n',
    });
    const badRole = await run(['user', 'add', 'ana', '--role', 'dev=boss']);
    expect([badRole.code, badRole.stderr.split('\n')[0]]).toEqual([2, 'error: --role: "boss" is not a role']);
    const badEnv = await run(['user', 'add', 'ana', '--role', 'qa=viewer']);
    expect([badEnv.code, badEnv.stderr]).toEqual([2, 'error: roles: environment "qa" is not defined in gangway.yaml\nhint: environments: dev, prod\n']);
    expect(await store.listUsers()).toEqual([]);
  });
});

describe('gangway token', () => {
  it('create prints the secret once on stdout; list never shows it; revoke stops it working', async () => {
    await run(['user', 'add', 'ci', '--role', 'dev=deployer']);
    const created = await run(['token', 'create', '--user', 'ci', '--name', 'deploy-job']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    const secret = created.stdout.trim();
    const id = (await store.listApiTokens())[0].id;
    expect(created.stderr).toBe(`created token ${id} (deploy-job) for ci\nit is shown only this once: keep it in a secret store; revoke it with: gangway token revoke ${id}\n`);

    // The token acts as ci: a viewer read works, user management does not.
    expect((await run(['status', '-o', 'json'], { token: secret })).code).toBe(0);
    expect(await run(['user', 'list'], { token: secret })).toEqual({ code: 2, stdout: '', stderr: 'error: ci is a deployer in dev, not an admin in every environment\nhint: an admin grants roles with `gangway user add <name> --role env=role`\n' });

    const list = await run(['token', 'list']);
    expect(list.stdout).not.toContain(secret);
    expect(list.stdout).toBe(
      'ID                NAME        USER  CREATED               LAST USED             EXPIRES  REVOKED\n'
      + `${id}  deploy-job  ci    2025-01-01T12:00:00Z  2025-01-01T12:00:00Z  never    -\n`);

    expect(await run(['token', 'revoke', id])).toEqual({ code: 0, stdout: `revoked ${id} (deploy-job) of ci\n`, stderr: '' });
    expect(await run(['status'], { token: secret })).toEqual({ code: 2, stdout: '', stderr: 'error: token revoked\nhint: ask an admin for a new token (gangway token create)\n' });
  });

  it('create -o json carries the secret and the expiry', async () => {
    const created = await run(['token', 'create', '--name', 'admin-ci', '--expires-in-days', '7', '-o', 'json']);
    expect(JSON.parse(created.stdout)).toEqual({
      id: expect.stringMatching(/^tok_/), name: 'admin-ci', owner: 'admin', createdAt: T0, lastUsedAt: null,
      expiresAt: T0 + 7 * 86_400_000, revokedAt: null, token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
  });
});
