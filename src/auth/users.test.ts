import { describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';

function thrown(fn: () => unknown): { code: string; message: string } {
  try { fn(); } catch (err) { if (err instanceof GangwayError) return { code: err.code, message: err.message }; throw err; }
  throw new Error('did not throw');
}
import { checkPassword, describeRoles, hashPassword, parseRoleSpec, roleIn, verifyPassword } from './users.js';

describe('roles', () => {
  it('parses env=role pairs, * for every environment', () => {
    expect(parseRoleSpec('dev=deployer, prod=viewer,*=viewer')).toEqual({ dev: 'deployer', prod: 'viewer', '*': 'viewer' });
  });

  it('refuses a pair without a role, an unknown role and an environment given twice, naming it', () => {
    expect(thrown(() => parseRoleSpec('dev'))).toEqual({ code: 'invalid_argument', message: '--role: "dev" is not env=role' });
    expect(thrown(() => parseRoleSpec('dev=owner'))).toEqual({ code: 'invalid_argument', message: '--role: "owner" is not a role' });
    expect(thrown(() => parseRoleSpec('dev=viewer,dev=admin'))).toEqual({ code: 'invalid_argument', message: '--role: dev is given twice' });
  });

  it('the role in an environment is the higher of its own and the global one', () => {
    expect(roleIn({ dev: 'deployer', '*': 'viewer' }, 'dev')).toBe('deployer');
    expect(roleIn({ dev: 'viewer', '*': 'approver' }, 'dev')).toBe('approver');
    expect(roleIn({ dev: 'deployer', '*': 'viewer' }, 'prod')).toBe('viewer');
    expect(roleIn({ dev: 'deployer' }, 'prod')).toBeUndefined();
    // Names of Object methods are environments like any other: no inherited role.
    expect(roleIn({ dev: 'deployer' }, 'constructor')).toBeUndefined();
    expect(roleIn({ '*': 'viewer' }, 'toString')).toBe('viewer');
    expect({ ...parseRoleSpec('constructor=deployer,toString=viewer') }).toEqual({ constructor: 'deployer', toString: 'viewer' });
  });

  it('describes roles for people', () => {
    expect(describeRoles({ '*': 'viewer', prod: 'approver', dev: 'deployer' })).toBe('deployer in dev, approver in prod, viewer in every environment');
    expect(describeRoles({})).toBe('no role');
  });
});

describe('passwords', () => {
  it('are hashed with scrypt and a fresh salt, and verify only with the same password', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(await verifyPassword('correct horse battery', null)).toBe(false);
  });

  it('must be at least 10 characters', () => {
    expect(thrown(() => checkPassword('123456789'))).toEqual({ code: 'invalid_argument', message: 'password: must be at least 10 characters' });
    expect(() => checkPassword('1234567890')).not.toThrow();
  });
});
