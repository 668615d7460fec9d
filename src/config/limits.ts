/**
 * The limits that keep reading `gangway.yaml` cheap whatever the file holds: its size, how deep
 * it nests, how far aliases may expand it, how many of some things it may declare, and how many
 * problems one run reports. Every check in src/config takes time roughly linear in the file's
 * size within them; docs/config.md#limits lists them for users.
 */

/** Largest config file read, in bytes. A real gangway.yaml is a few kilobytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Deepest nesting of mappings and lists (the schema itself needs about 10 levels). */
export const MAX_NESTING = 64;

/**
 * Most values (scalars, mappings, lists) the document may hold once every alias is expanded:
 * more than a file of {@link MAX_CONFIG_BYTES} can write out without aliases.
 */
export const MAX_EXPANDED_VALUES = 1_000_000;

/** Problems listed in one run; the rest are counted in a last line. */
export const MAX_PROBLEMS = 50;

/** Environments one file may declare. */
export const MAX_ENVIRONMENTS = 100;

/** Services one file may declare (each one is compiled once per environment). */
export const MAX_SERVICES = 1000;

/** Deployment windows one environment may have (overlaps are checked pair by pair). */
export const MAX_WINDOWS = 100;

/** Largest file a config key may name to be read when the file is loaded (a PEM public key). */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** Names listed in a hint ("declared services: …") before the rest are counted. */
export const MAX_LISTED_NAMES = 10;

/** Characters of a value quoted in a message before the rest is elided. */
export const MAX_QUOTED_CHARS = 80;

/**
 * A size the way messages give it: bytes below 1 KiB, else KiB or MiB with one decimal.
 *
 * @example
 * formatBytes(1_572_864); // '1.5 MiB'
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const [value, unit] = bytes < 1024 * 1024 ? [bytes / 1024, 'KiB'] : [bytes / (1024 * 1024), 'MiB'];
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}
