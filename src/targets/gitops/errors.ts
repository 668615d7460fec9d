/**
 * The fault of a GitOps change that cannot be carried out: a values file or key that is not
 * there, a config repository that cannot be read, a push the remote refuses. Messages name
 * the file, the key and the repository (credentials in its URL masked), so the operator
 * knows what to fix without a stack trace.
 */
import { GangwayError, type ErrorCode } from '../../errors.js';

/** Where a GitOps change went wrong; fields are absent when they do not apply. */
export interface GitOpsErrorDetails {
  /** The config repository, credentials masked. */
  repo?: string;
  /** The values file inside the repository. */
  file?: string;
  /** The dotted key, e.g. `image.tag`. */
  key?: string;
}

/**
 * @example
 * ```ts
 * throw new GitOpsError('invalid_argument', 'image.tags not found in helm/environments/staging-env/image-tags.yaml (image has: repository, tag)',
 *   'fix the key in target.gitops', { file: 'helm/environments/staging-env/image-tags.yaml', key: 'image.tags' });
 * ```
 */
export class GitOpsError extends GangwayError {
  override name = 'GitOpsError';
  constructor(code: ErrorCode, message: string, hint?: string, details?: GitOpsErrorDetails, options?: { cause?: unknown }) {
    super(code, message, hint, details ? { ...details } : undefined, options);
  }
}
