/**
 * loadKubeConfig: every auth kind, relative paths, contexts, KUBECONFIG merging, in-cluster
 * from an injected folder, and the exact wording of errors (which must never quote a secret).
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { KubeConfigError } from './errors.js';
import { loadKubeConfig } from './kubeconfig.js';

let dir: string;
const CA = '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
  await mkdir(join(dir, 'certs'));
  await writeFile(join(dir, 'certs', 'ca.crt'), CA);
  await writeFile(join(dir, 'certs', 'client.crt'), CERT);
  await writeFile(join(dir, 'certs', 'client.key'), KEY);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, doc: unknown): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, typeof doc === 'string' ? doc : stringify(doc));
  return p;
}

function config(users: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'c1', cluster: { server: 'https://k8s.example:6443/', 'certificate-authority': 'certs/ca.crt', 'tls-server-name': 'api.internal' } },
      { name: 'c2', cluster: { server: 'https://other:443', 'certificate-authority-data': b64(CA), 'insecure-skip-tls-verify': false } },
      { name: 'c3', cluster: { server: 'https://insecure:443', 'insecure-skip-tls-verify': true } },
    ],
    users: Object.entries(users).map(([name, user]) => ({ name, user })),
    contexts: [
      { name: 'dev', context: { cluster: 'c1', user: Object.keys(users)[0], namespace: 'shop' } },
      { name: 'staging', context: { cluster: 'c2', user: Object.keys(users)[0] } },
      { name: 'broken', context: { cluster: 'nope', user: Object.keys(users)[0] } },
    ],
    'current-context': 'dev',
    ...extra,
  };
}

describe('loadKubeConfig', () => {
  it('reads a token user, the current context, a CA file relative to the kubeconfig and tls-server-name', async () => {
    const path = await write('token.yaml', config({ alice: { token: 'sekret-token' } }));
    const c = loadKubeConfig({ path, env: {} });
    expect(c).toEqual({
      server: 'https://k8s.example:6443', context: 'dev', cluster: 'c1', user: 'alice', namespace: 'shop', source: path, inCluster: false,
      tls: { ca: CA, insecureSkipTlsVerify: false, serverName: 'api.internal', cert: undefined, key: undefined },
      auth: { kind: 'token', token: 'sekret-token' },
    });
    expect(Object.isFrozen(c.auth)).toBe(true);
  });

  it('selects another context; certificate-authority-data; default namespace', async () => {
    const path = await write('token2.yaml', config({ alice: { token: 't' } }));
    const c = loadKubeConfig({ path, context: 'staging', env: {} });
    expect([c.server, c.context, c.namespace, c.tls.ca, c.tls.serverName]).toEqual(['https://other:443', 'staging', 'default', CA, undefined]);
  });

  it('reads client certificate and key from files and from -data', async () => {
    const files = loadKubeConfig({ path: await write('cert-files.yaml', config({ bob: { 'client-certificate': 'certs/client.crt', 'client-key': join(dir, 'certs', 'client.key') } })), env: {} });
    expect([files.tls.cert, files.tls.key, files.auth]).toEqual([CERT, KEY, { kind: 'none' }]);
    const data = loadKubeConfig({ path: await write('cert-data.yaml', config({ bob: { 'client-certificate-data': b64(CERT), 'client-key-data': b64(KEY) } })), env: {} });
    expect([data.tls.cert, data.tls.key]).toEqual([CERT, KEY]);
  });

  it('reads tokenFile (relative), basic auth and exec (relative command resolved, bare command kept)', async () => {
    expect(loadKubeConfig({ path: await write('tf.yaml', config({ u: { tokenFile: 'certs/token' } })), env: {} }).auth).toEqual({ kind: 'tokenFile', path: join(dir, 'certs', 'token') });
    expect(loadKubeConfig({ path: await write('basic.yaml', config({ u: { username: 'admin', password: 'pw' } })), env: {} }).auth).toEqual({ kind: 'basic', username: 'admin', password: 'pw' });
    const exec = loadKubeConfig({ path: await write('exec.yaml', config({ u: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: './bin/plugin', args: ['get-token', '--x'], env: [{ name: 'A', value: '1' }], installHint: 'install it\n', provideClusterInfo: true } } })), env: {} });
    expect(exec.auth).toEqual({ kind: 'exec', exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: './bin/plugin', resolvedCommand: join(dir, 'bin', 'plugin'), args: ['get-token', '--x'], env: [{ name: 'A', value: '1' }], installHint: 'install it', provideClusterInfo: true, user: 'u' } });
    const bare = loadKubeConfig({ path: await write('exec2.yaml', config({ u: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'gke-gcloud-auth-plugin' } } })), env: {} });
    expect(bare.auth.kind === 'exec' && [bare.auth.exec.resolvedCommand, bare.auth.exec.args, bare.auth.exec.provideClusterInfo]).toEqual(['gke-gcloud-auth-plugin', [], false]);
  });

  it('insecure-skip-tls-verify', async () => {
    const path = await write('insecure.yaml', config({ u: { token: 't' } }, { contexts: [{ name: 'x', context: { cluster: 'c3', user: 'u' } }], 'current-context': 'x' }));
    expect(loadKubeConfig({ path, env: {} }).tls.insecureSkipTlsVerify).toBe(true);
  });

  it('merges a KUBECONFIG list first-wins and skips files that do not exist', async () => {
    const a = await write('merge-a.yaml', { clusters: [{ name: 'c', cluster: { server: 'https://a:1' } }], users: [{ name: 'u', user: { token: 'ta' } }], contexts: [{ name: 'one', context: { cluster: 'c', user: 'u', namespace: 'n1' } }] });
    const b = await write('merge-b.yaml', { clusters: [{ name: 'c', cluster: { server: 'https://b:2' } }, { name: 'd', cluster: { server: 'https://d:4' } }], users: [{ name: 'u', user: { token: 'tb' } }], contexts: [{ name: 'two', context: { cluster: 'd', user: 'u' } }], 'current-context': 'two' });
    const env = { KUBECONFIG: [join(dir, 'missing.yaml'), a, b].join(':') };
    const c = loadKubeConfig({ env });
    expect([c.context, c.server, c.auth, c.source]).toEqual(['two', 'https://d:4', { kind: 'token', token: 'ta' }, `${a}:${b}`]);
    expect(loadKubeConfig({ env, context: 'one' }).server).toBe('https://a:1');
  });

  it('falls back to ~/.kube/config (HOME from env)', async () => {
    const home = join(dir, 'home');
    await mkdir(join(home, '.kube'), { recursive: true });
    await writeFile(join(home, '.kube', 'config'), stringify(config({ u: { token: 't' } }, { 'current-context': 'staging' })));
    expect(loadKubeConfig({ env: { HOME: home } }).source).toBe(join(home, '.kube', 'config'));
  });

  it('uses the in-cluster service account (injected folder) when there is no kubeconfig', async () => {
    const sa = join(dir, 'sa');
    await mkdir(sa);
    await writeFile(join(sa, 'token'), 'sa-token\n');
    await writeFile(join(sa, 'ca.crt'), CA);
    await writeFile(join(sa, 'namespace'), 'payments\n');
    const c = loadKubeConfig({ env: { HOME: join(dir, 'nohome'), KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: sa });
    expect(c).toEqual({
      server: 'https://10.0.0.1:443', context: 'in-cluster', cluster: 'in-cluster', user: 'service-account', namespace: 'payments', source: sa, inCluster: true,
      tls: { ca: CA, insecureSkipTlsVerify: false, serverName: undefined, cert: undefined, key: undefined },
      auth: { kind: 'tokenFile', path: join(sa, 'token') },
    });
    expect(loadKubeConfig({ env: { HOME: join(dir, 'nohome'), KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, serviceAccountDir: sa }).server).toBe('https://[fd00::1]:6443');
  });

  describe('errors name the file and the key', () => {
    const cases: Array<[string, () => Promise<{ path?: string; context?: string; env?: NodeJS.ProcessEnv }>, string]> = [
      ['unknown context', async () => ({ path: await write('e1.yaml', config({ u: { token: 'sekret' } })), context: 'prod' }),
        'context "prod" not found in {dir}/e1.yaml (contexts: dev, staging, broken)'],
      ['no current-context', async () => ({ path: await write('e2.yaml', config({ u: { token: 't' } }, { 'current-context': '' })) }),
        'no current-context is set in {dir}/e2.yaml and no context was given (contexts: dev, staging, broken)'],
      ['missing cluster', async () => ({ path: await write('e3.yaml', config({ u: { token: 't' } })), context: 'broken' }),
        'cluster "nope" of context "broken" not found in {dir}/e3.yaml'],
      ['missing user', async () => ({ path: await write('e4.yaml', { ...config({}), contexts: [{ name: 'x', context: { cluster: 'c1', user: 'ghost' } }], 'current-context': 'x' }) }),
        'user "ghost" of context "x" not found in {dir}/e4.yaml'],
      ['no server', async () => ({ path: await write('e5.yaml', { clusters: [{ name: 'c', cluster: {} }], contexts: [{ name: 'x', context: { cluster: 'c' } }], 'current-context': 'x' }) }),
        'cluster "c" in {dir}/e5.yaml has no server'],
      ['unreadable CA file', async () => ({ path: await write('e6.yaml', { clusters: [{ name: 'c', cluster: { server: 'https://s', 'certificate-authority': 'nope/ca.crt' } }], contexts: [{ name: 'x', context: { cluster: 'c' } }], 'current-context': 'x' }) }),
        'cluster "c" in {dir}/e6.yaml: certificate-authority {dir}/nope/ca.crt cannot be read: ENOENT'],
      ['bad base64', async () => ({ path: await write('e7.yaml', { clusters: [{ name: 'c', cluster: { server: 'https://s', 'certificate-authority-data': 'not*base64' } }], contexts: [{ name: 'x', context: { cluster: 'c' } }], 'current-context': 'x' }) }),
        'cluster "c" in {dir}/e7.yaml: certificate-authority-data is not valid base64'],
      ['auth-provider', async () => ({ path: await write('e8.yaml', config({ g: { 'auth-provider': { name: 'gcp', config: { 'access-token': 'sekret' } } } })) }),
        'user "g" in {dir}/e8.yaml uses auth-provider "gcp", which Gangway does not support: use the provider\'s exec plugin instead (gke-gcloud-auth-plugin, kubelogin …)'],
      ['exec apiVersion', async () => ({ path: await write('e9.yaml', config({ u: { exec: { apiVersion: 'client.authentication.k8s.io/v1alpha1', command: 'x' } } })) }),
        'user "u" in {dir}/e9.yaml: exec.apiVersion "client.authentication.k8s.io/v1alpha1" is not supported (use client.authentication.k8s.io/v1 or v1beta1)'],
      ['cert without key', async () => ({ path: await write('e10.yaml', config({ u: { 'client-certificate-data': b64(CERT) } })) }),
        'user "u" in {dir}/e10.yaml has client-certificate but no client-key'],
      ['invalid YAML', async () => ({ path: await write('e11.yaml', 'clusters: [\n') }),
        '{dir}/e11.yaml is not a valid kubeconfig: Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1'],
      ['explicit path missing', async () => ({ path: join(dir, 'absent.yaml') }),
        'kubeconfig {dir}/absent.yaml does not exist'],
      ['nothing at all', async () => ({ env: { HOME: join(dir, 'nohome') } }),
        'no kubeconfig found: {dir}/nohome/.kube/config does not exist and KUBECONFIG is not set, and this is not a pod (KUBERNETES_SERVICE_HOST is not set)'],
      ['KUBECONFIG lists only missing files', async () => ({ env: { KUBECONFIG: `${join(dir, 'x1')}:${join(dir, 'x2')}` } }),
        'no kubeconfig found: none of KUBECONFIG={dir}/x1:{dir}/x2 exists, and this is not a pod (KUBERNETES_SERVICE_HOST is not set)'],
      ['in-cluster without token', async () => ({ env: { HOME: join(dir, 'nohome'), KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' } }),
        'in-cluster service account token {dir}/no-sa/token does not exist (KUBERNETES_SERVICE_HOST is set, no kubeconfig found)'],
    ];
    it.each(cases)('%s', async (_what, make, message) => {
      const o = await make();
      let err: unknown;
      try {
        loadKubeConfig({ env: {}, serviceAccountDir: join(dir, 'no-sa'), ...o });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KubeConfigError);
      expect((err as Error).message).toBe(message.replaceAll('{dir}', dir));
      expect((err as Error).message).not.toContain('sekret');
    });
  });
});
