/**
 * Key-based cosign signature verification, as `cosign verify --key cosign.pub` does it for a
 * signature stored beside the image (offline: no transparency log is consulted).
 *
 * Cosign stores the signatures of `repo@sha256:<hex>` as the image `repo:sha256-<hex>.sig`.
 * Each layer of that image's manifest is one signature: the layer blob is a "simple signing"
 * JSON payload naming the signed digest, and the layer's annotation
 * `dev.cosignproject.cosign/signature` holds the base64 signature over the payload's bytes.
 * A signature counts when it verifies with the configured public key, its payload is of the
 * cosign type, and the payload names exactly the image's digest.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { RegistryClient } from './client.js';

/** Media type of a cosign signature layer. */
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
/** Annotation that carries a layer's base64 signature. */
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
/** `critical.type` of a cosign payload. */
export const COSIGN_PAYLOAD_TYPE = 'cosign container image signature';

/** Outcome of {@link verifyCosignSignature}. */
export type CosignVerification =
  | { verified: true; evidence: Record<string, unknown> }
  | { verified: false; reason: string };

/** A public key ready to verify, with what to record about it. */
export interface CosignPublicKey {
  key: KeyObject;
  /** `ec-p256`, `rsa-2048`, `ed25519`, … */
  type: string;
  /** `sha256:<hex>` of the key's SubjectPublicKeyInfo (DER). */
  fingerprint: string;
}

/**
 * Reads a PEM public key as `cosign generate-key-pair` writes it (ECDSA P-256); RSA and
 * Ed25519 keys are accepted too. Returns the problem as a string instead of throwing.
 *
 * @example
 * const k = loadCosignPublicKey(pem);
 * if (typeof k === 'string') console.error(k);
 */
export function loadCosignPublicKey(pem: string): CosignPublicKey | string {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    return `the configured public key is not a PEM public key (${err instanceof Error ? err.message : String(err)})`;
  }
  const details = key.asymmetricKeyDetails ?? {};
  let type: string;
  switch (key.asymmetricKeyType) {
    case 'ec': type = `ec-${curveName(details.namedCurve)}`; break;
    case 'rsa': type = `rsa-${details.modulusLength ?? '?'}`; break;
    case 'ed25519': type = 'ed25519'; break;
    default: return `the configured public key is of type ${key.asymmetricKeyType ?? 'unknown'}; cosign keys are ECDSA, RSA or Ed25519`;
  }
  const der = key.export({ type: 'spki', format: 'der' });
  return { key, type, fingerprint: `sha256:${createHash('sha256').update(der).digest('hex')}` };
}

function curveName(curve: string | undefined): string {
  if (curve === 'prime256v1') return 'p256';
  if (curve === 'secp384r1') return 'p384';
  if (curve === 'secp521r1') return 'p521';
  return curve ?? 'unknown';
}

/** The tag cosign stores the signatures of `digest` under: `sha256:ab…` → `sha256-ab….sig`. */
export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** Whether `signature` is a valid signature of `payload` by `key` (cosign signs the payload bytes with SHA-256). */
export function verifyPayloadSignature(key: CosignPublicKey, payload: Buffer, signature: Buffer): boolean {
  try {
    // Ed25519 hashes internally; ECDSA (DER signature) and RSA (PKCS#1 v1.5) take SHA-256, cosign's default.
    return verify(key.key.asymmetricKeyType === 'ed25519' ? null : 'sha256', payload, key.key, signature);
  } catch {
    return false;
  }
}

/**
 * Verifies that `repo@digest` carries a cosign signature by `publicKey`. Registry faults and
 * missing or bad signatures are answers (`verified: false` with the reason), never exceptions.
 * When the signature image holds several signatures, one good one is enough.
 *
 * @param repo   `host[:port]/path` of the image (the signatures live in the same repository)
 * @param digest the image's manifest digest, `sha256:<hex>`
 * @example
 * const v = await verifyCosignSignature(client, '127.0.0.1:5000/web', 'sha256:ab…', pem);
 * if (!v.verified) console.log(v.reason); // e.g. "signature does not verify with the configured key"
 */
export async function verifyCosignSignature(client: RegistryClient, repo: string, digest: string, publicKey: string | CosignPublicKey): Promise<CosignVerification> {
  const key = typeof publicKey === 'string' ? loadCosignPublicKey(publicKey) : publicKey;
  if (typeof key === 'string') return { verified: false, reason: key };
  const tag = signatureTag(digest);
  const sig = await client.getManifest(repo, tag);
  if (sig.phase === 'notfound') return { verified: false, reason: `no signature for ${digest} (tag ${tag} not found)` };
  if (sig.phase === 'error') return { verified: false, reason: `could not read the signature of ${digest}: ${sig.detail}` };

  const layers = signatureLayers(sig.manifest);
  if (layers.length === 0) return { verified: false, reason: `no signature for ${digest} (${tag} holds no cosign signature layer)` };

  // With several signatures, report the failure that came closest to passing.
  let best: { rank: number; reason: string } = { rank: -1, reason: '' };
  const fail = (rank: number, reason: string) => { if (rank > best.rank) best = { rank, reason }; };
  for (const layer of layers) {
    if (!layer.signature) { fail(0, `signature layer ${layer.digest} in ${tag} has no ${SIGNATURE_ANNOTATION} annotation`); continue; }
    const blob = await client.getBlob(repo, layer.digest);
    if (blob.phase !== 'ok') { fail(1, `could not read the signature payload ${layer.digest}: ${blob.detail}`); continue; }
    if (!verifyPayloadSignature(key, blob.body, Buffer.from(layer.signature, 'base64'))) {
      fail(2, 'signature does not verify with the configured key');
      continue;
    }
    const payload = parsePayload(blob.body);
    if (typeof payload === 'string') { fail(3, payload); continue; }
    if (payload.type !== COSIGN_PAYLOAD_TYPE) {
      fail(3, `payload type ${JSON.stringify(payload.type)} is not ${JSON.stringify(COSIGN_PAYLOAD_TYPE)}`);
      continue;
    }
    if (typeof payload.digest !== 'string') { fail(3, 'signature payload names no image digest (critical.image.docker-manifest-digest)'); continue; }
    if (payload.digest !== digest) { fail(4, `signature is for ${payload.digest}, not ${digest}`); continue; }
    return {
      verified: true,
      evidence: {
        digest, signatureTag: tag, signatureManifest: sig.digest, payload: layer.digest,
        dockerReference: payload.dockerReference, keyType: key.type, keyFingerprint: key.fingerprint,
      },
    };
  }
  return { verified: false, reason: best.reason };
}

interface SignatureLayer { digest: string; signature: string | null }

function signatureLayers(manifest: unknown): SignatureLayer[] {
  const layers = (manifest as { layers?: unknown } | null)?.layers;
  if (!Array.isArray(layers)) return [];
  const out: SignatureLayer[] = [];
  for (const l of layers as Array<{ mediaType?: unknown; digest?: unknown; annotations?: Record<string, unknown> }>) {
    if (l?.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE || typeof l.digest !== 'string') continue;
    const sig = l.annotations?.[SIGNATURE_ANNOTATION];
    out.push({ digest: l.digest, signature: typeof sig === 'string' && sig ? sig : null });
  }
  return out;
}

function parsePayload(body: Buffer): { type: unknown; digest: unknown; dockerReference: unknown } | string {
  let json: { critical?: { type?: unknown; image?: { 'docker-manifest-digest'?: unknown }; identity?: { 'docker-reference'?: unknown } } };
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return 'signature payload is not JSON';
  }
  const critical = json?.critical;
  if (!critical || typeof critical !== 'object') return 'signature payload has no "critical" section';
  return { type: critical.type, digest: critical.image?.['docker-manifest-digest'], dockerReference: critical.identity?.['docker-reference'] ?? null };
}
