/**
 * Cosign verification against a real registry holding images and signatures pushed the way
 * `cosign sign --key` stores them (`repo:sha256-<hex>.sig`, simple-signing payload layers).
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, pushImage, pushSignature, sha256Digest, startRegistryOrSkip } from '../../../test/support/registry.js';
import { RegistryClient } from './client.js';
import { loadCosignPublicKey, signatureTag, verifyCosignSignature } from './cosign.js';

const reg = await startRegistryOrSkip('cosign signature tests');
afterAll(() => reg?.stop());

function keyPair(kind: 'ec' | 'rsa' | 'ed25519'): { privateKey: KeyObject; pem: string; fingerprint: string } {
  const pair = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ed25519');
  const der = pair.publicKey.export({ type: 'spki', format: 'der' });
  return {
    privateKey: pair.privateKey,
    pem: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    fingerprint: `sha256:${createHash('sha256').update(der).digest('hex')}`,
  };
}

const signer = keyPair('ec');
const stranger = keyPair('ec');
// RSA key generation is slow; one pair serves every test.
const rsa = keyPair('rsa');

/** The simple-signing payload exactly as cosign writes it. */
function payloadOf(dockerReference: string, digest: string): string {
  return `{"critical":{"identity":{"docker-reference":"${dockerReference}"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`;
}

describe('signatureTag', () => {
  it('follows cosign\'s convention', () => {
    expect(signatureTag(`sha256:${'ab'.repeat(32)}`)).toBe(`sha256-${'ab'.repeat(32)}.sig`);
  });
});

describe('loadCosignPublicKey', () => {
  it('reads a P-256 key and names its type and fingerprint', () => {
    expect(loadCosignPublicKey(signer.pem)).toMatchObject({ type: 'ec-p256', fingerprint: signer.fingerprint });
  });
  it('reads RSA and Ed25519 keys', () => {
    expect(loadCosignPublicKey(rsa.pem)).toMatchObject({ type: 'rsa-2048' });
    expect(loadCosignPublicKey(keyPair('ed25519').pem)).toMatchObject({ type: 'ed25519' });
  });
  it('says what is wrong with a key that is not one', () => {
    const got = loadCosignPublicKey('-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n');
    expect(typeof got === 'string' && got.startsWith('the configured public key is not a PEM public key (')).toBe(true);
  });
});

describe.skipIf(!reg)('verifyCosignSignature (real registry)', () => {
  // The body runs even when the suite is skipped: nothing here may touch a missing registry.
  const r = reg!;
  const client = new RegistryClient([{ host: reg?.host ?? 'unused:1', insecure: true, username: null, password: null, token: null }]);
  const repo = `${reg?.host}/web`;
  let n = 0;
  /** A fresh image per test, so signatures of one test do not meet another's. */
  const image = () => pushImage(r.url, 'web', `t${++n}`, { layers: [`content ${n} ${Math.random()}`] });

  it('verifies a good signature and records the evidence', async () => {
    const digest = await image();
    const sigManifest = await pushSignature(r.url, 'web', digest, signer.privateKey);
    const got = await verifyCosignSignature(client, repo, digest, signer.pem);
    expect(got.verified).toBe(true);
    if (!got.verified) return;
    expect(got.evidence).toEqual({
      digest, signatureTag: signatureTag(digest), signatureManifest: sigManifest, payload: sha256Digest(payloadOf(`${r.host}/web`, digest)),
      dockerReference: `${r.host}/web`, keyType: 'ec-p256', keyFingerprint: signer.fingerprint,
    });
  });

  it('refuses a signature made by another key', async () => {
    const digest = await image();
    await pushSignature(r.url, 'web', digest, stranger.privateKey);
    expect(await verifyCosignSignature(client, repo, digest, signer.pem)).toEqual({ verified: false, reason: 'signature does not verify with the configured key' });
  });

  it('refuses a signature whose payload names another digest', async () => {
    const digest = await image();
    const other = await image();
    await pushSignature(r.url, 'web', digest, signer.privateKey, { payloadDigest: other });
    expect(await verifyCosignSignature(client, repo, digest, signer.pem)).toEqual({ verified: false, reason: `signature is for ${other}, not ${digest}` });
  });

  it('refuses a payload that is not a cosign image signature', async () => {
    const digest = await image();
    await pushSignature(r.url, 'web', digest, signer.privateKey, { payloadType: 'atomic container signature' });
    expect(await verifyCosignSignature(client, repo, digest, signer.pem)).toEqual({
      verified: false, reason: 'payload type "atomic container signature" is not "cosign container image signature"',
    });
  });

  it('says when there is no signature at all', async () => {
    const digest = await image();
    const hex = digest.slice('sha256:'.length);
    expect(await verifyCosignSignature(client, repo, digest, signer.pem)).toEqual({
      verified: false, reason: `no signature for ${digest} (tag sha256-${hex}.sig not found)`,
    });
  });

  it('accepts one good signature among several', async () => {
    const digest = await image();
    await pushSignature(r.url, 'web', digest, stranger.privateKey);
    await pushSignature(r.url, 'web', digest, signer.privateKey, { append: true });
    expect(await verifyCosignSignature(client, repo, digest, signer.pem)).toMatchObject({ verified: true });
    // With only bad ones, the failure closest to passing is reported.
    const other = await image();
    await pushSignature(r.url, 'web', other, stranger.privateKey);
    await pushSignature(r.url, 'web', other, signer.privateKey, { append: true, payloadDigest: digest });
    expect(await verifyCosignSignature(client, repo, other, signer.pem)).toEqual({ verified: false, reason: `signature is for ${digest}, not ${other}` });
  });

  it('verifies RSA and Ed25519 signatures', async () => {
    for (const kind of ['rsa', 'ed25519'] as const) {
      const keys = kind === 'rsa' ? rsa : keyPair(kind);
      const digest = await image();
      await pushSignature(r.url, 'web', digest, keys.privateKey);
      expect(await verifyCosignSignature(client, repo, digest, keys.pem)).toMatchObject({ verified: true, evidence: { keyFingerprint: keys.fingerprint } });
      expect(await verifyCosignSignature(client, repo, digest, signer.pem)).toEqual({ verified: false, reason: 'signature does not verify with the configured key' });
    }
  });

  it('says why when the registry cannot be asked', async () => {
    const port = await freePort();
    const down = new RegistryClient([{ host: `127.0.0.1:${port}`, insecure: true, username: null, password: null, token: null }]);
    const digest = `sha256:${'c'.repeat(64)}`;
    expect(await verifyCosignSignature(down, `127.0.0.1:${port}/web`, digest, signer.pem)).toEqual({
      verified: false, reason: `could not read the signature of ${digest}: registry 127.0.0.1:${port} is unreachable: connection refused`,
    });
  });
});
