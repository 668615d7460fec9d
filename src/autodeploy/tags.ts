/**
 * Which tag is newest. `semver`: the highest semantic version (SemVer 2.0.0 precedence; a
 * leading `v` is allowed, build metadata is ignored, tags that are not versions are left out).
 * `pushed`: tags are remembered from poll to poll, so a tag not seen before is newer than every
 * tag seen before; among tags that appeared in the same poll the image's `created` time decides.
 */

/** A parsed semantic version. */
export interface SemVer { major: number; minor: number; patch: number; pre: Array<string | number> }

const SEMVER = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$/;

/**
 * Parses `1.4.2`, `v2.0.0-rc.1`, `1.0.0+build.7`; null for anything else.
 *
 * @example
 * parseSemver('v1.4.2-rc.1'); // { major: 1, minor: 4, patch: 2, pre: ['rc', 1] }
 */
export function parseSemver(tag: string): SemVer | null {
  const m = SEMVER.exec(tag);
  if (!m) return null;
  const nums = [m[1], m[2], m[3]].map(Number);
  if (!nums.every(Number.isSafeInteger)) return null;
  const pre = m[4] === undefined ? [] : m[4].split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  return { major: nums[0]!, minor: nums[1]!, patch: nums[2]!, pre };
}

/** SemVer precedence: negative when a < b, 0 when equal, positive when a > b. */
export function compareSemver(a: SemVer, b: SemVer): number {
  for (const k of ['major', 'minor', 'patch'] as const) if (a[k] !== b[k]) return a[k] - b[k];
  // A pre-release is lower than its release.
  if (a.pre.length === 0 || b.pre.length === 0) return (a.pre.length === 0 ? 1 : 0) - (b.pre.length === 0 ? 1 : 0);
  for (let i = 0; i < Math.max(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i];
    const y = b.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    // Numeric identifiers are lower than alphanumeric ones.
    if (typeof x === 'number') return -1;
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * The highest semantic version among `tags`, or null when none is one.
 *
 * @example
 * newestSemver(['1.2.0', '1.10.0', 'latest', '1.9.9']); // '1.10.0'
 */
export function newestSemver(tags: readonly string[]): string | null {
  let best: { tag: string; v: SemVer } | null = null;
  for (const tag of tags) {
    const v = parseSemver(tag);
    if (v && (!best || compareSemver(v, best.v) > 0)) best = { tag, v };
  }
  return best?.tag ?? null;
}

/** True when `tag` is a higher semantic version than `than` (or `than` is null). */
export function isNewerSemver(tag: string, than: string | null): boolean {
  const v = parseSemver(tag);
  if (!v) return false;
  const w = than === null ? null : parseSemver(than);
  return w === null || compareSemver(v, w) > 0;
}

/**
 * Compiles a tag pattern (validated when the config was loaded) into a test.
 *
 * @example
 * matcher('^\\d+\\.\\d+\\.\\d+$')('1.4.2'); // true
 */
export function matcher(pattern: string): (tag: string) => boolean {
  const re = new RegExp(pattern);
  return (tag) => re.test(tag);
}
