/**
 * The image and signature gates, and pinning a release by digest, against a real registry.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { EnvironmentConfig, GangwayConfig } from '../config/types.js';
import { freePort, pushImage, pushSignature, startRegistryOrSkip } from '../../test/support/registry.js';
import { ImageGate, ImageResolveError, resolveImage, SignatureGate } from './image.js';
import { RegistryClient } from './registry/client.js';
import type { GateRequest } from './types.js';

const reg = await startRegistryOrSkip('image gate tests');
afterAll(() => reg?.stop());

const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signerPem = signer.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const signerFingerprint = `sha256:${createHash('sha256').update(signer.publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`;

function env(name: string, image: EnvironmentConfig['image']): EnvironmentConfig {
  return { name, reason: 'optional', queue: 'supersede', windows: [], checks: [], checklist: [], image, expedited: null };
}

/** Only the parts of a config the image gates read. */
function config(host: string): GangwayConfig {
  return {
    environments: [
      env('dev', null),
      env('staging', { exists: true, signature: null }),
      env('prod', { exists: true, signature: { publicKey: signerPem } }),
      env('broken', { exists: false, signature: { publicKey: 'not a key' } }),
    ],
    registries: [{ host, insecure: true, username: null, password: null, token: null }],
  } as unknown as GangwayConfig;
}

function request(environment: string, image: string | null): GateRequest {
  return { service: 'web', environment, version: '1.0.0', image, actor: 'alice', reason: null, expedited: false, deploymentId: null, now: Date.now() };
}

describe('which environments the image gates apply to', () => {
  const cfg = config('127.0.0.1:1');
  const client = new RegistryClient(cfg.registries);
  it('image: where image.exists is set', () => {
    const gate = new ImageGate(cfg, client);
    expect(['dev', 'staging', 'prod', 'broken'].map((e) => gate.applies(cfg, e))).toEqual([false, true, true, false]);
  });
  it('signature: where image.signature is set', () => {
    const gate = new SignatureGate(cfg, client);
    expect(['dev', 'staging', 'prod', 'broken'].map((e) => gate.applies(cfg, e))).toEqual([false, false, true, true]);
  });
});

describe.skipIf(!reg)('image gates (real registry)', () => {
  // The body runs even when the suite is skipped: nothing here may touch a missing registry.
  const r = reg!;
  const cfg = config(reg?.host ?? 'unused:1');
  const client = new RegistryClient(cfg.registries);
  const imageGate = new ImageGate(cfg, client);
  const signatureGate = new SignatureGate(cfg, client);

  it('image passes with the digest a tag resolves to', async () => {
    const digest = await pushImage(r.url, 'web', '1.0.0', { layers: ['web 1.0.0'] });
    expect(await imageGate.evaluate(request('staging', `${r.host}/web:1.0.0`))).toEqual({
      gate: 'image', result: 'pass', reason: `${r.host}/web:1.0.0 is ${digest}`,
      evidence: { digest, registry: r.host, repository: `${r.host}/web`, tag: '1.0.0', mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    });
  });

  it('image passes for a reference pinned by digest that exists', async () => {
    const digest = await pushImage(r.url, 'web', '1.0.0', { layers: ['web 1.0.0'] });
    expect(await imageGate.evaluate(request('staging', `${r.host}/web:1.0.0@${digest}`))).toEqual({
      gate: 'image', result: 'pass', reason: `${r.host}/web:1.0.0@${digest} exists`,
      evidence: { digest, registry: r.host, repository: `${r.host}/web`, tag: '1.0.0', mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    });
  });

  it('image fails for an unknown tag, a registry that is down, no image, and an invalid reference', async () => {
    expect(await imageGate.evaluate(request('staging', `${r.host}/web:2.0.0`))).toEqual({
      gate: 'image', result: 'fail', reason: `tag 2.0.0 not found in ${r.host}/web`, hint: 'push the image first, or check the tag',
      evidence: { image: `${r.host}/web:2.0.0`, registry: r.host },
    });
    const port = await freePort();
    expect(await imageGate.evaluate(request('staging', `127.0.0.1:${port}/web:1.0.0`))).toEqual({
      gate: 'image', result: 'fail', reason: `registry 127.0.0.1:${port} is unreachable: connection refused`,
      hint: 'the registry must answer before a deployment is accepted: check that it is up and that registries[] has the right credentials',
      evidence: { image: `127.0.0.1:${port}/web:1.0.0`, registry: `127.0.0.1:${port}` },
    });
    expect(await imageGate.evaluate(request('staging', null))).toEqual({
      gate: 'image', result: 'fail', reason: 'staging requires an image that exists in its registry, and this deployment names no image',
      hint: 'deploy with --image <registry>/<repository>:<tag>', evidence: {},
    });
    expect(await imageGate.evaluate(request('staging', `${r.host}/Web:1`))).toMatchObject({
      gate: 'image', result: 'fail',
      reason: `invalid image reference "${r.host}/Web:1": "Web" is not a valid repository path component (lower-case letters, digits, and . _ - between them)`,
    });
  });

  it('signature passes for an image signed by the environment\'s key', async () => {
    const digest = await pushImage(r.url, 'api', '3.1.0', { layers: ['api 3.1.0'] });
    await pushSignature(r.url, 'api', digest, signer.privateKey);
    const got = await signatureGate.evaluate(request('prod', `${r.host}/api:3.1.0`));
    expect(got).toMatchObject({
      gate: 'signature', result: 'pass', reason: `${r.host}/api@${digest} is signed by key ${signerFingerprint} (ec-p256)`,
      evidence: { digest, registry: r.host, repository: `${r.host}/api`, keyType: 'ec-p256', keyFingerprint: signerFingerprint, signatureTag: `${digest.replace(':', '-')}.sig` },
    });
  });

  it('signature fails, with the reason, for an unsigned image and one signed by another key', async () => {
    const unsigned = await pushImage(r.url, 'api', '3.2.0', { layers: ['api 3.2.0'] });
    const unsignedResult = await signatureGate.evaluate(request('prod', `${r.host}/api:3.2.0`));
    expect(unsignedResult).toMatchObject({
      gate: 'signature', result: 'fail', reason: `no signature for ${unsigned} (tag ${unsigned.replace(':', '-')}.sig not found)`,
      hint: `sign it in CI: cosign sign --key cosign.key ${r.host}/api@${unsigned}`,
    });
    const foreign = await pushImage(r.url, 'api', '3.3.0', { layers: ['api 3.3.0'] });
    await pushSignature(r.url, 'api', foreign, stranger.privateKey);
    expect(await signatureGate.evaluate(request('prod', `${r.host}/api:3.3.0`))).toMatchObject({
      gate: 'signature', result: 'fail', reason: 'signature does not verify with the configured key',
    });
  });

  it('signature fails for an unknown tag and for an unusable key', async () => {
    expect(await signatureGate.evaluate(request('prod', `${r.host}/api:9.9.9`))).toMatchObject({
      gate: 'signature', result: 'fail', reason: `tag 9.9.9 not found in ${r.host}/api`,
    });
    const got = await signatureGate.evaluate(request('broken', `${r.host}/api:3.1.0`));
    expect(got.result).toBe('fail');
    expect(got.reason.startsWith('the configured public key is not a PEM public key (')).toBe(true);
    expect(got.result === 'fail' && got.hint).toBe('fix environments.broken.image.signature.publicKey');
  });

  it('resolveImage pins a tag by digest, keeping the tag for display', async () => {
    const digest = await pushImage(r.url, 'shop/web', '1.4.2', { layers: ['shop web 1.4.2'] });
    expect(await resolveImage(client, `${r.host}/shop/web:1.4.2`)).toEqual({ pinned: `${r.host}/shop/web@${digest}`, digest, tag: '1.4.2' });
    expect(await resolveImage(client, `${r.host}/shop/web@${digest}`)).toEqual({ pinned: `${r.host}/shop/web@${digest}`, digest, tag: null });
  });

  it('resolveImage refuses an unknown tag, an unreachable registry and an invalid reference with typed errors', async () => {
    const caught = async (image: string, c = client) => {
      try {
        await resolveImage(c, image);
      } catch (err) {
        return err as ImageResolveError;
      }
      throw new Error('resolveImage did not throw');
    };
    const notFound = await caught(`${r.host}/shop/web:0.0.0`);
    expect(notFound).toBeInstanceOf(ImageResolveError);
    expect([notFound.code, notFound.phase, notFound.message]).toEqual(['not_found', 'notfound', `tag 0.0.0 not found in ${r.host}/shop/web`]);
    const port = await freePort();
    const down = await caught(`127.0.0.1:${port}/web:1`, new RegistryClient([]));
    expect([down.code, down.phase, down.message]).toEqual(['blocked', 'error', `registry 127.0.0.1:${port} is unreachable: connection refused`]);
    const invalid = await caught('');
    expect([invalid.code, invalid.phase, invalid.message]).toEqual(['invalid_argument', 'invalid', 'invalid image reference "": it is empty']);
  });
});
