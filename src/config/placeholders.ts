import { GangwayError } from '../errors.js';

/**
 * Placeholders a command, an `env` value or a smoke `run` may contain. Values are filled in per
 * instance when it starts (`port` is that instance's private port).
 */
export const PLACEHOLDER_NAMES = ['release.version', 'release.image', 'environment', 'service', 'port'] as const;

/**
 * Placeholders a metric query (a PromQL query or a web metric's URL) may contain, filled in at
 * each measurement: the release measured (`version`), where it runs, and the rule's trailing
 * window written as a duration (`5m`).
 */
export const METRIC_PLACEHOLDER_NAMES = ['service', 'environment', 'version', 'window'] as const;

/**
 * Placeholders a custom check's `run` argv may contain, filled in when the gate runs: the
 * release asked for and where it goes. There is no instance yet, so no `port`.
 */
export const CHECK_PLACEHOLDER_NAMES = ['release.version', 'release.image', 'environment', 'service'] as const;

/** One of {@link PLACEHOLDER_NAMES}. */
export type PlaceholderName = (typeof PLACEHOLDER_NAMES)[number];

/**
 * `${name}` is a placeholder; `$${name}` is the literal text `${name}`. Names are matched
 * loosely (anything up to `}`) so that a misspelt one is reported rather than left in place.
 */
const PLACEHOLDER_RE = /\$(\$?)\{([^}]*)\}/g;

/**
 * Replaces `${name}` placeholders inside each argv element with `vars[name]`.
 * Returns exactly as many elements as it was given: a value with spaces stays one argument and
 * nothing is ever interpreted by a shell. `$${name}` yields the literal text `${name}`.
 *
 * @example
 * substitute(['node', 'server.js', '--version=${release.version}'], { 'release.version': '1.2.0' });
 * // ['node', 'server.js', '--version=1.2.0']
 * @throws GangwayError (`invalid_argument`) when an element names a placeholder missing from `vars`.
 */
export function substitute(argv: readonly string[], vars: Readonly<Record<string, string>>): string[] {
  return argv.map((arg) => substituteOne(arg, vars));
}

/** {@link substitute} for a single string, such as an environment variable's value. */
export function substituteOne(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(PLACEHOLDER_RE, (whole, escape: string, name: string) => {
    if (escape) return whole.slice(1);
    if (!Object.hasOwn(vars, name)) {
      throw new GangwayError('invalid_argument', `no value for placeholder \${${name}} in "${text}"`,
        `known placeholders: ${PLACEHOLDER_NAMES.map((n) => `\${${n}}`).join(', ')}`);
    }
    return vars[name];
  });
}

/**
 * The placeholder names used in `argv`, each once, in order of first use; escaped `$${…}` is not
 * a use. Config validation checks them against {@link PLACEHOLDER_NAMES}.
 *
 * @example
 * placeholderNames(['run', '${service}-${environment}', '$${literal}']); // ['service', 'environment']
 */
export function placeholderNames(argv: readonly string[]): string[] {
  const names = new Set<string>();
  for (const arg of argv) {
    for (const m of arg.matchAll(PLACEHOLDER_RE)) {
      if (!m[1]) names.add(m[2]);
    }
  }
  return [...names];
}

/** Whether `name` is one of {@link PLACEHOLDER_NAMES}. */
export function isPlaceholderName(name: string): name is PlaceholderName {
  return (PLACEHOLDER_NAMES as readonly string[]).includes(name);
}
