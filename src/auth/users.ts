/**
 * Users and their roles: names, role specs (`dev=deployer,*=viewer`), and password hashing
 * with scrypt (per-user random salt, parameters stored with the hash, constant-time compare).
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';
import { GangwayError } from '../errors.js';
import type { Role } from '../store/types.js';

/** Roles from least to most powerful; each includes every one before it. */
export const ROLES: readonly Role[] = ['viewer', 'deployer', 'approver', 'admin'];

/** The key of a role that holds in every environment. */
export const EVERY_ENVIRONMENT = '*';

/** Name of the built-in principal of the `.gangway/token` file; no user may take it. */
export const BUILTIN_ADMIN = 'admin';

/** Passwords shorter than this are refused. */
export const MIN_PASSWORD_LENGTH = 10;

/** User and environment names: a letter or digit first, then letters, digits, `.`, `_`, `-`, `@`; at most 64. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** Rank of a role in {@link ROLES}; a higher rank includes the lower ones. */
export function roleRank(role: Role): number {
  return ROLES.indexOf(role);
}

/** True when `role` is one of {@link ROLES}. */
export function isRole(role: unknown): role is Role {
  return typeof role === 'string' && (ROLES as readonly string[]).includes(role);
}

/**
 * The role a user holds in `environment`: the higher of its role there and its global
 * (`*`) role; undefined when it has neither.
 *
 * @example
 * roleIn({ dev: 'deployer', '*': 'viewer' }, 'prod'); // 'viewer'
 */
export function roleIn(roles: Record<string, Role>, environment: string): Role | undefined {
  // Own keys only: an environment named like an Object method (`constructor`) finds no role.
  const own = environment === EVERY_ENVIRONMENT || !Object.hasOwn(roles, environment) ? undefined : roles[environment];
  const global = Object.hasOwn(roles, EVERY_ENVIRONMENT) ? roles[EVERY_ENVIRONMENT] : undefined;
  if (own === undefined) return global;
  if (global === undefined) return own;
  return roleRank(own) >= roleRank(global) ? own : global;
}

/**
 * Parses a role spec as the CLI takes it: `env=role` pairs separated by commas, `*` for
 * every environment. Throws `invalid_argument` naming the bad pair.
 *
 * @example
 * parseRoleSpec('dev=deployer,prod=viewer'); // { dev: 'deployer', prod: 'viewer' }
 */
export function parseRoleSpec(spec: string): Record<string, Role> {
  const roles = Object.create(null) as Record<string, Role>;
  for (const raw of spec.split(',')) {
    const pair = raw.trim();
    if (pair === '') continue;
    const [env, role, ...rest] = pair.split('=').map((s) => s.trim());
    if (role === undefined || rest.length > 0 || env === '') {
      throw new GangwayError('invalid_argument', `--role: "${pair}" is not env=role`, `e.g. --role dev=deployer,prod=viewer (roles: ${ROLES.join(', ')}; * is every environment)`);
    }
    checkRoles({ [env]: role }, '--role');
    if (Object.hasOwn(roles, env)) throw new GangwayError('invalid_argument', `--role: ${env} is given twice`);
    roles[env] = role as Role;
  }
  return roles;
}

/**
 * Checks a roles object (from the API or the CLI): every key an environment name or `*`, every
 * value a role, and each environment in `environments` when that list is given.
 */
export function checkRoles(roles: Record<string, unknown>, field: string, environments?: readonly string[]): asserts roles is Record<string, Role> {
  for (const [env, role] of Object.entries(roles)) {
    if (env !== EVERY_ENVIRONMENT && !NAME_PATTERN.test(env)) {
      throw new GangwayError('invalid_argument', `${field}: "${env}" is not an environment name`, 'use an environment of gangway.yaml, or * for every environment');
    }
    if (env !== EVERY_ENVIRONMENT && environments && !environments.includes(env)) {
      throw new GangwayError('invalid_argument', `${field}: environment "${env}" is not defined in gangway.yaml`, `environments: ${environments.join(', ')}`);
    }
    if (!isRole(role)) {
      throw new GangwayError('invalid_argument', `${field}: "${String(role)}" is not a role`, `roles: ${ROLES.join(', ')}`);
    }
  }
}

/** Describes a user's roles for people: `deployer in dev, viewer in every environment`. */
export function describeRoles(roles: Record<string, Role>): string {
  const parts = Object.entries(roles).sort(([a], [b]) => (a === EVERY_ENVIRONMENT ? 1 : b === EVERY_ENVIRONMENT ? -1 : a.localeCompare(b)))
    .map(([env, role]) => `${role} in ${env === EVERY_ENVIRONMENT ? 'every environment' : env}`);
  return parts.length === 0 ? 'no role' : parts.join(', ');
}

/** Throws `invalid_argument` unless `password` is long enough. */
export function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new GangwayError('invalid_argument', `password: must be at least ${MIN_PASSWORD_LENGTH} characters`, 'a passphrase of a few words is easy to type and hard to guess');
  }
  if (password.length > 1024) throw new GangwayError('invalid_argument', 'password: must be at most 1024 characters');
}

/** scrypt cost: N = 2^15 takes about 50 ms here and 32 MiB of memory, which slows guessing a stolen hash. */
const SCRYPT = { N: 32768, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function maxmem(N: number, r: number): number {
  // Node's default limit (32 MiB) is exactly what N = 2^15, r = 8 needs; leave room.
  return 256 * N * r;
}

/**
 * Hashes a password with scrypt and a fresh 16-byte salt. The result carries its
 * parameters, so a later change of cost still verifies old hashes.
 *
 * @example
 * const stored = await hashPassword('correct horse battery'); // 'scrypt$32768$8$1$<salt>$<hash>'
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, KEY_LENGTH, { ...SCRYPT, maxmem: maxmem(SCRYPT.N, SCRYPT.r) });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** A hash of a random password: verified against when a user is unknown, so timing does not tell. */
let decoy: Promise<string> | undefined;

/**
 * Checks `password` against a stored hash in constant time. With no hash (unknown user, or
 * a user without a password) it still runs scrypt once and answers false, so the answer
 * takes as long either way.
 */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  const parts = stored?.split('$');
  if (!parts || parts.length !== 6 || parts[0] !== 'scrypt') {
    decoy ??= hashPassword(randomBytes(16).toString('base64url'));
    await verifyPassword(password, await decoy);
    return false;
  }
  const [, n, r, p, saltText, keyText] = parts;
  const expected = Buffer.from(keyText, 'base64url');
  const N = Number(n); const R = Number(r); const P = Number(p);
  const key = await scryptAsync(password, Buffer.from(saltText, 'base64url'), expected.length, { N, r: R, p: P, maxmem: maxmem(N, R) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}
