/**
 * A self-signed certificate for the FAKE API server's HTTPS, made once per test process with
 * the `openssl` CLI (argv only). HTTPS is not optional: kubectl (client-go) does not send a
 * bearer token to an `http://` server, so a token-authenticated fake must speak TLS. The
 * certificate names 127.0.0.1 and localhost, and is its own CA (the kubeconfig carries it as
 * `certificate-authority-data`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A PEM key pair. */
export interface TlsMaterial { key: string; cert: string }

let cached: Promise<TlsMaterial> | undefined;

/** The process-wide self-signed certificate (created on first use). */
export function selfSignedCert(): Promise<TlsMaterial> {
  cached ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fake-kube-tls-'));
    try {
      const key = join(dir, 'key.pem');
      const cert = join(dir, 'cert.pem');
      await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', key, '-out', cert, '-days', '7', '-subj', '/CN=fake-kube',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,digitalSignature,keyCertSign',
        '-addext', 'extendedKeyUsage=serverAuth'], { timeout: 30_000 });
      return { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  cached.catch(() => { cached = undefined; });
  return cached;
}
