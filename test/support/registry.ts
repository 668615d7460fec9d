/**
 * A real OCI registry for tests (the Debian package `docker-registry`, the CNCF Distribution
 * registry, binary /usr/bin/docker-registry), storing in a temporary folder and listening on a
 * free loopback port, plus helpers that push images and cosign signatures to it over the
 * Distribution API the way `docker push` and `cosign sign --key` do.
 *
 * Authentication is real too: `htpasswd` (bcrypt entries written by `htpasswd -B` from the
 * Debian package apache2-utils) or `token` (the registry's own token verification, trusting a
 * self-signed certificate made by the Debian package openssl; {@link startTokenServer} issues
 * the tokens). An authenticated registry can serve the storage of an open one
 * (`rootDirectory`), so tests push to the open one and read through the other.
 *
 * @example
 * ```ts
 * const reg = await startRegistryOrSkip('registry client tests');
 * afterAll(() => reg?.stop());
 * describe.skipIf(!reg)('registry', () => { ... await pushImage(reg!.url, 'web', '1.0.0', { layers: ['a'] }) ... });
 * ```
 */
import { startDaemon } from './daemon.js';
import { HelperStartError } from './helper-start.js';
import { spawn } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeOrSkip } from './require.js';
import { freePort } from '../../src/agent/ports.js';
export { freePort };

/** Where the Debian package installs the registry. */
export const REGISTRY_BIN = process.env.GANGWAY_REGISTRY_BIN ?? '/usr/bin/docker-registry';
/** What to install when it is missing. */
export const REGISTRY_PACKAGE = 'the Debian package docker-registry (apt-get install docker-registry)';
/** Writes bcrypt htpasswd entries. */
export const HTPASSWD_BIN = '/usr/bin/htpasswd';
export const HTPASSWD_PACKAGE = 'the Debian package apache2-utils (apt-get install apache2-utils)';
/** Makes the token service's certificate. */
export const OPENSSL_BIN = '/usr/bin/openssl';
export const OPENSSL_PACKAGE = 'the Debian package openssl (apt-get install openssl)';

/** Authentication of a test registry. */
export type RegistryAuth =
  | { htpasswd: { username: string; password: string } }
  | { token: TokenServer };

/** Options of {@link startRegistry}. */
export interface RegistryOptions {
  auth?: RegistryAuth;
  /** Serve this storage folder (another test registry's `rootDirectory`) instead of a new one. */
  rootDirectory?: string;
}

/** A running test registry. */
export interface RegistryServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `127.0.0.1:<port>`, as image references name it. */
  readonly host: string;
  readonly port: number;
  /** Its storage folder. */
  readonly rootDirectory: string;
  /** Everything it logged so far (for failure messages). */
  log(): string;
  /** Stops it and deletes its folder (not a storage folder it borrowed). Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 20_000;

/** Whether the registry binary is installed. */
export function hasRegistry(): boolean {
  return existsSync(REGISTRY_BIN);
}


/** Runs a program without a shell; resolves to its stdout, rejects with its stderr. */
function run(bin: string, args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8'); });
    child.once('error', reject);
    child.once('exit', (code) => code === 0 ? resolve(out) : reject(new Error(`${bin} exited with ${code}: ${err.trim()}`)));
    child.stdin.end(stdin ?? '');
  });
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

async function authYaml(dir: string, auth: RegistryAuth | undefined): Promise<string[]> {
  if (!auth) return [];
  if ('htpasswd' in auth) {
    if (!existsSync(HTPASSWD_BIN)) throw new Error(`${HTPASSWD_BIN} not found; install ${HTPASSWD_PACKAGE}`);
    // The registry accepts bcrypt entries only; the password goes through stdin, not argv.
    const line = await run(HTPASSWD_BIN, ['-niB', auth.htpasswd.username], `${auth.htpasswd.password}\n`);
    const file = join(dir, 'htpasswd');
    await writeFile(file, line.trim() + '\n', { mode: 0o600 });
    return ['auth:', '  htpasswd:', '    realm: gangway-test', `    path: ${yamlString(file)}`];
  }
  const t = auth.token;
  return ['auth:', '  token:', `    realm: ${yamlString(t.realm)}`, `    service: ${yamlString(t.service)}`,
    `    issuer: ${yamlString(t.issuer)}`, `    rootcertbundle: ${yamlString(t.rootCertBundle)}`];
}

/**
 * Starts a registry and resolves once `GET /v2/` answers (200, or 401 when it authenticates).
 * Rejects (after cleaning up) when the binary is missing or the registry does not start.
 */
export async function startRegistry(opts: RegistryOptions = {}): Promise<RegistryServer> {
  if (!hasRegistry()) throw new Error(`${REGISTRY_BIN} not found`);
  const dir = await mkdtemp(join(tmpdir(), 'gangway-registry-'));
  try {
    const rootDirectory = opts.rootDirectory ?? join(dir, 'storage');
    await mkdir(rootDirectory, { recursive: true });
    const auth = await authYaml(dir, opts.auth);
    let lastError: unknown;
    // A free port can be taken between finding it and binding it; try a few.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const configFile = join(dir, 'config.yml');
      await writeFile(configFile, [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${yamlString(rootDirectory)}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        `  secret: ${randomBytes(16).toString('hex')}`,
        ...auth,
        '',
      ].join('\n'));
      try {
        return await launch(dir, configFile, port, rootDirectory);
      } catch (err) {
        lastError = err;
        // Only an early exit (the port was taken) is worth another port; a start that timed out is not.
        if (err instanceof HelperStartError && err.timedOut) break;
      }
    }
    throw lastError;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launch(dir: string, configFile: string, port: number, rootDirectory: string): Promise<RegistryServer> {
  const url = `http://127.0.0.1:${port}`;
  const d = await startDaemon({
    name: 'docker-registry', bin: REGISTRY_BIN, args: ['serve', configFile], dir, port, timeoutMs: START_TIMEOUT_MS,
    readyUrl: `${url}/v2/`, ready: (status) => status === 200 || status === 401,
  });
  return { url, host: `127.0.0.1:${port}`, port, rootDirectory, log: d.log, stop: () => d.stop(true) };
}

/**
 * {@link startRegistry}, or undefined after a loud SKIPPED message naming the Debian package
 * when it cannot run (under `GANGWAY_REQUIRE_ALL=1` that throws instead).
 */
export function startRegistryOrSkip(what: string, opts: RegistryOptions = {}): Promise<RegistryServer | undefined> {
  return probeOrSkip(what, REGISTRY_PACKAGE, () => startRegistry(opts));
}

// ---------------------------------------------------------------------------------------------
// Pushing, as a registry client does it.

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Uploads a blob (POST, then a monolithic PUT with its digest) and returns its descriptor. */
export async function pushBlob(registryUrl: string, repo: string, data: Buffer | string, mediaType: string): Promise<{ mediaType: string; digest: string; size: number }> {
  const body = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
  const digest = sha256Digest(body);
  const started = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await started.arrayBuffer();
  if (started.status !== 202) throw new Error(`starting a blob upload to ${repo} answered ${started.status}`);
  const location = new URL(started.headers.get('location')!, registryUrl);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(body) });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`uploading blob ${digest} to ${repo} answered ${put.status}: ${text}`);
  return { mediaType, digest, size: body.length };
}

/** PUTs a manifest under a tag (or digest); returns its digest, checked against the registry's. */
export async function pushManifest(registryUrl: string, repo: string, reference: string, manifest: object): Promise<string> {
  const body = Buffer.from(JSON.stringify(manifest), 'utf8');
  const mediaType = (manifest as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
  const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': mediaType }, body });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`pushing manifest ${repo}:${reference} answered ${res.status}: ${text}`);
  const digest = sha256Digest(body);
  const named = res.headers.get('docker-content-digest');
  if (named !== digest) throw new Error(`registry named digest ${named} for a manifest whose bytes are ${digest}`);
  return digest;
}

/**
 * Pushes an OCI image (a config blob, the given layers, a manifest) as `repo:tag` and returns
 * the manifest's digest. Layers with the same content make the same digest.
 */
export async function pushImage(registryUrl: string, repo: string, tag: string, opts: { layers: Array<Buffer | string> }): Promise<string> {
  const layers = [];
  for (const layer of opts.layers) layers.push(await pushBlob(registryUrl, repo, layer, 'application/vnd.oci.image.layer.v1.tar+gzip'));
  const config = JSON.stringify({
    architecture: 'amd64', os: 'linux', config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  const configDesc = await pushBlob(registryUrl, repo, config, 'application/vnd.oci.image.config.v1+json');
  return pushManifest(registryUrl, repo, tag, {
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers,
  });
}

/** Options of {@link pushSignature}. */
export interface SignatureOptions {
  /** The digest the payload names (default: the image's digest, as cosign writes it). */
  payloadDigest?: string;
  /** The payload's `critical.type` (default: cosign's). */
  payloadType?: string;
  /** Add a signature to the ones already there instead of replacing them (cosign appends). */
  append?: boolean;
}

/**
 * Signs `repo@digest` as `cosign sign --key` does: the simple-signing payload, a signature over
 * its bytes (ECDSA P-256 keys sign SHA-256 with a DER signature; RSA PKCS#1 v1.5 SHA-256;
 * Ed25519), pushed as the image `repo:sha256-<hex>.sig` whose layer is the payload with the
 * signature in its `dev.cosignproject.cosign/signature` annotation. Returns the signature
 * manifest's digest.
 */
export async function pushSignature(registryUrl: string, repo: string, digest: string, privateKey: KeyObject | string, opts: SignatureOptions = {}): Promise<string> {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const host = new URL(registryUrl).host;
  const payload = Buffer.from(JSON.stringify({
    critical: {
      identity: { 'docker-reference': `${host}/${repo}` },
      image: { 'docker-manifest-digest': opts.payloadDigest ?? digest },
      type: opts.payloadType ?? 'cosign container image signature',
    },
    optional: null,
  }), 'utf8');
  const signature = sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', payload, key).toString('base64');
  const layer = {
    ...(await pushBlob(registryUrl, repo, payload, 'application/vnd.dev.cosign.simplesigning.v1+json')),
    annotations: { 'dev.cosignproject.cosign/signature': signature },
  };
  const tag = `${digest.replace(':', '-')}.sig`;
  let layers = [layer];
  if (opts.append) {
    const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    if (res.status === 200) layers = [...((await res.json()) as { layers: typeof layers }).layers, layer];
    else await res.arrayBuffer();
  }
  const config = JSON.stringify({
    architecture: '', config: {}, created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  const configDesc = await pushBlob(registryUrl, repo, config, 'application/vnd.oci.image.config.v1+json');
  return pushManifest(registryUrl, repo, tag, {
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers,
  });
}

// ---------------------------------------------------------------------------------------------
// A token service for registries with `auth: token`.

/** A running token service (what Docker Hub's auth.docker.io or a Harbor does). */
export interface TokenServer {
  /** The realm registries send clients to: `http://127.0.0.1:<port>/token`. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** Path of the PEM certificate whose key signs the tokens: the registry's `rootcertbundle`. */
  readonly rootCertBundle: string;
  /** Token requests so far, with the credentials they brought (for assertions) and the answer. */
  readonly requests: Array<{ scope: string | null; user: string | null; status: number }>;
  stop(): Promise<void>;
}

/**
 * Starts a token service on a free loopback port: a `GET /token?service=…&scope=…` with the
 * right basic credentials gets a JWT (ES256, the certificate in `x5c`) granting the scope's
 * actions; wrong or missing credentials get 401. The certificate is made by openssl.
 */
export async function startTokenServer(opts: { username: string; password: string; service?: string; issuer?: string }): Promise<TokenServer> {
  if (!existsSync(OPENSSL_BIN)) throw new Error(`${OPENSSL_BIN} not found; install ${OPENSSL_PACKAGE}`);
  const dir = await mkdtemp(join(tmpdir(), 'gangway-token-'));
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  await run(OPENSSL_BIN, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=gangway-test-token-service']);
  const key = createPrivateKey(await readFile(keyFile));
  const certPem = await readFile(certFile, 'utf8');
  const certDer = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const service = opts.service ?? 'gangway-test-registry';
  const issuer = opts.issuer ?? 'gangway-test-token-service';
  const requests: TokenServer['requests'] = [];
  const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

  const server: Server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scope = url.searchParams.get('scope');
    const auth = req.headers.authorization ?? '';
    const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : null;
    const user = decoded === null ? null : decoded.slice(0, decoded.indexOf(':'));
    const answer = (status: number, body: object) => {
      requests.push({ scope, user, status });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname !== '/token') return answer(404, { error: 'not found' });
    if (decoded !== `${opts.username}:${opts.password}`) return answer(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
    const access = [];
    if (scope) {
      const parts = scope.split(':');
      access.push({ type: parts[0], name: parts.slice(1, -1).join(':'), actions: parts[parts.length - 1]!.split(',') });
    }
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] }));
    const claims = b64url(JSON.stringify({
      iss: issuer, sub: opts.username, aud: url.searchParams.get('service') ?? service,
      exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access,
    }));
    // JWS ES256 wants r||s, not the DER signature Node makes by default.
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    answer(200, { token: `${header}.${claims}.${b64url(signature)}`, expires_in: 300 });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  let stopping: Promise<void> | null = null;
  return {
    realm: `http://127.0.0.1:${port}/token`, service, issuer, rootCertBundle: certFile, requests,
    stop: () => stopping ??= (async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    })(),
  };
}
