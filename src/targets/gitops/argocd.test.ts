/**
 * The Argo CD client against the FAKE Argo CD (test/support/fake-argocd) and the fake API
 * server it deploys to: reading an Application with a refresh, a sync at a commit carrying
 * Gangway's mark, and each fault with its class and words — unreachable, 401, 403, a token
 * variable not set, a certificate not trusted — never with the token in them.
 */
import { cp } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeArgoCD, type FakeArgoCD } from '../../../test/support/fake-argocd/index.js';
import { startFakeKube, type FakeKube } from '../../../test/support/fake-kube/index.js';
import { git, makeRepos, requireGit, type Repos } from '../../../test/support/git-repos.js';
import { GangwayError, UnreachableError } from '../../errors.js';
import { ArgoCDClient, ArgoCDError, isOperationInProgress } from './argocd.js';

const hasGit = await requireGit('Argo CD client tests');
const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/gitops/repo', import.meta.url));
const TOKEN_VAR = 'GW_TEST_ARGOCD_TOKEN';

let kube: FakeKube;
let repos: Repos;
let argo: FakeArgoCD;
let head: string;

beforeAll(async () => {
  if (!hasGit) return;
  kube = await startFakeKube();
  await kube.namespace('dev');
  repos = await makeRepos();
  await cp(FIXTURE, repos.work, { recursive: true });
  await git(repos.work, 'add', '-A');
  await git(repos.work, 'commit', '--quiet', '-m', 'services for dev');
  await git(repos.work, 'push', '--quiet', 'origin', 'main');
  head = await git(repos.work, 'rev-parse', 'HEAD');
  argo = await startFakeArgoCD({
    kube,
    apps: [{ name: 'accounts-dev', source: { repoURL: repos.bare, path: 'helm/accounts', targetRevision: 'main', helm: { valueFiles: ['../environments/dev-env/image-tags.yaml'] } }, destination: { namespace: 'dev' } }],
  });
}, 120_000);

afterAll(async () => {
  await argo?.close();
  await kube?.close();
  await repos?.remove();
}, 60_000);

function client(env: NodeJS.ProcessEnv = { [TOKEN_VAR]: argo.token }, server = argo.url): ArgoCDClient {
  return new ArgoCDClient({ server, tokenFromEnv: TOKEN_VAR, insecure: false }, { env, timeoutMs: 30_000 });
}

async function failure(p: Promise<unknown>): Promise<GangwayError> {
  const err = await p.then(() => null, (e: unknown) => e);
  if (!(err instanceof GangwayError)) throw new Error(`expected a GangwayError, got ${String(err)}`);
  return err;
}

describe.skipIf(!hasGit)('ArgoCDClient (fake Argo CD)', () => {
  it('reads an Application with a refresh and syncs it at a commit with Gangway\'s mark', async () => {
    const c = client();
    try {
      const app = await c.getApplication('accounts-dev', { refresh: 'normal' });
      expect(app.status.sync).toMatchObject({ status: 'OutOfSync', revision: head });
      expect(argo.requests.at(-1)).toMatchObject({ method: 'GET', path: '/api/v1/applications/accounts-dev', query: 'refresh=normal', user: 'admin', status: 200 });

      const synced = await c.sync('accounts-dev', { revision: head, prune: false, infos: [{ name: 'gangway', value: 'd-1 deploy' }] });
      expect(synced.operation).toEqual({ sync: { revision: head }, initiatedBy: { username: 'admin' }, info: [{ name: 'gangway', value: 'd-1 deploy' }], retry: {} });

      const again = await failure(c.sync('accounts-dev', { revision: head }));
      expect(again).toBeInstanceOf(ArgoCDError);
      expect(again.code).toBe('conflict');
      expect(again.message).toBe(`Argo CD at ${argo.url} refused sync of application accounts-dev: error setting app operation: another operation is already in progress`);
      expect(isOperationInProgress(again)).toBe(true);
      await argo.waitFor(() => !argo.app('accounts-dev').operation, { what: 'operation over', timeoutMs: 60_000 });
      expect(argo.app('accounts-dev').status.operationState).toMatchObject({ phase: 'Succeeded', syncResult: { revision: head } });
      expect(await c.version()).toBe('v2.13.0+fake');
    } finally {
      await c.close();
    }
  });

  it('throws UnreachableError when Argo CD does not answer, and works again when it is back', async () => {
    const c = client();
    await argo.unreachable();
    try {
      const err = await failure(c.getApplication('accounts-dev'));
      expect(err).toBeInstanceOf(UnreachableError);
      expect(err.code).toBe('unreachable');
      expect(err.message).toBe(`Argo CD at ${argo.url} is unreachable: ECONNREFUSED`);
      expect(err.hint).toBe(`check that ${argo.url} is up and reachable from this machine (target.gitops.argocd.server)`);
    } finally {
      await argo.reachable();
    }
    expect((await c.getApplication('accounts-dev')).metadata.name).toBe('accounts-dev');
    await c.close();
  });

  it('says which variable holds a refused token (401), never the token', async () => {
    const bad = 'not-a-valid-token-s3cr3t';
    const err = await failure(client({ [TOKEN_VAR]: bad }).getApplication('accounts-dev'));
    expect(err).toBeInstanceOf(ArgoCDError);
    expect(err.code).toBe('unauthorized');
    expect(err.message).toBe(`Argo CD at ${argo.url} refused the token in ${TOKEN_VAR}: invalid session: token contains an invalid number of segments`);
    expect(err.hint).toBe(`set ${TOKEN_VAR} to a valid, unexpired Argo CD API token (argocd account generate-token --account <account>)`);
    expect(JSON.stringify({ m: err.message, h: err.hint, d: err.details })).not.toContain('s3cr3t');
  });

  it('says what permission a refused account lacks (403), never the token', async () => {
    const token = argo.mintToken('ci');
    const lift = argo.deny({ user: 'ci', app: 'accounts-dev', action: 'sync' });
    try {
      const err = await failure(client({ [TOKEN_VAR]: token }).sync('accounts-dev', { revision: head }));
      expect(err.code).toBe('forbidden');
      expect(err.message).toMatch(new RegExp(`^Argo CD at ${argo.url.replace(/[.:/]/g, '\\$&')} denied sync on application accounts-dev: permission denied: applications, sync, default/accounts-dev, sub: ci, iat: \\S+$`));
      expect(err.hint).toBe(`the account of the token in ${TOKEN_VAR} needs "applications, get" and "applications, sync" on <project>/accounts-dev in argocd-rbac-cm; Argo CD also answers "permission denied" for an application that does not exist, so check the name (target.gitops.application)`);
      expect(JSON.stringify({ m: err.message, h: err.hint, d: err.details })).not.toContain(token);
      const missing = await failure(client().getApplication('nope'));
      expect(missing.code).toBe('forbidden');
      expect(missing.message).toBe(`Argo CD at ${argo.url} denied get on application nope: permission denied`);
    } finally {
      lift();
    }
  });

  it('refuses to call without the token variable, naming it', async () => {
    const err = await failure(client({}).getApplication('accounts-dev'));
    expect(err.code).toBe('invalid_config');
    expect(err.message).toBe(`the Argo CD token variable ${TOKEN_VAR} is not set (target.gitops.argocd.tokenFromEnv)`);
  });

  it('refuses a certificate it does not trust unless insecure is set', async () => {
    const tls = await startFakeArgoCD({ kube, tls: true, tokens: { 'tls-token': 'ci' } });
    const strict = new ArgoCDClient({ server: tls.url, tokenFromEnv: TOKEN_VAR, insecure: false }, { env: { [TOKEN_VAR]: 'tls-token' } });
    const lax = new ArgoCDClient({ server: tls.url, tokenFromEnv: TOKEN_VAR, insecure: true }, { env: { [TOKEN_VAR]: 'tls-token' } });
    try {
      const err = await failure(strict.getApplication('x'));
      expect(err.code).toBe('invalid_config');
      expect(err.message).toBe(`Argo CD at ${tls.url} presented a certificate this machine does not trust: DEPTH_ZERO_SELF_SIGNED_CERT`);
      const denied = await failure(lax.getApplication('x'));
      expect(denied.code).toBe('forbidden');
    } finally {
      await strict.close();
      await lax.close();
      await tls.close();
    }
  });
});
