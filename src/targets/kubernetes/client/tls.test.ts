/**
 * TLS as a kubeconfig describes it, against a node:https stub with certificates made here by
 * `openssl` (argv, no shell): a CA file relative to the kubeconfig, client certificates from
 * files and from an exec plugin, tls-server-name, insecure-skip-tls-verify, and the exact
 * error for an untrusted server.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { requireOrSkip } from '../../../../test/support/require.js';
import { KubeClient } from './client.js';
import { KubeUnreachableError } from './errors.js';
import { loadKubeConfig } from './kubeconfig.js';

const run = promisify(execFile);
const hasOpenssl = requireOrSkip('Kubernetes client TLS tests', 'the openssl command (Debian package openssl)',
  await run('openssl', ['version']).then(() => true, () => false));

describe.skipIf(!hasOpenssl)('TLS', () => {
  let dir: string;
  let server: Server;
  let url: string;
  const clients: KubeClient[] = [];

  async function issue(name: string, cn: string, ext: string): Promise<void> {
    const f = (x: string): string => join(dir, x);
    await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await writeFile(f(`${name}.ext`), `${ext}\n`);
    await run('openssl', ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '1', '-extfile', f(`${name}.ext`)]);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kube-tls-'));
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '1', '-subj', '/CN=gangway-test-ca']);
    await issue('server', 'api.internal', 'subjectAltName=DNS:api.internal');
    await issue('client', 'gangway-ci', 'extendedKeyUsage=clientAuth');
    const ca = await readFile(join(dir, 'ca.crt'));
    server = createServer({ key: await readFile(join(dir, 'server.key')), cert: await readFile(join(dir, 'server.crt')), ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const who = (req.socket as TLSSocket).authorized ? peer.subject.CN : 'anonymous';
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [{ metadata: { name: who } }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  async function kubeconfig(name: string, cluster: Record<string, unknown>, user: Record<string, unknown>): Promise<KubeClient> {
    const path = join(dir, name);
    await writeFile(path, stringify({
      clusters: [{ name: 'c', cluster: { server: url, ...cluster } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'tls', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'tls',
    }));
    const c = new KubeClient(loadKubeConfig({ path, env: {} }));
    clients.push(c);
    return c;
  }
  const identity = async (c: KubeClient): Promise<string> => (await c.list('Pod', 'x')).items[0].metadata.name;

  it('CA file relative to the kubeconfig, tls-server-name, client certificate files', async () => {
    const c = await kubeconfig('files.yaml', { 'certificate-authority': 'ca.crt', 'tls-server-name': 'api.internal' }, { 'client-certificate': 'client.crt', 'client-key': 'client.key' });
    expect(await identity(c)).toBe('gangway-ci');
  });

  it('-data variants and insecure-skip-tls-verify', async () => {
    const b64 = async (f: string): Promise<string> => (await readFile(join(dir, f))).toString('base64');
    expect(await identity(await kubeconfig('data.yaml', { 'certificate-authority-data': await b64('ca.crt'), 'tls-server-name': 'api.internal' }, { 'client-certificate-data': await b64('client.crt'), 'client-key-data': await b64('client.key') }))).toBe('gangway-ci');
    expect(await identity(await kubeconfig('insecure.yaml', { 'insecure-skip-tls-verify': true }, { token: 't' }))).toBe('anonymous');
  });

  it('a client certificate from an exec plugin', async () => {
    const plugin = join(dir, 'cert-plugin.cjs');
    await writeFile(plugin, `const fs = require('node:fs');
console.log(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: {
  clientCertificateData: fs.readFileSync(${JSON.stringify(join(dir, 'client.crt'))}, 'utf8'), clientKeyData: fs.readFileSync(${JSON.stringify(join(dir, 'client.key'))}, 'utf8') } }));`);
    const c = await kubeconfig('exec.yaml', { 'certificate-authority': 'ca.crt', 'tls-server-name': 'api.internal' }, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin] } });
    expect(await c.authHeaders()).toEqual({});
    expect(await identity(c)).toBe('gangway-ci');
  });

  it('an untrusted server or a name mismatch is a KubeUnreachableError that says what to check', async () => {
    const untrusted = await caught(identity(await kubeconfig('no-ca.yaml', {}, { token: 't' })));
    expect([untrusted instanceof KubeUnreachableError, untrusted.message]).toEqual([true,
      `cannot reach the Kubernetes API server at ${url} (context tls): TLS verification failed: self-signed certificate in certificate chain (check the cluster's certificate-authority) (SELF_SIGNED_CERT_IN_CHAIN)`]);
    const mismatch = await caught(identity(await kubeconfig('no-name.yaml', { 'certificate-authority': 'ca.crt' }, { token: 't' })));
    expect([mismatch instanceof KubeUnreachableError, mismatch.message]).toEqual([true,
      `cannot reach the Kubernetes API server at ${url} (context tls): TLS verification failed: Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list: (check the cluster's certificate-authority) (ERR_TLS_CERT_ALTNAME_INVALID)`]);
  });
});

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}
