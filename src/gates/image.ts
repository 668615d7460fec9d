/**
 * The image gates of the runbooks' "Image Validation": the image must exist in its registry
 * (`image.exists`) and carry a valid cosign signature by the environment's key
 * (`image.signature.publicKey`). Both ask the registry each time they are evaluated; a
 * registry that cannot answer fails the gate with its reason, so the request is refused rather
 * than let through unchecked.
 *
 * A tag is resolved to a digest once, when the deployment is requested ({@link resolveImage});
 * the release then names `repo@sha256:…` and that digest is what the gates check.
 */
import type { EnvironmentConfig, GangwayConfig } from '../config/types.js';
import { GangwayError } from '../errors.js';
import type { RegistryClient } from './registry/client.js';
import { loadCosignPublicKey, verifyCosignSignature, type CosignPublicKey } from './registry/cosign.js';
import { formatImageReference, parseImageReference, pinnedReference, repositoryName, type ImageReference } from './registry/reference.js';
import type { Gate, GateRequest, GateResult } from './types.js';

/** A release image pinned by digest. */
export interface ResolvedImage {
  /** `host/repo@sha256:…`: what is deployed, verified and promoted. */
  pinned: string;
  /** `sha256:…` */
  digest: string;
  /** The tag as requested (for display), or null when the request named only a digest. */
  tag: string | null;
}

/**
 * Why an image could not be pinned: the reference is invalid (`invalid_argument`), the tag or
 * digest does not exist (`not_found`), or the registry could not answer (`blocked`: the image
 * gate cannot pass, so the request is refused).
 */
export class ImageResolveError extends GangwayError {
  override name = 'ImageResolveError';
  constructor(readonly image: string, readonly phase: 'invalid' | 'notfound' | 'error', message: string, hint?: string, options?: { cause?: unknown }) {
    super(phase === 'invalid' ? 'invalid_argument' : phase === 'notfound' ? 'not_found' : 'blocked', message, hint, { image, gate: 'image' }, options);
  }
}

/**
 * Pins an image: resolves its tag to a digest (or checks that a digest it names exists).
 * The orchestrator calls this once, when a deployment is requested; the deployment then
 * carries `pinned`. Throws {@link ImageResolveError}.
 *
 * @example
 * const { pinned, digest, tag } = await resolveImage(client, '127.0.0.1:5000/web:1.4.2');
 * // pinned: '127.0.0.1:5000/web@sha256:…', tag: '1.4.2'
 */
export async function resolveImage(client: RegistryClient, image: string): Promise<ResolvedImage> {
  let ref: ImageReference;
  try {
    ref = parseImageReference(image);
  } catch (err) {
    const e = err as GangwayError;
    throw new ImageResolveError(image, 'invalid', e.message, e.hint, { cause: err });
  }
  const r = await client.resolve(ref);
  if (r.phase === 'notfound') throw new ImageResolveError(image, 'notfound', r.detail, 'push the image first, or check the tag');
  if (r.phase === 'error') throw new ImageResolveError(image, 'error', r.detail, REGISTRY_HINT);
  return { pinned: pinnedReference(ref, r.digest), digest: r.digest, tag: ref.tag };
}

const REGISTRY_HINT = 'the registry must answer before a deployment is accepted: check that it is up and that registries[] has the right credentials';
const NO_IMAGE_HINT = 'deploy with --image <registry>/<repository>:<tag>';

function environment(config: GangwayConfig, name: string): EnvironmentConfig | undefined {
  return config.environments.find((e) => e.name === name);
}

/** Parses the request's image, or says why the gate fails without one. */
function requestedImage(gate: 'image' | 'signature', req: GateRequest, what: string): ImageReference | GateResult {
  if (!req.image) {
    return { gate, result: 'fail', reason: `${req.environment} requires ${what}, and this deployment names no image`, hint: NO_IMAGE_HINT, evidence: {} };
  }
  try {
    return parseImageReference(req.image);
  } catch (err) {
    const e = err as GangwayError;
    return { gate, result: 'fail', reason: e.message, hint: e.hint, evidence: { image: req.image } };
  }
}

function isResult(x: ImageReference | GateResult): x is GateResult {
  return 'gate' in x;
}

/** Resolves for a gate: the digest, or the failing result. */
async function digestFor(gate: 'image' | 'signature', client: RegistryClient, ref: ImageReference): Promise<{ digest: string; mediaType: string } | GateResult> {
  const r = await client.resolve(ref);
  const evidence = { image: formatImageReference(ref), registry: ref.registry };
  if (r.phase === 'notfound') return { gate, result: 'fail', reason: r.detail, hint: 'push the image first, or check the tag', evidence };
  if (r.phase === 'error') return { gate, result: 'fail', reason: r.detail, hint: REGISTRY_HINT, evidence };
  return { digest: r.digest, mediaType: r.mediaType };
}

/**
 * `image.exists`: the deployment's image exists in its registry. A tag passes with the digest it
 * resolves to; a reference pinned by digest passes when that manifest exists.
 *
 * @example
 * const gate = new ImageGate(config, new RegistryClient(config.registries));
 * await gate.evaluate(req); // { result: 'pass', reason: '127.0.0.1:5000/web:1.0.0 is sha256:…', evidence: { digest, registry, … } }
 */
export class ImageGate implements Gate {
  readonly name = 'image' as const;
  constructor(private readonly config: GangwayConfig, private readonly client: RegistryClient) {}

  applies(config: GangwayConfig, env: string): boolean {
    return environment(config, env)?.image?.exists === true;
  }

  async evaluate(req: GateRequest): Promise<GateResult> {
    const ref = requestedImage(this.name, req, 'an image that exists in its registry');
    if (isResult(ref)) return ref;
    const got = await digestFor(this.name, this.client, ref);
    if ('gate' in got) return got;
    const shown = formatImageReference(ref);
    const reason = ref.digest ? `${shown} exists` : `${shown} is ${got.digest}`;
    return {
      gate: this.name, result: 'pass', reason,
      evidence: { digest: got.digest, registry: ref.registry, repository: repositoryName(ref), tag: ref.tag, mediaType: got.mediaType },
    };
  }
}

/**
 * `image.signature`: the image's digest carries a cosign signature that verifies with the
 * environment's public key (see `verifyCosignSignature` for what is checked).
 *
 * @example
 * const gate = new SignatureGate(config, client);
 * await gate.evaluate(req); // { result: 'fail', reason: 'no signature for sha256:… (tag sha256-….sig not found)', … }
 */
export class SignatureGate implements Gate {
  readonly name = 'signature' as const;
  /** Parsed keys by PEM: parsing is done once per key, not per evaluation. */
  private readonly keys = new Map<string, CosignPublicKey | string>();
  constructor(private readonly config: GangwayConfig, private readonly client: RegistryClient) {}

  applies(config: GangwayConfig, env: string): boolean {
    return Boolean(environment(config, env)?.image?.signature);
  }

  async evaluate(req: GateRequest): Promise<GateResult> {
    const pem = environment(this.config, req.environment)?.image?.signature?.publicKey;
    if (!pem) return { gate: this.name, result: 'pass', reason: `${req.environment} requires no signature`, evidence: {} };
    const ref = requestedImage(this.name, req, 'a signed image');
    if (isResult(ref)) return ref;
    const key = this.key(pem);
    if (typeof key === 'string') {
      return { gate: this.name, result: 'fail', reason: key, hint: `fix environments.${req.environment}.image.signature.publicKey`, evidence: {} };
    }
    const got = await digestFor(this.name, this.client, ref);
    if ('gate' in got) return got;
    const repo = repositoryName(ref);
    const v = await verifyCosignSignature(this.client, repo, got.digest, key);
    if (!v.verified) {
      return {
        gate: this.name, result: 'fail', reason: v.reason,
        hint: `sign it in CI: cosign sign --key cosign.key ${pinnedReference(ref, got.digest)}`,
        evidence: { digest: got.digest, registry: ref.registry, keyFingerprint: key.fingerprint },
      };
    }
    return {
      gate: this.name, result: 'pass', reason: `${pinnedReference(ref, got.digest)} is signed by key ${key.fingerprint} (${key.type})`,
      evidence: { ...v.evidence, registry: ref.registry, repository: repo },
    };
  }

  private key(pem: string): CosignPublicKey | string {
    let k = this.keys.get(pem);
    if (k === undefined) {
      k = loadCosignPublicKey(pem);
      this.keys.set(pem, k);
    }
    return k;
  }
}
