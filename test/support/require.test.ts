/**
 * probeOrSkip: a missing prerequisite skips (or fails under GANGWAY_REQUIRE_ALL=1); a helper
 * that is there but does not start fails the suite, named.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MissingPrerequisiteError, probeOrSkip } from './require.js';
import { HelperStartError } from './helper-start.js';

afterEach(() => { vi.unstubAllEnvs(); vi.restoreAllMocks(); });

describe('probeOrSkip', () => {
  it('skips with a loud message naming the package when the probe throws', async () => {
    vi.stubEnv('GANGWAY_REQUIRE_ALL', '');
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await probeOrSkip('X tests', 'the Debian package x', () => Promise.reject(new Error('/usr/bin/x not found')))).toBeUndefined();
    expect(String(write.mock.calls[0]![0])).toContain('SKIPPED: X tests need the Debian package x\n  reason: /usr/bin/x not found');
  });

  it('fails instead under GANGWAY_REQUIRE_ALL=1', async () => {
    vi.stubEnv('GANGWAY_REQUIRE_ALL', '1');
    await expect(probeOrSkip('X tests', 'the Debian package x', () => Promise.reject(new Error('nope')))).rejects.toBeInstanceOf(MissingPrerequisiteError);
  });

  it('fails, naming the suite, when the helper is there but does not start', async () => {
    vi.stubEnv('GANGWAY_REQUIRE_ALL', '');
    const err = new HelperStartError('x-server', 1000, 'did not become ready within 1000 ms', 'starting\nstuck', true);
    await expect(probeOrSkip('X tests', 'the Debian package x', () => Promise.reject(err)))
      .rejects.toThrow('X tests: x-server did not become ready within 1000 ms; last 2 lines of its output:\nstarting\nstuck');
  });
});
