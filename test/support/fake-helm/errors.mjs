/**
 * The one error type of the FAKE `helm`: its message is what Helm would print after `Error: `
 * (exit code 1). `wrap` prefixes a message the way Helm's `errors.Wrap` / `fmt.Errorf("…: %w")`
 * do, so messages read exactly like Helm's (`UPGRADE FAILED: context deadline exceeded`).
 */
export class HelmError extends Error {
  constructor(message) {
    super(message);
    this.name = 'HelmError';
  }
}

/** `errors.Wrap(err, prefix)`: a new HelmError reading `<prefix>: <message>`. */
export function wrap(err, prefix) {
  return new HelmError(`${prefix}: ${err instanceof Error ? err.message : String(err)}`);
}

/** Helm's `driver.ErrReleaseNotFound`. */
export const RELEASE_NOT_FOUND = 'release: not found';

/** Whether an error is the storage driver's "release: not found". */
export function isReleaseNotFound(err) {
  return err instanceof HelmError && err.message === RELEASE_NOT_FOUND;
}
