/**
 * The API token: 32 random bytes, base64url, in `<stateDir>/token` with mode 0600. Whoever can
 * read it can deploy, so a file other users can read is refused rather than used.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { GangwayError } from '../errors.js';

/** Path of the token file under a state folder. */
export function tokenPath(stateDir: string): string {
  return join(stateDir, 'token');
}

function refuseLoose(file: string, mode: number): never {
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  throw new GangwayError('forbidden', `the token file ${file} can be read by other users (mode ${octal})`, `chmod 600 ${file}`);
}

/**
 * Reads the token from `<stateDir>/token`; undefined when the file does not exist. Throws
 * `forbidden` (hint `chmod 600 <file>`) when group or others have any access to it.
 *
 * @example
 * const token = process.env.GANGWAY_TOKEN ?? readToken(config.stateDir);
 */
export function readToken(stateDir: string): string | undefined {
  const file = tokenPath(stateDir);
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if ((mode & 0o077) !== 0) refuseLoose(file, mode);
  const token = readFileSync(file, 'utf8').trim();
  if (!token) throw new GangwayError('invalid_config', `the token file ${file} is empty`, `delete it; \`gangway up\` writes a new one`);
  return token;
}

/**
 * Returns the token of `stateDir` (synchronously: it runs once at start-up), creating it first (32 random bytes, base64url, mode 0600,
 * creating `stateDir` with mode 0700 if needed) when there is none. An existing file that
 * others can read is refused, not repaired: the token in it may already have leaked.
 *
 * @example
 * const token = ensureToken(config.stateDir); // used by `gangway up`
 */
export function ensureToken(stateDir: string): string {
  const existing = readToken(stateDir);
  if (existing) return existing;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  let fd: number;
  try {
    // 'wx' fails if another process created the file in between; then use theirs.
    fd = openSync(tokenPath(stateDir), 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const theirs = readToken(stateDir);
      if (theirs) return theirs;
    }
    throw err;
  }
  try {
    // The umask cannot widen 0600, but chmod anyway so the mode does not depend on it.
    fchmodSync(fd, 0o600);
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  return token;
}
