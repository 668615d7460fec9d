/**
 * Image references as people write them (`127.0.0.1:5000/shop/web:1.4.2`,
 * `registry.example.com/web@sha256:…`, `web:1.4.2`), parsed into the parts the registry API
 * needs. The grammar follows the Distribution project's reference grammar; Docker Hub's
 * shorthands (`web` → `docker.io/library/web:latest`) are understood so they never crash,
 * though Gangway is usually pointed at a registry named in `registries`.
 */
import { GangwayError } from '../../errors.js';

/** A parsed image reference. */
export interface ImageReference {
  /** `host[:port]` of the registry, as written (`docker.io` when the reference names none). */
  registry: string;
  /** The repository path inside the registry, e.g. `shop/web`. */
  repository: string;
  /** The tag, or null when the reference names only a digest. `latest` when it names neither. */
  tag: string | null;
  /** `algorithm:hex`, or null when the reference names only a tag. */
  digest: string | null;
}

/** Thrown by {@link parseImageReference} for a reference that is not one. */
export class InvalidImageReferenceError extends GangwayError {
  override name = 'InvalidImageReferenceError';
  constructor(readonly reference: string, problem: string) {
    super('invalid_argument', `invalid image reference "${reference}": ${problem}`,
      'write it as host[:port]/repository[:tag][@sha256:<64 hex digits>], e.g. 127.0.0.1:5000/web:1.4.2', { reference });
  }
}

/** The registry host Docker Hub references resolve to when they name none. */
export const DOCKER_HUB = 'docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
const MAX_NAME = 255;

/**
 * Parses an image reference. Throws {@link InvalidImageReferenceError} for anything that is
 * not a reference; never for an unusual but valid one.
 *
 * @example
 * parseImageReference('127.0.0.1:5000/shop/web:1.4.2')
 * // → { registry: '127.0.0.1:5000', repository: 'shop/web', tag: '1.4.2', digest: null }
 */
export function parseImageReference(input: string): ImageReference {
  const text = input.trim();
  if (!text) throw new InvalidImageReferenceError(input, 'it is empty');
  if (/\s/.test(text)) throw new InvalidImageReferenceError(input, 'it contains white space');

  let rest = text;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidImageReferenceError(input, `"${digest}" is not a digest (algorithm:hex)`);
    if (digest.startsWith('sha256:') && !SHA256_DIGEST.test(digest)) {
      throw new InvalidImageReferenceError(input, 'a sha256 digest has 64 lower-case hex digits');
    }
  }

  let tag: string | null = null;
  const colon = rest.lastIndexOf(':');
  // A colon before the last slash belongs to the registry's port, not to a tag.
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new InvalidImageReferenceError(input, `"${tag}" is not a valid tag`);
  }

  const { registry, repository } = splitName(input, rest);
  if (tag === null && digest === null) tag = 'latest';
  return { registry, repository, tag, digest };
}

/**
 * Parses a repository name with its registry (`127.0.0.1:5000/shop/web`), without tag or digest.
 *
 * @example
 * parseRepositoryName('127.0.0.1:5000/web') // → { registry: '127.0.0.1:5000', repository: 'web' }
 */
export function parseRepositoryName(input: string): { registry: string; repository: string } {
  const text = input.trim();
  if (!text) throw new InvalidImageReferenceError(input, 'it is empty');
  if (text.includes('@')) throw new InvalidImageReferenceError(input, 'a repository name has no digest');
  return splitName(input, text);
}

function splitName(input: string, name: string): { registry: string; repository: string } {
  if (!name) throw new InvalidImageReferenceError(input, 'it names no repository');
  const slash = name.indexOf('/');
  const first = slash >= 0 ? name.slice(0, slash) : '';
  // Docker's rule: the first component is a registry when it looks like a host (a dot, a port, or localhost).
  const hasHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  let registry = DOCKER_HUB;
  let repository = name;
  if (hasHost) {
    registry = first;
    repository = name.slice(slash + 1);
    if (!HOST.test(registry)) throw new InvalidImageReferenceError(input, `"${registry}" is not a registry host[:port]`);
  } else if (slash < 0) {
    repository = `library/${name}`;
  }
  if (!repository) throw new InvalidImageReferenceError(input, 'it names no repository');
  for (const part of repository.split('/')) {
    if (!COMPONENT.test(part)) {
      throw new InvalidImageReferenceError(input, `"${part}" is not a valid repository path component (lower-case letters, digits, and . _ - between them)`);
    }
  }
  if (registry.length + 1 + repository.length > MAX_NAME) throw new InvalidImageReferenceError(input, `the name is longer than ${MAX_NAME} characters`);
  return { registry, repository };
}

/** `host/repository`: the repository's full name, as cosign and `docker pull` write it. */
export function repositoryName(ref: Pick<ImageReference, 'registry' | 'repository'>): string {
  return `${ref.registry}/${ref.repository}`;
}

/**
 * The reference written back out: `host/repo[:tag][@digest]`.
 *
 * @example
 * formatImageReference({ registry: '127.0.0.1:5000', repository: 'web', tag: '1.0', digest: null }) // → '127.0.0.1:5000/web:1.0'
 */
export function formatImageReference(ref: ImageReference): string {
  return `${repositoryName(ref)}${ref.tag !== null ? `:${ref.tag}` : ''}${ref.digest !== null ? `@${ref.digest}` : ''}`;
}

/**
 * The release pinned by digest, without its tag: `host/repo@sha256:…`.
 *
 * @example
 * pinnedReference(ref, 'sha256:ab…') // → '127.0.0.1:5000/web@sha256:ab…'
 */
export function pinnedReference(ref: Pick<ImageReference, 'registry' | 'repository'>, digest: string): string {
  return `${repositoryName(ref)}@${digest}`;
}
