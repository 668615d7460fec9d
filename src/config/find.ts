/**
 * Finding `gangway.yaml`: no dependency beyond node:fs, so commands that only need the file's
 * path (and `gangway --version`) do not load the YAML parser and the schema.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** File names Gangway looks for, in order of preference. */
export const CONFIG_FILE_NAMES = ['gangway.yaml', 'gangway.yml'] as const;

/**
 * The config file in `dir` or the nearest folder above it, or undefined.
 *
 * @example
 * findConfigFile('/repo/services/web') // '/repo/gangway.yaml'
 */
export function findConfigFile(dir: string): string | undefined {
  let current = resolve(dir);
  for (;;) {
    for (const name of CONFIG_FILE_NAMES) {
      const candidate = join(current, name);
      if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    }
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}
