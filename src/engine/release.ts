/**
 * What names a release: a version label (local target) and/or an image reference. The API
 * validates requests with these patterns and the orchestrator re-checks them, so one
 * definition serves both.
 */
import { GangwayError } from '../errors.js';

/** Version labels: what a local release is called. */
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
export const VERSION_HINT = 'a version is 1-128 characters of letters, digits, ".", "_", "+" or "-", starting with a letter or digit, e.g. 1.4.2';

/**
 * OCI image reference: `[registry[:port]/]path[:tag][@sha256:<64 hex>]`, lower-case path
 * components as the distribution spec requires.
 */
export const IMAGE_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
export const IMAGE_HINT = 'an image reference looks like repo[:tag][@sha256:<64 hex digits>], e.g. ghcr.io/acme/web:1.4.2 or ghcr.io/acme/web@sha256:<digest>';

/** Message for a value that is not a version (without the field name). */
export function badVersion(value: unknown): string {
  return `${JSON.stringify(String(value))} is not a valid version`;
}

/** Message for a value that is not an image reference (without the field name). */
export function badImage(value: unknown): string {
  return `${JSON.stringify(String(value))} is not a valid image reference`;
}

export function assertVersion(v: string, field: string): void {
  if (!VERSION_PATTERN.test(v)) throw new GangwayError('invalid_argument', `${field}: ${badVersion(v)}`, VERSION_HINT);
}

/** The release a request names: a version, an image, or both (the local target runs the version). */
export function releaseOf(req: { version?: string; image?: string }): { version: string; image: string | null } {
  if (req.image !== undefined && !IMAGE_PATTERN.test(req.image)) {
    throw new GangwayError('invalid_argument', `image: ${badImage(req.image)}`, IMAGE_HINT);
  }
  if (req.version !== undefined) {
    assertVersion(req.version, 'version');
    return { version: req.version, image: req.image ?? null };
  }
  if (req.image !== undefined) {
    const digest = /@sha256:([a-f0-9]{64})$/.exec(req.image);
    const lastPath = req.image.replace(/@sha256:[a-f0-9]{64}$/, '').split('/').pop() ?? '';
    const tag = /:([A-Za-z0-9_][A-Za-z0-9._-]{0,127})$/.exec(lastPath);
    const version = tag?.[1] ?? (digest ? `sha256-${digest[1].slice(0, 12)}` : undefined);
    if (!version) throw new GangwayError('invalid_argument', `image: "${req.image}" has neither a tag nor a digest`, 'add :<tag> or @sha256:<digest>, or pass --version');
    return { version, image: req.image };
  }
  throw new GangwayError('invalid_argument', 'a release needs --version or --image', 'e.g. gangway deploy web --env dev --version 1.2.0');
}
