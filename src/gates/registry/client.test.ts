/**
 * The registry client against a real Distribution registry (Debian docker-registry): open,
 * with htpasswd basic auth, and with token auth (the registry verifies JWTs from a test token
 * service). Behaviour no real registry shows on demand (no Docker-Content-Digest header, a
 * corrupted blob, a registry that never answers) is served by small fakes, named as such.
 */
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import type { RegistryConfig } from '../../config/types.js';
import {
  freePort, pushImage, sha256Digest, startRegistry, startRegistryOrSkip, startTokenServer,
  HTPASSWD_BIN, HTPASSWD_PACKAGE, OPENSSL_BIN, OPENSSL_PACKAGE, type RegistryServer, type TokenServer,
} from '../../../test/support/registry.js';
import { requireOrSkip } from '../../../test/support/require.js';
import { RegistryClient, parseChallenge } from './client.js';

const reg = await startRegistryOrSkip('registry client tests');
afterAll(() => reg?.stop());

function open(host: string, extra: Partial<RegistryConfig> = {}): RegistryConfig {
  return { host, insecure: true, username: null, password: null, token: null, ...extra };
}

/** A fake registry: a node:http server answering with `handler`. */
async function fakeRegistry(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ host: string; stop: () => Promise<void> }> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  return {
    host: `127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe.skipIf(!reg)('registry client (real registry)', () => {
  const r = reg!;
  let digest = '';
  const client = () => new RegistryClient([open(r.host)]);

  it('resolves a tag to the digest of its manifest', async () => {
    digest = await pushImage(r.url, 'web', '1.0.0', { layers: ['layer one', 'layer two'] });
    expect(await client().resolve(`${r.host}/web:1.0.0`)).toEqual({ phase: 'ok', digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  });

  it('answers notfound for an unknown tag and an unknown repository', async () => {
    await pushImage(r.url, 'web', '1.0.0', { layers: ['layer one', 'layer two'] });
    expect(await client().resolve(`${r.host}/web:2.0.0`)).toEqual({ phase: 'notfound', detail: `tag 2.0.0 not found in ${r.host}/web` });
    expect(await client().resolve(`${r.host}/nothing/here:1`)).toEqual({ phase: 'notfound', detail: `tag 1 not found in ${r.host}/nothing/here` });
  });

  it('checks that a reference pinned by digest exists', async () => {
    const d = await pushImage(r.url, 'web', '1.0.0', { layers: ['layer one', 'layer two'] });
    expect(await client().resolve(`${r.host}/web@${d}`)).toEqual({ phase: 'ok', digest: d, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    const missing = `sha256:${'0'.repeat(64)}`;
    expect(await client().resolve(`${r.host}/web@${missing}`)).toEqual({ phase: 'notfound', detail: `manifest ${missing} not found in ${r.host}/web` });
  });

  it('reads a manifest and its blobs, checked against their digests', async () => {
    const d = await pushImage(r.url, 'api', 'v1', { layers: ['only layer'] });
    const m = await client().getManifest(`${r.host}/api`, 'v1');
    expect(m.phase).toBe('ok');
    if (m.phase !== 'ok') return;
    expect(m.digest).toBe(d);
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    const layers = (m.manifest as { layers: Array<{ digest: string }> }).layers;
    expect(layers.map((l) => l.digest)).toEqual([sha256Digest('only layer')]);
    const blob = await client().getBlob(`${r.host}/api`, layers[0]!.digest);
    expect(blob.phase === 'ok' && blob.body.toString('utf8')).toBe('only layer');
    const missing = `sha256:${'1'.repeat(64)}`;
    expect(await client().getBlob(`${r.host}/api`, missing)).toEqual({ phase: 'notfound', detail: `blob ${missing} not found in ${r.host}/api` });
  });

  it('says a registry that is down is unreachable', async () => {
    const port = await freePort();
    const c = new RegistryClient([open(`127.0.0.1:${port}`)]);
    expect(await c.resolve(`127.0.0.1:${port}/web:1.0.0`)).toEqual({ phase: 'error', detail: `registry 127.0.0.1:${port} is unreachable: connection refused` });
  });

  it('asks a registry that is not configured over HTTPS, and says so when it speaks plain HTTP', async () => {
    expect(await new RegistryClient([]).resolve(`${r.host}/web:1.0.0`)).toEqual({
      phase: 'error',
      detail: `registry ${r.host} is unreachable: TLS handshake failed (ERR_SSL_WRONG_VERSION_NUMBER); a registry that speaks plain HTTP needs insecure: true in registries`,
    });
  });

  it('finds the configuration of a registry whatever the case of its host name', async () => {
    const d = await pushImage(r.url, 'web', '1.0.0', { layers: ['layer one', 'layer two'] });
    const c = new RegistryClient([open(`LOCALHOST:${r.port}`)]);
    expect(await c.resolve(`localhost:${r.port}/web:1.0.0`)).toMatchObject({ phase: 'ok', digest: d });
  });
});

const hasHtpasswd = reg ? requireOrSkip('registry basic-auth tests', HTPASSWD_PACKAGE, existsSync(HTPASSWD_BIN)) : false;
const hasOpenssl = reg ? requireOrSkip('registry token-auth tests', OPENSSL_PACKAGE, existsSync(OPENSSL_BIN)) : false;
const PASSWORD = 'Sup3r-s3cret-PASSWORD';
const secrets = [PASSWORD, Buffer.from(`ci:${PASSWORD}`).toString('base64'), Buffer.from(`ci:wrong-${PASSWORD}`).toString('base64')];
function expectNoSecrets(results: unknown[]): void {
  const text = JSON.stringify(results);
  for (const s of secrets) expect(text).not.toContain(s);
}

describe.skipIf(!hasHtpasswd)('registry client with basic auth (real registry, htpasswd)', () => {
  let basic: RegistryServer;
  let digest: string;
  afterAll(() => basic?.stop());

  it('resolves with the right credentials, and says which credentials are wrong or missing', async () => {
    digest = await pushImage(reg!.url, 'web', '1.0.0', { layers: ['layer one', 'layer two'] });
    basic = await startRegistry({ auth: { htpasswd: { username: 'ci', password: PASSWORD } }, rootDirectory: reg!.rootDirectory });
    const ref = `${basic.host}/web:1.0.0`;
    const good = await new RegistryClient([open(basic.host, { username: 'ci', password: PASSWORD })]).resolve(ref);
    const wrong = await new RegistryClient([open(basic.host, { username: 'ci', password: `wrong-${PASSWORD}` })]).resolve(ref);
    const none = await new RegistryClient([open(basic.host)]).resolve(ref);
    expect(good).toEqual({ phase: 'ok', digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    expect(wrong).toEqual({ phase: 'error', detail: `registry ${basic.host} refused the credentials (401)` });
    expect(none).toEqual({ phase: 'error', detail: `registry ${basic.host} requires credentials (401) and none are configured for it` });
    expectNoSecrets([good, wrong, none]);
  });
});

describe.skipIf(!hasOpenssl)('registry client with token auth (real registry, test token service)', () => {
  let tokens: TokenServer;
  let bearer: RegistryServer;
  afterAll(async () => { await bearer?.stop(); await tokens?.stop(); });

  it('fetches a token from the realm with the basic credentials, retries, and reuses the token', async () => {
    const digest = await pushImage(reg!.url, 'web', '1.0.0', { layers: ['layer one', 'layer two'] });
    tokens = await startTokenServer({ username: 'ci', password: PASSWORD });
    bearer = await startRegistry({ auth: { token: tokens }, rootDirectory: reg!.rootDirectory });
    const c = new RegistryClient([open(bearer.host, { username: 'ci', password: PASSWORD })]);
    const first = await c.resolve(`${bearer.host}/web:1.0.0`);
    const second = await c.resolve(`${bearer.host}/web:1.0.0`);
    expect(first).toEqual({ phase: 'ok', digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    expect(second).toEqual(first);
    expect(tokens.requests).toEqual([{ scope: 'repository:web:pull', user: 'ci', status: 200 }]);
    expectNoSecrets([first, second]);
  });

  it('says the credentials were refused when the token service refuses them', async () => {
    tokens.requests.length = 0;
    const c = new RegistryClient([open(bearer.host, { username: 'ci', password: `wrong-${PASSWORD}` })]);
    const got = await c.resolve(`${bearer.host}/web:1.0.0`);
    expect(got).toEqual({ phase: 'error', detail: `registry ${bearer.host} refused the credentials (401)` });
    expect(tokens.requests).toEqual([{ scope: 'repository:web:pull', user: 'ci', status: 401 }]);
    expectNoSecrets([got]);
  });

  it('sends a configured static token as the bearer token', async () => {
    const res = await fetch(`${tokens.realm}?service=${tokens.service}&scope=repository:web:pull`, {
      headers: { authorization: `Basic ${Buffer.from(`ci:${PASSWORD}`).toString('base64')}` },
    });
    const { token } = await res.json() as { token: string };
    tokens.requests.length = 0;
    const good = await new RegistryClient([open(bearer.host, { token })]).resolve(`${bearer.host}/web:1.0.0`);
    expect(good).toMatchObject({ phase: 'ok' });
    expect(tokens.requests).toEqual([]);
    const bad = await new RegistryClient([open(bearer.host, { token: `${token}x` })]).resolve(`${bearer.host}/web:1.0.0`);
    expect(bad).toEqual({ phase: 'error', detail: `registry ${bearer.host} refused the credentials (401)` });
    expect(JSON.stringify([good, bad])).not.toContain(token);
  });
});

describe('registry client against fakes', () => {
  it('falls back to GET and a sha256 of the body when HEAD names no digest (fake registry)', async () => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', layers: [] });
    const fake = await fakeRegistry((req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    try {
      expect(await new RegistryClient([open(fake.host)]).resolve(`${fake.host}/web:1`)).toEqual({
        phase: 'ok', digest: sha256Digest(body), mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      });
    } finally {
      await fake.stop();
    }
  });

  it('uses GET when a registry does not answer HEAD (fake registry)', async () => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    const fake = await fakeRegistry((req, res) => {
      if (req.method === 'HEAD') { res.writeHead(405).end(); return; }
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', 'docker-content-digest': sha256Digest(body) }).end(body);
    });
    try {
      expect(await new RegistryClient([open(fake.host)]).resolve(`${fake.host}/web:1`)).toEqual({
        phase: 'ok', digest: sha256Digest(body), mediaType: 'application/vnd.oci.image.index.v1+json',
      });
    } finally {
      await fake.stop();
    }
  });

  it('refuses a manifest whose bytes do not match the digest the registry names (fake registry)', async () => {
    const named = sha256Digest('another manifest');
    const fake = await fakeRegistry((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': named }).end('{}');
    });
    try {
      expect(await new RegistryClient([open(fake.host)]).getManifest(`${fake.host}/web`, '1')).toEqual({
        phase: 'error', detail: `manifest 1 in ${fake.host}/web does not match its digest (${named} expected, its bytes are ${sha256Digest('{}')})`,
      });
    } finally {
      await fake.stop();
    }
  });

  it('refuses a blob whose bytes do not match its digest (fake registry)', async () => {
    const claimed = sha256Digest('what was pushed');
    const fake = await fakeRegistry((_req, res) => { res.writeHead(200).end('something else'); });
    try {
      expect(await new RegistryClient([open(fake.host)]).getBlob(`${fake.host}/web`, claimed)).toEqual({
        phase: 'error', detail: `blob ${claimed} in ${fake.host}/web does not match its digest (its bytes are ${sha256Digest('something else')})`,
      });
    } finally {
      await fake.stop();
    }
  });

  it('gives up on a registry that does not answer within the time limit (fake registry)', async () => {
    const fake = await fakeRegistry(() => { /* never answers */ });
    try {
      expect(await new RegistryClient([open(fake.host)], { timeoutMs: 200 }).resolve(`${fake.host}/web:1`)).toEqual({
        phase: 'error', detail: `registry ${fake.host} is unreachable: no answer within 200 ms`,
      });
    } finally {
      await fake.stop();
    }
  });

  it('reports the registry\'s own error for an unexpected status (fake registry)', async () => {
    const fake = await fakeRegistry((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'storage is full' }] }));
    });
    try {
      const c = new RegistryClient([open(fake.host)]);
      expect(await c.resolve(`${fake.host}/web:1`)).toEqual({ phase: 'error', detail: `registry ${fake.host} answered 500 for 1 in ${fake.host}/web` });
      expect(await c.getManifest(`${fake.host}/web`, '1')).toEqual({ phase: 'error', detail: `registry ${fake.host} answered 500 for 1 in ${fake.host}/web: UNKNOWN storage is full` });
    } finally {
      await fake.stop();
    }
  });
});

describe('parseChallenge', () => {
  it('reads a bearer challenge', () => {
    expect(parseChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:shop/web:pull"')).toEqual({
      scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:shop/web:pull' },
    });
    expect(parseChallenge('Basic realm="gangway-test"')).toEqual({ scheme: 'basic', params: { realm: 'gangway-test' } });
    expect(parseChallenge(null)).toBeNull();
  });
});
